/* SPDX-License-Identifier: MIT */
/*
 * test_forward.c: `airhook listen --forward-to` (src/cli/forward.c,
 * included whole): plain URLs and TRIGGER=URL, the default, the most
 * specific TRIGGER winning, scheme-less URLs, and the start-time checks
 * (a TRIGGER that names no trigger, a trigger with no target).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/forward.c"

#define ADDED "trigger.airmeet.registrant.added"
#define JOINED "trigger.airmeet.registrant.joined"
#define CREATED "trigger.airmeet.created"

static int parse(ah_forward_plan_t *plan, char *why, size_t n, ...)
{
    const char *values[8];
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        values[i] = va_arg(ap, const char *);
    va_end(ap);
    why[0] = '\0';
    return ah_forward_parse(values, n, plan, why, 256);
}

static void test_default_and_routes(void **state)
{
    (void)state;
    ah_forward_plan_t plan;
    char why[256];
    assert_int_equal(parse(&plan, why, 3, "http://localhost:3000/hooks",
                           "registrant=http://localhost:3000/reg",
                           "registrant.added=https://h:1/added?x=1"),
                     0);
    assert_int_equal(plan.n, 3);
    assert_null(plan.routes[0].key);
    assert_string_equal(plan.routes[1].key, "registrant");
    assert_string_equal(ah_forward_url(&plan, ADDED), "https://h:1/added?x=1"); /* longest wins */
    assert_string_equal(ah_forward_url(&plan, JOINED), "http://localhost:3000/reg");
    assert_string_equal(ah_forward_url(&plan, CREATED), "http://localhost:3000/hooks");
    assert_string_equal(ah_forward_url(&plan, NULL), "http://localhost:3000/hooks");
    const char *all[] = {ADDED, JOINED, CREATED};
    const char *unknown = "x";
    assert_int_equal(ah_forward_check(&plan, all, 3, &unknown, why, sizeof why), 0);
    assert_null(unknown);
    ah_forward_free(&plan);
    ah_forward_free(NULL);
}

static void test_url_forms(void **state)
{
    (void)state;
    ah_forward_plan_t plan;
    char why[256];
    /* No scheme: http://.  A URL whose query has an = is still a plain URL. */
    assert_int_equal(parse(&plan, why, 2, "localhost:3000/hooks", CREATED "=127.0.0.1:9/c?a=b"), 0);
    assert_string_equal(plan.routes[0].url, "http://localhost:3000/hooks");
    assert_string_equal(plan.routes[1].key, CREATED);
    assert_string_equal(plan.routes[1].url, "http://127.0.0.1:9/c?a=b");
    ah_forward_free(&plan);
    assert_int_equal(parse(&plan, why, 1, "http://h/p?a=b"), 0);
    assert_null(plan.routes[0].key);
    assert_string_equal(plan.routes[0].url, "http://h/p?a=b");
    ah_forward_free(&plan);
}

static void test_refused(void **state)
{
    (void)state;
    ah_forward_plan_t plan;
    char why[256];
    assert_int_equal(parse(&plan, why, 2, "http://a/", "http://b/"), -1);
    assert_non_null(strstr(why, "two default URLs"));
    ah_forward_free(&plan);
    assert_int_equal(parse(&plan, why, 2, "x=http://a/", "x=http://b/"), -1);
    assert_non_null(strstr(why, "given twice"));
    ah_forward_free(&plan);
    assert_int_equal(parse(&plan, why, 1, "=http://a/"), -1);
    assert_non_null(strstr(why, "trigger name"));
    ah_forward_free(&plan);
    assert_int_equal(parse(&plan, why, 1, "ftp://a/"), -1);
    assert_non_null(strstr(why, "not a URL"));
    ah_forward_free(&plan);
    assert_int_equal(parse(&plan, why, 1, "x="), -1);
    ah_forward_free(&plan);
    assert_int_equal(parse(&plan, why, 1, "http://a b/"), -1);
    ah_forward_free(&plan);
}

static void test_key_matches(void **state)
{
    (void)state;
    assert_true(ah_forward_key_matches(ADDED, ADDED));
    assert_true(ah_forward_key_matches("registrant.added", ADDED));
    assert_true(ah_forward_key_matches("registrant", ADDED));
    assert_true(ah_forward_key_matches("trigger.airmeet", ADDED));
    assert_true(ah_forward_key_matches("added", ADDED));
    assert_false(ah_forward_key_matches("register", ADDED)); /* not a whole part */
    assert_false(ah_forward_key_matches("registrant.add", ADDED));
    assert_false(ah_forward_key_matches("gistrant", ADDED));
    assert_false(ah_forward_key_matches("", ADDED));
    assert_false(ah_forward_key_matches(ADDED ".x", ADDED));
}

static void test_checks(void **state)
{
    (void)state;
    ah_forward_plan_t plan;
    char why[256];
    const char *unknown = NULL;
    const char *two[] = {ADDED, CREATED};
    /* A TRIGGER that names none of the listener's triggers. */
    assert_int_equal(parse(&plan, why, 2, "http://a/", "registrnt=http://b/"), 0);
    assert_int_equal(ah_forward_check(&plan, two, 2, &unknown, why, sizeof why), -1);
    assert_string_equal(unknown, "registrnt");
    assert_non_null(strstr(why, "registrnt"));
    ah_forward_free(&plan);
    /* No default: a trigger without a target. */
    assert_int_equal(parse(&plan, why, 1, "registrant=http://b/"), 0);
    assert_int_equal(ah_forward_check(&plan, two, 2, &unknown, why, sizeof why), -1);
    assert_null(unknown);
    assert_non_null(strstr(why, CREATED " has no --forward-to target"));
    ah_forward_free(&plan);
    /* Routes covering every trigger need no default. */
    assert_int_equal(parse(&plan, why, 2, "registrant=http://b/", "created=http://c/"), 0);
    assert_int_equal(ah_forward_check(&plan, two, 2, &unknown, why, sizeof why), 0);
    ah_forward_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_and_routes),
        cmocka_unit_test(test_url_forms),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_key_matches),
        cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
