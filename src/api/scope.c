/* SPDX-License-Identifier: MIT */
/*
 * scope.c: the few endpoints of Airmeet's event API that clients call
 * before they register a webhook (docs/api.md, "Event API"): the list of
 * the caller's airmeets and one airmeet with its sessions.  Power
 * Automate's certified connector fills its airmeet and session pickers
 * from them (GET /api/v1/airmeets, then GET /api/v1/airmeet/{id}/info,
 * after POST /api/v1/auth); Airmeet's own newer clients call the same
 * paths without /api/v1 under the gateway's /prod.  dispatch.c mounts them
 * both ways; POST /api/v1/auth is ah_h_auth.
 *
 * Both answer from the airmeets and sessions airhook already stores, in
 * Airmeet's shapes and names (`uid`, `startTime`; `sessionid`,
 * `start_time`): no envelope, as Airmeet's event API has none.  What the
 * operator has not set (PATCH /admin/v1/airmeets/{id}) reads as Airmeet's
 * defaults for a new event ("CREATED", "UTC", a "HOSTING" session) or null.
 *
 * The caller is a token (X-Airmeet-Access-Token, checked by the route's
 * policy as for webhook-list): a bad token is 400, an expired one 412, an
 * airmeet of another community 401 and an unknown one 404.
 *
 * Paging (Airmeet: "?before=<cursor>&after=<cursor>&size=<number>", size 50
 * by default and at most 500, "after" wins when both are given, sorted by
 * creation time).  A cursor is a position in the community's airmeets in
 * order of creation: `after` is where the next page starts, `before` where
 * this one started, each null when there is no such page, and `pageCount`
 * is how many pages of this size there are.  Airmeets are never deleted,
 * so a position keeps naming the same airmeet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"

#define PAGE_DEFAULT 50
#define CURSOR_MAX 2147483647 /* the connector reads cursors as int32 */

static json_t *or_default(const char *v, const char *def)
{
    return json_string(v && *v ? v : def);
}

/* An airmeet as GET /api/v1/airmeets lists it. */
static json_t *airmeet_item(const ah_airmeet_t *a)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "uid", a->id, "name", a->name, "status",
                     or_default(a->status, "CREATED"), "timezone", or_default(a->timezone, "UTC"),
                     "description", ah_json_str_or_null(a->description), "startTime",
                     ah_json_time(a->start_time), "endTime", ah_json_time(a->end_time));
}

/* A session as the connector's AirmeetSessions schema names it. */
static json_t *session_item(const ah_session_t *s)
{
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:[], s:[], s:[], s:[]}", "sessionid",
                     s->id, "name", s->name, "start_time", ah_json_time(s->start_time), "status",
                     or_default(s->status, "CREATED"), "duration",
                     s->duration ? json_integer(s->duration) : json_null(), "summary",
                     ah_json_str_or_null(s->summary), "type", or_default(s->type, "HOSTING"),
                     "host_id", "cohost_ids", "speaker_id", "speakerList");
}

/* A cursor query parameter: absent (false), or a position into *out; 400 with why. */
static int cursor_param(const ah_http_req_t *req, const char *name, bool *given, int64_t *out,
                        char *why, size_t whylen)
{
    const char *v = ah_http_query(req, name);
    *given = v != NULL;
    if (v && ah_parse_i64(v, 0, CURSOR_MAX, out) != AH_OK) {
        snprintf(why, whylen, "%s must be a cursor this API returned (a whole number from 0)",
                 name);
        return 400;
    }
    return 0;
}

