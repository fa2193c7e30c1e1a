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
 * the last few), so readers never block the one writer.  Write transactions
 * of one process queue on a mutex (write_mu, see tx_begin) and all run on one
 * writer connection (acquire_writer, borrow_writer); writers of other
 * processes queue on the database lock through
 * busy_timeout (5 s); what still fails after that is AH_ESTORE.  Operations
 * that read then write (webhook_deregister, which also cancels deliveries,
 * and publish, claim, record, recover) run inside BEGIN IMMEDIATE so that
 * they take the write lock before reading: two dispatchers never claim the
 * same delivery.  Registration relies on a partial unique index on the
 * active (community, trigger, url, airmeet, session) tuple instead: its
 * INSERT does nothing on a conflict, and then the twin is read, so two
 * identical registrations yield one row.  One consequence of that index is
 * that re-enabling a disabled webhook whose tuple was registered again
 * meanwhile fails with AH_EEXISTS rather than creating a second active twin.
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
 *
 * Events and deliveries (migration 2 and the section of that name below):
 * the deliveries table is the queue itself, indexed for claims, listing
 * pages and the oldest pending row.  Row ids made inside SQL (one delivery
 * per matching webhook, in one INSERT ... SELECT) come from ah_uuid(), an
 * application-defined function registered on every connection.
 */
#include "store/backend.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define POOL_MAX 8
#define BUSY_TIMEOUT_MS 5000
#define LIST_MAX_ROWS 100000 /* hard cap on the rows one list call returns */
#define URI_MAX 64
/*
 * Page cache per connection, in KiB (negative: SQLite's unit for KiB).  The
 * default 2 MiB makes recording attempts read-bound once the random-id
 * indexes outgrow it; 16 MiB doubled that rate in measurements.  It fills
 * lazily, so a small database never uses it all.
 */
#define CACHE_KIB "-16384"
/*
 * Checkpoint when the WAL reaches this many pages (16 MiB at 4 KiB pages)
 * rather than SQLite's 1000: a checkpoint costs two fsyncs and rewrites every
 * page it holds, and a publish dirties ~15 scattered pages, so with 1000 one
 * ran every ~60 publishes; 4000 gave publishing ~30% more in measurements.
 */
#define WAL_CHECKPOINT_PAGES "4000"

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

    /*
     * 2: indexes for the delivery queue.  deliveries_queue serves claims
     * (status, webhook, due time) and the skip-scan walk over webhooks with
     * pending work; the by_webhook / by_event indexes end in (created_at, id)
     * so that listing pages newest first is a range scan from the cursor;
     * deliveries_age finds the oldest pending delivery in one probe.
     */
    "DROP INDEX deliveries_due;"
    "DROP INDEX deliveries_by_webhook;"
    "DROP INDEX deliveries_by_event;"
    "CREATE INDEX deliveries_queue ON deliveries(status, webhook_id, next_attempt_at);"
    "CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, created_at, id);"
    "CREATE INDEX deliveries_by_event ON deliveries(event_id, created_at, id);"
    "CREATE INDEX deliveries_age ON deliveries(status, created_at);",

    /*
     * 3: fewer b-trees to write per delivery.  Only pending deliveries are
     * ever looked up by due time or age, so those two indexes now hold
     * pending rows only (a finished delivery leaves them instead of moving
     * to another key); each ends in status, which SQLite needs to see them
     * as covering.  Attempts lose their random id and its index, which
     * nothing read: they are found by delivery.
     */
    "DROP INDEX deliveries_queue;"
    "DROP INDEX deliveries_age;"
    "CREATE INDEX deliveries_pending ON deliveries(webhook_id, next_attempt_at, status)"
    "  WHERE status = 'pending';"
    "CREATE INDEX deliveries_pending_age ON deliveries(created_at, status)"
    "  WHERE status = 'pending';"
    "CREATE TABLE attempts_v3 ("
    "  delivery_id TEXT NOT NULL REFERENCES deliveries(id),"
    "  attempt_no INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  status_code INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  response_head TEXT"
    ");"
    "INSERT INTO attempts_v3 SELECT delivery_id, attempt_no, started_at, duration_ms,"
    "  status_code, error, response_head FROM attempts ORDER BY rowid;"
    "DROP TABLE attempts;"
    "ALTER TABLE attempts_v3 RENAME TO attempts;"
    "CREATE INDEX attempts_by_delivery ON attempts(delivery_id, attempt_no);",

    /*
     * 4: generations for the API's caches (src/api/cache.c).  Triggers bump
     * `webhooks` with every committed change to what webhook-list shows or
     * selects, and `auth` with every change to what authentication and
     * scope checks read, so a process that caches them notices changes made
     * by any process sharing the file with one read of this row.  Updates
     * of delivery bookkeeping (failing_since, secrets, disabled_reason)
     * leave the generation alone; disabling changes is_active and bumps it.
     * Inserts of keys, tokens, airmeets and sessions need no bump: the
     * caches hold only rows that were found.
     */
    "CREATE TABLE cache_generations ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  webhooks INTEGER NOT NULL,"
    "  auth INTEGER NOT NULL"
    ");"
    "INSERT INTO cache_generations (id, webhooks, auth) VALUES (1, 1, 1);"
    "CREATE TRIGGER cache_gen_webhook_insert AFTER INSERT ON webhooks"
    " BEGIN UPDATE cache_generations SET webhooks = webhooks + 1; END;"
    "CREATE TRIGGER cache_gen_webhook_delete AFTER DELETE ON webhooks"
    " BEGIN UPDATE cache_generations SET webhooks = webhooks + 1; END;"
    "CREATE TRIGGER cache_gen_webhook_update AFTER UPDATE ON webhooks"
    " WHEN old.id IS NOT new.id OR old.community_id IS NOT new.community_id"
    " OR old.trigger IS NOT new.trigger OR old.name IS NOT new.name"
    " OR old.description IS NOT new.description OR old.url IS NOT new.url"
    " OR old.platform_name IS NOT new.platform_name OR old.airmeet_id IS NOT new.airmeet_id"
    " OR old.session_id IS NOT new.session_id OR old.is_active IS NOT new.is_active"
    " OR old.meta_data IS NOT new.meta_data OR old.created_at IS NOT new.created_at"
    " OR old.updated_at IS NOT new.updated_at OR old.created_by IS NOT new.created_by"
    " OR old.updated_by IS NOT new.updated_by"
    " OR old.deregistered_at IS NOT new.deregistered_at"
    " BEGIN UPDATE cache_generations SET webhooks = webhooks + 1; END;"
    "CREATE TRIGGER cache_gen_key_update AFTER UPDATE ON access_keys"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_key_delete AFTER DELETE ON access_keys"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_token_update AFTER UPDATE ON tokens"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_token_delete AFTER DELETE ON tokens"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_airmeet_update AFTER UPDATE ON airmeets"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_airmeet_delete AFTER DELETE ON airmeets"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_session_update AFTER UPDATE ON sessions"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_session_delete AFTER DELETE ON sessions"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;",
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
#define EVENT_COLS                                                                                 \
    "id, community_id, trigger, airmeet_id, session_id, idempotency_key, data, created_at"
/* A delivery with its event's trigger: the order of row_delivery(). */
#define DELIVERY_COLS                                                                              \
    "d.id, d.event_id, d.webhook_id, e.trigger, d.status, d.attempts, d.next_attempt_at, "         \
    "d.lease_until, d.created_at, d.updated_at, d.last_status_code, d.last_error"
