/* SPDX-License-Identifier: MIT */
/*
 * ui.c: serves the web console (docs/console.md): "/" and "/ui" redirect to
 * "/ui/", and "/ui/<path>" answers the compiled-in file of that name
 * (ui.h).  The console is a single-page app that routes by path, so a path
 * that names no file and has no extension in its last segment
 * ("/ui/communities/…") is answered index.html; one that looks like a file
 * and is not there is 404.
 *
 * Every answer carries a strong ETag (the gzip variant its own, with
 * "-gz"), Cache-Control: no-cache (the browser revalidates, and a request
 * naming the ETag in If-None-Match is 304 without a body), Vary:
 * Accept-Encoding where a gzip variant exists, and the console's security
 * headers: a Content-Security-Policy that allows nothing but this origin's
 * files (no inline script or style, no framing), nosniff and no referrer.
 * The bytes are the binary's own: answers share them without a copy.
 *
 * With --ui off these paths answer 404 as any unknown path does.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"
#include "api/ui.h"

static const ah_kv_t security_headers[] = {
    {"Content-Security-Policy",
     "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

void ah_ui_headers(ah_http_resp_t *resp)
{
    resp->extra_headers = security_headers;
    resp->n_extra_headers = AH_ARRAY_LEN(security_headers);
}

const ah_ui_asset_t *ah_ui_asset(const char *name)
{
    for (size_t i = 0; i < ah_ui_assets_n; i++)
        if (!strcmp(ah_ui_assets[i].name, name))
            return &ah_ui_assets[i];
    return NULL;
}

/* Does Accept-Encoding allow gzip?  A "gzip" (or "*") token without q=0. */
static bool accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    for (const char *p = ae; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t name = strcspn(p, " \t;,");
        if ((name == 4 && !strncasecmp(p, "gzip", 4)) || (name == 1 && *p == '*')) {
            const char *q = p + name;
            const char *end = p + len;
            const char *qv = NULL;
            for (const char *t = q; t + 2 <= end; t++)
                if ((t[0] == 'q' || t[0] == 'Q') && t[1] == '=') {
                    qv = t + 2;
                    break;
                }
            if (!qv)
                return true;
            /* q=0, q=0.0, q=0.000: refused; anything else: allowed. */
            while (qv < end && (*qv == '0' || *qv == '.'))
                qv++;
            if (qv < end && *qv >= '1' && *qv <= '9')
                return true;
        }
        p += len;
    }
    return false;
}

/* The same bytes for every answer: nothing to give back. */
static void keep(void *arg)
{
    (void)arg;
}

static bool ui_off(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp)
{
    if (c->app->cfg.ui)
        return false;
    ah_error(resp, AH_DIALECT_PUBLIC, 404, "no such endpoint: %s %s (the console is off: --ui off)",
             req->method, req->path);
    return true;
}

static void redirect(ah_http_resp_t *resp)
{
    ah_http_resp_text(resp, 302, "text/plain; charset=utf-8", "/ui/\n", 5);
    ah_strlcpy(resp->location, "/ui/", sizeof resp->location);
    ah_ui_headers(resp);
}

void ah_h_ui_root(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    if (!ui_off(c, req, resp))
        redirect(resp);
}

void ah_h_ui(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    if (ui_off(c, req, resp))
        return;
    const char *name = req->n_params ? req->params[0] : "";
    if (!strcmp(req->path, "/ui")) {
        redirect(resp);
        return;
    }
    const ah_ui_asset_t *a = *name ? ah_ui_asset(name) : NULL;
    if (!a) {
        const char *last = strrchr(name, '/');
        last = last ? last + 1 : name;
        if (strchr(last, '.')) {
            ah_error(resp, AH_DIALECT_PUBLIC, 404, "no such file in the console: %s", req->path);
            ah_ui_headers(resp);
            return;
        }
        a = ah_ui_asset("index.html");
        if (!a) {
            ah_error(resp, AH_DIALECT_PUBLIC, 404, "this build has no console (ui/index.html)");
            return;
        }
    }
    bool gz = a->gz && accepts_gzip(ah_http_header(req, "Accept-Encoding"));
    snprintf(resp->etag, sizeof resp->etag, "%.*s%s\"", (int)strlen(a->etag) - 1, a->etag,
             gz ? "-gz" : "");
    const char *inm = ah_http_header(req, "If-None-Match");
    if (inm && ah_etag_matches(inm, resp->etag)) {
        ah_http_resp_clear(resp);
        resp->status = 304;
    } else if (gz) {
        ah_http_resp_shared(resp, 200, (const char *)a->gz, a->gz_len, keep, NULL);
        resp->content_encoding = "gzip";
    } else {
        ah_http_resp_shared(resp, 200, (const char *)a->data, a->len, keep, NULL);
    }
    resp->content_type = a->content_type;
    if (a->gz)
        resp->vary = "Accept-Encoding";
    resp->cache_control = "no-cache";
    ah_ui_headers(resp);
}
