/* SPDX-License-Identifier: MIT */
/*
 * policy_lint on any bytes, as a sender would parse a fetched policy body
 * (RFC 8461 §3.2). A policy that lints clean must render and lint clean
 * again into the same policy, and rendering must be stable.
 */
#include "fuzz.h"

#include "util/diag.h"
#include "core/dnsname.h"
#include "core/policy.h"

/* Every finding carries a line, a stable code and a fix after " — ". */
static void check_findings(const struct diag *d)
{
	FUZZ_CHECK(d->errors + d->warnings <= d->len || d->out_of_memory);
	for (size_t i = 0; i < d->len; i++) {
		const struct diag_item *it = &d->items[i];
		FUZZ_CHECK(it->line > 0);
		FUZZ_CHECK(it->code != NULL);
		FUZZ_CHECK(it->file && strcmp(it->file, "mta-sts.txt") == 0);
		FUZZ_CHECK(it->message && strstr(it->message, " — "));
	}
}

static bool same_policy(const struct policy *a, const struct policy *b)
{
	if (a->mode != b->mode || a->max_age != b->max_age ||
		a->mx_count != b->mx_count)
		return false;
	for (size_t i = 0; i < a->mx_count; i++)
		if (strcmp(a->mx[i], b->mx[i]) != 0)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag d = {0};
	struct policy p;
	policy_init(&p);

	int rc = policy_lint((const char *)data, size, "mta-sts.txt", &p, &d);
	FUZZ_CHECK((rc == 0) == (d.errors == 0));
	check_findings(&d);
	if (rc != 0) {
		FUZZ_CHECK(p.mx_count == 0);
		goto out;
	}

	/* RFC 8461 §3.2: mx is required unless mode is none. */
	FUZZ_CHECK(p.mx_count > 0 || p.mode == POLICY_MODE_NONE);
	FUZZ_CHECK(p.max_age <= POLICY_MAX_AGE_LIMIT);
	for (size_t i = 0; i < p.mx_count; i++)
		FUZZ_CHECK(dnsname_check(p.mx[i], true) == DNSNAME_OK);

	size_t len = 0;
	char *body = policy_render(&p, &len);
	FUZZ_CHECK(body != NULL);
	FUZZ_CHECK(strlen(body) == len);

	struct diag d2 = {0};
	struct policy q;
	policy_init(&q);
	FUZZ_CHECK(policy_lint(body, len, "mta-sts.txt", &q, &d2) == 0);
	FUZZ_CHECK(d2.errors == 0);
	check_findings(&d2);
	FUZZ_CHECK(same_policy(&p, &q));

	size_t len2 = 0;
	char *again = policy_render(&q, &len2);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(len2 == len && memcmp(again, body, len) == 0);

	free(again);
	free(body);
	policy_finish(&q);
	diag_finish(&d2);
out:
	policy_finish(&p);
	diag_finish(&d);
	return 0;
}
