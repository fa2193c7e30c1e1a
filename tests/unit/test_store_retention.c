/* SPDX-License-Identifier: MIT */
/*
 * test_store_retention.c: unit tests of the retention purge
 * (ah_store_purge_final, src/store/purge.c) on both backends.
 *
 * What goes: events created before the cutoff whose every delivery is final
 * (succeeded, failed, cancelled) and last changed before it, with their
 * deliveries and attempts; events that made no delivery.  What stays:
 * anything with a delivery pending (new, retrying, leased, on a disabled
 * webhook), young events, and final deliveries younger than the cutoff.
 * The cursor lets a pass go past events that must stay.
 *
 * Like test_store_delivery.c this file #includes the SQLite backend, to read
 * its query plans; the rest goes through the ah_store_*() layer on the
 * backend AH_TEST_STORE chooses (store_backend.h).
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

#include "store/store_sqlite.c"
#include "store_backend.h"

#define T0 1700000000000LL
#define TRIG "trigger.airmeet.registrant.added"
#define LEASE (T0 + 3600 * 1000)

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                  */

static int open_store(void **state)
{
    return tb_setup(state);
}

static int close_store(void **state)
{
    return tb_teardown(state);
}

/* The first column of the first row of sql, on the store's database. */
static int64_t q_int(ah_store_t *s, const char *sql)
{
    if (tb_pg())
        return tb_pg_int(tb_dsn_of(s), sql);
    conn_t *c;
    assert_int_equal(acquire(from(s), &c), AH_OK);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    int64_t v = -1;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    release(from(s), c);
    assert_int_equal(rc, SQLITE_OK);
    return v;
}

typedef struct world {
    ah_community_t c;
    char hooks[4][AH_ID_SIZE];
} world_t;

static void new_webhook(ah_store_t *s, char id_out[AH_ID_SIZE], const char *community_id)
{
    static int serial;
    ah_webhook_t *w = calloc(2, sizeof *w);
    assert_non_null(w);
    ah_uuid_v4(w->id);
    ah_strlcpy(w->community_id, community_id, sizeof w->community_id);
    ah_strlcpy(w->trigger, TRIG, sizeof w->trigger);
    ah_strlcpy(w->name, "crm sync", sizeof w->name);
    snprintf(w->url, sizeof w->url, "https://example.com/retention/%d", ++serial);
    ah_strlcpy(w->platform_name, "zapier", sizeof w->platform_name);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "{}", sizeof w->meta_data);
    w->created_at = w->updated_at = T0;
    ah_strlcpy(w->created_by, "key label", sizeof w->created_by);
    ah_strlcpy(w->secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj", sizeof w->secret);
    assert_int_equal(ah_store_webhook_register(s, w, &w[1], NULL), AH_OK);
    ah_strlcpy(id_out, w->id, AH_ID_SIZE);
    free(w);
}

/* A community with n webhooks (at most 4) for TRIG. */
static void new_world(ah_store_t *s, world_t *w, size_t n)
{
    memset(w, 0, sizeof *w);
    ah_uuid_v4(w->c.id);
    ah_strlcpy(w->c.name, "Acme", sizeof w->c.name);
    w->c.created_at = T0;
    assert_int_equal(ah_store_community_create(s, &w->c), AH_OK);
    for (size_t i = 0; i < n; i++)
        new_webhook(s, w->hooks[i], w->c.id);
}

/* Publishes an event at `at`; its id into id; the deliveries it made. */
static size_t publish(ah_store_t *s, const world_t *w, int64_t at, char id[AH_ID_SIZE])
{
    ah_event_t ev;
    memset(&ev, 0, sizeof ev);
    ah_uuid_v4(ev.id);
    ah_strlcpy(ev.community_id, w->c.id, sizeof ev.community_id);
    ah_strlcpy(ev.trigger, TRIG, sizeof ev.trigger);
    ev.data = "{\"n\":1}";
    ev.data_len = strlen(ev.data);
    ev.created_at = at;
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    free(res.webhook_ids);
    ah_strlcpy(id, ev.id, AH_ID_SIZE);
    return res.n_deliveries;
}

