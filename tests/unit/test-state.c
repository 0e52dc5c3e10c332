/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/diag.h"
#include "config/state.h"
#include "testsupport.h"
#include "core/txt.h"

/* 2026-06-12 00:00:00 UTC: a fixed clock for every id. */
#define NOW ((time_t)1781222400)
/* Managed ids are the first 32 hex digits of the policy digest. */
#define STAMP "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "0123456789abcdef0123456789abcdef"
#define DAY 86400

#define HEADER "# mta-stsd state, do not edit\n"
#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIGEST_C "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *tmp;
static struct diag d;

static void setup(void)
{
	tmp = test_tmpdir();
	diag_init(&d);
}

static void teardown(void)
{
	diag_finish(&d);
	test_rmtree(tmp);
	free(tmp);
}

static char *path_in(const char *dir, const char *name)
{
	char *p = NULL;
	ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
	return p;
}

static struct state *open_ok(const char *dir)
{
	struct state *st = state_open(dir, &d);
	ck_assert_msg(st != NULL, "state_open(%s):%s", dir, test_diag_dump(&d));
	return st;
}

/* assign calls state_assign_id and insists that it succeeds. */
static const char *assign(struct state *st, const char *domain,
	const char *explicit_id, const char *digest, time_t now)
{
	static char out[TXT_ID_MAX + 1];
	int rc = state_assign_id(st, domain, explicit_id, digest, now, out, &d,
		"mta-stsd.conf", 12);
	ck_assert_msg(rc == 0, "%s:%s", domain, test_diag_dump(&d));
	return out;
}

/* Counts files in dir whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix)
{
	int n = 0;
	DIR *dh = opendir(dir);
	ck_assert_ptr_nonnull(dh);
	struct dirent *e;
	while ((e = readdir(dh)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)))
			n++;
	closedir(dh);
	return n;
}

START_TEST(test_persistence)
{
	struct state *st = open_ok(tmp);
	ck_assert_str_eq(state_directory(st), tmp);
	ck_assert_ptr_null(state_find_id(st, "example.org"));
	ck_assert(!state_ids_dirty(st));
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_A, NOW), STAMP);
	ck_assert_str_eq(assign(st, "example.com", "abc1", DIGEST_B, NOW),
		"abc1");
	ck_assert(state_ids_dirty(st));
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	ck_assert(!state_ids_dirty(st));
	state_destroy(st);

	/* Sorted by domain, header first, world-readable. */
	char *ids = path_in(tmp, "ids");
	char *text = test_read_file(ids, NULL);
	ck_assert_str_eq(text, HEADER
		"example.com abc1 " DIGEST_B " 1781222400\n"
		"example.org " STAMP " " DIGEST_A " 1781222400\n");
	struct stat sb;
	ck_assert_int_eq(stat(ids, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0644);
	ck_assert_int_eq(count_files(tmp, "ids."), 0);
	free(text);
	free(ids);

	st = open_ok(tmp);
	const struct state_record *r = state_find_id(st, "example.org");
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->domain, "example.org");
	ck_assert_str_eq(r->id, STAMP);
	ck_assert_str_eq(r->digest, DIGEST_A);
	ck_assert_int_eq(r->time, NOW);
	ck_assert_str_eq(state_find_id(st, "example.com")->id, "abc1");
	ck_assert_ptr_null(state_find_id(st, "example.net"));
	ck_assert_ptr_null(state_find_served(st, "example.org"));
	/* Unchanged policy a day later: same id, nothing to write. */
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_A, NOW + DAY),
		STAMP);
	ck_assert(!state_ids_dirty(st));
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
}
END_TEST

START_TEST(test_managed_ids)
{
	struct state *st = open_ok(tmp);
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_A, NOW), STAMP);
	/* A changed policy, whenever: the id of its digest. */
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_B, NOW), ID_B);
	/* Upper-case hex is the same digest, and the id is lower case. */
	ck_assert_str_eq(assign(st, "example.org", NULL,
		"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
		NOW), ID_B);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);

	st = open_ok(tmp);
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_B, NOW + DAY),
		ID_B);
	ck_assert(!state_ids_dirty(st));
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_C, NOW + DAY),
		ID_C);
	ck_assert(state_ids_dirty(st));
	ck_assert_int_eq(state_find_id(st, "example.org")->time, NOW + DAY);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);

	st = open_ok(tmp);
	ck_assert_str_eq(state_find_id(st, "example.org")->id, ID_C);
	ck_assert_str_eq(state_find_id(st, "example.org")->digest, DIGEST_C);
	state_destroy(st);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
}
END_TEST

