/* SPDX-License-Identifier: MIT */
/*
 * listen.c: `airhook listen`, the server's deliveries forwarded to a local
 * URL over one outgoing connection (docs/listen.md, the wire protocol in
 * docs/listen.md#protocol).
 *
 * The command signs in with the key pair (/auth), creates a listener
 * (POST {base}/airhook/v1/listeners) and reads its stream, a Server-Sent
 * Events response (sse.c parses it).  Each `delivery` event becomes a POST
 * to the local target with the exact body and the delivery's headers; the
 * local answer goes back as a result (POST …/results), which the server
 * records as the delivery attempt.  Ctrl-C deletes the listener.
 *
 * Everything that may take long runs in one libcurl multi loop: the stream,
 * every forward (each bounded by --forward-timeout) and every result post,
 * so a slow local target never stops the stream from being read.  Only the
 * short bookkeeping calls (/auth, creating or deleting a listener) are
 * plain blocking requests, each bounded by client.c's timeouts.
 *
 * The stream is watched: silence longer than --stall-timeout (the server
 * pings every 15 s), a cut connection or an answer other than 200 ends it
 * and a new one is opened after an exponential backoff with jitter (0.5-1 s
 * the first time, doubling up to 30 s), said on stderr.  A 401 means the
 * token expired: sign in again and reconnect at once.  A 404 (or `bye`
 * "deleted"/"expired") means the listener is gone: create a new one (same
 * secret: it belongs to the access key) and say so.  Deliveries made while
 * the stream was away wait on the server and arrive when it is back.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "airhook/airhook.h"
#include "api/triggers.h"
#include "cli/client.h"
#include "cli/forward.h"
#include "cli/sse.h"
#include "cli/suggest.h"
#include "common/crypto.h"
#include "common/util.h"

#define NS "/airhook/v1"
#define STREAM_MAX_LINE ((size_t)16 * 1024 * 1024) /* one delivery event, JSON-escaped */
#define RESULT_BODY_MAX 4096                       /* bytes of the local answer reported */
#define RESULT_HEADERS_MAX 100                     /* header lines of the local answer reported */
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_CAP_MS 30000
#define POLL_MS 200
#define RESULT_TRIES 3
#define DRAIN_MS 3000 /* on Ctrl-C: how long forwards in flight may finish */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

typedef enum { JOB_STREAM, JOB_FORWARD, JOB_RESULT } job_kind_t;

typedef struct listen_state listen_t;

/* One transfer of the multi loop. */
typedef struct job {
    job_kind_t kind;
    listen_t *L;
    CURL *easy;
    struct curl_slist *hdrs;
    struct job *next; /* in L->jobs */
    char errbuf[CURL_ERROR_SIZE];
    char why[96]; /* the loop's own reason for ending the transfer, if any */
    /* forward and result */
    char *listener_id;
    char *delivery_id;
    json_int_t attempt;
    /* forward */
    char *trigger, *event_id, *payload;
    size_t payload_len;
    int64_t started_us;
    json_t *resp_headers;
    char body[RESULT_BODY_MAX + 1];
    size_t body_len;
    /* result */
    char *result_json;
    int tries;
} job_t;

struct listen_state {
    const ah_args_t *args;
    char *base, *root, *token;
    char *listener_id, *secret, *stream_path;
    json_t *triggers; /* the listener's, as the server answered */
    ah_forward_plan_t plan;
    struct curl_slist *connect_to;
    long forward_timeout_ms;
    int64_t stall_ms;
    CURLM *multi;
    job_t *jobs;
    job_t *queued; /* made inside a callback, added to the multi after it */
    /* the stream */
    job_t *stream;
    ah_sse_parser_t sse;
    int64_t last_rx_ms;
    char stream_body[512];
    size_t stream_body_len;
    char *bye;
    bool need_auth, need_listener;
    bool reauthed; /* signed in again for this stream already: a second refusal is a failure */
    bool ever_ready, lost;
    int failures;
    int64_t reconnect_at_ms;
    int exit_code; /* set: stop the loop with this code */
    bool keep_listener;
    /* the summary */
    unsigned long n_2xx, n_other, n_none, n_unreported;
};

/* ---- small helpers ------------------------------------------------------- */

static char *dup_str(const char *s)
{
    return s ? ah_str_concat(s, (char *)NULL) : NULL;
}

static void replace(char **slot, char *value)
{
    free(*slot);
    *slot = value;
}

/* scheme://host[:port] of url (a checked http(s) URL); caller frees. */
static char *url_root(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *slash = strchr(host, '/');
    size_t n = slash ? (size_t)(slash - url) : strlen(url);
    return strndup(url, n);
}

/* {base}/airhook/v1/listeners[/{id}[/suffix]]; caller frees. */
static char *listener_url(const listen_t *L, const char *id, const char *suffix)
{
    char *esc = id ? ah_url_escape(id) : NULL;
    char *url = ah_str_concat(L->base, NS "/listeners", esc ? "/" : "", esc ? esc : "",
                              suffix ? suffix : "", (char *)NULL);
    free(esc);
    return url;
}

static void print_time_prefix(FILE *f)
{
    time_t now = time(NULL);
    struct tm tm;
    char buf[16];
    if (!localtime_r(&now, &tm) || !strftime(buf, sizeof buf, "%H:%M:%S", &tm))
        buf[0] = '\0';
    fputs(buf, f);
}

/* ---- blocking bookkeeping requests -------------------------------------- */

/*
 * True when an answer says the token is no good any more, so signing in
 * again may help: 401 (the protocol's word), or what airhook's public API
 * says of a token, like webhook-list: 412 expired, 400 not valid (a server
 * that lost it), 403 its key revoked (then /auth refuses and says so).
 */
static bool token_refused(long status, const char *body)
{
    if (status == 401 || status == 412)
        return true;
    return (status == 400 || status == 403) && body && strstr(body, "access token");
}

