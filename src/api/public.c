/* SPDX-License-Identifier: MIT */
/*
 * public.c: the Airmeet platform-integration API (SPEC §3), under the base
 * path.  Integrators call it exactly as they call Airmeet's gateway.
 *
 * Credentials come in two kinds: a key pair in headers (x-access-key /
 * x-secret-key, or the X-Airmeet- spellings) for /auth, register,
 * deregister and sample-payload; and a token from POST /auth
 * (X-Airmeet-Access-Token) for webhook-list.  They are checked here
 * (ah_check_key_pair, ah_check_token) but called by the dispatcher, which
 * runs them when the route's row asks (.auth), counts failures against the
 * caller's address and answers 429 to an address with too many; a handler
 * below runs only for an authenticated caller, handed to it in c->caller.
 * Secrets and tokens are compared as SHA-256 hashes in constant time.
 *
 * Caches.  What a request looks up (its token or key pair, the airmeet and
 * session of its scope, the webhook list) is kept in the app's caches
 * (cache.h), tagged with the store's cache generations the dispatcher read
 * at the start of the request (c->gen).  The generations move, by database
 * triggers, with every committed change any process makes to what they
 * cover, so a hit is exactly what the store would have answered; the
 * clock-dependent part (token expiry) is checked on every request.  When
 * the generations cannot be read every lookup goes to the store, as
 * without caches.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "common/live.h"
#include "api/triggers.h"
#include "common/crypto.h"
#include "delivery/sign.h"
#include "delivery/ssrf.h"

/* ---- credentials (checked by dispatch.c before a handler runs) ---- */

static const char *header_either(const ah_http_req_t *req, const char *a, const char *b)
{
    const char *v = ah_http_header(req, a);
    return v ? v : ah_http_header(req, b);
}

/*
 * What an access key that matches no key pair is checked against: no
 * SHA-256 hex digest equals it (it is not hex), so no secret ever passes.
 */
static const char no_secret_hash[AH_SHA256_HEX_SIZE] =
    "not-a-key-pair--not-a-key-pair--not-a-key-pair--not-a-key-pair--";

/* The record of an access key that the store does not have: no id, and no_secret_hash. */
static void no_such_key(ah_access_key_t *key)
{
    memset(key, 0, sizeof *key);
    memcpy(key->secret_hash, no_secret_hash, sizeof key->secret_hash);
}

/*
 * access_key_find through the key cache, which also keeps the keys the
 * store does not have (as no_such_key records; an access-key insert moves
 * the auth generation): a known key with a wrong secret and an unknown
 * key take the same path, a cache hit after the first time, a store read
 * before it.  Only AH_OK or a store failure comes back.
 */
static int find_key(ah_app_t *app, const ah_cache_gen_t *gen, const char *access_key,
                    ah_access_key_t *key)
{
    size_t n = strlen(access_key);
    if (gen && ah_cache_get(app->key_cache, access_key, n, gen->auth, key, sizeof *key))
        return AH_OK;
    int rc = ah_store_access_key_find(app->store, access_key, key);
    if (rc == AH_ENOTFOUND) {
        no_such_key(key);
        rc = AH_OK;
    }
    if (rc == AH_OK && gen)
        ah_cache_put(app->key_cache, access_key, n, gen->auth, key, sizeof *key);
    return rc;
}

int ah_check_key_pair(ah_app_t *app, const ah_http_req_t *req, const ah_cache_gen_t *gen,
                      ah_caller_t *caller, char *why, size_t whylen)
{
    ah_access_key_t key;
    const char *ak = header_either(req, "X-Airmeet-Access-Key", "x-access-key");
    const char *sk = header_either(req, "X-Airmeet-Secret-Key", "x-secret-key");
    if (!ak || !sk || !*ak || !*sk) {
        snprintf(why, whylen, "missing header %s",
                 !ak || !*ak ? "x-access-key (or X-Airmeet-Access-Key)"
                             : "x-secret-key (or X-Airmeet-Secret-Key)");
        return 401;
    }
    /*
     * The same work whether the access key is known or not (an unknown one
     * is a record with no_secret_hash): one hash, one lookup, one compare
     * in constant time.  (No access key is as long as AH_ACCESS_KEY_MAX;
     * such a header is not looked up.)
     */
    char hash[AH_SHA256_HEX_SIZE];
    ah_sha256_hex(sk, strlen(sk), hash);
    int rc = AH_OK;
    if (strlen(ak) < AH_ACCESS_KEY_MAX)
        rc = find_key(app, gen, ak, &key);
    else
        no_such_key(&key);
    if (rc)
        return rc;
    bool match = ah_ct_equal(hash, key.secret_hash, AH_SHA256_HEX_SIZE - 1);
    if (!match || !key.id[0]) {
        snprintf(why, whylen, "the access key and secret key do not match any key pair");
        return 401;
    }
    if (key.revoked_at) {
        snprintf(why, whylen, "this access key has been revoked");
        return 403;
    }
    memcpy(caller->community_id, key.community_id, sizeof caller->community_id);
    memcpy(caller->key_id, key.id, sizeof caller->key_id);
    ah_strlcpy(caller->label, key.label, sizeof caller->label);
    return 0;
}

