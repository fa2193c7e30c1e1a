# SPDX-License-Identifier: MIT
"""Ids are what the documentation says they are (finding 10 of the Hardening
issue: ids carried a 48-bit millisecond prefix, like UUID v7, while
docs/api.md called them UUID v4).

airhook keeps the prefix (ids sort by creation, which keeps the store's
indexes compact) and says so, and that the creation time can be read from
an id.  The first test pins the behaviour, the second the words."""

import os
import re
import time

from harness import ServerTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def id_ms(id_):
    return int(id_.replace("-", "")[:12], 16)


def section(path, heading):
    """The text of a markdown section, from its heading to the next one."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    start = text.index(heading + "\n")
    m = re.compile(r"^#{1,3} ", re.M).search(text, start + len(heading))
    return text[start:m.start() if m else len(text)]


class IdsAreWhatTheDocsSay(ServerTestCase):
    def test_ids_carry_their_creation_time(self):
        before = int(time.time() * 1000)
        t = self.srv.make_tenant()
        hook = t.register().json["payload"]["id"]
        after = int(time.time() * 1000)
        for what, v in [("community", t.community_id), ("access key id", t.key_id),
                        ("accessKey", t.access_key), ("webhook", hook)]:
            self.assertUuid(v, what)  # version 4 and the RFC 4122 variant, as documented
            self.assertTrue(before - 1000 <= id_ms(v) <= after + 1000,
                            "%s %s: its first 48 bits (%d) are not its creation time (%d..%d)"
                            % (what, v, id_ms(v), before, after))

    def test_the_docs_say_what_an_id_reveals(self):
        ids = section("docs/api.md", "### Ids")
        flat = " ".join(ids.split())
        self.assertIn("first 48 bits are the time it was made", flat,
                      "docs/api.md, Ids, must say that ids begin with their creation time")
        self.assertIn("can read when it was made", flat,
                      "docs/api.md, Ids, must say that the creation time is visible")
        self.assertNotIn("is a lowercase UUID v4 (accessKey included)", flat)
        with open(os.path.join(ROOT, "docs/CONVENTIONS.md")) as f:
            conventions = " ".join(f.read().split())
        self.assertNotIn("accessKey: a UUID v4.", conventions)
