/* SPDX-License-Identifier: MIT */
/*
 * cmd_catalog.c: the trigger catalog and the event details the scope
 * endpoints answer, from the command line.
 *
 * `airhook triggers list|show|sample|add|update|retire|restore|hide|unhide`
 * are clients of the admin API's /admin/v1/triggers (the catalog a running
 * server has: the built-in triggers and the operator's); `airhook triggers
 * doc` needs no server: it prints the generated part of docs/triggers.md
 * from the catalog compiled into this binary (`make triggers-doc` writes it
 * into the file).  `airhook airmeet update` and `airhook session update`
 * set what GET /api/v1/airmeets and /api/v1/airmeet/{id}/info answer
 * (PATCH /admin/v1/airmeets/{id}, /admin/v1/sessions/{id}).
 *
 * A JSON flag (--sample, --schema) takes the JSON itself, @FILE for a
 * file's, or - for standard input's.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/triggers.h"
#include "cli/client.h"
#include "common/util.h"

/* admin_request and print its answer (ah_print_response's exit code). */
static int admin_run(const ah_args_t *args, const char *method, const char *prefix, const char *id,
                     json_t *body)
{
    ah_http_response_t resp = {0};
    int rc = ah_admin_request(args, method, prefix, id, body, &resp);
    if (!rc)
        rc = ah_print_response(&resp);
    if (id && resp.status == 404 && strcmp(prefix, "/triggers") == 0)
        ah_suggest_server_triggers(args, id);
    ah_http_response_free(&resp);
    return rc;
}

/*
 * The JSON of flag `flag` into *out (a new reference; NULL when unset):
 * the value itself, @FILE's content, or standard input's for "-".
 */
static int json_flag(const ah_args_t *args, const char *flag, json_t **out)
{
    const char *v = ah_arg(args, flag);
    json_error_t jerr;
    *out = NULL;
    if (!v)
        return AH_EXIT_OK;
    if (v[0] == '@')
        *out = json_load_file(v + 1, JSON_REJECT_DUPLICATES, &jerr);
    else if (strcmp(v, "-") == 0)
        *out = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
    else
        *out = json_loads(v, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (*out)
        return AH_EXIT_OK;
    char what[400];
    snprintf(what, sizeof what, "--%s is not JSON (%.40s%s): %.200s (line %d, column %d)", flag, v,
             strlen(v) > 40 ? "..." : "", jerr.text, jerr.line, jerr.column);
    return ah_usage_error(args, what);
}

/* The body of triggers add/update from their flags; NULL after a usage error (*rc). */
static json_t *trigger_body(const ah_args_t *args, bool with_id, int *rc)
{
    json_t *sample = NULL, *schema = NULL;
    json_t *body =
        ah_json_strings("id", with_id ? ah_arg(args, "id") : NULL, "description",
                        ah_arg(args, "description"), "airmeetId", ah_arg(args, "airmeet-scope"),
                        "sessionId", ah_arg(args, "session-scope"), (char *)NULL);
    if (!body) {
        *rc = ah_usage_error(args, "flag values must be valid UTF-8");
        return NULL;
    }
    if ((*rc = json_flag(args, "sample", &sample)) || (*rc = json_flag(args, "schema", &schema))) {
        json_decref(body);
        json_decref(sample);
        return NULL;
    }
    if (sample)
        json_object_set_new(body, "samplePayload", sample);
    if (schema)
        json_object_set_new(body, "schema", schema);
    const char *no_schema = ah_arg(args, "no-schema");
    if (no_schema && strcmp(no_schema, "true") == 0)
        json_object_set_new(body, "schema", json_null());
    return body;
}

/* The state column of a trigger in the table: in use, hidden or retired. */
static const char *trigger_state(json_t *t)
{
    if (json_is_true(json_object_get(t, "hidden")))
        return "hidden";
    if (json_is_true(json_object_get(t, "retired")))
        return "retired";
    return json_is_true(json_object_get(t, "builtin")) ? "built-in" : "operator";
}

/*
 * GET /admin/v1/triggers as a table: one line per trigger with its scope
 * rules, its state and when it fires.
 */
static int print_trigger_table(const ah_http_response_t *resp)
{
    json_t *doc = json_loadb(resp->body, resp->len, 0, NULL);
    json_t *list = json_object_get(doc, "triggers");
    if (!json_is_array(list)) {
        json_decref(doc);
        fputs("error: the server's answer has no triggers list\n", stderr);
        return AH_EXIT_HTTP;
    }
    int width = (int)strlen("TRIGGER");
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        if (id && (int)strlen(id) > width)
            width = (int)strlen(id);
    }
    printf("%-*s  %-9s %-9s %-9s %s\n", width, "TRIGGER", "AIRMEETID", "SESSIONID", "STATE",
           "FIRES WHEN");
    json_array_foreach(list, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const char *am = json_string_value(json_object_get(t, "airmeetId"));
        const char *ss = json_string_value(json_object_get(t, "sessionId"));
        const char *desc = json_string_value(json_object_get(t, "description"));
        printf("%-*s  %-9s %-9s %-9s %s\n", width, id ? id : "?", am ? am : "?", ss ? ss : "?",
               trigger_state(t), desc ? desc : "");
    }
    puts("\nAIRMEETID / SESSIONID: what webhook-register takes for that trigger: required,\n"
         "optional, or none (refused).  A webhook hears events of its airmeet (and session)\n"
         "when it was registered with one, else of every airmeet of its community.");
    json_decref(doc);
    return AH_EXIT_OK;
}

