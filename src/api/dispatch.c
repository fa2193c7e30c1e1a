/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c: routes requests to handlers and enforces what their rows
 * declare (router.h): who may call, the error dialect, the body limit and
 * the rate-limit class.
 *
 * Four tables: the public API (under the configurable base path, "/prod"),
 * the admin API (under "/admin/v1"), the few routes of Airmeet's event API
 * that clients address at the root ("/api/v1": /auth, /airmeets,
 * /airmeet/{id}/info) and the operations endpoints (/healthz, /readyz,
 * /metrics, /openapi.json).  prepare() runs as soon as the headers are in:
 * it answers 404, 405 and 431 at once, in the dialect of the table the path
 * falls in, and fixes the body limit so that 413 comes before the body is
 * read.  handle() runs when the body is in: it enforces the route's policy
 * (admit()) and only then calls the handler, handing it who is calling
 * (ah_call_t).  A handler never authenticates; a route that takes no
 * credentials says so (.auth = AH_AUTH_NONE).  finish() counts the request
 * in /metrics and writes its JSON log line.
 *
 * docs/openapi.yaml describes every row, and tests/unit/test_contracts.c
 * holds the two in step: a row without its operation there fails it.
 *
 * Policy, in order.  The admin API checks its token before it looks at the
 * query string, so an unauthenticated caller learns nothing about it; the
 * public API has always answered a bad query string first.  Then the
 * route's limiter (.rate): an address with too many failed authentications
 * is answered 429 with Retry-After before its credentials are looked at.
 * Then the credentials (.auth): a key pair or a token (public.c, through
 * the app's caches under the store's cache generations, read here once per
 * request), or the admin bearer token.  A refusal of the credentials
 * themselves (missing, wrong, unknown, revoked) counts against the address;
 * an expired token or a store failure does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "api/triggers.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/metrics.h"
#include "http/router.h"

#define K64 AH_BODY_LIMIT
#define K1M AH_EVENT_BODY_LIMIT

/*
 * The policies the rows use: who may call, the error dialect, the limiter
 * of failed authentications.  Each row adds its body limit.
 */
/* The public API: what Airmeet's gateway answers, in its dialect. */
#define KEY_PAIR .auth = AH_AUTH_KEY_PAIR, .dialect = AH_DIALECT_PUBLIC, .rate = AH_RATE_AUTH
#define TOKEN .auth = AH_AUTH_TOKEN, .dialect = AH_DIALECT_PUBLIC, .rate = AH_RATE_AUTH
/* The operator's API. */
#define ADMIN .auth = AH_AUTH_ADMIN, .dialect = AH_DIALECT_ADMIN, .rate = AH_RATE_ADMIN
/* POST /auth: a key pair, answered in /auth's own shape; a wrong pair is 400 there (SPEC §3). */
#define AUTH_KEYS .auth = AH_AUTH_KEY_PAIR, .dialect = AH_DIALECT_AUTH, .rate = AH_RATE_AUTH
/* Anyone: probes and scrapers. */
#define OPEN .auth = AH_AUTH_NONE, .dialect = AH_DIALECT_PUBLIC, .rate = AH_RATE_NONE
/*
 * The web console's sign-in: anyone may try; the handler counts failures
 * on the limiter of the credentials tried (console.c), since which one is
 * known only from the body.
 */
#define SIGN_IN .auth = AH_AUTH_NONE, .dialect = AH_DIALECT_ADMIN, .rate = AH_RATE_NONE
/* A console session, either role; an unknown cookie is not a failed authentication. */
#define CONSOLE .auth = AH_AUTH_CONSOLE, .dialect = AH_DIALECT_ADMIN, .rate = AH_RATE_AUTH

