/* SPDX-License-Identifier: MIT */
/*
 * admin.c: the operator's API under /admin/v1 (SPEC §5): communities, access
 * keys, airmeets, sessions and webhooks.  The bearer token is checked by
 * dispatch.c before any handler here runs (the routes' policy is "admin").
 *
 * A record named in the path is fetched with ah_get_by_id (respond.c),
 * which answers the 404s and store failures; a handler only says what it
 * does with the record.
 * Creation accepts caller-chosen ids so a platform can mirror its own; an id
 * already taken is 409.  Access-key secrets are returned by create only, and
 * stored as SHA-256 hashes.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "common/live.h"
#include "common/crypto.h"

/* Parses the JSON body; answers 400 itself on failure. */
static json_t *body_or_400(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    json_t *b = ah_parse_body(req, false, why, sizeof why);
    if (!b)
        ah_error(resp, c->dialect, 400, "%s", why);
    return b;
}

/* Reads an optional caller-chosen "id" or makes one.  Answers 400 itself. */
static bool chosen_id(const ah_call_t *c, json_t *body, char out[AH_ID_SIZE], ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    if (ah_get_str(body, "id", out, AH_ID_SIZE, why, sizeof why) < 0) {
        ah_error(resp, c->dialect, 400, "field 'id' must be a UUID string");
        return false;
    }
    if (!out[0]) {
        ah_uuid_v4(out);
        return true;
    }
    if (ah_check_id("field 'id'", out, true, why, sizeof why)) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return false;
    }
    return true;
}

/* A required non-empty string field; answers 400 itself. */
static bool required_str(const ah_call_t *c, json_t *body, const char *name, char *out,
                         size_t outsz, ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    int r = ah_get_str(body, name, out, outsz, why, sizeof why);
    if (r < 0) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return false;
    }
    if (r == 0 || !out[0]) {
        ah_error(resp, c->dialect, 400, "field '%s' is required", name);
        return false;
    }
    return true;
}

/* An optional time field (RFC 3339 string or unix seconds); answers 400 itself. */
static bool optional_time(const ah_call_t *c, json_t *body, const char *name, int64_t *ms,
                          ah_http_resp_t *resp)
{
    json_t *v = json_object_get(body, name);
    *ms = 0;
    if (!v || json_is_null(v))
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 253402300800LL) {
        *ms = json_integer_value(v) * 1000;
        return true;
    }
    if (json_is_string(v) && ah_parse_time(json_string_value(v), ms) == AH_OK)
        return true;
    ah_error(resp, c->dialect, 400,
             "field '%s' must be a time such as 2026-01-31T09:00:00.000+00:00 or unix "
             "seconds",
             name);
    return false;
}

/* ---- communities ---- */

static json_t *community_json(const ah_community_t *cm)
{
    return json_pack("{s:s, s:s, s:o}", "id", cm->id, "name", cm->name, "createdAt",
                     ah_json_time(cm->created_at));
}

void ah_h_community_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_community_t cm = {0};
    json_t *body = body_or_400(c, req, resp);
    if (!body)
        return;
    if (!required_str(c, body, "name", cm.name, sizeof cm.name, resp) ||
        !chosen_id(c, body, cm.id, resp))
        goto out;
    cm.created_at = ah_now_ms();
    int rc = ah_store_community_create(c->app->store, &cm);
    if (rc == AH_EEXISTS)
        ah_error(resp, c->dialect, 409, "a community with id %s already exists", cm.id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        ah_http_resp_json(resp, 201, community_json(&cm));
out:
    json_decref(body);
}

/* ---- pages of the operator's lists ---- */

#define PAGE_DEFAULT 50 /* rows a page holds when ?limit= is not given */

/*
 * Reads ?limit= (1..AH_LIST_PAGE_MAX, default PAGE_DEFAULT) and ?cursor=;
 * answers 400 itself.  *given (may be NULL) says whether either was sent.
 */
bool ah_page_query(const ah_call_t *c, const ah_http_req_t *req, size_t *limit, const char **cursor,
                   bool *given, ah_http_resp_t *resp)
{
    const char *text = ah_http_query(req, "limit");
    int64_t n = PAGE_DEFAULT;
    if (text && ah_parse_i64(text, 1, AH_LIST_PAGE_MAX, &n) != AH_OK) {
        ah_error(resp, c->dialect, 400, "limit '%.40s' is not a whole number from 1 to %d", text,
                 AH_LIST_PAGE_MAX);
        return false;
    }
    *limit = (size_t)n;
    *cursor = ah_http_query(req, "cursor");
    if (given)
        *given = text || *cursor;
    return true;
}

