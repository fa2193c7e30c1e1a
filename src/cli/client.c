/* SPDX-License-Identifier: MIT */
/*
 * client.c: the plumbing every client subcommand of `airhook` shares.
 *
 * The HTTP part wraps one libcurl easy handle per request: the response body
 * goes into a growing buffer that refuses to pass AH_HTTP_MAX_BODY (a reply
 * that large is an error, never silently truncated), and a request that gets
 * no HTTP answer at all becomes one readable sentence naming the server, so
 * the user learns "is the server running?" rather than a curl code.
 *
 * The parsing part is table-driven: cmd_admin.c and cmd_public.c describe
 * their subcommands as ah_cmd_t rows with ah_flag_t lists, and everything
 * else (finding the row, `--flag value` and `--flag=value`, environment
 * fallbacks, defaults, required flags, help text, usage errors) happens here
 * once.  The output part pretty-prints JSON answers and maps HTTP statuses
 * to exit codes.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"

/* ---- HTTP client ------------------------------------------------------- */

/* snprintf into err; a message cut short is fine, a failed format is blanked. */
__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errsz, const char *fmt,
                                                          ...)
{
    if (!errsz)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    if (n < 0)
        err[0] = '\0';
}

/* The response body as it arrives. */
typedef struct sink {
    char *buf;
    size_t len, cap;
    bool too_big, oom;
} sink_t;

static size_t sink_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    sink_t *s = userdata;
    size_t n = size * nmemb; /* curl documents size as always 1 */
    if (n > AH_HTTP_MAX_BODY - s->len) {
        s->too_big = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = realloc(s->buf, cap);
        if (!p) {
            s->oom = true;
            return 0;
        }
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* Appends "name: value" to *list; refuses CR/LF (header injection). */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return AH_EINVAL;
    /* "Name;" is curl's spelling of a header with an empty value. */
    char *line = *value ? ah_str_concat(name, ": ", value, (char *)NULL)
                        : ah_str_concat(name, ";", (char *)NULL);
    if (!line)
        return AH_ENOMEM;
    struct curl_slist *grown = curl_slist_append(*list, line);
    free(line);
    if (!grown)
        return AH_ENOMEM;
    *list = grown;
    return AH_OK;
}

/* Appends a fixed header line (no validation needed). */
static int add_raw_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);
    if (!grown)
        return AH_ENOMEM;
    *list = grown;
    return AH_OK;
}

static int build_headers(const ah_http_request_t *req, struct curl_slist **out)
{
    int rc = add_raw_header(out, "Accept: application/json");
    if (!rc)
        rc = add_raw_header(out, "Expect:"); /* no 100-continue round trip */
    if (!rc && req->json_body)
        rc = add_raw_header(out, "Content-Type: application/json");
    else if (!rc)
        rc = add_raw_header(out, "Content-Type:"); /* curl's form default off */
    for (size_t i = 0; !rc && i < req->n_headers; i++)
        rc = add_header(out, req->headers[i].name, req->headers[i].value);
    return rc;
}

