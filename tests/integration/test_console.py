# SPDX-License-Identifier: MIT
"""The web console (issue 13, docs/console.md): its files, sign-in and
sessions, the cookie in place of the admin token or the key pair, CSRF,
read-only portal links, and that an integrator's session reaches its own
community only."""

import gzip
import re

from harness import ServerTestCase, Tenant, hook_url

COOKIE = "airhook_session"


class Browser:
    """A client that keeps the session cookie, as a browser would."""

    def __init__(self, srv):
        self.srv = srv
        self.cookie = None
        self.csrf = None

    def sign_in(self, body, expect=201):
        r = self.srv.request("POST", "/ui/api/session", json_body=body)
        assert r.status == expect, r
        if r.status == 201:
            m = re.match(COOKIE + r"=(ahc_[0-9a-f]{64});", r.header("Set-Cookie") or "")
            assert m, r.header("Set-Cookie")
            self.cookie = m.group(1)
            self.csrf = r.json["csrfToken"]
        return r

    def request(self, method, path, body=None, csrf=True, headers=None):
        hdrs = dict(headers or {})
        if self.cookie:
            hdrs["Cookie"] = "theme=dark; %s=%s" % (COOKIE, self.cookie)
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            hdrs["X-CSRF-Token"] = self.csrf
        return self.srv.request(method, path, headers=hdrs, json_body=body)


