/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ROUTE_H
#define MTASTSD_ROUTE_H

#include <stdbool.h>

/*
 * The request routing decision, kept apart from libmicrohttpd so that it
 * can be tested and fuzzed on its own. Pure.
 */

#define ROUTE_POLICY_PATH "/.well-known/mta-sts.txt"	/* RFC 8461 §3.2 */
#define ROUTE_HOST_MAX 255

enum route_result {
	ROUTE_POLICY = 200,		/* the policy of the SNI host */
	ROUTE_NOT_FOUND = 404,		/* any other path */
	ROUTE_METHOD_NOT_ALLOWED = 405,	/* not GET or HEAD */
	ROUTE_MISDIRECTED = 421,	/* Host names another host than SNI */
};

/*
 * route_request decides the answer to one request. method and path come
 * from the request line (path without the query string), host is the Host
 * header or NULL, and policy_host is the name the TLS handshake selected by
 * SNI (never NULL: a handshake without a known SNI never gets here).
 * A Host header is compared case-insensitively, with an optional ":port"
 * and one trailing dot removed (mox 994b5b9). A missing Host (HTTP/1.0)
 * is served by SNI alone.
 */
enum route_result route_request(const char *method, const char *path,
	const char *host, const char *policy_host);

/*
 * route_host_matches reports whether the Host header value host names
 * policy_host under the rules above.
 */
bool route_host_matches(const char *host, const char *policy_host);

#endif