#define ATTEMPT_COLS "attempt_no, started_at, duration_ms, status_code, error, response_head"
/* The page condition of delivery_list: strictly older than the cursor row. */
#define LIST_PAGE                                                                                  \
    " AND (?2 IS NULL OR d.status = ?2) AND (d.created_at, d.id) < (?3, ?4)"                       \
    " ORDER BY d.created_at DESC, d.id DESC LIMIT ?5"

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_SAVEPOINT_RELEASE,
    ST_SAVEPOINT_ROLLBACK,
    ST_PING,
    ST_SETTING_GET,
    ST_SETTING_SET,
    ST_SETTING_ADD,
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
    ST_BEGIN_READ,
    ST_EVENT_FIND_KEY,
    ST_EVENT_COUNT_DELIVERIES,
    ST_EVENT_INSERT,
    ST_EVENT_FANOUT,
    ST_EVENT_GET,
    ST_EVENT_BODY,
    ST_DUE_NEXT,
    ST_WEBHOOK_LIVE,
    ST_CLAIM,
    ST_NEXT_DUE,
    ST_DELIVERY_RESULT,
    ST_ATTEMPT_INSERT,
    ST_WEBHOOK_SUCCEEDED,
    ST_WEBHOOK_FAILED,
    ST_WEBHOOK_AUTO_DISABLE,
    ST_DELIVERY_RELEASE,
    ST_DELIVERY_RELEASE_ALL,
    ST_DELIVERY_LIST_WEBHOOK,
    ST_DELIVERY_LIST_EVENT,
    ST_DELIVERY_GET,
    ST_ATTEMPT_LIST,
    ST_DELIVERY_RETRY,
    ST_WEBHOOK_DEREGISTERED_AT,
    ST_WEBHOOK_RECOVER,
    ST_WEBHOOK_ROTATE,
    ST_DELIVERY_STATS,
    ST_CACHE_GEN,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* Each publish of a batch under its own savepoint (publish_batch). */
    [ST_SAVEPOINT] = "SAVEPOINT pub",
    [ST_SAVEPOINT_RELEASE] = "RELEASE pub",
    [ST_SAVEPOINT_ROLLBACK] = "ROLLBACK TO pub",
    [ST_PING] = "SELECT 1",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_SETTING_ADD] = "INSERT INTO settings (key, value) VALUES (?1, ?2)",
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
    /* Nothing on a conflict: the caller then reads the active twin (see webhook_register). */
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks (" WEBHOOK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5,"
                          " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
                          " ?20, ?21) ON CONFLICT DO NOTHING",
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

    /* ---- events and deliveries ---- */
    [ST_BEGIN_READ] = "BEGIN", /* deferred: a consistent snapshot for multi-statement reads */
    [ST_EVENT_FIND_KEY] = "SELECT id FROM events WHERE community_id = ?1 AND idempotency_key = ?2",
    [ST_EVENT_COUNT_DELIVERIES] = "SELECT count(*) FROM deliveries WHERE event_id = ?1",
    [ST_EVENT_INSERT] =
        "INSERT INTO events (" EVENT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /*
     * The SPEC §4 match, as one INSERT ... SELECT over the webhooks_match
     * partial index.  An event without an airmeet binds ?5 as NULL, and
     * "w.airmeet_id = NULL" is never true: a webhook scoped to an airmeet does
     * not hear airmeet-less events.  The same holds for sessions.
     */
    [ST_EVENT_FANOUT] = "INSERT INTO deliveries (id, event_id, webhook_id, status, attempts,"
                        " next_attempt_at, lease_until, created_at, updated_at)"
                        " SELECT ah_uuid(), ?1, w.id, 'pending', 0, ?2, 0, ?2, ?2"
                        " FROM webhooks w INDEXED BY webhooks_match"
                        " WHERE w.community_id = ?3 AND w.trigger = ?4 AND w.is_active = 1"
                        " AND w.deregistered_at = 0"
                        " AND (w.airmeet_id IS NULL OR w.airmeet_id = ?5)"
                        " AND (w.session_id IS NULL OR w.session_id = ?6)"
                        " RETURNING webhook_id",
    [ST_EVENT_GET] = "SELECT " EVENT_COLS " FROM events WHERE id = ?1",
    [ST_EVENT_BODY] = "SELECT trigger, data FROM events WHERE id = ?1",
    /* One step of the skip-scan over deliveries_pending: the next webhook with pending work. */
    [ST_DUE_NEXT] = "SELECT webhook_id, next_attempt_at FROM deliveries"
                    " WHERE status = 'pending' AND webhook_id > ?1"
                    " ORDER BY webhook_id, next_attempt_at LIMIT 1",
    [ST_WEBHOOK_LIVE] = "SELECT is_active = 1 AND deregistered_at = 0 FROM webhooks WHERE id = ?1",
    [ST_CLAIM] = "UPDATE deliveries SET lease_until = ?1 WHERE id IN ("
                 "SELECT id FROM deliveries WHERE status = 'pending' AND webhook_id = ?2"
                 " AND next_attempt_at <= ?3 AND lease_until < ?3"
                 " ORDER BY next_attempt_at LIMIT ?4)"
                 " RETURNING id, event_id, attempts, next_attempt_at",
    [ST_NEXT_DUE] = "SELECT next_attempt_at FROM deliveries"
                    " WHERE status = 'pending' AND webhook_id = ?1 AND lease_until < ?2"
                    " ORDER BY next_attempt_at LIMIT 1",
    /*
     * One attempt's consequence for its delivery.  Only a pending delivery
     * changes status (a cancelled or already succeeded one keeps it); SET
     * expressions all see the old row, so the CASEs test the old status.
     */
    [ST_DELIVERY_RESULT] = "UPDATE deliveries SET attempts = ?2, last_status_code = ?3,"
                           " last_error = ?4, updated_at = ?5, lease_until = 0,"
                           " next_attempt_at = CASE WHEN status = 'pending' AND ?6 = 'pending'"
                           " THEN ?7 ELSE next_attempt_at END,"
                           " status = CASE WHEN status = 'pending' THEN ?6 ELSE status END"
                           " WHERE id = ?1 RETURNING webhook_id",
    [ST_ATTEMPT_INSERT] = "INSERT INTO attempts (delivery_id, " ATTEMPT_COLS ")"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_WEBHOOK_SUCCEEDED] = "UPDATE webhooks SET failing_since = 0"
                             " WHERE id = ?1 AND failing_since <> 0",
    [ST_WEBHOOK_FAILED] =
        "UPDATE webhooks SET failing_since = ?2 WHERE id = ?1 AND failing_since = 0",
    /* The first reason sticks: an already disabled webhook is left alone. */
    [ST_WEBHOOK_AUTO_DISABLE] = "UPDATE webhooks SET is_active = 0, disabled_reason = ?2,"
                                " updated_at = ?3"
                                " WHERE id = ?1 AND is_active = 1 AND deregistered_at = 0",
    [ST_DELIVERY_RELEASE] = "UPDATE deliveries SET lease_until = 0 WHERE id = ?1",
    [ST_DELIVERY_RELEASE_ALL] = "UPDATE deliveries SET lease_until = 0"
                                " WHERE status = 'pending' AND lease_until <> 0",
    [ST_DELIVERY_LIST_WEBHOOK] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                                 " JOIN events e ON e.id = d.event_id"
                                 " WHERE d.webhook_id = ?1" LIST_PAGE,
    [ST_DELIVERY_LIST_EVENT] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                               " JOIN events e ON e.id = d.event_id"
                               " WHERE d.event_id = ?1" LIST_PAGE,
    [ST_DELIVERY_GET] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                        " JOIN events e ON e.id = d.event_id WHERE d.id = ?1",
    [ST_ATTEMPT_LIST] = "SELECT " ATTEMPT_COLS " FROM attempts WHERE delivery_id = ?1"
                        " ORDER BY attempt_no, started_at",
    /*
     * Pending again and due now, whatever the state.  A delivery that is
     * pending and leased keeps its lease: it is in flight, and clearing the
     * lease would let a second dispatcher send it at the same time.
     */
    [ST_DELIVERY_RETRY] = "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2,"
                          " updated_at = ?2,"
                          " lease_until = CASE WHEN status = 'pending' THEN lease_until ELSE 0 END"
                          " WHERE id = ?1 RETURNING webhook_id",
    [ST_WEBHOOK_DEREGISTERED_AT] = "SELECT deregistered_at FROM webhooks WHERE id = ?1",
    /* The webhook's deliveries since `since`, of which the failed ones. */
    [ST_WEBHOOK_RECOVER] = "UPDATE deliveries INDEXED BY deliveries_by_webhook"
                           " SET status = 'pending', next_attempt_at = ?3,"
                           " updated_at = ?3, lease_until = 0"
                           " WHERE webhook_id = ?1 AND status = 'failed' AND created_at >= ?2",
    [ST_WEBHOOK_ROTATE] = "UPDATE webhooks SET prev_secret = secret, prev_secret_until = ?3,"
                          " secret = ?2, updated_at = ?4"
                          " WHERE id = ?1 AND deregistered_at = 0",
    /*
     * Both halves in one statement, so one snapshot.  The count walks the
     * pending entries of deliveries_pending_age; the oldest is its first entry.
     */
    [ST_DELIVERY_STATS] = "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'),"
                          " (SELECT created_at FROM deliveries WHERE status = 'pending'"
                          " ORDER BY created_at LIMIT 1)",
    [ST_CACHE_GEN] = "SELECT webhooks, auth FROM cache_generations WHERE id = 1",
};

/* ------------------------------------------------------------------------ */
/* The store and its connection pool.                                        */

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    struct conn *next_idle; /* the pool's idle list */
    struct conn *next_all;  /* every open connection, for close */
    bool is_writer;         /* the store's writer connection (acquire_writer) */
} conn_t;

typedef struct sqlite_store {
    ah_store_t base; /* first: callers hold &base */
    char *path;      /* as given, for messages */
    char *uri;       /* what sqlite3_open_v2 opens */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection goes idle or a slot frees */
    conn_t *idle;
    conn_t *all;
    int n_conns;              /* open or being opened */
    pthread_mutex_t write_mu; /* one write transaction at a time in this process */
    conn_t *writer;           /* the connection every write transaction uses; under write_mu */
    /* cache_gen's shortcut: the WAL-index header at its last read, and what it read. */
    const volatile unsigned char *wal_index; /* SQLite's mapping of it; NULL: none */
    pthread_mutex_t gen_mu;
    bool gen_known;
    unsigned char gen_hdr[48];
    ah_cache_gen_t gen;
    /* Group commit of publishes (see publish_thread()). */
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;      /* jobs queued, or stop: for the publisher */
    pthread_cond_t pub_done_cv; /* a synchronous job is done */
    struct pub_job *pub_head, **pub_tail;
    bool pub_started, pub_stop;
    pthread_t pub_thread;
    /* Background checkpoints (file databases; see checkpointer()). */
    bool bg_checkpoint;
    bool ckpt_started;      /* ckpt_thread runs */
    _Atomic int wal_frames; /* frames in the WAL after the last commit (wal_hook) */
    bool ckpt_stop;
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
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

/*
 * ah_uuid(): a fresh UUID v4 per call, so that INSERT ... SELECT can give
 * every row its own id inside SQL.  Not deterministic (SQLite evaluates it
 * once per row); innocuous (no side effects beyond randomness).
 */
static void sql_uuid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    char id[AH_ID_SIZE];
    ah_uuid_v4(id);
    sqlite3_result_text(ctx, id, AH_ID_LEN, SQLITE_TRANSIENT);
}

/* After each commit in WAL mode (sqlite3_wal_hook): the WAL's length, for checkpointer(). */
static int wal_committed(void *arg, sqlite3 *db, const char *name, int n_frames)
{
    (void)db;
    (void)name;
    sqlite_store_t *s = arg;
    atomic_store_explicit(&s->wal_frames, n_frames, memory_order_relaxed);
    return SQLITE_OK;
}

/* Opens one connection and applies the per-connection settings. */
static int conn_open(sqlite_store_t *s, conn_t **out, char *err, size_t errlen)
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
    /*
     * temp_store = MEMORY keeps the small ephemeral tables of RETURNING and
     * IN (subquery) out of /var/tmp files (an open/unlink pair every other
     * publish otherwise).
     */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db,
                          "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
                          " PRAGMA cache_size = " CACHE_KIB "; PRAGMA temp_store = MEMORY;"
                          " PRAGMA wal_autocheckpoint = " WAL_CHECKPOINT_PAGES ";",
                          NULL, NULL, NULL);
    /*
     * With background checkpoints no commit checkpoints under the write
     * lock; each commit only tells the checkpointer how long the WAL is.
     */
    if (rc == SQLITE_OK && s->bg_checkpoint)
        sqlite3_wal_hook(c->db, wal_committed, s);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function_v2(c->db, "ah_uuid", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, NULL,
                                        sql_uuid, NULL, NULL, NULL);
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