/*
 * Two replicas with separate state directories, and one that kept a
 * time-stamp id from an earlier version: all agree on the id now.
 */
START_TEST(test_managed_ids_agree_without_shared_state)
{
	char *one = path_in(tmp, "one"), *two = path_in(tmp, "two");
	ck_assert_int_eq(mkdir(one, 0755), 0);
	ck_assert_int_eq(mkdir(two, 0755), 0);
	free(test_write_file(two, "ids", HEADER "example.org 20261206022457 "
		DIGEST_A " 1\n"));
	struct state *a = open_ok(one), *b = open_ok(two);
	char id_a[TXT_ID_MAX + 1];
	strcpy(id_a, assign(a, "example.org", NULL, DIGEST_A, NOW));
	ck_assert_str_eq(assign(b, "example.org", NULL, DIGEST_A, NOW + DAY),
		id_a);
	ck_assert_str_eq(id_a, STAMP);
	/* The replica that had the old id is told the id changes once. */
	ck_assert_msg(test_diag_has(&d, DIAG_NOTE, 12, "example.org: the "
		"policy is unchanged, but its managed id is now " STAMP),
		"%s", test_diag_dump(&d));
	ck_assert(state_ids_dirty(b));
	state_destroy(a);
	state_destroy(b);
	free(one);
	free(two);
}
END_TEST

#define UNCHANGED "example.org: the policy changed but its id v1 did not — " \
	"senders that cached the old policy keep using it until max_age " \
	"runs out: set a new id (mta-stsd txt --bump prints one) and publish " \
	"it in DNS"

START_TEST(test_explicit_ids)
{
	struct state *st = open_ok(tmp);
	ck_assert_str_eq(assign(st, "example.org", "v1", DIGEST_A, NOW), "v1");
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	ck_assert_int_eq(d.len, 0);

	/* Two runs with a changed policy and the same id: warned each time. */
	for (int run = 0; run < 2; run++) {
		st = open_ok(tmp);
		ck_assert_str_eq(assign(st, "example.org", "v1", DIGEST_B,
			NOW + DAY), "v1");
		ck_assert_msg(test_diag_has(&d, DIAG_WARNING, 12, UNCHANGED),
			"run %d:%s", run, test_diag_dump(&d));
		ck_assert_str_eq(d.items[0].file, "mta-stsd.conf");
		ck_assert_int_eq(d.warnings, 1);
		ck_assert_int_eq(d.errors, 0);
		/* The old digest stays, or the warning would stop. */
		ck_assert_str_eq(state_find_id(st, "example.org")->digest,
			DIGEST_A);
		ck_assert(!state_ids_dirty(st));
		ck_assert_int_eq(state_save_ids(st, &d), 0);
		state_destroy(st);
		diag_finish(&d);
		diag_init(&d);
	}

	/* A new id replaces the record; the warning is gone. */
	st = open_ok(tmp);
	ck_assert_str_eq(assign(st, "example.org", "v2", DIGEST_B, NOW + DAY),
		"v2");
	ck_assert(state_ids_dirty(st));
	ck_assert_str_eq(state_find_id(st, "example.org")->digest, DIGEST_B);
	ck_assert_str_eq(assign(st, "example.org", "v2", DIGEST_B, NOW + DAY),
		"v2");
	ck_assert_int_eq(d.len, 0);
	/* Dropping the explicit id: the managed one, the same everywhere,
	 * with a note that the id changes although the policy did not. */
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_B, NOW + DAY),
		ID_B);
	ck_assert_msg(test_diag_has(&d, DIAG_NOTE, 12, "instead of the stored "
		"v2"), "%s", test_diag_dump(&d));
	/* Then a change gets a managed id. */
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_A, NOW + DAY),
		STAMP);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	ck_assert_msg(d.len == 1 && d.errors == 0 && d.warnings == 0, "%s",
		test_diag_dump(&d));
}
END_TEST