/* What a token check needs of a token, as the token cache keeps it. */
typedef struct token_entry {
    char key_id[AH_ID_SIZE];
    char community_id[AH_ID_SIZE];
    char label[AH_NAME_MAX];
    int64_t expires_at;
    bool key_revoked;
} token_entry_t;

/*
 * The token with this hash and whether its key is revoked, through the
 * token cache.  Expiry is the caller's to check, against the clock.
 */
static int find_token(ah_app_t *app, const ah_cache_gen_t *gen, const char *hash,
                      token_entry_t *out)
{
    const size_t n = AH_SHA256_HEX_SIZE - 1;
    if (gen && ah_cache_get(app->token_cache, hash, n, gen->auth, out, sizeof *out))
        return AH_OK;
    ah_token_t t;
    int rc = ah_store_token_find(app->store, hash, &t);
    if (rc == AH_OK && !ah_ct_equal(hash, t.token_hash, n))
        rc = AH_ENOTFOUND;
    if (rc)
        return rc;
    memset(out, 0, sizeof *out);
    memcpy(out->key_id, t.key_id, sizeof out->key_id);
    memcpy(out->community_id, t.community_id, sizeof out->community_id);
    memcpy(out->label, t.label, sizeof out->label);
    out->expires_at = t.expires_at;
    ah_access_key_t key;
    rc = ah_store_access_key_get(app->store, t.key_id, &key);
    if (rc != AH_OK && rc != AH_ENOTFOUND)
        return rc; /* unknown whether the key was revoked: not a pass */
    out->key_revoked = rc == AH_ENOTFOUND || key.revoked_at; /* a missing key is no key */
    if (gen)
        ah_cache_put(app->token_cache, hash, n, gen->auth, out, sizeof *out);
    return AH_OK;
}

int ah_check_token(ah_app_t *app, const ah_http_req_t *req, const ah_cache_gen_t *gen,
                   ah_caller_t *caller, char *why, size_t whylen)
{
    token_entry_t t;
    const char *tok = header_either(req, "X-Airmeet-Access-Token", "x-access-token");
    if (!tok || !*tok) {
        snprintf(why, whylen, "missing header X-Airmeet-Access-Token (get one from POST /auth)");
        return 400;
    }
    char hash[AH_SHA256_HEX_SIZE];
    ah_sha256_hex(tok, strlen(tok), hash);
    int rc = find_token(app, gen, hash, &t);
    if (rc == AH_ENOTFOUND) {
        snprintf(why, whylen, "the access token is not valid");
        return 400;
    }
    if (rc)
        return rc;
    if (ah_now_ms() >= t.expires_at) {
        snprintf(why, whylen, "the access token has expired; get a new one from POST /auth");
        return 412;
    }
    if (t.key_revoked) {
        snprintf(why, whylen, "the access key behind this token has been revoked");
        return 403;
    }
    memcpy(caller->community_id, t.community_id, sizeof caller->community_id);
    memcpy(caller->key_id, t.key_id, sizeof caller->key_id);
    ah_strlcpy(caller->label, t.label, sizeof caller->label);
    return 0;
}

static json_t *envelope(json_t *payload)
{
    return json_pack("{s:s, s:s, s:o}", "statusCode", "200", "statusMessage", "SUCCESS", "payload",
                     payload ? payload : json_null());
}

/* What a scope check needs of an airmeet or a session (airmeet_id "" for an airmeet). */
typedef struct scope_entry {
    char community_id[AH_ID_SIZE];
    char airmeet_id[AH_ID_SIZE];
} scope_entry_t;

/*
 * The owner of airmeet (kind 'a') or session (kind 's') id, through the
 * scope cache.
 */
static int find_scope(ah_app_t *app, const ah_cache_gen_t *gen, char kind, const char *id,
                      scope_entry_t *out)
{
    char key[1 + AH_ID_SIZE];
    key[0] = kind;
    size_t n = strnlen(id, AH_ID_SIZE - 1);
    memcpy(key + 1, id, n);
    if (gen && ah_cache_get(app->scope_cache, key, n + 1, gen->auth, out, sizeof *out))
        return AH_OK;
    memset(out, 0, sizeof *out);
    int rc;
    if (kind == 'a') {
        ah_airmeet_t a;
        rc = ah_store_airmeet_get(app->store, id, &a);
        if (rc == AH_OK)
            memcpy(out->community_id, a.community_id, sizeof out->community_id);
    } else {
        ah_session_t ss;
        rc = ah_store_session_get(app->store, id, &ss);
        if (rc == AH_OK) {
            memcpy(out->community_id, ss.community_id, sizeof out->community_id);
            memcpy(out->airmeet_id, ss.airmeet_id, sizeof out->airmeet_id);
        }
    }
    if (rc == AH_OK && gen)
        ah_cache_put(app->scope_cache, key, n + 1, gen->auth, out, sizeof *out);
    return rc;
}

