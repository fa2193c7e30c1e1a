/* SPDX-License-Identifier: MIT */
/*
 * console.c: signing in to the web console, and the sessions that follow
 * (docs/console.md).
 *
 * The console has no privileged path: its pages call the admin API and the
 * public API like any script.  What it adds is a way to carry the
 * credentials: POST /ui/api/session takes an admin token (an operator), a
 * key pair (an integrator of the key's community) or a portal link's token
 * (an integrator of the link's community, read-only if the link says so),
 * and answers a session cookie.  The session id is 32 random bytes that
 * only the cookie holds (HttpOnly, SameSite=Strict, Path=/, Secure when
 * the browser came over https); the store keeps its SHA-256, so every node
 * sharing the store knows it and a copy of the database signs no one in.
 *
 * dispatch.c then accepts the cookie in place of the route's own
 * credentials: an operator's on the admin API (instead of the bearer
 * token), an integrator's on the public API (instead of the key pair or
 * token), scoped to the session's community exactly as a key pair of that
 * community would be.  Header credentials, when sent, win over a cookie.
 * Every state-changing request (anything but GET and HEAD) made with a
 * cookie must carry the session's CSRF token in X-CSRF-Token, which only a
 * page of this origin can read (GET /ui/api/session); a read-only session
 * may change nothing.
 *
 * A session ends on sign-out (DELETE /ui/api/session), 12 hours after
 * sign-in, after 2 hours without a request, or at its next request once
 * the key pair or portal link it signed in with is revoked.  Sign-in
 * failures count against --auth-fail-limit like any failed authentication
 * (the admin token's on the admin limiter, the others on the public API's);
 * an unknown or ended cookie does not (a session id cannot be guessed, and
 * an old tab would otherwise lock its user out).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "common/crypto.h"
#include "common/log.h"

#define COOKIE "airhook_session"
#define SESSION_ABSOLUTE_MS (12LL * 3600 * 1000)
#define SESSION_IDLE_MS (2LL * 3600 * 1000)
#define SESSION_TOUCH_MS (60LL * 1000)
#define LINK_DEFAULT_MS (7LL * 24 * 3600 * 1000)
#define LINK_MAX_MS (90LL * 24 * 3600 * 1000)

/* The value of cookie COOKIE into out; false when absent or unusable. */
static bool session_cookie(const ah_http_req_t *req, char *out, size_t outsz)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].key, "Cookie"))
            continue;
        const char *p = req->headers[i].value;
        while (p && *p) {
            p += strspn(p, " ;");
            size_t len = strcspn(p, ";");
            const size_t nlen = sizeof COOKIE - 1;
            if (len > nlen + 1 && !strncmp(p, COOKIE "=", nlen + 1)) {
                size_t vlen = len - nlen - 1;
                while (vlen && p[nlen + 1 + vlen - 1] == ' ')
                    vlen--;
                if (vlen == 0 || vlen >= outsz)
                    return false;
                memcpy(out, p + nlen + 1, vlen);
                out[vlen] = '\0';
                return true;
            }
            p += len;
        }
    }
    return false;
}

bool ah_console_has_cookie(const ah_http_req_t *req)
{
    char v[128];
    return session_cookie(req, v, sizeof v);
}

/* Did the browser come over https (directly per --public-url, or per a trusted proxy)? */
static bool secure_origin(const ah_app_t *app, const ah_http_req_t *req)
{
    if (app->cfg.public_url && !strncmp(app->cfg.public_url, "https://", 8))
        return true;
    const char *proto =
        app->cfg.trust_forwarded_for ? ah_http_header(req, "X-Forwarded-Proto") : NULL;
    return proto && !strncasecmp(proto, "https", 5);
}

static void set_cookie(const ah_app_t *app, const ah_http_req_t *req, ah_http_resp_t *resp,
                       const char *value, int64_t max_age_s)
{
    snprintf(resp->set_cookie, sizeof resp->set_cookie,
             COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", value,
             (long long)max_age_s, secure_origin(app, req) ? "; Secure" : "");
}

static bool state_changing(const ah_http_req_t *req)
{
    return strcmp(req->method, "GET") && strcmp(req->method, "HEAD");
}

