/* SPDX-License-Identifier: MIT */
/*
 * baseline.c: the ceiling of this machine for "answer an HTTP request with a
 * JSON body", to compare airhook's API against in the same run.
 *
 * The same libmicrohttpd setup as src/http/server.c: one epoll daemon with a
 * thread pool of one thread per core (MHD_USE_EPOLL_INTERNAL_THREAD +
 * MHD_OPTION_THREAD_POOL_SIZE), keep-alive, and the response queued on the
 * second access-handler call (after any body), built from a buffer with a
 * Content-Type header as airhook does.  What it leaves out is the
 * application: no routing, parsing, authentication, storage or JSON encoding.
 *
 *   bench_baseline [--listen 127.0.0.1:0] [--threads N]
 *                  [--size BYTES | --body-file FILE]
 *
 * Prints "baseline ready on http://HOST:PORT" once listening; stops on
 * SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"

static char *g_body;
static size_t g_body_len;

/* A JSON object of exactly n bytes (n >= 16): {"pad":"xxxx…"} */
static char *json_of_size(size_t n)
{
    if (n < 16)
        n = 16;
    char *b = malloc(n + 1);
    if (!b)
        return NULL;
    const char *head = "{\"pad\":\"";
    size_t hl = strlen(head);
    memcpy(b, head, hl);
    memset(b + hl, 'x', n - hl - 2);
    b[n - 2] = '"';
    b[n - 1] = '}';
    b[n] = '\0';
    return b;
}

static int g_marker; /* con_cls of a request whose headers were seen */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        *con_cls = &g_marker; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* body consumed */
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(g_body_len, g_body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *body_file = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    size_t size = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atol(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--body-file") && i + 1 < argc)
            body_file = argv[++i];
        else {
            fprintf(stderr, "usage: bench_baseline [--listen HOST:PORT] [--threads N] "
                            "[--size BYTES | --body-file FILE]\n");
            return 2;
        }
    }
    if (threads < 1)
        threads = 1;
    g_body = body_file ? bench_read_file(body_file, &g_body_len) : json_of_size(size);
    if (!body_file)
        g_body_len = g_body ? strlen(g_body) : 0;
    if (!g_body) {
        fprintf(stderr, "bench_baseline: cannot build the body\n");
        return 1;
    }
    struct sockaddr_in sa;
    if (bench_parse_listen(listen, &sa)) {
        fprintf(stderr, "bench_baseline: bad --listen %s\n", listen);
        return 2;
    }
    sigset_t sigs;
    bench_block_signals(&sigs);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_baseline: cannot listen on %s\n", listen);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("baseline ready on http://%s:%u (body %zu bytes, %ld threads)\n", host,
           di ? di->port : 0, g_body_len, threads);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    free(g_body);
    return 0;
}
