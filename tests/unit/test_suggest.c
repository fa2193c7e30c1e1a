/* SPDX-License-Identifier: MIT */
/*
 * test_suggest.c: "did you mean" (src/cli/suggest.c, included whole so the
 * static distance function is reachable), against the built-in catalog's
 * trigger ids and against small hand-made lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/suggest.c"
#include "api/triggers.h"
#include "common/util.h"

/* The built-in trigger ids, in catalog order. */
static size_t catalog_ids(const char *ids[64])
{
    size_t n = 0;
    const ah_trigger_t *t = ah_triggers(&n);
    assert_true(n > 0 && n <= 64);
    for (size_t i = 0; i < n; i++)
        ids[i] = t[i].id;
    return n;
}

static void test_distance(void **state)
{
    (void)state;
    assert_int_equal(osa("", 0, "abc", 3), 3);
    assert_int_equal(osa("abc", 3, "abc", 3), 0);
    assert_int_equal(osa("abc", 3, "ABC", 3), 0); /* case ignored */
    assert_int_equal(osa("abc", 3, "acb", 3), 1); /* a swap is one edit */
    assert_int_equal(osa("kitten", 6, "sitting", 7), 3);
    assert_int_equal(osa("ca", 2, "abc", 3), 3); /* OSA, not full Damerau */
}

static void test_typo_in_catalog(void **state)
{
    (void)state;
    const char *ids[64], *out[AH_SUGGEST_MAX];
    size_t n = catalog_ids(ids);
    size_t k = ah_suggest("trigger.airmeet.registrant.aded", ids, n, out);
    assert_true(k >= 1);
    assert_string_equal(out[0], "trigger.airmeet.registrant.added");
    k = ah_suggest("trigger.airmeet.regsitrant.added", ids, n, out); /* swapped letters */
    assert_true(k >= 1);
    assert_string_equal(out[0], "trigger.airmeet.registrant.added");
    k = ah_suggest("TRIGGER.AIRMEET.STARTED", ids, n, out);
    assert_true(k >= 1);
    assert_string_equal(out[0], "trigger.airmeet.started");
}

static void test_tail(void **state)
{
    (void)state;
    const char *ids[64], *out[AH_SUGGEST_MAX];
    size_t n = catalog_ids(ids);
    size_t k = ah_suggest("registrant.added", ids, n, out);
    assert_true(k >= 1);
    assert_string_equal(out[0], "trigger.airmeet.registrant.added");
    k = ah_suggest("registrant.aded", ids, n, out); /* a typo in a tail */
    assert_true(k >= 1);
    assert_string_equal(out[0], "trigger.airmeet.registrant.added");
}

static void test_far_names_get_nothing(void **state)
{
    (void)state;
    const char *ids[64], *out[AH_SUGGEST_MAX];
    size_t n = catalog_ids(ids);
    assert_int_equal(ah_suggest("completely.unrelated.name", ids, n, out), 0);
    assert_int_equal(ah_suggest("x", ids, n, out), 0);
    assert_int_equal(ah_suggest("", ids, n, out), 0);
    char long_name[400];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(ah_suggest(long_name, ids, n, out), 0);
}

static void test_at_most_three_nearest_first(void **state)
{
    (void)state;
    const char *cands[] = {"x.item.added", "a.item.added", "item.addeds", "b.item.added",
                           "item.added",   "c.item.added", NULL,          "zzzz"};
    const char *out[AH_SUGGEST_MAX];
    /* Equal to "item.added" itself: never suggested; the tails tie at 0, shortest first. */
    size_t k = ah_suggest("item.added", cands, AH_ARRAY_LEN(cands), out);
    assert_int_equal(k, 3);
    assert_string_equal(out[0], "a.item.added");
    assert_string_equal(out[1], "b.item.added");
    assert_string_equal(out[2], "c.item.added");
    /* Only one edit behind the best is kept. */
    const char *two[] = {"trigger.poll.creating", "trigger.poll.created"};
    k = ah_suggest("trigger.poll.create", two, 2, out);
    assert_int_equal(k, 1);
    assert_string_equal(out[0], "trigger.poll.created");
}

static void test_print(void **state)
{
    (void)state;
    const char *cands[] = {"trigger.a.started", "trigger.a.starter", "other"};
    char buf[256] = {0};
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    assert_int_equal(ah_suggest_print(f, "trigger.a.startd", cands, 3), 2);
    assert_int_equal(ah_suggest_print(f, "nothing-like-it", cands, 3), 0);
    fclose(f);
    assert_string_equal(buf, "did you mean: trigger.a.started, trigger.a.starter?\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_typo_in_catalog),
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_far_names_get_nothing),
        cmocka_unit_test(test_at_most_three_nearest_first),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