static void set_method(CURL *h, const ah_http_request_t *req)
{
    if (strcmp(req->method, "GET") == 0 && !req->json_body) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (req->json_body || strcmp(req->method, "POST") == 0) {
        const char *body = req->json_body ? req->json_body : "";
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (strcmp(req->method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
}

/* Length of "scheme://authority" at the start of url. */
static int origin_len(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = (size_t)(p - url) + strcspn(p, "/?#");
    return n > 512 ? 512 : (int)n;
}

static bool is_loopback(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    return strncmp(p, "127.", 4) == 0 || strncmp(p, "localhost", 9) == 0 ||
           strncmp(p, "[::1]", 5) == 0;
}

/* Writes "cannot reach ORIGIN: DETAIL[ — hint]" into err. */
static void describe_failure(CURL *h, CURLcode code, const char *url, const char *curl_err,
                             char *err, size_t errsz)
{
    const char *detail = curl_err[0] ? curl_err : curl_easy_strerror(code);
    const char *hint = "";
    long os_errno = 0;
    if (code == CURLE_COULDNT_CONNECT) {
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        if (os_errno)
            detail = strerror((int)os_errno);
        if (is_loopback(url))
            hint = " \xe2\x80\x94 is `airhook serve` running?";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        hint = " (timeouts: connect 5 s, total 30 s)";
    }
    set_err(err, errsz, "cannot reach %.*s: %s%s", origin_len(url), url, detail, hint);
}

static void setup_handle(CURL *h, const ah_http_request_t *req, sink_t *sink,
                         struct curl_slist *headers, char *curl_err)
{
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, AH_HTTP_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, AH_HTTP_TOTAL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "airhook-cli/" AH_VERSION);
    set_method(h, req);
}

static int perform(CURL *h, const ah_http_request_t *req, sink_t *sink, ah_http_response_t *resp,
                   char *err, size_t errsz)
{
    char curl_err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    int rc = build_headers(req, &headers);
    if (rc) {
        set_err(err, errsz, "%s",
                rc == AH_EINVAL ? "header value contains a line break" : "out of memory");
        goto out;
    }
    setup_handle(h, req, sink, headers, curl_err);
    CURLcode code = curl_easy_perform(h);
    if (sink->too_big || sink->oom) {
        rc = sink->too_big ? AH_ETOOBIG : AH_ENOMEM;
        set_err(err, errsz, "response from %.*s %s", origin_len(req->url), req->url,
                sink->too_big ? "is larger than 16 MiB" : "did not fit in memory");
        goto out;
    }
    if (code != CURLE_OK) {
        rc = AH_EIO;
        describe_failure(h, code, req->url, curl_err, err, errsz);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!sink->buf && !(sink->buf = calloc(1, 1))) {
        rc = AH_ENOMEM;
        set_err(err, errsz, "out of memory");
        goto out;
    }
    resp->body = sink->buf;
    resp->len = sink->len;
    sink->buf = NULL;
out:
    curl_slist_free_all(headers);
    return rc;
}

int ah_http_request(const ah_http_request_t *req, ah_http_response_t *resp, char *err, size_t errsz)
{
    memset(resp, 0, sizeof(*resp));
    set_err(err, errsz, "%s", "");
    CURL *h = curl_easy_init();
    if (!h) {
        set_err(err, errsz, "cannot initialise libcurl");
        return AH_ENOMEM;
    }
    sink_t sink = {0};
    int rc = perform(h, req, &sink, resp, err, errsz);
    free(sink.buf);
    curl_easy_cleanup(h);
    return rc;
}

void ah_http_response_free(ah_http_response_t *resp)
{
    if (!resp)
        return;
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

int ah_http_run(const ah_http_request_t *req)
{
    ah_http_response_t resp;
    char err[1024];
    int rc = ah_http_request(req, &resp, err, sizeof(err));
    if (rc)
        return ah_report_failure(rc, err);
    int code = ah_print_response(&resp);
    ah_http_response_free(&resp);
    return code;
}

/* ---- URL and string helpers -------------------------------------------- */

char *ah_str_concat(const char *first, ...)
{
    va_list ap;
    size_t total = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        total += strlen(s);
    va_end(ap);

    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    size_t at = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        memcpy(out + at, s, n);
        at += n;
    }
    va_end(ap);
    out[at] = '\0';
    return out;
}

char *ah_url_escape(const char *s)
{
    /* curl_easy_escape needs no handle state; NULL handle is allowed. */
    char *esc = curl_easy_escape(NULL, s, 0);
    if (!esc)
        return NULL;
    char *out = ah_str_concat(esc, (char *)NULL); /* plain free()-able copy */
    curl_free(esc);
    return out;
}

char *ah_url_add_query(const char *url, const char *key, const char *value)
{
    if (!value)
        return ah_str_concat(url, (char *)NULL);
    char *esc = ah_url_escape(value);
    if (!esc)
        return NULL;
    const char *sep = strchr(url, '?') ? "&" : "?";
    char *out = ah_str_concat(url, sep, key, "=", esc, (char *)NULL);
    free(esc);
    return out;
}

/* ---- command-line parsing ---------------------------------------------- */

static size_t flag_count(const ah_cmd_t *cmd)
{
    size_t n = 0;
    while (cmd->flags && cmd->flags[n].name)
        n++;
    return n;
}

/* Index of the flag called name[0..len) or -1. */
static int find_flag(const ah_cmd_t *cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < flag_count(cmd); i++) {
        const char *f = cmd->flags[i].name;
        if (strlen(f) == len && strncmp(f, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* "airhook keys create KEY_ID --community ID [--label L] [flags]" */
static void print_synopsis(const ah_cmd_t *cmd, FILE *out, bool with_prog)
{
    fprintf(out, "%s%s%s%s%s%s", with_prog ? "airhook " : "", cmd->group, cmd->action ? " " : "",
            cmd->action ? cmd->action : "", cmd->args ? " " : "", cmd->args ? cmd->args : "");
    bool common = false;
    for (size_t i = 0; i < flag_count(cmd); i++) {
        const ah_flag_t *f = &cmd->flags[i];
        if (f->opts & AH_FLAG_COMMON)
            common = true;
        else if (f->opts & AH_FLAG_BOOL)
            fprintf(out, " [--%s]", f->name);
        else if (f->opts & AH_FLAG_REQUIRED)
            fprintf(out, " --%s %s", f->name, f->metavar);
        else if (f->opts & AH_FLAG_REPEAT)
            fprintf(out, " [--%s %s ...]", f->name, f->metavar);
        else
            fprintf(out, " [--%s %s]", f->name, f->metavar);
    }
    fputs(common ? " [flags]\n" : "\n", out);
}

static void print_flag_help(const ah_flag_t *f, FILE *out)
{
    char left[64];
    if (snprintf(left, sizeof(left), "--%s%s%s", f->name, f->metavar ? " " : "",
                 f->metavar ? f->metavar : "") < 0)
        left[0] = '\0';
    fprintf(out, "  %-24s %s", left, f->help);
    if (f->env || f->def) {
        fprintf(out, " [%s%s%s%s%s]", f->env ? "env " : "", f->env ? f->env : "",
                f->env && f->def ? ", " : "", f->def ? "default " : "", f->def ? f->def : "");
    }
    fputs(f->opts & AH_FLAG_REQUIRED ? " (required)\n"
          : f->opts & AH_FLAG_REPEAT ? " (repeatable)\n"
                                     : "\n",
          out);
}

static void print_cmd_help(const ah_cmd_t *cmd, FILE *out)
{
    fputs("usage: ", out);
    print_synopsis(cmd, out, true);
    fprintf(out, "\n%s\n\nflags:\n", cmd->summary);
    for (size_t i = 0; i < flag_count(cmd); i++)
        print_flag_help(&cmd->flags[i], out);
    fprintf(out, "  %-24s %s\n", "-h, --help", "show this help");
}

static void list_rows(const ah_cmd_table_t *table, const char *group, FILE *out)
{
    for (size_t i = 0; i < table->n; i++) {
        const ah_cmd_t *cmd = &table->cmds[i];
        if (group && strcmp(cmd->group, group) != 0)
            continue;
        fputs("  ", out);
        print_synopsis(cmd, out, false);
        fprintf(out, "      %.*s\n", (int)strcspn(cmd->summary, "\n"), cmd->summary);
    }
}

void ah_cmd_table_list(const ah_cmd_table_t *table, FILE *out)
{
    list_rows(table, NULL, out);
}

static void print_group_help(const ah_cmd_table_t *table, const char *group, FILE *out)
{
    fprintf(out, "usage: airhook %s <command> [flags]\n\ncommands:\n", group);
    list_rows(table, group, out);
    fprintf(out, "\nrun `airhook %s <command> --help` for its flags\n", group);
}

static int parse_error(const ah_cmd_t *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "airhook %s%s%s: %s%s\nusage: ", cmd->group, cmd->action ? " " : "",
            cmd->action ? cmd->action : "", what, arg ? arg : "");
    print_synopsis(cmd, stderr, true);
    fprintf(stderr, "run `airhook %s%s%s --help` for details\n", cmd->group, cmd->action ? " " : "",
            cmd->action ? cmd->action : "");
    return AH_EXIT_USAGE;
}

static bool is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* True when argv holds -h or --help before any "--". */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help(argv[i]))
            return true;
    return false;
}

/* Parses argv[*i] (a "--name[=value]") and maybe consumes argv[*i + 1]. */
static int parse_flag(const ah_cmd_t *cmd, int argc, char **argv, int *i, ah_args_t *out)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int idx = find_flag(cmd, name, len);
    if (idx < 0)
        return parse_error(cmd, "unknown flag ", argv[*i]);
    if (cmd->flags[idx].opts & AH_FLAG_BOOL) {
        if (eq)
            return parse_error(cmd, "takes no value: ", argv[*i]);
        out->values[idx] = "true";
    } else if (eq) {
        out->values[idx] = eq + 1;
    } else if (*i + 1 < argc) {
        out->values[idx] = argv[++*i];
    } else {
        return parse_error(cmd, "missing value for ", argv[*i]);
    }
    if (cmd->flags[idx].opts & AH_FLAG_REPEAT) {
        if (out->n_repeats == AH_MAX_REPEATS)
            return parse_error(cmd, "too many repeated flags, at most 64: ", argv[*i]);
        out->repeat_flag[out->n_repeats] = idx;
        out->repeats[out->n_repeats++] = out->values[idx];
    }
    return AH_EXIT_OK;
}

static int parse_argv(const ah_cmd_t *cmd, int argc, char **argv, ah_args_t *out)
{
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = AH_EXIT_OK;
        if (!only_pos && strcmp(a, "--") == 0)
            only_pos = true;
        else if (!only_pos && strncmp(a, "--", 2) == 0)
            rc = parse_flag(cmd, argc, argv, &i, out);
        else if (!only_pos && a[0] == '-' && a[1] != '\0')
            rc = parse_error(cmd, "unknown flag ", a);
        else if (out->n_pos < cmd->n_args && out->n_pos < AH_MAX_ARGS)
            out->pos[out->n_pos++] = a;
        else
            rc = parse_error(cmd, "unexpected argument ", a);
        if (rc)
            return rc;
    }
    if (out->n_pos < cmd->n_args)
        return parse_error(cmd, "missing argument ", cmd->args);
    return AH_EXIT_OK;
}

