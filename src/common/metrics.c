/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: see metrics.h.  Status codes fold into a fixed set of slots so
 * the table is static: route × status slot.
 */
#include "common/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"
#include "common/util.h"

static const int status_codes[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409,
                                   412, 413, 414, 415, 429, 431, 500, 501, 503, 505};
#define N_STATUS (AH_ARRAY_LEN(status_codes) + 1) /* + "other" */

static const char *route_names[AH_METRICS_MAX_ROUTES];
static int n_routes;
static _Atomic uint64_t requests[AH_METRICS_MAX_ROUTES][N_STATUS];

/* A histogram of durations: counts per bucket (the last one is +Inf) and their sum. */
#define HIST_BUCKETS_MAX 16
typedef struct hist {
    const char *name, *help;
    const double *le_s; /* upper bounds in seconds, ascending */
    size_t n;
    _Atomic uint64_t counts[HIST_BUCKETS_MAX + 1];
    _Atomic uint64_t sum_us;
} hist_t;

static const double req_le_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                  0.05,   0.1,   0.25,   0.5,   1,    2.5};
static hist_t req_hist = {.name = "airhook_http_request_duration_seconds",
                          .help = "Time to answer a request.",
                          .le_s = req_le_s,
                          .n = AH_ARRAY_LEN(req_le_s)};
static const double att_le_s[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,  0.5,    1,     2.5,  5,     10,   15};
static hist_t att_hist = {.name = "airhook_delivery_attempt_duration_seconds",
                          .help = "Time from connect to answer.",
                          .le_s = att_le_s,
                          .n = AH_ARRAY_LEN(att_le_s)};
static const double lag_le_s[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5,   1,      2.5,   5,    10,    30,   60,  300};
static hist_t lag_hist = {.name = "airhook_delivery_lag_seconds",
                          .help = "How late attempts started: from when the delivery was due "
                                  "(its event's publish, or the time its retry was set for) to "
                                  "the request going out.",
                          .le_s = lag_le_s,
                          .n = AH_ARRAY_LEN(lag_le_s)};

static _Atomic uint64_t events_accepted;
static _Atomic uint64_t stalls, stall_us, stall_max_us;
static _Atomic uint64_t outcomes[AH_METRICS_N_OUTCOMES];
static const char *const outcome_names[AH_METRICS_N_OUTCOMES] = {
    [AH_METRICS_SUCCEEDED] = "succeeded",
    [AH_METRICS_RETRY] = "retry",
    [AH_METRICS_FAILED] = "failed",
};

static _Atomic int64_t connections_open;
static _Atomic uint64_t connection_closes[AH_METRICS_N_CONN_CLOSES];
static const char *const conn_close_names[AH_METRICS_N_CONN_CLOSES] = {
    [AH_METRICS_CONN_LIMIT] = "limit",
    [AH_METRICS_CONN_HEADER_TIMEOUT] = "header_timeout",
    [AH_METRICS_CONN_IDLE_TIMEOUT] = "idle_timeout",
};

void ah_metrics_connections(int delta)
{
    atomic_fetch_add_explicit(&connections_open, delta, memory_order_relaxed);
}

void ah_metrics_connection_closed(ah_metrics_conn_close_t reason)
{
    if ((unsigned)reason < AH_METRICS_N_CONN_CLOSES)
        atomic_fetch_add_explicit(&connection_closes[reason], 1, memory_order_relaxed);
}

const char *ah_metrics_outcome_name(ah_metrics_outcome_t outcome)
{
    if ((unsigned)outcome >= AH_METRICS_N_OUTCOMES)
        return "unknown";
    return outcome_names[outcome];
}

int ah_metrics_route(const char *name)
{
    for (int i = 0; i < n_routes; i++)
        if (!strcmp(route_names[i], name))
            return i;
    if (n_routes == AH_METRICS_MAX_ROUTES)
        return AH_METRICS_MAX_ROUTES - 1;
    route_names[n_routes] = name;
    return n_routes++;
}

