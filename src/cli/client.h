/* SPDX-License-Identifier: MIT */
/*
 * client.h: what every client subcommand of `airhook` shares.
 *
 * Three parts, used together by cmd_admin.c and cmd_public.c:
 *  - a one-request-at-a-time HTTP client over the libcurl easy API
 *    (ah_http_request), with fixed timeouts and a capped response buffer;
 *  - a table-driven command-line parser: each subcommand is one ah_cmd_t row
 *    naming its flags (ah_flag_t), and ah_cmd_dispatch() finds the row,
 *    parses `--flag value` / `--flag=value`, applies environment fallbacks
 *    and defaults, checks required flags, and prints help;
 *  - output: ah_print_response() pretty-prints a JSON body (or prints it raw)
 *    and turns the HTTP status into the process exit code.
 *
 * Exit codes are the AH_EXIT_* values below; they are the contract scripts
 * rely on, documented in docs/cli.md.
 */
#ifndef AH_CLI_CLIENT_H
#define AH_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "common/util.h"

/* Process exit codes of every client subcommand. */
enum {
    AH_EXIT_OK = 0,         /* the server answered 2xx */
    AH_EXIT_HTTP = 1,       /* the server answered with an error status */
    AH_EXIT_USAGE = 2,      /* bad command line: unknown flag, missing one */
    AH_EXIT_UNREACHABLE = 3 /* no HTTP answer at all (refused, DNS, timeout) */
};

/* ---- HTTP client ------------------------------------------------------- */

/* Responses larger than this are refused (AH_ETOOBIG), never truncated. */
#define AH_HTTP_MAX_BODY ((size_t)16 * 1024 * 1024)
#define AH_HTTP_CONNECT_TIMEOUT_S 5L
#define AH_HTTP_TOTAL_TIMEOUT_S 30L

typedef struct ah_http_header {
    const char *name;
    const char *value; /* must not contain CR or LF */
} ah_http_header_t;

typedef struct ah_http_request {
    const char *method; /* "GET", "POST", "DELETE", ... */
    const char *url;
    const ah_http_header_t *headers;
    size_t n_headers;
    /*
     * JSON text to send, or NULL for no body.  With a body the request
     * carries `Content-Type: application/json`; a POST without one carries
     * no Content-Type at all.
     */
    const char *json_body;
} ah_http_request_t;

typedef struct ah_http_response {
    long status; /* HTTP status code */
    char *body;  /* NUL-terminated; owned by the response, see _free */
    size_t len;  /* bytes in body, excluding the NUL */
} ah_http_response_t;

/*
 * Performs one request and waits for the whole answer (connect timeout
 * AH_HTTP_CONNECT_TIMEOUT_S, total AH_HTTP_TOTAL_TIMEOUT_S).  Returns:
 *  - AH_OK with *resp filled, whatever the HTTP status;
 *  - AH_EIO when no HTTP answer arrived; err holds a sentence such as
 *    "cannot reach http://127.0.0.1:8080: Connection refused — is `airhook
 *    serve` running?";
 *  - AH_ETOOBIG when the body exceeds AH_HTTP_MAX_BODY;
 *  - AH_EINVAL for a header value with CR/LF, AH_ENOMEM on allocation failure.
 * On failure *resp is empty (safe to free).  curl_global_init() must have
 * been called.  The caller owns resp->body: release it with
 * ah_http_response_free().
 */
int ah_http_request(const ah_http_request_t *req, ah_http_response_t *resp, char *err,
                    size_t errsz);

/* Frees resp->body and empties *resp; accepts NULL. */
void ah_http_response_free(ah_http_response_t *resp);

/*
 * The whole life of a simple subcommand: performs req, prints the answer
 * with ah_print_response() (or the failure with ah_report_failure()) and
 * returns the AH_EXIT_* code.
 */
int ah_http_run(const ah_http_request_t *req);

