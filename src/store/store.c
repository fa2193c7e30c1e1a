/* SPDX-License-Identifier: MIT */
/*
 * store.c: the store layer.  Every caller reaches storage through the
 * ah_store_*() functions declared, with their contracts, in store.h; no
 * caller names a backend.
 *
 * How it works.  ah_store_open() picks the backend from the DSN.  Each
 * ah_store_*() function then checks its arguments and applies the limits
 * (one definition each, in store.h), so that both backends answer bad input
 * alike, and runs the operation.  Most operations are the same SQL on both
 * databases, with the same parameters, read into the same records, in the
 * same transactions: those are written here once, on the backend's SQL
 * driver (sql.h; the building blocks are in store_sql.c).  A backend
 * supplies the SQL text of each statement in its dialect, its connections
 * and transactions.  The few operations whose flow truly differs (group
 * commit of publishes on SQLite, pipelined recording on PostgreSQL, ...)
 * are entries of the backend's ah_store_ops_t (backend.h).
 *
 * Where a backend must do more than its SQL text says, the driver says so:
 * notify() (PostgreSQL's LISTEN/NOTIFY, sent inside the transactions that
 * make work due again), utf8_only (PostgreSQL refuses text that is not
 * UTF-8), and how claims are read and grouped into transactions.
 */
#include "store/store.h"

#include "store/backend.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define REGISTER_TRIES 3
#define CURSOR_NUM_MAX 20 /* digits (and sign) of the cursor's time */

static const ah_sql_driver_t *drv(ah_store_t *s)
{
    return s->ops->sql;
}

/* One statement whose rows do not matter, on a connection of its own. */

/* ------------------------------------------------------------------------ */
/* Opening, and what only a backend knows.                                   */

const char *ah_store_dsn_path(const char *dsn)
{
    if (!dsn || !strncmp(dsn, "postgres://", 11) || !strncmp(dsn, "postgresql://", 13))
        return NULL;
    const char *path = dsn;
    if (!strncmp(dsn, "sqlite:", 7))
        path = dsn + 7;
    if (!strncmp(path, "//", 2))
        path += 2; /* sqlite://PATH */
    return path;
}

int ah_store_open(const char *dsn, ah_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!dsn || !*dsn) {
        snprintf(err, errlen, "empty --db");
        return AH_EINVAL;
    }
    const char *path = ah_store_dsn_path(dsn);
    if (!path)
        return ah_store_pg_open(dsn, out, err, errlen);
    if (!*path) {
        snprintf(err, errlen, "sqlite: needs a path, e.g. sqlite:./airhook.db");
        return AH_EINVAL;
    }
    return ah_store_sqlite_open(path, out, err, errlen);
}

void ah_store_close(ah_store_t *s)
{
    if (!s)
        return;
    ah_keyring_t *keys = s->keys;
    s->ops->close(s);
    ah_keyring_wipe(keys);
    free(keys);
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

int ah_store_listen(ah_store_t *s, void (*wake)(void *arg, const char *webhook_id, int64_t due),
                    void *arg)
{
    return s->ops->listen ? s->ops->listen(s, wake, arg) : AH_OK;
}

static void map_gen(const ah_sql_row_t *r, void *out)
{
    ah_cache_gen_t *g = out;
    g->webhooks = sql_i64(r, 0);
    g->auth = sql_i64(r, 1);
}

int ah_store_read_cache_gen(ah_store_t *s, ah_cache_gen_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = ah_sql_one(s, NULL, false, ST_CACHE_GEN, NULL, map_gen, out);
    return rc == AH_ENOTFOUND ? AH_ESTORE : rc;
}

int ah_store_cache_gen(ah_store_t *s, ah_cache_gen_t *out)
{
    return s->ops->cache_gen ? s->ops->cache_gen(s, out) : ah_store_read_cache_gen(s, out);
}

static int ping_row(void *arg, const ah_sql_row_t *r)
{
    *(int *)arg = sql_i64(r, 0) == 1 ? AH_OK : AH_ESTORE;
    return AH_SQL_STOP;
}

int ah_store_ping(ah_store_t *s)
{
    int answer = AH_ESTORE; /* no row is no answer */
    int rc = drv(s)->exec(s, NULL, false, ST_PING, NULL, ping_row, &answer, NULL);
    return rc ? rc : answer;
}

/* ------------------------------------------------------------------------ */
/* Settings.                                                                 */

typedef struct setting_read {
    char *out;
    size_t outsz;
    int rc;
} setting_read_t;

static int setting_row(void *arg, const ah_sql_row_t *r)
{
    setting_read_t *j = arg;
    size_t len = 0;
    const char *v = sql_text(r, 0, &len);
    /* A truncated setting (a token hash, say) would be wrong, not short. */
    if (len >= j->outsz) {
        j->rc = AH_ETOOBIG;
    } else {
        if (len)
            memcpy(j->out, v, len);
        j->out[len] = '\0';
        j->rc = AH_OK;
    }
    return AH_SQL_STOP;
}

int ah_store_setting_get(ah_store_t *s, const char *key, char *out, size_t outsz)
{
    if (!key || !out || !outsz)
        return AH_EINVAL;
    if (drv(s)->utf8_only && !ah_utf8_valid(key))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, key);
    setting_read_t j = {out, outsz, AH_ENOTFOUND};
    int rc = drv(s)->exec(s, NULL, false, ST_SETTING_GET, &p, setting_row, &j, NULL);
    return rc ? rc : j.rc;
}

static int setting_write(ah_store_t *s, int stmt, const char *key, const char *value)
{
    if (!key || !value)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, key);
    p_str(&p, value);
    return ah_sql_cmd(s, true, stmt, &p, NULL);
}

int ah_store_setting_set(ah_store_t *s, const char *key, const char *value)
{
    return setting_write(s, ST_SETTING_SET, key, value);
}

int ah_store_setting_add(ah_store_t *s, const char *key, const char *value)
{
    return setting_write(s, ST_SETTING_ADD, key, value);
}

/* ------------------------------------------------------------------------ */
/* Communities, key pairs, tokens, airmeets, sessions.                       */

/*
 * Looks up one row by a string key.  A NULL key, or on a backend that
 * stores only UTF-8 a key that is not (a raw header, say), matches nothing.
 */
static int get_by(ah_store_t *s, int stmt, const char *key, ah_sql_map_fn map, void *out)
{
    if (!key || (drv(s)->utf8_only && !ah_utf8_valid(key)))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, key);
    return ah_sql_one(s, NULL, false, stmt, &p, map, out);
}

/* A list by one string argument (NULL: none), into *out. */
static int list_by(ah_store_t *s, int stmt, const char *arg, ah_sql_map_fn map, size_t size,
                   void **out, size_t *n)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    if (arg)
        p_str(&p, arg);
    return ah_sql_all(s, NULL, stmt, arg ? &p : NULL, map, size, out, n);
}

static void map_community(const ah_sql_row_t *r, void *out)
{
    ah_community_t *c = out;
    memset(c, 0, sizeof *c);
    SQL_COPY(r, 0, c->id);
    SQL_COPY(r, 1, c->name);
    c->created_at = sql_i64(r, 2);
}

int ah_store_community_create(ah_store_t *s, const ah_community_t *c)
{
    if (!c)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, c->id);
    P_FIELD(&p, c->name);
    p_i64(&p, c->created_at);
    return ah_sql_cmd(s, true, ST_COMMUNITY_INSERT, &p, NULL);
}

int ah_store_community_get(ah_store_t *s, const char *id, ah_community_t *out)
{
    return get_by(s, ST_COMMUNITY_GET, id, map_community, out);
}

int ah_store_community_list(ah_store_t *s, ah_community_t **out, size_t *n)
{
    void *arr;
    int rc = list_by(s, ST_COMMUNITY_LIST, NULL, map_community, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

/*
 * Reads the page of stmt whose parameters p already holds but for the
 * cursor and the limit: appends (created_at, id) after the cursor, and
 * limit + 1, so that one more row tells whether another page follows.
 * at_of names where a row keeps its created_at and id (the record's first
 * member is its id).  Oldest first pages after the cursor, newest first
 * before it.
 */
static int page_read(ah_store_t *s, int stmt, ah_sql_params_t *p, const char *cursor, size_t limit,
                     ah_sql_map_fn map, size_t size, int64_t (*at_of)(const void *row),
                     bool newest_first, void **out, size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    int64_t at = newest_first ? INT64_MAX : INT64_MIN; /* the first page's bound */
    char after[AH_ID_SIZE] = "";
    *out = NULL;
    *n = 0;
    /* The cursor first: it may be read from the buffer next_cursor names. */
    int bad = limit < 1 || limit > AH_LIST_PAGE_MAX ||
              (cursor && *cursor && ah_sql_parse_cursor(cursor, &at, after) != AH_OK);
    if (next_cursor)
        next_cursor[0] = '\0';
    if (bad)
        return AH_EINVAL;
    p_i64(p, at);
    p_str(p, after);
    p_i64(p, (int64_t)limit + 1);
    int rc = ah_sql_all(s, NULL, stmt, p, map, size, out, n);
    if (rc == AH_OK && *n > limit) {
        *n = limit;
        const char *last = (const char *)*out + (limit - 1) * size;
        if (next_cursor)
            ah_sql_format_cursor(at_of(last), last, next_cursor);
    }
    return rc;
}

static int64_t community_at(const void *row)
{
    return ((const ah_community_t *)row)->created_at;
}

int ah_store_community_page(ah_store_t *s, const char *cursor, size_t limit, ah_community_t **out,
                            size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    void *arr;
    int rc = page_read(s, ST_COMMUNITY_PAGE, &p, cursor, limit, map_community, sizeof **out,
                       community_at, false, &arr, n, next_cursor);
    *out = arr;
    return rc;
}

static void map_key(const ah_sql_row_t *r, void *out)
{
    ah_access_key_t *k = out;
    memset(k, 0, sizeof *k);
    SQL_COPY(r, 0, k->id);
    SQL_COPY(r, 1, k->community_id);
    SQL_COPY(r, 2, k->label);
    SQL_COPY(r, 3, k->access_key);
    SQL_COPY(r, 4, k->secret_hash);
    k->created_at = sql_i64(r, 5);
    k->revoked_at = sql_i64(r, 6);
}

int ah_store_access_key_create(ah_store_t *s, const ah_access_key_t *k)
{
    if (!k)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, k->id);
    P_OPT_FIELD(&p, k->community_id);
    P_FIELD(&p, k->label);
    P_OPT_FIELD(&p, k->access_key);
    P_OPT_FIELD(&p, k->secret_hash);
    p_i64(&p, k->created_at);
    p_i64(&p, k->revoked_at);
    return ah_sql_cmd(s, true, ST_KEY_INSERT, &p, NULL);
}

int ah_store_access_key_find(ah_store_t *s, const char *access_key, ah_access_key_t *out)
{
    return get_by(s, ST_KEY_FIND, access_key, map_key, out);
}

int ah_store_access_key_get(ah_store_t *s, const char *id, ah_access_key_t *out)
{
    return get_by(s, ST_KEY_GET, id, map_key, out);
}

int ah_store_access_key_list(ah_store_t *s, const char *community_id, ah_access_key_t **out,
                             size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!community_id)
        return AH_OK; /* no community has a NULL id */
    void *arr;
    int rc = list_by(s, ST_KEY_LIST, community_id, map_key, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

int ah_store_access_key_revoke(ah_store_t *s, const char *id, int64_t now)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_i64(&p, now);
    /* Every matched row counts, so an already revoked key is found too. */
    return ah_sql_cmd_found(s, ST_KEY_REVOKE, &p);
}

static void map_token(const ah_sql_row_t *r, void *out)
{
    ah_token_t *t = out;
    memset(t, 0, sizeof *t);
    SQL_COPY(r, 0, t->token_hash);
    SQL_COPY(r, 1, t->key_id);
    SQL_COPY(r, 2, t->community_id);
    SQL_COPY(r, 3, t->label);
    t->created_at = sql_i64(r, 4);
    t->expires_at = sql_i64(r, 5);
}

int ah_store_token_create(ah_store_t *s, const ah_token_t *t)
{
    if (!t)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, t->token_hash);
    P_OPT_FIELD(&p, t->key_id);
    P_OPT_FIELD(&p, t->community_id);
    P_FIELD(&p, t->label);
    p_i64(&p, t->created_at);
    p_i64(&p, t->expires_at);
    return ah_sql_cmd(s, true, ST_TOKEN_INSERT, &p, NULL);
}

int ah_store_token_find(ah_store_t *s, const char *token_hash, ah_token_t *out)
{
    return get_by(s, ST_TOKEN_FIND, token_hash, map_token, out);
}

int ah_store_token_purge(ah_store_t *s, int64_t now, size_t *n_deleted)
{
    if (n_deleted)
        *n_deleted = 0;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_i64(&p, now);
    size_t changed = 0;
    int rc = ah_sql_cmd(s, true, ST_TOKEN_PURGE, &p, &changed);
    if (rc == AH_OK && n_deleted)
        *n_deleted = changed;
    return rc;
}

