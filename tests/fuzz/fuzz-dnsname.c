/* SPDX-License-Identifier: MIT */
/*
 * Host names and mx patterns: the first byte holds flags, the rest is cut
 * at the first NUL into a name (or pattern) and a host. Checks the syntax
 * classifier, normalisation, equality and the RFC 8461 §4.1 wildcard match
 * against each other.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "core/dnsname.h"

static void check_one(const char *name, bool wildcard, size_t small)
{
	enum dnsname_problem p = dnsname_check(name, wildcard);
	FUZZ_CHECK(p >= DNSNAME_OK && p <= DNSNAME_BAD_WILDCARD);
	FUZZ_CHECK(dnsname_problem_text(p) != NULL);
	FUZZ_CHECK(dnsname_problem_fix(p) != NULL);
	FUZZ_CHECK(dnsname_is_valid(name) ==
		(dnsname_check(name, false) == DNSNAME_OK));
	if (p == DNSNAME_OK)
		FUZZ_CHECK(strlen(name) <= DNSNAME_MAX);

	char out[DNSNAME_MAX + 2];
	memset(out, 'x', sizeof(out));
	if (dnsname_normalize(name, wildcard, out, sizeof(out)) == 0) {
		/* The output is valid, equal to the input, and a fixpoint. */
		FUZZ_CHECK(dnsname_check(out, wildcard) == DNSNAME_OK);
		FUZZ_CHECK(dnsname_equal(name, out));
		char again[DNSNAME_MAX + 2];
		FUZZ_CHECK(dnsname_normalize(out, wildcard, again,
			sizeof(again)) == 0);
		FUZZ_CHECK(strcmp(out, again) == 0);
		for (const char *c = out; *c; c++)
			FUZZ_CHECK(*c < 'A' || *c > 'Z');

		/* A buffer too small fails rather than truncating. */
		char *tiny = malloc(small ? small : 1);
		if (!tiny)
			abort();
		int rc = dnsname_normalize(name, wildcard, tiny, small);
		FUZZ_CHECK(rc == (small > strlen(out) ? 0 : -1));
		if (rc == 0)
			FUZZ_CHECK(strcmp(tiny, out) == 0);
		free(tiny);
	} else {
		FUZZ_CHECK(p != DNSNAME_OK);
	}

	if (dnsname_is_shallow_wildcard(name))
		FUZZ_CHECK(dnsname_is_wildcard(name));
}

/*
 * What a match means (RFC 8461 §4.1), for patterns a policy can hold: an
 * invalid one such as "a.b." is refused before it is ever matched.
 */
static void check_match(const char *pattern, const char *host)
{
	bool match = dnsname_matches(pattern, host);
	if (dnsname_check(pattern, true) != DNSNAME_OK)
		return;

	/* Case and one trailing dot of the host do not matter. */
	char norm[DNSNAME_MAX + 2];
	if (dnsname_normalize(host, false, norm, sizeof(norm)) == 0)
		FUZZ_CHECK(dnsname_matches(pattern, norm) == match);
	if (!match)
		return;
	if (!dnsname_is_wildcard(pattern)) {
		FUZZ_CHECK(dnsname_equal(pattern, host));
		return;
	}
	/* exactly one non-empty label in front of the pattern's base */
	const char *dot = strchr(host, '.');
	FUZZ_CHECK(dot != NULL && dot != host);
	FUZZ_CHECK(dnsname_equal(dot + 1, pattern + 2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t flags = data[0];
	char *buf;
	const char *field[2] = { "", "" };
	fuzz_split(data + 1, size - 1, &buf, field, 2);
	const char *a = field[0], *b = field[1];
	bool wildcard = flags & 1;
	size_t small = flags >> 1;	/* 0..127 */

	check_one(a, wildcard, small);
	check_one(b, !wildcard, small);
	check_match(a, b);
	check_match(b, a);
	FUZZ_CHECK(dnsname_equal(a, b) == dnsname_equal(b, a));
	FUZZ_CHECK(dnsname_equal(a, a));

	free(buf);
	return 0;
}