/*
 * Checks the airmeetId/sessionId scope of a request against the store and
 * the caller's community.  Returns 0, an HTTP status with why filled, or
 * a negative store status (ah_reject answers either).
 */
int ah_check_scope(ah_app_t *app, const ah_cache_gen_t *gen, const char *community_id,
                   const char *airmeet_id, const char *session_id, char *why, size_t whylen)
{
    if (airmeet_id[0]) {
        scope_entry_t a;
        int rc = find_scope(app, gen, 'a', airmeet_id, &a);
        if (rc == AH_ENOTFOUND) {
            snprintf(why, whylen, "no airmeet with id %s", airmeet_id);
            return 404;
        }
        if (rc)
            return rc;
        if (strcmp(a.community_id, community_id) != 0) {
            snprintf(why, whylen, "airmeet %s belongs to another community", airmeet_id);
            return 401;
        }
    }
    if (session_id[0]) {
        scope_entry_t s;
        int rc = find_scope(app, gen, 's', session_id, &s);
        if (rc == AH_ENOTFOUND) {
            snprintf(why, whylen, "no session with id %s", session_id);
            return 404;
        }
        if (rc)
            return rc;
        if (strcmp(s.community_id, community_id) != 0) {
            snprintf(why, whylen, "session %s belongs to another community", session_id);
            return 401;
        }
        if (airmeet_id[0] && strcmp(s.airmeet_id, airmeet_id) != 0) {
            snprintf(why, whylen, "session %s is not part of airmeet %s", session_id, airmeet_id);
            return 400;
        }
    }
    return 0;
}

/* Reads ?airmeetId= and ?sessionId= as ids.  Returns 0 or 400 with why. */
static int scope_query(const ah_http_req_t *req, char *airmeet_id, char *session_id, char *why,
                       size_t whylen)
{
    const char *a = ah_http_query(req, "airmeetId");
    const char *s = ah_http_query(req, "sessionId");
    airmeet_id[0] = session_id[0] = '\0';
    if ((a && ah_strlcpy(airmeet_id, a, AH_ID_SIZE)) || (a && !*a)) {
        snprintf(why, whylen, "airmeetId must be a UUID");
        return 400;
    }
    if ((s && ah_strlcpy(session_id, s, AH_ID_SIZE)) || (s && !*s)) {
        snprintf(why, whylen, "sessionId must be a UUID");
        return 400;
    }
    if (ah_check_id("airmeetId", airmeet_id, false, why, whylen) ||
        ah_check_id("sessionId", session_id, false, why, whylen))
        return 400;
    return 0;
}

int ah_check_trigger_open(const ah_catalog_t *cat, const char *id, const ah_catalog_trigger_t **out,
                          char *why, size_t whylen)
{
    const ah_catalog_trigger_t *t = ah_catalog_find(cat, id);
    if (!t || (t->builtin && t->retired)) {
        snprintf(why, whylen,
                 "unknown triggerMetaInfoId '%.64s'; GET sample-payload lists none for it, "
                 "see the trigger catalog",
                 id);
        return 400;
    }
    if (t->retired) {
        snprintf(why, whylen, "trigger %s is retired: it takes no new registrations", t->id);
        return 400;
    }
    *out = t;
    return 0;
}

/* Validates the trigger's airmeet/session rules (SPEC §4). */
int ah_check_trigger_scope(const ah_catalog_trigger_t *t, const char *airmeet_id,
                           const char *session_id, char *why, size_t whylen)
{
    if (session_id[0] && !airmeet_id[0]) {
        snprintf(why, whylen, "sessionId needs airmeetId as well");
        return 400;
    }
    if (t->airmeet == AH_SCOPE_REQUIRED && !airmeet_id[0]) {
        snprintf(why, whylen, "trigger %s needs the query parameter airmeetId", t->id);
        return 400;
    }
    if (t->airmeet == AH_SCOPE_NONE && airmeet_id[0]) {
        snprintf(why, whylen, "trigger %s does not take an airmeetId", t->id);
        return 400;
    }
    if (t->session == AH_SCOPE_REQUIRED && !session_id[0]) {
        snprintf(why, whylen, "trigger %s needs the query parameter sessionId", t->id);
        return 400;
    }
    if (t->session == AH_SCOPE_NONE && session_id[0]) {
        snprintf(why, whylen, "trigger %s does not take a sessionId", t->id);
        return 400;
    }
    return 0;
}

/* Fills w from the register body.  Returns 0 or 400 with why. */
static int read_register_body(json_t *body, ah_webhook_t *w, char *why, size_t whylen)
{
    int r;
    if (ah_get_str(body, "triggerMetaInfoId", w->trigger, sizeof w->trigger, why, whylen) < 0 ||
        ah_get_str(body, "url", w->url, sizeof w->url, why, whylen) < 0 ||
        ah_get_str(body, "name", w->name, sizeof w->name, why, whylen) < 0 ||
        ah_get_str(body, "platformName", w->platform_name, sizeof w->platform_name, why, whylen) <
            0)
        return 400;
    r = ah_get_str(body, "description", w->description, sizeof w->description, why, whylen);
    if (r < 0)
        return 400;
    w->has_description = r == 1;
    if (!w->trigger[0]) {
        snprintf(why, whylen, "field 'triggerMetaInfoId' is required");
        return 400;
    }
    if (!w->url[0]) {
        snprintf(why, whylen, "field 'url' is required");
        return 400;
    }
    /* Listener webhooks are made by POST /airhook/v1/listeners only (listen.c). */
    if (!strncmp(w->url, AH_LISTEN_SCHEME, sizeof AH_LISTEN_SCHEME - 1)) {
        snprintf(why, whylen, "url must be http or https; listen: URLs belong to airhook listen");
        return 400;
    }
    return 0;
}