/*
 * Concatenates the NULL-terminated list of strings into a fresh heap string,
 * or returns NULL when out of memory.  Caller frees.
 */
char *ah_str_concat(const char *first, ...);

/*
 * Returns a fresh heap copy of url with `?key=value` (or `&key=value` when
 * url already has a query) appended, value percent-encoded.  NULL value:
 * returns a plain copy.  NULL when out of memory.  Caller frees.
 */
char *ah_url_add_query(const char *url, const char *key, const char *value);

/* Percent-encodes s for use as one path segment; caller frees; NULL on OOM. */
char *ah_url_escape(const char *s);

struct ah_args;

/*
 * One admin request to {--server}/admin/v1 + prefix [+ "/" + id, escaped],
 * with `Authorization: Bearer {--admin-token}` and body (NULL: none) as
 * compact JSON.  Returns AH_EXIT_OK with *out holding the answer, whatever
 * its status (the caller frees it), or the exit code after printing why no
 * answer came.
 */
int ah_admin_request(const struct ah_args *args, const char *method, const char *prefix,
                     const char *id, json_t *body, ah_http_response_t *out);

/* The same to {--server}/admin/v1 + path (escaped by the caller) with text (NULL: none). */
int ah_admin_send(const struct ah_args *args, const char *method, const char *path,
                  const char *text, ah_http_response_t *out);

/* True when resp is the server's 400 for a triggerMetaInfoId it does not know (cmd_trigger.c). */
bool ah_unknown_trigger_answer(const ah_http_response_t *resp);

/*
 * For a trigger id the server's catalog (GET /admin/v1/triggers) does not
 * know: prints "did you mean: a, b, c?" on stderr when some of its triggers
 * are close (suggest.h); prints nothing when none is or the list cannot be
 * had (cmd_trigger.c).
 */
void ah_suggest_server_triggers(const struct ah_args *args, const char *id);

/*
 * The sample body of trigger id from the server's catalog (GET
 * /admin/v1/triggers/{id}) into *out, a new reference; on failure prints
 * the server's answer (with suggestions for an unknown id) or why, and
 * returns the exit code (cmd_trigger.c).
 */
int ah_cli_trigger_sample(const struct ah_args *args, const char *id, json_t **out);

/* The same from the catalog compiled into this binary (the built-in triggers). */
void ah_suggest_builtin_triggers(const char *id);

/* ---- command-line parsing ---------------------------------------------- */

#define AH_MAX_FLAGS 16
#define AH_MAX_ARGS 2

enum {
    AH_FLAG_REQUIRED = 1 << 0, /* missing (and no env fallback): exit 2 */
    AH_FLAG_COMMON = 1 << 1,   /* shared connection flag: kept out of synopsis */
    AH_FLAG_REPEAT = 1 << 2,   /* may be given several times: read with ah_arg_nth */
    AH_FLAG_BOOL = 1 << 3      /* a switch: takes no value; set reads as "true" */
};

/* How many values all the repeatable flags of one command line may carry. */
#define AH_MAX_REPEATS 64

/* One `--name METAVAR` flag.  Every flag takes a value but an AH_FLAG_BOOL switch. */
typedef struct ah_flag {
    const char *name;    /* without the leading "--" */
    const char *metavar; /* shown in help: "ID", "URL"; NULL for a switch */
    const char *env;     /* environment fallback, or NULL */
    const char *def;     /* default when neither given, or NULL */
    const char *help;    /* one line */
    unsigned opts;       /* AH_FLAG_* bits */
    /*
     * Non-NULL makes this flag's row the group's default: `airhook GROUP`
     * alone (or followed by flags) runs the row as if `--name BARE` came
     * first on the command line.  At most one row of a group has one.
     */
    const char *bare;
} ah_flag_t;

struct ah_cmd;

