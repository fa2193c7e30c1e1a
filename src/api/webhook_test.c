/* SPDX-License-Identifier: MIT */
/*
 * webhook_test.c: airhook's own public routes, under the base path in the
 * namespace /airhook/v1 (Airmeet's gateway has no such paths, so nothing
 * an integrator calls there can collide with them).  They take the token
 * of POST /auth, as webhook-list does, and answer in the public error
 * dialect.
 *
 * POST /airhook/v1/webhooks/{id}/test sends the sample payload of the
 * webhook's trigger (the catalog's, as sample-payload serves it) to that
 * webhook only: the store keeps a real event, marked as a test (the
 * operator's event list shows "test": true), and one delivery of it, which
 * the dispatcher sends like any other: signed, retried on the schedule,
 * each attempt logged.  GET /airhook/v1/deliveries/{id} reads a delivery
 * and its attempts in the admin API's shape (ah_delivery_full_json), so an
 * integrator can watch the test arrive.  Both see only the caller's own
 * community: any other id is 404, as an unknown one is.
 *
 * Each test stores an event, so an access key may send at most
 * TESTS_PER_MINUTE of them a minute (429 with Retry-After beyond), counted
 * in the app's per-key limiter under a key of their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/catalog.h"
#include "common/metrics.h"

/* Test deliveries one access key may ask for per minute. */
#define TESTS_PER_MINUTE 60

/*
 * The caller's webhook id into *w; answers 404 itself for an id that is
 * no webhook of the caller's community (or 503/500 when the store fails).
 * A deregistered webhook is returned: the caller says what that means.
 */
static bool own_webhook(const ah_call_t *c, const char *id, ah_webhook_t *w, ah_http_resp_t *resp)
{
    int rc = ah_store_webhook_get(c->app->store, id, w);
    if (rc == AH_ENOTFOUND || (!rc && strcmp(w->community_id, c->caller.community_id) != 0)) {
        ah_error(resp, c->dialect, 404, "no webhook registration with id %s", id);
        return false;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return false;
    }
    return true;
}

/*
 * Whether the webhook can take a test now; answers 404 (deregistered) or
 * 409 (disabled) itself.
 */
static bool testable(const ah_call_t *c, const ah_webhook_t *w, ah_http_resp_t *resp)
{
    if (w->deregistered_at) {
        char at[AH_TIME_SIZE];
        ah_format_time(w->deregistered_at, at);
        ah_error(resp, c->dialect, 404,
                 "webhook %s was deregistered at %s: it receives nothing, tests included; "
                 "register the URL again to get a new webhook",
                 w->id, at);
        return false;
    }
    if (!w->is_active) {
        ah_error(resp, c->dialect, 409,
                 "webhook %s is disabled (%.100s): nothing is sent to it until the operator "
                 "enables it again",
                 w->id, w->disabled_reason[0] ? w->disabled_reason : "no reason recorded");
        return false;
    }
    return true;
}

/* Counts a test against the caller's access key; false with a 429 answered beyond the limit. */
static bool test_allowed(const ah_call_t *c, ah_http_resp_t *resp)
{
    char key[AH_ID_SIZE + 8];
    int64_t wait_s = 0;
    snprintf(key, sizeof key, "test:%s", c->caller.key_id);
    if (ah_ratelimit_take(c->app->register_limiter, key, TESTS_PER_MINUTE, ah_now_ms(), &wait_s))
        return true;
    snprintf(resp->retry_after, sizeof resp->retry_after, "%lld", (long long)wait_s);
    ah_error(resp, c->dialect, 429,
             "too many test deliveries with this access key: at most %d a minute; retry in %lld s",
             TESTS_PER_MINUTE, (long long)wait_s);
    return false;
}

/*
 * Reads the optional body {"triggerMetaInfoId": T}: T must be the
 * webhook's own trigger, the only one it receives.  Answers 400 itself.
 */
static bool requested_trigger(const ah_call_t *c, const ah_http_req_t *req, const ah_webhook_t *w,
                              const ah_catalog_t *cat, ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE], trigger[AH_TRIGGER_MAX] = "";
    if (!req->body_len)
        return true;
    json_t *body = ah_parse_body(req, false, why, sizeof why);
    int got =
        body ? ah_get_str(body, "triggerMetaInfoId", trigger, sizeof trigger, why, sizeof why) : -1;
    json_decref(body);
    if (got < 0) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return false;
    }
    if (got == 0 || strcmp(trigger, w->trigger) == 0)
        return true;
    const ah_catalog_trigger_t *t = ah_catalog_find(cat, trigger);
    bool known = t && !(t->builtin && t->retired);
    ah_error(resp, c->dialect, 400,
             "%s triggerMetaInfoId '%.64s': webhook %s is registered for %s and receives only its "
             "events; did you mean %s? (leave triggerMetaInfoId out to use it)",
             known ? "webhook cannot receive" : "unknown", trigger, w->id, w->trigger, w->trigger);
    return false;
}

