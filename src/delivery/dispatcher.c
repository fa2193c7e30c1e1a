/* SPDX-License-Identifier: MIT */
/*
 * dispatcher.c: the delivery engine.
 *
 * Two threads.  The store thread (ah-deliver-db) owns everything that talks
 * to the store: the webhook table, the heap of due times, the wake inbox,
 * claims and the batches of results.  The net thread (ah-deliver-net) owns
 * libcurl's multi handle and the transfers on it.  A transfer passes between
 * them on two lists guarded by d->mu: `ready` (claimed and prepared, for the
 * net thread; curl_multi_wakeup tells it) and `done` (finished, for the store
 * thread; the condition variable tells it).  Whoever holds a transfer is the
 * only one touching it, so nothing else needs a lock.  Draining a backlog
 * the two halves each keep a core busy: the net thread sends while the store
 * thread writes the previous results and claims the next work.
 *
 * Work is found webhook by webhook.  The store thread keeps a table of the
 * webhooks it knows to have pending deliveries (`struct hook`) and a min-heap
 * of when each is next due.  Wakes from the API (a publish, a retry, another
 * node's NOTIFY) and a periodic rescan of the store (delivery_due_webhooks:
 * catches anything else, such as work left by a previous process or by
 * another node) feed the heap.  When a webhook comes due and has room under
 * its concurrency cap (and its rate, if any), the store thread claims that
 * many due deliveries with a lease and prepares one transfer for each; the
 * webhooks due in one turn are claimed for together (delivery_claim_many:
 * one transaction on SQLite, the webhook rows included).  So one slow receiver can hold at most its
 * own cap of transfers; the others never wait behind it.
 *
 * Each transfer reuses an easy handle whose invariant options were set once
 * (only the URL and the body change); it is signed (sign.c) by the net thread
 * just before it starts, sent over the multi handle's connection cache
 * (kept-alive HTTP/1.1; HTTP/2 over TLS), and guarded against private
 * targets on the address actually connected to (ssrf.c).  Finished transfers
 * become attempt results (success, retry at a time from the schedule with
 * ±10 % jitter or from Retry-After, failed for good, and webhook consequences
 * such as 410 disabling it), which are written to the store in one
 * transaction per store-thread turn (delivery_record): under load the
 * batches grow by themselves.  A turn claims and hands over new work before
 * it writes its batch, so per webhook at most the cap is in flight and at
 * most the cap more has finished but is not yet recorded.
 *
 * At least once: a delivery is marked done only after its attempt ended; a
 * crash before the record leaves it pending, and it is sent again: on
 * SQLite at the next start, or by a standby process within RESCAN_MS
 * (its lease was in the dead process's memory, and only one process
 * delivers from a file: own_store), on PostgreSQL once its lease in the
 * row expires.  On stop, the
 * store thread stops claiming; the net thread lets transfers finish until the
 * grace deadline, then aborts the rest and returns them as abandoned; the
 * store thread hands their leases back, writes the last results, and both
 * threads are joined.
 */
#include "delivery/dispatcher.h"

#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/live.h"
#include "common/series.h"
#include "common/util.h"
#include "delivery/sign.h"

/* Webhooks claimed for in one delivery_claim_many call. */
#define CLAIM_BATCH 32
#define RESCAN_MS 5000
#define BATCH_MAX 512
#define INBOX_MAX 65536
#define HOOKS_BUCKETS_MIN 1024

/* ---- configuration ---- */

/* The defaults are constants that parse (tests/unit/test_serve_settings.c checks). */
void ah_dispatch_config_default(ah_dispatch_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char err[128];
    int64_t n = 0;
    ah_dispatch_parse_schedule(AH_DISPATCH_DEFAULT_SCHEDULE, cfg, err, sizeof err);
    ah_parse_duration_ms(AH_DISPATCH_DEFAULT_TIMEOUT, &cfg->timeout_ms);
    ah_parse_i64(AH_DISPATCH_DEFAULT_CONCURRENCY, 1, UINT_MAX, &n);
    cfg->per_webhook_concurrency = (unsigned)n;
    cfg->per_webhook_rate = strtod(AH_DISPATCH_DEFAULT_RATE, NULL);
    ah_parse_duration_ms(AH_DISPATCH_DEFAULT_DISABLE_AFTER, &cfg->disable_after_ms);
    ah_parse_duration_ms(AH_DISPATCH_DEFAULT_LEASE, &cfg->lease_ms);
    cfg->max_in_flight = 1024;
    cfg->single_node = true;
}

int ah_dispatch_parse_schedule(const char *s, ah_dispatch_config_t *cfg, char *err, size_t errlen)
{
    size_t n = 0;
    const char *p = s;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        int64_t ms;
        if (n == AH_SCHEDULE_MAX) {
            snprintf(err, errlen, "the retry schedule has more than %d steps", AH_SCHEDULE_MAX);
            return AH_EINVAL;
        }
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errlen, "empty or overlong step in the retry schedule");
            return AH_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (ah_parse_duration_ms(item, &ms)) {
            snprintf(err, errlen, "bad retry step '%s' (want e.g. 0, 500ms, 5s, 5m, 2h)", item);
            return AH_EINVAL;
        }
        cfg->schedule_ms[n++] = ms;
        p = comma ? comma + 1 : NULL;
        if (comma && !*p) {
            snprintf(err, errlen, "the retry schedule ends with a comma");
            return AH_EINVAL;
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "the retry schedule is empty");
        return AH_EINVAL;
    }
    cfg->schedule_len = n;
    return AH_OK;
}

/* ---- the per-webhook table ---- */

struct hook {
    char id[AH_ID_SIZE];
    struct hook *next; /* hash chain */
    unsigned inflight;
    int64_t next_due;   /* earliest known due work; 0 = none known */
    int64_t heap_due;   /* the due it is queued in the heap at; 0 = not queued */
    unsigned heap_refs; /* heap entries pointing here (stale ones included) */
    double tokens;      /* rate limiting */
    int64_t refill_ms;
    bool claiming; /* in start_due's batch: not to be freed */
    /* A listener webhook's listener (kept once known: the hook is never freed), or "". */
    char listener[AH_ID_SIZE];
};

struct heap_entry {
    int64_t due;
    struct hook *h;
};

/*
 * The request headers of a transfer.  The list nodes and their text live in
 * the transfer itself and are linked once when it is made, so a delivery
 * costs no allocation for them: only the text of the variable lines is
 * written again for each attempt.  libcurl only reads the list.
 */
enum {
    HDR_TYPE,
    HDR_AGENT,
    HDR_ID,
    HDR_TIMESTAMP,
    HDR_SIGNATURE,
    HDR_TRIGGER,
    HDR_HOOK,
    HDR_ATTEMPT,
    HDR_EXPECT,
    HDR_COUNT
};

struct headers {
    struct curl_slist node[HDR_COUNT];
    char id[16 + AH_ID_SIZE];
    char timestamp[24 + 24];
    char signature[24 + AH_SIGNATURE_MAX];
    char trigger[24 + AH_TRIGGER_MAX];
    char hook[24 + AH_ID_SIZE];
    char attempt[24 + 16];
};

/*
 * One attempt.  It travels: the store thread claims and prepares it (headers,
 * URL, body), hands it to the net thread on the ready list; the net thread
 * runs it and hands it back on the done list with its outcome filled in.
 * Whoever holds it is the only one touching it; the hand-overs happen under
 * d->mu.
 */
