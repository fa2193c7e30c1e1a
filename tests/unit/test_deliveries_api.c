/* SPDX-License-Identifier: MIT */
/*
 * test_deliveries_api.c: unit tests of the delivery admin API (deliveries.c)
 * driven through the application's own request path: ah_app_http()'s
 * prepare (routing, 404/405) and handle (admin token, the handler), with
 * hand-built requests, over a fresh in-memory SQLite store per test.
 *
 * Data is seeded through the store ops as the rest of airhook would write
 * it: a community, webhooks via webhook_register, events via event_publish,
 * and failures via delivery_claim + delivery_record, the dispatcher's path.
 * Answers are parsed with jansson and checked field by field against the
 * shapes of docs/CONVENTIONS.md ("Events and deliveries").  The app has no
 * dispatcher (NULL), so wakes are no-ops.
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
#include <unistd.h>

#include "api/app.h"

#define ADMIN_TOKEN "test-admin-token"
#define TRIGGER "trigger.airmeet.registrant.added"
#define OTHER_TRIGGER "trigger.airmeet.polls"
#define HOUR_MS (60LL * 60 * 1000)

typedef struct env {
    ah_store_t *store;
    ah_app_t app;
    char community[AH_ID_SIZE];
    int64_t now;
} env_t;

/* An HTTP answer: the status and the parsed body (NULL if not JSON). */
typedef struct reply {
    int status;
    json_t *body;
} reply_t;

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
                       .threads = 1,
                       .serve_api = true};
    if (ah_app_init(&e->app, &cfg, e->store, tok, sizeof tok, err, sizeof err))
        return -1;
    e->now = ah_now_ms();
    ah_community_t c = {.name = "Acme", .created_at = e->now};
    ah_uuid_v4(c.id);
    memcpy(e->community, c.id, AH_ID_SIZE);
    if (ah_store_community_create(e->store, &c))
        return -1;
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

static void add_header(ah_http_req_t *req, const char *k, const char *v)
{
    assert_true(req->n_headers < AH_HTTP_MAX_HEADERS);
    req->headers[req->n_headers].key = k;
    req->headers[req->n_headers].value = v;
    req->n_headers++;
}

/* Splits "a=1&b=2" (modified in place) into req->query, as the listener does. */
static void add_query(ah_http_req_t *req, char *q)
{
    while (q && *q) {
        char *amp = strchr(q, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq)
            *eq = '\0';
        assert_true(req->n_query < AH_HTTP_MAX_QUERY);
        req->query[req->n_query].key = q;
        req->query[req->n_query].value = eq ? eq + 1 : "";
        req->n_query++;
        q = amp ? amp + 1 : NULL;
    }
}

/*
 * Sends METHOD TARGET (path under /admin/v1, with an optional query) with
 * body (NULL: none) and, when authed, the admin token.
 */
static reply_t call_as(env_t *e, bool authed, const char *method, const char *target,
                       const char *body)
{
    char url[1024], *body_copy = NULL;
    assert_int_equal(snprintf(url, sizeof url, "/admin/v1%s", target) < (int)sizeof url, 1);
    ah_http_req_t *req = calloc(1, sizeof *req);
    ah_http_resp_t resp = {0};
    assert_non_null(req);
    char *q = strchr(url, '?');
    if (q)
        *q++ = '\0';
    req->method = method;
    req->path = url;
    add_query(req, q);
    if (authed)
        add_header(req, "Authorization", "Bearer " ADMIN_TOKEN);
    if (body) {
        add_header(req, "Content-Type", "application/json");
        body_copy = strdup(body);
        assert_non_null(body_copy);
        req->body = body_copy;
        req->body_len = strlen(body);
    }
    memcpy(req->client_ip, "127.0.0.1", 10);
    req->start_us = ah_mono_us();
    ah_http_app_t h = ah_app_http(&e->app);
    size_t limit = 0;
    if (h.prepare(h.ctx, req, &limit, &resp))
        h.handle(h.ctx, req, &resp);
    reply_t r = {resp.status, json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL)};
    if (!r.body)
        fprintf(stderr, "%s %s: not JSON: %.*s\n", method, target, (int)resp.body_len,
                resp.body ? resp.body : "");
    free(resp.body);
    free(body_copy);
    free(req);
    return r;
}

static reply_t call(env_t *e, const char *method, const char *target, const char *body)
{
    return call_as(e, true, method, target, body);
}

