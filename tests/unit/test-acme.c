/* SPDX-License-Identifier: MIT */
/*
 * acme/: the RFC 8555 resources from JSON (valid and hostile), problem
 * documents in plain words, Retry-After, and the state directory files
 * (atomic writes, modes, the two-rename commit a restart finishes).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/acme_http01.h"
#include "acme/acme_json.h"
#include "acme/acme_manager.h"
#include "acme/acme_store.h"
#include "config/acme_settings.h"
#include "config/config.h"
#include "util/diag.h"
#include "server/snapshot.h"
#include "testcert.h"
#include "testsupport.h"
#include "tls/handshake.h"
#include "tls/priorities.h"
#include "tls/store.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char order_json[] =
	"{\"status\":\"pending\",\"expires\":\"2026-12-13T00:00:00Z\","
	"\"identifiers\":[{\"type\":\"dns\",\"value\":\"mta-sts.a.test\"}],"
	"\"authorizations\":[\"https://ca/authz/1\"],"
	"\"finalize\":\"https://ca/finalize/1\"}";

START_TEST(test_order)
{
	struct acme_order o;
	char why[128];
	ck_assert_int_eq(acme_json_order(order_json, strlen(order_json), &o,
		why, sizeof(why)), 0);
	ck_assert_int_eq(o.status, ACME_STATUS_PENDING);
	ck_assert_uint_eq(o.authorization_count, 1);
	ck_assert_str_eq(o.authorizations[0], "https://ca/authz/1");
	ck_assert_str_eq(o.finalize, "https://ca/finalize/1");
	ck_assert_str_eq(o.certificate, "");
	ck_assert(!o.error.present);
}
END_TEST

START_TEST(test_order_invalid_with_error)
{
	static const char j[] = "{\"status\":\"invalid\",\"error\":{\"type\":"
		"\"urn:ietf:params:acme:error:unauthorized\",\"detail\":\"no\","
		"\"subproblems\":[{\"detail\":\"first\"}]},\"finalize\":\"f\"}";
	struct acme_order o;
	char why[128], words[512];
	ck_assert_int_eq(acme_json_order(j, strlen(j), &o, why, sizeof(why)),
		0);
	ck_assert_int_eq(o.status, ACME_STATUS_INVALID);
	ck_assert(o.error.present);
	ck_assert_str_eq(o.error.subdetail, "first");
	acme_problem_describe(&o.error, words, sizeof(words));
	ck_assert_str_eq(words, "the CA did not accept the proof of control: "
		"\"no; first\" (unauthorized)");
}
END_TEST

/* Answers a CA must not send; each is refused with a reason. */
static const char *const bad_orders[] = {
	"",
	"[]",
	"null",
	"{\"status\":\"pending\"} trailing",
	"{\"status\":7}",
	"{\"status\":\"weird\"}",
	"{\"status\":\"valid\",\"certificate\":5}",
	"{\"status\":\"valid\",\"finalize\":[\"x\"]}",
	"{\"status\":\"pending\",\"authorizations\":[1]}",
	"{\"status\":\"pending\",\"authorizations\":[\"a\",\"a\",\"a\",\"a\","
		"\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
		"\"a\",\"a\",\"a\"]}",
	"{\"status\":\"valid\",\"certificate\":\"a\\u0000b\"}",
	"{\"status\":\"pending\"",
};

START_TEST(test_order_refused)
{
	struct acme_order o;
	char why[128] = "";
	const char *j = bad_orders[_i];
	ck_assert_int_eq(acme_json_order(j, strlen(j), &o, why, sizeof(why)),
		-1);
	ck_assert_msg(why[0], "no reason for %s", j);
}
END_TEST

START_TEST(test_directory)
{
	static const char j[] = "{\"newNonce\":\"https://ca/n\",\"newAccount\":"
		"\"https://ca/a\",\"newOrder\":\"https://ca/o\",\"renewalInfo\":"
		"\"https://ca/ari\",\"meta\":{\"externalAccountRequired\":true}}";
	struct acme_directory dir;
	char why[128];
	ck_assert_int_eq(acme_json_directory(j, strlen(j), &dir, why,
		sizeof(why)), 0);
	ck_assert_str_eq(dir.new_order, "https://ca/o");
	ck_assert_str_eq(dir.renewal_info, "https://ca/ari");
	ck_assert(dir.eab_required);
	static const char partial[] = "{\"newNonce\":\"https://ca/n\"}";
	ck_assert_int_eq(acme_json_directory(partial, strlen(partial), &dir,
		why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "newAccount"));
}
END_TEST