enum { CALL_OK, CALL_UNREACHABLE, CALL_REFUSED };

/*
 * One token-bearing request; a 401 signs in again and retries once.
 * Returns CALL_OK with *resp filled (any other status), CALL_UNREACHABLE
 * (why in err) or CALL_REFUSED (printed: /auth said no).
 */
static int sign_in(listen_t *L, char *err, size_t errsz);

static int token_call(listen_t *L, const char *method, const char *url, const char *json,
                      ah_http_response_t *resp, char *err, size_t errsz)
{
    for (int round = 0; round < 2; round++) {
        if (!L->token || L->need_auth) {
            int rc = sign_in(L, err, errsz);
            if (rc)
                return rc;
        }
        const ah_http_header_t h[] = {{"X-Airmeet-Access-Token", L->token}};
        const ah_http_request_t req = {method, url, h, 1, json};
        int st = ah_http_request(&req, resp, err, errsz);
        if (st)
            return CALL_UNREACHABLE;
        if (!token_refused(resp->status, resp->body) || round == 1)
            return CALL_OK;
        ah_http_response_free(resp);
        L->need_auth = true;
    }
    return CALL_OK;
}

static int sign_in(listen_t *L, char *err, size_t errsz)
{
    char *url = ah_str_concat(L->base, "/auth", (char *)NULL);
    const ah_http_header_t h[] = {
        {"X-Airmeet-Access-Key", ah_arg(L->args, "access-key")},
        {"X-Airmeet-Secret-Key", ah_arg(L->args, "secret-key")},
    };
    const ah_http_request_t req = {"POST", url, h, 2, NULL};
    ah_http_response_t resp = {0};
    int st = url ? ah_http_request(&req, &resp, err, errsz) : AH_ENOMEM;
    free(url);
    if (st) {
        if (!*err)
            snprintf(err, errsz, "%s", ah_strerror(st));
        return CALL_UNREACHABLE;
    }
    int rc = CALL_OK;
    char *token = resp.status == 200 ? ah_public_token_of(&resp) : NULL;
    if (token) {
        replace(&L->token, token);
        L->need_auth = false;
    } else if (resp.status >= 500) {
        snprintf(err, errsz, "/auth answered HTTP %ld", resp.status);
        rc = CALL_UNREACHABLE;
    } else {
        fputs("error: /auth refused the key pair:\n", stderr);
        fflush(stdout);
        fwrite(resp.body ? resp.body : "", 1, resp.len, stderr);
        fprintf(stderr, "\nerror: HTTP %ld\n", resp.status);
        rc = CALL_REFUSED;
    }
    ah_http_response_free(&resp);
    return rc;
}

/* Prints a refused request's answer on stderr, with "did you mean" for unknown triggers. */
static void print_refusal(listen_t *L, const ah_http_response_t *resp)
{
    fwrite(resp->body ? resp->body : "", 1, resp->len, stderr);
    fprintf(stderr, "\nerror: HTTP %ld\n", resp->status);
    if (resp->status != 400 || !resp->body || !strstr(resp->body, "unknown triggerMetaInfoId"))
        return;
    for (size_t i = 0; ah_arg_nth(L->args, "trigger", i); i++) {
        const char *t = ah_arg_nth(L->args, "trigger", i);
        if (!ah_trigger_find(t))
            ah_suggest_builtin_triggers(t);
    }
}

/* The POST /listeners body from the flags; a new reference. */
static json_t *listener_body(const listen_t *L)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    json_t *body =
        ah_json_strings("airmeetId", ah_arg(L->args, "airmeet"), "sessionId",
                        ah_arg(L->args, "session"), "name", *host ? host : NULL, (char *)NULL);
    json_t *list = json_array();
    for (size_t i = 0; body && list && ah_arg_nth(L->args, "trigger", i); i++)
        json_array_append_new(list, json_string(ah_arg_nth(L->args, "trigger", i)));
    if (body && json_array_size(list))
        json_object_set(body, "triggers", list);
    json_decref(list);
    return body;
}

