/* SPDX-License-Identifier: MIT */
/*
 * sql.h: the SQL driver interface, private to src/store.
 *
 * Both backends are SQL databases reached through prepared statements, and
 * most of what the store does is the same on both: the same statements (in
 * two dialects) with the same parameters, read into the same structs, in the
 * same transactions.  That part is written once, in the store layer
 * (store.c and store_sql.c), on top of this interface; a backend implements
 * the interface for its library (store_sqlite.c, store_pg.c).
 *
 * What a backend implements (ah_sql_driver_t):
 *  - exec: runs one statement, named by its id (enum ah_sql_stmt), with
 *    typed parameters (ah_sql_params_t), handing each result row to a
 *    callback through a row accessor (ah_sql_row_t), and says how many rows
 *    it changed.
 *  - run: borrows a connection for a function that runs several statements
 *    on it, in one of four modes (ah_sql_mode_t): alone or in a read or write
 *    transaction.
 *  - notify (optional): tells the other processes sharing the store that a
 *    webhook has work, as part of the caller's transaction.
 *  - A SQL text per statement id, in its own dialect; ids a backend adds for
 *    itself come after AH_SQL_SHARED_COUNT.
 *
 * What the store layer provides to backends (store_sql.c): parameter
 * helpers, the row mappers and binders of every record, collectors (one row,
 * all rows, capped at AH_STORE_LIST_MAX), and the pieces of publishing and
 * claiming that are the same SQL on both (fan-out, duplicates, leasing).
 */
#ifndef AH_STORE_SQL_H
#define AH_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* ------------------------------------------------------------------------ */
/* Column lists and statement text that are the same in both dialects.       */

#define COMMUNITY_COLS "id, name, created_at"
#define KEY_COLS "id, community_id, label, access_key, secret_hash, created_at, revoked_at"
#define TOKEN_COLS "token_hash, key_id, community_id, label, created_at, expires_at"
/* The event details the scope endpoints answer (status ... type) came with migration 8. */
#define AIRMEET_COLS                                                                               \
    "id, community_id, name, start_time, end_time, created_at, status, timezone, description"
#define SESSION_COLS                                                                               \
    "id, airmeet_id, community_id, name, created_at, start_time, duration, status, summary, type"
/* The operator's triggers, and built-in ones hidden (store_catalog.c). */
#define CATALOG_COLS                                                                               \
    "id, builtin, description, airmeet_scope, session_scope, sample, schema, retired_at, "         \
    "created_at, updated_at"
/* The order of WEBHOOK_COLS is the order of ah_sql_bind_webhook() and ah_sql_map_webhook(). */
#define WEBHOOK_COLS                                                                               \
    "id, community_id, trigger, name, description, url, platform_name, airmeet_id, "               \
    "session_id, is_active, disabled_reason, meta_data, created_at, updated_at, created_by, "      \
    "updated_by, secret, prev_secret, prev_secret_until, deregistered_at, failing_since"
/* The order of ah_sql_bind_event() and of event_get's mapping. */
#define EVENT_COLS                                                                                 \
    "id, community_id, trigger, airmeet_id, session_id, idempotency_key, data, created_at"
/* An event without its data (the operator's list); `test` came with migration 10. */
#define EVENT_HEAD_COLS                                                                            \
    "id, community_id, trigger, airmeet_id, session_id, idempotency_key, created_at, test"
/* A delivery with its event's trigger: the order of ah_sql_map_delivery(). */
#define DELIVERY_COLS                                                                              \
    "d.id, d.event_id, d.webhook_id, e.trigger, d.status, d.attempts, d.next_attempt_at, "         \
    "d.lease_until, d.created_at, d.updated_at, d.last_status_code, d.last_error"
/* A community's own quotas, in ah_quota_kind_t order (NULL: none set). */
#define QUOTA_COLS                                                                                 \
    "max_webhooks, max_url_bytes, max_name_bytes, max_description_bytes, registrations_per_minute"
/* The order of ah_sql_map_attempt(). */
#define ATTEMPT_COLS                                                                               \
    "attempt_no, started_at, duration_ms, status_code, error, response_head, response_headers"

/*
 * Migration 10, in each dialect's boolean: an event made by a webhook test
 * (POST {base}/airhook/v1/webhooks/{id}/test) says so, and keeps saying so
 * in the operator's event list.
 */
#define SQL_MIGRATION_TEST_EVENTS(type, no)                                                        \
    "ALTER TABLE events ADD COLUMN test " type " NOT NULL DEFAULT " no ";"

/*
 * Migration 9 on both backends, the same text: the indexes of the
 * operator's lists (store_sqlite.c's migration 9 says why each).
 */
#define SQL_MIGRATION_LISTS                                                                        \
    "CREATE INDEX IF NOT EXISTS communities_by_creation ON communities(created_at, id);"           \
    "CREATE INDEX IF NOT EXISTS webhooks_by_creation ON webhooks(created_at, id);"                 \
    "CREATE INDEX IF NOT EXISTS webhooks_all_by_community"                                         \
    "  ON webhooks(community_id, created_at, id);"                                                 \
    "CREATE INDEX IF NOT EXISTS events_by_community ON events(community_id, created_at, id);"      \
    "CREATE INDEX IF NOT EXISTS access_keys_by_creation"                                           \
    "  ON access_keys(community_id, created_at, id);"                                              \
    "DROP INDEX IF EXISTS access_keys_by_community;"                                               \
    "CREATE INDEX IF NOT EXISTS sessions_by_creation ON sessions(airmeet_id, created_at, id);"     \
    "DROP INDEX IF EXISTS sessions_by_airmeet;"

