/* SPDX-License-Identifier: MIT */
/*
 * ssrf.h: which addresses a delivery may connect to.
 *
 * By default a delivery may not reach loopback, private, link-local,
 * carrier-grade NAT, multicast, unspecified, reserved, documentation or
 * cloud-metadata addresses, in IPv4 or IPv6 (IPv4-mapped and NAT64
 * addresses are judged by the IPv4 address inside).  The check runs on the
 * address libcurl is about to connect to, after DNS (CURLOPT_OPENSOCKETFUNCTION),
 * so a hostname that resolves to 127.0.0.1 or "http://2130706433/" is
 * caught too.  --allow-private-targets opens every such range;
 * --allow-net CIDR[,CIDR…] opens the listed ones.  Registration judges a
 * URL early with the same guard (ah_netguard_check_url).
 */
#ifndef AH_SSRF_H
#define AH_SSRF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct ah_netguard ah_netguard_t;

/*
 * allow_cidrs: NULL/"" or a comma-separated list such as
 * "127.0.0.0/8,::1/128,10.1.2.3" (a bare address is a /32 or /128).
 * On a bad list returns AH_EINVAL with a sentence in err.
 */
int ah_netguard_new(bool allow_private, const char *allow_cidrs, ah_netguard_t **out, char *err,
                    size_t errlen);
void ah_netguard_free(ah_netguard_t *g);

/* True when connecting to sa is permitted; else why names the range ("loopback"). */
bool ah_netguard_allows(const ah_netguard_t *g, const struct sockaddr *sa, char *why,
                        size_t whylen);

/*
 * Judges a webhook's target URL at registration, long before a delivery
 * connects.  The URL must be an absolute http:// or https:// URL with a
 * host, by libcurl's parser, with no spaces or control characters.  When g
 * is non-NULL, a host that is an IP literal (in any form libcurl normalises,
 * such as "2130706433" or "[::ffff:127.0.0.1]") or "localhost" must be an
 * address g allows, so an obviously private target is refused at once;
 * names are judged after DNS, at connect time (ah_netguard_install).  NULL
 * g checks the syntax only.  Returns true, or false with a sentence in why
 * ("url has no host").
 */
bool ah_netguard_check_url(const ah_netguard_t *g, const char *url, char *why, size_t whylen);

/*
 * One transfer's use of the guard.  The caller owns it (the dispatcher keeps
 * one in each transfer); it must outlive the transfer.  When the guard
 * refuses a connection, `refused` receives why ("loopback (127.0.0.1)"); it
 * is "" otherwise.  Kept per transfer because one thread drives many.
 */
typedef struct ah_netguard_use {
    const ah_netguard_t *guard;
    char refused[96];
} ah_netguard_use_t;

/*
 * Installs use->guard on a libcurl easy handle (void * to keep curl.h out
 * of this header): an open-socket callback that refuses forbidden addresses
 * (the transfer then fails with CURLE_COULDNT_CONNECT and no packet is
 * sent), plus http/https only, no redirects and no proxy.  Set no other
 * socket, proxy, redirect or protocol option on the handle afterwards.
 */
int ah_netguard_install(ah_netguard_use_t *use, void *curl_easy);

#endif
