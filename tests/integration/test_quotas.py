# SPDX-License-Identifier: MIT
"""Quotas per community, the registration rate per access key, and the cost
of webhook-list (finding 2 of the Hardening issue).

The attack of the issue: one key pair registers webhooks with 2 KB urls as
fast as it can (20,000 took 6.6 s, and one webhook-list answer was then
77.6 MB; sixteen concurrent lists took the server to 1.38 GB of RSS and
/healthz to 4.7 s).  With the default settings the same attack ends at the
quota (1,000 active webhooks, 409 in the Airmeet envelope), and sixteen
concurrent lists of that full community stay under 100 MB of RSS with
/healthz answering in under 50 ms.

Also here: the operator's quotas per community (admin API and CLI), field
lengths, the rate per key (429 with Retry-After), enabling within the
quota, exactly one winner when registrations race for the last place on
two processes sharing one database, and airhook's paging parameters."""

import json
import os
import statistics
import subprocess
import threading
import time
import uuid

import harness
from harness import Server, ServerTestCase, hook_url

REGISTER = "/platform-integration/v1/webhook-register"
DEREGISTER = "/platform-integration/v1/webhook-deregister"
LIST = "/platform-integration/v1/webhook-list"

DEFAULT_MAX_WEBHOOKS = 1000
URL_2K = 2000  # bytes of each url of the attack (the 2 KB urls)
# Each of the 16 listing threads lists at least this often, and goes on for LIST_SECONDS
# so that /healthz is sampled a few hundred times meanwhile.
MIN_LISTS_PER_THREAD = 5
LIST_SECONDS = 3.0

# The bounds.
RSS_BOUND_MB = 100
HEALTHZ_BOUND_MS = 50


def long_url(tag, size=URL_2K):
    """A distinct url of exactly size bytes (at least 50)."""
    head = "%s/%s-%s/" % (harness.HOOK_BASE, tag[:6], uuid.uuid4().hex[:12])
    assert len(head) <= size, head
    return head + "a" * (size - len(head))


def register_body(url, **extra):
    body = {"name": "Hook", "description": "quota test", "url": url,
            "triggerMetaInfoId": "trigger.airmeet.created", "platformName": "tests"}
    body.update(extra)
    return body