/*
 * Migration 11 on both backends, the same text: the web console's sign-in
 * sessions and the operator's portal links (docs/console.md).  A session
 * is found by the SHA-256 of the id its cookie carries, a link by the
 * SHA-256 of its token; neither is kept in clear.  role is 'operator' or
 * 'integrator'; an integrator's session names its community and the key
 * pair or the portal link it signed in with, whose revocation ends it.
 * IF NOT EXISTS, as migration 9: a file taken back to an older version by
 * hand keeps them.
 */
#define SQL_MIGRATION_CONSOLE                                                                      \
    "CREATE TABLE IF NOT EXISTS console_sessions ("                                                \
    "  id_hash TEXT PRIMARY KEY NOT NULL,"                                                         \
    "  role TEXT NOT NULL CHECK (role IN ('operator', 'integrator')),"                             \
    "  community_id TEXT,"                                                                         \
    "  key_id TEXT,"                                                                               \
    "  link_id TEXT,"                                                                              \
    "  read_only BOOLEAN NOT NULL,"                                                                \
    "  csrf_token TEXT NOT NULL,"                                                                  \
    "  created_at BIGINT NOT NULL,"                                                                \
    "  seen_at BIGINT NOT NULL,"                                                                   \
    "  expires_at BIGINT NOT NULL"                                                                 \
    ");"                                                                                           \
    "CREATE INDEX IF NOT EXISTS console_sessions_by_expiry ON console_sessions(expires_at);"       \
    "CREATE TABLE IF NOT EXISTS portal_links ("                                                    \
    "  id TEXT PRIMARY KEY NOT NULL,"                                                              \
    "  community_id TEXT NOT NULL,"                                                                \
    "  token_hash TEXT NOT NULL UNIQUE,"                                                           \
    "  read_only BOOLEAN NOT NULL,"                                                                \
    "  created_at BIGINT NOT NULL,"                                                                \
    "  expires_at BIGINT NOT NULL,"                                                                \
    "  revoked_at BIGINT NOT NULL DEFAULT 0"                                                       \
    ");"                                                                                           \
    "CREATE INDEX IF NOT EXISTS portal_links_by_community ON portal_links(community_id, "          \
    "created_at, id);"

/*
 * A console session as read: its row and whether its key pair or portal
 * link was revoked (non-zero).  COLL is PostgreSQL's COLLATE "C" (its key
 * columns have it, the console's do not), "" on SQLite.
 */
#define CONSOLE_SESSION_COLS(COLL)                                                                 \
    "s.id_hash, s.role, s.community_id, s.key_id, s.link_id, s.read_only, s.csrf_token,"           \
    " s.created_at, s.seen_at, s.expires_at,"                                                      \
    " coalesce((SELECT k.revoked_at FROM access_keys k WHERE k.id = s.key_id" COLL "), 0)"         \
    " + coalesce((SELECT l.revoked_at FROM portal_links l WHERE l.id = s.link_id), 0),"            \
    " coalesce((SELECT k.label FROM access_keys k WHERE k.id = s.key_id" COLL "), '')"
#define PORTAL_LINK_COLS                                                                           \
    "id, community_id, token_hash, read_only, created_at, expires_at, revoked_at"

/*
 * Migration 12 on both backends, the same text: `airhook listen`
 * (store_listener.c).  One signing secret per access key, sealed like a
 * webhook's (bound to the key's id), and the listeners, so that one whose
 * CLI vanished can be found and removed after --listener-timeout.
 */
#define SQL_MIGRATION_LISTENERS                                                                    \
    "CREATE TABLE listener_secrets ("                                                              \
    "  access_key_id TEXT PRIMARY KEY,"                                                            \
    "  secret TEXT NOT NULL,"                                                                      \
    "  created_at BIGINT NOT NULL);"                                                               \
    "CREATE TABLE listeners ("                                                                     \
    "  id TEXT PRIMARY KEY,"                                                                       \
    "  community_id TEXT NOT NULL,"                                                                \
    "  access_key_id TEXT NOT NULL,"                                                               \
    "  name TEXT NOT NULL,"                                                                        \
    "  created_at BIGINT NOT NULL,"                                                                \
    "  last_seen_at BIGINT NOT NULL);"

/* The order of store_listener.c's mapping. */
#define LISTENER_COLS "id, community_id, access_key_id, name, created_at, last_seen_at"

/*
 * 13: the console's overview counts disabled webhooks and shows the last
 * few; a partial index holds only those (a webhook enters it when it is
 * disabled), so neither reads the webhooks table.  An attempt keeps the
 * first 2 KiB of its answer's headers for the delivery timeline, in a
 * column of BLOB_TYPE (the backend's type of response_head).
 */
#define SQL_MIGRATION_CONSOLE_DATA(BLOB_TYPE)                                                      \
    "CREATE INDEX IF NOT EXISTS webhooks_disabled ON webhooks(updated_at)"                         \
    "  WHERE NOT is_active AND deregistered_at = 0;"                                               \
    "ALTER TABLE attempts ADD COLUMN response_headers " BLOB_TYPE ";"
