/* SPDX-License-Identifier: MIT */
/*
 * store_pg.c: the PostgreSQL storage backend (an SQL driver, sql.h, and the
 * operations of ah_store_ops_t that are PostgreSQL's own, over libpq).
 *
 * What it is for.  Several `airhook serve` processes, on several hosts, share
 * one PostgreSQL database (SPEC §8): any of them may publish, claim, deliver
 * and record.  What each operation does is the contract in store.h, kept by
 * the store layer (store.c) for both backends; this file says how
 * PostgreSQL gets there: its connections, its dialect (stmt_sql[]), and the
 * operations whose flow is its own (publishing with ON CONFLICT, the
 * recursive walk over due work, set-based recording, releasing by array,
 * LISTEN/NOTIFY).
 *
 * Connections.  A store is a pool of libpq connections (pool_max, opened
 * lazily) guarded by a mutex and a condition variable, like the SQLite pool:
 * an operation borrows one connection for its whole duration.  The pool size
 * is `pool=N` in the DSN's query string (taken out before libpq sees it), or
 * the AIRHOOK_PG_POOL environment variable, or else the number of CPUs + 4
 * (the HTTP threads, the dispatcher and a few spare), at least 8 and at most
 * 32.  Every connection prepares each statement of stmt_sql[] on first use
 * (PQprepare) and again as it is used more (replan_due), and runs it with
 * PQexecPrepared; every value travels as a parameter, never as SQL text.
 * Values go in text format, except bytes (AH_SQL_BYTES: the response head of
 * an attempt), which are bytea in binary format (it is the first KiB of
 * whatever a receiver answered, possibly cut inside a UTF-8 sequence, and is
 * kept byte for byte).  Text parameters must be valid UTF-8 without NUL
 * bytes (the driver's utf8_only): the server refuses anything else
 * (AH_EINVAL), and a lookup by such a key finds nothing.
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
 * partial unique index of active tuples.  One node at a time delivers a
 * webhook, the one whose row in webhook_leases has not lapsed (migration
 * 14): a claim takes or renews that lease and then reads the due rows,
 * whose leases the node keeps in memory (store.c), so two nodes never take
 * the same delivery; a lapsed webhook lease is simply taken by the next
 * node that claims for it.  Publishing
 * and retrying send pg_notify('airhook_work', "<webhook id> <due ms>") from
 * their statement's text, recovering and re-enabling through the driver's
 * notify(), all in the same transaction as the work, so the notification
 * arrives only after commit; listen() runs a thread with a connection of
 * its own (not from the pool) that LISTENs on that channel and hands each
 * notification to the caller's wake function, reconnecting with the same
 * backoff when the connection drops.  Webhook leases are never cleared at
 * start (ops.shared): another node may be holding them; a node gives up
 * its own when it closes.
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
#define TX_TRIES 3 /* a transaction that lost a deadlock runs again */
/*
 * A node renews its lease of a busy webhook when it has less than --lease
 * minus this left (or a tenth of --lease, if smaller), so the row is
 * rewritten about once a second, not at every claim; the webhook's lease,
 * which keeps other nodes off a claimed delivery, then runs at least
 * --lease minus this from the claim.
 */
#define LEASE_RENEW_MS 1000
/* A free webhook's deliveries wait this long (ms, as SQL) for a node with fewer webhooks. */
#define LEASE_FAIR_MS "2000"
#define RECORD_CHUNK 256    /* attempt results recorded per statement */
#define PUB_BATCH_MAX 64    /* publishes committed together */
#define PUB_THREADS 2       /* publisher threads, each with a batch in flight */
#define LISTEN_POLL_MS 1000 /* the listener looks at its stop flag this often */
#define LISTEN_CONNECT_MS 5000
#define CHANNEL "airhook_work"
#define CACHE_CHANNEL "airhook_cache" /* the cache generations changed */
/* The longest cache_gen answers from memory without a read (a silently dead listener). */
#define GEN_MAX_AGE_MS 100
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
     * 3: generations for the API's caches (what bumps what is the contract of
     * ah_cache_gen_t in store.h; SQLite's migration 4 has the same
     * triggers).  The triggers here are deferred constraint triggers:
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

    /*
     * The third (version 3 in schema_migrations): quotas per community, as
     * SQLite's migration 5.  The usage triggers are plain AFTER ROW
     * triggers, not deferred: a registration locks its community's usage
     * row before it inserts (ST_WEBHOOK_INSERT_WITHIN), so every lock on
     * that row is taken before commit and before the generations' row,
     * which stays the last lock of a transaction.  The triggers on webhooks
     * are created before the existing rows are counted: creating one waits
     * for writers of the table and holds them off until this migration
     * commits, so no webhook is counted twice or missed.
     */
    "CREATE TABLE community_quotas ("
    "  community_id TEXT COLLATE \"C\" PRIMARY KEY REFERENCES communities(id),"
    "  max_webhooks BIGINT,"
    "  max_url_bytes BIGINT,"
    "  max_name_bytes BIGINT,"
    "  max_description_bytes BIGINT,"
    "  registrations_per_minute BIGINT,"
    "  updated_at BIGINT NOT NULL"
    ");"
    "CREATE TABLE community_usage ("
    "  community_id TEXT COLLATE \"C\" PRIMARY KEY REFERENCES communities(id),"
    "  active_webhooks BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE FUNCTION usage_community_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN INSERT INTO community_usage (community_id) VALUES (NEW.id); RETURN NULL; END"
    " $$;"
    "CREATE FUNCTION usage_webhook_change() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    " IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_active THEN"
    "  UPDATE community_usage SET active_webhooks = active_webhooks - 1"
    "  WHERE community_id = OLD.community_id;"
    " END IF;"
    " IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_active THEN"
    "  UPDATE community_usage SET active_webhooks = active_webhooks + 1"
    "  WHERE community_id = NEW.community_id;"
    " END IF;"
    " RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER usage_webhook_insert AFTER INSERT ON webhooks FOR EACH ROW"
    " WHEN (NEW.is_active) EXECUTE FUNCTION usage_webhook_change();"
    "CREATE TRIGGER usage_webhook_update AFTER UPDATE OF is_active, community_id ON webhooks"
    " FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active"
    " OR OLD.community_id IS DISTINCT FROM NEW.community_id)"
    " EXECUTE FUNCTION usage_webhook_change();"
    "CREATE TRIGGER usage_webhook_delete AFTER DELETE ON webhooks FOR EACH ROW"
    " WHEN (OLD.is_active) EXECUTE FUNCTION usage_webhook_change();"
    "CREATE TRIGGER usage_community_insert AFTER INSERT ON communities FOR EACH ROW"
    " EXECUTE FUNCTION usage_community_insert();"
    "INSERT INTO community_usage (community_id, active_webhooks)"
    "  SELECT c.id, (SELECT count(*) FROM webhooks w"
    "  WHERE w.community_id = c.id AND w.is_active) FROM communities c;"
    "CREATE CONSTRAINT TRIGGER cache_gen_quota_change"
    " AFTER INSERT OR UPDATE OR DELETE ON community_quotas"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();"
    "CREATE CONSTRAINT TRIGGER cache_gen_key_insert AFTER INSERT ON access_keys"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();",

    /*
     * 5: fewer index entries per delivery (SQLite's migration 3 did the
     * same).  Only pending deliveries are looked up by due time or age, so
     * those indexes hold pending rows only: a finished delivery's new row
     * version gets no entry in them.  Attempts lose their random id and its
     * index, which nothing read: they are found by delivery.
     */
    "DROP INDEX deliveries_queue;"
    "DROP INDEX deliveries_age;"
    "CREATE INDEX deliveries_pending ON deliveries(webhook_id, next_attempt_at)"
    "  WHERE status = 'pending';"
    "CREATE INDEX deliveries_pending_age ON deliveries(created_at) WHERE status = 'pending';"
    "ALTER TABLE attempts DROP COLUMN id;",

    /*
     * 6: the generations' bumps also notify CACHE_CHANNEL (once per
     * transaction: PostgreSQL folds equal notifications), so that a node
     * knows without asking when its API caches may be stale (cache_gen).
     */
    "CREATE OR REPLACE FUNCTION cache_gen_bump_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE cache_generations SET webhooks = webhooks + 1 WHERE id = 1;"
    " PERFORM pg_notify('" CACHE_CHANNEL "', ''); RETURN NULL; END $$;"
    "CREATE OR REPLACE FUNCTION cache_gen_bump_auth() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN UPDATE cache_generations SET auth = auth + 1 WHERE id = 1;"
    " PERFORM pg_notify('" CACHE_CHANNEL "', ''); RETURN NULL; END $$;",

    /*
     * Retention (src/store/purge.c), as SQLite's migration 6: old events
     * are scanned from a cursor in (created_at, id) order.  (Building
     * it holds off writes to events for as long as it takes: on a large
     * table, create it CONCURRENTLY by hand first; this then finds it.)
     */
    "CREATE INDEX IF NOT EXISTS events_by_age ON events(created_at, id);",

    /*
     * 8: the trigger catalog and the event details of the scope endpoints,
     * as SQLite's migration 8 (whose comment says why); the bump of `auth`
     * is deferred like the others, and notifies as migration 6 made it.
     */
    "ALTER TABLE airmeets ADD COLUMN status TEXT, ADD COLUMN timezone TEXT,"
    "  ADD COLUMN description TEXT;"
    "CREATE INDEX airmeets_by_creation ON airmeets(community_id, created_at, id);"
    "ALTER TABLE sessions ADD COLUMN start_time BIGINT NOT NULL DEFAULT 0,"
    "  ADD COLUMN duration BIGINT NOT NULL DEFAULT 0, ADD COLUMN status TEXT,"
    "  ADD COLUMN summary TEXT, ADD COLUMN type TEXT;"
    "CREATE TABLE catalog_triggers ("
    "  id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  builtin BOOLEAN NOT NULL,"
    "  description TEXT NOT NULL,"
    "  airmeet_scope TEXT NOT NULL CHECK (airmeet_scope IN ('none', 'optional', 'required')),"
    "  session_scope TEXT NOT NULL CHECK (session_scope IN ('none', 'optional', 'required')),"
    "  sample TEXT NOT NULL,"
    "  schema TEXT,"
    "  retired_at BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL"
    ");"
    "CREATE CONSTRAINT TRIGGER cache_gen_catalog_change"
    " AFTER INSERT OR UPDATE OR DELETE ON catalog_triggers"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cache_gen_bump_auth();",

    /*
     * 9: the operator's lists, as SQLite's migration 9 (whose comment says
     * why).  On a large webhooks table, create them CONCURRENTLY by hand
     * first; this then finds them.
     */
    SQL_MIGRATION_LISTS,

    /* 10: test events (sql.h). */
    SQL_MIGRATION_TEST_EVENTS("BOOLEAN", "false"),

    /* 11: the web console's sessions and portal links, as SQLite's migration 11. */
    SQL_MIGRATION_CONSOLE,

    /* 12: `airhook listen`'s secrets and listeners, as SQLite's migration 12. */
    SQL_MIGRATION_LISTENERS,

    /* 13: the console's data, as SQLite's migration 13. */
    SQL_MIGRATION_CONSOLE_DATA("BYTEA"),

    /*
     * 14: leases per webhook (PostgreSQL only: SQLite has one delivering
     * process and keeps its leases in memory).  One node at a time
     * delivers a webhook: the one whose row here has not lapsed
     * (lease_until, its clock's milliseconds).  A claim takes or renews it
     * (ST_WEBHOOK_LEASE) and then only reads the deliveries; their own
     * leases are in that node's memory (store.c, "Leases in memory"), so a
     * claim no longer rewrites a delivery row, and deliveries.lease_until
     * stays 0.  A node hands its rows back when it closes
     * (ST_WEBHOOK_LEASES_DROP).  No foreign key: a lease of a webhook that
     * is gone is one short row that nothing reads.  Nodes of an older
     * version lease the delivery rows instead: stop them all before
     * starting this one.
     */
    "CREATE TABLE webhook_leases ("
    "  webhook_id TEXT COLLATE \"C\" PRIMARY KEY,"
    "  node TEXT COLLATE \"C\" NOT NULL,"
    "  lease_until BIGINT NOT NULL"
    ") WITH (fillfactor = 50);",

    /*
     * 15: a delivery's first recorded attempt kept in its row, so that a
     * delivery that succeeds at once is one row inserted and one updated,
     * with no attempts row.  recorded counts the attempts recorded for the
     * delivery since this migration; the first of them is
     * in the first_* columns, the others in attempts (ST_RECORD).  Every
     * reader of attempts reads both (ST_ATTEMPT_LIST; the purge counts the
     * first from its hold).  SQLite's migration 14 does the same.
     * A delivery recorded before this migration has its attempts in the
     * table and recorded 0: its next attempt goes in its row, and the list
     * sorts them all by number and start as before.  Columns added with a
     * constant default rewrite nothing.
     */
    "ALTER TABLE deliveries ADD COLUMN recorded INTEGER NOT NULL DEFAULT 0,"
    "  ADD COLUMN first_attempt_no INTEGER, ADD COLUMN first_started_at BIGINT,"
    "  ADD COLUMN first_duration_ms BIGINT, ADD COLUMN first_status_code INTEGER,"
    "  ADD COLUMN first_error TEXT, ADD COLUMN first_response_head BYTEA,"
    "  ADD COLUMN first_response_headers BYTEA;",

    /*
     * 16: a batch of registrations does its own accounting.  Per inserted
     * row, the usage trigger's UPDATE (under the community's locked usage
     * row) and the generation's deferred bump were a third of PostgreSQL's
     * time per registration.  A batch (ST_WEBHOOK_INSERT_MANY) adds each
     * community's count once, and bumps the generation once just before
     * its commit (ST_GEN_BUMP_WEBHOOKS), and says so for its own
     * transaction with the setting airhook.counted
     * (ST_SESSION_SYNC_OFF_COUNTED).  Every other insert, by this binary
     * or anyone else, is still counted by the triggers.
     */
    "DROP TRIGGER usage_webhook_insert ON webhooks;"
    "CREATE TRIGGER usage_webhook_insert AFTER INSERT ON webhooks FOR EACH ROW"
    " WHEN (NEW.is_active AND current_setting('airhook.counted', true) IS DISTINCT FROM 'on')"
    " EXECUTE FUNCTION usage_webhook_change();"
    "DROP TRIGGER cache_gen_webhook_insert ON webhooks;"
    "CREATE CONSTRAINT TRIGGER cache_gen_webhook_insert AFTER INSERT ON webhooks"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
    " WHEN (current_setting('airhook.counted', true) IS DISTINCT FROM 'on')"
    " EXECUTE FUNCTION cache_gen_bump_webhooks();",
};

