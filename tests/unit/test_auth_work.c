/* SPDX-License-Identifier: MIT */
/*
 * test_auth_work.c: a key pair check does the same work whether the access
 * key exists or not (finding 9 of the Hardening issue: a wrong secret was
 * answered in 43 us, an unknown key in 48 us).
 *
 * Time is not asserted (speed is measured by benchmarks, never in tests);
 * the work is counted instead.  public.c is compiled into this file with
 * the operations a check is made of renamed to counting wrappers (the h2o
 * habit of including the .c under test): SHA-256 hashes, constant-time
 * compares, store lookups of an access key and key-cache lookups.  A known
 * key with a wrong secret and an unknown key must count the same, on the
 * first request (the cache is cold) and on the next (it is warm).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/triggers.h"
#include "common/crypto.h"
#include "delivery/sign.h"
#include "delivery/ssrf.h"

typedef struct work {
    int hashes, compares, store_finds, cache_gets;
} work_t;

static work_t g_work;

static void counted_sha256_hex(const void *data, size_t len, char out[AH_SHA256_HEX_SIZE])
{
    g_work.hashes++;
    ah_sha256_hex(data, len, out);
}

static bool counted_ct_equal(const void *a, const void *b, size_t len)
{
    g_work.compares++;
    return ah_ct_equal(a, b, len);
}

static int counted_key_find(ah_store_t *s, const char *access_key, ah_access_key_t *out)
{
    g_work.store_finds++;
    return ah_store_access_key_find(s, access_key, out);
}

static bool counted_cache_get(ah_cache_t *c, const char *key, size_t key_len, int64_t gen,
                              void *out, size_t size)
{
    g_work.cache_gets++;
    return ah_cache_get(c, key, key_len, gen, out, size);
}

#define ah_sha256_hex counted_sha256_hex
#define ah_ct_equal counted_ct_equal
#define ah_store_access_key_find counted_key_find
#define ah_cache_get counted_cache_get
#include "api/public.c"
#undef ah_sha256_hex
#undef ah_ct_equal
#undef ah_store_access_key_find
#undef ah_cache_get

#define SECRET "ahs_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct env {
    ah_store_t *store;
    ah_app_t app;
    ah_access_key_t key;
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
    if (ah_app_init(&e->app, &cfg, e->store, tok, sizeof tok, err, sizeof err)) {
        fprintf(stderr, "app: %s\n", err);
        return -1;
    }
    ah_community_t cm = {.name = "Acme", .created_at = ah_now_ms()};
    ah_uuid_v4(cm.id);
    ah_access_key_t *k = &e->key;
    memcpy(k->community_id, cm.id, AH_ID_SIZE);
    ah_uuid_v4(k->id);
    ah_uuid_v4(k->access_key);
    ah_strlcpy(k->label, "crm-sync", sizeof k->label);
    ah_sha256_hex(SECRET, strlen(SECRET), k->secret_hash);
    k->created_at = cm.created_at;
    if (ah_store_community_create(e->store, &cm) || ah_store_access_key_create(e->store, k))
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

/* One key pair check as the dispatcher runs it: the generations, then the check. */
static int check(env_t *e, const char *access_key, const char *secret, work_t *w)
{
    ah_http_req_t req;
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.path = "/prod/auth";
    req.headers[0] = (ah_kv_t){"x-access-key", access_key};
    req.headers[1] = (ah_kv_t){"x-secret-key", secret};
    req.n_headers = 2;
    ah_cache_gen_t gen;
    assert_int_equal(ah_store_cache_gen(e->store, &gen), AH_OK);
    ah_caller_t caller;
    char why[AH_WHY_SIZE] = "";
    memset(&g_work, 0, sizeof g_work);
    int status = ah_check_key_pair(&e->app, &req, &gen, &caller, why, sizeof why);
    *w = g_work;
    return status;
}

static void assert_same_work(const work_t *a, const work_t *b, const char *when)
{
    if (memcmp(a, b, sizeof *a) != 0)
        fail_msg("%s: wrong secret did %d hashes, %d compares, %d store reads, %d cache reads;"
                 " unknown key %d, %d, %d, %d",
                 when, a->hashes, a->compares, a->store_finds, a->cache_gets, b->hashes,
                 b->compares, b->store_finds, b->cache_gets);
}

static void test_unknown_key_costs_what_a_wrong_secret_costs(void **state)
{
    env_t *e = *state;
    char unknown[AH_ID_SIZE];
    ah_uuid_v4(unknown);
    work_t wrong_cold, unknown_cold, wrong_warm, unknown_warm, right;

    assert_int_equal(check(e, e->key.access_key, "ahs_wrong", &wrong_cold), 401);
    assert_int_equal(check(e, unknown, "ahs_wrong", &unknown_cold), 401);
    assert_same_work(&wrong_cold, &unknown_cold, "first request");
    assert_int_equal(wrong_cold.hashes, 1);
    assert_int_equal(wrong_cold.compares, 1);
    assert_int_equal(wrong_cold.store_finds, 1);

    assert_int_equal(check(e, e->key.access_key, "ahs_wrong", &wrong_warm), 401);
    assert_int_equal(check(e, unknown, "ahs_wrong", &unknown_warm), 401);
    assert_same_work(&wrong_warm, &unknown_warm, "next request");
    assert_int_equal(wrong_warm.store_finds, 0);
    assert_int_equal(wrong_warm.compares, 1);

    /* And the right secret is the same work again. */
    assert_int_equal(check(e, e->key.access_key, SECRET, &right), 0);
    assert_same_work(&wrong_warm, &right, "right secret");
}

/* A key that was unknown, and then issued, is known at once: the insert moves the cache's tag. */
static void test_a_key_issued_after_a_miss_works(void **state)
{
    env_t *e = *state;
    work_t w;
    ah_access_key_t k = e->key;
    ah_uuid_v4(k.id);
    ah_uuid_v4(k.access_key);
    assert_int_equal(check(e, k.access_key, SECRET, &w), 401);
    assert_int_equal(check(e, k.access_key, SECRET, &w), 401);
    assert_int_equal(w.store_finds, 0); /* remembered as unknown */
    assert_int_equal(ah_store_access_key_create(e->store, &k), AH_OK);
    assert_int_equal(check(e, k.access_key, SECRET, &w), 0);
    assert_int_equal(w.store_finds, 1);
}

/* An unknown key never passes, whatever the secret. */
static void test_no_secret_matches_an_unknown_key(void **state)
{
    env_t *e = *state;
    char unknown[AH_ID_SIZE];
    ah_uuid_v4(unknown);
    work_t w;
    assert_int_equal(check(e, unknown, e->key.secret_hash, &w), 401);
    assert_int_equal(check(e, unknown, "", &w), 401);
    assert_int_equal(check(e, unknown, SECRET, &w), 401);
    char too_long[AH_ACCESS_KEY_MAX + 8];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(check(e, too_long, SECRET, &w), 401);
    assert_int_equal(w.hashes, 1);
    assert_int_equal(w.compares, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_key_costs_what_a_wrong_secret_costs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_key_issued_after_a_miss_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_matches_an_unknown_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
