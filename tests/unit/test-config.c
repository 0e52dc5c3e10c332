/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "buildconf.h"
#include "config/config.h"
#include "util/diag.h"
#include "core/policy.h"
#include "testsupport.h"
#include "tls/priorities.h"

static struct config cfg;
static struct diag d;

static void setup(void)
{
	cfg = (struct config){0};
	diag_init(&d);
}

static void teardown(void)
{
	config_finish(&cfg);
	diag_finish(&d);
}

/*
 * Loads text as "test.conf" into the fixture, dropping the last result.
 * -1 when any error was found, also one that only keeps a domain from
 * being served (usable() tells those apart).
 */
static int usable;

static int load(const char *text)
{
	config_finish(&cfg);
	diag_finish(&d);
	diag_init(&d);
	usable = config_load_string(text, "test.conf", &cfg, &d);
	return usable < 0 || d.errors ? -1 : 0;
}

static int load_file(const char *path)
{
	config_finish(&cfg);
	diag_finish(&d);
	diag_init(&d);
	usable = config_load_file(path, &cfg, &d);
	return usable < 0 || d.errors ? -1 : 0;
}

/* Is there an error at exactly file:line containing text? */
static bool has_error_at(const char *file, unsigned line, const char *text)
{
	for (size_t i = 0; i < d.len; i++) {
		const struct diag_item *it = &d.items[i];
		if (it->severity == DIAG_ERROR && it->file &&
				!strcmp(it->file, file) && it->line == line &&
				strstr(it->message, text))
			return true;
	}
	return false;
}

static size_t count_errors(const char *text)
{
	size_t n = 0;
	for (size_t i = 0; i < d.len; i++) {
		if (d.items[i].severity == DIAG_ERROR &&
				strstr(d.items[i].message, text))
			n++;
	}
	return n;
}

#define ASSERT_OK() \
	ck_assert_msg(d.errors == 0, "unexpected errors:%s", \
		test_diag_dump(&d))
#define ASSERT_ERROR(line, text) \
	ck_assert_msg(test_diag_has(&d, DIAG_ERROR, (line), (text)), \
		"no error at line %u with \"%s\"; got:%s", (unsigned)(line), \
		(text), test_diag_dump(&d))
#define ASSERT_NO_ERROR(text) \
	ck_assert_msg(!test_diag_has(&d, DIAG_ERROR, 0, (text)), \
		"unexpected error with \"%s\":%s", (text), test_diag_dump(&d))

/* A complete domain entry, on one line. */
#define CERTS "cert = \"/c/%d.pem\"; key = \"/k/%d.key\";"
#define DOM(name) \
	"{ name = \"" name "\"; mx = \"mail.example.com\"; " CERTS " }"
#define DOMAINS_ONE "domains = ( " DOM("example.com") " );\n"

/* ------------------------------------------------------------------------ */

START_TEST(test_example_file)
{
	const char *root = getenv("MTASTSD_SOURCE_ROOT");
	ck_assert_ptr_nonnull(root);
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/conf/mta-stsd.conf", root), 0);
	int rc = load_file(path);
	ASSERT_OK();
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(cfg.domain_count, 3);

	const struct config_domain *ex = config_find_domain(&cfg,
		"example.com");
	ck_assert_ptr_nonnull(ex);
	ck_assert_int_eq(ex->policy.mode, POLICY_MODE_ENFORCE);
	ck_assert_uint_eq(ex->policy.max_age, 1209600);
	ck_assert_uint_eq(ex->policy.mx_count, 2);
	ck_assert_str_eq(ex->id, "20261128120000");
	ck_assert_str_eq(ex->file, path);

	const struct config_domain *c2 = config_find_domain(&cfg,
		"customer2.example");
	ck_assert_ptr_nonnull(c2);
	ck_assert_str_eq(c2->template_name, "hosted");
	ck_assert_str_eq(c2->cert,
		"/etc/mta-stsd/certs/customer2.example.pem");
	ck_assert_str_eq(c2->key, "/etc/mta-stsd/keys/customer2.example.key");
	ck_assert_str_eq(c2->tlsrpt_rua, "mailto:tlsrpt@provider.example");
	ck_assert_ptr_null(c2->id);
	ck_assert_str_eq(cfg.tls_priorities, TLS_DEFAULT_PRIORITIES);
	free(path);
}
END_TEST

START_TEST(test_builtin_defaults)
{
	ck_assert_int_eq(load(DOMAINS_ONE), 0);
	ASSERT_OK();
	ck_assert_str_eq(cfg.file, "test.conf");
	ck_assert_uint_eq(cfg.listen_count, 1);
	ck_assert_str_eq(cfg.listen[0], "[::]:443");
	ck_assert_str_eq(cfg.user, "mta-stsd");
	ck_assert_str_eq(cfg.group, "mta-stsd");
	ck_assert_str_eq(cfg.state_directory, MTASTSD_STATE_DIR);
	ck_assert_str_eq(cfg.tls_priorities, TLS_DEFAULT_PRIORITIES);
	ck_assert_ptr_null(cfg.tls_priorities_file);
	ck_assert_uint_eq(cfg.tls_priorities_line, 0);
	ck_assert_str_eq(cfg.log_level, "info");
	ck_assert_str_eq(cfg.log_target, "stderr");
	ck_assert(!cfg.access_log);
	ck_assert_uint_eq(cfg.threads, 0);
	ck_assert_uint_eq(cfg.max_connections, 4096);
	ck_assert_uint_eq(cfg.request_header_timeout, 10);
	ck_assert_uint_eq(cfg.max_connection_age, 300);
	ck_assert_uint_eq(cfg.max_connections_per_ip, 32);
	ck_assert_uint_eq(cfg.connection_timeout, 10);
	ck_assert_uint_eq(cfg.max_request_size, 8192);
	ck_assert_uint_eq(cfg.txt_ttl, 3600);
	ck_assert_uint_eq(cfg.domain_count, 1);
	ck_assert_int_eq(cfg.domains[0].policy.mode, POLICY_MODE_TESTING);
	ck_assert_uint_eq(cfg.domains[0].policy.max_age, POLICY_WEEK);
}
END_TEST

/* The table the man page quotes is the one applied: compare every row. */
START_TEST(test_defaults_table)
{
	ck_assert_int_eq(load(DOMAINS_ONE), 0);
	const struct {
		const char *key;
		unsigned value;
	} numbers[] = {
		{ "threads", cfg.threads },
		{ "max_connections", cfg.max_connections },
		{ "max_connections_per_ip", cfg.max_connections_per_ip },
		{ "connection_timeout", cfg.connection_timeout },
		{ "max_request_size", cfg.max_request_size },
		{ "txt_ttl", cfg.txt_ttl },
		{ "max_age", cfg.domains[0].policy.max_age },
	};
	size_t rows = 0, matched = 0;
	for (const struct config_default *e = config_defaults; e->key; e++) {
		rows++;
		for (const struct config_default *f = e + 1; f->key; f++)
			ck_assert_str_ne(e->key, f->key);
		for (size_t i = 0; i < sizeof(numbers) / sizeof(*numbers); i++) {
			if (strcmp(numbers[i].key, e->key))
				continue;
			ck_assert_uint_eq(strtoul(e->value, NULL, 10),
				numbers[i].value);
			matched++;
		}
		char quoted[512];
		snprintf(quoted, sizeof(quoted), "\"%s\"", cfg.user);
		if (!strcmp(e->key, "user"))
			ck_assert_str_eq(e->value, quoted);
		snprintf(quoted, sizeof(quoted), "\"%s\"", cfg.tls_priorities);
		if (!strcmp(e->key, "tls_priorities"))
			ck_assert_str_eq(e->value, quoted);
		snprintf(quoted, sizeof(quoted), "\"%s\"", cfg.state_directory);
		if (!strcmp(e->key, "state_directory"))
			ck_assert_str_eq(e->value, quoted);
		if (!strcmp(e->key, "mode"))
			ck_assert_str_eq(e->value, "\"testing\"");
		if (!strcmp(e->key, "access_log"))
			ck_assert_str_eq(e->value, "false");
	}
	ck_assert_uint_eq(matched, 7);
	ck_assert_uint_eq(rows, 20);
}
END_TEST

