/* SPDX-License-Identifier: MIT */
/* Unit tests for src/api/ratelimit.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/ratelimit.h"

static void test_limit_and_window(void **state)
{
    (void)state;
    ah_ratelimit_t *rl = ah_ratelimit_new(3, 60000);
    int64_t wait = 0, t = 1000000;
    for (int i = 0; i < 3; i++) {
        assert_true(ah_ratelimit_allowed(rl, "10.0.0.1", t, &wait));
        ah_ratelimit_fail(rl, "10.0.0.1", t);
    }
    assert_false(ah_ratelimit_allowed(rl, "10.0.0.1", t + 1000, &wait));
    assert_int_equal(wait, 59);
    /* Another address is unaffected. */
    assert_true(ah_ratelimit_allowed(rl, "10.0.0.2", t + 1000, &wait));
    /* The window ends. */
    assert_true(ah_ratelimit_allowed(rl, "10.0.0.1", t + 60000, &wait));
    ah_ratelimit_free(rl);
}

static void test_disabled(void **state)
{
    (void)state;
    ah_ratelimit_t *rl = ah_ratelimit_new(0, 60000);
    int64_t wait;
    for (int i = 0; i < 100; i++)
        ah_ratelimit_fail(rl, "a", 0);
    assert_true(ah_ratelimit_allowed(rl, "a", 0, &wait));
    ah_ratelimit_free(rl);
}

static void test_flood_of_addresses(void **state)
{
    (void)state;
    ah_ratelimit_t *rl = ah_ratelimit_new(2, 60000);
    int64_t wait;
    char addr[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(addr, sizeof addr, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        ah_ratelimit_fail(rl, addr, i);
    }
    /* The latest offender is still tracked after the table churned. */
    ah_ratelimit_fail(rl, addr, 100000);
    assert_false(ah_ratelimit_allowed(rl, addr, 100001, &wait));
    ah_ratelimit_free(rl);
}

/* Registrations per access key: each call counts and names its own limit. */
static void test_take(void **state)
{
    (void)state;
    ah_ratelimit_t *rl = ah_ratelimit_new(0, 60000); /* the table's own limit is not used */
    int64_t wait = 0, t = 5000000;
    for (int i = 0; i < 3; i++)
        assert_true(ah_ratelimit_take(rl, "key-a", 3, t + i, &wait));
    assert_false(ah_ratelimit_take(rl, "key-a", 3, t + 10000, &wait));
    assert_int_equal(wait, 50);
    /* A refusal is not counted: a higher limit lets one more in, no more. */
    assert_true(ah_ratelimit_take(rl, "key-a", 4, t + 10001, &wait));
    assert_false(ah_ratelimit_take(rl, "key-a", 4, t + 10002, &wait));
    /* Another key has its own count; a limit of 0 is no limit and counts nothing. */
    assert_true(ah_ratelimit_take(rl, "key-b", 1, t, &wait));
    assert_false(ah_ratelimit_take(rl, "key-b", 1, t, &wait));
    for (int i = 0; i < 100; i++)
        assert_true(ah_ratelimit_take(rl, "key-c", 0, t, &wait));
    assert_true(ah_ratelimit_take(rl, "key-c", 1, t, &wait));
    /* The next window starts afresh. */
    assert_true(ah_ratelimit_take(rl, "key-a", 3, t + 60000, &wait));
    ah_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_window),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_flood_of_addresses),
        cmocka_unit_test(test_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