/* ---- the web console ---- */

static void map_console_session(const ah_sql_row_t *r, void *out)
{
    ah_console_session_t *cs = out;
    memset(cs, 0, sizeof *cs);
    SQL_COPY(r, 0, cs->id_hash);
    SQL_COPY(r, 1, cs->role);
    SQL_COPY(r, 2, cs->community_id);
    SQL_COPY(r, 3, cs->key_id);
    SQL_COPY(r, 4, cs->link_id);
    cs->read_only = sql_bool(r, 5);
    SQL_COPY(r, 6, cs->csrf);
    cs->created_at = sql_i64(r, 7);
    cs->seen_at = sql_i64(r, 8);
    cs->expires_at = sql_i64(r, 9);
    cs->revoked_at = sql_i64(r, 10);
    SQL_COPY(r, 11, cs->key_label);
}

int ah_store_console_session_create(ah_store_t *s, const ah_console_session_t *cs)
{
    if (!cs)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, cs->id_hash);
    P_OPT_FIELD(&p, cs->role);
    P_OPT_FIELD(&p, cs->community_id);
    P_OPT_FIELD(&p, cs->key_id);
    P_OPT_FIELD(&p, cs->link_id);
    p_bool(&p, cs->read_only);
    P_OPT_FIELD(&p, cs->csrf);
    p_i64(&p, cs->created_at);
    p_i64(&p, cs->seen_at);
    p_i64(&p, cs->expires_at);
    return ah_sql_cmd(s, true, ST_CONSOLE_SESSION_INSERT, &p, NULL);
}

int ah_store_console_session_find(ah_store_t *s, const char *id_hash, ah_console_session_t *out)
{
    return get_by(s, ST_CONSOLE_SESSION_FIND, id_hash, map_console_session, out);
}

int ah_store_console_session_touch(ah_store_t *s, const char *id_hash, int64_t seen_at)
{
    if (!id_hash)
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id_hash);
    p_i64(&p, seen_at);
    return ah_sql_cmd_found(s, ST_CONSOLE_SESSION_TOUCH, &p);
}

int ah_store_console_session_delete(ah_store_t *s, const char *id_hash)
{
    if (!id_hash)
        return AH_OK;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id_hash);
    return ah_sql_cmd(s, true, ST_CONSOLE_SESSION_DELETE, &p, NULL);
}

int ah_store_console_session_purge(ah_store_t *s, int64_t now, int64_t idle_cutoff,
                                   size_t *n_deleted)
{
    if (n_deleted)
        *n_deleted = 0;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_i64(&p, now);
    p_i64(&p, idle_cutoff);
    size_t changed = 0;
    int rc = ah_sql_cmd(s, true, ST_CONSOLE_SESSION_PURGE, &p, &changed);
    if (rc == AH_OK && n_deleted)
        *n_deleted = changed;
    return rc;
}

static void map_portal_link(const ah_sql_row_t *r, void *out)
{
    ah_portal_link_t *l = out;
    memset(l, 0, sizeof *l);
    SQL_COPY(r, 0, l->id);
    SQL_COPY(r, 1, l->community_id);
    SQL_COPY(r, 2, l->token_hash);
    l->read_only = sql_bool(r, 3);
    l->created_at = sql_i64(r, 4);
    l->expires_at = sql_i64(r, 5);
    l->revoked_at = sql_i64(r, 6);
}

int ah_store_portal_link_create(ah_store_t *s, const ah_portal_link_t *l)
{
    if (!l)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, l->id);
    P_OPT_FIELD(&p, l->community_id);
    P_OPT_FIELD(&p, l->token_hash);
    p_bool(&p, l->read_only);
    p_i64(&p, l->created_at);
    p_i64(&p, l->expires_at);
    p_i64(&p, l->revoked_at);
    return ah_sql_cmd(s, true, ST_PORTAL_LINK_INSERT, &p, NULL);
}

int ah_store_portal_link_find(ah_store_t *s, const char *token_hash, ah_portal_link_t *out)
{
    return get_by(s, ST_PORTAL_LINK_FIND, token_hash, map_portal_link, out);
}

int ah_store_portal_link_get(ah_store_t *s, const char *id, ah_portal_link_t *out)
{
    return get_by(s, ST_PORTAL_LINK_GET, id, map_portal_link, out);
}

int ah_store_portal_link_list(ah_store_t *s, const char *community_id, ah_portal_link_t **out,
                              size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!community_id)
        return AH_OK;
    void *arr;
    int rc = list_by(s, ST_PORTAL_LINK_LIST, community_id, map_portal_link, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

int ah_store_portal_link_revoke(ah_store_t *s, const char *id, int64_t now)
{
    if (!id)
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_i64(&p, now);
    return ah_sql_cmd_found(s, ST_PORTAL_LINK_REVOKE, &p);
}

static void map_airmeet(const ah_sql_row_t *r, void *out)
{
    ah_airmeet_t *a = out;
    memset(a, 0, sizeof *a);
    SQL_COPY(r, 0, a->id);
    SQL_COPY(r, 1, a->community_id);
    SQL_COPY(r, 2, a->name);
    a->start_time = sql_i64(r, 3);
    a->end_time = sql_i64(r, 4);
    a->created_at = sql_i64(r, 5);
    SQL_COPY(r, 6, a->status);
    SQL_COPY(r, 7, a->timezone);
    SQL_COPY(r, 8, a->description);
}

/* The event details of a, parameters 7..9 of insert, 5..7 of update ("": NULL). */
static void bind_airmeet_details(ah_sql_params_t *p, const ah_airmeet_t *a)
{
    P_OPT_FIELD(p, a->status);
    P_OPT_FIELD(p, a->timezone);
    P_OPT_FIELD(p, a->description);
}

int ah_store_airmeet_create(ah_store_t *s, const ah_airmeet_t *a)
{
    if (!a)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, a->id);
    P_OPT_FIELD(&p, a->community_id);
    P_FIELD(&p, a->name);
    p_i64(&p, a->start_time);
    p_i64(&p, a->end_time);
    p_i64(&p, a->created_at);
    bind_airmeet_details(&p, a);
    return ah_sql_cmd(s, true, ST_AIRMEET_INSERT, &p, NULL);
}

int ah_store_airmeet_update(ah_store_t *s, const ah_airmeet_t *a)
{
    if (!a || !a->id[0])
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, a->id);
    P_FIELD(&p, a->name);
    p_i64(&p, a->start_time);
    p_i64(&p, a->end_time);
    bind_airmeet_details(&p, a);
    return ah_sql_cmd_found(s, ST_AIRMEET_UPDATE, &p);
}

typedef struct airmeet_page {
    ah_store_t *s;
    const char *community_id;
    uint64_t offset;
    size_t limit;
    ah_airmeet_t *rows;
    size_t n;
    int64_t total;
} airmeet_page_t;

/* The count and the page, in one snapshot (run in AH_SQL_READ_TX; may run again). */
static int airmeet_page_tx(ah_sql_conn_t *c, void *arg)
{
    airmeet_page_t *j = arg;
    free(j->rows);
    j->rows = NULL;
    j->n = 0;
    j->total = 0;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, j->community_id);
    int rc = ah_sql_one(j->s, c, false, ST_AIRMEET_COUNT, &p, ah_sql_map_i64, &j->total);
    if (rc)
        return rc;
    p_i64(&p, (int64_t)j->offset);
    p_i64(&p, (int64_t)j->limit);
    void *arr = NULL;
    rc = ah_sql_all(j->s, c, ST_AIRMEET_PAGE, &p, map_airmeet, sizeof *j->rows, &arr, &j->n);
    j->rows = arr;
    return rc;
}

int ah_store_airmeet_page(ah_store_t *s, const char *community_id, uint64_t offset, size_t limit,
                          ah_airmeet_t **out, size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    if (!community_id || limit < 1 || limit > AH_AIRMEET_PAGE_MAX || offset > INT64_MAX)
        return AH_EINVAL;
    if (drv(s)->utf8_only && !ah_utf8_valid(community_id))
        return AH_OK; /* no community has such an id */
    airmeet_page_t job = {s, community_id, offset, limit, NULL, 0, 0};
    int rc = drv(s)->run(s, AH_SQL_READ_TX, airmeet_page_tx, &job);
    if (rc) {
        free(job.rows);
        return rc;
    }
    *out = job.rows;
    *n = job.n;
    *total = job.total;
    return AH_OK;
}

int ah_store_airmeet_get(ah_store_t *s, const char *id, ah_airmeet_t *out)
{
    return get_by(s, ST_AIRMEET_GET, id, map_airmeet, out);
}

static void map_session(const ah_sql_row_t *r, void *out)
{
    ah_session_t *ss = out;
    memset(ss, 0, sizeof *ss);
    SQL_COPY(r, 0, ss->id);
    SQL_COPY(r, 1, ss->airmeet_id);
    SQL_COPY(r, 2, ss->community_id);
    SQL_COPY(r, 3, ss->name);
    ss->created_at = sql_i64(r, 4);
    ss->start_time = sql_i64(r, 5);
    ss->duration = sql_i64(r, 6);
    SQL_COPY(r, 7, ss->status);
    SQL_COPY(r, 8, ss->summary);
    SQL_COPY(r, 9, ss->type);
}

/* The event details of ss, parameters 6..10 of insert, 3..7 of update ("": NULL). */
static void bind_session_details(ah_sql_params_t *p, const ah_session_t *ss)
{
    p_i64(p, ss->start_time);
    p_i64(p, ss->duration);
    P_OPT_FIELD(p, ss->status);
    P_OPT_FIELD(p, ss->summary);
    P_OPT_FIELD(p, ss->type);
}

int ah_store_session_create(ah_store_t *s, const ah_session_t *ss)
{
    if (!ss)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_OPT_FIELD(&p, ss->id);
    P_OPT_FIELD(&p, ss->airmeet_id);
    P_OPT_FIELD(&p, ss->community_id);
    P_FIELD(&p, ss->name);
    p_i64(&p, ss->created_at);
    bind_session_details(&p, ss);
    return ah_sql_cmd(s, true, ST_SESSION_INSERT, &p, NULL);
}

int ah_store_session_get(ah_store_t *s, const char *id, ah_session_t *out)
{
    return get_by(s, ST_SESSION_GET, id, map_session, out);
}

int ah_store_session_update(ah_store_t *s, const ah_session_t *ss)
{
    if (!ss || !ss->id[0])
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, ss->id);
    P_FIELD(&p, ss->name);
    bind_session_details(&p, ss);
    return ah_sql_cmd_found(s, ST_SESSION_UPDATE, &p);
}

int ah_store_session_list(ah_store_t *s, const char *airmeet_id, ah_session_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!airmeet_id || (drv(s)->utf8_only && !ah_utf8_valid(airmeet_id)))
        return AH_OK; /* no airmeet has such an id */
    void *arr;
    int rc = list_by(s, ST_SESSION_LIST, airmeet_id, map_session, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Webhooks.                                                                 */

/*
 * Reading a webhook with its signing secrets opened (sql.h, "Webhook
 * signing secrets at rest"): get, the twin a registration answers with, and
 * the rows claims hand the dispatcher.  rc is the secrets' own outcome.
 */
typedef struct webhook_read {
    ah_store_t *s;
    ah_webhook_t *out;
    int rc;
    bool found;
} webhook_read_t;

static int webhook_row(void *arg, const ah_sql_row_t *r)
{
    webhook_read_t *j = arg;
    ah_sql_map_webhook(r, j->out);
    j->rc = ah_sql_open_secrets(j->s->keys, r, j->out);
    j->found = true;
    return AH_SQL_STOP;
}

/* The first row of a WEBHOOK_COLS statement into out; AH_ESTORE if its secrets do not open. */
static int webhook_one(ah_store_t *s, ah_sql_conn_t *c, bool write, int stmt,
                       const ah_sql_params_t *p, ah_webhook_t *out)
{
    webhook_read_t j = {s, out, AH_OK, false};
    int rc = drv(s)->exec(s, c, write, stmt, p, webhook_row, &j, NULL);
    if (rc == AH_OK && !j.found)
        rc = AH_ENOTFOUND;
    return rc ? rc : j.rc;
}

/* The active webhook with w's tuple, if any, into *out. */
static int find_active_twin(ah_store_t *s, const ah_webhook_t *w, ah_webhook_t *out)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    /* Unset airmeet/session compare as '' on both sides (see the unique index). */
    P_FIELD(&p, w->community_id);
    P_FIELD(&p, w->trigger);
    P_FIELD(&p, w->url);
    P_FIELD(&p, w->airmeet_id);
    P_FIELD(&p, w->session_id);
    return webhook_one(s, NULL, false, ST_WEBHOOK_FIND_ACTIVE, &p, out);
}