/* Answers a store failure of a page read: AH_EINVAL is a cursor not handed out here. */
void ah_page_error(const ah_call_t *c, const char *cursor, int rc, ah_http_resp_t *resp)
{
    if (rc == AH_EINVAL)
        ah_error(resp, c->dialect, 400, "cursor '%.40s' is not one this server handed out",
                 cursor ? cursor : "");
    else
        ah_store_error(resp, c->dialect, rc);
}

/* Answers {"<name>":arr,"nextCursor":…}, or 500 when arr (or the rest) could not be built. */
void ah_page_reply(const ah_call_t *c, const char *name, json_t *arr, const char *next,
                   ah_http_resp_t *resp)
{
    json_t *j =
        arr ? json_pack("{s:o, s:o}", name, arr, "nextCursor", ah_json_str_or_null(next)) : NULL;
    if (j)
        ah_http_resp_json(resp, 200, j);
    else
        ah_store_error(resp, c->dialect, AH_ENOMEM);
}

void ah_webhook_page_reply(ah_call_t *c, const ah_webhook_filter_t *f,
                           json_t *(*render)(ah_app_t *app, const ah_webhook_t *w),
                           ah_http_resp_t *resp)
{
    ah_webhook_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = ah_store_webhook_page(c->app->store, f, &list, &n, next);
    if (rc) {
        ah_page_error(c, f->cursor, rc, resp);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, render ? render(c->app, &list[i])
                                            : ah_webhook_json(&list[i], AH_VIEW_ADMIN));
    free(list);
    ah_page_reply(c, "webhooks", arr, next, resp);
}

/* Appends j to arr; on failure frees arr and answers NULL, so a loop can go on checking arr. */
json_t *ah_append_or_drop(json_t *arr, json_t *j)
{
    if (arr && !json_array_append_new(arr, j))
        return arr;
    if (!arr)
        json_decref(j);
    json_decref(arr);
    return NULL;
}

bool ah_query_time(const ah_call_t *c, const ah_http_req_t *req, const char *name, int64_t *ms,
                   ah_http_resp_t *resp)
{
    const char *text = ah_http_query(req, name);
    *ms = 0;
    if (!text || !*text || ah_parse_time(text, ms) == AH_OK)
        return true;
    ah_error(resp, c->dialect, 400,
             "%s '%.40s' is not a time such as 2026-01-31T09:00:00Z or unix seconds", name, text);
    return false;
}

bool ah_query_webhook_state(const ah_call_t *c, const ah_http_req_t *req, int *state,
                            ah_http_resp_t *resp)
{
    const char *text = ah_http_query(req, "status");
    if (!text || (*state = ah_webhook_state_parse(text)) >= 0)
        return true;
    ah_error(resp, c->dialect, 400, "status '%.40s' is not one of active, disabled, deregistered",
             text);
    return false;
}

/*
 * Every community, oldest first, as it always was; with ?limit= or
 * ?cursor= a page of them (the console's way, and a script's over many).
 */
void ah_h_community_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    size_t limit;
    const char *cursor;
    bool paged;
    if (!ah_page_query(c, req, &limit, &cursor, &paged, resp))
        return;
    ah_community_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = paged ? ah_store_community_page(c->app->store, cursor, limit, &list, &n, next)
                   : ah_store_community_list(c->app->store, &list, &n);
    if (rc) {
        ah_page_error(c, cursor, rc, resp);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, community_json(&list[i]));
    free(list);
    ah_page_reply(c, "communities", arr, next, resp);
}

