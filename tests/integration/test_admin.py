# SPDX-License-Identifier: MIT
"""Admin API (/admin/v1): auth, communities, access keys, airmeets, sessions, webhooks."""

import unittest
import uuid

from harness import ServerTestCase, SECRET_KEY_RE


class AdminAuthTests(ServerTestCase):

    def test_no_bearer_401(self):
        r = self.srv.request("GET", "/admin/v1/communities")
        self.assertAdminError(r, 401)

    def test_wrong_bearer_401(self):
        r = self.srv.admin("GET", "/communities", token="wrong-" + self.srv.admin_token)
        self.assertAdminError(r, 401)

    def test_token_prefix_is_not_enough(self):
        r = self.srv.admin("GET", "/communities", token=self.srv.admin_token[:-1])
        self.assertAdminError(r, 401)

    def test_not_bearer_scheme_401(self):
        r = self.srv.request("GET", "/admin/v1/communities",
                             headers={"Authorization": "Basic " + self.srv.admin_token})
        self.assertAdminError(r, 401)

    def test_post_without_bearer_401_creates_nothing(self):
        name = "unauth-" + uuid.uuid4().hex
        r = self.srv.request("POST", "/admin/v1/communities", json_body={"name": name})
        self.assertAdminError(r, 401)
        r = self.srv.admin("GET", "/communities")
        self.assertJson(r, 200)
        self.assertNotIn(name, [c.get("name") for c in r.json["communities"]])

    def test_bearer_is_case_insensitive_scheme(self):
        r = self.srv.request("GET", "/admin/v1/communities",
                             headers={"authorization": "bearer " + self.srv.admin_token})
        self.assertJson(r, 200)

    def test_unknown_admin_path_404(self):
        r = self.srv.admin("GET", "/no-such-resource")
        self.assertJson(r, 404)


class CommunityTests(ServerTestCase):

    def test_create_list_get(self):
        r = self.srv.admin("POST", "/communities", {"name": "Acme Events"})
        j = self.assertJson(r, 201)
        self.assertEqual(set(["id", "name", "createdAt"]) - set(j), set(), repr(r))
        self.assertUuid(j["id"])
        self.assertEqual(j["name"], "Acme Events")
        self.assertTimestamp(j["createdAt"], "createdAt")

        r = self.srv.admin("GET", "/communities")
        lst = self.assertJson(r, 200)
        self.assertIsInstance(lst.get("communities"), list, repr(r))
        mine = [c for c in lst["communities"] if c.get("id") == j["id"]]
        self.assertEqual(len(mine), 1, repr(r))
        self.assertEqual(mine[0]["name"], "Acme Events")

        r = self.srv.admin("GET", "/communities/" + j["id"])
        g = self.assertJson(r, 200)
        self.assertEqual(g["id"], j["id"])
        self.assertEqual(g["name"], "Acme Events")
        self.assertEqual(g["createdAt"], j["createdAt"])

    def test_caller_chosen_id(self):
        cid = str(uuid.uuid4())
        r = self.srv.admin("POST", "/communities", {"name": "Mirror", "id": cid})
        j = self.assertJson(r, 201)
        self.assertEqual(j["id"], cid)
        r = self.srv.admin("GET", "/communities/" + cid)
        self.assertEqual(self.assertJson(r, 200)["id"], cid)

    def test_duplicate_id_409(self):
        cid = str(uuid.uuid4())
        self.assertJson(self.srv.admin("POST", "/communities", {"name": "A", "id": cid}), 201)
        r = self.srv.admin("POST", "/communities", {"name": "B", "id": cid})
        self.assertAdminError(r, 409)
        # The first one is unchanged.
        self.assertEqual(self.srv.admin("GET", "/communities/" + cid).json["name"], "A")

    def test_non_uuid_id_400(self):
        for bad in ("not-a-uuid", "12345", "ZZZZZZZZ-ZZZZ-4ZZZ-8ZZZ-ZZZZZZZZZZZZ"):
            with self.subTest(id=bad):
                r = self.srv.admin("POST", "/communities", {"name": "X", "id": bad})
                self.assertAdminError(r, 400)

    def test_missing_name_400(self):
        self.assertAdminError(self.srv.admin("POST", "/communities", {}), 400)

    def test_malformed_json_400(self):
        r = self.srv.request("POST", "/admin/v1/communities", body=b'{"name": ',
                             headers={"Authorization": "Bearer " + self.srv.admin_token,
                                      "Content-Type": "application/json"})
        self.assertAdminError(r, 400)

    def test_wrong_method_405(self):
        r = self.srv.admin("PUT", "/communities", {"name": "x"})
        self.assertAdminError(r, 405)
        allow = [m.strip().upper() for m in (r.header("Allow") or "").split(",")]
        self.assertIn("GET", allow)
        self.assertIn("POST", allow)

    def test_text_plain_400(self):
        r = self.srv.request("POST", "/admin/v1/communities", body=b'{"name":"x"}',
                             headers={"Authorization": "Bearer " + self.srv.admin_token,
                                      "Content-Type": "text/plain"})
        self.assertAdminError(r, 400)

    def test_body_over_64k_413(self):
        r = self.srv.admin("POST", "/communities", {"name": "x" * (70 * 1024)})
        self.assertAdminError(r, 413)

    def test_wrong_json_type_400(self):
        self.assertAdminError(self.srv.admin("POST", "/communities", {"name": 5}), 400)
        self.assertAdminError(self.srv.admin("POST", "/communities", ["name"]), 400)

    def test_get_unknown_404(self):
        self.assertAdminError(self.srv.admin("GET", "/communities/" + str(uuid.uuid4())), 404)


