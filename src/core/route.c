/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "core/route.h"

bool route_host_matches(const char *host, const char *policy_host)
{
	size_t len = strlen(host);
	if (len > ROUTE_HOST_MAX)
		return false;

	/* "[::1]:443" never names a policy host; only strip a port after a
	 * name, which holds no ':' of its own. */
	const char *colon = memchr(host, ':', len);
	if (colon) {
		const char *port = colon + 1;
		size_t digits = strspn(port, "0123456789");
		if (digits == 0 || digits > 5 || port[digits] != '\0')
			return false;
		len = (size_t)(colon - host);
	}
	if (len > 0 && host[len - 1] == '.')
		len--;
	return len == strlen(policy_host) &&
		strncasecmp(host, policy_host, len) == 0;
}

enum route_result route_request(const char *method, const char *path,
	const char *host, const char *policy_host)
{
	/* RFC 9110 §15.5.20: a request for another authority on this
	 * connection is misdirected; never answer with this host's policy
	 * nor another domain's. */
	if (host && !route_host_matches(host, policy_host))
		return ROUTE_MISDIRECTED;
	if (strcmp(path, ROUTE_POLICY_PATH) != 0)
		return ROUTE_NOT_FOUND;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return ROUTE_METHOD_NOT_ALLOWED;
	return ROUTE_POLICY;
}
