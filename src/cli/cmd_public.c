/* SPDX-License-Identifier: MIT */
/*
 * cmd_public.c: the integrator's subcommands, clients of the public API.
 *
 * `airhook auth|webhooks|sample` speak Airmeet's platform-integration API
 * exactly as an integrator would, so they work against a local `airhook
 * serve` (--base-url http://127.0.0.1:8080/prod) and against Airmeet's own
 * gateways (--region mumbai|eu|us) alike.  The key pair travels as
 * `x-access-key`/`x-secret-key`, except on /auth which documents the
 * `X-Airmeet-*` spelling; webhook-list wants a token, which `webhooks list`
 * fetches from /auth by itself unless one is given.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/client.h"
#include "common/util.h"

#define API_PREFIX "/platform-integration/v1"
/* airhook's own public routes (src/api/webhook_test.c). */
#define OWN_PREFIX "/airhook/v1"
/* How often `webhooks test` asks whether the first attempt is in. */
#define POLL_INTERVAL_MS 200
/* Most bytes of an attempt's response shown. */
#define EXCERPT_MAX 200

/* Airmeet's gateways, from the API document. */
static const struct region {
    const char *name;
    const char *base_url;
} regions[] = {
    {"mumbai", "https://api-gateway.airmeet.com/prod"},
    {"eu", "https://api-gateway-prod.eu.airmeet.com/prod"},
    {"us", "https://api-gateway-prod.us.airmeet.com/prod"},
};

#define BASE_FLAGS AH_PUBLIC_BASE_FLAGS
#define KEY_FLAGS AH_PUBLIC_KEY_FLAGS
/* A token the caller already has, for the commands that take one. */
#define TOKEN_FLAG                                                                                 \
    {                                                                                              \
        .name = "token", .metavar = "TOKEN", .env = "AIRHOOK_TOKEN",                               \
        .help = "token from /auth (default: fetch one with the key pair)"                          \
    }

int ah_public_base(const ah_args_t *args, char **out)
{
    *out = NULL;
    if (ah_arg(args, "base-url"))
        return ah_base_url(args, "base-url", out);
    const char *name = ah_arg(args, "region");
    for (size_t i = 0; name && i < AH_ARRAY_LEN(regions); i++) {
        if (strcasecmp(name, regions[i].name) == 0) {
            *out = ah_str_concat(regions[i].base_url, (char *)NULL);
            if (*out)
                return AH_EXIT_OK;
            fputs("error: out of memory\n", stderr);
            return AH_EXIT_HTTP;
        }
    }
    return ah_usage_error(args, "--region must be mumbai, eu or us");
}

/* Appends ?key=value to the heap string url, freeing it; NULL key: as is. */
static char *with_query(char *url, const char *key, const char *value)
{
    if (!url || !key)
        return url;
    char *out = ah_url_add_query(url, key, value);
    free(url);
    return out;
}

/* {base}{path}?k1=v1&k2=v2 (unset values left out).  Caller frees *out. */
static int public_url(const ah_args_t *args, const char *path, const char *k1, const char *v1,
                      const char *k2, const char *v2, char **out)
{
    char *base = NULL;
    int rc = ah_public_base(args, &base);
    *out = NULL;
    if (rc)
        return rc;
    *out = with_query(with_query(ah_str_concat(base, path, (char *)NULL), k1, v1), k2, v2);
    free(base);
    if (*out)
        return AH_EXIT_OK;
    fputs("error: out of memory\n", stderr);
    return AH_EXIT_HTTP;
}

/*
 * Sends one keyed request and prints the answer.  trigger (or NULL) is the
 * triggerMetaInfoId the request names: when the server answers 400
 * "unknown triggerMetaInfoId", the nearest built-in ids are suggested.
 */
static int keyed_call(const ah_args_t *args, const char *method, const char *url, json_t *body,
                      const char *trigger)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    const ah_http_header_t headers[] = {
        {"x-access-key", ah_arg(args, "access-key")},
        {"x-secret-key", ah_arg(args, "secret-key")},
    };
    const ah_http_request_t req = {method, url, headers, AH_ARRAY_LEN(headers), text};
    ah_http_response_t resp;
    char err[1024];
    int rc = ah_http_request(&req, &resp, err, sizeof err);
    free(text);
    if (rc)
        return ah_report_failure(rc, err);
    rc = ah_print_response(&resp);
    if (trigger && ah_unknown_trigger_answer(&resp))
        ah_suggest_builtin_triggers(trigger);
    ah_http_response_free(&resp);
    return rc;
}