def rss_kb(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def attack(srv, tenant, attempts, threads=8):
    """Registers `attempts` distinct 2 KB urls with one key pair from
    `threads` connections; returns the responses' (status, body, headers)."""
    results = []
    lock = threading.Lock()
    todo = iter(range(attempts))
    hdrs = dict(tenant.key_headers(), **{"Content-Type": "application/json"})

    def worker():
        conn = srv.connection(timeout=30)
        try:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                body = json.dumps(register_body(long_url("atk%d" % i))).encode()
                conn.request("POST", "/prod" + REGISTER, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                with lock:
                    results.append((r.status, data, dict(r.getheaders())))
        finally:
            conn.close()

    ths = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(timeout=600)
    return results


def sanitized(binary):
    """True when binary was built with AddressSanitizer (make build-test)."""
    with open(binary, "rb") as f:
        return b"AddressSanitizer" in f.read()


# Under AddressSanitizer freed memory waits in a quarantine (256 MB by default) before
# it is reused, so a server's RSS grows with everything it ever allocated; the memory
# test's server runs without it, so that RSS says what the server holds.
ASAN_FOR_RSS = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0:" \
               "allocator_release_to_os_interval_ms=100:detect_leaks=1"


class AttackEndsAtTheQuota(ServerTestCase):
    """One server with the default settings; setUpClass runs the attack."""

    ATTEMPTS = DEFAULT_MAX_WEBHOOKS + 150  # under the default rate (1200 a minute)

    @classmethod
    def setUpClass(cls):
        env = {}
        if sanitized(harness.BINARY):
            env["ASAN_OPTIONS"] = ASAN_FOR_RSS
        cls.srv = Server(admin_token=True, env=env).start()
        cls.t = cls.srv.make_tenant()
        t0 = time.monotonic()
        cls.results = attack(cls.srv, cls.t, cls.ATTEMPTS)
        cls.attack_s = time.monotonic() - t0

    def test_the_attack_ends_at_the_quota(self):
        statuses = [s for s, _, _ in self.results]
        self.assertEqual(len(statuses), self.ATTEMPTS)
        self.assertEqual(statuses.count(200), DEFAULT_MAX_WEBHOOKS,
                         "registrations that succeeded: %d" % statuses.count(200))
        refused = [(s, b) for s, b, _ in self.results if s != 200]
        self.assertEqual(len(refused), self.ATTEMPTS - DEFAULT_MAX_WEBHOOKS)
        for status, body in refused:
            self.assertEqual(status, 409, body[:300])
            j = json.loads(body)
            self.assertEqual(j["statusCode"], "409")
            self.assertEqual(j["statusMessage"], "CONFLICT")
            self.assertIn("quota of 1000 active webhooks", j["message"])
            self.assertIn("maxWebhooks", j["message"])
            self.assertIn("--max-webhooks", j["message"])
        r = self.srv.admin("GET", "/communities/" + self.t.community_id)
        j = self.assertJson(r, 200)
        self.assertEqual(j["activeWebhooks"], DEFAULT_MAX_WEBHOOKS)
        self.assertEqual(j["quotas"]["maxWebhooks"], DEFAULT_MAX_WEBHOOKS)
        print("\n  attack: %d registrations of 2 KB urls in %.1f s: %d answered 200, %d 409"
              % (self.ATTEMPTS, self.attack_s, statuses.count(200), statuses.count(409)))

    def test_sixteen_lists_of_a_full_community_are_bounded(self):
        """16 threads list the full community (2.3 MB each answer) while
        /healthz is timed and the server's RSS sampled.  Meanwhile another
        community registers and deregisters a webhook every 100 ms, which
        moves the webhooks generation: the cached list goes stale and the
        16 listers miss together, again and again."""
        srv, t = self.srv, self.t
        token = t.auth()
        first = srv.public("GET", LIST, headers={"X-Airmeet-Access-Token": token})
        self.assertEqual(first.status, 200)
        self.assertEqual(len(first.json["webhookDTOList"]), DEFAULT_MAX_WEBHOOKS)
        body_mb = len(first.body) / 1e6
        pid = srv.proc.pid
        rss_before = rss_kb(pid)
        lists_done = []
        errors = []

        until = time.monotonic() + LIST_SECONDS

        def lister():
            conn = srv.connection(timeout=60)
            try:
                n = 0
                while n < MIN_LISTS_PER_THREAD or (time.monotonic() < until and n < 1000):
                    n += 1
                    conn.request("GET", "/prod" + LIST,
                                 headers={"X-Airmeet-Access-Token": token})
                    r = conn.getresponse()
                    data = r.read()
                    if r.status != 200 or len(data) != len(first.body):
                        errors.append((r.status, len(data)))
                    lists_done.append(1)
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(repr(e))
            finally:
                conn.close()

        churner = srv.make_tenant()
        renders = []

        def churn():
            while time.monotonic() < until:
                r = churner.register(expect=None)
                if r.status == 200:
                    srv.public("POST", DEREGISTER, headers=churner.key_headers(),
                               json_body={"id": r.json["payload"]["id"]})
                    renders.append(1)
                time.sleep(0.1)

        ths = [threading.Thread(target=lister) for _ in range(16)]
        ths.append(threading.Thread(target=churn))
        peak_kb = rss_before
        latencies = []
        hc = srv.connection(timeout=10)
        try:
            for th in ths:
                th.start()
            deadline = time.monotonic() + 300
            while any(th.is_alive() for th in ths) and time.monotonic() < deadline:
                t0 = time.monotonic()
                hc.request("GET", "/healthz")
                r = hc.getresponse()
                r.read()
                latencies.append((time.monotonic() - t0) * 1000)
                self.assertEqual(r.status, 200)
                peak_kb = max(peak_kb, rss_kb(pid))
                time.sleep(0.01)
        finally:
            for th in ths:
                th.join(timeout=60)
            hc.close()
        self.assertEqual(errors, [])
        self.assertGreaterEqual(len(lists_done), 16 * MIN_LISTS_PER_THREAD)
        self.assertTrue(latencies, "no /healthz sample was taken while listing")
        peak_mb = peak_kb / 1024
        p50 = statistics.median(latencies)
        p90 = sorted(latencies)[int(0.9 * (len(latencies) - 1))]
        print("\n  16 concurrent lists of %d webhooks (%.1f MB each, %d answers, the cache made"
              " stale %d times): RSS %.1f MB before, peak %.1f MB; /healthz p50 %.1f ms, p90"
              " %.1f ms, max %.1f ms over %d samples"
              % (DEFAULT_MAX_WEBHOOKS, body_mb, len(lists_done), len(renders),
                 rss_before / 1024, peak_mb, p50, p90, max(latencies), len(latencies)))
        self.assertLess(peak_mb, RSS_BOUND_MB, "RSS while listing")
        # The bound is the issue's; the 90th percentile keeps one scheduling hiccup of a
        # shared CI machine from failing it, while a server that stalls fails it.
        self.assertLess(p90, HEALTHZ_BOUND_MS, "/healthz latency while listing: %r"
                        % sorted(latencies)[-10:])


class QuotasPerCommunity(ServerTestCase):
    SERVER_ARGS = ("--max-webhooks", "4", "--register-rate", "0")

    def register(self, t, url=None, expect=None, **extra):
        return t.register(url=url or hook_url("q"), expect=expect, **extra)

    def quotas(self, community_id):
        return self.assertJson(self.srv.admin("GET", "/communities/%s/quotas" % community_id),
                               200)

    def patch(self, community_id, body):
        return self.srv.admin("PATCH", "/communities/%s/quotas" % community_id, body)

    def test_the_operator_sets_a_community_s_own_quota(self):
        a, b = self.srv.make_tenant(), self.srv.make_tenant()
        j = self.quotas(a.community_id)
        self.assertEqual(j["communityId"], a.community_id)
        self.assertEqual(j["activeWebhooks"], 0)
        self.assertEqual(j["quotas"]["maxWebhooks"], 4)
        self.assertIsNone(j["overrides"]["maxWebhooks"])
        self.assertEqual(j["defaults"], {"maxWebhooks": 4, "maxUrlBytes": 2047,
                                         "maxNameBytes": 255, "maxDescriptionBytes": 1023,
                                         "registrationsPerMinute": 0})
        r = self.patch(a.community_id, {"maxWebhooks": 2})
        j = self.assertJson(r, 200)
        self.assertEqual(j["quotas"]["maxWebhooks"], 2)
        self.assertEqual(j["overrides"]["maxWebhooks"], 2)
        self.assertIsNone(j["overrides"]["maxUrlBytes"])
        for _ in range(2):
            self.assertEqual(self.register(a).status, 200)
        r = self.register(a)
        m = self.assertPublicError(r, 409)["message"]
        self.assertIn("quota of 2 active webhooks", m)
        # Another community keeps the server's default.
        for _ in range(4):
            self.assertEqual(self.register(b).status, 200)
        self.assertPublicError(self.register(b), 409)
        # Shown with the community.
        c = self.assertJson(self.srv.admin("GET", "/communities/" + a.community_id), 200)
        self.assertEqual(c["activeWebhooks"], 2)
        self.assertEqual(c["quotas"]["maxWebhooks"], 2)
        # Back to the default: null.
        j = self.assertJson(self.patch(a.community_id, {"maxWebhooks": None}), 200)
        self.assertEqual(j["quotas"]["maxWebhooks"], 4)
        self.assertEqual(self.register(a).status, 200)

    def test_registering_again_what_exists_is_answered_when_full(self):
        t = self.srv.make_tenant()
        urls = [hook_url("full") for _ in range(4)]
        ids = [self.register(t, url=u, expect=200).json["payload"]["id"] for u in urls]
        again = self.register(t, url=urls[1])
        self.assertEqual(self.assertEnvelope(again)["id"], ids[1])
        self.assertPublicError(self.register(t), 409)
        # Deregistering makes room.
        r = self.srv.public("POST", DEREGISTER, headers=t.key_headers(),
                            json_body={"id": ids[0]})
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.register(t).status, 200)

    def test_field_lengths_within_the_community_s_quotas(self):
        t = self.srv.make_tenant()
        self.assertJson(self.patch(t.community_id, {"maxUrlBytes": 64, "maxNameBytes": 8,
                                                    "maxDescriptionBytes": 0}), 200)
        url64 = long_url("len", 64)
        r = self.register(t, url=url64 + "b", description=None)
        m = self.assertPublicError(r, 400)["message"]
        self.assertIn("field 'url' is 65 bytes", m)
        self.assertIn("maxUrlBytes", m)
        self.assertIn("--max-url-bytes", m)
        m = self.assertPublicError(self.register(t, url=url64, name="123456789",
                                                 description=None), 400)["message"]
        self.assertIn("field 'name'", m)
        m = self.assertPublicError(self.register(t, url=url64, name="n",
                                                 platformName="platform!"), 400)["message"]
        self.assertIn("field 'platformName'", m)
        m = self.assertPublicError(self.register(t, url=url64, name="n", platformName="p",
                                                 description="x"), 400)["message"]
        self.assertIn("field 'description'", m)
        r = self.register(t, url=url64, name="12345678", platformName="p", description=None)
        self.assertEqual(r.status, 200, repr(r))

    def test_quotas_are_checked(self):
        t = self.srv.make_tenant()
        for body, what in [({"maxUrlBytes": 2048}, "maxUrlBytes must be a whole number from 1 "
                                                   "to 2047"),
                           ({"maxWebhooks": 0}, "maxWebhooks must be"),
                           ({"maxNameBytes": "10"}, "maxNameBytes must be"),
                           ({"maxWebhooks": 1.5}, "maxWebhooks must be"),
                           ({"registrationsPerMinute": -1}, "registrationsPerMinute must be"),
                           ({"maxHooks": 3}, "unknown field 'maxHooks'")]:
            j = self.assertAdminError(self.patch(t.community_id, body), 400)
            self.assertIn(what, j["message"])
        self.assertAdminError(self.patch(str(uuid.uuid4()), {"maxWebhooks": 3}), 404)
        self.assertAdminError(self.srv.admin("GET", "/communities/%s/quotas" % uuid.uuid4()), 404)
        self.assertAdminError(self.srv.admin("PATCH", "/communities/%s/quotas" % t.community_id,
                                             token="wrong"), 401)
        self.assertIsNone(self.quotas(t.community_id)["overrides"]["maxWebhooks"])

    def test_enabling_stays_within_the_quota(self):
        t = self.srv.make_tenant()
        ids = [self.register(t, expect=200).json["payload"]["id"] for _ in range(4)]
        self.assertJson(self.srv.admin("POST", "/webhooks/%s/disable" % ids[0]), 200)
        self.assertEqual(self.register(t).status, 200)  # takes the room it left
        m = self.assertAdminError(self.srv.admin("POST", "/webhooks/%s/enable" % ids[0]),
                                  409)["message"]
        self.assertIn("quota of 4 active webhooks", m)
        self.assertJson(self.patch(t.community_id, {"maxWebhooks": 5}), 200)
        j = self.assertJson(self.srv.admin("POST", "/webhooks/%s/enable" % ids[0]), 200)
        self.assertTrue(j["isActive"])
        self.assertEqual(self.quotas(t.community_id)["activeWebhooks"], 5)

    def test_the_cli_sets_and_shows_quotas(self):
        t = self.srv.make_tenant()
        env = dict(os.environ, AIRHOOK_SERVER=self.srv.base_url,
                   AIRHOOK_ADMIN_TOKEN=self.srv.admin_token)

        def cli(*args):
            return subprocess.run([harness.BINARY] + list(args), env=env, capture_output=True,
                                  text=True, timeout=30)

        p = cli("community", "set-quotas", t.community_id, "--max-webhooks", "3",
                "--register-rate", "default")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["overrides"]["maxWebhooks"], 3)
        self.assertIsNone(j["overrides"]["registrationsPerMinute"])
        p = cli("community", "quotas", t.community_id)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["quotas"]["maxWebhooks"], 3)
        p = cli("community", "show", t.community_id)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["quotas"]["maxWebhooks"], 3)
        p = cli("community", "set-quotas", t.community_id, "--max-url-bytes", "99999")
        self.assertEqual(p.returncode, 1, p.stdout)  # the server's 400
        p = cli("community", "set-quotas", t.community_id, "--max-webhooks", "many")
        self.assertEqual(p.returncode, 2, p.stderr)
        p = cli("community", "set-quotas", t.community_id)
        self.assertEqual(p.returncode, 2, p.stderr)


