/* SPDX-License-Identifier: MIT */
/*
 * store.h: the storage interface.
 *
 * Everything airhook keeps lives behind ah_store_t, and every caller reaches
 * it through the ah_store_*() functions below, in the manner of curl's
 * vtls.c in front of its TLS backends.  ah_store_open() picks the backend
 * from the DSN ("sqlite:PATH", a bare path, or "postgres://…"): SQLite
 * (store_sqlite.c) for one process, PostgreSQL (store_pg.c) for several
 * processes sharing one database.  The contract of each operation is
 * written here, above its declaration, and holds on both; the store layer
 * (store.c, backend.h) checks the arguments and applies the limits before
 * any backend runs, so both answer bad input alike.
 *
 * Rules every operation keeps:
 *  - Thread-safe: any thread may call any function at any time (each
 *    backend keeps a pool of connections).
 *  - Prepared statements only; no input is ever pasted into SQL.
 *  - Times are int64 milliseconds since the epoch; 0 means "unset".
 *  - Ids are lowercase UUID strings; "" means "unset" (NULL in SQL).
 *  - Records are plain structs with fixed-size fields; the caller owns them.
 *    A record's text field must be NUL-terminated within its array, else
 *    the operation answers AH_EINVAL and writes nothing.  Rows read back are
 *    copied into the fields with bounded, truncating copies.
 *    Arrays returned through `T **out, size_t *n` are malloc'd by the store
 *    and freed by the caller with free(); they are NULL with *n = 0 when
 *    empty or on failure.  A list never holds more than AH_STORE_LIST_MAX
 *    rows: a longer one is AH_ETOOBIG.
 *  - Returns AH_OK, AH_ENOTFOUND (also: a parent id that does not exist),
 *    AH_EEXISTS, AH_EUNAVAIL (backend unreachable), AH_ESTORE, and more
 *    rarely AH_EINVAL (a required argument missing or malformed, a NOT NULL
 *    column left unset, or text PostgreSQL cannot store: not UTF-8, or a NUL
 *    byte), AH_ETOOBIG (a value larger than the caller's buffer) or
 *    AH_ENOMEM.
 *  - A lookup by a string key (the *_get and *_find functions) finds nothing
 *    (AH_ENOTFOUND) for a NULL key, or on PostgreSQL for a key that is not
 *    valid UTF-8: no stored key is.
 *  - Secrets never arrive in clear: access-key secrets and tokens are passed
 *    as SHA-256 hex hashes.  Webhook signing secrets are sealed at rest
 *    (AES-256-GCM, bound to their webhook's id) under the keys given to
 *    ah_store_secrets_init, and opened only by the reads that hand them
 *    out (webhook_get, register, claims); lists leave them "".
 */
#ifndef AH_STORE_H
#define AH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airhook/airhook.h"
#include "common/crypto.h"
#include "common/util.h"

/* Field caps; inputs longer than these are rejected with 400 by the API. */
#define AH_NAME_MAX 256      /* names, labels, platformName: < 256 bytes */
#define AH_DESC_MAX 1024     /* description, metaData: < 1024 bytes */
#define AH_URL_MAX 2048      /* url: < 2048 bytes */
#define AH_TRIGGER_MAX 64    /* triggerMetaInfoId */
#define AH_SECRET_MAX 96     /* whsec_… signing secret */
#define AH_REASON_MAX 128    /* why a webhook was disabled */
#define AH_ACCESS_KEY_MAX 64 /* the public half of a key pair */

/* Limits of the store layer, the same on every backend. */
#define AH_STORE_LIST_MAX 100000 /* most rows one list call returns; more is AH_ETOOBIG */
#define AH_STORE_CLAIM_MAX 10000 /* most deliveries one claim hands out, whatever max says */
#define AH_DELIVERY_PAGE_MAX 500 /* most rows one delivery_list page holds */

typedef struct ah_community {
    char id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    int64_t created_at;
} ah_community_t;

typedef struct ah_access_key {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char label[AH_NAME_MAX];
    char access_key[AH_ACCESS_KEY_MAX];   /* public half, looked up by value */
    char secret_hash[AH_SHA256_HEX_SIZE]; /* sha256 hex of the secret half */
    int64_t created_at;
    int64_t revoked_at; /* 0 while valid */
} ah_access_key_t;

typedef struct ah_token {
    char token_hash[AH_SHA256_HEX_SIZE];
    char key_id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char label[AH_NAME_MAX];
    int64_t created_at;
    int64_t expires_at;
} ah_token_t;

/* Caps of the event details the scope endpoints answer (GET /api/v1/airmeets, .../info). */
#define AH_STATUS_MAX 32       /* "CREATED", "ONGOING", "FINISHED": < 32 bytes */
#define AH_TIMEZONE_MAX 64     /* an IANA time zone name: < 64 bytes */
#define AH_SESSION_TYPE_MAX 32 /* "HOSTING", "FLUID_LOUNGE": < 32 bytes */

typedef struct ah_airmeet {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    int64_t start_time; /* 0 when unset */
    int64_t end_time;
    int64_t created_at;
    /* What the operator sets for the event API; "" when unset. */
    char status[AH_STATUS_MAX];
    char timezone[AH_TIMEZONE_MAX];
    char description[AH_DESC_MAX];
} ah_airmeet_t;

typedef struct ah_session {
    char id[AH_ID_SIZE];
    char airmeet_id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    int64_t created_at;
    /* What the operator sets for the event API; 0 or "" when unset. */
    int64_t start_time;
    int64_t duration; /* minutes */
    char status[AH_STATUS_MAX];
    char summary[AH_DESC_MAX];
    char type[AH_SESSION_TYPE_MAX];
} ah_session_t;

typedef struct ah_webhook {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char trigger[AH_TRIGGER_MAX];
    char name[AH_NAME_MAX];
    char description[AH_DESC_MAX];
    bool has_description; /* false: JSON null */
    char url[AH_URL_MAX];
    char platform_name[AH_NAME_MAX];
    char airmeet_id[AH_ID_SIZE]; /* "" = any airmeet */
    char session_id[AH_ID_SIZE]; /* "" = any session */
    bool is_active;
    char disabled_reason[AH_REASON_MAX]; /* "" while active */
    char meta_data[AH_DESC_MAX];
    int64_t created_at;
    int64_t updated_at;
    char created_by[AH_NAME_MAX];
    char updated_by[AH_NAME_MAX];
    bool has_updated_by;             /* false: JSON null */
    char secret[AH_SECRET_MAX];      /* current signing secret, whsec_… */
    char prev_secret[AH_SECRET_MAX]; /* previous secret during rotation, or "" */
    int64_t prev_secret_until;       /* prev_secret is used until then */
    int64_t deregistered_at;         /* 0 unless deregistered */
    int64_t failing_since;           /* first failure of the current streak, 0 if none */
} ah_webhook_t;

/* ---- events and deliveries (SPEC §5, §6) ---- */

