# SPDX-License-Identifier: MIT
"""What a receiver gets (SPEC §6): POST, the published data byte for byte,
the Standard Webhooks headers and signature, the x-airmeet-* headers, and
both signatures while a rotated secret overlaps."""

import datetime
import time
import unittest
import uuid

from deliverykit import (DeliveryTestCase, FREE_TRIGGER, ipv6_loopback_available, sign,
                         signatures, verifying)
from harness import WHSEC_RE
from receiver import Receiver


class DeliveredRequestTests(DeliveryTestCase):

    def setUp(self):
        self.t = self.srv.make_tenant()

    def deliver_one(self, raw=None, data=None, path="/ok", trigger=FREE_TRIGGER, **kw):
        h = self.hook(self.t, path=path, trigger=trigger,
                      airmeet_id=kw.pop("hook_airmeet", None))
        j = self.publish(self.t, trigger=trigger, raw=raw, data=data, **kw)
        self.assertEqual(j["deliveries"], 1, repr(j))
        rec = self.wait_received(1, event_id=j["eventId"])[0]
        return h, j, rec

    def test_body_byte_for_byte(self):
        raws = [
            '{"b":1,  "a":"é"}',
            '{ "z" : [ 1 ,2,3 ] ,"a":{"y":null,"x":true}, "n": -0.50e+3 }',
            '{"esc":"\\u00e9\\n\\t\\"q\\"","emoji":"😀","cjk":"日本語"}',
            '[\n  {"k": "v"},\n  []\n]',
            '{}',
            '{"ctl":"\\u001f\\u007f","surrogates":"\\ud83d\\ude00","slash":"\\/"}',
            '{"deep":' + '[' * 20 + ']' * 20 + '}',
        ]
        for raw in raws:
            with self.subTest(raw=raw[:40]):
                self.t = self.srv.make_tenant()  # one webhook per event
                _, _, rec = self.deliver_one(raw=raw)
                self.assertEqual(rec.body, raw.encode("utf-8"),
                                 "the delivered body must be the published data, byte for byte")

    def test_body_with_escaped_nul(self):
        """RFC 8259 allows the escape backslash-u-0000 in a string; airhook
        passes data through as bytes, so it must accept and deliver it like
        any other escape."""
        raw = '{"comment":"free text with a \\u0000 in it"}'
        _, _, rec = self.deliver_one(raw=raw)
        self.assertEqual(rec.body, raw.encode())

    def test_large_body_delivered_intact(self):
        """~1000 KB of data arrives whole and signed (Expect: 100-continue and
        all)."""
        raw = '{"blob":"%s","end":"é"}' % ("0123456789abcdef" * 62000)
        h, j, rec = self.deliver_one(raw=raw)
        self.assertEqual(len(rec.body), len(raw.encode()))
        self.assertEqual(rec.body, raw.encode())
        self.assertSignedBy(rec, h["secret"])

    def test_body_excludes_whitespace_around_data(self):
        """Only the value of "data" is sent, not the whitespace around it."""
        self.hook(self.t)
        body = ('{"communityId":"%s",\n "data" :   \t{"b":1,  "a":"é"}  \n , '
                '"triggerMetaInfoId":"%s"}' % (self.t.community_id, FREE_TRIGGER)).encode()
        j = self.assertJson(self.publish_raw(body), 202)
        rec = self.wait_received(1, event_id=j["eventId"])[0]
        self.assertEqual(rec.body, '{"b":1,  "a":"é"}'.encode())

    def test_method_and_headers(self):
        t0 = time.time()
        h, j, rec = self.deliver_one(raw='{"x":1}')
        self.assertEqual(rec.method, "POST")
        hd = rec.headers
        self.assertEqual(hd.get("content-type", "").split(";")[0].strip(), "application/json")
        self.assertRegex(hd.get("user-agent", ""), r"^airhook/\S+", "User-Agent: airhook/<version>")
        self.assertEqual(hd.get("webhook-id"), j["eventId"], "webhook-id is the event id")
        ts = hd.get("webhook-timestamp", "")
        self.assertRegex(ts, r"^\d+$", "webhook-timestamp: unix seconds")
        self.assertLessEqual(abs(int(ts) - rec.time), 5, "webhook-timestamp should be now")
        self.assertGreaterEqual(int(ts), int(t0) - 1)
        self.assertEqual(hd.get("x-airmeet-trigger"), FREE_TRIGGER)
        self.assertEqual(hd.get("x-airmeet-webhook-id"), h["id"])
        self.assertEqual(hd.get("x-airmeet-attempt"), "1")
        self.assertEqual(hd.get("content-length"), str(len(rec.body)))
        self.assertSignedBy(rec, h["secret"])
        # The request URL is the registered one, query included.
        self.assertEqual("http://127.0.0.1:%d%s" % (self.rcv.port, rec.path), h["url"])

    def test_signature_scheme(self):
        """Recompute by hand: base64(HMAC-SHA256(b64decode(secret after
        whsec_), id.timestamp.body))."""
        h, j, rec = self.deliver_one(raw='{"b":1,  "a":"é"}')
        self.assertRegex(h["secret"], WHSEC_RE)
        sig = rec.headers["webhook-signature"]
        self.assertRegex(sig, r"^v1,[A-Za-z0-9+/]+={0,2}$", "one signature: %r" % sig)
        want = sign(h["secret"], j["eventId"], rec.headers["webhook-timestamp"], rec.body)
        self.assertEqual(sig, "v1," + want)
        # It does not verify under another webhook's secret, nor for another body.
        other = self.hook(self.t)
        self.assertFalse(verifying(other["secret"], j["eventId"], rec.headers["webhook-timestamp"],
                                   rec.body, sig))
        self.assertFalse(verifying(h["secret"], j["eventId"], rec.headers["webhook-timestamp"],
                                   rec.body + b" ", sig))

    def test_each_webhook_signs_with_its_own_secret(self):
        hooks = [self.hook(self.t) for _ in range(3)]
        self.assertEqual(len({h["secret"] for h in hooks}), 3, "secrets must differ per webhook")
        j = self.publish(self.t, raw='{"k":"v"}')
        got = self.wait_received(3, event_id=j["eventId"])
        by = {h["id"]: h for h in hooks}
        for rec in got:
            self.assertSignedBy(rec, by[rec.webhook]["secret"])
            self.assertEqual(rec.body, b'{"k":"v"}')

    def test_trigger_header_for_scoped_trigger(self):
        trig = "trigger.airmeet.polls"
        h, j, rec = self.deliver_one(data={"polls": [{"question": "q", "answer": "a"}]},
                                     trigger=trig, hook_airmeet=self.t.airmeet_id,
                                     airmeet_id=self.t.airmeet_id, session_id=self.t.session_id)
        self.assertEqual(rec.headers.get("x-airmeet-trigger"), trig)
        self.assertSignedBy(rec, h["secret"])

    def test_rotation_two_signatures(self):
        h = self.hook(self.t)
        old = h["secret"]
        j1 = self.publish(self.t, raw='{"before":"rotation"}')
        r1 = self.wait_received(1, event_id=j1["eventId"])[0]
        self.assertSignedBy(r1, old, n_signatures=1)

        r = self.srv.admin("POST", "/webhooks/%s/rotate-secret" % h["id"])
        rot = self.assertJson(r, 200)
        self.assertEqual(rot.get("id"), h["id"], repr(rot))
        new = rot.get("secret")
        self.assertRegex(new or "", WHSEC_RE)
        self.assertNotEqual(new, old)
        self.assertTimestamp(rot.get("previousSecretValidUntil"), "previousSecretValidUntil")

        j2 = self.publish(self.t, raw='{"after":"rotation"}')
        r2 = self.wait_received(1, event_id=j2["eventId"])[0]
        sig = r2.headers.get("webhook-signature", "")
        self.assertEqual(len(signatures(sig)), 2, "two space-separated signatures: %r" % sig)
        ts, eid = r2.headers["webhook-timestamp"], j2["eventId"]
        by_new = verifying(new, eid, ts, r2.body, sig)
        by_old = verifying(old, eid, ts, r2.body, sig)
        self.assertEqual(len(by_new), 1, "exactly one signature verifies with the new secret: %r" % sig)
        self.assertEqual(len(by_old), 1, "exactly one signature verifies with the old secret: %r" % sig)
        self.assertNotEqual(by_new, by_old)

    def test_rotate_unknown_webhook_404(self):
        r = self.srv.admin("POST", "/webhooks/%s/rotate-secret" % uuid.uuid4())
        self.assertAdminError(r, 404)

    def test_rotation_valid_for_24h(self):
        h = self.hook(self.t)
        rot = self.assertJson(self.srv.admin("POST", "/webhooks/%s/rotate-secret" % h["id"]), 200)
        until = rot["previousSecretValidUntil"]
        t = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%S.%f+00:00").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertAlmostEqual(t - time.time(), 24 * 3600, delta=600, msg="overlap is 24 h: %s" % until)


class DeliveryIPv6Tests(DeliveryTestCase):
    """A receiver on ::1, opened by --allow-net ::1/128."""

    @classmethod
    def setUpClass(cls):
        if not ipv6_loopback_available():
            raise unittest.SkipTest("no IPv6 loopback (::1) on this machine")
        super().setUpClass()
        cls.rcv6 = Receiver("::1").start()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.rcv6.stop()

    def test_delivery_to_ipv6_loopback(self):
        t = self.srv.make_tenant()
        h = self.hook(t, rcv=self.rcv6)
        self.assertIn("[::1]", h["url"])
        j = self.publish(t, raw='{"v6":true}')
        rec = self.wait_received(1, event_id=j["eventId"], rcv=self.rcv6)[0]
        self.assertEqual(rec.body, b'{"v6":true}')
        self.assertSignedBy(rec, h["secret"])


if __name__ == "__main__":
    unittest.main()
