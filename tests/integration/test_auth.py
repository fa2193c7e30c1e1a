# SPDX-License-Identifier: MIT
"""POST /prod/auth and failed-authentication throttling."""

import datetime
import http.client
import unittest
import uuid

from harness import ServerTestCase, TOKEN_RE, Response


def parse_ts(s):
    return datetime.datetime.strptime(s.replace("+00:00", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


class AuthTests(ServerTestCase):
    # Generous limit: this class makes several failed attempts on purpose.
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant(label="crm-sync")

    def auth(self, headers):
        return self.srv.public("POST", "/auth", headers=headers)

    def test_success_shape(self):
        r = self.auth(self.t.key_headers("airmeet"))
        j = self.assertJson(r, 200)
        self.assertIs(j.get("success"), True, repr(r))
        self.assertEqual(j.get("label"), "crm-sync")
        self.assertIsInstance(j.get("token"), str)
        self.assertRegex(j["token"], TOKEN_RE)
        self.assertIsInstance(j.get("data"), dict, repr(r))
        self.assertEqual(j["data"].get("token"), j["token"])
        self.assertEqual(j["data"].get("label"), "crm-sync")
        self.assertTimestamp(j.get("expiresAt"), "expiresAt")
        now = datetime.datetime.now(datetime.timezone.utc)
        left = parse_ts(j["expiresAt"]) - now
        self.assertTrue(datetime.timedelta(days=29, hours=23) < left < datetime.timedelta(days=30, hours=1),
                        "default token lifetime should be 30 days, got %s" % left)

    def test_tokens_are_fresh_each_time(self):
        a = self.auth(self.t.key_headers("airmeet")).json["token"]
        b = self.auth(self.t.key_headers("airmeet")).json["token"]
        self.assertNotEqual(a, b)
        for tok in (a, b):
            r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                                headers={"X-Airmeet-Access-Token": tok})
            self.assertJson(r, 200)

    def test_header_case_variants(self):
        variants = [
            ("X-Airmeet-Access-Key", "X-Airmeet-Secret-Key"),
            ("x-airmeet-access-key", "x-airmeet-secret-key"),
            ("X-AIRMEET-ACCESS-KEY", "X-AIRMEET-SECRET-KEY"),
            ("x-access-key", "x-secret-key"),
            ("X-Access-Key", "X-Secret-Key"),
        ]
        for ak, sk in variants:
            with self.subTest(header=ak):
                r = self.auth({ak: self.t.access_key, sk: self.t.secret_key})
                j = self.assertJson(r, 200)
                self.assertIs(j.get("success"), True, repr(r))

    def test_missing_headers_400(self):
        cases = {
            "both": {},
            "secret": {"X-Airmeet-Access-Key": self.t.access_key},
            "access": {"X-Airmeet-Secret-Key": self.t.secret_key},
            "empty": {"X-Airmeet-Access-Key": "", "X-Airmeet-Secret-Key": ""},
        }
        for name, h in cases.items():
            with self.subTest(missing=name):
                self.assertAuthError(self.auth(h), 400)

    def test_wrong_secret_400(self):
        h = self.t.key_headers("airmeet")
        h["X-Airmeet-Secret-Key"] = "ahs_" + "0" * 64
        self.assertAuthError(self.auth(h), 400)
        h["X-Airmeet-Secret-Key"] = self.t.secret_key[:-1]
        self.assertAuthError(self.auth(h), 400)

    def test_unknown_access_key_400(self):
        h = {"X-Airmeet-Access-Key": str(uuid.uuid4()), "X-Airmeet-Secret-Key": self.t.secret_key}
        self.assertAuthError(self.auth(h), 400)
        h = {"X-Airmeet-Access-Key": "not-a-uuid", "X-Airmeet-Secret-Key": self.t.secret_key}
        self.assertAuthError(self.auth(h), 400)

    def test_other_keys_secret_400(self):
        other = self.srv.make_tenant(with_airmeet=False)
        h = {"X-Airmeet-Access-Key": self.t.access_key, "X-Airmeet-Secret-Key": other.secret_key}
        self.assertAuthError(self.auth(h), 400)

    def test_revoked_key_403(self):
        k = self.t.new_key("to-revoke")
        h = {"X-Airmeet-Access-Key": k["accessKey"], "X-Airmeet-Secret-Key": k["secretKey"]}
        self.assertJson(self.auth(h), 200)
        self.assertJson(self.srv.admin("DELETE", "/access-keys/" + k["id"]), 200)
        self.assertAuthError(self.auth(h), 403)

    def test_revoked_key_tokens_stop_working(self):
        """A token issued before revocation must not outlive the key
        (what a Stripe/Svix user expects from revoking a key)."""
        k = self.t.new_key("to-revoke-2")
        h = {"X-Airmeet-Access-Key": k["accessKey"], "X-Airmeet-Secret-Key": k["secretKey"]}
        tok = self.auth(h).json["token"]
        self.assertJson(self.srv.public("GET", "/platform-integration/v1/webhook-list",
                                        headers={"X-Airmeet-Access-Token": tok}), 200)
        self.srv.admin("DELETE", "/access-keys/" + k["id"])
        r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                            headers={"X-Airmeet-Access-Token": tok})
        self.assertGreaterEqual(r.status, 400, repr(r))
        self.assertLess(r.status, 500, repr(r))
        self.assertJson(r)

    def test_wrong_method_405(self):
        r = self.srv.public("GET", "/auth", headers=self.t.key_headers("airmeet"))
        self.assertEqual(r.status, 405, repr(r))
        self.assertJson(r)
        self.assertIn("POST", (r.header("Allow") or "").upper(), repr(r.header_list))

    def test_auth_with_body_ignored(self):
        """Clients commonly send `{}` with Content-Type: application/json."""
        r = self.srv.public("POST", "/auth", headers=self.t.key_headers("airmeet"), json_body={})
        self.assertIs(self.assertJson(r, 200).get("success"), True)


class AuthThrottleTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "3")

    def test_429_after_limit(self):
        t = self.srv.make_tenant(with_airmeet=False)
        good = t.key_headers("airmeet")
        bad = dict(good)
        bad["X-Airmeet-Secret-Key"] = "ahs_" + "1" * 64
        # Correct keys work before any failure.
        self.assertJson(self.srv.public("POST", "/auth", headers=good), 200)
        for i in range(3):
            r = self.srv.public("POST", "/auth", headers=bad)
            self.assertEqual(r.status, 400, "failure %d should still be a plain 400: %r" % (i + 1, r))
        r = self.srv.public("POST", "/auth", headers=bad)
        self.assertEqual(r.status, 429, repr(r))
        self.assertJson(r)
        ra = r.header("Retry-After")
        self.assertIsNotNone(ra, "429 needs Retry-After: %r" % (r.header_list,))
        self.assertRegex(ra.strip(), r"^\d+$")
        self.assertGreater(int(ra), 0)
        self.assertLessEqual(int(ra), 3600)
        # Even the right keys are refused while throttled.
        r = self.srv.public("POST", "/auth", headers=good)
        self.assertEqual(r.status, 429, "correct keys while throttled: %r" % (r,))
        self.assertIsNotNone(r.header("Retry-After"))
        # Other routes stay reachable.
        self.assertServerUp()
        # The operator's admin API keeps its own count: not locked out.
        self.assertJson(self.srv.admin("GET", "/communities"), 200)


class AuthThrottlePerAddressTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "3")

    def test_other_address_not_throttled(self):
        """The limit is per client address: 127.0.0.2 is not slowed by
        127.0.0.1's failures (both are loopback; the server listens on 127.0.0.1)."""
        t = self.srv.make_tenant(with_airmeet=False)
        bad = dict(t.key_headers("airmeet"), **{"X-Airmeet-Secret-Key": "ahs_" + "3" * 64})
        for _ in range(5):
            self.srv.public("POST", "/auth", headers=bad)
        self.assertEqual(self.srv.public("POST", "/auth", headers=t.key_headers("airmeet")).status, 429)
        try:
            c = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=10,
                                           source_address=("127.0.0.2", 0))
            c.request("POST", "/prod/auth", headers=t.key_headers("airmeet"))
        except OSError as e:
            self.skipTest("cannot bind source address 127.0.0.2 here: %s" % e)
        r = c.getresponse()
        r = Response(r.status, r.reason, r.getheaders(), r.read(), "POST", "/prod/auth")
        c.close()
        self.assertEqual(r.status, 200, "another address must not be throttled: %r" % (r,))


class KeyPairThrottleTests(ServerTestCase):
    """Failed key pairs on the public API count as failed authentications too."""
    SERVER_ARGS = ("--auth-fail-limit", "3")

    def test_register_429_after_limit(self):
        t = self.srv.make_tenant(with_airmeet=False)
        bad = {"x-access-key": t.access_key, "x-secret-key": "ahs_" + "4" * 64}
        for i in range(3):
            r = t.register(headers=bad, expect=None)
            self.assertPublicError(r, 401)
        r = t.register(headers=bad, expect=None)
        self.assertPublicError(r, 429)
        self.assertRegex(r.header("Retry-After") or "", r"^\d+$", repr(r.header_list))
        r = t.register(expect=None)
        self.assertPublicError(r, 429)


class TokenTtlTests(ServerTestCase):
    SERVER_ARGS = ("--token-ttl", "2h")

    def test_configured_ttl(self):
        t = self.srv.make_tenant(with_airmeet=False)
        j = self.assertJson(self.srv.public("POST", "/auth", headers=t.key_headers("airmeet")), 200)
        left = parse_ts(j["expiresAt"]) - datetime.datetime.now(datetime.timezone.utc)
        self.assertTrue(datetime.timedelta(minutes=115) < left <= datetime.timedelta(hours=2),
                        "--token-ttl 2h gave a token living %s" % left)
        r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                            headers={"X-Airmeet-Access-Token": j["token"]})
        self.assertJson(r, 200)


if __name__ == "__main__":
    unittest.main()


class ForwardedForThrottleTests(ServerTestCase):
    """Behind a proxy (--trust-forwarded-for) failures count per client, as
    named by the last X-Forwarded-For hop, not per proxy connection."""
    SERVER_ARGS = ("--auth-fail-limit", "3", "--trust-forwarded-for")

    def test_one_client_throttled_others_not(self):
        t = self.srv.make_tenant(with_airmeet=False)
        good = t.key_headers("airmeet")
        bad = dict(good, **{"X-Airmeet-Secret-Key": "ahs_" + "5" * 64})
        for _ in range(4):
            self.srv.public("POST", "/auth", headers=dict(bad, **{"X-Forwarded-For": "203.0.113.66"}))
        r = self.srv.public("POST", "/auth", headers=dict(good, **{"X-Forwarded-For": "203.0.113.66"}))
        self.assertEqual(r.status, 429, repr(r))
        # A client further back cannot dodge it by prepending an address.
        r = self.srv.public("POST", "/auth",
                            headers=dict(good, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.66"}))
        self.assertEqual(r.status, 429, repr(r))
        r = self.srv.public("POST", "/auth", headers=dict(good, **{"X-Forwarded-For": "198.51.100.7"}))
        self.assertEqual(r.status, 200, "another client behind the same proxy: %r" % (r,))
