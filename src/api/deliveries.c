/* SPDX-License-Identifier: MIT */
/*
 * deliveries.c: the admin API over deliveries (SPEC §5, docs/CONVENTIONS.md
 * "Events and deliveries"): listing a webhook's or an event's deliveries,
 * one delivery with its attempts, retrying one delivery, recovering a
 * webhook's failed deliveries, and rotating a webhook's signing secret.
 *
 * Every handler follows the same line: fetch the record the path names
 * (ah_get_by_id: a non-UUID or unknown id is 404, as in admin.c), so an
 * unknown parent is 404 rather than an empty list, call one store op, and
 * answer.  After a retry
 * or a recover the dispatcher is woken for the webhook so the re-queued
 * work goes out now instead of at its next periodic scan.
 *
 * Retry, recover and rotate refuse a deregistered webhook with 409: its
 * pending deliveries were cancelled when it was deregistered and nothing
 * would ever send them, so re-queueing into it would only pretend.  A
 * disabled (not deregistered) webhook is accepted: its deliveries wait until
 * the operator enables it, which is the usual order of repairs.
 *
 * Text that came from a receiver (the first KiB of a response, an error)
 * may be cut inside a UTF-8 sequence or not be UTF-8 at all; JSON strings
 * must be, so such bytes are shown as '?' (utf8_string()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "delivery/sign.h"

#define LIMIT_DEFAULT 50
/* How long the previous signing secret keeps being used after a rotation. */
#define PREV_SECRET_VALID_MS (24LL * 60 * 60 * 1000)

/* ---- JSON of deliveries and attempts ---- */

/*
 * Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when the
 * bytes there are not one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
 */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* s as a JSON string, each byte of an invalid UTF-8 sequence shown as '?'. */
static json_t *utf8_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n + 1);
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len((const unsigned char *)copy + i, n - i);
        if (len == 0) {
            copy[i] = '?';
            len = 1;
        }
        i += len;
    }
    j = json_string(copy);
    free(copy);
    return j;
}

/* utf8_string(s), or null when s is "". */
static json_t *text_or_null(const char *s)
{
    return s[0] ? utf8_string(s) : json_null();
}

/* An HTTP status, or null when there was no HTTP answer (0). */
static json_t *code_or_null(int code)
{
    return code ? json_integer(code) : json_null();
}

json_t *ah_delivery_json(const ah_delivery_t *d)
{
    int64_t next = d->status == AH_DLV_PENDING ? d->next_attempt_at : 0;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o}", "id", d->id,
                     "eventId", d->event_id, "webhookId", d->webhook_id, "triggerMetaInfoId",
                     d->trigger, "status", ah_delivery_status_name(d->status), "attemptCount",
                     d->attempts, "nextAttemptAt", ah_json_time(next), "createdAt",
                     ah_json_time(d->created_at), "updatedAt", ah_json_time(d->updated_at),
                     "lastStatusCode", code_or_null(d->last_status_code), "lastError",
                     text_or_null(d->last_error));
}

/*
 * The headers attempt a of delivery d was sent with, as the dispatcher
 * writes them (dispatcher.c, headers_init): none is stored, all follow from
 * the delivery and the attempt.  The timestamp is the attempt's start in
 * unix seconds (the dispatcher signs just before it starts, so it may be
 * one less when the start fell at a second's edge); the signature is not
 * shown: it is as good as a password for that body and timestamp.
 */
static json_t *request_headers_json(const ah_delivery_t *d, const ah_attempt_t *a)
{
    char ts[24], attempt[16];
    snprintf(ts, sizeof ts, "%lld", (long long)(a->started_at / 1000));
    snprintf(attempt, sizeof attempt, "%d", a->attempt_no);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "content-type", "application/json",
                     "user-agent", "airhook/" AH_VERSION, "webhook-id", d->event_id,
                     "webhook-timestamp", ts, "webhook-signature", "v1,(redacted)",
                     "x-airmeet-trigger", d->trigger, "x-airmeet-webhook-id", d->webhook_id,
                     "x-airmeet-attempt", attempt);
}

static json_t *attempt_json(const ah_delivery_t *d, const ah_attempt_t *a)
{
    return json_pack("{s:i, s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "attempt", a->attempt_no,
                     "startedAt", ah_json_time(a->started_at), "durationMs",
                     (json_int_t)a->duration_ms, "statusCode", code_or_null(a->status_code),
                     "error", text_or_null(a->error), "responseBody",
                     text_or_null(a->response_head), "requestHeaders", request_headers_json(d, a),
                     "responseHeaders", text_or_null(a->response_headers));
}

