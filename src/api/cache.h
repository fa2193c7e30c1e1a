/* SPDX-License-Identifier: MIT */
/*
 * cache.h: a bounded, thread-safe map from short keys to byte strings, each
 * tagged with the generation it was built at (store.h, ah_cache_gen_t).
 *
 * The public API keeps five of them (public.c): token -> key and expiry,
 * access key -> key record, airmeet/session -> owning community,
 * community -> its quotas, and (community, airmeet, session) -> the
 * rendered webhook-list body, a shared blob (below).  A
 * lookup names the generation the caller has just read from the store and
 * hits only an entry built at exactly that generation, so an entry never
 * outlives a change committed by any process (docs/architecture.md,
 * "Caches").  Entries are evicted least recently used first when either cap
 * (entries, bytes of keys and values) would be exceeded; an entry built at
 * an older generation than a lookup asks for is dropped on sight.
 */
#ifndef AH_CACHE_H
#define AH_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ah_cache ah_cache_t;

/*
 * A blob: an immutable byte string shared by counted references.  The
 * rendered webhook-list body is one: the cache entry and every response
 * sending it hold a reference to one buffer, instead of a copy each, so
 * sixteen concurrent lists of a community cost one body, not sixteen.
 */
typedef struct ah_blob {
    atomic_size_t refs;
    size_t len;  /* bytes in data, a NUL after them */
    size_t cap;  /* room in data (while it is built) */
    char data[]; /* never written once shared */
} ah_blob_t;

/*
 * Appends n bytes to the blob *b is building, growing it; *b NULL starts
 * one, with one reference (the builder's).  Only before the blob is shared.
 * False when out of memory (*b is then unchanged, still the builder's).
 */
bool ah_blob_append(ah_blob_t **b, const void *data, size_t n);
/* Another reference to b; b itself. */
ah_blob_t *ah_blob_ref(ah_blob_t *b);
/* Drops one reference to b (an ah_blob_t *; NULL is fine); the last one frees it. */
void ah_blob_release(void *b);

/*
 * A cache of at most max_entries entries and max_bytes bytes of keys and
 * values; a value larger than max_bytes / 8 is never stored.  NULL when out
 * of memory.  Every function below accepts a NULL cache: it never hits and
 * stores nothing.
 */
ah_cache_t *ah_cache_new(size_t max_entries, size_t max_bytes);
void ah_cache_free(ah_cache_t *c);

/*
 * Copies the value stored under key at generation gen into out, which must
 * be exactly its size (fixed-size records).  False on a miss, or when the
 * stored value has another size.
 */
bool ah_cache_get(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, void *out,
                  size_t size);

/*
 * Like ah_cache_get for values of any length: *out receives a malloc'd,
 * NUL-terminated copy (caller has ownership) and *len its length.  False on
 * a miss or when out of memory.
 */
bool ah_cache_get_dup(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, char **out,
                      size_t *len);

/*
 * Stores a copy of value under key, tagged gen, replacing an entry of the
 * same or an older generation (never a newer one).  Best effort: silently
 * does nothing when out of memory or the value is too large.
 */
void ah_cache_put(ah_cache_t *c, const char *key, size_t key_len, int64_t gen, const void *value,
                  size_t len);

/*
 * The blob stored under key at generation gen, built at most once at a
 * time: on a miss the first caller runs build(arg, &blob) outside the
 * lock (returning 0 with the blob and its reference, or a failure status),
 * keeps what it built (unless it is too large, as for ah_cache_put), and
 * callers that miss the same key and generation meanwhile wait for it and
 * share what it built, or its failure.  Returns a reference for the
 * caller (release it with ah_blob_release), or NULL with *rc the build's
 * status.  With a NULL cache, build simply runs.
 */
ah_blob_t *ah_cache_get_or_build(ah_cache_t *c, const char *key, size_t key_len, int64_t gen,
                                 int (*build)(void *arg, ah_blob_t **out), void *arg, int *rc);

/* The blob stored under key at generation gen, with a reference for the caller; NULL on a miss. */
ah_blob_t *ah_cache_get_blob(ah_cache_t *c, const char *key, size_t key_len, int64_t gen);

/*
 * For callers that wait without holding a thread (a suspended request).
 * done(arg, blob, rc) is called once with the blob under key at gen and a
 * reference for the caller, or NULL and a failure status.  Returns:
 *  - AH_CACHE_HIT: done has already run, in this call (a hit; or, out of
 *    memory, NULL and AH_ENOMEM);
 *  - AH_CACHE_QUEUED: a build is in the air; done runs on the thread that
 *    lands it;
 *  - AH_CACHE_BUILD: *flight is a new build with done queued on it; the
 *    caller builds the blob, on any thread, and hands it to ah_cache_land.
 * c must not be NULL.
 */
typedef struct ah_cache_flight ah_cache_flight_t;
typedef void (*ah_blob_fn)(void *arg, ah_blob_t *b, int rc);
typedef enum { AH_CACHE_HIT, AH_CACHE_QUEUED, AH_CACHE_BUILD } ah_cache_ask_t;
ah_cache_ask_t ah_cache_get_async(ah_cache_t *c, const char *key, size_t key_len, int64_t gen,
                                  ah_blob_fn done, void *arg, ah_cache_flight_t **flight);
/*
 * Ends flight f with what its build made (b, or a failure rc with b
 * ignored): keeps b in the cache unless it is too large, and answers every
 * caller that waits or queued on f, from this thread.  The builder keeps
 * its own reference to b.
 */
void ah_cache_land(ah_cache_t *c, ah_cache_flight_t *f, ah_blob_t *b, int rc);

typedef struct ah_cache_stats {
    uint64_t hits, misses;
    size_t entries, bytes;
} ah_cache_stats_t;

void ah_cache_stats(ah_cache_t *c, ah_cache_stats_t *out);

#endif
