/* SPDX-License-Identifier: MIT */
/*
 * test_verify.c: unit tests of libairhook-verify (include/airhook/verify.h),
 * linked against the shared library itself, so only what it exports is
 * reachable and the ABI is what is tested.
 *
 * The first group replays the test vectors and cases the Standard Webhooks
 * reference libraries publish in their own test suites (JavaScript, Python
 * and Go: the same secret, message id, timestamp, payload and expected
 * signature, the "multi sig" header with decoys, the truncated and wrong
 * signatures, missing and non-numeric headers, timestamps just outside the
 * 5-minute tolerance, and the tolerance switched off), each with the exact
 * result code this library gives.  The rest is this library's own contract:
 * the order of the checks, the header parser's edge cases, clock extremes,
 * secrets, sizes and arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airhook/verify.h"

/* The reference libraries' vector (their "sign function works" test). */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330
#define VEC_TS_S "1614265330"
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* The decoy the reference suites use in their multi-signature and invalid-signature cases. */
#define DECOY "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
#define DECOY_SIG "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="

static const char body[] = VEC_BODY;
#define BODY_LEN (sizeof body - 1)

/* Verifies the vector's content with header sig at now = t, 5-minute tolerance. */
static int check(const char *sig, int64_t t)
{
    return ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, sig, body, BODY_LEN, t,
                                AH_WEBHOOK_TOLERANCE_S);
}

static void test_reference_sign_vector(void **state)
{
    (void)state;
    char sig[AH_WEBHOOK_SIGNATURE_SIZE];
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_WEBHOOK_OK);
    assert_string_equal(sig, VEC_SIG);
    assert_int_equal(check(VEC_SIG, VEC_TS), AH_WEBHOOK_OK);
}

static void test_reference_multi_signature(void **state)
{
    (void)state;
    assert_int_equal(check("v1," DECOY " v2," DECOY " " VEC_SIG " v1," DECOY, VEC_TS),
                     AH_WEBHOOK_OK);
}

static void test_reference_invalid_signatures(void **state)
{
    (void)state;
    static const char *bad[] = {
        DECOY_SIG,                                         /* Go */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", /* Python: last character */
        "v1,dawfeoifkpqwoekfpqoekf",                       /* JavaScript */
        "v1,g0hM9",                                        /* JavaScript: partial */
        "v1,",                                             /* JavaScript: partial */
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* the right one, another version */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i], VEC_TS) != AH_WEBHOOK_BAD_SIGNATURE)
            fail_msg("\"%s\" gave %d", bad[i], check(bad[i], VEC_TS));
}

static void test_reference_missing_and_invalid_headers(void **state)
{
    (void)state;
    const int64_t t = VEC_TS, tol = AH_WEBHOOK_TOLERANCE_S;
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, NULL, VEC_TS_S, VEC_SIG, body, BODY_LEN, t, tol),
        AH_WEBHOOK_MALFORMED);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, NULL, VEC_SIG, body, BODY_LEN, t, tol),
        AH_WEBHOOK_MALFORMED);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, NULL, body, BODY_LEN, t, tol),
        AH_WEBHOOK_MALFORMED);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, "hello", VEC_SIG, body, BODY_LEN, t, tol),
        AH_WEBHOOK_MALFORMED);
}

static void test_reference_tolerance(void **state)
{
    (void)state;
    /* Signed at VEC_TS; the receiver's clock 5 minutes and a second later, or earlier. */
    assert_int_equal(check(VEC_SIG, VEC_TS + 301), AH_WEBHOOK_TOO_OLD);
    assert_int_equal(check(VEC_SIG, VEC_TS - 301), AH_WEBHOOK_TOO_NEW);
    /* The edges themselves are inside, as in the JavaScript library (whole seconds). */
    assert_int_equal(check(VEC_SIG, VEC_TS + 300), AH_WEBHOOK_OK);
    assert_int_equal(check(VEC_SIG, VEC_TS - 300), AH_WEBHOOK_OK);
    /* Go's VerifyIgnoringTimestamp: old and new pass, a changed timestamp still fails. */
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN,
                                          VEC_TS + 86400 * 365, AH_WEBHOOK_ANY_TIME),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN, 0,
                                          AH_WEBHOOK_ANY_TIME),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, "946684800", VEC_SIG, body, BODY_LEN,
                                          946684800, AH_WEBHOOK_ANY_TIME),
                     AH_WEBHOOK_BAD_SIGNATURE);
}

