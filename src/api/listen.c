/* SPDX-License-Identifier: MIT */
/*
 * listen.c: the endpoints of `airhook listen` (docs/api.md, "Listeners"),
 * in the public route table under {base}/airhook/v1, with the integrator's
 * token, answering in the public dialect.
 *
 * A listener belongs to the community of the token that made it; another
 * community's token gets 404 for it, as for an id that does not exist.
 * Its webhooks are ordinary rows (url "listen:<id>", signed with the
 * access key's listener secret), registered within the community's
 * webhook quota; the hub (delivery/listener.c) streams their deliveries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/log.h"
#include "common/util.h"
#include "delivery/sign.h"

#define LISTEN_PLATFORM "airhook listen"

/* The caller's listener secret into out; false with the answer written. */
static bool listener_secret(ah_call_t *c, ah_http_resp_t *resp, char out[AH_SECRET_MAX])
{
    char fresh[AH_SECRET_MAX];
    ah_signing_secret_new(fresh, sizeof fresh);
    int rc = ah_store_listener_secret(c->app->store, c->caller.key_id, fresh, ah_now_ms(), out);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return false;
    }
    return true;
}

void ah_h_listener_secret(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    char secret[AH_SECRET_MAX];
    if (listener_secret(c, resp, secret))
        ah_http_resp_json(resp, 200, json_pack("{s:s}", "secret", secret));
}

/*
 * The listener of path capture 0, if the caller's community owns it, into
 * *out; false with 404 (or a store error) answered.
 */
static bool own_listener(ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                         ah_listener_t *out)
{
    char id[AH_ID_SIZE] = "", why[AH_WHY_SIZE];
    const char *raw = req->n_params ? req->params[0] : "";
    int rc = AH_ENOTFOUND;
    if (!ah_strlcpy(id, raw, sizeof id) && !ah_check_id("id", id, true, why, sizeof why))
        rc = ah_store_listener_get(c->app->store, id, out);
    if (rc == AH_OK && !strcmp(out->community_id, c->caller.community_id))
        return true;
    if (rc && rc != AH_ENOTFOUND) {
        ah_store_error(resp, c->dialect, rc);
        return false;
    }
    ah_error(resp, c->dialect, 404, "no listener with id %.64s", raw);
    return false;
}

/* ---- POST /airhook/v1/listeners ---- */

typedef struct create_req {
    char airmeet_id[AH_ID_SIZE];
    char session_id[AH_ID_SIZE];
    char name[AH_NAME_MAX];
    const ah_catalog_trigger_t *triggers[AH_LISTEN_WEBHOOKS_MAX];
    size_t n;
} create_req_t;

/* Reads the optional body; 0 or 400 with why. */
static int read_create(json_t *body, create_req_t *r, json_t **triggers, char *why, size_t whylen)
{
    *triggers = NULL;
    if (!body)
        return 0;
    if (ah_get_str(body, "airmeetId", r->airmeet_id, sizeof r->airmeet_id, why, whylen) < 0 ||
        ah_get_str(body, "sessionId", r->session_id, sizeof r->session_id, why, whylen) < 0 ||
        ah_get_str(body, "name", r->name, sizeof r->name, why, whylen) < 0)
        return 400;
    if (ah_check_id("airmeetId", r->airmeet_id, false, why, whylen) ||
        ah_check_id("sessionId", r->session_id, false, why, whylen))
        return 400;
    json_t *t = json_object_get(body, "triggers");
    if (t && !json_is_null(t)) {
        if (!json_is_array(t)) {
            snprintf(why, whylen, "field 'triggers' must be an array of trigger ids");
            return 400;
        }
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v)
        {
            if (!json_is_string(v)) {
                snprintf(why, whylen, "field 'triggers' must be an array of trigger ids");
                return 400;
            }
        }
        if (json_array_size(t) > AH_LISTEN_WEBHOOKS_MAX) {
            snprintf(why, whylen, "at most %d triggers per listener", AH_LISTEN_WEBHOOKS_MAX);
            return 400;
        }
        *triggers = t;
    }
    return 0;
}

