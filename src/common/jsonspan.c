/* SPDX-License-Identifier: MIT */
/*
 * jsonspan.c: see jsonspan.h.  A small recursive-descent skipper over JSON
 * text: it recognises structure (strings, objects, arrays, scalars) only as
 * far as needed to find where each value ends.  Depth is bounded so hostile
 * nesting cannot exhaust the stack.
 */
#include "common/jsonspan.h"

#include <jansson.h>
#include <string.h>

#include "airhook/airhook.h"

#define MAX_DEPTH 512

typedef struct {
    const char *s;
    size_t len, pos;
} scan_t;

static void skip_ws(scan_t *c)
{
    while (c->pos < c->len) {
        char ch = c->s[c->pos];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
            break;
        c->pos++;
    }
}

/* Skips a string starting at '"'; sets *has_escape.  Returns 0 or -1. */
static int skip_string(scan_t *c, int *has_escape)
{
    if (c->pos >= c->len || c->s[c->pos] != '"')
        return -1;
    c->pos++;
    while (c->pos < c->len) {
        char ch = c->s[c->pos++];
        if (ch == '"')
            return 0;
        if (ch == '\\') {
            if (has_escape)
                *has_escape = 1;
            if (c->pos >= c->len)
                return -1;
            c->pos++;
        }
    }
    return -1;
}

static int skip_value(scan_t *c, int depth);

static int skip_container(scan_t *c, int depth, char open, char close)
{
    if (depth > MAX_DEPTH)
        return -1;
    c->pos++; /* the opening bracket */
    skip_ws(c);
    if (c->pos < c->len && c->s[c->pos] == close) {
        c->pos++;
        return 0;
    }
    for (;;) {
        if (open == '{') {
            if (skip_string(c, NULL))
                return -1;
            skip_ws(c);
            if (c->pos >= c->len || c->s[c->pos] != ':')
                return -1;
            c->pos++;
        }
        if (skip_value(c, depth + 1))
            return -1;
        skip_ws(c);
        if (c->pos >= c->len)
            return -1;
        char ch = c->s[c->pos++];
        if (ch == close)
            return 0;
        if (ch != ',')
            return -1;
        skip_ws(c);
    }
}

static int skip_value(scan_t *c, int depth)
{
    skip_ws(c);
    if (c->pos >= c->len)
        return -1;
    char ch = c->s[c->pos];
    if (ch == '"')
        return skip_string(c, NULL);
    if (ch == '{')
        return skip_container(c, depth, '{', '}');
    if (ch == '[')
        return skip_container(c, depth, '[', ']');
    /* A scalar: runs until a delimiter. */
    size_t start = c->pos;
    while (c->pos < c->len) {
        ch = c->s[c->pos];
        if (ch == ',' || ch == '}' || ch == ']' || ch == ' ' || ch == '\t' || ch == '\n' ||
            ch == '\r')
            break;
        c->pos++;
    }
    return c->pos > start ? 0 : -1;
}

/* Does the raw key text (with quotes) equal key once decoded? */
static int key_equals(const char *raw, size_t rawlen, int has_escape, const char *key)
{
    size_t klen = strlen(key);
    if (!has_escape)
        return rawlen == klen + 2 && memcmp(raw + 1, key, klen) == 0;
    json_t *j = json_loadb(raw, rawlen, JSON_DECODE_ANY, NULL);
    int eq = j && json_is_string(j) && json_string_length(j) == klen &&
             memcmp(json_string_value(j), key, klen) == 0;
    json_decref(j);
    return eq;
}

int ah_json_member_span(const char *json, size_t len, const char *key, size_t *off, size_t *vlen)
{
    scan_t c = {json, len, 0};
    skip_ws(&c);
    if (c.pos >= len || json[c.pos] != '{')
        return AH_EINVAL;
    c.pos++;
    skip_ws(&c);
    if (c.pos < len && json[c.pos] == '}')
        return AH_ENOTFOUND;
    for (;;) {
        size_t kstart = c.pos;
        int esc = 0;
        if (skip_string(&c, &esc))
            return AH_EINVAL;
        size_t kend = c.pos;
        skip_ws(&c);
        if (c.pos >= len || json[c.pos] != ':')
            return AH_EINVAL;
        c.pos++;
        skip_ws(&c);
        size_t vstart = c.pos;
        if (skip_value(&c, 1))
            return AH_EINVAL;
        if (key_equals(json + kstart, kend - kstart, esc, key)) {
            *off = vstart;
            *vlen = c.pos - vstart;
            return AH_OK;
        }
        skip_ws(&c);
        if (c.pos >= len)
            return AH_EINVAL;
        char ch = json[c.pos++];
        if (ch == '}')
            return AH_ENOTFOUND;
        if (ch != ',')
            return AH_EINVAL;
        skip_ws(&c);
    }
}
