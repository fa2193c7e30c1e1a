# SPDX-License-Identifier: MIT
"""SSRF at connect time (SPEC §6): "a URL whose host resolves to a loopback,
private, link-local, multicast, unspecified or metadata address is refused --
checked on the resolved address at connect time, not only at registration".

To get such URLs past registration, they are registered on a server started
with --allow-private-targets that publishes nothing; it is stopped and a
second server is started on the same database WITHOUT any allow flag.  Events
published there must reach nobody: the loopback receiver gets nothing and
every attempt records an error.

Loopback targets are checked first; only if none of them got through are the
non-loopback ones (10/8, 172.16/12, 192.168/16, 169.254.169.254, fc00::/7)
published, so a broken guard cannot send packets off this machine.
"""

import re
import shutil
import tempfile
import unittest
import uuid

from deliverykit import DeliveryMixin, SCHEDULE, TIMEOUT, ipv6_loopback_available
from harness import Server, ServerTestCase, Tenant
from receiver import Receiver

REFUSAL_RE = re.compile(r"refus|forbid|block|not allowed|disallow|denied|private|loopback|"
                        r"link-local|unspecified|metadata|reserved|ssrf|unique local|policy", re.I)

LOOPBACK_TRIGGER = "trigger.airmeet.created"
PRIVATE_TRIGGER = "trigger.airmeet.started"


class SsrfConnectTimeTests(DeliveryMixin, ServerTestCase):

    @classmethod
    def setUpClass(cls):
        unittest.TestCase.setUpClass()
        cls.srv = None
        cls.workdir = tempfile.mkdtemp(prefix="airhook-ssrf-")
        cls.rcv = Receiver().start()
        cls.rcv6 = Receiver("::1").start() if ipv6_loopback_available() else None
        cls.token = "adm_" + uuid.uuid4().hex
        p = cls.rcv.port
        cls.loopback_urls = [
            "http://127.0.0.1:%d/ok" % p,
            "http://localhost:%d/ok" % p,
            "http://2130706433:%d/ok" % p,
            "http://0.0.0.0:%d/ok" % p,
            "http://127.1.2.3:%d/ok" % p,
            "http://[::ffff:127.0.0.1]:%d/ok" % p,
        ]
        if cls.rcv6:
            cls.loopback_urls.append("http://[::1]:%d/ok" % cls.rcv6.port)
        cls.private_urls = [
            "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/", "http://[fc00::1]/",
        ]
        try:
            a = Server(("--allow-private-targets",), admin_token=cls.token, workdir=cls.workdir).start()
            try:
                cls.t = Tenant.create(a)
                cls.hooks = {}
                for trig, urls in ((LOOPBACK_TRIGGER, cls.loopback_urls),
                                   (PRIVATE_TRIGGER, cls.private_urls)):
                    for u in urls:
                        r = cls.t.register(trig, url=u, expect=None)
                        if r.status != 200:
                            raise AssertionError("registration of %s with --allow-private-targets: %r" % (u, r))
                        cls.hooks[u] = r.json["payload"]
            finally:
                a.stop(remove=False)
            cls.srv = Server(("--retry-schedule", SCHEDULE, "--delivery-timeout", TIMEOUT),
                             admin_token=cls.token, workdir=cls.workdir).start()
            cls.t.srv = cls.srv
        except BaseException:
            cls._teardown()
            raise

    @classmethod
    def _teardown(cls):
        try:
            if cls.srv is not None:
                srv, cls.srv = cls.srv, None
                srv.stop(remove=False)
        finally:
            cls.rcv.stop()
            if cls.rcv6:
                cls.rcv6.stop()
            shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._teardown()

    def received(self):
        return self.rcv.total() + (self.rcv6.total() if self.rcv6 else 0)

    def check_refused(self, trigger, urls):
        j = self.publish(self.t, trigger=trigger, data={"ssrf": True})
        self.assertEqual(j["deliveries"], len(urls), repr(j))
        ds = self.wait_event_settled(j["eventId"], len(urls), timeout=20)
        by_hook = {self.hooks[u]["id"]: u for u in urls}
        for d in ds:
            url = by_hook[d["webhookId"]]
            with self.subTest(url=url):
                self.assertEqual(d["status"], "failed", repr(d))
                self.assertIsNone(d["lastStatusCode"], "no HTTP answer may exist: %r" % d)
                d = self.delivery(d["id"])
                self.assertTrue(d["attempts"], repr(d))
                for a in d["attempts"]:
                    self.assertIsNone(a["statusCode"], repr(a))
                    self.assertRegex(a["error"] or "", REFUSAL_RE,
                                     "attempt error should say the target was refused: %r" % a)
        return j

    def test_refused_at_connect_time(self):
        # Loopback first: the receiver must get nothing.
        self.check_refused(LOOPBACK_TRIGGER, self.loopback_urls)
        got = self.received()
        if got:
            self.fail("SSRF guard let %d request(s) through to the loopback receiver: %r%r; "
                      "not publishing to the private ranges" % (
                          got, self.rcv.snapshot(), self.rcv6.snapshot() if self.rcv6 else []))
        # Then the private, link-local, metadata and ULA ranges.
        self.check_refused(PRIVATE_TRIGGER, self.private_urls)
        self.assertEqual(self.received(), 0)
        self.assertServerUp()

    def test_registration_without_allowlist(self):
        """On the guarded server, registration may refuse these at once (400)
        or accept them (the check is at connect time); accepted ones must not
        get through either."""
        t = self.srv.make_tenant()
        accepted = {}
        for u in self.loopback_urls:
            r = t.register(LOOPBACK_TRIGGER, url=u, expect=None)
            with self.subTest(url=u):
                self.assertIn(r.status, (200, 400), repr(r))
                if r.status == 200:
                    accepted[u] = r.json["payload"]
        if not accepted:
            return
        self.hooks.update(accepted)
        before = self.received()
        j = self.publish(t, trigger=LOOPBACK_TRIGGER)
        self.assertEqual(j["deliveries"], len(accepted))
        self.wait_event_settled(j["eventId"], len(accepted), timeout=20)
        self.assertEqual(self.received(), before, "loopback receiver was reached")


if __name__ == "__main__":
    unittest.main()