struct transfer {
    CURL *easy;
    struct hook *hook; /* store thread's; the net thread only carries it */
    ah_claim_t claim;
    struct headers hdr;
    char url[AH_URL_MAX];            /* what CURLOPT_URL was last set to */
    char secret[AH_SECRET_MAX];      /* the net thread signs at the start */
    char prev_secret[AH_SECRET_MAX]; /* "" unless a rotation is under way */
    int64_t failing_since;
    int64_t started_ms, started_us;
    char community_id[AH_ID_SIZE]; /* the webhook's, for the live events (live.h) */
    /* Filled by the net thread. */
    int status_code;          /* 0 = no HTTP answer */
    char error[AH_ERROR_MAX]; /* "" when the receiver answered 2xx */
    int64_t dur_us;
    bool abandoned; /* never finished (shutdown): hand the lease back */
    bool listen;    /* a listener's: with the hub, not libcurl */
    int64_t retry_after_ms;
    char head[AH_RESPONSE_HEAD_MAX];
    size_t head_len;
    char hdrs[AH_RESPONSE_HEADERS_EXCERPT]; /* the last header block's first 2 KiB */
    size_t hdrs_len;
    size_t body_bytes;    /* of the answer's body, read so far */
    size_t header_bytes;  /* of its status lines and headers */
    bool headers_end;     /* the blank line after the headers came */
    bool body_cut;        /* stopped after AH_RESPONSE_BODY_READ_MAX bytes of body */
    bool headers_too_big; /* stopped after AH_RESPONSE_HEADERS_MAX bytes of headers */
    char errbuf[CURL_ERROR_SIZE];
    ah_netguard_use_t guard;
    struct transfer *next;                      /* free, ready or done list */
    struct transfer *prev_active, *next_active; /* on the multi handle (net thread) */
};

/* A singly linked FIFO of transfers. */
struct tlist {
    struct transfer *head, *tail;
};

struct wake {
    char id[AH_ID_SIZE];
    int64_t due;
};

struct ah_dispatcher {
    ah_store_t *store;
    ah_dispatch_config_t cfg;
    pthread_t store_thread, net_thread;
    CURLM *multi; /* the net thread's; curl_multi_wakeup from anywhere */

    pthread_mutex_t mu;       /* guards everything down to the next blank line */
    pthread_cond_t cv;        /* the store thread waits on it */
    struct wake *inbox;       /* filled by any thread */
    struct wake *inbox_spare; /* the one the store thread is reading; swapped in take_work */
    size_t inbox_n;
    bool inbox_overflow;
    struct tlist ready; /* prepared transfers for the net thread */
    struct tlist done;  /* finished (or abandoned) transfers for the store thread */
    bool stopping;
    bool net_done;          /* the net thread has left: nothing more comes back */
    int64_t grace_deadline; /* mono ms */

    /* The store thread's. */
    struct hook **buckets;
    size_t n_buckets, n_hooks;
    struct heap_entry *heap;
    size_t heap_n, heap_cap;
    unsigned inflight; /* transfers out of the free list */
    struct transfer *free_transfers;
    struct tlist prepared; /* this turn's, not yet on the ready list */
    ah_attempt_result_t *results;
    size_t n_results, results_cap;
    int64_t record_retry_at;         /* mono ms: after a failed record, wait until then */
    struct hook **retry_hooks;       /* parallel to results: whom to reschedule after the record */
    char (*release_ids)[AH_ID_SIZE]; /* scratch for handing leases back (max_in_flight) */
    int64_t last_rescan;
    ah_series_t *series;     /* the process's charts (series.h); NULL: out of memory */
    int64_t backlog_minute;  /* the minute of the last backlog sample */
    bool owner;              /* this process delivers from the store (ah_store_delivery_own) */
    int64_t own_retry_at;    /* mono ms: when to ask again while another process delivers */
    bool standby_said;       /* the line saying so was logged */
    ah_webhook_t *wh;        /* CLAIM_BATCH webhook rows for delivery_claim_many (large) */
    ah_claim_req_t *reqs;    /* CLAIM_BATCH requests */
    struct hook **req_hooks; /* the hook of each request */

    /* The net thread's. */
    struct transfer *active; /* transfers on the multi handle */
    size_t n_active;
};

static void tlist_push(struct tlist *l, struct transfer *t)
{
    t->next = NULL;
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
}

