# SPDX-License-Identifier: MIT
"""The server side of `airhook listen` (docs/api.md, "Listeners";
docs/delivery.md, "Listeners"): listener endpoints, the Server-Sent Events
stream, results that become attempts, deliveries that wait while no stream
is connected, re-sending after a dropped stream, deletion, stale removal
and isolation between communities.

The SSE client is written here (a thread reading the stream line by line);
signatures are checked with deliverykit's Standard Webhooks verifier.
"""

import http.client
import json
import queue
import threading
import time
import uuid

from deliverykit import DeliveryMixin, FREE_TRIGGER, verifying, start_server
from harness import ServerTestCase
from receiver import wait_for

SCHEDULE = "0,300ms,600ms"
ARGS = ("--retry-schedule", SCHEDULE, "--delivery-timeout", "3s")
LISTEN = "/prod/airhook/v1"


class SSE:
    """A tiny Server-Sent Events client: events land in self.events as
    (event, id, data) tuples; comments are counted."""

    def __init__(self, srv, path, token, timeout=30):
        self.conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream",
                                                "X-Airmeet-Access-Token": token})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.events = queue.Queue()
        self.comments = 0
        self.closed = threading.Event()
        if self.status == 200:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        else:
            self.body = self.resp.read()
            self.closed.set()

    def _run(self):
        ev, eid, data = None, None, []
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line == "":
                    if data or ev:
                        self.events.put((ev or "message", eid, "\n".join(data)))
                    ev, eid, data = None, None, []
                elif line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("id: "):
                    eid = line[4:]
                elif line.startswith("data: "):
                    data.append(line[6:])
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass
        self.closed.set()

    def next(self, kind=None, timeout=10):
        """The next event (of kind, skipping others); AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s event within %ss" % (kind or "", timeout))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if kind is None or ev[0] == kind:
                return ev

    def none_within(self, kind, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return True
            if ev[0] == kind:
                return False
        return True

    def drop(self):
        """Cuts the connection as a laptop going to sleep would."""
        try:
            self.resp.fp.raw._sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()
        self.closed.wait(5)


class ListenMixin(DeliveryMixin):
    def token(self, tenant):
        return tenant.auth()

    def call(self, method, path, token, body=None, srv=None):
        srv = srv or self.srv
        return srv.request(method, LISTEN + path, headers={"X-Airmeet-Access-Token": token},
                           json_body=body)

    def create(self, token, body=None, srv=None, expect=201):
        r = self.call("POST", "/listeners", token, body if body is not None else
                      {"triggers": [FREE_TRIGGER], "name": "laptop"}, srv=srv)
        self.assertEqual(r.status, expect, repr(r))
        return r.json

    def stream(self, token, listener, srv=None):
        s = SSE(srv or self.srv, listener["stream"], token)
        self.addCleanup(s.conn.close)
        self.assertEqual(s.status, 200, repr(getattr(s, "body", b"")))
        ev = s.next("ready")
        self.assertEqual(json.loads(ev[2]), {"listenerId": listener["id"]})
        return s

    def result(self, token, listener, delivery, status=200, body="ok", error="", srv=None):
        return self.call("POST", "/listeners/%s/results" % listener["id"], token,
                         {"deliveryId": delivery["deliveryId"], "attempt": delivery["attempt"],
                          "status": status, "durationMs": 7, "headers": {"x-local": "1"},
                          "body": body, "error": error}, srv=srv)

    def delivery_event(self, s, timeout=10):
        ev = s.next("delivery", timeout)
        d = json.loads(ev[2])
        self.assertEqual(ev[1], "%s.%d" % (d["deliveryId"], d["attempt"]))
        return d

    def wait_closed(self, listener, srv=None):
        """Waits until the server has seen the listener's stream end (its log line)."""
        srv = srv or self.srv
        self.assertTrue(wait_for(lambda: any(
            r.get("msg") == "listener stream closed" and r.get("listener") == listener["id"]
            for r in srv.log_records()), 10), "the server saw the stream end")

    def assertVerifies(self, d, secret):
        h = d["headers"]
        self.assertEqual(h["webhook-id"], d["eventId"])
        self.assertTrue(verifying(secret, h["webhook-id"], h["webhook-timestamp"],
                                  d["body"].encode(), h["webhook-signature"]),
                        "the signature verifies with the listener secret: %r" % h)


