/* SPDX-License-Identifier: MIT */
/*
 * demo.c: `airhook serve --demo` seeds a community, an airmeet and a session
 * with fixed ids (so restarts reuse them) and issues a fresh key pair (a
 * secret cannot be shown twice), then prints them with a copy-paste example:
 * one export line that points the public commands (AIRHOOK_BASE_URL and the
 * key pair) and the admin commands (AIRHOOK_SERVER, AIRHOOK_ADMIN_TOKEN) at
 * this server, whatever port it got.
 */
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "common/crypto.h"

#define DEMO_COMMUNITY "00000000-0000-4000-8000-00000000c0de"
#define DEMO_AIRMEET "00000000-0000-4000-8000-0000000a1e01"
#define DEMO_SESSION "00000000-0000-4000-8000-00000005e551"

static int ok_or_exists(int rc)
{
    return rc == AH_EEXISTS ? AH_OK : rc;
}

int ah_app_seed_demo(ah_app_t *app, const char *base_url, const char *admin_token_word)
{
    ah_store_t *s = app->store;
    int64_t now = ah_now_ms();
    ah_community_t c = {.id = DEMO_COMMUNITY, .name = "Demo Community", .created_at = now};
    ah_airmeet_t a = {.id = DEMO_AIRMEET,
                      .community_id = DEMO_COMMUNITY,
                      .name = "Demo Airmeet",
                      .start_time = now + 86400000LL,
                      .end_time = now + 90000000LL,
                      .created_at = now};
    ah_session_t ss = {.id = DEMO_SESSION,
                       .airmeet_id = DEMO_AIRMEET,
                       .community_id = DEMO_COMMUNITY,
                       .name = "Opening keynote",
                       .created_at = now};
    int rc = ok_or_exists(ah_store_community_create(s, &c));
    if (!rc)
        rc = ok_or_exists(ah_store_airmeet_create(s, &a));
    if (!rc)
        rc = ok_or_exists(ah_store_session_create(s, &ss));
    if (rc)
        return rc;
    ah_access_key_t k = {.community_id = DEMO_COMMUNITY, .label = "demo", .created_at = now};
    char secret[80];
    ah_uuid_v4(k.id);
    ah_uuid_v4(k.access_key);
    ah_random_hex("ahs_", 32, secret, sizeof secret);
    ah_sha256_hex(secret, strlen(secret), k.secret_hash);
    if ((rc = ah_store_access_key_create(s, &k)))
        return rc;
    printf("demo community: %s\n"
           "demo airmeet: %s\n"
           "demo session: %s\n"
           "demo access key: %s\n"
           "demo secret key: %s\n"
           "demo try:\n"
           "  export AIRHOOK_BASE_URL=%s%s AIRHOOK_ACCESS_KEY=%s AIRHOOK_SECRET_KEY=%s "
           "AIRHOOK_SERVER=%s AIRHOOK_ADMIN_TOKEN=%s\n"
           "%s"
           "  curl -s -X POST \"$AIRHOOK_BASE_URL/platform-integration/v1/webhook-register"
           "?airmeetId=%s\" \\\n"
           "    -H 'Content-Type: application/json' -H \"x-access-key: $AIRHOOK_ACCESS_KEY\" "
           "-H \"x-secret-key: $AIRHOOK_SECRET_KEY\" \\\n"
           "    -d '{\"name\":\"New registrant\",\"triggerMetaInfoId\":"
           "\"trigger.airmeet.registrant.added\",\"url\":\"https://example.com/hook\","
           "\"platformName\":\"Demo\"}'\n"
           "  ./build/airhook webhooks list --airmeet %s\n",
           DEMO_COMMUNITY, DEMO_AIRMEET, DEMO_SESSION, k.access_key, secret, base_url,
           app->cfg.base_path, k.access_key, secret, base_url,
           admin_token_word ? admin_token_word : "ADMIN_TOKEN",
           admin_token_word ? ""
                            : "  (ADMIN_TOKEN: the admin token printed at this database's first "
                              "start)\n",
           DEMO_AIRMEET, DEMO_AIRMEET);
    fflush(stdout);
    return AH_OK;
}