START_TEST(test_authz)
{
	static const char j[] = "{\"status\":\"pending\",\"identifier\":{"
		"\"type\":\"dns\",\"value\":\"mta-sts.a.test\"},\"challenges\":["
		"{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":"
		"\"t1\",\"status\":\"pending\"},"
		"{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/c/2\",\"token\":"
		"\"t2\",\"status\":\"pending\"},"
		"{\"type\":5}]}";
	struct acme_authz a;
	char why[128];
	ck_assert_int_eq(acme_json_authz(j, strlen(j), &a, why, sizeof(why)),
		0);
	ck_assert_str_eq(a.identifier, "mta-sts.a.test");
	ck_assert_uint_eq(a.challenge_count, 2);
	const struct acme_challenge *c = acme_json_find_challenge(&a,
		"tls-alpn-01");
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->token, "t2");
	ck_assert_ptr_null(acme_json_find_challenge(&a, "dns-01"));
}
END_TEST

START_TEST(test_problem_words)
{
	struct acme_problem p = { .present = true };
	char words[512];
	snprintf(p.type, sizeof(p.type), "urn:ietf:params:acme:error:"
		"rateLimited");
	snprintf(p.detail, sizeof(p.detail), "too many \"orders\"\n");
	acme_problem_describe(&p, words, sizeof(words));
	ck_assert_str_eq(words, "rate limited by the CA; wait before "
		"retrying: \"too many \\x22orders\\x22\\x0a\" (rateLimited)");
	snprintf(p.type, sizeof(p.type), "urn:example:other");
	acme_problem_describe(&p, words, sizeof(words));
	ck_assert(strncmp(words, "the CA said ", 12) == 0);
}
END_TEST