/* Moves all of `from` to the end of `to`. */
static void tlist_splice(struct tlist *to, struct tlist *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct hook *hook_find(ah_dispatcher_t *d, const char *id)
{
    for (struct hook *h = d->buckets[hash_id(id) & (d->n_buckets - 1)]; h; h = h->next)
        if (!strcmp(h->id, id))
            return h;
    return NULL;
}

static void hooks_grow(ah_dispatcher_t *d)
{
    size_t nb = d->n_buckets * 2;
    struct hook **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < d->n_buckets; i++) {
        struct hook *h = d->buckets[i];
        while (h) {
            struct hook *next = h->next;
            size_t j = hash_id(h->id) & (nb - 1);
            h->next = b[j];
            b[j] = h;
            h = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->n_buckets = nb;
}

static struct hook *hook_get(ah_dispatcher_t *d, const char *id)
{
    struct hook *h = hook_find(d, id);
    if (h)
        return h;
    if (!(h = calloc(1, sizeof *h)))
        return NULL;
    memcpy(h->id, id, AH_ID_SIZE);
    h->id[AH_ID_LEN] = '\0';
    h->tokens = d->cfg.per_webhook_rate > 1 ? d->cfg.per_webhook_rate : 1;
    h->refill_ms = ah_mono_ms();
    size_t j = hash_id(h->id) & (d->n_buckets - 1);
    h->next = d->buckets[j];
    d->buckets[j] = h;
    if (++d->n_hooks > d->n_buckets * 2)
        hooks_grow(d);
    return h;
}

/* Frees h when nothing refers to it and it has no known work. */
static void hook_maybe_free(ah_dispatcher_t *d, struct hook *h)
{
    if (h->inflight || h->heap_refs || h->next_due || h->claiming || h->listener[0])
        return;
    struct hook **pp = &d->buckets[hash_id(h->id) & (d->n_buckets - 1)];
    while (*pp && *pp != h)
        pp = &(*pp)->next;
    if (*pp)
        *pp = h->next;
    d->n_hooks--;
    free(h);
}

/* ---- the heap of due times ---- */

/* False when the heap cannot grow (out of memory): h is not queued. */
static bool heap_push(ah_dispatcher_t *d, int64_t due, struct hook *h)
{
    if (d->heap_n == d->heap_cap) {
        size_t cap = d->heap_cap ? d->heap_cap * 2 : 1024;
        struct heap_entry *n = realloc(d->heap, cap * sizeof *n);
        if (!n)
            return false;
        d->heap = n;
        d->heap_cap = cap;
    }
    size_t i = d->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (d->heap[parent].due <= due)
            break;
        d->heap[i] = d->heap[parent];
        i = parent;
    }
    d->heap[i].due = due;
    d->heap[i].h = h;
    h->heap_refs++;
    return true;
}

static struct heap_entry heap_pop(ah_dispatcher_t *d)
{
    struct heap_entry top = d->heap[0], last = d->heap[--d->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= d->heap_n)
            break;
        if (c + 1 < d->heap_n && d->heap[c + 1].due < d->heap[c].due)
            c++;
        if (last.due <= d->heap[c].due)
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (d->heap_n)
        d->heap[i] = last;
    top.h->heap_refs--;
    return top;
}

/* Notes that h has work due at `due` and queues it if that is sooner. */
static void schedule(ah_dispatcher_t *d, struct hook *h, int64_t due)
{
    if (!h->next_due || due < h->next_due)
        h->next_due = due;
    if (h->heap_due && h->heap_due <= h->next_due)
        return;
    if (heap_push(d, h->next_due, h))
        h->heap_due = h->next_due;
    else
        d->last_rescan = 0; /* not queued: the next turn's rescan finds its work again */
}

/* ---- wake inbox (any thread) ---- */

void ah_dispatcher_wake(ah_dispatcher_t *d, const char *webhook_id, int64_t due)
{
    if (!d || !webhook_id || !ah_is_uuid(webhook_id))
        return;
    pthread_mutex_lock(&d->mu);
    /* One signal per batch: a non-empty inbox already has one pending. */
    bool was_empty = d->inbox_n == 0 && !d->inbox_overflow;
    if (d->inbox_n < INBOX_MAX) {
        memcpy(d->inbox[d->inbox_n].id, webhook_id, AH_ID_SIZE);
        d->inbox[d->inbox_n].due = due;
        d->inbox_n++;
    } else {
        d->inbox_overflow = true; /* the next rescan picks the work up */
    }
    if (was_empty)
        pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/* What the store thread takes from the shared part at the top of a turn. */
struct work {
    struct wake *wakes; /* d->inbox_spare after the swap; read until the next take */
    size_t n_wakes;
    bool overflow;
    struct tlist done;
    bool stopping, net_done;
};

static bool work_waiting(const ah_dispatcher_t *d, bool seen_stopping)
{
    return d->inbox_n || d->inbox_overflow || d->done.head || d->net_done ||
           d->stopping != seen_stopping;
}

/*
 * Waits until something arrives (a wake, a finished transfer, stop) or
 * wait_ms pass, then takes it all.  The inbox is swapped with the spare
 * buffer (both allocated once at start).
 */
static void take_work(ah_dispatcher_t *d, int64_t wait_ms, bool seen_stopping, struct work *w)
{
    struct timespec until = ah_deadline_ts(CLOCK_MONOTONIC, wait_ms);
    pthread_mutex_lock(&d->mu);
    while (wait_ms > 0 && !work_waiting(d, seen_stopping))
        if (pthread_cond_timedwait(&d->cv, &d->mu, &until))
            break; /* timed out (or failed: then behave as if it had) */
    w->wakes = d->inbox;
    w->n_wakes = d->inbox_n;
    w->overflow = d->inbox_overflow;
    d->inbox = d->inbox_spare;
    d->inbox_spare = w->wakes;
    d->inbox_n = 0;
    d->inbox_overflow = false;
    w->done = d->done;
    d->done.head = d->done.tail = NULL;
    w->stopping = d->stopping;
    w->net_done = d->net_done;
    pthread_mutex_unlock(&d->mu);
}

static void drain_inbox(ah_dispatcher_t *d, const struct work *w)
{
    for (size_t i = 0; i < w->n_wakes; i++) {
        struct hook *h = hook_get(d, w->wakes[i].id);
        if (h)
            schedule(d, h, w->wakes[i].due);
    }
    if (w->overflow)
        d->last_rescan = 0;
}

/* Asks the store for every webhook with pending work. */
static void rescan(ah_dispatcher_t *d, int64_t now)
{
    ah_due_t *due = NULL;
    size_t n = 0;
    d->last_rescan = now;
    if (ah_store_delivery_due_webhooks(d->store, &due, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        struct hook *h = hook_get(d, due[i].webhook_id);
        if (h)
            schedule(d, h, due[i].next_due);
    }
    free(due);
}

/* ---- starting transfers ---- */

/*
 * Keeps the first 1 KiB of the body.  Past AH_RESPONSE_BODY_READ_MAX the
 * transfer is stopped (a short count is CURLE_WRITE_ERROR, which
 * finish_done turns back into the answer's status): a receiver answering
 * 100 MB took ~0.9 s of this thread per attempt, all of it thrown away.
 * libcurl closes a connection whose transfer ended early, so none is reused
 * with the rest of a body still in it.
 */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof t->head - 1 - t->head_len;
    size_t take = n < room ? n : room;
    memcpy(t->head + t->head_len, ptr, take);
    t->head_len += take;
    t->head[t->head_len] = '\0';
    t->body_bytes += n;
    if (t->body_bytes > AH_RESPONSE_BODY_READ_MAX) {
        t->body_cut = true;
        return 0;
    }
    return n; /* read and dropped, so the connection can be kept */
}

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
static int64_t parse_retry_after(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t digits = strspn(v, "0123456789");
    if (digits && (v[digits] == '\0' || strchr(" \t\r\n", v[digits]))) {
        int64_t secs;
        if (digits > 12)
            return INT64_MAX / 4; /* absurdly long: the caller caps it */
        char num[16];
        memcpy(num, v, digits);
        num[digits] = '\0';
        return ah_parse_i64(num, 0, INT64_MAX / 4000, &secs) == AH_OK ? secs * 1000 : 0;
    }
    time_t when = curl_getdate(v, NULL);
    if (when <= 0)
        return 0;
    int64_t ms = (int64_t)when * 1000 - ah_now_ms();
    return ms > 0 ? ms : 1;
}

/*
 * Each header line as libcurl parsed it.  Their bytes are counted against
 * AH_RESPONSE_HEADERS_MAX.  libcurl refuses a single line over 100 KiB by
 * itself, before this sees it, with CURLE_OUT_OF_MEMORY ("Out of memory"),
 * so headers_end tells finish_done that the answer was still in its
 * headers then.
 */
static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nitems;
    t->header_bytes += n;
    if (t->header_bytes > AH_RESPONSE_HEADERS_MAX) {
        t->headers_too_big = true;
        return 0;
    }
    if (n >= 5 && !memcmp(buf, "HTTP/", 5)) {
        t->headers_end = false; /* a status line: a header block starts (after a 1xx, again) */
        t->hdrs_len = 0;        /* the excerpt keeps the last block */
    } else if (n <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        t->headers_end = true;
    }
    if (!t->headers_end && t->hdrs_len < sizeof t->hdrs - 1) {
        size_t room = sizeof t->hdrs - 1 - t->hdrs_len, take = n < room ? n : room;
        memcpy(t->hdrs + t->hdrs_len, buf, take);
        t->hdrs_len += take;
        t->hdrs[t->hdrs_len] = '\0';
    }
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && n < 256 && !strncasecmp(buf, name, sizeof name - 1)) {
        char v[256];
        size_t len = n - (sizeof name - 1);
        memcpy(v, buf + sizeof name - 1, len);
        v[len] = '\0';
        v[strcspn(v, "\r\n")] = '\0';
        t->retry_after_ms = parse_retry_after(v);
    }
    return n;
}

/* Links the header nodes of a new transfer; the constant lines are set here once. */
static void headers_init(struct headers *hd)
{
    static char type[] = "Content-Type: application/json";
    static char agent[] = "User-Agent: airhook/" AH_VERSION;
    /* "Expect:" with no value stops libcurl's 100-continue round trip. */
    static char expect[] = "Expect:";
    char *text[HDR_COUNT] = {
        [HDR_TYPE] = type,
        [HDR_AGENT] = agent,
        [HDR_ID] = hd->id,
        [HDR_TIMESTAMP] = hd->timestamp,
        [HDR_SIGNATURE] = hd->signature,
        [HDR_TRIGGER] = hd->trigger,
        [HDR_HOOK] = hd->hook,
        [HDR_ATTEMPT] = hd->attempt,
        [HDR_EXPECT] = expect,
    };
    for (int i = 0; i < HDR_COUNT; i++) {
        hd->node[i].data = text[i];
        hd->node[i].next = i + 1 < HDR_COUNT ? &hd->node[i + 1] : NULL;
    }
}