static void test_reference_secrets(void **state)
{
    (void)state;
    /* The reference libraries refuse an empty or absent key ... */
    assert_int_equal(check(VEC_SIG, VEC_TS), AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_secret_check(""), AH_WEBHOOK_BAD_SECRET);
    assert_int_equal(ah_webhook_secret_check(NULL), AH_WEBHOOK_BAD_SECRET);
    /* ... and accept one without its prefix, which this library does not: a secret is
     * whsec_..., and anything else is more likely a pasted access key than a bare one. */
    assert_int_equal(ah_webhook_verify_at("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", VEC_ID, VEC_TS_S,
                                          VEC_SIG, body, BODY_LEN, VEC_TS, 300),
                     AH_WEBHOOK_BAD_SECRET);
}

/* Each check wins over the ones after it: secret, form, signature, time. */
static void test_order_of_checks(void **state)
{
    (void)state;
    const int64_t late = VEC_TS + 1000;
    assert_int_equal(ah_webhook_verify_at("whsec_!", NULL, "x", "", body, BODY_LEN, late, 300),
                     AH_WEBHOOK_BAD_SECRET);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, "x", "v1," DECOY, body, BODY_LEN, late, 300),
        AH_WEBHOOK_MALFORMED);
    /* A forged delivery that is also stale is reported as forged. */
    assert_int_equal(check("v1," DECOY, late), AH_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(check(VEC_SIG, late), AH_WEBHOOK_TOO_OLD);
}

static void test_header_parsing(void **state)
{
    (void)state;
    static const char *good[] = {
        VEC_SIG,           "v1,bm9wZQ== " VEC_SIG, "v2,abc " VEC_SIG " v1a,xyz",
        "  " VEC_SIG "  ", "garbage " VEC_SIG,     "v1, " VEC_SIG,
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (check(good[i], VEC_TS) != AH_WEBHOOK_OK)
            fail_msg("rejected \"%s\"", good[i]);
    static const char *bad[] = {
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE==",
        "v1=g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=,x",
        "v1,v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\t",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i], VEC_TS) != AH_WEBHOOK_BAD_SIGNATURE)
            fail_msg("accepted \"%s\"", bad[i]);
    /* Blank headers are malformed, not merely unmatched. */
    assert_int_equal(check("", VEC_TS), AH_WEBHOOK_MALFORMED);
    assert_int_equal(check("   ", VEC_TS), AH_WEBHOOK_MALFORMED);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, "", VEC_TS_S, VEC_SIG, body, BODY_LEN, VEC_TS, 300),
        AH_WEBHOOK_MALFORMED);
    /* A header of AH_WEBHOOK_HEADER_MAX bytes is read to its end; one byte more is refused. */
    char *big = malloc(AH_WEBHOOK_HEADER_MAX + 2);
    assert_non_null(big);
    size_t pad = AH_WEBHOOK_HEADER_MAX - strlen(VEC_SIG);
    memset(big, ' ', pad);
    memcpy(big + pad, VEC_SIG, sizeof VEC_SIG);
    assert_int_equal(strlen(big), AH_WEBHOOK_HEADER_MAX);
    assert_int_equal(check(big, VEC_TS), AH_WEBHOOK_OK);
    memset(big, ' ', pad + 1);
    memcpy(big + pad + 1, VEC_SIG, sizeof VEC_SIG);
    assert_int_equal(check(big, VEC_TS), AH_WEBHOOK_MALFORMED);
    free(big);
}

