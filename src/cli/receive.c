/*
 * receive.c: `airhook receive`, a small webhook receiver for trying airhook
 * out and for debugging an integration.  It listens (libmicrohttpd, one
 * thread), prints every request it gets (the Standard Webhooks headers, the
 * x-airmeet-* headers and the body) and, given the webhook's secret, says
 * whether the signature verifies.  It answers every request with --status
 * (200 by default), so a receiver that fails can be had with --status 500.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"
#include "cli/cli.h"
#include "common/util.h"
#include "delivery/sign.h"
#include "http/http.h"

#define BODY_MAX (1024 * 1024)

struct recv_opts {
    const char *listen;
    const char *secret;
    int status;
    unsigned long seen;
};

struct pending {
    char *body;
    size_t len;
};

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? v : "-";
}

static void report(struct recv_opts *o, struct MHD_Connection *c, const char *method,
                   const char *url, const struct pending *p)
{
    const char *verdict = "not checked (pass --secret whsec_... to check)";
    if (o->secret) {
        const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
        const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
        const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
        verdict = id && ts && sig &&
                          ah_verify(o->secret, id, ts, p->body ? p->body : "", p->len, sig,
                                    ah_now_ms() / 1000, 300) == 0
                      ? "valid"
                      : "INVALID";
    }
    char now[AH_TIME_SIZE];
    ah_format_time(ah_now_ms(), now);
    o->seen++;
    printf("--- #%lu %s %s %s -> %d\n"
           "webhook-id: %s\nwebhook-timestamp: %s\nwebhook-signature: %s (%s)\n"
           "x-airmeet-trigger: %s\nx-airmeet-webhook-id: %s\nx-airmeet-attempt: %s\n"
           "%.*s\n",
           o->seen, now, method, url, o->status, hdr(c, "webhook-id"), hdr(c, "webhook-timestamp"),
           hdr(c, "webhook-signature"), verdict, hdr(c, "x-airmeet-trigger"),
           hdr(c, "x-airmeet-webhook-id"), hdr(c, "x-airmeet-attempt"), (int)p->len,
           p->body ? p->body : "");
    fflush(stdout);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct recv_opts *o = cls;
    struct pending *p = *con_cls;
    if (!p) {
        if (!(p = calloc(1, sizeof *p)))
            return MHD_NO;
        *con_cls = p;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (p->len + n > BODY_MAX)
            return MHD_NO;
        char *nb = realloc(p->body, p->len + n + 1);
        if (!nb)
            return MHD_NO;
        memcpy(nb + p->len, upload, n);
        p->body = nb;
        p->len += n;
        p->body[p->len] = '\0';
        return MHD_YES;
    }
    report(o, c, method, url, p);
    static const char ok[] = "{\"received\":true}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof ok - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)o->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct pending *p = *con_cls;
    if (p) {
        free(p->body);
        free(p);
    }
    *con_cls = NULL;
}

static int usage(FILE *f, int rc)
{
    fputs("usage: airhook receive [--listen HOST:PORT] [--secret whsec_...] [--status CODE]\n"
          "  Prints every webhook delivery it receives and checks its signature.\n"
          "  --listen   where to listen (127.0.0.1:9000)\n"
          "  --secret   the webhook's signing secret (AIRHOOK_WEBHOOK_SECRET)\n"
          "  --status   the HTTP status to answer with (200; try 500 or 410)\n",
          f);
    return rc;
}

int ah_cmd_receive(int argc, char **argv)
{
    struct recv_opts o = {"127.0.0.1:9000", getenv("AIRHOOK_WEBHOOK_SECRET"), 200, 0};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t code;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout, 0);
        if (!v)
            return usage(stderr, 2);
        if (!strcmp(a, "--listen"))
            o.listen = v;
        else if (!strcmp(a, "--secret"))
            o.secret = v;
        else if (!strcmp(a, "--status") && ah_parse_i64(v, 100, 599, &code) == AH_OK)
            o.status = (int)code;
        else
            return usage(stderr, 2);
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sockaddr_storage ss;
    socklen_t sslen;
    char err[256];
    if (ah_http_parse_addr(o.listen, &ss, &sslen, err, sizeof err)) {
        fprintf(stderr, "airhook receive: %s\n", err);
        return 2;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, &o, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "airhook receive: cannot listen on %s\n", o.listen);
        return 1;
    }
    printf("airhook receive: listening on http://%s/ (answering %d)\n", o.listen, o.status);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    return 0;
}