static int run_id(conn_t *c, enum stmt_id id);

static void release(sqlite_store_t *s, conn_t *c)
{
    /* A transaction left open by an error path must not leak into the next user. */
    if (!sqlite3_get_autocommit(c->db))
        run_id(c, ST_ROLLBACK);
    if (c->is_writer) { /* not pooled: giving up write_mu gives it back */
        pthread_mutex_unlock(&s->write_mu);
        return;
    }
    pthread_mutex_lock(&s->mu);
    c->next_idle = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/*
 * The writer connection: every write transaction of this process runs on one
 * connection, borrowed by taking write_mu (they are serialised anyway).  A
 * commit by one connection invalidates the page caches of all the others, so
 * with writes spread over the pool each writer re-read most of the pages it
 * touched (measured: ~35 pread64 per published event while delivery ran,
 * against 1-2 on one connection).  Opened on first use; release() gives it
 * back.  Reads stay on the pool.
 */
static int acquire_writer(sqlite_store_t *s, conn_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->write_mu);
    if (!s->writer) {
        char err[512];
        conn_t *c;
        int rc = conn_open(s, &c, err, sizeof err);
        if (rc) {
            pthread_mutex_unlock(&s->write_mu);
            ah_logf(AH_LOG_WARN, "sqlite: %s", err);
            return rc;
        }
        c->is_writer = true;
        pthread_mutex_lock(&s->mu);
        c->next_all = s->all;
        s->all = c;
        pthread_mutex_unlock(&s->mu);
        s->writer = c;
    }
    *out = s->writer;
    return AH_OK;
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
static int borrow_for(sqlite_store_t *s, bool write, enum stmt_id id, conn_t **c, sqlite3_stmt **st)
{
    int rc = write ? acquire_writer(s, c) : acquire(s, c);
    if (rc)
        return rc;
    rc = prepare(*c, id, st);
    if (rc)
        release(s, *c);
    return rc;
}

static int borrow(sqlite_store_t *s, enum stmt_id id, conn_t **c, sqlite3_stmt **st)
{
    return borrow_for(s, false, id, c, st);
}

/* The same for a statement that writes: on the writer connection, under write_mu. */
static int borrow_writer(sqlite_store_t *s, enum stmt_id id, conn_t **c, sqlite3_stmt **st)
{
    return borrow_for(s, true, id, c, st);
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

/*
 * Transactions: BEGIN IMMEDIATE, then COMMIT if rc is AH_OK, else ROLLBACK.
 *
 * Write transactions run on the writer connection (acquire_writer), under
 * the store's write_mu, so that they queue on a mutex and hand over at once
 * instead of colliding on the database lock: SQLite's busy handler retries
 * by sleeping (1, 2, 5, 10 ... ms), which under a steady stream of writers
 * costs more than the transactions themselves.  busy_timeout still covers
 * other processes.  Nothing acquires a pooled connection while holding
 * write_mu, so the two cannot deadlock.
 */
static int tx_begin(conn_t *c)
{
    return run_id(c, ST_BEGIN);
}

/* Ends a write transaction (tx_begin) or a read one (ST_BEGIN_READ). */
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

static int setting_write(ah_store_t *base, enum stmt_id id, const char *key, const char *value)
{
    if (!key || !value)
        return AH_EINVAL;
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow_writer(s, id, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, key) || bind_str(st, 2, value))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int setting_set(ah_store_t *base, const char *key, const char *value)
{
    return setting_write(base, ST_SETTING_SET, key, value);
}

static int setting_add(ah_store_t *base, const char *key, const char *value)
{
    return setting_write(base, ST_SETTING_ADD, key, value);
}

/* Binds a record's fields to a write statement; nonzero on failure. */
typedef int (*bind_fn)(sqlite3_stmt *st, const void *arg);

/* Runs one write statement on a borrowed connection: bind with fn, step. */
static int exec_with(ah_store_t *base, enum stmt_id id, bind_fn fn, const void *arg)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow_writer(s, id, &c, &st);
    if (rc)
        return rc;
    if (fn(st, arg))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    release(s, c);
    return rc;
}

static int bind_community(sqlite3_stmt *st, const void *arg)
{
    const ah_community_t *cm = arg;
    return BIND_OPT_FIELD(st, 1, cm->id) || BIND_FIELD(st, 2, cm->name) ||
           sqlite3_bind_int64(st, 3, cm->created_at);
}

static int community_create(ah_store_t *base, const ah_community_t *cm)
{
    return exec_with(base, ST_COMMUNITY_INSERT, bind_community, cm);
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

static int bind_access_key(sqlite3_stmt *st, const void *arg)
{
    const ah_access_key_t *k = arg;
    return BIND_OPT_FIELD(st, 1, k->id) || BIND_OPT_FIELD(st, 2, k->community_id) ||
           BIND_FIELD(st, 3, k->label) || BIND_OPT_FIELD(st, 4, k->access_key) ||
           BIND_OPT_FIELD(st, 5, k->secret_hash) || sqlite3_bind_int64(st, 6, k->created_at) ||
           sqlite3_bind_int64(st, 7, k->revoked_at);
}

static int access_key_create(ah_store_t *base, const ah_access_key_t *k)
{
    return exec_with(base, ST_KEY_INSERT, bind_access_key, k);
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
    int rc = borrow_writer(s, ST_KEY_REVOKE, &c, &st);
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

static int bind_token(sqlite3_stmt *st, const void *arg)
{
    const ah_token_t *t = arg;
    return BIND_OPT_FIELD(st, 1, t->token_hash) || BIND_OPT_FIELD(st, 2, t->key_id) ||
           BIND_OPT_FIELD(st, 3, t->community_id) || BIND_FIELD(st, 4, t->label) ||
           sqlite3_bind_int64(st, 5, t->created_at) || sqlite3_bind_int64(st, 6, t->expires_at);
}

static int token_create(ah_store_t *base, const ah_token_t *t)
{
    return exec_with(base, ST_TOKEN_INSERT, bind_token, t);
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
    int rc = borrow_writer(s, ST_TOKEN_PURGE, &c, &st);
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

static int bind_airmeet(sqlite3_stmt *st, const void *arg)
{
    const ah_airmeet_t *a = arg;
    return BIND_OPT_FIELD(st, 1, a->id) || BIND_OPT_FIELD(st, 2, a->community_id) ||
           BIND_FIELD(st, 3, a->name) || sqlite3_bind_int64(st, 4, a->start_time) ||
           sqlite3_bind_int64(st, 5, a->end_time) || sqlite3_bind_int64(st, 6, a->created_at);
}

static int airmeet_create(ah_store_t *base, const ah_airmeet_t *a)
{
    return exec_with(base, ST_AIRMEET_INSERT, bind_airmeet, a);
}

static int airmeet_get(ah_store_t *base, const char *id, ah_airmeet_t *out)
{
    return get_by(base, ST_AIRMEET_GET, id, row_airmeet, out);
}

static int bind_session(sqlite3_stmt *st, const void *arg)
{
    const ah_session_t *ss = arg;
    return BIND_OPT_FIELD(st, 1, ss->id) || BIND_OPT_FIELD(st, 2, ss->airmeet_id) ||
           BIND_OPT_FIELD(st, 3, ss->community_id) || BIND_FIELD(st, 4, ss->name) ||
           sqlite3_bind_int64(st, 5, ss->created_at);
}

static int session_create(ah_store_t *base, const ah_session_t *ss)
{
    return exec_with(base, ST_SESSION_INSERT, bind_session, ss);
}

static int session_get(ah_store_t *base, const char *id, ah_session_t *out)
{
    return get_by(base, ST_SESSION_GET, id, row_session, out);
}

/* The active webhook with w's tuple, if any, into *out. */
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

/*
 * Inserts w unless it conflicts (an active twin, or its id taken); *inserted
 * says which.  One statement in autocommit, so its own transaction, on the
 * writer connection like every write of this process (acquire_writer), whose
 * page cache holds the webhooks indexes from the previous registration.
 */
static int insert_webhook(sqlite_store_t *s, const ah_webhook_t *w, bool *inserted)
{
    *inserted = false;
    conn_t *c;
    sqlite3_stmt *st;
    int rc = acquire_writer(s, &c);
    if (rc)
        return rc;
    rc = prepare(c, ST_WEBHOOK_INSERT, &st);
    if (rc == AH_OK && bind_webhook(st, w)) {
        rc = bind_failed(c, st);
    } else if (rc == AH_OK) {
        rc = run(c, st);
        /* changes() leaves out the rows the cache-generation triggers touch. */
        *inserted = rc == AH_OK && sqlite3_changes(c->db) == 1;
    }
    release(s, c);
    return rc;
}

#define REGISTER_TRIES 3

/*
 * Registration in the common case, a new webhook, is the one INSERT: the
 * partial unique index of active tuples (webhooks_active_tuple) is the
 * duplicate check, and ON CONFLICT DO NOTHING turns a twin into no row
 * instead of an error.  Only then is the twin read; it committed before our
 * insert got the write lock, so it is there, unless it was deregistered in
 * between, and then the insert is tried again.  (This replaced BEGIN
 * IMMEDIATE, a SELECT, the INSERT and COMMIT: a third of the CPU of a
 * registration.)  An id that is taken (UUIDs do not collide in practice)
 * ends as AH_EEXISTS.
 */
static int webhook_register(ah_store_t *base, const ah_webhook_t *w, ah_webhook_t *out,
                            bool *existed)
{
    sqlite_store_t *s = from(base);
    ah_webhook_t *dup = NULL;
    bool found = false, inserted = false;
    int rc = AH_OK;
    for (int tries = 0; tries < REGISTER_TRIES && !found && !inserted; tries++) {
        rc = insert_webhook(s, w, &inserted);
        if (rc || inserted)
            break;
        if (!dup && !(dup = malloc(sizeof *dup))) { /* ~7 KiB: keep it off the stack */
            rc = AH_ENOMEM;
            break;
        }
        conn_t *c;
        if ((rc = acquire(s, &c)))
            break;
        rc = find_active_duplicate(c, w, dup);
        release(s, c);
        found = rc == AH_OK;
        if (rc != AH_OK && rc != AH_ENOTFOUND)
            break;
        rc = found ? AH_OK : AH_EEXISTS;
    }
    if (rc == AH_OK) {
        if (found)
            *out = *dup;
        else if (out != w)
            *out = *w;
        if (existed)
            *existed = found;
    }
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
    int rc = acquire_writer(s, &c);
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
    int rc = borrow_writer(s, ST_WEBHOOK_SET_ACTIVE, &c, &st);
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

/* ------------------------------------------------------------------------ */
/* Events and deliveries.                                                    */
/*
 * The queue is the deliveries table itself: a pending row is work, due at
 * next_attempt_at, and a dispatcher that takes it sets lease_until; until
 * then nobody else may claim it, after that anyone may (the holder died).
 * Recording an attempt clears the lease.  Writers that read first
 * (publish, claim, record, recover) run in BEGIN IMMEDIATE; multi-statement
 * reads (the due-webhook walk, a delivery with its attempts, claim bodies)
 * run in a deferred BEGIN so they see one snapshot and take the WAL read
 * lock once.
 */

#define CLAIM_MAX 10000       /* most deliveries one claim hands out */
#define DELIVERY_PAGE_MAX 500 /* most rows one delivery_list page holds */
#define CURSOR_NUM_MAX 20     /* digits (and sign) of the cursor's time */

static void row_i64(sqlite3_stmt *st, void *out)
{
    *(int64_t *)out = sqlite3_column_int64(st, 0);
}

/* Column 0 as an id, into a char[AH_ID_SIZE]. */
static void row_id(sqlite3_stmt *st, void *out)
{
    col_copy(st, 0, out, AH_ID_SIZE);
}

/* A bounded id field copied into another, always terminated. */
static void copy_id(char dst[AH_ID_SIZE], const char src[AH_ID_SIZE])
{
    size_t n = strnlen(src, AH_ID_SIZE - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Copies a text column into a malloc'd, NUL-terminated buffer. */
static int col_dup(sqlite3_stmt *st, int col, char **out, size_t *len)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    size_t n = v ? (size_t)sqlite3_column_bytes(st, col) : 0;
    char *p = malloc(n + 1);
    if (!p)
        return AH_ENOMEM;
    if (n)
        memcpy(p, v, n);
    p[n] = '\0';
    *out = p;
    *len = n;
    return AH_OK;
}

static void row_delivery(sqlite3_stmt *st, void *out)
{
    ah_delivery_t *d = out;
    memset(d, 0, sizeof *d);
    COL_COPY(st, 0, d->id);
    COL_COPY(st, 1, d->event_id);
    COL_COPY(st, 2, d->webhook_id);
    COL_COPY(st, 3, d->trigger);
    d->status = ah_delivery_status_parse((const char *)sqlite3_column_text(st, 4));
    d->attempts = sqlite3_column_int(st, 5);
    d->next_attempt_at = sqlite3_column_int64(st, 6);
    d->lease_until = sqlite3_column_int64(st, 7);
    d->created_at = sqlite3_column_int64(st, 8);
    d->updated_at = sqlite3_column_int64(st, 9);
    d->last_status_code = sqlite3_column_int(st, 10);
    COL_COPY(st, 11, d->last_error);
}

static void row_attempt(sqlite3_stmt *st, void *out)
{
    ah_attempt_t *a = out;
    memset(a, 0, sizeof *a);
    a->attempt_no = sqlite3_column_int(st, 0);
    a->started_at = sqlite3_column_int64(st, 1);
    a->duration_ms = sqlite3_column_int64(st, 2);
    a->status_code = sqlite3_column_int(st, 3);
    COL_COPY(st, 4, a->error);
    COL_COPY(st, 5, a->response_head);
}

/* Runs fn inside a deferred (read) transaction on c. */
static int in_read_tx(conn_t *c, int (*fn)(conn_t *c, void *arg), void *arg)
{
    int rc = run_id(c, ST_BEGIN_READ);
    if (rc)
        return rc;
    return tx_end(c, fn(c, arg));
}

/* ---- publish ---- */

/*
 * Inside the publish transaction: if ev's idempotency key was used before in
 * its community, fills res as a duplicate; AH_ENOTFOUND if not.
 */
static int find_duplicate(conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_EVENT_FIND_KEY, &st);
    if (rc)
        return rc;
    if (BIND_FIELD(st, 1, ev->community_id) || BIND_FIELD(st, 2, ev->idempotency_key))
        return bind_failed(c, st);
    rc = fetch_one(c, st, row_id, res->event_id);
    if (rc)
        return rc;
    rc = prepare(c, ST_EVENT_COUNT_DELIVERIES, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, res->event_id))
        return bind_failed(c, st);
    int64_t count = 0;
    rc = fetch_one(c, st, row_i64, &count);
    if (rc)
        return rc;
    res->duplicate = true;
    res->n_deliveries = (size_t)count;
    return AH_OK;
}

static int insert_event(conn_t *c, const ah_event_t *ev)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_EVENT_INSERT, &st);
    if (rc)
        return rc;
    int b = BIND_OPT_FIELD(st, 1, ev->id);
    if (!b)
        b = BIND_OPT_FIELD(st, 2, ev->community_id);
    if (!b)
        b = BIND_FIELD(st, 3, ev->trigger);
    if (!b)
        b = BIND_OPT_FIELD(st, 4, ev->airmeet_id);
    if (!b)
        b = BIND_OPT_FIELD(st, 5, ev->session_id);
    if (!b)
        b = BIND_OPT_FIELD(st, 6, ev->idempotency_key);
    if (!b) /* NULL data binds NULL, which NOT NULL refuses (AH_EINVAL) */
        b = sqlite3_bind_text64(st, 7, ev->data, ev->data_len, SQLITE_STATIC, SQLITE_UTF8);
    if (!b)
        b = sqlite3_bind_int64(st, 8, ev->created_at);
    if (b == SQLITE_TOOBIG) {
        finish(st);
        return AH_ETOOBIG;
    }
    if (b)
        return bind_failed(c, st);
    return run(c, st);
}

/* Inside the publish transaction: one pending delivery per matching webhook. */
static int fan_out(conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_EVENT_FANOUT, &st);
    if (rc)
        return rc;
    if (BIND_FIELD(st, 1, ev->id) || sqlite3_bind_int64(st, 2, ev->created_at) ||
        BIND_FIELD(st, 3, ev->community_id) || BIND_FIELD(st, 4, ev->trigger) ||
        BIND_OPT_FIELD(st, 5, ev->airmeet_id) || BIND_OPT_FIELD(st, 6, ev->session_id))
        return bind_failed(c, st);
    void *ids;
    rc = fetch_all(c, st, row_id, AH_ID_SIZE, &ids, &res->n_deliveries);
    res->webhook_ids = ids;
    return rc;
}

/*
 * Group commit.  A commit costs far more than the statements of one
 * publish (every page it dirtied goes to the WAL), so publishes share
 * transactions: callers queue jobs, and one publisher thread (started on the
 * first publish) takes every queued job, runs them in one transaction (each
 * under its own savepoint, so one bad event fails alone), commits, and then
 * tells each caller.  Jobs queue while it commits, so the batch grows with
 * the load.  event_publish_async hands the answer to a callback (the HTTP
 * layer suspends the request meanwhile, so waiting publishes hold no
 * listener thread: with two listener threads, waiting callers alone never
 * made batches larger than two); event_publish waits for it.  No caller
 * hears of its event before the commit that holds it.
 */
struct pub_job {
    const ah_event_t *ev;
    ah_publish_result_t *res;
    int rc;
    bool done; /* event_publish's own job: set under pub_mu when finished */
    bool heap; /* event_publish_async's: freed by the publisher */
    void (*cb)(void *arg, int rc);
    void *arg;
    struct pub_job *next;
};

#define PUB_BATCH_MAX 256

static int publish_one(conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    int rc = ev->idempotency_key[0] ? find_duplicate(c, ev, res) : AH_ENOTFOUND;
    if (rc != AH_ENOTFOUND)
        return rc;
    rc = insert_event(c, ev);
    if (rc == AH_OK)
        rc = fan_out(c, ev, res);
    if (rc == AH_OK)
        copy_id(res->event_id, ev->id);
    return rc;
}

static void job_failed(struct pub_job *j, int rc)
{
    free(j->res->webhook_ids);
    memset(j->res, 0, sizeof *j->res);
    j->rc = rc;
}

/* Runs a batch of jobs in one transaction; sets each job's rc. */
static void publish_batch(sqlite_store_t *s, struct pub_job *batch)
{
    conn_t *c;
    int rc = acquire_writer(s, &c);
    if (rc == AH_OK && (rc = tx_begin(c)) != AH_OK)
        release(s, c);
    if (rc) {
        for (struct pub_job *j = batch; j; j = j->next)
            job_failed(j, rc);
        return;
    }
    for (struct pub_job *j = batch; j && rc == AH_OK; j = j->next) {
        if ((rc = run_id(c, ST_SAVEPOINT)) != AH_OK)
            break;
        j->rc = publish_one(c, j->ev, j->res);
        /*
         * A bad event is undone alone; but an error that made SQLite roll
         * back the whole transaction (I/O, disk full, out of memory) leaves
         * no savepoint to return to, and then the batch fails as a whole:
         * going on would commit the rest one by one outside it.
         */
        if (j->rc && (run_id(c, ST_SAVEPOINT_ROLLBACK) != AH_OK || sqlite3_get_autocommit(c->db)))
            rc = j->rc;
        if (rc == AH_OK)
            rc = run_id(c, ST_SAVEPOINT_RELEASE);
        if (j->rc)
            job_failed(j, j->rc);
    }
    rc = tx_end(c, rc);
    release(s, c);
    if (rc) /* nothing of the batch was committed */
        for (struct pub_job *j = batch; j; j = j->next)
            if (!j->rc)
                job_failed(j, rc);
}

static void *publish_thread(void *arg)
{
    sqlite_store_t *s = arg;
    pthread_mutex_lock(&s->pub_mu);
    for (;;) {
        while (!s->pub_head && !s->pub_stop)
            pthread_cond_wait(&s->pub_cv, &s->pub_mu);
        if (!s->pub_head)
            break; /* stopping, and nothing left */
        struct pub_job *batch = s->pub_head, **cut = &s->pub_head;
        for (int n = 0; *cut && n < PUB_BATCH_MAX; n++)
            cut = &(*cut)->next;
        s->pub_head = *cut;
        *cut = NULL;
        if (!s->pub_head)
            s->pub_tail = &s->pub_head;
        pthread_mutex_unlock(&s->pub_mu);

        publish_batch(s, batch);

        bool woke = false;
        for (struct pub_job *j = batch, *next; j; j = next) {
            next = j->next; /* j may vanish once its caller hears */
            if (j->heap) {
                j->cb(j->arg, j->rc);
                free(j);
            } else {
                pthread_mutex_lock(&s->pub_mu);
                j->done = true;
                pthread_mutex_unlock(&s->pub_mu);
                woke = true;
            }
        }
        if (woke)
            pthread_cond_broadcast(&s->pub_done_cv);
        pthread_mutex_lock(&s->pub_mu);
    }
    pthread_mutex_unlock(&s->pub_mu);
    return NULL;
}

/* Queues j for the publisher, starting it if need be; AH_ENOMEM if it cannot start. */
static int queue_job(sqlite_store_t *s, struct pub_job *j)
{
    pthread_mutex_lock(&s->pub_mu);
    if (s->pub_stop) { /* the store is closing: nobody would run it */
        pthread_mutex_unlock(&s->pub_mu);
        return AH_EUNAVAIL;
    }
    if (!s->pub_started) {
        if (pthread_create(&s->pub_thread, NULL, publish_thread, s)) {
            pthread_mutex_unlock(&s->pub_mu);
            return AH_ENOMEM;
        }
        s->pub_started = true;
    }
    *s->pub_tail = j;
    s->pub_tail = &j->next;
    pthread_cond_signal(&s->pub_cv);
    pthread_mutex_unlock(&s->pub_mu);
    return AH_OK;
}

static void event_publish_async(ah_store_t *base, const ah_event_t *ev, ah_publish_result_t *res,
                                void (*done)(void *arg, int rc), void *arg)
{
    memset(res, 0, sizeof *res);
    struct pub_job *j = calloc(1, sizeof *j);
    int rc = !ev ? AH_EINVAL : !j ? AH_ENOMEM : AH_OK;
    if (rc == AH_OK) {
        *j = (struct pub_job){.ev = ev, .res = res, .heap = true, .cb = done, .arg = arg};
        rc = queue_job(from(base), j);
    }
    if (rc) {
        free(j);
        done(arg, rc);
    }
}

static int event_publish(ah_store_t *base, const ah_event_t *ev, ah_publish_result_t *res)
{
    if (!res)
        return AH_EINVAL;
    memset(res, 0, sizeof *res);
    if (!ev)
        return AH_EINVAL;
    sqlite_store_t *s = from(base);
    struct pub_job job = {.ev = ev, .res = res};
    int rc = queue_job(s, &job);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->pub_mu);
    while (!job.done)
        pthread_cond_wait(&s->pub_done_cv, &s->pub_mu);
    pthread_mutex_unlock(&s->pub_mu);
    return job.rc;
}

