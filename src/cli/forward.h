/* SPDX-License-Identifier: MIT */
/*
 * forward.h: where `airhook listen` forwards each delivery, from its
 * repeatable --forward-to flags.
 *
 * A value is either a URL, the default target of every trigger no other
 * value names, or TRIGGER=URL, the target of the triggers TRIGGER names.
 * TRIGGER is a trigger id (trigger.airmeet.registrant.added) or any run of
 * its whole dot-separated parts (registrant.added, registrant, airmeet):
 * when several values name one trigger, the longest TRIGGER wins.  A URL
 * without a scheme (localhost:3000/hooks) means http://.  At most one
 * default; a TRIGGER given twice is an error.
 *
 * Once the listener's triggers are known, ah_forward_check() makes sure
 * every TRIGGER names at least one of them and every one of them has a
 * target, so nothing is routed nowhere at run time.
 */
#ifndef AH_CLI_FORWARD_H
#define AH_CLI_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#define AH_FORWARD_MAX 64

typedef struct ah_forward_route {
    char *key; /* the TRIGGER part, or NULL for the default */
    char *url; /* http:// or https:// */
} ah_forward_route_t;

typedef struct ah_forward_plan {
    ah_forward_route_t routes[AH_FORWARD_MAX];
    size_t n;
} ah_forward_plan_t;

/*
 * Parses the n --forward-to values into *plan (which the caller releases
 * with ah_forward_free, also after a failure).  Returns 0, or -1 with a
 * sentence in why.
 */
int ah_forward_parse(const char *const *values, size_t n, ah_forward_plan_t *plan, char *why,
                     size_t whysz);

/* True when key is trigger or a run of its whole dot-separated parts. */
bool ah_forward_key_matches(const char *key, const char *trigger);

/* The URL a delivery of trigger goes to, or NULL when the plan has none. */
const char *ah_forward_url(const ah_forward_plan_t *plan, const char *trigger);

/*
 * Checks the plan against the listener's n triggers.  Returns 0, or -1 with
 * why filled; *unknown_key is then the TRIGGER that names none of them (for
 * "did you mean"), or NULL when the problem is a trigger without a target.
 */
int ah_forward_check(const ah_forward_plan_t *plan, const char *const *triggers, size_t n,
                     const char **unknown_key, char *why, size_t whysz);

/* Frees the plan's strings; accepts NULL. */
void ah_forward_free(ah_forward_plan_t *plan);

#endif
