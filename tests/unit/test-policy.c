/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"
#include "core/policy.h"
#include "testsupport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define CRLF "\r\n"
#define V "version: STSv1" CRLF
#define M "mode: enforce" CRLF
#define X "mx: mail.example.com" CRLF
#define A "max_age: 1209600" CRLF
#define GOOD V M X A

/* How many items of d carry code? */
static size_t count_code(const struct diag *d, const char *code)
{
	size_t n = 0;
	for (size_t i = 0; i < d->len; i++) {
		if (d->items[i].code && !strcmp(d->items[i].code, code))
			n++;
	}
	return n;
}

static void build(struct policy *p, enum policy_mode mode, uint32_t max_age,
	const char *const *mx)
{
	policy_init(p);
	p->mode = mode;
	p->max_age = max_age;
	for (; mx && *mx; mx++)
		ck_assert_int_eq(policy_add_mx(p, *mx), 0);
}

/* ---- mode names ---------------------------------------------------- */

struct mode_case {
	const char *text;
	bool ok;
	enum policy_mode mode;
};

static const struct mode_case mode_cases[] = {
	{ "enforce", true, POLICY_MODE_ENFORCE },
	{ "testing", true, POLICY_MODE_TESTING },
	{ "none", true, POLICY_MODE_NONE },
	{ "Enforce", false, 0 },
	{ "ENFORCE", false, 0 },
	{ "enforce ", false, 0 },
	{ " none", false, 0 },
	{ "test", false, 0 },
	{ "", false, 0 },
	{ "reject", false, 0 },
};

START_TEST(test_mode_parse)
{
	const struct mode_case *c = &mode_cases[_i];
	enum policy_mode mode = POLICY_MODE_TESTING;
	ck_assert_int_eq(policy_mode_parse(c->text, &mode), c->ok);
	if (c->ok) {
		ck_assert_int_eq(mode, c->mode);
		ck_assert_str_eq(policy_mode_name(mode), c->text);
	}
}
END_TEST

/* ---- lifecycle ----------------------------------------------------- */

START_TEST(test_lifecycle)
{
	struct policy p = {0};
	policy_finish(&p);
	policy_finish(NULL);

	const char *mx[] = { "Mail.Example.COM.", "*.MX.example.com",
		"a.b.", ".", "", NULL };
	build(&p, POLICY_MODE_TESTING, 86400, mx);
	ck_assert_uint_eq(p.mx_count, 5);
	ck_assert_str_eq(p.mx[0], "mail.example.com");
	ck_assert_str_eq(p.mx[1], "*.mx.example.com");
	ck_assert_str_eq(p.mx[2], "a.b");
	ck_assert_str_eq(p.mx[3], ".");
	ck_assert_str_eq(p.mx[4], "");

	struct policy q;
	policy_init(&q);
	const char *old[] = { "old.example.com", NULL };
	build(&q, POLICY_MODE_NONE, 1, old);
	ck_assert_int_eq(policy_copy(&q, &p), 0);
	ck_assert_int_eq(q.mode, POLICY_MODE_TESTING);
	ck_assert_uint_eq(q.max_age, 86400);
	ck_assert_uint_eq(q.mx_count, 5);
	for (size_t i = 0; i < p.mx_count; i++) {
		ck_assert_str_eq(q.mx[i], p.mx[i]);
		ck_assert_ptr_ne(q.mx[i], p.mx[i]);
	}
	policy_finish(&p);
	ck_assert_uint_eq(p.mx_count, 0);
	ck_assert_ptr_null(p.mx);
	ck_assert_str_eq(q.mx[0], "mail.example.com");
	policy_finish(&q);
	policy_finish(&q);
}
END_TEST

/* ---- render -------------------------------------------------------- */

struct render_case {
	enum policy_mode mode;
	uint32_t max_age;
	const char *mx[4];
	const char *want;
};

static const struct render_case render_cases[] = {
	{ POLICY_MODE_ENFORCE, 1209600, { "mail.example.com", NULL },
		"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
		"max_age: 1209600\r\n" },
	{ POLICY_MODE_TESTING, 0, { "b.example.com", "A.example.com.",
		"*.mx.example.com", NULL },
		"version: STSv1\r\nmode: testing\r\nmx: b.example.com\r\n"
		"mx: a.example.com\r\nmx: *.mx.example.com\r\nmax_age: 0\r\n" },
	{ POLICY_MODE_NONE, 31557600, { "mail.example.com", NULL },
		"version: STSv1\r\nmode: none\r\nmx: mail.example.com\r\n"
		"max_age: 31557600\r\n" },
	{ POLICY_MODE_NONE, 86400, { NULL },
		"version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n" },
	{ POLICY_MODE_ENFORCE, UINT32_MAX, { "m.example", NULL },
		"version: STSv1\r\nmode: enforce\r\nmx: m.example\r\n"
		"max_age: 4294967295\r\n" },
};

START_TEST(test_render)
{
	const struct render_case *c = &render_cases[_i];
	struct policy p;
	build(&p, c->mode, c->max_age, c->mx);
	size_t len = 0;
	char *body = policy_render(&p, &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len, strlen(c->want));
	ck_assert_str_eq(body, c->want);
	free(body);
	body = policy_render(&p, NULL);
	ck_assert_str_eq(body, c->want);
	free(body);
	policy_finish(&p);
}
END_TEST

/* What we render must lint clean and parse back to the same policy. */
START_TEST(test_render_roundtrip)
{
	const char *mx[] = { "mail.example.com", "*.mx.example.net",
		"backup.example.org", NULL };
	struct policy p, q;
	build(&p, POLICY_MODE_ENFORCE, 1209600, mx);
	policy_init(&q);
	size_t len;
	char *body = policy_render(&p, &len);
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(body, len, "rendered", &q, &d), 0);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
	ck_assert_int_eq(q.mode, p.mode);
	ck_assert_uint_eq(q.max_age, p.max_age);
	ck_assert_uint_eq(q.mx_count, p.mx_count);
	for (size_t i = 0; i < p.mx_count; i++)
		ck_assert_str_eq(q.mx[i], p.mx[i]);
	free(body);
	diag_finish(&d);
	policy_finish(&p);
	policy_finish(&q);
}
END_TEST

