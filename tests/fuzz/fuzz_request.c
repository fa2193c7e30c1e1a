/* SPDX-License-Identifier: MIT */
/*
 * fuzz_request.c: libFuzzer target for the whole request path above the
 * socket: routing, each route's policy (credentials, the failed-auth
 * limiters), header and query handling, JSON body parsing and every
 * handler, against an in-memory SQLite store.  The credential bits let the
 * fuzzer get past the policy to the handlers.
 *
 * Input format (so the corpus stays readable):
 *   byte 0        credentials to add: bit 0 a valid key pair, bit 1 a valid
 *                 token, bit 2 the admin bearer token
 *   "METHOD PATH[?QUERY]\n"
 *   "Name: value\n" ...   headers, until an empty line
 *   body          the rest
 * The query is split on '&' and '=' without decoding, as the listener would
 * hand it over.  Any response is fine; crashes, leaks, UB and hangs are not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/crypto.h"

static ah_app_t g_app;
static ah_store_t *g_store;
static char g_access[64], g_secret[80], g_token[80];
static const char *g_admin = "fuzz-admin-token";

static void setup(void)
{
    char err[256], tok[80];
    if (ah_store_open("sqlite::memory:", &g_store, err, sizeof err))
        abort();
    ah_config_t cfg = {.listen = "x", .db = "x", .admin_token = g_admin, .base_path = "/prod",
                       .region = "mumbai", .token_ttl_ms = 86400000, .auth_fail_limit = 0,
                       .threads = 1, .serve_api = true};
    if (ah_app_init(&g_app, &cfg, g_store, tok, sizeof tok, err, sizeof err))
        abort();
    ah_community_t c = {.id = "11111111-1111-4111-8111-111111111111", .name = "c", .created_at = 1};
    ah_airmeet_t a = {.id = "22222222-2222-4222-8222-222222222222",
                      .community_id = "11111111-1111-4111-8111-111111111111", .name = "a"};
    ah_session_t s = {.id = "33333333-3333-4333-8333-333333333333",
                      .airmeet_id = "22222222-2222-4222-8222-222222222222",
                      .community_id = "11111111-1111-4111-8111-111111111111", .name = "s"};
    ah_access_key_t k = {.id = "44444444-4444-4444-8444-444444444444",
                         .community_id = "11111111-1111-4111-8111-111111111111",
                         .label = "fuzz", .access_key = "55555555-5555-4555-8555-555555555555"};
    ah_strlcpy(g_access, k.access_key, sizeof g_access);
    ah_strlcpy(g_secret, "ahs_fuzzsecret", sizeof g_secret);
    ah_sha256_hex(g_secret, strlen(g_secret), k.secret_hash);
    ah_token_t t = {.key_id = "44444444-4444-4444-8444-444444444444",
                    .community_id = "11111111-1111-4111-8111-111111111111", .label = "fuzz",
                    .expires_at = INT64_MAX / 2};
    ah_strlcpy(g_token, "aht_fuzztoken", sizeof g_token);
    ah_sha256_hex(g_token, strlen(g_token), t.token_hash);
    if (ah_store_community_create(g_store, &c) || ah_store_airmeet_create(g_store, &a) ||
        ah_store_session_create(g_store, &s) || ah_store_access_key_create(g_store, &k) ||
        ah_store_token_create(g_store, &t))
        abort();
}

/* Splits off one '\n'-terminated line; returns NULL at the end. */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *nl = memchr(*p, '\n', (size_t)(end - *p));
    char *line = *p;
    if (!nl) {
        *p = end;
        return line;
    }
    *nl = '\0';
    *p = nl + 1;
    return line;
}

static void add_header(ah_http_req_t *req, const char *k, const char *v)
{
    if (req->n_headers < AH_HTTP_MAX_HEADERS) {
        req->headers[req->n_headers].key = k;
        req->headers[req->n_headers].value = v;
        req->n_headers++;
    }
}

static void parse_query(ah_http_req_t *req, char *q)
{
    while (q && *q && !req->query_problem) {
        char *amp = strchr(q, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq)
            *eq = '\0';
        for (size_t i = 0; i < req->n_query; i++)
            if (!strcmp(req->query[i].key, q))
                req->query_problem = "a query parameter appears more than once";
        if (req->n_query == AH_HTTP_MAX_QUERY)
            req->query_problem = "too many query parameters";
        else if (!req->query_problem) {
            req->query[req->n_query].key = q;
            req->query[req->n_query].value = eq ? eq + 1 : "";
            req->n_query++;
        }
        q = amp ? amp + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 2 || size > 256 * 1024)
        return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *p = buf + 1, *end = buf + size;
    unsigned creds = (unsigned char)buf[0];
    ah_http_req_t *req = calloc(1, sizeof *req);
    ah_http_resp_t resp = {0};
    char bearer[64];
    char *line = next_line(&p, end);
    char *sp = line ? strchr(line, ' ') : NULL;
    if (!sp)
        goto out;
    *sp = '\0';
    req->method = line;
    char *path = sp + 1, *q = strchr(path, '?');
    if (q)
        *q++ = '\0';
    req->path = path;
    parse_query(req, q);
    while ((line = next_line(&p, end)) && *line) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        add_header(req, line, v);
    }
    if (creds & 1) {
        add_header(req, "x-access-key", g_access);
        add_header(req, "x-secret-key", g_secret);
    }
    if (creds & 2)
        add_header(req, "X-Airmeet-Access-Token", g_token);
    if (creds & 4) {
        snprintf(bearer, sizeof bearer, "Bearer %s", g_admin);
        add_header(req, "Authorization", bearer);
    }
    req->body = p < end ? p : end;
    req->body_len = (size_t)(end - req->body);
    memcpy(req->client_ip, "127.0.0.1", 10);
    ah_http_app_t h = ah_app_http(&g_app);
    size_t limit = 0;
    if (h.prepare(h.ctx, req, &limit, &resp)) {
        if (req->body_len > limit)
            h.too_big(h.ctx, req, limit, &resp);
        else
            h.handle(h.ctx, req, &resp);
    }
    if (resp.status < 100 || resp.status > 599)
        abort();
out:
    ah_http_resp_clear(&resp);
    free(req);
    free(buf);
    return 0;
}