/* The ids of the event's deliveries, oldest... any order; how many. */
static size_t deliveries_of(ah_store_t *s, const char *event_id, char ids[8][AH_ID_SIZE])
{
    ah_delivery_filter_t f = {.event_id = event_id, .status = -1, .limit = 8};
    ah_delivery_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, NULL), AH_OK);
    for (size_t i = 0; i < n; i++)
        ah_strlcpy(ids[i], list[i].id, AH_ID_SIZE);
    free(list);
    return n;
}

/*
 * Claims every due delivery of webhook `hook` and records each with outcome o
 * at `at` (retries due an hour later).
 */
static void settle(ah_store_t *s, const char *hook, int64_t at, ah_outcome_t o)
{
    ah_claim_t *claims = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_delivery_claim(s, hook, at, LEASE + at, 100, &claims, &n, NULL),
                     AH_OK);
    for (size_t i = 0; i < n; i++) {
        ah_attempt_result_t r;
        memset(&r, 0, sizeof r);
        ah_strlcpy(r.delivery_id, claims[i].delivery_id, sizeof r.delivery_id);
        ah_strlcpy(r.webhook_id, hook, sizeof r.webhook_id);
        r.attempt.attempt_no = claims[i].attempts + 1;
        r.attempt.started_at = at;
        r.attempt.duration_ms = 5;
        r.attempt.status_code = o == AH_OUTCOME_SUCCEEDED ? 200 : 500;
        ah_strlcpy(r.attempt.response_head, "{\"ok\":true}", sizeof r.attempt.response_head);
        r.outcome = o;
        r.next_attempt_at = at + 3600 * 1000;
        assert_int_equal(ah_store_delivery_record(s, &r, 1), AH_OK);
    }
    ah_claims_free(claims, n);
}

static bool event_exists(ah_store_t *s, const char *id)
{
    ah_event_t ev;
    int rc = ah_store_event_get(s, id, &ev);
    free(ev.data);
    assert_true(rc == AH_OK || rc == AH_ENOTFOUND);
    return rc == AH_OK;
}

/* Purges with cutoff until a pass is complete; the totals into *sum. */
static void purge_all(ah_store_t *s, int64_t cutoff, size_t max, ah_purge_t *sum)
{
    memset(sum, 0, sizeof *sum);
    ah_purge_t p = {.cutoff = cutoff, .max = max};
    int calls = 0;
    do {
        assert_int_equal(ah_store_purge_final(s, &p), AH_OK);
        sum->scanned += p.scanned;
        sum->events += p.events;
        sum->deliveries += p.deliveries;
        sum->attempts += p.attempts;
        assert_true(++calls < 1000);
    } while (p.cursor[0]);
}

/* ------------------------------------------------------------------------ */
/* Tests.                                                                    */