START_TEST(test_mx_matches)
{
	const char *mx[] = { "mail.example.com", "*.mx.example.net", NULL };
	struct policy p;
	build(&p, POLICY_MODE_ENFORCE, 1209600, mx);
	ck_assert(policy_mx_matches(&p, "mail.example.com"));
	ck_assert(policy_mx_matches(&p, "MAIL.example.com."));
	ck_assert(policy_mx_matches(&p, "a.mx.example.net"));
	ck_assert(!policy_mx_matches(&p, "mx.example.net"));
	ck_assert(!policy_mx_matches(&p, "a.b.mx.example.net"));
	ck_assert(!policy_mx_matches(&p, "mail2.example.com"));
	policy_finish(&p);
	build(&p, POLICY_MODE_NONE, 1209600, NULL);
	ck_assert(!policy_mx_matches(&p, "mail.example.com"));
	policy_finish(&p);
}
END_TEST

/* ---- validate ------------------------------------------------------ */

/*
 * One configured policy and one finding expected from policy_validate;
 * severity -1 means "no finding at all".
 */
struct validate_case {
	enum policy_mode mode;
	uint32_t max_age;
	const char *mx[4];
	int rc;
	int severity;
	const char *code;
	const char *text;
};

#define MX1 { "mail.example.com", NULL }

static const struct validate_case max_age_cases[] = {
	{ POLICY_MODE_ENFORCE, 1209600, MX1, 0, -1, NULL, NULL },
	{ POLICY_MODE_ENFORCE, 604800, MX1, 0, -1, NULL, NULL },
	{ POLICY_MODE_ENFORCE, 31557600, MX1, 0, -1, NULL, NULL },
	{ POLICY_MODE_ENFORCE, 31557601, MX1, -1, DIAG_ERROR, "max-age-range",
		"max_age 31557601 is above" },
	{ POLICY_MODE_TESTING, UINT32_MAX, MX1, -1, DIAG_ERROR,
		"max-age-range", "at most 31557600" },
	{ POLICY_MODE_ENFORCE, 604799, MX1, 0, DIAG_WARNING,
		"max-age-short-enforce", "e.g. 1209600 or more" },
	{ POLICY_MODE_ENFORCE, 86400, MX1, 0, DIAG_WARNING,
		"max-age-short-enforce", "under a week" },
	{ POLICY_MODE_ENFORCE, 0, MX1, 0, DIAG_WARNING,
		"max-age-short-enforce", "max_age 0 (0 seconds) is under a week" },
	{ POLICY_MODE_ENFORCE, 3600, MX1, 0, DIAG_WARNING,
		"max-age-short-enforce", "max_age 3600 (1 hour) is under a week" },
	{ POLICY_MODE_TESTING, 86400, MX1, 0, -1, NULL, NULL },
	{ POLICY_MODE_TESTING, 86399, MX1, 0, DIAG_WARNING, "max-age-short",
		"86399 (23 hours, 59 minutes, 59 seconds) is under a day" },
	{ POLICY_MODE_NONE, 0, MX1, 0, DIAG_WARNING, "max-age-short",
		"under a day" },
	{ POLICY_MODE_NONE, 3600, MX1, 0, DIAG_WARNING, "max-age-short",
		"use at least 86400" },
};

static const struct validate_case mx_cases[] = {
	{ POLICY_MODE_ENFORCE, 1209600, { NULL }, -1, DIAG_ERROR,
		"mx-missing", "example.com: the policy has no mx" },
	{ POLICY_MODE_TESTING, 1209600, { NULL }, -1, DIAG_ERROR,
		"mx-missing", "mode testing" },
	{ POLICY_MODE_NONE, 1209600, { NULL }, -1, DIAG_ERROR, "mx-missing",
		"Stalwart" },
	{ POLICY_MODE_NONE, 1209600, { NULL }, -1, DIAG_ERROR, "mx-missing",
		"allows an mx-less `mode: none` policy" },
	{ POLICY_MODE_ENFORCE, 1209600, { "mail.example.com..", NULL }, -1,
		DIAG_ERROR, "mx-trailing-dot", "remove the final '.': mx: "
		"mail.example.com" },
	{ POLICY_MODE_ENFORCE, 1209600, { "192.0.2.1", NULL }, -1, DIAG_ERROR,
		"mx-ipv4", "mx \"192.0.2.1\" is an IPv4 address" },
	{ POLICY_MODE_ENFORCE, 1209600, { "[192.0.2.1]", NULL }, -1,
		DIAG_ERROR, "mx-address-literal", "address literal" },
	{ POLICY_MODE_ENFORCE, 1209600, { "mail.example.com:25", NULL }, -1,
		DIAG_ERROR, "mx-port", "remove the ':' and the port; MX hosts "
		"are always reached on port 25: mx: mail.example.com" },
	{ POLICY_MODE_ENFORCE, 1209600, { "_mx.example.com", NULL }, -1,
		DIAG_ERROR, "mx-underscore", "contains '_'" },
	{ POLICY_MODE_ENFORCE, 1209600, { "b\xc3\xbc" "cher.example", NULL },
		-1, DIAG_ERROR, "mx-ulabel", "mx \"b\\xc3\\xbccher.example\" "
		"contains non-ASCII characters (a U-label) — write it as its "
		"xn-- A-label (punycode), e.g. with `idn2`" },
	{ POLICY_MODE_ENFORCE, 1209600, { "mail", NULL }, -1, DIAG_ERROR,
		"mx-single-label", "single label" },
	{ POLICY_MODE_ENFORCE, 1209600, { "", NULL }, -1, DIAG_ERROR,
		"mx-empty", "mx \"\" is empty" },
	{ POLICY_MODE_ENFORCE, 1209600, { "mail.*.example.com", NULL }, -1,
		DIAG_ERROR, "mx-bad-wildcard", "*.mx.example.com" },
	{ POLICY_MODE_ENFORCE, 1209600, { "*.com", NULL }, -1, DIAG_ERROR,
		"mx-bad-wildcard", "uses '*'" },
	{ POLICY_MODE_ENFORCE, 1209600, { "-mx.example.com", NULL }, -1,
		DIAG_ERROR, "mx-hyphen-edge", "'-'" },
	{ POLICY_MODE_ENFORCE, 1209600, { "mx\x01.example.com", NULL }, -1,
		DIAG_ERROR, "mx-bad-char", "mx \"mx\\x01.example.com\"" },
	{ POLICY_MODE_ENFORCE, 1209600, { "a.example.com", "A.EXAMPLE.COM.",
		NULL }, 0, DIAG_WARNING, "mx-duplicate",
		"mx \"a.example.com\" is listed more than once" },
	{ POLICY_MODE_ENFORCE, 1209600, { "*.example.com", NULL }, 0,
		DIAG_WARNING, "mx-shallow-wildcard", "RFC 8461 §10.4" },
	{ POLICY_MODE_ENFORCE, 1209600, { "*.example.co.uk", NULL }, 0,
		DIAG_WARNING, "mx-shallow-wildcard", "example.co.uk" },
	{ POLICY_MODE_ENFORCE, 1209600, { "*.mx.example.com", NULL }, 0, -1,
		NULL, NULL },
	{ POLICY_MODE_NONE, 1209600, { "mail.example.com", NULL }, 0, -1,
		NULL, NULL },
	{ POLICY_MODE_ENFORCE, 1209600, { "mail.example.com",
		"backup.example.com", "*.mx.example.net", NULL }, 0, -1, NULL,
		NULL },
};

