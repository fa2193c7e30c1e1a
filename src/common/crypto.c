/* SPDX-License-Identifier: MIT */
/*
 * crypto.c: random bytes, SHA-256, HMAC, base64 and constant-time compare,
 * all thin wrappers over OpenSSL 3; and sealing secrets at rest (AES-256-GCM
 * under a keyring read from a key file), at the end.
 */
#include "common/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------------ */
/* Sealing secrets at rest.                                                  */

#define SEAL_NONCE 12       /* GCM's 96-bit nonce, random per seal */
#define SEAL_TAG 16         /* GCM's full 128-bit tag */
#define SEAL_PLAIN_MAX 1024 /* the largest value sealed: secrets are far smaller */
#define SEAL_RAW_MAX (SEAL_NONCE + SEAL_PLAIN_MAX + SEAL_TAG)
#define SEAL_B64_MAX (4 * ((SEAL_RAW_MAX + 2) / 3))
#define SEAL_HEAD_LEN (sizeof AH_SEAL_PREFIX - 1 + AH_KEY_ID_LEN + 1) /* "enc:v1:<id>:" */
#define KEY_FILE_MAX 65536
#define KEY_ID_DOMAIN "airhook secret key id:"

/* EVP_aes_256_gcm() fetches the implementation on every init; fetch it once. */
static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_init(void)
{
    gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *aes_gcm(void)
{
    pthread_once(&gcm_once, gcm_init);
    return gcm_cipher ? gcm_cipher : EVP_aes_256_gcm();
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The id of a key: the first AH_KEY_ID_LEN hex digits of SHA-256(domain | key). */
static void key_id(const unsigned char key[AH_SECRET_KEY_LEN], char id[AH_KEY_ID_LEN + 1])
{
    unsigned char buf[sizeof KEY_ID_DOMAIN - 1 + AH_SECRET_KEY_LEN];
    char hex[AH_SHA256_HEX_SIZE];
    memcpy(buf, KEY_ID_DOMAIN, sizeof KEY_ID_DOMAIN - 1);
    memcpy(buf + sizeof KEY_ID_DOMAIN - 1, key, AH_SECRET_KEY_LEN);
    ah_sha256_hex(buf, sizeof buf, hex);
    OPENSSL_cleanse(buf, sizeof buf);
    memcpy(id, hex, AH_KEY_ID_LEN);
    id[AH_KEY_ID_LEN] = '\0';
}

int ah_keyring_add(ah_keyring_t *kr, const unsigned char key[AH_SECRET_KEY_LEN])
{
    char id[AH_KEY_ID_LEN + 1];
    key_id(key, id);
    for (size_t i = 0; i < kr->n; i++)
        if (ah_ct_equal(kr->keys[i].key, key, AH_SECRET_KEY_LEN))
            return AH_EEXISTS;
    if (kr->n == AH_KEYRING_MAX)
        return AH_ETOOBIG;
    ah_secret_key_t *k = &kr->keys[kr->n++];
    memcpy(k->id, id, sizeof k->id);
    memcpy(k->key, key, AH_SECRET_KEY_LEN);
    return AH_OK;
}

const ah_secret_key_t *ah_keyring_find(const ah_keyring_t *kr, const char *id, size_t id_len)
{
    if (!kr || id_len != AH_KEY_ID_LEN)
        return NULL;
    for (size_t i = 0; i < kr->n; i++)
        if (!memcmp(kr->keys[i].id, id, AH_KEY_ID_LEN))
            return &kr->keys[i];
    return NULL;
}

void ah_keyring_wipe(ah_keyring_t *kr)
{
    if (kr)
        OPENSSL_cleanse(kr, sizeof *kr);
}

void ah_keyring_ids(const ah_keyring_t *kr, char *out, size_t outsz)
{
    size_t used = 0;
    if (!outsz)
        return;
    out[0] = '\0';
    for (size_t i = 0; kr && i < kr->n && used < outsz; i++) {
        int n = snprintf(out + used, outsz - used, "%s%s", i ? ", " : "", kr->keys[i].id);
        used += n > 0 ? (size_t)n : 0;
    }
}

int ah_keyring_parse(ah_keyring_t *kr, const char *text, char *err, size_t errlen)
{
    memset(kr, 0, sizeof *kr);
    int line_no = 0, rc = AH_OK;
    for (const char *p = text; *p && rc == AH_OK;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *next = eol ? eol + 1 : p + len;
        line_no++;
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && strchr(" \t\r", p[len - 1]))
            len--;
        if (!len || *p == '#') {
            p = next;
            continue;
        }
        unsigned char key[AH_SECRET_KEY_LEN];
        bool hex = len == 2 * AH_SECRET_KEY_LEN;
        for (size_t i = 0; hex && i < AH_SECRET_KEY_LEN; i++) {
            int hi = hex_value(p[2 * i]), lo = hex_value(p[2 * i + 1]);
            hex = hi >= 0 && lo >= 0;
            key[i] = hex ? (unsigned char)(hi << 4 | lo) : 0;
        }
        if (!hex) {
            snprintf(err, errlen, "line %d is not a key: a key is 64 hex digits (32 bytes)",
                     line_no);
            rc = AH_EINVAL;
        } else if ((rc = ah_keyring_add(kr, key)) == AH_EEXISTS) {
            snprintf(err, errlen, "line %d repeats a key", line_no);
            rc = AH_EINVAL;
        } else if (rc) {
            snprintf(err, errlen, "more than %d keys", AH_KEYRING_MAX);
            rc = AH_EINVAL;
        }
        OPENSSL_cleanse(key, sizeof key);
        p = next;
    }
    if (rc == AH_OK && kr->n == 0) {
        snprintf(err, errlen, "no key in it (one line of 64 hex digits)");
        rc = AH_EINVAL;
    }
    if (rc)
        ah_keyring_wipe(kr);
    return rc;
}

int ah_secret_file_read(const char *path, char *buf, size_t cap, size_t *len, char *err,
                        size_t errlen)
{
    if (len)
        *len = 0;
    if (cap)
        buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return AH_ENOTFOUND;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return AH_EIO;
    }
    struct stat st;
    int rc = AH_EINVAL;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
        rc = AH_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
    } else if (st.st_mode & 077) {
        snprintf(err, errlen,
                 "%s may be read or written by group or others (mode %04o), and it holds a "
                 "secret: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
    } else if (!cap || (uint64_t)st.st_size > cap - 1) {
        snprintf(err, errlen, "%s is larger than it can be (%zu bytes at most)", path,
                 cap ? cap - 1 : 0);
    } else {
        size_t got = 0;
        ssize_t n = 0;
        while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
            got += (size_t)n;
        buf[got] = '\0';
        if (n < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            OPENSSL_cleanse(buf, cap);
            buf[0] = '\0';
            rc = AH_EIO;
        } else {
            if (len)
                *len = got;
            rc = AH_OK;
        }
    }
    close(fd);
    return rc;
}