START_TEST(test_retry_after)
{
	ck_assert_int_eq(acme_json_retry_after("120", 0), 120);
	ck_assert_int_eq(acme_json_retry_after(" 5\r", 0), 5);
	ck_assert_int_eq(acme_json_retry_after("abc", 0), -1);
	ck_assert_int_eq(acme_json_retry_after("12x", 0), -1);
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777. */
	ck_assert_int_eq(acme_json_retry_after(
		"Sun, 06 Nov 1994 08:49:37 GMT", 784111700), 77);
	ck_assert_int_eq(acme_json_retry_after(
		"Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);
	ck_assert_int_eq(acme_json_retry_after(NULL, 0), -1);
}
END_TEST

START_TEST(test_rfc3339)
{
	ck_assert_int_eq(acme_json_time("1994-11-06T08:49:37Z"), 784111777);
	ck_assert_int_eq(acme_json_time("1994-11-06T08:49:37.123Z"),
		784111777);
	ck_assert_int_eq(acme_json_time("1994-11-06T10:49:37+02:00"),
		784111777);
	ck_assert_int_eq(acme_json_time("1994-11-06T08:49:37"), -1);
	ck_assert_int_eq(acme_json_time("1994-11-06T08:49:37Zjunk"), -1);
	ck_assert_int_eq(acme_json_time("yesterday"), -1);
}
END_TEST

START_TEST(test_renewal_info)
{
	/* RFC 9773 §4.2's example. */
	static const char j[] = "{\"suggestedWindow\":{\"start\":"
		"\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"},"
		"\"explanationURL\":\"https://acme.example.com/docs/ari\"}";
	long long a, b;
	char why[128];
	ck_assert_int_eq(acme_json_renewal_info(j, strlen(j), &a, &b, why,
		sizeof(why)), 0);
	ck_assert_int_eq(b - a, 86400);
	ck_assert_int_eq(a, 1735790400);
	static const char backwards[] = "{\"suggestedWindow\":{\"start\":"
		"\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}";
	ck_assert_int_eq(acme_json_renewal_info(backwards, strlen(backwards),
		&a, &b, why, sizeof(why)), -1);
	ck_assert_int_eq(acme_json_renewal_info("{}", 2, &a, &b, why,
		sizeof(why)), -1);
}
END_TEST

START_TEST(test_renew_time)
{
	struct config_acme a = {0};
	/* Two thirds of a 90-day lifetime: day 60. */
	ck_assert_int_eq(acme_manager_renew_time(&a, 0, 90 * 86400),
		60 * 86400);
	a.renew_before = 7 * 86400;
	ck_assert_int_eq(acme_manager_renew_time(&a, 0, 90 * 86400),
		83 * 86400);
	/* Not shorter than the lifetime: back to two thirds, never a loop. */
	a.renew_before = 90 * 86400;
	ck_assert_int_eq(acme_manager_renew_time(&a, 0, 90 * 86400),
		60 * 86400);
}
END_TEST

/* ---- the acme group of the configuration --------------------------- */

static const char acme_conf[] =
	"listen = [ \"127.0.0.1:8443\" ];\n"
	"state_directory = \"/var/lib/x\";\n"
	"acme = { email = \"postmaster@a.test\"; renew_before = 86400; };\n"
	"domains = (\n"
	"  { name = \"a.test\"; mx = [ \"mail.a.test\" ]; },\n"
	"  { name = \"b.test\"; mx = [ \"mail.b.test\" ];\n"
	"    cert = \"/etc/b.pem\"; key = \"/etc/b.key\"; }\n"
	");\n";

START_TEST(test_config_acme_group)
{
	struct config c = {0};
	struct diag d;
	diag_init(&d);
	ck_assert_msg(config_load_string(acme_conf, "t.conf", &c, &d) == 0,
		"%s", test_diag_dump(&d));
	ck_assert(c.acme.enabled);
	ck_assert_str_eq(c.acme.directory, CONFIG_ACME_DEFAULT_DIRECTORY);
	ck_assert_str_eq(c.acme.email, "postmaster@a.test");
	ck_assert_str_eq(c.acme.challenge, "tls-alpn-01");
	ck_assert_uint_eq(c.acme.renew_before, 86400);
	ck_assert_uint_eq(c.acme.retry_interval, CONFIG_ACME_RETRY_DEFAULT);
	const struct config_domain *a = config_find_domain(&c, "a.test");
	const struct config_domain *b = config_find_domain(&c, "b.test");
	/* No cert, no key: from ACME, in the state directory. */
	ck_assert(a->acme);
	ck_assert_str_eq(a->cert, "/var/lib/x/acme/mta-sts.a.test/chain.pem");
	ck_assert_str_eq(a->key, "/var/lib/x/acme/mta-sts.a.test/key.pem");
	/* Files of its own: as before. */
	ck_assert(!b->acme);
	ck_assert_str_eq(b->cert, "/etc/b.pem");
	config_finish(&c);
	diag_finish(&d);
}
END_TEST

static const struct {
	const char *text;
	const char *code;
} bad_acme[] = {
	{ "acme = { directory = \"http://ca/dir\"; };",
		"config-acme-directory" },
	{ "acme = { email = \"mailto:a@b.c\"; };", "config-acme-email" },
	{ "acme = { email = \"a@b\"; };", "config-acme-email" },
	{ "acme = { eab_kid = \"k\"; };", "config-acme-eab" },
	{ "acme = { eab_kid = \"k\"; eab_hmac_key = \"a b\"; };",
		"config-acme-eab" },
	{ "acme = { challenge = \"dns-01\"; };", "config-bad-value" },
	{ "acme = { retry_interval = 0; };", "config-bad-value" },
	{ "acme = { ca_file = \"/nonexistent/ca.pem\"; };",
		"config-acme-ca-file" },
	{ "acme = { colour = \"blue\"; };", "config-unknown-setting" },
	{ "acme = \"on\";", "config-wrong-type" },
	{ "acme = { challenge = \"http-01\"; };", "config-acme-http01" },
	{ "acme = { challenge = \"http-01\"; http01_listen = \"80\"; };",
		"config-bad-value" },
};

START_TEST(test_config_acme_refused)
{
	char text[1024];
	snprintf(text, sizeof(text), "listen = [ \"127.0.0.1:8443\" ];\n%s\n"
		"domains = ( { name = \"a.test\"; mx = [ \"mail.a.test\" ]; "
		"cert = \"/c\"; key = \"/k\"; } );\n", bad_acme[_i].text);
	struct config c = {0};
	struct diag d;
	diag_init(&d);
	config_load_string(text, "t.conf", &c, &d);
	bool found = false;
	for (size_t i = 0; i < d.len; i++)
		found |= d.items[i].code &&
			strcmp(d.items[i].code, bad_acme[_i].code) == 0;
	ck_assert_msg(found, "%s: no %s in %s", bad_acme[_i].text,
		bad_acme[_i].code, test_diag_dump(&d));
	config_finish(&c);
	diag_finish(&d);
}
END_TEST

START_TEST(test_config_cert_acme_needs_the_group)
{
	static const char text[] = "listen = [ \"127.0.0.1:8443\" ];\n"
		"domains = ( { name = \"a.test\"; mx = [ \"mail.a.test\" ]; "
		"cert = \"acme\"; } );\n";
	struct config c = {0};
	struct diag d;
	diag_init(&d);
	config_load_string(text, "t.conf", &c, &d);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 0, "needs the acme group"),
		"%s", test_diag_dump(&d));
	config_finish(&c);
	diag_finish(&d);
}
END_TEST

