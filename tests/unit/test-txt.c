/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"
#include "testsupport.h"
#include "core/txt.h"

/* 2026-06-12 00:00:00 UTC: every id test runs on this fixed clock. */
#define NOW ((time_t)1781222400)
#define STAMP "20260612000000"

#define ID32 "abcdefghijklmnopqrstuvwxyz012345"
#define ID33 ID32 "6"
#define NAME33 "abcdefghijklmnopqrstuvwxyz0123456"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- id syntax ---------------------------------------------------- */

static const struct {
	const char *id;
	bool valid;
} id_cases[] = {
	{ "1", true },
	{ "a", true },
	{ "Z", true },
	{ STAMP, true },
	{ ID32, true },
	{ ID33, false },
	{ "", false },
	{ "abc-1", false },
	{ "a:b", false },
	{ "a.b", false },
	{ "a+b", false },	/* MiaB #1779: base64 */
	{ "a/b", false },
	{ "a_b", false },
	{ "a=", false },
	{ "a b", false },
	{ "\xc3\xa9", false },	/* non-ASCII letter */
};

START_TEST(test_id_syntax)
{
	ck_assert_msg(txt_id_is_valid(id_cases[_i].id) == id_cases[_i].valid,
		"id \"%s\"", id_cases[_i].id);
}
END_TEST

/* ---- id compare --------------------------------------------------- */

static const struct {
	const char *a, *b;
	int sign;
} compare_cases[] = {
	{ "9", "10", -1 },
	{ "10", "9", 1 },
	{ "007", "7", 0 },
	{ "1", "1", 0 },
	{ STAMP, "20260612000001", -1 },
	{ "99999999999999999999999999999999", "100000000000000000000000000000000", -1 },
	{ "abc", "abd", -1 },
	{ "b", "abc", 1 },
	{ "10", "9a", -1 },	/* not both numbers: byte-wise */
};

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

START_TEST(test_id_compare)
{
	const char *a = compare_cases[_i].a, *b = compare_cases[_i].b;
	ck_assert_int_eq(sign(txt_id_compare(a, b)), compare_cases[_i].sign);
	ck_assert_int_eq(sign(txt_id_compare(b, a)), -compare_cases[_i].sign);
}
END_TEST

/* ---- id bump ------------------------------------------------------ */

static const struct {
	const char *current;
	time_t now;
	const char *want;	/* NULL: must fail */
} bump_cases[] = {
	{ NULL, NOW, STAMP },
	{ "", NOW, STAMP },
	{ "abc", NOW, STAMP },	/* not a number: the time wins */
	{ "1", NOW, STAMP },
	{ "20260611235959", NOW, STAMP },
	{ STAMP, NOW, "20260612000001" },	/* same second */
	{ "20260612000001", NOW, "20260612000002" },
	{ "20270101000000", NOW, "20270101000001" },	/* clock set back */
	{ "0099999999999999", NOW, "100000000000000" },
	{ "9999999999999999999999999999999", NOW,
		"10000000000000000000000000000000" },	/* 31 -> 32 digits */
	{ "99999999999999999999999999999999", NOW, NULL },	/* 33 */
	{ "19700101000000", 0, "19700101000001" },
	{ NULL, 0, "19700101000000" },
};

START_TEST(test_id_bump)
{
	char out[TXT_ID_MAX + 1] = "";
	const char *current = bump_cases[_i].current;
	int rc = txt_id_bump(current, bump_cases[_i].now, out);
	if (!bump_cases[_i].want) {
		ck_assert_int_eq(rc, -1);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, bump_cases[_i].want);
	ck_assert(txt_id_is_valid(out));
	if (current && *current && strspn(current, "0123456789") ==
		strlen(current))
		ck_assert_int_gt(txt_id_compare(out, current), 0);
}
END_TEST

/* ---- rendering ---------------------------------------------------- */

START_TEST(test_sts_value)
{
	char buf[64];
	ck_assert_int_eq(txt_sts_value(STAMP, buf, sizeof(buf)), 26);
	ck_assert_str_eq(buf, "v=STSv1; id=" STAMP);
	ck_assert_int_eq(txt_sts_value(ID32, buf, sizeof(buf)), 44);
	ck_assert_int_eq(txt_sts_value(ID33, buf, sizeof(buf)), -1);
	ck_assert_int_eq(txt_sts_value("", buf, sizeof(buf)), -1);
	ck_assert_int_eq(txt_sts_value("a+b", buf, sizeof(buf)), -1);
	/* Exactly room for "v=STSv1; id=1" and its NUL, then one less. */
	ck_assert_int_eq(txt_sts_value("1", buf, 14), 13);
	ck_assert_int_eq(txt_sts_value("1", buf, 13), -1);
}
END_TEST

