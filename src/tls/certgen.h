/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_CERTGEN_H
#define MTASTSD_TLS_CERTGEN_H

#include <gnutls/x509.h>

/*
 * Making keys and certificates: the demo's self-signed certificate today
 * (ACME's challenge certificates and CSRs belong here too). Private to
 * tls/. Each returns 0 or a GnuTLS error code; nothing is logged.
 */

/* Makes an ECDSA P-256 key into *key (caller deinits). */
int certgen_key(gnutls_x509_privkey_t *key);

/*
 * Makes a self-signed certificate for host with key, valid from five
 * minutes ago for a day, into *out (caller deinits).
 */
int certgen_self_signed(const char *host, gnutls_x509_privkey_t key,
	gnutls_x509_crt_t *out);

/* Copies the PEM form of crt into a NUL-terminated string (caller frees). */
int certgen_export_pem(gnutls_x509_crt_t crt, char **out);

#endif
