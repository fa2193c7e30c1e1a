/* SPDX-License-Identifier: MIT */
/*
 * test_sign.c: unit tests of Standard Webhooks signing as the dispatcher
 * does it (src/delivery/sign.c).
 *
 * Anchored on the test vector published with the Standard Webhooks spec;
 * the rest checks rotation (two signatures, each verifying), that changing
 * any signed part breaks verification, that malformed secrets are refused,
 * and the output sizes.  The incremental HMAC is cross-checked against the
 * one-shot ah_hmac_sha256 over the concatenated content.  Verification
 * itself (the library receivers use) is test_verify.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airhook/airhook.h"
#include "airhook/verify.h"
#include "common/crypto.h"
#include "delivery/sign.h"

/* libairhook-verify's verdict as AH_OK or AH_EINVAL, with sign.c's old argument order. */
static int ah_verify(const char *secret, const char *msg_id, const char *timestamp,
                     const void *body, size_t body_len, const char *sig_header, int64_t now,
                     int64_t tolerance_s)
{
    return ah_webhook_verify_at(secret, msg_id, timestamp, sig_header, body, body_len, now,
                                tolerance_s) == AH_WEBHOOK_OK
               ? AH_OK
               : AH_EINVAL;
}

#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_TS_S "1614265330"
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static const char body[] = VEC_BODY;
#define BODY_LEN (sizeof body - 1)

static void test_spec_vector(void **state)
{
    (void)state;
    char sig[AH_SIGNATURE_MAX];
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_OK);
    assert_string_equal(sig, VEC_SIG);
    /* An empty prev_secret is the same as none. */
    assert_int_equal(ah_sign(VEC_SECRET, "", VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_OK);
    assert_string_equal(sig, VEC_SIG);
    assert_int_equal(ah_verify(VEC_SECRET, VEC_ID, VEC_TS_S, body, BODY_LEN, VEC_SIG, VEC_TS, 300),
                     AH_OK);
}

static void test_rotation(void **state)
{
    (void)state;
    char cur[64], prev[64], other[64], sig[AH_SIGNATURE_MAX];
    ah_signing_secret_new(cur, sizeof cur);
    ah_signing_secret_new(prev, sizeof prev);
    ah_signing_secret_new(other, sizeof other);
    assert_int_equal(ah_sign(cur, prev, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig), AH_OK);
    /* "v1,<44> v1,<44>" */
    assert_int_equal(strlen(sig), 95);
    assert_int_equal(sig[47], ' ');
    assert_memory_equal(sig, "v1,", 3);
    assert_memory_equal(sig + 48, "v1,", 3);
    assert_int_equal(ah_verify(cur, VEC_ID, VEC_TS_S, body, BODY_LEN, sig, VEC_TS, 300), AH_OK);
    assert_int_equal(ah_verify(prev, VEC_ID, VEC_TS_S, body, BODY_LEN, sig, VEC_TS, 300), AH_OK);
    assert_int_equal(ah_verify(other, VEC_ID, VEC_TS_S, body, BODY_LEN, sig, VEC_TS, 300),
                     AH_EINVAL);
    /* Each half is the single signature under its own secret. */
    char one[AH_SIGNATURE_MAX];
    assert_int_equal(ah_sign(cur, NULL, VEC_ID, VEC_TS, body, BODY_LEN, one, sizeof one), AH_OK);
    assert_memory_equal(sig, one, 47);
    assert_int_equal(ah_sign(prev, NULL, VEC_ID, VEC_TS, body, BODY_LEN, one, sizeof one), AH_OK);
    assert_string_equal(sig + 48, one);
    /* A bad prev_secret is an error, not a silently dropped signature. */
    assert_int_equal(ah_sign(cur, "whsec_!", VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_EINVAL);
}

static void test_tampering(void **state)
{
    (void)state;
    char sig[AH_SIGNATURE_MAX];
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_OK);
    const char tampered[] = "{\"test\": 2432232315}";
    assert_int_equal(ah_verify(VEC_SECRET, VEC_ID, VEC_TS_S, tampered, BODY_LEN, sig, VEC_TS, 300),
                     AH_EINVAL);
    assert_int_equal(ah_verify(VEC_SECRET, VEC_ID, VEC_TS_S, body, BODY_LEN - 1, sig, VEC_TS, 300),
                     AH_EINVAL);
    assert_int_equal(ah_verify(VEC_SECRET, VEC_ID, "1614265331", body, BODY_LEN, sig, VEC_TS, 300),
                     AH_EINVAL);
    assert_int_equal(ah_verify(VEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJel", VEC_TS_S, body, BODY_LEN,
                               sig, VEC_TS, 300),
                     AH_EINVAL);
    assert_int_equal(ah_verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", VEC_ID, VEC_TS_S, body,
                               BODY_LEN, sig, VEC_TS, 300),
                     AH_EINVAL);
    /* A flipped character in the signature itself. */
    char bad[AH_SIGNATURE_MAX];
    memcpy(bad, sig, sizeof bad);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    assert_int_equal(ah_verify(VEC_SECRET, VEC_ID, VEC_TS_S, body, BODY_LEN, bad, VEC_TS, 300),
                     AH_EINVAL);
}