static const ah_route_t public_routes[] = {
    {"POST", "/auth", ah_h_auth, "auth", AUTH_KEYS, .body_limit = K64},
    {"POST", "/platform-integration/v1/webhook-register", ah_h_webhook_register, "webhook-register",
     KEY_PAIR, .body_limit = K64},
    {"POST", "/platform-integration/v1/webhook-deregister", ah_h_webhook_deregister,
     "webhook-deregister", KEY_PAIR, .body_limit = K64},
    {"DELETE", "/platform-integration/v1/webhook-deregister", ah_h_webhook_deregister,
     "webhook-deregister", KEY_PAIR, .body_limit = K64},
    {"GET", "/platform-integration/v1/sample-payload", ah_h_sample_payload, "sample-payload",
     KEY_PAIR, .body_limit = K64},
    {"GET", "/platform-integration/v1/webhook-list", ah_h_webhook_list, "webhook-list", TOKEN,
     .body_limit = K64},
    /* airhook's own namespace (webhook_test.c): what Airmeet's gateway has no call for. */
    {"POST", "/airhook/v1/webhooks/{}/test", ah_h_public_webhook_test, "webhook-test", TOKEN,
     .body_limit = K64},
    {"GET", "/airhook/v1/deliveries/{}", ah_h_public_delivery_get, "delivery-get", TOKEN,
     .body_limit = K64},
    /* airhook's own: the catalog an integrator registers from (the console's Triggers page). */
    {"GET", "/airhook/v1/triggers", ah_h_trigger_catalog, "triggers", KEY_PAIR, .body_limit = K64},
    /* The integrators' portal (portal.c): their community's webhooks and deliveries. */
    {"GET", "/airhook/v1/webhooks", ah_h_portal_webhooks, "portal.webhooks.list", TOKEN,
     .body_limit = K64},
    {"GET", "/airhook/v1/webhooks/{}/stats/series", ah_h_portal_series, "portal.webhooks.series",
     TOKEN, .body_limit = K64},
    {"POST", "/airhook/v1/webhooks/{}/rotate-secret", ah_h_portal_rotate,
     "portal.webhooks.rotate-secret", TOKEN, .body_limit = K64},
    {"GET", "/airhook/v1/deliveries", ah_h_portal_deliveries, "portal.deliveries.list", TOKEN,
     .body_limit = K64},
    {"POST", "/airhook/v1/deliveries/{}/retry", ah_h_portal_retry, "portal.deliveries.retry", TOKEN,
     .body_limit = K64},
    /*
     * Airmeet's event API, as much as clients call before they register
     * (scope.c): under the base path with /api/v1 (the connector's paths)
     * and without (the gateway's newer ones); api_v1_routes has the root.
     */
    {"POST", "/api/v1/auth", ah_h_auth, "auth", AUTH_KEYS, .body_limit = K64},
    {"GET", "/api/v1/airmeets", ah_h_airmeets, "airmeets", TOKEN, .body_limit = K64},
    {"GET", "/api/v1/airmeet/{}/info", ah_h_airmeet_info, "airmeet-info", TOKEN, .body_limit = K64},
    {"GET", "/airmeets", ah_h_airmeets, "airmeets", TOKEN, .body_limit = K64},
    {"GET", "/airmeet/{}/info", ah_h_airmeet_info, "airmeet-info", TOKEN, .body_limit = K64},
    /* `airhook listen` (listen.c), in airhook's own namespace. */
    {"GET", "/airhook/v1/listener-secret", ah_h_listener_secret, "listener-secret", TOKEN,
     .body_limit = K64},
    {"POST", "/airhook/v1/listeners", ah_h_listener_create, "listener-create", TOKEN,
     .body_limit = K64},
    {"GET", "/airhook/v1/listeners/{}/stream", ah_h_listener_stream, "listener-stream", TOKEN,
     .body_limit = K64},
    {"POST", "/airhook/v1/listeners/{}/results", ah_h_listener_results, "listener-results", TOKEN,
     .body_limit = K64},
    {"DELETE", "/airhook/v1/listeners/{}", ah_h_listener_delete, "listener-delete", TOKEN,
     .body_limit = K64},
    /* The live tail of the caller's community (live.c). */
    {"GET", "/airhook/v1/live", ah_h_public_live, "portal.live", TOKEN, .body_limit = K64},
};

/* The same event API at the root, where Airmeet's older host and the connector put it. */
static const ah_route_t api_v1_routes[] = {
    {"POST", "/auth", ah_h_auth, "auth", AUTH_KEYS, .body_limit = K64},
    {"GET", "/airmeets", ah_h_airmeets, "airmeets", TOKEN, .body_limit = K64},
    {"GET", "/airmeet/{}/info", ah_h_airmeet_info, "airmeet-info", TOKEN, .body_limit = K64},
};