/* Lets the publisher finish what is queued, then joins it. */
static void stop_publisher(sqlite_store_t *s)
{
    pthread_mutex_lock(&s->pub_mu);
    bool started = s->pub_started;
    s->pub_stop = true;
    pthread_cond_signal(&s->pub_cv);
    pthread_mutex_unlock(&s->pub_mu);
    if (started)
        pthread_join(s->pub_thread, NULL);
}

static int event_get(ah_store_t *base, const char *id, ah_event_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_EVENT_GET, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id)) {
        rc = bind_failed(c, st);
    } else {
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            COL_COPY(st, 0, out->id);
            COL_COPY(st, 1, out->community_id);
            COL_COPY(st, 2, out->trigger);
            COL_COPY(st, 3, out->airmeet_id);
            COL_COPY(st, 4, out->session_id);
            COL_COPY(st, 5, out->idempotency_key);
            rc = col_dup(st, 6, &out->data, &out->data_len);
            out->created_at = sqlite3_column_int64(st, 7);
        } else {
            rc = step == SQLITE_DONE ? AH_ENOTFOUND : db_error(c->db, step, "event_get");
        }
        finish(st);
    }
    release(s, c);
    return rc;
}

/* ---- finding and claiming work ---- */

/* 1 in *live when the webhook is active and not deregistered; AH_ENOTFOUND if missing. */
static int webhook_live(conn_t *c, const char *id, bool *live)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_WEBHOOK_LIVE, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id))
        return bind_failed(c, st);
    int64_t v = 0;
    rc = fetch_one(c, st, row_i64, &v);
    *live = rc == AH_OK && v != 0;
    return rc;
}

