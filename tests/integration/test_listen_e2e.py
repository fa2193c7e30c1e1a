# SPDX-License-Identifier: MIT
"""`airhook listen` end to end: a real `airhook serve`, a real local receiver
(receiver.py) and the real CLI between them, its connection to the server
through a TCP proxy (listenkit.Proxy) that the tests cut.  Events published
through the admin API all arrive, signed with the secret the CLI printed; a
500 from the receiver becomes a failed attempt that is retried through the
listener; a stream killed mid-flight, several times, loses nothing; Ctrl-C
deletes the listener (its webhooks are gone)."""

import json
import re
import threading
import time

import harness
from deliverykit import DeliveryMixin, verifying
from harness import ServerTestCase
from listenkit import Cli, Proxy, cli_env
from receiver import Receiver, wait_for

CREATED = "trigger.airmeet.created"
ADDED = "trigger.airmeet.registrant.added"
READY_RE = r"Ready\. Signing secret: (whsec_\S+) \(listener (\S+)\)"


class ListenEndToEndTests(DeliveryMixin, ServerTestCase):
    # A short retry schedule; results must come back within the delivery timeout.
    SERVER_ARGS = ("--retry-schedule", "0,500ms,500ms,500ms,500ms,500ms",
                   "--delivery-timeout", "5s")

    def setUp(self):
        self.rcv = Receiver().start()
        self.addCleanup(self.rcv.stop)
        self.t = self.srv.make_tenant()
        self.proxy = Proxy(self.srv.host, self.srv.port)
        self.addCleanup(self.proxy.stop)
        self.base_url = "http://127.0.0.1:%d%s" % (self.proxy.port, self.srv.base_path())
        self.env = cli_env(AIRHOOK_ACCESS_KEY=self.t.access_key,
                           AIRHOOK_SECRET_KEY=self.t.secret_key, AIRHOOK_BASE_URL=self.base_url)

    def listen(self, *args):
        cli = Cli(harness.BINARY, ["listen", "--airmeet", self.t.airmeet_id,
                                   "--forward-timeout", "3"] + list(args), self.env)
        self.addCleanup(cli.kill)
        m = cli.wait_line(READY_RE, 20)
        self.assertTrue(m, cli.describe() + "\nserver:\n" + self.srv.stderr_tail(30))
        return cli, m.group(1), m.group(2)

    def publish_event(self, trigger=CREATED, data=None):
        j = self.publish(self.t, trigger=trigger, airmeet_id=self.t.airmeet_id,
                         data=data or {"n": time.time()})
        return j["eventId"], j["deliveries"]

    def assertSigned(self, rec, secret):
        h = rec.headers
        self.assertTrue(verifying(secret, h["webhook-id"], h["webhook-timestamp"], rec.body,
                                  h.get("webhook-signature")),
                        "the signature verifies with the printed secret: %r" % h)

    def test_every_event_arrives_signed_and_a_500_is_retried(self):
        cli, secret, lid = self.listen("--forward-to", self.rcv.url("/ok"),
                                       "--forward-to", "registrant.added=" +
                                       self.rcv.url("/flaky?fail=1"))
        out = Cli(harness.BINARY, ["listen", "--print-secret"], self.env)
        self.addCleanup(out.kill)
        self.assertEqual(out.proc.wait(timeout=20), 0, out.describe())
        out.kill()
        self.assertEqual(out.stdout(), secret, "--print-secret prints the listener secret")

        events = []
        for i in range(5):
            eid, n = self.publish_event(data={"i": i, "text": "caf\u00e9"})
            self.assertEqual(n, 1, "one delivery, to the listener's webhook")
            events.append(eid)
        for eid in events:
            got = self.wait_received(1, event_id=eid, route="/ok")
            self.assertSigned(got[0], secret)
            self.assertEqual(json.loads(got[0].body)["text"], "caf\u00e9")

        # A 500 from the laptop is a failed attempt, retried through the listener.
        flaky, n = self.publish_event(ADDED, {"email": "ada@example.com"})
        self.assertEqual(n, 1)
        got = self.wait_received(2, event_id=flaky, route="/flaky", timeout=20)
        self.assertEqual([r.answer for r in got[:2]], [500, 200])
        self.assertEqual(got[0].body, got[1].body, "the same body both times")
        for r in got:
            self.assertSigned(r, secret)
        d = self.one_delivery_of(flaky)
        d = self.wait_status(d["id"], "succeeded", timeout=20)
        self.assertEqual(d["attemptCount"], 2, d)
        attempts = d.get("attempts") or []
        if attempts:
            self.assertEqual([a["statusCode"] for a in attempts], [500, 200], d)
        self.assertTrue(cli.wait_line(r"%s  %s  500  \d+ ms" % (re.escape(ADDED), flaky), 10),
                        cli.describe())
        self.assertTrue(cli.wait_line(r"%s  %s  200  \d+ ms  \(attempt 2\)" % (re.escape(ADDED),
                                                                                flaky), 10),
                        cli.describe())
        for eid in events:
            self.wait_status(self.one_delivery_of(eid)["id"], "succeeded")

        # Ctrl-C deletes the listener: new events have nowhere to go.
        self.assertEqual(cli.interrupt(), 0, cli.describe())
        self.assertIn("Listener %s deleted." % lid, cli.stderr())
        self.assertIn("Forwarded 7 deliveries: 6 answered 2xx, 1 answered another status", cli.stderr())
        _, n = self.publish_event()
        self.assertEqual(n, 0, "the listener's webhooks are deregistered")
        self.assertFalse(harness.sanitizer_reports(cli.stderr()), cli.stderr())

    def test_events_of_an_offline_spell_arrive_when_back(self):
        cli, secret, lid = self.listen("--forward-to", self.rcv.url("/ok"))
        self.proxy.go_down()
        self.assertTrue(wait_for(lambda: cli.stderr().count("Connection lost (") >= 2, 20),
                        "a reconnect failed while offline\n" + cli.describe())
        events = [self.publish_event(data={"offline": i})[0] for i in range(5)]
        time.sleep(0.5)
        self.assertEqual([self.rcv.count(event_id=e) for e in events], [0] * 5)
        self.proxy.go_up()
        self.assertTrue(wait_for(lambda: cli.stderr().count("Reconnected.") >= 1, 40),
                        cli.describe())
        for e in events:
            got = self.wait_received(1, event_id=e, timeout=20)
            self.assertSigned(got[0], secret)
            d = self.wait_status(self.one_delivery_of(e)["id"], "succeeded", timeout=20)
            self.assertEqual(d["attemptCount"], 1, "no attempt used up while offline: %r" % d)
        self.assertEqual(cli.interrupt(), 0, cli.describe())

    def test_stream_killed_mid_flight_loses_nothing(self):
        cli, secret, lid = self.listen("--forward-to", self.rcv.url("/ok?delay=0.05"))
        published, stop = [], threading.Event()

        def publisher():
            for i in range(60):
                if stop.is_set():
                    return
                published.append(self.publish_event(data={"seq": i})[0])
                time.sleep(0.1)

        th = threading.Thread(target=publisher, daemon=True)
        th.start()
        self.addCleanup(stop.set)
        for cut in range(1, 4):  # kill the stream (and whatever is in flight) three times
            # The stream is up again (Ready, then one Reconnected. per cut so far) ...
            self.assertTrue(wait_for(lambda: cli.stderr().count("Reconnected.") >= cut - 1, 30),
                            cli.describe())
            # ... and deliveries are flowing on it.
            seen = len(published)
            wait_for(lambda: len(published) >= seen + 8 and
                     self.rcv.count(event_id=published[seen + 4]) >= 1, 20)
            self.assertGreater(self.proxy.cut(), 0, "there was a connection to cut")
            self.assertTrue(wait_for(lambda: cli.stderr().count("Connection lost (") >= cut, 15),
                            cli.describe())
        th.join(timeout=60)
        self.assertEqual(len(published), 60)
        self.assertTrue(wait_for(lambda: cli.stderr().count("Reconnected.") >= 3, 30),
                        cli.describe())

        def missing():
            return [e for e in published if not self.rcv.count(event_id=e)]
        self.assertTrue(wait_for(lambda: not missing(), 60),
                        "missing: %r\n%s" % (missing(), cli.describe()))
        for e in published:
            self.assertSigned(self.rcv.requests(event_id=e)[0], secret)
            self.wait_status(self.one_delivery_of(e)["id"], "succeeded", timeout=30)
        self.assertEqual(cli.interrupt(), 0, cli.describe())
        self.assertIn("Listener %s deleted." % lid, cli.stderr())


