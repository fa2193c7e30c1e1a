/* SPDX-License-Identifier: MIT */
/*
 * test_sse.c: the Server-Sent Events parser of `airhook listen`
 * (src/cli/sse.c, included whole): the standard's line endings, fields,
 * comments and dispatch rules, the byte-order mark, chunks cut anywhere, the
 * size cap, and a callback that stops the feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cli/sse.c"

#define MAX_SEEN 16

typedef struct seen {
    size_t n;
    char type[MAX_SEEN][64];
    char id[MAX_SEEN][64];
    char data[MAX_SEEN][256];
    size_t data_len[MAX_SEEN];
    size_t comments;
    char comment[MAX_SEEN][64];
    int stop_at; /* return 7 from the stop_at-th event (1-based); 0: never */
} seen_t;

static int on_ev(void *ctx, const ah_sse_event_t *ev)
{
    seen_t *s = ctx;
    assert_true(s->n < MAX_SEEN);
    snprintf(s->type[s->n], sizeof s->type[0], "%s", ev->type);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", ev->id);
    assert_true(ev->data_len < sizeof s->data[0]);
    memcpy(s->data[s->n], ev->data, ev->data_len);
    assert_int_equal(ev->data[ev->data_len], '\0');
    s->data_len[s->n] = ev->data_len;
    s->n++;
    return s->stop_at && (int)s->n == s->stop_at ? 7 : 0;
}

static int on_comment(void *ctx, const char *text, size_t len)
{
    seen_t *s = ctx;
    assert_true(s->comments < MAX_SEEN);
    snprintf(s->comment[s->comments++], sizeof s->comment[0], "%.*s", (int)len, text);
    return 0;
}

/* Feeds text in pieces of `step` bytes (0: whole); returns the last status. */
static int feed(ah_sse_parser_t *p, const char *text, size_t len, size_t step)
{
    if (!step)
        return ah_sse_feed(p, text, len);
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        int rc = ah_sse_feed(p, text + at, n);
        if (rc)
            return rc;
    }
    return 0;
}

static seen_t parse(const char *text, size_t step)
{
    seen_t s;
    memset(&s, 0, sizeof s);
    ah_sse_parser_t p;
    ah_sse_init(&p, 1024, on_ev, on_comment, &s);
    assert_int_equal(feed(&p, text, strlen(text), step), 0);
    ah_sse_free(&p);
    return s;
}

/* The protocol's own stream, whole and in every chunk size down to one byte. */
static void test_protocol_stream(void **state)
{
    (void)state;
    const char *text = "event: ready\ndata: {\"listenerId\":\"L1\"}\n\n"
                       ": ping\n\n"
                       "event: delivery\nid: d1.1\ndata: {\"deliveryId\":\"d1\",\"body\":\"x\"}\n\n"
                       "event: bye\ndata: {\"reason\":\"deleted\"}\n\n";
    for (size_t step = 0; step <= 9; step++) {
        seen_t s = parse(text, step);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.type[0], "ready");
        assert_string_equal(s.data[0], "{\"listenerId\":\"L1\"}");
        assert_string_equal(s.id[0], "");
        assert_string_equal(s.type[1], "delivery");
        assert_string_equal(s.id[1], "d1.1");
        assert_string_equal(s.data[1], "{\"deliveryId\":\"d1\",\"body\":\"x\"}");
        assert_string_equal(s.type[2], "bye");
        assert_string_equal(s.id[2], "d1.1"); /* the last event id stays */
        assert_int_equal(s.comments, 1);
        assert_string_equal(s.comment[0], " ping");
    }
}

/* CR LF, CR alone and LF alone all end lines, including a CR LF cut between chunks. */
static void test_line_endings(void **state)
{
    (void)state;
    const char *texts[] = {"data: a\r\n\r\ndata: b\r\n\r\n", "data: a\r\rdata: b\r\r",
                           "data: a\n\ndata: b\n\n", "data: a\r\n\rdata: b\n\r\n"};
    for (size_t t = 0; t < 4; t++) {
        for (size_t step = 0; step <= 3; step++) {
            seen_t s = parse(texts[t], step);
            assert_int_equal(s.n, 2);
            assert_string_equal(s.type[0], "message");
            assert_string_equal(s.data[0], "a");
            assert_string_equal(s.data[1], "b");
        }
    }
}

