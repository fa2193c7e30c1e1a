/*
 * store_sqlite.c: the SQLite storage backend (ah_store_ops_t over SQLite 3).
 *
 * How it works.  A store is a small pool of connections to one database
 * (POOL_MAX, opened lazily, never closed before the store is).  Every
 * operation borrows one connection for its whole duration (acquire/release,
 * a mutex and a condition variable), so a connection is only ever used by one
 * thread at a time and SQLite can run in multi-thread mode (OPEN_NOMUTEX).
 * Each connection keeps its own cache of prepared statements, compiled on
 * first use with SQLITE_PREPARE_PERSISTENT and reset after every use; all SQL
 * is the fixed text in stmt_sql[] and every value travels as a bound
 * parameter, never as SQL text.
 *
 * Concurrency.  File databases run in WAL mode with synchronous=NORMAL (a
 * committed transaction survives a process crash; only an OS crash may lose
 * the last few), so readers never block the one writer.  Writers queue on the
 * database lock through busy_timeout (5 s); what still fails after that is
 * AH_ESTORE.  Operations that read then write (webhook_register, and
 * webhook_deregister, which also cancels deliveries) run inside
 * BEGIN IMMEDIATE so that they take the write lock before reading: two
 * identical registrations are serialised and the second one sees the first.
 * A partial unique index on the active (community, trigger, url, airmeet,
 * session) tuple backs that up in the schema itself; one consequence is that
 * re-enabling a disabled webhook whose tuple was registered again meanwhile
 * fails with AH_EEXISTS rather than creating a second active twin.
 *
 * ":memory:" opens a private in-memory database that all pooled connections
 * share.  It uses SQLite's "memdb" VFS ("file:/ah-mem-<random>?vfs=memdb")
 * rather than shared-cache mode: shared cache locks per table and reports
 * SQLITE_LOCKED, which busy_timeout does not wait on, so concurrent writers
 * would fail at once; memdb uses ordinary database locks, the same busy
 * handling as a file, and lives as long as one connection stays open (the
 * first connection stays in the pool until the store is closed).
 *
 * Schema.  migrations[] is an ordered list of SQL scripts; PRAGMA
 * user_version counts how many have been applied.  At open each missing one
 * runs in its own BEGIN IMMEDIATE transaction that rechecks the version, so
 * two processes opening the same new file migrate it once.  A database newer
 * than this binary is refused.  Never edit a released migration: append one.
 *
 * Conventions in the tables: unset ids ("" in C) are NULL, unset times are 0,
 * a NULL description / updated_by is the JSON null of has_description /
 * has_updated_by.  Rows are copied into the fixed-size struct fields with
 * bounded, truncating copies.  Constraint failures map to status codes:
 * primary key or unique -> AH_EEXISTS, foreign key (e.g. an access key for an
 * unknown community) -> AH_ENOTFOUND, NOT NULL or CHECK -> AH_EINVAL.
 */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define POOL_MAX 8
#define BUSY_TIMEOUT_MS 5000
#define LIST_MAX_ROWS 100000 /* hard cap on the rows one list call returns */
#define URI_MAX 64

/* ------------------------------------------------------------------------ */
/* Schema migrations: append only.                                          */

static const char *const migrations[] = {
    /* 1: everything the first release needs. */
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE communities ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE access_keys ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  community_id TEXT NOT NULL REFERENCES communities(id),"
    "  label TEXT NOT NULL,"
    "  access_key TEXT NOT NULL UNIQUE,"
    "  secret_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX access_keys_by_community ON access_keys(community_id, created_at);"
    "CREATE TABLE tokens ("
    "  token_hash TEXT PRIMARY KEY NOT NULL,"
    "  key_id TEXT NOT NULL REFERENCES access_keys(id),"
    "  community_id TEXT NOT NULL REFERENCES communities(id),"
    "  label TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX tokens_by_expiry ON tokens(expires_at);"
    "CREATE TABLE airmeets ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  community_id TEXT NOT NULL REFERENCES communities(id),"
    "  name TEXT NOT NULL,"
    "  start_time INTEGER NOT NULL DEFAULT 0,"
    "  end_time INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX airmeets_by_community ON airmeets(community_id);"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  airmeet_id TEXT NOT NULL REFERENCES airmeets(id),"
    "  community_id TEXT NOT NULL REFERENCES communities(id),"
    "  name TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX sessions_by_airmeet ON sessions(airmeet_id);"
    "CREATE TABLE webhooks ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  community_id TEXT NOT NULL REFERENCES communities(id),"
    "  trigger TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  url TEXT NOT NULL,"
    "  platform_name TEXT NOT NULL,"
    "  airmeet_id TEXT REFERENCES airmeets(id),"
    "  session_id TEXT REFERENCES sessions(id),"
    "  is_active INTEGER NOT NULL CHECK (is_active IN (0, 1)),"
    "  disabled_reason TEXT,"
    "  meta_data TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  updated_by TEXT,"
    "  secret TEXT NOT NULL,"
    "  prev_secret TEXT,"
    "  prev_secret_until INTEGER NOT NULL DEFAULT 0,"
    "  deregistered_at INTEGER NOT NULL DEFAULT 0,"
    "  failing_since INTEGER NOT NULL DEFAULT 0"
    ");"
    /* Idempotent registration: one active row per tuple. */
    "CREATE UNIQUE INDEX webhooks_active_tuple ON webhooks(community_id, trigger, url,"
    "  coalesce(airmeet_id, ''), coalesce(session_id, ''))"
    "  WHERE is_active = 1 AND deregistered_at = 0;"
    /* Matching an event to its webhooks. */
    "CREATE INDEX webhooks_match ON webhooks(community_id, trigger) WHERE is_active = 1;"
    /* webhook-list: a community's active webhooks, oldest first. */
    "CREATE INDEX webhooks_by_community ON webhooks(community_id, created_at, id)"
    "  WHERE is_active = 1;"
    "CREATE TABLE events ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  community_id TEXT NOT NULL REFERENCES communities(id),"
    "  trigger TEXT NOT NULL,"
    "  airmeet_id TEXT,"
    "  session_id TEXT,"
    "  data TEXT NOT NULL,"
    "  idempotency_key TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE (community_id, idempotency_key)"
    ");"
    "CREATE TABLE deliveries ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  event_id TEXT NOT NULL REFERENCES events(id),"
    "  webhook_id TEXT NOT NULL REFERENCES webhooks(id),"
    "  status TEXT NOT NULL DEFAULT 'pending'"
    "    CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    "  lease_until INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_status_code INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT"
    ");"
    "CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);"
    "CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, status);"
    "CREATE INDEX deliveries_by_event ON deliveries(event_id);"
    "CREATE TABLE attempts ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  delivery_id TEXT NOT NULL REFERENCES deliveries(id),"
    "  attempt_no INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  status_code INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  response_head TEXT"
    ");"
    "CREATE INDEX attempts_by_delivery ON attempts(delivery_id, attempt_no);",
};

