/* SPDX-License-Identifier: MIT */
/*
 * test_list_share.c: the cost of webhook-list is bounded (finding 2 of the
 * Hardening issue: one list of a large community was 77.6 MB, and sixteen
 * concurrent ones took the server to 1.38 GB, each caller holding copies).
 *
 * What is checked, without timing anything: the cached body is one shared
 * buffer that every answer sends by reference (two answers point at the
 * same bytes); concurrent misses of one key run one build and share it;
 * the body is byte for byte what rendering the whole list with jansson
 * gave; airhook's paging parameters page through the same rows; and a
 * shared body is released exactly once, whoever lets it go.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "common/crypto.h"

#define TOKEN "aht_list_share_token"

/* ------------------------------------------------------------------------ */
/* Blobs and the cache's builds.                                             */

typedef struct build_job {
    pthread_mutex_t mu;
    int builds;
    int fail; /* the status a build returns */
    size_t size;
} build_job_t;

static int slow_build(void *arg, ah_blob_t **out)
{
    build_job_t *j = arg;
    pthread_mutex_lock(&j->mu);
    j->builds++;
    pthread_mutex_unlock(&j->mu);
    usleep(100 * 1000); /* long enough for every caller to arrive and wait */
    *out = NULL;
    if (j->fail)
        return j->fail;
    char chunk[256];
    memset(chunk, 'x', sizeof chunk);
    for (size_t n = 0; n < j->size; n += sizeof chunk)
        if (!ah_blob_append(out, chunk, j->size - n < sizeof chunk ? j->size - n : sizeof chunk))
            return AH_ENOMEM;
    return 0;
}

#define N_CALLERS 8

typedef struct caller {
    ah_cache_t *cache;
    build_job_t *job;
    ah_blob_t *got;
    int rc;
} caller_t;

static void *call(void *arg)
{
    caller_t *c = arg;
    c->got = ah_cache_get_or_build(c->cache, "k", 1, 7, slow_build, c->job, &c->rc);
    return NULL;
}

/* N_CALLERS concurrent misses of one key; returns how many builds ran. */
static int race(ah_cache_t *cache, build_job_t *job, caller_t callers[N_CALLERS])
{
    pthread_t th[N_CALLERS];
    job->builds = 0;
    for (int i = 0; i < N_CALLERS; i++) {
        callers[i] = (caller_t){cache, job, NULL, -1};
        assert_int_equal(pthread_create(&th[i], NULL, call, &callers[i]), 0);
    }
    for (int i = 0; i < N_CALLERS; i++)
        pthread_join(th[i], NULL);
    return job->builds;
}

static void test_concurrent_misses_build_once(void **state)
{
    (void)state;
    ah_cache_t *cache = ah_cache_new(16, 1 << 20);
    build_job_t job = {.mu = PTHREAD_MUTEX_INITIALIZER, .size = 10000};
    caller_t callers[N_CALLERS];
    assert_int_equal(race(cache, &job, callers), 1);
    for (int i = 0; i < N_CALLERS; i++) {
        assert_int_equal(callers[i].rc, 0);
        assert_ptr_equal(callers[i].got, callers[0].got); /* one buffer, shared */
        assert_int_equal(callers[i].got->len, 10000);
    }
    /* Kept: the next caller builds nothing and gets the same buffer. */
    int rc = -1;
    ah_blob_t *again = ah_cache_get_or_build(cache, "k", 1, 7, slow_build, &job, &rc);
    assert_int_equal(job.builds, 1);
    assert_ptr_equal(again, callers[0].got);
    ah_blob_release(again);
    for (int i = 0; i < N_CALLERS; i++)
        ah_blob_release(callers[i].got);
    ah_cache_stats_t st;
    ah_cache_stats(cache, &st);
    assert_int_equal(st.entries, 1);
    assert_true(st.bytes >= 10000);
    ah_cache_free(cache); /* the last reference: ASan says if anything leaks */
}