/* Final and old goes, with its deliveries and attempts; everything else stays. */
static void test_purge_final_old(void **state)
{
    ah_store_t *s = *state;
    /* Each case in a community of its own, so that settling one touches no other. */
    world_t w[7];
    for (int i = 0; i < 7; i++)
        new_world(s, &w[i], 2);
    char done[AH_ID_SIZE], failed[AH_ID_SIZE], retrying[AH_ID_SIZE], fresh[AH_ID_SIZE],
        young[AH_ID_SIZE], mixed[AH_ID_SIZE], nobody[AH_ID_SIZE];
    /* Succeeded on both webhooks. */
    assert_int_equal(publish(s, &w[0], T0, done), 2);
    settle(s, w[0].hooks[0], T0 + 10, AH_OUTCOME_SUCCEEDED);
    settle(s, w[0].hooks[1], T0 + 10, AH_OUTCOME_SUCCEEDED);
    /* Failed for good on both. */
    assert_int_equal(publish(s, &w[1], T0 + 20, failed), 2);
    settle(s, w[1].hooks[0], T0 + 30, AH_OUTCOME_FAILED);
    settle(s, w[1].hooks[1], T0 + 30, AH_OUTCOME_FAILED);
    /* Retrying on both (pending, one attempt made). */
    assert_int_equal(publish(s, &w[2], T0 + 40, retrying), 2);
    settle(s, w[2].hooks[0], T0 + 50, AH_OUTCOME_RETRY);
    settle(s, w[2].hooks[1], T0 + 50, AH_OUTCOME_RETRY);
    /* Never attempted. */
    assert_int_equal(publish(s, &w[3], T0 + 60, fresh), 2);
    /* Succeeded on one webhook, still pending on the other. */
    assert_int_equal(publish(s, &w[4], T0 + 70, mixed), 2);
    settle(s, w[4].hooks[0], T0 + 80, AH_OUTCOME_SUCCEEDED);
    /* An event old enough, but its outcome is younger than the cutoff. */
    assert_int_equal(publish(s, &w[5], T0 + 90, young), 2);
    settle(s, w[5].hooks[0], T0 + 5000, AH_OUTCOME_SUCCEEDED);
    settle(s, w[5].hooks[1], T0 + 5000, AH_OUTCOME_SUCCEEDED);
    /* An event nobody listened to: no delivery at all. */
    ah_store_webhook_deregister(s, w[6].hooks[0], "t", T0 + 95);
    ah_store_webhook_deregister(s, w[6].hooks[1], "t", T0 + 95);
    assert_int_equal(publish(s, &w[6], T0 + 100, nobody), 0);

    int64_t before = q_int(s, tb_count_attempts());
    ah_purge_t sum;
    purge_all(s, T0 + 1000, 100, &sum);
    assert_int_equal(sum.scanned, 7);
    assert_int_equal(sum.events, 3); /* done, failed, nobody */
    assert_int_equal(sum.deliveries, 4);
    assert_int_equal(sum.attempts, 4);
    assert_false(event_exists(s, done));
    assert_false(event_exists(s, failed));
    assert_false(event_exists(s, nobody));
    assert_true(event_exists(s, retrying));
    assert_true(event_exists(s, fresh));
    assert_true(event_exists(s, mixed));
    assert_true(event_exists(s, young));
    assert_int_equal(q_int(s, tb_count_attempts()), before - 4);
    /* The kept events keep every delivery and attempt (the mixed one its success too). */
    char ids[8][AH_ID_SIZE];
    assert_int_equal(deliveries_of(s, mixed, ids), 2);
    assert_int_equal(deliveries_of(s, retrying, ids), 2);
    ah_delivery_t d;
    ah_attempt_t *att = NULL;
    size_t n_att = 0;
    assert_int_equal(ah_store_delivery_get(s, ids[0], &d, &att, &n_att), AH_OK);
    assert_int_equal(n_att, 1);
    free(att);
    /* A purged delivery is gone from the operator's reads too. */
    assert_int_equal(deliveries_of(s, done, ids), 0);

    /* Later, with the young outcome old too: it goes; the pending ones never do. */
    purge_all(s, T0 + 10000, 100, &sum);
    assert_int_equal(sum.events, 1);
    assert_false(event_exists(s, young));
    assert_true(event_exists(s, retrying) && event_exists(s, fresh) && event_exists(s, mixed));
    /* Nothing left to do: a second pass removes nothing. */
    purge_all(s, T0 + 10000, 100, &sum);
    assert_int_equal(sum.events + sum.deliveries + sum.attempts, 0);
    assert_int_equal(sum.scanned, 3);
}

