/* Unit tests for src/http: the router, request accessors, response helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "http/router.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),      cmocka_unit_test(test_no_path),
        cmocka_unit_test(test_bad_method), cmocka_unit_test(test_long_capture),
        cmocka_unit_test(test_accessors),  cmocka_unit_test(test_resp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
