/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c: a small HTTP load generator on libcurl multi, for what wrk does
 * not do well: a fixed number of requests, a steady rate, and a body that
 * changes per request.  The benchmarks use it to publish events (each with
 * its send time in the payload) and to register many webhooks.
 *
 *   bench_loadgen --url URL [-H 'Name: value']... [--body TEMPLATE | --body-file FILE]
 *                 [--method M] [--count N] [--concurrency C] [--rate R]
 *                 [--duration S] [--expect CODE]
 *
 * In the body, "{n}" becomes the request number (0, 1, …) and "{us}" the
 * CLOCK_REALTIME time in µs just before the request is handed to libcurl.
 * Connections are kept alive: C transfers at a time, each reusing a
 * connection from the multi handle's cache.  --rate spaces the starts
 * evenly (0 = as fast as the C transfers allow); --duration stops starting
 * new requests after S seconds whatever --count says.
 *
 * Prints one JSON line: sent, ok (answered --expect, or any 2xx), failed,
 * first_us / last_us (start of the first request, end of the last, µs
 * CLOCK_REALTIME), elapsed_s, rps, p50_us / p99_us of the response time,
 * and the count per status code.  Exit status 1 when any request failed.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"

struct slot {
    CURL *easy;
    char *body;
    size_t body_cap;
    int64_t started_us;
    bool busy;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

/* Expands the template into s->body; returns its length. */
static size_t expand(struct slot *s, const char *tpl, uint64_t n)
{
    size_t need = strlen(tpl) + 64;
    if (s->body_cap < need) {
        free(s->body);
        s->body = malloc(need);
        s->body_cap = s->body ? need : 0;
        if (!s->body)
            return 0;
    }
    char *o = s->body;
    for (const char *p = tpl; *p;) {
        if (!strncmp(p, "{n}", 3)) {
            o += sprintf(o, "%" PRIu64, n);
            p += 3;
        } else if (!strncmp(p, "{us}", 4)) {
            o += sprintf(o, "%" PRId64, now_us());
            p += 4;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return (size_t)(o - s->body);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fputs("usage: bench_loadgen --url URL [-H 'Name: value']... [--body TEMPLATE | --body-file F]\n"
          "         [--method M] [--count N] [--concurrency C] [--rate R] [--duration S]\n"
          "         [--expect CODE]\n",
          stderr);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *tpl = NULL, *method = NULL;
    char *file_body = NULL;
    uint64_t count = 1;
    long conc = 16, expect = 0;
    double rate = 0, duration = 0;
    struct curl_slist *headers = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--url") && has)
            url = argv[++i];
        else if ((!strcmp(a, "-H") || !strcmp(a, "--header")) && has)
            headers = curl_slist_append(headers, argv[++i]);
        else if (!strcmp(a, "--body") && has)
            tpl = argv[++i];
        else if (!strcmp(a, "--body-file") && has) {
            free(file_body);
            if (!(file_body = bench_read_file(argv[++i], NULL))) {
                fprintf(stderr, "bench_loadgen: cannot read %s\n", argv[i]);
                return 2;
            }
            tpl = file_body;
        } else if (!strcmp(a, "--method") && has)
            method = argv[++i];
        else if (!strcmp(a, "--count") && has)
            count = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--concurrency") && has)
            conc = atol(argv[++i]);
        else if (!strcmp(a, "--rate") && has)
            rate = atof(argv[++i]);
        else if (!strcmp(a, "--duration") && has)
            duration = atof(argv[++i]);
        else if (!strcmp(a, "--expect") && has)
            expect = atol(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (!url || conc < 1 || count < 1) {
        usage();
        return 2;
    }
    headers = curl_slist_append(headers, "Expect:");
    if (tpl && !method)
        method = "POST";
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return 1;
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conc);
    struct slot *slots = calloc((size_t)conc, sizeof *slots);
    uint32_t *lat = malloc(count * sizeof *lat);
    uint64_t *codes = calloc(600, sizeof *codes);
    if (!multi || !slots || !lat || !codes) {
        fprintf(stderr, "bench_loadgen: out of memory\n");
        return 1;
    }
    for (long i = 0; i < conc; i++) {
        CURL *e = slots[i].easy = curl_easy_init();
        if (!e)
            return 1;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
        if (method && strcmp(method, "GET") && strcmp(method, "POST"))
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    uint64_t sent = 0, done = 0, ok = 0, failed = 0, n_lat = 0;
    int64_t start = now_us(), first = 0, last = 0;
    int64_t stop_at = duration > 0 ? start + (int64_t)(duration * 1e6) : INT64_MAX;
    int busy = 0;
    for (;;) {
        int64_t now = now_us();
        int64_t wait_us = 100000;
        bool more = sent < count && now < stop_at;
        for (long i = 0; more && i < conc; i++) {
            struct slot *s = &slots[i];
            if (s->busy)
                continue;
            if (rate > 0) {
                int64_t due = start + (int64_t)((double)sent * 1e6 / rate);
                if (due > now) {
                    if (due - now < wait_us)
                        wait_us = due - now;
                    break;
                }
            }
            if (tpl) {
                size_t len = expand(s, tpl, sent);
                curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
                curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
            } else {
                curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
            }
            s->started_us = now_us();
            if (!first)
                first = s->started_us;
            s->busy = true;
            busy++;
            sent++;
            curl_multi_add_handle(multi, s->easy);
            more = sent < count && now < stop_at;
        }
        if (!busy && !more)
            break;
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(multi, m->easy_handle);
            int64_t t = now_us();
            last = t;
            done++;
            if (n_lat < count)
                lat[n_lat++] = (uint32_t)(t - s->started_us);
            if (res == CURLE_OK && (expect ? code == expect : code >= 200 && code < 300))
                ok++;
            else
                failed++;
            if (res == CURLE_OK && code >= 0 && code < 600)
                codes[code]++;
            else
                codes[0]++;
            s->busy = false;
            busy--;
        }
        if (busy || wait_us > 0)
            curl_multi_poll(multi, NULL, 0, (int)(wait_us / 1000), NULL);
    }
    qsort(lat, n_lat, sizeof *lat, cmp_u32);
    double elapsed = (double)(last - first) / 1e6;
    printf("{\"sent\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"first_us\":%" PRId64
           ",\"last_us\":%" PRId64 ",\"elapsed_s\":%.3f,\"rps\":%.1f,\"p50_us\":%u,\"p99_us\":%u"
           ",\"codes\":{",
           sent, ok, failed, first, last, elapsed, elapsed > 0 ? (double)done / elapsed : 0.0,
           n_lat ? lat[(n_lat - 1) / 2] : 0, n_lat ? lat[(n_lat - 1) * 99 / 100] : 0);
    const char *sep = "";
    for (int c = 0; c < 600; c++) {
        if (codes[c]) {
            printf("%s\"%d\":%" PRIu64, sep, c, codes[c]);
            sep = ",";
        }
    }
    printf("}}\n");
    for (long i = 0; i < conc; i++) {
        curl_easy_cleanup(slots[i].easy);
        free(slots[i].body);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(slots);
    free(lat);
    free(codes);
    free(file_body);
    return failed ? 1 : 0;
}
