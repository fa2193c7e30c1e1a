/* SPDX-License-Identifier: MIT */
/*
 * events.c: POST /admin/v1/events, the operator publishing an event.
 *
 * The event and one delivery per matching webhook are stored in one
 * transaction (store->event_publish); the 202 goes out only after that
 * commit, which is the whole of the at-least-once promise on this side.
 * The delivered body is the "data" value exactly as it appeared in the
 * request: its span is cut from the raw text (jsonspan.c), never
 * re-serialised.  Then the dispatcher is told which webhooks have work.
 *
 * While the event waits for its commit the request is suspended
 * (ah_http_suspend) and the store answers it from its publishing thread
 * (event_publish_async), so that a listener thread is not held per waiting
 * publish and the store can commit many publishes at once; stores without
 * that, and requests that cannot wait, publish synchronously.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/catalog.h"
#include "api/schema.h"
#include "common/jsonspan.h"
#include "common/metrics.h"

/* Reads the event fields other than data.  Answers 400 itself. */
static bool read_event(const ah_call_t *c, json_t *body, ah_event_t *ev, ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    if (ah_get_str(body, "communityId", ev->community_id, sizeof ev->community_id, why,
                   sizeof why) < 0 ||
        ah_get_str(body, "triggerMetaInfoId", ev->trigger, sizeof ev->trigger, why, sizeof why) <
            0 ||
        ah_get_str(body, "airmeetId", ev->airmeet_id, sizeof ev->airmeet_id, why, sizeof why) < 0 ||
        ah_get_str(body, "sessionId", ev->session_id, sizeof ev->session_id, why, sizeof why) < 0 ||
        ah_get_str(body, "idempotencyKey", ev->idempotency_key, sizeof ev->idempotency_key, why,
                   sizeof why) < 0 ||
        ah_check_id("field 'communityId'", ev->community_id, true, why, sizeof why) ||
        ah_check_id("field 'airmeetId'", ev->airmeet_id, false, why, sizeof why) ||
        ah_check_id("field 'sessionId'", ev->session_id, false, why, sizeof why)) {
        /* ah_get_str's "too long" for ids reads better as "must be a UUID". */
        ah_error(resp, c->dialect, 400, "%s", why);
        return false;
    }
    if (!ev->trigger[0]) {
        ah_error(resp, c->dialect, 400, "field 'triggerMetaInfoId' is required");
        return false;
    }
    if (ev->session_id[0] && !ev->airmeet_id[0]) {
        ah_error(resp, c->dialect, 400, "sessionId needs airmeetId as well");
        return false;
    }
    json_t *data = json_object_get(body, "data");
    if (!data || json_is_null(data)) {
        ah_error(resp, c->dialect, 400, "field 'data' is required: the JSON body to deliver");
        return false;
    }
    if (!json_is_object(data) && !json_is_array(data)) {
        ah_error(resp, c->dialect, 400, "field 'data' must be a JSON object or array");
        return false;
    }
    return true;
}

/*
 * Whether the catalog's trigger takes this event: it must exist, be in use
 * (not retired nor hidden), and the event's data must satisfy its schema.
 * Answers 400 (or the store's failure) itself.
 */
static bool trigger_takes(const ah_call_t *c, const char *id, json_t *body, ah_http_resp_t *resp)
{
    int rc;
    char why[AH_WHY_SIZE - 64];
    ah_catalog_t *cat = ah_catalog_acquire(c->app->catalog, c->app->store, NULL, &rc);
    if (!cat) {
        ah_store_error(resp, c->dialect, rc);
        return false;
    }
    const ah_catalog_trigger_t *t = ah_catalog_find(cat, id);
    bool ok = false;
    if (!t || (t->builtin && t->retired))
        ah_error(resp, c->dialect, 400, "unknown triggerMetaInfoId '%.64s'", id);
    else if (t->retired)
        ah_error(resp, c->dialect, 400, "trigger %s is retired: it takes no events", id);
    else if (t->schema &&
             !ah_schema_validate(t->schema, json_object_get(body, "data"), why, sizeof why))
        ah_error(resp, c->dialect, 400, "field 'data' does not match the schema of %.64s %.150s",
                 id, why);
    else
        ok = true;
    ah_catalog_release(cat);
    return ok;
}

/* A publish in flight: everything the answer needs once the store is done. */
typedef struct pub_ctx {
    ah_app_t *app;
    ah_dialect_t dialect; /* the route's (the call is gone when the store answers) */
    ah_http_resp_t *resp;
    ah_http_pending_t *pending; /* NULL: answered in the handler */
    ah_event_t ev;
    ah_publish_result_t res;
} pub_ctx_t;