/* ---- a new certificate without a reload (snapshot_renew) ---------- */

/* Writes a leaf for mta-sts.a.test, valid for days, where ACME puts it. */
static void put_acme_cert(const char *state, const struct testcert_ca *ca,
	int days)
{
	static const char *const dns[] = { "mta-sts.a.test", NULL };
	char why[256];
	ck_assert_int_eq(acme_store_prepare(state, "mta-sts.a.test", why,
		sizeof(why)), 0);
	char *cert = acme_store_path(state, "mta-sts.a.test",
		CONFIG_ACME_CHAIN);
	char *key = acme_store_path(state, "mta-sts.a.test", CONFIG_ACME_KEY);
	struct testcert_leaf leaf = { .dns = dns, .issuer = ca,
		.not_after = time(NULL) + days * 86400 };
	ck_assert_int_eq(testcert_leaf_write(&leaf, cert, key), 0);
	free(cert);
	free(key);
}

START_TEST(test_snapshot_renew)
{
	char *dir = test_tmpdir();
	struct testcert_ca *ca = testcert_ca_create(dir, "ca",
		TESTCERT_KEY_ECDSA);
	static const char *const bdns[] = { "mta-sts.b.test", NULL };
	struct testcert_leaf bleaf = { .dns = bdns, .issuer = ca };
	char *bcert, *bkey;
	ck_assert_int_eq(testcert_leaf_write_dir(&bleaf, dir, "b", &bcert,
		&bkey), 0);
	char text[2048];
	snprintf(text, sizeof(text), "state_directory = \"%s\";\n"
		"acme = { };\n"
		"domains = ( { name = \"a.test\"; mx = \"mx.a.test\"; },\n"
		"{ name = \"b.test\"; mx = \"mx.b.test\"; cert = \"%s\"; "
		"key = \"%s\"; } );\n", dir, bcert, bkey);
	struct config *config = calloc(1, sizeof(*config));
	struct diag d;
	diag_init(&d);
	ck_assert_int_eq(config_load_string(text, "t.conf", config, &d), 0);
	struct snapshot_options options = { .now = time(NULL),
		.load_certificates = true };
	struct snapshot *s0 = snapshot_create(config, &options, &d);
	ck_assert_msg(s0 != NULL, "%s", test_diag_dump(&d));
	/* a waits for ACME: listed, not served, not an error. */
	ck_assert_uint_eq(snapshot_domain_count(s0), 1);
	ck_assert_ptr_null(snapshot_find(s0, "a.test"));
	ck_assert_uint_eq(snapshot_not_served_count(s0), 0);
	ck_assert(snapshot_problem_at(s0, 0)->pending);

	/* Its first certificate arrives: served, b shared, nothing read. */
	put_acme_cert(dir, ca, 30);
	static const char *const hosts[] = { "mta-sts.a.test" };
	struct snapshot *s1 = snapshot_renew(s0, hosts, 1, time(NULL), &d);
	ck_assert_msg(s1 != NULL, "%s", test_diag_dump(&d));
	ck_assert_uint_eq(snapshot_domain_count(s1), 2);
	ck_assert_uint_eq(snapshot_problem_count(s1), 0);
	ck_assert_ptr_eq(snapshot_config(s1), snapshot_config(s0));
	const struct snapshot_domain *a1 = snapshot_find(s1, "a.test");
	ck_assert_ptr_nonnull(a1);
	ck_assert_ptr_eq(tls_store_lookup(snapshot_tls(s1), "mta-sts.a.test"),
		a1);
	/* b is the entry of s0 itself, shared by reference. */
	const struct snapshot_domain *b1 = snapshot_find(s1, "b.test");
	ck_assert_ptr_eq(b1, snapshot_find(s0, "b.test"));
	ck_assert_uint_eq(snapshot_renewal_count(s1), 1);
	time_t first = a1->cert.not_after;

	/* A renewal: the new chain; b still the same entry, which
	 * outlives the snapshots that made it. */
	put_acme_cert(dir, ca, 60);
	struct snapshot *s2 = snapshot_renew(s1, hosts, 1, time(NULL), &d);
	ck_assert_ptr_nonnull(s2);
	snapshot_unref(s1);
	snapshot_unref(s0);
	const struct snapshot_domain *a2 = snapshot_find(s2, "a.test");
	ck_assert_int_gt(a2->cert.not_after, first);
	ck_assert_ptr_eq(snapshot_find(s2, "b.test"), b1);
	ck_assert_str_eq(b1->body, "version: STSv1\r\nmode: testing\r\n"
		"mx: mx.b.test\r\nmax_age: 604800\r\n");
	ck_assert_uint_eq(snapshot_renewal_count(s2), 2);
	ck_assert_ptr_nonnull(tls_store_lookup(snapshot_tls(s2),
		"mta-sts.b.test"));

	/* Files that cannot be used leave the certificate served. */
	char *cert = acme_store_path(dir, "mta-sts.a.test", CONFIG_ACME_CHAIN);
	char why[128];
	ck_assert_int_eq(acme_store_write(cert, "junk", 4, 0640, why,
		sizeof(why)), 0);
	free(cert);
	struct snapshot *s3 = snapshot_renew(s2, hosts, 1, time(NULL), &d);
	ck_assert_ptr_nonnull(s3);
	ck_assert_int_eq(snapshot_find(s3, "a.test")->cert.not_after,
		a2->cert.not_after);
	ck_assert(test_diag_has(&d, DIAG_WARNING, 0, "a.test: still serving "
		"the previous certificate"));
	snapshot_unref(s2);
	ck_assert_str_eq(snapshot_find(s3, "a.test")->body,
		"version: STSv1\r\nmode: testing\r\nmx: mx.a.test\r\n"
		"max_age: 604800\r\n");
	snapshot_unref(s3);
	diag_finish(&d);
	free(bcert);
	free(bkey);
	testcert_ca_destroy(ca);
	test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_http01_answers)
{
	char out[64];
	ck_assert(!acme_http01_lookup("tok", out, sizeof(out)));
	ck_assert_int_eq(acme_http01_add("tok", "tok.thumb"), 0);
	ck_assert_int_eq(acme_http01_add("other", "other.thumb"), 0);
	ck_assert(acme_http01_lookup("tok", out, sizeof(out)));
	ck_assert_str_eq(out, "tok.thumb");
	ck_assert(!acme_http01_lookup("tok", out, 5));	/* does not fit */
	acme_http01_remove("tok");
	ck_assert(!acme_http01_lookup("tok", out, sizeof(out)));
	ck_assert(acme_http01_lookup("other", out, sizeof(out)));
	acme_http01_remove("other");
	ck_assert(acme_http01_token_is_valid("aB-_9", 5));
	ck_assert(!acme_http01_token_is_valid("a/b", 3));
	ck_assert(!acme_http01_token_is_valid("a.b", 3));
	ck_assert(!acme_http01_token_is_valid("", 0));
}
END_TEST