/*
 * The session the request's cookie names, live: 0 with *out filled, 401
 * with why when there is none (or it has ended: it is deleted then), or a
 * negative store status.
 */
static int live_session(ah_app_t *app, const ah_http_req_t *req, ah_console_session_t *out,
                        char *why, size_t whylen)
{
    char id[128], hash[AH_SHA256_HEX_SIZE];
    if (!session_cookie(req, id, sizeof id)) {
        snprintf(why, whylen, "not signed in to the console");
        return 401;
    }
    ah_sha256_hex(id, strlen(id), hash);
    int rc = ah_store_console_session_find(app->store, hash, out);
    if (rc == AH_ENOTFOUND) {
        snprintf(why, whylen, "your console session has ended; sign in again");
        return 401;
    }
    if (rc)
        return rc;
    int64_t now = ah_now_ms();
    const char *ended = NULL;
    if (now >= out->expires_at)
        ended = "your console session has expired; sign in again";
    else if (now - out->seen_at >= SESSION_IDLE_MS)
        ended = "your console session ended after 2 hours without use; sign in again";
    else if (out->revoked_at)
        ended = out->link_id[0] ? "the portal link of this session has been revoked"
                                : "the key pair of this session has been revoked";
    if (ended) {
        ah_store_console_session_delete(app->store, hash);
        snprintf(why, whylen, "%s", ended);
        return 401;
    }
    if (now - out->seen_at >= SESSION_TOUCH_MS)
        ah_store_console_session_touch(app->store, hash, now);
    return 0;
}

/*
 * A state-changing request made with a session must carry its CSRF token,
 * and a read-only session may make none but signing out (own_session); 403
 * otherwise.
 */
static int csrf_check(const ah_http_req_t *req, const ah_console_session_t *s, bool own_session,
                      char *why, size_t whylen)
{
    if (!state_changing(req))
        return 0;
    const char *t = ah_http_header(req, "X-CSRF-Token");
    if (!t || strlen(t) != AH_CSRF_SIZE - 1 || !ah_ct_equal(t, s->csrf, AH_CSRF_SIZE - 1)) {
        snprintf(why, whylen,
                 "missing or wrong X-CSRF-Token: a request that changes something "
                 "with a console session must carry the session's CSRF token");
        return 403;
    }
    if (s->read_only && !own_session) {
        snprintf(why, whylen, "this console session is read-only (its portal link says so)");
        return 403;
    }
    return 0;
}

int ah_console_admit(ah_call_t *c, const ah_http_req_t *req, ah_console_role_t want, char *why,
                     size_t whylen)
{
    ah_app_t *app = c->app;
    if (!app->cfg.ui) {
        snprintf(why, whylen, "the web console is off on this server (--ui off)");
        return 401;
    }
    int rc = live_session(app, req, &c->session_buf, why, whylen);
    if (rc)
        return rc;
    const ah_console_session_t *s = &c->session_buf;
    bool operator= !strcmp(s->role, "operator");
    if (want == AH_CONSOLE_OPERATOR && !operator) {
        snprintf(why, whylen, "an integrator's console session cannot call the admin API");
        return 403;
    }
    if (want == AH_CONSOLE_INTEGRATOR && operator) {
        snprintf(why, whylen,
                 "an operator's console session cannot call the public API: it "
                 "acts for a community, so sign in with one of its key pairs");
        return 403;
    }
    if ((rc = csrf_check(req, s, want == AH_CONSOLE_ANY, why, whylen)))
        return rc;
    c->session = s;
    if (!operator) {
        memcpy(c->caller.community_id, s->community_id, sizeof c->caller.community_id);
        if (s->key_id[0]) {
            /* The key's label came with the session (one read per request). */
            memcpy(c->caller.key_id, s->key_id, sizeof c->caller.key_id);
            ah_strlcpy(c->caller.label, s->key_label, sizeof c->caller.label);
        } else {
            memcpy(c->caller.key_id, s->link_id, sizeof c->caller.key_id);
            ah_strlcpy(c->caller.label, "portal link", sizeof c->caller.label);
        }
    }
    return 0;
}

