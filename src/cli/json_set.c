/* SPDX-License-Identifier: MIT */
/*
 * json_set.c: `--set PATH=VALUE` edits of a JSON document (json_set.h
 * says what a path and a value are).  Kept apart from the command that
 * uses it (cmd_trigger.c) so that tests/unit/test_json_set.c can reach it
 * without an HTTP client.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/json_set.h"

/* seg[0..len) as an array index into *out; false when it is not a plain number. */
static bool index_of(const char *seg, size_t len, size_t *out)
{
    if (len == 0 || len > 9)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return false;
        v = v * 10 + (size_t)(seg[i] - '0');
    }
    *out = v;
    return true;
}

/* The value of a --set: JSON when it parses, else the text as a string. */
static json_t *set_value(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return v ? v : json_string(text);
}

int ah_json_set_path(json_t *root, const char *assign, char *why, size_t whysz)
{
    const char *eq = strchr(assign, '=');
    if (!eq || eq == assign) {
        snprintf(why, whysz,
                 "--set takes PATH=VALUE, such as buyer.email=ada@example.com: '%.100s'", assign);
        return -1;
    }
    size_t plen = (size_t)(eq - assign);
    json_t *value = set_value(eq + 1);
    if (!value) {
        snprintf(why, whysz, "--set %.*s: the value is not valid UTF-8", (int)plen, assign);
        return -1;
    }
    json_t *node = root;
    const char *seg = assign;
    for (;;) {
        const char *dot = memchr(seg, '.', (size_t)(eq - seg));
        size_t slen = dot ? (size_t)(dot - seg) : (size_t)(eq - seg);
        bool last = !dot;
        size_t at = (size_t)(seg - assign);
        if (slen == 0) {
            snprintf(why, whysz, "--set %.*s: empty segment in the path at byte %zu", (int)plen,
                     assign, at);
            goto fail;
        }
        size_t idx = 0;
        if (json_is_array(node)) {
            size_t size = json_array_size(node);
            if (!index_of(seg, slen, &idx) || idx > size || (idx == size && !last)) {
                snprintf(why, whysz,
                         "--set %.*s: %s%.*s%s is an array of %zu: '%.*s' is not an index "
                         "below %zu",
                         (int)plen, assign, at ? "'" : "", at ? (int)(at - 1) : 0, assign,
                         at ? "'" : "the payload", size, (int)slen, seg, last ? size + 1 : size);
                goto fail;
            }
            if (last) {
                int rc = idx == size ? json_array_append_new(node, value)
                                     : json_array_set_new(node, idx, value);
                return rc ? (snprintf(why, whysz, "out of memory"), -1) : 0;
            }
            node = json_array_get(node, idx);
        } else if (json_is_object(node)) {
            char *key = strndup(seg, slen);
            if (!key) {
                snprintf(why, whysz, "out of memory");
                goto fail;
            }
            int rc = 0;
            json_t *next = json_object_get(node, key);
            if (last) {
                rc = json_object_set_new(node, key, value);
            } else if (!next) {
                next = json_object();
                rc = json_object_set_new(node, key, next);
            }
            free(key);
            if (rc) {
                snprintf(why, whysz, "--set %.*s: the key is not valid UTF-8", (int)plen, assign);
                return last ? -1 : (json_decref(value), -1);
            }
            if (last)
                return 0;
            node = next;
        } else {
            snprintf(why, whysz, "--set %.*s: %s%.*s%s is %s, not an object or array", (int)plen,
                     assign, at ? "'" : "", at ? (int)(at - 1) : 0, assign,
                     at ? "'" : "the payload",
                     json_is_string(node)   ? "a string"
                     : json_is_number(node) ? "a number"
                     : json_is_null(node)   ? "null"
                                            : "a boolean");
            goto fail;
        }
        seg = dot + 1;
    }
fail:
    json_decref(value);
    return -1;
}
