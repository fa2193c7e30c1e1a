/* SPDX-License-Identifier: MIT */
/*
 * series.c: see series.h.  A ring is an array of AH_SERIES_MINUTES
 * buckets indexed by minute modulo the window; each bucket remembers
 * which minute it holds, so a bucket still holding an older minute is
 * cleared when it is written or read as zeros, and no sweep is needed.
 */
#include "common/series.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"

/* Upper bounds of the duration buckets in ms; the last bucket is everything above. */
static const double lat_bounds_ms[AH_SERIES_LAT_BUCKETS - 1] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 15000, 30000};

struct bucket {
    int32_t minute; /* minutes since the epoch (until the year 6053); 0: never written */
    uint32_t n[AH_METRICS_N_OUTCOMES];
    uint32_t lat[AH_SERIES_LAT_BUCKETS];
};

struct slot {
    char id[AH_ID_SIZE]; /* "" while free */
    uint32_t hash;
    uint64_t activity; /* attempts, halved every minute since activity_minute */
    int64_t activity_minute;
    int64_t since;       /* the minute it was taken: older buckets are a previous webhook's */
    struct bucket *ring; /* AH_SERIES_MINUTES, allocated at first use */
};

struct ah_series {
    pthread_mutex_t mu;
    struct bucket node[AH_SERIES_MINUTES];
    int64_t backlog[AH_SERIES_MINUTES];        /* -1: no sample */
    int64_t backlog_minute[AH_SERIES_MINUTES]; /* the minute each sample belongs to */
    size_t n_slots;
    struct slot slots[]; /* n_slots */
};

size_t ah_series_lat_bucket(int64_t dur_us)
{
    double ms = (double)dur_us / 1000.0;
    size_t b = 0;
    while (b < AH_SERIES_LAT_BUCKETS - 1 && ms > lat_bounds_ms[b])
        b++;
    return b;
}

double ah_series_quantile(const uint32_t hist[AH_SERIES_LAT_BUCKETS], double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i < AH_SERIES_LAT_BUCKETS; i++)
        total += hist[i];
    if (!total)
        return -1;
    /* The rank of the quantile among total values, 1-based, and where it falls. */
    double rank = q * (double)total;
    if (rank < 1)
        rank = 1;
    uint64_t below = 0;
    for (size_t i = 0; i < AH_SERIES_LAT_BUCKETS; i++) {
        if (!hist[i] || (double)(below + hist[i]) < rank) {
            below += hist[i];
            continue;
        }
        double lo = i ? lat_bounds_ms[i - 1] : 0;
        if (i == AH_SERIES_LAT_BUCKETS - 1)
            return lo; /* above the last bound: no upper edge to interpolate to */
        double hi = lat_bounds_ms[i];
        /* The values of a bucket taken as spread evenly, each at the middle of its share. */
        double at = (rank - (double)below - 0.5) / (double)hist[i];
        return lo + (hi - lo) * (at < 0 ? 0 : at > 1 ? 1 : at);
    }
    return lat_bounds_ms[AH_SERIES_LAT_BUCKETS - 2];
}

size_t ah_series_max_bytes(size_t max_webhooks)
{
    return sizeof(struct ah_series) + max_webhooks * sizeof(struct slot) +
           max_webhooks * AH_SERIES_MINUTES * sizeof(struct bucket);
}

ah_series_t *ah_series_new(size_t max_webhooks)
{
    ah_series_t *s = calloc(1, sizeof *s + max_webhooks * sizeof(struct slot));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->n_slots = max_webhooks;
    for (size_t i = 0; i < AH_SERIES_MINUTES; i++)
        s->backlog[i] = -1;
    return s;
}

void ah_series_free(ah_series_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_slots; i++)
        free(s->slots[i].ring);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static ah_series_t *process_series;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void process_init(void)
{
    process_series = ah_series_new(AH_SERIES_WEBHOOKS);
}

ah_series_t *ah_series_process(void)
{
    pthread_once(&process_once, process_init);
    return process_series;
}