/* ------------------------------------------------------------------------ */
/* Statements, prepared once per connection.                                */

#define COMMUNITY_COLS "id, name, created_at"
#define KEY_COLS "id, community_id, label, access_key, secret_hash, created_at, revoked_at"
#define TOKEN_COLS "token_hash, key_id, community_id, label, created_at, expires_at"
#define AIRMEET_COLS "id, community_id, name, start_time, end_time, created_at"
#define SESSION_COLS "id, airmeet_id, community_id, name, created_at"
/* The order of WEBHOOK_COLS is the order of bind_webhook() and row_webhook(). */
#define WEBHOOK_COLS                                                                               \
    "id, community_id, trigger, name, description, url, platform_name, airmeet_id, "               \
    "session_id, is_active, disabled_reason, meta_data, created_at, updated_at, created_by, "      \
    "updated_by, secret, prev_secret, prev_secret_until, deregistered_at, failing_since"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_SETTING_GET,
    ST_SETTING_SET,
    ST_COMMUNITY_INSERT,
    ST_COMMUNITY_GET,
    ST_COMMUNITY_LIST,
    ST_KEY_INSERT,
    ST_KEY_FIND,
    ST_KEY_GET,
    ST_KEY_LIST,
    ST_KEY_REVOKE,
    ST_TOKEN_INSERT,
    ST_TOKEN_FIND,
    ST_TOKEN_PURGE,
    ST_AIRMEET_INSERT,
    ST_AIRMEET_GET,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_WEBHOOK_FIND_ACTIVE,
    ST_WEBHOOK_INSERT,
    ST_WEBHOOK_GET,
    ST_WEBHOOK_LIST_ACTIVE,
    ST_WEBHOOK_DEREGISTER,
    ST_WEBHOOK_SET_ACTIVE,
    ST_DELIVERIES_CANCEL,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_COMMUNITY_INSERT] = "INSERT INTO communities (" COMMUNITY_COLS ") VALUES (?1, ?2, ?3)",
    [ST_COMMUNITY_GET] = "SELECT " COMMUNITY_COLS " FROM communities WHERE id = ?1",
    [ST_COMMUNITY_LIST] = "SELECT " COMMUNITY_COLS " FROM communities ORDER BY created_at, id",
    [ST_KEY_INSERT] = "INSERT INTO access_keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_KEY_FIND] = "SELECT " KEY_COLS " FROM access_keys WHERE access_key = ?1",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM access_keys WHERE id = ?1",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM access_keys WHERE community_id = ?1"
                    " ORDER BY created_at, id",
    [ST_KEY_REVOKE] = "UPDATE access_keys"
                      " SET revoked_at = CASE WHEN revoked_at = 0 THEN ?2 ELSE revoked_at END"
                      " WHERE id = ?1",
    [ST_TOKEN_INSERT] = "INSERT INTO tokens (" TOKEN_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_TOKEN_FIND] = "SELECT " TOKEN_COLS " FROM tokens WHERE token_hash = ?1",
    [ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires_at < ?1",
    [ST_AIRMEET_INSERT] = "INSERT INTO airmeets (" AIRMEET_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_AIRMEET_GET] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE id = ?1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (" SESSION_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1",
    [ST_WEBHOOK_FIND_ACTIVE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                               " WHERE community_id = ?1 AND trigger = ?2 AND url = ?3"
                               " AND coalesce(airmeet_id, '') = ?4"
                               " AND coalesce(session_id, '') = ?5"
                               " AND is_active = 1 AND deregistered_at = 0",
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks (" WEBHOOK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5,"
                          " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
                          " ?20, ?21)",
    [ST_WEBHOOK_GET] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = ?1",
    [ST_WEBHOOK_LIST_ACTIVE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                               " WHERE community_id = ?1 AND is_active = 1"
                               " AND (?2 IS NULL OR airmeet_id = ?2)"
                               " AND (?3 IS NULL OR session_id = ?3)"
                               " ORDER BY created_at, id",
    [ST_WEBHOOK_DEREGISTER] = "UPDATE webhooks SET is_active = 0,"
                              " disabled_reason = 'deregistered', deregistered_at = ?2,"
                              " updated_at = ?2, updated_by = ?3"
                              " WHERE id = ?1 AND deregistered_at = 0",
    /* Enabling also ends the failure streak, or the auto-disable would fire again. */
    [ST_WEBHOOK_SET_ACTIVE] = "UPDATE webhooks SET is_active = ?2, disabled_reason = ?3,"
                              " updated_at = ?4,"
                              " failing_since = CASE WHEN ?2 = 1 THEN 0 ELSE failing_since END"
                              " WHERE id = ?1 AND deregistered_at = 0",
    [ST_DELIVERIES_CANCEL] = "UPDATE deliveries SET status = 'cancelled', updated_at = ?2"
                             " WHERE webhook_id = ?1 AND status = 'pending'",
};

/* ------------------------------------------------------------------------ */
/* The store and its connection pool.                                        */

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    struct conn *next_idle; /* the pool's idle list */
    struct conn *next_all;  /* every open connection, for close */
} conn_t;

typedef struct sqlite_store {
    ah_store_t base; /* first: callers hold &base */
    char *path;      /* as given, for messages */
    char *uri;       /* what sqlite3_open_v2 opens */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection goes idle or a slot frees */
    conn_t *idle;
    conn_t *all;
    int n_conns; /* open or being opened */
} sqlite_store_t;

/*
 * Turns a failed SQLite result into a status, logging what is not an
 * expected outcome (constraint results are answers, not failures).
 */
static int db_error(sqlite3 *db, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return AH_EEXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return AH_ENOTFOUND;
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_CHECK:
        return AH_EINVAL;
    default:
        break;
    }
    ah_logf(AH_LOG_WARN, "sqlite %s: %s (%s)", what, db ? sqlite3_errmsg(db) : "no connection",
            sqlite3_errstr(rc));
    if ((rc & 0xff) == SQLITE_CANTOPEN)
        return AH_EUNAVAIL;
    return AH_ESTORE;
}

static void conn_free(conn_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

/* Opens one connection and applies the per-connection settings. */
static int conn_open(const sqlite_store_t *s, conn_t **out, char *err, size_t errlen)
{
    *out = NULL;
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory opening %s", s->path);
        return AH_ENOMEM;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(s->uri, &c->db, flags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_extended_result_codes(c->db, 1);
        rc = sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;", NULL,
                          NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", s->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_free(c);
        return (rc & 0xff) == SQLITE_CANTOPEN ? AH_EUNAVAIL : AH_ESTORE;
    }
    *out = c;
    return AH_OK;
}

/* Borrows a connection, waiting while all POOL_MAX are busy. */
static int acquire(sqlite_store_t *s, conn_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    while (!s->idle && s->n_conns >= POOL_MAX)
        pthread_cond_wait(&s->cv, &s->mu);
    conn_t *c = s->idle;
    if (c) {
        s->idle = c->next_idle;
        pthread_mutex_unlock(&s->mu);
        *out = c;
        return AH_OK;
    }
    s->n_conns++; /* reserve the slot, then open without holding the lock */
    pthread_mutex_unlock(&s->mu);

    char err[512];
    int rc = conn_open(s, &c, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    if (rc) {
        s->n_conns--;
        pthread_cond_signal(&s->cv);
    } else {
        c->next_all = s->all;
        s->all = c;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        ah_logf(AH_LOG_WARN, "sqlite: %s", err);
        return rc;
    }
    *out = c;
    return AH_OK;
}

static void release(sqlite_store_t *s, conn_t *c)
{
    /* A transaction left open by an error path must not leak into the next user. */
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_lock(&s->mu);
    c->next_idle = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int prepare(conn_t *c, enum stmt_id id, sqlite3_stmt **out)
{
    *out = NULL;
    if (!c->stmt[id]) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmt[id], NULL);
        if (rc != SQLITE_OK)
            return db_error(c->db, rc, "prepare");
    }
    *out = c->stmt[id];
    return AH_OK;
}

/* Borrows a connection and its prepared statement `id`; release() after. */
static int borrow(sqlite_store_t *s, enum stmt_id id, conn_t **c, sqlite3_stmt **st)
{
    int rc = acquire(s, c);
    if (rc)
        return rc;
    rc = prepare(*c, id, st);
    if (rc)
        release(s, *c);
    return rc;
}

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Steps a statement that returns no rows (or ignores them). */
static int run(conn_t *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int ret = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? AH_OK : db_error(c->db, rc, "step");
    finish(st);
    return ret;
}

static int run_id(conn_t *c, enum stmt_id id)
{
    sqlite3_stmt *st;
    int rc = prepare(c, id, &st);
    return rc ? rc : run(c, st);
}

/* A binding only fails on a caller bug or out of memory. */
static int bind_failed(conn_t *c, sqlite3_stmt *st)
{
    int rc = db_error(c->db, sqlite3_errcode(c->db), "bind");
    finish(st);
    return rc;
}

/* Transactions: BEGIN IMMEDIATE, then COMMIT if rc is AH_OK, else ROLLBACK. */
static int tx_begin(conn_t *c)
{
    return run_id(c, ST_BEGIN);
}

static int tx_end(conn_t *c, int rc)
{
    if (rc == AH_OK)
        rc = run_id(c, ST_COMMIT);
    if (rc != AH_OK && !sqlite3_get_autocommit(c->db))
        run_id(c, ST_ROLLBACK);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Binding values and reading rows.                                          */

/* A text field of a record; bounded by its array size even if not terminated. */
static int bind_field(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
    return sqlite3_bind_text(st, i, s, (int)strnlen(s, cap), SQLITE_STATIC);
}

/* An optional field: "" is NULL. */
static int bind_opt_field(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
    if (!s[0])
        return sqlite3_bind_null(st, i);
    return bind_field(st, i, s, cap);
}

/* A string argument; NULL is SQL NULL. */
static int bind_str(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* An optional string argument: NULL or "" is SQL NULL. */
static int bind_opt_str(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s && *s ? s : NULL, -1, SQLITE_STATIC);
}

#define BIND_FIELD(st, i, f) bind_field((st), (i), (f), sizeof(f))
#define BIND_OPT_FIELD(st, i, f) bind_opt_field((st), (i), (f), sizeof(f))

/* Copies column col into dst (cap bytes), truncating; NULL reads as "". */
static void col_copy(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    size_t n = v && len > 0 ? (size_t)len : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, v, n);
    dst[n] = '\0';
}

#define COL_COPY(st, col, f) col_copy((st), (col), (f), sizeof(f))

static bool col_is_null(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL;
}

typedef void (*row_fn)(sqlite3_stmt *st, void *out);

static void row_community(sqlite3_stmt *st, void *out)
{
    ah_community_t *c = out;
    memset(c, 0, sizeof *c);
    COL_COPY(st, 0, c->id);
    COL_COPY(st, 1, c->name);
    c->created_at = sqlite3_column_int64(st, 2);
}

static void row_key(sqlite3_stmt *st, void *out)
{
    ah_access_key_t *k = out;
    memset(k, 0, sizeof *k);
    COL_COPY(st, 0, k->id);
    COL_COPY(st, 1, k->community_id);
    COL_COPY(st, 2, k->label);
    COL_COPY(st, 3, k->access_key);
    COL_COPY(st, 4, k->secret_hash);
    k->created_at = sqlite3_column_int64(st, 5);
    k->revoked_at = sqlite3_column_int64(st, 6);
}

static void row_token(sqlite3_stmt *st, void *out)
{
    ah_token_t *t = out;
    memset(t, 0, sizeof *t);
    COL_COPY(st, 0, t->token_hash);
    COL_COPY(st, 1, t->key_id);
    COL_COPY(st, 2, t->community_id);
    COL_COPY(st, 3, t->label);
    t->created_at = sqlite3_column_int64(st, 4);
    t->expires_at = sqlite3_column_int64(st, 5);
}

static void row_airmeet(sqlite3_stmt *st, void *out)
{
    ah_airmeet_t *a = out;
    memset(a, 0, sizeof *a);
    COL_COPY(st, 0, a->id);
    COL_COPY(st, 1, a->community_id);
    COL_COPY(st, 2, a->name);
    a->start_time = sqlite3_column_int64(st, 3);
    a->end_time = sqlite3_column_int64(st, 4);
    a->created_at = sqlite3_column_int64(st, 5);
}

static void row_session(sqlite3_stmt *st, void *out)
{
    ah_session_t *ss = out;
    memset(ss, 0, sizeof *ss);
    COL_COPY(st, 0, ss->id);
    COL_COPY(st, 1, ss->airmeet_id);
    COL_COPY(st, 2, ss->community_id);
    COL_COPY(st, 3, ss->name);
    ss->created_at = sqlite3_column_int64(st, 4);
}

static void row_webhook(sqlite3_stmt *st, void *out)
{
    ah_webhook_t *w = out;
    memset(w, 0, sizeof *w);
    COL_COPY(st, 0, w->id);
    COL_COPY(st, 1, w->community_id);
    COL_COPY(st, 2, w->trigger);
    COL_COPY(st, 3, w->name);
    w->has_description = !col_is_null(st, 4);
    COL_COPY(st, 4, w->description);
    COL_COPY(st, 5, w->url);
    COL_COPY(st, 6, w->platform_name);
    COL_COPY(st, 7, w->airmeet_id);
    COL_COPY(st, 8, w->session_id);
    w->is_active = sqlite3_column_int(st, 9) != 0;
    COL_COPY(st, 10, w->disabled_reason);
    COL_COPY(st, 11, w->meta_data);
    w->created_at = sqlite3_column_int64(st, 12);
    w->updated_at = sqlite3_column_int64(st, 13);
    COL_COPY(st, 14, w->created_by);
    w->has_updated_by = !col_is_null(st, 15);
    COL_COPY(st, 15, w->updated_by);
    COL_COPY(st, 16, w->secret);
    COL_COPY(st, 17, w->prev_secret);
    w->prev_secret_until = sqlite3_column_int64(st, 18);
    w->deregistered_at = sqlite3_column_int64(st, 19);
    w->failing_since = sqlite3_column_int64(st, 20);
}

/* Binds every column of w as ?1..?21 in WEBHOOK_COLS order. */
static int bind_webhook(sqlite3_stmt *st, const ah_webhook_t *w)
{
    int rc = BIND_OPT_FIELD(st, 1, w->id);
    if (!rc)
        rc = BIND_OPT_FIELD(st, 2, w->community_id);
    if (!rc)
        rc = BIND_FIELD(st, 3, w->trigger);
    if (!rc)
        rc = BIND_FIELD(st, 4, w->name);
    if (!rc)
        rc = w->has_description ? BIND_FIELD(st, 5, w->description) : sqlite3_bind_null(st, 5);
    if (!rc)
        rc = BIND_FIELD(st, 6, w->url);
    if (!rc)
        rc = BIND_FIELD(st, 7, w->platform_name);
    if (!rc)
        rc = BIND_OPT_FIELD(st, 8, w->airmeet_id);
    if (!rc)
        rc = BIND_OPT_FIELD(st, 9, w->session_id);
    if (!rc)
        rc = sqlite3_bind_int(st, 10, w->is_active ? 1 : 0);
    if (!rc)
        rc = BIND_OPT_FIELD(st, 11, w->disabled_reason);
    if (!rc)
        rc = BIND_FIELD(st, 12, w->meta_data);
    if (!rc)
        rc = sqlite3_bind_int64(st, 13, w->created_at);
    if (!rc)
        rc = sqlite3_bind_int64(st, 14, w->updated_at);
    if (!rc)
        rc = BIND_FIELD(st, 15, w->created_by);
    if (!rc)
        rc = w->has_updated_by ? BIND_FIELD(st, 16, w->updated_by) : sqlite3_bind_null(st, 16);
    if (!rc)
        rc = BIND_FIELD(st, 17, w->secret);
    if (!rc)
        rc = BIND_OPT_FIELD(st, 18, w->prev_secret);
    if (!rc)
        rc = sqlite3_bind_int64(st, 19, w->prev_secret_until);
    if (!rc)
        rc = sqlite3_bind_int64(st, 20, w->deregistered_at);
    if (!rc)
        rc = sqlite3_bind_int64(st, 21, w->failing_since);
    return rc;
}

/* Steps a query expected to return at most one row into *out. */
static int fetch_one(conn_t *c, sqlite3_stmt *st, row_fn fn, void *out)
{
    int rc = sqlite3_step(st);
    int ret;
    if (rc == SQLITE_ROW) {
        fn(st, out);
        ret = AH_OK;
    } else if (rc == SQLITE_DONE) {
        ret = AH_ENOTFOUND;
    } else {
        ret = db_error(c->db, rc, "step");
    }
    finish(st);
    return ret;
}

/* Steps a query to the end into a malloc'd array of elements of `size` bytes. */
static int fetch_all(conn_t *c, sqlite3_stmt *st, row_fn fn, size_t size, void **out, size_t *n)
{
    unsigned char *arr = NULL;
    size_t len = 0, cap = 0;
    int ret = AH_OK;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(c->db, rc, "step");
            break;
        }
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            if (ncap > LIST_MAX_ROWS)
                ncap = LIST_MAX_ROWS;
            if (len >= ncap) {
                ah_logf(AH_LOG_WARN, "sqlite: a list exceeded %d rows", LIST_MAX_ROWS);
                ret = AH_ETOOBIG;
                break;
            }
            unsigned char *p = realloc(arr, ncap * size);
            if (!p) {
                ret = AH_ENOMEM;
                break;
            }
            arr = p;
            cap = ncap;
        }
        fn(st, arr + len * size);
        len++;
    }
    finish(st);
    if (ret != AH_OK) {
        free(arr);
        arr = NULL;
        len = 0;
    }
    *out = arr;
    *n = len;
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Operations.                                                               */

