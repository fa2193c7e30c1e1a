/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sse.c: libFuzzer target for the Server-Sent Events parser of
 * `airhook listen` (src/cli/sse.c, included whole: the CLI is not part of
 * libairhook), the parser of what the server (or anything in between)
 * streams to the laptop.
 *
 * The first byte picks a chunk size; the rest is fed whole once and in
 * chunks of that size once.  Whatever the bytes:
 * - every status is 0 or AH_ETOOBIG (a small cap makes that reachable);
 * - every event's data is NUL-terminated at data_len and no longer than
 *   the cap, its type and id non-NULL;
 * - when neither run hit the cap, both saw the same events (chunking never
 *   changes what is parsed), compared by a running hash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/cli/sse.c"

#define CAP 256

typedef struct tally {
    size_t events, comments;
    uint64_t hash;
} tally_t;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static int on_ev(void *ctx, const ah_sse_event_t *ev)
{
    tally_t *t = ctx;
    if (!ev->type || !ev->id || !ev->data || ev->data[ev->data_len] != '\0' ||
        ev->data_len > CAP)
        abort();
    t->events++;
    t->hash = mix(t->hash, ev->type, strlen(ev->type));
    t->hash = mix(t->hash, ev->id, strlen(ev->id));
    t->hash = mix(t->hash, ev->data, ev->data_len);
    return 0;
}

static int on_comment(void *ctx, const char *text, size_t len)
{
    tally_t *t = ctx;
    if (text[len] != '\0')
        abort();
    t->comments++;
    t->hash = mix(t->hash, text, len);
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t step, tally_t *t)
{
    ah_sse_parser_t p;
    ah_sse_init(&p, CAP, on_ev, on_comment, t);
    int rc = 0;
    for (size_t at = 0; at < size && !rc; at += step) {
        size_t n = size - at < step ? size - at : step;
        rc = ah_sse_feed(&p, (const char *)data + at, n);
    }
    if (rc != 0 && rc != AH_ETOOBIG)
        abort();
    ah_sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t step = (size_t)(data[0] % 16) + 1;
    data++;
    size--;
    tally_t whole = {0, 0, 14695981039346656037ULL}, chunked = whole;
    int a = run(data, size ? size : 0, size ? size : 1, &whole);
    int b = run(data, size, step, &chunked);
    if (a == 0 && b == 0 &&
        (whole.events != chunked.events || whole.comments != chunked.comments ||
         whole.hash != chunked.hash))
        abort();
    return 0;
}