typedef struct due_walk {
    ah_due_t *arr;
    size_t len;
} due_walk_t;

/*
 * The skip-scan: each step is one probe of deliveries_pending for the first
 * pending row of the next webhook id, so the cost is per webhook, not per
 * pending delivery.
 */
static void row_due(sqlite3_stmt *st, void *out)
{
    ah_due_t *d = out;
    COL_COPY(st, 0, d->webhook_id);
    d->next_due = sqlite3_column_int64(st, 1);
}

static int walk_due(conn_t *c, void *arg)
{
    due_walk_t *w = arg;
    size_t cap = 0;
    char after[AH_ID_SIZE] = "";
    sqlite3_stmt *st;
    int rc = prepare(c, ST_DUE_NEXT, &st);
    while (rc == AH_OK) {
        ah_due_t d = {0};
        if (bind_str(st, 1, after))
            return bind_failed(c, st);
        rc = fetch_one(c, st, row_due, &d);
        if (rc == AH_ENOTFOUND)
            return AH_OK; /* no webhook after `after` has pending work */
        if (rc)
            return rc;
        /* Ids are at most 36 bytes; a longer one would never advance the walk. */
        if (strcmp(d.webhook_id, after) <= 0) {
            ah_logf(AH_LOG_WARN, "sqlite: due_webhooks: webhook id %s does not advance the walk",
                    d.webhook_id);
            return AH_ESTORE;
        }
        copy_id(after, d.webhook_id);
        bool live = false;
        rc = webhook_live(c, d.webhook_id, &live);
        if (rc == AH_ENOTFOUND) /* impossible with foreign keys on; skip it */
            rc = AH_OK;
        if (rc || !live)
            continue;
        if (w->len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *p = realloc(w->arr, ncap * sizeof *w->arr);
            if (!p)
                return AH_ENOMEM;
            w->arr = p;
            cap = ncap;
        }
        w->arr[w->len++] = d;
    }
    return rc;
}

static int delivery_due_webhooks(ah_store_t *base, ah_due_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    due_walk_t w = {0};
    rc = in_read_tx(c, walk_due, &w);
    release(s, c);
    if (rc) {
        free(w.arr);
        return rc;
    }
    *out = w.arr;
    *n = w.len;
    return AH_OK;
}

/* A claimed delivery and its due time, which orders the claims. */
typedef struct claim_row {
    int64_t due;
    ah_claim_t claim;
} claim_row_t;

static int cmp_claim_row(const void *pa, const void *pb)
{
    const claim_row_t *a = pa, *b = pb;
    if (a->due != b->due)
        return a->due < b->due ? -1 : 1;
    return strcmp(a->claim.delivery_id, b->claim.delivery_id);
}

static int cmp_claim_event(const void *pa, const void *pb)
{
    const ah_claim_t *const *a = pa, *const *b = pb;
    return strcmp((*a)->event_id, (*b)->event_id);
}

/* Inside the claim transaction: leases up to max due deliveries into *rows. */
static int lease_due(conn_t *c, const char *webhook_id, int64_t now, int64_t lease_until,
                     size_t max, claim_row_t **rows, size_t *n)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_CLAIM, &st);
    if (rc)
        return rc;
    if (sqlite3_bind_int64(st, 1, lease_until) || bind_str(st, 2, webhook_id) ||
        sqlite3_bind_int64(st, 3, now) || sqlite3_bind_int64(st, 4, (int64_t)max))
        return bind_failed(c, st);
    claim_row_t *arr = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_error(c->db, step, "claim");
            break;
        }
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : (max < 32 ? max : 32);
            void *p = realloc(arr, ncap * sizeof *arr);
            if (!p) {
                rc = AH_ENOMEM;
                break;
            }
            arr = p;
            cap = ncap;
        }
        claim_row_t *r = &arr[len++];
        memset(r, 0, sizeof *r);
        COL_COPY(st, 0, r->claim.delivery_id);
        COL_COPY(st, 1, r->claim.event_id);
        r->claim.attempts = sqlite3_column_int(st, 2);
        r->due = sqlite3_column_int64(st, 3);
    }
    finish(st);
    if (rc) {
        free(arr);
        return rc;
    }
    *rows = arr;
    *n = len;
    return AH_OK;
}

/* The earliest due time among the webhook's unleased pending deliveries, or 0. */
static int next_due_at(conn_t *c, const char *webhook_id, int64_t now, int64_t *out)
{
    sqlite3_stmt *st;
    *out = 0;
    int rc = prepare(c, ST_NEXT_DUE, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, webhook_id) || sqlite3_bind_int64(st, 2, now))
        return bind_failed(c, st);
    rc = fetch_one(c, st, row_i64, out);
    return rc == AH_ENOTFOUND ? AH_OK : rc;
}