/* Asserts the status and, for an error, the admin error shape; frees the body. */
static void expect_status(reply_t r, int status)
{
    if (r.status != status) {
        char *dump = r.body ? json_dumps(r.body, 0) : NULL;
        fprintf(stderr, "expected %d, got %d: %s\n", status, r.status, dump ? dump : "");
        free(dump);
    }
    assert_int_equal(r.status, status);
    assert_non_null(r.body);
    if (status >= 400) {
        assert_true(json_is_string(json_object_get(r.body, "error")));
        assert_true(json_is_string(json_object_get(r.body, "message")));
    }
    json_decref(r.body);
}

/* Fetches a JSON field that must be a string. */
static const char *str_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        fprintf(stderr, "field %s is not a string\n", name);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void assert_null_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_null(v))
        fprintf(stderr, "field %s is not null\n", name);
    assert_true(json_is_null(v));
}

static json_int_t int_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/* ------------------------------------------------------------------------ */
/* Seeding.                                                                  */

/* Registers an active webhook of the community for trigger; id into out. */
static void new_webhook(env_t *e, const char *trigger, const char *url, char out[AH_ID_SIZE])
{
    ah_webhook_t *w = calloc(1, sizeof *w), *got = calloc(1, sizeof *got);
    bool existed = true;
    assert_non_null(w);
    assert_non_null(got);
    ah_uuid_v4(w->id);
    memcpy(w->community_id, e->community, AH_ID_SIZE);
    ah_strlcpy(w->trigger, trigger, sizeof w->trigger);
    ah_strlcpy(w->name, "crm sync", sizeof w->name);
    ah_strlcpy(w->url, url, sizeof w->url);
    ah_strlcpy(w->platform_name, "zapier", sizeof w->platform_name);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "{}", sizeof w->meta_data);
    w->created_at = w->updated_at = e->now - 10 * HOUR_MS;
    ah_strlcpy(w->created_by, "crm", sizeof w->created_by);
    ah_strlcpy(w->secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj", sizeof w->secret);
    assert_int_equal(ah_store_webhook_register(e->store, w, got, &existed), AH_OK);
    assert_false(existed);
    memcpy(out, w->id, AH_ID_SIZE);
    free(w);
    free(got);
}

/* Publishes an event of trigger created at `at`; returns its delivery count. */
static size_t publish(env_t *e, const char *trigger, int64_t at, char out[AH_ID_SIZE])
{
    static const char data[] = "{\"email\":\"a@example.com\"}";
    ah_event_t ev = {.data = (char *)data, .data_len = sizeof data - 1, .created_at = at};
    ah_publish_result_t res = {0};
    ah_uuid_v4(ev.id);
    memcpy(ev.community_id, e->community, AH_ID_SIZE);
    ah_strlcpy(ev.trigger, trigger, sizeof ev.trigger);
    assert_int_equal(ah_store_event_publish(e->store, &ev, &res), AH_OK);
    assert_false(res.duplicate);
    memcpy(out, ev.id, AH_ID_SIZE);
    free(res.webhook_ids);
    return res.n_deliveries;
}

/*
 * Claims every due delivery of the webhook and records one attempt for
 * each: `outcome` with HTTP status `code` (0: no answer), `error` and
 * response head `body`.  Returns how many were recorded.
 */
static size_t attempt_all(env_t *e, const char *webhook_id, ah_outcome_t outcome, int code,
                          const char *error, const char *body)
{
    ah_claim_t *claims = NULL;
    size_t n = 0;
    int64_t next_due = 0, now = ah_now_ms();
    assert_int_equal(ah_store_delivery_claim(e->store, webhook_id, now, now + 60000, 100, &claims,
                                             &n, &next_due),
                     AH_OK);
    ah_attempt_result_t *res = calloc(n ? n : 1, sizeof *res);
    assert_non_null(res);
    for (size_t i = 0; i < n; i++) {
        memcpy(res[i].delivery_id, claims[i].delivery_id, AH_ID_SIZE);
        ah_strlcpy(res[i].webhook_id, webhook_id, AH_ID_SIZE);
        res[i].attempt.attempt_no = claims[i].attempts + 1;
        res[i].attempt.started_at = now;
        res[i].attempt.duration_ms = 12;
        res[i].attempt.status_code = code;
        ah_strlcpy(res[i].attempt.error, error, sizeof res[i].attempt.error);
        ah_strlcpy(res[i].attempt.response_head, body, sizeof res[i].attempt.response_head);
        res[i].outcome = outcome;
        res[i].next_attempt_at = now - 1; /* a retry is due at once */
    }
    if (n)
        assert_int_equal(ah_store_delivery_record(e->store, res, n), AH_OK);
    free(res);
    ah_claims_free(claims, n);
    return n;
}