/* ------------------------------------------------------------------------ */
/* Statements, prepared once per connection.                                */

#define LIST_PAGE                                                                                  \
    " AND ($2::text IS NULL OR d.status = $2::text)"                                               \
    " AND (d.created_at, d.id) < ($3::bigint, $4::text)"                                           \
    " AND d.created_at >= $6::bigint AND d.created_at < $7::bigint"                                \
    " AND ($8::text IS NULL OR d.webhook_id = $8::text)"                                           \
    " ORDER BY d.created_at DESC, d.id DESC LIMIT $5::bigint"
/*
 * A new delivery's id, as SQL: a random UUID v4 whose first 48 bits are the
 * time in ms its event was published at (ms), as ah_uuid_v4 makes every other
 * id and SQLite's ah_uuid() its delivery ids.  New rows then go in at the
 * right edge of deliveries_pkey instead of on a random page of it: with 3M
 * deliveries in the table, WAL right after a checkpoint fell from 3.0-4.0 KB
 * to 1.8-2.2 KB per delivery (bench/ANALYSIS.md).  DELIVERY_ID is for a
 * statement's CTE e of inserted events, DELIVERY_ID_P2 for $2 as the time.
 */
#define DELIVERY_ID_AT(ms)                                                                         \
    "overlay(overlay(gen_random_uuid()::text placing lpad(to_hex((" ms ") >> 16), 8, '0')"         \
    " from 1 for 8) placing lpad(to_hex((" ms ") & 65535), 4, '0') from 10 for 4)"
#define DELIVERY_ID DELIVERY_ID_AT("e.created_at")
#define DELIVERY_ID_P2 DELIVERY_ID_AT("$2::bigint")
/* The notification payload: "<webhook id> <due ms>"; due 0 is due on arrival (deliver()). */
#define NOTIFY_OF(id, due) "pg_notify('" CHANNEL "', " id " || ' ' || " due ")"
#define ACTIVE_TUPLE                                                                               \
    "(community_id, trigger, url, (coalesce(airmeet_id, '')), (coalesce(session_id, '')))"         \
    " WHERE is_active AND deregistered_at = 0"

/* PostgreSQL's own statements, after the store layer's (sql.h). */
enum {
    ST_BEGIN = AH_SQL_SHARED_COUNT,
    ST_BEGIN_READ,
    ST_SYNC_OFF,
    ST_SESSION_SYNC_OFF,
    ST_SESSION_SYNC_ON,
    ST_SESSION_SYNC_OFF_COUNTED,
    ST_GEN_BUMP_WEBHOOKS,
    ST_DURABLE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_NOTIFY,
    ST_DUE_WEBHOOKS,
    ST_RECORD,
    ST_PUBLISH,
    ST_PUBLISH_MANY,
    ST_WEBHOOK_INSERT_MANY,
    ST_DELIVERY_RELEASE,
    ST_WEBHOOK_LEASE,
    ST_NODE_HEARTBEAT,
    ST_WEBHOOK_LEASES_DROP,
    ST_COUNT
};

/*
 * The filters of the operator's webhook list, parameters T, S, U: trigger,
 * state, url part, each NULL for any.
 */
