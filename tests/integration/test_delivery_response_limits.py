# SPDX-License-Identifier: MIT
"""What is read of a receiver's answer (docs/delivery.md, "Limits").

A receiver answering 100 MB used to be read in full (~0.9 s of the
dispatcher's network thread per attempt) although only the first 1 KiB is
kept; now the transfer stops after 16 KiB of body, its connection is closed,
and the attempt counts by its status code.  Measured by what the receiver's
socket managed to take (loopback buffers hold a few MB), not by time.

A 20 MB response header was recorded as "Out of memory"; now the attempt says
what happened: the response headers are over 64 KiB.  Headers over 64 KiB in
many ordinary lines are cut by airhook's own count.
"""

import sys

from deliverykit import DeliveryTestCase
from receiver import Receiver, wait_for

MB = 1 << 20
BIG = 100 * MB
# What loopback socket buffers can hold, with room: far below BIG.
SENT_BOUND = 32 * MB


def report(msg):
    sys.stdout.write("\n[response-limits] %s\n" % msg)
    sys.stdout.flush()


class ResponseLimitTests(DeliveryTestCase):

    def attempt_of(self, hook, event_id, status):
        d = self.one_delivery_of(event_id, hook["id"])
        d = self.wait_status(d["id"], status, timeout=20)
        self.assertGreaterEqual(len(d["attempts"]), 1, repr(d))
        return d, d["attempts"][0]

    def streamed(self, hook, event_id):
        rec = self.wait_received(1, event_id=event_id, webhook=hook["id"])[0]
        self.assertTrue(wait_for(lambda: rec.done, 40), "the receiver is still writing")
        return rec

    def test_a_100_mb_answer_is_not_read_whole(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/big?bytes=%d" % BIG)
        j = self.publish(t)
        d, a = self.attempt_of(h, j["eventId"], "succeeded")
        rec = self.streamed(h, j["eventId"])
        report("a 100 MB answer: the receiver's socket took %.1f MB; attempt %d ms" % (
            rec.sent / MB, a["durationMs"]))
        self.assertEqual(a["statusCode"], 200, repr(a))
        self.assertFalse(a["error"], repr(a))
        self.assertEqual(a["responseBody"], "x" * 1024)
        self.assertLess(rec.sent, SENT_BOUND,
                        "airhook read %.1f MB of a 100 MB answer" % (rec.sent / MB))

        # The cut connection is not reused: the next attempt has its own, and is answered.
        ok = self.hook(t, path="/ok")
        j2 = self.publish(t)
        nxt = self.wait_received(1, event_id=j2["eventId"], webhook=ok["id"])[0]
        self.assertNotEqual(nxt.peer, rec.peer, "the connection of a cut answer was reused")
        self.wait_event_settled(j2["eventId"], 2, timeout=20)

    def test_a_big_failing_answer_counts_by_its_status(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/big?code=503&bytes=%d" % BIG)
        j = self.publish(t)
        d = self.one_delivery_of(j["eventId"], h["id"])
        d = self.wait_delivery(d["id"], lambda x: x["attempts"], timeout=20, what="an attempt")
        a = d["attempts"][0]
        self.assertEqual(a["statusCode"], 503, repr(a))
        self.assertEqual(a["error"], "the receiver answered HTTP 503", repr(a))
        rec = self.streamed(h, j["eventId"])
        self.assertLess(rec.sent, SENT_BOUND)

    def test_a_20_mb_header_says_what_happened(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/bigheader?bytes=%d" % (20 * MB))
        j = self.publish(t)
        d = self.one_delivery_of(j["eventId"], h["id"])
        d = self.wait_delivery(d["id"], lambda x: x["attempts"], timeout=20, what="an attempt")
        a = d["attempts"][0]
        rec = self.streamed(h, j["eventId"])
        report("a 20 MB header: recorded %r; the receiver's socket took %.1f MB" % (
            a["error"], rec.sent / MB))
        self.assertNotIn("memory", (a["error"] or "").lower(), repr(a))
        self.assertEqual(a["error"], "the receiver's response headers are over 64 KiB", repr(a))
        self.assertFalse(a["statusCode"], repr(a))
        self.assertLess(rec.sent, SENT_BOUND)

    def test_many_header_lines_over_64_kib(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/manyheaders?count=200&size=1000")
        j = self.publish(t)
        d = self.one_delivery_of(j["eventId"], h["id"])
        d = self.wait_delivery(d["id"], lambda x: x["attempts"], timeout=20, what="an attempt")
        a = d["attempts"][0]
        self.assertEqual(a["error"], "the receiver's response headers are over 64 KiB", repr(a))

    def test_an_answer_within_the_limits_is_read_and_kept_alive(self):
        # A receiver of its own, so the only connection to it is the first answer's.
        rcv = Receiver().start()
        self.addCleanup(rcv.stop)
        t = self.srv.make_tenant()
        h = self.hook(t, path="/ok?size=12000", rcv=rcv)
        recs = []
        for _ in range(2):  # one after the other, so the second can take the first's connection
            j = self.publish(t)
            recs.append(self.wait_received(1, event_id=j["eventId"], webhook=h["id"], rcv=rcv)[0])
            d, a = self.attempt_of(h, j["eventId"], "succeeded")
            self.assertEqual(len(a["responseBody"]), 1024)
        r1, r2 = recs
        self.assertEqual(r1.peer, r2.peer, "a 12 KB answer should leave its connection usable")
