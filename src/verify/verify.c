/* SPDX-License-Identifier: MIT */
/*
 * verify.c: libairhook-verify, the Standard Webhooks signature scheme in
 * one file that needs only libcrypto (include/airhook/verify.h is its API).
 *
 * Both ends use it: a receiver calls ah_webhook_verify(), and airhook's
 * dispatcher signs every delivery through ah_webhook_sign() (via
 * delivery/sign.c, which adds rotation), so what airhook sends and what
 * the library accepts cannot drift apart.  That is also why this file
 * includes nothing from src/: it is built into the shared and static
 * libairhook-verify on its own (scripts/check-layers.sh keeps it so).
 *
 * A secret is "whsec_" followed by strict standard base64 (alphabet only,
 * padded to a multiple of 4, '=' only at the end) of 1 to 96 key bytes.
 * The signed content, msg_id "." timestamp "." body, is fed to HMAC-SHA256
 * in pieces through OpenSSL's EVP_MAC, so a large body is never copied.
 * The HMAC algorithm is fetched once per process and shared by all threads
 * (OpenSSL makes fetched algorithms safe to share).
 *
 * Verifying parses the space-separated entries of webhook-signature, skips
 * any that is not exactly "v1," + 44 base64 characters (another version, a
 * truncated one, junk), and compares every v1 entry with the expected
 * signature in constant time, without stopping at a match, so the time
 * taken does not say which entry matched.  The timestamp must be canonical
 * decimal: a receiver re-formats the number it parses before signing it,
 * so "+1614265330" or "01614265330" would otherwise verify as if it were
 * "1614265330" while meaning something else to whoever reads the header.
 */
#include "airhook/verify.h"

#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SECRET_PREFIX "whsec_"
#define SECRET_PREFIX_LEN 6
/* Longest key accepted: airhook's are 24 bytes, the spec recommends 24 to 64. */
#define KEY_MAX 96
#define MAC_LEN 32
/* base64 of 32 bytes. */
#define SIG_B64_LEN 44
#define TIMESTAMP_SIZE 24
#define TIMESTAMP_DIGITS_MAX 18

static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_alg;

static void fetch_hmac(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Strict standard base64: alphabet only, padded to a multiple of 4, '=' only at the end. */
static bool valid_b64(const char *s, size_t len)
{
    if (len == 0 || len % 4 != 0)
        return false;
    size_t pad = 0;
    if (s[len - 1] == '=')
        pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char(s[i]))
            return false;
    return true;
}

/* Decodes "whsec_<base64>" into key; returns the key length, or 0 when it is not a secret. */
static size_t decode_secret(const char *secret, unsigned char key[KEY_MAX])
{
    if (!secret || strncmp(secret, SECRET_PREFIX, SECRET_PREFIX_LEN) != 0)
        return 0;
    const char *b64 = secret + SECRET_PREFIX_LEN;
    size_t len = strnlen(b64, 4 * ((KEY_MAX + 2) / 3) + 1);
    if (len > 4 * ((KEY_MAX + 2) / 3) || !valid_b64(b64, len))
        return 0;
    /* 128 characters decode to at most 96 bytes, so key has room. */
    int n = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)len);
    if (n < 0)
        return 0;
    /* EVP_DecodeBlock counts padding as output; take it back. */
    if (b64[len - 1] == '=')
        n--;
    if (b64[len - 2] == '=')
        n--;
    return n > 0 ? (size_t)n : 0;
}

