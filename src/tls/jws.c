/* SPDX-License-Identifier: MIT */
/*
 * jws.c: ECDSA P-256 keys, JWK, thumbprints and ES256 signatures for the
 * ACME client, on GnuTLS. The JWS layout itself (protected header,
 * payload, the signing input) is acme/'s job; this file signs bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/jws.h"
#include "util/log.h"

#define COORD_LEN 32		/* a P-256 coordinate or scalar */

struct jws_key {
	gnutls_privkey_t key;
	gnutls_x509_privkey_t x509;	/* the same key, for export */
};

static struct jws_key *wrap(gnutls_x509_privkey_t x509)
{
	struct jws_key *k = calloc(1, sizeof(*k));
	int rc = GNUTLS_E_MEMORY_ERROR;
	if (!k || (rc = gnutls_privkey_init(&k->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509(k->key, x509, 0)) < 0) {
		log_error("acme: cannot use the key: %s", gnutls_strerror(rc));
		if (k)
			gnutls_privkey_deinit(k->key);
		free(k);
		gnutls_x509_privkey_deinit(x509);
		return NULL;
	}
	k->x509 = x509;
	return k;
}

static bool is_p256(gnutls_x509_privkey_t x509)
{
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x = {0}, y = {0}, kk = {0};
	if (gnutls_x509_privkey_get_pk_algorithm(x509) != GNUTLS_PK_ECDSA ||
	    gnutls_x509_privkey_export_ecc_raw(x509, &curve, &x, &y, &kk) < 0)
		return false;
	gnutls_free(x.data);
	gnutls_free(y.data);
	gnutls_memset(kk.data, 0, kk.size);
	gnutls_free(kk.data);
	return curve == GNUTLS_ECC_CURVE_SECP256R1;
}

struct jws_key *jws_key_generate(void)
{
	gnutls_x509_privkey_t x509;
	int rc;
	if ((rc = gnutls_x509_privkey_init(&x509)) < 0) {
		log_error("acme: cannot make a key: %s", gnutls_strerror(rc));
		return NULL;
	}
	rc = gnutls_x509_privkey_generate(x509, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc < 0) {
		log_error("acme: cannot make a P-256 key: %s",
			gnutls_strerror(rc));
		gnutls_x509_privkey_deinit(x509);
		return NULL;
	}
	return wrap(x509);
}

struct jws_key *jws_key_import(const char *pem, size_t len)
{
	gnutls_x509_privkey_t x509;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	int rc;
	if ((rc = gnutls_x509_privkey_init(&x509)) < 0) {
		log_error("acme: cannot read a key: %s", gnutls_strerror(rc));
		return NULL;
	}
	if ((rc = gnutls_x509_privkey_import2(x509, &d, GNUTLS_X509_FMT_PEM,
			NULL, 0)) < 0) {
		log_error("acme: the stored key is not a PEM private key: %s",
			gnutls_strerror(rc));
		gnutls_x509_privkey_deinit(x509);
		return NULL;
	}
	if (!is_p256(x509)) {
		log_error("acme: the stored key is not an ECDSA P-256 key");
		gnutls_x509_privkey_deinit(x509);
		return NULL;
	}
	return wrap(x509);
}

void jws_key_destroy(struct jws_key *key)
{
	if (!key)
		return;
	gnutls_privkey_deinit(key->key);
	gnutls_x509_privkey_deinit(key->x509);
	free(key);
}

char *jws_key_export(const struct jws_key *key)
{
	gnutls_datum_t out = {0};
	int rc = gnutls_x509_privkey_export2_pkcs8(key->x509,
		GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out);
	if (rc < 0) {
		log_error("acme: cannot write the key: %s", gnutls_strerror(rc));
		return NULL;
	}
	char *pem = malloc(out.size + 1);
	if (pem) {
		memcpy(pem, out.data, out.size);
		pem[out.size] = '\0';
	}
	gnutls_memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return pem;
}

/* A coordinate left-padded to COORD_LEN bytes (GnuTLS may strip zeros). */
static int fixed(const gnutls_datum_t *in, unsigned char out[COORD_LEN])
{
	const unsigned char *p = in->data;
	size_t n = in->size;
	while (n > COORD_LEN && *p == 0) {
		p++;
		n--;
	}
	if (n > COORD_LEN)
		return -1;
	memset(out, 0, COORD_LEN - n);
	memcpy(out + COORD_LEN - n, p, n);
	return 0;
}

char *jws_key_jwk(const struct jws_key *key)
{
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x = {0}, y = {0};
	unsigned char xb[COORD_LEN], yb[COORD_LEN];
	char *jwk = NULL, *xs = NULL, *ys = NULL;
	if (gnutls_privkey_export_ecc_raw2(key->key, &curve, &x, &y, NULL,
			0) < 0 || fixed(&x, xb) < 0 || fixed(&y, yb) < 0)
		goto out;
	xs = jws_base64url(xb, sizeof(xb));
	ys = jws_base64url(yb, sizeof(yb));
	if (!xs || !ys)
		goto out;
	size_t size = strlen(xs) + strlen(ys) + 64;
	if ((jwk = malloc(size)))
		snprintf(jwk, size, "{\"crv\":\"P-256\",\"kty\":\"EC\","
			"\"x\":\"%s\",\"y\":\"%s\"}", xs, ys);
out:
	gnutls_free(x.data);
	gnutls_free(y.data);
	free(xs);
	free(ys);
	return jwk;
}

int jws_key_thumbprint(const struct jws_key *key,
	char out[JWS_THUMBPRINT_LEN + 1])
{
	unsigned char digest[32];
	char *jwk = jws_key_jwk(key);
	if (!jwk || jws_sha256(jwk, strlen(jwk), digest) < 0) {
		free(jwk);
		return -1;
	}
	free(jwk);
	char *b64 = jws_base64url(digest, sizeof(digest));
	if (!b64)
		return -1;
	memcpy(out, b64, JWS_THUMBPRINT_LEN + 1);
	free(b64);
	return 0;
}

int jws_sign(const struct jws_key *key, const void *data, size_t len,
	unsigned char sig[JWS_ES256_LEN])
{
	gnutls_datum_t in = { (unsigned char *)data, (unsigned)len };
	gnutls_datum_t der = {0}, r = {0}, s = {0};
	int rc = gnutls_privkey_sign_data2(key->key, GNUTLS_SIGN_ECDSA_SHA256,
		0, &in, &der);
	if (rc >= 0)
		rc = gnutls_decode_rs_value(&der, &r, &s);
	if (rc >= 0 && (fixed(&r, sig) < 0 || fixed(&s, sig + COORD_LEN) < 0))
		rc = GNUTLS_E_INTERNAL_ERROR;
	gnutls_free(der.data);
	gnutls_free(r.data);
	gnutls_free(s.data);
	if (rc < 0) {
		log_error("acme: cannot sign: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int jws_hmac_sha256(const void *key, size_t key_len, const void *data,
	size_t len, unsigned char out[32])
{
	return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, data, len,
		out) < 0 ? -1 : 0;
}

int jws_sha256(const void *data, size_t len, unsigned char out[32])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0
		? -1 : 0;
}

static const char B64URL[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *jws_base64url(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	if (!out)
		return NULL;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 |
			p[i + 2];
		*o++ = B64URL[v >> 18];
		*o++ = B64URL[(v >> 12) & 63];
		*o++ = B64URL[(v >> 6) & 63];
		*o++ = B64URL[v & 63];
	}
	if (i < len) {
		unsigned v = (unsigned)p[i] << 16 |
			(i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
		*o++ = B64URL[v >> 18];
		*o++ = B64URL[(v >> 12) & 63];
		if (i + 1 < len)
			*o++ = B64URL[(v >> 6) & 63];
	}
	*o = '\0';
	return out;
}

static int sextet(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

unsigned char *jws_base64url_decode(const char *text, size_t *out_len)
{
	size_t n = strlen(text);
	while (n && text[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return NULL;
	unsigned char *out = malloc(n / 4 * 3 + 3);
	if (!out)
		return NULL;
	size_t o = 0;
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = sextet(text[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = o;
	return out;
}

void jws_wipe_free(char *secret)
{
	if (!secret)
		return;
	gnutls_memset(secret, 0, strlen(secret));
	free(secret);
}
