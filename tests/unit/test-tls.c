/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/diag.h"
#include "testcert.h"
#include "testsupport.h"
#include "tls/client.h"
#include "tls/digest.h"
#include "tls/filefacts.h"
#include "tls/handshake.h"
#include "tls/hello.h"
#include "tls/priorities.h"
#include "tls/store.h"
#include "tls/store-internal.h"

#define DAY (24 * 60 * 60)
#define CONF "test.conf"
#define TLS12 "NORMAL:-VERS-ALL:+VERS-TLS1.2"
#define TLS13 "NORMAL:-VERS-ALL:+VERS-TLS1.3"

/* Made once in main() and shared (read-only) by every test. */
static char *dir;
static struct testcert_ca *ca;
static struct testcert_ca *inter;

/* Writes a leaf to two fresh files in dir. */
static void make_leaf(const struct testcert_leaf *leaf, char **cert,
	char **key)
{
	static unsigned counter;
	char name[64];
	snprintf(name, sizeof(name), "leaf-%d-%u", (int)getpid(), ++counter);
	ck_assert_int_eq(testcert_leaf_write_dir(leaf, dir, name, cert, key),
		0);
}

/* A CA-signed ECDSA leaf with one DNS name and its full chain. */
static void make_simple(const char *dns, char **cert, char **key)
{
	const char *names[] = {dns, NULL};
	struct testcert_leaf leaf = {.dns = names, .issuer = ca};
	make_leaf(&leaf, cert, key);
}

static int add(struct tls_store *store, const char *host, const char *cert,
	const char *key, void *user, struct diag *d, unsigned line)
{
	return tls_store_add(store, host, cert, key, user, time(NULL), NULL, d,
		CONF, line);
}

/* ------------------------------------------------------------------ */

static const char *const names_example[] = {"mta-sts.example.com", NULL};
static const char *const names_wild[] = {"*.example.com", NULL};
static const char *const names_multi[] = {"mta-sts.a.test", "mta-sts.b.test",
	"mta-sts.c.test", NULL};

START_TEST(test_matching_pair)
{
	static const struct {
		const char *host;
		const char *const *dns;
		enum testcert_key key;
		bool intermediate;
	} cases[] = {
		{"mta-sts.example.com", names_example, TESTCERT_KEY_ECDSA, false},
		{"MTA-STS.Example.COM.", names_example, TESTCERT_KEY_ECDSA, false},
		{"mta-sts.example.com", names_example, TESTCERT_KEY_ECDSA, true},
		{"mta-sts.b.test", names_multi, TESTCERT_KEY_ECDSA, false},
		{"mta-sts.example.com", names_example, TESTCERT_KEY_RSA, false},
	};
	time_t now = time(NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct testcert_leaf leaf = {
			.dns = cases[i].dns,
			.issuer = cases[i].intermediate ? inter : ca,
			.key = cases[i].key,
			.not_after = now + 60 * DAY,
		};
		char *cert, *key;
		make_leaf(&leaf, &cert, &key);
		struct tls_store *store = tls_store_create();
		struct diag d;
		diag_init(&d);
		struct tls_cert_info info = {0};
		int user;
		int rc = tls_store_add(store, cases[i].host, cert, key, &user,
			now, &info, &d, CONF, 7);
		ck_assert_msg(rc == 0 && d.len == 0, "case %zu:%s", i,
			test_diag_dump(&d));
		ck_assert_int_eq((long)info.not_after, (long)(now + 60 * DAY));
		ck_assert_int_le((long)info.not_before, (long)now);
		ck_assert_ptr_eq(tls_store_lookup(store, cases[i].host), &user);
		ck_assert_int_eq(tls_store_count(store), 1);
		ck_assert_int_eq(tls_store_credential_count(store), 1);
		diag_finish(&d);
		tls_store_destroy(store);
		free(cert);
		free(key);
	}
}
END_TEST

START_TEST(test_key_mismatch)
{
	struct testcert_leaf leaf = {.dns = names_example, .issuer = ca,
		.mismatched_key = true};
	char *cert, *key;
	make_leaf(&leaf, &cert, &key);
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	int user;
	ck_assert_int_eq(add(store, "mta-sts.example.com", cert, key, &user,
		&d, 11), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 11, "does not belong to "
		"certificate"), "%s", test_diag_dump(&d));
	ck_assert_ptr_null(tls_store_lookup(store, "mta-sts.example.com"));
	ck_assert_int_eq(tls_store_credential_count(store), 0);
	diag_finish(&d);
	tls_store_destroy(store);
	free(cert);
	free(key);
}
END_TEST

/* The leaf does not name mta-sts.example.com where senders look. */
static void assert_not_covered(const struct testcert_leaf *leaf,
	unsigned line, const char *expect)
{
	char *cert, *key;
	make_leaf(leaf, &cert, &key);
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	int user;
	ck_assert_int_eq(add(store, "mta-sts.example.com", cert, key, &user,
		&d, line), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, line, expect), "%s",
		test_diag_dump(&d));
	ck_assert_int_eq(tls_store_count(store), 0);
	diag_finish(&d);
	tls_store_destroy(store);
	free(cert);
	free(key);
}

START_TEST(test_wrong_name)
{
	const char *names[] = {"mta-sts.other.com", "www.other.com", NULL};
	struct testcert_leaf leaf = {.dns = names, .issuer = ca};
	assert_not_covered(&leaf, 12, "does not cover mta-sts.example.com "
		"(it names mta-sts.other.com, www.other.com)");
}
END_TEST

/* Issue 13: a CN-only certificate (X.509 v1, no subjectAltName) names
 * the host only where many senders never look. */
START_TEST(test_cn_only)
{
	const char *names[] = {"mta-sts.example.com", NULL};
	struct testcert_leaf leaf = {.dns = names, .issuer = ca,
		.v1_cn_only = true};
	assert_not_covered(&leaf, 14, "has no subjectAltName (no DNS name, "
		"only CN=mta-sts.example.com): many senders ignore the "
		"subject CN");
}
END_TEST

/* RFC 8461 §3.3 and RFC 6125: "*" is the whole leftmost label, one label. */
START_TEST(test_wildcard)
{
	static const struct {
		const char *host;
		bool ok;
	} cases[] = {
		{"mta-sts.example.com", true},
		{"MTA-STS.EXAMPLE.COM", true},
		{"mta-sts.a.example.com", false},
		{"example.com", false},
		{"mta-sts.example.org", false},
	};
	char *cert, *key;
	struct testcert_leaf leaf = {.dns = names_wild, .issuer = ca};
	make_leaf(&leaf, &cert, &key);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tls_store *store = tls_store_create();
		struct diag d;
		diag_init(&d);
		int user;
		int rc = add(store, cases[i].host, cert, key, &user, &d, 13);
		if (cases[i].ok)
			ck_assert_msg(rc == 0 && d.len == 0, "%s:%s",
				cases[i].host, test_diag_dump(&d));
		else
			ck_assert_msg(rc == -1 && test_diag_has(&d, DIAG_ERROR,
				13, "(it names *.example.com)"), "%s:%s",
				cases[i].host, test_diag_dump(&d));
		diag_finish(&d);
		tls_store_destroy(store);
	}
	free(cert);
	free(key);
}
END_TEST