/*
 * The event of the test into *ev: the trigger's sample as data (malloc'd
 * into *text; the caller frees it), the webhook's community and scope.
 * Answers 409 (retired trigger) or 500 itself.
 */
static bool test_event(const ah_call_t *c, const ah_webhook_t *w, const ah_catalog_t *cat,
                       ah_event_t *ev, char **text, ah_http_resp_t *resp)
{
    const ah_catalog_trigger_t *t = ah_catalog_find(cat, w->trigger);
    if (!t || t->retired) {
        ah_error(resp, c->dialect, 409,
                 "trigger %s of webhook %s is %s: it takes no events, tests included", w->trigger,
                 w->id, t ? "retired" : "no longer in the catalog");
        return false;
    }
    json_t *sample = ah_catalog_sample(t);
    *text = sample ? json_dumps(sample, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(sample);
    if (!*text) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return false;
    }
    memset(ev, 0, sizeof *ev);
    ah_uuid_v4(ev->id);
    memcpy(ev->community_id, w->community_id, sizeof ev->community_id);
    memcpy(ev->trigger, w->trigger, sizeof ev->trigger);
    memcpy(ev->airmeet_id, w->airmeet_id, sizeof ev->airmeet_id);
    memcpy(ev->session_id, w->session_id, sizeof ev->session_id);
    ev->data = *text;
    ev->data_len = strlen(*text);
    ev->created_at = ah_now_ms();
    ev->test = true;
    return true;
}

void ah_h_public_webhook_test(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE], delivery_id[AH_ID_SIZE];
    char *text = NULL;
    ah_catalog_t *cat = NULL;
    ah_event_t ev;
    ah_webhook_t *w = malloc(sizeof *w); /* ~7 KiB: off the stack */
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    int rc;
    if (!ah_path_id(c, req, resp, &ah_kind_webhook, id) || !own_webhook(c, id, w, resp) ||
        !testable(c, w, resp))
        goto out;
    if (!(cat = ah_catalog_acquire(c->app->catalog, c->app->store, c->gen, &rc))) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    if (!requested_trigger(c, req, w, cat, resp) || !test_allowed(c, resp) ||
        !test_event(c, w, cat, &ev, &text, resp))
        goto out;
    ah_uuid_v4(delivery_id);
    rc = ah_store_event_publish_test(c->app->store, &ev, id, delivery_id);
    if (rc == AH_ENOTFOUND) { /* deregistered or disabled since it was read */
        ah_error(resp, c->dialect, 409, "webhook %s stopped taking deliveries just now; try again",
                 id);
        goto out;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    ah_metrics_event_accepted();
    ah_dispatcher_wake(c->app->dispatcher, id, ev.created_at);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "deliveryId", delivery_id, "eventId", ev.id,
                          "webhookId", id, "triggerMetaInfoId", w->trigger);
    if (j)
        ah_http_resp_json(resp, 202, j);
    else
        ah_store_error(resp, c->dialect, AH_ENOMEM);
out:
    ah_catalog_release(cat);
    free(text);
    free(w);
}

void ah_h_public_delivery_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_delivery_t d;
    ah_attempt_t *attempts = NULL;
    size_t n = 0;
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (!ah_path_id(c, req, resp, &ah_kind_delivery, id))
        goto out;
    int rc = ah_store_delivery_get(c->app->store, id, &d, &attempts, &n);
    if (rc == AH_OK)
        rc = ah_store_webhook_get(c->app->store, d.webhook_id, w);
    if (rc == AH_ENOTFOUND || (!rc && strcmp(w->community_id, c->caller.community_id) != 0)) {
        ah_error(resp, c->dialect, 404, "no delivery with id %s", id);
        goto out;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    json_t *j = ah_delivery_full_json(&d, attempts, n);
    if (j)
        ah_http_resp_json(resp, 200, j);
    else
        ah_store_error(resp, c->dialect, AH_ENOMEM);
out:
    free(attempts);
    free(w);
}