static int load_body(conn_t *c, ah_claim_t *cl)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_EVENT_BODY, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, cl->event_id))
        return bind_failed(c, st);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        COL_COPY(st, 0, cl->trigger);
        rc = col_dup(st, 1, &cl->data, &cl->data_len);
    } else {
        rc = step == SQLITE_DONE ? AH_ENOTFOUND : db_error(c->db, step, "claim body");
    }
    finish(st);
    return rc;
}

typedef struct claim_set {
    ah_claim_t *claims;
    size_t n;
} claim_set_t;

/*
 * Fills each claim's trigger and body.  Claims are visited in event order
 * so that several claims of one event read it once.
 */
static int load_bodies(conn_t *c, claim_set_t *set)
{
    ah_claim_t **by_event = malloc(set->n * sizeof *by_event);
    if (!by_event)
        return AH_ENOMEM;
    for (size_t i = 0; i < set->n; i++)
        by_event[i] = &set->claims[i];
    qsort(by_event, set->n, sizeof *by_event, cmp_claim_event);
    int rc = AH_OK;
    for (size_t i = 0; i < set->n && rc == AH_OK; i++) {
        ah_claim_t *cl = by_event[i];
        const ah_claim_t *prev = i ? by_event[i - 1] : NULL;
        if (!prev || strcmp(prev->event_id, cl->event_id) != 0) {
            rc = load_body(c, cl);
            continue;
        }
        memcpy(cl->trigger, prev->trigger, sizeof cl->trigger);
        cl->data = malloc(prev->data_len + 1);
        if (!cl->data) {
            rc = AH_ENOMEM;
            break;
        }
        memcpy(cl->data, prev->data, prev->data_len + 1);
        cl->data_len = prev->data_len;
    }
    free(by_event);
    return rc;
}

static int clear_lease(conn_t *c, const char *id)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_DELIVERY_RELEASE, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id))
        return bind_failed(c, st);
    return run(c, st);
}

/*
 * One webhook's claim inside the open write transaction: check the webhook,
 * lease the rows, compute next_due, copy the bodies.  The bodies are read
 * inside it: on the writer connection the events just published are still
 * in its page cache, so copying them costs less than a read transaction of
 * its own on another connection.  Sets r->rc; returns a failure that must
 * roll the whole transaction back.
 */
static int claim_one(conn_t *c, ah_claim_req_t *r, int64_t now, int64_t lease_until)
{
    r->claims = NULL;
    r->n = 0;
    r->next_due = 0;
    r->rc = AH_OK;
    size_t max = r->max > CLAIM_MAX ? CLAIM_MAX : r->max;
    bool live = false;
    int rc;
    if (r->webhook) {
        sqlite3_stmt *st;
        if ((rc = prepare(c, ST_WEBHOOK_GET, &st)) != AH_OK)
            return rc;
        if (BIND_FIELD(st, 1, r->webhook_id))
            return bind_failed(c, st);
        rc = fetch_one(c, st, row_webhook, r->webhook);
        live = rc == AH_OK && r->webhook->is_active && !r->webhook->deregistered_at;
    } else {
        rc = webhook_live(c, r->webhook_id, &live);
    }
    if (rc == AH_ENOTFOUND) {
        r->rc = rc;
        return AH_OK;
    }
    if (rc || !live)
        return rc;
    claim_row_t *rows = NULL;
    size_t n_rows = 0;
    if (max > 0)
        rc = lease_due(c, r->webhook_id, now, lease_until, max, &rows, &n_rows);
    if (rc == AH_OK)
        rc = next_due_at(c, r->webhook_id, now, &r->next_due);
    claim_set_t set = {NULL, 0};
    if (rc == AH_OK && n_rows > 0) {
        qsort(rows, n_rows, sizeof *rows, cmp_claim_row);
        set.claims = calloc(n_rows, sizeof *set.claims);
        set.n = set.claims ? n_rows : 0;
        rc = set.claims ? AH_OK : AH_ENOMEM;
        for (size_t i = 0; i < set.n; i++)
            set.claims[i] = rows[i].claim;
        if (rc == AH_OK)
            rc = load_bodies(c, &set);
    }
    free(rows);
    if (rc) {
        ah_claims_free(set.claims, set.n);
        r->next_due = 0;
        return rc;
    }
    r->claims = set.claims;
    r->n = set.n;
    return AH_OK;
}

/*
 * Every request in one write transaction: a dispatcher serving ten webhooks
 * pays for one commit, not ten.  A failure rolls all of it back.
 */
static int delivery_claim_many(ah_store_t *base, ah_claim_req_t *reqs, size_t n, int64_t now,
                               int64_t lease_until)
{
    for (size_t i = 0; i < n; i++) {
        reqs[i].claims = NULL;
        reqs[i].n = 0;
        reqs[i].next_due = 0;
    }
    if (n == 0)
        return AH_OK;
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire_writer(s, &c);
    if (rc == AH_OK) {
        rc = tx_begin(c);
        for (size_t i = 0; rc == AH_OK && i < n; i++)
            rc = claim_one(c, &reqs[i], now, lease_until);
        if (rc == AH_OK || !sqlite3_get_autocommit(c->db))
            rc = tx_end(c, rc);
        release(s, c);
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            ah_claims_free(reqs[i].claims, reqs[i].n);
            reqs[i].claims = NULL;
            reqs[i].n = 0;
            reqs[i].next_due = 0;
            reqs[i].rc = rc;
        }
    }
    return rc;
}

static int delivery_claim(ah_store_t *base, const char *webhook_id, int64_t now,
                          int64_t lease_until, size_t max, ah_claim_t **out, size_t *n,
                          int64_t *next_due)
{
    *out = NULL;
    *n = 0;
    if (next_due)
        *next_due = 0;
    ah_claim_req_t r = {.max = max};
    if (!webhook_id || strlen(webhook_id) >= sizeof r.webhook_id)
        return AH_ENOTFOUND;
    memcpy(r.webhook_id, webhook_id, strlen(webhook_id) + 1);
    int rc = delivery_claim_many(base, &r, 1, now, lease_until);
    if (rc == AH_OK)
        rc = r.rc;
    if (rc)
        return rc;
    *out = r.claims;
    *n = r.n;
    if (next_due)
        *next_due = r.next_due;
    return AH_OK;
}

/* ---- recording attempts ---- */

/* The delivery's new state; its webhook into webhook_id.  AH_ENOTFOUND if no such delivery. */
static int update_delivery(conn_t *c, const ah_attempt_result_t *r, const char *status,
                           char webhook_id[AH_ID_SIZE])
{
    const ah_attempt_t *a = &r->attempt;
    sqlite3_stmt *st;
    int rc = prepare(c, ST_DELIVERY_RESULT, &st);
    if (rc)
        return rc;
    if (BIND_OPT_FIELD(st, 1, r->delivery_id) || sqlite3_bind_int(st, 2, a->attempt_no) ||
        sqlite3_bind_int(st, 3, a->status_code) || BIND_OPT_FIELD(st, 4, a->error) ||
        sqlite3_bind_int64(st, 5, a->started_at + a->duration_ms) || bind_str(st, 6, status) ||
        sqlite3_bind_int64(st, 7, r->next_attempt_at))
        return bind_failed(c, st);
    return fetch_one(c, st, row_id, webhook_id);
}

static int insert_attempt(conn_t *c, const ah_attempt_result_t *r)
{
    const ah_attempt_t *a = &r->attempt;
    sqlite3_stmt *st;
    int rc = prepare(c, ST_ATTEMPT_INSERT, &st);
    if (rc)
        return rc;
    if (BIND_FIELD(st, 1, r->delivery_id) || sqlite3_bind_int(st, 2, a->attempt_no) ||
        sqlite3_bind_int64(st, 3, a->started_at) || sqlite3_bind_int64(st, 4, a->duration_ms) ||
        sqlite3_bind_int(st, 5, a->status_code) || BIND_OPT_FIELD(st, 6, a->error) ||
        BIND_OPT_FIELD(st, 7, a->response_head))
        return bind_failed(c, st);
    return run(c, st);
}

/* failing_since, and disabling, per the result. */
static int webhook_consequences(conn_t *c, const char *webhook_id, const ah_attempt_result_t *r)
{
    sqlite3_stmt *st;
    bool ok = r->outcome == AH_OUTCOME_SUCCEEDED;
    int rc = prepare(c, ok ? ST_WEBHOOK_SUCCEEDED : ST_WEBHOOK_FAILED, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, webhook_id) || (!ok && sqlite3_bind_int64(st, 2, r->attempt.started_at)))
        return bind_failed(c, st);
    rc = run(c, st);
    if (rc || !r->disable_reason[0])
        return rc;
    rc = prepare(c, ST_WEBHOOK_AUTO_DISABLE, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, webhook_id) || BIND_FIELD(st, 2, r->disable_reason) ||
        sqlite3_bind_int64(st, 3, r->attempt.started_at + r->attempt.duration_ms))
        return bind_failed(c, st);
    return run(c, st);
}

/*
 * One result.  The webhook is the delivery's own (from the row, not the
 * caller's copy).  A result for a delivery that does not exist is skipped
 * with a warning rather than failing the whole batch.
 */
static int record_one(conn_t *c, const ah_attempt_result_t *r)
{
    const char *status = ah_outcome_status(r->outcome);
    if (!status)
        return AH_EINVAL;
    char webhook_id[AH_ID_SIZE];
    int rc = update_delivery(c, r, status, webhook_id);
    if (rc == AH_ENOTFOUND) {
        ah_logf(AH_LOG_WARN, "sqlite: attempt for unknown delivery %.*s not recorded",
                (int)strnlen(r->delivery_id, AH_ID_SIZE - 1), r->delivery_id);
        return AH_OK;
    }
    if (rc == AH_OK)
        rc = insert_attempt(c, r);
    if (rc == AH_OK)
        rc = webhook_consequences(c, webhook_id, r);
    return rc;
}

