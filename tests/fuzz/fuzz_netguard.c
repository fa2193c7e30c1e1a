/* SPDX-License-Identifier: MIT */
/*
 * fuzz_netguard.c: libFuzzer target for the SSRF guard (src/delivery/ssrf.c):
 * the --allow-net CIDR list parser, and the address judgement on a sockaddr
 * built from the input.
 *
 * Input format:
 *   byte 0        bit 0 allow_private, bit 1 the address is IPv6
 *   bytes 1..16   the address (the first 4 bytes for IPv4)
 *   the rest      the allow list, as text
 * Shorter inputs are taken whole as the allow list.  Besides crashes, leaks
 * and UB, the target checks properties that must hold for any input: an
 * error always comes with a sentence and no guard; a refusal always has a
 * reason; allow_private opens everything; an allow list only ever opens
 * more; and an IPv4 address that is allowed is allowed in its IPv4-mapped
 * and NAT64 forms too.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "airhook/airhook.h"
#include "delivery/ssrf.h"

static bool judge_v6(const ah_netguard_t *g, const unsigned char a[16], char *why, size_t whylen)
{
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    memcpy(s6.sin6_addr.s6_addr, a, 16);
    return ah_netguard_allows(g, (const struct sockaddr *)&s6, why, whylen);
}

static bool judge_v4(const ah_netguard_t *g, const unsigned char a[4], char *why, size_t whylen)
{
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    memcpy(&s4.sin_addr.s_addr, a, 4);
    return ah_netguard_allows(g, (const struct sockaddr *)&s4, why, whylen);
}

static bool judge(const ah_netguard_t *g, bool v6, const unsigned char *a)
{
    char why[64] = "x";
    bool ok = v6 ? judge_v6(g, a, why, sizeof why) : judge_v4(g, a, why, sizeof why);
    if (ok != (why[0] == '\0')) /* a reason exactly when refused */
        abort();
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    unsigned flags = 0;
    unsigned char addr[16] = {0};
    const uint8_t *list = data;
    size_t list_len = size;
    if (size >= 17) {
        flags = data[0];
        memcpy(addr, data + 1, 16);
        list = data + 17;
        list_len = size - 17;
    }
    char *text = malloc(list_len + 1);
    if (!text)
        return 0;
    memcpy(text, list, list_len);
    text[list_len] = '\0';

    bool allow_private = flags & 1, v6 = flags & 2;
    ah_netguard_t *g = (ah_netguard_t *)&flags; /* must be reset to NULL on failure */
    char err[256] = "x";
    int rc = ah_netguard_new(allow_private, text, &g, err, sizeof err);
    free(text);
    if (rc != AH_OK) {
        if (rc != AH_EINVAL || g != NULL || err[0] == '\0' || !memchr(err, '\0', sizeof err))
            abort();
        return 0;
    }
    if (err[0] != '\0')
        abort();

    ah_netguard_t *plain = NULL;
    if (ah_netguard_new(false, NULL, &plain, NULL, 0) != AH_OK)
        abort();
    bool ok = judge(g, v6, addr);
    if (allow_private && !ok)
        abort();
    if (judge(plain, v6, addr) && !ok) /* the list only opens */
        abort();
    if (!v6 && ok) {
        unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        unsigned char nat64[16] = {0, 0x64, 0xff, 0x9b};
        memcpy(mapped + 12, addr, 4);
        memcpy(nat64 + 12, addr, 4);
        if (!judge(g, true, mapped) || !judge(g, true, nat64))
            abort();
    }
    ah_netguard_free(plain);
    ah_netguard_free(g);
    return 0;
}