static const struct {
	const char *rua;
	const char *want;	/* NULL: must fail */
} tlsrpt_value_cases[] = {
	{ "mailto:tlsrpt@example.com",
		"v=TLSRPTv1; rua=mailto:tlsrpt@example.com" },
	{ "mailto:a@example.com , https://r.example.com/tlsrpt",
		"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/tlsrpt" },
	{ " mailto:a@example.com,mailto:b@example.com ",
		"v=TLSRPTv1; rua=mailto:a@example.com,mailto:b@example.com" },
	{ "MAILTO:a@example.com", "v=TLSRPTv1; rua=MAILTO:a@example.com" },
	{ "", NULL },
	{ "http://r.example.com/", NULL },
	{ "mailto:a@example.com!10m", NULL },
	{ "mailto:a@example.com,", NULL },
};

START_TEST(test_tlsrpt_value)
{
	char buf[128];
	int rc = txt_tlsrpt_value(tlsrpt_value_cases[_i].rua, buf, sizeof(buf));
	if (!tlsrpt_value_cases[_i].want) {
		ck_assert_int_eq(rc, -1);
		return;
	}
	ck_assert_int_eq(rc, (int)strlen(tlsrpt_value_cases[_i].want));
	ck_assert_str_eq(buf, tlsrpt_value_cases[_i].want);
	/* What we render must pass our own parser without a finding. */
	struct diag d;
	diag_init(&d);
	ck_assert_int_eq(txt_parse_tlsrpt(buf, &d, NULL, 0), 0);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
	diag_finish(&d);
	/* One byte short of the NUL fails. */
	ck_assert_int_eq(txt_tlsrpt_value(tlsrpt_value_cases[_i].rua, buf,
		(size_t)rc), -1);
}
END_TEST

/* ---- STS parsing: valid ------------------------------------------- */

static const struct {
	const char *value;
	const char *id;
	bool clean;		/* no finding at all */
} sts_valid_cases[] = {
	{ "v=STSv1; id=" STAMP, STAMP, true },
	{ "v=STSv1;id=1", "1", true },
	{ "v=STSv1; id=1;", "1", true },
	{ "v=STSv1; id=1; ", "1", true },
	{ "v=STSv1; id=20160831085700Z;", "20160831085700Z", true },	/* RFC */
	{ "v=STSv1; id=" ID32, ID32, true },
	{ "v=STSv1; id=1; ext=\"x\"", "1", false },
	{ "v=STSv1; ext=1; id=2", "2", false },
	{ "v=STSv1;\tid=1", "1", false },
	{ "v=STSv1 ; id=1", "1", false },
};

START_TEST(test_sts_valid)
{
	struct diag d;
	diag_init(&d);
	struct txt_sts out = {0};
	const char *v = sts_valid_cases[_i].value;
	ck_assert_msg(txt_parse_sts(v, &out, &d, "f", 1) == 0, "%s:%s", v,
		test_diag_dump(&d));
	ck_assert_str_eq(out.id, sts_valid_cases[_i].id);
	ck_assert_int_eq(d.errors, 0);
	if (sts_valid_cases[_i].clean)
		ck_assert_msg(d.len == 0, "%s:%s", v, test_diag_dump(&d));
	ck_assert_int_eq(txt_parse_sts(v, NULL, &d, "f", 1), 0);
	diag_finish(&d);
}
END_TEST

/* ---- STS parsing: errors ------------------------------------------ */