/* The community with the quotas that apply to it and its count of active webhooks. */
void ah_h_community_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_community_t cm;
    ah_quota_t q;
    int64_t active = 0;
    if (!ah_get_by_id(c, req, resp, &ah_kind_community, id, &cm))
        return;
    int rc = ah_quota_effective(c->app, NULL, id, &q);
    if (rc == AH_OK)
        rc = ah_store_webhook_count_active(c->app->store, id, &active);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    json_t *j = community_json(&cm), *quotas = json_object();
    bool ok = j && quotas;
    for (int k = 0; ok && k < AH_QUOTA_COUNT; k++)
        ok = !json_object_set_new(quotas, ah_quota_names[k].json, json_integer(q.v[k]));
    ok = ok && !json_object_set_new(j, "activeWebhooks", json_integer(active)) &&
         !json_object_set_new(j, "quotas", quotas);
    if (!ok) {
        json_decref(j);
        json_decref(quotas);
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_http_resp_json(resp, 200, j);
}

/* ---- quotas (quota.c) ---- */

/* Answers 200 with the community's quotas, as ah_quota_json shows them. */
static void quota_reply(const ah_call_t *c, const char *id, ah_http_resp_t *resp)
{
    ah_quota_t own;
    int64_t active = 0;
    int rc = ah_store_quota_get(c->app->store, id, &own);
    if (rc == AH_OK)
        rc = ah_store_webhook_count_active(c->app->store, id, &active);
    if (!ah_found(c, resp, &ah_kind_community, id, rc))
        return;
    json_t *j = ah_quota_json(c->app, id, active, &own);
    if (j)
        ah_http_resp_json(resp, 200, j);
    else
        ah_store_error(resp, c->dialect, AH_ENOMEM);
}

void ah_h_quota_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    if (ah_path_id(c, req, resp, &ah_kind_community, id))
        quota_reply(c, id, resp);
}

/*
 * Applies a PATCH body to own: each field names a quota and sets it (an
 * integer in its range) or clears it (null: the server's default
 * applies); fields not given stay.  Returns 0 or 400 with why.
 */
static int patch_quotas(json_t *body, ah_quota_t *own, char *why, size_t whylen)
{
    const char *name;
    json_t *v;
    json_object_foreach(body, name, v)
    {
        int k = 0;
        while (k < AH_QUOTA_COUNT && strcmp(ah_quota_names[k].json, name) != 0)
            k++;
        if (k == AH_QUOTA_COUNT) {
            snprintf(why, whylen,
                     "unknown field '%.64s'; the quotas are maxWebhooks, maxUrlBytes, "
                     "maxNameBytes, maxDescriptionBytes and registrationsPerMinute",
                     name);
            return 400;
        }
        int64_t lo = ah_quota_min(k), hi = ah_quota_max(k);
        if (json_is_null(v)) {
            own->v[k] = AH_QUOTA_UNSET;
        } else if (json_is_integer(v) && json_integer_value(v) >= lo &&
                   json_integer_value(v) <= hi) {
            own->v[k] = json_integer_value(v);
        } else {
            snprintf(why, whylen,
                     "%s must be a whole number from %lld to %lld, or null for this "
                     "server's default (--%s)",
                     name, (long long)lo, (long long)hi, ah_quota_names[k].setting);
            return 400;
        }
    }
    return 0;
}

void ah_h_quota_set(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE], why[AH_WHY_SIZE];
    ah_community_t cm;
    ah_quota_t own;
    json_t *body = NULL;
    if (!ah_path_id(c, req, resp, &ah_kind_community, id) || !(body = body_or_400(c, req, resp)) ||
        !ah_fetch(c, resp, &ah_kind_community, id, &cm))
        goto out;
    int rc = ah_store_quota_get(c->app->store, id, &own);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    int status = patch_quotas(body, &own, why, sizeof why);
    if (status) {
        ah_error(resp, c->dialect, status, "%s", why);
        goto out;
    }
    if (ah_found(c, resp, &ah_kind_community, id,
                 ah_store_quota_set(c->app->store, id, &own, ah_now_ms())))
        quota_reply(c, id, resp);
out:
    json_decref(body);
}

/* ---- access keys ---- */

static json_t *key_json(const ah_access_key_t *k)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b}", "id", k->id, "communityId",
                     k->community_id, "label", k->label, "accessKey", k->access_key, "createdAt",
                     ah_json_time(k->created_at), "revokedAt", ah_json_time(k->revoked_at),
                     "isActive", k->revoked_at == 0);
}