#define AH_IDEMPOTENCY_MAX 256    /* idempotencyKey: < 256 bytes */
#define AH_ERROR_MAX 256          /* an attempt's error sentence */
#define AH_RESPONSE_HEAD_MAX 1025 /* first 1 KiB of a response body + NUL */
/* first 2 KiB of a response's status line and header lines (CRLF kept) + NUL */
#define AH_RESPONSE_HEADERS_EXCERPT 2049

typedef enum ah_delivery_status {
    AH_DLV_PENDING = 0,
    AH_DLV_SUCCEEDED = 1,
    AH_DLV_FAILED = 2,
    AH_DLV_CANCELLED = 3
} ah_delivery_status_t;

/* "pending", "succeeded", "failed", "cancelled". */
const char *ah_delivery_status_name(int status);
/* The status named s, or -1. */
int ah_delivery_status_parse(const char *s);

typedef struct ah_event {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char trigger[AH_TRIGGER_MAX];
    char airmeet_id[AH_ID_SIZE];              /* "" = none */
    char session_id[AH_ID_SIZE];              /* "" = none */
    char idempotency_key[AH_IDEMPOTENCY_MAX]; /* "" = none */
    char *data;                               /* the JSON body to deliver, byte for byte */
    size_t data_len; /* on publish: borrowed; from event_get: malloc'd, caller frees */
    int64_t created_at;
    bool test; /* made by ah_store_event_publish_test (read by event_page; ignored on publish) */
} ah_event_t;

typedef struct ah_publish_result {
    char event_id[AH_ID_SIZE]; /* the new event, or the first one with that idempotency key */
    bool duplicate;            /* true: idempotency key seen before; nothing was created */
    size_t n_deliveries; /* deliveries created (or, for a duplicate, that the first created) */
    char (*webhook_ids)[AH_ID_SIZE]; /* malloc'd: the webhooks that got a delivery; caller frees */
} ah_publish_result_t;

typedef struct ah_delivery {
    char id[AH_ID_SIZE];
    char event_id[AH_ID_SIZE];
    char webhook_id[AH_ID_SIZE];
    char trigger[AH_TRIGGER_MAX]; /* the event's */
    int status;                   /* ah_delivery_status_t */
    int attempts;                 /* attempts made so far */
    int64_t next_attempt_at;      /* when pending: due time */
    int64_t lease_until;          /* a dispatcher holds it until then; 0 = free */
    int64_t created_at;
    int64_t updated_at;
    int last_status_code; /* 0 = no HTTP answer */
    char last_error[AH_ERROR_MAX];
} ah_delivery_t;

typedef struct ah_attempt {
    int attempt_no; /* 1-based */
    int64_t started_at;
    int64_t duration_ms;
    int status_code;                          /* 0 = no HTTP answer */
    char error[AH_ERROR_MAX];                 /* "" on success */
    char response_head[AH_RESPONSE_HEAD_MAX]; /* first 1 KiB of the body */
    /* first 2 KiB of the last header block (status line and headers); "" without an answer */
    char response_headers[AH_RESPONSE_HEADERS_EXCERPT];
} ah_attempt_t;

/* A delivery handed to a dispatcher by delivery_claim. */
typedef struct ah_claim {
    char delivery_id[AH_ID_SIZE];
    char event_id[AH_ID_SIZE];
    char trigger[AH_TRIGGER_MAX];
    int attempts; /* attempts made before this one */
    char *data;   /* malloc'd event body; freed with ah_claims_free */
    size_t data_len;
    int64_t due; /* when it was due (ms): its event's publish, or its retry's time */
} ah_claim_t;

/* Frees an array of claims and their bodies. */
void ah_claims_free(ah_claim_t *claims, size_t n);

/* A webhook with pending deliveries, and when the earliest is due. */
typedef struct ah_due {
    char webhook_id[AH_ID_SIZE];
    int64_t next_due;
} ah_due_t;

/* One webhook's part of delivery_claim_many. */
typedef struct ah_claim_req {
    char webhook_id[AH_ID_SIZE]; /* in */
    size_t max;                  /* in: claim at most this many */
    ah_webhook_t *webhook;       /* in, optional: receives the webhook's row */
    int rc;                      /* out: AH_OK, AH_ENOTFOUND (no such webhook), or a failure */
    ah_claim_t *claims;          /* out: malloc'd, freed with ah_claims_free */
    size_t n;                    /* out */
    int64_t next_due;            /* out: as delivery_claim's */
} ah_claim_req_t;

typedef enum { AH_OUTCOME_SUCCEEDED, AH_OUTCOME_RETRY, AH_OUTCOME_FAILED } ah_outcome_t;

/* The status a delivery takes after an attempt with outcome o ("pending" for a retry); NULL if o is
 * none. */
const char *ah_outcome_status(ah_outcome_t o);

/* What one attempt came to, as the dispatcher records it. */
typedef struct ah_attempt_result {
    char delivery_id[AH_ID_SIZE];
    char webhook_id[AH_ID_SIZE];
    ah_attempt_t attempt;
    ah_outcome_t outcome;
    int64_t next_attempt_at; /* for AH_OUTCOME_RETRY */
    /*
     * Webhook consequences: disable_reason non-empty disables the webhook
     * now (410 Gone, or failing too long).  On success failing_since is
     * cleared; on failure it is set to attempt.started_at if it was 0.
     */
    char disable_reason[AH_REASON_MAX];
} ah_attempt_result_t;

typedef struct ah_delivery_filter {
    const char *webhook_id; /* at least one of webhook_id / event_id / community_id */
    const char *event_id;
    const char *community_id; /* used without the two above: the deliveries of its events */
    int status;               /* -1 = any */
    int64_t since;            /* 0 = any; else only deliveries created at or after it */
    int64_t until;            /* 0 = any; else only deliveries created before it */
    const char *cursor;       /* NULL or "" = first page; else from next_cursor */
    size_t limit;             /* 1..AH_DELIVERY_PAGE_MAX */
} ah_delivery_filter_t;

#define AH_CURSOR_SIZE 80

typedef struct ah_delivery_stats {
    int64_t pending;                   /* deliveries waiting or in flight */
    int64_t oldest_pending_created_at; /* 0 when none is pending */
} ah_delivery_stats_t;

/*
 * Generations of what the API caches (src/api/cache.h).  Each grows by at
 * least one with every committed change, by any process sharing the store,
 * to the rows it covers; triggers in the database bump them, in the same
 * transaction as the change.
 */
typedef struct ah_cache_gen {
    /* What webhook-list shows or selects: any webhook inserted or deleted,
     * or updated in a listed field, is_active, scope or deregistered_at
     * (delivery bookkeeping such as failing_since leaves it alone). */
    int64_t webhooks;
    /* What authentication and scope checks read: access keys inserted,
     * updated or deleted (the key cache also remembers keys that were not
     * found, so that they are answered with the same work as wrong
     * secrets); tokens, airmeets and sessions updated or deleted (their
     * inserts need no bump: those caches only hold rows that were found);
     * and any community's quotas set. */
    int64_t auth;
} ah_cache_gen_t;

typedef struct ah_store ah_store_t;

/*
 * Opens the store named by dsn ("sqlite:PATH", "sqlite::memory:", a plain
 * path, or "postgres://…"), creating and migrating the schema as needed.
 * On failure returns NULL-out and writes a sentence into err.
 */
