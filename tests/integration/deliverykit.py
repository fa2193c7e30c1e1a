# SPDX-License-Identifier: MIT
"""Shared pieces of the delivery tests (test_delivery*.py): a server class
wired to a loopback Receiver, event publishing, delivery polling and
Standard Webhooks signature verification (hmac/hashlib/base64 only).

Every server here opens loopback with --allow-net and compresses the retry
schedule; nothing is ever sent off 127.0.0.1 / ::1.

The suite (python3 tests/integration/run.py --binary build-test/airhook -k delivery):
  receiver.py                  the recording test receiver (also standalone)
  test_delivery_publish.py     POST /events: fan-out, scoping, idempotency, validation
  test_delivery_request.py     body, headers, signatures, rotation, IPv6 loopback
  test_delivery_retry.py       schedule, attempts, Retry-After, redirects, 410,
                               --disable-after, resets, refused ports, timeouts, isolation
  test_delivery_ops.py         list/page/filter, show, retry, recover, enable/disable,
                               deregister cancels, metrics
  test_delivery_ssrf.py        the connect-time SSRF guard (no allow flags)
  test_delivery_durability.py  kill -9 and SIGTERM: nothing acknowledged is lost
  test_delivery_interop.py     the npm standardwebhooks verifier accepts deliveries
Environment: AIRHOOK_DURABILITY_EVENTS (3000), AIRHOOK_INTEROP_DIR (tests/interop),
CI=true (a missing interop install fails instead of skipping).
"""

import base64
import hashlib
import hmac
import json
import shutil
import socket
import time
import uuid

from harness import ServerTestCase, Server, decode_whsec
from receiver import Receiver, wait_for

LOOPBACK = "127.0.0.0/8,::1/128"
SCHEDULE = "0,200ms,400ms"          # three attempts in all
SCHEDULE_STEPS_MS = [0, 200, 400]
TIMEOUT = "2s"

DELIVERY_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", SCHEDULE,
                 "--delivery-timeout", TIMEOUT)

STATUSES = ("pending", "succeeded", "failed", "cancelled")
DELIVERY_FIELDS = ("id", "eventId", "webhookId", "triggerMetaInfoId", "status", "attemptCount",
                   "nextAttemptAt", "createdAt", "updatedAt", "lastStatusCode", "lastError")
ATTEMPT_FIELDS = ("attempt", "startedAt", "durationMs", "statusCode", "error", "responseBody",
                  "requestHeaders", "responseHeaders")

# Triggers whose webhooks need no airmeet.
FREE_TRIGGER = "trigger.airmeet.created"


# -- signatures ---------------------------------------------------------------

def sign(secret, msg_id, timestamp, body):
    """The Standard Webhooks v1 signature (base64 text, without "v1,")."""
    key = decode_whsec(secret)
    msg = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def signatures(header):
    """'v1,abc v1,def' -> [('v1', 'abc'), ('v1', 'def')]."""
    out = []
    for part in (header or "").split(" "):
        if not part:
            continue
        v, _, s = part.partition(",")
        out.append((v, s))
    return out


def verifying(secret, msg_id, timestamp, body, header):
    """Indexes of the v1 signatures in header that verify under secret."""
    want = sign(secret, msg_id, timestamp, body)
    return [i for i, (v, s) in enumerate(signatures(header))
            if v == "v1" and hmac.compare_digest(s, want)]


# -- event bodies -------------------------------------------------------------

def event_body(community_id, trigger=FREE_TRIGGER, data=None, raw=None, airmeet_id=None,
               session_id=None, idempotency_key=None, extra=None):
    """The POST /admin/v1/events body as bytes.  raw (bytes/str) is spliced
    in verbatim as the value of "data"; else data is serialized."""
    head = {"communityId": community_id, "triggerMetaInfoId": trigger}
    if airmeet_id:
        head["airmeetId"] = airmeet_id
    if session_id:
        head["sessionId"] = session_id
    if idempotency_key is not None:
        head["idempotencyKey"] = idempotency_key
    if extra:
        head.update(extra)
    if raw is None:
        if data is None:
            data = {"n": uuid.uuid4().hex}
        raw = json.dumps(data, separators=(",", ":"))
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return json.dumps(head)[:-1].encode() + b', "data":' + raw + b"}"


