/* SPDX-License-Identifier: MIT */
/*
 * test_contracts.c: the contract documents say what the code does.
 *
 * docs/openapi.yaml (compiled in as docs/openapi.json, what GET
 * /openapi.json answers) must describe every route of every table, with
 * its method, and nothing the tables do not have, so that the integration
 * suite's drift check covers every route.  The document's info.version is
 * the server's.
 *
 * docs/asyncapi.yaml must have one channel per trigger of the built-in
 * catalog (data/triggers.json, compiled in and read through triggers.h),
 * each carrying the line `x-airhook-trigger: {id: ID, airmeetId: RULE,
 * sessionId: RULE}` with the catalog's rules, and no channel for a trigger
 * the catalog lacks.  (`make asyncapi-channels` writes those channels from
 * the same file.  The document is YAML, which the C side does not parse;
 * that one line per channel is the part checked here, the rest by the
 * linters, scripts/contracts.py check and tests/integration/test_contracts.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/app.h"
#include "api/triggers.h"

extern const unsigned char ah_openapi_json[];
extern const size_t ah_openapi_json_len;

#ifndef AH_SOURCE_DIR
#error "AH_SOURCE_DIR must name the source tree (CMakeLists.txt defines it for unit tests)"
#endif

/* Where each table's patterns are mounted in the document ("/prod" is the default base path). */
static const char *doc_prefix(const ah_route_table_t *t)
{
    return t->prefix ? t->prefix : "/prod";
}

/* path with every "{name}" written "{}", as route patterns write them. */
static void normalize(const char *path, char *out, size_t outsz)
{
    size_t n = 0;
    for (const char *p = path; *p && n + 2 < outsz; p++) {
        if (*p == '{') {
            out[n++] = '{';
            out[n++] = '}';
            const char *close = strchr(p, '}');
            p = close ? close : p + strlen(p) - 1;
            continue;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
}

static json_t *load_openapi(void)
{
    json_error_t e;
    json_t *doc = json_loadb((const char *)ah_openapi_json, ah_openapi_json_len, 0, &e);
    if (!doc)
        fail_msg("docs/openapi.json does not parse: line %d: %s", e.line, e.text);
    return doc;
}

/* The operation for method (lowercase) on the document path that normalizes to want, or NULL. */
static json_t *find_operation(json_t *paths, const char *want, const char *method)
{
    const char *path;
    json_t *item;
    char norm[512];
    json_object_foreach(paths, path, item)
    {
        normalize(path, norm, sizeof norm);
        if (!strcmp(norm, want))
            return json_object_get(item, method);
    }
    return NULL;
}

static void lower(const char *s, char *out, size_t outsz)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outsz; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    out[i] = '\0';
}

static void test_every_route_is_an_operation(void **state)
{
    (void)state;
    json_t *doc = load_openapi();
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    size_t n_tables = 0, n_routes = 0;
    const ah_route_table_t *tables = ah_app_route_tables(&n_tables);
    for (size_t t = 0; t < n_tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++, n_routes++) {
            const ah_route_t *r = &tables[t].routes[i];
            char raw[512], want[512], method[16];
            /* A "{*}" (the rest of the path) is one parameter in the document too. */
            snprintf(raw, sizeof raw, "%s%s", doc_prefix(&tables[t]), r->pattern);
            normalize(raw, want, sizeof want);
            lower(r->method, method, sizeof method);
            json_t *op = find_operation(paths, want, method);
            if (!op)
                fail_msg("route %s %s (%s) has no operation in docs/openapi.yaml", r->method, want,
                         r->name);
        }
    }
    assert_true(n_routes > 30);
    json_decref(doc);
}

/* The route that serves method on document path (normalized), or NULL. */
static const ah_route_t *find_route(const char *norm, const char *method)
{
    size_t n_tables = 0;
    const ah_route_table_t *tables = ah_app_route_tables(&n_tables);
    for (size_t t = 0; t < n_tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const ah_route_t *r = &tables[t].routes[i];
            char raw[512], have[512], m[16];
            snprintf(raw, sizeof raw, "%s%s", doc_prefix(&tables[t]), r->pattern);
            normalize(raw, have, sizeof have);
            lower(r->method, m, sizeof m);
            if (!strcmp(have, norm) && !strcmp(m, method))
                return r;
        }
    }
    return NULL;
}