/*
 * Registration in the common case, a new webhook, is the one INSERT: the
 * partial unique index of active tuples (webhooks_active_tuple) is the
 * duplicate check, and ON CONFLICT DO NOTHING turns a twin into no row
 * instead of an error (on PostgreSQL a concurrent identical registration on
 * any node waits for the other's commit and then conflicts).  Only then is
 * the twin read, on a reading connection; it committed before our insert,
 * so it is there, unless it was deregistered in between, and then the
 * insert is tried again.  (This replaced a transaction of a SELECT and the
 * INSERT: a third of the CPU of a registration.)  An id that is taken
 * (UUIDs do not collide in practice) ends as AH_EEXISTS.
 */
static int register_webhook(ah_store_t *s, const ah_webhook_t *w, int64_t max_active,
                            ah_webhook_t *out, bool *existed);

int ah_store_webhook_register(ah_store_t *s, const ah_webhook_t *w, ah_webhook_t *out,
                              bool *existed)
{
    return register_webhook(s, w, 0, out, existed);
}

int ah_store_webhook_get(ah_store_t *s, const char *id, ah_webhook_t *out)
{
    if (!id || (drv(s)->utf8_only && !ah_utf8_valid(id)))
        return AH_ENOTFOUND;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    return webhook_one(s, NULL, false, ST_WEBHOOK_GET, &p, out);
}

int ah_store_webhook_list_active(ah_store_t *s, const char *community_id, const char *airmeet_id,
                                 const char *session_id, ah_webhook_t **out, size_t *n)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, community_id);
    p_opt(&p, airmeet_id);
    p_opt(&p, session_id);
    void *arr;
    int rc =
        ah_sql_all(s, NULL, ST_WEBHOOK_LIST_ACTIVE, &p, ah_sql_map_webhook, sizeof **out, &arr, n);
    *out = arr;
    return rc;
}

typedef struct webhook_job {
    ah_store_t *s;
    const char *id;
    const char *by;     /* deregister */
    bool active;        /* set_active */
    const char *reason; /* set_active */
    int64_t since;      /* recover */
    int64_t now;
    size_t count; /* recover: out */
} webhook_job_t;

/* Marks the webhook deregistered and cancels its pending deliveries. */
static int deregister_tx(ah_sql_conn_t *c, void *arg)
{
    const webhook_job_t *j = arg;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, j->id);
    p_i64(&p, j->now);
    p_str(&p, j->by);
    size_t changed = 0;
    int rc = drv(j->s)->exec(j->s, c, true, ST_WEBHOOK_DEREGISTER, &p, NULL, NULL, &changed);
    if (rc == AH_OK && changed == 0)
        return AH_ENOTFOUND;
    if (rc)
        return rc;
    ah_sql_params_init(&p);
    p_str(&p, j->id);
    p_i64(&p, j->now);
    return drv(j->s)->exec(j->s, c, true, ST_DELIVERIES_CANCEL, &p, NULL, NULL, NULL);
}

int ah_store_webhook_deregister(ah_store_t *s, const char *id, const char *by, int64_t now)
{
    webhook_job_t j = {.s = s, .id = id, .by = by, .now = now};
    return drv(s)->run(s, AH_SQL_WRITE_TX, deregister_tx, &j);
}

static int set_active_tx(ah_sql_conn_t *c, void *arg)
{
    const webhook_job_t *j = arg;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, j->id);
    p_bool(&p, j->active);
    p_opt(&p, j->active ? NULL : j->reason); /* an active webhook has no disabled_reason */
    p_i64(&p, j->now);
    size_t changed = 0;
    /* AH_EEXISTS: enabling would duplicate an active tuple */
    int rc = drv(j->s)->exec(j->s, c, true, ST_WEBHOOK_SET_ACTIVE, &p, NULL, NULL, &changed);
    if (rc == AH_OK && changed == 0)
        return AH_ENOTFOUND;
    /* Re-enabled: its pending deliveries are due again on whichever process listens. */
    if (rc == AH_OK && j->active && drv(j->s)->notify)
        rc = drv(j->s)->notify(c, j->id, j->now);
    return rc;
}

int ah_store_webhook_set_active(ah_store_t *s, const char *id, bool active, const char *reason,
                                int64_t now)
{
    webhook_job_t j = {.s = s, .id = id, .active = active, .reason = reason, .now = now};
    /* The notification must go out with the commit of the change, in one transaction. */
    return drv(s)->run(s, drv(s)->notify ? AH_SQL_WRITE_TX : AH_SQL_WRITE, set_active_tx, &j);
}

int ah_store_webhook_rotate_secret(ah_store_t *s, const char *id, const char *new_secret,
                                   int64_t prev_until, int64_t now)
{
    if (!new_secret || !*new_secret)
        return AH_EINVAL;
    if (strnlen(new_secret, AH_SECRET_MAX) >= AH_SECRET_MAX)
        return AH_ETOOBIG; /* it would come back truncated */
    /* The SQL moves the sealed current secret to prev_secret: both are bound to this id. */
    char sealed[AH_SECRET_SEALED_SIZE];
    int rc = ah_sql_seal_secret(s->keys, id, new_secret, sealed);
    if (rc)
        return rc;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_str(&p, sealed);
    p_i64(&p, prev_until);
    p_i64(&p, now);
    return ah_sql_cmd_found(s, ST_WEBHOOK_ROTATE, &p);
}

static int recover_tx(ah_sql_conn_t *c, void *arg)
{
    webhook_job_t *j = arg;
    j->count = 0;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, j->id);
    int64_t deregistered_at = 0;
    int rc =
        ah_sql_one(j->s, c, true, ST_WEBHOOK_DEREGISTERED_AT, &p, ah_sql_map_i64, &deregistered_at);
    if (rc == AH_OK && deregistered_at != 0)
        rc = AH_ENOTFOUND; /* missing or deregistered */
    if (rc)
        return rc;
    ah_sql_params_init(&p);
    p_str(&p, j->id);
    p_i64(&p, j->since);
    p_i64(&p, j->now);
    rc = drv(j->s)->exec(j->s, c, true, ST_WEBHOOK_RECOVER, &p, NULL, NULL, &j->count);
    if (rc == AH_OK && j->count > 0 && drv(j->s)->notify)
        rc = drv(j->s)->notify(c, j->id, j->now);
    return rc;
}

int ah_store_webhook_recover(ah_store_t *s, const char *webhook_id, int64_t since, int64_t now,
                             size_t *n_requeued)
{
    if (n_requeued)
        *n_requeued = 0;
    webhook_job_t j = {.s = s, .id = webhook_id, .since = since, .now = now};
    int rc = drv(s)->run(s, AH_SQL_WRITE_TX, recover_tx, &j);
    if (rc == AH_OK && n_requeued)
        *n_requeued = j.count;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Quotas per community, and the webhook-list read.                          */

/*
 * How a quota is kept.  community_usage counts each community's active
 * webhooks; triggers in both schemas move it in the transaction of every
 * change to a webhook's is_active, so it is exact whatever makes the
 * change.  A registration within a quota is then one statement
 * (ST_WEBHOOK_INSERT_WITHIN) that inserts only while the count is below
 * the quota: atomic on SQLite because a statement is one step of the one
 * writer, and on PostgreSQL because it first locks the community's usage
 * row, so that concurrent registrations of one community, from any node,
 * compare the count one after the other.  Enabling within a quota takes
 * the same lock in a transaction.  When nothing was inserted the layer
 * finds out why: an active twin (answered, as register always does), a
 * full community (AH_ETOOBIG), no community (AH_ENOTFOUND), or room again
 * because something changed meanwhile (tried once more).
 */

static const int64_t quota_range[AH_QUOTA_COUNT][2] = {
    [AH_QUOTA_WEBHOOKS] = {1, AH_QUOTA_WEBHOOKS_MAX},
    [AH_QUOTA_URL_BYTES] = {1, AH_QUOTA_URL_BYTES_MAX},
    [AH_QUOTA_NAME_BYTES] = {1, AH_QUOTA_NAME_BYTES_MAX},
    [AH_QUOTA_DESCRIPTION_BYTES] = {0, AH_QUOTA_DESCRIPTION_BYTES_MAX},
    [AH_QUOTA_REGISTER_RATE] = {0, AH_QUOTA_REGISTER_RATE_MAX},
};

int64_t ah_quota_min(ah_quota_kind_t k)
{
    return (unsigned)k < AH_QUOTA_COUNT ? quota_range[k][0] : 0;
}

int64_t ah_quota_max(ah_quota_kind_t k)
{
    return (unsigned)k < AH_QUOTA_COUNT ? quota_range[k][1] : 0;
}

static void map_quota(const ah_sql_row_t *r, void *out)
{
    ah_quota_t *q = out;
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        q->v[k] = sql_null(r, k) ? AH_QUOTA_UNSET : sql_i64(r, k);
}

int ah_store_quota_get(ah_store_t *s, const char *community_id, ah_quota_t *out)
{
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        out->v[k] = AH_QUOTA_UNSET;
    int rc = get_by(s, ST_QUOTA_GET, community_id, map_quota, out);
    return rc == AH_ENOTFOUND ? AH_OK : rc;
}

int ah_store_quota_set(ah_store_t *s, const char *community_id, const ah_quota_t *q, int64_t now)
{
    if (!q)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, community_id);
    for (int k = 0; k < AH_QUOTA_COUNT; k++) {
        if (q->v[k] == AH_QUOTA_UNSET) {
            p_null(&p);
            continue;
        }
        if (q->v[k] < quota_range[k][0] || q->v[k] > quota_range[k][1])
            return AH_EINVAL;
        p_i64(&p, q->v[k]);
    }
    p_i64(&p, now);
    if (!community_id || (drv(s)->utf8_only && !ah_utf8_valid(community_id)))
        return AH_ENOTFOUND;
    return ah_sql_cmd(s, true, ST_QUOTA_SET, &p, NULL); /* no community: a foreign key, ENOTFOUND */
}

int ah_store_webhook_count_active(ah_store_t *s, const char *community_id, int64_t *n)
{
    *n = 0;
    return get_by(s, ST_USAGE_GET, community_id, ah_sql_map_i64, n);
}

/*
 * After an insert within max_active that inserted nothing and met no twin:
 * AH_ETOOBIG when the community is full, AH_ENOTFOUND when it does not
 * exist, AH_OK when there is room again (a twin or a webhook went
 * meanwhile), so the insert is worth another try.
 */
static int why_no_room(ah_store_t *s, const char *community_id, int64_t max_active)
{
    int64_t active = 0;
    int rc = ah_store_webhook_count_active(s, community_id, &active);
    if (rc)
        return rc;
    return active >= max_active ? AH_ETOOBIG : AH_OK;
}

int ah_store_webhook_register_within(ah_store_t *s, const ah_webhook_t *w, int64_t max_active,
                                     ah_webhook_t *out, bool *existed)
{
    if (max_active < 1)
        return AH_EINVAL;
    return register_webhook(s, w, max_active, out, existed);
}

/*
 * Both registrations: max_active 0 inserts with no quota (ST_WEBHOOK_INSERT),
 * otherwise within it (ST_WEBHOOK_INSERT_WITHIN, whose extra parameter is
 * the quota).  The secrets are sealed once, before the first try.
 */
static int register_webhook(ah_store_t *s, const ah_webhook_t *w, int64_t max_active,
                            ah_webhook_t *out, bool *existed)
{
    if (!w || !out)
        return AH_EINVAL;
    char secret[AH_SECRET_SEALED_SIZE], prev[AH_SECRET_SEALED_SIZE];
    int rc = ah_sql_seal_secret(s->keys, w->id, w->secret, secret);
    if (rc == AH_OK)
        rc = ah_sql_seal_secret(s->keys, w->id, w->prev_secret, prev);
    if (rc)
        return rc; /* AH_EINVAL: not terminated */
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    ah_sql_bind_webhook(&p, w, secret, prev);
    if (max_active)
        p_i64(&p, max_active);
    int stmt = max_active ? ST_WEBHOOK_INSERT_WITHIN : ST_WEBHOOK_INSERT;
    ah_webhook_t *dup = NULL;
    bool found = false, inserted = false;
    for (int tries = 0; tries < REGISTER_TRIES && !found && !inserted; tries++) {
        size_t changed = 0;
        /* changed leaves out the rows the cache-generation triggers touch. */
        rc = ah_sql_cmd(s, true, stmt, &p, &changed);
        inserted = rc == AH_OK && changed == 1;
        if (rc || inserted)
            break;
        if (!dup && !(dup = malloc(sizeof *dup))) { /* ~7 KiB: keep it off the stack */
            rc = AH_ENOMEM;
            break;
        }
        rc = find_active_twin(s, w, dup);
        found = rc == AH_OK;
        if (rc != AH_OK && rc != AH_ENOTFOUND)
            break;
        if (!found && max_active && (rc = why_no_room(s, w->community_id, max_active)) != AH_OK)
            break;
        rc = found ? AH_OK : AH_EEXISTS;
    }
    if (rc == AH_OK) {
        if (found)
            *out = *dup;
        else if (out != w)
            *out = *w;
        if (existed)
            *existed = found;
    }
    free(dup);
    return rc;
}