static sqlite_store_t *from(ah_store_t *base)
{
    return (sqlite_store_t *)base;
}

static int ping(ah_store_t *base)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_PING, &c, &st);
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = sqlite3_column_int(st, 0) == 1 ? AH_OK : AH_ESTORE;
    else
        rc = db_error(c->db, step, "ping");
    finish(st);
    release(s, c);
    return rc;
}

/* Copies the value of the current row into out; a value that does not fit is refused. */
static int copy_setting(sqlite3_stmt *st, char *out, size_t outsz)
{
    const unsigned char *v = sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    /* A truncated setting (a token hash, say) would be wrong, not short. */
    if (len >= outsz)
        return AH_ETOOBIG;
    if (len)
        memcpy(out, v, len);
    out[len] = '\0';
    return AH_OK;
}

static int setting_get(ah_store_t *base, const char *key, char *out, size_t outsz)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_SETTING_GET, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, key)) {
        rc = bind_failed(c, st);
    } else {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW)
            rc = copy_setting(st, out, outsz);
        else if (step == SQLITE_DONE)
            rc = AH_ENOTFOUND;
        else
            rc = db_error(c->db, step, "setting_get");
        finish(st);
    }
    release(s, c);
    return rc;
}

static int setting_set(ah_store_t *base, const char *key, const char *value)
{
    if (!key || !value)
        return AH_EINVAL;
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_SETTING_SET, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, key) || bind_str(st, 2, value))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int community_create(ah_store_t *base, const ah_community_t *cm)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_COMMUNITY_INSERT, &c, &st);
    if (rc)
        return rc;
    if (BIND_OPT_FIELD(st, 1, cm->id) || BIND_FIELD(st, 2, cm->name) ||
        sqlite3_bind_int64(st, 3, cm->created_at))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

