# SPDX-License-Identifier: MIT
"""The operator's lists (issue 13): pages of communities and webhooks with
their filters, and deleting a community's webhook."""

import time
import urllib.parse
import uuid

from harness import ServerTestCase, Tenant, hook_url


def q(path, **params):
    return path + "?" + urllib.parse.urlencode(params) if params else path


class CommunityPageTests(ServerTestCase):

    def walk(self, limit):
        """Every community through pages of limit; asserts each page's size."""
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            r = self.srv.admin("GET", q("/communities", **params))
            j = self.assertJson(r, 200)
            self.assertLessEqual(len(j["communities"]), limit)
            seen += [c["id"] for c in j["communities"]]
            cursor, pages = j["nextCursor"], pages + 1
            if cursor is None:
                return seen, pages
            self.assertLess(pages, 1000)

    def test_pages_cover_every_community_once_in_order(self):
        made = [self.srv.admin("POST", "/communities", {"name": "Paged %d" % i}).json
                for i in range(5)]
        # Oldest first; two made in the same millisecond come in id order.
        mine = [c["id"] for c in sorted(made, key=lambda c: (c["createdAt"], c["id"]))]
        everything = self.srv.admin("GET", "/communities").json
        self.assertIsNone(everything["nextCursor"])
        all_ids = [c["id"] for c in everything["communities"]]
        seen, pages = self.walk(2)
        self.assertEqual(seen, all_ids)
        self.assertGreaterEqual(pages, 3)
        self.assertEqual([i for i in seen if i in mine], mine)

    def test_last_page_has_null_cursor(self):
        j = self.assertJson(self.srv.admin("GET", q("/communities", limit=500)), 200)
        self.assertIsNone(j["nextCursor"])

    def test_bad_limit_and_cursor_400(self):
        for bad in ("0", "501", "x", "-1"):
            r = self.srv.admin("GET", q("/communities", limit=bad))
            j = self.assertAdminError(r, 400)
            self.assertIn("limit", j["message"])
        j = self.assertAdminError(self.srv.admin("GET", q("/communities", cursor="nope")), 400)
        self.assertIn("cursor", j["message"])


