/* SPDX-License-Identifier: MIT */
/*
 * test_store_delivery.c: unit tests of the events-and-deliveries half of the
 * SQLite store (publish, claim, record, list, operator actions, stats).
 *
 * Like h2o's unit tests, this file #includes the backend itself, so that it
 * can reach a connection and ask SQLite for the query plan of the very
 * statement texts the store runs (the publish fan-out must use the
 * webhooks_match index, claims deliveries_queue, and so on).  Everything
 * else goes through the ah_store_*() layer, as the rest of airhook does.
 *
 * Most tests run on a fresh store of the backend chosen by AH_TEST_STORE
 * (store_backend.h: ":memory:" SQLite by default, a database of its own on
 * AH_TEST_PG_DSN's server with AH_TEST_STORE=postgres).  The query plans,
 * the migration from version 1 and the file-backed concurrency test are
 * about SQLite and run on it only.  Threaded tests never call cmocka from a
 * worker: workers count failures and the main thread asserts.
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

#include "store/store_sqlite.c"
#include "store_backend.h"

#define T0 1700000000000LL
#define TRIG "trigger.airmeet.registrant.added"
#define TRIG2 "trigger.airmeet.created"

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                  */

/* A fresh store of the backend under test (":memory:" for SQLite). */
static int open_memory(void **state)
{
    return tb_setup(state);
}

static int close_store(void **state)
{
    return tb_teardown(state);
}

/*
 * Runs sql on one of the store's own connections (PostgreSQL: a side
 * connection to its database); the first column of the first row.
 */
static int64_t q_int(ah_store_t *s, const char *sql)
{
    if (tb_pg())
        return tb_pg_int(tb_dsn_of(s), sql);
    conn_t *c;
    assert_int_equal(acquire(from(s), &c), AH_OK);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "q_int: %s\n", sqlite3_errmsg(c->db));
    int64_t v = -1;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    release(from(s), c);
    assert_int_equal(rc, SQLITE_OK);
    return v;
}

static void q_exec(ah_store_t *s, const char *sql)
{
    if (tb_pg()) {
        assert_int_equal(tb_pg_exec(tb_dsn_of(s), sql), 0);
        return;
    }
    conn_t *c;
    assert_int_equal(acquire(from(s), &c), AH_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "q_exec: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    release(from(s), c);
    assert_int_equal(rc, SQLITE_OK);
}

static void side_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "side_exec: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

static int64_t side_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void new_community(ah_store_t *s, ah_community_t *c, const char *name)
{
    memset(c, 0, sizeof *c);
    ah_uuid_v4(c->id);
    ah_strlcpy(c->name, name, sizeof c->name);
    c->created_at = T0;
    assert_int_equal(ah_store_community_create(s, c), AH_OK);
}

static void new_airmeet(ah_store_t *s, ah_airmeet_t *a, const char *community_id)
{
    memset(a, 0, sizeof *a);
    ah_uuid_v4(a->id);
    ah_strlcpy(a->community_id, community_id, sizeof a->community_id);
    ah_strlcpy(a->name, "Launch day", sizeof a->name);
    a->created_at = T0;
    assert_int_equal(ah_store_airmeet_create(s, a), AH_OK);
}

static void new_session(ah_store_t *s, ah_session_t *ss, const ah_airmeet_t *a)
{
    memset(ss, 0, sizeof *ss);
    ah_uuid_v4(ss->id);
    ah_strlcpy(ss->airmeet_id, a->id, sizeof ss->airmeet_id);
    ah_strlcpy(ss->community_id, a->community_id, sizeof ss->community_id);
    ah_strlcpy(ss->name, "Keynote", sizeof ss->name);
    ss->created_at = T0;
    assert_int_equal(ah_store_session_create(s, ss), AH_OK);
}

/* Registers a webhook; returns its id in id_out. */
static void new_webhook(ah_store_t *s, char id_out[AH_ID_SIZE], const char *community_id,
                        const char *trigger, const char *airmeet_id, const char *session_id)
{
    static int serial;
    ah_webhook_t *w = calloc(2, sizeof *w);
    assert_non_null(w);
    ah_uuid_v4(w->id);
    ah_strlcpy(w->community_id, community_id, sizeof w->community_id);
    ah_strlcpy(w->trigger, trigger, sizeof w->trigger);
    ah_strlcpy(w->name, "crm sync", sizeof w->name);
    snprintf(w->url, sizeof w->url, "https://example.com/hook/%d", ++serial);
    ah_strlcpy(w->platform_name, "zapier", sizeof w->platform_name);
    ah_strlcpy(w->airmeet_id, airmeet_id ? airmeet_id : "", sizeof w->airmeet_id);
    ah_strlcpy(w->session_id, session_id ? session_id : "", sizeof w->session_id);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "{}", sizeof w->meta_data);
    w->created_at = T0;
    w->updated_at = T0;
    ah_strlcpy(w->created_by, "key label", sizeof w->created_by);
    ah_strlcpy(w->secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj", sizeof w->secret);
    bool existed = true;
    assert_int_equal(ah_store_webhook_register(s, w, &w[1], &existed), AH_OK);
    assert_false(existed);
    ah_strlcpy(id_out, w->id, AH_ID_SIZE);
    free(w);
}

static void fill_event(ah_event_t *ev, const char *community_id, const char *trigger,
                       const char *airmeet_id, const char *session_id, const char *key,
                       const char *data, int64_t at)
{
    memset(ev, 0, sizeof *ev);
    ah_uuid_v4(ev->id);
    ah_strlcpy(ev->community_id, community_id, sizeof ev->community_id);
    ah_strlcpy(ev->trigger, trigger, sizeof ev->trigger);
    ah_strlcpy(ev->airmeet_id, airmeet_id ? airmeet_id : "", sizeof ev->airmeet_id);
    ah_strlcpy(ev->session_id, session_id ? session_id : "", sizeof ev->session_id);
    ah_strlcpy(ev->idempotency_key, key ? key : "", sizeof ev->idempotency_key);
    ev->data = (char *)data;
    ev->data_len = strlen(data);
    ev->created_at = at;
}

/* Publishes a fresh event and returns how many deliveries it made; the id in ev_id. */
static size_t publish(ah_store_t *s, char ev_id[AH_ID_SIZE], const char *community_id,
                      const char *trigger, const char *airmeet_id, const char *session_id,
                      int64_t at)
{
    ah_event_t ev;
    fill_event(&ev, community_id, trigger, airmeet_id, session_id, NULL, "{\"n\":1}", at);
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    assert_false(res.duplicate);
    assert_string_equal(res.event_id, ev.id);
    if (ev_id)
        ah_strlcpy(ev_id, ev.id, AH_ID_SIZE);
    free(res.webhook_ids);
    return res.n_deliveries;
}

static bool has_webhook(const ah_publish_result_t *res, const char *id)
{
    for (size_t i = 0; i < res->n_deliveries; i++)
        if (!strcmp(res->webhook_ids[i], id))
            return true;
    return false;
}

/* Asserts that publishing (community, trigger, airmeet, session) reaches exactly want[0..n). */
static void expect_match(ah_store_t *s, const char *community_id, const char *trigger,
                         const char *airmeet_id, const char *session_id, const char *const *want,
                         size_t n_want)
{
    ah_event_t ev;
    fill_event(&ev, community_id, trigger, airmeet_id, session_id, NULL, "{}", T0);
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    assert_int_equal(res.n_deliveries, n_want);
    for (size_t i = 0; i < n_want; i++)
        assert_true(has_webhook(&res, want[i]));
    if (n_want == 0)
        assert_null(res.webhook_ids);
    free(res.webhook_ids);
    /* The rows are there too, one per webhook, pending and due at once. */
    ah_delivery_filter_t f = {.event_id = ev.id, .status = AH_DLV_PENDING, .limit = 500};
    ah_delivery_t *list = NULL;
    size_t n = 0;
    char cursor[AH_CURSOR_SIZE];
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, cursor), AH_OK);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].event_id, ev.id);
        assert_string_equal(list[i].trigger, trigger);
        assert_int_equal(list[i].next_attempt_at, T0);
        assert_int_equal(list[i].attempts, 0);
        assert_true(ah_is_uuid(list[i].id));
    }
    free(list);
}

static ah_attempt_result_t result(const char *delivery_id, int attempt_no, int64_t started,
                                  ah_outcome_t outcome, int status_code, const char *error,
                                  int64_t next_at)
{
    ah_attempt_result_t r;
    memset(&r, 0, sizeof r);
    ah_strlcpy(r.delivery_id, delivery_id, sizeof r.delivery_id);
    r.attempt.attempt_no = attempt_no;
    r.attempt.started_at = started;
    r.attempt.duration_ms = 12;
    r.attempt.status_code = status_code;
    ah_strlcpy(r.attempt.error, error ? error : "", sizeof r.attempt.error);
    if (status_code)
        snprintf(r.attempt.response_head, sizeof r.attempt.response_head, "{\"code\":%d}",
                 status_code);
    r.outcome = outcome;
    r.next_attempt_at = next_at;
    return r;
}

static void get_delivery(ah_store_t *s, const char *id, ah_delivery_t *d)
{
    assert_int_equal(ah_store_delivery_get(s, id, d, NULL, NULL), AH_OK);
}

static void get_webhook(ah_store_t *s, const char *id, ah_webhook_t *w)
{
    assert_int_equal(ah_store_webhook_get(s, id, w), AH_OK);
}

/* ------------------------------------------------------------------------ */
/* Publish.                                                                  */

static void test_publish_matching(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, c2;
    new_community(s, &c, "Acme");
    new_community(s, &c2, "Other");
    ah_airmeet_t a, b;
    new_airmeet(s, &a, c.id);
    new_airmeet(s, &b, c.id);
    ah_session_t s1, s2;
    new_session(s, &s1, &a);
    new_session(s, &s2, &a);

    char any[AH_ID_SIZE], in_a[AH_ID_SIZE], in_b[AH_ID_SIZE], a_s1[AH_ID_SIZE], s1_only[AH_ID_SIZE],
        trig2[AH_ID_SIZE], other[AH_ID_SIZE], off[AH_ID_SIZE], gone[AH_ID_SIZE];
    new_webhook(s, any, c.id, TRIG, NULL, NULL);
    new_webhook(s, in_a, c.id, TRIG, a.id, NULL);
    new_webhook(s, in_b, c.id, TRIG, b.id, NULL);
    new_webhook(s, a_s1, c.id, TRIG, a.id, s1.id);
    new_webhook(s, s1_only, c.id, TRIG, NULL, s1.id);
    new_webhook(s, trig2, c.id, TRIG2, NULL, NULL);
    new_webhook(s, other, c2.id, TRIG, NULL, NULL);
    new_webhook(s, off, c.id, TRIG, NULL, NULL);
    new_webhook(s, gone, c.id, TRIG, NULL, NULL);
    assert_int_equal(ah_store_webhook_set_active(s, off, false, "manual", T0), AH_OK);
    assert_int_equal(ah_store_webhook_deregister(s, gone, "crm", T0), AH_OK);

    /* No airmeet: airmeet- or session-scoped webhooks do not hear it. */
    const char *const e1[] = {any};
    expect_match(s, c.id, TRIG, NULL, NULL, e1, 1);
    /* Airmeet A: unscoped and A-scoped. */
    const char *const e2[] = {any, in_a};
    expect_match(s, c.id, TRIG, a.id, NULL, e2, 2);
    /* Airmeet A, session S1: also the S1-scoped ones. */
    const char *const e3[] = {any, in_a, a_s1, s1_only};
    expect_match(s, c.id, TRIG, a.id, s1.id, e3, 4);
    /* Another session of A. */
    const char *const e4[] = {any, in_a};
    expect_match(s, c.id, TRIG, a.id, s2.id, e4, 2);
    /* Airmeet B. */
    const char *const e5[] = {any, in_b};
    expect_match(s, c.id, TRIG, b.id, NULL, e5, 2);
    /* Other trigger, other community, and a trigger nobody listens to. */
    const char *const e6[] = {trig2};
    expect_match(s, c.id, TRIG2, NULL, NULL, e6, 1);
    const char *const e7[] = {other};
    expect_match(s, c2.id, TRIG, a.id, NULL, e7, 1);
    expect_match(s, c.id, "trigger.airmeet.polls", a.id, NULL, NULL, 0);

    /* Re-enabled, the disabled webhook hears the next event. */
    assert_int_equal(ah_store_webhook_set_active(s, off, true, NULL, T0), AH_OK);
    const char *const e8[] = {any, off};
    expect_match(s, c.id, TRIG, NULL, NULL, e8, 2);
}

