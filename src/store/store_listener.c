/* SPDX-License-Identifier: MIT */
/*
 * store_listener.c: `airhook listen`'s rows (store.h, "airhook listen"):
 * one signing secret per access key and the listeners themselves.
 *
 * Two tables (migration 10 on SQLite and on PostgreSQL, the same text:
 * SQL_MIGRATION_LISTENERS), the same statements on both backends (sql.h,
 * ST_LISTENER_*).  The secret is sealed under the store's keyring like a
 * webhook's (ah_sql_seal_secret), bound to the access key's id; without a
 * keyring (tests, tools) it is stored as it is, as webhook secrets are.
 */
#include "store/backend.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static bool id_ok(const char *id)
{
    return id && ah_is_uuid(id);
}

static void map_secret(const ah_sql_row_t *r, void *out)
{
    size_t len = 0;
    const char *v = sql_text(r, 0, &len);
    char *dst = out;
    if (len >= AH_SECRET_SEALED_SIZE)
        len = AH_SECRET_SEALED_SIZE - 1;
    memcpy(dst, v ? v : "", v ? len : 0);
    dst[v ? len : 0] = '\0';
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

static int changed_one(ah_store_t *s, int stmt, ah_sql_params_t *p)
{
    size_t changed = 0;
    int rc = ah_sql_cmd(s, true, stmt, p, &changed);
    return rc == AH_OK && changed == 0 ? AH_ENOTFOUND : rc;
}

int ah_store_listener_touch(ah_store_t *s, const char *id, int64_t now)
{
    if (!id_ok(id))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_i64(&p, now);
    return changed_one(s, ST_LISTENER_TOUCH, &p);
}

int ah_store_listener_delete(ah_store_t *s, const char *id)
{
    if (!id_ok(id))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    return changed_one(s, ST_LISTENER_DELETE, &p);
}
