/* SPDX-License-Identifier: MIT */
/*
 * backend.h: what a storage backend provides, private to src/store.
 *
 * store.c is the store layer every caller uses (the ah_store_*() functions
 * of store.h, each with its contract).  It validates the arguments, applies
 * the limits, owns the delivery-list cursor, and runs every operation that
 * is the same SQL on both backends itself, through the backend's SQL driver
 * (sql.h).  A backend provides:
 *
 *  - an ah_sql_driver_t: statements by id, connections, transactions, and
 *    (if several processes share it) notifications;
 *  - the few operations whose flow truly differs between databases, in
 *    ah_store_ops_t below: publishing, finding due work, recording
 *    attempts, releasing leases, listening, reading the cache generations.
 *    Each is called only after the layer checked its arguments (as said
 *    above each entry), and keeps the contract written in store.h;
 *  - a constructor, ah_store_<name>_open, called by ah_store_open, that
 *    creates and migrates the schema and returns a handle starting with
 *    struct ah_store.
 */
#ifndef AH_STORE_BACKEND_H
#define AH_STORE_BACKEND_H

#include "store/sql.h"
#include "store/store.h"

/*
 * One registration (ah_store_webhook_register_async), as the layer hands it
 * to a backend that registers in batches: w with its secrets sealed, the
 * quota (0: none), where the answer goes.
 */
typedef struct ah_register {
    const ah_webhook_t *w;
    int64_t max_active;
    char secret[AH_SECRET_SEALED_SIZE];
    char prev[AH_SECRET_SEALED_SIZE];
    ah_webhook_t *out;
    bool existed;
} ah_register_t;

/*
 * Runs r inside the caller's write transaction on c, which holds the
 * database's write lock (SQLite): the INSERT, and when it inserted
 * nothing, the twin read on c, or why there is no room.  Returns what
 * ah_store_webhook_register_within returns.
 */
int ah_store_register_in(ah_store_t *s, ah_sql_conn_t *c, ah_register_t *r);

/*
 * ah_store_register_in in two halves, for a backend that inserts a batch's
 * registrations at once: _insert fills p and returns the statement to run
 * (whose parameters the batch's statement takes as arrays); _settle takes
 * the rows it changed and does the rest, on c in the same transaction (for
 * 1 row it reads nothing, and c may be NULL).
 */
int ah_store_register_insert(const ah_register_t *r, ah_sql_params_t *p);
int ah_store_register_settle(ah_store_t *s, ah_sql_conn_t *c, ah_register_t *r, size_t changed);

typedef struct ah_store_ops {
    const char *name; /* "sqlite", "postgres" */
    bool shared;      /* several processes may use the store at once: see ah_store_shared */
    const ah_sql_driver_t *sql;
    void (*close)(ah_store_t *s);

    /* ev and res are not NULL; res is cleared. */
    int (*event_publish)(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res);
    /* NULL: publishing is synchronous.  ev and res are not NULL; res is cleared. */
    void (*event_publish_async)(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res,
                                void (*done)(void *arg, int rc), void *arg);
    /*
     * NULL: registration is synchronous.  Else runs r (ah_store_register_in)
     * in a batch and calls done(arg, rc) after its commit.
     */
    void (*webhook_register_async)(ah_store_t *s, ah_register_t *r, void (*done)(void *arg, int rc),
                                   void *arg);
    /* *out and *n are cleared. */
    int (*delivery_due_webhooks)(ah_store_t *s, ah_due_t **out, size_t *n);
    /* n >= 1, results not NULL, and every outcome is one of ah_outcome_t. */
    int (*delivery_record)(ah_store_t *s, const ah_attempt_result_t *results, size_t n);
    /* n >= 1 and ids not NULL. */
    int (*delivery_release)(ah_store_t *s, const char (*ids)[AH_ID_SIZE], size_t n);
    /* NULL: nothing to hear (one process). */
    int (*listen)(ah_store_t *s, void (*wake)(void *arg, const char *webhook_id, int64_t due),
                  void *arg);
    /* NULL: ST_CACHE_GEN is read every time. */
    int (*cache_gen)(ah_store_t *s, ah_cache_gen_t *out);
    /* NULL: the database reuses freed room by itself.  out is not NULL and cleared. */
    int (*reclaim_space)(ah_store_t *s, size_t max_pages, ah_store_space_t *out);
    /*
     * NULL: several processes may deliver (leases in the database).  Else
     * makes this process the only one that delivers from the store until
     * it is closed (ah_store_delivery_own); err is not NULL.
     */
    int (*delivery_own)(ah_store_t *s, char *err, size_t errlen);
} ah_store_ops_t;

typedef struct ah_leases ah_leases_t;

/* Every backend's handle starts with this (zeroed: backends calloc their handle). */
struct ah_store {
    const ah_store_ops_t *ops;
    /* The keys of the webhook secrets (ah_store_secrets_init); NULL: stored as they are. */
    ah_keyring_t *keys;
    /* The leases a memory_leases driver's store holds (ah_store_leases_init); else NULL. */
    ah_leases_t *leases;
};

/*
 * For a backend whose driver has memory_leases: its constructor calls
 * ah_store_leases_init (AH_ENOMEM on failure) and its close
 * ah_store_leases_free (NULL-safe, idempotent).
 */
int ah_store_leases_init(ah_store_t *s);
void ah_store_leases_free(ah_store_t *s);

/*
 * The listener secrets' part of ah_store_secrets_init (store_listener.c):
 * every one that is plain or sealed under an older key of s->keys is
 * sealed under the current key; *n_sealed counts them.  AH_ENOTFOUND, with
 * a sentence in err, when one is sealed with a key s->keys lacks (nothing
 * is written then).
 */
int ah_store_listener_secrets_reseal(ah_store_t *s, size_t *n_sealed, char *err, size_t errlen);

/* The plain read of the cache generations (ST_CACHE_GEN); a missing row is AH_ESTORE. */
int ah_store_read_cache_gen(ah_store_t *s, ah_cache_gen_t *out);

/* Backend constructors (one per backend file). */
int ah_store_sqlite_open(const char *path, ah_store_t **out, char *err, size_t errlen);
/* dsn: a libpq URI, "postgres://user@host:port/db[?pool=N&…]". */
int ah_store_pg_open(const char *dsn, ah_store_t **out, char *err, size_t errlen);

#endif
