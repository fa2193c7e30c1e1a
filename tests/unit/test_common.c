/* SPDX-License-Identifier: MIT */
/* Unit tests for src/common: time, ids, parsing, crypto helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "airhook/airhook.h"
#include "common/crypto.h"
#include "common/util.h"

static void test_format_time(void **state)
{
    (void)state;
    char buf[AH_TIME_SIZE];
    ah_format_time(1596523131106LL, buf);
    assert_string_equal(buf, "2020-08-04T06:38:51.106+00:00");
    ah_format_time(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000+00:00");
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(ah_parse_time("2020-08-04T06:38:51.106+00:00", &ms), 0);
    assert_int_equal(ms, 1596523131106LL);
    assert_int_equal(ah_parse_time("2020-08-04T06:38:51Z", &ms), 0);
    assert_int_equal(ms, 1596523131000LL);
    assert_int_equal(ah_parse_time("2020-08-04T12:08:51+05:30", &ms), 0);
    assert_int_equal(ms, 1596523131000LL);
    assert_int_equal(ah_parse_time("1596523131", &ms), 0);
    assert_int_equal(ms, 1596523131000LL);
    assert_int_equal(ah_parse_time("2020-02-30T00:00:00Z", &ms), AH_EINVAL);
    assert_int_equal(ah_parse_time("2026-02-29T10:00:00Z", &ms), AH_EINVAL);
    assert_int_equal(ah_parse_time("2024-02-29T10:00:00Z", &ms), 0);
    assert_int_equal(ah_parse_time("2100-02-29T10:00:00Z", &ms), AH_EINVAL);
    assert_int_equal(ah_parse_time("2000-02-29T10:00:00Z", &ms), 0);
    assert_int_equal(ah_parse_time("2020-08-04 06:38", &ms), AH_EINVAL);
    assert_int_equal(ah_parse_time("2020-08-04T06:38:51", &ms), AH_EINVAL);
    assert_int_equal(ah_parse_time("", &ms), AH_EINVAL);
    assert_int_equal(ah_parse_time("2020-08-04T06:38:51.Z", &ms), AH_EINVAL);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[AH_ID_SIZE], b[AH_ID_SIZE];
    ah_uuid_v4(a);
    ah_uuid_v4(b);
    assert_true(ah_is_uuid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    for (const char *p = a; *p; p++)
        assert_false(*p >= 'A' && *p <= 'Z');
    assert_true(ah_is_uuid("3FA85F64-5717-4562-B3FC-2C963F66AFA6"));
    assert_false(ah_is_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa"));
    assert_false(ah_is_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa66"));
    assert_false(ah_is_uuid("3fa85f64x5717-4562-b3fc-2c963f66afa6"));
    assert_false(ah_is_uuid("zfa85f64-5717-4562-b3fc-2c963f66afa6"));
    assert_false(ah_is_uuid(""));
    assert_false(ah_is_uuid(NULL));
    char up[] = "3FA85F64-5717-4562-B3FC-2C963F66AFA6";
    ah_lower(up);
    assert_string_equal(up, "3fa85f64-5717-4562-b3fc-2c963f66afa6");
}

static void test_parse_numbers(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(ah_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ah_parse_i64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(ah_parse_i64("101", 0, 100, &v), AH_EINVAL);
    assert_int_equal(ah_parse_i64("4x", 0, 100, &v), AH_EINVAL);
    assert_int_equal(ah_parse_i64(" 4", 0, 100, &v), AH_EINVAL);
    assert_int_equal(ah_parse_i64("99999999999999999999", 0, INT64_MAX, &v), AH_EINVAL);
    assert_int_equal(ah_parse_duration_ms("5m", &v), 0);
    assert_int_equal(v, 300000);
    assert_int_equal(ah_parse_duration_ms("30d", &v), 0);
    assert_int_equal(v, 30LL * 86400000);
    assert_int_equal(ah_parse_duration_ms("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(ah_parse_duration_ms("7", &v), 0);
    assert_int_equal(v, 7000);
    assert_int_equal(ah_parse_duration_ms("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ah_parse_duration_ms("5x", &v), AH_EINVAL);
    assert_int_equal(ah_parse_duration_ms("m", &v), AH_EINVAL);
    assert_int_equal(ah_parse_duration_ms("-5s", &v), AH_EINVAL);
}

static void test_strlcpy(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(ah_strlcpy(buf, "abc", sizeof buf), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(ah_strlcpy(buf, "abcd", sizeof buf), AH_ETOOBIG);
    assert_string_equal(buf, "");
}

static void test_sha256_hmac(void **state)
{
    (void)state;
    char hex[AH_SHA256_HEX_SIZE];
    ah_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2. */
    unsigned char mac[32];
    ah_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    static const unsigned char want[8] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e};
    assert_memory_equal(mac, want, sizeof want);
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(ah_ct_equal("abcd", "abcd", 4));
    assert_false(ah_ct_equal("abcd", "abce", 4));
    assert_true(ah_ct_streq("secret", "secret"));
    assert_false(ah_ct_streq("secret", "secreT"));
    assert_false(ah_ct_streq("secret", "secret2"));
    assert_false(ah_ct_streq("", "x"));
}