#define WEBHOOK_FILTER(T, S, U)                                                                    \
    " AND ($" #T "::text IS NULL OR trigger = $" #T "::text)"                                      \
    " AND ($" #S "::text IS NULL OR $" #S "::text = CASE WHEN deregistered_at <> 0"                \
    " THEN 'deregistered' WHEN is_active THEN 'active' ELSE 'disabled' END)"                       \
    " AND ($" #U "::text IS NULL OR strpos(url, $" #U "::text) > 0)"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    /* After BEGIN: this transaction's commit does not wait for the disk (AH_SQL_WRITE_TX_LAZY). */
    [ST_SYNC_OFF] = "SET LOCAL synchronous_commit = off",
    /* Around a hot statement's own commit, and the wait for the disk after (hot_statement). */
    [ST_SESSION_SYNC_OFF] = "SET synchronous_commit = off",
    [ST_SESSION_SYNC_ON] = "RESET synchronous_commit",
    /* ST_SESSION_SYNC_OFF; its transaction's accounting done by the batch (migration 16). */
    [ST_SESSION_SYNC_OFF_COUNTED] = "SELECT set_config('synchronous_commit', 'off', false),"
                                    " set_config('airhook.counted', 'on', true)",
    /* After a batch of registrations, for all of it (migration 16). */
    [ST_GEN_BUMP_WEBHOOKS] = "UPDATE cache_generations SET webhooks = webhooks + 1 WHERE id = 1"
                             " RETURNING pg_notify('" CACHE_CHANNEL "', '')",
    [ST_DURABLE] = "SELECT txid_current()",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = SQL_PING,
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = $1::text",
    [ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES ($1::text, $2::text)"
                       " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [ST_SETTING_ADD] = "INSERT INTO settings (key, value) VALUES ($1::text, $2::text)",
    [ST_COMMUNITY_INSERT] = "INSERT INTO communities (" COMMUNITY_COLS ")"
                            " VALUES ($1::text, $2::text, $3::bigint)",
    [ST_COMMUNITY_GET] = "SELECT " COMMUNITY_COLS " FROM communities WHERE id = $1::text",
    [ST_COMMUNITY_LIST] = SQL_COMMUNITY_LIST,
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
                          " $3::text, $4::bigint, $5::bigint, $6::bigint, $7::text, $8::text,"
                          " $9::text)",
    [ST_AIRMEET_GET] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE id = $1::text",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (" SESSION_COLS ") VALUES ($1::text, $2::text,"
                          " $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint, $8::text,"
                          " $9::text, $10::text)",
    [ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions WHERE id = $1::text",
    [ST_AIRMEET_UPDATE] = "UPDATE airmeets SET name = $2::text, start_time = $3::bigint,"
                          " end_time = $4::bigint, status = $5::text, timezone = $6::text,"
                          " description = $7::text WHERE id = $1::text",
    [ST_AIRMEET_PAGE] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE community_id = $1::text"
                        " ORDER BY created_at, id LIMIT $3::bigint OFFSET $2::bigint",
    [ST_AIRMEET_COUNT] = "SELECT count(*) FROM airmeets WHERE community_id = $1::text",
    [ST_SESSION_UPDATE] = "UPDATE sessions SET name = $2::text, start_time = $3::bigint,"
                          " duration = $4::bigint, status = $5::text, summary = $6::text,"
                          " type = $7::text WHERE id = $1::text",
    [ST_SESSION_LIST] = "SELECT " SESSION_COLS " FROM sessions WHERE airmeet_id = $1::text"
                        " ORDER BY start_time, created_at, id",
    [ST_CATALOG_INSERT] = "INSERT INTO catalog_triggers (" CATALOG_COLS ") VALUES ($1::text,"
                          " $2::boolean, $3::text, $4::text, $5::text, $6::text, $7::text,"
                          " $8::bigint, $9::bigint, $10::bigint)",
    [ST_CATALOG_GET] = "SELECT " CATALOG_COLS " FROM catalog_triggers WHERE id = $1::text",
    [ST_CATALOG_LIST] = "SELECT " CATALOG_COLS " FROM catalog_triggers ORDER BY created_at, id",
    [ST_COMMUNITY_PAGE] = "SELECT " COMMUNITY_COLS " FROM communities"
                          " WHERE (created_at, id) > ($1::bigint, $2::text)"
                          " ORDER BY created_at, id LIMIT $3::bigint",
    [ST_WEBHOOK_ADMIN_PAGE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                              " WHERE (created_at, id) > ($4::bigint, $5::text)" WEBHOOK_FILTER(
                                  1, 2, 3) " ORDER BY created_at, id LIMIT $6::bigint",
    [ST_WEBHOOK_ADMIN_PAGE_COMMUNITY] =
        "SELECT " WEBHOOK_COLS " FROM webhooks"
        " WHERE community_id = $1::text"
        " AND (created_at, id) > ($5::bigint, $6::text)" WEBHOOK_FILTER(
            2, 3, 4) " ORDER BY created_at, id LIMIT $7::bigint",
    [ST_EVENT_PAGE] = "SELECT " EVENT_HEAD_COLS " FROM events"
                      " WHERE (created_at, id) < ($4::bigint, $5::text)"
                      " AND created_at >= $2::bigint AND created_at < $3::bigint"
                      " AND ($1::text IS NULL OR trigger = $1::text)"
                      " ORDER BY created_at DESC, id DESC LIMIT $6::bigint",
    [ST_EVENT_PAGE_COMMUNITY] = "SELECT " EVENT_HEAD_COLS " FROM events"
                                " WHERE community_id = $1::text"
                                " AND (created_at, id) < ($5::bigint, $6::text)"
                                " AND created_at >= $3::bigint AND created_at < $4::bigint"
                                " AND ($2::text IS NULL OR trigger = $2::text)"
                                " ORDER BY created_at DESC, id DESC LIMIT $7::bigint",
    [ST_KEY_PAGE] = "SELECT " KEY_COLS " FROM access_keys WHERE community_id = $1::text"
                    " AND (created_at, id) > ($2::bigint, $3::text)"
                    " ORDER BY created_at, id LIMIT $4::bigint",
    [ST_AIRMEET_PAGE_FROM] = "SELECT " AIRMEET_COLS " FROM airmeets WHERE community_id = $1::text"
                             " AND (created_at, id) > ($2::bigint, $3::text)"
                             " ORDER BY created_at, id LIMIT $4::bigint",
    [ST_OVERVIEW] = SQL_OVERVIEW("$1::bigint"),
    [ST_WEBHOOK_DISABLED_RECENT] = SQL_WEBHOOK_DISABLED_RECENT("$1::bigint"),
    [ST_SESSION_PAGE] = "SELECT " SESSION_COLS " FROM sessions WHERE airmeet_id = $1::text"
                        " AND (created_at, id) > ($2::bigint, $3::text)"
                        " ORDER BY created_at, id LIMIT $4::bigint",
    [ST_CONSOLE_SESSION_INSERT] = "INSERT INTO console_sessions (id_hash, role, community_id,"
                                  " key_id, link_id, read_only, csrf_token, created_at, seen_at,"
                                  " expires_at) VALUES ($1::text, $2::text, $3::text, $4::text,"
                                  " $5::text, $6::boolean, $7::text, $8::bigint, $9::bigint,"
                                  " $10::bigint)",
    [ST_CONSOLE_SESSION_FIND] = "SELECT " CONSOLE_SESSION_COLS(
        " COLLATE \"C\"") " FROM console_sessions s WHERE s.id_hash = $1::text",
    [ST_CONSOLE_SESSION_TOUCH] = "UPDATE console_sessions SET seen_at = $2::bigint"
                                 " WHERE id_hash = $1::text",
    [ST_CONSOLE_SESSION_DELETE] = "DELETE FROM console_sessions WHERE id_hash = $1::text",
    [ST_CONSOLE_SESSION_PURGE] = "DELETE FROM console_sessions WHERE expires_at < $1::bigint"
                                 " OR seen_at < $2::bigint",
    [ST_PORTAL_LINK_INSERT] = "INSERT INTO portal_links (" PORTAL_LINK_COLS ")"
                              " VALUES ($1::text, $2::text, $3::text, $4::boolean, $5::bigint,"
                              " $6::bigint, $7::bigint)",
    [ST_PORTAL_LINK_FIND] =
        "SELECT " PORTAL_LINK_COLS " FROM portal_links WHERE token_hash = $1::text",
    [ST_PORTAL_LINK_GET] = "SELECT " PORTAL_LINK_COLS " FROM portal_links WHERE id = $1::text",
    [ST_PORTAL_LINK_LIST] =
        "SELECT " PORTAL_LINK_COLS " FROM portal_links WHERE community_id = $1::text"
        " ORDER BY created_at, id",
    [ST_PORTAL_LINK_REVOKE] = "UPDATE portal_links"
                              " SET revoked_at = CASE WHEN revoked_at = 0 THEN $2::bigint"
                              " ELSE revoked_at END WHERE id = $1::text",
    [ST_LISTENER_SECRET_ADD] = "INSERT INTO listener_secrets (access_key_id, secret, created_at)"
                               " VALUES ($1::text, $2::text, $3::bigint)"
                               " ON CONFLICT (access_key_id) DO NOTHING",
    [ST_LISTENER_SECRET_GET] = "SELECT secret FROM listener_secrets WHERE access_key_id = $1::text",
    [ST_LISTENER_SECRET_LIST] = "SELECT access_key_id, secret FROM listener_secrets",
    [ST_LISTENER_SECRET_SWAP] = "UPDATE listener_secrets SET secret = $2::text"
                                " WHERE access_key_id = $1::text AND secret = $3::text",
    [ST_LISTENER_INSERT] = "INSERT INTO listeners (" LISTENER_COLS ") VALUES ($1::text, $2::text,"
                           " $3::text, $4::text, $5::bigint, $6::bigint)",
    [ST_LISTENER_GET] = "SELECT " LISTENER_COLS " FROM listeners WHERE id = $1::text",
    [ST_LISTENER_LIST] = "SELECT " LISTENER_COLS " FROM listeners ORDER BY created_at, id",
    [ST_LISTENER_TOUCH] = "UPDATE listeners SET last_seen_at = $2::bigint WHERE id = $1::text",
    [ST_LISTENER_DELETE] = "DELETE FROM listeners WHERE id = $1::text",
    [ST_CATALOG_UPDATE] = "UPDATE catalog_triggers SET description = $2::text,"
                          " airmeet_scope = $3::text, session_scope = $4::text, sample = $5::text,"
                          " schema = $6::text, retired_at = $7::bigint, updated_at = $8::bigint"
                          " WHERE id = $1::text",
    /* Nothing is inserted when an active twin exists: see ah_store_webhook_register. */
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
    /*
     * The community's usage row is locked first (FOR NO KEY UPDATE, which
     * foreign-key checks do not wait for) and compared under the lock: a
     * concurrent registration in the same community, on any node, waits
     * for our commit and then compares the count our insert left (READ
     * COMMITTED rechecks a locked row's condition on its newest version).
     */
    [ST_WEBHOOK_INSERT_WITHIN] =
        "WITH room AS (SELECT 1 FROM community_usage WHERE community_id = $2::text"
        " AND active_webhooks < $22::bigint FOR NO KEY UPDATE)"
        " INSERT INTO webhooks (" WEBHOOK_COLS ") SELECT $1::text, $2::text, $3::text,"
        " $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::boolean, $11::text,"
        " $12::text, $13::bigint, $14::bigint, $15::text, $16::text, $17::text, $18::text,"
        " $19::bigint, $20::bigint, $21::bigint FROM room"
        " ON CONFLICT " ACTIVE_TUPLE " DO NOTHING RETURNING id",
    [ST_USAGE_GET] = "SELECT active_webhooks FROM community_usage WHERE community_id = $1::text",
    [ST_USAGE_LOCK] = "SELECT active_webhooks FROM community_usage"
                      " WHERE community_id = (SELECT community_id FROM webhooks"
                      " WHERE id = $1::text) FOR NO KEY UPDATE",
    [ST_QUOTA_GET] = "SELECT " QUOTA_COLS " FROM community_quotas WHERE community_id = $1::text",
    [ST_QUOTA_SET] = "INSERT INTO community_quotas (community_id, " QUOTA_COLS ", updated_at)"
                     " VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint,"
                     " $6::bigint, $7::bigint) ON CONFLICT (community_id) DO UPDATE"
                     " SET max_webhooks = excluded.max_webhooks,"
                     " max_url_bytes = excluded.max_url_bytes,"
                     " max_name_bytes = excluded.max_name_bytes,"
                     " max_description_bytes = excluded.max_description_bytes,"
                     " registrations_per_minute = excluded.registrations_per_minute,"
                     " updated_at = excluded.updated_at",
    [ST_WEBHOOK_PAGE] = "SELECT " WEBHOOK_COLS " FROM webhooks"
                        " WHERE community_id = $1::text AND is_active"
                        " AND ($2::text IS NULL OR airmeet_id = $2::text)"
                        " AND ($3::text IS NULL OR session_id = $3::text)"
                        " AND (created_at, id) > ($4::bigint, $5::text)"
                        " ORDER BY created_at, id LIMIT $6::bigint",
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
                        " SELECT " DELIVERY_ID_P2 ", $1::text, w.id, 'pending', 0,"
                        " $2::bigint, 0, $2::bigint, $2::bigint FROM webhooks w"
                        " WHERE w.community_id = $3::text AND w.trigger = $4::text"
                        " AND w.is_active AND w.deregistered_at = 0"
                        " AND (w.airmeet_id IS NULL OR w.airmeet_id = $5::text)"
                        " AND (w.session_id IS NULL OR w.session_id = $6::text)"
                        " RETURNING webhook_id)"
                        " SELECT webhook_id, " NOTIFY_OF("webhook_id", "$2::bigint") " FROM made",
    [ST_EVENT_GET] = "SELECT " EVENT_COLS " FROM events WHERE id = $1::text",
    [ST_EVENT_MARK_TEST] = "UPDATE events SET test = true WHERE id = $1::text",
    [ST_DELIVERY_INSERT_ONE] = "INSERT INTO deliveries (id, event_id, webhook_id, status, attempts,"
                               " next_attempt_at, lease_until, created_at, updated_at)"
                               " SELECT $1::text, $2::text, w.id, 'pending', 0, $3::bigint, 0,"
                               " $3::bigint, $3::bigint FROM webhooks w"
                               " WHERE w.id = $4::text AND w.is_active AND w.deregistered_at = 0",
    /*
     * A loose index scan over deliveries_pending: each step of the recursion
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
     * A claim is a read (the driver's memory_leases): the webhook's first
     * pending deliveries in due order, over deliveries_pending, with their
     * events' trigger and body, but for those this node has in flight
     * ($3, the driver's claim_skips_leased: a hashed subplan, so they are
     * not read again with their bodies at every claim while they are out).
     * Only the node holding the webhook's lease gets here
     * (ST_WEBHOOK_LEASE, earlier in the same transaction).
     */
    [ST_CLAIM] = "SELECT d.id, d.event_id, d.attempts, d.next_attempt_at, e.trigger, e.data"
                 " FROM deliveries d JOIN events e ON e.id = d.event_id"
                 " WHERE d.status = 'pending' AND d.webhook_id = $1::text"
                 " AND d.id NOT IN (SELECT jsonb_array_elements_text($3::jsonb))"
                 " ORDER BY d.next_attempt_at LIMIT $2::bigint",
    /*
     * The webhook's lease for node $2 until $4, at time $3: renewed when it
     * is already this node's and ends before $5 (the renewal threshold: a
     * busy webhook's row is rewritten about once a LEASE_RENEW_MS, not at
     * every claim); taken when no node holds it, or its holder's lease
     * lapsed, if this node holds no more webhooks than the live node that
     * holds fewest (a node is live while its row "node:<id>" is,
     * ST_NODE_HEARTBEAT), so that the nodes share the webhooks, or if the
     * webhook's oldest due delivery has waited LEASE_FAIR_MS (the node that
     * should take it did not).  The UPDATE reads a row another node holds
     * as not matching, without waiting for its lock; a row that does not
     * exist yet is inserted (ON CONFLICT: another node inserted it first).
     * Returns when this node's lease ends, or no row when it holds none.
     */
    [ST_WEBHOOK_LEASE] =
        "WITH cur AS (SELECT node, lease_until FROM webhook_leases WHERE webhook_id = $1::text),"
        " ok AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM cur WHERE node = $2::text) THEN true"
        " WHEN EXISTS (SELECT 1 FROM cur WHERE lease_until >= $3::bigint) THEN false"
        " ELSE (SELECT count(*) FROM webhook_leases WHERE node = $2::text"
        " AND lease_until >= $3::bigint AND webhook_id NOT LIKE 'node:%')"
        " <= (SELECT coalesce(min((SELECT count(*) FROM webhook_leases l WHERE l.node = n.node"
        " AND l.lease_until >= $3::bigint AND l.webhook_id NOT LIKE 'node:%')), 2147483647)"
        " FROM webhook_leases n WHERE n.webhook_id LIKE 'node:%' AND n.node <> $2::text"
        " AND n.lease_until >= $3::bigint)"
        " OR EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending'"
        " AND webhook_id = $1::text AND next_attempt_at < $3::bigint - " LEASE_FAIR_MS ")"
        " END AS yes),"
        " u AS (UPDATE webhook_leases SET node = $2::text, lease_until = $4::bigint"
        " WHERE webhook_id = $1::text AND (lease_until < $3::bigint"
        " OR (node = $2::text AND lease_until < $5::bigint)) AND (SELECT yes FROM ok)"
        " RETURNING lease_until),"
        " i AS (INSERT INTO webhook_leases (webhook_id, node, lease_until)"
        " SELECT $1::text, $2::text, $4::bigint WHERE NOT EXISTS (SELECT 1 FROM cur)"
        " AND (SELECT yes FROM ok) ON CONFLICT (webhook_id) DO NOTHING RETURNING lease_until)"
        " SELECT lease_until FROM u UNION ALL SELECT lease_until FROM i"
        " UNION ALL SELECT lease_until FROM cur WHERE node = $2::text"
        " AND lease_until >= $5::bigint AND NOT EXISTS (SELECT 1 FROM u)",
    /*
     * Node $1 is live until $2 (its row "node:<id>" in webhook_leases).
     * With $3 true (a node's first), the rows of nodes that lapsed before
     * $4 go: every start makes a new node id, and a killed node leaves its
     * row behind (one that only idled puts it back at its next claim).
     */
    [ST_NODE_HEARTBEAT] =
        "WITH gone AS (DELETE FROM webhook_leases WHERE $3::boolean"
        " AND webhook_id LIKE 'node:%' AND lease_until < $4::bigint)"
        " INSERT INTO webhook_leases (webhook_id, node, lease_until)"
        " VALUES ('node:' || $1::text, $1::text, $2::bigint)"
        " ON CONFLICT (webhook_id) DO UPDATE SET lease_until = EXCLUDED.lease_until",
    /* A closing node's webhooks, handed back (the others hear of them at once), and its row. */
    [ST_WEBHOOK_LEASES_DROP] =
        "WITH n AS (DELETE FROM webhook_leases WHERE webhook_id = 'node:' || $1::text),"
        " r AS (UPDATE webhook_leases SET lease_until = 0 WHERE node = $1::text"
        " AND lease_until <> 0 AND webhook_id NOT LIKE 'node:%' RETURNING webhook_id)"
        " SELECT " NOTIFY_OF("webhook_id", "'0'") " FROM r",
    [ST_NEXT_DUE] = "SELECT next_attempt_at FROM deliveries"
                    " WHERE status = 'pending' AND webhook_id = $1::text"
                    " AND lease_until < $2::bigint ORDER BY next_attempt_at LIMIT 1",
    /*
     * A turn's results in one statement (record_chunk binds one array per
     * column, a result per element): each delivery's new state (only a
     * pending delivery changes status; SET expressions see the old row),
     * its attempt (in the row's first_* columns if it is the first the row
     * records, migration 15; else an attempts row: RETURNING sees the new
     * row, so recorded = 1 says which), and per webhook (the delivery's own, from its row)
     * what the results, one after another, make of its failure streak and
     * state: ok if one succeeded; fail_at, when the failures after the last
     * success (or all of them) began, 0 for none; the first disable reason,
     * which sticks.  The webhook row is touched only when something changes;
     * a deregistered webhook is left alone.  Returns the ordinals (1-based)
     * of the results whose delivery was found.
     */
    [ST_RECORD] =
        "WITH r AS (SELECT * FROM unnest($1::text[], $2::integer[], $3::integer[], $4::text[],"
        " $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[],"
        " $11::text[], $12::text[]) WITH ORDINALITY"
        " AS r(id, attempt_no, code, err, upd, status, next, started, dur, head, reason, hdrs,"
        " ord)),"
        " d AS (UPDATE deliveries x SET attempts = r.attempt_no, last_status_code = r.code,"
        " last_error = r.err, updated_at = r.upd, lease_until = 0,"
        " next_attempt_at = CASE WHEN x.status = 'pending' AND r.status = 'pending'"
        " THEN r.next ELSE x.next_attempt_at END,"
        " status = CASE WHEN x.status = 'pending' THEN r.status ELSE x.status END,"
        " recorded = x.recorded + 1,"
        " first_attempt_no = CASE WHEN x.recorded = 0 THEN r.attempt_no"
        " ELSE x.first_attempt_no END,"
        " first_started_at = CASE WHEN x.recorded = 0 THEN r.started ELSE x.first_started_at END,"
        " first_duration_ms = CASE WHEN x.recorded = 0 THEN r.dur ELSE x.first_duration_ms END,"
        " first_status_code = CASE WHEN x.recorded = 0 THEN r.code ELSE x.first_status_code END,"
        " first_error = CASE WHEN x.recorded = 0 THEN r.err ELSE x.first_error END,"
        " first_response_head = CASE WHEN x.recorded = 0 THEN decode(r.head, 'hex')"
        " ELSE x.first_response_head END,"
        " first_response_headers = CASE WHEN x.recorded = 0 THEN decode(r.hdrs, 'hex')"
        " ELSE x.first_response_headers END"
        " FROM r WHERE x.id = r.id RETURNING x.id, x.webhook_id, r.ord, x.recorded = 1 AS inl),"
        " a AS (INSERT INTO attempts (delivery_id, " ATTEMPT_COLS ")"
        " SELECT d.id, r.attempt_no, r.started, r.dur, r.code, r.err, decode(r.head, 'hex'),"
        " decode(r.hdrs, 'hex')"
        " FROM d JOIN r ON r.ord = d.ord WHERE NOT d.inl),"
        " t AS (SELECT d.webhook_id AS id, r.ord, r.started, r.upd, r.reason,"
        " r.status = 'succeeded' AS ok, max(CASE WHEN r.status = 'succeeded' THEN r.ord"
        " ELSE 0 END) OVER (PARTITION BY d.webhook_id) AS last_ok FROM d JOIN r ON r.ord = d.ord),"
        " k AS (SELECT id, bool_or(ok) AS ok,"
        " coalesce((array_agg(started ORDER BY ord) FILTER (WHERE NOT ok AND ord > last_ok))[1],"
        " 0) AS fail_at,"
        " coalesce((array_agg(reason ORDER BY ord) FILTER (WHERE reason <> ''))[1], '') AS reason,"
        " (array_agg(upd ORDER BY ord) FILTER (WHERE reason <> ''))[1] AS upd"
        " FROM t GROUP BY id),"
        " w AS (UPDATE webhooks h SET"
        " failing_since = CASE WHEN k.ok THEN k.fail_at"
        " WHEN h.failing_since = 0 THEN k.fail_at ELSE h.failing_since END,"
        " is_active = CASE WHEN k.reason <> '' AND h.is_active AND h.deregistered_at = 0"
        " THEN false ELSE h.is_active END,"
        " disabled_reason = CASE WHEN k.reason <> '' AND h.is_active AND h.deregistered_at = 0"
        " THEN k.reason ELSE h.disabled_reason END,"
        " updated_at = CASE WHEN k.reason <> '' AND h.is_active AND h.deregistered_at = 0"
        " THEN k.upd ELSE h.updated_at END"
        " FROM k WHERE h.id = k.id"
        " AND ((k.ok AND h.failing_since <> k.fail_at)"
        " OR (NOT k.ok AND h.failing_since = 0)"
        " OR (k.reason <> '' AND h.is_active AND h.deregistered_at = 0)))"
        " SELECT ord FROM d",
    /*
     * A publish in one statement (ST_EVENT_INSERT's parameters): the event,
     * unless its idempotency key was taken (ON CONFLICT, which waits for a
     * concurrent publisher of the key to commit), and then one pending
     * delivery and one notification per matching webhook (SPEC §4, as
     * ST_EVENT_FANOUT).  Rows: one per delivery (its webhook id), and one
     * with a NULL webhook id if the event was inserted.  The notification
     * says due 0 ("due on arrival", deliver()): a webhook's notifications
     * of one group-committed batch are then the same payload, which
     * PostgreSQL folds into one, instead of one per delivery row.
     */
    [ST_PUBLISH] =
        "WITH e AS (INSERT INTO events (" EVENT_COLS ") VALUES ($1::text, $2::text, $3::text,"
        " $4::text, $5::text, $6::text, $7::text, $8::bigint)"
        " ON CONFLICT (community_id, idempotency_key) DO NOTHING"
        " RETURNING id, community_id, trigger, airmeet_id, session_id, created_at),"
        " made AS (INSERT INTO deliveries (id, event_id, webhook_id, status, attempts,"
        " next_attempt_at, lease_until, created_at, updated_at)"
        " SELECT " DELIVERY_ID ", e.id, w.id, 'pending', 0, $8::bigint, 0, $8::bigint,"
        " $8::bigint FROM e JOIN webhooks w ON w.community_id = e.community_id"
        " AND w.trigger = e.trigger"
        " WHERE w.is_active AND w.deregistered_at = 0"
        " AND (w.airmeet_id IS NULL OR w.airmeet_id = e.airmeet_id)"
        " AND (w.session_id IS NULL OR w.session_id = e.session_id)"
        " RETURNING webhook_id)"
        " SELECT webhook_id, " NOTIFY_OF("webhook_id", "'0'") " FROM made"
                                                              " UNION ALL SELECT NULL, NULL FROM e",
    /*
     * A batch of publishes in one statement: ST_PUBLISH over arrays, one
     * element per event in ST_PUBLISH's parameter order.  The events go in
     * in the batch's order, so that of two with the same idempotency key the
     * first is inserted and the second conflicts, as one statement each
     * would have it.  Rows: (event id, webhook id) per delivery and
     * (event id, NULL) per event inserted.
     */
    [ST_PUBLISH_MANY] =
        "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[], $7::text[], $8::bigint[]) WITH ORDINALITY"
        " AS v(id, community_id, trigger, airmeet_id, session_id, idempotency_key, data,"
        " created_at, ord)),"
        " e AS (INSERT INTO events (" EVENT_COLS ") SELECT " EVENT_COLS " FROM v ORDER BY ord"
        " ON CONFLICT (community_id, idempotency_key) DO NOTHING"
        " RETURNING id, community_id, trigger, airmeet_id, session_id, created_at),"
        " made AS (INSERT INTO deliveries (id, event_id, webhook_id, status, attempts,"
        " next_attempt_at, lease_until, created_at, updated_at)"
        " SELECT " DELIVERY_ID ", e.id, w.id, 'pending', 0, e.created_at, 0, e.created_at,"
        " e.created_at FROM e JOIN webhooks w ON w.community_id = e.community_id"
        " AND w.trigger = e.trigger"
        " WHERE w.is_active AND w.deregistered_at = 0"
        " AND (w.airmeet_id IS NULL OR w.airmeet_id = e.airmeet_id)"
        " AND (w.session_id IS NULL OR w.session_id = e.session_id)"
        " RETURNING event_id, webhook_id)"
        " SELECT event_id, webhook_id, " NOTIFY_OF(
            "webhook_id", "'0'") " FROM made UNION ALL SELECT id, NULL, NULL FROM e",
    /*
     * A batch of registrations in one statement: ST_WEBHOOK_INSERT(_WITHIN)
     * over arrays, one element per registration in that statement's
     * parameter order, its quota last (0: none).  The communities' usage
     * rows are locked first, in id order, quota or not (two batches never
     * deadlock over them), and each gets the count of its community's
     * inserts once (counted; the trigger leaves them to it, migration 16,
     * as it leaves the generation's bump to hot_exec);
     * the k-th registration of a community in the batch goes in only if
     * the count leaves room for k, so a batch never passes a quota.  That
     * test counts the batch's twins as if they were inserted: a
     * registration left out is tried again alone (register_jobs).
     * Rows: the id of each webhook inserted.
     */
    [ST_WEBHOOK_INSERT_MANY] =
        "WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[],"
        " $11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::text[], $16::text[],"
        " $17::text[], $18::text[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[])"
        " WITH ORDINALITY AS v(" WEBHOOK_COLS ", max_active, ord)),"
        " room AS MATERIALIZED (SELECT community_id AS cid, active_webhooks AS active"
        " FROM community_usage WHERE community_id IN (SELECT community_id FROM v)"
        " ORDER BY community_id FOR NO KEY UPDATE),"
        " ranked AS (SELECT *, row_number() OVER (PARTITION BY community_id ORDER BY ord) AS k"
        " FROM v),"
        " ins AS (INSERT INTO webhooks (" WEBHOOK_COLS ") SELECT " WEBHOOK_COLS " FROM ranked"
        " LEFT JOIN room ON cid = community_id"
        " WHERE max_active = 0 OR active + k <= max_active ORDER BY ord"
        " ON CONFLICT " ACTIVE_TUPLE " DO NOTHING RETURNING id, community_id, is_active),"
        " counted AS (UPDATE community_usage SET active_webhooks = active_webhooks + n"
        " FROM (SELECT community_id AS c, count(*) AS n FROM ins WHERE is_active GROUP BY 1) m"
        " WHERE community_id = c)"
        " SELECT id FROM ins",
    [ST_DELIVERY_RELEASE] = "UPDATE deliveries SET lease_until = 0 WHERE id = ANY($1::text[])",
    [ST_DELIVERY_RELEASE_ALL] = SQL_DELIVERY_RELEASE_ALL,
    [ST_DELIVERY_LIST_WEBHOOK] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                                 " JOIN events e ON e.id = d.event_id"
                                 " WHERE d.webhook_id = $1::text" LIST_PAGE,
    /* A community's, as SQLite's (store_sqlite.c says why). */
    [ST_DELIVERY_LIST_COMMUNITY] =
        "SELECT " DELIVERY_COLS " FROM events e JOIN deliveries d ON d.event_id = e.id"
        " WHERE e.community_id = $1::text AND ($2::text IS NULL OR d.status = $2::text)"
        " AND e.created_at <= $3::bigint AND (e.created_at < $3::bigint OR d.id < $4::text)"
        " AND e.created_at >= $6::bigint AND e.created_at < $7::bigint AND $8::text IS NULL"
        " ORDER BY e.created_at DESC, d.id DESC LIMIT $5::bigint",
    [ST_DELIVERY_LIST_EVENT] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                               " JOIN events e ON e.id = d.event_id"
                               " WHERE d.event_id = $1::text" LIST_PAGE,
    [ST_DELIVERY_GET] = "SELECT " DELIVERY_COLS " FROM deliveries d"
                        " JOIN events e ON e.id = d.event_id WHERE d.id = $1::text",
    /* The attempts table's and the one in the delivery's row (migration 15). */
    [ST_ATTEMPT_LIST] = "SELECT " ATTEMPT_COLS " FROM attempts WHERE delivery_id = $1::text"
                        " UNION ALL SELECT first_attempt_no, first_started_at, first_duration_ms,"
                        " first_status_code, first_error, first_response_head,"
                        " first_response_headers FROM deliveries WHERE id = $1::text"
                        " AND recorded > 0 ORDER BY attempt_no, started_at",
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
    /* The start-up reseal of webhook secrets (ah_store_secrets_init). */
    [ST_WEBHOOK_SECRETS_PAGE] = "SELECT id, secret, prev_secret FROM webhooks"
                                " WHERE id > $1::text ORDER BY id LIMIT $2::bigint",
    [ST_WEBHOOK_SECRETS_SET] = "UPDATE webhooks SET secret = $2::text, prev_secret = $3::text"
                               " WHERE id = $1::text AND secret = $4::text"
                               " AND prev_secret IS NOT DISTINCT FROM $5::text",
    [ST_DELIVERY_STATS] = SQL_DELIVERY_STATS,
    [ST_CACHE_GEN] = SQL_CACHE_GEN,

    /*
     * Retention (purge.c).  The scan locks the old events it returns and
     * skips those another node's purge holds, so nodes purging at once take
     * different events; the hold locks their deliveries (FOR UPDATE waits
     * for, and then reads, a retry committed meanwhile).  The sets are JSON
     * arrays of event ids.
     */
    [ST_PURGE_SCAN] = "SELECT e.id, e.created_at, NOT EXISTS (SELECT 1 FROM deliveries d"
                      " WHERE d.event_id = e.id"
                      " AND (d.status = 'pending' OR d.updated_at >= $1::bigint))"
                      " FROM events e WHERE e.created_at < $1::bigint"
                      " AND (e.created_at, e.id) > ($2::bigint, $3::text)"
                      " ORDER BY e.created_at, e.id LIMIT $4::bigint FOR UPDATE OF e SKIP LOCKED",
    [ST_PURGE_HOLD] = "SELECT d.event_id, d.status <> 'pending' AND d.updated_at < $2::bigint,"
                      " d.recorded > 0 FROM deliveries d"
                      " WHERE d.event_id IN (SELECT jsonb_array_elements_text($1::jsonb))"
                      " FOR UPDATE OF d",
    [ST_PURGE_ATTEMPTS] = "DELETE FROM attempts WHERE delivery_id IN (SELECT d.id FROM deliveries d"
                          " WHERE d.event_id IN (SELECT jsonb_array_elements_text($1::jsonb)))",
    [ST_PURGE_DELIVERIES] = "DELETE FROM deliveries"
                            " WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
    [ST_PURGE_EVENTS] =
        "DELETE FROM events WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))",
};

/* ------------------------------------------------------------------------ */
/* The store, its pool and its listener.                                     */

typedef struct ah_sql_conn conn_t;

struct ah_sql_conn {
    PGconn *pg;              /* NULL until connected (or after a failure) */
    bool prepared[ST_COUNT]; /* statements prepared on this PGconn */
    uint32_t uses[ST_COUNT]; /* prepare() calls for each since it was prepared (replan_due) */
    bool broken;             /* a connection error happened: reconnect before reuse */
    bool retryable;          /* the last error was a deadlock / serialization failure */
    conn_t *next_idle;       /* the pool's idle list */
    conn_t *next_all;        /* every connection, for close */
};

typedef void (*wake_fn)(void *arg, const char *webhook_id, int64_t due);

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
    /*
     * The cache generations without a round trip (cache_gen): epoch grows
     * with every CACHE_CHANNEL notification, every commit of this process
     * that may change a generation, and every time the listening connection
     * is lost or made; listening is true while it hears CACHE_CHANNEL.  The
     * generations last read, and the epoch read just before, under gen_mu.
     */
    atomic_uint_fast64_t epoch;
    atomic_bool listening;
    pthread_mutex_t gen_mu;
    bool gen_known;
    uint_fast64_t gen_epoch;
    int64_t gen_read_ms;    /* when (ah_mono_ms) */
    int64_t gen_max_age_ms; /* GEN_MAX_AGE_MS (tests change it) */
    ah_cache_gen_t gen;
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
    /* Group commit of publishes (event_publish_async), under pub_mu. */
    pthread_mutex_t pub_mu;
    pthread_cond_t pub_cv;
    struct pub_job *pub_head, **pub_tail;
    pthread_t pub_threads[PUB_THREADS];
    int pub_started;
    bool pub_stop;
    /* This process in webhook_leases: random, new at every open. */
    char node[AH_ID_SIZE];
    /* When this node's heartbeat row ends (ST_NODE_HEARTBEAT); claims renew it. */
    _Atomic int64_t live_until;
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
    memset(c->uses, 0, sizeof c->uses);
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
    struct timespec ts = ah_deadline_ts(CLOCK_MONOTONIC, left);
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

static PGresult *run(conn_t *c, int id, const ah_sql_params_t *p, int *rc);

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

/* A statement's parameters as libpq takes them. */
typedef struct pg_params {
    int n;
    const char *v[AH_SQL_MAX_PARAMS];
    int len[AH_SQL_MAX_PARAMS];
    int fmt[AH_SQL_MAX_PARAMS];
    char num[AH_SQL_MAX_PARAMS][24];
    char *owned[AH_SQL_MAX_PARAMS]; /* terminated copies of unterminated text */
    int n_owned;
} pg_params_t;

static void pg_params_free(pg_params_t *q)
{
    for (int i = 0; i < q->n_owned; i++)
        free(q->owned[i]);
    q->n_owned = 0;
}

/*
 * p in libpq's terms: text parameters are NUL-terminated strings (text
 * that is not, an event body, is copied; with a NUL byte inside it could not
 * be sent whole, and is refused), numbers are formatted, bytes are binary.
 */
static int pg_params(const ah_sql_params_t *p, pg_params_t *q)
{
    q->n = 0;
    q->n_owned = 0;
    if (!p)
        return AH_OK;
    if (p->bad)
        return AH_EINVAL;
    for (int i = 0; i < p->n; i++, q->n++) {
        const ah_sql_param_t *v = &p->v[i];
        q->v[i] = NULL;
        q->len[i] = 0;
        q->fmt[i] = 0;
        switch (v->type) {
        case AH_SQL_TEXT:
            if (!v->terminated) {
                char *copy = memchr(v->u.s, '\0', v->len) ? NULL : malloc(v->len + 1);
                if (!copy) {
                    int rc = memchr(v->u.s, '\0', v->len) ? AH_EINVAL : AH_ENOMEM;
                    pg_params_free(q);
                    return rc;
                }
                memcpy(copy, v->u.s, v->len);
                copy[v->len] = '\0';
                q->owned[q->n_owned++] = copy;
                q->v[i] = copy;
            } else {
                q->v[i] = v->u.s;
            }
            break;
        case AH_SQL_I64:
            snprintf(q->num[i], sizeof q->num[i], "%" PRId64, v->u.i);
            q->v[i] = q->num[i];
            break;
        case AH_SQL_BOOL:
            q->v[i] = v->u.i ? "t" : "f";
            break;
        case AH_SQL_BYTES:
            q->v[i] = v->u.s;
            q->len[i] = (int)v->len;
            q->fmt[i] = 1;
            break;
        default:
            break;
        }
    }
    return AH_OK;
}

static void stmt_name(int id, char name[16])
{
    snprintf(name, 16, "ah_%d", id);
}

/*
 * Whether a prepared statement should be prepared afresh: at its 64th use
 * on the connection, then at every power of two (128, 256, ...).
 *
 * PostgreSQL plans a prepared statement for its first five runs with their
 * parameters, then settles on a generic plan, which it keeps until the
 * tables it reads are analyzed again.  On a new database those plans are
 * made against nearly empty tables, where reading a table whole is the
 * cheap way to match a batch of ids, and they stay while the table grows to
 * many thousand rows until autovacuum's next ANALYZE, up to a minute away:
 * a record batch of 16 results then read every delivery row (4.4 ms a
 * call in the ingest scenario against 1.0 ms with the index;
 * bench/ANALYSIS.md).  Prepared again, a statement is planned against the
 * table's present size (the planner counts its pages now), at a cost whose
 * share halves with every step.
 */
#define REPLAN_FIRST 64

static bool replan_due(uint32_t uses)
{
    return uses >= REPLAN_FIRST && (uses & (uses - 1)) == 0;
}

/* Prepares statement id on c unless it already is (and need not be again). */
static int prepare(conn_t *c, int id)
{
    if (c->prepared[id] && !replan_due(++c->uses[id]))
        return AH_OK;
    if (c->prepared[id]) {
        char name[16], sql[32];
        stmt_name(id, name);
        snprintf(sql, sizeof sql, "DEALLOCATE %s", name);
        PGresult *r = PQexec(c->pg, sql);
        int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? AH_OK : pg_error(c, r, "deallocate");
        PQclear(r);
        if (rc)
            return rc;
        c->prepared[id] = false;
    }
    if (!stmt_sql[id]) {
        ah_logf(AH_LOG_ERROR, "postgres: statement %d is not one this backend has", id);
        return AH_ESTORE;
    }
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
static PGresult *run(conn_t *c, int id, const ah_sql_params_t *p, int *rc)
{
    pg_params_t q;
    *rc = pg_params(p, &q);
    if (*rc == AH_OK)
        *rc = prepare(c, id);
    if (*rc) {
        pg_params_free(&q);
        return NULL;
    }
    char name[16];
    stmt_name(id, name);
    PGresult *r = PQexecPrepared(c->pg, name, q.n, q.v, q.len, q.fmt, 0);
    pg_params_free(&q);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    *rc = pg_error(c, r, stmt_sql[id]);
    PQclear(r);
    return NULL;
}

/* The rows a command inserted, updated or deleted. */
static size_t cmd_tuples(PGresult *r)
{
    const char *n = PQcmdTuples(r);
    int64_t v = 0;
    return n && *n && ah_parse_i64(n, 0, INT64_MAX, &v) == AH_OK ? (size_t)v : 0;
}

/* Runs a statement whose rows do not matter. */
static int run_cmd(conn_t *c, int id, const ah_sql_params_t *p)
{
    int rc;
    PQclear(run(c, id, p, &rc));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Rows.                                                                     */

static bool row_is_null(const ah_sql_row_t *r, int col)
{
    return PQgetisnull(r->res, r->index, col) != 0;
}

static int64_t row_i64(const ah_sql_row_t *r, int col)
{
    if (row_is_null(r, col))
        return 0;
    return strtoll(PQgetvalue(r->res, r->index, col), NULL, 10);
}

static bool row_bool(const ah_sql_row_t *r, int col)
{
    return !row_is_null(r, col) && PQgetvalue(r->res, r->index, col)[0] == 't';
}

static const char *row_text(const ah_sql_row_t *r, int col, size_t *len)
{
    if (row_is_null(r, col)) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)PQgetlength(r->res, r->index, col);
    return PQgetvalue(r->res, r->index, col);
}

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
static void row_bytes(const ah_sql_row_t *r, int col, char *dst, size_t cap)
{
    size_t n = 0;
    const char *v = row_is_null(r, col) ? "" : PQgetvalue(r->res, r->index, col);
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

static const ah_sql_row_ops_t row_ops = {row_is_null, row_i64, row_bool, row_text, row_bytes};

/* ------------------------------------------------------------------------ */
/* The SQL driver.                                                           */

/* A commit of this process may have changed a cache generation: the next cache_gen reads. */
static void changed_here(pg_store_t *s)
{
    atomic_fetch_add(&s->lis.epoch, 1);
}

/*
 * Statements that lock a row every registration needs (the community's
 * usage count, and through the deferred triggers the one row of
 * cache_generations) would hold that lock through their commit's wait for
 * the disk, and so pass one registration per disk flush, whatever the
 * number of clients.  Run alone (no transaction of the caller's), such a
 * statement commits without waiting (synchronous_commit off for it), which
 * frees its locks at once; then a statement that commits a transaction id
 * of its own (ST_DURABLE) waits until the WAL is on disk up to there, which
 * covers the first commit, and which concurrent waiters share, as
 * PostgreSQL flushes for all of them at once.  The caller hears of success
 * only once it is durable.  A crash of PostgreSQL between the two could
 * lose a registration that others saw for an instant, never one that was
 * answered.
 */
static bool hot_statement(int id)
{
    return id == ST_WEBHOOK_INSERT || id == ST_WEBHOOK_INSERT_WITHIN ||
           id == ST_WEBHOOK_INSERT_MANY;
}

/* Rows of r to fn, and the count of rows changed; r is the statement's own result. */
static int take_rows(PGresult *r, ah_sql_row_fn fn, void *arg, size_t *changed)
{
    int rc = AH_OK, n = PQntuples(r);
    ah_sql_row_t row = {&row_ops, r, 0, (size_t)n};
    for (; fn && rc == AH_OK && row.index < n; row.index++)
        rc = fn(arg, &row);
    if (rc == AH_SQL_STOP)
        rc = AH_OK;
    if (rc == AH_OK && changed)
        *changed = cmd_tuples(r);
    return rc;
}

/*
 * A hot statement (hot_statement) in one round trip: a pipeline of two
 * implicit transactions, [SET synchronous_commit off, the statement] and
 * [RESET synchronous_commit, ST_DURABLE], each ended by a sync point.  The
 * first commits without waiting and frees its locks; the second waits for
 * the disk.  If the statement fails, the second still puts the setting
 * back.  Anything unexpected drops the connection (the next user gets a
 * fresh one, with the server's settings).  A batch of registrations says,
 * for its own transaction, that it does its own accounting
 * (ST_SESSION_SYNC_OFF_COUNTED), and bumps the generation once after it
 * (ST_GEN_BUMP_WEBHOOKS: after the statement's foreign-key checks, just
 * before the commit, where the triggers' deferred bumps would have been).
 */
#define SYNC_POINT (-1)

static int hot_exec(conn_t *c, int id, const ah_sql_params_t *p, ah_sql_row_fn fn, void *arg,
                    size_t *changed)
{
    bool batch = id == ST_WEBHOOK_INSERT_MANY;
    int order[7], n = 0;
    order[n++] = batch ? ST_SESSION_SYNC_OFF_COUNTED : ST_SESSION_SYNC_OFF;
    order[n++] = id;
    if (batch)
        order[n++] = ST_GEN_BUMP_WEBHOOKS;
    order[n++] = SYNC_POINT;
    order[n++] = ST_SESSION_SYNC_ON;
    order[n++] = ST_DURABLE;
    order[n++] = SYNC_POINT;
    pg_params_t q;
    int rc = pg_params(p, &q);
    for (int k = 0; rc == AH_OK && k < n; k++)
        if (order[k] != SYNC_POINT)
            rc = prepare(c, order[k]);
    if (rc || !PQenterPipelineMode(c->pg)) {
        pg_params_free(&q);
        return rc ? rc : pg_error(c, NULL, "register");
    }
    bool sent = true;
    for (int k = 0; sent && k < n; k++) {
        char name[16];
        if (order[k] == SYNC_POINT) {
            sent = PQpipelineSync(c->pg);
            continue;
        }
        stmt_name(order[k], name);
        sent = order[k] == id ? PQsendQueryPrepared(c->pg, name, q.n, q.v, q.len, q.fmt, 0)
                              : PQsendQueryPrepared(c->pg, name, 0, NULL, NULL, NULL, 0);
    }
    pg_params_free(&q);
    if (!sent) {
        c->broken = true;
        return pg_error(c, NULL, "register");
    }
    /*
     * Answers, in the order sent: per statement a result and a NULL, per
     * sync point a sync result.  A failure before the first sync point is
     * the statement's; one after it, the wait's.  Any other answer, or
     * none, drops the connection at once: reading on could wait for an
     * answer that never comes.
     */
    int back = AH_OK;
    bool statement_tx = true; /* before the first sync point */
    for (int k = 0; k < n; k++) {
        PGresult *r = PQgetResult(c->pg);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (!r || (order[k] == SYNC_POINT) != (st == PGRES_PIPELINE_SYNC)) {
            c->broken = true;
            int e = pg_error(c, r, "register");
            PQclear(r);
            return rc ? rc : e;
        }
        if (order[k] == SYNC_POINT) {
            statement_tx = false;
        } else if (order[k] == id && st == PGRES_TUPLES_OK) {
            rc = take_rows(r, fn, arg, changed);
        } else if (st == PGRES_PIPELINE_ABORTED) {
            /* An earlier failure aborted the rest of its transaction. */
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            int e = pg_error(c, r, order[k] == id ? stmt_sql[id] : "register");
            if (statement_tx)
                rc = rc ? rc : e;
            else
                back = back ? back : e;
        }
        PQclear(r);
        if (order[k] != SYNC_POINT && (r = PQgetResult(c->pg)) != NULL) {
            c->broken = true; /* a statement's results end with a NULL */
            int e = pg_error(c, r, "register");
            PQclear(r);
            return rc ? rc : e;
        }
    }
    if (!PQexitPipelineMode(c->pg) || back)
        c->broken = true;
    return rc ? rc : back;
}

static int pg_exec(ah_store_t *base, conn_t *c, bool write, int id, const ah_sql_params_t *p,
                   ah_sql_row_fn fn, void *arg, size_t *changed)
{
    pg_store_t *s = from(base); /* any pooled connection writes */
    bool borrowed = !c;
    int rc;
    if (borrowed && (rc = acquire(s, &c)))
        return rc;
    if (borrowed && hot_statement(id)) {
        rc = hot_exec(c, id, p, fn, arg, changed);
    } else {
        PGresult *r = run(c, id, p, &rc);
        if (r)
            rc = take_rows(r, fn, arg, changed);
        PQclear(r);
    }
    if (write && borrowed)
        changed_here(s);
    if (borrowed)
        release(s, c);
    return rc;
}

/* What in_tx does besides BEGIN ... COMMIT. */
enum {
    TX_LAZY = 1,  /* the commit does not wait for the disk (AH_SQL_WRITE_TX_LAZY) */
    TX_QUIET = 2, /* a write that changes no cache generation (publishes, claims) */
};

/*
 * Runs fn inside BEGIN (begin = ST_BEGIN or ST_BEGIN_READ) ... COMMIT;
 * anything but AH_OK rolls back (release).  A deadlock or serialization
 * failure runs it all again on a fresh start, so fn must reset its outputs.
 * flags: TX_LAZY, TX_QUIET.
 */
static int in_tx(pg_store_t *s, int begin, int flags, ah_sql_tx_fn fn, void *arg)
{
    bool lazy = flags & TX_LAZY;
    for (int attempt = 1;; attempt++) {
        conn_t *c;
        int rc = acquire(s, &c);
        if (rc)
            return rc;
        rc = run_cmd(c, begin, NULL);
        if (rc == AH_OK && lazy)
            rc = run_cmd(c, ST_SYNC_OFF, NULL);
        if (rc == AH_OK)
            rc = fn(c, arg);
        if (rc == AH_OK)
            rc = run_cmd(c, ST_COMMIT, NULL);
        if (begin != ST_BEGIN_READ && !(flags & TX_QUIET))
            changed_here(s); /* after any end: a failed COMMIT may still have committed */
        bool again = rc == AH_ESTORE && c->retryable && attempt < TX_TRIES;
        release(s, c);
        if (!again)
            return rc;
    }
}

/*
 * A write transaction is READ COMMITTED; a read one REPEATABLE READ, READ
 * ONLY.  AH_SQL_SERIAL_TX is a write transaction here.
 */
static int pg_run(ah_store_t *base, ah_sql_mode_t mode, ah_sql_tx_fn fn, void *arg)
{
    pg_store_t *s = from(base);
    if (mode == AH_SQL_SERIAL_TX)
        mode = AH_SQL_WRITE_TX;
    if (mode == AH_SQL_READ_TX || mode == AH_SQL_WRITE_TX || mode == AH_SQL_WRITE_TX_LAZY)
        return in_tx(s, mode == AH_SQL_READ_TX ? ST_BEGIN_READ : ST_BEGIN,
                     mode == AH_SQL_WRITE_TX_LAZY ? TX_LAZY | TX_QUIET : 0, fn, arg);
    conn_t *c;
    int rc = acquire(s, &c);
    if (rc)
        return rc;
    rc = fn(c, arg);
    release(s, c);
    return rc;
}

/* Tells every listening node that the webhook has work due at `due`. */
static int pg_notify(conn_t *c, const char *webhook_id, int64_t due)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, webhook_id);
    p_i64(&p, due);
    return run_cmd(c, ST_NOTIFY, &p);
}

/*
 * The driver's webhook_lease (sql.h): ST_WEBHOOK_LEASE with its renewal
 * threshold.  A claim runs it first, in the claim's transaction.
 */
/* The renewal slack of a lease until lease_until taken at now. */
static int64_t lease_slack(int64_t now, int64_t lease_until)
{
    int64_t slack = (lease_until - now) / 10;
    return slack > LEASE_RENEW_MS ? LEASE_RENEW_MS : slack;
}

static int pg_node_alive(ah_store_t *base, int64_t now, int64_t lease_until)
{
    pg_store_t *s = from(base);
    int64_t live = atomic_load(&s->live_until);
    if (live >= lease_until - lease_slack(now, lease_until))
        return AH_OK;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, s->node);
    p_i64(&p, lease_until);
    p_bool(&p, live == 0);
    p_i64(&p, now);
    int rc = pg_exec(base, NULL, true, ST_NODE_HEARTBEAT, &p, NULL, NULL, NULL);
    if (rc == AH_OK)
        atomic_store(&s->live_until, lease_until);
    return rc;
}

static int pg_webhook_lease(ah_store_t *base, ah_sql_conn_t *c, const char *webhook_id, int64_t now,
                            int64_t lease_until, int64_t *held)
{
    pg_store_t *s = from(base);
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, webhook_id);
    p_str(&p, s->node);
    p_i64(&p, now);
    p_i64(&p, lease_until);
    p_i64(&p, lease_until - lease_slack(now, lease_until));
    *held = 0;
    int rc = AH_OK;
    PGresult *r = run(c, ST_WEBHOOK_LEASE, &p, &rc);
    if (r && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        rc = ah_parse_i64(PQgetvalue(r, 0, 0), INT64_MIN, INT64_MAX, held);
    PQclear(r);
    return rc;
}

/*
 * Claims read the event's trigger and body in the claim statement itself,
 * and each webhook's claim is a transaction of its own (see
 * ah_store_delivery_claim_many).  Leases of deliveries are in memory, one
 * node at a time delivering a webhook (migration 14).
 */
static const ah_sql_driver_t pg_driver = {
    .exec = pg_exec,
    .run = pg_run,
    .notify = pg_notify,
    .utf8_only = true,
    .claim_bodies = true,
    .claim_in_one_tx = false,
    .memory_leases = true,
    .claim_skips_leased = true,
    .webhook_lease = pg_webhook_lease,
    .node_alive = pg_node_alive,
};

/* ------------------------------------------------------------------------ */
/* Array parameters: the set-based statements' columns, one array each.       */

/* A PostgreSQL array literal being built (text form: "{a,b,...}"). */
typedef struct pg_array {
    char *buf;
    size_t len, cap;
    bool oom;
} pg_array_t;

static void arr_put(pg_array_t *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (a->len + n + 2 > cap)
            cap *= 2;
        char *b = realloc(a->buf, cap);
        if (!b) {
            a->oom = true;
            return;
        }
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, s, n);
    a->len += n;
    a->buf[a->len] = '\0';
}

