/* SPDX-License-Identifier: MIT */
/*
 * The ACME resources a CA sends (acme/acme_json.c), from untrusted JSON:
 * the input is parsed as a directory, an order, an authorization and a
 * problem document, then rendered in plain words.
 */
#include "fuzz.h"

#include "acme/acme_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char why[160];
	struct acme_directory dir;
	struct acme_order order;
	struct acme_authz authz;
	struct acme_problem problem;

	if (acme_json_directory(text, size, &dir, why, sizeof(why)) == 0) {
		FUZZ_CHECK(dir.new_nonce[0] && dir.new_account[0] &&
			dir.new_order[0]);
	} else {
		FUZZ_CHECK(why[0]);
	}
	if (acme_json_order(text, size, &order, why, sizeof(why)) == 0) {
		FUZZ_CHECK(order.status != ACME_STATUS_UNKNOWN);
		FUZZ_CHECK(order.authorization_count <= ACME_MAX_AUTHZ);
		for (size_t i = 0; i < order.authorization_count; i++)
			FUZZ_CHECK(strlen(order.authorizations[i]) <
				ACME_URL_MAX);
	}
	if (acme_json_authz(text, size, &authz, why, sizeof(why)) == 0) {
		FUZZ_CHECK(authz.challenge_count <= ACME_MAX_CHALLENGES);
		const struct acme_challenge *c = acme_json_find_challenge(
			&authz, "tls-alpn-01");
		FUZZ_CHECK(!c || strcmp(c->type, "tls-alpn-01") == 0);
	}
	char words[2048];
	if (acme_json_problem(text, size, &problem) == 0) {
		acme_problem_describe(&problem, words, sizeof(words));
		/* What reaches the log is printable ASCII only. */
		for (const char *p = words; *p; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
	}
	if (order.error.present)
		acme_problem_describe(&order.error, words, sizeof(words));
	return 0;
}