static void test_event_roundtrip_and_errors(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_airmeet_t a;
    new_airmeet(s, &a, c.id);

    /* The body comes back byte for byte, quotes, unicode and all. */
    const char *body = "{ \"name\" : \"Ren\xc3\xa9"
                       "e O'Brien\", \"q\": \"'; DROP TABLE events; --\","
                       "\"n\":[1,2,3] }";
    ah_event_t ev, got;
    fill_event(&ev, c.id, TRIG, a.id, NULL, "key-1", body, T0 + 5);
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    assert_int_equal(res.n_deliveries, 0);
    assert_null(res.webhook_ids);
    assert_int_equal(ah_store_event_get(s, ev.id, &got), AH_OK);
    assert_string_equal(got.id, ev.id);
    assert_string_equal(got.community_id, c.id);
    assert_string_equal(got.trigger, TRIG);
    assert_string_equal(got.airmeet_id, a.id);
    assert_string_equal(got.session_id, "");
    assert_string_equal(got.idempotency_key, "key-1");
    assert_int_equal(got.created_at, T0 + 5);
    assert_int_equal(got.data_len, strlen(body));
    assert_memory_equal(got.data, body, strlen(body));
    assert_int_equal(got.data[got.data_len], '\0');
    free(got.data);

    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_event_get(s, missing, &got), AH_ENOTFOUND);
    assert_null(got.data);

    /* The same event id twice, an unknown community, no body. */
    ah_event_t again = ev;
    again.idempotency_key[0] = '\0';
    assert_int_equal(ah_store_event_publish(s, &again, &res), AH_EEXISTS);
    assert_null(res.webhook_ids);
    ah_event_t orphan;
    fill_event(&orphan, missing, TRIG, NULL, NULL, NULL, "{}", T0);
    assert_int_equal(ah_store_event_publish(s, &orphan, &res), AH_ENOTFOUND);
    ah_event_t nobody;
    fill_event(&nobody, c.id, TRIG, NULL, NULL, NULL, "{}", T0);
    nobody.data = NULL;
    nobody.data_len = 0;
    assert_int_equal(ah_store_event_publish(s, &nobody, &res), AH_EINVAL);
    assert_int_equal(ah_store_event_get(s, nobody.id, &got), AH_ENOTFOUND);
}

/* The operator's page of events: newest first, by community, trigger and time, without data. */
/*
 * A webhook test (ah_store_event_publish_test): the event and one delivery
 * to that webhook only, whatever else matches; marked as a test in the
 * event list; nothing stored for a webhook that cannot take it.
 */
static void test_publish_test_event(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    ah_airmeet_t a;
    new_airmeet(s, &a, c.id);
    char target[AH_ID_SIZE], twin[AH_ID_SIZE], off[AH_ID_SIZE], gone[AH_ID_SIZE];
    new_webhook(s, target, c.id, TRIG, a.id, NULL);
    new_webhook(s, twin, c.id, TRIG, a.id, NULL);
    new_webhook(s, off, c.id, TRIG, NULL, NULL);
    new_webhook(s, gone, c.id, TRIG, NULL, NULL);
    assert_int_equal(ah_store_webhook_set_active(s, off, false, "manual", T0), AH_OK);
    assert_int_equal(ah_store_webhook_deregister(s, gone, "crm", T0), AH_OK);

    ah_event_t ev;
    char dlv[AH_ID_SIZE];
    /* Its idempotency key is ignored: a test is never a duplicate. */
    fill_event(&ev, c.id, TRIG, a.id, NULL, "k1", "{\"sample\":true}", T0 + 5);
    ah_uuid_v4(dlv);
    assert_int_equal(ah_store_event_publish_test(s, &ev, target, dlv), AH_OK);

    ah_delivery_filter_t f = {.event_id = ev.id, .status = -1, .limit = 10};
    ah_delivery_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, dlv);
    assert_string_equal(list[0].webhook_id, target);
    assert_string_equal(list[0].trigger, TRIG);
    assert_int_equal(list[0].status, AH_DLV_PENDING);
    assert_int_equal(list[0].next_attempt_at, T0 + 5);
    free(list);
    ah_event_t got;
    assert_int_equal(ah_store_event_get(s, ev.id, &got), AH_OK);
    assert_int_equal(got.data_len, strlen("{\"sample\":true}"));
    assert_memory_equal(got.data, "{\"sample\":true}", got.data_len);
    assert_string_equal(got.idempotency_key, "");
    free(got.data);

    /* An ordinary publish is not a test, and the test event's key was not taken. */
    char plain[AH_ID_SIZE];
    assert_int_equal(publish(s, plain, c.id, TRIG, a.id, NULL, T0 + 6), 2);
    ah_event_filter_t ef = {.community_id = c.id, .limit = 10};
    ah_event_t *events = NULL;
    assert_int_equal(ah_store_event_page(s, &ef, &events, &n, NULL), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(events[0].id, plain);
    assert_false(events[0].test);
    assert_string_equal(events[1].id, ev.id);
    assert_true(events[1].test);
    free(events);
    ah_event_t keyed;
    ah_publish_result_t res;
    fill_event(&keyed, c.id, TRIG2, NULL, NULL, "k1", "{}", T0 + 7);
    assert_int_equal(ah_store_event_publish(s, &keyed, &res), AH_OK);
    assert_false(res.duplicate);
    free(res.webhook_ids);

    /* Disabled, deregistered, unknown: AH_ENOTFOUND, and no event is left behind. */
    const char *refused[] = {off, gone, "00000000-0000-4000-8000-000000000000"};
    for (size_t i = 0; i < 3; i++) {
        fill_event(&ev, c.id, TRIG, NULL, NULL, NULL, "{}", T0 + 8);
        ah_uuid_v4(dlv);
        assert_int_equal(ah_store_event_publish_test(s, &ev, refused[i], dlv), AH_ENOTFOUND);
        assert_int_equal(ah_store_event_get(s, ev.id, &got), AH_ENOTFOUND);
    }
    assert_int_equal(ah_store_event_publish_test(s, &ev, target, ""), AH_EINVAL);
    assert_int_equal(ah_store_event_publish_test(s, &ev, "", dlv), AH_EINVAL);
    assert_int_equal(ah_store_event_publish_test(s, NULL, target, dlv), AH_EINVAL);
}

static void test_event_pages(void **state)
{
    ah_store_t *s = *state;
    ah_community_t a, b;
    new_community(s, &a, "A");
    new_community(s, &b, "B");
    char ids[4][AH_ID_SIZE];
    publish(s, ids[0], a.id, "trigger.airmeet.created", NULL, NULL, T0 + 10);
    publish(s, ids[1], a.id, "trigger.airmeet.finished", NULL, NULL, T0 + 20);
    publish(s, ids[2], a.id, "trigger.airmeet.created", NULL, NULL, T0 + 30);
    publish(s, ids[3], b.id, "trigger.airmeet.created", NULL, NULL, T0 + 40);

    ah_event_filter_t f = {.community_id = a.id, .limit = 2};
    ah_event_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE];
    assert_int_equal(ah_store_event_page(s, &f, &list, &n, next), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, ids[2]);
    assert_string_equal(list[1].id, ids[1]);
    assert_null(list[0].data);
    assert_int_equal(list[0].created_at, T0 + 30);
    assert_true(next[0] != '\0');
    free(list);
    f.cursor = next;
    assert_int_equal(ah_store_event_page(s, &f, &list, &n, next), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, ids[0]);
    assert_string_equal(next, "");
    free(list);

    f = (ah_event_filter_t){
        .community_id = a.id, .trigger = "trigger.airmeet.created", .limit = 10};
    assert_int_equal(ah_store_event_page(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, ids[2]);
    assert_string_equal(list[1].id, ids[0]);
    free(list);
    /* since is inclusive, until exclusive; across communities. */
    f = (ah_event_filter_t){.since = T0 + 20, .until = T0 + 40, .limit = 10};
    assert_int_equal(ah_store_event_page(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, ids[2]);
    assert_string_equal(list[1].id, ids[1]);
    free(list);

    f.limit = 0;
    assert_int_equal(ah_store_event_page(s, &f, &list, &n, NULL), AH_EINVAL);
    f.limit = 1;
    f.cursor = "x_y";
    assert_int_equal(ah_store_event_page(s, &f, &list, &n, NULL), AH_EINVAL);
    assert_int_equal(ah_store_event_page(s, NULL, &list, &n, NULL), AH_EINVAL);
}

/* Deliveries by time, and an event's delivery to one webhook. */
static void test_delivery_list_filters(void **state)
{
    ah_store_t *s = *state;
    ah_community_t a;
    new_community(s, &a, "A");
    char w1[AH_ID_SIZE], w2[AH_ID_SIZE], ev[3][AH_ID_SIZE];
    new_webhook(s, w1, a.id, "trigger.airmeet.created", NULL, NULL);
    new_webhook(s, w2, a.id, "trigger.airmeet.created", NULL, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            publish(s, ev[i], a.id, "trigger.airmeet.created", NULL, NULL, T0 + 10 * (i + 1)), 2);
    ah_delivery_t *list = NULL;
    size_t n = 0;
    ah_delivery_filter_t f = {.webhook_id = w1, .status = -1, .limit = 10, .since = T0 + 20};
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].event_id, ev[2]);
    assert_string_equal(list[1].event_id, ev[1]);
    free(list);
    f = (ah_delivery_filter_t){.webhook_id = w1, .status = -1, .limit = 10, .until = T0 + 20};
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].event_id, ev[0]);
    free(list);
    f = (ah_delivery_filter_t){.event_id = ev[1], .webhook_id = w2, .status = -1, .limit = 10};
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].webhook_id, w2);
    assert_string_equal(list[0].event_id, ev[1]);
    free(list);
    f.since = T0 + 30;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, NULL), AH_OK);
    assert_int_equal(n, 0);
    free(list);
}

static void test_publish_idempotency(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, c2;
    new_community(s, &c, "Acme");
    new_community(s, &c2, "Other");
    char w1[AH_ID_SIZE], w2[AH_ID_SIZE], w3[AH_ID_SIZE];
    new_webhook(s, w1, c.id, TRIG, NULL, NULL);
    new_webhook(s, w2, c.id, TRIG, NULL, NULL);
    new_webhook(s, w3, c2.id, TRIG, NULL, NULL);

    ah_event_t first, second;
    ah_publish_result_t res;
    fill_event(&first, c.id, TRIG, NULL, NULL, "order-42", "{\"v\":1}", T0);
    assert_int_equal(ah_store_event_publish(s, &first, &res), AH_OK);
    assert_false(res.duplicate);
    assert_int_equal(res.n_deliveries, 2);
    free(res.webhook_ids);

    /* A third webhook appears; the repeat still creates nothing. */
    char w4[AH_ID_SIZE];
    new_webhook(s, w4, c.id, TRIG, NULL, NULL);
    int64_t rows = q_int(s, "SELECT (SELECT count(*) FROM events) * 1000"
                            " + (SELECT count(*) FROM deliveries)");
    fill_event(&second, c.id, TRIG, NULL, NULL, "order-42", "{\"v\":2}", T0 + 1);
    assert_int_equal(ah_store_event_publish(s, &second, &res), AH_OK);
    assert_true(res.duplicate);
    assert_string_equal(res.event_id, first.id);
    assert_int_equal(res.n_deliveries, 2);
    assert_null(res.webhook_ids);
    assert_int_equal(q_int(s, "SELECT (SELECT count(*) FROM events) * 1000"
                              " + (SELECT count(*) FROM deliveries)"),
                     rows);
    ah_event_t got;
    assert_int_equal(ah_store_event_get(s, second.id, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_event_get(s, first.id, &got), AH_OK);
    assert_string_equal(got.data, "{\"v\":1}");
    free(got.data);

    /* The same key in another community is another event. */
    ah_event_t elsewhere;
    fill_event(&elsewhere, c2.id, TRIG, NULL, NULL, "order-42", "{}", T0);
    assert_int_equal(ah_store_event_publish(s, &elsewhere, &res), AH_OK);
    assert_false(res.duplicate);
    assert_string_equal(res.event_id, elsewhere.id);
    assert_int_equal(res.n_deliveries, 1);
    assert_string_equal(res.webhook_ids[0], w3);
    free(res.webhook_ids);

    /* Without a key, every publish is new; a new key now reaches all three. */
    assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0), 3);
    assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0), 3);
    ah_event_t fresh;
    fill_event(&fresh, c.id, TRIG, NULL, NULL, "order-43", "{}", T0);
    assert_int_equal(ah_store_event_publish(s, &fresh, &res), AH_OK);
    assert_false(res.duplicate);
    assert_int_equal(res.n_deliveries, 3);
    assert_true(has_webhook(&res, w1) && has_webhook(&res, w2) && has_webhook(&res, w4));
    free(res.webhook_ids);
}