void ah_h_key_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_access_key_t k = {0};
    ah_community_t cm;
    json_t *body = NULL;
    if (!ah_path_id(c, req, resp, &ah_kind_community, k.community_id) ||
        !(body = body_or_400(c, req, resp)))
        return;
    if (!required_str(c, body, "label", k.label, sizeof k.label, resp) ||
        !ah_fetch(c, resp, &ah_kind_community, k.community_id, &cm))
        goto out;
    char secret[80];
    ah_uuid_v4(k.id);
    ah_uuid_v4(k.access_key);
    ah_random_hex("ahs_", 32, secret, sizeof secret);
    ah_sha256_hex(secret, strlen(secret), k.secret_hash);
    k.created_at = ah_now_ms();
    int rc = ah_store_access_key_create(c->app->store, &k);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", k.id, "communityId",
                          k.community_id, "label", k.label, "accessKey", k.access_key, "secretKey",
                          secret, "createdAt", ah_json_time(k.created_at));
    ah_http_resp_json(resp, 201, j);
out:
    json_decref(body);
}

/*
 * A community's key pairs, oldest first: every one, as it always was, or
 * with ?limit= or ?cursor= a page of them.
 */
void ah_h_key_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_community_t cm;
    size_t limit;
    const char *cursor;
    bool paged;
    if (!ah_get_by_id(c, req, resp, &ah_kind_community, id, &cm) ||
        !ah_page_query(c, req, &limit, &cursor, &paged, resp))
        return;
    ah_access_key_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = paged ? ah_store_access_key_page(c->app->store, id, cursor, limit, &list, &n, next)
                   : ah_store_access_key_list(c->app->store, id, &list, &n);
    if (rc) {
        ah_page_error(c, cursor, rc, resp);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, key_json(&list[i]));
    free(list);
    ah_page_reply(c, "accessKeys", arr, next, resp);
}

void ah_h_key_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_access_key_t k;
    if (ah_get_by_id(c, req, resp, &ah_kind_access_key, id, &k))
        ah_http_resp_json(resp, 200, key_json(&k));
}

void ah_h_key_revoke(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_access_key_t k;
    if (ah_path_id(c, req, resp, &ah_kind_access_key, id) &&
        ah_found(c, resp, &ah_kind_access_key, id,
                 ah_store_access_key_revoke(c->app->store, id, ah_now_ms())) &&
        ah_fetch(c, resp, &ah_kind_access_key, id, &k))
        ah_http_resp_json(resp, 200, key_json(&k));
}

/* ---- airmeets and sessions ---- */

/*
 * The fields of an airmeet or a session the operator sets, the event API
 * answers (scope.c) and the admin API shows: a row each, how its value is
 * checked, and where it lives in the record.  PATCH takes any of them (an
 * absent field stays, null clears it); create takes them too.
 */
typedef enum field_kind {
    F_NAME,    /* a non-empty string */
    F_TEXT,    /* a string, or null for none */
    F_CODE,    /* UPPER_SNAKE such as ONGOING or FLUID_LOUNGE, or null */
    F_TZ,      /* an IANA time zone name such as Asia/Kolkata, or null */
    F_TIME,    /* an RFC 3339 time or unix seconds, or null */
    F_MINUTES, /* whole minutes, or null */
} field_kind_t;

typedef struct detail_field {
    const char *json;
    field_kind_t kind;
    size_t offset;
    size_t size; /* of a text field */
} detail_field_t;

#define TEXT_FIELD(type, name, member, kind)                                                       \
    {                                                                                              \
        name, kind, offsetof(type, member), sizeof(((type *)0)->member)                            \
    }
#define NUM_FIELD(type, name, member, kind)                                                        \
    {                                                                                              \
        name, kind, offsetof(type, member), 0                                                      \
    }

static const detail_field_t airmeet_fields[] = {
    TEXT_FIELD(ah_airmeet_t, "name", name, F_NAME),
    TEXT_FIELD(ah_airmeet_t, "status", status, F_CODE),
    TEXT_FIELD(ah_airmeet_t, "timezone", timezone, F_TZ),
    TEXT_FIELD(ah_airmeet_t, "description", description, F_TEXT),
    NUM_FIELD(ah_airmeet_t, "startTime", start_time, F_TIME),
    NUM_FIELD(ah_airmeet_t, "endTime", end_time, F_TIME),
};

