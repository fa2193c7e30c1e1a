/*
 * store_pg.c: the PostgreSQL storage backend (ah_store_ops_t over libpq).
 *
 * What it is for.  Several `airhook serve` processes, on several hosts, share
 * one PostgreSQL database (SPEC §8): any of them may publish, claim, deliver
 * and record.  The semantics are those of store_sqlite.c, which stays the
 * reference; this file only says how PostgreSQL gets there.
 *
 * Connections.  A store is a pool of libpq connections (pool_max, opened
 * lazily) guarded by a mutex and a condition variable, like the SQLite pool:
 * an operation borrows one connection for its whole duration.  The pool size
 * is `pool=N` in the DSN's query string (taken out before libpq sees it), or
 * the AIRHOOK_PG_POOL environment variable, or else the number of CPUs + 4
 * (the HTTP threads, the dispatcher and a few spare), at least 8 and at most
 * 32.  Every connection prepares each statement of stmt_sql[] once, on first
 * use (PQprepare), and runs it with PQexecPrepared; every value travels as a
 * parameter, never as SQL text.  Values go in text format, except the
 * response head of an attempt, which is bytea in binary format (it is the
 * first KiB of whatever a receiver answered, possibly cut inside a UTF-8
 * sequence, and is kept byte for byte).
 *
 * Reconnecting.  libpq's connect_timeout is 2 s unless the DSN says
 * otherwise, with TCP keepalives and a TCP user timeout, so no call blocks
 * for long on a dead server.  Before a pooled connection is used it is
 * checked: a connection that is not CONNECTION_OK, or whose socket became
 * readable while idle (the server says FATAL and closes when it shuts down
 * or the backend is terminated), is closed and opened again.  When opening
 * fails the store is "down": until down_until every operation answers
 * AH_EUNAVAIL at once, without touching the network; after it one caller
 * (the probe) tries again while the others still fail fast, and each failure
 * doubles the wait from 100 ms up to 2 s.  A statement that fails with a
 * connection error (SQLSTATE class 08, 57P01..57P03, or a lost socket)
 * marks its connection broken and answers AH_EUNAVAIL; the transaction it
 * was in is gone, so nothing half-done stays behind.  A transaction that
 * loses a deadlock or a serialization check (40P01, 40001) is run again, up
 * to three times.
 *
 * Schema.  migrations[] is applied in one transaction holding
 * pg_advisory_xact_lock(MIGRATION_LOCK), with schema_migrations recording
 * what is applied, so nodes starting together migrate once; a database newer
 * than this binary is refused.  The tables, columns and indexes are those of
 * SQLite's migrations 1 and 2 with PostgreSQL types (BIGINT times, BOOLEAN
 * is_active, bytea response_head); ids and the other compared keys are
 * COLLATE "C", so they sort the way strcmp() does and compare fast whatever
 * the database's locale.
 *
 * Several nodes.  Publishing inserts the event with INSERT ... ON CONFLICT
 * (community_id, idempotency_key) DO NOTHING, so a key used concurrently on
 * two nodes makes one event (the loser waits for the winner's commit, finds
 * the row, and answers duplicate); registration does the same on the
 * partial unique index of active tuples.  Claims lock their rows with
 * FOR UPDATE SKIP LOCKED, so two nodes never take the same delivery; an
 * expired lease (lease_until < now) is simply claimable again.  Publishing,
 * retrying, recovering and re-enabling send pg_notify('airhook_work',
 * "<webhook id> <due ms>") in the same transaction, so the notification
 * arrives only after commit; listen() runs a thread with a connection of
 * its own (not from the pool) that LISTENs on that channel and hands each
 * notification to the caller's wake function, reconnecting with the same
 * backoff when the connection drops.  Leases are never cleared at start
 * (ops.shared): another node may be holding them.
 */
#include "store/backend.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define POOL_MIN_DEFAULT 8
#define POOL_MAX_DEFAULT 32
#define POOL_LIMIT 256
#define ACQUIRE_WAIT_MS 5000 /* longest wait for a free pooled connection */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define TX_TRIES 3        /* a transaction that lost a deadlock runs again */
#define PIPELINE_CHUNK 64 /* attempt results sent per round trip */
#define MAX_PARAMS 24
#define LIST_MAX_ROWS 100000  /* hard cap on the rows one list call returns */
#define CLAIM_MAX 10000       /* most deliveries one claim hands out */
#define DELIVERY_PAGE_MAX 500 /* most rows one delivery_list page holds */
#define CURSOR_NUM_MAX 20     /* digits (and sign) of the cursor's time */
#define LISTEN_POLL_MS 1000   /* the listener looks at its stop flag this often */
#define LISTEN_CONNECT_MS 5000
#define CHANNEL "airhook_work"
/* Any constant will do; all airhook processes must agree on it. */
#define MIGRATION_LOCK "7372602142175839812"

/* ------------------------------------------------------------------------ */
/* Schema migrations: append only.                                          */

static const char *const migrations[] = {
    /* 1: the schema of SQLite's migrations 1 and 2. */
    "CREATE TABLE settings ("
    "  key TEXT COLLATE \"C\" PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ");"
    "CREATE TABLE communities ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL"
    ");"
    "CREATE TABLE access_keys ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  community_id TEXT COLLATE \"C\" NOT NULL REFERENCES communities(id),"
    "  label TEXT NOT NULL,"
    "  access_key TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  secret_hash TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  revoked_at BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX access_keys_by_community ON access_keys(community_id, created_at);"
    "CREATE TABLE tokens ("
    "  token_hash TEXT COLLATE \"C\" PRIMARY KEY,"
    "  key_id TEXT COLLATE \"C\" NOT NULL REFERENCES access_keys(id),"
    "  community_id TEXT COLLATE \"C\" NOT NULL REFERENCES communities(id),"
    "  label TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX tokens_by_expiry ON tokens(expires_at);"
    "CREATE TABLE airmeets ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  community_id TEXT COLLATE \"C\" NOT NULL REFERENCES communities(id),"
    "  name TEXT NOT NULL,"
    "  start_time BIGINT NOT NULL DEFAULT 0,"
    "  end_time BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX airmeets_by_community ON airmeets(community_id);"
    "CREATE TABLE sessions ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  airmeet_id TEXT COLLATE \"C\" NOT NULL REFERENCES airmeets(id),"
    "  community_id TEXT COLLATE \"C\" NOT NULL REFERENCES communities(id),"
    "  name TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX sessions_by_airmeet ON sessions(airmeet_id);"
    "CREATE TABLE webhooks ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  community_id TEXT COLLATE \"C\" NOT NULL REFERENCES communities(id),"
    "  trigger TEXT COLLATE \"C\" NOT NULL,"
    "  name TEXT NOT NULL,"
    "  description TEXT,"
    "  url TEXT COLLATE \"C\" NOT NULL,"
    "  platform_name TEXT NOT NULL,"
    "  airmeet_id TEXT COLLATE \"C\" REFERENCES airmeets(id),"
    "  session_id TEXT COLLATE \"C\" REFERENCES sessions(id),"
    "  is_active BOOLEAN NOT NULL,"
    "  disabled_reason TEXT,"
    "  meta_data TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  updated_by TEXT,"
    "  secret TEXT NOT NULL,"
    "  prev_secret TEXT,"
    "  prev_secret_until BIGINT NOT NULL DEFAULT 0,"
    "  deregistered_at BIGINT NOT NULL DEFAULT 0,"
    "  failing_since BIGINT NOT NULL DEFAULT 0"
    ");"
    /* Idempotent registration: one active row per tuple (the ON CONFLICT arbiter). */
    "CREATE UNIQUE INDEX webhooks_active_tuple ON webhooks(community_id, trigger, url,"
    "  (coalesce(airmeet_id, '')), (coalesce(session_id, '')))"
    "  WHERE is_active AND deregistered_at = 0;"
    /* Matching an event to its webhooks. */
    "CREATE INDEX webhooks_match ON webhooks(community_id, trigger) WHERE is_active;"
    /* webhook-list: a community's active webhooks, oldest first. */
    "CREATE INDEX webhooks_by_community ON webhooks(community_id, created_at, id)"
    "  WHERE is_active;"
    "CREATE TABLE events ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  community_id TEXT COLLATE \"C\" NOT NULL REFERENCES communities(id),"
    "  trigger TEXT COLLATE \"C\" NOT NULL,"
    "  airmeet_id TEXT COLLATE \"C\","
    "  session_id TEXT COLLATE \"C\","
    "  data TEXT NOT NULL,"
    "  idempotency_key TEXT COLLATE \"C\","
    "  created_at BIGINT NOT NULL,"
    "  UNIQUE (community_id, idempotency_key)"
    ");"
    /* Claims rewrite lease_until (not indexed): room on the page keeps those updates HOT. */
    "CREATE TABLE deliveries ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  event_id TEXT COLLATE \"C\" NOT NULL REFERENCES events(id),"
    "  webhook_id TEXT COLLATE \"C\" NOT NULL REFERENCES webhooks(id),"
    "  status TEXT COLLATE \"C\" NOT NULL DEFAULT 'pending'"
    "    CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at BIGINT NOT NULL DEFAULT 0,"
    "  lease_until BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  last_status_code INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT"
    ") WITH (fillfactor = 80);"
    "CREATE INDEX deliveries_queue ON deliveries(status, webhook_id, next_attempt_at);"
    "CREATE INDEX deliveries_by_webhook ON deliveries(webhook_id, created_at, id);"
    "CREATE INDEX deliveries_by_event ON deliveries(event_id, created_at, id);"
    "CREATE INDEX deliveries_age ON deliveries(status, created_at);"
    "CREATE TABLE attempts ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  delivery_id TEXT COLLATE \"C\" NOT NULL REFERENCES deliveries(id),"
    "  attempt_no INTEGER NOT NULL,"
    "  started_at BIGINT NOT NULL,"
    "  duration_ms BIGINT NOT NULL DEFAULT 0,"
    "  status_code INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  response_head BYTEA"
    ");"
    "CREATE INDEX attempts_by_delivery ON attempts(delivery_id, attempt_no);",

    /*
     * 3: generations for the API's caches, as in SQLite's migration 4 (which
     * says what bumps what).  The triggers are deferred constraint triggers:
     * they run at commit, so the single row of cache_generations is locked
     * only for the last instant of a transaction, after every other lock it
     * takes; two transactions can then never deadlock over it (one already
     * committing only waits for another committing one), and writers of
     * unrelated rows queue on it only for the length of a commit.
     */
    "CREATE TABLE cache_generations ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  webhooks BIGINT NOT NULL,"
    "  auth BIGINT NOT NULL"
    ");"
    "INSERT INTO cache_generations (id, webhooks, auth) VALUES (1, 1, 1);"
    "CREATE FUNCTION cache_gen_bump_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE cache_generations SET webhooks = webhooks + 1 WHERE id = 1; RETURN NULL; END"
    " $$;"
    "CREATE FUNCTION cache_gen_bump_auth() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE cache_generations SET auth = auth + 1 WHERE id = 1; RETURN NULL; END"
    " $$;"
    "CREATE CONSTRAINT TRIGGER cache_gen_webhook_insert AFTER INSERT ON webhooks"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_webhooks();"
    "CREATE CONSTRAINT TRIGGER cache_gen_webhook_delete AFTER DELETE ON webhooks"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_webhooks();"
    "CREATE CONSTRAINT TRIGGER cache_gen_webhook_update AFTER UPDATE ON webhooks"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
    " WHEN (old.id IS DISTINCT FROM new.id OR old.community_id IS DISTINCT FROM new.community_id"
    " OR old.trigger IS DISTINCT FROM new.trigger OR old.name IS DISTINCT FROM new.name"
    " OR old.description IS DISTINCT FROM new.description OR old.url IS DISTINCT FROM new.url"
    " OR old.platform_name IS DISTINCT FROM new.platform_name"
    " OR old.airmeet_id IS DISTINCT FROM new.airmeet_id"
    " OR old.session_id IS DISTINCT FROM new.session_id"
    " OR old.is_active IS DISTINCT FROM new.is_active"
    " OR old.meta_data IS DISTINCT FROM new.meta_data"
    " OR old.created_at IS DISTINCT FROM new.created_at"
    " OR old.updated_at IS DISTINCT FROM new.updated_at"
    " OR old.created_by IS DISTINCT FROM new.created_by"
    " OR old.updated_by IS DISTINCT FROM new.updated_by"
    " OR old.deregistered_at IS DISTINCT FROM new.deregistered_at)"
    " EXECUTE FUNCTION cache_gen_bump_webhooks();"
    "CREATE CONSTRAINT TRIGGER cache_gen_key_change AFTER UPDATE OR DELETE ON access_keys"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();"
    "CREATE CONSTRAINT TRIGGER cache_gen_token_change AFTER UPDATE OR DELETE ON tokens"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();"
    "CREATE CONSTRAINT TRIGGER cache_gen_airmeet_change AFTER UPDATE OR DELETE ON airmeets"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();"
    "CREATE CONSTRAINT TRIGGER cache_gen_session_change AFTER UPDATE OR DELETE ON sessions"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();",
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
#define DELIVERY_COLS                                                                              \
    "d.id, d.event_id, d.webhook_id, e.trigger, d.status, d.attempts, d.next_attempt_at, "         \
    "d.lease_until, d.created_at, d.updated_at, d.last_status_code, d.last_error"
