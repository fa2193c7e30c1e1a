# SPDX-License-Identifier: MIT
"""nginx in front of airhook nodes: deploy/nginx/airhook.conf, run for real.

The class starts two airhook nodes on one database and nginx (the Debian
`nginx` package, scripts/install-deps.sh) with the configuration made from
deploy/nginx/airhook.conf: the same file, with only its upstream servers
replaced by the two nodes, its `listen` by 127.0.0.1:<free port> and
/var/log/nginx/ by a temporary directory.  It is included in a minimal main
configuration (2 workers, temporary paths and error_log in that directory)
and run as a child, `nginx -p TMP -c CONF -e TMP/error.log -g 'daemon off;
pid TMP/nginx.pid;'`, stopped by its PID (SIGQUIT, then SIGKILL).

On PostgreSQL (AIRHOOK_TEST_DB=postgres) both nodes run `--role all`; on
SQLite, where one node owns delivery, one runs `--role all` and the other
`--role api` on the same database file.

Checked through nginx: /healthz and /readyz; the public API flow (auth,
register, list) and the admin API; a published event reaches its receiver;
requests are spread over both nodes (each node's
airhook_http_requests_total, and the access log's upstream= field);
connections to the nodes are kept alive (a few upstream connections carry
200 requests, counted in /proc/net/tcp); an event body of exactly 1 MiB is
accepted and one byte more is answered 413 (JSON); the paths nginx answers
itself (403, 404) are JSON too; and when one node stops, requests go to
the other (runs last: it stops a node).

nginx missing: the class is skipped, except in CI (CI=true) where it fails.
"""

