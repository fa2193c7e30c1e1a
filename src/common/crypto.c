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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"

static void rand_or_die(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fputs("{\"level\":\"error\",\"msg\":\"RAND_bytes failed\"}\n", stderr);
        abort();
    }
}

/*
 * RAND_bytes costs a few microseconds per call whatever the size (a lock
 * and the DRBG's bookkeeping), and a registration makes two small draws (an
 * id, a signing secret).  Small draws are served from a per-thread buffer of
 * the same CSPRNG's output, refilled RAND_BUF bytes at a time; bytes are
 * wiped as they are handed out, so nothing once served stays here.  A
 * forked child must not repeat its parent's bytes: it drops its buffer.
 */
#define RAND_BUF 4096
#define RAND_SMALL 64

static _Thread_local unsigned char rand_buf[RAND_BUF];
static _Thread_local size_t rand_pos = RAND_BUF; /* bytes before this are used */
static pthread_once_t rand_once = PTHREAD_ONCE_INIT;

static void rand_drop_after_fork(void)
{
    OPENSSL_cleanse(rand_buf, sizeof rand_buf);
    rand_pos = RAND_BUF;
}

static void rand_init(void)
{
    pthread_atfork(NULL, NULL, rand_drop_after_fork);
}

void ah_random_bytes(void *buf, size_t n)
{
    if (n > RAND_SMALL) {
        rand_or_die(buf, n);
        return;
    }
    pthread_once(&rand_once, rand_init);
    if (RAND_BUF - rand_pos < n) {
        rand_or_die(rand_buf, RAND_BUF);
        rand_pos = 0;
    }
    memcpy(buf, rand_buf + rand_pos, n);
    OPENSSL_cleanse(rand_buf + rand_pos, n);
    rand_pos += n;
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

/* SHA256() looks the algorithm up on every call (EVP_MD_fetch); do it once. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void ah_sha256_hex(const void *data, size_t len, char out[AH_SHA256_HEX_SIZE])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    pthread_once(&sha256_once, sha256_init);
    if (!sha256_md || !EVP_Digest(data, len, md, NULL, sha256_md, NULL))
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
