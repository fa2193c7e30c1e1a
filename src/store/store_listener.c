/* SPDX-License-Identifier: MIT */
/*
 * store_listener.c: `airhook listen`'s rows (store.h, "airhook listen"):
 * one signing secret per access key and the listeners themselves.
 *
 * Two tables (migration 12 on SQLite and on PostgreSQL, the same text:
 * SQL_MIGRATION_LISTENERS), the same statements on both backends (sql.h,
 * ST_LISTENER_*).  The secret is sealed under the store's keyring like a
 * webhook's (ah_sql_seal_secret), bound to the access key's id; without a
 * keyring (tests, tools) it is stored as it is, as webhook secrets are.
 */
#include "store/backend.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool id_ok(const char *id)
{
    return id && ah_is_uuid(id);
}

/* Column col, a stored secret, into dst (AH_SECRET_SEALED_SIZE bytes). */
static void copy_secret(const ah_sql_row_t *r, int col, char *dst)
{
    sql_copy(r, col, dst, AH_SECRET_SEALED_SIZE);
}

static void map_secret(const ah_sql_row_t *r, void *out)
{
    copy_secret(r, 0, out);
}

int ah_store_listener_secret(ah_store_t *s, const char *key_id, const char *fresh, int64_t now,
                             char out[AH_SECRET_MAX])
{
    out[0] = '\0';
    if (!id_ok(key_id) || !fresh || strncmp(fresh, "whsec_", 6) != 0)
        return AH_EINVAL;
    char sealed[AH_SECRET_SEALED_SIZE];
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, key_id);
    int rc = ah_sql_one(s, NULL, false, ST_LISTENER_SECRET_GET, &p, map_secret, sealed);
    if (rc == AH_ENOTFOUND) {
        char mine[AH_SECRET_SEALED_SIZE];
        rc = ah_sql_seal_secret(s->keys, key_id, fresh, mine);
        if (rc)
            return rc;
        ah_sql_params_init(&p);
        p_str(&p, key_id);
        p_str(&p, mine);
        p_i64(&p, now);
        rc = ah_sql_cmd(s, true, ST_LISTENER_SECRET_ADD, &p, NULL);
        if (rc)
            return rc;
        /* Read back: a concurrent first use may have stored its own. */
        ah_sql_params_init(&p);
        p_str(&p, key_id);
        rc = ah_sql_one(s, NULL, false, ST_LISTENER_SECRET_GET, &p, map_secret, sealed);
    }
    if (rc)
        return rc;
    rc = ah_sql_open_text(s->keys, key_id, sealed, strlen(sealed), out, AH_SECRET_MAX);
    OPENSSL_cleanse(sealed, sizeof sealed);
    return rc;
}

static void map_listener(const ah_sql_row_t *r, void *out)
{
    ah_listener_t *l = out;
    memset(l, 0, sizeof *l);
    SQL_COPY(r, 0, l->id);
    SQL_COPY(r, 1, l->community_id);
    SQL_COPY(r, 2, l->key_id);
    SQL_COPY(r, 3, l->name);
    l->created_at = sql_i64(r, 4);
    l->last_seen_at = sql_i64(r, 5);
}

int ah_store_listener_create(ah_store_t *s, const ah_listener_t *l)
{
    if (!l || !id_ok(l->id) || !id_ok(l->community_id) || !id_ok(l->key_id))
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, l->id);
    P_FIELD(&p, l->community_id);
    P_FIELD(&p, l->key_id);
    P_FIELD(&p, l->name);
    p_i64(&p, l->created_at);
    p_i64(&p, l->last_seen_at);
    return ah_sql_cmd(s, true, ST_LISTENER_INSERT, &p, NULL);
}

int ah_store_listener_get(ah_store_t *s, const char *id, ah_listener_t *out)
{
    memset(out, 0, sizeof *out);
    if (!id_ok(id))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    return ah_sql_one(s, NULL, false, ST_LISTENER_GET, &p, map_listener, out);
}