/* PARAM is the backend's first parameter ("?1", "$1::bigint"). */
#define SQL_OVERVIEW(PARAM)                                                                        \
    "SELECT (SELECT count(*) FROM communities),"                                                   \
    " (SELECT coalesce(sum(active_webhooks), 0) FROM community_usage),"                            \
    " (SELECT count(*) FROM webhooks WHERE NOT is_active AND deregistered_at = 0),"                \
    " (SELECT count(*) FROM events WHERE created_at >= " PARAM "),"                                \
    " (SELECT count(*) FROM events e JOIN deliveries d ON d.event_id = e.id"                       \
    "  WHERE e.created_at >= " PARAM ")"
#define SQL_WEBHOOK_DISABLED_RECENT(PARAM)                                                         \
    "SELECT " WEBHOOK_COLS " FROM webhooks WHERE NOT is_active AND deregistered_at = 0"            \
    " ORDER BY updated_at DESC LIMIT " PARAM

#define SQL_PING "SELECT 1"
#define SQL_COMMUNITY_LIST "SELECT " COMMUNITY_COLS " FROM communities ORDER BY created_at, id"
#define SQL_DELIVERY_RELEASE_ALL                                                                   \
    "UPDATE deliveries SET lease_until = 0 WHERE status = 'pending' AND lease_until <> 0"
/* Both halves in one statement, so one snapshot. */
#define SQL_DELIVERY_STATS                                                                         \
    "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending'),"                           \
    " (SELECT created_at FROM deliveries WHERE status = 'pending'"                                 \
    " ORDER BY created_at LIMIT 1)"
#define SQL_CACHE_GEN "SELECT webhooks, auth FROM cache_generations WHERE id = 1"

/*
 * The statements the store layer runs.  Each backend gives every one a text
 * whose parameters ($n / ?n) and result columns are as commented; its own
 * statements follow, from AH_SQL_SHARED_COUNT on.
 */
