/* SPDX-License-Identifier: MIT */
/*
 * cache.c: the generation-tagged LRU map of cache.h.
 *
 * One mutex guards a chained hash table (FNV-1a over the key, a power-of-two
 * number of buckets, at least as many as the entry cap) and a doubly linked
 * list in recency order, most recent first.  An entry is one allocation:
 * the header, then the key, then the value and a NUL, so a hit copies the
 * value out under the lock and nothing is shared with the caller.  The
 * critical sections are a hash, a chain walk, a memcmp and a memcpy of at
 * most a few KiB; the API's handler threads are few, so one lock does.
 *
 * A blob entry holds a reference to a shared blob instead of a copy: a hit
 * takes another reference, under the lock, and nothing is copied however
 * large the blob.  Builds in progress are "flights", a short list under
 * the same lock: a caller that misses while a flight for its key and
 * generation is in the air shares the flight's result, so N concurrent
 * misses cost one build.  It either blocks on the cache's condition
 * variable (ah_cache_get_or_build) or leaves a callback on the flight
 * (ah_cache_get_async), which the thread that lands the flight calls.  A
 * flight leaves the list when it lands; the last of its blocked waiters
 * (or the lander, when none blocks) frees it.
 *
 * Keys reach the maps only after the store has found the row (a token, an
 * airmeet the caller's community owns), so outsiders cannot fill a cache
 * with keys of their choosing; the exception is the key cache, which also
 * remembers access keys the store does not have (so that an unknown key
 * costs what a wrong secret costs), fed at most auth-fail-limit times a
 * minute per address.  The caps bound every map anyway.
 */
#include "api/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"

/* A place in the recency list; first in an entry, so a link is its entry. */
typedef struct link {
    struct link *newer;
    struct link *older;
} link_t;

typedef struct entry {
    link_t lru;          /* first */
    struct entry *chain; /* next in the bucket */
    uint64_t hash;
    int64_t gen;
    size_t key_len;
    size_t value_len; /* a blob's length, for a blob entry */
    ah_blob_t *blob;  /* a blob entry's reference; NULL: the value follows the key */
    char data[];      /* key, then (not for a blob) value and NUL */
} entry_t;

/* A caller that waits for a flight without a thread: done(arg, blob, rc) when it lands. */
typedef struct listener {
    struct listener *next;
    ah_blob_fn done;
    void *arg;
} listener_t;

/* A build in progress (ah_cache_get_or_build, ah_cache_get_async). */
struct ah_cache_flight {
    struct ah_cache_flight *next;
    uint64_t hash;
    int64_t gen;
    size_t key_len;
    bool done;
    int rc;                /* the build's status, once done */
    ah_blob_t *blob;       /* once done: what it built, one reference for the waiters */
    unsigned waiters;      /* callers blocked in wait_for */
    listener_t *listeners; /* callers queued with a callback */
    char key[];
};
typedef struct ah_cache_flight flight_t;

struct ah_cache {
    pthread_mutex_t mu;
    pthread_cond_t landed; /* a flight is done */
    entry_t **buckets;
    size_t mask; /* buckets - 1 */
    link_t lru;  /* sentinel: lru.older is the newest, lru.newer the oldest */
    size_t n, bytes;
    size_t max_entries, max_bytes;
    uint64_t hits, misses;
    flight_t *flights;
};

/* ---- blobs ---- */

bool ah_blob_append(ah_blob_t **b, const void *data, size_t n)
{
    ah_blob_t *cur = *b;
    size_t len = cur ? cur->len : 0, cap = cur ? cur->cap : 0;
    if (n > SIZE_MAX / 2 - sizeof *cur - len)
        return false;
    if (len + n + 1 > cap) {
        size_t ncap = cap ? cap : 4096;
        while (ncap < len + n + 1)
            ncap *= 2;
        ah_blob_t *nb = realloc(cur, sizeof *nb + ncap);
        if (!nb)
            return false;
        if (!cur) {
            atomic_init(&nb->refs, 1);
            nb->len = 0;
        }
        nb->cap = ncap;
        *b = cur = nb;
    }
    memcpy(cur->data + cur->len, data, n);
    cur->len += n;
    cur->data[cur->len] = '\0';
    return true;
}