static const struct {
	const char *domain, *id, *digest, *text;
} assign_error_cases[] = {
	{ "example.org", "a-b", DIGEST_A, "example.org: id \"a-b\" is not" },
	{ "example.org", "", DIGEST_A, "is not 1 to 32" },
	{ "example.org", NULL, "abc", "digest is not 64 hex digits" },
	{ "example.org", NULL, DIGEST_A "a", "digest is not 64 hex digits" },
	{ "example.org", NULL,
		"gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
		"digest is not 64 hex digits" },
	{ "exa mple.org", NULL, DIGEST_A, "cannot be stored" },
	{ "example.org\n", NULL, DIGEST_A, "cannot be stored" },
	{ "", NULL, DIGEST_A, "cannot be stored" },
};

START_TEST(test_assign_errors)
{
	struct state *st = open_ok(tmp);
	char out[TXT_ID_MAX + 1];
	ck_assert_int_eq(state_assign_id(st, assign_error_cases[_i].domain,
		assign_error_cases[_i].id, assign_error_cases[_i].digest, NOW,
		out, &d, "conf", 4), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 4,
		assign_error_cases[_i].text), "%s", test_diag_dump(&d));
	ck_assert(!state_ids_dirty(st));
	state_destroy(st);
}
END_TEST


START_TEST(test_missing_directory)
{
	char *dir = path_in(tmp, "nope");
	struct state *st = open_ok(dir);
	ck_assert_int_eq(d.len, 0);
	ck_assert_ptr_null(state_find_id(st, "example.org"));
	ck_assert_str_eq(assign(st, "example.org", NULL, DIGEST_A, NOW), STAMP);
	ck_assert_int_eq(state_save_ids(st, &d), -1);
	char want[512];
	snprintf(want, sizeof(want), "%s/ids: cannot create a temporary file: "
		"No such file or directory — create it: install -d -o mta-stsd "
		"-g mta-stsd %s, or set state_directory", dir, dir);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 0, want), "%s",
		test_diag_dump(&d));
	/* Still unsaved: a later save (after the fix) writes it. */
	ck_assert(state_ids_dirty(st));
	struct state_served rec = {
		.domain = "example.org", .id = STAMP, .digest = DIGEST_A,
		.time = NOW,
	};
	ck_assert_int_eq(state_save_served(st, &rec, 1, &d), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "/served: cannot create"));
	ck_assert_ptr_null(state_find_served(st, "example.org"));

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	ck_assert(!state_ids_dirty(st));
	state_destroy(st);
	free(dir);
}
END_TEST

START_TEST(test_unwritable_directory)
{
	/* A path below a regular file fails with ENOTDIR, even for root. */
	char *file = test_write_file(tmp, "file", "");
	char *dir = path_in(tmp, "file/state");
	struct state *st = open_ok(dir);
	assign(st, "example.org", NULL, DIGEST_A, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 0, "Not a directory — "),
		"%s", test_diag_dump(&d));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "or set state_directory"));
	state_destroy(st);
	free(dir);
	free(file);

	/* Permissions do not bind root, so only others test chmod 0500. */
	if (geteuid() == 0)
		return;
	diag_finish(&d);
	diag_init(&d);
	dir = path_in(tmp, "ro");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	free(test_write_file(dir, "ids", HEADER "example.org 1 " DIGEST_A
		" 1\n"));
	ck_assert_int_eq(chmod(dir, 0500), 0);
	st = open_ok(dir);
	assign(st, "example.org", NULL, DIGEST_B, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 0, "Permission denied — "
		"run as root or the service user, or fix the owner of"), "%s",
		test_diag_dump(&d));
	state_destroy(st);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	char *ids = path_in(dir, "ids");
	char *text = test_read_file(ids, NULL);
	ck_assert_str_eq(text, HEADER "example.org 1 " DIGEST_A " 1\n");
	free(text);
	free(ids);
	free(dir);
}
END_TEST

/* 63 letters: four and a letter make a 254-byte name, one too long. */
#define LONG_LABEL "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"

