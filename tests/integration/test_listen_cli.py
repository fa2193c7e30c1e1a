# SPDX-License-Identifier: MIT
"""`airhook listen` against a fake server that speaks the listener protocol
(listenkit.FakeServer, scripted per stream connection) and a real local
receiver (receiver.py): exact bodies and headers forwarded, results posted
back, a 401 that forces a new sign-in, a stream cut mid-event that forces a
reconnect (said on stderr), a listener the server lost created again, a
silent stream detected, a slow target that does not hold the stream up,
Ctrl-C deleting the listener, and the start-time refusals."""

import json
import os
import socket
import unittest

import harness
from listenkit import SECRET, Cli, FakeServer, cli_env, delivery
from receiver import Receiver

CREATED = "trigger.airmeet.created"
ADDED = "trigger.airmeet.registrant.added"
SESSION = "trigger.session.attendee.joined"
SLOW = "trigger.attendee.joined_booth"
ALL = [CREATED, ADDED, SESSION, SLOW]

# Bodies the CLI must pass on byte for byte (spacing, key order, escapes, non-ASCII).
BODY1 = '{ "b":1,  "a":"caf\u00e9 \\u00e9 \\"q\\"" ,"z":[ ] }'
BODY2 = '{"registrant":{"email":"ada@example.com"},"n":2}'
BODY3 = '[1, 2.50, "\u2603"]\n'


