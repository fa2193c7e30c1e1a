/* SPDX-License-Identifier: MIT */
/*
 * live.c: the live tail (docs/api.md, "Live events"): GET /admin/v1/live
 * (the operator: every community) and {base}/airhook/v1/live (an
 * integrator: their community only), Server-Sent Events over the HTTP
 * layer's streams (http.h).
 *
 * The delivery engine and the webhook handlers publish into the process's
 * ring (common/live.h) and never see a subscriber.  One fan-out thread per
 * app, started with the first subscriber, reads the ring past its cursor
 * and queues each event on every subscriber's stream whose community
 * matches.  Queueing never waits: a stream whose client reads too slowly
 * has a bounded queue, and what does not fit is dropped and counted, then
 * stands as one "skipped" event ("n events skipped") once there is room.
 *
 * A subscriber that sends Last-Event-ID gets, on connecting, what the ring
 * still holds after that id (under the hub's mutex, so that nothing falls
 * between the replay and the fan-out), and a "reset" event saying how many
 * it missed when the ring no longer holds them all.
 *
 * Subscribers are freed by the fan-out thread once their stream has told
 * (closed()) that its connection ended; at ah_live_hub_free the HTTP
 * listener has stopped, so every stream has told.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/live.h"
#include "common/log.h"

#define LIVE_QUEUE 512 /* events waiting per subscriber at most */
#define LIVE_BATCH 256 /* events the fan-out thread takes from the ring at a time */
/* A slow client's backlog stays in the stream's queue (bounded, summarized), not the kernel's. */
#define LIVE_SNDBUF (64 * 1024)

typedef struct sub {
    struct sub *next;
    ah_live_hub_t *hub;
    ah_http_stream_t *s;
    char community_id[AH_ID_SIZE]; /* "": every community */
    bool closed;                   /* its connection has ended */
} sub_t;

struct ah_live_hub {
    pthread_mutex_t mu; /* subs, cursor, started, stopping */
    sub_t *subs;
    uint64_t cursor; /* events up to this id have been fanned out */
    bool started, stopping;
    pthread_t thread;
    ah_live_event_t *batch;
};

ah_live_hub_t *ah_live_hub_new(void)
{
    ah_live_hub_t *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    pthread_mutex_init(&hub->mu, NULL);
    return hub;
}

/* The event's JSON text (malloc'd), or NULL. */
static char *event_json(const ah_live_event_t *e)
{
    json_t *o;
    if (e->kind == AH_LIVE_ATTEMPT)
        o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:I, s:s?, s:o}", "id",
                      (json_int_t)e->id, "type", "attempt", "deliveryId", e->delivery_id,
                      "webhookId", e->webhook_id, "eventId", e->event_id, "communityId",
                      e->community_id, "trigger", e->trigger, "attempt", e->attempt, "outcome",
                      e->outcome, "statusCode", e->status_code, "durationMs",
                      (json_int_t)e->duration_ms, "error", e->error[0] ? e->error : NULL, "time",
                      ah_json_time(e->time_ms));
    else
        o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s?, s:o}", "id", (json_int_t)e->id, "type",
                      "webhook", "webhookId", e->webhook_id, "communityId", e->community_id,
                      "trigger", e->trigger, "state", e->state, "reason",
                      e->reason[0] ? e->reason : NULL, "time", ah_json_time(e->time_ms));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return text;
}

static bool wants(const sub_t *sub, const ah_live_event_t *e)
{
    return !sub->community_id[0] || !strcmp(sub->community_id, e->community_id);
}

/* Queues e on sub's stream (never waits; a full queue drops and counts). */
static void send_one(sub_t *sub, const ah_live_event_t *e, const char *text)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRIu64, e->id);
    ah_http_stream_send(sub->s, e->kind == AH_LIVE_ATTEMPT ? "attempt" : "webhook", id, text);
}

static void send_reset(sub_t *sub, uint64_t missed, uint64_t last)
{
    char data[128], id[24];
    snprintf(data, sizeof data, "{\"missed\":%" PRIu64 ",\"lastEventId\":%" PRIu64 "}", missed,
             last);
    snprintf(id, sizeof id, "%" PRIu64, last);
    ah_http_stream_send(sub->s, "reset", id, data);
}

/* Frees the subscribers whose connection ended (hub->mu held). */
static void sweep(ah_live_hub_t *hub)
{
    sub_t **pp = &hub->subs;
    while (*pp) {
        sub_t *sub = *pp;
        if (sub->closed) {
            *pp = sub->next;
            ah_http_stream_release(sub->s);
            free(sub);
            continue;
        }
        pp = &sub->next;
    }
}

static void *fan_out(void *arg)
{
    ah_live_hub_t *hub = arg;
    pthread_mutex_lock(&hub->mu);
    while (!hub->stopping) {
        uint64_t cursor = hub->cursor;
        pthread_mutex_unlock(&hub->mu);
        ah_live_wait(cursor, 1000);
        uint64_t missed = 0;
        size_t n = ah_live_read(cursor, hub->batch, LIVE_BATCH, &missed);
        pthread_mutex_lock(&hub->mu);
        sweep(hub);
        if (missed) /* the ring lapped this thread: every subscriber missed those */
            for (sub_t *sub = hub->subs; sub; sub = sub->next)
                send_reset(sub, missed, n ? hub->batch[0].id - 1 : cursor + missed);
        for (size_t i = 0; i < n; i++) {
            const ah_live_event_t *e = &hub->batch[i];
            char *text = NULL;
            for (sub_t *sub = hub->subs; sub; sub = sub->next) {
                if (sub->closed || !wants(sub, e))
                    continue;
                if (!text && !(text = event_json(e)))
                    break;
                send_one(sub, e, text);
            }
            free(text);
        }
        if (n)
            hub->cursor = hub->batch[n - 1].id;
        else if (missed)
            hub->cursor += missed;
    }
    pthread_mutex_unlock(&hub->mu);
    return NULL;
}

