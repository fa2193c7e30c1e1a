/* SPDX-License-Identifier: MIT */
/*
 * test_routes.c: routes declare their policy, and the dispatcher enforces
 * it (src/http/router.h, src/api/dispatch.c).
 *
 * First the app's own tables: every row of every table declares who may
 * call it, its error dialect, its body limit and its rate-limit class, and
 * only the probes are open to anyone.  Then the dispatcher (the app's
 * handle callback) over test rows whose handler does nothing but record
 * that it ran, as a handler that forgot to authenticate would: a key-pair
 * row still answers 401 without credentials, a token or admin row its own
 * refusal, a console-session row fails closed, and a row without a policy
 * is refused.  Last, every credentialed route of the real tables, driven
 * through prepare and handle like the listener does, refuses an anonymous
 * caller in its dialect.  The store is a fresh in-memory SQLite per test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/crypto.h"

#define ADMIN_TOKEN "test-admin-token"
#define SECRET "ahs_test-secret"
#define TOKEN "aht_test-token"
#define EXPIRED_TOKEN "aht_expired-token"
#define FAIL_LIMIT 3

typedef struct env {
    ah_store_t *store;
    ah_app_t app;
    ah_access_key_t key;
} env_t;

/* An answer: status, parsed body, Retry-After. */
typedef struct reply {
    int status;
    json_t *body;
    char retry_after[24];
} reply_t;

/* ------------------------------------------------------------------------ */
/* A handler that forgot everything: it records that it ran, and who for.   */

static int g_calls;
static ah_caller_t g_caller;
static bool g_had_gen;

static void forgetful(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    g_calls++;
    g_caller = c->caller;
    g_had_gen = c->gen != NULL;
    ah_http_resp_json(resp, 200, json_pack("{s:s}", "ran", c->route->name));
}

#define LIMIT 1024
static const ah_route_t test_routes[] = {
    {"GET", "/key-pair", forgetful, "test.key-pair", .auth = AH_AUTH_KEY_PAIR,
     .dialect = AH_DIALECT_PUBLIC, .body_limit = LIMIT, .rate = AH_RATE_AUTH},
    {"GET", "/key-pair-auth-dialect", forgetful, "test.key-pair-auth", .auth = AH_AUTH_KEY_PAIR,
     .dialect = AH_DIALECT_AUTH, .body_limit = LIMIT, .rate = AH_RATE_AUTH},
    {"GET", "/token", forgetful, "test.token", .auth = AH_AUTH_TOKEN, .dialect = AH_DIALECT_PUBLIC,
     .body_limit = LIMIT, .rate = AH_RATE_AUTH},
    {"GET", "/admin", forgetful, "test.admin", .auth = AH_AUTH_ADMIN, .dialect = AH_DIALECT_ADMIN,
     .body_limit = LIMIT, .rate = AH_RATE_ADMIN},
    {"GET", "/console", forgetful, "test.console", .auth = AH_AUTH_CONSOLE,
     .dialect = AH_DIALECT_PUBLIC, .body_limit = LIMIT, .rate = AH_RATE_AUTH},
    {"GET", "/console-admin", forgetful, "test.console-admin", .auth = AH_AUTH_CONSOLE,
     .dialect = AH_DIALECT_ADMIN, .body_limit = LIMIT, .rate = AH_RATE_AUTH},
    {"GET", "/open", forgetful, "test.open", .auth = AH_AUTH_NONE, .dialect = AH_DIALECT_PUBLIC,
     .body_limit = LIMIT, .rate = AH_RATE_NONE},
    /* A row whose author stopped after the handler. */
    {.method = "GET", .pattern = "/no-policy", .fn = forgetful, .name = "test.no-policy"},
};