START_TEST(test_validity)
{
	time_t now = time(NULL);
	static const struct {
		long before_days, after_days;	/* relative to now */
		int rc;
		int severity;			/* -1: no finding */
		const char *text;
	} cases[] = {
		{-30, -1, -1, DIAG_ERROR, "expired on"},
		{-30, 0, 0, DIAG_WARNING, "in less than a day"},
		{1, 90, -1, DIAG_ERROR, "is not valid until"},
		{-1, 5, 0, DIAG_WARNING, "(in 4 days) — renew it"},
		{-1, 13, 0, DIAG_WARNING, "expires on"},
		{-1, 15, 0, -1, NULL},
		{-1, 90, 0, -1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct testcert_leaf leaf = {
			.dns = names_example,
			.issuer = ca,
			.not_before = now + cases[i].before_days * DAY,
			/* A minute less so "in N days" rounds down. */
			.not_after = now + cases[i].after_days * DAY +
				(cases[i].after_days == 0 ? 3600 : -60),
		};
		char *cert, *key;
		make_leaf(&leaf, &cert, &key);
		struct tls_store *store = tls_store_create();
		struct diag d;
		diag_init(&d);
		int user;
		int rc = add(store, "mta-sts.example.com", cert, key, &user,
			&d, 14);
		ck_assert_msg(rc == cases[i].rc, "case %zu:%s", i,
			test_diag_dump(&d));
		if (cases[i].severity < 0)
			ck_assert_msg(d.len == 0, "case %zu:%s", i,
				test_diag_dump(&d));
		else
			ck_assert_msg(d.len == 1 && test_diag_has(&d,
				cases[i].severity, 14, cases[i].text),
				"case %zu:%s", i, test_diag_dump(&d));
		diag_finish(&d);
		tls_store_destroy(store);
		free(cert);
		free(key);
	}
}
END_TEST

START_TEST(test_chain)
{
	static const struct {
		bool self_signed;
		bool intermediate;
		enum testcert_chain chain;
		int rc;
		int severity;
		const char *text;
	} cases[] = {
		{false, true, TESTCERT_CHAIN_FULL, 0, -1, NULL},
		{false, false, TESTCERT_CHAIN_REVERSED, -1, DIAG_ERROR,
			"(CN=ca) is not issued by the next one "
			"(CN=mta-sts.example.com) — put the leaf first, then "
			"its intermediates (fullchain.pem)"},
		{false, true, TESTCERT_CHAIN_REVERSED, -1, DIAG_ERROR,
			"put the leaf first"},
		/* Reversed, the key belongs to the last certificate. */
		{false, false, TESTCERT_CHAIN_REVERSED, -1, DIAG_ERROR,
			"belongs to certificate 2 of"},
		{true, false, TESTCERT_CHAIN_LEAF, 0, DIAG_WARNING,
			"self-signed: senders will reject it"},
		{false, false, TESTCERT_CHAIN_LEAF, 0, DIAG_WARNING,
			"holds the leaf alone"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct testcert_leaf leaf = {
			.dns = names_example,
			.issuer = cases[i].self_signed ? NULL
				: cases[i].intermediate ? inter : ca,
			.chain = cases[i].chain,
		};
		char *cert, *key;
		make_leaf(&leaf, &cert, &key);
		struct tls_store *store = tls_store_create();
		struct diag d;
		diag_init(&d);
		int user;
		int rc = add(store, "mta-sts.example.com", cert, key, &user,
			&d, 15);
		ck_assert_msg(rc == cases[i].rc, "case %zu:%s", i,
			test_diag_dump(&d));
		if (cases[i].severity < 0)
			ck_assert_msg(d.len == 0, "case %zu:%s", i,
				test_diag_dump(&d));
		else
			ck_assert_msg(test_diag_has(&d, cases[i].severity, 15,
				cases[i].text), "case %zu:%s", i,
				test_diag_dump(&d));
		diag_finish(&d);
		tls_store_destroy(store);
		free(cert);
		free(key);
	}
}
END_TEST

/*
 * The order check confirms "issued by" from the DER when the issuer name
 * bytes and key ids agree, and asks GnuTLS otherwise: an issuer with the
 * same name but another key (so another key id) must still be refused,
 * and the right one, first seen or shared from an earlier chain, taken.
 */
START_TEST(test_chain_same_name)
{
	char *sub = NULL;
	if (asprintf(&sub, "%s/other", dir) < 0 || mkdir(sub, 0700) < 0)
		abort();
	struct testcert_ca *impostor = testcert_ca_create(sub, "ca",
		TESTCERT_KEY_ECDSA);
	ck_assert_ptr_nonnull(impostor);
	struct testcert_leaf leaf = {.dns = names_example, .issuer = ca,
		.chain = TESTCERT_CHAIN_LEAF};
	char *cert, *key;
	make_leaf(&leaf, &cert, &key);
	char *leaf_pem = test_read_file(cert, NULL);
	char *good_pem = test_read_file(testcert_ca_cert_file(ca), NULL);
	char *bad_pem = test_read_file(testcert_ca_cert_file(impostor), NULL);
	char *good = NULL, *bad = NULL;
	if (asprintf(&good, "%s%s", leaf_pem, good_pem) < 0 ||
	    asprintf(&bad, "%s%s", leaf_pem, bad_pem) < 0)
		abort();
	char *good_file = test_write_file(dir, "same-name-good.pem", good);
	char *bad_file = test_write_file(dir, "same-name-bad.pem", bad);

	/*
	 * One store, as in a load: the real issuer first seen, then shared
	 * (and its PEM block remembered), then the impostor, then the real
	 * one again.
	 */
	struct tls_store *store = tls_store_create();
	struct diag d;
	int user;
	diag_init(&d);
	ck_assert_int_eq(add(store, "mta-sts.a.test", good_file, key, &user,
		&d, 17), -1);	/* only the name is wrong */
	ck_assert_msg(d.len == 1 && test_diag_has(&d, DIAG_ERROR, 17,
		"does not cover mta-sts.a.test"), "%s", test_diag_dump(&d));
	diag_finish(&d);
	char *cert2, *key2, *cert3, *key3;
	make_simple("mta-sts.example.com", &cert2, &key2);
	make_simple("mta-sts.c.test", &cert3, &key3);
	diag_init(&d);
	ck_assert_int_eq(add(store, "mta-sts.example.com", cert2, key2, &user,
		&d, 18), 0);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
	diag_finish(&d);
	diag_init(&d);
	ck_assert_int_eq(add(store, "mta-sts.b.test", bad_file, key, &user,
		&d, 19), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 19, "certificate 1 of ") &&
		test_diag_has(&d, DIAG_ERROR, 19, "(CN=mta-sts.example.com) is "
			"not issued by the next one (CN=ca)"), "%s",
		test_diag_dump(&d));
	diag_finish(&d);
	diag_init(&d);
	ck_assert_int_eq(add(store, "mta-sts.c.test", cert3, key3, &user,
		&d, 20), 0);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
	diag_finish(&d);
	tls_store_destroy(store);

	testcert_ca_destroy(impostor);
	free(sub);
	free(cert);
	free(key);
	free(cert2);
	free(key2);
	free(cert3);
	free(key3);
	free(leaf_pem);
	free(good_pem);
	free(bad_pem);
	free(good);
	free(bad);
	free(good_file);
	free(bad_file);
}
END_TEST

/*
 * A key matches its leaf whatever its file format: PKCS #8 takes the
 * direct import, the older SEC 1 / PKCS #1 blocks GnuTLS's general one.
 * A PKCS #8 block that does not decode is reported as before.
 */
START_TEST(test_key_formats)
{
	static const struct {
		enum testcert_key key;
		bool traditional;
		bool corrupt;
		bool mismatched;
		const char *text;
	} cases[] = {
		{TESTCERT_KEY_ECDSA, false, false, false, NULL},
		{TESTCERT_KEY_ECDSA, true, false, false, NULL},
		{TESTCERT_KEY_RSA, true, false, false, NULL},
		{TESTCERT_KEY_RSA, false, false, true,
			"does not belong to certificate"},
		{TESTCERT_KEY_ECDSA, false, true, false, "cannot parse key "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct testcert_leaf leaf = {.dns = names_example,
			.issuer = ca, .key = cases[i].key,
			.mismatched_key = cases[i].mismatched};
		char *cert, *key;
		make_leaf(&leaf, &cert, &key);
		char *pem = test_read_file(key, NULL);
		char *body = strchr(pem, '\n');
		ck_assert_ptr_nonnull(body);
		if (cases[i].corrupt)
			body[5] = '!';	/* not base64 */
		if (cases[i].traditional) {
			gnutls_x509_privkey_t x;
			gnutls_datum_t in = {(unsigned char *)pem,
				(unsigned)strlen(pem)}, out = {0};
			ck_assert_int_eq(gnutls_x509_privkey_init(&x), 0);
			ck_assert_int_eq(gnutls_x509_privkey_import(x, &in,
				GNUTLS_X509_FMT_PEM), 0);
			ck_assert_int_eq(gnutls_x509_privkey_export2(x,
				GNUTLS_X509_FMT_PEM, &out), 0);
			gnutls_x509_privkey_deinit(x);
			free(pem);
			pem = strndup((const char *)out.data, out.size);
			gnutls_free(out.data);
			ck_assert_ptr_null(strstr(pem, "BEGIN PRIVATE KEY"));
		}
		FILE *f = fopen(key, "w");
		ck_assert_ptr_nonnull(f);
		fputs(pem, f);
		fclose(f);

		struct tls_store *store = tls_store_create();
		struct diag d;
		diag_init(&d);
		int user;
		int rc = add(store, "mta-sts.example.com", cert, key, &user,
			&d, 20);
		if (!cases[i].text)
			ck_assert_msg(rc == 0 && d.len == 0, "case %zu:%s", i,
				test_diag_dump(&d));
		else
			ck_assert_msg(rc == -1 && test_diag_has(&d, DIAG_ERROR,
				20, cases[i].text), "case %zu:%s", i,
				test_diag_dump(&d));
		diag_finish(&d);
		tls_store_destroy(store);
		free(pem);
		free(cert);
		free(key);
	}
}
END_TEST

/* The DER reader behind the fast paths, on a real chain. */
/*
 * Unreadable and unusable files. A permission test only bites when not
 * root (root reads a mode 0000 file), so as root that case is skipped and
 * the directory and missing-file cases still cover the read errors.
 */
START_TEST(test_unreadable)
{
	char *cert, *key;
	make_simple("mta-sts.example.com", &cert, &key);
	char *cert_pem = test_read_file(cert, NULL);
	char *key_pem = test_read_file(key, NULL);
	char *garbage = test_write_file(dir, "garbage", "hello\n");
	char *empty = test_write_file(dir, "empty", "");
	char *missing = test_write_file(dir, "gone", "");
	unlink(missing);
	char *locked = test_write_file(dir, "locked.key", key_pem);
	chmod(locked, 0);
	char *both = NULL;
	if (asprintf(&both, "%s%s", cert_pem, key_pem) < 0)
		abort();
	char *combined = test_write_file(dir, "combined.pem", both);

	const struct {
		const char *cert, *key;
		bool needs_non_root;
		int rc;
		int severity;
		const char *text;
	} cases[] = {
		{cert, missing, false, -1, DIAG_ERROR, "cannot read key "},
		{cert, missing, false, -1, DIAG_ERROR, "— check the path"},
		{missing, key, false, -1, DIAG_ERROR, "cannot read certificate "},
		{cert, dir, false, -1, DIAG_ERROR, "it is a directory"},
		{cert, locked, true, -1, DIAG_ERROR, "(owner "},
		{cert, locked, true, -1, DIAG_ERROR, ", mode 0000): Permission "
			"denied — make it readable by the service group: chgrp "
			"mta-stsd "},
		{cert, locked, true, -1, DIAG_ERROR, "&& chmod 640 "},
		{garbage, key, false, -1, DIAG_ERROR, "is not PEM"},
		{cert, garbage, false, -1, DIAG_ERROR, "is not PEM"},
		{cert, empty, false, -1, DIAG_ERROR, "is not PEM"},
		{key, cert, false, -1, DIAG_ERROR, "holds no certificate but a "
			"private key: are cert and key swapped?"},
		{key, cert, false, -1, DIAG_ERROR, "holds no private key but a "
			"certificate"},
		{combined, combined, false, 0, -1, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].needs_non_root && geteuid() == 0)
			continue;
		struct tls_store *store = tls_store_create();
		struct diag d;
		diag_init(&d);
		int user;
		int rc = add(store, "mta-sts.example.com", cases[i].cert,
			cases[i].key, &user, &d, 16);
		ck_assert_msg(rc == cases[i].rc, "case %zu:%s", i,
			test_diag_dump(&d));
		if (cases[i].severity < 0)
			ck_assert_msg(d.len == 0, "case %zu:%s", i,
				test_diag_dump(&d));
		else
			ck_assert_msg(test_diag_has(&d, cases[i].severity, 16,
				cases[i].text), "case %zu:%s", i,
				test_diag_dump(&d));
		diag_finish(&d);
		tls_store_destroy(store);
	}
	free(cert);
	free(key);
	free(cert_pem);
	free(key_pem);
	free(garbage);
	free(empty);
	free(missing);
	free(locked);
	free(both);
	free(combined);
}
END_TEST

START_TEST(test_duplicate_host)
{
	char *cert, *key;
	make_simple("mta-sts.example.com", &cert, &key);
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	int a, b;
	ck_assert_int_eq(add(store, "mta-sts.example.com", cert, key, &a, &d,
		1), 0);
	ck_assert_int_eq(add(store, "MTA-STS.example.com.", cert, key, &b, &d,
		2), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 2, "already has a "
		"certificate"), "%s", test_diag_dump(&d));
	ck_assert_ptr_eq(tls_store_lookup(store, "mta-sts.example.com"), &a);
	ck_assert_int_eq(add(store, "", cert, key, &b, &d, 3), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 3, "is empty or longer"));
	diag_finish(&d);
	tls_store_destroy(store);
	free(cert);
	free(key);
}
END_TEST