class ConsoleFilesTests(ServerTestCase):

    def test_root_redirects_to_the_console(self):
        for path in ("/", "/ui"):
            r = self.srv.request("GET", path)
            self.assertEqual(r.status, 302)
            self.assertEqual(r.header("Location"), "/ui/")

    def test_pages_answer_index_with_security_headers(self):
        index = self.srv.request("GET", "/ui/")
        self.assertEqual(index.status, 200)
        self.assertTrue(index.header("Content-Type").startswith("text/html"))
        self.assertIn(b"/ui/app.js", index.body)
        csp = index.header("Content-Security-Policy")
        self.assertIn("default-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertEqual(index.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(index.header("Referrer-Policy"), "no-referrer")
        # A page of the app (no extension) is index.html; a missing file is not.
        deep = self.srv.request("GET", "/ui/communities/3fa85f64-5717-4562-b3fc-2c963f66afa6")
        self.assertEqual(deep.status, 200)
        self.assertEqual(deep.body, index.body)
        self.assertEqual(self.srv.request("GET", "/ui/nope.js").status, 404)

    def test_no_inline_script_or_style(self):
        html = self.srv.request("GET", "/ui/").body.decode()
        self.assertIsNone(re.search(r"<script(?![^>]*\bsrc=)", html))
        self.assertNotIn("<style", html)
        self.assertNotIn("style=", html)
        for name in self.modules():
            js = self.srv.request("GET", "/ui/" + name).body.decode()
            self.assertNotIn("innerHTML", js, name)
            self.assertNotIn("insertAdjacentHTML", js, name)
            self.assertNotIn(".style", js, name)

    def modules(self):
        """app.js and every page module it imports (ui/page-*.js), each served."""
        app = self.srv.request("GET", "/ui/app.js")
        self.assertEqual(app.status, 200)
        names = ["app.js"] + re.findall(r"from '\./([\w-]+\.js)'", app.body.decode())
        for name in names[1:]:
            res = self.srv.request("GET", "/ui/" + name)
            self.assertEqual(res.status, 200, name)
            self.assertTrue(res.header("Content-Type").startswith("text/javascript"), name)
        return names

    def test_etag_and_gzip(self):
        plain = self.srv.request("GET", "/ui/app.js")
        self.assertEqual(plain.status, 200)
        self.assertTrue(plain.header("Content-Type").startswith("text/javascript"))
        etag = plain.header("ETag")
        self.assertRegex(etag, r'^"[0-9a-f]{32}"$')
        self.assertEqual(plain.header("Vary"), "Accept-Encoding")
        self.assertIsNone(plain.header("Content-Encoding"))
        again = self.srv.request("GET", "/ui/app.js", headers={"If-None-Match": etag})
        self.assertEqual(again.status, 304)
        self.assertEqual(again.body, b"")
        gz = self.srv.request("GET", "/ui/app.js", headers={"Accept-Encoding": "br, gzip"})
        self.assertEqual(gz.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(gz.body), plain.body)
        self.assertLess(len(gz.body), len(plain.body))
        self.assertNotEqual(gz.header("ETag"), etag)
        no = self.srv.request("GET", "/ui/app.js", headers={"Accept-Encoding": "gzip;q=0"})
        self.assertIsNone(no.header("Content-Encoding"))

    def test_whole_console_is_small(self):
        total = sum(len(self.srv.request("GET", "/ui/" + f).body)
                    for f in ["index.html", "app.css"] + self.modules())
        self.assertLessEqual(total, 200 * 1024)


class ConsoleOffTests(ServerTestCase):
    SERVER_ARGS = ("--ui", "off")

    def test_off_means_404_and_no_sign_in(self):
        for path in ("/", "/ui/", "/ui/app.js"):
            self.assertEqual(self.srv.request("GET", path).status, 404, path)
        r = self.srv.request("POST", "/ui/api/session",
                             json_body={"adminToken": self.srv.admin_token})
        self.assertEqual(r.status, 404)
        # The APIs are as they were.
        self.assertEqual(self.srv.admin("GET", "/communities").status, 200)


class OperatorSessionTests(ServerTestCase):

    def test_sign_in_session_and_cookie_attributes(self):
        b = Browser(self.srv)
        r = b.sign_in({"adminToken": self.srv.admin_token})
        j = self.assertJson(r, 201)
        self.assertEqual(j["role"], "operator")
        self.assertIsNone(j["communityId"])
        self.assertFalse(j["readOnly"])
        self.assertEqual(j["basePath"], "/prod")
        cookie = r.header("Set-Cookie")
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="):
            self.assertIn(attr, cookie)
        self.assertNotIn("Secure", cookie)  # plain http without --public-url https://
        got = self.assertJson(b.request("GET", "/ui/api/session"), 200)
        self.assertEqual(got["csrfToken"], j["csrfToken"])

    def test_cookie_stands_in_for_the_admin_token(self):
        b = Browser(self.srv)
        b.sign_in({"adminToken": self.srv.admin_token})
        self.assertJson(b.request("GET", "/admin/v1/communities"), 200)
        made = self.assertJson(b.request("POST", "/admin/v1/communities", {"name": "By cookie"}), 201)
        self.assertEqual(made["name"], "By cookie")

    def test_state_change_without_csrf_is_403(self):
        b = Browser(self.srv)
        b.sign_in({"adminToken": self.srv.admin_token})
        r = b.request("POST", "/admin/v1/communities", {"name": "No CSRF"}, csrf=False)
        j = self.assertAdminError(r, 403)
        self.assertIn("X-CSRF-Token", j["message"])
        r = b.request("POST", "/admin/v1/communities", {"name": "Bad CSRF"}, csrf=False,
                      headers={"X-CSRF-Token": "0" * 64})
        self.assertAdminError(r, 403)
        # Nothing was created.
        names = [c["name"] for c in self.srv.admin("GET", "/communities").json["communities"]]
        self.assertNotIn("No CSRF", names)
        self.assertNotIn("Bad CSRF", names)

    def test_sign_out_ends_the_session(self):
        b = Browser(self.srv)
        b.sign_in({"adminToken": self.srv.admin_token})
        self.assertEqual(b.request("DELETE", "/ui/api/session", csrf=False).status, 403)
        r = b.request("DELETE", "/ui/api/session")
        self.assertEqual(r.status, 204)
        self.assertIn("Max-Age=0", r.header("Set-Cookie"))
        self.assertAdminError(b.request("GET", "/ui/api/session"), 401)
        self.assertAdminError(b.request("GET", "/admin/v1/communities"), 401)

    def test_wrong_and_malformed_sign_ins(self):
        r = self.srv.request("POST", "/ui/api/session", json_body={"adminToken": "wrong"})
        j = self.assertAdminError(r, 401)
        self.assertIn("admin token", j["message"])
        self.assertIsNone(r.header("Set-Cookie"))
        self.assertAdminError(self.srv.request("POST", "/ui/api/session", json_body={}), 400)
        both = {"adminToken": "x", "accessKey": "y", "secretKey": "z"}
        self.assertAdminError(self.srv.request("POST", "/ui/api/session", json_body=both), 400)
        self.assertAdminError(self.srv.request("POST", "/ui/api/session", body="{}"), 400)

    def test_unknown_cookie_is_401(self):
        r = self.srv.request("GET", "/admin/v1/communities",
                             headers={"Cookie": COOKIE + "=ahc_" + "0" * 64})
        j = self.assertAdminError(r, 401)
        self.assertIn("sign in again", j["message"])

    def test_bearer_token_still_wins(self):
        b = Browser(self.srv)
        b.sign_in({"adminToken": self.srv.admin_token})
        r = b.request("GET", "/admin/v1/communities", headers={"Authorization": "Bearer wrong"})
        self.assertAdminError(r, 401)


class SignInLimitTests(ServerTestCase):
    SERVER_ARGS = ("--auth-fail-limit", "3")

    def test_failed_sign_ins_count_against_the_limit(self):
        for _ in range(3):
            r = self.srv.request("POST", "/ui/api/session", json_body={"adminToken": "wrong"})
            self.assertEqual(r.status, 401)
        r = self.srv.request("POST", "/ui/api/session",
                             json_body={"adminToken": self.srv.admin_token})
        self.assertAdminError(r, 429)
        self.assertIsNotNone(r.header("Retry-After"))
        # The admin API's bearer token shares the operator's limiter.
        self.assertEqual(self.srv.admin("GET", "/communities").status, 429)
        # Integrators' sign-ins have their own.
        r = self.srv.request("POST", "/ui/api/session",
                             json_body={"accessKey": "nope", "secretKey": "nope"})
        self.assertEqual(r.status, 401)


class IntegratorSessionTests(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a = Tenant.create(cls.srv)
        cls.b = Tenant.create(cls.srv)
        cls.b_hook = cls.b.register("trigger.airmeet.created", url=hook_url("/b")).json["payload"]["id"]

    def integrator(self, tenant):
        b = Browser(self.srv)
        j = b.sign_in({"accessKey": tenant.access_key, "secretKey": tenant.secret_key}).json
        self.assertEqual(j["role"], "integrator")
        self.assertEqual(j["communityId"], tenant.community_id)
        self.assertEqual(j["signedInWith"], "keyPair")
        return b

    def test_public_api_with_the_cookie_acts_for_the_key_community(self):
        b = self.integrator(self.a)
        r = b.request("POST", "/prod/platform-integration/v1/webhook-register",
                      {"name": "Console hook", "triggerMetaInfoId": "trigger.airmeet.created",
                       "url": hook_url("/console-a"), "platformName": "console"})
        self.assertEqual(r.status, 200, r)
        listed = self.assertJson(b.request("GET", "/prod/platform-integration/v1/webhook-list"), 200)
        ids = [w["id"] for w in listed["webhookDTOList"]]
        self.assertIn(r.json["payload"]["id"], ids)
        self.assertNotIn(self.b_hook, ids)
        sample = b.request("GET", "/prod/platform-integration/v1/sample-payload"
                                  "?triggerMetaInfoId=trigger.airmeet.created")
        self.assertEqual(sample.status, 200)
        cat = self.assertJson(b.request("GET", "/prod/airhook/v1/triggers"), 200)
        self.assertIn("trigger.airmeet.created", [t["id"] for t in cat["triggers"]])

    def test_other_community_is_out_of_reach(self):
        b = self.integrator(self.a)
        # B's webhook cannot be deregistered through A's session.
        r = b.request("POST", "/prod/platform-integration/v1/webhook-deregister", {"id": self.b_hook})
        self.assertIn(r.status, (400, 403, 404), r)
        self.assertEqual(self.srv.admin("GET", "/webhooks/" + self.b_hook).json["isActive"], True)
        # B's airmeet is not A's.
        r = b.request("GET", "/prod/airmeet/%s/info" % self.b.airmeet_id)
        self.assertIn(r.status, (401, 403, 404), r)
        self.assertIn("another community", r.json["message"])
        # And the admin API is not an integrator's.
        self.assertAdminError(b.request("GET", "/admin/v1/communities"), 403)
        self.assertAdminError(b.request("GET", "/admin/v1/webhooks/" + self.b_hook), 403)

    def test_public_state_change_needs_csrf(self):
        b = self.integrator(self.a)
        r = b.request("POST", "/prod/platform-integration/v1/webhook-register",
                      {"name": "x", "triggerMetaInfoId": "trigger.airmeet.created",
                       "url": hook_url("/nocsrf"), "platformName": "console"}, csrf=False)
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["statusMessage"], "FORBIDDEN")
        self.assertIn("X-CSRF-Token", r.json["message"])

    def test_operator_session_is_not_an_integrator(self):
        b = Browser(self.srv)
        b.sign_in({"adminToken": self.srv.admin_token})
        r = b.request("GET", "/prod/platform-integration/v1/webhook-list")
        self.assertEqual(r.status, 403)
        self.assertIn("key pairs", r.json["message"])

    def test_revoking_the_key_ends_its_sessions(self):
        t = Tenant.create(self.srv, with_airmeet=False)
        b = self.integrator(t)
        self.assertEqual(b.request("GET", "/prod/airhook/v1/triggers").status, 200)
        self.srv.admin("DELETE", "/access-keys/" + t.key_id)
        r = b.request("GET", "/prod/airhook/v1/triggers")
        self.assertEqual(r.status, 401)
        self.assertIn("revoked", r.json["message"])
        self.assertAdminError(b.request("GET", "/ui/api/session"), 401)
        r = self.srv.request("POST", "/ui/api/session",
                             json_body={"accessKey": t.access_key, "secretKey": t.secret_key})
        self.assertAdminError(r, 403)

    def test_wrong_key_pair(self):
        r = self.srv.request("POST", "/ui/api/session",
                             json_body={"accessKey": self.a.access_key, "secretKey": "ahs_wrong"})
        j = self.assertAdminError(r, 401)
        self.assertIn("do not match", j["message"])


class PortalLinkTests(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t = Tenant.create(cls.srv)
        cls.other = Tenant.create(cls.srv)

    def link(self, **body):
        r = self.srv.admin("POST", "/communities/%s/portal-links" % self.t.community_id, body)
        return self.assertJson(r, 201)

    def token_of(self, link):
        m = re.search(r"/ui/portal#token=(ahp_[0-9a-f]{64})$", link["url"])
        self.assertIsNotNone(m, link["url"])
        return m.group(1)

    def test_create_list_and_sign_in(self):
        link = self.link(expiresIn="24h")
        self.assertEqual(link["communityId"], self.t.community_id)
        self.assertTrue(link["isActive"])
        self.assertFalse(link["readOnly"])
        self.assertTrue(link["url"].startswith("http://127.0.0.1:%d/ui/portal#token=" % self.srv.port))
        listed = self.assertJson(self.srv.admin(
            "GET", "/communities/%s/portal-links" % self.t.community_id), 200)["portalLinks"]
        self.assertIn(link["id"], [l["id"] for l in listed])
        self.assertNotIn("url", listed[0])
        b = Browser(self.srv)
        s = b.sign_in({"portalToken": self.token_of(link)}).json
        self.assertEqual((s["role"], s["communityId"], s["signedInWith"]),
                         ("integrator", self.t.community_id, "portalLink"))
        r = b.request("POST", "/prod/platform-integration/v1/webhook-register",
                      {"name": "Via portal", "triggerMetaInfoId": "trigger.airmeet.created",
                       "url": hook_url("/portal"), "platformName": "console"})
        self.assertEqual(r.status, 200, r)

    def test_read_only_link_changes_nothing(self):
        b = Browser(self.srv)
        s = b.sign_in({"portalToken": self.token_of(self.link(readOnly=True))}).json
        self.assertTrue(s["readOnly"])
        self.assertEqual(b.request("GET", "/prod/platform-integration/v1/webhook-list").status, 200)
        r = b.request("POST", "/prod/platform-integration/v1/webhook-register",
                      {"name": "x", "triggerMetaInfoId": "trigger.airmeet.created",
                       "url": hook_url("/ro"), "platformName": "console"})
        self.assertEqual(r.status, 403)
        self.assertIn("read-only", r.json["message"])
        # Signing out is no change to the community: a read-only session may.
        self.assertEqual(b.request("DELETE", "/ui/api/session").status, 204)

    def test_revoked_link_signs_no_one_in_and_ends_its_sessions(self):
        link = self.link()
        b = Browser(self.srv)
        b.sign_in({"portalToken": self.token_of(link)})
        r = self.srv.admin("DELETE", "/portal-links/" + link["id"])
        j = self.assertJson(r, 200)
        self.assertFalse(j["isActive"])
        self.assertIsNotNone(j["revokedAt"])
        self.assertEqual(b.request("GET", "/prod/airhook/v1/triggers").status, 401)
        r = self.srv.request("POST", "/ui/api/session", json_body={"portalToken": self.token_of(link)})
        self.assertAdminError(r, 401)

    def test_bad_requests(self):
        for bad in ("30s", "91d", "soon", -5, True):
            r = self.srv.admin("POST", "/communities/%s/portal-links" % self.t.community_id,
                               {"expiresIn": bad})
            self.assertAdminError(r, 400)
        r = self.srv.admin("POST", "/communities/%s/portal-links" % self.t.community_id,
                           {"readOnly": "yes"})
        self.assertAdminError(r, 400)
        r = self.srv.admin("POST", "/communities/3fa85f64-5717-4562-b3fc-2c963f66afa6/portal-links", {})
        self.assertAdminError(r, 404)
        self.assertAdminError(self.srv.admin("DELETE", "/portal-links/3fa85f64-5717-4562-b3fc-2c963f66afa6"), 404)
        self.assertAdminError(self.srv.request("POST", "/ui/api/session",
                                               json_body={"portalToken": "ahp_nope"}), 401)


class PublicUrlTests(ServerTestCase):
    SERVER_ARGS = ("--public-url", "https://hooks.example.com")

    def test_secure_cookie_and_link_origin(self):
        r = self.srv.request("POST", "/ui/api/session", json_body={"adminToken": self.srv.admin_token})
        self.assertIn("; Secure", r.header("Set-Cookie"))
        t = Tenant.create(self.srv, with_airmeet=False)
        link = self.srv.admin("POST", "/communities/%s/portal-links" % t.community_id, {}).json
        self.assertTrue(link["url"].startswith("https://hooks.example.com/ui/portal#token=ahp_"))


class StartupLineTests(ServerTestCase):

    def test_serve_prints_where_the_console_is(self):
        out = "\n".join(self.srv.stdout_snapshot())
        m = re.search(r"console: open (http://\S+)/ui/ and sign in as the operator with the token", out)
        self.assertIsNotNone(m, out)