static const ah_route_t admin_routes[] = {
    {"POST", "/communities", ah_h_community_create, "admin.communities.create", ADMIN,
     .body_limit = K64},
    {"GET", "/communities", ah_h_community_list, "admin.communities.list", ADMIN,
     .body_limit = K64},
    {"GET", "/communities/{}", ah_h_community_get, "admin.communities.get", ADMIN,
     .body_limit = K64},
    {"GET", "/communities/{}/quotas", ah_h_quota_get, "admin.communities.quotas.get", ADMIN,
     .body_limit = K64},
    {"PATCH", "/communities/{}/quotas", ah_h_quota_set, "admin.communities.quotas.set", ADMIN,
     .body_limit = K64},
    {"POST", "/communities/{}/access-keys", ah_h_key_create, "admin.keys.create", ADMIN,
     .body_limit = K64},
    {"GET", "/communities/{}/access-keys", ah_h_key_list, "admin.keys.list", ADMIN,
     .body_limit = K64},
    {"GET", "/access-keys/{}", ah_h_key_get, "admin.keys.get", ADMIN, .body_limit = K64},
    {"DELETE", "/access-keys/{}", ah_h_key_revoke, "admin.keys.revoke", ADMIN, .body_limit = K64},
    {"GET", "/communities/{}/airmeets", ah_h_airmeet_list, "admin.airmeets.list", ADMIN,
     .body_limit = K64},
    {"GET", "/airmeets/{}/sessions", ah_h_session_list, "admin.sessions.list", ADMIN,
     .body_limit = K64},
    {"POST", "/airmeets", ah_h_airmeet_create, "admin.airmeets.create", ADMIN, .body_limit = K64},
    {"GET", "/airmeets/{}", ah_h_airmeet_get, "admin.airmeets.get", ADMIN, .body_limit = K64},
    {"PATCH", "/airmeets/{}", ah_h_airmeet_update, "admin.airmeets.update", ADMIN,
     .body_limit = K64},
    {"POST", "/airmeets/{}/sessions", ah_h_session_create, "admin.sessions.create", ADMIN,
     .body_limit = K64},
    {"GET", "/sessions/{}", ah_h_session_get, "admin.sessions.get", ADMIN, .body_limit = K64},
    {"PATCH", "/sessions/{}", ah_h_session_update, "admin.sessions.update", ADMIN,
     .body_limit = K64},
    {"GET", "/webhooks", ah_h_admin_webhook_list, "admin.webhooks.list", ADMIN, .body_limit = K64},
    {"GET", "/webhooks/{}", ah_h_webhook_get, "admin.webhooks.get", ADMIN, .body_limit = K64},
    {"DELETE", "/webhooks/{}", ah_h_webhook_delete, "admin.webhooks.delete", ADMIN,
     .body_limit = K64},
    {"POST", "/webhooks/{}/enable", ah_h_webhook_enable, "admin.webhooks.enable", ADMIN,
     .body_limit = K64},
    {"POST", "/webhooks/{}/disable", ah_h_webhook_disable, "admin.webhooks.disable", ADMIN,
     .body_limit = K64},
    {"POST", "/webhooks/{}/rotate-secret", ah_h_webhook_rotate_secret,
     "admin.webhooks.rotate-secret", ADMIN, .body_limit = K64},
    {"POST", "/webhooks/{}/recover", ah_h_webhook_recover, "admin.webhooks.recover", ADMIN,
     .body_limit = K64},
    {"GET", "/webhooks/{}/deliveries", ah_h_webhook_deliveries, "admin.webhooks.deliveries", ADMIN,
     .body_limit = K64},
    {"GET", "/events", ah_h_event_list, "admin.events.list", ADMIN, .body_limit = K64},
    {"POST", "/events", ah_h_event_publish, "admin.events.publish", ADMIN, .body_limit = K1M},
    /* The catalog (trigger_admin.c): a trigger carries up to two JSON texts of 64 KiB. */
    {"GET", "/triggers", ah_h_trigger_list, "admin.triggers.list", ADMIN, .body_limit = K64},
    {"POST", "/triggers", ah_h_trigger_create, "admin.triggers.create", ADMIN, .body_limit = K1M},
    {"GET", "/triggers/{}", ah_h_trigger_get, "admin.triggers.get", ADMIN, .body_limit = K64},
    {"PATCH", "/triggers/{}", ah_h_trigger_update, "admin.triggers.update", ADMIN,
     .body_limit = K1M},
    {"DELETE", "/triggers/{}", ah_h_trigger_retire, "admin.triggers.retire", ADMIN,
     .body_limit = K64},
    {"GET", "/events/{}/deliveries", ah_h_event_deliveries, "admin.events.deliveries", ADMIN,
     .body_limit = K64},
    {"GET", "/deliveries", ah_h_delivery_list, "admin.deliveries.list", ADMIN, .body_limit = K64},
    {"GET", "/deliveries/{}", ah_h_delivery_get, "admin.deliveries.get", ADMIN, .body_limit = K64},
    {"POST", "/deliveries/{}/retry", ah_h_delivery_retry, "admin.deliveries.retry", ADMIN,
     .body_limit = K64},
    {"GET", "/retention", ah_h_retention_get, "admin.retention.get", ADMIN, .body_limit = K64},
    /* Portal links (console.c): a community's integrators sign in to the console by URL. */
    {"POST", "/communities/{}/portal-links", ah_h_portal_link_create, "admin.portal-links.create",
     ADMIN, .body_limit = K64},
    {"GET", "/communities/{}/portal-links", ah_h_portal_link_list, "admin.portal-links.list", ADMIN,
     .body_limit = K64},
    {"DELETE", "/portal-links/{}", ah_h_portal_link_revoke, "admin.portal-links.revoke", ADMIN,
     .body_limit = K64},
    /* The console's overview page (stats.c). */
    {"GET", "/stats/series", ah_h_stats_series, "admin.stats.series", ADMIN, .body_limit = K64},
    /* The live tail of every community (live.c). */
    {"GET", "/live", ah_h_admin_live, "admin.live", ADMIN, .body_limit = K64},
    {"GET", "/overview", ah_h_overview, "admin.overview", ADMIN, .body_limit = K64},
};