static const struct {
	const char *line;
	const char *why;
} malformed_cases[] = {
	{ "example.org abc", "expected 4 fields" },
	{ "example.org 1 " DIGEST_A " 1 extra", "expected 4 fields" },
	{ "example.org  1 " DIGEST_A " 1", "expected 4 fields" },
	{ "example.org a-b " DIGEST_A " 1", "the id is not" },
	{ "example.org 1 " DIGEST_A "0 1", "digest is not 64 hex" },
	{ "example.org 1 xyz 1", "digest is not 64 hex" },
	{ "example.org 1 " DIGEST_A " x", "time is not" },
	{ "example.org 1 " DIGEST_A " -5", "time is not" },
	{ "example.org 1 " DIGEST_A " 99999999999999999999", "time is not" },
	{ "example.org 1 " DIGEST_A " 1\r", "time is not" },
	{ "example.com 1 " DIGEST_A " 1", "example.com is listed twice" },
	/* An id like a managed one does not make a bad digest good. */
	{ "example.org gggggggggggggggggggggggggggggggg "
		"gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg 1",
		"digest is not 64 hex" },
	{ "example.org aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa " DIGEST_A " 1",
		"the id is not" },
	{ "exam\x7fple.org 1 " DIGEST_A " 1", "the domain is empty" },
	{ "a" LONG_LABEL "." LONG_LABEL "." LONG_LABEL "." LONG_LABEL
		"x 1 " DIGEST_A " 1", "the domain is empty" },
};

START_TEST(test_serving_does_not_read_served)
{
	free(test_write_file(tmp, "ids", HEADER "example.com 1 " DIGEST_A
		" 1\n"));
	free(test_write_file(tmp, "served", HEADER "not a record\n"));
	ck_assert_ptr_null(state_open(tmp, &d));
	diag_finish(&d);
	diag_init(&d);
	/* The daemon replaces served; it needs the ids only. */
	struct state *st = state_open_for_serving(tmp, &d);
	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(state_find_id(st, "example.com"));
	ck_assert_ptr_null(state_find_served(st, "example.com"));
	/* It writes served (digests in lower case), and keeps no copy. */
	struct state_served rec = {
		.domain = "example.com", .id = "1", .time = NOW,
		.digest = "0123456789ABCDEF0123456789abcdef"
			"0123456789abcdef0123456789ABCDEF",
	};
	ck_assert_int_eq(state_save_served(st, &rec, 1, &d), 0);
	ck_assert_ptr_null(state_find_served(st, "example.com"));
	state_destroy(st);
	char *served = path_in(tmp, "served");
	char *text = test_read_file(served, NULL);
	ck_assert_str_eq(text, HEADER "example.com 1 " DIGEST_C
		" 1781222400\n");
	free(text);
	free(served);
}
END_TEST

/* A file edited by hand may be out of order: still read, written sorted. */
START_TEST(test_unsorted_file)
{
	free(test_write_file(tmp, "ids", HEADER
		"c.example 3 " DIGEST_A " 3\n"
		"a.example 1 " DIGEST_A " 1\n"
		"B.example 2 " DIGEST_B " 2\n"
		"b.example " ID_C " " "0123456789ABCDEF0123456789abcdef"
			"0123456789abcdef0123456789abcdef 4\n"));
	struct state *st = open_ok(tmp);
	ck_assert_str_eq(state_find_id(st, "a.example")->id, "1");
	ck_assert_str_eq(state_find_id(st, "B.example")->id, "2");
	ck_assert_str_eq(state_find_id(st, "c.example")->id, "3");
	/* Digests are kept in lower case. */
	ck_assert_str_eq(state_find_id(st, "b.example")->digest, DIGEST_C);
	assign(st, "0.example", NULL, DIGEST_B, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	char *ids = path_in(tmp, "ids");
	char *text = test_read_file(ids, NULL);
	ck_assert_str_eq(text, HEADER
		"0.example " ID_B " " DIGEST_B " 1781222400\n"
		"B.example 2 " DIGEST_B " 2\n"
		"a.example 1 " DIGEST_A " 1\n"
		"b.example " ID_C " " DIGEST_C " 4\n"
		"c.example 3 " DIGEST_A " 3\n");
	free(text);

	/* A name twice, apart: reported at its second line. */
	free(test_write_file(tmp, "ids", HEADER
		"b.example 1 " DIGEST_A " 1\n"
		"a.example 1 " DIGEST_A " 1\n"
		"c.example 1 " DIGEST_A " 1\n"
		"a.example 2 " DIGEST_A " 1\n"));
	ck_assert_ptr_null(state_open(tmp, &d));
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 5, "a.example is listed "
		"twice"), "%s", test_diag_dump(&d));
	ck_assert_int_eq(d.errors, 1);
	free(ids);
}
END_TEST