/* Cancelled deliveries are final; an event younger than the cutoff is never looked at. */
static void test_purge_cancelled_and_young(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 1);
    char cancelled[AH_ID_SIZE], later[AH_ID_SIZE];
    assert_int_equal(publish(s, &w, T0, cancelled), 1);
    assert_int_equal(ah_store_webhook_deregister(s, w.hooks[0], "crm", T0 + 10), AH_OK);
    world_t w2;
    new_world(s, &w2, 1);
    assert_int_equal(publish(s, &w2, T0 + 2000, later), 1);
    settle(s, w2.hooks[0], T0 + 2000, AH_OUTCOME_SUCCEEDED);
    ah_purge_t sum;
    purge_all(s, T0 + 1000, 10, &sum);
    assert_int_equal(sum.scanned, 1);
    assert_int_equal(sum.events, 1);
    assert_int_equal(sum.deliveries, 1);
    assert_int_equal(sum.attempts, 0);
    assert_false(event_exists(s, cancelled));
    assert_true(event_exists(s, later));
}

/* A disabled webhook's pending deliveries wait for an operator: they are never purged. */
static void test_purge_keeps_disabled_webhooks_work(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 1);
    char ev[AH_ID_SIZE];
    assert_int_equal(publish(s, &w, T0, ev), 1);
    assert_int_equal(ah_store_webhook_set_active(s, w.hooks[0], false, "manual", T0 + 1), AH_OK);
    ah_purge_t sum;
    purge_all(s, T0 + 1000000, 10, &sum);
    assert_int_equal(sum.events, 0);
    assert_true(event_exists(s, ev));
}

/*
 * Small calls walk the old events with the cursor, passing those that must
 * stay, and end the pass with an empty cursor.
 */
static void test_purge_cursor_passes_kept_events(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 1);
    char id[AH_ID_SIZE];
    /* Ten pending events first (the oldest), then ten that are done. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(publish(s, &w, T0 + i, id), 1);
    char hook2[AH_ID_SIZE];
    world_t w2;
    new_world(s, &w2, 1);
    ah_strlcpy(hook2, w2.hooks[0], sizeof hook2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(publish(s, &w2, T0 + 100 + i, id), 1);
    settle(s, hook2, T0 + 200, AH_OUTCOME_SUCCEEDED);

    ah_purge_t p = {.cutoff = T0 + 1000, .max = 3};
    size_t calls = 0, events = 0, scanned = 0;
    do {
        assert_int_equal(ah_store_purge_final(s, &p), AH_OK);
        assert_true(p.scanned <= 3);
        calls++;
        events += p.events;
        scanned += p.scanned;
    } while (p.cursor[0]);
    assert_int_equal(calls, 7); /* 3+3+3+3+3+3+2 */
    assert_int_equal(scanned, 20);
    assert_int_equal(events, 10);
    assert_int_equal(q_int(s, "SELECT count(*) FROM events"), 10);
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries"), 10);
    /* A pass over exactly max old events ends with one more call that finds none. */
    ah_purge_t q = {.cutoff = T0 + 1000, .max = 10};
    assert_int_equal(ah_store_purge_final(s, &q), AH_OK);
    assert_int_equal(q.scanned, 10);
    assert_true(q.cursor[0]);
    assert_int_equal(ah_store_purge_final(s, &q), AH_OK);
    assert_int_equal(q.scanned, 0);
    assert_false(q.cursor[0]);
}

/*
 * A call removes no more deliveries than max_deliveries, stopping before
 * the event that would pass it; one event with more goes alone.  The cursor
 * goes on from there, and kept events do not count.
 */