static int64_t minute_of(int64_t ms)
{
    return ms / 60000;
}

/* The bucket of minute m in ring, cleared first when it holds another minute. */
static struct bucket *bucket_for(struct bucket *ring, int64_t m)
{
    struct bucket *b = &ring[m % AH_SERIES_MINUTES];
    if (b->minute != (int32_t)m) {
        memset(b, 0, sizeof *b);
        b->minute = (int32_t)m;
    }
    return b;
}

static void count(struct bucket *b, ah_metrics_outcome_t outcome, size_t lat)
{
    b->n[outcome]++;
    b->lat[lat]++;
}

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A slot's activity as of minute m: halved once per minute passed. */
static uint64_t activity_at(const struct slot *sl, int64_t m)
{
    int64_t passed = m - sl->activity_minute;
    if (passed <= 0)
        return sl->activity;
    return passed >= 64 ? 0 : sl->activity >> passed;
}

static struct slot *find_slot(ah_series_t *s, const char *id, uint32_t h)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->hash == h && sl->id[0] && !strcmp(sl->id, id))
            return sl;
    }
    return NULL;
}

/* The slot of id, taking a free one or the least active one; NULL when out of memory. */
static struct slot *take_slot(ah_series_t *s, const char *id, uint32_t h, int64_t m)
{
    struct slot *sl = find_slot(s, id, h);
    if (sl)
        return sl;
    struct slot *victim = NULL;
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *c = &s->slots[i];
        if (!c->id[0]) {
            victim = c;
            break;
        }
        if (!victim || activity_at(c, m) < activity_at(victim, m))
            victim = c;
    }
    if (!victim)
        return NULL;
    if (!victim->ring && !(victim->ring = calloc(AH_SERIES_MINUTES, sizeof *victim->ring)))
        return NULL;
    /*
     * The previous webhook's buckets stay: those of minutes before `since`
     * read as empty, and the one of this minute is cleared.  Clearing the
     * whole ring (115 KiB) instead cost microseconds per attempt once more
     * webhooks than slots take turns at the last one.
     */
    memset(&victim->ring[m % AH_SERIES_MINUTES], 0, sizeof *victim->ring);
    victim->since = m;
    ah_strlcpy(victim->id, id, sizeof victim->id);
    victim->hash = h;
    victim->activity = 0;
    victim->activity_minute = m;
    return victim;
}

