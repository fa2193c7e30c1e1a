# SPDX-License-Identifier: MIT
"""`airhook receive`, the test receiver (src/cli/receive.c), checked with
libairhook-verify: given --secret it answers a delivery that verifies with
--status and one that does not with 401 (saying why), and it refuses a
secret that is not one at start (exit 2).  One test has a real server
deliver to it, so the dispatcher's signature meets the library's check.
"""

import base64
import hashlib
import hmac
import http.client
import re
import subprocess
import threading
import time
import unittest

import harness
from deliverykit import DeliveryMixin, DELIVERY_ARGS, FREE_TRIGGER, free_port
from harness import ServerTestCase

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LISTENING_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/")


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, msg_id.encode() + b"." + str(ts).encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


class Receive:
    """One `airhook receive` process on a free port, stopped by its PID."""

    def __init__(self, *args, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen([harness.BINARY, "receive", "--listen", listen]
                                     + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = LISTENING_RE.search(line)
        if not m:
            self.stop()
            raise AssertionError("airhook receive did not start: %r %r" % (line, self.proc.stderr.read()))
        self.port = int(m.group(1))
        self.lines, self.cursor = [], 0
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()

    def post(self, body, headers):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("POST", "/hooks", body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def _collect(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def read_until(self, pattern, timeout=20.0):
        """The next line of stdout (after the last one returned) matching pattern."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for k in range(self.cursor, len(self.lines)):
                    if rx.search(self.lines[k]):
                        self.cursor = k + 1
                        return self.lines[k]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no line matching %r in %r" % (pattern, self.lines))
                self.cond.wait(min(left, 0.5))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def headers_for(msg_id, ts, sig):
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig,
            "Content-Type": "application/json"}


class ReceiveVerifies(unittest.TestCase):
    def setUp(self):
        self.rcv = Receive("--secret", SECRET)
        self.addCleanup(self.rcv.stop)

    def test_valid_delivery_gets_its_status(self):
        body, now = b'{"test": 1}', int(time.time())
        status, answer = self.rcv.post(body, headers_for("msg_1", now, sign(SECRET, "msg_1", now, body)))
        self.assertEqual(status, 200, answer)
        self.assertIn("(valid)", self.rcv.read_until(r"^webhook-signature: "))

    def test_bad_signature_is_401(self):
        body, now = b'{"test": 1}', int(time.time())
        sig = sign(SECRET, "msg_1", now, body)
        status, answer = self.rcv.post(b'{"test": 2}', headers_for("msg_1", now, sig))
        self.assertEqual(status, 401, answer)
        line = self.rcv.read_until(r"^webhook-signature: ")
        self.assertIn("INVALID: no signature matches", line)

    def test_stale_missing_and_other_secret_are_401(self):
        body, now = b"{}", int(time.time())
        old = now - 600
        status, _ = self.rcv.post(body, headers_for("msg_2", old, sign(SECRET, "msg_2", old, body)))
        self.assertEqual(status, 401)
        self.assertIn("too old", self.rcv.read_until(r"^webhook-signature: "))
        status, _ = self.rcv.post(body, {"Content-Type": "application/json"})
        self.assertEqual(status, 401)
        self.assertIn("missing or malformed", self.rcv.read_until(r"^webhook-signature: "))
        other = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
        status, _ = self.rcv.post(body, headers_for("msg_3", now, sign(other, "msg_3", now, body)))
        self.assertEqual(status, 401)


class ReceiveStatusAndSecrets(unittest.TestCase):
    def test_without_a_secret_everything_gets_the_status(self):
        rcv = Receive("--status", "503")
        self.addCleanup(rcv.stop)
        status, _ = rcv.post(b"{}", headers_for("m", 1, "v1,forged"))
        self.assertEqual(status, 503)
        self.assertIn("not checked", rcv.read_until(r"^webhook-signature: "))

    def test_valid_delivery_gets_the_chosen_status(self):
        rcv = Receive("--secret", SECRET, "--status", "500")
        self.addCleanup(rcv.stop)
        now = int(time.time())
        status, _ = rcv.post(b"{}", headers_for("m", now, sign(SECRET, "m", now, b"{}")))
        self.assertEqual(status, 500)

    def test_malformed_secret_is_refused_at_start(self):
        for bad in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64", "ahs_1f4c",
                    "whsec_"):
            with self.subTest(secret=bad):
                p = subprocess.run([harness.BINARY, "receive", "--listen", "127.0.0.1:0",
                                    "--secret", bad], capture_output=True, text=True, timeout=10)
                self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
                self.assertIn("is not a signing secret", p.stderr)
                self.assertNotIn("listening", p.stdout)
        p = subprocess.run([harness.BINARY, "receive", "--listen", "127.0.0.1:0"],
                           env={"AIRHOOK_WEBHOOK_SECRET": "nope"}, capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)


class ReceiveFromServer(DeliveryMixin, ServerTestCase):
    """A real delivery, signed by the dispatcher, verified by the library."""

    SERVER_ARGS = DELIVERY_ARGS

    def test_a_real_delivery_verifies(self):
        tenant = self.srv.make_tenant()
        # The webhook is registered first, to learn its secret; the receiver then
        # starts on the registered port with it.
        port = free_port()
        r = tenant.register(FREE_TRIGGER, url="http://127.0.0.1:%d/hooks" % port)
        self.assertEqual(r.status, 200, r)
        hook = r.json["payload"]
        rcv = Receive("--secret", hook["secret"], listen="127.0.0.1:%d" % port)
        self.addCleanup(rcv.stop)
        event = self.publish(tenant, FREE_TRIGGER, data={"email": "ada@example.com"})
        self.assertIn("-> 200", rcv.read_until(r"^--- #1 "))
        self.assertEqual(rcv.read_until(r"^webhook-id: ").split(": ", 1)[1].strip(),
                         event["eventId"])
        self.assertIn("(valid)", rcv.read_until(r"^webhook-signature: "))


if __name__ == "__main__":
    unittest.main()
