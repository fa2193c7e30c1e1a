/* SPDX-License-Identifier: MIT */
/*
 * sse.h: an incremental parser of a Server-Sent Events stream
 * (text/event-stream, WHATWG HTML "Server-sent events", section 9.2.6),
 * for `airhook listen`.
 *
 * Bytes are fed as they arrive, in chunks cut anywhere (inside a line, a CR
 * LF pair or a UTF-8 sequence); the parser calls back once per complete
 * event and once per comment line.  What the standard says, it does: lines
 * end at CR LF, LF or CR; a leading byte-order mark is skipped; `field:
 * value` loses one space after the colon; a line without a colon is a field
 * with an empty value; `data` lines are joined with LF; a blank line
 * dispatches the event unless no data came; `id` with a NUL is ignored;
 * unknown fields are ignored.
 *
 * Every buffer has a hard cap (max_line, given at init): a line or an
 * event's data longer than that makes ah_sse_feed() fail with AH_ETOOBIG,
 * and the stream must be dropped (the caller reconnects).
 */
#ifndef AH_CLI_SSE_H
#define AH_CLI_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* One dispatched event.  The strings belong to the parser: copy what outlives the callback. */
typedef struct ah_sse_event {
    const char *type; /* "message" unless an `event:` line said otherwise */
    const char *id;   /* the last event id of the stream so far ("" if none) */
    const char *data; /* NUL-terminated; data_len bytes (may hold NULs) */
    size_t data_len;
} ah_sse_event_t;

/*
 * Called for each event, and for each comment line (text after the colon,
 * NUL-terminated, len bytes).  A non-zero return stops ah_sse_feed(), which
 * returns that value; the parser may then only be reset or freed.
 */
typedef int (*ah_sse_event_fn)(void *ctx, const ah_sse_event_t *ev);
typedef int (*ah_sse_comment_fn)(void *ctx, const char *text, size_t len);

typedef struct ah_sse_buf {
    char *p;
    size_t len, cap;
} ah_sse_buf_t;

typedef struct ah_sse_parser {
    size_t max_line; /* cap on one line and on one event's data */
    ah_sse_event_fn on_event;
    ah_sse_comment_fn on_comment; /* may be NULL */
    void *ctx;
    ah_sse_buf_t line, data, type, id;
    bool has_data;    /* a data field came since the last dispatch */
    bool after_cr;    /* the last byte ended a line with CR: an LF next belongs to it */
    bool bom_checked; /* the stream's first bytes were checked for a BOM */
    size_t bom_seen;  /* bytes of a BOM matched so far */
    long retry_ms;    /* the last `retry:` value, or -1 */
} ah_sse_parser_t;

/* Sets up p (no allocation yet).  max_line must be at least 64. */
void ah_sse_init(ah_sse_parser_t *p, size_t max_line, ah_sse_event_fn on_event,
                 ah_sse_comment_fn on_comment, void *ctx);

/*
 * Parses len bytes.  Returns 0; AH_ETOOBIG when a line or an event's data
 * passes max_line; AH_ENOMEM; or a callback's non-zero return.
 */
int ah_sse_feed(ah_sse_parser_t *p, const char *buf, size_t len);

/*
 * Forgets a partial line and event, as for a new connection; keeps the last
 * event id (the standard's "last event ID") and the retry value.
 */
void ah_sse_reset(ah_sse_parser_t *p);

/* Frees the buffers; p may be initialised again.  Accepts NULL. */
void ah_sse_free(ah_sse_parser_t *p);

#endif
