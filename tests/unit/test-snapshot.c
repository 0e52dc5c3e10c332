/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/diag.h"
#include "server/snapshot.h"
#include "config/state.h"
#include "testsupport.h"
#include "tls/store.h"

/* 2026-11-28 12:00:00 UTC */
#define NOW ((time_t)1795867200)

static char *state_dir;

static void setup(void)
{
	state_dir = test_tmpdir();
}

static void teardown(void)
{
	test_rmtree(state_dir);
	free(state_dir);
}

static struct snapshot *load(const char *mx_list, time_t now, bool state,
	struct diag *d)
{
	char text[1024];
	snprintf(text, sizeof(text),
		"state_directory = \"%s\";\n"
		"domains = ( { name = \"example.com\"; mode = \"enforce\";\n"
		"  mx = [ %s ]; cert = \"c\"; key = \"k\"; },\n"
		"  { name = \"example.org\"; mx = [ \"mx.example.org\" ];\n"
		"  cert = \"c\"; key = \"k\"; id = \"abc1\"; } );\n",
		state_dir, mx_list);
	struct config *config = calloc(1, sizeof(*config));
	ck_assert_int_eq(config_load_string(text, "test.conf", config, d), 0);
	struct snapshot_options options = {
		.now = now,
		.use_state = state,
		.load_certificates = true,
		.generate_certificates = true,
	};
	return snapshot_create(config, &options, d);
}

START_TEST(test_snapshot_renders_and_finds)
{
	struct diag d;
	diag_init(&d);
	struct snapshot *snap = load("\"mail.example.com\"", NOW, true, &d);
	ck_assert_msg(snap != NULL, "%s", test_diag_dump(&d));
	ck_assert_uint_eq(snapshot_domain_count(snap), 2);

	const struct snapshot_domain *sd = snapshot_find(snap, "example.com");
	ck_assert_ptr_nonnull(sd);
	ck_assert_str_eq(sd->host, "mta-sts.example.com");
	ck_assert_str_eq(sd->body, "version: STSv1\r\nmode: enforce\r\n"
		"mx: mail.example.com\r\nmax_age: 604800\r\n");
	ck_assert_uint_eq(sd->body_len, strlen(sd->body));
	char digest[TLS_DIGEST_HEX_LEN + 1];
	tls_digest_hex(sd->body, sd->body_len, digest);
	ck_assert_str_eq(sd->digest, digest);
	/* The managed id is the start of the policy's digest. */
	ck_assert_int_eq(strlen(sd->id), 32);
	ck_assert_int_eq(strncmp(sd->id, digest, 32), 0);
	/* The SNI table answers for the policy host. */
	ck_assert_ptr_eq(tls_store_lookup(snapshot_tls(snap),
		"MTA-STS.example.com"), sd);
	ck_assert_ptr_null(snapshot_find(snap, "example.net"));

	sd = snapshot_find(snap, "example.org");
	ck_assert_str_eq(sd->id, "abc1");
	snapshot_unref(snap);
	diag_finish(&d);
}
END_TEST

START_TEST(test_snapshot_ids_follow_policy)
{
	struct diag d;
	diag_init(&d);
	struct snapshot *a = load("\"mail.example.com\"", NOW, true, &d);
	ck_assert_ptr_nonnull(a);
	char first[TXT_ID_MAX + 1];
	strcpy(first, snapshot_find(a, "example.com")->id);
	snapshot_unref(a);

	/* Same policy an hour later: same id, from the state directory. */
	struct snapshot *b = load("\"mail.example.com\"", NOW + 3600, true,
		&d);
	ck_assert_str_eq(snapshot_find(b, "example.com")->id, first);
	snapshot_unref(b);

	/* Changed policy: a new id, that of its digest. */
	struct snapshot *c = load("\"mail.example.com\", \"mx2.example.com\"",
		NOW + 7200, true, &d);
	char second[TXT_ID_MAX + 1];
	strcpy(second, snapshot_find(c, "example.com")->id);
	ck_assert_str_ne(second, first);
	ck_assert_int_eq(strncmp(second, snapshot_find(c,
		"example.com")->digest, 32), 0);
	ck_assert_int_eq(snapshot_record_served(c, NOW + 7200, &d), 0);
	snapshot_unref(c);

	struct state *state = state_open(state_dir, &d);
	ck_assert_ptr_nonnull(state);
	const struct state_record *served = state_find_served(state,
		"example.com");
	ck_assert_ptr_nonnull(served);
	ck_assert_str_eq(served->id, second);
	ck_assert_int_eq(served->time, (int64_t)NOW + 7200);
	state_destroy(state);
	ck_assert_msg(!diag_has_errors(&d), "%s", test_diag_dump(&d));
	diag_finish(&d);
}
END_TEST

