/*
 * sign.c: Standard Webhooks signatures, both ends (SPEC §6).
 *
 * A secret is "whsec_" followed by standard base64 of the key bytes.  The
 * signed content is msg_id "." timestamp "." body, fed to HMAC-SHA256 in
 * pieces through OpenSSL's EVP_MAC so a large body is never copied.  The
 * HMAC algorithm object is fetched once per process and shared by all
 * threads (OpenSSL makes fetched algorithms safe to share).
 *
 * ah_verify is what a receiver does, used by tests and the CLI: it parses
 * the space-separated "v1,<base64>" entries, skips other versions, compares
 * each against the expected signature in constant time, and checks the
 * timestamp is within tolerance.  The timestamp must be canonical decimal,
 * because receivers re-format the number they parse before signing it.
 */
#include "delivery/sign.h"

#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "airhook/airhook.h"
#include "common/crypto.h"

#define SECRET_PREFIX "whsec_"
#define SECRET_PREFIX_LEN 6
/* Longest key accepted: ours are 24 bytes, the spec recommends 24 to 64. */
#define KEY_MAX 96
/* base64 of 32 bytes. */
#define SIG_B64_LEN 44
#define TIMESTAMP_SIZE 24

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

/* Decodes "whsec_<base64>" into key; returns the key length or -1. */
static long decode_secret(const char *secret, unsigned char key[KEY_MAX])
{
    if (!secret || strncmp(secret, SECRET_PREFIX, SECRET_PREFIX_LEN) != 0)
        return -1;
    const char *b64 = secret + SECRET_PREFIX_LEN;
    size_t len = strlen(b64);
    if (len > (size_t)4 * ((KEY_MAX + 2) / 3) || !valid_b64(b64, len))
        return -1;
    long n = ah_base64_decode(b64, key, KEY_MAX);
    return n > 0 ? n : -1;
}

/* HMAC-SHA256(key, id "." ts "." body) into mac[32]. */
static int hmac_content(const unsigned char *key, size_t key_len, const char *msg_id,
                        const char *ts, const void *body, size_t body_len, unsigned char mac[32])
{
    pthread_once(&mac_once, fetch_hmac);
    if (!hmac_alg)
        return AH_EINVAL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    if (!ctx)
        return AH_ENOMEM;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t out_len = 0;
    int rc = AH_EINVAL;
    if (EVP_MAC_init(ctx, key, key_len, params) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) != 1 ||
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) != 1)
        goto out;
    if (body_len && EVP_MAC_update(ctx, body, body_len) != 1)
        goto out;
    if (EVP_MAC_final(ctx, mac, &out_len, 32) != 1 || out_len != 32)
        goto out;
    rc = AH_OK;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

/* base64 of the signature of the content under secret into b64 (45 bytes). */
static int signature_b64(const char *secret, const char *msg_id, const char *ts, const void *body,
                         size_t body_len, char b64[SIG_B64_LEN + 1])
{
    unsigned char key[KEY_MAX], mac[32];
    long key_len = decode_secret(secret, key);
    if (key_len < 0) {
        OPENSSL_cleanse(key, sizeof key);
        return AH_EINVAL;
    }
    int rc = hmac_content(key, (size_t)key_len, msg_id, ts, body, body_len, mac);
    OPENSSL_cleanse(key, sizeof key);
    if (rc == AH_OK)
        ah_base64_encode(mac, sizeof mac, b64, SIG_B64_LEN + 1);
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}

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

int ah_sign(const char *secret, const char *prev_secret, const char *msg_id, int64_t timestamp,
            const void *body, size_t body_len, char *out, size_t outsz)
{
    if (out && outsz)
        out[0] = '\0';
    if (!msg_id || !out || (!body && body_len))
        return AH_EINVAL;
    bool two = prev_secret && *prev_secret;
    if (outsz < (two ? 2 * (3 + SIG_B64_LEN) + 1 : 3 + SIG_B64_LEN) + 1)
        return AH_ETOOBIG;
    char ts[TIMESTAMP_SIZE];
    snprintf(ts, sizeof ts, "%" PRId64, timestamp);
    char cur[SIG_B64_LEN + 1], prev[SIG_B64_LEN + 1];
    int rc = signature_b64(secret, msg_id, ts, body, body_len, cur);
    if (rc)
        return rc;
    if (two) {
        rc = signature_b64(prev_secret, msg_id, ts, body, body_len, prev);
        if (rc)
            return rc;
        snprintf(out, outsz, "v1,%s v1,%s", cur, prev);
    } else {
        snprintf(out, outsz, "v1,%s", cur);
    }
    return AH_OK;
}

/* Canonical non-negative decimal (no sign, no leading zero, no spaces). */
static int parse_timestamp(const char *s, int64_t *out)
{
    size_t len = s ? strlen(s) : 0;
    if (len == 0 || len > 18 || (len > 1 && s[0] == '0'))
        return AH_EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return AH_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return AH_OK;
}

static bool within(int64_t now, int64_t ts, int64_t tolerance_s)
{
    if (tolerance_s < 0)
        return false;
    /* Unsigned arithmetic: now may be anything, and the difference must not overflow. */
    uint64_t diff = now >= ts ? (uint64_t)now - (uint64_t)ts : (uint64_t)ts - (uint64_t)now;
    return diff <= (uint64_t)tolerance_s;
}

int ah_verify(const char *secret, const char *msg_id, const char *timestamp, const void *body,
              size_t body_len, const char *sig_header, int64_t now, int64_t tolerance_s)
{
    int64_t ts;
    if (!msg_id || !sig_header || (!body && body_len) || parse_timestamp(timestamp, &ts))
        return AH_EINVAL;
    if (!within(now, ts, tolerance_s))
        return AH_EINVAL;
    char want[SIG_B64_LEN + 1];
    if (signature_b64(secret, msg_id, timestamp, body, body_len, want))
        return AH_EINVAL;
    bool ok = false;
    const char *p = sig_header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        /* Keep looking after a match so the time taken does not say which entry matched. */
        if (len == 3 + SIG_B64_LEN && !memcmp(p, "v1,", 3) && ah_ct_equal(p + 3, want, SIG_B64_LEN))
            ok = true;
        p += len;
    }
    OPENSSL_cleanse(want, sizeof want);
    return ok ? AH_OK : AH_EINVAL;
}