/* GET target and returns the "deliveries" array's length; *body keeps the answer. */
static size_t list(env_t *e, const char *target, json_t **body)
{
    reply_t r = call(e, "GET", target, NULL);
    if (r.status != 200)
        expect_status(r, 200);
    json_t *arr = json_object_get(r.body, "deliveries");
    assert_true(json_is_array(arr));
    assert_non_null(json_object_get(r.body, "nextCursor"));
    *body = r.body;
    return json_array_size(arr);
}

static void path_of(char *out, size_t outsz, const char *a, const char *id, const char *b)
{
    assert_true(snprintf(out, outsz, "%s%s%s", a, id, b) < (int)outsz);
}

/* ------------------------------------------------------------------------ */
/* Listing.                                                                  */

static void test_webhook_deliveries_newest_first(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], ev[3][AH_ID_SIZE], target[256];
    json_t *body;
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    for (int i = 0; i < 3; i++)
        assert_int_equal(publish(e, TRIGGER, e->now - (3 - i) * HOUR_MS, ev[i]), 1);

    path_of(target, sizeof target, "/webhooks/", w, "/deliveries");
    assert_int_equal(list(e, target, &body), 3);
    assert_true(json_is_null(json_object_get(body, "nextCursor")));
    json_t *arr = json_object_get(body, "deliveries");
    for (int i = 0; i < 3; i++)
        assert_string_equal(str_field(json_array_get(arr, (size_t)i), "eventId"), ev[2 - i]);

    json_t *d = json_array_get(arr, 0);
    assert_true(ah_is_uuid(str_field(d, "id")));
    assert_string_equal(str_field(d, "webhookId"), w);
    assert_string_equal(str_field(d, "triggerMetaInfoId"), TRIGGER);
    assert_string_equal(str_field(d, "status"), "pending");
    assert_int_equal(int_field(d, "attemptCount"), 0);
    int64_t ms = 0;
    assert_int_equal(ah_parse_time(str_field(d, "nextAttemptAt"), &ms), AH_OK);
    assert_int_equal(ah_parse_time(str_field(d, "createdAt"), &ms), AH_OK);
    assert_int_equal(ms, e->now - HOUR_MS);
    assert_int_equal(ah_parse_time(str_field(d, "updatedAt"), &ms), AH_OK);
    assert_null_field(d, "lastStatusCode");
    assert_null_field(d, "lastError");
    assert_int_equal(json_object_size(d), 11);
    json_decref(body);

    /* Upper-case ids in the path are accepted. */
    char upper[AH_ID_SIZE];
    memcpy(upper, w, AH_ID_SIZE);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    path_of(target, sizeof target, "/webhooks/", upper, "/deliveries");
    assert_int_equal(list(e, target, &body), 3);
    json_decref(body);
}

static void test_pagination(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], ev[AH_ID_SIZE], target[512], seen[5][AH_ID_SIZE];
    size_t n_seen = 0;
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    for (int i = 0; i < 5; i++)
        publish(e, TRIGGER, e->now - (5 - i) * HOUR_MS, ev);

    path_of(target, sizeof target, "/webhooks/", w, "/deliveries?limit=2");
    for (int page = 0; page < 3; page++) {
        json_t *body;
        size_t n = list(e, target, &body);
        assert_int_equal(n, page < 2 ? 2 : 1);
        for (size_t i = 0; i < n; i++) {
            const char *id =
                str_field(json_array_get(json_object_get(body, "deliveries"), i), "id");
            for (size_t j = 0; j < n_seen; j++)
                assert_string_not_equal(seen[j], id);
            memcpy(seen[n_seen++], id, AH_ID_SIZE);
        }
        json_t *cur = json_object_get(body, "nextCursor");
        if (page < 2) {
            assert_true(json_is_string(cur));
            char base[256];
            path_of(base, sizeof base, "/webhooks/", w, "/deliveries?limit=2&cursor=");
            assert_true(snprintf(target, sizeof target, "%s%s", base, json_string_value(cur)) <
                        (int)sizeof target);
        } else {
            assert_true(json_is_null(cur));
        }
        json_decref(body);
    }
    assert_int_equal(n_seen, 5);
}

