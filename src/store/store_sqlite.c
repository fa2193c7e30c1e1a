/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c: the SQLite storage backend (an SQL driver, sql.h, and the
 * operations of ah_store_ops_t that are SQLite's own, over SQLite 3).
 *
 * What each operation does is written in store.h, and most of them are run
 * by the store layer (store.c) through this file's driver: exec() runs a
 * statement of stmt_sql[] with its parameters bound, run() lends a
 * connection, in a transaction or not.  What stays here is how SQLite gets
 * there: the connection pool and the one writer connection, the dialect,
 * group commit of publishes, the skip-scan walk over due work, recording
 * attempts, the background checkpointer and the cache-generation shortcut.
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
 * writer connection (acquire_writer): every statement the layer runs as a
 * write (exec with write, run in AH_SQL_WRITE or AH_SQL_WRITE_TX) takes it;
 * writers of other processes queue on the database lock through
 * busy_timeout (5 s); what still fails after that is AH_ESTORE.  Operations
 * that read then write (webhook_deregister, which also cancels deliveries,
 * and publish, record, recover) run inside BEGIN IMMEDIATE so that they
 * take the write lock before reading.  Claims write nothing: leases live in
 * the memory of the one process that delivers from the file (the driver's
 * memory_leases, delivery_own below).  Registration relies on a partial unique index on the
 * active (community, trigger, url, airmeet, session) tuple instead: its
 * INSERT does nothing on a conflict, and then the twin is read, so two
 * identical registrations yield one row.  That INSERT runs on the writer
 * connection, whose page cache holds the webhooks indexes from the
 * previous registration: for the API, in the publisher's batches
 * (webhook_register_async, a savepoint each, the twin read inside the
 * same transaction), else in autocommit.  One consequence of that index is
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
 * has_updated_by, is_active is 0 or 1.  Constraint failures map to status
 * codes: primary key or unique -> AH_EEXISTS, foreign key (e.g. an access
 * key for an unknown community) -> AH_ENOTFOUND, NOT NULL or CHECK ->
 * AH_EINVAL.
 *
 * Events and deliveries (migration 2 and the section of that name below):
 * the deliveries table is the queue itself, indexed for claims, listing
 * pages and the oldest pending row.  Row ids made inside SQL (one delivery
 * per matching webhook, in one INSERT ... SELECT) come from ah_uuid(), an
 * application-defined function registered on every connection.
 */
#include "store/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"

#define POOL_MAX 8
#define BUSY_TIMEOUT_MS 5000
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

    /*
     * 5: quotas per community (store.h, "quotas per community").
     * community_quotas holds what the operator set (NULL: the server's
     * default applies).  community_usage counts each community's active
     * webhooks, kept by triggers in the same transaction as the change to
     * a webhook, whatever makes it (registration, deregistration, the
     * operator, the dispatcher disabling one), so that registering within
     * a quota reads one row instead of counting the community's webhooks.
     * The row is made with its community; existing ones are counted here.
     * Setting quotas bumps the `auth` generation, as does inserting an
     * access key: the key cache now also remembers keys that were not
     * found (src/api/public.c), and a new key must end that.
     */
    "CREATE TABLE community_quotas ("
    "  community_id TEXT PRIMARY KEY NOT NULL REFERENCES communities(id),"
    "  max_webhooks INTEGER,"
    "  max_url_bytes INTEGER,"
    "  max_name_bytes INTEGER,"
    "  max_description_bytes INTEGER,"
    "  registrations_per_minute INTEGER,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE community_usage ("
    "  community_id TEXT PRIMARY KEY NOT NULL REFERENCES communities(id),"
    "  active_webhooks INTEGER NOT NULL DEFAULT 0"
    ") WITHOUT ROWID;"
    "INSERT INTO community_usage (community_id, active_webhooks)"
    "  SELECT c.id, (SELECT count(*) FROM webhooks w"
    "  WHERE w.community_id = c.id AND w.is_active = 1) FROM communities c;"
    "CREATE TRIGGER usage_community_insert AFTER INSERT ON communities"
    " BEGIN INSERT INTO community_usage (community_id, active_webhooks) VALUES (new.id, 0); END;"
    "CREATE TRIGGER usage_webhook_insert AFTER INSERT ON webhooks WHEN new.is_active = 1"
    " BEGIN UPDATE community_usage SET active_webhooks = active_webhooks + 1"
    " WHERE community_id = new.community_id; END;"
    "CREATE TRIGGER usage_webhook_delete AFTER DELETE ON webhooks WHEN old.is_active = 1"
    " BEGIN UPDATE community_usage SET active_webhooks = active_webhooks - 1"
    " WHERE community_id = old.community_id; END;"
    "CREATE TRIGGER usage_webhook_update AFTER UPDATE OF is_active, community_id ON webhooks"
    " WHEN old.is_active IS NOT new.is_active OR old.community_id IS NOT new.community_id"
    " BEGIN"
    " UPDATE community_usage SET active_webhooks = active_webhooks - old.is_active"
    " WHERE community_id = old.community_id;"
    " UPDATE community_usage SET active_webhooks = active_webhooks + new.is_active"
    " WHERE community_id = new.community_id;"
    " END;"
    "CREATE TRIGGER cache_gen_quota_insert AFTER INSERT ON community_quotas"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_quota_update AFTER UPDATE ON community_quotas"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_quota_delete AFTER DELETE ON community_quotas"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_key_insert AFTER INSERT ON access_keys"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;",

    /*
     * 6: retention (src/store/purge.c).  The purge scans old events from a
     * cursor in (created_at, id) order; without this index every call would
     * read the table from its start.  Deliveries and attempts are found
     * through the indexes they already have (by event, by delivery).
     */
    "CREATE INDEX events_by_age ON events(created_at, id);",

    /*
     * 7: one index fewer to write per delivery.  deliveries_pending_age was
     * read by one statement, the queue gauges of /metrics (ST_DELIVERY_STATS),
     * yet every delivery wrote an entry into it at its publish and removed
     * it at its success.  deliveries_pending now also holds created_at, so
     * that the count and the oldest pending delivery are one covering scan
     * of it, as the count alone was of the other.
     */
    "DROP INDEX IF EXISTS deliveries_pending_age;"
    "DROP INDEX deliveries_pending;"
    "CREATE INDEX deliveries_pending ON deliveries(webhook_id, next_attempt_at, created_at, status)"
    "  WHERE status = 'pending';",

    /*
     * 8: the trigger catalog and the event details of the scope endpoints
     * (docs/triggers.md, docs/api.md "Event API").  catalog_triggers holds
     * the operator's triggers, and a row per built-in trigger the operator
     * hid (builtin = 1: only retired_at counts); every change to it bumps
     * the `auth` generation, because the public API caches what it reads
     * of it (an insert too: the cache also remembers ids it did not find).
     * Airmeets and sessions gain what GET /api/v1/airmeets and
     * /api/v1/airmeet/{id}/info answer, NULL (or 0) until the operator
     * sets them; their updates already bump `auth`.  Airmeets are listed
     * per community by creation time.
     */
    "ALTER TABLE airmeets ADD COLUMN status TEXT;"
    "ALTER TABLE airmeets ADD COLUMN timezone TEXT;"
    "ALTER TABLE airmeets ADD COLUMN description TEXT;"
    "CREATE INDEX airmeets_by_creation ON airmeets(community_id, created_at, id);"
    "ALTER TABLE sessions ADD COLUMN start_time INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN duration INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN status TEXT;"
    "ALTER TABLE sessions ADD COLUMN summary TEXT;"
    "ALTER TABLE sessions ADD COLUMN type TEXT;"
    "CREATE TABLE catalog_triggers ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  builtin INTEGER NOT NULL CHECK (builtin IN (0, 1)),"
    "  description TEXT NOT NULL,"
    "  airmeet_scope TEXT NOT NULL CHECK (airmeet_scope IN ('none', 'optional', 'required')),"
    "  session_scope TEXT NOT NULL CHECK (session_scope IN ('none', 'optional', 'required')),"
    "  sample TEXT NOT NULL,"
    "  schema TEXT,"
    "  retired_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE TRIGGER cache_gen_catalog_insert AFTER INSERT ON catalog_triggers"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_catalog_update AFTER UPDATE ON catalog_triggers"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;"
    "CREATE TRIGGER cache_gen_catalog_delete AFTER DELETE ON catalog_triggers"
    " BEGIN UPDATE cache_generations SET auth = auth + 1; END;",

    /*
     * 9: the operator's lists (docs/api.md, issue 13), each page a range
     * scan from its cursor.  Communities by creation; every webhook, in any
     * state, by creation and per community by creation (webhooks_by_community
     * holds active ones only, for webhook-list); events per community by
     * creation (events_by_age serves the list of all); key pairs and
     * sessions by parent and creation, with the id that ends a cursor (the
     * indexes they replace were prefixes of these).  Webhooks are written
     * rarely, so two more entries per registration cost little.  IF NOT
     * EXISTS: an operator may build them ahead, and a file taken back to an
     * older version by hand keeps them.
     */
    SQL_MIGRATION_LISTS,

    /* 10: test events (sql.h); 0 or 1 as is_active. */
    SQL_MIGRATION_TEST_EVENTS("INTEGER", "0 CHECK (test IN (0, 1))"),

    /* 11: the web console's sessions and portal links (sql.h says what each holds). */
    SQL_MIGRATION_CONSOLE,

    /* 12: `airhook listen`'s secrets and listeners (sql.h says what each holds). */
    SQL_MIGRATION_LISTENERS,

    /* 13: the console's data (sql.h says why). */
    SQL_MIGRATION_CONSOLE_DATA("TEXT"),

    /*
     * 14: a delivery's first recorded attempt kept in its row, as
     * PostgreSQL's migration 15: a delivery that succeeds at once writes
     * no attempts row (nor its index entry) when recorded, and the purge
     * has no attempts row to delete for it.  recorded counts the attempts
     * recorded for the delivery since this migration; the first of them is
     * in the first_* columns, the others in attempts (record_tx).  Readers
     * of attempts read both (ST_ATTEMPT_LIST; the purge counts the first
     * from its hold).  A delivery recorded before this migration has its
     * attempts in the table and recorded 0: its next attempt goes in its
     * row, and the list sorts them all by number and start as before.
     * Adding columns rewrites nothing.
     */
    "ALTER TABLE deliveries ADD COLUMN recorded INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE deliveries ADD COLUMN first_attempt_no INTEGER;"
    "ALTER TABLE deliveries ADD COLUMN first_started_at INTEGER;"
    "ALTER TABLE deliveries ADD COLUMN first_duration_ms INTEGER;"
    "ALTER TABLE deliveries ADD COLUMN first_status_code INTEGER;"
    "ALTER TABLE deliveries ADD COLUMN first_error TEXT;"
    "ALTER TABLE deliveries ADD COLUMN first_response_head TEXT;"
    "ALTER TABLE deliveries ADD COLUMN first_response_headers TEXT;",
};

