/* SPDX-License-Identifier: MIT */
/*
 * config_load_string on any text: libconfig's parser, then all of
 * src/config/'s validation. A configuration that can be used holds only
 * valid domains, and those without a problem of their own have policies
 * that validate, render and lint clean; its errors, if any, all belong to
 * domains that are marked not served.
 */
#include "fuzz.h"

#include "config/config.h"
#include "util/diag.h"
#include "core/dnsname.h"
#include "core/policy.h"

/*
 * @include makes libconfig open a file by the name given, relative to the
 * working directory or absolute ("/dev/zero" would never end): that is I/O,
 * not the parser under test, so such inputs are skipped. libconfig takes
 * the directive only at the start of a line after blanks, not in comments
 * or strings, so the example configuration's commented @include stays in.
 */
static bool has_include(const char *text)
{
	for (const char *p = text; p; p = strpbrk(p, "\r\n")) {
		p += strspn(p, "\r\n \t");
		if (strncmp(p, "@include", 8) == 0)
			return true;
	}
	/* domains_directory reads a directory: I/O as well. */
	return strstr(text, "domains_directory") != NULL;
}

static void check_domain(const struct config *cfg,
	const struct config_domain *dom)
{
	FUZZ_CHECK(dom->name != NULL);
	FUZZ_CHECK(dnsname_is_valid(dom->name));
	FUZZ_CHECK(config_find_domain(cfg, dom->name) == dom);

	struct diag d = {0};
	FUZZ_CHECK(policy_validate(&dom->policy, dom->name, &d, "fuzz.conf",
		1) == 0);
	diag_finish(&d);

	size_t len = 0;
	char *body = policy_render(&dom->policy, &len);
	FUZZ_CHECK(body != NULL);
	diag_init(&d);
	FUZZ_CHECK(policy_lint(body, len, "rendered", NULL, &d) == 0);
	diag_finish(&d);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libconfig reads a C string: the text ends at the first NUL. */
	char *text = fuzz_strndup(data, size);
	if (has_include(text)) {
		free(text);
		return 0;
	}

	struct config cfg = {0};
	struct diag d = {0};
	int rc = config_load_string(text, "fuzz.conf", &cfg, &d);
	FUZZ_CHECK(rc == 0 || d.errors > 0);
	if (rc == 0) {
		FUZZ_CHECK(cfg.domain_count + cfg.skipped_count > 0);
		FUZZ_CHECK(cfg.listen_count > 0);
		size_t problems = cfg.skipped_count;
		for (size_t i = 0; i < cfg.domain_count; i++) {
			if (cfg.domains[i].problem) {
				FUZZ_CHECK(d.errors > 0);
				FUZZ_CHECK(dnsname_is_valid(cfg.domains[i].name));
				problems++;
			} else {
				check_domain(&cfg, &cfg.domains[i]);
			}
		}
		/* Errors in a usable configuration are domains' errors. */
		FUZZ_CHECK((d.errors == 0) == (problems == 0));
	}

	config_finish(&cfg);
	diag_finish(&d);
	free(text);
	return 0;
}