#define ATTEMPT_COLS "attempt_no, started_at, duration_ms, status_code, error, response_head"
#define LIST_PAGE                                                                                  \
    " AND ($2::text IS NULL OR d.status = $2::text)"                                               \
    " AND (d.created_at, d.id) < ($3::bigint, $4::text)"                                           \
    " ORDER BY d.created_at DESC, d.id DESC LIMIT $5::bigint"
/* The notification payload: "<webhook id> <due ms>". */
#define NOTIFY_OF(id, due) "pg_notify('" CHANNEL "', " id " || ' ' || " due ")"
#define ACTIVE_TUPLE                                                                               \
    "(community_id, trigger, url, (coalesce(airmeet_id, '')), (coalesce(session_id, '')))"         \
    " WHERE is_active AND deregistered_at = 0"

enum stmt_id {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
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
    ST_WEBHOOK_INSERT,
    ST_WEBHOOK_FIND_ACTIVE,
    ST_WEBHOOK_GET,
    ST_WEBHOOK_LIST_ACTIVE,
    ST_WEBHOOK_DEREGISTER,
    ST_WEBHOOK_SET_ACTIVE,
    ST_DELIVERIES_CANCEL,
    ST_NOTIFY,
    ST_EVENT_INSERT,
    ST_EVENT_FIND_KEY,
    ST_EVENT_FANOUT,
    ST_EVENT_GET,
    ST_DUE_WEBHOOKS,
    ST_WEBHOOK_LIVE,
    ST_CLAIM,
    ST_NEXT_DUE,
    ST_RECORD,
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
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = $1::text",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES ($1::text, $2::text)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_SETTING_ADD] = "INSERT INTO settings (key, value) VALUES ($1::text, $2::text)",
    [ST_COMMUNITY_INSERT] = "INSERT INTO communities (" COMMUNITY_COLS ")"
                            " VALUES ($1::text, $2::text, $3::bigint)",
    [ST_COMMUNITY_GET] = "SELECT " COMMUNITY_COLS " FROM communities WHERE id = $1::text",
    [ST_COMMUNITY_LIST] = "SELECT " COMMUNITY_COLS " FROM communities ORDER BY created_at, id",
    [ST_KEY_INSERT] = "INSERT INTO access_keys (" KEY_COLS ") VALUES ($1::text, $2::text,"
                      " $3::text, $4::text, $5::text, $6::bigint, $7::bigint)",
    [ST_KEY_FIND] = "SELECT " KEY_COLS " FROM access_keys WHERE access_key = $1::text",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM access_keys WHERE id = $1::text",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM access_keys WHERE community_id = $1::text"
                    " ORDER BY created_at, id",
    [ST_KEY_REVOKE] = "UPDATE access_keys"
                      " SET revoked_at = CASE WHEN revoked_at = 0 THEN $2::bigint"
                      " ELSE revoked_at END WHERE id = $1::text",
    [ST_TOKEN_INSERT] = "INSERT INTO tokens (" TOKEN_COLS ") VALUES ($1::text, $2::text,"
                        " $3::text, $4::text, $5::bigint, $6::bigint)",
    [ST_TOKEN_FIND] = "SELECT " TOKEN_COLS " FROM tokens WHERE token_hash = $1::text",
    [ST_TOKEN_PURGE] = "DELETE FROM tokens WHERE expires_at < $1::bigint",
    [ST_AIRMEET_INSERT] = "INSERT INTO airmeets (" AIRMEET_COLS ") VALUES ($1::text, $2::text,"
                          " $3::text, $4::bigint, $5::bigint, $6::bigint)",
    [ST_AIRMEET_GET] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE id = $1::text",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (" SESSION_COLS ") VALUES ($1::text, $2::text,"
                          " $3::text, $4::text, $5::bigint)",
    [ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE id = $1::text",
    /* Nothing is inserted (no row back) when an active twin exists: see webhook_register. */
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks (" WEBHOOK_COLS ") VALUES ($1::text, $2::text,"
                          " $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,"
                          " $10::boolean, $11::text, $12::text, $13::bigint, $14::bigint,"
                          " $15::text, $16::text, $17::text, $18::text, $19::bigint,"
                          " $20::bigint, $21::bigint)"
                          " ON CONFLICT " ACTIVE_TUPLE " DO NOTHING RETURNING id",
    [ST_WEBHOOK_FIND_ACTIVE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                               " WHERE community_id = $1::text AND trigger = $2::text"
                               " AND url = $3::text AND coalesce(airmeet_id, '') = $4::text"
                               " AND coalesce(session_id, '') = $5::text"
                               " AND is_active AND deregistered_at = 0",
    [ST_WEBHOOK_GET] = "SELECT " WEBHOOK_COLS " FROM webhooks WHERE id = $1::text",
    [ST_WEBHOOK_LIST_ACTIVE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                               " WHERE community_id = $1::text AND is_active"
                               " AND ($2::text IS NULL OR airmeet_id = $2::text)"
                               " AND ($3::text IS NULL OR session_id = $3::text)"
                               " ORDER BY created_at, id",
    [ST_WEBHOOK_DEREGISTER] = "UPDATE webhooks SET is_active = false,"
                              " disabled_reason = 'deregistered', deregistered_at = $2::bigint,"
                              " updated_at = $2::bigint, updated_by = $3::text"
                              " WHERE id = $1::text AND deregistered_at = 0",
    /* Enabling also ends the failure streak, or the auto-disable would fire again. */
    [ST_WEBHOOK_SET_ACTIVE] = "UPDATE webhooks SET is_active = $2::boolean,"
                              " disabled_reason = $3::text, updated_at = $4::bigint,"
                              " failing_since = CASE WHEN $2::boolean THEN 0"
                              " ELSE failing_since END"
                              " WHERE id = $1::text AND deregistered_at = 0",
    [ST_DELIVERIES_CANCEL] = "UPDATE deliveries SET status = 'cancelled', updated_at = $2::bigint"
                             " WHERE webhook_id = $1::text AND status = 'pending'",
    [ST_NOTIFY] = "SELECT " NOTIFY_OF("$1::text", "$2::bigint"),

    /* ---- events and deliveries ---- */
    [ST_EVENT_INSERT] = "INSERT INTO events (" EVENT_COLS ") VALUES ($1::text, $2::text,"
                        " $3::text, $4::text, $5::text, $6::text, $7::text, $8::bigint)"
                        " ON CONFLICT (community_id, idempotency_key) DO NOTHING RETURNING id",
    [ST_EVENT_FIND_KEY] = "SELECT e.id, (SELECT count(*) FROM deliveries d"
                          " WHERE d.event_id = e.id) FROM events e"
                          " WHERE e.community_id = $1::text AND e.idempotency_key = $2::text",
    /*
     * The SPEC §4 match, as one INSERT ... SELECT over the webhooks_match
     * partial index, and a notification per new delivery (one per webhook).
     * An event without an airmeet binds $5 as NULL, and "w.airmeet_id =
     * NULL" is never true: a webhook scoped to an airmeet does not hear
     * airmeet-less events.  The same holds for sessions.
     */
    [ST_EVENT_FANOUT] = "WITH made AS (INSERT INTO deliveries (id, event_id, webhook_id, status,"
                        " attempts, next_attempt_at, lease_until, created_at, updated_at)"
                        " SELECT gen_random_uuid()::text, $1::text, w.id, 'pending', 0,"
                        " $2::bigint, 0, $2::bigint, $2::bigint FROM webhooks w"
                        " WHERE w.community_id = $3::text AND w.trigger = $4::text"
                        " AND w.is_active AND w.deregistered_at = 0"
                        " AND (w.airmeet_id IS NULL OR w.airmeet_id = $5::text)"
                        " AND (w.session_id IS NULL OR w.session_id = $6::text)"
                        " RETURNING webhook_id)"
                        " SELECT webhook_id, " NOTIFY_OF("webhook_id", "$2::bigint") " FROM made",
    [ST_EVENT_GET] = "SELECT " EVENT_COLS " FROM events WHERE id = $1::text",
    /*
     * A loose index scan over deliveries_queue: each step of the recursion
     * is one probe for the first pending row of the next webhook id (its
     * earliest due time, leased or not), so the cost is per webhook, not per
     * pending delivery.  Then only live webhooks are kept.
     */
    [ST_DUE_WEBHOOKS] =
        "WITH RECURSIVE walk AS ("
        " (SELECT webhook_id, next_attempt_at FROM deliveries WHERE status = 'pending'"
        "  ORDER BY webhook_id, next_attempt_at LIMIT 1)"
        " UNION ALL"
        " SELECT n.webhook_id, n.next_attempt_at FROM walk w CROSS JOIN LATERAL"
        " (SELECT d.webhook_id, d.next_attempt_at FROM deliveries d"
        "  WHERE d.status = 'pending' AND d.webhook_id > w.webhook_id"
        "  ORDER BY d.webhook_id, d.next_attempt_at LIMIT 1) n)"
        " SELECT walk.webhook_id, walk.next_attempt_at FROM walk"
        " JOIN webhooks h ON h.id = walk.webhook_id"
        " WHERE h.is_active AND h.deregistered_at = 0 ORDER BY walk.webhook_id",
    [ST_WEBHOOK_LIVE] =
        "SELECT is_active AND deregistered_at = 0 FROM webhooks WHERE id = $1::text",
    /*
     * SKIP LOCKED: rows another node is claiming right now are passed over,
     * and a row whose lease another node committed meanwhile is rechecked
     * (lease_until < now fails) and dropped, so no delivery is handed out
     * twice.  MATERIALIZED keeps the locked set computed once.
     */
    [ST_CLAIM] = "WITH picked AS MATERIALIZED (SELECT id FROM deliveries"
                 " WHERE status = 'pending' AND webhook_id = $2::text"
                 " AND next_attempt_at <= $3::bigint AND lease_until < $3::bigint"
                 " ORDER BY next_attempt_at LIMIT $4::bigint FOR UPDATE SKIP LOCKED)"
                 " UPDATE deliveries d SET lease_until = $1::bigint FROM picked p, events e"
                 " WHERE d.id = p.id AND e.id = d.event_id"
                 " RETURNING d.id, d.event_id, d.attempts, d.next_attempt_at, e.trigger, e.data",
    [ST_NEXT_DUE] = "SELECT next_attempt_at FROM deliveries"
                    " WHERE status = 'pending' AND webhook_id = $1::text"
                    " AND lease_until < $2::bigint ORDER BY next_attempt_at LIMIT 1",
    /*
     * One attempt's result in one statement: the delivery's new state (only
     * a pending delivery changes status; SET expressions see the old row),
     * the attempt row, and the webhook's failure streak and disabling, which
     * touch the webhook row only when something changes.  The first disable
     * reason sticks; a deregistered webhook is left alone.
     */
    [ST_RECORD] =
        "WITH d AS (UPDATE deliveries SET attempts = $2::integer,"
        " last_status_code = $3::integer, last_error = $4::text, updated_at = $5::bigint,"
        " lease_until = 0,"
        " next_attempt_at = CASE WHEN status = 'pending' AND $6::text = 'pending'"
        " THEN $7::bigint ELSE next_attempt_at END,"
        " status = CASE WHEN status = 'pending' THEN $6::text ELSE status END"
        " WHERE id = $1::text RETURNING id, webhook_id),"
        " a AS (INSERT INTO attempts (id, delivery_id, " ATTEMPT_COLS ")"
        " SELECT gen_random_uuid()::text, d.id, $2::integer, $8::bigint, $9::bigint,"
        " $3::integer, $4::text, $10::bytea FROM d),"
        " w AS (UPDATE webhooks h SET"
        " failing_since = CASE WHEN $11::boolean THEN 0"
        " WHEN h.failing_since = 0 THEN $8::bigint ELSE h.failing_since END,"
        " is_active = CASE WHEN $12::text <> '' AND h.is_active AND h.deregistered_at = 0"
        " THEN false ELSE h.is_active END,"
        " disabled_reason = CASE WHEN $12::text <> '' AND h.is_active AND h.deregistered_at = 0"
        " THEN $12::text ELSE h.disabled_reason END,"
        " updated_at = CASE WHEN $12::text <> '' AND h.is_active AND h.deregistered_at = 0"
        " THEN $5::bigint ELSE h.updated_at END"
        " FROM d WHERE h.id = d.webhook_id"
        " AND (($11::boolean AND h.failing_since <> 0)"
        " OR (NOT $11::boolean AND h.failing_since = 0)"
        " OR ($12::text <> '' AND h.is_active AND h.deregistered_at = 0)))"
        " SELECT webhook_id FROM d",
    [ST_DELIVERY_RELEASE] = "UPDATE deliveries SET lease_until = 0 WHERE id = ANY($1::text[])",
    [ST_DELIVERY_RELEASE_ALL] = "UPDATE deliveries SET lease_until = 0"
                                " WHERE status = 'pending' AND lease_until <> 0",
    [ST_DELIVERY_LIST_WEBHOOK] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                                 " JOIN events e ON e.id = d.event_id"
                                 " WHERE d.webhook_id = $1::text" LIST_PAGE,
    [ST_DELIVERY_LIST_EVENT] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                               " JOIN events e ON e.id = d.event_id"
                               " WHERE d.event_id = $1::text" LIST_PAGE,
    [ST_DELIVERY_GET] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                        " JOIN events e ON e.id = d.event_id WHERE d.id = $1::text",
    [ST_ATTEMPT_LIST] = "SELECT " ATTEMPT_COLS " FROM attempts WHERE delivery_id = $1::text"
                        " ORDER BY attempt_no, started_at",
    /*
     * Pending again and due now, whatever the state.  A delivery that is
     * pending and leased keeps its lease: it is in flight, and clearing the
     * lease would let a second dispatcher send it at the same time.
     */
    [ST_DELIVERY_RETRY] = "WITH u AS (UPDATE deliveries SET status = 'pending',"
                          " next_attempt_at = $2::bigint, updated_at = $2::bigint,"
                          " lease_until = CASE WHEN status = 'pending' THEN lease_until ELSE 0 END"
                          " WHERE id = $1::text RETURNING webhook_id)"
                          " SELECT webhook_id, " NOTIFY_OF("webhook_id", "$2::bigint") " FROM u",
    [ST_WEBHOOK_DEREGISTERED_AT] = "SELECT deregistered_at FROM webhooks WHERE id = $1::text",
    [ST_WEBHOOK_RECOVER] = "UPDATE deliveries SET status = 'pending',"
                           " next_attempt_at = $3::bigint, updated_at = $3::bigint, lease_until = 0"
                           " WHERE webhook_id = $1::text AND status = 'failed'"
                           " AND created_at >= $2::bigint",
    [ST_WEBHOOK_ROTATE] = "UPDATE webhooks SET prev_secret = secret,"
                          " prev_secret_until = $3::bigint, secret = $2::text,"
                          " updated_at = $4::bigint WHERE id = $1::text AND deregistered_at = 0",
    [ST_DELIVERY_STATS] = "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'),"
                          " (SELECT created_at FROM deliveries WHERE status = 'pending'"
                          " ORDER BY created_at LIMIT 1)",
    [ST_CACHE_GEN] = "SELECT webhooks, auth FROM cache_generations WHERE id = 1",
};

/* ------------------------------------------------------------------------ */
/* The store, its pool and its listener.                                     */

typedef struct conn {
    PGconn *pg;              /* NULL until connected (or after a failure) */
    bool prepared[ST_COUNT]; /* statements prepared on this PGconn */
    bool broken;             /* a connection error happened: reconnect before reuse */
    bool retryable;          /* the last error was a deadlock / serialization failure */
    struct conn *next_idle;  /* the pool's idle list */
    struct conn *next_all;   /* every connection, for close */
} conn_t;

typedef void (*wake_fn)(void *arg, const char *webhook_id, int64_t due);

typedef struct params params_t; /* a statement's parameters: see p_add() */

typedef struct listener {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int pipe_fd[2]; /* written at close, so the thread's poll() returns */
    pthread_mutex_t mu;
    pthread_cond_t idle_cv; /* signalled when a wake call ends */
    wake_fn wake;           /* NULL: calls are off */
    void *arg;
    bool calling; /* a wake call is in progress */
} listener_t;

typedef struct pg_store {
    ah_store_t base; /* first: callers hold &base */
    char *dsn;       /* the DSN without pool=N, for libpq */
    int pool_max;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection goes idle */
    conn_t *idle;
    conn_t *all;
    int n_conns;
    /* Health, under mu: down_until != 0 while the database is unreachable. */
    int64_t down_until; /* monotonic ms: fail fast until then */
    int64_t backoff_ms;
    bool probing; /* one caller is trying to reconnect */
    listener_t lis;
} pg_store_t;

static pg_store_t *from(ah_store_t *base)
{
    return (pg_store_t *)base;
}

/* ------------------------------------------------------------------------ */
/* Errors.                                                                   */

/* The first line of libpq's message, for logs and err strings. */
static void first_line(const char *msg, char *out, size_t outsz)
{
    size_t n = msg ? strcspn(msg, "\n") : 0;
    if (n >= outsz)
        n = outsz - 1;
    if (n)
        memcpy(out, msg, n);
    out[n] = '\0';
}

/* SQLSTATEs that mean the connection, not the statement, failed. */
static bool conn_state(const char *state)
{
    return state && (!strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
                     !strcmp(state, "57P02") || !strcmp(state, "57P03"));
}

/*
 * Turns a failed result into a status, logging what is not an expected
 * outcome (constraint results are answers, not failures).  A lost
 * connection marks c broken and answers AH_EUNAVAIL.
 */
static int pg_error(conn_t *c, const PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[256];
    first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg), msg, sizeof msg);
    c->retryable = false;
    if (PQstatus(c->pg) != CONNECTION_OK || conn_state(state)) {
        c->broken = true;
        ah_logf(AH_LOG_WARN, "postgres %s: connection lost: %s", what, msg);
        return AH_EUNAVAIL;
    }
    if (state && !strcmp(state, "23505"))
        return AH_EEXISTS;
    if (state && !strcmp(state, "23503"))
        return AH_ENOTFOUND;
    if (state && (!strcmp(state, "23502") || !strcmp(state, "23514")))
        return AH_EINVAL;
    if (state && !strncmp(state, "22", 2)) { /* bad data: invalid UTF-8, out of range */
        ah_logf(AH_LOG_DEBUG, "postgres %s: %s (%s)", what, msg, state);
        return AH_EINVAL;
    }
    if (state && (!strcmp(state, "40P01") || !strcmp(state, "40001")))
        c->retryable = true;
    ah_logf(AH_LOG_WARN, "postgres %s: %s (%s)", what, msg, state ? state : "no sqlstate");
    return AH_ESTORE;
}

/* ------------------------------------------------------------------------ */
/* Connecting, and the down state.                                           */

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

/*
 * libpq parameters: ours before "dbname" are defaults the DSN may override
 * (expand_dbname), the one after is imposed.
 */
static const char *const conn_keys[] = {
    "connect_timeout",  "application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "dbname",     "client_encoding", NULL};

static void conn_values(const pg_store_t *s, const char *vals[AH_ARRAY_LEN(conn_keys)])
{
    static const char *const defaults[] = {"2", "airhook", "1", "10", "5", "3", "10000"};
    for (size_t i = 0; i < AH_ARRAY_LEN(defaults); i++)
        vals[i] = defaults[i];
    vals[AH_ARRAY_LEN(defaults)] = s->dsn;
    vals[AH_ARRAY_LEN(defaults) + 1] = "UTF8";
    vals[AH_ARRAY_LEN(defaults) + 2] = NULL;
}

/* Opens a PGconn (blocking, bounded by connect_timeout); NULL and err on failure. */
static PGconn *pg_connect(const pg_store_t *s, char *err, size_t errlen)
{
    const char *vals[AH_ARRAY_LEN(conn_keys)];
    conn_values(s, vals);
    PGconn *pg = PQconnectdbParams(conn_keys, vals, 1);
    if (!pg) {
        snprintf(err, errlen, "out of memory connecting");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        first_line(PQerrorMessage(pg), err, errlen);
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    return pg;
}

/* Whether this caller may try to connect now (not backing off, nobody else probing). */
static bool may_connect(pg_store_t *s)
{
    pthread_mutex_lock(&s->mu);
    bool ok = true;
    if (s->down_until) {
        if (ah_mono_ms() < s->down_until || s->probing)
            ok = false;
        else
            s->probing = true;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* Records the outcome of a connection attempt: up again, or down for longer. */
static void connect_outcome(pg_store_t *s, bool ok, const char *err)
{
    pthread_mutex_lock(&s->mu);
    bool was_down = s->down_until != 0;
    if (ok) {
        s->down_until = 0;
        s->backoff_ms = 0;
    } else {
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS)
            s->backoff_ms = BACKOFF_MAX_MS;
        s->down_until = ah_mono_ms() + s->backoff_ms;
    }
    s->probing = false;
    pthread_mutex_unlock(&s->mu);
    if (ok && was_down)
        ah_logf(AH_LOG_INFO, "postgres: connected again");
    else if (!ok && !was_down)
        ah_logf(AH_LOG_WARN, "postgres: database unreachable (%s); retrying with backoff", err);
}

/*
 * A pooled connection is usable when libpq says it is fine and nothing came
 * in while it sat idle: an idle connection never hears from the server
 * except for the FATAL it sends before closing (shutdown, terminated
 * backend), or the close itself.
 */
static bool conn_usable(const conn_t *c)
{
    if (!c->pg || c->broken || PQstatus(c->pg) != CONNECTION_OK)
        return false;
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    int n = poll(&p, 1, 0);
    return n == 0;
}

static void conn_reset(conn_t *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
    c->broken = false;
    memset(c->prepared, 0, sizeof c->prepared);
}

/* Makes c usable, reconnecting if need be; AH_EUNAVAIL while the database is down. */
static int conn_ensure(pg_store_t *s, conn_t *c)
{
    if (conn_usable(c))
        return AH_OK;
    if (!may_connect(s))
        return AH_EUNAVAIL;
    conn_reset(c);
    char err[256] = "";
    c->pg = pg_connect(s, err, sizeof err);
    connect_outcome(s, c->pg != NULL, err);
    return c->pg ? AH_OK : AH_EUNAVAIL;
}

/* ------------------------------------------------------------------------ */
/* The pool.                                                                 */

static bool failing_fast(pg_store_t *s)
{
    return s->down_until && ah_mono_ms() < s->down_until;
}

/* Waits on s->cv until deadline (monotonic ms); false on timeout.  Holds s->mu. */
static bool wait_for_conn(pg_store_t *s, int64_t deadline)
{
    int64_t left = deadline - ah_mono_ms();
    if (left <= 0)
        return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT || ah_mono_ms() < deadline;
}

/* Puts c back on the idle list (no cleanup). */
static void give_back(pg_store_t *s, conn_t *c)
{
    pthread_mutex_lock(&s->mu);
    c->next_idle = s->idle;
    s->idle = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Takes an idle connection or makes a new slot; AH_EUNAVAIL if down or none frees up. */
static int take_conn(pg_store_t *s, conn_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    int64_t deadline = ah_mono_ms() + ACQUIRE_WAIT_MS;
    int rc = AH_OK;
    bool starved = false;
    while (rc == AH_OK && !s->idle && s->n_conns >= s->pool_max) {
        starved = !failing_fast(s) && !wait_for_conn(s, deadline);
        if (starved || failing_fast(s))
            rc = AH_EUNAVAIL;
    }
    if (rc == AH_OK && failing_fast(s))
        rc = AH_EUNAVAIL;
    if (rc == AH_OK && s->idle) {
        *out = s->idle;
        s->idle = (*out)->next_idle;
    } else if (rc == AH_OK) {
        conn_t *c = calloc(1, sizeof *c);
        if (c) {
            c->next_all = s->all;
            s->all = c;
            s->n_conns++;
            *out = c;
        } else {
            rc = AH_ENOMEM;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (starved)
        ah_logf(AH_LOG_WARN, "postgres: no pooled connection free within %d ms (pool=%d)",
                ACQUIRE_WAIT_MS, s->pool_max);
    return rc;
}

/* Borrows a connected connection; release() after. */
static int acquire(pg_store_t *s, conn_t **out)
{
    conn_t *c;
    int rc = take_conn(s, &c);
    if (rc)
        return rc;
    rc = conn_ensure(s, c);
    if (rc) {
        give_back(s, c);
        return rc;
    }
    c->retryable = false;
    *out = c;
    return AH_OK;
}

static PGresult *run(conn_t *c, enum stmt_id id, const params_t *p, int *rc);

static void release(pg_store_t *s, conn_t *c)
{
    /* A transaction left open by an error path must not leak into the next user. */
    if (!c->broken && c->pg) {
        PGTransactionStatusType ts = PQtransactionStatus(c->pg);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            int rc;
            PQclear(run(c, ST_ROLLBACK, NULL, &rc));
            if (rc)
                c->broken = true;
        } else if (ts != PQTRANS_IDLE) {
            c->broken = true;
        }
    }
    if (c->broken)
        conn_reset(c); /* the next user reconnects */
    give_back(s, c);
}

/* ------------------------------------------------------------------------ */
/* Parameters and statements.                                                */

struct params {
    int n;
    bool bad; /* a field not terminated within its size, or too many parameters */
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char num[MAX_PARAMS][24];
};

static void p_add(params_t *p, const char *v, int len, int fmt)
{
    if (p->n >= MAX_PARAMS) {
        p->bad = true;
        return;
    }
    p->v[p->n] = v;
    p->len[p->n] = len;
    p->fmt[p->n] = fmt;
    p->n++;
}

/* A string argument; NULL is SQL NULL. */
static void p_str(params_t *p, const char *s)
{
    p_add(p, s, 0, 0);
}

/* An optional string argument: NULL or "" is SQL NULL. */
static void p_opt(params_t *p, const char *s)
{
    p_add(p, s && *s ? s : NULL, 0, 0);
}

/* A text field of a record, which must be terminated within its array. */
static void p_field(params_t *p, const char *f, size_t cap)
{
    if (strnlen(f, cap) >= cap)
        p->bad = true;
    p_add(p, f, 0, 0);
}

static void p_opt_field(params_t *p, const char *f, size_t cap)
{
    if (!f[0])
        p_add(p, NULL, 0, 0);
    else
        p_field(p, f, cap);
}

#define P_FIELD(p, f) p_field((p), (f), sizeof(f))
#define P_OPT_FIELD(p, f) p_opt_field((p), (f), sizeof(f))

static void p_i64(params_t *p, int64_t v)
{
    if (p->n >= MAX_PARAMS) {
        p->bad = true;
        return;
    }
    snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, v);
    p_add(p, p->num[p->n], 0, 0);
}

static void p_bool(params_t *p, bool b)
{
    p_add(p, b ? "t" : "f", 0, 0);
}

/* Raw bytes (bytea, binary format); empty is NULL. */
static void p_bytes(params_t *p, const char *b, size_t len)
{
    p_add(p, len ? b : NULL, (int)len, 1);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (!len || len > n || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0; /* overlong, surrogate, or beyond U+10FFFF */
    return len;
}

/* True when s is valid UTF-8 (text parameters must be; anything else is refused). */
static bool utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

static void stmt_name(enum stmt_id id, char name[16])
{
    snprintf(name, 16, "ah_%d", (int)id);
}

/* Prepares statement id on c unless it already is. */
static int prepare(conn_t *c, enum stmt_id id)
{
    if (c->prepared[id])
        return AH_OK;
    char name[16];
    stmt_name(id, name);
    PGresult *r = PQprepare(c->pg, name, stmt_sql[id], 0, NULL);
    int rc = AH_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_error(c, r, "prepare");
    else
        c->prepared[id] = true;
    PQclear(r);
    return rc;
}

/*
 * Runs prepared statement id with parameters p (NULL: none).  Returns the
 * result (PQclear it) with *rc = AH_OK, or NULL with *rc set.
 */
static PGresult *run(conn_t *c, enum stmt_id id, const params_t *p, int *rc)
{
    if (p && p->bad) {
        *rc = AH_EINVAL;
        return NULL;
    }
    *rc = prepare(c, id);
    if (*rc)
        return NULL;
    char name[16];
    stmt_name(id, name);
    PGresult *r = PQexecPrepared(c->pg, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
                                 p ? p->fmt : NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    *rc = pg_error(c, r, stmt_sql[id]);
    PQclear(r);
    return NULL;
}

/* Runs a statement whose rows do not matter; *changed (may be NULL) gets the row count. */
static int run_cmd(conn_t *c, enum stmt_id id, const params_t *p, size_t *changed)
{
    int rc;
    PGresult *r = run(c, id, p, &rc);
    if (r && changed) {
        const char *n = PQcmdTuples(r);
        int64_t v = 0;
        *changed = n && *n && ah_parse_i64(n, 0, INT64_MAX, &v) == AH_OK ? (size_t)v : 0;
    }
    PQclear(r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reading rows.                                                             */

static bool col_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    if (col_null(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool col_bool(const PGresult *r, int row, int col)
{
    return !col_null(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* Copies a column into dst (cap bytes), truncating; NULL reads as "". */
static void col_copy(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t n = col_null(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, PQgetvalue(r, row, col), n);
    dst[n] = '\0';
}

#define COL_COPY(r, row, col, f) col_copy((r), (row), (col), (f), sizeof(f))

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A bytea column (text output) into dst as bytes, truncating; NULL reads as "". */
static void col_bytea(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t n = 0;
    const char *v = col_null(r, row, col) ? "" : PQgetvalue(r, row, col);
    if (v[0] == '\\' && v[1] == 'x') {
        for (const char *h = v + 2; h[0] && h[1] && n + 1 < cap; h += 2) {
            int hi = hex_digit(h[0]), lo = hex_digit(h[1]);
            if (hi < 0 || lo < 0)
                break;
            dst[n++] = (char)(hi << 4 | lo);
        }
    } else if (v[0]) { /* bytea_output = escape */
        size_t len = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)v, &len);
        n = raw ? (len < cap ? len : cap - 1) : 0;
        if (n)
            memcpy(dst, raw, n);
        PQfreemem(raw);
    }
    dst[n] = '\0';
}

/* Copies a column into a malloc'd, NUL-terminated buffer. */
static int col_dup(const PGresult *r, int row, int col, char **out, size_t *len)
{
    size_t n = col_null(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    char *p = malloc(n + 1);
    if (!p)
        return AH_ENOMEM;
    if (n)
        memcpy(p, PQgetvalue(r, row, col), n);
    p[n] = '\0';
    *out = p;
    *len = n;
    return AH_OK;
}

typedef void (*row_fn)(const PGresult *r, int row, void *out);

static void row_community(const PGresult *r, int i, void *out)
{
    ah_community_t *c = out;
    memset(c, 0, sizeof *c);
    COL_COPY(r, i, 0, c->id);
    COL_COPY(r, i, 1, c->name);
    c->created_at = col_i64(r, i, 2);
}

static void row_key(const PGresult *r, int i, void *out)
{
    ah_access_key_t *k = out;
    memset(k, 0, sizeof *k);
    COL_COPY(r, i, 0, k->id);
    COL_COPY(r, i, 1, k->community_id);
    COL_COPY(r, i, 2, k->label);
    COL_COPY(r, i, 3, k->access_key);
    COL_COPY(r, i, 4, k->secret_hash);
    k->created_at = col_i64(r, i, 5);
    k->revoked_at = col_i64(r, i, 6);
}

static void row_token(const PGresult *r, int i, void *out)
{
    ah_token_t *t = out;
    memset(t, 0, sizeof *t);
    COL_COPY(r, i, 0, t->token_hash);
    COL_COPY(r, i, 1, t->key_id);
    COL_COPY(r, i, 2, t->community_id);
    COL_COPY(r, i, 3, t->label);
    t->created_at = col_i64(r, i, 4);
    t->expires_at = col_i64(r, i, 5);
}

static void row_airmeet(const PGresult *r, int i, void *out)
{
    ah_airmeet_t *a = out;
    memset(a, 0, sizeof *a);
    COL_COPY(r, i, 0, a->id);
    COL_COPY(r, i, 1, a->community_id);
    COL_COPY(r, i, 2, a->name);
    a->start_time = col_i64(r, i, 3);
    a->end_time = col_i64(r, i, 4);
    a->created_at = col_i64(r, i, 5);
}

static void row_session(const PGresult *r, int i, void *out)
{
    ah_session_t *ss = out;
    memset(ss, 0, sizeof *ss);
    COL_COPY(r, i, 0, ss->id);
    COL_COPY(r, i, 1, ss->airmeet_id);
    COL_COPY(r, i, 2, ss->community_id);
    COL_COPY(r, i, 3, ss->name);
    ss->created_at = col_i64(r, i, 4);
}

static void row_webhook(const PGresult *r, int i, void *out)
{
    ah_webhook_t *w = out;
    memset(w, 0, sizeof *w);
    COL_COPY(r, i, 0, w->id);
    COL_COPY(r, i, 1, w->community_id);
    COL_COPY(r, i, 2, w->trigger);
    COL_COPY(r, i, 3, w->name);
    w->has_description = !col_null(r, i, 4);
    COL_COPY(r, i, 4, w->description);
    COL_COPY(r, i, 5, w->url);
    COL_COPY(r, i, 6, w->platform_name);
    COL_COPY(r, i, 7, w->airmeet_id);
    COL_COPY(r, i, 8, w->session_id);
    w->is_active = col_bool(r, i, 9);
    COL_COPY(r, i, 10, w->disabled_reason);
    COL_COPY(r, i, 11, w->meta_data);
    w->created_at = col_i64(r, i, 12);
    w->updated_at = col_i64(r, i, 13);
    COL_COPY(r, i, 14, w->created_by);
    w->has_updated_by = !col_null(r, i, 15);
    COL_COPY(r, i, 15, w->updated_by);
    COL_COPY(r, i, 16, w->secret);
    COL_COPY(r, i, 17, w->prev_secret);
    w->prev_secret_until = col_i64(r, i, 18);
    w->deregistered_at = col_i64(r, i, 19);
    w->failing_since = col_i64(r, i, 20);
}

/* Every column of w as $1..$21 in WEBHOOK_COLS order. */
static void bind_webhook(params_t *p, const ah_webhook_t *w)
{
    P_OPT_FIELD(p, w->id);
    P_OPT_FIELD(p, w->community_id);
    P_FIELD(p, w->trigger);
    P_FIELD(p, w->name);
    if (w->has_description)
        P_FIELD(p, w->description);
    else
        p_str(p, NULL);
    P_FIELD(p, w->url);
    P_FIELD(p, w->platform_name);
    P_OPT_FIELD(p, w->airmeet_id);
    P_OPT_FIELD(p, w->session_id);
    p_bool(p, w->is_active);
    P_OPT_FIELD(p, w->disabled_reason);
    P_FIELD(p, w->meta_data);
    p_i64(p, w->created_at);
    p_i64(p, w->updated_at);
    P_FIELD(p, w->created_by);
    if (w->has_updated_by)
        P_FIELD(p, w->updated_by);
    else
        p_str(p, NULL);
    P_FIELD(p, w->secret);
    P_OPT_FIELD(p, w->prev_secret);
    p_i64(p, w->prev_secret_until);
    p_i64(p, w->deregistered_at);
    p_i64(p, w->failing_since);
}

/* Runs a query expected to return at most one row into *out; AH_ENOTFOUND if none. */
static int fetch_one(conn_t *c, enum stmt_id id, const params_t *p, row_fn fn, void *out)
{
    int rc;
    PGresult *r = run(c, id, p, &rc);
    if (r && PQntuples(r) == 0)
        rc = AH_ENOTFOUND;
    else if (r)
        fn(r, 0, out);
    PQclear(r);
    return rc;
}

/* Runs a query into a malloc'd array (NULL when empty) of elements of `size` bytes. */
static int fetch_all(conn_t *c, enum stmt_id id, const params_t *p, row_fn fn, size_t size,
                     void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc;
    PGresult *r = run(c, id, p, &rc);
    if (!r)
        return rc;
    int rows = PQntuples(r);
    unsigned char *arr = NULL;
    if (rows > LIST_MAX_ROWS) {
        ah_logf(AH_LOG_WARN, "postgres: a list exceeded %d rows", LIST_MAX_ROWS);
        rc = AH_ETOOBIG;
    } else if (rows > 0) {
        arr = calloc((size_t)rows, size);
        if (!arr)
            rc = AH_ENOMEM;
        for (int i = 0; arr && i < rows; i++)
            fn(r, i, arr + (size_t)i * size);
    }
    PQclear(r);
    if (rc != AH_OK) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = arr ? (size_t)rows : 0;
    return AH_OK;
}

/* ------------------------------------------------------------------------ */
/* Borrowing a connection for one statement, and transactions.               */

/* One statement with a connection of its own; *changed as in run_cmd. */
static int exec_cmd(ah_store_t *base, enum stmt_id id, const params_t *p, size_t *changed)
{
    pg_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    rc = run_cmd(c, id, p, changed);
    release(s, c);
    return rc;
}

static int exec_one(ah_store_t *base, enum stmt_id id, const params_t *p, row_fn fn, void *out)
{
    pg_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    rc = fetch_one(c, id, p, fn, out);
    release(s, c);
    return rc;
}

static int exec_all(ah_store_t *base, enum stmt_id id, const params_t *p, row_fn fn, size_t size,
                    void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pg_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    rc = fetch_all(c, id, p, fn, size, out, n);
    release(s, c);
    return rc;
}

typedef int (*tx_fn)(conn_t *c, void *arg);

/*
 * Runs fn inside BEGIN (begin = ST_BEGIN or ST_BEGIN_READ) ... COMMIT;
 * anything but AH_OK rolls back (release).  A deadlock or serialization
 * failure runs it all again on a fresh start, so fn must reset its outputs.
 */
static int in_tx(pg_store_t *s, enum stmt_id begin, tx_fn fn, void *arg)
{
    for (int attempt = 1;; attempt++) {
        conn_t *c;
        int rc = acquire(s, &c);
        if (rc)
            return rc;
        rc = run_cmd(c, begin, NULL, NULL);
        if (rc == AH_OK)
            rc = fn(c, arg);
        if (rc == AH_OK)
            rc = run_cmd(c, ST_COMMIT, NULL, NULL);
        bool again = rc == AH_ESTORE && c->retryable && attempt < TX_TRIES;
        release(s, c);
        if (!again)
            return rc;
    }
}

/* ------------------------------------------------------------------------ */
/* Operations: settings, communities, keys, tokens, airmeets, sessions.      */

static int ping(ah_store_t *base)
{
    pg_store_t *s = from(base);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    PGresult *r = run(c, ST_PING, NULL, &rc);
    if (r && (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "1") != 0))
        rc = AH_ESTORE;
    PQclear(r);
    release(s, c);
    return rc;
}

static int setting_get(ah_store_t *base, const char *key, char *out, size_t outsz)
{
    if (!key || !out || !outsz)
        return AH_EINVAL;
    if (!utf8_valid(key))
        return AH_ENOTFOUND;
    pg_store_t *s = from(base);
    params_t p = {0};
    p_str(&p, key);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    PGresult *r = run(c, ST_SETTING_GET, &p, &rc);
    if (r && PQntuples(r) == 0) {
        rc = AH_ENOTFOUND;
    } else if (r) {
        /* A truncated setting (a token hash, say) would be wrong, not short. */
        size_t len = (size_t)PQgetlength(r, 0, 0);
        if (len >= outsz) {
            rc = AH_ETOOBIG;
        } else {
            memcpy(out, PQgetvalue(r, 0, 0), len);
            out[len] = '\0';
        }
    }
    PQclear(r);
    release(s, c);
    return rc;
}

static int setting_set(ah_store_t *base, const char *key, const char *value)
{
    if (!key || !value)
        return AH_EINVAL;
    params_t p = {0};
    p_str(&p, key);
    p_str(&p, value);
    return exec_cmd(base, ST_SETTING_SET, &p, NULL);
}

static int setting_add(ah_store_t *base, const char *key, const char *value)
{
    if (!key || !value)
        return AH_EINVAL;
    params_t p = {0};
    p_str(&p, key);
    p_str(&p, value);
    return exec_cmd(base, ST_SETTING_ADD, &p, NULL);
}

static int community_create(ah_store_t *base, const ah_community_t *cm)
{
    params_t p = {0};
    P_OPT_FIELD(&p, cm->id);
    P_FIELD(&p, cm->name);
    p_i64(&p, cm->created_at);
    return exec_cmd(base, ST_COMMUNITY_INSERT, &p, NULL);
}

/*
 * Looks up one row by a string key.  A key that is not UTF-8 (a raw header,
 * say) matches nothing: every stored key is text.
 */
static int get_by(ah_store_t *base, enum stmt_id id, const char *key, row_fn fn, void *out)
{
    if (!key || !utf8_valid(key))
        return AH_ENOTFOUND;
    params_t p = {0};
    p_str(&p, key);
    return exec_one(base, id, &p, fn, out);
}

static int community_get(ah_store_t *base, const char *id, ah_community_t *out)
{
    return get_by(base, ST_COMMUNITY_GET, id, row_community, out);
}

static int community_list(ah_store_t *base, ah_community_t **out, size_t *n)
{
    void *arr;
    int rc = exec_all(base, ST_COMMUNITY_LIST, NULL, row_community, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

static int access_key_create(ah_store_t *base, const ah_access_key_t *k)
{
    params_t p = {0};
    P_OPT_FIELD(&p, k->id);
    P_OPT_FIELD(&p, k->community_id);
    P_FIELD(&p, k->label);
    P_OPT_FIELD(&p, k->access_key);
    P_OPT_FIELD(&p, k->secret_hash);
    p_i64(&p, k->created_at);
    p_i64(&p, k->revoked_at);
    return exec_cmd(base, ST_KEY_INSERT, &p, NULL);
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
    params_t p = {0};
    p_str(&p, community_id);
    void *arr;
    int rc = exec_all(base, ST_KEY_LIST, &p, row_key, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

static int access_key_revoke(ah_store_t *base, const char *id, int64_t now)
{
    params_t p = {0};
    p_str(&p, id);
    p_i64(&p, now);
    size_t changed = 0;
    int rc = exec_cmd(base, ST_KEY_REVOKE, &p, &changed);
    /* Every matched row counts, so an already revoked key is found too. */
    return rc == AH_OK && changed == 0 ? AH_ENOTFOUND : rc;
}

static int token_create(ah_store_t *base, const ah_token_t *t)
{
    params_t p = {0};
    P_OPT_FIELD(&p, t->token_hash);
    P_OPT_FIELD(&p, t->key_id);
    P_OPT_FIELD(&p, t->community_id);
    P_FIELD(&p, t->label);
    p_i64(&p, t->created_at);
    p_i64(&p, t->expires_at);
    return exec_cmd(base, ST_TOKEN_INSERT, &p, NULL);
}

static int token_find(ah_store_t *base, const char *token_hash, ah_token_t *out)
{
    return get_by(base, ST_TOKEN_FIND, token_hash, row_token, out);
}

static int token_purge(ah_store_t *base, int64_t now, size_t *n_deleted)
{
    if (n_deleted)
        *n_deleted = 0;
    params_t p = {0};
    p_i64(&p, now);
    size_t changed = 0;
    int rc = exec_cmd(base, ST_TOKEN_PURGE, &p, &changed);
    if (rc == AH_OK && n_deleted)
        *n_deleted = changed;
    return rc;
}

static int airmeet_create(ah_store_t *base, const ah_airmeet_t *a)
{
    params_t p = {0};
    P_OPT_FIELD(&p, a->id);
    P_OPT_FIELD(&p, a->community_id);
    P_FIELD(&p, a->name);
    p_i64(&p, a->start_time);
    p_i64(&p, a->end_time);
    p_i64(&p, a->created_at);
    return exec_cmd(base, ST_AIRMEET_INSERT, &p, NULL);
}

static int airmeet_get(ah_store_t *base, const char *id, ah_airmeet_t *out)
{
    return get_by(base, ST_AIRMEET_GET, id, row_airmeet, out);
}

static int session_create(ah_store_t *base, const ah_session_t *ss)
{
    params_t p = {0};
    P_OPT_FIELD(&p, ss->id);
    P_OPT_FIELD(&p, ss->airmeet_id);
    P_OPT_FIELD(&p, ss->community_id);
    P_FIELD(&p, ss->name);
    p_i64(&p, ss->created_at);
    return exec_cmd(base, ST_SESSION_INSERT, &p, NULL);
}

static int session_get(ah_store_t *base, const char *id, ah_session_t *out)
{
    return get_by(base, ST_SESSION_GET, id, row_session, out);
}

/* ------------------------------------------------------------------------ */
/* Webhooks.                                                                 */

/* The active webhook with w's tuple, if any, into *out. */
static int find_active_twin(conn_t *c, const ah_webhook_t *w, ah_webhook_t *out)
{
    params_t p = {0};
    /* Unset airmeet/session compare as '' on both sides (see the unique index). */
    P_FIELD(&p, w->community_id);
    P_FIELD(&p, w->trigger);
    P_FIELD(&p, w->url);
    P_FIELD(&p, w->airmeet_id);
    P_FIELD(&p, w->session_id);
    return fetch_one(c, ST_WEBHOOK_FIND_ACTIVE, &p, row_webhook, out);
}

/*
 * Inserts w unless an active twin exists (ON CONFLICT on the partial unique
 * index: a concurrent identical registration on any node waits for the
 * other's commit and then conflicts), then reads the twin.  If the twin was
 * deregistered in between, the insert is tried again.
 */
static int register_on(conn_t *c, const ah_webhook_t *w, ah_webhook_t *twin, bool *found)
{
    params_t p = {0};
    bind_webhook(&p, w);
    *found = false;
    int rc = AH_ESTORE;
    for (int tries = 0; tries < TX_TRIES; tries++) {
        PGresult *r = run(c, ST_WEBHOOK_INSERT, &p, &rc);
        bool inserted = r && PQntuples(r) > 0;
        PQclear(r);
        if (rc || inserted)
            return rc;
        rc = find_active_twin(c, w, twin);
        if (rc != AH_ENOTFOUND) {
            *found = rc == AH_OK;
            return rc;
        }
    }
    return rc;
}

static int webhook_register(ah_store_t *base, const ah_webhook_t *w, ah_webhook_t *out,
                            bool *existed)
{
    pg_store_t *s = from(base);
    ah_webhook_t *twin = malloc(sizeof *twin); /* ~6 KiB: keep it off the stack */
    if (!twin)
        return AH_ENOMEM;
    bool found = false;
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        goto out;
    rc = register_on(c, w, twin, &found);
    release(s, c);
    if (rc == AH_OK) {
        if (found)
            *out = *twin;
        else if (out != w)
            *out = *w;
        if (existed)
            *existed = found;
    }
out:
    free(twin);
    return rc;
}

static int webhook_get(ah_store_t *base, const char *id, ah_webhook_t *out)
{
    return get_by(base, ST_WEBHOOK_GET, id, row_webhook, out);
}

static int webhook_list_active(ah_store_t *base, const char *community_id, const char *airmeet_id,
                               const char *session_id, ah_webhook_t **out, size_t *n)
{
    params_t p = {0};
    p_str(&p, community_id);
    p_opt(&p, airmeet_id);
    p_opt(&p, session_id);
    void *arr;
    int rc = exec_all(base, ST_WEBHOOK_LIST_ACTIVE, &p, row_webhook, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

typedef struct deregister_job {
    const char *id;
    const char *by;
    int64_t now;
} deregister_job_t;

/* Marks the webhook deregistered and cancels its pending deliveries. */
static int deregister_tx(conn_t *c, void *arg)
{
    const deregister_job_t *j = arg;
    params_t p = {0};
    p_str(&p, j->id);
    p_i64(&p, j->now);
    p_str(&p, j->by);
    size_t changed = 0;
    int rc = run_cmd(c, ST_WEBHOOK_DEREGISTER, &p, &changed);
    if (rc == AH_OK && changed == 0)
        return AH_ENOTFOUND;
    if (rc)
        return rc;
    params_t q = {0};
    p_str(&q, j->id);
    p_i64(&q, j->now);
    return run_cmd(c, ST_DELIVERIES_CANCEL, &q, NULL);
}

static int webhook_deregister(ah_store_t *base, const char *id, const char *by, int64_t now)
{
    deregister_job_t j = {id, by, now};
    return in_tx(from(base), ST_BEGIN, deregister_tx, &j);
}

/* Tells every listening node that the webhook has work due at `due`. */
static int notify(conn_t *c, const char *webhook_id, int64_t due)
{
    params_t p = {0};
    p_str(&p, webhook_id);
    p_i64(&p, due);
    return run_cmd(c, ST_NOTIFY, &p, NULL);
}

typedef struct set_active_job {
    const char *id;
    bool active;
    const char *reason;
    int64_t now;
} set_active_job_t;

static int set_active_tx(conn_t *c, void *arg)
{
    const set_active_job_t *j = arg;
    params_t p = {0};
    p_str(&p, j->id);
    p_bool(&p, j->active);
    p_opt(&p, j->active ? NULL : j->reason); /* an active webhook has no disabled_reason */
    p_i64(&p, j->now);
    size_t changed = 0;
    int rc = run_cmd(c, ST_WEBHOOK_SET_ACTIVE, &p, &changed); /* AH_EEXISTS: a twin is active */
    if (rc == AH_OK && changed == 0)
        return AH_ENOTFOUND;
    /* Re-enabled: its pending deliveries are due again on whichever node listens. */
    if (rc == AH_OK && j->active)
        rc = notify(c, j->id, j->now);
    return rc;
}

static int webhook_set_active(ah_store_t *base, const char *id, bool active, const char *reason,
                              int64_t now)
{
    set_active_job_t j = {id, active, reason, now};
    return in_tx(from(base), ST_BEGIN, set_active_tx, &j);
}

/* ------------------------------------------------------------------------ */
/* Events.                                                                   */

/* A bounded id field copied into another, always terminated. */
static void copy_id(char dst[AH_ID_SIZE], const char *src)
{
    size_t n = strnlen(src, AH_ID_SIZE - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

typedef struct publish_job {
    const ah_event_t *ev;
    ah_publish_result_t *res;
} publish_job_t;

/* The first event with ev's idempotency key, and how many deliveries it made. */
static int read_duplicate(conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    params_t p = {0};
    P_FIELD(&p, ev->community_id);
    P_FIELD(&p, ev->idempotency_key);
    int rc;
    PGresult *r = run(c, ST_EVENT_FIND_KEY, &p, &rc);
    if (r && PQntuples(r) == 0) {
        /* ON CONFLICT found a row this statement does not see: cannot happen in READ COMMITTED. */
        ah_logf(AH_LOG_WARN, "postgres: publish: conflicting idempotency key not found");
        rc = AH_ESTORE;
    } else if (r) {
        COL_COPY(r, 0, 0, res->event_id);
        res->n_deliveries = (size_t)col_i64(r, 0, 1);
        res->duplicate = true;
    }
    PQclear(r);
    return rc;
}

/* Inserts the event; *inserted = false when its idempotency key was taken. */
static int insert_event(conn_t *c, const ah_event_t *ev, bool *inserted)
{
    params_t p = {0};
    P_OPT_FIELD(&p, ev->id);
    P_OPT_FIELD(&p, ev->community_id);
    P_FIELD(&p, ev->trigger);
    P_OPT_FIELD(&p, ev->airmeet_id);
    P_OPT_FIELD(&p, ev->session_id);
    P_OPT_FIELD(&p, ev->idempotency_key);
    char *data = NULL;
    if (ev->data) { /* text parameters are NUL-terminated; NULL data is refused (NOT NULL) */
        if (memchr(ev->data, '\0', ev->data_len))
            return AH_EINVAL;
        data = malloc(ev->data_len + 1);
        if (!data)
            return AH_ENOMEM;
        memcpy(data, ev->data, ev->data_len);
        data[ev->data_len] = '\0';
    }
    p_str(&p, data);
    p_i64(&p, ev->created_at);
    int rc;
    PGresult *r = run(c, ST_EVENT_INSERT, &p, &rc);
    *inserted = r && PQntuples(r) > 0;
    PQclear(r);
    free(data);
    return rc;
}

/* One pending delivery, and one notification, per matching webhook. */
static int fan_out(conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    params_t p = {0};
    P_FIELD(&p, ev->id);
    p_i64(&p, ev->created_at);
    P_FIELD(&p, ev->community_id);
    P_FIELD(&p, ev->trigger);
    P_OPT_FIELD(&p, ev->airmeet_id);
    P_OPT_FIELD(&p, ev->session_id);
    int rc;
    PGresult *r = run(c, ST_EVENT_FANOUT, &p, &rc);
    if (!r)
        return rc;
    int n = PQntuples(r);
    if (n > 0) {
        res->webhook_ids = calloc((size_t)n, sizeof *res->webhook_ids);
        if (!res->webhook_ids)
            rc = AH_ENOMEM;
        for (int i = 0; res->webhook_ids && i < n; i++)
            col_copy(r, i, 0, res->webhook_ids[i], AH_ID_SIZE);
        res->n_deliveries = res->webhook_ids ? (size_t)n : 0;
    }
    PQclear(r);
    return rc;
}

static int publish_tx(conn_t *c, void *arg)
{
    publish_job_t *j = arg;
    free(j->res->webhook_ids); /* a rerun starts afresh */
    memset(j->res, 0, sizeof *j->res);
    bool inserted = false;
    int rc = insert_event(c, j->ev, &inserted);
    if (rc)
        return rc;
    if (!inserted)
        return read_duplicate(c, j->ev, j->res);
    rc = fan_out(c, j->ev, j->res);
    if (rc == AH_OK)
        copy_id(j->res->event_id, j->ev->id);
    return rc;
}

static int event_publish(ah_store_t *base, const ah_event_t *ev, ah_publish_result_t *res)
{
    if (!res)
        return AH_EINVAL;
    memset(res, 0, sizeof *res);
    if (!ev)
        return AH_EINVAL;
    publish_job_t j = {ev, res};
    int rc = in_tx(from(base), ST_BEGIN, publish_tx, &j);
    if (rc) {
        free(res->webhook_ids);
        memset(res, 0, sizeof *res);
    }
    return rc;
}

static int event_get(ah_store_t *base, const char *id, ah_event_t *out)
{
    memset(out, 0, sizeof *out);
    pg_store_t *s = from(base);
    params_t p = {0};
    p_str(&p, id);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    PGresult *r = run(c, ST_EVENT_GET, &p, &rc);
    if (r && PQntuples(r) == 0) {
        rc = AH_ENOTFOUND;
    } else if (r) {
        COL_COPY(r, 0, 0, out->id);
        COL_COPY(r, 0, 1, out->community_id);
        COL_COPY(r, 0, 2, out->trigger);
        COL_COPY(r, 0, 3, out->airmeet_id);
        COL_COPY(r, 0, 4, out->session_id);
        COL_COPY(r, 0, 5, out->idempotency_key);
        rc = col_dup(r, 0, 6, &out->data, &out->data_len);
        out->created_at = col_i64(r, 0, 7);
    }
    PQclear(r);
    release(s, c);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Finding and claiming work.                                                */

static void row_due(const PGresult *r, int i, void *out)
{
    ah_due_t *d = out;
    COL_COPY(r, i, 0, d->webhook_id);
    d->next_due = col_i64(r, i, 1);
}

static int delivery_due_webhooks(ah_store_t *base, ah_due_t **out, size_t *n)
{
    void *arr;
    int rc = exec_all(base, ST_DUE_WEBHOOKS, NULL, row_due, sizeof **out, &arr, n);
    *out = arr;
    return rc;
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

typedef struct claim_job {
    const char *webhook_id;
    int64_t now;
    int64_t lease_until;
    size_t max;
    ah_webhook_t *webhook; /* NULL, or receives the webhook's row */
    ah_claim_t *claims;    /* ordered by due time, then id */
    size_t n;
    int64_t next_due;
} claim_job_t;

/*
 * The claimed rows (id, event, attempts, due, trigger, body) into j->claims,
 * oldest due first.  Inside the transaction, so that a failure here rolls
 * the leases back instead of leaving them to lapse.
 */
static int read_claims(const PGresult *r, claim_job_t *j)
{
    int n = PQntuples(r);
    if (n == 0)
        return AH_OK;
    claim_row_t *rows = calloc((size_t)n, sizeof *rows);
    j->claims = calloc((size_t)n, sizeof *j->claims);
    int rc = rows && j->claims ? AH_OK : AH_ENOMEM;
    for (int i = 0; rc == AH_OK && i < n; i++) {
        claim_row_t *row = &rows[i];
        COL_COPY(r, i, 0, row->claim.delivery_id);
        COL_COPY(r, i, 1, row->claim.event_id);
        row->claim.attempts = (int)col_i64(r, i, 2);
        row->due = col_i64(r, i, 3);
        COL_COPY(r, i, 4, row->claim.trigger);
        if (col_dup(r, i, 5, &row->claim.data, &row->claim.data_len))
            rc = AH_ENOMEM;
    }
    if (rc == AH_OK) {
        qsort(rows, (size_t)n, sizeof *rows, cmp_claim_row);
        for (int i = 0; i < n; i++)
            j->claims[i] = rows[i].claim; /* the bodies move */
        j->n = (size_t)n;
    } else {
        for (int i = 0; rows && i < n; i++)
            free(rows[i].claim.data);
        free(j->claims);
        j->claims = NULL;
    }
    free(rows);
    return rc;
}

/*
 * Check the webhook (reading its row when asked), lease its due deliveries,
 * find when the rest is due: one transaction.
 */
static int claim_tx(conn_t *c, void *arg)
{
    claim_job_t *j = arg;
    ah_claims_free(j->claims, j->n); /* a rerun starts afresh */
    j->claims = NULL;
    j->n = 0;
    j->next_due = 0;
    params_t p = {0};
    p_str(&p, j->webhook_id);
    int rc;
    PGresult *r = run(c, j->webhook ? ST_WEBHOOK_GET : ST_WEBHOOK_LIVE, &p, &rc);
    bool found = r && PQntuples(r) > 0, live = false;
    if (found && j->webhook) {
        row_webhook(r, 0, j->webhook);
        live = j->webhook->is_active && !j->webhook->deregistered_at;
    } else if (found) {
        live = col_bool(r, 0, 0);
    }
    PQclear(r);
    if (rc || !found)
        return rc ? rc : AH_ENOTFOUND;
    if (!live)
        return AH_OK;
    if (j->max > 0) {
        params_t q = {0};
        p_i64(&q, j->lease_until);
        p_str(&q, j->webhook_id);
        p_i64(&q, j->now);
        p_i64(&q, (int64_t)j->max);
        r = run(c, ST_CLAIM, &q, &rc);
        if (r)
            rc = read_claims(r, j);
        PQclear(r);
        if (rc)
            return rc;
    }
    params_t d = {0};
    p_str(&d, j->webhook_id);
    p_i64(&d, j->now);
    r = run(c, ST_NEXT_DUE, &d, &rc);
    if (r && PQntuples(r) > 0)
        j->next_due = col_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* One webhook's claim in a transaction of its own; j->claims is the caller's after AH_OK. */
static int claim_one(ah_store_t *base, claim_job_t *j)
{
    if (j->max > CLAIM_MAX)
        j->max = CLAIM_MAX;
    int rc = in_tx(from(base), ST_BEGIN, claim_tx, j);
    if (rc) {
        ah_claims_free(j->claims, j->n);
        j->claims = NULL;
        j->n = 0;
        j->next_due = 0;
    }
    return rc;
}

static int delivery_claim(ah_store_t *base, const char *webhook_id, int64_t now,
                          int64_t lease_until, size_t max, ah_claim_t **out, size_t *n,
                          int64_t *next_due)
{
    claim_job_t j = {.webhook_id = webhook_id, .now = now, .lease_until = lease_until, .max = max};
    int rc = claim_one(base, &j);
    *out = j.claims;
    *n = j.n;
    if (next_due)
        *next_due = j.next_due;
    return rc;
}

/*
 * One transaction per webhook: PostgreSQL's writers do not queue on one
 * lock, so nothing is gained by holding the leases of all of them at once.
 * The webhook row is read inside each.
 */
static int delivery_claim_many(ah_store_t *base, ah_claim_req_t *reqs, size_t n, int64_t now,
                               int64_t lease_until)
{
    for (size_t i = 0; i < n; i++) {
        ah_claim_req_t *r = &reqs[i];
        claim_job_t j = {.webhook_id = r->webhook_id,
                         .now = now,
                         .lease_until = lease_until,
                         .max = r->max,
                         .webhook = r->webhook};
        r->rc = claim_one(base, &j);
        r->claims = j.claims;
        r->n = j.n;
        r->next_due = j.next_due;
    }
    return AH_OK;
}

/* ------------------------------------------------------------------------ */
/* Recording attempts.                                                       */

/*
 * An attempt's error sentence as valid UTF-8 (bad bytes become '?'): text
 * columns refuse anything else, and one odd byte must not fail the batch.
 */
static void utf8_clean(const char *in, size_t cap, char *out)
{
    size_t n = strnlen(in, cap - 1), i = 0;
    while (i < n) {
        size_t len = utf8_seq_len((const unsigned char *)in + i, n - i);
        if (len) {
            memcpy(out + i, in + i, len);
            i += len;
        } else {
            out[i++] = '?';
        }
    }
    out[n] = '\0';
}

/* Buffers a result's parameters need beyond the result itself. */
typedef struct record_text {
    char error[AH_ERROR_MAX];
    char reason[AH_REASON_MAX];
} record_text_t;

/* One result's parameters for ST_RECORD; the outcome was checked. */
static void bind_record(params_t *p, const ah_attempt_result_t *r, record_text_t *t)
{
    const ah_attempt_t *a = &r->attempt;
    utf8_clean(a->error, sizeof a->error, t->error);
    utf8_clean(r->disable_reason, sizeof r->disable_reason, t->reason);
    P_OPT_FIELD(p, r->delivery_id);
    p_i64(p, a->attempt_no);
    p_i64(p, a->status_code);
    p_opt(p, t->error);
    p_i64(p, a->started_at + a->duration_ms);
    p_str(p, ah_outcome_status(r->outcome));
    p_i64(p, r->next_attempt_at);
    p_i64(p, a->started_at);
    p_i64(p, a->duration_ms);
    p_bytes(p, a->response_head, strnlen(a->response_head, sizeof a->response_head));
    p_bool(p, r->outcome == AH_OUTCOME_SUCCEEDED);
    p_str(p, t->reason);
}

/* A result for a delivery that does not exist is skipped, not a failure of the batch. */
static void warn_unknown(const ah_attempt_result_t *r)
{
    ah_logf(AH_LOG_WARN, "postgres: attempt for unknown delivery %.*s not recorded",
            (int)strnlen(r->delivery_id, AH_ID_SIZE - 1), r->delivery_id);
}

/* Sends ST_RECORD for each of rs[0..n) into the pipeline, then a sync point. */
static int send_records(conn_t *c, const ah_attempt_result_t *rs, size_t n)
{
    char name[16];
    stmt_name(ST_RECORD, name);
    for (size_t i = 0; i < n; i++) {
        params_t p = {0};
        record_text_t t;
        bind_record(&p, &rs[i], &t);
        if (p.bad)
            return AH_EINVAL;
        /* libpq copies the values into its buffer: t may go. */
        if (!PQsendQueryPrepared(c->pg, name, p.n, p.v, p.len, p.fmt, 0))
            return pg_error(c, NULL, "record");
    }
    return PQpipelineSync(c->pg) ? AH_OK : pg_error(c, NULL, "record");
}

/*
 * Reads the answers of send_records up to its sync point: each query's
 * result, then NULL.  The first error wins; the queries after it come back
 * PGRES_PIPELINE_ABORTED.
 */
static int read_records(conn_t *c, const ah_attempt_result_t *rs, size_t n)
{
    int rc = AH_OK;
    size_t i = 0, ends = 0;
    for (;;) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            /* Each query's answer ends with one NULL; more means the connection is gone. */
            if (++ends > n || PQstatus(c->pg) != CONNECTION_OK)
                return rc ? rc : pg_error(c, NULL, "record");
            i = ends;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return rc;
        }
        if (st == PGRES_TUPLES_OK && PQntuples(r) == 0 && i < n)
            warn_unknown(&rs[i]);
        else if (st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED && rc == AH_OK)
            rc = pg_error(c, r, stmt_sql[ST_RECORD]);
        PQclear(r);
    }
}

/*
 * Records rs[0..n) in chunks of PIPELINE_CHUNK statements sent back to back
 * (libpq pipeline mode) inside the caller's transaction: one round trip per
 * chunk instead of one per result.  Chunks stay small so that neither side's
 * socket buffer fills while the other is still writing.
 */
static int record_pipelined(conn_t *c, const ah_attempt_result_t *rs, size_t n)
{
    int rc = prepare(c, ST_RECORD);
    if (rc)
        return rc;
    if (!PQenterPipelineMode(c->pg))
        return pg_error(c, NULL, "record");
    for (size_t off = 0; rc == AH_OK && off < n; off += PIPELINE_CHUNK) {
        size_t k = n - off < PIPELINE_CHUNK ? n - off : PIPELINE_CHUNK;
        rc = send_records(c, rs + off, k);
        if (rc == AH_OK)
            rc = read_records(c, rs + off, k);
    }
    if (!PQexitPipelineMode(c->pg))
        c->broken = true; /* answers still pending after an error: start afresh */
    return rc;
}

typedef struct record_job {
    const ah_attempt_result_t *results;
    size_t n;
} record_job_t;

static int record_tx(conn_t *c, void *arg)
{
    const record_job_t *j = arg;
    return record_pipelined(c, j->results, j->n);
}

static int delivery_record(ah_store_t *base, const ah_attempt_result_t *results, size_t n)
{
    if (n == 0)
        return AH_OK;
    if (!results)
        return AH_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!ah_outcome_status(results[i].outcome))
            return AH_EINVAL; /* nothing of the batch is recorded */
    record_job_t j = {results, n};
    return in_tx(from(base), ST_BEGIN, record_tx, &j);
}

/*
 * ids as a PostgreSQL array literal, each element double-quoted (with " and
 * \ escaped), for the text[] parameter of ST_DELIVERY_RELEASE.  malloc'd.
 */
static char *id_array(const char (*ids)[AH_ID_SIZE], size_t n)
{
    size_t cap = 3 + n * (2 * (AH_ID_SIZE - 1) + 3);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[len++] = ',';
        out[len++] = '"';
        for (size_t k = 0; k < AH_ID_SIZE - 1 && ids[i][k]; k++) {
            if (ids[i][k] == '"' || ids[i][k] == '\\')
                out[len++] = '\\';
            out[len++] = ids[i][k];
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

static int delivery_release(ah_store_t *base, const char (*ids)[AH_ID_SIZE], size_t n)
{
    if (n == 0)
        return AH_OK;
    if (!ids)
        return AH_EINVAL;
    char *arr = id_array(ids, n);
    if (!arr)
        return AH_ENOMEM;
    params_t p = {0};
    p_str(&p, arr);
    int rc = exec_cmd(base, ST_DELIVERY_RELEASE, &p, NULL);
    free(arr);
    return rc;
}

/* Exists for the interface; a shared store's dispatcher never calls it (leases expire). */
static int delivery_release_all(ah_store_t *base)
{
    return exec_cmd(base, ST_DELIVERY_RELEASE_ALL, NULL, NULL);
}

/* ------------------------------------------------------------------------ */
/* Reading deliveries.                                                       */

static void row_delivery(const PGresult *r, int i, void *out)
{
    ah_delivery_t *d = out;
    memset(d, 0, sizeof *d);
    COL_COPY(r, i, 0, d->id);
    COL_COPY(r, i, 1, d->event_id);
    COL_COPY(r, i, 2, d->webhook_id);
    COL_COPY(r, i, 3, d->trigger);
    d->status = ah_delivery_status_parse(PQgetvalue(r, i, 4));
    d->attempts = (int)col_i64(r, i, 5);
    d->next_attempt_at = col_i64(r, i, 6);
    d->lease_until = col_i64(r, i, 7);
    d->created_at = col_i64(r, i, 8);
    d->updated_at = col_i64(r, i, 9);
    d->last_status_code = (int)col_i64(r, i, 10);
    COL_COPY(r, i, 11, d->last_error);
}

static void row_attempt(const PGresult *r, int i, void *out)
{
    ah_attempt_t *a = out;
    memset(a, 0, sizeof *a);
    a->attempt_no = (int)col_i64(r, i, 0);
    a->started_at = col_i64(r, i, 1);
    a->duration_ms = col_i64(r, i, 2);
    a->status_code = (int)col_i64(r, i, 3);
    COL_COPY(r, i, 4, a->error);
    col_bytea(r, i, 5, a->response_head, sizeof a->response_head);
}

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

static bool filter_ok(const ah_delivery_filter_t *f)
{
    bool by_webhook = f->webhook_id && *f->webhook_id;
    bool by_event = f->event_id && *f->event_id;
    return by_webhook != by_event && f->limit >= 1 && f->limit <= DELIVERY_PAGE_MAX &&
           f->status >= -1 && f->status <= AH_DLV_CANCELLED;
}

static int delivery_list(ah_store_t *base, const ah_delivery_filter_t *f, ah_delivery_t **out,
                         size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    *out = NULL;
    *n = 0;
    if (next_cursor)
        next_cursor[0] = '\0';
    if (!f || !filter_ok(f))
        return AH_EINVAL;
    bool by_webhook = f->webhook_id && *f->webhook_id;
    int64_t at = INT64_MAX; /* first page: older than the end of time */
    char after[AH_ID_SIZE] = "";
    if (f->cursor && *f->cursor && parse_cursor(f->cursor, &at, after) != AH_OK)
        return AH_EINVAL;
    params_t p = {0};
    p_str(&p, by_webhook ? f->webhook_id : f->event_id);
    p_str(&p, f->status < 0 ? NULL : ah_delivery_status_name(f->status));
    p_i64(&p, at);
    p_str(&p, after);
    p_i64(&p, (int64_t)f->limit + 1); /* one more row tells whether another page follows */
    void *arr;
    int rc = exec_all(base, by_webhook ? ST_DELIVERY_LIST_WEBHOOK : ST_DELIVERY_LIST_EVENT, &p,
                      row_delivery, sizeof **out, &arr, n);
    *out = arr;
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

static int read_delivery_tx(conn_t *c, void *arg)
{
    delivery_read_t *r = arg;
    params_t p = {0};
    p_str(&p, r->id);
    int rc = fetch_one(c, ST_DELIVERY_GET, &p, row_delivery, r->out);
    if (rc || !r->attempts)
        return rc;
    free(*r->attempts);
    void *arr;
    rc = fetch_all(c, ST_ATTEMPT_LIST, &p, row_attempt, sizeof **r->attempts, &arr, r->n_attempts);
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
    delivery_read_t r = {id, out, attempts, n_attempts ? n_attempts : &n_dummy};
    int rc = in_tx(from(base), ST_BEGIN_READ, read_delivery_tx, &r);
    if (rc && attempts) {
        free(*attempts);
        *attempts = NULL;
        if (n_attempts)
            *n_attempts = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Operator actions and stats.                                               */

static void row_id(const PGresult *r, int i, void *out)
{
    col_copy(r, i, 0, out, AH_ID_SIZE);
}

static int delivery_retry(ah_store_t *base, const char *id, int64_t now,
                          char webhook_id[AH_ID_SIZE])
{
    char wid[AH_ID_SIZE] = "";
    params_t p = {0};
    p_str(&p, id);
    p_i64(&p, now);
    int rc = exec_one(base, ST_DELIVERY_RETRY, &p, row_id, wid);
    if (rc == AH_OK && webhook_id)
        copy_id(webhook_id, wid);
    return rc;
}

typedef struct recover_job {
    const char *webhook_id;
    int64_t since;
    int64_t now;
    size_t count;
} recover_job_t;

static int recover_tx(conn_t *c, void *arg)
{
    recover_job_t *j = arg;
    j->count = 0;
    params_t p = {0};
    p_str(&p, j->webhook_id);
    int rc;
    PGresult *r = run(c, ST_WEBHOOK_DEREGISTERED_AT, &p, &rc);
    if (r && (PQntuples(r) == 0 || col_i64(r, 0, 0) != 0))
        rc = AH_ENOTFOUND; /* missing or deregistered */
    PQclear(r);
    if (rc)
        return rc;
    params_t q = {0};
    p_str(&q, j->webhook_id);
    p_i64(&q, j->since);
    p_i64(&q, j->now);
    rc = run_cmd(c, ST_WEBHOOK_RECOVER, &q, &j->count);
    if (rc == AH_OK && j->count > 0)
        rc = notify(c, j->webhook_id, j->now);
    return rc;
}

static int webhook_recover(ah_store_t *base, const char *webhook_id, int64_t since, int64_t now,
                           size_t *n_requeued)
{
    if (n_requeued)
        *n_requeued = 0;
    recover_job_t j = {webhook_id, since, now, 0};
    int rc = in_tx(from(base), ST_BEGIN, recover_tx, &j);
    if (rc == AH_OK && n_requeued)
        *n_requeued = j.count;
    return rc;
}

static int webhook_rotate_secret(ah_store_t *base, const char *id, const char *new_secret,
                                 int64_t prev_until, int64_t now)
{
    if (!new_secret || !*new_secret)
        return AH_EINVAL;
    if (strnlen(new_secret, AH_SECRET_MAX) >= AH_SECRET_MAX)
        return AH_ETOOBIG; /* it would come back truncated */
    params_t p = {0};
    p_str(&p, id);
    p_str(&p, new_secret);
    p_i64(&p, prev_until);
    p_i64(&p, now);
    size_t changed = 0;
    int rc = exec_cmd(base, ST_WEBHOOK_ROTATE, &p, &changed);
    return rc == AH_OK && changed == 0 ? AH_ENOTFOUND : rc;
}

static void row_stats(const PGresult *r, int i, void *out)
{
    ah_delivery_stats_t *st = out;
    st->pending = col_i64(r, i, 0);
    st->oldest_pending_created_at = col_i64(r, i, 1); /* NULL reads 0 */
}

static int delivery_stats(ah_store_t *base, ah_delivery_stats_t *out)
{
    memset(out, 0, sizeof *out);
    return exec_one(base, ST_DELIVERY_STATS, NULL, row_stats, out);
}

static void row_gen(const PGresult *r, int i, void *out)
{
    ah_cache_gen_t *g = out;
    g->webhooks = col_i64(r, i, 0);
    g->auth = col_i64(r, i, 1);
}

static int cache_gen(ah_store_t *base, ah_cache_gen_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = exec_one(base, ST_CACHE_GEN, NULL, row_gen, out);
    return rc == AH_ENOTFOUND ? AH_ESTORE : rc;
}

/* ------------------------------------------------------------------------ */
/* The listener: LISTEN airhook_work on a connection of its own.             */

static bool listener_stopping(pg_store_t *s)
{
    return atomic_load(&s->lis.stop);
}

/*
 * Waits until fd has `events` or deadline (monotonic ms) passes, whichever
 * first; 1 ready, 0 timeout, -1 asked to stop.
 */
static int wait_fd(pg_store_t *s, int fd, short events, int64_t deadline)
{
    for (;;) {
        if (listener_stopping(s))
            return -1;
        int64_t left = deadline - ah_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p[2] = {{.fd = s->lis.pipe_fd[0], .events = POLLIN},
                              {.fd = fd, .events = events}};
        int n = poll(p, fd >= 0 ? 2 : 1, (int)(left > LISTEN_POLL_MS ? LISTEN_POLL_MS : left));
        if (n < 0 && errno != EINTR)
            return -1;
        if (n > 0 && p[0].revents)
            return -1;
        if (n > 0 && p[1].revents)
            return 1;
    }
}

/* Connects without blocking past a stop request; NULL on failure. */
static PGconn *listen_connect(pg_store_t *s, char *err, size_t errlen)
{
    const char *vals[AH_ARRAY_LEN(conn_keys)];
    conn_values(s, vals);
    PGconn *pg = PQconnectStartParams(conn_keys, vals, 1);
    if (!pg || PQstatus(pg) == CONNECTION_BAD)
        goto fail;
    int64_t deadline = ah_mono_ms() + LISTEN_CONNECT_MS;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED)
            goto fail;
        short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (wait_fd(s, PQsocket(pg), ev, deadline) <= 0) {
            snprintf(err, errlen, "timed out or stopped");
            PQfinish(pg);
            return NULL;
        }
        st = PQconnectPoll(pg);
    }
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    return pg;
fail:
    if (pg)
        first_line(PQerrorMessage(pg), err, errlen);
    else
        snprintf(err, errlen, "out of memory");
    PQfinish(pg);
    return NULL;
}

/* Sends LISTEN and waits for its answer; AH_OK when listening. */
static int listen_start(pg_store_t *s, PGconn *pg)
{
    if (!PQsendQuery(pg, "LISTEN " CHANNEL))
        return AH_EUNAVAIL;
    int64_t deadline = ah_mono_ms() + LISTEN_CONNECT_MS;
    while (PQisBusy(pg)) {
        if (wait_fd(s, PQsocket(pg), POLLIN, deadline) <= 0 || !PQconsumeInput(pg))
            return AH_EUNAVAIL;
    }
    int rc = AH_OK;
    PGresult *r;
    while ((r = PQgetResult(pg))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = AH_EUNAVAIL;
        PQclear(r);
    }
    return rc;
}

/* Hands "<webhook id> <due>" to the wake function, unless calls are off. */
static void deliver(pg_store_t *s, const char *payload)
{
    char id[AH_ID_SIZE];
    const char *sp = strchr(payload, ' ');
    int64_t due = 0;
    if (!sp || sp - payload != AH_ID_LEN)
        return;
    memcpy(id, payload, AH_ID_LEN);
    id[AH_ID_LEN] = '\0';
    if (!ah_is_uuid(id) || ah_parse_i64(sp + 1, INT64_MIN, INT64_MAX, &due) != AH_OK)
        return;
    listener_t *l = &s->lis;
    pthread_mutex_lock(&l->mu);
    wake_fn wake = l->wake;
    void *arg = l->arg;
    l->calling = wake != NULL;
    pthread_mutex_unlock(&l->mu);
    if (!wake)
        return;
    wake(arg, id, due);
    pthread_mutex_lock(&l->mu);
    l->calling = false;
    pthread_cond_broadcast(&l->idle_cv);
    pthread_mutex_unlock(&l->mu);
}

/* Waits for notifications once; AH_EUNAVAIL when the connection is gone. */
static int listen_turn(pg_store_t *s, PGconn *pg)
{
    int w = wait_fd(s, PQsocket(pg), POLLIN, ah_mono_ms() + LISTEN_POLL_MS);
    if (w <= 0)
        return AH_OK; /* timeout, or stopping: the loop looks */
    if (!PQconsumeInput(pg))
        return AH_EUNAVAIL;
    PGnotify *n;
    while ((n = PQnotifies(pg))) {
        deliver(s, n->extra);
        PQfreemem(n);
    }
    return PQstatus(pg) == CONNECTION_OK ? AH_OK : AH_EUNAVAIL;
}

static void *listen_main(void *arg)
{
    pg_store_t *s = arg;
    PGconn *pg = NULL;
    int64_t backoff = 0;
    bool lost = false;
    while (!listener_stopping(s)) {
        if (!pg) {
            char err[256] = "";
            pg = listen_connect(s, err, sizeof err);
            if (pg && listen_start(s, pg) != AH_OK) {
                first_line(PQerrorMessage(pg), err, sizeof err);
                PQfinish(pg);
                pg = NULL;
            }
            if (!pg) {
                if (!lost && !listener_stopping(s))
                    ah_logf(AH_LOG_WARN, "postgres: cannot listen for work (%s); retrying", err);
                lost = true;
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
                if (backoff > BACKOFF_MAX_MS)
                    backoff = BACKOFF_MAX_MS;
                wait_fd(s, -1, 0, ah_mono_ms() + backoff);
                continue;
            }
            if (lost)
                ah_logf(AH_LOG_INFO, "postgres: listening for work again");
            lost = false;
            backoff = 0;
        }
        if (listen_turn(s, pg) != AH_OK) {
            ah_logf(AH_LOG_WARN, "postgres: the listening connection dropped; reconnecting");
            lost = true;
            PQfinish(pg);
            pg = NULL;
        }
    }
    PQfinish(pg);
    return NULL;
}

/* Starts the listener thread (once); AH_OK or a status, with calls then off. */
static int listener_start(pg_store_t *s)
{
    listener_t *l = &s->lis;
    if (l->started)
        return AH_OK;
    if (pipe(l->pipe_fd))
        return AH_ESTORE;
    atomic_store(&l->stop, false);
    if (pthread_create(&l->thread, NULL, listen_main, s)) {
        close(l->pipe_fd[0]);
        close(l->pipe_fd[1]);
        return AH_ESTORE;
    }
    l->started = true;
    return AH_OK;
}

static int store_listen(ah_store_t *base, wake_fn wake, void *arg)
{
    pg_store_t *s = from(base);
    listener_t *l = &s->lis;
    pthread_mutex_lock(&l->mu);
    l->wake = wake;
    l->arg = wake ? arg : NULL;
    int rc = wake ? listener_start(s) : AH_OK;
    if (rc) {
        l->wake = NULL; /* a failed listen never calls back */
        l->arg = NULL;
    }
    /* Calls off: wait for one in progress, unless it is this very thread. */
    bool self = l->started && pthread_equal(pthread_self(), l->thread);
    while (!wake && l->calling && !self)
        pthread_cond_wait(&l->idle_cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static void listener_stop(pg_store_t *s)
{
    listener_t *l = &s->lis;
    if (!l->started)
        return;
    atomic_store(&l->stop, true);
    ssize_t w = write(l->pipe_fd[1], "x", 1);
    (void)w; /* the flag alone stops it within LISTEN_POLL_MS */
    pthread_join(l->thread, NULL);
    close(l->pipe_fd[0]);
    close(l->pipe_fd[1]);
    l->started = false;
}

/* ------------------------------------------------------------------------ */
/* Closing.                                                                  */

static void store_close(ah_store_t *base)
{
    pg_store_t *s = from(base);
    if (!s)
        return;
    listener_stop(s);
    conn_t *c = s->all;
    while (c) {
        conn_t *next = c->next_all;
        PQfinish(c->pg);
        free(c);
        c = next;
    }
    pthread_cond_destroy(&s->lis.idle_cv);
    pthread_mutex_destroy(&s->lis.mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->dsn);
    free(s);
}

static const ah_store_ops_t pg_ops = {
    .name = "postgres",
    .shared = true,
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
    .listen = store_listen,
    .cache_gen = cache_gen,
};

/* ------------------------------------------------------------------------ */
/* Opening: the DSN, then migrations.                                        */

/* Runs fixed SQL (no parameters) on pg; AH_OK or AH_ESTORE with err. */
static int exec_fixed(PGconn *pg, const char *sql, PGresult **out, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return AH_OK;
    }
    first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(pg), err, errlen);
    PQclear(r);
    return PQstatus(pg) == CONNECTION_OK ? AH_ESTORE : AH_EUNAVAIL;
}

/* The applied schema version, inside the migration transaction. */
static int schema_version(PGconn *pg, int *out, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = exec_fixed(pg,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
                        NULL, err, errlen);
    if (rc == AH_OK)
        rc = exec_fixed(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", &r, err,
                        errlen);
    if (rc == AH_OK)
        *out = (int)col_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* Applies migration `version` and records it. */
static int apply_migration(PGconn *pg, int version, char *err, size_t errlen)
{
    int rc = exec_fixed(pg, migrations[version - 1], NULL, err, errlen);
    if (rc)
        return rc;
    char v[16], at[24];
    snprintf(v, sizeof v, "%d", version);
    snprintf(at, sizeof at, "%" PRId64, ah_now_ms());
    const char *vals[] = {v, at};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO schema_migrations (version, applied_at)"
                               " VALUES ($1::integer, $2::bigint)",
                               2, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        first_line(PQresultErrorMessage(r), err, errlen);
        rc = AH_ESTORE;
    }
    PQclear(r);
    return rc;
}

/*
 * Brings the schema up to date in one transaction under an advisory lock:
 * nodes that start together queue here, and the later ones find the work
 * done.  A schema newer than this binary is refused.
 */
static int migrate(PGconn *pg, char *err, size_t errlen)
{
    const int latest = (int)AH_ARRAY_LEN(migrations);
    char msg[256] = "";
    int current = 0;
    int rc = exec_fixed(pg, "BEGIN", NULL, msg, sizeof msg);
    if (rc == AH_OK)
        rc = exec_fixed(pg, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", NULL, msg,
                        sizeof msg);
    if (rc == AH_OK)
        rc = schema_version(pg, &current, msg, sizeof msg);
    if (rc == AH_OK && current > latest) {
        snprintf(err, errlen,
                 "the database schema (version %d) is newer than this airhook (version %d)",
                 current, latest);
        PQclear(PQexec(pg, "ROLLBACK"));
        return AH_ESTORE;
    }
    for (int v = current + 1; rc == AH_OK && v <= latest; v++) {
        rc = apply_migration(pg, v, msg, sizeof msg);
        if (rc)
            snprintf(err, errlen, "schema migration %d failed: %s", v, msg);
    }
    if (rc == AH_OK)
        rc = exec_fixed(pg, "COMMIT", NULL, msg, sizeof msg);
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "cannot migrate the schema: %s", msg);
        PQclear(PQexec(pg, "ROLLBACK"));
    }
    return rc;
}

/* The pool size when the DSN does not say: AIRHOOK_PG_POOL, else CPUs + 4 in [8, 32]. */
static int default_pool(void)
{
    const char *env = getenv("AIRHOOK_PG_POOL");
    int64_t v;
    if (env && *env && ah_parse_i64(env, 1, POOL_LIMIT, &v) == AH_OK)
        return (int)v;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = (cores > 0 ? cores : 2) + 4;
    if (n < POOL_MIN_DEFAULT)
        n = POOL_MIN_DEFAULT;
    if (n > POOL_MAX_DEFAULT)
        n = POOL_MAX_DEFAULT;
    return (int)n;
}

/*
 * Copies dsn into a malloc'd string without its "pool=N" query parameter
 * (libpq would refuse it), setting *pool to N, or 0 when absent.
 */
static int take_pool_param(const char *dsn, char **out, int *pool, char *err, size_t errlen)
{
    *pool = 0;
    size_t len = strlen(dsn);
    char *s = malloc(len + 1);
    if (!s)
        return AH_ENOMEM;
    const char *q = strchr(dsn, '?');
    size_t used = q ? (size_t)(q - dsn) : len;
    memcpy(s, dsn, used);
    char sep = '?';
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        size_t n = strcspn(p, "&");
        if (n >= 5 && !strncmp(p, "pool=", 5)) {
            char num[8] = "";
            int64_t v = 0;
            if (n - 5 < sizeof num)
                memcpy(num, p + 5, n - 5);
            if (n - 5 >= sizeof num || ah_parse_i64(num, 1, POOL_LIMIT, &v) != AH_OK) {
                snprintf(err, errlen, "pool= in the DSN takes a number from 1 to %d", POOL_LIMIT);
                free(s);
                return AH_EINVAL;
            }
            *pool = (int)v;
        } else if (n > 0) {
            s[used++] = sep;
            memcpy(s + used, p, n);
            used += n;
            sep = '&';
        }
        p += n;
        if (*p == '&')
            p++;
    }
    s[used] = '\0';
    *out = s;
    return AH_OK;
}

static pg_store_t *store_new(void)
{
    pg_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base.ops = &pg_ops;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->lis.mu, NULL);
    pthread_cond_init(&s->lis.idle_cv, NULL);
    return s;
}

/* Opens the first connection and migrates with it; it then joins the pool. */
static int first_connection(pg_store_t *s, char *err, size_t errlen)
{
    char msg[256] = "";
    PGconn *pg = pg_connect(s, msg, sizeof msg);
    if (!pg) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", msg);
        return AH_EUNAVAIL;
    }
    int rc = migrate(pg, err, errlen);
    conn_t *c = rc ? NULL : calloc(1, sizeof *c);
    if (!rc && !c)
        rc = AH_ENOMEM;
    if (rc) {
        PQfinish(pg);
        return rc;
    }
    c->pg = pg;
    s->all = s->idle = c;
    s->n_conns = 1;
    return AH_OK;
}

int ah_store_pg_open(const char *dsn, ah_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!dsn || !*dsn) {
        snprintf(err, errlen, "postgres: needs a DSN");
        return AH_EINVAL;
    }
    if (!PQisthreadsafe()) {
        snprintf(err, errlen, "the libpq library was built without thread support");
        return AH_ESTORE;
    }
    pg_store_t *s = store_new();
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    int pool = 0;
    int rc = take_pool_param(dsn, &s->dsn, &pool, err, errlen);
    if (rc == AH_ENOMEM)
        snprintf(err, errlen, "out of memory");
    s->pool_max = pool ? pool : default_pool();
    if (rc == AH_OK)
        rc = first_connection(s, err, errlen);
    if (rc) {
        store_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return AH_OK;
}