/* Several data lines join with LF; one space after the colon goes, more stay. */
static void test_fields(void **state)
{
    (void)state;
    seen_t s = parse("data:one\ndata:  two\ndata\n\n", 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.data_len[0], strlen("one\n two\n"));
    assert_string_equal(s.data[0], "one\n two\n");

    /* No data: nothing is dispatched, and the event type does not leak into the next. */
    s = parse("event: lonely\n\ndata: x\n\n", 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.type[0], "message");

    /* An empty data line is an event with empty data. */
    s = parse("data\n\n", 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.data_len[0], 0);

    /* Unknown fields and retry are ignored; an id with a NUL is ignored. */
    s = parse("foo: bar\nretry: 1000\nid: keep\ndata: 1\n\n", 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.id[0], "keep");
    const char with_nul[] = "id: a\0b\ndata: 2\n\n";
    seen_t t;
    memset(&t, 0, sizeof t);
    ah_sse_parser_t p;
    ah_sse_init(&p, 1024, on_ev, NULL, &t);
    assert_int_equal(ah_sse_feed(&p, "id: first\n", 10), 0);
    assert_int_equal(ah_sse_feed(&p, with_nul, sizeof with_nul - 1), 0);
    assert_int_equal(p.retry_ms, -1);
    assert_int_equal(ah_sse_feed(&p, "retry: 2500\n: no comment callback\n", 35), 0);
    assert_int_equal(p.retry_ms, 2500);
    ah_sse_free(&p);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.id[0], "first");

    /* An event not ended by a blank line is not dispatched. */
    s = parse("data: half", 0);
    assert_int_equal(s.n, 0);
}

/* A UTF-8 byte-order mark at the start is skipped; a partial one is data. */
static void test_bom(void **state)
{
    (void)state;
    for (size_t step = 0; step <= 2; step++) {
        seen_t s = parse("\xEF\xBB\xBF"
                         "data: x\n\n",
                         step);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.data[0], "x");
    }
    /* EF BB then 'd': not a BOM; the bytes start a field name nobody knows. */
    seen_t s = parse("\xEF\xBB"
                     "data: y\n\ndata: z\n\n",
                     1);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.data[0], "z");
}

/* A line or an event over the cap fails with AH_ETOOBIG; a reset starts clean. */
static void test_cap_and_reset(void **state)
{
    (void)state;
    seen_t s;
    memset(&s, 0, sizeof s);
    ah_sse_parser_t p;
    ah_sse_init(&p, 64, on_ev, NULL, &s);
    char line[100];
    memset(line, 'x', sizeof line);
    assert_int_equal(ah_sse_feed(&p, line, sizeof line), AH_ETOOBIG);
    ah_sse_reset(&p);
    /* Many short data lines that add up past the cap. */
    int rc = 0;
    for (int i = 0; i < 20 && !rc; i++)
        rc = ah_sse_feed(&p, "data: 0123456\n", 14);
    assert_int_equal(rc, AH_ETOOBIG);
    ah_sse_reset(&p);
    assert_int_equal(ah_sse_feed(&p, "data: ok\n\n", 10), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.data[0], "ok");
    /* A reset drops a half-read event (a cut connection). */
    assert_int_equal(ah_sse_feed(&p, "event: delivery\ndata: half", 26), 0);
    ah_sse_reset(&p);
    assert_int_equal(ah_sse_feed(&p, "data: whole\n\n", 13), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.type[1], "message");
    assert_string_equal(s.data[1], "whole");
    ah_sse_free(&p);
    ah_sse_free(NULL);
}

/* A callback's non-zero return stops the feed and is returned. */
static void test_stop(void **state)
{
    (void)state;
    seen_t s;
    memset(&s, 0, sizeof s);
    s.stop_at = 1;
    ah_sse_parser_t p;
    ah_sse_init(&p, 1024, on_ev, NULL, &s);
    assert_int_equal(ah_sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18), 7);
    assert_int_equal(s.n, 1);
    ah_sse_free(&p);
}

/* Embedded NULs in data are kept (data_len counts them). */
static void test_nul_in_data(void **state)
{
    (void)state;
    const char text[] = "data: a\0b\n\n";
    seen_t s;
    memset(&s, 0, sizeof s);
    ah_sse_parser_t p;
    ah_sse_init(&p, 1024, on_ev, NULL, &s);
    assert_int_equal(ah_sse_feed(&p, text, sizeof text - 1), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.data_len[0], 3);
    assert_memory_equal(s.data[0], "a\0b", 3);
    ah_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocol_stream), cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_fields),          cmocka_unit_test(test_bom),
        cmocka_unit_test(test_cap_and_reset),   cmocka_unit_test(test_stop),
        cmocka_unit_test(test_nul_in_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