static int triggers_list(const ah_args_t *args)
{
    const char *format = ah_arg(args, "format");
    bool table = format && strcmp(format, "table") == 0;
    if (format && !table && strcmp(format, "json") != 0)
        return ah_usage_error(args, "--format is json or table");
    if (!table)
        return admin_run(args, "GET", "/triggers", NULL, NULL);
    ah_http_response_t resp = {0};
    int rc = ah_admin_request(args, "GET", "/triggers", NULL, NULL, &resp);
    if (!rc)
        rc = resp.status == 200 ? print_trigger_table(&resp) : ah_print_response(&resp);
    ah_http_response_free(&resp);
    return rc;
}

static int triggers_show(const ah_args_t *args)
{
    return admin_run(args, "GET", "/triggers", args->pos[0], NULL);
}

/* Prints only the trigger's sample body: what a delivery of it POSTs. */
static int triggers_sample(const ah_args_t *args)
{
    json_t *sample = NULL;
    int rc = ah_cli_trigger_sample(args, args->pos[0], &sample);
    if (rc)
        return rc;
    char *text = json_dumps(sample, JSON_INDENT(2) | JSON_ENCODE_ANY);
    json_decref(sample);
    if (!text) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    puts(text);
    free(text);
    return AH_EXIT_OK;
}

static int triggers_add(const ah_args_t *args)
{
    int rc = AH_EXIT_OK;
    json_t *body = trigger_body(args, true, &rc);
    if (!body)
        return rc;
    rc = admin_run(args, "POST", "/triggers", NULL, body);
    json_decref(body);
    return rc;
}

static int triggers_update(const ah_args_t *args)
{
    int rc = AH_EXIT_OK;
    json_t *body = trigger_body(args, false, &rc);
    if (!body)
        return rc;
    if (json_object_size(body) == 0)
        rc = ah_usage_error(args, "give at least one thing to change, such as --description");
    else
        rc = admin_run(args, "PATCH", "/triggers", args->pos[0], body);
    json_decref(body);
    return rc;
}

/* PATCH /admin/v1/triggers/ID {field: value}. */
static int triggers_flag(const ah_args_t *args, const char *field, bool value)
{
    json_t *body = json_pack("{s:b}", field, value);
    int rc = body ? admin_run(args, "PATCH", "/triggers", args->pos[0], body) : AH_EXIT_HTTP;
    json_decref(body);
    return rc;
}

static int triggers_retire(const ah_args_t *args)
{
    return admin_run(args, "DELETE", "/triggers", args->pos[0], NULL);
}

static int triggers_restore(const ah_args_t *args)
{
    return triggers_flag(args, "retired", false);
}

static int triggers_hide(const ah_args_t *args)
{
    return triggers_flag(args, "hidden", true);
}

static int triggers_unhide(const ah_args_t *args)
{
    return triggers_flag(args, "hidden", false);
}