/* ---- the session endpoints ---- */

static json_t *session_json(const ah_app_t *app, const ah_console_session_t *s,
                            const char *community_name)
{
    const char *via = !strcmp(s->role, "operator") ? "adminToken"
                      : s->link_id[0]              ? "portalLink"
                                                   : "keyPair";
    return json_pack("{s:s, s:o, s:o, s:s, s:b, s:s, s:o, s:I, s:s}", "role", s->role,
                     "communityId", ah_json_str_or_null(s->community_id), "communityName",
                     ah_json_str_or_null(community_name ? community_name : ""), "signedInWith", via,
                     "readOnly", s->read_only, "csrfToken", s->csrf, "expiresAt",
                     ah_json_time(s->expires_at), "idleTimeoutSeconds",
                     (json_int_t)(SESSION_IDLE_MS / 1000), "basePath", app->cfg.base_path);
}

static void answer_session(ah_call_t *c, const ah_console_session_t *s, int status,
                           ah_http_resp_t *resp)
{
    ah_community_t cm;
    const char *name = NULL;
    if (s->community_id[0] && ah_store_community_get(c->app->store, s->community_id, &cm) == AH_OK)
        name = cm.name;
    ah_http_resp_json(resp, status, session_json(c->app, s, name));
    resp->cache_control = "no-store";
}

/* Counts a failed sign-in against limiter and answers 401 (or 403: a revoked key). */
static void sign_in_refused(ah_call_t *c, ah_ratelimit_t *limiter, const ah_http_req_t *req,
                            int status, const char *why, ah_http_resp_t *resp)
{
    ah_ratelimit_fail(limiter, req->client_ip, ah_now_ms());
    ah_error(resp, c->dialect, status, "%s", why);
}

static bool throttled(ah_call_t *c, ah_ratelimit_t *limiter, const ah_http_req_t *req,
                      ah_http_resp_t *resp)
{
    int64_t wait_s = 0;
    if (ah_ratelimit_allowed(limiter, req->client_ip, ah_now_ms(), &wait_s))
        return false;
    snprintf(resp->retry_after, sizeof resp->retry_after, "%lld", (long long)wait_s);
    ah_error(resp, c->dialect, 429, "too many failed sign-ins from this address; retry in %lld s",
             (long long)wait_s);
    return true;
}

/* Fills s for the credentials in body; 0, or a status with why (400, 401, 403), or a store rc. */
static int check_sign_in(ah_call_t *c, json_t *body, ah_console_session_t *s,
                         ah_ratelimit_t **limiter, char *why, size_t whylen)
{
    ah_app_t *app = c->app;
    const char *admin = json_string_value(json_object_get(body, "adminToken"));
    const char *ak = json_string_value(json_object_get(body, "accessKey"));
    const char *sk = json_string_value(json_object_get(body, "secretKey"));
    const char *pt = json_string_value(json_object_get(body, "portalToken"));
    int kinds = !!admin + !!(ak || sk) + !!pt;
    if (kinds != 1) {
        snprintf(why, whylen, "give one of: adminToken; accessKey and secretKey; portalToken");
        *limiter = NULL;
        return 400;
    }
    char hash[AH_SHA256_HEX_SIZE];
    if (admin) {
        *limiter = app->admin_limiter;
        ah_sha256_hex(admin, strlen(admin), hash);
        if (!ah_ct_equal(hash, app->admin_token_hash, AH_SHA256_HEX_SIZE - 1)) {
            snprintf(why, whylen, "that is not this server's admin token");
            return 401;
        }
        ah_strlcpy(s->role, "operator", sizeof s->role);
        return 0;
    }
    *limiter = app->auth_limiter;
    ah_strlcpy(s->role, "integrator", sizeof s->role);
    if (pt) {
        ah_portal_link_t l;
        ah_sha256_hex(pt, strlen(pt), hash);
        int rc = ah_store_portal_link_find(app->store, hash, &l);
        if (rc == AH_ENOTFOUND || (!rc && (l.revoked_at || l.expires_at <= ah_now_ms()))) {
            snprintf(why, whylen,
                     rc ? "this portal link is not valid; ask your operator for "
                          "a new one"
                        : "this portal link has expired or was revoked; ask your "
                          "operator for a new one");
            return 401;
        }
        if (rc)
            return rc;
        memcpy(s->community_id, l.community_id, sizeof s->community_id);
        memcpy(s->link_id, l.id, sizeof s->link_id);
        s->read_only = l.read_only;
        if (l.expires_at < s->expires_at)
            s->expires_at = l.expires_at;
        return 0;
    }
    if (!ak || !sk || !*ak || !*sk) {
        snprintf(why, whylen, "give both accessKey and secretKey");
        return 400;
    }
    ah_access_key_t k;
    ah_sha256_hex(sk, strlen(sk), hash);
    int rc = strlen(ak) < AH_ACCESS_KEY_MAX ? ah_store_access_key_find(app->store, ak, &k)
                                            : AH_ENOTFOUND;
    if (rc == AH_ENOTFOUND || (!rc && !ah_ct_equal(hash, k.secret_hash, AH_SHA256_HEX_SIZE - 1))) {
        snprintf(why, whylen, "the access key and secret key do not match any key pair");
        return 401;
    }
    if (rc)
        return rc;
    if (k.revoked_at) {
        snprintf(why, whylen, "this access key has been revoked");
        return 403;
    }
    memcpy(s->community_id, k.community_id, sizeof s->community_id);
    memcpy(s->key_id, k.id, sizeof s->key_id);
    return 0;
}

