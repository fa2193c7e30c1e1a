# SPDX-License-Identifier: MIT
"""The console's data (issue 13): the per-minute series of attempts, the
overview page, and the integrators' portal routes under
{base}/airhook/v1, each of them held to the token's community."""

import time
import uuid

from deliverykit import LOOPBACK, DeliveryTestCase
from harness import ServerTestCase, Tenant, backend

SERIES_ARRAYS = ("timestamps", "attemptsPerSecond", "successRate", "latencyP50Ms",
                 "latencyP99Ms", "backlog")


def total(series, outcome):
    return sum(series["attempts"][outcome])


class SeriesTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()
        self.name = uuid.uuid4().hex

    def series(self, **params):
        q = "&".join("%s=%s" % kv for kv in params.items())
        return self.srv.admin("GET", "/stats/series" + ("?" + q if q else ""))

    def wait_series(self, pred, **params):
        deadline = time.time() + 10
        while True:
            j = self.assertJson(self.series(**params), 200)
            if pred(j) or time.time() > deadline:
                return j
            time.sleep(0.1)

    def test_shape_minutes_and_units(self):
        j = self.assertJson(self.series(minutes=5), 200)
        self.assertEqual(j["minutes"], 5)
        self.assertEqual(j["stepSeconds"], 60)
        self.assertEqual(j["scope"], "node")
        self.assertIsNone(j["webhookId"])
        for name in SERIES_ARRAYS:
            self.assertEqual(len(j[name]), 5, name)
        for outcome in ("succeeded", "retry", "failed"):
            self.assertEqual(len(j["attempts"][outcome]), 5)
        ts = j["timestamps"]
        self.assertEqual([b - a for a, b in zip(ts, ts[1:])], [60] * 4)
        self.assertLessEqual(abs(ts[-1] - (int(time.time()) // 60) * 60), 60)
        for name in SERIES_ARRAYS[1:]:
            self.assertIn(name, j["units"])
        # The backlog of the current minute is sampled when asked.
        self.assertIsInstance(j["backlog"][-1], int)
        # The default is an hour; a day is the most.
        self.assertEqual(self.assertJson(self.series(), 200)["minutes"], 60)
        self.assertEqual(len(self.assertJson(self.series(minutes=1440), 200)["timestamps"]), 1440)

    def test_counts_attempts_of_one_webhook(self):
        h = self.hook(self.t)
        events = [self.publish(self.t)["eventId"] for _ in range(3)]
        for e in events:
            self.wait_status(self.one_delivery_of(e)["id"], "succeeded")
        j = self.wait_series(lambda j: total(j, "succeeded") >= 3, minutes=10, webhookId=h["id"])
        self.assertEqual(j["webhookId"], h["id"])
        self.assertTrue(j["tracked"])
        self.assertEqual(total(j, "succeeded"), 3)
        self.assertEqual(total(j, "failed") + total(j, "retry"), 0)
        busy = [i for i, n in enumerate(j["attempts"]["succeeded"]) if n]
        for i in busy:
            self.assertEqual(j["successRate"][i], 1)
            self.assertGreaterEqual(j["latencyP99Ms"][i], j["latencyP50Ms"][i])
            self.assertGreater(j["attemptsPerSecond"][i], 0)
        self.assertEqual(set(j["backlog"]), {None}, "one webhook has no backlog")
        node = self.assertJson(self.series(minutes=10), 200)
        self.assertGreaterEqual(total(node, "succeeded"), 3)

    def test_failures_count_as_retry_then_failed(self):
        h = self.hook(self.t, path="/switch/" + self.name)
        self.rcv.set_switch(self.name, 500)
        e = self.publish(self.t)["eventId"]
        self.wait_status(self.one_delivery_of(e)["id"], "failed")
        j = self.wait_series(lambda j: total(j, "failed") >= 1, minutes=5, webhookId=h["id"])
        self.assertEqual(total(j, "retry"), 2)  # the schedule has three attempts
        self.assertEqual(total(j, "failed"), 1)
        self.assertEqual(total(j, "succeeded"), 0)
        rates = [r for r in j["successRate"] if r is not None]
        self.assertTrue(rates and all(r == 0 for r in rates), repr(j["successRate"]))

    def test_bad_parameters(self):
        for bad in ("0", "1441", "x", "-5"):
            j = self.assertAdminError(self.series(minutes=bad), 400)
            self.assertIn("minutes", j["message"])
        self.assertAdminError(self.series(webhookId=str(uuid.uuid4())), 404)
        r = self.srv.request("GET", "/admin/v1/stats/series")
        self.assertAdminError(r, 401)

    def test_webhook_without_attempts_is_not_tracked(self):
        h = self.hook(self.t)
        j = self.assertJson(self.series(webhookId=h["id"]), 200)
        self.assertFalse(j["tracked"])
        self.assertEqual(total(j, "succeeded"), 0)


class OverviewTests(DeliveryTestCase):
    """A second step of an hour keeps a failed-once delivery in the backlog."""

    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,1h", "--delivery-timeout", "2s")

    def test_overview_counts_and_health(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/status/503")
        e = self.publish(t)
        self.assertEqual(e["deliveries"], 1)
        self.wait_received(1, event_id=e["eventId"])
        r = self.srv.admin("POST", "/webhooks/%s/disable" % h["id"], {"reason": "maintenance"})
        self.assertJson(r, 200)
        j = self.assertJson(self.srv.admin("GET", "/overview"), 200)
        self.assertEqual(j["store"]["name"], backend())
        self.assertTrue(j["store"]["ok"])
        self.assertIsNone(j["store"]["error"])
        self.assertGreaterEqual(j["store"]["pingMs"], 0)
        self.assertGreaterEqual(j["backlog"]["pending"], 1)
        self.assertIsNotNone(j["backlog"]["oldestPendingAt"])
        self.assertGreaterEqual(j["backlog"]["oldestPendingAgeSeconds"], 0)
        self.assertGreaterEqual(j["communities"], 1)
        self.assertGreaterEqual(j["webhooks"]["disabled"], 1)
        recent = j["webhooks"]["recentlyDisabled"]
        self.assertLessEqual(len(recent), 5)
        self.assertEqual(recent[0]["id"], h["id"], "the last disabled comes first")
        self.assertTrue(recent[0]["disabledReason"])
        self.assertGreaterEqual(j["lastHour"]["events"], 1)
        self.assertGreaterEqual(j["lastHour"]["deliveries"], 1)
        for k in ("succeeded", "retry", "failed"):
            self.assertIsInstance(j["lastHour"]["attempts"][k], int)
        self.assertIn(j["node"]["role"], ("all", "api", "worker"))
        self.assertGreaterEqual(j["node"]["uptimeSeconds"], 0)
        self.assertTrue(j["node"]["version"])
        # Counts move with what happens: one more active webhook.
        before = j["webhooks"]["active"]
        self.hook(t)
        j = self.assertJson(self.srv.admin("GET", "/overview"), 200)
        self.assertEqual(j["webhooks"]["active"], before + 1)

    def test_overview_needs_admin_token(self):
        self.assertAdminError(self.srv.request("GET", "/admin/v1/overview"), 401)


class PortalTests(DeliveryTestCase):
    """Every route with the right community, and with another's ids."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = Tenant.create(cls.srv)
        cls.b = Tenant.create(cls.srv)
        cls.token_a = cls.a.auth()
        cls.token_b = cls.b.auth()

    def call(self, method, path, token, query=None):
        return self.srv.public(method, "/airhook/v1" + path, query=query,
                               headers={"X-Airmeet-Access-Token": token})

    def delivered(self, tenant, path="/ok"):
        """A webhook of tenant with one attempted delivery: (hook, delivery)."""
        h = self.hook(tenant, path=path)
        e = self.publish(tenant)["eventId"]
        d = self.one_delivery_of(e, h["id"])
        d = self.wait_delivery(d["id"], lambda d: d["attemptCount"] >= 1 and d["status"] != "pending")
        return h, d

    def test_webhooks_lists_only_own_with_status(self):
        ha, da = self.delivered(self.a)
        hb, _ = self.delivered(self.b)
        seen, cursor = [], None
        for _ in range(100):
            r = self.call("GET", "/webhooks", self.token_a,
                          query={"limit": "1", **({"cursor": cursor} if cursor else {})})
            j = self.assertJson(r, 200)
            self.assertLessEqual(len(j["webhooks"]), 1)
            seen += j["webhooks"]
            cursor = j["nextCursor"]
            if not cursor:
                break
        ids = [w["id"] for w in seen]
        self.assertIn(ha["id"], ids)
        self.assertNotIn(hb["id"], ids)
        self.assertEqual({w["communityId"] for w in seen}, {self.a.community_id})
        mine = next(w for w in seen if w["id"] == ha["id"])
        self.assertEqual(mine["status"], "active")
        self.assertIsNone(mine["disabledReason"])
        self.assertIsNotNone(mine["lastAttemptAt"])
        self.assertEqual(mine["lastStatusCode"], 200)
        self.assertIsNone(mine["lastError"])
        self.assertEqual(mine["successRate24h"], 1)
        self.assertGreaterEqual(mine["attempts24h"], 1)
        self.assertNotIn("secret", mine)
        # A disabled one says so, and why.
        self.srv.admin("POST", "/webhooks/%s/disable" % ha["id"], {"reason": "paused"})
        j = self.assertJson(self.call("GET", "/webhooks", self.token_a,
                                      query={"status": "disabled"}), 200)
        w = next(w for w in j["webhooks"] if w["id"] == ha["id"])
        self.assertEqual((w["status"], w["disabledReason"]), ("disabled", "disabled by operator"))
        self.srv.admin("POST", "/webhooks/%s/enable" % ha["id"])
        self.assertPublicError(self.call("GET", "/webhooks", self.token_a,
                                         query={"status": "nope"}), 400)
        self.assertPublicError(self.call("GET", "/webhooks", self.token_a,
                                         query={"cursor": "nope"}), 400)

    def test_series_of_own_webhook_only(self):
        ha, _ = self.delivered(self.a)
        hb, _ = self.delivered(self.b)
        j = self.assertJson(self.call("GET", "/webhooks/%s/stats/series" % ha["id"], self.token_a,
                                      query={"minutes": "5"}), 200)
        self.assertEqual(j["webhookId"], ha["id"])
        self.assertEqual(len(j["timestamps"]), 5)
        for bad in (hb["id"], str(uuid.uuid4()), "not-a-uuid"):
            self.assertPublicError(self.call("GET", "/webhooks/%s/stats/series" % bad,
                                             self.token_a), 404)
        self.assertPublicError(self.call("GET", "/webhooks/%s/stats/series" % ha["id"],
                                         self.token_a, query={"minutes": "0"}), 400)

    def test_deliveries_of_own_webhook_only(self):
        ha, da = self.delivered(self.a)
        hb, _ = self.delivered(self.b)
        j = self.assertJson(self.call("GET", "/deliveries", self.token_a,
                                      query={"webhookId": ha["id"]}), 200)
        self.assertEqual([d["id"] for d in j["deliveries"]], [da["id"]])
        self.assertIsNone(j["nextCursor"])
        j = self.assertJson(self.call("GET", "/deliveries", self.token_a,
                                      query={"webhookId": ha["id"], "status": "failed"}), 200)
        self.assertEqual(j["deliveries"], [])
        for bad in (hb["id"], str(uuid.uuid4()), "zzz"):
            self.assertPublicError(self.call("GET", "/deliveries", self.token_a,
                                             query={"webhookId": bad}), 404)
        # Without webhookId: every delivery of the community's, newest first, paged.
        seen, cursor = [], None
        for _ in range(200):
            q = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            j = self.assertJson(self.call("GET", "/deliveries", self.token_a, query=q), 200)
            self.assertLessEqual(len(j["deliveries"]), 2)
            seen += j["deliveries"]
            cursor = j["nextCursor"]
            if not cursor:
                break
        ids = [d["id"] for d in seen]
        self.assertIn(da["id"], ids)
        self.assertEqual(len(ids), len(set(ids)), "no delivery twice across pages")
        keys = [(d["createdAt"], d["id"]) for d in seen]
        self.assertEqual(keys, sorted(keys, reverse=True), "newest first")
        mine = {w["id"] for w in self.assertJson(
            self.call("GET", "/webhooks", self.token_a, query={"limit": "500"}), 200)["webhooks"]}
        self.assertTrue({d["webhookId"] for d in seen} <= mine, "only the community's")
        j = self.assertJson(self.call("GET", "/deliveries", self.token_b), 200)
        self.assertNotIn(da["id"], [d["id"] for d in j["deliveries"]])
        self.assertPublicError(self.call("GET", "/deliveries", self.token_a,
                                         query={"webhookId": ha["id"], "status": "x"}), 400)

    def test_retry_own_delivery_only(self):
        name = uuid.uuid4().hex
        self.rcv.set_switch(name, 500)
        ha, da = self.delivered(self.a, path="/switch/" + name)
        da = self.wait_status(da["id"], "failed")
        _, db = self.delivered(self.b)
        r = self.call("POST", "/deliveries/%s/retry" % db["id"], self.token_a)
        self.assertPublicError(r, 404)
        self.assertPublicError(self.call("POST", "/deliveries/%s/retry" % uuid.uuid4(),
                                         self.token_a), 404)
        time.sleep(0.3)
        self.assertEqual(self.delivery(db["id"])["attemptCount"], db["attemptCount"],
                         "another community's delivery was not sent again")
        self.rcv.set_switch(name, 200)
        j = self.assertJson(self.call("POST", "/deliveries/%s/retry" % da["id"], self.token_a), 202)
        self.assertEqual(j["id"], da["id"])
        d = self.wait_status(da["id"], "succeeded")
        self.assertEqual(d["attemptCount"], da["attemptCount"] + 1)

    def test_rotate_own_secret_only(self):
        ha, _ = self.delivered(self.a)
        hb, _ = self.delivered(self.b)
        before_b = self.webhook_view(hb["id"])["updatedAt"]
        self.assertPublicError(self.call("POST", "/webhooks/%s/rotate-secret" % hb["id"],
                                         self.token_a), 404)
        self.assertEqual(self.webhook_view(hb["id"])["updatedAt"], before_b)
        j = self.assertJson(self.call("POST", "/webhooks/%s/rotate-secret" % ha["id"],
                                      self.token_a), 200)
        self.assertEqual(j["id"], ha["id"])
        self.assertTrue(j["secret"].startswith("whsec_"))
        self.assertNotEqual(j["secret"], ha["secret"])
        self.assertIsNotNone(j["previousSecretValidUntil"])
        # The next delivery is signed by both, the old one overlapping.
        e = self.publish(self.a)["eventId"]
        rec = self.wait_received(1, event_id=e, webhook=ha["id"])[-1]
        self.assertSignedBy(rec, j["secret"], n_signatures=2)
        self.assertSignedBy(rec, ha["secret"], n_signatures=2)


class PortalTokenTests(ServerTestCase):
    """Without a token, or with an unknown one: 400 (as webhook-list).  A class of
    its own: the refusals count against the address."""

    SERVER_ARGS = ("--auth-fail-limit", "100")

    def test_token_required(self):
        for method, path in (("GET", "/webhooks"), ("GET", "/deliveries"),
                             ("GET", "/deliveries?webhookId=%s" % uuid.uuid4()),
                             ("GET", "/webhooks/%s/stats/series" % uuid.uuid4()),
                             ("POST", "/deliveries/%s/retry" % uuid.uuid4()),
                             ("POST", "/webhooks/%s/rotate-secret" % uuid.uuid4())):
            r = self.srv.public(method, "/airhook/v1" + path)
            self.assertPublicError(r, 400)
            r = self.srv.public(method, "/airhook/v1" + path,
                               headers={"X-Airmeet-Access-Token": "aht_" + "0" * 64})
            self.assertPublicError(r, 400)


class AttemptHeadersTests(DeliveryTestCase):
    """The delivery timeline shows what was sent and what came back."""

    def test_request_and_response_headers(self):
        t = self.srv.make_tenant()
        h = self.hook(t)
        e = self.publish(t)["eventId"]
        rec = self.wait_received(1, event_id=e)[0]
        d = self.wait_status(self.one_delivery_of(e)["id"], "succeeded")
        a = d["attempts"][0]
        sent = a["requestHeaders"]
        for name in ("webhook-id", "x-airmeet-trigger", "x-airmeet-webhook-id",
                     "x-airmeet-attempt", "content-type"):
            self.assertEqual(sent[name], rec.headers.get(name), name)
        self.assertEqual(sent["webhook-signature"], "v1,(redacted)")
        self.assertNotIn(rec.headers["webhook-signature"].split(",", 1)[1], repr(d))
        self.assertLessEqual(abs(int(sent["webhook-timestamp"]) -
                                 int(rec.headers["webhook-timestamp"])), 1)
        got = a["responseHeaders"]
        self.assertTrue(got.startswith("HTTP/1.1 200"), repr(got))
        self.assertIn("\r\n", got)
        self.assertIn("content-length:", got.lower())
        self.assertLessEqual(len(got.encode()), 2048)
        self.assertEqual(h["id"], sent["x-airmeet-webhook-id"])

    def test_no_answer_no_response_headers(self):
        t = self.srv.make_tenant()
        from deliverykit import free_port
        h = t.register("trigger.airmeet.created",
                       url="http://127.0.0.1:%d/x?t=%s" % (free_port(), uuid.uuid4().hex)).json["payload"]
        e = self.publish(t)["eventId"]
        d = self.wait_delivery(self.one_delivery_of(e, h["id"])["id"],
                               lambda d: d["attemptCount"] >= 1)
        self.assertIsNone(d["attempts"][0]["responseHeaders"])
        self.assertIsNone(d["attempts"][0]["statusCode"])