/* Resolves the triggers asked for (or all that fit the scope); 0 or 400 with why. */
static int pick_triggers(const ah_catalog_t *cat, json_t *asked, create_req_t *r, char *why,
                         size_t whylen)
{
    r->n = 0;
    if (asked && json_array_size(asked)) {
        size_t i;
        json_t *v;
        json_array_foreach(asked, i, v)
        {
            const ah_catalog_trigger_t *t = NULL;
            int st = ah_check_trigger_open(cat, json_string_value(v), &t, why, whylen);
            if (!st)
                st = ah_check_trigger_scope(t, r->airmeet_id, r->session_id, why, whylen);
            if (st)
                return st;
            bool dup = false;
            for (size_t k = 0; k < r->n; k++)
                dup = dup || r->triggers[k] == t;
            if (!dup)
                r->triggers[r->n++] = t;
        }
        return 0;
    }
    /* Every trigger open for registration that takes this scope. */
    size_t n = 0;
    const ah_catalog_trigger_t *all = ah_catalog_all(cat, &n);
    char ignored[AH_WHY_SIZE];
    for (size_t i = 0; i < n && r->n < AH_LISTEN_WEBHOOKS_MAX; i++)
        if (!all[i].retired &&
            !ah_check_trigger_scope(&all[i], r->airmeet_id, r->session_id, ignored, sizeof ignored))
            r->triggers[r->n++] = &all[i];
    if (!r->n) {
        snprintf(why, whylen, "no trigger takes this airmeetId/sessionId scope");
        return 400;
    }
    return 0;
}

/* Undoes a half-made listener: its webhooks so far and its row. */
static void unmake(ah_app_t *app, const char *listener_id, ah_webhook_t *made, size_t n,
                   const char *by)
{
    for (size_t i = 0; i < n; i++)
        ah_store_webhook_deregister(app->store, made[i].id, by, ah_now_ms());
    ah_store_listener_delete(app->store, listener_id);
}

