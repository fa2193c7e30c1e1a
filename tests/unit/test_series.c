/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/common/series.c: the per-minute rings behind the
 * console's charts.  Times are given explicitly, so rollover across the
 * 24-hour window is tested without waiting for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "airhook/airhook.h"
#include "common/series.h"

/* 2026-01-01T00:00:00Z, a minute boundary. */
#define T0 1767225600000LL
#define MIN 60000LL

static const char *hook_id(int i)
{
    static char ids[64][AH_ID_SIZE];
    snprintf(ids[i], sizeof ids[i], "00000000-0000-4000-8000-%012d", i);
    return ids[i];
}

static void test_counts_by_minute_and_outcome(void **state)
{
    (void)state;
    ah_series_t *s = ah_series_new(4);
    assert_non_null(s);
    const char *w = hook_id(1);
    ah_series_attempt(s, w, AH_METRICS_SUCCEEDED, 3000, T0 + 1000);
    ah_series_attempt(s, w, AH_METRICS_SUCCEEDED, 3000, T0 + 59999);
    ah_series_attempt(s, w, AH_METRICS_RETRY, 3000, T0 + MIN);
    ah_series_attempt(s, NULL, AH_METRICS_FAILED, 3000, T0 + 2 * MIN);
    ah_series_point_t p[3];
    bool tracked = false;
    assert_int_equal(ah_series_read(s, NULL, 3, T0 + 2 * MIN + 5, p, &tracked), 0);
    assert_true(tracked);
    assert_int_equal(p[0].minute_ms, T0);
    assert_int_equal(p[2].minute_ms, T0 + 2 * MIN);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 2);
    assert_int_equal(p[1].attempts[AH_METRICS_RETRY], 1);
    assert_int_equal(p[2].attempts[AH_METRICS_FAILED], 1);
    assert_int_equal(ah_series_read(s, w, 3, T0 + 2 * MIN + 5, p, &tracked), 0);
    assert_true(tracked);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 2);
    assert_int_equal(p[2].attempts[AH_METRICS_FAILED], 0); /* that one had no webhook */
    assert_int_equal(p[0].backlog, -1);                    /* webhooks carry no backlog */
    assert_int_equal(ah_series_read(s, hook_id(9), 3, T0 + 2 * MIN, p, &tracked), 0);
    assert_false(tracked);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 0);
    assert_int_equal(ah_series_read(s, NULL, 0, T0, p, NULL), AH_EINVAL);
    assert_int_equal(ah_series_read(s, NULL, AH_SERIES_MINUTES + 1, T0, p, NULL), AH_EINVAL);
    ah_series_free(s);
}

/* A minute that left the window reads as zeros, and its bucket is reused cleanly. */
static void test_rollover_after_a_day(void **state)
{
    (void)state;
    ah_series_t *s = ah_series_new(1);
    const char *w = hook_id(1);
    ah_series_attempt(s, w, AH_METRICS_SUCCEEDED, 1000, T0);
    ah_series_backlog(s, 42, T0);
    ah_series_point_t *p = calloc(AH_SERIES_MINUTES, sizeof *p);
    /* The last minute of the window still holds it. */
    int64_t day_later = T0 + (AH_SERIES_MINUTES - 1) * MIN;
    assert_int_equal(ah_series_read(s, NULL, AH_SERIES_MINUTES, day_later, p, NULL), 0);
    assert_int_equal(p[0].minute_ms, T0);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 1);
    assert_int_equal(p[0].backlog, 42);
    assert_int_equal(p[1].backlog, -1);
    /* One minute more: out of the window; the same bucket now holds the new minute. */
    int64_t next = T0 + AH_SERIES_MINUTES * MIN;
    assert_int_equal(ah_series_read(s, NULL, AH_SERIES_MINUTES, next, p, NULL), 0);
    for (size_t i = 0; i < AH_SERIES_MINUTES; i++) {
        assert_int_equal(p[i].attempts[AH_METRICS_SUCCEEDED], 0);
        assert_int_equal(p[i].backlog, -1);
    }
    ah_series_attempt(s, w, AH_METRICS_FAILED, 1000, next);
    assert_int_equal(ah_series_read(s, w, 1, next, p, NULL), 0);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 0); /* not yesterday's */
    assert_int_equal(p[0].attempts[AH_METRICS_FAILED], 1);
    assert_false(ah_series_has_backlog(s, next));
    ah_series_backlog(s, 7, next);
    assert_true(ah_series_has_backlog(s, next));
    free(p);
    ah_series_free(s);
}

