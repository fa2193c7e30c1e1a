/* SPDX-License-Identifier: MIT */
/*
 * test_json_set.c: the path handling of `airhook trigger --set PATH=VALUE`
 * (src/cli/json_set.c, included whole): nested objects made on the way,
 * array indexes and appends, what VALUE becomes, and the paths refused
 * with a sentence (which `airhook trigger` turns into a usage error, exit
 * 2: tests/integration/test_cli_trigger.py).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/json_set.c"

/* Applies each assignment to doc (JSON text) and compares with want (JSON text). */
static void check_sets(const char *doc, const char *const *sets, const char *want)
{
    json_t *root = json_loads(doc, JSON_DECODE_ANY, NULL);
    json_t *expect = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(root);
    assert_non_null(expect);
    char why[512];
    for (size_t i = 0; sets[i]; i++)
        if (ah_json_set_path(root, sets[i], why, sizeof why))
            fail_msg("--set %s refused: %s", sets[i], why);
    if (!json_equal(root, expect)) {
        char *got = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s, want %s", got, want);
    }
    json_decref(root);
    json_decref(expect);
}

#define SETS(...) ((const char *const[]){__VA_ARGS__, NULL})

/*
 * The --set is refused; its sentence holds each of the NULL-terminated
 * fragments, and doc is left as it was.
 */
static void check_refused(const char *doc, const char *assign, const char *const *fragments)
{
    json_t *root = json_loads(doc, JSON_DECODE_ANY, NULL);
    json_t *before = json_deep_copy(root);
    assert_non_null(root);
    char why[512] = "";
    assert_int_equal(ah_json_set_path(root, assign, why, sizeof why), -1);
    for (size_t i = 0; fragments[i]; i++)
        if (!strstr(why, fragments[i]))
            fail_msg("--set %s: '%s' does not say '%s'", assign, why, fragments[i]);
    assert_true(json_equal(root, before));
    json_decref(root);
    json_decref(before);
}

static void test_nested_objects(void **state)
{
    (void)state;
    check_sets("{}", SETS("a=1"), "{\"a\":1}");
    check_sets("{}", SETS("buyer.address.city=Pune"),
               "{\"buyer\":{\"address\":{\"city\":\"Pune\"}}}");
    check_sets("{\"buyer\":{\"name\":\"Ada\"}}", SETS("buyer.email=ada@example.com"),
               "{\"buyer\":{\"name\":\"Ada\",\"email\":\"ada@example.com\"}}");
    /* Later sets see earlier ones; a later one replaces a whole subtree. */
    check_sets("{}", SETS("a.b=1", "a.c=2", "a=3"), "{\"a\":3}");
    /* Keys may hold anything but a dot: spaces, dashes, unicode. */
    check_sets("{}", SETS("utm-source=x", "first name=y", "caf\xc3\xa9=z"),
               "{\"utm-source\":\"x\",\"first name\":\"y\",\"caf\xc3\xa9\":\"z\"}");
    /* A numeric key on an object is a key, not an index. */
    check_sets("{}", SETS("0=zero", "m.12=x"), "{\"0\":\"zero\",\"m\":{\"12\":\"x\"}}");
    /* Only the first '=' splits. */
    check_sets("{}", SETS("q=a=b"), "{\"q\":\"a=b\"}");
}

static void test_array_indexes(void **state)
{
    (void)state;
    check_sets("{\"items\":[{\"price\":1},{\"price\":2}]}", SETS("items.1.price=20"),
               "{\"items\":[{\"price\":1},{\"price\":20}]}");
    /* The length appends, as the last segment. */
    check_sets("{\"tags\":[\"a\"]}", SETS("tags.1=b", "tags.2=c"),
               "{\"tags\":[\"a\",\"b\",\"c\"]}");
    check_sets("{\"tags\":[]}", SETS("tags.0=1"), "{\"tags\":[1]}");
    /* Arrays in arrays, and a root that is an array. */
    check_sets("[[1,2],[3]]", SETS("0.1=9", "1.1=4", "2=[]"), "[[1,9],[3,4],[]]");
    /* An index with leading zeros is still a number. */
    check_sets("[0,0]", SETS("01=5"), "[0,5]");
}

static void test_value_types(void **state)
{
    (void)state;
    check_sets("{}",
               SETS("i=42", "neg=-7", "f=4.5", "t=true", "no=false", "nil=null", "arr=[1,\"x\"]",
                    "obj={\"a\":{\"b\":1}}", "quoted=\"42\"", "zip=0451",
                    "empty=", "words=hi there", "bad={not json", "sp= 1"),
               "{\"i\":42,\"neg\":-7,\"f\":4.5,\"t\":true,\"no\":false,\"nil\":null,"
               "\"arr\":[1,\"x\"],\"obj\":{\"a\":{\"b\":1}},\"quoted\":\"42\",\"zip\":\"0451\","
               "\"empty\":\"\",\"words\":\"hi there\",\"bad\":\"{not json\",\"sp\":1}");
    /* Big numbers stay numbers; duplicate keys are not JSON, so the text is a string. */
    check_sets("{}", SETS("big=9007199254740993", "dup={\"a\":1,\"a\":2}"),
               "{\"big\":9007199254740993,\"dup\":\"{\\\"a\\\":1,\\\"a\\\":2}\"}");
}

static void test_bad_syntax(void **state)
{
    (void)state;
    check_refused("{}", "noequals", SETS("PATH=VALUE", "noequals"));
    check_refused("{}", "=5", SETS("PATH=VALUE"));
    /* ("a" exists: objects made before the bad segment would stay, as json_set.h says.) */
    check_refused("{\"a\":{}}", "a..b=1", SETS("empty segment", "byte 2"));
    check_refused("{}", ".a=1", SETS("empty segment", "byte 0"));
    check_refused("{\"a\":{}}", "a.=1", SETS("empty segment"));
    check_refused("{}", "a=\xff", SETS("not valid UTF-8"));
    check_refused("{}", "\xff=1", SETS("not valid UTF-8"));
}

static void test_bad_indexes(void **state)
{
    (void)state;
    const char *doc = "{\"items\":[{\"price\":1}]}";
    check_refused(doc, "items.5=1",
                  SETS("'items' is an array of 1", "'5' is not an index below 2"));
    check_refused(doc, "items.x=1", SETS("is an array of 1", "'x'"));
    check_refused(doc, "items.-1=1", SETS("'-1'"));
    /* The length appends only as the last segment. */
    check_refused(doc, "items.1.price=1", SETS("'1' is not an index below 1"));
    check_refused("[1]", "3=1", SETS("the payload is an array of 1"));
    check_refused(doc, "items.1234567890=1", SETS("is not an index"));
}

static void test_paths_through_scalars(void **state)
{
    (void)state;
    const char *doc = "{\"name\":\"Ada\",\"n\":1,\"z\":null,\"b\":true,\"deep\":{\"s\":\"x\"}}";
    check_refused(doc, "name.first=A", SETS("'name' is a string, not an object or array"));
    check_refused(doc, "n.x=1", SETS("'n' is a number"));
    check_refused(doc, "z.x=1", SETS("'z' is null"));
    check_refused(doc, "b.x=1", SETS("'b' is a boolean"));
    check_refused(doc, "deep.s.t=1", SETS("'deep.s' is a string"));
    check_refused("\"text\"", "a=1", SETS("the payload is a string"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_objects), cmocka_unit_test(test_array_indexes),
        cmocka_unit_test(test_value_types),    cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_bad_indexes),    cmocka_unit_test(test_paths_through_scalars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
