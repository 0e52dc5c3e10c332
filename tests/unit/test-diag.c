/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"
#include "util/log.h"
#include "util/text.h"
#include "testsupport.h"

START_TEST(test_diag_counts_and_order)
{
	struct diag d;
	diag_init(&d);
	diag_add(&d, DIAG_WARNING, "a.conf", 3, "w", "first %d", 1);
	diag_add(&d, DIAG_ERROR, "a.conf", 7, "e", "second");
	diag_add(&d, DIAG_NOTE, NULL, 0, NULL, "third");
	ck_assert_uint_eq(d.len, 3);
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_uint_eq(d.warnings, 1);
	ck_assert(diag_has_errors(&d));
	ck_assert_str_eq(d.items[0].message, "first 1");
	ck_assert_str_eq(d.items[1].file, "a.conf");
	ck_assert_uint_eq(d.items[1].line, 7);
	ck_assert_ptr_null(d.items[2].file);
	diag_finish(&d);
	ck_assert_uint_eq(d.len, 0);
	diag_finish(&d);
}
END_TEST

START_TEST(test_diag_print_format)
{
	struct diag d;
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "x.conf", 12, NULL, "bad — fix it");
	diag_add(&d, DIAG_WARNING, "y.txt", 0, NULL, "file only");
	diag_add(&d, DIAG_NOTE, NULL, 0, NULL, "nowhere");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	diag_print(&d, f);
	fclose(f);
	ck_assert_str_eq(buf, "x.conf:12: error: bad — fix it\n"
		"y.txt: warning: file only\n"
		"note: nowhere\n");
	free(buf);
	diag_finish(&d);
}
END_TEST

START_TEST(test_diag_copy_range)
{
	struct diag src, dst;
	diag_init(&src);
	diag_init(&dst);
	diag_add(&src, DIAG_ERROR, "a.conf", 1, "one", "first");
	diag_add(&src, DIAG_WARNING, NULL, 0, "two", "second");
	diag_add(&src, DIAG_ERROR, "c.conf", 3, "three", "third");
	diag_copy_range(&dst, &src, 1, 3);
	diag_copy_range(&dst, &src, 2, 9);	/* bounded by src->len */
	ck_assert_uint_eq(dst.len, 3);
	ck_assert_uint_eq(dst.errors, 2);
	ck_assert_uint_eq(dst.warnings, 1);
	ck_assert_str_eq(dst.items[0].message, "second");
	ck_assert_ptr_null(dst.items[0].file);
	ck_assert_str_eq(dst.items[1].code, "three");
	ck_assert_str_eq(dst.items[2].file, "c.conf");
	ck_assert_uint_eq(dst.items[2].line, 3);
	ck_assert_ptr_ne(dst.items[1].message, src.items[2].message);
	ck_assert_uint_eq(src.len, 3);
	diag_finish(&src);
	diag_finish(&dst);
}
END_TEST

START_TEST(test_diag_move)
{
	struct diag a, b;
	diag_init(&a);
	diag_init(&b);
	diag_add(&a, DIAG_ERROR, NULL, 0, NULL, "a1");
	diag_add(&b, DIAG_WARNING, NULL, 0, NULL, "b1");
	diag_add(&b, DIAG_ERROR, NULL, 0, NULL, "b2");
	diag_move(&a, &b);
	ck_assert_uint_eq(a.len, 3);
	ck_assert_uint_eq(a.errors, 2);
	ck_assert_uint_eq(a.warnings, 1);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(a.items[2].message, "b2");
	diag_finish(&a);
	diag_finish(&b);
}
END_TEST

START_TEST(test_diag_sort_is_stable)
{
	struct diag d;
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "b", 5, NULL, "b5");
	diag_add(&d, DIAG_ERROR, "a", 9, NULL, "a9");
	diag_add(&d, DIAG_WARNING, "b", 2, NULL, "b2");
	diag_add(&d, DIAG_ERROR, "b", 2, NULL, "b2 second");
	diag_add(&d, DIAG_ERROR, "a", 1, NULL, "a1");
	diag_sort(&d);
	const char *want[] = { "a1", "a9", "b2", "b2 second", "b5" };
	for (size_t i = 0; i < 5; i++)
		ck_assert_str_eq(d.items[i].message, want[i]);
	diag_finish(&d);
}
END_TEST

START_TEST(test_diag_escape)
{
	char buf[16];
	ck_assert_str_eq(text_escape(buf, sizeof(buf), "a\"b\\c", 5),
		"a\\x22b\\x5cc");
	ck_assert_str_eq(text_escape(buf, sizeof(buf), "x\0y\x1b", 4),
		"x\\x00y\\x1b");
	/* Cut with "..." and never past the buffer. */
	ck_assert_str_eq(text_escape(buf, sizeof(buf), "0123456789abcdef",
		16), "0123456789ab...");
}
END_TEST

