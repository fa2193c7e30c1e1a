/* SPDX-License-Identifier: MIT */
/*
 * test_store_quota.c: quotas per community in the store layer (store.h,
 * "quotas per community"): the operator's quotas, the count of active
 * webhooks the store keeps, registration and enabling within a quota (one
 * atomic step, also under concurrent registrations from several handles
 * on one database, as several nodes would run them), and the webhook-list
 * read that hands rows over one at a time, whole or by pages.
 *
 * Like test_store.c, it runs on the backend AH_TEST_STORE names (`make
 * test-pg` runs it on PostgreSQL); the migration of an existing SQLite
 * file is SQLite's own.  Threaded tests never call cmocka from a worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store_backend.h"

#define T0 1700000000000LL

static int open_store(void **state)
{
    return tb_setup(state);
}

static int close_store(void **state)
{
    return tb_teardown(state);
}

static void new_community(ah_store_t *s, ah_community_t *c, const char *name)
{
    memset(c, 0, sizeof *c);
    ah_uuid_v4(c->id);
    ah_strlcpy(c->name, name, sizeof c->name);
    c->created_at = T0;
    assert_int_equal(ah_store_community_create(s, c), AH_OK);
}

/* A webhook as the register handler builds it; its url ends in tag. */
static void fill_webhook(ah_webhook_t *w, const char *community_id, const char *tag, int64_t at)
{
    memset(w, 0, sizeof *w);
    ah_uuid_v4(w->id);
    ah_strlcpy(w->community_id, community_id, sizeof w->community_id);
    ah_strlcpy(w->trigger, "trigger.airmeet.created", sizeof w->trigger);
    ah_strlcpy(w->name, "crm sync", sizeof w->name);
    snprintf(w->url, sizeof w->url, "https://example.com/hooks/%s", tag);
    ah_strlcpy(w->platform_name, "zapier", sizeof w->platform_name);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "", sizeof w->meta_data);
    w->created_at = w->updated_at = at;
    ah_strlcpy(w->created_by, "key label", sizeof w->created_by);
    ah_strlcpy(w->secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj", sizeof w->secret);
}

static int64_t active_of(ah_store_t *s, const char *community_id)
{
    int64_t n = -1;
    assert_int_equal(ah_store_webhook_count_active(s, community_id, &n), AH_OK);
    return n;
}

/*
 * ah_store_webhook_register_within, or with use_async its asynchronous
 * form (SQLite: in the publisher's batches), waited for.
 */
static bool use_async;

typedef struct reg_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int rc;
} reg_wait_t;

static void reg_done(void *arg, int rc)
{
    reg_wait_t *r = arg;
    pthread_mutex_lock(&r->mu);
    r->done = true;
    r->rc = rc;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int reg(ah_store_t *s, const ah_webhook_t *w, int64_t max, ah_webhook_t *out, bool *existed)
{
    if (!use_async)
        return ah_store_webhook_register_within(s, w, max, out, existed);
    reg_wait_t r = {.done = false};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    ah_store_webhook_register_async(s, w, max, out, existed, reg_done, &r);
    pthread_mutex_lock(&r.mu);
    while (!r.done)
        pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return r.rc;
}

/*
 * n asynchronous registrations in flight at once, as a busy listener hands
 * them over (in[i] within max[i], 0: no quota); waits for every answer and
 * puts each status in rc[i].
 */
static void reg_many(ah_store_t *s, const ah_webhook_t *in, const int64_t *max, ah_webhook_t *out,
                     bool *existed, int *rc, int n)
{
    reg_wait_t *wait = calloc((size_t)n, sizeof *wait);
    assert_non_null(wait);
    for (int i = 0; i < n; i++) {
        pthread_mutex_init(&wait[i].mu, NULL);
        pthread_cond_init(&wait[i].cv, NULL);
        existed[i] = false;
    }
    for (int i = 0; i < n; i++)
        ah_store_webhook_register_async(s, &in[i], max[i], &out[i], &existed[i], reg_done,
                                        &wait[i]);
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&wait[i].mu);
        while (!wait[i].done)
            pthread_cond_wait(&wait[i].cv, &wait[i].mu);
        pthread_mutex_unlock(&wait[i].mu);
        pthread_mutex_destroy(&wait[i].mu);
        pthread_cond_destroy(&wait[i].cv);
        rc[i] = wait[i].rc;
    }
    free(wait);
}

