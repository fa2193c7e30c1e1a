/* SPDX-License-Identifier: MIT */
/*
 * test_ssrf.c: unit tests of the SSRF guard (src/delivery/ssrf.c).
 *
 * The first half judges addresses directly on sockaddrs: nothing is sent
 * anywhere, so private and metadata addresses are safe to name.  The second
 * half drives real libcurl transfers with the guard installed, but only to
 * 127.0.0.1 and ::1, to listening sockets the test opens itself: a refused
 * transfer must leave the listener's accept queue empty, an allowed one
 * must arrive.  A small server thread answers the allowed transfers; it
 * records what it saw and the main thread asserts (cmocka is not called
 * from the worker).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "airhook/airhook.h"
#include "delivery/ssrf.h"

/* Why the guard refused the last fetch(), "" if it did not; read once. */
static char last_refusal[96];

static bool take_refusal(char *why, size_t whylen)
{
    bool had = last_refusal[0] != '\0';
    snprintf(why, whylen, "%s", last_refusal);
    last_refusal[0] = '\0';
    return had;
}

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                  */

static struct sockaddr_storage sa_of(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(443);
    } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(443);
    } else {
        fail_msg("bad test address %s", ip);
    }
    return ss;
}

static bool allows(const ah_netguard_t *g, const char *ip, char *why, size_t whylen)
{
    struct sockaddr_storage ss = sa_of(ip);
    return ah_netguard_allows(g, (const struct sockaddr *)&ss, why, whylen);
}

static ah_netguard_t *guard(bool allow_private, const char *cidrs)
{
    ah_netguard_t *g = NULL;
    char err[256];
    int rc = ah_netguard_new(allow_private, cidrs, &g, err, sizeof err);
    if (rc != AH_OK)
        fail_msg("ah_netguard_new(%s): %s", cidrs ? cidrs : "NULL", err);
    return g;
}

/* ------------------------------------------------------------------------ */
/* Judging addresses.                                                        */

static const struct {
    const char *ip;
    const char *why;
} denied[] = {
    /* The list from the brief. */
    {"127.0.0.1", "loopback"},
    {"10.0.0.1", "private"},
    {"172.16.0.1", "private"},
    {"192.168.1.1", "private"},
    {"169.254.169.254", "cloud metadata"},
    {"0.0.0.0", "unspecified"},
    {"::1", "loopback"},
    {"fc00::1", "private"},
    {"::ffff:127.0.0.1", "loopback"},
    {"100.64.0.1", "carrier-grade NAT"},
    {"fe80::1", "link-local"},
    {"224.0.0.1", "multicast"},
    {"ff02::1", "multicast"},
    {"64:ff9b::7f00:1", "loopback"},
    /* Edges and the rest of the ranges. */
    {"127.255.255.255", "loopback"},
    {"0.1.2.3", "unspecified"},
    {"10.255.255.255", "private"},
    {"172.31.255.255", "private"},
    {"192.168.0.0", "private"},
    {"100.127.255.255", "carrier-grade NAT"},
    {"100.100.100.200", "cloud metadata"},
    {"169.254.0.1", "link-local"},
    {"169.254.170.2", "cloud metadata"},
    {"192.0.0.8", "reserved"},
    {"192.0.2.1", "reserved"},
    {"198.18.0.1", "reserved"},
    {"198.19.255.255", "reserved"},
    {"198.51.100.7", "reserved"},
    {"203.0.113.9", "reserved"},
    {"239.255.255.250", "multicast"},
    {"240.0.0.1", "reserved"},
    {"255.255.255.255", "reserved"},
    {"::", "unspecified"},
    {"fd00::1", "private"},
    {"fd00:ec2::254", "cloud metadata"},
    {"febf::1", "link-local"},
    {"ff05::2", "multicast"},
    {"2001:db8::1", "reserved"},
    {"100::1", "reserved"},
    {"::ffff:10.0.0.1", "private"},
    {"::ffff:169.254.169.254", "cloud metadata"},
    {"::ffff:0.0.0.0", "unspecified"},
    {"::7f00:1", "loopback"},         /* IPv4-compatible */
    {"::ffff:0:7f00:1", "loopback"},  /* IPv4-translated */
    {"64:ff9b::a00:1", "private"},    /* NAT64 */
    {"64:ff9b:1::c0a8:1", "private"}, /* local-use NAT64 */
    {"2002:7f00:1::1", "loopback"},   /* 6to4 */
};