/* ------------------------------------------------------------------------ */
/* Fixture.                                                                  */

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof *e);
    char err[256] = "", tok[80];
    if (!e || ah_store_open("sqlite::memory:", &e->store, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        free(e);
        return -1;
    }
    ah_config_t cfg = {.listen = "x",
                       .db = "x",
                       .admin_token = ADMIN_TOKEN,
                       .base_path = "/prod",
                       .region = "mumbai",
                       .token_ttl_ms = 86400000,
                       .auth_fail_limit = FAIL_LIMIT,
                       .threads = 1,
                       .serve_api = true};
    if (ah_app_init(&e->app, &cfg, e->store, tok, sizeof tok, err, sizeof err)) {
        fprintf(stderr, "app: %s\n", err);
        return -1;
    }
    int64_t now = ah_now_ms();
    ah_community_t cm = {.name = "Acme", .created_at = now};
    ah_uuid_v4(cm.id);
    ah_access_key_t *k = &e->key;
    memcpy(k->community_id, cm.id, AH_ID_SIZE);
    ah_uuid_v4(k->id);
    ah_uuid_v4(k->access_key);
    ah_strlcpy(k->label, "crm-sync", sizeof k->label);
    ah_sha256_hex(SECRET, strlen(SECRET), k->secret_hash);
    k->created_at = now;
    ah_token_t t = {.created_at = now, .expires_at = now + 3600 * 1000};
    memcpy(t.key_id, k->id, AH_ID_SIZE);
    memcpy(t.community_id, cm.id, AH_ID_SIZE);
    memcpy(t.label, k->label, sizeof t.label);
    ah_sha256_hex(TOKEN, strlen(TOKEN), t.token_hash);
    ah_token_t old = t;
    old.expires_at = now - 1000;
    ah_sha256_hex(EXPIRED_TOKEN, strlen(EXPIRED_TOKEN), old.token_hash);
    if (ah_store_community_create(e->store, &cm) || ah_store_access_key_create(e->store, k) ||
        ah_store_token_create(e->store, &t) || ah_store_token_create(e->store, &old))
        return -1;
    g_calls = 0;
    memset(&g_caller, 0, sizeof g_caller);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    ah_app_free(&e->app);
    ah_store_close(e->store);
    free(e);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests.                                                                 */

/* Which credentials a request carries. */
enum { NO_CREDS = 0, KEY_PAIR = 1, WRONG_SECRET = 2, TOKEN_HDR = 4, BEARER = 8, OLD_TOKEN = 16 };

static ah_http_req_t *new_req(env_t *e, const char *method, const char *path, unsigned creds,
                              const char *ip)
{
    ah_http_req_t *req = calloc(1, sizeof *req);
    assert_non_null(req);
    req->method = method;
    req->path = path;
    ah_strlcpy(req->client_ip, ip, sizeof req->client_ip);
    size_t n = 0;
    if (creds & (KEY_PAIR | WRONG_SECRET)) {
        req->headers[n++] = (ah_kv_t){"x-access-key", e->key.access_key};
        req->headers[n++] = (ah_kv_t){"x-secret-key", creds & KEY_PAIR ? SECRET : "ahs_wrong"};
    }
    if (creds & (TOKEN_HDR | OLD_TOKEN))
        req->headers[n++] =
            (ah_kv_t){"X-Airmeet-Access-Token", creds & TOKEN_HDR ? TOKEN : EXPIRED_TOKEN};
    if (creds & BEARER)
        req->headers[n++] = (ah_kv_t){"Authorization", "Bearer " ADMIN_TOKEN};
    req->n_headers = n;
    return req;
}

static reply_t finish_reply(ah_http_req_t *req, ah_http_resp_t *resp)
{
    reply_t r = {.status = resp->status};
    ah_strlcpy(r.retry_after, resp->retry_after, sizeof r.retry_after);
    if (resp->body)
        r.body = json_loadb(resp->body, resp->body_len, 0, NULL);
    free(resp->body);
    free(req);
    return r;
}

/* The dispatcher's handle step over a route of test_routes (as prepare would pick it). */
static reply_t run_test_route(env_t *e, const char *path, unsigned creds, const char *ip)
{
    ah_http_req_t *req = new_req(e, "GET", path, creds, ip);
    ah_http_resp_t resp = {0};
    const ah_route_t *route = NULL;
    char allow[64];
    assert_int_equal(ah_route_match(test_routes, AH_ARRAY_LEN(test_routes), "GET", path, req,
                                    &route, allow, sizeof allow),
                     AH_MATCH_OK);
    req->route = route;
    ah_http_app_t h = ah_app_http(&e->app);
    h.handle(h.ctx, req, &resp);
    return finish_reply(req, &resp);
}

/* The whole request path above the socket: prepare, then handle (or too_big). */
static reply_t run_app(env_t *e, const char *method, const char *path, unsigned creds,
                       const char *ip, const char *query_problem)
{
    ah_http_req_t *req = new_req(e, method, path, creds, ip);
    ah_http_resp_t resp = {0};
    req->query_problem = query_problem;
    req->body = "";
    ah_http_app_t h = ah_app_http(&e->app);
    size_t limit = 0;
    if (h.prepare(h.ctx, req, &limit, &resp))
        h.handle(h.ctx, req, &resp);
    return finish_reply(req, &resp);
}

static const char *str(const reply_t *r, const char *field)
{
    const char *s = json_string_value(json_object_get(r->body, field));
    return s ? s : "";
}

/* Asserts r is an error of status in dialect d whose message starts with msg. */
static void assert_refused(const reply_t *r, int status, ah_dialect_t d, const char *msg)
{
    if (r->status != status)
        fail_msg("status %d, want %d (%s)", r->status, status, str(r, "message"));
    assert_non_null(r->body);
    switch (d) {
    case AH_DIALECT_PUBLIC: {
        char code[8];
        snprintf(code, sizeof code, "%d", status);
        assert_string_equal(str(r, "statusCode"), code);
        assert_string_equal(str(r, "statusMessage"), ah_status_reason(status));
        assert_int_equal(json_object_size(r->body), 3);
        break;
    }
    case AH_DIALECT_ADMIN:
        assert_string_equal(str(r, "error"), ah_status_reason(status));
        assert_int_equal(json_object_size(r->body), 2);
        break;
    case AH_DIALECT_AUTH:
        assert_true(json_is_false(json_object_get(r->body, "success")));
        assert_int_equal(json_object_size(r->body), 2);
        break;
    default:
        fail_msg("no such dialect");
    }
    if (strncmp(str(r, "message"), msg, strlen(msg)) != 0)
        fail_msg("message \"%s\", want it to start with \"%s\"", str(r, "message"), msg);
}

static void drop(reply_t *r)
{
    json_decref(r->body);
    r->body = NULL;
}

/* ------------------------------------------------------------------------ */
/* The app's tables.                                                         */

static void test_every_route_declares_a_policy(void **state)
{
    (void)state;
    size_t n_tables = 0, n_routes = 0;
    const ah_route_table_t *tables = ah_app_route_tables(&n_tables);
    assert_true(n_tables >= 3);
    for (size_t t = 0; t < n_tables; t++) {
        const ah_route_table_t *tb = &tables[t];
        assert_non_null(tb->name);
        assert_true(tb->n > 0);
        if (tb->dialect == AH_DIALECT_UNSET)
            fail_msg("table %s: no dialect for its 404/405/431 answers", tb->name);
        for (size_t i = 0; i < tb->n; i++, n_routes++) {
            const ah_route_t *r = &tb->routes[i];
            const char *problem = ah_route_policy_problem(r);
            if (problem)
                fail_msg("table %s, route %s %s: %s", tb->name, r->method, r->pattern, problem);
            /* The same fields one by one, so a weakened check cannot hide a gap. */
            assert_int_not_equal(r->auth, AH_AUTH_UNSET);
            assert_int_not_equal(r->dialect, AH_DIALECT_UNSET);
            assert_int_not_equal(r->rate, AH_RATE_UNSET);
            assert_true(r->body_limit > 0);
            assert_true(r->name[0] != '\0');
            for (size_t j = 0; j < i; j++)
                if (!strcmp(tb->routes[j].method, r->method) &&
                    !strcmp(tb->routes[j].pattern, r->pattern))
                    fail_msg("table %s: %s %s twice", tb->name, r->method, r->pattern);
        }
    }
    assert_true(n_routes >= 30);
}

/*
 * Who may call what, as a list: opening a route to anyone, or giving it
 * another kind of credentials, is a change to this test too.
 */
static void test_who_may_call_what(void **state)
{
    (void)state;
    size_t n_tables = 0;
    const ah_route_table_t *tables = ah_app_route_tables(&n_tables);
    for (size_t t = 0; t < n_tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const ah_route_t *r = &tables[t].routes[i];
            ah_auth_t want = AH_AUTH_ADMIN;
            if (!strcmp(tables[t].name, "ops"))
                want = AH_AUTH_NONE;
            else if (!strcmp(tables[t].name, "console"))
                /* Signing in is open (it counts its failures itself); the session is not. */
                want = !strcmp(r->method, "POST") ? AH_AUTH_NONE : AH_AUTH_CONSOLE;
            else if (!strcmp(r->name, "webhook-list") || !strcmp(r->name, "airmeets") ||
                     !strcmp(r->name, "airmeet-info") || !strcmp(r->name, "webhook-test") ||
                     !strcmp(r->name, "delivery-get"))
                want = AH_AUTH_TOKEN; /* a token from /auth: Airmeet's event API, airhook's own */
            else if (!strncmp(r->name, "listener-", 9))
                want = AH_AUTH_TOKEN; /* `airhook listen`, as webhook-list */
            else if (!strncmp(r->name, "portal.", 7))
                want = AH_AUTH_TOKEN; /* the integrators' portal (/airhook/v1), as webhook-list */
            else if (!strcmp(tables[t].name, "public") || !strcmp(tables[t].name, "api-v1"))
                want = AH_AUTH_KEY_PAIR;
            if (r->auth != want)
                fail_msg("%s %s (%s): auth %d, want %d", r->method, r->pattern, r->name, r->auth,
                         want);
            ah_dialect_t d = !strcmp(r->name, "auth")             ? AH_DIALECT_AUTH
                             : want == AH_AUTH_ADMIN              ? AH_DIALECT_ADMIN
                             : !strcmp(tables[t].name, "console") ? AH_DIALECT_ADMIN
                                                                  : AH_DIALECT_PUBLIC;
            if (r->dialect != d)
                fail_msg("%s %s: dialect %d, want %d", r->method, r->pattern, r->dialect, d);
            /* An event's data, and a trigger's sample and schema (up to 64 KiB each), are big. */
            size_t limit = !strcmp(r->name, "admin.events.publish") ||
                                   !strcmp(r->name, "admin.triggers.create") ||
                                   !strcmp(r->name, "admin.triggers.update")
                               ? AH_EVENT_BODY_LIMIT
                               : AH_BODY_LIMIT;
            assert_int_equal(r->body_limit, limit);
        }
    }
}