/* ---- handlers ---- */

/* POST /auth: a token for the caller's key pair (the dispatcher checked it). */
void ah_h_auth(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_app_t *app = c->app;
    const ah_caller_t *who = &c->caller;
    ah_token_t t;
    memset(&t, 0, sizeof t);
    char token[80];
    ah_random_hex("aht_", 32, token, sizeof token);
    ah_sha256_hex(token, strlen(token), t.token_hash);
    memcpy(t.key_id, who->key_id, sizeof t.key_id);
    memcpy(t.community_id, who->community_id, sizeof t.community_id);
    memcpy(t.label, who->label, sizeof t.label);
    t.created_at = ah_now_ms();
    t.expires_at = t.created_at + app->cfg.token_ttl_ms;
    int rc = ah_store_token_create(app->store, &t);
    /* Expired tokens are useless rows: sweep them now and then. */
    static _Atomic unsigned issued;
    if (rc == AH_OK && atomic_fetch_add(&issued, 1) % 256 == 0)
        ah_store_token_purge(app->store, t.created_at, NULL);
    if (rc) {
        ah_error(resp, c->dialect, ah_store_status(resp, rc),
                 "could not issue a token; retry shortly");
        return;
    }
    ah_http_resp_json(resp, 200,
                      json_pack("{s:b, s:s, s:s, s:o, s:{s:s, s:s}}", "success", 1, "label",
                                who->label, "token", token, "expiresAt", ah_json_time(t.expires_at),
                                "data", "label", who->label, "token", token));
}

/* ---- quotas (quota.c) ---- */

/* How the operator changes a quota (its serve setting is the %s), for the sentences naming one. */
#define QUOTA_HOW "the operator sets it with --%s, or PATCH /admin/v1/communities/{id}/quotas"

bool ah_registration_allowed(const ah_call_t *c, const ah_quota_t *q, ah_http_resp_t *resp)
{
    int64_t wait_s = 0;
    int64_t limit = q->v[AH_QUOTA_REGISTER_RATE];
    if (ah_ratelimit_take(c->app->register_limiter, c->caller.key_id, (unsigned)limit, ah_now_ms(),
                          &wait_s))
        return true;
    snprintf(resp->retry_after, sizeof resp->retry_after, "%lld", (long long)wait_s);
    ah_error(resp, c->dialect, 429,
             "too many registrations with this access key: at most %lld a minute (quota "
             "registrationsPerMinute; " QUOTA_HOW "); retry in %lld s",
             (long long)limit, ah_quota_names[AH_QUOTA_REGISTER_RATE].setting, (long long)wait_s);
    return false;
}

/* The fields a community's quotas bound, and which bounds each. */
static const struct {
    ah_quota_kind_t kind;
    const char *field;
    size_t offset;
} quota_fields[] = {
    {AH_QUOTA_URL_BYTES, "url", offsetof(ah_webhook_t, url)},
    {AH_QUOTA_NAME_BYTES, "name", offsetof(ah_webhook_t, name)},
    {AH_QUOTA_NAME_BYTES, "platformName", offsetof(ah_webhook_t, platform_name)},
    {AH_QUOTA_DESCRIPTION_BYTES, "description", offsetof(ah_webhook_t, description)},
};

/* Checks w's fields (as given) against the community's quotas.  Returns 0 or 400 with why. */
static int check_field_quotas(const ah_webhook_t *w, const ah_quota_t *q, char *why, size_t whylen)
{
    for (size_t i = 0; i < AH_ARRAY_LEN(quota_fields); i++) {
        ah_quota_kind_t k = quota_fields[i].kind;
        size_t len = strlen((const char *)w + quota_fields[i].offset);
        if ((int64_t)len <= q->v[k])
            continue;
        snprintf(why, whylen,
                 "field '%s' is %zu bytes, over this community's quota of %lld (%s; " QUOTA_HOW ")",
                 quota_fields[i].field, len, (long long)q->v[k], ah_quota_names[k].json,
                 ah_quota_names[k].setting);
        return 400;
    }
    return 0;
}