class ListenTokenExpiryTests(DeliveryMixin, ServerTestCase):
    """Tokens that expire under a running `airhook listen` (--token-ttl 2s): the
    server answers 412, the CLI signs in again, for a result and for a stream."""
    SERVER_ARGS = ("--token-ttl", "2s", "--delivery-timeout", "5s")

    setUp = ListenEndToEndTests.setUp
    listen = ListenEndToEndTests.listen
    publish_event = ListenEndToEndTests.publish_event
    assertSigned = ListenEndToEndTests.assertSigned

    def arrives(self, cli, secret):
        eid, n = self.publish_event()
        self.assertEqual(n, 1)
        self.assertSigned(self.wait_received(1, event_id=eid, timeout=15)[0], secret)
        d = self.wait_status(self.one_delivery_of(eid)["id"], "succeeded", timeout=15)
        self.assertEqual(d["attemptCount"], 1, "the result was recorded at once: %r\n%s"
                         % (d, cli.describe()))

    def test_expired_token_renewed_for_results_and_streams(self):
        cli, secret, lid = self.listen("--forward-to", self.rcv.url("/ok"))
        time.sleep(2.2)  # the token the CLI holds has expired (--token-ttl 2s)
        self.arrives(cli, secret)  # its result is posted with a fresh token
        time.sleep(2.2)
        self.assertGreater(self.proxy.cut(), 0)  # the new stream needs a fresh token too
        self.assertTrue(wait_for(lambda: cli.stderr().count("Reconnected.") >= 1, 20),
                        cli.describe())
        self.arrives(cli, secret)
        self.assertEqual(cli.interrupt(), 0, cli.describe())
        self.assertIn("Listener %s deleted." % lid, cli.stderr())
        self.assertNotIn("warning", cli.stderr())
