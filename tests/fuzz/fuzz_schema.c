/* SPDX-License-Identifier: MIT */
/*
 * fuzz_schema.c: libFuzzer target for the JSON Schema subset (api/schema.c),
 * whose schemas come from the operator and whose data comes from events.
 *
 * The input is a schema and a data document separated by the first newline.
 * When ah_schema_check accepts the schema, validation must not crash, must
 * agree with itself under "not" and "allOf" (a validation that ran out of
 * steps is exempt), and must say why whenever it fails.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/schema.h"

static bool over_budget(const char *why)
{
    return strstr(why, "too long to check") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t split = nl ? (size_t)(nl - data) : size;
    json_t *schema = json_loadb((const char *)data, split, JSON_DECODE_ANY, NULL);
    json_t *doc = nl ? json_loadb((const char *)nl + 1, size - split - 1, JSON_DECODE_ANY, NULL)
                     : json_null();
    char why[256], why2[256];
    if (schema && doc && ah_schema_check(schema, why, sizeof why) == 0) {
        bool ok = ah_schema_validate(schema, doc, why, sizeof why);
        if (!ok && !why[0])
            abort();
        if (!over_budget(why)) {
            json_t *neg = json_pack("{s:O}", "not", schema);
            json_t *both = json_pack("{s:[O, O]}", "allOf", schema, schema);
            if (ah_schema_check(neg, why2, sizeof why2) == 0) {
                bool n = ah_schema_validate(neg, doc, why2, sizeof why2);
                if (!over_budget(why2) && n == ok)
                    abort();
            }
            if (ah_schema_check(both, why2, sizeof why2) == 0) {
                bool b = ah_schema_validate(both, doc, why2, sizeof why2);
                if (!over_budget(why2) && b != ok)
                    abort();
            }
            json_decref(neg);
            json_decref(both);
        }
    }
    json_decref(schema);
    json_decref(doc);
    return 0;
}