/* The web console's sign-in and session (console.c), under /ui/api. */
static const ah_route_t console_routes[] = {
    {"POST", "/session", ah_h_console_sign_in, "console.session.create", SIGN_IN,
     .body_limit = K64},
    {"GET", "/session", ah_h_console_session_get, "console.session.get", CONSOLE,
     .body_limit = K64},
    {"DELETE", "/session", ah_h_console_sign_out, "console.session.delete", CONSOLE,
     .body_limit = K64},
};

static const ah_route_t ops_routes[] = {
    {"GET", "/healthz", ah_h_healthz, "healthz", OPEN, .body_limit = K64},
    {"GET", "/readyz", ah_h_readyz, "readyz", OPEN, .body_limit = K64},
    {"GET", "/metrics", ah_h_metrics, "metrics", OPEN, .body_limit = K64},
    {"GET", "/openapi.json", ah_h_openapi, "openapi", OPEN, .body_limit = K64},
    /* The web console's files (ui.c); --ui off makes them 404. */
    {"GET", "/", ah_h_ui_root, "ui", OPEN, .body_limit = K64},
    {"GET", "/ui", ah_h_ui, "ui", OPEN, .body_limit = K64},
    {"GET", "/ui/{*}", ah_h_ui, "ui", OPEN, .body_limit = K64},
};

/* Looked up in this order; the last one takes every path the others do not. */
static const ah_route_table_t tables[] = {
    {"admin", "/admin/v1", admin_routes, AH_ARRAY_LEN(admin_routes), AH_DIALECT_ADMIN, true},
    {"public", NULL, public_routes, AH_ARRAY_LEN(public_routes), AH_DIALECT_PUBLIC, true},
    {"api-v1", "/api/v1", api_v1_routes, AH_ARRAY_LEN(api_v1_routes), AH_DIALECT_PUBLIC, true},
    {"console", "/ui/api", console_routes, AH_ARRAY_LEN(console_routes), AH_DIALECT_ADMIN, true},
    {"ops", "", ops_routes, AH_ARRAY_LEN(ops_routes), AH_DIALECT_PUBLIC, false},
};

const ah_route_table_t *ah_app_route_tables(size_t *n)
{
    *n = AH_ARRAY_LEN(tables);
    return tables;
}

/* Strips prefix from path when path is prefix itself or prefix + "/…". */
static const char *under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n && strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        return path + n;
    return NULL;
}

/* The table path falls in; *sub receives the path below its prefix. */
static const ah_route_table_t *table_for(const ah_app_t *app, const char *path, const char **sub)
{
    size_t last = AH_ARRAY_LEN(tables) - 1;
    for (size_t i = 0; i < last; i++) {
        const char *prefix = tables[i].prefix ? tables[i].prefix : app->cfg.base_path;
        if ((*sub = under(path, prefix)))
            return &tables[i];
    }
    *sub = path;
    return &tables[last];
}

