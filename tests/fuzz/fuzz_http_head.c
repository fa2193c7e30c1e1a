/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http_head.c: libFuzzer target for the strict checks of a request's
 * head (src/http/head.c).  The input is a raw head; it is laid out the way
 * libmicrohttpd 0.9 leaves a head it parsed in place (tests/unit/mhd_head.h)
 * and checked, and its target scanned as sent.  A second pass feeds the
 * same fields with pointers shifted by the input's first byte, as a head
 * libmicrohttpd never produces: the checks must refuse or accept it without
 * reading outside the fields they are given.  Properties: a refused head
 * has a sentence, an accepted one a consistent framing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/mhd_head.h"
#include "http/head.h"

static mhd_head_t g_head;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > sizeof g_head.buf - 1)
        return 0;
    char *raw = malloc(size + 1);
    memcpy(raw, data, size);
    raw[size] = '\0';
    ah_http_target_t t;
    ah_http_scan_target(raw, strnlen(raw, size), &t);
    if (t.status && !t.problem)
        abort();
    if (t.query_at > t.len || (t.status && t.status != 400 && t.status != 414))
        abort();
    if (mhd_head_parse(raw, size, &g_head)) {
        ah_http_head_t h;
        ah_http_scan_target(g_head.target, g_head.target_len, &t);
        int status = mhd_head_check(&g_head, &h);
        if (status && !h.why[0])
            abort();
        if (!status && (h.n_length > 1 || h.n_encoding > 1 || (h.n_length && h.n_encoding)))
            abort();
        /* The same fields, moved: whatever the verdict, no read outside them. */
        size_t shift = size ? data[0] % 3 : 0;
        if (ah_http_head_begin(&h, g_head.method, g_head.target, g_head.target_len, g_head.version,
                               g_head.head_len + shift))
            for (size_t i = 0; i < g_head.n; i++)
                if (!ah_http_head_field(&h, g_head.f[i].name + (i == 0 ? shift % 2 : 0),
                                        g_head.f[i].name_len -
                                            (i == 0 && g_head.f[i].name_len ? shift % 2 : 0),
                                        g_head.f[i].value, g_head.f[i].value_len))
                    break;
        (void)ah_http_head_end(&h);
        (void)ah_http_head_has_body(&h);
    }
    free(raw);
    return 0;
}
