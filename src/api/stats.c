/* SPDX-License-Identifier: MIT */
/*
 * stats.c: what the console's overview page shows (docs/api.md, "Time
 * series" and "Overview").
 *
 * GET /admin/v1/stats/series answers the node's per-minute series
 * (common/series.h, fed by the dispatcher's attempts) as parallel arrays,
 * one entry per minute, oldest first, with the unit of each array named in
 * "units"; the integrators' twin (portal.c) answers the same shape for one
 * of their webhooks.  The backlog is sampled once a minute by the
 * dispatcher; a node without one (--role api) samples it when asked.
 *
 * GET /admin/v1/overview answers the health of the server in one page:
 * the store (with the time a ping took), the backlog and its oldest
 * delivery, counts of communities and webhooks, the last few webhooks
 * disabled, the last hour's events, deliveries (from the store) and
 * attempts (this node's), and the node itself.  Every store read in it is
 * bounded by an index (store.h, ah_store_overview).  When the store does
 * not answer the ping, the page still answers, with "ok": false and the
 * store's figures null: an overview is most wanted when something is down.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/series.h"

#define SERIES_MINUTES_DEFAULT 60
#define RECENT_DISABLED 5
#define HOUR_MS (60LL * 60 * 1000)

/* x rounded to `places` decimals, or null when x < 0 (no value). */
static json_t *num_or_null(double x, int places)
{
    if (x < 0)
        return json_null();
    double f = pow(10, places);
    return json_real(round(x * f) / f);
}

static json_t *units_json(void)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "timestamps",
        "unix seconds: the start of each minute", "attempts",
        "delivery attempts ended in the minute, by outcome (retry: another attempt is scheduled; "
        "failed: the delivery failed for good)",
        "attemptsPerSecond", "attempts per second, averaged over the minute", "successRate",
        "succeeded attempts / all attempts of the minute, 0..1; null without attempts",
        "latencyP50Ms", "milliseconds, median attempt duration (estimated from a histogram)",
        "latencyP99Ms", "milliseconds, 99th percentile of attempt duration (estimated)", "backlog",
        "pending deliveries (all webhooks), sampled once a minute; null when not sampled or for "
        "one webhook");
}

json_t *ah_series_json(ah_app_t *app, const char *webhook_id, size_t minutes)
{
    ah_series_t *s = ah_series_process();
    int64_t now = ah_now_ms();
    if (!webhook_id && !ah_series_has_backlog(s, now)) {
        ah_delivery_stats_t st;
        if (ah_store_delivery_stats(app->store, &st) == AH_OK)
            ah_series_backlog(s, st.pending, now);
    }
    ah_series_point_t *p = malloc(minutes * sizeof *p);
    bool tracked = false;
    if (!p || ah_series_read(s, webhook_id, minutes, now, p, &tracked)) {
        free(p);
        return NULL;
    }
    json_t *ts = json_array(), *ok = json_array(), *retry = json_array(), *failed = json_array(),
           *rate = json_array(), *success = json_array(), *p50 = json_array(), *p99 = json_array(),
           *backlog = json_array();
    bool good = ts && ok && retry && failed && rate && success && p50 && p99 && backlog;
    for (size_t i = 0; good && i < minutes; i++) {
        const ah_series_point_t *pt = &p[i];
        uint64_t total = 0;
        for (int k = 0; k < AH_METRICS_N_OUTCOMES; k++)
            total += pt->attempts[k];
        good =
            !json_array_append_new(ts, json_integer(pt->minute_ms / 1000)) &&
            !json_array_append_new(ok, json_integer(pt->attempts[AH_METRICS_SUCCEEDED])) &&
            !json_array_append_new(retry, json_integer(pt->attempts[AH_METRICS_RETRY])) &&
            !json_array_append_new(failed, json_integer(pt->attempts[AH_METRICS_FAILED])) &&
            !json_array_append_new(rate, num_or_null((double)total / 60.0, 3)) &&
            !json_array_append_new(
                success,
                num_or_null(total ? (double)pt->attempts[AH_METRICS_SUCCEEDED] / (double)total : -1,
                            4)) &&
            !json_array_append_new(p50, num_or_null(pt->p50_ms, 1)) &&
            !json_array_append_new(p99, num_or_null(pt->p99_ms, 1)) &&
            !json_array_append_new(backlog,
                                   pt->backlog >= 0 ? json_integer(pt->backlog) : json_null());
    }
    free(p);
    json_t *j = NULL;
    if (good)
        j = json_pack(
            "{s:s, s:o, s:b, s:i, s:I, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:o, s:o, s:o, "
            "s:o, s:o}",
            "scope", "node", "webhookId", ah_json_str_or_null(webhook_id ? webhook_id : ""),
            "tracked", tracked, "stepSeconds", 60, "minutes", (json_int_t)minutes, "nodeStartedAt",
            ah_json_time(app->started_ms), "timestamps", ts, "attempts", "succeeded", ok, "retry",
            retry, "failed", failed, "attemptsPerSecond", rate, "successRate", success,
            "latencyP50Ms", p50, "latencyP99Ms", p99, "backlog", backlog, "units", units_json());
    else {
        json_decref(ts);
        json_decref(ok);
        json_decref(retry);
        json_decref(failed);
        json_decref(rate);
        json_decref(success);
        json_decref(p50);
        json_decref(p99);
        json_decref(backlog);
    }
    return j;
}