static void run_validate(const struct validate_case *c)
{
	struct policy p;
	build(&p, c->mode, c->max_age, c->mx);
	struct diag d = {0};
	int rc = policy_validate(&p, "example.com", &d, "/etc/m.conf", 7);
	ck_assert_msg(rc == c->rc, "rc %d: %s", rc, test_diag_dump(&d));
	if (c->severity < 0) {
		ck_assert_msg(d.len == 0, "unexpected: %s", test_diag_dump(&d));
	} else {
		ck_assert_msg(test_diag_has(&d, c->severity, 7, c->text),
			"want \"%s\" in: %s", c->text, test_diag_dump(&d));
		ck_assert_msg(count_code(&d, c->code) == 1, "want one %s: %s",
			c->code, test_diag_dump(&d));
		ck_assert_str_eq(d.items[0].file, "/etc/m.conf");
		for (size_t i = 0; i < d.len; i++) {
			ck_assert_ptr_nonnull(strstr(d.items[i].message, " — "));
			ck_assert_ptr_nonnull(strstr(d.items[i].message,
				"example.com: "));
		}
	}
	diag_finish(&d);
	policy_finish(&p);
}

START_TEST(test_validate_max_age)
{
	run_validate(&max_age_cases[_i]);
}
END_TEST

START_TEST(test_validate_mx)
{
	run_validate(&mx_cases[_i]);
}
END_TEST

/*
 * One warning per problem: a short max_age under enforce gets the enforce
 * warning alone, never also the "under a day ... while testing" one.
 */
START_TEST(test_max_age_one_warning)
{
	const char *text = V M X "max_age: 3600" CRLF;
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(text, strlen(text), NULL, NULL, &d), 0);
	ck_assert_uint_eq(d.warnings, 1);
	ck_assert_uint_eq(count_code(&d, "max-age-short-enforce"), 1);
	diag_finish(&d);
	struct policy p;
	build(&p, POLICY_MODE_ENFORCE, 3600, NULL);
	policy_add_mx(&p, "mx.example.com");
	d = (struct diag){0};
	policy_validate(&p, "example.com", &d, NULL, 0);
	ck_assert_uint_eq(count_code(&d, "max-age-short"), 0);
	ck_assert_uint_eq(count_code(&d, "max-age-short-enforce"), 1);
	diag_finish(&d);
	policy_finish(&p);
}
END_TEST

/* Errors in several places are all reported in one run. */
START_TEST(test_validate_all)
{
	const char *mx[] = { "mail.example.com.", "192.0.2.1", "*.example.com",
		"mail.example.com", NULL };
	struct policy p;
	build(&p, POLICY_MODE_ENFORCE, 31557601, mx);
	struct diag d = {0};
	ck_assert_int_eq(policy_validate(&p, "example.com", &d, NULL, 0), -1);
	ck_assert_uint_eq(d.errors, 2);
	ck_assert_uint_eq(d.warnings, 2);	/* duplicate, shallow */
	ck_assert_uint_eq(count_code(&d, "mx-duplicate"), 1);
	ck_assert_uint_eq(count_code(&d, "max-age-range"), 1);
	diag_finish(&d);
	policy_finish(&p);
}
END_TEST

/* Over 64 KiB only with hundreds of long patterns; one byte matters. */
START_TEST(test_validate_size)
{
	struct policy p;
	build(&p, POLICY_MODE_ENFORCE, 1209600, NULL);
	char name[80];
	size_t len = 0;
	for (int i = 0; len <= POLICY_SIZE_LIMIT; i++) {
		snprintf(name, sizeof(name), "mx%05d.%s.example.com", i,
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		ck_assert_int_eq(policy_add_mx(&p, name), 0);
		free(policy_render(&p, &len));
	}
	struct diag d = {0};
	ck_assert_int_eq(policy_validate(&p, "example.com", &d, "f", 1), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 1, "65536"), "%s",
		test_diag_dump(&d));
	ck_assert_uint_eq(count_code(&d, "policy-too-large"), 1);
	diag_finish(&d);

	/* drop the last pattern: now at most 64 KiB, no error */
	p.mx_count--;
	free(p.mx[p.mx_count]);
	free(policy_render(&p, &len));
	ck_assert_uint_le(len, POLICY_SIZE_LIMIT);
	ck_assert_int_eq(policy_validate(&p, "example.com", &d, "f", 1), 0);
	ck_assert_uint_eq(count_code(&d, "policy-too-large"), 0);
	diag_finish(&d);
	policy_finish(&p);
}
END_TEST

/* ---- lint ---------------------------------------------------------- */

/*
 * A policy text, the expected return of policy_lint and one finding that
 * must be among the results (severity -1: no finding at all).
 */
struct lint_case {
	const char *text;
	size_t len;
	int rc;
	int severity;
	unsigned line;
	const char *fragment;
};

/* T() keeps the length of literals that contain NUL bytes. */
#define T(s) (s), sizeof(s) - 1
#define OK(s) { T(s), 0, -1, 0, NULL }

static const struct lint_case valid_cases[] = {
	OK(GOOD),
	OK(V M X "max_age: 1209600"),			/* no final line end */
	OK(M X A V),					/* any order */
	OK("version:STSv1" CRLF "mode:\tenforce" CRLF
		"mx:  mail.example.com" CRLF "max_age: 1209600 \t" CRLF),
	OK(V "mode: testing" CRLF X A),
	OK(V "mode: none" CRLF X "max_age: 86400" CRLF),
	OK(V M X "mx: backup.example.com" CRLF "mx: *.mx.example.org" CRLF A),
	OK(V M "mx: MAIL.EXAMPLE.COM" CRLF A),
	OK(V M "mx: xn--bcher-kva.example" CRLF A),
	OK(V M X "max_age: 604800" CRLF),
	OK(V M X "max_age: 31557600" CRLF),
	OK(V M X "max_age: 0001209600" CRLF),
	OK(V "mode: testing" CRLF X "max_age: 86400" CRLF),
};