static const char *public_ips[] = {
    "93.184.215.14",    "8.8.8.8",         "2606:4700::1111",      "1.1.1.1",     "11.0.0.1",
    "172.15.255.255",   "172.32.0.1",      "100.63.255.255",       "100.128.0.1", "192.167.255.255",
    "192.169.0.1",      "169.253.0.1",     "223.255.255.255",      "198.20.0.1",  "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1", "2a00:1450:4001::200e",
};

static void test_denied_by_default(void **state)
{
    (void)state;
    ah_netguard_t *g = guard(false, NULL);
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        char why[64] = "x";
        if (allows(g, denied[i].ip, why, sizeof why))
            fail_msg("%s allowed by default", denied[i].ip);
        if (strcmp(why, denied[i].why) != 0)
            fail_msg("%s: why \"%s\", want \"%s\"", denied[i].ip, why, denied[i].why);
    }
    ah_netguard_free(g);
}

static void test_allow_private_opens_all(void **state)
{
    (void)state;
    ah_netguard_t *g = guard(true, NULL);
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        char why[64] = "x";
        if (!allows(g, denied[i].ip, why, sizeof why))
            fail_msg("%s refused with allow_private (%s)", denied[i].ip, why);
        assert_string_equal(why, "");
    }
    ah_netguard_free(g);
}

static void test_public_allowed(void **state)
{
    (void)state;
    ah_netguard_t *g = guard(false, "");
    for (size_t i = 0; i < sizeof public_ips / sizeof public_ips[0]; i++) {
        char why[64];
        if (!allows(g, public_ips[i], why, sizeof why))
            fail_msg("public %s refused (%s)", public_ips[i], why);
    }
    ah_netguard_free(g);
}

static void test_other_families_refused(void **state)
{
    (void)state;
    ah_netguard_t *g = guard(true, NULL);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    char why[64];
    assert_false(ah_netguard_allows(g, (struct sockaddr *)&ss, why, sizeof why));
    assert_string_equal(why, "unsupported address family");
    assert_false(ah_netguard_allows(g, NULL, why, sizeof why));
    /* A NULL or tiny why is fine. */
    assert_true(allows(g, "::1", NULL, 0));
    ah_netguard_free(g);
    g = guard(false, NULL);
    char tiny[4];
    assert_false(allows(g, "127.0.0.1", tiny, sizeof tiny));
    assert_string_equal(tiny, "loo");
    assert_false(allows(g, "127.0.0.1", NULL, 0));
    ah_netguard_free(g);
}

static void test_allow_cidrs(void **state)
{
    (void)state;
    char why[64];
    ah_netguard_t *g = guard(false, "127.0.0.0/8");
    assert_true(allows(g, "127.0.0.1", why, sizeof why));
    assert_true(allows(g, "127.1.2.3", why, sizeof why));
    assert_true(allows(g, "::ffff:127.0.0.1", why, sizeof why));
    assert_true(allows(g, "64:ff9b::7f00:1", why, sizeof why));
    assert_false(allows(g, "10.0.0.1", why, sizeof why));
    assert_string_equal(why, "private");
    assert_false(allows(g, "::1", why, sizeof why));
    assert_string_equal(why, "loopback");
    assert_false(allows(g, "::ffff:10.0.0.1", why, sizeof why));
    ah_netguard_free(g);

    g = guard(false, "::1/128");
    assert_true(allows(g, "::1", why, sizeof why));
    assert_false(allows(g, "127.0.0.1", why, sizeof why));
    assert_false(allows(g, "::2", why, sizeof why));
    ah_netguard_free(g);

    /* Several entries, spaces around them, bare addresses as host routes. */
    g = guard(false, " 10.1.2.3 , 192.168.0.0/16,fd00::/8,169.254.169.254");
    assert_true(allows(g, "10.1.2.3", why, sizeof why));
    assert_false(allows(g, "10.1.2.4", why, sizeof why));
    assert_true(allows(g, "192.168.77.1", why, sizeof why));
    assert_true(allows(g, "fd12:3456::1", why, sizeof why));
    assert_false(allows(g, "fc00::1", why, sizeof why));
    assert_true(allows(g, "169.254.169.254", why, sizeof why));
    assert_false(allows(g, "169.254.169.253", why, sizeof why));
    ah_netguard_free(g);

    /* A v6 entry over the mapped range opens mapped addresses too. */
    g = guard(false, "::ffff:0:0/96");
    assert_true(allows(g, "::ffff:127.0.0.1", why, sizeof why));
    assert_false(allows(g, "127.0.0.1", why, sizeof why));
    ah_netguard_free(g);

    /* /0 opens a whole family. */
    g = guard(false, "0.0.0.0/0");
    assert_true(allows(g, "10.0.0.1", why, sizeof why));
    assert_true(allows(g, "::ffff:10.0.0.1", why, sizeof why));
    assert_false(allows(g, "fe80::1", why, sizeof why));
    ah_netguard_free(g);
}