static const detail_field_t session_fields[] = {
    TEXT_FIELD(ah_session_t, "name", name, F_NAME),
    TEXT_FIELD(ah_session_t, "status", status, F_CODE),
    TEXT_FIELD(ah_session_t, "summary", summary, F_TEXT),
    TEXT_FIELD(ah_session_t, "type", type, F_CODE),
    NUM_FIELD(ah_session_t, "startTime", start_time, F_TIME),
    NUM_FIELD(ah_session_t, "duration", duration, F_MINUTES),
};

static bool all_of(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

#define UPPER_SNAKE "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
#define TZ_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/"

/* Parses v (not null) as a time into *ms.  0 or 400 with why. */
static int time_value(const char *name, json_t *v, int64_t *ms, char *why, size_t whylen)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 253402300800LL) {
        *ms = json_integer_value(v) * 1000;
        return 0;
    }
    if (json_is_string(v) && ah_parse_time(json_string_value(v), ms) == AH_OK)
        return 0;
    snprintf(why, whylen,
             "field '%s' must be a time such as 2026-01-31T09:00:00.000+00:00 or unix seconds, "
             "or null",
             name);
    return 400;
}

/* Checks v as field f and writes it into rec.  0 or 400 with why. */
static int set_field(const detail_field_t *f, json_t *v, void *rec, char *why, size_t whylen)
{
    char *text = (char *)rec + f->offset;
    int64_t *num = (int64_t *)(void *)((char *)rec + f->offset);
    if (json_is_null(v) && f->kind != F_NAME) {
        if (f->kind == F_TIME || f->kind == F_MINUTES)
            *num = 0;
        else
            text[0] = '\0';
        return 0;
    }
    switch (f->kind) {
    case F_TIME:
        return time_value(f->json, v, num, why, whylen);
    case F_MINUTES:
        if (json_is_integer(v) && json_integer_value(v) >= 0 &&
            json_integer_value(v) <= 2147483647) {
            *num = json_integer_value(v);
            return 0;
        }
        snprintf(why, whylen, "field '%s' must be whole minutes (0 to 2147483647), or null",
                 f->json);
        return 400;
    default:
        break;
    }
    const char *str = json_string_value(v);
    size_t len = str ? json_string_length(v) : 0;
    if (!str || len >= f->size || strlen(str) != len || (f->kind == F_NAME && !len)) {
        snprintf(why, whylen, "field '%s' must be a%s string of at most %zu bytes%s", f->json,
                 f->kind == F_NAME ? " non-empty" : "", f->size - 1,
                 f->kind == F_NAME ? "" : ", or null");
        return 400;
    }
    if (f->kind == F_CODE && !all_of(str, UPPER_SNAKE)) {
        snprintf(why, whylen,
                 "field '%s' must be UPPER_SNAKE_CASE (A-Z, 0-9, _), such as ONGOING or HOSTING",
                 f->json);
        return 400;
    }
    if (f->kind == F_TZ && !all_of(str, TZ_CHARS)) {
        snprintf(why, whylen, "field '%s' must be an IANA time zone name, such as Asia/Kolkata",
                 f->json);
        return 400;
    }
    memcpy(text, str, len + 1);
    return 0;
}

/*
 * Applies body's fields of table fields (n rows) to rec.  A PATCH refuses
 * a field that is not one of them; a create skips it (it has fields of its
 * own).  0 or 400 with why.
 */
static int apply_fields(json_t *body, const detail_field_t *fields, size_t n, void *rec, bool patch,
                        char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(fields[i].json, key) != 0)
            i++;
        if (i == n) {
            if (!patch)
                continue;
            int len = snprintf(why, whylen, "unknown field '%.64s'; the fields are", key);
            for (size_t k = 0; len > 0 && (size_t)len < whylen && k < n; k++)
                len += snprintf(why + len, whylen - (size_t)len, "%s %s", k ? "," : "",
                                fields[k].json);
            return 400;
        }
        int status = set_field(&fields[i], v, rec, why, whylen);
        if (status)
            return status;
    }
    return 0;
}

static json_t *airmeet_json(const ah_airmeet_t *a)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "id", a->id, "communityId",
                     a->community_id, "name", a->name, "startTime", ah_json_time(a->start_time),
                     "endTime", ah_json_time(a->end_time), "status", ah_json_str_or_null(a->status),
                     "timezone", ah_json_str_or_null(a->timezone), "description",
                     ah_json_str_or_null(a->description), "createdAt", ah_json_time(a->created_at));
}

