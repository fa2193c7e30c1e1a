/* SPDX-License-Identifier: MIT */
/*
 * make_sample.c: writes signed sample deliveries for the interop check
 * (run.sh), signed by airhook's own ah_sign exactly as the dispatcher signs
 * a delivery, to be verified by the Standard Webhooks reference library
 * (verify.mjs).  Not part of the main build: run.sh compiles it against
 * libairhook_lib.a.
 *
 * Usage: make_sample OUTDIR
 *
 * Each file is {"secret", "headers": {webhook-id, webhook-timestamp,
 * webhook-signature}, "body"} with body the exact string that was signed.
 * Files named ok_*.json must verify; files named bad_*.json are tampered
 * after signing and must be rejected.  spec_vector.json is the published
 * test vector, with "now" pinned to its timestamp.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airhook/airhook.h"
#include "common/util.h"
#include "delivery/sign.h"

static const char *outdir;
static int failures;

/* Writes one sample file; a failure is counted in `failures`. */
static void write_sample(const char *name, const char *secret, const char *msg_id,
                         const char *timestamp, const char *signature, const char *body,
                         size_t body_len, long long now)
{
    json_t *headers = json_pack("{s:s, s:s, s:s}", "webhook-id", msg_id, "webhook-timestamp",
                                timestamp, "webhook-signature", signature);
    json_t *root =
        json_pack("{s:s, s:o, s:s%}", "secret", secret, "headers", headers, "body", body, body_len);
    if (!root) {
        fprintf(stderr, "make_sample: %s: cannot build JSON (body not UTF-8?)\n", name);
        failures++;
        return;
    }
    if (now)
        json_object_set_new(root, "now", json_integer(now));
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", outdir, name);
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "make_sample: cannot write %s\n", path);
        failures++;
    }
    json_decref(root);
}

/* Signs body now and writes it as ok_<name>. */
static void signed_sample(const char *name, const char *secret, const char *prev_secret,
                          const char *verify_secret, const char *body, size_t body_len)
{
    char id[AH_ID_SIZE + 4] = "msg_", ts[24], sig[AH_SIGNATURE_MAX], file[128];
    ah_uuid_v4(id + 4);
    long long now = (long long)time(NULL);
    snprintf(ts, sizeof ts, "%lld", now);
    if (ah_sign(secret, prev_secret, id, now, body, body_len, sig, sizeof sig) != AH_OK) {
        fprintf(stderr, "make_sample: ah_sign failed for %s\n", name);
        failures++;
        return;
    }
    snprintf(file, sizeof file, "ok_%s", name);
    write_sample(file, verify_secret, id, ts, sig, body, body_len, 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_sample OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    char secret[64], prev[64], other[64];
    ah_signing_secret_new(secret, sizeof secret);
    ah_signing_secret_new(prev, sizeof prev);
    ah_signing_secret_new(other, sizeof other);

    /* The published test vector, checked against a pinned clock. */
    write_sample("ok_spec_vector", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                 "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                 "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "{\"test\": 2432232314}", 20,
                 1614265330LL);

    static const char ascii[] =
        "{\"trigger\":\"airmeet.session.started\",\"airmeetId\":\"22222222-2222-4222-8222-"
        "222222222222\",\"payload\":{\"n\":1,\"ok\":true,\"tags\":[\"a\",\"b\"]}}";
    signed_sample("ascii", secret, NULL, secret, ascii, strlen(ascii));

    /* UTF-8 of several widths, JSON escapes, U+2028, an astral-plane emoji. */
    static const char unicode[] = "{\"name\":\"Ren\xc3\xa9"
                                  "e \xe6\x9d\xb1\xe4\xba\xac "
                                  "\xf0\x9f\x8e\x89\",\"quote\":\"\\\"hi\\\"\\n\\\\\","
                                  "\"sep\":\"\xe2\x80\xa8\",\"esc\":\"\\u00e9\"}";
    signed_sample("unicode", secret, NULL, secret, unicode, strlen(unicode));

    signed_sample("empty_object", secret, NULL, secret, "{}", 2);

    /* About 100 KB of varied JSON. */
    size_t cap = 110 * 1024, len = 0;
    char *big = malloc(cap);
    if (!big)
        return 1;
    len += (size_t)snprintf(big + len, cap - len, "{\"items\":[");
    for (int i = 0; len < 100 * 1024; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s{\"i\":%d,\"s\":\"item-%08x\"}",
                                i ? "," : "", i, (unsigned)i * 2654435761u);
    len += (size_t)snprintf(big + len, cap - len, "]}");
    signed_sample("large_100k", secret, NULL, secret, big, len);
    free(big);

    /* Rotation: one header, two signatures, each secret verifies it. */
    signed_sample("rotated_current", secret, prev, secret, ascii, strlen(ascii));
    signed_sample("rotated_previous", secret, prev, prev, ascii, strlen(ascii));

    /* Tampered after signing: each must be rejected. */
    char id[] = "msg_2f7c0a1e-0000-4000-8000-000000000001", ts[24], sig[AH_SIGNATURE_MAX];
    long long now = (long long)time(NULL);
    snprintf(ts, sizeof ts, "%lld", now);
    if (ah_sign(secret, NULL, id, now, ascii, strlen(ascii), sig, sizeof sig) != AH_OK)
        return 1;
    static const char changed[] =
        "{\"trigger\":\"airmeet.session.started\",\"airmeetId\":\"22222222-2222-4222-8222-"
        "222222222222\",\"payload\":{\"n\":2,\"ok\":true,\"tags\":[\"a\",\"b\"]}}";
    write_sample("bad_body", secret, id, ts, sig, changed, strlen(changed), 0);
    char ts2[24];
    snprintf(ts2, sizeof ts2, "%lld", now - 1);
    write_sample("bad_timestamp", secret, id, ts2, sig, ascii, strlen(ascii), 0);
    write_sample("bad_id", secret, "msg_2f7c0a1e-0000-4000-8000-000000000002", ts, sig, ascii,
                 strlen(ascii), 0);
    write_sample("bad_secret", other, id, ts, sig, ascii, strlen(ascii), 0);
    char v2[AH_SIGNATURE_MAX];
    snprintf(v2, sizeof v2, "v2,%s", sig + 3);
    write_sample("bad_version", secret, id, ts, v2, ascii, strlen(ascii), 0);

    return failures ? 1 : 0;
}
