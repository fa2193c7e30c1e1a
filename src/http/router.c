/*
 * router.c: see router.h.  Captured segments are copied into the request's
 * param_buf, so params stay valid for the request's lifetime.
 */
#include "http/router.h"

#include <string.h>

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
