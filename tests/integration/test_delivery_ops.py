# SPDX-License-Identifier: MIT
"""Operating deliveries through the admin API (SPEC §5, CONVENTIONS "Events
and deliveries"): listing with status filter and cursor paging, one delivery
with its attempts, retry, recover, enable/disable, deregister cancelling
pending work, and the delivery metrics."""

import time
import unittest
import uuid

from deliverykit import (DeliveryTestCase, LOOPBACK, TIMEOUT, STATUSES, scrape_metrics,
                         start_server)
from receiver import wait_for


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03d+00:00" % int((ts % 1) * 1000)


class DeliveryListTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()

    def assertNewestFirst(self, flat, events):
        """flat (deliveries) lists exactly the deliveries of events (in publish
        order), newest first.  Two created in the same millisecond may come in
        either order (createdAt has millisecond resolution; ties are broken by
        id, as documented nowhere -- see the report)."""
        index = {e: i for i, e in enumerate(events)}
        self.assertEqual(sorted(d["eventId"] for d in flat), sorted(events))
        self.assertEqual(len({d["id"] for d in flat}), len(flat), "no delivery twice")
        for a, b in zip(flat, flat[1:]):
            self.assertGreaterEqual(a["createdAt"], b["createdAt"], "newest first")
            if a["createdAt"] != b["createdAt"]:
                self.assertGreater(index[a["eventId"]], index[b["eventId"]], "newest first")

    def page_all(self, kind, ident, limit, status=None):
        pages = []
        cursor = None
        for _ in range(20):
            r = self.list_deliveries(kind, ident, status=status, limit=limit, cursor=cursor)
            j = self.assertJson(r, 200)
            self.assertIn("deliveries", j)
            self.assertIn("nextCursor", j)
            self.assertLessEqual(len(j["deliveries"]), limit)
            pages.append(j["deliveries"])
            cursor = j["nextCursor"]
            if cursor is None:
                return pages
            self.assertIsInstance(cursor, str)
        self.fail("paging did not end")

    def test_webhook_deliveries_paged_newest_first(self):
        h = self.hook(self.t)
        events = []
        for i in range(7):
            events.append(self.publish(self.t, data={"i": i})["eventId"])
        self.wait_received(7, webhook=h["id"])
        pages = self.page_all("webhooks", h["id"], 3)
        self.assertEqual([len(p) for p in pages], [3, 3, 1], "7 deliveries in pages of 3")
        flat = [d for p in pages for d in p]
        self.assertEqual(len({d["id"] for d in flat}), 7, "no delivery twice across pages")
        self.assertNewestFirst(flat, events)
        for d in flat:
            self.assertDeliveryShape(d)
            self.assertEqual(d["webhookId"], h["id"])
        # Unpaged (default limit 50) gives the same list.
        j = self.assertJson(self.list_deliveries("webhooks", h["id"]), 200)
        self.assertEqual([d["id"] for d in j["deliveries"]], [d["id"] for d in flat])
        self.assertIsNone(j["nextCursor"])

    def test_cursor_stable_under_inserts(self):
        """Newer deliveries arriving while paging do not shift the pages."""
        h = self.hook(self.t)
        old = [self.publish(self.t)["eventId"] for _ in range(7)]
        j = self.assertJson(self.list_deliveries("webhooks", h["id"], limit=3), 200)
        seen = list(j["deliveries"])
        for _ in range(3):
            self.publish(self.t)
        cursor = j["nextCursor"]
        for _ in range(10):
            if not cursor:
                break
            j = self.assertJson(self.list_deliveries("webhooks", h["id"], limit=3, cursor=cursor), 200)
            seen += j["deliveries"]
            cursor = j["nextCursor"]
        self.assertEqual(len(seen), 7, "paging after inserts: no repeats, no gaps")
        self.assertNewestFirst(seen, old)

    def test_exact_page_boundary(self):
        h = self.hook(self.t)
        for i in range(6):
            self.publish(self.t)
        pages = self.page_all("webhooks", h["id"], 3)
        flat = [d for p in pages for d in p]
        self.assertEqual(len(flat), 6)
        self.assertEqual(len({d["id"] for d in flat}), 6)
        self.assertIn(len(pages), (2, 3))
        if len(pages) == 3:
            self.assertEqual(pages[2], [], "an extra page may only be empty")

    def test_status_filter(self):
        name = uuid.uuid4().hex
        h = self.hook(self.t, path="/switch/" + name)
        self.rcv.set_switch(name, 500)
        failed = [self.publish(self.t)["eventId"] for _ in range(2)]
        for e in failed:
            self.wait_status(self.one_delivery_of(e)["id"], "failed")
        self.rcv.set_switch(name, 200)
        ok = [self.publish(self.t)["eventId"] for _ in range(3)]
        for e in ok:
            self.wait_status(self.one_delivery_of(e)["id"], "succeeded")
        want = {"failed": failed, "succeeded": ok, "pending": [], "cancelled": []}
        for status in STATUSES:
            with self.subTest(status=status):
                pages = self.page_all("webhooks", h["id"], 2, status=status)
                flat = [d for p in pages for d in p]
                self.assertNewestFirst(flat, want[status])
                for d in flat:
                    self.assertEqual(d["status"], status)

    def test_event_deliveries_paged(self):
        hooks = {self.hook(self.t)["id"] for _ in range(5)}
        j = self.publish(self.t)
        self.assertEqual(j["deliveries"], 5)
        pages = self.page_all("events", j["eventId"], 2)
        flat = [d for p in pages for d in p]
        self.assertEqual({d["webhookId"] for d in flat}, hooks)
        self.assertEqual(len(flat), 5)
        for d in flat:
            self.assertEqual(d["eventId"], j["eventId"])
        self.wait_received(5, event_id=j["eventId"])
        ok = wait_for(lambda: len(self.all_deliveries("events", j["eventId"], status="succeeded")) == 5, 5)
        self.assertTrue(ok, "five succeeded deliveries: %r" % self.event_deliveries(j["eventId"]))

    def test_bad_list_parameters_400(self):
        h = self.hook(self.t)
        self.publish(self.t)
        for kind, ident in (("webhooks", h["id"]), ("events", str(uuid.uuid4()))):
            for q in ({"status": "bogus"}, {"status": "PENDING"}, {"limit": "0"}, {"limit": "501"},
                      {"limit": "-1"}, {"limit": "abc"}, {"cursor": "not-a-cursor"}):
                with self.subTest(kind=kind, q=q):
                    r = self.list_deliveries(kind, ident, **q)
                    if kind == "events" and r.status == 404:
                        continue  # unknown event may be checked first
                    self.assertAdminError(r, 400)
        r = self.list_deliveries("webhooks", h["id"], limit=500)
        self.assertJson(r, 200)

    def test_unknown_ids_404(self):
        for path in ("/deliveries/%s" % uuid.uuid4(), "/webhooks/%s/deliveries" % uuid.uuid4(),
                     "/events/%s/deliveries" % uuid.uuid4()):
            with self.subTest(path=path):
                self.assertAdminError(self.srv.admin("GET", path), 404)
        for path in ("/deliveries/%s/retry" % uuid.uuid4(), "/webhooks/%s/recover" % uuid.uuid4(),
                     "/webhooks/%s/enable" % uuid.uuid4(), "/webhooks/%s/disable" % uuid.uuid4()):
            with self.subTest(path=path):
                self.assertAdminError(self.srv.admin("POST", path, {"since": 0}), 404)

    def test_lists_need_admin_token(self):
        h = self.hook(self.t)
        r = self.srv.request("GET", "/admin/v1/webhooks/%s/deliveries" % h["id"])
        self.assertAdminError(r, 401)


class DeliveryOperateTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()
        self.name = uuid.uuid4().hex

    def broken_hook(self):
        h = self.hook(self.t, path="/switch/" + self.name)
        self.rcv.set_switch(self.name, 500)
        return h

    def test_show_one_delivery(self):
        h = self.hook(self.t, path="/flaky?fail=1&size=20")
        j = self.publish(self.t)
        d = self.one_delivery_of(j["eventId"])
        d = self.wait_status(d["id"], "succeeded")
        self.assertDeliveryShape(d)
        self.assertEqual(d["eventId"], j["eventId"])
        self.assertEqual(d["webhookId"], h["id"])
        self.assertEqual(d["attemptCount"], 2)
        self.assertEqual(len(d["attempts"]), 2)
        for a, code in zip(d["attempts"], (500, 200)):
            self.assertAttemptShape(a)
            self.assertEqual(a["statusCode"], code)
            self.assertEqual(a["responseBody"], "0123456789abcdefghij")
        self.assertLessEqual(d["attempts"][0]["startedAt"], d["attempts"][1]["startedAt"])

    def test_retry_failed_delivery(self):
        h = self.broken_hook()
        j = self.publish(self.t, raw='{"retry":"me"}')
        d = self.wait_status(self.one_delivery_of(j["eventId"])["id"], "failed")
        self.assertEqual(d["attemptCount"], 3)
        self.rcv.set_switch(self.name, 200)
        r = self.srv.admin("POST", "/deliveries/%s/retry" % d["id"])
        rd = self.assertJson(r, 202)
        self.assertEqual(rd["id"], d["id"])
        # As docs/api.md says: normally pending and due now, but the attempt runs
        # concurrently, so with a fast receiver the answer may show its outcome already.
        self.assertIn(rd["status"], ("pending", "succeeded"), repr(rd))
        if rd["status"] == "pending":
            self.assertTimestamp(rd["nextAttemptAt"], "nextAttemptAt after retry")
        else:
            self.assertIsNone(rd["nextAttemptAt"], repr(rd))
        recs = self.wait_received(4, event_id=j["eventId"])
        last = recs[-1]
        self.assertEqual(last.answer, 200)
        self.assertEqual(last.body, b'{"retry":"me"}')
        self.assertEqual(last.event_id, j["eventId"], "same webhook-id on a manual retry")
        self.assertSignedBy(last, h["secret"])
        d = self.wait_status(d["id"], "succeeded")
        self.assertEqual(len(d["attempts"]), 4, "earlier attempts are kept: %r" % d["attempts"])
        self.assertEqual(d["attempts"][-1]["statusCode"], 200)

    def test_recover_failed_since(self):
        h = self.broken_hook()
        before = time.time() - 1
        events = [self.publish(self.t)["eventId"] for _ in range(3)]
        ids = [self.one_delivery_of(e)["id"] for e in events]
        for i in ids:
            self.wait_status(i, "failed")
        # A `since` after the failures re-queues nothing.
        r = self.srv.admin("POST", "/webhooks/%s/recover" % h["id"], {"since": iso(time.time() + 60)})
        j = self.assertJson(r, 202)
        self.assertEqual(j.get("requeued"), 0, repr(j))
        self.rcv.set_switch(self.name, 200)
        r = self.srv.admin("POST", "/webhooks/%s/recover" % h["id"], {"since": iso(before)})
        j = self.assertJson(r, 202)
        self.assertEqual(j.get("webhookId"), h["id"], repr(j))
        self.assertEqual(j.get("requeued"), 3, repr(j))
        for e in events:
            self.wait_received(4, event_id=e)
        for i in ids:
            d = self.wait_status(i, "succeeded")
            self.assertEqual(d["attempts"][-1]["statusCode"], 200)

    def test_recover_since_unix_seconds_and_bad_since(self):
        h = self.broken_hook()
        e = self.publish(self.t)["eventId"]
        did = self.one_delivery_of(e)["id"]
        self.wait_status(did, "failed")
        self.rcv.set_switch(self.name, 200)
        for bad in ({"since": "yesterday"}, {}, {"since": None}):
            with self.subTest(body=bad):
                self.assertAdminError(self.srv.admin("POST", "/webhooks/%s/recover" % h["id"], bad), 400)
        r = self.srv.admin("POST", "/webhooks/%s/recover" % h["id"], {"since": int(time.time()) - 60})
        self.assertEqual(self.assertJson(r, 202).get("requeued"), 1)
        self.wait_status(did, "succeeded")

    def test_disable_pauses_enable_resumes(self):
        h = self.broken_hook()
        j = self.publish(self.t)
        self.wait_received(1, event_id=j["eventId"])
        w = self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % h["id"]), 200)
        self.assertIs(w["isActive"], False)
        self.rcv.set_switch(self.name, 200)
        n = self.rcv.count(event_id=j["eventId"])
        did = self.one_delivery_of(j["eventId"])["id"]
        # Disabled: nothing is sent although the next attempt is due.
        self.assertNothingMore(lambda: self.rcv.count(event_id=j["eventId"]), n, quiet=1.0,
                               what="attempts to a disabled webhook")
        d = self.delivery(did)
        self.assertEqual(d["status"], "pending", "a disabled webhook's delivery waits: %r" % d)
        # New events do not match a disabled webhook.
        j2 = self.publish(self.t)
        self.assertEqual(j2["deliveries"], 0)
        w = self.assertJson(self.srv.admin("POST", "/webhooks/%s/enable" % h["id"]), 200)
        self.assertIs(w["isActive"], True)
        recs = self.wait_received(n + 1, event_id=j["eventId"], timeout=5)
        self.assertEqual(recs[-1].answer, 200)
        self.wait_status(did, "succeeded")
        self.assertEqual(self.rcv.count(event_id=j2["eventId"]), 0)

    def test_disable_enable_idempotent(self):
        h = self.hook(self.t)
        for action, active in (("disable", False), ("disable", False), ("enable", True), ("enable", True)):
            r = self.srv.admin("POST", "/webhooks/%s/%s" % (h["id"], action))
            self.assertIs(self.assertJson(r, 200)["isActive"], active, repr(r))
        j = self.publish(self.t)
        self.assertEqual(j["deliveries"], 1)
        self.wait_received(1, event_id=j["eventId"])

    def test_delivery_lag_counts_from_when_each_attempt_was_due(self):
        """airhook_delivery_lag_seconds: how late attempts start.  A retry
        counts from the time it was set for, not from the publish; a delivery
        waiting behind its webhook's concurrency cap counts as late as it
        waited."""
        s = start_server(self, ("--allow-net", LOOPBACK, "--retry-schedule", "0,1500ms",
                                "--delivery-timeout", TIMEOUT, "--webhook-concurrency", "1"))
        t = s.make_tenant()

        def lag():
            _, samples = scrape_metrics(s)
            return {l["le"]: v for n, l, v in samples if n == "airhook_delivery_lag_seconds_bucket"}

        self.assertEqual(lag().get("+Inf"), 0, "a fresh server has started no attempt")
        flaky = self.hook(t, path="/flaky?fail=1")
        j = self.publish(t, srv=s)
        recs = self.wait_received(2, event_id=j["eventId"], webhook=flaky["id"])
        self.assertGreaterEqual(recs[1].mono - recs[0].mono, 1.5 * 0.9 - 0.05,
                                "the retry waited its step")
        b = lag()
        self.assertEqual(b["+Inf"], 2, "one sample per attempt: %r" % b)
        self.assertEqual(b["1"], 2, "the retry, 1.5 s after the publish, started on time: %r" % b)
        self.assertJson(s.admin("POST", "/webhooks/%s/disable" % flaky["id"]), 200)

        slow = self.hook(t, path="/ok?delay=1.2")
        first = self.publish(t, srv=s)
        second = self.publish(t, srv=s)
        self.wait_received(1, event_id=first["eventId"], webhook=slow["id"])
        self.wait_received(1, event_id=second["eventId"], webhook=slow["id"])
        b = lag()
        self.assertEqual(b["+Inf"], 4, repr(b))
        self.assertEqual(b["1"], 3, "the second waited 1.2 s for the first: %r" % b)
        self.assertEqual(b["5"], 4, repr(b))

    def test_metrics_after_deliveries(self):
        self.hook(self.t, path="/ok")
        self.hook(self.t, path="/status/500")
        j = self.publish(self.t)
        self.wait_event_settled(j["eventId"], 2)
        types, samples = scrape_metrics(self.srv)
        names = set(types) | {n for n, _, _ in samples}
        outcome = [(n, l, v) for n, l, v in samples if "deliver" in n and "outcome" in l]
        self.assertTrue(outcome, "no deliveries-by-outcome counter (a 'deliver' family with an "
                                 "'outcome' label): %s" % sorted(names))
        self.assertGreater(sum(v for _, _, v in outcome), 0, outcome)
        self.assertGreaterEqual(len({l["outcome"] for _, l, _ in outcome}), 2,
                                "success and failure should be different outcomes: %r" % outcome)
        hist = [n for n, t in types.items() if t == "histogram" and "attempt" in n]
        self.assertTrue(hist, "no attempt latency histogram: %r" % types)
        base = hist[0]
        for suffix in ("_bucket", "_sum", "_count"):
            self.assertTrue(any(n == base + suffix for n, _, _ in samples), base + suffix)
        count = sum(v for n, _, v in samples if n == base + "_count")
        self.assertGreaterEqual(count, 4, "1 success + 3 failed attempts at least")
        self.assertTrue(any("queue" in n for n in names), "no queue depth metric: %s" % sorted(names))
        self.assertTrue(any("oldest" in n for n in names), "no oldest pending age metric: %s" % sorted(names))


