/* SPDX-License-Identifier: MIT */
/*
 * respond.c: error bodies, JSON field readers and small converters shared by
 * the public and admin handlers.  Every message says what was wrong in a
 * sentence a caller can act on.
 *
 * Every error answer goes through ah_error(), which shapes the body in the
 * route's dialect, and every failed store call through ah_store_status(),
 * the one place that decides 503 (with Retry-After) or 500.  Also here,
 * because several handlers share them: the admin API's get-by-id over a
 * table of record kinds (ah_get_by_id), and the one builder of a webhook's
 * JSON, whose view says which of its three representations to build, with
 * a writer of the same bytes for the public API's hot paths.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/app.h"

const char *ah_status_reason(int status)
{
    switch (status) {
    case 200:
        return "SUCCESS";
    case 201:
        return "CREATED";
    case 202:
        return "ACCEPTED";
    case 400:
        return "BAD_REQUEST";
    case 401:
        return "UNAUTHORIZED";
    case 403:
        return "FORBIDDEN";
    case 404:
        return "NOT_FOUND";
    case 405:
        return "METHOD_NOT_ALLOWED";
    case 408:
        return "REQUEST_TIMEOUT";
    case 409:
        return "CONFLICT";
    case 412:
        return "PRECONDITION_FAILED";
    case 413:
        return "PAYLOAD_TOO_LARGE";
    case 414:
        return "URI_TOO_LONG";
    case 429:
        return "TOO_MANY_REQUESTS";
    case 431:
        return "REQUEST_HEADER_FIELDS_TOO_LARGE";
    case 501:
        return "NOT_IMPLEMENTED";
    case 503:
        return "SERVICE_UNAVAILABLE";
    default:
        return "INTERNAL_SERVER_ERROR";
    }
}

/*
 * Messages may quote input (a path, a field); JSON strings must be UTF-8, so
 * any byte outside printable ASCII becomes '?'.
 */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