class RegistrationRate(ServerTestCase):
    SERVER_ARGS = ("--register-rate", "3")

    def test_a_key_past_its_rate_is_answered_429(self):
        t = self.srv.make_tenant()
        for _ in range(3):
            self.assertEqual(t.register(expect=None).status, 200)
        r = t.register(expect=None)
        j = self.assertPublicError(r, 429)
        self.assertIn("at most 3 a minute", j["message"])
        self.assertIn("--register-rate", j["message"])
        retry = int(r.header("Retry-After"))
        self.assertTrue(1 <= retry <= 60, retry)
        # Each key has its own count; the community's own quota applies at once.
        other = t.new_key()
        hdrs = {"x-access-key": other["accessKey"], "x-secret-key": other["secretKey"]}
        self.assertEqual(t.register(headers=hdrs, expect=None).status, 200)
        r = self.srv.admin("PATCH", "/communities/%s/quotas" % t.community_id,
                           {"registrationsPerMinute": 0})
        self.assertJson(r, 200)
        self.assertEqual(t.register(expect=None).status, 200)


class RaceForTheLastPlace(ServerTestCase):
    """Two processes on one database (an SQLite file, or one PostgreSQL
    database as two nodes would share it); 16 registrations race for one place."""

    SERVER_ARGS = ("--max-webhooks", "5", "--register-rate", "0")

    def test_one_registration_takes_the_last_place(self):
        other = Server(self.SERVER_ARGS, admin_token=self.srv.admin_token,
                       workdir=self.srv.workdir).start()
        try:
            for round_ in range(3):
                t = self.srv.make_tenant()
                for _ in range(4):
                    t.register(expect=200)
                results = []
                go = threading.Barrier(16)

                def racer(k):
                    srv = (self.srv, other)[k % 2]
                    go.wait()
                    r = srv.public("POST", REGISTER, headers=t.key_headers(),
                                   json_body=register_body(hook_url("race%d" % k)))
                    results.append(r.status)

                ths = [threading.Thread(target=racer, args=(k,)) for k in range(16)]
                for th in ths:
                    th.start()
                for th in ths:
                    th.join(timeout=60)
                self.assertEqual(sorted(results), [200] + [409] * 15, "round %d" % round_)
                j = self.srv.admin("GET", "/communities/%s/quotas" % t.community_id).json
                self.assertEqual(j["activeWebhooks"], 5)
        finally:
            other.stop(remove=False)