/* ---- the state directory ------------------------------------------ */

START_TEST(test_store_state_roundtrip)
{
	char *dir = test_tmpdir(), why[256];
	ck_assert_int_eq(acme_store_prepare(dir, "mta-sts.a.test", why,
		sizeof(why)), 0);
	struct acme_domain_state s = { .order_started = 5, .failures = 3,
		.next_attempt = 1234 };
	snprintf(s.order, sizeof(s.order), "https://ca/order/1");
	snprintf(s.last_error, sizeof(s.last_error), "line one\nline two");
	ck_assert_int_eq(acme_store_save_state(dir, "mta-sts.a.test", &s, why,
		sizeof(why)), 0);
	struct acme_domain_state back;
	acme_store_load_state(dir, "mta-sts.a.test", &back);
	ck_assert_str_eq(back.order, s.order);
	ck_assert_uint_eq(back.failures, 3);
	ck_assert_int_eq(back.next_attempt, 1234);
	ck_assert_str_eq(back.last_error, "line one line two");
	char *path = acme_store_path(dir, "mta-sts.a.test", "state");
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	free(path);
	/* A missing file is an empty state. */
	acme_store_load_state(dir, "mta-sts.b.test", &back);
	ck_assert_str_eq(back.order, "");
	ck_assert_uint_eq(back.failures, 0);
	test_rmtree(dir);
	free(dir);
}
END_TEST