/* Looks up one row by a single string key with statement id. */
static int get_by(ah_store_t *base, enum stmt_id id, const char *key, row_fn fn, void *out)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, id, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, key))
        rc = bind_failed(c, st);
    else
        rc = fetch_one(c, st, fn, out);
    release(s, c);
    return rc;
}

static int community_get(ah_store_t *base, const char *id, ah_community_t *out)
{
    return get_by(base, ST_COMMUNITY_GET, id, row_community, out);
}

static int community_list(ah_store_t *base, ah_community_t **out, size_t *n)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    int rc = borrow(s, ST_COMMUNITY_LIST, &c, &st);
    if (rc)
        return rc;
    void *arr;
    rc = fetch_all(c, st, row_community, sizeof **out, &arr, n);
    *out = arr;
    release(s, c);
    return rc;
}

static int access_key_create(ah_store_t *base, const ah_access_key_t *k)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_KEY_INSERT, &c, &st);
    if (rc)
        return rc;
    if (BIND_OPT_FIELD(st, 1, k->id) || BIND_OPT_FIELD(st, 2, k->community_id) ||
        BIND_FIELD(st, 3, k->label) || BIND_OPT_FIELD(st, 4, k->access_key) ||
        BIND_OPT_FIELD(st, 5, k->secret_hash) || sqlite3_bind_int64(st, 6, k->created_at) ||
        sqlite3_bind_int64(st, 7, k->revoked_at))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int access_key_find(ah_store_t *base, const char *access_key, ah_access_key_t *out)
{
    return get_by(base, ST_KEY_FIND, access_key, row_key, out);
}