class LongRetryTests(DeliveryTestCase):
    """A 10 s second step keeps a failed-once delivery pending long enough
    to act on it."""

    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,10s,10s",
                   "--delivery-timeout", TIMEOUT)

    def setUp(self):
        self.t = self.srv.make_tenant()

    def test_deregister_cancels_pending(self):
        h = self.hook(self.t, path="/status/503")
        events = [self.publish(self.t)["eventId"] for _ in range(3)]
        for e in events:
            self.wait_received(1, event_id=e)
        ids = [self.one_delivery_of(e)["id"] for e in events]
        for i in ids:
            d = self.wait_delivery(i, lambda d: d["attemptCount"] == 1 and d["status"] == "pending", 5,
                                   "pending after one failed attempt")
        r = self.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                            headers=self.t.key_headers(),
                            json_body={"id": h["id"], "triggerMetaInfoId": h["triggerMetaInfoId"],
                                       "url": h["url"]})
        self.assertJson(r, 200)
        for i in ids:
            d = self.delivery(i)
            self.assertEqual(d["status"], "cancelled", "deregister cancels pending deliveries: %r" % d)
            self.assertIsNone(d["nextAttemptAt"])
            self.assertEqual(len(d["attempts"]), 1, "history stays readable")
        c = self.all_deliveries("webhooks", h["id"], status="cancelled")
        self.assertEqual(sorted(d["id"] for d in c), sorted(ids))
        # Deregistration is final: nothing revives the webhook or its deliveries.
        for method, path, body in (("POST", "/deliveries/%s/retry" % ids[0], None),
                                   ("POST", "/webhooks/%s/recover" % h["id"], {"since": 0}),
                                   ("POST", "/webhooks/%s/enable" % h["id"], None)):
            with self.subTest(path=path):
                r = self.srv.admin(method, path, body)
                self.assertIn(r.status, (404, 409), repr(r))
                self.assertAdminError(r, r.status)
        self.assertNothingMore(lambda: sum(self.rcv.count(event_id=e) for e in events), 3, quiet=0.5)
        self.assertEqual(self.delivery(ids[0])["status"], "cancelled")

    def test_retry_pending_is_due_now(self):
        name = uuid.uuid4().hex
        self.rcv.set_switch(name, 500)
        h = self.hook(self.t, path="/switch/" + name)
        j = self.publish(self.t)
        self.wait_received(1, event_id=j["eventId"])
        did = self.one_delivery_of(j["eventId"])["id"]
        self.wait_delivery(did, lambda d: d["attemptCount"] == 1, 5, "first attempt recorded")
        self.rcv.set_switch(name, 200)
        t0 = time.monotonic()
        rd = self.assertJson(self.srv.admin("POST", "/deliveries/%s/retry" % did), 202)
        self.assertEqual(rd["status"], "pending")
        self.wait_received(2, event_id=j["eventId"], timeout=5)
        self.assertLess(time.monotonic() - t0, 5, "retry should send at once, not at the 10 s step")
        self.wait_status(did, "succeeded")

    def test_oldest_pending_age_and_queue_depth(self):
        h = self.hook(self.t, path="/status/500")
        j = self.publish(self.t)
        did = self.one_delivery_of(j["eventId"])["id"]
        self.wait_delivery(did, lambda d: d["attemptCount"] == 1, 5, "first attempt recorded")
        types, samples = scrape_metrics(self.srv)
        depth = [v for n, l, v in samples if "queue" in n and not n.endswith(("_bucket", "_sum", "_count"))]
        oldest = [v for n, l, v in samples if "oldest" in n]
        self.assertTrue(depth and max(depth) >= 1, "queue depth should count the pending delivery: %r" % depth)
        self.assertTrue(oldest and max(oldest) > 0, "oldest pending age should be > 0: %r" % oldest)
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % h["id"]), 200)


if __name__ == "__main__":
    unittest.main()
