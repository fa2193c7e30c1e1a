/*
 * events.c: POST /admin/v1/events, the operator publishing an event.
 *
 * The event and one delivery per matching webhook are stored in one
 * transaction (store->event_publish); the 202 goes out only after that
 * commit, which is the whole of the at-least-once promise on this side.
 * The delivered body is the "data" value exactly as it appeared in the
 * request: its span is cut from the raw text (jsonspan.c), never
 * re-serialised.  Then the dispatcher is told which webhooks have work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/metrics.h"
#include "api/triggers.h"
#include "common/jsonspan.h"

#define WHY_SIZE 256

/* Reads the event fields other than data.  Answers 400 itself. */
static bool read_event(json_t *body, ah_event_t *ev, ah_http_resp_t *resp)
{
    char why[WHY_SIZE];
    if (ah_get_str(body, "communityId", ev->community_id, sizeof ev->community_id, why,
                   sizeof why) < 0 ||
        ah_get_str(body, "triggerMetaInfoId", ev->trigger, sizeof ev->trigger, why,
                   sizeof why) < 0 ||
        ah_get_str(body, "airmeetId", ev->airmeet_id, sizeof ev->airmeet_id, why, sizeof why) <
            0 ||
        ah_get_str(body, "sessionId", ev->session_id, sizeof ev->session_id, why, sizeof why) <
            0 ||
        ah_get_str(body, "idempotencyKey", ev->idempotency_key, sizeof ev->idempotency_key, why,
                   sizeof why) < 0 ||
        ah_check_id("field 'communityId'", ev->community_id, true, why, sizeof why) ||
        ah_check_id("field 'airmeetId'", ev->airmeet_id, false, why, sizeof why) ||
        ah_check_id("field 'sessionId'", ev->session_id, false, why, sizeof why)) {
        /* ah_get_str's "too long" for ids reads better as "must be a UUID". */
        ah_admin_error(resp, 400, "%s", why);
        return false;
    }
    if (!ev->trigger[0]) {
        ah_admin_error(resp, 400, "field 'triggerMetaInfoId' is required");
        return false;
    }
    if (!ah_trigger_find(ev->trigger)) {
        ah_admin_error(resp, 400, "unknown triggerMetaInfoId '%.64s'", ev->trigger);
        return false;
    }
    if (ev->session_id[0] && !ev->airmeet_id[0]) {
        ah_admin_error(resp, 400, "sessionId needs airmeetId as well");
        return false;
    }
    json_t *data = json_object_get(body, "data");
    if (!data || json_is_null(data)) {
        ah_admin_error(resp, 400, "field 'data' is required: the JSON body to deliver");
        return false;
    }
    if (!json_is_object(data) && !json_is_array(data)) {
        ah_admin_error(resp, 400, "field 'data' must be a JSON object or array");
        return false;
    }
    return true;
}

void ah_h_event_publish(void *ctx, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = ctx;
    char why[WHY_SIZE];
    ah_event_t *ev = NULL;
    ah_publish_result_t res = {0};
    json_t *body = ah_parse_body(req, false, why, sizeof why);
    if (!body) {
        ah_admin_error(resp, 400, "%s", why);
        return;
    }
    if (!(ev = calloc(1, sizeof *ev))) {
        ah_admin_error(resp, 500, "out of memory");
        goto out;
    }
    if (!read_event(body, ev, resp))
        goto out;
    size_t off = 0, len = 0;
    if (ah_json_member_span(req->body, req->body_len, "data", &off, &len)) {
        ah_admin_error(resp, 400, "field 'data' could not be located in the body");
        goto out;
    }
    ev->data = req->body + off;
    ev->data_len = len;
    ah_community_t c;
    int rc = app->store->ops->community_get(app->store, ev->community_id, &c);
    if (rc == AH_ENOTFOUND) {
        ah_admin_error(resp, 404, "no community with id %s", ev->community_id);
        goto out;
    }
    ah_uuid_v4(ev->id);
    ev->created_at = ah_now_ms();
    if (!rc)
        rc = app->store->ops->event_publish(app->store, ev, &res);
    if (rc) {
        if (rc == AH_EUNAVAIL) {
            ah_admin_error(resp, 503, "storage is unavailable; the event was not accepted");
            ah_strlcpy(resp->retry_after, "1", sizeof resp->retry_after);
        } else
            ah_admin_error(resp, 500, "the event was not accepted (%s)", ah_strerror(rc));
        goto out;
    }
    for (size_t i = 0; res.webhook_ids && i < res.n_deliveries; i++)
        ah_dispatcher_wake(app->dispatcher, res.webhook_ids[i], ev->created_at);
    if (!res.duplicate)
        ah_metrics_event_accepted();
    ah_http_resp_json(resp, 202,
                      json_pack("{s:s, s:I, s:b}", "eventId", res.event_id, "deliveries",
                                (json_int_t)res.n_deliveries, "duplicate", res.duplicate));
out:
    free(res.webhook_ids);
    free(ev);
    json_decref(body);
}