static int access_key_get(ah_store_t *base, const char *id, ah_access_key_t *out)
{
    return get_by(base, ST_KEY_GET, id, row_key, out);
}

static int access_key_list(ah_store_t *base, const char *community_id, ah_access_key_t **out,
                           size_t *n)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    int rc = borrow(s, ST_KEY_LIST, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, community_id)) {
        rc = bind_failed(c, st);
    } else {
        void *arr;
        rc = fetch_all(c, st, row_key, sizeof **out, &arr, n);
        *out = arr;
    }
    release(s, c);
    return rc;
}

static int access_key_revoke(ah_store_t *base, const char *id, int64_t now)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_KEY_REVOKE, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id) || sqlite3_bind_int64(st, 2, now))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    /* changes() counts matched rows, so an already revoked key is found too. */
    if (rc == AH_OK && sqlite3_changes(c->db) == 0)
        rc = AH_ENOTFOUND;
    release(s, c);
    return rc;
}

static int token_create(ah_store_t *base, const ah_token_t *t)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_TOKEN_INSERT, &c, &st);
    if (rc)
        return rc;
    if (BIND_OPT_FIELD(st, 1, t->token_hash) || BIND_OPT_FIELD(st, 2, t->key_id) ||
        BIND_OPT_FIELD(st, 3, t->community_id) || BIND_FIELD(st, 4, t->label) ||
        sqlite3_bind_int64(st, 5, t->created_at) || sqlite3_bind_int64(st, 6, t->expires_at))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int token_find(ah_store_t *base, const char *token_hash, ah_token_t *out)
{
    return get_by(base, ST_TOKEN_FIND, token_hash, row_token, out);
}