static const struct lint_case line_end_cases[] = {
	{ T(V M X A "\n"), -1, DIAG_ERROR, 5, "line 5 is blank" },
	{ T("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
		"max_age: 1209600\n"), 0, DIAG_WARNING, 1,
		"some checkers and one old client expect CRLF" },
	{ T(V M "mx: mail.example.com\n" A), 0, DIAG_WARNING, 3,
		"ends in LF only" },
	{ T(V "mode: enforce\r" X A), -1, DIAG_ERROR, 2,
		"carriage return not followed by a line feed" },
	{ T(V M X "max_age: 1209600\r"), -1, DIAG_ERROR, 4,
		"carriage return" },
	{ T(V M X "max_age: 1209600\r\r\n"), -1, DIAG_ERROR, 4,
		"carriage return" },
	{ T("version: STSv1\rmode: enforce\rmx: mail.example.com\r"
		"max_age: 1209600\r"), -1, DIAG_ERROR, 1, "carriage return" },
};

static const struct lint_case blank_cases[] = {
	{ T(GOOD CRLF), -1, DIAG_ERROR, 5, "not even at the end" },
	{ T(CRLF GOOD), -1, DIAG_ERROR, 1, "line 1 is blank" },
	{ T(V M CRLF X A), -1, DIAG_ERROR, 3, "line 3 is blank" },
	{ T(V M "\n" X A), -1, DIAG_ERROR, 3, "is blank" },
	{ T(GOOD "\n"), -1, DIAG_ERROR, 5, "is blank" },
	{ T(GOOD "   " CRLF), -1, DIAG_ERROR, 5, "only whitespace" },
	{ T(GOOD "\t"), -1, DIAG_ERROR, 5, "only whitespace" },
	{ T(CRLF), -1, DIAG_ERROR, 1, "blank" },
};

static const struct lint_case whitespace_cases[] = {
	{ T(" " V M X A), -1, DIAG_ERROR, 1, "starts with whitespace" },
	{ T(V "\t" M X A), -1, DIAG_ERROR, 2, "starts with whitespace" },
	{ T(V "Mode : Enforce" CRLF X A), -1, DIAG_ERROR, 2,
		"whitespace between key \"Mode\" and ':' — remove it: "
		"mode: enforce" },
	{ T(GOOD "x-ext : a b" CRLF), -1, DIAG_ERROR, 5,
		"remove it: x-ext: a b" },
	{ T(V "mode : enforce" CRLF X A), -1, DIAG_ERROR, 2,
		"whitespace between key \"mode\" and ':' — remove it: "
		"mode: enforce" },
	{ T(V M "mx\t: mail.example.com" CRLF A), -1, DIAG_ERROR, 3,
		"and ':'" },
	{ T(V M X "max_age  :1209600" CRLF), -1, DIAG_ERROR, 4,
		"max_age: 1209600" },
};

static const struct lint_case key_cases[] = {
	{ T(V "mode enforce" CRLF X A), -1, DIAG_ERROR, 2,
		"line 2 (\"mode enforce\") has no ':'" },
	{ T(V ": enforce" CRLF X A), -1, DIAG_ERROR, 2, "no key before ':'" },
	{ T(GOOD "_ext: 1" CRLF), -1, DIAG_ERROR, 5,
		"key \"_ext\" is not a valid field name" },
	{ T(GOOD "-ext: 1" CRLF), -1, DIAG_ERROR, 5, "not a valid field name" },
	{ T(GOOD "max age: 1" CRLF), -1, DIAG_ERROR, 5,
		"key \"max age\" is not a valid" },
	{ T(GOOD "a/b: 1" CRLF), -1, DIAG_ERROR, 5, "not a valid field name" },
	{ T(GOOD "k\xc3\xa9y: 1" CRLF), -1, DIAG_ERROR, 5,
		"key \"k\\xc3\\xa9y\"" },
	/* 32 octets is the longest key, 33 too long */
	{ T(GOOD "abcdefghijabcdefghijabcdefghij12: 1" CRLF), 0, DIAG_WARNING,
		5, "unknown field \"abcdefghijabcdefghijabcdefghij12\"" },
	{ T(GOOD "abcdefghijabcdefghijabcdefghij123: 1" CRLF), -1, DIAG_ERROR,
		5, "1-32 letters" },
	{ T(GOOD "x-ext.v_1: 1" CRLF), 0, DIAG_WARNING, 5, "unknown field" },
};