START_TEST(test_malformed)
{
	char buf[512];
	snprintf(buf, sizeof(buf), HEADER "example.com 1 " DIGEST_A " 1\n"
		"# a comment is fine\n\n%s\n", malformed_cases[_i].line);
	char *ids = test_write_file(tmp, "ids", buf);
	ck_assert_ptr_null(state_open(tmp, &d));
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 5, malformed_cases[_i].why),
		"%s", test_diag_dump(&d));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 5,
		"— delete the file; mta-stsd will assign new ids"));
	ck_assert_int_eq(d.errors, 1);
	ck_assert_str_eq(d.items[0].file, ids);
	free(ids);
}
END_TEST

START_TEST(test_malformed_all_reported)
{
	char *served = test_write_file(tmp, "served", HEADER "a\nb\n");
	char *ids = test_write_file(tmp, "ids", "x\n");
	ck_assert_ptr_null(state_open(tmp, &d));
	ck_assert_int_eq(d.errors, 3);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 1, "will assign new ids"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 2, "writes it again"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 3, "writes it again"));
	free(served);
	free(ids);
}
END_TEST

START_TEST(test_unreadable)
{
	/* A directory where the file should be: read() fails, even as root. */
	char *ids = path_in(tmp, "ids");
	ck_assert_int_eq(mkdir(ids, 0700), 0);
	ck_assert_ptr_null(state_open(tmp, &d));
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 0, "/ids: cannot read: Is a "
		"directory — "), "%s", test_diag_dump(&d));
	free(ids);
}
END_TEST

/*
 * A save that fails half-way (the file size limit stops the write) must
 * leave the old file as it was and no temporary file behind.
 */
START_TEST(test_failed_save_keeps_old_file)
{
	struct state *st = open_ok(tmp);
	assign(st, "example.org", NULL, DIGEST_A, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	char *ids = path_in(tmp, "ids");
	char *before = test_read_file(ids, NULL);

	assign(st, "example.com", NULL, DIGEST_B, NOW);
	struct rlimit old, small = { .rlim_cur = 16 };
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	void (*handler)(int) = signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = state_save_ids(st, &d);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, handler);

	ck_assert_int_eq(rc, -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 0, "/ids: cannot write: "
		"File too large — raise the file size limit"), "%s",
		test_diag_dump(&d));
	char *after = test_read_file(ids, NULL);
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(count_files(tmp, "ids."), 0);
	ck_assert(state_ids_dirty(st));

	/* Once the cause is gone the same state saves. */
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	st = open_ok(tmp);
	ck_assert_str_eq(state_find_id(st, "example.com")->id, ID_B);
	ck_assert_str_eq(state_find_id(st, "example.org")->id, STAMP);
	state_destroy(st);
	free(after);
	free(before);
	free(ids);
}
END_TEST