static void test_a_failed_build_is_shared_and_not_kept(void **state)
{
    (void)state;
    ah_cache_t *cache = ah_cache_new(16, 1 << 20);
    build_job_t job = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail = AH_EUNAVAIL};
    caller_t callers[N_CALLERS];
    assert_int_equal(race(cache, &job, callers), 1);
    for (int i = 0; i < N_CALLERS; i++) {
        assert_null(callers[i].got);
        assert_int_equal(callers[i].rc, AH_EUNAVAIL);
    }
    job.fail = 0;
    job.size = 10;
    int rc = -1;
    ah_blob_t *b = ah_cache_get_or_build(cache, "k", 1, 7, slow_build, &job, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(job.builds, 2);
    ah_blob_release(b);
    ah_cache_free(cache);
}

/* A body too large to keep is still built once for callers that wait together. */
static void test_a_large_build_is_shared_but_not_kept(void **state)
{
    (void)state;
    ah_cache_t *cache = ah_cache_new(16, 64 * 1024); /* keeps values up to 8 KiB */
    build_job_t job = {.mu = PTHREAD_MUTEX_INITIALIZER, .size = 100000};
    caller_t callers[N_CALLERS];
    assert_int_equal(race(cache, &job, callers), 1);
    for (int i = 0; i < N_CALLERS; i++) {
        assert_ptr_equal(callers[i].got, callers[0].got);
        ah_blob_release(callers[i].got);
    }
    ah_cache_stats_t st;
    ah_cache_stats(cache, &st);
    assert_int_equal(st.entries, 0);
    ah_cache_free(cache);
}

/* A newer generation is a miss; the entry of the older one goes. */
static void test_generations_apply_to_blobs(void **state)
{
    (void)state;
    ah_cache_t *cache = ah_cache_new(16, 1 << 20);
    build_job_t job = {.mu = PTHREAD_MUTEX_INITIALIZER, .size = 5};
    int rc;
    ah_blob_t *a = ah_cache_get_or_build(cache, "k", 1, 7, slow_build, &job, &rc);
    ah_blob_t *b = ah_cache_get_or_build(cache, "k", 1, 8, slow_build, &job, &rc);
    assert_int_equal(job.builds, 2);
    assert_ptr_not_equal(a, b);
    /* a is still readable: its holder's reference keeps it. */
    assert_memory_equal(a->data, "xxxxx", 5);
    ah_blob_release(a);
    ah_blob_release(b);
    /* A fixed-size lookup never reads a blob entry. */
    char out[5];
    assert_false(ah_cache_get(cache, "k", 1, 8, out, sizeof out));
    ah_cache_free(cache);
}

static int released;

static void count_release(void *arg)
{
    (void)arg;
    released++;
}

static void test_shared_bodies_are_released_once(void **state)
{
    (void)state;
    ah_http_resp_t resp = {0};
    released = 0;
    ah_http_resp_shared(&resp, 200, "{}", 2, count_release, NULL);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, 2);
    ah_http_resp_json(&resp, 500, json_pack("{s:s}", "a", "b")); /* replaced: released */
    assert_int_equal(released, 1);
    ah_http_resp_clear(&resp); /* a malloc'd body: freed */
    assert_null(resp.body);
    ah_http_resp_shared(&resp, 200, "{}", 2, count_release, NULL);
    ah_http_resp_clear(&resp);
    ah_http_resp_clear(&resp);
    assert_int_equal(released, 2);
    assert_null(resp.release);
}

/* ------------------------------------------------------------------------ */
/* webhook-list through the app.                                            */