def delivering(*deliveries):
    """A stream script: ready, the deliveries, then pings until the test ends."""
    def stream(s, lid):
        s.open()
        s.ready(lid)
        for d in deliveries:
            s.delivery(d)
        s.ping_until(lambda: False)
    return stream


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ListenCliTests(unittest.TestCase):

    def setUp(self):
        self.rcv = Receiver().start()
        self.addCleanup(self.rcv.stop)

    def server(self, streams, triggers=ALL):
        fake = FakeServer(triggers, streams)
        self.addCleanup(fake.stop)
        return fake

    def listen(self, fake, *args):
        cli = Cli(harness.BINARY, ["listen", "--base-url", fake.base_url] + list(args), cli_env())
        self.addCleanup(cli.kill)
        return cli

    def routes(self):
        return ["--forward-to", self.rcv.url("/ok"),
                "--forward-to", "registrant.added=" + self.rcv.url("/status/500"),
                "--forward-to", "session=http://127.0.0.1:%d/hooks" % closed_port(),
                "--forward-to", "joined_booth=" + self.rcv.url("/stall?s=2")]

    def assertForwarded(self, d, route):
        """The receiver got delivery d at route with the exact body and headers."""
        got = self.rcv.requests(event_id=d["headers"]["webhook-id"])
        self.assertEqual(len(got), 1, [g.summary() for g in got])
        r = got[0]
        self.assertEqual(r.method, "POST")
        self.assertEqual(r.route, route)
        self.assertEqual(r.body, d["body"].encode(), "the exact bytes")
        for name, value in d["headers"].items():
            self.assertEqual(r.headers.get(name), value, name)
        self.assertNotIn("expect", r.headers)

    def test_forwards_reauths_reconnects_recreates_and_deletes(self):
        d1 = delivery("d1", CREATED, BODY1)
        d2 = delivery("d2", ADDED, BODY2, attempt=2)
        d3 = delivery("d3", CREATED, BODY3)
        d4 = delivery("d4", SESSION, "{}")

        def expired(s, lid):       # 1st stream: the token expired (the protocol's 401)
            fake.expire_tokens()
            s.refuse(401, "token expired")

        def cut_mid_event(s, lid):  # 2nd: d1, a ping, then half of d2 and a reset
            s.open()
            s.ready(lid)
            s.delivery(d1)
            s.ping_until(lambda: fake.result_for("d1"))
            s.send('event: delivery\ndata: {"deliveryId":"d2","bo')
            s.cut()

        def listener_gone(s, lid):  # 3rd: the server lost the listener; making one is
            fake.listeners.remove(lid)  # refused once (the registration rate)
            fake.refuse_creates.append(429)
            s.refuse(404, "no such listener")

        def good(s, lid):           # 4th, on the new listener: d2 again, d3, d4
            s.open()
            s.ready(lid)
            fake.expire_tokens()    # the results' posts get 412: sign in again, post again
            for d in (d2, d3, d4):
                s.delivery(d)
            s.ping_until(lambda: False)

        fake = self.server([expired, cut_mid_event, listener_gone, good])
        cli = self.listen(fake, *self.routes())
        self.assertTrue(cli.wait_line(r"Ready\. Signing secret: (whsec_\S+) \(listener L-1\)", 20),
                        cli.describe())
        self.assertIn(SECRET, cli.stdout())
        self.assertGreaterEqual(fake.auths, 2, "a new sign-in after the refused token")
        self.assertTrue(cli.wait_line(r"Connection lost \(the connection was cut\); reconnecting "
                                      r"in \d+\.\d s", 20,
                                      "err"), cli.describe())
        self.assertTrue(cli.wait_line(r"Listener L-1 no longer exists on the server; creating a "
                                      r"new one", 20, "err"), cli.describe())
        self.assertTrue(cli.wait_line(r"Connection lost \(creating the listener answered HTTP 429\)",
                                      10, "err"), cli.describe())
        self.assertTrue(cli.wait_line(r"Created listener L-2 \(replacing L-1\)", 10, "err"),
                        cli.describe())
        self.assertTrue(cli.wait_line(r"Reconnected\.", 10, "err"), cli.describe())
        self.assertTrue(fake.wait(lambda: len(fake.results) >= 4, 20), cli.describe())

        self.assertForwarded(d1, "/ok")
        self.assertForwarded(d2, "/status/500")
        self.assertForwarded(d3, "/ok")
        r1, r2, r3, r4 = (fake.result_for(i) for i in ("d1", "d2", "d3", "d4"))
        self.assertEqual((r1["status"], r1["attempt"], r1["error"]), (200, 1, ""))
        self.assertEqual((r2["status"], r2["attempt"]), (500, 2))
        self.assertEqual(r3["status"], 200)
        self.assertEqual(r4["status"], 0)
        self.assertEqual(r4["error"], "connection refused")
        for r in (r1, r2, r3):
            self.assertIsInstance(r["durationMs"], int)
            self.assertEqual(r["headers"].get("content-type"), "application/json", r)
            self.assertIsInstance(r["body"], str)
        self.assertGreaterEqual(fake.auths, 3, "a new sign-in for the results")
        self.assertEqual([lid for lid, r in fake.results if r["deliveryId"] == "d1"], ["L-1"])
        self.assertEqual([lid for lid, r in fake.results if r["deliveryId"] == "d3"], ["L-2"])

        # One line per delivery: time, trigger, event id, local status, duration.  A line
        # comes once its result is posted, which may be just after the fake server counted
        # it (d2's post is refused once with 412 and made again): wait for each.
        for line in (r"\d\d:\d\d:\d\d  %s  evt-d1  200  \d+ ms" % CREATED,
                     r"%s  evt-d2  500  \d+ ms  \(attempt 2\)" % ADDED,
                     r"%s  evt-d4  no answer \(connection refused\)" % SESSION):
            self.assertTrue(cli.wait_line(line, 10), "no line %r: %s" % (line, cli.describe()))

        self.assertEqual(cli.interrupt(), 0, cli.describe())
        self.assertEqual(fake.deleted, ["L-2"])
        err = cli.stderr()
        self.assertIn("Listener L-2 deleted.", err)
        self.assertIn("Forwarded 4 deliveries: 2 answered 2xx, 1 answered another status, "
                      "1 got no answer.", err)
        self.assertEqual(fake.created[0]["triggers"] if "triggers" in fake.created[0] else None,
                         None, "no --trigger: the server's default set")
        self.assertFalse(harness.sanitizer_reports(err), err)

    def test_silent_stream_and_slow_target(self):
        """A stream that goes quiet is dropped after --stall-timeout; a slow local
        target does not hold up the deliveries behind it."""
        slow = delivery("s1", SLOW, '{"slow":true}')
        fast = delivery("f1", CREATED, '{"fast":true}')

        def silent(s, lid):
            s.open()
            s.ready(lid)
            fake.stopping.wait(30)  # says nothing more

        fake = self.server([silent, delivering(slow, fast)])
        cli = self.listen(fake, "--stall-timeout", "1", *self.routes())
        self.assertTrue(cli.wait_line(r"Connection lost \(no data from the server for 1 s\); "
                                      r"reconnecting in", 15, "err"), cli.describe())
        self.assertTrue(cli.wait_line(r"Reconnected\.", 15, "err"), cli.describe())
        self.assertTrue(fake.wait(lambda: len(fake.results) >= 2, 15), cli.describe())
        self.assertEqual([r["deliveryId"] for _, r in fake.results], ["f1", "s1"],
                         "the fast delivery is not queued behind the slow one")
        self.assertGreaterEqual(fake.result_for("s1")["durationMs"], 1900)
        self.assertEqual(cli.interrupt(), 0, cli.describe())
        self.assertEqual(fake.deleted, ["L-1"])

    def test_forward_timeout_and_trigger_filter(self):
        d = delivery("t1", SLOW, "{}")
        fake = self.server([delivering(d)])
        cli = self.listen(fake, "--trigger", SLOW, "--airmeet", "am-1", "--forward-timeout", "0.5",
                          "--forward-to", "localhost:%d/stall?s=3" % self.rcv.port)
        self.assertTrue(fake.wait(lambda: fake.results, 15), cli.describe())
        r = fake.result_for("t1")
        self.assertEqual((r["status"], r["error"]), (0, "timeout"))
        self.assertEqual(fake.created[0]["triggers"], [SLOW])
        self.assertEqual(fake.created[0]["airmeetId"], "am-1")
        self.assertEqual(cli.interrupt(), 0, cli.describe())

    def test_forward_connect_to_keeps_the_host(self):
        d = delivery("h1", CREATED, '{"host":"kept"}')
        fake = self.server([delivering(d)])
        cli = self.listen(fake, "--forward-to", "http://receiver.test:3000/ok",
                          "--forward-connect-to", "127.0.0.1:%d" % self.rcv.port)
        self.assertTrue(fake.wait(lambda: fake.results, 15), cli.describe())
        self.assertEqual(fake.result_for("h1")["status"], 200, cli.describe())
        got = self.rcv.requests(event_id=d["headers"]["webhook-id"])
        self.assertEqual(got[0].headers.get("host"), "receiver.test:3000")
        self.assertEqual(cli.interrupt(), 0, cli.describe())

    def test_print_secret(self):
        fake = self.server([lambda s, lid: s.refuse(500, "unused")])
        cli = Cli(harness.BINARY, ["listen", "--print-secret", "--base-url", fake.base_url],
                  cli_env())
        self.addCleanup(cli.kill)
        self.assertEqual(cli.proc.wait(timeout=20), 0, cli.describe())
        cli.kill()
        self.assertEqual(cli.stdout(), SECRET)
        self.assertEqual(fake.listeners, [], "no listener is made for --print-secret")

    def test_start_refusals(self):
        fake = self.server([lambda s, lid: s.refuse(500, "unused")])

        def run(*args, env=None):
            cli = Cli(harness.BINARY, ["listen", "--base-url", fake.base_url] + list(args),
                      env or cli_env())
            self.addCleanup(cli.kill)
            code = cli.proc.wait(timeout=20)
            cli.kill()
            return code, cli.stderr()

        code, err = run()
        self.assertEqual(code, 2)
        self.assertIn("needs --forward-to", err)
        # A trigger the server does not know: the nearest built-in names.
        code, err = run("--trigger", "trigger.airmeet.registrant.addd",
                        "--forward-to", self.rcv.url("/ok"))
        self.assertEqual(code, 1, err)
        self.assertIn("unknown triggerMetaInfoId", err)
        self.assertIn("did you mean: trigger.airmeet.registrant.added", err)
        # A TRIGGER= route that names none of the triggers listened to.
        code, err = run("--trigger", ADDED, "--forward-to", "registrnt.added=" + self.rcv.url())
        self.assertEqual(code, 2, err)
        self.assertIn("no trigger of this listener is or contains 'registrnt.added'", err)
        self.assertIn("did you mean: %s?" % ADDED, err)
        # A trigger with no target (the server's default set): refused, the listener deleted.
        code, err = run("--forward-to", "registrant=" + self.rcv.url())
        self.assertEqual(code, 2, err)
        self.assertIn("trigger %s has no --forward-to target" % CREATED, err)
        self.assertEqual(fake.deleted, fake.listeners)
        self.assertEqual(len(fake.listeners), 1)
        code, err = run("--forward-to", "a", "--forward-to", "b")
        self.assertEqual(code, 2)
        self.assertIn("two default URLs", err)
        code, err = run("--forward-to", "x", "--forward-connect-to", "nohost")
        self.assertEqual(code, 2)
        self.assertIn("HOST:PORT", err)
        code, err = run("--forward-to", "x", env=cli_env(AIRHOOK_SECRET_KEY="wrong"))
        self.assertEqual(code, 1, err)
        self.assertIn("/auth refused the key pair", err)

    def test_unreachable_server(self):
        cli = Cli(harness.BINARY, ["listen", "--base-url", "http://127.0.0.1:%d/prod" % closed_port(),
                                   "--forward-to", self.rcv.url()], cli_env())
        self.addCleanup(cli.kill)
        self.assertEqual(cli.proc.wait(timeout=20), 3)


if __name__ == "__main__":
    unittest.main()
