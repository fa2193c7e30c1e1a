# SPDX-License-Identifier: MIT
"""Black-box harness for airhook integration tests (Python 3 stdlib only).

A Server starts the real `airhook serve` binary on 127.0.0.1:0 with a fresh
SQLite database in a temporary directory, waits for its ready line on stdout,
and offers request helpers.  ServerTestCase starts one server per test class.

The binary is taken from harness.BINARY (set by run.py) or the environment
variable AIRHOOK_TEST_BINARY.

AIRHOOK_TEST_DB=postgres (with AIRHOOK_TEST_PG_DSN, a server URI such as
scripts/pg-test.sh prints) runs every server on PostgreSQL instead: each
working directory gets a database of its own, made with `psql -c 'CREATE
DATABASE ...'`, so servers started on the same workdir (restarts, two nodes)
share it, exactly as they would share the SQLite file.  A database is dropped
when its server stops and removes its workdir, and all are dropped at exit.
A shared store never clears leases at start (they must expire), so under
PostgreSQL servers get a short --lease, DEFAULT_PG_LEASE_MARGIN_MS past their
--delivery-timeout, unless the test passes its own; Server.db_outage() takes
the database away and brings it back without stopping PostgreSQL.
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

import contract  # the drift check: every answer request() gets is checked against docs/openapi.yaml

BINARY = os.environ.get("AIRHOOK_TEST_BINARY", "")

# Which store the servers run on: "sqlite" (default) or "postgres".
DB_BACKEND = os.environ.get("AIRHOOK_TEST_DB", "sqlite") or "sqlite"
PG_DSN = os.environ.get("AIRHOOK_TEST_PG_DSN", "")
# Under PostgreSQL: --lease = --delivery-timeout (the server's default 15 s
# unless given) + this, so a killed node's deliveries are retaken quickly.
DEFAULT_PG_LEASE_MARGIN_MS = 2000

READY_RE = re.compile(r"ready on (http://\S+)")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
SECRET_KEY_RE = re.compile(r"^ahs_[0-9a-f]{64}$")
TOKEN_RE = re.compile(r"^aht_[0-9a-f]{64}$")
WHSEC_RE = re.compile(r"^whsec_[A-Za-z0-9+/=]+$")

START_DEADLINE = 20.0
STOP_DEADLINE = 10.0
REQUEST_TIMEOUT = 15.0

# Webhook target URLs used for registration.  A literal public address: no DNS
# is needed (the test machine may have none) and no SSRF rule refuses it.
HOOK_BASE = "https://93.184.215.14/hooks"

# The built-in catalog (SPEC §4, then the newer ids), in order: (trigger, airmeetId scope,
# sessionId scope)
TRIGGERS = [
    ("trigger.airmeet.created", "optional", "none"),
    ("trigger.airmeet.started", "optional", "none"),
    ("trigger.airmeet.finished", "optional", "none"),
    ("trigger.airmeet.reminder", "optional", "none"),
    ("trigger.airmeet.recording.available", "optional", "none"),
    ("trigger.airmeet.attendee.added", "optional", "none"),
    ("trigger.airmeet.registrant.added", "required", "none"),
    ("trigger.airmeet.attendee.joined", "required", "none"),
    ("trigger.session.attendee.joined", "required", "optional"),
    ("trigger.airmeet.polls", "required", "optional"),
    ("trigger.airmeet.questions", "optional", "optional"),
    ("trigger.attendee.booth.joined", "optional", "none"),
    # The newer ids of Airmeet's current catalog (docs/triggers.md): scope rules airhook chose.
    ("trigger.attendee.entered_airmeet", "optional", "none"),
    ("trigger.attendee.clicked_cta", "optional", "optional"),
    ("trigger.attendee.engagement_score", "optional", "none"),
    ("trigger.leaderboard.scoreboard", "optional", "none"),
    ("trigger.attendee.joined_stage", "optional", "optional"),
    ("trigger.attendee.joined_booth", "optional", "none"),
    ("trigger.attendee.joined_table", "optional", "none"),
    ("trigger.attendee.joined_session", "optional", "optional"),
    ("trigger.attendee.opened_resource", "optional", "optional"),
    ("trigger.attendee.ondemand_session_attendance", "optional", "optional"),
]

# Fields of a webhook-register payload (SPEC §3).
REGISTER_FIELDS = [
    "id", "triggerMetaInfoId", "name", "description", "url", "platformName",
    "airmeetId", "sessionId", "isActive", "metaData", "createdAt", "updatedAt",
    "createdBy", "updatedBy", "secret",
]
# Fields of a webhook-list item (SPEC §3).
LIST_FIELDS = [
    "id", "triggerMetaInfoId", "name", "description", "url", "platformName",
    "isActive", "metaData", "createdAt", "updatedAt", "createdBy", "updatedBy",
]

PUBLIC_REASONS = {
    400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 412: "PRECONDITION_FAILED", 413: "PAYLOAD_TOO_LARGE",
    429: "TOO_MANY_REQUESTS", 500: "INTERNAL_SERVER_ERROR", 503: "SERVICE_UNAVAILABLE",
}


def hook_url(tag=""):
    return "%s/%s%s" % (HOOK_BASE, tag + "-" if tag else "", uuid.uuid4())


class Response:
    """A complete HTTP answer: status, headers (case-insensitive), body."""

    def __init__(self, status, reason, headers, body, method="", target=""):
        self.status = status
        self.reason = reason
        self.header_list = headers  # [(name, value)]
        self.body = body
        self.method = method
        self.target = target

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.header_list:
            if k.lower() == name:
                return v
        return default

    def headers_named(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k.lower() == name]

    @property
    def content_type(self):
        return self.header("Content-Type", "")

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        body = self.text
        if len(body) > 600:
            body = body[:600] + "...(%d bytes)" % len(self.body)
        return "<%s %s -> %s %s ct=%r body=%s>" % (
            self.method, self.target[:200], self.status, self.reason,
            self.content_type, body)


def backend():
    """The store the servers run on; raises when PostgreSQL is asked for but unusable."""
    if DB_BACKEND == "sqlite":
        return "sqlite"
    if DB_BACKEND != "postgres":
        raise RuntimeError("AIRHOOK_TEST_DB must be sqlite or postgres, not %r" % DB_BACKEND)
    if not PG_DSN:
        raise RuntimeError("AIRHOOK_TEST_DB=postgres needs AIRHOOK_TEST_PG_DSN "
                           "(scripts/pg-test.sh start)")
    return "postgres"


def pg_dsn_for(dbname):
    """PG_DSN with its database replaced by dbname (query string kept)."""
    u = urllib.parse.urlsplit(PG_DSN)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def _psql(sql):
    r = subprocess.run(["psql", PG_DSN, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, env=dict(os.environ, PGCONNECT_TIMEOUT="5"))
    if r.returncode != 0:
        raise RuntimeError("psql %r failed: %s" % (sql, r.stderr.decode("utf-8", "replace")))


_pg_databases = set()  # made by this process, dropped at exit


def pg_database(workdir):
    """The PostgreSQL database of a working directory, made on first use."""
    name = "ah_it_" + hashlib.sha1(os.path.realpath(workdir).encode()).hexdigest()[:20]
    if name not in _pg_databases:
        _psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)  # a leftover of a crashed run
        _psql("CREATE DATABASE %s" % name)
        _pg_databases.add(name)
    return name


def pg_drop_database(name):
    if name in _pg_databases:
        _pg_databases.discard(name)
        _psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)


def pg_outage(name, down=True):
    """Makes database name unreachable without stopping the server: new
    connections are refused and every open one is terminated (down=True),
    or lets connections in again (down=False)."""
    _psql("ALTER DATABASE %s ALLOW_CONNECTIONS %s" % (name, "false" if down else "true"))
    if down:
        _psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'"
              % name)


@atexit.register
def _pg_drop_all():
    for name in list(_pg_databases):
        try:
            pg_drop_database(name)
        except Exception:  # noqa: BLE001 -- best effort at exit; the server is thrown away
            pass


def duration_ms(text):
    """airhook's durations: "500ms", "5s", "2m", "1h", "1d", or bare seconds."""
    m = re.match(r"^(\d+)(ms|s|m|h|d)?$", text.strip())
    if not m:
        raise ValueError("not a duration: %r" % text)
    unit = {"ms": 1, "s": 1000, None: 1000, "m": 60000, "h": 3600000, "d": 86400000}[m.group(2)]
    return int(m.group(1)) * unit