/* ------------------------------------------------------------------------ */
/* Statements, prepared once per connection.                                */

/*
 * The page condition of delivery_list: strictly older than the cursor row,
 * within [since, until), and of one webhook (?8) when listing an event's.
 */
#define LIST_PAGE                                                                                  \
    " AND (?2 IS NULL OR d.status = ?2) AND (d.created_at, d.id) < (?3, ?4)"                       \
    " AND d.created_at >= ?6 AND d.created_at < ?7 AND (?8 IS NULL OR d.webhook_id = ?8)"          \
    " ORDER BY d.created_at DESC, d.id DESC LIMIT ?5"

/*
 * The filters of the operator's webhook list, parameters T, S, U: trigger,
 * state, url part, each NULL for any.
 */
#define WEBHOOK_FILTER(T, S, U)                                                                    \
    " AND (?" #T " IS NULL OR trigger = ?" #T ")"                                                  \
    " AND (?" #S " IS NULL OR ?" #S " = CASE WHEN deregistered_at <> 0 THEN 'deregistered'"        \
    " WHEN is_active = 1 THEN 'active' ELSE 'disabled' END)"                                       \
    " AND (?" #U " IS NULL OR instr(url, ?" #U ") > 0)"

/* Rows of a multi-row INSERT into attempts: (delivery_id, ATTEMPT_COLS), numbered in order. */
#define A_ROW "(?,?,?,?,?,?,?,?)"
#define A_ROWS_8 A_ROW "," A_ROW "," A_ROW "," A_ROW "," A_ROW "," A_ROW "," A_ROW "," A_ROW
#define A_PARAMS 8

