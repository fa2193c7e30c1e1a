/* SPDX-License-Identifier: MIT */
/*
 * store_backend.h: which store the store unit tests run against.
 *
 * AH_TEST_STORE=sqlite (the default) opens private ":memory:" databases;
 * AH_TEST_STORE=postgres opens PostgreSQL databases on the server named by
 * AH_TEST_PG_DSN (a URI such as postgres://postgres@127.0.0.1:5432/postgres,
 * as printed by scripts/pg-test.sh).  Each fresh PostgreSQL store gets a
 * database of its own (CREATE DATABASE ah_t_<random> over a maintenance
 * connection to the server DSN), dropped again by tb_close().  The same
 * tests then run unchanged on both backends; tests that are about SQLite
 * itself (files, query plans) stay SQLite-only.
 *
 * Everything here is static inline so that each test file may use any part.
 */
#ifndef AH_TEST_STORE_BACKEND_H
#define AH_TEST_STORE_BACKEND_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crypto.h"
#include "store/backend.h"

/*
 * SQL that takes an SQLite file back from migration 14 (the first attempt
 * in the delivery's row), for tests that make a file an older airhook left.
 */
#define TB_SQLITE_UNDO_MIGRATION_14                                                                \
    "ALTER TABLE deliveries DROP COLUMN recorded;"                                                 \
    "ALTER TABLE deliveries DROP COLUMN first_attempt_no;"                                         \
    "ALTER TABLE deliveries DROP COLUMN first_started_at;"                                         \
    "ALTER TABLE deliveries DROP COLUMN first_duration_ms;"                                        \
    "ALTER TABLE deliveries DROP COLUMN first_status_code;"                                        \
    "ALTER TABLE deliveries DROP COLUMN first_error;"                                              \
    "ALTER TABLE deliveries DROP COLUMN first_response_head;"                                      \
    "ALTER TABLE deliveries DROP COLUMN first_response_headers;"

#define TB_DSN_MAX 512
#define TB_OPEN_MAX 16 /* stores a test may hold open at once */

typedef struct tb_db {
    ah_store_t *s;
    char name[40];
    char dsn[TB_DSN_MAX];
} tb_db_t;

static tb_db_t tb_dbs[TB_OPEN_MAX];

static inline bool tb_pg(void)
{
    const char *b = getenv("AH_TEST_STORE");
    return b && !strcmp(b, "postgres");
}

/*
 * A query for how many attempts the store holds: a delivery's first
 * recorded attempt is in its row (SQLite's migration 14, PostgreSQL's 15),
 * the others in attempts.
 */
static inline const char *tb_count_attempts(void)
{
    return "SELECT (SELECT count(*) FROM attempts)"
           " + (SELECT count(*) FROM deliveries WHERE recorded > 0)";
}

/* Every attempt's delivery id, as a table named attempts (see tb_count_attempts). */
static inline const char *tb_attempts_of(void)
{
    return "(SELECT delivery_id FROM attempts UNION ALL"
           " SELECT id FROM deliveries WHERE recorded > 0) AS attempts";
}

static inline const char *tb_name(void)
{
    return tb_pg() ? "postgres" : "sqlite";
}

static inline const char *tb_server_dsn(void)
{
    const char *d = getenv("AH_TEST_PG_DSN");
    return d && *d ? d : NULL;
}

/*
 * 0 when the selected backend can run; otherwise says why on stderr.
 * (A test binary asked for PostgreSQL without a server fails; it never
 * quietly runs SQLite instead.)
 */
static inline int tb_check(void)
{
    const char *b = getenv("AH_TEST_STORE");
    if (b && *b && strcmp(b, "sqlite") && strcmp(b, "postgres")) {
        fprintf(stderr, "AH_TEST_STORE must be sqlite or postgres, not %s\n", b);
        return 1;
    }
    if (tb_pg() && !tb_server_dsn()) {
        fprintf(stderr, "AH_TEST_STORE=postgres needs AH_TEST_PG_DSN (scripts/pg-test.sh start)\n");
        return 1;
    }
    fprintf(stderr, "store backend: %s\n", tb_name());
    return 0;
}

/* The server DSN with its database replaced by db, into out. */
static inline int tb_dsn_for(const char *server, const char *db, char *out, size_t outsz)
{
    const char *auth = strstr(server, "://");
    if (!auth)
        return -1;
    auth += 3;
    const char *q = strchr(auth, '?');
    const char *slash = strchr(auth, '/');
    if (slash && q && slash > q)
        slash = NULL;
    size_t head = slash ? (size_t)(slash - server) : q ? (size_t)(q - server) : strlen(server);
    /* Built aside: db and out may be fields of one tb_dbs slot, which gcc -O2's
     * -Wrestrict takes for an overlap. */
    char dsn[TB_DSN_MAX];
    int n = snprintf(dsn, sizeof dsn, "%.*s/%s%s", (int)head, server, db, q ? q : "");
    if (n <= 0 || (size_t)n >= sizeof dsn || (size_t)n >= outsz)
        return -1;
    memcpy(out, dsn, (size_t)n + 1);
    return 0;
}

/* Runs fixed SQL on dsn; 0 on success (the error is printed otherwise). */
static inline int tb_pg_exec(const char *dsn, const char *sql)
{
    PGconn *pg = PQconnectdb(dsn);
    int rc = -1;
    if (PQstatus(pg) == CONNECTION_OK) {
        PGresult *r = PQexec(pg, sql);
        ExecStatusType st = PQresultStatus(r);
        rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "tb_pg_exec %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "tb_pg_exec: %s", PQerrorMessage(pg));
    }
    PQfinish(pg);
    return rc;
}