class ListenServerTests(ListenMixin, ServerTestCase):
    SERVER_ARGS = ARGS

    def setUp(self):
        self.t = self.srv.make_tenant()
        self.tok = self.token(self.t)

    def test_secret_is_stable_per_access_key(self):
        a = self.call("GET", "/listener-secret", self.tok)
        self.assertEqual(a.status, 200, repr(a))
        self.assertTrue(a.json["secret"].startswith("whsec_"))
        b = self.call("GET", "/listener-secret", self.tok)
        self.assertEqual(a.json, b.json)
        l = self.create(self.tok)
        self.assertEqual(l["secret"], a.json["secret"])
        other = self.srv.make_tenant()
        c = self.call("GET", "/listener-secret", self.token(other))
        self.assertNotEqual(c.json["secret"], a.json["secret"])

    def test_create_answers_webhooks_and_stream(self):
        l = self.create(self.tok)
        self.assertEqual(l["triggers"], [FREE_TRIGGER])
        self.assertIsNone(l["airmeetId"])
        self.assertEqual(len(l["webhooks"]), 1)
        self.assertEqual(l["stream"], "/prod/airhook/v1/listeners/%s/stream" % l["id"])
        self.assertEqual(l["timeoutMs"], 600000)
        w = self.webhook_view(l["webhooks"][0]["id"])
        self.assertEqual(w["url"], "listen:" + l["id"])
        r = self.call("POST", "/listeners", self.tok, {"triggers": ["no.such.trigger"]})
        self.assertEqual(r.status, 400, repr(r))
        self.assertIn("unknown triggerMetaInfoId", r.json["message"])
        # Every trigger that takes the scope, when none is named.
        r = self.call("POST", "/listeners", self.tok, {})
        self.assertEqual(r.status, 201, repr(r))
        self.assertIn(FREE_TRIGGER, r.json["triggers"])

    def test_delivery_roundtrip_succeeds(self):
        l = self.create(self.tok)
        s = self.stream(self.tok, l)
        self.assertEqual(s.headers.get("content-type"), "text/event-stream")
        self.assertEqual(s.headers.get("cache-control"), "no-cache")
        j = self.publish(self.t, raw='{"hello":"listener"}')
        d = self.delivery_event(s)
        self.assertEqual(d["eventId"], j["eventId"])
        self.assertEqual(d["webhookId"], l["webhooks"][0]["id"])
        self.assertEqual(d["trigger"], FREE_TRIGGER)
        self.assertEqual(d["attempt"], 1)
        self.assertEqual(d["body"], '{"hello":"listener"}')
        self.assertEqual(d["headers"]["x-airmeet-attempt"], "1")
        self.assertVerifies(d, l["secret"])
        r = self.result(self.tok, l, d, 200, body="local ok")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json, {"recorded": True})
        got = self.wait_status(d["deliveryId"], "succeeded")
        self.assertEqual(got["attemptCount"], 1)
        self.assertEqual(got["attempts"][0]["statusCode"], 200)
        self.assertEqual(got["attempts"][0]["responseBody"], "local ok")
        # The local answer's headers are kept as a receiver's are.
        self.assertEqual(got["attempts"][0]["responseHeaders"], "HTTP/1.1 200\r\nx-local: 1\r\n")
        # The same result again is no longer awaited.
        self.assertEqual(self.result(self.tok, l, d, 200).status, 404)

    def test_failed_result_is_retried_on_schedule(self):
        l = self.create(self.tok)
        s = self.stream(self.tok, l)
        self.publish(self.t, raw='{"n":1}')
        d1 = self.delivery_event(s)
        t1 = time.monotonic()
        self.assertEqual(self.result(self.tok, l, d1, 500, body="boom").status, 200)
        d2 = self.delivery_event(s)
        self.assertGreaterEqual(time.monotonic() - t1, 0.3 * 0.9 - 0.05)
        self.assertEqual(d2["deliveryId"], d1["deliveryId"])
        self.assertEqual(d2["attempt"], 2)
        self.assertVerifies(d2, l["secret"])
        self.assertEqual(self.result(self.tok, l, d2, 0, error="connection refused").status, 200)
        d3 = self.delivery_event(s)
        self.assertEqual(d3["attempt"], 3)
        self.assertEqual(self.result(self.tok, l, d3, 410).status, 200)
        got = self.wait_status(d1["deliveryId"], "failed")
        self.assertEqual([a["statusCode"] for a in got["attempts"]], [500, None, 410])
        self.assertEqual(got["attempts"][1]["error"], "connection refused")
        self.assertIsNone(got["attempts"][1]["responseHeaders"])  # no answer, no headers
        # A 410 from a laptop does not disable the listener's webhook.
        w = self.webhook_view(l["webhooks"][0]["id"])
        self.assertTrue(w["isActive"], repr(w))

    def test_no_result_within_the_delivery_timeout_is_a_failed_attempt(self):
        l = self.create(self.tok)
        s = self.stream(self.tok, l)
        self.publish(self.t, raw='{"n":2}')
        d1 = self.delivery_event(s)
        d2 = self.delivery_event(s, timeout=10)  # after 3 s and the 300 ms step
        self.assertEqual(d2["attempt"], 2)
        got = self.delivery(d1["deliveryId"])
        self.assertIn("did not report a result", got["attempts"][0]["error"])
        self.assertEqual(self.result(self.tok, l, d2, 200).status, 200)
        self.wait_status(d1["deliveryId"], "succeeded")

    def test_without_a_stream_deliveries_wait_unattempted(self):
        l = self.create(self.tok)
        j = self.publish(self.t, raw='{"waiting":true}')
        dv = self.one_delivery_of(j["eventId"], l["webhooks"][0]["id"])
        cpu = self.srv.cpu_seconds()
        time.sleep(2.0)  # several dispatcher turns: nothing may be attempted
        # ...and nothing spins on the due delivery that has nowhere to go.
        self.assertLess(self.srv.cpu_seconds() - cpu, 0.5, "the server is busy while it waits")
        got = self.delivery(dv["id"])
        self.assertEqual(got["status"], "pending", repr(got))
        self.assertEqual(got["attemptCount"], 0, repr(got))
        s = self.stream(self.tok, l)
        d = self.delivery_event(s)
        self.assertEqual(d["deliveryId"], dv["id"])
        self.assertEqual(d["attempt"], 1)
        self.assertEqual(self.result(self.tok, l, d).status, 200)
        self.wait_status(dv["id"], "succeeded")

    def test_dropped_stream_resends_on_the_next(self):
        l = self.create(self.tok)
        s = self.stream(self.tok, l)
        self.publish(self.t, raw='{"drop":1}')
        d = self.delivery_event(s)
        s.drop()
        self.wait_closed(l)
        # Its result can no longer be posted for that push: it was handed back.
        self.assertEqual(self.result(self.tok, l, d).status, 404)
        s2 = self.stream(self.tok, l)
        d2 = self.delivery_event(s2, timeout=10)
        self.assertEqual(d2["deliveryId"], d["deliveryId"])
        self.assertEqual(d2["attempt"], 1, "handed back unattempted: the same attempt again")
        self.assertEqual(self.result(self.tok, l, d2).status, 200)
        got = self.wait_status(d["deliveryId"], "succeeded")
        self.assertEqual(got["attemptCount"], 1)

    def test_a_new_stream_replaces_the_old(self):
        l = self.create(self.tok)
        s1 = self.stream(self.tok, l)
        s2 = self.stream(self.tok, l)
        ev = s1.next("bye")
        self.assertEqual(json.loads(ev[2]), {"reason": "replaced"})
        self.assertTrue(s1.closed.wait(5))
        self.publish(self.t, raw='{"n":3}')
        d = self.delivery_event(s2)
        self.assertEqual(self.result(self.tok, l, d).status, 200)

    def test_delete_deregisters_and_ends_the_stream(self):
        l = self.create(self.tok)
        s = self.stream(self.tok, l)
        r = self.call("DELETE", "/listeners/" + l["id"], self.tok)
        self.assertEqual(r.status, 204, repr(r))
        ev = s.next("bye")
        self.assertEqual(json.loads(ev[2]), {"reason": "deleted"})
        w = self.webhook_view(l["webhooks"][0]["id"])
        self.assertIsNotNone(w["deregisteredAt"], repr(w))
        self.assertEqual(self.call("DELETE", "/listeners/" + l["id"], self.tok).status, 404)
        self.assertEqual(SSE(self.srv, l["stream"], self.tok).status, 404)

    def test_result_headers_must_be_strings_without_line_breaks(self):
        l = self.create(self.tok)
        s = self.stream(self.tok, l)
        self.publish(self.t, raw='{"n":1}')
        d = self.delivery_event(s)
        for headers in ({"x-a": 1}, {"x-a": "1\r\nx-forged: 1"}, ["x-a"]):
            r = self.call("POST", "/listeners/%s/results" % l["id"], self.tok,
                          {"deliveryId": d["deliveryId"], "attempt": d["attempt"], "status": 200,
                           "durationMs": 1, "headers": headers, "body": "", "error": ""})
            self.assertEqual(r.status, 400, repr(headers))
            self.assertIn("headers", r.json["message"])
        self.assertEqual(self.result(self.tok, l, d, 200).status, 200)

    def test_other_communities_get_404(self):
        l = self.create(self.tok)
        other = self.token(self.srv.make_tenant())
        self.assertEqual(SSE(self.srv, l["stream"], other).status, 404)
        self.assertEqual(self.call("DELETE", "/listeners/" + l["id"], other).status, 404)
        r = self.call("POST", "/listeners/%s/results" % l["id"], other,
                      {"deliveryId": str(uuid.uuid4()), "attempt": 1, "status": 200})
        self.assertEqual(r.status, 404, repr(r))
        self.assertEqual(self.call("DELETE", "/listeners/" + str(uuid.uuid4()), self.tok).status,
                         404)

    def test_listen_urls_cannot_be_registered(self):
        l = self.create(self.tok)
        other = self.srv.make_tenant()
        r = other.register(FREE_TRIGGER, url="listen:" + l["id"], expect=None)
        self.assertEqual(r.status, 400, repr(r))

    def test_listener_webhooks_count_against_the_quota(self):
        t = self.srv.make_tenant()
        r = self.srv.admin("PATCH", "/communities/%s/quotas" % t.community_id, {"maxWebhooks": 1})
        self.assertEqual(r.status, 200, repr(r))
        tok = self.token(t)
        self.create(tok)
        r = self.call("POST", "/listeners", tok, {"triggers": [FREE_TRIGGER]})
        self.assertEqual(r.status, 409, repr(r))


    def test_stop_ends_streams_and_hands_back(self):
        """SIGTERM with a stream open and a delivery awaiting its result: the
        stream ends (bye shutdown), the server exits cleanly at once, and the
        delivery is still pending, unattempted, for the next start."""
        srv = start_server(self, ARGS + ("--idle-timeout", "4s", "--crowded-idle-timeout", "2s"))
        t = srv.make_tenant()
        tok = t.auth()
        l = self.create(tok, srv=srv)
        s = self.stream(tok, l, srv=srv)
        j = self.publish(t, raw='{"stop":1}', srv=srv)
        d = self.delivery_event(s)
        self.assertEqual(d["eventId"], j["eventId"])
        time.sleep(2.5)  # past half the idle timeout: a heartbeat keeps the stream
        self.assertGreaterEqual(s.comments, 1, "a ping within the idle timeout")
        self.assertFalse(s.closed.is_set(), "the stream outlived --idle-timeout's half")
        started = time.monotonic()
        srv.stop(remove=False)  # raises unless the exit is clean
        self.assertLess(time.monotonic() - started, 8, "stopping waited on the open stream")
        ev = s.next("bye", timeout=2)
        self.assertEqual(json.loads(ev[2]), {"reason": "shutdown"})
        srv2 = start_server(self, ARGS, workdir=srv.workdir)
        got = self.delivery(d["deliveryId"], srv=srv2)
        self.assertEqual(got["attemptCount"], 0, repr(got))
        self.assertEqual(got["status"], "pending", repr(got))


class StaleListenerTests(ListenMixin, ServerTestCase):
    SERVER_ARGS = ARGS + ("--listener-timeout", "2s")

    def test_stale_listener_is_removed_with_its_webhooks(self):
        t = self.srv.make_tenant()
        tok = self.token(t)
        l = self.create(tok)
        s = self.stream(tok, l)
        time.sleep(2.5)  # connected: kept past the timeout
        self.assertEqual(self.call("GET", "/listener-secret", tok).status, 200)
        w = self.webhook_view(l["webhooks"][0]["id"])
        self.assertIsNone(w["deregisteredAt"])
        s.drop()
        self.wait_closed(l)
        self.assertTrue(wait_for(
            lambda: self.webhook_view(l["webhooks"][0]["id"])["deregisteredAt"], 15))
        self.assertEqual(SSE(self.srv, l["stream"], tok).status, 404)