START_TEST(test_served)
{
	struct state *st = open_ok(tmp);
	struct state_served recs[] = {
		{ .domain = "example.org", .id = "2", .digest = DIGEST_B,
			.time = NOW },
		{ .domain = "example.com", .id = "1", .digest = DIGEST_A,
			.time = NOW - 1 },
	};
	ck_assert_int_eq(state_save_served(st, recs, 2, &d), 0);
	ck_assert_str_eq(state_find_served(st, "example.com")->id, "1");
	/* The caller's records are copied, not kept. */
	char nine[] = "9";
	recs[0].id = nine;
	ck_assert_str_eq(state_find_served(st, "example.org")->id, "2");
	state_destroy(st);

	char *served = path_in(tmp, "served");
	char *text = test_read_file(served, NULL);
	ck_assert_str_eq(text, HEADER
		"example.com 1 " DIGEST_A " 1781222399\n"
		"example.org 2 " DIGEST_B " 1781222400\n");

	/* A bad record or a domain twice: error, file and memory unchanged. */
	st = open_ok(tmp);
	struct state_served bad[] = {
		{ .domain = "example.net", .id = "1", .digest = DIGEST_A },
		{ .domain = "example.net", .id = "2", .digest = DIGEST_A },
		{ .domain = "example.com", .id = "a-b", .digest = DIGEST_A },
	};
	ck_assert_int_eq(state_save_served(st, bad, 2, &d), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "example.net is served "
		"twice"));
	ck_assert_int_eq(state_save_served(st, bad + 2, 1, &d), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "for \"example.com\" is "
		"invalid"));
	ck_assert_str_eq(state_find_served(st, "example.org")->id, "2");
	ck_assert_ptr_null(state_find_served(st, "example.net"));
	char *again = test_read_file(served, NULL);
	ck_assert_str_eq(again, text);

	/* Nothing served: the file keeps only its header. */
	ck_assert_int_eq(state_save_served(st, NULL, 0, &d), 0);
	ck_assert_ptr_null(state_find_served(st, "example.org"));
	state_destroy(st);
	free(again);
	again = test_read_file(served, NULL);
	ck_assert_str_eq(again, HEADER);
	free(again);
	free(text);
	free(served);
}
END_TEST

/* Hosting providers carry 10,000+ domains; insert in reverse order. */
START_TEST(test_many_domains)
{
	enum { N = 10000 };
	struct state *st = open_ok(tmp);
	char domain[64];
	for (int i = N - 1; i >= 0; i--) {
		snprintf(domain, sizeof(domain), "d%05d.example", i);
		assign(st, domain, NULL, DIGEST_A, NOW);
	}
	/* Found before saving too, merged or still in the appended tail. */
	for (int i = 0; i < N; i += 997) {
		snprintf(domain, sizeof(domain), "d%05d.example", i);
		ck_assert_ptr_nonnull(state_find_id(st, domain));
	}
	ck_assert_ptr_null(state_find_id(st, "d99999.example"));
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	/* Served records in any order are written sorted, each once. */
	static struct state_served served[N];
	static char names[N][32];
	char id[TXT_ID_MAX + 1];
	state_managed_id(DIGEST_A, id);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "d%05d.example",
			(i * 7919) % N);
		served[i] = (struct state_served){ .domain = names[i],
			.id = id, .digest = DIGEST_A, .time = NOW };
	}
	ck_assert_msg(state_save_served(st, served, N, &d) == 0, "%s",
		test_diag_dump(&d));
	state_destroy(st);

	st = open_ok(tmp);
	for (int i = 0; i < N; i++) {
		snprintf(domain, sizeof(domain), "d%05d.example", i);
		const struct state_record *r = state_find_id(st, domain);
		ck_assert_ptr_nonnull(r);
		ck_assert_str_eq(r->domain, domain);
	}
	ck_assert_ptr_null(state_find_id(st, "d10000.example"));
	ck_assert_ptr_null(state_find_id(st, "a.example"));
	ck_assert_ptr_null(state_find_id(st, "z.example"));
	state_destroy(st);

	for (const char *const *name = (const char *const[]){ "ids",
			"served", NULL }; *name; name++) {
		char *path = path_in(tmp, *name);
		char *text = test_read_file(path, NULL);
		ck_assert(strncmp(text, HEADER "d00000.example ",
			strlen(HEADER) + 15) == 0);
		free(text);
		free(path);
	}
	st = open_ok(tmp);
	ck_assert_ptr_nonnull(state_find_served(st, "d09999.example"));
	state_destroy(st);
}
END_TEST

/* open_some calls state_open_for_domains and insists that it succeeds. */
static struct state *open_some(const char *dir, const char *const *names,
	size_t count)
{
	struct state *st = state_open_for_domains(dir, names, count, &d);
	ck_assert_msg(st != NULL, "open_for_domains(%s):%s", dir,
		test_diag_dump(&d));
	return st;
}

/*
 * A reload reads the ids of the domains that changed only, and saving
 * writes every other line back as it was, byte for byte.
 */
