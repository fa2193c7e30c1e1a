/* SPDX-License-Identifier: MIT */
/*
 * airhook/verify.h: libairhook-verify, checking a Standard Webhooks delivery
 * on the receiving end.  Its only dependency is OpenSSL (libcrypto).
 *
 * A delivery carries three headers and a body:
 *
 *     webhook-id:        msg_2Lh9…            (the event's id)
 *     webhook-timestamp: 1614265330           (unix seconds of this attempt)
 *     webhook-signature: v1,g0hM9SsE…= [v1,…]  (one or more, space-separated)
 *
 * and each "v1,<base64>" is HMAC-SHA256 under the key in the webhook's
 * secret ("whsec_" + base64 of the key) of  id "." timestamp "." body.
 * A delivery is genuine when any v1 entry matches (compared in constant
 * time) and its timestamp is within the tolerance of the receiver's clock.
 *
 *     int rc = ah_webhook_verify(secret, id, ts, sig, body, body_len);
 *     if (rc != AH_WEBHOOK_OK) {
 *         answer 401, log ah_webhook_strerror(rc);
 *     }
 *
 * The functions keep no state but a lazily fetched HMAC algorithm, and may
 * be called from any number of threads.  They never allocate on the heap
 * the caller has to free.  docs/verify.md has a complete example.
 */
#ifndef AIRHOOK_VERIFY_H
#define AIRHOOK_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(AH_WEBHOOK_STATIC_ONLY)
#define AH_WEBHOOK_API __attribute__((visibility("default")))
#else
#define AH_WEBHOOK_API
#endif

/* The library's version, as a string literal; ah_webhook_version() is the loaded one's. */
#define AH_WEBHOOK_VERSION "0.1.0"

/* The tolerance ah_webhook_verify() applies: 5 minutes either way. */
#define AH_WEBHOOK_TOLERANCE_S 300

/* A tolerance for ah_webhook_verify_at() that skips the time check (replaying a stored delivery).
 */
#define AH_WEBHOOK_ANY_TIME (-1)

/* Room for one signature, "v1," + 44 base64 characters + NUL. */
#define AH_WEBHOOK_SIGNATURE_SIZE 48

/* The longest webhook-signature header looked at; a longer one is malformed. */
#define AH_WEBHOOK_HEADER_MAX 8192

/* What a verification found.  Every value but AH_WEBHOOK_OK means: answer 401. */
typedef enum ah_webhook_result {
    AH_WEBHOOK_OK = 0,
    /* No v1 signature in the header matches: forged, altered, or another secret. */
    AH_WEBHOOK_BAD_SIGNATURE = -1,
    /* Genuine, but its timestamp is older than the tolerance: a replay, or a slow clock here. */
    AH_WEBHOOK_TOO_OLD = -2,
    /* Genuine, but its timestamp is ahead by more than the tolerance: a clock is wrong. */
    AH_WEBHOOK_TOO_NEW = -3,
    /*
     * A header is missing (NULL) or empty, the timestamp is not a plain decimal number of
     * seconds (no sign, no leading zero, at most 18 digits), or the signature header is
     * blank or longer than AH_WEBHOOK_HEADER_MAX.
     */
    AH_WEBHOOK_MALFORMED = -4,
    /*
     * The secret is not "whsec_" followed by standard, padded base64 of 1 to 96 key bytes.
     * A configuration error on the receiver's side, reported before the request is looked at.
     */
    AH_WEBHOOK_BAD_SECRET = -5,
    /* A bad argument (a NULL body with a length, a small buffer, a bad tolerance) or OpenSSL
       failed. */
    AH_WEBHOOK_ERROR = -6
} ah_webhook_result_t;

/*
 * Verifies a delivery against the system clock with AH_WEBHOOK_TOLERANCE_S.
 * msg_id, timestamp and signatures are the values of the webhook-id,
 * webhook-timestamp and webhook-signature headers (NULL when absent); body
 * is the raw request body as received, body_len bytes (NULL when empty).
 * Returns AH_WEBHOOK_OK or why not (see ah_webhook_result_t).
 */
AH_WEBHOOK_API int ah_webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                                     const char *signatures, const void *body, size_t body_len);

/*
 * ah_webhook_verify() with the clock given: now is the current time in unix
 * seconds, tolerance_s how far the timestamp may be from it either way
 * (>= 0), or AH_WEBHOOK_ANY_TIME.  The checks run in this order, so the
 * first problem found is the one returned: the secret, the headers' form,
 * the signatures, then the time.  The time is judged only for a genuine
 * delivery, so TOO_OLD and TOO_NEW always mean "signed by the secret's
 * holder, but at another time".
 */
AH_WEBHOOK_API int ah_webhook_verify_at(const char *secret, const char *msg_id,
                                        const char *timestamp, const char *signatures,
                                        const void *body, size_t body_len, int64_t now,
                                        int64_t tolerance_s);

/*
 * AH_WEBHOOK_OK when secret has the form of a signing secret, else
 * AH_WEBHOOK_BAD_SECRET: check configuration at start, not at the first
 * delivery.
 */
AH_WEBHOOK_API int ah_webhook_secret_check(const char *secret);

/*
 * Signs like a sender: writes "v1,<base64>" for (msg_id, timestamp, body)
 * under secret into out (at least AH_WEBHOOK_SIGNATURE_SIZE bytes).  For
 * tests of a receiver, and what airhook's own dispatcher signs with.
 * AH_WEBHOOK_BAD_SECRET, AH_WEBHOOK_MALFORMED (msg_id NULL or empty,
 * timestamp negative) or AH_WEBHOOK_ERROR (out too small); out is "" then.
 */
AH_WEBHOOK_API int ah_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp,
                                   const void *body, size_t body_len, char *out, size_t outsz);

/* A static sentence naming a result ("the signature does not match", …); never NULL. */
AH_WEBHOOK_API const char *ah_webhook_strerror(int result);

/* The version of the library that is loaded, e.g. "0.1.0". */
AH_WEBHOOK_API const char *ah_webhook_version(void);

#ifdef __cplusplus
}
#endif

#endif
