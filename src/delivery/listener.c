/* SPDX-License-Identifier: MIT */
/*
 * listener.c: the listener hub (listener.h).
 *
 * State, under hub->mu: the listeners this node knows (a list: a node has
 * a handful), each with its webhooks' ids and its current stream, and the
 * jobs: deliveries pushed on a stream, awaiting their result, each with the
 * stream it went out on and its deadline.
 *
 * A stream's end is learnt from its closed() callback (stream.c), which
 * always comes, once: the hub keeps its handle until then (a replaced or
 * deleted listener's stream is only ended), so the callback's context is
 * never freed under it.  What the stream still had awaiting a result is
 * given back then: the dispatcher hands the leases back and the deliveries
 * are claimed again when a stream is back (at least once).
 *
 * Several nodes (PostgreSQL): only the node holding a listener's stream
 * claims its deliveries (the dispatcher asks connected() first), and a
 * node learns a listener made elsewhere from the store when its stream
 * comes.  The row's last_seen_at is refreshed while a stream is connected,
 * and a listener is removed as stale only when that time is older than
 * the listener timeout and no stream is here, so the node with the stream
 * keeps it alive for all.
 */
#include "delivery/listener.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airhook/airhook.h"
#include "common/log.h"
#include "common/util.h"
#include "delivery/sign.h"

/* How often the hub's thread looks at deadlines and stale listeners. */
#define TICK_MS 250
/* How often a connected listener's last_seen_at is written (at most). */
#define TOUCH_MS 30000
/* How often the store's listeners are read for stale ones. */
#define STALE_SCAN_MS 2000
/* What a delivery's "body" may be at most in an event (the event body limit and some). */
#define QUEUE_MAX 1024

struct stream_ctx {
    ah_listen_hub_t *hub;
    ah_http_stream_t *s;
    char listener_id[AH_ID_SIZE];
};

struct listener {
    ah_listener_t row;
    char (*webhooks)[AH_ID_SIZE];
    size_t n_webhooks;
    struct stream_ctx *stream; /* connected here; NULL: not */
    int64_t touched_ms;        /* last_seen_at last written (mono) */
    struct listener *next;
};

struct job {
    void *token;
    char listener_id[AH_ID_SIZE];
    char delivery_id[AH_ID_SIZE];
    int attempt;
    ah_http_stream_t *s; /* went out on it */
    int64_t deadline;    /* mono ms */
    int64_t started_us;
    struct job *next;
};

struct ah_listen_hub {
    ah_store_t *store;
    ah_listen_config_t cfg;
    ah_listen_ops_t ops;
    ah_dispatcher_t *d;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    pthread_t thread;
    bool thread_running;
    struct listener *listeners;
    struct job *jobs;
    int64_t last_stale_scan;
};

static struct listener *find(ah_listen_hub_t *hub, const char *id)
{
    for (struct listener *l = hub->listeners; l; l = l->next)
        if (!strcmp(l->row.id, id))
            return l;
    return NULL;
}

static void listener_free(struct listener *l)
{
    free(l->webhooks);
    free(l);
}

/* Gives back every job matching (stream s, or listener id when s is NULL); hub->mu held. */
static void give_back(ah_listen_hub_t *hub, ah_http_stream_t *s, const char *listener_id)
{
    struct job **pp = &hub->jobs;
    while (*pp) {
        struct job *j = *pp;
        if (s ? j->s == s : !strcmp(j->listener_id, listener_id)) {
            *pp = j->next;
            if (hub->d)
                ah_dispatcher_listen_done(hub->d, j->token, 0, NULL, 0, NULL, NULL, true);
            free(j);
            continue;
        }
        pp = &j->next;
    }
}

/* ---- the dispatcher's side ---- */

static bool op_connected(void *arg, const char *listener_id)
{
    ah_listen_hub_t *hub = arg;
    pthread_mutex_lock(&hub->mu);
    struct listener *l = find(hub, listener_id);
    bool yes = l && l->stream;
    pthread_mutex_unlock(&hub->mu);
    return yes;
}

