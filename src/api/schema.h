/* SPDX-License-Identifier: MIT */
/*
 * schema.h: the subset of JSON Schema an operator's trigger may give for
 * the `data` of its events (docs/triggers.md, "Operator-defined triggers").
 *
 * Debian 12 packages no C JSON Schema validator (apt-cache search: only Go,
 * Python, Perl, PHP and JavaScript ones), so airhook checks a small,
 * documented subset itself, over jansson.  A schema is checked once, when
 * the operator gives it (ah_schema_check): a keyword outside the subset is
 * refused there with its location, never ignored, so a schema that is
 * accepted means exactly what JSON Schema (2020-12) says it means.
 *
 * The subset: boolean schemas; type (a name or a list of names); enum;
 * const; properties, required, additionalProperties (boolean or schema),
 * minProperties, maxProperties; items (one schema), minItems, maxItems;
 * minLength, maxLength (in code points); minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum (numbers); allOf, anyOf, oneOf, not;
 * and the annotations $schema, $comment, title, description, default,
 * examples, deprecated, readOnly and writeOnly, which assert nothing.
 * Everything else ($ref, $defs, pattern, format, multipleOf, uniqueItems,
 * prefixItems, contains, patternProperties, if/then/else, dependent*, ...)
 * is refused.  Numbers compare as doubles; enum and const compare with
 * json_equal (1 and 1.0 differ).
 */
#ifndef AH_SCHEMA_H
#define AH_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of subschemas a schema may have. */
#define AH_SCHEMA_DEPTH_MAX 32
/* Most subschema visits one validation may make (anyOf within anyOf ... is bounded by it). */
#define AH_SCHEMA_STEPS_MAX 200000

/*
 * 0 when schema is a JSON Schema within the subset; else -1 and a sentence
 * in why naming the keyword and where it is, as a JSON Pointer into the
 * schema ("unsupported JSON Schema keyword 'format' at /properties/email").
 */
int ah_schema_check(const json_t *schema, char *why, size_t whylen);

/*
 * true when data satisfies schema (one ah_schema_check accepted); else
 * false and a sentence in why saying where, as a JSON Pointer into data,
 * and what failed ("at /email: expected a string, got an integer").  A
 * validation that would take more than AH_SCHEMA_STEPS_MAX steps fails too.
 */
bool ah_schema_validate(const json_t *schema, const json_t *data, char *why, size_t whylen);

#endif
