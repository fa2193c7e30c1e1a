/*
 * cache.h: a bounded, thread-safe map from short keys to byte strings, each
 * tagged with the generation it was built at (store.h, ah_cache_gen_t).
 *
 * The public API keeps four of them (public.c): token -> key and expiry,
 * access key -> key record, airmeet/session -> owning community, and
 * (community, airmeet, session) -> the rendered webhook-list body.  A
 * lookup names the generation the caller has just read from the store and
 * hits only an entry built at exactly that generation, so an entry never
 * outlives a change committed by any process (docs/architecture.md,
 * "Caches").  Entries are evicted least recently used first when either cap
 * (entries, bytes of keys and values) would be exceeded; an entry built at
 * an older generation than a lookup asks for is dropped on sight.
 */
#ifndef AH_CACHE_H
#define AH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ah_cache ah_cache_t;

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

typedef struct ah_cache_stats {
    uint64_t hits, misses;
    size_t entries, bytes;
} ah_cache_stats_t;

void ah_cache_stats(ah_cache_t *c, ah_cache_stats_t *out);

#endif