/* Writes the header lines known at the claim into t->hdr (store thread). */
static void build_headers(struct transfer *t, const ah_webhook_t *w)
{
    struct headers *hd = &t->hdr;
    snprintf(hd->id, sizeof hd->id, "webhook-id: %s", t->claim.event_id);
    snprintf(hd->trigger, sizeof hd->trigger, "x-airmeet-trigger: %s", t->claim.trigger);
    snprintf(hd->hook, sizeof hd->hook, "x-airmeet-webhook-id: %s", w->id);
    snprintf(hd->attempt, sizeof hd->attempt, "x-airmeet-attempt: %d", t->claim.attempts + 1);
}

/*
 * Signs the attempt and writes the timestamp and signature lines (net
 * thread, just before the start, so the timestamp is the attempt's).
 */
static int sign_headers(struct transfer *t, int64_t now_s)
{
    struct headers *hd = &t->hdr;
    char sig[AH_SIGNATURE_MAX];
    if (ah_sign(t->secret, t->prev_secret[0] ? t->prev_secret : NULL, t->claim.event_id, now_s,
                t->claim.data, t->claim.data_len, sig, sizeof sig))
        return AH_EINVAL;
    snprintf(hd->timestamp, sizeof hd->timestamp, "webhook-timestamp: %lld", (long long)now_s);
    snprintf(hd->signature, sizeof hd->signature, "webhook-signature: %s", sig);
    return AH_OK;
}

/*
 * Makes a transfer with its easy handle.  Every option that is the same for
 * all attempts is set here, once per handle (libcurl keeps options from one
 * transfer to the next); prepare_transfer sets only the URL and the body.
 */
static struct transfer *transfer_make(const ah_dispatch_config_t *cfg)
{
    struct transfer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    CURL *e = t->easy = curl_easy_init();
    if (!e) {
        free(t);
        return NULL;
    }
    headers_init(&t->hdr);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdr.node);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cfg->timeout_ms < 10000 ? cfg->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    t->guard.guard = cfg->guard;
    if (cfg->guard && ah_netguard_install(&t->guard, e)) {
        /* Never send without the guard: a handle that cannot have it is not made. */
        curl_easy_cleanup(e);
        free(t);
        return NULL;
    }
    return t;
}

static void transfer_destroy(struct transfer *t)
{
    curl_easy_cleanup(t->easy);
    free(t->claim.data);
    free(t);
}

/* A transfer from the free list (or a new one), with the last attempt's state cleared. */
static struct transfer *transfer_new(ah_dispatcher_t *d)
{
    struct transfer *t = d->free_transfers;
    if (!t)
        return transfer_make(&d->cfg);
    d->free_transfers = t->next;
    t->next = NULL;
    t->hook = NULL;
    memset(&t->claim, 0, sizeof t->claim);
    t->started_ms = t->started_us = t->failing_since = 0;
    t->status_code = 0;
    t->error[0] = '\0';
    t->dur_us = 0;
    t->abandoned = false;
    t->listen = false;
    t->retry_after_ms = 0;
    t->head[0] = '\0';
    t->head_len = 0;
    t->hdrs[0] = '\0';
    t->hdrs_len = 0;
    t->body_bytes = t->header_bytes = 0;
    t->headers_end = t->body_cut = t->headers_too_big = false;
    t->errbuf[0] = '\0';
    t->guard.refused[0] = '\0';
    return t;
}

static void transfer_free(ah_dispatcher_t *d, struct transfer *t)
{
    free(t->claim.data);
    t->claim.data = NULL;
    t->next = d->free_transfers;
    d->free_transfers = t;
}

/*
 * Claims that will not be sent after all: their leases are handed back (so
 * they are not stuck until the lease ends) and h comes back in a second.
 */
static void hand_back(ah_dispatcher_t *d, struct hook *h, ah_claim_t *claims, size_t n)
{
    char(*ids)[AH_ID_SIZE] = n ? malloc(n * sizeof *ids) : NULL;
    for (size_t i = 0; ids && i < n; i++)
        memcpy(ids[i], claims[i].delivery_id, AH_ID_SIZE);
    if (ids && ah_store_delivery_release(d->store, (const char(*)[AH_ID_SIZE])ids, n))
        ah_log(AH_LOG_WARN, "cannot hand back claimed deliveries; their leases expire",
               json_pack("{s:s, s:I}", "webhook", h->id, "count", (json_int_t)n));
    free(ids);
    for (size_t i = 0; i < n; i++) {
        free(claims[i].data);
        claims[i].data = NULL;
    }
    schedule(d, h, ah_now_ms() + 1000);
}

static void take_done(ah_dispatcher_t *d, struct tlist *done);

/*
 * An attempt starts now: its wall-clock start, and how late that is (the
 * due times are milliseconds of the clock that set them).
 */
static void mark_start(struct transfer *t)
{
    int64_t now_us = ah_now_us();
    t->started_ms = now_us / 1000;
    t->started_us = ah_mono_us();
    ah_metrics_delivery_lag(now_us - t->claim.due * 1000);
}

/*
 * Hands a listener's delivery to the hub (store thread).  Refused (its
 * stream went away meanwhile): handed back at once, unattempted; the hook
 * stays parked until the hub wakes it.
 */
static void push_listen(ah_dispatcher_t *d, struct transfer *t, const ah_webhook_t *w)
{
    t->listen = true;
    mark_start(t);
    bool rotating = w->prev_secret[0] && w->prev_secret_until > t->started_ms;
    ah_listen_job_t job = {
        .token = t,
        .listener_id = t->hook->listener,
        .webhook_id = w->id,
        .community_id = w->community_id,
        .claim = &t->claim,
        .secret = w->secret,
        .prev_secret = rotating ? w->prev_secret : "",
        .started_ms = t->started_ms,
    };
    const ah_listen_ops_t *ops = d->cfg.listen;
    if (ops && ops->push(ops->arg, &job))
        return; /* the hub's until ah_dispatcher_listen_done */
    t->abandoned = true;
    struct tlist back = {t, t};
    t->next = NULL;
    take_done(d, &back);
}

void ah_dispatcher_listen_done(ah_dispatcher_t *d, void *token, int status, const char *error,
                               int64_t dur_ms, const char *body_head, const char *headers,
                               bool give_back)
{
    struct transfer *t = token;
    t->abandoned = give_back;
    t->status_code = status;
    t->dur_us = (dur_ms < 0 ? 0 : dur_ms) * 1000;
    if (!give_back && (status < 200 || status >= 300) && !(error && *error))
        snprintf(t->error, sizeof t->error, "the listener's target answered HTTP %d", status);
    else
        ah_strlcpy(t->error, error ? error : "", sizeof t->error);
    size_t len = body_head ? strlen(body_head) : 0;
    if (len > sizeof t->head - 1)
        len = sizeof t->head - 1;
    memcpy(t->head, body_head ? body_head : "", len);
    t->head[len] = '\0';
    t->head_len = len;
    len = headers ? strlen(headers) : 0;
    if (len > sizeof t->hdrs - 1)
        len = sizeof t->hdrs - 1;
    memcpy(t->hdrs, headers ? headers : "", len);
    t->hdrs[len] = '\0';
    t->hdrs_len = len;
    pthread_mutex_lock(&d->mu);
    tlist_push(&d->done, t);
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

/*
 * Prepares one claimed delivery for the net thread (store thread): its
 * headers but the signature, its URL and its body.  It goes out with the
 * rest of the turn's in publish_prepared.
 */
static void prepare_transfer(ah_dispatcher_t *d, struct hook *h, const ah_webhook_t *w,
                             ah_claim_t *c)
{
    struct transfer *t = transfer_new(d);
    if (!t) {
        hand_back(d, h, c, 1); /* to be claimed again shortly, not after the lease */
        return;
    }
    t->hook = h;
    t->claim = *c;
    c->data = NULL; /* owned by t now */
    t->failing_since = w->failing_since;
    memcpy(t->community_id, w->community_id, AH_ID_SIZE);
    h->inflight++;
    d->inflight++;
    if (h->listener[0]) {
        push_listen(d, t, w);
        return;
    }
    CURL *e = t->easy;
    build_headers(t, w);
    ah_strlcpy(t->secret, w->secret, sizeof t->secret);
    bool rotating = w->prev_secret[0] && w->prev_secret_until > ah_now_ms();
    ah_strlcpy(t->prev_secret, rotating ? w->prev_secret : "", sizeof t->prev_secret);
    /* libcurl copies and parses the URL: skip that when the handle already has it. */
    if (strcmp(t->url, w->url)) {
        ah_strlcpy(t->url, w->url, sizeof t->url);
        curl_easy_setopt(e, CURLOPT_URL, t->url);
    }
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->claim.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->claim.data_len);
    tlist_push(&d->prepared, t);
}