static void test_bad_lists(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        const char *names; /* must appear in the error */
    } bad[] = {
        {"10.0.0.0/33", "10.0.0.0/33"},
        {"abc", "abc"},
        {"10.0.0.0/8,,", "entry 2"},
        {"10.0.0.0/8,", "entry 2"},
        {",10.0.0.0/8", "entry 1"},
        {" ", "entry 1"},
        {"::1/129", "::1/129"},
        {"10.0.0.0/", "10.0.0.0/"},
        {"10.0.0.0/8/8", "10.0.0.0/8/8"},
        {"10.0.0.0/-1", "10.0.0.0/-1"},
        {"10.0.0.0/+8", "10.0.0.0/+8"},
        {"10.0.0.0/08", "10.0.0.0/08"},
        {"10.0.0.0/ 8", "10.0.0.0/ 8"},
        {"10.0.0.1/8", "10.0.0.1/8"},
        {"10.0.0", "10.0.0"},
        {"010.0.0.0/8", "010.0.0.0/8"},
        {"2130706433", "2130706433"},
        {"[::1]", "[::1]"},
        {"fe80::1%eth0", "fe80::1%eth0"},
        {"::1/", "::1/"},
        {"fd00::1/8", "fd00::1/8"},
        {"127.0.0.0/8 10.0.0.0/8", "127.0.0.0/8 10.0.0.0/8"},
        {"127.0.0.0/8,localhost", "localhost"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ah_netguard_t *g = (ah_netguard_t *)1;
        char err[256] = "";
        int rc = ah_netguard_new(false, bad[i].list, &g, err, sizeof err);
        if (rc != AH_EINVAL)
            fail_msg("\"%s\" accepted (rc %d)", bad[i].list, rc);
        assert_null(g);
        if (!strstr(err, bad[i].names))
            fail_msg("\"%s\": error \"%s\" does not name \"%s\"", bad[i].list, err, bad[i].names);
    }

    /* 64 entries are fine, 65 are not. */
    char list[2048] = "";
    size_t len = 0;
    for (int i = 0; i < 65; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s10.0.%d.0/24", i ? "," : "", i);
    ah_netguard_t *g = NULL;
    char err[256];
    assert_int_equal(ah_netguard_new(false, list, &g, err, sizeof err), AH_EINVAL);
    assert_non_null(strstr(err, "64"));
    *strrchr(list, ',') = '\0';
    assert_int_equal(ah_netguard_new(false, list, &g, err, sizeof err), AH_OK);
    char why[64];
    assert_true(allows(g, "10.0.63.9", why, sizeof why));
    assert_false(allows(g, "10.0.64.9", why, sizeof why));
    ah_netguard_free(g);

    /* A very long element is cut in the message, and err may be NULL. */
    char longel[600];
    memset(longel, '1', sizeof longel - 1);
    longel[sizeof longel - 1] = '\0';
    assert_int_equal(ah_netguard_new(false, longel, &g, err, sizeof err), AH_EINVAL);
    assert_true(strlen(err) < 200);
    assert_int_equal(ah_netguard_new(false, "nope", &g, NULL, 0), AH_EINVAL);
    assert_int_equal(ah_netguard_new(false, NULL, NULL, NULL, 0), AH_EINVAL);
    ah_netguard_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Judging a URL at registration (ah_netguard_check_url).                    */

static void test_url_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"ftp://example.com/", "url must be an absolute http:// or https:// URL"},
        {"example.com/hook", "url must be an absolute http:// or https:// URL"},
        {"/relative", "url must be an absolute http:// or https:// URL"},
        {"", "url must be an absolute http:// or https:// URL"},
        {"http://", "url has no host"},
        {"https:///path", "url has no host"},
        {"http://exa mple.com/", "url must not contain spaces or control characters"},
        {"http://example.com/\x7f", "url must not contain spaces or control characters"},
        {"http://example.com/\n", "url must not contain spaces or control characters"},
        {"http://[::1/", "url is not a valid absolute http(s) URL"},
        {"http://example.com:99999/", "url is not a valid absolute http(s) URL"},
    };
    static const char *good[] = {
        "http://example.com",           "HTTPS://Example.COM:8443/a/b?c=d#e",
        "http://user:pw@example.com/",  "https://8.8.8.8/hook",
        "http://[2606:4700::1111]:80/", "https://xn--bcher-kva.example/",
    };
    /* NULL guard: syntax only; a private literal passes too. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[256] = "";
        if (ah_netguard_check_url(NULL, bad[i].url, why, sizeof why))
            fail_msg("%s accepted", bad[i].url);
        if (strcmp(why, bad[i].why) != 0)
            fail_msg("%s: why \"%s\", want \"%s\"", bad[i].url, why, bad[i].why);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char why[256] = "";
        if (!ah_netguard_check_url(NULL, good[i], why, sizeof why))
            fail_msg("%s refused: %s", good[i], why);
    }
    char why[256];
    assert_true(ah_netguard_check_url(NULL, "http://127.0.0.1/", why, sizeof why));
}

static void test_url_private_literals(void **state)
{
    (void)state;
    ah_netguard_t *g = guard(false, NULL);
    /* Every spelling libcurl turns into a private address is refused early. */
    static const struct {
        const char *url, *range;
    } refused[] = {
        {"http://127.0.0.1/", "loopback"},
        {"http://localhost:8080/x", "loopback"},
        {"http://LOCALHOST./x", "loopback"},
        {"http://2130706433/", "loopback"},
        {"http://0x7f.1/", "loopback"},
        {"http://127.1/", "loopback"},
        {"http://[::1]/", "loopback"},
        {"http://[::ffff:127.0.0.1]/", "loopback"},
        {"http://10.1.2.3./", "private"},
        {"https://169.254.169.254/latest/meta-data", "cloud metadata"},
        {"http://[fe80::1%25eth0]/", "link-local"},
        {"http://0.0.0.0/", "unspecified"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char why[256] = "", want[256];
        if (ah_netguard_check_url(g, refused[i].url, why, sizeof why))
            fail_msg("%s accepted", refused[i].url);
        snprintf(want, sizeof want,
                 "url points to a %s address; private targets are refused (see --allow-net)",
                 refused[i].range);
        if (strcmp(why, want) != 0)
            fail_msg("%s: why \"%s\", want \"%s\"", refused[i].url, why, want);
    }
    /* Names wait for DNS (the connect-time check); public literals pass. */
    static const char *passed[] = {"http://internal.example/", "http://localhost.example/",
                                   "https://8.8.8.8/", "http://[2606:4700::1111]/"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++) {
        char why[256] = "";
        if (!ah_netguard_check_url(g, passed[i], why, sizeof why))
            fail_msg("%s refused: %s", passed[i], why);
    }
    ah_netguard_free(g);
    /* The allow list opens literals as it opens connections. */
    g = guard(false, "127.0.0.0/8");
    char why[256];
    assert_true(ah_netguard_check_url(g, "http://127.0.0.1:9/", why, sizeof why));
    assert_true(ah_netguard_check_url(g, "http://localhost/", why, sizeof why));
    assert_false(ah_netguard_check_url(g, "http://[::1]/", why, sizeof why));
    ah_netguard_free(g);
}