static void test_policy_problems_are_named(void **state)
{
    (void)state;
    const ah_route_t ok = {"GET",
                           "/x",
                           forgetful,
                           "x",
                           .auth = AH_AUTH_KEY_PAIR,
                           .dialect = AH_DIALECT_PUBLIC,
                           .body_limit = 1,
                           .rate = AH_RATE_AUTH};
    assert_null(ah_route_policy_problem(&ok));
    static const struct {
        size_t field; /* 0 auth, 1 dialect, 2 body_limit, 3 rate */
        const char *want;
    } zeroed[] = {{0, ".auth"}, {1, ".dialect"}, {2, ".body_limit"}, {3, ".rate"}};
    for (size_t i = 0; i < AH_ARRAY_LEN(zeroed); i++) {
        ah_route_t r = ok;
        if (zeroed[i].field == 0)
            r.auth = AH_AUTH_UNSET;
        else if (zeroed[i].field == 1)
            r.dialect = AH_DIALECT_UNSET;
        else if (zeroed[i].field == 2)
            r.body_limit = 0;
        else
            r.rate = AH_RATE_UNSET;
        const char *p = ah_route_policy_problem(&r);
        assert_non_null(p);
        assert_non_null(strstr(p, zeroed[i].want));
    }
    /* Out-of-range values are no policy either. */
    ah_route_t r = ok;
    r.auth = (ah_auth_t)99;
    assert_non_null(ah_route_policy_problem(&r));
    r = ok;
    r.fn = NULL;
    assert_non_null(ah_route_policy_problem(&r));
    /* Incoherent: credentials nobody counts, a count without credentials, admin mixed up. */
    r = ok;
    r.rate = AH_RATE_NONE;
    assert_non_null(ah_route_policy_problem(&r));
    r = ok;
    r.auth = AH_AUTH_NONE;
    assert_non_null(ah_route_policy_problem(&r));
    r.rate = AH_RATE_NONE;
    assert_null(ah_route_policy_problem(&r));
    r = ok;
    r.auth = AH_AUTH_ADMIN;
    assert_non_null(ah_route_policy_problem(&r));
    r.rate = AH_RATE_ADMIN;
    assert_null(ah_route_policy_problem(&r));
    r = ok;
    r.rate = AH_RATE_ADMIN;
    assert_non_null(ah_route_policy_problem(&r));
    /* The test table's last row is exactly such a forgotten policy. */
    assert_non_null(ah_route_policy_problem(&test_routes[AH_ARRAY_LEN(test_routes) - 1]));
}

