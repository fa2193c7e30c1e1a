/* SPDX-License-Identifier: MIT */
/*
 * store_sql.c: the building blocks of the store layer (sql.h), shared by
 * store.c and both backends.
 *
 * Parameters are collected in a fixed array (no allocation), borrowing the
 * caller's strings; a record's text field must be terminated within its
 * array, or the statement is refused (AH_EINVAL) rather than sent cut short.
 * Rows are read through the backend's row accessor, one indirect call per
 * column, and copied into the records' fixed-size fields with bounded,
 * truncating copies.  Every record has one mapper here, in the column order
 * of its list in sql.h, so that both backends read rows the same way.
 */
#include "store/backend.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* ------------------------------------------------------------------------ */
/* Collecting rows.                                                          */

typedef struct one_job {
    ah_sql_map_fn map;
    void *out;
    bool found;
} one_job_t;

static int one_row(void *arg, const ah_sql_row_t *r)
{
    one_job_t *j = arg;
    j->map(r, j->out);
    j->found = true;
    return AH_SQL_STOP;
}

int ah_sql_one(ah_store_t *s, ah_sql_conn_t *c, bool write, int stmt, const ah_sql_params_t *p,
               ah_sql_map_fn map, void *out)
{
    one_job_t j = {map, out, false};
    int rc = s->ops->sql->exec(s, c, write, stmt, p, one_row, &j, NULL);
    return rc == AH_OK && !j.found ? AH_ENOTFOUND : rc;
}

int ah_sql_cmd(ah_store_t *s, bool write, int stmt, const ah_sql_params_t *p, size_t *changed)
{
    return s->ops->sql->exec(s, NULL, write, stmt, p, NULL, NULL, changed);
}

int ah_sql_cmd_found(ah_store_t *s, int stmt, const ah_sql_params_t *p)
{
    size_t changed = 0;
    int rc = ah_sql_cmd(s, true, stmt, p, &changed);
    return rc == AH_OK && changed == 0 ? AH_ENOTFOUND : rc;
}

typedef struct all_job {
    ah_sql_map_fn map;
    size_t size;
    unsigned char *arr;
    size_t len, cap;
} all_job_t;

static int all_row(void *arg, const ah_sql_row_t *r)
{
    all_job_t *j = arg;
    if (j->len == j->cap) {
        /* The whole result at once when the backend knows its size, else doubling. */
        size_t ncap = r->n_hint > j->cap ? r->n_hint : j->cap ? j->cap * 2 : 16;
        if (ncap > AH_STORE_LIST_MAX)
            ncap = AH_STORE_LIST_MAX;
        if (j->len >= ncap) {
            ah_logf(AH_LOG_WARN, "store: a list exceeded %d rows", AH_STORE_LIST_MAX);
            return AH_ETOOBIG;
        }
        unsigned char *p = realloc(j->arr, ncap * j->size);
        if (!p)
            return AH_ENOMEM;
        j->arr = p;
        j->cap = ncap;
    }
    j->map(r, j->arr + j->len * j->size);
    j->len++;
    return AH_OK;
}