/* ------------------------------------------------------------------------ */
/* Claim, record, release.                                                   */

/* A webhook with deliveries due at T0+dues[i]; the event ids in ev_ids. */
static void queue_for(ah_store_t *s, const char *community_id, const char *trigger,
                      const int64_t *dues, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(publish(s, NULL, community_id, trigger, NULL, NULL, T0 + dues[i]), 1);
}

/*
 * Several webhooks in one call: each gets its own answer, the webhook row
 * when asked, and the same leases as delivery_claim would take.
 */
static void test_claim_many(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char a[AH_ID_SIZE], b[AH_ID_SIZE], off[AH_ID_SIZE];
    new_webhook(s, a, c.id, TRIG, NULL, NULL);
    new_webhook(s, b, c.id, TRIG, NULL, NULL);
    new_webhook(s, off, c.id, TRIG, NULL, NULL);
    const int64_t dues[] = {0, 1, 2, 500};
    for (size_t i = 0; i < AH_ARRAY_LEN(dues); i++) /* each to a, b and off */
        assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0 + dues[i]), 3);
    assert_int_equal(ah_store_webhook_set_active(s, off, false, "paused", T0), AH_OK);

    ah_webhook_t *wb = calloc(2, sizeof *wb);
    assert_non_null(wb);
    ah_claim_req_t r[4] = {
        {.max = 2}, {.max = 10, .webhook = &wb[0]}, {.max = 10, .webhook = &wb[1]}, {.max = 10}};
    ah_strlcpy(r[0].webhook_id, a, sizeof r[0].webhook_id);
    ah_strlcpy(r[1].webhook_id, b, sizeof r[1].webhook_id);
    ah_strlcpy(r[2].webhook_id, off, sizeof r[2].webhook_id);
    ah_strlcpy(r[3].webhook_id, "00000000-0000-4000-8000-000000000000", sizeof r[3].webhook_id);
    const int64_t now = T0 + 10, lease = now + 60000;
    assert_int_equal(ah_store_delivery_claim_many(s, r, 4, now, lease), AH_OK);

    /* a: max 2, oldest due first; the third due one is next. */
    assert_int_equal(r[0].rc, AH_OK);
    assert_int_equal(r[0].n, 2);
    assert_int_equal(r[0].next_due, T0 + 2);
    for (size_t i = 0; i < r[0].n; i++) {
        ah_delivery_t d;
        get_delivery(s, r[0].claims[i].delivery_id, &d);
        assert_int_equal(d.next_attempt_at, T0 + (int64_t)i);
        assert_int_equal(d.lease_until, lease);
        assert_string_equal(d.webhook_id, a);
        assert_string_equal(r[0].claims[i].data, "{\"n\":1}");
    }
    /* b: the three due, and its row. */
    assert_int_equal(r[1].rc, AH_OK);
    assert_int_equal(r[1].n, 3);
    assert_int_equal(r[1].next_due, T0 + 500);
    assert_string_equal(wb[0].id, b);
    assert_true(wb[0].is_active);
    assert_true(wb[0].secret[0] != '\0');
    /* Disabled: its row, nothing claimed.  Unknown: AH_ENOTFOUND. */
    assert_int_equal(r[2].rc, AH_OK);
    assert_int_equal(r[2].n, 0);
    assert_false(wb[1].is_active);
    assert_int_equal(r[3].rc, AH_ENOTFOUND);
    assert_int_equal(r[3].n, 0);
    for (size_t i = 0; i < 4; i++)
        ah_claims_free(r[i].claims, r[i].n);

    /* What is leased is not claimed again; a's third is still there. */
    assert_int_equal(ah_store_delivery_claim_many(s, r, 2, now, lease), AH_OK);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[1].n, 0);
    assert_int_equal(r[1].next_due, T0 + 500);
    for (size_t i = 0; i < 2; i++)
        ah_claims_free(r[i].claims, r[i].n);
    /* No requests: nothing to do. */
    assert_int_equal(ah_store_delivery_claim_many(s, r, 0, now, lease), AH_OK);
    free(wb);
}