int ah_store_open(const char *dsn, ah_store_t **out, char *err, size_t errlen);
void ah_store_close(ah_store_t *s);

/* The backend's name: "sqlite", "postgres". */
const char *ah_store_name(const ah_store_t *s);
/*
 * True when several airhook processes may share this store (PostgreSQL): a
 * process must then never clear leases it did not take; they expire.
 */
bool ah_store_shared(const ah_store_t *s);
/* AH_OK when the backend answers a trivial query. */
int ah_store_ping(ah_store_t *s);

/*
 * The SQLite file a DSN names ("sqlite:PATH", "sqlite://PATH", a bare path:
 * a pointer into dsn, possibly ":memory:" or ""), or NULL for PostgreSQL.
 */
const char *ah_store_dsn_path(const char *dsn);

/* ---- the keys of the webhook signing secrets (docs/operations.md, "Secrets") ---- */

/*
 * Gives the store its keys (copied; kr->keys[0] seals, every key opens) and
 * brings the database in line with them, before the store is shared by
 * threads (at start):
 *  - a key check in the settings table (a text sealed under the current
 *    key) is made if there is none, and must open: AH_ENOTFOUND (with a
 *    sentence in err naming the key) when the database was used with a key
 *    that is not given;
 *  - every webhook is read: AH_ENOTFOUND, nothing written, when a secret is
 *    sealed with a key not given; then every secret that is plain (a
 *    database from before sealing) or sealed under another given key is
 *    sealed under the current one, a page per transaction, each row only
 *    if it still holds what was read.  *n_sealed (may be NULL) counts them.
 * Without this call secrets are stored as they are (unit tests, tools).
 */
int ah_store_secrets_init(ah_store_t *s, const ah_keyring_t *kr, size_t *n_sealed, char *err,
                          size_t errlen);
/*
 * The id of the key the database's secrets are sealed with (its key
 * check), or AH_ENOTFOUND when no key was ever given to it.
 */
int ah_store_secrets_key_id(ah_store_t *s, char id[AH_KEY_ID_LEN + 1]);

/* ---- settings: a small key/value table for server state (the admin token hash) ---- */

/*
 * AH_ENOTFOUND if unset; AH_ETOOBIG if the value does not fit outsz (nothing
 * truncated); AH_EINVAL if key or out is NULL or outsz is 0.
 */
int ah_store_setting_get(ah_store_t *s, const char *key, char *out, size_t outsz);
/* AH_EINVAL if key or value is NULL. */
int ah_store_setting_set(ah_store_t *s, const char *key, const char *value);
/* Like setting_set, but AH_EEXISTS (and nothing written) when key is set. */
int ah_store_setting_add(ah_store_t *s, const char *key, const char *value);

/*
 * ---- communities, key pairs, tokens, airmeets, sessions ----
 *
 * Every *_create answers AH_EINVAL for a NULL record, a text field not
 * terminated within its array, or an id or other required field left "".
 */

/* AH_EEXISTS if the id is taken. */
int ah_store_community_create(ah_store_t *s, const ah_community_t *c);
int ah_store_community_get(ah_store_t *s, const char *id, ah_community_t *out);
/* Every community, oldest first. */
int ah_store_community_list(ah_store_t *s, ah_community_t **out, size_t *n);

/* Most rows one page of an operator's list (communities, webhooks) holds. */
#define AH_LIST_PAGE_MAX 500

/*
 * A page of the communities, oldest first: at most limit (1..AH_LIST_PAGE_MAX)
 * after cursor (NULL or "": from the oldest; else a next_cursor this
 * function returned).  next_cursor (may be NULL) receives where the next
 * page starts, or "" after the last; it orders by (created_at, id), so a
 * page is never shifted by communities created meanwhile.  AH_EINVAL for a
 * limit out of range or a cursor this function did not return.
 */
int ah_store_community_page(ah_store_t *s, const char *cursor, size_t limit, ah_community_t **out,
                            size_t *n, char next_cursor[AH_CURSOR_SIZE]);

/* AH_EEXISTS if id or access_key is taken; AH_ENOTFOUND if the community is not there. */
int ah_store_access_key_create(ah_store_t *s, const ah_access_key_t *k);
/* Looks a key up by its public half (see the rule on lookups at the top). */
int ah_store_access_key_find(ah_store_t *s, const char *access_key, ah_access_key_t *out);
int ah_store_access_key_get(ah_store_t *s, const char *id, ah_access_key_t *out);
/* A community's keys, oldest first (none for a NULL community_id). */
int ah_store_access_key_list(ah_store_t *s, const char *community_id, ah_access_key_t **out,
                             size_t *n);
/* Sets revoked_at (if not already set).  AH_ENOTFOUND if no such key. */
int ah_store_access_key_revoke(ah_store_t *s, const char *id, int64_t now);

/* Tokens from POST /auth, stored by hash. */
int ah_store_token_create(ah_store_t *s, const ah_token_t *t);
int ah_store_token_find(ah_store_t *s, const char *token_hash, ah_token_t *out);
/* Deletes tokens expired before `now`; *n_deleted may be NULL. */
int ah_store_token_purge(ah_store_t *s, int64_t now, size_t *n_deleted);

/* AH_EEXISTS if the id is taken; AH_ENOTFOUND if the parent is not there. */
int ah_store_airmeet_create(ah_store_t *s, const ah_airmeet_t *a);
int ah_store_airmeet_get(ah_store_t *s, const char *id, ah_airmeet_t *out);
int ah_store_session_create(ah_store_t *s, const ah_session_t *ss);
int ah_store_session_get(ah_store_t *s, const char *id, ah_session_t *out);

/*
 * Replaces what may change of airmeet a->id (name, start_time, end_time,
 * status, timezone, description) with a's; its community and creation
 * stay.  AH_ENOTFOUND if there is no such airmeet; AH_EINVAL as create's.
 */
int ah_store_airmeet_update(ah_store_t *s, const ah_airmeet_t *a);
/*
 * Replaces what may change of session ss->id (name, start_time, duration,
 * status, summary, type) with ss's.  AH_ENOTFOUND if there is no such
 * session; AH_EINVAL as create's.
 */
int ah_store_session_update(ah_store_t *s, const ah_session_t *ss);

/* Most airmeets one page of ah_store_airmeet_page holds. */
#define AH_AIRMEET_PAGE_MAX 500

/*
 * A page of a community's airmeets in order of creation (created_at, then
 * id): at most limit (1..AH_AIRMEET_PAGE_MAX) from position offset (0 is
 * the oldest), read in one snapshot with *total, how many the community
 * has.  Airmeets are never deleted, so a position names the same airmeet
 * from page to page.  AH_EINVAL for a NULL community_id, limit out of
 * range or offset above INT64_MAX; a community without airmeets (or no such
 * community) has none: AH_OK, *n = 0.
 */
int ah_store_airmeet_page(ah_store_t *s, const char *community_id, uint64_t offset, size_t limit,
                          ah_airmeet_t **out, size_t *n, int64_t *total);
/* The sessions of an airmeet by start time, then creation (none for a NULL id). */
int ah_store_session_list(ah_store_t *s, const char *airmeet_id, ah_session_t **out, size_t *n);