static const struct lint_case unknown_cases[] = {
	/* postfix-tlspol #95: "nmx" silently drops the mx */
	{ T(V M "nmx: mail.example.com" CRLF A), -1, DIAG_WARNING, 3,
		"did you mean `mx`? write: mx: mail.example.com" },
	{ T(V M "nmx: mail.example.com" CRLF A), -1, DIAG_ERROR, 2,
		"line 3 has `nmx:`" },
	{ T(V "mdoe: enforce" CRLF X A), -1, DIAG_WARNING, 2,
		"did you mean `mode`?" },
	{ T(V "mdoe: enforce" CRLF X A), -1, DIAG_ERROR, 1,
		"no `mode` field" },
	{ T(V M X "maxage: 1209600" CRLF), -1, DIAG_WARNING, 4,
		"did you mean `max_age`? write: max_age: 1209600" },
	{ T(V M X "max-age: 1209600" CRLF), -1, DIAG_WARNING, 4,
		"did you mean `max_age`?" },
	{ T("verison: STSv1" CRLF M X A), -1, DIAG_WARNING, 1,
		"did you mean `version`?" },
	{ T(V M "mxx: mail.example.com" CRLF A), -1, DIAG_WARNING, 3,
		"did you mean `mx`?" },
	{ T(GOOD "foo: bar" CRLF), 0, DIAG_WARNING, 5,
		"senders ignore extension fields" },
	{ T(GOOD "id: 20240101" CRLF), 0, DIAG_WARNING, 5,
		"unknown field \"id\": senders ignore extension fields" },
	/* extension values: UTF-8 and inner spaces are legal */
	{ T(GOOD "note: caf\xc3\xa9 au lait" CRLF), 0, DIAG_WARNING, 5,
		"unknown field \"note\"" },
	{ T(GOOD "url: https://example.com/x" CRLF), 0, DIAG_WARNING, 5,
		"unknown field \"url\"" },
	{ T(GOOD "note: caf\xe9" CRLF), -1, DIAG_ERROR, 5,
		"is not valid UTF-8 at byte 4" },
	{ T(GOOD "note: \xed\xa0\x80" CRLF), -1, DIAG_ERROR, 5,
		"not valid UTF-8" },
	{ T(GOOD "note: \xc0\xaf" CRLF), -1, DIAG_ERROR, 5, "not valid UTF-8" },
	{ T(GOOD "note: a\tb" CRLF), -1, DIAG_ERROR, 5, "contains a tab" },
	{ T(GOOD "note:" CRLF), -1, DIAG_ERROR, 5,
		"field \"note\" has no value" },
	{ T(GOOD "note:  " CRLF), -1, DIAG_ERROR, 5, "has no value" },
	/* capitalised keys are extensions for senders */
	{ T(V "Mode: Enforce" CRLF X A), -1, DIAG_WARNING, 2,
		"key \"Mode\" is not `mode`: field names are case-sensitive "
		"and senders ignore this line — write: mode: enforce" },
	{ T(V "Mode: Enforce" CRLF X A), -1, DIAG_ERROR, 2,
		"the policy has no `mode` field" },
	{ T("Version: stsv1" CRLF M X A), -1, DIAG_WARNING, 1,
		"write: version: STSv1" },
	{ T(V M "MX: Mail.Example.com" CRLF A), -1, DIAG_WARNING, 3,
		"write: mx: mail.example.com" },
	{ T(V M "MX: Mail.Example.com" CRLF A), -1, DIAG_ERROR, 2,
		"capitalised mx key" },
	{ T(V M X "MAX_AGE: 1209600" CRLF), -1, DIAG_ERROR, 4,
		"no `max_age` field" },
};

static const struct lint_case duplicate_cases[] = {
	{ T(GOOD V), -1, DIAG_ERROR, 5,
		"`version` repeats line 1 — senders use the first one" },
	{ T(V M X A "mode: testing" CRLF), -1, DIAG_ERROR, 5,
		"`mode` repeats line 2" },
	{ T(V M X A "max_age: 86400" CRLF), -1, DIAG_ERROR, 5,
		"`max_age` repeats line 4" },
	{ T(V M X A "max_age: 1209600" CRLF), -1, DIAG_ERROR, 5,
		"keep a single max_age line" },
	{ T(V M X A X), 0, DIAG_WARNING, 5,
		"mx \"mail.example.com\" repeats line 3" },
	{ T(V M X "mx: MAIL.example.COM" CRLF A), 0, DIAG_WARNING, 4,
		"repeats line 3" },
};

static const struct lint_case version_cases[] = {
	{ T("version: STSv2" CRLF M X A), -1, DIAG_ERROR, 1,
		"version \"STSv2\" is not STSv1" },
	{ T("version: stsv1" CRLF M X A), -1, DIAG_ERROR, 1,
		"write exactly (it is case-sensitive): version: STSv1" },
	{ T("version: STSv1.0" CRLF M X A), -1, DIAG_ERROR, 1, "not STSv1" },
	{ T("version:" CRLF M X A), -1, DIAG_ERROR, 1,
		"`version` has no value" },
	{ T("version: \xef\xbc\xb3TSv1" CRLF M X A), -1, DIAG_ERROR, 1,
		"not STSv1" },
	{ T(M X A), -1, DIAG_ERROR, 1,
		"no `version` field (RFC 8461 §3.2 requires it) — add a line: "
		"version: STSv1" },
};

static const struct lint_case mode_lint_cases[] = {
	{ T(V "mode: Enforce" CRLF X A), -1, DIAG_ERROR, 2,
		"mode values are case-sensitive — write: mode: enforce" },
	{ T(V "mode: TESTING" CRLF X A), -1, DIAG_ERROR, 2,
		"write: mode: testing" },
	{ T(V "mode: strict" CRLF X A), -1, DIAG_ERROR, 2,
		"mode \"strict\" is not enforce, testing or none" },
	{ T(V "mode: en\tforce" CRLF X A), -1, DIAG_ERROR, 2,
		"mode \"en\\x09force\"" },
	{ T(V "mode:" CRLF X A), -1, DIAG_ERROR, 2, "`mode` has no value" },
	{ T(V X A), -1, DIAG_ERROR, 1, "no `mode` field" },
	/* two fields run together on one line */
	{ T(V "mode: enforce max_age: 86400" CRLF X), -1, DIAG_WARNING, 2,
		"contains ':'" },
	{ T(V "mode: enforce max_age: 86400" CRLF X), -1, DIAG_ERROR, 2,
		"is not enforce, testing or none" },
	{ T(V "mode: enforce max_age: 86400" CRLF X), -1, DIAG_ERROR, 1,
		"no `max_age` field" },
};

static const struct lint_case max_age_lint_cases[] = {
	{ T(V M X "max_age: 0" CRLF), 0, DIAG_WARNING, 4,
		"max_age 0 (0 seconds) is under a week in mode enforce" },
	{ T(V M X "max_age: 3600" CRLF), 0, DIAG_WARNING, 4,
		"max_age 3600 (1 hour) is under a week in mode enforce" },
	{ T(V M X "max_age: 86399" CRLF), 0, DIAG_WARNING, 4,
		"86399 (23 hours, 59 minutes, 59 seconds) is under a week" },
	{ T(V M X "max_age: 604799" CRLF), 0, DIAG_WARNING, 4,
		"use at least 604800, e.g. max_age: 1209600 or more" },
	{ T(V "mode: testing" CRLF X "max_age: 3600" CRLF), 0, DIAG_WARNING,
		4, "under a day" },
	{ T(V M X "max_age: 31557601" CRLF), -1, DIAG_ERROR, 4,
		"max_age 31557601 is above the RFC 8461 limit of 31557600" },
	{ T(V M X "max_age: 9999999999" CRLF), -1, DIAG_ERROR, 4,
		"is above" },
	{ T(V M X "max_age: 12345678901" CRLF), -1, DIAG_ERROR, 4,
		"more than 10 digits" },
	{ T(V M X "max_age: 00000000001" CRLF), -1, DIAG_ERROR, 4,
		"more than 10 digits" },
	{ T(V M X "max_age: -1" CRLF), -1, DIAG_ERROR, 4,
		"max_age \"-1\" is not a whole number of seconds" },
	{ T(V M X "max_age: +86400" CRLF), -1, DIAG_ERROR, 4,
		"not a whole number" },
	{ T(V M X "max_age: 1w" CRLF), -1, DIAG_ERROR, 4,
		"write digits only, e.g. max_age: 1209600" },
	{ T(V M X "max_age: 86 400" CRLF), -1, DIAG_ERROR, 4,
		"not a whole number" },
	{ T(V M X "max_age:" CRLF), -1, DIAG_ERROR, 4, "has no value" },
	{ T(V M X), -1, DIAG_ERROR, 1, "add a line: max_age: 1209600" },
};