/* ------------------------------------------------------------------------ */
/* The dispatcher over test rows.                                            */

static void test_key_pair_route_needs_a_key_pair(void **state)
{
    env_t *e = *state;
    /* The handler would answer 200 to anyone; the row says key pair. */
    reply_t r = run_test_route(e, "/key-pair", NO_CREDS, "192.0.2.1");
    assert_refused(&r, 401, AH_DIALECT_PUBLIC,
                   "missing header x-access-key (or X-Airmeet-Access-Key)");
    drop(&r);
    r = run_test_route(e, "/key-pair", WRONG_SECRET, "192.0.2.1");
    assert_refused(&r, 401, AH_DIALECT_PUBLIC,
                   "the access key and secret key do not match any key pair");
    drop(&r);
    assert_int_equal(g_calls, 0);
    /* With the pair, the handler runs and is told who called. */
    r = run_test_route(e, "/key-pair", KEY_PAIR, "192.0.2.2");
    assert_int_equal(r.status, 200);
    drop(&r);
    assert_int_equal(g_calls, 1);
    assert_string_equal(g_caller.community_id, e->key.community_id);
    assert_string_equal(g_caller.key_id, e->key.id);
    assert_string_equal(g_caller.label, "crm-sync");
    assert_true(g_had_gen); /* the request's cache generations were read once, for it */
    /* In the /auth dialect the same refusal is a 400 of that shape. */
    r = run_test_route(e, "/key-pair-auth-dialect", NO_CREDS, "192.0.2.3");
    assert_refused(&r, 400, AH_DIALECT_AUTH, "missing header x-access-key");
    drop(&r);
    assert_int_equal(g_calls, 1);
}

