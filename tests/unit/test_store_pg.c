/* SPDX-License-Identifier: MIT */
/*
 * test_store_pg.c: what only the PostgreSQL store (store_pg.c) has to get
 * right, beyond the backend-agnostic tests of test_store.c and
 * test_store_delivery.c (which also run on it with AH_TEST_STORE=postgres).
 *
 * Several store handles on one database stand for several airhook nodes:
 * migrations run once however many open at the same time, claims with
 * FOR UPDATE SKIP LOCKED never hand one delivery to two handles, an expired
 * lease is taken over, idempotency keys hold across handles, and listen()
 * hears another handle's publish.  Outages are made without stopping the
 * server: the test database refuses new connections (ALLOW_CONNECTIONS
 * false) and its backends are terminated, so every connection dies and none
 * can be made until it is allowed again.  Query plans show the loose index
 * scan and the claim using their indexes on a table of 20k deliveries.
 *
 * Like h2o's unit tests, the file #includes the backend to reach its
 * statement texts.  It needs AH_TEST_PG_DSN (scripts/pg-test.sh); without
 * one it says so and passes, unless AH_TEST_STORE=postgres asks for
 * PostgreSQL, in which case it fails.  Threaded tests never call cmocka from
 * a worker: workers record results and the main thread asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_pg.c"
#include "store_backend.h"

#define T0 1700000000000LL
#define TRIG "trigger.airmeet.registrant.added"
#define LEASE 60000

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                  */

/* A fresh, empty database (no schema yet): its name and DSN. */
typedef struct fresh {
    char name[40];
    char dsn[TB_DSN_MAX];
} fresh_t;

static int fresh_setup(void **state)
{
    fresh_t *f = calloc(1, sizeof *f);
    if (!f || tb_create_db(f->name, f->dsn)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fresh_teardown(void **state)
{
    fresh_t *f = *state;
    tb_drop_db(f->name);
    free(f);
    return 0;
}

static ah_store_t *open_dsn(const char *dsn)
{
    char err[256] = "";
    ah_store_t *s = NULL;
    int rc = ah_store_open(dsn, &s, err, sizeof err);
    if (rc != AH_OK)
        fprintf(stderr, "open %s: %s\n", dsn, err);
    assert_int_equal(rc, AH_OK);
    assert_non_null(s);
    /* Every node of a deployment has the same key file. */
    assert_non_null(tb_with_keys(s));
    return s;
}

/* Runs fixed SQL on the maintenance connection (the server DSN). */
static void admin_exec(const char *sql)
{
    assert_int_equal(tb_pg_exec(tb_server_dsn(), sql), 0);
}

/* Terminates every connection to database name. */
static void terminate_all(const char *name)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'", name);
    admin_exec(sql);
}

/* The database refuses new connections and loses the ones it has (or gets them back). */
static void outage(const char *name, bool down)
{
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS %s", name,
             down ? "false" : "true");
    admin_exec(sql);
    if (down)
        terminate_all(name);
}

static void new_community(ah_store_t *s, ah_community_t *c)
{
    memset(c, 0, sizeof *c);
    ah_uuid_v4(c->id);
    ah_strlcpy(c->name, "Acme", sizeof c->name);
    c->created_at = T0;
    assert_int_equal(ah_store_community_create(s, c), AH_OK);
}

static void fill_webhook(ah_webhook_t *w, const char *community_id, const char *url)
{
    memset(w, 0, sizeof *w);
    ah_uuid_v4(w->id);
    ah_strlcpy(w->community_id, community_id, sizeof w->community_id);
    ah_strlcpy(w->trigger, TRIG, sizeof w->trigger);
    ah_strlcpy(w->name, "crm sync", sizeof w->name);
    ah_strlcpy(w->url, url, sizeof w->url);
    ah_strlcpy(w->platform_name, "zapier", sizeof w->platform_name);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "{}", sizeof w->meta_data);
    w->created_at = T0;
    w->updated_at = T0;
    ah_strlcpy(w->created_by, "key label", sizeof w->created_by);
    ah_strlcpy(w->secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj", sizeof w->secret);
}

static void new_webhook(ah_store_t *s, const char *community_id, char id[AH_ID_SIZE])
{
    ah_webhook_t *w = calloc(2, sizeof *w);
    assert_non_null(w);
    char url[80];
    ah_uuid_v4(id);
    snprintf(url, sizeof url, "https://example.com/%s", id);
    fill_webhook(w, community_id, url);
    bool existed = true;
    assert_int_equal(ah_store_webhook_register(s, w, &w[1], &existed), AH_OK);
    assert_false(existed);
    ah_strlcpy(id, w->id, AH_ID_SIZE);
    free(w);
}

static void fill_event(ah_event_t *ev, const char *community_id, const char *key, int64_t at)
{
    memset(ev, 0, sizeof *ev);
    ah_uuid_v4(ev->id);
    ah_strlcpy(ev->community_id, community_id, sizeof ev->community_id);
    ah_strlcpy(ev->trigger, TRIG, sizeof ev->trigger);
    ah_strlcpy(ev->idempotency_key, key ? key : "", sizeof ev->idempotency_key);
    ev->data = "{\"n\":1}";
    ev->data_len = strlen(ev->data);
    ev->created_at = at;
}

static void publish(ah_store_t *s, const char *community_id, int64_t at)
{
    ah_event_t ev;
    fill_event(&ev, community_id, NULL, at);
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    free(res.webhook_ids);
}

static ah_attempt_result_t success(const char *delivery_id, int64_t at)
{
    ah_attempt_result_t r;
    memset(&r, 0, sizeof r);
    ah_strlcpy(r.delivery_id, delivery_id, sizeof r.delivery_id);
    r.attempt.attempt_no = 1;
    r.attempt.started_at = at;
    r.attempt.duration_ms = 3;
    r.attempt.status_code = 200;
    r.outcome = AH_OUTCOME_SUCCEEDED;
    return r;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------ */
/* Opening and migrations.                                                   */

static void test_open_errors(void **state)
{
    (void)state;
    char err[256] = "";
    ah_store_t *s = (ah_store_t *)&err; /* must be reset to NULL */
    /* Nothing listens on port 1: unavailable, at once, without the DSN echoed. */
    int64_t t0 = ah_mono_ms();
    assert_int_equal(ah_store_open("postgres://u:hunter2@127.0.0.1:1/x", &s, err, sizeof err),
                     AH_EUNAVAIL);
    assert_true(ah_mono_ms() - t0 < 3000);
    assert_null(s);
    assert_true(err[0] != '\0');
    assert_null(strstr(err, "hunter2"));
    /* pool= must be a number in range; other parameters go to libpq. */
    char dsn[TB_DSN_MAX + 32];
    static const char *const bad_pools[] = {"?pool=0", "?pool=x", "?pool=", "?pool=99999"};
    for (size_t i = 0; i < AH_ARRAY_LEN(bad_pools); i++) {
        snprintf(dsn, sizeof dsn, "%s%s", tb_server_dsn(), bad_pools[i]);
        assert_int_equal(ah_store_open(dsn, &s, err, sizeof err), AH_EINVAL);
        assert_non_null(strstr(err, "pool="));
    }
    /* A database that does not exist. */
    char missing[TB_DSN_MAX];
    assert_int_equal(tb_dsn_for(tb_server_dsn(), "ah_no_such_db", missing, sizeof missing), 0);
    assert_int_equal(ah_store_open(missing, &s, err, sizeof err), AH_EUNAVAIL);
    assert_non_null(strstr(err, "ah_no_such_db"));
}

static void test_pool_param(void **state)
{
    const fresh_t *f = *state;
    char dsn[TB_DSN_MAX + 64];
    snprintf(dsn, sizeof dsn, "%s?application_name=ah_pool_test&pool=2", f->dsn);
    ah_store_t *s = open_dsn(dsn);
    assert_int_equal(from(s)->pool_max, 2);
    assert_null(strstr(from(s)->dsn, "pool="));
    assert_non_null(strstr(from(s)->dsn, "application_name=ah_pool_test"));
    ah_community_t c;
    new_community(s, &c);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
             " AND application_name = 'ah_pool_test'",
             f->name);
    assert_true(tb_pg_int(tb_server_dsn(), sql) <= 2);
    ah_store_close(s);
}

