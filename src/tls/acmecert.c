/* SPDX-License-Identifier: MIT */
/*
 * acmecert.c: the CSR sent to finalize an order, and reading back the
 * chain the CA issued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/acmecert.h"
#include "tls/jws.h"
#include "util/log.h"

int acmecert_csr(const struct jws_key *key, const char *host,
	unsigned char **der, size_t *der_len)
{
	gnutls_x509_crq_t crq;
	gnutls_x509_privkey_t x509 = NULL;
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t out = {0};
	int rc = gnutls_x509_crq_init(&crq);
	if (rc < 0)
		goto fail;
	/* The key travels as PEM: jws keeps its GnuTLS objects private. */
	char *pem = jws_key_export(key);
	gnutls_datum_t d = { (unsigned char *)pem, pem ? strlen(pem) : 0 };
	if (!pem) {
		rc = GNUTLS_E_MEMORY_ERROR;
		goto fail_crq;
	}
	if ((rc = gnutls_x509_privkey_init(&x509)) >= 0)
		rc = gnutls_x509_privkey_import(x509, &d, GNUTLS_X509_FMT_PEM);
	jws_wipe_free(pem);
	if (rc < 0 || (rc = gnutls_privkey_init(&pk)) < 0 ||
	    (rc = gnutls_privkey_import_x509(pk, x509, 0)) < 0 ||
	    (rc = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
	    (rc = gnutls_x509_crq_set_dn_by_oid(crq,
		GNUTLS_OID_X520_COMMON_NAME, 0, host, strlen(host))) < 0 ||
	    (rc = gnutls_x509_crq_set_subject_alt_name(crq,
		GNUTLS_SAN_DNSNAME, host, strlen(host),
		GNUTLS_FSAN_SET)) < 0 ||
	    (rc = gnutls_x509_crq_set_key(crq, x509)) < 0 ||
	    (rc = gnutls_x509_crq_privkey_sign(crq, pk, GNUTLS_DIG_SHA256,
		0)) < 0 ||
	    (rc = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER,
		&out)) < 0)
		goto fail_crq;
	*der = malloc(out.size);
	if (!*der) {
		rc = GNUTLS_E_MEMORY_ERROR;
		goto fail_crq;
	}
	memcpy(*der, out.data, out.size);
	*der_len = out.size;
	gnutls_free(out.data);
	gnutls_privkey_deinit(pk);
	gnutls_x509_privkey_deinit(x509);
	gnutls_x509_crq_deinit(crq);
	return 0;
fail_crq:
	gnutls_free(out.data);
	gnutls_privkey_deinit(pk);
	gnutls_x509_privkey_deinit(x509);
	gnutls_x509_crq_deinit(crq);
fail:
	log_error("acme: %s: cannot make the certificate request: %s", host,
		gnutls_strerror(rc));
	return -1;
}

int acmecert_chain_dates(const char *pem, size_t len, const char *host,
	time_t *not_before, time_t *not_after, bool *names_host,
	const char **why)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	if (gnutls_x509_crt_init(&crt) < 0) {
		*why = "out of memory";
		return -1;
	}
	/* The first certificate of a PEM bundle is the leaf. */
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
		gnutls_x509_crt_deinit(crt);
		*why = "no PEM certificate";
		return -1;
	}
	*not_before = gnutls_x509_crt_get_activation_time(crt);
	*not_after = gnutls_x509_crt_get_expiration_time(crt);
	*names_host = gnutls_x509_crt_check_hostname2(crt, host, 0) != 0;
	gnutls_x509_crt_deinit(crt);
	return 0;
}

int acmecert_ari_id(const char *pem, size_t len, char **id)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	unsigned char aki[64], serial[64];
	size_t aki_len = sizeof(aki), serial_len = sizeof(serial);
	unsigned critical;
	*id = NULL;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -1;
	int rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (rc >= 0)
		rc = gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_len,
			&critical);
	if (rc >= 0)
		rc = gnutls_x509_crt_get_serial(crt, serial, &serial_len);
	gnutls_x509_crt_deinit(crt);
	if (rc < 0)
		return -1;
	char *a = jws_base64url(aki, aki_len);
	char *b = jws_base64url(serial, serial_len);
	if (a && b && (*id = malloc(strlen(a) + strlen(b) + 2)))
		sprintf(*id, "%s.%s", a, b);
	free(a);
	free(b);
	return *id ? 0 : -1;
}

bool acmecert_key_matches(const char *chain, size_t chain_len,
	const char *key, size_t key_len)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t xkey = NULL;
	gnutls_datum_t c = { (unsigned char *)chain, (unsigned)chain_len };
	gnutls_datum_t k = { (unsigned char *)key, (unsigned)key_len };
	unsigned char a[64], b[64];
	size_t al = sizeof(a), bl = sizeof(b);
	bool same = gnutls_x509_crt_init(&crt) >= 0 &&
		gnutls_x509_privkey_init(&xkey) >= 0 &&
		gnutls_x509_crt_import(crt, &c, GNUTLS_X509_FMT_PEM) >= 0 &&
		gnutls_x509_privkey_import2(xkey, &k, GNUTLS_X509_FMT_PEM,
			NULL, 0) >= 0 &&
		gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a,
			&al) >= 0 &&
		gnutls_x509_privkey_get_key_id(xkey, GNUTLS_KEYID_USE_SHA256, b,
			&bl) >= 0 &&
		al == bl && memcmp(a, b, al) == 0;
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(xkey);
	return same;
}
