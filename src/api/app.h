/* SPDX-License-Identifier: MIT */
/*
 * app.h: the application behind the HTTP listener: configuration, the store,
 * and the handlers of the public API (public.c), the admin API (admin.c,
 * deliveries.c, events.c) and the operations endpoints (ops.c).  dispatch.c
 * routes requests to them and does what every request shares: 404/405/413,
 * the route's policy (who may call, rate limiting, the error dialect),
 * metrics and the log line.  A handler runs only after its route's policy
 * has passed, and is handed who is calling (ah_call_t).
 */
#ifndef AH_APP_H
#define AH_APP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/cache.h"
#include "api/catalog.h"
#include "api/ratelimit.h"
#include "api/worker.h"
#include "delivery/dispatcher.h"
#include "delivery/listener.h"
#include "delivery/retention.h"
#include "http/http.h"
#include "http/router.h"
#include "store/store.h"

#define AH_BODY_LIMIT (64 * 1024)
#define AH_EVENT_BODY_LIMIT (1024 * 1024)

typedef struct ah_config {
    const char *listen;
    const char *db;
    const char *admin_token;  /* NULL: generated at first start and stored */
    const char *base_path;    /* "/prod" */
    const char *region;       /* "mumbai" | "eu" | "us" */
    int64_t token_ttl_ms;     /* 30 days by default */
    int64_t retention_ms;     /* final events are removed this long after; 0 = never */
    unsigned auth_fail_limit; /* failed auths per address per minute; 0 = off */
    int64_t
        listener_timeout_ms; /* `airhook listen`: a listener without a stream is removed after */
    unsigned threads;
    bool demo;
    bool serve_api;           /* --role api|all: public and admin API */
    bool run_delivery;        /* --role worker|all: the dispatcher */
    bool trust_forwarded_for; /* behind a proxy: the client is X-Forwarded-For's last hop */
    bool ui;                  /* the web console and its sign-in (console.c, ui.c) */
    const char *public_url;   /* "https://airhook.example.com": where browsers reach us; or NULL */
    /*
     * The quotas of a community that has none of its own (ah_quota_kind_t;
     * the register rate 0 = no limit).  All zero, as a configuration that
     * does not mention them has: no quota beyond the field caps.
     */
    unsigned quota[AH_QUOTA_COUNT];
} ah_config_t;

typedef struct ah_app {
    ah_config_t cfg;
    ah_store_t *store;
    char admin_token_hash[AH_SHA256_HEX_SIZE];
    ah_ratelimit_t *auth_limiter;     /* public API: key pairs and tokens */
    ah_ratelimit_t *admin_limiter;    /* admin API: the bearer token */
    ah_ratelimit_t *register_limiter; /* per access key: registrations (quota), webhook tests */
    int64_t started_ms;
    ah_dispatcher_t *dispatcher; /* NULL in an API-only process: wakes are no-ops */
    ah_listen_hub_t *listen_hub; /* `airhook listen`'s listeners (listener.h); NULL: none */
    ah_retention_t *retention;   /* the purge (retention.h); NULL with --retention 0 */
    const ah_netguard_t *guard;  /* NULL: registration does not pre-check targets */
    /* The public API's caches (public.c; cache.h); a NULL one is simply off. */
    ah_cache_t *token_cache;      /* token hash -> key, community, expiry, key revoked */
    ah_cache_t *key_cache;        /* access key -> its record */
    ah_cache_t *scope_cache;      /* airmeet / session id -> community (and airmeet) */
    ah_cache_t *quota_cache;      /* community -> its own quotas */
    ah_cache_t *list_cache;       /* community, airmeet, session -> webhook-list body (a blob) */
    ah_worker_t *renderer;        /* renders webhook-list bodies while their requests wait */
    ah_catalog_holder_t *catalog; /* the trigger catalog's latest snapshot (catalog.h) */
    struct ah_live_hub *live_hub; /* the live tail's subscribers (live.c) */
} ah_app_t;

