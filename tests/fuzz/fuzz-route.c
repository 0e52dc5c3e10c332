/* SPDX-License-Identifier: MIT */
/*
 * The routing decision for one request. The input is cut at NUL bytes
 * into method, path, Host and the SNI policy host; with only three fields
 * there is no Host header (HTTP/1.0) and the third is the policy host.
 */
#include "fuzz.h"

#include <strings.h>

#include "core/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	const char *f[4] = { "", "", "", "" };
	size_t n = fuzz_split(data, size, &buf, f, 4);
	const char *method = f[0], *path = f[1];
	const char *host = n == 3 ? NULL : f[2];
	const char *policy_host = n == 3 ? f[2] : f[3];

	enum route_result r = route_request(method, path, host, policy_host);
	FUZZ_CHECK(r == ROUTE_POLICY || r == ROUTE_NOT_FOUND ||
		r == ROUTE_METHOD_NOT_ALLOWED || r == ROUTE_MISDIRECTED);

	/* Only the policy path, by GET or HEAD, for this host is served. */
	if (r == ROUTE_POLICY) {
		FUZZ_CHECK(strcmp(path, ROUTE_POLICY_PATH) == 0);
		FUZZ_CHECK(strcmp(method, "GET") == 0 ||
			strcmp(method, "HEAD") == 0);
	}
	bool matches = host && route_host_matches(host, policy_host);
	FUZZ_CHECK((r == ROUTE_MISDIRECTED) == (host && !matches));
	/* A matching Host names policy_host up to case, port and one dot. */
	if (matches) {
		size_t len = strlen(policy_host);
		FUZZ_CHECK(strlen(host) >= len &&
			strncasecmp(host, policy_host, len) == 0);
	}
	/* Without a Host header, SNI alone decides: never misdirected. */
	FUZZ_CHECK(route_request(method, path, NULL, policy_host) !=
		ROUTE_MISDIRECTED);

	free(buf);
	return 0;
}
