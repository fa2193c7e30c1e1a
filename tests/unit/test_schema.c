/* SPDX-License-Identifier: MIT */
/*
 * test_schema.c: the JSON Schema subset of operator triggers (api/schema.h).
 *
 * Each keyword of the subset accepts what JSON Schema 2020-12 says it
 * accepts and refuses the rest with the JSON Pointer of the failing value;
 * every keyword outside the subset, and every malformed one, is refused when
 * the schema is checked, with the pointer of where it is in the schema; the
 * depth and the work of a validation are bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/schema.h"

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    if (!j)
        fail_msg("bad JSON in the test: %s: %s", text, err.text);
    return j;
}

/* Validates data against schema (which must be accepted); want "" for success. */
static void expect(const char *schema_text, const char *data_text, const char *want)
{
    json_t *schema = parse(schema_text), *data = parse(data_text);
    char why[256];
    if (ah_schema_check(schema, why, sizeof why))
        fail_msg("schema %s refused: %s", schema_text, why);
    bool ok = ah_schema_validate(schema, data, why, sizeof why);
    if (!*want && !ok)
        fail_msg("%s against %s: want success, got \"%s\"", data_text, schema_text, why);
    if (*want && (ok || !strstr(why, want)))
        fail_msg("%s against %s: want \"%s\", got %s \"%s\"", data_text, schema_text, want,
                 ok ? "success" : "failure", why);
    json_decref(schema);
    json_decref(data);
}

static void refused(const char *schema_text, const char *want)
{
    json_t *schema = parse(schema_text);
    char why[256];
    if (!ah_schema_check(schema, why, sizeof why))
        fail_msg("schema %s accepted, want refused with \"%s\"", schema_text, want);
    if (!strstr(why, want))
        fail_msg("schema %s: want \"%s\", got \"%s\"", schema_text, want, why);
    json_decref(schema);
}

static void test_types(void **state)
{
    (void)state;
    expect("{\"type\": \"string\"}", "\"x\"", "");
    expect("{\"type\": \"string\"}", "1", "at / (the root): expected a string, got an integer");
    expect("{\"type\": \"integer\"}", "2.0", ""); /* 2020-12: 2.0 is an integer */
    expect("{\"type\": \"integer\"}", "2.5", "expected an integer, got a number");
    expect("{\"type\": \"number\"}", "7", "");
    expect("{\"type\": [\"null\", \"boolean\"]}", "false", "");
    expect("{\"type\": [\"null\", \"boolean\"]}", "{}", "one of the types [\"null\",\"boolean\"]");
    expect("{\"type\": \"object\"}", "[]", "expected an object, got an array");
    expect("true", "{\"anything\": 1}", "");
    expect("false", "null", "no value is allowed here");
    expect("{}", "[1, \"two\"]", "");
}

static void test_objects_and_arrays(void **state)
{
    (void)state;
    const char *s = "{\"type\": \"object\", \"required\": [\"id\"], \"properties\": {"
                    "\"id\": {\"type\": \"string\"},"
                    "\"who\": {\"properties\": {\"e~/mail\": {\"type\": \"string\"}}},"
                    "\"n\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"},"
                    " \"minItems\": 1, \"maxItems\": 2}},"
                    "\"additionalProperties\": {\"type\": \"boolean\"}, \"maxProperties\": 4}";
    expect(s, "{\"id\": \"a\", \"n\": [1], \"flag\": true}", "");
    expect(s, "{\"n\": [1]}", "at / (the root): the required property 'id' is missing");
    expect(s, "{\"id\": \"a\", \"who\": {\"e~/mail\": 3}}", "at /who/e~0~1mail: expected a string");
    expect(s, "{\"id\": \"a\", \"n\": [1, \"x\"]}", "at /n/1: expected an integer");
    expect(s, "{\"id\": \"a\", \"n\": []}", "at /n: 0 items are fewer than minItems 1");
    expect(s, "{\"id\": \"a\", \"n\": [1, 2, 3]}", "more than maxItems 2");
    expect(s, "{\"id\": \"a\", \"extra\": 1}", "at /extra: expected a boolean");
    expect(s, "{\"id\": \"a\", \"b\": true, \"c\": true, \"d\": true, \"e\": true}",
           "more than maxProperties 4");
    expect("{\"additionalProperties\": false, \"properties\": {\"a\": {}}}", "{\"a\": 1, \"b\": 2}",
           "at /b: the property is not allowed");
    expect("{\"required\": [\"a\"]}", "[]", ""); /* object keywords pass non-objects */
    expect("{\"minProperties\": 1}", "{}", "fewer than minProperties 1");
}

static void test_strings_numbers_values(void **state)
{
    (void)state;
    expect("{\"minLength\": 2, \"maxLength\": 3}", "\"\xc3\xa9\xc3\xa9\"", ""); /* 2 code points */
    expect("{\"minLength\": 2}", "\"\xc3\xa9\"", "1 characters is shorter than minLength 2");
    expect("{\"maxLength\": 1}", "\"ab\"", "longer than maxLength 1");
    expect("{\"minimum\": 1, \"maximum\": 2}", "1", "");
    expect("{\"minimum\": 1}", "0.5", "less than the minimum 1");
    expect("{\"maximum\": 2}", "3", "more than the maximum 2");
    expect("{\"exclusiveMinimum\": 1}", "1", "not more than 1");
    expect("{\"exclusiveMaximum\": 1}", "1.0", "not less than 1");
    expect("{\"minimum\": 1}", "\"0\"", ""); /* bounds pass other types */
    expect("{\"enum\": [1, \"a\", null]}", "null", "");
    expect("{\"enum\": [1, \"a\"]}", "\"b\"", "not one of the 2 values");
    expect("{\"const\": {\"a\": [1]}}", "{\"a\": [1]}", "");
    expect("{\"const\": 1}", "2", "is not the value 'const' requires");
}