/* One pair of files for many hosts is loaded once; so is a bad pair. */
START_TEST(test_shared_credentials)
{
	char *cert, *key, *cert2, *key2;
	struct testcert_leaf leaf = {.dns = names_wild, .issuer = ca};
	make_leaf(&leaf, &cert, &key);
	make_simple("mta-sts.other.test", &cert2, &key2);
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	static int users[1000];
	for (int i = 0; i < 1000; i++) {
		char host[64];
		snprintf(host, sizeof(host), "h%d.example.com", i);
		ck_assert_int_eq(add(store, host, cert, key, &users[i], &d,
			(unsigned)i + 1), 0);
	}
	ck_assert_int_eq(tls_store_credential_count(store), 1);
	int other;
	ck_assert_int_eq(add(store, "mta-sts.other.test", cert2, key2, &other,
		&d, 2000), 0);
	ck_assert_int_eq(tls_store_credential_count(store), 2);
	/* A host the shared certificate does not cover: no second load. */
	ck_assert_int_eq(add(store, "mta-sts.a.example.com", cert, key, &other,
		&d, 2001), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 2001, "does not cover"));
	ck_assert_int_eq(tls_store_credential_count(store), 2);
	ck_assert_int_eq(tls_store_count(store), 1001);
	ck_assert_int_eq(d.errors, 1);

	/* A rejected pair is reported in full once, then briefly. */
	char *missing = test_write_file(dir, "nokey", "");
	unlink(missing);
	ck_assert_int_eq(add(store, "x1.example.com", cert, missing, &other,
		&d, 3000), -1);
	ck_assert_int_eq(add(store, "x2.example.com", cert, missing, &other,
		&d, 3001), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 3000, "cannot read key"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 3001, "was rejected for an "
		"earlier host — fix the errors reported there"));
	ck_assert(!test_diag_has(&d, DIAG_ERROR, 3001, "cannot read key"));
	ck_assert_int_eq(tls_store_credential_count(store), 2);
	for (int i = 0; i < 1000; i++) {
		char host[64];
		snprintf(host, sizeof(host), "H%d.Example.Com", i);
		ck_assert_ptr_eq(tls_store_lookup(store, host), &users[i]);
	}
	diag_finish(&d);
	tls_store_destroy(store);
	free(cert);
	free(key);
	free(cert2);
	free(key2);
	free(missing);
}
END_TEST

