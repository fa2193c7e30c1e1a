/* SPDX-License-Identifier: MIT */
/*
 * util.h: ids, time, and small string helpers used everywhere.
 *
 * Ids are lowercase UUID strings (36 chars + NUL) in v4 form whose first 48
 * bits are the creation time (docs/api.md, "Ids").  Time is int64
 * milliseconds since the Unix epoch; on the wire it is formatted as
 * "2020-08-04T06:38:51.106+00:00".
 */
#ifndef AH_UTIL_H
#define AH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AH_ID_LEN 36
#define AH_ID_SIZE (AH_ID_LEN + 1)
#define AH_TIME_SIZE 32

#define AH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t ah_now_ms(void);
/* Microseconds since the epoch (CLOCK_REALTIME). */
int64_t ah_now_us(void);
/* Monotonic milliseconds, for durations and deadlines. */
int64_t ah_mono_ms(void);
/* Monotonic microseconds, for latency histograms. */
int64_t ah_mono_us(void);
/*
 * The moment ms milliseconds from now on clock, for pthread_cond_timedwait:
 * CLOCK_REALTIME for a default condition variable, CLOCK_MONOTONIC for one
 * set to it (pthread_condattr_setclock).
 */
struct timespec ah_deadline_ts(clockid_t clock, int64_t ms);

/* Writes "YYYY-MM-DDTHH:MM:SS.mmm+00:00" into out (AH_TIME_SIZE bytes). */
void ah_format_time(int64_t ms, char out[AH_TIME_SIZE]);
/*
 * Parses an RFC 3339 / ISO 8601 timestamp ("2020-08-04T06:38:51Z",
 * "...51.106+00:00", "...+05:30") or a plain integer of unix seconds.
 * Returns 0 and sets *ms, or AH_EINVAL.
 */
int ah_parse_time(const char *s, int64_t *ms);

/*
 * A fresh id in UUID v4 form, lowercase, into out (AH_ID_SIZE bytes): 48
 * bits of millisecond time then 74 random bits, so ids sort by creation.
 */
void ah_uuid_v4(char out[AH_ID_SIZE]);
/* True when s is exactly a UUID in canonical 8-4-4-4-12 hex form (any case). */
bool ah_is_uuid(const char *s);
/* Lowercases a UUID in place (callers accept any case, store lowercase). */
void ah_lower(char *s);

/*
 * Copies src into dst of size dstsz, always NUL-terminating.  Returns
 * AH_ETOOBIG (and copies nothing) when src does not fit.
 */
int ah_strlcpy(char *dst, const char *src, size_t dstsz);

/* Strict decimal parse of a whole string into *out within [min,max]. */
int ah_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * Parses a duration such as "0", "500ms", "5s", "5m", "2h", "1d" (a bare
 * number means seconds) into milliseconds.
 */
int ah_parse_duration_ms(const char *s, int64_t *ms);

#endif