static void test_claim(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    /* Published out of order; one is due far in the future. */
    const int64_t dues[] = {3, 0, 4, 1000, 2, 1};
    queue_for(s, c.id, TRIG, dues, AH_ARRAY_LEN(dues));

    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next = -1;
    const int64_t lease = 60000;
    /* At T0+2: the three due ones, oldest due first, with body and trigger. */
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 2, T0 + 2 + lease, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(next, T0 + 3);
    char first_ids[3][AH_ID_SIZE];
    for (size_t i = 0; i < n; i++) {
        ah_delivery_t d;
        get_delivery(s, cl[i].delivery_id, &d);
        assert_int_equal(d.next_attempt_at, T0 + (int64_t)i);
        assert_int_equal(d.lease_until, T0 + 2 + lease);
        assert_string_equal(d.event_id, cl[i].event_id);
        assert_string_equal(cl[i].trigger, TRIG);
        assert_int_equal(cl[i].attempts, 0);
        assert_int_equal(cl[i].data_len, 7);
        assert_string_equal(cl[i].data, "{\"n\":1}");
        ah_strlcpy(first_ids[i], cl[i].delivery_id, AH_ID_SIZE);
    }
    ah_claims_free(cl, n);

    /* Leased: not claimed again, and next_due skips them. */
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 2, T0 + 2 + lease, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 0);
    assert_null(cl);
    assert_int_equal(next, T0 + 3);

    /* max is respected; next_due <= now says "come back at once". */
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 10, T0 + 10 + lease, 1, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 1);
    ah_delivery_t d;
    get_delivery(s, cl[0].delivery_id, &d);
    assert_int_equal(d.next_attempt_at, T0 + 3);
    assert_int_equal(next, T0 + 4);
    ah_claims_free(cl, n);
    /* max 0 claims nothing but still answers next_due; next_due may be NULL. */
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 10, T0 + 10 + lease, 0, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(next, T0 + 4);
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 10, T0 + 10 + lease, 5, &cl, &n, NULL),
                     AH_OK);
    assert_int_equal(n, 1); /* T0+4 */
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 10, T0 + 10 + lease, 5, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(next, T0 + 1000); /* only the future one is unleased */

    /* The first lease expires: another dispatcher takes those over. */
    int64_t later = T0 + 2 + lease + 1;
    assert_int_equal(ah_store_delivery_claim(s, w, later, later + lease, 3, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(cl[i].delivery_id, first_ids[i]);
    ah_claims_free(cl, n);
    assert_int_equal(next, T0 + 1000); /* T0+3 and T0+4 are still held */
    /* The rest that is free: T0+1000 only. */
    assert_int_equal(ah_store_delivery_claim(s, w, later, later + lease, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(next, 0);
    ah_claims_free(cl, n);

    /* A disabled webhook gives nothing; a missing one is not found. */
    char w2[AH_ID_SIZE];
    new_webhook(s, w2, c.id, TRIG2, NULL, NULL);
    assert_int_equal(publish(s, NULL, c.id, TRIG2, NULL, NULL, T0), 1);
    assert_int_equal(ah_store_webhook_set_active(s, w2, false, "manual", T0), AH_OK);
    next = -1;
    assert_int_equal(ah_store_delivery_claim(s, w2, T0 + 5, T0 + lease, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(next, 0);
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_delivery_claim(s, missing, T0, T0 + lease, 10, &cl, &n, &next),
                     AH_ENOTFOUND);
    assert_null(cl);
}

/* Claims up to max due deliveries of webhook w into ids; returns how many. */
static size_t claim_ids(ah_store_t *s, const char *w, char ids[][AH_ID_SIZE], size_t max)
{
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 10, T0 + 70000, max, &cl, &n, &next),
                     AH_OK);
    for (size_t i = 0; i < n; i++)
        ah_strlcpy(ids[i], cl[i].delivery_id, AH_ID_SIZE);
    ah_claims_free(cl, n);
    return n;
}

/*
 * Several results in one call come to what they would one call each: the
 * webhook's failure streak follows their order, the first disable reason
 * sticks, a delivery's two results apply in order, and error and response
 * text of any bytes come back as they went in (bad UTF-8 as '?').
 */
static void test_record_batch_in_order(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE], v[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    new_webhook(s, v, c.id, TRIG2, NULL, NULL);
    const int64_t dues[] = {0, 1, 2, 3, 4, 5};
    queue_for(s, c.id, TRIG, dues, AH_ARRAY_LEN(dues));
    queue_for(s, c.id, TRIG2, dues, 2);
    char d[6][AH_ID_SIZE], e[2][AH_ID_SIZE];
    assert_int_equal(claim_ids(s, w, d, 6), 6);
    assert_int_equal(claim_ids(s, v, e, 2), 2);

    /*
     * w: fail, succeed, d[4] twice (a retry, then its success), fail, fail:
     * the streak began with the fifth.
     */
    ah_attempt_result_t r[8];
    r[0] = result(d[0], 1, T0 + 100, AH_OUTCOME_RETRY, 500, "HTTP 500", T0 + 5000);
    r[1] = result(d[1], 1, T0 + 200, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    r[2] = result(d[4], 1, T0 + 250, AH_OUTCOME_RETRY, 503, "HTTP 503", T0 + 6000);
    r[3] = result(d[4], 2, T0 + 260, AH_OUTCOME_SUCCEEDED, 201, NULL, 0);
    memcpy(r[3].attempt.response_head, "{\"q\":\"\\\",}\x01\x7f", 12);
    r[4] = result(d[2], 1, T0 + 300, AH_OUTCOME_RETRY, 502, "say \"hi\", {a,b} \\ end", T0 + 5000);
    r[5] = result(d[3], 1, T0 + 400, AH_OUTCOME_FAILED, 0, "bad \xff\xfe byte", 0);
    /* v: fail (disable "first"), fail (disable "second"): the first reason sticks. */
    r[6] = result(e[0], 1, T0 + 150, AH_OUTCOME_RETRY, 410, "HTTP 410", T0 + 5000);
    ah_strlcpy(r[6].disable_reason, "first", sizeof r[6].disable_reason);
    r[7] = result(e[1], 1, T0 + 250, AH_OUTCOME_RETRY, 410, "HTTP 410", T0 + 5000);
    ah_strlcpy(r[7].disable_reason, "second", sizeof r[7].disable_reason);
    assert_int_equal(ah_store_delivery_record(s, r, 8), AH_OK);

    ah_webhook_t wh;
    get_webhook(s, w, &wh);
    assert_int_equal(wh.failing_since, T0 + 300);
    assert_true(wh.is_active);
    get_webhook(s, v, &wh);
    assert_int_equal(wh.failing_since, T0 + 150);
    assert_false(wh.is_active);
    assert_string_equal(wh.disabled_reason, "first");
    assert_int_equal(wh.updated_at, T0 + 150 + 12);

    ah_delivery_t got;
    ah_attempt_t *att = NULL;
    size_t n_att = 0;
    get_delivery(s, d[2], &got);
    assert_string_equal(got.last_error, "say \"hi\", {a,b} \\ end");
    get_delivery(s, d[3], &got);
    assert_int_equal(got.status, AH_DLV_FAILED);
    /* Kept byte for byte (SQLite) or with '?' for bad UTF-8 (PostgreSQL's text). */
    assert_int_equal(strlen(got.last_error), 11);
    assert_memory_equal(got.last_error, "bad ", 4);
    assert_string_equal(got.last_error + 6, " byte");
    assert_int_equal(ah_store_delivery_get(s, d[4], &got, &att, &n_att), AH_OK);
    assert_int_equal(got.status, AH_DLV_SUCCEEDED);
    assert_int_equal(got.attempts, 2);
    assert_int_equal(got.last_status_code, 201);
    assert_int_equal(n_att, 2);
    assert_int_equal(att[0].status_code, 503);
    assert_int_equal(att[1].status_code, 201);
    assert_string_equal(att[1].response_head, "{\"q\":\"\\\",}\x01\x7f");
    free(att);

    /* Then a success alone ends the streak; one failure alone starts one. */
    r[0] = result(d[5], 1, T0 + 700, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    assert_int_equal(ah_store_delivery_record(s, r, 1), AH_OK);
    get_webhook(s, w, &wh);
    assert_int_equal(wh.failing_since, 0);
    r[0] = result(d[0], 2, T0 + 800, AH_OUTCOME_RETRY, 500, "HTTP 500", T0 + 9000);
    r[1] = result(d[2], 2, T0 + 900, AH_OUTCOME_RETRY, 500, "HTTP 500", T0 + 9000);
    assert_int_equal(ah_store_delivery_record(s, r, 2), AH_OK);
    get_webhook(s, w, &wh);
    assert_int_equal(wh.failing_since, T0 + 800);
}

static void test_record(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    const int64_t dues[] = {0, 1, 2, 3};
    queue_for(s, c.id, TRIG, dues, AH_ARRAY_LEN(dues));
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 10, T0 + 70000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 4);
    char ok[AH_ID_SIZE], retry[AH_ID_SIZE], fail[AH_ID_SIZE], cancel[AH_ID_SIZE];
    ah_strlcpy(ok, cl[0].delivery_id, sizeof ok);
    ah_strlcpy(retry, cl[1].delivery_id, sizeof retry);
    ah_strlcpy(fail, cl[2].delivery_id, sizeof fail);
    ah_strlcpy(cancel, cl[3].delivery_id, sizeof cancel);
    ah_claims_free(cl, n);

    /* A failure first: failing_since starts at its start time. */
    ah_attempt_result_t r[4];
    r[0] = result(retry, 1, T0 + 100, AH_OUTCOME_RETRY, 503, "HTTP 503", T0 + 5100);
    r[1] = result(fail, 8, T0 + 200, AH_OUTCOME_FAILED, 0, "connection refused", 0);
    assert_int_equal(ah_store_delivery_record(s, r, 2), AH_OK);
    ah_webhook_t wh;
    get_webhook(s, w, &wh);
    assert_int_equal(wh.failing_since, T0 + 100);
    assert_true(wh.is_active);

    ah_delivery_t d;
    get_delivery(s, retry, &d);
    assert_int_equal(d.status, AH_DLV_PENDING);
    assert_int_equal(d.next_attempt_at, T0 + 5100);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.lease_until, 0);
    assert_int_equal(d.last_status_code, 503);
    assert_string_equal(d.last_error, "HTTP 503");
    assert_int_equal(d.updated_at, T0 + 112);
    get_delivery(s, fail, &d);
    assert_int_equal(d.status, AH_DLV_FAILED);
    assert_int_equal(d.attempts, 8);
    assert_int_equal(d.last_status_code, 0);
    assert_string_equal(d.last_error, "connection refused");

    /* The webhook is deregistered meanwhile: its pending delivery is cancelled ... */
    char w2[AH_ID_SIZE];
    new_webhook(s, w2, c.id, TRIG2, NULL, NULL);
    char ev2[AH_ID_SIZE];
    assert_int_equal(publish(s, ev2, c.id, TRIG2, NULL, NULL, T0), 1);
    assert_int_equal(ah_store_delivery_claim(s, w2, T0 + 10, T0 + 70000, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 1);
    char gone[AH_ID_SIZE];
    ah_strlcpy(gone, cl[0].delivery_id, sizeof gone);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_webhook_deregister(s, w2, "crm", T0 + 20), AH_OK);
    /* ... and stays cancelled when the in-flight attempt comes back; the attempt is kept. */
    r[0] = result(gone, 1, T0 + 300, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    r[1] = result(ok, 1, T0 + 400, AH_OUTCOME_SUCCEEDED, 204, NULL, 0);
    assert_int_equal(ah_store_delivery_record(s, r, 2), AH_OK);
    ah_attempt_t *att = NULL;
    size_t n_att = 0;
    assert_int_equal(ah_store_delivery_get(s, gone, &d, &att, &n_att), AH_OK);
    assert_int_equal(d.status, AH_DLV_CANCELLED);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.lease_until, 0);
    assert_int_equal(n_att, 1);
    assert_int_equal(att[0].status_code, 200);
    free(att);
    get_delivery(s, ok, &d);
    assert_int_equal(d.status, AH_DLV_SUCCEEDED);
    assert_int_equal(d.last_status_code, 204);
    assert_string_equal(d.last_error, "");
    /* Success ends the failure streak. */
    get_webhook(s, w, &wh);
    assert_int_equal(wh.failing_since, 0);

    /* A second failure starts a new streak; a third keeps its start. */
    r[0] = result(retry, 2, T0 + 6000, AH_OUTCOME_RETRY, 500, "HTTP 500", T0 + 9000);
    r[1] = result(cancel, 1, T0 + 6100, AH_OUTCOME_RETRY, 500, "HTTP 500", T0 + 9000);
    assert_int_equal(ah_store_delivery_record(s, r, 2), AH_OK);
    get_webhook(s, w, &wh);
    assert_int_equal(wh.failing_since, T0 + 6000);

    /* A stale retry for a delivery that already succeeded leaves it succeeded. */
    r[0] = result(ok, 2, T0 + 6200, AH_OUTCOME_RETRY, 500, "HTTP 500", T0 + 9999);
    assert_int_equal(ah_store_delivery_record(s, r, 1), AH_OK);
    get_delivery(s, ok, &d);
    assert_int_equal(d.status, AH_DLV_SUCCEEDED);
    assert_int_equal(d.attempts, 2);
    assert_int_equal(d.next_attempt_at, T0); /* unchanged */

    /* 410 Gone disables the webhook with the reason; it keeps failing_since. */
    r[0] = result(retry, 3, T0 + 9000, AH_OUTCOME_FAILED, 410, "HTTP 410", 0);
    ah_strlcpy(r[0].disable_reason, "endpoint answered 410 Gone", sizeof r[0].disable_reason);
    assert_int_equal(ah_store_delivery_record(s, r, 1), AH_OK);
    get_webhook(s, w, &wh);
    assert_false(wh.is_active);
    assert_string_equal(wh.disabled_reason, "endpoint answered 410 Gone");
    assert_int_equal(wh.updated_at, T0 + 9012);
    assert_int_equal(wh.failing_since, T0 + 6000);
    /* A later reason does not overwrite the first. */
    r[0] = result(cancel, 2, T0 + 9100, AH_OUTCOME_FAILED, 0, "timeout", 0);
    ah_strlcpy(r[0].disable_reason, "failing for 5 days", sizeof r[0].disable_reason);
    assert_int_equal(ah_store_delivery_record(s, r, 1), AH_OK);
    get_webhook(s, w, &wh);
    assert_string_equal(wh.disabled_reason, "endpoint answered 410 Gone");
    /* A deregistered webhook is not "disabled" over its deregistration. */
    r[0] = result(gone, 2, T0 + 9200, AH_OUTCOME_FAILED, 410, "HTTP 410", 0);
    ah_strlcpy(r[0].disable_reason, "endpoint answered 410 Gone", sizeof r[0].disable_reason);
    assert_int_equal(ah_store_delivery_record(s, r, 1), AH_OK);
    get_webhook(s, w2, &wh);
    assert_string_equal(wh.disabled_reason, "deregistered");

    /* All attempts of one delivery, oldest first, with error and response head. */
    assert_int_equal(ah_store_delivery_get(s, retry, &d, &att, &n_att), AH_OK);
    assert_int_equal(d.status, AH_DLV_FAILED);
    assert_int_equal(d.attempts, 3);
    assert_int_equal(d.last_status_code, 410);
    assert_int_equal(n_att, 3);
    for (size_t i = 0; i < n_att; i++)
        assert_int_equal(att[i].attempt_no, (int)i + 1);
    assert_int_equal(att[0].started_at, T0 + 100);
    assert_int_equal(att[0].duration_ms, 12);
    assert_int_equal(att[0].status_code, 503);
    assert_string_equal(att[0].error, "HTTP 503");
    assert_string_equal(att[0].response_head, "{\"code\":503}");
    assert_int_equal(att[2].status_code, 410);
    free(att);
    /* A delivery's first attempt is kept in its row: only the later two have attempts rows. */
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM attempts WHERE delivery_id = '%s'", retry);
    assert_int_equal(q_int(s, q), 2);
    snprintf(q, sizeof q, "SELECT count(*) FROM attempts WHERE delivery_id = '%s'", fail);
    assert_int_equal(q_int(s, q), 0);

    /* Nothing to record is fine; an unknown delivery is skipped, the rest kept. */
    assert_int_equal(ah_store_delivery_record(s, NULL, 0), AH_OK);
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    int64_t before = q_int(s, tb_count_attempts());
    r[0] = result(missing, 1, T0, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    r[1] = result(cancel, 3, T0 + 9300, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    assert_int_equal(ah_store_delivery_record(s, r, 2), AH_OK);
    assert_int_equal(q_int(s, tb_count_attempts()), before + 1);
    /* A bad outcome rolls the whole batch back. */
    r[0] = result(cancel, 4, T0 + 9400, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    r[1] = result(cancel, 5, T0 + 9500, (ah_outcome_t)42, 200, NULL, 0);
    assert_int_equal(ah_store_delivery_record(s, r, 2), AH_EINVAL);
    assert_int_equal(q_int(s, tb_count_attempts()), before + 1);
}

static void test_release(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    const int64_t dues[] = {0, 1, 2, 3};
    queue_for(s, c.id, TRIG, dues, AH_ARRAY_LEN(dues));
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 5, T0 + 60000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 4);
    char ids[2][AH_ID_SIZE];
    ah_strlcpy(ids[0], cl[1].delivery_id, AH_ID_SIZE);
    ah_strlcpy(ids[1], cl[3].delivery_id, AH_ID_SIZE);
    ah_claims_free(cl, n);

    /* Handing two back makes exactly those two claimable again. */
    assert_int_equal(ah_store_delivery_release(s, (const char(*)[AH_ID_SIZE])ids, 2), AH_OK);
    assert_int_equal(ah_store_delivery_release(s, NULL, 0), AH_OK);
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 5, T0 + 60000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cl[0].delivery_id, ids[0]);
    assert_string_equal(cl[1].delivery_id, ids[1]);
    assert_int_equal(cl[0].attempts, 0);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 5, T0 + 60000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 0);

    /* release_all: everything is claimable again. */
    assert_int_equal(ah_store_delivery_release_all(s), AH_OK);
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries WHERE lease_until <> 0"), 0);
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 5, T0 + 60000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 4);
    ah_claims_free(cl, n);
}

/* ------------------------------------------------------------------------ */
/* Listing and reading.                                                      */

#define PAGE_TOTAL 23

static int cmp_newest_first(const ah_delivery_t *a, const ah_delivery_t *b)
{
    if (a->created_at != b->created_at)
        return a->created_at > b->created_at ? -1 : 1;
    return -strcmp(a->id, b->id);
}

/* Pages through a filter; checks order and returns the rows (malloc'd). */
static size_t page_all(ah_store_t *s, ah_delivery_filter_t f, size_t limit, ah_delivery_t **all)
{
    ah_delivery_t *acc = calloc(PAGE_TOTAL * 2 + 1, sizeof *acc);
    assert_non_null(acc);
    size_t total = 0, pages = 0;
    char cursor[AH_CURSOR_SIZE] = "";
    f.limit = limit;
    do {
        char next[AH_CURSOR_SIZE];
        f.cursor = cursor;
        ah_delivery_t *page = NULL;
        size_t n = 0;
        assert_int_equal(ah_store_delivery_list(s, &f, &page, &n, next), AH_OK);
        assert_true(n <= limit);
        assert_true(total + n <= PAGE_TOTAL * 2);
        if (next[0])
            assert_int_equal(n, limit); /* only a full page says "more" */
        if (n)
            memcpy(acc + total, page, n * sizeof *page);
        total += n;
        free(page);
        ah_strlcpy(cursor, next, sizeof cursor);
        pages++;
    } while (cursor[0]);
    for (size_t i = 1; i < total; i++)
        assert_true(cmp_newest_first(&acc[i - 1], &acc[i]) < 0); /* strictly: no duplicates */
    assert_true(pages >= total / limit);
    *all = acc;
    return total;
}

static void test_list_paging(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE], w2[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    new_webhook(s, w2, c.id, TRIG, NULL, NULL);
    /* Several deliveries share a created_at, so the id must break ties. */
    for (int i = 0; i < PAGE_TOTAL; i++)
        assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0 + i / 4), 2);

    /* Every page size gives every row once, newest first. */
    static const size_t limits[] = {1, 2, 5, 7, 22, 23, 24, 500};
    for (size_t k = 0; k < AH_ARRAY_LEN(limits); k++) {
        ah_delivery_t *all = NULL;
        ah_delivery_filter_t f = {.webhook_id = w, .status = -1};
        assert_int_equal(page_all(s, f, limits[k], &all), PAGE_TOTAL);
        for (size_t i = 0; i < PAGE_TOTAL; i++) {
            assert_string_equal(all[i].webhook_id, w);
            assert_string_equal(all[i].trigger, TRIG);
        }
        assert_int_equal(all[0].created_at, T0 + (PAGE_TOTAL - 1) / 4);
        assert_int_equal(all[PAGE_TOTAL - 1].created_at, T0);
        free(all);
    }

    /* Succeed 9 of them; the status filter pages through just those. */
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 100, T0 + 60000, 9, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 9);
    ah_attempt_result_t r[9];
    for (size_t i = 0; i < n; i++)
        r[i] = result(cl[i].delivery_id, 1, T0 + 200, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_record(s, r, 9), AH_OK);
    ah_delivery_t *all = NULL;
    ah_delivery_filter_t f = {.webhook_id = w, .status = AH_DLV_SUCCEEDED};
    assert_int_equal(page_all(s, f, 4, &all), 9);
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(all[i].status, AH_DLV_SUCCEEDED);
    free(all);
    f.status = AH_DLV_PENDING;
    assert_int_equal(page_all(s, f, 4, &all), PAGE_TOTAL - 9);
    free(all);
    f.status = AH_DLV_CANCELLED;
    assert_int_equal(page_all(s, f, 4, &all), 0);
    free(all);
    /* The other webhook's are untouched. */
    f = (ah_delivery_filter_t){.webhook_id = w2, .status = AH_DLV_PENDING};
    assert_int_equal(page_all(s, f, 10, &all), PAGE_TOTAL);
    free(all);

    /* By event: one delivery per webhook. */
    char ev[AH_ID_SIZE];
    assert_int_equal(publish(s, ev, c.id, TRIG, NULL, NULL, T0 + 50), 2);
    f = (ah_delivery_filter_t){.event_id = ev, .status = -1};
    assert_int_equal(page_all(s, f, 1, &all), 2);
    assert_string_equal(all[0].event_id, ev);
    assert_string_equal(all[1].event_id, ev);
    assert_string_not_equal(all[0].webhook_id, all[1].webhook_id);
    free(all);
}