/*
 * Writes the answer to a publish that the store has finished, and frees the
 * pub_ctx_t it is given (event_publish_async's callback, or called directly).
 */
static void answer(void *arg, int rc)
{
    pub_ctx_t *p = arg;
    ah_http_resp_t *resp = p->resp;
    if (rc == AH_ENOTFOUND) { /* the event's community (a foreign key of the event) */
        ah_error(resp, p->dialect, 404, "no community with id %s", p->ev.community_id);
    } else if (rc) { /* the messages say that nothing was stored (docs/api.md) */
        if (ah_store_status(resp, rc) == 503)
            ah_error(resp, p->dialect, 503, "storage is unavailable; the event was not accepted");
        else
            ah_error(resp, p->dialect, 500, "the event was not accepted (%s)", ah_strerror(rc));
    } else {
        for (size_t i = 0; p->res.webhook_ids && i < p->res.n_deliveries; i++)
            ah_dispatcher_wake(p->app->dispatcher, p->res.webhook_ids[i], p->ev.created_at);
        if (!p->res.duplicate)
            ah_metrics_event_accepted();
        /* Formatted by hand: this runs on the store's publishing thread. */
        char body[128];
        int n =
            snprintf(body, sizeof body, "{\"eventId\":\"%s\",\"deliveries\":%zu,\"duplicate\":%s}",
                     p->res.event_id, p->res.n_deliveries, p->res.duplicate ? "true" : "false");
        ah_http_resp_text(resp, 202, NULL, body, (size_t)n);
    }
    ah_http_pending_t *pending = p->pending;
    free(p->res.webhook_ids);
    free(p);
    if (pending)
        ah_http_resume(pending);
}

void ah_h_event_publish(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = c->app;
    char why[AH_WHY_SIZE];
    json_t *body = ah_parse_body(req, false, why, sizeof why);
    if (!body) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return;
    }
    pub_ctx_t *p = calloc(1, sizeof *p);
    if (!p) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        goto out;
    }
    p->app = app;
    p->dialect = c->dialect;
    p->resp = resp;
    ah_event_t *ev = &p->ev;
    if (!read_event(c, body, ev, resp) || !trigger_takes(c, ev->trigger, body, resp))
        goto out;
    size_t off = 0, len = 0;
    if (ah_json_member_span(req->body, req->body_len, "data", &off, &len)) {
        ah_error(resp, c->dialect, 400, "field 'data' could not be located in the body");
        goto out;
    }
    ev->data = req->body + off; /* req->body lives until the answer is sent */
    ev->data_len = len;
    ah_uuid_v4(ev->id);
    ev->created_at = ah_now_ms();
    json_decref(body);
    /* Let the request wait without a listener thread while its batch commits. */
    if (ah_store_publishes_async(app->store) && (p->pending = ah_http_suspend(req))) {
        ah_store_event_publish_async(app->store, ev, &p->res, answer, p);
        return;
    }
    answer(p, ah_store_event_publish(app->store, ev, &p->res));
    return;
out:
    free(p);
    json_decref(body);
}

/* ---- the operator's list ---- */

static json_t *event_json(const ah_event_t *ev)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:b}", "id", ev->id, "communityId",
                     ev->community_id, "triggerMetaInfoId", ev->trigger, "airmeetId",
                     ah_json_str_or_null(ev->airmeet_id), "sessionId",
                     ah_json_str_or_null(ev->session_id), "idempotencyKey",
                     ah_json_str_or_null(ev->idempotency_key), "createdAt",
                     ah_json_time(ev->created_at), "test", ev->test);
}

/*
 * The events, newest first, a page at a time, by community, trigger and
 * time of publishing; without their data (GET /events/{id}/deliveries
 * goes on from one).
 */
void ah_h_event_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_event_filter_t f = {0};
    char community[AH_ID_SIZE];
    ah_community_t cm;
    if (!ah_page_query(c, req, &f.limit, &f.cursor, NULL, resp) ||
        !ah_query_id(c, req, "communityId", &ah_kind_community, &cm, community, resp) ||
        !ah_query_time(c, req, "since", &f.since, resp) ||
        !ah_query_time(c, req, "until", &f.until, resp))
        return;
    f.community_id = community;
    f.trigger = ah_http_query(req, "triggerMetaInfoId");
    ah_event_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = ah_store_event_page(c->app->store, &f, &list, &n, next);
    if (rc) {
        ah_page_error(c, f.cursor, rc, resp);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, event_json(&list[i]));
    free(list);
    ah_page_reply(c, "events", arr, next, resp);
}