def _flag_value(args, name):
    """The value of --name in an argv list (last one wins), or None."""
    value = None
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(name + "="):
            value = a[len(name) + 1:]
    return value


class Server:
    """One `airhook serve` process."""

    # Whether request() hands its answers to the drift check (contract.py):
    # off for a handle on something else that answers too (nginx in front).
    contract_check = True

    def __init__(self, extra_args=(), admin_token=True, workdir=None, env=None):
        """admin_token: True = random token passed with --admin-token,
        a str = that token, None/False = no flag (server generates one)."""
        if admin_token is True:
            admin_token = "adm_" + secrets.token_hex(16)
        self.admin_token = admin_token or None
        self.extra_args = list(extra_args)
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="airhook-it-")
        self.db_path = os.path.join(self.workdir, "airhook.db")
        self.backend = backend()
        self.pg_db = pg_database(self.workdir) if self.backend == "postgres" else None
        self.log_path = os.path.join(self.workdir, "stderr-%s.log" % uuid.uuid4().hex[:8])
        self.extra_env = dict(env or {})
        self.proc = None
        self.base_url = None
        self.host = None
        self.port = None
        self.ready_line = None
        self.stdout_lines = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader = None
        self._log = None
        self.returncode = None
        self.startup_stderr = ""

    # -- lifecycle ---------------------------------------------------------

    def argv(self):
        if not BINARY:
            raise RuntimeError("no airhook binary: run via run.py --binary PATH "
                               "or set AIRHOOK_TEST_BINARY")
        a = [BINARY, "serve", "--listen", "127.0.0.1:0", "--db", self.dsn()]
        if self.admin_token:
            a += ["--admin-token", self.admin_token]
        return a + self.backend_args() + self.extra_args

    def dsn(self):
        if self.pg_db:
            return pg_dsn_for(self.pg_db)
        return "sqlite:" + self.db_path

    def backend_args(self):
        """Flags the backend needs: under PostgreSQL a short --lease (see the module doc)
        and a --secret-key-file in the workdir, which servers sharing the workdir (and
        so the database) share, as the nodes of a deployment share their key file."""
        if not self.pg_db:
            return []
        a = []
        if (_flag_value(self.extra_args, "--secret-key-file") is None
                and "AIRHOOK_SECRET_KEY_FILE" not in self.extra_env):
            a += ["--secret-key-file", self.key_path()]
        if _flag_value(self.extra_args, "--lease") is None:
            timeout = _flag_value(self.extra_args, "--delivery-timeout") or "15s"
            a += ["--lease", "%dms" % (duration_ms(timeout) + DEFAULT_PG_LEASE_MARGIN_MS)]
        return a

    def base_path(self):
        """The public API's base path this server was started with."""
        return (_flag_value(self.extra_args, "--base-path")
                or self.extra_env.get("AIRHOOK_BASE_PATH") or "/prod")

    def key_path(self):
        """Where the server's secret key file is (made at its first start if absent):
        beside the SQLite database, or the workdir's under PostgreSQL."""
        if self.pg_db:
            return os.path.join(self.workdir, "secret.key")
        return self.db_path + ".key"

    def db_outage(self, down=True):
        """PostgreSQL only: the database goes away (down=True) or comes back."""
        if not self.pg_db:
            raise RuntimeError("db_outage needs AIRHOOK_TEST_DB=postgres")
        pg_outage(self.pg_db, down)

    def drop_database(self):
        """Drops the PostgreSQL database of this server's workdir (nothing for SQLite)."""
        if self.pg_db:
            pg_drop_database(self.pg_db)

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRHOOK_")}
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.extra_env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log,
                                     env=env, cwd=self.workdir)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        try:
            line, m = self.wait_for_stdout(READY_RE, START_DEADLINE)
        except AssertionError:
            self.kill()
            self.startup_stderr = self.stderr_text()
            if self.own_dir:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.drop_database()
            raise
        self.ready_line = line
        self.base_url = m.group(1).rstrip("/")
        u = urllib.parse.urlsplit(self.base_url)
        self.host, self.port = u.hostname, u.port
        return self

    def _drain(self):
        f = self.proc.stdout
        while True:
            raw = f.readline()
            if not raw:
                break
            with self._cond:
                self.stdout_lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for_stdout(self, regex, timeout, start_index=0):
        """Wait until a stdout line matches regex; returns (line, match)."""
        if isinstance(regex, str):
            regex = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start_index
        with self._cond:
            while True:
                while i < len(self.stdout_lines):
                    m = regex.search(self.stdout_lines[i])
                    if m:
                        return self.stdout_lines[i], m
                    i += 1
                if self._eof:
                    self.proc.wait(timeout=5)
                    raise AssertionError(
                        "airhook exited (code %s) before printing a line matching %r\n"
                        "argv: %s\nstdout:\n%s\nstderr tail:\n%s" % (
                            self.proc.returncode, regex.pattern, " ".join(self.argv()),
                            "\n".join(self.stdout_lines), self.stderr_tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "no stdout line matching %r within %.0f s\nargv: %s\nstdout:\n%s\n"
                        "stderr tail:\n%s" % (regex.pattern, timeout, " ".join(self.argv()),
                                              "\n".join(self.stdout_lines), self.stderr_tail()))
                self._cond.wait(min(left, 0.5))

    def stdout_snapshot(self):
        with self._cond:
            return list(self.stdout_lines)

    def stderr_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, n=40):
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def log_records(self):
        """stderr lines that parse as JSON objects."""
        out = []
        for line in self.stderr_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def send_signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_DEADLINE):
        """Wait for the process to exit; returns its code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader:
            self._reader.join(timeout=5)
        return self.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self):
        if self._reader:
            self._reader.join(timeout=5)
        if self._log:
            self._log.close()
            self._log = None

    def stop(self, sig=signal.SIGTERM, remove=True):
        """SIGTERM, wait up to 10 s, SIGKILL as a last resort.  Raises
        AssertionError when the exit was not clean (code 0 within 10 s)."""
        problem = None
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            problem = "airhook had already exited (code %s) before it was stopped" % self.returncode
        else:
            self.proc.send_signal(sig)
            code = self.wait_exit(STOP_DEADLINE)
            if code is None:
                problem = "airhook did not exit within %.0f s of %s; killed" % (
                    STOP_DEADLINE, signal.Signals(sig).name)
                self.kill()
            elif code != 0:
                problem = "airhook exited with code %s on %s (want 0)" % (
                    code, signal.Signals(sig).name)
        self._close_files()
        if problem is None:
            san = sanitizer_reports(self.stderr_text())
            if san:
                problem = "sanitizer reports on airhook's stderr:\n" + "\n".join(san[:20])
        tail = self.stderr_tail(60) if problem else ""
        if remove and self.own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.drop_database()
        if problem:
            raise AssertionError(problem + "\nstderr tail:\n" + tail)
        return self.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- HTTP helpers ------------------------------------------------------

    def connection(self, timeout=REQUEST_TIMEOUT):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None, query=None, json_body=None,
                timeout=REQUEST_TIMEOUT, conn=None):
        """One request on a fresh connection (or on conn).  query: dict or
        list of pairs, urlencoded and appended.  json_body: serialized with
        Content-Type: application/json (unless headers set one)."""
        target = path
        if query is not None:
            qs = urllib.parse.urlencode(query, doseq=True)
            target += ("&" if "?" in target else "?") + qs
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode()
        own = conn is None
        c = conn or self.connection(timeout)
        try:
            c.request(method, target, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            if self.contract_check:
                contract.record(method, target, r.status, r.getheaders(), data, self.base_path())
            return Response(r.status, r.reason, r.getheaders(), data, method, target)
        finally:
            if own:
                c.close()

    def cpu_seconds(self):
        """User + system CPU time the server process has used, in seconds."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_count(self):
        """How many file descriptors the server process has open."""
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def rss_kb(self):
        """The server process's resident set size, in KiB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def admin(self, method, path, body=None, token=None, headers=None):
        hdrs = dict(headers or {})
        tok = self.admin_token if token is None else token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        return self.request(method, "/admin/v1" + path, headers=hdrs, json_body=body)

    def public(self, method, path, headers=None, body=None, query=None, json_body=None):
        return self.request(method, "/prod" + path, headers=headers, body=body,
                            query=query, json_body=json_body)

    def raw(self, data, read_timeout=5.0, close_write=False):
        """Send raw bytes on a new socket; return whatever comes back before
        the server closes or read_timeout passes (b"" if nothing)."""
        s = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT)
        try:
            try:
                s.sendall(data)
                if close_write:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return _read_some(s, read_timeout)
        finally:
            s.close()

    def send_streaming(self, head, body, timeout=20.0):
        """Send head (bytes) then body in chunks; stop sending as soon as the
        server answers (a server may answer 413 early and close).  Returns
        the parsed Response (or None when nothing came back)."""
        s = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT)
        deadline = time.monotonic() + timeout
        try:
            s.sendall(head)
            off = 0
            chunk = 16384
            while off < len(body) and time.monotonic() < deadline:
                r, w, _ = select.select([s], [s], [], 1.0)
                if r:
                    break  # the server answered early
                if w:
                    try:
                        n = s.send(body[off:off + chunk])
                    except OSError:
                        break
                    off += n
            data = _read_some(s, max(1.0, deadline - time.monotonic()))
        finally:
            s.close()
        return parse_response(data)

    # -- fixtures ----------------------------------------------------------

    def make_tenant(self, label=None, with_airmeet=True):
        return Tenant.create(self, label=label, with_airmeet=with_airmeet)

    def healthy(self):
        r = self.request("GET", "/healthz", timeout=10)
        return r.status == 200


SANITIZER_RE = re.compile(r"runtime error:|ERROR: (?:Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer"
                          r"|WARNING: ThreadSanitizer")


def sanitizer_reports(text):
    """Lines of stderr where ASan/UBSan/LSan reported a problem."""
    return [l for l in text.splitlines() if SANITIZER_RE.search(l)]


def _read_some(s, timeout):
    """Read until EOF, timeout, or one complete HTTP response (by Content-Length)."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not d:
            break
        buf += d
        if _complete(buf):
            break
    return buf


