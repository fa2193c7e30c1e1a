/* SPDX-License-Identifier: MIT */
/*
 * catalog.c: the merged trigger catalog (catalog.h): a snapshot built from
 * the compiled-in table and the store's rows, shared by reference.
 *
 * A snapshot holds an array of ah_catalog_trigger_t (built-in rows first,
 * then the operator's), an index of them sorted by id for lookups, and the
 * store's rows, whose JSON texts are parsed once here.  The holder keeps
 * the newest snapshot under a mutex; acquiring one is a generation compare
 * and a reference count under it.  A stale holder is refreshed by the
 * request that notices: it builds outside the lock and installs its
 * snapshot if no newer one arrived meanwhile (two requests may both build;
 * both answers are right).
 */
#include "api/catalog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ah_catalog {
    atomic_int refs;
    int64_t gen; /* the `auth` generation it was read under; -1: read without one */
    ah_trigger_def_t *defs;
    size_t n_defs;
    ah_catalog_trigger_t *rows;
    size_t n;
    const ah_catalog_trigger_t **by_id; /* rows sorted by id */
};

struct ah_catalog_holder {
    pthread_mutex_t mu;
    ah_catalog_t *cur;
};

static void catalog_free(ah_catalog_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->rows && i < c->n; i++) {
        json_decref(c->rows[i].sample);
        json_decref(c->rows[i].schema);
    }
    ah_trigger_defs_free(c->defs, c->n_defs);
    free(c->rows);
    free(c->by_id);
    free(c);
}

void ah_catalog_release(ah_catalog_t *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        catalog_free(c);
}

static int by_id_cmp(const void *a, const void *b)
{
    const ah_catalog_trigger_t *x = *(const ah_catalog_trigger_t *const *)a;
    const ah_catalog_trigger_t *y = *(const ah_catalog_trigger_t *const *)b;
    return strcmp(x->id, y->id);
}

/* The stored row for built-in id (a hiding), or NULL. */
static const ah_trigger_def_t *hiding_of(const ah_catalog_t *c, const char *id)
{
    for (size_t i = 0; i < c->n_defs; i++)
        if (c->defs[i].builtin && !strcmp(c->defs[i].id, id))
            return &c->defs[i];
    return NULL;
}

/* An operator's row as a catalog trigger; its JSON texts were checked when they were stored. */
static void from_def(ah_catalog_trigger_t *t, const ah_trigger_def_t *d)
{
    memset(t, 0, sizeof *t);
    t->id = d->id;
    t->description = d->description;
    ah_scope_parse(d->airmeet_scope, &t->airmeet);
    ah_scope_parse(d->session_scope, &t->session);
    t->retired = d->retired_at != 0;
    t->retired_at = d->retired_at;
    t->created_at = d->created_at;
    t->updated_at = d->updated_at;
    t->sample = json_loads(d->sample, JSON_DECODE_ANY, NULL);
    t->schema = d->schema ? json_loads(d->schema, JSON_DECODE_ANY, NULL) : NULL;
    if (!t->sample) /* not JSON (written by hand into the table): an empty sample */
        t->sample = json_object();
}

static int build(ah_store_t *s, int64_t gen, ah_catalog_t **out)
{
    size_t n_builtin;
    const ah_trigger_t *builtin = ah_triggers(&n_builtin);
    ah_catalog_t *c = calloc(1, sizeof *c);
    if (!c)
        return AH_ENOMEM;
    atomic_init(&c->refs, 1);
    c->gen = gen;
    int rc = ah_store_trigger_list(s, &c->defs, &c->n_defs);
    if (rc)
        goto fail;
    size_t cap = n_builtin + c->n_defs;
    c->rows = calloc(cap ? cap : 1, sizeof *c->rows);
    c->by_id = calloc(cap ? cap : 1, sizeof *c->by_id);
    rc = AH_ENOMEM;
    if (!c->rows || !c->by_id)
        goto fail;
    for (size_t i = 0; i < n_builtin; i++) {
        ah_catalog_trigger_t *t = &c->rows[c->n++];
        const ah_trigger_def_t *hid = hiding_of(c, builtin[i].id);
        t->id = builtin[i].id;
        t->description = builtin[i].fires_when;
        t->airmeet = builtin[i].airmeet;
        t->session = builtin[i].session;
        t->builtin = &builtin[i];
        t->retired_at = hid ? hid->retired_at : 0;
        t->retired = t->retired_at != 0;
        t->updated_at = hid ? hid->updated_at : 0;
    }
    for (size_t i = 0; i < c->n_defs; i++) {
        if (c->defs[i].builtin || ah_trigger_find(c->defs[i].id))
            continue; /* a hiding, or (never written by the API) a built-in id */
        ah_catalog_trigger_t *t = &c->rows[c->n++];
        from_def(t, &c->defs[i]);
        if (!t->sample)
            goto fail;
    }
    for (size_t i = 0; i < c->n; i++)
        c->by_id[i] = &c->rows[i];
    qsort(c->by_id, c->n, sizeof *c->by_id, by_id_cmp);
    *out = c;
    return AH_OK;
fail:
    catalog_free(c);
    return rc;
}