/* SQLite's own statements, after the store layer's (sql.h). */
enum {
    ST_BEGIN = AH_SQL_SHARED_COUNT,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_SAVEPOINT_RELEASE,
    ST_SAVEPOINT_ROLLBACK,
    ST_BEGIN_READ,
    ST_DUE_NEXT,
    ST_DELIVERY_RESULT,
    ST_ATTEMPT_INSERT,
    ST_ATTEMPT_INSERT_8,
    ST_ATTEMPT_INSERT_32,
    ST_WEBHOOK_SUCCEEDED,
    ST_WEBHOOK_FAILING_SET,
    ST_WEBHOOK_FAILED,
    ST_WEBHOOK_AUTO_DISABLE,
    ST_DELIVERY_RELEASE,
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
    [ST_PING] = SQL_PING,
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_SETTING_ADD] = "INSERT INTO settings (key, value) VALUES (?1, ?2)",
    [ST_COMMUNITY_INSERT] = "INSERT INTO communities (" COMMUNITY_COLS ") VALUES (?1, ?2, ?3)",
    [ST_COMMUNITY_GET] = "SELECT " COMMUNITY_COLS " FROM communities WHERE id = ?1",
    [ST_COMMUNITY_LIST] = SQL_COMMUNITY_LIST,
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
    [ST_AIRMEET_INSERT] = "INSERT INTO airmeets (" AIRMEET_COLS ")"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_AIRMEET_GET] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE id = ?1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (" SESSION_COLS ")"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE id = ?1",
    [ST_AIRMEET_UPDATE] = "UPDATE airmeets SET name = ?2, start_time = ?3, end_time = ?4,"
                          " status = ?5, timezone = ?6, description = ?7 WHERE id = ?1",
    [ST_AIRMEET_PAGE] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE community_id = ?1"
                        " ORDER BY created_at, id LIMIT ?3 OFFSET ?2",
    [ST_AIRMEET_COUNT] = "SELECT count(*) FROM airmeets WHERE community_id = ?1",
    [ST_SESSION_UPDATE] = "UPDATE sessions SET name = ?2, start_time = ?3, duration = ?4,"
                          " status = ?5, summary = ?6, type = ?7 WHERE id = ?1",
    [ST_SESSION_LIST] = "SELECT " SESSION_COLS " FROM sessions WHERE airmeet_id = ?1"
                        " ORDER BY start_time, created_at, id",
    [ST_CATALOG_INSERT] = "INSERT INTO catalog_triggers (" CATALOG_COLS ")"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_CATALOG_GET] = "SELECT " CATALOG_COLS " FROM catalog_triggers WHERE id = ?1",
    [ST_CATALOG_LIST] = "SELECT " CATALOG_COLS " FROM catalog_triggers ORDER BY created_at, id",
    [ST_COMMUNITY_PAGE] = "SELECT " COMMUNITY_COLS " FROM communities"
                          " WHERE (created_at, id) > (?1, ?2) ORDER BY created_at, id LIMIT ?3",
    [ST_WEBHOOK_ADMIN_PAGE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                              " WHERE (created_at, id) > (?4, ?5)" WEBHOOK_FILTER(
                                  1, 2, 3) " ORDER BY created_at, id LIMIT ?6",
    [ST_WEBHOOK_ADMIN_PAGE_COMMUNITY] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                                        " WHERE community_id = ?1"
                                        " AND (created_at, id) > (?5, ?6)" WEBHOOK_FILTER(
                                            2, 3, 4) " ORDER BY created_at, id LIMIT ?7",
    [ST_EVENT_PAGE] = "SELECT " EVENT_HEAD_COLS " FROM events"
                      " WHERE (created_at, id) < (?4, ?5) AND created_at >= ?2 AND created_at < ?3"
                      " AND (?1 IS NULL OR trigger = ?1)"
                      " ORDER BY created_at DESC, id DESC LIMIT ?6",
    [ST_EVENT_PAGE_COMMUNITY] = "SELECT " EVENT_HEAD_COLS " FROM events WHERE community_id = ?1"
                                " AND (created_at, id) < (?5, ?6)"
                                " AND created_at >= ?3 AND created_at < ?4"
                                " AND (?2 IS NULL OR trigger = ?2)"
                                " ORDER BY created_at DESC, id DESC LIMIT ?7",
    [ST_KEY_PAGE] = "SELECT " KEY_COLS " FROM access_keys WHERE community_id = ?1"
                    " AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4",
    [ST_AIRMEET_PAGE_FROM] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE community_id = ?1"
                             " AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4",
    [ST_OVERVIEW] = SQL_OVERVIEW("?1"),
    [ST_WEBHOOK_DISABLED_RECENT] = SQL_WEBHOOK_DISABLED_RECENT("?1"),
    [ST_SESSION_PAGE] = "SELECT " SESSION_COLS " FROM sessions WHERE airmeet_id = ?1"
                        " AND (created_at, id) > (?2, ?3) ORDER BY created_at, id LIMIT ?4",
    [ST_CONSOLE_SESSION_INSERT] = "INSERT INTO console_sessions (id_hash, role, community_id,"
                                  " key_id, link_id, read_only, csrf_token, created_at, seen_at,"
                                  " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_CONSOLE_SESSION_FIND] =
        "SELECT " CONSOLE_SESSION_COLS("") " FROM console_sessions s WHERE s.id_hash = ?1",
    [ST_CONSOLE_SESSION_TOUCH] = "UPDATE console_sessions SET seen_at = ?2 WHERE id_hash = ?1",
    [ST_CONSOLE_SESSION_DELETE] = "DELETE FROM console_sessions WHERE id_hash = ?1",
    [ST_CONSOLE_SESSION_PURGE] = "DELETE FROM console_sessions WHERE expires_at < ?1"
                                 " OR seen_at < ?2",
    [ST_PORTAL_LINK_INSERT] = "INSERT INTO portal_links (" PORTAL_LINK_COLS ")"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_PORTAL_LINK_FIND] = "SELECT " PORTAL_LINK_COLS " FROM portal_links WHERE token_hash = ?1",
    [ST_PORTAL_LINK_GET] = "SELECT " PORTAL_LINK_COLS " FROM portal_links WHERE id = ?1",
    [ST_PORTAL_LINK_LIST] = "SELECT " PORTAL_LINK_COLS " FROM portal_links WHERE community_id = ?1"
                            " ORDER BY created_at, id",
    [ST_PORTAL_LINK_REVOKE] = "UPDATE portal_links"
                              " SET revoked_at = CASE WHEN revoked_at = 0 THEN ?2 ELSE revoked_at"
                              " END WHERE id = ?1",
    [ST_LISTENER_SECRET_ADD] = "INSERT INTO listener_secrets (access_key_id, secret, created_at)"
                               " VALUES (?1, ?2, ?3) ON CONFLICT (access_key_id) DO NOTHING",
    [ST_LISTENER_SECRET_GET] = "SELECT secret FROM listener_secrets WHERE access_key_id = ?1",
    [ST_LISTENER_SECRET_LIST] = "SELECT access_key_id, secret FROM listener_secrets",
    [ST_LISTENER_SECRET_SWAP] = "UPDATE listener_secrets SET secret = ?2"
                                " WHERE access_key_id = ?1 AND secret = ?3",
    [ST_LISTENER_INSERT] =
        "INSERT INTO listeners (" LISTENER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_LISTENER_GET] = "SELECT " LISTENER_COLS " FROM listeners WHERE id = ?1",
    [ST_LISTENER_LIST] = "SELECT " LISTENER_COLS " FROM listeners ORDER BY created_at, id",
    [ST_LISTENER_TOUCH] = "UPDATE listeners SET last_seen_at = ?2 WHERE id = ?1",
    [ST_LISTENER_DELETE] = "DELETE FROM listeners WHERE id = ?1",
    [ST_CATALOG_UPDATE] = "UPDATE catalog_triggers SET description = ?2, airmeet_scope = ?3,"
                          " session_scope = ?4, sample = ?5, schema = ?6, retired_at = ?7,"
                          " updated_at = ?8 WHERE id = ?1",
    [ST_WEBHOOK_FIND_ACTIVE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                               " WHERE community_id = ?1 AND trigger = ?2 AND url = ?3"
                               " AND coalesce(airmeet_id, '') = ?4"
                               " AND coalesce(session_id, '') = ?5"
                               " AND is_active = 1 AND deregistered_at = 0",
    /*
     * Nothing on a conflict (an active twin, or the id taken): the store
     * layer then reads the twin (ah_store_webhook_register).
     */
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks (" WEBHOOK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5,"
                          " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
                          " ?20, ?21) ON CONFLICT DO NOTHING",
    [ST_WEBHOOK_GET] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = ?1",
    /*
     * One statement, so one step of the single writer: the count it compares
     * cannot move before the insert.  A full community (or one with no usage
     * row: no such community) gets a NULL id, which OR IGNORE turns into no
     * row, as it does an active twin; the store layer then says which.  (Not
     * INSERT ... SELECT ... WHERE: with triggers on the table SQLite runs
     * that through a temporary table, 30 % more work per registration.)
     */
    [ST_WEBHOOK_INSERT_WITHIN] =
        "INSERT OR IGNORE INTO webhooks (" WEBHOOK_COLS ") VALUES (CASE WHEN"
        " (SELECT active_webhooks FROM community_usage WHERE community_id = ?2) < ?22"
        " THEN ?1 END, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21)",
    [ST_USAGE_GET] = "SELECT active_webhooks FROM community_usage WHERE community_id = ?1",
    /* In a write transaction, which already holds the one write lock. */
    [ST_USAGE_LOCK] = "SELECT u.active_webhooks FROM community_usage u"
                      " JOIN webhooks w ON w.community_id = u.community_id WHERE w.id = ?1",
    [ST_QUOTA_GET] = "SELECT " QUOTA_COLS " FROM community_quotas WHERE community_id = ?1",
    [ST_QUOTA_SET] = "INSERT INTO community_quotas (community_id, " QUOTA_COLS ", updated_at)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (community_id) DO UPDATE"
                     " SET max_webhooks = excluded.max_webhooks,"
                     " max_url_bytes = excluded.max_url_bytes,"
                     " max_name_bytes = excluded.max_name_bytes,"
                     " max_description_bytes = excluded.max_description_bytes,"
                     " registrations_per_minute = excluded.registrations_per_minute,"
                     " updated_at = excluded.updated_at",
    [ST_WEBHOOK_PAGE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                        " WHERE community_id = ?1 AND is_active = 1"
                        " AND (?2 IS NULL OR airmeet_id = ?2)"
                        " AND (?3 IS NULL OR session_id = ?3)"
                        " AND (created_at, id) > (?4, ?5)"
                        " ORDER BY created_at, id LIMIT ?6",
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
    [ST_EVENT_FIND_KEY] = "SELECT e.id, (SELECT count(*) FROM deliveries d"
                          " WHERE d.event_id = e.id) FROM events e"
                          " WHERE e.community_id = ?1 AND e.idempotency_key = ?2",
    /* Publishing looks for the key first (ST_EVENT_FIND_KEY), inside BEGIN IMMEDIATE. */
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
    [ST_EVENT_MARK_TEST] = "UPDATE events SET test = 1 WHERE id = ?1",
    [ST_DELIVERY_INSERT_ONE] = "INSERT INTO deliveries (id, event_id, webhook_id, status, attempts,"
                               " next_attempt_at, lease_until, created_at, updated_at)"
                               " SELECT ?1, ?2, w.id, 'pending', 0, ?3, 0, ?3, ?3 FROM webhooks w"
                               " WHERE w.id = ?4 AND w.is_active = 1 AND w.deregistered_at = 0",
    [ST_EVENT_BODY] = "SELECT trigger, data FROM events WHERE id = ?1",
    /* One step of the skip-scan over deliveries_pending: the next webhook with pending work. */
    [ST_DUE_NEXT] = "SELECT webhook_id, next_attempt_at FROM deliveries"
                    " WHERE status = 'pending' AND webhook_id > ?1"
                    " ORDER BY webhook_id, next_attempt_at LIMIT 1",
    [ST_WEBHOOK_LIVE] = "SELECT is_active = 1 AND deregistered_at = 0 FROM webhooks WHERE id = ?1",
    /*
     * Leases live in memory (the driver's memory_leases): a claim reads the
     * webhook's pending deliveries in due order, over deliveries_pending,
     * and the store layer takes the due ones it does not hold, stopping
     * once it has what it wants and knows when the rest is due.
     */
    [ST_CLAIM] = "SELECT id, event_id, attempts, next_attempt_at FROM deliveries"
                 " WHERE status = 'pending' AND webhook_id = ?1 ORDER BY next_attempt_at"
                 " LIMIT ?2",
    [ST_NEXT_DUE] = "SELECT next_attempt_at FROM deliveries"
                    " WHERE status = 'pending' AND webhook_id = ?1 AND lease_until < ?2"
                    " ORDER BY next_attempt_at LIMIT 1",
    /*
     * One attempt's consequence for its delivery.  Only a pending delivery
     * changes status (a cancelled or already succeeded one keeps it); SET
     * expressions all see the old row, so the CASEs test the old status.
     * The attempt goes in the row's first_* columns if it is the first the
     * row records (migration 14); RETURNING sees the new row, so recorded = 1
     * says it went there and needs no attempts row.
     */
    [ST_DELIVERY_RESULT] = "UPDATE deliveries SET attempts = ?2, last_status_code = ?3,"
                           " last_error = ?4, updated_at = ?5, lease_until = 0,"
                           " next_attempt_at = CASE WHEN status = 'pending' AND ?6 = 'pending'"
                           " THEN ?7 ELSE next_attempt_at END,"
                           " status = CASE WHEN status = 'pending' THEN ?6 ELSE status END,"
                           " recorded = recorded + 1,"
                           " first_attempt_no = CASE WHEN recorded = 0 THEN ?2"
                           " ELSE first_attempt_no END,"
                           " first_started_at = CASE WHEN recorded = 0 THEN ?8"
                           " ELSE first_started_at END,"
                           " first_duration_ms = CASE WHEN recorded = 0 THEN ?9"
                           " ELSE first_duration_ms END,"
                           " first_status_code = CASE WHEN recorded = 0 THEN ?3"
                           " ELSE first_status_code END,"
                           " first_error = CASE WHEN recorded = 0 THEN ?4 ELSE first_error END,"
                           " first_response_head = CASE WHEN recorded = 0 THEN ?10"
                           " ELSE first_response_head END,"
                           " first_response_headers = CASE WHEN recorded = 0 THEN ?11"
                           " ELSE first_response_headers END"
                           " WHERE id = ?1 RETURNING webhook_id, recorded = 1",
    [ST_ATTEMPT_INSERT] = "INSERT INTO attempts (delivery_id, " ATTEMPT_COLS ")"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* Several attempts in one statement (record_tx): 8 or 32 rows of 8 parameters. */
    [ST_ATTEMPT_INSERT_8] = "INSERT INTO attempts (delivery_id, " ATTEMPT_COLS ") VALUES " A_ROWS_8,
    [ST_ATTEMPT_INSERT_32] = "INSERT INTO attempts (delivery_id, " ATTEMPT_COLS ") VALUES " A_ROWS_8
                             "," A_ROWS_8 "," A_ROWS_8 "," A_ROWS_8,
    /* A batch's last word on the streak, when it held a success (record_tx). */
    [ST_WEBHOOK_FAILING_SET] = "UPDATE webhooks SET failing_since = ?2"
                               " WHERE id = ?1 AND failing_since <> ?2",
    [ST_WEBHOOK_SUCCEEDED] = "UPDATE webhooks SET failing_since = 0"
                             " WHERE id = ?1 AND failing_since <> 0",
    [ST_WEBHOOK_FAILED] =
        "UPDATE webhooks SET failing_since = ?2 WHERE id = ?1 AND failing_since = 0",
    /* The first reason sticks: an already disabled webhook is left alone. */
    [ST_WEBHOOK_AUTO_DISABLE] = "UPDATE webhooks SET is_active = 0, disabled_reason = ?2,"
                                " updated_at = ?3"
                                " WHERE id = ?1 AND is_active = 1 AND deregistered_at = 0",
    [ST_DELIVERY_RELEASE] = "UPDATE deliveries SET lease_until = 0 WHERE id = ?1",
    [ST_DELIVERY_RELEASE_ALL] = SQL_DELIVERY_RELEASE_ALL,
    [ST_DELIVERY_LIST_WEBHOOK] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                                 " JOIN events e ON e.id = d.event_id"
                                 " WHERE d.webhook_id = ?1" LIST_PAGE,
    /*
     * A community's: its events newest first (events_by_community), their
     * deliveries by event; a delivery has its event's created_at, so the
     * order and the cursor are the event's time, then the delivery's id.
     */
    [ST_DELIVERY_LIST_COMMUNITY] =
        "SELECT " DELIVERY_COLS " FROM events e JOIN deliveries d ON d.event_id = e.id"
        " WHERE e.community_id = ?1 AND (?2 IS NULL OR d.status = ?2)"
        " AND e.created_at <= ?3 AND (e.created_at < ?3 OR d.id < ?4)"
        " AND e.created_at >= ?6 AND e.created_at < ?7 AND ?8 IS NULL"
        " ORDER BY e.created_at DESC, d.id DESC LIMIT ?5",
    [ST_DELIVERY_LIST_EVENT] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                               " JOIN events e ON e.id = d.event_id"
                               " WHERE d.event_id = ?1" LIST_PAGE,
    [ST_DELIVERY_GET] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                        " JOIN events e ON e.id = d.event_id WHERE d.id = ?1",
    /* The attempts table's and the one in the delivery's row (migration 14). */
    [ST_ATTEMPT_LIST] = "SELECT " ATTEMPT_COLS " FROM attempts WHERE delivery_id = ?1"
                        " UNION ALL SELECT first_attempt_no, first_started_at, first_duration_ms,"
                        " first_status_code, first_error, first_response_head,"
                        " first_response_headers FROM deliveries WHERE id = ?1"
                        " AND recorded > 0 ORDER BY attempt_no, started_at",
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
    /* The start-up reseal of webhook secrets (ah_store_secrets_init). */
    [ST_WEBHOOK_SECRETS_PAGE] = "SELECT id, secret, prev_secret FROM webhooks WHERE id > ?1"
                                " ORDER BY id LIMIT ?2",
    [ST_WEBHOOK_SECRETS_SET] = "UPDATE webhooks SET secret = ?2, prev_secret = ?3"
                               " WHERE id = ?1 AND secret = ?4 AND prev_secret IS ?5",
    /* Both from one covering scan of deliveries_pending (migration 6). */
    [ST_DELIVERY_STATS] = "SELECT count(*), min(created_at) FROM deliveries"
                          " WHERE status = 'pending'",
    [ST_CACHE_GEN] = SQL_CACHE_GEN,

    /*
     * Retention (purge.c).  The scan walks events_by_age from the cursor and
     * probes deliveries_by_event per event; the sets are JSON arrays of event
     * ids.  The whole purge runs in one BEGIN IMMEDIATE: nothing changes
     * between the scan and the deletes.
     */
    [ST_PURGE_SCAN] = "SELECT e.id, e.created_at, NOT EXISTS (SELECT 1 FROM deliveries d"
                      " WHERE d.event_id = e.id AND (d.status = 'pending' OR d.updated_at >= ?1))"
                      " FROM events e WHERE e.created_at < ?1 AND (e.created_at, e.id) > (?2, ?3)"
                      " ORDER BY e.created_at, e.id LIMIT ?4",
    /*
     * The set drives every statement (CROSS JOIN fixes the order, deletes go
     * by rowid): with IN (set) SQLite may instead scan a table and probe the
     * set, which the plans test (test_store_retention) catches.
     */
    [ST_PURGE_HOLD] = "SELECT d.event_id, d.status <> 'pending' AND d.updated_at < ?2,"
                      " d.recorded > 0"
                      " FROM json_each(?1) j CROSS JOIN deliveries d ON d.event_id = j.value",
    [ST_PURGE_ATTEMPTS] = "DELETE FROM attempts WHERE rowid IN (SELECT a.rowid FROM json_each(?1) j"
                          " CROSS JOIN deliveries d ON d.event_id = j.value"
                          " CROSS JOIN attempts a ON a.delivery_id = d.id)",
    [ST_PURGE_DELIVERIES] =
        "DELETE FROM deliveries WHERE rowid IN (SELECT d.rowid"
        " FROM json_each(?1) j CROSS JOIN deliveries d ON d.event_id = j.value)",
    [ST_PURGE_EVENTS] = "DELETE FROM events WHERE rowid IN (SELECT e.rowid"
                        " FROM json_each(?1) j CROSS JOIN events e ON e.id = j.value)",
};

/* ------------------------------------------------------------------------ */
/* The store and its connection pool.                                        */

typedef struct ah_sql_conn conn_t;

struct ah_sql_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    conn_t *next_idle; /* the pool's idle list */
    conn_t *next_all;  /* every open connection, for close */
    bool is_writer;    /* the store's writer connection (acquire_writer) */
};

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
    int own_fd;     /* delivery_own's lock file, or -1 */
    bool in_memory; /* ":memory:" */
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
    /*
     * A full disk (SQLITE_FULL), a failing one (SQLITE_IOERR_*) or a file
     * that cannot be opened is storage that cannot serve now, not a bug:
     * AH_EUNAVAIL, which callers answer 503 with Retry-After.  SQLite has
     * rolled back what the failed statement began, and the same connection
     * works again once the disk does (docs/operations.md, "A full disk").
     */
    switch (rc & 0xff) {
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_IOERR:
        return AH_EUNAVAIL;
    default:
        return AH_ESTORE;
    }
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

static int run_id(conn_t *c, int id);

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

static int prepare(conn_t *c, int id, sqlite3_stmt **out)
{
    *out = NULL;
    if (!c->stmt[id]) {
        if (!stmt_sql[id])
            return db_error(c->db, SQLITE_MISUSE, "a statement this backend lacks");
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmt[id], NULL);
        if (rc != SQLITE_OK)
            return db_error(c->db, rc, "prepare");
    }
    *out = c->stmt[id];
    return AH_OK;
}

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
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
/* The SQL driver: parameters, rows, statements, connections.               */