def _complete(buf):
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    head = buf[:i].decode("latin-1")
    m = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(buf) - (i + 4) >= int(m.group(1))
    return False


def parse_response(data):
    """Parse raw bytes of one HTTP/1.x response; None if there is none."""
    if not data:
        return None
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return Response(0, "UNPARSEABLE", [], data)
    lines = data[:i].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return Response(0, "UNPARSEABLE", [], data)
    headers = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers.append((k.strip(), v.strip()))
    body = data[i + 4:]
    r = Response(status, parts[2] if len(parts) > 2 else "", headers, body)
    cl = r.header("Content-Length")
    if cl and cl.isdigit():
        r.body = body[:int(cl)]
    return r


class Tenant:
    """A community with a key pair, an airmeet and a session, made through
    the admin API."""

    def __init__(self):
        self.community_id = None
        self.key_id = None
        self.label = None
        self.access_key = None
        self.secret_key = None
        self.airmeet_id = None
        self.session_id = None

    @classmethod
    def create(cls, srv, label=None, with_airmeet=True):
        t = cls()
        t.srv = srv
        r = srv.admin("POST", "/communities", {"name": "Community " + uuid.uuid4().hex[:6]})
        _must(r, 201, "create community")
        t.community_id = r.json["id"]
        t.label = label or "it-key-" + uuid.uuid4().hex[:8]
        t.new_key(t.label, primary=True)
        if with_airmeet:
            t.airmeet_id = t.new_airmeet()
            t.session_id = t.new_session(t.airmeet_id)
        return t

    def new_key(self, label=None, primary=False):
        r = self.srv.admin("POST", "/communities/%s/access-keys" % self.community_id,
                           {"label": label or "key-" + uuid.uuid4().hex[:8]})
        _must(r, 201, "create access key")
        j = r.json
        if primary:
            self.key_id, self.access_key, self.secret_key = j["id"], j["accessKey"], j["secretKey"]
        return j

    def new_airmeet(self, airmeet_id=None, name="Airmeet"):
        body = {"communityId": self.community_id, "name": name}
        if airmeet_id:
            body["id"] = airmeet_id
        r = self.srv.admin("POST", "/airmeets", body)
        _must(r, 201, "create airmeet")
        return r.json["id"]

    def new_session(self, airmeet_id, session_id=None, name="Session"):
        body = {"name": name}
        if session_id:
            body["id"] = session_id
        r = self.srv.admin("POST", "/airmeets/%s/sessions" % airmeet_id, body)
        _must(r, 201, "create session")
        return r.json["id"]

    def key_headers(self, style="x"):
        if style == "x":
            return {"x-access-key": self.access_key, "x-secret-key": self.secret_key}
        if style == "X":
            return {"X-Access-Key": self.access_key, "X-Secret-Key": self.secret_key}
        if style == "airmeet":
            return {"X-Airmeet-Access-Key": self.access_key,
                    "X-Airmeet-Secret-Key": self.secret_key}
        raise ValueError(style)

    def auth(self):
        r = self.srv.public("POST", "/auth", headers=self.key_headers("airmeet"))
        _must(r, 200, "/auth")
        return r.json["token"]

    def register(self, trigger="trigger.airmeet.created", url=None, airmeet_id=None,
                 session_id=None, name="Hook", headers=None, expect=200, **extra):
        q = {}
        if airmeet_id:
            q["airmeetId"] = airmeet_id
        if session_id:
            q["sessionId"] = session_id
        body = {"name": name, "description": "integration test", "triggerMetaInfoId": trigger,
                "url": url or hook_url(), "platformName": "airhook-tests"}
        body.update(extra)
        r = self.srv.public("POST", "/platform-integration/v1/webhook-register",
                            headers=headers if headers is not None else self.key_headers(),
                            query=q or None, json_body=body)
        if expect is not None:
            _must(r, expect, "webhook-register")
        return r


