/* SPDX-License-Identifier: MIT */
/*
 * config_load_string on any text: libconfig's parser, then all of
 * config.c's validation. A configuration that loads without an error
 * holds only valid domains whose policies validate, render and lint clean.
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
	return false;
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
	FUZZ_CHECK((rc == 0) == (d.errors == 0));
	if (rc == 0) {
		FUZZ_CHECK(cfg.domain_count > 0);
		FUZZ_CHECK(cfg.listen_count > 0);
		for (size_t i = 0; i < cfg.domain_count; i++)
			check_domain(&cfg, &cfg.domains[i]);
	}

	config_finish(&cfg);
	diag_finish(&d);
	free(text);
	return 0;
}
