# SPDX-License-Identifier: MIT
"""POST /prod/platform-integration/v1/webhook-register."""

import json
import unittest
import uuid

from harness import (ServerTestCase, REGISTER_FIELDS, TRIGGERS, WHSEC_RE, decode_whsec, hook_url)

PATH = "/platform-integration/v1/webhook-register"


class RegisterTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant(label="zapier-like")
        cls.other = cls.srv.make_tenant(label="other-community")

    def post(self, body, query=None, headers=None, raw=None):
        h = self.t.key_headers() if headers is None else headers
        if raw is not None:
            return self.srv.public("POST", PATH, headers=h, body=raw, query=query)
        return self.srv.public("POST", PATH, headers=h, json_body=body, query=query)

    def body(self, trigger="trigger.airmeet.created", url=None, **kw):
        b = {"name": "My hook", "description": "desc", "triggerMetaInfoId": trigger,
             "url": hook_url() if url is None else url, "platformName": "Acme CRM"}
        b.update(kw)
        return b

    # -- success -------------------------------------------------------------

    def test_success_envelope(self):
        b = self.body("trigger.airmeet.registrant.added")
        r = self.post(b, query={"airmeetId": self.t.airmeet_id})
        p = self.assertEnvelope(r)
        self.assertIsInstance(p, dict)
        missing = [f for f in REGISTER_FIELDS if f not in p]
        self.assertEqual(missing, [], "payload lacks %s: %r" % (missing, r))
        self.assertUuid(p["id"])
        self.assertEqual(p["triggerMetaInfoId"], "trigger.airmeet.registrant.added")
        self.assertEqual(p["name"], "My hook")
        self.assertEqual(p["description"], "desc")
        self.assertEqual(p["url"], b["url"])
        self.assertEqual(p["platformName"], "Acme CRM")
        self.assertEqual(p["airmeetId"], self.t.airmeet_id)
        self.assertIsNone(p["sessionId"])
        self.assertIs(p["isActive"], True)
        self.assertTimestamp(p["createdAt"], "createdAt")
        self.assertTimestamp(p["updatedAt"], "updatedAt")
        self.assertEqual(p["createdBy"], "zapier-like")
        self.assertEqual(p["updatedBy"], "zapier-like")
        self.assertIsInstance(p["secret"], str)
        self.assertRegex(p["secret"], WHSEC_RE)
        self.assertEqual(len(decode_whsec(p["secret"])), 24, "whsec_ + base64 of 24 random bytes")

    def test_session_scope(self):
        r = self.post(self.body("trigger.session.attendee.joined"),
                      query={"airmeetId": self.t.airmeet_id, "sessionId": self.t.session_id})
        p = self.assertEnvelope(r)
        self.assertEqual(p["airmeetId"], self.t.airmeet_id)
        self.assertEqual(p["sessionId"], self.t.session_id)

    def test_optional_airmeet_scope(self):
        p = self.assertEnvelope(self.post(self.body("trigger.airmeet.created"),
                                          query={"airmeetId": self.t.airmeet_id}))
        self.assertEqual(p["airmeetId"], self.t.airmeet_id)
        p = self.assertEnvelope(self.post(self.body("trigger.airmeet.questions"),
                                          query={"airmeetId": self.t.airmeet_id, "sessionId": self.t.session_id}))
        self.assertEqual(p["sessionId"], self.t.session_id)

    def test_optional_fields_may_be_omitted(self):
        url = hook_url()
        r = self.post({"triggerMetaInfoId": "trigger.airmeet.created", "url": url})
        p = self.assertEnvelope(r)
        self.assertEqual(p["url"], url)
        self.assertIsNone(p["airmeetId"])
        self.assertIsNone(p["sessionId"])

    def test_every_trigger_registers(self):
        for trig, am, _ in TRIGGERS:
            with self.subTest(trigger=trig):
                q = {"airmeetId": self.t.airmeet_id} if am == "required" else None
                p = self.assertEnvelope(self.post(self.body(trig), query=q))
                self.assertEqual(p["triggerMetaInfoId"], trig)

    def test_header_variants(self):
        variants = [
            {"x-access-key": self.t.access_key, "x-secret-key": self.t.secret_key},
            {"X-Access-Key": self.t.access_key, "X-Secret-Key": self.t.secret_key},
            {"X-Airmeet-Access-Key": self.t.access_key, "X-Airmeet-Secret-Key": self.t.secret_key},
            {"X-ACCESS-KEY": self.t.access_key, "x-airmeet-secret-key": self.t.secret_key},
        ]
        for h in variants:
            with self.subTest(headers=sorted(h)):
                self.assertEnvelope(self.post(self.body(), headers=h))

    def test_content_type_with_charset(self):
        h = self.t.key_headers()
        h["Content-Type"] = "application/json; charset=utf-8"
        r = self.srv.public("POST", PATH, headers=h, body=json.dumps(self.body()).encode())
        self.assertEnvelope(r)

    def test_idempotent_reregister(self):
        b = self.body("trigger.airmeet.polls")
        q = {"airmeetId": self.t.airmeet_id}
        p1 = self.assertEnvelope(self.post(b, query=q))
        p2 = self.assertEnvelope(self.post(b, query=q))
        self.assertEqual(p1["id"], p2["id"], "same active (trigger,url,airmeet,session) must return the existing id")
        # A different scope or url is a different registration.
        p3 = self.assertEnvelope(self.post(b, query={"airmeetId": self.t.airmeet_id,
                                                     "sessionId": self.t.session_id}))
        self.assertNotEqual(p3["id"], p1["id"])
        p4 = self.assertEnvelope(self.post(dict(b, url=hook_url()), query=q))
        self.assertNotEqual(p4["id"], p1["id"])
        # Another community registering the same thing gets its own webhook.
        b2 = dict(b)
        q2 = {"airmeetId": self.other.airmeet_id}
        p5 = self.assertEnvelope(self.post(b2, query=q2, headers=self.other.key_headers()))
        self.assertNotEqual(p5["id"], p1["id"])

    def test_unicode_fields_round_trip(self):
        b = self.body(name="Événement \u2603 \U0001F600", description="línea\n\"quoted\"")
        p = self.assertEnvelope(self.post(b))
        self.assertEqual(p["name"], b["name"])
        self.assertEqual(p["description"], b["description"])

    # -- 400 -----------------------------------------------------------------

    def test_unknown_trigger_400(self):
        for trig in ("trigger.nope", "", "TRIGGER.AIRMEET.CREATED"):
            with self.subTest(trigger=trig):
                self.assertPublicError(self.post(self.body(trig)), 400)

    def test_missing_trigger_400(self):
        b = self.body()
        del b["triggerMetaInfoId"]
        self.assertPublicError(self.post(b), 400)

    def test_missing_url_400(self):
        b = self.body()
        del b["url"]
        self.assertPublicError(self.post(b), 400)

    def test_bad_url_400(self):
        for url in ("ftp://93.184.215.14/x", "/relative/path", "javascript:alert(1)", "",
                    "http://", "not a url", "https//missing-colon.example/x", "mailto:a@b.c",
                    "https:///hooks"):
            with self.subTest(url=url):
                self.assertPublicError(self.post(self.body(url=url)), 400)

    def test_malformed_json_400_names_problem(self):
        for raw in (b'{"triggerMetaInfoId": "trigger.airmeet.created", "url": ',
                    b'{"triggerMetaInfoId": "trigger.airmeet.created" "url": "https://x.y/"}',
                    b"not json at all", b"", b"\xff\xfe\x00garbage"):
            with self.subTest(body=raw[:30]):
                r = self.post(None, raw=raw, headers=dict(self.t.key_headers(),
                                                          **{"Content-Type": "application/json"}))
                j = self.assertPublicError(r, 400)
                msg = j["message"].lower()
                self.assertTrue(any(w in msg for w in ("json", "body", "parse", "invalid", "expected",
                                                       "unexpected", "empty")),
                                "message should say what is wrong: %r" % j["message"])

    def test_body_not_object_400(self):
        for raw in (b"[]", b'"string"', b"42", b"null"):
            with self.subTest(body=raw):
                r = self.post(None, raw=raw, headers=dict(self.t.key_headers(),
                                                          **{"Content-Type": "application/json"}))
                self.assertPublicError(r, 400)

    def test_wrong_json_types_400(self):
        cases = [
            {"url": 12345},
            {"url": ["https://93.184.215.14/x"]},
            {"triggerMetaInfoId": 7},
            {"name": {"a": 1}},
        ]
        for override in cases:
            with self.subTest(override=override):
                b = self.body()
                b.update(override)
                j = self.assertPublicError(self.post(b), 400)
                key = list(override)[0]
                self.assertIn(key, j["message"], "message should name the field")

    def test_required_airmeet_missing_400(self):
        for trig, am, _ in TRIGGERS:
            if am != "required":
                continue
            with self.subTest(trigger=trig):
                self.assertPublicError(self.post(self.body(trig)), 400)

    def test_session_without_airmeet_400(self):
        for trig in ("trigger.session.attendee.joined", "trigger.airmeet.polls", "trigger.airmeet.questions"):
            with self.subTest(trigger=trig):
                r = self.post(self.body(trig), query={"sessionId": self.t.session_id})
                self.assertPublicError(r, 400)

    def test_session_for_trigger_without_session_scope_400(self):
        r = self.post(self.body("trigger.airmeet.registrant.added"),
                      query={"airmeetId": self.t.airmeet_id, "sessionId": self.t.session_id})
        self.assertPublicError(r, 400)

    def test_non_uuid_airmeet_400(self):
        for bad in ("not-a-uuid", "1234", "'; drop table webhooks; --"):
            with self.subTest(airmeetId=bad):
                r = self.post(self.body("trigger.airmeet.registrant.added"), query={"airmeetId": bad})
                self.assertPublicError(r, 400)

    def test_non_uuid_session_400(self):
        r = self.post(self.body("trigger.session.attendee.joined"),
                      query={"airmeetId": self.t.airmeet_id, "sessionId": "xyz"})
        self.assertPublicError(r, 400)

    def test_session_not_in_airmeet_400(self):
        a2 = self.t.new_airmeet()
        s2 = self.t.new_session(a2)
        r = self.post(self.body("trigger.session.attendee.joined"),
                      query={"airmeetId": self.t.airmeet_id, "sessionId": s2})
        self.assertPublicError(r, 400)

    def test_missing_content_type_400(self):
        h = self.t.key_headers()
        r = self.srv.public("POST", PATH, headers=h, body=json.dumps(self.body()).encode())
        self.assertPublicError(r, 400)

    def test_text_plain_400(self):
        h = dict(self.t.key_headers(), **{"Content-Type": "text/plain"})
        r = self.srv.public("POST", PATH, headers=h, body=json.dumps(self.body()).encode())
        self.assertPublicError(r, 400)

    def test_form_urlencoded_400(self):
        h = dict(self.t.key_headers(), **{"Content-Type": "application/x-www-form-urlencoded"})
        r = self.srv.public("POST", PATH, headers=h, body=b"triggerMetaInfoId=trigger.airmeet.created")
        self.assertPublicError(r, 400)

    # -- 404 / 401 / 403 -----------------------------------------------------

    def test_unknown_airmeet_404(self):
        r = self.post(self.body("trigger.airmeet.registrant.added"), query={"airmeetId": str(uuid.uuid4())})
        self.assertPublicError(r, 404)

    def test_unknown_session_404(self):
        r = self.post(self.body("trigger.session.attendee.joined"),
                      query={"airmeetId": self.t.airmeet_id, "sessionId": str(uuid.uuid4())})
        self.assertPublicError(r, 404)

    def test_other_communitys_airmeet_401(self):
        r = self.post(self.body("trigger.airmeet.registrant.added"), query={"airmeetId": self.other.airmeet_id})
        self.assertPublicError(r, 401)

    def test_other_communitys_session_401(self):
        r = self.post(self.body("trigger.session.attendee.joined"),
                      query={"airmeetId": self.other.airmeet_id, "sessionId": self.other.session_id})
        self.assertPublicError(r, 401)

    def test_missing_key_headers_401(self):
        for name, h in {"none": {},
                        "no secret": {"x-access-key": self.t.access_key},
                        "no access": {"x-secret-key": self.t.secret_key}}.items():
            with self.subTest(case=name):
                self.assertPublicError(self.post(self.body(), headers=h), 401)

    def test_wrong_secret_401(self):
        h = {"x-access-key": self.t.access_key, "x-secret-key": self.other.secret_key}
        self.assertPublicError(self.post(self.body(), headers=h), 401)
        h = {"x-access-key": str(uuid.uuid4()), "x-secret-key": self.t.secret_key}
        self.assertPublicError(self.post(self.body(), headers=h), 401)

    def test_revoked_key_403(self):
        k = self.t.new_key("revoke-me")
        h = {"x-access-key": k["accessKey"], "x-secret-key": k["secretKey"]}
        self.assertEnvelope(self.post(self.body(), headers=h))
        self.assertJson(self.srv.admin("DELETE", "/access-keys/" + k["id"]), 200)
        self.assertPublicError(self.post(self.body(), headers=h), 403)

    def test_token_is_not_a_key_pair(self):
        """webhook-register takes the key pair, not the /auth token."""
        tok = self.t.auth()
        r = self.post(self.body(), headers={"X-Airmeet-Access-Token": tok})
        self.assertPublicError(r, 401)

    def test_failed_register_creates_nothing(self):
        url = hook_url("never")
        self.assertPublicError(self.post(self.body("trigger.airmeet.registrant.added", url=url),
                                         query={"airmeetId": str(uuid.uuid4())}), 404)
        tok = self.t.auth()
        r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                            headers={"X-Airmeet-Access-Token": tok})
        self.assertNotIn(url, r.text)

    def test_wrong_method_405(self):
        r = self.srv.public("PUT", PATH, headers=self.t.key_headers(), json_body=self.body())
        self.assertPublicError(r, 405)
        allow = r.header("Allow")
        self.assertIsNotNone(allow, "405 needs an Allow header")
        self.assertIn("POST", [m.strip().upper() for m in allow.split(",")])
        r = self.srv.public("GET", PATH, headers=self.t.key_headers())
        self.assertPublicError(r, 405)