/* Starts the next element: '{' before the first, ',' before the others. */
static void arr_next(pg_array_t *a)
{
    arr_put(a, a->len ? "," : "{", 1);
}

/* A text element of n bytes, double-quoted with " and \ escaped; NULL for s NULL. */
static void arr_textn(pg_array_t *a, const char *s, size_t n)
{
    arr_next(a);
    if (!s) {
        arr_put(a, "NULL", 4);
        return;
    }
    arr_put(a, "\"", 1);
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            arr_put(a, s + from, i - from);
            arr_put(a, "\\", 1);
            from = i;
        }
    }
    arr_put(a, s + from, n - from);
    arr_put(a, "\"", 1);
}

static void arr_text(pg_array_t *a, const char *s)
{
    arr_textn(a, s, s ? strlen(s) : 0);
}

static void arr_i64(pg_array_t *a, int64_t v)
{
    char n[24];
    arr_next(a);
    arr_put(a, n, (size_t)snprintf(n, sizeof n, "%" PRId64, v));
}

/* Bytes as a hex string element (the statement decodes it). */
static void arr_hex(pg_array_t *a, const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    arr_next(a);
    arr_put(a, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        char h[2] = {digits[(unsigned char)s[i] >> 4], digits[(unsigned char)s[i] & 15]};
        arr_put(a, h, 2);
    }
    arr_put(a, "\"", 1);
}