/* Answers 200 with the envelope of w as a registration shows it. */
static void registered(ah_dialect_t dialect, const ah_webhook_t *w, ah_http_resp_t *resp)
{
    static const char head[] = "{\"statusCode\":\"200\",\"statusMessage\":\"SUCCESS\",\"payload\":";
    ah_blob_t *b = NULL;
    if (ah_blob_append(&b, head, sizeof head - 1) && ah_webhook_write(w, AH_VIEW_REGISTERED, &b) &&
        ah_blob_append(&b, "}", 1)) {
        ah_http_resp_shared(resp, 200, b->data, b->len, ah_blob_release, b);
        return;
    }
    ah_blob_release(b);
    ah_store_error(resp, dialect, AH_ENOMEM);
}

/* A registration in flight: what its answer needs once the store is done. */
typedef struct reg_ctx {
    ah_dialect_t dialect; /* the route's (the call is gone when the store answers) */
    ah_http_resp_t *resp;
    ah_http_pending_t *pending; /* NULL: answered in the handler */
    int64_t max_webhooks;       /* the quota that applied */
    const char *base_path;      /* the app's, for Location */
    ah_webhook_t w;             /* what to register, and then what is registered */
} reg_ctx_t;

/*
 * Writes the answer to a registration the store has finished and frees r
 * (webhook_register_async's callback, on the store's thread, or called
 * directly).
 */
static void reg_answer(void *arg, int rc)
{
    reg_ctx_t *r = arg;
    if (rc == AH_ETOOBIG)
        ah_error(
            r->resp, r->dialect, 409,
            "this community has reached its quota of %lld active webhooks (maxWebhooks; " QUOTA_HOW
            "); deregister one before registering another",
            (long long)r->max_webhooks, ah_quota_names[AH_QUOTA_WEBHOOKS].setting);
    else if (rc)
        ah_store_error(r->resp, r->dialect, rc);
    else
        registered(r->dialect, &r->w, r->resp);
    /*
     * Where the registration is undone: Power Automate and Logic Apps keep a
     * webhook trigger's Location and send DELETE there when the flow's
     * trigger goes away.  A path-absolute reference (RFC 9110 §10.2.2),
     * resolved against the request's own URL, so it is right behind any
     * proxy that keeps paths; it names the webhook, which a bare DELETE
     * cannot.
     */
    if (!rc) {
        int n = snprintf(r->resp->location, sizeof r->resp->location,
                         "%s/platform-integration/v1/webhook-deregister?id=%s",
                         r->base_path ? r->base_path : "", r->w.id);
        if (n < 0 || (size_t)n >= sizeof r->resp->location)
            r->resp->location[0] = '\0';
    }
    ah_http_pending_t *pending = r->pending;
    free(r);
    if (pending)
        ah_http_resume(pending);
}

void ah_h_webhook_register(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = c->app;
    const ah_caller_t *who = &c->caller;
    char why[AH_WHY_SIZE];
    int status;
    ah_quota_t q;
    int rc = ah_quota_effective(app, c->gen, who->community_id, &q);
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    if (!ah_registration_allowed(c, &q, resp))
        return;
    json_t *body = ah_parse_body(req, true, why, sizeof why);
    if (!body) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return;
    }
    reg_ctx_t *r = calloc(1, sizeof *r); /* ~7 KiB: off the stack; the store's answer too */
    if (!r) {
        json_decref(body);
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_webhook_t *w = &r->w;
    const ah_catalog_trigger_t *t = NULL;
    ah_catalog_t *cat = NULL;
    if ((status = read_register_body(body, w, why, sizeof why)) ||
        (status = check_field_quotas(w, &q, why, sizeof why)))
        goto fail;
    if (!(cat = ah_catalog_acquire(app->catalog, app->store, c->gen, &status)))
        goto fail; /* a store status: ah_reject answers 503/500 */
    if ((status = ah_check_trigger_open(cat, w->trigger, &t, why, sizeof why)))
        goto fail;
    if (!ah_netguard_check_url(app->guard, w->url, why, sizeof why)) {
        status = 400;
        goto fail;
    }
    if ((status = scope_query(req, w->airmeet_id, w->session_id, why, sizeof why)) ||
        (status = ah_check_trigger_scope(t, w->airmeet_id, w->session_id, why, sizeof why)) ||
        (status = ah_check_scope(app, c->gen, who->community_id, w->airmeet_id, w->session_id, why,
                                 sizeof why)))
        goto fail;
    if (!w->name[0])
        ah_strlcpy(w->name, t->id, sizeof w->name);
    ah_catalog_release(cat);
    cat = NULL;
    ah_uuid_v4(w->id);
    memcpy(w->community_id, who->community_id, sizeof w->community_id);
    w->is_active = true;
    w->created_at = w->updated_at = ah_now_ms();
    memcpy(w->created_by, who->label, sizeof w->created_by);
    memcpy(w->updated_by, who->label, sizeof w->updated_by);
    w->has_updated_by = true;
    ah_signing_secret_new(w->secret, sizeof w->secret);
    json_decref(body);
    r->dialect = c->dialect;
    r->resp = resp;
    r->max_webhooks = q.v[AH_QUOTA_WEBHOOKS];
    r->base_path = app->cfg.base_path;
    /* As a publish does: wait without a listener thread while the batch commits. */
    if (ah_store_registers_async(app->store) && (r->pending = ah_http_suspend(req))) {
        ah_store_webhook_register_async(app->store, w, r->max_webhooks, w, NULL, reg_answer, r);
        return;
    }
    reg_answer(r, ah_store_webhook_register_within(app->store, w, r->max_webhooks, w, NULL));
    return;
fail:
    ah_catalog_release(cat);
    ah_reject(resp, c->dialect, status, why);
    json_decref(body);
    free(r);
}