/* Fills unset flags from the environment, then defaults; checks required. */
static int resolve_flags(const ah_cmd_t *cmd, ah_args_t *out)
{
    for (size_t i = 0; i < flag_count(cmd); i++) {
        const ah_flag_t *f = &cmd->flags[i];
        const char *env = f->env ? getenv(f->env) : NULL;
        if (!out->values[i] && env && *env)
            out->values[i] = env;
        if (!out->values[i])
            out->values[i] = f->def;
        if ((f->opts & AH_FLAG_REQUIRED) && (!out->values[i] || !*out->values[i])) {
            char what[128];
            if (snprintf(what, sizeof(what), "missing required flag --%s%s%s%s", f->name,
                         f->env ? " (or set " : "", f->env ? f->env : "", f->env ? ")" : "") < 0)
                what[0] = '\0';
            return parse_error(cmd, what, NULL);
        }
    }
    return AH_EXIT_OK;
}

/* For the group's default row run alone: each unset flag with a bare value takes it. */
static void apply_bare(const ah_cmd_t *cmd, ah_args_t *out)
{
    for (size_t i = 0; i < flag_count(cmd); i++)
        if (cmd->flags[i].bare && !out->values[i])
            out->values[i] = cmd->flags[i].bare;
}

static int run_cmd(const ah_cmd_t *cmd, int argc, char **argv, bool bare)
{
    if (wants_help(argc, argv)) {
        print_cmd_help(cmd, stdout);
        return AH_EXIT_OK;
    }
    if (flag_count(cmd) > AH_MAX_FLAGS) {
        fprintf(stderr, "airhook %s: too many flags in its table\n", cmd->group);
        return AH_EXIT_USAGE;
    }
    ah_args_t args = {.cmd = cmd};
    int rc = parse_argv(cmd, argc, argv, &args);
    if (!rc && bare)
        apply_bare(cmd, &args);
    if (!rc)
        rc = resolve_flags(cmd, &args);
    return rc ? rc : cmd->run(&args);
}

