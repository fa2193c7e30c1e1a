#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A webhook receiver for airhook's delivery tests (Python 3 stdlib only).

In-process:

    rcv = Receiver().start()          # ThreadingHTTPServer on 127.0.0.1:0
    url = rcv.url("/flaky?fail=2")    # http://127.0.0.1:PORT/flaky?fail=2
    ...
    rcv.wait_for(lambda: rcv.count(event_id) >= 3, 5)
    rcv.stop()

Standalone, for manual use (prints one line per request):

    python3 tests/integration/receiver.py --port 9000

Every request is recorded (see Recorded) before it is answered, except the
control paths under /_control/.  The answer depends on the path:

    /ok                    200
    /status/<code>         that code (500, 503, 404, 400, 201, ...)
    /gone                  410
    /429?after=<s>         429 with Retry-After: <s>
    /503?after=<s>         503 with Retry-After: <s>
    /stall?s=<n>           sleeps n seconds (float, capped by max_sleep) then 200;
                           other requests are served meanwhile (one thread each)
    /reset                 closes the connection abruptly without an answer
                           (SO_LINGER 0, then close: the peer sees an RST)
    /flaky?fail=<n>        500 for the first n requests of each (webhook-id,
                           x-airmeet-webhook-id) pair, then 200
    /redirect              302 Location: /ok (the sender must not follow it)
    /switch/<name>         the code currently set for <name> (default 200);
                           set it in-process with rcv.set_switch(name, code) or
                           over HTTP: POST /_control/switch/<name>?code=<n>
    /big?bytes=<n>[&code=<c>]
                           code (default 200) with a body of n bytes ("x"),
                           streamed 64 KiB at a time (n at most 1 GiB); the
                           bytes the socket took are counted in rec.sent
    /bigheader?bytes=<n>   200 with one header line (X-Big) of n bytes, streamed
                           likewise, counted in rec.sent
    /manyheaders?count=<n>&size=<s>
                           200 with n header lines of s bytes each
    anything else          404

rec.done is set once a streamed answer has been written (or the peer went
away), so a test can wait for rec.sent to be final.

Every path also takes ?size=<bytes> (the answer body is that many bytes of a
fixed repeating pattern, see body_pattern, or of ?fill=TEXT / ?fill=hex:HEX) and ?delay=<s> (sleep before the
answer, capped like /stall).  The server speaks HTTP/1.1 with keep-alive and
always sets Content-Length.

Concurrency: rcv.max_inflight() says, per x-airmeet-webhook-id, the most
requests it held at once (from the request being read to its answer being
written).  rcv.go_down() closes the listener and resets every open
connection (the requests they held count as ended); rcv.go_up() listens on
the same port again.  A receiver that flaps calls them in turn.

Control paths (not recorded): GET /_control/requests (JSON summary of what was
received), POST /_control/switch/<name>?code=<n>, POST /_control/clear.
"""

import argparse
import collections
import http.server
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def fill_bytes(fill):
    """?fill=TEXT (UTF-8) or ?fill=hex:HEX (raw bytes); None: the default."""
    if not fill:
        return PATTERN
    if fill.startswith("hex:"):
        return bytes.fromhex(fill[4:]) or PATTERN
    return fill.encode("utf-8")


def body_pattern(n, pattern=PATTERN):
    """The first n bytes of the body that ?size=n[&fill=...] answers with."""
    reps = n // len(pattern) + 1
    return (pattern * reps)[:n]


def wait_for(predicate, timeout, interval=0.02):
    """Call predicate until it returns something truthy or timeout seconds
    pass; returns the last value (falsy on timeout).  Always calls it at least
    once, and once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        left = deadline - time.monotonic()
        if left <= 0:
            return v
        time.sleep(min(interval, left))


