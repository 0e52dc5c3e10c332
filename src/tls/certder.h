/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_CERTDER_H
#define MTASTSD_TLS_CERTDER_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A few fields of a certificate read straight from its DER, for the load
 * checks' fast paths: each GnuTLS getter decodes ASN.1 again (most of the
 * cost of loading a chain), while these are slices of bytes GnuTLS has
 * already parsed and accepted. A fast path only ever confirms (issued by,
 * same key): when it cannot read a field or finds no match, GnuTLS
 * decides as before. Private to tls/ (certcheck.c).
 */

/* A slice of a DER buffer that the caller keeps alive. */
struct certder_span {
	const unsigned char *p;
	size_t len;
};

/* Where the fields the checks compare lie in one certificate's DER. */
struct certder {
	struct certder_span issuer;	/* the issuer Name, tag and length too */
	struct certder_span subject;	/* the subject Name, likewise */
	struct certder_span key_alg;	/* the SPKI's algorithm OID, content */
	struct certder_span key_params;	/* what follows that OID, whole TLVs */
	struct certder_span key_bits;	/* the subjectPublicKey BIT STRING */
	struct certder_span extensions;	/* their SEQUENCE's content, or empty */
};

/* Finds those fields in the certificate der. false when it cannot. */
bool certder_parse(const unsigned char *der, size_t len, struct certder *out);

/*
 * The keyIdentifier of the authority key identifier extension, or of the
 * subject key identifier extension: false when there is none or it does
 * not read as expected.
 */
bool certder_authority_key_id(const struct certder *c,
	struct certder_span *id);
bool certder_subject_key_id(const struct certder *c, struct certder_span *id);

/* Is the DER OID content oid the dotted OID text (e.g. "1.2.840.10045")? */
bool certder_oid_is(const struct certder_span *oid, const char *text);

/*
 * certder_next takes the next TLV off *in: its one-byte tag (multi-byte
 * tags are refused), its content and, in whole when not NULL, the TLV.
 * false, leaving *in as it was, when malformed or empty.
 */
bool certder_next(struct certder_span *in, unsigned char *tag,
	struct certder_span *content, struct certder_span *whole);

#endif
