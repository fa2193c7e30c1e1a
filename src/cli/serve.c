/* SPDX-License-Identifier: MIT */
/*
 * serve.c: `airhook serve`.  Reads its settings from flags or their AIRHOOK_*
 * environment variables (SPEC §1), opens the store, starts the HTTP listener,
 * prints the ready line, and waits for SIGTERM or SIGINT.
 *
 * Every setting is one row of settings[] below: its flag, its environment
 * variable, its kind (text, switch, duration, count, number, choice, retry
 * schedule), its default, its range or choices, where its value goes in
 * serve_opts_t, and its help.  The usage (--help), the environment, the flag
 * parser and the checks all read the rows, so a setting is declared once.
 * README.md's settings table is checked against `airhook serve --help` by
 * tests/integration/test_settings_doc.py.  Rules that join two settings (the
 * lease outlives the delivery timeout, --demo needs the API) are in
 * check_together().  The delivery engine's defaults come from
 * delivery/dispatcher.h (AH_DISPATCH_DEFAULT_*).
 *
 * Signals are blocked before any thread starts and taken with sigwait() in
 * the main thread, so no handler runs in signal context and every thread
 * inherits the mask.  On a signal the listener stops accepting, finishes the
 * requests in progress, and the store is closed.
 */
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/app.h"
#include "cli/cli.h"
#include "common/log.h"
#include "delivery/dispatcher.h"
#include "delivery/listener.h"
#include "delivery/retention.h"
#include "delivery/ssrf.h"

/* Where the settings go: the API's and the dispatcher's configuration, and serve's own. */
typedef struct serve_opts {
    ah_config_t cfg;
    ah_dispatch_config_t dcfg;
    ah_http_limits_t http; /* the listener's connection limits; threads come from cfg */
    const char *role;      /* "api", "worker" or "all" */
    const char *ui;        /* "on" or "off": the web console */
    const char *log_level; /* one of log_levels[] */
    const char *allow_net; /* CIDR list for ah_netguard_new(); NULL: none */
    bool allow_private;
    int64_t grace_ms;
    const char *admin_token_file; /* the admin token is read from it, so ps does not show it */
    const char *secret_key_file;  /* the keys of the webhook secrets; NULL: beside the SQLite db */
} serve_opts_t;

typedef enum {
    KIND_TEXT,     /* const char *, as given */
    KIND_SWITCH,   /* bool: the flag alone, or its variable set to 1/true/yes/on (0/false/no/off) */
    KIND_DURATION, /* int64_t milliseconds, from "500ms", "15s", "5m", "2h", "5d" */
    KIND_COUNT,    /* unsigned: a whole number in [min, max] */
    KIND_NUMBER,   /* double: a decimal number in [min, max] */
    KIND_CHOICE,   /* const char *: one of choices[] */
    KIND_SCHEDULE, /* ah_dispatch_config_t: the retry schedule (ah_dispatch_parse_schedule) */
} kind_t;

typedef struct setting {
    const char *name;    /* the flag without "--" */
    const char *metavar; /* the value in the usage ("HOST:PORT"); NULL: the choices, or none */
    const char *env;     /* its environment variable; NULL: the flag only */
    kind_t kind;
    size_t offset;                       /* where the value goes in serve_opts_t */
    const char *def;                     /* used when neither is given; NULL: nothing is set */
    const char *unset;                   /* with def NULL: what happens then, for the usage */
    int64_t min, max;                    /* KIND_COUNT, KIND_NUMBER */
    const char *const *choices;          /* KIND_CHOICE, NULL-terminated */
    const char *(*check)(const char *v); /* a further rule: NULL if v passes, else what v must */
    const char *help;                    /* one line */
} setting_t;

/*
 * The offset of `field` in serve_opts_t; compiling fails unless the field
 * has type `type`, so a row's kind and its destination cannot disagree.
 */
#define AT(field, type)                                                                            \
    (offsetof(serve_opts_t, field) + 0 * sizeof(_Generic(((serve_opts_t *)0)->field, type : 1)))
#define TEXT(f) .kind = KIND_TEXT, .offset = AT(f, const char *)
#define SWITCH(f) .kind = KIND_SWITCH, .offset = AT(f, bool), .unset = "off"
#define DURATION(f) .kind = KIND_DURATION, .offset = AT(f, int64_t)
#define COUNT(f, lo, hi) .kind = KIND_COUNT, .offset = AT(f, unsigned), .min = (lo), .max = (hi)
#define NUMBER(f, lo, hi) .kind = KIND_NUMBER, .offset = AT(f, double), .min = (lo), .max = (hi)
#define CHOICE(f, list) .kind = KIND_CHOICE, .offset = AT(f, const char *), .choices = (list)
#define SCHEDULE(f) .kind = KIND_SCHEDULE, .offset = AT(f, ah_dispatch_config_t)