/*
 * Hands this turn's prepared transfers to the net thread, with one wakeup.
 * If it has already left (shutdown), they come straight back as abandoned.
 */
static void publish_prepared(ah_dispatcher_t *d)
{
    if (!d->prepared.head)
        return;
    pthread_mutex_lock(&d->mu);
    bool gone = d->net_done;
    if (gone) {
        for (struct transfer *t = d->prepared.head; t; t = t->next)
            t->abandoned = true;
        tlist_splice(&d->done, &d->prepared);
    } else {
        tlist_splice(&d->ready, &d->prepared);
    }
    pthread_mutex_unlock(&d->mu);
    if (!gone)
        curl_multi_wakeup(d->multi);
}

/* Takes rate tokens; returns how many attempts h may start now. */
static unsigned rate_allowance(ah_dispatcher_t *d, struct hook *h, int64_t now_mono, unsigned want,
                               int64_t *retry_in_ms)
{
    double rate = d->cfg.per_webhook_rate;
    if (rate <= 0)
        return want;
    double cap = rate > 1 ? rate : 1;
    h->tokens += (double)(now_mono - h->refill_ms) * rate / 1000.0;
    if (h->tokens > cap)
        h->tokens = cap;
    h->refill_ms = now_mono;
    unsigned n = h->tokens >= want ? want : (unsigned)h->tokens;
    h->tokens -= n;
    if (n < want)
        *retry_in_ms =
            (int64_t)((1.0 - (h->tokens - (double)(unsigned)h->tokens)) * 1000.0 / rate) + 1;
    return n;
}

/*
 * How many deliveries h may start now, with `reserved` more already asked
 * for in this turn; 0 when none (then h is rescheduled as needed).
 */
static unsigned claim_size(ah_dispatcher_t *d, struct hook *h, int64_t now, unsigned reserved)
{
    unsigned cap = d->cfg.per_webhook_concurrency;
    if (h->inflight >= cap)
        return 0; /* a completion reschedules it (next_due is kept for that) */
    /*
     * From here every path that wants to come back says when; the old due
     * time, already past, must not stay behind (schedule() only ever moves
     * it earlier), or the heap would hand h back at once, forever.
     */
    h->next_due = 0;
    unsigned used = d->inflight + reserved;
    unsigned room = d->cfg.max_in_flight > used ? d->cfg.max_in_flight - used : 0;
    unsigned want = cap - h->inflight;
    if (want > room)
        want = room;
    if (!want) {
        schedule(d, h, now);
        return 0;
    }
    int64_t rate_wait = 0;
    unsigned n = rate_allowance(d, h, ah_mono_ms(), want, &rate_wait);
    if (!n)
        schedule(d, h, now + rate_wait);
    return n;
}

/* Whether h, a listener's, has its stream on this node. */
static bool listen_connected(ah_dispatcher_t *d, struct hook *h)
{
    const ah_listen_ops_t *ops = d->cfg.listen;
    return ops && ops->connected(ops->arg, h->listener);
}