static void test_list_bad_input(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0), 1);

    ah_delivery_t *list = (ah_delivery_t *)&list;
    size_t n = 99;
    char next[AH_CURSOR_SIZE] = "junk";
    static const char *const bad[] = {
        "abc",
        "123",
        "_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f",
        "x_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f",
        "12_not-a-uuid",
        "12_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f0",
        "123456789012345678901_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f",
        "99999999999999999999_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f",
        "1 _5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f",
        "+1_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f",
        "1_",
        "' OR 1=1 --",
    };
    for (size_t i = 0; i < AH_ARRAY_LEN(bad); i++) {
        ah_delivery_filter_t f = {.webhook_id = w, .status = -1, .cursor = bad[i], .limit = 10};
        assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_EINVAL);
        assert_null(list);
        assert_int_equal(n, 0);
        assert_string_equal(next, "");
    }
    /* A well-formed cursor that matches no row is simply an empty page. */
    ah_delivery_filter_t f = {.webhook_id = w,
                              .status = -1,
                              .limit = 10,
                              .cursor = "-5_5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f"};
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_OK);
    assert_int_equal(n, 0);
    free(list);

    /* At least one of webhook / event; limit 1..500; a known status. */
    ah_delivery_filter_t both = {.webhook_id = w, .event_id = w, .status = -1, .limit = 10};
    assert_int_equal(ah_store_delivery_list(s, &both, &list, &n, next), AH_OK);
    assert_int_equal(n, 0); /* no event has that id */
    free(list);
    ah_delivery_filter_t neither = {.webhook_id = "", .status = -1, .limit = 10};
    assert_int_equal(ah_store_delivery_list(s, &neither, &list, &n, next), AH_EINVAL);
    f = (ah_delivery_filter_t){.webhook_id = w, .status = -1, .limit = 0};
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_EINVAL);
    f.limit = 501;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_EINVAL);
    f.limit = 500;
    f.status = 4;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_EINVAL);
    f.status = -2;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_EINVAL);

    /* Unknown ids list nothing; delivery_get says not found. */
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    f = (ah_delivery_filter_t){.webhook_id = missing, .status = -1, .limit = 10};
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_OK);
    assert_int_equal(n, 0);
    free(list);
    ah_delivery_t d;
    ah_attempt_t *att = (ah_attempt_t *)&att;
    size_t n_att = 7;
    assert_int_equal(ah_store_delivery_get(s, missing, &d, &att, &n_att), AH_ENOTFOUND);
    assert_null(att);
    assert_int_equal(n_att, 0);
}

/* ------------------------------------------------------------------------ */
/* Operator actions and stats.                                               */

static void test_retry_recover_rotate(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    const int64_t dues[] = {0, 10, 20, 30, 40};
    queue_for(s, c.id, TRIG, dues, AH_ARRAY_LEN(dues));
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 100, T0 + 60000, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 5);
    char ids[5][AH_ID_SIZE];
    ah_attempt_result_t r[5];
    for (size_t i = 0; i < n; i++) {
        ah_strlcpy(ids[i], cl[i].delivery_id, AH_ID_SIZE);
        /* The last one succeeds; the others fail for good. */
        r[i] = result(ids[i], 8, T0 + 200, i == 4 ? AH_OUTCOME_SUCCEEDED : AH_OUTCOME_FAILED,
                      i == 4 ? 200 : 500, i == 4 ? NULL : "HTTP 500", 0);
    }
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_record(s, r, 5), AH_OK);

    /* Retry of a succeeded delivery: pending, due now, attempts kept. */
    char wid[AH_ID_SIZE] = "";
    assert_int_equal(ah_store_delivery_retry(s, ids[4], T0 + 1000, wid), AH_OK);
    assert_string_equal(wid, w);
    ah_delivery_t d;
    get_delivery(s, ids[4], &d);
    assert_int_equal(d.status, AH_DLV_PENDING);
    assert_int_equal(d.next_attempt_at, T0 + 1000);
    assert_int_equal(d.updated_at, T0 + 1000);
    assert_int_equal(d.attempts, 8);
    assert_int_equal(d.lease_until, 0);
    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_delivery_retry(s, missing, T0, wid), AH_ENOTFOUND);
    /* A pending delivery in flight keeps its lease (it is being sent right now). */
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 1000, T0 + 61000, 10, &cl, &n, &next),
                     AH_OK);
    assert_int_equal(n, 1);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_retry(s, ids[4], T0 + 1001, NULL), AH_OK);
    get_delivery(s, ids[4], &d);
    assert_int_equal(d.lease_until, T0 + 61000);
    assert_int_equal(d.next_attempt_at, T0 + 1001);

    /* Recover the failures created at or after T0+20: two of four (T0+20, T0+30). */
    size_t requeued = 99;
    assert_int_equal(ah_store_webhook_recover(s, w, T0 + 20, T0 + 2000, &requeued), AH_OK);
    assert_int_equal(requeued, 2);
    for (size_t i = 0; i < 4; i++) {
        get_delivery(s, ids[i], &d);
        if (i >= 2) {
            assert_int_equal(d.status, AH_DLV_PENDING);
            assert_int_equal(d.next_attempt_at, T0 + 2000);
        } else {
            assert_int_equal(d.status, AH_DLV_FAILED);
        }
    }
    assert_int_equal(ah_store_webhook_recover(s, w, T0 + 20, T0 + 2000, &requeued), AH_OK);
    assert_int_equal(requeued, 0);
    assert_int_equal(ah_store_webhook_recover(s, w, 0, T0 + 3000, NULL), AH_OK);
    get_delivery(s, ids[0], &d);
    assert_int_equal(d.status, AH_DLV_PENDING);
    assert_int_equal(ah_store_webhook_recover(s, missing, 0, T0, &requeued), AH_ENOTFOUND);

    /* Rotate: the old secret is kept until prev_until. */
    ah_webhook_t wh;
    get_webhook(s, w, &wh);
    char old[AH_SECRET_MAX];
    ah_strlcpy(old, wh.secret, sizeof old);
    assert_int_equal(ah_store_webhook_rotate_secret(s, w, "whsec_bmV3c2VjcmV0bmV3c2VjcmV0",
                                                    T0 + 86400000, T0 + 5),
                     AH_OK);
    get_webhook(s, w, &wh);
    assert_string_equal(wh.secret, "whsec_bmV3c2VjcmV0bmV3c2VjcmV0");
    assert_string_equal(wh.prev_secret, old);
    assert_int_equal(wh.prev_secret_until, T0 + 86400000);
    assert_int_equal(wh.updated_at, T0 + 5);
    assert_int_equal(ah_store_webhook_rotate_secret(s, missing, "whsec_eA==", T0, T0),
                     AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_rotate_secret(s, w, "", T0, T0), AH_EINVAL);
    char huge[AH_SECRET_MAX + 8];
    memset(huge, 'k', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(ah_store_webhook_rotate_secret(s, w, huge, T0, T0), AH_ETOOBIG);
    assert_int_equal(ah_store_webhook_deregister(s, w, "crm", T0 + 6), AH_OK);
    assert_int_equal(ah_store_webhook_rotate_secret(s, w, "whsec_eA==", T0, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_recover(s, w, 0, T0, &requeued), AH_ENOTFOUND);
}

static void test_stats(void **state)
{
    ah_store_t *s = *state;
    ah_delivery_stats_t st;
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.oldest_pending_created_at, 0);

    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE], w2[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    new_webhook(s, w2, c.id, TRIG, NULL, NULL);
    const int64_t dues[] = {30, 10, 20};
    for (size_t i = 0; i < AH_ARRAY_LEN(dues); i++)
        assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0 + dues[i]), 2);
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 6);
    assert_int_equal(st.oldest_pending_created_at, T0 + 10);

    /* Leased ones still count; finished ones do not. */
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 100, T0 + 60000, 2, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 6);
    ah_attempt_result_t r =
        result(cl[0].delivery_id, 1, T0 + 100, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    ah_claims_free(cl, n);
    assert_int_equal(ah_store_delivery_record(s, &r, 1), AH_OK);
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 5);
    assert_int_equal(st.oldest_pending_created_at, T0 + 10); /* w2's is still there */
    assert_int_equal(ah_store_webhook_deregister(s, w2, "crm", T0), AH_OK);
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.oldest_pending_created_at, T0 + 20);
}

static bool due_has(const ah_due_t *due, size_t n, const char *id, int64_t next)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(due[i].webhook_id, id))
            return due[i].next_due == next;
    return false;
}