/* Answers with j, or 500 when building it ran out of memory (j NULL). */
static void reply(const ah_call_t *c, ah_http_resp_t *resp, int status, json_t *j)
{
    if (j)
        ah_http_resp_json(resp, status, j);
    else
        ah_store_error(resp, c->dialect, AH_ENOMEM);
}

/* ---- lookups that answer 404 / 409 / 5xx themselves ---- */

/*
 * Fetches webhook id into *w (ah_fetch), and refuses with 409 one that was
 * deregistered: nothing would ever send its deliveries.
 */
static bool live_webhook(const ah_call_t *c, const char *id, ah_webhook_t *w, ah_http_resp_t *resp)
{
    if (!ah_fetch(c, resp, &ah_kind_webhook, id, w))
        return false;
    if (!w->deregistered_at)
        return true;
    ah_error(resp, c->dialect, 409,
             "webhook %s was deregistered; its deliveries can no longer be sent", id);
    return false;
}

/*
 * True when community_id is NULL or webhook_id (which record id of kind k
 * belongs to) is of that community, with the webhook in *w; else answers
 * 404 "no <k> with id <id>", exactly as for an id that does not exist.
 */
static bool in_community(const ah_call_t *c, const ah_kind_t *k, const char *id,
                         const char *webhook_id, const char *community_id, ah_webhook_t *w,
                         ah_http_resp_t *resp)
{
    if (!community_id)
        return true;
    int rc = ah_store_webhook_get(c->app->store, webhook_id, w);
    if (rc == AH_OK && strcmp(w->community_id, community_id) == 0)
        return true;
    if (rc && rc != AH_ENOTFOUND)
        ah_store_error(resp, c->dialect, rc);
    else
        ah_error(resp, c->dialect, 404, "no %s with id %s", k->what, id);
    return false;
}

/* ---- listing ---- */

bool ah_delivery_list_query(const ah_call_t *c, const ah_http_req_t *req, ah_delivery_filter_t *f,
                            ah_http_resp_t *resp)
{
    const char *status = ah_http_query(req, "status");
    const char *limit = ah_http_query(req, "limit");
    int64_t n = LIMIT_DEFAULT;
    f->status = -1;
    if (status && (f->status = ah_delivery_status_parse(status)) < 0) {
        ah_error(resp, c->dialect, 400,
                 "status '%.40s' is not one of pending, succeeded, failed, cancelled", status);
        return false;
    }
    if (limit && ah_parse_i64(limit, 1, AH_DELIVERY_PAGE_MAX, &n) != AH_OK) {
        ah_error(resp, c->dialect, 400, "limit '%.40s' is not a whole number from 1 to %d", limit,
                 AH_DELIVERY_PAGE_MAX);
        return false;
    }
    f->limit = (size_t)n;
    f->cursor = ah_http_query(req, "cursor");
    return ah_query_time(c, req, "since", &f->since, resp) &&
           ah_query_time(c, req, "until", &f->until, resp);
}