static void test_status_filter(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], ev[AH_ID_SIZE], target[256];
    json_t *body;
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    publish(e, TRIGGER, e->now - 2 * HOUR_MS, ev);
    assert_int_equal(attempt_all(e, w, AH_OUTCOME_FAILED, 500, "", "no"), 1);
    publish(e, TRIGGER, e->now - HOUR_MS, ev);
    assert_int_equal(attempt_all(e, w, AH_OUTCOME_SUCCEEDED, 204, "", ""), 1);
    publish(e, TRIGGER, e->now - HOUR_MS / 2, ev);

    static const struct {
        const char *status;
        size_t n;
    } cases[] = {{"failed", 1}, {"pending", 1}, {"succeeded", 1}, {"cancelled", 0}};
    for (size_t i = 0; i < AH_ARRAY_LEN(cases); i++) {
        char suffix[64];
        snprintf(suffix, sizeof suffix, "/deliveries?status=%s", cases[i].status);
        path_of(target, sizeof target, "/webhooks/", w, suffix);
        assert_int_equal(list(e, target, &body), cases[i].n);
        json_t *d = json_array_get(json_object_get(body, "deliveries"), 0);
        if (cases[i].n)
            assert_string_equal(str_field(d, "status"), cases[i].status);
        if (cases[i].n && strcmp(cases[i].status, "pending") != 0) {
            /* Settled: no due time, one attempt, its HTTP status. */
            assert_null_field(d, "nextAttemptAt");
            assert_int_equal(int_field(d, "attemptCount"), 1);
            assert_int_equal(int_field(d, "lastStatusCode"), i == 0 ? 500 : 204);
        }
        json_decref(body);
    }

    /* Deregistering cancels the pending one; the listing still works. */
    assert_int_equal(ah_store_webhook_deregister(e->store, w, "crm", ah_now_ms()), AH_OK);
    path_of(target, sizeof target, "/webhooks/", w, "/deliveries?status=cancelled");
    assert_int_equal(list(e, target, &body), 1);
    json_decref(body);
}

static void test_bad_query(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], ev[AH_ID_SIZE], target[256];
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    publish(e, TRIGGER, e->now, ev);
    static const char *const bad[] = {
        "status=bogus", "status=", "status=PENDING", "limit=0",  "limit=501",
        "limit=abc",    "limit=",  "limit=-1",       "limit=2x", "cursor=not-a-cursor"};
    for (size_t i = 0; i < AH_ARRAY_LEN(bad); i++) {
        char suffix[64];
        snprintf(suffix, sizeof suffix, "/deliveries?%s", bad[i]);
        path_of(target, sizeof target, "/webhooks/", w, suffix);
        expect_status(call(e, "GET", target, NULL), 400);
        path_of(target, sizeof target, "/events/", ev, suffix);
        expect_status(call(e, "GET", target, NULL), 400);
    }
    json_t *body;
    path_of(target, sizeof target, "/webhooks/", w, "/deliveries?limit=500&cursor=");
    assert_int_equal(list(e, target, &body), 1);
    json_decref(body);
    path_of(target, sizeof target, "/webhooks/", w, "/deliveries?limit=1");
    assert_int_equal(list(e, target, &body), 1);
    json_decref(body);
}

static void test_event_deliveries(void **state)
{
    env_t *e = *state;
    char w1[AH_ID_SIZE], w2[AH_ID_SIZE], w3[AH_ID_SIZE], ev[AH_ID_SIZE], other[AH_ID_SIZE];
    char target[256];
    json_t *body;
    new_webhook(e, TRIGGER, "https://example.com/1", w1);
    new_webhook(e, TRIGGER, "https://example.com/2", w2);
    new_webhook(e, OTHER_TRIGGER, "https://example.com/3", w3);
    assert_int_equal(publish(e, TRIGGER, e->now - HOUR_MS, ev), 2);
    assert_int_equal(publish(e, OTHER_TRIGGER, e->now, other), 1);

    path_of(target, sizeof target, "/events/", ev, "/deliveries");
    assert_int_equal(list(e, target, &body), 2);
    json_t *arr = json_object_get(body, "deliveries");
    const char *a = str_field(json_array_get(arr, 0), "webhookId");
    const char *b = str_field(json_array_get(arr, 1), "webhookId");
    assert_true((!strcmp(a, w1) && !strcmp(b, w2)) || (!strcmp(a, w2) && !strcmp(b, w1)));
    for (size_t i = 0; i < 2; i++)
        assert_string_equal(str_field(json_array_get(arr, i), "eventId"), ev);
    json_decref(body);

    /* An event without deliveries lists none (not 404). */
    assert_int_equal(publish(e, "trigger.nobody.listens", e->now, other), 0);
    path_of(target, sizeof target, "/events/", other, "/deliveries");
    assert_int_equal(list(e, target, &body), 0);
    json_decref(body);
}