static int token_purge(ah_store_t *base, int64_t now, size_t *n_deleted)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    if (n_deleted)
        *n_deleted = 0;
    int rc = borrow(s, ST_TOKEN_PURGE, &c, &st);
    if (rc)
        return rc;
    if (sqlite3_bind_int64(st, 1, now))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    if (rc == AH_OK && n_deleted)
        *n_deleted = (size_t)sqlite3_changes(c->db);
    release(s, c);
    return rc;
}

static int airmeet_create(ah_store_t *base, const ah_airmeet_t *a)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_AIRMEET_INSERT, &c, &st);
    if (rc)
        return rc;
    if (BIND_OPT_FIELD(st, 1, a->id) || BIND_OPT_FIELD(st, 2, a->community_id) ||
        BIND_FIELD(st, 3, a->name) || sqlite3_bind_int64(st, 4, a->start_time) ||
        sqlite3_bind_int64(st, 5, a->end_time) || sqlite3_bind_int64(st, 6, a->created_at))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int airmeet_get(ah_store_t *base, const char *id, ah_airmeet_t *out)
{
    return get_by(base, ST_AIRMEET_GET, id, row_airmeet, out);
}

static int session_create(ah_store_t *base, const ah_session_t *ss)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_SESSION_INSERT, &c, &st);
    if (rc)
        return rc;
    if (BIND_OPT_FIELD(st, 1, ss->id) || BIND_OPT_FIELD(st, 2, ss->airmeet_id) ||
        BIND_OPT_FIELD(st, 3, ss->community_id) || BIND_FIELD(st, 4, ss->name) ||
        sqlite3_bind_int64(st, 5, ss->created_at))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int session_get(ah_store_t *base, const char *id, ah_session_t *out)
{
    return get_by(base, ST_SESSION_GET, id, row_session, out);
}