static void test_due_webhooks(void **state)
{
    ah_store_t *s = *state;
    ah_due_t *due = NULL;
    size_t n = 99;
    assert_int_equal(ah_store_delivery_due_webhooks(s, &due, &n), AH_OK);
    assert_int_equal(n, 0);
    free(due);

    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[6][AH_ID_SIZE];
    for (int i = 0; i < 6; i++) {
        char trig[AH_TRIGGER_MAX];
        snprintf(trig, sizeof trig, "trigger.test.%d", i);
        new_webhook(s, w[i], c.id, trig, NULL, NULL);
        /* Webhook i has deliveries due at T0+100i+{7,3,9}. */
        for (int k = 0; k < 3; k++)
            assert_int_equal(
                publish(s, NULL, c.id, trig, NULL, NULL, T0 + 100 * i + (int64_t[]){7, 3, 9}[k]),
                1);
    }
    /* w[0]: the earliest is leased, still counted; w[1]: disabled; w[2]: deregistered;
     * w[3]: everything succeeded. */
    ah_claim_t *cl = NULL;
    size_t nc = 0;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w[0], T0 + 3, T0 + 60000, 1, &cl, &nc, &next),
                     AH_OK);
    assert_int_equal(nc, 1);
    ah_claims_free(cl, nc);
    assert_int_equal(ah_store_webhook_set_active(s, w[1], false, "manual", T0), AH_OK);
    assert_int_equal(ah_store_webhook_deregister(s, w[2], "crm", T0), AH_OK);
    assert_int_equal(ah_store_delivery_claim(s, w[3], T0 + 1000, T0 + 60000, 10, &cl, &nc, &next),
                     AH_OK);
    assert_int_equal(nc, 3);
    ah_attempt_result_t r[3];
    for (size_t i = 0; i < nc; i++)
        r[i] = result(cl[i].delivery_id, 1, T0 + 1000, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
    ah_claims_free(cl, nc);
    assert_int_equal(ah_store_delivery_record(s, r, 3), AH_OK);

    assert_int_equal(ah_store_delivery_due_webhooks(s, &due, &n), AH_OK);
    assert_int_equal(n, 3);
    assert_true(due_has(due, n, w[0], T0 + 3));
    assert_true(due_has(due, n, w[4], T0 + 403));
    assert_true(due_has(due, n, w[5], T0 + 503));
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(due[i - 1].webhook_id, due[i].webhook_id) < 0);
    free(due);

    /* Re-enabled, w[1] shows up again. */
    assert_int_equal(ah_store_webhook_set_active(s, w[1], true, NULL, T0), AH_OK);
    assert_int_equal(ah_store_delivery_due_webhooks(s, &due, &n), AH_OK);
    assert_int_equal(n, 4);
    assert_true(due_has(due, n, w[1], T0 + 103));
    free(due);
}

/* ------------------------------------------------------------------------ */
/* Query plans.                                                              */

/* The plan of statement id, one detail per line, into buf. */
static void plan_of(ah_store_t *s, int id, char *buf, size_t len)
{
    conn_t *c;
    assert_int_equal(acquire(from(s), &c), AH_OK);
    char sql[2048];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", stmt_sql[id]);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    size_t used = 0;
    buf[0] = '\0';
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && used < len) {
        int w = snprintf(buf + used, len - used, "%s\n", (const char *)sqlite3_column_text(st, 3));
        used += w > 0 ? (size_t)w : 0;
    }
    sqlite3_finalize(st);
    release(from(s), c);
    assert_int_equal(rc, SQLITE_OK);
    if (getenv("AH_SHOW_PLANS"))
        fprintf(stderr, "-- %s\n%s", stmt_sql[id], buf);
}

static void expect_plan(ah_store_t *s, int id, const char *want, const char *unwanted)
{
    char plan[2048];
    plan_of(s, id, plan, sizeof plan);
    if (!strstr(plan, want) || (unwanted && strstr(plan, unwanted)))
        fprintf(stderr, "plan of %s:\n%s", stmt_sql[id], plan);
    assert_non_null(strstr(plan, want));
    if (unwanted)
        assert_null(strstr(plan, unwanted));
}

static void test_query_plans(void **state)
{
    ah_store_t *s = *state;
    /* Some rows and ANALYZE statistics, so the planner has a real choice to make. */
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[AH_ID_SIZE];
    for (int i = 0; i < 20; i++)
        new_webhook(s, w, c.id, i % 2 ? TRIG : TRIG2, NULL, NULL);
    for (int i = 0; i < 30; i++)
        publish(s, NULL, c.id, TRIG, NULL, NULL, T0 + i);
    q_exec(s, "ANALYZE");

    expect_plan(s, ST_EVENT_FANOUT, "USING INDEX webhooks_match (community_id=? AND trigger=?)",
                "SCAN");
    expect_plan(s, ST_EVENT_FIND_KEY, "(community_id=? AND idempotency_key=?)", "SCAN");
    expect_plan(s, ST_EVENT_FIND_KEY, "deliveries_by_event (event_id=?)", "SCAN");
    expect_plan(s, ST_CLAIM, "USING INDEX deliveries_pending (webhook_id=?)", "TEMP B-TREE");
    expect_plan(s, ST_NEXT_DUE, "deliveries_pending (webhook_id=?)", "TEMP B-TREE");
    expect_plan(s, ST_DUE_NEXT, "COVERING INDEX deliveries_pending (webhook_id>?)", "TEMP B-TREE");
    expect_plan(s, ST_DELIVERY_LIST_WEBHOOK,
                "deliveries_by_webhook (webhook_id=? AND created_at>? AND (created_at,id)<(?,?))",
                "TEMP B-TREE");
    expect_plan(s, ST_DELIVERY_LIST_EVENT,
                "deliveries_by_event (event_id=? AND created_at>? AND (created_at,id)<(?,?))",
                "TEMP B-TREE");
    /*
     * The operator's pages (migration 9): a range from the cursor, never a
     * sort.  (Communities are left out: with the two rows ANALYZE saw, a
     * scan and a sort is the planner's right answer.)
     */
    expect_plan(s, ST_WEBHOOK_ADMIN_PAGE, "webhooks_by_creation", "TEMP B-TREE");
    expect_plan(s, ST_WEBHOOK_ADMIN_PAGE_COMMUNITY, "webhooks_all_by_community", "TEMP B-TREE");
    expect_plan(s, ST_EVENT_PAGE, "events_by_age", "TEMP B-TREE");
    /* With one community in the statistics, events_by_age serves as well as events_by_community. */
    expect_plan(s, ST_EVENT_PAGE_COMMUNITY, "SEARCH events USING INDEX events_by_", "TEMP B-TREE");
    expect_plan(s, ST_DELIVERY_STATS, "COVERING INDEX deliveries_pending", "SCAN deliveries\n");
    expect_plan(s, ST_WEBHOOK_RECOVER, "deliveries_by_webhook (webhook_id=? AND created_at>?)",
                NULL);
    expect_plan(s, ST_DELIVERIES_CANCEL, "deliveries_pending (webhook_id=?)", NULL);
}

/* ------------------------------------------------------------------------ */
/* Migration from version 1.                                                 */

static void test_migration_from_v1(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    ah_community_t c;
    new_community(s, &c, "Old");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    ah_store_close(s);

    /*
     * Turn the file back into what release 1 left: its indexes, its attempts
     * table (with an id per attempt), version 1, and rows.
     */
    char sql[6144];
    snprintf(
        sql, sizeof sql,
        "BEGIN;" TB_SQLITE_UNDO_MIGRATION_14
        /* Migration 12's tables. */
        "DROP TABLE listener_secrets; DROP TABLE listeners;"
        /* Migration 10's column. */
        "ALTER TABLE events DROP COLUMN test;"
        /* Migration 8's table (with its triggers), index and columns. */
        "DROP TABLE catalog_triggers; DROP INDEX airmeets_by_creation;"
        "ALTER TABLE airmeets DROP COLUMN status; ALTER TABLE airmeets DROP COLUMN timezone;"
        "ALTER TABLE airmeets DROP COLUMN description;"
        "ALTER TABLE sessions DROP COLUMN start_time; ALTER TABLE sessions DROP COLUMN duration;"
        "ALTER TABLE sessions DROP COLUMN status; ALTER TABLE sessions DROP COLUMN summary;"
        "ALTER TABLE sessions DROP COLUMN type;"
        /* Migration 6's index. */
        "DROP INDEX events_by_age;"
        /* Migration 5's triggers and tables. */
        "DROP TRIGGER cache_gen_quota_insert; DROP TRIGGER cache_gen_quota_update;"
        "DROP TRIGGER cache_gen_quota_delete; DROP TRIGGER cache_gen_key_insert;"
        "DROP TRIGGER usage_community_insert; DROP TRIGGER usage_webhook_insert;"
        "DROP TRIGGER usage_webhook_delete; DROP TRIGGER usage_webhook_update;"
        "DROP TABLE community_usage; DROP TABLE community_quotas;"
        /* Migration 4's triggers and table. */
        "DROP TRIGGER cache_gen_webhook_insert; DROP TRIGGER cache_gen_webhook_delete;"
        "DROP TRIGGER cache_gen_webhook_update; DROP TRIGGER cache_gen_key_update;"
        "DROP TRIGGER cache_gen_key_delete; DROP TRIGGER cache_gen_token_update;"
        "DROP TRIGGER cache_gen_token_delete; DROP TRIGGER cache_gen_airmeet_update;"
        "DROP TRIGGER cache_gen_airmeet_delete; DROP TRIGGER cache_gen_session_update;"
        "DROP TRIGGER cache_gen_session_delete; DROP TABLE cache_generations;"
        "DROP INDEX deliveries_pending; DROP INDEX deliveries_by_webhook;"
        "DROP INDEX deliveries_by_event; DROP INDEX IF EXISTS deliveries_pending_age;"
        "CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);"
        "CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, status);"
        "CREATE INDEX deliveries_by_event ON deliveries(event_id);"
        "DROP TABLE attempts;"
        "CREATE TABLE attempts (id TEXT PRIMARY KEY NOT NULL,"
        " delivery_id TEXT NOT NULL REFERENCES deliveries(id), attempt_no INTEGER NOT NULL,"
        " started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL DEFAULT 0,"
        " status_code INTEGER NOT NULL DEFAULT 0, error TEXT, response_head TEXT);"
        "CREATE INDEX attempts_by_delivery ON attempts(delivery_id, attempt_no);"
        "INSERT INTO events (id, community_id, trigger, data, created_at) VALUES"
        " ('5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f', '%s', '%s', '{\"old\":true}', %lld);"
        "INSERT INTO deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at,"
        " created_at, updated_at) VALUES"
        " ('6d1b5e2f-9c3b-4d4f-8a21-3b4c5d6e7f80', '5c0a4d1e-8b2a-4c3e-9f10-2a3b4c5d6e7f',"
        " '%s', 'pending', 1, %lld, %lld, %lld);"
        "INSERT INTO attempts VALUES ('7e2c6f30-ad4c-4e50-9b32-4c5d6e7f8091',"
        " '6d1b5e2f-9c3b-4d4f-8a21-3b4c5d6e7f80', 1, %lld, 12, 503, 'HTTP 503', 'busy');"
        "PRAGMA user_version = 1;"
        "COMMIT;",
        c.id, TRIG, (long long)T0, w, (long long)T0, (long long)T0, (long long)T0, (long long)T0);
    side_exec(t->path, sql);
    assert_int_equal(side_int(t->path, "PRAGMA user_version"), 1);

    /* Opening runs the later migrations and keeps every row. */
    const int64_t latest = (int64_t)AH_ARRAY_LEN(migrations);
    s = open_file(t);
    assert_int_equal(side_int(t->path, "PRAGMA user_version"), latest);
    assert_int_equal(side_int(t->path,
                              "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                              " AND name IN ('deliveries_pending', 'deliveries_by_webhook',"
                              " 'deliveries_by_event', 'attempts_by_delivery')"),
                     4);
    /* Migration 7 folded deliveries_pending_age into deliveries_pending. */
    assert_int_equal(side_int(t->path, "SELECT count(*) FROM sqlite_master"
                                       " WHERE name = 'deliveries_pending_age'"),
                     0);
    assert_int_equal(side_int(t->path, "SELECT count(*) FROM sqlite_master WHERE"
                                       " name = 'deliveries_pending' AND sql LIKE '%created_at%'"),
                     1);
    assert_int_equal(
        side_int(t->path, "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_due'"), 0);
    assert_int_equal(side_int(t->path,
                              "SELECT count(*) FROM sqlite_master WHERE"
                              " name = 'deliveries_by_webhook' AND sql LIKE '%created_at%'"),
                     1);
    /* The attempt made under release 1 is still in the delivery's log. */
    ah_delivery_t d;
    ah_attempt_t *at = NULL;
    size_t n_at = 0;
    assert_int_equal(
        ah_store_delivery_get(s, "6d1b5e2f-9c3b-4d4f-8a21-3b4c5d6e7f80", &d, &at, &n_at), AH_OK);
    assert_int_equal(n_at, 1);
    assert_int_equal(at[0].status_code, 503);
    assert_int_equal(at[0].duration_ms, 12);
    assert_string_equal(at[0].error, "HTTP 503");
    assert_string_equal(at[0].response_head, "busy");
    free(at);
    ah_delivery_stats_t st;
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 1);
    ah_due_t *due = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_delivery_due_webhooks(s, &due, &n), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].webhook_id, w);
    free(due);
    ah_claim_t *cl = NULL;
    int64_t next;
    assert_int_equal(ah_store_delivery_claim(s, w, T0 + 1, T0 + 60000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(cl[0].delivery_id, "6d1b5e2f-9c3b-4d4f-8a21-3b4c5d6e7f80");
    assert_string_equal(cl[0].data, "{\"old\":true}");
    ah_claims_free(cl, n);
    /* New work goes on next to the old. */
    assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0 + 2), 1);
    ah_store_close(s);

    /* Reopening migrates nothing more. */
    s = open_file(t);
    assert_int_equal(side_int(t->path, "PRAGMA user_version"), latest);
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 2);
    ah_store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Concurrency.                                                              */