static void test_base64(void **state)
{
    (void)state;
    char enc[16];
    unsigned char dec[16];
    assert_int_equal(ah_base64_encode("hello", 5, enc, sizeof enc), 8);
    assert_string_equal(enc, "aGVsbG8=");
    assert_int_equal(ah_base64_decode("aGVsbG8=", dec, sizeof dec), 5);
    assert_memory_equal(dec, "hello", 5);
    assert_int_equal(ah_base64_decode("aGVsbG8", dec, sizeof dec), -1);
    assert_int_equal(ah_base64_decode("aGV!bG8=", dec, sizeof dec), -1);
    assert_int_equal(ah_base64_encode("hello", 5, enc, 8), 0); /* no room */
}

static void test_random_hex(void **state)
{
    (void)state;
    char a[80], b[80];
    assert_int_equal(ah_random_hex("aht_", 32, a, sizeof a), 0);
    assert_int_equal(ah_random_hex("aht_", 32, b, sizeof b), 0);
    assert_int_equal(strlen(a), 4 + 64);
    assert_memory_equal(a, "aht_", 4);
    assert_string_not_equal(a, b);
    assert_int_equal(ah_random_hex("aht_", 32, a, 60), AH_ETOOBIG);
}

/*
 * ah_random_bytes serves small draws from a per-thread buffer: draws never
 * repeat, across refills, and a forked child does not get the bytes its
 * parent is about to use.
 */
static void test_random_bytes_buffered(void **state)
{
    (void)state;
    enum { N = 1000 };
    static unsigned char seen[N][16];
    for (int i = 0; i < N; i++) { /* 16 KB: several refills of the buffer */
        ah_random_bytes(seen[i], 16);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(seen[i], seen[j], 16);
    }
    unsigned char big[300], zero[300] = {0};
    ah_random_bytes(big, sizeof big);
    assert_memory_not_equal(big, zero, sizeof big);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char mine[16];
        ah_random_bytes(mine, sizeof mine);
        _exit(write(fds[1], mine, sizeof mine) == (ssize_t)sizeof mine ? 0 : 1);
    }
    unsigned char parent[16], child[16];
    ah_random_bytes(parent, sizeof parent);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    close(fds[1]);
    assert_memory_not_equal(parent, child, sizeof parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time), cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_uuid),        cmocka_unit_test(test_parse_numbers),
        cmocka_unit_test(test_strlcpy),     cmocka_unit_test(test_sha256_hmac),
        cmocka_unit_test(test_ct_equal),    cmocka_unit_test(test_base64),
        cmocka_unit_test(test_random_hex),  cmocka_unit_test(test_random_bytes_buffered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