START_TEST(test_resolution_order)
{
	const char *text =
		"defaults = { mode = \"none\"; max_age = 100000;\n"
		"  mx = \"d.example.net\"; cert = \"/d/%d.pem\";\n"
		"  key = \"/d/%d.key\"; tlsrpt_rua = \"mailto:d@example.net\"; };\n"
		"policies = { t = { mode = \"testing\"; max_age = 200000;\n"
		"  mx = [ \"t.example.net\" ]; cert = \"/t/%d.pem\"; }; };\n"
		"domains = (\n"
		"  { name = \"a.example\"; },\n"
		"  { name = \"b.example\"; policy = \"t\"; },\n"
		"  { name = \"c.example\"; policy = \"t\"; mode = \"enforce\";\n"
		"    key = \"/c.key\"; tlsrpt_rua = \"https://r.example/x\"; }\n"
		");\n";
	ck_assert_int_eq(load(text), 0);
	ASSERT_OK();
	ck_assert_uint_eq(cfg.domain_count, 3);

	const struct config_domain *a = &cfg.domains[0];
	ck_assert_str_eq(a->name, "a.example");
	ck_assert_int_eq(a->policy.mode, POLICY_MODE_NONE);
	ck_assert_uint_eq(a->policy.max_age, 100000);
	ck_assert_uint_eq(a->policy.mx_count, 1);
	ck_assert_str_eq(a->policy.mx[0], "d.example.net");
	ck_assert_str_eq(a->cert, "/d/a.example.pem");
	ck_assert_str_eq(a->key, "/d/a.example.key");
	ck_assert_str_eq(a->tlsrpt_rua, "mailto:d@example.net");
	ck_assert_ptr_null(a->template_name);
	ck_assert_uint_eq(a->line, 7);

	const struct config_domain *b = &cfg.domains[1];
	ck_assert_int_eq(b->policy.mode, POLICY_MODE_TESTING);
	ck_assert_uint_eq(b->policy.max_age, 200000);
	ck_assert_str_eq(b->policy.mx[0], "t.example.net");
	ck_assert_str_eq(b->cert, "/t/b.example.pem");
	ck_assert_str_eq(b->key, "/d/b.example.key");
	ck_assert_str_eq(b->template_name, "t");

	const struct config_domain *c = &cfg.domains[2];
	ck_assert_int_eq(c->policy.mode, POLICY_MODE_ENFORCE);
	ck_assert_uint_eq(c->policy.max_age, 200000);
	ck_assert_str_eq(c->cert, "/t/c.example.pem");
	ck_assert_str_eq(c->key, "/c.key");
	ck_assert_str_eq(c->tlsrpt_rua, "https://r.example/x");
	ck_assert_uint_eq(c->line, 9);

	/* defaults sets mode only: max_age still comes from the built-in. */
	ck_assert_int_eq(load("defaults = { mode = \"enforce\"; };\n"
		DOMAINS_ONE), 0);
	ck_assert_int_eq(cfg.domains[0].policy.mode, POLICY_MODE_ENFORCE);
	ck_assert_uint_eq(cfg.domains[0].policy.max_age, POLICY_WEEK);
}
END_TEST

START_TEST(test_templates_and_names)
{
	const char *text =
		"policies = {\n"
		"  hosted = { mode = \"enforce\"; max_age = 1209600;\n"
		"    mx = [ \"mx1.provider.example\", \"*.mx.provider.example\" ];\n"
		"    cert = \"/etc/certs/%d.pem\"; key = \"/etc/keys/%d.key\"; };\n"
		"  other = { mx = \"mx.other.example\"; };\n"
		"};\n"
		"domains = (\n"
		"  { names = [ \"one.example\", \"Two.Example.\",\n"
		"      \"three.example\" ]; policy = \"hosted\"; },\n"
		"  { names = \"four.example\"; policy = \"other\"; " CERTS " }\n"
		");\n";
	ck_assert_int_eq(load(text), 0);
	ASSERT_OK();
	ck_assert_uint_eq(cfg.domain_count, 4);
	const char *names[] = {
		"one.example", "two.example", "three.example", "four.example",
	};
	for (size_t i = 0; i < 3; i++) {
		const struct config_domain *dom = &cfg.domains[i];
		ck_assert_str_eq(dom->name, names[i]);
		ck_assert_str_eq(dom->template_name, "hosted");
		ck_assert_int_eq(dom->policy.mode, POLICY_MODE_ENFORCE);
		ck_assert_uint_eq(dom->policy.mx_count, 2);
		ck_assert_str_eq(dom->policy.mx[1], "*.mx.provider.example");
		ck_assert_uint_eq(dom->line, 8);
		ck_assert_str_eq(dom->file, "test.conf");
	}
	ck_assert_str_eq(cfg.domains[1].cert, "/etc/certs/two.example.pem");
	ck_assert_str_eq(cfg.domains[3].name, "four.example");
	ck_assert_str_eq(cfg.domains[3].template_name, "other");
	ck_assert_int_eq(cfg.domains[3].policy.mode, POLICY_MODE_TESTING);
	ck_assert_str_eq(cfg.domains[3].key, "/k/four.example.key");
}
END_TEST

START_TEST(test_percent_expansion)
{
	const char *text =
		"domains = ( { name = \"example.com\"; mx = \"mx.example.com\";\n"
		"  cert = \"/x/%d/100%%-%d.pem\"; key = \"k-%d\"; } );\n";
	ck_assert_int_eq(load(text), 0);
	ASSERT_OK();
	ck_assert_str_eq(cfg.domains[0].cert,
		"/x/example.com/100%-example.com.pem");
	/* Text has no directory: relative paths stay as written. */
	ck_assert_str_eq(cfg.domains[0].key, "k-example.com");

	text =
		"defaults = {\n"
		"  cert = \"/c/%s.pem\";\n"
		"  key = \"/k/%d.key%\";\n"
		"};\n"
		DOMAINS_ONE;
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(2, "has `%s` — use %d for the domain or %% for a "
		"literal %");
	ASSERT_ERROR(3, "ends in a lone `%`");
}
END_TEST

