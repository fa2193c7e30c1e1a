/* SPDX-License-Identifier: MIT */
/*
 * ssrf.c: the network guard that keeps deliveries away from the inside of
 * the network (SPEC §6, "SSRF").
 *
 * The decision is made on the address libcurl is about to connect to, in
 * an open-socket callback, after DNS and after curl's own URL tricks
 * ("http://2130706433/", "http://0x7f.1/") have been resolved: a name that
 * resolves to 127.0.0.1, and a DNS answer that changes between the check
 * and the connect, are both judged on what is really dialled.  A refused
 * address never gets a socket, so no packet leaves the box; curl reports
 * CURLE_COULDNT_CONNECT.
 *
 * Judging an address is three steps.  classify_v4/classify_v6 name the
 * forbidden range it falls in ("loopback", "private", ...) or return NULL
 * for an ordinary public address; IPv6 forms that carry an IPv4 address
 * (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that IPv4
 * address.  Then allow_private opens every range, and the allow list
 * (--allow-net) opens the CIDRs it names; an IPv4 entry also opens the
 * IPv6 forms that embed an address it contains, so "127.0.0.0/8" opens
 * ::ffff:127.0.0.1 too.  Outside 2000::/3 (global unicast) IPv6 has no
 * public hosts, so anything there not named otherwise is "reserved".
 *
 * Registration runs the same judgement early (ah_netguard_check_url): the
 * URL is parsed by libcurl, and a host that is already an address (an IP
 * literal or "localhost") is judged at once, so an obviously private target
 * is refused with a 400 instead of failing every delivery.  A name waits for
 * DNS, at connect time.
 *
 * The reason for the last refusal is kept per thread (the dispatcher
 * drives all transfers from one thread) so the attempt can be recorded as
 * "refused by the SSRF guard: loopback (127.0.0.1)" rather than a bare
 * "couldn't connect".
 */
#include "delivery/ssrf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airhook/airhook.h"

#define MAX_ALLOW 64
/* Longest element we bother to parse: an IPv6 address plus "/128". */
#define MAX_ELEM_LEN (INET6_ADDRSTRLEN + 4)
/* The longest host a registered URL can carry (AH_URL_MAX in store.h). */
#define URL_HOST_MAX 2048

struct cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned prefix;        /* 0..32 or 0..128 */
    unsigned char addr[16]; /* network address, 4 or 16 bytes used */
};

struct ah_netguard {
    bool allow_private;
    size_t n_allow;
    struct cidr allow[MAX_ALLOW];
};

/* ---- classification ---------------------------------------------------- */

static bool in_v4(uint32_t a, uint32_t net, unsigned prefix)
{
    uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
    return (a & mask) == (net & mask);
}

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

/* The forbidden range a (host order) is in, or NULL for a public address. */
static const char *classify_v4(uint32_t a)
{
    /* Exact metadata endpoints first: they sit inside wider ranges. */
    if (a == V4(169, 254, 169, 254) || a == V4(169, 254, 170, 2) || /* AWS/GCP/Azure, ECS */
        a == V4(100, 100, 100, 200))                                /* Alibaba */
        return "cloud metadata";
    static const struct {
        uint32_t net;
        unsigned prefix;
        const char *why;
    } ranges[] = {
        {V4(0, 0, 0, 0), 8, "unspecified"},
        {V4(10, 0, 0, 0), 8, "private"},
        {V4(100, 64, 0, 0), 10, "carrier-grade NAT"},
        {V4(127, 0, 0, 0), 8, "loopback"},
        {V4(169, 254, 0, 0), 16, "link-local"},
        {V4(172, 16, 0, 0), 12, "private"},
        {V4(192, 0, 0, 0), 24, "reserved"},
        {V4(192, 0, 2, 0), 24, "reserved"},
        {V4(192, 168, 0, 0), 16, "private"},
        {V4(198, 18, 0, 0), 15, "reserved"},
        {V4(198, 51, 100, 0), 24, "reserved"},
        {V4(203, 0, 113, 0), 24, "reserved"},
        {V4(224, 0, 0, 0), 4, "multicast"},
        {V4(240, 0, 0, 0), 4, "reserved"}, /* includes 255.255.255.255 */
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (in_v4(a, ranges[i].net, ranges[i].prefix))
            return ranges[i].why;
    return NULL;
}

static bool in_v6(const unsigned char *a, const unsigned char *net, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static uint32_t load_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * When a carries an IPv4 address that the connection really goes to (or
 * through), stores it in *v4 and returns true.  :: and ::1 are not
 * IPv4-compatible addresses but themselves.
 */
static bool embedded_v4(const unsigned char a[16], uint32_t *v4)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const unsigned char compat[12] = {0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1}; /* RFC 8215 /48 */
    if (!memcmp(a, mapped, 12) || !memcmp(a, translated, 12) || !memcmp(a, nat64, 12) ||
        !memcmp(a, nat64_local, 6)) {
        *v4 = load_be32(a + 12);
        return true;
    }
    if (!memcmp(a, compat, 12)) {
        uint32_t v = load_be32(a + 12);
        if (v <= 1)
            return false;
        *v4 = v;
        return true;
    }
    if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:AABB:CCDD::/48 */
        *v4 = load_be32(a + 2);
        return true;
    }
    return false;
}

