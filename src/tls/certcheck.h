/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_CERTCHECK_H
#define MTASTSD_TLS_CERTCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/filefacts.h"

struct diag;

/*
 * Every check of a certificate or key file, each a finding in a diag list
 * at file:line with the fix: readable, PEM, parsable, not encrypted, the
 * key belongs to the leaf, the chain in order and current, the leaf
 * covers the policy host. Private to tls/: the callers are the store and
 * the client probe.
 */

/* The bytes of a certificate or key file, and what the file was. */
struct certcheck_file {
	unsigned char *data;
	size_t len;
	struct tls_file_facts facts;
};

/*
 * certcheck_read reads the regular file path (a certificate, or a key when
 * is_key) of at most TLS_FILE_LIMIT bytes into buf. When it cannot,
 * it explains why in d (naming the owner and mode on a permission error)
 * and returns false.
 */
bool certcheck_read(const char *path, bool is_key, struct certcheck_file *buf,
	struct diag *d, const char *file, unsigned line);

/* A certificate's validity period. */
struct certcheck_validity {
	time_t not_before;
	time_t not_after;
};

/* Wipes and frees a buffer that may have held a private key. */
void certcheck_file_wipe(struct certcheck_file *buf);

/*
 * Does buf look like a PEM certificate chain? Explains in d when not: not
 * PEM at all, or a key where the chain should be.
 */
bool certcheck_cert_pem(const struct certcheck_file *buf, const char *path,
	struct diag *d, const char *file, unsigned line);

/*
 * certcheck_parse_key imports the unencrypted PEM key in buf into *key
 * (caller deinits), or explains in d why it cannot. When the key was a
 * PKCS #8 block, its DER goes to *pkcs8 (caller wipes and gnutls_frees
 * it), for certcheck_import_pkcs8 to import again; otherwise *pkcs8 is
 * left empty.
 */
bool certcheck_parse_key(const struct certcheck_file *buf, const char *path,
	gnutls_privkey_t *key, gnutls_datum_t *pkcs8, struct diag *d,
	const char *file, unsigned line);

/* Imports unencrypted PKCS #8 DER into *key: 0 or a GnuTLS error code. */
int certcheck_import_pkcs8(const gnutls_datum_t *der, gnutls_privkey_t *key);

/* Does key belong to crts[0], the leaf of the chain crts[0..n)? */
bool certcheck_key(gnutls_x509_crt_t *crts, unsigned n, gnutls_privkey_t key,
	const char *cert_path, const char *key_path, struct diag *d,
	const char *file, unsigned line);

/*
 * certcheck_chain checks the order of the chain (each certificate issued
 * by the next), the validity period of the leaf at now (errors) and of the
 * others (warnings: a sender may build another path), and warns about a
 * lone self-signed or incomplete leaf. The leaf's period, as read (-1 when
 * unreadable), goes to *leaf_period.
 */
bool certcheck_chain(gnutls_x509_crt_t *crts, unsigned n, const char *path,
	time_t now, struct certcheck_validity *leaf_period, struct diag *d,
	const char *file, unsigned line);

/*
 * Is leaf valid for host under RFC 6125 (DNS-ID; a wildcard only as the
 * whole leftmost label), as RFC 8461 §3.3 asks of the policy host's
 * certificate? Names what the leaf covers in d when not.
 */
bool certcheck_covers(gnutls_x509_crt_t leaf, const char *host,
	const char *cert_path, struct diag *d, const char *file,
	unsigned line);

/*
 * certcheck_names lists the DNS names of crt, escaped, into out as
 * "a, b and 3 more", or says that it has only a CN (which senders ignore)
 * or no names at all.
 */
void certcheck_names(gnutls_x509_crt_t crt, char *out, size_t size);

#endif