/* Takes id, secret, triggers and stream from a 201 answer; false if it lacks them. */
static bool take_listener(listen_t *L, const ah_http_response_t *resp)
{
    json_t *doc = json_loadb(resp->body, resp->len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *secret = json_string_value(json_object_get(doc, "secret"));
    const char *stream = json_string_value(json_object_get(doc, "stream"));
    json_t *triggers = json_object_get(doc, "triggers");
    bool ok = id && secret && json_is_array(triggers);
    if (ok) {
        replace(&L->listener_id, dup_str(id));
        replace(&L->secret, dup_str(secret));
        replace(&L->stream_path, stream ? dup_str(stream) : NULL);
        json_decref(L->triggers);
        L->triggers = json_incref(triggers);
    }
    json_decref(doc);
    return ok;
}

/*
 * Creates a listener.  Returns AH_EXIT_OK; AH_EXIT_UNREACHABLE (why in
 * err, nothing printed); or AH_EXIT_HTTP after printing the refusal.  With
 * again (a listener made anew while running), a 429 (making a listener
 * counts against the registration rate) is AH_EXIT_UNREACHABLE too: try
 * later rather than stop.
 */
static int create_listener(listen_t *L, bool again, char *err, size_t errsz)
{
    json_t *body = listener_body(L);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char *url = listener_url(L, NULL, NULL);
    json_decref(body);
    ah_http_response_t resp = {0};
    int rc = AH_EXIT_OK;
    int call = text && url ? token_call(L, "POST", url, text, &resp, err, errsz) : CALL_REFUSED;
    if (call == CALL_UNREACHABLE) {
        rc = AH_EXIT_UNREACHABLE;
    } else if (call == CALL_REFUSED) {
        rc = AH_EXIT_HTTP;
    } else if (resp.status >= 500 || (again && resp.status == 429)) {
        snprintf(err, errsz, "creating the listener answered HTTP %ld", resp.status);
        rc = AH_EXIT_UNREACHABLE;
    } else if (resp.status != 201 && resp.status != 200) {
        fputs("error: the server refused the listener:\n", stderr);
        print_refusal(L, &resp);
        rc = AH_EXIT_HTTP;
    } else if (!take_listener(L, &resp)) {
        fputs("error: the server's listener answer lacks id, secret or triggers\n", stderr);
        rc = AH_EXIT_HTTP;
    }
    ah_http_response_free(&resp);
    free(text);
    free(url);
    return rc;
}

/* DELETE the listener; says on stderr when that failed. */
static void delete_listener(listen_t *L)
{
    char *url = listener_url(L, L->listener_id, NULL), err[1024] = "";
    ah_http_response_t resp = {0};
    int call = url ? token_call(L, "DELETE", url, NULL, &resp, err, sizeof err) : CALL_REFUSED;
    if (call == CALL_OK && (resp.status == 204 || resp.status == 200 || resp.status == 404))
        fprintf(stderr, "Listener %s deleted.\n", L->listener_id);
    else if (call == CALL_OK)
        fprintf(stderr,
                "warning: deleting listener %s answered HTTP %ld; the server removes it after "
                "its listener timeout\n",
                L->listener_id, resp.status);
    else
        fprintf(stderr,
                "warning: could not delete listener %s (%s); the server removes it after its "
                "listener timeout\n",
                L->listener_id, *err ? err : "no answer");
    ah_http_response_free(&resp);
    free(url);
}

/* ---- jobs ---------------------------------------------------------------- */

static job_t *job_new(listen_t *L, job_kind_t kind)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->L = L;
    j->easy = curl_easy_init();
    if (!j->easy) {
        free(j);
        return NULL;
    }
    curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->easy, CURLOPT_ERRORBUFFER, j->errbuf);
    return j;
}

static void job_free(job_t *j)
{
    if (!j)
        return;
    curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->hdrs);
    free(j->listener_id);
    free(j->delivery_id);
    free(j->trigger);
    free(j->event_id);
    free(j->payload);
    json_decref(j->resp_headers);
    free(j->result_json);
    free(j);
}

/* Hands j to the loop: at once, or after the current callback returns. */
static void job_start(listen_t *L, job_t *j, bool in_callback)
{
    if (in_callback) {
        j->next = L->queued;
        L->queued = j;
        return;
    }
    j->next = L->jobs;
    L->jobs = j;
    if (curl_multi_add_handle(L->multi, j->easy) != CURLM_OK) {
        fprintf(stderr, "error: libcurl refused a transfer\n");
        L->exit_code = AH_EXIT_HTTP;
    }
}

static void job_end(listen_t *L, job_t *j)
{
    for (job_t **p = &L->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            break;
        }
    }
    curl_multi_remove_handle(L->multi, j->easy);
    if (L->stream == j)
        L->stream = NULL;
    job_free(j);
}

static void start_queued(listen_t *L)
{
    job_t *q = L->queued;
    L->queued = NULL;
    while (q) {
        job_t *next = q->next;
        job_start(L, q, false);
        q = next;
    }
}

static bool add_hdr(struct curl_slist **list, const char *a, const char *b)
{
    char *line = ah_str_concat(a, b, (char *)NULL);
    struct curl_slist *grown = line ? curl_slist_append(*list, line) : NULL;
    free(line);
    if (grown)
        *list = grown;
    return grown != NULL;
}

/* ---- results ------------------------------------------------------------- */

static void post_result(listen_t *L, job_t *r, bool in_callback);

/*
 * s[0..len) as a JSON string: the body may be binary or cut inside a UTF-8
 * sequence, so each byte that does not start a valid sequence becomes
 * U+FFFD.  A new reference, or NULL when memory ran out.
 */
static json_t *text_of(const char *s, size_t len)
{
    json_t *ok = json_stringn(s, len);
    if (ok)
        return ok;
    char *out = malloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        json_t *one = n && i + n <= len ? json_stringn(s + i, n) : NULL;
        if (one) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
            json_decref(one);
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    json_t *v = out ? json_stringn(out, o) : NULL;
    free(out);
    return v;
}

/* The result of forward job f as the JSON the results route takes; caller frees. */
static char *result_of(const job_t *f, long status, long duration_ms, const char *error)
{
    json_t *doc =
        json_pack("{s:s, s:I, s:i, s:i, s:o, s:o, s:s}", "deliveryId", f->delivery_id, "attempt",
                  (json_int_t)f->attempt, "status", (int)status, "durationMs", (int)duration_ms,
                  "headers", f->resp_headers ? json_incref(f->resp_headers) : json_object(), "body",
                  text_of(f->body, f->body_len), "error", error ? error : "");
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static size_t forward_body(char *data, size_t size, size_t nmemb, void *ud);

static void post_result(listen_t *L, job_t *r, bool in_callback)
{
    char *url = NULL;
    char *esc = ah_url_escape(r->listener_id);
    if (esc)
        url = ah_str_concat(L->base, NS "/listeners/", esc, "/results", (char *)NULL);
    free(esc);
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    if (!url || !add_hdr(&r->hdrs, "Content-Type: application/json", "") ||
        !add_hdr(&r->hdrs, "X-Airmeet-Access-Token: ", L->token ? L->token : "")) {
        free(url);
        L->n_unreported++;
        job_free(r);
        return;
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->result_json);
    r->body_len = 0;
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, forward_body);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, AH_HTTP_CONNECT_TIMEOUT_S);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 10L);
    r->tries++;
    job_start(L, r, in_callback);
}