/* Closes the literal ("{}" when empty); NULL if memory ran out. */
static const char *arr_end(pg_array_t *a)
{
    if (!a->len)
        arr_put(a, "{", 1);
    arr_put(a, "}", 1);
    return a->oom ? NULL : a->buf;
}

/* The n arrays, closed, as the statement's parameters $1..$n (pointing into them). */
static int arr_params(pg_array_t *col, size_t n, ah_sql_params_t *p)
{
    ah_sql_params_init(p);
    for (size_t k = 0; k < n; k++) {
        const char *v = arr_end(&col[k]);
        if (!v)
            return AH_ENOMEM;
        p_str(p, v);
    }
    return AH_OK;
}

static void arr_free(pg_array_t *col, size_t n)
{
    for (size_t k = 0; k < n; k++)
        free(col[k].buf);
}

/* ------------------------------------------------------------------------ */
/* Publishing.                                                               */

typedef struct publish_job {
    ah_store_t *s;
    const ah_event_t *ev;
    ah_publish_result_t *res;
} publish_job_t;

static void publish_params(const ah_event_t *ev, ah_sql_params_t *p)
{
    ah_sql_params_init(p);
    P_OPT_FIELD(p, ev->id);
    P_OPT_FIELD(p, ev->community_id);
    P_FIELD(p, ev->trigger);
    P_OPT_FIELD(p, ev->airmeet_id);
    P_OPT_FIELD(p, ev->session_id);
    P_OPT_FIELD(p, ev->idempotency_key);
    p_text(p, ev->data, ev->data_len); /* NULL data is NULL, which NOT NULL refuses */
    p_i64(p, ev->created_at);
}