static int triggers_doc(const ah_args_t *args)
{
    (void)args;
    const char *problem = ah_triggers_problem();
    if (problem) {
        fprintf(stderr, "error: the compiled-in catalog is unusable: %s\n", problem);
        return AH_EXIT_HTTP;
    }
    char *md = ah_triggers_markdown();
    if (!md) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    fputs(md, stdout);
    free(md);
    return AH_EXIT_OK;
}

static int airmeet_update(const ah_args_t *args)
{
    char start_buf[AH_TIME_SIZE], end_buf[AH_TIME_SIZE];
    const char *start, *end;
    int rc = ah_arg_time(args, "start", start_buf, &start);
    if (!rc)
        rc = ah_arg_time(args, "end", end_buf, &end);
    if (rc)
        return rc;
    json_t *body =
        ah_json_strings("name", ah_arg(args, "name"), "status", ah_arg(args, "status"), "timezone",
                        ah_arg(args, "timezone"), "description", ah_arg(args, "description"),
                        "startTime", start, "endTime", end, (char *)NULL);
    if (!body)
        return ah_usage_error(args, "flag values must be valid UTF-8");
    if (json_object_size(body) == 0)
        rc = ah_usage_error(args, "give at least one field to set, such as --status ONGOING");
    else
        rc = admin_run(args, "PATCH", "/airmeets", args->pos[0], body);
    json_decref(body);
    return rc;
}

static int airmeet_show(const ah_args_t *args)
{
    return admin_run(args, "GET", "/airmeets", args->pos[0], NULL);
}

static int session_update(const ah_args_t *args)
{
    char start_buf[AH_TIME_SIZE];
    const char *start;
    int rc = ah_arg_time(args, "start", start_buf, &start);
    if (rc)
        return rc;
    json_t *body = ah_json_strings("name", ah_arg(args, "name"), "status", ah_arg(args, "status"),
                                   "summary", ah_arg(args, "summary"), "type", ah_arg(args, "type"),
                                   "startTime", start, (char *)NULL);
    if (!body)
        return ah_usage_error(args, "flag values must be valid UTF-8");
    const char *duration = ah_arg(args, "duration");
    int64_t minutes;
    if (duration) {
        if (ah_parse_i64(duration, 0, INT32_MAX, &minutes) != 0) {
            json_decref(body);
            return ah_usage_error(args, "--duration takes whole minutes, such as 45");
        }
        json_object_set_new(body, "duration", json_integer(minutes));
    }
    if (json_object_size(body) == 0)
        rc = ah_usage_error(args, "give at least one field to set, such as --status ONGOING");
    else
        rc = admin_run(args, "PATCH", "/sessions", args->pos[0], body);
    json_decref(body);
    return rc;
}

static int session_show(const ah_args_t *args)
{
    return admin_run(args, "GET", "/sessions", args->pos[0], NULL);
}

/* clang-format off */
#define TRIGGER_FIELD_FLAGS                                                                        \
    {.name = "description", .metavar = "TEXT", .help = "when the trigger fires (one sentence)"},  \
    {.name = "airmeet-scope", .metavar = "RULE",                                                   \
     .help = "airmeetId at registration: none, optional or required"},                             \
    {.name = "session-scope", .metavar = "RULE",                                                   \
     .help = "sessionId at registration: none, optional or required"},                             \
    {.name = "sample", .metavar = "JSON",                                                          \
     .help = "sample body: JSON, @FILE or - (standard input)"},                                    \
    {.name = "schema", .metavar = "JSON",                                                          \
     .help = "JSON Schema an event's data must satisfy: JSON, @FILE or -"}
/* clang-format on */

static const ah_flag_t only_admin_flags[] = {ADMIN_COMMON_FLAGS, {.name = NULL}};
static const ah_flag_t list_flags[] = {
    {.name = "format",
     .metavar = "FORMAT",
     .def = "json",
     .help = "json (the server's answer) or table (one line each, with the scope rules)",
     .bare = "table"}, /* `airhook triggers` alone: the table */
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};
static const ah_flag_t no_flags[] = {{.name = NULL}};