int ah_keyring_load(ah_keyring_t *kr, const char *path, char *err, size_t errlen)
{
    memset(kr, 0, sizeof *kr);
    char *text = malloc(KEY_FILE_MAX + 1);
    if (!text) {
        snprintf(err, errlen, "out of memory reading %s", path);
        return AH_ENOMEM;
    }
    int rc = ah_secret_file_read(path, text, KEY_FILE_MAX + 1, NULL, err, errlen);
    if (rc == AH_OK) {
        char why[160];
        rc = ah_keyring_parse(kr, text, why, sizeof why);
        if (rc)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    OPENSSL_cleanse(text, KEY_FILE_MAX + 1);
    free(text);
    return rc;
}

/* fsync of the directory holding path, so that a new file's name is on disk too. */
static void sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '.';
        dir[1] = '\0';
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Writes len bytes to a new file at path, mode 0600, synced; AH_EEXISTS if path exists. */
static int write_new_file(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return errno == EEXIST ? AH_EEXISTS : AH_EIO;
    }
    size_t done = 0;
    ssize_t n = 0;
    /* umask may have taken the owner's bits too: the key must stay readable. */
    if (fchmod(fd, 0600) != 0)
        n = -1;
    while (n >= 0 && done < len && (n = write(fd, text + done, len - done)) > 0)
        done += (size_t)n;
    int rc = AH_OK;
    if (n < 0 || done < len || fsync(fd) != 0)
        rc = AH_EIO;
    if (close(fd) != 0)
        rc = AH_EIO;
    if (rc) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
        unlink(path);
    }
    return rc;
}

/*
 * The key is written whole to a temporary name first, then linked to path
 * (link() never replaces a file): two processes starting together on one
 * new database make one key, and neither ever reads a half-written file.
 */
