/* SPDX-License-Identifier: MIT */
/*
 * fuzz_parsers.c: libFuzzer target for the small parsers of outside input:
 * times (RFC 3339 / unix seconds), durations, integers, UUIDs, base64.
 * Checks round-trip properties where there are some.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t v;
    if (ah_parse_time(s, &v) == 0 && v >= 0 && v < 253402300800000LL) {
        char buf[AH_TIME_SIZE];
        int64_t back;
        ah_format_time(v, buf);
        if (ah_parse_time(buf, &back) != 0 || back != v)
            abort();
    }
    (void)ah_parse_duration_ms(s, &v);
    (void)ah_parse_i64(s, INT64_MIN, INT64_MAX, &v);
    if (ah_is_uuid(s)) {
        ah_lower(s);
        if (!ah_is_uuid(s))
            abort();
    }
    unsigned char out[4096];
    long n = ah_base64_decode(s, out, sizeof out);
    if (n > 0) {
        char enc[8192];
        ah_base64_encode(out, (size_t)n, enc, sizeof enc);
        unsigned char again[4096];
        long m = ah_base64_decode(enc, again, sizeof again);
        if (m != n || memcmp(out, again, (size_t)n) != 0)
            abort();
    }
    free(s);
    return 0;
}
