/*
 * store.c: the store layer.  Every caller reaches storage through the
 * ah_store_*() functions declared (with their contracts) in store.h; this
 * file picks the backend from the DSN and hands each call to it (backend.h).
 */
#include "store/store.h"

#include "store/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ah_store_open(const char *dsn, ah_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!dsn || !*dsn) {
        snprintf(err, errlen, "empty --db");
        return AH_EINVAL;
    }
    if (!strncmp(dsn, "postgres://", 11) || !strncmp(dsn, "postgresql://", 13))
        return ah_store_pg_open(dsn, out, err, errlen);
    const char *path = dsn;
    if (!strncmp(dsn, "sqlite:", 7))
        path = dsn + 7;
    if (!strncmp(path, "//", 2))
        path += 2; /* sqlite://PATH */
    if (!*path) {
        snprintf(err, errlen, "sqlite: needs a path, e.g. sqlite:./airhook.db");
        return AH_EINVAL;
    }
    return ah_store_sqlite_open(path, out, err, errlen);
}

void ah_store_close(ah_store_t *s)
{
    if (s)
        s->ops->close(s);
}

const char *ah_store_name(const ah_store_t *s)
{
    return s->ops->name;
}

bool ah_store_shared(const ah_store_t *s)
{
    return s->ops->shared;
}

bool ah_store_publishes_async(const ah_store_t *s)
{
    return s->ops->event_publish_async != NULL;
}

void ah_store_event_publish_async(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res,
                                  void (*done)(void *arg, int rc), void *arg)
{
    if (s->ops->event_publish_async)
        s->ops->event_publish_async(s, ev, res, done, arg);
    else
        done(arg, s->ops->event_publish(s, ev, res));
}

int ah_store_listen(ah_store_t *s, void (*wake)(void *arg, const char *webhook_id, int64_t due),
                    void *arg)
{
    return s->ops->listen ? s->ops->listen(s, wake, arg) : AH_OK;
}

int ah_store_cache_gen(ah_store_t *s, ah_cache_gen_t *out)
{
    return s->ops->cache_gen(s, out);
}

int ah_store_ping(ah_store_t *s)
{
    return s->ops->ping(s);
}

int ah_store_setting_get(ah_store_t *s, const char *key, char *out, size_t outsz)
{
    return s->ops->setting_get(s, key, out, outsz);
}

int ah_store_setting_set(ah_store_t *s, const char *key, const char *value)
{
    return s->ops->setting_set(s, key, value);
}

int ah_store_setting_add(ah_store_t *s, const char *key, const char *value)
{
    return s->ops->setting_add(s, key, value);
}

int ah_store_community_create(ah_store_t *s, const ah_community_t *c)
{
    return s->ops->community_create(s, c);
}

int ah_store_community_get(ah_store_t *s, const char *id, ah_community_t *out)
{
    return s->ops->community_get(s, id, out);
}

int ah_store_community_list(ah_store_t *s, ah_community_t **out, size_t *n)
{
    return s->ops->community_list(s, out, n);
}

int ah_store_access_key_create(ah_store_t *s, const ah_access_key_t *k)
{
    return s->ops->access_key_create(s, k);
}

int ah_store_access_key_find(ah_store_t *s, const char *access_key, ah_access_key_t *out)
{
    return s->ops->access_key_find(s, access_key, out);
}

int ah_store_access_key_get(ah_store_t *s, const char *id, ah_access_key_t *out)
{
    return s->ops->access_key_get(s, id, out);
}

int ah_store_access_key_list(ah_store_t *s, const char *community_id, ah_access_key_t **out,
                             size_t *n)
{
    return s->ops->access_key_list(s, community_id, out, n);
}

int ah_store_access_key_revoke(ah_store_t *s, const char *id, int64_t now)
{
    return s->ops->access_key_revoke(s, id, now);
}

int ah_store_token_create(ah_store_t *s, const ah_token_t *t)
{
    return s->ops->token_create(s, t);
}

int ah_store_token_find(ah_store_t *s, const char *token_hash, ah_token_t *out)
{
    return s->ops->token_find(s, token_hash, out);
}

int ah_store_token_purge(ah_store_t *s, int64_t now, size_t *n_deleted)
{
    return s->ops->token_purge(s, now, n_deleted);
}

int ah_store_airmeet_create(ah_store_t *s, const ah_airmeet_t *a)
{
    return s->ops->airmeet_create(s, a);
}

int ah_store_airmeet_get(ah_store_t *s, const char *id, ah_airmeet_t *out)
{
    return s->ops->airmeet_get(s, id, out);
}

int ah_store_session_create(ah_store_t *s, const ah_session_t *ss)
{
    return s->ops->session_create(s, ss);
}

int ah_store_session_get(ah_store_t *s, const char *id, ah_session_t *out)
{
    return s->ops->session_get(s, id, out);
}