bool ah_cmd_table_has(const ah_cmd_table_t *table, const char *name)
{
    for (size_t i = 0; i < table->n; i++)
        if (strcmp(table->cmds[i].group, name) == 0)
            return true;
    return false;
}

static const ah_cmd_t *find_cmd(const ah_cmd_table_t *table, const char *group, const char *action)
{
    for (size_t i = 0; i < table->n; i++) {
        const ah_cmd_t *cmd = &table->cmds[i];
        if (strcmp(cmd->group, group) != 0)
            continue;
        if (!cmd->action || (action && strcmp(cmd->action, action) == 0))
            return cmd;
    }
    return NULL;
}

/* The row of group with a flag that has a bare value (ah_flag_t.bare), or NULL. */
static const ah_cmd_t *find_default(const ah_cmd_table_t *table, const char *group)
{
    for (size_t i = 0; i < table->n; i++) {
        const ah_cmd_t *cmd = &table->cmds[i];
        if (strcmp(cmd->group, group) != 0)
            continue;
        for (size_t k = 0; k < flag_count(cmd); k++)
            if (cmd->flags[k].bare)
                return cmd;
    }
    return NULL;
}

int ah_cmd_dispatch(const ah_cmd_table_t *table, int argc, char **argv)
{
    const char *group = argv[0];
    const ah_cmd_t *whole = find_cmd(table, group, NULL);
    if (whole)
        return run_cmd(whole, argc - 1, argv + 1, false);
    const ah_cmd_t *dflt = find_default(table, group);
    if (dflt && (argc < 2 || (argv[1][0] == '-' && !is_help(argv[1]))))
        return run_cmd(dflt, argc - 1, argv + 1, true);
    if (argc < 2) {
        print_group_help(table, group, stderr);
        return AH_EXIT_USAGE;
    }
    if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        print_group_help(table, group, stdout);
        return AH_EXIT_OK;
    }
    const ah_cmd_t *cmd = find_cmd(table, group, argv[1]);
    if (!cmd) {
        fprintf(stderr, "airhook %s: unknown command '%s'\n", group, argv[1]);
        print_group_help(table, group, stderr);
        return AH_EXIT_USAGE;
    }
    return run_cmd(cmd, argc - 2, argv + 2, false);
}

