/* SPDX-License-Identifier: MIT */
/*
 * test_store.c: unit tests of the store through the ah_store_*() layer,
 * the way the rest of airhook uses it.
 *
 * Most tests run on a fresh store of the backend chosen by AH_TEST_STORE
 * (store_backend.h): a ":memory:" SQLite database by default, a database of
 * its own on AH_TEST_PG_DSN's server with AH_TEST_STORE=postgres.  The ones
 * about SQLite files (durability, migrations, the journal mode) use a file
 * database in a private directory under /tmp that is removed afterwards
 * (with -wal/-shm) and run on SQLite only; test_store_pg.c has the
 * PostgreSQL counterparts.  Threaded tests never call cmocka from a worker:
 * workers record results and the main thread asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/metrics.h"
#include "store/store.h"
#include "store_backend.h"

#define T0 1700000000000LL /* a fixed "now" so times are predictable */

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

static void new_community(ah_store_t *s, ah_community_t *c, const char *name, int64_t at)
{
    memset(c, 0, sizeof *c);
    ah_uuid_v4(c->id);
    assert_int_equal(ah_strlcpy(c->name, name, sizeof c->name), AH_OK);
    c->created_at = at;
    assert_int_equal(ah_store_community_create(s, c), AH_OK);
}

static void new_airmeet(ah_store_t *s, ah_airmeet_t *a, const char *community_id, int64_t at)
{
    memset(a, 0, sizeof *a);
    ah_uuid_v4(a->id);
    ah_strlcpy(a->community_id, community_id, sizeof a->community_id);
    ah_strlcpy(a->name, "Launch day", sizeof a->name);
    a->created_at = at;
    assert_int_equal(ah_store_airmeet_create(s, a), AH_OK);
}

static void new_session(ah_store_t *s, ah_session_t *ss, const ah_airmeet_t *a, int64_t at)
{
    memset(ss, 0, sizeof *ss);
    ah_uuid_v4(ss->id);
    ah_strlcpy(ss->airmeet_id, a->id, sizeof ss->airmeet_id);
    ah_strlcpy(ss->community_id, a->community_id, sizeof ss->community_id);
    ah_strlcpy(ss->name, "Keynote", sizeof ss->name);
    ss->created_at = at;
    assert_int_equal(ah_store_session_create(s, ss), AH_OK);
}

/* A webhook as the register handler builds it (not yet stored). */
static void fill_webhook(ah_webhook_t *w, const char *community_id, const char *trigger,
                         const char *url, const char *airmeet_id, const char *session_id,
                         int64_t at)
{
    memset(w, 0, sizeof *w);
    ah_uuid_v4(w->id);
    ah_strlcpy(w->community_id, community_id, sizeof w->community_id);
    ah_strlcpy(w->trigger, trigger, sizeof w->trigger);
    ah_strlcpy(w->name, "crm sync", sizeof w->name);
    ah_strlcpy(w->url, url, sizeof w->url);
    ah_strlcpy(w->platform_name, "zapier", sizeof w->platform_name);
    ah_strlcpy(w->airmeet_id, airmeet_id ? airmeet_id : "", sizeof w->airmeet_id);
    ah_strlcpy(w->session_id, session_id ? session_id : "", sizeof w->session_id);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "{}", sizeof w->meta_data);
    w->created_at = at;
    w->updated_at = at;
    ah_strlcpy(w->created_by, "key label", sizeof w->created_by);
    ah_strlcpy(w->secret, "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj", sizeof w->secret);
}

static void register_new(ah_store_t *s, const ah_webhook_t *w)
{
    ah_webhook_t out;
    bool existed = true;
    assert_int_equal(ah_store_webhook_register(s, w, &out, &existed), AH_OK);
    assert_false(existed);
    assert_string_equal(out.id, w->id);
}

/*
 * Runs one SQL statement on a side connection and returns the first column
 * as int.  `where` is a SQLite file path, or a PostgreSQL DSN under
 * AH_TEST_STORE=postgres.
 */
