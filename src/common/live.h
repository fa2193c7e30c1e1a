/* SPDX-License-Identifier: MIT */
/*
 * live.h: the process's ring of recent live events (delivery attempts and
 * webhook state changes) for the console's live tail, GET /admin/v1/live
 * and {base}/airhook/v1/live (docs/api.md, "Live events").
 *
 * A fixed ring of AH_LIVE_RING entries, each with an id one higher than
 * the last.  Ids start at the wall clock in microseconds when the process
 * starts, so a later process never hands out an id a client already saw
 * (a client resuming with an older one is told how many it missed).
 * Publishing copies one entry under a mutex held for the copy and wakes
 * the readers: it never waits on a reader, so the delivery engine calls it
 * for every attempt.  Readers copy out what is newer than the id they
 * have; what the ring overwrote before they came is counted as missed.
 *
 * Each process keeps its own ring: on several nodes each one streams the
 * attempts it made and the changes it was asked for.
 *
 * It lives in common (below delivery and api) so its types are plain.
 */
#ifndef AH_LIVE_H
#define AH_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define AH_LIVE_RING 4096
#define AH_LIVE_TEXT_MAX 256

typedef enum { AH_LIVE_ATTEMPT, AH_LIVE_WEBHOOK } ah_live_kind_t;

typedef struct ah_live_event {
    uint64_t id;     /* set by publish */
    int64_t time_ms; /* set by publish when 0 */
    ah_live_kind_t kind;
    char community_id[AH_ID_SIZE];
    char webhook_id[AH_ID_SIZE];
    char trigger[64];
    /* AH_LIVE_ATTEMPT */
    char delivery_id[AH_ID_SIZE];
    char event_id[AH_ID_SIZE];
    int attempt;
    int status_code;
    int64_t duration_ms;
    char outcome[16]; /* "succeeded", "retry", "failed" */
    char error[AH_LIVE_TEXT_MAX];
    /* AH_LIVE_WEBHOOK */
    char state[16]; /* "disabled", "enabled", "deregistered" */
    char reason[AH_LIVE_TEXT_MAX];
} ah_live_event_t;

/* Copies e into the ring with the next id (e is not changed); returns that id. */
uint64_t ah_live_publish(const ah_live_event_t *e);
/* A webhook state change (reason may be NULL). */
void ah_live_webhook(const char *community_id, const char *webhook_id, const char *trigger,
                     const char *state, const char *reason);
/* The id of the newest event (the first id less one before any). */
uint64_t ah_live_last(void);
/*
 * Copies up to max events with an id above after into out, oldest first,
 * and returns how many.  *missed receives how many events above after the
 * ring no longer holds (they came before the oldest it has).
 */
size_t ah_live_read(uint64_t after, ah_live_event_t *out, size_t max, uint64_t *missed);
/* Waits until an event newer than after exists or timeout_ms passes; true if one does. */
bool ah_live_wait(uint64_t after, int64_t timeout_ms);
/* Wakes every ah_live_wait (shutdown). */
void ah_live_kick(void);

#endif