int ah_admin_send(const ah_args_t *args, const char *method, const char *path, const char *text,
                  ah_http_response_t *out)
{
    char *server = NULL, *url = NULL, *auth = NULL, err[1024];
    int rc = ah_base_url(args, "server", &server);
    if (rc)
        return rc;
    url = ah_str_concat(server, "/admin/v1", path, (char *)NULL);
    auth = ah_str_concat("Bearer ", ah_arg(args, "admin-token"), (char *)NULL);
    if (!url || !auth) {
        fputs("error: out of memory\n", stderr);
        rc = AH_EXIT_HTTP;
    } else {
        const ah_http_header_t headers[] = {{"Authorization", auth}};
        const ah_http_request_t req = {method, url, headers, AH_ARRAY_LEN(headers), text};
        int st = ah_http_request(&req, out, err, sizeof err);
        if (st)
            rc = ah_report_failure(st, err);
    }
    free(server);
    free(url);
    free(auth);
    return rc;
}

int ah_admin_request(const ah_args_t *args, const char *method, const char *prefix, const char *id,
                     json_t *body, ah_http_response_t *out)
{
    char *esc = id ? ah_url_escape(id) : NULL;
    char *path = ah_str_concat(prefix, id ? "/" : "", esc ? esc : "", (char *)NULL);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc;
    if (!path || (id && !esc) || (body && !text)) {
        fputs("error: out of memory\n", stderr);
        rc = AH_EXIT_HTTP;
    } else {
        rc = ah_admin_send(args, method, path, text, out);
    }
    free(esc);
    free(path);
    free(text);
    return rc;
}