/* Starts the fan-out thread (hub->mu held); false when it cannot. */
static bool start(ah_live_hub_t *hub)
{
    if (hub->started)
        return true;
    if (!hub->batch && !(hub->batch = calloc(LIVE_BATCH, sizeof *hub->batch)))
        return false;
    hub->cursor = ah_live_last();
    if (pthread_create(&hub->thread, NULL, fan_out, hub))
        return false;
    hub->started = true;
    return true;
}

void ah_live_hub_free(ah_live_hub_t *hub)
{
    if (!hub)
        return;
    pthread_mutex_lock(&hub->mu);
    hub->stopping = true;
    bool started = hub->started;
    pthread_mutex_unlock(&hub->mu);
    ah_live_kick();
    if (started)
        pthread_join(hub->thread, NULL);
    while (hub->subs) {
        sub_t *sub = hub->subs;
        hub->subs = sub->next;
        ah_http_stream_release(sub->s);
        free(sub);
    }
    free(hub->batch);
    pthread_mutex_destroy(&hub->mu);
    free(hub);
}

static size_t summary(void *arg, size_t dropped, char *buf, size_t cap)
{
    (void)arg;
    char data[96];
    snprintf(data, sizeof data, "{\"skipped\":%zu}", dropped);
    return ah_http_stream_format(buf, cap, "skipped", NULL, data);
}

static void on_closed(void *arg)
{
    sub_t *sub = arg;
    pthread_mutex_lock(&sub->hub->mu);
    sub->closed = true;
    pthread_mutex_unlock(&sub->hub->mu);
}

/* Last-Event-ID as a number into *id; false when absent or not a number. */
static bool last_event_id(const ah_http_req_t *req, uint64_t *id)
{
    const char *v = ah_http_header(req, "Last-Event-ID");
    if (!v || !*v)
        v = ah_http_query(req, "lastEventId");
    if (!v || !*v)
        return false;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || end == v)
        return false;
    *id = (uint64_t)n;
    return true;
}

/* Opens a live stream for community ("" for all). */
static void serve(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp, const char *community)
{
    ah_live_hub_t *hub = c->app->live_hub;
    if (!hub) {
        ah_error(resp, c->dialect, 503, "this server has no live tail");
        return;
    }
    sub_t *sub = calloc(1, sizeof *sub);
    if (!sub) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    sub->hub = hub;
    ah_strlcpy(sub->community_id, community, sizeof sub->community_id);
    ah_http_stream_opts_t o = {
        .max_queued = LIVE_QUEUE,
        .sndbuf = LIVE_SNDBUF,
        .summary = summary,
        .closed = on_closed,
        .arg = sub,
        .farewell_event = "bye",
        .farewell_data = "{\"reason\":\"shutdown\"}",
    };
    uint64_t after = 0;
    bool resume = last_event_id(req, &after);
    pthread_mutex_lock(&hub->mu);
    if (hub->stopping || !start(hub) || !(sub->s = ah_http_stream_open(req, resp, &o))) {
        pthread_mutex_unlock(&hub->mu);
        free(sub);
        ah_error(resp, c->dialect, 503, "the server is stopping; reconnect shortly");
        return;
    }
    char data[160], id[24];
    snprintf(data, sizeof data, "{\"lastEventId\":%" PRIu64 ",\"communityId\":%s%s%s}", hub->cursor,
             community[0] ? "\"" : "", community[0] ? community : "null", community[0] ? "\"" : "");
    snprintf(id, sizeof id, "%" PRIu64, hub->cursor);
    /* Resuming, the client keeps its id until the replay's events (no id line: unchanged). */
    ah_http_stream_send(sub->s, "ready", resume ? NULL : id, data);
    if (resume && after < hub->cursor) {
        /* What the ring still holds up to the fan-out's cursor; the thread sends the rest. */
        ah_live_event_t *ev = malloc(LIVE_BATCH * sizeof *ev);
        uint64_t from = after, missed = 0;
        while (ev && from < hub->cursor) {
            size_t n = ah_live_read(from, ev, LIVE_BATCH, &missed);
            if (missed)
                send_reset(sub, missed, n ? ev[0].id - 1 : hub->cursor);
            size_t i = 0;
            for (; i < n && ev[i].id <= hub->cursor; i++) {
                if (!wants(sub, &ev[i]))
                    continue;
                char *text = event_json(&ev[i]);
                if (text)
                    send_one(sub, &ev[i], text);
                free(text);
            }
            if (!n || i < n)
                break;
            from = ev[n - 1].id;
        }
        free(ev);
    }
    sub->next = hub->subs;
    hub->subs = sub;
    pthread_mutex_unlock(&hub->mu);
}

void ah_h_admin_live(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    serve(c, req, resp, "");
}

void ah_h_public_live(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    serve(c, req, resp, c->caller.community_id);
}

void ah_live_webhook_changed(ah_app_t *app, const char *id, const char *state, const char *reason)
{
    ah_webhook_t *w = malloc(sizeof *w); /* ~7 KiB: off the stack */
    if (w && ah_store_webhook_get(app->store, id, w) == AH_OK)
        ah_live_webhook(w->community_id, id, w->trigger, state, reason);
    free(w);
}