static const char *const regions[] = {"mumbai", "eu", "us", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const roles[] = {"api", "worker", "all", NULL};
static const char *const on_off[] = {"on", "off", NULL};

/* The address the console is reached at from outside: a URL without a path or a trailing "/". */
static const char *public_url_rule(const char *v)
{
    const char *rest = !strncmp(v, "https://", 8)  ? v + 8
                       : !strncmp(v, "http://", 7) ? v + 7
                                                   : NULL;
    if (!rest || !*rest || strchr(rest, '/') || strpbrk(v, " \t\"'<>"))
        return "must look like https://airhook.example.com";
    return NULL;
}

/* A duration that is not zero. */
static const char *positive_duration_rule(const char *v)
{
    int64_t ms = 0;
    if (ah_parse_duration_ms(v, &ms) != AH_OK || ms < 100)
        return "must be 100ms or more";
    return NULL;
}

static const char *base_path_rule(const char *v)
{
    size_t n = strlen(v);
    if (n < 2 || v[0] != '/' || v[n - 1] == '/' || !strncmp(v, "/admin", 6))
        return "must look like /prod";
    return NULL;
}

static const setting_t settings[] = {
    {"listen", "HOST:PORT", "AIRHOOK_LISTEN", TEXT(cfg.listen), .def = "127.0.0.1:8080",
     .help = "where to listen; port 0 picks a free port and the ready line names it"},
    {"db", "DSN", "AIRHOOK_DB", TEXT(cfg.db), .def = "sqlite:./airhook.db",
     .help = "the store: sqlite:PATH or postgres://..."},
    {"admin-token", "TOKEN", "AIRHOOK_ADMIN_TOKEN", TEXT(cfg.admin_token),
     .unset = "generated at first start",
     .help = "the admin API's bearer token (a generated one is stored hashed, printed once)"},
    {"admin-token-file", "PATH", "AIRHOOK_ADMIN_TOKEN_FILE", TEXT(admin_token_file),
     .unset = "none",
     .help = "read the admin token from this file (mode 0600), which ps does not show"},
    {"secret-key-file", "PATH", "AIRHOOK_SECRET_KEY_FILE", TEXT(secret_key_file),
     .unset = "DB.key beside a SQLite db; needed with PostgreSQL",
     .help = "keys that encrypt webhook signing secrets at rest; made (0600) if absent"},
    {"base-path", "PATH", "AIRHOOK_BASE_PATH", TEXT(cfg.base_path), .def = "/prod",
     .check = base_path_rule, .help = "the public API's path prefix"},
    {"region", NULL, "AIRHOOK_REGION", CHOICE(cfg.region, regions), .def = "mumbai",
     .help = "the region /healthz names"},
    {"token-ttl", "DURATION", "AIRHOOK_TOKEN_TTL", DURATION(cfg.token_ttl_ms), .def = "30d",
     .help = "lifetime of the tokens /auth issues; 0 issues expired ones, for testing clients"},
    {"auth-fail-limit", "N", "AIRHOOK_AUTH_FAIL_LIMIT", COUNT(cfg.auth_fail_limit, 0, 1000000),
     .def = "10", .help = "failed authentications per address per minute before 429; 0 = off"},
    /* A community's quotas, unless the operator sets its own (docs/operations.md). */
    {"max-webhooks", "N", "AIRHOOK_MAX_WEBHOOKS",
     COUNT(cfg.quota[AH_QUOTA_WEBHOOKS], 1, AH_QUOTA_WEBHOOKS_MAX), .def = "1000",
     .help = "active webhooks a community may have, unless it has its own quota; then 409"},
    {"max-url-bytes", "N", "AIRHOOK_MAX_URL_BYTES",
     COUNT(cfg.quota[AH_QUOTA_URL_BYTES], 1, AH_QUOTA_URL_BYTES_MAX), .def = "2047",
     .help = "longest webhook url a community may register"},
    {"max-name-bytes", "N", "AIRHOOK_MAX_NAME_BYTES",
     COUNT(cfg.quota[AH_QUOTA_NAME_BYTES], 1, AH_QUOTA_NAME_BYTES_MAX), .def = "255",
     .help = "longest webhook name and platformName a community may register"},
    {"max-description-bytes", "N", "AIRHOOK_MAX_DESCRIPTION_BYTES",
     COUNT(cfg.quota[AH_QUOTA_DESCRIPTION_BYTES], 0, AH_QUOTA_DESCRIPTION_BYTES_MAX), .def = "1023",
     .help = "longest webhook description a community may register"},
    {"register-rate", "N", "AIRHOOK_REGISTER_RATE",
     COUNT(cfg.quota[AH_QUOTA_REGISTER_RATE], 0, AH_QUOTA_REGISTER_RATE_MAX), .def = "1200",
     .help = "webhook registrations per access key per minute before 429; 0 = off"},
    {"threads", "N", "AIRHOOK_THREADS", COUNT(cfg.threads, 1, 256), .unset = "the number of cores",
     .help = "HTTP worker threads"},
    {"max-connections", "N", "AIRHOOK_MAX_CONNECTIONS", COUNT(http.max_connections, 16, 1000000),
     .unset = "the open-file limit less 1280, at most 65536",
     .help = "client connections open at once; more wait in the listen backlog"},
    {"max-connections-per-address", "N", "AIRHOOK_MAX_CONNECTIONS_PER_ADDRESS",
     COUNT(http.per_address, 0, 1000000), .def = AH_HTTP_DEFAULT_PER_ADDRESS,
     .help = "connections from one address at once (a proxy's clients share its); 0 = no limit"},
    {"header-timeout", "DURATION", "AIRHOOK_HEADER_TIMEOUT", DURATION(http.header_timeout_ms),
     .def = AH_HTTP_DEFAULT_HEADER_TIMEOUT, .check = positive_duration_rule,
     .help = "a connection's request line and headers must be in within this"},
    {"idle-timeout", "DURATION", "AIRHOOK_IDLE_TIMEOUT", DURATION(http.idle_timeout_ms),
     .def = AH_HTTP_DEFAULT_IDLE_TIMEOUT, .check = positive_duration_rule,
     .help = "an idle keep-alive connection is closed after this"},
    {"crowded-idle-timeout", "DURATION", "AIRHOOK_CROWDED_IDLE_TIMEOUT",
     DURATION(http.crowded_idle_timeout_ms), .def = AH_HTTP_DEFAULT_CROWDED_IDLE_TIMEOUT,
     .check = positive_duration_rule,
     .help = "the idle timeout while over 3/4 of --max-connections are open"},
    {"log-level", "LEVEL", "AIRHOOK_LOG_LEVEL", CHOICE(log_level, log_levels), .def = "info",
     .help = "JSON log lines on stderr from this level up"},
    {"retry-schedule", "LIST", "AIRHOOK_RETRY_SCHEDULE", SCHEDULE(dcfg),
     .def = AH_DISPATCH_DEFAULT_SCHEDULE,
     .help = "delay before each attempt, the first included (each with +-10 % jitter)"},
    {"delivery-timeout", "DURATION", "AIRHOOK_DELIVERY_TIMEOUT", DURATION(dcfg.timeout_ms),
     .def = AH_DISPATCH_DEFAULT_TIMEOUT, .help = "time allowed for one delivery attempt"},
    {"webhook-concurrency", "N", "AIRHOOK_WEBHOOK_CONCURRENCY",
     COUNT(dcfg.per_webhook_concurrency, 1, 10000), .def = AH_DISPATCH_DEFAULT_CONCURRENCY,
     .help = "requests in flight at once per webhook"},
    {"webhook-rate", "N", "AIRHOOK_WEBHOOK_RATE", NUMBER(dcfg.per_webhook_rate, 0, 1000000),
     .def = AH_DISPATCH_DEFAULT_RATE, .help = "attempts per second per webhook; 0 = no limit"},
    {"disable-after", "DURATION", "AIRHOOK_DISABLE_AFTER", DURATION(dcfg.disable_after_ms),
     .def = AH_DISPATCH_DEFAULT_DISABLE_AFTER,
     .help = "a webhook whose deliveries all fail this long is disabled; 0 = never"},
    {"allow-private-targets", NULL, "AIRHOOK_ALLOW_PRIVATE_TARGETS", SWITCH(allow_private),
     .help = "deliver to private, loopback and link-local addresses (refused by default)"},
    {"allow-net", "CIDR[,CIDR]", "AIRHOOK_ALLOW_NET", TEXT(allow_net), .unset = "none",
     .help = "open these refused ranges to delivery; the others stay refused"},
    {"listener-timeout", "DURATION", "AIRHOOK_LISTENER_TIMEOUT", DURATION(cfg.listener_timeout_ms),
     .def = AH_LISTEN_DEFAULT_TIMEOUT, .check = positive_duration_rule,
     .help = "an `airhook listen` listener with no stream this long is removed"},
    {"lease", "DURATION", "AIRHOOK_LEASE", DURATION(dcfg.lease_ms),
     .def = AH_DISPATCH_DEFAULT_LEASE,
     .help = "a claimed delivery is retaken after this; longer than --delivery-timeout"},
    {"shutdown-grace", "DURATION", "AIRHOOK_SHUTDOWN_GRACE", DURATION(grace_ms), .def = "10s",
     .help = "time in-flight deliveries get to finish on SIGTERM"},
    {"retention", "DURATION", "AIRHOOK_RETENTION", DURATION(cfg.retention_ms),
     .def = AH_RETENTION_DEFAULT,
     .help = "events whose deliveries are all final are removed this long after; 0 = never"},
    {"role", NULL, "AIRHOOK_ROLE", CHOICE(role, roles), .def = "all",
     .help = "api: the APIs only; worker: delivery only; all: both (docs/scaling.md)"},
    {"trust-forwarded-for", NULL, "AIRHOOK_TRUST_FORWARDED_FOR", SWITCH(cfg.trust_forwarded_for),
     .help = "behind a proxy: count clients by X-Forwarded-For's last hop"},
    {"ui", NULL, "AIRHOOK_UI", CHOICE(ui, on_off), .def = "on",
     .help = "the web console at / and /ui/, and its sign-in (docs/console.md)"},
    {"public-url", "URL", "AIRHOOK_PUBLIC_URL", TEXT(cfg.public_url), .unset = "none",
     .check = public_url_rule,
     .help = "where browsers reach this server; https:// makes console cookies Secure"},
    {"demo", NULL, NULL, SWITCH(cfg.demo),
     .help = "seed a demo community, key pair, airmeet and session, and print them"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* "a|b|c" (sep "|", last "|") or "a, b or c" (sep ", ", last " or ") into buf. */
static const char *choices_text(const setting_t *s, const char *sep, const char *last, char *buf,
                                size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; s->choices[i] && used < len; i++) {
        const char *before = i == 0 ? "" : s->choices[i + 1] ? sep : last;
        int n = snprintf(buf + used, len - used, "%s%s", before, s->choices[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* The usage's first column: "--listen HOST:PORT", "--region mumbai|eu|us", "--demo". */
static void flag_text(const setting_t *s, char *buf, size_t len)
{
    char choices[128];
    const char *metavar = s->metavar;
    if (!metavar && s->kind == KIND_CHOICE)
        metavar = choices_text(s, "|", "|", choices, sizeof choices);
    snprintf(buf, len, "--%s%s%s", s->name, metavar ? " " : "", metavar ? metavar : "");
}

/* The second column: the variable ("AIRHOOK_X=1" for a switch), or "-". */
static void env_text(const setting_t *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", s->env ? s->env : "-", s->env && s->kind == KIND_SWITCH ? "=1" : "");
}

/*
 * Three columns per setting (flag, variable, default: a value, or what
 * happens without one in parentheses) and the help on the next line.
 * tests/integration/test_settings_doc.py reads this layout.
 */
static void usage(FILE *f)
{
    char flag[96], env[96], choices[128];
    int flag_w = 0, env_w = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        flag_text(&settings[i], flag, sizeof flag);
        env_text(&settings[i], env, sizeof env);
        flag_w = (int)strlen(flag) > flag_w ? (int)strlen(flag) : flag_w;
        env_w = (int)strlen(env) > env_w ? (int)strlen(env) : env_w;
    }
    fputs("usage: airhook serve [flags]\n\n"
          "Each setting is a flag or its environment variable (the flag wins);\n"
          "the third column is its default.\n\n",
          f);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        flag_text(s, flag, sizeof flag);
        env_text(s, env, sizeof env);
        if (s->def)
            fprintf(f, "  %-*s  %-*s  %s\n", flag_w, flag, env_w, env, s->def);
        else
            fprintf(f, "  %-*s  %-*s  (%s)\n", flag_w, flag, env_w, env, s->unset);
        fprintf(f, "      %s", s->help);
        if (s->kind == KIND_COUNT || s->kind == KIND_NUMBER)
            fprintf(f, " (%lld to %lld)", (long long)s->min, (long long)s->max);
        else if (s->kind == KIND_CHOICE && s->metavar)
            fprintf(f, " (%s)", choices_text(s, ", ", ", ", choices, sizeof choices));
        fputc('\n', f);
    }
    fputs("  -h, --help\n      this text\n", f);
}

/* Prints "airhook serve: --NAME WHAT" (WHAT a printf format); returns 2. */
static int refuse(const setting_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(const setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "airhook serve: --%s ", s->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* Checks v against s's kind and rule and stores it in o; 0, or 2 after saying why. */
static int apply(const setting_t *s, const char *v, serve_opts_t *o)
{
    void *to = (char *)o + s->offset;
    char text[256];
    int64_t n;
    switch (s->kind) {
    case KIND_TEXT:
        *(const char **)to = v;
        break;
    case KIND_SWITCH: /* the flag gives "1"; its variable may say either */
        if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
            !strcasecmp(v, "on"))
            *(bool *)to = true;
        else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
                 !strcasecmp(v, "off"))
            *(bool *)to = false;
        else
            return refuse(s, "is on or off: set %s to 1 or 0", s->env ? s->env : "it");
        break;
    case KIND_DURATION:
        if (ah_parse_duration_ms(v, to) != AH_OK)
            return refuse(s, "takes a duration such as 500ms, 15s, 5m, 2h, 5d");
        break;
    case KIND_COUNT:
        if (ah_parse_i64(v, s->min, s->max, &n) != AH_OK)
            return refuse(s, "takes a number from %lld to %lld", (long long)s->min,
                          (long long)s->max);
        *(unsigned *)to = (unsigned)n;
        break;
    case KIND_NUMBER: {
        char *end = NULL;
        double d = strtod(v, &end);
        if (end == v || *end || !(d >= (double)s->min && d <= (double)s->max))
            return refuse(s, "takes a number from %lld to %lld", (long long)s->min,
                          (long long)s->max);
        *(double *)to = d;
        break;
    }
    case KIND_CHOICE: {
        size_t i = 0;
        while (s->choices[i] && strcmp(s->choices[i], v))
            i++;
        if (!s->choices[i])
            return refuse(s, "must be %s", choices_text(s, ", ", " or ", text, sizeof text));
        *(const char **)to = s->choices[i];
        break;
    }
    case KIND_SCHEDULE:
        if (ah_dispatch_parse_schedule(v, to, text, sizeof text) != AH_OK) {
            fprintf(stderr, "airhook serve: --%s: %s\n", s->name, text);
            return 2;
        }
        break;
    }
    const char *why = s->check ? s->check(v) : NULL;
    return why ? refuse(s, "%s", why) : 0;
}

/*
 * The values as given: each setting's default, then its environment
 * variable (empty counts as unset), then its flag ("--name value" or
 * "--name=value"; a switch takes none).  Returns 0, 2 after a usage error,
 * or -1 when --help was asked for (and printed).
 */
static int read_values(int argc, char **argv, const char *values[N_SETTINGS])
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *e = settings[i].env ? getenv(settings[i].env) : NULL;
        values[i] = e && *e ? e : settings[i].def;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        }
        size_t k = 0, n = 0;
        for (; a[0] == '-' && a[1] == '-' && k < N_SETTINGS; k++) {
            n = strlen(settings[k].name);
            if (!strncmp(a + 2, settings[k].name, n) && (a[2 + n] == '\0' || a[2 + n] == '='))
                break;
        }
        if (a[0] != '-' || a[1] != '-' || k == N_SETTINGS) {
            fprintf(stderr, "airhook serve: unknown flag '%s'\n", a);
            usage(stderr);
            return 2;
        }
        const setting_t *s = &settings[k];
        if (s->kind == KIND_SWITCH) {
            if (a[2 + n] == '=')
                return refuse(s, "takes no value");
            values[k] = "1";
        } else if (a[2 + n] == '=') {
            values[k] = a + 2 + n + 1;
        } else if (i + 1 < argc) {
            values[k] = argv[++i];
        } else {
            return refuse(s, "needs a value");
        }
    }
    return 0;
}

/* The rules that join settings, once each has passed its own. */
static int check_together(serve_opts_t *o)
{
    ah_config_t *c = &o->cfg;
    if (o->dcfg.timeout_ms < 1 || o->dcfg.lease_ms <= o->dcfg.timeout_ms) {
        fprintf(stderr, "airhook serve: --lease must be longer than --delivery-timeout\n");
        return 2;
    }
    if (c->admin_token && o->admin_token_file) {
        fprintf(stderr, "airhook serve: give the admin token once: --admin-token or "
                        "--admin-token-file, not both\n");
        return 2;
    }
    if (!o->secret_key_file && !ah_store_dsn_path(c->db)) {
        fprintf(stderr, "airhook serve: --secret-key-file is needed with PostgreSQL: every node "
                        "must encrypt and decrypt the webhook secrets with the same key "
                        "(docs/scaling.md)\n");
        return 2;
    }
    if (o->http.crowded_idle_timeout_ms > o->http.idle_timeout_ms) {
        fprintf(stderr, "airhook serve: --crowded-idle-timeout must not be longer than "
                        "--idle-timeout\n");
        return 2;
    }
    o->http.threads = c->threads;
    c->serve_api = strcmp(o->role, "worker") != 0;
    c->run_delivery = strcmp(o->role, "api") != 0;
    c->ui = strcmp(o->ui, "off") != 0;
    if (c->demo && !c->serve_api) {
        fprintf(stderr, "airhook serve: --demo needs the API (--role api or all)\n");
        return 2;
    }
    return 0;
}

/*
 * Fills o from the table, the environment and argv, and sets the log level.
 * Returns 0, 2 after a usage error, or -1 when --help was printed.
 */
static int load_settings(int argc, char **argv, serve_opts_t *o)
{
    const char *values[N_SETTINGS];
    memset(o, 0, sizeof *o);
    ah_dispatch_config_default(&o->dcfg);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->cfg.threads = cores > 0 ? (unsigned)cores : 2;
    int rc = read_values(argc, argv, values);
    for (size_t i = 0; !rc && i < N_SETTINGS; i++)
        if (values[i])
            rc = apply(&settings[i], values[i], o);
    if (rc || (rc = check_together(o)))
        return rc;
    ah_log_set_level((ah_log_level_t)ah_log_level_parse(o->log_level));
    return 0;
}

/*
 * The admin token from --admin-token-file: the file's text without its
 * trailing newline, one line of printable characters.  0, or 2 after
 * saying why.
 */
static int read_admin_token(const char *path, char *out, size_t outsz)
{
    char err[512];
    size_t len = 0;
    int rc = ah_secret_file_read(path, out, outsz, &len, err, sizeof err);
    if (rc == AH_ENOTFOUND)
        snprintf(err, sizeof err, "%s does not exist", path);
    while (rc == AH_OK && len && strchr(" \t\r\n", out[len - 1]))
        out[--len] = '\0';
    for (size_t i = 0; rc == AH_OK && i < len; i++)
        if ((unsigned char)out[i] < 0x21 || out[i] == 0x7f) {
            snprintf(err, sizeof err, "%s holds more than one word: the token is its first line",
                     path);
            rc = AH_EINVAL;
        }
    if (rc == AH_OK && !len) {
        snprintf(err, sizeof err, "%s is empty", path);
        rc = AH_EINVAL;
    }
    if (rc) {
        fprintf(stderr, "airhook serve: --admin-token-file: %s\n", err);
        return 2;
    }
    return 0;
}

/* Says, where an operator looks, that a new key file must be backed up. */
static void announce_new_key(const char *path, const char *id)
{
    static const char bar[] =
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!";
    fprintf(stderr,
            "%s\n"
            "!! airhook made the key that encrypts the webhook signing secrets at rest:\n"
            "!!     %s (key %s)\n"
            "!! BACK IT UP NOW, and keep that copy apart from the database's backups: without\n"
            "!! it the secrets in the database cannot be read and no delivery can be signed.\n"
            "!! (docs/operations.md, \"Backups and restores\")\n"
            "%s\n",
            bar, path, id, bar);
    ah_log(AH_LOG_WARN, "made a new secret key file; back it up",
           json_pack("{s:s, s:s}", "path", path, "key", id));
}

/*
 * The keys of the webhook signing secrets, handed to the store: the key
 * file's (--secret-key-file, or DB.key beside a SQLite database), made at
 * the first start when it does not exist and the database holds nothing
 * sealed; a key of the moment for sqlite::memory:.  The store then refuses
 * a database sealed with another key and seals what is plain or under an
 * older key.  AH_OK, or a failure with a sentence in err.
 */
static int secret_keys(const serve_opts_t *o, ah_store_t *store, char *err, size_t errlen)
{
    ah_keyring_t kr;
    char path[4096], id[AH_KEY_ID_LEN + 1];
    const char *file = o->secret_key_file, *db = ah_store_dsn_path(o->cfg.db);
    int rc = AH_OK;
    if (!file && db && !strcmp(db, ":memory:")) {
        unsigned char key[AH_SECRET_KEY_LEN];
        memset(&kr, 0, sizeof kr);
        ah_random_bytes(key, sizeof key);
        ah_keyring_add(&kr, key);
        OPENSSL_cleanse(key, sizeof key);
    } else {
        if (!file) {
            snprintf(path, sizeof path, "%s.key", db);
            file = path;
        }
        rc = ah_keyring_load(&kr, file, err, errlen);
        if (rc == AH_ENOTFOUND) {
            rc = ah_store_secrets_key_id(store, id);
            if (rc != AH_OK && rc != AH_ENOTFOUND) {
                snprintf(err, errlen, "cannot read the database: %s", ah_strerror(rc));
                return rc;
            }
            /*
             * Sealed with a key whose file is missing, unless another node
             * starting at the same moment made the file (whole, by link(2))
             * and sealed with it since our look: it is there now if so.
             */
            if (rc == AH_OK && (rc = ah_keyring_load(&kr, file, err, errlen)) == AH_ENOTFOUND) {
                snprintf(err, errlen,
                         "the webhook secrets in the database are encrypted with key %s, and "
                         "the key file %.256s does not exist: restore it from its backup "
                         "(docs/operations.md, \"Backups and restores\")",
                         id, file);
                return AH_ENOTFOUND;
            }
            if (rc == AH_ENOTFOUND) { /* nothing sealed yet: this start makes the key */
                rc = ah_keyring_create(&kr, file, err, errlen);
                if (rc == AH_OK)
                    announce_new_key(file, kr.keys[0].id);
                else if (rc == AH_EEXISTS) /* another node made it meanwhile */
                    rc = ah_keyring_load(&kr, file, err, errlen);
            }
        }
    }
    size_t n_sealed = 0;
    if (rc == AH_OK)
        rc = ah_store_secrets_init(store, &kr, &n_sealed, err, errlen);
    if (rc == AH_OK && n_sealed)
        ah_log(AH_LOG_INFO, "encrypted webhook secrets under the current key",
               json_pack("{s:I, s:s}", "count", (json_int_t)n_sealed, "key", kr.keys[0].id));
    ah_keyring_wipe(&kr);
    return rc;
}

/* s as one shell word into out: as it is when it is plain, else single-quoted. */
static void shell_word(const char *s, char *out, size_t outsz)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-.,:/@%+=", *p))
            plain = false;
    if (plain) {
        snprintf(out, outsz, "%s", s);
        return;
    }
    size_t n = 0;
    if (n + 1 < outsz)
        out[n++] = '\'';
    for (const char *p = s; *p && n + 6 < outsz; p++) {
        if (*p == '\'') {
            memcpy(out + n, "'\\''", 4);
            n += 4;
        } else {
            out[n++] = *p;
        }
    }
    if (n + 1 < outsz)
        out[n++] = '\'';
    out[n < outsz ? n : outsz - 1] = '\0';
}

