/* SPDX-License-Identifier: MIT */
/*
 * router.c: see router.h.  Captured segments are copied into the request's
 * param_buf, so params stay valid for the request's lifetime.  What a row
 * must declare is checked here too (ah_route_policy_problem); enforcing it
 * is the application's.
 */
#include "http/router.h"

#include <string.h>

const char *ah_route_policy_problem(const ah_route_t *r)
{
    if (!r->method || !r->pattern || !r->fn || !r->name)
        return "no method, pattern, handler or name";
    if (r->auth <= AH_AUTH_UNSET || r->auth > AH_AUTH_CONSOLE)
        return "no .auth (who may call it)";
    if (r->dialect <= AH_DIALECT_UNSET || r->dialect > AH_DIALECT_AUTH)
        return "no .dialect (the shape of its error bodies)";
    if (!r->body_limit)
        return "no .body_limit (the largest body it takes)";
    if (r->rate <= AH_RATE_UNSET || r->rate > AH_RATE_ADMIN)
        return "no .rate (which limiter counts its failed authentications)";
    if (r->auth == AH_AUTH_NONE && r->rate != AH_RATE_NONE)
        return ".auth is none, so there are no failed authentications for .rate to count";
    if (r->auth != AH_AUTH_NONE && r->rate == AH_RATE_NONE)
        return "it takes credentials, so .rate must name a limiter for their failures";
    if ((r->auth == AH_AUTH_ADMIN) != (r->rate == AH_RATE_ADMIN))
        return "the admin token, and only it, is counted by the admin limiter (.rate)";
    return NULL;
}

/* Does path match pattern?  Captures go to req when req is non-NULL. */
static int path_matches(const char *pattern, const char *path, ah_http_req_t *req)
{
    size_t used = 0, n_params = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen == 3 && !memcmp(p, "{*}", 3) && !p[3]) {
            /* The last segment "{*}" takes the rest of the path, slashes and all, even "". */
            slen = strlen(s);
            if (n_params == AH_HTTP_MAX_PARAMS)
                return 0;
            if (req) {
                if (used + slen + 1 > sizeof req->param_buf)
                    return 0;
                memcpy(req->param_buf + used, s, slen + 1);
                req->params[n_params] = req->param_buf + used;
                used += slen + 1;
            }
            n_params++;
            p += plen;
            s += slen;
            break;
        }
        if (plen == 2 && p[0] == '{' && p[1] == '}') {
            if (slen == 0 || n_params == AH_HTTP_MAX_PARAMS)
                return 0;
            if (req) {
                if (used + slen + 1 > sizeof req->param_buf)
                    return 0;
                memcpy(req->param_buf + used, s, slen);
                req->param_buf[used + slen] = '\0';
                req->params[n_params] = req->param_buf + used;
                used += slen + 1;
            }
            n_params++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return 0;
        }
        p += plen;
        s += slen;
    }
    if (*p || *s)
        return 0;
    if (req)
        req->n_params = n_params;
    return 1;
}

ah_match_t ah_route_match(const ah_route_t *routes, size_t n, const char *method, const char *path,
                          ah_http_req_t *req, const ah_route_t **out, char *allow, size_t allowsz)
{
    const ah_route_t *any = NULL;
    size_t alen = 0;
    if (allowsz)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(routes[i].method, method)) {
            /* A capture too long for param_buf makes this a non-match. */
            if (path_matches(routes[i].pattern, path, req)) {
                *out = &routes[i];
                return AH_MATCH_OK;
            }
            continue;
        }
        if (!path_matches(routes[i].pattern, path, NULL))
            continue;
        if (!any)
            any = &routes[i];
        size_t mlen = strlen(routes[i].method);
        if (allowsz && alen + mlen + 3 < allowsz && !strstr(allow, routes[i].method)) {
            if (alen) {
                memcpy(allow + alen, ", ", 2);
                alen += 2;
            }
            memcpy(allow + alen, routes[i].method, mlen + 1);
            alen += mlen;
        }
    }
    *out = any;
    return any ? AH_MATCH_BAD_METHOD : AH_MATCH_NO_PATH;
}