static sqlite_store_t *from(ah_store_t *base)
{
    return (sqlite_store_t *)base;
}

/* Binds p to st; text is bound in place (SQLITE_STATIC), with its length. */
static int bind_params(conn_t *c, sqlite3_stmt *st, const ah_sql_params_t *p)
{
    if (!p)
        return AH_OK;
    if (p->bad)
        return AH_EINVAL;
    for (int i = 0; i < p->n; i++) {
        const ah_sql_param_t *v = &p->v[i];
        int rc;
        switch (v->type) {
        case AH_SQL_TEXT:
        case AH_SQL_BYTES: /* kept as TEXT, byte for byte */
            rc = sqlite3_bind_text64(st, i + 1, v->u.s, v->len, SQLITE_STATIC, SQLITE_UTF8);
            break;
        case AH_SQL_I64:
        case AH_SQL_BOOL:
            rc = sqlite3_bind_int64(st, i + 1, v->u.i);
            break;
        default:
            rc = sqlite3_bind_null(st, i + 1);
            break;
        }
        if (rc == SQLITE_TOOBIG)
            return AH_ETOOBIG;
        /* A binding only fails on a caller bug or out of memory. */
        if (rc != SQLITE_OK)
            return db_error(c->db, rc, "bind");
    }
    return AH_OK;
}