/* The "delivery" event's data: what the dispatcher would have sent, headers and body. */
static char *delivery_event(const ah_listen_job_t *job, int64_t now_s)
{
    const ah_claim_t *c = job->claim;
    char sig[AH_SIGNATURE_MAX], ts[24], attempt[16];
    if (ah_sign(job->secret, job->prev_secret[0] ? job->prev_secret : NULL, c->event_id, now_s,
                c->data, c->data_len, sig, sizeof sig))
        return NULL;
    snprintf(ts, sizeof ts, "%lld", (long long)now_s);
    snprintf(attempt, sizeof attempt, "%d", c->attempts + 1);
    json_t *headers = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "content-type", "application/json",
        "user-agent", "airhook/" AH_VERSION, "webhook-id", c->event_id, "webhook-timestamp", ts,
        "webhook-signature", sig, "x-airmeet-trigger", c->trigger, "x-airmeet-webhook-id",
        job->webhook_id, "x-airmeet-attempt", attempt);
    json_t *body = json_stringn_nocheck(c->data ? c->data : "", c->data_len);
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o}", "deliveryId", c->delivery_id, "webhookId",
                  job->webhook_id, "eventId", c->event_id, "trigger", c->trigger, "attempt",
                  c->attempts + 1, "headers", headers, "body", body);
    char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ev);
    return text;
}

static bool op_push(void *arg, const ah_listen_job_t *job)
{
    ah_listen_hub_t *hub = arg;
    char *data = delivery_event(job, job->started_ms / 1000);
    struct job *j = calloc(1, sizeof *j);
    if (!data || !j) {
        free(data);
        free(j);
        return false;
    }
    j->token = job->token;
    ah_strlcpy(j->listener_id, job->listener_id, sizeof j->listener_id);
    ah_strlcpy(j->delivery_id, job->claim->delivery_id, sizeof j->delivery_id);
    j->attempt = job->claim->attempts + 1;
    j->started_us = ah_mono_us();
    j->deadline = ah_mono_ms() + hub->cfg.result_timeout_ms;
    char id[AH_ID_SIZE + 16];
    snprintf(id, sizeof id, "%s.%d", j->delivery_id, j->attempt);
    bool ok = false;
    pthread_mutex_lock(&hub->mu);
    struct listener *l = find(hub, job->listener_id);
    /* A listen: url names a listener of the webhook's own community, or nothing is sent. */
    if (l && l->stream && !strcmp(l->row.community_id, job->community_id) &&
        ah_http_stream_send(l->stream->s, "delivery", id, data) == AH_OK) {
        j->s = l->stream->s;
        j->next = hub->jobs;
        hub->jobs = j;
        ok = true;
    }
    pthread_mutex_unlock(&hub->mu);
    free(data);
    if (!ok)
        free(j);
    return ok;
}

/* ---- streams ---- */

static void on_stream_closed(void *arg)
{
    struct stream_ctx *ctx = arg;
    ah_listen_hub_t *hub = ctx->hub;
    bool was_current = false;
    pthread_mutex_lock(&hub->mu);
    struct listener *l = find(hub, ctx->listener_id);
    if (l && l->stream == ctx) {
        l->stream = NULL;
        l->row.last_seen_at = ah_now_ms();
        was_current = true;
    }
    give_back(hub, ctx->s, NULL);
    pthread_mutex_unlock(&hub->mu);
    if (was_current) {
        ah_store_listener_touch(hub->store, ctx->listener_id, ah_now_ms());
        ah_log(AH_LOG_INFO, "listener stream closed",
               json_pack("{s:s}", "listener", ctx->listener_id));
    }
    ah_http_stream_release(ctx->s);
    free(ctx);
}

/* Ends l's stream, if any, after a "bye" (hub->mu held); its close comes later. */
static void say_bye(ah_listen_hub_t *hub, struct listener *l, const char *reason)
{
    if (!l->stream)
        return;
    char data[64];
    snprintf(data, sizeof data, "{\"reason\":\"%s\"}", reason);
    ah_http_stream_send(l->stream->s, "bye", NULL, data);
    ah_http_stream_end(l->stream->s);
    give_back(hub, l->stream->s, NULL);
    l->stream = NULL;
}

