/* SPDX-License-Identifier: MIT */
/*
 * http.h: requests and responses as the API layer sees them, and the
 * listener that produces them (server.c, over libmicrohttpd).
 *
 * The API layer never touches libmicrohttpd: a request is a method, a path,
 * header and query arrays, and a body; a response is a status, a body and a
 * few headers.  That keeps handlers testable and fuzzable without sockets.
 *
 * Request flow in server.c: when the request line is in, its raw target is
 * checked (head.h); on the first access-handler call the headers are in: we
 * check their framing, collect them and ask the app for the route (which
 * also fixes the body limit, so an oversized upload is refused with 413
 * before it is read).  Body chunks are appended up to the limit.  On the
 * final call (no more upload data) the app handles the request and the
 * response is queued, which keeps the connection alive for the next request.
 * Whatever the listener refuses by itself is answered by the app's refuse()
 * and counted by its finish(), like any other answer.
 */
#ifndef AH_HTTP_H
#define AH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define AH_HTTP_MAX_HEADERS 64
#define AH_HTTP_MAX_QUERY 32
#define AH_HTTP_MAX_PARAMS 4

typedef struct ah_kv {
    const char *key;
    const char *value;
} ah_kv_t;

typedef struct ah_http_req {
    const char *method;
    const char *path; /* decoded, without the query */
    ah_kv_t headers[AH_HTTP_MAX_HEADERS];
    size_t n_headers;
    bool too_many_headers;
    ah_kv_t query[AH_HTTP_MAX_QUERY];
    size_t n_query;
    const char *query_problem; /* a sentence if the query is unusable */
    char *body;                /* NUL-terminated; owned by the server */
    size_t body_len;
    const char *params[AH_HTTP_MAX_PARAMS]; /* path captures, e.g. {id} */
    size_t n_params;
    char param_buf[256]; /* storage for params */
    char client_ip[64];
    const void *route; /* set by the app's prepare step */
    int64_t start_us;
    void *server_ctx; /* the listener's; NULL outside one (tests) */
} ah_http_req_t;

typedef struct ah_http_resp {
    int status;
    char *body; /* malloc'd; the server frees it (unless release is set) */
    size_t body_len;
    /*
     * When set, body is not the response's: it belongs to someone else,
     * who is told with release(release_arg), once, when the response no
     * longer needs it (sent, refused, or replaced).  Many responses can so
     * send one shared buffer without copying it (ah_http_resp_shared).
     */
    void (*release)(void *release_arg);
    void *release_arg;
    char allow[64];           /* "Allow" header for 405, or "" */
    char retry_after[24];     /* "Retry-After" header, or "" */
    char location[320];       /* "Location" header, or "" */
    char etag[72];            /* "ETag" header (quoted, as sent), or "" */
    const char *content_type; /* NULL = application/json */
    char set_cookie[384];     /* "Set-Cookie" header, or "" */
    /* Static strings, each sent when non-NULL: the console's assets and pages. */
    const char *content_encoding; /* "gzip" */
    const char *vary;             /* "Accept-Encoding" */
    const char *cache_control;    /* "no-cache" */
    /* More headers, static (name, value) pairs: the console's security headers. */
    const ah_kv_t *extra_headers;
    size_t n_extra_headers;
} ah_http_resp_t;

/* Header value by name, case-insensitive; NULL if absent. */
const char *ah_http_header(const ah_http_req_t *req, const char *name);
/* Query parameter value by exact name; NULL if absent. */
const char *ah_http_query(const ah_http_req_t *req, const char *name);
/* Sets the response body to the compact serialization of j (j is stolen). */
struct json_t;
void ah_http_resp_json(ah_http_resp_t *resp, int status, struct json_t *j);
/* Sets a non-JSON body (copied) with the given content type (static string). */
void ah_http_resp_text(ah_http_resp_t *resp, int status, const char *content_type, const char *text,
                       size_t len);
/*
 * Sets a JSON body that is not copied: body stays valid until
 * release(arg) is called, exactly once, by the server or by
 * ah_http_resp_clear.
 */
void ah_http_resp_shared(ah_http_resp_t *resp, int status, const char *body, size_t len,
                         void (*release)(void *arg), void *arg);
/* Lets the body go (freed, or released) and leaves resp without one. */
void ah_http_resp_clear(ah_http_resp_t *resp);

