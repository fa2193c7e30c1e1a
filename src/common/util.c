/* SPDX-License-Identifier: MIT */
/*
 * util.c: ids, time formatting and parsing, and bounded string helpers.
 */
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airhook/airhook.h"
#include "common/crypto.h"

const char *ah_strerror(int status)
{
    switch (status) {
    case AH_OK:
        return "ok";
    case AH_ENOTFOUND:
        return "not found";
    case AH_EEXISTS:
        return "already exists";
    case AH_EINVAL:
        return "invalid argument";
    case AH_ESTORE:
        return "storage error";
    case AH_ENOMEM:
        return "out of memory";
    case AH_EUNAVAIL:
        return "storage unavailable";
    case AH_ETOOBIG:
        return "too big";
    case AH_EIO:
        return "i/o error";
    default:
        return "unknown error";
    }
}

int64_t ah_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ah_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ah_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ah_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec ah_deadline_ts(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void ah_format_time(int64_t ms, char out[AH_TIME_SIZE])
{
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Bounded fields keep the formatted length fixed (29 chars). */
    snprintf(out, AH_TIME_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u.%03u+00:00",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)millis % 1000u);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's method. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ah_parse_time(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return AH_EINVAL;
    int64_t secs;
    if (ah_parse_i64(s, 0, 253402300799LL, &secs) == AH_OK) {
        *ms = secs * 1000;
        return AH_OK;
    }
    const char *p = s;
    int Y, M, D, h, m, sec, frac = 0;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D))
        return AH_EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return AH_EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return AH_EINVAL;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return AH_EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh))
            return AH_EINVAL;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om) || oh > 23 || om > 59)
            return AH_EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return AH_EINVAL;
    }
    if (*p)
        return AH_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 ||
        m > 59 || sec > 60)
        return AH_EINVAL;
    int64_t days = days_from_civil(Y, M, D);
    int64_t t = ((days * 24 + h) * 60 + m) * 60 + sec - (int64_t)offset_min * 60;
    *ms = t * 1000 + frac;
    return AH_OK;
}

void ah_uuid_v4(char out[AH_ID_SIZE])
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";
    ah_random_bytes(b, sizeof b);
    /*
     * The first 48 bits are the time in milliseconds (as in UUID v7), the
     * remaining 74 are random.  New rows then land at the right edge of every
     * index keyed by id instead of on a random page, which is most of what a
     * publish writes; the ids still read as UUID v4 (version and variant
     * bits below), sort by creation time, and stay unguessable.
     */
    uint64_t ms = (uint64_t)ah_now_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
}

bool ah_is_uuid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < AH_ID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!isxdigit((unsigned char)c)) {
            return false;
        }
    }
    return s[AH_ID_LEN] == '\0';
}

void ah_lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int ah_strlcpy(char *dst, const char *src, size_t dstsz)
{
    size_t n = strlen(src);
    if (n >= dstsz) {
        if (dstsz)
            dst[0] = '\0';
        return AH_ETOOBIG;
    }
    memcpy(dst, src, n + 1);
    return AH_OK;
}

int ah_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return AH_EINVAL;
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return AH_EINVAL;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return AH_EINVAL;
    *out = v;
    return AH_OK;
}

int ah_parse_duration_ms(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return AH_EINVAL;
    size_t len = strlen(s), i = 0;
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i == 0 || i > 12)
        return AH_EINVAL;
    char num[16];
    memcpy(num, s, i);
    num[i] = '\0';
    int64_t v;
    if (ah_parse_i64(num, 0, 999999999999LL, &v))
        return AH_EINVAL;
    const char *unit = s + i;
    int64_t mult;
    if (!*unit || !strcmp(unit, "s"))
        mult = 1000;
    else if (!strcmp(unit, "ms"))
        mult = 1;
    else if (!strcmp(unit, "m"))
        mult = 60000;
    else if (!strcmp(unit, "h"))
        mult = 3600000;
    else if (!strcmp(unit, "d"))
        mult = 86400000;
    else
        return AH_EINVAL;
    if (v > INT64_MAX / mult)
        return AH_EINVAL;
    *ms = v * mult;
    return AH_OK;
}