void ah_h_webhook_deregister(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    ah_app_t *app = c->app;
    const ah_caller_t *who = &c->caller;
    char why[AH_WHY_SIZE], id[AH_ID_SIZE] = "", trigger[AH_TRIGGER_MAX] = "", url[AH_URL_MAX] = "";
    json_t *body = NULL;
    ah_webhook_t *w = NULL;
    bool is_delete = !strcmp(req->method, "DELETE");
    const char *qid = ah_http_query(req, "id");
    if (!is_delete || req->body_len) {
        if (!(body = ah_parse_body(req, !is_delete, why, sizeof why)))
            goto bad;
        if (ah_get_str(body, "id", id, sizeof id, why, sizeof why) < 0 ||
            ah_get_str(body, "triggerMetaInfoId", trigger, sizeof trigger, why, sizeof why) < 0 ||
            ah_get_str(body, "url", url, sizeof url, why, sizeof why) < 0) {
            if (!strstr(why, "'id'"))
                goto bad;
            snprintf(why, sizeof why, "id must be a UUID");
            goto bad;
        }
    }
    if (!id[0] && qid && ah_strlcpy(id, qid, sizeof id)) {
        snprintf(why, sizeof why, "id must be a UUID");
        goto bad;
    }
    if (ah_check_id("id", id, true, why, sizeof why))
        goto bad;
    if (!(w = malloc(sizeof *w))) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        goto done;
    }
    int rc = ah_store_webhook_get(app->store, id, w);
    if (rc == AH_ENOTFOUND ||
        (!rc && (strcmp(w->community_id, who->community_id) != 0 || w->deregistered_at))) {
        ah_error(resp, c->dialect, 404, "no webhook registration with id %s", id);
        goto done;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto done;
    }
    if (trigger[0] && strcmp(trigger, w->trigger) != 0) {
        snprintf(why, sizeof why, "triggerMetaInfoId does not match registration %s", id);
        goto bad;
    }
    if (url[0] && strcmp(url, w->url) != 0) {
        snprintf(why, sizeof why, "url does not match registration %s", id);
        goto bad;
    }
    rc = ah_store_webhook_deregister(app->store, id, who->label, ah_now_ms());
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no webhook registration with id %s", id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else {
        ah_live_webhook(w->community_id, id, w->trigger, "deregistered",
                        "deregistered by the integrator");
        ah_http_resp_json(resp, 200,
                          json_pack("{s:s, s:s}", "statusCode", "200", "statusMessage", "SUCCESS"));
    }
    goto done;
bad:
    ah_error(resp, c->dialect, 400, "%s", why);
done:
    free(w);
    json_decref(body);
}

void ah_h_sample_payload(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    const char *id = ah_http_query(req, "triggerMetaInfoId");
    if (!id || !*id) {
        ah_error(resp, c->dialect, 400, "query parameter triggerMetaInfoId is required");
        return;
    }
    int rc;
    ah_catalog_t *cat = ah_catalog_acquire(c->app->catalog, c->app->store, c->gen, &rc);
    if (!cat) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    const ah_catalog_trigger_t *t = ah_catalog_find(cat, id);
    if (!t || (t->builtin && t->retired))
        ah_error(resp, c->dialect, 400, "unknown triggerMetaInfoId '%.64s'", id);
    else if (t->retired)
        ah_error(resp, c->dialect, 400, "trigger %s is retired", t->id);
    else
        ah_http_resp_json(resp, 200, envelope(ah_catalog_sample(t)));
    ah_catalog_release(cat);
}

/*
 * The catalog an integrator registers from (GET {base}/airhook/v1/triggers,
 * airhook's own): every trigger in use, with when it fires, its scope
 * rules and its sample payload, in the catalog's order.  The console's
 * Triggers page reads it.
 */
void ah_h_trigger_catalog(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    int rc;
    ah_catalog_t *cat = ah_catalog_acquire(c->app->catalog, c->app->store, c->gen, &rc);
    if (!cat) {
        ah_store_error(resp, c->dialect, rc);
        return;
    }
    size_t n;
    const ah_catalog_trigger_t *all = ah_catalog_all(cat, &n);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const ah_catalog_trigger_t *t = &all[i];
        if (t->retired)
            continue;
        json_t *sample = ah_catalog_sample(t);
        json_t *j = sample ? json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", t->id, "description",
                                       t->description ? t->description : "", "airmeetId",
                                       ah_scope_name(t->airmeet), "sessionId",
                                       ah_scope_name(t->session), "samplePayload", sample)
                           : NULL;
        arr = ah_append_or_drop(arr, j);
    }
    ah_catalog_release(cat);
    json_t *body = arr ? json_pack("{s:o}", "triggers", arr) : NULL;
    if (!body) {
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_http_resp_json(resp, 200, body);
}