/* ?minutes= (1..AH_SERIES_MINUTES, default 60); answers 400 itself. */
bool ah_series_minutes(const ah_call_t *c, const ah_http_req_t *req, size_t *minutes,
                       ah_http_resp_t *resp)
{
    const char *text = ah_http_query(req, "minutes");
    int64_t n = SERIES_MINUTES_DEFAULT;
    if (text && ah_parse_i64(text, 1, AH_SERIES_MINUTES, &n) != AH_OK) {
        ah_error(resp, c->dialect, 400,
                 "minutes '%.40s' is not a whole number from 1 to %d (24 hours)", text,
                 AH_SERIES_MINUTES);
        return false;
    }
    *minutes = (size_t)n;
    return true;
}

void ah_series_reply(const ah_call_t *c, const char *webhook_id, size_t minutes,
                     ah_http_resp_t *resp)
{
    json_t *j = ah_series_json(c->app, webhook_id, minutes);
    if (j)
        ah_http_resp_json(resp, 200, j);
    else
        ah_store_error(resp, c->dialect, AH_ENOMEM);
}

void ah_h_stats_series(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    size_t minutes;
    char webhook[AH_ID_SIZE];
    ah_webhook_t *w = malloc(sizeof *w);
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (ah_series_minutes(c, req, &minutes, resp) &&
        ah_query_id(c, req, "webhookId", &ah_kind_webhook, w, webhook, resp))
        ah_series_reply(c, webhook[0] ? webhook : NULL, minutes, resp);
    free(w);
}

/* ---- the overview ---- */

static const char *role_name(const ah_config_t *cfg)
{
    if (cfg->serve_api && cfg->run_delivery)
        return "all";
    return cfg->serve_api ? "api" : "worker";
}

/* This node's attempts of the last 60 minutes, by outcome. */
static json_t *attempts_last_hour(int64_t now)
{
    uint64_t n[AH_METRICS_N_OUTCOMES];
    ah_series_sum(ah_series_process(), NULL, 60, now, n, NULL);
    return json_pack("{s:I, s:I, s:I}", "succeeded", (json_int_t)n[AH_METRICS_SUCCEEDED], "retry",
                     (json_int_t)n[AH_METRICS_RETRY], "failed", (json_int_t)n[AH_METRICS_FAILED]);
}

/* The store's part of the overview into o; false when the store failed (o's fields stay null). */
static bool store_part(ah_app_t *app, int64_t now, json_t *o)
{
    ah_delivery_stats_t st;
    ah_store_overview_t ov;
    ah_webhook_t *recent = NULL;
    size_t n = 0;
    if (ah_store_delivery_stats(app->store, &st) ||
        ah_store_overview(app->store, now - HOUR_MS, &ov) ||
        ah_store_webhook_recently_disabled(app->store, RECENT_DISABLED, &recent, &n))
        return false;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, ah_webhook_json(&recent[i], AH_VIEW_ADMIN));
    free(recent);
    int64_t age = st.oldest_pending_created_at ? (now - st.oldest_pending_created_at) / 1000 : -1;
    json_object_set_new(o, "backlog",
                        json_pack("{s:I, s:o, s:o}", "pending", (json_int_t)st.pending,
                                  "oldestPendingAt", ah_json_time(st.oldest_pending_created_at),
                                  "oldestPendingAgeSeconds",
                                  age >= 0 ? json_integer(age > 0 ? age : 0) : json_null()));
    json_object_set_new(o, "communities", json_integer(ov.communities));
    json_object_set_new(o, "webhooks",
                        json_pack("{s:I, s:I, s:o}", "active", (json_int_t)ov.active_webhooks,
                                  "disabled", (json_int_t)ov.disabled_webhooks, "recentlyDisabled",
                                  arr ? arr : json_array()));
    json_t *hour = json_object_get(o, "lastHour");
    json_object_set_new(hour, "events", json_integer(ov.events));
    json_object_set_new(hour, "deliveries", json_integer(ov.deliveries));
    return true;
}

void ah_h_overview(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = c->app;
    int64_t now = ah_now_ms();
    int64_t t0 = ah_mono_us();
    int ping = ah_store_ping(app->store);
    double ping_ms = (double)(ah_mono_us() - t0) / 1000.0;
    json_t *o = json_pack(
        "{s:{s:s, s:b, s:o, s:o}, s:n, s:n, s:n, s:{s:n, s:n, s:o}, s:{s:s, s:s, s:s, s:o, s:I}}",
        "store", "name", ah_store_name(app->store), "ok", ping == AH_OK, "pingMs",
        num_or_null(ping_ms, 3), "error", ping ? json_string(ah_strerror(ping)) : json_null(),
        "backlog", "communities", "webhooks", "lastHour", "events", "deliveries", "attempts",
        attempts_last_hour(now), "node", "version", AH_VERSION, "region", app->cfg.region, "role",
        role_name(&app->cfg), "startedAt", ah_json_time(app->started_ms), "uptimeSeconds",
        (json_int_t)((now - app->started_ms) / 1000));
    if (!o) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (ping == AH_OK && !store_part(app, now, o)) {
        json_t *store = json_object_get(o, "store");
        json_object_set_new(store, "ok", json_false());
        json_object_set_new(store, "error", json_string("the store failed to answer the counts"));
    }
    ah_http_resp_json(resp, 200, o);
}