/* A result post ended: retry after a 401 (new token) or no answer, a few times. */
static void result_done(listen_t *L, job_t *j, CURLcode res)
{
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    if (res == CURLE_OK && status >= 200 && status < 300)
        return;
    if (res == CURLE_OK && status == 404) {
        fprintf(stderr,
                "note: the server no longer awaited the result of delivery %s (it timed out, or "
                "the stream was replaced); it will be retried\n",
                j->delivery_id);
        L->n_unreported++;
        return;
    }
    char err[512] = "";
    bool refused = res == CURLE_OK && token_refused(status, j->body);
    if (refused)
        L->need_auth = sign_in(L, err, sizeof err) != CALL_OK;
    if (j->tries < RESULT_TRIES && !L->need_auth) {
        job_t *again = job_new(L, JOB_RESULT);
        if (again) {
            again->listener_id = j->listener_id;
            again->delivery_id = j->delivery_id;
            again->result_json = j->result_json;
            again->tries = j->tries;
            j->listener_id = j->delivery_id = j->result_json = NULL;
            post_result(L, again, false);
            return;
        }
    }
    fprintf(stderr,
            "warning: the result of delivery %s was not recorded (%s); it will be retried\n",
            j->delivery_id,
            res != CURLE_OK ? (*j->errbuf ? j->errbuf : curl_easy_strerror(res))
                            : (refused ? "signing in again failed" : "HTTP error"));
    L->n_unreported++;
}

/* ---- forwards ------------------------------------------------------------ */

/* Keeps the first RESULT_BODY_MAX bytes of an answer in j->body. */
static size_t forward_body(char *data, size_t size, size_t nmemb, void *ud)
{
    job_t *f = ud;
    size_t n = size * nmemb;
    size_t room = RESULT_BODY_MAX - f->body_len;
    size_t take = n < room ? n : room;
    memcpy(f->body + f->body_len, data, take);
    f->body_len += take;
    f->body[f->body_len] = '\0';
    return n;
}

/* Collects the local answer's headers (the last response's, after any 1xx). */
static size_t forward_header(char *data, size_t size, size_t nmemb, void *ud)
{
    job_t *f = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncasecmp(data, "HTTP/", 5) == 0) {
        json_object_clear(f->resp_headers);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || json_object_size(f->resp_headers) >= RESULT_HEADERS_MAX)
        return n;
    size_t nl = (size_t)(colon - data), vs = nl + 1, ve = n;
    while (vs < ve && (data[vs] == ' ' || data[vs] == '\t'))
        vs++;
    while (ve > vs && (data[ve - 1] == '\r' || data[ve - 1] == '\n' || data[ve - 1] == ' '))
        ve--;
    char *name = strndup(data, nl);
    for (char *p = name; p && *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    json_t *v = json_stringn(data + vs, ve - vs);
    if (name && v) {
        json_t *prev = json_object_get(f->resp_headers, name);
        if (json_is_string(prev)) {
            char *joined =
                ah_str_concat(json_string_value(prev), ", ", json_string_value(v), (char *)NULL);
            json_decref(v);
            v = joined ? json_string(joined) : NULL;
            free(joined);
        }
        if (v)
            json_object_set_new(f->resp_headers, name, v);
    } else {
        json_decref(v);
    }
    free(name);
    return n;
}

/* Headers of the delivery not to pass on: the local request has its own. */
static bool hop_header(const char *name)
{
    static const char *const skip[] = {
        "host", "content-length", "connection", "keep-alive",      "transfer-encoding",
        "te",   "upgrade",        "expect",     "proxy-connection"};
    for (size_t i = 0; i < AH_ARRAY_LEN(skip); i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return false;
}

static bool forward_headers(job_t *f, json_t *headers)
{
    const char *name;
    json_t *value;
    bool has_type = false;
    json_object_foreach(headers, name, value)
    {
        const char *v = json_string_value(value);
        if (!v || hop_header(name) || strpbrk(name, "\r\n: ") || strpbrk(v, "\r\n"))
            continue;
        has_type |= strcasecmp(name, "content-type") == 0;
        char *line = *v ? ah_str_concat(name, ": ", v, (char *)NULL)
                        : ah_str_concat(name, ";", (char *)NULL);
        bool ok = line && add_hdr(&f->hdrs, line, "");
        free(line);
        if (!ok)
            return false;
    }
    /* No Expect: 100-continue; no content type but the delivery's. */
    return add_hdr(&f->hdrs, "Expect:", "") && (has_type || add_hdr(&f->hdrs, "Content-Type:", ""));
}

/* Sends the result of f (status 0 with error when there was no answer) and counts it. */
static void finish_forward(listen_t *L, job_t *f, long status, long duration_ms, const char *error,
                           bool in_callback)
{
    print_time_prefix(stdout);
    printf("  %s  %s  ", f->trigger ? f->trigger : "?", f->event_id ? f->event_id : "?");
    if (status)
        printf("%ld", status);
    else
        printf("no answer (%s)", error);
    printf("  %ld ms", duration_ms);
    if (f->attempt > 1)
        printf("  (attempt %" JSON_INTEGER_FORMAT ")", f->attempt);
    putchar('\n');
    fflush(stdout);
    if (status >= 200 && status < 300)
        L->n_2xx++;
    else if (status)
        L->n_other++;
    else
        L->n_none++;
    job_t *r = job_new(L, JOB_RESULT);
    char *json = r ? result_of(f, status, duration_ms, error) : NULL;
    if (!json) {
        job_free(r);
        L->n_unreported++;
        return;
    }
    r->result_json = json;
    r->listener_id = dup_str(f->listener_id);
    r->delivery_id = dup_str(f->delivery_id);
    post_result(L, r, in_callback);
}

/* The words a user understands for a transfer that got no HTTP answer. */
static const char *no_answer(CURLcode res, const char *errbuf)
{
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_CONNECT:
        return "connection refused";
    case CURLE_COULDNT_RESOLVE_HOST:
        return "cannot resolve host";
    case CURLE_GOT_NOTHING:
        return "empty reply";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return "connection reset";
    default:
        return *errbuf ? errbuf : curl_easy_strerror(res);
    }
}