/* However many webhooks and minutes pass, the slots stay as made: the busiest keep theirs. */
static void test_bounded_webhooks(void **state)
{
    (void)state;
    ah_series_t *s = ah_series_new(3);
    /* Two busy webhooks. */
    for (int i = 0; i < 100; i++) {
        ah_series_attempt(s, hook_id(1), AH_METRICS_SUCCEEDED, 1000, T0 + i);
        ah_series_attempt(s, hook_id(2), AH_METRICS_SUCCEEDED, 1000, T0 + i);
    }
    /* Fifty quiet ones, one attempt each: they share the third slot. */
    for (int i = 10; i < 60; i++)
        ah_series_attempt(s, hook_id(i), AH_METRICS_SUCCEEDED, 1000, T0 + 200);
    ah_series_point_t p[1];
    bool tracked;
    ah_series_read(s, hook_id(1), 1, T0, p, &tracked);
    assert_true(tracked);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 100);
    ah_series_read(s, hook_id(2), 1, T0, p, &tracked);
    assert_true(tracked);
    ah_series_read(s, hook_id(59), 1, T0, p, &tracked);
    assert_true(tracked); /* the newest quiet one holds the last slot */
    ah_series_read(s, hook_id(10), 1, T0, p, &tracked);
    assert_false(tracked);
    /* The node's ring counted every attempt. */
    ah_series_read(s, NULL, 1, T0, p, NULL);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 250);
    /* An hour later the busy ones have cooled down: a newcomer may take their place. */
    ah_series_attempt(s, hook_id(60), AH_METRICS_SUCCEEDED, 1000, T0 + 60 * MIN);
    ah_series_read(s, hook_id(60), 1, T0 + 60 * MIN, p, &tracked);
    assert_true(tracked);
    /* The bound: three rings of a day at most, whatever happened. */
    assert_true(ah_series_max_bytes(3) < 512 * 1024);
    assert_true(ah_series_max_bytes(AH_SERIES_WEBHOOKS) < 4 * 1024 * 1024);
    ah_series_free(s);
}

static void test_percentiles(void **state)
{
    (void)state;
    uint32_t hist[AH_SERIES_LAT_BUCKETS] = {0};
    assert_true(ah_series_quantile(hist, 0.5) < 0);
    /* 100 attempts: 98 of 3 ms (bucket 2..5 ms), 2 of 800 ms (500..1000 ms). */
    hist[ah_series_lat_bucket(3000)] = 98;
    hist[ah_series_lat_bucket(800000)] = 2;
    assert_int_equal(ah_series_lat_bucket(3000), 2);
    double p50 = ah_series_quantile(hist, 0.5), p99 = ah_series_quantile(hist, 0.99);
    assert_true(p50 > 2 && p50 <= 5);
    assert_true(p99 > 500 && p99 <= 1000);
    /* Above the last bound: its lower edge (no upper edge to interpolate to). */
    uint32_t slow[AH_SERIES_LAT_BUCKETS] = {0};
    slow[ah_series_lat_bucket(60000000)] = 5;
    assert_true(ah_series_quantile(slow, 0.99) >= 30000);
    /* Through a series: the p99 of one minute follows its slow attempts. */
    ah_series_t *s = ah_series_new(0);
    for (int i = 0; i < 98; i++)
        ah_series_attempt(s, NULL, AH_METRICS_SUCCEEDED, 3000, T0);
    ah_series_attempt(s, NULL, AH_METRICS_RETRY, 800000, T0);
    ah_series_attempt(s, NULL, AH_METRICS_RETRY, 800000, T0);
    ah_series_point_t p[2];
    ah_series_read(s, NULL, 2, T0 + MIN, p, NULL);
    assert_true(p[0].p50_ms > 2 && p[0].p50_ms <= 5);
    assert_true(p[0].p99_ms > 500 && p[0].p99_ms <= 1000);
    assert_true(p[1].p50_ms < 0); /* no attempt: no percentile */
    ah_series_free(s);
}