static int delivery_record(ah_store_t *base, const ah_attempt_result_t *results, size_t n)
{
    if (n == 0)
        return AH_OK;
    if (!results)
        return AH_EINVAL;
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire_writer(s, &c);
    if (rc)
        return rc;
    rc = tx_begin(c);
    if (rc == AH_OK) {
        for (size_t i = 0; rc == AH_OK && i < n; i++)
            rc = record_one(c, &results[i]);
        rc = tx_end(c, rc);
    }
    release(s, c);
    return rc;
}

static int delivery_release(ah_store_t *base, const char (*ids)[AH_ID_SIZE], size_t n)
{
    if (n == 0)
        return AH_OK;
    if (!ids)
        return AH_EINVAL;
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire_writer(s, &c);
    if (rc)
        return rc;
    rc = tx_begin(c);
    if (rc == AH_OK) {
        for (size_t i = 0; rc == AH_OK && i < n; i++) {
            char id[AH_ID_SIZE];
            copy_id(id, ids[i]);
            rc = clear_lease(c, id);
        }
        rc = tx_end(c, rc);
    }
    release(s, c);
    return rc;
}

static int delivery_release_all(ah_store_t *base)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow_writer(s, ST_DELIVERY_RELEASE_ALL, &c, &st);
    if (rc)
        return rc;
    rc = run(c, st);
    release(s, c);
    return rc;
}

/* ---- reading deliveries ---- */

/* Parses "<created_at>_<id>" as written by delivery_list. */
static int parse_cursor(const char *cursor, int64_t *at, char id[AH_ID_SIZE])
{
    const char *sep = strchr(cursor, '_');
    if (!sep || sep == cursor || (size_t)(sep - cursor) > CURSOR_NUM_MAX)
        return AH_EINVAL;
    char num[CURSOR_NUM_MAX + 1];
    size_t len = (size_t)(sep - cursor);
    memcpy(num, cursor, len);
    num[len] = '\0';
    if (ah_parse_i64(num, INT64_MIN, INT64_MAX, at) != AH_OK || !ah_is_uuid(sep + 1))
        return AH_EINVAL;
    memcpy(id, sep + 1, AH_ID_SIZE);
    ah_lower(id);
    return AH_OK;
}

static int delivery_list(ah_store_t *base, const ah_delivery_filter_t *f, ah_delivery_t **out,
                         size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    *out = NULL;
    *n = 0;
    if (next_cursor)
        next_cursor[0] = '\0';
    if (!f)
        return AH_EINVAL;
    bool by_webhook = f->webhook_id && *f->webhook_id;
    bool by_event = f->event_id && *f->event_id;
    if (by_webhook == by_event || f->limit < 1 || f->limit > DELIVERY_PAGE_MAX || f->status < -1 ||
        f->status > AH_DLV_CANCELLED)
        return AH_EINVAL;
    int64_t at = INT64_MAX; /* first page: older than the end of time */
    char after[AH_ID_SIZE] = "";
    if (f->cursor && *f->cursor && parse_cursor(f->cursor, &at, after) != AH_OK)
        return AH_EINVAL;

    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, by_webhook ? ST_DELIVERY_LIST_WEBHOOK : ST_DELIVERY_LIST_EVENT, &c, &st);
    if (rc)
        return rc;
    const char *status = f->status < 0 ? NULL : ah_delivery_status_name(f->status);
    /* One row more than the page tells whether another page follows. */
    if (bind_str(st, 1, by_webhook ? f->webhook_id : f->event_id) || bind_str(st, 2, status) ||
        sqlite3_bind_int64(st, 3, at) || bind_str(st, 4, after) ||
        sqlite3_bind_int64(st, 5, (int64_t)f->limit + 1)) {
        rc = bind_failed(c, st);
    } else {
        void *arr;
        rc = fetch_all(c, st, row_delivery, sizeof **out, &arr, n);
        *out = arr;
    }
    release(s, c);
    if (rc == AH_OK && *n > f->limit) {
        *n = f->limit;
        const ah_delivery_t *last = &(*out)[*n - 1];
        if (next_cursor)
            snprintf(next_cursor, AH_CURSOR_SIZE, "%" PRId64 "_%s", last->created_at, last->id);
    }
    return rc;
}

typedef struct delivery_read {
    const char *id;
    ah_delivery_t *out;
    ah_attempt_t **attempts; /* NULL: the caller wants none */
    size_t *n_attempts;
} delivery_read_t;

static int read_delivery(conn_t *c, void *arg)
{
    delivery_read_t *r = arg;
    sqlite3_stmt *st;
    int rc = prepare(c, ST_DELIVERY_GET, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, r->id))
        return bind_failed(c, st);
    rc = fetch_one(c, st, row_delivery, r->out);
    if (rc || !r->attempts)
        return rc;
    rc = prepare(c, ST_ATTEMPT_LIST, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, r->id))
        return bind_failed(c, st);
    void *arr;
    rc = fetch_all(c, st, row_attempt, sizeof **r->attempts, &arr, r->n_attempts);
    *r->attempts = arr;
    return rc;
}

static int delivery_get(ah_store_t *base, const char *id, ah_delivery_t *out,
                        ah_attempt_t **attempts, size_t *n_attempts)
{
    size_t n_dummy;
    if (attempts)
        *attempts = NULL;
    if (n_attempts)
        *n_attempts = 0;
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    delivery_read_t r = {id, out, attempts, n_attempts ? n_attempts : &n_dummy};
    rc = in_read_tx(c, read_delivery, &r);
    release(s, c);
    if (rc && attempts) {
        free(*attempts);
        *attempts = NULL;
        if (n_attempts)
            *n_attempts = 0;
    }
    return rc;
}

/* ---- operator actions ---- */

static int delivery_retry(ah_store_t *base, const char *id, int64_t now,
                          char webhook_id[AH_ID_SIZE])
{
    char wid[AH_ID_SIZE] = "";
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow_writer(s, ST_DELIVERY_RETRY, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id) || sqlite3_bind_int64(st, 2, now))
        rc = bind_failed(c, st);
    else
        rc = fetch_one(c, st, row_id, wid);
    release(s, c);
    if (rc == AH_OK && webhook_id)
        copy_id(webhook_id, wid);
    return rc;
}

/* Inside a transaction: AH_ENOTFOUND unless the webhook exists and is not deregistered. */
static int webhook_registered(conn_t *c, const char *id)
{
    sqlite3_stmt *st;
    int rc = prepare(c, ST_WEBHOOK_DEREGISTERED_AT, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id))
        return bind_failed(c, st);
    int64_t deregistered_at = 0;
    rc = fetch_one(c, st, row_i64, &deregistered_at);
    if (rc == AH_OK && deregistered_at != 0)
        rc = AH_ENOTFOUND;
    return rc;
}

static int webhook_recover(ah_store_t *base, const char *webhook_id, int64_t since, int64_t now,
                           size_t *n_requeued)
{
    if (n_requeued)
        *n_requeued = 0;
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire_writer(s, &c);
    if (rc)
        return rc;
    size_t count = 0;
    rc = tx_begin(c);
    if (rc == AH_OK) {
        rc = webhook_registered(c, webhook_id);
        sqlite3_stmt *st;
        if (rc == AH_OK)
            rc = prepare(c, ST_WEBHOOK_RECOVER, &st);
        if (rc == AH_OK) {
            if (bind_str(st, 1, webhook_id) || sqlite3_bind_int64(st, 2, since) ||
                sqlite3_bind_int64(st, 3, now))
                rc = bind_failed(c, st);
            else
                rc = run(c, st);
            if (rc == AH_OK)
                count = (size_t)sqlite3_changes(c->db);
        }
        rc = tx_end(c, rc);
    }
    release(s, c);
    if (rc == AH_OK && n_requeued)
        *n_requeued = count;
    return rc;
}

static int webhook_rotate_secret(ah_store_t *base, const char *id, const char *new_secret,
                                 int64_t prev_until, int64_t now)
{
    if (!new_secret || !*new_secret)
        return AH_EINVAL;
    if (strnlen(new_secret, AH_SECRET_MAX) >= AH_SECRET_MAX)
        return AH_ETOOBIG; /* it would come back truncated */
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow_writer(s, ST_WEBHOOK_ROTATE, &c, &st);
    if (rc)
        return rc;
    if (bind_str(st, 1, id) || bind_str(st, 2, new_secret) ||
        sqlite3_bind_int64(st, 3, prev_until) || sqlite3_bind_int64(st, 4, now))
        rc = bind_failed(c, st);
    else
        rc = run(c, st);
    if (rc == AH_OK && sqlite3_changes(c->db) == 0)
        rc = AH_ENOTFOUND;
    release(s, c);
    return rc;
}

static int delivery_stats(ah_store_t *base, ah_delivery_stats_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite_store_t *s = from(base);
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_DELIVERY_STATS, &c, &st);
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->pending = sqlite3_column_int64(st, 0);
        out->oldest_pending_created_at = sqlite3_column_int64(st, 1); /* NULL reads 0 */
    } else {
        rc = db_error(c->db, step, "delivery_stats");
    }
    finish(st);
    release(s, c);
    return rc;
}

/*
 * cache_gen without a transaction when nothing was committed.
 *
 * Every request reads the cache generations, and on SQLite that read is a
 * read transaction: two fcntl() on the WAL-index, the pool, the VM, about
 * 8 us of a 20 us webhook-list request.  But a commit, by any process,
 * becomes visible to readers in exactly one way: the writer rewrites the
 * WAL-index header in the shared memory file (-shm) that every connection
 * to the database maps (https://www.sqlite.org/walformat.html, "The
 * WAL-Index Header"; its change counter, frame count, salts and checksum
 * differ after every commit and after a WAL restart).  So cache_gen keeps
 * the header it saw before its last real read, with the generations that
 * read returned; while the header is still byte for byte the same, no
 * commit has become visible since, and those generations are still what a
 * read would return.  When it differs, or is being rewritten, the row is
 * read again.
 *
 * The header is read as SQLite's readers read it (walIndexTryHdr): the
 * first copy, a barrier, the second copy, and only two equal copies count;
 * a writer writes the second copy, a barrier, then the first.  The mapping
 * is SQLite's own (xShmMap of region 0 on the first connection, which stays
 * open, and thus mapped, until the store is closed).  In-memory databases
 * have no WAL-index, and always read.
 */
