/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "testcert.h"

#define DAY (24 * 60 * 60)
#define CHAIN_MAX 8

struct testcert_ca {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	const struct testcert_ca *parent;	/* NULL: a root or loaded CA */
	char *cert_file;
	char *key_file;
};

static int fail(const char *what, int rc)
{
	fprintf(stderr, "testcert: %s: %s\n", what, gnutls_strerror(rc));
	return -1;
}

static char *path_join(const char *dir, const char *name, const char *ext)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s%s", dir, name, ext) < 0)
		return NULL;
	return path;
}

/* Writes len bytes to path with mode, replacing the file. 0 or -1. */
static int write_bytes(const char *path, const void *data, size_t len,
	mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		fprintf(stderr, "testcert: %s: %s\n", path, strerror(errno));
		return -1;
	}
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "testcert: %s: %s\n", path,
				strerror(errno));
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	/* The umask may have narrowed mode; tests rely on the exact bits. */
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		fprintf(stderr, "testcert: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int new_key(gnutls_x509_privkey_t *key, enum testcert_key type)
{
	int rc = gnutls_x509_privkey_init(key);
	if (rc < 0) {
		*key = NULL;
		return fail("privkey_init", rc);
	}
	if (type == TESTCERT_KEY_RSA)
		rc = gnutls_x509_privkey_generate(*key, GNUTLS_PK_RSA, 2048, 0);
	else
		rc = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(*key);
		*key = NULL;
		return fail("privkey_generate", rc);
	}
	return 0;
}

static int write_key(gnutls_x509_privkey_t key, const char *path)
{
	gnutls_datum_t pem = {0};
	int rc = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM,
		NULL, GNUTLS_PKCS_PLAIN, &pem);
	if (rc < 0)
		return fail("privkey_export", rc);
	int ret = write_bytes(path, pem.data, pem.size, 0600);
	gnutls_memset(pem.data, 0, pem.size);
	gnutls_free(pem.data);
	return ret;
}

/*
 * make_crt fills the fields every certificate here shares and signs it
 * with issuer (NULL: self-signed with key). A v1 certificate has no
 * extensions at all: its only name is the CN.
 */
static int make_crt(gnutls_x509_crt_t *out, gnutls_x509_privkey_t key,
	const char *cn, const char *const *dns, bool ca, time_t not_before,
	time_t not_after, const struct testcert_ca *issuer, bool v1)
{
	gnutls_x509_crt_t crt;
	int rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return fail("crt_init", rc);

	unsigned char serial[16];
	unsigned char id[64];
	size_t id_len = sizeof(id);
	const char *what = "crt_set";
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto err;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x10);
	if ((rc = gnutls_x509_crt_set_version(crt, v1 ? 1 : 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial,
		sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
		GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned)strlen(cn))) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, not_before)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt, not_after)) < 0)
		goto err;
	if (v1)
		goto sign;
	if ((rc = gnutls_x509_crt_set_basic_constraints(crt, ca, -1)) < 0)
		goto err;
	if (ca) {
		rc = gnutls_x509_crt_set_key_usage(crt,
			GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
	} else {
		rc = gnutls_x509_crt_set_key_usage(crt,
			GNUTLS_KEY_DIGITAL_SIGNATURE |
			GNUTLS_KEY_KEY_ENCIPHERMENT);
		if (rc >= 0)
			rc = gnutls_x509_crt_set_key_purpose_oid(crt,
				GNUTLS_KP_TLS_WWW_SERVER, 0);
	}
	if (rc < 0)
		goto err;
	for (size_t i = 0; dns && dns[i]; i++) {
		rc = gnutls_x509_crt_set_subject_alt_name(crt,
			GNUTLS_SAN_DNSNAME, dns[i], (unsigned)strlen(dns[i]),
			GNUTLS_FSAN_APPEND);
		if (rc < 0)
			goto err;
	}
	what = "key_id";
	if ((rc = gnutls_x509_crt_get_key_id(crt, 0, id, &id_len)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_key_id(crt, id, id_len)) < 0)
		goto err;
	if (issuer) {
		id_len = sizeof(id);
		if ((rc = gnutls_x509_crt_get_subject_key_id(issuer->crt, id,
			&id_len, NULL)) < 0 ||
		    (rc = gnutls_x509_crt_set_authority_key_id(crt, id,
			id_len)) < 0)
			goto err;
	}
sign:
	what = "crt_sign";
	if (issuer)
		rc = gnutls_x509_crt_sign2(crt, issuer->crt, issuer->key,
			GNUTLS_DIG_SHA256, 0);
	else
		rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0)
		goto err;
	*out = crt;
	return 0;
err:
	gnutls_x509_crt_deinit(crt);
	return fail(what, rc);
}

/* Appends the PEM form of crt to *buf (of *len bytes, malloc'd). */
static int append_pem(char **buf, size_t *len, gnutls_x509_crt_t crt)
{
	gnutls_datum_t pem = {0};
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
	if (rc < 0)
		return fail("crt_export", rc);
	char *n = realloc(*buf, *len + pem.size);
	if (!n) {
		gnutls_free(pem.data);
		return -1;
	}
	memcpy(n + *len, pem.data, pem.size);
	*buf = n;
	*len += pem.size;
	gnutls_free(pem.data);
	return 0;
}

/* Writes crts[0..n) to path in order (reverse: last first). */
static int write_chain(const char *path, gnutls_x509_crt_t *crts, size_t n,
	bool reverse)
{
	char *buf = NULL;
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (append_pem(&buf, &len, crts[reverse ? n - 1 - i : i]) < 0) {
			free(buf);
			return -1;
		}
	}
	int ret = write_bytes(path, buf, len, 0644);
	free(buf);
	return ret;
}

