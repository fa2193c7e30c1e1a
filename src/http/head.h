/* SPDX-License-Identifier: MIT */
/*
 * head.h: strict checks of a request's head (RFC 9112), made on what
 * libmicrohttpd hands over, before the application routes the request.
 *
 * Two parts.  ah_http_scan_target() reads the request target as the client
 * sent it, before anything is percent-decoded: an encoded NUL (%00) anywhere
 * or an encoded slash (%2F) in the path would change what the path or a
 * query value says once decoded, so they are refused; so are control
 * characters and spaces, a target over AH_HTTP_MAX_TARGET bytes (414), and
 * more query parameters than the listener keeps.
 *
 * ah_http_head_begin/_field/_end check the request line and the header
 * fields as libmicrohttpd parsed them: each name a token, each value free of
 * control characters, at most one Content-Length, a Transfer-Encoding that
 * is exactly "chunked" (the only coding the listener decodes: others are
 * 501, a malformed list 400), never both, never on HTTP/1.0.  These are the
 * ambiguities a proxy in front may read differently (request smuggling), so
 * their answer closes the connection (RFC 9112 §6.1, §6.3).
 *
 * The layout.  libmicrohttpd 0.9 parses the head in place: it writes a NUL
 * over each separator and each CR and LF, and hands out pointers into that
 * one buffer.  So in a head it parsed whole, the method starts the buffer,
 * the target follows it after one space, the version after one more, each
 * field's name starts one or two bytes (CRLF or LF) after the end of the
 * previous line, its value after the colon and optional whitespace, and the
 * empty line ends the head.  Anything else shows in the pointers without
 * reading a byte: obsolete line folding (libmicrohttpd appends the next line
 * to the field's *name*, in memory of its own), a NUL byte inside a line
 * (the rest of the line is hidden from every string), several spaces in the
 * request line.  The checks compare pointers and lengths only, so they can
 * be fed any pointers (tests/fuzz/fuzz_http_head.c does).
 */
#ifndef AH_HTTP_HEAD_H
#define AH_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The request target (path and query), in bytes: longer is 414. */
#define AH_HTTP_MAX_TARGET (8 * 1024)
/* The request line and the header fields, in bytes: larger is 431. */
#define AH_HTTP_MAX_HEAD (32 * 1024)

typedef struct ah_http_target {
    size_t len;          /* bytes of the raw target */
    size_t query_at;     /* offset of '?', or len when there is none */
    size_t n_params;     /* non-empty &-separated parts of the query */
    int status;          /* 0, or 400 / 414 with problem */
    const char *problem; /* NULL, or a sentence (static) */
} ah_http_target_t;

/*
 * Scans the raw request target (len bytes, as sent: not decoded).  Fills
 * *out; out->status is 0 when the target is usable.  Query parameters are
 * counted, not refused here: the listener decides what is too many.
 */
void ah_http_scan_target(const char *target, size_t len, ah_http_target_t *out);

typedef struct ah_http_head {
    /* Addresses: where the head starts (the method), one past its empty line, */
    uintptr_t start, end;
    /* and one past the last byte of the previous line's content. */
    uintptr_t cursor;
    bool http10;         /* the request is HTTP/1.0 */
    unsigned n_length;   /* Content-Length fields seen */
    unsigned n_encoding; /* Transfer-Encoding fields seen */
    const char *encoding;
    size_t encoding_len;
    uint64_t length; /* the Content-Length, when there is one */
    /* The verdict: 0, or an HTTP status with a sentence. */
    int status;
    bool close; /* the framing cannot be trusted: answer, then close */
    char why[160];
} ah_http_head_t;

/*
 * Starts the checks of one head: method, target (target_len bytes, as
 * sent) and version as libmicrohttpd parsed them; head_len is the whole
 * head from the method to the empty line (MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE).
 * Returns false (with h->status) when the request line is already wrong.
 */
bool ah_http_head_begin(ah_http_head_t *h, const char *method, const char *target,
                        size_t target_len, const char *version, size_t head_len);
/*
 * One header field, in the order of the head.  Returns false once the head
 * is refused (h->status set); the caller may stop feeding fields.
 */
bool ah_http_head_field(ah_http_head_t *h, const char *name, size_t name_len, const char *value,
                        size_t value_len);
/*
 * After the last field: checks the end of the head and the framing.
 * Returns h->status: 0 when the head is fine.
 */
int ah_http_head_end(ah_http_head_t *h);

/* True when the request has a body to read (chunked, or a Content-Length over 0). */
bool ah_http_head_has_body(const ah_http_head_t *h);

#endif