/* The first column of the first row of sql on dsn, as an integer; -1 on error. */
static inline int64_t tb_pg_int(const char *dsn, const char *sql)
{
    PGconn *pg = PQconnectdb(dsn);
    int64_t v = -1;
    if (PQstatus(pg) == CONNECTION_OK) {
        PGresult *r = PQexec(pg, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
            v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        else
            fprintf(stderr, "tb_pg_int %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "tb_pg_int: %s", PQerrorMessage(pg));
    }
    PQfinish(pg);
    return v;
}

/* Creates an empty database; its name and DSN into name / dsn. */
static inline int tb_create_db(char name[40], char dsn[TB_DSN_MAX])
{
    const char *server = tb_server_dsn();
    if (!server || ah_random_hex("ah_t_", 8, name, 40))
        return -1;
    char sql[96];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (tb_pg_exec(server, sql))
        return -1;
    return tb_dsn_for(server, name, dsn, TB_DSN_MAX);
}

static inline void tb_drop_db(const char *name)
{
    char sql[96];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    tb_pg_exec(tb_server_dsn(), sql);
}

static inline tb_db_t *tb_slot(const ah_store_t *s)
{
    for (size_t i = 0; i < TB_OPEN_MAX; i++)
        if (tb_dbs[i].s == s)
            return &tb_dbs[i];
    return NULL;
}

/* The DSN of a PostgreSQL store opened by tb_open_fresh() ("" for SQLite). */
static inline const char *tb_dsn_of(const ah_store_t *s)
{
    const tb_db_t *d = s ? tb_slot(s) : NULL;
    return d ? d->dsn : "";
}

static inline void tb_close(ah_store_t *s);

/* The keyring the fresh stores seal webhook secrets with: one fixed key of fill bytes. */
static inline void tb_keyring(ah_keyring_t *kr, unsigned char fill)
{
    unsigned char key[AH_SECRET_KEY_LEN];
    memset(kr, 0, sizeof *kr);
    memset(key, fill, sizeof key);
    ah_keyring_add(kr, key);
}

/* Gives s the test keyring, as airhook serve gives its store the key file's; s on success. */
static inline ah_store_t *tb_with_keys(ah_store_t *s)
{
    ah_keyring_t kr;
    char err[256] = "";
    tb_keyring(&kr, 0x42);
    if (s && ah_store_secrets_init(s, &kr, NULL, err, sizeof err) != AH_OK) {
        fprintf(stderr, "ah_store_secrets_init: %s\n", err);
        return NULL;
    }
    return s;
}

/*
 * A fresh, empty, migrated store of the selected backend, with no keys:
 * webhook secrets are stored as they are (a database from before sealing);
 * NULL (printed) on failure.
 */
static inline ah_store_t *tb_open_plain(void)
{
    char err[256] = "";
    ah_store_t *s = NULL;
    if (!tb_pg()) {
        if (ah_store_open("sqlite::memory:", &s, err, sizeof err) != AH_OK)
            fprintf(stderr, "open sqlite::memory:: %s\n", err);
        return s;
    }
    tb_db_t *d = tb_slot(NULL);
    if (!d || tb_create_db(d->name, d->dsn)) {
        fprintf(stderr, "tb_open_fresh: cannot make a database\n");
        return NULL;
    }
    if (ah_store_open(d->dsn, &s, err, sizeof err) != AH_OK) {
        fprintf(stderr, "open %s: %s\n", d->dsn, err);
        tb_drop_db(d->name);
        return NULL;
    }
    d->s = s;
    return s;
}

/*
 * A fresh, empty, migrated store of the selected backend, sealing webhook
 * secrets under the test keyring; NULL (printed) on failure.
 */
static inline ah_store_t *tb_open_fresh(void)
{
    ah_store_t *s = tb_open_plain();
    if (s && !tb_with_keys(s)) {
        tb_close(s);
        return NULL;
    }
    return s;
}

/* Closes a store from tb_open_fresh() and drops its database. */
static inline void tb_close(ah_store_t *s)
{
    tb_db_t *d = s ? tb_slot(s) : NULL;
    ah_store_close(s);
    if (d) {
        tb_drop_db(d->name);
        memset(d, 0, sizeof *d);
    }
}

/* cmocka fixtures. */
static inline int tb_setup(void **state)
{
    *state = tb_open_fresh();
    return *state ? 0 : -1;
}

static inline int tb_teardown(void **state)
{
    tb_close(*state);
    *state = NULL;
    return 0;
}

/*
 * SQLite files, for the tests about SQLite itself: a private directory
 * holding one database file (fixture state), removed with its WAL and
 * shared-memory files by the teardown, even after a failure.  Needs
 * <cmocka.h> (and its prerequisites) included before this header.
 */
typedef struct tmpdb {
    char dir[64];
    char path[96];
} tmpdb_t;

static inline int tmpdb_setup(void **state)
{
    tmpdb_t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/ah-test-XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/airhook.db", t->dir);
    *state = t;
    return 0;
}

static inline int tmpdb_teardown(void **state)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", "-deliver"};
    tmpdb_t *t = *state;
    char p[128];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", t->path, suffixes[i]);
        unlink(p);
    }
    int rc = rmdir(t->dir);
    free(t);
    return rc;
}

/* Opens the fixture's database file as a SQLite store (fails the test if it cannot). */
static inline ah_store_t *open_file(const tmpdb_t *t)
{
    char err[256] = "";
    ah_store_t *s = NULL;
    int rc = ah_store_sqlite_open(t->path, &s, err, sizeof err);
    if (rc != AH_OK)
        fprintf(stderr, "open %s: %s\n", t->path, err);
    assert_int_equal(rc, AH_OK);
    assert_non_null(s);
    return s;
}

#endif