START_TEST(test_snapshot_invalid_config_reports_all)
{
	struct diag d;
	diag_init(&d);
	struct config *config = calloc(1, sizeof(*config));
	/* A config that does not load still goes to snapshot_create in no
	 * code path; a failing certificate does: */
	ck_assert_int_eq(config_load_string(
		"domains = ( { name = \"example.com\"; mx = [\"mx.example.com\"];"
		" cert = \"/nonexistent/c.pem\"; key = \"/nonexistent/k.pem\"; "
		"id = \"1\"; },\n"
		"{ name = \"example.net\"; mx = [\"mx.example.net\"];"
		" cert = \"/nonexistent/d.pem\"; key = \"/nonexistent/e.pem\"; "
		"id = \"1\"; } );\n", "t.conf", config, &d), 0);
	struct snapshot_options options = {
		.now = NOW,
		.load_certificates = true,
	};
	ck_assert_ptr_null(snapshot_create(config, &options, &d));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 1, "/nonexistent/c.pem"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 2, "/nonexistent/d.pem"));
	diag_finish(&d);
}
END_TEST

static struct snapshot *load_text(const char *text, struct snapshot *previous,
	struct diag *d)
{
	struct config *config = calloc(1, sizeof(*config));
	ck_assert_int_eq(config_load_string(text, "t.conf", config, d), 0);
	struct snapshot_options options = {
		.now = NOW,
		.load_certificates = true,
		.generate_certificates = true,
		.previous = previous,
	};
	return snapshot_create(config, &options, d);
}

#define TWO(b_mode) \
	"domains = ( { name = \"a.example\"; mx = \"mx.a.example\"; " \
	"cert = \"c\"; key = \"k\"; },\n" \
	"{ name = \"b.example\"; mode = " b_mode "; mx = \"mx.b.example\"; " \
	"cert = \"c\"; key = \"k\"; } );\n"

START_TEST(test_snapshot_isolates_domains)
{
	struct diag d;
	diag_init(&d);
	/* b's entry is broken: a is served, b is listed, not served. */
	struct snapshot *snap = load_text(TWO("\"strict\""), NULL, &d);
	ck_assert_ptr_nonnull(snap);
	ck_assert_uint_eq(snapshot_domain_count(snap), 1);
	ck_assert_ptr_nonnull(snapshot_find(snap, "a.example"));
	ck_assert_ptr_null(snapshot_find(snap, "b.example"));
	ck_assert_ptr_null(tls_store_lookup(snapshot_tls(snap),
		"mta-sts.b.example"));
	ck_assert_uint_eq(snapshot_problem_count(snap), 1);
	const struct snapshot_problem *p = snapshot_problem_at(snap, 0);
	ck_assert_str_eq(p->name, "b.example");
	ck_assert_str_eq(p->reason, "mode invalid");
	ck_assert(!p->kept);
	ck_assert_uint_eq(snapshot_not_served_count(snap), 1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 2, "b.example: not served "
		"(mode invalid)"));
	snapshot_unref(snap);
	diag_finish(&d);

	/* strict = true: all or nothing. */
	diag_init(&d);
	ck_assert_ptr_null(load_text("strict = true;\n" TWO("\"strict\""),
		NULL, &d));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "strict = true: 1 "
		"domain(s) cannot be served"));
	diag_finish(&d);
}
END_TEST

START_TEST(test_snapshot_finds_problems_by_name)
{
	/* 40 broken domains among 80: each found by its name, in any case
	 * and with a trailing dot, and none found for a served name. */
	char text[40000] = "domains = (";
	for (int i = 0; i < 80; i++) {
		char entry[256];
		snprintf(entry, sizeof(entry), "%s{ name = \"d%02d.example\"; "
			"mode = \"%s\"; mx = \"mx.example\"; cert = \"c\"; "
			"key = \"k\"; }", i ? ", " : "", (i * 37) % 80,
			i % 2 ? "bogus" : "enforce");
		strcat(text, entry);
	}
	strcat(text, " );\n");
	struct diag d;
	diag_init(&d);
	struct snapshot *snap = load_text(text, NULL, &d);
	ck_assert_ptr_nonnull(snap);
	ck_assert_uint_eq(snapshot_problem_count(snap), 40);
	for (int i = 0; i < 80; i++) {
		char name[64], upper[64];
		int n = (i * 37) % 80;
		snprintf(name, sizeof(name), "d%02d.example", n);
		snprintf(upper, sizeof(upper), "D%02d.EXAMPLE.", n);
		const struct snapshot_problem *p = snapshot_find_problem(snap,
			name);
		if (i % 2) {
			ck_assert_ptr_nonnull(p);
			ck_assert_str_eq(p->name, name);
			ck_assert_ptr_eq(snapshot_find_problem(snap, upper), p);
		} else {
			ck_assert_ptr_null(p);
			ck_assert_ptr_null(snapshot_find_problem(snap, upper));
		}
	}
	ck_assert_ptr_null(snapshot_find_problem(snap, "d99.example"));
	ck_assert_ptr_null(snapshot_find_problem(snap, "a"));
	snapshot_unref(snap);
	diag_finish(&d);
}
END_TEST