/* Inside a transaction: the active webhook with w's tuple, if any, into *out. */
static int find_active_duplicate(conn_t *c, const ah_webhook_t *w, ah_webhook_t *out)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_WEBHOOK_FIND_ACTIVE, &st);
    if (rc)
        return rc;
    /* Unset airmeet/session compare as '' on both sides (see the unique index). */
    if (BIND_FIELD(st, 1, w->community_id) || BIND_FIELD(st, 2, w->trigger) ||
        BIND_FIELD(st, 3, w->url) || BIND_FIELD(st, 4, w->airmeet_id) ||
        BIND_FIELD(st, 5, w->session_id))
        return bind_failed(c, st);
    return fetch_one(c, st, row_webhook, out);
}

static int insert_webhook(conn_t *c, const ah_webhook_t *w)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_WEBHOOK_INSERT, &st);
    if (rc)
        return rc;
    if (bind_webhook(st, w))
        return bind_failed(c, st);
    return run(c, st);
}

static int webhook_register(ah_store_t *base, const ah_webhook_t *w, ah_webhook_t *out,
                            bool *existed)
{
    sqlite_store_t *s = from(base);
    ah_webhook_t *dup = malloc(sizeof *dup); /* ~6 KiB: keep it off the stack */
    if (!dup)
        return AH_ENOMEM;
    bool found = false;
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        goto out;
    rc = tx_begin(c);
    if (rc == AH_OK) {
        rc = find_active_duplicate(c, w, dup);
        if (rc == AH_OK)
            found = true;
        else if (rc == AH_ENOTFOUND)
            rc = insert_webhook(c, w);
        rc = tx_end(c, rc);
    }
    release(s, c);
    if (rc == AH_OK) {
        if (found)
            *out = *dup;
        else if (out != w)
            *out = *w;
        if (existed)
            *existed = found;
    }
out:
    free(dup);
    return rc;
}

static int webhook_get(ah_store_t *base, const char *id, ah_webhook_t *out)
{
    return get_by(base, ST_WEBHOOK_GET, id, row_webhook, out);
}

static int webhook_list_active(ah_store_t *base, const char *community_id, const char *airmeet_id,
                               const char *session_id, ah_webhook_t **out, size_t *n)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    int rc = borrow(s, ST_WEBHOOK_LIST_ACTIVE, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, community_id) || bind_opt_str(st, 2, airmeet_id) ||
        bind_opt_str(st, 3, session_id)) {
        rc = bind_failed(c, st);
    } else {
        void *arr;
        rc = fetch_all(c, st, row_webhook, sizeof **out, &arr, n);
        *out = arr;
    }
    release(s, c);
    return rc;
}

/* Inside a transaction: marks the webhook deregistered; AH_ENOTFOUND if it is not there. */
static int mark_deregistered(conn_t *c, const char *id, const char *by, int64_t now)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_WEBHOOK_DEREGISTER, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id) || sqlite3_bind_int64(st, 2, now) || bind_str(st, 3, by))
        return bind_failed(c, st);
    rc = run(c, st);
    if (rc == AH_OK && sqlite3_changes(c->db) == 0)
        rc = AH_ENOTFOUND;
    return rc;
}

static int cancel_pending_deliveries(conn_t *c, const char *webhook_id, int64_t now)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_DELIVERIES_CANCEL, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, webhook_id) || sqlite3_bind_int64(st, 2, now))
        return bind_failed(c, st);
    return run(c, st);
}

static int webhook_deregister(ah_store_t *base, const char *id, const char *by, int64_t now)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    rc = tx_begin(c);
    if (rc == AH_OK) {
        rc = mark_deregistered(c, id, by, now);
        if (rc == AH_OK)
            rc = cancel_pending_deliveries(c, id, now);
        rc = tx_end(c, rc);
    }
    release(s, c);
    return rc;
}