/*
 * Answering later.  A handler that hands its work to another thread calls
 * ah_http_suspend(req): the connection then waits, holding no listener
 * thread, until that thread has written the answer into the request's resp
 * and called ah_http_resume().  req and resp stay valid until then.  NULL
 * means the request cannot wait (no listener behind it, as in unit tests, or
 * the listener is stopping): the handler answers before returning, as usual.
 */
typedef struct ah_http_pending ah_http_pending_t;
ah_http_pending_t *ah_http_suspend(ah_http_req_t *req);
/* resp holds the answer: send it.  Any thread; p is gone after the call. */
void ah_http_resume(ah_http_pending_t *p);

/*
 * Server-Sent Events (stream.c).  A handler answers its request with a
 * long-lived text/event-stream response: ah_http_stream_open() in the
 * handler, then any thread feeds it with ah_http_stream_send().  The
 * connection holds no listener thread while nothing is queued (it is
 * suspended, and resumed when an event arrives).  Per stream:
 *  - at most max_queued events wait; past that, events are dropped and
 *    counted, and once there is room again (or the queue has emptied) one
 *    summary event built by summary() takes their place, so a consumer that
 *    falls behind learns how much it missed ("n attempts skipped");
 *  - a comment line (": ping") every heartbeat_ms without output, which
 *    keeps proxies from timing the connection out and finds a client that
 *    went away;
 *  - closed(arg) is called once, on a listener thread, when the connection
 *    has ended for any reason: the client left, the owner ended it, or the
 *    server stopped (ah_http_stop ends every stream, after the farewell
 *    event if one is set, and does not wait for a client).
 * The owner keeps its handle until it calls ah_http_stream_release();
 * send and end on a stream that has closed are harmless (AH_EIO).
 */
typedef struct ah_http_stream ah_http_stream_t;

typedef struct ah_http_stream_opts {
    size_t max_queued; /* events waiting at most (0: 256) */
    /*
     * The connection's socket send buffer in bytes (SO_SNDBUF), 0: the
     * system's (autotuned, up to megabytes).  A small one keeps what a slow
     * client has not read in the queue above, where it is bounded and
     * summarized, rather than in kernel memory.
     */
    int sndbuf;
    int64_t heartbeat_ms; /* 0: 15 s */
    /*
     * Writes the event that stands for `dropped` dropped ones into buf (cap
     * bytes), a whole event as ah_http_stream_format writes it, and returns
     * its length (0: none).  NULL: drops are silent.
     */
    size_t (*summary)(void *arg, size_t dropped, char *buf, size_t cap);
    void (*closed)(void *arg); /* NULL: not told */
    void *arg;
    /* Sent when the server stops (e.g. event "bye"), or NULL. */
    const char *farewell_event;
    const char *farewell_data;
} ah_http_stream_opts_t;

/*
 * Answers req with a stream: resp is set to 200 text/event-stream (with
 * Cache-Control: no-cache and X-Accel-Buffering: no), and the handler
 * returns as usual.  NULL when req has no listener behind it (unit tests)
 * or the listener is stopping; resp is then untouched.
 */
ah_http_stream_t *ah_http_stream_open(ah_http_req_t *req, ah_http_resp_t *resp,
                                      const ah_http_stream_opts_t *opts);
/*
 * Queues one event: "event: <event>\nid: <id>\ndata: <data>\n\n" (event or
 * id NULL: that line is left out; a newline in data starts another data
 * line).  AH_OK, AH_ETOOBIG when the queue was full and it was dropped (and
 * counted for the summary), AH_EIO when the stream has ended,
 * AH_ENOMEM.
 */
int ah_http_stream_send(ah_http_stream_t *s, const char *event, const char *id, const char *data);
/* Ends the stream once what is queued is written. */
void ah_http_stream_end(ah_http_stream_t *s);
/* True once the connection has ended (closed() has been or is being called). */
bool ah_http_stream_closed(ah_http_stream_t *s);
/* The owner lets its handle go (once); the stream ends if it had not. */
void ah_http_stream_release(ah_http_stream_t *s);
/*
 * Writes one event as the stream sends it into buf (cap bytes); returns
 * its length, or 0 when it does not fit.  For summary().
 */
size_t ah_http_stream_format(char *buf, size_t cap, const char *event, const char *id,
                             const char *data);
/*
 * For tests: a stream with no connection behind it (opts as for open), and
 * what its connection would read next, into buf: the number of bytes, 0
 * when nothing is queued, -1 once it has ended.  Freed by release.
 */
ah_http_stream_t *ah_http_stream_detached(const ah_http_stream_opts_t *opts);
long ah_http_stream_read(ah_http_stream_t *s, char *buf, size_t max);