/* The forbidden range of an IPv6 address without an embedded IPv4 one. */
static const char *classify_v6(const unsigned char a[16])
{
    static const unsigned char unspec[16] = {0};
    static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char ec2[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, /* fd00:ec2::254 */
                                          0,    0, 0,    0,    0, 0, 2, 0x54};
    if (!memcmp(a, unspec, 16))
        return "unspecified";
    if (!memcmp(a, loop, 16))
        return "loopback";
    if (!memcmp(a, ec2, 16))
        return "cloud metadata";
    static const struct {
        unsigned char net[4];
        unsigned prefix;
        const char *why;
    } ranges[] = {
        {{0xfc, 0x00}, 7, "private"}, /* unique local */
        {{0xfe, 0x80}, 10, "link-local"},
        {{0xfe, 0xc0}, 10, "private"}, /* deprecated site-local */
        {{0xff, 0x00}, 8, "multicast"},
        {{0x20, 0x01, 0x0d, 0xb8}, 32, "reserved"}, /* documentation */
        {{0x3f, 0xff}, 20, "reserved"},             /* documentation, RFC 9637 */
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        unsigned char net[16] = {0};
        memcpy(net, ranges[i].net, sizeof ranges[i].net);
        if (in_v6(a, net, ranges[i].prefix))
            return ranges[i].why;
    }
    if ((a[0] & 0xe0) != 0x20) /* not in 2000::/3, global unicast */
        return "reserved";
    return NULL;
}

/* ---- the allow list ---------------------------------------------------- */

static bool allow_has_v4(const ah_netguard_t *g, uint32_t a)
{
    for (size_t i = 0; i < g->n_allow; i++)
        if (g->allow[i].family == AF_INET &&
            in_v4(a, load_be32(g->allow[i].addr), g->allow[i].prefix))
            return true;
    return false;
}

static bool allow_has_v6(const ah_netguard_t *g, const unsigned char a[16])
{
    for (size_t i = 0; i < g->n_allow; i++)
        if (g->allow[i].family == AF_INET6 && in_v6(a, g->allow[i].addr, g->allow[i].prefix))
            return true;
    return false;
}

/* Writes a printable copy of an element, cut at 60 characters, for an error message. */
static void show_elem(const char *s, size_t len, char *out, size_t outsz)
{
    size_t n = len < 60 ? len : 60, j = 0;
    for (size_t i = 0; i < n && j + 1 < outsz; i++) {
        char ch = s[i];
        if (ch < 0x20 || ch >= 0x7f)
            ch = '?';
        out[j++] = ch;
    }
    if (n < len)
        for (int k = 0; k < 3 && j + 1 < outsz; k++)
            out[j++] = '.';
    out[j] = '\0';
}

static void set_err(char *err, size_t errlen, size_t index, const char *s, size_t len,
                    const char *problem)
{
    if (!err || !errlen)
        return;
    char shown[72];
    show_elem(s, len, shown, sizeof shown);
    snprintf(err, errlen, "allow-net entry %zu (\"%s\") %s.", index + 1, shown, problem);
}