static const struct {
	const char *value;
	const char *text;	/* in the error message */
} sts_error_cases[] = {
	{ "v=sTSv1; id=1", "case-sensitive" },
	{ "V=STSv1; id=1", "case-sensitive" },
	{ "v=STSv2; id=1", "does not begin with v=STSv1" },
	{ "id=1; v=STSv1", "does not begin with v=STSv1" },
	{ "", "does not begin with v=STSv1" },
	{ " v=STSv1; id=1", "starts with whitespace" },
	{ "v = STSv1; id=1", "spaces around '='" },
	{ "v=STSv1", "no id= field" },
	{ "v=STSv1;", "no id= field" },
	{ "v=STSv1; ext=1", "no id= field" },
	{ "v=STSv1id=1", "does not continue with ';'" },
	{ "v=STSv1; id=", "id is empty" },
	{ "v=STSv1; id=" ID33, "33 characters long" },
	{ "v=STSv1; id=abc-1", "contains '-'" },
	{ "v=STSv1; id=a:b", "contains ':'" },
	{ "v=STSv1; id=a.b", "contains '.'" },
	{ "v=STSv1; id=a+b", "contains '+'" },
	{ "v=STSv1; id=ab/c", "contains '/'" },
	{ "v=STSv1; id=a_b", "contains '_'" },
	{ "v=STSv1; id=a=", "contains '='" },
	{ "v=STSv1; id=a\x01", "byte 0x01" },
	{ "v=STSv1; id = 1", "spaces around '='" },
	{ "v=STSv1; id =1", "spaces around '='" },
	{ "v=STSv1; id= 1", "spaces around '='" },
	{ "v=STSv1; ID=1", "field \"ID\" is not \"id\" — field names are "
		"case-sensitive (RFC 8461 §3.1): write id=" },
	{ "v=STSv1; id=1; x", "has no '='" },
	{ "v=STSv1; id=1; =x", "no name" },
	{ "v=STSv1; id=1; _x=1", "field name \"_x\" contains '_'" },
	{ "v=STSv1; id=1; " NAME33 "=1", "longer than 32" },
	{ "v=STSv1; id=1; x=a=b", "in its value" },
	{ "v=STSv1; id=1; x=", "empty value" },
	{ "v=STSv1; id=1; x=\xc3\xa9", "byte 0xc3" },
	{ "v=STSv1; id=1 x=1", "separated from the previous field by a space" },
	{ "v=STSv1; id=1 ", "ends in whitespace" },
	{ "v=STSv1;; id=1", "empty field" },
};

START_TEST(test_sts_errors)
{
	struct diag d;
	diag_init(&d);
	struct txt_sts out = { .id = "unchanged" };
	const char *v = sts_error_cases[_i].value;
	ck_assert_int_eq(txt_parse_sts(v, &out, &d, "dns", 7), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 7, sts_error_cases[_i].text),
		"\"%s\": want error \"%s\", got:%s", v, sts_error_cases[_i].text,
		test_diag_dump(&d));
	ck_assert_str_eq(d.items[0].file, "dns");
	ck_assert_str_eq(out.id, "unchanged");
	diag_finish(&d);
}
END_TEST

/* ---- STS parsing: warnings ---------------------------------------- */

static const struct {
	const char *value;
	const char *text;
} sts_warning_cases[] = {
	{ "v=STSv1 ; id=1", "Errata 6285" },
	{ "v=STSv1; id=1 ;", "whitespace before ';'" },
	{ "v=STSv1;  id=1", "more than one space" },
	{ "v=STSv1;\tid=1", "more than one space" },
	{ "v=STSv1; id=1; foo=bar", "unknown field \"foo=bar\"" },
	{ "v=STSv1; id=1; v=STSv1", "unknown field \"v=STSv1\"" },
	{ "v=STSv1; id=1; id=2", "more than once" },
	{ "v=STSv1; id=1; ID=2", "field \"ID\" is not \"id\"" },
	{ "v=STSv1; Id=2; id=1", "case-sensitive (RFC 8461 §3.1) and senders "
		"ignore it" },
};

START_TEST(test_sts_warnings)
{
	struct diag d;
	diag_init(&d);
	struct txt_sts out = {0};
	const char *v = sts_warning_cases[_i].value;
	ck_assert_int_eq(txt_parse_sts(v, &out, &d, "dns", 3), 0);
	ck_assert_int_eq(d.errors, 0);
	ck_assert_msg(test_diag_has(&d, DIAG_WARNING, 3,
		sts_warning_cases[_i].text), "\"%s\": want \"%s\", got:%s", v,
		sts_warning_cases[_i].text, test_diag_dump(&d));
	/* Duplicates: the first id wins, as mox does. */
	ck_assert_str_eq(out.id, "1");
	diag_finish(&d);
}
END_TEST

/* ---- TLS-RPT parsing ---------------------------------------------- */