int ah_store_register_insert(const ah_register_t *r, ah_sql_params_t *p)
{
    ah_sql_params_init(p);
    ah_sql_bind_webhook(p, r->w, r->secret, r->prev);
    if (r->max_active)
        p_i64(p, r->max_active);
    return r->max_active ? ST_WEBHOOK_INSERT_WITHIN : ST_WEBHOOK_INSERT;
}

int ah_store_register_in(ah_store_t *s, ah_sql_conn_t *c, ah_register_t *r)
{
    ah_sql_params_t p;
    int stmt = ah_store_register_insert(r, &p);
    size_t changed = 0;
    int rc = drv(s)->exec(s, c, true, stmt, &p, NULL, NULL, &changed);
    return rc ? rc : ah_store_register_settle(s, c, r, changed);
}

int ah_store_register_settle(ah_store_t *s, ah_sql_conn_t *c, ah_register_t *r, size_t changed)
{
    const ah_webhook_t *w = r->w;
    ah_sql_params_t p;
    int rc;
    r->existed = changed != 1;
    if (!r->existed) {
        if (r->out != w)
            *r->out = *w;
        return AH_OK;
    }
    /* Nothing inserted, and nothing can change before this transaction ends: a twin, or no room. */
    ah_webhook_t *dup = malloc(sizeof *dup); /* ~7 KiB: keep it off the stack */
    if (!dup)
        return AH_ENOMEM;
    ah_sql_params_init(&p);
    P_FIELD(&p, w->community_id);
    P_FIELD(&p, w->trigger);
    P_FIELD(&p, w->url);
    P_FIELD(&p, w->airmeet_id);
    P_FIELD(&p, w->session_id);
    rc = webhook_one(s, c, true, ST_WEBHOOK_FIND_ACTIVE, &p, dup);
    if (rc == AH_OK)
        *r->out = *dup;
    free(dup);
    if (rc != AH_ENOTFOUND)
        return rc;
    if (!r->max_active)
        return AH_EEXISTS; /* the id was taken */
    int64_t active = 0;
    ah_sql_params_init(&p);
    P_FIELD(&p, w->community_id);
    rc = ah_sql_one(s, c, true, ST_USAGE_GET, &p, ah_sql_map_i64, &active);
    if (rc)
        return rc; /* AH_ENOTFOUND: no such community */
    return active >= r->max_active ? AH_ETOOBIG : AH_EEXISTS;
}

bool ah_store_registers_async(const ah_store_t *s)
{
    return s->ops->webhook_register_async != NULL;
}

/* An asynchronous registration on its way through a backend's batch. */
typedef struct register_async {
    ah_register_t r;
    bool *existed;
    void (*done)(void *arg, int rc);
    void *arg;
} register_async_t;

static void register_done(void *arg, int rc)
{
    register_async_t *a = arg;
    if (rc == AH_OK && a->existed)
        *a->existed = a->r.existed;
    void (*done)(void *, int) = a->done;
    void *done_arg = a->arg;
    free(a);
    done(done_arg, rc);
}

void ah_store_webhook_register_async(ah_store_t *s, const ah_webhook_t *w, int64_t max_active,
                                     ah_webhook_t *out, bool *existed,
                                     void (*done)(void *arg, int rc), void *arg)
{
    if (!s->ops->webhook_register_async || max_active < 0) {
        int rc = max_active < 0 ? AH_EINVAL : register_webhook(s, w, max_active, out, existed);
        done(arg, rc);
        return;
    }
    if (!w || !out) {
        done(arg, AH_EINVAL);
        return;
    }
    register_async_t *a = calloc(1, sizeof *a);
    if (!a) {
        done(arg, AH_ENOMEM);
        return;
    }
    a->r.w = w;
    a->r.max_active = max_active;
    a->r.out = out;
    a->existed = existed;
    a->done = done;
    a->arg = arg;
    int rc = ah_sql_seal_secret(s->keys, w->id, w->secret, a->r.secret);
    if (rc == AH_OK)
        rc = ah_sql_seal_secret(s->keys, w->id, w->prev_secret, a->r.prev);
    if (rc) {
        free(a);
        done(arg, rc); /* AH_EINVAL: not terminated */
        return;
    }
    s->ops->webhook_register_async(s, &a->r, register_done, a);
}

typedef struct enable_job {
    ah_store_t *s;
    const char *id;
    int64_t max_active;
    int64_t now;
    ah_webhook_t w; /* its row, read under the lock */
} enable_job_t;

/* Locks the webhook's community's count, then enables it if there is room (or it is active). */
static int enable_within_tx(ah_sql_conn_t *c, void *arg)
{
    enable_job_t *j = arg;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, j->id);
    int64_t active = 0;
    int rc = ah_sql_one(j->s, c, true, ST_USAGE_LOCK, &p, ah_sql_map_i64, &active);
    if (rc == AH_OK)
        rc = ah_sql_one(j->s, c, true, ST_WEBHOOK_GET, &p, ah_sql_map_webhook, &j->w);
    if (rc == AH_OK && j->w.deregistered_at)
        rc = AH_ENOTFOUND;
    if (rc)
        return rc;
    if (!j->w.is_active && active >= j->max_active)
        return AH_ETOOBIG;
    webhook_job_t set = {.s = j->s, .id = j->id, .active = true, .now = j->now};
    return set_active_tx(c, &set);
}

int ah_store_webhook_enable_within(ah_store_t *s, const char *id, int64_t max_active, int64_t now)
{
    if (max_active < 1)
        return AH_EINVAL;
    if (!id || (drv(s)->utf8_only && !ah_utf8_valid(id)))
        return AH_ENOTFOUND;
    enable_job_t *j = malloc(sizeof *j); /* ~7 KiB: off the stack */
    if (!j)
        return AH_ENOMEM;
    *j = (enable_job_t){.s = s, .id = id, .max_active = max_active, .now = now};
    int rc = drv(s)->run(s, AH_SQL_WRITE_TX, enable_within_tx, j);
    free(j);
    return rc;
}

typedef struct each_job {
    ah_webhook_t *w; /* the row being handed over */
    int (*fn)(void *arg, const ah_webhook_t *w);
    void *arg;
    size_t n, limit; /* rows handed over; one more than limit says another page follows */
    bool more;
} each_job_t;

static int each_row(void *arg, const ah_sql_row_t *r)
{
    each_job_t *j = arg;
    if (j->n == j->limit) {
        j->more = true;
        return AH_SQL_STOP;
    }
    ah_sql_map_webhook(r, j->w);
    j->n++;
    return j->fn(j->arg, j->w);
}

int ah_store_webhook_each_active(ah_store_t *s, const ah_webhook_query_t *q,
                                 int (*fn)(void *arg, const ah_webhook_t *w), void *arg,
                                 char next_cursor[AH_CURSOR_SIZE])
{
    int64_t after_at = INT64_MIN; /* first page: after the beginning of time */
    char after_id[AH_ID_SIZE] = "";
    /* The cursor first: it may be read from the buffer next_cursor names. */
    int bad =
        !q || !fn || q->limit > AH_WEBHOOK_PAGE_MAX ||
        (q->cursor && *q->cursor && ah_sql_parse_cursor(q->cursor, &after_at, after_id) != AH_OK);
    if (next_cursor)
        next_cursor[0] = '\0';
    if (bad)
        return AH_EINVAL;
    each_job_t j = {.fn = fn, .arg = arg, .limit = q->limit ? q->limit : AH_STORE_LIST_MAX};
    if (!(j.w = malloc(sizeof *j.w)))
        return AH_ENOMEM;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, q->community_id);
    p_opt(&p, q->airmeet_id);
    p_opt(&p, q->session_id);
    p_i64(&p, after_at);
    p_str(&p, after_id);
    p_i64(&p, (int64_t)j.limit + 1);
    int rc = q->community_id ? drv(s)->exec(s, NULL, false, ST_WEBHOOK_PAGE, &p, each_row, &j, NULL)
                             : AH_OK; /* no community has a NULL id */
    if (rc == AH_OK && j.more && !q->limit) {
        ah_logf(AH_LOG_WARN, "store: a webhook list exceeded %d rows", AH_STORE_LIST_MAX);
        rc = AH_ETOOBIG;
    }
    if (rc == AH_OK && j.more && next_cursor)
        ah_sql_format_cursor(j.w->created_at, j.w->id, next_cursor);
    free(j.w);
    return rc;
}

static const char *const webhook_states[] = {"active", "disabled", "deregistered"};

const char *ah_webhook_state_name(int state)
{
    return state >= 0 && state < (int)AH_ARRAY_LEN(webhook_states) ? webhook_states[state] : NULL;
}

int ah_webhook_state_parse(const char *name)
{
    for (int i = 0; name && i < (int)AH_ARRAY_LEN(webhook_states); i++)
        if (strcmp(name, webhook_states[i]) == 0)
            return i;
    return -1;
}

static int64_t webhook_at(const void *row)
{
    return ((const ah_webhook_t *)row)->created_at;
}

