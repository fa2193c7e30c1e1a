/* SPDX-License-Identifier: MIT */
/*
 * router.h: route rows, and method + path matching over a static table of
 * them.
 *
 * A pattern is a path whose "{}" segments match any one non-empty segment
 * and are captured into req->params in order; a last segment "{*}" matches
 * the rest of the path, slashes included, or nothing (the console's pages).  Matching is linear:
 * the tables are a few dozen routes and a scan beats any structure at that size.
 *
 * A row also declares the route's policy: who may call it (.auth), the
 * shape of its error bodies (.dialect), how large a body it takes
 * (.body_limit) and which limiter counts its failed authentications
 * (.rate).  The router only matches; the application (src/api/dispatch.c)
 * enforces every field before the handler runs, so a handler cannot be
 * reached in a way its row does not allow.  The zero value of each field
 * is "unset", which is no policy: ah_route_policy_problem() names it,
 * tests/unit/test_routes.c fails on it, and the dispatcher refuses such a
 * row rather than guess.
 */
#ifndef AH_ROUTER_H
#define AH_ROUTER_H

#include <stddef.h>

#include "http/http.h"

/* Who may call a route. */
typedef enum ah_auth {
    AH_AUTH_UNSET = 0,
    AH_AUTH_NONE,     /* anyone: /healthz, a static asset */
    AH_AUTH_KEY_PAIR, /* an access key and its secret key, in headers */
    AH_AUTH_TOKEN,    /* a token from POST /auth, in X-Airmeet-Access-Token */
    AH_AUTH_ADMIN,    /* the operator: Authorization: Bearer <admin token> */
    AH_AUTH_CONSOLE,  /* a web console session: refused while there is no sign-in */
} ah_auth_t;

/*
 * The shape of a route's error bodies.  What is said about the request
 * itself rather than to the caller (405, 413, a bad query string) keeps the
 * shape of the API the route belongs to: /auth's are public.
 */
typedef enum ah_dialect {
    AH_DIALECT_UNSET = 0,
    AH_DIALECT_PUBLIC, /* the Airmeet envelope {"statusCode":"400","statusMessage":…,"message":…} */
    AH_DIALECT_ADMIN, /* the admin API's {"error":"BAD_REQUEST","message":…} */
    AH_DIALECT_AUTH,  /* POST /auth's own answers: {"success":false,"message":…} */
} ah_dialect_t;

/* Which limiter counts a route's failed authentications (api/ratelimit.h). */
typedef enum ah_rate {
    AH_RATE_UNSET = 0,
    AH_RATE_NONE,  /* none: the route takes no credentials */
    AH_RATE_AUTH,  /* the public API's: key pairs, tokens, console sessions */
    AH_RATE_ADMIN, /* the admin API's own, so integrators cannot lock the operator out */
} ah_rate_t;

/* What the application hands a handler besides req and resp (api/app.h). */
struct ah_call;
typedef void (*ah_handler_fn)(struct ah_call *c, ah_http_req_t *req, ah_http_resp_t *resp);

typedef struct ah_route {
    const char *method;  /* "GET", "POST", "DELETE" */
    const char *pattern; /* "/communities/{}/access-keys" */
    ah_handler_fn fn;
    const char *name; /* label for metrics and logs */
    ah_auth_t auth;
    ah_dialect_t dialect;
    size_t body_limit; /* bytes */
    ah_rate_t rate;
} ah_route_t;

/*
 * NULL when r declares a complete and coherent policy; otherwise a sentence
 * naming what is missing or contradictory ("no .auth (who may call it)").
 * Coherent: a route that takes credentials has a limiter to count their
 * failures (the admin token its own), and one that takes none has none.
 */
const char *ah_route_policy_problem(const ah_route_t *r);

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