/* Builds the /auth request for the key pair into *req (headers in hdrs). */
static void auth_request(const ah_args_t *args, const char *url, ah_http_header_t hdrs[2],
                         ah_http_request_t *req)
{
    hdrs[0] = (ah_http_header_t){"X-Airmeet-Access-Key", ah_arg(args, "access-key")};
    hdrs[1] = (ah_http_header_t){"X-Airmeet-Secret-Key", ah_arg(args, "secret-key")};
    *req = (ah_http_request_t){"POST", url, hdrs, 2, NULL};
}

static int cmd_auth(const ah_args_t *args)
{
    char *url = NULL;
    int rc = public_url(args, "/auth", NULL, NULL, NULL, NULL, &url);
    if (rc)
        return rc;
    ah_http_header_t hdrs[2];
    ah_http_request_t req;
    auth_request(args, url, hdrs, &req);
    rc = ah_http_run(&req);
    free(url);
    return rc;
}

char *ah_public_token_of(const ah_http_response_t *resp)
{
    json_t *doc = json_loadb(resp->body, resp->len, 0, NULL);
    json_t *tok = json_object_get(doc, "token");
    if (!json_is_string(tok))
        tok = json_object_get(json_object_get(doc, "data"), "token");
    char *out = json_is_string(tok) ? ah_str_concat(json_string_value(tok), (char *)NULL) : NULL;
    json_decref(doc);
    return out;
}

/* Calls /auth with the key pair; on success *token is the caller's to free. */
static int fetch_token(const ah_args_t *args, char **token)
{
    *token = NULL;
    if (!ah_arg(args, "access-key") || !ah_arg(args, "secret-key"))
        return ah_usage_error(args, "needs --token (or AIRHOOK_TOKEN), or --access-key "
                                    "and --secret-key to get one from /auth");
    char *url = NULL, err[1024];
    int rc = public_url(args, "/auth", NULL, NULL, NULL, NULL, &url);
    if (rc)
        return rc;
    ah_http_header_t hdrs[2];
    ah_http_request_t req;
    ah_http_response_t resp;
    auth_request(args, url, hdrs, &req);
    int st = ah_http_request(&req, &resp, err, sizeof(err));
    if (st)
        rc = ah_report_failure(st, err);
    else if (resp.status < 200 || resp.status >= 300)
        rc = ah_print_response(&resp); /* shows why /auth refused */
    else if (!(*token = ah_public_token_of(&resp))) {
        fputs("error: /auth answered without a token\n", stderr);
        rc = AH_EXIT_HTTP;
    }
    ah_http_response_free(&resp);
    free(url);
    return rc;
}

static int webhooks_list(const ah_args_t *args)
{
    char *owned = NULL, *url = NULL;
    const char *token = ah_arg(args, "token");
    int rc = token ? AH_EXIT_OK : fetch_token(args, &owned);
    if (!rc)
        rc = public_url(args, API_PREFIX "/webhook-list", "airmeetId", ah_arg(args, "airmeet"),
                        "sessionId", ah_arg(args, "session"), &url);
    if (!rc) {
        const ah_http_header_t headers[] = {{"X-Airmeet-Access-Token", token ? token : owned}};
        const ah_http_request_t req = {"GET", url, headers, AH_ARRAY_LEN(headers), NULL};
        rc = ah_http_run(&req);
    }
    free(owned);
    free(url);
    return rc;
}

static int webhooks_register(const ah_args_t *args)
{
    const char *trigger = ah_arg(args, "trigger");
    const char *name = ah_arg(args, "name");
    const char *desc = ah_arg(args, "description");
    json_t *body = ah_json_strings("name", name ? name : trigger, "description", desc ? desc : "",
                                   "triggerMetaInfoId", trigger, "url", ah_arg(args, "url"),
                                   "platformName", ah_arg(args, "platform"), (char *)NULL);
    if (!body)
        return ah_usage_error(args, "flag values must be valid UTF-8");
    char *url = NULL;
    int rc = public_url(args, API_PREFIX "/webhook-register", "airmeetId", ah_arg(args, "airmeet"),
                        "sessionId", ah_arg(args, "session"), &url);
    if (!rc)
        rc = keyed_call(args, "POST", url, body, trigger);
    json_decref(body);
    free(url);
    return rc;
}