/* The dialect of what is said about the request itself: /auth's is public. */
static ah_dialect_t request_dialect(const ah_route_t *route)
{
    return route->dialect == AH_DIALECT_AUTH ? AH_DIALECT_PUBLIC : route->dialect;
}

/*
 * Behind a load balancer every request comes from the balancer; with
 * --trust-forwarded-for the client is the last address it appended to
 * X-Forwarded-For (earlier entries are the client's own say and could be
 * forged).  That address is what failed-authentication limits count.
 */
static void forwarded_client(ah_http_req_t *req)
{
    const char *xff = ah_http_header(req, "X-Forwarded-For");
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    size_t n = strcspn(last, " ");
    if (n && n < sizeof req->client_ip) {
        memcpy(req->client_ip, last, n);
        req->client_ip[n] = '\0';
    }
}

static int prepare(void *ctx, ah_http_req_t *req, size_t *body_limit, ah_http_resp_t *resp)
{
    ah_app_t *app = ctx;
    if (app->cfg.trust_forwarded_for)
        forwarded_client(req);
    const char *sub;
    const ah_route_table_t *t = table_for(app, req->path, &sub);
    if (t->api && !app->cfg.serve_api) {
        ah_error(resp, AH_DIALECT_PUBLIC, 404,
                 "this node runs with --role worker: it serves only /healthz, /readyz "
                 "and /metrics");
        return 0;
    }
    /* Headers past the listener's table would be lost (Authorization among them). */
    if (req->too_many_headers) {
        ah_error(resp, t->dialect, 431, "more than %d request headers", AH_HTTP_MAX_HEADERS);
        return 0;
    }
    const ah_route_t *route = NULL;
    /* HEAD is GET without a body; libmicrohttpd drops the body itself. */
    const char *method = strcmp(req->method, "HEAD") ? req->method : "GET";
    ah_match_t m =
        ah_route_match(t->routes, t->n, method, sub, req, &route, resp->allow, sizeof resp->allow);
    req->route = route;
    if (m == AH_MATCH_OK) {
        resp->allow[0] = '\0'; /* Allow belongs on 405 answers only */
        *body_limit = route->body_limit;
        return 1;
    }
    if (m == AH_MATCH_BAD_METHOD)
        ah_error(resp, t->dialect, 405, "%s is not allowed on %s; allowed: %s", req->method,
                 req->path, resp->allow);
    else
        ah_error(resp, t->dialect, 404, "no such endpoint: %s %s", req->method, req->path);
    return 0;
}

/* ---- policy ---- */

static bool admin_authorized(ah_app_t *app, const ah_http_req_t *req)
{
    const char *h = ah_http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    char hash[AH_SHA256_HEX_SIZE];
    ah_sha256_hex(tok, strlen(tok), hash);
    return ah_ct_equal(hash, app->admin_token_hash, AH_SHA256_HEX_SIZE - 1);
}

/* Answers 400 when the listener found the query string unusable. */
static bool bad_query(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp)
{
    if (!req->query_problem)
        return false;
    ah_error(resp, request_dialect(c->route), 400, "bad query string: %s", req->query_problem);
    return true;
}

/* Answers 429 (with Retry-After) when the address has failed too often. */
static bool throttled(const ah_call_t *c, ah_ratelimit_t *limiter, const ah_http_req_t *req,
                      ah_http_resp_t *resp)
{
    int64_t wait_s = 0;
    if (ah_ratelimit_allowed(limiter, req->client_ip, ah_now_ms(), &wait_s))
        return false;
    snprintf(resp->retry_after, sizeof resp->retry_after, "%lld", (long long)wait_s);
    if (c->dialect == AH_DIALECT_AUTH)
        ah_error(resp, c->dialect, 429,
                 "too many failed authentications from this address; retry later");
    else
        ah_error(resp, c->dialect, 429, "too many failed authentications%s; retry in %lld s",
                 c->dialect == AH_DIALECT_ADMIN ? "" : " from this address", (long long)wait_s);
    return true;
}

/*
 * Does a console session cookie stand in for the route's credentials?  When
 * the request carries the cookie and none of the credentials the route
 * names (headers win): an operator's session for the admin API, an
 * integrator's for the public API (not POST /auth: a token is for
 * programs).  *role receives which.
 */
