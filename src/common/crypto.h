/*
 * crypto.h: the few primitives airhook needs, over OpenSSL 3.
 *
 * Secrets (access-key secrets, tokens) are 256-bit random values, so a
 * single SHA-256 is a sound way to store them: nothing to brute-force.
 */
#ifndef AH_CRYPTO_H
#define AH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AH_SHA256_HEX_SIZE 65

/* Fills buf with n cryptographically random bytes.  Aborts if the CSPRNG fails. */
void ah_random_bytes(void *buf, size_t n);

/* Lowercase hex SHA-256 of data into out (65 bytes incl. NUL). */
void ah_sha256_hex(const void *data, size_t len, char out[AH_SHA256_HEX_SIZE]);

/* HMAC-SHA256 of msg under key into out (32 bytes). */
void ah_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                    unsigned char out[32]);

/* Constant-time comparison of two equal-length buffers. */
bool ah_ct_equal(const void *a, const void *b, size_t len);
/* Constant-time comparison of two strings (length difference leaks only length). */
bool ah_ct_streq(const char *a, const char *b);

/*
 * Standard base64 of in[0..len) into out (size >= 4*((len+2)/3)+1).
 * Returns the number of characters written (excluding NUL).
 */
size_t ah_base64_encode(const void *in, size_t len, char *out, size_t outsz);
/* Decodes standard base64; returns decoded length or -1 on bad input / no room. */
long ah_base64_decode(const char *in, unsigned char *out, size_t outsz);

/*
 * A random secret: prefix followed by the hex (lowercase) of nbytes random
 * bytes, NUL-terminated into out.  Returns AH_ETOOBIG if outsz is too small.
 */
int ah_random_hex(const char *prefix, size_t nbytes, char *out, size_t outsz);

#endif
