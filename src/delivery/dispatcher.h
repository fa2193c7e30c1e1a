/* SPDX-License-Identifier: MIT */
/*
 * dispatcher.h: the delivery engine.  A store thread claims due deliveries
 * webhook by webhook (respecting each webhook's concurrency cap and rate)
 * and records each attempt's result in batches; a net thread signs them and
 * sends them on libcurl's multi interface over kept-alive connections.  See
 * dispatcher.c for how the parts fit.
 */
#ifndef AH_DISPATCHER_H
#define AH_DISPATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/ssrf.h"
#include "store/store.h"

#define AH_SCHEDULE_MAX 32

/*
 * What is read of a receiver's answer (docs/delivery.md, "Limits").  Its
 * status line and headers, up to AH_RESPONSE_HEADERS_MAX bytes: more is a
 * failed attempt, "the receiver's response headers are over 64 KiB".  Its
 * body, up to AH_RESPONSE_BODY_READ_MAX bytes, of which the first 1 KiB is
 * kept (AH_RESPONSE_HEAD_MAX): past that the transfer stops and its
 * connection is closed, and the attempt counts by its status code.  Up to
 * that size a body is read whole, so the connection can be kept alive.
 */
#define AH_RESPONSE_HEADERS_MAX (64 * 1024)
#define AH_RESPONSE_BODY_READ_MAX (16 * 1024)

/*
 * The defaults of SPEC §6, written the way `airhook serve` takes them: its
 * settings table prints and parses these, and ah_dispatch_config_default()
 * parses them too, so each default is written here and nowhere else.
 */
#define AH_DISPATCH_DEFAULT_SCHEDULE "0,5s,5m,30m,2h,5h,10h,10h"
#define AH_DISPATCH_DEFAULT_TIMEOUT "15s"
#define AH_DISPATCH_DEFAULT_CONCURRENCY "16"
#define AH_DISPATCH_DEFAULT_RATE "0"
#define AH_DISPATCH_DEFAULT_DISABLE_AFTER "5d"
#define AH_DISPATCH_DEFAULT_LEASE "60s"

/*
 * Listener webhooks (`airhook listen`; docs/delivery.md, "Listeners"): a
 * webhook whose url is "listen:<listener id>" is never given to libcurl.
 * Its claimed deliveries are handed to the listener hub (listener.c)
 * through these ops, which pushes each to the listener's stream; the
 * result the listener posts (or the hub's timeout) comes back through
 * ah_dispatcher_listen_done and is recorded like any attempt.  While the
 * listener has no stream on this node its deliveries are not claimed at
 * all: they wait, no attempt used, until the hub wakes its webhooks.
 */
#define AH_LISTEN_SCHEME "listen:"

/* One delivery for a listener, as the hub receives it. */
typedef struct ah_listen_job {
    void *token; /* the dispatcher's: give it back with ah_dispatcher_listen_done, once */
    const char *listener_id;
    const char *webhook_id;
    const char *community_id;
    const ah_claim_t *claim; /* delivery, event, trigger, attempts made, body */
    const char *secret;      /* sign with it */
    const char *prev_secret; /* "" unless a rotation is under way */
    int64_t started_ms;      /* the attempt's start (wall clock) */
} ah_listen_job_t;

typedef struct ah_listen_ops {
    /* Whether listener_id has a stream on this node now (store thread; cheap). */
    bool (*connected)(void *arg, const char *listener_id);
    /*
     * Takes job (store thread; must not block).  False when it cannot (no
     * stream after all): the dispatcher hands the delivery back unattempted.
     */
    bool (*push)(void *arg, const ah_listen_job_t *job);
    void *arg;
} ah_listen_ops_t;

typedef struct ah_dispatch_config {
    int64_t schedule_ms[AH_SCHEDULE_MAX]; /* delay before attempt i+1; [0] is the first (0) */
    size_t schedule_len;                  /* attempts in all */
    int64_t timeout_ms;                   /* per attempt */
    unsigned per_webhook_concurrency;     /* requests in flight per webhook */
    double per_webhook_rate;              /* attempts per second per webhook; 0 = no limit */
    int64_t disable_after_ms;             /* failing this long disables a webhook; 0 = never */
    int64_t lease_ms;                     /* how long a claim is held before others may take it */
    unsigned max_in_flight;               /* across all webhooks */
    bool single_node;                     /* at start, take back every lease */
    const ah_netguard_t *guard;           /* SSRF guard (not owned) */
    const ah_listen_ops_t *listen;        /* the listener hub (not owned); NULL: none */
} ah_dispatch_config_t;

/* Fills cfg with the defaults above (AH_DISPATCH_DEFAULT_*). */
void ah_dispatch_config_default(ah_dispatch_config_t *cfg);
/* Parses "0,5s,5m,30m,2h,5h,10h,10h" into cfg->schedule_ms. */
int ah_dispatch_parse_schedule(const char *s, ah_dispatch_config_t *cfg, char *err, size_t errlen);

typedef struct ah_dispatcher ah_dispatcher_t;

/* Starts the delivery threads.  store must outlive the dispatcher. */
int ah_dispatcher_start(ah_store_t *store, const ah_dispatch_config_t *cfg, ah_dispatcher_t **out,
                        char *err, size_t errlen);
/*
 * Tells the dispatcher that webhook_id has work due at `due` (ms).  Cheap
 * and thread-safe; called after publish, retry and recover.  NULL d is a
 * no-op (an API-only process).
 */
void ah_dispatcher_wake(ah_dispatcher_t *d, const char *webhook_id, int64_t due);
/*
 * The end of a listener job (any thread): status (0: no HTTP answer, then
 * error says why), how long it took, the first bytes of the local answer's
 * body and its status line and headers as "Name: value" lines (either may
 * be NULL), kept as a delivered attempt keeps them.  give_back: it was never answered (its stream
 * dropped): the delivery is handed back unattempted, to be sent again.
 */
void ah_dispatcher_listen_done(ah_dispatcher_t *d, void *token, int status, const char *error,
                               int64_t dur_ms, const char *body_head, const char *headers,
                               bool give_back);
/*
 * Stops claiming, lets in-flight attempts finish for up to grace_ms, then
 * aborts the rest and hands their leases back (they will be sent again).
 * Frees d.
 */
void ah_dispatcher_stop(ah_dispatcher_t *d, int64_t grace_ms);

#endif