static const struct {
	const char *value;
	const char *text;	/* NULL: valid without findings */
} tlsrpt_cases[] = {
	{ "v=TLSRPTv1; rua=mailto:tlsrpt@example.com", NULL },
	{ "v=TLSRPTv1;rua=mailto:a@example.com,https://r.example.com/tlsrpt",
		NULL },
	{ "v=TLSRPTv1; rua=mailto:a@example.com , mailto:b@example.com;",
		NULL },
	{ "v=TLSRPTv1; rua=https://r.example.com/a%2Cb?x=1", NULL },
	{ "v=TLSRPTv1; rua=mailto:a@example.com?subject=tls", NULL },
	{ "v=TLSRPTv1", "no rua= field" },
	{ "v=TLSRPTv1;", "no rua= field" },
	{ "v=TLSRPTv1; rua=", "rua is empty" },
	{ "v=tlsrptv1; rua=mailto:a@example.com", "case-sensitive" },
	{ "v=STSv1; rua=mailto:a@example.com", "does not begin with v=TLSRPTv1" },
	{ "v=TLSRPTv1; RUA=mailto:a@example.com", "case-sensitive" },
	{ "v=TLSRPTv1; rua=http://r.example.com/", "scheme http:" },
	{ "v=TLSRPTv1; rua=ftp://r.example.com/", "scheme ftp:" },
	{ "v=TLSRPTv1; rua=tlsrpt@example.com", "is not a URI" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com!10m", "'!'" },
	{ "v=TLSRPTv1; rua=https://r.example.com/a;b", "no '='" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com mailto:b@example.com",
		"without ','" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com,", "ends with ','" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com",
		"empty entry" },
	{ "v=TLSRPTv1; rua=mailto:", "no mail address" },
	{ "v=TLSRPTv1; rua=mailto:@example.com", "no mail address" },
	{ "v=TLSRPTv1; rua=https:/r.example.com", "no host" },
	{ "v=TLSRPTv1; rua=https://", "no host" },
	{ "v=TLSRPTv1; rua=https://r.example.com/%2", "two hex digits" },
	{ "v=TLSRPTv1; rua=https://r.example.com/<x>", "'<'" },
	{ "v=TLSRPTv1; rua= mailto:a@example.com", "spaces around '='" },
};

START_TEST(test_tlsrpt_parse)
{
	struct diag d;
	diag_init(&d);
	const char *v = tlsrpt_cases[_i].value, *text = tlsrpt_cases[_i].text;
	int rc = txt_parse_tlsrpt(v, &d, "dns", 2);
	if (!text) {
		ck_assert_msg(rc == 0 && d.len == 0, "\"%s\":%s", v,
			test_diag_dump(&d));
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 2, text),
			"\"%s\": want \"%s\", got:%s", v, text,
			test_diag_dump(&d));
	}
	diag_finish(&d);
}
END_TEST

START_TEST(test_tlsrpt_rua)
{
	struct diag d;
	diag_init(&d);
	ck_assert_int_eq(txt_check_tlsrpt_rua("mailto:tlsrpt@example.com, "
		"https://r.example.com/v1", "example.com", &d, "conf", 9), 0);
	ck_assert_int_eq(d.len, 0);
	ck_assert_int_eq(txt_check_tlsrpt_rua("mailto:a@example.com;x",
		"example.com", &d, "conf", 9), -1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 9,
		"example.com: rua \"mailto:a@example.com;x\" contains ';'"),
		"%s", test_diag_dump(&d));
	ck_assert_str_eq(d.items[0].file, "conf");
	diag_finish(&d);

	diag_init(&d);
	ck_assert_int_eq(txt_check_tlsrpt_rua("", NULL, &d, NULL, 0), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 0, "rua is empty"));
	diag_finish(&d);
}
END_TEST

/* ---- `dig +short` answers ----------------------------------------- */

struct want {
	int severity;
	unsigned line;
	const char *text;
};

