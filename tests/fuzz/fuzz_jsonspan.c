/* SPDX-License-Identifier: MIT */
/*
 * fuzz_jsonspan.c: for any text jansson accepts as an object, the span that
 * ah_json_member_span reports for each key must parse to exactly the value
 * jansson holds for that key.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/jsonspan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t off, vlen;
    json_t *doc = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (!doc || !json_is_object(doc)) {
        /* Must not crash on anything, valid or not. */
        (void)ah_json_member_span(text, size, "data", &off, &vlen);
        json_decref(doc);
        return 0;
    }
    const char *key;
    json_t *val;
    json_object_foreach(doc, key, val)
    {
        if (ah_json_member_span(text, size, key, &off, &vlen) != 0)
            abort();
        json_t *got = json_loadb(text + off, vlen, JSON_DECODE_ANY, NULL);
        if (!got || !json_equal(got, val))
            abort();
        json_decref(got);
    }
    if (!json_object_get(doc, "data") && ah_json_member_span(text, size, "data", &off, &vlen) == 0)
        abort();
    json_decref(doc);
    return 0;
}
