/*
 * router.h: method + path matching over a static table of routes.
 *
 * A pattern is a path whose "{}" segments match any one non-empty segment
 * and are captured into req->params in order.  Matching is linear: the
 * tables are a few dozen routes and a scan beats any structure at that size.
 */
#ifndef AH_ROUTER_H
#define AH_ROUTER_H

#include <stddef.h>

#include "http/http.h"

/*
 * The shape of a route's error bodies.  0 is no dialect, so a row that
 * forgets to say is caught (tests/unit/test_routes.c) rather than guessed.
 */
typedef enum ah_dialect {
    AH_DIALECT_UNSET = 0,
    AH_DIALECT_PUBLIC, /* the Airmeet envelope {"statusCode":"400","statusMessage":…,"message":…} */
    AH_DIALECT_ADMIN, /* the admin API's {"error":"BAD_REQUEST","message":…} */
    AH_DIALECT_AUTH,  /* POST /auth's own answers: {"success":false,"message":…} */
} ah_dialect_t;

typedef void (*ah_handler_fn)(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp);

typedef struct ah_route {
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *pattern; /* "/communities/{}/access-keys" */
    ah_handler_fn fn;
    const char *name;  /* label for metrics and logs */
    size_t body_limit; /* bytes */
} ah_route_t;

typedef enum { AH_MATCH_OK, AH_MATCH_NO_PATH, AH_MATCH_BAD_METHOD } ah_match_t;

/*
 * Matches path (already stripped of any prefix) against routes.  On
 * AH_MATCH_OK *out is the route and req->params hold the captures.  On
 * AH_MATCH_BAD_METHOD `allow` lists the methods the path does take
 * ("GET, POST") and *out is one route of that path (for its name).
 */
ah_match_t ah_route_match(const ah_route_t *routes, size_t n, const char *method, const char *path,
                          ah_http_req_t *req, const ah_route_t **out, char *allow, size_t allowsz);

#endif