#define N_PUBLISHERS 4
#define N_CLAIMERS 2
#define EVENTS_EACH 150
#define N_HOOKS 3

typedef struct conc {
    ah_store_t *s;
    const char *community_id;
    char hooks[N_HOOKS][AH_ID_SIZE];
    int publishers_left; /* guarded by mu */
    pthread_mutex_t mu;
} conc_t;

typedef struct worker {
    conc_t *k;
    int index;
    int failures;
    size_t done; /* published events, or recorded deliveries */
} worker_t;

static void *publisher(void *arg)
{
    worker_t *wk = arg;
    conc_t *k = wk->k;
    for (int i = 0; i < EVENTS_EACH; i++) {
        ah_event_t ev;
        char key[64];
        snprintf(key, sizeof key, "p%d-%d", wk->index, i / 2); /* every other one is a repeat */
        fill_event(&ev, k->community_id, TRIG, NULL, NULL, key, "{\"load\":1}", ah_now_ms());
        ah_publish_result_t res;
        int rc = ah_store_event_publish(k->s, &ev, &res);
        if (rc != AH_OK || res.duplicate != (i % 2 == 1) || res.n_deliveries != N_HOOKS)
            wk->failures++;
        else if (!res.duplicate)
            wk->done++;
        free(res.webhook_ids);
    }
    pthread_mutex_lock(&k->mu);
    k->publishers_left--;
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static bool publishers_done(conc_t *k)
{
    pthread_mutex_lock(&k->mu);
    bool done = k->publishers_left == 0;
    pthread_mutex_unlock(&k->mu);
    return done;
}

/* Claims and records until the publishers are done and nothing is left. */
static void *claimer(void *arg)
{
    worker_t *wk = arg;
    conc_t *k = wk->k;
    ah_attempt_result_t *batch = calloc(64, sizeof *batch);
    if (!batch) {
        wk->failures++;
        return NULL;
    }
    for (;;) {
        bool finished = publishers_done(k); /* read before looking, so nothing is missed */
        ah_due_t *due = NULL;
        size_t n_due = 0;
        if (ah_store_delivery_due_webhooks(k->s, &due, &n_due) != AH_OK)
            wk->failures++;
        size_t claimed = 0;
        for (size_t i = 0; i < n_due; i++) {
            int64_t now = ah_now_ms();
            ah_claim_t *cl = NULL;
            size_t n = 0;
            int64_t next;
            if (ah_store_delivery_claim(k->s, due[i].webhook_id, now, now + 600000, 64, &cl, &n,
                                        &next) != AH_OK) {
                wk->failures++;
                continue;
            }
            for (size_t j = 0; j < n; j++) {
                if (strcmp(cl[j].data, "{\"load\":1}") != 0 || cl[j].attempts != 0)
                    wk->failures++;
                batch[j] = result(cl[j].delivery_id, 1, now, AH_OUTCOME_SUCCEEDED, 200, NULL, 0);
            }
            if (n && ah_store_delivery_record(k->s, batch, n) != AH_OK)
                wk->failures++;
            wk->done += n;
            claimed += n;
            ah_claims_free(cl, n);
        }
        free(due);
        if (finished && claimed == 0 && n_due == 0)
            break;
    }
    free(batch);
    return NULL;
}

static void concurrent_flow(ah_store_t *s)
{
    ah_community_t c;
    new_community(s, &c, "Busy");
    conc_t k = {.s = s, .community_id = c.id, .publishers_left = N_PUBLISHERS};
    pthread_mutex_init(&k.mu, NULL);
    for (int i = 0; i < N_HOOKS; i++)
        new_webhook(s, k.hooks[i], c.id, TRIG, NULL, NULL);

    pthread_t th[N_PUBLISHERS + N_CLAIMERS];
    worker_t wk[N_PUBLISHERS + N_CLAIMERS];
    for (int i = 0; i < N_PUBLISHERS + N_CLAIMERS; i++) {
        wk[i] = (worker_t){.k = &k, .index = i};
        assert_int_equal(
            pthread_create(&th[i], NULL, i < N_PUBLISHERS ? publisher : claimer, &wk[i]), 0);
    }
    for (int i = 0; i < N_PUBLISHERS + N_CLAIMERS; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&k.mu);

    size_t published = 0, recorded = 0;
    for (int i = 0; i < N_PUBLISHERS + N_CLAIMERS; i++) {
        assert_int_equal(wk[i].failures, 0);
        if (i < N_PUBLISHERS)
            published += wk[i].done;
        else
            recorded += wk[i].done;
    }
    const size_t events = N_PUBLISHERS * EVENTS_EACH / 2;
    assert_int_equal(published, events);
    /* Every delivery claimed exactly once (long leases), every one recorded. */
    assert_int_equal(recorded, events * N_HOOKS);
    assert_int_equal(q_int(s, "SELECT count(*) FROM events"), (int64_t)events);
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries WHERE status = 'succeeded'"),
                     (int64_t)(events * N_HOOKS));
    assert_int_equal(q_int(s, tb_count_attempts()), (int64_t)(events * N_HOOKS));
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT delivery_id FROM %s"
             " GROUP BY delivery_id HAVING count(*) > 1) AS dup",
             tb_attempts_of());
    assert_int_equal(q_int(s, sql), 0);
    ah_delivery_stats_t st;
    assert_int_equal(ah_store_delivery_stats(s, &st), AH_OK);
    assert_int_equal(st.pending, 0);
}

/*
 * Concurrent publishes share transactions (group commit on SQLite): one
 * failing event in a batch must fail alone, and every good one must land.
 */
typedef struct {
    ah_store_t *s;
    const char *community_id;
    int good, bad, wrong;
} mixed_t;

static void *mixed_publisher(void *arg)
{
    mixed_t *m = arg;
    char orphan[AH_ID_SIZE];
    ah_uuid_v4(orphan);
    for (int i = 0; i < 40; i++) {
        bool bad = i % 4 == 3;
        ah_event_t ev;
        fill_event(&ev, bad ? orphan : m->community_id, TRIG, NULL, NULL, NULL, "{\"m\":1}", T0);
        ah_publish_result_t res;
        int rc = ah_store_event_publish(m->s, &ev, &res);
        if (bad ? rc == AH_ENOTFOUND : rc == AH_OK && !strcmp(res.event_id, ev.id))
            bad ? m->bad++ : m->good++;
        else
            m->wrong++;
        free(res.webhook_ids);
    }
    return NULL;
}

static void test_publish_batches_fail_alone(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Batch");
    pthread_t th[6];
    mixed_t m[6];
    for (int i = 0; i < 6; i++) {
        m[i] = (mixed_t){.s = s, .community_id = c.id};
        assert_int_equal(pthread_create(&th[i], NULL, mixed_publisher, &m[i]), 0);
    }
    int good = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(m[i].wrong, 0);
        assert_int_equal(m[i].bad, 10);
        good += m[i].good;
    }
    assert_int_equal(good, 180);
    assert_int_equal(q_int(s, "SELECT count(*) FROM events WHERE data = '{\"m\":1}'"), 180);
}

/* Async publishes of one test: each answer, and a count of them under a lock. */
#define N_ASYNC 64

typedef struct async_set {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int answered;
    int rc[N_ASYNC];
    ah_event_t ev[N_ASYNC];
    ah_publish_result_t res[N_ASYNC];
} async_set_t;

typedef struct async_one {
    async_set_t *set;
    int i;
} async_one_t;

static void async_done(void *arg, int rc)
{
    async_one_t *one = arg;
    pthread_mutex_lock(&one->set->mu);
    one->set->rc[one->i] = rc;
    one->set->answered++;
    pthread_cond_signal(&one->set->cv);
    pthread_mutex_unlock(&one->set->mu);
}

static async_set_t *async_set_new(void)
{
    async_set_t *set = calloc(1, sizeof *set);
    assert_non_null(set);
    pthread_mutex_init(&set->mu, NULL);
    pthread_cond_init(&set->cv, NULL);
    return set;
}

/* Queues set->ev[0..N_ASYNC) at once (one[] must outlive the answers) and waits for each answer. */
static void async_publish_all(ah_store_t *s, async_set_t *set, async_one_t one[N_ASYNC])
{
    for (int i = 0; i < N_ASYNC; i++) {
        one[i] = (async_one_t){set, i};
        ah_store_event_publish_async(s, &set->ev[i], &set->res[i], async_done, &one[i]);
    }
    pthread_mutex_lock(&set->mu);
    while (set->answered < N_ASYNC)
        pthread_cond_wait(&set->cv, &set->mu);
    pthread_mutex_unlock(&set->mu);
}

static void async_set_free(async_set_t *set)
{
    for (int i = 0; i < N_ASYNC; i++)
        free(set->res[i].webhook_ids);
    pthread_cond_destroy(&set->cv);
    pthread_mutex_destroy(&set->mu);
    free(set);
}

/*
 * Publishes queued together (each backend's async path: SQLite's and
 * PostgreSQL's group commit) answer as they would alone: a bad one fails
 * alone, the others commit, and an idempotency key used several times in
 * the same batch makes one event.
 */
static void test_publish_async_in_batches(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Async");
    char w[AH_ID_SIZE];
    new_webhook(s, w, c.id, TRIG, NULL, NULL);
    char orphan[AH_ID_SIZE];
    ah_uuid_v4(orphan);
    async_set_t *set = async_set_new();
    async_one_t one[N_ASYNC];
    for (int i = 0; i < N_ASYNC; i++) {
        bool bad = i % 8 == 5, keyed = i % 8 == 2;
        fill_event(&set->ev[i], bad ? orphan : c.id, TRIG, NULL, NULL, keyed ? "same-key" : NULL,
                   "{\"a\":1}", T0 + i);
    }
    async_publish_all(s, set, one);
    const char *first_keyed = NULL;
    int good = 0;
    for (int i = 0; i < N_ASYNC; i++) {
        if (i % 8 == 5) {
            assert_int_equal(set->rc[i], AH_ENOTFOUND);
            continue;
        }
        assert_int_equal(set->rc[i], AH_OK);
        assert_int_equal(set->res[i].n_deliveries, 1);
        if (i % 8 == 2) {
            if (!first_keyed) {
                first_keyed = set->res[i].event_id;
                assert_false(set->res[i].duplicate);
                assert_string_equal(first_keyed, set->ev[i].id);
                good++;
            } else {
                assert_true(set->res[i].duplicate);
                assert_string_equal(set->res[i].event_id, first_keyed);
            }
        } else {
            assert_false(set->res[i].duplicate);
            assert_string_equal(set->res[i].event_id, set->ev[i].id);
            good++;
        }
    }
    assert_int_equal(q_int(s, "SELECT count(*) FROM events WHERE data = '{\"a\":1}'"), good);
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries"), good);
    async_set_free(set);
}

/* Whether id is one of a publish result's webhook ids. */
static bool got_webhook(const ah_publish_result_t *res, const char *id)
{
    for (size_t k = 0; k < res->n_deliveries; k++)
        if (!strcmp(res->webhook_ids[k], id))
            return true;
    return false;
}

/*
 * Publishes that commit together, none of them bad (so that no batch falls
 * back to one publish at a time), each get their own answer: the webhooks
 * their event matched (two, one or none), the first of a reused idempotency
 * key its event and the others the first's, and the event's data back byte
 * for byte, quotes, backslashes and non-ASCII included.
 */