import collections
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from deliverykit import DeliveryMixin, LOOPBACK, event_body, free_port, scrape_metrics
from harness import Server, ServerTestCase, Tenant
from receiver import Receiver

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEMPLATE = os.path.join(ROOT, "deploy", "nginx", "airhook.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CI = os.environ.get("CI") == "true"
MIB = 1024 * 1024


def render_upstream(template, name, upstreams):
    """The template with the servers of `upstream NAME { ... }` replaced."""
    m = re.search(r"(?ms)^upstream %s \{\n(.*?)^\}" % re.escape(name), template)
    if not m:
        raise AssertionError("no `upstream %s { ... }` block in %s" % (name, TEMPLATE))
    block = m.group(1)
    servers = list(re.finditer(r"(?m)^(\s*)server\s+(\S+)([^;\n]*);\n", block))
    if not servers:
        raise AssertionError("no server line in the upstream block of " + TEMPLATE)
    indent, params = servers[0].group(1), servers[0].group(3)
    ours = "".join("%sserver %s%s;\n" % (indent, u, params) for u in upstreams)
    new_block = block[:servers[0].start()] + ours + block[servers[-1].end():]
    for s in servers[1:-1]:
        new_block = new_block.replace(s.group(0), "")
    return template[:m.start(1)] + new_block + template[m.end(1):]


def render(template, upstreams, listen_port, log_dir):
    """The template with its upstream servers (both upstreams), listen
    address and log directory replaced; raises if the template no longer has
    them."""
    text = render_upstream(template, "airhook", upstreams)
    text = render_upstream(text, "airhook_listen", upstreams)
    text, n = re.subn(r"(?m)^(\s*)listen\s+[^;]+;", r"\1listen 127.0.0.1:%d;" % listen_port, text)
    if n != 1:
        raise AssertionError("want one `listen` line in %s, found %d" % (TEMPLATE, n))
    if "/var/log/nginx/" not in text:
        raise AssertionError("no /var/log/nginx/ path in " + TEMPLATE)
    return text.replace("/var/log/nginx/", log_dir.rstrip("/") + "/")


class Nginx:
    """nginx as a non-daemon child process on a temporary prefix."""

    def __init__(self, upstreams):
        self.dir = tempfile.mkdtemp(prefix="airhook-nginx-")
        os.chmod(self.dir, 0o755)  # workers (nobody under root) reach their temp paths
        self.port = free_port()
        self.proc = None
        with open(TEMPLATE) as f:
            site = render(f.read(), upstreams, self.port, self.dir)
        self.site_path = os.path.join(self.dir, "airhook.conf")
        with open(self.site_path, "w") as f:
            f.write(site)
        user = ""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            user = "user nobody %s;\n" % grp.getgrgid(pw.pw_gid).gr_name
        d = self.dir
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write("%sworker_processes 2;\nerror_log %s/error.log notice;\n"
                    "events { worker_connections 512; }\n"
                    "http {\n"
                    "    client_body_temp_path %s/client_body;\n"
                    "    proxy_temp_path %s/proxy;\n"
                    "    fastcgi_temp_path %s/fastcgi;\n"
                    "    uwsgi_temp_path %s/uwsgi;\n"
                    "    scgi_temp_path %s/scgi;\n"
                    "    access_log %s/access.log;\n"
                    "    include %s;\n"
                    "}\n" % (user, d, d, d, d, d, d, d, self.site_path))
        self.access_log = os.path.join(d, "airhook.access.log")
        self.error_log = os.path.join(d, "error.log")

    def argv(self, *extra):
        return [NGINX, "-p", self.dir + "/", "-c", self.conf, "-e", self.error_log] + list(extra)

    def start(self, deadline=15.0):
        t = subprocess.run(self.argv("-t", "-g", "pid %s/nginx.pid;" % self.dir),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        if t.returncode != 0:
            raise AssertionError("nginx -t refuses the configuration:\n%s\n%s" % (
                t.stdout.decode("utf-8", "replace"), self.site_text()))
        self._out = open(os.path.join(self.dir, "nginx.out"), "wb")
        self.proc = subprocess.Popen(
            self.argv("-g", "daemon off; pid %s/nginx.pid;" % self.dir),
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited (%s) at start:\n%s" % (
                    self.proc.returncode, self.logs()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /nginx-health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError("nginx did not answer on 127.0.0.1:%d within %.0f s:\n%s" % (
            self.port, deadline, self.logs()))

    def site_text(self):
        with open(self.site_path) as f:
            return f.read()

    def logs(self):
        out = []
        for name in ("nginx.out", "error.log"):
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append("%s:\n%s" % (name, f.read().decode("utf-8", "replace")[-4000:]))
            except OSError:
                pass
        return "\n".join(out)

    def access_lines(self):
        try:
            with open(self.access_log) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def stop(self):
        """SIGQUIT (graceful) to the master by PID, SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_out", None):
            self._out.close()
            self._out = None

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def front(port, admin_token):
    """A harness.Server-shaped handle on nginx: the request helpers
    (request, admin, public, send_streaming) and Tenant work through it."""
    f = Server.__new__(Server)
    f.host, f.port, f.admin_token = "127.0.0.1", port, admin_token
    f.contract_check = False  # nginx answers some paths itself, in its own shape
    return f


def node_conns(ports):
    """{port: set of peer ports} of TCP sockets (any state) whose local or
    remote port is one of ports, from /proc/net/tcp (IPv4 loopback)."""
    out = collections.defaultdict(set)
    try:
        with open("/proc/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    for ln in lines:
        parts = ln.split()
        local, remote = parts[1], parts[2]
        lport = int(local.split(":")[1], 16)
        rport = int(remote.split(":")[1], 16)
        if lport in ports:
            out[lport].add(rport)
        elif rport in ports:
            out[rport].add(lport)
    return out


def requests_by_route(srv, route):
    _, samples = scrape_metrics(srv)
    return sum(int(v) for name, labels, v in samples
               if name == "airhook_http_requests_total" and labels.get("route") == route)


class NginxTests(DeliveryMixin, ServerTestCase):
    """Two nodes on one database, nginx in front of them."""

    nginx = None
    nodes = ()

    @classmethod
    def setUpClass(cls):
        unittest.TestCase.setUpClass()
        if not os.access(NGINX, os.X_OK):
            why = "nginx is not installed (scripts/install-deps.sh installs it)"
            if CI:
                raise AssertionError("CI: " + why)
            raise unittest.SkipTest(why)
        cls.workdir = tempfile.mkdtemp(prefix="airhook-ngx-")
        cls.token = "adm_" + uuid.uuid4().hex
        cls.rcv = Receiver().start()
        cls.nodes = []
        try:
            pg = harness.backend() == "postgres"
            roles = ("all", "all") if pg else ("all", "api")
            for role in roles:
                port = free_port()
                args = ("--allow-net", LOOPBACK, "--retry-schedule", "0,200ms,400ms",
                        "--delivery-timeout", "2s", "--role", role, "--trust-forwarded-for",
                        "--listen", "127.0.0.1:%d" % port)
                cls.nodes.append(Server(args, admin_token=cls.token,
                                        workdir=cls.workdir).start())
            cls.roles = roles
            cls.srv = cls.nodes[0]
            cls.nginx = Nginx(["127.0.0.1:%d" % n.port for n in cls.nodes]).start()
            cls.front = front(cls.nginx.port, cls.token)
        except BaseException:
            cls._cleanup()
            raise

    @classmethod
    def _cleanup(cls):
        if cls.nginx is not None:
            cls.nginx.stop()
            cls.nginx.remove()
            cls.nginx = None
        for n in cls.nodes:
            if n.alive():
                n.kill()
            else:
                n._close_files()
        if cls.nodes:
            cls.nodes[0].drop_database()
        cls.rcv.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        problems = []
        try:
            if cls.nginx is not None and cls.nginx.proc.poll() is not None:
                problems.append("nginx died (code %s):\n%s" % (cls.nginx.proc.returncode,
                                                             cls.nginx.logs()))
            for n in cls.nodes:
                if n.alive():
                    try:
                        n.stop(remove=False)
                    except AssertionError as e:
                        problems.append(str(e))
        finally:
            cls._cleanup()
        if problems:
            raise AssertionError("\n".join(problems))

    def tearDown(self):
        self.assertIsNone(self.nginx.proc.poll(), "nginx exited:\n" + self.nginx.logs())

    # -- health ----------------------------------------------------------------

    def test_health_through_nginx(self):
        r = self.front.request("GET", "/healthz")
        j = self.assertJson(r, 200)
        self.assertEqual(j.get("status"), "ok", repr(r))
        j = self.assertJson(self.front.request("GET", "/readyz"), 200)
        self.assertEqual(j.get("status"), "ready")
        r = self.front.request("GET", "/nginx-health")
        self.assertEqual((r.status, r.body), (200, b"ok\n"))

    def test_nginx_own_answers_are_json(self):
        """Paths that are not airhook's, and /metrics (per node: scrape the
        nodes directly), get nginx's JSON 404; airhook's own 404 passes through."""
        for path in ("/metrics", "/nope", "/prodx"):
            r = self.front.request("GET", path)
            j = self.assertJson(r, 404)
            self.assertEqual(j.get("error"), "NOT_FOUND", repr(r))
            self.assertEqual(j.get("statusCode"), "404", repr(r))
        r = self.front.request("GET", "/prod/no-such-endpoint")
        self.assertPublicError(r, 404)
        # The console passes through: / to /ui/, and its pages.
        r = self.front.request("GET", "/")
        self.assertEqual((r.status, r.header("Location")), (302, "/ui/"))
        r = self.front.request("GET", "/ui/communities")
        self.assertEqual(r.status, 200)
        self.assertIn("default-src 'self'", r.header("Content-Security-Policy"))
        r = self.front.admin("GET", "/webhooks/%s" % uuid.uuid4())
        self.assertAdminError(r, 404)

    def test_console_session_is_known_to_every_node(self):
        """Sessions live in the store: one signed in through nginx works on
        both nodes, and signing out on one ends it on the other."""
        r = self.front.request("POST", "/ui/api/session", json_body={"adminToken": self.token})
        self.assertEqual(r.status, 201, repr(r))
        cookie = r.header("Set-Cookie").split(";")[0]
        csrf = r.json["csrfToken"]
        for node in self.nodes:
            r = node.request("GET", "/admin/v1/communities", headers={"Cookie": cookie})
            self.assertEqual(r.status, 200, repr(r))
        r = self.nodes[0].request("DELETE", "/ui/api/session",
                                  headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual(r.status, 204, repr(r))
        r = self.nodes[1].request("GET", "/ui/api/session", headers={"Cookie": cookie})
        self.assertAdminError(r, 401)

    # -- the APIs ----------------------------------------------------------------

    def test_public_api_flow_through_nginx(self):
        t = Tenant.create(self.front)             # admin API through nginx
        token = t.auth()                           # POST /prod/auth
        self.assertRegex(token, harness.TOKEN_RE)
        r = t.register("trigger.airmeet.created", url=harness.hook_url("ngx"))
        hook = self.assertJson(r, 200)["payload"]
        self.assertUuid(hook["id"], "webhook id")
        # Tokens and keys hold on whichever node answers: several calls in a
        # row (round robin over both nodes) all see the registration.
        for _ in range(6):
            r = self.front.public("GET", "/platform-integration/v1/webhook-list",
                                  headers={"X-Airmeet-Access-Token": token})
            items = self.assertJson(r, 200).get("webhookDTOList")
            self.assertIsInstance(items, list, repr(r))
            self.assertIn(hook["id"], [w["id"] for w in items], repr(r))
        r = self.front.public("GET", "/platform-integration/v1/webhook-list",
                              headers={"X-Airmeet-Access-Token": "aht_" + "0" * 64})
        self.assertIn(r.status, (400, 401), "an unknown token: %r" % (r,))
        self.assertPublicError(r, r.status)

    def test_publish_through_nginx_is_delivered(self):
        t = Tenant.create(self.front)
        h = self.hook(t)                           # registered through nginx
        ids = []
        for k in range(4):
            j = self.publish(t, srv=self.front, data={"via": "nginx", "k": k})
            self.assertEqual(j["deliveries"], 1)
            ids.append(j["eventId"])
        for e in ids:
            self.wait_received(1, event_id=e, webhook=h["id"], timeout=15)

    def test_event_body_limit_is_1_mib(self):
        t = Tenant.create(self.front)              # no webhooks: nothing to deliver
        head = {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"}
        base = event_body(t.community_id, raw=b'{"pad":""}')
        pad = MIB - len(base)
        exact = event_body(t.community_id, raw=b'{"pad":"' + b"p" * pad + b'"}')
        self.assertEqual(len(exact), MIB)
        r = self.front.request("POST", "/admin/v1/events", body=exact, headers=head, timeout=30)
        self.assertJson(r, 202)
        over = event_body(t.community_id, raw=b'{"pad":"' + b"p" * (pad + 1) + b'"}')
        raw_head = ("POST /admin/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (self.token, len(over))).encode()
        r = self.front.send_streaming(raw_head, over, timeout=30)
        self.assertIsNotNone(r, "no answer to a 1 MiB + 1 byte event")
        j = self.assertJson(r, 413)
        self.assertEqual(j.get("error"), "PAYLOAD_TOO_LARGE", repr(r))
        # Much bigger: still 413, and nginx did not pass it on.
        big = b"x" * (3 * MIB)
        raw_head = ("POST /admin/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (self.token, len(big))).encode()
        r = self.front.send_streaming(raw_head, big, timeout=30)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 413, repr(r))

    # -- load balancing and keep-alive -------------------------------------------

    def test_requests_spread_over_both_nodes(self):
        before = [requests_by_route(n, "healthz") for n in self.nodes]
        n_req = 100
        conn = self.front.connection()
        try:
            for _ in range(n_req):
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            conn.close()
        after = [requests_by_route(n, "healthz") for n in self.nodes]
        got = [a - b for a, b in zip(after, before)]
        self.assertEqual(sum(got), n_req, "requests seen by the nodes: %r" % got)
        for k, g in enumerate(got):
            self.assertGreaterEqual(g, n_req // 4, "node %d (--role %s) got %d of %d: %r" % (
                k, self.roles[k], g, n_req, got))
        upstreams = collections.Counter(
            m.group(1) for m in (re.search(r"upstream=(\S+)", ln)
                                 for ln in self.nginx.access_lines()) if m)
        for n in self.nodes:
            self.assertIn("127.0.0.1:%d" % n.port, upstreams,
                          "the access log names every node: %r" % upstreams)

    def test_upstream_connections_are_kept_alive(self):
        ports = {n.port for n in self.nodes}
        before = node_conns(ports)
        if before is None:
            self.skipTest("no /proc/net/tcp to count connections")
        n_req = 200
        conn = self.front.connection()
        try:
            for _ in range(n_req):
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
        finally:
            conn.close()
        after = node_conns(ports)
        new = {p: after[p] - before[p] for p in ports}
        opened = sum(len(v) for v in new.values())
        # Without keepalive every request would open (and leave in TIME_WAIT)
        # a connection of its own: 200.  With it, at most one per nginx
        # worker and node for sequential requests; allow some slack.
        self.assertLessEqual(opened, 16, "upstream connections opened for %d requests: %d "
                                         "(keepalive not working?)" % (n_req, opened))
        self.assertTrue(all(after[p] for p in ports), "no connection to some node: %r" % after)

    def test_listener_stream_through_nginx(self):
        """`airhook listen` through nginx: the stream is passed on unbuffered
        (ready at once, bye the moment the listener is deleted) and every
        request of one listener reaches the node that holds its stream (the
        bye comes from that node's hub, so the DELETE went there too).  With
        two delivering nodes (PostgreSQL) a delivery also goes round trip."""
        from test_listen_server import SSE
        import json as _json
        t = Tenant.create(self.front)
        token = t.auth()
        hdrs = {"X-Airmeet-Access-Token": token}
        r = self.front.request("POST", "/prod/airhook/v1/listeners", headers=hdrs,
                               json_body={"triggers": ["trigger.airmeet.created"]})
        listener = self.assertJson(r, 201)
        s = SSE(self.front, listener["stream"], token)
        self.addCleanup(s.conn.close)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.headers.get("content-type"), "text/event-stream")
        ev = s.next("ready", timeout=5)
        self.assertEqual(_json.loads(ev[2]), {"listenerId": listener["id"]})
        if self.roles == ("all", "all"):
            self.publish(t, srv=self.front, data={"via": "nginx-listen"})
            d = _json.loads(s.next("delivery", timeout=15)[2])
            r = self.front.request("POST", "/prod/airhook/v1/listeners/%s/results" % listener["id"],
                                   headers=hdrs, json_body={"deliveryId": d["deliveryId"],
                                                            "attempt": d["attempt"],
                                                            "status": 200})
            self.assertJson(r, 200)
            self.wait_status(d["deliveryId"], "succeeded", timeout=10, srv=self.front)
        r = self.front.request("DELETE", "/prod/airhook/v1/listeners/" + listener["id"],
                               headers=hdrs)
        self.assertEqual(r.status, 204, repr(r))
        ev = s.next("bye", timeout=5)
        self.assertEqual(_json.loads(ev[2]), {"reason": "deleted"})

    def test_live_streams_through_nginx(self):
        """The live tail through nginx: both paths pass the stream on as it
        comes (ready at once, an attempt within seconds).  Each node streams
        the attempts it made, so with streams on both nodes (nginx spreads
        them) the delivering node's ones see the attempt."""
        from test_live import Sse, attempts_of
        t = Tenant.create(self.front)
        self.hook(t)
        token = t.auth()
        streams = []
        try:
            for i in range(4):
                if i % 2:
                    s = Sse(self.front, "/prod/airhook/v1/live",
                            headers={"X-Airmeet-Access-Token": token})
                else:
                    s = Sse(self.front, "/admin/v1/live",
                            headers={"Authorization": "Bearer " + self.token})
                streams.append(s)
                s.wait(lambda ev: [e for e in ev if e["event"] == "ready"], timeout=5,
                       what="ready through nginx")
                self.assertEqual(s.status, 200)
                self.assertIn(b"text/event-stream", s.head.lower())
            ev = self.publish(t, srv=self.front, data={"via": "nginx-live"})["eventId"]
            d = self.one_delivery_of(ev)
            self.wait_status(d["id"], "succeeded", timeout=10, srv=self.front)
            deadline = time.time() + 10
            while time.time() < deadline:
                seen = [s for s in streams if attempts_of(s.snapshot(), [d["id"]])]
                if seen:
                    break
                time.sleep(0.05)
            self.assertTrue(seen, "no stream through nginx saw the attempt")
        finally:
            for s in streams:
                s.close()

    # -- last: one node goes away -----------------------------------------------

    def test_z_failover_when_a_node_stops(self):
        """Runs last (unittest orders by name): it stops the second node."""
        t = Tenant.create(self.front)
        h = self.hook(t)
        gone = self.nodes[1]
        gone.stop(remove=False)          # SIGTERM: exit 0 (raises otherwise)
        statuses = collections.Counter()
        for _ in range(20):
            statuses[self.front.request("GET", "/healthz").status] += 1
        self.assertEqual(statuses, {200: 20}, "GET /healthz with one node down: %r" % statuses)
        ids = [self.publish(t, srv=self.front, data={"k": k})["eventId"] for k in range(6)]
        for e in ids:
            self.wait_received(1, event_id=e, webhook=h["id"], timeout=15)
        token = t.auth()
        for _ in range(4):
            r = self.front.public("GET", "/platform-integration/v1/webhook-list",
                                  headers={"X-Airmeet-Access-Token": token})
            self.assertIn(h["id"], [w["id"] for w in self.assertJson(r, 200)["webhookDTOList"]])


if __name__ == "__main__":
    unittest.main()
