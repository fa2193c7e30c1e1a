/* SPDX-License-Identifier: MIT */
/*
 * catalog.h: the trigger catalog a server has now: the built-in triggers
 * (triggers.h, compiled in), less those the operator hid, plus the
 * operator's own (the store's catalog_triggers, store.h "the operator's
 * triggers").  Registration, sample-payload, event publishing and the admin
 * API all ask it, never triggers.h or the store directly.
 *
 * A catalog is an immutable, reference-counted snapshot.  The app keeps the
 * latest, tagged with the `auth` cache generation it was read under; every
 * change to catalog_triggers bumps that generation in its own transaction
 * (on every process and node), so a request that read a newer generation
 * reads the table again, and one that did not is answered from memory, as
 * the other caches of the public API are (docs/architecture.md, "Caches").
 */
#ifndef AH_CATALOG_H
#define AH_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/triggers.h"
#include "store/store.h"

/* Most triggers an operator may add (each holds up to two JSON texts of AH_TRIGGER_JSON_MAX). */
#define AH_OPERATOR_TRIGGERS_MAX 256

typedef struct ah_catalog_trigger {
    const char *id;
    const char *description; /* when it fires */
    ah_scope_t airmeet;
    ah_scope_t session;
    const ah_trigger_t *builtin; /* the compiled-in row; NULL for an operator's trigger */
    /*
     * A built-in trigger the operator hid, or an operator's trigger it
     * retired: it takes no registrations and no events, and sample-payload
     * does not serve it; webhooks registered before keep their history.
     */
    bool retired;
    int64_t retired_at; /* when it was hidden or retired; 0 when it is in use */
    int64_t created_at; /* operator's triggers; 0 for built-in ones */
    int64_t updated_at;
    json_t *sample; /* operator's: the sample body (borrowed from the snapshot); built-in: NULL */
    json_t *schema; /* operator's: the JSON Schema of data (schema.h), or NULL */
} ah_catalog_trigger_t;

typedef struct ah_catalog ah_catalog_t;

struct ah_app;
typedef struct ah_catalog_holder ah_catalog_holder_t;

/* The app's holder of the latest snapshot; NULL when out of memory. */
ah_catalog_holder_t *ah_catalog_holder_new(void);
void ah_catalog_holder_free(ah_catalog_holder_t *h);

/*
 * A reference to the catalog as of generation gen (NULL: the store's now);
 * release it with ah_catalog_release.  NULL with *rc a store status when
 * the store cannot be read.
 */
ah_catalog_t *ah_catalog_acquire(ah_catalog_holder_t *h, ah_store_t *s, const ah_cache_gen_t *gen,
                                 int *rc);
void ah_catalog_release(ah_catalog_t *c);

/* The trigger named id (exact), retired or not; NULL when the catalog has none. */
const ah_catalog_trigger_t *ah_catalog_find(const ah_catalog_t *c, const char *id);
/* Every trigger: the built-in ones in their file's order, then the operator's, oldest first. */
const ah_catalog_trigger_t *ah_catalog_all(const ah_catalog_t *c, size_t *n);

/* A new JSON object (caller owns it): t's sample body; NULL when out of memory. */
json_t *ah_catalog_sample(const ah_catalog_trigger_t *t);
/*
 * The admin API's view of t: id, description, builtin, airmeetId and
 * sessionId (scope rules), samplePayload, schema (null: none), hidden
 * (built-in) or retired (operator's), and times.  NULL when out of memory.
 */
json_t *ah_catalog_json(const ah_catalog_trigger_t *t);

#endif
