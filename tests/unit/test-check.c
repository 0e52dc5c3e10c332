/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of `mta-stsd check`: verdicts, exit statuses, the human
 * and JSON reports, and MX coverage with the one-label wildcard rule.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "checker/assess.h"
#include "checker/report.h"
#include "checker/resolve.h"
#include "checker/work.h"
#include "core/policy.h"
#include "util/diag.h"
#include "testsupport.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FINDINGS_MAX 4

struct mark_area {
	enum check_mark mark;
	enum check_area area;
};

struct verdict_case {
	struct mark_area findings[FINDINGS_MAX];
	size_t count;
	bool enforce;
	bool dns_failed;
	enum check_verdict want;
	int want_exit;
};

static const struct verdict_case verdict_cases[] = {
	/* nothing at all, or only passes and notes: ready */
	{ {{0}}, 0, false, false, CHECK_VERDICT_READY, CHECK_EXIT_OK },
	{ {{ CHECK_OK, CHECK_AREA_TXT }, { CHECK_INFO, CHECK_AREA_DNSSEC }},
		2, false, false, CHECK_VERDICT_READY, CHECK_EXIT_OK },
	/* warnings never change the verdict, only the exit status */
	{ {{ CHECK_OK, CHECK_AREA_TXT }, { CHECK_WARN, CHECK_AREA_TLSRPT }},
		2, true, false, CHECK_VERDICT_READY, CHECK_EXIT_WARNINGS },
	/* discovery failures: the policy is ignored, whatever the mode */
	{ {{ CHECK_FAIL, CHECK_AREA_TXT }}, 1, false, false,
		CHECK_VERDICT_NOT_WORKING, CHECK_EXIT_FAILURES },
	{ {{ CHECK_OK, CHECK_AREA_TXT }, { CHECK_FAIL, CHECK_AREA_HTTPS }},
		2, true, false, CHECK_VERDICT_NOT_WORKING, CHECK_EXIT_FAILURES },
	{ {{ CHECK_FAIL, CHECK_AREA_POLICY }, { CHECK_FAIL, CHECK_AREA_MX }},
		2, false, false, CHECK_VERDICT_NOT_WORKING, CHECK_EXIT_FAILURES },
	/* delivery failures: fine in testing, at risk under enforce */
	{ {{ CHECK_OK, CHECK_AREA_POLICY }, { CHECK_FAIL, CHECK_AREA_MX }},
		2, false, false, CHECK_VERDICT_FIX_BEFORE_ENFORCE,
		CHECK_EXIT_FAILURES },
	{ {{ CHECK_FAIL, CHECK_AREA_SMTP }}, 1, true, false,
		CHECK_VERDICT_AT_RISK, CHECK_EXIT_FAILURES },
	{ {{ CHECK_FAIL, CHECK_AREA_CONFIG }}, 1, false, false,
		CHECK_VERDICT_FIX_BEFORE_ENFORCE, CHECK_EXIT_FAILURES },
	{ {{ CHECK_FAIL, CHECK_AREA_DNSSEC }, { CHECK_WARN, CHECK_AREA_SMTP }},
		2, true, false, CHECK_VERDICT_AT_RISK, CHECK_EXIT_FAILURES },
	/* no DNS at all: nothing can be said */
	{ {{ CHECK_FAIL, CHECK_AREA_DNS }}, 1, false, true,
		CHECK_VERDICT_UNKNOWN, CHECK_EXIT_FAILURES },
};

START_TEST(test_verdict)
{
	const struct verdict_case *c = &verdict_cases[_i];
	struct check_domain d;
	ck_assert_int_eq(check_domain_init(&d, "example.com"), 0);
	for (size_t i = 0; i < c->count; i++)
		check_add(&d, c->findings[i].mark, c->findings[i].area, "code",
			NULL, NULL, "finding %zu", i);
	d.enforce = c->enforce;
	d.dns_failed = c->dns_failed;
	ck_assert_int_eq(check_verdict(&d), c->want);
	ck_assert_int_eq(check_exit_status(&d, 1), c->want_exit);
	check_domain_finish(&d);
}
END_TEST