/* Reads a listener's webhooks (not deregistered) from the store. */
static int load_webhooks(ah_store_t *store, const ah_listener_t *row, char (**out)[AH_ID_SIZE],
                         size_t *n)
{
    char url[AH_ID_SIZE + 16];
    snprintf(url, sizeof url, AH_LISTEN_SCHEME "%s", row->id);
    ah_webhook_filter_t f = {.community_id = row->community_id,
                             .state = AH_WEBHOOK_ANY,
                             .url_part = url,
                             .limit = AH_LISTEN_WEBHOOKS_MAX};
    ah_webhook_t *rows = NULL;
    size_t m = 0;
    char next[AH_CURSOR_SIZE];
    *out = NULL;
    *n = 0;
    int rc = ah_store_webhook_page(store, &f, &rows, &m, next);
    if (rc)
        return rc;
    char(*ids)[AH_ID_SIZE] = calloc(m ? m : 1, sizeof *ids);
    if (!ids) {
        free(rows);
        return AH_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (!rows[i].deregistered_at && !strcmp(rows[i].url, url))
            memcpy(ids[k++], rows[i].id, AH_ID_SIZE);
    free(rows);
    *out = ids;
    *n = k;
    return AH_OK;
}

static struct listener *listener_new(const ah_listener_t *row, const char (*webhooks)[AH_ID_SIZE],
                                     size_t n)
{
    struct listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->row = *row;
    l->webhooks = calloc(n ? n : 1, sizeof *l->webhooks);
    if (!l->webhooks) {
        free(l);
        return NULL;
    }
    if (n)
        memcpy(l->webhooks, webhooks, n * sizeof *webhooks);
    l->n_webhooks = n;
    return l;
}

int ah_listen_hub_add(ah_listen_hub_t *hub, const ah_listener_t *row,
                      const char (*webhooks)[AH_ID_SIZE], size_t n)
{
    struct listener *l = listener_new(row, webhooks, n);
    if (!l)
        return AH_ENOMEM;
    pthread_mutex_lock(&hub->mu);
    struct listener *old = find(hub, row->id);
    if (old) { /* known already (read from the store meanwhile): keep that one */
        pthread_mutex_unlock(&hub->mu);
        listener_free(l);
        return AH_OK;
    }
    l->next = hub->listeners;
    hub->listeners = l;
    pthread_mutex_unlock(&hub->mu);
    return AH_OK;
}

/* Makes sure the hub knows listener id, reading it from the store if need be. */
static int learn(ah_listen_hub_t *hub, const char *id)
{
    pthread_mutex_lock(&hub->mu);
    bool known = find(hub, id) != NULL;
    pthread_mutex_unlock(&hub->mu);
    if (known)
        return AH_OK;
    ah_listener_t row;
    int rc = ah_store_listener_get(hub->store, id, &row);
    if (rc)
        return rc;
    char(*ids)[AH_ID_SIZE] = NULL;
    size_t n = 0;
    if ((rc = load_webhooks(hub->store, &row, &ids, &n)))
        return rc;
    rc = ah_listen_hub_add(hub, &row, (const char(*)[AH_ID_SIZE])ids, n);
    free(ids);
    return rc;
}

int ah_listen_hub_connect(ah_listen_hub_t *hub, const char *id, ah_http_req_t *req,
                          ah_http_resp_t *resp)
{
    int rc = learn(hub, id);
    if (rc)
        return rc;
    struct stream_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return AH_ENOMEM;
    ctx->hub = hub;
    ah_strlcpy(ctx->listener_id, id, sizeof ctx->listener_id);
    ah_http_stream_opts_t o = {
        .max_queued = QUEUE_MAX,
        .heartbeat_ms = hub->cfg.heartbeat_ms,
        .closed = on_stream_closed,
        .arg = ctx,
        .farewell_event = "bye",
        .farewell_data = "{\"reason\":\"shutdown\"}",
    };
    pthread_mutex_lock(&hub->mu);
    struct listener *l = find(hub, id);
    if (!l) { /* removed meanwhile */
        pthread_mutex_unlock(&hub->mu);
        free(ctx);
        return AH_ENOTFOUND;
    }
    ctx->s = ah_http_stream_open(req, resp, &o);
    if (!ctx->s) {
        pthread_mutex_unlock(&hub->mu);
        free(ctx);
        return AH_EIO;
    }
    say_bye(hub, l, "replaced");
    l->stream = ctx;
    l->row.last_seen_at = ah_now_ms();
    l->touched_ms = ah_mono_ms();
    char data[64];
    snprintf(data, sizeof data, "{\"listenerId\":\"%s\"}", id);
    ah_http_stream_send(ctx->s, "ready", NULL, data);
    size_t n = l->n_webhooks;
    char(*hooks)[AH_ID_SIZE] = n ? malloc(n * sizeof *hooks) : NULL;
    if (hooks)
        memcpy(hooks, l->webhooks, n * sizeof *hooks);
    pthread_mutex_unlock(&hub->mu);
    ah_store_listener_touch(hub->store, id, ah_now_ms());
    int64_t now = ah_now_ms();
    for (size_t i = 0; hooks && i < n; i++)
        ah_dispatcher_wake(hub->d, hooks[i], now); /* what waited for a stream is due now */
    free(hooks);
    ah_log(AH_LOG_INFO, "listener stream connected", json_pack("{s:s}", "listener", id));
    return AH_OK;
}

int ah_listen_hub_result(ah_listen_hub_t *hub, const char *id, const ah_listen_result_t *r)
{
    pthread_mutex_lock(&hub->mu);
    struct job **pp = &hub->jobs, *j = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->delivery_id, r->delivery_id) && !strcmp((*pp)->listener_id, id) &&
            (*pp)->attempt == r->attempt) {
            j = *pp;
            *pp = j->next;
            break;
        }
    }
    if (j && hub->d) {
        int64_t dur = r->dur_ms;
        if (dur < 0 || dur > hub->cfg.result_timeout_ms * 4)
            dur = (ah_mono_us() - j->started_us) / 1000;
        ah_dispatcher_listen_done(hub->d, j->token, r->status, r->error, dur, r->body, r->headers,
                                  false);
    }
    pthread_mutex_unlock(&hub->mu);
    free(j);
    return j ? AH_OK : AH_ENOTFOUND;
}

