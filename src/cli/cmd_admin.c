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
#include <stdio.h>
#include <stdlib.h>

#include "cli/client.h"
#include "common/util.h"

/* Sends one admin request (body may be NULL) and prints the answer. */
static int admin_call(const ah_args_t *args, const char *method, const char *path, json_t *body)
{
    char *server = NULL, *url = NULL, *auth = NULL, *text = NULL;
    int rc = ah_base_url(args, "server", &server);
    if (rc)
        goto out;
    url = ah_str_concat(server, "/admin/v1", path, (char *)NULL);
    auth = ah_str_concat("Bearer ", ah_arg(args, "admin-token"), (char *)NULL);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (!url || !auth || (body && !text)) {
        fputs("error: out of memory\n", stderr);
        rc = AH_EXIT_HTTP;
        goto out;
    }
    const ah_http_header_t headers[] = {{"Authorization", auth}};
    const ah_http_request_t req = {method, url, headers, AH_ARRAY_LEN(headers), text};
    rc = ah_http_run(&req);
out:
    free(server);
    free(url);
    free(auth);
    free(text);
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

/* Copies flag `flag` (a time) into out as a wire timestamp; NULL if unset. */
static int wire_time(const ah_args_t *args, const char *flag, char out[AH_TIME_SIZE],
                     const char **result)
{
    const char *value = ah_arg(args, flag);
    int64_t ms;
    *result = NULL;
    if (!value)
        return AH_EXIT_OK;
    if (ah_parse_time(value, &ms) != 0) {
        char what[256];
        if (snprintf(what, sizeof(what),
                     "--%s '%.100s' is not a time (RFC 3339 such as "
                     "2024-05-01T10:00:00Z, or unix seconds)",
                     flag, value) < 0)
            what[0] = '\0';
        return ah_usage_error(args, what);
    }
    ah_format_time(ms, out);
    *result = out;
    return AH_EXIT_OK;
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
    int rc = wire_time(args, "start", start_buf, &start);
    if (!rc)
        rc = wire_time(args, "end", end_buf, &end);
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
