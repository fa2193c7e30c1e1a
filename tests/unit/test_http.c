/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/http: the router, request accessors, response helpers,
 * and the strict checks of a request's head (head.c), fed heads laid out
 * the way libmicrohttpd leaves them (mhd_head.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "http/head.h"
#include "http/http.h"
#include "http/router.h"
#include "mhd_head.h"

static void h_a(struct ah_call *c, ah_http_req_t *r, ah_http_resp_t *s)
{
    (void)c, (void)r, (void)s;
}
static void h_b(struct ah_call *c, ah_http_req_t *r, ah_http_resp_t *s)
{
    (void)c, (void)r, (void)s;
}

/* Matching looks at method and pattern only; the policy is dispatch.c's (test_routes.c). */
static const ah_route_t routes[] = {
    {"GET", "/communities", h_a, "list", .body_limit = 10},
    {"POST", "/communities", h_b, "create", .body_limit = 20},
    {"GET", "/communities/{}", h_a, "get", .body_limit = 10},
    {"POST", "/communities/{}/access-keys", h_b, "keys", .body_limit = 10},
    {"DELETE", "/access-keys/{}", h_a, "revoke", .body_limit = 10},
};

static void test_match(void **state)
{
    (void)state;
    ah_http_req_t req = {0};
    const ah_route_t *r;
    char allow[64];
    assert_int_equal(ah_route_match(routes, 5, "POST", "/communities", &req, &r, allow, 64),
                     AH_MATCH_OK);
    assert_string_equal(r->name, "create");
    assert_int_equal(
        ah_route_match(routes, 5, "POST", "/communities/abc/access-keys", &req, &r, allow, 64),
        AH_MATCH_OK);
    assert_string_equal(r->name, "keys");
    assert_int_equal(req.n_params, 1);
    assert_string_equal(req.params[0], "abc");
}

static void test_no_path(void **state)
{
    (void)state;
    ah_http_req_t req = {0};
    const ah_route_t *r;
    char allow[64];
    const char *paths[] = {"/",
                           "",
                           "/communities/",
                           "/communities//access-keys",
                           "/communities/a/b",
                           "/nope",
                           "/communitiesx"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        assert_int_equal(ah_route_match(routes, 5, "GET", paths[i], &req, &r, allow, 64),
                         AH_MATCH_NO_PATH);
}

static void test_bad_method(void **state)
{
    (void)state;
    ah_http_req_t req = {0};
    const ah_route_t *r;
    char allow[64];
    assert_int_equal(ah_route_match(routes, 5, "PUT", "/communities", &req, &r, allow, 64),
                     AH_MATCH_BAD_METHOD);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(ah_route_match(routes, 5, "GET", "/access-keys/x", &req, &r, allow, 64),
                     AH_MATCH_BAD_METHOD);
    assert_string_equal(allow, "DELETE");
}

static void test_long_capture(void **state)
{
    (void)state;
    ah_http_req_t req = {0};
    const ah_route_t *r;
    char allow[64], path[600] = "/communities/";
    memset(path + 13, 'a', 500);
    path[513] = '\0';
    /* A capture larger than the param buffer does not match (and does not overflow). */
    assert_int_equal(ah_route_match(routes, 5, "GET", path, &req, &r, allow, 64), AH_MATCH_NO_PATH);
}

/* A last "{*}" takes the rest of the path: nothing, one segment, or several. */
static void test_rest_of_path(void **state)
{
    (void)state;
    static const ah_route_t rest[] = {
        {"GET", "/ui/api/session", h_a, "session", .body_limit = 10},
        {"GET", "/ui/{*}", h_a, "page", .body_limit = 10},
    };
    ah_http_req_t req = {0};
    const ah_route_t *r;
    char allow[64];
    static const char *const paths[] = {"/ui/", "/ui/app.js", "/ui/communities/abc/keys"};
    static const char *const want[] = {"", "app.js", "communities/abc/keys"};
    for (size_t i = 0; i < AH_ARRAY_LEN(paths); i++) {
        memset(&req, 0, sizeof req);
        assert_int_equal(ah_route_match(rest, 2, "GET", paths[i], &req, &r, allow, 64),
                         AH_MATCH_OK);
        assert_string_equal(r->name, "page");
        assert_int_equal(req.n_params, 1);
        assert_string_equal(req.params[0], want[i]);
    }
    /* An earlier literal row wins; "/ui" and "/uix/…" are not under "/ui/". */
    assert_int_equal(ah_route_match(rest, 2, "GET", "/ui/api/session", &req, &r, allow, 64),
                     AH_MATCH_OK);
    assert_string_equal(r->name, "session");
    assert_int_equal(ah_route_match(rest, 2, "GET", "/ui", &req, &r, allow, 64), AH_MATCH_NO_PATH);
    assert_int_equal(ah_route_match(rest, 2, "GET", "/uix/a", &req, &r, allow, 64),
                     AH_MATCH_NO_PATH);
    /* A rest too long for the param buffer does not match. */
    char path[600] = "/ui/";
    memset(path + 4, 'a', 500);
    path[504] = '\0';
    assert_int_equal(ah_route_match(rest, 2, "GET", path, &req, &r, allow, 64), AH_MATCH_NO_PATH);
}

static void test_accessors(void **state)
{
    (void)state;
    ah_http_req_t req = {0};
    req.headers[0] = (ah_kv_t){"X-Airmeet-Access-Key", "k"};
    req.headers[1] = (ah_kv_t){"content-type", "application/json"};
    req.n_headers = 2;
    req.query[0] = (ah_kv_t){"airmeetId", "a"};
    req.n_query = 1;
    assert_string_equal(ah_http_header(&req, "x-airmeet-access-key"), "k");
    assert_string_equal(ah_http_header(&req, "Content-Type"), "application/json");
    assert_null(ah_http_header(&req, "x-secret-key"));
    assert_string_equal(ah_http_query(&req, "airmeetId"), "a");
    assert_null(ah_http_query(&req, "airmeetid")); /* query names are case-sensitive */
}

static void test_resp(void **state)
{
    (void)state;
    ah_http_resp_t resp = {0};
    ah_http_resp_json(&resp, 201, json_pack("{s:s}", "a", "b"));
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.body, "{\"a\":\"b\"}");
    assert_int_equal(resp.body_len, 9);
    assert_null(resp.content_type);
    ah_http_resp_text(&resp, 200, "text/plain", "hi", 2);
    assert_string_equal(resp.body, "hi");
    assert_string_equal(resp.content_type, "text/plain");
    free(resp.body);
}

/* ---- the request target (head.c) ---- */

static ah_http_target_t scan(const char *t)
{
    ah_http_target_t out;
    ah_http_scan_target(t, strlen(t), &out);
    return out;
}

static void test_target_ok(void **state)
{
    (void)state;
    ah_http_target_t t = scan("/prod/platform-integration/v1/webhook-list?airmeetId=a&sessionId=b");
    assert_int_equal(t.status, 0);
    assert_int_equal(t.n_params, 2);
    assert_int_equal(t.query_at, 42);
    /* An encoded slash in the query is data; raw non-ASCII reaches routing (404). */
    assert_int_equal(scan("/x?next=%2Fa%2fb").status, 0);
    assert_int_equal(scan("/\xff\xfe/x").status, 0);
    t = scan("/x");
    assert_int_equal(t.query_at, 2);
    assert_int_equal(t.n_params, 0);
    /* Empty parameters do not count. */
    assert_int_equal(scan("/x?a=1&&b&").n_params, 2);
    assert_int_equal(scan("/x?").n_params, 0);
}

static void test_target_refused(void **state)
{
    (void)state;
    const char *nul[] = {"/admin/v1/communities%00/x", "/x?triggerMetaInfoId=a%00b", "/%00"};
    for (size_t i = 0; i < AH_ARRAY_LEN(nul); i++) {
        ah_http_target_t t = scan(nul[i]);
        assert_int_equal(t.status, 400);
        assert_non_null(strstr(t.problem, "%00"));
    }
    const char *slash[] = {"/admin%2fv1/communities", "/admin%2Fv1", "/a/%2F"};
    for (size_t i = 0; i < AH_ARRAY_LEN(slash); i++) {
        ah_http_target_t t = scan(slash[i]);
        assert_int_equal(t.status, 400);
        assert_non_null(strstr(t.problem, "%2F"));
    }
    assert_int_equal(scan("/a b").status, 400);
    assert_int_equal(scan("/a\tb").status, 400);
    assert_int_equal(scan("/a\x7f").status, 400);
    /* A '%' at the very end is not an escape; "%0" neither. */
    assert_int_equal(scan("/a%").status, 0);
    assert_int_equal(scan("/a%0").status, 0);
    char longer[AH_HTTP_MAX_TARGET + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[0] = '/';
    longer[sizeof longer - 1] = '\0';
    assert_int_equal(scan(longer).status, 414);
    longer[sizeof longer - 2] = '\0'; /* exactly the limit */
    assert_int_equal(scan(longer).status, 0);
}

static void test_target_counts_params(void **state)
{
    (void)state;
    char q[8192] = "/x?";
    size_t n = strlen(q);
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, "p%d=1&", i);
    ah_http_target_t t = scan(q);
    assert_int_equal(t.status, 0);
    assert_int_equal(t.n_params, 1000);
}

/* ---- the request line and header fields (head.c) ---- */

/* The status head.c gives the raw head; *close receives whether it closes. */
static int head_status(const char *raw, size_t len, bool *close)
{
    static mhd_head_t p; /* large */
    ah_http_head_t h;
    assert_true(mhd_head_parse(raw, len, &p));
    int status = mhd_head_check(&p, &h);
    if (close)
        *close = h.close;
    return status;
}

#define HEAD(s) head_status(s, sizeof(s) - 1, NULL)

static void test_head_ok(void **state)
{
    (void)state;
    assert_int_equal(HEAD("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    assert_int_equal(HEAD("GET /healthz HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(HEAD("GET /healthz HTTP/1.1\nHost: x\nY: c\n\n"), 0); /* bare LF */
    assert_int_equal(HEAD("GET /a?b=1 HTTP/1.1\r\nE:\r\nF:   \r\nG:\tv\t\r\n\r\n"), 0);
    assert_int_equal(HEAD("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 0);
    assert_int_equal(HEAD("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    assert_int_equal(HEAD("POST /x HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n"), 0);
    assert_int_equal(HEAD("GET /x HTTP/1.1\r\nX-Obs: caf\xc3\xa9\r\n\r\n"), 0); /* obs-text */
}

static void test_head_body(void **state)
{
    (void)state;
    static mhd_head_t p;
    ah_http_head_t h;
    const char cl[] = "POST /x HTTP/1.1\r\nContent-Length: 12\r\n\r\n";
    assert_true(mhd_head_parse(cl, sizeof cl - 1, &p));
    assert_int_equal(mhd_head_check(&p, &h), 0);
    assert_true(ah_http_head_has_body(&h));
    assert_int_equal(h.length, 12);
    const char zero[] = "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    assert_true(mhd_head_parse(zero, sizeof zero - 1, &p));
    assert_int_equal(mhd_head_check(&p, &h), 0);
    assert_false(ah_http_head_has_body(&h));
    const char huge[] = "POST /x HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n";
    assert_true(mhd_head_parse(huge, sizeof huge - 1, &p));
    assert_int_equal(mhd_head_check(&p, &h), 0); /* the route's limit makes it 413 */
    assert_true(h.length == UINT64_MAX);
    const char over[] = "POST /x HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n";
    assert_true(mhd_head_parse(over, sizeof over - 1, &p));
    assert_int_equal(mhd_head_check(&p, &h), 400);
    const char te[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_true(mhd_head_parse(te, sizeof te - 1, &p));
    assert_int_equal(mhd_head_check(&p, &h), 0);
    assert_true(ah_http_head_has_body(&h));
}

static void test_head_framing(void **state)
{
    (void)state;
    static const struct {
        const char *raw;
        int status;
    } cases[] = {
        {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nContent-Length : 12\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nContent-Length\t: 12\r\n\r\n", 400},
        {"GET /x HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400},
        {"GET /x HTTP/1.1\r\nX-A: a\r\n\tb c\r\nY: d\r\n\r\n", 400},
        {"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 501},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked \r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: a b\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    };
    for (size_t i = 0; i < AH_ARRAY_LEN(cases); i++) {
        bool close = false;
        int status = head_status(cases[i].raw, strlen(cases[i].raw), &close);
        if (status != cases[i].status)
            fail_msg("case %zu (%s): status %d, want %d", i, cases[i].raw, status, cases[i].status);
        assert_true(close); /* ambiguous framing: answered, then closed */
    }
}

static void test_head_layout(void **state)
{
    (void)state;
    /* A NUL byte inside a line hides the rest of it: the layout shows it. */
    const char nul_mid[] = "GET /x HTTP/1.1\r\nY: c\0junk\r\nZ: q\r\n\r\n";
    assert_int_equal(head_status(nul_mid, sizeof nul_mid - 1, NULL), 400);
    const char nul_last[] = "GET /x HTTP/1.1\r\nZ: q\0Content-Length: 5\r\n\r\n";
    assert_int_equal(head_status(nul_last, sizeof nul_last - 1, NULL), 400);
    const char nul_colon[] = "GET /x HTTP/1.1\r\nZ:\0q\r\n\r\n";
    assert_int_equal(head_status(nul_colon, sizeof nul_colon - 1, NULL), 400);
    const char nul_line[] = "GET /x\0y HTTP/1.1\r\n\r\n";
    assert_int_equal(head_status(nul_line, sizeof nul_line - 1, NULL), 400);
    /* Several spaces in the request line. */
    assert_int_equal(HEAD("GET  /x HTTP/1.1\r\n\r\n"), 400);
    /* A bare CR or another control character in a value. */
    assert_int_equal(HEAD("GET /x HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);
    assert_int_equal(HEAD("GET /x HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400);
    assert_int_equal(HEAD("GET /x HTTP/1.1\r\nX: a\x7f\r\n\r\n"), 400);
    /* Not a token: a name with a slash, a method with a quote mark. */
    assert_int_equal(HEAD("GET /x HTTP/1.1\r\nX/Y: a\r\n\r\n"), 400);
    assert_int_equal(HEAD("G\"T /x HTTP/1.1\r\n\r\n"), 400);
}

static void test_head_pointers(void **state)
{
    (void)state;
    static mhd_head_t p;
    ah_http_head_t h;
    const char raw[] = "GET /x HTTP/1.1\r\nHost: x\r\nY: c\r\n\r\n";
    assert_true(mhd_head_parse(raw, sizeof raw - 1, &p));
    /* A field out of order (libmicrohttpd never does that) is malformed. */
    mhd_field_t swap = p.f[0];
    p.f[0] = p.f[1];
    p.f[1] = swap;
    assert_int_equal(mhd_head_check(&p, &h), 400);
    /* NULL anywhere is refused, never dereferenced. */
    assert_false(ah_http_head_begin(&h, NULL, "/", 1, "HTTP/1.1", 10));
    assert_int_equal(ah_http_head_end(&h), 400);
    assert_true(mhd_head_parse(raw, sizeof raw - 1, &p));
    assert_true(ah_http_head_begin(&h, p.method, p.target, p.target_len, p.version, p.head_len));
    assert_false(ah_http_head_field(&h, p.f[0].name, p.f[0].name_len, NULL, 0));
    /* A head shorter than its own lines (header_size wrong) is malformed. */
    assert_true(mhd_head_parse(raw, sizeof raw - 1, &p));
    p.head_len = 10;
    assert_int_equal(mhd_head_check(&p, &h), 400);
}

static void test_head_size(void **state)
{
    (void)state;
    static char raw[AH_HTTP_MAX_HEAD + 200];
    for (int over = 0; over <= 1; over++) {
        int n = snprintf(raw, sizeof raw, "GET /x HTTP/1.1\r\nX: ");
        size_t fill = AH_HTTP_MAX_HEAD - 30 + (size_t)over * 100;
        memset(raw + n, 'b', fill);
        memcpy(raw + n + fill, "\r\n\r\n", 4);
        bool close = true;
        assert_int_equal(head_status(raw, (size_t)n + fill + 4, &close), over ? 431 : 0);
        assert_false(close); /* too large is not ambiguous: the connection may stay */
    }
}

/* ---- the connection budget (server.c) ---- */

static void test_connection_budget(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max > 64) {
        rl.rlim_cur = 64; /* lowered, so that raising it shows */
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    unsigned long nofile = 0;
    unsigned budget = ah_http_connection_budget(&nofile);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(rl.rlim_cur, nofile);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= (rlim_t)1 << 20)
        assert_int_equal(rl.rlim_cur, rl.rlim_max); /* raised to the hard limit */
    unsigned long reserve = nofile / 2 < AH_HTTP_RESERVED_FDS ? nofile / 2 : AH_HTTP_RESERVED_FDS;
    unsigned long want = nofile - reserve;
    want = want > AH_HTTP_MAX_CONNECTIONS_CAP ? AH_HTTP_MAX_CONNECTIONS_CAP : want;
    assert_int_equal(budget, want < 16 ? 16 : want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_no_path),
        cmocka_unit_test(test_bad_method),
        cmocka_unit_test(test_long_capture),
        cmocka_unit_test(test_rest_of_path),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_resp),
        cmocka_unit_test(test_target_ok),
        cmocka_unit_test(test_target_refused),
        cmocka_unit_test(test_target_counts_params),
        cmocka_unit_test(test_head_ok),
        cmocka_unit_test(test_head_body),
        cmocka_unit_test(test_head_framing),
        cmocka_unit_test(test_head_layout),
        cmocka_unit_test(test_head_pointers),
        cmocka_unit_test(test_head_size),
        cmocka_unit_test(test_connection_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