class AirhookPaging(ServerTestCase):
    SERVER_ARGS = ("--register-rate", "0")

    def test_pages_cover_the_list_and_unpaged_is_airmeet_s_shape(self):
        t = self.srv.make_tenant()
        for _ in range(5):
            t.register(expect=200)
        hdrs = {"X-Airmeet-Access-Token": t.auth()}
        whole = self.assertJson(self.srv.public("GET", LIST, headers=hdrs), 200)
        self.assertEqual(list(whole), ["webhookDTOList"])
        ids, cursor, pages = [], None, 0
        while pages < 10:
            q = {"airhook.limit": "2"}
            if cursor:
                q["airhook.cursor"] = cursor
            j = self.assertJson(self.srv.public("GET", LIST, headers=hdrs, query=q), 200)
            self.assertEqual(list(j), ["webhookDTOList", "airhook"])
            ids += [w["id"] for w in j["webhookDTOList"]]
            pages += 1
            cursor = j["airhook"]["nextCursor"]
            if cursor is None:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(ids, [w["id"] for w in whole["webhookDTOList"]])
        r = self.srv.public("GET", LIST, headers=hdrs, query={"airhook.cursor": "nope"})
        self.assertIn("airhook.cursor", self.assertPublicError(r, 400)["message"])
        r = self.srv.public("GET", LIST, headers=hdrs, query={"airhook.limit": "0"})
        self.assertIn("airhook.limit", self.assertPublicError(r, 400)["message"])
        # Airmeet's parameters keep their meaning next to airhook's.
        q = {"airmeetId": t.airmeet_id, "airhook.limit": "10"}
        j = self.assertJson(self.srv.public("GET", LIST, headers=hdrs, query=q), 200)
        self.assertEqual(j["webhookDTOList"], [])
        self.assertIsNone(j["airhook"]["nextCursor"])