static void test_failed_authentications_are_throttled(void **state)
{
    env_t *e = *state;
    for (int i = 0; i < FAIL_LIMIT; i++) {
        reply_t r = run_test_route(e, "/key-pair", WRONG_SECRET, "192.0.2.9");
        assert_int_equal(r.status, 401);
        assert_string_equal(r.retry_after, "");
        drop(&r);
    }
    /* Now even the right pair waits, with Retry-After, in the route's dialect. */
    reply_t r = run_test_route(e, "/key-pair", KEY_PAIR, "192.0.2.9");
    assert_refused(&r, 429, AH_DIALECT_PUBLIC,
                   "too many failed authentications from this address; retry in ");
    assert_true(atoi(r.retry_after) > 0);
    drop(&r);
    r = run_test_route(e, "/key-pair-auth-dialect", KEY_PAIR, "192.0.2.9");
    assert_refused(&r, 429, AH_DIALECT_AUTH,
                   "too many failed authentications from this address; retry later");
    drop(&r);
    r = run_test_route(e, "/token", TOKEN_HDR, "192.0.2.9");
    assert_int_equal(r.status, 429);
    drop(&r);
    /* The admin limiter is another table: the operator is not locked out. */
    r = run_test_route(e, "/admin", BEARER, "192.0.2.9");
    assert_int_equal(r.status, 200);
    drop(&r);
    /* Another address is not affected. */
    r = run_test_route(e, "/key-pair", KEY_PAIR, "192.0.2.10");
    assert_int_equal(r.status, 200);
    drop(&r);
    assert_int_equal(g_calls, 2);
}