int ah_store_webhook_page(ah_store_t *s, const ah_webhook_filter_t *f, ah_webhook_t **out,
                          size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    *out = NULL;
    *n = 0;
    if (!f || f->state < AH_WEBHOOK_ANY || f->state > AH_WEBHOOK_DEREGISTERED) {
        if (next_cursor)
            next_cursor[0] = '\0';
        return AH_EINVAL;
    }
    bool one = f->community_id && *f->community_id;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    if (one)
        p_str(&p, f->community_id);
    p_opt(&p, f->trigger);
    p_str(&p, ah_webhook_state_name(f->state));
    p_opt(&p, f->url_part);
    void *arr;
    int rc = page_read(s, one ? ST_WEBHOOK_ADMIN_PAGE_COMMUNITY : ST_WEBHOOK_ADMIN_PAGE, &p,
                       f->cursor, f->limit, ah_sql_map_webhook, sizeof **out, webhook_at, false,
                       &arr, n, next_cursor);
    *out = arr;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Events.                                                                   */

int ah_store_event_publish(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res)
{
    if (!res)
        return AH_EINVAL;
    memset(res, 0, sizeof *res);
    if (!ev)
        return AH_EINVAL;
    return s->ops->event_publish(s, ev, res);
}

void ah_store_event_publish_async(ah_store_t *s, const ah_event_t *ev, ah_publish_result_t *res,
                                  void (*done)(void *arg, int rc), void *arg)
{
    if (!s->ops->event_publish_async || !ev || !res) {
        done(arg, ah_store_event_publish(s, ev, res));
        return;
    }
    memset(res, 0, sizeof *res);
    s->ops->event_publish_async(s, ev, res, done, arg);
}

/* A webhook test's publish (ah_store_event_publish_test). */
typedef struct test_job {
    ah_store_t *s;
    const ah_event_t *ev;
    const char *webhook_id;
    const char *delivery_id;
} test_job_t;

static int publish_test_tx(ah_sql_conn_t *c, void *arg)
{
    const test_job_t *j = arg;
    ah_event_t ev = *j->ev;
    ev.idempotency_key[0] = '\0'; /* a test is never a duplicate */
    bool inserted = false;
    int rc = ah_sql_insert_event(j->s, c, &ev, &inserted);
    if (rc == AH_OK && !inserted)
        rc = AH_EEXISTS;
    ah_sql_params_t p;
    if (rc == AH_OK) {
        ah_sql_params_init(&p);
        p_str(&p, ev.id);
        rc = drv(j->s)->exec(j->s, c, true, ST_EVENT_MARK_TEST, &p, NULL, NULL, NULL);
    }
    size_t changed = 0;
    if (rc == AH_OK) {
        ah_sql_params_init(&p);
        p_str(&p, j->delivery_id);
        p_str(&p, ev.id);
        p_i64(&p, ev.created_at);
        p_str(&p, j->webhook_id);
        rc = drv(j->s)->exec(j->s, c, true, ST_DELIVERY_INSERT_ONE, &p, NULL, NULL, &changed);
    }
    if (rc == AH_OK && changed != 1)
        rc = AH_ENOTFOUND; /* the webhook is gone or inactive: the event goes too (rollback) */
    if (rc == AH_OK && drv(j->s)->notify)
        rc = drv(j->s)->notify(c, j->webhook_id, ev.created_at);
    return rc;
}

int ah_store_event_publish_test(ah_store_t *s, const ah_event_t *ev, const char *webhook_id,
                                const char *delivery_id)
{
    if (!ev || !ev->data || !webhook_id || !*webhook_id || !delivery_id || !*delivery_id)
        return AH_EINVAL;
    test_job_t j = {s, ev, webhook_id, delivery_id};
    return drv(s)->run(s, AH_SQL_WRITE_TX, publish_test_tx, &j);
}

typedef struct event_read {
    ah_event_t *out;
    int rc;
} event_read_t;

/* Columns 0..5 of both event column lists: id .. idempotency_key. */
static void copy_event_names(const ah_sql_row_t *r, ah_event_t *ev)
{
    SQL_COPY(r, 0, ev->id);
    SQL_COPY(r, 1, ev->community_id);
    SQL_COPY(r, 2, ev->trigger);
    SQL_COPY(r, 3, ev->airmeet_id);
    SQL_COPY(r, 4, ev->session_id);
    SQL_COPY(r, 5, ev->idempotency_key);
}

static int event_row(void *arg, const ah_sql_row_t *r)
{
    event_read_t *j = arg;
    ah_event_t *ev = j->out;
    copy_event_names(r, ev);
    j->rc = sql_dup(r, 6, &ev->data, &ev->data_len);
    ev->created_at = sql_i64(r, 7);
    return AH_SQL_STOP;
}

/* A row of the event lists, which leave data out. */
static void map_event_head(const ah_sql_row_t *r, void *out)
{
    ah_event_t *ev = out;
    memset(ev, 0, sizeof *ev);
    copy_event_names(r, ev);
    ev->created_at = sql_i64(r, 6);
    ev->test = sql_bool(r, 7);
}

static int64_t event_at(const void *row)
{
    return ((const ah_event_t *)row)->created_at;
}

int ah_store_event_page(ah_store_t *s, const ah_event_filter_t *f, ah_event_t **out, size_t *n,
                        char next_cursor[AH_CURSOR_SIZE])
{
    *out = NULL;
    *n = 0;
    if (!f) {
        if (next_cursor)
            next_cursor[0] = '\0';
        return AH_EINVAL;
    }
    bool one = f->community_id && *f->community_id;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    if (one)
        p_str(&p, f->community_id);
    p_opt(&p, f->trigger);
    p_i64(&p, f->since);
    p_i64(&p, f->until ? f->until : INT64_MAX);
    void *arr;
    int rc = page_read(s, one ? ST_EVENT_PAGE_COMMUNITY : ST_EVENT_PAGE, &p, f->cursor, f->limit,
                       map_event_head, sizeof **out, event_at, true, &arr, n, next_cursor);
    *out = arr;
    return rc;
}

int ah_store_event_get(ah_store_t *s, const char *id, ah_event_t *out)
{
    if (!out)
        return AH_EINVAL;
    memset(out, 0, sizeof *out);
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    event_read_t j = {out, AH_ENOTFOUND};
    int rc = drv(s)->exec(s, NULL, false, ST_EVENT_GET, &p, event_row, &j, NULL);
    return rc ? rc : j.rc;
}

/* ------------------------------------------------------------------------ */
/* Leases in memory.                                                         */
/*
 * A driver with memory_leases keeps no lease of a delivery in the
 * database.  On SQLite one process delivers from it
 * (ah_store_delivery_own); on PostgreSQL one node at a time delivers a
 * webhook's deliveries, the one that holds the webhook's lease (the
 * driver's webhook_lease, taken or renewed at the start of each claim).
 * Either way what a process has in flight is known to it alone, and a
 * lease is an entry here, by delivery id, until its result is recorded or
 * it is handed back.  A claim is then a read: the webhook's pending
 * deliveries in due order, of which those leased here (and not lapsed)
 * are skipped.  The read runs under the table's lock (lease_due_mem), and
 * a lease is dropped only after the commit that records its result (under
 * the same lock), so no delivery is ever handed out twice while a lease on
 * it stands.  After a crash the table is gone, and with it every lease:
 * what was in flight is pending, and is sent again at the next start (on
 * PostgreSQL by whichever node takes the webhook's lease once it lapses).
 * The table also counts the leases per webhook, which bounds how many rows
 * a claim must read (ST_CLAIM's limit).
 */

typedef struct hook_count hook_count_t;

typedef struct lease {
    char id[AH_ID_SIZE];
    hook_count_t *hook; /* its webhook's entry */
    int64_t until;
    struct lease *next;                  /* in its bucket */
    struct lease *hook_next, *hook_prev; /* in its webhook's list */
} lease_t;

/* How many leases of one webhook the table holds, and which. */
struct hook_count {
    char id[AH_ID_SIZE];
    size_t n;
    lease_t *first;
    struct hook_count *next;
};

#define HOOK_BUCKETS 256 /* a power of two */

struct ah_leases {
    pthread_mutex_t mu;
    lease_t **buckets;
    size_t n_buckets; /* a power of two */
    size_t n;
    hook_count_t *hooks[HOOK_BUCKETS];
};

#define LEASE_BUCKETS_MIN 256

int ah_store_leases_init(ah_store_t *s)
{
    ah_leases_t *l = calloc(1, sizeof *l);
    if (l)
        l->buckets = calloc(LEASE_BUCKETS_MIN, sizeof *l->buckets);
    if (!l || !l->buckets) {
        free(l);
        return AH_ENOMEM;
    }
    l->n_buckets = LEASE_BUCKETS_MIN;
    pthread_mutex_init(&l->mu, NULL);
    s->leases = l;
    return AH_OK;
}

static void leases_clear(ah_leases_t *l)
{
    for (size_t i = 0; i < l->n_buckets; i++) {
        for (lease_t *e = l->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
        l->buckets[i] = NULL;
    }
    l->n = 0;
    for (size_t i = 0; i < HOOK_BUCKETS; i++) {
        for (hook_count_t *h = l->hooks[i], *next; h; h = next) {
            next = h->next;
            free(h);
        }
        l->hooks[i] = NULL;
    }
}

void ah_store_leases_free(ah_store_t *s)
{
    ah_leases_t *l = s->leases;
    if (!l)
        return;
    leases_clear(l);
    free(l->buckets);
    pthread_mutex_destroy(&l->mu);
    free(l);
    s->leases = NULL;
}

static uint32_t id_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < AH_ID_SIZE && id[i]; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    return h;
}

static size_t lease_hash(const ah_leases_t *l, const char *id)
{
    return id_hash(id) & (l->n_buckets - 1);
}

/* Under l->mu: webhook's count entry, made (at 0) when `make`; NULL: none, or no memory. */
static hook_count_t *hook_count(ah_leases_t *l, const char *webhook, bool make)
{
    hook_count_t **pp = &l->hooks[id_hash(webhook) & (HOOK_BUCKETS - 1)];
    for (hook_count_t *h = *pp; h; h = h->next)
        if (!strncmp(h->id, webhook, AH_ID_SIZE))
            return h;
    hook_count_t *h = make ? calloc(1, sizeof *h) : NULL;
    if (!h)
        return NULL;
    ah_sql_copy_id(h->id, webhook);
    h->next = *pp;
    *pp = h;
    return h;
}

/* Under l->mu: how many leases of webhook the table holds (lapsed ones included). */
static size_t leases_of_hook(ah_leases_t *l, const char *webhook)
{
    const hook_count_t *h = hook_count(l, webhook, false);
    return h ? h->n : 0;
}

/* Under l->mu: h's entry leaves the table once it counts no lease. */
static void hook_release(ah_leases_t *l, hook_count_t *h)
{
    if (h->n)
        return;
    hook_count_t **pp = &l->hooks[id_hash(h->id) & (HOOK_BUCKETS - 1)];
    while (*pp != h)
        pp = &(*pp)->next;
    *pp = h->next;
    free(h);
}

/*
 * Under l->mu: the ids of webhook's leases that stand at now, as a JSON
 * array into a malloc'd string (NULL: no memory), for a claim to leave out.
 */
static char *leased_ids(ah_leases_t *l, const char *webhook, int64_t now)
{
    const hook_count_t *h = hook_count(l, webhook, false);
    size_t n = h ? h->n : 0, len = 0;
    char *s = malloc(3 + n * AH_SQL_JSON_ID_MAX);
    if (!s)
        return NULL;
    s[len++] = '[';
    for (const lease_t *e = h ? h->first : NULL; e; e = e->hook_next)
        if (e->until >= now) /* a lapsed one is handed out again */
            ah_sql_json_id(s, &len, e->id, len == 1);
    s[len++] = ']';
    s[len] = '\0';
    return s;
}

/* Under l->mu: the entry of id, or NULL. */
static lease_t *lease_find(const ah_leases_t *l, const char *id)
{
    for (lease_t *e = l->buckets[lease_hash(l, id)]; e; e = e->next)
        if (!strncmp(e->id, id, AH_ID_SIZE))
            return e;
    return NULL;
}

/* Under l->mu: when id's lease ends (0: none). */
static int64_t lease_of(const ah_leases_t *l, const char *id)
{
    const lease_t *e = lease_find(l, id);
    return e ? e->until : 0;
}

static void leases_grow(ah_leases_t *l)
{
    size_t nb = l->n_buckets * 2;
    lease_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    lease_t **old = l->buckets;
    size_t n_old = l->n_buckets;
    l->buckets = b;
    l->n_buckets = nb;
    for (size_t i = 0; i < n_old; i++) {
        for (lease_t *e = old[i], *next; e; e = next) {
            next = e->next;
            size_t j = lease_hash(l, e->id);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(old);
}

/* Under l->mu: leases id (a delivery of webhook) until `until`. */
static int lease_set(ah_leases_t *l, const char *id, const char *webhook, int64_t until)
{
    lease_t *e = lease_find(l, id);
    if (e) {
        e->until = until;
        return AH_OK;
    }
    hook_count_t *h = hook_count(l, webhook, true);
    if (!h || !(e = malloc(sizeof *e))) {
        if (h)
            hook_release(l, h); /* an entry made for nothing goes */
        return AH_ENOMEM;
    }
    h->n++;
    ah_sql_copy_id(e->id, id);
    e->hook = h;
    e->until = until;
    e->hook_prev = NULL;
    e->hook_next = h->first;
    if (h->first)
        h->first->hook_prev = e;
    h->first = e;
    size_t j = lease_hash(l, id);
    e->next = l->buckets[j];
    l->buckets[j] = e;
    if (++l->n > l->n_buckets * 2)
        leases_grow(l);
    return AH_OK;
}

/* Under l->mu. */
static void lease_drop(ah_leases_t *l, const char *id)
{
    lease_t **pp = &l->buckets[lease_hash(l, id)];
    while (*pp && strncmp((*pp)->id, id, AH_ID_SIZE))
        pp = &(*pp)->next;
    if (!*pp)
        return;
    lease_t *e = *pp;
    *pp = e->next;
    hook_count_t *h = e->hook;
    if (e->hook_prev)
        e->hook_prev->hook_next = e->hook_next;
    else
        h->first = e->hook_next;
    if (e->hook_next)
        e->hook_next->hook_prev = e->hook_prev;
    h->n--;
    hook_release(l, h);
    free(e);
    l->n--;
}

/* Drops the leases of n claims (claims that will not be handed out after all). */
static void leases_drop_claims(ah_store_t *s, const ah_claim_t *claims, size_t n)
{
    ah_leases_t *l = s->leases;
    if (!l || !n)
        return;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < n; i++)
        lease_drop(l, claims[i].delivery_id);
    pthread_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------------ */
/* Finding and claiming work.                                                */

int ah_store_delivery_due_webhooks(ah_store_t *s, ah_due_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return s->ops->delivery_due_webhooks(s, out, n);
}

/* Claims are handed out in due order. */
static int cmp_claim(const void *pa, const void *pb)
{
    const ah_claim_t *a = pa, *b = pb;
    if (a->due != b->due)
        return a->due < b->due ? -1 : 1;
    return strcmp(a->delivery_id, b->delivery_id);
}

typedef struct lease_job {
    ah_claim_t *rows;
    size_t n, cap;
    size_t max;
    bool bodies; /* the rows carry trigger and body */
} lease_job_t;

static int lease_row(void *arg, const ah_sql_row_t *r)
{
    lease_job_t *j = arg;
    if (j->n == j->cap) {
        size_t ncap = r->n_hint > j->cap ? r->n_hint
                      : j->cap           ? j->cap * 2
                      : j->max < 32      ? j->max
                                         : 32;
        void *p = realloc(j->rows, ncap * sizeof *j->rows);
        if (!p)
            return AH_ENOMEM;
        j->rows = p;
        j->cap = ncap;
    }
    ah_claim_t *row = &j->rows[j->n++];
    memset(row, 0, sizeof *row);
    SQL_COPY(r, 0, row->delivery_id);
    SQL_COPY(r, 1, row->event_id);
    row->attempts = (int)sql_i64(r, 2);
    row->due = sql_i64(r, 3);
    if (!j->bodies)
        return AH_OK;
    SQL_COPY(r, 4, row->trigger);
    return sql_dup(r, 5, &row->data, &row->data_len);
}

/*
 * The scan of a claim with leases in memory: rows come in due order; a
 * row leased here is skipped, a due one is taken while there is room, and
 * the first other row says when the rest is due, and ends the scan.
 */
typedef struct mem_claim {
    lease_job_t j;
    const ah_leases_t *l;
    int64_t now;
    int64_t next_due;
} mem_claim_t;

static int mem_claim_row(void *arg, const ah_sql_row_t *r)
{
    mem_claim_t *m = arg;
    size_t len = 0;
    const char *id = sql_text(r, 0, &len);
    if (!id || len >= AH_ID_SIZE)
        return AH_OK; /* never an id handed out */
    if (lease_of(m->l, id) >= m->now)
        return AH_OK; /* in flight */
    int64_t due = sql_i64(r, 3);
    if (due > m->now || m->j.n >= m->j.max) {
        m->next_due = due;
        return AH_SQL_STOP;
    }
    return lease_row(&m->j, r);
}

/*
 * lease_due and next_due_at in one read, for a driver with memory_leases:
 * under the lease table's lock, the webhook's pending deliveries are read
 * in due order, the due ones not leased here are taken (up to max) and
 * leased, and *next_due is the first untaken unleased one's due time.  The
 * read needs at most max rows plus those leased here plus the one that
 * says when the rest is due (ST_CLAIM's limit); a driver that
 * claim_skips_leased is given the leased ones' ids and reads max plus one.
 *
 * Where the driver has webhook_lease (PostgreSQL), the webhook's lease is
 * taken or renewed first, in the same transaction: a node that does not
 * hold it claims nothing (another node delivers this webhook; *next_due 0,
 * so it looks again at its next rescan or notification).  The node that
 * holds it leases what it claims here until lease_until, as on SQLite;
 * the webhook's lease, which keeps other nodes off them, then ends at
 * most the driver's renewal slack (a second) before that.
 */
static int lease_due_mem(ah_store_t *s, ah_sql_conn_t *c, ah_claim_req_t *r, int64_t now,
                         int64_t lease_until, size_t max, int64_t *next_due)
{
    ah_leases_t *l = s->leases;
    *next_due = 0;
    if (drv(s)->webhook_lease) {
        int64_t held = 0;
        int rc = drv(s)->webhook_lease(s, c, r->webhook_id, now, lease_until, &held);
        if (rc || held <= now)
            return rc; /* another node holds it */
    }
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    P_FIELD(&p, r->webhook_id);
    mem_claim_t m = {.j = {.max = max, .bodies = drv(s)->claim_bodies}, .l = l, .now = now};
    pthread_mutex_lock(&l->mu);
    char *skip = NULL;
    int rc = AH_OK;
    if (drv(s)->claim_skips_leased) {
        p_i64(&p, (int64_t)(max + 1));
        if (!(skip = leased_ids(l, r->webhook_id, now)))
            rc = AH_ENOMEM;
        p_str(&p, skip);
    } else {
        p_i64(&p, (int64_t)(max + leases_of_hook(l, r->webhook_id) + 1));
    }
    if (rc == AH_OK)
        rc = drv(s)->exec(s, c, false, ST_CLAIM, &p, mem_claim_row, &m, NULL);
    free(skip);
    for (size_t i = 0; rc == AH_OK && i < m.j.n; i++)
        rc = lease_set(l, m.j.rows[i].delivery_id, r->webhook_id, lease_until);
    if (rc) /* none of them is handed out */
        for (size_t i = 0; i < m.j.n; i++)
            lease_drop(l, m.j.rows[i].delivery_id);
    pthread_mutex_unlock(&l->mu);
    if (rc == AH_OK && m.j.n > 0) {
        qsort(m.j.rows, m.j.n, sizeof *m.j.rows, cmp_claim);
        r->claims = m.j.rows; /* the bodies move with them */
        r->n = m.j.n;
    } else {
        ah_claims_free(m.j.rows, m.j.n);
    }
    *next_due = rc ? 0 : m.next_due;
    return rc;
}

/*
 * Inside the claim transaction: leases up to max due deliveries of the
 * webhook into r->claims, oldest due first.  Inside it, so that a failure
 * here rolls the leases back instead of leaving them to lapse.
 */
static int lease_due(ah_store_t *s, ah_sql_conn_t *c, ah_claim_req_t *r, int64_t now,
                     int64_t lease_until, size_t max)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_i64(&p, lease_until);
    P_FIELD(&p, r->webhook_id);
    p_i64(&p, now);
    p_i64(&p, (int64_t)max);
    lease_job_t j = {.max = max, .bodies = drv(s)->claim_bodies};
    int rc = drv(s)->exec(s, c, true, ST_CLAIM, &p, lease_row, &j, NULL);
    if (rc == AH_OK && j.n > 0) {
        qsort(j.rows, j.n, sizeof *j.rows, cmp_claim);
        r->claims = j.rows; /* the bodies move with them */
        r->n = j.n;
    } else {
        ah_claims_free(j.rows, j.n);
    }
    return rc;
}

/* The earliest due time among the webhook's unleased pending deliveries, or 0. */
static int next_due_at(ah_store_t *s, ah_sql_conn_t *c, const char *webhook_id, int64_t now,
                       int64_t *out)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, webhook_id);
    p_i64(&p, now);
    *out = 0;
    int rc = ah_sql_one(s, c, true, ST_NEXT_DUE, &p, ah_sql_map_i64, out);
    return rc == AH_ENOTFOUND ? AH_OK : rc;
}