const char *ah_arg(const ah_args_t *args, const char *name)
{
    int idx = find_flag(args->cmd, name, strlen(name));
    if (idx < 0 || !args->values[idx] || !*args->values[idx])
        return NULL;
    return args->values[idx];
}

const char *ah_arg_nth(const ah_args_t *args, const char *name, size_t nth)
{
    int idx = find_flag(args->cmd, name, strlen(name));
    for (size_t i = 0; idx >= 0 && i < args->n_repeats; i++)
        if (args->repeat_flag[i] == idx && nth-- == 0)
            return args->repeats[i];
    return NULL;
}

int ah_usage_error(const ah_args_t *args, const char *message)
{
    return parse_error(args->cmd, message, NULL);
}

int ah_arg_time(const ah_args_t *args, const char *flag, char out[AH_TIME_SIZE],
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

/* ---- output ------------------------------------------------------------ */

static void print_body(const char *body, size_t len)
{
    if (len == 0)
        return;
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (doc) {
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(doc);
        return;
    }
    fwrite(body, 1, len, stdout);
    if (body[len - 1] != '\n')
        fputc('\n', stdout);
}

int ah_print_response(const ah_http_response_t *resp)
{
    print_body(resp->body, resp->len);
    fflush(stdout);
    if (resp->status >= 200 && resp->status < 300)
        return AH_EXIT_OK;
    fprintf(stderr, "error: HTTP %ld\n", resp->status);
    return AH_EXIT_HTTP;
}

int ah_report_failure(int status, const char *err)
{
    fprintf(stderr, "error: %s\n", err && *err ? err : ah_strerror(status));
    if (status == AH_EIO)
        return AH_EXIT_UNREACHABLE;
    return status == AH_EINVAL ? AH_EXIT_USAGE : AH_EXIT_HTTP;
}

/* ---- values handed to the server ---------------------------------------- */

int ah_base_url(const ah_args_t *args, const char *flag, char **out)
{
    *out = NULL;
    const char *url = ah_arg(args, flag);
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        char what[256];
        if (snprintf(what, sizeof(what), "--%s must be an http:// or https:// URL (got '%.160s')",
                     flag, url ? url : "") < 0)
            what[0] = '\0';
        return ah_usage_error(args, what);
    }
    size_t len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    *out = malloc(len + 1);
    if (!*out) {
        fputs("error: out of memory\n", stderr);
        return AH_EXIT_HTTP;
    }
    memcpy(*out, url, len);
    (*out)[len] = '\0';
    return AH_EXIT_OK;
}

json_t *ah_json_strings(const char *key, ...)
{
    json_t *obj = json_object();
    va_list ap;
    va_start(ap, key);
    for (const char *k = key; obj && k; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (!v)
            continue;
        json_t *s = json_string(v); /* NULL for invalid UTF-8 */
        if (!s || json_object_set_new(obj, k, s) != 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    va_end(ap);
    return obj;
}