/* Strict decimal prefix length: digits only, no sign, no leading zero. */
static int parse_prefix(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
        return AH_EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return AH_EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return AH_EINVAL;
    *out = v;
    return AH_OK;
}

/* True when addr has a bit set past prefix (a host address with a /len). */
static bool host_bits_set(const unsigned char *addr, size_t n_bytes, unsigned prefix)
{
    for (size_t bit = prefix; bit < n_bytes * 8; bit++)
        if (addr[bit / 8] & (0x80u >> (bit % 8)))
            return true;
    return false;
}

/* Parses one element s[0..len) ("10.0.0.0/8", "::1", ...) into *c. */
static int parse_elem(const char *s, size_t len, size_t index, struct cidr *c, char *err,
                      size_t errlen)
{
    if (len == 0) {
        set_err(err, errlen, index, s, len, "is empty");
        return AH_EINVAL;
    }
    if (len > MAX_ELEM_LEN) {
        set_err(err, errlen, index, s, len, "is too long to be an address or CIDR");
        return AH_EINVAL;
    }
    char buf[MAX_ELEM_LEN + 1];
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        c->family = AF_INET;
        c->prefix = 32;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->family = AF_INET6;
        c->prefix = 128;
    } else {
        set_err(err, errlen, index, s, len, "is not an IPv4 or IPv6 address or CIDR");
        return AH_EINVAL;
    }
    size_t n_bytes = c->family == AF_INET ? 4 : 16;
    if (slash) {
        const char *p = slash + 1;
        if (parse_prefix(p, strlen(p), (unsigned)n_bytes * 8, &c->prefix)) {
            set_err(err, errlen, index, s, len,
                    c->family == AF_INET ? "has a bad prefix length (0 to 32)"
                                         : "has a bad prefix length (0 to 128)");
            return AH_EINVAL;
        }
    }
    if (host_bits_set(c->addr, n_bytes, c->prefix)) {
        set_err(err, errlen, index, s, len,
                "has bits set past its prefix length (write the network address)");
        return AH_EINVAL;
    }
    return AH_OK;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int parse_list(ah_netguard_t *g, const char *list, char *err, size_t errlen)
{
    if (!list || !*list)
        return AH_OK;
    const char *p = list;
    for (size_t index = 0;; index++) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *b = p, *e = end;
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
        if (g->n_allow == MAX_ALLOW) {
            if (err && errlen)
                snprintf(err, errlen, "allow-net has more than %d entries.", MAX_ALLOW);
            return AH_EINVAL;
        }
        int rc = parse_elem(b, (size_t)(e - b), index, &g->allow[g->n_allow], err, errlen);
        if (rc)
            return rc;
        g->n_allow++;
        if (!comma)
            return AH_OK;
        p = comma + 1;
    }
}

/* ---- public API -------------------------------------------------------- */

int ah_netguard_new(bool allow_private, const char *allow_cidrs, ah_netguard_t **out, char *err,
                    size_t errlen)
{
    if (!out)
        return AH_EINVAL;
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    ah_netguard_t *g = calloc(1, sizeof *g);
    if (!g) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return AH_ENOMEM;
    }
    g->allow_private = allow_private;
    int rc = parse_list(g, allow_cidrs, err, errlen);
    if (rc) {
        free(g);
        return rc;
    }
    *out = g;
    return AH_OK;
}

void ah_netguard_free(ah_netguard_t *g)
{
    free(g);
}

static bool refuse(char *why, size_t whylen, const char *reason)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", reason);
    return false;
}

bool ah_netguard_allows(const ah_netguard_t *g, const struct sockaddr *sa, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    if (!g || !sa)
        return refuse(why, whylen, "no address");
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof sin);
        uint32_t a = ntohl(sin.sin_addr.s_addr);
        const char *reason = classify_v4(a);
        if (!reason || g->allow_private || allow_has_v4(g, a))
            return true;
        return refuse(why, whylen, reason);
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof sin6);
        const unsigned char *a = sin6.sin6_addr.s6_addr;
        uint32_t v4 = 0;
        bool has_v4 = embedded_v4(a, &v4);
        const char *reason = has_v4 ? classify_v4(v4) : classify_v6(a);
        if (!reason || g->allow_private || allow_has_v6(g, a) || (has_v4 && allow_has_v4(g, v4)))
            return true;
        return refuse(why, whylen, reason);
    }
    return refuse(why, whylen, "unsupported address family");
}