static json_t *session_json(const ah_session_t *s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "id", s->id, "airmeetId",
                     s->airmeet_id, "communityId", s->community_id, "name", s->name, "startTime",
                     ah_json_time(s->start_time), "duration",
                     s->duration ? json_integer(s->duration) : json_null(), "status",
                     ah_json_str_or_null(s->status), "summary", ah_json_str_or_null(s->summary),
                     "type", ah_json_str_or_null(s->type), "createdAt",
                     ah_json_time(s->created_at));
}

/* A community's airmeets, oldest first, a page at a time. */
void ah_h_airmeet_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_community_t cm;
    size_t limit;
    const char *cursor;
    if (!ah_get_by_id(c, req, resp, &ah_kind_community, id, &cm) ||
        !ah_page_query(c, req, &limit, &cursor, NULL, resp))
        return;
    ah_airmeet_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = ah_store_airmeet_page_from(c->app->store, id, cursor, limit, &list, &n, next);
    if (rc) {
        ah_page_error(c, cursor, rc, resp);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, airmeet_json(&list[i]));
    free(list);
    ah_page_reply(c, "airmeets", arr, next, resp);
}

/* An airmeet's sessions in order of creation, a page at a time. */
void ah_h_session_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_airmeet_t a;
    size_t limit;
    const char *cursor;
    if (!ah_get_by_id(c, req, resp, &ah_kind_airmeet, id, &a) ||
        !ah_page_query(c, req, &limit, &cursor, NULL, resp))
        return;
    ah_session_t *list = NULL;
    size_t n = 0;
    char next[AH_CURSOR_SIZE] = "";
    int rc = ah_store_session_page(c->app->store, id, cursor, limit, &list, &n, next);
    if (rc) {
        ah_page_error(c, cursor, rc, resp);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        arr = ah_append_or_drop(arr, session_json(&list[i]));
    free(list);
    ah_page_reply(c, "sessions", arr, next, resp);
}

/* An airmeet's times must not run backwards; 0 or 400 with why. */
static int check_times(const ah_airmeet_t *a, char *why, size_t whylen)
{
    if (a->start_time && a->end_time && a->end_time < a->start_time) {
        snprintf(why, whylen, "endTime is before startTime");
        return 400;
    }
    return 0;
}

void ah_h_airmeet_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_airmeet_t a = {0};
    ah_community_t cm;
    char why[AH_WHY_SIZE];
    json_t *body = body_or_400(c, req, resp);
    if (!body)
        return;
    if (!required_str(c, body, "communityId", a.community_id, sizeof a.community_id, resp) ||
        !required_str(c, body, "name", a.name, sizeof a.name, resp) ||
        !chosen_id(c, body, a.id, resp) ||
        !optional_time(c, body, "startTime", &a.start_time, resp) ||
        !optional_time(c, body, "endTime", &a.end_time, resp))
        goto out;
    if (ah_check_id("field 'communityId'", a.community_id, true, why, sizeof why) ||
        apply_fields(body, airmeet_fields, AH_ARRAY_LEN(airmeet_fields), &a, false, why,
                     sizeof why) ||
        check_times(&a, why, sizeof why)) {
        ah_error(resp, c->dialect, 400, "%s", why);
        goto out;
    }
    if (!ah_fetch(c, resp, &ah_kind_community, a.community_id, &cm))
        goto out;
    a.created_at = ah_now_ms();
    int rc = ah_store_airmeet_create(c->app->store, &a);
    if (rc == AH_EEXISTS)
        ah_error(resp, c->dialect, 409, "an airmeet with id %s already exists", a.id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        ah_http_resp_json(resp, 201, airmeet_json(&a));
out:
    json_decref(body);
}

void ah_h_airmeet_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_airmeet_t a;
    if (ah_get_by_id(c, req, resp, &ah_kind_airmeet, id, &a))
        ah_http_resp_json(resp, 200, airmeet_json(&a));
}

