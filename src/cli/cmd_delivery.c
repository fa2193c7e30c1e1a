/* SPDX-License-Identifier: MIT */
/*
 * cmd_delivery.c: the operator's subcommands for events and deliveries,
 * clients of the admin API (docs/CONVENTIONS.md "Events and deliveries").
 *
 * `airhook events publish`, `airhook deliveries list|show|retry` and the
 * admin side of `airhook webhooks` (show, enable, disable, recover,
 * rotate-secret; register/list/deregister live in cmd_public.c, and main.c
 * merges the two tables' rows of a group).  Each becomes one request to
 * {server}/admin/v1/... with `Authorization: Bearer <admin token>`.
 *
 * Publishing is the one delicate part: the server delivers `data` byte for
 * byte as it appears in the request, so the CLI must not let jansson
 * re-serialise it (that would reorder nothing but could change number
 * spelling, escapes and whitespace).  The data text is validated with
 * jansson, trimmed of surrounding whitespace, and spliced verbatim into a
 * body whose other fields jansson did write (publish_body()).
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"
#include "cli/client.h"
#include "common/util.h"

/* The server refuses event bodies over 1 MiB; refuse larger data up front. */
#define DATA_MAX ((size_t)1024 * 1024)
#define WHAT_SIZE 512

static int out_of_memory(void)
{
    fputs("error: out of memory\n", stderr);
    return AH_EXIT_HTTP;
}

/* ---- requests ------------------------------------------------------------ */

/*
 * Sends one admin request with JSON text body (NULL: none) and prints the
 * answer.  trigger (or NULL) is the trigger the request names: a 400
 * "unknown triggerMetaInfoId" answer adds the nearest names.
 */
static int admin_send_about(const ah_args_t *args, const char *method, const char *path,
                            const char *body, const char *trigger)
{
    ah_http_response_t resp = {0};
    int rc = ah_admin_send(args, method, path, body, &resp);
    if (rc)
        return rc;
    rc = ah_print_response(&resp);
    if (trigger && ah_unknown_trigger_answer(&resp))
        ah_suggest_server_triggers(args, trigger);
    ah_http_response_free(&resp);
    return rc;
}

static int admin_send(const ah_args_t *args, const char *method, const char *path, const char *body)
{
    return admin_send_about(args, method, path, body, NULL);
}

/* PREFIX/ID/SUFFIX with the id percent-encoded; caller frees; NULL on OOM. */
static char *id_path(const char *prefix, const char *id, const char *suffix)
{
    char *esc = ah_url_escape(id);
    char *path = esc ? ah_str_concat(prefix, "/", esc, suffix, (char *)NULL) : NULL;
    free(esc);
    return path;
}

/* admin_send() to PREFIX/ID/SUFFIX. */
static int admin_send_id(const ah_args_t *args, const char *method, const char *prefix,
                         const char *id, const char *suffix, const char *body)
{
    char *path = id_path(prefix, id, suffix);
    if (!path)
        return out_of_memory();
    int rc = admin_send(args, method, path, body);
    free(path);
    return rc;
}

/* Formats a usage message and reports it (exit 2). */
__attribute__((format(printf, 2, 3))) static int usage_fail(const ah_args_t *args, const char *fmt,
                                                            ...)
{
    char what[WHAT_SIZE];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(what, sizeof what, fmt, ap) < 0)
        what[0] = '\0';
    va_end(ap);
    return ah_usage_error(args, what);
}

/* ---- events publish --------------------------------------------------------- */

/*
 * Reads all of f into a fresh NUL-terminated buffer (*out, *len), refusing
 * more than DATA_MAX bytes.  Returns 0, or an errno-style code (EFBIG for
 * too large).
 */
