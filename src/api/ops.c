/*
 * ops.c: the operations endpoints: /healthz (the process answers),
 * /readyz (the store answers), /metrics (Prometheus text).
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/app.h"
#include "api/metrics.h"

void ah_h_healthz(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = ctx;
    ah_http_resp_json(resp, 200,
                      json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "version", AH_VERSION,
                                "region", app->cfg.region, "uptimeSeconds",
                                (json_int_t)((ah_now_ms() - app->started_ms) / 1000)));
}

void ah_h_readyz(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = ctx;
    int rc = app->store->ops->ping(app->store);
    if (rc)
        ah_http_resp_json(resp, 503,
                          json_pack("{s:s, s:s, s:s}", "status", "unavailable", "store",
                                    app->store->ops->name, "error", ah_strerror(rc)));
    else
        ah_http_resp_json(resp, 200,
                          json_pack("{s:s, s:s}", "status", "ready", "store",
                                    app->store->ops->name));
}

void ah_h_metrics(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)ctx;
    (void)req;
    char *text = NULL;
    size_t len = 0;
    if (ah_metrics_render(&text, &len, NULL)) {
        ah_public_error(resp, 500, "could not render metrics");
        return;
    }
    ah_http_resp_text(resp, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}