void ah_delivery_list_reply(const ah_call_t *c, const ah_delivery_filter_t *f, ah_http_resp_t *resp)
{
    ah_delivery_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = ah_store_delivery_list(c->app->store, f, &list, &n, next);
    if (rc == AH_EINVAL) {
        ah_error(resp, c->dialect, 400, "cursor '%.40s' is not one this server handed out",
                 f->cursor ? f->cursor : "");
        return;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, ah_delivery_json(&list[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(list);
    reply(c, resp, 200,
          arr ? json_pack("{s:o, s:o}", "deliveries", arr, "nextCursor", ah_json_str_or_null(next))
              : NULL);
}

void ah_h_webhook_deliveries(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_delivery_filter_t f = {0};
    if (!ah_path_id(c, req, resp, &ah_kind_webhook, id) ||
        !ah_delivery_list_query(c, req, &f, resp))
        return;
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (ah_fetch(c, resp, &ah_kind_webhook, id, w)) {
        f.webhook_id = id;
        ah_delivery_list_reply(c, &f, resp);
    }
    free(w);
}

void ah_h_event_deliveries(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_delivery_filter_t f = {0};
    ah_event_t ev;
    if (!ah_path_id(c, req, resp, &ah_kind_event, id) ||
        !ah_delivery_list_query(c, req, &f, resp) || !ah_fetch(c, resp, &ah_kind_event, id, &ev))
        return;
    f.event_id = id;
    ah_delivery_list_reply(c, &f, resp);
}

/*
 * Deliveries by webhook, event, status and time in one place, the
 * console's delivery log: at least one of webhookId and eventId, each of
 * which must exist.  A list over every delivery of the store would need
 * one more index entry written with every delivery, which the store
 * avoids on purpose (docs/architecture.md, Storage).
 */
void ah_h_delivery_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char webhook[AH_ID_SIZE], event[AH_ID_SIZE];
    ah_delivery_filter_t f = {0};
    ah_event_t ev;
    ah_webhook_t *w = malloc(sizeof *w); /* ~7 KiB: off the stack */
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (ah_delivery_list_query(c, req, &f, resp) &&
        ah_query_id(c, req, "webhookId", &ah_kind_webhook, w, webhook, resp) &&
        ah_query_id(c, req, "eventId", &ah_kind_event, &ev, event, resp)) {
        f.webhook_id = webhook;
        f.event_id = event;
        if (!webhook[0] && !event[0])
            ah_error(resp, c->dialect, 400,
                     "webhookId or eventId is required: list a webhook's or an event's "
                     "deliveries (GET /admin/v1/events finds events by community, trigger "
                     "and time)");
        else
            ah_delivery_list_reply(c, &f, resp);
    }
    free(w);
}

/* ---- one delivery ---- */

json_t *ah_delivery_full_json(const ah_delivery_t *d, const ah_attempt_t *attempts, size_t n)
{
    json_t *o = ah_delivery_json(d);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, attempt_json(d, &attempts[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!o || !arr) {
        json_decref(o);
        json_decref(arr);
        return NULL;
    }
    if (json_object_set_new(o, "attempts", arr)) { /* steals arr even on failure */
        json_decref(o);
        return NULL;
    }
    return o;
}

void ah_h_delivery_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_delivery_t d;
    ah_attempt_t *attempts = NULL;
    size_t n = 0;
    if (!ah_path_id(c, req, resp, &ah_kind_delivery, id) ||
        !ah_found(c, resp, &ah_kind_delivery, id,
                  ah_store_delivery_get(c->app->store, id, &d, &attempts, &n)))
        return;
    reply(c, resp, 200, ah_delivery_full_json(&d, attempts, n));
    free(attempts);
}

/*
 * The one retry: the delivery in the path, of a webhook of community_id
 * (NULL: any).  Another community's delivery is 404, as if it did not
 * exist, before anything else is said about it.
 */
void ah_delivery_retry_in(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp,
                          const char *community_id)
{
    char id[AH_ID_SIZE], webhook_id[AH_ID_SIZE];
    ah_delivery_t d;
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (!ah_get_by_id(c, req, resp, &ah_kind_delivery, id, &d) ||
        !in_community(c, &ah_kind_delivery, id, d.webhook_id, community_id, w, resp) ||
        !live_webhook(c, d.webhook_id, w, resp))
        goto out;
    int64_t now = ah_now_ms();
    if (!ah_found(c, resp, &ah_kind_delivery, id,
                  ah_store_delivery_retry(c->app->store, id, now, webhook_id)))
        goto out;
    /* Read it back before the dispatcher can pick it up: the answer shows it pending. */
    if (ah_fetch(c, resp, &ah_kind_delivery, id, &d))
        reply(c, resp, 202, ah_delivery_json(&d));
    ah_dispatcher_wake(c->app->dispatcher, webhook_id, now);
out:
    free(w);
}

void ah_h_delivery_retry(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_delivery_retry_in(c, req, resp, NULL);
}

/* ---- webhook operations ---- */

/*
 * Reads the required "since" of a recover body: an RFC 3339 string, unix
 * seconds as a string, or unix seconds as a number.  Answers 400 itself.
 */
static bool since_field(const ah_call_t *c, const ah_http_req_t *req, int64_t *ms,
                        ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    json_t *body = ah_parse_body(req, false, why, sizeof why);
    if (!body) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return false;
    }
    json_t *v = json_object_get(body, "since");
    bool ok = false;
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 253402300800LL) {
        *ms = json_integer_value(v) * 1000;
        ok = true;
    } else if (json_is_string(v)) {
        ok = ah_parse_time(json_string_value(v), ms) == AH_OK;
    }
    if (!v || json_is_null(v))
        ah_error(resp, c->dialect, 400,
                 "field 'since' is required: failed deliveries created at or "
                 "after this time are re-queued");
    else if (!ok)
        ah_error(resp, c->dialect, 400,
                 "field 'since' must be a time such as 2026-01-31T09:00:00.000+00:00 or "
                 "unix seconds");
    json_decref(body);
    return ok;
}

