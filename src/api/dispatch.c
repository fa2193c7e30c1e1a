/*
 * dispatch.c: routes requests to handlers and does what all requests share.
 *
 * Three tables: the public API (under the configurable base path, "/prod"),
 * the admin API (under "/admin/v1", bearer token) and the operations
 * endpoints (/healthz, /readyz, /metrics).  prepare() runs as soon as the
 * headers are in: it answers 404 and 405 at once and fixes the body limit
 * (1 MiB for events, 64 KiB elsewhere).  finish() counts the request in
 * /metrics and writes its JSON log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/metrics.h"
#include "http/router.h"

#define K64 AH_BODY_LIMIT

static const ah_route_t public_routes[] = {
    {"POST", "/auth", ah_h_auth, "auth", K64},
    {"POST", "/platform-integration/v1/webhook-register", ah_h_webhook_register, "webhook-register",
     K64},
    {"POST", "/platform-integration/v1/webhook-deregister", ah_h_webhook_deregister,
     "webhook-deregister", K64},
    {"DELETE", "/platform-integration/v1/webhook-deregister", ah_h_webhook_deregister,
     "webhook-deregister", K64},
    {"GET", "/platform-integration/v1/sample-payload", ah_h_sample_payload, "sample-payload", K64},
    {"GET", "/platform-integration/v1/webhook-list", ah_h_webhook_list, "webhook-list", K64},
};

static const ah_route_t admin_routes[] = {
    {"POST", "/communities", ah_h_community_create, "admin.communities.create", K64},
    {"GET", "/communities", ah_h_community_list, "admin.communities.list", K64},
    {"GET", "/communities/{}", ah_h_community_get, "admin.communities.get", K64},
    {"POST", "/communities/{}/access-keys", ah_h_key_create, "admin.keys.create", K64},
    {"GET", "/communities/{}/access-keys", ah_h_key_list, "admin.keys.list", K64},
    {"GET", "/access-keys/{}", ah_h_key_get, "admin.keys.get", K64},
    {"DELETE", "/access-keys/{}", ah_h_key_revoke, "admin.keys.revoke", K64},
    {"POST", "/airmeets", ah_h_airmeet_create, "admin.airmeets.create", K64},
    {"GET", "/airmeets/{}", ah_h_airmeet_get, "admin.airmeets.get", K64},
    {"POST", "/airmeets/{}/sessions", ah_h_session_create, "admin.sessions.create", K64},
    {"GET", "/sessions/{}", ah_h_session_get, "admin.sessions.get", K64},
    {"GET", "/webhooks/{}", ah_h_webhook_get, "admin.webhooks.get", K64},
    {"POST", "/webhooks/{}/enable", ah_h_webhook_enable, "admin.webhooks.enable", K64},
    {"POST", "/webhooks/{}/disable", ah_h_webhook_disable, "admin.webhooks.disable", K64},
    {"POST", "/webhooks/{}/rotate-secret", ah_h_webhook_rotate_secret,
     "admin.webhooks.rotate-secret", K64},
    {"POST", "/webhooks/{}/recover", ah_h_webhook_recover, "admin.webhooks.recover", K64},
    {"GET", "/webhooks/{}/deliveries", ah_h_webhook_deliveries, "admin.webhooks.deliveries", K64},
    {"POST", "/events", ah_h_event_publish, "admin.events.publish", AH_EVENT_BODY_LIMIT},
    {"GET", "/events/{}/deliveries", ah_h_event_deliveries, "admin.events.deliveries", K64},
    {"GET", "/deliveries/{}", ah_h_delivery_get, "admin.deliveries.get", K64},
    {"POST", "/deliveries/{}/retry", ah_h_delivery_retry, "admin.deliveries.retry", K64},
};

static const ah_route_t ops_routes[] = {
    {"GET", "/healthz", ah_h_healthz, "healthz", K64},
    {"GET", "/readyz", ah_h_readyz, "readyz", K64},
    {"GET", "/metrics", ah_h_metrics, "metrics", K64},
};

#define ADMIN_PREFIX "/admin/v1"

static bool in_table(const ah_route_t *r, const ah_route_t *table, size_t n)
{
    return r >= table && r < table + n;
}

/* Strips prefix from path when path is prefix itself or prefix + "/…". */
static const char *under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n && strncmp(path, prefix, n) == 0 && (path[n] == '/' || path[n] == '\0'))
        return path + n;
    return NULL;
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
    const ah_route_t *table = ops_routes;
    size_t n = AH_ARRAY_LEN(ops_routes);
    const char *sub = req->path;
    const char *p;
    bool admin = false;
    if ((p = under(req->path, ADMIN_PREFIX))) {
        table = admin_routes;
        n = AH_ARRAY_LEN(admin_routes);
        sub = p;
        admin = true;
    } else if ((p = under(req->path, app->cfg.base_path))) {
        table = public_routes;
        n = AH_ARRAY_LEN(public_routes);
        sub = p;
    }
    if (table != ops_routes && !app->cfg.serve_api) {
        ah_public_error(resp, 404,
                        "this node runs with --role worker: it serves only /healthz, /readyz "
                        "and /metrics");
        return 0;
    }
    /* Headers past the listener's table would be lost (Authorization among them). */
    if (req->too_many_headers) {
        if (admin)
            ah_admin_error(resp, 431, "more than %d request headers", AH_HTTP_MAX_HEADERS);
        else
            ah_public_error(resp, 431, "more than %d request headers", AH_HTTP_MAX_HEADERS);
        return 0;
    }
    const ah_route_t *route = NULL;
    /* HEAD is GET without a body; libmicrohttpd drops the body itself. */
    const char *method = strcmp(req->method, "HEAD") ? req->method : "GET";
    ah_match_t m =
        ah_route_match(table, n, method, sub, req, &route, resp->allow, sizeof resp->allow);
    req->route = route;
    if (m == AH_MATCH_OK) {
        resp->allow[0] = '\0'; /* Allow belongs on 405 answers only */
        *body_limit = route->body_limit;
        return 1;
    }
    if (m == AH_MATCH_BAD_METHOD) {
        if (admin)
            ah_admin_error(resp, 405, "%s is not allowed on %s; allowed: %s", req->method,
                           req->path, resp->allow);
        else
            ah_public_error(resp, 405, "%s is not allowed on %s; allowed: %s", req->method,
                            req->path, resp->allow);
        return 0;
    }
    if (admin)
        ah_admin_error(resp, 404, "no such endpoint: %s %s", req->method, req->path);
    else
        ah_public_error(resp, 404, "no such endpoint: %s %s", req->method, req->path);
    return 0;
}

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