static const ah_flag_t add_flags[] = {
    {.name = "id", .metavar = "ID", .help = "the triggerMetaInfoId", .opts = AH_FLAG_REQUIRED},
    TRIGGER_FIELD_FLAGS,
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t update_flags[] = {
    TRIGGER_FIELD_FLAGS,
    {.name = "no-schema", .metavar = "true", .help = "true: drop the trigger's schema"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t airmeet_update_flags[] = {
    {.name = "name", .metavar = "NAME", .help = "airmeet name"},
    {.name = "status", .metavar = "STATUS", .help = "CREATED, ONGOING, FINISHED, ..."},
    {.name = "timezone", .metavar = "TZ", .help = "IANA time zone, such as Asia/Kolkata"},
    {.name = "description", .metavar = "TEXT", .help = "what the event is about"},
    {.name = "start", .metavar = "TIME", .help = "start time: RFC 3339 or unix seconds"},
    {.name = "end", .metavar = "TIME", .help = "end time: RFC 3339 or unix seconds"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t session_update_flags[] = {
    {.name = "name", .metavar = "NAME", .help = "session name"},
    {.name = "status", .metavar = "STATUS", .help = "CREATED, ONGOING, FINISHED, ..."},
    {.name = "start", .metavar = "TIME", .help = "start time: RFC 3339 or unix seconds"},
    {.name = "duration", .metavar = "MINUTES", .help = "length in minutes"},
    {.name = "summary", .metavar = "TEXT", .help = "what the session is about"},
    {.name = "type", .metavar = "TYPE", .help = "HOSTING, BREAK, FLUID_LOUNGE, ..."},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_cmd_t catalog_cmds[] = {
    {"triggers", "list", NULL, 0,
     "List the server's triggers: built-in and the operator's.\n"
     "\n"
     "--format table prints one line per trigger: its id, whether webhook-register\n"
     "requires, allows (optional) or refuses (none) an airmeetId and a sessionId for it,\n"
     "its state (built-in, operator, hidden, retired) and when it fires.  The default,\n"
     "json, prints GET /admin/v1/triggers' answer as it is, for scripts.\n"
     "`airhook triggers` alone is `airhook triggers list --format table`.\n"
     "\n"
     "examples:\n"
     "  airhook triggers list --format table\n"
     "  airhook triggers list | jq -r '.triggers[].id'",
     list_flags, triggers_list},
    {"triggers", "show", "TRIGGER", 1, "Show a trigger: scope rules, sample body, schema.",
     only_admin_flags, triggers_show},
    {"triggers", "sample", "TRIGGER", 1, "Print the body a delivery of TRIGGER carries.",
     only_admin_flags, triggers_sample},
    {"triggers", "add", NULL, 0, "Add a trigger of the operator's own.", add_flags, triggers_add},
    {"triggers", "update", "TRIGGER", 1, "Change an operator's trigger.", update_flags,
     triggers_update},
    {"triggers", "retire", "TRIGGER", 1,
     "Retire an operator's trigger: no more registrations or events.", only_admin_flags,
     triggers_retire},
    {"triggers", "restore", "TRIGGER", 1, "Bring a retired trigger back.", only_admin_flags,
     triggers_restore},
    {"triggers", "hide", "TRIGGER", 1, "Hide a built-in trigger (it cannot be removed).",
     only_admin_flags, triggers_hide},
    {"triggers", "unhide", "TRIGGER", 1, "Show a hidden built-in trigger again.", only_admin_flags,
     triggers_unhide},
    {"triggers", "doc", NULL, 0, "Print the generated part of docs/triggers.md (no server needed).",
     no_flags, triggers_doc},
    {"airmeet", "show", "AIRMEET_ID", 1, "Show an airmeet.", only_admin_flags, airmeet_show},
    {"airmeet", "update", "AIRMEET_ID", 1,
     "Set an airmeet's name, status, time zone, description or times.", airmeet_update_flags,
     airmeet_update},
    {"session", "show", "SESSION_ID", 1, "Show a session.", only_admin_flags, session_show},
    {"session", "update", "SESSION_ID", 1,
     "Set a session's name, status, start, duration, summary or type.", session_update_flags,
     session_update},
};

const ah_cmd_table_t ah_catalog_cmds = {catalog_cmds, AH_ARRAY_LEN(catalog_cmds)};