/* HMAC-SHA256(key, id "." ts "." body) into mac. */
static int hmac_content(const unsigned char *key, size_t key_len, const char *msg_id,
                        const char *ts, const void *body, size_t body_len,
                        unsigned char mac[MAC_LEN])
{
    pthread_once(&mac_once, fetch_hmac);
    if (!hmac_alg)
        return AH_WEBHOOK_ERROR;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx)
        return AH_WEBHOOK_ERROR;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t out_len = 0;
    int rc = AH_WEBHOOK_ERROR;
    if (EVP_MAC_init(ctx, key, key_len, params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1)
        goto out;
    if (body_len && EVP_MAC_update(ctx, body, body_len) != 1)
        goto out;
    if (EVP_MAC_final(ctx, mac, &out_len, MAC_LEN) != 1 || out_len != MAC_LEN)
        goto out;
    rc = AH_WEBHOOK_OK;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* base64 of the signature of the content under secret into b64 (SIG_B64_LEN + 1 bytes). */
static int signature_b64(const char *secret, const char *msg_id, const char *ts, const void *body,
                         size_t body_len, char b64[SIG_B64_LEN + 1])
{
    unsigned char key[KEY_MAX], mac[MAC_LEN];
    size_t key_len = decode_secret(secret, key);
    int rc = key_len ? hmac_content(key, key_len, msg_id, ts, body, body_len, mac)
                     : AH_WEBHOOK_BAD_SECRET;
    OPENSSL_cleanse(key, sizeof key);
    if (rc == AH_WEBHOOK_OK)
        EVP_EncodeBlock((unsigned char *)b64, mac, MAC_LEN);
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}

/* Canonical non-negative decimal (no sign, no leading zero, no spaces, at most 18 digits). */
static bool parse_timestamp(const char *s, int64_t *out)
{
    size_t len = strnlen(s, TIMESTAMP_DIGITS_MAX + 1);
    if (len == 0 || len > TIMESTAMP_DIGITS_MAX || (len > 1 && s[0] == '0'))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* True when the header holds something besides spaces, within AH_WEBHOOK_HEADER_MAX. */
static bool header_usable(const char *h)
{
    size_t len = strnlen(h, AH_WEBHOOK_HEADER_MAX + 1);
    if (len > AH_WEBHOOK_HEADER_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (h[i] != ' ')
            return true;
    return false;
}

/* True when any "v1,<44>" entry of the space-separated header equals want, in constant time. */
static bool any_match(const char *header, const char want[SIG_B64_LEN])
{
    bool ok = false;
    const char *p = header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 3 + SIG_B64_LEN && !memcmp(p, "v1,", 3) &&
            CRYPTO_memcmp(p + 3, want, SIG_B64_LEN) == 0)
            ok = true;
        p += len;
    }
    return ok;
}

int ah_webhook_secret_check(const char *secret)
{
    unsigned char key[KEY_MAX];
    size_t n = decode_secret(secret, key);
    OPENSSL_cleanse(key, sizeof key);
    return n ? AH_WEBHOOK_OK : AH_WEBHOOK_BAD_SECRET;
}

int ah_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const void *body,
                    size_t body_len, char *out, size_t outsz)
{
    if (out && outsz)
        out[0] = '\0';
    if (!out || outsz < AH_WEBHOOK_SIGNATURE_SIZE || (!body && body_len))
        return AH_WEBHOOK_ERROR;
    if (ah_webhook_secret_check(secret) != AH_WEBHOOK_OK)
        return AH_WEBHOOK_BAD_SECRET;
    if (!msg_id || !*msg_id || timestamp < 0)
        return AH_WEBHOOK_MALFORMED;
    char ts[TIMESTAMP_SIZE], b64[SIG_B64_LEN + 1];
    snprintf(ts, sizeof ts, "%" PRId64, timestamp);
    int rc = signature_b64(secret, msg_id, ts, body, body_len, b64);
    if (rc == AH_WEBHOOK_OK) {
        memcpy(out, "v1,", 3);
        memcpy(out + 3, b64, SIG_B64_LEN + 1);
    }
    OPENSSL_cleanse(b64, sizeof b64);
    return rc;
}

int ah_webhook_verify_at(const char *secret, const char *msg_id, const char *timestamp,
                         const char *signatures, const void *body, size_t body_len, int64_t now,
                         int64_t tolerance_s)
{
    if ((!body && body_len) || tolerance_s < AH_WEBHOOK_ANY_TIME)
        return AH_WEBHOOK_ERROR;
    if (ah_webhook_secret_check(secret) != AH_WEBHOOK_OK)
        return AH_WEBHOOK_BAD_SECRET;
    int64_t ts;
    if (!msg_id || !*msg_id || !timestamp || !parse_timestamp(timestamp, &ts) || !signatures ||
        !header_usable(signatures))
        return AH_WEBHOOK_MALFORMED;
    char want[SIG_B64_LEN + 1];
    int rc = signature_b64(secret, msg_id, timestamp, body, body_len, want);
    if (rc == AH_WEBHOOK_OK && !any_match(signatures, want))
        rc = AH_WEBHOOK_BAD_SIGNATURE;
    OPENSSL_cleanse(want, sizeof want);
    if (rc != AH_WEBHOOK_OK || tolerance_s == AH_WEBHOOK_ANY_TIME)
        return rc;
    /* ts is in [0, 10^18), so ts - tolerance and ts + tolerance cannot overflow for sane
     * tolerances; compare in unsigned arithmetic so that any now and tolerance are safe. */
    if (now >= ts)
        return (uint64_t)now - (uint64_t)ts > (uint64_t)tolerance_s ? AH_WEBHOOK_TOO_OLD
                                                                    : AH_WEBHOOK_OK;
    return (uint64_t)ts - (uint64_t)now > (uint64_t)tolerance_s ? AH_WEBHOOK_TOO_NEW
                                                                : AH_WEBHOOK_OK;
}

int ah_webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                      const char *signatures, const void *body, size_t body_len)
{
    return ah_webhook_verify_at(secret, msg_id, timestamp, signatures, body, body_len,
                                (int64_t)time(NULL), AH_WEBHOOK_TOLERANCE_S);
}

const char *ah_webhook_strerror(int result)
{
    switch (result) {
    case AH_WEBHOOK_OK:
        return "the signature is valid";
    case AH_WEBHOOK_BAD_SIGNATURE:
        return "no signature matches (forged, altered, or signed with another secret)";
    case AH_WEBHOOK_TOO_OLD:
        return "the timestamp is too old (a replay, or this clock is behind)";
    case AH_WEBHOOK_TOO_NEW:
        return "the timestamp is too far ahead (a clock is wrong)";
    case AH_WEBHOOK_MALFORMED:
        return "a webhook header is missing or malformed";
    case AH_WEBHOOK_BAD_SECRET:
        return "the secret is not a signing secret (whsec_ followed by base64)";
    case AH_WEBHOOK_ERROR:
        return "bad argument or internal error";
    default:
        return "unknown result";
    }
}

const char *ah_webhook_version(void)
{
    return AH_WEBHOOK_VERSION;
}