/* ST_PUBLISH's answer into res; *inserted: the event is new. */
static int publish_result(PGresult *r, ah_publish_result_t *res, bool *inserted)
{
    int n = PQntuples(r);
    *inserted = false;
    res->webhook_ids = n ? malloc((size_t)n * AH_ID_SIZE) : NULL;
    if (n && !res->webhook_ids)
        return AH_ENOMEM;
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(r, i, 0))
            *inserted = true;
        else
            ah_strlcpy(res->webhook_ids[res->n_deliveries++], PQgetvalue(r, i, 0), AH_ID_SIZE);
    }
    if (!res->n_deliveries) { /* only the event's own row: no deliveries, no array */
        free(res->webhook_ids);
        res->webhook_ids = NULL;
    }
    return AH_OK;
}

/*
 * The event and its deliveries (ST_PUBLISH); when its idempotency key was
 * taken, the first event with that key is read instead.
 */
static int publish_tx(conn_t *c, void *arg)
{
    publish_job_t *j = arg;
    free(j->res->webhook_ids); /* a rerun starts afresh */
    memset(j->res, 0, sizeof *j->res);
    ah_sql_params_t p;
    publish_params(j->ev, &p);
    int rc;
    bool inserted = false;
    PGresult *r = run(c, ST_PUBLISH, &p, &rc);
    if (r)
        rc = publish_result(r, j->res, &inserted);
    PQclear(r);
    if (rc == AH_OK && !inserted) {
        rc = ah_sql_find_duplicate(j->s, c, j->ev, j->res);
        /* ON CONFLICT found a row this statement does not see: cannot happen in READ COMMITTED. */
        if (rc == AH_ENOTFOUND) {
            ah_logf(AH_LOG_WARN, "postgres: publish: conflicting idempotency key not found");
            rc = AH_ESTORE;
        }
        return rc;
    }
    if (rc == AH_OK)
        ah_sql_copy_id(j->res->event_id, j->ev->id);
    return rc;
}