static struct testcert_ca *ca_new(const char *dir, const char *name)
{
	struct testcert_ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return NULL;
	ca->cert_file = path_join(dir, name, ".pem");
	ca->key_file = path_join(dir, name, ".key");
	if (!ca->cert_file || !ca->key_file) {
		testcert_ca_destroy(ca);
		return NULL;
	}
	return ca;
}

static struct testcert_ca *ca_make(const struct testcert_ca *parent,
	const char *dir, const char *name, enum testcert_key key)
{
	struct testcert_ca *ca = ca_new(dir, name);
	if (!ca)
		return NULL;
	ca->parent = parent;
	time_t now = time(NULL);
	if (new_key(&ca->key, key) < 0 ||
	    make_crt(&ca->crt, ca->key, name, NULL, true, now - DAY,
		now + 3650 * (time_t)DAY, parent, false) < 0 ||
	    write_chain(ca->cert_file, &ca->crt, 1, false) < 0 ||
	    write_key(ca->key, ca->key_file) < 0) {
		testcert_ca_destroy(ca);
		return NULL;
	}
	return ca;
}

struct testcert_ca *testcert_ca_create(const char *dir, const char *name,
	enum testcert_key key)
{
	return ca_make(NULL, dir, name, key);
}

struct testcert_ca *testcert_intermediate_create(
	const struct testcert_ca *parent, const char *dir, const char *name)
{
	return ca_make(parent, dir, name, TESTCERT_KEY_ECDSA);
}

static int load_datum(const char *path, gnutls_datum_t *out)
{
	int rc = gnutls_load_file(path, out);
	if (rc < 0) {
		fprintf(stderr, "testcert: cannot load %s: %s\n", path,
			gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

struct testcert_ca *testcert_ca_load(const char *cert_file,
	const char *key_file)
{
	struct testcert_ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return NULL;
	ca->cert_file = strdup(cert_file);
	ca->key_file = strdup(key_file);
	gnutls_datum_t cert = {0}, key = {0};
	int rc;
	if (!ca->cert_file || !ca->key_file)
		goto err;
	if (load_datum(cert_file, &cert) < 0 || load_datum(key_file, &key) < 0)
		goto err;
	if ((rc = gnutls_x509_crt_init(&ca->crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(ca->crt, &cert,
		GNUTLS_X509_FMT_PEM)) < 0) {
		fail(cert_file, rc);
		goto err;
	}
	if ((rc = gnutls_x509_privkey_init(&ca->key)) < 0 ||
	    (rc = gnutls_x509_privkey_import2(ca->key, &key,
		GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		fail(key_file, rc);
		goto err;
	}
	gnutls_free(cert.data);
	gnutls_memset(key.data, 0, key.size);
	gnutls_free(key.data);
	return ca;
err:
	gnutls_free(cert.data);
	if (key.data)
		gnutls_memset(key.data, 0, key.size);
	gnutls_free(key.data);
	testcert_ca_destroy(ca);
	return NULL;
}

void testcert_ca_destroy(struct testcert_ca *ca)
{
	if (!ca)
		return;
	if (ca->crt)
		gnutls_x509_crt_deinit(ca->crt);
	if (ca->key)
		gnutls_x509_privkey_deinit(ca->key);
	free(ca->cert_file);
	free(ca->key_file);
	free(ca);
}

const char *testcert_ca_cert_file(const struct testcert_ca *ca)
{
	return ca->cert_file;
}

const char *testcert_ca_key_file(const struct testcert_ca *ca)
{
	return ca->key_file;
}

int testcert_leaf_write(const struct testcert_leaf *leaf,
	const char *cert_file, const char *key_file)
{
	static const char *const fallback[] = {"leaf.test", NULL};
	const char *const *dns = leaf->dns && leaf->dns[0] ? leaf->dns
		: fallback;
	time_t now = time(NULL);
	time_t not_before = leaf->not_before ? leaf->not_before : now - 3600;
	time_t not_after = leaf->not_after ? leaf->not_after
		: now + 90 * (time_t)DAY;

	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t chain[CHAIN_MAX] = {0};
	size_t n = 0;
	int ret = -1;
	if (new_key(&key, leaf->key) < 0)
		return -1;
	if (make_crt(&chain[0], key, dns[0], dns, false, not_before,
		not_after, leaf->issuer, leaf->v1_cn_only) < 0)
		goto out;
	n = 1;
	if (leaf->chain != TESTCERT_CHAIN_LEAF) {
		for (const struct testcert_ca *ca = leaf->issuer;
		     ca && n < CHAIN_MAX; ca = ca->parent)
			chain[n++] = ca->crt;
	}
	if (write_chain(cert_file, chain, n,
		leaf->chain == TESTCERT_CHAIN_REVERSED) < 0)
		goto out;
	if (leaf->mismatched_key) {
		gnutls_x509_privkey_deinit(key);
		key = NULL;
		if (new_key(&key, leaf->key) < 0)
			goto out;
	}
	ret = write_key(key, key_file);
out:
	if (chain[0])
		gnutls_x509_crt_deinit(chain[0]);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return ret;
}

int testcert_leaf_write_dir(const struct testcert_leaf *leaf,
	const char *dir, const char *name, char **cert_file, char **key_file)
{
	char *cert = path_join(dir, name, ".pem");
	char *key = path_join(dir, name, ".key");
	int ret = -1;
	if (cert && key)
		ret = testcert_leaf_write(leaf, cert, key);
	if (ret == 0 && cert_file) {
		*cert_file = cert;
		cert = NULL;
	}
	if (ret == 0 && key_file) {
		*key_file = key;
		key = NULL;
	}
	free(cert);
	free(key);
	return ret;
}
