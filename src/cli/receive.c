/* SPDX-License-Identifier: MIT */
/*
 * receive.c: `airhook receive`, a small webhook receiver for trying airhook
 * out and for debugging an integration.  It listens (libmicrohttpd, one
 * thread), prints every request it gets (the Standard Webhooks headers, the
 * x-airmeet-* headers and the body) and, given the webhook's secret, says
 * whether the signature verifies, with libairhook-verify (the library a C
 * receiver would use, include/airhook/verify.h).  It answers with --status
 * (200 by default), so a receiver that fails can be had with --status 500;
 * given a secret, it answers a delivery whose signature does not verify 401,
 * as a real receiver must, and a secret that is not one is refused at start.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"
#include "airhook/verify.h"
#include "cli/cli.h"
#include "common/util.h"
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

/*
 * The status to answer with: o->status, or 401 when a secret is given and the
 * delivery does not verify (*verdict says why, for the printout).
 */
static int judge(const struct recv_opts *o, struct MHD_Connection *c, const struct pending *p,
                 const char **verdict)
{
    *verdict = "not checked (pass --secret whsec_... to check)";
    if (!o->secret)
        return o->status;
    int rc = ah_webhook_verify(
        o->secret, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id"),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp"),
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature"), p->body, p->len);
    *verdict = rc == AH_WEBHOOK_OK ? "valid" : ah_webhook_strerror(rc);
    return rc == AH_WEBHOOK_OK ? o->status : 401;
}

static void report(struct recv_opts *o, struct MHD_Connection *c, const char *method,
                   const char *url, const struct pending *p, int status, const char *verdict)
{
    char now[AH_TIME_SIZE];
    ah_format_time(ah_now_ms(), now);
    o->seen++;
    printf("--- #%lu %s %s %s -> %d\n"
           "webhook-id: %s\nwebhook-timestamp: %s\nwebhook-signature: %s (%s%s)\n"
           "x-airmeet-trigger: %s\nx-airmeet-webhook-id: %s\nx-airmeet-attempt: %s\n"
           "%.*s\n",
           o->seen, now, method, url, status, hdr(c, "webhook-id"), hdr(c, "webhook-timestamp"),
           hdr(c, "webhook-signature"), status == 401 ? "INVALID: " : "", verdict,
           hdr(c, "x-airmeet-trigger"), hdr(c, "x-airmeet-webhook-id"), hdr(c, "x-airmeet-attempt"),
           (int)p->len, p->body ? p->body : "");
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
    const char *verdict;
    int status = judge(o, c, p, &verdict);
    report(o, c, method, url, p, status, verdict);
    static const char ok[] = "{\"received\":true}";
    static const char refused[] = "{\"error\":\"invalid signature\"}";
    const char *body = status == 401 ? refused : ok;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
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
          "  --listen   where to listen (127.0.0.1:9000; port 0 picks one and prints it)\n"
          "  --secret   the webhook's signing secret (AIRHOOK_WEBHOOK_SECRET); a delivery\n"
          "             whose signature does not verify under it is answered 401\n"
          "  --status   the HTTP status to answer valid deliveries with (200; try 500 or 410)\n",
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
    if (o.secret && !*o.secret)
        o.secret = NULL;
    if (o.secret && ah_webhook_secret_check(o.secret) != AH_WEBHOOK_OK) {
        fprintf(stderr,
                "airhook receive: --secret (or AIRHOOK_WEBHOOK_SECRET) is not a signing secret: "
                "expected whsec_ followed by base64, as webhook-register returns it\n");
        return 2;
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
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char shown[300];
    snprintf(shown, sizeof shown, "%s", o.listen);
    char *colon = strrchr(shown, ':');
    if (info && colon)
        snprintf(colon + 1, sizeof shown - (size_t)(colon + 1 - shown), "%u", (unsigned)info->port);
    printf("airhook receive: listening on http://%s/ (answering %d%s)\n", shown, o.status,
           o.secret ? ", or 401 to a bad signature" : "");
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    return 0;
}
