/* SPDX-License-Identifier: MIT */
/*
 * store_catalog.c: the operator's part of the trigger catalog (store.h,
 * "the operator's triggers"): triggers the operator added, and built-in
 * ones it hid.  The built-in catalog itself is compiled into the binary
 * (api/triggers.c); the API merges the two.
 *
 * One table, catalog_triggers (migration 8 on SQLite and on PostgreSQL),
 * the same statements on both backends (sql.h, ST_CATALOG_*).  Sample
 * bodies and schemas are JSON text of any length up to
 * AH_TRIGGER_JSON_MAX: written from the caller's buffers, read into
 * malloc'd ones.  The table's triggers bump the `auth` cache generation
 * with every change, in the same transaction, which is what lets the API
 * cache what it reads here (docs/architecture.md, "Caches").
 */
#include "store/backend.h"

#include <stdlib.h>
#include <string.h>

static bool scope_ok(const char *v)
{
    return !strcmp(v, "none") || !strcmp(v, "optional") || !strcmp(v, "required");
}

/* AH_OK when d may be written; else why not. */
static int check_def(const ah_trigger_def_t *d)
{
    if (!d || !d->id[0] || strnlen(d->id, sizeof d->id) >= sizeof d->id || !d->sample)
        return AH_EINVAL;
    if (strnlen(d->airmeet_scope, sizeof d->airmeet_scope) >= sizeof d->airmeet_scope ||
        strnlen(d->session_scope, sizeof d->session_scope) >= sizeof d->session_scope ||
        !scope_ok(d->airmeet_scope) || !scope_ok(d->session_scope))
        return AH_EINVAL;
    if (strlen(d->sample) > AH_TRIGGER_JSON_MAX ||
        (d->schema && strlen(d->schema) > AH_TRIGGER_JSON_MAX))
        return AH_ETOOBIG;
    return AH_OK;
}

/* description .. updated_at: the columns both insert and update write, from $3 / $2 on. */
static void bind_body(ah_sql_params_t *p, const ah_trigger_def_t *d)
{
    P_FIELD(p, d->description);
    P_FIELD(p, d->airmeet_scope);
    P_FIELD(p, d->session_scope);
    p_str(p, d->sample);
    p_str(p, d->schema);
    p_i64(p, d->retired_at);
}

void ah_trigger_def_clear(ah_trigger_def_t *d)
{
    if (!d)
        return;
    free(d->sample);
    free(d->schema);
    d->sample = d->schema = NULL;
}

void ah_trigger_defs_free(ah_trigger_def_t *defs, size_t n)
{
    for (size_t i = 0; defs && i < n; i++)
        ah_trigger_def_clear(&defs[i]);
    free(defs);
}

int ah_store_trigger_create(ah_store_t *s, const ah_trigger_def_t *d)
{
    int rc = check_def(d);
    if (rc)
        return rc;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, d->id);
    p_bool(&p, d->builtin);
    bind_body(&p, d);
    p_i64(&p, d->created_at);
    p_i64(&p, d->updated_at);
    return ah_sql_cmd(s, true, ST_CATALOG_INSERT, &p, NULL);
}

int ah_store_trigger_update(ah_store_t *s, const ah_trigger_def_t *d)
{
    int rc = check_def(d);
    if (rc)
        return rc;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, d->id);
    bind_body(&p, d);
    p_i64(&p, d->updated_at);
    return ah_sql_cmd_found(s, ST_CATALOG_UPDATE, &p);
}

/* A row read: the text fields copied, the JSON duplicated (map functions cannot fail). */
typedef struct read_job {
    ah_trigger_def_t *rows;
    size_t n, cap;
    size_t max;
    int rc;
} read_job_t;

static int map_def(const ah_sql_row_t *r, ah_trigger_def_t *d)
{
    size_t len;
    memset(d, 0, sizeof *d);
    SQL_COPY(r, 0, d->id);
    d->builtin = sql_bool(r, 1);
    SQL_COPY(r, 2, d->description);
    SQL_COPY(r, 3, d->airmeet_scope);
    SQL_COPY(r, 4, d->session_scope);
    int rc = sql_dup(r, 5, &d->sample, &len);
    if (rc == AH_OK && !sql_null(r, 6))
        rc = sql_dup(r, 6, &d->schema, &len);
    d->retired_at = sql_i64(r, 7);
    d->created_at = sql_i64(r, 8);
    d->updated_at = sql_i64(r, 9);
    if (rc)
        ah_trigger_def_clear(d);
    return rc;
}

static int def_row(void *arg, const ah_sql_row_t *r)
{
    read_job_t *j = arg;
    if (j->n == j->max)
        return AH_ETOOBIG;
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 8;
        ah_trigger_def_t *grown = realloc(j->rows, cap * sizeof *grown);
        if (!grown)
            return AH_ENOMEM;
        j->rows = grown;
        j->cap = cap;
    }
    int rc = map_def(r, &j->rows[j->n]);
    if (rc)
        return rc;
    j->n++;
    return j->max == 1 ? AH_SQL_STOP : AH_OK;
}

static int read_defs(ah_store_t *s, int stmt, const ah_sql_params_t *p, size_t max,
                     ah_trigger_def_t **out, size_t *n)
{
    read_job_t j = {NULL, 0, 0, max, AH_OK};
    int rc = s->ops->sql->exec(s, NULL, false, stmt, p, def_row, &j, NULL);
    if (rc) {
        ah_trigger_defs_free(j.rows, j.n);
        j.rows = NULL;
        j.n = 0;
    }
    *out = j.rows;
    *n = j.n;
    return rc;
}

int ah_store_trigger_get(ah_store_t *s, const char *id, ah_trigger_def_t *out)
{
    memset(out, 0, sizeof *out);
    if (!id || (s->ops->sql->utf8_only && !ah_utf8_valid(id)))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    ah_trigger_def_t *rows = NULL;
    size_t n = 0;
    int rc = read_defs(s, ST_CATALOG_GET, &p, 1, &rows, &n);
    if (rc == AH_OK && n == 0)
        rc = AH_ENOTFOUND;
    if (rc == AH_OK)
        *out = rows[0]; /* the JSON buffers move to out */
    free(rows);
    return rc;
}

int ah_store_trigger_list(ah_store_t *s, ah_trigger_def_t **out, size_t *n)
{
    return read_defs(s, ST_CATALOG_LIST, NULL, AH_STORE_LIST_MAX, out, n);
}