class Recorded:
    """One request as received."""

    __slots__ = ("seq", "time", "mono", "method", "path", "route", "query", "headers",
                 "header_list", "body", "peer", "answer", "sent", "done", "written")

    def __init__(self, seq, method, path, header_list, body, peer):
        self.seq = seq
        self.time = time.time()        # wall clock, when the request was complete
        self.mono = time.monotonic()   # for measuring gaps
        self.method = method
        self.path = path               # as sent, with the query string
        u = urllib.parse.urlsplit(path)
        self.route = u.path
        self.query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        self.header_list = [(k.lower(), v) for k, v in header_list]
        # Lowercased names; a repeated header's values are joined with ", ".
        h = {}
        for k, v in self.header_list:
            h[k] = v if k not in h else h[k] + ", " + v
        self.headers = h
        self.body = body
        self.peer = peer
        self.answer = None             # status code answered (None: reset / no answer)
        self.sent = 0                  # bytes of a streamed answer the socket took
        self.done = False              # a streamed answer is written, or the peer went away
        self.written = False           # the answer was written whole (the peer may still miss it)

    @property
    def event_id(self):
        return self.headers.get("webhook-id")

    @property
    def webhook(self):
        return self.headers.get("x-airmeet-webhook-id")

    @property
    def attempt(self):
        try:
            return int(self.headers.get("x-airmeet-attempt", ""))
        except ValueError:
            return None

    def summary(self):
        return {"seq": self.seq, "time": self.time, "method": self.method, "path": self.path,
                "headers": self.headers, "bodyLength": len(self.body), "answer": self.answer}

    def __repr__(self):
        return "<%s %s id=%s hook=%s attempt=%s %dB -> %s>" % (
            self.method, self.path, self.event_id, self.webhook,
            self.headers.get("x-airmeet-attempt"), len(self.body), self.answer)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "airhook-test-receiver"

    def log_message(self, fmt, *args):  # quiet; standalone mode prints its own lines
        pass

    def setup(self):
        super().setup()
        self.server.receiver._opened(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.receiver._closed(self.connection)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (OSError, ValueError):  # peer vanished, or /reset closed the socket
            self.close_connection = True

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                out += self.rfile.read(size)
                self.rfile.readline(65537)
            return out
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _any(self):
        rcv = self.server.receiver
        body = self._read_body()
        u = urllib.parse.urlsplit(self.path)
        if u.path.startswith("/_control/"):
            return self._control(u, body)
        rec = rcv._record(self.command, self.path, self.headers.items(), body,
                          self.client_address)
        token = rcv._enter(rec)
        try:
            return self._route(rcv, rec, u, token)
        finally:
            rcv._leave(token)

    def _route(self, rcv, rec, u, token):
        q = rec.query

        def num(name, default):
            try:
                return float(q.get(name, default))
            except ValueError:
                return float(default)

        delay = num("delay", 0)
        if delay > 0:
            rcv._sleep(delay)
        route = u.path
        extra = []
        status = 404
        if route == "/ok":
            status = 200
        elif route.startswith("/status/"):
            try:
                status = int(route[len("/status/"):])
            except ValueError:
                status = 400
            if not 100 <= status <= 599:
                status = 400
        elif route == "/gone":
            status = 410
        elif route in ("/429", "/503"):
            status = int(route[1:])
            extra.append(("Retry-After", q.get("after", "1")))
        elif route == "/stall":
            rcv._sleep(num("s", 1))
            status = 200
        elif route == "/reset":
            rec.answer = None
            return self._reset()
        elif route == "/flaky":
            key = (rec.event_id, rec.webhook)
            with rcv._lock:
                seen = rcv._flaky[key]
                rcv._flaky[key] = seen + 1
            status = 500 if seen < int(num("fail", 1)) else 200
        elif route == "/redirect":
            status = 302
            extra.append(("Location", "/ok"))
        elif route.startswith("/switch/"):
            status = rcv.switch(route[len("/switch/"):])
        elif route in ("/big", "/bigheader"):
            rec.answer = int(num("code", 200)) if route == "/big" else 200
            return self._stream(rec, route, min(int(num("bytes", 0)), 1 << 30))
        elif route == "/manyheaders":
            status = 200
            line = "h" * max(0, int(num("size", 100)) - 20)
            extra += [("X-Many-%d" % i, line) for i in range(min(int(num("count", 1)), 100000))]
        rec.answer = status
        rcv._leave(token)  # answered: airhook may send the next one as soon as it reads this
        size = q.get("size")
        if size is not None and size.isdigit():
            out = body_pattern(min(int(size), 16 * 1024 * 1024), fill_bytes(q.get("fill")))
            ctype = "text/plain"
        else:
            out = json.dumps({"status": status, "seq": rec.seq}).encode()
            ctype = "application/json"
        self._answer(status, out, ctype, extra)
        rec.written = True

    def _stream(self, rec, route, n):
        """An answer of n streamed bytes: a body (/big) or one header line
        (/bigheader), 64 KiB per write, rec.sent counting what the socket
        took.  Bounded: n at most 1 GiB, and a peer that stops reading
        without closing makes a write time out after 30 s."""
        self.close_connection = True
        self.connection.settimeout(30)
        chunk = b"x" * 65536
        if route == "/big":
            head = ("HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                    % (rec.answer, n)).encode()
            tail = b""
        else:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Big: "
            tail = b"\r\nContent-Length: 2\r\n\r\nok"
        try:
            self.wfile.write(head)
            while rec.sent < n:
                k = min(len(chunk), n - rec.sent)
                self.wfile.write(chunk[:k])
                rec.sent += k
            self.wfile.write(tail)
            self.wfile.flush()
        except (OSError, ValueError):
            pass
        finally:
            rec.done = True

    def _answer(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        if status in (204, 304) or status < 200:
            body = b""  # these carry no body (nor Content-Length)
        else:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _reset(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # The socket's fd is only really closed once the file objects made
        # from it are closed too.
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _control(self, u, body):
        rcv = self.server.receiver
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/_control/requests":
            out = json.dumps([r.summary() for r in rcv.snapshot()]).encode()
            return self._answer(200, out)
        if u.path.startswith("/_control/switch/") and self.command == "POST":
            name = u.path[len("/_control/switch/"):]
            try:
                code = int(q.get("code", "200"))
            except ValueError:
                return self._answer(400, b'{"error":"code"}')
            rcv.set_switch(name, code)
            return self._answer(200, json.dumps({"switch": name, "code": code}).encode())
        if u.path == "/_control/clear" and self.command == "POST":
            rcv.clear()
            return self._answer(200, b"{}")
        return self._answer(404, b'{"error":"unknown control path"}')

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass  # peers that vanish mid-request are part of the tests


class _Server6(_Server):
    address_family = socket.AF_INET6


class Receiver:
    """A recording HTTP receiver; see the module docstring for the paths."""

    def __init__(self, host="127.0.0.1", port=0, max_sleep=30.0, echo=False):
        self.host = host
        self.max_sleep = max_sleep
        self.echo = echo
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._requests = []
        self._by_event = collections.defaultdict(list)
        self._flaky = collections.defaultdict(int)
        self._switches = {}
        self._seq = 0
        self._inflight = collections.defaultdict(set)  # webhook -> tokens of requests held
        self._max_inflight = collections.defaultdict(int)
        self._conns = set()
        self._token = 0
        self._cls = _Server6 if ":" in host else _Server
        self._httpd = self._cls((host, port), _Handler)
        self._httpd.receiver = self
        self.port = self._httpd.server_address[1]
        self._thread = None
        self.down = False

    # -- lifecycle -----------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()  # wakes stalled handlers
        if not self.down:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._reset_all()

    def go_down(self):
        """Stops listening (connections are refused) and resets every open
        connection; the requests they held no longer count as in flight."""
        if self.down:
            return
        self.down = True
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._reset_all()

    def go_up(self):
        """Listens on the same port again."""
        if not self.down:
            return
        deadline = time.monotonic() + 10
        while True:
            try:
                self._httpd = self._cls((self.host, self.port), _Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._httpd.receiver = self
        self.down = False
        self.start()

    def _reset_all(self):
        with self._lock:
            conns = list(self._conns)
            for tokens in self._inflight.values():
                tokens.clear()
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _opened(self, conn):
        with self._lock:
            self._conns.add(conn)

    def _closed(self, conn):
        with self._lock:
            self._conns.discard(conn)

    def _enter(self, rec):
        """Counts rec as held until _leave(token); None for requests without a webhook."""
        w = rec.webhook
        if not w:
            return None
        with self._lock:
            self._token += 1
            token = (w, self._token)
            held = self._inflight[w]
            held.add(token)
            if len(held) > self._max_inflight[w]:
                self._max_inflight[w] = len(held)
        return token

    def _leave(self, token):
        if token is None:
            return
        with self._lock:
            self._inflight[token[0]].discard(token)

    def max_inflight(self):
        """{x-airmeet-webhook-id: the most requests held at once}."""
        with self._lock:
            return dict(self._max_inflight)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/ok"):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (host, self.port, path if path.startswith("/") else "/" + path)

    # -- runtime behaviour ----------------------------------------------------

    def set_switch(self, name, code):
        """/switch/<name> answers code from now on."""
        with self._lock:
            self._switches[name] = int(code)

    def switch(self, name):
        with self._lock:
            return self._switches.get(name, 200)

    def _sleep(self, seconds):
        self._stop.wait(max(0.0, min(float(seconds), self.max_sleep)))

    # -- recording ----------------------------------------------------------

    def _record(self, method, path, header_list, body, peer):
        with self._cond:
            self._seq += 1
            rec = Recorded(self._seq, method, path, list(header_list), body, peer)
            self._requests.append(rec)
            eid = rec.event_id
            if eid:
                self._by_event[eid].append(rec)
            self._cond.notify_all()
        if self.echo:
            print("%.3f %s %s webhook-id=%s attempt=%s %d bytes" % (
                rec.time, method, path, eid, rec.headers.get("x-airmeet-attempt"), len(body)),
                flush=True)
        return rec

    def clear(self):
        with self._lock:
            self._requests = []
            self._by_event.clear()
            self._flaky.clear()

    def snapshot(self):
        """Every recorded request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests(self, event_id=None, webhook=None, route=None):
        """Recorded requests, optionally those with this webhook-id header,
        x-airmeet-webhook-id header and/or path (without query)."""
        with self._lock:
            rs = list(self._by_event.get(event_id, ())) if event_id is not None else list(self._requests)
        if webhook is not None:
            rs = [r for r in rs if r.webhook == webhook]
        if route is not None:
            rs = [r for r in rs if r.route == route]
        return rs

    def count(self, event_id=None, webhook=None, route=None):
        if webhook is None and route is None:
            with self._lock:
                if event_id is None:
                    return len(self._requests)
                return len(self._by_event.get(event_id, ()))
        return len(self.requests(event_id, webhook, route))

    def counts_by_event(self):
        """{webhook-id: number of requests received with it}."""
        with self._lock:
            return {k: len(v) for k, v in self._by_event.items()}

    def event_ids(self):
        with self._lock:
            return set(self._by_event)

    def total(self):
        with self._lock:
            return len(self._requests)

    def wait_for(self, predicate, timeout, interval=0.02):
        """Like the module's wait_for, but wakes as soon as a request arrives."""
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                return v
            with self._cond:
                self._cond.wait(min(interval, left))

    def wait_count(self, n, timeout, event_id=None, webhook=None, route=None):
        """Wait until at least n matching requests arrived; returns them (may
        be fewer on timeout)."""
        self.wait_for(lambda: self.count(event_id, webhook, route) >= n, timeout)
        return self.requests(event_id, webhook, route)


def main(argv=None):
    ap = argparse.ArgumentParser(description="airhook test webhook receiver")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-sleep", type=float, default=30.0)
    args = ap.parse_args(argv)
    rcv = Receiver(args.host, args.port, max_sleep=args.max_sleep, echo=True).start()
    print("receiver listening on %s" % rcv.url("/"), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        rcv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