typedef struct env {
    ah_store_t *store;
    ah_app_t app;
    char community_id[AH_ID_SIZE];
} env_t;

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof *e);
    char err[256] = "", tok[80];
    if (!e || ah_store_open("sqlite::memory:", &e->store, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        free(e);
        return -1;
    }
    ah_config_t cfg = {.admin_token = "adm", .base_path = "/prod", .serve_api = true};
    if (ah_app_init(&e->app, &cfg, e->store, tok, sizeof tok, err, sizeof err))
        return -1;
    int64_t now = ah_now_ms();
    ah_community_t cm = {.name = "Acme", .created_at = now};
    ah_uuid_v4(cm.id);
    memcpy(e->community_id, cm.id, AH_ID_SIZE);
    ah_access_key_t k = {.created_at = now};
    memcpy(k.community_id, cm.id, AH_ID_SIZE);
    ah_uuid_v4(k.id);
    ah_uuid_v4(k.access_key);
    ah_strlcpy(k.label, "crm", sizeof k.label);
    ah_sha256_hex("s", 1, k.secret_hash);
    ah_token_t t = {.created_at = now, .expires_at = now + 3600 * 1000};
    memcpy(t.key_id, k.id, AH_ID_SIZE);
    memcpy(t.community_id, cm.id, AH_ID_SIZE);
    memcpy(t.label, k.label, sizeof t.label);
    ah_sha256_hex(TOKEN, strlen(TOKEN), t.token_hash);
    if (ah_store_community_create(e->store, &cm) || ah_store_access_key_create(e->store, &k) ||
        ah_store_token_create(e->store, &t))
        return -1;
    /* Five webhooks, one with text that JSON escapes. */
    for (int i = 0; i < 5; i++) {
        ah_webhook_t w = {.is_active = true, .created_at = now + i, .updated_at = now + i};
        ah_uuid_v4(w.id);
        memcpy(w.community_id, cm.id, AH_ID_SIZE);
        ah_strlcpy(w.trigger, "trigger.airmeet.created", sizeof w.trigger);
        snprintf(w.name, sizeof w.name, "hook %d \"quoted\" \xc3\xa9 \\ /", i);
        snprintf(w.url, sizeof w.url, "https://example.com/h/%d", i);
        w.has_description = i % 2;
        ah_strlcpy(w.description, "line\nbreak", sizeof w.description);
        ah_strlcpy(w.created_by, "crm", sizeof w.created_by);
        ah_strlcpy(w.secret, "whsec_x", sizeof w.secret);
        if (ah_store_webhook_register(e->store, &w, &w, NULL))
            return -1;
    }
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

/* GET webhook-list with the token and the query given (NULL-terminated key, value pairs). */
static void list(env_t *e, ah_http_resp_t *resp, ...)
{
    ah_http_req_t *req = calloc(1, sizeof *req);
    assert_non_null(req);
    req->method = "GET";
    req->path = "/prod/platform-integration/v1/webhook-list";
    req->headers[0] = (ah_kv_t){"X-Airmeet-Access-Token", TOKEN};
    req->n_headers = 1;
    va_list ap;
    va_start(ap, resp);
    const char *k;
    while ((k = va_arg(ap, const char *)) && req->n_query < AH_HTTP_MAX_QUERY) {
        req->query[req->n_query].key = k;
        req->query[req->n_query++].value = va_arg(ap, const char *);
    }
    va_end(ap);
    req->body = "";
    ah_http_app_t h = ah_app_http(&e->app);
    size_t limit = 0;
    memset(resp, 0, sizeof *resp);
    if (h.prepare(h.ctx, req, &limit, resp))
        h.handle(h.ctx, req, resp);
    free(req);
}

/* What the list was before it was rendered row by row: one jansson tree, dumped. */
static char *whole_list_rendered_by_jansson(env_t *e)
{
    ah_webhook_t *all = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(e->store, e->community_id, NULL, NULL, &all, &n),
                     AH_OK);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ah_webhook_json(&all[i], AH_VIEW_LIST));
    free(all);
    json_t *o = json_pack("{s:o}", "webhookDTOList", arr);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