/* Prepares what one webhook's claim brought (r), and says when to come back. */
static void claimed(ah_dispatcher_t *d, struct hook *h, ah_claim_req_t *r, int64_t now)
{
    const ah_webhook_t *w = r->webhook;
    if (r->rc == AH_ENOTFOUND || (!r->rc && !w->is_active)) {
        /* Both backends claim nothing for an inactive webhook; should one, hand them back. */
        if (r->n)
            hand_back(d, h, r->claims, r->n);
        ah_claims_free(r->claims, r->n);
        return; /* nothing to do until it is enabled (which wakes us) */
    }
    if (r->rc) {
        schedule(d, h, now + 1000); /* store trouble: try again shortly */
        return;
    }
    if (!strncmp(w->url, AH_LISTEN_SCHEME, sizeof AH_LISTEN_SCHEME - 1) && !h->listener[0]) {
        /* Learnt at its first claim; from now on it is claimed for only while connected. */
        ah_strlcpy(h->listener, w->url + sizeof AH_LISTEN_SCHEME - 1, sizeof h->listener);
        if (!h->listener[0])
            ah_strlcpy(h->listener, "-", sizeof h->listener);
    }
    if (h->listener[0] && !listen_connected(d, h)) {
        if (r->n)
            hand_back(d, h, r->claims, r->n); /* unattempted; parked from the next turn */
        ah_claims_free(r->claims, r->n);
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        prepare_transfer(d, h, w, &r->claims[i]);
    ah_claims_free(r->claims, r->n);
    if (r->next_due)
        schedule(d, h, r->next_due);
}

/*
 * Starts work for every webhook that is due now, while there is room: the
 * due webhooks are claimed for together (delivery_claim_many, one
 * transaction on SQLite for up to CLAIM_BATCH of them, webhook rows
 * included), then each one's transfers are prepared.
 */
static void start_due(ah_dispatcher_t *d, int64_t now)
{
    /*
     * While results cannot be recorded (a full disk, a lost database), no
     * new work is claimed: every attempt sent now would add a result to
     * keep, and a full buffer of them would have to be given up (sent
     * again after their leases: duplicates).  The due webhooks wait in the
     * heap until a record succeeds.
     */
    if (d->record_retry_at)
        return;
    /* Bounded per turn, so transfers and stop requests are always served. */
    size_t budget = d->n_hooks + 64;
    for (;;) {
        size_t n = 0;
        unsigned reserved = 0;
        while (n < CLAIM_BATCH && budget && d->heap_n && d->heap[0].due <= now &&
               d->inflight + reserved < d->cfg.max_in_flight) {
            budget--;
            struct heap_entry e = heap_pop(d);
            struct hook *h = e.h;
            if (e.due != h->heap_due) {
                hook_maybe_free(d, h); /* a stale entry */
                continue;
            }
            h->heap_due = 0;
            if (h->listener[0] && !listen_connected(d, h)) {
                /* No stream here: parked, no attempt used, until the hub wakes it. */
                h->next_due = 0;
                continue;
            }
            unsigned want = claim_size(d, h, now, reserved);
            if (!want) {
                hook_maybe_free(d, h);
                continue;
            }
            reserved += want;
            ah_claim_req_t *r = &d->reqs[n];
            memset(r, 0, sizeof *r);
            ah_strlcpy(r->webhook_id, h->id, sizeof r->webhook_id);
            r->max = want;
            r->webhook = &d->wh[n];
            h->claiming = true;
            d->req_hooks[n++] = h;
        }
        if (!n)
            return;
        int rc = ah_store_delivery_claim_many(d->store, d->reqs, n, now, now + d->cfg.lease_ms);
        for (size_t i = 0; i < n; i++) {
            if (rc)
                d->reqs[i].rc = rc; /* the whole transaction failed: nothing was claimed */
            struct hook *h = d->req_hooks[i];
            h->claiming = false;
            claimed(d, h, &d->reqs[i], now);
            hook_maybe_free(d, h);
        }
    }
}

/* ---- finishing transfers ---- */

static int64_t jitter(int64_t ms)
{
    if (ms <= 0)
        return 0;
    uint32_t r;
    ah_random_bytes(&r, sizeof r);
    /* ±10 %: ms * (0.9 + 0.2 * r / 2^32) */
    return (int64_t)((double)ms * (0.9 + 0.2 * ((double)r / 4294967296.0)));
}

static int64_t longest_step(const ah_dispatch_config_t *cfg)
{
    int64_t m = 0;
    for (size_t i = 0; i < cfg->schedule_len; i++)
        if (cfg->schedule_ms[i] > m)
            m = cfg->schedule_ms[i];
    return m;
}

static void flush_results(ah_dispatcher_t *d);

/* The store's outcome as /metrics and the attempt log line label it. */
static ah_metrics_outcome_t metrics_outcome(ah_outcome_t o)
{
    switch (o) {
    case AH_OUTCOME_SUCCEEDED:
        return AH_METRICS_SUCCEEDED;
    case AH_OUTCOME_RETRY:
        return AH_METRICS_RETRY;
    case AH_OUTCOME_FAILED:
        break;
    }
    return AH_METRICS_FAILED;
}

/*
 * The attempt for the live tail (live.h): one copy into the process's ring
 * under its mutex; the API's fan-out thread takes it from there, so no
 * subscriber can hold the delivery engine up.  A webhook the attempt
 * disables is one more event.
 */
static void publish_live(const struct transfer *t, const ah_attempt_result_t *r,
                         ah_metrics_outcome_t outcome, const char *error, int64_t dur_ms,
                         int64_t now)
{
    ah_live_event_t *e = &(ah_live_event_t){0};
    e->kind = AH_LIVE_ATTEMPT;
    e->time_ms = now;
    memcpy(e->community_id, t->community_id, AH_ID_SIZE);
    memcpy(e->webhook_id, t->hook->id, AH_ID_SIZE);
    ah_strlcpy(e->trigger, t->claim.trigger, sizeof e->trigger);
    memcpy(e->delivery_id, t->claim.delivery_id, AH_ID_SIZE);
    memcpy(e->event_id, t->claim.event_id, AH_ID_SIZE);
    e->attempt = r->attempt.attempt_no;
    e->status_code = r->attempt.status_code;
    e->duration_ms = dur_ms;
    ah_strlcpy(e->outcome, ah_metrics_outcome_name(outcome), sizeof e->outcome);
    ah_strlcpy(e->error, error ? error : "", sizeof e->error);
    ah_live_publish(e);
    if (r->disable_reason[0])
        ah_live_webhook(t->community_id, t->hook->id, t->claim.trigger, "disabled",
                        r->disable_reason);
}

/* Turns a finished attempt into a result for the next batch. */
static void record(ah_dispatcher_t *d, struct transfer *t, int status_code, const char *error,
                   int64_t dur_us)
{
    int64_t dur_ms = dur_us / 1000;
    if (d->n_results == d->results_cap)
        flush_results(d); /* full: writes (or gives up) the batch */
    ah_attempt_result_t *r = &d->results[d->n_results];
    memset(r, 0, sizeof *r);
    memcpy(r->delivery_id, t->claim.delivery_id, AH_ID_SIZE);
    memcpy(r->webhook_id, t->hook->id, AH_ID_SIZE);
    int attempt_no = t->claim.attempts + 1;
    r->attempt.attempt_no = attempt_no;
    r->attempt.started_at = t->started_ms;
    r->attempt.duration_ms = dur_ms;
    r->attempt.status_code = status_code;
    ah_strlcpy(r->attempt.error, error ? error : "", sizeof r->attempt.error);
    memcpy(r->attempt.response_head, t->head, t->head_len + 1);
    memcpy(r->attempt.response_headers, t->hdrs, t->hdrs_len + 1);
    int64_t now = ah_now_ms();
    if (status_code >= 200 && status_code < 300) {
        r->outcome = AH_OUTCOME_SUCCEEDED;
    } else if (status_code == 410 && !t->listen) {
        r->outcome = AH_OUTCOME_FAILED;
        ah_strlcpy(r->disable_reason, "the receiver answered 410 Gone", sizeof r->disable_reason);
    } else if ((size_t)attempt_no >= d->cfg.schedule_len) {
        r->outcome = AH_OUTCOME_FAILED;
    } else {
        int64_t delay = jitter(d->cfg.schedule_ms[attempt_no]);
        if ((status_code == 429 || status_code == 503) && t->retry_after_ms > 0) {
            int64_t cap = longest_step(&d->cfg);
            delay = t->retry_after_ms < cap ? t->retry_after_ms : cap;
        }
        r->outcome = AH_OUTCOME_RETRY;
        r->next_attempt_at = now + delay;
    }
    if (r->outcome != AH_OUTCOME_SUCCEEDED && !r->disable_reason[0] &&
        d->cfg.disable_after_ms > 0 && t->failing_since &&
        now - t->failing_since >= d->cfg.disable_after_ms) {
        snprintf(r->disable_reason, sizeof r->disable_reason,
                 "every delivery failed for %lld hours",
                 (long long)(d->cfg.disable_after_ms / 3600000));
        if (d->cfg.disable_after_ms < 3600000)
            snprintf(r->disable_reason, sizeof r->disable_reason,
                     "every delivery failed for %lld seconds",
                     (long long)(d->cfg.disable_after_ms / 1000));
    }
    d->retry_hooks[d->n_results] = r->outcome == AH_OUTCOME_RETRY ? t->hook : NULL;
    if (d->retry_hooks[d->n_results])
        t->hook->heap_refs++; /* keep it alive until the batch is recorded */
    d->n_results++;
    ah_metrics_outcome_t outcome = metrics_outcome(r->outcome);
    ah_metrics_attempt(outcome, dur_us);
    ah_series_attempt(d->series, t->hook->id, outcome, dur_us, now);
    publish_live(t, r, outcome, error, dur_ms, now);
    /* Built only when it will be written: the line costs dozens of allocations. */
    if (ah_log_get_level() <= AH_LOG_INFO)
        ah_log(AH_LOG_INFO, "attempt",
               json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:s}", "delivery",
                         t->claim.delivery_id, "webhook", t->hook->id, "event", t->claim.event_id,
                         "attempt", attempt_no, "status", status_code, "dur_ms", (json_int_t)dur_ms,
                         "outcome", ah_metrics_outcome_name(outcome), "error", error ? error : ""));
    struct hook *h = t->hook;
    h->inflight--;
    d->inflight--;
    transfer_free(d, t);
    /* Room under the cap again: if more is due, come back now. */
    if (h->next_due && !h->heap_due)
        schedule(d, h, h->next_due);
}

/*
 * Writes the batch of results.  If the store is down (or its disk full) the
 * batch is kept and tried again a second later, and nothing new is claimed
 * meanwhile (start_due), so an outage costs no duplicate sends; the buffer
 * holds a batch and everything in flight, so it does not fill.  Only if it
 * did would a batch be given up (its deliveries are then sent again once
 * their leases lapse: still at least once).
 */
