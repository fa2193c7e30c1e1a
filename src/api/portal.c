/* SPDX-License-Identifier: MIT */
/*
 * portal.c: the integrators' own view of their webhooks and deliveries,
 * under the public base path in airhook's namespace (/airhook/v1), with
 * the token from /auth (X-Airmeet-Access-Token) as webhook-list takes it,
 * answered in the public API's error dialect (docs/api.md, "Integrator
 * portal").
 *
 * Everything is scoped to the token's community and nothing else: a
 * webhook or delivery of another community is answered 404 exactly as one
 * that does not exist, before anything else is checked, so an integrator
 * cannot learn whether another community's id exists.  The actions (retry,
 * rotate) are the admin API's own code paths (deliveries.c) given the
 * community to hold to.
 */
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/series.h"

/* Deliveries read, newest first, to find a webhook's last attempt. */
#define LAST_ATTEMPT_SCAN 20

/*
 * Fetches webhook id of the caller's community into *w; answers 404 for
 * an unknown id or another community's, and a store failure, itself.
 */
static bool own_webhook(const ah_call_t *c, const char *id, ah_webhook_t *w, ah_http_resp_t *resp)
{
    int rc = ah_store_webhook_get(c->app->store, id, w);
    if (rc == AH_OK && strcmp(w->community_id, c->caller.community_id) == 0)
        return true;
    if (rc && rc != AH_ENOTFOUND)
        ah_store_error(resp, c->dialect, rc);
    else
        ah_error(resp, c->dialect, 404, "no webhook with id %s", id);
    return false;
}

/* The webhook's path id as a UUID, then the webhook itself, of the caller's community. */
static bool path_webhook(const ah_call_t *c, const ah_http_req_t *req, char id[AH_ID_SIZE],
                         ah_webhook_t *w, ah_http_resp_t *resp)
{
    return ah_path_id(c, req, resp, &ah_kind_webhook, id) && own_webhook(c, id, w, resp);
}

/*
 * The portal's view of a webhook: the admin view (its state and why it was
 * disabled), "status", its last attempt as the newest of its deliveries
 * that was attempted shows it, and its success over the last 24 hours from
 * this node's series (series.h: null when the node did not track it).
 */
static json_t *portal_webhook_json(ah_app_t *app, const ah_webhook_t *w)
{
    json_t *o = ah_webhook_json(w, AH_VIEW_ADMIN);
    if (!o)
        return NULL;
    const char *status = w->deregistered_at ? "deregistered" : w->is_active ? "active" : "disabled";
    ah_delivery_filter_t f = {.webhook_id = w->id, .status = -1, .limit = LAST_ATTEMPT_SCAN};
    ah_delivery_t *list = NULL;
    size_t n = 0;
    const ah_delivery_t *last = NULL;
    if (ah_store_delivery_list(app->store, &f, &list, &n, NULL) == AH_OK)
        for (size_t i = 0; i < n && !last; i++)
            if (list[i].attempts > 0)
                last = &list[i];
    bool tracked = false;
    uint64_t day[AH_METRICS_N_OUTCOMES], total = 0;
    if (ah_series_sum(ah_series_process(), w->id, AH_SERIES_MINUTES, ah_now_ms(), day, &tracked))
        tracked = false;
    for (int k = 0; tracked && k < AH_METRICS_N_OUTCOMES; k++)
        total += day[k];
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "lastAttemptAt", ah_json_time(last ? last->updated_at : 0));
    json_object_set_new(o, "lastStatusCode",
                        last && last->last_status_code ? json_integer(last->last_status_code)
                                                       : json_null());
    json_object_set_new(o, "lastError", ah_json_str_or_null(last ? last->last_error : ""));
    json_object_set_new(o, "attempts24h", tracked ? json_integer((json_int_t)total) : json_null());
    json_object_set_new(o, "successRate24h",
                        tracked && total
                            ? json_real((double)day[AH_METRICS_SUCCEEDED] / (double)total)
                            : json_null());
    free(list);
    /* lastError may hold a receiver's bytes that are not UTF-8: json_string gave NULL then. */
    if (!json_object_get(o, "lastError"))
        json_object_set_new(o, "lastError", json_string("(not UTF-8)"));
    return o;
}

/* GET {base}/airhook/v1/webhooks: the community's webhooks, any state, oldest first, paged. */
void ah_h_portal_webhooks(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_webhook_filter_t f = {.state = AH_WEBHOOK_ANY, .community_id = c->caller.community_id};
    if (!ah_page_query(c, req, &f.limit, &f.cursor, NULL, resp) ||
        !ah_query_webhook_state(c, req, &f.state, resp))
        return;
    ah_webhook_page_reply(c, &f, portal_webhook_json, resp);
}

/* GET {base}/airhook/v1/webhooks/{id}/stats/series: the charts of one of their webhooks. */
void ah_h_portal_series(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    size_t minutes;
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (path_webhook(c, req, id, w, resp) && ah_series_minutes(c, req, &minutes, resp))
        ah_series_reply(c, id, minutes, resp);
    free(w);
}

/*
 * GET {base}/airhook/v1/deliveries[?webhookId=…]: a page of the
 * community's deliveries (or of one of its webhooks'), newest first, with
 * the admin list's filters.
 */
void ah_h_portal_deliveries(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_delivery_filter_t f = {0};
    char id[AH_ID_SIZE];
    if (!ah_delivery_list_query(c, req, &f, resp))
        return;
    const char *text = ah_http_query(req, "webhookId");
    char why[AH_WHY_SIZE];
    if (!text || !*text) {
        f.community_id = c->caller.community_id;
        ah_delivery_list_reply(c, &f, resp);
        return;
    }
    if (strlen(text) >= sizeof id) {
        ah_error(resp, c->dialect, 404, "no webhook with id %.40s", text);
        return;
    }
    memcpy(id, text, strlen(text) + 1);
    if (ah_check_id("webhookId", id, true, why, sizeof why)) {
        ah_error(resp, c->dialect, 404, "no webhook with id %.40s", text);
        return;
    }
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (own_webhook(c, id, w, resp)) {
        f.webhook_id = id;
        ah_delivery_list_reply(c, &f, resp);
    }
    free(w);
}

/* POST {base}/airhook/v1/deliveries/{id}/retry: send one of their deliveries again. */
void ah_h_portal_retry(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_delivery_retry_in(c, req, resp, c->caller.community_id);
}

/* POST {base}/airhook/v1/webhooks/{id}/rotate-secret: a new signing secret, the old one
 * overlapping. */
void ah_h_portal_rotate(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_webhook_rotate_in(c, req, resp, c->caller.community_id);
}