START_TEST(test_relative_paths_and_include)
{
	char *dir = test_tmpdir();
	char *sub = NULL;
	ck_assert_int_ge(asprintf(&sub, "%s/domains.d", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	char *inc = test_write_file(dir, "domains.d/a.conf",
		"{ name = \"a.example\"; key = \"keys/%d.key\"; },\n"
		"{ name = \"b.example\"; cert = \"/abs/b.pem\"; }\n");
	char *main = test_write_file(dir, "main.conf",
		"state_directory = \"state\";\n"
		"defaults = { mx = \"mx.example.net\"; cert = \"certs/%d.pem\";\n"
		"  key = \"/keys/%d.key\"; };\n"
		"domains = (\n"
		"  { name = \"c.example\"; },\n"
		"  @include \"domains.d/a.conf\"\n"
		");\n");

	ck_assert_int_eq(load_file(main), 0);
	ASSERT_OK();
	char *want = NULL;
	ck_assert_int_ge(asprintf(&want, "%s/state", dir), 0);
	ck_assert_str_eq(cfg.state_directory, want);
	free(want);
	ck_assert_uint_eq(cfg.domain_count, 3);

	const struct config_domain *c = config_find_domain(&cfg, "c.example");
	ck_assert_int_ge(asprintf(&want, "%s/certs/c.example.pem", dir), 0);
	ck_assert_str_eq(c->cert, want);
	free(want);
	ck_assert_str_eq(c->key, "/keys/c.example.key");
	ck_assert_str_eq(c->file, main);
	ck_assert_uint_eq(c->line, 5);

	/* Set in the included file: relative to that file's directory. */
	const struct config_domain *a = config_find_domain(&cfg, "a.example");
	ck_assert_int_ge(asprintf(&want, "%s/keys/a.example.key", sub), 0);
	ck_assert_str_eq(a->key, want);
	free(want);
	ck_assert_str_eq(a->file, inc);
	ck_assert_uint_eq(a->line, 1);
	const struct config_domain *b = config_find_domain(&cfg, "b.example");
	ck_assert_str_eq(b->cert, "/abs/b.pem");
	ck_assert_uint_eq(b->line, 2);

	free(test_write_file(dir, "domains.d/a.conf",
		"{ name = \"a.example\"; mxx = \"x\"; },\n"
		"{ name = \"a.example\"; }\n"));
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_msg(has_error_at(inc, 1, "did you mean `mx`?"), "%s",
		test_diag_dump(&d));
	char *first = NULL;
	ck_assert_int_ge(asprintf(&first, "already configured at %s:1",
		inc), 0);
	ck_assert_msg(has_error_at(inc, 2, first), "%s", test_diag_dump(&d));
	free(first);

	/* A syntax error is reported in the included file. */
	free(test_write_file(dir, "domains.d/a.conf",
		"{ name = \"a.example\";\n  mode = enforce; }\n"));
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_msg(has_error_at(inc, 2, "syntax error"), "%s",
		test_diag_dump(&d));
	ck_assert_msg(has_error_at(inc, 2, "mode = \"enforce\";"), "%s",
		test_diag_dump(&d));

	/* A missing include names the directory it is relative to. */
	free(test_write_file(dir, "main.conf",
		"domains = (\n@include \"nope.conf\"\n);\n"));
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_msg(has_error_at(main, 2, "relative to"), "%s",
		test_diag_dump(&d));

	test_rmtree(dir);
	free(main);
	free(inc);
	free(sub);
	free(dir);
}
END_TEST

/* libconfig 1.5 exit()s on an @include of a directory (found by fuzzing
 * review): it must be an error at its line instead. */
START_TEST(test_include_not_a_file)
{
	char *dir = test_tmpdir();
	char *sub = NULL;
	if (asprintf(&sub, "%s/domains.d", dir) < 0)
		abort();
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	char *main = test_write_file(dir, "main.conf",
		"domains = (\n"
		"{ name = \"example.com\"; mx = [\"mx.example.com\"];\n"
		"  cert = \"c\"; key = \"k\"; }\n"
		",\n"
		"@include \"domains.d\"\n"
		");\n");
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_msg(has_error_at(main, 5, "Is a directory"), "%s",
		test_diag_dump(&d));

	/* A nested include is followed and checked too. */
	free(test_write_file(dir, "main.conf",
		"domains = (\n@include \"a.conf\"\n);\n"));
	char *a = test_write_file(dir, "a.conf",
		"{ name = \"a.example\"; mx = \"mx.a.example\"; cert = \"c\";"
		" key = \"k\"; }\n,\n@include \"domains.d\"\n");
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_msg(has_error_at(a, 3, "Is a directory"), "%s",
		test_diag_dump(&d));

	test_rmtree(dir);
	free(a);
	free(main);
	free(sub);
	free(dir);
}
END_TEST

START_TEST(test_unknown_keys)
{
	const char *text =
		"lissten = [ \"[::]:443\" ];\n"
		"mx = \"mail.example.com\";\n"
		"bogus_setting = 1;\n"
		"defaults = { id = \"1\"; maxage = 5; };\n"
		"policies = { p = { foo = 1; threads = 2; name = \"x\"; }; };\n"
		"domains = ( { name = \"example.com\"; mxx = \"m.example.com\";\n"
		"  policy = \"p\"; " CERTS " mx = \"m.example.com\"; } );\n";
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(1, "unknown setting `lissten` — did you mean `listen`?");
	ASSERT_ERROR(2, "`mx` is not a global setting — set it in defaults");
	ASSERT_ERROR(3, "unknown setting `bogus_setting` — valid settings "
		"in the top level are: listen, user, group");
	ASSERT_ERROR(4, "`id` can only be set in a domain entry");
	ASSERT_ERROR(4, "unknown setting `maxage` — did you mean `max_age`?");
	ASSERT_ERROR(5, "unknown setting `foo` — valid settings in a "
		"policies template are: mode, max_age, mx, cert, key, "
		"tlsrpt_rua");
	ASSERT_ERROR(5, "`threads` is a global setting");
	ASSERT_ERROR(5, "`name` can only be set in a domain entry");
	ASSERT_ERROR(6, "unknown setting `mxx` — did you mean `mx`?");
	ck_assert_uint_eq(d.errors, 9);
}
END_TEST

/* A misspelt key is reported once, without "no `mx` is set" after it. */
START_TEST(test_typo_no_cascade)
{
	ck_assert_int_eq(load("domains = (\n"
		"  { name = \"a.example\"; mxx = \"m.example.com\"; " CERTS " },\n"
		"  { nmae = \"b.example\"; }\n"
		");\n"), -1);
	ASSERT_ERROR(2, "did you mean `mx`?");
	ASSERT_ERROR(3, "did you mean `name`?");
	ck_assert_uint_eq(d.errors, 2);

	ck_assert_int_eq(load("policies = { p = { crt = \"/c\"; }; };\n"
		"domains = ( { name = \"a.example\"; policy = \"p\";\n"
		"  mx = \"m.example.com\"; key = \"/k\"; } );\n"), -1);
	ASSERT_ERROR(1, "did you mean `cert`?");
	ck_assert_uint_eq(d.errors, 1);
}
END_TEST

START_TEST(test_duplicates)
{
	const char *text =
		"domains = (\n"
		"  " DOM("example.com") ",\n"
		"  { names = [ \"a.example\",\n"
		"      \"EXAMPLE.com.\" ]; mx = \"mx.example.net\"; " CERTS " },\n"
		"  " DOM("A.Example") ",\n"
		"  " DOM("b.example") ",\n"
		"  " DOM("example.com") "\n"
		");\n";
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(4, "example.com is already configured at test.conf:2");
	ASSERT_ERROR(5, "a.example is already configured at test.conf:3");
	ASSERT_ERROR(7, "example.com is already configured at test.conf:2");
	ck_assert_uint_eq(d.errors, 3);
	ck_assert_uint_eq(count_errors("already configured"), 3);
}
END_TEST

START_TEST(test_domain_names)
{
	const char *text =
		"domains = (\n"
		"  { name = \"a.example\"; names = [ \"b.example\" ]; },\n"
		"  { mx = \"mx.example.com\"; },\n"
		"  { names = [ ]; },\n"
		"  { name = \"exa_mple.com\"; },\n"
		"  { name = \"mta-sts.example.com\"; },\n"
		"  { name = [ \"c.example\", \"d.example\" ]; },\n"
		"  { names = [ \"ok.example\", \"bad..example\" ]; "
			"mx = \"mx.example.com\"; " CERTS " }\n"
		");\n";
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(2, "`name` and `names` are both set");
	ASSERT_ERROR(3, "domain entry has no name — add name = "
		"\"example.com\"; or names = [");
	ASSERT_ERROR(4, "`names` is empty");
	ASSERT_ERROR(5, "`exa_mple.com` is not a valid domain name");
	ASSERT_ERROR(6, "`mta-sts.example.com` is a policy host, not a "
		"policy domain — give the policy domain: name = "
		"\"example.com\";");
	ASSERT_ERROR(7, "`name` takes one domain — for several write names");
	ASSERT_ERROR(8, "`bad..example` is not a valid domain name");
	/* The valid name of the last entry is still configured. */
	ck_assert_ptr_nonnull(config_find_domain(&cfg, "ok.example"));
	ck_assert_ptr_null(config_find_domain(&cfg, "bad..example"));
	ck_assert_uint_eq(d.errors, 7);
}
END_TEST

START_TEST(test_types)
{
	const char *text =
		"threads = \"4\";\n"
		"access_log = \"true\";\n"
		"user = 5;\n"
		"listen = 443;\n"
		"txt_ttl = 1.5;\n"
		"defaults = { max_age = \"604800\"; mx = 5; };\n"
		"policies = { p = { mx = [ 1, 2 ]; }; q = 1; };\n"
		DOMAINS_ONE;
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(1, "`threads` must be an integer, not a string — write "
		"it without quotes: threads = 4;");
	ASSERT_ERROR(2, "`access_log` must be true or false, not a string — "
		"write it without quotes: access_log = true;");
	ASSERT_ERROR(3, "`user` must be a string, not an integer — for "
		"example user = \"mta-stsd\";");
	ASSERT_ERROR(4, "`listen` must be a string or an array of strings, "
		"not an integer");
	ASSERT_ERROR(5, "`txt_ttl` must be an integer, not a decimal number "
		"— for example txt_ttl = 3600;");
	ASSERT_ERROR(6, "write it without quotes: max_age = 604800;");
	ASSERT_ERROR(6, "`mx` must be a string or an array of strings");
	ASSERT_ERROR(7, "`mx` entries must be strings, not an integer");
	ASSERT_ERROR(7, "policy `q` must be a group");
	ck_assert_uint_eq(d.errors, 9);
	/* A rejected value leaves the default in place. */
	ck_assert_uint_eq(cfg.threads, 0);

	ck_assert_int_eq(load("defaults = 1;\ndomains = { };\n"), -1);
	ASSERT_ERROR(1, "`defaults` must be a group { ... }, not an integer");
	ASSERT_ERROR(2, "`domains` must be a list ( ... ) of domain groups, "
		"not a group");
	ASSERT_NO_ERROR("no domains");

	ck_assert_int_eq(load("domains = ( 1 );\n"), -1);
	ASSERT_ERROR(1, "each element of `domains` must be a group");

	/* int64 values are integers too. */
	ck_assert_int_eq(load("defaults = { max_age = 604800L; };\n"
		DOMAINS_ONE), 0);
	ASSERT_OK();
}
END_TEST

START_TEST(test_global_ranges)
{
	static const struct {
		const char *key;
		const char *value;
		bool ok;
	} rows[] = {
		{ "threads", "0", true },
		{ "threads", "1024", true },
		{ "threads", "1025", false },
		{ "threads", "-1", false },
		{ "max_connections", "0", false },
		{ "max_connections", "1", true },
		{ "max_connections", "1000000", true },
		{ "max_connections", "1000001", false },
		{ "max_connections_per_ip", "0", true },
		{ "max_connections_per_ip", "1024", true },
		{ "connection_timeout", "0", false },
		{ "connection_timeout", "1", true },
		{ "connection_timeout", "3600", true },
		{ "connection_timeout", "3601", false },
		{ "max_request_size", "1023", false },
		{ "max_request_size", "1024", true },
		{ "max_request_size", "1048576", true },
		{ "max_request_size", "1048577", false },
		{ "txt_ttl", "59", false },
		{ "txt_ttl", "60", true },
		{ "txt_ttl", "604800", true },
		{ "txt_ttl", "604801", false },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		char *text = NULL;
		ck_assert_int_ge(asprintf(&text, "%s = %s;\n%s%s",
			rows[i].key, rows[i].value,
			strcmp(rows[i].key, "max_connections_per_ip") ?
			"max_connections_per_ip = 0;\n" : "", DOMAINS_ONE), 0);
		int rc = load(text);
		free(text);
		if (rows[i].ok) {
			ck_assert_msg(rc == 0 && d.errors == 0, "%s = %s:%s",
				rows[i].key, rows[i].value,
				test_diag_dump(&d));
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_msg(d.errors == 1 && test_diag_has(&d,
				DIAG_ERROR, 1, "is out of range — use"),
				"%s = %s:%s", rows[i].key, rows[i].value,
				test_diag_dump(&d));
		}
	}

	ck_assert_int_eq(load("max_connections = 10;\n"
		"max_connections_per_ip = 20;\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(2, "max_connections_per_ip 20 is above max_connections "
		"10");
	ck_assert_int_eq(load("max_connections = 10;\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(1, "max_connections_per_ip 32 is above max_connections "
		"10");
	ck_assert_int_eq(load("max_connections = 32;\n" DOMAINS_ONE), 0);
}
END_TEST

START_TEST(test_listen_parse)
{
	static const struct {
		const char *text;
		const char *host;	/* NULL: invalid */
		unsigned port;
	} rows[] = {
		{ "[::]:443", "::", 443 },
		{ "0.0.0.0:443", "0.0.0.0", 443 },
		{ "127.0.0.1:8443", "127.0.0.1", 8443 },
		{ "[::1]:8443", "::1", 8443 },
		{ "*:443", "*", 443 },
		{ "[2001:db8::1]:1", "2001:db8::1", 1 },
		{ "127.0.0.1:65535", "127.0.0.1", 65535 },
		{ "127.0.0.1:0", NULL, 0 },
		{ "127.0.0.1:65536", NULL, 0 },
		{ "127.0.0.1:", NULL, 0 },
		{ "127.0.0.1:+1", NULL, 0 },
		{ "127.0.0.1:443x", NULL, 0 },
		{ "443", NULL, 0 },
		{ ":443", NULL, 0 },
		{ "[::1]443", NULL, 0 },
		{ "::1:443", NULL, 0 },
		{ "[]:443", NULL, 0 },
		{ "[127.0.0.1]:443", NULL, 0 },
		{ "localhost:443", NULL, 0 },
		{ "1.2.3:443", NULL, 0 },
		{ "", NULL, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		char host[64];
		unsigned port = 0;
		int rc = config_parse_listen(rows[i].text, host, sizeof(host),
			&port);
		if (!rows[i].host) {
			ck_assert_msg(rc == -1, "accepted %s", rows[i].text);
			continue;
		}
		ck_assert_msg(rc == 0, "rejected %s", rows[i].text);
		ck_assert_str_eq(host, rows[i].host);
		ck_assert_uint_eq(port, rows[i].port);
	}
	char tiny[4];
	unsigned port;
	ck_assert_int_eq(config_parse_listen("127.0.0.1:1", tiny, sizeof(tiny),
		&port), -1);
}
END_TEST

START_TEST(test_listen_setting)
{
	ck_assert_int_eq(load("listen = \"127.0.0.1:8443\";\n" DOMAINS_ONE), 0);
	ck_assert_uint_eq(cfg.listen_count, 1);
	ck_assert_str_eq(cfg.listen[0], "127.0.0.1:8443");

	ck_assert_int_eq(load("listen = [ \"[::]:443\",\n"
		"  \"localhost:443\",\n"
		"  \"[::]:443\" ];\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(2, "listen address `localhost:443` is not valid — write");
	ASSERT_ERROR(3, "listen address `[::]:443` is given twice");
	ck_assert_uint_eq(d.errors, 2);

	ck_assert_int_eq(load("listen = [ ];\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(1, "`listen` is empty");
}
END_TEST

START_TEST(test_enums)
{
	ck_assert_int_eq(load("log_level = \"verbose\";\n"
		"log_target = \"journal\";\n"
		"user = \"\";\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(1, "log_level `verbose` is not one of error, warning, "
		"info, debug — for example log_level = \"info\";");
	ASSERT_ERROR(2, "log_target `journal` is not one of stderr, syslog");
	ASSERT_ERROR(3, "`user` is empty");
	ck_assert_str_eq(cfg.log_level, "info");

	const char *levels[] = { "error", "warning", "info", "debug" };
	for (size_t i = 0; i < 4; i++) {
		char *text = NULL;
		ck_assert_int_ge(asprintf(&text, "log_level = \"%s\";\n"
			"log_target = \"syslog\";\naccess_log = true;\n%s",
			levels[i], DOMAINS_ONE), 0);
		ck_assert_int_eq(load(text), 0);
		free(text);
		ck_assert_str_eq(cfg.log_level, levels[i]);
		ck_assert_str_eq(cfg.log_target, "syslog");
		ck_assert(cfg.access_log);
	}
}
END_TEST

START_TEST(test_missing_fields)
{
	ck_assert_int_eq(load("domains = (\n"
		"  { name = \"example.com\"; }\n"
		");\n"), -1);
	ASSERT_ERROR(2, "example.com: no `mx` is set — add mx = [ "
		"\"mail.example.com\" ]; to the domain entry or to defaults");
	ASSERT_ERROR(2, "example.com: no `cert` is set");
	ASSERT_ERROR(2, "example.com: no `key` is set");
	ck_assert_uint_eq(d.errors, 3);

	ck_assert_int_eq(load("policies = { hosted = { }; };\n"
		"domains = (\n"
		"  { names = [ \"a.example\", \"b.example\" ]; "
			"policy = \"hosted\"; key = \"/k\"; }\n"
		");\n"), -1);
	ASSERT_ERROR(3, "a.example: no `cert` is set — add cert = "
		"\"/etc/mta-stsd/certs/%d.pem\"; to the domain entry, to its "
		"policy `hosted` or to defaults");
	/* One report per entry, not one per name. */
	ck_assert_uint_eq(d.errors, 2);

	/* mode none may omit mx; policy_validate has the last word. */
	ck_assert_int_eq(load("domains = ( { name = \"example.com\";\n"
		"  mode = \"none\"; " CERTS " } );\n"), -1);
	ASSERT_NO_ERROR("no `mx` is set");
	ASSERT_ERROR(1, "no mx");
}
END_TEST

START_TEST(test_unknown_template)
{
	const char *text =
		"policies = { hosted = { mx = \"mx.example.net\"; };\n"
		"  basic = { mx = \"mx.example.net\"; }; };\n"
		"domains = (\n"
		"  { name = \"a.example\"; policy = \"hostd\"; },\n"
		"  { name = \"b.example\"; policy = \"zzz\"; }\n"
		");\n";
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(4, "policy `hostd` is not defined — did you mean "
		"`hosted`? Defined policies: basic, hosted");
	ASSERT_ERROR(5, "policy `zzz` is not defined — use one of the "
		"defined policies: basic, hosted");
	/* No follow-up errors about cert or key for those entries. */
	ck_assert_uint_eq(d.errors, 2);

	ck_assert_int_eq(load("domains = ( { name = \"a.example\"; "
		"policy = \"p\"; } );\n"), -1);
	ASSERT_ERROR(1, "policy `p` is not defined — no policies are "
		"defined; add policies = { p = {");
}
END_TEST

START_TEST(test_id_and_rua)
{
	char text[2048];
	const char *ids[] = {
		"abc-1", "", "123456789012345678901234567890123", "20261128 1",
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "domains = ( { name = "
			"\"example.com\"; mx = \"mx.example.com\"; %s\n"
			"  id = \"%s\"; } );\n", CERTS, ids[i]);
		ck_assert_int_eq(load(text), -1);
		ASSERT_ERROR(2, "is not 1 to 32 letters or digits — use for "
			"example the date and time");
	}
	snprintf(text, sizeof(text), "domains = ( { name = \"example.com\"; "
		"mx = \"mx.example.com\"; %s\n"
		"  id = \"12345678901234567890123456789012\"; "
		"tlsrpt_rua = \"mailto:a@example.com, https://r.example/x\"; "
		"} );\n", CERTS);
	ck_assert_int_eq(load(text), 0);
	ck_assert_str_eq(cfg.domains[0].id,
		"12345678901234567890123456789012");

	snprintf(text, sizeof(text), "domains = ( { name = \"example.com\"; "
		"mx = \"mx.example.com\"; %s\n"
		"  id = 2026;\n"
		"  tlsrpt_rua = \"tls@example.com\"; } );\n", CERTS);
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(2, "`id` must be a string, not an integer — for example "
		"id = \"20261128120000\";");
	ASSERT_ERROR(3, "tlsrpt_rua: rua \"tls@example.com\" is not a URI");

	/* The RFC 8460 checker of txt.c, not a prefix test: a ';' inside a
	 * URI would end the record's rua field. */
	snprintf(text, sizeof(text), "domains = ( { name = \"example.com\"; "
		"mx = \"mx.example.com\"; %s\n"
		"  tlsrpt_rua = \"mailto:a@example.com;b\"; } );\n", CERTS);
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(2, "percent-encode it");
	/* The full RFC 8460 §3 checker, not a prefix test: a DMARC-style
	 * size limit would make txt print a record senders reject. */
	snprintf(text, sizeof(text), "domains = ( { name = \"example.com\"; "
		"mx = \"mx.example.com\"; %s\n"
		"  tlsrpt_rua = \"mailto:tls@example.com!10m\"; } );\n", CERTS);
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(2, "contains '!'");

	snprintf(text, sizeof(text), "defaults = { tlsrpt_rua = "
		"\"mailto:a@example.com,,\"; };\n%s", DOMAINS_ONE);
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(1, "has an empty entry");
}
END_TEST

START_TEST(test_mode_and_max_age)
{
	ck_assert_int_eq(load("defaults = {\n"
		"  mode = \"Enforce\";\n"
		"  max_age = 31557601;\n"
		"};\n"
		"policies = { p = {\n"
		"  mode = \"strict\";\n"
		"  max_age = -1; }; };\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(2, "mode `Enforce` is not enforce, testing or none — "
		"write it in lower case: mode = \"enforce\";");
	ASSERT_ERROR(3, "max_age 31557601 is out of range — use 0 to "
		"31557600 seconds");
	ASSERT_ERROR(6, "mode `strict` is not enforce, testing or none — for "
		"example mode = \"testing\";");
	ASSERT_ERROR(7, "max_age -1 is out of range");
	ck_assert_uint_eq(d.errors, 4);

	const char *ages[] = { "0", "31557600" };
	for (size_t i = 0; i < 2; i++) {
		char *text = NULL;
		ck_assert_int_ge(asprintf(&text, "defaults = { max_age = %s; "
			"mode = \"none\"; };\n%s", ages[i], DOMAINS_ONE), 0);
		ck_assert_int_eq(load(text), 0);
		free(text);
		ck_assert_uint_eq(cfg.domains[0].policy.max_age,
			strtoul(ages[i], NULL, 10));
		ck_assert_int_eq(cfg.domains[0].policy.mode, POLICY_MODE_NONE);
	}
}
END_TEST

START_TEST(test_mx)
{
	ck_assert_int_eq(load("domains = ( { name = \"example.com\"; " CERTS
		"\n  mx = [ \"Mail.Example.COM.\", \"*.mx.example.net\" ]; } );\n"),
		0);
	ASSERT_OK();
	ck_assert_uint_eq(cfg.domains[0].policy.mx_count, 2);
	ck_assert_str_eq(cfg.domains[0].policy.mx[0], "mail.example.com");

	ck_assert_int_eq(load("domains = ( { name = \"example.com\"; " CERTS
		"\n  mx = [ \"mail.example.com\",\n"
		"    \"mail_x.example.com\",\n"
		"    \"*.*.example.com\" ]; } );\n"), -1);
	ASSERT_ERROR(3, "mx `mail_x.example.com` is not a valid host name "
		"pattern");
	ASSERT_ERROR(4, "mx `*.*.example.com` is not a valid host name "
		"pattern");
	/* The policy is not validated again once its mx was rejected. */
	ck_assert_uint_eq(d.errors, 2);
}
END_TEST

START_TEST(test_several_errors)
{
	const char *text =
		"threads = 5000;\n"
		"log_level = \"loud\";\n"
		"domains = (\n"
		"  { name = \"a.example\"; mode = \"on\"; " CERTS
			" mx = \"mx.example.com\"; },\n"
		"  { name = \"b.example\"; max_age = \"1\"; " CERTS
			" mx = \"mx.example.com\"; },\n"
		"  { name = \"c.example\"; mxx = 1; " CERTS
			" mx = \"mx.example.com\"; },\n"
		"  " DOM("a.example") "\n"
		");\n";
	ck_assert_int_eq(load(text), -1);
	ASSERT_ERROR(1, "threads 5000 is out of range");
	ASSERT_ERROR(2, "log_level `loud`");
	ASSERT_ERROR(4, "mode `on`");
	ASSERT_ERROR(5, "max_age = 1;");
	ASSERT_ERROR(6, "did you mean `mx`?");
	ASSERT_ERROR(7, "a.example is already configured at test.conf:4");
	ck_assert_uint_eq(d.errors, 6);
	/* Everything that could be parsed is there. */
	ck_assert_uint_eq(cfg.domain_count, 4);
}
END_TEST

START_TEST(test_syntax_errors)
{
	ck_assert_int_eq(load("threads = 1;\n"
		"defaults = { mode = enforce; };\n" DOMAINS_ONE), -1);
	ck_assert_uint_eq(d.errors, 1);
	ASSERT_ERROR(2, "syntax error — strings need double quotes: mode = "
		"\"enforce\";");
	ck_assert_str_eq(d.items[0].file, "test.conf");

	ck_assert_int_eq(load("domains = (\n"
		"  " DOM("a.example") "\n"
		"  " DOM("b.example") "\n"
		");\n"), -1);
	ASSERT_ERROR(3, "syntax error — add a ',' after the '}'");

	ck_assert_int_eq(load("domains = (\n"
		"  " DOM("a.example") ",\n"
		");\n"), -1);
	ASSERT_ERROR(3, "syntax error — remove the ',' after the last "
		"element");

	ck_assert_int_eq(load("access_log = yes;\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(1, "use true or false: access_log = true;");

	ck_assert_int_eq(load("listen = [ [::]:443 ];\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(1, "strings need double quotes");

	ck_assert_int_eq(load("threads = 1;\nthreads = 2;\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(2, "syntax error: duplicate setting name — ");

	ck_assert_int_eq(load("threads = 1 2;\n" DOMAINS_ONE), -1);
	ASSERT_ERROR(1, "syntax error — check this line");
}
END_TEST

START_TEST(test_missing_file)
{
	char *dir = test_tmpdir();
	char *path = NULL;
	ck_assert_int_ge(asprintf(&path, "%s/none.conf", dir), 0);
	ck_assert_int_eq(load_file(path), -1);
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_str_eq(d.items[0].file, path);
	ck_assert_uint_eq(d.items[0].line, 0);
	ck_assert_str_eq(d.items[0].message, "cannot open: No such file or "
		"directory — create it (an example is in "
		"/usr/share/doc/mta-stsd/mta-stsd.conf) or pass -c FILE");
	/* The result can still be finished (and holds the defaults). */
	ck_assert_str_eq(cfg.user, "mta-stsd");

	ck_assert_int_eq(load_file(dir), -1);
	ASSERT_ERROR(0, "cannot open: Is a directory");
	test_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

/* Too many open files says so, not "create it". */
START_TEST(test_open_error_follows_errno)
{
	char *dir = test_tmpdir();
	char *path = test_write_file(dir, "m.conf", DOMAINS_ONE);
	struct rlimit old, none;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	/* Every descriptor up to the limit is in use: dup until EMFILE. */
	none.rlim_max = old.rlim_max;
	none.rlim_cur = 16;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
	int fds[16], n = 0;
	while (n < 16 && (fds[n] = dup(0)) >= 0)
		n++;
	int rc = load_file(path);
	while (n > 0)
		close(fds[--n]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(rc, -1);
	ASSERT_ERROR(0, "cannot open: Too many open files — too many files "
		"are open: raise the limit (LimitNOFILE= in the unit, ulimit -n) "
		"or lower max_connections");
	ASSERT_NO_ERROR("create it");
	test_rmtree(dir);
	free(path);
	free(dir);
}
END_TEST

/*
 * A problem of one domain: the configuration stays usable, that domain is
 * marked, the others are clean. An error of the whole file: unusable.
 */
START_TEST(test_domain_problems_are_the_domains_own)
{
	ck_assert_int_eq(load("domains = ( " DOM("a.example") ",\n"
		"{ name = \"b.example\"; mx = \"bad_mx.example\"; " CERTS " },\n"
		"{ names = [ \"c.example\", \"not a name\" ]; mx = \"m.example\"; "
		CERTS " },\n" DOM("d.example") ",\n" DOM("D.example.") " );\n"),
		-1);
	ck_assert_int_eq(usable, 0);
	ck_assert_uint_eq(cfg.domain_count, 5);
	ck_assert_ptr_null(config_find_domain(&cfg, "a.example")->problem);
	ck_assert_str_eq(config_find_domain(&cfg, "b.example")->problem,
		"config-mx-invalid");
	/* A bad sibling name is skipped on its own. */
	ck_assert_ptr_null(config_find_domain(&cfg, "c.example")->problem);
	ck_assert_uint_eq(cfg.skipped_count, 1);
	ck_assert_str_eq(cfg.skipped[0].name, "not a name");
	ck_assert_str_eq(cfg.skipped[0].code, "config-domain-invalid");
	ck_assert_uint_eq(cfg.skipped[0].line, 3);
	/* A duplicate: neither copy. */
	ck_assert_str_eq(cfg.domains[3].problem, "config-domain-duplicate");
	ck_assert_str_eq(cfg.domains[4].problem, "config-domain-duplicate");

	/* The same with an unknown global key: nothing is usable. */
	ck_assert_int_eq(load("treads = 2;\n" DOMAINS_ONE), -1);
	ck_assert_int_eq(usable, -1);
	/* A bad shared policy concerns all its users: unusable too. */
	ck_assert_int_eq(load("policies = { p = { mode = \"x\"; }; };\n"
		DOMAINS_ONE), -1);
	ck_assert_int_eq(usable, -1);
	ck_assert_int_eq(load("strict = true;\n" DOMAINS_ONE), 0);
	ck_assert(cfg.strict);
}
END_TEST

START_TEST(test_domains_directory)
{
	char *dir = test_tmpdir();
	char *sub = NULL;
	ck_assert_int_ge(asprintf(&sub, "%s/domains.d", dir), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	free(test_write_file(dir, "domains.d/20-b.conf",
		"domains = ( " DOM("b.example") " );\n"));
	free(test_write_file(dir, "domains.d/10-a.conf",
		"domains = ( " DOM("a.example") ", " DOM("a2.example") " );\n"));
	char *broken = test_write_file(dir, "domains.d/30-c.conf",
		"domains = ( " DOM("c.example") "\n");
	char *extra = test_write_file(dir, "domains.d/40-d.conf",
		"user = \"root\";\ndomains = ( " DOM("d.example") " );\n");
	free(test_write_file(dir, "domains.d/.50-hidden.conf", "junk"));
	free(test_write_file(dir, "domains.d/60-e.conf.orig", "junk"));
	char *main = test_write_file(dir, "main.conf",
		"domains_directory = \"domains.d\";\n");

	ck_assert_int_eq(load_file(main), -1);
	ck_assert_int_eq(usable, 0);
	ck_assert_str_eq(cfg.domains_directory, sub);
	/* Name order: 10-a before 20-b. */
	ck_assert_uint_eq(cfg.domain_count, 3);
	ck_assert_str_eq(cfg.domains[0].name, "a.example");
	ck_assert_str_eq(cfg.domains[1].name, "a2.example");
	ck_assert_str_eq(cfg.domains[2].name, "b.example");
	ck_assert_str_eq(cfg.user, "mta-stsd");
	/* The broken and the overreaching file: skipped whole. */
	ck_assert_uint_eq(cfg.skipped_count, 2);
	ck_assert_str_eq(cfg.skipped[0].name, broken);
	ck_assert_str_eq(cfg.skipped[0].code, "config-syntax");
	ck_assert_str_eq(cfg.skipped[1].name, extra);
	ck_assert_str_eq(cfg.skipped[1].code, "config-domains-file");
	ck_assert_msg(has_error_at(extra, 1, "`user` is not valid in a file "
		"of domains_directory"), "%s", test_diag_dump(&d));

	/* A duplicate across files is caught like any other. */
	free(test_write_file(dir, "domains.d/20-b.conf",
		"domains = ( " DOM("a.example") " );\n"));
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_str_eq(cfg.domains[0].problem, "config-domain-duplicate");

	/* A directory that cannot be read concerns everything. */
	test_rmtree(sub);
	ck_assert_int_eq(load_file(main), -1);
	ck_assert_int_eq(usable, -1);
	ASSERT_ERROR(1, "domains_directory");
	ASSERT_ERROR(1, "create it");
	test_rmtree(dir);
	free(sub);
	free(broken);
	free(extra);
	free(main);
	free(dir);
}
END_TEST

/* libconfig 1.5 joins every @include name to the include directory. */
START_TEST(test_absolute_include)
{
	char *dir = test_tmpdir();
	char *inc = test_write_file(dir, "one.conf", DOM("one.example") "\n");
	char *text = NULL;
	ck_assert_int_ge(asprintf(&text, "domains = (\n@include \"%s\"\n);\n",
		inc), 0);
	char *main = test_write_file(dir, "main.conf", text);
	ck_assert_int_eq(load_file(main), 0);
	ck_assert_uint_eq(cfg.domain_count, 1);
	/* Findings name the included file by its own path. */
	ck_assert_str_eq(cfg.domains[0].file, inc);
	free(text);
	test_rmtree(dir);
	free(inc);
	free(main);
	free(dir);
}
END_TEST

START_TEST(test_no_domains)
{
	ck_assert_int_eq(load(""), -1);
	ASSERT_ERROR(0, "no domains are configured — add a domains = ( { "
		"name = \"example.com\"; ... } ); list");
	ck_assert_uint_eq(d.errors, 1);
	ck_assert_int_eq(load("threads = 2;\ndomains = ( );\n"), -1);
	ASSERT_ERROR(2, "no domains are configured");
}
END_TEST

/* 10,000 domains load (and duplicates are found among them). */
START_TEST(test_scale)
{
	enum { N = 10000 };
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	fputs("policies = { hosted = { mx = \"mx.provider.example\";\n"
		"  cert = \"/c/%d.pem\"; key = \"/k/%d.key\"; }; };\n"
		"domains = (\n", f);
	for (unsigned i = 0; i < N; i++)
		fprintf(f, "  { name = \"d%u.example\"; policy = \"hosted\"; },\n",
			i);
	fputs("  { name = \"D77.example.\"; policy = \"hosted\"; }\n);\n", f);
	fclose(f);

	ck_assert_int_eq(load(text), -1);
	ck_assert_uint_eq(d.errors, 1);
	ASSERT_ERROR(N + 4, "d77.example is already configured at "
		"test.conf:81");
	ck_assert_uint_eq(cfg.domain_count, N + 1);
	const struct config_domain *last = config_find_domain(&cfg,
		"d9999.example");
	ck_assert_ptr_nonnull(last);
	ck_assert_str_eq(last->cert, "/c/d9999.example.pem");
	ck_assert_uint_eq(last->line, N + 3);
	free(text);
}
END_TEST

START_TEST(test_find_domain)
{
	ck_assert_int_eq(load("domains = ( " DOM("example.com") ", "
		DOM("example.net") " );\n"), 0);
	ck_assert_ptr_eq(config_find_domain(&cfg, "EXAMPLE.com."),
		&cfg.domains[0]);
	ck_assert_ptr_eq(config_find_domain(&cfg, "example.net"),
		&cfg.domains[1]);
	ck_assert_ptr_null(config_find_domain(&cfg, "example.org"));
	ck_assert_ptr_null(config_find_domain(&cfg, "mta-sts.example.com"));
}
END_TEST

/* dir/name, made; caller frees. */
static char *make_subdir(const char *dir, const char *name)
{
	char *sub = NULL;
	ck_assert_int_ge(asprintf(&sub, "%s/%s", dir, name), 0);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	return sub;
}

START_TEST(test_sources_unchanged)
{
	char *dir = test_tmpdir();
	char *sub = make_subdir(dir, "domains.d");
	char *a = test_write_file(dir, "domains.d/a.conf",
		"domains = ( " DOM("a.example") " );\n");
	char *inc = test_write_file(dir, "inc.conf", "threads = 2;\n");
	char *main = test_write_file(dir, "main.conf",
		"@include \"inc.conf\"\ndomains_directory = \"domains.d\";\n");
	ck_assert_int_eq(load_file(main), 0);
	/* main, inc, the directory and its file */
	ck_assert_uint_eq(cfg.source_count, 4);
	/* Just written: too fresh to judge by their times. */
	ck_assert(!config_sources_unchanged(&cfg));
	cfg.loaded_at.tv_sec += 10;
	ck_assert(config_sources_unchanged(&cfg));

	struct config *copy = config_clone_settings(&cfg);
	ck_assert_ptr_nonnull(copy);
	ck_assert_uint_eq(copy->threads, 2);
	ck_assert_str_eq(copy->domains_directory, sub);
	ck_assert_uint_eq(copy->domain_count, 0);
	ck_assert_uint_eq(copy->source_count, 4);
	ck_assert(config_sources_unchanged(copy));
	config_finish(copy);
	free(copy);

	/* Any source touched, or a file added to the directory: changed. */
	ck_assert_int_eq(utime(inc, NULL), 0);
	ck_assert(!config_sources_unchanged(&cfg));
	ck_assert_int_eq(load_file(main), 0);
	cfg.loaded_at.tv_sec += 10;
	ck_assert(config_sources_unchanged(&cfg));
	free(test_write_file(dir, "domains.d/b.conf", "domains = ( );\n"));
	ck_assert(!config_sources_unchanged(&cfg));

	struct config_domain dup;
	ck_assert_int_eq(load_file(main), 0);
	ck_assert_uint_eq(cfg.domain_count, 1);
	ck_assert_int_eq(config_domain_copy(&dup, &cfg.domains[0]), 0);
	ck_assert(config_domain_is_same(&dup, &cfg.domains[0]));
	ck_assert_ptr_ne(dup.name, cfg.domains[0].name);
	config_domain_finish(&dup);
	test_rmtree(dir);
	free(a);
	free(inc);
	free(main);
	free(sub);
	free(dir);
}
END_TEST

START_TEST(test_domain_is_same)
{
	ck_assert_int_eq(load("domains = ( " DOM("example.com") ", "
		DOM("example.net") ",\n" DOM("example.com") " );\n"), -1);
	const struct config_domain *a = &cfg.domains[0], *b = &cfg.domains[1],
		*c = &cfg.domains[2];
	/* The same entry on another line is the same domain. */
	ck_assert(config_domain_is_same(a, c));
	ck_assert(!config_domain_is_same(a, b));
	struct config_domain x = *a;
	x.policy.max_age++;
	ck_assert(!config_domain_is_same(a, &x));
	x = *a;
	x.policy.mode = x.policy.mode == POLICY_MODE_ENFORCE ?
		POLICY_MODE_TESTING : POLICY_MODE_ENFORCE;
	ck_assert(!config_domain_is_same(a, &x));
	x = *a;
	x.id = "123";
	ck_assert(!config_domain_is_same(a, &x));
	x = *a;
	x.key = "other.key";
	ck_assert(!config_domain_is_same(a, &x));
	x = *a;
	x.policy.mx_count = 0;
	ck_assert(!config_domain_is_same(a, &x));
}
END_TEST

START_TEST(test_tls_priorities_place)
{
	ck_assert_int_eq(load("threads = 1;\n"
		"tls_priorities = \"NORMAL:-VERS-TLS1.0\";\n" DOMAINS_ONE), 0);
	ck_assert_str_eq(cfg.tls_priorities, "NORMAL:-VERS-TLS1.0");
	ck_assert_str_eq(cfg.tls_priorities_file, "test.conf");
	ck_assert_uint_eq(cfg.tls_priorities_line, 2);
}
END_TEST

START_TEST(test_finish)
{
	struct config zero = {0};
	config_finish(&zero);
	config_finish(NULL);
	ck_assert_int_eq(load(DOMAINS_ONE), 0);
	config_finish(&cfg);
	config_finish(&cfg);
	ck_assert_uint_eq(cfg.domain_count, 0);
	ck_assert_ptr_null(cfg.domains);
}
END_TEST

static void add(Suite *s, const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	add(s, "example file", test_example_file);
	add(s, "built-in defaults", test_builtin_defaults);
	add(s, "defaults table", test_defaults_table);
	add(s, "resolution order", test_resolution_order);
	add(s, "templates and names", test_templates_and_names);
	add(s, "percent expansion", test_percent_expansion);
	add(s, "relative paths and include", test_relative_paths_and_include);
	add(s, "include not a file", test_include_not_a_file);
	add(s, "unknown keys", test_unknown_keys);
	add(s, "typo does not cascade", test_typo_no_cascade);
	add(s, "duplicate domains", test_duplicates);
	add(s, "domain names", test_domain_names);
	add(s, "types", test_types);
	add(s, "global ranges", test_global_ranges);
	add(s, "domain is same", test_domain_is_same);
	add(s, "sources unchanged", test_sources_unchanged);
	add(s, "listen parse", test_listen_parse);
	add(s, "listen setting", test_listen_setting);
	add(s, "enums", test_enums);
	add(s, "missing fields", test_missing_fields);
	add(s, "unknown template", test_unknown_template);
	add(s, "id and tlsrpt_rua", test_id_and_rua);
	add(s, "mode and max_age", test_mode_and_max_age);
	add(s, "mx", test_mx);
	add(s, "several errors", test_several_errors);
	add(s, "syntax errors", test_syntax_errors);
	add(s, "missing file", test_missing_file);
	add(s, "no domains", test_no_domains);
	add(s, "open error follows errno", test_open_error_follows_errno);
	add(s, "domain problems", test_domain_problems_are_the_domains_own);
	add(s, "domains_directory", test_domains_directory);
	add(s, "absolute include", test_absolute_include);
	add(s, "scale", test_scale);
	add(s, "find domain", test_find_domain);
	add(s, "tls_priorities place", test_tls_priorities_place);
	add(s, "finish", test_finish);
	return s;
}

int main(void)
{
	return test_run(config_suite());
}
