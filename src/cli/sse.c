/* SPDX-License-Identifier: MIT */
/*
 * sse.c: the Server-Sent Events parser of sse.h.
 *
 * Input is scanned for the next CR or LF; the bytes before it join the
 * current line (capped), and each line end runs the standard's "process the
 * line" step.  A CR that ends a chunk leaves after_cr set, so an LF starting
 * the next chunk is taken as the second half of CR LF rather than a blank
 * line.  The byte-order mark is matched byte by byte for the same reason: a
 * stream may arrive one byte at a time; a partial match that fails is fed
 * back as ordinary input.
 */
#include "cli/sse.h"

#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

/* Appends n bytes to b (kept NUL-terminated), refusing to pass max bytes. */
static int buf_add(ah_sse_buf_t *b, const char *s, size_t n, size_t max)
{
    if (n > max || b->len > max - n)
        return AH_ETOOBIG;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown)
            return AH_ENOMEM;
        b->p = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return AH_OK;
}

/* Replaces b's content with s[0..n). */
static int buf_set(ah_sse_buf_t *b, const char *s, size_t n, size_t max)
{
    b->len = 0;
    return buf_add(b, s, n, max);
}

void ah_sse_init(ah_sse_parser_t *p, size_t max_line, ah_sse_event_fn on_event,
                 ah_sse_comment_fn on_comment, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->max_line = max_line < 64 ? 64 : max_line;
    p->on_event = on_event;
    p->on_comment = on_comment;
    p->ctx = ctx;
    p->retry_ms = -1;
}

static int dispatch(ah_sse_parser_t *p)
{
    if (!p->has_data || p->data.len == 0) {
        p->data.len = 0;
        p->type.len = 0;
        p->has_data = false;
        return AH_OK;
    }
    p->data.len--; /* the LF after the last data line */
    p->data.p[p->data.len] = '\0';
    ah_sse_event_t ev = {
        .type = p->type.len ? p->type.p : "message",
        .id = p->id.len ? p->id.p : "",
        .data = p->data.p,
        .data_len = p->data.len,
    };
    int rc = p->on_event(p->ctx, &ev);
    p->data.len = 0;
    p->type.len = 0;
    p->has_data = false;
    return rc;
}

static bool field_is(const char *f, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(f, name, n) == 0;
}

/* The standard's "process the field" for field[0..fn) with value[0..vn). */
static int process_field(ah_sse_parser_t *p, const char *field, size_t fn, const char *value,
                         size_t vn)
{
    if (field_is(field, fn, "event"))
        return buf_set(&p->type, value, vn, p->max_line);
    if (field_is(field, fn, "data")) {
        int rc = buf_add(&p->data, value, vn, p->max_line);
        if (!rc)
            rc = buf_add(&p->data, "\n", 1, p->max_line + 1);
        p->has_data = true;
        return rc;
    }
    if (field_is(field, fn, "id"))
        return memchr(value, '\0', vn) ? AH_OK : buf_set(&p->id, value, vn, p->max_line);
    if (field_is(field, fn, "retry")) {
        long v = 0;
        for (size_t i = 0; i < vn; i++) {
            if (value[i] < '0' || value[i] > '9' || v > 100000000L)
                return AH_OK;
            v = v * 10 + (value[i] - '0');
        }
        if (vn)
            p->retry_ms = v;
    }
    return AH_OK;
}

/* The standard's "process the line" for the complete line in p->line. */
static int process_line(ah_sse_parser_t *p)
{
    const char *s = p->line.p ? p->line.p : "";
    size_t n = p->line.len;
    p->line.len = 0;
    if (n == 0)
        return dispatch(p);
    if (s[0] == ':')
        return p->on_comment ? p->on_comment(p->ctx, s + 1, n - 1) : AH_OK;
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return process_field(p, s, n, "", 0);
    size_t fn = (size_t)(colon - s);
    const char *value = colon + 1;
    size_t vn = n - fn - 1;
    if (vn && *value == ' ') {
        value++;
        vn--;
    }
    return process_field(p, s, fn, value, vn);
}

/* Parses bytes that follow the byte-order-mark check. */
static int feed_lines(ah_sse_parser_t *p, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (p->after_cr) {
            p->after_cr = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        size_t j = i;
        while (j < len && buf[j] != '\r' && buf[j] != '\n')
            j++;
        int rc = buf_add(&p->line, buf + i, j - i, p->max_line);
        if (rc)
            return rc;
        if (j == len)
            break;
        p->after_cr = buf[j] == '\r';
        i = j + 1;
        if ((rc = process_line(p)) != 0)
            return rc;
    }
    return AH_OK;
}

int ah_sse_feed(ah_sse_parser_t *p, const char *buf, size_t len)
{
    size_t i = 0;
    while (!p->bom_checked && i < len) {
        if ((unsigned char)buf[i] == BOM[p->bom_seen]) {
            i++;
            if (++p->bom_seen == sizeof BOM)
                p->bom_checked = true;
            continue;
        }
        p->bom_checked = true;
        int rc = feed_lines(p, (const char *)BOM, p->bom_seen);
        if (rc)
            return rc;
    }
    return feed_lines(p, buf + i, len - i);
}

void ah_sse_reset(ah_sse_parser_t *p)
{
    p->line.len = 0;
    p->data.len = 0;
    p->type.len = 0;
    p->has_data = false;
    p->after_cr = false;
    p->bom_checked = false;
    p->bom_seen = 0;
}

void ah_sse_free(ah_sse_parser_t *p)
{
    if (!p)
        return;
    free(p->line.p);
    free(p->data.p);
    free(p->type.p);
    free(p->id.p);
    memset(&p->line, 0, sizeof p->line);
    memset(&p->data, 0, sizeof p->data);
    memset(&p->type, 0, sizeof p->type);
    memset(&p->id, 0, sizeof p->id);
}