START_TEST(test_log_escape)
{
	char buf[32];
	ck_assert_str_eq(text_escape_str(buf, sizeof(buf), "plain text"),
		"plain text");
	ck_assert_str_eq(text_escape_str(buf, sizeof(buf), "a\nb\"c\\"),
		"a\\x0ab\\x22c\\x5c");
	ck_assert_str_eq(text_escape_str(buf, sizeof(buf), NULL), "-");
	ck_assert_str_eq(text_escape_str(buf, sizeof(buf), "\xff"), "\\xff");
	char small[8];
	ck_assert_str_eq(text_escape_str(small, sizeof(small), "abcdefghijkl"),
		"abcd...");
}
END_TEST

/* Each input, as JSON with valid UTF-8 kept: RFC 3629 section 4's table
 * at its edges. */
static const struct {
	const char *in, *out;
} json_utf8_cases[] = {
	{ "plain /path", "plain /path" },
	{ "q\"b\\c\x01\x1f\x7f", "q\\u0022b\\u005cc\\u0001\\u001f\\u007f" },
	{ "caf\xc3\xa9", "caf\xc3\xa9" },			/* U+00E9 */
	{ "\xc2\x80\xdf\xbf", "\xc2\x80\xdf\xbf" },	/* U+0080, U+07FF */
	{ "\xe0\xa0\x80\xef\xbf\xbf", "\xe0\xa0\x80\xef\xbf\xbf" },
	{ "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
		"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf" },	/* U+10000, U+10FFFF */
	{ "l\xe9", "l\\u00e9" },			/* Latin-1, not UTF-8 */
	{ "\x80", "\\u0080" },			/* a lone continuation */
	{ "\xc0\xaf", "\\u00c0\\u00af" },		/* overlong "/" */
	{ "\xe0\x9f\xbf", "\\u00e0\\u009f\\u00bf" },	/* overlong */
	{ "\xed\xa0\x80", "\\u00ed\\u00a0\\u0080" },	/* a surrogate */
	{ "\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080" },	/* > U+10FFFF */
	{ "\xf5\x80", "\\u00f5\\u0080" },
	{ "\xc3", "\\u00c3" },			/* cut at the end */
	{ "\xe2\x82x", "\\u00e2\\u0082x" },		/* cut by an ASCII byte */
};

START_TEST(test_escape_json_utf8)
{
	char buf[64];
	const char *in = json_utf8_cases[_i].in, *out = json_utf8_cases[_i].out;
	size_t n = text_escape_json_utf8(buf, sizeof(buf), in, strlen(in));
	ck_assert_str_eq(buf, out);
	ck_assert_uint_eq(n, strlen(out));
}
END_TEST

START_TEST(test_escape_json_utf8_size)
{
	/* The worst case, every byte escaped, fits TEXT_ESCAPE_JSON_SIZE;
	 * one byte less cuts it with "...". */
	char in[40], buf[TEXT_ESCAPE_JSON_SIZE(sizeof(in))];
	memset(in, '\x01', sizeof(in));
	size_t n = text_escape_json_utf8(buf, sizeof(buf), in, sizeof(in));
	ck_assert_uint_eq(n, 6 * sizeof(in));
	ck_assert_str_eq(buf + n - 6, "\\u0001");
	n = text_escape_json_utf8(buf, sizeof(buf) - 1, in, sizeof(in));
	ck_assert_str_eq(buf + n - 3, "...");
	ck_assert_uint_eq(n, strlen(buf));
	/* A UTF-8 sequence is kept whole or cut before it, never split. */
	char small[8];
	n = text_escape_json_utf8(small, sizeof(small), "ab\xe2\x82\xac", 5);
	ck_assert_str_eq(small, "ab...");
	ck_assert_uint_eq(n, 5);
}
END_TEST

static Suite *diag_suite(void)
{
	Suite *s = suite_create("diag");
	TCase *tc = tcase_create("findings list");
	tcase_add_test(tc, test_diag_counts_and_order);
	tcase_add_test(tc, test_diag_print_format);
	tcase_add_test(tc, test_diag_move);
	tcase_add_test(tc, test_diag_copy_range);
	tcase_add_test(tc, test_diag_sort_is_stable);
	tcase_add_test(tc, test_diag_escape);
	suite_add_tcase(s, tc);
	tc = tcase_create("log escaping");
	tcase_add_test(tc, test_log_escape);
	suite_add_tcase(s, tc);
	tc = tcase_create("json escaping with utf-8 kept");
	tcase_add_loop_test(tc, test_escape_json_utf8, 0,
		sizeof(json_utf8_cases) / sizeof(json_utf8_cases[0]));
	tcase_add_test(tc, test_escape_json_utf8_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(diag_suite());
}