static void forward_done(listen_t *L, job_t *f, CURLcode res)
{
    long status = 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    long ms = (long)((ah_mono_us() - f->started_us) / 1000);
    if (res != CURLE_OK)
        status = 0;
    finish_forward(L, f, status, ms, status ? NULL : no_answer(res, f->errbuf), false);
}

/* Starts forwarding one `delivery` event's data. */
static void on_delivery(listen_t *L, const char *data, size_t len)
{
    json_t *doc = json_loadb(data, len, JSON_ALLOW_NUL, NULL);
    json_t *body = json_object_get(doc, "body");
    const char *delivery_id = json_string_value(json_object_get(doc, "deliveryId"));
    if (!delivery_id || !json_is_string(body)) {
        fputs("warning: the server sent a delivery without deliveryId or body; skipped\n", stderr);
        json_decref(doc);
        return;
    }
    job_t *f = job_new(L, JOB_FORWARD);
    if (!f) {
        json_decref(doc);
        return;
    }
    f->listener_id = dup_str(L->listener_id);
    f->delivery_id = dup_str(delivery_id);
    f->attempt = json_integer_value(json_object_get(doc, "attempt"));
    f->trigger = dup_str(json_string_value(json_object_get(doc, "trigger")));
    f->event_id = dup_str(json_string_value(json_object_get(doc, "eventId")));
    f->payload_len = json_string_length(body);
    f->payload = malloc(f->payload_len + 1);
    f->resp_headers = json_object();
    f->started_us = ah_mono_us();
    const char *url = ah_forward_url(&L->plan, f->trigger);
    bool ok = f->payload && f->resp_headers && f->delivery_id && f->listener_id;
    if (ok)
        memcpy(f->payload, json_string_value(body), f->payload_len + 1);
    ok = ok && forward_headers(f, json_object_get(doc, "headers"));
    json_decref(doc);
    if (!ok || !url) {
        finish_forward(L, f, 0, 0,
                       url ? "out of memory" : "no --forward-to target for this trigger", true);
        job_free(f);
        return;
    }
    curl_easy_setopt(f->easy, CURLOPT_URL, url);
    curl_easy_setopt(f->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->payload);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->payload_len);
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, L->forward_timeout_ms);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, forward_body);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, forward_header);
    curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
    if (L->connect_to)
        curl_easy_setopt(f->easy, CURLOPT_CONNECT_TO, L->connect_to);
    job_start(L, f, true);
}

/* ---- the stream ---------------------------------------------------------- */

static int on_event(void *ctx, const ah_sse_event_t *ev)
{
    listen_t *L = ctx;
    if (strcmp(ev->type, "ready") == 0) {
        L->failures = 0;
        L->reauthed = false;
        if (!L->ever_ready) {
            L->ever_ready = true;
            printf("Ready. Signing secret: %s (listener %s)\n", L->secret, L->listener_id);
            fflush(stdout);
        } else if (L->lost) {
            fputs("Reconnected.\n", stderr);
        }
        L->lost = false;
    } else if (strcmp(ev->type, "delivery") == 0) {
        on_delivery(L, ev->data, ev->data_len);
    } else if (strcmp(ev->type, "bye") == 0) {
        json_t *doc = json_loadb(ev->data, ev->data_len, 0, NULL);
        const char *reason = json_string_value(json_object_get(doc, "reason"));
        replace(&L->bye, dup_str(reason ? reason : "unknown"));
        json_decref(doc);
        return 1; /* ends the transfer */
    }
    return 0;
}

static size_t stream_write(char *data, size_t size, size_t nmemb, void *ud)
{
    job_t *j = ud;
    listen_t *L = j->L;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) { /* keep the start of an error answer, for the message */
        size_t room = sizeof L->stream_body - 1 - L->stream_body_len;
        size_t take = n < room ? n : room;
        memcpy(L->stream_body + L->stream_body_len, data, take);
        L->stream_body_len += take;
        L->stream_body[L->stream_body_len] = '\0';
        return n;
    }
    L->last_rx_ms = ah_mono_ms();
    int rc = ah_sse_feed(&L->sse, data, n);
    if (rc == AH_ETOOBIG)
        snprintf(j->why, sizeof j->why, "the server sent an event over %zu bytes", STREAM_MAX_LINE);
    return rc ? 0 : n;
}