static void test_token_route(void **state)
{
    env_t *e = *state;
    reply_t r = run_test_route(e, "/token", NO_CREDS, "192.0.2.20");
    assert_refused(&r, 400, AH_DIALECT_PUBLIC, "missing header X-Airmeet-Access-Token");
    drop(&r);
    /* A key pair is not a token. */
    r = run_test_route(e, "/token", KEY_PAIR, "192.0.2.21");
    assert_int_equal(r.status, 400);
    drop(&r);
    /* An expired token is 412, and does not count as a failure. */
    for (int i = 0; i < FAIL_LIMIT + 1; i++) {
        r = run_test_route(e, "/token", OLD_TOKEN, "192.0.2.22");
        assert_refused(&r, 412, AH_DIALECT_PUBLIC, "the access token has expired");
        drop(&r);
    }
    assert_int_equal(g_calls, 0);
    r = run_test_route(e, "/token", TOKEN_HDR, "192.0.2.22");
    assert_int_equal(r.status, 200);
    drop(&r);
    assert_int_equal(g_calls, 1);
    assert_string_equal(g_caller.community_id, e->key.community_id);
    assert_string_equal(g_caller.key_id, e->key.id);
    assert_string_equal(g_caller.label, "crm-sync");
    /* A key pair route does not take a token either. */
    r = run_test_route(e, "/key-pair", TOKEN_HDR, "192.0.2.23");
    assert_int_equal(r.status, 401);
    drop(&r);
}

static void test_admin_route(void **state)
{
    env_t *e = *state;
    reply_t r = run_test_route(e, "/admin", KEY_PAIR | TOKEN_HDR, "192.0.2.30");
    assert_refused(&r, 401, AH_DIALECT_ADMIN, "missing or wrong admin token");
    drop(&r);
    assert_int_equal(g_calls, 0);
    r = run_test_route(e, "/admin", BEARER, "192.0.2.30");
    assert_int_equal(r.status, 200);
    drop(&r);
    assert_int_equal(g_calls, 1);
    assert_string_equal(g_caller.community_id, ""); /* the operator is nobody's key */
}

/* No console session can be made yet, so a console route admits nobody. */
static void test_console_session_fails_closed(void **state)
{
    env_t *e = *state;
    unsigned everything = KEY_PAIR | TOKEN_HDR | BEARER;
    /* With the console off (--ui off), no session admits anything. */
    reply_t r = run_test_route(e, "/console", everything, "192.0.2.40");
    assert_refused(&r, 401, AH_DIALECT_PUBLIC, "the web console is off on this server");
    drop(&r);
    /* With it on, other credentials are no session either. */
    e->app.cfg.ui = true;
    r = run_test_route(e, "/console-admin", everything, "192.0.2.40");
    assert_refused(&r, 401, AH_DIALECT_ADMIN, "not signed in to the console");
    drop(&r);
    assert_int_equal(g_calls, 0);
    /* Nothing was tried, so nothing counts against the address. */
    for (int i = 0; i < FAIL_LIMIT; i++) {
        r = run_test_route(e, "/console", NO_CREDS, "192.0.2.40");
        drop(&r);
    }
    r = run_test_route(e, "/key-pair", KEY_PAIR, "192.0.2.40");
    assert_int_equal(r.status, 200);
    drop(&r);
}

static void test_open_route_and_missing_policy(void **state)
{
    env_t *e = *state;
    reply_t r = run_test_route(e, "/open", NO_CREDS, "192.0.2.50");
    assert_int_equal(r.status, 200);
    drop(&r);
    assert_int_equal(g_calls, 1);
    assert_string_equal(g_caller.community_id, "");
    /* A row without a policy is refused whoever calls: never guessed at. */
    r = run_test_route(e, "/no-policy", KEY_PAIR | TOKEN_HDR | BEARER, "192.0.2.50");
    assert_refused(&r, 500, AH_DIALECT_PUBLIC, "route test.no-policy has no usable policy");
    drop(&r);
    assert_int_equal(g_calls, 1);
}

/* ------------------------------------------------------------------------ */
/* The real tables, through prepare and handle.                              */