/* What the listener needs from the application. */
typedef struct ah_http_app {
    void *ctx;
    /* Picks the route for req (sets req->route, req->params) and returns the
     * body limit in bytes.  Returns 0 and fills resp when the request can be
     * answered at once (404, 405). */
    int (*prepare)(void *ctx, ah_http_req_t *req, size_t *body_limit, ah_http_resp_t *resp);
    /* Handles a complete request. */
    void (*handle)(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp);
    /*
     * Called once per request after the response is decided (metrics, log),
     * and once for each request the listener gave up on without the app:
     * one that timed out before its headers were in (408, req->method and
     * req->path ""), or that libmicrohttpd refused itself before any
     * callback could answer (see docs/operations.md, "HTTP framing").
     */
    void (*finish)(void *ctx, const ah_http_req_t *req, const ah_http_resp_t *resp);
    /* Fills resp for a body over the limit (413). */
    void (*too_big)(void *ctx, ah_http_req_t *req, size_t limit, ah_http_resp_t *resp);
    /*
     * Fills resp for a request the listener refuses by itself: ambiguous
     * framing (400, 501), an unusable target (400, 414), a head over its
     * limit (431).  status and why (a sentence) say what; the app answers in
     * the error dialect of where req->path falls (the admin API's when
     * req->path is NULL), and may set req->route for its metrics.
     */
    void (*refuse)(void *ctx, ah_http_req_t *req, int status, const char *why,
                   ah_http_resp_t *resp);
} ah_http_app_t;

typedef struct ah_http_server ah_http_server_t;

/*
 * How many connections the listener keeps and for how long (docs/operations.md,
 * "Connections and file descriptors").  The defaults are the strings the
 * settings table shows (src/cli/serve.c).
 */
#define AH_HTTP_DEFAULT_PER_ADDRESS "256"
#define AH_HTTP_DEFAULT_HEADER_TIMEOUT "10s"
#define AH_HTTP_DEFAULT_IDLE_TIMEOUT "60s"
#define AH_HTTP_DEFAULT_CROWDED_IDLE_TIMEOUT "5s"
/* Open files kept for everything but client connections (curl, the store, logs). */
#define AH_HTTP_RESERVED_FDS 1280
/* The most connections a derived limit allows, whatever the open-file limit. */
#define AH_HTTP_MAX_CONNECTIONS_CAP 65536

typedef struct ah_http_limits {
    unsigned threads;         /* worker threads */
    unsigned max_connections; /* 0: the open-file limit less AH_HTTP_RESERVED_FDS */
    unsigned per_address;     /* connections from one address at once; 0: no limit */
    /* From a connection's start, or a request line's end, until its headers are in. */
    int64_t header_timeout_ms;
    /* An idle keep-alive connection is closed after this, */
    int64_t idle_timeout_ms;
    /* or after this while more than 3/4 of max_connections are open. */
    int64_t crowded_idle_timeout_ms;
} ah_http_limits_t;

/*
 * Raises the soft open-file limit (RLIMIT_NOFILE) to the hard one, once for
 * the process, and returns the connection limit it allows: the soft limit
 * less AH_HTTP_RESERVED_FDS (less half of it when the limit is small), at
 * most AH_HTTP_MAX_CONNECTIONS_CAP, at least 16.  *nofile receives the soft
 * limit (may be NULL).
 */
unsigned ah_http_connection_budget(unsigned long *nofile);

/*
 * Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (all interfaces) into *ss,
 * resolving HOST.  AH_EINVAL with a sentence in err when it cannot.
 */
int ah_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                       size_t errlen);

/*
 * Starts listening on addr ("127.0.0.1:8080", "[::1]:0", "0.0.0.0:80",
 * ":8080") within limits (a max_connections of 0 is derived:
 * ah_http_connection_budget()).  On success *bound receives the actual
 * "host:port" (port 0 resolved).
 */
int ah_http_start(const char *addr, const ah_http_limits_t *limits, const ah_http_app_t *app,
                  ah_http_server_t **out, char *bound, size_t boundsz, char *err, size_t errlen);
/* The limits srv runs with, max_connections resolved. */
const ah_http_limits_t *ah_http_server_limits(const ah_http_server_t *srv);
/*
 * Stops accepting, waits for the answers of suspended requests, finishes
 * requests in progress, frees everything.
 */
void ah_http_stop(ah_http_server_t *srv);

#endif