/*
 * ---- webhook-list ----
 *
 * The body is rendered row by row from the store (ah_store_webhook_each_active
 * hands over one webhook at a time) into a blob, each row written as
 * jansson would have serialised it inside the whole list (ah_webhook_write),
 * so the bytes are Airmeet's shape exactly as before; no array of records
 * nor JSON tree is ever held.  Its size is bounded by the community's quotas
 * (count times field lengths).
 *
 * Unpaged, the blob is shared: the list cache keeps one per (community,
 * airmeet, session) at the webhooks generation, and every answer sends it
 * by reference (ah_http_resp_shared).  On a miss the request is suspended
 * (it holds no listener thread) and the render runs on the app's renderer
 * thread; requests that miss the same list meanwhile queue on that one
 * render (ah_cache_get_async) and are all answered when it lands.  So a
 * stale cache costs one render however many callers, and no listener
 * thread waits for a render while /healthz and other requests queue
 * behind it.  A page (airhook.limit / airhook.cursor, airhook's own
 * parameters) is rendered for its caller alone, on the same thread: it
 * costs its limit, not the community.  Where a request cannot wait
 * suspended (no listener: unit tests, fuzzers; or the listener is
 * stopping) the render runs in the handler, blocking on a concurrent one.
 */

#define LIST_HEAD "{\"webhookDTOList\":["
#define LIST_PAGE_DEFAULT 100

typedef struct list_job {
    ah_app_t *app;
    ah_dialect_t dialect;
    char community_id[AH_ID_SIZE];
    char airmeet_id[AH_ID_SIZE];
    char session_id[AH_ID_SIZE];
    char cursor[AH_CURSOR_SIZE];
    size_t limit;
    bool paged;
    ah_cache_flight_t *flight; /* an unpaged render: the flight it lands */
    ah_http_resp_t *resp;      /* a page's one caller */
    ah_http_pending_t *pending;
    size_t n;     /* rows rendered */
    ah_blob_t *b; /* the body being built */
} list_job_t;

/* A request waiting for an unpaged list, queued on its render. */
typedef struct list_wait {
    ah_http_resp_t *resp;
    ah_http_pending_t *pending;
    ah_dialect_t dialect;
} list_wait_t;

static bool append(ah_blob_t **b, const char *text)
{
    return ah_blob_append(b, text, strlen(text));
}

/* One webhook, as an element of the list. */
static int render_row(void *arg, const ah_webhook_t *w)
{
    list_job_t *j = arg;
    bool ok = (!j->n || append(&j->b, ",")) && ah_webhook_write(w, AH_VIEW_LIST, &j->b);
    j->n++;
    return ok ? AH_OK : AH_ENOMEM;
}

/* Builds the body of j's list (or page) into *out (NULL on failure). */
static int render_list(void *arg, ah_blob_t **out)
{
    list_job_t *j = arg;
    ah_webhook_query_t q = {j->community_id, j->airmeet_id, j->session_id, j->cursor, j->limit};
    char next[AH_CURSOR_SIZE] = "";
    j->n = 0;
    j->b = NULL;
    int rc = append(&j->b, LIST_HEAD) ? AH_OK : AH_ENOMEM;
    if (rc == AH_OK)
        rc = ah_store_webhook_each_active(j->app->store, &q, render_row, j, next);
    if (rc == AH_OK && !append(&j->b, "]"))
        rc = AH_ENOMEM;
    if (rc == AH_OK && j->paged &&
        !(append(&j->b, ",\"airhook\":{\"nextCursor\":") &&
          (next[0] ? append(&j->b, "\"") && append(&j->b, next) && append(&j->b, "\"")
                   : append(&j->b, "null")) &&
          append(&j->b, "}")))
        rc = AH_ENOMEM;
    if (rc == AH_OK && !append(&j->b, "}"))
        rc = AH_ENOMEM;
    if (rc) {
        ah_blob_release(j->b);
        j->b = NULL;
    }
    *out = j->b;
    return rc;
}

/* Answers with a rendered list (b, a reference the answer takes over) or rc's error. */
static void answer_list(ah_http_resp_t *resp, ah_dialect_t d, ah_blob_t *b, int rc)
{
    if (rc == AH_EINVAL) { /* the one argument the store refuses: the cursor */
        ah_blob_release(b);
        ah_error(resp, d, 400,
                 "airhook.cursor is not a cursor this server returned (use the nextCursor of "
                 "the page before)");
    } else if (rc || !b) {
        ah_blob_release(b);
        ah_store_error(resp, d, rc ? rc : AH_ENOMEM);
    } else {
        ah_http_resp_shared(resp, 200, b->data, b->len, ah_blob_release, b);
    }
}

/* An unpaged list's render landed: answer one queued request (ah_blob_fn). */
static void list_landed(void *arg, ah_blob_t *b, int rc)
{
    list_wait_t *w = arg;
    answer_list(w->resp, w->dialect, b, rc);
    ah_http_pending_t *pending = w->pending;
    free(w);
    if (pending)
        ah_http_resume(pending);
}