/*
 * Pages of a parent's children for the operator, oldest first by
 * (created_at, id): a community's key pairs, a community's airmeets, an
 * airmeet's sessions.  At most limit (1..AH_LIST_PAGE_MAX) after cursor;
 * next_cursor as ah_store_community_page's.  A parent that does not exist
 * (or NULL) has none.  AH_EINVAL for a limit out of range or a cursor not
 * handed out by the same function.
 */
int ah_store_access_key_page(ah_store_t *s, const char *community_id, const char *cursor,
                             size_t limit, ah_access_key_t **out, size_t *n,
                             char next_cursor[AH_CURSOR_SIZE]);
int ah_store_airmeet_page_from(ah_store_t *s, const char *community_id, const char *cursor,
                               size_t limit, ah_airmeet_t **out, size_t *n,
                               char next_cursor[AH_CURSOR_SIZE]);
int ah_store_session_page(ah_store_t *s, const char *airmeet_id, const char *cursor, size_t limit,
                          ah_session_t **out, size_t *n, char next_cursor[AH_CURSOR_SIZE]);

/*
 * ---- the web console: sign-in sessions and portal links (docs/console.md) ----
 *
 * A session is stored under the SHA-256 hex of the random id its cookie
 * carries, so a copy of the database signs no one in; every node sharing
 * the store shares the sessions.  An operator's session has no community;
 * an integrator's names its community and either the key pair (key_id) or
 * the portal link (link_id) it signed in with.
 */
#define AH_CSRF_SIZE 65 /* 64 hex digits and the NUL */
typedef struct ah_console_session {
    char id_hash[AH_SHA256_HEX_SIZE];
    char role[16]; /* "operator" | "integrator" */
    char community_id[AH_ID_SIZE];
    char key_id[AH_ID_SIZE];
    char link_id[AH_ID_SIZE];
    bool read_only;
    char csrf[AH_CSRF_SIZE];
    int64_t created_at;
    int64_t seen_at;    /* the last request, to within a minute (touch) */
    int64_t expires_at; /* absolute */
    /* Read only (find): non-zero when its key pair or portal link has been revoked. */
    int64_t revoked_at;
    /* Read only (find): its key pair's label ("" for a portal link's session). */
    char key_label[AH_NAME_MAX];
} ah_console_session_t;

int ah_store_console_session_create(ah_store_t *s, const ah_console_session_t *cs);
/* The session whose id hashes to id_hash, with revoked_at filled; AH_ENOTFOUND when none. */
int ah_store_console_session_find(ah_store_t *s, const char *id_hash, ah_console_session_t *out);
/* Sets its seen_at; AH_ENOTFOUND when no such session. */
int ah_store_console_session_touch(ah_store_t *s, const char *id_hash, int64_t seen_at);
/* Ends it (sign-out); AH_OK whether or not it existed. */
int ah_store_console_session_delete(ah_store_t *s, const char *id_hash);
/* Deletes sessions expired before now or unseen since idle_cutoff; *n_deleted may be NULL. */
int ah_store_console_session_purge(ah_store_t *s, int64_t now, int64_t idle_cutoff,
                                   size_t *n_deleted);

/* A portal link: signs an integrator into one community, by the token its URL carries. */
typedef struct ah_portal_link {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char token_hash[AH_SHA256_HEX_SIZE]; /* SHA-256 hex of the token */
    bool read_only;
    int64_t created_at;
    int64_t expires_at;
    int64_t revoked_at; /* 0 while valid */
} ah_portal_link_t;

int ah_store_portal_link_create(ah_store_t *s, const ah_portal_link_t *l);
int ah_store_portal_link_find(ah_store_t *s, const char *token_hash, ah_portal_link_t *out);
int ah_store_portal_link_get(ah_store_t *s, const char *id, ah_portal_link_t *out);
/* A community's links, oldest first (none for a NULL id). */
int ah_store_portal_link_list(ah_store_t *s, const char *community_id, ah_portal_link_t **out,
                              size_t *n);
/* Sets revoked_at unless already set; AH_ENOTFOUND when no such link. */
int ah_store_portal_link_revoke(ah_store_t *s, const char *id, int64_t now);

/*
 * ---- the operator's triggers (store_catalog.c) ----
 *
 * The built-in trigger catalog is compiled into the binary (api/triggers.h);
 * the store keeps what the operator adds to it, and which built-in
 * triggers the operator hid (a row with builtin = true, where only
 * retired_at counts).  Every change bumps the `auth` cache generation in
 * the same transaction.
 */

#define AH_SCOPE_NAME_MAX 16 /* "none", "optional", "required" */
/* Most bytes of a trigger's sample body or schema (JSON text): the admin API's body limit. */
#define AH_TRIGGER_JSON_MAX (64 * 1024)

typedef struct ah_trigger_def {
    char id[AH_TRIGGER_MAX];
    bool builtin; /* a built-in trigger the operator hid: the text fields are "" */
    char description[AH_DESC_MAX];
    char airmeet_scope[AH_SCOPE_NAME_MAX]; /* "none", "optional" or "required" */
    char session_scope[AH_SCOPE_NAME_MAX];
    /*
     * JSON text.  Written: borrowed from the caller (schema NULL: none).
     * Read: malloc'd by the store, freed with ah_trigger_def_clear.
     */
    char *sample;
    char *schema;
    int64_t retired_at; /* 0 while it takes registrations and events (built-in: not hidden) */
    int64_t created_at;
    int64_t updated_at;
} ah_trigger_def_t;

/* Frees what a read put in d (sample, schema) and sets them NULL; d NULL is fine. */
void ah_trigger_def_clear(ah_trigger_def_t *d);
/* Clears and frees an array of n definitions from ah_store_trigger_list. */
void ah_trigger_defs_free(ah_trigger_def_t *defs, size_t n);

/*
 * Stores a new definition.  AH_EEXISTS if its id is taken; AH_EINVAL for
 * a NULL d, an empty id, a text field not terminated, a scope that is not
 * one of the three names, or a NULL sample (builtin rows may give ""; so
 * may they give no description); AH_ETOOBIG for a sample or schema over
 * AH_TRIGGER_JSON_MAX bytes.
 */
int ah_store_trigger_create(ah_store_t *s, const ah_trigger_def_t *d);
/* The definition of id into *out (ah_trigger_def_clear it); AH_ENOTFOUND if none. */
int ah_store_trigger_get(ah_store_t *s, const char *id, ah_trigger_def_t *out);
/* Every definition, oldest first (free with ah_trigger_defs_free). */
int ah_store_trigger_list(ah_store_t *s, ah_trigger_def_t **out, size_t *n);
/* ---- `airhook listen` (store_listener.c; migration 12) ---- */

/*
 * A listener: a CLI that receives its deliveries over a stream instead of
 * at a URL.  Its webhooks are ordinary rows whose url is "listen:<id>".
 */
typedef struct ah_listener {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char key_id[AH_ID_SIZE]; /* the access key that made it */
    char name[AH_NAME_MAX];
    int64_t created_at;
    int64_t last_seen_at; /* its stream was last connected then */
} ah_listener_t;