static void put(const char *dir, const char *file, const char *text,
	mode_t mode)
{
	char why[256];
	char *path = acme_store_path(dir, "mta-sts.a.test", file);
	ck_assert_int_eq(acme_store_write(path, text, strlen(text), mode, why,
		sizeof(why)), 0);
	free(path);
}

static char *get(const char *dir, const char *file)
{
	char *path = acme_store_path(dir, "mta-sts.a.test", file);
	char *text = acme_store_read(path, NULL);
	free(path);
	return text;
}

START_TEST(test_store_commit_and_recover)
{
	char *dir = test_tmpdir(), why[256];
	ck_assert_int_eq(acme_store_prepare(dir, "mta-sts.a.test", why,
		sizeof(why)), 0);
	put(dir, CONFIG_ACME_KEY, "old key", 0600);
	put(dir, CONFIG_ACME_CHAIN, "old chain", 0640);
	put(dir, CONFIG_ACME_NEXT_KEY, "new key", 0600);
	put(dir, CONFIG_ACME_NEXT_CHAIN, "new chain", 0640);
	ck_assert_int_eq(acme_store_commit(dir, "mta-sts.a.test", why,
		sizeof(why)), 0);
	char *k = get(dir, CONFIG_ACME_KEY), *c = get(dir, CONFIG_ACME_CHAIN);
	ck_assert_str_eq(k, "new key");
	ck_assert_str_eq(c, "new chain");
	free(k);
	free(c);
	ck_assert_ptr_null(get(dir, CONFIG_ACME_NEXT_KEY));

	/* A crash after the key moved, before the chain did. */
	put(dir, CONFIG_ACME_KEY, "third key", 0600);
	put(dir, CONFIG_ACME_NEXT_CHAIN, "third chain", 0640);
	ck_assert_int_eq(acme_store_recover(dir, "mta-sts.a.test", why,
		sizeof(why)), 1);
	c = get(dir, CONFIG_ACME_CHAIN);
	ck_assert_str_eq(c, "third chain");
	free(c);
	k = get(dir, CONFIG_ACME_KEY);
	ck_assert_str_eq(k, "third key");
	free(k);
	/* Nothing left to recover: nothing changes. */
	ck_assert_int_eq(acme_store_recover(dir, "mta-sts.a.test", why,
		sizeof(why)), 0);
	char *path = acme_store_path(dir, "mta-sts.a.test", CONFIG_ACME_KEY);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	free(path);
	test_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_store_account)
{
	char *dir = test_tmpdir(), why[256], d1[512], u1[512];
	ck_assert_int_eq(acme_store_prepare(dir, NULL, why, sizeof(why)), 0);
	ck_assert_int_eq(acme_store_load_account(dir, d1, u1, sizeof(d1)), -1);
	ck_assert_int_eq(acme_store_save_account(dir, "https://ca/dir",
		"https://ca/acct/1", why, sizeof(why)), 0);
	ck_assert_int_eq(acme_store_load_account(dir, d1, u1, sizeof(d1)), 0);
	ck_assert_str_eq(d1, "https://ca/dir");
	ck_assert_str_eq(u1, "https://ca/acct/1");
	ck_assert_int_eq(acme_store_save_account(dir, "a\nb", "c", why,
		sizeof(why)), -1);
	test_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("acme");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_order_invalid_with_error);
	tcase_add_loop_test(tc, test_order_refused, 0, ARRAY_LEN(bad_orders));
	tcase_add_test(tc, test_directory);
	tcase_add_test(tc, test_authz);
	tcase_add_test(tc, test_problem_words);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_renew_time);
	tcase_add_test(tc, test_http01_answers);
	tcase_add_test(tc, test_rfc3339);
	tcase_add_test(tc, test_renewal_info);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, test_config_acme_group);
	tcase_add_loop_test(tc, test_config_acme_refused, 0,
		ARRAY_LEN(bad_acme));
	tcase_add_test(tc, test_config_cert_acme_needs_the_group);
	suite_add_tcase(s, tc);
	tc = tcase_create("snapshot");
	tcase_add_test(tc, test_snapshot_renew);
	suite_add_tcase(s, tc);
	tc = tcase_create("store");
	tcase_add_test(tc, test_store_state_roundtrip);
	tcase_add_test(tc, test_store_commit_and_recover);
	tcase_add_test(tc, test_store_account);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (tls_init(TLS_DEFAULT_PRIORITIES) < 0)
		return EXIT_FAILURE;
	int rc = test_run(suite());
	tls_finish();
	return rc;
}
