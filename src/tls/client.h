/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_CLIENT_H
#define MTASTSD_TLS_CLIENT_H

#include <stdbool.h>
#include <time.h>

/*
 * The client side, for `mta-stsd check`: what a sending MTA sees when it
 * starts TLS with a policy host or an MX host (RFC 8461 §3.3, §4.2).
 */
struct tls_probe_result {
	char version[16];	/* "TLS1.3" */
	bool verified;		/* trusted, current and valid for host */
	bool expired;		/* a certificate of the chain has expired */
	bool not_yet_valid;	/* a certificate of the chain is not valid yet */
	bool untrusted;		/* no chain to a trust anchor (or insecure) */
	bool host_mismatch;	/* the leaf does not name host (RFC 6125) */
	time_t not_after;	/* of the leaf; 0 when none was sent */
	char names[256];	/* DNS names of the leaf, ", "-separated */
	char error[160];	/* why the handshake failed */
};

/*
 * tls_client_probe runs a TLS 1.2+ client handshake on the connected
 * socket fd with SNI host, then verifies the peer's chain against the
 * system trust store plus ca_file (PEM, may be NULL) and host against the
 * leaf's DNS names, and closes the TLS session (fd stays open, the caller
 * closes it). The handshake is bounded by timeout_s. Returns 0 when the
 * handshake succeeded (out tells whether the certificate verified), or -1
 * with out->error set. Logs nothing: the findings are the caller's.
 */
int tls_client_probe(int fd, const char *host, const char *ca_file,
	unsigned timeout_s, struct tls_probe_result *out);

#endif
