# SPDX-License-Identifier: MIT
"""Bad input (SPEC §7): size limits, wrong methods, unknown paths, absurd
queries, broken HTTP.  Nothing may crash or hang the server."""

import json
import os
import socket
import threading
import time
import unittest
import uuid

from harness import ServerTestCase, hook_url, parse_response

REGISTER = "/prod/platform-integration/v1/webhook-register"
LIST = "/prod/platform-integration/v1/webhook-list"


class BadInputTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "1000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = cls.srv.make_tenant()
        cls.token = cls.t.auth()

    def head(self, method, path, headers, length):
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % self.srv.port]
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        lines.append("Content-Length: %d" % length)
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def assert4xxJson(self, r):
        self.assertIsNotNone(r, "no answer")
        self.assertTrue(400 <= r.status < 500, "want a 4xx, got %r" % (r,))
        self.assertEqual(r.content_type.split(";")[0].strip(), "application/json", repr(r))
        self.assertIsNotNone(r.json, repr(r))

    # -- size limits -----------------------------------------------------------

    def test_register_body_over_64k_413(self):
        body = json.dumps({"name": "big", "triggerMetaInfoId": "trigger.airmeet.created",
                           "url": hook_url(), "description": "x" * (70 * 1024)}).encode()
        h = dict(self.t.key_headers(), **{"Content-Type": "application/json"})
        r = self.srv.send_streaming(self.head("POST", REGISTER, h, len(body)), body)
        self.assertIsNotNone(r, "no answer to an oversized body")
        self.assertPublicError(r, 413)
        self.assertServerUp()

    def test_register_body_just_under_64k_accepted(self):
        """Only the body size is limited: ~60 KiB of valid JSON (whitespace
        padding) is an ordinary request."""
        b = json.dumps({"name": "big", "triggerMetaInfoId": "trigger.airmeet.created",
                        "url": hook_url()}).encode()
        raw = b[:1] + b" " * (60 * 1024) + b[1:]
        self.assertLess(len(raw), 64 * 1024)
        r = self.srv.public("POST", "/platform-integration/v1/webhook-register",
                            headers=dict(self.t.key_headers(), **{"Content-Type": "application/json"}),
                            body=raw)
        self.assertEnvelope(r)

    def test_huge_content_length_answered_without_body(self):
        """A declared 100 MB body is refused up front, not waited for."""
        h = dict(self.t.key_headers(), **{"Content-Type": "application/json"})
        head = self.head("POST", REGISTER, h, 100 * 1024 * 1024)
        t0 = time.monotonic()
        r = self.srv.send_streaming(head, b"", timeout=8)
        self.assertIsNotNone(r, "no answer within 8 s to a 100 MB Content-Length")
        self.assertPublicError(r, 413)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertServerUp()

    def test_events_body_over_1m_413(self):
        probe = self.srv.admin("POST", "/events", {})
        if probe.status == 404:
            self.skipTest("POST /admin/v1/events answers 404: the event/delivery route is not "
                          "implemented yet (delivery issue), so its 1 MiB limit cannot be tested")
        data = {"communityId": self.t.community_id, "triggerMetaInfoId": "trigger.airmeet.created",
                "data": {"blob": "z" * (1024 * 1024 + 4096)}}
        body = json.dumps(data).encode()
        h = {"Authorization": "Bearer " + self.srv.admin_token, "Content-Type": "application/json"}
        r = self.srv.send_streaming(self.head("POST", "/admin/v1/events", h, len(body)), body, timeout=30)
        self.assertIsNotNone(r, "no answer to a 1 MiB+ event")
        self.assertEqual(r.status, 413, repr(r))
        self.assertEqual(r.content_type.split(";")[0].strip(), "application/json", repr(r))
        self.assertServerUp()

    def test_deeply_nested_json_400(self):
        raw = b'{"triggerMetaInfoId":"trigger.airmeet.created","url":"%s","name":%s}' % (
            hook_url().encode(), b"[" * 25000 + b"]" * 25000)
        self.assertLess(len(raw), 64 * 1024)
        r = self.srv.public("POST", "/platform-integration/v1/webhook-register",
                            headers=dict(self.t.key_headers(), **{"Content-Type": "application/json"}),
                            body=raw)
        self.assertPublicError(r, 400)
        r = self.srv.request("POST", "/admin/v1/communities", body=b"[" * 30000,
                             headers={"Authorization": "Bearer " + self.srv.admin_token,
                                      "Content-Type": "application/json"})
        self.assertEqual(r.status, 400, repr(r))
        self.assertServerUp()

    # -- methods and paths -----------------------------------------------------

    def test_put_on_register_405(self):
        r = self.srv.request("PUT", REGISTER, headers=self.t.key_headers(),
                             json_body={"triggerMetaInfoId": "trigger.airmeet.created", "url": hook_url()})
        self.assertPublicError(r, 405)
        allow = r.header("Allow")
        self.assertIsNotNone(allow, "405 without Allow: %r" % (r.header_list,))
        self.assertIn("POST", [m.strip().upper() for m in allow.split(",")])

    def test_other_wrong_methods_405(self):
        for method, path, want in (("POST", "/healthz", "GET"), ("DELETE", "/readyz", "GET"),
                                   ("PATCH", LIST, "GET"), ("DELETE", "/prod/auth", "POST")):
            with self.subTest(method=method, path=path):
                r = self.srv.request(method, path)
                self.assertEqual(r.status, 405, repr(r))
                self.assertJson(r)
                self.assertIn(want, (r.header("Allow") or "").upper(), repr(r.header_list))

    def test_unknown_paths_404_json(self):
        # "/" is the web console's redirect (test_console.py).
        for path in ("/nope", "/prod", "/prod/", "/prod/nope", "/prod/platform-integration/v1/nope",
                     "/prod/platform-integration/v2/webhook-list", "/PROD/auth", "/healthz/extra",
                     "/prod/auth/extra", "/" + "a" * 2000, "/prod/%ff%fe", "/%c0%ae%c0%ae/"):
            with self.subTest(path=path[:40]):
                r = self.srv.request("GET", path)
                self.assertPublicError(r, 404)

    def test_non_utf8_path_404_json(self):
        resp = parse_response(self.srv.raw(b"GET /\xff\xfe/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        self.assertIsNotNone(resp, "no answer")
        self.assertPublicError(resp, 404)

    def test_head_healthz(self):
        """RFC 9110 9.1: general-purpose servers support HEAD wherever GET works."""
        resp = parse_response(self.srv.raw(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        self.assertIsNotNone(resp, "no answer")
        self.assertEqual(resp.status, 200, repr(resp))
        self.assertEqual(resp.body, b"", "HEAD answers carry no body")

    def test_unknown_admin_path_404_json(self):
        r = self.srv.admin("GET", "/nope/" + str(uuid.uuid4()))
        self.assertEqual(r.status, 404, repr(r))
        self.assertJson(r)

    def test_dot_segments_do_not_bypass_admin_auth(self):
        for path in ("/prod/../admin/v1/communities", "/prod/%2e%2e/admin/v1/communities",
                     "//admin/v1/communities", "/admin/v1/./communities", "/admin//v1/communities"):
            with self.subTest(path=path):
                resp = parse_response(self.srv.raw(
                    ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode()))
                self.assertIsNotNone(resp, "no answer")
                self.assertNotEqual(resp.status, 200, "admin data without the admin token via %s" % path)
                self.assertTrue(400 <= resp.status < 500, repr(resp))
        self.assertServerUp()

    # -- absurd query strings ---------------------------------------------------

    def test_absurd_queries(self):
        h = {"X-Airmeet-Access-Token": self.token}
        many = "&".join("p%d=%d" % (i, i) for i in range(500)) + "&airmeetId=not-a-uuid"
        cases = {
            "10KB value": "airmeetId=" + "a" * 10240,
            "500 params": many,
            "bad percent": "airmeetId=%zz%4",
            "percent NUL": "airmeetId=%00" + self.t.airmeet_id,
            "duplicate airmeetId": "airmeetId=%s&airmeetId=%s" % (self.t.airmeet_id, "not-a-uuid"),
            "duplicate conflicting": "airmeetId=%s&airmeetId=%s" % (self.t.airmeet_id, uuid.uuid4()),
            "trailing percent": "airmeetId=%s%%" % self.t.airmeet_id,
            "non-UTF-8 value": "airmeetId=%ff%fe",
            "overlong UTF-8": "airmeetId=%c0%af",
        }
        for name, qs in cases.items():
            with self.subTest(case=name):
                try:
                    r = self.srv.request("GET", LIST + "?" + qs, headers=h, timeout=10)
                except (socket.timeout, ConnectionError) as e:
                    self.fail("no answer (%s) to query %s" % (e, name))
                self.assert4xxJson(r)
                self.assertServerUp()

    def test_absurd_query_on_sample_payload(self):
        for qs in ("triggerMetaInfoId=" + "t" * 10240, "triggerMetaInfoId=%E0%A4%A",
                   "triggerMetaInfoId=%ff%fe"):
            with self.subTest(qs=qs[:30]):
                r = self.srv.request("GET", "/prod/platform-integration/v1/sample-payload?" + qs,
                                     headers=self.t.key_headers(), timeout=10)
                self.assert4xxJson(r)
        self.assertServerUp()

    # -- broken HTTP -------------------------------------------------------------

    def test_garbage_bytes(self):
        rnd = os.urandom(4096)
        for data in (rnd, rnd + b"\r\n\r\n", b"\x00" * 1000 + b"\r\n\r\n",
                     b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\nhello",
                     b"GET /healthz%00 HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
                     b"\r\n\r\n\r\n\r\n"):
            with self.subTest(data=data[:40]):
                out = self.srv.raw(data, read_timeout=3)
                resp = parse_response(out)
                if resp is not None and resp.status:
                    self.assertTrue(resp.status < 500 or resp.status == 505,
                                    "server error on garbage: %r" % (resp,))
                self.assertServerUp()

    def test_truncated_request(self):
        for data in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                     b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
                     b"GE"):
            with self.subTest(data=data[:30]):
                self.srv.raw(data, read_timeout=0.2, close_write=True)
                self.assertServerUp()

    def test_stalled_request_does_not_block_others(self):
        socks = []
        try:
            for _ in range(20):
                s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
                s.sendall(b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                socks.append(s)
            for _ in range(20):
                s = socket.create_connection((self.srv.host, self.srv.port), timeout=5)
                socks.append(s)  # connected, sends nothing
            t0 = time.monotonic()
            self.assertServerUp()
            self.assertLess(time.monotonic() - t0, 5, "healthz was slow while idle clients were connected")
        finally:
            for s in socks:
                s.close()
        self.assertServerUp()

    def test_huge_header(self):
        for size in (16 * 1024, 200 * 1024):
            with self.subTest(size=size):
                data = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * size + b"\r\n\r\n")
                resp = parse_response(self.srv.raw(data, read_timeout=5))
                if resp is not None and resp.status:
                    self.assertTrue(resp.status == 200 or 400 <= resp.status < 500, repr(resp))
                self.assertServerUp()
        # Many headers
        data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"
        resp = parse_response(self.srv.raw(data, read_timeout=5))
        if resp is not None and resp.status:
            self.assertTrue(resp.status == 200 or 400 <= resp.status < 500, repr(resp))
        self.assertServerUp()

    def test_too_many_headers_431_json(self):
        # More headers than the server keeps (64): refused as a whole with a
        # JSON 431, not served with the later headers silently dropped.
        many = "".join("X-H%d: v\r\n" % i for i in range(70))
        for path, shape in (("/prod/platform-integration/v1/webhook-list", "public"),
                            ("/admin/v1/communities", "admin")):
            with self.subTest(path=path):
                data = ("GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
                        % (path, many)).encode()
                resp = parse_response(self.srv.raw(data, read_timeout=5))
                self.assertIsNotNone(resp, "no answer to 70 headers")
                self.assertEqual(resp.status, 431, repr(resp))
                j = json.loads(resp.body)
                if shape == "public":
                    self.assertEqual(j["statusMessage"], "REQUEST_HEADER_FIELDS_TOO_LARGE")
                else:
                    self.assertEqual(j["error"], "REQUEST_HEADER_FIELDS_TOO_LARGE")
        self.assertServerUp()

    def test_huge_header_gets_431(self):
        # A header section over the 64 KiB per-connection memory limit is
        # refused by libmicrohttpd itself, before routing, with its own
        # (non-JSON) 431 page and a closed connection; the server lives on.
        data = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (200 * 1024) + b"\r\n\r\n")
        resp = parse_response(self.srv.raw(data, read_timeout=5))
        self.assertIsNotNone(resp, "connection closed without an answer to a 200 KB header")
        self.assertEqual(resp.status, 431, repr(resp))
        self.assertServerUp()

    def test_http10_request(self):
        resp = parse_response(self.srv.raw(b"GET /healthz HTTP/1.0\r\n\r\n", read_timeout=5))
        self.assertIsNotNone(resp)
        self.assertEqual(resp.status, 200, repr(resp))

    def test_concurrent_clients(self):
        errors = []
        statuses = []
        lock = threading.Lock()

        def worker():
            for _ in range(10):
                try:
                    r = self.srv.request("GET", "/prod/platform-integration/v1/sample-payload",
                                         headers=self.t.key_headers(),
                                         query={"triggerMetaInfoId": "trigger.airmeet.polls"}, timeout=15)
                    with lock:
                        statuses.append(r.status)
                except Exception as e:  # noqa: BLE001 - collected and reported
                    with lock:
                        errors.append(repr(e))

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(16)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        self.assertFalse(any(th.is_alive() for th in threads), "requests hung")
        self.assertEqual(errors, [])
        self.assertEqual(statuses, [200] * 160)


if __name__ == "__main__":
    unittest.main()


class RefusedWithBodyTests(ServerTestCase):
    """A request refused from its headers alone still gets its JSON answer,
    body or not, and Allow appears on 405 answers only."""

    def test_wrong_method_with_large_body_gets_405(self):
        r = self.srv.request("POST", "/healthz", body=b"x" * (70 * 1024),
                             headers={"Content-Type": "application/json"})
        self.assertJson(r, 405)
        self.assertIn("GET", r.header("Allow") or "")

    def test_unknown_path_with_large_body_gets_404(self):
        r = self.srv.request("POST", "/prod/nothing", body=b"x" * (70 * 1024),
                             headers={"Content-Type": "application/json"})
        self.assertJson(r, 404)

    def test_no_allow_header_on_success(self):
        r = self.srv.admin("GET", "/communities")
        self.assertJson(r, 200)
        self.assertIsNone(r.header("Allow"), repr(r.header_list))