static void test_purge_caps_deliveries(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 3);
    char id[AH_ID_SIZE];
    assert_int_equal(publish(s, &w, T0, id), 3); /* pending: kept, not counted */
    for (int i = 0; i < 3; i++)
        settle(s, w.hooks[i], T0 + 1, AH_OUTCOME_RETRY);
    for (int i = 1; i <= 9; i++)
        assert_int_equal(publish(s, &w, T0 + 10 + i, id), 3);
    for (int i = 0; i < 3; i++)
        settle(s, w.hooks[i], T0 + 100, AH_OUTCOME_SUCCEEDED);
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries WHERE status = 'pending'"), 3);

    ah_purge_t p = {.cutoff = T0 + 1000, .max = 20, .max_deliveries = 7};
    assert_int_equal(ah_store_purge_final(s, &p), AH_OK);
    assert_int_equal(p.events, 2); /* 3 + 3; a third would make 9 */
    assert_int_equal(p.deliveries, 6);
    assert_int_equal(p.scanned, 3); /* the kept one, and the two removed */
    assert_true(p.cursor[0]);       /* not a complete pass, though fewer than max */
    assert_true(p.held_us >= 0);
    size_t events = p.events, calls = 1;
    while (p.cursor[0]) {
        assert_int_equal(ah_store_purge_final(s, &p), AH_OK);
        assert_true(p.deliveries <= 7);
        events += p.events;
        assert_true(++calls < 20);
    }
    assert_int_equal(events, 9);
    assert_int_equal(calls, 5); /* 2 + 2 + 2 + 2 + 1 */

    /* Below an event's fan-out: one event per call all the same. */
    for (int i = 1; i <= 2; i++)
        assert_int_equal(publish(s, &w, T0 + 200 + i, id), 3);
    for (int i = 0; i < 3; i++)
        settle(s, w.hooks[i], T0 + 300, AH_OUTCOME_SUCCEEDED);
    ah_purge_t one = {.cutoff = T0 + 1000, .max = 20, .max_deliveries = 1};
    assert_int_equal(ah_store_purge_final(s, &one), AH_OK);
    assert_int_equal(one.events, 1);
    assert_int_equal(one.deliveries, 3);
    assert_int_equal(ah_store_purge_final(s, &one), AH_OK);
    assert_int_equal(one.events, 1);
    /* The pending event is still there, with its deliveries. */
    assert_int_equal(q_int(s, "SELECT count(*) FROM events"), 1);
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries"), 3);
}

/* A delivery made pending again by an operator keeps its event. */
static void test_purge_after_retry(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 1);
    char ev[AH_ID_SIZE], ids[8][AH_ID_SIZE];
    assert_int_equal(publish(s, &w, T0, ev), 1);
    settle(s, w.hooks[0], T0 + 10, AH_OUTCOME_FAILED);
    assert_int_equal(deliveries_of(s, ev, ids), 1);
    char hook[AH_ID_SIZE];
    assert_int_equal(ah_store_delivery_retry(s, ids[0], T0 + 500, hook), AH_OK);
    ah_purge_t sum;
    purge_all(s, T0 + 1000, 10, &sum);
    assert_int_equal(sum.events, 0);
    assert_true(event_exists(s, ev));
    /* Delivered again: it goes once that outcome is older than the cutoff. */
    settle(s, w.hooks[0], T0 + 600, AH_OUTCOME_SUCCEEDED);
    purge_all(s, T0 + 1000, 10, &sum);
    assert_int_equal(sum.events, 1);
    assert_int_equal(sum.attempts, 2);
}

static void test_purge_validation(void **state)
{
    ah_store_t *s = *state;
    ah_purge_t p = {.cutoff = T0, .max = 0};
    assert_int_equal(ah_store_purge_final(s, NULL), AH_EINVAL);
    assert_int_equal(ah_store_purge_final(s, &p), AH_EINVAL);
    p.max = AH_PURGE_MAX + 1;
    assert_int_equal(ah_store_purge_final(s, &p), AH_EINVAL);
    p.max = AH_PURGE_MAX;
    ah_strlcpy(p.cursor, "not a cursor", sizeof p.cursor);
    assert_int_equal(ah_store_purge_final(s, &p), AH_EINVAL);
    ah_strlcpy(p.cursor, "123_not-an-id", sizeof p.cursor);
    assert_int_equal(ah_store_purge_final(s, &p), AH_EINVAL);
    memset(p.cursor, 'x', sizeof p.cursor); /* not terminated */
    assert_int_equal(ah_store_purge_final(s, &p), AH_EINVAL);
    p.cursor[0] = '\0';
    assert_int_equal(ah_store_purge_final(s, &p), AH_OK); /* an empty store */
    assert_int_equal(p.scanned, 0);
    assert_false(p.cursor[0]);
}

