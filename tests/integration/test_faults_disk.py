# SPDX-License-Identifier: MIT
"""A full disk (docs/operations.md, "A full disk and other faults").

The SQLite database lives on a 32 MB tmpfs of its own (faultkit.small_
filesystem: root needed; skipped loudly where mounting is not permitted).
With events flowing, a filler file takes the rest of
the filesystem.  Then:

- publishing answers 503 with Retry-After in the admin API's JSON, and
  registering 503 with Retry-After in the public API's envelope; nothing
  answers 500, and nothing crashes;
- reads keep working: webhook-list, the admin views of deliveries, /healthz;
- once the filler is deleted the same process (no restart) accepts writes
  again by itself;
- every event answered 202, before, during or after, reaches the receiver;
- the database passes PRAGMA integrity_check, and holds every acked event.

SQLite only: under AIRHOOK_TEST_DB=postgres the database's disk is
PostgreSQL's, not one this test can fill.
"""

import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

from deliverykit import DeliveryMixin, LOOPBACK, event_body
from faultkit import BackgroundPublisher, fill, small_filesystem
from harness import Server, ServerTestCase
from receiver import Receiver, wait_for

ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,200ms,500ms,1s,1s,1s,1s,1s,1s,1s",
        "--delivery-timeout", "5s")
MB = 1 << 20


def report(msg):
    sys.stdout.write("\n[full-disk] %s\n" % msg)
    sys.stdout.flush()


@unittest.skipIf(os.environ.get("AIRHOOK_TEST_DB", "sqlite") == "postgres",
                 "SQLite's own disk: run in the SQLite pass")
class FullDiskTests(DeliveryMixin, ServerTestCase):

    @classmethod
    def setUpClass(cls):
        unittest.TestCase.setUpClass()
        cls.srv = None

    @classmethod
    def tearDownClass(cls):
        pass

    def tearDown(self):
        pass

    def until(self, fn, timeout, what):
        """Calls fn until it returns a truthy value (returned) or fails after timeout."""
        v = wait_for(fn, timeout, interval=0.05)
        if not v:
            self.fail("%s: not within %.0f s\nserver stderr tail:\n%s" % (
                what, timeout, self.srv.stderr_tail(30)))
        return v

    def test_full_disk(self):
        d = small_filesystem(self)
        self.rcv = Receiver().start()
        self.addCleanup(self.rcv.stop)
        srv = self.srv = Server(ARGS, workdir=d)
        logs = tempfile.mkdtemp(prefix="airhook-fulldisk-log-")  # not on the disk that fills
        self.addCleanup(shutil.rmtree, logs, True)
        srv.log_path = os.path.join(logs, "stderr.log")
        srv.start()
        self.addCleanup(lambda: srv.kill() if srv.alive() else srv._close_files())
        pid = srv.proc.pid
        t = srv.make_tenant()
        h = self.hook(t)
        token = t.auth()  # /auth writes: on a full disk it answers 503 too
        acked = set()
        for i in range(20):
            acked.add(self.publish(t, data={"before": i})["eventId"])

        pub = BackgroundPublisher(srv, t, data_size=2048).start()
        self.addCleanup(pub.stop)
        self.until(lambda: pub.count(202) >= 50, 30, "background publishing")

        # The disk fills up.
        filler = os.path.join(d, "filler")
        n = fill(filler)
        report("filled the 32 MB filesystem with %.1f MB" % (n / MB))

        # Publishing: 503 in the admin dialect once the database cannot grow.
        big = {"pad": "x" * 60000}

        def publish_503():
            r = self.publish(t, data=big, expect=None)
            self.assertIn(r.status, (202, 503), repr(r))
            if r.status == 202:
                acked.add(r.json["eventId"])
                return None
            return r
        r = self.until(publish_503, 60, "a 503 for publishing on a full disk")
        self.assertAdminError(r, 503)
        self.assertTrue(r.header("Retry-After"), repr(r))
        self.assertEqual(r.json["error"], "SERVICE_UNAVAILABLE", repr(r))

        # Registering: 503 in the public envelope.
        def register_503():
            r = t.register(url=self.rcv.url("/ok?full=%d" % time.monotonic_ns()), expect=None)
            self.assertIn(r.status, (200, 503), repr(r))
            return r if r.status == 503 else None
        r = self.until(register_503, 30, "a 503 for registering on a full disk")
        self.assertPublicError(r, 503)
        self.assertTrue(r.header("Retry-After"), repr(r))

        # Reads keep working.
        r = srv.public("GET", "/platform-integration/v1/webhook-list",
                       headers={"X-Airmeet-Access-Token": token}, query={"airmeetId": t.airmeet_id})
        self.assertIsInstance(self.assertJson(r, 200).get("webhookDTOList"), list, repr(r))
        some = sorted(acked)[0]
        self.assertJson(self.list_deliveries("events", some), 200)
        self.assertJson(srv.admin("GET", "/webhooks/" + h["id"]), 200)
        self.assertEqual(srv.request("GET", "/healthz").status, 200)
        full_for = 4.0
        time.sleep(full_for)  # a while on a full disk, with the publisher and dispatcher at it
        during = pub.count(503)
        self.assertGreater(during, 0, "the background publisher never saw a full disk")

        # Space comes back: the same process takes writes again by itself.
        os.unlink(filler)
        freed = time.monotonic()

        def accepted():
            r = self.publish(t, data={"after": "free"}, expect=None)
            if r.status == 202:
                acked.add(r.json["eventId"])
                return True
            self.assertEqual(r.status, 503, repr(r))
            return False
        self.until(accepted, 30, "publishing after the space came back")
        report("writes resumed %.2f s after the filler was deleted" % (time.monotonic() - freed))
        t.register(url=self.rcv.url("/ok?after=free"))
        self.assertEqual(srv.proc.pid, pid)
        self.until(lambda: pub.count(202) > 0 and pub.statuses.get(202, 0) >= 0, 5, "")
        before = pub.count(202)
        self.until(lambda: pub.count(202) > before + 20, 30, "background publishing again")
        pub.stop()
        self.assertEqual(pub.bad, [], "answers other than 202 or a 503 with Retry-After")
        acked |= pub.acked

        # Every acknowledged event arrives (at the first webhook: the others came and went).
        def got():
            return {r.event_id for r in self.rcv.requests(webhook=h["id"])}
        self.until(lambda: acked <= got(), 90, "delivery of every acked event")
        seen = {}
        for r in self.rcv.requests(webhook=h["id"]):
            seen[r.event_id] = seen.get(r.event_id, 0) + 1
        dups = sum(c - 1 for c in seen.values())
        logs = srv.log_records()
        kept = sum(1 for x in logs if x.get("msg", "").startswith("cannot record attempts yet"))
        lost = sum(1 for x in logs if x.get("msg", "").startswith("cannot record attempts;"))
        warns = sum(1 for x in logs if x.get("level") in ("warn", "error"))
        report("%d events acked (%d answered 503 meanwhile); all delivered, %d duplicates; "
               "attempt batches kept %d times, given up %d; %d warnings logged" % (
                   len(acked), during, dups, kept, lost, warns))
        self.assertEqual(lost, 0, "the dispatcher gave up recording attempts")
        srv.stop(remove=False)  # a clean exit, or it raises

        db = sqlite3.connect(srv.db_path, timeout=10)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            stored = {row[0] for row in db.execute("SELECT id FROM events")}
        finally:
            db.close()
        self.assertEqual(acked - stored, set(), "acked events missing from the database")
