# SPDX-License-Identifier: MIT
"""GET /prod/platform-integration/v1/sample-payload."""

import unittest
import uuid

from harness import ServerTestCase, TRIGGERS

PATH = "/platform-integration/v1/sample-payload"


def walk_keys(obj):
    """Every key of every object nested in obj."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            out |= walk_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            out |= walk_keys(v)
    return out


class SamplePayloadTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant(with_airmeet=False)

    def get(self, trigger=None, headers=None):
        q = {"triggerMetaInfoId": trigger} if trigger is not None else None
        return self.srv.public("GET", PATH, headers=self.t.key_headers() if headers is None else headers,
                               query=q)

    def test_all_triggers(self):
        self.assertEqual(len(TRIGGERS), 22)
        for trig, _, _ in TRIGGERS:
            with self.subTest(trigger=trig):
                p = self.assertEnvelope(self.get(trig))
                self.assertIsInstance(p, dict, "payload must be a JSON object for %s" % trig)
                self.assertTrue(p, "payload for %s is empty" % trig)

    def test_samples_are_realistic(self):
        keys = walk_keys(self.assertEnvelope(self.get("trigger.airmeet.registrant.added")))
        for k in ("airmeetId", "email"):
            self.assertIn(k, keys, "registration sample lacks %s" % k)
        keys = walk_keys(self.assertEnvelope(self.get("trigger.airmeet.recording.available")))
        self.assertIn("recordings", keys)
        keys = walk_keys(self.assertEnvelope(self.get("trigger.airmeet.polls")))
        self.assertIn("polls", keys)

    def test_stable(self):
        a = self.assertEnvelope(self.get("trigger.airmeet.created"))
        b = self.assertEnvelope(self.get("trigger.airmeet.created"))
        self.assertEqual(a, b)

    def test_header_variants(self):
        h = {"X-Airmeet-Access-Key": self.t.access_key, "X-Airmeet-Secret-Key": self.t.secret_key}
        self.assertEnvelope(self.get("trigger.airmeet.created", headers=h))
        h = {"X-ACCESS-KEY": self.t.access_key, "x-SECRET-key": self.t.secret_key}
        self.assertEnvelope(self.get("trigger.airmeet.created", headers=h))

    def test_unknown_trigger_400(self):
        for trig in ("trigger.unknown", "", "trigger.airmeet.created "):
            with self.subTest(trigger=trig):
                self.assertPublicError(self.get(trig), 400)

    def test_missing_trigger_400(self):
        self.assertPublicError(self.get(None), 400)

    def test_needs_key_pair_401(self):
        self.assertPublicError(self.get("trigger.airmeet.created", headers={}), 401)
        self.assertPublicError(self.get("trigger.airmeet.created",
                                        headers={"x-access-key": self.t.access_key,
                                                 "x-secret-key": "ahs_" + "2" * 64}), 401)
        self.assertPublicError(self.get("trigger.airmeet.created",
                                        headers={"x-access-key": str(uuid.uuid4()),
                                                 "x-secret-key": self.t.secret_key}), 401)

    def test_revoked_key_403(self):
        k = self.t.new_key("sample-revoked")
        h = {"x-access-key": k["accessKey"], "x-secret-key": k["secretKey"]}
        self.assertEnvelope(self.get("trigger.airmeet.created", headers=h))
        self.srv.admin("DELETE", "/access-keys/" + k["id"])
        self.assertPublicError(self.get("trigger.airmeet.created", headers=h), 403)

    def test_wrong_method_405(self):
        r = self.srv.public("POST", PATH, headers=self.t.key_headers(), json_body={},
                            query={"triggerMetaInfoId": "trigger.airmeet.created"})
        self.assertPublicError(r, 405)
        self.assertIn("GET", (r.header("Allow") or "").upper())


if __name__ == "__main__":
    unittest.main()