#define MANY_HOSTS 10000

START_TEST(test_many_hosts)
{
	const char *names[] = {"*.example.test", NULL};
	struct testcert_leaf leaf = {.dns = names, .issuer = ca};
	char *cert, *key;
	make_leaf(&leaf, &cert, &key);
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	char host[64];
	for (uintptr_t i = 1; i <= MANY_HOSTS; i++) {
		snprintf(host, sizeof(host), "d%lu.example.test",
			(unsigned long)i);
		ck_assert_int_eq(add(store, host, cert, key, (void *)i, &d, 1),
			0);
	}
	ck_assert_int_eq(d.len, 0);
	ck_assert_int_eq(tls_store_count(store), MANY_HOSTS);
	ck_assert_int_eq(tls_store_credential_count(store), 1);
	for (uintptr_t i = 1; i <= MANY_HOSTS; i++) {
		snprintf(host, sizeof(host), "d%lu.example.test",
			(unsigned long)i);
		ck_assert_ptr_eq(tls_store_lookup(store, host), (void *)i);
		snprintf(host, sizeof(host), "D%lu.EXAMPLE.TEST.",
			(unsigned long)i);
		ck_assert_ptr_eq(tls_store_lookup(store, host), (void *)i);
	}
	static const char *const unknown[] = {
		"d0.example.test", "d10001.example.test", "example.test",
		"d1.example.test.evil", "d1.example.tes", "d1.example.test..",
		"", ".", "x.d1.example.test",
	};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		ck_assert_msg(!tls_store_lookup(store, unknown[i]), "%s",
			unknown[i]);
	diag_finish(&d);
	tls_store_destroy(store);
	free(cert);
	free(key);
}
END_TEST

#define DISTINCT 100

START_TEST(test_distinct_credentials)
{
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	for (uintptr_t i = 1; i <= DISTINCT; i++) {
		char host[64], *cert, *key;
		snprintf(host, sizeof(host), "mta-sts.d%lu.test",
			(unsigned long)i);
		make_simple(host, &cert, &key);
		ck_assert_int_eq(add(store, host, cert, key, (void *)i, &d, 1),
			0);
		free(cert);
		free(key);
	}
	ck_assert_int_eq(d.len, 0);
	ck_assert_int_eq(tls_store_credential_count(store), DISTINCT);
	for (uintptr_t i = 1; i <= DISTINCT; i++) {
		char host[64];
		snprintf(host, sizeof(host), "mta-sts.d%lu.test",
			(unsigned long)i);
		ck_assert_ptr_eq(tls_store_lookup(store, host), (void *)i);
	}
	diag_finish(&d);
	tls_store_destroy(store);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Handshakes over socketpair(2), the client in a thread              */
/* ------------------------------------------------------------------ */

struct client {
	/* in */
	int fd;
	const char *sni;	/* NULL: send none */
	const char *priorities;
	const char *verify_host;	/* check the chain against ca for it */
	gnutls_datum_t resume;	/* session data to resume with */
	/* out */
	int rc;
	int alert;		/* when rc is GNUTLS_E_FATAL_ALERT_RECEIVED */
	bool resumed;
	unsigned peers;
	gnutls_x509_crt_t peer;	/* the leaf the server presented */
	gnutls_datum_t session;	/* to resume with */
};

struct server {
	int rc;
	bool resumed;
	void *selected;
	char name[300];
	bool has_name;
};

static gnutls_certificate_credentials_t server_cred;

static void *client_main(void *arg)
{
	struct client *c = arg;
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_trust_file(cred, testcert_ca_cert_file(ca),
		GNUTLS_X509_FMT_PEM);
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(s, c->priorities, NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (c->sni)
		gnutls_server_name_set(s, GNUTLS_NAME_DNS, c->sni,
			strlen(c->sni));
	if (c->verify_host)
		gnutls_session_set_verify_cert(s, c->verify_host, 0);
	if (c->resume.data)
		gnutls_session_set_data(s, c->resume.data, c->resume.size);
	gnutls_transport_set_int(s, c->fd);
	int rc;
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	c->rc = rc;
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
		c->alert = (int)gnutls_alert_get(s);
	if (rc == 0) {
		c->resumed = gnutls_session_is_resumed(s);
		const gnutls_datum_t *peers = gnutls_certificate_get_peers(s,
			&c->peers);
		if (peers && c->peers > 0) {
			gnutls_x509_crt_init(&c->peer);
			gnutls_x509_crt_import(c->peer, &peers[0],
				GNUTLS_X509_FMT_DER);
		}
		/*
		 * TLS 1.3 tickets come after the handshake: read the server's
		 * byte first. Having taken a ticket, gnutls_record_recv says
		 * GNUTLS_E_AGAIN even on a blocking socket.
		 */
		char byte;
		ssize_t n;
		do {
			n = gnutls_record_recv(s, &byte, 1);
		} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
		gnutls_session_get_data2(s, &c->session);
		gnutls_bye(s, GNUTLS_SHUT_WR);
	}
	close(c->fd);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	return NULL;
}

static int hook_without_alert(gnutls_session_t session)
{
	(void)session;
	return GNUTLS_E_UNRECOGNIZED_NAME;
}

enum server_mode {
	BOUND,		/* tls_session_bind, as the HTTP server does */
	RAW_HOOK,	/* a ClientHello hook that fails without an alert */
	UNBOUND,	/* no binding, the session pointer someone else's */
};

/* Counts the calls of the binding's established callback. */
static unsigned established_calls;

static void on_established(struct tls_binding *binding)
{
	ck_assert_ptr_nonnull(binding->store);
	established_calls++;
}

/*
 * handshake runs one connection: the server side here with store and
 * priorities, the client side in a thread.
 */
static void handshake(const struct tls_store *store, const char *priorities,
	struct client *c, struct server *srv, enum server_mode mode)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		sv), 0);
	c->fd = sv[1];
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, client_main, c), 0);

	gnutls_session_t s;
	ck_assert_int_eq(gnutls_init(&s, GNUTLS_SERVER), 0);
	ck_assert_int_eq(gnutls_priority_set_direct(s, priorities, NULL), 0);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, server_cred);
	struct tls_binding binding = {.store = store,
		.established = on_established};
	/* What libmicrohttpd's session pointer points to: not a binding. */
	static const char mhd_connection[64] = "not a struct tls_binding";
	gnutls_session_set_ptr(s, (void *)mhd_connection);
	/* libmicrohttpd's order: the transport first, then the binding. */
	gnutls_transport_set_int(s, sv[0]);
	if (mode == RAW_HOOK)
		gnutls_handshake_set_post_client_hello_function(s,
			hook_without_alert);
	else if (mode == BOUND)
		ck_assert_int_eq(tls_session_bind(s, &binding), 0);
	established_calls = 0;
	int rc;
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	*srv = (struct server){.rc = rc, .selected = binding.selected};
	/* The owner hears of a finished handshake once, of a failed none. */
	if (mode == BOUND)
		ck_assert_uint_eq(established_calls, rc == 0 ? 1 : 0);
	if (rc == 0) {
		srv->resumed = gnutls_session_is_resumed(s);
		srv->has_name = tls_session_server_name(s, srv->name,
			sizeof(srv->name)) != NULL;
		ck_assert_int_eq(gnutls_record_send(s, "x", 1), 1);
		char buf[16];
		while (gnutls_record_recv(s, buf, sizeof(buf)) > 0)
			;
	}
	close(sv[0]);
	pthread_join(thread, NULL);
	gnutls_deinit(s);
}