if __name__ == "__main__":
    unittest.main()


class RegisterTargetPolicyTests(ServerTestCase):
    """SPEC §6 SSRF: private targets are refused by default, "checked on the
    resolved address at connect time, not only at registration" -- so an
    obviously private URL is refused at registration already."""
    # An unrelated documentation range: the flag only proves the policy exists.
    SERVER_ARGS = ("--allow-net", "203.0.113.0/24")
    SKIP_IF_FLAG_UNKNOWN = ("SSRF target policy (SPEC §6, --allow-net/--allow-private-targets) "
                            "is not implemented yet: delivery issue")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant()

    def test_private_targets_refused_by_default(self):
        for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.0.0.1/hook",
                    "http://192.168.1.1/hook", "http://172.16.0.1/hook", "http://169.254.169.254/latest/meta-data",
                    "http://[::1]/hook", "http://0.0.0.0/hook", "http://224.0.0.1/hook",
                    "http://2130706433/hook", "http://[::ffff:127.0.0.1]/hook", "http://LOCALHOST./hook",
                    "http://[fc00::1]/hook", "http://0x7f000001/hook"):
            with self.subTest(url=url):
                r = self.t.register(url=url, expect=None)
                self.assertPublicError(r, 400)

    def test_public_target_accepted(self):
        self.assertEqual(self.t.register(url="https://93.184.215.14/ok", expect=None).status, 200)


class RegisterAllowNetTests(ServerTestCase):
    SERVER_ARGS = ("--allow-net", "127.0.0.0/8")
    SKIP_IF_FLAG_UNKNOWN = ("SSRF target policy (SPEC §6, --allow-net/--allow-private-targets) "
                            "is not implemented yet: delivery issue")

    def test_allowlisted_loopback_accepted(self):
        t = self.srv.make_tenant()
        r = t.register(url="http://127.0.0.1:9/hook", expect=None)
        self.assertEqual(r.status, 200, repr(r))
        # Only the allowlisted range is opened.
        r = t.register(url="http://10.1.2.3/hook", expect=None)
        self.assertPublicError(r, 400)


class RegisterAllowPrivateTests(ServerTestCase):
    SERVER_ARGS = ("--allow-private-targets",)
    SKIP_IF_FLAG_UNKNOWN = ("SSRF target policy (SPEC §6, --allow-net/--allow-private-targets) "
                            "is not implemented yet: delivery issue")

    def test_private_targets_accepted(self):
        t = self.srv.make_tenant()
        for url in ("http://127.0.0.1:9/hook", "http://10.1.2.3/hook"):
            with self.subTest(url=url):
                self.assertEqual(t.register(url=url, expect=None).status, 200)
