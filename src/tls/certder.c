/* SPDX-License-Identifier: MIT */
/*
 * certder.c: a few fields of a certificate read straight from its DER
 * (RFC 5280 §4.1), so that the load checks compare bytes instead of asking
 * GnuTLS to decode the same ASN.1 again for every getter. Only DER that
 * GnuTLS has parsed (strictly) reaches here, and every caller falls back
 * to GnuTLS when a read fails, so this reads the common shapes and refuses
 * the rest rather than knowing all of X.509.
 */
#include <limits.h>
#include <string.h>

#include "tls/certder.h"

#define TAG_BOOLEAN 0x01
#define TAG_INTEGER 0x02
#define TAG_BIT_STRING 0x03
#define TAG_OCTET_STRING 0x04
#define TAG_OID 0x06
#define TAG_SEQUENCE 0x30
#define TAG_VERSION 0xa0	/* [0] EXPLICIT Version */
#define TAG_ISSUER_UID 0x81	/* [1] IMPLICIT UniqueIdentifier */
#define TAG_SUBJECT_UID 0x82	/* [2] IMPLICIT UniqueIdentifier */
#define TAG_EXTENSIONS 0xa3	/* [3] EXPLICIT Extensions */
#define TAG_KEY_ID 0x80		/* [0] IMPLICIT KeyIdentifier */
#define OID_ARCS_MAX 32

/* 2.5.29.35 and 2.5.29.14, as DER OID content */
static const unsigned char oid_authority_key_id[] = {0x55, 0x1d, 0x23};
static const unsigned char oid_subject_key_id[] = {0x55, 0x1d, 0x0e};

bool certder_next(struct certder_span *in, unsigned char *tag,
	struct certder_span *content, struct certder_span *whole)
{
	const unsigned char *p = in->p;
	size_t left = in->len;
	if (left < 2 || (p[0] & 0x1f) == 0x1f)
		return false;
	size_t len = p[1], head = 2;
	if (len & 0x80) {
		size_t bytes = len & 0x7f;
		if (bytes == 0 || bytes > 4 || left - 2 < bytes)
			return false;	/* indefinite, or beyond any file here */
		len = 0;
		for (size_t i = 0; i < bytes; i++)
			len = len << 8 | p[2 + i];
		head += bytes;
	}
	if (len > left - head)
		return false;
	*tag = p[0];
	*content = (struct certder_span){p + head, len};
	if (whole)
		*whole = (struct certder_span){p, head + len};
	in->p += head + len;
	in->len -= head + len;
	return true;
}

/* Takes the next TLV off *in when its tag is tag (in as it was if not). */
static bool take(struct certder_span *in, unsigned char tag,
	struct certder_span *content, struct certder_span *whole)
{
	struct certder_span rest = *in;
	unsigned char t;
	if (!certder_next(&rest, &t, content, whole) || t != tag)
		return false;
	*in = rest;
	return true;
}

bool certder_parse(const unsigned char *der, size_t len, struct certder *out)
{
	struct certder_span all = {der, len}, cert, tbs, skip, spki, alg;
	*out = (struct certder){0};
	if (!take(&all, TAG_SEQUENCE, &cert, NULL) ||
	    !take(&cert, TAG_SEQUENCE, &tbs, NULL))
		return false;
	take(&tbs, TAG_VERSION, &skip, NULL);
	if (!take(&tbs, TAG_INTEGER, &skip, NULL) ||	/* serialNumber */
	    !take(&tbs, TAG_SEQUENCE, &skip, NULL) ||	/* signature */
	    !take(&tbs, TAG_SEQUENCE, &skip, &out->issuer) ||
	    !take(&tbs, TAG_SEQUENCE, &skip, NULL) ||	/* validity */
	    !take(&tbs, TAG_SEQUENCE, &skip, &out->subject) ||
	    !take(&tbs, TAG_SEQUENCE, &spki, NULL) ||
	    !take(&spki, TAG_SEQUENCE, &alg, NULL) ||
	    !take(&alg, TAG_OID, &out->key_alg, NULL) ||
	    !take(&spki, TAG_BIT_STRING, &out->key_bits, NULL) ||
	    spki.len != 0)
		return false;
	out->key_params = alg;
	take(&tbs, TAG_ISSUER_UID, &skip, NULL);
	take(&tbs, TAG_SUBJECT_UID, &skip, NULL);
	struct certder_span exts;
	if (take(&tbs, TAG_EXTENSIONS, &exts, NULL) &&
	    (!take(&exts, TAG_SEQUENCE, &out->extensions, NULL) ||
	     exts.len != 0))
		return false;
	return tbs.len == 0;
}

/* The extnValue content of the first extension with the DER OID oid. */
static bool extension(const struct certder *c, const unsigned char *oid,
	size_t oid_len, struct certder_span *value)
{
	struct certder_span rest = c->extensions, ext, id, flag;
	while (take(&rest, TAG_SEQUENCE, &ext, NULL)) {
		if (!take(&ext, TAG_OID, &id, NULL))
			return false;
		if (id.len != oid_len || memcmp(id.p, oid, oid_len) != 0)
			continue;
		take(&ext, TAG_BOOLEAN, &flag, NULL);	/* critical */
		return take(&ext, TAG_OCTET_STRING, value, NULL) &&
			ext.len == 0;
	}
	return false;
}

bool certder_authority_key_id(const struct certder *c,
	struct certder_span *id)
{
	struct certder_span value, aki;
	return extension(c, oid_authority_key_id, sizeof(oid_authority_key_id),
			&value) &&
		take(&value, TAG_SEQUENCE, &aki, NULL) && value.len == 0 &&
		take(&aki, TAG_KEY_ID, id, NULL);
}

bool certder_subject_key_id(const struct certder *c, struct certder_span *id)
{
	struct certder_span value;
	return extension(c, oid_subject_key_id, sizeof(oid_subject_key_id),
			&value) &&
		take(&value, TAG_OCTET_STRING, id, NULL) && value.len == 0;
}

/* The arcs of a DER OID content into arcs[]: their number, or 0. */
static size_t oid_arcs(const struct certder_span *oid,
	unsigned long arcs[OID_ARCS_MAX])
{
	size_t n = 0;
	unsigned long v = 0;
	bool started = false;
	for (size_t i = 0; i < oid->len; i++) {
		unsigned char b = oid->p[i];
		if (!started && b == 0x80)
			return 0;	/* not minimal */
		if (v > (ULONG_MAX >> 7))
			return 0;
		v = v << 7 | (b & 0x7f);
		started = true;
		if (b & 0x80)
			continue;
		if (n == 0) {	/* the first two arcs share one number */
			unsigned long top = v < 40 ? 0 : v < 80 ? 1 : 2;
			arcs[n++] = top;
			v -= top * 40;
		}
		if (n == OID_ARCS_MAX)
			return 0;
		arcs[n++] = v;
		v = 0;
		started = false;
	}
	return started ? 0 : n;
}

bool certder_oid_is(const struct certder_span *oid, const char *text)
{
	unsigned long arcs[OID_ARCS_MAX];
	size_t n = oid_arcs(oid, arcs);
	const char *s = text;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && *s++ != '.')
			return false;
		if (*s < '0' || *s > '9')
			return false;
		unsigned long v = 0;
		while (*s >= '0' && *s <= '9') {
			if (v > (ULONG_MAX - 9) / 10)
				return false;
			v = v * 10 + (unsigned long)(*s++ - '0');
		}
		if (v != arcs[i])
			return false;
	}
	return n > 0 && *s == '\0';
}
