/* SPDX-License-Identifier: MIT */
/*
 * test_stream.c: Server-Sent Events streams (http.h, stream.c) without a
 * connection: what a stream writes, its bounded queue and the summary that
 * stands for dropped events, ending, and release.  The connection half
 * (suspension, heartbeats, disconnects, ah_http_stop) is tested end to end
 * in tests/integration/test_listen_server.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "airhook/airhook.h"
#include "http/http.h"

/* Everything the stream would write now, as a string (static buffer). */
static const char *drain(ah_http_stream_t *s)
{
    static char out[8192];
    size_t n = 0;
    for (;;) {
        long got = ah_http_stream_read(s, out + n, 7); /* small reads: events split across */
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    out[n] = '\0';
    return out;
}

static void test_format(void **state)
{
    (void)state;
    char buf[256];
    size_t n = ah_http_stream_format(buf, sizeof buf, "delivery", "d.1", "{\"a\":1}");
    assert_string_equal(buf, "event: delivery\nid: d.1\ndata: {\"a\":1}\n\n");
    assert_int_equal(n, strlen(buf));
    /* A newline in data starts another data line; none can end the event early. */
    ah_http_stream_format(buf, sizeof buf, NULL, NULL, "one\ntwo\r\nthree");
    assert_string_equal(buf, "data: one\ndata: two\ndata: three\n\n");
    /* A newline in the event name or id is cut there. */
    ah_http_stream_format(buf, sizeof buf, "x\ninjected: y", "1\n2", "d");
    assert_string_equal(buf, "event: x\nid: 1\ndata: d\n\n");
    assert_int_equal(ah_http_stream_format(buf, 8, "delivery", NULL, "long"), 0);
}

static void test_queue_and_end(void **state)
{
    (void)state;
    ah_http_stream_t *s = ah_http_stream_detached(NULL);
    assert_non_null(s);
    char buf[16];
    assert_int_equal(ah_http_stream_read(s, buf, sizeof buf), 0); /* nothing yet: waits */
    assert_int_equal(ah_http_stream_send(s, "ready", NULL, "{}"), AH_OK);
    assert_int_equal(ah_http_stream_send(s, NULL, "7", "x"), AH_OK);
    assert_string_equal(drain(s), "event: ready\ndata: {}\n\nid: 7\ndata: x\n\n");
    ah_http_stream_end(s);
    assert_int_equal(ah_http_stream_send(s, "late", NULL, "x"), AH_EIO);
    assert_int_equal(ah_http_stream_read(s, buf, sizeof buf), -1);
    ah_http_stream_release(s);
}

struct summary_seen {
    size_t calls;
    size_t dropped;
};

static size_t skipped(void *arg, size_t dropped, char *buf, size_t cap)
{
    struct summary_seen *seen = arg;
    seen->calls++;
    seen->dropped += dropped;
    char data[64];
    snprintf(data, sizeof data, "{\"skipped\":%zu}", dropped);
    return ah_http_stream_format(buf, cap, "skipped", NULL, data);
}

static void test_a_slow_consumer_gets_a_summary(void **state)
{
    (void)state;
    struct summary_seen seen = {0, 0};
    ah_http_stream_opts_t o = {.max_queued = 2, .summary = skipped, .arg = &seen};
    ah_http_stream_t *s = ah_http_stream_detached(&o);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "1"), AH_OK);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "2"), AH_OK);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "3"), AH_ETOOBIG);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "4"), AH_ETOOBIG);
    /* The queue empties: the summary of the two dropped comes after what was queued. */
    assert_string_equal(drain(s), "event: a\ndata: 1\n\nevent: a\ndata: 2\n\n"
                                  "event: skipped\ndata: {\"skipped\":2}\n\n");
    assert_int_equal(seen.calls, 1);
    /* Room again, and one more dropped: its summary goes before the next event. */
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "5"), AH_OK);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "6"), AH_OK);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "7"), AH_ETOOBIG);
    char buf[18]; /* exactly "event: a\ndata: 5\n\n" */
    assert_int_equal(ah_http_stream_read(s, buf, sizeof buf), 18); /* "5" leaves: room for one */
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "8"), AH_OK);
    assert_string_equal(drain(s), "event: a\ndata: 6\n\nevent: skipped\ndata: {\"skipped\":1}\n\n"
                                  "event: a\ndata: 8\n\n");
    assert_int_equal(seen.dropped, 3);
    ah_http_stream_release(s);
}

static void test_drops_without_summary_are_silent(void **state)
{
    (void)state;
    ah_http_stream_opts_t o = {.max_queued = 1};
    ah_http_stream_t *s = ah_http_stream_detached(&o);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "1"), AH_OK);
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "2"), AH_ETOOBIG);
    assert_string_equal(drain(s), "event: a\ndata: 1\n\n");
    /* Released with events still queued: nothing leaks (ASan says). */
    assert_int_equal(ah_http_stream_send(s, "a", NULL, "3"), AH_OK);
    ah_http_stream_release(s);
}

/* A lone CR ends a data line too: the event is sent whole, not queued empty. */
static void test_a_carriage_return_in_data(void **state)
{
    (void)state;
    ah_http_stream_t *s = ah_http_stream_detached(NULL);
    assert_non_null(s);
    assert_int_equal(ah_http_stream_send(s, "e", NULL, "a\rb\rc"), AH_OK);
    assert_string_equal(drain(s), "event: e\ndata: a\ndata: b\ndata: c\n\n");
    ah_http_stream_release(s);
}

static void test_no_listener_no_stream(void **state)
{
    (void)state;
    ah_http_req_t req;
    memset(&req, 0, sizeof req);
    ah_http_resp_t resp;
    memset(&resp, 0, sizeof resp);
    assert_null(ah_http_stream_open(&req, &resp, NULL)); /* unit tests: no listener behind */
    assert_int_equal(resp.status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_queue_and_end),
        cmocka_unit_test(test_a_slow_consumer_gets_a_summary),
        cmocka_unit_test(test_drops_without_summary_are_silent),
        cmocka_unit_test(test_a_carriage_return_in_data),
        cmocka_unit_test(test_no_listener_no_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