void ah_h_console_sign_in(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = c->app;
    char why[AH_WHY_SIZE];
    if (!app->cfg.ui) {
        ah_error(resp, c->dialect, 404, "the web console is off on this server (--ui off)");
        return;
    }
    json_t *body = ah_parse_body(req, true, why, sizeof why);
    if (!body) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return;
    }
    /* Both limiters first: a throttled address learns nothing from its next try. */
    if (throttled(c, json_object_get(body, "adminToken") ? app->admin_limiter : app->auth_limiter,
                  req, resp))
        goto out;
    ah_console_session_t s;
    memset(&s, 0, sizeof s);
    int64_t now = ah_now_ms();
    s.created_at = s.seen_at = now;
    s.expires_at = now + SESSION_ABSOLUTE_MS;
    ah_ratelimit_t *limiter = NULL;
    int rc = check_sign_in(c, body, &s, &limiter, why, sizeof why);
    if (rc < 0) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    if (rc == 400) {
        ah_error(resp, c->dialect, 400, "%s", why);
        goto out;
    }
    if (rc) {
        sign_in_refused(c, limiter, req, rc, why, resp);
        goto out;
    }
    char id[80];
    ah_random_hex("ahc_", 32, id, sizeof id);
    ah_sha256_hex(id, strlen(id), s.id_hash);
    ah_random_hex("", 32, s.csrf, sizeof s.csrf);
    if ((rc = ah_store_console_session_create(app->store, &s))) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    /* Now and then, sessions long ended go (each node's sign-ins do it; cheap, indexed). */
    if ((now / 1000) % 16 == 0)
        ah_store_console_session_purge(app->store, now, now - SESSION_IDLE_MS, NULL);
    answer_session(c, &s, 201, resp);
    set_cookie(app, req, resp, id, (s.expires_at - now) / 1000);
out:
    json_decref(body);
}

void ah_h_console_session_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    answer_session(c, c->session, 200, resp);
}

void ah_h_console_sign_out(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    int rc = ah_store_console_session_delete(c->app->store, c->session->id_hash);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    ah_http_resp_clear(resp);
    resp->status = 204;
    set_cookie(c->app, req, resp, "", 0);
}

/* ---- portal links (the operator's: /admin/v1) ---- */

static json_t *link_json(const ah_portal_link_t *l)
{
    bool active = !l->revoked_at && l->expires_at > ah_now_ms();
    return json_pack("{s:s, s:s, s:b, s:o, s:o, s:o, s:b}", "id", l->id, "communityId",
                     l->community_id, "readOnly", l->read_only, "createdAt",
                     ah_json_time(l->created_at), "expiresAt", ah_json_time(l->expires_at),
                     "revokedAt", ah_json_time(l->revoked_at), "isActive", active);
}