/*
 * The listener signing secret of access key key_id into out: the stored
 * one, else fresh (a whsec_ secret the caller made), stored sealed at now
 * (a concurrent first use stores one of the two, and both callers get
 * that one).  AH_EINVAL when fresh is malformed.
 */
int ah_store_listener_secret(ah_store_t *s, const char *key_id, const char *fresh, int64_t now,
                             char out[AH_SECRET_MAX]);
int ah_store_listener_create(ah_store_t *s, const ah_listener_t *l);
/* AH_ENOTFOUND if there is none. */
int ah_store_listener_get(ah_store_t *s, const char *id, ah_listener_t *out);
/* Every listener, oldest first, into a malloc'd array (NULL when none). */
int ah_store_listener_list(ah_store_t *s, ah_listener_t **out, size_t *n);
/* Sets last_seen_at; AH_ENOTFOUND if there is no such listener. */
int ah_store_listener_touch(ah_store_t *s, const char *id, int64_t now);
/* Removes the row (its webhooks are the caller's to deregister); AH_ENOTFOUND if none. */
int ah_store_listener_delete(ah_store_t *s, const char *id);
/*
 * Replaces d->id's description, scopes, sample, schema, retired_at and
 * updated_at with d's (builtin and created_at stay).  AH_ENOTFOUND if no
 * such definition; AH_EINVAL and AH_ETOOBIG as create's.
 */
int ah_store_trigger_update(ah_store_t *s, const ah_trigger_def_t *d);

/* ---- webhooks ---- */

/*
 * Registers w unless an active webhook with the same (community_id,
 * trigger, url, airmeet_id, session_id) exists; in that case *out is that
 * one and *existed = true.  Otherwise inserts w, *out = w, *existed =
 * false.  Atomic: two concurrent identical registrations yield one row.
 * out may be w itself; existed may be NULL.  AH_EINVAL if w or out is NULL
 * or a field of w is not terminated; AH_EEXISTS if w's id is taken, or if
 * the twin it met was deregistered before it could be read, three times
 * running.
 */
int ah_store_webhook_register(ah_store_t *s, const ah_webhook_t *w, ah_webhook_t *out,
                              bool *existed);
int ah_store_webhook_get(ah_store_t *s, const char *id, ah_webhook_t *out);
/*
 * Active webhooks of a community, oldest first.  airmeet_id / session_id
 * (NULL or "" = no filter) keep only webhooks registered with exactly
 * that airmeet / session.  secret and prev_secret are left "": no list
 * shows them, and opening them would cost every webhook-list.
 */
int ah_store_webhook_list_active(ah_store_t *s, const char *community_id, const char *airmeet_id,
                                 const char *session_id, ah_webhook_t **out, size_t *n);
/*
 * Deregisters: is_active = false, disabled_reason = "deregistered",
 * deregistered_at = now, updated_at = now, updated_by = by, and cancels its
 * pending deliveries, in one transaction.  AH_ENOTFOUND if no such webhook
 * or already deregistered.
 */
int ah_store_webhook_deregister(ah_store_t *s, const char *id, const char *by, int64_t now);
/*
 * Enables or disables a (not deregistered) webhook, recording why.
 * Enabling clears disabled_reason and failing_since.  AH_ENOTFOUND if
 * missing or deregistered; AH_EEXISTS when enabling would duplicate an
 * active registration of the same tuple made while it was disabled.
 */
int ah_store_webhook_set_active(ah_store_t *s, const char *id, bool active, const char *reason,
                                int64_t now);
/*
 * Rotates the signing secret: prev_secret = old secret until prev_until,
 * secret = new_secret.  AH_ENOTFOUND if missing or deregistered; AH_EINVAL
 * if new_secret is NULL or "", AH_ETOOBIG if it does not fit AH_SECRET_MAX
 * (it would come back truncated).
 */
int ah_store_webhook_rotate_secret(ah_store_t *s, const char *id, const char *new_secret,
                                   int64_t prev_until, int64_t now);
/*
 * Re-queues (pending, due now) the webhook's failed deliveries created at or
 * after since; *n_requeued (may be NULL) says how many.  AH_ENOTFOUND if the
 * webhook is missing or deregistered.
 */
int ah_store_webhook_recover(ah_store_t *s, const char *webhook_id, int64_t since, int64_t now,
                             size_t *n_requeued);

/*
 * ---- quotas per community, and the webhook-list read ----
 *
 * What one community may hold (docs/operations.md, "Quotas per community").
 * Each quota has a server-wide default (an `airhook serve` setting, which
 * the store does not know) and the operator may set a community's own; the
 * caller merges the two and hands the store the number that applies.  The
 * store counts a community's active webhooks itself (community_usage, kept
 * by triggers in the same transaction as every change to a webhook), so
 * the count costs one row read however many webhooks there are.
 */

typedef enum ah_quota_kind {
    AH_QUOTA_WEBHOOKS,          /* active webhooks (is_active) */
    AH_QUOTA_URL_BYTES,         /* bytes of a webhook's url */
    AH_QUOTA_NAME_BYTES,        /* bytes of a webhook's name, and of its platformName */
    AH_QUOTA_DESCRIPTION_BYTES, /* bytes of a webhook's description */
    AH_QUOTA_REGISTER_RATE,     /* registrations per access key per minute; 0 = no limit */
    AH_QUOTA_COUNT
} ah_quota_kind_t;

/* The range of each quota: a quota lowers the field caps above, never raises them. */
#define AH_QUOTA_WEBHOOKS_MAX AH_STORE_LIST_MAX /* so that a whole list is one list call */
#define AH_QUOTA_URL_BYTES_MAX (AH_URL_MAX - 1)
#define AH_QUOTA_NAME_BYTES_MAX (AH_NAME_MAX - 1)
#define AH_QUOTA_DESCRIPTION_BYTES_MAX (AH_DESC_MAX - 1)
#define AH_QUOTA_REGISTER_RATE_MAX 1000000
/* The smallest value quota k may take (1 for counts and sizes, 0 for the rate and the description).
 */
int64_t ah_quota_min(ah_quota_kind_t k);
/* The largest value quota k may take (its AH_QUOTA_*_MAX). */
int64_t ah_quota_max(ah_quota_kind_t k);

/* Where a community has no quota of its own, and the server's default applies. */
#define AH_QUOTA_UNSET (-1)

/* A community's own quotas, indexed by ah_quota_kind_t; AH_QUOTA_UNSET where it has none. */
typedef struct ah_quota {
    int64_t v[AH_QUOTA_COUNT];
} ah_quota_t;

/*
 * The quotas the operator set for community_id; every one AH_QUOTA_UNSET
 * when none is set (also for a community that does not exist).
 */
int ah_store_quota_get(ah_store_t *s, const char *community_id, ah_quota_t *out);
/*
 * Replaces the community's own quotas with q (AH_QUOTA_UNSET: none, the
 * default applies).  AH_EINVAL if q is NULL or a value is neither
 * AH_QUOTA_UNSET nor within ah_quota_min..ah_quota_max; AH_ENOTFOUND if
 * there is no such community.
 */
