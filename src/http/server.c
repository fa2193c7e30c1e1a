/* SPDX-License-Identifier: MIT */
/*
 * server.c: the HTTP listener, over libmicrohttpd.
 *
 * One epoll-driven daemon with a thread pool (MHD_USE_EPOLL_INTERNAL_THREAD +
 * MHD_OPTION_THREAD_POOL_SIZE): each pool thread owns its connections, and an
 * application handler runs on the thread that read the request.
 *
 * A request's life.  When its request line is in, on_target() allocates its
 * `struct conn_req` (MHD's per-request pointer, freed by the
 * request-completed callback whatever happened) and scans the target as the
 * client sent it, before libmicrohttpd decodes it (head.h).  On the first
 * access-handler call the headers are in: first_call() checks the head's
 * framing (head.h), collects headers and query arguments, and asks the app
 * for the route and the body limit.  Body chunks are appended up to the
 * limit; on the final call the app handles the request and the answer is
 * queued, which keeps the connection alive for the next request.
 *
 * Refusals.  A request refused from its head (ambiguous framing, a bad
 * target, an unknown path, a wrong method, a body over the limit) is
 * answered at once.  Without a body it is answered on the final call,
 * which follows at once and keeps the connection alive.  When the framing
 * is untrusted, the answer is queued through libmicrohttpd at once, which
 * then closes the connection ("Connection: close" says so).
 * With a body on its way it is written to the socket directly, its write
 * side shut, and the body read and dropped until the client stops (at most
 * DRAIN_MAX): answer_direct().  That is also how a chunked body over the
 * limit is answered mid-upload, where libmicrohttpd would not let a
 * response be queued.  Reading what the client still sends keeps the
 * kernel from resetting the connection before the client has read its
 * answer.
 *
 * Connections.  Each has a `struct conn` (MHD's socket context), in one list
 * under conns_mu, with its phase: NEW (nothing complete yet), HEAD (request
 * line in, headers not), BUSY (headers in: reading the body, handling,
 * answering), IDLE (between requests) or LINGER (answered, dropping the
 * rest of the body).  Phase changes are atomic stores on the connection's
 * thread.  The sweeper thread wakes a few times a second and shuts down
 * (shutdown(2); libmicrohttpd then reads EOF and closes) every connection
 * past its deadline: NEW, HEAD and LINGER ones header_timeout after they
 * began, IDLE ones idle_timeout after their last answer.  While more
 * than 3/4 of max_connections (high_water) are open, it also closes the
 * longest-idle connections past crowded_idle_timeout, down to high_water.
 * A deadline, not an inactivity timer: a client that sends a byte a second
 * gains nothing.  BUSY connections are left to libmicrohttpd's own
 * inactivity timeout.  The sweeper and the first access-handler call race
 * for a HEAD connection with a compare-and-swap, so a request is either
 * handled or timed out, never both.  A connection leaves the list in the
 * connection-closed callback, before libmicrohttpd closes its descriptor,
 * so the sweeper never shuts down a descriptor that was reused.
 *
 * The totals are libmicrohttpd's: MHD_OPTION_CONNECTION_LIMIT (derived
 * from the open-file limit unless set) and MHD_OPTION_PER_IP_CONNECTION_LIMIT.
 * A connection over either is accepted and closed at once.
 *
 * Suspension.  A handler may suspend its request (ah_http_suspend) and have
 * another thread answer it (ah_http_resume): MHD then calls the access
 * handler once more, and that call queues the answer.  The server counts
 * suspended requests; ah_http_stop refuses new suspensions and waits for
 * the count to reach zero before MHD_stop_daemon, which must not find a
 * suspended connection.
 *
 * Streams (stream.c).  A handler that opened a Server-Sent Events stream
 * has its request answered by the stream's response; its connection is
 * suspended while the stream has nothing to write, counted like any
 * suspension.  The sweeper sends the streams' heartbeats, and ah_http_stop
 * ends every stream before it waits for the suspended count.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "airhook/airhook.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "http/head.h"
#include "http/stream_int.h"

/*
 * After an early answer the rest of the body is read and dropped, up to
 * this much; then the connection is cut.
 */