static int webhook_set_active(ah_store_t *base, const char *id, bool active, const char *reason,
                              int64_t now)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_WEBHOOK_SET_ACTIVE, &c, &st);
    if (rc)
        return rc;
    /* An active webhook has no disabled_reason. */
    if (bind_str(st, 1, id) || sqlite3_bind_int(st, 2, active ? 1 : 0) ||
        bind_opt_str(st, 3, active ? NULL : reason) || sqlite3_bind_int64(st, 4, now))
        rc = bind_failed(c, st);
    else
        rc = run(c, st); /* AH_EEXISTS: enabling would duplicate an active tuple */
    if (rc == AH_OK && sqlite3_changes(c->db) == 0)
        rc = AH_ENOTFOUND;
    release(s, c);
    return rc;
}

static void store_close(ah_store_t *base)
{
    sqlite_store_t *s = from(base);
    if (!s)
        return;
    conn_t *c = s->all;
    while (c) {
        conn_t *next = c->next_all;
        conn_free(c);
        c = next;
    }
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->uri);
    free(s->path);
    free(s);
}

static const ah_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .close = store_close,
    .ping = ping,
    .setting_get = setting_get,
    .setting_set = setting_set,
    .community_create = community_create,
    .community_get = community_get,
    .community_list = community_list,
    .access_key_create = access_key_create,
    .access_key_find = access_key_find,
    .access_key_get = access_key_get,
    .access_key_list = access_key_list,
    .access_key_revoke = access_key_revoke,
    .token_create = token_create,
    .token_find = token_find,
    .token_purge = token_purge,
    .airmeet_create = airmeet_create,
    .airmeet_get = airmeet_get,
    .session_create = session_create,
    .session_get = session_get,
    .webhook_register = webhook_register,
    .webhook_get = webhook_get,
    .webhook_list_active = webhook_list_active,
    .webhook_deregister = webhook_deregister,
    .webhook_set_active = webhook_set_active,
};

/* ------------------------------------------------------------------------ */
/* Opening: WAL, then migrations.                                            */

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Applies migration number `version` (1-based) unless already applied. */
static int migrate_one(sqlite3 *db, int version, char *err, size_t errlen)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    int current = 0;
    rc = user_version(db, &current);
    if (rc != SQLITE_OK)
        goto fail;
    if (current < version) {
        rc = sqlite3_exec(db, migrations[version - 1], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
        /* PRAGMA takes no parameters; the number is ours, not input. */
        char sql[48];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            goto fail;
    }
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    return AH_OK;
fail:
    snprintf(err, errlen, "schema migration %d failed: %s", version, sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return AH_ESTORE;
}

static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    const int latest = (int)AH_ARRAY_LEN(migrations);
    int current = 0;
    int rc = user_version(db, &current);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return AH_ESTORE;
    }
    if (current > latest) {
        snprintf(err, errlen,
                 "the database schema (version %d) is newer than this airhook (version %d)",
                 current, latest);
        return AH_ESTORE;
    }
    for (int v = current + 1; v <= latest; v++) {
        rc = migrate_one(db, v, err, errlen);
        if (rc)
            return rc;
    }
    return AH_OK;
}

/* WAL persists in the file, so the first connection sets it for all. */
static int set_wal(const sqlite_store_t *s, sqlite3 *db, bool memory, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "cannot set WAL mode on %s: %s", s->path, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return AH_ESTORE;
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (!memory && (!mode || strcmp(mode, "wal") != 0))
        ah_logf(AH_LOG_WARN, "sqlite: %s runs in journal mode %s, not wal", s->path,
                mode ? mode : "?");
    sqlite3_finalize(st);
    return AH_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int ah_store_sqlite_open(const char *path, ah_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "sqlite: needs a path");
        return AH_EINVAL;
    }
    if (!sqlite3_threadsafe()) {
        snprintf(err, errlen, "the SQLite library was built without thread support");
        return AH_ESTORE;
    }
    sqlite_store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    s->base.ops = &sqlite_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);

    bool memory = strcmp(path, ":memory:") == 0;
    char uri[URI_MAX];
    if (memory) {
        /* memdb: shared by this store's connections only, gone at close. */
        char name[40];
        ah_random_hex("ah-mem-", 12, name, sizeof name);
        snprintf(uri, sizeof uri, "file:/%s?vfs=memdb", name);
    }
    s->path = dup_str(path);
    s->uri = dup_str(memory ? uri : path);
    if (!s->path || !s->uri) {
        snprintf(err, errlen, "out of memory");
        store_close(&s->base);
        return AH_ENOMEM;
    }

    conn_t *c;
    int rc = conn_open(s, &c, err, errlen);
    if (rc) {
        store_close(&s->base);
        return rc;
    }
    s->all = c;
    s->n_conns = 1;
    rc = set_wal(s, c->db, memory, err, errlen);
    if (rc == AH_OK)
        rc = migrate(c->db, err, errlen);
    if (rc) {
        store_close(&s->base);
        return rc;
    }
    s->idle = c;
    *out = &s->base;
    return AH_OK;
}