static int event_publish(ah_store_t *base, const ah_event_t *ev, ah_publish_result_t *res)
{
    publish_job_t j = {base, ev, res};
    int rc = in_tx(from(base), ST_BEGIN, TX_QUIET, publish_tx, &j);
    if (rc) {
        free(res->webhook_ids);
        memset(res, 0, sizeof *res);
    }
    return rc;
}

/*
 * Group commit.  event_publish_async queues a job; PUB_THREADS publisher
 * threads each take up to PUB_BATCH_MAX queued jobs and publish them in
 * one transaction, so that concurrent publishes share a commit (and its
 * wait for the disk) instead of paying one each.  If the batch fails as a
 * whole (a deadlock between two batches that ran out of retries, a lost
 * connection, a bad event) nothing of it was committed, and each job is
 * then published alone, so that one job's failure stays its own.
 */
struct pub_job {
    const ah_event_t *ev;
    ah_publish_result_t *res;
    ah_register_t *reg; /* a registration instead of a publish (webhook_register_async) */
    void (*done)(void *arg, int rc);
    void *arg;
    int rc;
    bool inserted; /* the batch's INSERT made its row (publish_batch_tx, register_batch) */
    struct pub_job *next;
};

typedef struct pub_batch {
    ah_store_t *s;
    struct pub_job *jobs;
} pub_batch_t;

#define PUBLISH_COLS 8 /* ST_PUBLISH_MANY's arrays: publish_params's parameters */

/* A statement parameter as an array element; AH_EINVAL for a type arrays here do not carry. */
static int arr_param(pg_array_t *a, const ah_sql_param_t *v)
{
    switch (v->type) {
    case AH_SQL_NULL:
        arr_textn(a, NULL, 0);
        return AH_OK;
    case AH_SQL_TEXT:
        arr_textn(a, v->u.s, v->len);
        return AH_OK;
    case AH_SQL_I64:
        arr_i64(a, v->u.i);
        return AH_OK;
    case AH_SQL_BOOL:
        arr_next(a);
        arr_put(a, v->u.i ? "t" : "f", 1);
        return AH_OK;
    default:
        return AH_EINVAL;
    }
}

/* What a batch's answer rows name a job by: its event's id, or its webhook's. */
static const char *job_id(const struct pub_job *j)
{
    return j->reg ? j->reg->w->id : j->ev->id;
}

/*
 * The job of id (job_id), looking first at jobs[*hint] and the one after
 * it: a batch's rows come job by job, a publish's several rows in a run
 * and a registration's one, so neither pays a scan per row.
 */
static struct pub_job *job_of(struct pub_job **jobs, size_t n, const char *id, size_t *hint)
{
    for (size_t i = *hint; i < n && i <= *hint + 1; i++)
        if (!strcmp(job_id(jobs[i]), id)) {
            *hint = i;
            return jobs[i];
        }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(job_id(jobs[i]), id)) {
            *hint = i;
            return jobs[i];
        }
    return NULL;
}

/*
 * ST_PUBLISH_MANY's rows into the jobs' results: each job's webhook ids,
 * counted first so that each gets one array of its size, and whether its
 * event was inserted.
 */
static int publish_many_result(PGresult *r, struct pub_job **jobs, size_t n)
{
    int rows = PQntuples(r);
    size_t hint = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < rows; i++) {
            struct pub_job *j = job_of(jobs, n, PQgetvalue(r, i, 0), &hint);
            if (!j)
                return AH_ESTORE; /* an event id the batch did not send */
            ah_publish_result_t *res = j->res;
            if (PQgetisnull(r, i, 1))
                j->inserted = true;
            else if (!pass)
                res->n_deliveries++;
            else
                ah_strlcpy(res->webhook_ids[res->n_deliveries++], PQgetvalue(r, i, 1), AH_ID_SIZE);
        }
        for (size_t k = 0; !pass && k < n; k++) {
            ah_publish_result_t *res = jobs[k]->res;
            if (!res->n_deliveries)
                continue;
            if (!(res->webhook_ids = malloc(res->n_deliveries * AH_ID_SIZE)))
                return AH_ENOMEM;
            res->n_deliveries = 0;
        }
    }
    return AH_OK;
}

/*
 * The batch's publishes in one set-based statement (ST_PUBLISH_MANY: one
 * array per column), then the rare job whose key was taken reads its first
 * event.  Against one ST_PUBLISH per event, pipelined, this saves
 * PostgreSQL a statement's start and end per event: 32 events of fan-out 1
 * per transaction went from 280 to 390 transactions a second in pgbench on
 * the project machine (bench/ANALYSIS.md).  Any error fails the batch (its
 * transaction rolls back), which the caller then publishes job by job.
 */
static int publish_batch_tx(conn_t *c, void *arg)
{
    pub_batch_t *b = arg;
    struct pub_job *jobs[PUB_BATCH_MAX];
    pg_array_t col[PUBLISH_COLS];
    memset(col, 0, sizeof col);
    size_t n = 0;
    int rc = AH_OK;
    /* Each event's ST_PUBLISH parameters, column by column: one list of an event's fields. */
    for (struct pub_job *j = b->jobs; j && rc == AH_OK; j = j->next) {
        free(j->res->webhook_ids); /* a rerun starts afresh */
        memset(j->res, 0, sizeof *j->res);
        j->inserted = false;
        ah_sql_params_t one;
        publish_params(j->ev, &one);
        if (n == PUB_BATCH_MAX || one.bad || one.n != PUBLISH_COLS) { /* batches are cut to size */
            rc = AH_EINVAL;
            break;
        }
        jobs[n++] = j;
        for (size_t k = 0; k < PUBLISH_COLS && rc == AH_OK; k++)
            rc = arr_param(&col[k], &one.v[k]);
    }
    ah_sql_params_t p;
    if (rc == AH_OK)
        rc = arr_params(col, PUBLISH_COLS, &p);
    PGresult *r = rc == AH_OK ? run(c, ST_PUBLISH_MANY, &p, &rc) : NULL;
    if (r)
        rc = publish_many_result(r, jobs, n);
    PQclear(r);
    arr_free(col, PUBLISH_COLS);
    for (size_t i = 0; i < n && rc == AH_OK; i++) {
        struct pub_job *k = jobs[i];
        if (k->inserted) {
            ah_sql_copy_id(k->res->event_id, k->ev->id);
            continue;
        }
        rc = ah_sql_find_duplicate(b->s, c, k->ev, k->res);
        if (rc == AH_ENOTFOUND)
            rc = AH_ESTORE;
    }
    return rc;
}

static void publish_jobs(pg_store_t *s, struct pub_job *jobs)
{
    pub_batch_t b = {&s->base, jobs};
    bool together = jobs->next && in_tx(s, ST_BEGIN, TX_QUIET, publish_batch_tx, &b) == AH_OK;
    for (struct pub_job *j = jobs; j; j = j->next)
        j->rc = together ? AH_OK : event_publish(&s->base, j->ev, j->res);
}

/* ST_WEBHOOK_INSERT_MANY's arrays: ST_WEBHOOK_INSERT_WITHIN's parameters. */
#define REGISTER_COLS 22

/* The jobs of a batch of registrations, for its statement's rows (register_row). */
typedef struct register_rows {
    struct pub_job *jobs[PUB_BATCH_MAX];
    size_t n, hint;
} register_rows_t;

/* A row of ST_WEBHOOK_INSERT_MANY: the id of a webhook it inserted. */
static int register_row(void *arg, const ah_sql_row_t *r)
{
    register_rows_t *b = arg;
    char id[AH_ID_SIZE];
    SQL_COPY(r, 0, id);
    struct pub_job *j = job_of(b->jobs, b->n, id, &b->hint);
    if (!j)
        return AH_ESTORE; /* an id the batch did not send */
    j->inserted = true;
    return AH_OK;
}

/*
 * A batch of registrations as one statement (ST_WEBHOOK_INSERT_MANY: one
 * array per column), run as a hot statement (hot_statement): its own
 * transaction, whose commit frees the communities' usage rows and the
 * cache generation at once and then waits for the disk outside them, all
 * in one round trip, so that no round trip to airhook is made while the
 * rows are locked.  Against one INSERT per registration, pipelined, this
 * saves PostgreSQL a statement per registration: 32 registrations per
 * transaction went from 155-160 to 205-275 transactions a second in
 * pgbench (bench/ANALYSIS.md).  Returns AH_OK with each job's inserted
 * set; a job left out (a twin, no room, or a twin in the batch
 * counted against the quota) is then registered alone by the caller.
 */
static int register_batch(pg_store_t *s, register_rows_t *b)
{
    pg_array_t col[REGISTER_COLS];
    memset(col, 0, sizeof col);
    int rc = AH_OK;
    for (size_t i = 0; i < b->n && rc == AH_OK; i++) {
        ah_sql_params_t one;
        if (ah_store_register_insert(b->jobs[i]->reg, &one) == ST_WEBHOOK_INSERT)
            p_i64(&one, 0); /* no quota */
        if (one.bad || one.n != REGISTER_COLS)
            rc = AH_EINVAL;
        b->jobs[i]->inserted = false;
        for (size_t k = 0; k < REGISTER_COLS && rc == AH_OK; k++)
            rc = arr_param(&col[k], &one.v[k]);
    }
    ah_sql_params_t p;
    if (rc == AH_OK)
        rc = arr_params(col, REGISTER_COLS, &p);
    if (rc == AH_OK)
        rc = pg_exec(&s->base, NULL, true, ST_WEBHOOK_INSERT_MANY, &p, register_row, b, NULL);
    arr_free(col, REGISTER_COLS);
    return rc;
}

/* A registration alone, as the synchronous path does it (the batch failed or left it out). */
static int register_alone(pg_store_t *s, ah_register_t *r)
{
    bool existed = false;
    int rc = r->max_active
                 ? ah_store_webhook_register_within(&s->base, r->w, r->max_active, r->out, &existed)
                 : ah_store_webhook_register(&s->base, r->w, r->out, &existed);
    r->existed = existed;
    return rc;
}

/*
 * A cut of the queue's registrations: together in one statement
 * (register_batch), then each the statement left out, or every one if it
 * failed, alone.
 */
static void register_jobs(pg_store_t *s, struct pub_job *jobs)
{
    register_rows_t b = {.n = 0};
    for (struct pub_job *j = jobs; j && b.n < PUB_BATCH_MAX; j = j->next)
        b.jobs[b.n++] = j;
    bool together = jobs->next && register_batch(s, &b) == AH_OK;
    for (struct pub_job *j = jobs; j; j = j->next) {
        if (together && j->inserted) {
            j->rc = ah_store_register_settle(&s->base, NULL, j->reg, 1); /* reads nothing */
        } else {
            j->rc = register_alone(s, j->reg);
        }
    }
}

/*
 * A cut of the queue: its publishes together, then its registrations
 * together.  Returns the jobs as one list again, publishes first.
 */
static struct pub_job *run_jobs(pg_store_t *s, struct pub_job *batch)
{
    struct pub_job *pubs = NULL, **pt = &pubs, *regs = NULL, **rt = &regs;
    for (struct pub_job *j = batch, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        if (j->reg) {
            *rt = j;
            rt = &j->next;
        } else {
            *pt = j;
            pt = &j->next;
        }
    }
    if (pubs)
        publish_jobs(s, pubs);
    if (regs)
        register_jobs(s, regs);
    *pt = regs;
    return pubs;
}