static const struct lint_case mx_lint_cases[] = {
	{ T(V M "mx: mail.example.com." CRLF A), -1, DIAG_ERROR, 3,
		"mx \"mail.example.com.\" has a trailing dot — remove the "
		"final '.': mx: mail.example.com" },
	{ T(V M "mx: 192.0.2.1" CRLF A), -1, DIAG_ERROR, 3,
		"is an IPv4 address" },
	{ T(V M "mx: [192.0.2.1]" CRLF A), -1, DIAG_ERROR, 3,
		"address literal" },
	{ T(V M "mx: 2001:db8::25" CRLF A), -1, DIAG_ERROR, 3,
		"address literal" },
	{ T(V M "mx: mail.example.com:25" CRLF A), -1, DIAG_ERROR, 3,
		"has a port number — remove the ':' and the port" },
	{ T(V M "mx: mail.example.com max_age: 5" CRLF A), -1, DIAG_WARNING,
		3, "contains ':'" },
	{ T(V M "mx: _mx.example.com" CRLF A), -1, DIAG_ERROR, 3, "'_'" },
	{ T(V M "mx:" CRLF A), -1, DIAG_ERROR, 3, "mx \"\" is empty" },
	{ T(V M "mx: \t " CRLF A), -1, DIAG_ERROR, 3, "is empty" },
	{ T(V M "mx: b\xc3\xbc" "cher.example" CRLF A), -1, DIAG_ERROR, 3,
		"write it as its xn-- A-label (punycode), e.g. with `idn2`" },
	{ T(V M "mx: mail example.com" CRLF A), -1, DIAG_ERROR, 3,
		"contains a character other than" },
	{ T(V M "mx: mail.example.com, backup.example.com" CRLF A), -1,
		DIAG_ERROR, 3, "character" },
	{ T(V M "mx: localhost" CRLF A), -1, DIAG_ERROR, 3, "single label" },
	{ T(V M "mx: -mail.example.com" CRLF A), -1, DIAG_ERROR, 3,
		"starts or ends with '-'" },
	{ T(V "mode: testing" CRLF A), -1, DIAG_ERROR, 2,
		"mode testing needs at least one mx line" },
	{ T(V M A), -1, DIAG_ERROR, 2, "mode enforce needs at least one mx" },
	{ T(V "mode: none" CRLF A), 0, DIAG_WARNING, 2,
		"some senders (Stalwart) reject a policy without mx" },
};

/* A port or IPv6 literal is explained by its own error, not a colon warning. */
START_TEST(test_lint_mx_colon)
{
	const char *texts[] = {
		V M "mx: mail.example.com:25" CRLF A,
		V M "mx: 2001:db8::25" CRLF A,
	};
	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		struct diag d = {0};
		ck_assert_int_eq(policy_lint(texts[i], strlen(texts[i]), NULL,
			NULL, &d), -1);
		ck_assert_msg(d.len == 1 && d.warnings == 0, "%s",
			test_diag_dump(&d));
		diag_finish(&d);
	}
}
END_TEST

static const struct lint_case wildcard_lint_cases[] = {
	{ T(V M "mx: *.*.example.com" CRLF A), -1, DIAG_ERROR, 3,
		"uses '*' where it is not allowed" },
	{ T(V M "mx: mail.*.example.com" CRLF A), -1, DIAG_ERROR, 3,
		"whole leftmost label" },
	{ T(V M "mx: *mail.example.com" CRLF A), -1, DIAG_ERROR, 3, "'*'" },
	{ T(V M "mx: *.com" CRLF A), -1, DIAG_ERROR, 3, "'*'" },
	{ T(V M "mx: *" CRLF A), -1, DIAG_ERROR, 3, "'*'" },
	{ T(V M "mx: *.example.com" CRLF A), 0, DIAG_WARNING, 3,
		"covers every host directly under example.com" },
	{ T(V M "mx: *.example.co.uk" CRLF A), 0, DIAG_WARNING, 3,
		"RFC 8461 §10.4" },
	{ T(V M "mx: *.mx.example.com" CRLF A), 0, -1, 0, NULL },
};

static const struct lint_case byte_cases[] = {
	{ T("\xef\xbb\xbf" GOOD), -1, DIAG_ERROR, 1,
		"starts with a UTF-8 byte order mark" },
	{ T(V "mode: enf\0orce" CRLF X A), -1, DIAG_ERROR, 2,
		"NUL byte at column 10" },
	{ T(V M X A "\0"), -1, DIAG_ERROR, 5, "NUL byte at column 1" },
	{ T(V M "mx: mail\x01.example.com" CRLF A), -1, DIAG_ERROR, 3,
		"control byte 0x01 at column 9" },
	{ T(V M X "max_age: 1209600\x7f" CRLF), -1, DIAG_ERROR, 4,
		"control byte 0x7F" },
	{ T(V M X A "\x1b[31m" CRLF), -1, DIAG_ERROR, 5, "control byte 0x1B" },
	{ T(V M X A "\f"), -1, DIAG_ERROR, 5, "control byte 0x0C" },
	{ T(V M X A "\v"), -1, DIAG_ERROR, 5, "control byte 0x0B" },
	{ T(""), -1, DIAG_ERROR, 1, "the policy is empty" },
	{ T("\xef\xbb\xbf"), -1, DIAG_ERROR, 1, "no `version` field" },
	{ T("\x89PNG\r\n\x1a\n"), -1, DIAG_ERROR, 1, "has no ':'" },
	{ T("<html><body>Not found</body></html>"), -1, DIAG_ERROR, 1,
		"has no ':'" },
};