static bool row_is_null(const ah_sql_row_t *r, int col)
{
    return sqlite3_column_type(r->res, col) == SQLITE_NULL;
}

static int64_t row_i64(const ah_sql_row_t *r, int col)
{
    return sqlite3_column_int64(r->res, col);
}

static bool row_bool(const ah_sql_row_t *r, int col)
{
    return sqlite3_column_int(r->res, col) != 0;
}

static const char *row_text(const ah_sql_row_t *r, int col, size_t *len)
{
    const unsigned char *v = sqlite3_column_text(r->res, col);
    int n = sqlite3_column_bytes(r->res, col);
    *len = v && n > 0 ? (size_t)n : 0;
    return (const char *)v;
}

static void row_bytes(const ah_sql_row_t *r, int col, char *dst, size_t cap)
{
    sql_copy(r, col, dst, cap);
}

static const ah_sql_row_ops_t row_ops = {row_is_null, row_i64, row_bool, row_text, row_bytes};

/*
 * Runs statement id on c: binds p, steps, hands each row to fn (fn NULL:
 * stops at the first row, which a statement that writes has then done).
 */
static int step_stmt(conn_t *c, int id, const ah_sql_params_t *p, ah_sql_row_fn fn, void *arg,
                     size_t *changed)
{
    sqlite3_stmt *st;
    int rc = prepare(c, id, &st);
    if (rc)
        return rc;
    rc = bind_params(c, st, p);
    ah_sql_row_t row = {&row_ops, st, 0, 0};
    while (rc == AH_OK) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_error(c->db, step, "step");
            break;
        }
        if (!fn)
            break;
        rc = fn(arg, &row);
    }
    if (rc == AH_SQL_STOP)
        rc = AH_OK;
    /* changes() leaves out the rows that triggers touch (the cache generations). */
    if (rc == AH_OK && changed)
        *changed = (size_t)sqlite3_changes(c->db);
    finish(st);
    return rc;
}

static int run_id(conn_t *c, int id)
{
    return step_stmt(c, id, NULL, NULL, NULL, NULL);
}

static int lite_exec(ah_store_t *base, conn_t *c, bool write, int id, const ah_sql_params_t *p,
                     ah_sql_row_fn fn, void *arg, size_t *changed)
{
    if (c)
        return step_stmt(c, id, p, fn, arg, changed);
    sqlite_store_t *s = from(base);
    int rc = write ? acquire_writer(s, &c) : acquire(s, &c);
    if (rc)
        return rc;
    rc = step_stmt(c, id, p, fn, arg, changed);
    release(s, c);
    return rc;
}

/*
 * Writes (AH_SQL_WRITE, AH_SQL_WRITE_TX) run on the writer connection; a
 * write transaction is BEGIN IMMEDIATE, a read one a deferred BEGIN, so
 * that it sees one snapshot and takes the WAL read lock once.  A serial one
 * (AH_SQL_SERIAL_TX: claims) is a deferred BEGIN on the writer connection:
 * it holds write_mu, so no write of this process runs meanwhile, writes
 * nothing and commits nothing, and finds in the writer's page cache what
 * the last publish wrote.
 */
static int lite_run(ah_store_t *base, ah_sql_mode_t mode, ah_sql_tx_fn fn, void *arg)
{
    sqlite_store_t *s = from(base);
    if (mode == AH_SQL_WRITE_TX_LAZY)
        mode = AH_SQL_WRITE_TX; /* synchronous=NORMAL already: a commit does not wait for fsync */
    bool write = mode == AH_SQL_WRITE || mode == AH_SQL_WRITE_TX || mode == AH_SQL_SERIAL_TX;
    conn_t *c;
    int rc = write ? acquire_writer(s, &c) : acquire(s, &c);
    if (rc)
        return rc;
    if (mode != AH_SQL_READ && mode != AH_SQL_WRITE) {
        rc = run_id(c, mode == AH_SQL_WRITE_TX ? ST_BEGIN : ST_BEGIN_READ);
        if (rc == AH_OK)
            rc = tx_end(c, fn(c, arg));
    } else {
        rc = fn(c, arg);
    }
    release(s, c);
    return rc;
}

/*
 * One process: nothing to notify.  Claims for several webhooks share one
 * write transaction (see ah_store_delivery_claim_many).  The claim bodies
 * are read by their own statement inside that transaction: on the writer
 * connection the events just published are still in its page cache, so
 * copying them costs less than a read transaction of its own on another
 * connection.
 */
static const ah_sql_driver_t sqlite_driver = {
    .exec = lite_exec,
    .run = lite_run,
    .notify = NULL,
    .utf8_only = false,
    .claim_bodies = false,
    .claim_in_one_tx = true,
    .memory_leases = true,
};

/* ------------------------------------------------------------------------ */
/* Events and deliveries.                                                    */
/*
 * The queue is the deliveries table itself: a pending row is work, due at
 * next_attempt_at.  A claim reads it and leases it in this process's memory
 * (store.c, "Leases in memory"), serialised with the writes on the writer
 * connection; the lease_until column stays 0.  Recording an attempt ends
 * the lease after its commit; a crash ends them all, and the next start
 * sends what was in flight again.  Writers that read first
 * (publish, record, recover) run in BEGIN IMMEDIATE; multi-statement
 * reads (the due-webhook walk, a delivery with its attempts) run in a
 * deferred BEGIN so they see one snapshot and take the WAL read lock once.
 */

/* ---- publish ---- */

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
    ah_register_t *reg; /* a registration instead of a publish (webhook_register_async) */
    int rc;
    bool done; /* event_publish's own job: set under pub_mu when finished */
    bool heap; /* event_publish_async's: freed by the publisher */
    void (*cb)(void *arg, int rc);
    void *arg;
    struct pub_job *next;
};

#define PUB_BATCH_MAX 256

