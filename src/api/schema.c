/* SPDX-License-Identifier: MIT */
/*
 * schema.c: a validator for the documented subset of JSON Schema in
 * schema.h, used for the `data` of events of an operator's trigger.
 *
 * Two walks over the schema document (a jansson tree; nothing is compiled
 * into another form).  check() visits every subschema once and refuses
 * what is outside the subset or malformed, with a JSON Pointer to it; it
 * is what makes validate() simple: validate() may assume every keyword it
 * meets is known and well-formed.  validate() walks the schema along the
 * data and stops at the first failure, keeping the JSON Pointer of the data
 * value it is at in a fixed buffer (a pointer longer than the buffer is
 * cut with "..."; it is for people to read).
 *
 * Recursion follows the schema, whose depth check() bounds, never the data
 * alone; a step counter bounds the work of combinators nested in each other.
 */
#include "api/schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PTR_MAX 128 /* room in a 256-byte sentence for what failed, too */

/* ---- JSON Pointers ---- */

typedef struct ptr {
    char s[PTR_MAX];
    size_t len;
} ptr_t;

/* Appends "/" and token (escaped: ~ as ~0, / as ~1); returns the old length to restore. */
static size_t ptr_push(ptr_t *p, const char *token)
{
    size_t old = p->len;
    size_t room = sizeof p->s - 4; /* keep space for "..." and the terminator */
    if (p->len < room)
        p->s[p->len++] = '/';
    for (const char *c = token; *c && p->len < room; c++) {
        if (*c == '~' || *c == '/') {
            p->s[p->len++] = '~';
            if (p->len < room)
                p->s[p->len++] = *c == '~' ? '0' : '1';
        } else {
            p->s[p->len++] = *c;
        }
    }
    if (p->len >= room)
        memcpy(p->s + room, "...", 3), p->len = room + 3;
    p->s[p->len] = '\0';
    return old;
}

static size_t ptr_push_index(ptr_t *p, size_t i)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%zu", i);
    return ptr_push(p, buf);
}

static void ptr_pop(ptr_t *p, size_t old)
{
    p->len = old;
    p->s[old] = '\0';
}

static const char *ptr_text(const ptr_t *p)
{
    return p->len ? p->s : "/ (the root)";
}

/* ---- checking a schema ---- */

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "integer", "string"};
static const char *const annotations[] = {"$schema",     "$comment", "title",
                                          "description", "default",  "examples",
                                          "deprecated",  "readOnly", "writeOnly"};

static bool in(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, set[i]))
            return true;
    return false;
}
#define IN(s, set) in(s, set, sizeof set / sizeof set[0])

typedef struct checker {
    ptr_t at;
    char *why;
    size_t whylen;
} checker_t;

static int refuse(checker_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(checker_t *c, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->why, c->whylen, "%s at %s", what, ptr_text(&c->at));
    return -1;
}

static int check_schema(checker_t *c, const json_t *s, int depth);