/* What page the query asks for: its first position and size.  0 or 400 with why. */
static int page_query(const ah_http_req_t *req, int64_t *start, int64_t *limit, int64_t *size,
                      char *why, size_t whylen)
{
    const char *sz = ah_http_query(req, "size");
    const char *all = ah_http_query(req, "allAirmeets");
    /* The connector's picker never pages: with allAirmeets=true it gets one full page. */
    *size = all && !strcasecmp(all, "true") ? AH_AIRMEET_PAGE_MAX : PAGE_DEFAULT;
    if (sz && ah_parse_i64(sz, 1, AH_AIRMEET_PAGE_MAX, size) != AH_OK) {
        snprintf(why, whylen, "size must be a whole number from 1 to %d", AH_AIRMEET_PAGE_MAX);
        return 400;
    }
    bool has_after, has_before;
    int64_t after = 0, before = 0;
    int status;
    if ((status = cursor_param(req, "after", &has_after, &after, why, whylen)) ||
        (status = cursor_param(req, "before", &has_before, &before, why, whylen)))
        return status;
    *start = 0;
    *limit = *size;
    if (has_after) { /* Airmeet: with both, the before cursor is ignored */
        *start = after;
    } else if (has_before) {
        *start = before > *size ? before - *size : 0;
        *limit = before - *start;
    }
    return 0;
}

/* GET /api/v1/airmeets (and /airmeets): a page of the caller's community's airmeets. */
void ah_h_airmeets(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    int64_t start, limit, size, total = 0;
    int status = page_query(req, &start, &limit, &size, why, sizeof why);
    if (status) {
        ah_error(resp, c->dialect, status, "%s", why);
        return;
    }
    ah_airmeet_t *rows = NULL;
    size_t n = 0;
    /* An empty page (before=0) still reads the count, through a page of one it drops. */
    int rc = ah_store_airmeet_page(c->app->store, c->caller.community_id, (uint64_t)start,
                                   limit ? (size_t)limit : 1, &rows, &n, &total);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    if (!limit)
        n = 0;
    json_t *data = json_array();
    bool ok = data != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = !json_array_append_new(data, airmeet_item(&rows[i]));
    free(rows);
    int64_t next = start + (int64_t)n;
    json_t *body =
        ok ? json_pack("{s:o, s:{s:o, s:o, s:I}}", "data", data, "cursors", "after",
                       next < total ? json_integer(next) : json_null(), "before",
                       start > 0 ? json_integer(start < total ? start : total) : json_null(),
                       "pageCount", (json_int_t)((total + size - 1) / size))
           : NULL;
    if (!ok)
        json_decref(data);
    if (!body) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_http_resp_json(resp, 200, body);
}

/*
 * The airmeet in path capture 0, if it is the caller's: true with *a
 * filled; else answered (404 unknown, 401 another community's) and false.
 */
static bool callers_airmeet(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                            ah_airmeet_t *a)
{
    char id[AH_ID_SIZE], why[AH_WHY_SIZE];
    const char *raw = req->n_params ? req->params[0] : "";
    if (ah_strlcpy(id, raw, sizeof id) || ah_check_id("airmeetId", id, true, why, sizeof why)) {
        ah_error(resp, c->dialect, 404, "no airmeet with id %.40s", raw);
        return false;
    }
    int rc = ah_store_airmeet_get(c->app->store, id, a);
    if (rc == AH_ENOTFOUND) {
        ah_error(resp, c->dialect, 404, "no airmeet with id %s", id);
        return false;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return false;
    }
    if (strcmp(a->community_id, c->caller.community_id) != 0) {
        ah_error(resp, c->dialect, 401, "airmeet %s belongs to another community", id);
        return false;
    }
    return true;
}

/* GET /api/v1/airmeet/{airmeetId}/info (and /airmeet/{id}/info): the airmeet and its sessions. */
void ah_h_airmeet_info(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_airmeet_t a;
    if (!callers_airmeet(c, req, resp, &a))
        return;
    ah_session_t *list = NULL;
    size_t n = 0;
    int rc = ah_store_session_list(c->app->store, a.id, &list, &n);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    json_t *body = airmeet_item(&a), *sessions = json_array();
    bool ok = body && sessions;
    for (size_t i = 0; ok && i < n; i++)
        ok = !json_array_append_new(sessions, session_item(&list[i]));
    free(list);
    if (ok) {
        ok = !json_object_set_new(body, "sessions", sessions); /* steals it, also on failure */
        sessions = NULL;
    }
    ok = ok && !json_object_set_new(body, "session_hosts", json_array());
    if (!ok) {
        json_decref(body);
        json_decref(sessions);
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_http_resp_json(resp, 200, body);
}