START_TEST(test_domains_only)
{
	/* Times and a digest in upper case that a rewrite would change. */
	free(test_write_file(tmp, "ids", HEADER
		"a.example 1 " DIGEST_A " 11\n"
		"b.example abc1 " DIGEST_B " 12\n"
		"c.example " ID_C " 0123456789ABCDEF0123456789abcdef"
			"0123456789abcdef0123456789abcdef 13\n"
		"e.example 5 " DIGEST_A " 15\n"));
	const char *names[] = {"e.example", "d.example", "b.example"};
	struct state *st = open_some(tmp, names, 3);
	ck_assert_ptr_null(state_find_id(st, "a.example"));
	ck_assert_ptr_null(state_find_id(st, "c.example"));
	ck_assert_str_eq(state_find_id(st, "b.example")->id, "abc1");
	ck_assert_str_eq(state_find_id(st, "e.example")->id, "5");
	/* The same explicit id with another policy: still warned about. */
	assign(st, "b.example", "abc1", DIGEST_A, NOW);
	ck_assert(test_diag_has(&d, DIAG_WARNING, 12, "the policy changed "
		"but its id abc1 did not"));
	ck_assert(!state_ids_dirty(st));
	assign(st, "d.example", NULL, DIGEST_B, NOW);
	assign(st, "e.example", NULL, DIGEST_B, NOW);
	ck_assert(state_ids_dirty(st));
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	char *ids = path_in(tmp, "ids");
	char *text = test_read_file(ids, NULL);
	ck_assert_str_eq(text, HEADER
		"a.example 1 " DIGEST_A " 11\n"
		"b.example abc1 " DIGEST_B " 12\n"
		"c.example " ID_C " 0123456789ABCDEF0123456789abcdef"
			"0123456789abcdef0123456789abcdef 13\n"
		"d.example " ID_B " " DIGEST_B " 1781222400\n"
		"e.example " ID_B " " DIGEST_B " 1781222400\n");
	free(text);

	/* The file reads whole as before. */
	st = open_ok(tmp);
	ck_assert_str_eq(state_find_id(st, "c.example")->digest, DIGEST_C);
	ck_assert_str_eq(state_find_id(st, "d.example")->id, ID_B);
	state_destroy(st);
	free(ids);
}
END_TEST

/* Lines out of order (edited by hand) are each written once. */
START_TEST(test_domains_only_unsorted)
{
	free(test_write_file(tmp, "ids", HEADER
		"c.example 3 " DIGEST_A " 3\n"
		"# a comment goes\n"
		"a.example 1 " DIGEST_A " 1\n"
		"b.example 2 " DIGEST_A " 2\n"));
	const char *names[] = {"b.example", "0.example"};
	struct state *st = open_some(tmp, names, 2);
	assign(st, "b.example", NULL, DIGEST_B, NOW);
	assign(st, "0.example", NULL, DIGEST_B, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	char *ids = path_in(tmp, "ids");
	char *text = test_read_file(ids, NULL);
	ck_assert_str_eq(text, HEADER
		"0.example " ID_B " " DIGEST_B " 1781222400\n"
		"b.example " ID_B " " DIGEST_B " 1781222400\n"
		"c.example 3 " DIGEST_A " 3\n"
		"a.example 1 " DIGEST_A " 1\n");
	free(text);
	free(ids);
}
END_TEST

/*
 * Only the lines asked for are parsed: a bad one of theirs is reported at
 * its line, another is left for the next start to report; with nothing
 * asked for the file is not read at all. No file: the ids start afresh.
 */
START_TEST(test_domains_only_reads_little)
{
	char *ids = test_write_file(tmp, "ids", HEADER
		"a.example 1 " DIGEST_A " 1\n"
		"b.example 1\n"
		"c.example 1 " DIGEST_A " x\n");
	const char *a[] = {"a.example"}, *c[] = {"c.example"};
	struct state *st = open_some(tmp, a, 1);
	ck_assert_int_eq(d.errors, 0);
	state_destroy(st);
	ck_assert_ptr_null(state_open_for_domains(tmp, c, 1, &d));
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 4, "the time is not"),
		"%s", test_diag_dump(&d));
	ck_assert_int_eq(d.errors, 1);

	/* A NUL in a line's domain: not the domain asked for. */
	static const char nul[] = HEADER "a.example\0x 1 " DIGEST_A " 1\n";
	FILE *f = fopen(ids, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
	ck_assert_int_eq(fclose(f), 0);
	st = open_some(tmp, a, 1);
	ck_assert_ptr_null(state_find_id(st, "a.example"));
	state_destroy(st);

	ck_assert_int_eq(chmod(ids, 0), 0);
	if (access(ids, R_OK) < 0) {	/* not as root */
		st = open_some(tmp, NULL, 0);
		ck_assert_int_eq(state_save_ids(st, &d), 0);
		state_destroy(st);
		ck_assert_ptr_null(state_open_for_domains(tmp, a, 1, &d));
		ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "cannot read"));
	}
	ck_assert_int_eq(unlink(ids), 0);
	st = open_some(tmp, a, 1);
	ck_assert_ptr_null(state_find_id(st, "a.example"));
	assign(st, "a.example", NULL, DIGEST_A, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	char *text = test_read_file(ids, NULL);
	ck_assert_str_eq(text, HEADER
		"a.example " STAMP " " DIGEST_A " 1781222400\n");
	free(text);
	free(ids);
}
END_TEST