static int webhooks_deregister(const ah_args_t *args)
{
    json_t *body =
        ah_json_strings("id", ah_arg(args, "id"), "triggerMetaInfoId", ah_arg(args, "trigger"),
                        "url", ah_arg(args, "url"), (char *)NULL);
    if (!body)
        return ah_usage_error(args, "flag values must be valid UTF-8");
    char *url = NULL;
    int rc = public_url(args, API_PREFIX "/webhook-deregister", NULL, NULL, NULL, NULL, &url);
    if (!rc)
        rc = keyed_call(args, "POST", url, body, ah_arg(args, "trigger"));
    json_decref(body);
    free(url);
    return rc;
}

static int cmd_sample(const ah_args_t *args)
{
    char *url = NULL;
    int rc = public_url(args, API_PREFIX "/sample-payload", "triggerMetaInfoId", args->pos[0], NULL,
                        NULL, &url);
    if (!rc)
        rc = keyed_call(args, "GET", url, NULL, args->pos[0]);
    free(url);
    return rc;
}

/* ---- webhooks test ---- */

/* {base}/airhook/v1{what}/{id, escaped}{suffix}.  Caller frees *out. */
static int own_url(const ah_args_t *args, const char *what, const char *id, const char *suffix,
                   char **out)
{
    char *esc = ah_url_escape(id);
    char *path = esc ? ah_str_concat(OWN_PREFIX, what, "/", esc, suffix, (char *)NULL) : NULL;
    free(esc);
    *out = NULL;
    if (!path) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    int rc = public_url(args, path, NULL, NULL, NULL, NULL, out);
    free(path);
    return rc;
}

/* One token-authenticated request to url; *resp is filled whatever the status. */
static int token_request(const char *method, const char *url, const char *token, const char *body,
                         ah_http_response_t *resp)
{
    char err[1024];
    const ah_http_header_t headers[] = {{"X-Airmeet-Access-Token", token}};
    const ah_http_request_t req = {method, url, headers, AH_ARRAY_LEN(headers), body};
    int st = ah_http_request(&req, resp, err, sizeof err);
    return st ? ah_report_failure(st, err) : AH_EXIT_OK;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A JSON value as text for a line of output: strings bare, null as "-". */
static const char *text_of(json_t *v, char *buf, size_t bufsz)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, bufsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return "-";
}

/*
 * Prints the first attempt of delivery d (GET .../deliveries/{id}'s
 * answer) and what comes next; returns AH_EXIT_OK when it succeeded (a
 * 2xx answer), else AH_EXIT_HTTP.
 */
static int print_attempt(json_t *d)
{
    json_t *a = json_array_get(json_object_get(d, "attempts"), 0);
    json_t *code = json_object_get(a, "statusCode");
    const char *error = json_string_value(json_object_get(a, "error"));
    const char *body = json_string_value(json_object_get(a, "responseBody"));
    json_int_t status = json_is_integer(code) ? json_integer_value(code) : 0;
    bool ok = status >= 200 && status < 300 && !error;
    char buf[32];
    printf("attempt %s: %s", text_of(json_object_get(a, "attempt"), buf, sizeof buf),
           ok ? "succeeded" : "failed");
    if (status)
        printf(", HTTP %" JSON_INTEGER_FORMAT, status);
    printf(" in %s ms\n", text_of(json_object_get(a, "durationMs"), buf, sizeof buf));
    if (error)
        printf("error: %s\n", error);
    if (body && *body) {
        size_t n = strlen(body);
        printf("response: %.*s%s\n", (int)(n > EXCERPT_MAX ? EXCERPT_MAX : n), body,
               n > EXCERPT_MAX ? "..." : "");
    }
    const char *state = json_string_value(json_object_get(d, "status"));
    const char *next = json_string_value(json_object_get(d, "nextAttemptAt"));
    if (!ok && state && strcmp(state, "pending") == 0)
        printf("retry pending: next attempt at %s (the server's retry schedule)\n",
               next ? next : "-");
    else if (!ok && state)
        printf("delivery %s: no retry is pending\n", state);
    return ok ? AH_EXIT_OK : AH_EXIT_HTTP;
}

/*
 * Polls GET {base}/airhook/v1/deliveries/{id} until its first attempt is
 * recorded or wait_ms pass; prints the attempt.  AH_EXIT_UNREACHABLE when
 * none came in time.
 */