int ah_store_quota_set(ah_store_t *s, const char *community_id, const ah_quota_t *q, int64_t now);
/* How many active webhooks the community has now.  AH_ENOTFOUND if there is no such community. */
int ah_store_webhook_count_active(ah_store_t *s, const char *community_id, int64_t *n);

/*
 * ah_store_webhook_register within a quota: w is inserted only while its
 * community has fewer than max_active active webhooks.  When it has that
 * many and w has no active twin, nothing is written and AH_ETOOBIG is
 * returned; a twin is answered as always (*existed = true), full or not.
 * The count and the insert are one atomic step on every backend: however
 * many registrations run at once, from however many processes sharing the
 * store, the community never passes max_active.  AH_ENOTFOUND if the
 * community (or w's airmeet or session) does not exist; AH_EINVAL as
 * register's, or for max_active < 1.  (A community over its quota because
 * the operator lowered it keeps its webhooks; it only registers no more.)
 */
int ah_store_webhook_register_within(ah_store_t *s, const ah_webhook_t *w, int64_t max_active,
                                     ah_webhook_t *out, bool *existed);
/*
 * True when the backend registers in batches on a thread of its own
 * (SQLite's group commit, as for publishes), so that
 * ah_store_webhook_register_async is worth suspending a request for.
 */
bool ah_store_registers_async(const ah_store_t *s);
/*
 * ah_store_webhook_register_within (max_active 0: ah_store_webhook_register),
 * but it returns at once and done(arg, rc) runs later, on a thread of the
 * store, after the commit that holds the webhook (or the failure), with
 * *out and *existed (may be NULL) filled as those fill them.  w, out and
 * existed must stay valid until done runs; done must not register or
 * publish.  A backend without batches registers before returning and calls
 * done itself.  Registrations share transactions with each other and with
 * publishes, each under its own savepoint, so one that fails fails alone.
 */
void ah_store_webhook_register_async(ah_store_t *s, const ah_webhook_t *w, int64_t max_active,
                                     ah_webhook_t *out, bool *existed,
                                     void (*done)(void *arg, int rc), void *arg);
/*
 * ah_store_webhook_set_active(s, id, true, …) within a quota: an inactive
 * webhook is enabled only while its community has fewer than max_active
 * active webhooks, atomically as above; AH_ETOOBIG otherwise.  Enabling an
 * active webhook always succeeds.  AH_ENOTFOUND and AH_EEXISTS as
 * set_active's; AH_EINVAL for max_active < 1.
 */
int ah_store_webhook_enable_within(ah_store_t *s, const char *id, int64_t max_active, int64_t now);

/* Most webhooks one page of ah_store_webhook_each_active holds. */
#define AH_WEBHOOK_PAGE_MAX 1000

/* What ah_store_webhook_each_active reads. */
typedef struct ah_webhook_query {
    const char *community_id;
    const char *airmeet_id; /* NULL or "": any; else only webhooks registered with it */
    const char *session_id; /* NULL or "": any; else only webhooks registered with it */
    const char *cursor;     /* NULL or "": from the oldest; else a next_cursor of a page */
    size_t limit;           /* 0: every one (at most AH_STORE_LIST_MAX); else a page of that many */
} ah_webhook_query_t;

/*
 * The active webhooks of a community, oldest first (the order of
 * list_active), handed one at a time to fn(arg, w) as they are read: w is
 * valid during the call only, so a caller that renders them holds one row,
 * not the list.  fn returns AH_OK to go on, or a failure, which ends the
 * read and is returned.  With q->limit, at most that many are handed over
 * and next_cursor (may be NULL) receives where the next page starts, or ""
 * after the last page; a cursor orders by (created_at, id), so a page is
 * never shifted by registrations or removals meanwhile.  AH_EINVAL if q or
 * fn is NULL, q->limit > AH_WEBHOOK_PAGE_MAX or q->cursor is not one this
 * function returned; AH_ETOOBIG when an unpaged read passes
 * AH_STORE_LIST_MAX rows.
 */
int ah_store_webhook_each_active(ah_store_t *s, const ah_webhook_query_t *q,
                                 int (*fn)(void *arg, const ah_webhook_t *w), void *arg,
                                 char next_cursor[AH_CURSOR_SIZE]);

/* Where a webhook stands, as the operator's list filters it. */
typedef enum ah_webhook_state {
    AH_WEBHOOK_ANY = -1,
    AH_WEBHOOK_ACTIVE,      /* is_active, not deregistered */
    AH_WEBHOOK_DISABLED,    /* not active, not deregistered (the operator, 410, failing) */
    AH_WEBHOOK_DEREGISTERED /* deregistered_at set */
} ah_webhook_state_t;

/* "active", "disabled", "deregistered"; NULL for AH_WEBHOOK_ANY or out of range. */
const char *ah_webhook_state_name(int state);
/* The state a name gives, or -1 when it names none. */
int ah_webhook_state_parse(const char *name);

/* What ah_store_webhook_page reads; NULL or "" leaves a filter out. */
typedef struct ah_webhook_filter {
    const char *community_id;
    const char *trigger;
    int state;            /* AH_WEBHOOK_ANY or an ah_webhook_state_t */
    const char *url_part; /* only webhooks whose url contains it, byte for byte */
    const char *cursor;   /* NULL or "": from the oldest; else a next_cursor of a page */
    size_t limit;         /* 1..AH_LIST_PAGE_MAX */
} ah_webhook_filter_t;

/*
 * A page of every webhook, any state, of one community or all, oldest
 * first, with the filters of f; next_cursor as community_page's.  secret
 * and prev_secret are left "".  The rows are found through an index by
 * (community_id, created_at, id) or (created_at, id); the other filters
 * are checked on the rows met, so a rare one may read far for a page.
 * AH_EINVAL for a NULL f, a limit out of range, a state out of range or a
 * cursor this function did not return.
 */
int ah_store_webhook_page(ah_store_t *s, const ah_webhook_filter_t *f, ah_webhook_t **out,
                          size_t *n, char next_cursor[AH_CURSOR_SIZE]);

/* ---- events ---- */

/*
 * Stores ev and one pending delivery (due at ev->created_at) per matching
 * active webhook (SPEC §4 rule: same community and trigger, airmeet_id
 * unset or equal, session_id unset or equal), in one transaction; returns
 * only after commit.  A non-empty idempotency_key already used in the
 * community returns the first event's id with duplicate = true and
 * creates nothing.  ev->id is chosen by the caller.  AH_EINVAL if ev or res
 * is NULL, ev->data is NULL, or (PostgreSQL) the body holds a NUL byte or is
 * not UTF-8; AH_ETOOBIG if the body is larger than the backend stores.  On
 * failure res is cleared.
 */
int ah_store_event_publish(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res);
/*
 * True when the backend publishes in batches on a thread of its own
 * (SQLite's group commit), so that ah_store_event_publish_async is worth
 * suspending a request for.
 */
