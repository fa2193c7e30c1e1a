/* SPDX-License-Identifier: MIT */
/*
 * retention.c: the background purge (retention.h).
 *
 * One thread, ah-retention, walks the events older than the retention
 * (now - retention_ms) with ah_store_purge_final, one small batch per call.
 * A call is one write transaction, so on SQLite it holds the database's
 * one write lock, which publishing, claiming and recording need too.  Two
 * rules keep it out of their way:
 *
 *  - a call should hold the lock about BATCH_TARGET_US: the batch (events
 *    looked at per call) adapts to the time the last call spent inside its
 *    transaction (not the time it waited for the lock), shrinking when it
 *    ran long and growing while calls are short and find a full batch; and
 *    no call removes more than BATCH_DELIVERIES_MAX deliveries, so a large
 *    fan-out does not make one long transaction;
 *  - after a call the thread pauses PAUSE_FACTOR times as long as the call
 *    took, waiting for the lock included (at least PAUSE_MIN_MS), so the
 *    purge holds the write lock at most a fifth of the time however much
 *    there is to remove, and backs off further while others hold it.
 *
 * That still removes tens of thousands of deliveries a second when there
 * is a backlog (bench/run.sh's soak scenario measures both the rate and the
 * latency of delivery meanwhile).  After a call that removed rows the
 * thread asks the store to give free space back (ah_store_reclaim_space:
 * SQLite's incremental vacuum, at most RECLAIM_PAGES per call, counted in
 * the same pause), and keeps at it between passes while more is free than
 * the store keeps in reserve.  When a pass reaches the youngest old
 * event the thread sleeps a while (a tenth of the retention, between 1 s and
 * 60 s) before the next pass; a failed call (the database unreachable) is
 * tried again after a backoff.  Nodes sharing a PostgreSQL database each run
 * one; the store makes them take different events.
 */
#include "delivery/retention.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define BATCH_START 16
#define BATCH_MIN 4
#define BATCH_MAX 256             /* events per call */
#define BATCH_DELIVERIES_MAX 1000 /* deliveries per call, whatever the fan-out */
#define BATCH_TARGET_US 4000      /* how long a call should hold the write lock */
#define PAUSE_MIN_MS 10
#define PAUSE_FACTOR 4
#define PASS_MIN_MS 1000
#define PASS_MAX_MS 60000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define RECLAIM_PAGES 256 /* 1 MiB at 4 KiB pages per call */

struct ah_retention {
    ah_store_t *store;
    int64_t retention_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on stop */
    bool stop;
    ah_retention_stats_t stats; /* under mu */
};

/* Waits ms or until stop; true when stopping. */
static bool pause_ms(ah_retention_t *r, int64_t ms)
{
    struct timespec until = ah_deadline_ts(CLOCK_MONOTONIC, ms);
    pthread_mutex_lock(&r->mu);
    while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT)
        ;
    bool stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

/* The next batch size, from how long the last call took and whether it was full. */
static size_t adapt(size_t batch, int64_t took_us, bool full)
{
    if (took_us > BATCH_TARGET_US)
        batch = batch * 2 / 3;
    else if (full && took_us < BATCH_TARGET_US / 2)
        batch = batch + batch / 4 + 1;
    if (batch < BATCH_MIN)
        batch = BATCH_MIN;
    if (batch > BATCH_MAX)
        batch = BATCH_MAX;
    return batch;
}

static void count(ah_retention_t *r, const ah_purge_t *p, int64_t took_us, bool pass_done,
                  const ah_store_space_t *space)
{
    pthread_mutex_lock(&r->mu);
    ah_retention_stats_t *st = &r->stats;
    if (space->known) {
        st->space = *space;
        st->reclaimed_bytes += (uint64_t)(space->reclaimed_bytes > 0 ? space->reclaimed_bytes : 0);
    }
    st->events += p->events;
    st->deliveries += p->deliveries;
    st->attempts += p->attempts;
    st->batches++;
    st->batch_last_us = p->held_us;
    if (p->held_us > st->batch_max_us)
        st->batch_max_us = p->held_us;
    st->held_us += (uint64_t)p->held_us;
    st->took_us += (uint64_t)took_us;
    if (pass_done) {
        st->passes++;
        st->last_pass_at = ah_now_ms();
    }
    pthread_mutex_unlock(&r->mu);
}

