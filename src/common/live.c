/* SPDX-License-Identifier: MIT */
/*
 * live.c: the ring of live events (live.h).
 *
 * One mutex guards the ring; a condition variable wakes the readers (the
 * API's fan-out thread).  The ring is allocated at the first publish.
 */
#include "common/live.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static ah_live_event_t *ring; /* AH_LIVE_RING entries; NULL until the first publish */
static uint64_t first_id;     /* the id of the first event ever published */
static uint64_t last_id;      /* the newest; first_id - 1 before any */
static bool started;
static unsigned kicks;

/* mu held. */
static void start(void)
{
    if (started)
        return;
    started = true;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    first_id = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    last_id = first_id - 1;
}

uint64_t ah_live_publish(const ah_live_event_t *e)
{
    pthread_mutex_lock(&mu);
    start();
    if (!ring)
        ring = calloc(AH_LIVE_RING, sizeof *ring);
    if (!ring) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    uint64_t id = ++last_id;
    ah_live_event_t *slot = &ring[id % AH_LIVE_RING];
    *slot = *e;
    slot->id = id;
    if (!slot->time_ms)
        slot->time_ms = ah_now_ms();
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return id;
}

void ah_live_webhook(const char *community_id, const char *webhook_id, const char *trigger,
                     const char *state, const char *reason)
{
    ah_live_event_t e;
    memset(&e, 0, sizeof e);
    e.kind = AH_LIVE_WEBHOOK;
    ah_strlcpy(e.community_id, community_id ? community_id : "", sizeof e.community_id);
    ah_strlcpy(e.webhook_id, webhook_id ? webhook_id : "", sizeof e.webhook_id);
    ah_strlcpy(e.trigger, trigger ? trigger : "", sizeof e.trigger);
    ah_strlcpy(e.state, state ? state : "", sizeof e.state);
    ah_strlcpy(e.reason, reason ? reason : "", sizeof e.reason);
    ah_live_publish(&e);
}

uint64_t ah_live_last(void)
{
    pthread_mutex_lock(&mu);
    start();
    uint64_t id = last_id;
    pthread_mutex_unlock(&mu);
    return id;
}

size_t ah_live_read(uint64_t after, ah_live_event_t *out, size_t max, uint64_t *missed)
{
    size_t n = 0;
    *missed = 0;
    pthread_mutex_lock(&mu);
    start();
    if (ring && after < last_id) {
        /* The oldest the ring holds. */
        uint64_t oldest =
            last_id - first_id + 1 > AH_LIVE_RING ? last_id - AH_LIVE_RING + 1 : first_id;
        uint64_t from = after + 1;
        if (from < oldest) {
            /* Gone from the ring; an id from before this process counts as at least one. */
            *missed = from < first_id ? oldest - first_id : oldest - from;
            if (!*missed)
                *missed = 1;
            from = oldest;
        }
        for (uint64_t id = from; id <= last_id && n < max; id++)
            out[n++] = ring[id % AH_LIVE_RING];
    }
    pthread_mutex_unlock(&mu);
    return n;
}

bool ah_live_wait(uint64_t after, int64_t timeout_ms)
{
    struct timespec ts = ah_deadline_ts(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&mu);
    start();
    unsigned k = kicks;
    while (last_id <= after && k == kicks)
        if (pthread_cond_timedwait(&cv, &mu, &ts))
            break;
    bool yes = last_id > after;
    pthread_mutex_unlock(&mu);
    return yes;
}

void ah_live_kick(void)
{
    pthread_mutex_lock(&mu);
    kicks++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}
