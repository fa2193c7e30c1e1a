/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for sealing secrets at rest (src/common/crypto.c): AES-256-GCM
 * values bound to what they are, keyrings that rotate, key files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/stat.h>
#include <unistd.h>

#include "airhook/airhook.h"
#include "common/crypto.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static void ring_of(ah_keyring_t *kr, unsigned char fill)
{
    unsigned char key[AH_SECRET_KEY_LEN];
    memset(kr, 0, sizeof *kr);
    memset(key, fill, sizeof key);
    assert_int_equal(ah_keyring_add(kr, key), AH_OK);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    ah_keyring_t kr;
    ring_of(&kr, 1);
    char sealed[256], again[256], out[128];
    size_t len = 0;
    assert_int_equal(ah_seal(&kr, "webhook A", SECRET, strlen(SECRET), sealed, sizeof sealed),
                     AH_OK);
    assert_true(ah_is_sealed(sealed, strlen(sealed)));
    assert_true(strlen(sealed) + 1 <= ah_seal_size(strlen(SECRET)));
    /* It names its key, and the plain text is nowhere in it. */
    assert_memory_equal(sealed, "enc:v1:", 7);
    assert_memory_equal(sealed + 7, kr.keys[0].id, AH_KEY_ID_LEN);
    assert_null(strstr(sealed, "whsec_"));
    assert_int_equal(
        ah_unseal(&kr, "webhook A", sealed, strlen(sealed), out, sizeof out, &len, NULL), AH_OK);
    assert_string_equal(out, SECRET);
    assert_int_equal(len, strlen(SECRET));
    /* A fresh nonce each time: the same value never seals alike. */
    assert_int_equal(ah_seal(&kr, "webhook A", SECRET, strlen(SECRET), again, sizeof again), AH_OK);
    assert_string_not_equal(sealed, again);
    /* The empty value seals too. */
    assert_int_equal(ah_seal(&kr, "x", "", 0, again, sizeof again), AH_OK);
    assert_int_equal(ah_unseal(&kr, "x", again, strlen(again), out, sizeof out, &len, NULL), AH_OK);
    assert_string_equal(out, "");
}