START_TEST(test_exit_status_over_domains)
{
	struct check_domain d[3];
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(check_domain_init(&d[i], "example.com"), 0);
	ck_assert_int_eq(check_exit_status(d, 3), CHECK_EXIT_OK);
	check_add(&d[1], CHECK_WARN, CHECK_AREA_TLSRPT, "w", NULL, NULL, "w");
	ck_assert_int_eq(check_exit_status(d, 3), CHECK_EXIT_WARNINGS);
	check_add(&d[2], CHECK_FAIL, CHECK_AREA_MX, "f", NULL, NULL, "f");
	ck_assert_int_eq(check_exit_status(d, 3), CHECK_EXIT_FAILURES);
	ck_assert_int_eq(check_exit_status(d, 1), CHECK_EXIT_OK);
	ck_assert_int_eq(check_exit_status(d, 0), CHECK_EXIT_OK);
	for (size_t i = 0; i < 3; i++)
		check_domain_finish(&d[i]);
}
END_TEST

START_TEST(test_verdict_texts)
{
	ck_assert_str_eq(check_verdict_text(CHECK_VERDICT_READY),
		"ready for enforce");
	ck_assert_str_eq(check_verdict_text(CHECK_VERDICT_FIX_BEFORE_ENFORCE),
		"safe in testing, fix before enforce");
	ck_assert_str_eq(check_verdict_text(CHECK_VERDICT_NOT_WORKING),
		"not working: senders will ignore the policy");
	ck_assert_str_eq(check_verdict_name(CHECK_VERDICT_AT_RISK), "at-risk");
	ck_assert_str_eq(check_verdict_name(CHECK_VERDICT_UNKNOWN), "unknown");
}
END_TEST

/* ------------------------------------------------------------------ */

static struct policy make_policy(const char *const *mx)
{
	struct policy p;
	policy_init(&p);
	p.mode = POLICY_MODE_ENFORCE;
	p.max_age = POLICY_WEEK;
	for (; *mx; mx++)
		ck_assert_int_eq(policy_add_mx(&p, *mx), 0);
	return p;
}

struct cover_case {
	const char *host;
	const char *covering;	/* NULL: not covered */
	const char *near;	/* the near-miss wildcard, or NULL */
};

static const char *const cover_policy[] = {
	"mail.example.com", "*.mx.example.net", "*.Example.ORG", NULL,
};

static const struct cover_case cover_cases[] = {
	{ "mail.example.com", "mail.example.com", NULL },
	{ "MAIL.Example.COM.", "mail.example.com", NULL },
	{ "mail2.example.com", NULL, NULL },
	/* exactly one label in front of the wildcard's base */
	{ "a.mx.example.net", "*.mx.example.net", NULL },
	{ "a.mx.example.net.", "*.mx.example.net", NULL },
	/* two labels deeper: not covered, and said why */
	{ "a.b.mx.example.net", NULL, "*.mx.example.net" },
	{ "x.y.z.mx.example.net", NULL, "*.mx.example.net" },
	/* the base itself is not covered, and is no near miss either */
	{ "mx.example.net", NULL, NULL },
	{ "amx.example.net", NULL, NULL },
	{ "mx1.example.org", "*.example.org", NULL },
	{ "a.mx1.example.org", NULL, "*.example.org" },
	{ "example.org", NULL, NULL },
};

START_TEST(test_covering)
{
	const struct cover_case *c = &cover_cases[_i];
	struct policy p = make_policy(cover_policy);
	const char *got = assess_mx_covering(&p, c->host);
	if (c->covering)
		ck_assert_str_eq(got, c->covering);
	else
		ck_assert_ptr_null(got);
	const char *near = assess_mx_near_miss(&p, c->host);
	if (c->near)
		ck_assert_str_eq(near, c->near);
	else
		ck_assert_ptr_null(near);
	policy_finish(&p);
}
END_TEST

START_TEST(test_mx_line)
{
	char buf[300];
	assess_mx_line("mx2.example.com", buf, sizeof(buf));
	ck_assert_str_eq(buf, "mx: mx2.example.com");
	assess_mx_line("mx2.example.com.", buf, sizeof(buf));
	ck_assert_str_eq(buf, "mx: mx2.example.com");
	assess_mx_line("", buf, sizeof(buf));
	ck_assert_str_eq(buf, "mx: ");
}
END_TEST