def free_port():
    """A loopback port nobody listens on (bound then closed: a refused port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class DeliveryMixin:
    """Helpers over self.srv (a harness.Server) and self.rcv (a Receiver)."""

    # -- publishing ---------------------------------------------------------

    def publish_raw(self, body, srv=None):
        srv = srv or self.srv
        return srv.request("POST", "/admin/v1/events", body=body,
                           headers={"Authorization": "Bearer " + srv.admin_token,
                                    "Content-Type": "application/json"})

    def publish(self, tenant, trigger=FREE_TRIGGER, data=None, raw=None, airmeet_id=None,
                session_id=None, idempotency_key=None, expect=202, srv=None):
        """Publishes an event; returns the answer's JSON (status checked)."""
        body = event_body(tenant.community_id, trigger, data=data, raw=raw, airmeet_id=airmeet_id,
                          session_id=session_id, idempotency_key=idempotency_key)
        r = self.publish_raw(body, srv)
        if expect is None:
            return r
        j = self.assertJson(r, expect)
        if expect == 202:
            self.assertUuid(j.get("eventId"), "eventId")
            self.assertIsInstance(j.get("deliveries"), int, repr(r))
            self.assertIsInstance(j.get("duplicate"), bool, repr(r))
        return j

    def hook(self, tenant, path="/ok", trigger=FREE_TRIGGER, airmeet_id=None, session_id=None,
             url=None, rcv=None):
        """Registers a webhook to the receiver; returns the register payload
        (id, secret, ...)."""
        rcv = rcv or self.rcv
        if url is None:
            # A unique tag: the same (trigger, url, scope) would be the same webhook.
            url = rcv.url(path) + ("&" if "?" in path else "?") + "t=" + uuid.uuid4().hex[:12]
        r = tenant.register(trigger, url=url, airmeet_id=airmeet_id,
                            session_id=session_id)
        return r.json["payload"]

    # -- admin views --------------------------------------------------------

    def delivery(self, delivery_id, srv=None):
        r = (srv or self.srv).admin("GET", "/deliveries/" + delivery_id)
        return self.assertJson(r, 200)

    def list_deliveries(self, kind, ident, status=None, limit=None, cursor=None, srv=None):
        """GET /webhooks|events/{id}/deliveries -> the raw Response."""
        q = []
        if status is not None:
            q.append(("status", status))
        if limit is not None:
            q.append(("limit", str(limit)))
        if cursor is not None:
            q.append(("cursor", cursor))
        srv = srv or self.srv
        path = "/admin/v1/%s/%s/deliveries" % (kind, ident)
        return srv.request("GET", path, query=q or None,
                           headers={"Authorization": "Bearer " + srv.admin_token})

    def all_deliveries(self, kind, ident, status=None, limit=500, srv=None, max_pages=100):
        out = []
        cursor = None
        for _ in range(max_pages):
            j = self.assertJson(self.list_deliveries(kind, ident, status, limit, cursor, srv), 200)
            out += j["deliveries"]
            cursor = j.get("nextCursor")
            if not cursor:
                return out
        self.fail("more than %d pages of deliveries for %s %s" % (max_pages, kind, ident))

    def event_deliveries(self, event_id, **kw):
        return self.all_deliveries("events", event_id, **kw)

    def webhook_view(self, webhook_id, srv=None):
        return self.assertJson((srv or self.srv).admin("GET", "/webhooks/" + webhook_id), 200)

    def one_delivery_of(self, event_id, webhook_id=None):
        ds = self.event_deliveries(event_id)
        if webhook_id is not None:
            ds = [d for d in ds if d["webhookId"] == webhook_id]
        self.assertEqual(len(ds), 1, "want one delivery of event %s (webhook %s): %r" % (
            event_id, webhook_id, ds))
        return ds[0]

    def wait_delivery(self, delivery_id, pred, timeout=10.0, what="", srv=None):
        """Polls GET /deliveries/{id} until pred(delivery) holds; returns it."""
        last = [None]

        def check():
            last[0] = self.delivery(delivery_id, srv)
            return pred(last[0])
        if not wait_for(check, timeout, interval=0.05):
            self.fail("delivery %s: %s not reached within %.0f s; last: %s" % (
                delivery_id, what or "condition", timeout, json.dumps(last[0], indent=1)))
        return last[0]

    def wait_status(self, delivery_id, status, timeout=10.0, srv=None):
        return self.wait_delivery(delivery_id, lambda d: d.get("status") == status, timeout,
                                  "status %s" % status, srv)

    def wait_event_settled(self, event_id, n, timeout=10.0):
        """Waits until event_id has n deliveries, none pending; returns them."""
        last = [None]

        def check():
            last[0] = self.event_deliveries(event_id)
            return len(last[0]) == n and all(d["status"] != "pending" for d in last[0])
        if not wait_for(check, timeout, interval=0.05):
            self.fail("event %s: %d settled deliveries not reached in %.0f s: %s" % (
                event_id, n, timeout, json.dumps(last[0], indent=1)))
        return last[0]

    def wait_received(self, n, timeout=10.0, event_id=None, webhook=None, route=None, rcv=None):
        """Waits until the receiver got at least n matching requests."""
        rcv = rcv or self.rcv
        got = rcv.wait_count(n, timeout, event_id, webhook, route)
        if len(got) < n:
            self.fail("receiver got %d of %d requests (event %s, webhook %s, route %s) in %.0f s;"
                      " everything received: %r\nserver stderr tail:\n%s" % (
                          len(got), n, event_id, webhook, route, timeout, rcv.snapshot()[-20:],
                          self.srv.stderr_tail(20)))
        return got

    def assertNothingMore(self, count_fn, expected, quiet=0.6, what="requests"):
        """A negative check: nothing more arrives during `quiet` seconds."""
        got = wait_for(lambda: count_fn() > expected, quiet)
        self.assertFalse(got, "unexpected extra %s: %d, want %d" % (what, count_fn(), expected))

    def assertDeliveryShape(self, d):
        for f in DELIVERY_FIELDS:
            self.assertIn(f, d, "delivery lacks %r: %r" % (f, d))
        self.assertUuid(d["id"], "delivery id")
        self.assertIn(d["status"], STATUSES, repr(d))
        self.assertIsInstance(d["attemptCount"], int, repr(d))
        self.assertTimestamp(d["createdAt"], "createdAt")
        self.assertTimestamp(d["updatedAt"], "updatedAt")
        if d["status"] == "pending":
            self.assertTimestamp(d["nextAttemptAt"], "nextAttemptAt of a pending delivery")
        else:
            self.assertIsNone(d["nextAttemptAt"], "nextAttemptAt must be null unless pending: %r" % d)

    def assertAttemptShape(self, a):
        for f in ATTEMPT_FIELDS:
            self.assertIn(f, a, "attempt lacks %r: %r" % (f, a))
        self.assertIsInstance(a["attempt"], int, repr(a))
        self.assertTimestamp(a["startedAt"], "attempt startedAt")
        self.assertIsInstance(a["durationMs"], int, repr(a))
        self.assertGreaterEqual(a["durationMs"], 0, repr(a))

    def assertSignedBy(self, rec, secret, n_signatures=1):
        """The request's webhook-signature has n_signatures entries and one of
        them verifies under secret; returns the verifying indexes."""
        h = rec.headers
        sig = h.get("webhook-signature")
        self.assertIsNotNone(sig, "no webhook-signature header: %r" % (h,))
        parts = signatures(sig)
        self.assertEqual(len(parts), n_signatures, "signature header %r" % sig)
        for v, s in parts:
            self.assertEqual(v, "v1", "signature version in %r" % sig)
            base64.b64decode(s, validate=True)
        ok = verifying(secret, h.get("webhook-id", ""), h.get("webhook-timestamp", ""), rec.body, sig)
        self.assertTrue(ok, "webhook-signature %r does not verify with %s over id=%r ts=%r body=%r" % (
            sig, secret, h.get("webhook-id"), h.get("webhook-timestamp"), rec.body[:200]))
        return ok


class DeliveryTestCase(DeliveryMixin, ServerTestCase):
    """One server (loopback opened, schedule compressed) and one receiver per
    class."""

    SERVER_ARGS = DELIVERY_ARGS
    rcv = None

    @classmethod
    def setUpClass(cls):
        cls.rcv = Receiver().start()
        try:
            super().setUpClass()
        except BaseException:
            cls.rcv.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            if cls.rcv is not None:
                cls.rcv.stop()
                cls.rcv = None


def scrape_metrics(srv):
    from test_operations import parse_exposition
    r = srv.request("GET", "/metrics")
    if r.status != 200:
        raise AssertionError("GET /metrics: %r" % (r,))
    return parse_exposition(r.text)


def start_server(testcase, args, workdir=None, admin_token=True):
    """Starts an extra server for one test; killed (and its own directory
    removed) at cleanup."""
    s = Server(args, admin_token=admin_token, workdir=workdir).start()

    def cleanup():
        if s.alive():
            s.kill()
        else:
            s._close_files()
        if s.own_dir:
            shutil.rmtree(s.workdir, ignore_errors=True)
    testcase.addCleanup(cleanup)
    return s


def now():
    return time.time()
