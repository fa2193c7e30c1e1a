/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: process-wide counters and histograms, rendered as Prometheus
 * text by GET /metrics.  Counters are relaxed atomics: a request bumps one
 * counter and one histogram bucket, with no lock.
 *
 * It lives in common, below every layer that counts something: the HTTP
 * API counts requests and events, the delivery engine counts attempts, and
 * neither includes the other to do it.  So its parameters are plain types
 * of its own, never a store or API type.
 */
#ifndef AH_METRICS_H
#define AH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define AH_METRICS_MAX_ROUTES 128

/*
 * What a delivery attempt came to, as /metrics labels it.  The delivery
 * engine maps the store's ah_outcome_t onto it.
 */
typedef enum ah_metrics_outcome {
    AH_METRICS_SUCCEEDED, /* "succeeded": the receiver answered 2xx */
    AH_METRICS_RETRY,     /* "retry": another attempt is scheduled */
    AH_METRICS_FAILED,    /* "failed": the delivery failed for good */
} ah_metrics_outcome_t;

#define AH_METRICS_N_OUTCOMES 3

/* The label of an outcome ("succeeded", "retry", "failed"); "unknown" if out of range. */
const char *ah_metrics_outcome_name(ah_metrics_outcome_t outcome);

/*
 * Why the listener closed a connection of its own accord, or would not keep
 * it, as /metrics labels it.
 */
typedef enum ah_metrics_conn_close {
    AH_METRICS_CONN_LIMIT,          /* "limit": over --max-connections or the per-address limit */
    AH_METRICS_CONN_HEADER_TIMEOUT, /* "header_timeout": its headers were not in in time */
    AH_METRICS_CONN_IDLE_TIMEOUT,   /* "idle_timeout": idle too long (less long when crowded) */
} ah_metrics_conn_close_t;

#define AH_METRICS_N_CONN_CLOSES 3

/* Counts one connection opened (delta 1) or closed (-1): the gauge of open connections. */
void ah_metrics_connections(int delta);
/* Counts one connection the listener refused or closed, and why. */
void ah_metrics_connection_closed(ah_metrics_conn_close_t reason);

/* Registers a route label at startup (not thread-safe); returns its slot. */
int ah_metrics_route(const char *name);
/* Counts one request on route slot `route` answered with `status`, taking `dur_us`. */
void ah_metrics_request(int route, int status, int64_t dur_us);
/* Counts one accepted event. */
void ah_metrics_event_accepted(void);
/* Counts one delivery attempt with its outcome, taking `dur_us`. */
void ah_metrics_attempt(ah_metrics_outcome_t outcome, int64_t dur_us);
/*
 * Counts one attempt that started lag_us after its delivery was due (its
 * event's publish, or its retry's time): the wait for the commit, the claim
 * and a free connection, or a backlog.
 */
void ah_metrics_delivery_lag(int64_t lag_us);
/*
 * Counts one time the store held this process's writers while it started
 * its write-ahead log over (SQLite's RESTART checkpoint), for held_us: every
 * publish and record waited meanwhile.  /metrics shows how often, how long
 * in all and the longest.
 */
void ah_metrics_store_stall(int64_t held_us);

/*
 * Appends the Prometheus exposition text to a malloc'd string (*out, caller
 * frees).  `extra` (may be NULL) is appended verbatim: gauges the caller
 * computed, such as queue depth.
 */
int ah_metrics_render(char **out, size_t *len, const char *extra);

#endif
