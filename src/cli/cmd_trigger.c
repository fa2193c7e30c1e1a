/* SPDX-License-Identifier: MIT */
/*
 * cmd_trigger.c: `airhook trigger TRIGGER`, a test event made from the
 * trigger's sample payload, and the "did you mean" of unknown triggers.
 *
 * The command is three admin requests: GET /admin/v1/triggers/{id} for the
 * sample (so the operator's own triggers work as well as the built-in
 * ones), the edits of --data-file and --set applied locally, then
 * POST /admin/v1/events, whose answer (eventId, deliveries) it prints.  When
 * the first request answers 404 the trigger is unknown: GET
 * /admin/v1/triggers gives the names to suggest from.
 *
 * The --set edits are json_set.c's (ah_json_set_path).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/triggers.h"
#include "cli/client.h"
#include "cli/json_set.h"
#include "cli/suggest.h"
#include "common/util.h"

#define WHY_SIZE 512

/* ---- suggestions ---------------------------------------------------------- */

bool ah_unknown_trigger_answer(const ah_http_response_t *resp)
{
    return resp->status == 400 && resp->body && strstr(resp->body, "unknown triggerMetaInfoId");
}

void ah_suggest_server_triggers(const ah_args_t *args, const char *id)
{
    ah_http_response_t resp = {0};
    json_t *doc = NULL;
    const char **names = NULL;
    if (ah_admin_request(args, "GET", "/triggers", NULL, NULL, &resp) || resp.status != 200)
        goto out;
    doc = json_loadb(resp.body, resp.len, 0, NULL);
    json_t *list = json_object_get(doc, "triggers");
    size_t n = json_array_size(list);
    names = n ? calloc(n, sizeof *names) : NULL;
    if (!names)
        goto out;
    for (size_t i = 0; i < n; i++)
        names[i] = json_string_value(json_object_get(json_array_get(list, i), "id"));
    ah_suggest_print(stderr, id, names, n);
out:
    free(names);
    json_decref(doc);
    ah_http_response_free(&resp);
}

int ah_cli_trigger_sample(const ah_args_t *args, const char *id, json_t **out)
{
    *out = NULL;
    ah_http_response_t resp = {0};
    int rc = ah_admin_request(args, "GET", "/triggers", id, NULL, &resp);
    if (rc)
        goto done;
    if (resp.status != 200) {
        rc = ah_print_response(&resp);
        if (resp.status == 404)
            ah_suggest_server_triggers(args, id);
        goto done;
    }
    json_t *doc = json_loadb(resp.body, resp.len, 0, NULL);
    *out = json_incref(json_object_get(doc, "samplePayload"));
    json_decref(doc);
    if (!*out) {
        fputs("error: the server's answer has no samplePayload\n", stderr);
        rc = AH_EXIT_HTTP;
    }
done:
    ah_http_response_free(&resp);
    return rc;
}

void ah_suggest_builtin_triggers(const char *id)
{
    size_t n = 0;
    const ah_trigger_t *t = ah_triggers(&n);
    const char **names = n ? calloc(n, sizeof *names) : NULL;
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        names[i] = t[i].id;
    ah_suggest_print(stderr, id, names, n);
    free(names);
}

/* ---- the command ------------------------------------------------------------ */

/* The payload to send: --data-file's JSON, else the server's sample of the trigger. */
static int load_payload(const ah_args_t *args, json_t **out)
{
    *out = NULL;
    const char *file = ah_arg(args, "data-file");
    if (file) {
        json_error_t jerr;
        *out = strcmp(file, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                      : json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
        char why[WHY_SIZE];
        if (!*out) {
            snprintf(why, sizeof why, "--data-file %.200s is not JSON: %.200s (line %d, column %d)",
                     file, jerr.text, jerr.line, jerr.column);
            return ah_usage_error(args, why);
        }
        return AH_EXIT_OK;
    }
    return ah_cli_trigger_sample(args, args->pos[0], out);
}

/* The POST /admin/v1/events body around data (a new reference); NULL after a usage error. */
static json_t *event_body(const ah_args_t *args, json_t *data, int *rc)
{
    json_t *body = ah_json_strings("communityId", ah_arg(args, "community"), "triggerMetaInfoId",
                                   args->pos[0], "airmeetId", ah_arg(args, "airmeet"), "sessionId",
                                   ah_arg(args, "session"), (char *)NULL);
    if (!body) {
        *rc = ah_usage_error(args, "flag values must be valid UTF-8");
        return NULL;
    }
    if (json_object_set(body, "data", data)) {
        json_decref(body);
        *rc = AH_EXIT_HTTP;
        fputs("error: out of memory\n", stderr);
        return NULL;
    }
    return body;
}

/* Prints "event ID: N deliveries" from a 202 answer. */
static int print_published(const ah_http_response_t *resp)
{
    json_t *doc = json_loadb(resp->body, resp->len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "eventId"));
    json_t *n = json_object_get(doc, "deliveries");
    int rc = AH_EXIT_OK;
    if (id && json_is_integer(n)) {
        json_int_t k = json_integer_value(n);
        printf("event %s: %" JSON_INTEGER_FORMAT " deliver%s%s\n", id, k, k == 1 ? "y" : "ies",
               json_is_true(json_object_get(doc, "duplicate")) ? " (a duplicate)" : "");
    } else {
        fputs("error: the server's answer has no eventId and deliveries\n", stderr);
        rc = AH_EXIT_HTTP;
    }
    json_decref(doc);
    return rc;
}

