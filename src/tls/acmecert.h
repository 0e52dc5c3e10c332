/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACMECERT_H
#define MTASTSD_ACMECERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct jws_key;

/*
 * The certificates ACME deals in, on GnuTLS: the certificate signing
 * request for a policy host, and reading back what the CA issued.
 */

/*
 * acmecert_csr makes a CSR (DER) for host, signed by key, with host as its
 * only subjectAltName (RFC 8555 §7.4). *der is the caller's to free.
 * 0 or -1 (logged).
 */
int acmecert_csr(const struct jws_key *key, const char *host,
	unsigned char **der, size_t *der_len);

/*
 * acmecert_chain_dates reads the leaf of a PEM chain: its validity and
 * whether it names host. 0, or -1 with why (a short phrase) when pem
 * holds no certificate.
 */
int acmecert_chain_dates(const char *pem, size_t len, const char *host,
	time_t *not_before, time_t *not_after, bool *names_host,
	const char **why);

/* Does the PEM key belong to the leaf of the PEM chain? */
bool acmecert_key_matches(const char *chain, size_t chain_len,
	const char *key, size_t key_len);

/*
 * acmecert_ari_id writes the RFC 9773 §4.1 identifier of the leaf of a PEM
 * chain: base64url(authority key identifier) "." base64url(serial number
 * octets) (caller frees). 0, or -1 when the leaf has no authority key
 * identifier or pem holds no certificate.
 */
int acmecert_ari_id(const char *pem, size_t len, char **id);

#endif