static void test_timestamps(void **state)
{
    (void)state;
    static const char *bad_ts[] = {"",
                                   " 1614265330",
                                   "1614265330 ",
                                   "+1614265330",
                                   "-1614265330",
                                   "01614265330",
                                   "1614265330.0",
                                   "1e9",
                                   "0x60379a32",
                                   "9999999999999999999",
                                   "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++)
        if (ah_webhook_verify_at(VEC_SECRET, VEC_ID, bad_ts[i], VEC_SIG, body, BODY_LEN, VEC_TS,
                                 300) != AH_WEBHOOK_MALFORMED)
            fail_msg("timestamp \"%s\" was not malformed", bad_ts[i]);
    /* Extreme clocks and tolerances do not overflow into acceptance. */
    assert_int_equal(check(VEC_SIG, INT64_MIN), AH_WEBHOOK_TOO_NEW);
    assert_int_equal(check(VEC_SIG, INT64_MAX), AH_WEBHOOK_TOO_OLD);
    assert_int_equal(check(VEC_SIG, 0), AH_WEBHOOK_TOO_NEW);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN,
                                          INT64_MIN, INT64_MAX),
                     AH_WEBHOOK_TOO_NEW);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN, 0, INT64_MAX),
        AH_WEBHOOK_OK);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN, VEC_TS, 0),
        AH_WEBHOOK_OK);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN, VEC_TS + 1, 0),
        AH_WEBHOOK_TOO_OLD);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN, VEC_TS, -2),
        AH_WEBHOOK_ERROR);
    /* Timestamp 0 is a number like any other. */
    char sig[AH_WEBHOOK_SIGNATURE_SIZE];
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, 0, body, BODY_LEN, sig, sizeof sig),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, "0", sig, body, BODY_LEN, 0, 0),
                     AH_WEBHOOK_OK);
}

/* ah_webhook_verify() reads the system clock. */
static void test_system_clock(void **state)
{
    (void)state;
    char sig[AH_WEBHOOK_SIGNATURE_SIZE], ts[24];
    int64_t now = (int64_t)time(NULL);
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, now, body, BODY_LEN, sig, sizeof sig),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify(VEC_SECRET, VEC_ID, ts, sig, body, BODY_LEN), AH_WEBHOOK_OK);
    snprintf(ts, sizeof ts, "%lld", (long long)(now - 600));
    assert_int_equal(
        ah_webhook_sign(VEC_SECRET, VEC_ID, now - 600, body, BODY_LEN, sig, sizeof sig),
        AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify(VEC_SECRET, VEC_ID, ts, sig, body, BODY_LEN),
                     AH_WEBHOOK_TOO_OLD);
    /* The published vector is years old. */
    assert_int_equal(ah_webhook_verify(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN),
                     AH_WEBHOOK_TOO_OLD);
}

static void test_secrets(void **state)
{
    (void)state;
    static const char *bad[] = {
        NULL,
        "",
        "whsec_",
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  /* wrong case */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",   /* not a multiple of 4 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",  /* outside the alphabet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_",  /* base64url, not standard */
        "whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* space */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
        "whsec_MfKQ=r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* padding in the middle */
        "whsec_====",
        "whsec_A===",
        "ahs_1f4c0000000000000000000000000000", /* an access key's secret */
    };
    char sig[AH_WEBHOOK_SIGNATURE_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *s = bad[i] ? bad[i] : "(null)";
        if (ah_webhook_secret_check(bad[i]) != AH_WEBHOOK_BAD_SECRET)
            fail_msg("secret \"%s\" passed the check", s);
        if (ah_webhook_sign(bad[i], VEC_ID, VEC_TS, body, BODY_LEN, sig, sizeof sig) !=
            AH_WEBHOOK_BAD_SECRET)
            fail_msg("signed with secret \"%s\"", s);
        assert_string_equal(sig, "");
        if (ah_webhook_verify_at(bad[i], VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN, VEC_TS, 300) !=
            AH_WEBHOOK_BAD_SECRET)
            fail_msg("verified with secret \"%s\"", s);
    }
    /* 96 key bytes (128 characters) is the most; 97 and more are refused. */
    char secret[6 + 140 + 1] = "whsec_";
    memset(secret + 6, 'A', 140);
    secret[6 + 128] = '\0';
    assert_int_equal(ah_webhook_secret_check(secret), AH_WEBHOOK_OK);
    secret[6 + 128] = 'A';
    secret[6 + 132] = '\0';
    assert_int_equal(ah_webhook_secret_check(secret), AH_WEBHOOK_BAD_SECRET);
    /* Short and padded keys are keys. */
    assert_int_equal(ah_webhook_secret_check("whsec_YQ=="), AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_secret_check("whsec_YWI="), AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_secret_check("whsec_b2xkb2xkb2xk"), AH_WEBHOOK_OK);
    /* Another secret does not verify. */
    assert_int_equal(ah_webhook_verify_at("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", VEC_ID,
                                          VEC_TS_S, VEC_SIG, body, BODY_LEN, VEC_TS, 300),
                     AH_WEBHOOK_BAD_SIGNATURE);
}

