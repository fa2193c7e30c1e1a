# SPDX-License-Identifier: MIT
"""--role: an API-only node accepts events without delivering them; a worker
node serves only the operations endpoints and delivers what is stored.  Both
share one database (the same workdir)."""

import time
import unittest

from deliverykit import DELIVERY_ARGS, DeliveryTestCase, start_server
from harness import DB_BACKEND


class RoleTests(DeliveryTestCase):
    SERVER_ARGS = tuple(DELIVERY_ARGS) + ("--role", "api")

    def test_api_node_stores_worker_node_delivers(self):
        t = self.srv.make_tenant()
        h = self.hook(t)
        j = self.publish(t, data={"role": "split"})
        self.assertEqual(j["deliveries"], 1)
        # The API node has no dispatcher: nothing arrives, the delivery waits.
        self.assertNothingMore(lambda: len(self.rcv.requests(webhook=h["id"])), 0, quiet=1.0,
                               what="deliveries from an API-only node")
        d = self.one_delivery_of(j["eventId"])
        self.assertEqual(d["status"], "pending")
        worker = start_server(self, tuple(DELIVERY_ARGS) + ("--role", "worker"),
                              workdir=self.srv.workdir, admin_token=self.srv.admin_token)
        self.wait_received(1, event_id=j["eventId"], timeout=15.0)
        # The worker answers operations endpoints only.
        self.assertJson(worker.request("GET", "/healthz"), 200)
        r = worker.request("GET", "/admin/v1/communities",
                           headers={"Authorization": "Bearer " + self.srv.admin_token})
        self.assertJson(r, 404)
        self.assertIn("--role worker", r.json["message"])
        r = worker.request("POST", "/prod/auth", headers=t.key_headers())
        self.assertEqual(r.status, 404)

    @unittest.skipIf(DB_BACKEND == "postgres", "PostgreSQL nodes all deliver (a lease per webhook)")
    def test_one_process_delivers_from_a_sqlite_file(self):
        """Two delivering processes on one SQLite file: one delivers, the other
        stands by (leases live in the deliverer's memory), and takes delivery
        over once the first is killed."""
        t = self.srv.make_tenant()
        h = self.hook(t)
        first = start_server(self, tuple(DELIVERY_ARGS) + ("--role", "worker"),
                             workdir=self.srv.workdir, admin_token=self.srv.admin_token)
        j = self.publish(t, data={"n": 1})
        self.wait_received(1, event_id=j["eventId"], timeout=15.0)
        second = start_server(self, tuple(DELIVERY_ARGS) + ("--role", "worker"),
                              workdir=self.srv.workdir, admin_token=self.srv.admin_token)
        deadline = time.monotonic() + 10
        while "stands by" not in second.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn("stands by", second.stderr_text())
        j2 = self.publish(t, data={"n": 2})
        self.wait_received(1, event_id=j2["eventId"], timeout=15.0)
        # Recorded, not only sent: what is unrecorded at a kill is sent again (at least once).
        deadline = time.monotonic() + 10
        while (self.one_delivery_of(j2["eventId"])["status"] != "succeeded"
               and time.monotonic() < deadline):
            time.sleep(0.1)
        first.kill()
        j3 = self.publish(t, data={"n": 3})
        self.wait_received(1, event_id=j3["eventId"], timeout=20.0)
        self.assertIn("this process delivers now", second.stderr_text())
        # Each event once (nothing was in flight at the kill).
        for e in (j, j2, j3):
            self.assertEqual(len(self.rcv.requests(webhook=h["id"], event_id=e["eventId"])), 1)

    def test_bad_role_refused(self):
        import subprocess
        from harness import BINARY
        p = subprocess.run([BINARY, "serve", "--role", "nobody", "--listen", "127.0.0.1:0"],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--role", p.stderr)


if __name__ == "__main__":
    unittest.main()
