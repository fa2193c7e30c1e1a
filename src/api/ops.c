/* SPDX-License-Identifier: MIT */
/*
 * ops.c: the operations endpoints: /healthz (the process answers),
 * /readyz (the store answers), /metrics (Prometheus text) and
 * /openapi.json (the API's contract).
 *
 * /openapi.json answers docs/openapi.json, which the build compiles in as a
 * byte array (cmake/embed.cmake); the document is docs/openapi.yaml as JSON
 * (scripts/contracts.py writes it; `make contracts` fails when the two
 * differ).  The bytes never change while the process runs, so the answer
 * shares them (no copy) and carries a strong ETag, the first 32 hex digits
 * of their SHA-256, worked out once; a request whose If-None-Match names it
 * is answered 304 without a body.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/crypto.h"
#include "common/metrics.h"

/* Generated at build time from docs/openapi.json (CMakeLists.txt); NUL-terminated. */
extern const unsigned char ah_openapi_json[];
extern const size_t ah_openapi_json_len;

void ah_h_healthz(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = c->app;
    ah_http_resp_json(resp, 200,
                      json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "version", AH_VERSION,
                                "region", app->cfg.region, "uptimeSeconds",
                                (json_int_t)((ah_now_ms() - app->started_ms) / 1000)));
}

void ah_h_readyz(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = c->app;
    int rc = ah_store_ping(app->store);
    if (rc)
        ah_http_resp_json(resp, 503,
                          json_pack("{s:s, s:s, s:s}", "status", "unavailable", "store",
                                    ah_store_name(app->store), "error", ah_strerror(rc)));
    else
        ah_http_resp_json(
            resp, 200,
            json_pack("{s:s, s:s}", "status", "ready", "store", ah_store_name(app->store)));
}

void ah_h_metrics(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = c->app;
    char *text = NULL, extra[4096] = "";
    size_t len = 0, used = 0;
    ah_delivery_stats_t st;
    if (ah_store_delivery_stats(app->store, &st) == 0) {
        int64_t age_ms =
            st.oldest_pending_created_at ? ah_now_ms() - st.oldest_pending_created_at : 0;
        snprintf(extra, sizeof extra,
                 "# HELP airhook_delivery_queue_depth Deliveries pending (waiting or in flight).\n"
                 "# TYPE airhook_delivery_queue_depth gauge\n"
                 "airhook_delivery_queue_depth %lld\n"
                 "# HELP airhook_delivery_oldest_pending_age_seconds Age of the oldest pending "
                 "delivery.\n"
                 "# TYPE airhook_delivery_oldest_pending_age_seconds gauge\n"
                 "airhook_delivery_oldest_pending_age_seconds %.3f\n",
                 (long long)st.pending, (double)(age_ms > 0 ? age_ms : 0) / 1000.0);
        used = strlen(extra);
    }
    if (app->retention) {
        ah_retention_stats_t rs;
        ah_retention_stats(app->retention, &rs);
        snprintf(extra + used, sizeof extra - used,
                 "# HELP airhook_retention_removed_total Rows the retention purge removed (this "
                 "node).\n"
                 "# TYPE airhook_retention_removed_total counter\n"
                 "airhook_retention_removed_total{what=\"events\"} %llu\n"
                 "airhook_retention_removed_total{what=\"deliveries\"} %llu\n"
                 "airhook_retention_removed_total{what=\"attempts\"} %llu\n"
                 "# HELP airhook_retention_passes_total Passes over the old events completed.\n"
                 "# TYPE airhook_retention_passes_total counter\n"
                 "airhook_retention_passes_total %llu\n"
                 "# HELP airhook_retention_failures_total Purge or reclaim calls that failed.\n"
                 "# TYPE airhook_retention_failures_total counter\n"
                 "airhook_retention_failures_total %llu\n"
                 "# HELP airhook_retention_batch_seconds_max The longest purge call (one write "
                 "transaction).\n"
                 "# TYPE airhook_retention_batch_seconds_max gauge\n"
                 "airhook_retention_batch_seconds_max %.6f\n"
                 "# HELP airhook_retention_transaction_seconds_total Time purge calls spent "
                 "inside their write transactions.\n"
                 "# TYPE airhook_retention_transaction_seconds_total counter\n"
                 "airhook_retention_transaction_seconds_total %.6f\n"
                 "# HELP airhook_retention_reclaimed_bytes_total Free space given back to the "
                 "filesystem.\n"
                 "# TYPE airhook_retention_reclaimed_bytes_total counter\n"
                 "airhook_retention_reclaimed_bytes_total %llu\n",
                 (unsigned long long)rs.events, (unsigned long long)rs.deliveries,
                 (unsigned long long)rs.attempts, (unsigned long long)rs.passes,
                 (unsigned long long)rs.failures, (double)rs.batch_max_us / 1e6,
                 (double)rs.held_us / 1e6, (unsigned long long)rs.reclaimed_bytes);
        used += strlen(extra + used);
        if (rs.space.known)
            snprintf(extra + used, sizeof extra - used,
                     "# HELP airhook_store_file_bytes The database file (SQLite; not its WAL).\n"
                     "# TYPE airhook_store_file_bytes gauge\n"
                     "airhook_store_file_bytes %lld\n"
                     "# HELP airhook_store_free_bytes Free pages in it, reused before it grows.\n"
                     "# TYPE airhook_store_free_bytes gauge\n"
                     "airhook_store_free_bytes %lld\n",
                     (long long)rs.space.file_bytes, (long long)rs.space.free_bytes);
    }
    if (ah_metrics_render(&text, &len, extra)) {
        ah_error(resp, c->dialect, 500, "could not render metrics");
        return;
    }
    ah_http_resp_text(resp, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static pthread_once_t etag_once = PTHREAD_ONCE_INIT;
static char openapi_etag[40]; /* "\"" + 32 hex digits + "\"" */

static void make_etag(void)
{
    char hex[AH_SHA256_HEX_SIZE];
    ah_sha256_hex(ah_openapi_json, ah_openapi_json_len, hex);
    snprintf(openapi_etag, sizeof openapi_etag, "\"%.32s\"", hex);
}

bool ah_etag_matches(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        if (!*p)
            break;
        size_t len = strcspn(p, " \t,");
        if (len == 1 && *p == '*')
            return true;
        const char *tag = len > 2 && !strncmp(p, "W/", 2) ? p + 2 : p;
        if ((size_t)(p + len - tag) == n && !memcmp(tag, etag, n))
            return true;
        p += len;
    }
    return false;
}

/* The document is static: nothing to give back when an answer is done with it. */
static void keep(void *arg)
{
    (void)arg;
}

void ah_h_openapi(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)c;
    pthread_once(&etag_once, make_etag);
    const char *inm = ah_http_header(req, "If-None-Match");
    if (inm && ah_etag_matches(inm, openapi_etag)) {
        ah_http_resp_clear(resp);
        resp->status = 304;
    } else {
        ah_http_resp_shared(resp, 200, (const char *)ah_openapi_json, ah_openapi_json_len, keep,
                            NULL);
    }
    ah_strlcpy(resp->etag, openapi_etag, sizeof resp->etag);
}