int ah_listen_hub_remove(ah_listen_hub_t *hub, const char *id, const char *reason, const char *by)
{
    ah_listener_t row;
    int rc = ah_store_listener_get(hub->store, id, &row);
    if (rc)
        return rc;
    pthread_mutex_lock(&hub->mu);
    struct listener **pp = &hub->listeners, *l = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->row.id, id)) {
            l = *pp;
            *pp = l->next;
            break;
        }
    if (l)
        say_bye(hub, l, reason);
    give_back(hub, NULL, id);
    pthread_mutex_unlock(&hub->mu);
    if (l)
        listener_free(l);
    char(*ids)[AH_ID_SIZE] = NULL;
    size_t n = 0;
    if ((rc = load_webhooks(hub->store, &row, &ids, &n)))
        return rc;
    int64_t now = ah_now_ms();
    for (size_t i = 0; i < n && !rc; i++) {
        rc = ah_store_webhook_deregister(hub->store, ids[i], by, now);
        if (rc == AH_ENOTFOUND)
            rc = AH_OK; /* deregistered meanwhile */
    }
    free(ids);
    if (!rc)
        rc = ah_store_listener_delete(hub->store, id);
    if (rc == AH_ENOTFOUND)
        rc = AH_OK; /* removed meanwhile (by another node's stale sweep) */
    ah_log(AH_LOG_INFO, "listener removed",
           json_pack("{s:s, s:s, s:s}", "listener", id, "reason", reason, "error",
                     rc ? ah_strerror(rc) : ""));
    return rc;
}

/* ---- the hub's thread ---- */

/* Records a failed attempt for every job past its deadline. */
static void expire_jobs(ah_listen_hub_t *hub)
{
    int64_t now = ah_mono_ms();
    char why[AH_ERROR_MAX];
    snprintf(why, sizeof why, "the listener did not report a result within %lld ms",
             (long long)hub->cfg.result_timeout_ms);
    pthread_mutex_lock(&hub->mu);
    struct job **pp = &hub->jobs;
    while (*pp) {
        struct job *j = *pp;
        if (j->deadline <= now) {
            *pp = j->next;
            if (hub->d)
                ah_dispatcher_listen_done(hub->d, j->token, 0, why,
                                          (ah_mono_us() - j->started_us) / 1000, NULL, NULL, false);
            free(j);
            continue;
        }
        pp = &j->next;
    }
    pthread_mutex_unlock(&hub->mu);
}

/* Writes last_seen_at of the listeners connected here, every TOUCH_MS. */
static void touch_connected(ah_listen_hub_t *hub)
{
    int64_t now = ah_mono_ms();
    int64_t every = hub->cfg.listener_timeout_ms / 3;
    if (every > TOUCH_MS)
        every = TOUCH_MS;
    char(*ids)[AH_ID_SIZE] = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&hub->mu);
    for (struct listener *l = hub->listeners; l; l = l->next) {
        if (!l->stream || now - l->touched_ms < every)
            continue;
        l->touched_ms = now;
        l->row.last_seen_at = ah_now_ms();
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char(*g)[AH_ID_SIZE] = realloc(ids, nc * sizeof *ids);
            if (!g)
                break;
            ids = g;
            cap = nc;
        }
        memcpy(ids[n++], l->row.id, AH_ID_SIZE);
    }
    pthread_mutex_unlock(&hub->mu);
    for (size_t i = 0; i < n; i++)
        ah_store_listener_touch(hub->store, ids[i], ah_now_ms());
    free(ids);
}