static const struct {
	const char *text;
	int rc;
	struct want want[3];	/* up to three findings that must be there */
} lint_cases[] = {
	{ "\"v=STSv1; id=20260612000000\"\n", 0, {{0}} },
	{ "\"v=STSv1; \" \"id=1\"\n", 0, {{0}} },
	{ "\"v=STS\" \"v1; id=1\"", 0, {{0}} },	/* split anywhere */
	{ "v=STSv1; id=1\n", 0, {{0}} },	/* raw, unquoted */
	{ "  \"v=STSv1; id=1\"  \r\n", 0, {{0}} },
	{ "\n\n\"v=STSv1; id=1\"\n\n", 0, {{0}} },
	{ "\"\"\n\"v=STSv1; id=1\"\n", 0, {{0}} },
	{ "\"v=STSv1\\059 id=1\"", 0, {{0}} },	/* \059 is ';' */
	{ "\"v=TLSRPTv1; rua=mailto:a@example.com\"\n\"v=STSv1; id=1\"\n", 0,
		{{0}} },
	{ "\"google-site-verification=x\"\n\"v=STSv1; id=1\"", 0,
		{ { DIAG_NOTE, 1, "does not begin with \"v=STSv1;\"" } } },
	{ "_mta-sts.provider.example.\n\"v=STSv1; id=1\"", 0,
		{ { DIAG_NOTE, 1, "alias of \"_mta-sts.provider.example.\"" } } },
	{ "\"v=STSv1; id=1\"\n\"v=STSv1; id=2\"\n", -1,
		{ { DIAG_ERROR, 2, "2 v=STSv1 records — senders treat the "
			"domain as having no policy (§3.1): keep exactly one" } } },
	{ "\"v=STSv1; id=1\"\n\"x\"\n\"v=STSv1; id=2\"\n\"v=STSv1; id=3\"", -1,
		{ { DIAG_ERROR, 3, "3 v=STSv1 records" } } },
	{ "", -1, { { DIAG_ERROR, 0, "no v=STSv1 record — senders will not "
		"look for a policy: publish _mta-sts.<domain> TXT "
		"\"v=STSv1; id=...\"" } } },
	{ "\"v=TLSRPTv1; rua=mailto:a@example.com\"", -1,
		{ { DIAG_ERROR, 0, "no v=STSv1 record" } } },
	{ "\"v=TLSRPTv1; rua=http://r.example.com\"\n\"v=STSv1; id=1\"", -1,
		{ { DIAG_ERROR, 1, "scheme http:" } } },
	{ "\"v=STSv1 ; id=1\"", -1,
		{ { DIAG_ERROR, 1, "senders discard it" },
		  { DIAG_ERROR, 1, "Errata 6285" },
		  { DIAG_ERROR, 0, "no v=STSv1 record" } } },
	{ "\"v=STSv1\"", -1, { { DIAG_ERROR, 1, "senders discard it" } } },
	{ "\"V=STSv1; id=1\"", -1,
		{ { DIAG_ERROR, 1, "case-sensitive" },
		  { DIAG_ERROR, 0, "no v=STSv1 record" } } },
	{ "\" v=STSv1; id=1\"", -1,
		{ { DIAG_ERROR, 1, "leading whitespace" } } },
	{ "\"v=STSv1; id=1", -1,
		{ { DIAG_ERROR, 1, "unterminated quote" },
		  { DIAG_ERROR, 0, "no v=STSv1 record" } } },
	{ "\"v=STSv1; id=1\\", -1, { { DIAG_ERROR, 1, "unterminated" } } },
	{ "\"v=STSv1; id=1\" junk", -1,
		{ { DIAG_ERROR, 1, "text after a quoted string" } } },
	{ "\"v=STSv1; id=\\999\"", -1, { { DIAG_ERROR, 1, "bad escape" } } },
	{ "\"v=STSv1; id=\\1\"", -1, { { DIAG_ERROR, 1, "bad escape" } } },
	{ "\"v=STSv1; id=a+b\"", -1, { { DIAG_ERROR, 1, "contains '+'" } } },
	{ "\"v=STSv1; id=\\\"1\\\"\"", -1,
		{ { DIAG_ERROR, 1, "contains '\"'" } } },
	{ "\"v=STSv1; id=\\\\1\"", -1, { { DIAG_ERROR, 1, "contains '\\'" } } },
	{ "\"v=STSv1; id=1\\000\"", -1, { { DIAG_ERROR, 1, "NUL byte" } } },
	{ "\"x\"\n\n\"v=STSv1; id=\"\n", -1,
		{ { DIAG_NOTE, 1, "ignore it" },
		  { DIAG_ERROR, 3, "id is empty" } } },
	{ "\"v=STSv1; id=1; foo=bar\"", 0,
		{ { DIAG_WARNING, 1, "unknown field" } } },
	/* a discarded look-alike beside exactly one valid record: a warning */
	{ "\"v=STSv1 ; id=1\"\n\"v=STSv1; id=2\"", 0,
		{ { DIAG_WARNING, 1, "senders discard it" } } },
	{ "\"v=STSv1x; id=1\"\n\"v=STSv1; id=2\"", 0,
		{ { DIAG_WARNING, 1, "use the other one" } } },
	/* zone-file lines: each owner name judged on its own */
	{ "_mta-sts.a.example. 3600 IN TXT \"v=STSv1; id=1\"\n"
	  "_smtp._tls.a.example. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:t@a.example\"\n"
	  "_mta-sts.b.example. 3600 IN TXT \"v=STSv1; id=2\"\n"
	  "_smtp._tls.b.example. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:t@b.example\"\n",
	  0, {{0}} },
	{ "_mta-sts.a.example. IN TXT \"v=STSv1; id=1\"\n"
	  "_mta-sts.B.example IN TXT \"v=STSv1; id=2\"\n"
	  "_mta-sts.b.example. IN TXT \"v=STSv1; id=3\"\n", -1,
		{ { DIAG_ERROR, 3, "_mta-sts.B.example: 2 v=STSv1 records" } } },
	{ "_mta-sts.a.example. IN TXT \"v=STSv1; id=1\"\n"
	  "_mta-sts.b.example. IN TXT \"x\"\n", -1,
		{ { DIAG_ERROR, 2, "_mta-sts.b.example: no v=STSv1 record" } } },
	{ "_smtp._tls.a.example. IN TXT \"v=TLSRPTv1; rua=mailto:t@a.example\"\n"
	  "_smtp._tls.a.example. IN TXT \"v=TLSRPTv1; rua=mailto:u@a.example\"\n",
	  -1, { { DIAG_ERROR, 2, "_smtp._tls.a.example: 2 v=TLSRPTv1 records" } } },
	{ "_smtp._tls.a.example. IN TXT \"x\"\n", -1,
		{ { DIAG_ERROR, 1, "no v=TLSRPTv1 record" } } },
};

