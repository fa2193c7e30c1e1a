/* SPDX-License-Identifier: MIT */
/*
 * jsonspan.h: where a member's value sits in the raw text of a JSON object.
 *
 * Events are delivered byte for byte as published (SPEC §6), so the server
 * must cut the "data" value out of the request body rather than re-serialise
 * what jansson parsed.  The caller validates the whole text with jansson
 * first; this scanner then walks the top-level object and reports the
 * offset and length of one member's value.
 */
#ifndef AH_JSONSPAN_H
#define AH_JSONSPAN_H

#include <stddef.h>

/*
 * Finds top-level member `key` of the JSON object in json[0..len).  Returns
 * 0 with *off / *vlen set, AH_ENOTFOUND when the object has no such member,
 * AH_EINVAL when the text is not an object this scanner understands (never
 * for text jansson accepted).  Keys with escapes are compared decoded.
 */
int ah_json_member_span(const char *json, size_t len, const char *key, size_t *off, size_t *vlen);

#endif
