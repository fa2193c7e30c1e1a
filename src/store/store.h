/*
 * store.h: the storage interface.
 *
 * Everything airhook keeps lives behind ah_store_t, a handle plus a table of
 * functions (ah_store_ops_t), in the manner of curl's vtls: the SQLite
 * backend is store_sqlite.c, and a PostgreSQL backend sits beside it later
 * without touching callers.  ah_store_open() picks the backend from the DSN
 * ("sqlite:PATH", a bare path, or "postgres://…").
 *
 * Rules every backend keeps:
 *  - Thread-safe: any thread may call any function at any time (the SQLite
 *    backend keeps a pool of connections, each with its own statements).
 *  - Prepared statements only; no input is ever pasted into SQL.
 *  - Times are int64 milliseconds since the epoch; 0 means "unset".
 *  - Ids are lowercase UUID strings; "" means "unset" (NULL in SQL).
 *  - Records are plain structs with fixed-size fields; the caller owns them.
 *    Arrays returned through `T **out, size_t *n` are malloc'd by the store and
 *    freed by the caller with free().
 *  - Returns AH_OK, AH_ENOTFOUND (also: a parent id that does not exist),
 *    AH_EEXISTS, AH_EUNAVAIL (backend unreachable), AH_ESTORE, and more
 *    rarely AH_EINVAL (a required id missing), AH_ETOOBIG (a value larger
 *    than the caller's buffer) or AH_ENOMEM.
 *  - Secrets never arrive in clear: access-key secrets and tokens are passed
 *    as SHA-256 hex hashes.
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
#define AH_NAME_MAX 256          /* names, labels, platformName: < 256 bytes */
#define AH_DESC_MAX 1024         /* description, metaData: < 1024 bytes */
#define AH_URL_MAX 2048          /* url: < 2048 bytes */
#define AH_TRIGGER_MAX 64        /* triggerMetaInfoId */
#define AH_SECRET_MAX 96         /* whsec_… signing secret */
#define AH_REASON_MAX 128        /* why a webhook was disabled */
#define AH_ACCESS_KEY_MAX 64     /* the public half of a key pair */

typedef struct ah_community {
    char id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    int64_t created_at;
} ah_community_t;

typedef struct ah_access_key {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char label[AH_NAME_MAX];
    char access_key[AH_ACCESS_KEY_MAX];     /* public half, looked up by value */
    char secret_hash[AH_SHA256_HEX_SIZE];   /* sha256 hex of the secret half */
    int64_t created_at;
    int64_t revoked_at;                     /* 0 while valid */
} ah_access_key_t;

typedef struct ah_token {
    char token_hash[AH_SHA256_HEX_SIZE];
    char key_id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char label[AH_NAME_MAX];
    int64_t created_at;
    int64_t expires_at;
} ah_token_t;

typedef struct ah_airmeet {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    int64_t start_time;                     /* 0 when unset */
    int64_t end_time;
    int64_t created_at;
} ah_airmeet_t;

typedef struct ah_session {
    char id[AH_ID_SIZE];
    char airmeet_id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    int64_t created_at;
} ah_session_t;

typedef struct ah_webhook {
    char id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char trigger[AH_TRIGGER_MAX];
    char name[AH_NAME_MAX];
    char description[AH_DESC_MAX];
    bool has_description;                   /* false: JSON null */
    char url[AH_URL_MAX];
    char platform_name[AH_NAME_MAX];
    char airmeet_id[AH_ID_SIZE];            /* "" = any airmeet */
    char session_id[AH_ID_SIZE];            /* "" = any session */
    bool is_active;
    char disabled_reason[AH_REASON_MAX];    /* "" while active */
    char meta_data[AH_DESC_MAX];
    int64_t created_at;
    int64_t updated_at;
    char created_by[AH_NAME_MAX];
    char updated_by[AH_NAME_MAX];
    bool has_updated_by;                    /* false: JSON null */
    char secret[AH_SECRET_MAX];             /* current signing secret, whsec_… */
    char prev_secret[AH_SECRET_MAX];        /* previous secret during rotation, or "" */
    int64_t prev_secret_until;              /* prev_secret is used until then */
    int64_t deregistered_at;                /* 0 unless deregistered */
    int64_t failing_since;                  /* first failure of the current streak, 0 if none */
} ah_webhook_t;

typedef struct ah_store ah_store_t;

