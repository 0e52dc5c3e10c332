/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACCESSLOG_H
#define MTASTSD_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One access log line per request, as text (the default) or as one JSON
 * object (access_log_format = "json"). Every field from the client is
 * escaped here.
 */

struct accesslog_entry {
	const char *client;	/* the client's address */
	const char *sni;	/* the policy host served, or NULL */
	const char *method;
	const char *url;
	const char *host;	/* the Host header, or NULL */
	const char *agent;	/* the User-Agent, or NULL */
	unsigned status;
	size_t bytes;
	bool resumed;		/* TLS session resumed from a ticket */
};

/* Logs e at info level, as JSON when json is set. */
void accesslog_write(const struct accesslog_entry *e, bool json);

#endif