static void test_not_found(void **state)
{
    env_t *e = *state;
    static const char *const ghost = "0d3c8f7e-6a8b-4c2d-9e1f-2a3b4c5d6e7f";
    static const struct {
        const char *method, *a, *b, *body;
    } cases[] = {
        {"GET", "/webhooks/", "/deliveries", NULL},
        {"GET", "/events/", "/deliveries", NULL},
        {"GET", "/deliveries/", "", NULL},
        {"POST", "/deliveries/", "/retry", NULL},
        {"POST", "/webhooks/", "/recover", "{\"since\":0}"},
        {"POST", "/webhooks/", "/rotate-secret", NULL},
    };
    char target[256];
    for (size_t i = 0; i < AH_ARRAY_LEN(cases); i++) {
        path_of(target, sizeof target, cases[i].a, ghost, cases[i].b);
        expect_status(call(e, cases[i].method, target, cases[i].body), 404);
        path_of(target, sizeof target, cases[i].a, "not-a-uuid", cases[i].b);
        expect_status(call(e, cases[i].method, target, cases[i].body), 404);
    }
    /* The admin token is checked before anything else. */
    path_of(target, sizeof target, "/webhooks/", ghost, "/deliveries");
    expect_status(call_as(e, false, "GET", target, NULL), 401);
}

/* ------------------------------------------------------------------------ */
/* One delivery, retry.                                                      */

static void test_delivery_get_with_attempts(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], ev[AH_ID_SIZE], target[256];
    json_t *body;
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    publish(e, TRIGGER, e->now - HOUR_MS, ev);
    assert_int_equal(attempt_all(e, w, AH_OUTCOME_RETRY, 0, "connection refused", ""), 1);
    /* The first KiB of a body can end inside a UTF-8 sequence: "é" cut in two. */
    assert_int_equal(attempt_all(e, w, AH_OUTCOME_FAILED, 500, "", "oops \xc3\xa9 \xe2\x82"), 1);

    path_of(target, sizeof target, "/webhooks/", w, "/deliveries");
    assert_int_equal(list(e, target, &body), 1);
    char id[AH_ID_SIZE];
    ah_strlcpy(id, str_field(json_array_get(json_object_get(body, "deliveries"), 0), "id"),
               sizeof id);
    json_decref(body);

    path_of(target, sizeof target, "/deliveries/", id, "");
    reply_t r = call(e, "GET", target, NULL);
    assert_int_equal(r.status, 200);
    json_t *d = r.body;
    assert_string_equal(str_field(d, "id"), id);
    assert_string_equal(str_field(d, "eventId"), ev);
    assert_string_equal(str_field(d, "status"), "failed");
    assert_int_equal(int_field(d, "attemptCount"), 2);
    assert_null_field(d, "nextAttemptAt");
    assert_int_equal(int_field(d, "lastStatusCode"), 500);
    assert_null_field(d, "lastError");
    json_t *attempts = json_object_get(d, "attempts");
    assert_int_equal(json_array_size(attempts), 2);

    json_t *a1 = json_array_get(attempts, 0);
    assert_int_equal(int_field(a1, "attempt"), 1);
    int64_t ms = 0;
    assert_int_equal(ah_parse_time(str_field(a1, "startedAt"), &ms), AH_OK);
    assert_int_equal(int_field(a1, "durationMs"), 12);
    assert_null_field(a1, "statusCode");
    assert_string_equal(str_field(a1, "error"), "connection refused");
    assert_null_field(a1, "responseBody");
    assert_null_field(a1, "responseHeaders"); /* no answer, no headers */
    /* The headers it was sent with, rebuilt; the signature is never shown. */
    json_t *rh = json_object_get(a1, "requestHeaders");
    assert_string_equal(str_field(rh, "webhook-id"), ev);
    assert_string_equal(str_field(rh, "x-airmeet-webhook-id"), w);
    assert_string_equal(str_field(rh, "x-airmeet-attempt"), "1");
    assert_string_equal(str_field(rh, "webhook-signature"), "v1,(redacted)");
    assert_string_equal(str_field(rh, "content-type"), "application/json");
    assert_int_equal(json_object_size(a1), 8);

    json_t *a2 = json_array_get(attempts, 1);
    assert_int_equal(int_field(a2, "attempt"), 2);
    assert_int_equal(int_field(a2, "statusCode"), 500);
    assert_null_field(a2, "error");
    assert_string_equal(str_field(a2, "responseBody"), "oops \xc3\xa9 ??");
    json_decref(r.body);

    /* A pending delivery has no attempts yet and a due time. */
    publish(e, TRIGGER, e->now, ev);
    path_of(target, sizeof target, "/events/", ev, "/deliveries");
    assert_int_equal(list(e, target, &body), 1);
    ah_strlcpy(id, str_field(json_array_get(json_object_get(body, "deliveries"), 0), "id"),
               sizeof id);
    json_decref(body);
    path_of(target, sizeof target, "/deliveries/", id, "");
    r = call(e, "GET", target, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.body, "attempts")), 0);
    assert_non_null(str_field(r.body, "nextAttemptAt"));
    json_decref(r.body);
}

