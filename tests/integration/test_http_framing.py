# SPDX-License-Identifier: MIT
"""Strict HTTP framing and targets (the "Hardening" issue, findings 3, 4, 5
and 7; docs/operations.md, "HTTP framing").

A request whose framing a proxy in front could read differently is answered
400 (or 501 for a transfer coding the server does not decode) in JSON, and
the connection is closed: nothing after it on the connection is read as a
request.  Each case is tried alone and pipelined behind a valid request.
A target with an encoded NUL or an encoded slash is refused before it is
decoded.  Whatever the listener refuses is answered in the dialect of the
route the path names, logged and counted in /metrics like any answer.  A
request refused from its head is answered at once, while its body is still
on its way, chunked or not.
"""

import json
import re
import socket
import time
import unittest
import uuid

from harness import ServerTestCase, parse_response

VALID = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
SMUGGLED = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"

# (name, raw request, status): the raw request is followed by SMUGGLED,
# which a server that reads the framing one way or the other may take for a
# second request.
AMBIGUOUS = [
    ("two Content-Length, small first",
     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\n"
     b"hello", 400),
    ("two Content-Length, large first",
     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 41\r\nContent-Length: 5\r\n\r\n"
     b"hello", 400),
    ("Content-Length and chunked",
     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("chunked and Content-Length",
     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("space before the colon",
     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length : 12\r\n\r\nhello world!", 400),
    ("obsolete line folding",
     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
     400),
    ("folded into a name",
     b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\n", 400),
    ("Transfer-Encoding on HTTP/1.0",
     b"POST /prod/auth HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("gzip, chunked", b"POST /prod/auth HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("xchunked", b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
                 b"0\r\n\r\n", 501),
    ("identity", b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n"
                 b"0\r\n\r\n", 501),
    ("chunked, gzip", b"POST /prod/auth HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("two Transfer-Encoding", b"POST /prod/auth HTTP/1.1\r\nHost: x\r\n"
                              b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"0\r\n\r\n", 400),
    ("bare CR in a value",
     b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: 5\r\n\r\n", 400),
    ("NUL byte in a line",
     b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00Content-Length: 5\r\n\r\n", 400),
]


def complete(data):
    """The number of complete responses at the start of data."""
    n = 0
    while True:
        i = data.find(b"\r\n\r\n")
        if i < 0:
            return n
        m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", data[:i])
        size = i + 4 + (int(m.group(1)) if m else 0)
        if len(data) < size:
            return n
        n += 1
        data = data[size:]


def read_all(sock, timeout, want=None):
    """What the server sends until it closes, timeout passes, or (with want)
    that many complete responses are in; (data, closed)."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline and not (want and complete(data) >= want):
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:
            return data, True
        if not d:
            return data, True
        data += d
    return data, False


def split_responses(data):
    """The HTTP responses in data, in order (by Content-Length)."""
    out = []
    while data:
        i = data.find(b"\r\n\r\n")
        if i < 0:
            out.append(parse_response(data))
            break
        m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", data[:i])
        n = int(m.group(1)) if m else 0
        out.append(parse_response(data[:i + 4 + n]))
        data = data[i + 4 + n:]
    return out


class FramingTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "0")

    def exchange(self, data, timeout=3.0, want=None):
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
        try:
            s.sendall(data)
            got, closed = read_all(s, timeout, want)
        finally:
            s.close()
        return split_responses(got), closed

    def assertRefused(self, resp, status, what):
        self.assertIsNotNone(resp, "%s: no answer" % what)
        self.assertEqual(resp.status, status, "%s: %r" % (what, resp))
        self.assertEqual(resp.content_type.split(";")[0], "application/json", "%s: %r" % (what, resp))
        j = resp.json
        self.assertIsInstance(j, dict, "%s: %r" % (what, resp))
        # /prod/auth's own errors are {"success":false}; what is said about the
        # request itself is in the public API's envelope.
        self.assertEqual(j.get("statusCode"), str(status), "%s: %r" % (what, resp))
        self.assertTrue(j.get("message"), "%s: %r" % (what, resp))
        self.assertEqual((resp.header("Connection") or "").lower(), "close", "%s: %r" % (what, resp))

    def test_ambiguous_framing_alone(self):
        for name, raw, status in AMBIGUOUS:
            with self.subTest(case=name):
                resps, closed = self.exchange(raw + SMUGGLED)
                self.assertTrue(resps, "%s: no answer (the server waited or hung)" % name)
                self.assertRefused(resps[0], status, name)
                self.assertEqual(len(resps), 1, "%s: a smuggled request was answered: %r"
                                 % (name, resps))
                self.assertTrue(closed, "%s: the connection stayed open" % name)
        self.assertServerUp()

    def test_ambiguous_framing_pipelined(self):
        for name, raw, status in AMBIGUOUS:
            with self.subTest(case=name):
                resps, closed = self.exchange(VALID + raw + SMUGGLED)
                self.assertTrue(resps, "%s: no answer" % name)
                self.assertEqual(resps[0].status, 200, "%s: %r" % (name, resps[0]))
                self.assertGreater(len(resps), 1, "%s: no answer to the second request" % name)
                self.assertRefused(resps[1], status, name)
                self.assertEqual(len(resps), 2, "%s: a smuggled request was answered: %r"
                                 % (name, resps))
                self.assertTrue(closed, "%s: the connection stayed open" % name)

    def test_admin_route_refused_in_admin_dialect(self):
        raw = (b"POST /admin/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
               b"Content-Length: 3\r\n\r\n{}")
        resps, closed = self.exchange(raw)
        self.assertTrue(resps and closed, repr(resps))
        self.assertAdminError(resps[0], 400)

    def test_valid_chunked_upload_still_works(self):
        body = json.dumps({"name": "chunked"}).encode()
        raw = (b"POST /admin/v1/communities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
               + self.srv.admin_token.encode()
               + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" + VALID)
        resps, _ = self.exchange(raw, want=2)
        self.assertGreaterEqual(len(resps), 2, repr(resps))
        self.assertEqual(resps[0].status, 201, repr(resps[0]))
        self.assertEqual(resps[1].status, 200, repr(resps[1]))

    def test_refusals_are_logged_and_counted(self):
        def count(route, code):
            text = self.srv.request("GET", "/metrics").text
            m = re.search(r'^airhook_http_requests_total\{route="%s",code="%s"\} (\d+)$'
                          % (re.escape(route), code), text, re.M)
            return int(m.group(1)) if m else 0

        before_400, before_501 = count("auth", 400), count("auth", 501)
        self.exchange(AMBIGUOUS[0][1])
        self.exchange(AMBIGUOUS[8][1])
        self.assertEqual(count("auth", 400), before_400 + 1)
        self.assertEqual(count("auth", 501), before_501 + 1)
        lines = [r for r in self.srv.log_records()
                 if r.get("msg") == "request" and r.get("path") == "/prod/auth"
                 and r.get("status") in (400, 501)]
        self.assertGreaterEqual(len(lines), 2, self.srv.stderr_tail(10))

    def test_libmicrohttpd_own_refusals_are_counted(self):
        """A Content-Length libmicrohttpd cannot parse is refused before any
        callback could answer: its answer is not JSON (docs/operations.md says
        so), but it is one answer, logged and counted."""
        def count():
            text = self.srv.request("GET", "/metrics").text
            m = re.search(r'^airhook_http_requests_total\{route="unknown",code="400"\} (\d+)$',
                          text, re.M)
            return int(m.group(1)) if m else 0

        before = count()
        for value in (b"-1", b"0x10", b"+12"):
            with self.subTest(value=value):
                resps, closed = self.exchange(b"POST /prod/auth HTTP/1.1\r\nHost: x\r\n"
                                              b"Content-Length: " + value + b"\r\n\r\n")
                self.assertTrue(resps and resps[0].status == 400 and closed, repr(resps))
        self.assertEqual(count(), before + 3)


class TargetTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "0")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant()

    def raw(self, target, headers=b""):
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
        try:
            s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
            got, _ = read_all(s, 3.0, want=1)
        finally:
            s.close()
        resps = split_responses(got)
        return resps[0] if resps else None

    def admin_header(self):
        return b"Authorization: Bearer " + self.srv.admin_token.encode() + b"\r\n"

    def test_encoded_nul_in_path(self):
        r = self.raw(b"/admin/v1/communities%00/x", self.admin_header())
        self.assertIsNotNone(r, "no answer")
        j = self.assertAdminError(r, 400)
        self.assertIn("%00", j["message"])

    def test_encoded_slash_in_path(self):
        for target in (b"/admin%2fv1/communities", b"/admin%2Fv1/communities",
                       b"/prod/platform-integration%2fv1/webhook-list"):
            with self.subTest(target=target):
                r = self.raw(target, self.admin_header())
                self.assertIsNotNone(r, "no answer")
                self.assertEqual(r.status, 400, repr(r))
                self.assertJson(r)

    def test_encoded_nul_in_query_value(self):
        keys = ("x-access-key: %s\r\nx-secret-key: %s\r\n"
                % (self.t.access_key, self.t.secret_key)).encode()
        ok = self.raw(b"/prod/platform-integration/v1/sample-payload?triggerMetaInfoId="
                      b"trigger.airmeet.created", keys)
        self.assertEqual(ok.status, 200, repr(ok))
        r = self.raw(b"/prod/platform-integration/v1/sample-payload?triggerMetaInfoId="
                     b"trigger.airmeet.created%00x", keys)
        self.assertPublicError(r, 400)

    def test_many_query_parameters(self):
        for n in (33, 950, 2000):
            with self.subTest(n=n):
                q = "&".join("p%d=%d" % (i, i) for i in range(n)).encode()
                if len(q) > 8000:
                    q = "&".join("p%d" % i for i in range(n)).encode()[:8000]
                r = self.raw(b"/prod/platform-integration/v1/webhook-list?" + q)
                self.assertIsNotNone(r, "no answer to %d query parameters (silent close)" % n)
                j = self.assertPublicError(r, 400)
                self.assertIn("too many query parameters", j["message"])

    def test_target_too_long(self):
        r = self.raw(b"/prod/platform-integration/v1/webhook-list?airmeetId=" + b"a" * 9000)
        self.assertIsNotNone(r, "no answer to a 9 KB target")
        self.assertPublicError(r, 414)
        r = self.raw(b"/admin/v1/communities?x=" + b"a" * 9000, self.admin_header())
        self.assertAdminError(r, 414)

    def test_header_section_too_large(self):
        big = b"X-Big: " + b"b" * 40000 + b"\r\n"
        r = self.raw(b"/prod/platform-integration/v1/webhook-list", big)
        self.assertIsNotNone(r, "no answer to a 40 KB header")
        self.assertPublicError(r, 431)
        r = self.raw(b"/admin/v1/communities", big)
        self.assertAdminError(r, 431)

    def test_refused_get_keeps_the_connection(self):
        """A refusal without a body is answered on the same connection, which stays open."""
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
        try:
            s.sendall(b"GET /nope-%s HTTP/1.1\r\nHost: x\r\n\r\n" % uuid.uuid4().hex.encode()
                      + b"GET /admin/v1/x%00 HTTP/1.1\r\nHost: x\r\n\r\n" + VALID)
            got, closed = read_all(s, 1.5)
        finally:
            s.close()
        resps = split_responses(got)
        self.assertEqual([r.status for r in resps], [404, 400, 200], repr(resps))
        self.assertFalse(closed)


class EarlyAnswerTests(ServerTestCase):
    """A request refused from its head, or a chunked body past its limit, is
    answered while the body is still coming: the client that stops sending
    and waits gets its answer (finding 7)."""

    SERVER_ARGS = ("--auth-fail-limit", "0")

    def send_then_wait(self, head, body, wait=3.0):
        """Sends head and body (no more), then waits for an answer; (response, closed)."""
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
        try:
            s.sendall(head)
            try:
                s.sendall(body)
            except OSError:
                pass  # the server may answer and stop reading early
            t0 = time.monotonic()
            got, _ = read_all(s, wait, want=1)
            elapsed = time.monotonic() - t0
            try:
                s.shutdown(socket.SHUT_WR)  # the client is done: the server closes
            except OSError:
                pass
            _, closed = read_all(s, 2.0)
        finally:
            s.close()
        resps = split_responses(got)
        return (resps[0] if resps else None), elapsed, closed

    @staticmethod
    def chunks(total, size=16384):
        piece = b"%x\r\n" % size + b"x" * size + b"\r\n"
        return piece * (total // size)

    def test_chunked_body_over_the_limit(self):
        head = (b"POST /prod/platform-integration/v1/webhook-register HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        r, elapsed, closed = self.send_then_wait(head, self.chunks(256 * 1024))
        self.assertIsNotNone(r, "no answer to 256 KiB of a chunked body over the 64 KiB limit "
                                "(the server waits for the whole upload)")
        self.assertPublicError(r, 413)
        self.assertTrue(closed, "the connection stayed open after the 413")

    def test_chunked_body_to_an_unknown_path(self):
        head = b"POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        r, elapsed, closed = self.send_then_wait(head, self.chunks(64 * 1024))
        self.assertIsNotNone(r, "no answer before the end of a chunked body to an unknown path")
        self.assertPublicError(r, 404)
        self.assertTrue(closed)

    def test_admin_chunked_body_over_the_limit(self):
        head = (b"POST /admin/v1/communities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + self.srv.admin_token.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        r, _, _ = self.send_then_wait(head, self.chunks(128 * 1024))
        self.assertIsNotNone(r, "no answer")
        self.assertAdminError(r, 413)

    def test_announced_body_to_an_unknown_path(self):
        head = b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
        r, _, closed = self.send_then_wait(head, b"x" * (128 * 1024))
        self.assertIsNotNone(r, "no answer before the announced 10 MB arrived")
        self.assertPublicError(r, 404)
        self.assertTrue(closed)

    def test_wrong_method_with_a_body(self):
        head = b"PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
        r, _, _ = self.send_then_wait(head, b"x" * 65536)
        self.assertIsNotNone(r, "no answer")
        self.assertEqual(r.status, 405, repr(r))
        self.assertIn("GET", r.header("Allow") or "")
        self.assertJson(r)


if __name__ == "__main__":
    unittest.main()