/* Registers a new webhook tagged tag within max; returns the store's status. */
static int register_within(ah_store_t *s, const char *community_id, const char *tag, int64_t max,
                           ah_webhook_t *out)
{
    ah_webhook_t w;
    fill_webhook(&w, community_id, tag, T0);
    bool existed = true;
    int rc = reg(s, &w, max, out, &existed);
    if (rc == AH_OK)
        assert_false(existed);
    return rc;
}

/* ------------------------------------------------------------------------ */

static void test_quota_roundtrip(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_quota_t q;
    assert_int_equal(ah_store_quota_get(s, c.id, &q), AH_OK);
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        assert_int_equal(q.v[k], AH_QUOTA_UNSET);

    q.v[AH_QUOTA_WEBHOOKS] = 5;
    q.v[AH_QUOTA_URL_BYTES] = 100;
    q.v[AH_QUOTA_DESCRIPTION_BYTES] = 0;
    q.v[AH_QUOTA_REGISTER_RATE] = 0;
    assert_int_equal(ah_store_quota_set(s, c.id, &q, T0), AH_OK);
    ah_quota_t got;
    assert_int_equal(ah_store_quota_get(s, c.id, &got), AH_OK);
    assert_memory_equal(&got, &q, sizeof q);

    /* Replaced as a whole; unset again is unset. */
    q.v[AH_QUOTA_WEBHOOKS] = AH_QUOTA_UNSET;
    q.v[AH_QUOTA_NAME_BYTES] = AH_QUOTA_NAME_BYTES_MAX;
    assert_int_equal(ah_store_quota_set(s, c.id, &q, T0 + 1), AH_OK);
    assert_int_equal(ah_store_quota_get(s, c.id, &got), AH_OK);
    assert_memory_equal(&got, &q, sizeof q);

    /* Another community is untouched. */
    ah_community_t other;
    new_community(s, &other, "Other");
    assert_int_equal(ah_store_quota_get(s, other.id, &got), AH_OK);
    assert_int_equal(got.v[AH_QUOTA_URL_BYTES], AH_QUOTA_UNSET);
}