static void client_finish(struct client *c)
{
	if (c->peer)
		gnutls_x509_crt_deinit(c->peer);
	gnutls_free(c->session.data);
	*c = (struct client){0};
}

/* A store serving mta-sts.a.test and mta-sts.b.test, each its own cert. */
static struct tls_store *two_host_store(int *a, int *b)
{
	struct tls_store *store = tls_store_create();
	struct diag d;
	diag_init(&d);
	char *cert, *key;
	make_simple("mta-sts.a.test", &cert, &key);
	ck_assert_int_eq(add(store, "mta-sts.a.test", cert, key, a, &d, 1), 0);
	free(cert);
	free(key);
	make_simple("mta-sts.b.test", &cert, &key);
	ck_assert_int_eq(add(store, "mta-sts.b.test", cert, key, b, &d, 2), 0);
	free(cert);
	free(key);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
	diag_finish(&d);
	return store;
}

START_TEST(test_handshake_known_name)
{
	int a, b;
	struct tls_store *store = two_host_store(&a, &b);
	const struct {
		const char *sni;
		const char *host;	/* the chain must be valid for it */
		const char *other;
		void *user;
		const char *priorities;
	} cases[] = {
		{"mta-sts.a.test", "mta-sts.a.test", "mta-sts.b.test", &a, TLS13},
		{"mta-sts.b.test", "mta-sts.b.test", "mta-sts.a.test", &b, TLS13},
		{"MTA-STS.B.Test", "mta-sts.b.test", "mta-sts.a.test", &b, TLS13},
		{"mta-sts.a.test", "mta-sts.a.test", "mta-sts.b.test", &a, TLS12},
		{"mta-sts.b.test", "mta-sts.b.test", "mta-sts.a.test", &b, TLS12},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client c = {.sni = cases[i].sni,
			.priorities = cases[i].priorities,
			.verify_host = cases[i].host};
		struct server srv;
		handshake(store, TLS_DEFAULT_PRIORITIES, &c, &srv, BOUND);
		ck_assert_msg(srv.rc == 0 && c.rc == 0, "case %zu: %s / %s", i,
			gnutls_strerror(srv.rc), gnutls_strerror(c.rc));
		ck_assert_ptr_eq(srv.selected, cases[i].user);
		ck_assert(srv.has_name);
		ck_assert_str_eq(srv.name, cases[i].sni);
		/* The full chain: the leaf, then the CA. */
		ck_assert_uint_eq(c.peers, 2);
		ck_assert(gnutls_x509_crt_check_hostname(c.peer,
			cases[i].host));
		ck_assert(!gnutls_x509_crt_check_hostname(c.peer,
			cases[i].other));
		client_finish(&c);
	}
	tls_store_destroy(store);
}
END_TEST

/*
 * RFC 8461 §7.1: no chain for another host, ever; abort the handshake.
 * The last cases are the proof that GnuTLS 3.7.9 sends no alert by itself
 * when the ClientHello hook fails: without gnutls_alert_send in handshake.c the
 * client would only see the connection end.
 */
START_TEST(test_handshake_unknown_name)
{
	int a, b;
	struct tls_store *store = two_host_store(&a, &b);
	const struct {
		const char *sni;
		const char *priorities;
		enum server_mode mode;
		int client_rc;
	} cases[] = {
		{"mta-sts.c.test", TLS13, BOUND, GNUTLS_E_FATAL_ALERT_RECEIVED},
		{"mta-sts.c.test", TLS12, BOUND, GNUTLS_E_FATAL_ALERT_RECEIVED},
		{NULL, TLS13, BOUND, GNUTLS_E_FATAL_ALERT_RECEIVED},
		{NULL, TLS12, BOUND, GNUTLS_E_FATAL_ALERT_RECEIVED},
		{"a.test", TLS13, BOUND, GNUTLS_E_FATAL_ALERT_RECEIVED},
		{"mta-sts.a.test.evil", TLS13, BOUND,
			GNUTLS_E_FATAL_ALERT_RECEIVED},
		{"mta-sts.c.test", TLS13, RAW_HOOK,
			GNUTLS_E_PREMATURE_TERMINATION},
		{"mta-sts.c.test", TLS12, RAW_HOOK,
			GNUTLS_E_PREMATURE_TERMINATION},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client c = {.sni = cases[i].sni,
			.priorities = cases[i].priorities};
		struct server srv;
		handshake(store, TLS_DEFAULT_PRIORITIES, &c, &srv,
			cases[i].mode);
		ck_assert_msg(srv.rc == GNUTLS_E_UNRECOGNIZED_NAME,
			"case %zu: server %s", i, gnutls_strerror(srv.rc));
		ck_assert_msg(c.rc == cases[i].client_rc, "case %zu: client %s",
			i, gnutls_strerror(c.rc));
		if (c.rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
			ck_assert_int_eq(c.alert, GNUTLS_A_UNRECOGNIZED_NAME);
		ck_assert_ptr_null(srv.selected);
		ck_assert_ptr_null(c.peer);
		client_finish(&c);
	}
	tls_store_destroy(store);
}
END_TEST

/*
 * A session the HTTP server failed to bind still reaches the certificate
 * callback, its session pointer set by libmicrohttpd to something else:
 * no chain, no crash.
 */
START_TEST(test_handshake_unbound)
{
	int a, b;
	struct tls_store *store = two_host_store(&a, &b);
	static const char *const versions[] = {TLS13, TLS12};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct client c = {.sni = "mta-sts.a.test",
			.priorities = versions[i]};
		struct server srv;
		handshake(store, TLS_DEFAULT_PRIORITIES, &c, &srv, UNBOUND);
		ck_assert_msg(srv.rc < 0 && c.rc < 0, "%s: %s / %s",
			versions[i], gnutls_strerror(srv.rc),
			gnutls_strerror(c.rc));
		ck_assert_ptr_null(c.peer);
		client_finish(&c);
	}
	tls_store_destroy(store);
}
END_TEST