static int64_t side_query_int(const char *where, const char *sql)
{
    if (tb_pg())
        return tb_pg_int(where, sql);
    const char *path = where;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void side_exec(const char *where, const char *sql)
{
    if (tb_pg()) {
        assert_int_equal(tb_pg_exec(where, sql), 0);
        return;
    }
    const char *path = where;
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

/* ------------------------------------------------------------------------ */
/* Open, ping, settings.                                                     */

static void test_open_and_ping(void **state)
{
    ah_store_t *s = *state;
    assert_string_equal(ah_store_name(s), tb_name());
    assert_int_equal(ah_store_shared(s), tb_pg());
    assert_int_equal(ah_store_ping(s), AH_OK);

    /* Through the DSN dispatcher too; two fresh stores are separate databases. */
    ah_store_t *other = tb_open_fresh();
    assert_non_null(other);
    ah_community_t c;
    new_community(s, &c, "only in the first", T0);
    ah_community_t got;
    assert_int_equal(ah_store_community_get(other, c.id, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_ping(other), AH_OK);
    tb_close(other);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256] = "";
    ah_store_t *s = (ah_store_t *)&err; /* must be reset to NULL */
    assert_int_equal(ah_store_sqlite_open("", &s, err, sizeof err), AH_EINVAL);
    assert_null(s);
    err[0] = '\0';
    assert_int_not_equal(
        ah_store_sqlite_open("/nonexistent-dir-ah/sub/airhook.db", &s, err, sizeof err), AH_OK);
    assert_null(s);
    assert_non_null(strstr(err, "/nonexistent-dir-ah/sub/airhook.db"));
}

static void test_settings(void **state)
{
    ah_store_t *s = *state;
    char buf[128];
    assert_int_equal(ah_store_setting_get(s, "admin_token_hash", buf, sizeof buf), AH_ENOTFOUND);
    assert_int_equal(ah_store_setting_set(s, "admin_token_hash", "abc123"), AH_OK);
    assert_int_equal(ah_store_setting_get(s, "admin_token_hash", buf, sizeof buf), AH_OK);
    assert_string_equal(buf, "abc123");
    /* Setting again overwrites. */
    assert_int_equal(ah_store_setting_set(s, "admin_token_hash", "def4567890"), AH_OK);
    assert_int_equal(ah_store_setting_get(s, "admin_token_hash", buf, sizeof buf), AH_OK);
    assert_string_equal(buf, "def4567890");
    /* A value that does not fit is refused rather than truncated. */
    char small[4] = "zzz";
    assert_int_equal(ah_store_setting_get(s, "admin_token_hash", small, sizeof small), AH_ETOOBIG);
    /* The empty string is a value, distinct from absence. */
    assert_int_equal(ah_store_setting_set(s, "empty", ""), AH_OK);
    assert_int_equal(ah_store_setting_get(s, "empty", buf, sizeof buf), AH_OK);
    assert_string_equal(buf, "");
}

/* ------------------------------------------------------------------------ */
/* Communities, keys, tokens, airmeets, sessions.                            */

static void test_communities(void **state)
{
    ah_store_t *s = *state;
    ah_community_t *list = NULL;
    size_t n = 99;
    assert_int_equal(ah_store_community_list(s, &list, &n), AH_OK);
    assert_int_equal(n, 0);
    free(list);

    ah_community_t b, a, got;
    new_community(s, &b, "Second", T0 + 10);
    new_community(s, &a, "First", T0);
    assert_int_equal(ah_store_community_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.name, "First");
    assert_int_equal(got.created_at, T0);

    ah_community_t dup = a;
    ah_strlcpy(dup.name, "another name", sizeof dup.name);
    assert_int_equal(ah_store_community_create(s, &dup), AH_EEXISTS);
    assert_int_equal(ah_store_community_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.name, "First");

    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_community_get(s, missing, &got), AH_ENOTFOUND);

    /* Oldest first, whatever the insertion order. */
    assert_int_equal(ah_store_community_list(s, &list, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, a.id);
    assert_string_equal(list[0].name, "First");
    assert_string_equal(list[1].id, b.id);
    assert_int_equal(list[1].created_at, T0 + 10);
    free(list);

    /* An unset id is refused, not stored as "". */
    ah_community_t noid = {.name = "x", .created_at = T0};
    assert_int_equal(ah_store_community_create(s, &noid), AH_EINVAL);
}

static void fill_key(ah_access_key_t *k, const char *community_id, const char *label, int64_t at)
{
    memset(k, 0, sizeof *k);
    ah_uuid_v4(k->id);
    ah_strlcpy(k->community_id, community_id, sizeof k->community_id);
    ah_strlcpy(k->label, label, sizeof k->label);
    ah_uuid_v4(k->access_key);
    ah_sha256_hex("ahs_secret", 10, k->secret_hash);
    k->created_at = at;
}

static void test_access_keys(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, other;
    new_community(s, &c, "Acme", T0);
    new_community(s, &other, "Other", T0);

    ah_access_key_t k1, k2, got;
    fill_key(&k2, c.id, "second", T0 + 5);
    fill_key(&k1, c.id, "first", T0);
    assert_int_equal(ah_store_access_key_create(s, &k2), AH_OK);
    assert_int_equal(ah_store_access_key_create(s, &k1), AH_OK);

    assert_int_equal(ah_store_access_key_find(s, k1.access_key, &got), AH_OK);
    assert_string_equal(got.id, k1.id);
    assert_string_equal(got.community_id, c.id);
    assert_string_equal(got.label, "first");
    assert_string_equal(got.access_key, k1.access_key);
    assert_string_equal(got.secret_hash, k1.secret_hash);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(ah_store_access_key_find(s, k1.id, &got), AH_ENOTFOUND); /* not by id */

    assert_int_equal(ah_store_access_key_get(s, k2.id, &got), AH_OK);
    assert_string_equal(got.access_key, k2.access_key);
    assert_string_equal(got.label, "second");

    /* Duplicate id, and duplicate public half under a new id. */
    ah_access_key_t dup = k1;
    ah_uuid_v4(dup.access_key);
    assert_int_equal(ah_store_access_key_create(s, &dup), AH_EEXISTS);
    dup = k1;
    ah_uuid_v4(dup.id);
    assert_int_equal(ah_store_access_key_create(s, &dup), AH_EEXISTS);

    /* A key for a community that does not exist. */
    ah_access_key_t orphan;
    fill_key(&orphan, "00000000-0000-4000-8000-000000000000", "orphan", T0);
    assert_int_equal(ah_store_access_key_create(s, &orphan), AH_ENOTFOUND);

    ah_access_key_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_access_key_list(s, c.id, &list, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, k1.id);
    assert_string_equal(list[1].id, k2.id);
    free(list);
    assert_int_equal(ah_store_access_key_list(s, other.id, &list, &n), AH_OK);
    assert_int_equal(n, 0);
    free(list);

    /* Revoke sets revoked_at once; a second revoke keeps the first time. */
    assert_int_equal(ah_store_access_key_revoke(s, k1.id, T0 + 100), AH_OK);
    assert_int_equal(ah_store_access_key_get(s, k1.id, &got), AH_OK);
    assert_int_equal(got.revoked_at, T0 + 100);
    assert_int_equal(ah_store_access_key_revoke(s, k1.id, T0 + 200), AH_OK);
    assert_int_equal(ah_store_access_key_find(s, k1.access_key, &got), AH_OK);
    assert_int_equal(got.revoked_at, T0 + 100);
    assert_int_equal(ah_store_access_key_get(s, k2.id, &got), AH_OK);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(ah_store_access_key_revoke(s, orphan.id, T0), AH_ENOTFOUND);
}

static void test_tokens(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    ah_access_key_t k;
    fill_key(&k, c.id, "crm", T0);
    assert_int_equal(ah_store_access_key_create(s, &k), AH_OK);

    ah_token_t live = {0}, old = {0}, got;
    ah_sha256_hex("aht_live", 8, live.token_hash);
    ah_sha256_hex("aht_old", 7, old.token_hash);
    ah_token_t *toks[] = {&live, &old};
    for (size_t i = 0; i < AH_ARRAY_LEN(toks); i++) {
        ah_strlcpy(toks[i]->key_id, k.id, sizeof toks[i]->key_id);
        ah_strlcpy(toks[i]->community_id, c.id, sizeof toks[i]->community_id);
        ah_strlcpy(toks[i]->label, "crm", sizeof toks[i]->label);
        toks[i]->created_at = T0;
    }
    live.expires_at = T0 + 1000;
    old.expires_at = T0 - 1;
    assert_int_equal(ah_store_token_create(s, &live), AH_OK);
    assert_int_equal(ah_store_token_create(s, &old), AH_OK);
    assert_int_equal(ah_store_token_create(s, &live), AH_EEXISTS);

    assert_int_equal(ah_store_token_find(s, live.token_hash, &got), AH_OK);
    assert_string_equal(got.token_hash, live.token_hash);
    assert_string_equal(got.key_id, k.id);
    assert_string_equal(got.community_id, c.id);
    assert_string_equal(got.label, "crm");
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.expires_at, T0 + 1000);

    size_t deleted = 99;
    assert_int_equal(ah_store_token_purge(s, T0, &deleted), AH_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(ah_store_token_find(s, old.token_hash, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_token_find(s, live.token_hash, &got), AH_OK);
    /* Expiring exactly at `now` is not "expired before now". */
    assert_int_equal(ah_store_token_purge(s, T0 + 1000, NULL), AH_OK);
    assert_int_equal(ah_store_token_find(s, live.token_hash, &got), AH_OK);
    assert_int_equal(ah_store_token_purge(s, T0 + 1001, &deleted), AH_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(ah_store_token_find(s, live.token_hash, &got), AH_ENOTFOUND);
}

static void test_airmeets_sessions(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme", T0);

    ah_airmeet_t a = {0}, got;
    ah_uuid_v4(a.id);
    ah_strlcpy(a.community_id, c.id, sizeof a.community_id);
    ah_strlcpy(a.name, "Summit", sizeof a.name);
    a.start_time = T0 + 3600000;
    a.end_time = T0 + 7200000;
    a.created_at = T0;
    assert_int_equal(ah_store_airmeet_create(s, &a), AH_OK);
    assert_int_equal(ah_store_airmeet_create(s, &a), AH_EEXISTS);
    assert_int_equal(ah_store_airmeet_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.community_id, c.id);
    assert_string_equal(got.name, "Summit");
    assert_int_equal(got.start_time, T0 + 3600000);
    assert_int_equal(got.end_time, T0 + 7200000);
    assert_int_equal(got.created_at, T0);

    /* Unset times stay 0. */
    ah_airmeet_t bare;
    new_airmeet(s, &bare, c.id, T0);
    assert_int_equal(ah_store_airmeet_get(s, bare.id, &got), AH_OK);
    assert_int_equal(got.start_time, 0);
    assert_int_equal(got.end_time, 0);

    ah_session_t ss, sgot;
    new_session(s, &ss, &a, T0 + 1);
    assert_int_equal(ah_store_session_create(s, &ss), AH_EEXISTS);
    assert_int_equal(ah_store_session_get(s, ss.id, &sgot), AH_OK);
    assert_string_equal(sgot.id, ss.id);
    assert_string_equal(sgot.airmeet_id, a.id);
    assert_string_equal(sgot.community_id, c.id);
    assert_string_equal(sgot.name, "Keynote");
    assert_int_equal(sgot.created_at, T0 + 1);

    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_airmeet_get(s, missing, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_session_get(s, missing, &sgot), AH_ENOTFOUND);
    /* The session id is not an airmeet id and vice versa. */
    assert_int_equal(ah_store_airmeet_get(s, ss.id, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_session_get(s, a.id, &sgot), AH_ENOTFOUND);
}

/* ------------------------------------------------------------------------ */
/* Webhooks.                                                                 */

static void test_webhook_roundtrip(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    ah_airmeet_t a;
    new_airmeet(s, &a, c.id, T0);
    ah_session_t ss;
    new_session(s, &ss, &a, T0);

    ah_webhook_t w, got;
    fill_webhook(&w, c.id, "trigger.session.attendee.joined", "https://example.com/hook", a.id,
                 ss.id, T0);
    ah_strlcpy(w.description, "", sizeof w.description);
    w.has_description = true; /* "" is a description, not null */
    ah_strlcpy(w.updated_by, "ops", sizeof w.updated_by);
    w.has_updated_by = true;
    ah_strlcpy(w.prev_secret, "whsec_b2xkb2xkb2xk", sizeof w.prev_secret);
    w.prev_secret_until = T0 + 86400000;
    w.failing_since = T0 + 5;
    register_new(s, &w);

    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_string_equal(got.id, w.id);
    assert_string_equal(got.community_id, c.id);
    assert_string_equal(got.trigger, "trigger.session.attendee.joined");
    assert_string_equal(got.name, "crm sync");
    assert_true(got.has_description);
    assert_string_equal(got.description, "");
    assert_string_equal(got.url, "https://example.com/hook");
    assert_string_equal(got.platform_name, "zapier");
    assert_string_equal(got.airmeet_id, a.id);
    assert_string_equal(got.session_id, ss.id);
    assert_true(got.is_active);
    assert_string_equal(got.disabled_reason, "");
    assert_string_equal(got.meta_data, "{}");
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.updated_at, T0);
    assert_string_equal(got.created_by, "key label");
    assert_true(got.has_updated_by);
    assert_string_equal(got.updated_by, "ops");
    assert_string_equal(got.secret, w.secret);
    assert_string_equal(got.prev_secret, "whsec_b2xkb2xkb2xk");
    assert_int_equal(got.prev_secret_until, T0 + 86400000);
    assert_int_equal(got.deregistered_at, 0);
    assert_int_equal(got.failing_since, T0 + 5);

    /* Null description / updated_by, no airmeet/session. */
    ah_webhook_t plain;
    fill_webhook(&plain, c.id, "trigger.airmeet.created", "https://example.com/plain", NULL, NULL,
                 T0);
    register_new(s, &plain);
    assert_int_equal(ah_store_webhook_get(s, plain.id, &got), AH_OK);
    assert_false(got.has_description);
    assert_string_equal(got.description, "");
    assert_false(got.has_updated_by);
    assert_string_equal(got.airmeet_id, "");
    assert_string_equal(got.session_id, "");
    assert_string_equal(got.prev_secret, "");

    /* The same id twice is a conflict even for a different tuple. */
    ah_webhook_t clash;
    fill_webhook(&clash, c.id, "trigger.airmeet.created", "https://example.com/other", NULL, NULL,
                 T0);
    ah_strlcpy(clash.id, plain.id, sizeof clash.id);
    bool existed = true;
    assert_int_equal(ah_store_webhook_register(s, &clash, &got, &existed), AH_EEXISTS);

    /* A webhook naming an airmeet that does not exist is refused. */
    ah_webhook_t ghost;
    fill_webhook(&ghost, c.id, "trigger.airmeet.created", "https://example.com/ghost",
                 "00000000-0000-4000-8000-000000000000", NULL, T0);
    assert_int_equal(ah_store_webhook_register(s, &ghost, &got, &existed), AH_ENOTFOUND);

    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_webhook_get(s, missing, &got), AH_ENOTFOUND);
}

static void test_webhook_register_idempotent(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, c2;
    new_community(s, &c, "Acme", T0);
    new_community(s, &c2, "Beta", T0);
    ah_airmeet_t a;
    new_airmeet(s, &a, c.id, T0);

    ah_webhook_t w1, w2, out;
    bool existed = true;
    fill_webhook(&w1, c.id, "trigger.airmeet.registrant.added", "https://example.com/a", a.id, NULL,
                 T0);
    assert_int_equal(ah_store_webhook_register(s, &w1, &out, &existed), AH_OK);
    assert_false(existed);
    assert_string_equal(out.id, w1.id);
    assert_string_equal(out.secret, w1.secret);

    /* Same tuple, new id and name: the first one comes back, nothing is stored. */
    fill_webhook(&w2, c.id, "trigger.airmeet.registrant.added", "https://example.com/a", a.id, NULL,
                 T0 + 50);
    ah_strlcpy(w2.name, "second try", sizeof w2.name);
    ah_strlcpy(w2.secret, "whsec_ZGlmZmVyZW50", sizeof w2.secret);
    existed = false;
    assert_int_equal(ah_store_webhook_register(s, &w2, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(out.id, w1.id);
    assert_string_equal(out.name, "crm sync");
    assert_string_equal(out.secret, w1.secret);
    assert_int_equal(out.created_at, T0);
    assert_int_equal(ah_store_webhook_get(s, w2.id, &out), AH_ENOTFOUND);

    /* `existed` may be NULL. */
    assert_int_equal(ah_store_webhook_register(s, &w2, &out, NULL), AH_OK);
    assert_string_equal(out.id, w1.id);

    /* Any component of the tuple differing makes a new registration. */
    ah_webhook_t v;
    fill_webhook(&v, c.id, "trigger.airmeet.registrant.added", "https://example.com/b", a.id, NULL,
                 T0);
    register_new(s, &v); /* url */
    fill_webhook(&v, c.id, "trigger.airmeet.attendee.joined", "https://example.com/a", a.id, NULL,
                 T0);
    register_new(s, &v); /* trigger */
    fill_webhook(&v, c.id, "trigger.airmeet.registrant.added", "https://example.com/a", NULL, NULL,
                 T0);
    register_new(s, &v); /* no airmeet */
    fill_webhook(&v, c2.id, "trigger.airmeet.registrant.added", "https://example.com/a", NULL, NULL,
                 T0);
    register_new(s, &v); /* community */

    /* The no-airmeet one is idempotent too ("" compares equal to unset). */
    ah_webhook_t again;
    fill_webhook(&again, c.id, "trigger.airmeet.registrant.added", "https://example.com/a", NULL,
                 NULL, T0);
    existed = false;
    assert_int_equal(ah_store_webhook_register(s, &again, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_not_equal(out.id, again.id);

    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 4);
    free(list);

    /* After deregistering, the same tuple registers afresh. */
    assert_int_equal(ah_store_webhook_deregister(s, w1.id, "key label", T0 + 100), AH_OK);
    fill_webhook(&w2, c.id, "trigger.airmeet.registrant.added", "https://example.com/a", a.id, NULL,
                 T0 + 200);
    existed = true;
    assert_int_equal(ah_store_webhook_register(s, &w2, &out, &existed), AH_OK);
    assert_false(existed);
    assert_string_equal(out.id, w2.id);
    assert_int_equal(ah_store_webhook_get(s, w2.id, &out), AH_OK);
    assert_true(out.is_active);
}

static void test_webhook_list_active_filters(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, c2;
    new_community(s, &c, "Acme", T0);
    new_community(s, &c2, "Beta", T0);
    ah_airmeet_t a, b;
    new_airmeet(s, &a, c.id, T0);
    new_airmeet(s, &b, c.id, T0);
    ah_session_t sa;
    new_session(s, &sa, &a, T0);

    /* Inserted out of time order; ties on created_at break by id. */
    ah_webhook_t any, on_a, on_sa, on_b, tie, gone;
    fill_webhook(&on_sa, c.id, "trigger.airmeet.polls", "https://e.com/1", a.id, sa.id, T0 + 3);
    fill_webhook(&any, c.id, "trigger.airmeet.created", "https://e.com/2", NULL, NULL, T0 + 1);
    fill_webhook(&on_b, c.id, "trigger.airmeet.polls", "https://e.com/3", b.id, NULL, T0 + 4);
    fill_webhook(&on_a, c.id, "trigger.airmeet.polls", "https://e.com/4", a.id, NULL, T0 + 2);
    fill_webhook(&tie, c.id, "trigger.airmeet.created", "https://e.com/5", NULL, NULL, T0 + 1);
    fill_webhook(&gone, c.id, "trigger.airmeet.created", "https://e.com/6", a.id, NULL, T0);
    ah_webhook_t *all[] = {&on_sa, &any, &on_b, &on_a, &tie, &gone};
    for (size_t i = 0; i < AH_ARRAY_LEN(all); i++)
        register_new(s, all[i]);
    assert_int_equal(ah_store_webhook_deregister(s, gone.id, "x", T0 + 10), AH_OK);

    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 5);
    const ah_webhook_t *first = strcmp(any.id, tie.id) < 0 ? &any : &tie;
    const ah_webhook_t *second = first == &any ? &tie : &any;
    assert_string_equal(list[0].id, first->id);
    assert_string_equal(list[1].id, second->id);
    assert_string_equal(list[2].id, on_a.id);
    assert_string_equal(list[3].id, on_sa.id);
    assert_string_equal(list[4].id, on_b.id);
    assert_string_equal(list[4].url, "https://e.com/3");
    free(list);

    /* "" means no filter, like NULL. */
    assert_int_equal(ah_store_webhook_list_active(s, c.id, "", "", &list, &n), AH_OK);
    assert_int_equal(n, 5);
    free(list);

    /* Exactly that airmeet (not the unscoped ones, not the deregistered one). */
    assert_int_equal(ah_store_webhook_list_active(s, c.id, a.id, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, on_a.id);
    assert_string_equal(list[1].id, on_sa.id);
    free(list);

    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, sa.id, &list, &n), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, on_sa.id);
    assert_string_equal(list[0].session_id, sa.id);
    free(list);

    assert_int_equal(ah_store_webhook_list_active(s, c.id, a.id, sa.id, &list, &n), AH_OK);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(ah_store_webhook_list_active(s, c.id, b.id, sa.id, &list, &n), AH_OK);
    assert_int_equal(n, 0);
    free(list);

    assert_int_equal(ah_store_webhook_list_active(s, c.id, b.id, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, on_b.id);
    free(list);

    /* Another community sees nothing. */
    n = 7;
    assert_int_equal(ah_store_webhook_list_active(s, c2.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 0);
    free(list);
}

static void test_webhook_deregister(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    ah_webhook_t w, got;
    fill_webhook(&w, c.id, "trigger.airmeet.created", "https://example.com/h", NULL, NULL, T0);
    register_new(s, &w);

    assert_int_equal(ah_store_webhook_deregister(s, w.id, "crm key", T0 + 500), AH_OK);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_false(got.is_active);
    assert_string_equal(got.disabled_reason, "deregistered");
    assert_int_equal(got.deregistered_at, T0 + 500);
    assert_int_equal(got.updated_at, T0 + 500);
    assert_true(got.has_updated_by);
    assert_string_equal(got.updated_by, "crm key");
    assert_int_equal(got.created_at, T0); /* history stays */
    assert_string_equal(got.url, "https://example.com/h");

    assert_int_equal(ah_store_webhook_deregister(s, w.id, "crm key", T0 + 600), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_int_equal(got.deregistered_at, T0 + 500);

    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_webhook_deregister(s, missing, "x", T0), AH_ENOTFOUND);

    /* A deregistered webhook cannot be re-enabled. */
    assert_int_equal(ah_store_webhook_set_active(s, w.id, true, NULL, T0 + 700), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_false(got.is_active);
}

static void test_webhook_set_active(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    ah_webhook_t w, got;
    fill_webhook(&w, c.id, "trigger.airmeet.created", "https://example.com/h", NULL, NULL, T0);
    w.failing_since = T0 + 1;
    register_new(s, &w);

    assert_int_equal(ah_store_webhook_set_active(s, w.id, false, "410 Gone", T0 + 10), AH_OK);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_false(got.is_active);
    assert_string_equal(got.disabled_reason, "410 Gone");
    assert_int_equal(got.updated_at, T0 + 10);
    assert_int_equal(got.deregistered_at, 0);
    assert_int_equal(got.failing_since, T0 + 1);

    ah_webhook_t *list = NULL;
    size_t n = 9;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 0);
    free(list);

    assert_int_equal(ah_store_webhook_set_active(s, w.id, true, "ignored", T0 + 20), AH_OK);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_true(got.is_active);
    assert_string_equal(got.disabled_reason, "");
    assert_int_equal(got.updated_at, T0 + 20);
    assert_int_equal(got.failing_since, 0); /* a fresh start */
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 1);
    free(list);

    char missing[AH_ID_SIZE];
    ah_uuid_v4(missing);
    assert_int_equal(ah_store_webhook_set_active(s, missing, false, "x", T0), AH_ENOTFOUND);

    /*
     * While disabled, the same tuple may be registered again (only active
     * webhooks count); enabling the old one then would duplicate it.
     */
    assert_int_equal(ah_store_webhook_set_active(s, w.id, false, "failing for 5 days", T0 + 30),
                     AH_OK);
    ah_webhook_t w2;
    fill_webhook(&w2, c.id, "trigger.airmeet.created", "https://example.com/h", NULL, NULL, T0);
    register_new(s, &w2);
    assert_int_equal(ah_store_webhook_set_active(s, w.id, true, NULL, T0 + 40), AH_EEXISTS);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_false(got.is_active);
    assert_string_equal(got.disabled_reason, "failing for 5 days");
}

/* ------------------------------------------------------------------------ */
/* Cache generations (migration 4; 3 on PostgreSQL).                         */

static ah_cache_gen_t gen_now(ah_store_t *s)
{
    ah_cache_gen_t g;
    assert_int_equal(ah_store_cache_gen(s, &g), AH_OK);
    return g;
}

/* Asserts which generations moved since *g, then makes *g the current ones. */
static void expect_bump(ah_store_t *s, ah_cache_gen_t *g, bool webhooks, bool auth)
{
    ah_cache_gen_t now = gen_now(s);
    if (webhooks)
        assert_true(now.webhooks > g->webhooks);
    else
        assert_int_equal(now.webhooks, g->webhooks);
    if (auth)
        assert_true(now.auth > g->auth);
    else
        assert_int_equal(now.auth, g->auth);
    *g = now;
}

/* A delivery for webhook w, claimed and recorded with outcome (and disable reason). */
static void deliver_once(ah_store_t *s, const ah_community_t *c, const char *w, int64_t at,
                         ah_outcome_t outcome, const char *disable)
{
    ah_event_t ev = {0};
    ah_uuid_v4(ev.id);
    ah_strlcpy(ev.community_id, c->id, sizeof ev.community_id);
    ah_strlcpy(ev.trigger, "trigger.airmeet.created", sizeof ev.trigger);
    ev.data = "{}";
    ev.data_len = 2;
    ev.created_at = at;
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
    assert_int_equal(res.n_deliveries, 1);
    free(res.webhook_ids);
    ah_claim_t *cl = NULL;
    size_t n = 0;
    int64_t next = 0;
    assert_int_equal(ah_store_delivery_claim(s, w, at, at + 60000, 1, &cl, &n, &next), AH_OK);
    assert_int_equal(n, 1);
    ah_attempt_result_t r;
    memset(&r, 0, sizeof r);
    ah_strlcpy(r.delivery_id, cl[0].delivery_id, sizeof r.delivery_id);
    ah_strlcpy(r.webhook_id, w, sizeof r.webhook_id);
    ah_claims_free(cl, n);
    r.attempt.attempt_no = 1;
    r.attempt.started_at = at;
    r.attempt.status_code = outcome == AH_OUTCOME_SUCCEEDED ? 200 : 500;
    r.outcome = outcome;
    r.next_attempt_at = at + 1000;
    ah_strlcpy(r.disable_reason, disable ? disable : "", sizeof r.disable_reason);
    assert_int_equal(ah_store_delivery_record(s, &r, 1), AH_OK);
}

/*
 * The generations move with exactly the changes the API's caches depend on,
 * and not with delivery bookkeeping, which runs all the time.
 */
static void test_cache_generations(void **state)
{
    ah_store_t *s = *state;
    ah_cache_gen_t g = gen_now(s);
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    ah_airmeet_t a;
    new_airmeet(s, &a, c.id, T0);
    ah_session_t ss;
    new_session(s, &ss, &a, T0);
    expect_bump(s, &g, false, false); /* inserts of what caches look up: no bump */
    ah_access_key_t k;
    fill_key(&k, c.id, "crm", T0);
    assert_int_equal(ah_store_access_key_create(s, &k), AH_OK);
    /* ... but a new key: the key cache remembers keys that were not found. */
    expect_bump(s, &g, false, true);
    ah_token_t t = {0};
    ah_sha256_hex("aht_gen", 7, t.token_hash);
    ah_strlcpy(t.key_id, k.id, sizeof t.key_id);
    ah_strlcpy(t.community_id, c.id, sizeof t.community_id);
    ah_strlcpy(t.label, "crm", sizeof t.label);
    t.created_at = T0;
    t.expires_at = T0 + 10;
    assert_int_equal(ah_store_token_create(s, &t), AH_OK);
    expect_bump(s, &g, false, false);

    ah_webhook_t w, twin, out;
    fill_webhook(&w, c.id, "trigger.airmeet.created", "https://example.com/g", NULL, NULL, T0);
    register_new(s, &w);
    expect_bump(s, &g, true, false);
    /* An idempotent repeat changes nothing. */
    bool existed = false;
    fill_webhook(&twin, c.id, "trigger.airmeet.created", "https://example.com/g", NULL, NULL, T0);
    assert_int_equal(ah_store_webhook_register(s, &twin, &out, &existed), AH_OK);
    assert_true(existed);
    expect_bump(s, &g, false, false);

    /* Delivery bookkeeping: failing_since set and cleared, attempts recorded. */
    deliver_once(s, &c, w.id, T0 + 100, AH_OUTCOME_RETRY, NULL);
    ah_webhook_t got;
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_int_equal(got.failing_since, T0 + 100);
    expect_bump(s, &g, false, false);
    deliver_once(s, &c, w.id, T0 + 200, AH_OUTCOME_SUCCEEDED, NULL);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_int_equal(got.failing_since, 0);
    expect_bump(s, &g, false, false);
    /* The dispatcher disabling a webhook (410 Gone) is a listed change. */
    deliver_once(s, &c, w.id, T0 + 300, AH_OUTCOME_FAILED, "410 Gone");
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_false(got.is_active);
    expect_bump(s, &g, true, false);

    assert_int_equal(ah_store_webhook_set_active(s, w.id, true, NULL, T0 + 400), AH_OK);
    expect_bump(s, &g, true, false);
    assert_int_equal(ah_store_webhook_set_active(s, w.id, false, "operator", T0 + 500), AH_OK);
    expect_bump(s, &g, true, false);
    assert_int_equal(ah_store_webhook_set_active(s, w.id, true, NULL, T0 + 600), AH_OK);
    expect_bump(s, &g, true, false);
    /* Rotating moves updatedAt, which the list shows. */
    assert_int_equal(ah_store_webhook_rotate_secret(s, w.id, "whsec_bmV3bmV3bmV3bmV3bmV3bmV3",
                                                    T0 + 800, T0 + 700),
                     AH_OK);
    expect_bump(s, &g, true, false);
    assert_int_equal(ah_store_webhook_deregister(s, w.id, "crm", T0 + 900), AH_OK);
    expect_bump(s, &g, true, false);
    /* Failing calls change nothing. */
    assert_int_equal(ah_store_webhook_deregister(s, w.id, "crm", T0 + 901), AH_ENOTFOUND);
    expect_bump(s, &g, false, false);

    /* Revoking a key, and purging tokens that exist. */
    assert_int_equal(ah_store_token_purge(s, T0, NULL), AH_OK);
    expect_bump(s, &g, false, false);
    assert_int_equal(ah_store_access_key_revoke(s, k.id, T0 + 1000), AH_OK);
    expect_bump(s, &g, false, true);
    assert_int_equal(ah_store_token_purge(s, T0 + 11, NULL), AH_OK);
    expect_bump(s, &g, false, true);
}

/* ------------------------------------------------------------------------ */
/* File databases: reopen, migrations, delivery tables.                      */

/*
 * On a file, cache_gen skips its read while the WAL-index header shows no
 * new commit; a commit by anyone else (here a side connection, as another
 * process would) must still show in the very next call.
 */
static void test_cache_gen_sees_other_writers(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    ah_cache_gen_t g0, g;
    assert_int_equal(ah_store_cache_gen(s, &g0), AH_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ah_store_cache_gen(s, &g), AH_OK);
        assert_memory_equal(&g, &g0, sizeof g);
    }
    for (int i = 1; i <= 20; i++) {
        side_exec(t->path, "UPDATE cache_generations SET auth = auth + 1, webhooks = webhooks + 2");
        assert_int_equal(ah_store_cache_gen(s, &g), AH_OK);
        assert_int_equal(g.auth, g0.auth + i);
        assert_int_equal(g.webhooks, g0.webhooks + 2 * i);
        /* An unrelated commit changes the header, not the generations. */
        side_exec(t->path, "INSERT OR REPLACE INTO settings (key, value) VALUES ('k', 'v')");
        assert_int_equal(ah_store_cache_gen(s, &g), AH_OK);
        assert_int_equal(g.auth, g0.auth + i);
    }
    /* A second store on the same file, and a revocation through it. */
    ah_store_t *other = open_file(t);
    ah_community_t c;
    new_community(other, &c, "Other", T0);
    ah_access_key_t k;
    fill_key(&k, c.id, "crm", T0);
    assert_int_equal(ah_store_access_key_create(other, &k), AH_OK);
    assert_int_equal(ah_store_cache_gen(s, &g0), AH_OK);
    assert_int_equal(ah_store_access_key_revoke(other, k.id, T0 + 1), AH_OK);
    assert_int_equal(ah_store_cache_gen(s, &g), AH_OK);
    assert_true(g.auth > g0.auth);
    ah_store_close(other);
    ah_store_close(s);
}

/*
 * The background checkpointer copies the WAL into the database file while
 * the store is open (it once ran on a connection that had never read the
 * file, which made every checkpoint a silent no-op).  Waits for the copy
 * for up to 20 s; it comes within CHECKPOINT_EVERY_MS.
 */
static void test_background_checkpoint(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    ah_community_t c;
    new_community(s, &c, "Checkpointed", T0);
    char url[64];
    for (int i = 0; i < 300; i++) {
        ah_webhook_t *w = malloc(sizeof *w);
        assert_non_null(w);
        snprintf(url, sizeof url, "https://example.com/ckpt/%d", i);
        fill_webhook(w, c.id, "trigger.airmeet.created", url, NULL, NULL, T0);
        register_new(s, w);
        free(w);
    }
    struct stat st = {0};
    for (int i = 0; i < 2000 && st.st_size < 128 * 1024; i++) {
        assert_int_equal(stat(t->path, &st), 0);
        if (st.st_size < 128 * 1024)
            usleep(10 * 1000);
    }
    assert_true(st.st_size >= 128 * 1024);
    ah_store_close(s);
}

/* A -wal file's checkpoint sequence number (its header's bytes 12-15), which a restart bumps. */
static uint32_t wal_sequence(const char *wal_path)
{
    FILE *f = fopen(wal_path, "rb");
    assert_non_null(f);
    unsigned char h[16];
    assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    return (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15];
}

/* airhook_store_stalls_total from this process's metrics: the RESTART checkpoints so far. */
static unsigned long long restarts_so_far(void)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(ah_metrics_render(&text, &len, NULL), AH_OK);
    const char *at = strstr(text, "\nairhook_store_stalls_total ");
    assert_non_null(at);
    unsigned long long n = strtoull(at + strlen("\nairhook_store_stalls_total "), NULL, 10);
    free(text);
    return n;
}

/*
 * Under a steady stream of commits the WAL still starts over, so that it
 * does not grow without end: once it holds 64 MiB the checkpointer syncs the
 * files, runs a RESTART checkpoint with the writers held (counted as a stall
 * in /metrics), and the next commit writes from the WAL's beginning, which
 * bumps the sequence number in its header.  Writes 64 MiB of events, then
 * one small event at a time until the restart comes (20 s at most).
 */
static void test_wal_starts_over(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    ah_community_t c;
    new_community(s, &c, "Logged", T0);
    size_t big = 256 * 1024;
    char *data = malloc(big + 1);
    assert_non_null(data);
    memset(data, 'x', big);
    data[0] = '"';
    data[big - 1] = '"';
    data[big] = '\0'; /* a JSON string of 256 KiB: 64 pages */
    ah_event_t ev = {0};
    ah_strlcpy(ev.community_id, c.id, sizeof ev.community_id);
    ah_strlcpy(ev.trigger, "trigger.airmeet.created", sizeof ev.trigger);
    ev.data = data;
    ev.created_at = T0;
    uint32_t seq0 = 0;
    unsigned long long restarts0 = restarts_so_far();
    char wal[128];
    snprintf(wal, sizeof wal, "%s-wal", t->path);
    struct stat st = {0};
    for (int i = 0; i < 4096 && st.st_size < 65 << 20; i++) {
        ah_uuid_v4(ev.id);
        ev.data_len = big;
        ah_publish_result_t res;
        assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
        free(res.webhook_ids);
        assert_int_equal(stat(wal, &st), 0);
        if (i == 0)
            seq0 = wal_sequence(wal);
    }
    assert_true(st.st_size >= 65 << 20);
    int64_t deadline = ah_now_ms() + 20000;
    while (restarts_so_far() == restarts0 && ah_now_ms() < deadline) {
        ah_uuid_v4(ev.id);
        ev.data = "{}";
        ev.data_len = 2;
        ah_publish_result_t res;
        assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK);
        free(res.webhook_ids);
        usleep(5 * 1000);
    }
    assert_true(restarts_so_far() > restarts0);
    ah_uuid_v4(ev.id);
    ah_publish_result_t res;
    assert_int_equal(ah_store_event_publish(s, &ev, &res), AH_OK); /* writes from the start */
    free(res.webhook_ids);
    assert_true(wal_sequence(wal) > seq0);
    free(data);
    ah_store_close(s);
}

/*
 * The web console's sessions and portal links: found by hash, a session
 * reads whether its key pair or portal link was revoked, touch and delete,
 * the purge of ended ones; links listed per community and revoked once.
 */
static void test_console_sessions_and_portal_links(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, other;
    new_community(s, &c, "Acme", T0);
    new_community(s, &other, "Other", T0);
    ah_access_key_t k;
    fill_key(&k, c.id, "crm", T0);
    assert_int_equal(ah_store_access_key_create(s, &k), AH_OK);

    ah_portal_link_t l1 = {0}, l2 = {0}, lo = {0}, lgot;
    ah_portal_link_t *links[] = {&l1, &l2, &lo};
    for (size_t i = 0; i < AH_ARRAY_LEN(links); i++) {
        char tok[16];
        snprintf(tok, sizeof tok, "ahp_%zu", i);
        ah_uuid_v4(links[i]->id);
        ah_strlcpy(links[i]->community_id, i == 2 ? other.id : c.id, sizeof links[i]->community_id);
        ah_sha256_hex(tok, strlen(tok), links[i]->token_hash);
        links[i]->read_only = i == 1;
        links[i]->created_at = T0 + (int64_t)i;
        links[i]->expires_at = T0 + 1000;
        assert_int_equal(ah_store_portal_link_create(s, links[i]), AH_OK);
    }
    assert_int_equal(ah_store_portal_link_find(s, l2.token_hash, &lgot), AH_OK);
    assert_string_equal(lgot.id, l2.id);
    assert_true(lgot.read_only);
    assert_int_equal(lgot.expires_at, T0 + 1000);
    assert_int_equal(ah_store_portal_link_get(s, l1.id, &lgot), AH_OK);
    assert_false(lgot.read_only);
    assert_int_equal(ah_store_portal_link_find(s, l1.id, &lgot), AH_ENOTFOUND);
    ah_portal_link_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_portal_link_list(s, c.id, &list, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, l1.id);
    assert_string_equal(list[1].id, l2.id);
    free(list);

    ah_console_session_t op = {0}, byk = {0}, byl = {0}, got;
    ah_console_session_t *ss[] = {&op, &byk, &byl};
    for (size_t i = 0; i < AH_ARRAY_LEN(ss); i++) {
        char id[16];
        snprintf(id, sizeof id, "ahc_%zu", i);
        ah_sha256_hex(id, strlen(id), ss[i]->id_hash);
        ah_strlcpy(ss[i]->role, i ? "integrator" : "operator", sizeof ss[i]->role);
        memset(ss[i]->csrf, 'a' + (int)i, AH_CSRF_SIZE - 1);
        ss[i]->created_at = ss[i]->seen_at = T0;
        ss[i]->expires_at = T0 + 100;
    }
    ah_strlcpy(byk.community_id, c.id, sizeof byk.community_id);
    ah_strlcpy(byk.key_id, k.id, sizeof byk.key_id);
    ah_strlcpy(byl.community_id, c.id, sizeof byl.community_id);
    ah_strlcpy(byl.link_id, l2.id, sizeof byl.link_id);
    byl.read_only = true;
    for (size_t i = 0; i < AH_ARRAY_LEN(ss); i++)
        assert_int_equal(ah_store_console_session_create(s, ss[i]), AH_OK);
    assert_int_equal(ah_store_console_session_create(s, &op), AH_EEXISTS);

    assert_int_equal(ah_store_console_session_find(s, op.id_hash, &got), AH_OK);
    assert_string_equal(got.role, "operator");
    assert_string_equal(got.community_id, "");
    assert_string_equal(got.csrf, op.csrf);
    assert_int_equal(got.revoked_at, 0);
    assert_string_equal(got.key_label, "");
    /* A key pair's session comes with the key's label (the caller's, without a second read). */
    assert_int_equal(ah_store_console_session_find(s, byk.id_hash, &got), AH_OK);
    assert_string_equal(got.key_label, k.label);
    assert_int_equal(ah_store_console_session_find(s, byl.id_hash, &got), AH_OK);
    assert_string_equal(got.link_id, l2.id);
    assert_string_equal(got.key_label, "");
    assert_true(got.read_only);
    assert_int_equal(got.expires_at, T0 + 100);

    /* Revoking the key pair or the link shows on the sessions they opened. */
    assert_int_equal(ah_store_access_key_revoke(s, k.id, T0 + 7), AH_OK);
    assert_int_equal(ah_store_console_session_find(s, byk.id_hash, &got), AH_OK);
    assert_int_equal(got.revoked_at, T0 + 7);
    assert_int_equal(ah_store_portal_link_revoke(s, l2.id, T0 + 8), AH_OK);
    assert_int_equal(ah_store_portal_link_revoke(s, l2.id, T0 + 9), AH_OK); /* kept: T0 + 8 */
    assert_int_equal(ah_store_console_session_find(s, byl.id_hash, &got), AH_OK);
    assert_int_equal(got.revoked_at, T0 + 8);
    assert_int_equal(ah_store_portal_link_revoke(s, c.id, T0), AH_ENOTFOUND);

    assert_int_equal(ah_store_console_session_touch(s, op.id_hash, T0 + 50), AH_OK);
    assert_int_equal(ah_store_console_session_find(s, op.id_hash, &got), AH_OK);
    assert_int_equal(got.seen_at, T0 + 50);
    assert_int_equal(ah_store_console_session_touch(s, c.id, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_console_session_delete(s, byk.id_hash), AH_OK);
    assert_int_equal(ah_store_console_session_find(s, byk.id_hash, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_console_session_delete(s, byk.id_hash), AH_OK);
    /* Unseen since T0 + 10: byl goes, op (seen at T0 + 50) stays. */
    size_t purged = 0;
    assert_int_equal(ah_store_console_session_purge(s, T0 + 60, T0 + 10, &purged), AH_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(ah_store_console_session_find(s, op.id_hash, &got), AH_OK);
    assert_int_equal(ah_store_console_session_purge(s, T0 + 101, 0, &purged), AH_OK);
    assert_int_equal(purged, 1);
    assert_int_equal(ah_store_console_session_find(s, op.id_hash, &got), AH_ENOTFOUND);
}

static void test_reopen_keeps_data(void **state)
{
    const tmpdb_t *t = *state;

    ah_store_t *s = open_file(t);
    ah_community_t c, got;
    new_community(s, &c, "Durable", T0);
    ah_webhook_t w, wgot;
    fill_webhook(&w, c.id, "trigger.airmeet.created", "https://example.com/d", NULL, NULL, T0);
    register_new(s, &w);
    assert_int_equal(ah_store_setting_set(s, "k", "v"), AH_OK);
    ah_store_close(s);

    /* The schema is at the latest version, in WAL mode, with every table. */
    assert_int_equal(side_query_int(t->path, "PRAGMA user_version"), 14);
    assert_int_equal(side_query_int(t->path, "SELECT count(*) FROM pragma_journal_mode"
                                             " WHERE journal_mode = 'wal'"),
                     1);
    assert_int_equal(side_query_int(t->path, "SELECT count(*) FROM sqlite_master WHERE"
                                             " type = 'table' AND name IN ('settings',"
                                             " 'communities', 'access_keys', 'tokens',"
                                             " 'airmeets', 'sessions', 'webhooks', 'events',"
                                             " 'deliveries', 'attempts')"),
                     10);

    /* Reopening migrates nothing and keeps everything. */
    s = open_file(t);
    assert_int_equal(ah_store_community_get(s, c.id, &got), AH_OK);
    assert_string_equal(got.name, "Durable");
    assert_int_equal(ah_store_webhook_get(s, w.id, &wgot), AH_OK);
    assert_string_equal(wgot.url, "https://example.com/d");
    char buf[8];
    assert_int_equal(ah_store_setting_get(s, "k", buf, sizeof buf), AH_OK);
    assert_string_equal(buf, "v");
    /* And idempotency holds across restarts. */
    ah_webhook_t again, out;
    bool existed = false;
    fill_webhook(&again, c.id, "trigger.airmeet.created", "https://example.com/d", NULL, NULL, T0);
    assert_int_equal(ah_store_webhook_register(s, &again, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(out.id, w.id);
    ah_store_close(s);
    assert_int_equal(side_query_int(t->path, "PRAGMA user_version"), 14);

    /* Through the DSN form as well. */
    char dsn[128], err[256] = "";
    snprintf(dsn, sizeof dsn, "sqlite:%s", t->path);
    assert_int_equal(ah_store_open(dsn, &s, err, sizeof err), AH_OK);
    assert_int_equal(ah_store_community_get(s, c.id, &got), AH_OK);
    ah_store_close(s);
}

static void test_newer_schema_refused(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    ah_store_close(s);
    side_exec(t->path, "PRAGMA user_version = 99");

    char err[256] = "";
    s = NULL;
    assert_int_equal(ah_store_sqlite_open(t->path, &s, err, sizeof err), AH_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err, "newer"));
}

static void test_not_a_database(void **state)
{
    const tmpdb_t *t = *state;
    FILE *f = fopen(t->path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, just some text that is long enough.....\n"
          "0123456789012345678901234567890123456789012345678901234567890123456789\n",
          f);
    fclose(f);
    char err[256] = "";
    ah_store_t *s = NULL;
    assert_int_not_equal(ah_store_sqlite_open(t->path, &s, err, sizeof err), AH_OK);
    assert_null(s);
    assert_true(err[0] != '\0');
}

/* Deregistering cancels pending deliveries; `where` reaches s's database from the side. */
static void deregister_cancels(ah_store_t *s, const char *where)
{
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    ah_webhook_t w, keep;
    fill_webhook(&w, c.id, "trigger.airmeet.created", "https://example.com/w", NULL, NULL, T0);
    fill_webhook(&keep, c.id, "trigger.airmeet.created", "https://example.com/k", NULL, NULL, T0);
    register_new(s, &w);
    register_new(s, &keep);

    /* Write the rows from a side connection, as if by another process. */
    char sql[2048];
    snprintf(sql, sizeof sql,
             "%s"
             "INSERT INTO events (id, community_id, trigger, data, created_at)"
             "  VALUES ('e1', '%s', 'trigger.airmeet.created', '{}', 1);"
             "INSERT INTO deliveries (id, event_id, webhook_id, status, created_at, updated_at)"
             "  VALUES ('d1', 'e1', '%s', 'pending', 1, 1),"
             "         ('d2', 'e1', '%s', 'succeeded', 1, 1),"
             "         ('d3', 'e1', '%s', 'failed', 1, 1),"
             "         ('d4', 'e1', '%s', 'pending', 1, 1);",
             tb_pg() ? "" : "PRAGMA foreign_keys = ON;", c.id, w.id, w.id, w.id, keep.id);
    side_exec(where, sql);

    assert_int_equal(ah_store_webhook_deregister(s, w.id, "crm", T0 + 9), AH_OK);
    assert_int_equal(side_query_int(where, "SELECT count(*) FROM deliveries WHERE id = 'd1'"
                                           " AND status = 'cancelled' AND updated_at > 1"),
                     1);
    assert_int_equal(side_query_int(where,
                                    "SELECT count(*) FROM deliveries WHERE id = 'd2' AND status ="
                                    " 'succeeded'"),
                     1);
    assert_int_equal(side_query_int(where,
                                    "SELECT count(*) FROM deliveries WHERE id = 'd3' AND status ="
                                    " 'failed'"),
                     1);
    /* Another webhook's pending delivery is untouched. */
    assert_int_equal(side_query_int(where,
                                    "SELECT count(*) FROM deliveries WHERE id = 'd4' AND status ="
                                    " 'pending'"),
                     1);
}

static void test_deregister_cancels_pending_deliveries(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    deregister_cancels(s, t->path);
    ah_store_close(s);
}

static void test_deregister_cancels_pending_deliveries_fresh(void **state)
{
    ah_store_t *s = *state;
    deregister_cancels(s, tb_dsn_of(s));
}

/* ------------------------------------------------------------------------ */
/* Concurrency.                                                              */

#define N_THREADS 16 /* more than the pool, so some wait for a connection */
#define N_ROUNDS 20  /* one contested tuple per round */

typedef struct reg_result {
    char id[AH_ID_SIZE];     /* the id this thread offered */
    char out_id[AH_ID_SIZE]; /* the id the store answered */
    bool existed;
    int rc;
} reg_result_t;

typedef struct reg_job {
    ah_store_t *s;
    pthread_barrier_t *start;
    const char *community_id;
    const char *airmeet_id;
    reg_result_t results[N_ROUNDS];
} reg_job_t;

/* Each round, every thread registers the same tuple at the same moment. */
static void *register_thread(void *arg)
{
    reg_job_t *j = arg;
    ah_webhook_t *w = malloc(sizeof *w), *out = malloc(sizeof *out);
    for (int r = 0; r < N_ROUNDS; r++) {
        reg_result_t *res = &j->results[r];
        pthread_barrier_wait(j->start);
        if (!w || !out) {
            res->rc = AH_ENOMEM;
            continue;
        }
        char url[64];
        snprintf(url, sizeof url, "https://example.com/race/%d", r);
        fill_webhook(w, j->community_id, "trigger.airmeet.registrant.added", url, j->airmeet_id,
                     NULL, T0 + r);
        ah_strlcpy(res->id, w->id, sizeof res->id);
        res->rc = ah_store_webhook_register(j->s, w, out, &res->existed);
        ah_strlcpy(res->out_id, out->id, sizeof res->out_id);
    }
    free(w);
    free(out);
    return NULL;
}

static void concurrent_register(ah_store_t *s)
{
    ah_community_t c;
    new_community(s, &c, "Race", T0);
    ah_airmeet_t a;
    new_airmeet(s, &a, c.id, T0);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_THREADS);
    reg_job_t *jobs = calloc(N_THREADS, sizeof *jobs);
    assert_non_null(jobs);
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i] = (reg_job_t){.s = s, .start = &start, .community_id = c.id, .airmeet_id = a.id};
        assert_int_equal(pthread_create(&th[i], NULL, register_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);

    for (int r = 0; r < N_ROUNDS; r++) {
        int inserted = -1, n_inserted = 0;
        for (int i = 0; i < N_THREADS; i++) {
            assert_int_equal(jobs[i].results[r].rc, AH_OK);
            if (!jobs[i].results[r].existed) {
                inserted = i;
                n_inserted++;
            }
        }
        assert_int_equal(n_inserted, 1);
        const char *winner = jobs[inserted].results[r].id;
        for (int i = 0; i < N_THREADS; i++)
            assert_string_equal(jobs[i].results[r].out_id, winner);
    }

    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, N_ROUNDS);
    free(list);
    free(jobs);
}

static void test_concurrent_register_memory(void **state)
{
    concurrent_register(*state);
}

static void test_concurrent_register_file(void **state)
{
    const tmpdb_t *t = *state;
    ah_store_t *s = open_file(t);
    concurrent_register(s);
    ah_store_close(s);
}

#define MIX_PER_THREAD 25

typedef struct mix_job {
    ah_store_t *s;
    const char *community_id;
    int index;
    int failures;
} mix_job_t;

/* Distinct registrations, interleaved with reads, from many threads at once. */
static void *mixed_thread(void *arg)
{
    mix_job_t *j = arg;
    ah_store_t *s = j->s;
    ah_webhook_t *w = malloc(sizeof *w), *got = malloc(sizeof *got);
    if (!w || !got) {
        j->failures++;
        goto out;
    }
    for (int k = 0; k < MIX_PER_THREAD; k++) {
        char url[128];
        snprintf(url, sizeof url, "https://example.com/t%d/%d", j->index, k);
        fill_webhook(w, j->community_id, "trigger.airmeet.created", url, NULL, NULL, T0 + k);
        bool existed = true;
        if (ah_store_webhook_register(s, w, got, &existed) != AH_OK || existed)
            j->failures++;
        if (ah_store_webhook_get(s, w->id, got) != AH_OK || strcmp(got->url, url) != 0)
            j->failures++;
        ah_webhook_t *list = NULL;
        size_t n = 0;
        if (ah_store_webhook_list_active(s, j->community_id, NULL, NULL, &list, &n) != AH_OK ||
            n == 0)
            j->failures++;
        free(list);
        if (k % 5 == 4 && ah_store_webhook_deregister(s, w->id, "t", T0 + k) != AH_OK)
            j->failures++;
    }
out:
    free(w);
    free(got);
    return NULL;
}

static void test_concurrent_mixed(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Busy", T0);
    pthread_t th[N_THREADS];
    mix_job_t jobs[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        jobs[i] = (mix_job_t){.s = s, .community_id = c.id, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, mixed_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(jobs[i].failures, 0);

    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, N_THREADS * (MIX_PER_THREAD - MIX_PER_THREAD / 5));
    free(list);
}

/* ------------------------------------------------------------------------ */
/* Hostile text.                                                             */

static void test_sql_text_roundtrips(void **state)
{
    ah_store_t *s = *state;
    static const char *const names[] = {
        "Robert'); DROP TABLE communities; --",
        "\"double\" 'single' `back`; ;; -- /* comment */",
        "x' OR '1'='1",
        "percent %s %n %d and backslash \\ and unicode \xc3\xa9\xe2\x9c\x93",
    };
    ah_community_t c[AH_ARRAY_LEN(names)], got;
    for (size_t i = 0; i < AH_ARRAY_LEN(names); i++)
        new_community(s, &c[i], names[i], T0 + (int64_t)i);
    for (size_t i = 0; i < AH_ARRAY_LEN(names); i++) {
        assert_int_equal(ah_store_community_get(s, c[i].id, &got), AH_OK);
        assert_string_equal(got.name, names[i]);
    }
    ah_community_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_community_list(s, &list, &n), AH_OK);
    assert_int_equal(n, AH_ARRAY_LEN(names));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(list[i].name, names[i]);
    free(list);

    /* A hostile lookup key matches nothing instead of everything. */
    assert_int_equal(ah_store_community_get(s, "x' OR '1'='1", &got), AH_ENOTFOUND);
    /* Nor does one that is not UTF-8 (a raw header, say): not found, not an error. */
    ah_access_key_t key;
    assert_int_equal(ah_store_access_key_find(s, "\xff\xfe'k", &key), AH_ENOTFOUND);
    ah_token_t tok;
    assert_int_equal(ah_store_token_find(s, "\xc3(", &tok), AH_ENOTFOUND);
    char buf[64];
    assert_int_equal(ah_store_setting_get(s, "' OR 1=1 --", buf, sizeof buf), AH_ENOTFOUND);
    assert_int_equal(ah_store_setting_set(s, "k'; DELETE FROM settings; --", "v';--"), AH_OK);
    assert_int_equal(ah_store_setting_get(s, "k'; DELETE FROM settings; --", buf, sizeof buf),
                     AH_OK);
    assert_string_equal(buf, "v';--");

    /* Webhook text fields, and the tuple lookup, with the same text. */
    ah_webhook_t w, out;
    fill_webhook(&w, c[0].id, "trigger.airmeet.created", "https://e.com/?q=';DROP TABLE x;--", NULL,
                 NULL, T0);
    ah_strlcpy(w.name, names[0], sizeof w.name);
    ah_strlcpy(w.description, names[1], sizeof w.description);
    w.has_description = true;
    register_new(s, &w);
    assert_int_equal(ah_store_webhook_get(s, w.id, &out), AH_OK);
    assert_string_equal(out.name, names[0]);
    assert_string_equal(out.description, names[1]);
    assert_string_equal(out.url, "https://e.com/?q=';DROP TABLE x;--");
    ah_webhook_t w2;
    fill_webhook(&w2, c[0].id, "trigger.airmeet.created", "https://e.com/?q=';DROP TABLE x;--",
                 NULL, NULL, T0);
    bool existed = false;
    assert_int_equal(ah_store_webhook_register(s, &w2, &out, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(out.id, w.id);
}

/* Fields at their caps come back whole. */
static void test_long_fields(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, got;
    memset(&c, 0, sizeof c);
    ah_uuid_v4(c.id);
    memset(c.name, 'n', sizeof c.name - 1);
    c.created_at = T0;
    assert_int_equal(ah_store_community_create(s, &c), AH_OK);
    assert_int_equal(ah_store_community_get(s, c.id, &got), AH_OK);
    assert_int_equal(strlen(got.name), sizeof got.name - 1);
    assert_memory_equal(got.name, c.name, sizeof c.name);

    ah_webhook_t w, out;
    char url[AH_URL_MAX];
    memset(url, 'u', sizeof url - 1);
    memcpy(url, "https://", 8);
    url[sizeof url - 1] = '\0';
    fill_webhook(&w, c.id, "trigger.airmeet.created", url, NULL, NULL, T0);
    memset(w.description, 'd', sizeof w.description - 1);
    w.has_description = true;
    register_new(s, &w);
    assert_int_equal(ah_store_webhook_get(s, w.id, &out), AH_OK);
    assert_string_equal(out.url, url);
    assert_int_equal(strlen(out.description), sizeof out.description - 1);
}

/*
 * What the store layer checks before any backend runs, the same on both:
 * missing arguments, record fields not terminated within their arrays, and
 * the limits of store.h.  Nothing of a refused call is written.
 */
static void publish_done(void *arg, int rc)
{
    *(int *)arg = rc;
}

static void test_layer_validation(void **state)
{
    ah_store_t *s = *state;
    char buf[64];
    assert_int_equal(ah_store_setting_get(s, NULL, buf, sizeof buf), AH_EINVAL);
    assert_int_equal(ah_store_setting_get(s, "k", NULL, sizeof buf), AH_EINVAL);
    assert_int_equal(ah_store_setting_get(s, "k", buf, 0), AH_EINVAL);
    assert_int_equal(ah_store_setting_set(s, "k", NULL), AH_EINVAL);
    assert_int_equal(ah_store_setting_add(s, NULL, "v"), AH_EINVAL);
    assert_int_equal(ah_store_setting_get(s, "k", buf, sizeof buf), AH_ENOTFOUND);

    /* A field filled to the end of its array, without its NUL, is refused, not cut. */
    ah_community_t c, got;
    memset(&c, 0, sizeof c);
    ah_uuid_v4(c.id);
    memset(c.name, 'n', sizeof c.name);
    c.created_at = T0;
    assert_int_equal(ah_store_community_create(s, &c), AH_EINVAL);
    assert_int_equal(ah_store_community_get(s, c.id, &got), AH_ENOTFOUND);
    c.name[sizeof c.name - 1] = '\0';
    assert_int_equal(ah_store_community_create(s, &c), AH_OK);

    ah_webhook_t w, out;
    fill_webhook(&w, c.id, "trigger.airmeet.created", "https://e.com/h", NULL, NULL, T0);
    memset(w.url, 'u', sizeof w.url);
    assert_int_equal(ah_store_webhook_register(s, &w, &out, NULL), AH_EINVAL);
    assert_int_equal(ah_store_webhook_get(s, w.id, &out), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_register(s, NULL, &out, NULL), AH_EINVAL);
    assert_int_equal(ah_store_webhook_register(s, &w, NULL, NULL), AH_EINVAL);

    ah_token_t t;
    memset(&t, 'x', sizeof t);
    assert_int_equal(ah_store_token_create(s, &t), AH_EINVAL);
    assert_int_equal(ah_store_community_create(s, NULL), AH_EINVAL);
    assert_int_equal(ah_store_access_key_create(s, NULL), AH_EINVAL);
    assert_int_equal(ah_store_token_create(s, NULL), AH_EINVAL);
    assert_int_equal(ah_store_airmeet_create(s, NULL), AH_EINVAL);
    assert_int_equal(ah_store_session_create(s, NULL), AH_EINVAL);

    /* A NULL key finds nothing; so does a list by a NULL community. */
    ah_access_key_t k;
    assert_int_equal(ah_store_community_get(s, NULL, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_access_key_find(s, NULL, &k), AH_ENOTFOUND);
    assert_int_equal(ah_store_token_find(s, NULL, &t), AH_ENOTFOUND);
    assert_int_equal(ah_store_webhook_get(s, NULL, &out), AH_ENOTFOUND);
    ah_access_key_t *keys = (ah_access_key_t *)buf;
    size_t n = 7;
    assert_int_equal(ah_store_access_key_list(s, NULL, &keys, &n), AH_OK);
    assert_null(keys);
    assert_int_equal(n, 0);

    /* Events, deliveries and claims. */
    ah_publish_result_t res;
    ah_event_t ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(ah_store_event_publish(s, NULL, &res), AH_EINVAL);
    assert_int_equal(ah_store_event_publish(s, &ev, NULL), AH_EINVAL);
    int done_rc = 1;
    ah_store_event_publish_async(s, NULL, &res, publish_done, &done_rc);
    assert_int_equal(done_rc, AH_EINVAL);
    assert_int_equal(ah_store_event_get(s, c.id, NULL), AH_EINVAL);
    assert_int_equal(ah_store_delivery_get(s, c.id, NULL, NULL, NULL), AH_EINVAL);
    assert_int_equal(ah_store_delivery_record(s, NULL, 0), AH_OK);
    assert_int_equal(ah_store_delivery_record(s, NULL, 1), AH_EINVAL);
    assert_int_equal(ah_store_delivery_release(s, NULL, 0), AH_OK);
    assert_int_equal(ah_store_delivery_release(s, NULL, 1), AH_EINVAL);
    ah_claim_t *claims = (ah_claim_t *)buf;
    int64_t next_due = 5;
    assert_int_equal(ah_store_delivery_claim(s, NULL, T0, T0 + 1000, 10, &claims, &n, &next_due),
                     AH_ENOTFOUND);
    assert_null(claims);
    assert_int_equal(next_due, 0);
    assert_int_equal(ah_store_delivery_claim(s, "0123456789012345678901234567890123456789", T0,
                                             T0 + 1000, 10, &claims, &n, NULL),
                     AH_ENOTFOUND);
    assert_int_equal(ah_store_delivery_claim_many(s, NULL, 0, T0, T0 + 1000), AH_OK);
    assert_int_equal(ah_store_delivery_claim_many(s, NULL, 1, T0, T0 + 1000), AH_EINVAL);
    ah_delivery_filter_t f = {.webhook_id = c.id, .status = -1, .limit = AH_DELIVERY_PAGE_MAX};
    ah_delivery_t *list = NULL;
    char next[AH_CURSOR_SIZE];
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_OK);
    free(list);
    f.limit = AH_DELIVERY_PAGE_MAX + 1;
    assert_int_equal(ah_store_delivery_list(s, &f, &list, &n, next), AH_EINVAL);
    assert_int_equal(ah_store_delivery_list(s, NULL, &list, &n, next), AH_EINVAL);
}

/* Every backend. */
/*
 * The operator's pages: communities oldest first from a cursor, every
 * webhook in any state with its filters, a bad cursor or limit refused.
 */
static void test_operator_pages(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c[3];
    for (int i = 0; i < 3; i++)
        new_community(s, &c[i], "Paged", T0 + 1000 + i);
    /* Walk every page of two: ours come in order of creation, once each. */
    char cursor[AH_CURSOR_SIZE] = "";
    int seen = 0, pages = 0;
    do {
        ah_community_t *list = NULL;
        size_t n = 0;
        assert_int_equal(ah_store_community_page(s, cursor, 2, &list, &n, cursor), AH_OK);
        assert_true(n <= 2);
        for (size_t i = 0; i < n; i++)
            if (seen < 3 && strcmp(list[i].id, c[seen].id) == 0)
                seen++;
        free(list);
        pages++;
    } while (cursor[0] && pages < 1000);
    assert_int_equal(seen, 3);
    ah_community_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_community_page(s, NULL, 0, &list, &n, NULL), AH_EINVAL);
    assert_int_equal(ah_store_community_page(s, NULL, AH_LIST_PAGE_MAX + 1, &list, &n, NULL),
                     AH_EINVAL);
    assert_int_equal(ah_store_community_page(s, "nope", 2, &list, &n, NULL), AH_EINVAL);

    /* Webhooks of c[0]: active, disabled, deregistered; one of c[1]. */
    ah_webhook_t w[4];
    fill_webhook(&w[0], c[0].id, "trigger.a", "https://one.example/hook", NULL, NULL, T0 + 1);
    fill_webhook(&w[1], c[0].id, "trigger.b", "https://two.example/hook", NULL, NULL, T0 + 2);
    fill_webhook(&w[2], c[0].id, "trigger.a", "https://three.example/x", NULL, NULL, T0 + 3);
    fill_webhook(&w[3], c[1].id, "trigger.a", "https://one.example/hook", NULL, NULL, T0 + 4);
    for (int i = 0; i < 4; i++)
        register_new(s, &w[i]);
    assert_int_equal(ah_store_webhook_set_active(s, w[1].id, false, "by hand", T0 + 5), AH_OK);
    assert_int_equal(ah_store_webhook_deregister(s, w[2].id, "test", T0 + 6), AH_OK);

    ah_webhook_filter_t f = {.community_id = c[0].id, .state = AH_WEBHOOK_ANY, .limit = 2};
    ah_webhook_t *wl = NULL;
    char next[AH_CURSOR_SIZE];
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, next), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(wl[0].id, w[0].id);
    assert_string_equal(wl[1].id, w[1].id);
    assert_string_equal(wl[0].secret, ""); /* lists never open secrets */
    assert_true(next[0] != '\0');
    free(wl);
    f.cursor = next;
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, next), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(wl[0].id, w[2].id);
    assert_string_equal(next, "");
    free(wl);

    f = (ah_webhook_filter_t){.community_id = c[0].id, .state = AH_WEBHOOK_DISABLED, .limit = 10};
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(wl[0].id, w[1].id);
    free(wl);
    f.state = AH_WEBHOOK_DEREGISTERED;
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(wl[0].id, w[2].id);
    free(wl);
    f.state = AH_WEBHOOK_ACTIVE;
    f.trigger = "trigger.a";
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(wl[0].id, w[0].id);
    free(wl);

    /* Across communities, by a piece of the URL (literally: no wildcards). */
    f = (ah_webhook_filter_t){.state = AH_WEBHOOK_ANY, .url_part = "one.example", .limit = 500};
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_OK);
    int mine = 0;
    for (size_t i = 0; i < n; i++)
        mine += !strcmp(wl[i].id, w[0].id) || !strcmp(wl[i].id, w[3].id);
    assert_int_equal(mine, 2);
    free(wl);
    f.url_part = "one%example";
    f.community_id = c[0].id;
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_OK);
    assert_int_equal(n, 0);
    free(wl);

    f.state = 3;
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_EINVAL);
    f.state = AH_WEBHOOK_ANY;
    f.cursor = "12_not-a-uuid";
    assert_int_equal(ah_store_webhook_page(s, &f, &wl, &n, NULL), AH_EINVAL);
    assert_int_equal(ah_store_webhook_page(s, NULL, &wl, &n, NULL), AH_EINVAL);
    assert_string_equal(ah_webhook_state_name(AH_WEBHOOK_DISABLED), "disabled");
    assert_null(ah_webhook_state_name(AH_WEBHOOK_ANY));
    assert_int_equal(ah_webhook_state_parse("deregistered"), AH_WEBHOOK_DEREGISTERED);
    assert_int_equal(ah_webhook_state_parse("Active"), -1);
}