static void start_stream(listen_t *L)
{
    job_t *j = job_new(L, JOB_STREAM);
    char *url = NULL;
    if (j) {
        if (L->stream_path && strncmp(L->stream_path, "http", 4) == 0)
            url = dup_str(L->stream_path);
        else if (L->stream_path)
            url = ah_str_concat(L->root, L->stream_path[0] == '/' ? "" : "/", L->stream_path,
                                (char *)NULL);
        else
            url = listener_url(L, L->listener_id, "/stream");
    }
    if (!url || !add_hdr(&j->hdrs, "Accept: text/event-stream", "") ||
        !add_hdr(&j->hdrs, "X-Airmeet-Access-Token: ", L->token ? L->token : "")) {
        free(url);
        job_free(j);
        fputs("error: out of memory\n", stderr);
        L->exit_code = AH_EXIT_HTTP;
        return;
    }
    curl_easy_setopt(j->easy, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT, AH_HTTP_CONNECT_TIMEOUT_S);
    curl_easy_setopt(j->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(j->easy, CURLOPT_ACCEPT_ENCODING, NULL);
    ah_sse_reset(&L->sse);
    L->stream_body_len = 0;
    L->stream_body[0] = '\0';
    replace(&L->bye, NULL);
    L->last_rx_ms = ah_mono_ms();
    L->stream = j;
    job_start(L, j, false);
}

/* Schedules the next connection after a backoff with jitter, and says so. */
static void lost(listen_t *L, const char *reason)
{
    L->failures++;
    int64_t base = BACKOFF_FIRST_MS;
    for (int i = 1; i < L->failures && base < BACKOFF_CAP_MS; i++)
        base *= 2;
    if (base > BACKOFF_CAP_MS)
        base = BACKOFF_CAP_MS;
    unsigned char r[2];
    ah_random_bytes(r, sizeof r);
    int64_t delay = base / 2 + (int64_t)((r[0] << 8 | r[1]) % (unsigned)(base / 2 + 1));
    L->reconnect_at_ms = ah_mono_ms() + delay;
    L->lost = true;
    fprintf(stderr, "Connection lost (%s); reconnecting in %.1f s…\n", reason,
            (double)delay / 1000.0);
}

/* The stream transfer ended: decide what comes next. */
static void stream_done(listen_t *L, job_t *j, CURLcode res)
{
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    char reason[CURL_ERROR_SIZE + 64];
    const char *bye = L->bye;
    if (bye && (strcmp(bye, "deleted") == 0 || strcmp(bye, "expired") == 0)) {
        fprintf(stderr, "Listener %s was %s by the server; creating a new one.\n", L->listener_id,
                strcmp(bye, "deleted") == 0 ? "deleted" : "removed as stale");
        L->need_listener = true;
        L->reconnect_at_ms = 0;
    } else if (bye && strcmp(bye, "replaced") == 0) {
        fprintf(stderr,
                "error: another `airhook listen` took over listener %s; stopping (it keeps the "
                "listener)\n",
                L->listener_id);
        L->keep_listener = true;
        L->exit_code = AH_EXIT_HTTP;
    } else if (bye) {
        snprintf(reason, sizeof reason, "the server said bye: %s", bye);
        lost(L, reason);
    } else if (token_refused(status, L->stream_body)) {
        L->need_auth = true; /* the token expired: sign in again, reconnect at once */
        if (!L->reauthed) {
            L->reauthed = true;
            L->reconnect_at_ms = 0;
        } else {
            snprintf(reason, sizeof reason, "HTTP %ld to a fresh token", status);
            lost(L, reason);
        }
    } else if (status == 404) {
        fprintf(stderr, "Listener %s no longer exists on the server; creating a new one.\n",
                L->listener_id);
        L->need_listener = true;
        L->reconnect_at_ms = 0;
    } else if (status && status != 200) {
        snprintf(reason, sizeof reason, "HTTP %ld%s%.120s", status, L->stream_body_len ? ": " : "",
                 L->stream_body);
        for (char *p = reason; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        lost(L, reason);
    } else if (res == CURLE_OK) {
        lost(L, "the server closed the stream");
    } else if (*j->why) {
        lost(L, j->why);
    } else if (res == CURLE_PARTIAL_FILE || res == CURLE_RECV_ERROR || res == CURLE_GOT_NOTHING) {
        lost(L, "the connection was cut");
    } else {
        lost(L, *j->errbuf ? j->errbuf : curl_easy_strerror(res));
    }
}

/*
 * Checks the listener's triggers against the --forward-to plan.  Returns
 * AH_EXIT_OK, or AH_EXIT_USAGE after saying why (with "did you mean").
 */
static int check_plan(listen_t *L, const char *const *triggers, size_t n)
{
    char why[512];
    const char *unknown = NULL;
    if (ah_forward_check(&L->plan, triggers, n, &unknown, why, sizeof why) == 0)
        return AH_EXIT_OK;
    int rc = ah_usage_error(L->args, why);
    if (unknown)
        ah_suggest_print(stderr, unknown, triggers, n);
    return rc;
}

static int check_server_plan(listen_t *L)
{
    size_t n = json_array_size(L->triggers);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return AH_EXIT_HTTP;
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_array_get(L->triggers, i));
    int rc = check_plan(L, names, n);
    free(names);
    return rc;
}

/* Before the next stream: sign in again or make a new listener when needed, then connect. */
static void connect_step(listen_t *L)
{
    char err[1024] = "";
    if (L->need_auth) {
        int rc = sign_in(L, err, sizeof err);
        if (rc == CALL_REFUSED) {
            L->exit_code = AH_EXIT_HTTP;
            return;
        }
        if (rc) {
            lost(L, err);
            return;
        }
    }
    if (L->need_listener) {
        char *old = dup_str(L->listener_id);
        int rc = create_listener(L, true, err, sizeof err);
        if (rc == AH_EXIT_UNREACHABLE) {
            free(old);
            lost(L, err);
            return;
        }
        if (rc) {
            free(old);
            L->exit_code = rc;
            L->keep_listener = true;
            return;
        }
        fprintf(stderr, "Created listener %s (replacing %s); the signing secret is unchanged.\n",
                L->listener_id, old ? old : "?");
        free(old);
        L->need_listener = false;
        if ((rc = check_server_plan(L)) != 0) {
            L->exit_code = rc;
            return;
        }
    }
    start_stream(L);
}

/* ---- the loop ------------------------------------------------------------ */

static void reap(listen_t *L)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(L->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        job_t *j = (job_t *)priv;
        CURLcode res = msg->data.result;
        if (j->kind == JOB_STREAM)
            stream_done(L, j, res);
        else if (j->kind == JOB_FORWARD)
            forward_done(L, j, res);
        else
            result_done(L, j, res);
        job_end(L, j);
        start_queued(L);
    }
}

