/*
 * ratelimit.h: slows repeated failed authentication from one address.
 *
 * A fixed-size table of (address, failures, window start).  An address with
 * `limit` failures inside one window is refused (429) until the window ends.
 * The table never grows: when full, the stalest slot is reused, so a flood of
 * distinct addresses costs memory proportional to the table, not the flood.
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

#endif