/* The parsed command line of one subcommand. */
typedef struct ah_args {
    const struct ah_cmd *cmd;
    const char *values[AH_MAX_FLAGS]; /* parallel to cmd->flags; NULL: unset */
    const char *pos[AH_MAX_ARGS];     /* positional arguments */
    size_t n_pos;
    /* Every value of an AH_FLAG_REPEAT flag, in command-line order. */
    const char *repeats[AH_MAX_REPEATS];
    int repeat_flag[AH_MAX_REPEATS]; /* index into cmd->flags */
    size_t n_repeats;
} ah_args_t;

/* Runs a parsed subcommand; returns an AH_EXIT_* code. */
typedef int (*ah_cmd_fn)(const ah_args_t *args);

/*
 * One subcommand: `airhook GROUP [ACTION] [ARGS...] [flags]`.  A row with a
 * NULL action is the whole group (`airhook auth`, `airhook sample T`).
 */
typedef struct ah_cmd {
    const char *group;
    const char *action;
    const char *args; /* positional synopsis ("KEY_ID"), or NULL */
    size_t n_args;    /* exact count of positional arguments */
    /*
     * One line, for the usage listings; --help (and so the man page) also
     * prints what follows a first newline: details, examples.
     */
    const char *summary;
    const ah_flag_t *flags; /* terminated by an entry with a NULL name */
    ah_cmd_fn run;
} ah_cmd_t;

/* Flags every admin subcommand takes, listed after its own (cmd_admin.c, cmd_delivery.c). */
/* clang-format off */
#define ADMIN_COMMON_FLAGS                                                          \
    {.name = "server", .metavar = "URL", .env = "AIRHOOK_SERVER",                   \
     .def = "http://127.0.0.1:8080", .help = "airhook server (admin API)",         \
     .opts = AH_FLAG_COMMON},                                                       \
    {.name = "admin-token", .metavar = "TOKEN", .env = "AIRHOOK_ADMIN_TOKEN",       \
     .help = "admin token, sent as Authorization: Bearer TOKEN",                    \
     .opts = AH_FLAG_COMMON | AH_FLAG_REQUIRED}
/* clang-format on */

/* A table of subcommands (one per cmd_*.c), for main.c's listings. */
typedef struct ah_cmd_table {
    const ah_cmd_t *cmds;
    size_t n;
} ah_cmd_table_t;

extern const ah_cmd_table_t ah_admin_cmds;  /* community, keys, airmeet, session */
extern const ah_cmd_table_t ah_public_cmds; /* auth, webhooks, sample */
/* events publish, deliveries list/show/retry, webhooks show/enable/disable/recover/rotate-secret */
extern const ah_cmd_table_t ah_delivery_cmds;
/* triggers list/show/sample/add/update/retire/restore/hide/unhide/doc; airmeet and session
 * show/update (cmd_catalog.c) */
extern const ah_cmd_table_t ah_catalog_cmds;
/* trigger: publish a trigger's sample as a real event (cmd_trigger.c) */
extern const ah_cmd_table_t ah_trigger_cmds;
/* listen: forward a listener's deliveries to a local URL (listen.c) */
extern const ah_cmd_table_t ah_listen_cmds;

/* True when table has a row whose group is name. */
bool ah_cmd_table_has(const ah_cmd_table_t *table, const char *name);

/*
 * Runs `airhook argv[0] ...` from table: picks the row by group and action
 * (the group's default row, see ah_flag_t.bare, when no action is named),
 * parses the rest and calls its run function.  `-h`/`--help` prints the
 * row's (or the group's) usage on stdout and returns 0; a usage error prints
 * the reason and the usage on stderr and returns AH_EXIT_USAGE.
 */
int ah_cmd_dispatch(const ah_cmd_table_t *table, int argc, char **argv);

/* Prints "  GROUP ACTION ARGS   summary" lines for every row of table. */
void ah_cmd_table_list(const ah_cmd_table_t *table, FILE *out);