void ah_h_listener_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = c->app;
    const ah_caller_t *who = &c->caller;
    char why[AH_WHY_SIZE];
    int status = 0;
    json_t *body = NULL, *asked = NULL;
    ah_catalog_t *cat = NULL;
    ah_webhook_t *made = NULL;
    create_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (!app->listen_hub) {
        ah_error(resp, c->dialect, 503, "this server does not take listeners");
        goto done;
    }
    if (req->body_len && !(body = ah_parse_body(req, false, why, sizeof why))) {
        status = 400;
        goto reject;
    }
    if ((status = read_create(body, r, &asked, why, sizeof why)))
        goto reject;
    if (!(cat = ah_catalog_acquire(app->catalog, app->store, c->gen, &status)))
        goto reject;
    if ((status = pick_triggers(cat, asked, r, why, sizeof why)) ||
        (status = ah_check_scope(app, c->gen, who->community_id, r->airmeet_id, r->session_id, why,
                                 sizeof why)))
        goto reject;
    ah_quota_t q;
    int rc = ah_quota_effective(app, c->gen, who->community_id, &q);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto done;
    }
    /* A listener is a registration for the key's registrationsPerMinute, as webhook-register. */
    if (!ah_registration_allowed(c, &q, resp))
        goto done;
    char secret[AH_SECRET_MAX];
    if (!listener_secret(c, resp, secret))
        goto done;
    ah_listener_t row = {0};
    ah_uuid_v4(row.id);
    memcpy(row.community_id, who->community_id, sizeof row.community_id);
    memcpy(row.key_id, who->key_id, sizeof row.key_id);
    ah_strlcpy(row.name, r->name, sizeof row.name);
    row.created_at = row.last_seen_at = ah_now_ms();
    if ((rc = ah_store_listener_create(app->store, &row))) {
        ah_store_error(resp, c->dialect, rc);
        goto done;
    }
    if (!(made = calloc(r->n, sizeof *made))) {
        unmake(app, row.id, made, 0, who->label);
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        goto done;
    }
    for (size_t i = 0; i < r->n; i++) {
        ah_webhook_t w = {0};
        ah_uuid_v4(w.id);
        memcpy(w.community_id, who->community_id, sizeof w.community_id);
        ah_strlcpy(w.trigger, r->triggers[i]->id, sizeof w.trigger);
        snprintf(w.name, sizeof w.name, "listen %.200s", r->name[0] ? r->name : row.id);
        snprintf(w.url, sizeof w.url, AH_LISTEN_SCHEME "%s", row.id);
        ah_strlcpy(w.platform_name, LISTEN_PLATFORM, sizeof w.platform_name);
        memcpy(w.airmeet_id, r->airmeet_id, sizeof w.airmeet_id);
        memcpy(w.session_id, r->session_id, sizeof w.session_id);
        w.is_active = true;
        w.created_at = w.updated_at = row.created_at;
        memcpy(w.created_by, who->label, sizeof w.created_by);
        memcpy(w.updated_by, who->label, sizeof w.updated_by);
        w.has_updated_by = true;
        memcpy(w.secret, secret, sizeof w.secret);
        rc = ah_store_webhook_register_within(app->store, &w, q.v[AH_QUOTA_WEBHOOKS], &made[i],
                                              NULL);
        if (rc) {
            unmake(app, row.id, made, i, who->label);
            if (rc == AH_ETOOBIG)
                ah_error(resp, c->dialect, 409,
                         "this community has reached its quota of %lld active webhooks "
                         "(maxWebhooks); a listener needs one per trigger (%zu here)",
                         (long long)q.v[AH_QUOTA_WEBHOOKS], r->n);
            else
                ah_store_error(resp, c->dialect, rc);
            goto done;
        }
    }
    char(*ids)[AH_ID_SIZE] = malloc(r->n * sizeof *ids);
    for (size_t i = 0; ids && i < r->n; i++)
        memcpy(ids[i], made[i].id, AH_ID_SIZE);
    rc = ids ? ah_listen_hub_add(app->listen_hub, &row, (const char(*)[AH_ID_SIZE])ids, r->n)
             : AH_ENOMEM;
    free(ids);
    if (rc) {
        unmake(app, row.id, made, r->n, who->label);
        ah_store_error(resp, c->dialect, rc);
        goto done;
    }
    json_t *trig = json_array(), *hooks = json_array();
    for (size_t i = 0; i < r->n; i++) {
        json_array_append_new(trig, json_string(made[i].trigger));
        json_array_append_new(
            hooks, json_pack("{s:s, s:s}", "id", made[i].id, "triggerMetaInfoId", made[i].trigger));
    }
    char stream[320];
    snprintf(stream, sizeof stream, "%s/airhook/v1/listeners/%s/stream", app->cfg.base_path,
             row.id);
    ah_http_resp_json(resp, 201,
                      json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:I}", "id", row.id, "secret",
                                secret, "triggers", trig, "airmeetId",
                                ah_json_str_or_null(r->airmeet_id), "sessionId",
                                ah_json_str_or_null(r->session_id), "webhooks", hooks, "stream",
                                stream, "timeoutMs", (json_int_t)app->cfg.listener_timeout_ms));
    ah_log(AH_LOG_INFO, "listener created",
           json_pack("{s:s, s:s, s:I}", "listener", row.id, "community", row.community_id,
                     "webhooks", (json_int_t)r->n));
    goto done;
reject:
    ah_reject(resp, c->dialect, status, why);
done:
    ah_catalog_release(cat);
    json_decref(body);
    free(made);
    free(r);
}

/* ---- the stream, results, delete ---- */

void ah_h_listener_stream(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_listener_t l;
    if (!own_listener(c, req, resp, &l))
        return;
    if (!c->app->listen_hub) {
        ah_error(resp, c->dialect, 503, "this server does not take listeners");
        return;
    }
    int rc = ah_listen_hub_connect(c->app->listen_hub, l.id, req, resp);
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no listener with id %s", l.id);
    else if (rc == AH_EIO)
        ah_error(resp, c->dialect, 503, "the server is stopping; reconnect shortly");
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
}

/*
 * A result's "headers" ({"name": "value", ...}, optional) as the attempt
 * keeps a receiver's: a status line, then "name: value" lines, CRLF
 * between them, cut at the excerpt's size (out[0] is '\0' when there was
 * no answer).  false, with why, for anything but an object of strings
 * without line breaks.
 */
