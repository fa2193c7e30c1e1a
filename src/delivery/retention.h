/* SPDX-License-Identifier: MIT */
/*
 * retention.h: the background purge of what is final and old
 * (`airhook serve --retention`, docs/operations.md "Retention").
 *
 * A thread calls ah_store_purge_final in small batches, pausing between
 * them so that delivery and publishing never wait long behind it, and
 * starts a new pass over the old events once in a while.  What goes and
 * what stays is the store's contract (store.h, ah_store_purge_final).
 */
#ifndef AH_RETENTION_H
#define AH_RETENTION_H

#include <stdint.h>

#include "store/store.h"

/* `--retention`'s default: what is final is kept this long. */
#define AH_RETENTION_DEFAULT "30d"

typedef struct ah_retention ah_retention_t;

/* What the purge has done since start (for /metrics and the admin API). */
typedef struct ah_retention_stats {
    int64_t retention_ms;  /* the setting; 0: nothing is removed */
    uint64_t events;       /* removed */
    uint64_t deliveries;   /* removed */
    uint64_t attempts;     /* removed */
    uint64_t batches;      /* purge calls that succeeded */
    uint64_t failures;     /* purge or reclaim calls that failed (tried again later) */
    uint64_t passes;       /* passes completed over the old events */
    int64_t last_pass_at;  /* when the last pass ended (ms since the epoch); 0: none yet */
    int64_t batch_max_us;  /* the longest time a purge call held the write transaction */
    int64_t batch_last_us; /* the last one */
    uint64_t held_us;      /* all purge calls inside their write transactions */
    uint64_t took_us;      /* all purge calls, waiting for the write lock included */
    /* The store's disk space after the last call (ah_store_reclaim_space). */
    ah_store_space_t space;
    uint64_t reclaimed_bytes; /* given back to the filesystem since start */
} ah_retention_stats_t;

/*
 * Starts the purge thread for retention_ms (> 0).  store must outlive it.
 * AH_OK, or a status with a sentence in err.
 */
int ah_retention_start(ah_store_t *store, int64_t retention_ms, ah_retention_t **out, char *err,
                       size_t errlen);
/* Its counters; NULL r (no purge: --retention 0, or none started) reads zeros. */
void ah_retention_stats(ah_retention_t *r, ah_retention_stats_t *out);
/* Stops the thread (a purge call in progress ends first) and frees r.  NULL is a no-op. */
void ah_retention_stop(ah_retention_t *r);

#endif