/* SQLite: the scan reads events_by_age from the cursor; the sets probe by event and delivery. */
static void test_purge_plans(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 2);
    char id[AH_ID_SIZE];
    for (int i = 0; i < 20; i++)
        publish(s, &w, T0 + i, id);
    conn_t *c;
    assert_int_equal(acquire(from(s), &c), AH_OK);
    assert_int_equal(sqlite3_exec(c->db, "ANALYZE", NULL, NULL, NULL), SQLITE_OK);
    static const struct {
        int id;
        const char *want;
    } plans[] = {
        {ST_PURGE_SCAN, "USING COVERING INDEX events_by_age"},
        {ST_PURGE_SCAN, "INDEX deliveries_by_event (event_id=?)"},
        {ST_PURGE_HOLD, "INDEX deliveries_by_event (event_id=?)"},
        {ST_PURGE_ATTEMPTS, "INDEX attempts_by_delivery (delivery_id=?)"},
        {ST_PURGE_ATTEMPTS, "INDEX deliveries_by_event (event_id=?)"},
        {ST_PURGE_DELIVERIES, "INDEX deliveries_by_event (event_id=?)"},
        {ST_PURGE_EVENTS, "INDEX sqlite_autoindex_events_1 (id=?)"},
    };
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        char sql[2048], plan[2048] = "";
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", stmt_sql[plans[i].id]);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(c->db, sql, -1, &st, NULL), SQLITE_OK);
        size_t used = 0;
        while (sqlite3_step(st) == SQLITE_ROW && used < sizeof plan) {
            int n = snprintf(plan + used, sizeof plan - used, "%s\n",
                             (const char *)sqlite3_column_text(st, 3));
            used += n > 0 ? (size_t)n : 0;
        }
        sqlite3_finalize(st);
        if (!strstr(plan, plans[i].want))
            fprintf(stderr, "plan of %s:\n%s", stmt_sql[plans[i].id], plan);
        assert_non_null(strstr(plan, plans[i].want));
    }
    release(from(s), c);
}

/* Publishes n events of `bytes` of data each at `at`. */
static void publish_big(ah_store_t *s, const world_t *w, int64_t at, int n, size_t bytes)
{
    char *data = malloc(bytes + 16);
    assert_non_null(data);
    memset(data, 'x', bytes + 16);
    memcpy(data, "{\"pad\":\"", 8);
    memcpy(data + 8 + bytes, "\"}", 3);
    for (int i = 0; i < n; i++) {
        ah_event_t ev;
        memset(&ev, 0, sizeof ev);
        ah_uuid_v4(ev.id);
        ah_strlcpy(ev.community_id, w->c.id, sizeof ev.community_id);
        ah_strlcpy(ev.trigger, TRIG, sizeof ev.trigger);
        ev.data = data;
        ev.data_len = strlen(data);
        ev.created_at = at + i;
        ah_publish_result_t res;
        assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
        free(res.webhook_ids);
    }
    free(data);
}

/*
 * A new database shrinks back after a purge, a bounded number of pages per
 * call, down to a reserve of free pages kept for the rows to come.
 */