/* Pages of a parent's children: key pairs, airmeets, sessions, each by creation. */
static void test_child_pages(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Parent", T0);
    ah_access_key_t k[3];
    ah_airmeet_t a[3];
    ah_session_t ss[3];
    for (int i = 0; i < 3; i++) {
        fill_key(&k[i], c.id, "key", T0 + 3 - i); /* created in reverse order of time */
        assert_int_equal(ah_store_access_key_create(s, &k[i]), AH_OK);
        new_airmeet(s, &a[i], c.id, T0 + i);
    }
    for (int i = 0; i < 3; i++)
        new_session(s, &ss[i], &a[0], T0 + 10 + i);

    char next[AH_CURSOR_SIZE];
    ah_access_key_t *kl = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_access_key_page(s, c.id, NULL, 2, &kl, &n, next), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(kl[0].id, k[2].id);
    assert_string_equal(kl[1].id, k[1].id);
    free(kl);
    assert_int_equal(ah_store_access_key_page(s, c.id, next, 2, &kl, &n, next), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(kl[0].id, k[0].id);
    assert_string_equal(next, "");
    free(kl);

    ah_airmeet_t *al = NULL;
    assert_int_equal(ah_store_airmeet_page_from(s, c.id, NULL, 3, &al, &n, next), AH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(al[0].id, a[0].id);
    assert_string_equal(al[2].id, a[2].id);
    assert_string_equal(next, "");
    free(al);

    ah_session_t *sl = NULL;
    assert_int_equal(ah_store_session_page(s, a[0].id, NULL, 1, &sl, &n, next), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(sl[0].id, ss[0].id);
    free(sl);
    assert_int_equal(ah_store_session_page(s, a[0].id, next, 5, &sl, &n, next), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(sl[1].id, ss[2].id);
    free(sl);
    assert_int_equal(ah_store_session_page(s, a[1].id, NULL, 5, &sl, &n, NULL), AH_OK);
    assert_int_equal(n, 0);
    free(sl);
    assert_int_equal(ah_store_session_page(s, NULL, NULL, 5, &sl, &n, NULL), AH_OK);
    assert_int_equal(n, 0);
    free(sl);
    assert_int_equal(ah_store_session_page(s, a[0].id, NULL, 0, &sl, &n, NULL), AH_EINVAL);
    assert_int_equal(ah_store_airmeet_page_from(s, c.id, "1_2", 5, &al, &n, NULL), AH_EINVAL);
    assert_int_equal(ah_store_access_key_page(s, c.id, NULL, AH_LIST_PAGE_MAX + 1, &kl, &n, NULL),
                     AH_EINVAL);
}

/* `airhook listen`'s rows (store_listener.c): one secret per key, listeners and their life. */
static void test_listeners(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c, "Acme", T0);
    char key[AH_ID_SIZE], key2[AH_ID_SIZE], got[AH_SECRET_MAX];
    ah_uuid_v4(key);
    ah_uuid_v4(key2);
    /* Made at first use, the same afterwards: a later "fresh" one is not taken. */
    assert_int_equal(ah_store_listener_secret(s, key, "whsec_first", T0, got), AH_OK);
    assert_string_equal(got, "whsec_first");
    assert_int_equal(ah_store_listener_secret(s, key, "whsec_second", T0 + 1, got), AH_OK);
    assert_string_equal(got, "whsec_first");
    assert_int_equal(ah_store_listener_secret(s, key2, "whsec_other", T0, got), AH_OK);
    assert_string_equal(got, "whsec_other");
    assert_int_equal(ah_store_listener_secret(s, key, "not-a-secret", T0, got), AH_EINVAL);
    assert_int_equal(ah_store_listener_secret(s, "nope", "whsec_x", T0, got), AH_EINVAL);

    ah_listener_t a = {0}, b = {0}, out;
    ah_uuid_v4(a.id);
    memcpy(a.community_id, c.id, sizeof a.community_id);
    memcpy(a.key_id, key, sizeof a.key_id);
    ah_strlcpy(a.name, "laptop", sizeof a.name);
    a.created_at = a.last_seen_at = T0;
    b = a;
    ah_uuid_v4(b.id);
    b.created_at = b.last_seen_at = T0 + 10;
    assert_int_equal(ah_store_listener_create(s, &b), AH_OK);
    assert_int_equal(ah_store_listener_create(s, &a), AH_OK);
    assert_int_equal(ah_store_listener_create(s, &a), AH_EEXISTS);
    assert_int_equal(ah_store_listener_get(s, a.id, &out), AH_OK);
    assert_string_equal(out.community_id, c.id);
    assert_string_equal(out.key_id, key);
    assert_string_equal(out.name, "laptop");
    assert_int_equal(out.last_seen_at, T0);
    assert_int_equal(ah_store_listener_touch(s, a.id, T0 + 99), AH_OK);
    assert_int_equal(ah_store_listener_get(s, a.id, &out), AH_OK);
    assert_int_equal(out.last_seen_at, T0 + 99);
    ah_listener_t *all = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_listener_list(s, &all, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].id, a.id); /* oldest first */
    assert_string_equal(all[1].id, b.id);
    free(all);
    assert_int_equal(ah_store_listener_delete(s, a.id), AH_OK);
    assert_int_equal(ah_store_listener_delete(s, a.id), AH_ENOTFOUND);
    assert_int_equal(ah_store_listener_get(s, a.id, &out), AH_ENOTFOUND);
    assert_int_equal(ah_store_listener_touch(s, a.id, T0), AH_ENOTFOUND);
    assert_int_equal(ah_store_listener_get(s, "not-an-id", &out), AH_ENOTFOUND);
}

static const struct CMUnitTest common_tests[] = {
    cmocka_unit_test_setup_teardown(test_open_and_ping, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_settings, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_communities, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_access_keys, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_tokens, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_airmeets_sessions, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_webhook_roundtrip, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_webhook_register_idempotent, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_webhook_list_active_filters, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_webhook_deregister, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_webhook_set_active, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_operator_pages, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_child_pages, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_console_sessions_and_portal_links, open_memory,
                                    close_store),
    cmocka_unit_test_setup_teardown(test_cache_generations, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_concurrent_register_memory, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_concurrent_mixed, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_sql_text_roundtrips, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_long_fields, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_layer_validation, open_memory, close_store),
    cmocka_unit_test_setup_teardown(test_listeners, open_memory, close_store),
};

/* SQLite files: reopening, migrations, the journal mode. */
static const struct CMUnitTest sqlite_tests[] = {
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test_setup_teardown(test_reopen_keeps_data, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_background_checkpoint, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_wal_starts_over, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_cache_gen_sees_other_writers, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_newer_schema_refused, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_not_a_database, tmpdb_setup, tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_deregister_cancels_pending_deliveries, tmpdb_setup,
                                    tmpdb_teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_register_file, tmpdb_setup, tmpdb_teardown),
};

/* PostgreSQL: the same checks through a side connection to the test database. */
static const struct CMUnitTest pg_tests[] = {
    cmocka_unit_test_setup_teardown(test_deregister_cancels_pending_deliveries_fresh, open_memory,
                                    close_store),
};

int main(void)
{
    if (tb_check())
        return 1;
    int failed = cmocka_run_group_tests_name(tb_name(), common_tests, NULL, NULL);
    if (tb_pg())
        failed += cmocka_run_group_tests_name("postgres only", pg_tests, NULL, NULL);
    else
        failed += cmocka_run_group_tests_name("sqlite files", sqlite_tests, NULL, NULL);
    return failed;
}
