/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/common/metrics.c: what GET /metrics renders for the
 * requests, events and delivery attempts counted.  The counters are
 * process-wide, so each test reads the change it made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"

static void test_metrics_render(void **state)
{
    (void)state;
    int r = ah_metrics_route("test-route");
    ah_metrics_request(r, 404, 1500);
    ah_metrics_request(r, 404, 1500);
    ah_metrics_request(r, 299, 10);
    ah_metrics_event_accepted();
    char *text;
    size_t len;
    assert_int_equal(ah_metrics_render(&text, &len, "extra_gauge 7\n"), 0);
    assert_int_equal(strlen(text), len);
    assert_non_null(
        strstr(text, "airhook_http_requests_total{route=\"test-route\",code=\"404\"} 2\n"));
    assert_non_null(
        strstr(text, "airhook_http_requests_total{route=\"test-route\",code=\"other\"} 1\n"));
    assert_non_null(strstr(text, "airhook_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "airhook_http_request_duration_seconds_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "airhook_events_accepted_total 1\n"));
    assert_non_null(strstr(text, "extra_gauge 7\n"));
    free(text);
}

/* The value of the sample line that starts with `name` (a full label set included). */
static unsigned long long sample(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    assert_non_null(p);
    return strtoull(p + strlen(name), NULL, 10);
}

/* The store's writer stalls: how many, how long in all, the longest. */
static void test_metrics_store_stalls(void **state)
{
    (void)state;
    char *text;
    size_t len;
    assert_int_equal(ah_metrics_render(&text, &len, NULL), 0);
    assert_non_null(strstr(text, "airhook_store_stalls_total 0\n"));
    free(text);
    ah_metrics_store_stall(1500);
    ah_metrics_store_stall(7250);
    ah_metrics_store_stall(500);
    assert_int_equal(ah_metrics_render(&text, &len, NULL), 0);
    assert_non_null(strstr(text, "airhook_store_stalls_total 3\n"));
    assert_non_null(strstr(text, "airhook_store_stall_seconds_total 0.009250\n"));
    assert_non_null(strstr(text, "airhook_store_stall_seconds_max 0.007250\n"));
    free(text);
}

static void test_metrics_attempt_outcomes(void **state)
{
    (void)state;
    assert_string_equal(ah_metrics_outcome_name(AH_METRICS_SUCCEEDED), "succeeded");
    assert_string_equal(ah_metrics_outcome_name(AH_METRICS_RETRY), "retry");
    assert_string_equal(ah_metrics_outcome_name(AH_METRICS_FAILED), "failed");
    assert_string_equal(ah_metrics_outcome_name((ah_metrics_outcome_t)7), "unknown");

    ah_metrics_attempt(AH_METRICS_SUCCEEDED, 2000);
    ah_metrics_attempt(AH_METRICS_RETRY, 3000);
    ah_metrics_attempt(AH_METRICS_RETRY, 3000);
    ah_metrics_attempt(AH_METRICS_FAILED, 20000000);
    ah_metrics_attempt((ah_metrics_outcome_t)7, 1000); /* ignored */
    char *text;
    size_t len;
    assert_int_equal(ah_metrics_render(&text, &len, NULL), 0);
    assert_int_equal(sample(text, "airhook_delivery_attempts_total{outcome=\"succeeded\"} "), 1);
    assert_int_equal(sample(text, "airhook_delivery_attempts_total{outcome=\"retry\"} "), 2);
    assert_int_equal(sample(text, "airhook_delivery_attempts_total{outcome=\"failed\"} "), 1);
    assert_int_equal(
        sample(text, "airhook_delivery_attempt_duration_seconds_bucket{le=\"0.0025\"} "), 1);
    assert_int_equal(sample(text, "airhook_delivery_attempt_duration_seconds_bucket{le=\"15\"} "),
                     3);
    assert_int_equal(sample(text, "airhook_delivery_attempt_duration_seconds_bucket{le=\"+Inf\"} "),
                     4);
    assert_int_equal(sample(text, "airhook_delivery_attempt_duration_seconds_count "), 4);
    free(text);
}

/* How late attempts started: a histogram to the millisecond, early starts counted as on time. */
static void test_metrics_delivery_lag(void **state)
{
    (void)state;
    ah_metrics_delivery_lag(400);
    ah_metrics_delivery_lag(-3000); /* another node's clock ahead of ours */
    ah_metrics_delivery_lag(7000);
    ah_metrics_delivery_lag(45 * 1000000LL);
    ah_metrics_delivery_lag(3600 * 1000000LL);
    char *text;
    size_t len;
    assert_int_equal(ah_metrics_render(&text, &len, NULL), 0);
    assert_non_null(strstr(text, "# TYPE airhook_delivery_lag_seconds histogram\n"));
    assert_int_equal(sample(text, "airhook_delivery_lag_seconds_bucket{le=\"0.001\"} "), 2);
    assert_int_equal(sample(text, "airhook_delivery_lag_seconds_bucket{le=\"0.01\"} "), 3);
    assert_int_equal(sample(text, "airhook_delivery_lag_seconds_bucket{le=\"60\"} "), 4);
    assert_int_equal(sample(text, "airhook_delivery_lag_seconds_bucket{le=\"300\"} "), 4);
    assert_int_equal(sample(text, "airhook_delivery_lag_seconds_bucket{le=\"+Inf\"} "), 5);
    assert_int_equal(sample(text, "airhook_delivery_lag_seconds_count "), 5);
    assert_non_null(strstr(text, "airhook_delivery_lag_seconds_sum 3645.007400\n"));
    free(text);
}

static void test_metrics_connections(void **state)
{
    (void)state;
    ah_metrics_connections(1);
    ah_metrics_connections(1);
    ah_metrics_connections(-1);
    ah_metrics_connection_closed(AH_METRICS_CONN_LIMIT);
    ah_metrics_connection_closed(AH_METRICS_CONN_HEADER_TIMEOUT);
    ah_metrics_connection_closed(AH_METRICS_CONN_HEADER_TIMEOUT);
    ah_metrics_connection_closed((ah_metrics_conn_close_t)9); /* ignored */
    ah_metrics_request(ah_metrics_route("test-route"), 431, 10);
    char *text;
    size_t len;
    assert_int_equal(ah_metrics_render(&text, &len, NULL), 0);
    assert_int_equal(sample(text, "\nairhook_http_connections "), 1);
    assert_int_equal(sample(text, "airhook_http_connections_closed_total{reason=\"limit\"} "), 1);
    assert_int_equal(
        sample(text, "airhook_http_connections_closed_total{reason=\"header_timeout\"} "), 2);
    assert_int_equal(
        sample(text, "airhook_http_connections_closed_total{reason=\"idle_timeout\"} "), 0);
    assert_int_equal(
        sample(text, "airhook_http_requests_total{route=\"test-route\",code=\"431\"} "), 1);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render),
        cmocka_unit_test(test_metrics_store_stalls),
        cmocka_unit_test(test_metrics_connections),
        cmocka_unit_test(test_metrics_attempt_outcomes),
        cmocka_unit_test(test_metrics_delivery_lag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