/*
 * What the server refuses, each with the alert RFC 8446 §4.1.1 and
 * §4.2.1 ask for (GnuTLS alone would close without one): versions below
 * TLS 1.2 (RFC 8461 §7.2, RFC 8996), finite-field DHE and static RSA key
 * exchange, ciphers and curves it does not enable. And what senders
 * offer still works, each way.
 */
START_TEST(test_handshake_refusals)
{
	static const struct {
		const char *client;
		int alert;	/* 0: the handshake succeeds */
	} cases[] = {
		{"NORMAL:-VERS-ALL:+VERS-TLS1.1", GNUTLS_A_PROTOCOL_VERSION},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.0", GNUTLS_A_PROTOCOL_VERSION},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.0:%NO_EXTENSIONS",
			GNUTLS_A_PROTOCOL_VERSION},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_EXTENSIONS:-CIPHER-ALL:"
			"+AES-256-CBC", GNUTLS_A_HANDSHAKE_FAILURE},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE8192",
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+DHE-RSA:+DHE-DSS",
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC",
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-GROUP-ALL:+GROUP-SECP521R1",
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP384R1", 0},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA", 0},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+CHACHA20-POLY1305",
			0},
	};
	int a, b;
	struct tls_store *store = two_host_store(&a, &b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client c = {.sni = "mta-sts.a.test",
			.priorities = cases[i].client};
		struct server srv;
		handshake(store, TLS_DEFAULT_PRIORITIES, &c, &srv, BOUND);
		if (cases[i].alert)
			ck_assert_msg(c.rc == GNUTLS_E_FATAL_ALERT_RECEIVED &&
				c.alert == cases[i].alert && srv.rc < 0,
				"%s: %s (alert %d) / %s", cases[i].client,
				gnutls_strerror(c.rc), c.alert,
				gnutls_strerror(srv.rc));
		else
			ck_assert_msg(c.rc == 0 && srv.rc == 0, "%s: %s / %s",
				cases[i].client, gnutls_strerror(c.rc),
				gnutls_strerror(srv.rc));
		client_finish(&c);
	}
	tls_store_destroy(store);
}
END_TEST

/*
 * A session resumes under the name it was made for, over TLS 1.3 and
 * 1.2, and never under another: that session would serve b's policy
 * authenticated by a's certificate.
 */
