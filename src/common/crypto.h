/* SPDX-License-Identifier: MIT */
/*
 * crypto.h: the few primitives airhook needs, over OpenSSL 3.
 *
 * Secrets (access-key secrets, tokens) are 256-bit random values, so a
 * single SHA-256 is a sound way to store them: nothing to brute-force.
 * Webhook signing secrets must be read back to sign with, so they are kept
 * sealed instead: AES-256-GCM under a key of a keyring (see "Sealing"
 * below), which never lives in the database.
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

/*
 * ---- Sealing: secrets at rest (AES-256-GCM) ----
 *
 * A sealed value is text, so it fits the text column the plain value had:
 *
 *     enc:v1:<key id>:<base64 of nonce (12 bytes) | ciphertext | tag (16 bytes)>
 *
 * Each seal draws a fresh random 96-bit nonce.  The caller's associated
 * data (`aad`: what the value is, e.g. which webhook's secret) is
 * authenticated but not stored, so a sealed value copied to another row
 * does not open there.  The key id is the first 8 hex digits of a SHA-256
 * of the key: a value names the key that sealed it, so keys can rotate.
 *
 * A keyring holds up to AH_KEYRING_MAX keys: keys[0] seals, every key
 * opens.  It is plain data, read-only once built, and may be shared by
 * threads.  Wipe it with ah_keyring_wipe().
 */
#define AH_SECRET_KEY_LEN 32 /* AES-256 */
#define AH_KEY_ID_LEN 8      /* hex digits of a key id */
#define AH_KEYRING_MAX 8
#define AH_SEAL_PREFIX "enc:v1:"

typedef struct ah_secret_key {
    char id[AH_KEY_ID_LEN + 1];
    unsigned char key[AH_SECRET_KEY_LEN];
} ah_secret_key_t;

typedef struct ah_keyring {
    size_t n; /* keys in use; keys[0] is the current one */
    ah_secret_key_t keys[AH_KEYRING_MAX];
} ah_keyring_t;

/* Appends a key (its id is computed).  AH_EEXISTS if it is there already, AH_ETOOBIG if full. */
int ah_keyring_add(ah_keyring_t *kr, const unsigned char key[AH_SECRET_KEY_LEN]);
/* The key with this id (id_len hex digits), or NULL. */
const ah_secret_key_t *ah_keyring_find(const ah_keyring_t *kr, const char *id, size_t id_len);
/* Clears every key from memory (OPENSSL_cleanse). */
void ah_keyring_wipe(ah_keyring_t *kr);
/* "a1b2c3d4, 9f8e7d6c": the ids of kr, first the current one, into out. */
void ah_keyring_ids(const ah_keyring_t *kr, char *out, size_t outsz);

/*
 * Parses a key file's text: one key per line as 64 hex digits, the first
 * being the current one; blank lines and lines starting with '#' are
 * skipped.  AH_EINVAL (with a sentence in err) for anything else, a
 * repeated key, no key at all, or more than AH_KEYRING_MAX.
 */
int ah_keyring_parse(ah_keyring_t *kr, const char *text, char *err, size_t errlen);
/*
 * Reads a file that holds a secret (a key file, a token file) into buf (cap
 * bytes, NUL-terminated; *len, which may be NULL, its length).
 * AH_ENOTFOUND when it does not exist; AH_EINVAL (with a sentence in err)
 * when it is not a regular file, when group or others may read or write
 * it (mode & 077: a secret every local user can read protects nothing),
 * or when it does not fit; AH_EIO when it cannot be read.
 */
int ah_secret_file_read(const char *path, char *buf, size_t cap, size_t *len, char *err,
                        size_t errlen);
/*
 * Reads and parses the key file at path, with ah_secret_file_read's
 * answers; AH_EINVAL too when its text does not parse.
 */
int ah_keyring_load(ah_keyring_t *kr, const char *path, char *err, size_t errlen);
/*
 * Makes a new key file at path (mode 0600, never replacing a file that
 * exists: AH_EEXISTS) holding one random key, synced to disk with its
 * directory before returning, and fills kr with that key.
 */
int ah_keyring_create(ah_keyring_t *kr, const char *path, char *err, size_t errlen);

/* True when v (len bytes) looks like a sealed value (starts with AH_SEAL_PREFIX). */
bool ah_is_sealed(const char *v, size_t len);
/* Room (with the NUL) that sealing len bytes needs. */
size_t ah_seal_size(size_t len);
/*
 * Seals plain[0..len) under kr's current key with aad into out (text,
 * NUL-terminated).  AH_EINVAL if kr has no key, AH_ETOOBIG if outsz is
 * smaller than ah_seal_size(len), AH_ESTORE if OpenSSL fails.
 */
int ah_seal(const ah_keyring_t *kr, const char *aad, const void *plain, size_t len, char *out,
            size_t outsz);
/*
 * Opens a sealed value (len bytes, need not be terminated) into out,
 * NUL-terminated; *out_len (may be NULL) receives its length.
 * AH_ENOTFOUND when its key is not in kr (id, if not NULL, receives the
 * key id it names), AH_EINVAL when it is malformed or does not
 * authenticate (wrong aad, altered, or a key with a colliding id),
 * AH_ETOOBIG when it does not fit outsz.  out is "" on failure.
 */
int ah_unseal(const ah_keyring_t *kr, const char *aad, const char *sealed, size_t len, char *out,
              size_t outsz, size_t *out_len, char id[AH_KEY_ID_LEN + 1]);

#endif
