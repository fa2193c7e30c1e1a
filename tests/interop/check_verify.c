/* SPDX-License-Identifier: MIT */
/*
 * check_verify.c: the C side of the reverse interop check (run.sh): every
 * sample sign.mjs made with the Standard Webhooks reference library must get
 * the result its "expect" names from libairhook-verify, verified at its
 * "now".  Not part of the main build: run.sh compiles it against the tree's
 * libairhook-verify.a (and jansson, to read the samples).
 *
 * Usage: check_verify SAMPLE.json ...   prints one line per sample; exits 1
 * if any got another result.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "airhook/verify.h"

static int expected(const char *name)
{
    if (!strcmp(name, "ok"))
        return AH_WEBHOOK_OK;
    if (!strcmp(name, "bad_signature"))
        return AH_WEBHOOK_BAD_SIGNATURE;
    if (!strcmp(name, "too_old"))
        return AH_WEBHOOK_TOO_OLD;
    if (!strcmp(name, "too_new"))
        return AH_WEBHOOK_TOO_NEW;
    return 1; /* matches no result */
}

int main(int argc, char **argv)
{
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        const char *slash = strrchr(argv[i], '/'), *name = slash ? slash + 1 : argv[i];
        json_error_t jerr;
        json_t *s = json_load_file(argv[i], 0, &jerr);
        const char *secret, *id, *ts, *sig, *body, *expect;
        size_t body_len;
        json_int_t now;
        if (!s || json_unpack_ex(s, &jerr, 0, "{s:s, s:{s:s, s:s, s:s}, s:s%, s:I, s:s}", "secret",
                                 &secret, "headers", "webhook-id", &id, "webhook-timestamp", &ts,
                                 "webhook-signature", &sig, "body", &body, &body_len, "now", &now,
                                 "expect", &expect)) {
            printf("FAIL %s: cannot read it: %s\n", name, jerr.text);
            failed++;
            json_decref(s);
            continue;
        }
        int rc = ah_webhook_verify_at(secret, id, ts, sig, body, body_len, (int64_t)now,
                                      AH_WEBHOOK_TOLERANCE_S);
        if (rc == expected(expect)) {
            printf("pass %s (%s)\n", name, expect);
        } else {
            printf("FAIL %s: expected %s, got %d: %s\n", name, expect, rc, ah_webhook_strerror(rc));
            failed++;
        }
        json_decref(s);
    }
    return failed ? 1 : 0;
}
