# SPDX-License-Identifier: MIT
"""Connection limits (the "Hardening" issue, finding 1; docs/operations.md,
"Connections and file descriptors").

Idle or slow connections from one address must not take the server from
everyone else: the server raises its open-file limit, keeps as many
connections as that allows, at most --max-connections-per-address from one
address, closes a connection whose headers are not in within
--header-timeout (a deadline: trickling bytes does not extend it), and
closes idle keep-alive connections sooner once it is crowded.

The flood test opens 6,000 sockets from 127.0.0.1 for 30 s while a client
on 127.0.0.2 (loopback answers the whole 127/8 on Linux) sends 100
requests, and prints what it measured.
"""

import errno
import os
import re
import resource
import selectors
import socket
import threading
import time
import unittest

import harness
from harness import Server, ServerTestCase

ATTACKER = "127.0.0.1"
OTHER = "127.0.0.2"
IDLE = 5000
SLOW = 1000
FLOOD_SECONDS = 30.0
PROBES = 100


def raise_nofile(need):
    """Raises this process's soft open-file limit to its hard one (servers
    started afterwards inherit it); returns the old limits, or None when the
    hard limit is below need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        return None
    target = hard if hard != resource.RLIM_INFINITY else max(soft, need)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, hard


def get_healthz(host, port, source=None, timeout=5.0):
    """One GET /healthz on a new connection; (status, seconds)."""
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            d = s.recv(4096)
            if not d:
                break
            data += d
        m = re.match(rb"HTTP/1\.1 (\d+)", data)
        return (int(m.group(1)) if m else 0), time.monotonic() - t0
    finally:
        s.close()


def metric(srv, sample):
    """The value of one /metrics sample (its name with labels), 0 when absent."""
    text = srv.request("GET", "/metrics").text
    m = re.search(r"^%s (\d+)$" % re.escape(sample), text, re.M)
    return int(m.group(1)) if m else 0


def eof_within(sock, seconds):
    """True when the server closes sock (EOF or reset) within seconds."""
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


class Flood:
    """IDLE silent sockets and SLOW sockets that send a request line and then
    one header line a second, all from ATTACKER; a socket the server closes
    is opened again, at most `rate` times a second and `reconnects` times in
    all."""

    def __init__(self, host, port, rate=1000, reconnects=40000):
        self.host, self.port = host, port
        self.sel = selectors.DefaultSelector()
        self.socks = {}  # socket -> {"slow": bool, "sent_head": bool}
        self.rate = rate
        self.reconnects_left = reconnects
        self.pending = []  # the kinds (slow or not) of sockets to open again
        self.connects = 0
        self.closed_by_server = 0

    def open(self, slow):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((ATTACKER, 0))
        rc = s.connect_ex((self.host, self.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            return False
        self.connects += 1
        self.socks[s] = {"slow": slow, "sent_head": False}
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        return True

    def drop(self, s):
        info = self.socks.pop(s)
        self.sel.unregister(s)
        s.close()
        return info

    def pump(self, until):
        """Serves events until the monotonic time `until`; trickles a header
        line on every slow socket once a second."""
        t0 = time.monotonic()
        next_trickle = t0 + 1.0
        reopened = 0
        while time.monotonic() < until:
            reopen = self.pending
            for key, ev in self.sel.select(timeout=0.05):
                s, info = key.fileobj, self.socks.get(key.fileobj)
                if info is None:
                    continue
                if ev & selectors.EVENT_WRITE:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        reopen.append(self.drop(s)["slow"])
                        continue
                    if info["slow"] and not info["sent_head"]:
                        try:
                            s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                        except OSError:
                            pass
                        info["sent_head"] = True
                    self.sel.modify(s, selectors.EVENT_READ)
                elif ev & selectors.EVENT_READ:
                    try:
                        data = s.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        self.closed_by_server += 1
                        reopen.append(self.drop(s)["slow"])
            allowed = int(self.rate * (time.monotonic() - t0)) - reopened
            while reopen and allowed > 0 and self.reconnects_left > 0:
                allowed -= 1
                reopened += 1
                self.reconnects_left -= 1
                self.open(reopen.pop())
            self.pending = reopen
            if time.monotonic() >= next_trickle:
                next_trickle += 1.0
                for s, info in list(self.socks.items()):
                    if info["slow"] and info["sent_head"]:
                        try:
                            s.send(b"X-Slow: y\r\n")
                        except OSError:
                            pass

    def close_all(self):
        for s in list(self.socks):
            self.drop(s)
        self.sel.close()


class FloodTests(unittest.TestCase):
    """One address floods the server; another address is served all along."""

    def setUp(self):
        self.old_nofile = raise_nofile(IDLE + SLOW + 1000)
        if self.old_nofile is None:
            self.skipTest("the hard open-file limit is below %d: no room for the flood"
                          % (IDLE + SLOW + 1000))
        try:
            socket.create_connection(("127.0.0.1", 1), source_address=(OTHER, 0),
                                     timeout=1).close()
        except ConnectionRefusedError:
            pass
        except OSError as e:
            self.skipTest("cannot use %s as a second loopback address: %s" % (OTHER, e))
        # ASan keeps freed memory in quarantine (256 MB): without one, what
        # the flood allocated and freed is reused, and RSS shows leaks only.
        asan = os.environ.get("ASAN_OPTIONS", "")
        self.srv = Server(env={"ASAN_OPTIONS": (asan + ":" if asan else "")
                               + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"}).start()

    def tearDown(self):
        if getattr(self, "srv", None) is not None:
            self.srv.stop()
        if self.old_nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, self.old_nofile)

    def test_flood_from_one_address_does_not_starve_another(self):
        srv = self.srv
        for _ in range(20):
            self.assertEqual(get_healthz(srv.host, srv.port, OTHER)[0], 200)
        time.sleep(1.0)
        fds_before, rss_before = srv.fd_count(), srv.rss_kb()

        flood = Flood(srv.host, srv.port)
        for i in range(IDLE + SLOW):
            flood.open(slow=i >= IDLE)
        probes = []
        stop = threading.Event()

        def probe():
            time.sleep(2.0)  # after the first wave
            for _ in range(PROBES):
                if stop.is_set():
                    break
                t0 = time.monotonic()
                try:
                    probes.append(get_healthz(srv.host, srv.port, OTHER, timeout=5.0))
                except OSError as e:
                    probes.append((repr(e), time.monotonic() - t0))
                time.sleep(max(0.0, 0.26 - (time.monotonic() - t0)))

        t = threading.Thread(target=probe, daemon=True)
        t.start()
        start = time.monotonic()
        flood.pump(start + FLOOD_SECONDS)
        t.join(timeout=10)
        stop.set()
        open_at_end = len(flood.socks)
        flood.close_all()

        deadline = time.monotonic() + 15
        while srv.fd_count() > fds_before and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        fds_after, rss_after = srv.fd_count(), srv.rss_kb()
        latencies = sorted(p[1] for p in probes)
        p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("inf")
        print("\nflood: %d idle + %d slow-header sockets from %s for %.0f s (%d connects in all, "
              "%d closed by the server, %d open at the end); %d requests from %s: p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms; server fds %d -> %d, RSS %d -> %d KiB"
              % (IDLE, SLOW, ATTACKER, FLOOD_SECONDS, flood.connects, flood.closed_by_server,
                 open_at_end, len(probes), OTHER, latencies[len(latencies) // 2] * 1000,
                 p99 * 1000, latencies[-1] * 1000, fds_before, fds_after, rss_before, rss_after))
        self.assertFalse(t.is_alive(), "the probing client hung")
        bad = [p for p in probes if p[0] != 200]
        self.assertEqual(bad, [], "requests from %s not answered 200 during the flood" % OTHER)
        # Served means answered 200, each within the probe's 5 s timeout; how
        # fast is printed above, not asserted (it is a figure of this
        # machine's load, and a bound on it failed when CI runs shared it).
        self.assertEqual(len(probes), PROBES)
        self.assertLessEqual(fds_after, fds_before, "file descriptors did not return to baseline")
        self.assertLess(rss_after, rss_before + max(16 * 1024, rss_before // 4),
                        "RSS did not return to baseline: %d -> %d KiB" % (rss_before, rss_after))
        self.assertEqual(get_healthz(srv.host, srv.port)[0], 200)


class HeaderTimeoutTests(ServerTestCase):
    SERVER_ARGS = ("--header-timeout", "1s")

    def count_408(self):
        return metric(self.srv, 'airhook_http_requests_total{route="unknown",code="408"}')

    def test_trickled_headers_are_cut_at_the_deadline(self):
        before = self.count_408()
        cut_before = metric(self.srv, 'airhook_http_connections_closed_total'
                                      '{reason="header_timeout"}')
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
        try:
            t0 = time.monotonic()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            closed_at = None
            for _ in range(30):  # one byte every 0.2 s: never idle for long
                time.sleep(0.2)
                try:
                    s.send(b"X")
                except OSError:
                    closed_at = time.monotonic() - t0
                    break
                s.settimeout(0.01)
                try:
                    if not s.recv(4096):
                        closed_at = time.monotonic() - t0
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed_at = time.monotonic() - t0
                    break
        finally:
            s.close()
        self.assertIsNotNone(closed_at, "a connection trickling its headers stayed open 6 s")
        self.assertGreater(closed_at, 0.9)
        self.assertLess(closed_at, 2.5, "closed %.1f s after it began (deadline 1 s)" % closed_at)
        self.assertGreaterEqual(self.count_408(), before + 1, "the timeout was not counted as 408")
        self.assertGreaterEqual(metric(self.srv, 'airhook_http_connections_closed_total'
                                                 '{reason="header_timeout"}'), cut_before + 1)

    def test_silent_connection_is_closed(self):
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
        try:
            t0 = time.monotonic()
            self.assertTrue(eof_within(s, 4.0), "a silent connection stayed open 4 s")
            self.assertLess(time.monotonic() - t0, 2.5)
        finally:
            s.close()

    def test_idle_keepalive_outlives_the_header_timeout(self):
        """Between requests the idle timeout applies, not the header timeout."""
        c = self.srv.connection()
        try:
            self.assertEqual(self.srv.request("GET", "/healthz", conn=c).status, 200)
            time.sleep(2.0)
            self.assertEqual(self.srv.request("GET", "/healthz", conn=c).status, 200)
        finally:
            c.close()


class CrowdedIdleTests(ServerTestCase):
    """Past 3/4 of --max-connections, the connections idle longer than
    --crowded-idle-timeout close, longest idle first, down to 3/4."""

    SERVER_ARGS = ("--threads", "1", "--max-connections", "40",
                   "--max-connections-per-address", "0", "--idle-timeout", "30s",
                   "--crowded-idle-timeout", "1s")

    def keepalive(self, n):
        conns = []
        for _ in range(n):
            c = self.srv.connection(timeout=5)
            self.assertEqual(self.srv.request("GET", "/healthz", conn=c).status, 200)
            conns.append(c)
        return conns

    def test_idle_connections_close_sooner_when_crowded(self):
        before = metric(self.srv, 'airhook_http_connections_closed_total{reason="idle_timeout"}')
        conns = self.keepalive(35)  # 5 over 30, 3/4 of 40
        try:
            # The oldest five go once idle 1 s; the sweeper runs every 250 ms.
            deadline = time.monotonic() + 4.0
            closed = []
            while time.monotonic() < deadline and len(closed) < 5:
                closed = [i for i, c in enumerate(conns) if eof_within(c.sock, 0.01)]
                time.sleep(0.1)
            time.sleep(1.0)  # none more may follow
            closed = [i for i, c in enumerate(conns) if eof_within(c.sock, 0.01)]
            self.assertEqual(len(closed), 5, "closed %s, not the 5 over 3/4" % closed)
            # Longest idle first: the first five made (and answered).
            self.assertEqual(closed, [0, 1, 2, 3, 4], "not the longest idle")
            for i, c in enumerate(conns):
                if i not in closed:
                    c.sock.settimeout(5)
                    self.assertEqual(self.srv.request("GET", "/healthz", conn=c).status, 200)
            self.assertGreaterEqual(metric(self.srv, 'airhook_http_connections_closed_total'
                                                     '{reason="idle_timeout"}'), before + 5)
        finally:
            for c in conns:
                c.close()
        time.sleep(0.5)
        conns = self.keepalive(10)  # not crowded: they stay
        try:
            time.sleep(2.0)
            for c in conns:
                self.assertEqual(self.srv.request("GET", "/healthz", conn=c).status, 200)
        finally:
            for c in conns:
                c.close()


class PerAddressTests(ServerTestCase):
    SERVER_ARGS = ("--max-connections-per-address", "8")

    def test_one_address_is_limited_not_the_others(self):
        socks = [socket.create_connection((self.srv.host, self.srv.port), timeout=5)
                 for _ in range(8)]
        try:
            time.sleep(0.2)
            extra = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
            try:
                self.assertTrue(eof_within(extra, 2.0),
                                "a 9th connection from one address was kept")
            finally:
                extra.close()
            try:
                status, _ = get_healthz(self.srv.host, self.srv.port, OTHER)
            except OSError as e:
                self.skipTest("cannot use %s as a second loopback address: %s" % (OTHER, e))
            self.assertEqual(status, 200, "another address was refused too")
        finally:
            for s in socks:
                s.close()
        time.sleep(0.3)
        self.assertEqual(get_healthz(self.srv.host, self.srv.port)[0], 200)
        self.assertGreaterEqual(metric(self.srv, 'airhook_http_connections_closed_total'
                                                 '{reason="limit"}'), 1)


class OpenFileLimitTests(unittest.TestCase):
    def test_soft_limit_is_raised_and_connections_follow_it(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard < 4096:
            self.skipTest("hard open-file limit %r: nothing to show" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:
            srv = Server().start()  # inherits a soft limit of 1024
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        try:
            with open("/proc/%d/limits" % srv.proc.pid) as f:
                line = next(l for l in f if l.startswith("Max open files"))
            self.assertEqual(line.split()[3:5], [str(hard), str(hard)], line)
            deadline = time.monotonic() + 5  # the log line follows the ready line on stdout
            ready = []
            while not ready and time.monotonic() < deadline:
                ready = [r for r in srv.log_records() if r.get("msg") == "ready"]
                time.sleep(0.05)
            self.assertTrue(ready, srv.stderr_tail())
            self.assertEqual(ready[0].get("max_connections"), min(hard - 1280, 65536), ready[0])
            self.assertEqual(ready[0].get("max_connections_per_address"), 256, ready[0])
        finally:
            srv.stop()


if __name__ == "__main__":
    unittest.main()