static bool console_cookie_stands_in(const ah_call_t *c, const ah_http_req_t *req,
                                     ah_console_role_t *role)
{
    const ah_route_t *r = c->route;
    if (!c->app->cfg.ui || r->dialect == AH_DIALECT_AUTH)
        return false;
    switch (r->auth) {
    case AH_AUTH_ADMIN:
        if (ah_http_header(req, "Authorization"))
            return false;
        *role = AH_CONSOLE_OPERATOR;
        break;
    case AH_AUTH_KEY_PAIR:
        if (ah_http_header(req, "X-Airmeet-Access-Key") || ah_http_header(req, "x-access-key") ||
            ah_http_header(req, "X-Airmeet-Secret-Key") || ah_http_header(req, "x-secret-key"))
            return false;
        *role = AH_CONSOLE_INTEGRATOR;
        break;
    case AH_AUTH_TOKEN:
        if (ah_http_header(req, "X-Airmeet-Access-Token") || ah_http_header(req, "x-access-token"))
            return false;
        *role = AH_CONSOLE_INTEGRATOR;
        break;
    default:
        return false;
    }
    return ah_console_has_cookie(req);
}

/*
 * Checks the credentials the route's policy asks for.  Returns 0 with
 * c->caller (and c->gen) filled, a positive HTTP status with why, or a
 * negative store status.
 */
static int credentials(ah_call_t *c, const ah_http_req_t *req, char *why, size_t whylen)
{
    ah_app_t *app = c->app;
    ah_console_role_t cookie_role;
    if (console_cookie_stands_in(c, req, &cookie_role)) {
        int rc = ah_console_admit(c, req, cookie_role, why, whylen);
        if (!rc && cookie_role == AH_CONSOLE_INTEGRATOR &&
            ah_store_cache_gen(app->store, &c->gen_buf) == AH_OK)
            c->gen = &c->gen_buf;
        return rc;
    }
    switch (c->route->auth) {
    case AH_AUTH_KEY_PAIR:
    case AH_AUTH_TOKEN:
        if (ah_store_cache_gen(app->store, &c->gen_buf) == AH_OK)
            c->gen = &c->gen_buf;
        if (c->route->auth == AH_AUTH_KEY_PAIR)
            return ah_check_key_pair(app, req, c->gen, &c->caller, why, whylen);
        return ah_check_token(app, req, c->gen, &c->caller, why, whylen);
    case AH_AUTH_ADMIN:
        if (admin_authorized(app, req))
            return 0;
        snprintf(why, whylen, "missing or wrong admin token (Authorization: Bearer TOKEN)");
        return 401;
    default: /* ah_route_policy_problem() and admit() leave no other */
        snprintf(why, whylen, "internal error (no credential check for route %s)", c->route->name);
        return 500;
    }
}

/*
 * Enforces the route's policy: its limiter, then its credentials.  True
 * when the handler may run; false with resp answered.  A row without a
 * complete policy is refused, never guessed at.
 */
static bool admit(ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp)
{
    const ah_route_t *route = c->route;
    /* The tables were checked whole at start (check_routes); this catches any other row. */
    const char *problem = !route->auth || !route->dialect || !route->rate || !route->body_limit
                              ? ah_route_policy_problem(route)
                              : NULL;
    if (problem) {
        ah_error(resp, request_dialect(route), 500, "route %s has no usable policy: %s",
                 route->name ? route->name : "?", problem);
        return false;
    }
    if (route->auth == AH_AUTH_NONE)
        return true;
    char why[AH_WHY_SIZE];
    int status;
    if (route->auth == AH_AUTH_CONSOLE) {
        /* A cookie that names no live session is no guess at anything: nothing counts. */
        status = ah_console_admit(c, req, AH_CONSOLE_ANY, why, sizeof why);
        if (status)
            ah_reject(resp, c->dialect, status, why);
        return !status;
    }
    ah_console_role_t cookie_role;
    if (console_cookie_stands_in(c, req, &cookie_role)) {
        /* Likewise for a session cookie in place of the route's credentials. */
        status = credentials(c, req, why, sizeof why);
        if (status)
            ah_reject(resp, c->dialect, status, why);
        return !status;
    }
    ah_ratelimit_t *limiter =
        route->rate == AH_RATE_ADMIN ? c->app->admin_limiter : c->app->auth_limiter;
    if (throttled(c, limiter, req, resp))
        return false;
    status = credentials(c, req, why, sizeof why);
    if (!status)
        return true;
    /* A refusal of the credentials themselves; not an expired token, not a store failure. */
    if (status == 400 || status == 401 || status == 403)
        ah_ratelimit_fail(limiter, req->client_ip, ah_now_ms());
    if (status == 401 && c->dialect == AH_DIALECT_AUTH)
        status = 400; /* /auth says 400 for a missing or wrong key pair (SPEC §3) */
    ah_reject(resp, c->dialect, status, why);
    return false;
}

