/* SPDX-License-Identifier: MIT */
/*
 * certgen.c: keys and certificates made here rather than loaded: the
 * demo's self-signed certificate (and next, ACME's challenge certificates
 * and CSRs).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/certgen.h"

#define KEY_ID_MAX 64
#define DAY (24 * 60 * 60)

int certgen_key(gnutls_x509_privkey_t *key)
{
	int rc = gnutls_x509_privkey_init(key);
	if (rc < 0)
		return rc;
	rc = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(*key);
		*key = NULL;
	}
	return rc;
}

int certgen_self_signed(const char *host, gnutls_x509_privkey_t key,
	gnutls_x509_crt_t *out)
{
	gnutls_x509_crt_t crt;
	unsigned char serial[16], id[KEY_ID_MAX];
	size_t id_len = sizeof(id);
	time_t now = time(NULL);
	unsigned hlen = (unsigned)strlen(host);
	int rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return rc;
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto err;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x10);
	/* Five minutes back for clients whose clock runs a little late. */
	if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial,
		sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
		GNUTLS_OID_X520_COMMON_NAME, 0, host, hlen)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_alt_name(crt,
		GNUTLS_SAN_DNSNAME, host, hlen, GNUTLS_FSAN_SET)) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 300)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt, now + DAY)) < 0 ||
	    (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(crt,
		GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt,
		GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rc = gnutls_x509_crt_get_key_id(crt, 0, id, &id_len)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_key_id(crt, id, id_len)) < 0 ||
	    (rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256,
		0)) < 0)
		goto err;
	*out = crt;
	return 0;
err:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

int certgen_export_pem(gnutls_x509_crt_t crt, char **out)
{
	gnutls_datum_t pem = {0};
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
	if (rc < 0)
		return rc;
	char *s = malloc(pem.size + 1);
	if (s) {
		memcpy(s, pem.data, pem.size);
		s[pem.size] = '\0';
	}
	gnutls_free(pem.data);
	if (!s)
		return GNUTLS_E_MEMORY_ERROR;
	*out = s;
	return 0;
}