static int await_attempt(const ah_args_t *args, const char *token, const char *id, int64_t wait_ms)
{
    char *url = NULL;
    int rc = own_url(args, "/deliveries", id, "", &url);
    int64_t deadline = ah_mono_ms() + wait_ms;
    json_t *last = NULL;
    while (!rc) {
        ah_http_response_t resp = {0};
        if ((rc = token_request("GET", url, token, NULL, &resp)))
            break;
        if (resp.status != 200) {
            rc = ah_print_response(&resp);
            ah_http_response_free(&resp);
            break;
        }
        json_decref(last);
        last = json_loadb(resp.body, resp.len, 0, NULL);
        ah_http_response_free(&resp);
        if (json_array_size(json_object_get(last, "attempts")) > 0) {
            rc = print_attempt(last);
            break;
        }
        int64_t left = deadline - ah_mono_ms();
        if (left <= 0) {
            const char *state = json_string_value(json_object_get(last, "status"));
            fprintf(stderr,
                    "error: no attempt recorded within --wait (the delivery is %s); see it "
                    "later with GET %s\n",
                    state ? state : "unknown", url);
            rc = AH_EXIT_UNREACHABLE;
            break;
        }
        sleep_ms(left < POLL_INTERVAL_MS ? left : POLL_INTERVAL_MS);
    }
    json_decref(last);
    free(url);
    return rc;
}

/* Prints the 202's ids; *delivery_id receives the delivery's (a copy the caller frees). */
static int print_queued(const ah_http_response_t *resp, char **delivery_id)
{
    json_t *doc = json_loadb(resp->body, resp->len, 0, NULL);
    const char *d = json_string_value(json_object_get(doc, "deliveryId"));
    const char *e = json_string_value(json_object_get(doc, "eventId"));
    const char *t = json_string_value(json_object_get(doc, "triggerMetaInfoId"));
    int rc = AH_EXIT_OK;
    if (d && e && t) {
        printf("test delivery %s (event %s, trigger %s)\n", d, e, t);
        if (!(*delivery_id = strdup(d))) {
            fputs("error: out of memory\n", stderr);
            rc = AH_EXIT_HTTP;
        }
    } else {
        fputs("error: the server's answer has no deliveryId\n", stderr);
        rc = AH_EXIT_HTTP;
    }
    json_decref(doc);
    return rc;
}

static int webhooks_test(const ah_args_t *args)
{
    int64_t wait_ms = 0;
    const char *wait = ah_arg(args, "wait");
    if (ah_parse_duration_ms(wait ? wait : "30s", &wait_ms) != 0 || wait_ms < 0)
        return ah_usage_error(args, "--wait takes a duration such as 30s, 2m or 0 (do not wait)");
    const char *trigger = ah_arg(args, "trigger");
    json_t *body = trigger ? ah_json_strings("triggerMetaInfoId", trigger, (char *)NULL) : NULL;
    if (trigger && !body)
        return ah_usage_error(args, "flag values must be valid UTF-8");
    char *owned = NULL, *url = NULL, *text = NULL, *delivery = NULL;
    ah_http_response_t resp = {0};
    const char *token = ah_arg(args, "token");
    int rc = token ? AH_EXIT_OK : fetch_token(args, &owned);
    if (!token)
        token = owned;
    if (!rc)
        rc = own_url(args, "/webhooks", args->pos[0], "/test", &url);
    if (!rc && body && !(text = json_dumps(body, JSON_COMPACT))) {
        fputs("error: out of memory\n", stderr);
        rc = AH_EXIT_HTTP;
    }
    if (!rc)
        rc = token_request("POST", url, token, text, &resp);
    if (rc)
        goto out;
    if (resp.status != 202) {
        rc = ah_print_response(&resp);
        if (trigger && ah_unknown_trigger_answer(&resp))
            ah_suggest_builtin_triggers(trigger);
        goto out;
    }
    rc = print_queued(&resp, &delivery);
    fflush(stdout);
    if (!rc && wait_ms > 0)
        rc = await_attempt(args, token, delivery, wait_ms);
out:
    ah_http_response_free(&resp);
    json_decref(body);
    free(text);
    free(delivery);
    free(url);
    free(owned);
    return rc;
}

static const ah_flag_t keyed_flags[] = {BASE_FLAGS, KEY_FLAGS(AH_FLAG_REQUIRED), {.name = NULL}};