enum ah_sql_stmt {
    ST_PING,             /* -> 1 */
    ST_SETTING_GET,      /* key -> value */
    ST_SETTING_SET,      /* key, value: insert or replace */
    ST_SETTING_ADD,      /* key, value: insert */
    ST_COMMUNITY_INSERT, /* COMMUNITY_COLS */
    ST_COMMUNITY_GET,    /* id -> COMMUNITY_COLS */
    ST_COMMUNITY_LIST,   /* -> COMMUNITY_COLS, oldest first */
    ST_KEY_INSERT,       /* KEY_COLS */
    ST_KEY_FIND,         /* access_key -> KEY_COLS */
    ST_KEY_GET,          /* id -> KEY_COLS */
    ST_KEY_LIST,         /* community_id -> KEY_COLS, oldest first */
    ST_KEY_REVOKE,       /* id, now: changes every matched row */
    ST_TOKEN_INSERT,     /* TOKEN_COLS */
    ST_TOKEN_FIND,       /* token_hash -> TOKEN_COLS */
    ST_TOKEN_PURGE,      /* now */
    ST_AIRMEET_INSERT,   /* AIRMEET_COLS */
    ST_AIRMEET_GET,      /* id -> AIRMEET_COLS */
    ST_SESSION_INSERT,   /* SESSION_COLS */
    ST_SESSION_GET,      /* id -> SESSION_COLS */
    /* WEBHOOK_COLS; changes 1 row, or none when an active twin exists (ON CONFLICT DO NOTHING) */
    ST_WEBHOOK_INSERT,
    /* community_id, trigger, url, airmeet_id or '', session_id or '' -> WEBHOOK_COLS */
    ST_WEBHOOK_FIND_ACTIVE,
    ST_WEBHOOK_GET,             /* id -> WEBHOOK_COLS */
    ST_WEBHOOK_LIVE,            /* id -> active and not deregistered (boolean) */
    ST_WEBHOOK_LIST_ACTIVE,     /* community_id, airmeet_id or NULL, session_id or NULL */
    ST_WEBHOOK_DEREGISTER,      /* id, now, by */
    ST_WEBHOOK_SET_ACTIVE,      /* id, active (boolean), reason or NULL, now */
    ST_DELIVERIES_CANCEL,       /* webhook_id, now */
    ST_WEBHOOK_DEREGISTERED_AT, /* id -> deregistered_at */
    ST_WEBHOOK_RECOVER,         /* webhook_id, since, now */
    ST_WEBHOOK_ROTATE,          /* id, new secret, prev_until, now */
    /* EVENT_COLS; changes 1 row, or none when the idempotency key is taken */
    ST_EVENT_INSERT,
    ST_EVENT_FIND_KEY, /* community_id, idempotency_key -> id, count of its deliveries */
    /* event id, created_at, community_id, trigger, airmeet_id, session_id -> webhook_id per
     * delivery made */
    ST_EVENT_FANOUT,
    ST_EVENT_GET,       /* id -> EVENT_COLS */
    ST_EVENT_MARK_TEST, /* id: sets the event's test flag (a test delivery's event) */
    /* delivery id, event id, now, webhook id: one pending delivery, if the webhook is active and
     * not deregistered (changes 1 row, or none) */
    ST_DELIVERY_INSERT_ONE,
    /* lease_until, webhook_id, now, max -> id, event_id, attempts, next_attempt_at [, trigger,
     * data when the driver's claim_bodies]; with memory_leases: webhook_id, limit [, ids to leave
     * out when the driver's claim_skips_leased] -> the same columns of the webhook's first `limit`
     * pending deliveries by next_attempt_at, changing nothing */
    ST_CLAIM,
    ST_NEXT_DUE,       /* webhook_id, now -> next_attempt_at */
    ST_EVENT_BODY,     /* id -> trigger, data (unless the driver's claim_bodies) */
    ST_DELIVERY_RETRY, /* id, now -> webhook_id */
    ST_DELIVERY_RELEASE_ALL,
    /* webhook_id, status or NULL, created_at, id, limit, since, until, webhook_id or NULL */
    ST_DELIVERY_LIST_WEBHOOK,
    ST_DELIVERY_LIST_EVENT, /* event_id, the rest as above */
    /* community_id, the rest as above ($8 NULL): through events_by_community, newest first */
    ST_DELIVERY_LIST_COMMUNITY,
    ST_DELIVERY_GET,   /* id -> DELIVERY_COLS */
    ST_ATTEMPT_LIST,   /* delivery_id -> ATTEMPT_COLS */
    ST_DELIVERY_STATS, /* -> pending count, oldest pending created_at */
    ST_CACHE_GEN,      /* -> webhooks, auth */
    /* after_id, limit -> id, secret, prev_secret of every webhook, by id (the start-up reseal) */
    ST_WEBHOOK_SECRETS_PAGE,
    /* id, secret, prev_secret or NULL, the secret read, the prev_secret read (or NULL): changes
     * the row only if both are still what was read */
    ST_WEBHOOK_SECRETS_SET,
    /*
     * Quotas (store.c, "Quotas").  WEBHOOK_COLS, then the community's most
     * active webhooks: changes 1 row, or none when an active twin exists or
     * the community has that many (or does not exist: it has no usage row).
     * PostgreSQL locks the community's usage row first, so that the count
     * it compares is the one every concurrent registration leaves.
     */
    ST_WEBHOOK_INSERT_WITHIN,
    ST_USAGE_GET,  /* community_id -> active_webhooks (no row: no such community) */
    ST_USAGE_LOCK, /* webhook id -> its community's active_webhooks, locking that row (PG) */
    ST_QUOTA_GET,  /* community_id -> QUOTA_COLS */
    ST_QUOTA_SET,  /* community_id, QUOTA_COLS values (NULL: unset), updated_at: upsert */
    /* community_id, airmeet_id or NULL, session_id or NULL, created_at, id, limit ->
     * WEBHOOK_COLS of active webhooks after (created_at, id), oldest first */
    ST_WEBHOOK_PAGE,
    /*
     * Retention (store.c, "Retention"), over today's events, deliveries
     * and attempts.  The sets are JSON arrays of event ids (text), which
     * both dialects unnest (json_each, jsonb_array_elements_text).
     *
     * cutoff, after created_at, after id, limit -> id, created_at, and
     * whether the event looks purgeable (no delivery pending nor changed at
     * or after cutoff), of the events created before cutoff after (created_at,
     * id), oldest first.  PostgreSQL locks the events it returns, skipping
     * those another process holds.
     */
    ST_PURGE_SCAN,
    /*
     * ids, cutoff -> event_id, whether that delivery is final and older
     * than cutoff, and whether it keeps an attempt in its row, for every
     * delivery of the events; PostgreSQL locks them first.
     */
    ST_PURGE_HOLD,
    ST_PURGE_ATTEMPTS,   /* ids: deletes the attempts of the events' deliveries */
    ST_PURGE_DELIVERIES, /* ids: deletes the events' deliveries */
    ST_PURGE_EVENTS,     /* ids: deletes the events */
    /*
     * The trigger catalog and the event details of the scope endpoints
     * (store_catalog.c and store.c, "airmeets, sessions").
     */
    ST_AIRMEET_UPDATE, /* id, name, start_time, end_time, status, timezone, description */
    ST_AIRMEET_PAGE,   /* community_id, offset, limit -> AIRMEET_COLS, oldest first */
    ST_AIRMEET_COUNT,  /* community_id -> count */
    ST_SESSION_UPDATE, /* id, name, start_time, duration, status, summary, type */
    ST_SESSION_LIST,   /* airmeet_id -> SESSION_COLS by start_time, created_at, id */
    ST_CATALOG_INSERT, /* CATALOG_COLS */
    ST_CATALOG_GET,    /* id -> CATALOG_COLS */
    ST_CATALOG_LIST,   /* -> CATALOG_COLS by created_at, id */
    /* id, description, airmeet_scope, session_scope, sample, schema, retired_at, updated_at */
    ST_CATALOG_UPDATE,
    /*
     * The operator's lists (migration 9), oldest first after (created_at,
     * id).  A state is ah_webhook_state_name()'s text or NULL.
     */
    ST_COMMUNITY_PAGE, /* created_at, id, limit -> COMMUNITY_COLS */
    /* trigger or NULL, state or NULL, url part or NULL, created_at, id, limit -> WEBHOOK_COLS */
    ST_WEBHOOK_ADMIN_PAGE,
    /* community_id, then as ST_WEBHOOK_ADMIN_PAGE */
    ST_WEBHOOK_ADMIN_PAGE_COMMUNITY,
    /* trigger or NULL, since, until, created_at, id, limit -> EVENT_HEAD_COLS, newest first
     * before (created_at, id) */
    ST_EVENT_PAGE,
    /* community_id, then as ST_EVENT_PAGE */
    ST_EVENT_PAGE_COMMUNITY,
    ST_KEY_PAGE,          /* community_id, created_at, id, limit -> KEY_COLS, oldest first after */
    ST_AIRMEET_PAGE_FROM, /* community_id, created_at, id, limit -> AIRMEET_COLS, as above */
    ST_SESSION_PAGE,      /* airmeet_id, created_at, id, limit -> SESSION_COLS, as above */
    /* The web console (migration 11). */
    /* id_hash, role, community_id, key_id, link_id, read_only, csrf_token, created_at, seen_at,
     * expires_at */
    ST_CONSOLE_SESSION_INSERT,
    ST_CONSOLE_SESSION_FIND,   /* id_hash -> CONSOLE_SESSION_COLS */
    ST_CONSOLE_SESSION_TOUCH,  /* id_hash, seen_at */
    ST_CONSOLE_SESSION_DELETE, /* id_hash */
    ST_CONSOLE_SESSION_PURGE,  /* now, idle cutoff: the expired and the idle */
    ST_PORTAL_LINK_INSERT,     /* PORTAL_LINK_COLS */
    ST_PORTAL_LINK_FIND,       /* token_hash -> PORTAL_LINK_COLS */
    ST_PORTAL_LINK_GET,        /* id -> PORTAL_LINK_COLS */
    ST_PORTAL_LINK_LIST,       /* community_id -> PORTAL_LINK_COLS, oldest first */
    ST_PORTAL_LINK_REVOKE,     /* id, now: changes every matched row */
    /* `airhook listen` (migration 12, store_listener.c) */
    ST_LISTENER_SECRET_ADD,  /* access_key_id, secret, created_at: nothing if there is one */
    ST_LISTENER_SECRET_GET,  /* access_key_id -> secret */
    ST_LISTENER_SECRET_LIST, /* -> access_key_id, secret (every row: one per access key) */
    ST_LISTENER_SECRET_SWAP, /* access_key_id, new secret, old secret: only if still old */
    ST_LISTENER_INSERT,      /* LISTENER_COLS */
    ST_LISTENER_GET,         /* id -> LISTENER_COLS */
    ST_LISTENER_LIST,        /* -> LISTENER_COLS, oldest first */
    ST_LISTENER_TOUCH,       /* id, last_seen_at */
    ST_LISTENER_DELETE,      /* id */
    /*
     * The overview (migration 13): since -> communities, active webhooks
     * (community_usage), disabled webhooks (webhooks_disabled), events
     * created at or after since (events_by_age) and their deliveries
     * (deliveries_by_event), in one snapshot.
     */
    ST_OVERVIEW,
    /* limit -> WEBHOOK_COLS of disabled (not deregistered) webhooks, last changed first */
    ST_WEBHOOK_DISABLED_RECENT,
    AH_SQL_SHARED_COUNT
};