bool ah_store_publishes_async(const ah_store_t *s);
/*
 * The same publish, but it returns at once and done(arg, rc) runs later, on
 * a thread of the store, after the commit that holds the event (or the
 * failure), with *res filled as ah_store_event_publish fills it.  ev (and
 * its data) and res must stay valid until done runs; done must not publish.
 * A backend without batches publishes before returning and calls done
 * itself.
 */
void ah_store_event_publish_async(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res,
                                  void (*done)(void *arg, int rc), void *arg);
/*
 * A webhook test: stores ev, marked as a test event (its idempotency key
 * is ignored), and one pending delivery of it, id delivery_id, due at
 * ev->created_at, to webhook_id only, whatever the webhook's trigger and
 * scope, in one transaction; returns only after commit.  The event is
 * published to no other webhook.  AH_ENOTFOUND, and nothing stored, when
 * the webhook does not exist, is not active or was deregistered;
 * AH_EINVAL as ah_store_event_publish's, or for an empty webhook_id or
 * delivery_id.
 */
int ah_store_event_publish_test(ah_store_t *s, const ah_event_t *ev, const char *webhook_id,
                                const char *delivery_id);
/* ev->data is malloc'd; the caller frees it.  AH_EINVAL if out is NULL. */
int ah_store_event_get(ah_store_t *s, const char *id, ah_event_t *out);

/* ---- the delivery queue (used by the dispatcher) ---- */

/*
 * Every active webhook that has pending deliveries, with the earliest
 * next_attempt_at among them (leased ones included).  Used at start and
 * periodically to find work.  Fast even with a million pending rows:
 * one index probe per webhook, not a scan.
 */
int ah_store_delivery_due_webhooks(ah_store_t *s, ah_due_t **out, size_t *n);
/*
 * Claims up to max (at most AH_STORE_CLAIM_MAX) pending deliveries of an
 * active webhook that are due (next_attempt_at <= now) and not leased
 * (lease_until < now), oldest due first, by leasing them until lease_until:
 * in the row on PostgreSQL, in the store's memory on SQLite (see
 * ah_store_delivery_own), where delivery_get and delivery_list show it.
 * *next_due (may be NULL) receives the earliest next_attempt_at of its
 * remaining unleased pending deliveries (0 if none), so the caller knows
 * when to come back.  An inactive webhook: AH_OK and nothing claimed;
 * AH_ENOTFOUND if there is no such webhook (also for a NULL id or one longer
 * than an id).
 */
int ah_store_delivery_claim(ah_store_t *s, const char *webhook_id, int64_t now, int64_t lease_until,
                            size_t max, ah_claim_t **out, size_t *n, int64_t *next_due);
/*
 * delivery_claim for several webhooks at once, each request with its own
 * rc (an inactive webhook: AH_OK and nothing claimed; *webhook, when asked
 * for, is filled whenever the webhook exists).  Returns AH_OK once every
 * request has its rc; a backend that claims them all in one transaction
 * (SQLite) may instead fail as a whole, returning the failure with nothing
 * claimed anywhere.  AH_EINVAL if reqs is NULL (n > 0).
 */
int ah_store_delivery_claim_many(ah_store_t *s, ah_claim_req_t *reqs, size_t n, int64_t now,
                                 int64_t lease_until);
/*
 * Tells the other processes sharing the store (PostgreSQL) that this one
 * delivers until lease_until: each takes its share of the webhooks counted
 * against the live ones, and one that has not said so yet does not count,
 * so the first to claim would take every webhook and keep it.
 * delivery_claim_many says it as needed; a dispatcher says it once when it
 * starts, before its first claim.  A no-op where one process delivers.
 */
int ah_store_delivery_announce(ah_store_t *s, int64_t now, int64_t lease_until);
/*
 * Records a batch of attempt results in one transaction: an attempts row
 * each, the delivery's new state (succeeded / pending again at
 * next_attempt_at / failed; attempts = attempt_no; lease cleared; last
 * status and error), and the webhook consequences (failing_since,
 * disabling).  A delivery that is no longer pending (cancelled meanwhile)
 * keeps its status; the attempt is still recorded.  A result for a delivery
 * that does not exist is skipped (logged).  AH_EINVAL, and nothing recorded,
 * if results is NULL (n > 0) or an outcome is not one of ah_outcome_t.
 */
int ah_store_delivery_record(ah_store_t *s, const ah_attempt_result_t *results, size_t n);
/*
 * Clears the lease of these deliveries (in-flight work handed back at
 * shutdown).  AH_EINVAL if ids is NULL (n > 0).
 */
int ah_store_delivery_release(ah_store_t *s, const char (*ids)[AH_ID_SIZE], size_t n);
/* Clears every lease (single-node start: the previous process is gone). */
int ah_store_delivery_release_all(ah_store_t *s);
/*
 * Makes this process the one that delivers from the store, for as long as
 * the store is open.  On SQLite, leases are not written to the database:
 * the store keeps them in this process's memory, so a claim writes
 * nothing, and a crash leaves every delivery it had in flight simply
 * pending (sent again at the next start).  That holds only while one
 * process claims from the file: a second process that asks gets AH_EEXISTS
 * with a sentence in err (AH_EUNAVAIL when the lock cannot be taken), and
 * must not claim; it may ask again later, and gets it once the first has
 * closed the store or died.  Processes that only publish may share the
 * file.  Claims
 * made without this call work too (tests, tools): the caller then answers
 * for being alone.  PostgreSQL, whose leases are rows, answers AH_OK: any
 * number of processes deliver.
 */
int ah_store_delivery_own(ah_store_t *s, char *err, size_t errlen);
/*
 * Calls wake(arg, webhook_id, due) whenever any process sharing the store
 * publishes, retries or recovers work for a webhook (PostgreSQL:
 * LISTEN/NOTIFY, sent in the same transaction as the work so it arrives
 * only after commit), from a thread of the store's own, until close.
 * Reconnects by itself.  ah_store_listen(s, NULL, NULL) stops the calls and
 * returns only once no call is in progress.  A store that only one process
 * uses (SQLite) has nothing to hear: AH_OK, and wake is never called.
 */
int ah_store_listen(ah_store_t *s, void (*wake)(void *arg, const char *webhook_id, int64_t due),
                    void *arg);

/* What ah_store_event_page reads; NULL, "" or 0 leaves a filter out. */
typedef struct ah_event_filter {
    const char *community_id;
    const char *trigger;
    int64_t since;      /* only events created at or after this time */
    int64_t until;      /* only events created before this time */
    const char *cursor; /* NULL or "": from the newest; else a next_cursor of a page */
    size_t limit;       /* 1..AH_LIST_PAGE_MAX */
} ah_event_filter_t;

/*
 * A page of the events, of one community or all, newest first, with the
 * filters of f; next_cursor as community_page's.  The events' data is not
 * read (data NULL, data_len 0): a page of them could weigh hundreds of MiB.
 * Found through an index by (community_id, created_at, id) or (created_at,
 * id), the time range included; the trigger is checked on the rows met.
 * AH_EINVAL for a NULL f, a limit out of range or a cursor this function
 * did not return.
 */
int ah_store_event_page(ah_store_t *s, const ah_event_filter_t *f, ah_event_t **out, size_t *n,
                        char next_cursor[AH_CURSOR_SIZE]);

