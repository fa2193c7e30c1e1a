/* SPDX-License-Identifier: MIT */
/*
 * cmd_admin.c: the operator's subcommands, clients of the admin API.
 *
 * `airhook community|keys|airmeet|session ...` each become one request to
 * {server}/admin/v1/... with `Authorization: Bearer <admin token>`, paths and
 * bodies as docs/CONVENTIONS.md fixes them.  The table at the bottom is the
 * whole command-line surface: client.c parses flags from it, and main.c lists
 * it in `airhook help`.  Each run function only turns parsed flags into a
 * path and a JSON body and hands them to admin_call().
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "common/util.h"

/* Sends one admin request (body may be NULL) and prints the answer. */
static int admin_call(const ah_args_t *args, const char *method, const char *path, json_t *body)
{
    ah_http_response_t resp = {0};
    int rc = ah_admin_request(args, method, path, NULL, body, &resp);
    if (!rc)
        rc = ah_print_response(&resp);
    ah_http_response_free(&resp);
    return rc;
}

/* admin_call() with path PREFIX/ID/SUFFIX, the id percent-encoded. */
static int admin_call_id(const ah_args_t *args, const char *method, const char *prefix,
                         const char *id, const char *suffix, json_t *body)
{
    char *esc = ah_url_escape(id);
    char *path = esc ? ah_str_concat(prefix, "/", esc, suffix, (char *)NULL) : NULL;
    int rc = AH_EXIT_HTTP;
    if (path)
        rc = admin_call(args, method, path, body);
    else
        fputs("error: out of memory\n", stderr);
    free(esc);
    free(path);
    return rc;
}

/* Reports a body that ah_json_strings() could not build. */
static int bad_body(const ah_args_t *args)
{
    return ah_usage_error(args, "flag values must be valid UTF-8");
}

static int community_create(const ah_args_t *args)
{
    json_t *body =
        ah_json_strings("name", ah_arg(args, "name"), "id", ah_arg(args, "id"), (char *)NULL);
    if (!body)
        return bad_body(args);
    int rc = admin_call(args, "POST", "/communities", body);
    json_decref(body);
    return rc;
}

static int community_list(const ah_args_t *args)
{
    return admin_call(args, "GET", "/communities", NULL);
}

static int community_show(const ah_args_t *args)
{
    return admin_call_id(args, "GET", "/communities", args->pos[0], "", NULL);
}

static int community_quotas(const ah_args_t *args)
{
    return admin_call_id(args, "GET", "/communities", args->pos[0], "/quotas", NULL);
}

/* The quota flags of set-quotas and the admin API's names for them (api/quota.c). */
static const char *const quota_flags[][2] = {
    {"max-webhooks", "maxWebhooks"},
    {"max-url-bytes", "maxUrlBytes"},
    {"max-name-bytes", "maxNameBytes"},
    {"max-description-bytes", "maxDescriptionBytes"},
    {"register-rate", "registrationsPerMinute"},
};

/*
 * PATCH /admin/v1/communities/{ID}/quotas with the quotas given: a number
 * sets one, "default" clears it (JSON null: the server's setting applies).
 */
static int community_set_quotas(const ah_args_t *args)
{
    json_t *body = json_object();
    if (!body)
        return bad_body(args);
    int rc = AH_EXIT_OK;
    for (size_t i = 0; i < AH_ARRAY_LEN(quota_flags) && rc == AH_EXIT_OK; i++) {
        const char *v = ah_arg(args, quota_flags[i][0]);
        int64_t n;
        if (!v)
            continue;
        if (!strcmp(v, "default")) {
            json_object_set_new(body, quota_flags[i][1], json_null());
        } else if (ah_parse_i64(v, INT64_MIN, INT64_MAX, &n) == 0) {
            json_object_set_new(body, quota_flags[i][1], json_integer(n));
        } else {
            char what[160];
            snprintf(what, sizeof what, "--%s takes a number or 'default', not '%.40s'",
                     quota_flags[i][0], v);
            rc = ah_usage_error(args, what);
        }
    }
    if (rc == AH_EXIT_OK && json_object_size(body) == 0)
        rc = ah_usage_error(args, "give at least one quota to set, such as --max-webhooks 500");
    if (rc == AH_EXIT_OK)
        rc = admin_call_id(args, "PATCH", "/communities", args->pos[0], "/quotas", body);
    json_decref(body);
    return rc;
}

static int keys_create(const ah_args_t *args)
{
    json_t *body = ah_json_strings("label", ah_arg(args, "label"), (char *)NULL);
    if (!body)
        return bad_body(args);
    int rc = admin_call_id(args, "POST", "/communities", ah_arg(args, "community"), "/access-keys",
                           body);
    json_decref(body);
    return rc;
}

static int keys_list(const ah_args_t *args)
{
    return admin_call_id(args, "GET", "/communities", ah_arg(args, "community"), "/access-keys",
                         NULL);
}

static int keys_revoke(const ah_args_t *args)
{
    return admin_call_id(args, "DELETE", "/access-keys", args->pos[0], "", NULL);
}