static void hist_observe(hist_t *h, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t b = 0;
    while (b < h->n && (double)us / 1e6 > h->le_s[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i < AH_ARRAY_LEN(status_codes); i++)
        if (status_codes[i] == status)
            return i;
    return N_STATUS - 1;
}

void ah_metrics_request(int route, int status, int64_t dur_us)
{
    if (route < 0 || route >= AH_METRICS_MAX_ROUTES)
        return;
    atomic_fetch_add_explicit(&requests[route][status_slot(status)], 1, memory_order_relaxed);
    hist_observe(&req_hist, dur_us);
}

void ah_metrics_event_accepted(void)
{
    atomic_fetch_add_explicit(&events_accepted, 1, memory_order_relaxed);
}

void ah_metrics_store_stall(int64_t held_us)
{
    uint64_t us = (uint64_t)(held_us > 0 ? held_us : 0);
    atomic_fetch_add_explicit(&stalls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stall_us, us, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&stall_max_us, memory_order_relaxed);
    while (us > max && !atomic_compare_exchange_weak_explicit(
                           &stall_max_us, &max, us, memory_order_relaxed, memory_order_relaxed))
        ;
}

void ah_metrics_attempt(ah_metrics_outcome_t outcome, int64_t dur_us)
{
    if ((unsigned)outcome >= AH_METRICS_N_OUTCOMES)
        return;
    atomic_fetch_add_explicit(&outcomes[outcome], 1, memory_order_relaxed);
    hist_observe(&att_hist, dur_us);
}

void ah_metrics_delivery_lag(int64_t lag_us)
{
    hist_observe(&lag_hist, lag_us);
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} sbuf_t;

static void put(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
}

static void put_hist(sbuf_t *b, hist_t *h)
{
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->n; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->n)
            put(b, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->le_s[i], (unsigned long long)cum);
        else
            put(b, "%s_bucket{le=\"+Inf\"} %llu\n", h->name, (unsigned long long)cum);
    }
    put(b, "%s_sum %.6f\n%s_count %llu\n", h->name, (double)atomic_load(&h->sum_us) / 1e6, h->name,
        (unsigned long long)cum);
}

int ah_metrics_render(char **out, size_t *len, const char *extra)
{
    sbuf_t b = {malloc(8192), 0, 8192, 0};
    if (!b.buf)
        return AH_ENOMEM;
    b.buf[0] = '\0';
    put(&b, "# HELP airhook_http_requests_total HTTP requests by route and status code.\n"
            "# TYPE airhook_http_requests_total counter\n");
    for (int r = 0; r < n_routes; r++) {
        for (size_t s = 0; s < N_STATUS; s++) {
            uint64_t v = atomic_load_explicit(&requests[r][s], memory_order_relaxed);
            if (!v)
                continue;
            if (s < AH_ARRAY_LEN(status_codes))
                put(&b, "airhook_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                    route_names[r], status_codes[s], (unsigned long long)v);
            else
                put(&b, "airhook_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
                    route_names[r], (unsigned long long)v);
        }
    }
    put_hist(&b, &req_hist);
    put(&b,
        "# HELP airhook_http_connections Client connections open.\n"
        "# TYPE airhook_http_connections gauge\n"
        "airhook_http_connections %lld\n"
        "# HELP airhook_http_connections_closed_total Connections the listener refused or closed "
        "of its own accord, by reason.\n"
        "# TYPE airhook_http_connections_closed_total counter\n",
        (long long)atomic_load(&connections_open));
    for (int i = 0; i < AH_METRICS_N_CONN_CLOSES; i++)
        put(&b, "airhook_http_connections_closed_total{reason=\"%s\"} %llu\n", conn_close_names[i],
            (unsigned long long)atomic_load(&connection_closes[i]));
    put(&b,
        "# HELP airhook_events_accepted_total Events acknowledged with 202.\n"
        "# TYPE airhook_events_accepted_total counter\n"
        "airhook_events_accepted_total %llu\n",
        (unsigned long long)atomic_load(&events_accepted));
    put(&b, "# HELP airhook_delivery_attempts_total Delivery attempts by outcome (retry: another "
            "attempt is scheduled; failed: the delivery failed for good).\n"
            "# TYPE airhook_delivery_attempts_total counter\n");
    for (int i = 0; i < AH_METRICS_N_OUTCOMES; i++)
        put(&b, "airhook_delivery_attempts_total{outcome=\"%s\"} %llu\n", outcome_names[i],
            (unsigned long long)atomic_load(&outcomes[i]));
    put_hist(&b, &att_hist);
    put_hist(&b, &lag_hist);
    put(&b,
        "# HELP airhook_store_stalls_total Times the store held this process's writers to start "
        "its write-ahead log over (SQLite's RESTART checkpoint).\n"
        "# TYPE airhook_store_stalls_total counter\n"
        "airhook_store_stalls_total %llu\n"
        "# HELP airhook_store_stall_seconds_total Time writers were held by those stalls.\n"
        "# TYPE airhook_store_stall_seconds_total counter\n"
        "airhook_store_stall_seconds_total %.6f\n"
        "# HELP airhook_store_stall_seconds_max The longest of them.\n"
        "# TYPE airhook_store_stall_seconds_max gauge\n"
        "airhook_store_stall_seconds_max %.6f\n",
        (unsigned long long)atomic_load(&stalls), (double)atomic_load(&stall_us) / 1e6,
        (double)atomic_load(&stall_max_us) / 1e6);
    if (extra)
        put(&b, "%s", extra);
    if (b.failed) {
        free(b.buf);
        return AH_ENOMEM;
    }
    *out = b.buf;
    *len = b.len;
    return AH_OK;
}