#define WAL_HDR_SIZE 48 /* one copy of the WAL-index header */

static bool wal_header(const volatile unsigned char *shm, unsigned char out[WAL_HDR_SIZE])
{
    unsigned char second[WAL_HDR_SIZE];
    for (size_t i = 0; i < WAL_HDR_SIZE; i++)
        out[i] = shm[i];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (size_t i = 0; i < WAL_HDR_SIZE; i++)
        second[i] = shm[WAL_HDR_SIZE + i];
    /* isInit (byte 12): a header never written is not one to trust. */
    return out[12] && memcmp(out, second, WAL_HDR_SIZE) == 0;
}

/* At open, with c not yet shared: the WAL-index mapping, or NULL. */
static const volatile unsigned char *map_wal_index(sqlite3 *db)
{
    sqlite3_file *f = NULL;
    volatile void *p = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
        return NULL;
    if (f->pMethods->xShmMap(f, 0, 32768, 0, &p) != SQLITE_OK)
        return NULL;
    return p;
}

static int read_gen_row(sqlite_store_t *s, ah_cache_gen_t *out)
{
    conn_t *c;
    sqlite3_stmt *st;
    int rc = borrow(s, ST_CACHE_GEN, &c, &st);
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->webhooks = sqlite3_column_int64(st, 0);
        out->auth = sqlite3_column_int64(st, 1);
    } else {
        rc = step == SQLITE_DONE ? AH_ESTORE : db_error(c->db, step, "cache_gen");
    }
    finish(st);
    release(s, c);
    return rc;
}

static int cache_gen(ah_store_t *base, ah_cache_gen_t *out)
{
    memset(out, 0, sizeof *out);
    sqlite_store_t *s = from(base);
    unsigned char hdr[WAL_HDR_SIZE];
    bool stable = s->wal_index && wal_header(s->wal_index, hdr);
    if (stable) {
        pthread_mutex_lock(&s->gen_mu);
        bool same = s->gen_known && !memcmp(hdr, s->gen_hdr, WAL_HDR_SIZE);
        if (same)
            *out = s->gen;
        pthread_mutex_unlock(&s->gen_mu);
        if (same)
            return AH_OK;
    }
    /* The header is sampled before the read: the pair is safe to keep. */
    int rc = read_gen_row(s, out);
    if (rc == AH_OK && stable) {
        pthread_mutex_lock(&s->gen_mu);
        memcpy(s->gen_hdr, hdr, WAL_HDR_SIZE);
        s->gen = *out;
        s->gen_known = true;
        pthread_mutex_unlock(&s->gen_mu);
    }
    return rc;
}

static void stop_checkpointer(sqlite_store_t *s);

static void store_close(ah_store_t *base)
{
    sqlite_store_t *s = from(base);
    if (!s)
        return;
    stop_publisher(s);
    stop_checkpointer(s);
    conn_t *c = s->all;
    while (c) {
        conn_t *next = c->next_all;
        conn_free(c);
        c = next;
    }
    pthread_mutex_destroy(&s->write_mu);
    pthread_mutex_destroy(&s->pub_mu);
    pthread_cond_destroy(&s->pub_cv);
    pthread_cond_destroy(&s->pub_done_cv);
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cv);
    pthread_mutex_destroy(&s->gen_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->uri);
    free(s->path);
    free(s);
}

static const ah_store_ops_t sqlite_ops = {
    .name = "sqlite",
    .shared = false,
    .close = store_close,
    .ping = ping,
    .setting_get = setting_get,
    .setting_set = setting_set,
    .setting_add = setting_add,
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
    .event_publish = event_publish,
    .event_publish_async = event_publish_async,
    .event_get = event_get,
    .delivery_due_webhooks = delivery_due_webhooks,
    .delivery_claim = delivery_claim,
    .delivery_claim_many = delivery_claim_many,
    .delivery_record = delivery_record,
    .delivery_release = delivery_release,
    .delivery_release_all = delivery_release_all,
    .delivery_list = delivery_list,
    .delivery_get = delivery_get,
    .delivery_retry = delivery_retry,
    .webhook_recover = webhook_recover,
    .webhook_rotate_secret = webhook_rotate_secret,
    .delivery_stats = delivery_stats,
    .cache_gen = cache_gen,
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
    /*
     * Two processes opening a new file at once: switching to WAL needs an
     * exclusive lock, and SQLite may answer BUSY at once rather than call
     * the busy handler (to avoid a deadlock).  Try again for a while.
     */
    for (int tries = 0; rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED; tries++) {
        rc = sqlite3_step(st);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        if (tries == 500)
            break;
        sqlite3_reset(st);
        sqlite3_sleep(10);
        rc = SQLITE_BUSY;
    }
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

/*
 * Checkpoints in the background.  Left to SQLite, the commit that crosses
 * the WAL threshold copies the WAL into the database itself, with the write
 * lock held: 15-60 ms during which every publish, claim and record waits.
 * Instead every connection runs with wal_autocheckpoint = 0 and this thread,
 * on a connection of its own, runs PASSIVE checkpoints (which never block
 * readers or writers) every CHECKPOINT_EVERY_MS, and a short RESTART one
 * when the WAL has grown past WAL_RESTART_PAGES anyway.
 */
#define CHECKPOINT_EVERY_MS 100
/*
 * ... once the WAL holds at least this many frames (SQLite's own default for
 * wal_autocheckpoint): an idle or lightly written database is not synced
 * ten times a second for a handful of pages.
 */
#define WAL_CHECKPOINT_FRAMES 1000
#define CHECKPOINT_WAIT_MS 50
#define WAL_RESTART_PAGES 4000 /* 16 MiB at 4 KiB pages */

static void *checkpointer(void *arg)
{
    sqlite_store_t *s = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(s->uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        ah_logf(AH_LOG_ERROR, "sqlite: checkpoint thread cannot open %s", s->path);
        sqlite3_close(db);
        return NULL;
    }
    /*
     * A connection learns that the file is in WAL mode when it first reads
     * it; until then sqlite3_wal_checkpoint_v2 on it is a silent no-op (and
     * the WAL grew without end: 1 GB in 4 s of registrations, none of it
     * ever copied into the database).  One read opens the WAL.  The short
     * busy timeout bounds how long a RESTART checkpoint below waits.
     */
    sqlite3_busy_timeout(db, CHECKPOINT_WAIT_MS);
    if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
        ah_logf(AH_LOG_WARN, "sqlite: checkpoint thread cannot read %s: %s", s->path,
                sqlite3_errmsg(db));
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CHECKPOINT_EVERY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->ckpt_cv, &s->ckpt_mu, &until);
        if (s->ckpt_stop)
            break;
        if (atomic_load_explicit(&s->wal_frames, memory_order_relaxed) < WAL_CHECKPOINT_FRAMES)
            continue;
        pthread_mutex_unlock(&s->ckpt_mu);
        int n_log = 0, n_done = 0, seen = atomic_load(&s->wal_frames);
        sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_done);
        /* All copied: nothing to do until commits say the WAL has grown again. */
        if (n_log >= 0 && n_done == n_log)
            atomic_compare_exchange_strong(&s->wal_frames, &seen, 0);
        /*
         * Under a steady stream of commits a passive checkpoint never
         * catches up with the end of the WAL, so the WAL never starts over
         * and keeps growing into new file blocks (which the kernel must
         * allocate and zero: a quarter of a registration's CPU; a
         * 1M-delivery drain grew it to 1.2 GB).  Once it is large, a
         * RESTART checkpoint copies the little the passive one left, with
         * this process's writers held on write_mu meanwhile (other
         * processes' and readers are waited for at most CHECKPOINT_WAIT_MS),
         * and the next writer starts the WAL from its beginning again.
         */
        if (n_log >= WAL_RESTART_PAGES) {
            pthread_mutex_lock(&s->write_mu);
            int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
            pthread_mutex_unlock(&s->write_mu);
            if (rc != SQLITE_OK && rc != SQLITE_BUSY)
                ah_logf(AH_LOG_WARN, "sqlite: checkpoint of %s: %s", s->path, sqlite3_errstr(rc));
        }
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    /* A last full pass so a clean stop leaves a small WAL. */
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

static void stop_checkpointer(sqlite_store_t *s)
{
    if (!s->ckpt_started)
        return;
    pthread_mutex_lock(&s->ckpt_mu);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_cv);
    pthread_mutex_unlock(&s->ckpt_mu);
    pthread_join(s->ckpt_thread, NULL);
    s->ckpt_started = false;
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
    pthread_mutex_init(&s->write_mu, NULL);
    pthread_mutex_init(&s->pub_mu, NULL);
    pthread_cond_init(&s->pub_cv, NULL);
    pthread_cond_init(&s->pub_done_cv, NULL);
    s->pub_tail = &s->pub_head;
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cv, NULL);
    pthread_mutex_init(&s->gen_mu, NULL);

    bool memory = strcmp(path, ":memory:") == 0;
    s->bg_checkpoint = !memory; /* connections are opened accordingly */
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
    if (!memory)
        s->wal_index = map_wal_index(c->db);
    if (s->bg_checkpoint && pthread_create(&s->ckpt_thread, NULL, checkpointer, s)) {
        /* No thread: let commits checkpoint, as SQLite does by default. */
        s->bg_checkpoint = false;
        sqlite3_exec(c->db, "PRAGMA wal_autocheckpoint = " WAL_CHECKPOINT_PAGES ";", NULL, NULL,
                     NULL);
    } else if (s->bg_checkpoint) {
        s->ckpt_started = true;
    }
    *out = &s->base;
    return AH_OK;
}
