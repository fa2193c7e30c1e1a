# SPDX-License-Identifier: MIT
"""Retries, failures and webhook health (SPEC §6): the retry schedule,
attempt records, Retry-After, redirects, 410, --disable-after, connection
errors, timeouts and isolation between webhooks.

Timing assertions measure gaps between arrivals at the receiver.  Only the
lower bounds are tight (schedule step minus 10 % jitter minus a small
tolerance); upper bounds are generous so a slow machine does not fail them.
"""

import email.utils
import re
import time
import unittest
import urllib.parse

from deliverykit import (DeliveryTestCase, DELIVERY_ARGS, LOOPBACK, TIMEOUT, free_port)
from receiver import body_pattern, wait_for

TOL = 0.03  # seconds of slack under a lower bound (timer granularity, clocks)


def gaps(recs):
    return [b.mono - a.mono for a, b in zip(recs, recs[1:])]


class RetryTests(DeliveryTestCase):
    """Schedule 0,200ms,400ms: three attempts, the last ~0.6 s after the first."""

    def setUp(self):
        self.t = self.srv.make_tenant()

    def fail_all(self, path, attempts=3, timeout=10):
        """One event to one webhook at path; waits until it failed; returns
        (hook, event json, delivery with attempts, received requests)."""
        h = self.hook(self.t, path=path)
        j = self.publish(self.t, raw='{"fail":"%s"}' % path.replace('"', ""))
        d = self.one_delivery_of(j["eventId"], h["id"])
        d = self.wait_status(d["id"], "failed", timeout)
        recs = self.rcv.requests(event_id=j["eventId"], webhook=h["id"])
        return h, j, d, recs

    def test_flaky_succeeds_on_third_attempt(self):
        h = self.hook(self.t, path="/flaky?fail=2")
        j = self.publish(self.t, raw='{"flaky":true}')
        recs = self.wait_received(3, event_id=j["eventId"])
        self.assertEqual([r.answer for r in recs], [500, 500, 200])
        self.assertEqual([r.headers.get("x-airmeet-attempt") for r in recs], ["1", "2", "3"])
        for r in recs:
            self.assertEqual(r.event_id, j["eventId"], "webhook-id is the same on every retry")
            self.assertEqual(r.body, b'{"flaky":true}')
            self.assertSignedBy(r, h["secret"])
        g = gaps(recs)
        self.assertGreaterEqual(g[0], 0.2 * 0.9 - TOL, "second attempt came too early: %r" % g)
        self.assertGreaterEqual(g[1], 0.4 * 0.9 - TOL, "third attempt came too early: %r" % g)
        d = self.one_delivery_of(j["eventId"])
        d = self.wait_status(d["id"], "succeeded")
        self.assertDeliveryShape(d)
        self.assertEqual(d["attemptCount"], 3, repr(d))
        self.assertEqual(d["lastStatusCode"], 200, repr(d))
        codes = [a["statusCode"] for a in d["attempts"]]
        self.assertEqual(codes, [500, 500, 200], repr(d["attempts"]))
        # SPEC §7: one JSON log line per attempt on stderr.
        logs = wait_for(lambda: (lambda l: l if len(l) >= 3 else None)(
            [r for r in self.srv.log_records() if d["id"] in r.values()]), 5)
        self.assertTrue(logs, "no JSON log line per attempt naming delivery %s on stderr" % d["id"])
        self.assertEqual(len(logs), 3, "one log line per attempt: %r" % logs)
        self.assertNothingMore(lambda: self.rcv.count(event_id=j["eventId"]), 3, quiet=0.5)

    def test_exhausted_schedule_fails_with_every_attempt_recorded(self):
        h, j, d, recs = self.fail_all("/status/500?size=5000")
        self.assertDeliveryShape(d)
        self.assertEqual(d["attemptCount"], 3, "three attempts in schedule 0,200ms,400ms: %r" % d)
        self.assertEqual(d["lastStatusCode"], 500)
        self.assertIsNone(d["nextAttemptAt"])
        atts = d.get("attempts")
        self.assertIsInstance(atts, list, repr(d))
        self.assertEqual(len(atts), 3, repr(atts))
        self.assertEqual([a["attempt"] for a in atts], [1, 2, 3])
        want_body = body_pattern(5000)[:1024].decode()
        for a in atts:
            self.assertAttemptShape(a)
            self.assertEqual(a["statusCode"], 500, repr(a))
            self.assertIsInstance(a["responseBody"], str, repr(a)[:300])
            self.assertLessEqual(len(a["responseBody"].encode()), 1024, "responseBody is at most 1 KiB")
            self.assertEqual(a["responseBody"], want_body, "the first 1 KiB of the answer")
        starts = [a["startedAt"] for a in atts]
        self.assertEqual(starts, sorted(starts), "attempts in order")
        self.assertEqual(len(recs), 3, "the receiver got each attempt once: %r" % recs)
        self.assertEqual([r.attempt for r in recs], [1, 2, 3])
        g = gaps(recs)
        self.assertGreaterEqual(g[0], 0.18 - TOL, repr(g))
        self.assertGreaterEqual(g[1], 0.36 - TOL, repr(g))
        self.assertLess(sum(g), 5.0, repr(g))
        self.assertNothingMore(lambda: self.rcv.count(event_id=j["eventId"]), 3, quiet=0.6)

    def test_response_body_cut_inside_a_character(self):
        """The 1 KiB cut falls inside a 2-byte character: the attempt still
        reads back as valid JSON, at most 1024 bytes, the text before the cut
        intact."""
        h, j, d, recs = self.fail_all("/status/500?size=1500&fill=" + urllib.parse.quote("éa"))
        rb = d["attempts"][0]["responseBody"]
        self.assertLessEqual(len(rb.encode("utf-8")), 1024, repr(rb[-10:]))
        self.assertGreaterEqual(len(rb.encode("utf-8")), 1020, "the first 1 KiB, not less")
        self.assertTrue(("éa" * 400).startswith(rb.rstrip("?\ufffd")), repr(rb[-10:]))

    def test_4xx_is_retried_too(self):
        for code in (400, 404):
            with self.subTest(code=code):
                self.t = self.srv.make_tenant()
                h, j, d, recs = self.fail_all("/status/%d" % code)
                self.assertEqual(d["attemptCount"], 3, repr(d))
                self.assertEqual(d["lastStatusCode"], code)
                self.assertEqual(len(recs), 3)

    def test_2xx_other_than_200_is_success(self):
        for code in (201, 204, 299):
            with self.subTest(code=code):
                h = self.hook(self.t, path="/status/%d" % code)
                j = self.publish(self.t)
                d = self.one_delivery_of(j["eventId"], h["id"])
                d = self.wait_status(d["id"], "succeeded")
                self.assertEqual(d["attemptCount"], 1)
                self.assertEqual(d["lastStatusCode"], code)
                # New tenant per code so later events do not fan out to this hook.
                self.t = self.srv.make_tenant()

    def check_retry_after_capped(self, path):
        h = self.hook(self.t, path=path)
        j = self.publish(self.t)
        recs = self.wait_received(3, event_id=j["eventId"], timeout=10)
        g = gaps(recs)
        # Retry-After: 1 is honoured but capped at the longest step, 400 ms.
        for x in g:
            self.assertGreaterEqual(x, 0.4 * 0.9 - TOL,
                                    "Retry-After not honoured (gap %.3f s < capped 0.4 s): %r" % (x, g))
            self.assertLess(x, 0.85, "Retry-After: 1 not capped at the longest step 400 ms "
                                     "(gaps %r)" % g)
        d = self.wait_status(self.one_delivery_of(j["eventId"])["id"], "failed")
        self.assertEqual(d["lastStatusCode"], int(path[1:4]))
        self.assertEqual(d["attemptCount"], 3)

    def test_429_retry_after_capped_at_longest_step(self):
        self.check_retry_after_capped("/429?after=1")

    def test_503_retry_after_capped_at_longest_step(self):
        self.check_retry_after_capped("/503?after=1")

    def test_redirect_not_followed(self):
        h, j, d, recs = self.fail_all("/redirect")
        self.assertEqual(d["lastStatusCode"], 302, repr(d))
        self.assertEqual(d["attemptCount"], 3)
        self.assertEqual([a["statusCode"] for a in d["attempts"]], [302, 302, 302])
        self.assertEqual(self.rcv.count(event_id=j["eventId"], route="/ok"), 0,
                         "the redirect was followed to /ok")
        self.assertEqual({r.route for r in recs}, {"/redirect"})

    def test_connection_reset_is_an_error_and_retried(self):
        h, j, d, recs = self.fail_all("/reset")
        # libcurl may re-send a request whose reused keep-alive connection was
        # reset before any answer (it takes the connection for a stale one),
        # so one attempt can arrive more than once; every attempt arrives.
        self.assertGreaterEqual(len(recs), 3, "each attempt reached the receiver: %r" % recs)
        self.assertEqual(sorted({r.attempt for r in recs}), [1, 2, 3], repr(recs))
        self.assertEqual(d["attemptCount"], 3, repr(d))
        self.assertEqual(len(d["attempts"]), 3, repr(d))
        self.assertIsNone(d["lastStatusCode"], "no HTTP answer: lastStatusCode null: %r" % d)
        self.assertTrue(d["lastError"], "lastError should say what happened: %r" % d)
        for a in d["attempts"]:
            self.assertAttemptShape(a)
            self.assertIsNone(a["statusCode"], repr(a))
            self.assertIsInstance(a["error"], str, repr(a))
            self.assertTrue(a["error"], repr(a))
        self.assertServerUp()

    def test_refused_port_is_an_error_and_retried(self):
        port = free_port()
        h = self.hook(self.t, url="http://127.0.0.1:%d/ok" % port)
        j = self.publish(self.t)
        d = self.wait_status(self.one_delivery_of(j["eventId"])["id"], "failed")
        self.assertEqual(d["attemptCount"], 3, repr(d))
        self.assertIsNone(d["lastStatusCode"])
        for a in d["attempts"]:
            self.assertIsNone(a["statusCode"], repr(a))
            self.assertRegex(a["error"] or "", re.compile(r"refus|connect", re.I),
                             "attempt error should say the connection was refused: %r" % a)
        self.assertServerUp()

    def test_410_disables_webhook_at_once(self):
        h = self.hook(self.t, path="/gone")
        other = self.hook(self.t)  # same community and trigger, stays healthy
        j = self.publish(self.t)
        self.wait_received(1, event_id=j["eventId"], webhook=h["id"])
        w = wait_for(lambda: (lambda v: v if v["isActive"] is False else None)(
            self.webhook_view(h["id"])), 5)
        self.assertTrue(w, "webhook still active after a 410: %r" % self.webhook_view(h["id"]))
        self.assertIsInstance(w.get("disabledReason"), str, repr(w))
        self.assertTrue(w["disabledReason"], repr(w))
        d = self.one_delivery_of(j["eventId"], h["id"])
        d = self.wait_delivery(d["id"], lambda d: d["status"] != "pending", 5, "settled")
        self.assertEqual(d["status"], "failed", repr(d))
        self.assertEqual(d["lastStatusCode"], 410)
        self.assertNothingMore(lambda: self.rcv.count(event_id=j["eventId"], webhook=h["id"]), 1,
                               quiet=0.7, what="attempts after 410")
        # Not listed as active any more.
        tok = self.t.auth()
        r = self.srv.public("GET", "/platform-integration/v1/webhook-list",
                            headers={"X-Airmeet-Access-Token": tok})
        listed = {x["id"]: x for x in self.assertJson(r, 200)["webhookDTOList"]}
        if h["id"] in listed:
            self.assertIs(listed[h["id"]]["isActive"], False)
        self.assertIn(other["id"], listed)
        # Later events reach only the healthy webhook.
        j2 = self.publish(self.t)
        self.assertEqual(j2["deliveries"], 1, repr(j2))
        self.wait_received(1, event_id=j2["eventId"], webhook=other["id"])
        self.assertEqual(self.rcv.count(webhook=h["id"]), 1)

    def test_reenable_after_410(self):
        h = self.hook(self.t, path="/gone")
        self.publish(self.t)
        self.assertTrue(wait_for(lambda: self.webhook_view(h["id"])["isActive"] is False, 5))
        w = self.assertJson(self.srv.admin("POST", "/webhooks/%s/enable" % h["id"]), 200)
        self.assertIs(w["isActive"], True, repr(w))
        w = self.webhook_view(h["id"])
        self.assertIs(w["isActive"], True)
        self.assertIsNone(w.get("disabledReason"), "enabling clears the reason: %r" % w)
        j = self.publish(self.t)
        self.assertEqual(j["deliveries"], 1)