/* ------------------------------------------------------------------------ */
/* Parameters.                                                               */

#define AH_SQL_MAX_PARAMS 24

typedef enum ah_sql_type {
    AH_SQL_NULL,
    AH_SQL_TEXT,  /* s, len bytes; s[len] == '\0' unless !terminated */
    AH_SQL_I64,   /* i */
    AH_SQL_BOOL,  /* i: 0 or 1 */
    AH_SQL_BYTES, /* s, len bytes, kept byte for byte (PostgreSQL: bytea) */
} ah_sql_type_t;

typedef struct ah_sql_param {
    ah_sql_type_t type;
    bool terminated;
    size_t len;
    union {
        const char *s;
        int64_t i;
    } u;
} ah_sql_param_t;

/*
 * A statement's parameters, in order ($1, $2, ...).  They borrow the
 * caller's strings.  bad: a record field not terminated within its array,
 * or too many parameters; exec then runs nothing and answers AH_EINVAL.
 * Start with ah_sql_params_init (it clears only what it must).
 */
typedef struct ah_sql_params {
    int n;
    bool bad;
    ah_sql_param_t v[AH_SQL_MAX_PARAMS];
} ah_sql_params_t;

static inline void ah_sql_params_init(ah_sql_params_t *p)
{
    p->n = 0;
    p->bad = false;
}

static inline ah_sql_param_t *p_next(ah_sql_params_t *p, ah_sql_type_t type)
{
    if (p->n >= AH_SQL_MAX_PARAMS) {
        p->bad = true;
        return NULL;
    }
    ah_sql_param_t *v = &p->v[p->n++];
    v->type = type;
    v->terminated = true;
    v->len = 0;
    return v;
}

static inline void p_null(ah_sql_params_t *p)
{
    p_next(p, AH_SQL_NULL);
}

/* A string argument; NULL is SQL NULL. */
static inline void p_str(ah_sql_params_t *p, const char *s)
{
    if (!s) {
        p_null(p);
        return;
    }
    ah_sql_param_t *v = p_next(p, AH_SQL_TEXT);
    if (v) {
        v->u.s = s;
        v->len = strlen(s);
    }
}

