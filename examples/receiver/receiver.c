/* SPDX-License-Identifier: MIT */
/*
 * receiver.c: a small webhook receiver in C that checks every delivery with
 * libairhook-verify (docs/verify.md) and answers 401 to one whose signature
 * does not verify, 204 to one that does.  libmicrohttpd serves HTTP.
 *
 *     make                                  # builds it with pkg-config
 *     WEBHOOK_SECRET=whsec_... ./receiver 127.0.0.1:9000
 *
 * It prints "listening on HOST:PORT" (port 0 picks a free one), then one
 * line per request: the webhook-id and the verdict.  SIGINT or SIGTERM
 * stops it.  A real receiver would hand the verified body to its queue
 * before answering, and deduplicate on webhook-id.
 */
#include <airhook/verify.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A delivery's body is at most this; a larger one is refused (413). */
#define BODY_MAX (1024 * 1024)

struct body {
    char *data;
    size_t len;
    int too_big;
};

static const char *secret;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)version;
    struct body *b = *con_cls;
    if (!b) { /* the headers are in; the body follows */
        if (!(b = calloc(1, sizeof *b)))
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (b->too_big || b->len + n > BODY_MAX) {
            b->too_big = 1;
            return MHD_YES;
        }
        char *grown = realloc(b->data, b->len + n);
        if (!grown)
            return MHD_NO;
        memcpy(grown + b->len, upload, n);
        b->data = grown;
        b->len += n;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0)
        return answer(c, 405, "POST only\n");
    if (b->too_big)
        return answer(c, 413, "body too large\n");
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
    int rc = ah_webhook_verify(
        secret, id, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp"),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature"), b->data, b->len);
    printf("%s: %s\n", id ? id : "(no webhook-id)", ah_webhook_strerror(rc));
    fflush(stdout);
    if (rc != AH_WEBHOOK_OK)
        return answer(c, 401, "invalid signature\n");
    /* Here the body (b->data, b->len) is genuine: act on it. */
    return answer(c, 204, "");
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct body *b = *con_cls;
    if (b) {
        free(b->data);
        free(b);
    }
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    const char *listen = argc > 1 ? argv[1] : "127.0.0.1:9000";
    secret = getenv("WEBHOOK_SECRET");
    /* A secret that is not one is a configuration error: say so now, not at the first delivery. */
    if (ah_webhook_secret_check(secret) != AH_WEBHOOK_OK) {
        fprintf(stderr, "receiver: WEBHOOK_SECRET: %s\n",
                ah_webhook_strerror(AH_WEBHOOK_BAD_SECRET));
        return 2;
    }
    char host[64];
    const char *colon = strrchr(listen, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        fprintf(stderr, "usage: receiver HOST:PORT (an IPv4 address)\n");
        return 2;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || *end || port < 0 || port > 65535) {
        fprintf(stderr, "usage: receiver HOST:PORT (an IPv4 address)\n");
        return 2;
    }
    sa.sin_port = htons((unsigned short)port);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* the daemon's thread inherits the mask */
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "receiver: cannot listen on %s\n", listen);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on %s:%u (libairhook-verify %s)\n", host, info ? info->port : 0,
           ah_webhook_version());
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    return 0;
}
