# SPDX-License-Identifier: MIT
"""Startup, shutdown, --demo, the generated admin token, keep-alive."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

import harness
from harness import (Server, ServerTestCase, UUID_RE, SECRET_KEY_RE, TOKEN_RE, hook_url)


class StartStopTests(ServerTestCase):
    """Each test starts its own server(s); the class server is unused."""

    @classmethod
    def setUpClass(cls):
        unittest.TestCase.setUpClass()
        cls.srv = None

    @classmethod
    def tearDownClass(cls):
        pass

    def _start(self, *args, **kw):
        s = Server(*args, **kw).start()
        self.addCleanup(self._cleanup, s)
        return s

    def _cleanup(self, s):
        if s.alive():
            s.kill()
        if s.own_dir:
            shutil.rmtree(s.workdir, ignore_errors=True)

    def test_ready_line_names_bound_port(self):
        s = self._start()
        self.assertRegex(s.ready_line, r"ready on http://127\.0\.0\.1:\d+")
        u = urllib.parse.urlsplit(s.base_url)
        self.assertEqual(u.hostname, "127.0.0.1")
        self.assertIsNotNone(u.port)
        self.assertNotEqual(u.port, 0, "ready line must name the port actually bound, not 0")
        # Something is really listening there, and it is airhook.
        socket.create_connection(("127.0.0.1", u.port), timeout=5).close()
        r = s.request("GET", "/healthz")
        self.assertEqual(r.status, 200, repr(r))
        s.stop()

    def test_sigterm_exits_zero(self):
        s = self._start()
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        self.assertEqual(s.stop(signal.SIGTERM), 0)

    def test_sigint_exits_zero(self):
        s = self._start()
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        self.assertEqual(s.stop(signal.SIGINT), 0)

    def test_sigterm_with_idle_keepalive_connection(self):
        """An idle keep-alive client must not hold the shutdown hostage."""
        s = self._start()
        c = s.connection()
        r = s.request("GET", "/healthz", conn=c)
        self.assertEqual(r.status, 200)
        try:
            self.assertEqual(s.stop(signal.SIGTERM), 0)
        finally:
            c.close()

    def test_sigterm_with_half_sent_request(self):
        """A client stuck mid-request must not hold the shutdown hostage."""
        s = self._start()
        sk = socket.create_connection((s.host, s.port), timeout=5)
        try:
            sk.sendall(b"POST /prod/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab")
            self.assertEqual(s.request("GET", "/healthz").status, 200)
            self.assertEqual(s.stop(signal.SIGTERM), 0)
        finally:
            sk.close()

    def test_region_flag_shown_in_healthz(self):
        s = self._start(["--region", "eu"])
        r = s.request("GET", "/healthz")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json.get("region"), "eu", repr(r))
        s.stop()

    def test_generated_admin_token_printed_once_and_kept(self):
        workdir = tempfile.mkdtemp(prefix="airhook-it-")
        self.addCleanup(shutil.rmtree, workdir, True)
        s = self._start(admin_token=None, workdir=workdir)
        line, m = s.wait_for_stdout(r"^admin token: (\S+)", 5)
        token = m.group(1)
        self.assertGreaterEqual(len(token), 16, "a generated admin token should be long")
        r = s.admin("GET", "/communities", token=token)
        self.assertEqual(r.status, 200, repr(r))
        r = s.admin("POST", "/communities", {"name": "kept"}, token=token)
        self.assertEqual(r.status, 201, repr(r))
        cid = r.json["id"]
        self.assertEqual(s.admin("GET", "/communities", token=token + "x").status, 401)
        s.stop()
        lines = [l for l in s.stdout_lines if "admin token" in l]
        self.assertEqual(len(lines), 1, "admin token printed more than once: %r" % lines)

        # Restart on the same database: no new token, the old one still works.
        s2 = self._start(admin_token=None, workdir=workdir)
        r = s2.admin("GET", "/communities/" + cid, token=token)
        self.assertEqual(r.status, 200, "old admin token after restart: %r" % (r,))
        self.assertEqual(r.json.get("id"), cid)
        s2.stop()
        printed = [l for l in s2.stdout_lines if "admin token" in l]
        self.assertEqual(printed, [], "restart on the same db printed a new admin token")

    def test_nodes_starting_together_share_one_admin_token(self):
        """Two nodes started at once on a new database agree on one admin
        token: at most one prints it, and it works on both."""
        import threading
        workdir = tempfile.mkdtemp(prefix="airhook-it-")
        self.addCleanup(shutil.rmtree, workdir, True)
        nodes = [Server(admin_token=None, workdir=workdir) for _ in range(2)]
        threads = [threading.Thread(target=n.start) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for n in nodes:
            self.addCleanup(self._cleanup, n)
            self.assertTrue(n.alive(), "a node did not start")
        printed = [l.split()[2] for n in nodes for l in n.stdout_lines
                   if l.startswith("admin token:")]
        self.assertEqual(len(printed), 1, "exactly one node generates the token: %r" % printed)
        for n in nodes:
            r = n.admin("GET", "/communities", token=printed[0])
            self.assertEqual(r.status, 200, "the printed token on node %s: %r" % (n.port, r))

    def test_admin_token_from_env(self):
        tok = "env_" + uuid.uuid4().hex
        s = self._start(admin_token=None, env={"AIRHOOK_ADMIN_TOKEN": tok})
        self.assertEqual(s.admin("GET", "/communities", token=tok).status, 200)
        s.stop()
        self.assertFalse([l for l in s.stdout_lines if l.startswith("admin token:")],
                         "AIRHOOK_ADMIN_TOKEN was set: nothing should be generated or printed")

    def test_base_path_flag(self):
        s = self._start(["--base-path", "/api"])
        t = s.make_tenant(with_airmeet=False)
        r = s.request("POST", "/api/auth", headers=t.key_headers("airmeet"))
        self.assertEqual(r.status, 200, repr(r))
        r = s.request("GET", "/api/platform-integration/v1/sample-payload?triggerMetaInfoId=trigger.airmeet.created",
                      headers=t.key_headers())
        self.assertEqual(r.status, 200, repr(r))
        r = s.request("POST", "/prod/auth", headers=t.key_headers("airmeet"))
        self.assertEqual(r.status, 404, "the default base path must not answer when --base-path is set: %r" % (r,))
        s.stop()

    def test_state_survives_restart(self):
        workdir = tempfile.mkdtemp(prefix="airhook-it-")
        self.addCleanup(shutil.rmtree, workdir, True)
        tok_admin = "adm_" + uuid.uuid4().hex
        s = self._start(admin_token=tok_admin, workdir=workdir)
        t = s.make_tenant()
        token = t.auth()
        wid = t.register("trigger.airmeet.registrant.added", airmeet_id=t.airmeet_id).json["payload"]["id"]
        s.stop()
        s2 = self._start(admin_token=tok_admin, workdir=workdir)
        t.srv = s2
        r = s2.public("GET", "/platform-integration/v1/webhook-list",
                      headers={"X-Airmeet-Access-Token": token}, query={"airmeetId": t.airmeet_id})
        self.assertEqual(r.status, 200, "token issued before the restart: %r" % (r,))
        self.assertEqual([w["id"] for w in r.json["webhookDTOList"]], [wid])
        self.assertEqual(s2.public("POST", "/auth", headers=t.key_headers("airmeet")).status, 200)
        s2.stop()

    def test_explicit_admin_token_not_printed(self):
        s = self._start()
        s.stop()
        self.assertFalse([l for l in s.stdout_lines if s.admin_token in l],
                         "the admin token passed with --admin-token must not be echoed")
        self.assertFalse([l for l in s.stdout_lines if l.startswith("admin token:")])

    def test_demo_seeds_usable_data(self):
        s = self._start(["--demo"])
        want = {
            "access key": r"demo access key:\s*([0-9a-f-]{36})",
            "secret key": r"demo secret key:\s*(ahs_[0-9a-f]+)",
            "community": r"demo community:\s*([0-9a-f-]{36})",
            "airmeet": r"demo airmeet:\s*([0-9a-f-]{36})",
            "session": r"demo session:\s*([0-9a-f-]{36})",
        }
        got = {}
        for name, rx in want.items():
            _, m = s.wait_for_stdout(rx, 5)
            got[name] = m.group(1)
        demo_lines = [l for l in s.stdout_snapshot() if l.startswith("demo ")]
        self.assertTrue(demo_lines)
        for k in ("access key", "community", "airmeet", "session"):
            self.assertRegex(got[k], UUID_RE, k)
        self.assertRegex(got["secret key"], SECRET_KEY_RE)

        # /auth works with the printed pair.
        r = s.public("POST", "/auth", headers={"X-Airmeet-Access-Key": got["access key"],
                                               "X-Airmeet-Secret-Key": got["secret key"]})
        self.assertEqual(r.status, 200, repr(r))
        self.assertIs(r.json.get("success"), True)
        token = r.json.get("token")
        self.assertRegex(token, TOKEN_RE)

        # And so does every other call with the printed ids.
        r = s.public("POST", "/platform-integration/v1/webhook-register",
                     headers={"x-access-key": got["access key"], "x-secret-key": got["secret key"]},
                     query={"airmeetId": got["airmeet"], "sessionId": got["session"]},
                     json_body={"name": "demo", "triggerMetaInfoId": "trigger.session.attendee.joined",
                                "url": hook_url("demo"), "platformName": "demo"})
        self.assertEqual(r.status, 200, repr(r))
        wid = r.json["payload"]["id"]
        r = s.public("GET", "/platform-integration/v1/webhook-list",
                     headers={"X-Airmeet-Access-Token": token}, query={"sessionId": got["session"]})
        self.assertEqual(r.status, 200, repr(r))
        self.assertIn(wid, [w["id"] for w in r.json["webhookDTOList"]])
        r = s.admin("GET", "/communities/" + got["community"])
        self.assertEqual(r.status, 200, repr(r))
        r = s.admin("GET", "/airmeets/" + got["airmeet"])
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json.get("communityId"), got["community"])
        r = s.admin("GET", "/sessions/" + got["session"])
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json.get("airmeetId"), got["airmeet"])
        s.stop()


    def _demo_export(self, s):
        """The demo's export line, without its leading spaces."""
        line, _ = s.wait_for_stdout(r"^\s*export AIRHOOK_BASE_URL=", 5)
        return line.strip()

    def _run_with_export(self, export, *args):
        """`airhook ARGS` in a shell that ran the export line, from a clean environment."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        cmd = export + ' && exec "$0" "$@"'
        return subprocess.run(["sh", "-c", cmd, harness.BINARY] + list(args), env=env,
                              capture_output=True, text=True, timeout=30)

    def test_demo_export_line_points_admin_commands_at_this_server(self):
        # The server is on a port of its own (0 picks one), as with make run LISTEN=...
        token = "adm it's " + uuid.uuid4().hex[:8]
        s = self._start(["--demo"], admin_token=token)
        export = self._demo_export(s)
        self.assertIn("AIRHOOK_SERVER=" + s.base_url + " ", export + " ")
        p = self._run_with_export(export, "community", "list")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("00000000-0000-4000-8000-00000000c0de", p.stdout)
        p = self._run_with_export(export, "webhooks", "list",
                                  "--airmeet", "00000000-0000-4000-8000-0000000a1e01")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s.stop()

    def test_demo_export_line_reads_a_token_file_instead_of_echoing_it(self):
        workdir = tempfile.mkdtemp(prefix="airhook-it-")
        self.addCleanup(shutil.rmtree, workdir, True)
        token = "adm_" + uuid.uuid4().hex
        path = os.path.join(workdir, "admin token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (token + "\n").encode())
        os.close(fd)
        s = self._start(["--demo", "--admin-token-file", path], admin_token=None)
        s.admin_token = token
        export = self._demo_export(s)
        self.assertNotIn(token, "".join(s.stdout_snapshot()))
        p = self._run_with_export(export, "community", "list")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        s.stop()


class KeepAliveTests(ServerTestCase):

    def _same_socket_twice(self, method, path, headers=None):
        c = self.srv.connection()
        try:
            r1 = self.srv.request(method, path, headers=headers, conn=c)
            self.assertJson(r1, 200)
            self.assertNotEqual((r1.header("Connection") or "").lower(), "close", repr(r1))
            sock1 = c.sock
            self.assertIsNotNone(sock1, "client closed the socket after the first answer "
                                 "(server asked to close or sent no length): %r" % (r1,))
            fd1 = sock1.fileno()
            peer1 = sock1.getsockname()
            r2 = self.srv.request(method, path, headers=headers, conn=c)
            self.assertJson(r2, 200)
            self.assertIs(c.sock, sock1, "second request needed a new connection")
            self.assertEqual(c.sock.fileno(), fd1)
            self.assertEqual(c.sock.getsockname(), peer1)
            self.assertNotEqual((r2.header("Connection") or "").lower(), "close", repr(r2))
        finally:
            c.close()

    def test_keepalive_healthz(self):
        self._same_socket_twice("GET", "/healthz")

    def test_keepalive_public_api(self):
        t = self.srv.make_tenant()
        self._same_socket_twice(
            "GET", "/prod/platform-integration/v1/sample-payload?triggerMetaInfoId=trigger.airmeet.created",
            headers=t.key_headers())

    def test_keepalive_posts(self):
        t = self.srv.make_tenant()
        c = self.srv.connection()
        try:
            body = {"triggerMetaInfoId": "trigger.airmeet.created", "url": hook_url("ka")}
            r1 = self.srv.request("POST", "/prod/platform-integration/v1/webhook-register",
                                  headers=t.key_headers(), json_body=body, conn=c)
            self.assertJson(r1, 200)
            sock1 = c.sock
            self.assertIsNotNone(sock1, "connection closed after a POST: %r" % (r1,))
            r2 = self.srv.request("POST", "/prod/platform-integration/v1/webhook-register",
                                  headers=t.key_headers(), json_body=body, conn=c)
            self.assertJson(r2, 200)
            self.assertIs(c.sock, sock1)
            self.assertEqual(r1.json["payload"]["id"], r2.json["payload"]["id"])
        finally:
            c.close()

    def test_keepalive_after_error(self):
        """An error answer (404) with a body still keeps the connection."""
        c = self.srv.connection()
        try:
            r1 = self.srv.request("GET", "/no/such/path", conn=c)
            self.assertJson(r1, 404)
            sock1 = c.sock
            self.assertIsNotNone(sock1, "connection closed after a 404: %r" % (r1,))
            r2 = self.srv.request("GET", "/healthz", conn=c)
            self.assertJson(r2, 200)
            self.assertIs(c.sock, sock1)
        finally:
            c.close()

    def test_pipelined_requests(self):
        """Two requests sent back to back in one write get two answers in order."""
        req = (b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
               b"GET /no-such-path HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        s = socket.create_connection((self.srv.host, self.srv.port), timeout=10)
        try:
            s.sendall(req)
            buf = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(re.findall(rb"HTTP/1\.[01] \d{3}", buf)) < 2:
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    break
                if not d:
                    break
                buf += d
        finally:
            s.close()
        heads = re.findall(rb"HTTP/1\.[01] (\d{3})", buf)
        self.assertEqual(heads[:2], [b"200", b"404"], buf[:2000])


if __name__ == "__main__":
    unittest.main()