void ah_h_webhook_recover(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    int64_t since = 0;
    size_t requeued = 0;
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (!ah_path_id(c, req, resp, &ah_kind_webhook, id) || !since_field(c, req, &since, resp) ||
        !live_webhook(c, id, w, resp))
        goto out;
    int64_t now = ah_now_ms();
    if (!ah_found(c, resp, &ah_kind_webhook, id,
                  ah_store_webhook_recover(c->app->store, id, since, now, &requeued)))
        goto out;
    if (requeued)
        ah_dispatcher_wake(c->app->dispatcher, id, now);
    reply(c, resp, 202, json_pack("{s:s, s:I}", "webhookId", id, "requeued", (json_int_t)requeued));
out:
    free(w);
}

/*
 * The one rotation: the webhook in the path, of community_id (NULL: any;
 * another community's is 404).  The previous secret signs too, beside the
 * new one, for PREV_SECRET_VALID_MS.
 */
void ah_webhook_rotate_in(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp,
                          const char *community_id)
{
    char id[AH_ID_SIZE], secret[AH_SECRET_MAX];
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (!ah_path_id(c, req, resp, &ah_kind_webhook, id) ||
        !in_community(c, &ah_kind_webhook, id, id, community_id, w, resp) ||
        !live_webhook(c, id, w, resp))
        goto out;
    int64_t now = ah_now_ms(), until = now + PREV_SECRET_VALID_MS;
    ah_signing_secret_new(secret, sizeof secret);
    int rc = ah_store_webhook_rotate_secret(c->app->store, id, secret, until, now);
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no webhook with id %s (or it was deregistered)", id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        reply(c, resp, 200,
              json_pack("{s:s, s:s, s:o}", "id", id, "secret", secret, "previousSecretValidUntil",
                        ah_json_time(until)));
out:
    free(w);
}

void ah_h_webhook_rotate_secret(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_webhook_rotate_in(c, req, resp, NULL);
}

/* ---- retention ---- */

/*
 * GET /admin/v1/retention: what is kept for how long (docs/operations.md,
 * "Retention"), and what this node's purge has removed since it started.
 */
void ah_h_retention_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_retention_stats_t st;
    ah_retention_stats(c->app->retention, &st);
    int64_t ms = c->app->cfg.retention_ms;
    const char *policy =
        ms > 0 ? "an event, its deliveries and their attempts are removed once every delivery of "
                 "the event is final (succeeded, failed or cancelled) and both the event and the "
                 "last change of each delivery are older than retentionSeconds; an event with a "
                 "delivery still pending (waiting, retrying, or on a disabled webhook) is kept "
                 "whole; webhooks, keys and communities are never removed by retention"
               : "nothing is removed: events, deliveries and attempts are kept until deleted by "
                 "hand (--retention 0)";
    json_t *disk = json_null();
    if (st.space.known)
        disk = json_pack("{s:I, s:I, s:b, s:I}", "fileBytes", (json_int_t)st.space.file_bytes,
                         "freeBytes", (json_int_t)st.space.free_bytes, "shrinks", st.space.shrinks,
                         "reclaimedSinceStart", (json_int_t)st.reclaimed_bytes);
    reply(c, resp, 200,
          json_pack("{s:I, s:b, s:s, s:{s:I, s:I, s:I}, s:I, s:o, s:I, s:o*}", "retentionSeconds",
                    (json_int_t)(ms / 1000), "purging", c->app->retention != NULL, "policy", policy,
                    "removedSinceStart", "events", (json_int_t)st.events, "deliveries",
                    (json_int_t)st.deliveries, "attempts", (json_int_t)st.attempts, "passes",
                    (json_int_t)st.passes, "lastPassAt",
                    st.last_pass_at ? ah_json_time(st.last_pass_at) : json_null(),
                    "longestBatchMicroseconds", (json_int_t)st.batch_max_us, "disk", disk));
}