/* Where browsers reach us: --public-url, else the request's Host (a plain name:port). */
static void origin_of(const ah_app_t *app, const ah_http_req_t *req, char *out, size_t outsz)
{
    if (app->cfg.public_url) {
        ah_strlcpy(out, app->cfg.public_url, outsz);
        return;
    }
    const char *host = ah_http_header(req, "Host");
    if (!host || !*host ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-:[]") != strlen(host))
        host = "localhost";
    snprintf(out, outsz, "%s://%s", secure_origin(app, req) ? "https" : "http", host);
}

void ah_h_portal_link_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_portal_link_t l;
    ah_community_t cm;
    char why[AH_WHY_SIZE];
    memset(&l, 0, sizeof l);
    if (!ah_path_id(c, req, resp, &ah_kind_community, l.community_id))
        return;
    json_t *body = NULL;
    if (req->body_len) {
        body = ah_parse_body(req, false, why, sizeof why);
        if (!body) {
            ah_error(resp, c->dialect, 400, "%s", why);
            return;
        }
    }
    int64_t ttl = LINK_DEFAULT_MS;
    json_t *ei = body ? json_object_get(body, "expiresIn") : NULL;
    json_t *ro = body ? json_object_get(body, "readOnly") : NULL;
    if (ei && !json_is_null(ei)) {
        if (json_is_integer(ei))
            ttl = json_integer_value(ei) * 1000;
        else if (!json_is_string(ei) || ah_parse_duration_ms(json_string_value(ei), &ttl) != AH_OK)
            ttl = -1;
        if (ttl < 60 * 1000 || ttl > LINK_MAX_MS) {
            ah_error(resp, c->dialect, 400,
                     "expiresIn must be a duration (\"24h\", \"7d\") or seconds, from 1 minute "
                     "to 90 days");
            goto out;
        }
    }
    if (ro && !json_is_null(ro) && !json_is_boolean(ro)) {
        ah_error(resp, c->dialect, 400, "readOnly must be true or false");
        goto out;
    }
    l.read_only = ro && json_is_true(ro);
    if (!ah_fetch(c, resp, &ah_kind_community, l.community_id, &cm))
        goto out;
    char token[80];
    ah_uuid_v4(l.id);
    ah_random_hex("ahp_", 32, token, sizeof token);
    ah_sha256_hex(token, strlen(token), l.token_hash);
    l.created_at = ah_now_ms();
    l.expires_at = l.created_at + ttl;
    int rc = ah_store_portal_link_create(c->app->store, &l);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    /* The token rides in the fragment, which browsers never send: no server logs it. */
    char origin[512], url[700];
    origin_of(c->app, req, origin, sizeof origin);
    snprintf(url, sizeof url, "%s/ui/portal#token=%s", origin, token);
    json_t *j = link_json(&l);
    json_object_set_new(j, "url", json_string(url));
    ah_http_resp_json(resp, 201, j);
    resp->cache_control = "no-store";
out:
    json_decref(body);
}

void ah_h_portal_link_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_community_t cm;
    if (!ah_get_by_id(c, req, resp, &ah_kind_community, id, &cm))
        return;
    ah_portal_link_t *list = NULL;
    size_t n = 0;
    int rc = ah_store_portal_link_list(c->app->store, id, &list, &n);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, link_json(&list[i]));
    free(list);
    if (!arr) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_http_resp_json(resp, 200, json_pack("{s:o}", "portalLinks", arr));
}

void ah_h_portal_link_revoke(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_portal_link_t l;
    if (!ah_path_id(c, req, resp, &ah_kind_portal_link, id))
        return;
    int rc = ah_store_portal_link_revoke(c->app->store, id, ah_now_ms());
    if (!ah_found(c, resp, &ah_kind_portal_link, id, rc) ||
        !ah_fetch(c, resp, &ah_kind_portal_link, id, &l))
        return;
    ah_http_resp_json(resp, 200, link_json(&l));
}