/*
 * Sets up app over an open store (not owned).  Resolves the admin token: the
 * configured one, else the stored hash, else a new token, which is written
 * into new_token (size >= 80) so the caller can print it once; new_token is ""
 * otherwise.
 */
int ah_app_init(ah_app_t *app, const ah_config_t *cfg, ah_store_t *store, char *new_token,
                size_t new_token_sz, char *err, size_t errlen);
void ah_app_free(ah_app_t *app);
/* The listener callbacks for app. */
ah_http_app_t ah_app_http(ah_app_t *app);

/*
 * Seeds a demo community, key pair, airmeet and session; prints them to
 * stdout with an export line for the client commands: the public API's
 * variables, AIRHOOK_SERVER (base_url) and AIRHOOK_ADMIN_TOKEN, whose value
 * is admin_token_word as given (a shell word: the token, quoted, or a
 * "$(cat FILE)"), or a placeholder and a note when it is NULL.
 */
int ah_app_seed_demo(ah_app_t *app, const char *base_url, const char *admin_token_word);

/* ---- routes and who is calling (dispatch.c) ---- */

/* A table of routes and where it is mounted. */
typedef struct ah_route_table {
    const char *name;   /* "public", "admin", "ops" */
    const char *prefix; /* "/admin/v1"; NULL: the configured base path; "": everything else */
    const ah_route_t *routes;
    size_t n;
    ah_dialect_t dialect; /* of the 404, 405 and 431 answers under the prefix */
    bool api;             /* served only by nodes that serve the API (--role api|all) */
} ah_route_table_t;

/* The app's route tables, read-only (tests walk them); *n receives how many. */
const ah_route_table_t *ah_app_route_tables(size_t *n);

/*
 * Who is calling, as the route's policy established before the handler
 * ran: the key pair's (or the token's) community, access key id and label.
 * Empty for routes whose policy is "none" or "admin".
 */
typedef struct ah_caller {
    char community_id[AH_ID_SIZE];
    char key_id[AH_ID_SIZE];
    char label[AH_NAME_MAX];
} ah_caller_t;

/*
 * What a handler is handed with the request and the response.  dispatch.c
 * fills it once the route's policy has passed; it lives for the handler's
 * call only (work that outlives it, such as a suspended publish, copies
 * what it needs).
 */
typedef struct ah_call {
    ah_app_t *app;
    const ah_route_t *route;
    ah_dialect_t dialect; /* the route's: the shape of every error the handler answers */
    ah_caller_t caller;
    /*
     * Key-pair and token routes: the store's cache generations, read once
     * for this request before the credentials were checked; every cache
     * lookup of the request uses them (public.c, "Caches").  NULL: none
     * could be read, or the route has no caller; look up in the store.
     */
    const ah_cache_gen_t *gen;
    ah_cache_gen_t gen_buf; /* what gen points at */
    /*
     * The web console's session the request came with (console.c), when
     * its cookie stood in for the route's credentials; NULL otherwise.
     */
    const ah_console_session_t *session;
    ah_console_session_t session_buf; /* what session points at */
} ah_call_t;

/*
 * The public API's credentials (public.c), checked by the dispatcher when a
 * route's policy asks for them; cache lookups use gen (NULL: the store).
 * Each returns 0 with *caller filled, a positive HTTP status with a
 * sentence in why, or a negative store status.  Key pair: 401 a header is
 * missing or the pair is wrong, 403 the key is revoked.  Token: 400 the
 * header is missing or the token unknown, 412 it has expired, 403 its key
 * is revoked.
 */
int ah_check_key_pair(ah_app_t *app, const ah_http_req_t *req, const ah_cache_gen_t *gen,
                      ah_caller_t *caller, char *why, size_t whylen);
int ah_check_token(ah_app_t *app, const ah_http_req_t *req, const ah_cache_gen_t *gen,
                   ah_caller_t *caller, char *why, size_t whylen);

