# SPDX-License-Identifier: MIT
"""Per-webhook rate limit (--webhook-rate) and what a revoked access key does
(nothing to delivery: SPEC §6 and docs/delivery.md)."""

from deliverykit import DeliveryTestCase, DELIVERY_ARGS


class RateLimitTests(DeliveryTestCase):
    # 4 attempts per second per webhook; the bucket holds 4.
    SERVER_ARGS = tuple(DELIVERY_ARGS) + ("--webhook-rate", "4")

    def test_rate_spreads_attempts(self):
        t = self.srv.make_tenant()
        h = self.hook(t)
        for i in range(12):
            self.publish(t, data={"i": i})
        cpu0 = self.srv.cpu_seconds()
        self.wait_received(12, webhook=h["id"], timeout=15.0)
        cpu = self.srv.cpu_seconds() - cpu0
        times = sorted(r.time for r in self.rcv.requests(webhook=h["id"]))
        # 4 at once from the full bucket, then 8 more at 4/s: at least ~2 s,
        # and not much more (a dispatcher spinning on the wait is slower).
        spread = times[-1] - times[0]
        self.assertGreaterEqual(spread, 1.7, "12 attempts at 4/s arrived within %.2f s" % spread)
        self.assertLess(spread, 6.0, "12 attempts at 4/s took %.2f s" % spread)
        # Waiting for tokens must not burn a core.
        self.assertLess(cpu, 0.6 * spread, "the server used %.2f s of CPU in %.2f s" % (cpu, spread))

    def test_rate_is_per_webhook(self):
        """Another webhook's burst is not slowed by the first one's limit."""
        t = self.srv.make_tenant()
        a = self.hook(t, path="/ok?a=1")
        b = self.hook(t, path="/ok?b=1")
        for i in range(4):
            self.publish(t, data={"i": i})
        self.wait_received(4, webhook=a["id"], timeout=10.0)
        self.wait_received(4, webhook=b["id"], timeout=10.0)


class RevokedKeyTests(DeliveryTestCase):

    def test_revoked_key_does_not_stop_deliveries(self):
        t = self.srv.make_tenant()
        h = self.hook(t)
        self.assertJson(self.srv.admin("DELETE", "/access-keys/" + t.key_id), 200)
        j = self.publish(t, data={"after": "revocation"})
        self.assertEqual(j["deliveries"], 1)
        self.wait_received(1, event_id=j["eventId"])
        view = self.assertJson(self.srv.admin("GET", "/webhooks/" + h["id"]), 200)
        self.assertTrue(view["isActive"])