START_TEST(test_handshake_resumption)
{
	ck_assert_int_eq(tls_init(TLS_DEFAULT_PRIORITIES), 0);	/* again: harmless */
	int a, b;
	struct tls_store *store = two_host_store(&a, &b);
	static const struct {
		const char *version;
		const char *first;
		bool resumed;
	} cases[] = {
		{TLS13, "mta-sts.b.test", true},
		{TLS12, "mta-sts.b.test", true},
		{TLS13, "mta-sts.a.test", false},
		{TLS12, "mta-sts.a.test", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct client first = {.sni = cases[i].first,
			.priorities = cases[i].version};
		struct server srv;
		handshake(store, TLS_DEFAULT_PRIORITIES, &first, &srv, BOUND);
		ck_assert_int_eq(first.rc, 0);
		ck_assert(!first.resumed && !srv.resumed);
		ck_assert_ptr_nonnull(first.session.data);

		struct client again = {.sni = "mta-sts.b.test",
			.priorities = cases[i].version,
			.verify_host = "mta-sts.b.test",
			.resume = first.session};
		handshake(store, TLS_DEFAULT_PRIORITIES, &again, &srv, BOUND);
		ck_assert_msg(again.rc == 0 && srv.rc == 0, "%s / %s",
			gnutls_strerror(again.rc), gnutls_strerror(srv.rc));
		ck_assert_msg(again.resumed == cases[i].resumed &&
			srv.resumed == cases[i].resumed,
			"%s from %s: resumed %d", cases[i].version,
			cases[i].first, again.resumed);
		ck_assert_ptr_eq(srv.selected, &b);
		client_finish(&again);
		client_finish(&first);
	}
	tls_store_destroy(store);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The ClientHello screen on hand-made hellos                         */
/* ------------------------------------------------------------------ */

static size_t put16(unsigned char *p, size_t at, unsigned v)
{
	p[at] = (unsigned char)(v >> 8);
	p[at + 1] = (unsigned char)v;
	return at + 2;
}

/*
 * put_list_ext writes at `at` the extension type whose data is the list of
 * 16-bit values (ending in 0) behind a length of lenlen bytes.
 */
static size_t put_list_ext(unsigned char *out, size_t at, unsigned type,
	size_t lenlen, const unsigned *list)
{
	size_t n = put16(out, at, type);
	size_t len = n;
	n += 2 + lenlen;
	for (size_t i = 0; list[i]; i++)
		n = put16(out, n, list[i]);
	put16(out, len, (unsigned)(n - len - 2));
	if (lenlen == 1)
		out[len + 2] = (unsigned char)(n - len - 3);
	else
		put16(out, len + 2, (unsigned)(n - len - 4));
	return n;
}

/*
 * hello_body writes a ClientHello body (RFC 8446 §4.1.2) to out: legacy
 * version, a zero random, no session id, the suites, null compression,
 * then supported_versions and supported_groups when given (a list ending
 * in 0). No extensions at all when both are NULL.
 */
static size_t hello_body(unsigned char *out, unsigned legacy,
	const unsigned *suites, const unsigned *versions,
	const unsigned *groups)
{
	size_t n = put16(out, 0, legacy);
	memset(out + n, 0, 32 + 1);
	n += 32 + 1;
	size_t at = n;
	n += 2;
	for (size_t i = 0; suites[i]; i++)
		n = put16(out, n, suites[i]);
	put16(out, at, (unsigned)(n - at - 2));
	out[n++] = 1;
	out[n++] = 0;
	if (!versions && !groups)
		return n;
	size_t ext = n;
	n += 2;
	if (versions)	/* supported_versions: a 1-byte list length */
		n = put_list_ext(out, n, 43, 1, versions);
	if (groups)	/* supported_groups: a 2-byte list length */
		n = put_list_ext(out, n, 10, 2, groups);
	put16(out, ext, (unsigned)(n - ext - 2));
	return n;
}

START_TEST(test_hello_screen)
{
	static const unsigned tls13[] = {0x1301, 0}, rsa[] = {0x002f, 0},
		ecdhe[] = {0xc02b, 0}, v13[] = {0x0304, 0x0303, 0},
		v12[] = {0x0303, 0}, x25519[] = {29, 0}, ffdhe[] = {0x0104, 0},
		p521[] = {25, 0};
	static const struct {
		const char *what;
		unsigned legacy;
		const unsigned *suites, *versions, *groups;
		int alert;
	} cases[] = {
		{"TLS 1.3, X25519", 0x0303, tls13, v13, x25519, 0},
		{"TLS 1.3, ffdhe8192 only", 0x0303, tls13, v13, ffdhe,
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"TLS 1.3, no groups", 0x0303, tls13, v13, NULL,
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"TLS 1.2, static RSA only", 0x0303, rsa, v12, x25519,
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"TLS 1.2, ECDHE, P-521 only", 0x0303, ecdhe, v12, p521,
			GNUTLS_A_HANDSHAKE_FAILURE},
		{"TLS 1.2, ECDHE, no groups sent", 0x0303, ecdhe, NULL, NULL,
			0},
		{"TLS 1.1, no extensions", 0x0302, ecdhe, NULL, NULL,
			GNUTLS_A_PROTOCOL_VERSION},
		{"SSL 2 style version", 0x0200, ecdhe, NULL, NULL,
			GNUTLS_A_PROTOCOL_VERSION},
	};
	struct hello_offer offer;
	ck_assert_int_eq(hello_offer_init(&offer, TLS_DEFAULT_PRIORITIES), 0);
	ck_assert(offer.version[4] && offer.version[3] && !offer.version[2]);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char msg[256];
		size_t len = hello_body(msg, cases[i].legacy, cases[i].suites,
			cases[i].versions, cases[i].groups);
		ck_assert_msg(hello_screen(&offer, msg, len) == cases[i].alert,
			"%s", cases[i].what);
		/* Every truncation is judged or left to GnuTLS, never read
		 * past (the sanitizer build checks the reads). */
		for (size_t cut = 0; cut < len; cut++) {
			unsigned char *part = malloc(cut ? cut : 1);
			ck_assert_ptr_nonnull(part);
			memcpy(part, msg, cut);
			int alert = hello_screen(&offer, part, cut);
			ck_assert_msg(alert == 0 ||
				alert == GNUTLS_A_PROTOCOL_VERSION ||
				alert == GNUTLS_A_HANDSHAKE_FAILURE, "%s cut %zu",
				cases[i].what, cut);
			free(part);
		}
	}
	/* An administrator's TLS 1.1 is honoured (with its warning). */
	ck_assert_int_eq(hello_offer_init(&offer, "NORMAL:+VERS-TLS1.1"), 0);
	unsigned char msg[256];
	size_t len = hello_body(msg, 0x0302, ecdhe, NULL, NULL);
	ck_assert_int_eq(hello_screen(&offer, msg, len), 0);
}
END_TEST

START_TEST(test_shared_into_reserved_store)
{
	/* A reload's store: room made first, then hosts shared from the
	 * running store by reference; a name twice is refused. */
	struct tls_store *from = tls_store_create(), *to = tls_store_create();
	int users[3];
	const char *hosts[] = {"mta-sts.a.test", "mta-sts.b.test",
		"mta-sts.c.test"};
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tls_store_add_generated(from, hosts[i],
			&users[i], NULL), 0);
	ck_assert_int_eq(tls_store_reserve(to, 1000), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tls_store_add_shared(to, hosts[i], from,
			&users[i]), 0);
	ck_assert_int_eq(tls_store_add_shared(to, "MTA-STS.B.TEST.", from,
		&users[1]), -1);
	ck_assert_int_eq(tls_store_add_shared(to, "mta-sts.none.test", from,
		&users[1]), -1);
	ck_assert_int_eq(tls_store_reserve(to, 5), 0);	/* room already */
	/* The same user: the host entry itself is shared, not copied. */
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_eq(tls_store_find(to, hosts[i]),
			tls_store_find(from, hosts[i]));
	/* Another user (a kept version under a new entry): a copy. */
	struct tls_store *other = tls_store_create();
	int user;
	ck_assert_int_eq(tls_store_add_shared(other, hosts[0], from, &user), 0);
	ck_assert_ptr_ne(tls_store_find(other, hosts[0]),
		tls_store_find(from, hosts[0]));
	ck_assert_ptr_eq(tls_store_lookup(other, hosts[0]), &user);
	tls_store_destroy(from);	/* to holds its own references */
	ck_assert_ptr_eq(tls_store_lookup(other, hosts[0]), &user);
	tls_store_destroy(other);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_eq(tls_store_lookup(to, hosts[i]), &users[i]);
	ck_assert_ptr_null(tls_store_lookup(to, "mta-sts.none.test"));
	struct client c = {.sni = "mta-sts.c.test", .priorities = TLS13};
	struct server srv;
	handshake(to, TLS_DEFAULT_PRIORITIES, &c, &srv, BOUND);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_ptr_eq(srv.selected, &users[2]);
	client_finish(&c);
	tls_store_destroy(to);
}
END_TEST

START_TEST(test_generated)
{
	struct tls_store *store = tls_store_create();
	int user, other;
	char *pem = NULL;
	ck_assert_int_eq(tls_store_add_generated(store, "mta-sts.demo.test",
		&user, &pem), 0);
	ck_assert_ptr_nonnull(pem);
	ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN CERTIFICATE-----"));
	ck_assert_ptr_eq(tls_store_lookup(store, "mta-sts.demo.test"), &user);
	ck_assert_int_eq(tls_store_add_generated(store, "mta-sts.demo.test",
		&other, NULL), -1);
	ck_assert_int_eq(tls_store_add_generated(store, "mta-sts.two.test",
		&other, NULL), 0);
	ck_assert_int_eq(tls_store_credential_count(store), 2);

	/* The PEM is the certificate served, valid for the host, a day. */
	gnutls_x509_crt_t crt;
	gnutls_datum_t data = {(unsigned char *)pem, (unsigned)strlen(pem)};
	gnutls_x509_crt_init(&crt);
	ck_assert_int_eq(gnutls_x509_crt_import(crt, &data,
		GNUTLS_X509_FMT_PEM), 0);
	ck_assert(gnutls_x509_crt_check_hostname(crt, "mta-sts.demo.test"));
	time_t life = gnutls_x509_crt_get_expiration_time(crt) -
		gnutls_x509_crt_get_activation_time(crt);
	ck_assert_int_le((long)life, DAY + 600);
	ck_assert_int_ge((long)life, DAY);

	struct client c = {.sni = "mta-sts.demo.test", .priorities = TLS13};
	struct server srv;
	handshake(store, TLS_DEFAULT_PRIORITIES, &c, &srv, BOUND);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_ptr_eq(srv.selected, &user);
	ck_assert_uint_eq(c.peers, 1);
	gnutls_datum_t der;
	ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER,
		&der), 0);
	ck_assert(gnutls_x509_crt_equals2(c.peer, &der));
	gnutls_free(der.data);
	client_finish(&c);
	gnutls_x509_crt_deinit(crt);
	free(pem);
	tls_store_destroy(store);
}
END_TEST

