/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_STRICT_H
#define MTASTSD_STRICT_H

#include <stdbool.h>

struct MHD_Connection;

/*
 * The request checks RFC 9112 asks for that libmicrohttpd 0.9.75 leaves to
 * the application (docs/SECURITY.md, "Strict HTTP"). Used with
 * MHD_OPTION_STRICT_FOR_CLIENT=1, which already refuses HTTP/1.1 without
 * Host and a space inside the request target.
 */

/*
 * strict_request_is_valid is true when the request whose header is
 * complete on mc has at most one Host and one Content-Length field, no
 * field name with a space or tab in it (RFC 9112 §5.1), and no NUL byte
 * anywhere libmicrohttpd would have cut a line at it. method, url and
 * version are the arguments of the access handler.
 */
bool strict_request_is_valid(struct MHD_Connection *mc, const char *method,
	const char *url, const char *version);

#endif
