/* SPDX-License-Identifier: MIT */
/*
 * stream.c: Server-Sent Events over libmicrohttpd (http.h, "Server-Sent
 * Events").
 *
 * A stream is a queue of whole events (each one malloc'd block of text) and
 * the connection that writes them.  Its response is made from a content
 * reader (MHD_create_response_from_callback, size unknown: chunked); the
 * reader copies what is queued, and when nothing is, suspends the connection
 * (MHD_suspend_connection from the reader, returning 0, as libmicrohttpd's
 * documentation prescribes for internal polling) so that no listener thread
 * waits and nothing polls.  ah_http_stream_send() queues and resumes it.
 * Suspensions are counted with the server's (ah_http__hold), so ah_http_stop
 * finds none left: it first ends every stream (ah_http__streams_stop), which
 * resumes the suspended ones, whose readers then write the farewell and end.
 *
 * Heartbeats come from the server's sweeper thread (ah_http__streams_tick),
 * which walks the registry of open streams a few times a second.  It also
 * watches the socket of each suspended stream (poll for POLLRDHUP, no
 * wait), which libmicrohttpd does not while the connection is suspended: a
 * client that hung up is seen within a tick, its stream ended and the
 * connection resumed, so libmicrohttpd closes it.  A client that vanished
 * without a FIN is found when the connection is next written (a heartbeat
 * at the latest).  Either way libmicrohttpd destroys the response, whose
 * free callback closes the stream and tells the owner.
 *
 * Lifetime: a stream has two references, its owner's (until
 * ah_http_stream_release) and its connection's (until the response is
 * freed, or the request abandoned).  Locks are taken in the order registry,
 * stream, server.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "airhook/airhook.h"
#include "common/util.h"
#include "http/http.h"
#include "http/stream_int.h"

#define DEFAULT_MAX_QUEUED 256
#define DEFAULT_HEARTBEAT_MS 15000
#define SUMMARY_MAX 1024
/* The reader's block: MHD's buffer for a chunk of the response. */
#define READ_BLOCK 16384

struct item {
    struct item *next;
    bool counted; /* against max_queued (events sent; not pings, summaries, farewells) */
    size_t len;
    char text[];
};