/* ---- reading and operating deliveries ---- */

/*
 * Lists deliveries of one webhook or one event (with both: the event's
 * delivery to that webhook), or with neither, of every event of
 * f->community_id (walked through the events by community index; a
 * delivery is created with its event's time), newest first, created within [f->since,
 * f->until), with an opaque cursor for the next page (next_cursor "" when
 * this is the last; it may be NULL).  AH_EINVAL unless at least one of
 * f->webhook_id, f->event_id and f->community_id is set, 1 <= f->limit <= AH_DELIVERY_PAGE_MAX,
 * f->status is -1 or an ah_delivery_status_t, and f->cursor is NULL, "" or a next_cursor this
 * function returned.
 */
int ah_store_delivery_list(ah_store_t *s, const ah_delivery_filter_t *f, ah_delivery_t **out,
                           size_t *n, char next_cursor[AH_CURSOR_SIZE]);
/*
 * One delivery and all its attempts (malloc'd array, oldest first), read in
 * one snapshot; attempts and n_attempts may be NULL.  AH_EINVAL if out is
 * NULL.
 */
int ah_store_delivery_get(ah_store_t *s, const char *id, ah_delivery_t *out,
                          ah_attempt_t **attempts, size_t *n_attempts);
/*
 * Makes a delivery pending again, due now, whatever its state (succeeded,
 * failed or cancelled ones are sent once more); AH_ENOTFOUND if none.
 * *webhook_id receives its webhook so the caller can wake the dispatcher.
 */
int ah_store_delivery_retry(ah_store_t *s, const char *id, int64_t now,
                            char webhook_id[AH_ID_SIZE]);
/* What the console's overview counts (ah_store_overview). */
typedef struct ah_store_overview {
    int64_t communities;
    int64_t active_webhooks;   /* is_active */
    int64_t disabled_webhooks; /* not active, not deregistered */
    int64_t events;            /* created at or after `since` */
    int64_t deliveries;        /* of those events */
} ah_store_overview_t;

/*
 * The overview's counts in one snapshot, none by a scan of a table that
 * grows with traffic: communities are counted whole (a row per customer),
 * active webhooks from the per-community usage rows, disabled ones from
 * their partial index, events from since on by their time index and their
 * deliveries by the event index (work in proportion to the window's
 * traffic).  AH_EINVAL if out is NULL.
 */
int ah_store_overview(ah_store_t *s, int64_t since, ah_store_overview_t *out);
/*
 * The disabled (not deregistered) webhooks changed last, at most max
 * (1..AH_LIST_PAGE_MAX), newest change first; secrets left "".
 */
int ah_store_webhook_recently_disabled(ah_store_t *s, size_t max, ah_webhook_t **out, size_t *n);
/* Queue depth and the oldest pending delivery, for /metrics. */
int ah_store_delivery_stats(ah_store_t *s, ah_delivery_stats_t *out);

/* ---- retention: removing what is final and old ---- */

#define AH_PURGE_MAX 1000 /* most events one ah_store_purge_final call looks at */
/* most deliveries one call removes when the caller does not say (max_deliveries 0) */
#define AH_PURGE_DELIVERIES_DEFAULT 1000

/* One step of the retention purge (ah_store_purge_final). */
typedef struct ah_purge {
    int64_t cutoff; /* in: what became final before this time goes */
    size_t max;     /* in: look at no more than this many events (1..AH_PURGE_MAX) */
    /*
     * in: remove no more deliveries than this (0: AH_PURGE_DELIVERIES_DEFAULT),
     * so that a call stays short whatever the fan-out: the call stops before
     * the event that would pass it, except that it always removes at least one
     * event it may remove (one event with more deliveries goes alone).
     */
    size_t max_deliveries;
    /*
     * in/out: where the scan goes on: "" starts at the oldest event; after
     * the call, where the next call should go on, or "" when this call
     * reached the last event created before cutoff (a pass is complete).
     */
    char cursor[AH_CURSOR_SIZE];
    size_t scanned;    /* out: events looked at */
    size_t events;     /* out: events removed */
    size_t deliveries; /* out: their deliveries removed */
    size_t attempts;   /* out: their attempts removed */
    int64_t held_us;   /* out: time spent inside the write transaction (its statements) */
} ah_purge_t;

/*
 * Removes, in one short write transaction, the events among the next
 * p->max ones created before p->cutoff (oldest first, from p->cursor;
 * fewer when p->max_deliveries says so) of
 * which every delivery is final (succeeded, failed or cancelled) and last
 * changed before p->cutoff, together with those deliveries and their
 * attempts; an event with no delivery goes when it is older than the
 * cutoff.  An event with a delivery still pending (waiting, retrying, in
 * flight, or on a disabled webhook) stays, with all its deliveries and
 * attempts: nothing that may still be sent, or that an operator may still
 * retry as part of its event, is removed.  A delivery made pending again
 * while the purge runs (retry, recover) keeps its event: the deliveries are
 * locked and checked again before anything is removed.  Several processes
 * sharing the store may purge at once; each takes events the others are
 * not holding.  The caller loops with the returned cursor, pausing between
 * calls so that other writers are not held up (src/delivery/retention.c).
 * AH_EINVAL if p is NULL, p->max is 0 or above AH_PURGE_MAX, or p->cursor
 * is not one this function returned.
 */
int ah_store_purge_final(ah_store_t *s, ah_purge_t *p);

/* The disk space of the store (ah_store_reclaim_space). */
typedef struct ah_store_space {
    bool known;              /* false: the backend does not say (PostgreSQL, whose autovacuum
                              * makes the room of removed rows reusable by itself) */
    bool shrinks;            /* free space beyond a reserve is given back to the filesystem
                              * (SQLite with auto_vacuum = INCREMENTAL); false: it is reused */
    bool more;               /* more free space than the reserve remains: call again */
    int64_t file_bytes;      /* the database file (its pages; not the WAL) */
    int64_t free_bytes;      /* of which free pages, reused before the file grows */
    int64_t reclaimed_bytes; /* given back to the filesystem by this call */
} ah_store_space_t;

/*
 * After a purge: gives free space of the store back to the filesystem, at
 * most max_pages pages (0: none; only report), in one short write
 * transaction, keeping a reserve of free pages for the rows to come.
 * Only SQLite databases made with auto_vacuum = INCREMENTAL (new files
 * are) shrink; an older file reuses its free pages, so it stops growing
 * but keeps its size (docs/operations.md, "Retention").  PostgreSQL: a
 * no-op with out->known false.  AH_EINVAL if out is NULL.
 */
int ah_store_reclaim_space(ah_store_t *s, size_t max_pages, ah_store_space_t *out);

/*
 * The current cache generations, in one cheap read.  Callers read them
 * before the rows a cache entry is built from, so the entry holds at least
 * every change its tag counts (docs/architecture.md, "Caches").
 */
int ah_store_cache_gen(ah_store_t *s, ah_cache_gen_t *out);

/*
 * Copies dsn into out with any password replaced by "***", for messages
 * and logs ("postgres://app:***@db/airhook").
 */
void ah_dsn_redact(const char *dsn, char *out, size_t outsz);

#endif
