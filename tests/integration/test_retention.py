# SPDX-License-Identifier: MIT
"""Retention (`--retention`, docs/operations.md "Retention"): an event whose
deliveries are all final goes, with them and their attempts, once it and
their outcome are older than the retention; an event with a delivery still
pending (retrying, or waiting for a disabled webhook) stays whole.

The server runs with `--retention 2s` and a retry schedule of `0,1h`, so a
failed first attempt leaves its delivery pending (retrying) for the whole
test.  Each case has a community of its own, so its events reach only its
webhook.
"""

import os
import threading
import time
import unittest

from deliverykit import DeliveryTestCase, LOOPBACK, free_port, scrape_metrics
from harness import DB_BACKEND
from receiver import wait_for

RETENTION_S = 2.0


class RetentionTests(DeliveryTestCase):
    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,1h", "--delivery-timeout", "2s",
                   "--retention", "2s")

    def retention(self):
        return self.assertJson(self.srv.admin("GET", "/retention"), 200)

    def wait_passes(self, n, timeout=20):
        """Waits until the purge has completed n more passes over the old events."""
        start = self.retention()["passes"]
        if not wait_for(lambda: self.retention()["passes"] >= start + n, timeout, interval=0.1):
            self.fail("the purge did not complete %d passes in %d s: %r" % (
                n, timeout, self.retention()))

    def event_gone(self, event_id):
        r = self.list_deliveries("events", event_id)
        self.assertIn(r.status, (200, 404), repr(r))
        return r.status == 404

    def test_final_old_goes_pending_stays(self):
        cases = {}
        # Succeeded.
        t = self.srv.make_tenant()
        self.hook(t, "/ok")
        cases["succeeded"] = self.publish(t)["eventId"]
        # Failed for good: 410 fails the delivery and disables the webhook.
        t = self.srv.make_tenant()
        self.hook(t, "/gone")
        cases["failed"] = self.publish(t)["eventId"]
        # Cancelled: retrying, then its webhook is deregistered.
        t_cancel = self.srv.make_tenant()
        h = self.hook(t_cancel, "/status/500")
        cases["cancelled"] = self.publish(t_cancel)["eventId"]
        # No webhook listens: an event without deliveries.
        t = self.srv.make_tenant()
        cases["nobody"] = self.publish(t)["eventId"]
        # Retrying: the first attempt failed, the next is an hour away.
        t = self.srv.make_tenant()
        self.hook(t, "/status/500")
        cases["retrying"] = self.publish(t)["eventId"]
        # Waiting for a disabled webhook: retrying, then the webhook is disabled.
        t = self.srv.make_tenant()
        h_off = self.hook(t, "/status/500")
        cases["disabled"] = self.publish(t)["eventId"]
        # Its receiver is down (nothing listens): retrying.
        t = self.srv.make_tenant()
        self.hook(t, url="http://127.0.0.1:%d/down" % free_port())
        cases["down"] = self.publish(t)["eventId"]
        # One webhook done, the other retrying: the event stays with both.
        t = self.srv.make_tenant()
        self.hook(t, "/ok")
        self.hook(t, "/status/503")
        cases["mixed"] = self.publish(t)["eventId"]

        self.wait_event_settled(cases["succeeded"], 1)
        self.wait_event_settled(cases["failed"], 1)
        h_cancel = self.one_delivery_of(cases["cancelled"])
        self.wait_delivery(h_cancel["id"], lambda d: d["attemptCount"] == 1, 5, "one attempt")
        off = self.one_delivery_of(cases["disabled"])
        self.wait_delivery(off["id"], lambda d: d["attemptCount"] == 1, 5, "one attempt")
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % h_off["id"]), 200)
        r = self.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                            headers=t_cancel.key_headers(),
                            json_body={"id": h["id"], "triggerMetaInfoId": h["triggerMetaInfoId"],
                                       "url": h["url"]})
        self.assertJson(r, 200)
        self.wait_status(h_cancel["id"], "cancelled")
        retrying = self.one_delivery_of(cases["retrying"])
        self.wait_delivery(retrying["id"], lambda d: d["attemptCount"] == 1, 5, "one attempt")
        down = self.one_delivery_of(cases["down"])
        self.wait_delivery(down["id"], lambda d: d["attemptCount"] == 1, 5, "one attempt")
        mixed = self.event_deliveries(cases["mixed"])
        for d in mixed:
            self.wait_delivery(d["id"], lambda d: d["attemptCount"] == 1, 5, "one attempt")
        ok_delivery = self.one_delivery_of(cases["succeeded"])["id"]

        gone = ("succeeded", "failed", "cancelled", "nobody")
        settled_at = time.monotonic()
        if not wait_for(lambda: all(self.event_gone(cases[k]) for k in gone), 20, interval=0.2):
            self.fail("not purged within 20 s: %r\n%s" % (
                [k for k in gone if not self.event_gone(cases[k])], self.srv.stderr_tail(20)))
        self.assertGreaterEqual(time.monotonic() - settled_at, RETENTION_S - 1.0,
                                "removed before the retention had passed")
        # Gone everywhere: the delivery and its attempts too.
        self.assertEqual(self.srv.admin("GET", "/deliveries/" + ok_delivery).status, 404)
        # Two more passes, each after the retention had passed for all of them, keep what
        # must stay.
        self.wait_passes(2)
        for k in ("retrying", "down", "disabled", "mixed"):
            self.assertFalse(self.event_gone(cases[k]), "%s was purged" % k)
        self.assertEqual(len(self.event_deliveries(cases["mixed"])), 2)
        d = self.delivery(retrying["id"])
        self.assertEqual(d["status"], "pending")
        self.assertEqual(len(d["attempts"]), 1, "the retrying delivery keeps its attempt")
        self.assertEqual(self.delivery(down["id"])["status"], "pending")

        # The admin API says what is kept how long, and what was removed.
        j = self.assertJson(self.srv.admin("GET", "/retention"), 200)
        self.assertEqual(j["retentionSeconds"], 2)
        self.assertTrue(j["purging"])
        self.assertIn("pending", j["policy"])
        self.assertGreaterEqual(j["removedSinceStart"]["events"], 4)
        self.assertGreaterEqual(j["removedSinceStart"]["deliveries"], 3)
        self.assertGreaterEqual(j["removedSinceStart"]["attempts"], 2)
        self.assertGreaterEqual(j["passes"], 1)
        self.assertTimestamp(j["lastPassAt"], "lastPassAt")
        types, samples = scrape_metrics(self.srv)
        removed = [v for (name, labels, v) in samples
                   if name == "airhook_retention_removed_total" and labels.get("what") == "events"]
        self.assertEqual(len(removed), 1, repr(samples))
        self.assertGreaterEqual(float(removed[0]), 4)
        self.assertEqual(types["airhook_retention_removed_total"], "counter")
        if DB_BACKEND == "sqlite":
            self.assertTrue(j["disk"]["shrinks"], "a new file is made with incremental vacuum")
            self.assertGreater(j["disk"]["fileBytes"], 0)
            self.assertEqual(types["airhook_store_file_bytes"], "gauge")
        else:
            self.assertIsNone(j["disk"])

    def file_bytes(self):
        """The database file as the filesystem sees it (its WAL is bounded apart: the
        checkpointer restarts it)."""
        return os.path.getsize(self.srv.db_path)

    @unittest.skipUnless(DB_BACKEND == "sqlite", "the file of a SQLite database")
    def test_file_stops_growing(self):
        """Under steady publishing the purge frees as much as is added: once the
        first events are purged, publishing three times as many again as the
        database then holds leaves the file hardly larger, where without the
        purge it would grow by all of them."""
        t = self.srv.make_tenant()
        self.hook(t, "/ok")
        payload = 8000
        data = {"pad": "x" * payload}
        published = [0]
        stop = threading.Event()
        errors = []

        def publisher():
            # About 200 events a second, until stopped.
            while not stop.is_set():
                try:
                    self.publish(t, data=data)
                    published[0] += 1
                except Exception as e:  # reported by the test below
                    errors.append(e)
                    return
                time.sleep(0.005)
        th = threading.Thread(target=publisher, daemon=True)
        th.start()
        try:
            removed0 = self.retention()["removedSinceStart"]["events"]
            if not wait_for(lambda: self.retention()["removedSinceStart"]["events"] > removed0 +
                            100, 30, interval=0.2):
                self.fail("nothing purged within 30 s: %r" % self.retention())
            # Steady state: the database holds what was published in the last retention
            # and pass; measure, then publish three times as much again.
            held = published[0] - (self.retention()["removedSinceStart"]["events"] - removed0)
            mid_bytes, mid_published = self.file_bytes(), published[0]
            want = mid_published + max(3 * held, 1000)
            if not wait_for(lambda: published[0] >= want or errors, 60, interval=0.2):
                self.fail("publishing stalled at %d events" % published[0])
            end_bytes, end_published = self.file_bytes(), published[0]
        finally:
            stop.set()
            th.join(10)
        self.assertEqual(errors, [])
        unpurged = (end_published - mid_published) * payload
        self.assertLessEqual(end_bytes - mid_bytes, unpurged / 4,
                             "the file grew from %d to %d bytes over %d events of %d bytes "
                             "(%d held)" % (mid_bytes, end_bytes, end_published - mid_published,
                                            payload, held))


class NoRetentionTests(DeliveryTestCase):
    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retention", "0")

    def test_zero_keeps_everything(self):
        t = self.srv.make_tenant()
        self.hook(t, "/ok")
        e = self.publish(t)["eventId"]
        self.wait_event_settled(e, 1)
        j = self.assertJson(self.srv.admin("GET", "/retention"), 200)
        self.assertEqual(j["retentionSeconds"], 0)
        self.assertFalse(j["purging"])
        self.assertEqual(j["removedSinceStart"]["events"], 0)
        self.assertIsNone(j["lastPassAt"])
        self.assertIsNone(j["disk"])
        self.assertNotIn("airhook_retention_removed_total", self.srv.request("GET", "/metrics").text)
        self.assertEqual(len(self.event_deliveries(e)), 1)


if __name__ == "__main__":
    unittest.main()
