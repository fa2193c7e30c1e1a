# SPDX-License-Identifier: MIT
"""The live tail (issue 13; docs/api.md, "Live events"): GET /admin/v1/live
and {base}/airhook/v1/live stream delivery attempts and webhook state
changes as Server-Sent Events, an integrator's only of their community,
resume after Last-Event-ID, and a consumer that reads too slowly gets a
"skipped" summary while delivery goes on."""

import json
import re
import socket
import threading
import time

from deliverykit import DeliveryTestCase
from harness import backend  # noqa: F401  (the run on PostgreSQL sets it)


class Sse:
    """A text/event-stream read on its own thread into a list of events
    (dicts with event, id, data as parsed JSON).  rcvbuf makes the socket's
    receive buffer small; read=False opens it but reads nothing (a slow
    consumer) until resume()."""

    def __init__(self, srv, path, headers=None, rcvbuf=None, read=True):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect((srv.host, srv.port))
        head = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" % path
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        self.s.sendall((head + "\r\n").encode())
        self.events, self.status, self.head = [], None, b""
        self.lock = threading.Lock()
        self.go = threading.Event()
        if read:
            self.go.set()
        self.closed = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def resume(self):
        self.go.set()

    def _run(self):
        buf = b""
        self.s.settimeout(0.5)
        while not self.closed:
            if not self.go.wait(0.2):
                continue
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if self.status is None:
                if b"\r\n\r\n" not in buf:
                    continue
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.head = head
                self.status = int(head.split(b" ")[1])
            buf = self._parse(buf)

    def _parse(self, buf):
        # Chunked transfer coding: take whole chunks, then whole events.
        text = b""
        while True:
            if b"\r\n" not in buf:
                break
            size_line, rest = buf.split(b"\r\n", 1)
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if len(rest) < size + 2:
                break
            text += rest[:size]
            buf = rest[size + 2:]
        self._pending = getattr(self, "_pending", b"") + text
        while b"\n\n" in self._pending:
            block, self._pending = self._pending.split(b"\n\n", 1)
            ev = {"event": "message", "id": None, "data": ""}
            lines = []
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    continue
                k, _, v = line.partition(": ")
                if k == "data":
                    lines.append(v)
                elif k in ("event", "id"):
                    ev[k] = v
            if not lines and ev["event"] == "message":
                continue
            ev["data"] = json.loads("\n".join(lines)) if lines else None
            with self.lock:
                self.events.append(ev)
        return buf

    def snapshot(self, kind=None):
        with self.lock:
            return [e for e in self.events if kind is None or e["event"] == kind]

    def wait(self, pred, timeout=10.0, what="events"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = pred(self.snapshot())
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError("no %s within %.0f s; got %r" % (what, timeout,
                                                               self.snapshot()[-10:]))

    def close(self):
        self.closed = True
        self.go.set()
        try:
            self.s.close()
        except OSError:
            pass
        self.t.join(2)


def attempts_of(events, delivery_ids):
    return [e for e in events if e["event"] == "attempt" and e["data"]["deliveryId"] in delivery_ids]


class LiveTests(DeliveryTestCase):

    def setUp(self):
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()

    def admin_live(self, **kw):
        h = dict(kw.pop("headers", {}) or {})
        h["Authorization"] = "Bearer " + self.srv.admin_token
        s = Sse(self.srv, "/admin/v1/live", headers=h, **kw)
        self.streams.append(s)
        s.wait(lambda ev: [e for e in ev if e["event"] == "ready"], what="ready")
        self.assertEqual(s.status, 200)
        self.assertIn(b"text/event-stream", s.head)
        return s

    def public_live(self, token, **kw):
        s = Sse(self.srv, self.srv.base_path() + "/airhook/v1/live",
                headers={"X-Airmeet-Access-Token": token}, **kw)
        self.streams.append(s)
        s.wait(lambda ev: [e for e in ev if e["event"] == "ready"], what="ready")
        self.assertEqual(s.status, 200)
        return s

    def deliver(self, tenant, n=1):
        """Publishes n events to tenant (which has a webhook); their delivery ids."""
        ids = []
        for _ in range(n):
            ev = self.publish(tenant)["eventId"]
            ids.append(self.one_delivery_of(ev)["id"])
        return ids

    def test_attempts_appear_on_the_operators_stream(self):
        t = self.srv.make_tenant()
        h = self.hook(t)
        s = self.admin_live()
        ids = self.deliver(t, 3)
        got = s.wait(lambda ev: len(attempts_of(ev, ids)) == 3 and attempts_of(ev, ids),
                     what="3 attempts")
        d = got[0]["data"]
        self.assertEqual(d["type"], "attempt")
        self.assertEqual(d["webhookId"], h["id"])
        self.assertEqual(d["communityId"], t.community_id)
        self.assertEqual(d["trigger"], "trigger.airmeet.created")
        self.assertEqual((d["attempt"], d["outcome"], d["statusCode"]), (1, "succeeded", 200))
        self.assertIsInstance(d["durationMs"], int)
        self.assertIsNone(d["error"])
        self.assertRegex(d["time"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(got[0]["id"], str(d["id"]))
        # Ids grow.
        seq = [int(e["id"]) for e in got]
        self.assertEqual(seq, sorted(seq))

    def test_integrator_sees_only_their_community(self):
        a, b = self.srv.make_tenant(), self.srv.make_tenant()
        self.hook(a)
        self.hook(b)
        sa = self.public_live(a.auth())
        sb = self.public_live(b.auth())
        op = self.admin_live()
        ia, ib = self.deliver(a, 2), self.deliver(b, 2)
        op.wait(lambda ev: len(attempts_of(ev, ia + ib)) == 4, what="all 4 for the operator")
        sa.wait(lambda ev: len(attempts_of(ev, ia)) == 2, what="a's attempts")
        sb.wait(lambda ev: len(attempts_of(ev, ib)) == 2, what="b's attempts")
        for s, other in ((sa, b), (sb, a)):
            self.assertFalse([e for e in s.snapshot() if e["data"] and
                              e["data"].get("communityId") == other.community_id])
        self.assertEqual(sa.snapshot("ready")[0]["data"]["communityId"], a.community_id)
        # No credentials: refused, as on the other public routes (a missing token is 400 there).
        s = Sse(self.srv, self.srv.base_path() + "/airhook/v1/live")
        self.streams.append(s)
        deadline = time.time() + 5
        while s.status is None and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn(s.status, (400, 401))

    def test_last_event_id_resumes_with_what_was_missed(self):
        t = self.srv.make_tenant()
        self.hook(t)
        s = self.admin_live()
        first = self.deliver(t, 1)
        got = s.wait(lambda ev: attempts_of(ev, first), what="the first attempt")
        last_id = got[0]["id"]
        s.close()
        missed = self.deliver(t, 3)
        for d in missed:
            self.wait_status(d, "succeeded")
        r = self.admin_live(headers={"Last-Event-ID": last_id})
        got = r.wait(lambda ev: len(attempts_of(ev, missed)) == 3 and attempts_of(ev, missed),
                     what="the missed attempts")
        self.assertTrue(all(int(e["id"]) > int(last_id) for e in got))
        self.assertFalse(attempts_of(r.snapshot(), first), "nothing before Last-Event-ID")
        self.assertFalse(r.snapshot("reset"))
        # An id older than the ring holds: a reset saying so.
        old = self.admin_live(headers={"Last-Event-ID": "1"})
        got = old.wait(lambda ev: [e for e in ev if e["event"] == "reset"], what="reset")
        self.assertGreaterEqual(got[0]["data"]["missed"], 1)

    def test_console_sessions_stream_by_cookie(self):
        """The console's EventSource sends only the session cookie: an
        operator's session reads /admin/v1/live, an integrator's the
        public path, held to their community, and not the admin one."""
        a, b = self.srv.make_tenant(), self.srv.make_tenant()
        self.hook(a)
        self.hook(b)

        def cookie(body):
            r = self.srv.request("POST", "/ui/api/session", json_body=body)
            self.assertEqual(r.status, 201, repr(r))
            return "airhook_session=" + re.match(r"airhook_session=([^;]+);",
                                                 r.header("Set-Cookie")).group(1)
        op = cookie({"adminToken": self.srv.admin_token})
        integ = cookie({"accessKey": a.access_key, "secretKey": a.secret_key})
        so = Sse(self.srv, "/admin/v1/live", headers={"Cookie": op})
        si = Sse(self.srv, self.srv.base_path() + "/airhook/v1/live", headers={"Cookie": integ})
        refused = Sse(self.srv, "/admin/v1/live", headers={"Cookie": integ})
        self.streams += [so, si, refused]
        # Subscribed before anything happens (a stream sends what follows its ready).
        for s in (so, si):
            s.wait(lambda ev: [e for e in ev if e["event"] == "ready"], what="ready")
        ia, ib = self.deliver(a, 1), self.deliver(b, 1)
        so.wait(lambda ev: len(attempts_of(ev, ia + ib)) == 2, what="both on the operator's")
        si.wait(lambda ev: attempts_of(ev, ia), what="a's on a's session")
        self.assertFalse(attempts_of(si.snapshot(), ib))
        deadline = time.time() + 5
        while refused.status is None and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(refused.status, 403)

    def test_state_changes_are_streamed(self):
        t = self.srv.make_tenant()
        h = self.hook(t)
        s = self.public_live(t.auth())
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % h["id"]), 200)
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/enable" % h["id"]), 200)
        self.assertJson(self.srv.admin("DELETE", "/webhooks/%s" % h["id"]), 200)
        got = s.wait(lambda ev: len([e for e in ev if e["event"] == "webhook"]) >= 3 and
                     [e for e in ev if e["event"] == "webhook"], what="3 state changes")
        self.assertEqual([e["data"]["state"] for e in got],
                         ["disabled", "enabled", "deregistered"])
        for e in got:
            self.assertEqual(e["data"]["webhookId"], h["id"])
            self.assertEqual(e["data"]["communityId"], t.community_id)
            self.assertTrue(e["data"]["reason"])

    def test_slow_consumer_gets_a_summary_and_delivery_goes_on(self):
        t = self.srv.make_tenant()
        hooks = [self.hook(t) for _ in range(25)]
        self.assertEqual(len(hooks), 25)
        slow = self.admin_live(rcvbuf=4096)
        slow.go.clear()  # stop reading: the server's queue for it fills
        fast = self.admin_live()
        before = self.rcv.count()

        def delivered():  # distinct (event, webhook): a re-send under load is at-least-once
            return len({(r.event_id, r.webhook) for r in self.rcv.snapshot()[before:]})
        n_events = 400
        for _ in range(n_events):
            self.publish(t)
        want = n_events * len(hooks)
        self.rcv.wait_for(lambda: delivered() >= want, timeout=60, interval=0.1)
        self.assertEqual(delivered(), want, "every delivery made while stalled")
        fast.wait(lambda ev: len(ev) and len([e for e in ev if e["event"] == "attempt"]) >= want,
                  timeout=30, what="every attempt on the reading stream")
        slow.resume()
        got = slow.wait(lambda ev: [e for e in ev if e["event"] == "skipped"], timeout=30,
                        what="a skipped summary")
        self.assertGreater(got[0]["data"]["skipped"], 0)
        seen = slow.wait(lambda ev: (len([e for e in ev if e["event"] == "attempt"]) +
                                     sum(e["data"]["skipped"] for e in ev
                                         if e["event"] == "skipped")) >= want and ev,
                         timeout=30, what="attempts and skipped adding up")
        self.assertLess(len([e for e in seen if e["event"] == "attempt"]), want)
