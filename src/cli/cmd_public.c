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

#include "cli/client.h"
#include "common/util.h"

#define API_PREFIX "/platform-integration/v1"

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

/* Sends a key-pair request; body may be NULL.  Prints the answer. */
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
    if (trigger && resp.status == 400 && resp.body &&
        strstr(resp.body, "unknown triggerMetaInfoId"))
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
    {.name = "token",
     .metavar = "TOKEN",
     .env = "AIRHOOK_TOKEN",
     .help = "token from /auth (default: fetch one with the key pair)"},
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

static const ah_cmd_t public_cmds[] = {
    {"auth", NULL, NULL, 0, "Exchange the key pair for an access token (POST /auth).", keyed_flags,
     cmd_auth},
    {"webhooks", "register", NULL, 0, "Subscribe a URL to a trigger (webhook-register).",
     register_flags, webhooks_register},
    {"webhooks", "list", NULL, 0, "List active webhooks (webhook-list; gets a token itself).",
     list_flags, webhooks_list},
    {"webhooks", "deregister", NULL, 0, "Unsubscribe a webhook (webhook-deregister).",
     deregister_flags, webhooks_deregister},
    {"sample", NULL, "TRIGGER", 1, "Show the payload a delivery of TRIGGER carries.", keyed_flags,
     cmd_sample},
};

const ah_cmd_table_t ah_public_cmds = {public_cmds, AH_ARRAY_LEN(public_cmds)};