static const struct check_finding *find(const struct check_domain *d,
	const char *code, const char *subject)
{
	for (size_t i = 0; i < d->count; i++)
		if (strcmp(d->findings[i].code, code) == 0 &&
				(!subject || (d->findings[i].subject &&
				strcmp(d->findings[i].subject, subject) == 0)))
			return &d->findings[i];
	return NULL;
}

START_TEST(test_coverage_findings)
{
	static const char *const mx[] = {
		"mail.example.com", "*.mx.example.net", "old.example.com", NULL,
	};
	static const char *const hosts[] = {
		"mail.example.com", "a.mx.example.net", "a.b.mx.example.net",
		"new.example.com",
	};
	struct policy p = make_policy(mx);
	struct check_domain d;
	ck_assert_int_eq(check_domain_init(&d, "example.com"), 0);
	assess_mx_coverage(&d, &p, hosts, ARRAY_LEN(hosts));

	const struct check_finding *f = find(&d, "mx-covered",
		"a.mx.example.net");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->mark, CHECK_OK);
	ck_assert_str_eq(f->text,
		"MX a.mx.example.net is covered by \"mx: *.mx.example.net\"");

	f = find(&d, "mx-not-covered", "new.example.com");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->mark, CHECK_FAIL);
	ck_assert_int_eq(f->area, CHECK_AREA_MX);
	ck_assert_str_eq(f->result_type, "validation-failure");
	ck_assert_str_eq(f->text, "MX new.example.com is not covered by the "
		"policy");
	ck_assert_str_eq(f->advice, "Nothing in the policy matches "
		"new.example.com (RFC 8461 §4.1), so senders refuse to deliver "
		"to it now, since enforce is on: add the line \"mx: "
		"new.example.com\" to the policy and publish a new id.");

	f = find(&d, "mx-not-covered", "a.b.mx.example.net");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->advice, "\"mx: *.mx.example.net\" matches exactly "
		"one label in front of mx.example.net, not a.b.mx.example.net "
		"(RFC 8461 §4.1), so senders refuse to deliver to it now, since "
		"enforce is on: add the line \"mx: a.b.mx.example.net\" to the "
		"policy and publish a new id.");

	f = find(&d, "mx-pattern-unused", NULL);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(f->mark, CHECK_INFO);
	ck_assert_str_eq(f->subject, "old.example.com");
	ck_assert_str_eq(f->text, "\"mx: old.example.com\" matches no MX host "
		"of example.com (harmless; remove it if it is left over)");
	/* two covered, two not, one unused pattern */
	ck_assert_uint_eq(d.count, 5);
	ck_assert_int_eq(check_verdict(&d), CHECK_VERDICT_FIX_BEFORE_ENFORCE);
	check_domain_finish(&d);
	policy_finish(&p);

	/* In testing the loss is future; a wildcard matching nothing, as
	 * from a policy shared by several domains, is no reason to act. */
	const char *shared[] = { "*.mx.provider.example", "mx.example.com",
		NULL };
	const char *own[] = { "mx.example.com" };
	p = make_policy(shared);
	p.mode = POLICY_MODE_TESTING;
	ck_assert_int_eq(check_domain_init(&d, "example.com"), 0);
	assess_mx_coverage(&d, &p, own, 1);
	f = find(&d, "mx-pattern-unused", NULL);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->text, "\"mx: *.mx.provider.example\" matches no "
		"MX host of example.com (fine for a policy shared by several "
		"domains)");
	ck_assert_ptr_null(f->advice);
	const char *other[] = { "mx.other.example" };
	check_domain_finish(&d);
	ck_assert_int_eq(check_domain_init(&d, "example.com"), 0);
	assess_mx_coverage(&d, &p, other, 1);
	f = find(&d, "mx-not-covered", "mx.other.example");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(strstr(f->advice, "senders would refuse to "
		"deliver to it under enforce"));
	check_domain_finish(&d);
	policy_finish(&p);
}
END_TEST

/* ------------------------------------------------------------------ */

static char *print_to_string(const struct check_domain *d, bool colour)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	check_print(d, f, colour);
	fclose(f);
	return buf;
}