#define DRAIN_MAX (1024 * 1024)
/* The memory libmicrohttpd gives each connection: the head must fit in it. */
#define CONNECTION_MEMORY (64 * 1024)
/* Expired connections handled per pass of the sweeper's lock. */
#define SWEEP_BATCH 64

enum phase { PH_NEW, PH_HEAD, PH_BUSY, PH_IDLE, PH_LINGER, PH_EXPIRED };

/* One TCP connection (MHD's socket context). */
struct conn {
    struct conn *prev, *next; /* in ah_http_server.conns, under conns_mu */
    int fd;
    _Atomic int phase;
    _Atomic int64_t since_ms; /* when the phase's deadline started (ah_mono_ms) */
    uint64_t seq;             /* the order connections began in: ties of since_ms */
    char ip[64];
};

struct ah_http_server {
    struct MHD_Daemon *daemon;
    ah_http_app_t app;
    ah_http_limits_t lim;
    unsigned high_water; /* above this many open connections, idle ones go sooner */
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* signalled when n_suspended drops, or to stop the sweeper */
    size_t n_suspended; /* suspended, not yet resumed */
    bool stopping;      /* no more suspensions; the sweeper stops */
    pthread_mutex_t conns_mu;
    struct conn *conns; /* every open connection */
    _Atomic unsigned n_conns;
    uint64_t conn_seq; /* the last struct conn's seq, under conns_mu */
    pthread_t sweeper;
    bool sweeper_running;
};

struct conn_req {
    ah_http_req_t req;
    ah_http_resp_t resp;
    ah_http_server_t *srv;
    struct MHD_Connection *conn;
    struct conn *sock;  /* NULL if it could not be allocated */
    const char *target; /* as sent, in MHD's buffer (decoded in place later) */
    ah_http_target_t scan;
    bool params_dropped; /* too many query parameters: the query was cut off */
    size_t limit;
    size_t body_cap;
    size_t discarded;
    bool started;             /* the first access-handler call happened */
    bool has_body;            /* a body was announced */
    bool decided;             /* resp is final: do not call handle() */
    bool suspended;           /* handle() suspended it: the next call queues resp */
    bool queued;              /* answered */
    bool close;               /* close the connection after the answer */
    bool lingering;           /* answered directly; the rest of the body is dropped */
    ah_http_stream_t *stream; /* answered by a stream (stream.c) */
    bool stream_made;         /* its response was made: the response holds the reference */
};

/* ---- request accessors, used by the API layer ---- */

const char *ah_http_header(const ah_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].key, name))
            return req->headers[i].value;
    return NULL;
}

const char *ah_http_query(const ah_http_req_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (!strcmp(req->query[i].key, name))
            return req->query[i].value;
    return NULL;
}

void ah_http_resp_clear(ah_http_resp_t *resp)
{
    if (resp->release)
        resp->release(resp->release_arg);
    else
        free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
    resp->release = NULL;
    resp->release_arg = NULL;
}

void ah_http_resp_shared(ah_http_resp_t *resp, int status, const char *body, size_t len,
                         void (*release)(void *arg), void *arg)
{
    ah_http_resp_clear(resp);
    resp->status = status;
    resp->content_type = NULL;
    resp->body = (char *)body; /* never written: released, not freed */
    resp->body_len = len;
    resp->release = release;
    resp->release_arg = arg;
}

void ah_http_resp_json(ah_http_resp_t *resp, int status, json_t *j)
{
    ah_http_resp_clear(resp);
    resp->status = status;
    resp->content_type = NULL;
    resp->body =
        j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) : NULL;
    resp->body_len = resp->body ? strlen(resp->body) : 0;
    if (!resp->body)
        resp->status = 500; /* out of memory building it: not a success without its body */
    json_decref(j);
}

void ah_http_resp_text(ah_http_resp_t *resp, int status, const char *content_type, const char *text,
                       size_t len)
{
    ah_http_resp_clear(resp);
    resp->status = status;
    resp->content_type = content_type;
    resp->body = malloc(len + 1);
    resp->body_len = resp->body ? len : 0;
    if (!resp->body)
        resp->status = 500;
    if (resp->body) {
        memcpy(resp->body, text, len);
        resp->body[len] = '\0';
    }
}

/* ---- answering later ---- */

