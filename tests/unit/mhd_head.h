/* SPDX-License-Identifier: MIT */
/*
 * mhd_head.h: lays a raw request head out the way libmicrohttpd 0.9.75
 * leaves it after parsing it in place, for the tests and the fuzzer of
 * src/http/head.c.
 *
 * What libmicrohttpd does, and this copies: a line ends at LF, with a CR
 * before it dropped; both become NULs.  The request line is split at its
 * first space (more spaces after it are skipped) and at its last one, each
 * becoming a NUL.  A field line is cut at its first colon (a NUL), the value
 * starts after spaces and tabs, and its length is strlen() (a NUL byte in a
 * line hides the rest of it).  A line that starts with a space or a tab is a
 * folded continuation: its text, less the leading whitespace, is appended
 * to the previous field's *name* in memory of its own.  The head ends at an
 * empty line.
 */
#ifndef AH_TEST_MHD_HEAD_H
#define AH_TEST_MHD_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "http/head.h"

#define MHD_HEAD_FIELDS 64

typedef struct mhd_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} mhd_field_t;

typedef struct mhd_head {
    char buf[AH_HTTP_MAX_HEAD + 1024];
    char folded[MHD_HEAD_FIELDS][512]; /* names grown by folded lines */
    const char *method, *target, *version;
    size_t target_len, head_len;
    mhd_field_t f[MHD_HEAD_FIELDS];
    size_t n;
} mhd_head_t;

/* The end of the line starting at i (the LF's index, or len); *next: where the next starts. */
static inline size_t mhd_line_end(const char *b, size_t i, size_t len, size_t *next)
{
    size_t e = i;
    while (e < len && b[e] != '\n')
        e++;
    *next = e < len ? e + 1 : len;
    if (e < len && e > i && b[e - 1] == '\r')
        return e - 1;
    return e;
}

/* Parses raw (len bytes) into p; false when libmicrohttpd would not reach the app. */
static inline bool mhd_head_parse(const char *raw, size_t len, mhd_head_t *p)
{
    memset(p, 0, sizeof *p);
    if (len >= sizeof p->buf)
        return false;
    memcpy(p->buf, raw, len);
    char *b = p->buf;
    size_t next, end = mhd_line_end(b, 0, len, &next);
    if (next == len && (len == 0 || b[len - 1] != '\n'))
        return false; /* no complete request line */
    for (size_t i = end; i < next; i++)
        b[i] = '\0';
    char *sp = memchr(b, ' ', end);
    if (!sp || sp == b)
        return false;
    *sp = '\0';
    char *t = sp + 1;
    while (*t == ' ' && (size_t)(t - b) < end)
        t++;
    char *vs = b + end - 1;
    while (vs > t && *vs != ' ')
        vs--;
    if (vs <= t)
        return false;
    *vs = '\0';
    p->method = b;
    p->target = t;
    p->target_len = strlen(t);
    p->version = vs + 1;
    size_t i = next;
    for (;;) {
        if (i >= len)
            return false; /* no empty line */
        end = mhd_line_end(b, i, len, &next);
        if (next == len && b[len - 1] != '\n')
            return false;
        for (size_t j = end; j < next; j++)
            b[j] = '\0';
        if (end == i)
            break; /* the empty line */
        if (b[i] == ' ' || b[i] == '\t') {
            if (!p->n)
                return false;
            mhd_field_t *f = &p->f[p->n - 1];
            char *grown = p->folded[p->n - 1];
            size_t k = i;
            while (k < end && (b[k] == ' ' || b[k] == '\t'))
                k++;
            size_t add = strlen(b + k);
            if (f->name_len + add + 1 > sizeof p->folded[0])
                return false;
            memmove(grown, f->name, f->name_len);
            memcpy(grown + f->name_len, b + k, add + 1);
            f->name = grown;
            f->name_len += add;
        } else {
            char *colon = memchr(b + i, ':', end - i);
            if (!colon || p->n == MHD_HEAD_FIELDS)
                return false;
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            mhd_field_t *f = &p->f[p->n++];
            f->name = b + i;
            f->name_len = strlen(b + i);
            f->value = v;
            f->value_len = strlen(v);
        }
        i = next;
    }
    p->head_len = next;
    return true;
}

/* Runs head.c's checks over p; returns the status (0: fine). */
static inline int mhd_head_check(const mhd_head_t *p, ah_http_head_t *h)
{
    if (ah_http_head_begin(h, p->method, p->target, p->target_len, p->version, p->head_len))
        for (size_t i = 0; i < p->n; i++)
            if (!ah_http_head_field(h, p->f[i].name, p->f[i].name_len, p->f[i].value,
                                    p->f[i].value_len))
                break;
    return ah_http_head_end(h);
}

#endif