/* The id of the only delivery of the event. */
static void only_delivery(env_t *e, const char *event_id, char out[AH_ID_SIZE])
{
    char target[256];
    json_t *body;
    path_of(target, sizeof target, "/events/", event_id, "/deliveries");
    assert_int_equal(list(e, target, &body), 1);
    ah_strlcpy(out, str_field(json_array_get(json_object_get(body, "deliveries"), 0), "id"),
               AH_ID_SIZE);
    json_decref(body);
}

static void test_retry(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], ev[AH_ID_SIZE], id[AH_ID_SIZE], target[256];
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    publish(e, TRIGGER, e->now - HOUR_MS, ev);
    assert_int_equal(attempt_all(e, w, AH_OUTCOME_FAILED, 503, "", ""), 1);
    only_delivery(e, ev, id);

    path_of(target, sizeof target, "/deliveries/", id, "/retry");
    int64_t before = ah_now_ms();
    reply_t r = call(e, "POST", target, NULL);
    assert_int_equal(r.status, 202);
    assert_string_equal(str_field(r.body, "id"), id);
    assert_string_equal(str_field(r.body, "status"), "pending");
    int64_t due = 0;
    assert_int_equal(ah_parse_time(str_field(r.body, "nextAttemptAt"), &due), AH_OK);
    assert_true(due >= before - 1000 && due <= ah_now_ms() + 1000);
    assert_null(json_object_get(r.body, "attempts"));
    json_decref(r.body);

    /* Retrying a pending one is fine too; a body is ignored. */
    expect_status(call(e, "POST", target, "{}"), 202);

    /* Not into a deregistered webhook. */
    assert_int_equal(ah_store_webhook_deregister(e->store, w, "crm", ah_now_ms()), AH_OK);
    expect_status(call(e, "POST", target, NULL), 409);
    /* GET is the wrong method for retry. */
    expect_status(call(e, "GET", target, NULL), 405);
}

/* ------------------------------------------------------------------------ */
/* Recover, rotate.                                                          */

static void recover(env_t *e, const char *w, const char *body, json_int_t want)
{
    char target[256];
    path_of(target, sizeof target, "/webhooks/", w, "/recover");
    reply_t r = call(e, "POST", target, body);
    if (r.status != 202)
        expect_status(r, 202);
    assert_string_equal(str_field(r.body, "webhookId"), w);
    assert_int_equal(int_field(r.body, "requeued"), want);
    json_decref(r.body);
}

static void test_recover(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], other[AH_ID_SIZE], ev[AH_ID_SIZE], target[256], body[128];
    char since[AH_TIME_SIZE];
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    new_webhook(e, TRIGGER, "https://example.com/b", other);
    for (int i = 3; i >= 1; i--)
        publish(e, TRIGGER, e->now - i * HOUR_MS, ev);
    assert_int_equal(attempt_all(e, w, AH_OUTCOME_FAILED, 500, "", ""), 3);
    assert_int_equal(attempt_all(e, other, AH_OUTCOME_FAILED, 500, "", ""), 3);

    /* RFC 3339 with an offset: the two newest (created 2 h and 1 h ago). */
    ah_format_time(e->now - 2 * HOUR_MS - 30 * 60 * 1000, since);
    snprintf(body, sizeof body, "{\"since\":\"%s\"}", since);
    recover(e, w, body, 2);
    /* Unix seconds as a number: the rest; then nothing is left to recover. */
    recover(e, w, "{\"since\":0}", 1);
    recover(e, w, "{\"since\":\"0\"}", 0);
    json_t *list_body;
    path_of(target, sizeof target, "/webhooks/", w, "/deliveries?status=pending");
    assert_int_equal(list(e, target, &list_body), 3);
    json_decref(list_body);
    /* The other webhook's failures are untouched. */
    path_of(target, sizeof target, "/webhooks/", other, "/deliveries?status=failed");
    assert_int_equal(list(e, target, &list_body), 3);
    json_decref(list_body);

    /* A disabled webhook can be recovered (its deliveries wait for enable). */
    assert_int_equal(
        ah_store_webhook_set_active(e->store, other, false, "disabled by operator", ah_now_ms()),
        AH_OK);
    recover(e, other, "{\"since\":\"2000-01-01T00:00:00Z\"}", 3);

    path_of(target, sizeof target, "/webhooks/", w, "/recover");
    static const char *const bad[] = {NULL,
                                      "",
                                      "{}",
                                      "{\"since\":null}",
                                      "{\"since\":\"soon\"}",
                                      "{\"since\":true}",
                                      "{\"since\":-5}",
                                      "[0]",
                                      "{\"since\":"};
    for (size_t i = 0; i < AH_ARRAY_LEN(bad); i++)
        expect_status(call(e, "POST", target, bad[i]), 400);

    assert_int_equal(ah_store_webhook_deregister(e->store, w, "crm", ah_now_ms()), AH_OK);
    expect_status(call(e, "POST", target, "{\"since\":0}"), 409);
}

