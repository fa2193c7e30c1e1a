/* SPDX-License-Identifier: MIT */
/*
 * quota.c: what a community may hold, as the API applies it
 * (docs/operations.md, "Quotas per community").
 *
 * Each quota (store.h, ah_quota_kind_t) has a default, an `airhook serve`
 * setting (app->cfg.quota), and the operator may set a community's own
 * through the admin API (admin.c); the store keeps those and counts the
 * active webhooks.  ah_quota_effective merges the two for a request, the
 * community's own read through the quota cache under the store's auth
 * generation, which setting a community's quotas moves; so a registration
 * costs no extra store read while nothing changed.
 *
 * Where each is enforced: the webhook count by the store, atomically with
 * the insert (ah_store_webhook_register_within: 409), field lengths and the
 * registration rate per access key by the register handler (public.c: 400,
 * 429 with Retry-After), and the count again when the operator enables a
 * webhook (admin.c: 409).
 */
#include <string.h>

#include "api/app.h"

const ah_quota_name_t ah_quota_names[AH_QUOTA_COUNT] = {
    [AH_QUOTA_WEBHOOKS] = {"maxWebhooks", "max-webhooks"},
    [AH_QUOTA_URL_BYTES] = {"maxUrlBytes", "max-url-bytes"},
    [AH_QUOTA_NAME_BYTES] = {"maxNameBytes", "max-name-bytes"},
    [AH_QUOTA_DESCRIPTION_BYTES] = {"maxDescriptionBytes", "max-description-bytes"},
    [AH_QUOTA_REGISTER_RATE] = {"registrationsPerMinute", "register-rate"},
};

/* The community's own quotas, through the quota cache. */
static int own_quota(ah_app_t *app, const ah_cache_gen_t *gen, const char *community_id,
                     ah_quota_t *own)
{
    size_t n = strnlen(community_id, AH_ID_SIZE);
    if (gen && ah_cache_get(app->quota_cache, community_id, n, gen->auth, own, sizeof *own))
        return AH_OK;
    int rc = ah_store_quota_get(app->store, community_id, own);
    if (rc == AH_OK && gen)
        ah_cache_put(app->quota_cache, community_id, n, gen->auth, own, sizeof *own);
    return rc;
}

int ah_quota_effective(ah_app_t *app, const ah_cache_gen_t *gen, const char *community_id,
                       ah_quota_t *out)
{
    ah_quota_t own;
    int rc = own_quota(app, gen, community_id, &own);
    if (rc)
        return rc;
    for (int k = 0; k < AH_QUOTA_COUNT; k++)
        out->v[k] = own.v[k] != AH_QUOTA_UNSET ? own.v[k] : (int64_t)app->cfg.quota[k];
    return AH_OK;
}

json_t *ah_quota_json(const ah_app_t *app, const char *community_id, int64_t active,
                      const ah_quota_t *own)
{
    json_t *applies = json_object(), *overrides = json_object(), *defaults = json_object();
    bool ok = applies && overrides && defaults;
    for (int k = 0; ok && k < AH_QUOTA_COUNT; k++) {
        const char *name = ah_quota_names[k].json;
        int64_t def = app->cfg.quota[k];
        bool set = own->v[k] != AH_QUOTA_UNSET;
        ok = !json_object_set_new(applies, name, json_integer(set ? own->v[k] : def)) &&
             !json_object_set_new(overrides, name, set ? json_integer(own->v[k]) : json_null()) &&
             !json_object_set_new(defaults, name, json_integer(def));
    }
    if (!ok) {
        json_decref(applies);
        json_decref(overrides);
        json_decref(defaults);
        return NULL;
    }
    return json_pack("{s:s, s:I, s:o, s:o, s:o}", "communityId", community_id, "activeWebhooks",
                     (json_int_t)active, "quotas", applies, "overrides", overrides, "defaults",
                     defaults);
}