static void test_migrations_once(void **state)
{
    const fresh_t *f = *state;
    ah_store_t *s = open_dsn(f->dsn);
    ah_community_t c;
    new_community(s, &c);
    ah_store_close(s);
    const int64_t latest = (int64_t)AH_ARRAY_LEN(migrations);
    assert_int_equal(tb_pg_int(f->dsn, "SELECT count(*) FROM schema_migrations"), latest);
    assert_int_equal(tb_pg_int(f->dsn, "SELECT max(version) FROM schema_migrations"), latest);
    assert_int_equal(tb_pg_int(f->dsn, "SELECT count(*) FROM information_schema.tables"
                                       " WHERE table_name IN ('settings', 'communities',"
                                       " 'access_keys', 'tokens', 'airmeets', 'sessions',"
                                       " 'webhooks', 'events', 'deliveries', 'attempts')"),
                     10);
    assert_int_equal(tb_pg_int(f->dsn, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                       " ('webhooks_active_tuple', 'webhooks_match',"
                                       " 'deliveries_pending', 'deliveries_by_webhook',"
                                       " 'deliveries_by_event', 'deliveries_pending_age')"),
                     6);
    /* Opening again applies nothing and keeps the data. */
    s = open_dsn(f->dsn);
    ah_community_t got;
    assert_int_equal(ah_store_community_get(s, c.id, &got), AH_OK);
    ah_store_close(s);
    assert_int_equal(tb_pg_int(f->dsn, "SELECT count(*) FROM schema_migrations"), latest);
}

#define N_OPENERS 6

typedef struct opener {
    const char *dsn;
    pthread_barrier_t *start;
    ah_store_t *s;
    int rc;
} opener_t;

static void *open_thread(void *arg)
{
    opener_t *o = arg;
    char err[256];
    pthread_barrier_wait(o->start);
    o->rc = ah_store_open(o->dsn, &o->s, err, sizeof err);
    if (o->rc)
        fprintf(stderr, "concurrent open: %s\n", err);
    return NULL;
}

static void test_concurrent_open_migrates_once(void **state)
{
    const fresh_t *f = *state;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_OPENERS);
    opener_t o[N_OPENERS];
    pthread_t th[N_OPENERS];
    for (int i = 0; i < N_OPENERS; i++) {
        o[i] = (opener_t){.dsn = f->dsn, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, open_thread, &o[i]), 0);
    }
    for (int i = 0; i < N_OPENERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < N_OPENERS; i++) {
        assert_int_equal(o[i].rc, AH_OK);
        assert_int_equal(ah_store_ping(o[i].s), AH_OK);
        ah_store_close(o[i].s);
    }
    assert_int_equal(tb_pg_int(f->dsn, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)AH_ARRAY_LEN(migrations));
}

static void test_newer_schema_refused(void **state)
{
    const fresh_t *f = *state;
    ah_store_close(open_dsn(f->dsn));
    assert_int_equal(
        tb_pg_exec(f->dsn, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)"),
        0);
    char err[256] = "";
    ah_store_t *s = NULL;
    assert_int_equal(ah_store_open(f->dsn, &s, err, sizeof err), AH_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err, "newer"));
}

/* ------------------------------------------------------------------------ */
/* Two handles on one database: claims, leases, idempotency.                 */

#define N_QUEUED 400
#define CLAIM_BATCH 16

typedef struct claimer {
    ah_store_t *s;
    const char *webhook_id;
    pthread_barrier_t *start;
    char (*ids)[AH_ID_SIZE]; /* every delivery this handle claimed */
    size_t n;
    int failures;
} claimer_t;