/* A webhook taking a slot over starts from nothing: none of the previous one's minutes show. */
static void test_slot_taken_over(void **state)
{
    (void)state;
    ah_series_t *s = ah_series_new(1);
    for (int i = 0; i < 3; i++)
        ah_series_attempt(s, hook_id(1), AH_METRICS_SUCCEEDED, 1000, T0 + i);
    ah_series_attempt(s, hook_id(1), AH_METRICS_FAILED, 1000, T0 + MIN);
    ah_series_attempt(s, hook_id(2), AH_METRICS_RETRY, 1000, T0 + MIN + 1);
    ah_series_point_t p[2];
    bool tracked;
    ah_series_read(s, hook_id(2), 2, T0 + MIN, p, &tracked);
    assert_true(tracked);
    assert_int_equal(p[0].attempts[AH_METRICS_SUCCEEDED], 0); /* the first webhook's minute */
    assert_true(p[0].p50_ms < 0);
    assert_int_equal(p[1].attempts[AH_METRICS_FAILED], 0); /* the same minute, before the take */
    assert_int_equal(p[1].attempts[AH_METRICS_RETRY], 1);
    ah_series_read(s, hook_id(1), 2, T0 + MIN, p, &tracked);
    assert_false(tracked);
    /* Minutes after the take count as usual. */
    ah_series_attempt(s, hook_id(2), AH_METRICS_SUCCEEDED, 1000, T0 + 2 * MIN);
    ah_series_point_t q[3];
    ah_series_read(s, hook_id(2), 3, T0 + 2 * MIN, q, &tracked);
    assert_int_equal(q[0].attempts[AH_METRICS_SUCCEEDED], 0);
    assert_int_equal(q[1].attempts[AH_METRICS_RETRY], 1);
    assert_int_equal(q[2].attempts[AH_METRICS_SUCCEEDED], 1);
    /* A sum adds up what the points show. */
    uint64_t n[AH_METRICS_N_OUTCOMES];
    assert_int_equal(ah_series_sum(s, hook_id(2), 3, T0 + 2 * MIN, n, &tracked), 0);
    assert_true(tracked);
    assert_int_equal(n[AH_METRICS_SUCCEEDED], 1);
    assert_int_equal(n[AH_METRICS_RETRY], 1);
    assert_int_equal(n[AH_METRICS_FAILED], 0);
    assert_int_equal(ah_series_sum(s, hook_id(1), 3, T0 + 2 * MIN, n, &tracked), 0);
    assert_false(tracked);
    assert_int_equal(n[AH_METRICS_SUCCEEDED], 0);
    assert_int_equal(ah_series_sum(s, NULL, 3, T0 + 2 * MIN, n, &tracked), 0);
    assert_true(tracked);
    assert_int_equal(n[AH_METRICS_SUCCEEDED], 4);
    assert_int_equal(n[AH_METRICS_FAILED], 1);
    assert_int_equal(n[AH_METRICS_RETRY], 1);
    assert_int_equal(ah_series_sum(s, NULL, AH_SERIES_MINUTES + 1, T0, n, NULL), AH_EINVAL);
    ah_series_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_by_minute_and_outcome),
        cmocka_unit_test(test_rollover_after_a_day),
        cmocka_unit_test(test_bounded_webhooks),
        cmocka_unit_test(test_slot_taken_over),
        cmocka_unit_test(test_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