/* ---- the web console's sessions (console.c) ---- */

/* Which console sessions a check admits. */
typedef enum ah_console_role {
    AH_CONSOLE_ANY,        /* /ui/api/session itself */
    AH_CONSOLE_OPERATOR,   /* the admin API */
    AH_CONSOLE_INTEGRATOR, /* the public API */
} ah_console_role_t;

/* Does the request carry a console session cookie (of any value)? */
bool ah_console_has_cookie(const ah_http_req_t *req);
/*
 * Admits a request by its console session cookie for a route that wants a
 * session of role want: 0 with c->session set (and for an integrator
 * c->caller: the session's community, its key pair or portal link), a
 * positive status with why (401 no live session, 403 the wrong role, a
 * state-changing request without the session's X-CSRF-Token, or a
 * read-only session's), or a negative store status.
 */
int ah_console_admit(ah_call_t *c, const ah_http_req_t *req, ah_console_role_t want, char *why,
                     size_t whylen);
/* ui.c: the console's security headers (CSP, nosniff, no referrer) on resp. */
void ah_ui_headers(ah_http_resp_t *resp);

/* ---- shared by the handlers (respond.c) ---- */

/* Room for the sentence that says why a request was refused. */
#define AH_WHY_SIZE 256

/*
 * The one error answer: status with a message built from fmt, in dialect d
 * (router.h): public {"statusCode":"400","statusMessage":"BAD_REQUEST",
 * "message":…}, admin {"error":"BAD_REQUEST","message":…}, /auth
 * {"success":false,"message":…}.  Bytes outside printable ASCII in the
 * message become '?'.
 */