/*
 * check_lint runs one case: the return value, and the finding asked for,
 * or for OK cases nothing at all. Every finding has a line and a fix.
 */
static void check_lint(const struct lint_case *c)
{
	struct diag d = {0};
	struct policy p;
	policy_init(&p);
	int rc = policy_lint(c->text, c->len, "mta-sts.txt", &p, &d);
	ck_assert_msg(rc == c->rc, "rc %d, want %d: %s", rc, c->rc,
		test_diag_dump(&d));
	if (c->severity < 0)
		ck_assert_msg(d.len == 0, "unexpected: %s", test_diag_dump(&d));
	else
		ck_assert_msg(test_diag_has(&d, c->severity, c->line,
			c->fragment), "want %s at line %u \"%s\" in:\n%s",
			diag_severity_name(c->severity), c->line, c->fragment,
			test_diag_dump(&d));
	ck_assert_uint_eq(d.errors > 0, rc < 0);
	for (size_t i = 0; i < d.len; i++) {
		ck_assert_uint_gt(d.items[i].line, 0);
		ck_assert_str_eq(d.items[i].file, "mta-sts.txt");
		ck_assert_ptr_nonnull(d.items[i].code);
		ck_assert_msg(strstr(d.items[i].message, " — "),
			"no fix in \"%s\"", d.items[i].message);
	}
	if (rc == 0)
		ck_assert_uint_gt(p.mx_count + (p.mode == POLICY_MODE_NONE), 0);
	else
		ck_assert_uint_eq(p.mx_count, 0);
	diag_finish(&d);
	policy_finish(&p);
}

#define LINT_TEST(fn, table) \
	START_TEST(fn) \
	{ \
		check_lint(&table[_i]); \
	} \
	END_TEST

LINT_TEST(test_lint_valid, valid_cases)
LINT_TEST(test_lint_line_end, line_end_cases)
LINT_TEST(test_lint_blank, blank_cases)
LINT_TEST(test_lint_whitespace, whitespace_cases)
LINT_TEST(test_lint_key, key_cases)
LINT_TEST(test_lint_unknown, unknown_cases)
LINT_TEST(test_lint_duplicate, duplicate_cases)
LINT_TEST(test_lint_version, version_cases)
LINT_TEST(test_lint_mode, mode_lint_cases)
LINT_TEST(test_lint_max_age, max_age_lint_cases)
LINT_TEST(test_lint_mx, mx_lint_cases)
LINT_TEST(test_lint_wildcard, wildcard_lint_cases)
LINT_TEST(test_lint_bytes, byte_cases)

/* LF-only is reported once, at the first such line, not per line. */
START_TEST(test_lint_lf_once)
{
	const char *text = "version: STSv1\r\nmode: enforce\n"
		"mx: mail.example.com\nmax_age: 1209600\n";
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(text, strlen(text), NULL, NULL, &d), 0);
	ck_assert_uint_eq(count_code(&d, "lf-line-end"), 1);
	ck_assert(test_diag_has(&d, DIAG_WARNING, 2, "CRLF"));
	ck_assert_uint_eq(d.len, 1);
	diag_finish(&d);
}
END_TEST

/* One run reports every problem, each at its own line. */
START_TEST(test_lint_keeps_going)
{
	const char *text = " version: STSv2\r\n"
		"mode : Enforce\r\n"
		"mx: mail.example.com.\r\n"
		"mx: 192.0.2.1\r\n"
		"nmx: backup.example.com\r\n"
		"\r\n"
		"max_age: 99999999\r\n"
		"max_age: 1\r\n";
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(text, strlen(text), "p", NULL, &d), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 1, "starts with whitespace"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 1, "not STSv1"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 2, "and ':'"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 2, "mode: enforce"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 3, "trailing dot"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 4, "IPv4"));
	ck_assert(test_diag_has(&d, DIAG_WARNING, 5, "did you mean `mx`?"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 6, "blank"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 7, "is above"));
	ck_assert(test_diag_has(&d, DIAG_ERROR, 8, "repeats line 7"));
	ck_assert_msg(d.errors == 9, "%s", test_diag_dump(&d));
	diag_finish(&d);
}
END_TEST

/* The parsed policy: lower-case mx in order, first occurrence kept. */
START_TEST(test_lint_out)
{
	const char *text = "max_age: 86400\n"
		"mx: B.example.com\n"
		"x-note: hello\n"
		"mx: a.example.com \n"
		"mode: testing\n"
		"mx: b.EXAMPLE.com\n"
		"version: STSv1";
	struct policy p;
	const char *old[] = { "old.example.com", NULL };
	build(&p, POLICY_MODE_ENFORCE, 1, old);
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(text, strlen(text), NULL, &p, &d), 0);
	ck_assert_int_eq(p.mode, POLICY_MODE_TESTING);
	ck_assert_uint_eq(p.max_age, 86400);
	ck_assert_uint_eq(p.mx_count, 2);
	ck_assert_str_eq(p.mx[0], "b.example.com");
	ck_assert_str_eq(p.mx[1], "a.example.com");
	ck_assert_uint_eq(d.errors, 0);
	diag_finish(&d);

	/* on error, out is left alone */
	ck_assert_int_eq(policy_lint("mode: x", 7, NULL, &p, &d), -1);
	ck_assert_uint_eq(p.mx_count, 2);
	ck_assert_int_eq(p.mode, POLICY_MODE_TESTING);
	diag_finish(&d);
	policy_finish(&p);
}
END_TEST

/*
 * build_big makes a valid policy of exactly size bytes by padding with an
 * extension line, LF or CRLF ended.
 */
static char *build_big(size_t size, unsigned *pad_line)
{
	const char *head = GOOD "x-pad: ";
	size_t hn = strlen(head);
	ck_assert_uint_gt(size, hn + 3);
	char *s = malloc(size);
	ck_assert_ptr_nonnull(s);
	memcpy(s, head, hn);
	memset(s + hn, 'p', size - hn - 2);
	memcpy(s + size - 2, CRLF, 2);
	*pad_line = 5;
	return s;
}

struct size_case {
	size_t size;
	int rc;
};

static const struct size_case size_cases[] = {
	{ 65535, 0 },
	{ 65536, 0 },
	{ 65537, -1 },
	{ 200000, -1 },
};