static bool is_count(const json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* A subschema under keyword kw (and index i when >= 0). */
static int check_sub(checker_t *c, const char *kw, long i, const json_t *s, int depth)
{
    size_t o1 = ptr_push(&c->at, kw), o2 = c->at.len;
    if (i >= 0)
        ptr_push_index(&c->at, (size_t)i);
    int rc = check_schema(c, s, depth + 1);
    ptr_pop(&c->at, o2);
    ptr_pop(&c->at, o1);
    return rc;
}

static int check_type(checker_t *c, const json_t *v)
{
    if (json_is_string(v)) {
        if (!IN(json_string_value(v), type_names))
            return refuse(c,
                          "'type' names no JSON type ('%s'); the types are null, boolean, "
                          "object, array, number, integer and string",
                          json_string_value(v));
        return 0;
    }
    size_t i;
    const json_t *t;
    if (!json_is_array(v) || !json_array_size(v))
        return refuse(c, "'%s' must be a type name or a non-empty array of them", "type");
    json_array_foreach(v, i, t)
    {
        if (!json_is_string(t) || !IN(json_string_value(t), type_names))
            return refuse(c, "'%s' lists something that is not a JSON type name", "type");
    }
    return 0;
}

/* One keyword of a schema object. */
static int check_keyword(checker_t *c, const char *kw, const json_t *v, int depth)
{
    if (IN(kw, annotations))
        return 0;
    if (!strcmp(kw, "type"))
        return check_type(c, v);
    if (!strcmp(kw, "const"))
        return 0;
    if (!strcmp(kw, "enum"))
        return json_is_array(v) && json_array_size(v)
                   ? 0
                   : refuse(c, "'%s' must be a non-empty array", kw);
    if (!strcmp(kw, "minLength") || !strcmp(kw, "maxLength") || !strcmp(kw, "minItems") ||
        !strcmp(kw, "maxItems") || !strcmp(kw, "minProperties") || !strcmp(kw, "maxProperties"))
        return is_count(v) ? 0 : refuse(c, "'%s' must be a whole number from 0", kw);
    if (!strcmp(kw, "minimum") || !strcmp(kw, "maximum") || !strcmp(kw, "exclusiveMinimum") ||
        !strcmp(kw, "exclusiveMaximum"))
        return json_is_number(v) ? 0 : refuse(c, "'%s' must be a number", kw);
    if (!strcmp(kw, "required")) {
        size_t i;
        const json_t *e;
        if (!json_is_array(v))
            return refuse(c, "'%s' must be an array of property names", kw);
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                return refuse(c, "'%s' must be an array of property names", kw);
        }
        return 0;
    }
    if (!strcmp(kw, "properties")) {
        const char *name;
        json_t *sub;
        if (!json_is_object(v))
            return refuse(c, "'%s' must be an object of schemas", kw);
        size_t o = ptr_push(&c->at, kw);
        json_object_foreach((json_t *)v, name, sub)
        {
            size_t o2 = ptr_push(&c->at, name);
            int rc = check_schema(c, sub, depth + 1);
            ptr_pop(&c->at, o2);
            if (rc)
                return rc;
        }
        ptr_pop(&c->at, o);
        return 0;
    }
    if (!strcmp(kw, "additionalProperties") || !strcmp(kw, "items") || !strcmp(kw, "not"))
        return check_sub(c, kw, -1, v, depth);
    if (!strcmp(kw, "allOf") || !strcmp(kw, "anyOf") || !strcmp(kw, "oneOf")) {
        size_t i;
        const json_t *sub;
        if (!json_is_array(v) || !json_array_size(v))
            return refuse(c, "'%s' must be a non-empty array of schemas", kw);
        json_array_foreach(v, i, sub)
        {
            if (check_sub(c, kw, (long)i, sub, depth))
                return -1;
        }
        return 0;
    }
    return refuse(c, "unsupported JSON Schema keyword '%.64s'", kw);
}

static int check_schema(checker_t *c, const json_t *s, int depth)
{
    if (depth > AH_SCHEMA_DEPTH_MAX)
        return refuse(c, "schemas nest deeper than %d levels", AH_SCHEMA_DEPTH_MAX);
    if (json_is_boolean(s))
        return 0;
    if (!json_is_object(s))
        return refuse(c, "a schema must be an object or a boolean");
    const char *kw;
    json_t *v;
    json_object_foreach((json_t *)s, kw, v)
    {
        if (check_keyword(c, kw, v, depth))
            return -1;
    }
    return 0;
}

int ah_schema_check(const json_t *schema, char *why, size_t whylen)
{
    checker_t c = {.why = why, .whylen = whylen};
    if (!schema)
        return refuse(&c, "no schema");
    return check_schema(&c, schema, 0);
}

/* ---- validating data ---- */

typedef struct validator {
    ptr_t at;
    long steps;
    char *why;
    size_t whylen;
    bool failed_budget;
} validator_t;

