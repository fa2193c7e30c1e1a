/* SPDX-License-Identifier: MIT */
/*
 * fuzz_verify.c: libFuzzer target for libairhook-verify's parsers of outside
 * input: the secret, the webhook-timestamp and the webhook-signature header.
 *
 * The input is split at newlines into secret, webhook-id, webhook-timestamp
 * and webhook-signature; the rest is the body.  Whatever they hold:
 * - the result is one of the documented codes, with or without a time check;
 * - OK means the secret passes ah_webhook_secret_check and the signature
 *   ah_webhook_sign makes for that content is one of the header's entries;
 * - with a usable secret and id, a header that gains the right signature
 *   verifies (whatever junk stood before it), at the signing time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/verify.h"

#define NOW 1614265330

/* The next newline-terminated field of [*p, end) as a fresh string, or NULL past the end. */
static char *field(const char **p, const char *end)
{
    if (*p > end)
        return NULL;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    size_t n = (size_t)(stop - *p);
    char *s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p = nl ? nl + 1 : end + 1;
    return s;
}

static void check_result(int rc)
{
    if (rc > AH_WEBHOOK_OK || rc < AH_WEBHOOK_ERROR)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 3 * AH_WEBHOOK_HEADER_MAX)
        return 0;
    const char *p = (const char *)data, *end = p + size;
    char *secret = field(&p, end), *id = field(&p, end), *ts = field(&p, end),
         *sig = field(&p, end);
    const char *body = p <= end ? p : end;
    size_t body_len = (size_t)(end - body);

    int rc = ah_webhook_verify_at(secret, id, ts, sig, body, body_len, NOW, 300);
    check_result(rc);
    int any = ah_webhook_verify_at(secret, id, ts, sig, body, body_len, NOW, AH_WEBHOOK_ANY_TIME);
    check_result(any);
    /* A time check only ever takes acceptance away. */
    if (rc == AH_WEBHOOK_OK && any != AH_WEBHOOK_OK)
        abort();
    if (any == AH_WEBHOOK_OK) {
        if (ah_webhook_secret_check(secret) != AH_WEBHOOK_OK)
            abort();
        char want[AH_WEBHOOK_SIGNATURE_SIZE];
        int64_t t = strtoll(ts, NULL, 10);
        if (ah_webhook_sign(secret, id, t, body, body_len, want, sizeof want) != AH_WEBHOOK_OK ||
            !strstr(sig, want))
            abort();
    }

    if (secret && id && *id && ah_webhook_secret_check(secret) == AH_WEBHOOK_OK) {
        char good[AH_WEBHOOK_SIGNATURE_SIZE];
        if (ah_webhook_sign(secret, id, NOW, body, body_len, good, sizeof good) != AH_WEBHOOK_OK)
            abort();
        size_t junk = sig ? strlen(sig) : 0;
        if (junk + 1 + strlen(good) <= AH_WEBHOOK_HEADER_MAX) {
            char *header = malloc(junk + 1 + sizeof good);
            memcpy(header, sig ? sig : "", junk);
            header[junk] = ' ';
            memcpy(header + junk + 1, good, sizeof good);
            char now_s[24] = "1614265330";
            if (ah_webhook_verify_at(secret, id, now_s, header, body, body_len, NOW, 0) !=
                AH_WEBHOOK_OK)
                abort();
            free(header);
        }
    }
    free(secret);
    free(id);
    free(ts);
    free(sig);
    return 0;
}
