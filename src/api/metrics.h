/*
 * metrics.h: process-wide counters and histograms, rendered as Prometheus
 * text by GET /metrics.  Counters are relaxed atomics: a request bumps one
 * counter and one histogram bucket, with no lock.
 */
#ifndef AH_METRICS_H
#define AH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define AH_METRICS_MAX_ROUTES 64

/* Registers a route label at startup (not thread-safe); returns its slot. */
int ah_metrics_route(const char *name);
/* Counts one request on route slot `route` answered with `status`, taking `dur_us`. */
void ah_metrics_request(int route, int status, int64_t dur_us);
/* Counts one accepted event. */
void ah_metrics_event_accepted(void);
/*
 * Counts one delivery attempt: outcome 0 succeeded, 1 will be retried,
 * 2 failed for good; dur_us is the attempt's duration.
 */
void ah_metrics_attempt(int outcome, int64_t dur_us);

/*
 * Appends the Prometheus exposition text to a malloc'd string (*out, caller
 * frees).  `extra` (may be NULL) is appended verbatim: gauges the caller
 * computed, such as queue depth.
 */
int ah_metrics_render(char **out, size_t *len, const char *extra);

#endif