static void test_quota_refusals(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_quota_t q;
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        q.v[k] = AH_QUOTA_UNSET;
    /* Never past the field caps, never below the least that makes sense. */
    for (int k = 0; k < AH_QUOTA_COUNT; k++) {
        ah_quota_t bad = q;
        bad.v[k] = ah_quota_max(k) + 1;
        assert_int_equal(ah_store_quota_set(s, c.id, &bad, T0), AH_EINVAL);
        bad.v[k] = ah_quota_min(k) - 1;
        if (bad.v[k] != AH_QUOTA_UNSET)
            assert_int_equal(ah_store_quota_set(s, c.id, &bad, T0), AH_EINVAL);
        bad.v[k] = -2;
        assert_int_equal(ah_store_quota_set(s, c.id, &bad, T0), AH_EINVAL);
        bad.v[k] = ah_quota_max(k);
        assert_int_equal(ah_store_quota_set(s, c.id, &bad, T0), AH_OK);
    }
    assert_int_equal(ah_quota_max(AH_QUOTA_URL_BYTES), AH_URL_MAX - 1);
    assert_int_equal(ah_quota_max(AH_QUOTA_WEBHOOKS), AH_STORE_LIST_MAX);
    assert_int_equal(ah_store_quota_set(s, c.id, NULL, T0), AH_EINVAL);
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_quota_set(s, missing, &q, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_quota_set(s, NULL, &q, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_quota_get(s, missing, &q), AH_OK);
    assert_int_equal(q.v[AH_QUOTA_WEBHOOKS], AH_QUOTA_UNSET);
    int64_t n = 7;
    assert_int_equal(ah_store_webhook_count_active(s, missing, &n), AH_ENOTFOUND);
}

/* What the caches read must move when quotas are set or a key is added. */
static void test_quota_and_new_keys_bump_auth(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_cache_gen_t g0, g1, g2;
    assert_int_equal(ah_store_cache_gen(s, &g0), AH_OK);
    ah_quota_t q;
    assert_int_equal(ah_store_quota_get(s, c.id, &q), AH_OK);
    q.v[AH_QUOTA_WEBHOOKS] = 3;
    assert_int_equal(ah_store_quota_set(s, c.id, &q, T0), AH_OK);
    assert_int_equal(ah_store_cache_gen(s, &g1), AH_OK);
    assert_true(g1.auth > g0.auth);
    assert_int_equal(g1.webhooks, g0.webhooks);

    ah_access_key_t k = {0};
    ah_uuid_v4(k.id);
    ah_uuid_v4(k.access_key);
    memcpy(k.community_id, c.id, sizeof k.community_id);
    ah_strlcpy(k.label, "new", sizeof k.label);
    ah_sha256_hex("s", 1, k.secret_hash);
    k.created_at = T0;
    assert_int_equal(ah_store_access_key_create(s, &k), AH_OK);
    assert_int_equal(ah_store_cache_gen(s, &g2), AH_OK);
    assert_true(g2.auth > g1.auth);

    /* Registering moves the webhooks generation only, as before. */
    ah_webhook_t w;
    assert_int_equal(register_within(s, c.id, "a", 3, &w), AH_OK);
    ah_cache_gen_t g3;
    assert_int_equal(ah_store_cache_gen(s, &g3), AH_OK);
    assert_int_equal(g3.auth, g2.auth);
    assert_true(g3.webhooks > g2.webhooks);
}

/* The count follows every way a webhook becomes active or inactive. */
static void test_count_follows_changes(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, d;
    new_community(s, &c, "Acme");
    new_community(s, &d, "Other");
    assert_int_equal(active_of(s, c.id), 0);
    ah_webhook_t w[4];
    for (int i = 0; i < 4; i++) {
        ah_webhook_t in;
        char tag[8];
        snprintf(tag, sizeof tag, "h%d", i);
        fill_webhook(&in, c.id, tag, T0 + i);
        bool existed = true;
        assert_int_equal(ah_store_webhook_register(s, &in, &w[i], &existed), AH_OK);
        assert_false(existed);
    }
    assert_int_equal(active_of(s, c.id), 4);
    assert_int_equal(active_of(s, d.id), 0);

    /* A twin adds nothing. */
    ah_webhook_t twin = w[0], out;
    ah_uuid_v4(twin.id);
    bool existed = false;
    assert_int_equal(ah_store_webhook_register(s, &twin, &out, &existed), AH_OK);
    assert_true(existed);
    assert_int_equal(active_of(s, c.id), 4);

    assert_int_equal(ah_store_webhook_deregister(s, w[0].id, "t", T0 + 10), AH_OK);
    assert_int_equal(active_of(s, c.id), 3);
    assert_int_equal(ah_store_webhook_set_active(s, w[1].id, false, "disabled", T0 + 11), AH_OK);
    assert_int_equal(active_of(s, c.id), 2);
    assert_int_equal(ah_store_webhook_set_active(s, w[1].id, false, "again", T0 + 12), AH_OK);
    assert_int_equal(active_of(s, c.id), 2);
    assert_int_equal(ah_store_webhook_set_active(s, w[1].id, true, NULL, T0 + 13), AH_OK);
    assert_int_equal(active_of(s, c.id), 3);

    /* The dispatcher disabling one (410 Gone) counts too. */
    ah_event_t ev = {0};
    ah_uuid_v4(ev.id);
    memcpy(ev.community_id, c.id, sizeof ev.community_id);
    ah_strlcpy(ev.trigger, "trigger.airmeet.created", sizeof ev.trigger);
    ev.data = "{}";
    ev.data_len = 2;
    ev.created_at = T0 + 20;
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    assert_int_equal(res.n_deliveries, 3);
    free(res.webhook_ids);
    ah_claim_t *claims = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_delivery_claim(s, w[2].id, T0 + 30, T0 + 90, 10, &claims, &n, NULL),
                     AH_OK);
    assert_int_equal(n, 1);
    ah_attempt_result_t r;
    memset(&r, 0, sizeof r);
    memcpy(r.delivery_id, claims[0].delivery_id, sizeof r.delivery_id);
    memcpy(r.webhook_id, w[2].id, sizeof r.webhook_id);
    r.attempt.attempt_no = 1;
    r.attempt.started_at = T0 + 31;
    r.attempt.status_code = 410;
    r.outcome = AH_OUTCOME_FAILED;
    ah_strlcpy(r.disable_reason, "410 Gone", sizeof r.disable_reason);
    assert_int_equal(ah_store_delivery_record(s, &r, 1), AH_OK);
    ah_claims_free(claims, n);
    assert_int_equal(active_of(s, c.id), 2);
}