static void test_publish_async_batch_answers_each(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Batch answers");
    ah_airmeet_t am;
    new_airmeet(s, &am, c.id);
    char any[AH_ID_SIZE], only_am[AH_ID_SIZE];
    new_webhook(s, any, c.id, TRIG, NULL, NULL);
    new_webhook(s, only_am, c.id, TRIG, am.id, NULL);
    async_set_t *set = async_set_new();
    char(*data)[96] = calloc(N_ASYNC, sizeof *data);
    async_one_t one[N_ASYNC];
    assert_non_null(data);
    for (int i = 0; i < N_ASYNC; i++) {
        int kind = i % 4; /* 0: two webhooks, 1: one, 2: keyed (two), 3: another trigger */
        snprintf(data[i], sizeof data[i], "{\"i\":%d,\"s\":\"q\\\"b\\\\c \xc3\xa9\"}", i);
        fill_event(&set->ev[i], c.id, kind == 3 ? TRIG2 : TRIG, kind == 1 ? NULL : am.id, NULL,
                   kind == 2 ? "batch-key" : NULL, data[i], T0 + i);
    }
    async_publish_all(s, set, one);
    const char *first_keyed = NULL;
    for (int i = 0; i < N_ASYNC; i++) {
        const ah_publish_result_t *res = &set->res[i];
        int kind = i % 4;
        assert_int_equal(set->rc[i], AH_OK);
        assert_int_equal(res->n_deliveries, kind == 1 ? 1 : kind == 3 ? 0 : 2);
        if (kind == 2 && first_keyed) { /* the first's count, and no webhooks woken again */
            assert_true(res->duplicate);
            assert_string_equal(res->event_id, first_keyed);
            continue;
        }
        if (kind != 3)
            assert_true(got_webhook(res, any));
        assert_int_equal(got_webhook(res, only_am), kind == 0 || kind == 2);
        assert_false(res->duplicate);
        assert_string_equal(res->event_id, set->ev[i].id);
        if (kind == 2)
            first_keyed = res->event_id;
        ah_event_t got;
        assert_int_equal(ah_store_event_get(s, res->event_id, &got), AH_OK);
        assert_int_equal(got.data_len, strlen(data[i]));
        assert_memory_equal(got.data, data[i], got.data_len);
        free(got.data);
    }
    /* 16 events of two deliveries, 16 of one, the first keyed one's two; none for TRIG2. */
    assert_int_equal(q_int(s, "SELECT count(*) FROM deliveries"), 16 * 2 + 16 + 2);
    async_set_free(set);
    free(data);
}

/* Spins until the clock has moved past `after` (ms): at most a millisecond. */
static int64_t clock_past(int64_t after)
{
    int64_t now;
    while ((now = ah_now_ms()) <= after)
        ;
    return now;
}

/* Widens [lo, hi] (ids compared as text; lo "" is none yet) by the deliveries of one event. */
static void id_range(ah_store_t *s, const char *event_id, char lo[AH_ID_SIZE], char hi[AH_ID_SIZE])
{
    ah_delivery_filter_t f = {.event_id = event_id, .limit = 500};
    ah_delivery_t *list = NULL;
    size_t n = 0;
    char cursor[AH_CURSOR_SIZE];
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, cursor), AH_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(ah_is_uuid(list[i].id));
        if (!lo[0] || strcmp(list[i].id, lo) < 0)
            ah_strlcpy(lo, list[i].id, AH_ID_SIZE);
        if (strcmp(list[i].id, hi) > 0)
            ah_strlcpy(hi, list[i].id, AH_ID_SIZE);
    }
    free(list);
}

/*
 * Delivery ids begin with the time they were made, as event ids do: those
 * of an event published later sort after those of an earlier one, whether
 * published alone or in a batch (PostgreSQL's one-statement batch), so that
 * new rows go in at the right edge of the deliveries' primary key.
 */
static void test_delivery_ids_in_time_order(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Ids");
    char w[AH_ID_SIZE];
    for (int i = 0; i < 3; i++)
        new_webhook(s, w, c.id, TRIG, NULL, NULL);
    char ev[2][AH_ID_SIZE], lo[3][AH_ID_SIZE] = {""}, hi[3][AH_ID_SIZE] = {""};
    int64_t done = 0;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(publish(s, ev[k], c.id, TRIG, NULL, NULL, clock_past(done)), 3);
        done = ah_now_ms();
        id_range(s, ev[k], lo[k], hi[k]);
    }
    async_set_t *set = async_set_new();
    async_one_t one[N_ASYNC];
    int64_t at = clock_past(done);
    for (int i = 0; i < N_ASYNC; i++)
        fill_event(&set->ev[i], c.id, TRIG, NULL, NULL, NULL, "{}", at);
    async_publish_all(s, set, one);
    for (int i = 0; i < N_ASYNC; i++) {
        assert_int_equal(set->rc[i], AH_OK);
        id_range(s, set->res[i].event_id, lo[2], hi[2]);
    }
    assert_true(strcmp(hi[0], lo[1]) < 0);
    assert_true(strcmp(hi[1], lo[2]) < 0);
    async_set_free(set);
}

static void test_concurrent_memory(void **state)
{
    concurrent_flow(*state);
}

static void test_concurrent_file(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    concurrent_flow(s);
    ah_store_close(s);
}

/*
 * SQLite keeps leases in the memory of the one process that delivers from
 * the file: a claim writes nothing, a second process cannot deliver from
 * the same file, and what a process held when it ended is simply pending
 * for the next one (kill -9: at least once).
 */
static void test_delivery_own(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *a = open_file(t), *b = open_file(t);
    char err[256];
    assert_int_equal(ah_store_delivery_own(a, err, sizeof err), AH_OK);
    assert_int_equal(ah_store_delivery_own(a, err, sizeof err), AH_OK); /* held: again is fine */
    assert_int_equal(ah_store_delivery_own(b, err, sizeof err), AH_EEXISTS);
    assert_non_null(strstr(err, "--role api"));

    ah_community_t c;
    new_community(a, &c, "Acme");
    char w[AH_ID_SIZE];
    new_webhook(a, w, c.id, TRIG, NULL, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(publish(a, NULL, c.id, TRIG, NULL, NULL, T0 + i), 1);
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next = -1;
    assert_int_equal(ah_store_delivery_claim(a, w, T0 + 5, T0 + 60000, 2, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(next, T0 + 2);
    /* Nothing written: the lease is in a's memory, and shows in what a reads. */
    assert_int_equal(q_int(a, "SELECT count(*) FROM deliveries WHERE lease_until <> 0"), 0);
    ah_delivery_t d;
    get_delivery(a, cl[0].delivery_id, &d);
    assert_int_equal(d.lease_until, T0 + 60000);
    char held[AH_ID_SIZE];
    memcpy(held, cl[0].delivery_id, AH_ID_SIZE);
    ah_claims_free(cl, n);

    /* a ends without recording (a crash, as far as the file knows): b takes over all three. */
    ah_store_close(a);
    assert_int_equal(ah_store_delivery_own(b, err, sizeof err), AH_OK);
    assert_int_equal(ah_store_delivery_claim(b, w, T0 + 5, T0 + 60000, 10, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(next, 0);
    assert_string_equal(cl[0].delivery_id, held);
    ah_claims_free(cl, n);
    ah_store_close(b);
}

/*
 * A batch of many results, several per webhook: every attempt is kept
 * (123 of them: statements of 32, 8 and 1 rows on SQLite), and each
 * webhook's failure streak is what the results make in batch order.
 */
static void test_record_batch(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme");
    char w[3][AH_ID_SIZE];
    for (int k = 0; k < 3; k++)
        new_webhook(s, w[k], c.id, TRIG, NULL, NULL);
    enum { EVENTS = 41 };
    for (int i = 0; i < EVENTS; i++)
        assert_int_equal(publish(s, NULL, c.id, TRIG, NULL, NULL, T0 + i), 3);
    ah_claim_t *cl[3];
    size_t n[3];
    int64_t next;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(
            ah_store_delivery_claim(s, w[k], T0 + 100, T0 + 70000, 100, &cl[k], &n[k], &next),
            AH_OK);
        assert_int_equal(n[k], EVENTS);
    }
    /*
     * w[0]: failures and successes mixed, a failure last: the streak starts
     * at that one (1040).  w[1]: failures only: from the first (2000).
     * w[2]: a failure, then successes: no streak.  The three interleave.
     */
    ah_attempt_result_t *r = calloc(3 * EVENTS, sizeof *r);
    assert_non_null(r);
    size_t m = 0;
    for (int i = 0; i < EVENTS; i++) {
        bool fails0 = i == 0 || i == 2 || i == 3 || i == EVENTS - 1;
        ah_outcome_t o0 = fails0 ? AH_OUTCOME_RETRY : AH_OUTCOME_SUCCEEDED;
        r[m++] = result(cl[0][i].delivery_id, 1, T0 + 1000 + i, o0,
                        o0 == AH_OUTCOME_SUCCEEDED ? 200 : 503, NULL, T0 + 9000);
        r[m++] = result(cl[1][i].delivery_id, 1, T0 + 2000 + i, AH_OUTCOME_FAILED, 0, "refused", 0);
        ah_outcome_t o2 = i == 0 ? AH_OUTCOME_RETRY : AH_OUTCOME_SUCCEEDED;
        r[m++] = result(cl[2][i].delivery_id, 1, T0 + 3000 + i, o2,
                        o2 == AH_OUTCOME_SUCCEEDED ? 200 : 503, NULL, T0 + 9000);
    }
    assert_int_equal(ah_store_delivery_record(s, r, m), AH_OK);
    ah_webhook_t wh;
    get_webhook(s, w[0], &wh);
    assert_int_equal(wh.failing_since, T0 + 1000 + EVENTS - 1); /* after its last success */
    get_webhook(s, w[1], &wh);
    assert_int_equal(wh.failing_since, T0 + 2000);
    get_webhook(s, w[2], &wh);
    assert_int_equal(wh.failing_since, 0);
    /* Every attempt is in its delivery's log, with what the result said. */
    for (size_t i = 0; i < m; i++) {
        ah_delivery_t d;
        ah_attempt_t *at = NULL;
        size_t n_at = 0;
        assert_int_equal(ah_store_delivery_get(s, r[i].delivery_id, &d, &at, &n_at), AH_OK);
        assert_int_equal(n_at, 1);
        assert_int_equal(at[0].started_at, r[i].attempt.started_at);
        assert_int_equal(at[0].status_code, r[i].attempt.status_code);
        assert_string_equal(at[0].error, r[i].attempt.error);
        assert_string_equal(at[0].response_head, r[i].attempt.response_head);
        assert_int_equal(d.lease_until, 0);
        free(at);
    }
    ah_delivery_t d;
    get_delivery(s, cl[1][0].delivery_id, &d);
    assert_int_equal(d.status, AH_DLV_FAILED);
    for (int k = 0; k < 3; k++)
        ah_claims_free(cl[k], n[k]);
    free(r);
}

/* Every backend. */
static const struct CMUnitTest common_tests[] = {
    cmocka_unit_test_setup_teardown(test_publish_matching, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_event_roundtrip_and_errors, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_publish_idempotency, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_event_pages, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_publish_test_event, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_delivery_list_filters, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_claim, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_claim_many, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_record, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_record_batch_in_order, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_record_batch, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_release, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_list_paging, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_list_bad_input, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_retry_recover_rotate, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_stats, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_due_webhooks, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_delivery_ids_in_time_order, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_concurrent_memory, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_publish_batches_fail_alone, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_publish_async_in_batches, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_publish_async_batch_answers_each, open_memory,
                                    close_store),
};

/* SQLite itself: query plans, its migration 2, a file database. */
static const struct CMUnitTest sqlite_tests[] = {
    cmocka_unit_test_setup_teardown(test_query_plans, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_migration_from_v1, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_file, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_delivery_own, tmpdb_setup, tmpdb_teardown),
};

int main(void)
{
    if (tb_check())
        return 1;
    int failed = cmocka_run_group_tests_name(tb_name(), common_tests, NULL, NULL);
    if (!tb_pg())
        failed += cmocka_run_group_tests_name("sqlite only", sqlite_tests, NULL, NULL);
    return failed;
}