class WebhookListTests(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = Tenant.create(cls.srv)
        cls.b = Tenant.create(cls.srv)
        tag = uuid.uuid4().hex[:10]
        cls.tag = tag
        cls.a1 = cls.a.register("trigger.airmeet.created", url=hook_url("/a1-" + tag)).json["payload"]["id"]
        cls.a2 = cls.a.register("trigger.airmeet.finished", url=hook_url("/a2-" + tag)).json["payload"]["id"]
        cls.a3 = cls.a.register("trigger.airmeet.created", url=hook_url("/a3-" + tag)).json["payload"]["id"]
        cls.b1 = cls.b.register("trigger.airmeet.created", url=hook_url("/b1-" + tag)).json["payload"]["id"]
        r = cls.srv.admin("POST", "/webhooks/%s/disable" % cls.a2, {"reason": "maintenance"})
        assert r.status == 200, r
        r = cls.srv.admin("DELETE", "/webhooks/%s" % cls.a3)
        assert r.status == 200, r

    def ids(self, **params):
        r = self.srv.admin("GET", q("/webhooks", **params))
        j = self.assertJson(r, 200)
        self.assertIn("nextCursor", j)
        return [w["id"] for w in j["webhooks"]]

    def test_by_community_every_state_oldest_first(self):
        self.assertEqual(self.ids(communityId=self.a.community_id), [self.a1, self.a2, self.a3])
        self.assertEqual(self.ids(communityId=self.b.community_id.upper()), [self.b1])

    def test_by_status(self):
        c = self.a.community_id
        self.assertEqual(self.ids(communityId=c, status="active"), [self.a1])
        self.assertEqual(self.ids(communityId=c, status="disabled"), [self.a2])
        self.assertEqual(self.ids(communityId=c, status="deregistered"), [self.a3])

    def test_by_trigger_and_url_across_communities(self):
        got = self.ids(triggerMetaInfoId="trigger.airmeet.created", url=self.tag, limit=500)
        self.assertEqual(got, [self.a1, self.a3, self.b1])
        self.assertEqual(self.ids(url="/b1-" + self.tag), [self.b1])
        self.assertEqual(self.ids(url="%" + self.tag), [])  # literal text, no wildcards

    def test_pages_with_filters(self):
        r = self.srv.admin("GET", q("/webhooks", communityId=self.a.community_id, limit=2))
        j = self.assertJson(r, 200)
        self.assertEqual([w["id"] for w in j["webhooks"]], [self.a1, self.a2])
        self.assertIsInstance(j["nextCursor"], str)
        r = self.srv.admin("GET", q("/webhooks", communityId=self.a.community_id, limit=2,
                                    cursor=j["nextCursor"]))
        j = self.assertJson(r, 200)
        self.assertEqual([w["id"] for w in j["webhooks"]], [self.a3])
        self.assertIsNone(j["nextCursor"])

    def test_admin_view_without_secret(self):
        r = self.srv.admin("GET", q("/webhooks", communityId=self.a.community_id))
        w = self.assertJson(r, 200)["webhooks"][1]
        self.assertEqual(w["communityId"], self.a.community_id)
        self.assertFalse(w["isActive"])
        self.assertNotIn("secret", w)

    def test_bad_filters(self):
        j = self.assertAdminError(self.srv.admin("GET", q("/webhooks", status="gone")), 400)
        self.assertIn("status", j["message"])
        j = self.assertAdminError(self.srv.admin("GET", q("/webhooks", communityId="xyz")), 400)
        self.assertIn("communityId", j["message"])
        r = self.srv.admin("GET", q("/webhooks", communityId=str(uuid.uuid4())))
        self.assertAdminError(r, 404)
        self.assertAdminError(self.srv.admin("GET", q("/webhooks", cursor="1_2")), 400)
        self.assertAdminError(self.srv.admin("GET", q("/webhooks", limit="501")), 400)

    def test_needs_admin_token(self):
        r = self.srv.request("GET", "/admin/v1/webhooks")
        self.assertAdminError(r, 401)


class WebhookDeleteTests(ServerTestCase):

    def test_delete_deregisters_and_repeats_harmlessly(self):
        t = Tenant.create(self.srv)
        wid = t.register().json["payload"]["id"]
        r = self.srv.admin("DELETE", "/webhooks/%s" % wid)
        j = self.assertJson(r, 200)
        self.assertEqual(j["id"], wid)
        self.assertFalse(j["isActive"])
        self.assertIsNotNone(j["deregisteredAt"])
        again = self.assertJson(self.srv.admin("DELETE", "/webhooks/%s" % wid), 200)
        self.assertEqual(again["deregisteredAt"], j["deregisteredAt"])
        # The integrator's list no longer shows it.
        token = t.auth()
        r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                            headers={"Authorization": "Bearer " + token})
        self.assertNotIn(wid, r.text)

    def test_delete_unknown_404(self):
        self.assertAdminError(self.srv.admin("DELETE", "/webhooks/%s" % uuid.uuid4()), 404)
        self.assertAdminError(self.srv.admin("DELETE", "/webhooks/not-a-uuid"), 404)