static void sample(struct check_domain *d)
{
	ck_assert_int_eq(check_domain_init(d, "example.com"), 0);
	check_add(d, CHECK_OK, CHECK_AREA_TXT, "txt-ok", NULL,
		"_mta-sts.example.com", "TXT _mta-sts.example.com: \"%s\"",
		"v=STSv1; id=1");
	check_add(d, CHECK_INFO, CHECK_AREA_DNSSEC, "dnssec-off", NULL, NULL,
		"DNSSEC: not validated");
	check_add(d, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-missing", NULL,
		NULL, "no TLS-RPT record");
	check_advise(d, "Publish one.");
	check_add(d, CHECK_FAIL, CHECK_AREA_SMTP, "smtp-cert-name",
		"certificate-host-mismatch", "mx.example.com",
		"MX mx.example.com: the certificate is for other.example.com");
	check_advise(d, "Get a certificate that includes %s.",
		"mx.example.com");
	check_set_detail(d, "detail-code");
}

/*
 * Text from the network (a Content-Type, an MX certificate's names) enters
 * a finding through text_escape, so it cannot drive the terminal, while
 * our own quotes and dashes stay readable.
 */
START_TEST(test_remote_text_escaped)
{
	struct check_options o = { .https_port = 443, .smtp_port = 25,
		.timeout_s = 1 };
	struct check_work w = {0};
	policy_init(&w.policy);
	ck_assert_int_eq(check_domain_init(&w.report, "example.com"), 0);
	snprintf(w.name, sizeof(w.name), "example.com");
	snprintf(w.policy_host, sizeof(w.policy_host), "mta-sts.example.com");
	const char *address = "192.0.2.1";
	w.addresses = &address;
	w.address_count = 1;
	w.fetched = true;
	w.fetch.status = FETCH_OK;
	w.fetch.http_status = 200;
	w.fetch.body = (char *)"";
	w.fetch.content_type = (char *)"text/html\033]0;pwned\a\xc2\x9b\"";
	struct check_mx_host host = { .name = (char *)"mx.example.com",
		.addresses = &address, .address_count = 1 };
	host.probe.outcome = PROBE_DONE;
	host.probe.tls.host_mismatch = true;
	snprintf(host.probe.tls.names, sizeof(host.probe.tls.names),
		"\033[2Jother.example");
	w.hosts = &host;
	w.host_count = 1;
	struct diag d;
	diag_init(&d);
	struct resolver *res = resolver_create("127.0.0.1", NULL, &d);
	ck_assert_ptr_nonnull(res);
	assess_domain(&w, res, &o);
	char *text = print_to_string(&w.report, false);
	ck_assert_ptr_null(strchr(text, '\033'));
	ck_assert_ptr_null(strchr(text, '\a'));
	ck_assert_ptr_null(strstr(text, "\xc2\x9b"));
	ck_assert_ptr_nonnull(strstr(text, "the policy is served as "
		"\"text/html\\x1b]0;pwned\\x07\\xc2\\x9b\\x22\""));
	ck_assert_ptr_nonnull(strstr(text, "the certificate is for "
		"\\x1b[2Jother.example"));
	free(text);
	resolver_destroy(res);
	diag_finish(&d);
	check_domain_finish(&w.report);
	policy_finish(&w.policy);
}
END_TEST

START_TEST(test_print)
{
	struct check_domain d;
	sample(&d);
	char *text = print_to_string(&d, false);
	ck_assert_str_eq(text,
		"example.com\n"
		"[  ok  ] TXT _mta-sts.example.com: \"v=STSv1; id=1\"\n"
		"[ info ] DNSSEC: not validated\n"
		"[ warn ] no TLS-RPT record\n"
		"         Publish one.\n"
		"[ FAIL ] MX mx.example.com: the certificate is for "
		"other.example.com\n"
		"         Get a certificate that includes mx.example.com.\n"
		"verdict: safe in testing, fix before enforce\n");
	free(text);
	d.enforce = true;
	text = print_to_string(&d, true);
	ck_assert_ptr_nonnull(strstr(text, "[\033[1;31m FAIL \033[0m] MX "));
	ck_assert_ptr_nonnull(strstr(text, "[\033[32m  ok  \033[0m] TXT"));
	ck_assert_ptr_nonnull(strstr(text, "\nverdict: at risk: enforce is "
		"on"));
	free(text);
	check_domain_finish(&d);
}
END_TEST