class AccessKeyTests(ServerTestCase):

    def setUp(self):
        r = self.srv.admin("POST", "/communities", {"name": "Keys"})
        self.cid = self.assertJson(r, 201)["id"]

    def test_create_shows_secret_once(self):
        r = self.srv.admin("POST", "/communities/%s/access-keys" % self.cid, {"label": "crm"})
        k = self.assertJson(r, 201)
        for f in ("id", "communityId", "label", "accessKey", "secretKey", "createdAt"):
            self.assertIn(f, k, repr(r))
        self.assertUuid(k["id"])
        self.assertUuid(k["accessKey"], "accessKey")
        self.assertRegex(k["secretKey"], SECRET_KEY_RE)
        self.assertEqual(k["label"], "crm")
        self.assertEqual(k["communityId"], self.cid)
        self.assertTimestamp(k["createdAt"])

        r = self.srv.admin("GET", "/communities/%s/access-keys" % self.cid)
        lst = self.assertJson(r, 200)
        self.assertIsInstance(lst.get("accessKeys"), list, repr(r))
        self.assertNotIn(k["secretKey"], r.text, "the list must not reveal the secret")
        mine = [x for x in lst["accessKeys"] if x["id"] == k["id"]]
        self.assertEqual(len(mine), 1)
        item = mine[0]
        self.assertNotIn("secretKey", item)
        for f in ("id", "communityId", "label", "accessKey", "createdAt", "revokedAt", "isActive"):
            self.assertIn(f, item, repr(item))
        self.assertEqual(item["accessKey"], k["accessKey"])
        self.assertIsNone(item["revokedAt"])
        self.assertIs(item["isActive"], True)

        r = self.srv.admin("GET", "/access-keys/" + k["id"])
        g = self.assertJson(r, 200)
        self.assertNotIn(k["secretKey"], r.text)
        self.assertNotIn("secretKey", g)
        self.assertEqual(g["accessKey"], k["accessKey"])

    def test_revoke(self):
        k = self.srv.admin("POST", "/communities/%s/access-keys" % self.cid, {"label": "old"}).json
        r = self.srv.admin("DELETE", "/access-keys/" + k["id"])
        j = self.assertJson(r, 200)
        self.assertEqual(j["id"], k["id"])
        self.assertTimestamp(j.get("revokedAt"), "revokedAt")
        self.assertIs(j.get("isActive"), False)
        self.assertNotIn(k["secretKey"], r.text)
        g = self.srv.admin("GET", "/access-keys/" + k["id"]).json
        self.assertTimestamp(g.get("revokedAt"), "revokedAt")
        lst = self.srv.admin("GET", "/communities/%s/access-keys" % self.cid).json["accessKeys"]
        item = [x for x in lst if x["id"] == k["id"]][0]
        self.assertTimestamp(item["revokedAt"], "revokedAt")
        self.assertIs(item["isActive"], False)

    def test_revoke_unknown_404(self):
        self.assertAdminError(self.srv.admin("DELETE", "/access-keys/" + str(uuid.uuid4())), 404)

    def test_list_keys_unknown_community_404(self):
        self.assertAdminError(self.srv.admin("GET", "/communities/%s/access-keys" % uuid.uuid4()), 404)

    def test_key_for_unknown_community_404(self):
        r = self.srv.admin("POST", "/communities/%s/access-keys" % uuid.uuid4(), {"label": "x"})
        self.assertAdminError(r, 404)

    def test_secrets_differ(self):
        a = self.srv.admin("POST", "/communities/%s/access-keys" % self.cid, {"label": "a"}).json
        b = self.srv.admin("POST", "/communities/%s/access-keys" % self.cid, {"label": "b"}).json
        self.assertNotEqual(a["accessKey"], b["accessKey"])
        self.assertNotEqual(a["secretKey"], b["secretKey"])