class EventListTests(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = Tenant.create(cls.srv)
        cls.b = Tenant.create(cls.srv)
        cls.ids = []
        for tenant, trigger in ((cls.a, "trigger.airmeet.created"),
                                (cls.a, "trigger.airmeet.finished"),
                                (cls.a, "trigger.airmeet.created"),
                                (cls.b, "trigger.airmeet.created")):
            body = {"communityId": tenant.community_id, "triggerMetaInfoId": trigger,
                    "data": {"n": len(cls.ids)}}
            if len(cls.ids) == 2:
                body["idempotencyKey"] = "key-" + uuid.uuid4().hex[:8]
            r = cls.srv.admin("POST", "/events", body)
            assert r.status == 202, r
            cls.ids.append(r.json["eventId"])
            time.sleep(0.005)  # distinct creation times, for the time filters

    def page(self, **params):
        j = self.assertJson(self.srv.admin("GET", q("/events", **params)), 200)
        return j

    def test_by_community_newest_first_without_data(self):
        j = self.page(communityId=self.a.community_id)
        self.assertEqual([e["id"] for e in j["events"]], self.ids[2::-1])
        self.assertIsNone(j["nextCursor"])
        e = j["events"][0]
        self.assertNotIn("data", e)
        self.assertEqual(e["communityId"], self.a.community_id)
        self.assertEqual(e["triggerMetaInfoId"], "trigger.airmeet.created")
        self.assertIsInstance(e["idempotencyKey"], str)
        self.assertIsNone(j["events"][1]["idempotencyKey"])

    def test_by_trigger_and_pages(self):
        c = self.a.community_id
        j = self.page(communityId=c, triggerMetaInfoId="trigger.airmeet.created", limit=1)
        self.assertEqual([e["id"] for e in j["events"]], [self.ids[2]])
        j = self.page(communityId=c, triggerMetaInfoId="trigger.airmeet.created", limit=1,
                      cursor=j["nextCursor"])
        self.assertEqual([e["id"] for e in j["events"]], [self.ids[0]])
        self.assertIsNone(j["nextCursor"])

    def test_by_time(self):
        c = self.a.community_id
        every = self.page(communityId=c)["events"]
        middle = every[1]["createdAt"]  # the second event's time, RFC 3339
        got = self.page(communityId=c, since=middle)["events"]
        self.assertEqual([e["id"] for e in got], [self.ids[2], self.ids[1]])
        got = self.page(communityId=c, until=middle)["events"]
        self.assertEqual([e["id"] for e in got], [self.ids[0]])
        got = self.page(communityId=c, since="0", until=str(2 ** 31))["events"]
        self.assertEqual(len(got), 3)

    def test_across_communities(self):
        got = [e["id"] for e in self.page(limit=500)["events"]]
        self.assertEqual([i for i in got if i in self.ids], self.ids[::-1])

    def test_bad_queries(self):
        for params in ({"since": "yesterday"}, {"until": "x"}, {"communityId": "nope"},
                       {"limit": "0"}, {"cursor": "zz"}):
            self.assertAdminError(self.srv.admin("GET", q("/events", **params)), 400)
        self.assertAdminError(self.srv.admin("GET", q("/events", communityId=str(uuid.uuid4()))), 404)


class DeliveryListTests(ServerTestCase):
    """Deliveries to a receiver that is not there: they stay pending or
    fail, which is all a list needs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = Tenant.create(cls.srv)
        cls.w1 = cls.t.register(url=hook_url("w1")).json["payload"]["id"]
        cls.w2 = cls.t.register(url=hook_url("w2")).json["payload"]["id"]
        cls.events = []
        for i in range(3):
            r = cls.srv.admin("POST", "/events", {"communityId": cls.t.community_id,
                                                  "triggerMetaInfoId": "trigger.airmeet.created",
                                                  "data": {"n": i}})
            assert r.status == 202 and r.json["deliveries"] == 2, r
            cls.events.append(r.json["eventId"])
            time.sleep(0.005)

    def page(self, want=200, **params):
        r = self.srv.admin("GET", q("/deliveries", **params))
        if want != 200:
            return self.assertAdminError(r, want)
        return self.assertJson(r, 200)

    def test_by_webhook_newest_first(self):
        j = self.page(webhookId=self.w1)
        self.assertEqual([d["eventId"] for d in j["deliveries"]], self.events[::-1])
        self.assertTrue(all(d["webhookId"] == self.w1 for d in j["deliveries"]))
        self.assertIsNone(j["nextCursor"])

    def test_by_event_and_both(self):
        j = self.page(eventId=self.events[1])
        self.assertEqual(sorted(d["webhookId"] for d in j["deliveries"]), sorted([self.w1, self.w2]))
        j = self.page(eventId=self.events[1], webhookId=self.w2.upper())
        self.assertEqual([(d["eventId"], d["webhookId"]) for d in j["deliveries"]],
                         [(self.events[1], self.w2)])

    def test_by_time_and_pages(self):
        every = self.page(webhookId=self.w2)["deliveries"]
        middle = every[1]["createdAt"]
        got = self.page(webhookId=self.w2, since=middle)["deliveries"]
        self.assertEqual([d["eventId"] for d in got], [self.events[2], self.events[1]])
        got = self.page(webhookId=self.w2, until=middle)["deliveries"]
        self.assertEqual([d["eventId"] for d in got], [self.events[0]])
        j = self.page(webhookId=self.w2, limit=2)
        self.assertEqual(len(j["deliveries"]), 2)
        j = self.page(webhookId=self.w2, limit=2, cursor=j["nextCursor"])
        self.assertEqual([d["eventId"] for d in j["deliveries"]], [self.events[0]])
        self.assertIsNone(j["nextCursor"])
        # The older lists take the time filters too.
        r = self.srv.admin("GET", q("/webhooks/%s/deliveries" % self.w2, until=middle))
        self.assertEqual([d["eventId"] for d in self.assertJson(r, 200)["deliveries"]],
                         [self.events[0]])

    def test_by_status(self):
        j = self.page(webhookId=self.w1, status="succeeded")
        self.assertEqual(j["deliveries"], [])

    def test_refusals(self):
        j = self.page(400)
        self.assertIn("webhookId or eventId", j["message"])
        self.page(400, webhookId="nope")
        self.page(400, webhookId=self.w1, status="lost")
        self.page(400, webhookId=self.w1, since="soon")
        self.page(400, webhookId=self.w1, cursor="1_x")
        self.page(404, webhookId=str(uuid.uuid4()))
        self.page(404, eventId=str(uuid.uuid4()))


class ChildPageTests(ServerTestCase):
    """A community's key pairs and airmeets, an airmeet's sessions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = Tenant.create(cls.srv)  # one key, one airmeet with one session
        cls.keys = [cls.t.key_id] + [cls.t.new_key()["id"] for _ in range(2)]
        cls.airmeets = [cls.t.airmeet_id] + [cls.t.new_airmeet() for _ in range(2)]
        cls.sessions = [cls.t.session_id] + [cls.t.new_session(cls.t.airmeet_id)
                                             for _ in range(2)]

    def walk(self, path, name, limit):
        seen, cursor = [], None
        for _ in range(100):
            params = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            j = self.assertJson(self.srv.admin("GET", q(path, **params)), 200)
            self.assertLessEqual(len(j[name]), limit)
            seen += [x["id"] for x in j[name]]
            cursor = j["nextCursor"]
            if cursor is None:
                return seen
        self.fail("no last page")

    def test_keys_paged_and_whole(self):
        path = "/communities/%s/access-keys" % self.t.community_id
        self.assertEqual(self.walk(path, "accessKeys", 2), self.keys)
        j = self.assertJson(self.srv.admin("GET", path), 200)
        self.assertEqual([k["id"] for k in j["accessKeys"]], self.keys)
        self.assertIsNone(j["nextCursor"])
        self.assertNotIn("secretKey", j["accessKeys"][0])

    def test_airmeets(self):
        path = "/communities/%s/airmeets" % self.t.community_id
        self.assertEqual(self.walk(path, "airmeets", 2), self.airmeets)
        j = self.assertJson(self.srv.admin("GET", path), 200)
        self.assertEqual(j["airmeets"][0]["communityId"], self.t.community_id)

    def test_sessions(self):
        path = "/airmeets/%s/sessions" % self.t.airmeet_id
        self.assertEqual(self.walk(path, "sessions", 1), self.sessions)
        other = "/airmeets/%s/sessions" % self.airmeets[1]
        self.assertEqual(self.assertJson(self.srv.admin("GET", other), 200)["sessions"], [])

    def test_unknown_parents_and_bad_pages(self):
        nobody = str(uuid.uuid4())
        for path in ("/communities/%s/airmeets", "/communities/%s/access-keys",
                     "/airmeets/%s/sessions"):
            self.assertAdminError(self.srv.admin("GET", path % nobody), 404)
        path = "/communities/%s/airmeets" % self.t.community_id
        self.assertAdminError(self.srv.admin("GET", q(path, limit=0)), 400)
        self.assertAdminError(self.srv.admin("GET", q(path, cursor="abc")), 400)