START_TEST(test_lint_size)
{
	const struct size_case *c = &size_cases[_i];
	unsigned line;
	char *s = build_big(c->size, &line);
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(s, c->size, NULL, NULL, &d), c->rc);
	if (c->rc < 0)
		ck_assert_msg(test_diag_has(&d, DIAG_ERROR, line,
			"senders stop reading at 64 KiB"), "%s",
			test_diag_dump(&d));
	ck_assert_uint_eq(count_code(&d, "policy-too-large"), c->rc < 0);
	free(s);
	diag_finish(&d);
}
END_TEST

/* The line named is the one where byte 65537 falls. */
START_TEST(test_lint_size_line)
{
	size_t n = 70000;
	char *s = malloc(n);
	ck_assert_ptr_nonnull(s);
	size_t o = 0;
	const char *head = V M A;
	memcpy(s, head, strlen(head));
	o = strlen(head);
	unsigned line = 4;
	unsigned want = 0;
	while (o + 24 <= n) {
		size_t start = o;
		o += (size_t)sprintf(s + o, "mx: m%09u.example\r\n", line);
		if (!want && o > POLICY_SIZE_LIMIT && start < o)
			want = line;
		line++;
	}
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(s, o, NULL, NULL, &d), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, want, "65536"),
		"want line %u: %s", want, test_diag_dump(&d));
	ck_assert_uint_eq(d.errors, 1);
	free(s);
	diag_finish(&d);
}
END_TEST

/* Arbitrary bytes never crash and always give a verdict with a line. */
START_TEST(test_lint_fuzz)
{
	unsigned seed = 12345;
	char buf[512];
	const char alphabet[] = "version: STSv1\r\nmode: enforce\nmx: *._-."
		"max_age 0123456789\t \xc3\xbc\xff\0";
	for (int round = 0; round < 2000; round++) {
		size_t n = (seed = seed * 1103515245 + 12345) % sizeof(buf);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			buf[i] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
		}
		struct diag d = {0};
		struct policy p;
		policy_init(&p);
		int rc = policy_lint(buf, n, NULL, &p, &d);
		ck_assert_int_eq(rc < 0, d.errors > 0);
		for (size_t i = 0; i < d.len; i++)
			ck_assert_uint_gt(d.items[i].line, 0);
		diag_finish(&d);
		policy_finish(&p);
	}
}
END_TEST

/*
 * Repeats are found by a hash index that grows as it fills: among 3000
 * patterns every 7th repeats one listed 1000 lines earlier in another
 * case, and each repeat is named with the line of
 * its first occurrence, in lint and in validate alike.
 */
START_TEST(test_duplicates_many)
{
	size_t cap = 3000 * 32 + 64, o = 0;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	o += (size_t)sprintf(s, V M A);
	struct policy p;
	build(&p, POLICY_MODE_ENFORCE, 1209600, NULL);
	size_t repeats = 0;
	for (unsigned i = 0; i < 3000; i++) {
		char name[40];
		if (i >= 1000 && i % 7 == 0) {
			snprintf(name, sizeof(name), "M%u.Example", i - 1000);
			repeats++;
		} else {
			snprintf(name, sizeof(name), "m%u.example", i);
		}
		o += (size_t)sprintf(s + o, "mx: %s\r\n", name);
		if (i % 7 == 0)
			strcat(name, ".");	/* policy_add_mx drops it */
		ck_assert_int_eq(policy_add_mx(&p, name), 0);
	}
	struct diag d = {0};
	ck_assert_int_eq(policy_lint(s, o, NULL, NULL, &d), 0);
	ck_assert_uint_eq(count_code(&d, "mx-duplicate"), repeats);
	/* line 4 holds m0; the repeat of m(i-1000) names line i - 1000 + 4 */
	ck_assert_msg(test_diag_has(&d, DIAG_WARNING, 1001 + 4,
		"repeats line 5"), "%s", test_diag_dump(&d));
	diag_finish(&d);
	d = (struct diag){0};
	policy_validate(&p, "example.com", &d, NULL, 0);
	ck_assert_uint_eq(count_code(&d, "mx-duplicate"), repeats);
	diag_finish(&d);
	policy_finish(&p);
	free(s);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

#define LOOP(name, fn, table) \
	tc = tcase_create(name); \
	tcase_add_loop_test(tc, fn, 0, ARRAY_LEN(table)); \
	suite_add_tcase(s, tc)

	LOOP("mode names", test_mode_parse, mode_cases);

	tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_lifecycle);
	suite_add_tcase(s, tc);

	LOOP("render", test_render, render_cases);
	tcase_add_test(tc, test_render_roundtrip);

	tc = tcase_create("mx matching");
	tcase_add_test(tc, test_mx_matches);
	suite_add_tcase(s, tc);

	LOOP("max_age bounds", test_validate_max_age, max_age_cases);
	LOOP("validate mx", test_validate_mx, mx_cases);
	tcase_add_test(tc, test_validate_all);
	tcase_add_test(tc, test_max_age_one_warning);

	tc = tcase_create("validate size");
	tcase_add_test(tc, test_validate_size);
	suite_add_tcase(s, tc);

	LOOP("lint valid", test_lint_valid, valid_cases);
	tcase_add_test(tc, test_lint_out);
	LOOP("line ends", test_lint_line_end, line_end_cases);
	tcase_add_test(tc, test_lint_lf_once);
	LOOP("blank lines", test_lint_blank, blank_cases);
	LOOP("whitespace", test_lint_whitespace, whitespace_cases);
	LOOP("keys", test_lint_key, key_cases);
	LOOP("unknown keys", test_lint_unknown, unknown_cases);
	LOOP("duplicates", test_lint_duplicate, duplicate_cases);
	tcase_add_test(tc, test_duplicates_many);
	LOOP("version", test_lint_version, version_cases);
	LOOP("mode", test_lint_mode, mode_lint_cases);
	LOOP("lint max_age", test_lint_max_age, max_age_lint_cases);
	LOOP("mx values", test_lint_mx, mx_lint_cases);
	tcase_add_test(tc, test_lint_mx_colon);
	LOOP("mx wildcard", test_lint_wildcard, wildcard_lint_cases);
	LOOP("bytes", test_lint_bytes, byte_cases);
	LOOP("size limit", test_lint_size, size_cases);
	tcase_add_test(tc, test_lint_size_line);

	tc = tcase_create("all problems");
	tcase_add_test(tc, test_lint_keeps_going);
	tcase_add_test(tc, test_lint_fuzz);
	suite_add_tcase(s, tc);
#undef LOOP

	return s;
}

int main(void)
{
	return test_run(policy_suite());
}
