/*
 * server.c: the HTTP listener, over libmicrohttpd.
 *
 * One epoll-driven daemon with a thread pool (MHD_USE_EPOLL_INTERNAL_THREAD +
 * MHD_OPTION_THREAD_POOL_SIZE): each pool thread owns its connections, and an
 * application handler runs on the thread that read the request.  Each request
 * carries a `struct conn_req` in MHD's per-request pointer; it is freed by the
 * request-completed callback whatever happened.
 *
 * A handler may suspend its request (ah_http_suspend) and have another thread
 * answer it (ah_http_resume): MHD then calls the access handler once more,
 * and that call queues the answer.  The server counts suspended requests;
 * ah_http_stop refuses new suspensions and waits for the count to reach zero
 * before MHD_stop_daemon, which must not find a suspended connection.
 *
 * Responses are queued on the last access-handler call (after the body), or
 * on the first one when the request can be refused from its headers alone
 * (unknown path, wrong method, Content-Length over the limit).  Queueing on
 * the first call skips "100 Continue" and makes MHD close the connection,
 * which is what an oversized upload deserves.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airhook/airhook.h"
#include "common/log.h"
#include "common/util.h"

/*
 * A refused request's body is read and dropped up to this much (so the
 * client gets its 404/405/413), after which the connection is cut.
 */
#define DRAIN_MAX (4 * 1024 * 1024)

struct ah_http_server {
    struct MHD_Daemon *daemon;
    ah_http_app_t app;
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* signalled when n_suspended drops */
    size_t n_suspended; /* suspended, not yet resumed */
    bool stopping;      /* no more suspensions */
};

struct conn_req {
    ah_http_req_t req;
    ah_http_resp_t resp;
    ah_http_server_t *srv;
    struct MHD_Connection *conn;
    size_t limit;
    size_t body_cap;
    size_t discarded;
    bool decided;   /* resp is final: do not call handle() */
    bool suspended; /* handle() suspended it: the next call queues resp */
    bool queued;
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
    resp->body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
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

/* ---- collecting headers and query arguments ---- */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    ah_http_req_t *req = cls;
    if (req->n_headers == AH_HTTP_MAX_HEADERS) {
        req->too_many_headers = true;
        return MHD_NO;
    }
    req->headers[req->n_headers].key = key;
    req->headers[req->n_headers].value = value ? value : "";
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

/* ---- the access handler ---- */

static enum MHD_Result queue(ah_http_server_t *srv, struct MHD_Connection *c, struct conn_req *r)
{
    ah_http_resp_t *resp = &r->resp;
    if (!resp->status)
        resp->status = 500;
    srv->app.finish(srv->app.ctx, &r->req, resp);
    struct MHD_Response *mr;
    if (resp->body && resp->release) {
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
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    r->queued = true;
    return ret;
}

static bool content_length_over(struct MHD_Connection *c, size_t limit)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n;
    if (!cl)
        return false;
    if (ah_parse_i64(cl, 0, INT64_MAX, &n))
        return false; /* MHD itself rejects malformed lengths */
    return (uint64_t)n > limit;
}

static enum MHD_Result first_call(ah_http_server_t *srv, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    struct conn_req *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    *con_cls = r;
    r->srv = srv;
    r->conn = c;
    ah_http_req_t *req = &r->req;
    req->server_ctx = r;
    req->method = method;
    req->path = url;
    req->start_us = ah_mono_us();
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, req);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, req);
    client_ip(c, req->client_ip, sizeof req->client_ip);
    r->limit = 0;
    if (!srv->app.prepare(srv->app.ctx, req, &r->limit, &r->resp)) {
        r->decided = true;
        return MHD_YES; /* answered on the final call, after any body is drained */
    }
    if (content_length_over(c, r->limit)) {
        srv->app.too_big(srv->app.ctx, req, r->limit, &r->resp);
        r->decided = true;
        return queue(srv, c, r);
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
    (void)version;
    ah_http_server_t *srv = cls;
    struct conn_req *r = *con_cls;
    if (!r)
        return first_call(srv, c, url, method, con_cls);
    if (r->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->suspended) /* resumed: resp holds the answer */
        return queue(srv, c, r);
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->decided) {
            /* Drain what we will not read, but not forever. */
            r->discarded += n;
            return r->discarded > DRAIN_MAX + r->limit * 2 ? MHD_NO : MHD_YES;
        }
        int rc = append_body(r, upload_data, n);
        if (rc == AH_ETOOBIG) {
            srv->app.too_big(srv->app.ctx, &r->req, r->limit, &r->resp);
            r->decided = true;
        } else if (rc) {
            return MHD_NO;
        }
        return MHD_YES;
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
    (void)toe;
    struct conn_req *r = *con_cls;
    if (!r)
        return;
    free(r->req.body);
    ah_http_resp_clear(&r->resp);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    ah_log(AH_LOG_DEBUG, "http", json_pack("{s:s}", "detail", buf));
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

int ah_http_start(const char *addr, unsigned threads, const ah_http_app_t *app,
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
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (threads < 1)
        threads = 1;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not permitted?)", addr);
        pthread_cond_destroy(&srv->cv);
        pthread_mutex_destroy(&srv->mu);
        free(srv);
        return AH_EIO;
    }
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
    while (srv->n_suspended)
        pthread_cond_wait(&srv->cv, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->daemon);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