def _must(r, status, what):
    if r.status != status:
        raise AssertionError("%s: want %s, got %r" % (what, status, r))


class ServerTestCase(unittest.TestCase):
    """One server per class.  Subclasses set SERVER_ARGS / ADMIN_TOKEN."""

    SERVER_ARGS = ()
    ADMIN_TOKEN = True
    # When set, a server that refuses SERVER_ARGS as an unknown flag skips the
    # class with this reason instead of failing it (feature not built yet).
    SKIP_IF_FLAG_UNKNOWN = None
    srv = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = Server(cls.SERVER_ARGS, admin_token=cls.ADMIN_TOKEN)
        try:
            cls.srv = srv.start()
        except AssertionError:
            m = re.search(r"unknown (?:flag|option)[^\n]*", srv.startup_stderr)
            if cls.SKIP_IF_FLAG_UNKNOWN and m:
                raise unittest.SkipTest("%s (server says: %s)" % (cls.SKIP_IF_FLAG_UNKNOWN, m.group(0).strip()))
            raise

    @classmethod
    def tearDownClass(cls):
        srv, cls.srv = cls.srv, None
        if srv is not None:
            srv.stop()  # raises when the exit is not clean
        super().tearDownClass()

    def tearDown(self):
        # A crashed server should be reported at the test that crashed it.
        if self.srv is not None and not self.srv.alive():
            self.fail("airhook is no longer running (code %s)\nstderr tail:\n%s" % (
                self.srv.proc.returncode, self.srv.stderr_tail()))

    # -- assertions --------------------------------------------------------

    def assertJson(self, r, status=None):
        """Status (when given), Content-Type: application/json, body parses."""
        if status is not None:
            self.assertEqual(r.status, status, "unexpected status: %r" % (r,))
        ct = r.content_type.split(";")[0].strip().lower()
        self.assertEqual(ct, "application/json", "Content-Type is not application/json: %r" % (r,))
        j = r.json
        self.assertIsNotNone(j, "body is not JSON: %r" % (r,))
        return j

    def assertPublicError(self, r, status):
        j = self.assertJson(r, status)
        self.assertIsInstance(j, dict, repr(r))
        self.assertEqual(j.get("statusCode"), str(status), "statusCode must be the string %r: %r" % (str(status), r))
        if status in PUBLIC_REASONS:
            self.assertEqual(j.get("statusMessage"), PUBLIC_REASONS[status], repr(r))
        self.assertIsInstance(j.get("message"), str, "error body needs a message: %r" % (r,))
        self.assertTrue(j["message"], "empty error message: %r" % (r,))
        return j

    def assertAdminError(self, r, status):
        j = self.assertJson(r, status)
        self.assertIsInstance(j, dict, repr(r))
        self.assertIsInstance(j.get("error"), str, "admin error needs 'error': %r" % (r,))
        self.assertRegex(j["error"], r"^[A-Z][A-Z0-9_]*$", repr(r))
        self.assertIsInstance(j.get("message"), str, "admin error needs 'message': %r" % (r,))
        return j

    def assertAuthError(self, r, status):
        j = self.assertJson(r, status)
        self.assertIsInstance(j, dict, repr(r))
        self.assertIs(j.get("success"), False, repr(r))
        self.assertIsInstance(j.get("message"), str, repr(r))
        return j

    def assertEnvelope(self, r):
        j = self.assertJson(r, 200)
        self.assertEqual(j.get("statusCode"), "200", repr(r))
        self.assertEqual(j.get("statusMessage"), "SUCCESS", repr(r))
        self.assertIn("payload", j, repr(r))
        return j["payload"]

    def assertUuid(self, v, what="id"):
        self.assertIsInstance(v, str, "%s should be a string: %r" % (what, v))
        self.assertRegex(v, UUID_RE, "%s is not a lowercase UUID v4" % what)

    def assertTimestamp(self, v, what="timestamp"):
        self.assertIsInstance(v, str, "%s should be a string: %r" % (what, v))
        self.assertRegex(v, TS_RE, "%s format" % what)

    def assertServerUp(self):
        r = self.srv.request("GET", "/healthz", timeout=10)
        self.assertEqual(r.status, 200, "server no longer healthy: %r" % (r,))


def decode_whsec(secret):
    raw = secret[len("whsec_"):]
    return base64.b64decode(raw + "=" * (-len(raw) % 4))