class AirmeetSessionTests(ServerTestCase):

    def setUp(self):
        self.cid = self.srv.admin("POST", "/communities", {"name": "Events"}).json["id"]

    def test_airmeet_with_caller_id(self):
        aid = str(uuid.uuid4())
        r = self.srv.admin("POST", "/airmeets", {"communityId": self.cid, "name": "Launch",
                                                 "id": aid, "startTime": "2030-01-02T10:00:00Z",
                                                 "endTime": 1893578400})
        j = self.assertJson(r, 201)
        for f in ("id", "communityId", "name", "startTime", "endTime", "createdAt"):
            self.assertIn(f, j, repr(r))
        self.assertEqual(j["id"], aid)
        self.assertEqual(j["communityId"], self.cid)
        self.assertEqual(j["name"], "Launch")
        self.assertEqual(j["startTime"], "2030-01-02T10:00:00.000+00:00")
        self.assertEqual(j["endTime"], "2030-01-02T10:00:00.000+00:00")
        self.assertTimestamp(j["createdAt"])
        g = self.assertJson(self.srv.admin("GET", "/airmeets/" + aid), 200)
        self.assertEqual(g["id"], aid)
        self.assertEqual(g["communityId"], self.cid)

    def test_airmeet_server_id_and_null_times(self):
        r = self.srv.admin("POST", "/airmeets", {"communityId": self.cid, "name": "No times"})
        j = self.assertJson(r, 201)
        self.assertUuid(j["id"])
        self.assertIsNone(j["startTime"])
        self.assertIsNone(j["endTime"])

    def test_airmeet_unknown_community_404(self):
        r = self.srv.admin("POST", "/airmeets", {"communityId": str(uuid.uuid4()), "name": "X"})
        self.assertAdminError(r, 404)

    def test_airmeet_duplicate_id_409(self):
        aid = str(uuid.uuid4())
        self.assertJson(self.srv.admin("POST", "/airmeets", {"communityId": self.cid, "name": "A", "id": aid}), 201)
        r = self.srv.admin("POST", "/airmeets", {"communityId": self.cid, "name": "B", "id": aid})
        self.assertAdminError(r, 409)

    def test_airmeet_non_uuid_id_400(self):
        r = self.srv.admin("POST", "/airmeets", {"communityId": self.cid, "name": "A", "id": "nope"})
        self.assertAdminError(r, 400)

    def test_session_with_caller_id(self):
        aid = self.srv.admin("POST", "/airmeets", {"communityId": self.cid, "name": "A"}).json["id"]
        sid = str(uuid.uuid4())
        r = self.srv.admin("POST", "/airmeets/%s/sessions" % aid, {"name": "Keynote", "id": sid})
        j = self.assertJson(r, 201)
        for f in ("id", "airmeetId", "communityId", "name", "createdAt"):
            self.assertIn(f, j, repr(r))
        self.assertEqual(j["id"], sid)
        self.assertEqual(j["airmeetId"], aid)
        self.assertEqual(j["communityId"], self.cid)
        self.assertEqual(j["name"], "Keynote")
        g = self.assertJson(self.srv.admin("GET", "/sessions/" + sid), 200)
        self.assertEqual(g["airmeetId"], aid)

    def test_session_unknown_airmeet_404(self):
        r = self.srv.admin("POST", "/airmeets/%s/sessions" % uuid.uuid4(), {"name": "S"})
        self.assertAdminError(r, 404)

    def test_get_unknown_airmeet_and_session_404(self):
        self.assertAdminError(self.srv.admin("GET", "/airmeets/" + str(uuid.uuid4())), 404)
        self.assertAdminError(self.srv.admin("GET", "/sessions/" + str(uuid.uuid4())), 404)


class AdminWebhookTests(ServerTestCase):

    def test_get_webhook_after_register(self):
        t = self.srv.make_tenant()
        p = t.register("trigger.session.attendee.joined", airmeet_id=t.airmeet_id,
                       session_id=t.session_id).json["payload"]
        r = self.srv.admin("GET", "/webhooks/" + p["id"])
        w = self.assertJson(r, 200)
        self.assertEqual(w["id"], p["id"])
        self.assertIs(w["isActive"], True)
        self.assertEqual(w.get("communityId"), t.community_id)
        self.assertEqual(w.get("airmeetId"), t.airmeet_id)
        self.assertEqual(w.get("sessionId"), t.session_id)
        self.assertEqual(w.get("triggerMetaInfoId"), "trigger.session.attendee.joined")
        self.assertEqual(w.get("url"), p["url"])
        self.assertIn("disabledReason", w)
        self.assertIsNone(w["disabledReason"])
        self.assertIn("deregisteredAt", w)
        self.assertIsNone(w["deregisteredAt"])

    def test_get_unknown_webhook_404(self):
        self.assertAdminError(self.srv.admin("GET", "/webhooks/" + str(uuid.uuid4())), 404)

    def test_disable_enable(self):
        t = self.srv.make_tenant()
        wid = t.register().json["payload"]["id"]
        r = self.srv.admin("POST", "/webhooks/%s/disable" % wid)
        self.assertIs(self.assertJson(r, 200)["isActive"], False)
        self.assertIs(self.srv.admin("GET", "/webhooks/" + wid).json["isActive"], False)
        r = self.srv.admin("POST", "/webhooks/%s/enable" % wid)
        self.assertIs(self.assertJson(r, 200)["isActive"], True)


if __name__ == "__main__":
    unittest.main()