typedef struct body_read {
    ah_claim_t *cl;
    int rc;
} body_read_t;

static int body_row(void *arg, const ah_sql_row_t *r)
{
    body_read_t *j = arg;
    SQL_COPY(r, 0, j->cl->trigger);
    j->rc = sql_dup(r, 1, &j->cl->data, &j->cl->data_len);
    return AH_SQL_STOP;
}

static int cmp_claim_event(const void *pa, const void *pb)
{
    const ah_claim_t *const *a = pa, *const *b = pb;
    return strcmp((*a)->event_id, (*b)->event_id);
}

/*
 * Fills each claim's trigger and body (drivers without claim_bodies).
 * Claims are visited in event order so that several claims of one event
 * read it once.
 */
static int load_bodies(ah_store_t *s, ah_sql_conn_t *c, ah_claim_req_t *r)
{
    ah_claim_t **by_event = malloc(r->n * sizeof *by_event);
    if (!by_event)
        return AH_ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        by_event[i] = &r->claims[i];
    qsort(by_event, r->n, sizeof *by_event, cmp_claim_event);
    int rc = AH_OK;
    for (size_t i = 0; i < r->n && rc == AH_OK; i++) {
        ah_claim_t *cl = by_event[i];
        const ah_claim_t *prev = i ? by_event[i - 1] : NULL;
        if (!prev || strcmp(prev->event_id, cl->event_id) != 0) {
            ah_sql_params_t p;
            ah_sql_params_init(&p);
            p_str(&p, cl->event_id);
            body_read_t j = {cl, AH_ENOTFOUND};
            rc = drv(s)->exec(s, c, true, ST_EVENT_BODY, &p, body_row, &j, NULL);
            rc = rc ? rc : j.rc;
            continue;
        }
        memcpy(cl->trigger, prev->trigger, sizeof cl->trigger);
        cl->data = malloc(prev->data_len + 1);
        if (!cl->data) {
            rc = AH_ENOMEM;
            break;
        }
        memcpy(cl->data, prev->data, prev->data_len + 1);
        cl->data_len = prev->data_len;
    }
    free(by_event);
    return rc;
}

/*
 * One webhook's claim inside a write transaction: check the webhook
 * (reading its row when asked), lease its due deliveries, find when the
 * rest is due, and read the bodies.  Sets r->rc for what concerns this
 * request alone (AH_ENOTFOUND: no such webhook); returns a failure that
 * must roll the transaction back.  Starts r's outputs afresh, so that a
 * transaction run again starts clean.
 */
static int claim_one(ah_store_t *s, ah_sql_conn_t *c, ah_claim_req_t *r, int64_t now,
                     int64_t lease_until)
{
    leases_drop_claims(s, r->claims, r->n); /* a transaction run again: its first go's */
    ah_claims_free(r->claims, r->n);
    r->claims = NULL;
    r->n = 0;
    r->next_due = 0;
    r->rc = AH_OK;
    size_t max = r->max > AH_STORE_CLAIM_MAX ? AH_STORE_CLAIM_MAX : r->max;
    bool live = false;
    int rc;
    if (r->webhook) {
        ah_sql_params_t p;
        ah_sql_params_init(&p);
        P_FIELD(&p, r->webhook_id);
        webhook_read_t j = {s, r->webhook, AH_OK, false};
        rc = drv(s)->exec(s, c, true, ST_WEBHOOK_GET, &p, webhook_row, &j, NULL);
        if (rc == AH_OK && !j.found)
            rc = AH_ENOTFOUND;
        if (rc == AH_OK && j.rc) {
            r->rc = j.rc; /* its secret does not open: this webhook fails, not the others */
            return AH_OK;
        }
        live = rc == AH_OK && r->webhook->is_active && !r->webhook->deregistered_at;
    } else {
        rc = ah_sql_webhook_live(s, c, r->webhook_id, &live);
    }
    if (rc == AH_ENOTFOUND) {
        r->rc = rc;
        return AH_OK;
    }
    if (rc || !live)
        return rc;
    if (s->leases) {
        rc = lease_due_mem(s, c, r, now, lease_until, max, &r->next_due);
    } else {
        if (max > 0)
            rc = lease_due(s, c, r, now, lease_until, max);
        if (rc == AH_OK)
            rc = next_due_at(s, c, r->webhook_id, now, &r->next_due);
    }
    if (rc == AH_OK && r->n > 0 && !drv(s)->claim_bodies)
        rc = load_bodies(s, c, r);
    if (rc) {
        leases_drop_claims(s, r->claims, r->n);
        ah_claims_free(r->claims, r->n);
        r->claims = NULL;
        r->n = 0;
        r->next_due = 0;
    }
    return rc;
}

typedef struct claim_job {
    ah_store_t *s;
    ah_claim_req_t *reqs;
    size_t n;
    int64_t now;
    int64_t lease_until;
} claim_job_t;

/* Every request in one transaction: the first failure rolls all of it back. */
static int claim_all_tx(ah_sql_conn_t *c, void *arg)
{
    claim_job_t *j = arg;
    int rc = AH_OK;
    for (size_t i = 0; rc == AH_OK && i < j->n; i++)
        rc = claim_one(j->s, c, &j->reqs[i], j->now, j->lease_until);
    return rc;
}

/* One request in a transaction of its own; a missing webhook rolls it back too. */
static int claim_req_tx(ah_sql_conn_t *c, void *arg)
{
    claim_job_t *j = arg;
    int rc = claim_one(j->s, c, j->reqs, j->now, j->lease_until);
    return rc ? rc : j->reqs->rc;
}

static void claim_failed(ah_store_t *s, ah_claim_req_t *r, int rc)
{
    leases_drop_claims(s, r->claims, r->n);
    ah_claims_free(r->claims, r->n);
    r->claims = NULL;
    r->n = 0;
    r->next_due = 0;
    r->rc = rc;
}

/*
 * SQLite claims for every webhook in one write transaction: its writers
 * queue on one lock, and a dispatcher serving ten webhooks pays for one
 * commit, not ten.  PostgreSQL's writers do not queue on one lock, so
 * nothing is gained there by holding the leases of all of them at once:
 * one transaction each, and a failure stays with its request.
 */
int ah_store_delivery_claim_many(ah_store_t *s, ah_claim_req_t *reqs, size_t n, int64_t now,
                                 int64_t lease_until)
{
    if (n > 0 && !reqs)
        return AH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        reqs[i].claims = NULL;
        reqs[i].n = 0;
        reqs[i].next_due = 0;
    }
    if (n == 0)
        return AH_OK;
    claim_job_t j = {s, reqs, n, now, lease_until};
    int alive = ah_store_delivery_announce(s, now, lease_until);
    for (size_t i = 0; alive && i < n; i++)
        claim_failed(s, &reqs[i], alive);
    if (alive)
        return AH_OK; /* each request has its rc */
    if (drv(s)->claim_in_one_tx) {
        /* With leases in memory nothing is written: a read, serialised with the writes. */
        int rc =
            drv(s)->run(s, s->leases ? AH_SQL_SERIAL_TX : AH_SQL_WRITE_TX_LAZY, claim_all_tx, &j);
        for (size_t i = 0; rc && i < n; i++)
            claim_failed(s, &reqs[i], rc);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        j.reqs = &reqs[i];
        j.n = 1;
        int rc = drv(s)->run(s, AH_SQL_WRITE_TX_LAZY, claim_req_tx, &j);
        if (rc)
            claim_failed(s, &reqs[i], rc);
    }
    return AH_OK;
}

int ah_store_delivery_announce(ah_store_t *s, int64_t now, int64_t lease_until)
{
    const ah_sql_driver_t *d = s->ops->sql;
    return d && d->node_alive ? d->node_alive(s, now, lease_until) : AH_OK;
}

