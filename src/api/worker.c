/* SPDX-License-Identifier: MIT */
/*
 * worker.c: see worker.h.  A mutex guards the queue and the state; the
 * thread sleeps on a condition variable while the queue is empty.
 */
#include "api/worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
} job_t;

struct ah_worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head, *tail;
    pthread_t thread;
    bool started;
    bool stopping;
    char name[16];
};

ah_worker_t *ah_worker_new(const char *name)
{
    ah_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    size_t n = strnlen(name, sizeof w->name - 1);
    memcpy(w->name, name, n);
    return w;
}

static void *run(void *arg)
{
    ah_worker_t *w = arg;
    pthread_setname_np(pthread_self(), w->name);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        job_t *j = w->head;
        if (!j)
            break; /* stopping, and nothing left */
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

bool ah_worker_post(ah_worker_t *w, void (*fn)(void *arg), void *arg)
{
    job_t *j = w ? malloc(sizeof *j) : NULL;
    if (!j)
        return false;
    *j = (job_t){NULL, fn, arg};
    pthread_mutex_lock(&w->mu);
    bool ok = !w->stopping;
    if (ok && !w->started)
        ok = w->started = pthread_create(&w->thread, NULL, run, w) == 0;
    if (ok) {
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (!ok)
        free(j);
    return ok;
}

void ah_worker_free(ah_worker_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    bool started = w->started;
    pthread_mutex_unlock(&w->mu);
    if (started)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