void ah_error(ah_http_resp_t *resp, ah_dialect_t d, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * The one store-status mapping: the HTTP status for a failed store call rc,
 * 503 when storage is unreachable (AH_EUNAVAIL; Retry-After: 1 is set on
 * resp) and 500 for anything else.
 */
int ah_store_status(ah_http_resp_t *resp, int rc);
/*
 * Answers a failed store call, or any other failure with an AH_E* code
 * (AH_ENOMEM building an answer): 503 "storage is unavailable; retry
 * shortly" or 500 "internal error (<ah_strerror>)", by ah_store_status.
 */
void ah_store_error(ah_http_resp_t *resp, ah_dialect_t d, int rc);
/*
 * Answers a failed check.  Checks return 0, a positive HTTP status with a
 * sentence in why, or a negative store status; status is the latter two.
 */
void ah_reject(ah_http_resp_t *resp, ah_dialect_t d, int status, const char *why);

/*
 * A kind of record the admin API fetches by id: its name in sentences
 * ("no access key with id …") and the store's getter for it.
 */
typedef struct ah_kind {
    const char *what;
    int (*get)(ah_store_t *s, const char *id, void *out);
} ah_kind_t;
extern const ah_kind_t ah_kind_community, ah_kind_access_key, ah_kind_airmeet, ah_kind_session,
    ah_kind_webhook, ah_kind_event, ah_kind_delivery, ah_kind_portal_link;

/*
 * The get-by-id of admin handlers: path capture 0 as a lowercase UUID into
 * id, then that record of kind k into out (an ah_community_t for
 * ah_kind_community, and so on; an event's data and a delivery's attempts
 * are not kept).  Answers 404 "no <what> with id …" when the capture is no
 * UUID or the store has no such record, 503/500 when the store fails, and
 * returns false then.  Its two halves serve handlers that do something in
 * between (read a body, call another store op first).
 */
bool ah_get_by_id(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                  const ah_kind_t *k, char id[AH_ID_SIZE], void *out);
bool ah_path_id(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                const ah_kind_t *k, char id[AH_ID_SIZE]);
bool ah_fetch(const ah_call_t *c, ah_http_resp_t *resp, const ah_kind_t *k, const char *id,
              void *out);
/*
 * The answer to a store op on record id of kind k that returned rc: true
 * for AH_OK; else 404 "no <what> with id <id>" for AH_ENOTFOUND, or
 * ah_store_error, and false.
 */
bool ah_found(const ah_call_t *c, ah_http_resp_t *resp, const ah_kind_t *k, const char *id, int rc);

/* Which representation of a webhook ah_webhook_json builds. */
typedef enum ah_webhook_view {
    AH_VIEW_LIST,       /* a webhook-list entry, as Airmeet shows a registration */
    AH_VIEW_REGISTERED, /* webhook-register's payload: + airmeetId, sessionId, secret */
    AH_VIEW_ADMIN,      /* the admin API's: + communityId, scope, why disabled; no secret */
} ah_webhook_view_t;
/* The webhook as view shows it; NULL when out of memory. */
json_t *ah_webhook_json(const ah_webhook_t *w, ah_webhook_view_t view);
/*
 * Appends to *b (ah_blob_append) the bytes json_dumps(ah_webhook_json(w,
 * view), JSON_COMPACT) gives, without building the tree.  False when out
 * of memory, or when a field is not UTF-8 (where ah_webhook_json fails).
 */
bool ah_webhook_write(const ah_webhook_t *w, ah_webhook_view_t view, ah_blob_t **b);

/*
 * A delivery as GET /admin/v1/deliveries/{id} shows it: the delivery's
 * fields plus "attempts" (n of them, oldest first); NULL when out of
 * memory (deliveries.c).  The public API's GET .../deliveries/{id} shows
 * the same.
 */
json_t *ah_delivery_full_json(const ah_delivery_t *d, const ah_attempt_t *attempts, size_t n);

/* True when the If-None-Match list names etag, or is "*" (weak comparison, RFC 9110 13.1.2). */
bool ah_etag_matches(const char *list, const char *etag);

/* UPPER_SNAKE reason for an HTTP status ("NOT_FOUND"). */
const char *ah_status_reason(int status);
/* The time as a JSON string, or JSON null when ms == 0. */
json_t *ah_json_time(int64_t ms);
/* A JSON string, or null when s is "". */
json_t *ah_json_str_or_null(const char *s);

/*
 * Parses req's body as a JSON object.  On failure returns NULL and writes a
 * sentence naming the problem ("malformed JSON at line 1 column 5: …").
 * When content_type_required, a missing Content-Type is a problem too; a
 * Content-Type other than application/json always is.
 */
json_t *ah_parse_body(const ah_http_req_t *req, bool content_type_required, char *why,
                      size_t whylen);
/*
 * Reads optional string field `name` of obj into out (size outsz).  Returns 1
 * if present (a string), 0 if absent or null, -1 with a sentence in why if it
 * is another type or too long.  Empty strings count as present.
 */
int ah_get_str(json_t *obj, const char *name, char *out, size_t outsz, char *why, size_t whylen);
/* Validates an id from input: "" ok when !required; else must be a UUID. Lowercases it. */
int ah_check_id(const char *label, char *id, bool required, char *why, size_t whylen);

/* ---- quotas per community (quota.c) ---- */

/* How a quota is named: in the admin API's JSON, and as the serve setting of its default. */
typedef struct ah_quota_name {
    const char *json;    /* "maxWebhooks" */
    const char *setting; /* "max-webhooks": the flag without "--" */
} ah_quota_name_t;
extern const ah_quota_name_t ah_quota_names[AH_QUOTA_COUNT];

/*
 * The quotas that apply to community_id into *out: the community's own
 * where the operator set one, else the server's default; through the
 * quota cache under gen (NULL: from the store).  AH_OK or a store status.
 */
int ah_quota_effective(ah_app_t *app, const ah_cache_gen_t *gen, const char *community_id,
                       ah_quota_t *out);
/*
 * The admin API's view of a community's quotas: {"communityId",
 * "activeWebhooks", "quotas" (what applies), "overrides" (the community's
 * own, null where none), "defaults" (this server's settings)}.  NULL when
 * out of memory.
 */
json_t *ah_quota_json(const ah_app_t *app, const char *community_id, int64_t active,
                      const ah_quota_t *own);

/*
 * The checks of webhook-register (public.c), shared with listen.c.
 * ah_check_trigger_open: trigger id is in cat and takes registrations (*out
 * set to it).  ah_check_scope: airmeet_id / session_id ("" for none) exist
 * and belong to community_id (and the session to the airmeet).
 * ah_check_trigger_scope: trigger t takes that scope.  Each returns 0, an
 * HTTP status with why, or a negative store status (ah_reject answers
 * either).
 */
int ah_check_trigger_open(const ah_catalog_t *cat, const char *id, const ah_catalog_trigger_t **out,
                          char *why, size_t whylen);
int ah_check_scope(ah_app_t *app, const ah_cache_gen_t *gen, const char *community_id,
                   const char *airmeet_id, const char *session_id, char *why, size_t whylen);
int ah_check_trigger_scope(const ah_catalog_trigger_t *t, const char *airmeet_id,
                           const char *session_id, char *why, size_t whylen);
/*
 * Counts a registration against the caller's access key (quota
 * registrationsPerMinute); false with a 429 (and Retry-After) answered when
 * the key had its quota this minute.
 */
bool ah_registration_allowed(const ah_call_t *c, const ah_quota_t *q, ah_http_resp_t *resp);

/* ---- handlers ---- */
/* ui.c and console.c: the web console */
void ah_h_ui_root(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_ui(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_console_sign_in(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_console_session_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_console_sign_out(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_link_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_link_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_link_revoke(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* live.c: the live tail (docs/api.md, "Live events") */
typedef struct ah_live_hub ah_live_hub_t;
ah_live_hub_t *ah_live_hub_new(void);
/* After the HTTP listener has stopped. */
void ah_live_hub_free(ah_live_hub_t *hub);
/* Publishes a state change of webhook id (read from the store for its community and trigger). */
void ah_live_webhook_changed(ah_app_t *app, const char *id, const char *state, const char *reason);
void ah_h_admin_live(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_public_live(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);

/* listen.c: `airhook listen` (docs/api.md, "Listeners") */
void ah_h_listener_secret(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_listener_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_listener_stream(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_listener_results(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_listener_delete(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_auth(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_register(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_deregister(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_sample_payload(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* webhook_test.c: airhook's own public routes (/airhook/v1): test deliveries, and reading them */
void ah_h_public_webhook_test(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_public_delivery_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);

void ah_h_trigger_catalog(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* scope.c: Airmeet's event API, as far as clients call it before registering */
void ah_h_airmeets(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_airmeet_info(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);

void ah_h_community_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_community_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_community_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_quota_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_quota_set(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_key_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_key_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_key_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_key_revoke(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_airmeet_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_airmeet_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_airmeet_update(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_session_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_session_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_session_update(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* trigger_admin.c: the operator's side of the trigger catalog */
void ah_h_trigger_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_trigger_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_trigger_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_trigger_update(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_trigger_retire(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/*
 * The operator's pages (admin.c), shared by the list handlers.
 * ah_page_query reads ?limit= (1..AH_LIST_PAGE_MAX, default 50) and
 * ?cursor=, *given (may be NULL) saying whether either was sent;
 * ah_query_id reads an optional query id (a UUID, any case; "" when absent)
 * and fetches its record into rec.  Both answer 400 / 404 themselves.
 * ah_page_error answers a failed page read (AH_EINVAL: a cursor not handed
 * out here); ah_page_reply answers {"<name>":arr,"nextCursor":…} (arr NULL:
 * 500); ah_append_or_drop appends j to arr, or frees both and answers NULL.
 */
bool ah_page_query(const ah_call_t *c, const ah_http_req_t *req, size_t *limit, const char **cursor,
                   bool *given, ah_http_resp_t *resp);
bool ah_query_id(const ah_call_t *c, const ah_http_req_t *req, const char *name, const ah_kind_t *k,
                 void *rec, char id[AH_ID_SIZE], ah_http_resp_t *resp);
void ah_page_error(const ah_call_t *c, const char *cursor, int rc, ah_http_resp_t *resp);
void ah_page_reply(const ah_call_t *c, const char *name, json_t *arr, const char *next,
                   ah_http_resp_t *resp);
json_t *ah_append_or_drop(json_t *arr, json_t *j);
/*
 * Reads the page of webhooks f asks for and answers it as {"webhooks":[…],
 * "nextCursor":…}, each row rendered by render (NULL: the admin view).
 */
void ah_webhook_page_reply(ah_call_t *c, const ah_webhook_filter_t *f,
                           json_t *(*render)(ah_app_t *app, const ah_webhook_t *w),
                           ah_http_resp_t *resp);
/*
 * Reads the optional query time name (RFC 3339 or unix seconds) into *ms
 * (0 when absent); answers 400 itself.
 */
bool ah_query_time(const ah_call_t *c, const ah_http_req_t *req, const char *name, int64_t *ms,
                   ah_http_resp_t *resp);
/*
 * Reads the optional query ?status= (active, disabled, deregistered) into
 * *state, left as it is when absent; answers 400 itself.
 */
bool ah_query_webhook_state(const ah_call_t *c, const ah_http_req_t *req, int *state,
                            ah_http_resp_t *resp);
void ah_h_event_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_airmeet_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_session_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_delivery_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_admin_webhook_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_delete(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_enable(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_disable(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);

/* events.c */
void ah_h_event_publish(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* deliveries.c */
void ah_h_webhook_deliveries(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_event_deliveries(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_delivery_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_delivery_retry(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_recover(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_webhook_rotate_secret(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_retention_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/*
 * Shared by the admin API and the integrators' (portal.c): a delivery as
 * JSON; ?status=, ?since=, ?until=, ?limit=, ?cursor= read into f (400
 * answered itself); a page of f answered {"deliveries":[…],"nextCursor"};
 * a retry and a rotation of what the path names, within community_id
 * (NULL: any; another community's is answered 404, as unknown).
 */
json_t *ah_delivery_json(const ah_delivery_t *d);
bool ah_delivery_list_query(const ah_call_t *c, const ah_http_req_t *req, ah_delivery_filter_t *f,
                            ah_http_resp_t *resp);
void ah_delivery_list_reply(const ah_call_t *c, const ah_delivery_filter_t *f,
                            ah_http_resp_t *resp);
void ah_delivery_retry_in(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp,
                          const char *community_id);
void ah_webhook_rotate_in(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp,
                          const char *community_id);
/* stats.c: the console's charts and overview */
void ah_h_stats_series(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_overview(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* portal.c: the integrators' own webhooks and deliveries (token, one community) */
void ah_h_portal_webhooks(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_series(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_deliveries(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_retry(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_portal_rotate(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/*
 * The series of the node (webhook_id NULL) or of one webhook over the last
 * `minutes`, as GET /admin/v1/stats/series answers it; NULL when out of
 * memory.
 */
json_t *ah_series_json(ah_app_t *app, const char *webhook_id, size_t minutes);
/* Reads ?minutes= (1..1440, default 60), answering 400 itself; answers a series. */
bool ah_series_minutes(const ah_call_t *c, const ah_http_req_t *req, size_t *minutes,
                       ah_http_resp_t *resp);
void ah_series_reply(const ah_call_t *c, const char *webhook_id, size_t minutes,
                     ah_http_resp_t *resp);

void ah_h_healthz(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_readyz(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
void ah_h_metrics(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);
/* The OpenAPI document (docs/openapi.yaml as JSON, compiled in), with a strong ETag. */
void ah_h_openapi(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp);

#endif
