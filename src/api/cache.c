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
    size_t value_len;
    char data[]; /* key, value, NUL */
} entry_t;

struct ah_cache {
    pthread_mutex_t mu;
    entry_t **buckets;
    size_t mask; /* buckets - 1 */
    link_t lru;  /* sentinel: lru.older is the newest, lru.newer the oldest */
    size_t n, bytes;
    size_t max_entries, max_bytes;
    uint64_t hits, misses;
};

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
    return sizeof *e + e->key_len + e->value_len + 1;
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
    return c;
}

void ah_cache_free(ah_cache_t *c)
{
    if (!c)
        return;
    link_t *l = c->lru.older;
    while (l != &c->lru) {
        link_t *next = l->older;
        free(l); /* the entry it starts */
        l = next;
    }
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
    bool hit = e && e->value_len == size;
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
    if (e && (*out = malloc(e->value_len + 1))) {
        memcpy(*out, e->data + e->key_len, e->value_len + 1);
        *len = e->value_len;
    }
    pthread_mutex_unlock(&c->mu);
    return *out != NULL;
}

void ah_cache_put(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, const void *value,
                  size_t len)
{
    if (!c || len > c->max_bytes / 8 || key_len > c->max_bytes / 8)
        return;
    entry_t *e = malloc(sizeof *e + key_len + len + 1);
    if (!e)
        return;
    e->hash = fnv1a(key, key_len);
    e->gen = gen;
    e->key_len = key_len;
    e->value_len = len;
    memcpy(e->data, key, key_len);
    memcpy(e->data + key_len, value, len);
    e->data[key_len + len] = '\0';

    pthread_mutex_lock(&c->mu);
    entry_t **slot = find_slot(c, key, key_len, e->hash);
    if (*slot && (*slot)->gen > gen) {
        /* Someone already stored what a later generation holds. */
        pthread_mutex_unlock(&c->mu);
        free(e);
        return;
    }
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
    pthread_mutex_unlock(&c->mu);
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
