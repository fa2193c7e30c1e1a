/*
 * crypto.c: random bytes, SHA-256, HMAC, base64 and constant-time compare,
 * all thin wrappers over OpenSSL 3.
 */
#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"

void ah_random_bytes(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fputs("{\"level\":\"error\",\"msg\":\"RAND_bytes failed\"}\n", stderr);
        abort();
    }
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void ah_sha256_hex(const void *data, size_t len, char out[AH_SHA256_HEX_SIZE])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    to_hex(md, sizeof md, out);
}

void ah_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    unsigned char out[32])
{
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len);
}

bool ah_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

bool ah_ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    /* Compare over the shorter length always, then fold in the length check. */
    size_t n = la < lb ? la : lb;
    int same = CRYPTO_memcmp(a, b, n) == 0;
    return same & (la == lb);
}

size_t ah_base64_encode(const void *in, size_t len, char *out, size_t outsz)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    if (outsz < need) {
        if (outsz)
            out[0] = '\0';
        return 0;
    }
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return n < 0 ? 0 : (size_t)n;
}

long ah_base64_decode(const char *in, unsigned char *out, size_t outsz)
{
    size_t len = strlen(in);
    if (len % 4 != 0)
        return -1;
    size_t need = len / 4 * 3;
    if (outsz < need)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts padding bytes as output; take them back. */
    if (len >= 1 && in[len - 1] == '=')
        n--;
    if (len >= 2 && in[len - 2] == '=')
        n--;
    return n;
}

int ah_random_hex(const char *prefix, size_t nbytes, char *out, size_t outsz)
{
    size_t plen = strlen(prefix);
    if (nbytes > 64 || plen + 2 * nbytes + 1 > outsz)
        return AH_ETOOBIG;
    unsigned char buf[64];
    ah_random_bytes(buf, nbytes);
    memcpy(out, prefix, plen);
    to_hex(buf, nbytes, out + plen);
    return AH_OK;
}
