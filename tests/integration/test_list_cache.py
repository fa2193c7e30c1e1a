# SPDX-License-Identifier: MIT
"""The public API's caches never answer with something stale: every change
to webhooks, keys or tokens shows in the very next request of the process
that made it (through the public or admin API, or the dispatcher disabling
a webhook), and token expiry follows the clock.  Another process sharing
the database sees it at once on SQLite; on PostgreSQL once the database's
notification reaches it (about a millisecond), and in any case within
100 ms (docs/scaling.md, "Caches on several nodes").

Each test first asks the same question twice, so that the second answer is
the cached one, then changes something and asks again at once."""

import calendar
import time
import unittest

from deliverykit import DELIVERY_ARGS, DeliveryTestCase, start_server
from harness import DB_BACKEND, ServerTestCase
from receiver import wait_for

LIST = "/platform-integration/v1/webhook-list"
DEREGISTER = "/platform-integration/v1/webhook-deregister"


def listed(srv, token, query=None):
    """(status, [ids]) of webhook-list on srv."""
    r = srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": token}, query=query)
    if r.status != 200:
        return r.status, None
    return 200, [w["id"] for w in r.json["webhookDTOList"]]


# How long another process may take to see a change (see the module's docstring).
OTHER_PROCESS_S = 0.0 if DB_BACKEND == "sqlite" else 0.1


class ListCacheTests(DeliveryTestCase):
    SERVER_ARGS = tuple(DELIVERY_ARGS) + ("--auth-fail-limit", "1000")

    def second(self):
        """Another airhook process on the same database (file or PostgreSQL)."""
        return start_server(self, ("--auth-fail-limit", "1000"), workdir=self.srv.workdir,
                            admin_token=self.srv.admin_token)

    def warm(self, srv, token, query=None):
        """Lists twice (the second answer comes from the cache); returns the ids."""
        first = listed(srv, token, query)
        again = listed(srv, token, query)
        self.assertEqual(first, again)
        self.assertEqual(first[0], 200, repr(first))
        return first[1]

    def register_via(self, srv, t, url, query=None):
        """webhook-register on srv with t's key pair; returns the response."""
        return srv.public("POST", "/platform-integration/v1/webhook-register",
                          headers=t.key_headers(), query=query,
                          json_body={"name": "Hook", "url": url, "platformName": "tests",
                                     "triggerMetaInfoId": "trigger.airmeet.registrant.added"})

    def soon(self, ask, want):
        """Asserts that ask() gives want, at once or (from another process on
        PostgreSQL) within OTHER_PROCESS_S plus a margin for a loaded machine."""
        deadline = time.monotonic() + OTHER_PROCESS_S * 5
        while True:
            got = ask()
            if got == want or time.monotonic() >= deadline:
                self.assertEqual(got, want)
                return
            time.sleep(0.005)

    def deregister(self, srv, t, hook_id):
        r = srv.public("POST", DEREGISTER, headers=t.key_headers(), json_body={"id": hook_id})
        self.assertJson(r, 200)

    def test_same_process_changes_show_at_once(self):
        t = self.srv.make_tenant()
        tok = t.auth()
        q = {"airmeetId": t.airmeet_id}
        self.assertEqual(self.warm(self.srv, tok, q), [])
        h = t.register(airmeet_id=t.airmeet_id).json["payload"]
        self.assertEqual(self.warm(self.srv, tok, q), [h["id"]])
        self.assertEqual(self.warm(self.srv, tok), [h["id"]])
        self.deregister(self.srv, t, h["id"])
        self.assertEqual(listed(self.srv, tok, q), (200, []))
        self.assertEqual(listed(self.srv, tok), (200, []))

    def test_second_process_changes_show_at_once(self):
        t = self.srv.make_tenant()
        b = self.second()
        tok = t.auth()
        q = {"airmeetId": t.airmeet_id}
        self.assertEqual(self.warm(self.srv, tok, q), [])

        # Registered through the other process.
        h = self.assertEnvelope(self.register_via(b, t, "https://example.com/second", q))
        self.soon(lambda: listed(self.srv, tok, q), (200, [h["id"]]))
        self.assertEqual(self.warm(self.srv, tok, q), [h["id"]])

        # Disabled and enabled through the other process's admin API.
        self.assertJson(b.admin("POST", "/webhooks/%s/disable" % h["id"]), 200)
        self.soon(lambda: listed(self.srv, tok, q), (200, []))
        self.assertEqual(self.warm(self.srv, tok, q), [])
        self.assertJson(b.admin("POST", "/webhooks/%s/enable" % h["id"]), 200)
        self.soon(lambda: listed(self.srv, tok, q), (200, [h["id"]]))
        self.assertEqual(self.warm(self.srv, tok, q), [h["id"]])

        # Deregistered through the other process.
        self.deregister(b, t, h["id"])
        self.soon(lambda: listed(self.srv, tok, q), (200, []))

        # And the other way round: this process's change shows over there.
        self.assertEqual(self.warm(b, tok, q), [])
        h2 = self.assertEnvelope(self.register_via(self.srv, t, "https://example.com/first", q))
        self.soon(lambda: listed(b, tok, q), (200, [h2["id"]]))

    def test_revoked_key_refused_everywhere(self):
        t = self.srv.make_tenant()
        b = self.second()
        tok = t.auth()
        self.warm(self.srv, tok)
        self.warm(b, tok)
        # The key pair is cached too: sample-payload twice on each process.
        for srv in (self.srv, b):
            for _ in range(2):
                r = srv.public("GET", "/platform-integration/v1/sample-payload",
                               headers=t.key_headers(),
                               query={"triggerMetaInfoId": "trigger.airmeet.created"})
                self.assertEnvelope(r)
        self.assertJson(b.admin("DELETE", "/access-keys/" + t.key_id), 200)
        for srv in (self.srv, b):
            self.soon(lambda: srv.public("GET", LIST,
                                         headers={"X-Airmeet-Access-Token": tok}).status, 403)
            r = srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": tok})
            self.assertPublicError(r, 403)
            r = self.register_via(srv, t, "https://example.com/revoked",
                                  {"airmeetId": t.airmeet_id})
            self.assertPublicError(r, 403)

    def test_dispatcher_disabling_shows_at_once(self):
        t = self.srv.make_tenant()
        tok = t.auth()
        gone = self.hook(t, path="/gone")
        ok = self.hook(t)
        self.assertEqual(sorted(self.warm(self.srv, tok)), sorted([gone["id"], ok["id"]]))
        self.publish(t)
        self.assertTrue(wait_for(lambda: self.webhook_view(gone["id"])["isActive"] is False, 10),
                        "the webhook answering 410 was not disabled")
        # The dispatcher's own write is the change: no API call in between.
        self.assertEqual(listed(self.srv, tok), (200, [ok["id"]]))

    def test_delivery_bookkeeping_keeps_the_list(self):
        """Failing deliveries update the webhook row (failing_since); the list
        answer stays the same, byte for byte."""
        t = self.srv.make_tenant()
        tok = t.auth()
        h = self.hook(t, path="/status/500")
        before = self.srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": tok})
        self.assertJson(before, 200)
        self.publish(t)
        self.assertTrue(wait_for(lambda: self.webhook_view(h["id"]).get("failingSince"), 10),
                        "the failing webhook has no failingSince")
        after = self.srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": tok})
        self.assertEqual(after.body, before.body)