int ah_store_delivery_claim(ah_store_t *s, const char *webhook_id, int64_t now, int64_t lease_until,
                            size_t max, ah_claim_t **out, size_t *n, int64_t *next_due)
{
    *out = NULL;
    *n = 0;
    if (next_due)
        *next_due = 0;
    ah_claim_req_t r = {.max = max};
    if (!webhook_id || strlen(webhook_id) >= sizeof r.webhook_id)
        return AH_ENOTFOUND;
    memcpy(r.webhook_id, webhook_id, strlen(webhook_id) + 1);
    int rc = ah_store_delivery_claim_many(s, &r, 1, now, lease_until);
    if (rc == AH_OK)
        rc = r.rc;
    if (rc)
        return rc;
    *out = r.claims;
    *n = r.n;
    if (next_due)
        *next_due = r.next_due;
    return AH_OK;
}

/* ------------------------------------------------------------------------ */
/* Recording attempts and releasing leases.                                  */

int ah_store_delivery_record(ah_store_t *s, const ah_attempt_result_t *results, size_t n)
{
    if (n == 0)
        return AH_OK;
    if (!results)
        return AH_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!ah_outcome_status(results[i].outcome))
            return AH_EINVAL; /* nothing of the batch is recorded */
    int rc = s->ops->delivery_record(s, results, n);
    ah_leases_t *l = s->leases;
    if (rc == AH_OK && l) { /* after the commit: until then they are in flight */
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < n; i++)
            lease_drop(l, results[i].delivery_id);
        pthread_mutex_unlock(&l->mu);
    }
    return rc;
}

int ah_store_delivery_release(ah_store_t *s, const char (*ids)[AH_ID_SIZE], size_t n)
{
    if (n == 0)
        return AH_OK;
    if (!ids)
        return AH_EINVAL;
    ah_leases_t *l = s->leases;
    if (!l)
        return s->ops->delivery_release(s, ids, n);
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < n; i++)
        lease_drop(l, ids[i]);
    pthread_mutex_unlock(&l->mu);
    return AH_OK;
}

int ah_store_delivery_release_all(ah_store_t *s)
{
    ah_leases_t *l = s->leases;
    if (!l)
        return ah_sql_cmd(s, true, ST_DELIVERY_RELEASE_ALL, NULL, NULL);
    pthread_mutex_lock(&l->mu);
    leases_clear(l);
    pthread_mutex_unlock(&l->mu);
    return AH_OK;
}

int ah_store_delivery_own(ah_store_t *s, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    return s->ops->delivery_own ? s->ops->delivery_own(s, err, errlen) : AH_OK;
}

/* A pending delivery's lease, where leases live in memory (else the column's). */
static void overlay_lease(ah_store_t *s, ah_delivery_t *d, size_t n)
{
    ah_leases_t *l = s->leases;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < n; i++)
        d[i].lease_until = d[i].status == AH_DLV_PENDING ? lease_of(l, d[i].id) : 0;
    pthread_mutex_unlock(&l->mu);
}

/* ------------------------------------------------------------------------ */
/* Reading and operating deliveries.                                         */

static void map_delivery(const ah_sql_row_t *r, void *out)
{
    ah_delivery_t *d = out;
    memset(d, 0, sizeof *d);
    SQL_COPY(r, 0, d->id);
    SQL_COPY(r, 1, d->event_id);
    SQL_COPY(r, 2, d->webhook_id);
    SQL_COPY(r, 3, d->trigger);
    size_t len;
    d->status = ah_delivery_status_parse(sql_text(r, 4, &len));
    d->attempts = (int)sql_i64(r, 5);
    d->next_attempt_at = sql_i64(r, 6);
    d->lease_until = sql_i64(r, 7);
    d->created_at = sql_i64(r, 8);
    d->updated_at = sql_i64(r, 9);
    d->last_status_code = (int)sql_i64(r, 10);
    SQL_COPY(r, 11, d->last_error);
}

static void map_attempt(const ah_sql_row_t *r, void *out)
{
    ah_attempt_t *a = out;
    memset(a, 0, sizeof *a);
    a->attempt_no = (int)sql_i64(r, 0);
    a->started_at = sql_i64(r, 1);
    a->duration_ms = sql_i64(r, 2);
    a->status_code = (int)sql_i64(r, 3);
    SQL_COPY(r, 4, a->error);
    r->ops->bytes(r, 5, a->response_head, sizeof a->response_head);
    r->ops->bytes(r, 6, a->response_headers, sizeof a->response_headers);
}

int ah_sql_parse_cursor(const char *cursor, int64_t *at, char id[AH_ID_SIZE])
{
    const char *sep = strchr(cursor, '_');
    if (!sep || sep == cursor || (size_t)(sep - cursor) > CURSOR_NUM_MAX)
        return AH_EINVAL;
    char num[CURSOR_NUM_MAX + 1];
    size_t len = (size_t)(sep - cursor);
    memcpy(num, cursor, len);
    num[len] = '\0';
    if (ah_parse_i64(num, INT64_MIN, INT64_MAX, at) != AH_OK || !ah_is_uuid(sep + 1))
        return AH_EINVAL;
    memcpy(id, sep + 1, AH_ID_SIZE);
    ah_lower(id);
    return AH_OK;
}

void ah_sql_format_cursor(int64_t at, const char *id, char cursor[AH_CURSOR_SIZE])
{
    snprintf(cursor, AH_CURSOR_SIZE, "%" PRId64 "_%s", at, id);
}

int ah_store_delivery_list(ah_store_t *s, const ah_delivery_filter_t *f, ah_delivery_t **out,
                           size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    *out = NULL;
    *n = 0;
    if (next_cursor)
        next_cursor[0] = '\0';
    if (!f)
        return AH_EINVAL;
    bool by_webhook = f->webhook_id && *f->webhook_id;
    bool by_event = f->event_id && *f->event_id;
    bool by_community = !by_webhook && !by_event && f->community_id && *f->community_id;
    if ((!by_webhook && !by_event && !by_community) || f->limit < 1 ||
        f->limit > AH_DELIVERY_PAGE_MAX || f->status < -1 || f->status > AH_DLV_CANCELLED)
        return AH_EINVAL;
    int64_t at = INT64_MAX; /* first page: older than the end of time */
    char after[AH_ID_SIZE] = "";
    if (f->cursor && *f->cursor && ah_sql_parse_cursor(f->cursor, &at, after) != AH_OK)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    /* An event has one delivery per webhook: with both, its list is the shorter walk. */
    p_str(&p, by_event ? f->event_id : by_webhook ? f->webhook_id : f->community_id);
    p_str(&p, f->status < 0 ? NULL : ah_delivery_status_name(f->status));
    p_i64(&p, at);
    p_str(&p, after);
    p_i64(&p, (int64_t)f->limit + 1); /* one more row tells whether another page follows */
    p_i64(&p, f->since);
    p_i64(&p, f->until ? f->until : INT64_MAX);
    p_str(&p, by_event && by_webhook ? f->webhook_id : NULL);
    void *arr;
    int stmt = by_event     ? ST_DELIVERY_LIST_EVENT
               : by_webhook ? ST_DELIVERY_LIST_WEBHOOK
                            : ST_DELIVERY_LIST_COMMUNITY;
    int rc = ah_sql_all(s, NULL, stmt, &p, map_delivery, sizeof **out, &arr, n);
    *out = arr;
    if (rc == AH_OK)
        overlay_lease(s, *out, *n);
    if (rc == AH_OK && *n > f->limit) {
        *n = f->limit;
        if (next_cursor)
            ah_sql_format_cursor((*out)[*n - 1].created_at, (*out)[*n - 1].id, next_cursor);
    }
    return rc;
}

typedef struct delivery_read {
    ah_store_t *s;
    const char *id;
    ah_delivery_t *out;
    ah_attempt_t **attempts; /* NULL: the caller wants none */
    size_t *n_attempts;
} delivery_read_t;

/* The delivery and its attempts, in one snapshot. */
static int read_delivery_tx(ah_sql_conn_t *c, void *arg)
{
    delivery_read_t *r = arg;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, r->id);
    int rc = ah_sql_one(r->s, c, false, ST_DELIVERY_GET, &p, map_delivery, r->out);
    if (rc || !r->attempts)
        return rc;
    free(*r->attempts); /* a rerun starts afresh */
    void *arr;
    rc = ah_sql_all(r->s, c, ST_ATTEMPT_LIST, &p, map_attempt, sizeof **r->attempts, &arr,
                    r->n_attempts);
    *r->attempts = arr;
    return rc;
}

int ah_store_delivery_get(ah_store_t *s, const char *id, ah_delivery_t *out,
                          ah_attempt_t **attempts, size_t *n_attempts)
{
    size_t n_dummy;
    if (attempts)
        *attempts = NULL;
    if (n_attempts)
        *n_attempts = 0;
    if (!out)
        return AH_EINVAL;
    delivery_read_t r = {s, id, out, attempts, n_attempts ? n_attempts : &n_dummy};
    int rc = drv(s)->run(s, AH_SQL_READ_TX, read_delivery_tx, &r);
    if (rc == AH_OK)
        overlay_lease(s, out, 1);
    if (rc && attempts) {
        free(*attempts);
        *attempts = NULL;
        if (n_attempts)
            *n_attempts = 0;
    }
    return rc;
}

int ah_store_delivery_retry(ah_store_t *s, const char *id, int64_t now, char webhook_id[AH_ID_SIZE])
{
    char wid[AH_ID_SIZE] = "";
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_i64(&p, now);
    int rc = ah_sql_one(s, NULL, true, ST_DELIVERY_RETRY, &p, ah_sql_map_id, wid);
    if (rc == AH_OK && webhook_id)
        ah_sql_copy_id(webhook_id, wid);
    return rc;
}

static void map_stats(const ah_sql_row_t *r, void *out)
{
    ah_delivery_stats_t *st = out;
    st->pending = sql_i64(r, 0);
    st->oldest_pending_created_at = sql_i64(r, 1); /* NULL reads 0 */
}

static void map_overview(const ah_sql_row_t *r, void *out)
{
    ah_store_overview_t *o = out;
    o->communities = sql_i64(r, 0);
    o->active_webhooks = sql_i64(r, 1);
    o->disabled_webhooks = sql_i64(r, 2);
    o->events = sql_i64(r, 3);
    o->deliveries = sql_i64(r, 4);
}

int ah_store_overview(ah_store_t *s, int64_t since, ah_store_overview_t *out)
{
    if (!out)
        return AH_EINVAL;
    memset(out, 0, sizeof *out);
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_i64(&p, since);
    return ah_sql_one(s, NULL, false, ST_OVERVIEW, &p, map_overview, out);
}

int ah_store_webhook_recently_disabled(ah_store_t *s, size_t max, ah_webhook_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (max < 1 || max > AH_LIST_PAGE_MAX)
        return AH_EINVAL;
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_i64(&p, (int64_t)max);
    void *arr = NULL;
    int rc = ah_sql_all(s, NULL, ST_WEBHOOK_DISABLED_RECENT, &p, ah_sql_map_webhook, sizeof **out,
                        &arr, n);
    *out = arr;
    for (size_t i = 0; i < *n; i++)
        (*out)[i].secret[0] = (*out)[i].prev_secret[0] = '\0';
    return rc;
}

int ah_store_delivery_stats(ah_store_t *s, ah_delivery_stats_t *out)
{
    memset(out, 0, sizeof *out);
    return ah_sql_one(s, NULL, false, ST_DELIVERY_STATS, NULL, map_stats, out);
}

/* ------------------------------------------------------------------------ */
/* The keys of the webhook secrets.                                          */

/*
 * The key check: a known text sealed under the current key, in the
 * settings table.  It says which key the database's secrets are sealed
 * with even before any webhook exists, so two nodes given different key
 * files are told at start, not when one cannot sign what the other stored.
 */
#define KEY_CHECK_SETTING "secret_key_check"
#define KEY_CHECK_AAD "airhook setting secret_key_check"
#define KEY_CHECK_TEXT "airhook"
#define SECRETS_PAGE 500
#define STORED_SECRET_MAX 256 /* a stored secret, sealed or not, is shorter */

int ah_store_secrets_key_id(ah_store_t *s, char id[AH_KEY_ID_LEN + 1])
{
    char v[AH_SECRET_SEALED_SIZE];
    id[0] = '\0';
    int rc = ah_store_setting_get(s, KEY_CHECK_SETTING, v, sizeof v);
    if (rc)
        return rc;
    size_t head = sizeof AH_SEAL_PREFIX - 1;
    if (!ah_is_sealed(v, strlen(v)) || strlen(v) < head + AH_KEY_ID_LEN)
        return AH_ESTORE;
    memcpy(id, v + head, AH_KEY_ID_LEN);
    id[AH_KEY_ID_LEN] = '\0';
    return AH_OK;
}