struct ah_http_stream {
    pthread_mutex_t mu;
    int refs;
    ah_http_server_t *srv;       /* NULL: detached (tests) */
    struct MHD_Connection *conn; /* NULL: detached */
    int fd;                      /* the connection's socket, watched while suspended; -1: none */
    ah_http_stream_opts_t opts;
    char *farewell; /* the whole farewell event, or NULL */
    struct item *head, *tail;
    size_t n; /* events counted against max_queued */
    size_t dropped;
    struct item *cur; /* being written */
    size_t off;
    int64_t last_write_ms;
    bool suspended;  /* the connection is suspended (and counted) */
    bool ending;     /* end once the queue is written */
    bool closed;     /* the connection has ended */
    bool registered; /* in the registry */
    ah_http_stream_t *prev, *next;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cv = PTHREAD_COND_INITIALIZER; /* a stream left the registry */
static ah_http_stream_t *reg_head;

size_t ah_http_stream_format(char *buf, size_t cap, const char *event, const char *id,
                             const char *data)
{
    size_t n = 0;
#define PUT(str, len)                                                                              \
    do {                                                                                           \
        if (n + (len) >= cap)                                                                      \
            return 0;                                                                              \
        memcpy(buf + n, (str), (len));                                                             \
        n += (len);                                                                                \
    } while (0)
    if (event) {
        PUT("event: ", 7);
        PUT(event, strcspn(event, "\r\n"));
        PUT("\n", 1);
    }
    if (id) {
        PUT("id: ", 4);
        PUT(id, strcspn(id, "\r\n"));
        PUT("\n", 1);
    }
    const char *p = data ? data : "";
    for (;;) {
        size_t len = strcspn(p, "\r\n");
        PUT("data: ", 6);
        PUT(p, len);
        PUT("\n", 1);
        p += len;
        if (*p == '\r' && p[1] == '\n')
            p++;
        if (!*p)
            break;
        p++;
    }
    PUT("\n", 1);
#undef PUT
    buf[n] = '\0';
    return n;
}

/* An upper bound of what ah_http_stream_format writes (a CR or an LF ends a data line). */
static size_t formatted_size(const char *event, const char *id, const char *data)
{
    size_t lines = 1;
    for (const char *p = data ? data : ""; *p; p++)
        lines += *p == '\n' || *p == '\r';
    return (event ? strlen(event) + 8 : 0) + (id ? strlen(id) + 5 : 0) + (data ? strlen(data) : 0) +
           lines * 7 + 2;
}

static struct item *item_new(const char *text, size_t len)
{
    struct item *it = malloc(sizeof *it + len + 1);
    if (!it)
        return NULL;
    it->next = NULL;
    it->counted = false;
    it->len = len;
    memcpy(it->text, text, len);
    it->text[len] = '\0';
    return it;
}

static void push(ah_http_stream_t *s, struct item *it)
{
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
}

/* The summary of what was dropped, queued (s->mu held). */
static void queue_summary(ah_http_stream_t *s)
{
    if (!s->dropped)
        return;
    size_t dropped = s->dropped;
    s->dropped = 0;
    if (!s->opts.summary)
        return;
    char buf[SUMMARY_MAX];
    size_t len = s->opts.summary(s->opts.arg, dropped, buf, sizeof buf);
    struct item *it = len && len < sizeof buf ? item_new(buf, len) : NULL;
    if (it)
        push(s, it);
}

/* Lets the connection go on when it waits (s->mu held). */
static void wake(ah_http_stream_t *s)
{
    if (!s->suspended)
        return;
    s->suspended = false;
    MHD_resume_connection(s->conn);
    ah_http__unhold(s->srv);
}

static ah_http_stream_t *stream_new(const ah_http_stream_opts_t *opts)
{
    ah_http_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->refs = 1;
    s->fd = -1;
    if (opts)
        s->opts = *opts;
    if (!s->opts.max_queued)
        s->opts.max_queued = DEFAULT_MAX_QUEUED;
    if (s->opts.heartbeat_ms <= 0)
        s->opts.heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    if (opts && opts->farewell_event) {
        size_t cap = formatted_size(opts->farewell_event, NULL, opts->farewell_data) + 1;
        s->farewell = malloc(cap);
        if (s->farewell && !ah_http_stream_format(s->farewell, cap, opts->farewell_event, NULL,
                                                  opts->farewell_data)) {
            free(s->farewell);
            s->farewell = NULL;
        }
    }
    s->opts.farewell_event = s->opts.farewell_data = NULL; /* the caller's: not kept */
    s->last_write_ms = ah_mono_ms();
    return s;
}

static void unref(ah_http_stream_t *s)
{
    pthread_mutex_lock(&s->mu);
    int left = --s->refs;
    pthread_mutex_unlock(&s->mu);
    if (left)
        return;
    free(s->cur);
    while (s->head) {
        struct item *it = s->head;
        s->head = it->next;
        free(it);
    }
    free(s->farewell);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

ah_http_stream_t *ah_http_stream_detached(const ah_http_stream_opts_t *opts)
{
    return stream_new(opts);
}

ah_http_stream_t *ah_http_stream_open(ah_http_req_t *req, ah_http_resp_t *resp,
                                      const ah_http_stream_opts_t *opts)
{
    ah_http_stream_t *s = stream_new(opts);
    if (!s)
        return NULL;
    s->refs = 2; /* the owner's and the connection's */
    if (!ah_http__stream_attach(req, s, &s->conn, &s->srv)) {
        s->refs = 1;
        unref(s);
        return NULL;
    }
    /* A heartbeat within the idle timeout, so a quiet stream is never taken for an idle one. */
    const ah_http_limits_t *lim = ah_http_server_limits(s->srv);
    if (lim->idle_timeout_ms > 0 && s->opts.heartbeat_ms > lim->idle_timeout_ms / 2)
        s->opts.heartbeat_ms = lim->idle_timeout_ms / 2 > 0 ? lim->idle_timeout_ms / 2 : 1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    if (s->fd >= 0 && s->opts.sndbuf > 0)
        setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &s->opts.sndbuf, sizeof s->opts.sndbuf);
    pthread_mutex_lock(&reg_mu);
    s->registered = true;
    s->next = reg_head;
    if (reg_head)
        reg_head->prev = s;
    reg_head = s;
    pthread_mutex_unlock(&reg_mu);
    ah_http_resp_clear(resp);
    resp->status = 200;
    resp->content_type = "text/event-stream";
    return s;
}

int ah_http_stream_send(ah_http_stream_t *s, const char *event, const char *id, const char *data)
{
    size_t cap = formatted_size(event, id, data) + 1;
    char *buf = malloc(sizeof(struct item) + cap);
    if (!buf)
        return AH_ENOMEM;
    struct item *it = (struct item *)(void *)buf;
    it->next = NULL;
    it->counted = true;
    it->len = ah_http_stream_format(it->text, cap, event, id, data);
    pthread_mutex_lock(&s->mu);
    int rc = AH_OK;
    if (s->closed || s->ending) {
        rc = AH_EIO;
    } else if (s->n >= s->opts.max_queued) {
        s->dropped++;
        rc = AH_ETOOBIG;
    } else {
        queue_summary(s);
        push(s, it);
        s->n++;
        it = NULL;
        wake(s);
    }
    pthread_mutex_unlock(&s->mu);
    free(it);
    return rc;
}

void ah_http_stream_end(ah_http_stream_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->ending = true;
    wake(s);
    pthread_mutex_unlock(&s->mu);
}

bool ah_http_stream_closed(ah_http_stream_t *s)
{
    pthread_mutex_lock(&s->mu);
    bool closed = s->closed;
    pthread_mutex_unlock(&s->mu);
    return closed;
}

void ah_http_stream_release(ah_http_stream_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->opts.closed = NULL; /* the owner has gone: nobody to tell */
    s->ending = true;
    wake(s);
    pthread_mutex_unlock(&s->mu);
    unref(s);
}

/*
 * Copies what is queued into buf (s->mu held): the bytes written, 0 when
 * nothing is queued, -1 when the stream has ended and all is written.
 */
static long fill(ah_http_stream_t *s, char *buf, size_t max)
{
    size_t w = 0;
    while (w < max) {
        if (!s->cur) {
            struct item *it = s->head;
            if (!it) {
                queue_summary(s); /* emptied: the summary of what was dropped, if any */
                it = s->head;
            }
            if (!it)
                break;
            s->head = it->next;
            if (!s->head)
                s->tail = NULL;
            if (it->counted)
                s->n--;
            s->cur = it;
            s->off = 0;
        }
        size_t take = s->cur->len - s->off;
        if (take > max - w)
            take = max - w;
        memcpy(buf + w, s->cur->text + s->off, take);
        w += take;
        s->off += take;
        if (s->off == s->cur->len) {
            free(s->cur);
            s->cur = NULL;
        }
    }
    if (w) {
        s->last_write_ms = ah_mono_ms();
        return (long)w;
    }
    return s->ending || s->closed ? -1 : 0;
}

long ah_http_stream_read(ah_http_stream_t *s, char *buf, size_t max)
{
    pthread_mutex_lock(&s->mu);
    long n = fill(s, buf, max);
    pthread_mutex_unlock(&s->mu);
    return n;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ah_http_stream_t *s = cls;
    pthread_mutex_lock(&s->mu);
    long n = fill(s, buf, max);
    if (n == 0 && !ah_http__hold(s->srv))
        n = -1; /* the listener is stopping: no more waiting */
    if (n == 0) {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void unregister(ah_http_stream_t *s)
{
    pthread_mutex_lock(&reg_mu);
    if (s->registered) {
        if (s->prev)
            s->prev->next = s->next;
        else
            reg_head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->prev = s->next = NULL;
        s->registered = false;
        pthread_cond_broadcast(&reg_cv);
    }
    pthread_mutex_unlock(&reg_mu);
}

/* The connection is done with s: closed, the owner told, its reference dropped. */
static void on_free(void *cls)
{
    ah_http_stream_t *s = cls;
    unregister(s);
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    if (s->suspended) { /* not expected: libmicrohttpd frees only running connections */
        s->suspended = false;
        ah_http__unhold(s->srv);
    }
    void (*closed)(void *) = s->opts.closed;
    void *arg = s->opts.arg;
    s->opts.closed = NULL;
    pthread_mutex_unlock(&s->mu);
    if (closed)
        closed(arg);
    unref(s);
}

struct MHD_Response *ah_http__stream_response(ah_http_stream_t *s)
{
    struct MHD_Response *mr =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READ_BLOCK, reader, s, on_free);
    if (!mr)
        return NULL;
    MHD_add_response_header(mr, "Cache-Control", "no-cache");
    MHD_add_response_header(mr, "X-Accel-Buffering", "no");
    return mr;
}

void ah_http__stream_abandon(ah_http_stream_t *s)
{
    on_free(s);
}

void ah_http__streams_tick(ah_http_server_t *srv)
{
    int64_t now = ah_mono_ms();
    pthread_mutex_lock(&reg_mu);
    for (ah_http_stream_t *s = reg_head; s; s = s->next) {
        if (s->srv != srv)
            continue;
        pthread_mutex_lock(&s->mu);
        /*
         * A suspended connection is not watched by libmicrohttpd: a client
         * that hung up is seen here (the peer's FIN), and the stream ended
         * so that its connection closes now, not at the next heartbeat.
         */
        if (s->suspended && s->fd >= 0) {
            struct pollfd pfd = {.fd = s->fd, .events = POLLRDHUP};
            if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                s->ending = true;
                wake(s);
            }
        }
        if (!s->closed && !s->ending && !s->head && !s->cur &&
            now - s->last_write_ms >= s->opts.heartbeat_ms) {
            static const char ping[] = ": ping\n\n";
            struct item *it = item_new(ping, sizeof ping - 1);
            if (it) {
                push(s, it);
                s->last_write_ms = now;
                wake(s);
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}

/* Whether srv has a stream its connection has not let go of (reg_mu held). */
static bool has_stream(const ah_http_server_t *srv)
{
    for (const ah_http_stream_t *s = reg_head; s; s = s->next)
        if (s->srv == srv)
            return true;
    return false;
}

void ah_http__streams_drain(ah_http_server_t *srv, int64_t max_ms)
{
    struct timespec until = ah_deadline_ts(CLOCK_REALTIME, max_ms);
    pthread_mutex_lock(&reg_mu);
    while (has_stream(srv))
        if (pthread_cond_timedwait(&reg_cv, &reg_mu, &until))
            break; /* time is up: the daemon closes what is left */
    pthread_mutex_unlock(&reg_mu);
}

void ah_http__streams_stop(ah_http_server_t *srv)
{
    pthread_mutex_lock(&reg_mu);
    for (ah_http_stream_t *s = reg_head; s; s = s->next) {
        if (s->srv != srv)
            continue;
        pthread_mutex_lock(&s->mu);
        if (!s->closed && !s->ending && s->farewell) {
            struct item *it = item_new(s->farewell, strlen(s->farewell));
            if (it)
                push(s, it);
        }
        s->ending = true;
        wake(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&reg_mu);
}