class TokenExpiryTests(ServerTestCase):
    """Expiry is checked against the clock, cached token or not."""

    SERVER_ARGS = ("--token-ttl", "2s", "--auth-fail-limit", "1000")

    def test_expired_token_gets_412(self):
        t = self.srv.make_tenant()
        r = self.srv.public("POST", "/auth", headers=t.key_headers("airmeet"))
        j = self.assertJson(r, 200)
        expires = j["expiresAt"]
        # Seconds since the epoch of "2020-08-04T06:38:51.106+00:00" (always UTC).
        self.assertTrue(expires.endswith("+00:00"), expires)
        expires_s = calendar.timegm(time.strptime(expires[:19], "%Y-%m-%dT%H:%M:%S")) \
            + int(expires[20:23]) / 1000.0
        for _ in range(2):
            r = self.srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": j["token"]})
            # Answered before the expiry (same clock): 200.  A slow machine may
            # have got past it meanwhile; then the answer may be either.
            if time.time() < expires_s:
                self.assertEqual(r.status, 200, repr(r))
            else:
                self.assertIn(r.status, (200, 412), repr(r))
        while time.time() <= expires_s + 0.01:
            time.sleep(expires_s + 0.02 - time.time())
        r = self.srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": j["token"]})
        self.assertPublicError(r, 412)


if __name__ == "__main__":
    unittest.main()
