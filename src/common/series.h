/* SPDX-License-Identifier: MIT */
/*
 * series.h: per-minute time series of delivery attempts for the console's
 * charts (GET /admin/v1/stats/series and its integrator twin), in memory
 * whose size is fixed when the series is made.
 *
 * A ring of AH_SERIES_MINUTES minute buckets (24 hours) for the whole
 * node, and one ring each for at most max_webhooks webhooks.  A bucket
 * counts the attempts of its minute by outcome and holds a small fixed
 * histogram of their durations, from which p50 and p99 are estimated; the
 * node's ring also keeps the backlog (pending deliveries) sampled during
 * the minute.  A bucket whose minute has passed out of the window is
 * reused for the new minute, so nothing grows with time or traffic.
 *
 * Which webhooks have a ring: a webhook gets a slot the first time one of
 * its attempts is counted, while slots are free.  When all are taken, the
 * newcomer replaces the slot whose activity is lowest, activity being a
 * count of attempts halved every minute (so it measures roughly the last
 * few minutes).  The busiest webhooks therefore keep their history; quiet
 * ones share the last slots among themselves and may lose theirs.  A read
 * says whether the webhook was tracked.
 *
 * Each process keeps its own series of the attempts it made: on several
 * nodes sharing PostgreSQL each node answers for itself (docs/api.md,
 * "Time series").
 *
 * Thread-safe: one mutex per series.  The delivery engine records from
 * its store thread (one lock per attempt, uncontended); readers copy out
 * under the lock.  It lives in common, below delivery and api, so its
 * parameters are plain types (the outcome is metrics.h's).
 */
#ifndef AH_SERIES_H
#define AH_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"
#include "common/util.h"

#define AH_SERIES_MINUTES 1440 /* the window: 24 hours of minutes */
#define AH_SERIES_WEBHOOKS 32  /* webhooks with a ring of their own in the process's series */
#define AH_SERIES_LAT_BUCKETS 16

typedef struct ah_series ah_series_t;

/* One minute as a read hands it out. */
typedef struct ah_series_point {
    int64_t minute_ms;                        /* start of the minute, ms since the epoch */
    uint32_t attempts[AH_METRICS_N_OUTCOMES]; /* by ah_metrics_outcome_t */
    double p50_ms, p99_ms;                    /* attempt duration; -1 when no attempt */
    int64_t backlog;                          /* pending deliveries; -1 when not sampled */
} ah_series_point_t;

/*
 * A series with a ring for the node and room for max_webhooks webhooks
 * (their rings are allocated when first used); NULL when out of memory.
 * Free with ah_series_free (NULL is fine).
 */
ah_series_t *ah_series_new(size_t max_webhooks);
void ah_series_free(ah_series_t *s);
/*
 * The process's series (AH_SERIES_WEBHOOKS webhooks), made at the first
 * call; NULL when out of memory, and every function below accepts NULL.
 */
ah_series_t *ah_series_process(void);

/* Counts one attempt of webhook_id (NULL: the node's ring only) that ended at now_ms. */
void ah_series_attempt(ah_series_t *s, const char *webhook_id, ah_metrics_outcome_t outcome,
                       int64_t dur_us, int64_t now_ms);
/* Records the backlog seen at now_ms in the node's ring (the last sample of a minute stays). */
void ah_series_backlog(ah_series_t *s, int64_t pending, int64_t now_ms);
/* True when the node's ring has a backlog sample for the minute of now_ms. */
bool ah_series_has_backlog(ah_series_t *s, int64_t now_ms);

/*
 * Copies the last `minutes` minutes (1..AH_SERIES_MINUTES) ending with the
 * minute of now_ms into out (room for `minutes` points, oldest first), of
 * the node (webhook_id NULL) or of one webhook.  *tracked (may be NULL)
 * says whether the webhook has a ring; an untracked one reads as zeros.
 * A webhook's points carry no backlog (-1).  AH_EINVAL for minutes out of
 * range or a NULL out.
 */
int ah_series_read(ah_series_t *s, const char *webhook_id, size_t minutes, int64_t now_ms,
                   ah_series_point_t *out, bool *tracked);
/*
 * The attempts of the same minutes, summed by outcome into out, as the
 * points of ah_series_read would add up, without copying them out or
 * estimating their percentiles.  AH_EINVAL (out zeroed) for minutes out of
 * range.
 */
int ah_series_sum(ah_series_t *s, const char *webhook_id, size_t minutes, int64_t now_ms,
                  uint64_t out[AH_METRICS_N_OUTCOMES], bool *tracked);

/* The bytes a series with max_webhooks webhooks holds at most (docs, tests). */
size_t ah_series_max_bytes(size_t max_webhooks);

/*
 * The q-quantile (0 < q < 1) of the durations in a histogram with the
 * series' bucket bounds, in ms, linearly interpolated within the bucket;
 * -1 when it is empty.  Exposed for the tests.
 */
double ah_series_quantile(const uint32_t hist[AH_SERIES_LAT_BUCKETS], double q);
/* The bucket a duration falls in (exposed for the tests). */
size_t ah_series_lat_bucket(int64_t dur_us);

#endif