ah_http_pending_t *ah_http_suspend(ah_http_req_t *req)
{
    struct conn_req *r = req->server_ctx;
    if (!r || r->suspended)
        return NULL;
    ah_http_server_t *srv = r->srv;
    pthread_mutex_lock(&srv->mu);
    bool ok = !srv->stopping;
    if (ok)
        srv->n_suspended++;
    pthread_mutex_unlock(&srv->mu);
    if (!ok)
        return NULL;
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    return (ah_http_pending_t *)r;
}

void ah_http_resume(ah_http_pending_t *p)
{
    struct conn_req *r = (struct conn_req *)p;
    ah_http_server_t *srv = r->srv; /* r may be freed once resumed */
    MHD_resume_connection(r->conn);
    pthread_mutex_lock(&srv->mu);
    srv->n_suspended--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- streams (stream.c) ---- */

bool ah_http__stream_attach(ah_http_req_t *req, ah_http_stream_t *s, struct MHD_Connection **conn,
                            ah_http_server_t **srv)
{
    struct conn_req *r = req->server_ctx;
    if (!r || r->suspended || r->stream)
        return false;
    pthread_mutex_lock(&r->srv->mu);
    bool stopping = r->srv->stopping;
    pthread_mutex_unlock(&r->srv->mu);
    if (stopping)
        return false;
    r->stream = s;
    *conn = r->conn;
    *srv = r->srv;
    return true;
}

bool ah_http__hold(ah_http_server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    bool ok = !srv->stopping;
    if (ok)
        srv->n_suspended++;
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

void ah_http__unhold(ah_http_server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv->n_suspended--;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- connections and their phases ---- */

/*
 * Monotonic milliseconds from the coarse clock (a few ms of resolution, half
 * the cost): enough for deadlines of a tenth of a second and more, and
 * read once per request.  The sweeper compares it with ah_mono_ms().
 */
static int64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_phase(struct conn *k, int phase, int64_t since_ms)
{
    if (!k)
        return;
    int cur = atomic_load_explicit(&k->phase, memory_order_relaxed);
    if (cur == PH_EXPIRED)
        return; /* the sweeper has shut it down */
    if (since_ms)
        atomic_store_explicit(&k->since_ms, since_ms, memory_order_relaxed);
    /* A compare-and-swap: the sweeper may expire it meanwhile, and that stays. */
    atomic_compare_exchange_strong_explicit(&k->phase, &cur, phase, memory_order_release,
                                            memory_order_relaxed);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outsz);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ah_http_server_t *srv = cls;
    struct conn *k = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k = calloc(1, sizeof *k);
        if (!k || !fd) {
            free(k);
            return; /* not tracked: libmicrohttpd's own inactivity timeout still applies */
        }
        k->fd = fd->connect_fd;
        client_ip(c, k->ip, sizeof k->ip);
        atomic_init(&k->phase, PH_NEW);
        atomic_init(&k->since_ms, ah_mono_ms());
        pthread_mutex_lock(&srv->conns_mu);
        k->seq = ++srv->conn_seq;
        k->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = k;
        srv->conns = k;
        pthread_mutex_unlock(&srv->conns_mu);
        atomic_fetch_add_explicit(&srv->n_conns, 1, memory_order_relaxed);
        ah_metrics_connections(1);
        *socket_context = k;
        return;
    }
    if (!k)
        return;
    pthread_mutex_lock(&srv->conns_mu);
    if (k->prev)
        k->prev->next = k->next;
    else
        srv->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    pthread_mutex_unlock(&srv->conns_mu);
    atomic_fetch_sub_explicit(&srv->n_conns, 1, memory_order_relaxed);
    ah_metrics_connections(-1);
    free(k);
    *socket_context = NULL;
}

/* Counts and logs, through the app, a request that got no answer of the app's. */
static void finish_unanswered(ah_http_server_t *srv, const char *ip, int status, int64_t dur_us)
{
    ah_http_req_t req;
    ah_http_resp_t resp;
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.method = "";
    req.path = "";
    ah_strlcpy(req.client_ip, ip ? ip : "", sizeof req.client_ip);
    req.start_us = ah_mono_us() - dur_us;
    resp.status = status;
    srv->app.finish(srv->app.ctx, &req, &resp);
}

/* The deadline of a connection in phase ph; 0: none of ours. */
static int64_t deadline_ms(const ah_http_server_t *srv, int ph)
{
    switch (ph) {
    case PH_NEW:
    case PH_HEAD:
    case PH_LINGER:
        return srv->lim.header_timeout_ms;
    case PH_IDLE:
        return srv->lim.idle_timeout_ms;
    default:
        return 0;
    }
}

struct idle_conn {
    struct conn *k;
    int64_t since_ms;
};

/*
 * Longest idle first; since_ms is a coarse clock's (a few ms a tick), so
 * among equals the connection that began first goes first.
 */
static int by_idle_since(const void *a, const void *b)
{
    const struct idle_conn *x = a, *y = b;
    if (x->since_ms != y->since_ms)
        return x->since_ms < y->since_ms ? -1 : 1;
    return x->k->seq < y->k->seq ? -1 : x->k->seq > y->k->seq;
}

/* Crowded: more than high_water connections still open.  Closes the
 * longest-idle connections past crowded_idle_timeout until no more than
 * high_water are open (or none is left to close).  Under conns_mu. */
static void shed_idle(ah_http_server_t *srv, int64_t now, unsigned live)
{
    if (live <= srv->high_water)
        return;
    struct idle_conn *c = malloc(live * sizeof *c);
    if (!c)
        return; /* the plain idle timeout still applies */
    size_t n = 0;
    for (struct conn *k = srv->conns; k && n < live; k = k->next) {
        int64_t since = atomic_load_explicit(&k->since_ms, memory_order_relaxed);
        if (atomic_load_explicit(&k->phase, memory_order_acquire) == PH_IDLE &&
            now - since > srv->lim.crowded_idle_timeout_ms)
            c[n++] = (struct idle_conn){k, since};
    }
    qsort(c, n, sizeof *c, by_idle_since);
    for (size_t i = 0; i < n && live > srv->high_water; i++) {
        int ph = PH_IDLE;
        if (!atomic_compare_exchange_strong(&c[i].k->phase, &ph, PH_EXPIRED))
            continue; /* it moved on meanwhile */
        shutdown(c[i].k->fd, SHUT_RDWR);
        ah_metrics_connection_closed(AH_METRICS_CONN_IDLE_TIMEOUT);
        live--;
    }
    free(c);
}

/* One pass: shuts down every connection past its deadline, then sheds idle
 * ones while crowded; logs the requests among them. */
static void sweep(ah_http_server_t *srv)
{
    struct {
        char ip[64];
        int64_t waited_ms;
    } timed_out[SWEEP_BATCH];
    size_t n;
    do {
        int64_t now = ah_mono_ms();
        unsigned live = 0; /* open and not being closed */
        n = 0;
        pthread_mutex_lock(&srv->conns_mu);
        for (struct conn *k = srv->conns; k; k = k->next) {
            int ph = atomic_load_explicit(&k->phase, memory_order_acquire);
            int64_t limit = deadline_ms(srv, ph);
            int64_t waited = now - atomic_load_explicit(&k->since_ms, memory_order_relaxed);
            if (ph != PH_EXPIRED)
                live++;
            if (!limit || waited <= limit || n == SWEEP_BATCH)
                continue;
            if (!atomic_compare_exchange_strong(&k->phase, &ph, PH_EXPIRED))
                continue; /* it moved on meanwhile */
            live--;
            shutdown(k->fd, SHUT_RDWR);
            if (ph == PH_IDLE)
                ah_metrics_connection_closed(AH_METRICS_CONN_IDLE_TIMEOUT);
            if (ph == PH_NEW || ph == PH_HEAD) {
                ah_metrics_connection_closed(AH_METRICS_CONN_HEADER_TIMEOUT);
                ah_strlcpy(timed_out[n].ip, k->ip, sizeof timed_out[n].ip);
                timed_out[n++].waited_ms = waited;
            }
        }
        if (n < SWEEP_BATCH)
            shed_idle(srv, now, live);
        pthread_mutex_unlock(&srv->conns_mu);
        for (size_t i = 0; i < n; i++)
            finish_unanswered(srv, timed_out[i].ip, 408, timed_out[i].waited_ms * 1000);
    } while (n == SWEEP_BATCH);
}

static void *sweeper_main(void *arg)
{
    ah_http_server_t *srv = arg;
    int64_t tick = srv->lim.header_timeout_ms;
    if (srv->lim.crowded_idle_timeout_ms < tick)
        tick = srv->lim.crowded_idle_timeout_ms;
    tick /= 4;
    tick = tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        struct timespec ts = ah_deadline_ts(CLOCK_MONOTONIC, tick);
        pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->mu);
        sweep(srv);
        ah_http__streams_tick(srv);
        pthread_mutex_lock(&srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- the request target, when the request line is in ---- */

static void *on_target(void *cls, const char *uri, struct MHD_Connection *c)
{
    ah_http_server_t *srv = cls;
    struct conn *k = conn_of(c);
    int64_t now_us = ah_mono_us();
    if (k) {
        /* The first request's headers are due header_timeout after the connection began. */
        int ph = atomic_load_explicit(&k->phase, memory_order_relaxed);
        set_phase(k, PH_HEAD, ph == PH_NEW ? 0 : now_us / 1000);
    }
    struct conn_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL; /* the access handler refuses the request */
    r->srv = srv;
    r->conn = c;
    r->sock = k;
    r->req.server_ctx = r;
    r->req.start_us = now_us;
    r->target = uri ? uri : "";
    ah_http_scan_target(r->target, strlen(r->target), &r->scan);
    if (r->scan.n_params > AH_HTTP_MAX_QUERY && r->scan.query_at < r->scan.len) {
        /*
         * libmicrohttpd would make a record of every parameter in the
         * connection's memory and, short of it, close the connection
         * without a word.  Cut the query off where it starts, before it is
         * parsed (the buffer is libmicrohttpd's, writable, and read only
         * after this returns); the request is answered 400 all the same.
         */
        ((char *)r->target)[r->scan.query_at + 1] = '\0';
        r->params_dropped = true;
    }
    return r;
}

/* ---- collecting headers and query arguments ---- */

struct collect {
    ah_http_req_t *req;
    ah_http_head_t *head;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct collect *cc = cls;
    ah_http_req_t *req = cc->req;
    if (!ah_http_head_field(cc->head, key, key_size, value, value_size))
        return MHD_NO; /* refused: the rest does not matter */
    if (req->n_headers == AH_HTTP_MAX_HEADERS) {
        req->too_many_headers = true; /* keep checking the framing of the rest */
        return MHD_YES;
    }
    req->headers[req->n_headers].key = key;
    req->headers[req->n_headers].value = value;
    req->n_headers++;
    return MHD_YES;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    ah_http_req_t *req = cls;
    if (req->query_problem)
        return MHD_NO;
    if (req->n_query == AH_HTTP_MAX_QUERY) {
        req->query_problem = "too many query parameters";
        return MHD_NO;
    }
    for (size_t i = 0; i < req->n_query; i++) {
        if (!strcmp(req->query[i].key, key)) {
            req->query_problem = "a query parameter appears more than once";
            return MHD_NO;
        }
    }
    req->query[req->n_query].key = key;
    req->query[req->n_query].value = value ? value : "";
    req->n_query++;
    return MHD_YES;
}

/* ---- answering ---- */

static enum MHD_Result queue(ah_http_server_t *srv, struct MHD_Connection *c, struct conn_req *r)
{
    ah_http_resp_t *resp = &r->resp;
    if (!resp->status)
        resp->status = 500;
    srv->app.finish(srv->app.ctx, &r->req, resp);
    struct MHD_Response *mr;
    if (r->stream && resp->status == 200) {
        mr = ah_http__stream_response(r->stream);
        if (mr)
            r->stream_made = true;
    } else if (resp->body && resp->release) {
        /* A shared body: MHD lets it go with the response, through release. */
        mr = MHD_create_response_from_buffer_with_free_callback_cls(
            resp->body_len, resp->body, resp->release, resp->release_arg);
        if (mr) {
            resp->body = NULL;
            resp->release = NULL;
        }
    } else if (resp->body) {
        mr = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (mr)
            resp->body = NULL; /* MHD owns it now */
    } else {
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    if (resp->allow[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->retry_after[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, resp->retry_after);
    if (resp->location[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (resp->etag[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ETAG, resp->etag);
    if (resp->set_cookie[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_SET_COOKIE, resp->set_cookie);
    if (resp->content_encoding)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_ENCODING, resp->content_encoding);
    if (resp->vary)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, resp->vary);
    if (resp->cache_control)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache_control);
    for (size_t i = 0; i < resp->n_extra_headers; i++)
        MHD_add_response_header(mr, resp->extra_headers[i].key, resp->extra_headers[i].value);
    if (r->close)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    r->queued = true;
    return ret;
}

/*
 * Writes the status line and headers of resp for a direct answer into buf;
 * returns their length, or 0 when they do not fit.
 */
static size_t direct_head(const ah_http_resp_t *resp, char *buf, size_t len)
{
    char date[64];
    struct tm tm;
    time_t t = time(NULL);
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    const char *reason = MHD_get_reason_phrase_for((unsigned)resp->status);
    int n = snprintf(buf, len,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\nContent-Type: "
                     "%s\r\nContent-Length: %zu\r\n%s%s%s%s%s%s\r\n",
                     resp->status, reason && *reason ? reason : "Unknown", date,
                     resp->content_type ? resp->content_type : "application/json", resp->body_len,
                     resp->allow[0] ? "Allow: " : "", resp->allow, resp->allow[0] ? "\r\n" : "",
                     resp->retry_after[0] ? "Retry-After: " : "", resp->retry_after,
                     resp->retry_after[0] ? "\r\n" : "");
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/*
 * Answers now, while a body is still on its way: writes resp to the socket
 * (libmicrohttpd has nothing queued on it, and every earlier answer is
 * handed to the kernel already), shuts the write side, and from then on
 * drops what the client still sends.  The connection closes when the
 * client stops, when DRAIN_MAX is read, or at the sweeper's deadline.
 */
static enum MHD_Result answer_direct(ah_http_server_t *srv, struct MHD_Connection *c,
                                     struct conn_req *r)
{
    ah_http_resp_t *resp = &r->resp;
    if (!resp->status)
        resp->status = 500;
    srv->app.finish(srv->app.ctx, &r->req, resp);
    r->queued = r->lingering = r->decided = true;
    set_phase(r->sock, PH_LINGER, coarse_ms());
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    char head[512];
    size_t head_len = direct_head(resp, head, sizeof head);
    if (!fd || !head_len)
        return MHD_NO;
    struct iovec iov[2] = {{head, head_len}, {resp->body, resp->body ? resp->body_len : 0}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    /* Best effort: an empty send buffer takes it whole; if not, the client gets a cut answer. */
    if (sendmsg(fd->connect_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return MHD_NO;
    shutdown(fd->connect_fd, SHUT_WR);
    return MHD_YES;
}

/*
 * Answers a request refused from its head.  close: the framing cannot be
 * trusted, so the connection closes and nothing more is read.
 */
static enum MHD_Result answer_now(ah_http_server_t *srv, struct MHD_Connection *c,
                                  struct conn_req *r, bool close)
{
    r->decided = true;
    r->close = close;
    /*
     * Nothing to read: answered on the final call, which follows at once
     * (queued now, libmicrohttpd would close the connection after it).
     */
    if (!r->has_body && !close)
        return MHD_YES;
    const char *expect = ah_http_header(&r->req, "Expect");
    if (r->has_body && !close && strcmp(r->req.method, "HEAD") &&
        !(expect && !strcasecmp(expect, "100-continue")))
        return answer_direct(srv, c, r);
    /* Queued: with a body announced, libmicrohttpd drops it and closes after the answer. */
    return queue(srv, c, r);
}

static enum MHD_Result refuse(ah_http_server_t *srv, struct MHD_Connection *c, struct conn_req *r,
                              int status, const char *why, bool close)
{
    srv->app.refuse(srv->app.ctx, &r->req, status, why, &r->resp);
    return answer_now(srv, c, r, close);
}

/* ---- the access handler ---- */

static enum MHD_Result first_call(ah_http_server_t *srv, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, struct conn_req *r)
{
    r->started = true;
    int ph = PH_HEAD;
    if (r->sock && !atomic_compare_exchange_strong(&r->sock->phase, &ph, PH_BUSY))
        return MHD_NO; /* the sweeper timed it out: the connection is closing */
    ah_http_req_t *req = &r->req;
    req->method = method;
    req->path = url;
    if (r->sock)
        memcpy(req->client_ip, r->sock->ip, sizeof req->client_ip);
    else
        client_ip(c, req->client_ip, sizeof req->client_ip);

    ah_http_head_t head;
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    ah_http_head_begin(&head, method, r->target, r->scan.len, version, hs ? hs->header_size : 0);
    struct collect cc = {req, &head};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect_header, &cc);
    ah_http_head_end(&head);
    r->has_body = ah_http_head_has_body(&head);
    if (r->params_dropped)
        req->query_problem = "too many query parameters";
    else
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, req);
    if (head.status)
        return refuse(srv, c, r, head.status, head.why, head.close);
    if (r->scan.status)
        return refuse(srv, c, r, r->scan.status, r->scan.problem, false);

    r->limit = 0;
    if (!srv->app.prepare(srv->app.ctx, req, &r->limit, &r->resp))
        return answer_now(srv, c, r, false);
    if (head.length > r->limit) {
        srv->app.too_big(srv->app.ctx, req, r->limit, &r->resp);
        return answer_now(srv, c, r, false);
    }
    return MHD_YES;
}

static int append_body(struct conn_req *r, const char *data, size_t n)
{
    ah_http_req_t *req = &r->req;
    if (req->body_len + n > r->limit)
        return AH_ETOOBIG;
    if (req->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < req->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(req->body, cap);
        if (!nb)
            return AH_ENOMEM;
        req->body = nb;
        r->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return AH_OK;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)upload_data;
    ah_http_server_t *srv = cls;
    struct conn_req *r = *con_cls;
    if (!r)
        return MHD_NO; /* out of memory when its request line came in */
    if (!r->started)
        return first_call(srv, c, url, method, version, r);
    if (r->lingering) {
        /* Answered already: drop the rest of the body, not forever. */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->discarded += n;
        return n && r->discarded <= DRAIN_MAX ? MHD_YES : MHD_NO;
    }
    if (r->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->suspended) /* resumed: resp holds the answer */
        return queue(srv, c, r);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        int rc = append_body(r, upload_data, n);
        if (rc == AH_ETOOBIG) {
            /* A chunked body grew over the limit: say so now, not after the whole upload. */
            srv->app.too_big(srv->app.ctx, &r->req, r->limit, &r->resp);
            return answer_direct(srv, c, r);
        }
        return rc ? MHD_NO : MHD_YES;
    }
    if (!r->decided) {
        if (!r->req.body) {
            if (append_body(r, "", 0))
                return MHD_NO;
        }
        srv->app.handle(srv->app.ctx, &r->req, &r->resp);
        if (r->suspended)
            return MHD_YES; /* answered by ah_http_resume */
    }
    return queue(srv, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    struct conn_req *r = *con_cls;
    if (!r)
        return;
    /* Kept alive: the connection waits for its next request from now on. */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        set_phase(r->sock, PH_IDLE, coarse_ms());
    if (r->stream && !r->stream_made)
        ah_http__stream_abandon(r->stream); /* never answered by it: closed */
    free(r->req.body);
    ah_http_resp_clear(&r->resp);
    free(r);
    *con_cls = NULL;
}

/*
 * libmicrohttpd's messages, at debug level.  Two kinds matter more.  An
 * error answer it sent by itself (a head it could not parse, see
 * docs/operations.md) is counted and logged through the app like any
 * other, without a path or an address, which libmicrohttpd does not say.
 * A connection over a limit, which it accepted and closed, is counted.
 */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    ah_http_server_t *srv = cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    ah_log(AH_LOG_DEBUG, "http", json_pack("{s:s}", "detail", buf));
    unsigned status;
    if (srv && sscanf(buf, "Error processing request (HTTP response code is %u", &status) == 1)
        finish_unanswered(srv, NULL, (int)status, 0);
    else if (!strncmp(buf, "Server reached connection limit", 31))
        ah_metrics_connection_closed(AH_METRICS_CONN_LIMIT); /* total or per address */
}

/* ---- listening ---- */

int ah_http_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                       size_t errlen)
{
    char host[256];
    const char *port;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof host)
            goto bad;
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof host)
            goto bad;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = colon + 1;
        if (!host[0])
            ah_strlcpy(host, "0.0.0.0", sizeof host);
    }
    int64_t p;
    if (ah_parse_i64(port, 0, 65535, &p))
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai || !res) {
        snprintf(err, errlen, "cannot resolve listen host '%s': %s", host, gai_strerror(gai));
        return AH_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return AH_OK;
bad:
    snprintf(err, errlen, "bad listen address '%s' (want HOST:PORT or [V6]:PORT)", addr);
    return AH_EINVAL;
}

unsigned ah_http_connection_budget(unsigned long *nofile)
{
    struct rlimit rl;
    unsigned long soft = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) {
            want = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
        } else {
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0)
                want = rl.rlim_cur;
        }
        soft = (unsigned long)want;
    }
    if (nofile)
        *nofile = soft;
    unsigned long reserve = soft / 2 < AH_HTTP_RESERVED_FDS ? soft / 2 : AH_HTTP_RESERVED_FDS;
    unsigned long budget = soft - reserve;
    if (budget > AH_HTTP_MAX_CONNECTIONS_CAP)
        budget = AH_HTTP_MAX_CONNECTIONS_CAP;
    return budget < 16 ? 16 : (unsigned)budget;
}