int ah_keyring_create(ah_keyring_t *kr, const char *path, char *err, size_t errlen)
{
    static const char head[] =
        "# airhook secret key file (docs/operations.md, \"Secrets\").\n"
        "# The first key encrypts the webhook signing secrets in the database; every key\n"
        "# listed decrypts.  Back this file up, apart from the database: without it the\n"
        "# secrets in the database cannot be read.\n";
    memset(kr, 0, sizeof *kr);
    unsigned char key[AH_SECRET_KEY_LEN];
    char text[sizeof head + 2 * AH_SECRET_KEY_LEN + 2], tmp[4200], suffix[17];
    rand_or_die(key, sizeof key);
    memcpy(text, head, sizeof head - 1);
    to_hex(key, sizeof key, text + sizeof head - 1);
    size_t len = sizeof head - 1 + 2 * AH_SECRET_KEY_LEN;
    text[len++] = '\n';
    int rc = ah_random_hex("", 8, suffix, sizeof suffix);
    if (rc == AH_OK && (size_t)snprintf(tmp, sizeof tmp, "%s.new-%s", path, suffix) >= sizeof tmp)
        rc = AH_ETOOBIG;
    if (rc)
        snprintf(err, errlen, "the path %s is too long", path);
    if (rc == AH_OK)
        rc = write_new_file(tmp, text, len, err, errlen);
    if (rc == AH_OK) {
        if (link(tmp, path) != 0) {
            rc = errno == EEXIST ? AH_EEXISTS : AH_EIO;
            snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        }
        unlink(tmp);
    }
    if (rc == AH_OK) {
        sync_parent(path);
        rc = ah_keyring_add(kr, key);
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

bool ah_is_sealed(const char *v, size_t len)
{
    return v && len >= sizeof AH_SEAL_PREFIX - 1 &&
           !memcmp(v, AH_SEAL_PREFIX, sizeof AH_SEAL_PREFIX - 1);
}

size_t ah_seal_size(size_t len)
{
    return SEAL_HEAD_LEN + 4 * ((SEAL_NONCE + len + SEAL_TAG + 2) / 3) + 1;
}

/* GCM over in[0..len) into out with the tag; enc 1 seals, 0 opens (tag checked). */
static int gcm_run(int enc, const unsigned char key[AH_SECRET_KEY_LEN],
                   const unsigned char nonce[SEAL_NONCE], const char *aad, const unsigned char *in,
                   size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    int ok = ctx && EVP_CipherInit_ex2(ctx, aes_gcm(), key, nonce, enc, NULL) == 1;
    if (ok && aad && *aad)
        ok = EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1;
    if (ok && len)
        ok = EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(ctx, out + (len ? n : 0), &fin) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? AH_OK : AH_EINVAL;
}

int ah_seal(const ah_keyring_t *kr, const char *aad, const void *plain, size_t len, char *out,
            size_t outsz)
{
    if (outsz)
        out[0] = '\0';
    if (!kr || !kr->n || (!plain && len))
        return AH_EINVAL;
    if (len > SEAL_PLAIN_MAX || outsz < ah_seal_size(len))
        return AH_ETOOBIG;
    const ah_secret_key_t *k = &kr->keys[0];
    unsigned char raw[SEAL_RAW_MAX];
    rand_or_die(raw, SEAL_NONCE);
    unsigned char *ct = raw + SEAL_NONCE;
    int rc = gcm_run(1, k->key, raw, aad, plain, len, ct, ct + len);
    if (rc == AH_OK) {
        memcpy(out, AH_SEAL_PREFIX, sizeof AH_SEAL_PREFIX - 1);
        memcpy(out + sizeof AH_SEAL_PREFIX - 1, k->id, AH_KEY_ID_LEN);
        out[SEAL_HEAD_LEN - 1] = ':';
        ah_base64_encode(raw, SEAL_NONCE + len + SEAL_TAG, out + SEAL_HEAD_LEN,
                         outsz - SEAL_HEAD_LEN);
    } else {
        rc = AH_ESTORE; /* sealing has no bad input left: OpenSSL failed */
    }
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}

int ah_unseal(const ah_keyring_t *kr, const char *aad, const char *sealed, size_t len, char *out,
              size_t outsz, size_t *out_len, char id[AH_KEY_ID_LEN + 1])
{
    if (outsz)
        out[0] = '\0';
    if (out_len)
        *out_len = 0;
    if (id)
        id[0] = '\0';
    if (!outsz || !ah_is_sealed(sealed, len) || len <= SEAL_HEAD_LEN ||
        sealed[SEAL_HEAD_LEN - 1] != ':')
        return AH_EINVAL;
    const char *kid = sealed + sizeof AH_SEAL_PREFIX - 1;
    for (size_t i = 0; i < AH_KEY_ID_LEN; i++)
        if (hex_value(kid[i]) < 0)
            return AH_EINVAL;
    if (id) {
        memcpy(id, kid, AH_KEY_ID_LEN);
        id[AH_KEY_ID_LEN] = '\0';
    }
    const ah_secret_key_t *k = ah_keyring_find(kr, kid, AH_KEY_ID_LEN);
    if (!k)
        return AH_ENOTFOUND;
    size_t b64_len = len - SEAL_HEAD_LEN;
    if (b64_len > SEAL_B64_MAX)
        return AH_EINVAL;
    char b64[SEAL_B64_MAX + 1];
    memcpy(b64, sealed + SEAL_HEAD_LEN, b64_len);
    b64[b64_len] = '\0';
    unsigned char raw[SEAL_RAW_MAX + 3];
    long n = ah_base64_decode(b64, raw, sizeof raw);
    if (n < SEAL_NONCE + SEAL_TAG || n > SEAL_RAW_MAX)
        return AH_EINVAL;
    size_t plain_len = (size_t)n - SEAL_NONCE - SEAL_TAG;
    if (plain_len + 1 > outsz)
        return AH_ETOOBIG;
    int rc = gcm_run(0, k->key, raw, aad, raw + SEAL_NONCE, plain_len, (unsigned char *)out,
                     raw + SEAL_NONCE + plain_len);
    if (rc == AH_OK) {
        out[plain_len] = '\0';
        if (out_len)
            *out_len = plain_len;
    } else {
        OPENSSL_cleanse(out, plain_len + 1);
        out[0] = '\0';
    }
    OPENSSL_cleanse(raw, sizeof raw);
    return rc;
}
