/* SPDX-License-Identifier: MIT */
/*
 * worker.h: one background thread that runs jobs in the order they were
 * posted, for work that must not hold a listener thread (rendering a
 * webhook-list body while its requests wait suspended, public.c).
 *
 * The thread starts with the first job.  Jobs are few and each is a whole
 * piece of work; the queue is a plain linked list under a mutex.
 */
#ifndef AH_WORKER_H
#define AH_WORKER_H

#include <stdbool.h>

typedef struct ah_worker ah_worker_t;

/* A worker named name (the thread's name, at most 15 bytes); NULL when out of memory. */
ah_worker_t *ah_worker_new(const char *name);
/*
 * Runs fn(arg) on the worker's thread, after the jobs posted before it.
 * False (and fn is never called) when the worker is stopping, the thread
 * cannot start, or memory ran out: the caller then does the work itself.
 */
bool ah_worker_post(ah_worker_t *w, void (*fn)(void *arg), void *arg);
/* Runs the jobs already posted, stops the thread and frees w; NULL is fine. */
void ah_worker_free(ah_worker_t *w);

#endif
