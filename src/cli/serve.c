/*
 * serve.c: `airhook serve`.  Reads flags (or their AIRHOOK_* environment
 * variables, SPEC §1), opens the store, starts the HTTP listener, prints the
 * ready line, and waits for SIGTERM or SIGINT.
 *
 * Signals are blocked before any thread starts and taken with sigwait() in
 * the main thread, so no handler runs in signal context and every thread
 * inherits the mask.  On a signal the listener stops accepting, finishes the
 * requests in progress, and the store is closed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "cli/cli.h"
#include "common/log.h"
#include "delivery/dispatcher.h"
#include "delivery/ssrf.h"

typedef struct serve_opts {
    ah_config_t cfg;
    const char *token_ttl;
    const char *auth_fail_limit;
    const char *threads;
    const char *log_level;
    const char *retry_schedule;
    const char *allow_net;
    bool allow_private;
    const char *delivery_timeout;
    const char *webhook_concurrency;
    const char *webhook_rate;
    const char *disable_after;
    const char *lease;
    const char *shutdown_grace;
    const char *role;
    ah_dispatch_config_t dcfg;
    int64_t grace_ms;
} serve_opts_t;

static void usage(FILE *f)
{
    fputs(
        "usage: airhook serve [flags]\n"
        "  --listen HOST:PORT        AIRHOOK_LISTEN       (127.0.0.1:8080; port 0 picks one)\n"
        "  --db DSN                  AIRHOOK_DB           (sqlite:./airhook.db)\n"
        "  --admin-token TOKEN       AIRHOOK_ADMIN_TOKEN  (generated at first start)\n"
        "  --base-path PATH          AIRHOOK_BASE_PATH    (/prod)\n"
        "  --region mumbai|eu|us     AIRHOOK_REGION       (mumbai)\n"
        "  --token-ttl DURATION      AIRHOOK_TOKEN_TTL    (30d; 0 issues expired tokens)\n"
        "  --auth-fail-limit N       AIRHOOK_AUTH_FAIL_LIMIT (10 per minute; 0 = off)\n"
        "  --threads N               AIRHOOK_THREADS      (number of cores)\n"
        "  --log-level LEVEL         AIRHOOK_LOG_LEVEL    (info: debug|info|warn|error|off)\n"
        "  --retry-schedule LIST     AIRHOOK_RETRY_SCHEDULE (0,5s,5m,30m,2h,5h,10h,10h)\n"
        "  --allow-private-targets   AIRHOOK_ALLOW_PRIVATE_TARGETS=1 (deliver to private ranges)\n"
        "  --allow-net CIDR[,CIDR]   AIRHOOK_ALLOW_NET    (open these ranges only)\n"
        "  --delivery-timeout DUR    AIRHOOK_DELIVERY_TIMEOUT (15s)\n"
        "  --webhook-concurrency N   AIRHOOK_WEBHOOK_CONCURRENCY (16 requests at once per "
        "webhook)\n"
        "  --webhook-rate N          AIRHOOK_WEBHOOK_RATE (attempts per second per webhook; 0 = no "
        "limit)\n"
        "  --disable-after DUR       AIRHOOK_DISABLE_AFTER (5d of failures disables a webhook)\n"
        "  --lease DUR               AIRHOOK_LEASE (60s: a claimed delivery is retaken after "
        "this)\n"
        "  --shutdown-grace DUR      AIRHOOK_SHUTDOWN_GRACE (10s for in-flight deliveries at "
        "stop)\n"
        "  --role api|worker|all     AIRHOOK_ROLE (all: API and delivery; see docs/scaling.md)\n"
        "  --trust-forwarded-for     behind a proxy: count clients by X-Forwarded-For's last hop\n"
        "  --demo                    seed a demo community, key pair, airmeet and session\n",
        f);
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* Takes "--name value" or "--name=value".  Returns 1 if argv[*i] was it. */
static int flag(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "airhook serve: %s needs a value\n", name);
        exit(2);
    }
    *out = argv[++*i];
    return 1;
}

