# SPDX-License-Identifier: MIT
"""Helpers for the `airhook listen` tests: the CLI as a running process whose
stdout and stderr are read line by line as they come, a fake server that
speaks the listener protocol (docs/listen.md#protocol) from a script, and a
TCP proxy that can be cut.  Python 3 stdlib only; everything on 127.0.0.1."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from receiver import wait_for

SECRET = "whsec_" + base64.b64encode(b"listen-test-secret-0123456789abc").decode()


def sign(secret, msg_id, ts, body):
    """The Standard Webhooks v1 signature of body (bytes)."""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, b"%s.%s." % (msg_id.encode(), str(ts).encode()) + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


class Cli:
    """`airhook ARGS` running, its output collected as it comes."""

    def __init__(self, binary, args, env):
        self.proc = subprocess.Popen([binary] + list(args), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lock = threading.Lock()
        self.out, self.err = [], []
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.out),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.err),
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self, f, into):
        for line in iter(f.readline, b""):
            with self._lock:
                into.append(line.decode("utf-8", "replace").rstrip("\n"))

    def stdout(self):
        with self._lock:
            return "\n".join(self.out)

    def stderr(self):
        with self._lock:
            return "\n".join(self.err)

    def wait_line(self, regex, timeout, stream="out"):
        """The first match of regex in stdout (or stderr), waiting up to timeout s; None if none."""
        rx = re.compile(regex)

        def find():
            if self.proc.poll() is not None:
                for t in self._threads:
                    t.join(timeout=2)
            text = self.stdout() if stream == "out" else self.stderr()
            return rx.search(text)
        return wait_for(find, timeout)

    def interrupt(self, timeout=15):
        """SIGINT, then the exit code (kills it after timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=5)

    def describe(self):
        return "stdout:\n%s\nstderr:\n%s" % (self.stdout(), self.stderr())