typedef struct ah_store_ops {
    const char *name;                       /* "sqlite", "postgres" */
    void (*close)(ah_store_t *s);
    /* AH_OK when the backend answers a trivial query. */
    int (*ping)(ah_store_t *s);

    /* A small key/value table for server state (e.g. the admin token hash). */
    int (*setting_get)(ah_store_t *s, const char *key, char *out, size_t outsz);
    int (*setting_set)(ah_store_t *s, const char *key, const char *value);

    /* Communities.  create: AH_EEXISTS if the id is taken. */
    int (*community_create)(ah_store_t *s, const ah_community_t *c);
    int (*community_get)(ah_store_t *s, const char *id, ah_community_t *out);
    int (*community_list)(ah_store_t *s, ah_community_t **out, size_t *n);

    /* Access keys.  create: AH_EEXISTS if id or access_key is taken. */
    int (*access_key_create)(ah_store_t *s, const ah_access_key_t *k);
    /* Looks a key up by its public half (k->access_key). */
    int (*access_key_find)(ah_store_t *s, const char *access_key, ah_access_key_t *out);
    int (*access_key_get)(ah_store_t *s, const char *id, ah_access_key_t *out);
    int (*access_key_list)(ah_store_t *s, const char *community_id, ah_access_key_t **out,
                           size_t *n);
    /* Sets revoked_at (if not already set).  AH_ENOTFOUND if no such key. */
    int (*access_key_revoke)(ah_store_t *s, const char *id, int64_t now);

    /* Tokens from POST /auth, stored by hash. */
    int (*token_create)(ah_store_t *s, const ah_token_t *t);
    int (*token_find)(ah_store_t *s, const char *token_hash, ah_token_t *out);
    /* Deletes tokens expired before `now`; *n_deleted may be NULL. */
    int (*token_purge)(ah_store_t *s, int64_t now, size_t *n_deleted);

    /* Airmeets and sessions.  create: AH_EEXISTS if the id is taken. */
    int (*airmeet_create)(ah_store_t *s, const ah_airmeet_t *a);
    int (*airmeet_get)(ah_store_t *s, const char *id, ah_airmeet_t *out);
    int (*session_create)(ah_store_t *s, const ah_session_t *ss);
    int (*session_get)(ah_store_t *s, const char *id, ah_session_t *out);

    /*
     * Registers w unless an active webhook with the same (community_id,
     * trigger, url, airmeet_id, session_id) exists; in that case *out is that
     * one and *existed = true.  Otherwise inserts w, *out = w, *existed =
     * false.  Atomic: two concurrent identical registrations yield one row.
     */
    int (*webhook_register)(ah_store_t *s, const ah_webhook_t *w, ah_webhook_t *out,
                            bool *existed);
    int (*webhook_get)(ah_store_t *s, const char *id, ah_webhook_t *out);
    /*
     * Active webhooks of a community, oldest first.  airmeet_id / session_id
     * (NULL or "" = no filter) keep only webhooks registered with exactly
     * that airmeet / session.
     */
    int (*webhook_list_active)(ah_store_t *s, const char *community_id, const char *airmeet_id,
                               const char *session_id, ah_webhook_t **out, size_t *n);
    /*
     * Deregisters: is_active = false, disabled_reason = "deregistered",
     * deregistered_at = now, updated_at = now, updated_by = by.  (Pending
     * deliveries are cancelled in the same transaction once deliveries exist.)
     * AH_ENOTFOUND if no such webhook or already deregistered.
     */
    int (*webhook_deregister)(ah_store_t *s, const char *id, const char *by, int64_t now);
    /*
     * Enables or disables a (not deregistered) webhook, recording why.
     * Enabling clears disabled_reason and failing_since.  AH_ENOTFOUND if
     * missing or deregistered; AH_EEXISTS when enabling would duplicate an
     * active registration of the same tuple made while it was disabled.
     */
    int (*webhook_set_active)(ah_store_t *s, const char *id, bool active, const char *reason,
                              int64_t now);
} ah_store_ops_t;

/* Every backend's handle starts with this. */
struct ah_store {
    const ah_store_ops_t *ops;
};

/*
 * Opens the store named by dsn ("sqlite:PATH", "sqlite::memory:", a plain
 * path, or "postgres://…"), creating and migrating the schema as needed.
 * On failure returns NULL-out and writes a sentence into err.
 */
int ah_store_open(const char *dsn, ah_store_t **out, char *err, size_t errlen);
void ah_store_close(ah_store_t *s);

/* Backend constructors (one per backend file). */
int ah_store_sqlite_open(const char *path, ah_store_t **out, char *err, size_t errlen);

#endif