static int airmeet_create(const ah_args_t *args)
{
    char start_buf[AH_TIME_SIZE], end_buf[AH_TIME_SIZE];
    const char *start, *end;
    int rc = ah_arg_time(args, "start", start_buf, &start);
    if (!rc)
        rc = ah_arg_time(args, "end", end_buf, &end);
    if (rc)
        return rc;
    json_t *body =
        ah_json_strings("communityId", ah_arg(args, "community"), "name", ah_arg(args, "name"),
                        "id", ah_arg(args, "id"), "startTime", start, "endTime", end, (char *)NULL);
    if (!body)
        return bad_body(args);
    rc = admin_call(args, "POST", "/airmeets", body);
    json_decref(body);
    return rc;
}

static int session_create(const ah_args_t *args)
{
    json_t *body =
        ah_json_strings("name", ah_arg(args, "name"), "id", ah_arg(args, "id"), (char *)NULL);
    if (!body)
        return bad_body(args);
    int rc = admin_call_id(args, "POST", "/airmeets", ah_arg(args, "airmeet"), "/sessions", body);
    json_decref(body);
    return rc;
}

static const ah_flag_t community_create_flags[] = {
    {.name = "name", .metavar = "NAME", .help = "community name", .opts = AH_FLAG_REQUIRED},
    {.name = "id", .metavar = "ID", .help = "choose the id (a UUID) instead of a fresh one"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t admin_only_flags[] = {ADMIN_COMMON_FLAGS, {.name = NULL}};

static const ah_flag_t set_quotas_flags[] = {
    {.name = "max-webhooks", .metavar = "N", .help = "active webhooks (or 'default')"},
    {.name = "max-url-bytes", .metavar = "N", .help = "bytes of a webhook url (or 'default')"},
    {.name = "max-name-bytes",
     .metavar = "N",
     .help = "bytes of a name and platformName (or 'default')"},
    {.name = "max-description-bytes",
     .metavar = "N",
     .help = "bytes of a description (or 'default')"},
    {.name = "register-rate",
     .metavar = "N",
     .help = "registrations per access key per minute, 0 = no limit (or 'default')"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t keys_create_flags[] = {{.name = "community",
                                               .metavar = "ID",
                                               .help = "community that owns the key",
                                               .opts = AH_FLAG_REQUIRED},
                                              {.name = "label",
                                               .metavar = "LABEL",
                                               .help = "label shown as createdBy on webhooks",
                                               .opts = AH_FLAG_REQUIRED},
                                              ADMIN_COMMON_FLAGS,
                                              {.name = NULL}};

static const ah_flag_t keys_list_flags[] = {{.name = "community",
                                             .metavar = "ID",
                                             .help = "community whose keys to list",
                                             .opts = AH_FLAG_REQUIRED},
                                            ADMIN_COMMON_FLAGS,
                                            {.name = NULL}};

static const ah_flag_t airmeet_create_flags[] = {
    {.name = "community",
     .metavar = "ID",
     .help = "community that owns the airmeet",
     .opts = AH_FLAG_REQUIRED},
    {.name = "name", .metavar = "NAME", .help = "airmeet name", .opts = AH_FLAG_REQUIRED},
    {.name = "id", .metavar = "ID", .help = "choose the id (a UUID) instead of a fresh one"},
    {.name = "start", .metavar = "TIME", .help = "start time: RFC 3339 or unix seconds"},
    {.name = "end", .metavar = "TIME", .help = "end time: RFC 3339 or unix seconds"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t session_create_flags[] = {
    {.name = "airmeet",
     .metavar = "ID",
     .help = "airmeet the session belongs to",
     .opts = AH_FLAG_REQUIRED},
    {.name = "name", .metavar = "NAME", .help = "session name", .opts = AH_FLAG_REQUIRED},
    {.name = "id", .metavar = "ID", .help = "choose the id (a UUID) instead of a fresh one"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_cmd_t admin_cmds[] = {
    {"community", "create", NULL, 0, "Create a community (a tenant that owns keys and airmeets).",
     community_create_flags, community_create},
    {"community", "list", NULL, 0, "List every community.", admin_only_flags, community_list},
    {"community", "show", "COMMUNITY_ID", 1,
     "Show a community, its active webhooks and the quotas that apply to it.", admin_only_flags,
     community_show},
    {"community", "quotas", "COMMUNITY_ID", 1,
     "Show a community's quotas: what applies, its own, and this server's defaults.",
     admin_only_flags, community_quotas},
    {"community", "set-quotas", "COMMUNITY_ID", 1,
     "Set a community's own quotas (a number, or 'default' for the server's setting).",
     set_quotas_flags, community_set_quotas},
    {"keys", "create", NULL, 0,
     "Issue an access/secret key pair for a community (the secret is shown once).",
     keys_create_flags, keys_create},
    {"keys", "list", NULL, 0, "List a community's key pairs (without secrets).", keys_list_flags,
     keys_list},
    {"keys", "revoke", "KEY_ID", 1, "Revoke a key pair by its id (not its accessKey).",
     admin_only_flags, keys_revoke},
    {"airmeet", "create", NULL, 0, "Create an airmeet (an event) in a community.",
     airmeet_create_flags, airmeet_create},
    {"session", "create", NULL, 0, "Create a session inside an airmeet.", session_create_flags,
     session_create},
};

const ah_cmd_table_t ah_admin_cmds = {admin_cmds, AH_ARRAY_LEN(admin_cmds)};