void ah_series_attempt(ah_series_t *s, const char *webhook_id, ah_metrics_outcome_t outcome,
                       int64_t dur_us, int64_t now_ms)
{
    if (!s || (unsigned)outcome >= AH_METRICS_N_OUTCOMES || now_ms < 60000)
        return;
    int64_t m = minute_of(now_ms);
    size_t lat = ah_series_lat_bucket(dur_us);
    uint32_t h = webhook_id && webhook_id[0] ? hash_id(webhook_id) : 0;
    pthread_mutex_lock(&s->mu);
    count(bucket_for(s->node, m), outcome, lat);
    if (webhook_id && webhook_id[0] && s->n_slots) {
        struct slot *sl = take_slot(s, webhook_id, h, m);
        if (sl) {
            sl->activity = activity_at(sl, m) + 1;
            sl->activity_minute = m;
            count(bucket_for(sl->ring, m), outcome, lat);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void ah_series_backlog(ah_series_t *s, int64_t pending, int64_t now_ms)
{
    if (!s || now_ms < 60000)
        return;
    int64_t m = minute_of(now_ms);
    pthread_mutex_lock(&s->mu);
    s->backlog[m % AH_SERIES_MINUTES] = pending;
    s->backlog_minute[m % AH_SERIES_MINUTES] = m;
    pthread_mutex_unlock(&s->mu);
}

bool ah_series_has_backlog(ah_series_t *s, int64_t now_ms)
{
    if (!s)
        return false;
    int64_t m = minute_of(now_ms);
    pthread_mutex_lock(&s->mu);
    bool has =
        s->backlog_minute[m % AH_SERIES_MINUTES] == m && s->backlog[m % AH_SERIES_MINUTES] >= 0;
    pthread_mutex_unlock(&s->mu);
    return has;
}

/* The bucket of minute m in ring, or NULL when it holds no count of m (before since: a slot's). */
static const struct bucket *bucket_at(const struct bucket *ring, int64_t since, int64_t m)
{
    const struct bucket *b = ring && m >= 0 ? &ring[m % AH_SERIES_MINUTES] : NULL;
    return b && b->minute == (int32_t)m && m >= since ? b : NULL;
}

static void point_of(const struct bucket *ring, int64_t since, int64_t m, ah_series_point_t *p)
{
    memset(p, 0, sizeof *p);
    p->minute_ms = m * 60000;
    p->p50_ms = p->p99_ms = -1;
    p->backlog = -1;
    const struct bucket *b = bucket_at(ring, since, m);
    if (!b)
        return;
    memcpy(p->attempts, b->n, sizeof p->attempts);
    p->p50_ms = ah_series_quantile(b->lat, 0.50);
    p->p99_ms = ah_series_quantile(b->lat, 0.99);
}

/*
 * The ring a read looks at (s->mu held): the node's (webhook_id NULL) or
 * the webhook's, NULL when it has none; *since the minute its counts start,
 * *tracked whether it is tracked.
 */
static const struct bucket *ring_of(ah_series_t *s, const char *webhook_id, int64_t *since,
                                    bool *tracked)
{
    *since = 0;
    *tracked = !webhook_id; /* the node's always is */
    if (!s || !webhook_id)
        return s ? s->node : NULL;
    struct slot *sl = webhook_id[0] ? find_slot(s, webhook_id, hash_id(webhook_id)) : NULL;
    *tracked = sl != NULL;
    *since = sl ? sl->since : 0;
    return sl ? sl->ring : NULL;
}

int ah_series_read(ah_series_t *s, const char *webhook_id, size_t minutes, int64_t now_ms,
                   ah_series_point_t *out, bool *tracked)
{
    if (!out || minutes < 1 || minutes > AH_SERIES_MINUTES)
        return AH_EINVAL;
    int64_t last = minute_of(now_ms), first = last - (int64_t)minutes + 1, since;
    bool found;
    if (s)
        pthread_mutex_lock(&s->mu);
    const struct bucket *ring = ring_of(s, webhook_id, &since, &found);
    for (int64_t m = first; m <= last; m++) {
        ah_series_point_t *p = &out[m - first];
        point_of(ring, since, m, p);
        size_t i = m >= 0 ? (size_t)(m % AH_SERIES_MINUTES) : 0;
        if (s && !webhook_id && m >= 0 && s->backlog_minute[i] == m)
            p->backlog = s->backlog[i];
    }
    if (s)
        pthread_mutex_unlock(&s->mu);
    if (tracked)
        *tracked = found;
    return AH_OK;
}

int ah_series_sum(ah_series_t *s, const char *webhook_id, size_t minutes, int64_t now_ms,
                  uint64_t out[AH_METRICS_N_OUTCOMES], bool *tracked)
{
    memset(out, 0, AH_METRICS_N_OUTCOMES * sizeof *out);
    if (minutes < 1 || minutes > AH_SERIES_MINUTES)
        return AH_EINVAL;
    int64_t last = minute_of(now_ms), since;
    bool found;
    if (s)
        pthread_mutex_lock(&s->mu);
    const struct bucket *ring = ring_of(s, webhook_id, &since, &found);
    for (int64_t m = last - (int64_t)minutes + 1; ring && m <= last; m++) {
        const struct bucket *b = bucket_at(ring, since, m);
        for (int k = 0; b && k < AH_METRICS_N_OUTCOMES; k++)
            out[k] += b->n[k];
    }
    if (s)
        pthread_mutex_unlock(&s->mu);
    if (tracked)
        *tracked = found;
    return AH_OK;
}
