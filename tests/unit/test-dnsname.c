/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnsname.h"
#include "testsupport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fills buf with a label of n copies of c. */
static const char *label(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/*
 * long_name builds a name of exactly total octets out of 63-octet labels
 * and a shorter last one, so only the total length is at issue.
 */
static char *long_name(size_t total, const char *prefix)
{
	char *s = malloc(total + 1);
	ck_assert_ptr_nonnull(s);
	size_t o = strlen(prefix);
	memcpy(s, prefix, o);
	for (size_t p = 0; o < total; p++, o++)
		s[o] = (p % 64 == 63) ? '.' : (char)('a' + p % 26);
	s[total] = '\0';
	/* the totals used are chosen so the last label is not empty */
	ck_assert_int_ne(s[total - 1], '.');
	return s;
}

struct check_case {
	const char *name;
	bool wildcard;
	enum dnsname_problem want;
};

static const struct check_case check_cases[] = {
	/* valid */
	{ "mail.example.com", false, DNSNAME_OK },
	{ "MAIL.Example.COM", false, DNSNAME_OK },
	{ "a.b", false, DNSNAME_OK },
	{ "mx1.example.com", false, DNSNAME_OK },
	{ "1mx.example.com", false, DNSNAME_OK },
	{ "mail-1.example-2.com", false, DNSNAME_OK },
	{ "xn--bcher-kva.example", false, DNSNAME_OK },
	{ "123.example.com", false, DNSNAME_OK },
	{ "192.0.2.1.example.com", false, DNSNAME_OK },
	{ "a--b.example.com", false, DNSNAME_OK },
	{ "*.mx.example.com", true, DNSNAME_OK },
	{ "*.example.com", true, DNSNAME_OK },
	/* empty and dots */
	{ "", false, DNSNAME_EMPTY },
	{ "", true, DNSNAME_EMPTY },
	{ "mail.example.com.", false, DNSNAME_TRAILING_DOT },
	{ "*.example.com.", true, DNSNAME_TRAILING_DOT },
	{ ".", false, DNSNAME_EMPTY_LABEL },
	{ ".example.com", false, DNSNAME_EMPTY_LABEL },
	{ "mail..example.com", false, DNSNAME_EMPTY_LABEL },
	{ "mail.example.com..", false, DNSNAME_EMPTY_LABEL },
	/* addresses and ports */
	{ "192.0.2.1", false, DNSNAME_IPV4 },
	{ "192.0.2.1", true, DNSNAME_IPV4 },
	{ "10.1", false, DNSNAME_IPV4 },
	{ "*.1.2.3", true, DNSNAME_IPV4 },
	{ "[192.0.2.1]", false, DNSNAME_ADDRESS_LITERAL },
	{ "[IPv6:2001:db8::1]", false, DNSNAME_ADDRESS_LITERAL },
	{ "2001:db8::1", false, DNSNAME_ADDRESS_LITERAL },
	{ "::1", false, DNSNAME_ADDRESS_LITERAL },
	{ "mail.example.com:25", false, DNSNAME_PORT },
	{ "192.0.2.1:25", false, DNSNAME_PORT },
	{ "mail.example.com:", false, DNSNAME_BAD_CHAR },
	{ "mail.example.com:smtp", false, DNSNAME_BAD_CHAR },
	/* characters */
	{ "_mail.example.com", false, DNSNAME_UNDERSCORE },
	{ "mail_1.example.com", false, DNSNAME_UNDERSCORE },
	{ "b\xc3\xbc" "cher.example", false, DNSNAME_ULABEL },
	{ "mail.\xff", false, DNSNAME_ULABEL },
	{ "mail example.com", false, DNSNAME_BAD_CHAR },
	{ "mail.example.com ", false, DNSNAME_BAD_CHAR },
	{ "mail@example.com", false, DNSNAME_BAD_CHAR },
	{ "mail/example.com", false, DNSNAME_BAD_CHAR },
	{ "mail.example.com\t", false, DNSNAME_BAD_CHAR },
	{ "-mail.example.com", false, DNSNAME_HYPHEN_EDGE },
	{ "mail-.example.com", false, DNSNAME_HYPHEN_EDGE },
	{ "mail.example.com-", false, DNSNAME_HYPHEN_EDGE },
	{ "mail.-example.com", false, DNSNAME_HYPHEN_EDGE },
	/* labels */
	{ "localhost", false, DNSNAME_SINGLE_LABEL },
	{ "com", false, DNSNAME_SINGLE_LABEL },
	/* wildcards */
	{ "*.example.com", false, DNSNAME_BAD_WILDCARD },
	{ "*", true, DNSNAME_BAD_WILDCARD },
	{ "*.", true, DNSNAME_BAD_WILDCARD },
	{ "*.com", true, DNSNAME_BAD_WILDCARD },
	{ "*.*.example.com", true, DNSNAME_BAD_WILDCARD },
	{ "**.example.com", true, DNSNAME_BAD_WILDCARD },
	{ "*mail.example.com", true, DNSNAME_BAD_WILDCARD },
	{ "mail*.example.com", true, DNSNAME_BAD_WILDCARD },
	{ "mail.*.example.com", true, DNSNAME_BAD_WILDCARD },
	{ "mail.example.*", true, DNSNAME_BAD_WILDCARD },
	{ "*example.com", true, DNSNAME_BAD_WILDCARD },
	{ "*..example.com", true, DNSNAME_EMPTY_LABEL },
	{ "*._mx.example.com", true, DNSNAME_UNDERSCORE },
	{ "*.-mx.example.com", true, DNSNAME_HYPHEN_EDGE },
};

START_TEST(test_check_table)
{
	const struct check_case *c = &check_cases[_i];
	enum dnsname_problem got = dnsname_check(c->name, c->wildcard);
	ck_assert_msg(got == c->want, "dnsname_check(\"%s\", %d) = %d, want %d",
		c->name, c->wildcard, got, c->want);
	ck_assert_int_eq(dnsname_is_valid(c->name),
		!c->wildcard && c->want == DNSNAME_OK);
}
END_TEST

START_TEST(test_check_null)
{
	ck_assert_int_eq(dnsname_check(NULL, true), DNSNAME_EMPTY);
	ck_assert(!dnsname_is_valid(NULL));
}
END_TEST

struct length_case {
	size_t label;		/* first label length */
	enum dnsname_problem want;
};

static const struct length_case label_cases[] = {
	{ 1, DNSNAME_OK },
	{ 62, DNSNAME_OK },
	{ 63, DNSNAME_OK },
	{ 64, DNSNAME_LABEL_TOO_LONG },
	{ 200, DNSNAME_LABEL_TOO_LONG },
};

START_TEST(test_label_length)
{
	const struct length_case *c = &label_cases[_i];
	char buf[256], name[300];
	snprintf(name, sizeof(name), "%s.example.com", label(buf, c->label, 'm'));
	ck_assert_int_eq(dnsname_check(name, false), c->want);

	/* the same limit holds for the last label and after a wildcard */
	snprintf(name, sizeof(name), "example.%s", label(buf, c->label, 'c'));
	ck_assert_int_eq(dnsname_check(name, false), c->want);
	snprintf(name, sizeof(name), "*.%s.example", label(buf, c->label, 'm'));
	ck_assert_int_eq(dnsname_check(name, true), c->want);
}
END_TEST

struct total_case {
	size_t total;
	const char *prefix;
	bool wildcard;
	enum dnsname_problem want;
};

static const struct total_case total_cases[] = {
	{ 252, "", false, DNSNAME_OK },
	{ 253, "", false, DNSNAME_OK },
	{ 254, "", false, DNSNAME_TOO_LONG },
	{ 300, "", false, DNSNAME_TOO_LONG },
	{ 253, "*.", true, DNSNAME_OK },
	{ 254, "*.", true, DNSNAME_TOO_LONG },
};

START_TEST(test_name_length)
{
	const struct total_case *c = &total_cases[_i];
	char *name = long_name(c->total, c->prefix);
	ck_assert_uint_eq(strlen(name), c->total);
	enum dnsname_problem got = dnsname_check(name, c->wildcard);
	ck_assert_msg(got == c->want, "%zu octets: got %d, want %d", c->total,
		got, c->want);

	/* a trailing dot is not counted by the normaliser */
	char *dotted = malloc(c->total + 2);
	ck_assert_ptr_nonnull(dotted);
	memcpy(dotted, name, c->total);
	memcpy(dotted + c->total, ".", 2);
	char out[512];
	ck_assert_int_eq(dnsname_normalize(dotted, c->wildcard, out,
		sizeof(out)), c->want == DNSNAME_OK ? 0 : -1);
	free(dotted);
	free(name);
}
END_TEST

struct match_case {
	const char *pattern;
	const char *host;
	bool want;
};

static const struct match_case match_cases[] = {
	/* RFC 8461 §4.1 examples */
	{ "*.example.com", "mail.example.com", true },
	{ "*.example.com", "example.com", false },
	{ "*.example.com", "a.b.example.com", false },
	{ "*.example.com", "foo.bar.example.com", false },
	/* PS.MTA-STS PR #33: one label only */
	{ "*.mx.microsoft", "icewolf-li.h-v1.mx.microsoft", false },
	{ "*.mx.microsoft", "h-v1.mx.microsoft", true },
	/* case and trailing dot */
	{ "*.example.com", "MAIL.EXAMPLE.COM", true },
	{ "*.example.com", "mail.example.com.", true },
	{ "mail.example.com", "Mail.Example.Com", true },
	{ "mail.example.com", "mail.example.com.", true },
	{ "MAIL.example.com", "mail.example.com", true },
	/* literal patterns */
	{ "mail.example.com", "mail.example.com", true },
	{ "mail.example.com", "mail2.example.com", false },
	{ "mail.example.com", "example.com", false },
	{ "mail.example.com", "x.mail.example.com", false },
	{ "example.com", "mail.example.com", false },
	{ "mail.example.com", "mail.example.co", false },
	/* edges */
	{ "*.example.com", ".example.com", false },
	{ "*.example.com", "mail.example.org", false },
	{ "*.example.com", "mailexample.com", false },
	{ "*.example.com", "mail.xexample.com", false },
	{ "*.example.com", "*.example.com", true },
	{ "*.example.com", "", false },
	{ "", "mail.example.com", false },
	{ "*.example.com", "mail.example.com..", false },
	{ "mail.example.com.", "mail.example.com", false },
};

START_TEST(test_matches)
{
	const struct match_case *c = &match_cases[_i];
	ck_assert_msg(dnsname_matches(c->pattern, c->host) == c->want,
		"dnsname_matches(\"%s\", \"%s\") != %d", c->pattern, c->host,
		c->want);
}
END_TEST

START_TEST(test_matches_null)
{
	ck_assert(!dnsname_matches(NULL, "mail.example.com"));
	ck_assert(!dnsname_matches("*.example.com", NULL));
}
END_TEST

struct shallow_case {
	const char *pattern;
	bool want;
};

static const struct shallow_case shallow_cases[] = {
	{ "*.com", true },
	{ "*.example.com", true },
	{ "*.EXAMPLE.COM", true },
	{ "*.example.co.uk", true },
	{ "*.example.CO.UK", true },
	{ "*.example.com.au", true },
	{ "*.example.co.jp", true },
	{ "*.example.org.uk", true },
	{ "*.example.ac.uk", true },
	{ "*.example.gov.uk", true },
	{ "*.example.co.nz", true },
	{ "*.example.com.br", true },
	{ "*.co.uk", true },
	{ "*.mx.example.com", false },
	{ "*.mx.example.org", false },
	{ "*.mx.example.co.uk", false },
	{ "*.a.b.example.com", false },
	{ "mail.example.com", false },
	{ "example.com", false },
	{ "", false },
};

START_TEST(test_shallow)
{
	const struct shallow_case *c = &shallow_cases[_i];
	ck_assert_msg(dnsname_is_shallow_wildcard(c->pattern) == c->want,
		"dnsname_is_shallow_wildcard(\"%s\") != %d", c->pattern,
		c->want);
}
END_TEST

START_TEST(test_is_wildcard)
{
	ck_assert(dnsname_is_wildcard("*.example.com"));
	ck_assert(dnsname_is_wildcard("*."));
	ck_assert(!dnsname_is_wildcard("*"));
	ck_assert(!dnsname_is_wildcard("*example.com"));
	ck_assert(!dnsname_is_wildcard("mail.example.com"));
	ck_assert(!dnsname_is_wildcard(""));
	ck_assert(!dnsname_is_wildcard(NULL));
}
END_TEST

struct normalize_case {
	const char *in;
	bool wildcard;
	size_t size;
	int rc;
	const char *out;
};

static const struct normalize_case normalize_cases[] = {
	{ "Mail.Example.COM", false, 64, 0, "mail.example.com" },
	{ "mail.example.com.", false, 64, 0, "mail.example.com" },
	{ "MAIL.EXAMPLE.COM.", false, 64, 0, "mail.example.com" },
	{ "*.Example.com.", true, 64, 0, "*.example.com" },
	{ "*.example.com", false, 64, -1, "" },
	{ "mail.example.com..", false, 64, -1, "" },
	{ "mail_1.example.com", false, 64, -1, "" },
	{ "192.0.2.1", false, 64, -1, "" },
	{ ".", false, 64, -1, "" },
	{ "", false, 64, -1, "" },
	/* size: 16 octets plus NUL need 17 bytes */
	{ "mail.example.com", false, 17, 0, "mail.example.com" },
	{ "mail.example.com.", false, 17, 0, "mail.example.com" },
	{ "mail.example.com", false, 16, -1, "" },
	{ "mail.example.com", false, 1, -1, "" },
};

START_TEST(test_normalize)
{
	const struct normalize_case *c = &normalize_cases[_i];
	char out[64];
	memset(out, 'x', sizeof(out));
	int rc = dnsname_normalize(c->in, c->wildcard, out, c->size);
	ck_assert_msg(rc == c->rc, "dnsname_normalize(\"%s\") = %d", c->in, rc);
	ck_assert_str_eq(out, c->out);
}
END_TEST

START_TEST(test_normalize_args)
{
	char out[8];
	ck_assert_int_eq(dnsname_normalize("a.b", false, out, 0), -1);
	ck_assert_int_eq(dnsname_normalize("a.b", false, NULL, 8), -1);
	ck_assert_int_eq(dnsname_normalize(NULL, false, out, sizeof(out)), -1);
	ck_assert_str_eq(out, "");
}
END_TEST

struct equal_case {
	const char *a, *b;
	bool want;
};

static const struct equal_case equal_cases[] = {
	{ "mail.example.com", "mail.example.com", true },
	{ "mail.example.com", "MAIL.Example.Com", true },
	{ "mail.example.com.", "mail.example.com", true },
	{ "mail.example.com.", "MAIL.EXAMPLE.COM.", true },
	{ "mail.example.com", "mail.example.co", false },
	{ "mail.example.com", "mail.example.com..", false },
	{ "*.example.com", "*.EXAMPLE.com", true },
	{ "*.example.com", "mail.example.com", false },
	{ "", "", true },
	{ "b\xc3\xbc.example", "B\xc3\xbc.example", true },
	{ "b\xc3\xbc.example", "b\xc3\x9c.example", false },
};

START_TEST(test_equal)
{
	const struct equal_case *c = &equal_cases[_i];
	ck_assert_msg(dnsname_equal(c->a, c->b) == c->want,
		"dnsname_equal(\"%s\", \"%s\") != %d", c->a, c->b, c->want);
	ck_assert(dnsname_equal(c->b, c->a) == c->want);
	ck_assert(!dnsname_equal(c->a, NULL));
}
END_TEST

/* Every problem has its own text and a fix, so messages are never empty. */
START_TEST(test_problem_text)
{
	for (int p = DNSNAME_OK; p <= DNSNAME_BAD_WILDCARD; p++) {
		const char *text = dnsname_problem_text(p);
		const char *fix = dnsname_problem_fix(p);
		ck_assert_ptr_nonnull(text);
		ck_assert_ptr_nonnull(fix);
		ck_assert_uint_gt(strlen(text), 5);
		ck_assert_uint_gt(strlen(fix), 5);
		for (int q = DNSNAME_OK; q < p; q++)
			ck_assert_str_ne(text, dnsname_problem_text(q));
	}
	ck_assert_str_eq(dnsname_problem_text(DNSNAME_TRAILING_DOT),
		"has a trailing dot");
	ck_assert_str_eq(dnsname_problem_fix(DNSNAME_TRAILING_DOT),
		"remove the final '.'");
	ck_assert_ptr_nonnull(strstr(dnsname_problem_fix(DNSNAME_ULABEL),
		"xn--"));
	ck_assert_ptr_nonnull(strstr(dnsname_problem_fix(DNSNAME_ULABEL),
		"idn2"));
}
END_TEST

static Suite *dnsname_suite(void)
{
	Suite *s = suite_create("dnsname");
	TCase *tc;

	tc = tcase_create("syntax");
	tcase_add_loop_test(tc, test_check_table, 0, ARRAY_LEN(check_cases));
	tcase_add_test(tc, test_check_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("label length");
	tcase_add_loop_test(tc, test_label_length, 0, ARRAY_LEN(label_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("name length");
	tcase_add_loop_test(tc, test_name_length, 0, ARRAY_LEN(total_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("mx wildcard");
	tcase_add_loop_test(tc, test_matches, 0, ARRAY_LEN(match_cases));
	tcase_add_test(tc, test_matches_null);
	tcase_add_test(tc, test_is_wildcard);
	suite_add_tcase(s, tc);

	tc = tcase_create("shallow wildcard");
	tcase_add_loop_test(tc, test_shallow, 0, ARRAY_LEN(shallow_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("normalize");
	tcase_add_loop_test(tc, test_normalize, 0, ARRAY_LEN(normalize_cases));
	tcase_add_test(tc, test_normalize_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("equal");
	tcase_add_loop_test(tc, test_equal, 0, ARRAY_LEN(equal_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("problem text");
	tcase_add_test(tc, test_problem_text);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return test_run(dnsname_suite());
}
