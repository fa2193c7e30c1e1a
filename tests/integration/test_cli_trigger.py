# SPDX-License-Identifier: MIT
"""`airhook trigger TRIGGER` (a trigger's sample as a real event, edited by
--set or replaced by --data-file) and the "did you mean" of unknown triggers
across the CLI: the real binary against a real server, a webhook on a
loopback receiver."""

import json
import os
import subprocess
import tempfile
import uuid

from deliverykit import DeliveryTestCase
from harness import BINARY

TRIGGER = "trigger.airmeet.registrant.added"  # airmeetId required at registration


class TriggerCommandTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()
        self.env = {"AIRHOOK_SERVER": self.srv.base_url,
                    "AIRHOOK_ADMIN_TOKEN": self.srv.admin_token,
                    "AIRHOOK_COMMUNITY": self.t.community_id, "PATH": "/usr/bin:/bin"}

    def cli(self, *argv, stdin=None, env=None):
        return subprocess.run([BINARY, *argv], env=env or self.env, input=stdin,
                              capture_output=True, text=True, timeout=30)

    def published(self, out):
        """The event id of `event ID: N deliveries`, checked against n."""
        self.assertEqual(out.returncode, 0, out.stderr)
        words = out.stdout.split()
        self.assertEqual(words[0], "event", out.stdout)
        return words[1].rstrip(":"), int(words[2])

    def sample(self, trigger=TRIGGER):
        r = self.srv.admin("GET", "/triggers/" + trigger)
        return self.assertJson(r, 200)["samplePayload"]

    def test_publishes_the_sample_with_overrides(self):
        h = self.hook(self.t, trigger=TRIGGER, airmeet_id=self.t.airmeet_id)
        out = self.cli("trigger", TRIGGER, "--airmeet", self.t.airmeet_id,
                       "--set", "email=ada@example.com", "--set", "utm.source=cli",
                       "--set", "visits=3", "--set", "vip=true", "--set", "tags=[\"a\",1]",
                       "--set", "tags.2=null", "--set", "firstName=", "--set", 'zip="0451"')
        eid, n = self.published(out)
        self.assertUuid(eid, "event id")
        self.assertEqual(n, 1, out.stdout)
        got = self.wait_received(1, event_id=eid)
        self.assertEqual(got[0].webhook, h["id"])
        body = json.loads(got[0].body)
        want = self.sample()
        want.update({"email": "ada@example.com", "utm": {"source": "cli"}, "visits": 3,
                     "vip": True, "tags": ["a", 1, None], "firstName": "", "zip": "0451"})
        self.assertEqual(body, want)
        self.assertEqual(list(body)[:len(self.sample())], list(self.sample()),
                         "the sample's key order is kept")

    def test_community_flag_and_no_match(self):
        other = self.srv.make_tenant()
        self.hook(self.t, trigger="trigger.airmeet.created")
        out = self.cli("trigger", "trigger.airmeet.created", "--community", other.community_id)
        _, n = self.published(out)
        self.assertEqual(n, 0, "the flag wins over AIRHOOK_COMMUNITY")
        env = dict(self.env)
        del env["AIRHOOK_COMMUNITY"]
        out = self.cli("trigger", "trigger.airmeet.created", env=env)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--community", out.stderr)
        self.assertIn("AIRHOOK_COMMUNITY", out.stderr)

    def test_data_file_and_stdin(self):
        h = self.hook(self.t, trigger="trigger.airmeet.created")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"custom": {"list": [1, 2]}, "n": 1}')
        self.addCleanup(os.unlink, f.name)
        out = self.cli("trigger", "trigger.airmeet.created", "--data-file", f.name,
                       "--set", "custom.list.1=20", "--set", "custom.list.2=30")
        eid, n = self.published(out)
        self.assertEqual(n, 1)
        got = self.wait_received(1, event_id=eid)
        self.assertEqual(got[0].webhook, h["id"])
        self.assertEqual(json.loads(got[0].body), {"custom": {"list": [1, 20, 30]}, "n": 1})
        out = self.cli("trigger", "trigger.airmeet.created", "--data-file", "-",
                       stdin='[{"from": "stdin"}]')
        eid, _ = self.published(out)
        self.assertEqual(json.loads(self.wait_received(1, event_id=eid)[0].body),
                         [{"from": "stdin"}])

    def test_operator_trigger(self):
        tid = "trigger.cli.test." + uuid.uuid4().hex[:8]
        r = self.srv.admin("POST", "/triggers", {"id": tid, "description": "A test trigger.",
                                                 "airmeetId": "none", "sessionId": "none",
                                                 "samplePayload": {"order": {"total": 10}}})
        self.assertJson(r, 201)
        h = self.hook(self.t, trigger=tid)
        out = self.cli("trigger", tid, "--set", "order.total=12.5")
        eid, n = self.published(out)
        self.assertEqual(n, 1)
        got = self.wait_received(1, event_id=eid)
        self.assertEqual(got[0].webhook, h["id"])
        self.assertEqual(json.loads(got[0].body), {"order": {"total": 12.5}})

    def test_bad_set_and_bad_json(self):
        bad = {
            "email": "PATH=VALUE",                        # no '='
            "=x": "PATH=VALUE",                           # empty path
            "a..b=1": "empty segment",
            "email.x=1": "is a string, not an object",
            "tags.5=1": None,                             # set below on an array
        }
        for arg, why in bad.items():
            if why is None:
                continue
            with self.subTest(set=arg):
                out = self.cli("trigger", TRIGGER, "--set", arg)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(why, out.stderr)
                self.assertIn("usage: airhook trigger", out.stderr)
        out = self.cli("trigger", TRIGGER, "--set", "tags=[1]", "--set", "tags.5=1")
        self.assertEqual(out.returncode, 2)
        self.assertIn("is an array of 1", out.stderr)
        out = self.cli("trigger", TRIGGER, "--set", "tags=[1]", "--set", "tags.x=1")
        self.assertEqual(out.returncode, 2)
        out = self.cli("trigger", TRIGGER, "--set", "tags=[]", "--set", "tags.0.a=1")
        self.assertEqual(out.returncode, 2)
        self.assertIn("'tags' is an array of 0: '0' is not an index below 0", out.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"not json"')
        self.addCleanup(os.unlink, f.name)
        out = self.cli("trigger", TRIGGER, "--data-file", f.name)
        self.assertEqual(out.returncode, 2)
        self.assertIn("is not JSON", out.stderr)
        out = self.cli("trigger", TRIGGER, "--data-file", "-", stdin="42")
        self.assertEqual(out.returncode, 2)
        out = self.cli("trigger", TRIGGER, "--set", "=1", "--data-file", "/nonexistent/x.json")
        self.assertEqual(out.returncode, 2)

    def test_unknown_trigger_suggests(self):
        out = self.cli("trigger", "trigger.airmeet.registrant.aded")
        self.assertEqual(out.returncode, 1)
        self.assertIn("did you mean: trigger.airmeet.registrant.added", out.stderr)
        out = self.cli("trigger", "registrant.added")
        self.assertEqual(out.returncode, 1)
        self.assertIn("did you mean: trigger.airmeet.registrant.added", out.stderr)
        out = self.cli("trigger", "nothing.like.any.trigger.at.all")
        self.assertEqual(out.returncode, 1)
        self.assertNotIn("did you mean", out.stderr)
        out = self.cli("events", "publish", "trigger.airmeet.creatd")
        self.assertEqual(out.returncode, 1)
        self.assertIn("did you mean: trigger.airmeet.created", out.stderr)
        for action in ("show", "sample", "hide"):
            with self.subTest(action=action):
                out = self.cli("triggers", action, "trigger.airmeet.startd")
                self.assertEqual(out.returncode, 1)
                self.assertIn("did you mean: trigger.airmeet.started", out.stderr)

    def test_public_commands_suggest(self):
        env = {"AIRHOOK_BASE_URL": self.srv.base_url + self.srv.base_path(), "AIRHOOK_ACCESS_KEY": self.t.access_key,
               "AIRHOOK_SECRET_KEY": self.t.secret_key, "PATH": "/usr/bin:/bin"}
        out = self.cli("sample", "trigger.airmeet.finishd", env=env)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("did you mean: trigger.airmeet.finished", out.stderr)
        out = self.cli("webhooks", "register", "--trigger", "airmeet.created",
                       "--url", self.rcv.url("/ok"), env=env)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("did you mean: trigger.airmeet.created", out.stderr)

    def test_help(self):
        out = self.cli("trigger", "--help")
        self.assertEqual(out.returncode, 0)
        for flag in ("--set PATH=VALUE", "--data-file", "--community", "AIRHOOK_COMMUNITY",
                     "repeatable"):
            self.assertIn(flag, out.stdout)