int ah_store_listener_list(ah_store_t *s, ah_listener_t **out, size_t *n)
{
    void *rows = NULL;
    int rc =
        ah_sql_all(s, NULL, ST_LISTENER_LIST, NULL, map_listener, sizeof(ah_listener_t), &rows, n);
    *out = rows;
    return rc;
}

int ah_store_listener_touch(ah_store_t *s, const char *id, int64_t now)
{
    if (!id_ok(id))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_i64(&p, now);
    return ah_sql_cmd_found(s, ST_LISTENER_TOUCH, &p);
}

int ah_store_listener_delete(ah_store_t *s, const char *id)
{
    if (!id_ok(id))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    return ah_sql_cmd_found(s, ST_LISTENER_DELETE, &p);
}

/* ---- sealing under the current key (ah_store_secrets_init) ---- */

typedef struct secret_row {
    char key_id[AH_ID_SIZE];
    char secret[AH_SECRET_SEALED_SIZE];
} secret_row_t;

static void map_secret_row(const ah_sql_row_t *r, void *out)
{
    secret_row_t *row = out;
    memset(row, 0, sizeof *row);
    SQL_COPY(r, 0, row->key_id);
    copy_secret(r, 1, row->secret);
}

/* Whether v is sealed under kr's current key. */
static bool current(const ah_keyring_t *kr, const char *v)
{
    size_t head = sizeof AH_SEAL_PREFIX - 1, len = strlen(v);
    return ah_is_sealed(v, len) && len > head + AH_KEY_ID_LEN &&
           !strncmp(v + head, kr->keys[0].id, AH_KEY_ID_LEN);
}

int ah_store_listener_secrets_reseal(ah_store_t *s, size_t *n_sealed, char *err, size_t errlen)
{
    *n_sealed = 0;
    if (!s->keys || !s->keys->n)
        return AH_OK;
    void *arr = NULL;
    size_t n = 0;
    int rc = ah_sql_all(s, NULL, ST_LISTENER_SECRET_LIST, NULL, map_secret_row,
                        sizeof(secret_row_t), &arr, &n);
    if (rc) {
        snprintf(err, errlen, "cannot read the listener secrets: %s", ah_strerror(rc));
        return rc;
    }
    secret_row_t *rows = arr;
    char *plain = calloc(n ? n : 1, AH_SECRET_MAX);
    rc = plain ? AH_OK : AH_ENOMEM;
    /* First open every one that needs it, so that a missing key writes nothing. */
    for (size_t i = 0; rc == AH_OK && i < n; i++) {
        if (current(s->keys, rows[i].secret))
            continue;
        rc = ah_sql_open_text(s->keys, rows[i].key_id, rows[i].secret, strlen(rows[i].secret),
                              plain + i * AH_SECRET_MAX, AH_SECRET_MAX);
        if (rc) {
            snprintf(err, errlen,
                     "the listener secret of access key %s is sealed with a key that is not "
                     "among the keys given: start with the key file that holds it",
                     rows[i].key_id);
            rc = AH_ENOTFOUND;
        }
    }
    for (size_t i = 0; rc == AH_OK && i < n; i++) {
        if (current(s->keys, rows[i].secret))
            continue;
        char sealed[AH_SECRET_SEALED_SIZE];
        rc = ah_sql_seal_secret(s->keys, rows[i].key_id, plain + i * AH_SECRET_MAX, sealed);
        if (rc)
            break;
        ah_sql_params_t p;
        ah_sql_params_init(&p);
        p_str(&p, rows[i].key_id);
        p_str(&p, sealed);
        p_str(&p, rows[i].secret);
        size_t changed = 0;
        rc = ah_sql_cmd(s, true, ST_LISTENER_SECRET_SWAP, &p, &changed);
        *n_sealed += changed;
        OPENSSL_cleanse(sealed, sizeof sealed);
        if (rc)
            snprintf(err, errlen, "cannot seal the listener secrets: %s", ah_strerror(rc));
    }
    if (plain)
        OPENSSL_cleanse(plain, (n ? n : 1) * AH_SECRET_MAX);
    free(plain);
    if (n)
        OPENSSL_cleanse(rows, n * sizeof *rows);
    free(rows);
    return rc;
}