class RetryAfterHonouredTests(DeliveryTestCase):
    """Retry-After below the cap is honoured (steps 0,100ms,3s: a Retry-After
    of 1 s moves the second attempt to ~1 s, not 100 ms), in both of its
    forms (delay-seconds and HTTP-date, RFC 9110 §10.2.3); one above the cap
    waits the longest step, 3 s."""

    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,100ms,3s",
                   "--delivery-timeout", TIMEOUT)

    def test_retry_after(self):
        t = self.srv.make_tenant()
        # An HTTP-date has whole seconds: this one is 1.5-2.5 s from now, and
        # the second attempt may not come before it, however late the first
        # came (the machine may be slow to set the tenants up): its lower
        # bound is taken from the first attempt's own time (None below).
        when = int(time.time() + 2.5)
        date = email.utils.formatdate(when, usegmt=True)
        wall_minus_mono = time.time() - time.monotonic()  # the receiver stamps time.monotonic()
        cases = [  # path, lower bound, upper bound of the gap (s), what
            ("/429?after=1", 0.9 - TOL, 2.7, "429 delay-seconds"),
            ("/503?after=1", 0.9 - TOL, 2.7, "503 delay-seconds"),
            ("/429?after=" + urllib.parse.quote(date), None, 2.9, "429 HTTP-date"),
            ("/503?after=86400", 2.7 - TOL, 8.0, "a day, capped at 3 s"),
            ("/503?after=99999999999999999999", 2.7 - TOL, 8.0, "overflowing, capped at 3 s"),
        ]
        hooks = []
        for path, lo, hi, what in cases:  # all at once: the test lasts ~3 s
            t = self.srv.make_tenant()
            h = self.hook(t, path=path)
            j = self.publish(t)
            hooks.append((h, j))
        for (path, lo, hi, what), (h, j) in zip(cases, hooks):
            with self.subTest(what):
                recs = self.wait_received(2, event_id=j["eventId"], webhook=h["id"], timeout=10)
                g = recs[1].mono - recs[0].mono
                if lo is None:  # not before the date, and not before the schedule's 100 ms
                    lo = max(0.1, when - (recs[0].mono + wall_minus_mono)) - TOL
                self.assertGreaterEqual(g, lo, "Retry-After (%s: %s) not honoured: gap %.3f s" % (
                    what, urllib.parse.unquote(path), g))
                self.assertLess(g, hi, "gap %.3f s" % g)
        for h, _ in hooks:  # stop them from retrying further
            self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % h["id"]), 200)