static void flush_results(ah_dispatcher_t *d)
{
    if (!d->n_results)
        return;
    bool full = d->n_results == d->results_cap;
    if (!full && ah_mono_ms() < d->record_retry_at)
        return;
    int rc = ah_store_delivery_record(d->store, d->results, d->n_results);
    if (rc && !full) {
        d->record_retry_at = ah_mono_ms() + 1000;
        ah_log(
            AH_LOG_WARN, "cannot record attempts yet; keeping them",
            json_pack("{s:s, s:I}", "error", ah_strerror(rc), "count", (json_int_t)d->n_results));
        return;
    }
    if (rc)
        ah_log(
            AH_LOG_ERROR, "cannot record attempts; they will be sent again after the lease",
            json_pack("{s:s, s:I}", "error", ah_strerror(rc), "count", (json_int_t)d->n_results));
    d->record_retry_at = 0;
    for (size_t i = 0; i < d->n_results; i++) {
        struct hook *h = d->retry_hooks[i];
        if (!h)
            continue;
        h->heap_refs--;
        if (rc == AH_OK)
            schedule(d, h, d->results[i].next_attempt_at);
        hook_maybe_free(d, h);
    }
    d->n_results = 0;
}

/* ---- the net thread: libcurl ---- */

static void unlink_active(ah_dispatcher_t *d, struct transfer *t)
{
    if (t->prev_active)
        t->prev_active->next_active = t->next_active;
    else
        d->active = t->next_active;
    if (t->next_active)
        t->next_active->prev_active = t->prev_active;
    t->prev_active = t->next_active = NULL;
    d->n_active--;
}

/* Puts a prepared transfer on the multi handle; a failure goes to `done` at once. */
static void net_start(ah_dispatcher_t *d, struct transfer *t, struct tlist *done)
{
    mark_start(t);
    if (sign_headers(t, t->started_ms / 1000)) {
        ah_strlcpy(t->error, "cannot sign: the webhook's secret is malformed", sizeof t->error);
        tlist_push(done, t);
        return;
    }
    if (curl_multi_add_handle(d->multi, t->easy) != CURLM_OK) {
        ah_strlcpy(t->error, "cannot start the transfer", sizeof t->error);
        tlist_push(done, t);
        return;
    }
    t->prev_active = NULL;
    t->next_active = d->active;
    if (d->active)
        d->active->prev_active = t;
    d->active = t;
    d->n_active++;
}

/* Collects the transfers libcurl has finished, their outcome filled in. */
static void finish_done(ah_dispatcher_t *d, struct tlist *done)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(d->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode res = m->data.result;
        struct transfer *t = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        curl_multi_remove_handle(d->multi, e);
        unlink_active(d, t);
        t->dur_us = ah_mono_us() - t->started_us;
        /* A body cut short after its status line and headers were in: the answer stands. */
        if (res == CURLE_WRITE_ERROR && t->body_cut && !t->headers_too_big && code >= 200)
            res = CURLE_OK;
        if (res != CURLE_OK) {
            if (t->guard.refused[0])
                snprintf(t->error, sizeof t->error, "connection refused by the SSRF guard: %s",
                         t->guard.refused);
            else if (t->headers_too_big || (res == CURLE_OUT_OF_MEMORY && !t->headers_end))
                snprintf(t->error, sizeof t->error,
                         "the receiver's response headers are over %d KiB",
                         AH_RESPONSE_HEADERS_MAX / 1024);
            else
                snprintf(t->error, sizeof t->error, "%.200s",
                         t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
            code = 0;
        } else if (code < 200 || code >= 300) {
            snprintf(t->error, sizeof t->error, "the receiver answered HTTP %ld", code);
        }
        t->status_code = (int)code;
        tlist_push(done, t);
    }
}

/*
 * Runs the transfers the store thread prepares and hands each back when it
 * ends.  On stop it starts nothing more, lets what is on the multi handle
 * finish until the grace deadline, then hands the rest back as abandoned.
 */