ah_blob_t *ah_blob_ref(ah_blob_t *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void ah_blob_release(void *p)
{
    ah_blob_t *b = p;
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

static uint64_t fnv1a(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static size_t entry_bytes(const entry_t *e)
{
    return sizeof *e + e->key_len + e->value_len + 1 + (e->blob ? sizeof *e->blob : 0);
}

ah_cache_t *ah_cache_new(size_t max_entries, size_t max_bytes)
{
    if (!max_entries || !max_bytes)
        return NULL;
    ah_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t nb = 16;
    while (nb < max_entries && nb < ((size_t)1 << 30))
        nb <<= 1;
    c->buckets = calloc(nb, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = nb - 1;
    c->lru.newer = c->lru.older = &c->lru;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->landed, NULL);
    return c;
}

void ah_cache_free(ah_cache_t *c)
{
    if (!c)
        return;
    link_t *l = c->lru.older;
    while (l != &c->lru) {
        link_t *next = l->older;
        ah_blob_release(((entry_t *)l)->blob);
        free(l); /* the entry it starts */
        l = next;
    }
    pthread_cond_destroy(&c->landed);
    pthread_mutex_destroy(&c->mu);
    free(c->buckets);
    free(c);
}

/* The recency list runs from lru.older (newest) through ->older to the oldest. */
static void list_unlink(entry_t *e)
{
    e->lru.newer->older = e->lru.older;
    e->lru.older->newer = e->lru.newer;
}

static void list_push_newest(ah_cache_t *c, entry_t *e)
{
    e->lru.newer = &c->lru;
    e->lru.older = c->lru.older;
    c->lru.older->newer = &e->lru;
    c->lru.older = &e->lru;
}

/* The slot that points at the entry with this key (or at the chain's NULL end). */
static entry_t **find_slot(ah_cache_t *c, const char *key, size_t key_len, uint64_t hash)
{
    entry_t **slot = &c->buckets[hash & c->mask];
    for (; *slot; slot = &(*slot)->chain) {
        const entry_t *e = *slot;
        if (e->hash == hash && e->key_len == key_len && !memcmp(e->data, key, key_len))
            break;
    }
    return slot;
}

/* Unlinks *slot's entry from both structures and frees it. */
static void remove_at(ah_cache_t *c, entry_t **slot)
{
    entry_t *e = *slot;
    *slot = e->chain;
    list_unlink(e);
    c->n--;
    c->bytes -= entry_bytes(e);
    ah_blob_release(e->blob);
    free(e);
}

static void evict_oldest(ah_cache_t *c)
{
    if (c->lru.newer == &c->lru)
        return;
    entry_t *old = (entry_t *)c->lru.newer;
    remove_at(c, find_slot(c, old->data, old->key_len, old->hash));
}

/*
 * Under the lock: the live entry for key at gen, moved to the front, or
 * NULL.  An entry of an older generation is stale for good and goes.
 */
static entry_t *lookup(ah_cache_t *c, const char *key, size_t key_len, int64_t gen)
{
    entry_t **slot = find_slot(c, key, key_len, fnv1a(key, key_len));
    entry_t *e = *slot;
    if (e && e->gen < gen) {
        remove_at(c, slot);
        e = NULL;
    }
    if (!e || e->gen != gen) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    list_unlink(e);
    list_push_newest(c, e);
    return e;
}

bool ah_cache_get(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, void *out,
                  size_t size)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    entry_t *e = lookup(c, key, key_len, gen);
    bool hit = e && !e->blob && e->value_len == size;
    if (hit)
        memcpy(out, e->data + e->key_len, size);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

bool ah_cache_get_dup(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, char **out,
                      size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    entry_t *e = lookup(c, key, key_len, gen);
    if (e && !e->blob && (*out = malloc(e->value_len + 1))) {
        memcpy(*out, e->data + e->key_len, e->value_len + 1);
        *len = e->value_len;
    }
    pthread_mutex_unlock(&c->mu);
    return *out != NULL;
}

/* A new entry for key at gen, with room for a value of len bytes (none for a blob); NULL: no. */
static entry_t *new_entry(const ah_cache_t *c, const char *key, size_t key_len, int64_t gen,
                          size_t len, bool blob)
{
    if (len > c->max_bytes / 8 || key_len > c->max_bytes / 8)
        return NULL;
    entry_t *e = malloc(sizeof *e + key_len + (blob ? 0 : len + 1));
    if (!e)
        return NULL;
    e->hash = fnv1a(key, key_len);
    e->gen = gen;
    e->key_len = key_len;
    e->value_len = len;
    e->blob = NULL;
    memcpy(e->data, key, key_len);
    return e;
}

/*
 * Under the lock: stores e, replacing an entry of its key of the same or
 * an older generation; false (e not stored) when one of a newer
 * generation is there.
 */
static bool insert(ah_cache_t *c, entry_t *e)
{
    entry_t **slot = find_slot(c, e->data, e->key_len, e->hash);
    if (*slot && (*slot)->gen > e->gen)
        return false; /* someone already stored what a later generation holds */
    if (*slot)
        remove_at(c, slot);
    while (c->n && (c->n + 1 > c->max_entries || c->bytes + entry_bytes(e) > c->max_bytes))
        evict_oldest(c);
    slot = &c->buckets[e->hash & c->mask];
    e->chain = *slot;
    *slot = e;
    list_push_newest(c, e);
    c->n++;
    c->bytes += entry_bytes(e);
    return true;
}

void ah_cache_put(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, const void *value,
                  size_t len)
{
    entry_t *e = c ? new_entry(c, key, key_len, gen, len, false) : NULL;
    if (!e)
        return;
    memcpy(e->data + key_len, value, len);
    e->data[key_len + len] = '\0';
    pthread_mutex_lock(&c->mu);
    bool stored = insert(c, e);
    pthread_mutex_unlock(&c->mu);
    if (!stored)
        free(e);
}

/* ---- shared blobs, built once at a time ---- */

/* Under the lock: the live blob entry for key at gen, or NULL. */
static ah_blob_t *lookup_blob(ah_cache_t *c, const char *key, size_t key_len, int64_t gen)
{
    entry_t *e = lookup(c, key, key_len, gen);
    return e && e->blob ? ah_blob_ref(e->blob) : NULL;
}

ah_blob_t *ah_cache_get_blob(ah_cache_t *c, const char *key, size_t key_len, int64_t gen)
{
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->mu);
    ah_blob_t *b = lookup_blob(c, key, key_len, gen);
    pthread_mutex_unlock(&c->mu);
    return b;
}

/* Under the lock: the flight in the air for key at gen, or NULL. */
static flight_t *find_flight(ah_cache_t *c, const char *key, size_t key_len, uint64_t hash,
                             int64_t gen)
{
    for (flight_t *f = c->flights; f; f = f->next)
        if (f->hash == hash && f->gen == gen && f->key_len == key_len &&
            !memcmp(f->key, key, key_len))
            return f;
    return NULL;
}

/* Under the lock: a new flight for key at gen, in the air; NULL when out of memory. */
static flight_t *take_off(ah_cache_t *c, const char *key, size_t key_len, uint64_t hash,
                          int64_t gen)
{
    flight_t *f = calloc(1, sizeof *f + key_len);
    if (!f)
        return NULL;
    f->hash = hash;
    f->gen = gen;
    f->key_len = key_len;
    memcpy(f->key, key, key_len);
    f->next = c->flights;
    c->flights = f;
    return f;
}

static void unlink_flight(ah_cache_t *c, flight_t *f)
{
    flight_t **p = &c->flights;
    while (*p != f)
        p = &(*p)->next;
    *p = f->next;
}

static void free_flight(flight_t *f)
{
    ah_blob_release(f->blob);
    free(f);
}

/* Under the lock: waits for f to land and takes a reference to what it built. */
static ah_blob_t *wait_for(ah_cache_t *c, flight_t *f, int *rc)
{
    f->waiters++;
    while (!f->done)
        pthread_cond_wait(&c->landed, &c->mu);
    ah_blob_t *b = f->blob ? ah_blob_ref(f->blob) : NULL;
    *rc = f->rc;
    if (--f->waiters == 0)
        free_flight(f);
    return b;
}

/* Under the lock: keeps a reference to b under f's key, when it is not too large. */
static void keep(ah_cache_t *c, const flight_t *f, ah_blob_t *b)
{
    entry_t *e = new_entry(c, f->key, f->key_len, f->gen, b->len, true);
    if (!e)
        return;
    e->blob = ah_blob_ref(b);
    if (!insert(c, e)) {
        ah_blob_release(e->blob);
        free(e);
    }
}

void ah_cache_land(ah_cache_t *c, ah_cache_flight_t *f, ah_blob_t *b, int rc)
{
    if (rc)
        b = NULL;
    pthread_mutex_lock(&c->mu);
    if (b)
        keep(c, f, b);
    unlink_flight(c, f);
    f->done = true;
    f->rc = rc;
    f->blob = b ? ah_blob_ref(b) : NULL;
    listener_t *queued = f->listeners;
    f->listeners = NULL;
    if (f->waiters)
        pthread_cond_broadcast(&c->landed); /* the last waiter frees f */
    else
        free_flight(f);
    pthread_mutex_unlock(&c->mu);
    while (queued) {
        listener_t *next = queued->next;
        queued->done(queued->arg, b ? ah_blob_ref(b) : NULL, rc);
        free(queued);
        queued = next;
    }
}

ah_cache_ask_t ah_cache_get_async(ah_cache_t *c, const char *key, size_t key_len, int64_t gen,
                                  ah_blob_fn done, void *arg, ah_cache_flight_t **flight)
{
    *flight = NULL;
    listener_t *l = malloc(sizeof *l);
    pthread_mutex_lock(&c->mu);
    ah_blob_t *b = lookup_blob(c, key, key_len, gen);
    uint64_t hash = fnv1a(key, key_len);
    flight_t *f = b || !l ? NULL : find_flight(c, key, key_len, hash, gen);
    ah_cache_ask_t ask = b ? AH_CACHE_HIT : f ? AH_CACHE_QUEUED : AH_CACHE_BUILD;
    if (ask == AH_CACHE_BUILD && l && !(f = take_off(c, key, key_len, hash, gen)))
        ask = AH_CACHE_HIT; /* out of memory: answered at once, below */
    if (ask != AH_CACHE_HIT && l) {
        *l = (listener_t){f->listeners, done, arg};
        f->listeners = l;
        l = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(l);
    if (ask == AH_CACHE_HIT || !f) {
        done(arg, b, b ? 0 : AH_ENOMEM);
        return AH_CACHE_HIT;
    }
    if (ask == AH_CACHE_BUILD)
        *flight = f;
    return ask;
}

ah_blob_t *ah_cache_get_or_build(ah_cache_t *c, const char *key, size_t key_len, int64_t gen,
                                 int (*build)(void *arg, ah_blob_t **out), void *arg, int *rc)
{
    ah_blob_t *b = NULL;
    if (!c) {
        *rc = build(arg, &b);
        return *rc ? NULL : b;
    }
    pthread_mutex_lock(&c->mu);
    if ((b = lookup_blob(c, key, key_len, gen))) {
        pthread_mutex_unlock(&c->mu);
        *rc = 0;
        return b;
    }
    uint64_t hash = fnv1a(key, key_len);
    flight_t *f = find_flight(c, key, key_len, hash, gen);
    if (f) {
        b = wait_for(c, f, rc);
        pthread_mutex_unlock(&c->mu);
        return b;
    }
    f = take_off(c, key, key_len, hash, gen);
    pthread_mutex_unlock(&c->mu);
    *rc = build(arg, &b);
    if (*rc) {
        ah_blob_release(b);
        b = NULL;
    }
    if (f)
        ah_cache_land(c, f, b, *rc);
    return b; /* without a flight (out of memory) this caller built alone */
}

void ah_cache_stats(ah_cache_t *c, ah_cache_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    out->hits = c->hits;
    out->misses = c->misses;
    out->entries = c->n;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}