static const ah_flag_t register_flags[] = {
    {.name = "trigger",
     .metavar = "TRIGGER",
     .help = "triggerMetaInfoId to subscribe to",
     .opts = AH_FLAG_REQUIRED},
    {.name = "url",
     .metavar = "URL",
     .help = "http(s) URL that receives the events",
     .opts = AH_FLAG_REQUIRED},
    {.name = "name", .metavar = "NAME", .help = "webhook name (default: the trigger id)"},
    {.name = "description", .metavar = "TEXT", .help = "free text (default: empty)"},
    {.name = "platform",
     .metavar = "NAME",
     .def = "airhook-cli",
     .help = "platformName recorded with the webhook"},
    {.name = "airmeet", .metavar = "ID", .help = "airmeetId (required by airmeet triggers)"},
    {.name = "session", .metavar = "ID", .help = "sessionId (with --airmeet)"},
    BASE_FLAGS,
    KEY_FLAGS(AH_FLAG_REQUIRED),
    {.name = NULL}};

static const ah_flag_t list_flags[] = {
    {.name = "airmeet", .metavar = "ID", .help = "only webhooks registered for this airmeet"},
    {.name = "session", .metavar = "ID", .help = "only webhooks registered for this session"},
    TOKEN_FLAG,
    BASE_FLAGS,
    KEY_FLAGS(0),
    {.name = NULL}};

static const ah_flag_t deregister_flags[] = {
    {.name = "id",
     .metavar = "ID",
     .help = "webhook id (from register or list)",
     .opts = AH_FLAG_REQUIRED},
    {.name = "trigger",
     .metavar = "TRIGGER",
     .help = "its triggerMetaInfoId",
     .opts = AH_FLAG_REQUIRED},
    {.name = "url", .metavar = "URL", .help = "its url", .opts = AH_FLAG_REQUIRED},
    BASE_FLAGS,
    KEY_FLAGS(AH_FLAG_REQUIRED),
    {.name = NULL}};

static const ah_flag_t test_flags[] = {
    {.name = "trigger",
     .metavar = "TRIGGER",
     .help = "triggerMetaInfoId whose sample to send (default: the webhook's own)"},
    {.name = "wait",
     .metavar = "DURATION",
     .def = "30s",
     .help = "how long to wait for the first attempt (0: do not wait)"},
    TOKEN_FLAG,
    BASE_FLAGS,
    KEY_FLAGS(0),
    {.name = NULL}};

static const ah_cmd_t public_cmds[] = {
    {"auth", NULL, NULL, 0, "Exchange the key pair for an access token (POST /auth).", keyed_flags,
     cmd_auth},
    {"webhooks", "register", NULL, 0, "Subscribe a URL to a trigger (webhook-register).",
     register_flags, webhooks_register},
    {"webhooks", "list", NULL, 0, "List active webhooks (webhook-list; gets a token itself).",
     list_flags, webhooks_list},
    {"webhooks", "deregister", NULL, 0, "Unsubscribe a webhook (webhook-deregister).",
     deregister_flags, webhooks_deregister},
    {"webhooks", "test", "WEBHOOK_ID", 1,
     "Send a test delivery to one of your webhooks and print its first attempt.\n"
     "\n"
     "The server sends the sample payload of the webhook's trigger to that webhook only,\n"
     "signed and retried like any delivery (POST {base}/airhook/v1/webhooks/ID/test);\n"
     "the command then polls the delivery (GET {base}/airhook/v1/deliveries/DELIVERY_ID)\n"
     "until its first attempt is recorded, at most --wait, and prints it: status,\n"
     "duration, error, the start of the response, and whether a retry is pending.\n"
     "\n"
     "exit status: 0 the attempt succeeded (2xx; or --wait 0 and the test was queued),\n"
     "1 it failed or the server refused the test, 2 usage, 3 no attempt within --wait\n"
     "or no server.\n"
     "\n"
     "examples:\n"
     "  airhook webhooks test 3f0c5a9e-1d2b-4c3d-8e4f-5a6b7c8d9e0f\n"
     "  airhook webhooks test ID --trigger trigger.airmeet.created --wait 1m",
     test_flags, webhooks_test},
    {"sample", NULL, "TRIGGER", 1, "Show the payload a delivery of TRIGGER carries.", keyed_flags,
     cmd_sample},
};

const ah_cmd_table_t ah_public_cmds = {public_cmds, AH_ARRAY_LEN(public_cmds)};