static int read_all(FILE *f, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    *out = NULL;
    *len = 0;
    if (!buf)
        return ENOMEM;
    for (;;) {
        if (n + 1 == cap) { /* full: grow, but never past DATA_MAX + 1 bytes of text */
            size_t grown = cap * 2 < DATA_MAX + 2 ? cap * 2 : DATA_MAX + 2;
            char *p = realloc(buf, grown);
            if (!p) {
                free(buf);
                return ENOMEM;
            }
            buf = p;
            cap = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > DATA_MAX) {
            free(buf);
            return EFBIG;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return EIO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* The raw --data text: the literal value, @FILE's content, or stdin for "-". */
static int data_text(const ah_args_t *args, char **out, size_t *len)
{
    const char *v = ah_arg(args, "data");
    if (!v)
        v = "{}";
    if (v[0] != '@' && strcmp(v, "-") != 0) {
        *len = strlen(v);
        *out = ah_str_concat(v, (char *)NULL);
        return *out ? AH_EXIT_OK : out_of_memory();
    }
    const char *name = v[0] == '@' ? v + 1 : "standard input";
    FILE *f = v[0] == '@' ? fopen(v + 1, "rb") : stdin;
    int err = f ? read_all(f, out, len) : errno;
    if (f && f != stdin)
        fclose(f);
    if (err == EFBIG)
        return usage_fail(args, "--data from %.200s is larger than 1 MiB, the server's limit",
                          name);
    if (err)
        return usage_fail(args, "cannot read --data from '%.200s': %s", name, strerror(err));
    return AH_EXIT_OK;
}

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Checks that text[0..*len) is one JSON object or array (duplicate keys
 * refused, as the server does) and trims surrounding whitespace in place.
 */
static int check_data(const ah_args_t *args, char *text, size_t *len)
{
    if (memchr(text, '\0', *len))
        return ah_usage_error(args, "--data contains a NUL byte; it must be JSON text");
    json_error_t jerr;
    json_t *doc = json_loadb(text, *len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return usage_fail(args, "--data is not valid JSON: %s (line %d, column %d)", jerr.text,
                          jerr.line, jerr.column);
    bool ok = json_is_object(doc) || json_is_array(doc);
    json_decref(doc);
    if (!ok)
        return ah_usage_error(args, "--data must be a JSON object or array");
    size_t start = 0, end = *len;
    while (start < end && is_json_space(text[start]))
        start++;
    while (end > start && is_json_space(text[end - 1]))
        end--;
    memmove(text, text + start, end - start);
    text[end - start] = '\0';
    *len = end - start;
    return AH_EXIT_OK;
}

/*
 * Builds the POST /events body: jansson writes the object of the other
 * fields; its closing brace is replaced by `,"data":` + data + `}`, so data
 * (already validated) reaches the server exactly as given.  Caller frees.
 */
static int publish_body(const ah_args_t *args, const char *data, size_t data_len, char **out)
{
    *out = NULL;
    json_t *fields =
        ah_json_strings("communityId", ah_arg(args, "community"), "triggerMetaInfoId", args->pos[0],
                        "airmeetId", ah_arg(args, "airmeet"), "sessionId", ah_arg(args, "session"),
                        "idempotencyKey", ah_arg(args, "idempotency-key"), (char *)NULL);
    if (!fields)
        return ah_usage_error(args, "flag values must be valid UTF-8");
    char *prefix = json_dumps(fields, JSON_COMPACT);
    json_decref(fields);
    if (!prefix)
        return out_of_memory();
    size_t plen = strlen(prefix);
    static const char key[] = "\"data\":";
    /* prefix is "{...}" with at least communityId and the trigger in it. */
    size_t size = (plen - 1) + 1 + (sizeof key - 1) + data_len + 1 + 1; /* , } NUL */
    char *body = plen > 2 && prefix[plen - 1] == '}' ? malloc(size) : NULL;
    if (!body) {
        free(prefix);
        return out_of_memory();
    }
    size_t at = plen - 1;
    memcpy(body, prefix, at);
    body[at++] = ',';
    memcpy(body + at, key, sizeof key - 1);
    at += sizeof key - 1;
    memcpy(body + at, data, data_len);
    at += data_len;
    body[at++] = '}';
    body[at] = '\0';
    free(prefix);
    *out = body;
    return AH_EXIT_OK;
}

static int events_publish(const ah_args_t *args)
{
    char *data = NULL, *body = NULL;
    size_t len = 0;
    int rc = data_text(args, &data, &len);
    if (!rc)
        rc = check_data(args, data, &len);
    if (!rc)
        rc = publish_body(args, data, len, &body);
    if (!rc)
        rc = admin_send_about(args, "POST", "/events", body, args->pos[0]);
    free(data);
    free(body);
    return rc;
}

/* ---- deliveries ------------------------------------------------------------- */

/* Appends ?key=value to the heap string path, freeing it; NULL value: as is. */
static char *with_query(char *path, const char *key, const char *value)
{
    if (!path || !value)
        return path;
    char *out = ah_url_add_query(path, key, value);
    free(path);
    return out;
}

static int deliveries_list(const ah_args_t *args)
{
    const char *webhook = ah_arg(args, "webhook"), *event = ah_arg(args, "event");
    if ((webhook != NULL) == (event != NULL))
        return ah_usage_error(args, "give exactly one of --webhook ID and --event ID");
    char *path = webhook ? id_path("/webhooks", webhook, "/deliveries")
                         : id_path("/events", event, "/deliveries");
    path = with_query(path, "status", ah_arg(args, "status"));
    path = with_query(path, "limit", ah_arg(args, "limit"));
    path = with_query(path, "cursor", ah_arg(args, "cursor"));
    if (!path)
        return out_of_memory();
    int rc = admin_send(args, "GET", path, NULL);
    free(path);
    return rc;
}

static int deliveries_show(const ah_args_t *args)
{
    return admin_send_id(args, "GET", "/deliveries", args->pos[0], "", NULL);
}

static int deliveries_retry(const ah_args_t *args)
{
    return admin_send_id(args, "POST", "/deliveries", args->pos[0], "/retry", NULL);
}

/* ---- webhooks (admin side) ---------------------------------------------- */

static int webhooks_show(const ah_args_t *args)
{
    return admin_send_id(args, "GET", "/webhooks", args->pos[0], "", NULL);
}

static int webhooks_enable(const ah_args_t *args)
{
    return admin_send_id(args, "POST", "/webhooks", args->pos[0], "/enable", NULL);
}

static int webhooks_disable(const ah_args_t *args)
{
    return admin_send_id(args, "POST", "/webhooks", args->pos[0], "/disable", NULL);
}

static int webhooks_rotate_secret(const ah_args_t *args)
{
    return admin_send_id(args, "POST", "/webhooks", args->pos[0], "/rotate-secret", NULL);
}

/* --since is checked here and sent in the wire form, as `airmeet create` does. */
static int webhooks_recover(const ah_args_t *args)
{
    const char *since = ah_arg(args, "since");
    char wire[AH_TIME_SIZE];
    int64_t ms;
    if (ah_parse_time(since, &ms) != AH_OK)
        return usage_fail(args,
                          "--since '%.100s' is not a time (RFC 3339 such as "
                          "2024-05-01T10:00:00Z, or unix seconds)",
                          since);
    ah_format_time(ms, wire);
    json_t *obj = json_pack("{s:s}", "since", wire);
    char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!body)
        return out_of_memory();
    int rc = admin_send_id(args, "POST", "/webhooks", args->pos[0], "/recover", body);
    free(body);
    return rc;
}

/* ---- the table ------------------------------------------------------------ */

static const ah_flag_t admin_only_flags[] = {ADMIN_COMMON_FLAGS, {.name = NULL}};

static const ah_flag_t publish_flags[] = {
    {.name = "community",
     .metavar = "ID",
     .env = "AIRHOOK_COMMUNITY",
     .help = "community the event belongs to",
     .opts = AH_FLAG_REQUIRED},
    {.name = "airmeet", .metavar = "ID", .help = "airmeetId of the event"},
    {.name = "session", .metavar = "ID", .help = "sessionId of the event (with --airmeet)"},
    {.name = "data",
     .metavar = "JSON|@FILE|-",
     .def = "{}",
     .help = "payload: JSON text, @FILE, or - for stdin; sent byte for byte"},
    {.name = "idempotency-key",
     .metavar = "KEY",
     .help = "a repeat with the same key returns the first event"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t list_flags[] = {
    {.name = "webhook", .metavar = "ID", .help = "the webhook's deliveries (or --event)"},
    {.name = "event", .metavar = "ID", .help = "the event's deliveries (or --webhook)"},
    {.name = "status", .metavar = "S", .help = "pending, succeeded, failed or cancelled"},
    {.name = "limit", .metavar = "N", .help = "page size, 1 to 500 (server default 50)"},
    {.name = "cursor", .metavar = "C", .help = "nextCursor of the previous page"},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_flag_t recover_flags[] = {
    {.name = "since",
     .metavar = "TIME",
     .help = "re-queue failed deliveries created at or after TIME (RFC 3339 or unix seconds)",
     .opts = AH_FLAG_REQUIRED},
    ADMIN_COMMON_FLAGS,
    {.name = NULL}};

static const ah_cmd_t delivery_cmds[] = {
    {"events", "publish", "TRIGGER", 1,
     "Publish an event: every matching active webhook gets a delivery.", publish_flags,
     events_publish},
    {"deliveries", "list", NULL, 0, "List a webhook's or an event's deliveries, newest first.",
     list_flags, deliveries_list},
    {"deliveries", "show", "DELIVERY_ID", 1, "Show a delivery with every attempt.",
     admin_only_flags, deliveries_show},
    {"deliveries", "retry", "DELIVERY_ID", 1, "Send a delivery again, now (whatever its status).",
     admin_only_flags, deliveries_retry},
    {"webhooks", "show", "WEBHOOK_ID", 1, "Show a webhook as the operator sees it (admin API).",
     admin_only_flags, webhooks_show},
    {"webhooks", "enable", "WEBHOOK_ID", 1, "Enable a disabled webhook (admin API).",
     admin_only_flags, webhooks_enable},
    {"webhooks", "disable", "WEBHOOK_ID", 1, "Disable a webhook; deliveries wait (admin API).",
     admin_only_flags, webhooks_disable},
    {"webhooks", "recover", "WEBHOOK_ID", 1,
     "Re-queue a webhook's failed deliveries since a time (admin API).", recover_flags,
     webhooks_recover},
    {"webhooks", "rotate-secret", "WEBHOOK_ID", 1,
     "New signing secret; the old one is still used for 24 h (admin API).", admin_only_flags,
     webhooks_rotate_secret},
};

const ah_cmd_table_t ah_delivery_cmds = {delivery_cmds, AH_ARRAY_LEN(delivery_cmds)};