static void test_every_operation_is_a_route(void **state)
{
    (void)state;
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};
    json_t *doc = load_openapi();
    json_t *paths = json_object_get(doc, "paths");
    const char *path;
    json_t *item;
    size_t served = 0;
    json_object_foreach(paths, path, item)
    {
        char norm[512];
        normalize(path, norm, sizeof norm);
        for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
            json_t *op = json_object_get(item, methods[i]);
            if (!op)
                continue;
            if (!find_route(norm, methods[i]))
                fail_msg("docs/openapi.yaml has %s %s, which no route serves", methods[i], path);
            if (!json_is_string(json_object_get(op, "operationId")))
                fail_msg("%s %s has no operationId", methods[i], path);
            served++;
        }
    }
    assert_true(served > 30);
    json_decref(doc);
}

static void test_document_names_this_version(void **state)
{
    (void)state;
    json_t *doc = load_openapi();
    const char *v = json_string_value(json_object_get(json_object_get(doc, "info"), "version"));
    assert_non_null(v);
    assert_string_equal(v, AH_VERSION);
    const char *oas = json_string_value(json_object_get(doc, "openapi"));
    assert_non_null(oas);
    assert_int_equal(strncmp(oas, "3.1.", 4), 0);
    /* The embedded bytes are NUL-terminated, and have no NUL before their end. */
    assert_int_equal(ah_openapi_json[ah_openapi_json_len], 0);
    assert_int_equal(strlen((const char *)ah_openapi_json), ah_openapi_json_len);
    json_decref(doc);
}

/* ---- AsyncAPI ---- */

static const char *scope_name(ah_scope_t s)
{
    return s == AH_SCOPE_REQUIRED ? "required" : s == AH_SCOPE_OPTIONAL ? "optional" : "none";
}

/* The "x-airhook-trigger:" lines of docs/asyncapi.yaml, trimmed; *n receives how many. */
static char **trigger_lines(size_t *n)
{
    const char *path = AH_SOURCE_DIR "/docs/asyncapi.yaml";
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char buf[1024], **lines = NULL;
    *n = 0;
    while (fgets(buf, sizeof buf, f)) {
        char *s = buf + strspn(buf, " ");
        if (strncmp(s, "x-airhook-trigger:", 18) != 0)
            continue;
        s[strcspn(s, "\r\n")] = '\0';
        char **grown = realloc(lines, (*n + 1) * sizeof *lines);
        assert_non_null(grown);
        lines = grown;
        lines[*n] = strdup(s);
        assert_non_null(lines[*n]);
        (*n)++;
    }
    fclose(f);
    return lines;
}

static void test_every_trigger_has_a_channel(void **state)
{
    (void)state;
    size_t n_lines = 0, n_triggers = 0;
    char **lines = trigger_lines(&n_lines);
    const ah_trigger_t *all = ah_triggers(&n_triggers);
    for (size_t i = 0; i < n_triggers; i++) {
        char want[256];
        snprintf(want, sizeof want, "x-airhook-trigger: {id: %s, airmeetId: %s, sessionId: %s}",
                 all[i].id, scope_name(all[i].airmeet), scope_name(all[i].session));
        size_t found = 0;
        for (size_t j = 0; j < n_lines; j++)
            found += !strcmp(lines[j], want);
        if (found != 1)
            fail_msg("docs/asyncapi.yaml has %zu channels with \"%s\"; it needs exactly one", found,
                     want);
    }
    /* Each line matched one trigger above: as many lines as triggers means no stranger. */
    if (n_lines != n_triggers) {
        for (size_t j = 0; j < n_lines; j++)
            print_message("docs/asyncapi.yaml: %s\n", lines[j]);
        fail_msg("docs/asyncapi.yaml has %zu trigger channels; the catalog has %zu triggers",
                 n_lines, n_triggers);
    }
    for (size_t j = 0; j < n_lines; j++)
        free(lines[j]);
    free(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_is_an_operation),
        cmocka_unit_test(test_every_operation_is_a_route),
        cmocka_unit_test(test_document_names_this_version),
        cmocka_unit_test(test_every_trigger_has_a_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