static bool result_headers(const json_t *h, int status, char *out, size_t outsz, char *why,
                           size_t whysz)
{
    out[0] = '\0';
    if (!h || json_is_null(h))
        h = NULL;
    else if (!json_is_object(h)) {
        snprintf(why, whysz, "field 'headers' must be an object of header names and values");
        return false;
    }
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)h, name, v)
    {
        const char *value = json_string_value(v);
        if (!value || strpbrk(name, "\r\n") || strpbrk(value, "\r\n")) {
            snprintf(why, whysz, "headers: '%.64s' must be a string without line breaks", name);
            return false;
        }
    }
    if (status == 0)
        return true;
    size_t len = (size_t)snprintf(out, outsz, "HTTP/1.1 %d\r\n", status);
    json_object_foreach((json_t *)h, name, v)
    {
        if (len >= outsz - 1)
            break;
        int n = snprintf(out + len, outsz - len, "%s: %s\r\n", name, json_string_value(v));
        len = n < 0 || (size_t)n >= outsz - len ? outsz - 1 : len + (size_t)n;
    }
    return true;
}

void ah_h_listener_results(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_listener_t l;
    char why[AH_WHY_SIZE], error[AH_ERROR_MAX] = "", hdrs[AH_RESPONSE_HEADERS_EXCERPT];
    if (!own_listener(c, req, resp, &l))
        return;
    json_t *body = ah_parse_body(req, false, why, sizeof why);
    if (!body) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return;
    }
    ah_listen_result_t r = {0};
    json_t *att = json_object_get(body, "attempt"), *st = json_object_get(body, "status");
    json_t *dur = json_object_get(body, "durationMs"), *b = json_object_get(body, "body");
    if (ah_get_str(body, "deliveryId", r.delivery_id, sizeof r.delivery_id, why, sizeof why) < 0 ||
        ah_check_id("deliveryId", r.delivery_id, true, why, sizeof why))
        goto bad;
    if (ah_get_str(body, "error", error, sizeof error, why, sizeof why) < 0)
        goto bad;
    if (!json_is_integer(att) || json_integer_value(att) < 1 || json_integer_value(att) > 1000) {
        snprintf(why, sizeof why, "field 'attempt' must be the delivery event's attempt number");
        goto bad;
    }
    if (!json_is_integer(st) || json_integer_value(st) < 0 || json_integer_value(st) > 999) {
        snprintf(why, sizeof why, "field 'status' must be an HTTP status, or 0 for no answer");
        goto bad;
    }
    if (dur && !json_is_null(dur) && (!json_is_integer(dur) || json_integer_value(dur) < 0)) {
        snprintf(why, sizeof why, "field 'durationMs' must be a non-negative integer");
        goto bad;
    }
    if (b && !json_is_null(b) && !json_is_string(b)) {
        snprintf(why, sizeof why, "field 'body' must be a string");
        goto bad;
    }
    r.attempt = (int)json_integer_value(att);
    r.status = (int)json_integer_value(st);
    if (!result_headers(json_object_get(body, "headers"), r.status, hdrs, sizeof hdrs, why,
                        sizeof why))
        goto bad;
    r.headers = hdrs[0] ? hdrs : NULL;
    r.dur_ms = json_is_integer(dur) ? (int64_t)json_integer_value(dur) : -1;
    r.body = json_is_string(b) ? json_string_value(b) : NULL;
    if (r.status == 0 && !error[0])
        ah_strlcpy(error, "the listener's target gave no answer", sizeof error);
    r.error = error[0] ? error : NULL;
    if (!c->app->listen_hub || ah_listen_hub_result(c->app->listen_hub, l.id, &r) == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404,
                 "delivery %s attempt %d is not awaiting a result from listener %s", r.delivery_id,
                 r.attempt, l.id);
    else
        ah_http_resp_json(resp, 200, json_pack("{s:b}", "recorded", 1));
    json_decref(body);
    return;
bad:
    ah_error(resp, c->dialect, 400, "%s", why);
    json_decref(body);
}

void ah_h_listener_delete(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_listener_t l;
    if (!own_listener(c, req, resp, &l))
        return;
    int rc = c->app->listen_hub
                 ? ah_listen_hub_remove(c->app->listen_hub, l.id, "deleted", c->caller.label)
                 : AH_EUNAVAIL;
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no listener with id %s", l.id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        ah_http_resp_text(resp, 204, "application/json", "", 0);
}