/*
 * One publish inside the batch's transaction: the duplicate check first (no
 * other writer can slip in between: the transaction holds the write lock),
 * then the event and its deliveries.
 */
static int publish_one(sqlite_store_t *s, conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    int rc = ev->idempotency_key[0] ? ah_sql_find_duplicate(&s->base, c, ev, res) : AH_ENOTFOUND;
    if (rc != AH_ENOTFOUND)
        return rc;
    bool inserted;
    rc = ah_sql_insert_event(&s->base, c, ev, &inserted);
    if (rc == AH_OK)
        rc = ah_sql_fan_out(&s->base, c, ev, res);
    if (rc == AH_OK)
        ah_sql_copy_id(res->event_id, ev->id);
    return rc;
}

static void job_failed(struct pub_job *j, int rc)
{
    if (j->res) {
        free(j->res->webhook_ids);
        memset(j->res, 0, sizeof *j->res);
    }
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
        j->rc =
            j->reg ? ah_store_register_in(&s->base, c, j->reg) : publish_one(s, c, j->ev, j->res);
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
    struct pub_job *j = calloc(1, sizeof *j);
    int rc = j ? AH_OK : AH_ENOMEM;
    if (rc == AH_OK) {
        *j = (struct pub_job){.ev = ev, .res = res, .heap = true, .cb = done, .arg = arg};
        rc = queue_job(from(base), j);
    }
    if (rc) {
        free(j);
        done(arg, rc);
    }
}

/*
 * Registrations join the publishes' batches: each is one INSERT (and, for
 * a twin, one read) under its own savepoint, so a burst of them costs one
 * commit, one WAL write and one hand-over of the write lock, where each
 * used to be a transaction of its own.
 */
static void webhook_register_async(ah_store_t *base, ah_register_t *r,
                                   void (*done)(void *arg, int rc), void *arg)
{
    struct pub_job *j = calloc(1, sizeof *j);
    int rc = j ? AH_OK : AH_ENOMEM;
    if (rc == AH_OK) {
        *j = (struct pub_job){.reg = r, .heap = true, .cb = done, .arg = arg};
        rc = queue_job(from(base), j);
    }
    if (rc) {
        free(j);
        done(arg, rc);
    }
}

static int event_publish(ah_store_t *base, const ah_event_t *ev, ah_publish_result_t *res)
{
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
/* ---- finding work ---- */

typedef struct due_walk {
    ah_store_t *s;
    ah_due_t *arr;
    size_t len;
} due_walk_t;

/*
 * The skip-scan: each step is one probe of deliveries_pending for the first
 * pending row of the next webhook id, so the cost is per webhook, not per
 * pending delivery.
 */
static int walk_due(conn_t *c, void *arg)
{
    due_walk_t *w = arg;
    size_t cap = 0;
    char after[AH_ID_SIZE] = "";
    for (;;) {
        ah_due_t d = {0};
        ah_sql_params_t p;
        ah_sql_params_init(&p);
        p_str(&p, after);
        int rc = ah_sql_one(w->s, c, false, ST_DUE_NEXT, &p, ah_sql_map_due, &d);
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
        ah_sql_copy_id(after, d.webhook_id);
        bool live = false;
        rc = ah_sql_webhook_live(w->s, c, d.webhook_id, &live);
        if (rc == AH_ENOTFOUND) /* impossible with foreign keys on; skip it */
            rc = AH_OK;
        if (rc)
            return rc;
        if (!live)
            continue;
        if (w->len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            void *np = realloc(w->arr, ncap * sizeof *w->arr);
            if (!np)
                return AH_ENOMEM;
            w->arr = np;
            cap = ncap;
        }
        w->arr[w->len++] = d;
    }
}

static int delivery_due_webhooks(ah_store_t *base, ah_due_t **out, size_t *n)
{
    due_walk_t w = {base, NULL, 0};
    int rc = lite_run(base, AH_SQL_READ_TX, walk_due, &w);
    if (rc) {
        free(w.arr);
        return rc;
    }
    *out = w.arr;
    *n = w.len;
    return AH_OK;
}

/* ---- recording attempts ---- */
/*
 * A batch of results is one transaction (record_tx), in three passes: the
 * deliveries' new states, one statement each, with each delivery's first
 * attempt in its row; the other attempts, 32 or 8 rows a statement; and
 * each webhook's consequences once per batch, not once per result.  A
 * webhook's failure streak only depends on the order of its results (a
 * success ends it, a failure starts it if none runs), so its last word in
 * the batch is one statement: the time of the first failure after its last
 * success (0 if none) when the batch held a success, else the first
 * failure's, if no streak runs.
 */

/* What ST_DELIVERY_RESULT returns: the delivery's webhook, whether the attempt is in its row. */
typedef struct result_row {
    char *webhook_id; /* AH_ID_SIZE bytes */
    bool inline_attempt;
} result_row_t;

static void map_result(const ah_sql_row_t *r, void *out)
{
    result_row_t *res = out;
    sql_copy(r, 0, res->webhook_id, AH_ID_SIZE);
    res->inline_attempt = sql_bool(r, 1);
}

/*
 * The delivery's new state; its webhook into webhook_id, and whether the
 * attempt went in the delivery's row (*inline_attempt: no attempts row).
 * AH_ENOTFOUND if no such delivery.
 */
static int update_delivery(ah_store_t *s, conn_t *c, const ah_attempt_result_t *r,
                           char webhook_id[AH_ID_SIZE], bool *inline_attempt)
{
    const ah_attempt_t *a = &r->attempt;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, r->delivery_id);
    p_i64(&p, a->attempt_no);
    p_i64(&p, a->status_code);
    P_OPT_FIELD(&p, a->error);
    p_i64(&p, a->started_at + a->duration_ms);
    p_str(&p, ah_outcome_status(r->outcome)); /* the store layer checked the outcome */
    p_i64(&p, r->next_attempt_at);
    p_i64(&p, a->started_at);
    p_i64(&p, a->duration_ms);
    P_OPT_FIELD(&p, a->response_head);
    P_OPT_FIELD(&p, a->response_headers);
    result_row_t res = {webhook_id, false};
    int rc = ah_sql_one(s, c, true, ST_DELIVERY_RESULT, &p, map_result, &res);
    *inline_attempt = res.inline_attempt;
    return rc;
}

/* Binds text field f (an array of cap bytes) at i: NULL when empty and opt. */
static int bind_field(conn_t *c, sqlite3_stmt *st, int i, const char *f, size_t cap, bool opt)
{
    size_t len = strnlen(f, cap);
    if (len >= cap)
        return AH_EINVAL; /* not terminated within its array */
    int rc = opt && !len ? sqlite3_bind_null(st, i)
                         : sqlite3_bind_text64(st, i, f, len, SQLITE_STATIC, SQLITE_UTF8);
    return rc == SQLITE_OK ? AH_OK : db_error(c->db, rc, "bind");
}

/* Inserts the attempts of n results (1, 8 or 32) with one statement. */
static int insert_attempts(conn_t *c, const ah_attempt_result_t *const *rs, size_t n)
{
    int id = n == 32 ? ST_ATTEMPT_INSERT_32 : n == 8 ? ST_ATTEMPT_INSERT_8 : ST_ATTEMPT_INSERT;
    sqlite3_stmt *st;
    int rc = prepare(c, id, &st);
    for (size_t k = 0; rc == AH_OK && k < n; k++) {
        const ah_attempt_result_t *r = rs[k];
        const ah_attempt_t *a = &r->attempt;
        int i = (int)k * A_PARAMS + 1;
        rc = bind_field(c, st, i, r->delivery_id, sizeof r->delivery_id, false);
        if (rc == AH_OK)
            rc = sqlite3_bind_int64(st, i + 1, a->attempt_no) ||
                         sqlite3_bind_int64(st, i + 2, a->started_at) ||
                         sqlite3_bind_int64(st, i + 3, a->duration_ms) ||
                         sqlite3_bind_int64(st, i + 4, a->status_code)
                     ? db_error(c->db, SQLITE_ERROR, "bind")
                     : AH_OK;
        if (rc == AH_OK)
            rc = bind_field(c, st, i + 5, a->error, sizeof a->error, true);
        if (rc == AH_OK)
            rc = bind_field(c, st, i + 6, a->response_head, sizeof a->response_head, true);
        if (rc == AH_OK)
            rc = bind_field(c, st, i + 7, a->response_headers, sizeof a->response_headers, true);
    }
    if (rc == AH_OK) {
        int step = sqlite3_step(st);
        if (step != SQLITE_DONE)
            rc = db_error(c->db, step, "step");
    }
    finish(st);
    return rc;
}

