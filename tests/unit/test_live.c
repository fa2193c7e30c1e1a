/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/common/live.c: the process's ring of live events
 * behind GET /admin/v1/live.  The ring is process-wide, so the tests run
 * in order and each reads from the id it last saw.
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
#include "common/live.h"

static ah_live_event_t *buf;

static uint64_t publish_attempt(int n)
{
    ah_live_event_t e;
    memset(&e, 0, sizeof e);
    e.kind = AH_LIVE_ATTEMPT;
    e.attempt = n;
    snprintf(e.community_id, sizeof e.community_id, "c%d", n % 2);
    return ah_live_publish(&e);
}

static void test_ids_grow_and_read_returns_what_is_newer(void **state)
{
    (void)state;
    uint64_t before = ah_live_last();
    uint64_t a = publish_attempt(1), b = publish_attempt(2);
    assert_int_equal(a, before + 1);
    assert_int_equal(b, a + 1);
    assert_int_equal(ah_live_last(), b);
    uint64_t missed = 99;
    size_t n = ah_live_read(before, buf, AH_LIVE_RING, &missed);
    assert_int_equal(n, 2);
    assert_int_equal(missed, 0);
    assert_int_equal(buf[0].id, a);
    assert_int_equal(buf[0].attempt, 1);
    assert_int_equal(buf[1].attempt, 2);
    assert_true(buf[0].time_ms > 0);
    assert_int_equal(ah_live_read(b, buf, AH_LIVE_RING, &missed), 0);
    /* max bounds the copy; the rest is read next time. */
    assert_int_equal(ah_live_read(before, buf, 1, &missed), 1);
    assert_int_equal(buf[0].id, a);
    /* Ids start at the wall clock in microseconds: a later process never reuses one. */
    assert_true(a > 1700000000000000ull);
}

static void test_overwritten_events_are_counted_as_missed(void **state)
{
    (void)state;
    uint64_t from = ah_live_last();
    for (int i = 0; i < AH_LIVE_RING + 10; i++)
        publish_attempt(i);
    uint64_t missed = 0;
    size_t n = ah_live_read(from, buf, AH_LIVE_RING, &missed);
    assert_int_equal(missed, 10);
    assert_int_equal(n, AH_LIVE_RING);
    assert_int_equal(buf[0].id, from + 11);
    assert_int_equal(buf[n - 1].id, ah_live_last());
    /* An id from before the process started: at least one missed, and what there is. */
    n = ah_live_read(1, buf, AH_LIVE_RING, &missed);
    assert_true(missed >= 1);
    assert_int_equal(n, AH_LIVE_RING);
}

static void test_wait(void **state)
{
    (void)state;
    uint64_t last = ah_live_last();
    assert_false(ah_live_wait(last, 20)); /* nothing new: times out */
    publish_attempt(7);
    assert_true(ah_live_wait(last, 1000));
}

static void test_webhook_change(void **state)
{
    (void)state;
    uint64_t last = ah_live_last();
    ah_live_webhook("c1", "w1", "trigger.x", "disabled", "the receiver answered 410 Gone");
    uint64_t missed;
    assert_int_equal(ah_live_read(last, buf, 4, &missed), 1);
    assert_int_equal(buf[0].kind, AH_LIVE_WEBHOOK);
    assert_string_equal(buf[0].state, "disabled");
    assert_string_equal(buf[0].reason, "the receiver answered 410 Gone");
    assert_string_equal(buf[0].community_id, "c1");
}

int main(void)
{
    buf = calloc(AH_LIVE_RING, sizeof *buf);
    if (!buf)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_grow_and_read_returns_what_is_newer),
        cmocka_unit_test(test_overwritten_events_are_counted_as_missed),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_webhook_change),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(buf);
    return rc;
}
