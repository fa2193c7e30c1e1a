/* SPDX-License-Identifier: MIT */
/*
 * triggers.h: the trigger catalog (SPEC §4) and sample delivery bodies.
 *
 * Each trigger says whether a webhook for it takes an airmeetId and a
 * sessionId (none, optional, required).  ah_trigger_sample() returns exactly
 * the JSON body a delivery of that trigger would POST, with realistic
 * values; GET sample-payload serves it as `payload`.
 */
#ifndef AH_TRIGGERS_H
#define AH_TRIGGERS_H

#include <jansson.h>
#include <stddef.h>

typedef enum { AH_SCOPE_NONE, AH_SCOPE_OPTIONAL, AH_SCOPE_REQUIRED } ah_scope_t;

typedef struct ah_trigger {
    const char *id;         /* "trigger.airmeet.created" */
    const char *fires_when; /* one sentence, for docs and `airhook sample --list` */
    ah_scope_t airmeet;
    ah_scope_t session;
} ah_trigger_t;

/* The catalog, in SPEC order; *n receives its length (12). */
const ah_trigger_t *ah_triggers(size_t *n);
/* The trigger named id (exact, case-sensitive), or NULL. */
const ah_trigger_t *ah_trigger_find(const char *id);
/* A new JSON object (caller owns the reference): the sample body for t. */
json_t *ah_trigger_sample(const ah_trigger_t *t);

#endif
