/* SPDX-License-Identifier: MIT */
/*
 * sign.h: Standard Webhooks signatures as airhook sends them (SPEC §6).
 *
 * webhook-signature is "v1,<base64(HMAC-SHA256(key, id "." timestamp "." body))>"
 * where key is the base64-decoded part of the "whsec_…" secret.  While a
 * rotated secret overlaps, both signatures are sent, space-separated.  One
 * signature is computed by libairhook-verify (include/airhook/verify.h),
 * which is also how receivers, `airhook receive` included, verify them.
 */
#ifndef AH_SIGN_H
#define AH_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define AH_SIGNATURE_MAX 256

/* A new secret: "whsec_" + base64 of 24 random bytes. */
void ah_signing_secret_new(char *out, size_t outsz);

/*
 * Writes the webhook-signature header value for (msg_id, timestamp, body)
 * into out: one "v1,…" for secret, and a second for prev_secret when it is
 * non-NULL and non-empty.  AH_EINVAL when a secret is not "whsec_<base64>"
 * (or msg_id is NULL or empty), AH_ETOOBIG when out is too small; out is ""
 * on failure.
 */
int ah_sign(const char *secret, const char *prev_secret, const char *msg_id, int64_t timestamp,
            const void *body, size_t body_len, char *out, size_t outsz);

#endif