/* ------------------------------------------------------------------------ */
/* Real libcurl transfers, loopback only.                                     */

/* A listening TCP socket on ip (127.0.0.1 or ::1), port 0; -1 when unavailable. */
static int listen_on(const char *ip, int *port)
{
    struct sockaddr_storage ss = sa_of(ip);
    socklen_t len =
        ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    ((struct sockaddr_in *)&ss)->sin_port = 0; /* same offset in sockaddr_in6 */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* True when a connection is waiting on the listener (and takes it). */
static bool has_pending(int lfd)
{
    int flags = fcntl(lfd, F_GETFL);
    fcntl(lfd, F_SETFL, flags | O_NONBLOCK);
    int c = accept(lfd, NULL, NULL);
    int e = errno;
    fcntl(lfd, F_SETFL, flags);
    if (c >= 0) {
        close(c);
        return true;
    }
    assert_true(e == EAGAIN || e == EWOULDBLOCK);
    return false;
}

struct server {
    int lfd;
    const char *response;
    int accepted;
    char request[1024];
    pthread_t thread;
};

/* Accepts one connection (waiting up to 5 s), reads the request head, answers. */
static void *serve_one(void *arg)
{
    struct server *s = arg;
    struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1)
        return NULL;
    int c = accept(s->lfd, NULL, NULL);
    if (c < 0)
        return NULL;
    s->accepted = 1;
    size_t len = 0;
    while (len + 1 < sizeof s->request) {
        struct pollfd cp = {.fd = c, .events = POLLIN};
        if (poll(&cp, 1, 5000) != 1)
            break;
        ssize_t n = read(c, s->request + len, sizeof s->request - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        s->request[len] = '\0';
        if (strstr(s->request, "\r\n\r\n"))
            break;
    }
    ssize_t w = write(c, s->response, strlen(s->response));
    (void)w;
    close(c);
    return NULL;
}

static void server_start(struct server *s, int lfd, const char *response)
{
    memset(s, 0, sizeof *s);
    s->lfd = lfd;
    s->response = response;
    assert_int_equal(pthread_create(&s->thread, NULL, serve_one, s), 0);
}

static void server_join(struct server *s)
{
    pthread_join(s->thread, NULL);
}

static const char ok_response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/* Performs GET url on a fresh handle guarded by g; returns curl's result. */
static CURLcode fetch(const ah_netguard_t *g, const char *url, long *status)
{
    CURL *h = curl_easy_init();
    assert_non_null(h);
    ah_netguard_use_t use = {.guard = g};
    assert_int_equal(ah_netguard_install(&use, h), AH_OK);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    CURLcode rc = curl_easy_perform(h);
    if (status) {
        *status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    }
    fclose(sink);
    curl_easy_cleanup(h);
    memcpy(last_refusal, use.refused, sizeof last_refusal);
    return rc;
}

static void test_curl_refused(void **state)
{
    (void)state;
    int port = 0;
    int lfd = listen_on("127.0.0.1", &port);
    assert_true(lfd >= 0);
    ah_netguard_t *g = guard(false, NULL);
    char url[128], why[128];
    (void)take_refusal(why, sizeof why);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    assert_int_equal(fetch(g, url, NULL), CURLE_COULDNT_CONNECT);
    assert_false(has_pending(lfd));
    assert_true(take_refusal(why, sizeof why));
    assert_string_equal(why, "loopback (127.0.0.1)");
    assert_false(take_refusal(why, sizeof why));
    assert_string_equal(why, "");

    /* localhost resolves to 127.0.0.1 (and ::1): refused after DNS. */
    snprintf(url, sizeof url, "http://localhost:%d/", port);
    assert_int_equal(fetch(g, url, NULL), CURLE_COULDNT_CONNECT);
    assert_false(has_pending(lfd));
    assert_true(take_refusal(why, sizeof why));
    assert_non_null(strstr(why, "loopback"));

    /* Numeric tricks curl or the resolver turn into 127.0.0.1. */
    static const char *tricks[] = {"2130706433", "0x7f000001",         "0177.0.0.1",
                                   "127.1",      "[::ffff:127.0.0.1]", "0.0.0.0"};
    for (size_t i = 0; i < sizeof tricks / sizeof tricks[0]; i++) {
        snprintf(url, sizeof url, "http://%s:%d/", tricks[i], port);
        CURLcode rc = fetch(g, url, NULL);
        if (rc != CURLE_COULDNT_CONNECT)
            fail_msg("%s: curl says %d (%s)", url, rc, curl_easy_strerror(rc));
        assert_false(has_pending(lfd));
    }

    /* Only http and https. */
    assert_int_equal(fetch(g, "file:///etc/hostname", NULL), CURLE_UNSUPPORTED_PROTOCOL);
    snprintf(url, sizeof url, "gopher://127.0.0.1:%d/", port);
    assert_int_equal(fetch(g, url, NULL), CURLE_UNSUPPORTED_PROTOCOL);
    snprintf(url, sizeof url, "dict://127.0.0.1:%d/", port);
    assert_int_equal(fetch(g, url, NULL), CURLE_UNSUPPORTED_PROTOCOL);
    assert_false(has_pending(lfd));

    ah_netguard_free(g);
    close(lfd);
}

static void test_curl_allowed(void **state)
{
    (void)state;
    int port = 0;
    int lfd = listen_on("127.0.0.1", &port);
    assert_true(lfd >= 0);
    ah_netguard_t *g = guard(false, "127.0.0.0/8");
    char url[128];
    struct server s;
    long status;

    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    server_start(&s, lfd, ok_response);
    assert_int_equal(fetch(g, url, &status), CURLE_OK);
    server_join(&s);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(status, 200);

    /* localhost: ::1 is still refused, curl falls back to 127.0.0.1. */
    snprintf(url, sizeof url, "http://localhost:%d/", port);
    server_start(&s, lfd, ok_response);
    assert_int_equal(fetch(g, url, &status), CURLE_OK);
    server_join(&s);
    assert_int_equal(s.accepted, 1);

    snprintf(url, sizeof url, "http://2130706433:%d/", port);
    server_start(&s, lfd, ok_response);
    assert_int_equal(fetch(g, url, &status), CURLE_OK);
    server_join(&s);
    assert_int_equal(s.accepted, 1);

    ah_netguard_free(g);
    close(lfd);
}

static void test_curl_ipv6_loopback(void **state)
{
    (void)state;
    int port = 0;
    int lfd = listen_on("::1", &port);
    if (lfd < 0)
        skip(); /* no IPv6 loopback here */
    char url[128];
    snprintf(url, sizeof url, "http://[::1]:%d/", port);

    ah_netguard_t *g = guard(false, "127.0.0.0/8");
    assert_int_equal(fetch(g, url, NULL), CURLE_COULDNT_CONNECT);
    assert_false(has_pending(lfd));
    ah_netguard_free(g);

    g = guard(false, "::1/128");
    struct server s;
    server_start(&s, lfd, ok_response);
    assert_int_equal(fetch(g, url, NULL), CURLE_OK);
    server_join(&s);
    assert_int_equal(s.accepted, 1);
    ah_netguard_free(g);
    close(lfd);
}

/* http_proxy in the environment must not route around the guard. */
static void test_curl_ignores_proxy_env(void **state)
{
    (void)state;
    int port = 0, proxy_port = 0;
    int lfd = listen_on("127.0.0.1", &port);
    int pfd = listen_on("127.0.0.1", &proxy_port);
    assert_true(lfd >= 0 && pfd >= 0);
    char proxy[64], url[128];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", proxy_port);
    setenv("http_proxy", proxy, 1);
    setenv("HTTPS_PROXY", proxy, 1);
    setenv("ALL_PROXY", proxy, 1);

    ah_netguard_t *g = guard(false, "127.0.0.0/8");
    struct server s;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/direct", port);
    server_start(&s, lfd, ok_response);
    assert_int_equal(fetch(g, url, NULL), CURLE_OK);
    server_join(&s);
    assert_int_equal(s.accepted, 1);
    assert_non_null(strstr(s.request, "GET /direct HTTP/1.1\r\n"));
    assert_false(has_pending(pfd));

    unsetenv("http_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    ah_netguard_free(g);
    close(lfd);
    close(pfd);
}

/* Redirects are not followed (SPEC §6), so a 302 cannot lead inside. */
static void test_curl_no_redirects(void **state)
{
    (void)state;
    int port = 0;
    int lfd = listen_on("127.0.0.1", &port);
    assert_true(lfd >= 0);
    char response[256];
    snprintf(response, sizeof response,
             "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/inside\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n",
             port);
    ah_netguard_t *g = guard(false, "127.0.0.1");
    struct server s;
    char url[128];
    long status;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    server_start(&s, lfd, response);
    assert_int_equal(fetch(g, url, &status), CURLE_OK);
    server_join(&s);
    assert_int_equal(status, 302);
    assert_false(has_pending(lfd));
    ah_netguard_free(g);
    close(lfd);
}

static void test_install_bad_args(void **state)
{
    (void)state;
    ah_netguard_t *g = guard(false, NULL);
    ah_netguard_use_t use = {.guard = g}, none = {.guard = NULL};
    assert_int_equal(ah_netguard_install(&use, NULL), AH_EINVAL);
    CURL *h = curl_easy_init();
    assert_int_equal(ah_netguard_install(NULL, h), AH_EINVAL);
    assert_int_equal(ah_netguard_install(&none, h), AH_EINVAL);
    curl_easy_cleanup(h);
    ah_netguard_free(g);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_denied_by_default),  cmocka_unit_test(test_allow_private_opens_all),
        cmocka_unit_test(test_public_allowed),     cmocka_unit_test(test_other_families_refused),
        cmocka_unit_test(test_allow_cidrs),        cmocka_unit_test(test_bad_lists),
        cmocka_unit_test(test_curl_refused),       cmocka_unit_test(test_curl_allowed),
        cmocka_unit_test(test_curl_ipv6_loopback), cmocka_unit_test(test_curl_ignores_proxy_env),
        cmocka_unit_test(test_curl_no_redirects),  cmocka_unit_test(test_install_bad_args),
        cmocka_unit_test(test_url_syntax),         cmocka_unit_test(test_url_private_literals),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
