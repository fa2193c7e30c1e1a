# SPDX-License-Identifier: MIT
"""GET /prod/platform-integration/v1/webhook-list (token from /auth)."""

import unittest
import uuid

from harness import ServerTestCase, LIST_FIELDS

PATH = "/platform-integration/v1/webhook-list"


class WebhookListTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls.t = cls.srv.make_tenant(label="lister")
        cls.other = cls.srv.make_tenant()
        # A second airmeet with its own session, same community.
        cls.a2 = t.new_airmeet()
        cls.s2 = t.new_session(cls.a2)

        def reg(trig, a=None, s=None):
            return t.register(trig, airmeet_id=a, session_id=s).json["payload"]

        cls.w_community = reg("trigger.airmeet.created")
        cls.w_airmeet = reg("trigger.airmeet.registrant.added", t.airmeet_id)
        cls.w_session = reg("trigger.session.attendee.joined", t.airmeet_id, t.session_id)
        cls.w_a2 = reg("trigger.airmeet.polls", cls.a2)
        cls.w_gone = reg("trigger.airmeet.attendee.joined", t.airmeet_id)
        r = t.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                         headers=t.key_headers(),
                         json_body={"id": cls.w_gone["id"], "triggerMetaInfoId": cls.w_gone["triggerMetaInfoId"],
                                    "url": cls.w_gone["url"]})
        assert r.status == 200, r
        cls.w_other = cls.other.register("trigger.airmeet.created").json["payload"]
        cls.token = t.auth()

    def lst(self, query=None, token=None, header="X-Airmeet-Access-Token"):
        h = {} if token is False else {header: token or self.token}
        return self.srv.public("GET", PATH, headers=h, query=query)

    def ids(self, r):
        j = self.assertJson(r, 200)
        self.assertIsInstance(j.get("webhookDTOList"), list, repr(r))
        return [w["id"] for w in j["webhookDTOList"]]

    def test_item_fields(self):
        r = self.lst({"airmeetId": self.t.airmeet_id})
        items = self.assertJson(r, 200)["webhookDTOList"]
        item = [w for w in items if w["id"] == self.w_airmeet["id"]][0]
        missing = [f for f in LIST_FIELDS if f not in item]
        self.assertEqual(missing, [], "list item lacks %s: %r" % (missing, item))
        self.assertNotIn("secret", item, "the list must not reveal signing secrets")
        self.assertNotIn(self.w_airmeet["secret"], r.text)
        self.assertEqual(item["triggerMetaInfoId"], "trigger.airmeet.registrant.added")
        self.assertEqual(item["url"], self.w_airmeet["url"])
        self.assertEqual(item["name"], self.w_airmeet["name"])
        self.assertEqual(item["description"], self.w_airmeet["description"])
        self.assertEqual(item["platformName"], self.w_airmeet["platformName"])
        self.assertIs(item["isActive"], True)
        self.assertTimestamp(item["createdAt"], "createdAt")
        self.assertTimestamp(item["updatedAt"], "updatedAt")
        self.assertEqual(item["createdAt"], self.w_airmeet["createdAt"])
        self.assertEqual(item["createdBy"], "lister")
        self.assertUuid(item["id"])

    def test_scope_airmeet(self):
        ids = self.ids(self.lst({"airmeetId": self.t.airmeet_id}))
        self.assertIn(self.w_airmeet["id"], ids)
        self.assertIn(self.w_session["id"], ids)
        self.assertNotIn(self.w_community["id"], ids, "community-wide webhook has no airmeetId")
        self.assertNotIn(self.w_a2["id"], ids)
        self.assertNotIn(self.w_gone["id"], ids, "deregistered webhooks are not active")
        self.assertNotIn(self.w_other["id"], ids)
        self.assertEqual(len(ids), len(set(ids)), "duplicates in list")

    def test_scope_other_airmeet(self):
        self.assertEqual(self.ids(self.lst({"airmeetId": self.a2})), [self.w_a2["id"]])

    def test_scope_session(self):
        self.assertEqual(self.ids(self.lst({"sessionId": self.t.session_id})), [self.w_session["id"]])
        self.assertEqual(self.ids(self.lst({"sessionId": self.s2})), [])

    def test_scope_airmeet_and_session(self):
        ids = self.ids(self.lst({"airmeetId": self.t.airmeet_id, "sessionId": self.t.session_id}))
        self.assertEqual(ids, [self.w_session["id"]])

    def test_session_not_in_airmeet_400(self):
        self.assertPublicError(self.lst({"airmeetId": self.t.airmeet_id, "sessionId": self.s2}), 400)

    def test_no_params_lists_whole_community(self):
        ids = self.ids(self.lst())
        for w in (self.w_community, self.w_airmeet, self.w_session, self.w_a2):
            self.assertIn(w["id"], ids)
        self.assertNotIn(self.w_gone["id"], ids)
        self.assertNotIn(self.w_other["id"], ids, "another community's webhook leaked")

    def test_admin_disabled_webhook_not_listed(self):
        w = self.t.register("trigger.airmeet.reminder", airmeet_id=self.a2).json["payload"]
        self.assertIn(w["id"], self.ids(self.lst({"airmeetId": self.a2})))
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % w["id"]), 200)
        self.assertNotIn(w["id"], self.ids(self.lst({"airmeetId": self.a2})))
        self.assertNotIn(w["id"], self.ids(self.lst()))
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/enable" % w["id"]), 200)
        self.assertIn(w["id"], self.ids(self.lst({"airmeetId": self.a2})))
        self.t.srv.public("DELETE", "/platform-integration/v1/webhook-deregister",
                          headers=self.t.key_headers(), query={"id": w["id"]})

    def test_empty_list_shape(self):
        fresh = self.srv.make_tenant()
        r = self.lst({"airmeetId": fresh.airmeet_id}, token=fresh.auth())
        self.assertEqual(self.assertJson(r, 200), {"webhookDTOList": []})

    def test_header_variants(self):
        for h in ("X-Airmeet-Access-Token", "x-airmeet-access-token", "X-AIRMEET-ACCESS-TOKEN",
                  "x-access-token", "X-Access-Token"):
            with self.subTest(header=h):
                self.assertIn(self.w_airmeet["id"], self.ids(self.lst({"airmeetId": self.t.airmeet_id},
                                                                       header=h)))

    def test_missing_token_400(self):
        self.assertPublicError(self.lst({"airmeetId": self.t.airmeet_id}, token=False), 400)
        self.assertPublicError(self.lst(token=False), 400)

    def test_unknown_token_400(self):
        for tok in ("aht_" + "0" * 64, "garbage", self.token + "0", self.token[:-1]):
            with self.subTest(token=tok[:12]):
                self.assertPublicError(self.lst({"airmeetId": self.t.airmeet_id}, token=tok), 400)

    def test_key_pair_is_not_a_token(self):
        r = self.srv.public("GET", PATH, headers=self.t.key_headers(), query={"airmeetId": self.t.airmeet_id})
        self.assertPublicError(r, 400)

    def test_other_communitys_airmeet_401(self):
        self.assertPublicError(self.lst({"airmeetId": self.other.airmeet_id}), 401)

    def test_other_communitys_session_401(self):
        self.assertPublicError(self.lst({"sessionId": self.other.session_id}), 401)

    def test_unknown_airmeet_404(self):
        self.assertPublicError(self.lst({"airmeetId": str(uuid.uuid4())}), 404)

    def test_unknown_session_404(self):
        self.assertPublicError(self.lst({"sessionId": str(uuid.uuid4())}), 404)

    def test_non_uuid_airmeet_400(self):
        for bad in ("abc", "1", "00000000-0000-0000-0000-00000000000g"):
            with self.subTest(airmeetId=bad):
                self.assertPublicError(self.lst({"airmeetId": bad}), 400)

    def test_non_uuid_session_400(self):
        self.assertPublicError(self.lst({"sessionId": "nope"}), 400)

    def test_wrong_method_405(self):
        r = self.srv.public("POST", PATH, headers={"X-Airmeet-Access-Token": self.token}, json_body={})
        self.assertPublicError(r, 405)
        self.assertIn("GET", (r.header("Allow") or "").upper())


class ExpiredTokenTests(ServerTestCase):
    SERVER_ARGS = ("--token-ttl", "0")

    def test_expired_token_412(self):
        t = self.srv.make_tenant()
        r = self.srv.public("POST", "/auth", headers=t.key_headers("airmeet"))
        j = self.assertJson(r, 200)
        tok = j["token"]
        r = self.srv.public("GET", PATH, headers={"X-Airmeet-Access-Token": tok},
                            query={"airmeetId": t.airmeet_id})
        self.assertPublicError(r, 412)
        r = self.srv.public("GET", PATH, headers={"X-Airmeet-Access-Token": tok})
        self.assertPublicError(r, 412)

    def test_unknown_token_still_400(self):
        r = self.srv.public("GET", PATH, headers={"X-Airmeet-Access-Token": "aht_" + "f" * 64})
        self.assertPublicError(r, 400)


if __name__ == "__main__":
    unittest.main()