ah_catalog_holder_t *ah_catalog_holder_new(void)
{
    ah_catalog_holder_t *h = calloc(1, sizeof *h);
    if (h && pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        h = NULL;
    }
    return h;
}

void ah_catalog_holder_free(ah_catalog_holder_t *h)
{
    if (!h)
        return;
    ah_catalog_release(h->cur);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

ah_catalog_t *ah_catalog_acquire(ah_catalog_holder_t *h, ah_store_t *s, const ah_cache_gen_t *gen,
                                 int *rc)
{
    ah_cache_gen_t now;
    *rc = AH_OK;
    if (!gen && h && ah_store_cache_gen(s, &now) == AH_OK)
        gen = &now;
    ah_catalog_t *c = NULL;
    if (h && gen) {
        pthread_mutex_lock(&h->mu);
        if (h->cur && h->cur->gen >= gen->auth) {
            c = h->cur;
            atomic_fetch_add(&c->refs, 1);
        }
        pthread_mutex_unlock(&h->mu);
        if (c)
            return c;
    }
    /* Tagged with the generation read before the table: it holds at least what that counts. */
    if ((*rc = build(s, gen ? gen->auth : -1, &c)) != AH_OK)
        return NULL;
    if (h && gen) {
        pthread_mutex_lock(&h->mu);
        if (!h->cur || h->cur->gen < c->gen) {
            ah_catalog_release(h->cur);
            atomic_fetch_add(&c->refs, 1); /* the holder's */
            h->cur = c;
        }
        pthread_mutex_unlock(&h->mu);
    }
    return c;
}

const ah_catalog_trigger_t *ah_catalog_find(const ah_catalog_t *c, const char *id)
{
    if (!c || !id)
        return NULL;
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(id, c->by_id[mid]->id);
        if (!cmp)
            return c->by_id[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const ah_catalog_trigger_t *ah_catalog_all(const ah_catalog_t *c, size_t *n)
{
    *n = c ? c->n : 0;
    return c ? c->rows : NULL;
}

json_t *ah_catalog_sample(const ah_catalog_trigger_t *t)
{
    if (t->builtin)
        return ah_trigger_sample(t->builtin);
    return json_deep_copy(t->sample);
}

static json_t *time_or_null(int64_t ms)
{
    char buf[AH_TIME_SIZE];
    if (!ms)
        return json_null();
    ah_format_time(ms, buf);
    return json_string(buf);
}

json_t *ah_catalog_json(const ah_catalog_trigger_t *t)
{
    json_t *sample = ah_catalog_sample(t);
    json_t *o = sample ? json_pack("{s:s, s:s, s:b, s:s, s:s, s:o, s:o}", "id", t->id,
                                   "description", t->description, "builtin", t->builtin != NULL,
                                   "airmeetId", ah_scope_name(t->airmeet), "sessionId",
                                   ah_scope_name(t->session), "samplePayload", sample, "schema",
                                   t->schema ? json_deep_copy(t->schema) : json_null())
                       : NULL;
    if (!o)
        return NULL;
    if (t->builtin) {
        json_object_set_new(o, "hidden", json_boolean(t->retired));
        json_object_set_new(o, "hiddenAt", time_or_null(t->retired_at));
    } else {
        json_object_set_new(o, "retired", json_boolean(t->retired));
        json_object_set_new(o, "retiredAt", time_or_null(t->retired_at));
        json_object_set_new(o, "createdAt", time_or_null(t->created_at));
        json_object_set_new(o, "updatedAt", time_or_null(t->updated_at));
    }
    return o;
}