/* An optional string argument: NULL or "" is SQL NULL. */
static inline void p_opt(ah_sql_params_t *p, const char *s)
{
    p_str(p, s && *s ? s : NULL);
}

/* len bytes of text that need not be terminated (an event body). */
static inline void p_text(ah_sql_params_t *p, const char *s, size_t len)
{
    if (!s) {
        p_null(p);
        return;
    }
    ah_sql_param_t *v = p_next(p, AH_SQL_TEXT);
    if (v) {
        v->u.s = s;
        v->len = len;
        v->terminated = false;
    }
}

/* A text field of a record, which must be terminated within its cap bytes. */
static inline void p_field(ah_sql_params_t *p, const char *f, size_t cap)
{
    size_t len = strnlen(f, cap);
    if (len >= cap)
        p->bad = true;
    ah_sql_param_t *v = p_next(p, AH_SQL_TEXT);
    if (v) {
        v->u.s = f;
        v->len = len;
    }
}

/* An optional field: "" is SQL NULL. */
static inline void p_opt_field(ah_sql_params_t *p, const char *f, size_t cap)
{
    if (!f[0])
        p_null(p);
    else
        p_field(p, f, cap);
}

static inline void p_i64(ah_sql_params_t *p, int64_t i)
{
    ah_sql_param_t *v = p_next(p, AH_SQL_I64);
    if (v)
        v->u.i = i;
}

static inline void p_bool(ah_sql_params_t *p, bool b)
{
    ah_sql_param_t *v = p_next(p, AH_SQL_BOOL);
    if (v)
        v->u.i = b ? 1 : 0;
}

/* Raw bytes; empty is SQL NULL. */
static inline void p_bytes(ah_sql_params_t *p, const char *b, size_t len)
{
    if (!len) {
        p_null(p);
        return;
    }
    ah_sql_param_t *v = p_next(p, AH_SQL_BYTES);
    if (v) {
        v->u.s = b;
        v->len = len;
        v->terminated = false;
    }
}

#define P_FIELD(p, f) p_field((p), (f), sizeof(f))
#define P_OPT_FIELD(p, f) p_opt_field((p), (f), sizeof(f))

/* ------------------------------------------------------------------------ */
/* Rows.                                                                     */

typedef struct ah_sql_row ah_sql_row_t;

/* How a backend reads a column of the current row. */
typedef struct ah_sql_row_ops {
    bool (*is_null)(const ah_sql_row_t *r, int col);
    int64_t (*i64)(const ah_sql_row_t *r, int col);  /* NULL reads 0 */
    bool (*boolean)(const ah_sql_row_t *r, int col); /* NULL reads false */
    /* The text of a column, NUL-terminated, valid until the next row; NULL reads NULL, len 0. */
    const char *(*text)(const ah_sql_row_t *r, int col, size_t *len);
    /* A bytes column (ah_sql_type_t AH_SQL_BYTES) into dst, truncating; NULL reads "". */
    void (*bytes)(const ah_sql_row_t *r, int col, char *dst, size_t cap);
} ah_sql_row_ops_t;

struct ah_sql_row {
    const ah_sql_row_ops_t *ops;
    void *res;     /* the backend's statement or result */
    int index;     /* the row's number in res, where the backend needs one */
    size_t n_hint; /* how many rows the result has, when known in advance (else 0) */
};

static inline bool sql_null(const ah_sql_row_t *r, int col)
{
    return r->ops->is_null(r, col);
}

static inline int64_t sql_i64(const ah_sql_row_t *r, int col)
{
    return r->ops->i64(r, col);
}

static inline bool sql_bool(const ah_sql_row_t *r, int col)
{
    return r->ops->boolean(r, col);
}

static inline const char *sql_text(const ah_sql_row_t *r, int col, size_t *len)
{
    return r->ops->text(r, col, len);
}

/* Copies a column into dst (cap bytes), truncating; NULL reads as "". */
static inline void sql_copy(const ah_sql_row_t *r, int col, char *dst, size_t cap)
{
    size_t n = 0;
    const char *v = sql_text(r, col, &n);
    if (!v)
        n = 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, v, n);
    dst[n] = '\0';
}

