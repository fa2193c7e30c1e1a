# SPDX-License-Identifier: MIT
"""POST/DELETE /prod/platform-integration/v1/webhook-deregister."""

import json
import unittest
import uuid

from harness import ServerTestCase, hook_url

PATH = "/platform-integration/v1/webhook-deregister"
OK = {"statusCode": "200", "statusMessage": "SUCCESS"}


class DeregisterTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant()
        cls.other = cls.srv.make_tenant()

    def new_hook(self, tenant=None, trigger="trigger.airmeet.registrant.added"):
        t = tenant or self.t
        return t.register(trigger, airmeet_id=t.airmeet_id).json["payload"]

    def dereg(self, body, method="POST", headers=None, query=None):
        h = self.t.key_headers() if headers is None else headers
        return self.srv.public(method, PATH, headers=h, json_body=body, query=query)

    def assertGone(self, p):
        tok = self.t.auth()
        for q in (None, {"airmeetId": self.t.airmeet_id}):
            r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                                headers={"X-Airmeet-Access-Token": tok}, query=q)
            ids = [w["id"] for w in self.assertJson(r, 200)["webhookDTOList"]]
            self.assertNotIn(p["id"], ids, "deregistered webhook still listed (query %r)" % (q,))
        w = self.assertJson(self.srv.admin("GET", "/webhooks/" + p["id"]), 200)
        self.assertIs(w["isActive"], False, repr(w))
        self.assertTimestamp(w.get("deregisteredAt"), "deregisteredAt")

    def assertOk(self, r):
        j = self.assertJson(r, 200)
        self.assertEqual(j, OK, repr(r))

    def test_post_deregister(self):
        p = self.new_hook()
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": p["url"]})
        self.assertOk(r)
        self.assertGone(p)

    def test_delete_with_body(self):
        p = self.new_hook()
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": p["url"]},
                       method="DELETE")
        self.assertOk(r)
        self.assertGone(p)

    def test_delete_with_query_id(self):
        p = self.new_hook()
        r = self.srv.public("DELETE", PATH, headers=self.t.key_headers(), query={"id": p["id"]})
        self.assertOk(r)
        self.assertGone(p)

    def test_header_variants(self):
        p = self.new_hook()
        h = {"X-Airmeet-Access-Key": self.t.access_key, "X-Airmeet-Secret-Key": self.t.secret_key}
        self.assertOk(self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"],
                                  "url": p["url"]}, headers=h))

    def test_reregister_after_deregister_is_new(self):
        p = self.new_hook()
        self.assertOk(self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": p["url"]}))
        p2 = self.t.register(p["triggerMetaInfoId"], url=p["url"], airmeet_id=self.t.airmeet_id).json["payload"]
        self.assertNotEqual(p2["id"], p["id"], "re-registering must not resurrect the deregistered id")
        self.assertIs(p2["isActive"], True)

    def test_unknown_id_404(self):
        r = self.dereg({"id": str(uuid.uuid4()), "triggerMetaInfoId": "trigger.airmeet.created",
                        "url": hook_url()})
        self.assertPublicError(r, 404)
        r = self.srv.public("DELETE", PATH, headers=self.t.key_headers(), query={"id": str(uuid.uuid4())})
        self.assertPublicError(r, 404)

    def test_other_communitys_webhook_404(self):
        p = self.new_hook(self.other)
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": p["url"]})
        self.assertPublicError(r, 404)
        # and it is untouched
        self.assertIs(self.srv.admin("GET", "/webhooks/" + p["id"]).json["isActive"], True)

    def test_mismatched_url_400(self):
        p = self.new_hook()
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": hook_url()})
        self.assertPublicError(r, 400)
        self.assertIs(self.srv.admin("GET", "/webhooks/" + p["id"]).json["isActive"], True)

    def test_mismatched_trigger_400(self):
        p = self.new_hook()
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": "trigger.airmeet.created", "url": p["url"]})
        self.assertPublicError(r, 400)
        self.assertIs(self.srv.admin("GET", "/webhooks/" + p["id"]).json["isActive"], True)

    def test_missing_keys_401(self):
        p = self.new_hook()
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": p["url"]},
                       headers={})
        self.assertPublicError(r, 401)

    def test_wrong_secret_401(self):
        p = self.new_hook()
        r = self.dereg({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"], "url": p["url"]},
                       headers={"x-access-key": self.t.access_key, "x-secret-key": self.other.secret_key})
        self.assertPublicError(r, 401)

    def test_malformed_json_400(self):
        h = dict(self.t.key_headers(), **{"Content-Type": "application/json"})
        r = self.srv.public("POST", PATH, headers=h, body=b'{"id": ')
        self.assertPublicError(r, 400)

    def test_missing_content_type_400(self):
        p = self.new_hook()
        r = self.srv.public("POST", PATH, headers=self.t.key_headers(),
                            body=json.dumps({"id": p["id"], "triggerMetaInfoId": p["triggerMetaInfoId"],
                                             "url": p["url"]}).encode())
        self.assertPublicError(r, 400)
        self.assertIs(self.srv.admin("GET", "/webhooks/" + p["id"]).json["isActive"], True)

    def test_missing_id_400(self):
        r = self.dereg({"triggerMetaInfoId": "trigger.airmeet.created", "url": hook_url()})
        self.assertPublicError(r, 400)

    def test_non_uuid_id(self):
        r = self.dereg({"id": "not-a-uuid", "triggerMetaInfoId": "trigger.airmeet.created", "url": hook_url()})
        self.assertIn(r.status, (400, 404), repr(r))
        self.assertPublicError(r, r.status)

    def test_wrong_method_405(self):
        r = self.srv.public("GET", PATH, headers=self.t.key_headers())
        self.assertPublicError(r, 405)
        allow = [m.strip().upper() for m in (r.header("Allow") or "").split(",")]
        self.assertIn("POST", allow)
        self.assertIn("DELETE", allow)


if __name__ == "__main__":
    unittest.main()