/* PATCH /airmeets/{id}: what the event API answers about it (status, time zone, ...). */
void ah_h_airmeet_update(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE], why[AH_WHY_SIZE];
    ah_airmeet_t a;
    json_t *body = NULL;
    if (!ah_path_id(c, req, resp, &ah_kind_airmeet, id) || !(body = body_or_400(c, req, resp)) ||
        !ah_fetch(c, resp, &ah_kind_airmeet, id, &a))
        goto out;
    if (apply_fields(body, airmeet_fields, AH_ARRAY_LEN(airmeet_fields), &a, true, why,
                     sizeof why) ||
        check_times(&a, why, sizeof why)) {
        ah_error(resp, c->dialect, 400, "%s", why);
        goto out;
    }
    if (ah_found(c, resp, &ah_kind_airmeet, id, ah_store_airmeet_update(c->app->store, &a)))
        ah_http_resp_json(resp, 200, airmeet_json(&a));
out:
    json_decref(body);
}

void ah_h_session_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_session_t s = {0};
    ah_airmeet_t a;
    char why[AH_WHY_SIZE];
    json_t *body = NULL;
    if (!ah_path_id(c, req, resp, &ah_kind_airmeet, s.airmeet_id) ||
        !(body = body_or_400(c, req, resp)))
        return;
    if (!required_str(c, body, "name", s.name, sizeof s.name, resp) ||
        !chosen_id(c, body, s.id, resp))
        goto out;
    if (apply_fields(body, session_fields, AH_ARRAY_LEN(session_fields), &s, false, why,
                     sizeof why)) {
        ah_error(resp, c->dialect, 400, "%s", why);
        goto out;
    }
    if (!ah_fetch(c, resp, &ah_kind_airmeet, s.airmeet_id, &a))
        goto out;
    memcpy(s.community_id, a.community_id, sizeof s.community_id);
    s.created_at = ah_now_ms();
    int rc = ah_store_session_create(c->app->store, &s);
    if (rc == AH_EEXISTS)
        ah_error(resp, c->dialect, 409, "a session with id %s already exists", s.id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        ah_http_resp_json(resp, 201, session_json(&s));
out:
    json_decref(body);
}

void ah_h_session_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_session_t s;
    if (ah_get_by_id(c, req, resp, &ah_kind_session, id, &s))
        ah_http_resp_json(resp, 200, session_json(&s));
}

/* PATCH /sessions/{id}: what the event API answers about it (start, duration, ...). */
void ah_h_session_update(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE], why[AH_WHY_SIZE];
    ah_session_t s;
    json_t *body = NULL;
    if (!ah_path_id(c, req, resp, &ah_kind_session, id) || !(body = body_or_400(c, req, resp)) ||
        !ah_fetch(c, resp, &ah_kind_session, id, &s))
        goto out;
    if (apply_fields(body, session_fields, AH_ARRAY_LEN(session_fields), &s, true, why,
                     sizeof why)) {
        ah_error(resp, c->dialect, 400, "%s", why);
        goto out;
    }
    if (ah_found(c, resp, &ah_kind_session, id, ah_store_session_update(c->app->store, &s)))
        ah_http_resp_json(resp, 200, session_json(&s));
out:
    json_decref(body);
}

/* ---- webhooks ---- */

/* Answers 200 with webhook id as the admin API shows it. */
static void webhook_reply(const ah_call_t *c, const char *id, ah_http_resp_t *resp)
{
    ah_webhook_t *w = malloc(sizeof *w); /* ~7 KiB: off the stack */
    if (!w)
        ah_store_error(resp, c->dialect, AH_ENOMEM);
    else if (ah_fetch(c, resp, &ah_kind_webhook, id, w))
        ah_http_resp_json(resp, 200, ah_webhook_json(w, AH_VIEW_ADMIN));
    free(w);
}

void ah_h_webhook_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    if (ah_path_id(c, req, resp, &ah_kind_webhook, id))
        webhook_reply(c, id, resp);
}

/*
 * Reads the optional query id name (a UUID, any case) into id ("" when
 * absent) and makes sure the record exists; answers 400 or 404 itself.
 */
bool ah_query_id(const ah_call_t *c, const ah_http_req_t *req, const char *name, const ah_kind_t *k,
                 void *rec, char id[AH_ID_SIZE], ah_http_resp_t *resp)
{
    const char *text = ah_http_query(req, name);
    id[0] = '\0';
    if (!text || !*text)
        return true;
    if (!ah_is_uuid(text)) {
        ah_error(resp, c->dialect, 400, "%s '%.40s' is not a UUID", name, text);
        return false;
    }
    memcpy(id, text, AH_ID_SIZE);
    ah_lower(id);
    return ah_fetch(c, resp, k, id, rec);
}