static void *net_run(void *arg)
{
    ah_dispatcher_t *d = arg;
    pthread_setname_np(pthread_self(), "ah-deliver-net");
    struct tlist done = {NULL, NULL};
    for (;;) {
        pthread_mutex_lock(&d->mu);
        struct tlist ready = d->ready;
        d->ready.head = d->ready.tail = NULL;
        bool stopping = d->stopping;
        int64_t grace_deadline = d->grace_deadline;
        pthread_mutex_unlock(&d->mu);
        while (ready.head) {
            struct transfer *t = ready.head;
            ready.head = t->next;
            if (stopping) {
                t->abandoned = true; /* claimed but never sent */
                tlist_push(&done, t);
            } else {
                net_start(d, t, &done);
            }
        }
        int running = 0;
        curl_multi_perform(d->multi, &running);
        finish_done(d, &done);
        if (done.head) {
            pthread_mutex_lock(&d->mu);
            tlist_splice(&d->done, &done);
            pthread_cond_signal(&d->cv);
            pthread_mutex_unlock(&d->mu);
        }
        if (stopping && (d->n_active == 0 || ah_mono_ms() >= grace_deadline))
            break;
        /* libcurl shortens the wait to its own timers; wakeups end it at once. */
        curl_multi_poll(d->multi, NULL, 0, stopping ? 100 : 1000, NULL);
    }
    while (d->active) {
        struct transfer *t = d->active;
        unlink_active(d, t);
        curl_multi_remove_handle(d->multi, t->easy);
        t->abandoned = true;
        tlist_push(&done, t);
    }
    pthread_mutex_lock(&d->mu);
    for (struct transfer *t = d->ready.head; t; t = t->next)
        t->abandoned = true;
    tlist_splice(&done, &d->ready);
    tlist_splice(&d->done, &done);
    d->net_done = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* ---- the store thread ---- */

/*
 * Takes back what the net thread returned: results go into the batch,
 * abandoned transfers have their leases handed back (they are sent again
 * later, by this process's successor or another node).
 */
static void take_done(ah_dispatcher_t *d, struct tlist *done)
{
    size_t n_release = 0;
    while (done->head) {
        struct transfer *t = done->head;
        done->head = t->next;
        if (!t->abandoned) {
            record(d, t, t->status_code, t->error[0] ? t->error : NULL, t->dur_us);
            continue;
        }
        memcpy(d->release_ids[n_release++], t->claim.delivery_id, AH_ID_SIZE);
        t->hook->inflight--;
        d->inflight--;
        transfer_free(d, t);
    }
    done->tail = NULL;
    if (n_release) {
        int rc = ah_store_delivery_release(d->store, (const char(*)[AH_ID_SIZE])d->release_ids,
                                           n_release);
        if (rc)
            ah_log(
                AH_LOG_WARN, "cannot hand back in-flight deliveries; their leases expire",
                json_pack("{s:I, s:s}", "count", (json_int_t)n_release, "error", ah_strerror(rc)));
        else
            ah_log(AH_LOG_INFO, "handed back in-flight deliveries",
                   json_pack("{s:I}", "count", (json_int_t)n_release));
    }
}

/* How long the store thread may sleep when nothing arrives. */
static int64_t next_timeout(ah_dispatcher_t *d, int64_t now, bool stopping)
{
    if (!stopping && !d->owner) { /* a standby: only the next ask matters */
        int64_t until = d->own_retry_at - ah_mono_ms();
        return until < 0 ? 0 : until > RESCAN_MS ? RESCAN_MS : until;
    }
    int64_t wait = stopping ? 100 : RESCAN_MS - (now - d->last_rescan);
    if (!stopping && d->heap_n && d->inflight < d->cfg.max_in_flight && !d->record_retry_at) {
        int64_t until = d->heap[0].due - now;
        if (until < wait)
            wait = until;
    }
    if (d->n_results && d->record_retry_at) {
        int64_t until = d->record_retry_at - ah_mono_ms();
        if (until < wait)
            wait = until;
    }
    if (wait < 0)
        wait = 0;
    if (wait > RESCAN_MS)
        wait = RESCAN_MS;
    return wait;
}

/*
 * Whether this process may claim: on SQLite one process delivers from a
 * file (its leases are in its memory; ah_store_delivery_own).  Another
 * process that delivers from it already makes this one a standby: it
 * serves its API, claims nothing, and asks again every RESCAN_MS, so that
 * it takes delivery over within that time once the other one ends (kill -9
 * included: what that one had in flight is pending, and sent again).
 */
static bool own_store(ah_dispatcher_t *d)
{
    if (d->owner)
        return true;
    if (ah_mono_ms() < d->own_retry_at)
        return false;
    char err[512];
    int rc = ah_store_delivery_own(d->store, err, sizeof err);
    if (rc) {
        d->own_retry_at = ah_mono_ms() + RESCAN_MS;
        if (!d->standby_said)
            ah_log(AH_LOG_WARN,
                   "another process delivers; this one stands by to take delivery over",
                   json_pack("{s:s}", "reason", err));
        d->standby_said = true;
        return false;
    }
    d->owner = true;
    if (d->standby_said)
        ah_log(AH_LOG_WARN, "this process delivers now", NULL);
    /* Single node: whatever leases a predecessor left are its own no more. */
    if (d->cfg.single_node && !ah_store_shared(d->store))
        ah_store_delivery_release_all(d->store);
    /* Several: counted among the live nodes before the first claim of any of them. */
    if (ah_store_shared(d->store)) {
        int64_t now = ah_now_ms();
        ah_store_delivery_announce(d->store, now, now + d->cfg.lease_ms);
    }
    d->last_rescan = 0; /* find the work at once */
    return true;
}

/*
 * Once a minute, the backlog for the charts (series.h): one read of the
 * queue gauges, as a scrape of /metrics makes.
 */
static void sample_backlog(ah_dispatcher_t *d, int64_t now)
{
    if (!d->series || now / 60000 == d->backlog_minute)
        return;
    d->backlog_minute = now / 60000;
    ah_delivery_stats_t st;
    if (ah_store_delivery_stats(d->store, &st) == AH_OK)
        ah_series_backlog(d->series, st.pending, now);
}

/*
 * The store thread: wakes, rescans, claims, prepares, and records.  A turn
 * takes what arrived, records results in memory, claims for every webhook
 * that is due and has room (completions just made some) and hands the
 * transfers over before writing the batch of results, so the net thread is
 * busy sending while this one waits on the store.
 */
static void *store_run(void *arg)
{
    ah_dispatcher_t *d = arg;
    pthread_setname_np(pthread_self(), "ah-deliver-db");
    bool stopping = false;
    int64_t wait = 0;
    for (;;) {
        struct work w;
        take_work(d, wait, stopping, &w);
        stopping = w.stopping;
        drain_inbox(d, &w);
        take_done(d, &w.done);
        int64_t now = ah_now_ms();
        if (!stopping && own_store(d)) {
            if (now - d->last_rescan >= RESCAN_MS)
                rescan(d, now);
            sample_backlog(d, now);
            start_due(d, now);
            publish_prepared(d);
        }
        flush_results(d);
        if (w.net_done)
            break; /* everything has come back: the last take had it all */
        wait = next_timeout(d, ah_now_ms(), stopping);
    }
    d->record_retry_at = 0;
    flush_results(d);
    return NULL;
}

/* Work published by another node (store->listen). */
static void listen_wake(void *arg, const char *webhook_id, int64_t due)
{
    ah_dispatcher_wake(arg, webhook_id, due);
}

static void dispatcher_free(ah_dispatcher_t *d)
{
    while (d->free_transfers) {
        struct transfer *t = d->free_transfers;
        d->free_transfers = t->next;
        transfer_destroy(t);
    }
    for (size_t i = 0; d->buckets && i < d->n_buckets; i++) {
        struct hook *h = d->buckets[i];
        while (h) {
            struct hook *next = h->next;
            free(h);
            h = next;
        }
    }
    curl_multi_cleanup(d->multi);
    free(d->buckets);
    free(d->heap);
    free(d->inbox);
    free(d->inbox_spare);
    free(d->results);
    free(d->retry_hooks);
    free(d->release_ids);
    free(d->wh);
    free(d->reqs);
    free(d->req_hooks);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Tells both threads to stop (grace_ms for in-flight work) and joins them. */
static void stop_threads(ah_dispatcher_t *d, int64_t grace_ms, bool net, bool store)
{
    pthread_mutex_lock(&d->mu);
    d->grace_deadline = ah_mono_ms() + grace_ms;
    d->stopping = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    curl_multi_wakeup(d->multi);
    if (net)
        pthread_join(d->net_thread, NULL);
    if (store)
        pthread_join(d->store_thread, NULL);
}

int ah_dispatcher_start(ah_store_t *store, const ah_dispatch_config_t *cfg, ah_dispatcher_t **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    ah_dispatcher_t *d = calloc(1, sizeof *d);
    if (!d)
        return AH_ENOMEM;
    d->store = store;
    d->cfg = *cfg;
    d->series = ah_series_process();
    if (!d->cfg.per_webhook_concurrency)
        d->cfg.per_webhook_concurrency = 1;
    if (!d->cfg.max_in_flight)
        d->cfg.max_in_flight = 1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* take_work's deadlines */
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    d->n_buckets = HOOKS_BUCKETS_MIN;
    d->buckets = calloc(d->n_buckets, sizeof *d->buckets);
    d->inbox = malloc(INBOX_MAX * sizeof *d->inbox);
    d->inbox_spare = malloc(INBOX_MAX * sizeof *d->inbox_spare);
    /* Room for a batch kept through an outage plus everything in flight. */
    d->results_cap = BATCH_MAX + d->cfg.max_in_flight;
    d->results = malloc(d->results_cap * sizeof *d->results);
    d->retry_hooks = malloc(d->results_cap * sizeof *d->retry_hooks);
    d->release_ids = malloc(d->cfg.max_in_flight * sizeof *d->release_ids);
    d->wh = malloc(CLAIM_BATCH * sizeof *d->wh);
    d->reqs = calloc(CLAIM_BATCH, sizeof *d->reqs);
    d->req_hooks = calloc(CLAIM_BATCH, sizeof *d->req_hooks);
    d->multi = curl_multi_init();
    if (!d->buckets || !d->inbox || !d->inbox_spare || !d->results || !d->retry_hooks ||
        !d->release_ids || !d->wh || !d->reqs || !d->req_hooks || !d->multi) {
        snprintf(err, errlen, "out of memory starting the dispatcher");
        dispatcher_free(d);
        return AH_ENOMEM;
    }
    curl_multi_setopt(d->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)d->cfg.max_in_flight);
    if (pthread_create(&d->net_thread, NULL, net_run, d)) {
        snprintf(err, errlen, "cannot start the dispatcher's network thread");
        dispatcher_free(d);
        return AH_ENOMEM;
    }
    if (pthread_create(&d->store_thread, NULL, store_run, d)) {
        snprintf(err, errlen, "cannot start the dispatcher's store thread");
        stop_threads(d, 0, true, false);
        dispatcher_free(d);
        return AH_ENOMEM;
    }
    if (ah_store_listen(store, listen_wake, d)) {
        snprintf(err, errlen, "cannot listen for other nodes' work");
        stop_threads(d, 0, true, true);
        dispatcher_free(d);
        return AH_ENOMEM;
    }
    *out = d;
    return AH_OK;
}

void ah_dispatcher_stop(ah_dispatcher_t *d, int64_t grace_ms)
{
    if (!d)
        return;
    ah_store_listen(d->store, NULL, NULL);
    stop_threads(d, grace_ms, true, true);
    dispatcher_free(d);
}
