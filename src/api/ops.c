/*
 * ops.c: the operations endpoints: /healthz (the process answers),
 * /readyz (the store answers), /metrics (Prometheus text).
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/app.h"
#include "common/metrics.h"

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
    char *text = NULL, extra[512] = "";
    size_t len = 0;
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
    }
    if (ah_metrics_render(&text, &len, extra)) {
        ah_error(resp, c->dialect, 500, "could not render metrics");
        return;
    }
    ah_http_resp_text(resp, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}