/* A recorded result's place in the batch, and its webhook (the row's). */
typedef struct rec_ref {
    char hook[AH_ID_SIZE];
    size_t i; /* in record_job_t.rec */
} rec_ref_t;

/*
 * One webhook's consequences of a batch: its results are rec[ref[k].i] for
 * k < n, in batch order, and ref[0].hook is the webhook.
 */
static int webhook_consequences(conn_t *c, const ah_attempt_result_t *const *rec,
                                const rec_ref_t *ref, size_t n)
{
    const char *webhook_id = ref[0].hook;
    bool success = false;
    int64_t first_failure = 0; /* since the last success, or in the batch */
    for (size_t k = 0; k < n; k++) {
        const ah_attempt_result_t *r = rec[ref[k].i];
        if (r->outcome == AH_OUTCOME_SUCCEEDED) {
            success = true;
            first_failure = 0;
        } else if (!first_failure) {
            first_failure = r->attempt.started_at;
        }
    }
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, webhook_id);
    int rc = AH_OK;
    if (success) {
        p_i64(&p, first_failure);
        rc = step_stmt(c, ST_WEBHOOK_FAILING_SET, &p, NULL, NULL, NULL);
    } else if (first_failure) {
        p_i64(&p, first_failure);
        rc = step_stmt(c, ST_WEBHOOK_FAILED, &p, NULL, NULL, NULL);
    }
    for (size_t k = 0; rc == AH_OK && k < n; k++) {
        const ah_attempt_result_t *r = rec[ref[k].i];
        if (!r->disable_reason[0])
            continue;
        ah_sql_params_init(&p);
        p_str(&p, webhook_id);
        P_FIELD(&p, r->disable_reason);
        p_i64(&p, r->attempt.started_at + r->attempt.duration_ms);
        rc = step_stmt(c, ST_WEBHOOK_AUTO_DISABLE, &p, NULL, NULL, NULL);
    }
    return rc;
}

typedef struct record_job {
    ah_store_t *s;
    const ah_attempt_result_t *results;
    size_t n;
    /*
     * Scratch, n each: the results recorded, in batch order, and their
     * references; those of them that need an attempts row (not a
     * delivery's first), in batch order (rows: the second half of rec's
     * allocation).
     */
    const ah_attempt_result_t **rec;
    rec_ref_t *ref;
    const ah_attempt_result_t **rows;
} record_job_t;

/* By webhook, then batch order. */
static int cmp_ref(const void *pa, const void *pb)
{
    const rec_ref_t *a = pa, *b = pb;
    int d = strcmp(a->hook, b->hook);
    return d ? d : (a->i > b->i) - (a->i < b->i);
}

static int record_tx(conn_t *c, void *arg)
{
    record_job_t *j = arg;
    size_t m = 0, n_rows = 0;
    int rc = AH_OK;
    /*
     * 1: each delivery's new state, with its first attempt; a result for a
     * delivery that does not exist is skipped.
     */
    for (size_t i = 0; rc == AH_OK && i < j->n; i++) {
        const ah_attempt_result_t *r = &j->results[i];
        bool inline_attempt = false;
        rc = update_delivery(j->s, c, r, j->ref[m].hook, &inline_attempt);
        if (rc == AH_ENOTFOUND) {
            ah_logf(AH_LOG_WARN, "sqlite: attempt for unknown delivery %.*s not recorded",
                    (int)strnlen(r->delivery_id, AH_ID_SIZE - 1), r->delivery_id);
            rc = AH_OK;
            continue;
        }
        if (rc == AH_OK) {
            j->ref[m].i = m;
            j->rec[m++] = r;
            if (!inline_attempt)
                j->rows[n_rows++] = r;
        }
    }
    /* 2: the other attempts, in as few statements as the sizes allow. */
    for (size_t i = 0; rc == AH_OK && i < n_rows;) {
        size_t k = n_rows - i >= 32 ? 32 : n_rows - i >= 8 ? 8 : 1;
        rc = insert_attempts(c, &j->rows[i], k);
        i += k;
    }
    /* 3: each webhook's consequences once, from its results in batch order. */
    qsort(j->ref, m, sizeof *j->ref, cmp_ref);
    for (size_t i = 0; rc == AH_OK && i < m;) {
        size_t first = i;
        while (i < m && !strcmp(j->ref[i].hook, j->ref[first].hook))
            i++;
        rc = webhook_consequences(c, j->rec, &j->ref[first], i - first);
    }
    return rc;
}

static int delivery_record(ah_store_t *base, const ah_attempt_result_t *results, size_t n)
{
    record_job_t j = {base, results, n, malloc(2 * n * sizeof *j.rec), malloc(n * sizeof *j.ref),
                      NULL};
    int rc = AH_ENOMEM;
    if (j.rec && j.ref) {
        j.rows = j.rec + n;
        rc = lite_run(base, AH_SQL_WRITE_TX, record_tx, &j);
    }
    free(j.rec);
    free(j.ref);
    return rc;
}

typedef struct release_job {
    const char (*ids)[AH_ID_SIZE];
    size_t n;
} release_job_t;

static int release_tx(conn_t *c, void *arg)
{
    const release_job_t *j = arg;
    int rc = AH_OK;
    for (size_t i = 0; rc == AH_OK && i < j->n; i++) {
        char id[AH_ID_SIZE];
        ah_sql_copy_id(id, j->ids[i]);
        ah_sql_params_t p;
        ah_sql_params_init(&p);
        p_str(&p, id);
        rc = step_stmt(c, ST_DELIVERY_RELEASE, &p, NULL, NULL, NULL);
    }
    return rc;
}

static int delivery_release(ah_store_t *base, const char (*ids)[AH_ID_SIZE], size_t n)
{
    release_job_t j = {ids, n};
    return lite_run(base, AH_SQL_WRITE_TX, release_tx, &j);
}

/* ---- the cache generations ---- */

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
    int rc = ah_store_read_cache_gen(base, out);
    if (rc == AH_OK && stable) {
        pthread_mutex_lock(&s->gen_mu);
        memcpy(s->gen_hdr, hdr, WAL_HDR_SIZE);
        s->gen = *out;
        s->gen_known = true;
        pthread_mutex_unlock(&s->gen_mu);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Free space: after the retention purge (ah_store_reclaim_space).          */

/*
 * New database files are made with auto_vacuum = INCREMENTAL (set at open,
 * before the first table exists; the file keeps it): the pages a purge
 * frees go to the freelist, which SQLite reuses for new rows before it
 * grows the file, and reclaim_space gives what is beyond a reserve back to
 * the filesystem, a few pages per call, so that the file shrinks after a
 * burst.  The reserve spares the steady state from truncating pages that
 * the next minute's rows would add again.  A file made with auto_vacuum =
 * NONE (before this) cannot switch without a VACUUM: it reuses its free
 * pages all the same (it stops growing) but never shrinks; operations.md
 * says how to switch it.
 */
#define RECLAIM_RESERVE_PAGES 1024 /* 4 MiB at 4 KiB pages */

static int pragma_i64(conn_t *c, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? AH_OK : db_error(c->db, rc, sql);
}

static int read_space(conn_t *c, int64_t *pages, int64_t *free_pages)
{
    int rc = pragma_i64(c, "PRAGMA page_count", pages);
    return rc ? rc : pragma_i64(c, "PRAGMA freelist_count", free_pages);
}

static int reclaim_space(ah_store_t *base, size_t max_pages, ah_store_space_t *out)
{
    sqlite_store_t *s = from(base);
    conn_t *c;
    int rc = acquire_writer(s, &c);
    if (rc)
        return rc;
    int64_t mode = 0, page_size = 0, pages = 0, free_pages = 0;
    rc = pragma_i64(c, "PRAGMA auto_vacuum", &mode);
    if (rc == AH_OK)
        rc = pragma_i64(c, "PRAGMA page_size", &page_size);
    if (rc == AH_OK)
        rc = read_space(c, &pages, &free_pages);
    int64_t before = pages;
    int64_t excess = free_pages - RECLAIM_RESERVE_PAGES;
    if (rc == AH_OK && mode == 2 && excess > 0 && max_pages > 0) {
        /* PRAGMA takes no parameters; the number is ours. */
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%" PRId64 ")",
                 excess < (int64_t)max_pages ? excess : (int64_t)max_pages);
        int src = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
        rc = src == SQLITE_OK ? read_space(c, &pages, &free_pages) : db_error(c->db, src, sql);
    }
    release(s, c);
    if (rc)
        return rc;
    out->known = true;
    out->shrinks = mode == 2;
    out->more = out->shrinks && free_pages > RECLAIM_RESERVE_PAGES;
    out->file_bytes = pages * page_size;
    out->free_bytes = free_pages * page_size;
    out->reclaimed_bytes = (before - pages) * page_size;
    return AH_OK;
}