static int run_loop(listen_t *L)
{
    while (!stop_signal && !L->exit_code) {
        if (!L->stream && ah_mono_ms() >= L->reconnect_at_ms)
            connect_step(L);
        int running = 0;
        curl_multi_perform(L->multi, &running);
        start_queued(L);
        reap(L);
        if (L->stream && ah_mono_ms() - L->last_rx_ms > L->stall_ms) {
            char reason[96];
            snprintf(reason, sizeof reason, "no data from the server for %lld s",
                     (long long)(L->stall_ms / 1000));
            job_end(L, L->stream);
            lost(L, reason);
        }
        curl_multi_poll(L->multi, NULL, 0, POLL_MS, NULL);
    }
    return L->exit_code;
}

/*
 * After Ctrl-C: the stream is closed, and forwards in flight get up to
 * DRAIN_MS to finish and have their results posted (a second Ctrl-C cuts
 * that short); whatever is left is abandoned, and the server records it as
 * a failed attempt after its delivery timeout.
 */
static void drain(listen_t *L)
{
    if (L->stream)
        job_end(L, L->stream);
    stop_signal = 0;
    int64_t deadline = ah_mono_ms() + DRAIN_MS;
    while (L->jobs && !stop_signal && ah_mono_ms() < deadline) {
        int running = 0;
        curl_multi_perform(L->multi, &running);
        start_queued(L);
        reap(L);
        curl_multi_poll(L->multi, NULL, 0, POLL_MS, NULL);
    }
    while (L->jobs) {
        if (L->jobs->kind == JOB_RESULT)
            L->n_unreported++;
        job_end(L, L->jobs);
    }
}

static void print_summary(const listen_t *L)
{
    unsigned long total = L->n_2xx + L->n_other + L->n_none;
    fprintf(stderr,
            "Forwarded %lu deliver%s: %lu answered 2xx, %lu answered another status, %lu got no "
            "answer",
            total, total == 1 ? "y" : "ies", L->n_2xx, L->n_other, L->n_none);
    if (L->n_unreported)
        fprintf(stderr, "; %lu result%s not recorded (the server retries those)", L->n_unreported,
                L->n_unreported == 1 ? "" : "s");
    fputs(".\n", stderr);
}

/* ---- the command --------------------------------------------------------- */

static int parse_seconds(const ah_args_t *args, const char *flag, double min, double max,
                         int64_t *ms)
{
    const char *v = ah_arg(args, flag);
    char *end = NULL;
    double s = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(s >= min && s <= max)) {
        char why[160];
        snprintf(why, sizeof why, "--%s must be a number of seconds from %g to %g", flag, min, max);
        return ah_usage_error(args, why);
    }
    *ms = (int64_t)(s * 1000.0);
    return AH_EXIT_OK;
}

/* --forward-connect-to HOST:PORT as libcurl's CONNECT_TO list ("::HOST:PORT"). */
static int parse_connect_to(listen_t *L)
{
    const char *v = ah_arg(L->args, "forward-connect-to");
    if (!v)
        return AH_EXIT_OK;
    const char *colon = strrchr(v, ':');
    bool ok = colon && colon > v && colon[1] && !strpbrk(v, " /\r\n");
    for (const char *p = colon ? colon + 1 : ""; ok && *p; p++)
        ok = *p >= '0' && *p <= '9';
    if (!ok)
        return ah_usage_error(L->args, "--forward-connect-to takes HOST:PORT, e.g. "
                                       "host.docker.internal:3000");
    if (!add_hdr(&L->connect_to, "::", v)) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    return AH_EXIT_OK;
}

/* Parses and checks the flags into L (nothing on the network yet). */
static int setup(listen_t *L)
{
    const ah_args_t *args = L->args;
    int rc = ah_public_base(args, &L->base);
    if (rc)
        return rc;
    if (!(L->root = url_root(L->base))) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    if (ah_arg(args, "print-secret"))
        return AH_EXIT_OK;
    const char *values[AH_FORWARD_MAX];
    size_t n = 0;
    while (n < AH_FORWARD_MAX && ah_arg_nth(args, "forward-to", n)) {
        values[n] = ah_arg_nth(args, "forward-to", n);
        n++;
    }
    if (n == 0)
        return ah_usage_error(args, "needs --forward-to URL (where deliveries go), or "
                                    "--print-secret");
    char why[512];
    if (ah_forward_parse(values, n, &L->plan, why, sizeof why))
        return ah_usage_error(args, why);
    const char *triggers[AH_MAX_REPEATS];
    size_t nt = 0;
    while (nt < AH_MAX_REPEATS && ah_arg_nth(args, "trigger", nt)) {
        triggers[nt] = ah_arg_nth(args, "trigger", nt);
        nt++;
    }
    if (nt && (rc = check_plan(L, triggers, nt)) != 0)
        return rc;
    if (ah_arg(args, "session") && !ah_arg(args, "airmeet"))
        return ah_usage_error(args, "--session needs --airmeet");
    int64_t ms = 0;
    if ((rc = parse_seconds(args, "forward-timeout", 0.1, 600, &ms)) != 0)
        return rc;
    L->forward_timeout_ms = (long)ms;
    if ((rc = parse_seconds(args, "stall-timeout", 1, 3600, &L->stall_ms)) != 0)
        return rc;
    return parse_connect_to(L);
}

