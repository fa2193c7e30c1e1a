/* SPDX-License-Identifier: MIT */
/*
 * receiver.c: a webhook receiver for the benchmarks.
 *
 * libmicrohttpd with the same threading model as airhook (epoll daemon, a
 * thread pool of one thread per core, keep-alive).  Every request that is
 * not a control request is answered 200 and counted; the first and last
 * arrival times (CLOCK_REALTIME, µs) are kept, and when the body carries
 * "sentAtUs": <CLOCK_REALTIME µs> (the benchmark publisher puts it in each
 * event's data) the latency from that send time to the arrival here is
 * recorded too.
 *
 *   bench_receiver [--listen 127.0.0.1:0] [--threads N]
 *                  [--stall-prefix /stall --stall-ms N]
 *                  [--down] [--down-mode 503|hang] [--retry-after S]
 *                  [--stats-file FILE] [--max-samples N]
 *
 * - Requests whose path starts with --stall-prefix are held N ms (the
 *   connection is suspended, so the pool thread keeps serving the others)
 *   and then answered 200; they are counted apart ("stalled") and kept out
 *   of count, times and latencies.
 * - While "down", requests are answered 503 (with Retry-After when
 *   --retry-after is given) or, in hang mode, held without an answer until
 *   the receiver is up again, then answered 200 and counted as usual.
 * - Control, any method: /ctl/down, /ctl/up, /ctl/reset (zero the stats),
 *   /stats (JSON: count, stalled, refused, first_us, last_us, lat_n,
 *   p50_us, p90_us, p99_us, max_us, bytes).  /stats?from=N computes the
 *   percentiles over the latencies recorded after the first N only (N is
 *   an earlier answer's lat_n: the latencies of a time window, for the
 *   soak scenario's samples); the counts stay totals.
 * - SIGTERM/SIGINT print the stats (and write them to --stats-file), then
 *   exit at once, whatever is still held.
 *
 * Prints "receiver ready on http://HOST:PORT" once listening.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define PREFIX_MAX 512
#define HOLD_FOREVER INT64_MAX

enum kind { K_NORMAL, K_STALL, K_CTL };

struct req {
    enum kind kind;
    bool held;    /* suspended, waiting for the timer thread */
    bool resumed; /* the timer thread let it go */
    size_t n;     /* bytes of body kept */
    size_t total; /* bytes of body seen */
    char prefix[PREFIX_MAX];
};

struct hold {
    struct MHD_Connection *conn;
    struct req *r;
    int64_t due_us;
};

/* ---- options ---- */
static const char *o_listen = "127.0.0.1:0";
static const char *o_stall_prefix;
static size_t o_stall_prefix_len;
static int64_t o_stall_ms = 1000;
static const char *o_stats_file;
static bool o_hang;
static long o_retry_after = -1;
static size_t o_max_samples = 4u << 20;

/* ---- state ---- */
static atomic_bool g_down;
static atomic_uint_fast64_t g_count, g_stalled, g_refused, g_bytes, g_lat_n;
static _Atomic int64_t g_first_us, g_last_us;
static uint32_t *g_samples;

static pthread_mutex_t g_hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_hold_cv = PTHREAD_COND_INITIALIZER;
static struct hold *g_holds;
static size_t g_holds_n, g_holds_cap;