static void test_tampering(void **state)
{
    (void)state;
    const char changed[] = "{\"test\": 2432232315}";
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, changed, BODY_LEN, VEC_TS, 300),
        AH_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, body, BODY_LEN - 1,
                                          VEC_TS, 300),
                     AH_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJel", VEC_TS_S,
                                          VEC_SIG, body, BODY_LEN, VEC_TS, 300),
                     AH_WEBHOOK_BAD_SIGNATURE);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, "1614265331", VEC_SIG, body, BODY_LEN,
                                          VEC_TS, 300),
                     AH_WEBHOOK_BAD_SIGNATURE);
    /* Every single flipped character of the signature. */
    char sig[] = VEC_SIG;
    for (size_t i = 3; i < sizeof sig - 2; i++) {
        char was = sig[i];
        sig[i] = was == 'A' ? 'B' : 'A';
        if (check(sig, VEC_TS) != AH_WEBHOOK_BAD_SIGNATURE)
            fail_msg("accepted \"%s\"", sig);
        sig[i] = was;
    }
    assert_int_equal(check(sig, VEC_TS), AH_WEBHOOK_OK);
}

static void test_arguments_and_sizes(void **state)
{
    (void)state;
    char sig[AH_WEBHOOK_SIGNATURE_SIZE];
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, VEC_TS, body, BODY_LEN, sig,
                                     AH_WEBHOOK_SIGNATURE_SIZE - 1),
                     AH_WEBHOOK_ERROR);
    assert_string_equal(sig, "");
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, VEC_TS, body, BODY_LEN, NULL, 0),
                     AH_WEBHOOK_ERROR);
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, VEC_TS, NULL, 1, sig, sizeof sig),
                     AH_WEBHOOK_ERROR);
    assert_int_equal(ah_webhook_sign(VEC_SECRET, NULL, VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_WEBHOOK_MALFORMED);
    assert_int_equal(ah_webhook_sign(VEC_SECRET, "", VEC_TS, body, BODY_LEN, sig, sizeof sig),
                     AH_WEBHOOK_MALFORMED);
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, -1, body, BODY_LEN, sig, sizeof sig),
                     AH_WEBHOOK_MALFORMED);
    assert_int_equal(
        ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, VEC_SIG, NULL, 3, VEC_TS, 300),
        AH_WEBHOOK_ERROR);
    /* An empty body may be NULL, on both ends. */
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, VEC_TS, NULL, 0, sig, sizeof sig),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, sig, NULL, 0, VEC_TS, 300),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, sig, "", 0, VEC_TS, 300),
                     AH_WEBHOOK_OK);
    /* A body with NUL bytes is signed whole. */
    static const char nul[] = {'a', '\0', 'b'};
    assert_int_equal(ah_webhook_sign(VEC_SECRET, VEC_ID, VEC_TS, nul, 3, sig, sizeof sig),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, sig, nul, 3, VEC_TS, 300),
                     AH_WEBHOOK_OK);
    assert_int_equal(ah_webhook_verify_at(VEC_SECRET, VEC_ID, VEC_TS_S, sig, nul, 1, VEC_TS, 300),
                     AH_WEBHOOK_BAD_SIGNATURE);
}

static void test_strerror_and_version(void **state)
{
    (void)state;
    const char *seen[8] = {0};
    for (int r = AH_WEBHOOK_OK; r >= AH_WEBHOOK_ERROR; r--) {
        const char *s = ah_webhook_strerror(r);
        assert_non_null(s);
        assert_true(strlen(s) > 10);
        for (int j = 0; j < -r; j++)
            assert_string_not_equal(s, seen[j]);
        seen[-r] = s;
    }
    assert_string_equal(ah_webhook_strerror(42), "unknown result");
    assert_string_equal(ah_webhook_version(), AH_WEBHOOK_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_sign_vector),
        cmocka_unit_test(test_reference_multi_signature),
        cmocka_unit_test(test_reference_invalid_signatures),
        cmocka_unit_test(test_reference_missing_and_invalid_headers),
        cmocka_unit_test(test_reference_tolerance),
        cmocka_unit_test(test_reference_secrets),
        cmocka_unit_test(test_order_of_checks),
        cmocka_unit_test(test_header_parsing),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_system_clock),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_arguments_and_sizes),
        cmocka_unit_test(test_strerror_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
