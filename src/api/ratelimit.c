/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.c: see ratelimit.h.  One mutex guards the table; it is touched
 * only on authentication and registration, never on the hot delivery path.
 */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024

struct slot {
    char key[64];   /* an address, an access key id */
    unsigned count; /* events in the window */
    int64_t window_start;
};

struct ah_ratelimit {
    pthread_mutex_t mu;
    unsigned limit;
    int64_t window_ms;
    struct slot slots[SLOTS];
};

ah_ratelimit_t *ah_ratelimit_new(unsigned limit, int64_t window_ms)
{
    ah_ratelimit_t *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->limit = limit;
    rl->window_ms = window_ms;
    return rl;
}

void ah_ratelimit_free(ah_ratelimit_t *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot holding key (with create, one made for it), or NULL.  Probes a short run of slots. */
static struct slot *find(ah_ratelimit_t *rl, const char *key, bool create, int64_t now)
{
    uint32_t h = hash(key);
    struct slot *oldest = NULL;
    for (unsigned i = 0; i < 8; i++) {
        struct slot *s = &rl->slots[(h + i) % SLOTS];
        if (!strcmp(s->key, key))
            return s;
        if (!oldest || s->window_start < oldest->window_start)
            oldest = s;
    }
    if (!create)
        return NULL;
    size_t n = strlen(key);
    if (n >= sizeof oldest->key)
        n = sizeof oldest->key - 1;
    memcpy(oldest->key, key, n);
    oldest->key[n] = '\0';
    oldest->count = 0;
    oldest->window_start = now;
    return oldest;
}

bool ah_ratelimit_allowed(ah_ratelimit_t *rl, const char *addr, int64_t now_ms,
                          int64_t *retry_after_s)
{
    if (!rl || !rl->limit)
        return true;
    bool ok = true;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = find(rl, addr, false, now_ms);
    if (s && now_ms - s->window_start < rl->window_ms && s->count >= rl->limit) {
        ok = false;
        int64_t left = rl->window_ms - (now_ms - s->window_start);
        *retry_after_s = (left + 999) / 1000;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

void ah_ratelimit_fail(ah_ratelimit_t *rl, const char *addr, int64_t now_ms)
{
    if (!rl || !rl->limit)
        return;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = find(rl, addr, true, now_ms);
    if (now_ms - s->window_start >= rl->window_ms) {
        s->window_start = now_ms;
        s->count = 0;
    }
    s->count++;
    pthread_mutex_unlock(&rl->mu);
}

bool ah_ratelimit_take(ah_ratelimit_t *rl, const char *key, unsigned limit, int64_t now_ms,
                       int64_t *retry_after_s)
{
    if (!rl || !limit)
        return true;
    bool ok = true;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = find(rl, key, true, now_ms);
    if (now_ms - s->window_start >= rl->window_ms) {
        s->window_start = now_ms;
        s->count = 0;
    }
    if (s->count >= limit) {
        ok = false;
        int64_t left = rl->window_ms - (now_ms - s->window_start);
        *retry_after_s = (left + 999) / 1000;
    } else {
        s->count++;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}