int ah_store_webhook_register(ah_store_t *s, const ah_webhook_t *w, ah_webhook_t *out,
                              bool *existed)
{
    return s->ops->webhook_register(s, w, out, existed);
}

int ah_store_webhook_get(ah_store_t *s, const char *id, ah_webhook_t *out)
{
    return s->ops->webhook_get(s, id, out);
}

int ah_store_webhook_list_active(ah_store_t *s, const char *community_id, const char *airmeet_id,
                                 const char *session_id, ah_webhook_t **out, size_t *n)
{
    return s->ops->webhook_list_active(s, community_id, airmeet_id, session_id, out, n);
}

int ah_store_webhook_deregister(ah_store_t *s, const char *id, const char *by, int64_t now)
{
    return s->ops->webhook_deregister(s, id, by, now);
}

int ah_store_webhook_set_active(ah_store_t *s, const char *id, bool active, const char *reason,
                                int64_t now)
{
    return s->ops->webhook_set_active(s, id, active, reason, now);
}

int ah_store_webhook_rotate_secret(ah_store_t *s, const char *id, const char *new_secret,
                                   int64_t prev_until, int64_t now)
{
    return s->ops->webhook_rotate_secret(s, id, new_secret, prev_until, now);
}

int ah_store_webhook_recover(ah_store_t *s, const char *webhook_id, int64_t since, int64_t now,
                             size_t *n_requeued)
{
    return s->ops->webhook_recover(s, webhook_id, since, now, n_requeued);
}

int ah_store_event_publish(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res)
{
    return s->ops->event_publish(s, ev, res);
}

int ah_store_event_get(ah_store_t *s, const char *id, ah_event_t *out)
{
    return s->ops->event_get(s, id, out);
}

int ah_store_delivery_due_webhooks(ah_store_t *s, ah_due_t **out, size_t *n)
{
    return s->ops->delivery_due_webhooks(s, out, n);
}

int ah_store_delivery_claim(ah_store_t *s, const char *webhook_id, int64_t now, int64_t lease_until,
                            size_t max, ah_claim_t **out, size_t *n, int64_t *next_due)
{
    return s->ops->delivery_claim(s, webhook_id, now, lease_until, max, out, n, next_due);
}

int ah_store_delivery_claim_many(ah_store_t *s, ah_claim_req_t *reqs, size_t n, int64_t now,
                                 int64_t lease_until)
{
    return s->ops->delivery_claim_many(s, reqs, n, now, lease_until);
}

int ah_store_delivery_record(ah_store_t *s, const ah_attempt_result_t *results, size_t n)
{
    return s->ops->delivery_record(s, results, n);
}

int ah_store_delivery_release(ah_store_t *s, const char (*ids)[AH_ID_SIZE], size_t n)
{
    return s->ops->delivery_release(s, ids, n);
}

int ah_store_delivery_release_all(ah_store_t *s)
{
    return s->ops->delivery_release_all(s);
}

int ah_store_delivery_list(ah_store_t *s, const ah_delivery_filter_t *f, ah_delivery_t **out,
                           size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    return s->ops->delivery_list(s, f, out, n, next_cursor);
}

int ah_store_delivery_get(ah_store_t *s, const char *id, ah_delivery_t *out,
                          ah_attempt_t **attempts, size_t *n_attempts)
{
    return s->ops->delivery_get(s, id, out, attempts, n_attempts);
}

int ah_store_delivery_retry(ah_store_t *s, const char *id, int64_t now, char webhook_id[AH_ID_SIZE])
{
    return s->ops->delivery_retry(s, id, now, webhook_id);
}

int ah_store_delivery_stats(ah_store_t *s, ah_delivery_stats_t *out)
{
    return s->ops->delivery_stats(s, out);
}

static const char *const status_names[] = {"pending", "succeeded", "failed", "cancelled"};

const char *ah_delivery_status_name(int status)
{
    return status >= 0 && status < 4 ? status_names[status] : "unknown";
}

const char *ah_outcome_status(ah_outcome_t o)
{
    switch (o) {
    case AH_OUTCOME_SUCCEEDED:
        return ah_delivery_status_name(AH_DLV_SUCCEEDED);
    case AH_OUTCOME_RETRY:
        return ah_delivery_status_name(AH_DLV_PENDING);
    case AH_OUTCOME_FAILED:
        return ah_delivery_status_name(AH_DLV_FAILED);
    }
    return NULL;
}

int ah_delivery_status_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, status_names[i]))
            return i;
    return -1;
}

void ah_claims_free(ah_claim_t *claims, size_t n)
{
    for (size_t i = 0; claims && i < n; i++)
        free(claims[i].data);
    free(claims);
}

void ah_dsn_redact(const char *dsn, char *out, size_t outsz)
{
    if (!outsz)
        return;
    const char *scheme = strstr(dsn, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, outsz, "%s", dsn);
        return;
    }
    snprintf(out, outsz, "%.*s:***%s", (int)(colon - dsn), dsn, at);
}