static void *publisher_main(void *arg)
{
    pg_store_t *s = arg;
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
        batch = run_jobs(s, batch);
        for (struct pub_job *j = batch, *next; j; j = next) {
            next = j->next;
            j->done(j->arg, j->rc);
            free(j);
        }
        pthread_mutex_lock(&s->pub_mu);
    }
    pthread_mutex_unlock(&s->pub_mu);
    return NULL;
}

/* Queues job j (NULL: out of memory) for the publishers; the answer if it cannot be. */
static int enqueue(pg_store_t *s, struct pub_job *j)
{
    int rc = j ? AH_OK : AH_ENOMEM;
    pthread_mutex_lock(&s->pub_mu);
    if (rc == AH_OK && s->pub_stop)
        rc = AH_EUNAVAIL; /* the store is closing: nobody would run it */
    while (rc == AH_OK && s->pub_started < PUB_THREADS) {
        if (pthread_create(&s->pub_threads[s->pub_started], NULL, publisher_main, s)) {
            if (!s->pub_started)
                rc = AH_ENOMEM;
            break;
        }
        s->pub_started++;
    }
    if (rc == AH_OK) {
        *s->pub_tail = j;
        s->pub_tail = &j->next;
        pthread_cond_signal(&s->pub_cv);
    }
    pthread_mutex_unlock(&s->pub_mu);
    if (rc)
        free(j);
    return rc;
}

static void event_publish_async(ah_store_t *base, const ah_event_t *ev, ah_publish_result_t *res,
                                void (*done)(void *arg, int rc), void *arg)
{
    struct pub_job *j = calloc(1, sizeof *j);
    if (j)
        *j = (struct pub_job){.ev = ev, .res = res, .done = done, .arg = arg};
    int rc = enqueue(from(base), j);
    if (rc) {
        memset(res, 0, sizeof *res);
        done(arg, rc);
    }
}

static void webhook_register_async(ah_store_t *base, ah_register_t *r,
                                   void (*done)(void *arg, int rc), void *arg)
{
    struct pub_job *j = calloc(1, sizeof *j);
    if (j)
        *j = (struct pub_job){.reg = r, .done = done, .arg = arg};
    int rc = enqueue(from(base), j);
    if (rc)
        done(arg, rc);
}

/* Lets the publishers finish what was queued, and stops them. */
static void publishers_stop(pg_store_t *s)
{
    pthread_mutex_lock(&s->pub_mu);
    s->pub_stop = true;
    pthread_cond_broadcast(&s->pub_cv);
    pthread_mutex_unlock(&s->pub_mu);
    for (int i = 0; i < s->pub_started; i++)
        pthread_join(s->pub_threads[i], NULL);
}

/* ------------------------------------------------------------------------ */
/* Finding work.                                                             */

static int delivery_due_webhooks(ah_store_t *base, ah_due_t **out, size_t *n)
{
    void *arr;
    int rc = ah_sql_all(base, NULL, ST_DUE_WEBHOOKS, NULL, ah_sql_map_due, sizeof **out, &arr, n);
    *out = arr;
    return rc;
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
        size_t len = ah_utf8_seq_len((const unsigned char *)in + i, n - i);
        if (len) {
            memcpy(out + i, in + i, len);
            i += len;
        } else {
            out[i++] = '?';
        }
    }
    out[n] = '\0';
}

/* A result for a delivery that does not exist is skipped, not a failure of the batch. */
static void warn_unknown(const ah_attempt_result_t *r)
{
    ah_logf(AH_LOG_WARN, "postgres: attempt for unknown delivery %.*s not recorded",
            (int)strnlen(r->delivery_id, AH_ID_SIZE - 1), r->delivery_id);
}

#define RECORD_COLS 12 /* ST_RECORD's arrays */

/* Whether rs[i]'s delivery is one of rs[0..i). */
static bool seen_before(const ah_attempt_result_t *rs, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (!strncmp(rs[k].delivery_id, rs[i].delivery_id, AH_ID_SIZE))
            return true;
    return false;
}

/*
 * Records rs[0..n), n <= RECORD_CHUNK and no delivery twice, with one
 * ST_RECORD inside the caller's transaction.
 */
static int record_chunk(conn_t *c, const ah_attempt_result_t *rs, size_t n)
{
    pg_array_t col[RECORD_COLS];
    memset(col, 0, sizeof col);
    bool *found = calloc(n, sizeof *found);
    int rc = found ? AH_OK : AH_ENOMEM;
    for (size_t i = 0; rc == AH_OK && i < n; i++) {
        const ah_attempt_result_t *r = &rs[i];
        const ah_attempt_t *at = &r->attempt;
        char error[AH_ERROR_MAX], reason[AH_REASON_MAX];
        utf8_clean(at->error, sizeof at->error, error);
        utf8_clean(r->disable_reason, sizeof r->disable_reason, reason);
        arr_text(&col[0], r->delivery_id);
        arr_i64(&col[1], at->attempt_no);
        arr_i64(&col[2], at->status_code);
        arr_text(&col[3], error[0] ? error : NULL);
        arr_i64(&col[4], at->started_at + at->duration_ms);
        arr_text(&col[5], ah_outcome_status(r->outcome));
        arr_i64(&col[6], r->next_attempt_at);
        arr_i64(&col[7], at->started_at);
        arr_i64(&col[8], at->duration_ms);
        arr_hex(&col[9], at->response_head, strnlen(at->response_head, sizeof at->response_head));
        arr_text(&col[10], reason);
        arr_hex(&col[11], at->response_headers,
                strnlen(at->response_headers, sizeof at->response_headers));
    }
    ah_sql_params_t p;
    if (rc == AH_OK)
        rc = arr_params(col, RECORD_COLS, &p);
    PGresult *res = rc == AH_OK ? run(c, ST_RECORD, &p, &rc) : NULL;
    for (int row = 0; res && row < PQntuples(res); row++) {
        long ord = strtol(PQgetvalue(res, row, 0), NULL, 10);
        if (ord >= 1 && (size_t)ord <= n)
            found[ord - 1] = true;
    }
    for (size_t i = 0; res && i < n; i++)
        if (!found[i])
            warn_unknown(&rs[i]);
    PQclear(res);
    arr_free(col, RECORD_COLS);
    free(found);
    return rc;
}

/*
 * Records rs[0..n) in set-based statements, one per RECORD_CHUNK results
 * (a chunk also ends before a delivery's second result, which must see the
 * first's effect).
 */
static int record_all(conn_t *c, const ah_attempt_result_t *rs, size_t n)
{
    int rc = AH_OK;
    for (size_t off = 0; rc == AH_OK && off < n;) {
        size_t k = 1;
        while (off + k < n && k < RECORD_CHUNK && !seen_before(rs + off, k))
            k++;
        rc = record_chunk(c, rs + off, k);
        off += k;
    }
    return rc;
}

typedef struct record_job {
    const ah_attempt_result_t *results;
    size_t n;
} record_job_t;

static int record_tx(conn_t *c, void *arg)
{
    const record_job_t *j = arg;
    return record_all(c, j->results, j->n);
}

/*
 * Lazy: a crash of the database server can lose the last records, and then
 * those deliveries are sent again (at least once), never lost.
 */
static int delivery_record(ah_store_t *base, const ah_attempt_result_t *results, size_t n)
{
    record_job_t j = {results, n};
    return in_tx(from(base), ST_BEGIN, TX_LAZY, record_tx, &j); /* may disable a webhook */
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
    char *arr = id_array(ids, n);
    if (!arr)
        return AH_ENOMEM;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, arr);
    int rc = pg_exec(base, NULL, true, ST_DELIVERY_RELEASE, &p, NULL, NULL, NULL);
    free(arr);
    return rc;
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
    if (!PQsendQuery(pg, "LISTEN " CHANNEL "; LISTEN " CACHE_CHANNEL))
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
    if (!due)
        due = ah_now_ms(); /* a publish's: due as it arrives (see ST_PUBLISH) */
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
        if (!strcmp(n->relname, CACHE_CHANNEL))
            atomic_fetch_add(&s->lis.epoch, 1);
        else
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
            /* Heard from now on; what changed before is read once more. */
            atomic_store(&s->lis.listening, true);
            atomic_fetch_add(&s->lis.epoch, 1);
        }
        if (listen_turn(s, pg) != AH_OK) {
            ah_logf(AH_LOG_WARN, "postgres: the listening connection dropped; reconnecting");
            atomic_store(&s->lis.listening, false);
            lost = true;
            PQfinish(pg);
            pg = NULL;
        }
    }
    atomic_store(&s->lis.listening, false);
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
    publishers_stop(s);
    listener_stop(s);
    if (s->all && s->base.leases) {
        /*
         * What this node delivered, handed back: by now its dispatcher has
         * recorded or handed back every attempt, so another node may take
         * these webhooks at once instead of when their leases lapse.
         */
        ah_sql_params_t p;
        ah_sql_params_init(&p);
        p_str(&p, s->node);
        int rc = pg_exec(&s->base, NULL, true, ST_WEBHOOK_LEASES_DROP, &p, NULL, NULL, NULL);
        if (rc && rc != AH_EUNAVAIL)
            ah_log(AH_LOG_WARN, "cannot hand back this node's webhook leases; they lapse",
                   json_pack("{s:s}", "error", ah_strerror(rc)));
    }
    ah_store_leases_free(&s->base);
    conn_t *c = s->all;
    while (c) {
        conn_t *next = c->next_all;
        PQfinish(c->pg);
        free(c);
        c = next;
    }
    pthread_cond_destroy(&s->lis.idle_cv);
    pthread_mutex_destroy(&s->lis.mu);
    pthread_mutex_destroy(&s->lis.gen_mu);
    pthread_cond_destroy(&s->pub_cv);
    pthread_mutex_destroy(&s->pub_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->dsn);
    free(s);
}
/*
 * The cache generations, read from the database only when something may
 * have changed them since the last read: while the listener hears
 * CACHE_CHANNEL, an unchanged epoch means no commit bumped them (the epoch
 * is read before the generations, so a change committed after that read
 * moves it).  This node's changes are seen at once, another node's once
 * its notification arrives (about a millisecond), and in any case within
 * GEN_MAX_AGE_MS, after which the generations are read again even with no
 * notification: a listening connection whose peer vanished without a word
 * stays "up" until TCP says otherwise.
 */
static int cache_gen(ah_store_t *base, ah_cache_gen_t *out)
{
    pg_store_t *s = from(base);
    listener_t *l = &s->lis;
    bool listening = atomic_load(&l->listening);
    if (!listening) {
        pthread_mutex_lock(&l->mu);
        (void)listener_start(s); /* once; on failure every call reads */
        pthread_mutex_unlock(&l->mu);
    }
    uint_fast64_t e = atomic_load(&l->epoch);
    int64_t now = ah_mono_ms();
    if (listening) {
        pthread_mutex_lock(&l->gen_mu);
        bool hit = l->gen_known && l->gen_epoch == e && now - l->gen_read_ms < l->gen_max_age_ms;
        if (hit)
            *out = l->gen;
        pthread_mutex_unlock(&l->gen_mu);
        if (hit)
            return AH_OK;
    }
    int rc = ah_store_read_cache_gen(base, out);
    if (rc == AH_OK) {
        pthread_mutex_lock(&l->gen_mu);
        l->gen = *out;
        l->gen_epoch = e;
        l->gen_read_ms = now;
        l->gen_known = true;
        pthread_mutex_unlock(&l->gen_mu);
    }
    return rc;
}

static const ah_store_ops_t pg_ops = {
    .name = "postgres",
    .shared = true,
    .sql = &pg_driver,
    .close = store_close,
    .event_publish = event_publish,
    .event_publish_async = event_publish_async,
    .webhook_register_async = webhook_register_async,
    .delivery_due_webhooks = delivery_due_webhooks,
    .delivery_record = delivery_record,
    .delivery_release = delivery_release,
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
        *out = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
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
    pthread_mutex_init(&s->lis.gen_mu, NULL);
    s->lis.gen_max_age_ms = GEN_MAX_AGE_MS;
    ah_uuid_v4(s->node);
    pthread_mutex_init(&s->pub_mu, NULL);
    pthread_cond_init(&s->pub_cv, NULL);
    s->pub_tail = &s->pub_head;
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
    if (rc == AH_OK && ah_store_leases_init(&s->base) != AH_OK) {
        snprintf(err, errlen, "out of memory");
        rc = AH_ENOMEM;
    }
    if (rc == AH_OK)
        rc = first_connection(s, err, errlen);
    if (rc) {
        store_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return AH_OK;
}