static void test_register_within(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_webhook_t w[3], out;
    for (int i = 0; i < 3; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "h%d", i);
        assert_int_equal(register_within(s, c.id, tag, 3, &w[i]), AH_OK);
    }
    assert_int_equal(active_of(s, c.id), 3);
    /* Full: nothing is written. */
    assert_int_equal(register_within(s, c.id, "h3", 3, &out), AH_ETOOBIG);
    assert_int_equal(active_of(s, c.id), 3);
    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 3);
    free(list);

    /* Registering again what exists is answered even when full. */
    ah_webhook_t twin = w[1];
    ah_uuid_v4(twin.id);
    bool existed = false;
    assert_int_equal(reg(s, &twin, 3, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(out.id, w[1].id);

    /* A higher quota makes room; a lower one keeps what exists. */
    assert_int_equal(register_within(s, c.id, "h3", 4, &out), AH_OK);
    assert_int_equal(register_within(s, c.id, "h4", 2, &out), AH_ETOOBIG);
    assert_int_equal(active_of(s, c.id), 4);

    /* Deregistering makes room. */
    assert_int_equal(ah_store_webhook_deregister(s, w[0].id, "t", T0 + 5), AH_OK);
    assert_int_equal(register_within(s, c.id, "h4", 4, &out), AH_OK);
    assert_int_equal(register_within(s, c.id, "h5", 4, &out), AH_ETOOBIG);

    /* No such community; bad arguments. */
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(register_within(s, missing, "x", 10, &out), AH_ENOTFOUND);
    ah_webhook_t in;
    fill_webhook(&in, c.id, "h9", T0);
    if (!use_async) /* there, 0 is no quota */
        assert_int_equal(reg(s, &in, 0, &out, NULL), AH_EINVAL);
    assert_int_equal(reg(s, NULL, 5, &out, NULL), AH_EINVAL);
    assert_int_equal(reg(s, &in, 5, NULL, NULL), AH_EINVAL);
}

/* The same through ah_store_webhook_register_async (batched with publishes on SQLite). */
static void test_register_within_async(void **state)
{
    use_async = true;
    test_register_within(state);
    /* Without a quota, a twin is answered as register answers it. */
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Unbounded");
    ah_webhook_t w, twin, out;
    fill_webhook(&w, c.id, "u", T0);
    bool existed = true;
    assert_int_equal(reg(s, &w, 0, &out, &existed), AH_OK);
    assert_false(existed);
    twin = w;
    ah_uuid_v4(twin.id);
    assert_int_equal(reg(s, &twin, 0, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(out.id, w.id);
    use_async = false;
}

/*
 * Many asynchronous registrations in flight at once, as a busy listener
 * hands them over: the backend commits them in batches (SQLite and
 * PostgreSQL alike), and each still gets its own answer: new, a twin of
 * one registered (its id), or no room.
 */
#define BURST_NEW 20
#define BURST_TWINS 5
#define BURST_QUOTA 4
#define BURST_FULL 10
#define BURST_ALL (BURST_NEW + BURST_TWINS + BURST_FULL)

static void test_register_async_burst(void **state)
{
    ah_store_t *s = *state;
    ah_community_t open, full;
    new_community(s, &open, "Open");
    new_community(s, &full, "Small");
    static ah_webhook_t in[BURST_ALL], out[BURST_ALL];
    int64_t max[BURST_ALL];
    bool existed[BURST_ALL];
    int rc[BURST_ALL];
    for (int i = 0; i < BURST_ALL; i++) {
        char tag[16];
        if (i < BURST_NEW)
            snprintf(tag, sizeof tag, "n%d", i);
        else if (i < BURST_NEW + BURST_TWINS)
            snprintf(tag, sizeof tag, "n%d", i - BURST_NEW); /* the same url as an earlier one */
        else
            snprintf(tag, sizeof tag, "f%d", i);
        fill_webhook(&in[i], i < BURST_NEW + BURST_TWINS ? open.id : full.id, tag, T0);
        max[i] = i < BURST_NEW + BURST_TWINS ? 0 : BURST_QUOTA;
    }
    reg_many(s, in, max, out, existed, rc, BURST_ALL);
    int ok_full = 0, toobig = 0;
    for (int i = 0; i < BURST_ALL; i++) {
        if (i < BURST_NEW + BURST_TWINS) {
            assert_int_equal(rc[i], AH_OK);
            /*
             * in[k] and in[BURST_NEW + k] (k < BURST_TWINS) are twins: the
             * publisher threads' batches may commit in either order, so either
             * is the new one, and both are answered with its id.
             */
            int k = i < BURST_NEW ? i : i - BURST_NEW;
            if (k >= BURST_TWINS) {
                assert_false(existed[i]);
                assert_string_equal(out[i].id, in[i].id);
                continue;
            }
            int twin = i < BURST_NEW ? i + BURST_NEW : k;
            assert_true(existed[i] != existed[twin]);
            assert_string_equal(out[i].id, existed[i] ? in[twin].id : in[i].id);
        } else if (rc[i] == AH_OK) {
            assert_false(existed[i]);
            ok_full++;
        } else {
            assert_int_equal(rc[i], AH_ETOOBIG);
            toobig++;
        }
    }
    assert_int_equal(ok_full, BURST_QUOTA);
    assert_int_equal(toobig, BURST_FULL - BURST_QUOTA);
    assert_int_equal(active_of(s, open.id), BURST_NEW);
    assert_int_equal(active_of(s, full.id), BURST_QUOTA);
    ah_webhook_t got;
    assert_int_equal(ah_store_webhook_get(s, in[BURST_NEW - 1].id, &got), AH_OK);
    assert_string_equal(got.url, in[BURST_NEW - 1].url);
}

/*
 * A twin inside a quota: the community has room for exactly the new
 * registrations of the burst, and twins of them arrive beside them.  A
 * twin takes no room, so every new one is registered and every twin
 * answered with the first one's id, however the burst is cut into batches.
 */
#define TWIN_QUOTA 6

static void test_register_async_twins_within_quota(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Exact");
    enum { N = 2 * TWIN_QUOTA };
    static ah_webhook_t in[N], out[N];
    int64_t max[N];
    bool existed[N];
    int rc[N];
    for (int i = 0; i < N; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "t%d", i / 2); /* in[2k + 1] is a twin of in[2k] */
        fill_webhook(&in[i], c.id, tag, T0);
        max[i] = TWIN_QUOTA;
    }
    reg_many(s, in, max, out, existed, rc, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rc[i], AH_OK);
        assert_true(existed[i] != existed[i ^ 1]); /* of a pair, one is new and one its twin */
        assert_string_equal(out[i].id, existed[i] ? in[i ^ 1].id : in[i].id);
    }
    assert_int_equal(active_of(s, c.id), TWIN_QUOTA);
}

static void test_enable_within(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_webhook_t w[3];
    for (int i = 0; i < 3; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "h%d", i);
        assert_int_equal(register_within(s, c.id, tag, 3, &w[i]), AH_OK);
    }
    assert_int_equal(ah_store_webhook_set_active(s, w[0].id, false, "410 Gone", T0 + 1), AH_OK);
    /* The room it left is taken by a new registration; enabling it would pass the quota. */
    ah_webhook_t out;
    assert_int_equal(register_within(s, c.id, "h3", 3, &out), AH_OK);
    assert_int_equal(ah_store_webhook_enable_within(s, w[0].id, 3, T0 + 2), AH_ETOOBIG);
    ah_webhook_t got;
    assert_int_equal(ah_store_webhook_get(s, w[0].id, &got), AH_OK);
    assert_false(got.is_active);
    assert_string_equal(got.disabled_reason, "410 Gone");
    /* Enabling an active one is no change, full or not. */
    assert_int_equal(ah_store_webhook_enable_within(s, w[1].id, 3, T0 + 3), AH_OK);
    assert_int_equal(active_of(s, c.id), 3);
    /* With room it is enabled, as set_active does. */
    assert_int_equal(ah_store_webhook_enable_within(s, w[0].id, 4, T0 + 4), AH_OK);
    assert_int_equal(ah_store_webhook_get(s, w[0].id, &got), AH_OK);
    assert_true(got.is_active);
    assert_string_equal(got.disabled_reason, "");
    assert_int_equal(got.updated_at, T0 + 4);
    assert_int_equal(active_of(s, c.id), 4);
    /* Deregistered or missing: not found. */
    assert_int_equal(ah_store_webhook_deregister(s, w[2].id, "t", T0 + 5), AH_OK);
    assert_int_equal(ah_store_webhook_enable_within(s, w[2].id, 100, T0 + 6), AH_ENOTFOUND);
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_webhook_enable_within(s, missing, 100, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_enable_within(s, NULL, 100, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_enable_within(s, w[0].id, 0, T0), AH_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Concurrent registrations at quota - 1: exactly one wins, every round.     */

#define N_HANDLES 2
#define N_THREADS 8
#define N_ROUNDS 6
#define QUOTA_AT 5

typedef struct race {
    ah_store_t *stores[N_HANDLES];
    const char *community_id;
    pthread_barrier_t go, done;
    int rc[N_ROUNDS][N_THREADS];
} race_t;

typedef struct racer {
    race_t *race;
    int index;
} racer_t;

static void *racer_thread(void *arg)
{
    racer_t *me = arg;
    race_t *r = me->race;
    ah_store_t *s = r->stores[me->index % N_HANDLES];
    ah_webhook_t *w = malloc(sizeof *w), *out = malloc(sizeof *out);
    for (int round = 0; round < N_ROUNDS; round++) {
        char tag[32];
        snprintf(tag, sizeof tag, "r%d-t%d", round, me->index);
        pthread_barrier_wait(&r->go);
        if (w && out) {
            fill_webhook(w, r->community_id, tag, T0 + round);
            r->rc[round][me->index] =
                ah_store_webhook_register_within(s, w, QUOTA_AT + round, out, NULL);
        } else {
            r->rc[round][me->index] = AH_ENOMEM;
        }
        pthread_barrier_wait(&r->done);
    }
    free(w);
    free(out);
    return NULL;
}

/*
 * Each round starts with the community one short of its quota (QUOTA_AT +
 * round, grown by one each round) and N_THREADS registrations of distinct
 * urls race for the last place, through N_HANDLES handles on one database.
 */
static void race_for_the_last_place(race_t *r)
{
    ah_store_t *s = r->stores[0];
    ah_community_t c;
    new_community(s, &c, "Raced");
    r->community_id = c.id;
    for (int i = 0; i < QUOTA_AT - 1; i++) {
        char tag[16];
        ah_webhook_t out;
        snprintf(tag, sizeof tag, "pre%d", i);
        assert_int_equal(register_within(s, c.id, tag, QUOTA_AT, &out), AH_OK);
    }
    pthread_barrier_init(&r->go, NULL, N_THREADS + 1);
    pthread_barrier_init(&r->done, NULL, N_THREADS + 1);
    pthread_t th[N_THREADS];
    racer_t who[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        who[i] = (racer_t){r, i};
        assert_int_equal(pthread_create(&th[i], NULL, racer_thread, &who[i]), 0);
    }
    for (int round = 0; round < N_ROUNDS; round++) {
        pthread_barrier_wait(&r->go);
        pthread_barrier_wait(&r->done);
        /* The next round's quota is one more: one place again. */
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r->go);
    pthread_barrier_destroy(&r->done);
    for (int round = 0; round < N_ROUNDS; round++) {
        int won = 0;
        for (int i = 0; i < N_THREADS; i++) {
            if (r->rc[round][i] == AH_OK)
                won++;
            else if (r->rc[round][i] != AH_ETOOBIG)
                fail_msg("round %d thread %d: %s", round, i, ah_strerror(r->rc[round][i]));
        }
        if (won != 1)
            fail_msg("round %d: %d registrations took the last place", round, won);
    }
    assert_int_equal(active_of(s, c.id), QUOTA_AT + N_ROUNDS - 1);
    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, QUOTA_AT + N_ROUNDS - 1);
    free(list);
}

/* Two handles on one database: PostgreSQL's nodes, or two processes on one SQLite file. */
static void test_concurrent_register_at_quota(void **state)
{
    ah_store_t *s = *state;
    race_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->stores[0] = s;
    char err[256];
    ah_store_t *second = NULL;
    if (tb_pg())
        assert_int_equal(ah_store_open(tb_dsn_of(s), &second, err, sizeof err), AH_OK);
    r->stores[1] = second ? second : s;
    race_for_the_last_place(r);
    ah_store_close(second);
    free(r);
}

static void test_concurrent_register_at_quota_file(void **state)
{
    const tmpdb_t *t = *state;
    race_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    for (int i = 0; i < N_HANDLES; i++)
        r->stores[i] = open_file(t);
    race_for_the_last_place(r);
    for (int i = 0; i < N_HANDLES; i++)
        ah_store_close(r->stores[i]);
    free(r);
}

/* ------------------------------------------------------------------------ */
/* The webhook-list read.                                                    */

typedef struct seen {
    char ids[32][AH_ID_SIZE];
    size_t n;
    int fail_at; /* answer AH_ENOMEM on this row (1-based); 0: never */
} seen_t;

static int see(void *arg, const ah_webhook_t *w)
{
    seen_t *v = arg;
    if (v->n >= 32)
        return AH_ETOOBIG;
    memcpy(v->ids[v->n++], w->id, AH_ID_SIZE);
    return (int)v->n == v->fail_at ? AH_ENOMEM : AH_OK;
}

static void test_each_active(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, other;
    new_community(s, &c, "Acme");
    new_community(s, &other, "Other");
    ah_airmeet_t a = {0};
    ah_uuid_v4(a.id);
    memcpy(a.community_id, c.id, sizeof a.community_id);
    ah_strlcpy(a.name, "Launch", sizeof a.name);
    a.created_at = T0;
    assert_int_equal(ah_store_airmeet_create(s, &a), AH_OK);
    /* Seven webhooks, two of them at the same millisecond, one scoped, one gone. */
    ah_webhook_t w[7], out;
    static const int64_t at[7] = {5, 1, 3, 3, 2, 6, 4};
    for (int i = 0; i < 7; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "h%d", i);
        fill_webhook(&w[i], c.id, tag, T0 + at[i]);
        if (i == 6)
            memcpy(w[i].airmeet_id, a.id, sizeof w[i].airmeet_id);
        assert_int_equal(ah_store_webhook_register_within(s, &w[i], 100, &out, NULL), AH_OK);
    }
    fill_webhook(&out, other.id, "x", T0);
    assert_int_equal(ah_store_webhook_register(s, &out, &out, NULL), AH_OK);
    assert_int_equal(ah_store_webhook_deregister(s, w[5].id, "t", T0 + 9), AH_OK);

    /* Whole: the order of list_active, row for row. */
    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 6);
    seen_t all = {0};
    ah_webhook_query_t q = {.community_id = c.id};
    char next[AH_CURSOR_SIZE] = "x";
    assert_int_equal(ah_store_webhook_each_active(s, &q, see, &all, next), AH_OK);
    assert_int_equal(all.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(all.ids[i], list[i].id);
    assert_string_equal(next, "");
    free(list);

    /* By pages of two: the same rows, a cursor between pages, "" after the last. */
    seen_t paged = {0};
    char cursor[AH_CURSOR_SIZE] = "";
    int pages = 0;
    do {
        q.cursor = cursor;
        q.limit = 2;
        size_t before = paged.n;
        assert_int_equal(ah_store_webhook_each_active(s, &q, see, &paged, next), AH_OK);
        assert_true(paged.n - before <= 2);
        memcpy(cursor, next, sizeof cursor);
        pages++;
    } while (cursor[0] && pages < 10);
    assert_int_equal(pages, 3);
    assert_int_equal(paged.n, all.n);
    assert_memory_equal(paged.ids, all.ids, sizeof all.ids[0] * all.n);

    /* A page is not shifted by a registration before its cursor. */
    q.cursor = NULL;
    q.limit = 3;
    seen_t first = {0};
    assert_int_equal(ah_store_webhook_each_active(s, &q, see, &first, next), AH_OK);
    ah_webhook_t early;
    fill_webhook(&early, c.id, "early", T0);
    assert_int_equal(ah_store_webhook_register(s, &early, &out, NULL), AH_OK);
    seen_t rest = {0};
    q.cursor = next;
    assert_int_equal(ah_store_webhook_each_active(s, &q, see, &rest, next), AH_OK);
    assert_int_equal(rest.n, 3);
    assert_string_equal(rest.ids[0], all.ids[3]);
    assert_string_equal(next, "");

    /* Filters as list_active's. */
    seen_t scoped = {0};
    ah_webhook_query_t qa = {.community_id = c.id, .airmeet_id = a.id};
    assert_int_equal(ah_store_webhook_each_active(s, &qa, see, &scoped, NULL), AH_OK);
    assert_int_equal(scoped.n, 1);
    assert_string_equal(scoped.ids[0], w[6].id);
    seen_t none = {0};
    ah_webhook_query_t qn = {.community_id = NULL};
    assert_int_equal(ah_store_webhook_each_active(s, &qn, see, &none, NULL), AH_OK);
    assert_int_equal(none.n, 0);

    /* The callback's failure ends the read. */
    seen_t failing = {.fail_at = 2};
    ah_webhook_query_t qf = {.community_id = c.id};
    assert_int_equal(ah_store_webhook_each_active(s, &qf, see, &failing, NULL), AH_ENOMEM);
    assert_int_equal(failing.n, 2);

    /* Refusals. */
    ah_webhook_query_t bad = {.community_id = c.id, .limit = AH_WEBHOOK_PAGE_MAX + 1};
    assert_int_equal(ah_store_webhook_each_active(s, &bad, see, &none, NULL), AH_EINVAL);
    bad.limit = 1;
#define SOME_ID "00000000-0000-4000-8000-000000000000"
    static const char *const cursors[] = {"x", "12_notauuid", "_" SOME_ID,
                                          "1234567890123456789012_" SOME_ID};
    for (size_t i = 0; i < AH_ARRAY_LEN(cursors); i++) {
        bad.cursor = cursors[i];
        assert_int_equal(ah_store_webhook_each_active(s, &bad, see, &none, NULL), AH_EINVAL);
    }
    assert_int_equal(ah_store_webhook_each_active(s, NULL, see, &none, NULL), AH_EINVAL);
    assert_int_equal(ah_store_webhook_each_active(s, &qf, NULL, &none, NULL), AH_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* SQLite: an existing database's webhooks are counted by the migration.    */

static void test_migration_counts_existing(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    ah_community_t c, d;
    new_community(s, &c, "Acme");
    new_community(s, &d, "Empty");
    ah_webhook_t w[3], out;
    for (int i = 0; i < 3; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "h%d", i);
        fill_webhook(&w[i], c.id, tag, T0 + i);
        assert_int_equal(ah_store_webhook_register(s, &w[i], &out, NULL), AH_OK);
    }
    assert_int_equal(ah_store_webhook_deregister(s, w[0].id, "t", T0 + 5), AH_OK);
    ah_store_close(s);

    /* Back to the schema before quotas (version 4), as an older airhook left it. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  TB_SQLITE_UNDO_MIGRATION_14
                                  /* Migration 13's index and column. */
                                  "DROP INDEX webhooks_disabled;"
                                  "ALTER TABLE attempts DROP COLUMN response_headers;"
                                  /* Migration 12's tables. */
                                  "DROP TABLE listener_secrets; DROP TABLE listeners;"
                                  /* Migration 10's column. */
                                  "ALTER TABLE events DROP COLUMN test;"
                                  /* Migration 8's table, index and columns. */
                                  "DROP TABLE catalog_triggers; DROP INDEX airmeets_by_creation;"
                                  "ALTER TABLE airmeets DROP COLUMN status;"
                                  "ALTER TABLE airmeets DROP COLUMN timezone;"
                                  "ALTER TABLE airmeets DROP COLUMN description;"
                                  "ALTER TABLE sessions DROP COLUMN start_time;"
                                  "ALTER TABLE sessions DROP COLUMN duration;"
                                  "ALTER TABLE sessions DROP COLUMN status;"
                                  "ALTER TABLE sessions DROP COLUMN summary;"
                                  "ALTER TABLE sessions DROP COLUMN type;"
                                  "DROP INDEX events_by_age;" /* migration 6 */
                                  "DROP TABLE community_usage; DROP TABLE community_quotas;"
                                  "DROP TRIGGER usage_community_insert;"
                                  "DROP TRIGGER usage_webhook_insert;"
                                  "DROP TRIGGER usage_webhook_delete;"
                                  "DROP TRIGGER usage_webhook_update;"
                                  "DROP TRIGGER cache_gen_key_insert;"
                                  "PRAGMA user_version = 4;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    s = open_file(t);
    assert_int_equal(active_of(s, c.id), 2);
    assert_int_equal(active_of(s, d.id), 0);
    assert_int_equal(register_within(s, c.id, "h9", 3, &out), AH_OK);
    assert_int_equal(register_within(s, c.id, "h10", 3, &out), AH_ETOOBIG);
    ah_store_close(s);
}

static const struct CMUnitTest common_tests[] = {
    cmocka_unit_test_setup_teardown(test_quota_roundtrip, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_quota_refusals, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_quota_and_new_keys_bump_auth, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_count_follows_changes, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_register_within, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_register_within_async, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_register_async_burst, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_register_async_twins_within_quota, open_store,
                                    close_store),
    cmocka_unit_test_setup_teardown(test_enable_within, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_concurrent_register_at_quota, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_each_active, open_store, close_store),
};

static const struct CMUnitTest sqlite_tests[] = {
    cmocka_unit_test_setup_teardown(test_concurrent_register_at_quota_file, tmpdb_setup,
                                    tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_migration_counts_existing, tmpdb_setup, tmpdb_teardown),
};

int main(void)
{
    if (tb_check())
        return 1;
    int failed = cmocka_run_group_tests_name(tb_name(), common_tests, NULL, NULL);
    if (!tb_pg())
        failed += cmocka_run_group_tests_name("sqlite files", sqlite_tests, NULL, NULL);
    return failed;
}