static void test_rotate_secret(void **state)
{
    env_t *e = *state;
    char w[AH_ID_SIZE], target[256], secret[AH_SECRET_MAX];
    new_webhook(e, TRIGGER, "https://example.com/a", w);
    path_of(target, sizeof target, "/webhooks/", w, "/rotate-secret");

    int64_t before = ah_now_ms();
    reply_t r = call(e, "POST", target, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_object_size(r.body), 3);
    assert_string_equal(str_field(r.body, "id"), w);
    ah_strlcpy(secret, str_field(r.body, "secret"), sizeof secret);
    assert_memory_equal(secret, "whsec_", 6);
    assert_true(strlen(secret) > 6);
    int64_t until = 0;
    assert_int_equal(ah_parse_time(str_field(r.body, "previousSecretValidUntil"), &until), AH_OK);
    assert_true(until >= before + 24 * HOUR_MS - 1000 && until <= ah_now_ms() + 24 * HOUR_MS);
    json_decref(r.body);

    ah_webhook_t *got = calloc(1, sizeof *got);
    assert_non_null(got);
    assert_int_equal(ah_store_webhook_get(e->store, w, got), AH_OK);
    assert_string_equal(got->secret, secret);
    assert_string_equal(got->prev_secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj");
    assert_true(got->prev_secret_until >= until - 1000 && got->prev_secret_until <= until + 1000);
    free(got);

    /* Each rotation makes a new secret. */
    r = call(e, "POST", target, NULL);
    assert_int_equal(r.status, 200);
    assert_string_not_equal(str_field(r.body, "secret"), secret);
    json_decref(r.body);

    assert_int_equal(ah_store_webhook_deregister(e->store, w, "crm", ah_now_ms()), AH_OK);
    expect_status(call(e, "POST", target, NULL), 409);
}

/* ------------------------------------------------------------------------ */
/* The three views of a webhook (ah_webhook_json): keys in wire order.       */

static void assert_keys(json_t *o, const char *const *want, size_t n)
{
    assert_non_null(o);
    assert_int_equal(json_object_size(o), n);
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        (void)v;
        if (strcmp(key, want[i]) != 0)
            fail_msg("key %zu is %s, want %s", i, key, want[i]);
        i++;
    }
}

static void test_webhook_views(void **state)
{
    env_t *e = *state;
    char id[AH_ID_SIZE], target[128];
    new_webhook(e, TRIGGER, "https://example.com/hook", id);
    static const char *const admin[] = {"id",           "communityId",    "triggerMetaInfoId",
                                        "name",         "description",    "url",
                                        "platformName", "airmeetId",      "sessionId",
                                        "isActive",     "disabledReason", "metaData",
                                        "createdAt",    "updatedAt",      "createdBy",
                                        "updatedBy",    "deregisteredAt", "failingSince"};
    static const char *const list[] = {"id",        "triggerMetaInfoId", "name",      "description",
                                       "url",       "platformName",      "isActive",  "metaData",
                                       "createdAt", "updatedAt",         "createdBy", "updatedBy"};
    static const char *const registered[] = {
        "id",           "triggerMetaInfoId", "name",      "description", "url",
        "platformName", "airmeetId",         "sessionId", "isActive",    "metaData",
        "createdAt",    "updatedAt",         "createdBy", "updatedBy",   "secret"};
    /* The admin view through the API, with JSON_PRESERVE_ORDER as on the wire. */
    snprintf(target, sizeof target, "/webhooks/%s", id);
    reply_t r = call(e, "GET", target, NULL);
    assert_int_equal(r.status, 200);
    assert_keys(r.body, admin, AH_ARRAY_LEN(admin));
    assert_null(json_object_get(r.body, "secret"));
    json_decref(r.body);
    ah_webhook_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    assert_int_equal(ah_store_webhook_get(e->store, id, w), AH_OK);
    json_t *j = ah_webhook_json(w, AH_VIEW_LIST);
    assert_keys(j, list, AH_ARRAY_LEN(list));
    json_decref(j);
    j = ah_webhook_json(w, AH_VIEW_REGISTERED);
    assert_keys(j, registered, AH_ARRAY_LEN(registered));
    assert_string_equal(str_field(j, "secret"), w->secret);
    assert_null_field(j, "airmeetId");
    json_decref(j);
    free(w);
}