const ah_http_limits_t *ah_http_server_limits(const ah_http_server_t *srv)
{
    return &srv->lim;
}

/* Seconds, rounded up, for libmicrohttpd's inactivity timeout. */
static unsigned seconds(int64_t ms)
{
    return ms <= 0 ? 0 : (unsigned)((ms + 999) / 1000);
}

static void free_server(ah_http_server_t *srv)
{
    while (srv->conns) { /* none after MHD_stop_daemon; none either after a failed start */
        struct conn *k = srv->conns;
        srv->conns = k->next;
        free(k);
    }
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->conns_mu);
    free(srv);
}

int ah_http_start(const char *addr, const ah_http_limits_t *limits, const ah_http_app_t *app,
                  ah_http_server_t **out, char *bound, size_t boundsz, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (ah_http_parse_addr(addr, &ss, &sslen, err, errlen))
        return AH_EINVAL;
    ah_http_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return AH_ENOMEM;
    srv->app = *app;
    srv->lim = *limits;
    unsigned long nofile = 0;
    unsigned budget = ah_http_connection_budget(&nofile);
    if (!srv->lim.max_connections)
        srv->lim.max_connections = budget;
    else if (srv->lim.max_connections > budget)
        ah_log(AH_LOG_WARN, "max connections over the open-file limit",
               json_pack("{s:i, s:i, s:i}", "max_connections", (int)srv->lim.max_connections,
                         "open_file_limit", (int)nofile, "reserved", AH_HTTP_RESERVED_FDS));
    if (srv->lim.threads < 1)
        srv->lim.threads = 1;
    if (srv->lim.max_connections < srv->lim.threads)
        srv->lim.max_connections = srv->lim.threads;
    srv->high_water = srv->lim.max_connections / 4 * 3;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&srv->n_conns, 0);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, srv->lim.threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        srv, MHD_OPTION_URI_LOG_CALLBACK, on_target, srv, MHD_OPTION_CONNECTION_LIMIT,
        srv->lim.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv->lim.per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, seconds(srv->lim.idle_timeout_ms),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not permitted?)", addr);
        free_server(srv);
        return AH_EIO;
    }
    if (pthread_create(&srv->sweeper, NULL, sweeper_main, srv) != 0) {
        snprintf(err, errlen, "cannot start the connection sweeper thread");
        MHD_stop_daemon(srv->daemon);
        free_server(srv);
        return AH_ENOMEM;
    }
    srv->sweeper_running = true;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    char host[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        snprintf(bound, boundsz, "[%s]:%u", host, port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        snprintf(bound, boundsz, "%s:%u", host, port);
    }
    *out = srv;
    return AH_OK;
}

void ah_http_stop(ah_http_server_t *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->cv); /* the sweeper stops */
    pthread_mutex_unlock(&srv->mu);
    ah_http__streams_stop(srv); /* resumes the waiting ones: they end */
    pthread_mutex_lock(&srv->mu);
    while (srv->n_suspended)
        pthread_cond_wait(&srv->cv, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    ah_http__streams_drain(srv, 1000); /* the farewells go out before the sockets close */
    if (srv->sweeper_running)
        pthread_join(srv->sweeper, NULL);
    MHD_stop_daemon(srv->daemon);
    free_server(srv);
}