void ah_error(ah_http_resp_t *resp, ah_dialect_t d, int status, const char *fmt, ...)
{
    char msg[512], code[8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printable(msg);
    json_t *j;
    switch (d) {
    case AH_DIALECT_ADMIN:
        j = json_pack("{s:s, s:s}", "error", ah_status_reason(status), "message", msg);
        break;
    case AH_DIALECT_AUTH:
        j = json_pack("{s:b, s:s}", "success", 0, "message", msg);
        break;
    default: /* AH_DIALECT_PUBLIC, and the shape of anything else */
        snprintf(code, sizeof code, "%d", status);
        j = json_pack("{s:s, s:s, s:s}", "statusCode", code, "statusMessage",
                      ah_status_reason(status), "message", msg);
        break;
    }
    ah_http_resp_json(resp, status, j);
}

int ah_store_status(ah_http_resp_t *resp, int rc)
{
    if (rc != AH_EUNAVAIL)
        return 500;
    ah_strlcpy(resp->retry_after, "1", sizeof resp->retry_after);
    return 503;
}

void ah_store_error(ah_http_resp_t *resp, ah_dialect_t d, int rc)
{
    int status = ah_store_status(resp, rc);
    if (status == 503)
        ah_error(resp, d, 503, "storage is unavailable; retry shortly");
    else
        ah_error(resp, d, status, "internal error (%s)", ah_strerror(rc));
}

void ah_reject(ah_http_resp_t *resp, ah_dialect_t d, int status, const char *why)
{
    if (status < 0)
        ah_store_error(resp, d, status);
    else
        ah_error(resp, d, status, "%s", why);
}

json_t *ah_json_time(int64_t ms)
{
    if (!ms)
        return json_null();
    char buf[AH_TIME_SIZE];
    ah_format_time(ms, buf);
    return json_string(buf);
}

json_t *ah_json_str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static bool is_json_type(const char *ct)
{
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

json_t *ah_parse_body(const ah_http_req_t *req, bool content_type_required, char *why,
                      size_t whylen)
{
    const char *ct = ah_http_header(req, "Content-Type");
    if (!ct && content_type_required) {
        snprintf(why, whylen, "missing header Content-Type: application/json");
        return NULL;
    }
    if (ct && !is_json_type(ct)) {
        snprintf(why, whylen, "Content-Type must be application/json, not '%.64s'", ct);
        return NULL;
    }
    if (req->body_len == 0) {
        snprintf(why, whylen, "the request body is empty; a JSON object is expected");
        return NULL;
    }
    json_error_t e;
    /* \u0000 is valid JSON; string fields that must not hold it say so. */
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!j) {
        snprintf(why, whylen, "malformed JSON at line %d column %d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        snprintf(why, whylen, "the request body must be a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

int ah_get_str(json_t *obj, const char *name, char *out, size_t outsz, char *why, size_t whylen)
{
    out[0] = '\0';
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(why, whylen, "field '%s' must be a string", name);
        return -1;
    }
    size_t len = json_string_length(v);
    if (len >= outsz) {
        snprintf(why, whylen, "field '%s' is too long (at most %zu bytes)", name, outsz - 1);
        return -1;
    }
    const char *s = json_string_value(v);
    if (memchr(s, '\0', len)) {
        snprintf(why, whylen, "field '%s' must not contain NUL characters", name);
        return -1;
    }
    memcpy(out, s, len + 1);
    return 1;
}

int ah_check_id(const char *label, char *id, bool required, char *why, size_t whylen)
{
    if (!id[0]) {
        if (!required)
            return 0;
        snprintf(why, whylen, "%s is required", label);
        return -1;
    }
    if (!ah_is_uuid(id)) {
        snprintf(why, whylen, "%s must be a UUID such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
                 label);
        return -1;
    }
    ah_lower(id);
    return 0;
}

/* ---- get by id ---- */

static int get_community(ah_store_t *s, const char *id, void *out)
{
    return ah_store_community_get(s, id, out);
}

static int get_access_key(ah_store_t *s, const char *id, void *out)
{
    return ah_store_access_key_get(s, id, out);
}

static int get_airmeet(ah_store_t *s, const char *id, void *out)
{
    return ah_store_airmeet_get(s, id, out);
}

static int get_session(ah_store_t *s, const char *id, void *out)
{
    return ah_store_session_get(s, id, out);
}

static int get_webhook(ah_store_t *s, const char *id, void *out)
{
    return ah_store_webhook_get(s, id, out);
}

static int get_event(ah_store_t *s, const char *id, void *out)
{
    ah_event_t *ev = out;
    memset(ev, 0, sizeof *ev);
    int rc = ah_store_event_get(s, id, ev);
    free(ev->data); /* the body as published: not what a lookup by id is for */
    ev->data = NULL;
    ev->data_len = 0;
    return rc;
}

static int get_delivery(ah_store_t *s, const char *id, void *out)
{
    ah_attempt_t *attempts = NULL;
    size_t n = 0;
    int rc = ah_store_delivery_get(s, id, out, &attempts, &n);
    free(attempts);
    return rc;
}

static int get_portal_link(ah_store_t *s, const char *id, void *out)
{
    return ah_store_portal_link_get(s, id, out);
}

const ah_kind_t ah_kind_community = {"community", get_community},
                ah_kind_portal_link = {"portal link", get_portal_link},
                ah_kind_access_key = {"access key", get_access_key},
                ah_kind_airmeet = {"airmeet", get_airmeet},
                ah_kind_session = {"session", get_session},
                ah_kind_webhook = {"webhook", get_webhook}, ah_kind_event = {"event", get_event},
                ah_kind_delivery = {"delivery", get_delivery};

bool ah_path_id(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                const ah_kind_t *k, char id[AH_ID_SIZE])
{
    const char *p = req->n_params ? req->params[0] : "";
    if (ah_strlcpy(id, p, AH_ID_SIZE) || !ah_is_uuid(id)) {
        ah_error(resp, c->dialect, 404, "no %s with id '%.40s'", k->what, p);
        return false;
    }
    ah_lower(id);
    return true;
}

bool ah_found(const ah_call_t *c, ah_http_resp_t *resp, const ah_kind_t *k, const char *id, int rc)
{
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no %s with id %s", k->what, id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    return rc == AH_OK;
}

bool ah_fetch(const ah_call_t *c, ah_http_resp_t *resp, const ah_kind_t *k, const char *id,
              void *out)
{
    return ah_found(c, resp, k, id, k->get(c->app->store, id, out));
}

bool ah_get_by_id(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                  const ah_kind_t *k, char id[AH_ID_SIZE], void *out)
{
    return ah_path_id(c, req, resp, k, id) && ah_fetch(c, resp, k, id, out);
}

/* ---- webhooks ---- */

/* Sets o[key] = v; false (v released) when v is NULL or the set fails. */
static bool put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

json_t *ah_webhook_json(const ah_webhook_t *w, ah_webhook_view_t view)
{
    bool admin = view == AH_VIEW_ADMIN, scoped = view != AH_VIEW_LIST;
    json_t *o = json_object();
    if (!o)
        return NULL;
    /* Keys in the order each view has always had on the wire. */
    bool ok = put(o, "id", json_string(w->id));
    if (admin)
        ok &= put(o, "communityId", json_string(w->community_id));
    ok &= put(o, "triggerMetaInfoId", json_string(w->trigger)) &&
          put(o, "name", json_string(w->name)) &&
          put(o, "description", w->has_description ? json_string(w->description) : json_null()) &&
          put(o, "url", json_string(w->url)) &&
          put(o, "platformName", ah_json_str_or_null(w->platform_name));
    if (scoped)
        ok &= put(o, "airmeetId", ah_json_str_or_null(w->airmeet_id)) &&
              put(o, "sessionId", ah_json_str_or_null(w->session_id));
    ok &= put(o, "isActive", json_boolean(w->is_active));
    if (admin)
        ok &= put(o, "disabledReason", ah_json_str_or_null(w->disabled_reason));
    ok &= put(o, "metaData", json_string(w->meta_data)) &&
          put(o, "createdAt", ah_json_time(w->created_at)) &&
          put(o, "updatedAt", ah_json_time(w->updated_at)) &&
          put(o, "createdBy", json_string(w->created_by)) &&
          put(o, "updatedBy", w->has_updated_by ? json_string(w->updated_by) : json_null());
    if (admin)
        ok &= put(o, "deregisteredAt", ah_json_time(w->deregistered_at)) &&
              put(o, "failingSince", ah_json_time(w->failing_since));
    if (view == AH_VIEW_REGISTERED)
        ok &= put(o, "secret", json_string(w->secret));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/*
 * ---- writing a webhook's JSON without a tree ----
 *
 * A registration's answer and every row of a webhook-list body are the
 * same bytes json_dumps(ah_webhook_json(w, view), JSON_COMPACT) gives, but
 * building the tree and dumping it was a fifth of a registration's work
 * and most of a list's render.  This writes them straight into a blob,
 * escaping as jansson does (", \ and the C0 controls; \b \f \n \r \t by
 * name, the others as \u00XX with capital hex; '/' and non-ASCII as they
 * are) and refusing, as json_string() does, text that is not UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included).
 * tests/unit/test_list_share.c compares the two on hostile text.
 */

/* Length of the valid UTF-8 sequence at s (jansson's rules), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (n < 2)
        return n;
    uint32_t cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
        cp > 0x10FFFF)
        return 0;
    return n;
}

/* Appends s as a JSON string; false when out of memory or s is not UTF-8. */
static bool write_str(ah_blob_t **b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s, *run = p;
    if (!ah_blob_append(b, "\"", 1))
        return false;
    while (*p) {
        size_t n = utf8_len(p);
        if (!n)
            return false;
        if (n > 1 || (*p >= 0x20 && *p != '"' && *p != '\\')) {
            p += n;
            continue;
        }
        char esc[6] = {'\\', 0};
        size_t elen = 2;
        switch (*p) {
        case '"':
        case '\\':
            esc[1] = (char)*p;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            elen = 6;
        }
        if (!ah_blob_append(b, run, (size_t)(p - run)) || !ah_blob_append(b, esc, elen))
            return false;
        run = ++p;
    }
    return ah_blob_append(b, run, (size_t)(p - run)) && ah_blob_append(b, "\"", 1);
}

/* Appends ,"key": and then the value: a string, null for "" when or_null, or a time. */
static bool write_key(ah_blob_t **b, const char *key, bool first)
{
    return ah_blob_append(b, first ? "\"" : ",\"", first ? 1 : 2) &&
           ah_blob_append(b, key, strlen(key)) && ah_blob_append(b, "\":", 2);
}

static bool write_field(ah_blob_t **b, const char *key, const char *v, bool or_null)
{
    if (!write_key(b, key, false))
        return false;
    return or_null && !*v ? ah_blob_append(b, "null", 4) : write_str(b, v);
}

static bool write_time(ah_blob_t **b, const char *key, int64_t ms)
{
    char t[AH_TIME_SIZE];
    if (!write_key(b, key, false))
        return false;
    if (!ms)
        return ah_blob_append(b, "null", 4);
    ah_format_time(ms, t);
    return write_str(b, t);
}

bool ah_webhook_write(const ah_webhook_t *w, ah_webhook_view_t view, ah_blob_t **b)
{
    bool admin = view == AH_VIEW_ADMIN, scoped = view != AH_VIEW_LIST;
    /* Keys in ah_webhook_json's order. */
    bool ok = ah_blob_append(b, "{", 1) && write_key(b, "id", true) && write_str(b, w->id);
    if (admin)
        ok = ok && write_field(b, "communityId", w->community_id, false);
    ok =
        ok && write_field(b, "triggerMetaInfoId", w->trigger, false) &&
        write_field(b, "name", w->name, false) &&
        (w->has_description ? write_field(b, "description", w->description, false)
                            : write_key(b, "description", false) && ah_blob_append(b, "null", 4)) &&
        write_field(b, "url", w->url, false) &&
        write_field(b, "platformName", w->platform_name, true);
    if (scoped)
        ok = ok && write_field(b, "airmeetId", w->airmeet_id, true) &&
             write_field(b, "sessionId", w->session_id, true);
    ok = ok && write_key(b, "isActive", false) &&
         (w->is_active ? ah_blob_append(b, "true", 4) : ah_blob_append(b, "false", 5));
    if (admin)
        ok = ok && write_field(b, "disabledReason", w->disabled_reason, true);
    ok = ok && write_field(b, "metaData", w->meta_data, false) &&
         write_time(b, "createdAt", w->created_at) && write_time(b, "updatedAt", w->updated_at) &&
         write_field(b, "createdBy", w->created_by, false) &&
         (w->has_updated_by ? write_field(b, "updatedBy", w->updated_by, false)
                            : write_key(b, "updatedBy", false) && ah_blob_append(b, "null", 4));
    if (admin)
        ok = ok && write_time(b, "deregisteredAt", w->deregistered_at) &&
             write_time(b, "failingSince", w->failing_since);
    if (view == AH_VIEW_REGISTERED)
        ok = ok && write_field(b, "secret", w->secret, false);
    return ok && ah_blob_append(b, "}", 1);
}