static void test_real_routes_refuse_anonymous_callers(void **state)
{
    env_t *e = *state;
    size_t n_tables = 0, checked = 0;
    const ah_route_table_t *tables = ah_app_route_tables(&n_tables);
    for (size_t t = 0; t < n_tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const ah_route_t *rt = &tables[t].routes[i];
            if (rt->auth == AH_AUTH_NONE)
                continue;
            /* The path: prefix + pattern with each {} an id. */
            char path[512], ip[32];
            const char *prefix = tables[t].prefix ? tables[t].prefix : "/prod";
            size_t len = (size_t)snprintf(path, sizeof path, "%s", prefix);
            for (const char *p = rt->pattern; *p && len < sizeof path - 40; p++) {
                if (p[0] == '{' && p[1] == '}') {
                    len += (size_t)snprintf(path + len, sizeof path - len, "%s",
                                            "3fa85f64-5717-4562-b3fc-2c963f66afa6");
                    p++;
                } else {
                    path[len++] = *p;
                    path[len] = '\0';
                }
            }
            snprintf(ip, sizeof ip, "198.51.100.%zu", ++checked);
            reply_t r = run_app(e, rt->method, path, NO_CREDS, ip, NULL);
            if (rt->auth == AH_AUTH_ADMIN)
                assert_refused(&r, 401, AH_DIALECT_ADMIN, "missing or wrong admin token");
            else if (rt->auth == AH_AUTH_CONSOLE)
                assert_refused(&r, 401, AH_DIALECT_ADMIN, "the web console is off");
            else if (rt->auth == AH_AUTH_TOKEN)
                assert_refused(&r, 400, AH_DIALECT_PUBLIC, "missing header X-Airmeet-Access-Token");
            else if (rt->dialect == AH_DIALECT_AUTH)
                assert_refused(&r, 400, AH_DIALECT_AUTH, "missing header x-access-key");
            else
                assert_refused(&r, 401, AH_DIALECT_PUBLIC, "missing header x-access-key");
            drop(&r);
        }
    }
    assert_true(checked >= 25);
}

/*
 * Order: the public API answers a bad query string before it looks at the
 * credentials; the admin API checks its token first.  The query's 400 is in
 * the shape of the API the route belongs to (/auth's is public).
 */
static void test_bad_query_order(void **state)
{
    env_t *e = *state;
    const char *bad = "a query parameter appears more than once";
    reply_t r = run_app(e, "GET", "/prod/platform-integration/v1/sample-payload", NO_CREDS,
                        "203.0.113.1", bad);
    assert_refused(&r, 400, AH_DIALECT_PUBLIC, "bad query string: a query parameter");
    drop(&r);
    r = run_app(e, "POST", "/prod/auth", NO_CREDS, "203.0.113.1", bad);
    assert_refused(&r, 400, AH_DIALECT_PUBLIC, "bad query string: a query parameter");
    drop(&r);
    r = run_app(e, "GET", "/admin/v1/communities", NO_CREDS, "203.0.113.1", bad);
    assert_refused(&r, 401, AH_DIALECT_ADMIN, "missing or wrong admin token");
    drop(&r);
    r = run_app(e, "GET", "/admin/v1/communities", BEARER, "203.0.113.1", bad);
    assert_refused(&r, 400, AH_DIALECT_ADMIN, "bad query string: a query parameter");
    drop(&r);
    r = run_app(e, "GET", "/healthz", NO_CREDS, "203.0.113.1", bad);
    assert_refused(&r, 400, AH_DIALECT_PUBLIC, "bad query string: a query parameter");
    drop(&r);
    /* 404 and 405 come from prepare, in the table's dialect, before anything else. */
    r = run_app(e, "PUT", "/admin/v1/communities", NO_CREDS, "203.0.113.1", bad);
    assert_refused(&r, 405, AH_DIALECT_ADMIN, "PUT is not allowed on /admin/v1/communities");
    drop(&r);
    r = run_app(e, "GET", "/prod/auth", NO_CREDS, "203.0.113.1", NULL);
    assert_refused(&r, 405, AH_DIALECT_PUBLIC, "GET is not allowed on /prod/auth");
    drop(&r);
    r = run_app(e, "GET", "/prod/nope", NO_CREDS, "203.0.113.1", NULL);
    assert_refused(&r, 404, AH_DIALECT_PUBLIC, "no such endpoint: GET /prod/nope");
    drop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_declares_a_policy),
        cmocka_unit_test(test_who_may_call_what),
        cmocka_unit_test(test_policy_problems_are_named),
        cmocka_unit_test_setup_teardown(test_key_pair_route_needs_a_key_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_authentications_are_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_session_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_route_and_missing_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_routes_refuse_anonymous_callers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_query_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