static int trigger_publish(const ah_args_t *args)
{
    json_t *data = NULL, *body = NULL;
    ah_http_response_t resp = {0};
    int rc = load_payload(args, &data);
    if (rc)
        goto out;
    char why[WHY_SIZE];
    const char *set;
    for (size_t i = 0; (set = ah_arg_nth(args, "set", i)); i++) {
        if (ah_json_set_path(data, set, why, sizeof why)) {
            rc = ah_usage_error(args, why);
            goto out;
        }
    }
    if (!json_is_object(data) && !json_is_array(data)) {
        rc = ah_usage_error(args, "the payload must be a JSON object or array");
        goto out;
    }
    if (!(body = event_body(args, data, &rc)))
        goto out;
    rc = ah_admin_request(args, "POST", "/events", NULL, body, &resp);
    if (rc)
        goto out;
    if (resp.status != 202) {
        rc = ah_print_response(&resp);
        if (ah_unknown_trigger_answer(&resp))
            ah_suggest_server_triggers(args, args->pos[0]);
        goto out;
    }
    rc = print_published(&resp);
out:
    ah_http_response_free(&resp);
    json_decref(body);
    json_decref(data);
    return rc;
}

static const ah_flag_t trigger_flags[] = {
    {.name = "community",
     .metavar = "ID",
     .env = "AIRHOOK_COMMUNITY",
     .help = "community whose webhooks receive the event",
     .opts = AH_FLAG_REQUIRED},
    {.name = "airmeet", .metavar = "ID", .help = "airmeetId of the event"},
    {.name = "session", .metavar = "ID", .help = "sessionId of the event (with --airmeet)"},
    {.name = "set",
     .metavar = "PATH=VALUE",
     .help = "change the payload: buyer.email=ada@example.com, items.0.qty=2; VALUE is JSON "
             "when it parses, else a string",
     .opts = AH_FLAG_REPEAT},
    {.name = "data-file",
     .metavar = "FILE",
     .help = "send FILE's JSON (- for standard input) instead of the sample"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_cmd_t trigger_cmds[] = {
    {"trigger", NULL, "TRIGGER", 1,
     "Publish TRIGGER's sample payload (edited by --set, or --data-file's) as a real event; "
     "prints the event id and its deliveries.\n"
     "\n"
     "The sample is the server's (GET /admin/v1/triggers/TRIGGER), so the operator's own\n"
     "triggers work too; the event goes through POST /admin/v1/events to every matching\n"
     "active webhook of --community, signed, retried and logged like any other.\n"
     "\n"
     "--set PATH=VALUE (repeatable, applied in order): PATH is dotted, a number indexes an\n"
     "array (its length appends), missing members become objects; VALUE is JSON when it\n"
     "parses (42, true, null, [1], {\"a\":1}, \"quoted\") and a string otherwise.\n"
     "\n"
     "Prints `event ID: N deliveries`.  Exit 2 for a bad --set path or --data-file; an\n"
     "unknown TRIGGER exits 1 with the nearest names (did you mean: ...?).\n"
     "\n"
     "examples:\n"
     "  airhook trigger trigger.airmeet.created --community C\n"
     "  airhook trigger trigger.airmeet.registrant.added --airmeet A \\\n"
     "      --set email=ada@example.com --set utmSource=cli\n"
     "  airhook trigger trigger.ticket.sold --data-file order.json --set quantity=3",
     trigger_flags, trigger_publish},
};

const ah_cmd_table_t ah_trigger_cmds = {trigger_cmds, AH_ARRAY_LEN(trigger_cmds)};
