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
 * Stops claiming, lets in-flight attempts finish for up to grace_ms, then
 * aborts the rest and hands their leases back (they will be sent again).
 * Frees d.
 */
void ah_dispatcher_stop(ah_dispatcher_t *d, int64_t grace_ms);

#endif