static void note_refusal(ah_netguard_use_t *use, const struct sockaddr *sa, const char *reason)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip,
                  sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                  sizeof ip);
    snprintf(use->refused, sizeof use->refused, "%s (%s)", reason, ip);
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)purpose;
    ah_netguard_use_t *use = clientp;
    char why[64];
    size_t need = addr->family == AF_INET    ? sizeof(struct sockaddr_in)
                  : addr->family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : 0;
    if (need == 0 || addr->addrlen < need || addr->addr.sa_family != addr->family) {
        note_refusal(use, &addr->addr, "unsupported address family");
        return CURL_SOCKET_BAD;
    }
    if (!ah_netguard_allows(use->guard, &addr->addr, why, sizeof why)) {
        note_refusal(use, &addr->addr, why);
        return CURL_SOCKET_BAD;
    }
    /* What curl does itself, plus close-on-exec. */
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

int ah_netguard_install(ah_netguard_use_t *use, void *curl_easy)
{
    if (!use || !use->guard || !curl_easy)
        return AH_EINVAL;
    CURL *h = curl_easy;
    void *data = use;
    use->refused[0] = '\0';
    if (curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, data) != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        /* "" disables proxies, including http_proxy/HTTPS_PROXY from the
         * environment: a proxy would make the connect we judge the proxy's. */
        curl_easy_setopt(h, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*") != CURLE_OK)
        return AH_EINVAL;
    return AH_OK;
}

/* ---- registration-time URL check -------------------------------------- */

/*
 * A host as libcurl hands it over ("[::1]", "127.0.0.1.", "fe80::1%25eth0"),
 * when it is an address or "localhost", as a sockaddr in *ss.  False for a
 * name, which only DNS can judge.
 */
static bool host_address(const char *host, struct sockaddr_storage *ss)
{
    char buf[URL_HOST_MAX];
    size_t n = strlen(host);
    memset(ss, 0, sizeof *ss);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, host, n + 1);
    if (n && buf[n - 1] == '.')
        buf[--n] = '\0';
    if (n > 2 && buf[0] == '[' && buf[n - 1] == ']') {
        buf[n - 1] = '\0';
        memmove(buf, buf + 1, n - 1);
    }
    char *zone = strchr(buf, '%');
    if (zone)
        *zone = '\0';
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (!strcasecmp(buf, "localhost")) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
    } else {
        return false;
    }
    return true;
}

/* True unless host is an address g refuses; why then names its range. */
static bool host_allowed(const ah_netguard_t *g, const char *host, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    char reason[96];
    if (!g || !host_address(host, &ss))
        return true;
    if (ah_netguard_allows(g, (struct sockaddr *)&ss, reason, sizeof reason))
        return true;
    snprintf(why, whylen,
             "url points to a %s address; private targets are refused (see --allow-net)", reason);
    return false;
}

bool ah_netguard_check_url(const ah_netguard_t *g, const char *url, char *why, size_t whylen)
{
    bool ok = false;
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL;
    if (!h) {
        snprintf(why, whylen, "url could not be checked (out of memory)");
        return false;
    }
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(why, whylen, "url must not contain spaces or control characters");
            goto out;
        }
    }
    size_t scheme_len = !strncasecmp(url, "http://", 7)    ? 7
                        : !strncasecmp(url, "https://", 8) ? 8
                                                           : 0;
    if (!scheme_len) {
        snprintf(why, whylen, "url must be an absolute http:// or https:// URL");
        goto out;
    }
    if (url[scheme_len] == '/' || url[scheme_len] == '\0') {
        snprintf(why, whylen, "url has no host");
        goto out;
    }
    if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        snprintf(why, whylen, "url is not a valid absolute http(s) URL");
        goto out;
    }
    ok = host_allowed(g, host, why, whylen);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(h);
    return ok;
}