/*
 * What the demo's export line sets AIRHOOK_ADMIN_TOKEN to: the token read
 * from a file as "$(cat FILE)" (the file keeps it out of sight, so it is
 * not echoed), one given on the command line or in the environment as it
 * is (a demo's own), or the one generated now; NULL when this server knows
 * only its hash.
 */
static const char *admin_token_word(const serve_opts_t *o, const char *generated, char *out,
                                    size_t outsz)
{
    if (o->admin_token_file) {
        char path[2048];
        shell_word(o->admin_token_file, path, sizeof path);
        snprintf(out, outsz, "\"$(cat %s)\"", path);
    } else if (o->cfg.admin_token && *o->cfg.admin_token) {
        shell_word(o->cfg.admin_token, out, outsz);
    } else if (generated && *generated) {
        shell_word(generated, out, outsz);
    } else {
        return NULL;
    }
    return out;
}

int ah_cmd_serve(int argc, char **argv)
{
    serve_opts_t o;
    int rc = load_settings(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    char file_token[1024];
    if (o.admin_token_file) {
        if ((rc = read_admin_token(o.admin_token_file, file_token, sizeof file_token)))
            return rc;
        o.cfg.admin_token = file_token;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512] = "", bound[128], token[80], base_url[160];
    ah_store_t *store = NULL;
    ah_http_server_t *srv = NULL;
    ah_netguard_t *guard = NULL;
    ah_app_t app;
    int status = 1;    /* the exit status if a step below fails */
    int64_t grace = 0; /* stopping after a failed start: nothing to let finish */
    memset(&app, 0, sizeof app);
    if (ah_netguard_new(o.allow_private, o.allow_net, &guard, err, sizeof err)) {
        fprintf(stderr, "airhook serve: --allow-net: %s\n", err);
        status = 2;
        goto out;
    }
    o.dcfg.guard = guard;
    if (ah_store_open(o.cfg.db, &store, err, sizeof err)) {
        char shown[512];
        ah_dsn_redact(o.cfg.db, shown, sizeof shown);
        fprintf(stderr, "airhook serve: cannot open %s: %s\n", shown, err);
        goto out;
    }
    if (secret_keys(&o, store, err, sizeof err)) {
        fprintf(stderr, "airhook serve: %s\n", err);
        goto out;
    }
    if (ah_app_init(&app, &o.cfg, store, token, sizeof token, err, sizeof err)) {
        fprintf(stderr, "airhook serve: %s\n", err);
        goto out;
    }
    app.guard = guard;
    if (o.cfg.retention_ms > 0 &&
        ah_retention_start(store, o.cfg.retention_ms, &app.retention, err, sizeof err)) {
        fprintf(stderr, "airhook serve: %s\n", err);
        goto out;
    }
    /* `airhook listen`: the hub serves the listener endpoints and feeds the dispatcher. */
    ah_listen_config_t lcfg = {.listener_timeout_ms = o.cfg.listener_timeout_ms,
                               .result_timeout_ms = o.dcfg.timeout_ms};
    if (o.cfg.serve_api && ah_listen_hub_start(store, &lcfg, &app.listen_hub, err, sizeof err)) {
        fprintf(stderr, "airhook serve: %s\n", err);
        goto out;
    }
    o.dcfg.listen = ah_listen_hub_ops(app.listen_hub);
    if (o.cfg.run_delivery &&
        ah_dispatcher_start(store, &o.dcfg, &app.dispatcher, err, sizeof err)) {
        fprintf(stderr, "airhook serve: %s\n", err);
        goto out;
    }
    ah_listen_hub_attach(app.listen_hub, app.dispatcher);
    ah_http_app_t http = ah_app_http(&app);
    if (ah_http_start(o.cfg.listen, &o.http, &http, &srv, bound, sizeof bound, err, sizeof err)) {
        fprintf(stderr, "airhook serve: %s\n", err);
        goto out;
    }
    snprintf(base_url, sizeof base_url, "http://%s", bound);
    if (token[0])
        printf("admin token: %s (shown once; pass --admin-token-file or set AIRHOOK_ADMIN_TOKEN "
               "to choose your own)\n",
               token);
    char admin_word[2 * sizeof file_token + 16];
    if (o.cfg.demo &&
        (rc = ah_app_seed_demo(&app, base_url,
                               admin_token_word(&o, token, admin_word, sizeof admin_word))))
        fprintf(stderr, "airhook serve: could not seed demo data: %s\n", ah_strerror(rc));
    if (o.cfg.ui && o.cfg.serve_api)
        printf("console: open %s/ui/ and sign in as the operator with the token%s\n",
               o.cfg.public_url ? o.cfg.public_url : base_url,
               token[0]            ? " printed above"
               : o.cfg.admin_token ? " you gave (--admin-token, AIRHOOK_ADMIN_TOKEN or its file)"
                                   : " (AIRHOOK_ADMIN_TOKEN, or the one printed at first start)");
    printf("airhook ready on %s (db %s, region %s, role %s)\n", base_url, ah_store_name(store),
           o.cfg.region, o.role);
    fflush(stdout);
    const ah_http_limits_t *lim = ah_http_server_limits(srv);
    ah_log(AH_LOG_INFO, "ready",
           json_pack("{s:s, s:s, s:i, s:i, s:i}", "listen", bound, "db", ah_store_name(store),
                     "threads", (int)o.cfg.threads, "max_connections", (int)lim->max_connections,
                     "max_connections_per_address", (int)lim->per_address));

    int sig = 0;
    sigwait(&sigs, &sig);
    ah_log(AH_LOG_INFO, "shutting down", json_pack("{s:s}", "signal", strsignal(sig)));
    status = 0;
    grace = o.grace_ms;
out:
    ah_http_stop(srv);                  /* no new events from here on; listeners' streams end */
    ah_listen_hub_stop(app.listen_hub); /* what awaited a listener's result goes back */
    ah_dispatcher_stop(app.dispatcher, grace); /* may still ask the stopped hub: it says no */
    ah_listen_hub_free(app.listen_hub);
    app.listen_hub = NULL;
    ah_retention_stop(app.retention);
    ah_app_free(&app);
    ah_store_close(store);
    ah_netguard_free(guard);
    if (status == 0)
        ah_log(AH_LOG_INFO, "stopped", NULL);
    return status;
}
