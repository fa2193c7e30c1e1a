/*
 * backend.h: what a storage backend provides, private to src/store.
 *
 * store.c is the store layer every caller uses (the ah_store_*() functions
 * of store.h, each with its contract); a backend is a table of functions
 * (ah_store_ops_t) behind a handle that starts with struct ah_store.  Each
 * entry implements the ah_store_* function of the same name, with the
 * contract written there.
 */
#ifndef AH_STORE_BACKEND_H
#define AH_STORE_BACKEND_H

#include "store/store.h"

typedef struct ah_store_ops {
    const char *name; /* "sqlite", "postgres" */
    bool shared;
    void (*close)(ah_store_t *s);
    int (*ping)(ah_store_t *s);

    int (*setting_get)(ah_store_t *s, const char *key, char *out, size_t outsz);
    int (*setting_set)(ah_store_t *s, const char *key, const char *value);
    int (*setting_add)(ah_store_t *s, const char *key, const char *value);

    int (*community_create)(ah_store_t *s, const ah_community_t *c);
    int (*community_get)(ah_store_t *s, const char *id, ah_community_t *out);
    int (*community_list)(ah_store_t *s, ah_community_t **out, size_t *n);

    int (*access_key_create)(ah_store_t *s, const ah_access_key_t *k);
    int (*access_key_find)(ah_store_t *s, const char *access_key, ah_access_key_t *out);
    int (*access_key_get)(ah_store_t *s, const char *id, ah_access_key_t *out);
    int (*access_key_list)(ah_store_t *s, const char *community_id, ah_access_key_t **out,
                           size_t *n);
    int (*access_key_revoke)(ah_store_t *s, const char *id, int64_t now);

    int (*token_create)(ah_store_t *s, const ah_token_t *t);
    int (*token_find)(ah_store_t *s, const char *token_hash, ah_token_t *out);
    int (*token_purge)(ah_store_t *s, int64_t now, size_t *n_deleted);

    int (*airmeet_create)(ah_store_t *s, const ah_airmeet_t *a);
    int (*airmeet_get)(ah_store_t *s, const char *id, ah_airmeet_t *out);
    int (*session_create)(ah_store_t *s, const ah_session_t *ss);
    int (*session_get)(ah_store_t *s, const char *id, ah_session_t *out);

    int (*webhook_register)(ah_store_t *s, const ah_webhook_t *w, ah_webhook_t *out, bool *existed);
    int (*webhook_get)(ah_store_t *s, const char *id, ah_webhook_t *out);
    int (*webhook_list_active)(ah_store_t *s, const char *community_id, const char *airmeet_id,
                               const char *session_id, ah_webhook_t **out, size_t *n);
    int (*webhook_deregister)(ah_store_t *s, const char *id, const char *by, int64_t now);
    int (*webhook_set_active)(ah_store_t *s, const char *id, bool active, const char *reason,
                              int64_t now);

    int (*event_publish)(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res);
    void (*event_publish_async)(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res,
                                void (*done)(void *arg, int rc), void *arg);
    int (*event_get)(ah_store_t *s, const char *id, ah_event_t *out);

    int (*delivery_due_webhooks)(ah_store_t *s, ah_due_t **out, size_t *n);
    int (*delivery_claim)(ah_store_t *s, const char *webhook_id, int64_t now, int64_t lease_until,
                          size_t max, ah_claim_t **out, size_t *n, int64_t *next_due);
    int (*delivery_claim_many)(ah_store_t *s, ah_claim_req_t *reqs, size_t n, int64_t now,
                               int64_t lease_until);
    int (*delivery_record)(ah_store_t *s, const ah_attempt_result_t *results, size_t n);
    int (*delivery_release)(ah_store_t *s, const char (*ids)[AH_ID_SIZE], size_t n);
    int (*delivery_release_all)(ah_store_t *s);
    int (*delivery_list)(ah_store_t *s, const ah_delivery_filter_t *f, ah_delivery_t **out,
                         size_t *n, char next_cursor[AH_CURSOR_SIZE]);
    int (*delivery_get)(ah_store_t *s, const char *id, ah_delivery_t *out, ah_attempt_t **attempts,
                        size_t *n_attempts);
    int (*delivery_retry)(ah_store_t *s, const char *id, int64_t now, char webhook_id[AH_ID_SIZE]);
    int (*webhook_recover)(ah_store_t *s, const char *webhook_id, int64_t since, int64_t now,
                           size_t *n_requeued);
    int (*webhook_rotate_secret)(ah_store_t *s, const char *id, const char *new_secret,
                                 int64_t prev_until, int64_t now);
    int (*delivery_stats)(ah_store_t *s, ah_delivery_stats_t *out);

    int (*listen)(ah_store_t *s, void (*wake)(void *arg, const char *webhook_id, int64_t due),
                  void *arg);

    int (*cache_gen)(ah_store_t *s, ah_cache_gen_t *out);
} ah_store_ops_t;

/* Every backend's handle starts with this. */
struct ah_store {
    const ah_store_ops_t *ops;
};

/* Backend constructors (one per backend file). */
int ah_store_sqlite_open(const char *path, ah_store_t **out, char *err, size_t errlen);
/* dsn: a libpq URI, "postgres://user@host:port/db[?pool=N&…]". */
int ah_store_pg_open(const char *dsn, ah_store_t **out, char *err, size_t errlen);

#endif