static void handle(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = ctx;
    const ah_route_t *route = req->route;
    if (in_table(route, admin_routes, AH_ARRAY_LEN(admin_routes))) {
        int64_t wait_s = 0, now = ah_now_ms();
        if (!ah_ratelimit_allowed(app->admin_limiter, req->client_ip, now, &wait_s)) {
            snprintf(resp->retry_after, sizeof resp->retry_after, "%lld", (long long)wait_s);
            ah_admin_error(resp, 429, "too many failed authentications; retry in %lld s",
                           (long long)wait_s);
            return;
        }
        if (!admin_authorized(app, req)) {
            ah_ratelimit_fail(app->admin_limiter, req->client_ip, now);
            ah_admin_error(resp, 401, "missing or wrong admin token (Authorization: Bearer TOKEN)");
            return;
        }
    }
    if (req->query_problem) {
        if (in_table(route, public_routes, AH_ARRAY_LEN(public_routes)))
            ah_public_error(resp, 400, "bad query string: %s", req->query_problem);
        else
            ah_admin_error(resp, 400, "bad query string: %s", req->query_problem);
        return;
    }
    route->fn(ctx, req, resp);
}

static void too_big(void *ctx, ah_http_req_t *req, size_t limit, ah_http_resp_t *resp)
{
    (void)ctx;
    const ah_route_t *route = req->route;
    if (route && in_table(route, admin_routes, AH_ARRAY_LEN(admin_routes)))
        ah_admin_error(resp, 413, "request body is over the %zu-byte limit", limit);
    else
        ah_public_error(resp, 413, "request body is over the %zu-byte limit", limit);
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
           json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "method", req->method, "path", req->path,
                     "route", route ? route->name : "unknown", "status", resp->status, "dur_ms",
                     (double)dur_us / 1000.0, "ip", req->client_ip));
}

static void register_metrics(void)
{
    const ah_route_t *tables[] = {public_routes, admin_routes, ops_routes};
    size_t sizes[] = {AH_ARRAY_LEN(public_routes), AH_ARRAY_LEN(admin_routes),
                      AH_ARRAY_LEN(ops_routes)};
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < sizes[t]; i++)
            ah_metrics_route(tables[t][i].name);
    ah_metrics_route("unknown");
}

ah_http_app_t ah_app_http(ah_app_t *app)
{
    ah_http_app_t h = {app, prepare, handle, finish, too_big};
    return h;
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
    register_metrics();
    /* Separate tables: an integrator's failures never lock out the operator. */
    app->auth_limiter = ah_ratelimit_new(cfg->auth_fail_limit, 60 * 1000);
    app->admin_limiter = ah_ratelimit_new(cfg->auth_fail_limit, 60 * 1000);
    if (!app->auth_limiter || !app->admin_limiter)
        return AH_ENOMEM;
    /*
     * Caps: a few hundred bytes per token, key or scope entry; list bodies
     * are a few KiB each (a body over 1/8 of its cap is never cached).
     */
    app->token_cache = ah_cache_new(16384, 8u << 20);
    app->key_cache = ah_cache_new(4096, 4u << 20);
    app->scope_cache = ah_cache_new(16384, 4u << 20);
    app->list_cache = ah_cache_new(4096, 32u << 20);
    if (!app->token_cache || !app->key_cache || !app->scope_cache || !app->list_cache)
        return AH_ENOMEM;
    if (cfg->admin_token && *cfg->admin_token) {
        ah_sha256_hex(cfg->admin_token, strlen(cfg->admin_token), app->admin_token_hash);
        return AH_OK;
    }
    int rc = ah_store_setting_get(store, "admin_token_hash", app->admin_token_hash,
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
    ah_ratelimit_free(app->auth_limiter);
    ah_ratelimit_free(app->admin_limiter);
    app->auth_limiter = app->admin_limiter = NULL;
    ah_cache_free(app->token_cache);
    ah_cache_free(app->key_cache);
    ah_cache_free(app->scope_cache);
    ah_cache_free(app->list_cache);
    app->token_cache = app->key_cache = app->scope_cache = app->list_cache = NULL;
}