static void test_seal_is_bound_to_its_row(void **state)
{
    (void)state;
    ah_keyring_t kr;
    ring_of(&kr, 2);
    char sealed[256], out[128];
    assert_int_equal(ah_seal(&kr, "webhook A", SECRET, strlen(SECRET), sealed, sizeof sealed),
                     AH_OK);
    /* Copied to another webhook's row it does not open there. */
    assert_int_equal(
        ah_unseal(&kr, "webhook B", sealed, strlen(sealed), out, sizeof out, NULL, NULL),
        AH_EINVAL);
    assert_string_equal(out, "");
    /* Any altered character is caught by the tag. */
    size_t n = strlen(sealed);
    for (size_t i = 16; i < n; i += 7) {
        char bad[256];
        memcpy(bad, sealed, n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(ah_unseal(&kr, "webhook A", bad, n, out, sizeof out, NULL, NULL),
                             AH_OK);
    }
    /* Cut short, or not sealed at all. */
    assert_int_equal(ah_unseal(&kr, "webhook A", sealed, 20, out, sizeof out, NULL, NULL),
                     AH_EINVAL);
    assert_int_equal(
        ah_unseal(&kr, "webhook A", SECRET, strlen(SECRET), out, sizeof out, NULL, NULL),
        AH_EINVAL);
    assert_false(ah_is_sealed(SECRET, strlen(SECRET)));
    /* Too small a buffer either way. */
    assert_int_equal(ah_unseal(&kr, "webhook A", sealed, n, out, 8, NULL, NULL), AH_ETOOBIG);
    assert_int_equal(ah_seal(&kr, "a", SECRET, strlen(SECRET), sealed, 40), AH_ETOOBIG);
}

static void test_keys_rotate(void **state)
{
    (void)state;
    ah_keyring_t old, both, other;
    ring_of(&old, 3);
    ring_of(&other, 5);
    unsigned char k4[AH_SECRET_KEY_LEN], k3[AH_SECRET_KEY_LEN];
    memset(k4, 4, sizeof k4);
    memset(k3, 3, sizeof k3);
    memset(&both, 0, sizeof both);
    assert_int_equal(ah_keyring_add(&both, k4), AH_OK); /* the new key first: it seals */
    assert_int_equal(ah_keyring_add(&both, k3), AH_OK);
    assert_int_equal(ah_keyring_add(&both, k3), AH_EEXISTS);
    assert_string_not_equal(both.keys[0].id, both.keys[1].id);
    assert_string_equal(both.keys[1].id, old.keys[0].id);

    char sealed[256], out[128], id[AH_KEY_ID_LEN + 1];
    assert_int_equal(ah_seal(&old, "w", SECRET, strlen(SECRET), sealed, sizeof sealed), AH_OK);
    /* The ring with the old key second still opens what it sealed... */
    assert_int_equal(ah_unseal(&both, "w", sealed, strlen(sealed), out, sizeof out, NULL, id),
                     AH_OK);
    assert_string_equal(out, SECRET);
    assert_string_equal(id, old.keys[0].id);
    /* ... and seals under the new one. */
    assert_int_equal(ah_seal(&both, "w", SECRET, strlen(SECRET), sealed, sizeof sealed), AH_OK);
    assert_memory_equal(sealed + 7, both.keys[0].id, AH_KEY_ID_LEN);
    /* A ring without the key says which key it lacks. */
    assert_int_equal(ah_unseal(&other, "w", sealed, strlen(sealed), out, sizeof out, NULL, id),
                     AH_ENOTFOUND);
    assert_string_equal(id, both.keys[0].id);

    char ids[64];
    ah_keyring_ids(&both, ids, sizeof ids);
    char want[64];
    snprintf(want, sizeof want, "%s, %s", both.keys[0].id, both.keys[1].id);
    assert_string_equal(ids, want);
    ah_keyring_wipe(&both);
    assert_int_equal(both.n, 0);
    ah_keyring_t empty = {0};
    assert_int_equal(ah_seal(&empty, "w", "x", 1, sealed, sizeof sealed), AH_EINVAL);
}

static void test_keyring_parse(void **state)
{
    (void)state;
    ah_keyring_t kr;
    char err[160];
    const char *two =
        "# comment\n\n  0101010101010101010101010101010101010101010101010101010101010101 "
        "\r\n"
        "AbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAbAb\n";
    assert_int_equal(ah_keyring_parse(&kr, two, err, sizeof err), AH_OK);
    assert_int_equal(kr.n, 2);
    ah_keyring_t one;
    ring_of(&one, 1);
    assert_string_equal(kr.keys[0].id, one.keys[0].id);
    assert_int_equal(kr.keys[1].key[0], 0xab);

    assert_int_equal(ah_keyring_parse(&kr, "# nothing\n\n", err, sizeof err), AH_EINVAL);
    assert_non_null(strstr(err, "no key"));
    assert_int_equal(ah_keyring_parse(&kr, "0102\n", err, sizeof err), AH_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(
        ah_keyring_parse(&kr,
                         "0101010101010101010101010101010101010101010101010101010101010101\n"
                         "zz01010101010101010101010101010101010101010101010101010101010101\n",
                         err, sizeof err),
        AH_EINVAL);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(kr.n, 0); /* nothing half-parsed is left */
    assert_int_equal(
        ah_keyring_parse(&kr,
                         "0101010101010101010101010101010101010101010101010101010101010101\n"
                         "0101010101010101010101010101010101010101010101010101010101010101\n",
                         err, sizeof err),
        AH_EINVAL);
    assert_non_null(strstr(err, "repeats"));
}

static void test_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ah-crypto-XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/airhook.key", dir);
    ah_keyring_t made, loaded;
    assert_int_equal(ah_keyring_load(&loaded, path, err, sizeof err), AH_ENOTFOUND);
    mode_t old_umask = umask(0277); /* even so, the owner can read it back */
    int rc = ah_keyring_create(&made, path, err, sizeof err);
    umask(old_umask);
    assert_int_equal(rc, AH_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ah_keyring_create(&loaded, path, err, sizeof err), AH_EEXISTS);
    assert_int_equal(ah_keyring_load(&loaded, path, err, sizeof err), AH_OK);
    assert_int_equal(loaded.n, 1);
    assert_string_equal(loaded.keys[0].id, made.keys[0].id);
    assert_memory_equal(loaded.keys[0].key, made.keys[0].key, AH_SECRET_KEY_LEN);

    /* Readable by others: refused, saying how to fix it. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ah_keyring_load(&loaded, path, err, sizeof err), AH_EINVAL);
    assert_non_null(strstr(err, "chmod 600"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(ah_keyring_load(&loaded, path, err, sizeof err), AH_EINVAL);
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(ah_keyring_load(&loaded, path, err, sizeof err), AH_OK);
    /* A directory is not a key file. */
    assert_int_equal(ah_keyring_load(&loaded, dir, err, sizeof err), AH_EINVAL);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_round_trip), cmocka_unit_test(test_seal_is_bound_to_its_row),
        cmocka_unit_test(test_keys_rotate),     cmocka_unit_test(test_keyring_parse),
        cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