/* 10,000 lines through the 64 KiB pieces: one changed, one added. */
START_TEST(test_domains_only_many)
{
	enum { N = 10000 };
	struct state *st = open_ok(tmp);
	char domain[64];
	for (int i = 0; i < N; i++) {
		snprintf(domain, sizeof(domain), "d%05d.example", i);
		assign(st, domain, NULL, DIGEST_A, NOW - i);
	}
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	char *ids = path_in(tmp, "ids");
	char *before = test_read_file(ids, NULL);

	const char *names[] = {"d05000.example", "d99999.example"};
	st = open_some(tmp, names, 2);
	ck_assert_ptr_nonnull(state_find_id(st, "d05000.example"));
	ck_assert_ptr_null(state_find_id(st, "d04999.example"));
	assign(st, "d05000.example", NULL, DIGEST_B, NOW);
	assign(st, "d99999.example", NULL, DIGEST_C, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);

	/* The same as saving the whole table after the same two changes. */
	st = open_ok(tmp);
	ck_assert_str_eq(state_find_id(st, "d05000.example")->id, ID_B);
	ck_assert_str_eq(state_find_id(st, "d99999.example")->id, ID_C);
	assign(st, "d05000.example", NULL, DIGEST_A, NOW - 5000);
	assign(st, "d99999.example", NULL, DIGEST_A, NOW);
	ck_assert_int_eq(state_save_ids(st, &d), 0);
	state_destroy(st);
	char *after = test_read_file(ids, NULL);
	/* Back to DIGEST_A, plus the new line at the end. */
	size_t len = strlen(before);
	ck_assert_int_eq(strncmp(after, before, len), 0);
	ck_assert_str_eq(after + len, "d99999.example " STAMP " " DIGEST_A
		" 1781222400\n");
	free(before);
	free(after);
	free(ids);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc;

	tc = tcase_create("persistence");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_persistence);
	tcase_add_test(tc, test_serving_does_not_read_served);
	tcase_add_test(tc, test_unsorted_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("a reload's changed domains only");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_domains_only);
	tcase_add_test(tc, test_domains_only_unsorted);
	tcase_add_test(tc, test_domains_only_reads_little);
	tcase_add_test(tc, test_domains_only_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("managed ids");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_managed_ids);
	tcase_add_test(tc, test_managed_ids_agree_without_shared_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("explicit ids");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_explicit_ids);
	suite_add_tcase(s, tc);

	tc = tcase_create("assign errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_assign_errors, 0,
		sizeof(assign_error_cases) / sizeof(assign_error_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("missing directory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_missing_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("unwritable directory");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unwritable_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_malformed, 0,
		sizeof(malformed_cases) / sizeof(malformed_cases[0]));
	tcase_add_test(tc, test_malformed_all_reported);
	tcase_add_test(tc, test_unreadable);
	suite_add_tcase(s, tc);

	tc = tcase_create("failed save");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_failed_save_keeps_old_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("served file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_served);
	suite_add_tcase(s, tc);

	tc = tcase_create("many domains");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_many_domains);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return test_run(state_suite());
}