static void test_reclaim_gives_space_back(void **state)
{
    ah_store_t *s = *state;
    ah_store_space_t sp;
    assert_int_equal(ah_store_reclaim_space(s, 0, NULL), AH_EINVAL);
    assert_int_equal(ah_store_reclaim_space(s, 0, &sp), AH_OK);
    if (tb_pg()) { /* PostgreSQL's autovacuum makes the room reusable by itself */
        assert_false(sp.known);
        return;
    }
    assert_true(sp.known && sp.shrinks);
    world_t w;
    new_world(s, &w, 1);
    publish_big(s, &w, T0, 160, 64 * 1024);                 /* 10 MiB */
    settle(s, w.hooks[0], T0 + 1000, AH_OUTCOME_SUCCEEDED); /* 100 at a time */
    settle(s, w.hooks[0], T0 + 1000, AH_OUTCOME_SUCCEEDED);
    assert_int_equal(ah_store_reclaim_space(s, 0, &sp), AH_OK);
    int64_t full = sp.file_bytes;
    assert_true(full > 10 * 1024 * 1024);
    ah_purge_t sum;
    purge_all(s, T0 + 2000, 100, &sum);
    assert_int_equal(sum.events, 160);
    /* Each call gives back about 16 pages (64 KiB at 4 KiB pages), until "no more". */
    int calls = 0;
    int64_t last = full;
    do {
        assert_int_equal(ah_store_reclaim_space(s, 16, &sp), AH_OK);
        /* 16 free pages, and a pointer-map page when the last of those it maps go. */
        assert_true(sp.reclaimed_bytes <= 17 * 4096);
        assert_int_equal(last - sp.file_bytes, sp.reclaimed_bytes);
        last = sp.file_bytes;
        assert_true(++calls < 2000);
    } while (sp.more);
    assert_true(calls > 10);
    assert_true(sp.file_bytes < full - 5 * 1024 * 1024);
    /* The reserve stays free: the next rows reuse it before the file grows. */
    assert_true(sp.free_bytes > 0 && sp.free_bytes <= 1024 * 4096);
    publish_big(s, &w, T0 + 3000, 8, 64 * 1024);
    ah_store_space_t after;
    assert_int_equal(ah_store_reclaim_space(s, 0, &after), AH_OK);
    assert_int_equal(after.file_bytes, sp.file_bytes);
    assert_true(after.free_bytes < sp.free_bytes);
}

/*
 * A file made before airhook set auto_vacuum (here: one with a table of its
 * own already) keeps auto_vacuum off: it reuses free pages, never shrinks.
 */
static void test_reclaim_older_file_reuses(void **state)
{
    tmpdb_t *t = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE before_airhook (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    ah_store_t *s = open_file(t);
    world_t w;
    new_world(s, &w, 1);
    publish_big(s, &w, T0, 120, 64 * 1024);
    settle(s, w.hooks[0], T0 + 1000, AH_OUTCOME_SUCCEEDED); /* 100 at a time */
    settle(s, w.hooks[0], T0 + 1000, AH_OUTCOME_SUCCEEDED);
    ah_purge_t sum;
    purge_all(s, T0 + 2000, 100, &sum);
    assert_int_equal(sum.events, 120);
    ah_store_space_t sp;
    assert_int_equal(ah_store_reclaim_space(s, 256, &sp), AH_OK);
    assert_true(sp.known);
    assert_false(sp.shrinks);
    assert_false(sp.more);
    assert_int_equal(sp.reclaimed_bytes, 0);
    assert_true(sp.free_bytes > 5 * 1024 * 1024);
    /* The same rows again fit in the free pages: the file does not grow. */
    publish_big(s, &w, T0 + 3000, 60, 64 * 1024);
    ah_store_space_t again;
    assert_int_equal(ah_store_reclaim_space(s, 0, &again), AH_OK);
    assert_int_equal(again.file_bytes, sp.file_bytes);
    ah_store_close(s);
}

/* ------------------------------------------------------------------------ */
/* PostgreSQL: several processes at once.                                    */

static PGconn *side_conn(ah_store_t *s)
{
    PGconn *pg = PQconnectdb(tb_dsn_of(s));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    return pg;
}

static void side_cmd(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    PQclear(r);
}

/* An event another node's purge holds is skipped, not waited for. */
static void test_purge_skips_held_events(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 1);
    char a[AH_ID_SIZE], b[AH_ID_SIZE];
    assert_int_equal(publish(s, &w, T0, a), 1);
    assert_int_equal(publish(s, &w, T0 + 1, b), 1);
    settle(s, w.hooks[0], T0 + 10, AH_OUTCOME_SUCCEEDED);
    PGconn *pg = side_conn(s);
    char sql[160];
    snprintf(sql, sizeof sql, "BEGIN; SELECT 1 FROM events WHERE id = '%s' FOR UPDATE", a);
    side_cmd(pg, sql);
    ah_purge_t sum;
    purge_all(s, T0 + 1000, 10, &sum);
    assert_int_equal(sum.events, 1);
    assert_true(event_exists(s, a));
    assert_false(event_exists(s, b));
    side_cmd(pg, "COMMIT");
    purge_all(s, T0 + 1000, 10, &sum);
    assert_int_equal(sum.events, 1);
    assert_false(event_exists(s, a));
    PQfinish(pg);
}