static void handle(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp)
{
    const ah_route_t *route = req->route;
    ah_call_t c; /* field by field: the hot path need not clear the label's bytes */
    c.app = ctx;
    c.route = route;
    c.dialect = route->dialect;
    c.caller.community_id[0] = c.caller.key_id[0] = c.caller.label[0] = '\0';
    c.gen = NULL;
    c.session = NULL;
    bool query_first = route->auth != AH_AUTH_ADMIN;
    if ((query_first && bad_query(&c, req, resp)) || !admit(&c, req, resp) ||
        (!query_first && bad_query(&c, req, resp)))
        return;
    route->fn(&c, req, resp);
}

static void too_big(void *ctx, ah_http_req_t *req, size_t limit, ah_http_resp_t *resp)
{
    (void)ctx;
    const ah_route_t *route = req->route;
    ah_error(resp, route ? request_dialect(route) : AH_DIALECT_PUBLIC, 413,
             "request body is over the %zu-byte limit", limit);
}

/*
 * What the listener refuses by itself (http.h): the answer is in the dialect
 * of the table the path falls in, and is counted on the route the path
 * names, if any.  Without a path (nothing routable was read) it is the
 * admin API's.
 */
static void refuse(void *ctx, ah_http_req_t *req, int status, const char *why, ah_http_resp_t *resp)
{
    ah_app_t *app = ctx;
    if (!req->path || !req->method) {
        ah_error(resp, AH_DIALECT_ADMIN, status, "%s", why);
        return;
    }
    const char *sub;
    const ah_route_table_t *t = table_for(app, req->path, &sub);
    const ah_route_t *route = NULL;
    char allow[64];
    const char *method = strcmp(req->method, "HEAD") ? req->method : "GET";
    if (ah_route_match(t->routes, t->n, method, sub, req, &route, allow, sizeof allow) ==
        AH_MATCH_OK)
        req->route = route;
    ah_error(resp, t->dialect, status, "%s", why);
}

static int route_slot(const ah_route_t *route)
{
    return ah_metrics_route(route ? route->name : "unknown");
}

static void finish(void *ctx, const ah_http_req_t *req, const ah_http_resp_t *resp)
{
    (void)ctx;
    int64_t dur_us = ah_mono_us() - req->start_us;
    const ah_route_t *route = req->route;
    ah_metrics_request(route_slot(route), resp->status, dur_us);
    if (ah_log_get_level() > AH_LOG_INFO)
        return;
    ah_log(AH_LOG_INFO, "request",
           json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "method", req->method ? req->method : "",
                     "path", req->path ? req->path : "", "route", route ? route->name : "unknown",
                     "status", resp->status, "dur_ms", (double)dur_us / 1000.0, "ip",
                     req->client_ip));
}

/* Every row is checked once at start; the dispatcher also refuses a bad one. */
static int check_routes(char *err, size_t errlen)
{
    for (size_t t = 0; t < AH_ARRAY_LEN(tables); t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const ah_route_t *r = &tables[t].routes[i];
            const char *problem = ah_route_policy_problem(r);
            if (problem) {
                snprintf(err, errlen, "route %s %s: %s", r->method ? r->method : "?",
                         r->pattern ? r->pattern : "?", problem);
                return AH_EINVAL;
            }
        }
    }
    return AH_OK;
}

static void register_metrics(void)
{
    for (size_t t = 0; t < AH_ARRAY_LEN(tables); t++)
        for (size_t i = 0; i < tables[t].n; i++)
            ah_metrics_route(tables[t].routes[i].name);
    ah_metrics_route("unknown");
}

ah_http_app_t ah_app_http(ah_app_t *app)
{
    ah_http_app_t h = {app, prepare, handle, finish, too_big, refuse};
    return h;
}

/*
 * A configuration that names no quota (all zero: tests, embedders) gets
 * the field caps and no register rate, which is how airhook behaved
 * before quotas.  `airhook serve` always names them (its settings table).
 */