static void test_malformed_secrets(void **state)
{
    (void)state;
    static const char *bad[] = {
        NULL,
        "",
        "whsec_",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        /* no prefix */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  /* wrong case */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",   /* not a multiple of 4 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  /* outside the alphabet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_",  /* base64url, not standard */
        "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* space */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
        "whsec_MfKQ=r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* padding in the middle */
        "whsec_====",
        "whsec_A===",
    };
    char sig[AH_SIGNATURE_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ah_sign(bad[i], NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig) != AH_EINVAL)
            fail_msg("signed with secret \"%s\"", bad[i] ? bad[i] : "(null)");
        assert_string_equal(sig, "");
        if (ah_verify(bad[i], VEC_ID, VEC_TS_S, body, BODY_LEN, VEC_SIG, VEC_TS, 300) != AH_EINVAL)
            fail_msg("verified with secret \"%s\"", bad[i] ? bad[i] : "(null)");
    }
    /* 168 base64 characters (126 key bytes): more than sign.c takes. */
    char long_secret[6 + 168 + 1] = "whsec_";
    memset(long_secret + 6, 'A', 168);
    long_secret[6 + 168] = '\0';
    assert_int_equal(ah_sign(long_secret, NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_EINVAL);
    long_secret[6 + 128] = '\0'; /* 96 bytes: the most it takes */
    assert_int_equal(ah_sign(long_secret, NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_OK);
    /* Short keys from older data still work, padded forms included. */
    assert_int_equal(
        ah_sign("whsec_b2xkb2xkb2xk", NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
        AH_OK);
    assert_int_equal(ah_sign("whsec_YQ==", NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_OK);
    assert_int_equal(ah_sign("whsec_YWI=", NULL, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_OK);
}

static void test_bad_args_and_sizes(void **state)
{
    (void)state;
    char sig[AH_SIGNATURE_MAX];
    assert_int_equal(ah_sign(VEC_SECRET, NULL, NULL, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_EINVAL);
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, NULL, 5, sig, sizeof sig),
                     AH_EINVAL);
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, body, BODY_LEN, NULL, 0), AH_EINVAL);
    /* Exactly enough room, and one byte short. */
    char small[48];
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, body, BODY_LEN, small, 48), AH_OK);
    assert_string_equal(small, VEC_SIG);
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, body, BODY_LEN, small, 47),
                     AH_ETOOBIG);
    char two[96];
    assert_int_equal(ah_sign(VEC_SECRET, VEC_SECRET, VEC_ID, VEC_TS, body, BODY_LEN, two, 96),
                     AH_OK);
    assert_int_equal(ah_sign(VEC_SECRET, VEC_SECRET, VEC_ID, VEC_TS, body, BODY_LEN, two, 95),
                     AH_ETOOBIG);
    /* An empty body may be NULL. */
    assert_int_equal(ah_sign(VEC_SECRET, NULL, VEC_ID, VEC_TS, NULL, 0, sig, sizeof sig), AH_OK);
    assert_int_equal(ah_verify(VEC_SECRET, VEC_ID, VEC_TS_S, "", 0, sig, VEC_TS, 1), AH_OK);
}

static void test_secret_new(void **state)
{
    (void)state;
    char a[64], b[64];
    ah_signing_secret_new(a, sizeof a);
    ah_signing_secret_new(b, sizeof b);
    assert_int_equal(strlen(a), 6 + 32);
    assert_memory_equal(a, "whsec_", 6);
    assert_string_not_equal(a, b);
    unsigned char key[64];
    assert_int_equal(ah_base64_decode(a + 6, key, sizeof key), 24);
    char tiny[10] = "x";
    ah_signing_secret_new(tiny, sizeof tiny);
    assert_string_equal(tiny, "");
}

/* The incremental HMAC equals the one-shot one over the concatenation. */
static void test_matches_one_shot(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    unsigned char *b = malloc(big);
    char *content = malloc(big + 64);
    assert_non_null(b);
    assert_non_null(content);
    ah_random_bytes(b, big);
    unsigned char key[24];
    ah_random_bytes(key, sizeof key);
    char secret[64] = "whsec_";
    ah_base64_encode(key, sizeof key, secret + 6, sizeof secret - 6);
    static const size_t sizes[] = {0, 1, 63, 64, 65, 1000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int64_t ts = 1700000000 + (int64_t)i;
        char sig[AH_SIGNATURE_MAX];
        assert_int_equal(ah_sign(secret, NULL, "evt_1", ts, b, n, sig, sizeof sig), AH_OK);
        int len = snprintf(content, 64, "evt_1.%lld.", (long long)ts);
        memcpy(content + len, b, n);
        unsigned char mac[32];
        ah_hmac_sha256(key, sizeof key, content, (size_t)len + n, mac);
        char want[64] = "v1,";
        ah_base64_encode(mac, sizeof mac, want + 3, sizeof want - 3);
        assert_string_equal(sig, want);
        char ts_s[24];
        snprintf(ts_s, sizeof ts_s, "%lld", (long long)ts);
        assert_int_equal(ah_verify(secret, "evt_1", ts_s, b, n, sig, ts, 0), AH_OK);
    }
    free(content);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_tampering),          cmocka_unit_test(test_malformed_secrets),
        cmocka_unit_test(test_bad_args_and_sizes), cmocka_unit_test(test_secret_new),
        cmocka_unit_test(test_matches_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
