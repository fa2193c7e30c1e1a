/* SPDX-License-Identifier: MIT */
/*
 * sign.c: Standard Webhooks signatures as the dispatcher sends them
 * (SPEC §6), and new signing secrets.
 *
 * One signature is libairhook-verify's ah_webhook_sign(), the code every
 * receiver that uses the library verifies with (src/verify/verify.c); this
 * file adds what only a sender does: two signatures, space-separated,
 * while a rotated secret overlaps, and making secrets.
 */
#include "delivery/sign.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "airhook/airhook.h"
#include "airhook/verify.h"
#include "common/crypto.h"

#define SECRET_PREFIX "whsec_"
#define SECRET_PREFIX_LEN 6
/* "v1," + 44 base64 characters. */
#define SIG_LEN (AH_WEBHOOK_SIGNATURE_SIZE - 1)

void ah_signing_secret_new(char *out, size_t outsz)
{
    unsigned char key[24];
    char b64[33];
    ah_random_bytes(key, sizeof key);
    ah_base64_encode(key, sizeof key, b64, sizeof b64);
    OPENSSL_cleanse(key, sizeof key);
    if (outsz < SECRET_PREFIX_LEN + sizeof b64) {
        if (outsz)
            out[0] = '\0';
        return;
    }
    snprintf(out, outsz, SECRET_PREFIX "%s", b64);
    OPENSSL_cleanse(b64, sizeof b64);
}

/* The library's result as a status of libairhook. */
static int status_of(int result)
{
    return result == AH_WEBHOOK_OK ? AH_OK : AH_EINVAL;
}

int ah_sign(const char *secret, const char *prev_secret, const char *msg_id, int64_t timestamp,
            const void *body, size_t body_len, char *out, size_t outsz)
{
    if (out && outsz)
        out[0] = '\0';
    if (!msg_id || !out || (!body && body_len))
        return AH_EINVAL;
    bool two = prev_secret && *prev_secret;
    if (outsz < (two ? 2 * SIG_LEN + 1 : SIG_LEN) + 1)
        return AH_ETOOBIG;
    int rc = status_of(ah_webhook_sign(secret, msg_id, timestamp, body, body_len, out, outsz));
    if (rc == AH_OK && two) {
        out[SIG_LEN] = ' ';
        rc = status_of(ah_webhook_sign(prev_secret, msg_id, timestamp, body, body_len,
                                       out + SIG_LEN + 1, outsz - SIG_LEN - 1));
    }
    if (rc)
        out[0] = '\0';
    return rc;
}