START_TEST(test_snapshot_keeps_previous_version)
{
	struct diag d;
	diag_init(&d);
	struct snapshot *old = load_text(TWO("\"testing\""), NULL, &d);
	ck_assert_ptr_nonnull(old);
	const struct snapshot_domain *old_b = snapshot_find(old, "b.example");
	char old_id[TXT_ID_MAX + 1];
	strcpy(old_id, old_b->id);

	/* The next version of b is broken: b keeps the old one, sharing its
	 * credentials; a takes its new version. */
	struct snapshot *next = load_text(TWO("\"strict\""), old, &d);
	ck_assert_ptr_nonnull(next);
	ck_assert_uint_eq(snapshot_domain_count(next), 2);
	const struct snapshot_domain *b = snapshot_find(next, "b.example");
	ck_assert_ptr_nonnull(b);
	/* The very entry of old, shared by reference. */
	ck_assert_ptr_eq(b, old_b);
	ck_assert(snapshot_find_problem(next, "b.example")->kept);
	ck_assert_str_eq(b->id, old_id);
	ck_assert_ptr_eq(tls_store_lookup(snapshot_tls(next),
		"mta-sts.b.example"), b);
	ck_assert_ptr_null(snapshot_find_problem(next, "a.example"));
	ck_assert_ptr_ne(snapshot_find(next, "a.example"),
		snapshot_find(old, "a.example"));
	/* The stamps that let two snapshots compare without lookups. */
	ck_assert(snapshot_domain_was_served_before(next, b));
	ck_assert(!snapshot_domain_was_served_before(next,
		snapshot_find(next, "a.example")));
	ck_assert(snapshot_domain_is_served_by(next, old_b));
	ck_assert(!snapshot_domain_is_served_by(next,
		snapshot_find(old, "a.example")));
	ck_assert_uint_eq(snapshot_problem_count(next), 1);
	ck_assert(snapshot_problem_at(next, 0)->kept);
	ck_assert_uint_eq(snapshot_not_served_count(next), 0);
	ck_assert(test_diag_has(&d, DIAG_WARNING, 2, "b.example: still serving "
		"its previous version (id"));

	/* The old snapshot goes (a reload swapped it out); b still works
	 * through the reference next holds on its entry. A third load,
	 * still broken, shares the same entry again. */
	snapshot_unref(old);
	ck_assert_str_eq(snapshot_find(next, "b.example")->body,
		"version: STSv1\r\nmode: testing\r\nmx: mx.b.example\r\n"
		"max_age: 604800\r\n");
	struct snapshot *third = load_text(TWO("\"strict\""), next, &d);
	ck_assert_ptr_nonnull(third);
	ck_assert_ptr_eq(snapshot_find(third, "b.example"),
		snapshot_find(next, "b.example"));
	snapshot_unref(next);
	ck_assert_str_eq(snapshot_find(third, "b.example")->id, old_id);
	snapshot_unref(third);
	diag_finish(&d);
}
END_TEST

/*
 * malloc_trim is interposed here (the test binary's definition wins over
 * libc's) to see which thread trims.
 */
static atomic_int trims;
static pthread_t trim_thread;

int malloc_trim(size_t pad);
int malloc_trim(size_t pad)
{
	(void)pad;
	trim_thread = pthread_self();
	atomic_fetch_add(&trims, 1);
	return 0;
}

static void *drop_last_reference(void *snap)
{
	snapshot_unref(snap);
	return NULL;
}

START_TEST(test_snapshot_trim_on_main_thread)
{
	struct diag d;
	diag_init(&d);
	int fd = snapshot_release_notifier();
	ck_assert_int_ge(fd, 0);
	snapshot_release_memory();
	atomic_store(&trims, 0);

	struct snapshot *snap = load("\"mail.example.com\"", NOW, false, &d);
	ck_assert_ptr_nonnull(snap);
	/* A worker drops the last reference, as a closing connection does. */
	pthread_t worker;
	ck_assert_int_eq(pthread_create(&worker, NULL, drop_last_reference,
		snap), 0);
	pthread_join(worker, NULL);
	ck_assert_int_eq(atomic_load(&trims), 0);

	/* The main thread hears of it and trims. */
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	snapshot_release_memory();
	ck_assert_int_eq(atomic_load(&trims), 1);
	ck_assert(pthread_equal(trim_thread, pthread_self()));
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	/* Nothing freed since: no second trim. */
	snapshot_release_memory();
	ck_assert_int_eq(atomic_load(&trims), 1);
	diag_finish(&d);
}
END_TEST

static Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("building");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_snapshot_renders_and_finds);
	tcase_add_test(tc, test_snapshot_invalid_config_reports_all);
	suite_add_tcase(s, tc);
	tc = tcase_create("isolation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_snapshot_isolates_domains);
	tcase_add_test(tc, test_snapshot_finds_problems_by_name);
	tcase_add_test(tc, test_snapshot_keeps_previous_version);
	suite_add_tcase(s, tc);
	tc = tcase_create("memory release");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_snapshot_trim_on_main_thread);
	suite_add_tcase(s, tc);
	tc = tcase_create("ids");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_snapshot_ids_follow_policy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(snapshot_suite());
}