static void test_cached_list_is_one_shared_body(void **state)
{
    env_t *e = *state;
    ah_http_resp_t a, b;
    list(e, &a, NULL);
    list(e, &b, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_non_null(a.release);
    assert_ptr_equal(a.body, b.body); /* no copy per answer */
    char *want = whole_list_rendered_by_jansson(e);
    assert_int_equal(a.body_len, strlen(want));
    assert_memory_equal(a.body, want, a.body_len);
    free(want);
    ah_http_resp_clear(&a);
    ah_http_resp_clear(&b);
}

/* Reads the page in resp: its ids appended to ids, its nextCursor into next ("" for null). */
static void read_page(ah_http_resp_t *resp, char ids[][AH_ID_SIZE], size_t *n, char *next,
                      size_t nextsz)
{
    assert_int_equal(resp->status, 200);
    json_t *j = json_loadb(resp->body, resp->body_len, 0, NULL);
    assert_non_null(j);
    json_t *arr = json_object_get(j, "webhookDTOList"), *item;
    size_t i;
    json_array_foreach(arr, i, item)
    {
        ah_strlcpy(ids[*n], json_string_value(json_object_get(item, "id")), AH_ID_SIZE);
        (*n)++;
    }
    json_t *cursor = json_object_get(json_object_get(j, "airhook"), "nextCursor");
    assert_non_null(cursor); /* present, a string or null */
    ah_strlcpy(next, json_is_string(cursor) ? json_string_value(cursor) : "", nextsz);
    json_decref(j);
    ah_http_resp_clear(resp);
}

static void test_airhook_paging(void **state)
{
    env_t *e = *state;
    ah_http_resp_t r;
    char whole[8][AH_ID_SIZE], paged[8][AH_ID_SIZE], next[AH_CURSOR_SIZE];
    size_t n_whole = 0, n_paged = 0;
    list(e, &r, NULL);
    json_t *j = json_loadb(r.body, r.body_len, 0, NULL);
    assert_null(json_object_get(j, "airhook")); /* unpaged: Airmeet's shape, nothing added */
    json_decref(j);
    ah_http_resp_clear(&r);
    list(e, &r, "airhook.limit", "1000", NULL);
    read_page(&r, whole, &n_whole, next, sizeof next);
    assert_int_equal(n_whole, 5);
    assert_string_equal(next, "");

    list(e, &r, "airhook.limit", "2", NULL);
    read_page(&r, paged, &n_paged, next, sizeof next);
    assert_int_equal(n_paged, 2);
    int pages = 1;
    while (next[0] && pages < 10) {
        char cursor[AH_CURSOR_SIZE];
        memcpy(cursor, next, sizeof cursor);
        list(e, &r, "airhook.cursor", cursor, "airhook.limit", "2", NULL);
        read_page(&r, paged, &n_paged, next, sizeof next);
        pages++;
    }
    assert_int_equal(pages, 3);
    assert_int_equal(n_paged, n_whole);
    assert_memory_equal(paged, whole, n_whole * AH_ID_SIZE);

    /* Refusals, in the public dialect. */
    static const char *const bad[][2] = {{"airhook.limit", "0"},
                                         {"airhook.limit", "1001"},
                                         {"airhook.limit", "ten"},
                                         {"airhook.cursor", "not-a-cursor"}};
    for (size_t i = 0; i < AH_ARRAY_LEN(bad); i++) {
        list(e, &r, bad[i][0], bad[i][1], NULL);
        assert_int_equal(r.status, 400);
        j = json_loadb(r.body, r.body_len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "statusCode")), "400");
        assert_non_null(strstr(json_string_value(json_object_get(j, "message")), bad[i][0]));
        json_decref(j);
        ah_http_resp_clear(&r);
    }
}

/* ------------------------------------------------------------------------ */
/* ah_webhook_write: jansson's bytes without jansson's tree.                 */

/* Pieces of hostile text: controls, quotes, slashes, UTF-8 good and bad. */
static const char *const pieces[] = {
    "a",
    "Z",
    " ",
    "/",
    "\"",
    "\\",
    "\b",
    "\f",
    "\n",
    "\r",
    "\t",
    "\x01",
    "\x1f",
    "\x7f",
    "\xc3\xa9",         /* e acute */
    "\xe2\x9c\x93",     /* check mark */
    "\xf0\x9f\x98\x80", /* an emoji, 4 bytes */
    "\xef\xbf\xbf",     /* U+FFFF */
    "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    "\xe2\x80\xa8",     /* U+2028 */
    "\xc0\x80",         /* overlong NUL: not UTF-8 */
    "\xe0\x80\xaf",     /* overlong '/' */
    "\xed\xa0\x80",     /* a surrogate */
    "\xf4\x90\x80\x80", /* past U+10FFFF */
    "\x80",
    "\xbf",
    "\xc2",
    "\xe2\x9c",
    "\xf5\x80\x80\x80",
    "\xff",
};