START_TEST(test_lint_answer)
{
	struct diag d;
	diag_init(&d);
	const char *text = lint_cases[_i].text;
	int rc = txt_lint_answer(text, strlen(text), "answer", &d);
	ck_assert_msg(rc == lint_cases[_i].rc, "\"%s\": rc %d:%s", text, rc,
		test_diag_dump(&d));
	if (rc == 0)
		ck_assert_int_eq(d.errors, 0);
	for (size_t k = 0; k < ARRAY_LEN(lint_cases[_i].want); k++) {
		const struct want *w = &lint_cases[_i].want[k];
		if (!w->text)
			break;
		ck_assert_msg(test_diag_has(&d, w->severity, w->line, w->text),
			"\"%s\": want %d at %u \"%s\", got:%s", text,
			w->severity, w->line, w->text, test_diag_dump(&d));
	}
	if (rc == 0 && !lint_cases[_i].want[0].text)
		ck_assert_msg(d.len == 0, "\"%s\":%s", text, test_diag_dump(&d));
	for (size_t k = 0; k < d.len; k++)
		ck_assert_str_eq(d.items[k].file, "answer");
	diag_finish(&d);
}
END_TEST

/* The length bounds the input: nothing past len is read. */
START_TEST(test_lint_answer_length)
{
	struct diag d;
	diag_init(&d);
	const char text[] = "\"v=STSv1; id=1\"\n\"v=STSv1; id=2\"";
	ck_assert_int_eq(txt_lint_answer(text, 16, "answer", &d), 0);
	ck_assert_msg(d.len == 0, "%s", test_diag_dump(&d));
	diag_finish(&d);
}
END_TEST

/* Zone-file lines, as `mta-stsd txt` and a full `dig` answer print them,
 * are read for their data; comments are skipped. */