static int print_secret(listen_t *L)
{
    char *url = ah_str_concat(L->base, NS "/listener-secret", (char *)NULL), err[1024] = "";
    ah_http_response_t resp = {0};
    int call = url ? token_call(L, "GET", url, NULL, &resp, err, sizeof err) : CALL_REFUSED;
    int rc = AH_EXIT_OK;
    free(url);
    if (call == CALL_UNREACHABLE) {
        rc = ah_report_failure(AH_EIO, err);
    } else if (call == CALL_REFUSED) {
        rc = AH_EXIT_HTTP;
    } else if (resp.status != 200) {
        rc = ah_print_response(&resp);
    } else {
        json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
        const char *secret = json_string_value(json_object_get(doc, "secret"));
        if (secret)
            puts(secret);
        else
            fputs("error: the server's answer has no secret\n", stderr);
        rc = secret ? AH_EXIT_OK : AH_EXIT_HTTP;
        json_decref(doc);
    }
    ah_http_response_free(&resp);
    return rc;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void cleanup(listen_t *L)
{
    while (L->jobs)
        job_end(L, L->jobs);
    for (job_t *q = L->queued, *next; q; q = next) {
        next = q->next;
        job_free(q);
    }
    curl_multi_cleanup(L->multi);
    ah_sse_free(&L->sse);
    ah_forward_free(&L->plan);
    curl_slist_free_all(L->connect_to);
    json_decref(L->triggers);
    free(L->base);
    free(L->root);
    free(L->token);
    free(L->listener_id);
    free(L->secret);
    free(L->stream_path);
    free(L->bye);
}

static int cmd_listen(const ah_args_t *args)
{
    listen_t L = {.args = args};
    ah_sse_init(&L.sse, STREAM_MAX_LINE, on_event, NULL, &L);
    char err[1024] = "";
    int rc = setup(&L);
    if (rc)
        goto out;
    if (ah_arg(args, "print-secret")) {
        rc = print_secret(&L);
        goto out;
    }
    if (!(L.multi = curl_multi_init())) {
        rc = AH_EXIT_HTTP;
        goto out;
    }
    install_signals();
    rc = create_listener(&L, false, err, sizeof err);
    if (rc == AH_EXIT_UNREACHABLE)
        ah_report_failure(AH_EIO, err);
    if (rc)
        goto out;
    if ((rc = check_server_plan(&L)) != 0) {
        delete_listener(&L);
        goto out;
    }
    rc = run_loop(&L);
    drain(&L);
    if (!L.keep_listener)
        delete_listener(&L);
    print_summary(&L);
out:
    cleanup(&L);
    return rc;
}

/* clang-format off */
static const ah_flag_t listen_flags[] = {
    {.name = "forward-to", .metavar = "[TRIGGER=]URL",
     .help = "where deliveries go: a URL for every trigger, TRIGGER=URL for some",
     .opts = AH_FLAG_REPEAT},
    {.name = "trigger", .metavar = "TRIGGER",
     .help = "listen to this trigger (default: every trigger one can register for)",
     .opts = AH_FLAG_REPEAT},
    {.name = "airmeet", .metavar = "ID", .help = "airmeetId (required by airmeet triggers)"},
    {.name = "session", .metavar = "ID", .help = "sessionId (with --airmeet)"},
    {.name = "forward-connect-to", .metavar = "HOST:PORT",
     .help = "connect forwards to HOST:PORT, keeping the URL's Host (e.g. from a container)"},
    {.name = "forward-timeout", .metavar = "SECONDS", .def = "10",
     .help = "give up on the local target after this long (below the server's 15 s)"},
    {.name = "stall-timeout", .metavar = "SECONDS", .def = "45",
     .help = "reconnect when the stream is silent this long (the server pings every 15 s)"},
    {.name = "print-secret", .help = "print the signing secret only, and exit",
     .opts = AH_FLAG_BOOL},
    AH_PUBLIC_BASE_FLAGS,
    AH_PUBLIC_KEY_FLAGS(AH_FLAG_REQUIRED),
    {.name = NULL}};
/* clang-format on */

static const ah_cmd_t listen_cmds[] = {
    {"listen", NULL, NULL, 0,
     "Forward the server's deliveries to a local URL, over one outgoing connection.\n"
     "\n"
     "Signs in with the key pair, opens a listener for --trigger (default: every trigger one\n"
     "can register for) and prints `Ready. Signing secret: whsec_... (listener ID)`.  Each\n"
     "delivery is POSTed to its --forward-to URL with the exact body and the delivery's\n"
     "headers (webhook-id, webhook-timestamp, webhook-signature, content-type, x-airmeet-*),\n"
     "signed with that secret, and one line is printed: time, trigger, event id, the local\n"
     "status (or why there was none) and the duration.  The local answer (status, headers,\n"
     "first 4 KiB of the body) becomes the attempt in the delivery log: a 2xx succeeds,\n"
     "anything else is retried on the normal schedule.\n"
     "\n"
     "--forward-to is repeatable: a plain URL is the default, TRIGGER=URL sends the\n"
     "triggers TRIGGER names (the id, or whole parts of it such as registrant.added) to URL.\n"
     "A trigger with no target is an error at start.\n"
     "\n"
     "A dropped or silent stream is reopened with backoff and jitter (up to 30 s), said on\n"
     "stderr (`Connection lost (...); reconnecting in N s...`, `Reconnected.`); deliveries\n"
     "made meanwhile wait on the server and arrive when it is back.  An expired token is\n"
     "renewed, a listener the server removed is created again.  Ctrl-C (or SIGTERM) deletes\n"
     "the listener, prints a summary and exits 0.\n"
     "\n"
     "--print-secret prints only the signing secret (the same for every listener of the\n"
     "access key) and exits, for scripts that configure a receiver.\n"
     "\n"
     "examples:\n"
     "  airhook listen --forward-to http://localhost:3000/hooks\n"
     "  airhook listen --trigger trigger.airmeet.registrant.added --airmeet A \\\n"
     "      --forward-to localhost:3000/hooks\n"
     "  airhook listen --forward-to http://localhost:3000/a --forward-to "
     "registrant=http://localhost:3000/b\n"
     "  airhook listen --forward-to http://localhost:3000/hooks \\\n"
     "      --forward-connect-to host.docker.internal:3000     (inside a container)\n"
     "  SECRET=$(airhook listen --print-secret)",
     listen_flags, cmd_listen},
};

const ah_cmd_table_t ah_listen_cmds = {listen_cmds, AH_ARRAY_LEN(listen_cmds)};