/* ------------------------------------------------------------------------ */
/* Retention.                                                                */

/* Without a purge (--retention 0): nothing is removed, and the answer says so. */
static void test_retention_off(void **state)
{
    env_t *e = *state;
    expect_status(call_as(e, false, "GET", "/retention", NULL), 401);
    expect_status(call(e, "POST", "/retention", NULL), 405);
    reply_t r = call(e, "GET", "/retention", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(int_field(r.body, "retentionSeconds"), 0);
    assert_true(json_is_false(json_object_get(r.body, "purging")));
    assert_non_null(strstr(str_field(r.body, "policy"), "nothing is removed"));
    assert_int_equal(int_field(json_object_get(r.body, "removedSinceStart"), "events"), 0);
    assert_null_field(r.body, "lastPassAt");
    assert_null_field(r.body, "disk");
    json_decref(r.body);
}

/* With one: an old delivered event goes, a pending one stays, and the answer counts it. */
static void test_retention_on(void **state)
{
    env_t *e = *state;
    char hook[AH_ID_SIZE], down[AH_ID_SIZE], done_ev[AH_ID_SIZE], pending_ev[AH_ID_SIZE];
    new_webhook(e, TRIGGER, "https://example.com/ok", hook);
    assert_int_equal(publish(e, TRIGGER, e->now - 10 * HOUR_MS, done_ev), 1);
    assert_int_equal(attempt_all(e, hook, AH_OUTCOME_SUCCEEDED, 200, "", "ok"), 1);
    new_webhook(e, OTHER_TRIGGER, "https://example.com/down", down);
    assert_int_equal(publish(e, OTHER_TRIGGER, e->now - 10 * HOUR_MS, pending_ev), 1);
    assert_int_equal(attempt_all(e, down, AH_OUTCOME_RETRY, 503, "", "down"), 1);

    char err[128] = "";
    e->app.cfg.retention_ms = 1000;
    assert_int_equal(ah_retention_start(e->store, 1000, &e->app.retention, err, sizeof err), AH_OK);
    /* The outcome was just recorded: it goes once it is a second old, on the next pass. */
    json_int_t removed = 0;
    for (int i = 0; i < 500 && removed < 1; i++) {
        reply_t r = call(e, "GET", "/retention", NULL);
        assert_int_equal(r.status, 200);
        removed = int_field(json_object_get(r.body, "removedSinceStart"), "events");
        json_decref(r.body);
        if (removed < 1)
            usleep(20 * 1000);
    }
    assert_int_equal(removed, 1);
    char path[160];
    path_of(path, sizeof path, "/events/", done_ev, "/deliveries");
    expect_status(call(e, "GET", path, NULL), 404);
    json_t *body = NULL;
    path_of(path, sizeof path, "/events/", pending_ev, "/deliveries");
    assert_int_equal(list(e, path, &body), 1);
    json_decref(body);

    reply_t r = call(e, "GET", "/retention", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(int_field(r.body, "retentionSeconds"), 1);
    assert_true(json_is_true(json_object_get(r.body, "purging")));
    json_t *gone = json_object_get(r.body, "removedSinceStart");
    assert_int_equal(int_field(gone, "deliveries"), 1);
    assert_int_equal(int_field(gone, "attempts"), 1);
    assert_true(int_field(r.body, "passes") >= 1);
    str_field(r.body, "lastPassAt");
    json_t *disk = json_object_get(r.body, "disk");
    assert_true(int_field(disk, "fileBytes") > 0);
    assert_true(json_is_true(json_object_get(disk, "shrinks")));
    json_decref(r.body);
    ah_retention_stop(e->app.retention);
    e->app.retention = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_webhook_deliveries_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pagination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_get_with_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_on, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