typedef struct purge_thread {
    ah_store_t *s;
    ah_purge_t p;
    int rc;
} purge_thread_t;

static void *purge_main(void *arg)
{
    purge_thread_t *t = arg;
    t->rc = ah_store_purge_final(t->s, &t->p);
    return NULL;
}

/*
 * A delivery that another node makes pending again while the purge runs:
 * the purge saw it final, waits on its row lock, reads the new state, and
 * keeps the event with all its attempts.
 */
static void test_purge_waits_for_a_concurrent_retry(void **state)
{
    ah_store_t *s = *state;
    world_t w;
    new_world(s, &w, 1);
    char ev[AH_ID_SIZE], ids[8][AH_ID_SIZE];
    assert_int_equal(publish(s, &w, T0, ev), 1);
    settle(s, w.hooks[0], T0 + 10, AH_OUTCOME_FAILED);
    assert_int_equal(deliveries_of(s, ev, ids), 1);
    PGconn *pg = side_conn(s);
    char sql[200];
    snprintf(sql, sizeof sql,
             "BEGIN; UPDATE deliveries SET status = 'pending', updated_at = %lld WHERE id = '%s'",
             (long long)(T0 + 2000), ids[0]);
    side_cmd(pg, sql);
    purge_thread_t t = {.s = s, .p = {.cutoff = T0 + 1000, .max = 10}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, purge_main, &t), 0);
    usleep(300 * 1000); /* the purge is now waiting on the delivery's row */
    side_cmd(pg, "COMMIT");
    pthread_join(th, NULL);
    assert_int_equal(t.rc, AH_OK);
    assert_int_equal(t.p.scanned, 1);
    assert_int_equal(t.p.events, 0);
    assert_true(event_exists(s, ev));
    assert_int_equal(q_int(s, tb_count_attempts()), 1);
    PQfinish(pg);
}

static const struct CMUnitTest common_tests[] = {
    cmocka_unit_test_setup_teardown(test_purge_final_old, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_purge_cancelled_and_young, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_purge_keeps_disabled_webhooks_work, open_store,
                                    close_store),
    cmocka_unit_test_setup_teardown(test_purge_cursor_passes_kept_events, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_purge_caps_deliveries, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_purge_after_retry, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_purge_validation, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_reclaim_gives_space_back, open_store, close_store),
};

static const struct CMUnitTest pg_tests[] = {
    cmocka_unit_test_setup_teardown(test_purge_skips_held_events, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_purge_waits_for_a_concurrent_retry, open_store,
                                    close_store),
};

static const struct CMUnitTest sqlite_tests[] = {
    cmocka_unit_test_setup_teardown(test_purge_plans, open_store, close_store),
    cmocka_unit_test_setup_teardown(test_reclaim_older_file_reuses, tmpdb_setup, tmpdb_teardown),
};

int main(void)
{
    if (tb_check())
        return 1;
    int failed = cmocka_run_group_tests_name(tb_name(), common_tests, NULL, NULL);
    if (tb_pg())
        failed += cmocka_run_group_tests_name("postgres: several nodes", pg_tests, NULL, NULL);
    else
        failed += cmocka_run_group_tests_name("sqlite plans", sqlite_tests, NULL, NULL);
    return failed;
}