static void default_quotas(ah_config_t *cfg)
{
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        if (cfg->quota[k])
            return;
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        cfg->quota[k] = k == AH_QUOTA_REGISTER_RATE ? 0 : (unsigned)ah_quota_max(k);
}

int ah_app_init(ah_app_t *app, const ah_config_t *cfg, ah_store_t *store, char *new_token,
                size_t new_token_sz, char *err, size_t errlen)
{
    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    app->store = store;
    app->started_ms = ah_now_ms();
    if (new_token_sz)
        new_token[0] = '\0';
    int rc = check_routes(err, errlen);
    if (rc)
        return rc;
    const char *problem = ah_triggers_problem();
    if (problem) {
        snprintf(err, errlen, "the compiled-in trigger catalog is unusable: %s", problem);
        return AH_EINVAL;
    }
    register_metrics();
    /* Separate tables: an integrator's failures never lock out the operator. */
    app->auth_limiter = ah_ratelimit_new(cfg->auth_fail_limit, 60 * 1000);
    app->admin_limiter = ah_ratelimit_new(cfg->auth_fail_limit, 60 * 1000);
    app->register_limiter = ah_ratelimit_new(0, 60 * 1000); /* each call names its limit */
    if (!app->auth_limiter || !app->admin_limiter || !app->register_limiter)
        return AH_ENOMEM;
    default_quotas(&app->cfg);
    /*
     * Caps: a few hundred bytes per token, key or scope entry; list bodies
     * are a few KiB each (a body over 1/8 of its cap is never cached).
     */
    app->token_cache = ah_cache_new(16384, 8u << 20);
    app->key_cache = ah_cache_new(4096, 4u << 20);
    app->scope_cache = ah_cache_new(16384, 4u << 20);
    app->quota_cache = ah_cache_new(4096, 1u << 20);
    app->list_cache = ah_cache_new(4096, 32u << 20);
    app->renderer = ah_worker_new("ah-render");
    app->catalog = ah_catalog_holder_new();
    app->live_hub = ah_live_hub_new();
    if (!app->token_cache || !app->key_cache || !app->scope_cache || !app->quota_cache ||
        !app->list_cache || !app->renderer || !app->catalog || !app->live_hub)
        return AH_ENOMEM;
    if (cfg->admin_token && *cfg->admin_token) {
        ah_sha256_hex(cfg->admin_token, strlen(cfg->admin_token), app->admin_token_hash);
        return AH_OK;
    }
    rc = ah_store_setting_get(store, "admin_token_hash", app->admin_token_hash,
                              sizeof app->admin_token_hash);
    if (rc == AH_OK)
        return AH_OK;
    if (rc != AH_ENOTFOUND) {
        snprintf(err, errlen, "cannot read the admin token from the store: %s", ah_strerror(rc));
        return rc;
    }
    char tok[80];
    ah_random_hex("aha_", 32, tok, sizeof tok);
    ah_sha256_hex(tok, strlen(tok), app->admin_token_hash);
    /* Add, not set: nodes starting together on a new database agree on one token. */
    rc = ah_store_setting_add(store, "admin_token_hash", app->admin_token_hash);
    if (rc == AH_EEXISTS)
        return ah_store_setting_get(store, "admin_token_hash", app->admin_token_hash,
                                    sizeof app->admin_token_hash);
    if (rc) {
        snprintf(err, errlen, "cannot store the admin token: %s", ah_strerror(rc));
        return rc;
    }
    ah_strlcpy(new_token, tok, new_token_sz);
    return AH_OK;
}

void ah_app_free(ah_app_t *app)
{
    if (!app)
        return;
    ah_worker_free(app->renderer); /* the listener is stopped: no request waits for it */
    app->renderer = NULL;
    ah_live_hub_free(app->live_hub); /* likewise: every live stream has ended */
    app->live_hub = NULL;
    ah_ratelimit_free(app->auth_limiter);
    ah_ratelimit_free(app->admin_limiter);
    ah_ratelimit_free(app->register_limiter);
    app->auth_limiter = app->admin_limiter = app->register_limiter = NULL;
    ah_cache_free(app->token_cache);
    ah_cache_free(app->key_cache);
    ah_cache_free(app->scope_cache);
    ah_cache_free(app->quota_cache);
    ah_cache_free(app->list_cache);
    app->token_cache = app->key_cache = app->scope_cache = app->quota_cache = app->list_cache =
        NULL;
    ah_catalog_holder_free(app->catalog);
    app->catalog = NULL;
}
