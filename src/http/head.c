/* SPDX-License-Identifier: MIT */
/*
 * head.c: the strict checks of a request's head (head.h).  Character
 * classes are lookup tables, so a head costs one pass over its bytes.
 */
#include "http/head.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * RFC 9110 §5.6.2 tchar (ALPHA, DIGIT and !#$%&'*+-.^_`|~): what a method, a
 * field name or a transfer coding is made of, as a bitmap of the 128 ASCII
 * codes.
 */
static bool is_tchar(unsigned char c)
{
    static const uint64_t bits[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
    return c < 128 && (bits[c >> 6] >> (c & 63)) & 1;
}

/* A byte a field value may hold: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
static bool is_value_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool all_tchar(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return n > 0;
}

/* ---- the request target ---- */

static void target_problem(ah_http_target_t *out, int status, const char *problem)
{
    if (!out->status) {
        out->status = status;
        out->problem = problem;
    }
}

void ah_http_scan_target(const char *target, size_t len, ah_http_target_t *out)
{
    memset(out, 0, sizeof *out);
    out->len = len;
    out->query_at = len;
    if (len > AH_HTTP_MAX_TARGET) {
        target_problem(out, 414, "the request target is over the 8192-byte limit");
        return;
    }
    bool in_param = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        bool in_query = i > out->query_at;
        if (c <= 0x20 || c == 0x7f) {
            target_problem(out, 400, "the request target contains a space or a control character");
        } else if (c == '?' && out->query_at == len) {
            out->query_at = i;
        } else if (c == '%' && i + 2 < len && target[i + 1] == '0' && target[i + 2] == '0') {
            target_problem(out, 400, "the request target contains an encoded NUL (%00)");
        } else if (c == '%' && !in_query && i + 2 < len && target[i + 1] == '2' &&
                   (target[i + 2] == 'F' || target[i + 2] == 'f')) {
            target_problem(out, 400, "the path contains an encoded slash (%2F)");
        }
        if (!in_query)
            continue;
        if (c == '&') {
            in_param = false;
        } else if (!in_param) {
            in_param = true;
            out->n_params++;
        }
    }
}

/* ---- the request line and the header fields ---- */

static bool refuse(ah_http_head_t *h, int status, bool close, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool refuse(ah_http_head_t *h, int status, bool close, const char *fmt, ...)
{
    if (!h->status) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->why, sizeof h->why, fmt, ap);
        va_end(ap);
        h->status = status;
        h->close = close;
    }
    return false;
}

/* Pointers are compared as integers: they need not point into one object. */
#define ADDR(p) ((uintptr_t)(const void *)(p))

#define MALFORMED_LINE                                                                             \
    "the request line is malformed (one space between method, target and version)"
#define MALFORMED_HEAD                                                                             \
    "the header section is malformed (a folded line, a NUL byte or a stray line ending)"

bool ah_http_head_begin(ah_http_head_t *h, const char *method, const char *target,
                        size_t target_len, const char *version, size_t head_len)
{
    memset(h, 0, sizeof *h);
    if (!method || !target || !version)
        return refuse(h, 400, true, MALFORMED_LINE);
    h->start = ADDR(method);
    if (head_len > UINTPTR_MAX - h->start)
        return refuse(h, 400, true, MALFORMED_LINE);
    h->end = h->start + head_len;
    size_t m = strlen(method);
    if (!all_tchar(method, m))
        return refuse(h, 400, true, "the method is not a token");
    if (ADDR(target) != ADDR(method) + m + 1 || ADDR(version) != ADDR(target) + target_len + 1)
        return refuse(h, 400, true, MALFORMED_LINE);
    size_t v = strlen(version);
    h->cursor = ADDR(version) + v;
    h->http10 = v == 8 && !memcmp(version, "HTTP/1.0", 8);
    if (h->cursor > h->end)
        return refuse(h, 400, true, MALFORMED_LINE);
    return true;
}