START_TEST(test_digest)
{
	static const struct {
		const char *in;
		const char *hex;
	} cases[] = {
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[TLS_DIGEST_HEX_LEN + 1];
		ck_assert_int_eq(tls_digest_hex(cases[i].in,
			strlen(cases[i].in), out), 0);
		ck_assert_str_eq(out, cases[i].hex);
	}
	/* In pieces, and of a file: the same SHA-256 of "abc". */
	static const unsigned char abc[TLS_DIGEST_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
		0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
		0x15, 0xad};
	unsigned char got[TLS_DIGEST_LEN];
	struct tls_digest_stream st;
	tls_digest_begin(&st);
	tls_digest_update(&st, "a", 1);
	tls_digest_update(&st, "bc", 2);
	ck_assert(tls_digest_end(&st, got));
	ck_assert_mem_eq(got, abc, sizeof(abc));
	char *path = test_write_file(dir, "digest.txt", "abc");
	ck_assert(tls_digest_file(path, got));
	ck_assert_mem_eq(got, abc, sizeof(abc));
	ck_assert(!tls_digest_file("/nonexistent/digest.txt", got));
	free(path);
}
END_TEST

START_TEST(test_file_facts)
{
	char *path = test_write_file(dir, "facts.pem", "abc");
	struct tls_file_facts a, b, c;
	ck_assert(tls_file_facts_read(path, &a));
	ck_assert(a.known);
	ck_assert_int_eq(a.size, 3);
	static const unsigned char abc[TLS_FILE_DIGEST_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23};	/* of SHA-256 */
	ck_assert_mem_eq(a.digest, abc, sizeof(abc));
	ck_assert(tls_file_stat(path, &b));
	ck_assert(tls_file_same_identity(&a, &b));

	/* Just read: racy. Read long after its last change: not. */
	struct timespec read_at = {
		.tv_sec = (time_t)(a.ctime_ns / 1000000000),
		.tv_nsec = (long)(a.ctime_ns % 1000000000) };
	ck_assert(tls_file_is_racy(&a, &read_at));
	struct timespec later = read_at;
	later.tv_sec += 3;
	ck_assert(!tls_file_is_racy(&a, &later));

	/* The same bytes in a new file: another identity, the same digest. */
	char *copy = test_write_file(dir, "facts.new", "abc");
	ck_assert_int_eq(rename(copy, path), 0);
	ck_assert(tls_file_facts_read(path, &c));
	ck_assert(!tls_file_same_identity(&a, &c));
	ck_assert_mem_eq(a.digest, c.digest, sizeof(abc));

	/* Through an open directory: the same identity as stat(); another
	 * directory, a missing file and a bare name work too. */
	struct tls_dir_cache dirs = {0};
	struct tls_file_facts d1, d2;
	ck_assert(tls_file_stat_cached(&dirs, path, &d1));
	ck_assert(tls_file_same_identity(&d1, &c));
	char *other = test_write_file(dir, "other.pem", "xyz");
	ck_assert(tls_file_stat_cached(&dirs, other, &d2));
	ck_assert(!tls_file_same_identity(&d1, &d2));
	ck_assert(tls_file_stat_cached(&dirs, "/", &d2));
	ck_assert(tls_file_stat_cached(&dirs, "/etc/passwd", &d2));
	ck_assert(tls_file_stat("/etc/passwd", &d1));
	ck_assert(tls_file_same_identity(&d1, &d2));
	ck_assert(!tls_file_stat_cached(&dirs, "/nonexistent/x.pem", &d2));
	ck_assert(tls_file_stat_cached(&dirs, path, &d2));
	ck_assert(tls_file_same_identity(&c, &d2));
	tls_dir_cache_finish(&dirs);
	free(other);

	/* Not a regular file, missing: errors, and nothing known. */
	unsigned char *data;
	size_t len;
	ck_assert_int_eq(tls_file_read(dir, &data, &len, &c), EISDIR);
	ck_assert(!c.known && !data);
	ck_assert(!tls_file_facts_read("/nonexistent/x.pem", &c));
	free(copy);
	free(path);
}
END_TEST

START_TEST(test_priorities)
{
	static const struct {
		const char *priorities;
		bool valid;
		int severity;
		const char *text;
	} cases[] = {
		{TLS_DEFAULT_PRIORITIES, true, -1, NULL},
		{"SECURE:-VERS-ALL:+VERS-TLS1.3", true, -1, NULL},
		{"SECURE:+VERS-TLS9.9", false, DIAG_ERROR,
			"is invalid at offset 7, \"+VERS-TLS9.9\""},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.1", false, DIAG_ERROR,
			"enables neither TLS 1.2 nor TLS 1.3"},
		{"NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1", true,
			DIAG_WARNING, "enables versions before TLS 1.2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag d;
		diag_init(&d);
		bool valid = tls_priorities_are_valid(cases[i].priorities, &d,
			CONF, 21);
		ck_assert_msg(valid == cases[i].valid, "%s:%s",
			cases[i].priorities, test_diag_dump(&d));
		if (cases[i].severity < 0)
			ck_assert_msg(d.len == 0, "%s:%s", cases[i].priorities,
				test_diag_dump(&d));
		else
			ck_assert_msg(test_diag_has(&d, cases[i].severity, 21,
				cases[i].text), "%s:%s", cases[i].priorities,
				test_diag_dump(&d));
		diag_finish(&d);
	}
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	const struct {
		const char *name;
		const TTest *test;
	} cases[] = {
		{"matching pair", test_matching_pair},
		{"key mismatch", test_key_mismatch},
		{"wrong name", test_wrong_name},
		{"CN-only certificate", test_cn_only},
		{"wildcard", test_wildcard},
		{"validity period", test_validity},
		{"chain order", test_chain},
		{"chain order, issuer of the same name", test_chain_same_name},
		{"key file formats", test_key_formats},
		{"unreadable files", test_unreadable},
		{"duplicate host", test_duplicate_host},
		{"shared credentials", test_shared_credentials},
		{"10000 hosts", test_many_hosts},
		{"distinct credentials", test_distinct_credentials},
		{"handshake known name", test_handshake_known_name},
		{"handshake unknown name", test_handshake_unknown_name},
		{"handshake unbound session", test_handshake_unbound},
		{"handshake refusals", test_handshake_refusals},
		{"handshake resumption", test_handshake_resumption},
		{"ClientHello screen", test_hello_screen},
		{"generated", test_generated},
		{"shared into a reserved store", test_shared_into_reserved_store},
		{"digest", test_digest},
		{"file facts", test_file_facts},
		{"priorities", test_priorities},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase *tc = tcase_create(cases[i].name);
		tcase_add_test(tc, cases[i].test);
		suite_add_tcase(s, tc);
	}
	return s;
}

int main(void)
{
	/* As in the daemon: a peer that went away is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	dir = test_tmpdir();
	ca = testcert_ca_create(dir, "ca", TESTCERT_KEY_ECDSA);
	inter = ca ? testcert_intermediate_create(ca, dir, "inter") : NULL;
	if (!ca || !inter || tls_init(TLS_DEFAULT_PRIORITIES) < 0)
		return EXIT_FAILURE;
	gnutls_certificate_allocate_credentials(&server_cred);
	gnutls_certificate_set_retrieve_function2(server_cred,
		(gnutls_certificate_retrieve_function2 *)
		tls_retrieve_function());

	int rc = test_run(tls_suite());

	gnutls_certificate_free_credentials(server_cred);
	tls_finish();
	testcert_ca_destroy(inter);
	testcert_ca_destroy(ca);
	test_rmtree(dir);
	free(dir);
	return rc;
}