static struct MHD_Response *g_ok, *g_unavail;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void atomic_min(_Atomic int64_t *a, int64_t v)
{
    int64_t cur = atomic_load(a);
    while ((cur == 0 || v < cur) && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static void atomic_max(_Atomic int64_t *a, int64_t v)
{
    int64_t cur = atomic_load(a);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

/* Counts one request answered 200 (not stalled). */
static void account(const struct req *r)
{
    int64_t t = now_us();
    atomic_fetch_add(&g_count, 1);
    atomic_fetch_add(&g_bytes, r->total);
    atomic_min(&g_first_us, t);
    atomic_max(&g_last_us, t);
    const char *p = memmem(r->prefix, r->n, "\"sentAtUs\":", 11);
    if (!p)
        return;
    p += 11;
    while (*p == ' ')
        p++;
    char *end = NULL;
    long long sent = strtoll(p, &end, 10);
    if (end == p || sent <= 0)
        return;
    int64_t lat = t - sent;
    if (lat < 0)
        lat = 0;
    if (lat > UINT32_MAX)
        lat = UINT32_MAX;
    uint_fast64_t i = atomic_fetch_add(&g_lat_n, 1);
    if (i < o_max_samples)
        g_samples[i] = (uint32_t)lat;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The stats as JSON, malloc'd; the percentiles of the latencies after the first `from`. */
static char *stats_json(uint64_t from)
{
    uint64_t total = atomic_load(&g_lat_n);
    uint64_t end = total > o_max_samples ? o_max_samples : total;
    if (from > end)
        from = end;
    uint64_t n = end - from;
    uint32_t *copy = n ? malloc(n * sizeof *copy) : NULL;
    uint32_t p50 = 0, p90 = 0, p99 = 0, mx = 0;
    if (copy) {
        memcpy(copy, g_samples + from, n * sizeof *copy);
        qsort(copy, n, sizeof *copy, cmp_u32);
        p50 = copy[(n - 1) * 50 / 100];
        p90 = copy[(n - 1) * 90 / 100];
        p99 = copy[(n - 1) * 99 / 100];
        mx = copy[n - 1];
        free(copy);
    }
    pthread_mutex_lock(&g_hold_mu);
    size_t held = g_holds_n;
    pthread_mutex_unlock(&g_hold_mu);
    char *out = malloc(512);
    if (!out)
        return NULL;
    snprintf(out, 512,
             "{\"count\":%" PRIu64 ",\"stalled\":%" PRIu64 ",\"refused\":%" PRIu64
             ",\"first_us\":%" PRId64 ",\"last_us\":%" PRId64 ",\"lat_n\":%" PRIu64
             ",\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,\"max_us\":%u,\"bytes\":%" PRIu64
             ",\"held\":%zu}\n",
             (uint64_t)atomic_load(&g_count), (uint64_t)atomic_load(&g_stalled),
             (uint64_t)atomic_load(&g_refused), atomic_load(&g_first_us), atomic_load(&g_last_us),
             (uint64_t)end, p50, p90, p99, mx, (uint64_t)atomic_load(&g_bytes), held);
    return out;
}

static void reset_stats(void)
{
    atomic_store(&g_count, 0);
    atomic_store(&g_stalled, 0);
    atomic_store(&g_refused, 0);
    atomic_store(&g_bytes, 0);
    atomic_store(&g_lat_n, 0);
    atomic_store(&g_first_us, 0);
    atomic_store(&g_last_us, 0);
}

/* ---- holding connections ---- */

static int hold(struct MHD_Connection *c, struct req *r, int64_t due_us)
{
    pthread_mutex_lock(&g_hold_mu);
    if (g_holds_n == g_holds_cap) {
        size_t cap = g_holds_cap ? g_holds_cap * 2 : 1024;
        struct hold *nh = realloc(g_holds, cap * sizeof *nh);
        if (!nh) {
            pthread_mutex_unlock(&g_hold_mu);
            return -1;
        }
        g_holds = nh;
        g_holds_cap = cap;
    }
    r->held = true;
    MHD_suspend_connection(c);
    g_holds[g_holds_n++] = (struct hold){c, r, due_us};
    pthread_cond_signal(&g_hold_cv);
    pthread_mutex_unlock(&g_hold_mu);
    return 0;
}

/* Makes every hang-mode hold (due forever) due now. */
static void release_hung(void)
{
    pthread_mutex_lock(&g_hold_mu);
    for (size_t i = 0; i < g_holds_n; i++)
        if (g_holds[i].due_us == HOLD_FOREVER)
            g_holds[i].due_us = 0;
    pthread_cond_signal(&g_hold_cv);
    pthread_mutex_unlock(&g_hold_mu);
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_hold_mu);
    for (;;) {
        int64_t now = now_us(), next = HOLD_FOREVER;
        for (size_t i = 0; i < g_holds_n;) {
            if (g_holds[i].due_us <= now) {
                g_holds[i].r->resumed = true;
                MHD_resume_connection(g_holds[i].conn);
                g_holds[i] = g_holds[--g_holds_n];
                continue;
            }
            if (g_holds[i].due_us < next)
                next = g_holds[i].due_us;
            i++;
        }
        if (next == HOLD_FOREVER) {
            pthread_cond_wait(&g_hold_cv, &g_hold_mu);
        } else {
            struct timespec ts = {(time_t)(next / 1000000), (long)(next % 1000000) * 1000};
            pthread_cond_timedwait(&g_hold_cv, &g_hold_mu, &ts); /* CLOCK_REALTIME */
        }
    }
    return NULL;
}

/* ---- requests ---- */

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result control(struct MHD_Connection *c, const char *url)
{
    if (!strcmp(url, "/stats")) {
        const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
        char *s = stats_json(from ? strtoull(from, NULL, 10) : 0);
        return s ? answer_text(c, MHD_HTTP_OK, s) : MHD_NO;
    }
    if (!strcmp(url, "/ctl/down")) {
        atomic_store(&g_down, true);
    } else if (!strcmp(url, "/ctl/up")) {
        atomic_store(&g_down, false);
        release_hung();
    } else if (!strcmp(url, "/ctl/reset")) {
        reset_stats();
    } else {
        return answer_text(c, MHD_HTTP_NOT_FOUND, strdup("{\"error\":\"unknown control\"}"));
    }
    return answer_text(c, MHD_HTTP_OK, strdup("{\"ok\":true}"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    struct req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        if (!strcmp(url, "/stats") || !strncmp(url, "/ctl/", 5))
            r->kind = K_CTL;
        else if (o_stall_prefix && !strncmp(url, o_stall_prefix, o_stall_prefix_len))
            r->kind = K_STALL;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (r->n < PREFIX_MAX - 1) {
            size_t take = PREFIX_MAX - 1 - r->n < n ? PREFIX_MAX - 1 - r->n : n;
            memcpy(r->prefix + r->n, upload_data, take);
            r->n += take;
            r->prefix[r->n] = '\0';
        }
        r->total += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->kind == K_CTL)
        return control(c, url);
    if (r->resumed) {
        if (r->kind == K_STALL)
            atomic_fetch_add(&g_stalled, 1);
        else
            account(r);
        return MHD_queue_response(c, MHD_HTTP_OK, g_ok);
    }
    if (r->kind == K_STALL)
        return hold(c, r, now_us() + o_stall_ms * 1000) ? MHD_NO : MHD_YES;
    if (atomic_load(&g_down)) {
        if (o_hang)
            return hold(c, r, HOLD_FOREVER) ? MHD_NO : MHD_YES;
        atomic_fetch_add(&g_refused, 1);
        return MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, g_unavail);
    }
    account(r);
    return MHD_queue_response(c, MHD_HTTP_OK, g_ok);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void usage(void)
{
    fputs("usage: bench_receiver [--listen HOST:PORT] [--threads N]\n"
          "         [--stall-prefix PATH --stall-ms N] [--down] [--down-mode 503|hang]\n"
          "         [--retry-after S] [--stats-file FILE] [--max-samples N]\n",
          stderr);
}

int main(int argc, char **argv)
{
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    bool down = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--listen") && has)
            o_listen = argv[++i];
        else if (!strcmp(a, "--threads") && has)
            threads = atol(argv[++i]);
        else if (!strcmp(a, "--stall-prefix") && has)
            o_stall_prefix = argv[++i];
        else if (!strcmp(a, "--stall-ms") && has)
            o_stall_ms = atol(argv[++i]);
        else if (!strcmp(a, "--down"))
            down = true;
        else if (!strcmp(a, "--down-mode") && has) {
            const char *m = argv[++i];
            if (!strcmp(m, "hang"))
                o_hang = true;
            else if (strcmp(m, "503")) {
                usage();
                return 2;
            }
        } else if (!strcmp(a, "--retry-after") && has)
            o_retry_after = atol(argv[++i]);
        else if (!strcmp(a, "--stats-file") && has)
            o_stats_file = argv[++i];
        else if (!strcmp(a, "--max-samples") && has)
            o_max_samples = (size_t)atol(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (threads < 1)
        threads = 1;
    if (o_stall_prefix)
        o_stall_prefix_len = strlen(o_stall_prefix);
    atomic_store(&g_down, down);
    g_samples = calloc(o_max_samples ? o_max_samples : 1, sizeof *g_samples);
    static char ok_body[] = "{\"ok\":true}", unavail_body[] = "{\"ok\":false}";
    g_ok = MHD_create_response_from_buffer(strlen(ok_body), ok_body, MHD_RESPMEM_PERSISTENT);
    g_unavail =
        MHD_create_response_from_buffer(strlen(unavail_body), unavail_body, MHD_RESPMEM_PERSISTENT);
    if (!g_samples || !g_ok || !g_unavail) {
        fprintf(stderr, "bench_receiver: out of memory\n");
        return 1;
    }
    MHD_add_response_header(g_ok, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(g_unavail, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (o_retry_after >= 0) {
        char ra[32];
        snprintf(ra, sizeof ra, "%ld", o_retry_after);
        MHD_add_response_header(g_unavail, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    struct sockaddr_in sa;
    if (bench_parse_listen(o_listen, &sa)) {
        fprintf(stderr, "bench_receiver: bad --listen %s\n", o_listen);
        return 2;
    }
    sigset_t sigs;
    bench_block_signals(&sigs);
    pthread_t timer;
    if (pthread_create(&timer, NULL, timer_main, NULL)) {
        fprintf(stderr, "bench_receiver: cannot start the timer thread\n");
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)60000,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_receiver: cannot listen on %s: %s\n", o_listen, strerror(errno));
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("receiver ready on http://%s:%u\n", host, di ? di->port : 0);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    char *s = stats_json(0);
    if (s) {
        fputs(s, stdout);
        fflush(stdout);
        if (o_stats_file) {
            FILE *f = fopen(o_stats_file, "w");
            if (f) {
                fputs(s, f);
                fclose(f);
            }
        }
    }
    /* Held connections would make MHD_stop_daemon abort: just leave. */
    _exit(0);
}