/* ---- one delivering process ---- */

/*
 * Leases live in the memory of the one process that delivers from the
 * file (the driver's memory_leases; store.c, "Leases in memory").  Which
 * one that is, is an exclusive flock() on "<database>-deliver", beside the
 * -wal and -shm, taken without waiting and held until the store is
 * closed; the kernel lets go of it when the process dies, kill -9
 * included, so the next start finds it free.  flock() locks, unlike the
 * fcntl() locks SQLite takes, are not dropped when another descriptor of
 * the process is closed, and do not meet SQLite's.  An in-memory database
 * has no other process.
 */
static int delivery_own(ah_store_t *base, char *err, size_t errlen)
{
    sqlite_store_t *s = from(base);
    /* Held already; or a private in-memory database, or a URI (no file name to put it beside). */
    if (s->own_fd >= 0 || s->in_memory || !strncmp(s->path, "file:", 5))
        return AH_OK;
    char p[4200];
    if (snprintf(p, sizeof p, "%s-deliver", s->path) >= (int)sizeof p) {
        snprintf(err, errlen, "the path %s is too long", s->path);
        return AH_EINVAL;
    }
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", p, strerror(errno));
        return AH_EUNAVAIL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            snprintf(err, errlen,
                     "another airhook process delivers from %s (it holds %s): on SQLite one "
                     "process delivers; give the others --role api, or use PostgreSQL for "
                     "several delivering nodes",
                     s->path, p);
            return AH_EEXISTS;
        }
        snprintf(err, errlen, "cannot lock %s: %s", p, strerror(e));
        return AH_EUNAVAIL;
    }
    s->own_fd = fd;
    return AH_OK;
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
    if (s->own_fd >= 0)
        close(s->own_fd); /* after every connection: see delivery_own */
    ah_store_leases_free(&s->base);
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
    .sql = &sqlite_driver,
    .close = store_close,
    .event_publish = event_publish,
    .event_publish_async = event_publish_async,
    .webhook_register_async = webhook_register_async,
    .delivery_due_webhooks = delivery_due_webhooks,
    .delivery_record = delivery_record,
    .delivery_release = delivery_release,
    .listen = NULL,
    .cache_gen = cache_gen,
    .reclaim_space = reclaim_space,
    .delivery_own = delivery_own,
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
/*
 * 64 MiB at 4 KiB pages.  Each RESTART holds the writers for two fsyncs (of
 * what came since sync_files) and the little the passive pass left: at 4000
 * pages (16 MiB) the soak's writers were held 330-520 ms in every 10 s; at
 * 16000, 170-240 ms, and the p99 of its second half fell from 35-49 to 27-34
 * ms (bench/ANALYSIS.md).
 */
#define WAL_RESTART_PAGES 16000

/*
 * Syncs the database file and the WAL through the checkpointer's own
 * connection's handles (SQLite's, so that no descriptor of ours is ever
 * closed under its POSIX locks).  A RESTART checkpoint syncs both with the
 * writers held; this does the bulk of that first, without them (below).  A
 * failed sync is not reported here: the RESTART's own sync meets it again,
 * and that one is.
 */
static void sync_files(sqlite3 *db)
{
    static const int ops[] = {SQLITE_FCNTL_FILE_POINTER, SQLITE_FCNTL_JOURNAL_POINTER};
    for (size_t i = 0; i < AH_ARRAY_LEN(ops); i++) {
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(db, "main", ops[i], &f) == SQLITE_OK && f && f->pMethods)
            f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    }
}

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
        struct timespec until = ah_deadline_ts(CLOCK_REALTIME, CHECKPOINT_EVERY_MS);
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
         *
         * A passive pass syncs the database only when it has copied the WAL
         * to its very end, which under a steady stream of commits it never
         * does: the pages it wrote stay unsynced, and the RESTART's own sync
         * of the database wrote them all, writers held (7-10 ms of its
         * 12-14 ms in the soak).  So the files are synced first, without
         * the writers held; the RESTART then syncs only what came since
         * (stalls of 5-7 ms on average instead of 13-18; bench/ANALYSIS.md).
         */
        if (n_log >= WAL_RESTART_PAGES) {
            sync_files(db);
            pthread_mutex_lock(&s->write_mu);
            int64_t t0 = ah_mono_us();
            int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
            ah_metrics_store_stall(ah_mono_us() - t0);
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

/*
 * The database holds event bodies (personal data), hashes of tokens and the
 * sealed webhook secrets: it and its -wal and -shm are the owner's alone.
 * SQLite makes -wal and -shm with the database file's permissions, so a
 * new database is created 0600 here before SQLite opens it (whatever the
 * umask); an existing file open to group or others is made so, saying so.
 * A directory that every user may write to is refused: anyone could put a
 * database, or a -wal of their own, in its place.  A group-writable one is
 * warned about.
 */
static int private_files(const char *path, char *err, size_t errlen)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char dir[4096], p[4200];
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir || strlen(path) + 8 >= sizeof p) {
        snprintf(err, errlen, "the path %s is too long", path);
        return AH_EINVAL;
    }
    memcpy(dir, n ? path : ".", n ? n : 1);
    dir[n ? n : 1] = '\0';
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH)) {
        snprintf(err, errlen,
                 "the directory %s, which holds the database, is writable by every user (mode "
                 "%04o): anyone could replace the database; chmod o-w %s, or use another one",
                 dir, (unsigned)(st.st_mode & 07777), dir);
        return AH_EINVAL;
    }
    if (stat(dir, &st) == 0 && (st.st_mode & S_IWGRP))
        ah_logf(AH_LOG_WARN,
                "sqlite: the directory %s, which holds the database, is writable by "
                "its group",
                dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) { /* an empty file is a new database to SQLite */
        if (fchmod(fd, 0600) != 0)
            ah_logf(AH_LOG_WARN, "sqlite: cannot make %s 0600: %s", path, strerror(errno));
        close(fd);
    }
    for (size_t i = 0; i < AH_ARRAY_LEN(suffixes); i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        if (stat(p, &st) != 0 || !(st.st_mode & 077))
            continue;
        if (chmod(p, st.st_mode & 0700) == 0)
            ah_logf(AH_LOG_WARN,
                    "sqlite: %s was open to group or others (mode %04o); it is "
                    "%04o now",
                    p, (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & 0700));
        else
            ah_logf(AH_LOG_WARN,
                    "sqlite: %s is open to group or others (mode %04o) and cannot "
                    "be made private: %s",
                    p, (unsigned)(st.st_mode & 07777), strerror(errno));
    }
    return AH_OK;
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
    s->own_fd = -1;
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

    if (ah_store_leases_init(&s->base)) {
        snprintf(err, errlen, "out of memory");
        store_close(&s->base);
        return AH_ENOMEM;
    }
    bool memory = strcmp(path, ":memory:") == 0;
    s->in_memory = memory;
    s->bg_checkpoint = !memory; /* connections are opened accordingly */
    if (!memory && strncmp(path, "file:", 5) != 0) {
        int rc = private_files(path, err, errlen);
        if (rc) {
            store_close(&s->base);
            return rc;
        }
    }
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
    /*
     * Before the file is in WAL mode and has a table, so that a new file
     * is made with it (see reclaim_space); on an older file it only takes
     * effect at a VACUUM.
     */
    sqlite3_exec(c->db, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
    rc = set_wal(s, c->db, memory, err, errlen);
    if (rc == AH_OK)
        rc = migrate(c->db, err, errlen);
    if (rc) {
        store_close(&s->base);
        return rc;
    }
    int64_t auto_vacuum = 0;
    if (!memory && pragma_i64(c, "PRAGMA auto_vacuum", &auto_vacuum) == AH_OK && auto_vacuum != 2)
        ah_logf(AH_LOG_INFO,
                "sqlite: %s was made without incremental auto_vacuum: the room purged rows "
                "leave is reused, but the file does not shrink (docs/operations.md, Retention)",
                s->path);
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