class Proxy:
    """A TCP proxy 127.0.0.1:port -> target that can cut every connection it holds."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._lock = threading.Lock()
        self._conns = []
        self.accepted = 0
        self._stop = False
        self.refusing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.refusing:  # offline: every connection is reset at once
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
                continue
            try:
                u = socket.create_connection(self.target, timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self._lock:
                self._conns.append((c, u))
                self.accepted += 1
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        """Ends every connection held, both ways at once (a close() alone would wait
        for the threads blocked in recv); new ones are still accepted.  Returns how many."""
        with self._lock:
            conns, self._conns = self._conns, []
        for pair in conns:
            for s in pair:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        return len(conns)

    def go_down(self):
        """Offline: cuts everything and resets every new connection until go_up()."""
        self.refusing = True
        return self.cut()

    def go_up(self):
        self.refusing = False

    def stop(self):
        self._stop = True
        self.sock.close()
        self.cut()


class FakeServer:
    """A listener server that follows a script: streams[i] (a function of
    (stream, listener_id)) serves the i-th stream connection; the last one
    serves any further.  It records what the CLI sends: auth calls,
    listeners created, results, deletes."""

    def __init__(self, triggers, streams):
        self.triggers = list(triggers)
        self.streams = list(streams)
        self.lock = threading.Condition()
        self.auths = 0
        self.tokens = set()
        self.listeners = []      # ids, in creation order
        self.created = []        # request bodies
        self.results = []        # (listener id, result JSON)
        self.deleted = []
        self.stream_count = 0
        self.made = 0
        self.refuse_creates = []  # statuses the next listener creations get
        self.stopping = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):
                pass

            def do_POST(self):
                fake.handle(self, "POST")

            def do_GET(self):
                fake.handle(self, "GET")

            def do_DELETE(self):
                fake.handle(self, "DELETE")

        class Quiet(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the CLI going away mid-answer (Ctrl-C) is part of the tests

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base_url = "http://127.0.0.1:%d/prod" % self.port
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def expire_tokens(self):
        with self.lock:
            self.tokens.clear()

    # -- answers ---------------------------------------------------------------

    @staticmethod
    def answer(h, status, doc=None):
        body = json.dumps(doc).encode() if doc is not None else b""
        h.send_response(status)
        if doc is not None:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def public_error(self, h, status, message):
        self.answer(h, status, {"statusCode": str(status), "statusMessage": message})

    def handle(self, h, method):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        path = h.path
        if method == "POST" and path == "/prod/auth":
            if (h.headers.get("X-Airmeet-Access-Key"), h.headers.get("X-Airmeet-Secret-Key")) \
                    != ("ak", "sk"):
                return self.public_error(h, 401, "bad key pair")
            with self.lock:
                self.auths += 1
                token = "tok-%d" % self.auths
                self.tokens.add(token)
                self.lock.notify_all()
            return self.answer(h, 200, {"token": token})
        with self.lock:
            ok = h.headers.get("X-Airmeet-Access-Token") in self.tokens
        if not ok:  # as airhook's public API says it (the protocol's word is 401)
            return self.public_error(h, 412, "the access token has expired; get a new one "
                                             "from POST /auth")
        m = re.match(r"^/prod/airhook/v1/listeners(?:/([^/]+)(/stream|/results)?)?$", path)
        if method == "GET" and path == "/prod/airhook/v1/listener-secret":
            return self.answer(h, 200, {"secret": SECRET})
        if not m:
            return self.public_error(h, 404, "no route")
        lid, sub = m.group(1), m.group(2)
        if method == "POST" and not lid:
            return self.create(h, json.loads(body or b"{}"))
        if method == "GET" and sub == "/stream":
            return self.stream(h, lid)
        if method == "POST" and sub == "/results":
            with self.lock:
                self.results.append((lid, json.loads(body)))
                self.lock.notify_all()
            return self.answer(h, 200, {"recorded": True})
        if method == "DELETE" and lid and not sub:
            with self.lock:
                self.deleted.append(lid)
                self.lock.notify_all()
            h.send_response(204)
            h.end_headers()
            return None
        return self.public_error(h, 404, "no route")

    def create(self, h, doc):
        with self.lock:
            refuse = self.refuse_creates.pop(0) if self.refuse_creates else None
        if refuse:
            return self.public_error(h, refuse, "too many registrations, try again later")
        triggers = doc.get("triggers") or self.triggers
        for t in triggers:
            if t not in self.triggers:
                return self.public_error(h, 400, "unknown triggerMetaInfoId: %s" % t)
        with self.lock:
            self.made += 1
            lid = "L-%d" % self.made
            self.listeners.append(lid)
            self.created.append(doc)
            self.lock.notify_all()
        self.answer(h, 201, {"id": lid, "secret": SECRET, "triggers": triggers,
                             "airmeetId": doc.get("airmeetId"), "sessionId": doc.get("sessionId"),
                             "webhooks": [], "timeoutMs": 600000,
                             "stream": "/prod/airhook/v1/listeners/%s/stream" % lid})

    def stream(self, h, lid):
        with self.lock:
            i = self.stream_count
            self.stream_count += 1
            gone = lid in self.deleted or lid not in self.listeners
        if gone:
            return self.public_error(h, 404, "no such listener")
        script = self.streams[min(i, len(self.streams) - 1)]
        script(Stream(self, h), lid)

    # -- waiting -------------------------------------------------------------------

    def wait(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True

    def result_for(self, delivery_id):
        with self.lock:
            for lid, r in self.results:
                if r.get("deliveryId") == delivery_id:
                    return r
        return None


class Stream:
    """One stream connection of the fake server, for a script to write to."""

    def __init__(self, fake, h):
        self.fake = fake
        self.h = h

    def refuse(self, status, message):
        self.fake.public_error(self.h, status, message)

    def open(self):
        h = self.h
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.end_headers()
        h.wfile.flush()

    def send(self, raw):
        self.h.wfile.write(raw.encode() if isinstance(raw, str) else raw)
        self.h.wfile.flush()

    def event(self, name, doc, event_id=None):
        self.send("event: %s\n%sdata: %s\n\n" % (name, "id: %s\n" % event_id if event_id else "",
                                                   json.dumps(doc, separators=(",", ":"))))

    def ready(self, lid):
        self.event("ready", {"listenerId": lid})

    def delivery(self, d):
        self.event("delivery", d, "%s.%d" % (d["deliveryId"], d["attempt"]))

    def ping_until(self, stop, interval=0.3):
        """Pings until stop() is true, the server stops or the client went away."""
        try:
            while not stop() and not self.fake.stopping.is_set():
                self.send(": ping\n\n")
                time.sleep(interval)
        except OSError:
            pass

    def cut(self):
        """Ends the connection abruptly (RST), mid-event if something half-sent precedes."""
        s = self.h.connection
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.h.close_connection = True
        s.close()


def delivery(delivery_id, trigger, body, attempt=1, secret=SECRET, extra=None):
    """A delivery event's data: signed headers around the exact body (str)."""
    raw = body.encode()
    ts = int(time.time())
    msg_id = "evt-" + delivery_id
    headers = {"content-type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, raw),
               "x-airmeet-webhook-id": "wh-" + trigger, "x-airmeet-attempt": str(attempt),
               "user-agent": "airhook/test"}
    headers.update(extra or {})
    return {"deliveryId": delivery_id, "webhookId": "wh-" + trigger, "eventId": msg_id,
            "trigger": trigger, "attempt": attempt, "headers": headers, "body": body}


def cli_env(**extra):
    env = {"PATH": "/usr/bin:/bin", "AIRHOOK_ACCESS_KEY": "ak", "AIRHOOK_SECRET_KEY": "sk"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env