/* Content-Length = 1*DIGIT, as a uint64_t (libmicrohttpd refuses more itself). */
static bool parse_length(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)v[i] - '0';
        if (d > 9 || x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

bool ah_http_head_field(ah_http_head_t *h, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    if (h->status)
        return false;
    if (!name || !value)
        return refuse(h, 400, true, MALFORMED_HEAD);
    /* The name starts one (LF) or two (CRLF) bytes after the previous line. */
    uintptr_t n = ADDR(name), v = ADDR(value);
    if (n < h->cursor + 1 || n > h->cursor + 2 || n > h->end || name_len > h->end - n)
        return refuse(h, 400, true, MALFORMED_HEAD);
    /* The value follows the colon (a NUL now) and optional whitespace. */
    if (v <= n + name_len || v > h->end || value_len > h->end - v)
        return refuse(h, 400, true, MALFORMED_HEAD);
    h->cursor = v + value_len;
    if (!all_tchar(name, name_len))
        return refuse(h, 400, true,
                      "header field name '%.*s' is not a token (whitespace before the colon?)",
                      (int)(name_len < 40 ? name_len : 40), name);
    for (size_t i = 0; i < value_len; i++)
        if (!is_value_byte((unsigned char)value[i]))
            return refuse(h, 400, true, "header field %.*s has a control character in its value",
                          (int)(name_len < 40 ? name_len : 40), name);
    if (name_len == 14 && !strncasecmp(name, "Content-Length", 14)) {
        if (++h->n_length > 1)
            return refuse(h, 400, true, "more than one Content-Length field");
        if (!parse_length(value, value_len, &h->length))
            return refuse(h, 400, true, "Content-Length is not a decimal number");
    } else if (name_len == 17 && !strncasecmp(name, "Transfer-Encoding", 17)) {
        if (++h->n_encoding > 1)
            return refuse(h, 400, true, "more than one Transfer-Encoding field");
        h->encoding = value;
        h->encoding_len = value_len;
    }
    return true;
}

/*
 * Transfer-Encoding: exactly "chunked" is what the listener decodes.  Any
 * other list is refused: 400 when it is malformed or chunked is not its
 * last coding, applied once (RFC 9112 §6.3); 501 when it names a coding the
 * listener does not implement (§6.1).
 */
static void check_codings(ah_http_head_t *h)
{
    const char *v = h->encoding;
    size_t n = h->encoding_len;
    if (n == 7 && !strncasecmp(v, "chunked", 7))
        return;
    size_t n_codings = 0, n_chunked = 0;
    bool chunked_last = false, params = false;
    char other[32] = "";
    for (size_t i = 0; i <= n;) {
        size_t end = i;
        while (end < n && v[end] != ',')
            end++;
        size_t a = i, b = end;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        i = end + 1;
        if (a == b)
            continue; /* an empty list element */
        size_t name_end = a;
        while (name_end < b && is_tchar((unsigned char)v[name_end]))
            name_end++;
        size_t rest = name_end;
        while (rest < b && (v[rest] == ' ' || v[rest] == '\t'))
            rest++;
        if (name_end == a || (rest < b && v[rest] != ';')) {
            refuse(h, 400, true, "Transfer-Encoding is not a list of transfer codings");
            return;
        }
        params = params || rest < b;
        n_codings++;
        chunked_last = name_end - a == 7 && !strncasecmp(v + a, "chunked", 7);
        if (chunked_last)
            n_chunked++;
        else if (!other[0])
            snprintf(other, sizeof other, "%.*s", (int)(name_end - a), v + a);
    }
    if (n_codings == 0)
        refuse(h, 400, true, "Transfer-Encoding is empty");
    else if (n_chunked > 1 || (n_chunked && !chunked_last))
        refuse(h, 400, true, "chunked must be the last transfer coding, applied once");
    else if (other[0])
        refuse(h, 501, true, "transfer coding '%s' is not implemented (only chunked is)", other);
    else if (params)
        refuse(h, 501, true, "chunked takes no parameters here");
    else
        refuse(h, 400, true, "Transfer-Encoding must be exactly 'chunked'");
}

int ah_http_head_end(ah_http_head_t *h)
{
    if (h->status)
        return h->status;
    /* The last line's terminator, then the empty line: 2 to 4 bytes (LF or CRLF each). */
    if (h->end < h->cursor + 2 || h->end > h->cursor + 4)
        return refuse(h, 400, true, MALFORMED_HEAD), h->status;
    if (h->n_encoding) {
        if (h->http10)
            refuse(h, 400, true, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
        else if (h->n_length)
            refuse(h, 400, true,
                   "a request cannot have both Content-Length and "
                   "Transfer-Encoding");
        else
            check_codings(h);
    }
    if (!h->status && h->end - h->start > AH_HTTP_MAX_HEAD)
        refuse(h, 431, false, "the request line and headers are over the %d-byte limit",
               AH_HTTP_MAX_HEAD);
    return h->status;
}

bool ah_http_head_has_body(const ah_http_head_t *h)
{
    return h->n_encoding > 0 || h->length > 0;
}