START_TEST(test_json)
{
	struct check_domain d[2];
	sample(&d[0]);
	ck_assert_int_eq(check_domain_init(&d[1], "example.org"), 0);
	char *text = check_json(d, 2);
	ck_assert_ptr_nonnull(text);
	json_object *root = json_tokener_parse(text);
	ck_assert_ptr_nonnull(root);
	json_object *v;
	ck_assert(json_object_object_get_ex(root, "version", &v));
	ck_assert_int_eq(json_object_get_int(v), 1);
	ck_assert(json_object_object_get_ex(root, "exit_status", &v));
	ck_assert_int_eq(json_object_get_int(v), CHECK_EXIT_FAILURES);
	json_object *domains;
	ck_assert(json_object_object_get_ex(root, "domains", &domains));
	ck_assert_uint_eq(json_object_array_length(domains), 2);

	json_object *first = json_object_array_get_idx(domains, 0);
	ck_assert(json_object_object_get_ex(first, "domain", &v));
	ck_assert_str_eq(json_object_get_string(v), "example.com");
	ck_assert(json_object_object_get_ex(first, "verdict", &v));
	ck_assert_str_eq(json_object_get_string(v), "fix-before-enforce");
	ck_assert(json_object_object_get_ex(first, "verdict_text", &v));
	ck_assert_str_eq(json_object_get_string(v),
		"safe in testing, fix before enforce");
	json_object *findings;
	ck_assert(json_object_object_get_ex(first, "findings", &findings));
	ck_assert_uint_eq(json_object_array_length(findings), 4);

	json_object *f = json_object_array_get_idx(findings, 3);
	static const char *const want[][2] = {
		{ "code", "smtp-cert-name" },
		{ "status", "fail" },
		{ "check", "smtp" },
		{ "detail", "detail-code" },
		{ "subject", "mx.example.com" },
		{ "result_type", "certificate-host-mismatch" },
		{ "advice", "Get a certificate that includes mx.example.com." },
	};
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		ck_assert_msg(json_object_object_get_ex(f, want[i][0], &v),
			"no %s", want[i][0]);
		ck_assert_str_eq(json_object_get_string(v), want[i][1]);
	}
	/* Absent values are null, never missing, so the shape is stable. */
	f = json_object_array_get_idx(findings, 1);
	ck_assert(json_object_object_get_ex(f, "advice", &v));
	ck_assert_ptr_null(v);
	ck_assert(json_object_object_get_ex(f, "result_type", &v));
	ck_assert_ptr_null(v);

	json_object *second = json_object_array_get_idx(domains, 1);
	ck_assert(json_object_object_get_ex(second, "verdict", &v));
	ck_assert_str_eq(json_object_get_string(v), "ready");
	json_object_put(root);
	free(text);
	check_domain_finish(&d[0]);
	check_domain_finish(&d[1]);
}
END_TEST

START_TEST(test_finish_zeroed)
{
	struct check_domain d = {0};
	check_domain_finish(&d);
	check_domain_finish(NULL);
	/* advice and detail with no finding yet are ignored */
	ck_assert_int_eq(check_domain_init(&d, "example.com"), 0);
	check_advise(&d, "nothing to advise");
	check_set_detail(&d, "x");
	ck_assert_uint_eq(d.count, 0);
	check_domain_finish(&d);
}
END_TEST

static Suite *check_suite(void)
{
	Suite *s = suite_create("check");
	TCase *tc = tcase_create("verdict");
	tcase_add_loop_test(tc, test_verdict, 0, ARRAY_LEN(verdict_cases));
	tcase_add_test(tc, test_exit_status_over_domains);
	tcase_add_test(tc, test_verdict_texts);
	suite_add_tcase(s, tc);

	tc = tcase_create("mx coverage");
	tcase_add_loop_test(tc, test_covering, 0, ARRAY_LEN(cover_cases));
	tcase_add_test(tc, test_mx_line);
	tcase_add_test(tc, test_coverage_findings);
	suite_add_tcase(s, tc);

	tc = tcase_create("report");
	tcase_add_test(tc, test_print);
	tcase_add_test(tc, test_remote_text_escaped);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_finish_zeroed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(check_suite());
}
