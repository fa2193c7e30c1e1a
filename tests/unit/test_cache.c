/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/api/cache.c: generations decide hits, both caps hold,
 * the least recently used entry goes first, and threads may share a cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "api/cache.h"

static void put_str(ah_cache_t *c, const char *key, int64_t gen, const char *value)
{
    ah_cache_put(c, key, strlen(key), gen, value, strlen(value));
}

/* The value under key at gen, or NULL; the caller frees it. */
static char *get_str(ah_cache_t *c, const char *key, int64_t gen)
{
    char *v;
    size_t len;
    if (!ah_cache_get_dup(c, key, strlen(key), gen, &v, &len))
        return NULL;
    assert_int_equal(strlen(v), len);
    return v;
}

static void expect_cached(ah_cache_t *c, const char *key, int64_t gen, const char *want)
{
    char *v = get_str(c, key, gen);
    if (!want) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void test_generations(void **state)
{
    (void)state;
    ah_cache_t *c = ah_cache_new(16, 1 << 16);
    assert_non_null(c);
    expect_cached(c, "k", 1, NULL);
    put_str(c, "k", 5, "five");
    expect_cached(c, "k", 5, "five");
    /* A reader that saw an older generation does not get a newer entry... */
    expect_cached(c, "k", 4, NULL);
    /* ...and an older entry never replaces a newer one. */
    put_str(c, "k", 4, "four");
    expect_cached(c, "k", 5, "five");
    /* A newer generation makes the entry stale for good: it is dropped. */
    expect_cached(c, "k", 6, NULL);
    ah_cache_stats_t st;
    ah_cache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    expect_cached(c, "k", 5, NULL);
    put_str(c, "k", 6, "six");
    put_str(c, "k", 6, "six again");
    expect_cached(c, "k", 6, "six again");
    ah_cache_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.hits, 3);

    /* Keys differ by their bytes, length included; values may hold NULs. */
    ah_cache_put(c, "ab", 1, 6, "x\0y", 3);
    char buf[3];
    assert_true(ah_cache_get(c, "a", 1, 6, buf, sizeof buf));
    assert_memory_equal(buf, "x\0y", 3);
    assert_false(ah_cache_get(c, "ab", 2, 6, buf, sizeof buf));
    /* A fixed-size read of a value of another size is a miss. */
    char small[2];
    assert_false(ah_cache_get(c, "a", 1, 6, small, sizeof small));
    ah_cache_free(c);
}

static void test_caps_and_lru(void **state)
{
    (void)state;
    ah_cache_t *c = ah_cache_new(3, 1 << 16);
    put_str(c, "a", 1, "A");
    put_str(c, "b", 1, "B");
    put_str(c, "c", 1, "C");
    expect_cached(c, "a", 1, "A"); /* "a" is now the most recent; "b" the oldest */
    put_str(c, "d", 1, "D");
    expect_cached(c, "b", 1, NULL);
    expect_cached(c, "a", 1, "A");
    expect_cached(c, "c", 1, "C");
    expect_cached(c, "d", 1, "D");
    ah_cache_stats_t st;
    ah_cache_stats(c, &st);
    assert_int_equal(st.entries, 3);
    ah_cache_free(c);

    /* The byte cap: 4 KiB holds a few 400-byte values, never a 600-byte one. */
    c = ah_cache_new(1000, 4096);
    char big[601];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put_str(c, "big", 1, big);
    expect_cached(c, "big", 1, NULL);
    char mid[401];
    memset(mid, 'm', sizeof mid - 1);
    mid[sizeof mid - 1] = '\0';
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_str(c, key, 1, mid);
        ah_cache_stats(c, &st);
        assert_true(st.bytes <= 4096);
    }
    assert_true(st.entries >= 5);
    expect_cached(c, "k49", 1, mid); /* the newest stays */
    expect_cached(c, "k0", 1, NULL); /* the oldest went */
    ah_cache_free(c);
}

static void test_null_cache(void **state)
{
    (void)state;
    assert_null(ah_cache_new(0, 10));
    put_str(NULL, "k", 1, "v");
    expect_cached(NULL, "k", 1, NULL);
    char b[1];
    assert_false(ah_cache_get(NULL, "k", 1, 1, b, 1));
    ah_cache_stats_t st;
    ah_cache_stats(NULL, &st);
    assert_int_equal(st.entries, 0);
    ah_cache_free(NULL);
}

typedef struct worker {
    ah_cache_t *c;
    int id;
    int wrong;
} worker_t;

/* Writers and readers of overlapping keys; a hit must be the value of its key. */
static void *churn(void *arg)
{
    worker_t *w = arg;
    char key[32], want[48], got[48];
    for (int i = 0; i < 20000; i++) {
        int k = (i * 7 + w->id) % 97;
        int64_t gen = i / 5000;
        snprintf(key, sizeof key, "key-%d", k);
        memset(want, 0, sizeof want);
        snprintf(want, sizeof want, "value of %d at %lld", k, (long long)gen);
        if (i % 3 == 0)
            ah_cache_put(w->c, key, strlen(key), gen, want, sizeof want);
        else if (ah_cache_get(w->c, key, strlen(key), gen, got, sizeof got) &&
                 memcmp(got, want, sizeof want) != 0)
            w->wrong++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ah_cache_t *c = ah_cache_new(64, 1 << 20);
    pthread_t th[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].wrong, 0);
    }
    ah_cache_stats_t st;
    ah_cache_stats(c, &st);
    assert_true(st.entries <= 64);
    ah_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generations),
        cmocka_unit_test(test_caps_and_lru),
        cmocka_unit_test(test_null_cache),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