static bool fail(validator_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(validator_t *v, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(v->why, v->whylen, "at %s: %s", ptr_text(&v->at), what);
    return false;
}

static const char *kind_of(const json_t *d)
{
    switch (json_typeof(d)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static bool has_type(const json_t *d, const char *t)
{
    if (!strcmp(t, "null"))
        return json_is_null(d);
    if (!strcmp(t, "boolean"))
        return json_is_boolean(d);
    if (!strcmp(t, "object"))
        return json_is_object(d);
    if (!strcmp(t, "array"))
        return json_is_array(d);
    if (!strcmp(t, "number"))
        return json_is_number(d);
    if (!strcmp(t, "string"))
        return json_is_string(d);
    /* integer: 2020-12 counts 1.0 as one */
    if (json_is_integer(d))
        return true;
    if (json_is_real(d)) {
        double x = json_real_value(d);
        return isfinite(x) && floor(x) == x;
    }
    return false;
}

static bool validate(validator_t *v, const json_t *s, const json_t *d);

static bool check_type_kw(validator_t *v, const json_t *t, const json_t *d)
{
    if (json_is_string(t)) {
        if (has_type(d, json_string_value(t)))
            return true;
        return fail(v, "expected %s %s, got %s",
                    strchr("aeiou", json_string_value(t)[0]) ? "an" : "a", json_string_value(t),
                    kind_of(d));
    }
    size_t i;
    const json_t *e;
    json_array_foreach(t, i, e)
    {
        if (has_type(d, json_string_value(e)))
            return true;
    }
    char *list = json_dumps(t, JSON_COMPACT);
    bool r = fail(v, "expected one of the types %.100s, got %s", list ? list : "", kind_of(d));
    free(list);
    return r;
}

static size_t code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* The keywords about numbers, strings, arrays and objects' sizes. */
static bool check_bounds(validator_t *v, const char *kw, const json_t *k, const json_t *d)
{
    if (json_is_number(d)) {
        double x = json_number_value(d), b = json_number_value(k);
        if (!strcmp(kw, "minimum") && x < b)
            return fail(v, "%g is less than the minimum %g", x, b);
        if (!strcmp(kw, "maximum") && x > b)
            return fail(v, "%g is more than the maximum %g", x, b);
        if (!strcmp(kw, "exclusiveMinimum") && x <= b)
            return fail(v, "%g is not more than %g (exclusiveMinimum)", x, b);
        if (!strcmp(kw, "exclusiveMaximum") && x >= b)
            return fail(v, "%g is not less than %g (exclusiveMaximum)", x, b);
    }
    json_int_t n = json_integer_value(k);
    if (json_is_string(d)) {
        size_t len = code_points(json_string_value(d), json_string_length(d));
        if (!strcmp(kw, "minLength") && (json_int_t)len < n)
            return fail(v, "a string of %zu characters is shorter than minLength %lld", len,
                        (long long)n);
        if (!strcmp(kw, "maxLength") && (json_int_t)len > n)
            return fail(v, "a string of %zu characters is longer than maxLength %lld", len,
                        (long long)n);
    }
    if (json_is_array(d)) {
        size_t len = json_array_size(d);
        if (!strcmp(kw, "minItems") && (json_int_t)len < n)
            return fail(v, "%zu items are fewer than minItems %lld", len, (long long)n);
        if (!strcmp(kw, "maxItems") && (json_int_t)len > n)
            return fail(v, "%zu items are more than maxItems %lld", len, (long long)n);
    }
    if (json_is_object(d)) {
        size_t len = json_object_size(d);
        if (!strcmp(kw, "minProperties") && (json_int_t)len < n)
            return fail(v, "%zu properties are fewer than minProperties %lld", len, (long long)n);
        if (!strcmp(kw, "maxProperties") && (json_int_t)len > n)
            return fail(v, "%zu properties are more than maxProperties %lld", len, (long long)n);
    }
    return true;
}

/* A subschema against a member of d (key) or an item (index). */
static bool validate_at(validator_t *v, const json_t *s, const json_t *d, const char *key,
                        size_t index)
{
    size_t o = key ? ptr_push(&v->at, key) : ptr_push_index(&v->at, index);
    bool ok = validate(v, s, d);
    ptr_pop(&v->at, o);
    return ok;
}

static bool check_object(validator_t *v, const json_t *s, const json_t *d)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    const json_t *req = json_object_get(s, "required");
    size_t i;
    const json_t *name;
    json_array_foreach(req, i, name)
    {
        if (!json_object_get(d, json_string_value(name)))
            return fail(v, "the required property '%.64s' is missing", json_string_value(name));
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)d, key, val)
    {
        const json_t *sub = json_object_get(props, key);
        if (!sub && extra && json_is_false(extra)) {
            size_t o = ptr_push(&v->at, key);
            fail(v, "the property is not allowed (additionalProperties is false)");
            ptr_pop(&v->at, o);
            return false;
        }
        if (!sub)
            sub = extra;
        if (sub && !validate_at(v, sub, val, key, 0))
            return false;
    }
    return true;
}

/* allOf, anyOf, oneOf, not. */
static bool check_combinator(validator_t *v, const char *kw, const json_t *k, const json_t *d)
{
    if (!strcmp(kw, "not")) {
        char saved[1];
        validator_t inner = *v;
        inner.why = saved;
        inner.whylen = sizeof saved;
        bool matched = validate(&inner, k, d);
        v->steps = inner.steps;
        if (inner.failed_budget)
            return v->failed_budget = true, fail(v, "the schema takes too long to check");
        return matched ? fail(v, "matches the schema under 'not'") : true;
    }
    size_t i, matches = 0;
    const json_t *sub;
    json_array_foreach(k, i, sub)
    {
        if (!strcmp(kw, "allOf")) {
            if (!validate(v, sub, d))
                return false;
            continue;
        }
        char saved[1];
        validator_t inner = *v;
        inner.why = saved;
        inner.whylen = sizeof saved;
        matches += validate(&inner, sub, d);
        v->steps = inner.steps;
        if (inner.failed_budget)
            return v->failed_budget = true, fail(v, "the schema takes too long to check");
        if (!strcmp(kw, "anyOf") && matches)
            return true;
    }
    if (!strcmp(kw, "anyOf"))
        return fail(v, "matches none of the %zu schemas of anyOf", json_array_size(k));
    if (!strcmp(kw, "oneOf") && matches != 1)
        return fail(v, "matches %zu of the schemas of oneOf, not exactly one", matches);
    return true;
}

static bool validate(validator_t *v, const json_t *s, const json_t *d)
{
    if (++v->steps > AH_SCHEMA_STEPS_MAX) {
        v->failed_budget = true;
        return fail(v, "the schema takes too long to check (more than %d steps)",
                    AH_SCHEMA_STEPS_MAX);
    }
    if (json_is_true(s))
        return true;
    if (json_is_false(s))
        return fail(v, "no value is allowed here (the schema is false)");
    const char *kw;
    json_t *k;
    json_object_foreach((json_t *)s, kw, k)
    {
        bool ok = true;
        if (!strcmp(kw, "type")) {
            ok = check_type_kw(v, k, d);
        } else if (!strcmp(kw, "const")) {
            ok = json_equal(k, (json_t *)d) || fail(v, "is not the value 'const' requires");
        } else if (!strcmp(kw, "enum")) {
            size_t i;
            const json_t *e;
            ok = false;
            json_array_foreach(k, i, e) ok = ok || json_equal((json_t *)e, (json_t *)d);
            if (!ok)
                fail(v, "is not one of the %zu values 'enum' allows", json_array_size(k));
        } else if (!strcmp(kw, "properties") || !strcmp(kw, "required") ||
                   !strcmp(kw, "additionalProperties")) {
            continue; /* together, after the loop: they depend on each other */
        } else if (!strcmp(kw, "items")) {
            size_t i;
            const json_t *item;
            if (json_is_array(d))
                json_array_foreach(d, i, item)
                {
                    if (!(ok = validate_at(v, k, item, NULL, i)))
                        break;
                }
        } else if (!strcmp(kw, "allOf") || !strcmp(kw, "anyOf") || !strcmp(kw, "oneOf") ||
                   !strcmp(kw, "not")) {
            ok = check_combinator(v, kw, k, d);
        } else if (!IN(kw, annotations)) {
            ok = check_bounds(v, kw, k, d);
        }
        if (!ok)
            return false;
    }
    if (json_is_object(d) && (json_object_get(s, "properties") || json_object_get(s, "required") ||
                              json_object_get(s, "additionalProperties")))
        return check_object(v, s, d);
    return true;
}

bool ah_schema_validate(const json_t *schema, const json_t *data, char *why, size_t whylen)
{
    validator_t v = {.why = why, .whylen = whylen};
    if (why && whylen)
        why[0] = '\0';
    return validate(&v, schema, data);
}