int ah_sql_all(ah_store_t *s, ah_sql_conn_t *c, int stmt, const ah_sql_params_t *p,
               ah_sql_map_fn map, size_t size, void **out, size_t *n)
{
    all_job_t j = {map, size, NULL, 0, 0};
    int rc = s->ops->sql->exec(s, c, false, stmt, p, all_row, &j, NULL);
    if (rc != AH_OK) {
        free(j.arr);
        j.arr = NULL;
        j.len = 0;
    }
    *out = j.arr;
    *n = j.len;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Row mappers and binders.                                                  */

void ah_sql_map_i64(const ah_sql_row_t *r, void *out)
{
    *(int64_t *)out = sql_i64(r, 0);
}

void ah_sql_map_id(const ah_sql_row_t *r, void *out)
{
    sql_copy(r, 0, out, AH_ID_SIZE);
}

void ah_sql_map_webhook(const ah_sql_row_t *r, void *out)
{
    ah_webhook_t *w = out;
    memset(w, 0, sizeof *w);
    SQL_COPY(r, 0, w->id);
    SQL_COPY(r, 1, w->community_id);
    SQL_COPY(r, 2, w->trigger);
    SQL_COPY(r, 3, w->name);
    w->has_description = !sql_null(r, 4);
    SQL_COPY(r, 4, w->description);
    SQL_COPY(r, 5, w->url);
    SQL_COPY(r, 6, w->platform_name);
    SQL_COPY(r, 7, w->airmeet_id);
    SQL_COPY(r, 8, w->session_id);
    w->is_active = sql_bool(r, 9);
    SQL_COPY(r, 10, w->disabled_reason);
    SQL_COPY(r, 11, w->meta_data);
    w->created_at = sql_i64(r, 12);
    w->updated_at = sql_i64(r, 13);
    SQL_COPY(r, 14, w->created_by);
    w->has_updated_by = !sql_null(r, 15);
    SQL_COPY(r, 15, w->updated_by);
    /* Columns 16 and 17, the secrets, are opened only where asked (ah_sql_open_secret). */
    w->prev_secret_until = sql_i64(r, 18);
    w->deregistered_at = sql_i64(r, 19);
    w->failing_since = sql_i64(r, 20);
}

void ah_sql_map_due(const ah_sql_row_t *r, void *out)
{
    ah_due_t *d = out;
    SQL_COPY(r, 0, d->webhook_id);
    d->next_due = sql_i64(r, 1);
}

void ah_sql_bind_webhook(ah_sql_params_t *p, const ah_webhook_t *w, const char *secret,
                         const char *prev_secret)
{
    P_OPT_FIELD(p, w->id);
    P_OPT_FIELD(p, w->community_id);
    P_FIELD(p, w->trigger);
    P_FIELD(p, w->name);
    if (w->has_description)
        P_FIELD(p, w->description);
    else
        p_null(p);
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
        p_null(p);
    p_str(p, secret);
    p_opt(p, prev_secret);
    p_i64(p, w->prev_secret_until);
    p_i64(p, w->deregistered_at);
    p_i64(p, w->failing_since);
}

/* ------------------------------------------------------------------------ */
/* Webhook signing secrets at rest.                                          */

void ah_sql_secret_aad(const char *webhook_id, char out[AH_SECRET_AAD_SIZE])
{
    snprintf(out, AH_SECRET_AAD_SIZE, "airhook webhook secret %.*s", AH_ID_LEN,
             webhook_id ? webhook_id : "");
}

int ah_sql_seal_secret(const ah_keyring_t *kr, const char *webhook_id, const char *plain,
                       char out[AH_SECRET_SEALED_SIZE])
{
    size_t len = strnlen(plain, AH_SECRET_MAX);
    if (len >= AH_SECRET_MAX)
        return AH_EINVAL; /* a field not terminated within its array */
    if (!kr || !kr->n || len == 0) {
        memcpy(out, plain, len + 1); /* no keys (tests, tools), or nothing secret: as it is */
        return AH_OK;
    }
    char aad[AH_SECRET_AAD_SIZE];
    ah_sql_secret_aad(webhook_id, aad);
    return ah_seal(kr, aad, plain, len, out, AH_SECRET_SEALED_SIZE);
}

int ah_sql_open_text(const ah_keyring_t *kr, const char *webhook_id, const char *v, size_t len,
                     char *out, size_t cap)
{
    out[0] = '\0';
    if (!v || !len)
        return AH_OK;
    if (!ah_is_sealed(v, len)) {
        /* Plain text, from before secrets were sealed: read as it is (sealed at the next start). */
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return AH_OK;
    }
    char aad[AH_SECRET_AAD_SIZE], id[AH_KEY_ID_LEN + 1];
    ah_sql_secret_aad(webhook_id, aad);
    int rc = ah_unseal(kr, aad, v, len, out, cap, NULL, id);
    if (rc == AH_ENOTFOUND)
        ah_logf(AH_LOG_ERROR,
                "store: webhook %.*s: its secret is sealed with key %s, which this "
                "process does not have (--secret-key-file)",
                AH_ID_LEN, webhook_id, id);
    else if (rc)
        ah_logf(AH_LOG_ERROR, "store: webhook %.*s: its sealed secret does not open: %s", AH_ID_LEN,
                webhook_id,
                rc == AH_EINVAL ? "altered, or copied from another webhook" : ah_strerror(rc));
    return rc ? AH_ESTORE : AH_OK;
}

int ah_sql_open_secrets(const ah_keyring_t *kr, const ah_sql_row_t *r, ah_webhook_t *w)
{
    size_t len = 0;
    const char *v = sql_text(r, 16, &len);
    int rc = ah_sql_open_text(kr, w->id, v, len, w->secret, sizeof w->secret);
    if (rc == AH_OK) {
        v = sql_text(r, 17, &len);
        rc = ah_sql_open_text(kr, w->id, v, len, w->prev_secret, sizeof w->prev_secret);
    }
    if (rc) {
        OPENSSL_cleanse(w->secret, sizeof w->secret);
        OPENSSL_cleanse(w->prev_secret, sizeof w->prev_secret);
    }
    return rc;
}

void ah_sql_copy_id(char dst[AH_ID_SIZE], const char *src)
{
    size_t n = strnlen(src, AH_ID_SIZE - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void ah_sql_json_id(char *s, size_t *len, const char *id, bool first)
{
    size_t n = *len;
    if (!first)
        s[n++] = ',';
    s[n++] = '"';
    for (size_t i = 0; i < AH_ID_SIZE - 1 && id[i]; i++) {
        if (id[i] == '"' || id[i] == '\\')
            s[n++] = '\\';
        s[n++] = id[i];
    }
    s[n++] = '"';
    *len = n;
}

/* ------------------------------------------------------------------------ */
/* UTF-8.                                                                    */

size_t ah_utf8_seq_len(const unsigned char *p, size_t n)
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

bool ah_utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t len = ah_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Publishing and claiming: the parts that are the same SQL on both.         */

int ah_sql_insert_event(ah_store_t *s, ah_sql_conn_t *c, const ah_event_t *ev, bool *inserted)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, ev->id);
    P_OPT_FIELD(&p, ev->community_id);
    P_FIELD(&p, ev->trigger);
    P_OPT_FIELD(&p, ev->airmeet_id);
    P_OPT_FIELD(&p, ev->session_id);
    P_OPT_FIELD(&p, ev->idempotency_key);
    p_text(&p, ev->data, ev->data_len); /* NULL data is NULL, which NOT NULL refuses (AH_EINVAL) */
    p_i64(&p, ev->created_at);
    size_t changed = 0;
    int rc = s->ops->sql->exec(s, c, true, ST_EVENT_INSERT, &p, NULL, NULL, &changed);
    *inserted = rc == AH_OK && changed == 1;
    return rc;
}

static void map_duplicate(const ah_sql_row_t *r, void *out)
{
    ah_publish_result_t *res = out;
    SQL_COPY(r, 0, res->event_id);
    res->n_deliveries = (size_t)sql_i64(r, 1);
    res->duplicate = true;
}

int ah_sql_find_duplicate(ah_store_t *s, ah_sql_conn_t *c, const ah_event_t *ev,
                          ah_publish_result_t *res)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, ev->community_id);
    P_FIELD(&p, ev->idempotency_key);
    return ah_sql_one(s, c, true, ST_EVENT_FIND_KEY, &p, map_duplicate, res);
}

int ah_sql_fan_out(ah_store_t *s, ah_sql_conn_t *c, const ah_event_t *ev, ah_publish_result_t *res)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, ev->id);
    p_i64(&p, ev->created_at);
    P_FIELD(&p, ev->community_id);
    P_FIELD(&p, ev->trigger);
    P_OPT_FIELD(&p, ev->airmeet_id);
    P_OPT_FIELD(&p, ev->session_id);
    void *ids;
    int rc =
        ah_sql_all(s, c, ST_EVENT_FANOUT, &p, ah_sql_map_id, AH_ID_SIZE, &ids, &res->n_deliveries);
    res->webhook_ids = ids;
    return rc;
}

static void map_bool(const ah_sql_row_t *r, void *out)
{
    *(bool *)out = sql_bool(r, 0);
}

int ah_sql_webhook_live(ah_store_t *s, ah_sql_conn_t *c, const char *id, bool *live)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    *live = false;
    return ah_sql_one(s, c, false, ST_WEBHOOK_LIVE, &p, map_bool, live);
}
