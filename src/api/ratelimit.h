/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.h: counts events per key in fixed windows: failed
 * authentications per client address (allowed/fail), and webhook
 * registrations per access key (take).
 *
 * A fixed-size table of (key, count, window start).  A key with `limit`
 * events inside one window is refused (429) until the window ends.  The
 * table never grows: when full, the stalest slot is reused, so a flood of
 * distinct keys costs memory proportional to the table, not the flood.
 * Counts are per process: N processes behind a balancer allow N times as
 * much.
 */
#ifndef AH_RATELIMIT_H
#define AH_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ah_ratelimit ah_ratelimit_t;

/* limit 0 disables limiting. */
ah_ratelimit_t *ah_ratelimit_new(unsigned limit, int64_t window_ms);
void ah_ratelimit_free(ah_ratelimit_t *rl);
/* True when addr may try now; else *retry_after_s says how long to wait. */
bool ah_ratelimit_allowed(ah_ratelimit_t *rl, const char *addr, int64_t now_ms,
                          int64_t *retry_after_s);
/* Records one failed attempt from addr. */
void ah_ratelimit_fail(ah_ratelimit_t *rl, const char *addr, int64_t now_ms);
/*
 * Counts one event for key against limit per window (the table's own
 * limit is not used) and returns true, unless key already had limit
 * events in this window: then nothing is counted, *retry_after_s says
 * when the window ends, and it returns false.  limit 0: always true,
 * nothing counted.
 */
bool ah_ratelimit_take(ah_ratelimit_t *rl, const char *key, unsigned limit, int64_t now_ms,
                       int64_t *retry_after_s);

#endif