static void random_text(char *out, size_t cap, unsigned *seed, bool may_be_bad)
{
    size_t len = 0, n = (size_t)(rand_r(seed) % 12);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)rand_r(seed) % AH_ARRAY_LEN(pieces);
        if (!may_be_bad && k >= AH_ARRAY_LEN(pieces) - 10)
            k = 0;
        size_t plen = strlen(pieces[k]);
        if (len + plen >= cap)
            break;
        memcpy(out + len, pieces[k], plen + 1);
        len += plen;
    }
}

static void test_webhook_write_is_jansson_s_bytes(void **state)
{
    (void)state;
    unsigned seed = 20240601;
    ah_webhook_t *w = calloc(1, sizeof *w);
    assert_non_null(w);
    int agreed_failures = 0;
    for (int round = 0; round < 3000; round++) {
        bool bad = round % 4 == 3; /* one in four may hold text that is not UTF-8 */
        memset(w, 0, sizeof *w);
        ah_uuid_v4(w->id);
        ah_uuid_v4(w->community_id);
        random_text(w->trigger, sizeof w->trigger, &seed, bad);
        random_text(w->name, sizeof w->name, &seed, bad);
        random_text(w->description, sizeof w->description, &seed, bad);
        w->has_description = rand_r(&seed) % 2;
        random_text(w->url, sizeof w->url, &seed, bad);
        random_text(w->platform_name, sizeof w->platform_name, &seed, bad);
        if (rand_r(&seed) % 2)
            ah_uuid_v4(w->airmeet_id);
        random_text(w->session_id, sizeof w->session_id, &seed, bad);
        w->is_active = rand_r(&seed) % 2;
        random_text(w->disabled_reason, sizeof w->disabled_reason, &seed, bad);
        random_text(w->meta_data, sizeof w->meta_data, &seed, bad);
        w->created_at = rand_r(&seed) % 3 ? 1700000000000LL + rand_r(&seed) : 0;
        w->updated_at = w->created_at + rand_r(&seed) % 1000;
        random_text(w->created_by, sizeof w->created_by, &seed, bad);
        random_text(w->updated_by, sizeof w->updated_by, &seed, bad);
        w->has_updated_by = rand_r(&seed) % 2;
        random_text(w->secret, sizeof w->secret, &seed, bad);
        w->deregistered_at = rand_r(&seed) % 2 ? 1700000000000LL : 0;
        w->failing_since = rand_r(&seed) % 2 ? 1700000000001LL : 0;
        for (int view = AH_VIEW_LIST; view <= AH_VIEW_ADMIN; view++) {
            json_t *o = ah_webhook_json(w, (ah_webhook_view_t)view);
            char *want = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            json_decref(o);
            ah_blob_t *b = NULL;
            bool ok = ah_webhook_write(w, (ah_webhook_view_t)view, &b);
            if (!want) {
                if (ok)
                    fail_msg("round %d view %d: jansson refused, the writer wrote %s", round, view,
                             b->data);
                agreed_failures++;
            } else {
                if (!ok)
                    fail_msg("round %d view %d: the writer refused %s", round, view, want);
                if (strlen(want) != b->len || memcmp(want, b->data, b->len) != 0)
                    fail_msg("round %d view %d:\n jansson %s\n writer  %s", round, view, want,
                             b->data);
            }
            free(want);
            ah_blob_release(b);
        }
    }
    assert_true(agreed_failures > 100); /* text that is not UTF-8 was tried, and refused alike */
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_write_is_jansson_s_bytes),
        cmocka_unit_test(test_concurrent_misses_build_once),
        cmocka_unit_test(test_a_failed_build_is_shared_and_not_kept),
        cmocka_unit_test(test_a_large_build_is_shared_but_not_kept),
        cmocka_unit_test(test_generations_apply_to_blobs),
        cmocka_unit_test(test_shared_bodies_are_released_once),
        cmocka_unit_test_setup_teardown(test_cached_list_is_one_shared_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_airhook_paging, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