static int check_key(ah_store_t *s, char *err, size_t errlen)
{
    const ah_keyring_t *kr = s->keys;
    char v[AH_SECRET_SEALED_SIZE], plain[16], id[AH_KEY_ID_LEN + 1], ids[128];
    int rc = ah_store_setting_get(s, KEY_CHECK_SETTING, v, sizeof v);
    if (rc == AH_ENOTFOUND) {
        rc = ah_seal(kr, KEY_CHECK_AAD, KEY_CHECK_TEXT, sizeof KEY_CHECK_TEXT - 1, v, sizeof v);
        if (rc == AH_OK)
            rc = ah_store_setting_add(s, KEY_CHECK_SETTING, v);
        if (rc == AH_EEXISTS) /* another node was first: check against its key */
            rc = ah_store_setting_get(s, KEY_CHECK_SETTING, v, sizeof v);
    }
    if (rc) {
        snprintf(err, errlen, "cannot read or store the secret key check: %s", ah_strerror(rc));
        return rc;
    }
    ah_keyring_ids(kr, ids, sizeof ids);
    rc = ah_unseal(kr, KEY_CHECK_AAD, v, strlen(v), plain, sizeof plain, NULL, id);
    if (rc == AH_ENOTFOUND) {
        snprintf(err, errlen,
                 "the webhook secrets in the database are sealed with key %s, which is not "
                 "among the keys given (%s): start with the key file this database was used "
                 "with (docs/operations.md, \"Secrets\")",
                 id, ids);
        return rc;
    }
    if (rc || strcmp(plain, KEY_CHECK_TEXT) != 0) {
        snprintf(err, errlen, "the secret key check in the database does not open with key %s", id);
        return AH_EINVAL;
    }
    if (strcmp(id, kr->keys[0].id) != 0) { /* rotated: the check moves to the new key too */
        rc = ah_seal(kr, KEY_CHECK_AAD, KEY_CHECK_TEXT, sizeof KEY_CHECK_TEXT - 1, v, sizeof v);
        if (rc == AH_OK)
            rc = ah_store_setting_set(s, KEY_CHECK_SETTING, v);
        if (rc)
            snprintf(err, errlen, "cannot store the secret key check: %s", ah_strerror(rc));
    }
    return rc;
}

/* A webhook's two stored secrets, as stored. */
typedef struct secret_row {
    char id[AH_ID_SIZE];
    char secret[STORED_SECRET_MAX];
    char prev[STORED_SECRET_MAX];
    bool has_prev;
    bool too_long;
} secret_row_t;

static void map_secret_row(const ah_sql_row_t *r, void *out)
{
    secret_row_t *w = out;
    size_t a = 0, b = 0;
    memset(w, 0, sizeof *w);
    SQL_COPY(r, 0, w->id);
    sql_text(r, 1, &a);
    sql_text(r, 2, &b);
    w->too_long = a >= sizeof w->secret || b >= sizeof w->prev;
    SQL_COPY(r, 1, w->secret);
    SQL_COPY(r, 2, w->prev);
    w->has_prev = !sql_null(r, 2);
}

typedef enum { SECRET_OK, SECRET_RESEAL, SECRET_UNKNOWN_KEY } secret_state_t;

/* What a stored value needs: nothing, sealing under the current key, or a key we lack. */
static secret_state_t secret_state(const ah_keyring_t *kr, const char *v,
                                   char id[AH_KEY_ID_LEN + 1])
{
    size_t len = strlen(v), head = sizeof AH_SEAL_PREFIX - 1;
    if (!len)
        return SECRET_OK;
    if (!ah_is_sealed(v, len) || len < head + AH_KEY_ID_LEN)
        return SECRET_RESEAL; /* plain, from before sealing */
    memcpy(id, v + head, AH_KEY_ID_LEN);
    id[AH_KEY_ID_LEN] = '\0';
    if (!strcmp(id, kr->keys[0].id))
        return SECRET_OK;
    return ah_keyring_find(kr, id, AH_KEY_ID_LEN) ? SECRET_RESEAL : SECRET_UNKNOWN_KEY;
}

/* One page of webhooks after `after`, by id; *n = 0 at the end. */
static int secrets_page(ah_store_t *s, const char *after, secret_row_t **rows, size_t *n)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, after);
    p_i64(&p, SECRETS_PAGE);
    void *arr;
    int rc =
        ah_sql_all(s, NULL, ST_WEBHOOK_SECRETS_PAGE, &p, map_secret_row, sizeof **rows, &arr, n);
    *rows = arr;
    return rc;
}

typedef struct reseal_job {
    ah_store_t *s;
    const secret_row_t *rows;
    char (*sealed)[2][AH_SECRET_SEALED_SIZE];
    const bool *todo;
    size_t n;
    size_t changed;
} reseal_job_t;

/* The page's new values, each written only if the row still holds what was read. */
static int reseal_tx(ah_sql_conn_t *c, void *arg)
{
    reseal_job_t *j = arg;
    j->changed = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (!j->todo[i])
            continue;
        const secret_row_t *w = &j->rows[i];
        ah_sql_params_t p;
        ah_sql_params_init(&p);
        p_str(&p, w->id);
        p_str(&p, j->sealed[i][0]);
        p_opt(&p, j->sealed[i][1]);
        p_str(&p, w->secret);
        p_str(&p, w->has_prev ? w->prev : NULL);
        size_t changed = 0;
        int rc = drv(j->s)->exec(j->s, c, true, ST_WEBHOOK_SECRETS_SET, &p, NULL, NULL, &changed);
        if (rc)
            return rc;
        j->changed += changed;
    }
    return AH_OK;
}

/* Opens a stored value and seals it under the current key, into out. */
static int reseal_value(ah_store_t *s, const char *webhook_id, const char *v,
                        char out[AH_SECRET_SEALED_SIZE])
{
    char plain[AH_SECRET_MAX];
    int rc = ah_sql_open_text(s->keys, webhook_id, v, strlen(v), plain, sizeof plain);
    if (rc == AH_OK)
        rc = ah_sql_seal_secret(s->keys, webhook_id, plain, out);
    OPENSSL_cleanse(plain, sizeof plain);
    return rc;
}

/* Seals one page's plain or old-key values under the current key. */
static int reseal_page(ah_store_t *s, const secret_row_t *rows, size_t n, size_t *n_sealed)
{
    char(*sealed)[2][AH_SECRET_SEALED_SIZE] = calloc(n, sizeof *sealed);
    bool *todo = calloc(n, sizeof *todo);
    int rc = sealed && todo ? AH_OK : AH_ENOMEM;
    char id[AH_KEY_ID_LEN + 1];
    for (size_t i = 0; rc == AH_OK && i < n; i++) {
        const secret_row_t *w = &rows[i];
        if (w->too_long || (secret_state(s->keys, w->secret, id) != SECRET_RESEAL &&
                            secret_state(s->keys, w->prev, id) != SECRET_RESEAL))
            continue;
        if (reseal_value(s, w->id, w->secret, sealed[i][0]) ||
            reseal_value(s, w->id, w->prev, sealed[i][1])) {
            ah_logf(AH_LOG_WARN, "store: the secrets of webhook %s cannot be sealed again", w->id);
            continue;
        }
        todo[i] = true;
    }
    reseal_job_t j = {s, rows, sealed, todo, n, 0};
    if (rc == AH_OK)
        rc = drv(s)->run(s, AH_SQL_WRITE_TX, reseal_tx, &j);
    if (rc == AH_OK)
        *n_sealed += j.changed;
    if (sealed)
        OPENSSL_cleanse(sealed, n * sizeof *sealed);
    free(sealed);
    free(todo);
    return rc;
}

/*
 * Walks every webhook twice: first to refuse, writing nothing, when a
 * secret is sealed with a key not given; then to seal what is plain or
 * sealed under an older key, a page per transaction.
 */
static int reseal_all(ah_store_t *s, size_t *n_sealed, char *err, size_t errlen)
{
    for (int pass = 0; pass < 2; pass++) {
        char after[AH_ID_SIZE] = "", unknown[AH_KEY_ID_LEN + 1] = "", id[AH_KEY_ID_LEN + 1];
        size_t n_unknown = 0, n_todo = 0;
        for (;;) {
            secret_row_t *rows;
            size_t n;
            int rc = secrets_page(s, after, &rows, &n);
            if (rc) {
                snprintf(err, errlen, "cannot read the webhook secrets: %s", ah_strerror(rc));
                return rc;
            }
            for (size_t i = 0; pass == 0 && i < n; i++) {
                secret_state_t a = secret_state(s->keys, rows[i].secret, id);
                if (a == SECRET_UNKNOWN_KEY && !n_unknown++)
                    memcpy(unknown, id, sizeof unknown);
                secret_state_t b = secret_state(s->keys, rows[i].prev, id);
                if (b == SECRET_UNKNOWN_KEY && !n_unknown++)
                    memcpy(unknown, id, sizeof unknown);
                n_todo += a == SECRET_RESEAL || b == SECRET_RESEAL;
            }
            if (pass == 1 && n)
                rc = reseal_page(s, rows, n, n_sealed);
            if (n)
                ah_sql_copy_id(after, rows[n - 1].id);
            if (n)
                OPENSSL_cleanse(rows, n * sizeof *rows);
            free(rows);
            if (rc) {
                snprintf(err, errlen, "cannot seal the webhook secrets: %s", ah_strerror(rc));
                return rc;
            }
            if (n < SECRETS_PAGE)
                break;
        }
        if (pass == 0 && n_unknown) {
            char ids[128];
            ah_keyring_ids(s->keys, ids, sizeof ids);
            snprintf(err, errlen,
                     "%zu webhook secrets in the database are sealed with key %s, which is not "
                     "among the keys given (%s): start with the key file that holds it",
                     n_unknown, unknown, ids);
            return AH_ENOTFOUND;
        }
        if (pass == 0 && !n_todo)
            break;
    }
    return AH_OK;
}

int ah_store_secrets_init(ah_store_t *s, const ah_keyring_t *kr, size_t *n_sealed, char *err,
                          size_t errlen)
{
    if (n_sealed)
        *n_sealed = 0;
    if (!kr || !kr->n) {
        snprintf(err, errlen, "no key for the webhook secrets");
        return AH_EINVAL;
    }
    ah_keyring_t *keys = malloc(sizeof *keys);
    if (!keys) {
        snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    *keys = *kr;
    ah_keyring_wipe(s->keys);
    free(s->keys);
    s->keys = keys;
    size_t sealed = 0;
    int rc = check_key(s, err, errlen);
    if (rc == AH_OK)
        rc = reseal_all(s, &sealed, err, errlen);
    size_t listener_sealed = 0;
    if (rc == AH_OK)
        rc = ah_store_listener_secrets_reseal(s, &listener_sealed, err, errlen);
    sealed += listener_sealed;
    if (n_sealed)
        *n_sealed = sealed;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Names and small helpers.                                                  */

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

/* ------------------------------------------------------------------------ */
/* The operator's pages of a parent's children.                              */

static int64_t key_at(const void *row)
{
    return ((const ah_access_key_t *)row)->created_at;
}

static int64_t airmeet_at(const void *row)
{
    return ((const ah_airmeet_t *)row)->created_at;
}

static int64_t session_at(const void *row)
{
    return ((const ah_session_t *)row)->created_at;
}

/* A page of stmt's rows under parent (a NULL parent has none: no row has a NULL parent). */
static int child_page(ah_store_t *s, int stmt, const char *parent, const char *cursor, size_t limit,
                      ah_sql_map_fn map, size_t size, int64_t (*at_of)(const void *row), void **out,
                      size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, parent ? parent : "");
    return page_read(s, stmt, &p, cursor, limit, map, size, at_of, false, out, n, next_cursor);
}

int ah_store_access_key_page(ah_store_t *s, const char *community_id, const char *cursor,
                             size_t limit, ah_access_key_t **out, size_t *n,
                             char next_cursor[AH_CURSOR_SIZE])
{
    void *arr;
    int rc = child_page(s, ST_KEY_PAGE, community_id, cursor, limit, map_key, sizeof **out, key_at,
                        &arr, n, next_cursor);
    *out = arr;
    return rc;
}

int ah_store_airmeet_page_from(ah_store_t *s, const char *community_id, const char *cursor,
                               size_t limit, ah_airmeet_t **out, size_t *n,
                               char next_cursor[AH_CURSOR_SIZE])
{
    void *arr;
    int rc = child_page(s, ST_AIRMEET_PAGE_FROM, community_id, cursor, limit, map_airmeet,
                        sizeof **out, airmeet_at, &arr, n, next_cursor);
    *out = arr;
    return rc;
}

int ah_store_session_page(ah_store_t *s, const char *airmeet_id, const char *cursor, size_t limit,
                          ah_session_t **out, size_t *n, char next_cursor[AH_CURSOR_SIZE])
{
    void *arr;
    int rc = child_page(s, ST_SESSION_PAGE, airmeet_id, cursor, limit, map_session, sizeof **out,
                        session_at, &arr, n, next_cursor);
    *out = arr;
    return rc;
}
