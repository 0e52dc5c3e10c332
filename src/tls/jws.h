/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_JWS_H
#define MTASTSD_JWS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The cryptography ACME (RFC 8555) needs from GnuTLS: ECDSA P-256 keys
 * kept as PEM, the account key's JWK (RFC 7517) and thumbprint (RFC 7638),
 * ES256 signatures in JWS form (RFC 7518 §3.4: the raw r||s, not DER),
 * HMAC-SHA256 for External Account Binding, base64url (RFC 4648 §5, no
 * padding) and SHA-256. Private keys stay inside tls/.
 */

#define JWS_ES256_LEN 64	/* r || s, 32 bytes each */
#define JWS_THUMBPRINT_LEN 43	/* base64url of a SHA-256 digest */

struct jws_key;

/* A new P-256 key; NULL on failure (logged). */
struct jws_key *jws_key_generate(void);

/* The key in pem (PKCS #8 or SEC1 PEM, P-256 only); NULL (logged). */
struct jws_key *jws_key_import(const char *pem, size_t len);

void jws_key_destroy(struct jws_key *key);

/* The key as PEM; caller frees (after wiping, jws_wipe_free). NULL. */
char *jws_key_export(const struct jws_key *key);

/*
 * The public key as a JWK in the member order RFC 7638 §3.2 hashes:
 * {"crv":"P-256","kty":"EC","x":"...","y":"..."}. Caller frees; NULL.
 */
char *jws_key_jwk(const struct jws_key *key);

/* The RFC 7638 thumbprint of the JWK, base64url, plus NUL. 0 or -1. */
int jws_key_thumbprint(const struct jws_key *key,
	char out[JWS_THUMBPRINT_LEN + 1]);

/* ES256 signature of data as r||s. 0 or -1 (logged). */
int jws_sign(const struct jws_key *key, const void *data, size_t len,
	unsigned char sig[JWS_ES256_LEN]);

/* HMAC-SHA256 of data under key. 0 or -1. */
int jws_hmac_sha256(const void *key, size_t key_len, const void *data,
	size_t len, unsigned char out[32]);

/* SHA-256 of data. 0 or -1. */
int jws_sha256(const void *data, size_t len, unsigned char out[32]);

/* base64url of data without padding; caller frees; NULL on ENOMEM. */
char *jws_base64url(const void *data, size_t len);

/*
 * Decodes base64url (padding and the standard alphabet are accepted too,
 * as CAs hand out EAB keys either way) into a new buffer (caller frees)
 * of *out_len bytes. NULL when text is not base64.
 */
unsigned char *jws_base64url_decode(const char *text, size_t *out_len);

/* Overwrites and frees a NUL-terminated secret. Accepts NULL. */
void jws_wipe_free(char *secret);

#endif