static int parse_args(int argc, char **argv, serve_opts_t *o)
{
    ah_config_t *c = &o->cfg;
    c->listen = env_or("AIRHOOK_LISTEN", "127.0.0.1:8080");
    c->db = env_or("AIRHOOK_DB", "sqlite:./airhook.db");
    c->admin_token = env_or("AIRHOOK_ADMIN_TOKEN", NULL);
    c->base_path = env_or("AIRHOOK_BASE_PATH", "/prod");
    c->region = env_or("AIRHOOK_REGION", "mumbai");
    o->token_ttl = env_or("AIRHOOK_TOKEN_TTL", "30d");
    o->auth_fail_limit = env_or("AIRHOOK_AUTH_FAIL_LIMIT", "10");
    o->threads = env_or("AIRHOOK_THREADS", NULL);
    o->log_level = env_or("AIRHOOK_LOG_LEVEL", "info");
    o->retry_schedule = env_or("AIRHOOK_RETRY_SCHEDULE", "0,5s,5m,30m,2h,5h,10h,10h");
    o->allow_net = env_or("AIRHOOK_ALLOW_NET", NULL);
    o->allow_private = env_or("AIRHOOK_ALLOW_PRIVATE_TARGETS", NULL) != NULL;
    o->delivery_timeout = env_or("AIRHOOK_DELIVERY_TIMEOUT", "15s");
    o->webhook_concurrency = env_or("AIRHOOK_WEBHOOK_CONCURRENCY", "16");
    o->webhook_rate = env_or("AIRHOOK_WEBHOOK_RATE", "0");
    o->disable_after = env_or("AIRHOOK_DISABLE_AFTER", "5d");
    o->lease = env_or("AIRHOOK_LEASE", "60s");
    o->shutdown_grace = env_or("AIRHOOK_SHUTDOWN_GRACE", "10s");
    o->role = env_or("AIRHOOK_ROLE", "all");
    c->trust_forwarded_for = env_or("AIRHOOK_TRUST_FORWARDED_FOR", NULL) != NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (flag(argc, argv, &i, "--listen", &c->listen) || flag(argc, argv, &i, "--db", &c->db) ||
            flag(argc, argv, &i, "--admin-token", &c->admin_token) ||
            flag(argc, argv, &i, "--base-path", &c->base_path) ||
            flag(argc, argv, &i, "--region", &c->region) ||
            flag(argc, argv, &i, "--token-ttl", &o->token_ttl) ||
            flag(argc, argv, &i, "--auth-fail-limit", &o->auth_fail_limit) ||
            flag(argc, argv, &i, "--threads", &o->threads) ||
            flag(argc, argv, &i, "--log-level", &o->log_level) ||
            flag(argc, argv, &i, "--retry-schedule", &o->retry_schedule) ||
            flag(argc, argv, &i, "--allow-net", &o->allow_net) ||
            flag(argc, argv, &i, "--delivery-timeout", &o->delivery_timeout) ||
            flag(argc, argv, &i, "--webhook-concurrency", &o->webhook_concurrency) ||
            flag(argc, argv, &i, "--webhook-rate", &o->webhook_rate) ||
            flag(argc, argv, &i, "--disable-after", &o->disable_after) ||
            flag(argc, argv, &i, "--lease", &o->lease) ||
            flag(argc, argv, &i, "--shutdown-grace", &o->shutdown_grace) ||
            flag(argc, argv, &i, "--role", &o->role))
            continue;
        if (!strcmp(a, "--demo")) {
            c->demo = true;
        } else if (!strcmp(a, "--allow-private-targets")) {
            o->allow_private = true;
        } else if (!strcmp(a, "--trust-forwarded-for")) {
            c->trust_forwarded_for = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "airhook serve: unknown flag '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static int bad_duration(const char *flag_name, const char *v, int64_t *ms)
{
    if (ah_parse_duration_ms(v, ms) == AH_OK)
        return 0;
    fprintf(stderr, "airhook serve: %s takes a duration such as 500ms, 15s, 5m, 2h, 5d\n",
            flag_name);
    return 2;
}

static int check_delivery_opts(serve_opts_t *o)
{
    ah_dispatch_config_t *d = &o->dcfg;
    char err[256];
    int64_t v;
    ah_dispatch_config_default(d);
    if (ah_dispatch_parse_schedule(o->retry_schedule, d, err, sizeof err)) {
        fprintf(stderr, "airhook serve: --retry-schedule: %s\n", err);
        return 2;
    }
    if (bad_duration("--delivery-timeout", o->delivery_timeout, &d->timeout_ms) ||
        bad_duration("--disable-after", o->disable_after, &d->disable_after_ms) ||
        bad_duration("--lease", o->lease, &d->lease_ms) ||
        bad_duration("--shutdown-grace", o->shutdown_grace, &o->grace_ms))
        return 2;
    if (d->timeout_ms < 1 || d->lease_ms <= d->timeout_ms) {
        fprintf(stderr, "airhook serve: --lease must be longer than --delivery-timeout\n");
        return 2;
    }
    if (ah_parse_i64(o->webhook_concurrency, 1, 10000, &v)) {
        fprintf(stderr, "airhook serve: --webhook-concurrency takes a number from 1 to 10000\n");
        return 2;
    }
    d->per_webhook_concurrency = (unsigned)v;
    char *end = NULL;
    double rate = strtod(o->webhook_rate, &end);
    if (!end || *end || rate < 0 || rate > 1e6) {
        fprintf(stderr, "airhook serve: --webhook-rate takes a number of attempts per second\n");
        return 2;
    }
    d->per_webhook_rate = rate;
    return 0;
}

static int check_opts(serve_opts_t *o)
{
    ah_config_t *c = &o->cfg;
    int64_t v;
    if (strcmp(c->region, "mumbai") && strcmp(c->region, "eu") && strcmp(c->region, "us")) {
        fprintf(stderr, "airhook serve: --region must be mumbai, eu or us\n");
        return 2;
    }
    size_t bp = strlen(c->base_path);
    if (bp < 2 || c->base_path[0] != '/' || c->base_path[bp - 1] == '/' ||
        !strncmp(c->base_path, "/admin", 6)) {
        fprintf(stderr, "airhook serve: --base-path must look like /prod\n");
        return 2;
    }
    if (ah_parse_duration_ms(o->token_ttl, &c->token_ttl_ms)) {
        fprintf(stderr, "airhook serve: --token-ttl takes a duration such as 30d, 12h, 90s\n");
        return 2;
    }
    if (ah_parse_i64(o->auth_fail_limit, 0, 1000000, &v)) {
        fprintf(stderr, "airhook serve: --auth-fail-limit takes a number\n");
        return 2;
    }
    c->auth_fail_limit = (unsigned)v;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = cores > 0 ? (unsigned)cores : 2;
    if (o->threads) {
        if (ah_parse_i64(o->threads, 1, 256, &v)) {
            fprintf(stderr, "airhook serve: --threads takes a number from 1 to 256\n");
            return 2;
        }
        c->threads = (unsigned)v;
    }
    int lvl = ah_log_level_parse(o->log_level);
    if (lvl < 0) {
        fprintf(stderr, "airhook serve: --log-level is debug, info, warn, error or off\n");
        return 2;
    }
    ah_log_set_level((ah_log_level_t)lvl);
    c->serve_api = !strcmp(o->role, "all") || !strcmp(o->role, "api");
    c->run_delivery = !strcmp(o->role, "all") || !strcmp(o->role, "worker");
    if (!c->serve_api && !c->run_delivery) {
        fprintf(stderr, "airhook serve: --role is api, worker or all\n");
        return 2;
    }
    if (c->demo && !c->serve_api) {
        fprintf(stderr, "airhook serve: --demo needs the API (--role api or all)\n");
        return 2;
    }
    return check_delivery_opts(o);
}

int ah_cmd_serve(int argc, char **argv)
{
    serve_opts_t o;
    memset(&o, 0, sizeof o);
    if (parse_args(argc, argv, &o) || check_opts(&o))
        return 2;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512] = "", bound[128], token[80];
    ah_store_t *store = NULL;
    ah_http_server_t *srv = NULL;
    ah_netguard_t *guard = NULL;
    ah_app_t app;
    int rc = ah_netguard_new(o.allow_private, o.allow_net, &guard, err, sizeof err);
    if (rc) {
        fprintf(stderr, "airhook serve: --allow-net: %s\n", err);
        return 2;
    }
    o.dcfg.guard = guard;
    rc = ah_store_open(o.cfg.db, &store, err, sizeof err);
    if (rc) {
        char shown[512];
        ah_dsn_redact(o.cfg.db, shown, sizeof shown);
        fprintf(stderr, "airhook serve: cannot open %s: %s\n", shown, err);
        ah_netguard_free(guard);
        return 1;
    }
    if ((rc = ah_app_init(&app, &o.cfg, store, token, sizeof token, err, sizeof err))) {
        fprintf(stderr, "airhook serve: %s\n", err);
        ah_app_free(&app);
        ah_store_close(store);
        ah_netguard_free(guard);
        return 1;
    }
    app.guard = guard;
    if (o.cfg.run_delivery &&
        (rc = ah_dispatcher_start(store, &o.dcfg, &app.dispatcher, err, sizeof err))) {
        fprintf(stderr, "airhook serve: %s\n", err);
        ah_app_free(&app);
        ah_store_close(store);
        ah_netguard_free(guard);
        return 1;
    }
    ah_http_app_t http = ah_app_http(&app);
    if ((rc = ah_http_start(o.cfg.listen, o.cfg.threads, &http, &srv, bound, sizeof bound, err,
                            sizeof err))) {
        fprintf(stderr, "airhook serve: %s\n", err);
        ah_dispatcher_stop(app.dispatcher, 0);
        ah_app_free(&app);
        ah_store_close(store);
        ah_netguard_free(guard);
        return 1;
    }
    char base_url[160];
    snprintf(base_url, sizeof base_url, "http://%s", bound);
    if (token[0])
        printf("admin token: %s (shown once; pass --admin-token or set AIRHOOK_ADMIN_TOKEN to "
               "choose your own)\n",
               token);
    if (o.cfg.demo && (rc = ah_app_seed_demo(&app, base_url)))
        fprintf(stderr, "airhook serve: could not seed demo data: %s\n", ah_strerror(rc));
    printf("airhook ready on %s (db %s, region %s, role %s)\n", base_url, ah_store_name(store),
           o.cfg.region, o.role);
    fflush(stdout);
    ah_log(AH_LOG_INFO, "ready",
           json_pack("{s:s, s:s, s:i}", "listen", bound, "db", ah_store_name(store), "threads",
                     (int)o.cfg.threads));

    int sig = 0;
    sigwait(&sigs, &sig);
    ah_log(AH_LOG_INFO, "shutting down", json_pack("{s:s}", "signal", strsignal(sig)));
    ah_http_stop(srv); /* no new events from here on */
    ah_dispatcher_stop(app.dispatcher, o.grace_ms);
    ah_app_free(&app);
    ah_store_close(store);
    ah_netguard_free(guard);
    ah_log(AH_LOG_INFO, "stopped", NULL);
    return 0;
}
