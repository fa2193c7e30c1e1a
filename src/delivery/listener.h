/* SPDX-License-Identifier: MIT */
/*
 * listener.h: the listener hub, the server side of `airhook listen`
 * (docs/delivery.md, "Listeners"; the wire protocol is in docs/api.md,
 * "Listeners").
 *
 * A listener is a CLI that receives deliveries over one Server-Sent Events
 * stream instead of at a URL: its webhooks have the url "listen:<id>".  The
 * hub knows the listeners, the stream each one has on this node, and the
 * deliveries pushed on a stream that await their result.  The dispatcher
 * asks it (ah_listen_ops_t) whether a listener is connected before it
 * claims, and hands it what it claimed; the hub pushes each delivery as a
 * "delivery" event and, when the listener posts the result (or the
 * delivery timeout passes, or the stream drops), gives it back to the
 * dispatcher, which records it like any attempt (or, dropped, hands it
 * back unattempted).  A thread of its own expires results not posted in
 * time, keeps the listeners' last_seen_at fresh in the store, and removes
 * listeners whose stream has been gone for the listener timeout.
 */
#ifndef AH_LISTENER_H
#define AH_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "delivery/dispatcher.h"
#include "http/http.h"
#include "store/store.h"

/* `airhook serve --listener-timeout`'s default (and AIRHOOK_LISTENER_TIMEOUT's). */
#define AH_LISTEN_DEFAULT_TIMEOUT "10m"
/* At most this many webhooks (triggers) per listener. */
#define AH_LISTEN_WEBHOOKS_MAX 256

typedef struct ah_listen_hub ah_listen_hub_t;

typedef struct ah_listen_config {
    int64_t listener_timeout_ms; /* a listener without a stream this long is removed */
    int64_t result_timeout_ms;   /* a pushed delivery's result must come within this */
    int64_t heartbeat_ms;        /* the stream's ping comments (0: 15 s) */
} ah_listen_config_t;

/* Starts the hub over store (not owned); reads the listeners the store has. */
int ah_listen_hub_start(ah_store_t *store, const ah_listen_config_t *cfg, ah_listen_hub_t **out,
                        char *err, size_t errlen);
/* What the dispatcher is configured with (ah_dispatch_config_t.listen); valid while hub is. */
const ah_listen_ops_t *ah_listen_hub_ops(ah_listen_hub_t *hub);
/* The dispatcher to wake and to give results to (NULL: none, an API-only process). */
void ah_listen_hub_attach(ah_listen_hub_t *hub, ah_dispatcher_t *d);
/*
 * Stops its thread, gives every delivery still awaiting a result back to
 * the dispatcher and forgets its listeners: from then on the dispatcher's
 * ops answer "not connected" and refuse pushes.  Call after ah_http_stop
 * (which ends the streams) and before ah_dispatcher_stop, which may still
 * call the ops: hub stays allocated until ah_listen_hub_free.  NULL is a
 * no-op; so is a second call.
 */
void ah_listen_hub_stop(ah_listen_hub_t *hub);
/* Stops hub if it was not, and frees it: after ah_dispatcher_stop.  NULL is a no-op. */
void ah_listen_hub_free(ah_listen_hub_t *hub);

/* A listener just stored (row) with its webhooks' ids. */
int ah_listen_hub_add(ah_listen_hub_t *hub, const ah_listener_t *row,
                      const char (*webhooks)[AH_ID_SIZE], size_t n);
/*
 * Answers req with listener id's stream (the caller checked who may):
 * replaces a stream it had ("bye" "replaced"), sends "ready", wakes its
 * webhooks.  AH_ENOTFOUND when the hub does not know the listener (nor
 * the store); AH_EIO when the request cannot be streamed.
 */
int ah_listen_hub_connect(ah_listen_hub_t *hub, const char *id, ah_http_req_t *req,
                          ah_http_resp_t *resp);
/* What a listener posts for a delivery it was pushed. */
typedef struct ah_listen_result {
    char delivery_id[AH_ID_SIZE];
    int attempt;
    int status; /* 0: no HTTP answer */
    int64_t dur_ms;
    const char *body;  /* the first bytes of the local answer, or NULL */
    const char *error; /* why there was no answer, or NULL */
    /* the local answer's status line and headers, CRLF-separated lines, or NULL */
    const char *headers;
} ah_listen_result_t;
/* Records r; AH_ENOTFOUND when it is no delivery pushed to id and awaiting a result. */
int ah_listen_hub_result(ah_listen_hub_t *hub, const char *id, const ah_listen_result_t *r);
/*
 * Removes listener id: ends its stream ("bye" reason), hands back what it
 * had in flight, deregisters its webhooks (by: who, for updated_by) and
 * deletes its row.  AH_ENOTFOUND when the store has no such listener.
 */
int ah_listen_hub_remove(ah_listen_hub_t *hub, const char *id, const char *reason, const char *by);

#endif