START_TEST(test_lint_answer_zone_lines)
{
	struct diag d;
	diag_init(&d);
	const char good[] =
		"; from mta-stsd txt\n"
		"_mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=20261101\"\n"
		"_smtp._tls.example.com.\t3600\tIN\tTXT\t"
		"\"v=TLSRPTv1; rua=mailto:t@example.com\"\n";
	ck_assert_int_eq(txt_lint_answer(good, strlen(good), "a", &d), 0);
	ck_assert_msg(d.errors == 0, "%s", test_diag_dump(&d));
	diag_finish(&d);

	diag_init(&d);
	const char bad[] = "_mta-sts.example.com. IN TXT \"v=STSv1; id=a-b\"\n";
	ck_assert_int_eq(txt_lint_answer(bad, strlen(bad), "a", &d), -1);
	ck_assert(test_diag_has(&d, DIAG_ERROR, 1, "a-b"));
	diag_finish(&d);
}
END_TEST

/*
 * Found by fuzz-txt-answer: a bad \DDD escape at the end of the text was
 * quoted with "%.3s" from the input, reading past len. Here the bytes
 * after len are "XY", which must not appear in the message.
 */
START_TEST(test_lint_answer_escape_at_end)
{
	struct diag d;
	diag_init(&d);
	const char text[] = "\"v=STSv1; id=\\1\"XY";
	ck_assert_int_eq(txt_lint_answer(text, sizeof(text) - 3, "answer", &d),
		-1);
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, 1, "bad escape \\1\" — "),
		"%s", test_diag_dump(&d));
	diag_finish(&d);
}
END_TEST

/* txt_quote: character-strings of at most 255 bytes, escapes kept whole. */
START_TEST(test_quote)
{
	char *q = txt_quote("v=STSv1; id=1");
	ck_assert_str_eq(q, "\"v=STSv1; id=1\"");
	free(q);
	q = txt_quote("");
	ck_assert_str_eq(q, "\"\"");
	free(q);
	q = txt_quote("a\"b\\c");
	ck_assert_str_eq(q, "\"a\\\"b\\\\c\"");
	free(q);
	char value[600];
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	value[254] = '"';	/* the last byte of the first string */
	q = txt_quote(value);
	/* "x{254}\"" "x{255}" "x{89}": 255 + 255 + 89 bytes of value */
	char want[700];
	size_t o = 0;
	want[o++] = '"';
	memset(want + o, 'x', 254);
	o += 254;
	memcpy(want + o, "\\\"\" \"", 5);
	o += 5;
	memset(want + o, 'x', 255);
	o += 255;
	memcpy(want + o, "\" \"", 3);
	o += 3;
	memset(want + o, 'x', 89);
	o += 89;
	memcpy(want + o, "\"", 2);
	ck_assert_str_eq(q, want);
	free(q);
}
END_TEST

static Suite *txt_suite(void)
{
	Suite *s = suite_create("txt");
	TCase *tc;

	tc = tcase_create("id syntax");
	tcase_add_loop_test(tc, test_id_syntax, 0, ARRAY_LEN(id_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("id compare");
	tcase_add_loop_test(tc, test_id_compare, 0, ARRAY_LEN(compare_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("id bump");
	tcase_add_loop_test(tc, test_id_bump, 0, ARRAY_LEN(bump_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("sts value");
	tcase_add_test(tc, test_sts_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("tlsrpt value");
	tcase_add_loop_test(tc, test_tlsrpt_value, 0,
		ARRAY_LEN(tlsrpt_value_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("sts valid");
	tcase_add_loop_test(tc, test_sts_valid, 0, ARRAY_LEN(sts_valid_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("sts errors");
	tcase_add_loop_test(tc, test_sts_errors, 0, ARRAY_LEN(sts_error_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("sts warnings");
	tcase_add_loop_test(tc, test_sts_warnings, 0,
		ARRAY_LEN(sts_warning_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("tlsrpt parse");
	tcase_add_loop_test(tc, test_tlsrpt_parse, 0, ARRAY_LEN(tlsrpt_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("tlsrpt rua");
	tcase_add_test(tc, test_tlsrpt_rua);
	suite_add_tcase(s, tc);

	tc = tcase_create("quote");
	tcase_add_test(tc, test_quote);
	suite_add_tcase(s, tc);

	tc = tcase_create("dig answer");
	tcase_add_loop_test(tc, test_lint_answer, 0, ARRAY_LEN(lint_cases));
	tcase_add_test(tc, test_lint_answer_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("zone-file lines");
	tcase_add_test(tc, test_lint_answer_zone_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz regressions");
	tcase_add_test(tc, test_lint_answer_escape_at_end);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	return test_run(txt_suite());
}