/* The renderer's job: an unpaged list, landed on its flight, or a page, answered. */
static void render_job(void *arg)
{
    list_job_t *j = arg;
    ah_blob_t *b = NULL;
    int rc = render_list(j, &b);
    if (j->flight) {
        ah_cache_land(j->app->list_cache, j->flight, b, rc);
        ah_blob_release(b);
    } else {
        answer_list(j->resp, j->dialect, b, rc);
        if (j->pending)
            ah_http_resume(j->pending);
    }
    free(j);
}

/* Runs j on the renderer, or here when the renderer cannot take it. */
static void render_later(list_job_t *j)
{
    if (!ah_worker_post(j->app->renderer, render_job, j))
        render_job(j);
}

/*
 * Reads airhook's paging parameters into j: airhook.limit (1 to
 * AH_WEBHOOK_PAGE_MAX) and airhook.cursor (a nextCursor of an earlier
 * page).  Either one asks for a page.  Returns 0 or 400 with why.
 */
static int page_query(const ah_http_req_t *req, list_job_t *j, char *why, size_t whylen)
{
    const char *limit = ah_http_query(req, "airhook.limit");
    const char *cursor = ah_http_query(req, "airhook.cursor");
    j->paged = limit || cursor;
    if (!j->paged)
        return 0;
    int64_t n = LIST_PAGE_DEFAULT;
    if (limit && ah_parse_i64(limit, 1, AH_WEBHOOK_PAGE_MAX, &n) != AH_OK) {
        snprintf(why, whylen, "airhook.limit must be a number from 1 to %d", AH_WEBHOOK_PAGE_MAX);
        return 400;
    }
    j->limit = (size_t)n;
    if (cursor && ah_strlcpy(j->cursor, cursor, sizeof j->cursor)) {
        snprintf(why, whylen, "airhook.cursor is not a cursor this server returned");
        return 400;
    }
    return 0;
}

/* A copy of j on the heap, for work that outlives the handler; NULL when out of memory. */
static list_job_t *job_copy(const list_job_t *j)
{
    list_job_t *copy = malloc(sizeof *copy);
    if (copy)
        *copy = *j;
    return copy;
}

/* The unpaged list for j's scope, through the list cache. */
static void cached_list(ah_call_t *c, ah_http_req_t *req, list_job_t *j, ah_http_resp_t *resp)
{
    char key[3 * AH_ID_SIZE];
    int klen = snprintf(key, sizeof key, "%s/%s/%s", j->community_id, j->airmeet_id, j->session_id);
    ah_cache_t *cache = c->app->list_cache;
    int64_t gen = c->gen->webhooks;
    ah_blob_t *b = ah_cache_get_blob(cache, key, (size_t)klen, gen);
    ah_http_pending_t *pending = b ? NULL : ah_http_suspend(req);
    list_wait_t *w = pending ? malloc(sizeof *w) : NULL;
    list_job_t *later = w ? job_copy(j) : NULL;
    if (b || !later) {
        /* A hit; or the request cannot wait suspended: render (or wait) here. */
        int rc = 0;
        if (!b)
            b = ah_cache_get_or_build(cache, key, (size_t)klen, gen, render_list, j, &rc);
        answer_list(resp, c->dialect, b, rc);
        free(w);
        if (pending)
            ah_http_resume(pending);
        return;
    }
    *w = (list_wait_t){resp, pending, c->dialect};
    if (ah_cache_get_async(cache, key, (size_t)klen, gen, list_landed, w, &later->flight) ==
        AH_CACHE_BUILD)
        render_later(later); /* answers w, and every request queued meanwhile */
    else
        free(later);
}

void ah_h_webhook_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    const char *community_id = c->caller.community_id;
    char why[AH_WHY_SIZE];
    int status;
    list_job_t j; /* on the stack: a cached list (the common case) needs no other */
    j.app = c->app;
    j.dialect = c->dialect;
    j.cursor[0] = '\0';
    j.limit = 0;
    j.flight = NULL;
    j.resp = resp;
    j.pending = NULL;
    memcpy(j.community_id, community_id, sizeof j.community_id);
    if ((status = scope_query(req, j.airmeet_id, j.session_id, why, sizeof why)) ||
        (status = page_query(req, &j, why, sizeof why)) ||
        (status = ah_check_scope(c->app, c->gen, community_id, j.airmeet_id, j.session_id, why,
                                 sizeof why))) {
        ah_reject(resp, c->dialect, status, why);
        return;
    }
    if (!j.paged && c->gen) {
        cached_list(c, req, &j, resp);
        return;
    }
    /* A page, or no generation to cache under: rendered for this request alone. */
    list_job_t *later = NULL;
    if ((j.pending = ah_http_suspend(req)) && (later = job_copy(&j))) {
        render_later(later);
        return;
    }
    ah_blob_t *b = NULL;
    int rc = render_list(&j, &b);
    answer_list(resp, c->dialect, b, rc);
    if (j.pending)
        ah_http_resume(j.pending);
}