/* Removes listeners no stream has kept for the listener timeout (every STALE_SCAN_MS). */
static void remove_stale(ah_listen_hub_t *hub)
{
    int64_t mono = ah_mono_ms();
    if (mono - hub->last_stale_scan < STALE_SCAN_MS)
        return;
    hub->last_stale_scan = mono;
    ah_listener_t *rows = NULL;
    size_t n = 0;
    if (ah_store_listener_list(hub->store, &rows, &n))
        return;
    int64_t now = ah_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (now - rows[i].last_seen_at < hub->cfg.listener_timeout_ms)
            continue;
        pthread_mutex_lock(&hub->mu);
        struct listener *l = find(hub, rows[i].id);
        bool here = l && l->stream;
        pthread_mutex_unlock(&hub->mu);
        if (!here)
            ah_listen_hub_remove(hub, rows[i].id, "expired", "airhook (listener timeout)");
    }
    free(rows);
}

static void *hub_run(void *arg)
{
    ah_listen_hub_t *hub = arg;
    pthread_setname_np(pthread_self(), "ah-listeners");
    pthread_mutex_lock(&hub->mu);
    while (!hub->stopping) {
        struct timespec ts = ah_deadline_ts(CLOCK_MONOTONIC, TICK_MS);
        pthread_cond_timedwait(&hub->cv, &hub->mu, &ts);
        if (hub->stopping)
            break;
        pthread_mutex_unlock(&hub->mu);
        expire_jobs(hub);
        touch_connected(hub);
        remove_stale(hub);
        pthread_mutex_lock(&hub->mu);
    }
    pthread_mutex_unlock(&hub->mu);
    return NULL;
}

int ah_listen_hub_start(ah_store_t *store, const ah_listen_config_t *cfg, ah_listen_hub_t **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    ah_listen_hub_t *hub = calloc(1, sizeof *hub);
    if (!hub)
        return AH_ENOMEM;
    hub->store = store;
    hub->cfg = *cfg;
    if (hub->cfg.result_timeout_ms <= 0)
        hub->cfg.result_timeout_ms = 15000;
    if (hub->cfg.listener_timeout_ms <= 0)
        hub->cfg.listener_timeout_ms = 600000;
    hub->ops.connected = op_connected;
    hub->ops.push = op_push;
    hub->ops.arg = hub;
    pthread_mutex_init(&hub->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&hub->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* The listeners the store has; their streams come back when their CLIs reconnect. */
    ah_listener_t *rows = NULL;
    size_t n = 0;
    int rc = ah_store_listener_list(store, &rows, &n);
    for (size_t i = 0; rc == AH_OK && i < n; i++) {
        char(*ids)[AH_ID_SIZE] = NULL;
        size_t m = 0;
        rc = load_webhooks(store, &rows[i], &ids, &m);
        if (!rc)
            rc = ah_listen_hub_add(hub, &rows[i], (const char(*)[AH_ID_SIZE])ids, m);
        free(ids);
    }
    free(rows);
    if (!rc) {
        if (pthread_create(&hub->thread, NULL, hub_run, hub))
            rc = AH_ENOMEM;
        else
            hub->thread_running = true;
    }
    if (rc) {
        snprintf(err, errlen, "cannot start the listener hub: %s", ah_strerror(rc));
        ah_listen_hub_free(hub); /* no thread to stop */
        return rc;
    }
    *out = hub;
    return AH_OK;
}

const ah_listen_ops_t *ah_listen_hub_ops(ah_listen_hub_t *hub)
{
    return hub ? &hub->ops : NULL;
}

void ah_listen_hub_attach(ah_listen_hub_t *hub, ah_dispatcher_t *d)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->mu);
    hub->d = d;
    pthread_mutex_unlock(&hub->mu);
}

void ah_listen_hub_stop(ah_listen_hub_t *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->mu);
    bool running = hub->thread_running;
    hub->thread_running = false;
    hub->stopping = true;
    pthread_cond_broadcast(&hub->cv);
    pthread_mutex_unlock(&hub->mu);
    if (running)
        pthread_join(hub->thread, NULL);
    pthread_mutex_lock(&hub->mu);
    while (hub->jobs) {
        struct job *j = hub->jobs;
        hub->jobs = j->next;
        if (hub->d)
            ah_dispatcher_listen_done(hub->d, j->token, 0, NULL, 0, NULL, NULL, true);
        free(j);
    }
    while (hub->listeners) {
        struct listener *l = hub->listeners;
        hub->listeners = l->next;
        if (l->stream) { /* not expected after ah_http_stop: its close will not find it */
            ah_http_stream_end(l->stream->s);
            l->stream = NULL;
        }
        listener_free(l);
    }
    pthread_mutex_unlock(&hub->mu);
}

void ah_listen_hub_free(ah_listen_hub_t *hub)
{
    if (!hub)
        return;
    ah_listen_hub_stop(hub); /* a no-op when stopped already */
    pthread_cond_destroy(&hub->cv);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}