static void *retention_main(void *arg)
{
    ah_retention_t *r = arg;
    pthread_setname_np(pthread_self(), "ah-retention");
    int64_t pass_ms = r->retention_ms / 10;
    if (pass_ms < PASS_MIN_MS)
        pass_ms = PASS_MIN_MS;
    if (pass_ms > PASS_MAX_MS)
        pass_ms = PASS_MAX_MS;
    ah_purge_t p;
    memset(&p, 0, sizeof p);
    size_t batch = BATCH_START;
    int64_t backoff = 0;
    bool reclaim = true; /* the first call reports the space even when it removes nothing */
    for (;;) {
        p.cutoff = ah_now_ms() - r->retention_ms;
        p.max = batch;
        p.max_deliveries = BATCH_DELIVERIES_MAX;
        int64_t t0 = ah_mono_us();
        int rc = ah_store_purge_final(r->store, &p);
        int64_t took = ah_mono_us() - t0;
        /* Then free space back, in a transaction of its own (none on PostgreSQL). */
        ah_store_space_t space = {.known = false};
        int64_t reclaim_us = 0;
        if (rc == AH_OK && (reclaim || p.events)) {
            int64_t t1 = ah_mono_us();
            int space_rc = ah_store_reclaim_space(r->store, RECLAIM_PAGES, &space);
            reclaim_us = ah_mono_us() - t1;
            reclaim = space_rc == AH_OK && space.more;
            if (space_rc) {
                pthread_mutex_lock(&r->mu);
                r->stats.failures++;
                pthread_mutex_unlock(&r->mu);
                ah_logf(AH_LOG_WARN, "retention: giving free space back failed (%s)",
                        ah_strerror(space_rc));
            }
        }
        int64_t wait;
        if (rc) {
            pthread_mutex_lock(&r->mu);
            r->stats.failures++;
            pthread_mutex_unlock(&r->mu);
            if (!backoff)
                ah_logf(AH_LOG_WARN, "retention: purge failed (%s); trying again later",
                        ah_strerror(rc));
            backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
            if (backoff > BACKOFF_MAX_MS)
                backoff = BACKOFF_MAX_MS;
            wait = backoff;
            p.cursor[0] = '\0'; /* start the pass again */
        } else {
            if (backoff)
                ah_logf(AH_LOG_INFO, "retention: purging again");
            backoff = 0;
            bool pass_done = !p.cursor[0];
            count(r, &p, took, pass_done, &space);
            if (p.events)
                ah_logf(AH_LOG_DEBUG,
                        "retention: removed %zu events, %zu deliveries, %zu attempts in %lld us",
                        p.events, p.deliveries, p.attempts, (long long)took);
            batch = adapt(batch, p.held_us, p.scanned == p.max);
            wait = (took + reclaim_us) * PAUSE_FACTOR / 1000;
            if (wait < PAUSE_MIN_MS)
                wait = PAUSE_MIN_MS;
            if (pass_done && !reclaim)
                wait = pass_ms;
        }
        if (pause_ms(r, wait))
            break;
    }
    return NULL;
}

int ah_retention_start(ah_store_t *store, int64_t retention_ms, ah_retention_t **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (!store || retention_ms <= 0) {
        snprintf(err, errlen, "retention: needs a store and a retention above 0");
        return AH_EINVAL;
    }
    ah_retention_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "retention: out of memory");
        return AH_ENOMEM;
    }
    r->store = store;
    r->retention_ms = retention_ms;
    r->stats.retention_ms = retention_ms;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->thread, NULL, retention_main, r)) {
        snprintf(err, errlen, "retention: cannot start its thread");
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return AH_ENOMEM;
    }
    *out = r;
    return AH_OK;
}

void ah_retention_stats(ah_retention_t *r, ah_retention_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    pthread_mutex_unlock(&r->mu);
}

void ah_retention_stop(ah_retention_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
