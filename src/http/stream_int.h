/* SPDX-License-Identifier: MIT */
/*
 * stream_int.h: what server.c and stream.c say to each other about
 * Server-Sent Events streams (http.h, ah_http_stream_*); private to
 * src/http.
 */
#ifndef AH_HTTP_STREAM_INT_H
#define AH_HTTP_STREAM_INT_H

#include <microhttpd.h>

#include "http/http.h"

/* ---- server.c, for stream.c ---- */

/*
 * The connection and listener of req, and marks req as answered by s (its
 * answer is then s's response).  False when req has no listener behind it
 * or the listener is stopping.
 */
bool ah_http__stream_attach(ah_http_req_t *req, ah_http_stream_t *s, struct MHD_Connection **conn,
                            ah_http_server_t **srv);
/* Counts a suspension; false when the listener is stopping (then do not suspend). */
bool ah_http__hold(ah_http_server_t *srv);
/* Counts a resumption (after MHD_resume_connection). */
void ah_http__unhold(ah_http_server_t *srv);

/* ---- stream.c, for server.c ---- */

/* The response that writes s; NULL when out of memory. */
struct MHD_Response *ah_http__stream_response(ah_http_stream_t *s);
/* The request attached to s ended without its response being made: s is closed. */
void ah_http__stream_abandon(ah_http_stream_t *s);
/* Heartbeats due on srv's streams (the sweeper, a few times a second). */
void ah_http__streams_tick(ah_http_server_t *srv);
/* Ends every stream of srv (after its farewell); ah_http_stop, once stopping is set. */
void ah_http__streams_stop(ah_http_server_t *srv);
/*
 * Waits, at most max_ms, until every stream of srv has been let go of by its
 * connection: its farewell written and the response finished.  Without it,
 * MHD_stop_daemon could close a resumed stream before its reader ran.
 */
void ah_http__streams_drain(ah_http_server_t *srv, int64_t max_ms);

#endif
