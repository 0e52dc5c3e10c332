/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TESTCERT_H
#define MTASTSD_TESTCERT_H

#include <stdbool.h>
#include <time.h>

/*
 * A test CA and certificates made with the GnuTLS x509 API at test time,
 * written as PEM files. ECDSA P-256 by default (fast), RSA 2048 on request.
 * Failures print one line on stderr and return NULL or -1; nothing here
 * depends on Check, so mkcerts links it too.
 */

enum testcert_key {
	TESTCERT_KEY_ECDSA,	/* P-256 */
	TESTCERT_KEY_RSA,	/* 2048 bits, slow: only when needed */
};

/* A CA or intermediate: certificate and key in memory, and its files. */
struct testcert_ca;

/*
 * testcert_ca_create makes a self-signed root CA with CN=name, valid for
 * ten years, and writes dir/<name>.pem and dir/<name>.key.
 */
struct testcert_ca *testcert_ca_create(const char *dir, const char *name,
	enum testcert_key key);

/*
 * testcert_intermediate_create makes an intermediate CA with CN=name issued
 * by parent, written like testcert_ca_create. parent must outlive it.
 */
struct testcert_ca *testcert_intermediate_create(
	const struct testcert_ca *parent, const char *dir, const char *name);

/* Loads a CA written earlier (the first certificate of cert_file). */
struct testcert_ca *testcert_ca_load(const char *cert_file,
	const char *key_file);

void testcert_ca_destroy(struct testcert_ca *ca);

const char *testcert_ca_cert_file(const struct testcert_ca *ca);
const char *testcert_ca_key_file(const struct testcert_ca *ca);

enum testcert_chain {
	TESTCERT_CHAIN_FULL,	/* the leaf, then each issuer to the root */
	TESTCERT_CHAIN_LEAF,	/* the leaf alone */
	TESTCERT_CHAIN_REVERSED,	/* the root first, the leaf last */
};

/*
 * What testcert_leaf_write makes. Zero means the default for every field:
 * {0} plus dns is an ECDSA leaf valid from an hour ago for 90 days,
 * self-signed, written alone.
 */
struct testcert_leaf {
	const char *const *dns;	/* NULL-terminated; dns[0] is also the CN */
	const struct testcert_ca *issuer;	/* NULL: self-signed */
	time_t not_before;	/* 0: an hour ago */
	time_t not_after;	/* 0: 90 days from now */
	enum testcert_key key;
	enum testcert_chain chain;
	bool mismatched_key;	/* write the key of another pair */
	bool v1_cn_only;	/* X.509 v1: dns[0] as the CN, no extensions */
};

/*
 * testcert_leaf_write makes the leaf and writes its chain (PEM, in the
 * order of leaf->chain) to cert_file and its key (PKCS#8 PEM, mode 0600)
 * to key_file. 0 or -1.
 */
int testcert_leaf_write(const struct testcert_leaf *leaf,
	const char *cert_file, const char *key_file);

/*
 * As testcert_leaf_write, to dir/<name>.pem and dir/<name>.key. The paths
 * are returned in *cert_file and *key_file (caller frees) when those are
 * not NULL.
 */
int testcert_leaf_write_dir(const struct testcert_leaf *leaf,
	const char *dir, const char *name, char **cert_file, char **key_file);

#endif