class DisableAfterTests(DeliveryTestCase):
    """--disable-after 1s: a webhook whose deliveries have all failed for 1 s
    is disabled."""

    SERVER_ARGS = ("--allow-net", LOOPBACK, "--retry-schedule", "0,300ms,300ms,300ms,300ms,300ms",
                   "--delivery-timeout", TIMEOUT, "--disable-after", "1s")

    def test_failing_webhook_disabled(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/status/500")
        j = self.publish(t)
        d = self.one_delivery_of(j["eventId"])
        self.wait_delivery(d["id"], lambda d: d["attemptCount"] >= 1, 5, "first attempt")
        w = self.webhook_view(h["id"])
        self.assertIn("failingSince", w, repr(w))
        self.assertTimestamp(w["failingSince"], "failingSince after a failed attempt")
        w = wait_for(lambda: (lambda v: v if v["isActive"] is False else None)(
            self.webhook_view(h["id"])), 8)
        self.assertTrue(w, "webhook failing for > 1 s not disabled: %r" % self.webhook_view(h["id"]))
        self.assertTrue(w.get("disabledReason"), repr(w))
        recs = self.rcv.requests(webhook=h["id"])
        self.assertGreaterEqual(recs[-1].mono - recs[0].mono, 1.0 * 0.9 - TOL,
                                "disabled before failing for 1 s: %r" % recs)
        j2 = self.publish(t)
        self.assertEqual(j2["deliveries"], 0, "a disabled webhook gets no new deliveries")

    def test_recovering_webhook_not_disabled(self):
        t = self.srv.make_tenant()
        h = self.hook(t, path="/flaky?fail=1")
        j = self.publish(t)
        d = self.wait_status(self.one_delivery_of(j["eventId"])["id"], "succeeded", 8)
        self.assertEqual(d["attemptCount"], 2)
        w = self.webhook_view(h["id"])
        self.assertIs(w["isActive"], True)
        self.assertIsNone(w.get("failingSince"), "a success ends the failing period: %r" % w)


class IsolationTests(DeliveryTestCase):
    """A stalled receiver never delays the others (SPEC §6), and the per
    webhook concurrency cap holds."""

    SERVER_ARGS = DELIVERY_ARGS + ("--webhook-concurrency", "4")

    def test_stalled_webhook_does_not_delay_others(self):
        t = self.srv.make_tenant()
        stall = self.hook(t, path="/stall?s=5")
        ok = self.hook(t, path="/ok")
        n = 20
        acks = []
        for i in range(n):
            j = self.publish(t, data={"i": i})
            self.assertEqual(j["deliveries"], 2)
            acks.append((j["eventId"], time.monotonic()))
        got = self.wait_received(n, webhook=ok["id"], timeout=10)
        arrival = {r.event_id: r.mono for r in got}
        late = [(eid, round(arrival[eid] - t_ack, 3)) for eid, t_ack in acks
                if arrival[eid] - t_ack > 1.2]
        self.assertEqual(late, [], "deliveries to the healthy webhook waited behind the stalled one")
        self.assertLess(max(arrival.values()) - acks[0][1], 2.0 + 0.2 * n,
                        "all healthy deliveries should land long before the stalls end")
        # The timeout: the first stalled attempt ends with an error after ~2 s.
        ds = self.all_deliveries("webhooks", stall["id"])
        self.assertEqual(len(ds), n)
        self.wait_received(1, webhook=stall["id"])
        first = self.rcv.requests(webhook=stall["id"])[0].event_id
        d = self.one_delivery_of(first, stall["id"])
        d = self.wait_delivery(d["id"], lambda d: d["attemptCount"] >= 1 and d.get("attempts"), 6,
                               "first attempt recorded")
        a = d["attempts"][0]
        self.assertIsNone(a["statusCode"], "a timed-out attempt has no status: %r" % a)
        self.assertTrue(a["error"], repr(a))
        self.assertRegex(a["error"], re.compile(r"time", re.I), "error should name the timeout: %r" % a)
        self.assertGreaterEqual(a["durationMs"], 1800, repr(a))
        self.assertLess(a["durationMs"], 4800, "--delivery-timeout 2s not applied: %r" % a)
        # The cap: at most 4 requests at once at the stalled receiver, whose
        # attempts only end by the 2 s delivery timeout: within 1.9 s of the
        # first one, at most 4 arrive.
        srecs = self.rcv.requests(webhook=stall["id"])
        self.assertGreaterEqual(len(srecs), 1)
        stalled = len([r for r in srecs if r.mono < srecs[0].mono + 1.9])
        self.assertLessEqual(stalled, 4, "--webhook-concurrency 4 exceeded: %d in flight" % stalled)
        # Clean up: deregistering cancels the stalled webhook's pending work.
        r = self.srv.public("POST", "/platform-integration/v1/webhook-deregister",
                            headers=t.key_headers(),
                            json_body={"id": stall["id"], "triggerMetaInfoId": stall["triggerMetaInfoId"],
                                       "url": stall["url"]})
        self.assertJson(r, 200)


if __name__ == "__main__":
    unittest.main()