static void *claim_thread(void *arg)
{
    claimer_t *k = arg;
    ah_attempt_result_t *batch = calloc(CLAIM_BATCH, sizeof *batch);
    pthread_barrier_wait(k->start);
    int idle = 0;
    while (batch && idle < 3) {
        int64_t now = ah_now_ms();
        ah_claim_t *cl = NULL;
        size_t n = 0;
        int64_t next;
        if (ah_store_delivery_claim(k->s, k->webhook_id, now, now + LEASE, CLAIM_BATCH, &cl, &n,
                                    &next) != AH_OK) {
            k->failures++;
            break;
        }
        idle = n ? 0 : idle + 1;
        for (size_t i = 0; i < n && k->n < N_QUEUED; i++) {
            ah_strlcpy(k->ids[k->n++], cl[i].delivery_id, AH_ID_SIZE);
            batch[i] = success(cl[i].delivery_id, now);
        }
        if (n && ah_store_delivery_record(k->s, batch, n) != AH_OK)
            k->failures++;
        ah_claims_free(cl, n);
    }
    if (!batch)
        k->failures++;
    free(batch);
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_skip_locked_never_overlaps(void **state)
{
    ah_store_t *a = *state;
    ah_store_t *b = open_dsn(tb_dsn_of(a));
    ah_community_t c;
    new_community(a, &c);
    char w[AH_ID_SIZE];
    new_webhook(a, c.id, w);
    for (int i = 0; i < N_QUEUED; i++)
        publish(i % 2 ? a : b, c.id, T0 + i);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    claimer_t k[2];
    pthread_t th[2];
    ah_store_t *handles[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        k[i] = (claimer_t){.s = handles[i], .webhook_id = w, .start = &start};
        k[i].ids = calloc(N_QUEUED, AH_ID_SIZE);
        assert_non_null(k[i].ids);
        assert_int_equal(pthread_create(&th[i], NULL, claim_thread, &k[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    fprintf(stderr, "claims: %zu by the first handle, %zu by the second\n", k[0].n, k[1].n);

    char(*all)[AH_ID_SIZE] = calloc((size_t)N_QUEUED * 2, AH_ID_SIZE);
    assert_non_null(all);
    size_t total = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(k[i].failures, 0);
        memcpy(all[total], k[i].ids, k[i].n * AH_ID_SIZE);
        total += k[i].n;
        free(k[i].ids);
    }
    assert_int_equal(total, N_QUEUED);
    qsort(all, total, AH_ID_SIZE, cmp_id);
    for (size_t i = 1; i < total; i++)
        assert_string_not_equal(all[i - 1], all[i]); /* nobody claimed one twice */
    free(all);
    assert_int_equal(tb_pg_int(tb_dsn_of(a), tb_count_attempts()), N_QUEUED);
    assert_int_equal(
        tb_pg_int(tb_dsn_of(a), "SELECT count(*) FROM deliveries WHERE status = 'succeeded'"),
        N_QUEUED);
    ah_store_close(b);
}

static void test_lease_takeover(void **state)
{
    ah_store_t *a = *state;
    ah_store_t *b = open_dsn(tb_dsn_of(a));
    ah_community_t c;
    new_community(a, &c);
    char w[AH_ID_SIZE];
    new_webhook(a, c.id, w);
    for (int i = 0; i < 3; i++)
        publish(a, c.id, T0 + i);

    /* A takes all three with a lease to T0+1000, then "dies". */
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(a, w, T0 + 10, T0 + 1000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 3);
    char held[AH_ID_SIZE];
    ah_strlcpy(held, cl[0].delivery_id, sizeof held);
    ah_claims_free(cl, n);
    /* While the lease runs, B gets nothing. */
    assert_int_equal(ah_store_delivery_claim(b, w, T0 + 999, T0 + 2000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 0);
    assert_null(cl);
    /* After it, B takes them over, in due order, and delivers. */
    assert_int_equal(ah_store_delivery_claim(b, w, T0 + 1001, T0 + 70000, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(cl[0].delivery_id, held);
    ah_attempt_result_t r = success(cl[0].delivery_id, T0 + 1002);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_record(b, &r, 1), AH_OK);
    /* A's late result (it was not dead after all) does not undo B's. */
    r = success(held, T0 + 1003);
    r.outcome = AH_OUTCOME_RETRY;
    r.next_attempt_at = T0 + 9000;
    assert_int_equal(ah_store_delivery_record(a, &r, 1), AH_OK);
    ah_delivery_t d;
    assert_int_equal(ah_store_delivery_get(a, held, &d, NULL, NULL), AH_OK);
    assert_int_equal(d.status, AH_DLV_SUCCEEDED);
    /* Starting a node clears nothing: leases only expire (the store is shared). */
    assert_true(ah_store_shared(a));
    ah_store_close(b);
}

/* When the webhook's lease ends, in ms after T0 (-1: no lease row). */
static int64_t lease_end(const char *dsn, const char *webhook_id)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT lease_until - %lld FROM webhook_leases"
             " WHERE webhook_id = '%s'), -1)",
             (long long)T0, webhook_id);
    return tb_pg_int(dsn, sql);
}

/*
 * One node at a time delivers a webhook (migration 14): a claim on a
 * webhook another handle holds gets nothing and writes nothing, while
 * another webhook is claimed meanwhile; the holder renews its lease about
 * once a second, not at every claim; closing a handle hands its webhooks
 * back at once, and the deliveries it had claimed are taken over.
 */
static void test_webhook_lease_one_node_at_a_time(void **state)
{
    ah_store_t *b = *state;
    const char *dsn = tb_dsn_of(b);
    ah_store_t *a = open_dsn(dsn);
    ah_community_t c;
    new_community(b, &c);
    char w1[AH_ID_SIZE], w2[AH_ID_SIZE];
    new_webhook(b, c.id, w1);
    new_webhook(b, c.id, w2);
    for (int i = 0; i < 3; i++)
        publish(b, c.id, T0 + i);

    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next = -1;
    assert_int_equal(ah_store_delivery_claim(a, w1, T0 + 10, T0 + LEASE, 1, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 1);
    char held[AH_ID_SIZE];
    ah_strlcpy(held, cl[0].delivery_id, sizeof held);
    ah_claims_free(cl, n);
    assert_int_equal(lease_end(dsn, w1), LEASE);
    /* A claim writes no delivery row: the lease is in A's memory. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM deliveries WHERE lease_until <> 0");
    assert_int_equal(tb_pg_int(dsn, sql), 0);

    /* B gets nothing of w1, and is told of no due time (it looks again at its rescan)... */
    assert_int_equal(ah_store_delivery_claim(b, w1, T0 + 20, T0 + 20 + LEASE, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(next, 0);
    /* ...but w2 is not held: B takes it, and then A gets nothing of it. */
    assert_int_equal(ah_store_delivery_claim(b, w2, T0 + 20, T0 + 20 + LEASE, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 3);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_claim(a, w2, T0 + 30, T0 + 30 + LEASE, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(tb_pg_int(dsn, "SELECT count(DISTINCT node) FROM webhook_leases"), 2);

    /* A's next claims of w1: the lease row is left alone until a second has passed. */
    assert_int_equal(ah_store_delivery_claim(a, w1, T0 + 500, T0 + 500 + LEASE, 1, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 1);
    assert_string_not_equal(cl[0].delivery_id, held);
    ah_claims_free(cl, n);
    assert_int_equal(lease_end(dsn, w1), LEASE);
    assert_int_equal(
        ah_store_delivery_claim(a, w1, T0 + 1500, T0 + 1500 + LEASE, 0, &cl, &n, &next), AH_OK);
    assert_int_equal(lease_end(dsn, w1), 1500 + LEASE);

    /* A closes (its dispatcher has handed back what it had in flight): w1 is B's at once. */
    ah_store_close(a);
    assert_int_equal(lease_end(dsn, w1), -T0);
    assert_int_equal(tb_pg_int(dsn, "SELECT count(*) FROM webhook_leases"
                                    " WHERE webhook_id LIKE 'node:%'"),
                     1); /* B's; A took its own row with it */
    assert_int_equal(
        ah_store_delivery_claim(b, w1, T0 + 1600, T0 + 1600 + LEASE, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(cl[0].delivery_id, held);
    ah_claims_free(cl, n);
}

/* How many deliveries of webhook w the store hands out at now (0: another node holds it). */
static size_t claim_count(ah_store_t *s, const char *w, int64_t now)
{
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, now, now + LEASE, 10, &cl, &n, &next), AH_OK);
    ah_claims_free(cl, n);
    return n;
}

/*
 * A second handle on b's database (another node), after n webhooks of one
 * community into w and an event at T0 that each of them is owed.
 */
static ah_store_t *second_node_with_webhooks(ah_store_t *b, int n, char (*w)[AH_ID_SIZE])
{
    ah_store_t *a = open_dsn(tb_dsn_of(b));
    ah_community_t c;
    new_community(b, &c);
    for (int i = 0; i < n; i++)
        new_webhook(b, c.id, w[i]);
    publish(b, c.id, T0);
    return a;
}

/*
 * Nodes share the webhooks: a node does not take a free webhook while it
 * holds more than the live node that holds fewest, unless the webhook's
 * oldest due delivery has waited two seconds (nobody else took it).
 */
static void test_webhook_leases_shared_out(void **state)
{
    ah_store_t *b = *state;
    char w[6][AH_ID_SIZE];
    ah_store_t *a = second_node_with_webhooks(b, 6, w);
    assert_int_equal(claim_count(b, w[0], T0 + 10), 1); /* B is live, with one */
    assert_int_equal(claim_count(a, w[1], T0 + 10), 1); /* A: 0 <= 1 */
    assert_int_equal(claim_count(a, w[2], T0 + 10), 1); /* A: 1 <= 1 */
    assert_int_equal(claim_count(a, w[3], T0 + 10), 0); /* A: 2 > 1, left to B */
    assert_int_equal(claim_count(b, w[3], T0 + 20), 1); /* B: 1 <= 2 */
    assert_int_equal(claim_count(a, w[4], T0 + 20), 1); /* A: 2 <= 2 */
    assert_int_equal(claim_count(a, w[5], T0 + 20), 0); /* A: 3 > 2 */
    /* Nobody else took it: after two seconds A does. */
    assert_int_equal(claim_count(a, w[5], T0 + 2500), 1);
    ah_store_close(a);
}

/*
 * A node that has said it delivers (a dispatcher does at start) counts
 * among the live nodes before its first claim: the other node, claiming
 * first, takes no more than its share.  Without it the first to claim took
 * every webhook and kept them (a two-node test saw 20,000 to 0).
 */
static void test_announced_node_counts_before_its_first_claim(void **state)
{
    ah_store_t *b = *state;
    char w[3][AH_ID_SIZE];
    ah_store_t *a = second_node_with_webhooks(b, 3, w);
    assert_int_equal(ah_store_delivery_announce(b, T0, T0 + LEASE), AH_OK);
    assert_int_equal(claim_count(a, w[0], T0 + 10), 1); /* A: 0 <= B's 0 */
    assert_int_equal(claim_count(a, w[1], T0 + 10), 0); /* A: 1 > 0, left to B */
    assert_int_equal(claim_count(b, w[1], T0 + 20), 1);
    assert_int_equal(claim_count(b, w[2], T0 + 20), 1); /* B: 1 <= 1 */
    ah_store_close(a);
}

/* A store on f's database with a pool of one connection, and a webhook into w. */
static ah_store_t *one_connection_with_webhook(const fresh_t *f, char w[AH_ID_SIZE])
{
    char dsn[TB_DSN_MAX + 16];
    snprintf(dsn, sizeof dsn, "%s%spool=1", f->dsn, strchr(f->dsn, '?') ? "&" : "?");
    ah_store_t *s = open_dsn(dsn);
    ah_community_t c;
    new_community(s, &c);
    new_webhook(s, c.id, w);
    return s;
}

/* The one value sql answers on s's connection (pool=1: the store's own), into out. */
static const char *value_on_connection(ah_store_t *s, const char *sql, char *out, size_t cap)
{
    pg_store_t *ps = from(s);
    conn_t *conn;
    assert_int_equal(acquire(ps, &conn), AH_OK);
    PGresult *r = PQexec(conn->pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    ah_strlcpy(out, PQgetvalue(r, 0, 0), cap);
    PQclear(r);
    release(ps, conn);
    return out;
}

/*
 * A registration commits without waiting for the disk and then waits for
 * it without its locks (hot_statement): the connection goes back to the pool
 * with the server's own setting, and a failed registration too.
 */
static void test_registration_leaves_connection_as_found(void **state)
{
    char w[AH_ID_SIZE];
    ah_store_t *s = one_connection_with_webhook(*state, w);
    ah_webhook_t got;
    assert_int_equal(ah_store_webhook_get(s, w, &got), AH_OK);
    /* A registration that fails (no such community) puts the setting back too. */
    ah_webhook_t *bad = calloc(2, sizeof *bad);
    assert_non_null(bad);
    char none[AH_ID_SIZE];
    ah_uuid_v4(none);
    fill_webhook(bad, none, "https://example.com/x");
    ah_uuid_v4(bad->id);
    assert_int_not_equal(ah_store_webhook_register(s, bad, &bad[1], NULL), AH_OK);
    free(bad);
    char v[16];
    assert_string_equal(value_on_connection(s, "SHOW synchronous_commit", v, sizeof v), "on");
    ah_store_close(s);
}

/* Runs of prepared statement id on s's one connection since it was prepared. */
static int64_t statement_runs(ah_store_t *s, int id)
{
    char sql[128], v[32];
    snprintf(sql, sizeof sql,
             "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE name = 'ah_%d'",
             id);
    return strtoll(value_on_connection(s, sql, v, sizeof v), NULL, 10);
}

/*
 * A connection prepares a statement again at its 64th use and at every
 * power of two after it, so that its plan is made against the tables as
 * they are then (a new database's first plans scan small tables whole), and
 * goes on answering across it.
 */
static void test_statements_prepared_again_as_tables_grow(void **state)
{
    char w[AH_ID_SIZE];
    ah_store_t *s = one_connection_with_webhook(*state, w);
    ah_webhook_t got;
    for (int i = 1; i <= 129; i++) {
        assert_int_equal(ah_store_webhook_get(s, w, &got), AH_OK);
        assert_string_equal(got.id, w);
        if (i == 64)
            assert_int_equal(statement_runs(s, ST_WEBHOOK_GET), 64);
        if (i == 65) /* prepared again: its first run */
            assert_int_equal(statement_runs(s, ST_WEBHOOK_GET), 1);
        if (i == 128)
            assert_int_equal(statement_runs(s, ST_WEBHOOK_GET), 64);
        if (i == 129)
            assert_int_equal(statement_runs(s, ST_WEBHOOK_GET), 1);
    }
    ah_store_close(s);
}

/* A batch several statements long, with an unknown delivery in the middle. */
static void test_record_large_batch(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c);
    char w[AH_ID_SIZE];
    new_webhook(s, c.id, w);
    const size_t n = 3 * RECORD_CHUNK + 5;
    for (size_t i = 0; i < n; i++)
        publish(s, c.id, T0 + (int64_t)i);
    ah_claim_t *cl = NULL;
    size_t got = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 1000, T0 + LEASE, n, &cl, &got, &next),
                     AH_OK);
    assert_int_equal(got, n);
    ah_attempt_result_t *r = calloc(n + 1, sizeof *r);
    assert_non_null(r);
    for (size_t i = 0, k = 0; i < n + 1; i++) {
        char unknown[AH_ID_SIZE];
        ah_uuid_v4(unknown);
        r[i] = success(i == RECORD_CHUNK + 3 ? unknown : cl[k++].delivery_id, T0 + 2000);
        r[i].outcome = i % 2 ? AH_OUTCOME_SUCCEEDED : AH_OUTCOME_RETRY;
        r[i].next_attempt_at = T0 + 5000;
    }
    ah_claims_free(cl, got);
    assert_int_equal(ah_store_delivery_record(s, r, n + 1), AH_OK);
    free(r);
    const char *dsn = tb_dsn_of(s);
    assert_int_equal(tb_pg_int(dsn, tb_count_attempts()), (int64_t)n);
    assert_int_equal(tb_pg_int(dsn, "SELECT count(*) FROM deliveries WHERE lease_until = 0"),
                     (int64_t)n);
    int64_t ok = tb_pg_int(dsn, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'");
    int64_t again = tb_pg_int(dsn, "SELECT count(*) FROM deliveries WHERE status = 'pending'"
                                   " AND next_attempt_at = 1700000005000");
    assert_int_equal(ok + again, (int64_t)n);
    assert_true(ok > 0 && again > 0);
    /* The store still works normally afterwards (nothing was left half done). */
    assert_int_equal(ah_store_ping(s), AH_OK);
}

#define N_PUBLISHERS 8
#define N_KEYS 40

typedef struct keyed {
    ah_store_t *s;
    const char *community_id;
    pthread_barrier_t *start;
    char ids[N_KEYS][AH_ID_SIZE]; /* the event id each key answered */
    int created;
    int failures;
} keyed_t;

static void *keyed_thread(void *arg)
{
    keyed_t *k = arg;
    for (int i = 0; i < N_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "order-%d", i);
        ah_event_t ev;
        fill_event(&ev, k->community_id, key, T0 + i);
        ah_publish_result_t res;
        pthread_barrier_wait(k->start); /* every thread publishes key i at once */
        if (ah_store_event_publish(k->s, &ev, &res) != AH_OK || res.n_deliveries != 1) {
            k->failures++;
            continue;
        }
        k->created += !res.duplicate;
        ah_strlcpy(k->ids[i], res.event_id, AH_ID_SIZE);
        free(res.webhook_ids);
    }
    return NULL;
}

static void test_idempotency_across_handles(void **state)
{
    ah_store_t *a = *state;
    ah_store_t *b = open_dsn(tb_dsn_of(a));
    ah_community_t c;
    new_community(a, &c);
    char w[AH_ID_SIZE];
    new_webhook(a, c.id, w);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_PUBLISHERS);
    keyed_t *k = calloc(N_PUBLISHERS, sizeof *k);
    assert_non_null(k);
    pthread_t th[N_PUBLISHERS];
    for (int i = 0; i < N_PUBLISHERS; i++) {
        k[i] = (keyed_t){.s = i % 2 ? a : b, .community_id = c.id, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, keyed_thread, &k[i]), 0);
    }
    for (int i = 0; i < N_PUBLISHERS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int created = 0;
    for (int i = 0; i < N_PUBLISHERS; i++) {
        assert_int_equal(k[i].failures, 0);
        created += k[i].created;
        for (int key = 0; key < N_KEYS; key++)
            assert_string_equal(k[i].ids[key], k[0].ids[key]); /* one event per key */
    }
    free(k);
    assert_int_equal(created, N_KEYS);
    assert_int_equal(tb_pg_int(tb_dsn_of(a), "SELECT count(*) FROM events"), N_KEYS);
    assert_int_equal(tb_pg_int(tb_dsn_of(a), "SELECT count(*) FROM deliveries"), N_KEYS);

    /* Registering the same tuple through both handles yields one webhook. */
    ah_webhook_t w1, w2, out;
    fill_webhook(&w1, c.id, "https://example.com/same");
    fill_webhook(&w2, c.id, "https://example.com/same");
    bool existed = true;
    assert_int_equal(ah_store_webhook_register(a, &w1, &out, &existed), AH_OK);
    assert_false(existed);
    assert_int_equal(ah_store_webhook_register(b, &w2, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(out.id, w1.id);
    ah_store_close(b);
}

/* ------------------------------------------------------------------------ */
/* listen(): another handle's work wakes this one.                           */

#define WAKES_MAX 64

typedef struct wakes {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n;
    char ids[WAKES_MAX][AH_ID_SIZE];
    int64_t due[WAKES_MAX];
} wakes_t;

static void on_wake(void *arg, const char *webhook_id, int64_t due)
{
    wakes_t *w = arg;
    pthread_mutex_lock(&w->mu);
    if (w->n < WAKES_MAX) {
        ah_strlcpy(w->ids[w->n], webhook_id, AH_ID_SIZE);
        w->due[w->n] = due;
    }
    w->n++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits up to timeout_ms for a wake (webhook_id, due) beyond the first `from` ones. */
/*
 * Waits for a wake of webhook_id with that due time, or, with due
 * ARRIVAL, the wake of a publish: publishes notify "due on arrival", which
 * the listener turns into its clock's now (so that a batch's notifications
 * fold into one per webhook), at or after the wall time since.
 */
#define ARRIVAL INT64_MIN
static int64_t since;

static bool wait_wake(wakes_t *w, size_t from, const char *webhook_id, int64_t due, int timeout_ms)
{
    int64_t deadline = ah_mono_ms() + timeout_ms;
    pthread_mutex_lock(&w->mu);
    bool found = false;
    while (!found) {
        for (size_t i = from; i < w->n && i < WAKES_MAX && !found; i++)
            found = !strcmp(w->ids[i], webhook_id) &&
                    (due == ARRIVAL ? w->due[i] >= since : w->due[i] == due);
        if (found || ah_mono_ms() >= deadline)
            break;
        pthread_mutex_unlock(&w->mu);
        sleep_ms(10);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return found;
}

static size_t wake_count(wakes_t *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->n;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Waits (up to 10 s) until some connection to dsn's database is LISTENing. */
static bool wait_listening(const char *dsn)
{
    for (int i = 0; i < 500; i++) {
        if (tb_pg_int(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                           " current_database() AND query LIKE 'LISTEN " CHANNEL "%'") > 0)
            return true;
        sleep_ms(20);
    }
    return false;
}

static void test_listen_hears_other_handle(void **state)
{
    ah_store_t *a = *state;
    ah_store_t *b = open_dsn(tb_dsn_of(a));
    wakes_t wk = {.n = 0};
    pthread_mutex_init(&wk.mu, NULL);
    pthread_cond_init(&wk.cv, NULL);
    assert_int_equal(ah_store_listen(a, on_wake, &wk), AH_OK);
    assert_true(wait_listening(tb_dsn_of(a)));

    ah_community_t c;
    new_community(b, &c);
    char w[AH_ID_SIZE];
    new_webhook(b, c.id, w);
    int64_t t0 = ah_mono_ms();
    since = ah_now_ms();
    publish(b, c.id, T0 + 42);
    assert_true(wait_wake(&wk, 0, w, ARRIVAL, 5000));
    fprintf(stderr, "publish woke the other handle after %" PRId64 " ms\n", ah_mono_ms() - t0);

    /* Retry, recover and re-enable on b wake a as well. */
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(b, w, T0 + 50, T0 + LEASE, 1, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 1);
    ah_attempt_result_t r = success(cl[0].delivery_id, T0 + 60);
    r.outcome = AH_OUTCOME_FAILED;
    r.attempt.status_code = 500;
    char did[AH_ID_SIZE];
    ah_strlcpy(did, cl[0].delivery_id, sizeof did);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_record(b, &r, 1), AH_OK);
    size_t before = wake_count(&wk);
    size_t requeued = 0;
    assert_int_equal(ah_store_webhook_recover(b, w, 0, T0 + 70, &requeued), AH_OK);
    assert_int_equal(requeued, 1);
    assert_true(wait_wake(&wk, before, w, T0 + 70, 5000));
    char wid[AH_ID_SIZE];
    assert_int_equal(ah_store_delivery_retry(b, did, T0 + 80, wid), AH_OK);
    assert_true(wait_wake(&wk, before, w, T0 + 80, 5000));
    assert_int_equal(ah_store_webhook_set_active(b, w, false, "manual", T0 + 90), AH_OK);
    assert_int_equal(ah_store_webhook_set_active(b, w, true, NULL, T0 + 91), AH_OK);
    assert_true(wait_wake(&wk, before, w, T0 + 91, 5000));

    /* Calls off: nothing more arrives. */
    assert_int_equal(ah_store_listen(a, NULL, NULL), AH_OK);
    size_t off = wake_count(&wk);
    publish(b, c.id, T0 + 100);
    sleep_ms(300);
    assert_int_equal(wake_count(&wk), off);
    /* And on again. */
    assert_int_equal(ah_store_listen(a, on_wake, &wk), AH_OK);
    since = ah_now_ms();
    publish(b, c.id, T0 + 110);
    assert_true(wait_wake(&wk, off, w, ARRIVAL, 5000));
    assert_int_equal(ah_store_listen(a, NULL, NULL), AH_OK);
    ah_store_close(b);
    pthread_cond_destroy(&wk.cv);
    pthread_mutex_destroy(&wk.mu);
}

/* ------------------------------------------------------------------------ */
/* Outages.                                                                  */

/* Calls op until it answers AH_OK or timeout_ms passes; the last status. */
static int until_ok(ah_store_t *s, int (*op)(ah_store_t *s), int timeout_ms)
{
    int64_t deadline = ah_mono_ms() + timeout_ms;
    int rc;
    while ((rc = op(s)) != AH_OK && ah_mono_ms() < deadline)
        sleep_ms(20);
    return rc;
}

static int list_communities(ah_store_t *s)
{
    ah_community_t *list = NULL;
    size_t n = 0;
    int rc = ah_store_community_list(s, &list, &n);
    free(list);
    return rc;
}

/* Polls a's cache generations until webhooks == want; false after 5 s. */
static bool wait_gen(ah_store_t *a, int64_t want)
{
    for (int i = 0; i < 250; i++) {
        ah_cache_gen_t g;
        if (ah_store_cache_gen(a, &g) == AH_OK && g.webhooks == want)
            return true;
        sleep_ms(20);
    }
    return false;
}

/*
 * The cache generations come from memory while nothing changed them: a
 * change the triggers did not make (a direct UPDATE) goes unseen until
 * the answer from memory is too old, another
 * handle's registration is seen once its notification arrives, this
 * handle's own at once, and after the listening connection is lost the
 * database is read again.
 */
static void test_cache_gen_without_round_trip(void **state)
{
    ah_store_t *a = *state;
    const tb_db_t *db = tb_slot(a);
    const char *dsn = tb_dsn_of(a);
    listener_t *l = &from(a)->lis;
    ah_store_t *b = open_dsn(dsn);
    ah_community_t c;
    new_community(a, &c);
    ah_cache_gen_t g0, g;
    assert_int_equal(ah_store_cache_gen(a, &g0), AH_OK); /* starts the listener */
    assert_true(wait_listening(dsn));
    assert_true(wait_gen(a, g0.webhooks)); /* a read after the listener began */
    /* Not notified: memory answers, and still has the old value ... */
    l->gen_max_age_ms = 3600 * 1000;
    char sql[96];
    snprintf(sql, sizeof sql, "UPDATE cache_generations SET webhooks = %lld",
             (long long)(g0.webhooks + 1000));
    assert_int_equal(tb_pg_exec(dsn, sql), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ah_store_cache_gen(a, &g), AH_OK);
        assert_int_equal(g.webhooks, g0.webhooks);
        sleep_ms(50);
    }
    /* ... though never for longer than its maximum age. */
    l->gen_max_age_ms = GEN_MAX_AGE_MS;
    assert_true(wait_gen(a, g0.webhooks + 1000));
    l->gen_max_age_ms = 3600 * 1000;
    /* Another handle's registration bumps it and notifies. */
    char w[AH_ID_SIZE];
    new_webhook(b, c.id, w);
    assert_true(wait_gen(a, g0.webhooks + 1001));
    /* This handle's own: seen by the very next call. */
    new_webhook(a, c.id, w);
    assert_int_equal(ah_store_cache_gen(a, &g), AH_OK);
    assert_int_equal(g.webhooks, g0.webhooks + 1002);
    /* The listening connection dies: what changed meanwhile is read, not missed. */
    snprintf(sql, sizeof sql, "UPDATE cache_generations SET webhooks = %lld",
             (long long)(g0.webhooks + 5000));
    terminate_all(db->name);
    assert_int_equal(tb_pg_exec(dsn, sql), 0);
    assert_true(wait_gen(a, g0.webhooks + 5000));
    ah_store_close(b);
}

static void test_terminated_backends_reconnect_at_once(void **state)
{
    ah_store_t *s = *state;
    const tb_db_t *db = tb_slot(s);
    assert_non_null(db);
    ah_community_t c;
    new_community(s, &c);
    assert_int_equal(list_communities(s), AH_OK);
    /* Every pooled connection dies; the next call notices and reconnects. */
    terminate_all(db->name);
    sleep_ms(100);
    ah_community_t got;
    assert_int_equal(ah_store_community_get(s, c.id, &got), AH_OK);
    assert_int_equal(ah_store_ping(s), AH_OK);
}

static void test_outage_fails_fast_then_recovers(void **state)
{
    ah_store_t *s = *state;
    const tb_db_t *db = tb_slot(s);
    assert_non_null(db);
    wakes_t wk = {.n = 0};
    pthread_mutex_init(&wk.mu, NULL);
    pthread_cond_init(&wk.cv, NULL);
    assert_int_equal(ah_store_listen(s, on_wake, &wk), AH_OK);
    ah_community_t c;
    new_community(s, &c);
    char w[AH_ID_SIZE];
    new_webhook(s, c.id, w);

    outage(db->name, true);
    sleep_ms(100);
    /* Down: every operation answers AH_EUNAVAIL, quickly, and nothing crashes. */
    int64_t t0 = ah_mono_ms();
    assert_int_equal(ah_store_ping(s), AH_EUNAVAIL);
    ah_event_t ev;
    fill_event(&ev, c.id, "during-outage", T0);
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_EUNAVAIL);
    assert_null(res.webhook_ids);
    ah_due_t *due = NULL;
    size_t n = 0;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(ah_store_delivery_due_webhooks(s, &due, &n), AH_EUNAVAIL);
        assert_int_equal(list_communities(s), AH_EUNAVAIL);
    }
    int64_t took = ah_mono_ms() - t0;
    fprintf(stderr, "102 calls while down took %" PRId64 " ms\n", took);
    assert_true(took < 3000);

    /* Back: the store recovers by itself, within the backoff cap. */
    outage(db->name, false);
    t0 = ah_mono_ms();
    assert_int_equal(until_ok(s, ah_store_ping, 5000), AH_OK);
    fprintf(stderr, "recovered %" PRId64 " ms after the database came back\n", ah_mono_ms() - t0);
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    assert_false(res.duplicate);
    free(res.webhook_ids);
    /* The listener reconnected too (its backoff is capped at 2 s). */
    int64_t deadline = ah_mono_ms() + 8000;
    bool heard = false;
    for (int i = 0; !heard && ah_mono_ms() < deadline; i++) {
        size_t before = wake_count(&wk);
        since = ah_now_ms();
        publish(s, c.id, T0 + 1000 + i);
        heard = wait_wake(&wk, before, w, ARRIVAL, 500);
    }
    assert_true(heard);
    assert_int_equal(ah_store_listen(s, NULL, NULL), AH_OK);
    pthread_cond_destroy(&wk.cv);
    pthread_mutex_destroy(&wk.mu);
}

/* Asynchronous registrations not yet answered, and the first failure. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int left, rc;
} burst_t;

static void burst_done(void *arg, int rc)
{
    burst_t *b = arg;
    pthread_mutex_lock(&b->mu);
    if (rc && !b->rc)
        b->rc = rc;
    b->left--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/*
 * A burst of registrations, which the publisher threads insert in batches
 * (a batch counts its webhooks and bumps the generation once, migration
 * 16): another handle hears of them without reading the database, and the
 * community's count is every one of them.
 */
#define BURST 40

static void test_batch_registrations_counted_and_heard(void **state)
{
    ah_store_t *a = *state;
    const char *dsn = tb_dsn_of(a);
    ah_store_t *b = open_dsn(dsn);
    ah_community_t c;
    new_community(a, &c);
    ah_cache_gen_t g0, g;
    assert_int_equal(ah_store_cache_gen(a, &g0), AH_OK); /* starts the listener */
    assert_true(wait_listening(dsn));
    assert_true(wait_gen(a, g0.webhooks));
    from(a)->lis.gen_max_age_ms = 3600 * 1000; /* only a notification makes a read */
    static ah_webhook_t in[BURST], out[BURST];
    burst_t wait = {.left = BURST, .rc = AH_OK};
    pthread_mutex_init(&wait.mu, NULL);
    pthread_cond_init(&wait.cv, NULL);
    for (int i = 0; i < BURST; i++) {
        char url[64];
        snprintf(url, sizeof url, "https://example.com/burst/%d", i);
        fill_webhook(&in[i], c.id, url);
        ah_store_webhook_register_async(b, &in[i], 0, &out[i], NULL, burst_done, &wait);
    }
    pthread_mutex_lock(&wait.mu);
    while (wait.left > 0)
        pthread_cond_wait(&wait.cv, &wait.mu);
    pthread_mutex_unlock(&wait.mu);
    pthread_mutex_destroy(&wait.mu);
    pthread_cond_destroy(&wait.cv);
    assert_int_equal(wait.rc, AH_OK);
    int64_t n = -1;
    assert_int_equal(ah_store_webhook_count_active(a, c.id, &n), AH_OK);
    assert_int_equal(n, BURST);
    bool heard = false;
    for (int i = 0; i < 250 && !heard; i++) {
        assert_int_equal(ah_store_cache_gen(a, &g), AH_OK);
        heard = g.webhooks > g0.webhooks;
        if (!heard)
            sleep_ms(20);
    }
    assert_true(heard);
    ah_store_close(b);
}

/*
 * Every statement of stmt_sql[] prepares on the migrated schema.  A
 * statement is prepared on first use, and some have a fallback when they
 * fail (a batch of registrations goes one by one): a mistake in one would
 * otherwise show only as lost speed and a warning in the log.
 */
static void test_every_statement_prepares(void **state)
{
    ah_store_t *s = *state;
    PGconn *pg = PQconnectdb(tb_dsn_of(s));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    int prepared = 0;
    for (int id = 0; id < ST_COUNT; id++) {
        if (!stmt_sql[id])
            continue;
        char name[16];
        snprintf(name, sizeof name, "t%d", id);
        PGresult *r = PQprepare(pg, name, stmt_sql[id], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "statement %d: %s%s\n", id, PQresultErrorMessage(r), stmt_sql[id]);
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
        prepared++;
    }
    PQfinish(pg);
    assert_true(prepared > AH_SQL_SHARED_COUNT); /* the shared ones and PostgreSQL's own */
}

/* ------------------------------------------------------------------------ */
/* Query plans on a queue of 20k deliveries.                                 */

/* EXPLAIN of statement text sql with $n replaced by the given literal values. */
static void plan_of(const char *dsn, const char *sql, const char *args, char *out, size_t outsz)
{
    PGconn *pg = PQconnectdb(dsn);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PQclear(PQexec(pg, "DEALLOCATE ALL"));
    PGresult *r = PQprepare(pg, "p", sql, 0, NULL);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char explain[256];
    snprintf(explain, sizeof explain, "EXPLAIN EXECUTE p%s", args);
    r = PQexec(pg, explain);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r) && used < outsz; i++) {
        int w = snprintf(out + used, outsz - used, "%s\n", PQgetvalue(r, i, 0));
        used += w > 0 ? (size_t)w : 0;
    }
    PQclear(r);
    PQfinish(pg);
    if (getenv("AH_SHOW_PLANS"))
        fprintf(stderr, "-- %s\n%s", sql, out);
}

static void expect_plan(const char *dsn, int id, const char *args, const char *want,
                        const char *unwanted)
{
    char plan[8192];
    plan_of(dsn, stmt_sql[id], args, plan, sizeof plan);
    if (!strstr(plan, want) || (unwanted && strstr(plan, unwanted)))
        fprintf(stderr, "plan of %s:\n%s", stmt_sql[id], plan);
    assert_non_null(strstr(plan, want));
    if (unwanted)
        assert_null(strstr(plan, unwanted));
}

static void test_query_plans(void **state)
{
    ah_store_t *s = *state;
    const char *dsn = tb_dsn_of(s);
    ah_community_t c;
    new_community(s, &c);
    char w[AH_ID_SIZE];
    new_webhook(s, c.id, w);
    /* 2000 webhooks on 50 triggers, 20k deliveries (a tenth pending), straight into the tables. */
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "INSERT INTO webhooks (id, community_id, trigger, name, url, platform_name,"
        " is_active, meta_data, created_at, updated_at, created_by, secret)"
        " SELECT gen_random_uuid()::text, '%s', 'trigger.t' || i %% 50, 'n', 'https://e/' || i,"
        " 'p', true, '{}', 0, 0, 'x', 's' FROM generate_series(1, 2000) i;"
        "INSERT INTO events (id, community_id, trigger, data, created_at)"
        " VALUES ('e1', '%s', 't', '{}', 0);"
        "INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at,"
        " created_at, updated_at)"
        " SELECT gen_random_uuid()::text, 'e1', h.id,"
        " CASE WHEN i %% 10 = 0 THEN 'pending' ELSE 'succeeded' END, i, i, i"
        " FROM generate_series(1, 400) i, (SELECT id FROM webhooks ORDER BY id LIMIT 50) h;"
        "ANALYZE;",
        c.id, c.id);
    assert_int_equal(tb_pg_exec(dsn, sql), 0);
    assert_int_equal(tb_pg_int(dsn, "SELECT count(*) FROM deliveries"), 400 * 50);

    /* The due walk probes deliveries_pending once per webhook; no scan of the table. */
    expect_plan(dsn, ST_DUE_WEBHOOKS, "", "Index Only Scan using deliveries_pending",
                "Seq Scan on deliveries");
    char args[256];
    /* A claim leaves out what is in flight by one hashed lookup per row, not a scan per row. */
    snprintf(args, sizeof args, "('%s', 10, '[\"a\",\"b\"]')", w);
    expect_plan(dsn, ST_CLAIM, args, "deliveries_pending", "Seq Scan on deliveries");
    expect_plan(dsn, ST_CLAIM, args, "hashed SubPlan", NULL);
    snprintf(args, sizeof args, "('%s', 500)", w);
    expect_plan(dsn, ST_NEXT_DUE, args, "deliveries_pending", "Seq Scan on deliveries");
    snprintf(args, sizeof args, "('ev', 0, '%s', 'trigger.t1', NULL, NULL)", c.id);
    expect_plan(dsn, ST_EVENT_FANOUT, args, "webhooks_match", "Seq Scan on webhooks");
    snprintf(args, sizeof args, "('ev2', '%s', 'trigger.t1', NULL, NULL, NULL, '{}', 0)", c.id);
    expect_plan(dsn, ST_PUBLISH, args, "webhooks_match", "Seq Scan on webhooks");
    snprintf(args, sizeof args, "('%s', NULL, 9000000000, '', 50, 0, 9000000000, NULL)", w);
    expect_plan(dsn, ST_DELIVERY_LIST_WEBHOOK, args, "deliveries_by_webhook",
                "Seq Scan on deliveries");
    expect_plan(dsn, ST_DELIVERY_STATS, "", "deliveries_pending_age", "Seq Scan on deliveries");
    /*
     * The overview (migration 13): the last hour's deliveries through their
     * events, disabled webhooks through their partial index; neither table
     * is read whole.  Events as they come: 2000 over time, 5 deliveries each.
     */
    snprintf(sql, sizeof sql,
             "INSERT INTO events (id, community_id, trigger, data, created_at)"
             " SELECT 'x' || i, '%s', 't', '{}', i FROM generate_series(1, 2000) i;"
             "INSERT INTO deliveries (id, event_id, webhook_id, status, next_attempt_at,"
             " created_at, updated_at)"
             " SELECT gen_random_uuid()::text, 'x' || i, h.id, 'succeeded', 0, i, i"
             " FROM generate_series(1, 2000) i, (SELECT id FROM webhooks ORDER BY id LIMIT 5) h;"
             "ANALYZE;",
             c.id);
    assert_int_equal(tb_pg_exec(dsn, sql), 0);
    expect_plan(dsn, ST_OVERVIEW, "(1990)", "deliveries_by_event", "Seq Scan on deliveries");
    expect_plan(dsn, ST_OVERVIEW, "(1990)", "events_by_age", "Seq Scan on events");
    expect_plan(dsn, ST_OVERVIEW, "(1990)", "webhooks_disabled", "Seq Scan on webhooks");
    expect_plan(dsn, ST_WEBHOOK_DISABLED_RECENT, "(5)", "webhooks_disabled",
                "Seq Scan on webhooks");
    /*
     * The integrators' log of a community: its events walked newest first
     * (by community and time, or here, where every event is the one
     * community's, by time alone), then their deliveries by event.
     */
    snprintf(args, sizeof args, "('%s', NULL, 9000000000, '', 51, 0, 9000000000, NULL)", c.id);
    expect_plan(dsn, ST_DELIVERY_LIST_COMMUNITY, args, "Index Scan Backward using events_by",
                "Seq Scan on deliveries");
}

/* ------------------------------------------------------------------------ */

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test_setup_teardown(test_pool_param, fresh_setup, fresh_teardown),
    cmocka_unit_test_setup_teardown(test_migrations_once, fresh_setup, fresh_teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_open_migrates_once, fresh_setup,
                                    fresh_teardown),
    cmocka_unit_test_setup_teardown(test_newer_schema_refused, fresh_setup, fresh_teardown),
    cmocka_unit_test_setup_teardown(test_skip_locked_never_overlaps, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_lease_takeover, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_webhook_lease_one_node_at_a_time, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_webhook_leases_shared_out, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_announced_node_counts_before_its_first_claim, tb_setup,
                                    tb_teardown),
    cmocka_unit_test_setup_teardown(test_record_large_batch, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_statements_prepared_again_as_tables_grow, fresh_setup,
                                    fresh_teardown),
    cmocka_unit_test_setup_teardown(test_registration_leaves_connection_as_found, fresh_setup,
                                    fresh_teardown),
    cmocka_unit_test_setup_teardown(test_idempotency_across_handles, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_listen_hears_other_handle, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_cache_gen_without_round_trip, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_terminated_backends_reconnect_at_once, tb_setup,
                                    tb_teardown),
    cmocka_unit_test_setup_teardown(test_outage_fails_fast_then_recovers, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_batch_registrations_counted_and_heard, tb_setup,
                                    tb_teardown),
    cmocka_unit_test_setup_teardown(test_every_statement_prepares, tb_setup, tb_teardown),
    cmocka_unit_test_setup_teardown(test_query_plans, tb_setup, tb_teardown),
};

int main(void)
{
    if (!tb_server_dsn()) {
        if (tb_pg()) {
            fprintf(stderr, "test_store_pg: AH_TEST_STORE=postgres but no AH_TEST_PG_DSN\n");
            return 1;
        }
        fprintf(stderr, "test_store_pg: no AH_TEST_PG_DSN, nothing to run here (the PostgreSQL"
                        " pass of make test runs it)\n");
        return 0;
    }
    setenv("AH_TEST_STORE", "postgres", 1); /* tb_open_fresh makes PostgreSQL stores */
    return cmocka_run_group_tests_name("postgres", tests, NULL, NULL);
}