/*
 * The value of flag `name` of the parsed command (command line, else
 * environment, else default), or NULL.  Empty strings count as unset.
 */
const char *ah_arg(const ah_args_t *args, const char *name);

/*
 * The nth value (from 0, in command-line order) of the repeatable flag
 * `name`, or NULL when it was given fewer times.  Repeatable flags have no
 * environment fallback or default.
 */
const char *ah_arg_nth(const ah_args_t *args, const char *name, size_t nth);

/* Prints "airhook GROUP ACTION: MESSAGE" on stderr; returns AH_EXIT_USAGE. */
int ah_usage_error(const ah_args_t *args, const char *message);

/*
 * Flag `flag` (a time: RFC 3339 or unix seconds) as a wire timestamp in
 * out, *result pointing at it; *result NULL when the flag is unset.  A
 * value that is not a time is a usage error (its return).
 */
int ah_arg_time(const ah_args_t *args, const char *flag, char out[AH_TIME_SIZE],
                const char **result);

/*
 * Checks that the value of flag `flag` is an http:// or https:// URL and
 * returns (in *out, caller frees) a copy without trailing slashes.  Returns
 * AH_EXIT_OK, or AH_EXIT_USAGE after printing why.
 */
int ah_base_url(const ah_args_t *args, const char *flag, char **out);

/*
 * Builds a JSON object from (key, value) string pairs ending at a NULL key;
 * pairs with a NULL value are left out.  Returns a new reference, or NULL
 * when a value is not valid UTF-8 (or memory ran out).
 */
json_t *ah_json_strings(const char *key, ...);

/* ---- the public API (cmd_public.c) -------------------------------------- */

/* Flags of every public-API subcommand: where the API is, and the key pair. */
/* clang-format off */
#define AH_PUBLIC_BASE_FLAGS                                                                 \
    {.name = "base-url", .metavar = "URL", .env = "AIRHOOK_BASE_URL",               \
     .help = "API base URL, e.g. http://127.0.0.1:8080/prod (wins over --region)",  \
     .opts = AH_FLAG_COMMON},                                                       \
    {.name = "region", .metavar = "REGION", .env = "AIRHOOK_REGION", .def = "mumbai", \
     .help = "Airmeet gateway: mumbai, eu or us", .opts = AH_FLAG_COMMON}

#define AH_PUBLIC_KEY_FLAGS(opt)                                                             \
    {.name = "access-key", .metavar = "KEY", .env = "AIRHOOK_ACCESS_KEY",           \
     .help = "access key of the key pair", .opts = AH_FLAG_COMMON | (opt)},         \
    {.name = "secret-key", .metavar = "KEY", .env = "AIRHOOK_SECRET_KEY",           \
     .help = "secret key of the key pair", .opts = AH_FLAG_COMMON | (opt)}
/* clang-format on */

/*
 * The public API's base URL: --base-url, else the --region gateway.
 * Returns AH_EXIT_OK with *out the caller's to free, or the exit code after
 * printing why.
 */
int ah_public_base(const ah_args_t *args, char **out);

/* The token of an /auth answer (top-level `token`, else `data.token`); caller frees; NULL if none.
 */
char *ah_public_token_of(const ah_http_response_t *resp);

/* ---- output ------------------------------------------------------------ */

/*
 * Prints resp->body on stdout (pretty JSON with indent 2, or raw when it is
 * not JSON) and returns AH_EXIT_OK for 2xx, else prints "error: HTTP <code>"
 * on stderr and returns AH_EXIT_HTTP.
 */
int ah_print_response(const ah_http_response_t *resp);

/*
 * Maps a failed ah_http_request() status to an exit code after printing
 * "error: <err>" on stderr: AH_EXIT_UNREACHABLE for AH_EIO, AH_EXIT_USAGE for
 * AH_EINVAL (a flag value that cannot be a header), else AH_EXIT_HTTP.
 */
int ah_report_failure(int status, const char *err);

#endif