/*
 * Every webhook in any state, oldest first, a page at a time, filtered by
 * community, trigger, state and a piece of the URL.
 */
void ah_h_admin_webhook_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_webhook_filter_t f = {.state = AH_WEBHOOK_ANY};
    char community[AH_ID_SIZE];
    ah_community_t cm;
    if (!ah_page_query(c, req, &f.limit, &f.cursor, NULL, resp) ||
        !ah_query_id(c, req, "communityId", &ah_kind_community, &cm, community, resp) ||
        !ah_query_webhook_state(c, req, &f.state, resp))
        return;
    f.community_id = community;
    f.trigger = ah_http_query(req, "triggerMetaInfoId");
    f.url_part = ah_http_query(req, "url");
    ah_webhook_page_reply(c, &f, NULL, resp);
}

/*
 * Deletes a webhook for its community: deregisters it as the integrator's
 * webhook-deregister does (its pending deliveries are cancelled; the row
 * stays, so that its deliveries keep their webhook), and answers it as it
 * now is.  Deleting one already deregistered changes nothing and answers
 * the same, so a repeated DELETE is harmless.
 */
void ah_h_webhook_delete(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_ID_SIZE];
    ah_webhook_t *w = malloc(sizeof *w); /* ~7 KiB: off the stack */
    if (!w) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    if (ah_path_id(c, req, resp, &ah_kind_webhook, id) &&
        ah_fetch(c, resp, &ah_kind_webhook, id, w)) {
        int rc = w->deregistered_at
                     ? AH_OK
                     : ah_store_webhook_deregister(c->app->store, id, "admin", ah_now_ms());
        bool changed = !w->deregistered_at && rc == AH_OK;
        if (rc == AH_ENOTFOUND)
            rc = AH_OK; /* deregistered meanwhile, by someone else */
        if (changed)
            ah_live_webhook(w->community_id, id, w->trigger, "deregistered", "deleted by operator");
        if (rc)
            ah_store_error(resp, c->dialect, rc);
        else
            webhook_reply(c, id, resp);
    }
    free(w);
}

/*
 * Enables webhook id within its community's quota of active webhooks:
 * the store's status (AH_ETOOBIG when the community is full).
 */
static int enable_within_quota(ah_call_t *c, const char *id, int64_t *max)
{
    ah_webhook_t *w = malloc(sizeof *w); /* ~7 KiB: off the stack */
    ah_quota_t q;
    if (!w)
        return AH_ENOMEM;
    int rc = ah_store_webhook_get(c->app->store, id, w);
    if (rc == AH_OK)
        rc = ah_quota_effective(c->app, NULL, w->community_id, &q);
    free(w);
    if (rc)
        return rc;
    *max = q.v[AH_QUOTA_WEBHOOKS];
    return ah_store_webhook_enable_within(c->app->store, id, *max, ah_now_ms());
}

static void set_active(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp, bool active)
{
    char id[AH_ID_SIZE];
    int64_t max = 0;
    if (!ah_path_id(c, req, resp, &ah_kind_webhook, id))
        return;
    int rc = active ? enable_within_quota(c, id, &max)
                    : ah_store_webhook_set_active(c->app->store, id, false, "disabled by operator",
                                                  ah_now_ms());
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no webhook with id %s (or it was deregistered)", id);
    else if (rc == AH_ETOOBIG)
        ah_error(resp, c->dialect, 409,
                 "the community of webhook %s has reached its quota of %lld active webhooks "
                 "(maxWebhooks); raise it with PATCH /admin/v1/communities/{id}/quotas, or "
                 "disable another first",
                 id, (long long)max);
    else if (rc == AH_EEXISTS)
        ah_error(resp, c->dialect, 409,
                 "an active webhook with the same trigger, url and scope was registered "
                 "while %s was disabled; deregister one of them first",
                 id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else {
        if (active) /* its pending deliveries may flow again */
            ah_dispatcher_wake(c->app->dispatcher, id, ah_now_ms());
        ah_live_webhook_changed(c->app, id, active ? "enabled" : "disabled",
                                active ? "enabled by operator" : "disabled by operator");
        webhook_reply(c, id, resp);
    }
}

void ah_h_webhook_enable(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    set_active(c, req, resp, true);
}

void ah_h_webhook_disable(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    set_active(c, req, resp, false);
}
