/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_HELLO_H
#define MTASTSD_TLS_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * ClientHello screening. GnuTLS refuses a ClientHello it cannot serve
 * (no common version, cipher suite or group) by failing the handshake, and
 * leaves the alert to the application; libmicrohttpd 0.9.75 then closes
 * the connection without one. RFC 8446 §4.1.1 and §4.2.1 ask for
 * handshake_failure and protocol_version, so the handshake hook
 * (tls/handshake.c) judges each ClientHello against what the priority
 * string enables and sends the alert itself. Private to tls/.
 */

#define HELLO_MAX_SUITES 128
#define HELLO_MAX_GROUPS 16

/* What the server's priority string enables, as TLS code points. */
struct hello_offer {
	bool version[5];	/* [minor]: SSL 3.0 (0) to TLS 1.3 (4) */
	size_t nsuites;
	size_t ngroups;
	uint16_t suites[HELLO_MAX_SUITES];
	bool ecdhe[HELLO_MAX_SUITES];	/* the suite's key exchange needs a group */
	uint16_t groups[HELLO_MAX_GROUPS];
};

/*
 * hello_offer_init fills o from the GnuTLS priority string priorities.
 * 0, or a GnuTLS error code when the string does not parse.
 */
int hello_offer_init(struct hello_offer *o, const char *priorities);

/*
 * hello_screen judges the ClientHello body msg (no handshake header)
 * against o: the TLS alert to refuse it with (GNUTLS_A_PROTOCOL_VERSION
 * when no version is common, GNUTLS_A_HANDSHAKE_FAILURE when no cipher
 * suite or key exchange group is), or 0 when a handshake is possible or
 * the message is malformed (GnuTLS reports that itself).
 */
int hello_screen(const struct hello_offer *o, const unsigned char *msg,
	size_t len);

#endif