/* Copies a column into a malloc'd, NUL-terminated buffer (caller frees). */
static inline int sql_dup(const ah_sql_row_t *r, int col, char **out, size_t *len)
{
    size_t n = 0;
    const char *v = sql_text(r, col, &n);
    if (!v)
        n = 0;
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

#define SQL_COPY(r, col, f) sql_copy((r), (col), (f), sizeof(f))

/*
 * A row callback: AH_OK for the next row, AH_SQL_STOP to end the statement
 * there (no more rows are read), or a failure, which exec returns.
 */
#define AH_SQL_STOP 1
typedef int (*ah_sql_row_fn)(void *arg, const ah_sql_row_t *r);

/* ------------------------------------------------------------------------ */
/* The driver.                                                               */

/* A backend's connection; each backend defines the struct. */
typedef struct ah_sql_conn ah_sql_conn_t;

typedef enum ah_sql_mode {
    AH_SQL_READ,     /* a connection for reads, each statement its own snapshot */
    AH_SQL_WRITE,    /* the connection writes take (SQLite: the one writer), no transaction */
    AH_SQL_READ_TX,  /* a read-only transaction: one snapshot for several reads */
    AH_SQL_WRITE_TX, /* a write transaction, whose locks are taken before it reads */
    /*
     * AH_SQL_WRITE_TX whose loss in a crash of the database server (not of
     * airhook) would only make work be done again, never lose any: a claim's
     * leases.  PostgreSQL does not wait for its commit to reach the disk
     * (synchronous_commit off for it); SQLite runs it as AH_SQL_WRITE_TX.
     */
    AH_SQL_WRITE_TX_LAZY,
    /*
     * A read transaction that no write of this process runs beside
     * (SQLite: on the writer connection, under its mutex), for reads that
     * must stay true until the caller acts on them (memory_leases claims).
     * A backend without it runs a write transaction.
     */
    AH_SQL_SERIAL_TX,
} ah_sql_mode_t;

typedef int (*ah_sql_tx_fn)(ah_sql_conn_t *c, void *arg);

typedef struct ah_sql_driver {
    /*
     * Runs statement stmt with parameters p (NULL: none) on c, or when c is
     * NULL on a connection borrowed for it alone (write: the connection that
     * writes take).  Hands each row to row(arg, r) (row NULL: rows are not
     * read), and sets *changed (may be NULL) to the rows it inserted,
     * updated or deleted.  Returns AH_OK or a status: constraint results are
     * AH_EEXISTS (unique), AH_ENOTFOUND (foreign key), AH_EINVAL (not null,
     * check, bad parameters), a lost database AH_EUNAVAIL, else AH_ESTORE.
     */
    int (*exec)(ah_store_t *s, ah_sql_conn_t *c, bool write, int stmt, const ah_sql_params_t *p,
                ah_sql_row_fn row, void *arg, size_t *changed);
    /*
     * Borrows a connection for fn(c, arg) in mode; in a transaction mode,
     * commits when fn returns AH_OK and rolls back otherwise.  A backend may
     * run fn again in a fresh transaction (PostgreSQL, after a deadlock or
     * serialization failure), so fn must start its outputs afresh.
     */
    int (*run)(ah_store_t *s, ah_sql_mode_t mode, ah_sql_tx_fn fn, void *arg);
    /*
     * Inside a write transaction: tells every process sharing the store
     * that webhook_id has work due at `due`, at commit.  NULL for a store
     * that only one process uses.
     */
    int (*notify)(ah_sql_conn_t *c, const char *webhook_id, int64_t due);
    /* Text parameters must be valid UTF-8: a lookup by a key that is not finds nothing. */
    bool utf8_only;
    /* ST_CLAIM returns each claim's trigger and body (else ST_EVENT_BODY reads them). */
    bool claim_bodies;
    /* delivery_claim_many claims for every webhook in one transaction (else one each). */
    bool claim_in_one_tx;
    /*
     * Leases of deliveries live in this process's memory, not in the
     * database: one process delivers from the store (SQLite;
     * ah_store_delivery_own), or one process at a time delivers each
     * webhook (webhook_lease).  A claim then writes no delivery row:
     * ST_CLAIM reads the webhook's pending deliveries, and the store layer
     * skips those it holds leased and notes those it hands out (store.c,
     * "Leases in memory").
     */
    bool memory_leases;
    /*
     * With memory_leases: ST_CLAIM takes a third parameter, the ids of the
     * webhook's deliveries leased here (a JSON array), and returns none of
     * them, so that a claim does not read again (with their bodies) the
     * deliveries still in flight.
     */
    bool claim_skips_leased;
    /*
     * NULL: one process delivers from the store.  Else, inside a claim's
     * write transaction, before ST_CLAIM: takes the webhook's lease for
     * this process (if it is free or lapsed at now) or renews this
     * process's own (when it ends much before lease_until), and sets *held
     * to when this process's lease ends (lease_until, or a little less
     * when it was not renewed), 0 when another process holds it.
     */
    int (*webhook_lease)(ah_store_t *s, ah_sql_conn_t *c, const char *webhook_id, int64_t now,
                         int64_t lease_until, int64_t *held);
    /*
     * With webhook_lease: tells the other processes that this one delivers
     * until lease_until (each takes its share of the webhooks counted
     * against the live ones), committed at once, outside any claim, so
     * that it counts before this process's first claim does; writes only
     * when the last word ends before lease_until by more than the renewal
     * slack.
     */
    int (*node_alive)(ah_store_t *s, int64_t now, int64_t lease_until);
} ah_sql_driver_t;

/* ------------------------------------------------------------------------ */
/* What the store layer offers backends (store_sql.c).                       */

/* Fills out from the current row. */
typedef void (*ah_sql_map_fn)(const ah_sql_row_t *r, void *out);
/*
 * Runs statement stmt on c (or, c NULL, on a connection borrowed for it):
 * its first row into out through map; AH_ENOTFOUND when there is none.
 */
int ah_sql_one(ah_store_t *s, ah_sql_conn_t *c, bool write, int stmt, const ah_sql_params_t *p,
               ah_sql_map_fn map, void *out);
/*
 * Runs statement stmt, which returns no rows wanted, on a connection
 * borrowed for it; *changed (if not NULL) the rows it changed.
 */
int ah_sql_cmd(ah_store_t *s, bool write, int stmt, const ah_sql_params_t *p, size_t *changed);
/*
 * Runs write statement stmt as ah_sql_cmd does, for a row that must be
 * there: AH_ENOTFOUND when it changed none.
 */
int ah_sql_cmd_found(ah_store_t *s, int stmt, const ah_sql_params_t *p);
/*
 * Every row into a malloc'd array (NULL when empty) of elements of `size`
 * bytes; more than AH_STORE_LIST_MAX rows is AH_ETOOBIG.
 */
int ah_sql_all(ah_store_t *s, ah_sql_conn_t *c, int stmt, const ah_sql_params_t *p,
               ah_sql_map_fn map, size_t size, void **out, size_t *n);

/* Row mappers; a record's is cleared first, then filled from the columns of its list. */
void ah_sql_map_i64(const ah_sql_row_t *r, void *out); /* column 0 into an int64_t */
void ah_sql_map_id(const ah_sql_row_t *r, void *out);  /* column 0 into a char[AH_ID_SIZE] */
void ah_sql_map_webhook(const ah_sql_row_t *r, void *out);
void ah_sql_map_due(const ah_sql_row_t *r, void *out); /* webhook_id, next_due */

/*
 * Every column of w as parameters 1..21 in WEBHOOK_COLS order, but the
 * secrets: secret and prev_secret ("" or NULL: NULL) are what to store,
 * sealed by ah_sql_seal_secret.
 */
void ah_sql_bind_webhook(ah_sql_params_t *p, const ah_webhook_t *w, const char *secret,
                         const char *prev_secret);

/*
 * Webhook signing secrets at rest (docs/operations.md, "Secrets").  The
 * secret and prev_secret columns hold text sealed under the store's
 * keyring (common/crypto.h), bound to the webhook's id, so no schema
 * change was needed.  ah_sql_map_webhook leaves both fields "": the reads
 * that hand secrets out open them with ah_sql_open_secrets.
 */
#define AH_SECRET_AAD_SIZE 64 /* "airhook webhook secret <id>" */
/* ah_seal_size(AH_SECRET_MAX - 1), rounded up. */
#define AH_SECRET_SEALED_SIZE 192
/* What a webhook's secret is bound to: its id. */
void ah_sql_secret_aad(const char *webhook_id, char out[AH_SECRET_AAD_SIZE]);
/*
 * What to store for plain (a field of AH_SECRET_MAX): sealed under kr's
 * current key, or as it is when kr has no key or plain is "".  AH_EINVAL
 * if plain is not terminated within AH_SECRET_MAX.
 */
int ah_sql_seal_secret(const ah_keyring_t *kr, const char *webhook_id, const char *plain,
                       char out[AH_SECRET_SEALED_SIZE]);
/*
 * A stored secret v (len bytes) into out (cap bytes): opened when sealed,
 * copied when plain (a database from before sealing).  AH_ESTORE (logged)
 * when it is sealed with a key kr lacks, or does not open.
 */
int ah_sql_open_text(const ah_keyring_t *kr, const char *webhook_id, const char *v, size_t len,
                     char *out, size_t cap);
/* Columns 16 and 17 of a WEBHOOK_COLS row into w->secret and w->prev_secret (w->id set). */
int ah_sql_open_secrets(const ah_keyring_t *kr, const ah_sql_row_t *r, ah_webhook_t *w);

/* A bounded id field copied into another, always terminated. */
void ah_sql_copy_id(char dst[AH_ID_SIZE], const char *src);
/*
 * Lists of ids as parameters are JSON arrays of strings, which both dialects
 * unnest.  AH_SQL_JSON_ID_MAX: the most one element takes (an id with every
 * character escaped, its quotes and a comma); ah_sql_json_id appends id to
 * s at *len (after a comma unless first) and advances *len.
 */
#define AH_SQL_JSON_ID_MAX (2 * AH_ID_SIZE + 3)
void ah_sql_json_id(char *s, size_t *len, const char *id, bool first);
/*
 * Page cursors (delivery and webhook lists, the purge): "<created_at>_<id>"
 * of a page's last row; the next page starts strictly after it in
 * (created_at, id) order.  Parsing gives AH_EINVAL for anything else.
 */
int ah_sql_parse_cursor(const char *cursor, int64_t *at, char id[AH_ID_SIZE]);
void ah_sql_format_cursor(int64_t at, const char *id, char cursor[AH_CURSOR_SIZE]);

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
size_t ah_utf8_seq_len(const unsigned char *p, size_t n);
/* True when s is valid UTF-8. */
bool ah_utf8_valid(const char *s);

/*
 * Publishing, inside the caller's write transaction.  insert_event stores
 * ev, *inserted = false when its idempotency key was taken (ON CONFLICT);
 * find_duplicate fills res from the first event with ev's key (AH_ENOTFOUND
 * if there is none); fan_out makes one pending delivery per matching
 * webhook and lists them in res.
 */
int ah_sql_insert_event(ah_store_t *s, ah_sql_conn_t *c, const ah_event_t *ev, bool *inserted);
int ah_sql_find_duplicate(ah_store_t *s, ah_sql_conn_t *c, const ah_event_t *ev,
                          ah_publish_result_t *res);
int ah_sql_fan_out(ah_store_t *s, ah_sql_conn_t *c, const ah_event_t *ev, ah_publish_result_t *res);

/* Whether webhook id is active and not deregistered; AH_ENOTFOUND if it is missing. */
int ah_sql_webhook_live(ah_store_t *s, ah_sql_conn_t *c, const char *id, bool *live);

#endif
