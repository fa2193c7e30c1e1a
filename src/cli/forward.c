/* SPDX-License-Identifier: MIT */
/*
 * forward.c: --forward-to values into routes, and the route of a trigger
 * (forward.h says the rules).
 */
#include "cli/forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_scheme(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* A heap copy of url, with http:// in front when it has no scheme. */
static char *url_of(const char *url, size_t len)
{
    const char *scheme = "";
    if (!(len >= 7 && has_scheme(url)))
        scheme = strstr(url, "://") ? NULL : "http://";
    if (!scheme)
        return NULL;
    size_t sl = strlen(scheme);
    char *out = malloc(sl + len + 1);
    if (!out)
        return NULL;
    memcpy(out, scheme, sl);
    memcpy(out + sl, url, len);
    out[sl + len] = '\0';
    return out;
}

/* True for a TRIGGER part: non-empty, no spaces, slashes or colons. */
static bool good_key(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] == '/' || s[i] == ':' || s[i] == '?' || s[i] == 0x7f)
            return false;
    return true;
}

int ah_forward_parse(const char *const *values, size_t n, ah_forward_plan_t *plan, char *why,
                     size_t whysz)
{
    memset(plan, 0, sizeof *plan);
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i];
        const char *eq = strchr(v, '=');
        const char *slash = strchr(v, '/');
        /* TRIGGER=URL when an = comes before any slash and the value is not a URL already. */
        bool keyed = eq && !has_scheme(v) && (!slash || eq < slash);
        const char *url = keyed ? eq + 1 : v;
        if (plan->n == AH_FORWARD_MAX) {
            snprintf(why, whysz, "--forward-to: at most %d values", AH_FORWARD_MAX);
            return -1;
        }
        if (keyed && !good_key(v, (size_t)(eq - v))) {
            snprintf(why, whysz,
                     "--forward-to '%.200s': TRIGGER=URL needs a trigger name before the =", v);
            return -1;
        }
        if (!*url || strpbrk(url, " \t\r\n") ||
            !(plan->routes[plan->n].url = url_of(url, strlen(url)))) {
            snprintf(why, whysz,
                     "--forward-to '%.200s' is not a URL (http://HOST:PORT/PATH, or TRIGGER=URL)",
                     v);
            return -1;
        }
        ah_forward_route_t *r = &plan->routes[plan->n++];
        if (keyed && !(r->key = strndup(v, (size_t)(eq - v)))) {
            snprintf(why, whysz, "out of memory");
            return -1;
        }
        for (size_t j = 0; j + 1 < plan->n; j++) {
            const char *k = plan->routes[j].key;
            if ((!k && !r->key) || (k && r->key && strcmp(k, r->key) == 0)) {
                if (r->key)
                    snprintf(why, whysz, "--forward-to: %.200s= is given twice", r->key);
                else
                    snprintf(why, whysz,
                             "--forward-to: two default URLs (%.200s and %.200s); give the "
                             "others as TRIGGER=URL",
                             plan->routes[j].url, r->url);
                return -1;
            }
        }
    }
    return 0;
}

bool ah_forward_key_matches(const char *key, const char *trigger)
{
    size_t kl = strlen(key), tl = strlen(trigger);
    if (kl == 0 || kl > tl)
        return false;
    for (size_t at = 0; at + kl <= tl; at++) {
        if (at > 0 && trigger[at - 1] != '.')
            continue;
        if (memcmp(trigger + at, key, kl) == 0 && (at + kl == tl || trigger[at + kl] == '.'))
            return true;
    }
    return false;
}

const char *ah_forward_url(const ah_forward_plan_t *plan, const char *trigger)
{
    const char *best = NULL, *fallback = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const ah_forward_route_t *r = &plan->routes[i];
        if (!r->key) {
            fallback = r->url;
        } else if (trigger && ah_forward_key_matches(r->key, trigger) &&
                   strlen(r->key) > best_len) {
            best = r->url;
            best_len = strlen(r->key);
        }
    }
    return best ? best : fallback;
}

int ah_forward_check(const ah_forward_plan_t *plan, const char *const *triggers, size_t n,
                     const char **unknown_key, char *why, size_t whysz)
{
    *unknown_key = NULL;
    for (size_t i = 0; i < plan->n; i++) {
        const char *key = plan->routes[i].key;
        bool any = false;
        for (size_t t = 0; key && t < n && !any; t++)
            any = triggers[t] && ah_forward_key_matches(key, triggers[t]);
        if (key && !any) {
            *unknown_key = key;
            snprintf(why, whysz,
                     "--forward-to %.200s=...: no trigger of this listener is or contains "
                     "'%.200s'",
                     key, key);
            return -1;
        }
    }
    for (size_t t = 0; t < n; t++) {
        if (triggers[t] && !ah_forward_url(plan, triggers[t])) {
            snprintf(why, whysz,
                     "trigger %.200s has no --forward-to target: add a default "
                     "(--forward-to URL) or --forward-to %.200s=URL",
                     triggers[t], triggers[t]);
            return -1;
        }
    }
    return 0;
}

void ah_forward_free(ah_forward_plan_t *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->routes[i].key);
        free(plan->routes[i].url);
    }
    plan->n = 0;
}
