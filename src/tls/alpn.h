/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ALPN_H
#define MTASTSD_ALPN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The tls-alpn-01 challenge (RFC 8737) on the serving listeners. While an
 * order for a host is pending, a handshake whose SNI is that host and
 * whose ALPN offers only "acme-tls/1" is answered with a self-signed
 * certificate for the host carrying the critical acmeIdentifier extension
 * (SHA-256 of the key authorization) and ALPN "acme-tls/1". Every other
 * handshake is untouched: with no challenge pending the hook is one
 * atomic load.
 *
 * libmicrohttpd sets its own ALPN list on every session, so the choice is
 * made in a GnuTLS hook that runs on the raw ClientHello before GnuTLS
 * parses its extensions, which is when the session's ALPN list can still
 * be replaced.
 */

#define ALPN_ACME_PROTOCOL "acme-tls/1"
#define ALPN_OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"

/*
 * alpn_challenge_add makes the challenge certificate for host (a lower-case
 * policy host) and key_authorization, and answers it from the next
 * handshake on, replacing an earlier one for host. Thread-safe.
 * 0 or -1 (logged).
 */
int alpn_challenge_add(const char *host, const char *key_authorization);

/* Stops answering the challenge of host. Thread-safe. */
void alpn_challenge_remove(const char *host);

/* Frees everything (at exit, after the server stopped). */
void alpn_finish(void);

/*
 * alpn_challenge_pem makes the challenge certificate alone, as PEM
 * (caller frees), for tests and diagnostics. 0 or -1.
 */
int alpn_challenge_pem(const char *host, const char *key_authorization,
	char **pem);

/*
 * For tls/: alpn_on_client_hello looks at an incoming ClientHello (the
 * raw handshake message a GNUTLS_HOOK_PRE hook gets) of a server session
 * (a gnutls_session_t). For a challenge handshake it replaces the
 * session's ALPN list with acme-tls/1 and returns the challenge to answer
 * (for alpn_retrieve); otherwise it changes nothing and returns NULL,
 * after one atomic load when no challenge is pending.
 */
const void *alpn_on_client_hello(void *session, const void *msg,
	size_t size);

/*
 * alpn_retrieve hands GnuTLS the challenge's certificate and key
 * (arguments as gnutls_certificate_retrieve_function2's last three).
 */
int alpn_retrieve(const void *challenge, void *pcert, unsigned *pcert_length,
	void *privkey);

#endif