static void test_combinators(void **state)
{
    (void)state;
    expect("{\"allOf\": [{\"type\": \"integer\"}, {\"minimum\": 3}]}", "2",
           "less than the minimum");
    expect("{\"anyOf\": [{\"type\": \"string\"}, {\"minimum\": 3}]}", "4", "");
    expect("{\"anyOf\": [{\"type\": \"string\"}, {\"minimum\": 3}]}", "2",
           "matches none of the 2 schemas of anyOf");
    expect("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 3}]}", "2", "");
    expect("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 3}]}", "4",
           "matches 2 of the schemas of oneOf");
    expect("{\"not\": {\"type\": \"null\"}}", "null", "matches the schema under 'not'");
    expect("{\"not\": {\"type\": \"null\"}}", "0", "");
    expect("{\"title\": \"t\", \"description\": \"d\", \"$comment\": \"c\", \"default\": 1,"
           " \"examples\": [1], \"deprecated\": false, \"readOnly\": true, \"writeOnly\": false,"
           " \"$schema\": \"https://json-schema.org/draft/2020-12/schema\"}",
           "1", "");
}

static void test_refused_keywords(void **state)
{
    (void)state;
    static const char *const unsupported[] = {
        "$ref",
        "$defs",
        "definitions",
        "$id",
        "$anchor",
        "pattern",
        "format",
        "multipleOf",
        "uniqueItems",
        "prefixItems",
        "contains",
        "minContains",
        "patternProperties",
        "propertyNames",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contentMediaType",
        "additionalItems",
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        char text[200], want[100];
        snprintf(text, sizeof text, "{\"properties\": {\"a\": {\"%s\": {}}}}", unsupported[i]);
        snprintf(want, sizeof want, "unsupported JSON Schema keyword '%s' at /properties/a",
                 unsupported[i]);
        refused(text, want);
    }
    refused("{\"type\": \"text\"}", "'type' names no JSON type ('text')");
    refused("{\"type\": []}", "non-empty array");
    refused("{\"type\": [\"string\", 1]}", "not a JSON type name");
    refused("{\"enum\": []}", "'enum' must be a non-empty array");
    refused("{\"minLength\": -1}", "'minLength' must be a whole number from 0");
    refused("{\"maxItems\": 1.5}", "'maxItems' must be a whole number");
    refused("{\"minimum\": \"1\"}", "'minimum' must be a number");
    refused("{\"required\": [1]}", "array of property names");
    refused("{\"properties\": []}", "'properties' must be an object of schemas");
    refused("{\"items\": [{}]}", "a schema must be an object or a boolean at /items");
    refused("{\"anyOf\": []}", "'anyOf' must be a non-empty array of schemas");
    refused("{\"allOf\": [{}, {\"oneOf\": [1]}]}", "at /allOf/1/oneOf/0");
    refused("\"string\"", "a schema must be an object or a boolean at / (the root)");
}

static void test_depth_and_work_are_bounded(void **state)
{
    (void)state;
    /* AH_SCHEMA_DEPTH_MAX nested "not"s are fine; one more is refused. */
    char deep[1024] = "{}";
    for (int i = 0; i < AH_SCHEMA_DEPTH_MAX; i++) {
        char next[1024];
        snprintf(next, sizeof next, "{\"not\": %s}", deep);
        memcpy(deep, next, sizeof deep);
    }
    expect(deep, "1", ""); /* an even number of "not"s over {} */
    char deeper[1100];
    snprintf(deeper, sizeof deeper, "{\"items\": %s}", deep);
    refused(deeper, "schemas nest deeper than 32 levels");
    /*
     * Work: 2000 items, each tried against 200 failing branches before the
     * last one matches, is more visits than one validation may make.
     */
    json_t *branches = json_array();
    for (int i = 0; i < 200; i++)
        json_array_append_new(branches, json_pack("{s:s}", "type", "string"));
    json_array_append_new(branches, json_pack("{s:s}", "type", "integer"));
    json_t *schema = json_pack("{s:{s:o}}", "items", "anyOf", branches);
    json_t *data = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(data, json_integer(i));
    char why[256];
    assert_int_equal(ah_schema_check(schema, why, sizeof why), 0);
    assert_false(ah_schema_validate(schema, data, why, sizeof why));
    assert_non_null(strstr(why, "takes too long to check"));
    /* The same with 100 items is within bounds, and passes. */
    while (json_array_size(data) > 100)
        json_array_remove(data, 0);
    assert_true(ah_schema_validate(schema, data, why, sizeof why));
    json_decref(schema);
    json_decref(data);
    /* A long pointer is cut, not overflowed. */
    char key[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_t *long_schema = json_pack("{s:{s:{s:s}}}", "properties", key, "type", "string");
    json_t *long_data = json_pack("{s:i}", key, 1);
    assert_false(ah_schema_validate(long_schema, long_data, why, sizeof why));
    assert_non_null(strstr(why, "..."));
    json_decref(long_schema);
    json_decref(long_data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_objects_and_arrays),
        cmocka_unit_test(test_strings_numbers_values),
        cmocka_unit_test(test_combinators),
        cmocka_unit_test(test_refused_keywords),
        cmocka_unit_test(test_depth_and_work_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
