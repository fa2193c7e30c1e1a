/* SPDX-License-Identifier: MIT */
/*
 * json_set.h: `--set PATH=VALUE`, one edit of a JSON document from the
 * command line (`airhook trigger`'s payload overrides).
 *
 * PATH is dotted: `buyer.email`, `items.0.price`.  A segment indexes an
 * array when the value there is an array: it must then be a number below
 * the array's length, or equal to it for the last segment (which appends).
 * Missing object members along the way are created as objects.  VALUE is
 * JSON when it parses as JSON (42, true, null, [1], {"a":1}, "quoted") and
 * a string otherwise: `n=42` sets the number 42, `zip=0451` (not JSON: a
 * leading zero) the string "0451", `name=` the empty string.
 */
#ifndef AH_CLI_JSON_SET_H
#define AH_CLI_JSON_SET_H

#include <jansson.h>
#include <stddef.h>

/*
 * Applies one "PATH=VALUE" to root (an object or array, changed in
 * place).  Returns 0, or -1 with a sentence in why (size whysz) naming the
 * problem: no '=', an empty PATH or segment, a segment that is no index of
 * the array it meets, a path through a string, number, boolean or null,
 * text that is not UTF-8.  On failure root is unchanged, except for
 * objects created along a path that then failed.
 */
int ah_json_set_path(json_t *root, const char *assign, char *why, size_t whysz);

#endif
