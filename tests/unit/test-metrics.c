/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "server/metrics.h"
#include "server/snapshot.h"
#include "server/useragent.h"
#include "util/diag.h"
#include "util/text.h"
#include "testsupport.h"

static const struct {
	const char *agent;
	const char *family;
} agents[] = {
	{ "postfix-mta-sts-resolver", "postfix-mta-sts-resolver" },
	{ "Python/3.11 aiohttp/3.8.4 postfix-mta-sts-resolver/1.4.0",
		"postfix-mta-sts-resolver" },
	{ "Google-SMTP-STS", "google" },
	{ "Mozilla/5.0 (compatible; Microsoft Exchange)", "microsoft" },
	{ "curl/7.88.1", "curl" },
	{ "Python-urllib/3.11", "python" },
	{ "Go-http-client/1.1", "go" },
	{ "mta-stsd-check/0.1.0", "mta-stsd" },
	{ "YahooMailProxy", "yahoo" },
	{ NULL, "none" },
	{ "", "none" },
	{ "evil\x1b[31m\"} 1\nmta_stsd_x 2", "other" },
	{ "curl", "other" },	/* no version: not what curl sends */
};

START_TEST(test_useragent_table)
{
	const char *got = useragent_family_name(useragent_classify(
		agents[_i].agent));
	ck_assert_msg(strcmp(got, agents[_i].family) == 0, "%s -> %s, not %s",
		agents[_i].agent ? agents[_i].agent : "(none)", got,
		agents[_i].family);
}
END_TEST

START_TEST(test_useragent_long_agent)
{
	/* A name past the first 256 bytes is not looked at. */
	char agent[1200];
	memset(agent, 'a', sizeof(agent) - 1);
	agent[sizeof(agent) - 1] = '\0';
	memcpy(agent + 1000, "google", 6);
	ck_assert_int_eq(useragent_classify(agent), USERAGENT_OTHER);
	ck_assert_str_eq(useragent_family_name(USERAGENT_FAMILY_COUNT), "other");
}
END_TEST

START_TEST(test_escape_json)
{
	char buf[64];
	ck_assert_str_eq(text_escape_json(buf, sizeof(buf), "a\"b\\c\x01\xff"),
		"a\\u0022b\\u005cc\\u0001\\u00ff");
}
END_TEST

static struct snapshot *load(void)
{
	struct diag d;
	diag_init(&d);
	struct config *config = calloc(1, sizeof(*config));
	ck_assert_int_eq(config_load_string(
		"domains = ( { name = \"example.com\"; mode = \"enforce\";\n"
		"  mx = [ \"mx.example.com\" ]; cert = \"c\"; key = \"k\"; },\n"
		"  { name = \"example.org\"; mx = [ \"mx.example.org\" ];\n"
		"  cert = \"c\"; key = \"k\"; id = \"abc1\"; },\n"
		"  { name = \"bad.example\"; mx = [ \"mx.example.org\" ];\n"
		"  mode = \"enforce\"; max_age = 99999999999;\n"
		"  cert = \"c\"; key = \"k\"; } );\n",
		"t.conf", config, &d), 0);
	struct snapshot_options options = {
		.now = time(NULL),
		.load_certificates = true,
		.generate_certificates = true,
	};
	struct snapshot *snap = snapshot_create(config, &options, &d);
	ck_assert_ptr_nonnull(snap);
	diag_finish(&d);
	return snap;
}

static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += len) {
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return true;
	}
	return false;
}

START_TEST(test_metrics_render)
{
	struct metrics *m = metrics_create();
	struct snapshot *snap = load();
	ck_assert_int_eq(metrics_attach(m, snap), 0);
	metrics_loaded(m, snap, false, 1700000000);

	const struct snapshot_domain *com = snapshot_find(snap, "example.com");
	ck_assert_ptr_nonnull(com);
	for (int i = 0; i < 3; i++)
		metrics_count_request(m, com, 200, "Google-SMTP-STS");
	metrics_count_request(m, com, 421, "x");
	metrics_count_request(m, com, 418, "x");
	metrics_count_request(m, NULL, 421, NULL);
	metrics_count_connection(m, true);
	metrics_count_connection(m, true);
	metrics_count_connection(m, false);
	metrics_reload_failed(m);

	/* A reload with the same domains: the counters carry on. */
	struct snapshot *again = load();
	ck_assert_int_eq(metrics_attach(m, again), 0);
	metrics_loaded(m, again, true, 1700000100);
	metrics_count_request(m, snapshot_find(again, "example.com"), 200,
		NULL);

	size_t len;
	char *text = metrics_render(m, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(strlen(text), len);
	static const char *const expected[] = {
		"mta_stsd_requests_total{domain=\"example.com\",code=\"200\"} 4",
		"mta_stsd_requests_total{domain=\"example.com\",code=\"421\"} 1",
		"mta_stsd_requests_total{domain=\"example.com\",code=\"other\"} 1",
		"mta_stsd_requests_total{domain=\"\",code=\"421\"} 1",
		"mta_stsd_policy_fetches_total{sender=\"google\"} 3",
		"mta_stsd_policy_fetches_total{sender=\"none\"} 1",
		"mta_stsd_connections_open 1",
		"mta_stsd_connections_total 2",
		"mta_stsd_reloads_total{result=\"success\"} 1",
		"mta_stsd_reloads_total{result=\"failure\"} 1",
		"mta_stsd_last_reload_successful 1",
		"mta_stsd_last_reload_success_timestamp_seconds 1700000100",
		"mta_stsd_domain_served{domain=\"example.com\"} 1",
		"mta_stsd_domain_served{domain=\"bad.example\"} 0",
		"mta_stsd_policy_info{domain=\"example.org\",id=\"abc1\","
			"mode=\"testing\"} 1",
		"# TYPE mta_stsd_requests_total counter",
	};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		if (!has_line(text, expected[i]))
			fprintf(stderr, "%s", text);
		ck_assert_msg(has_line(text, expected[i]), "no line %s",
			expected[i]);
	}
	/* Not counted: no series. */
	ck_assert_ptr_null(strstr(text, "domain=\"example.org\",code="));
	free(text);
	snapshot_unref(snap);
	snapshot_unref(again);
	metrics_destroy(m);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("sender families");
	tcase_add_loop_test(tc, test_useragent_table, 0,
		sizeof(agents) / sizeof(agents[0]));
	tcase_add_test(tc, test_useragent_long_agent);
	tcase_add_test(tc, test_escape_json);
	suite_add_tcase(s, tc);
	tc = tcase_create("exposition");
	tcase_add_test(tc, test_metrics_render);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(metrics_suite());
}
