/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_FETCH_H
#define MTASTSD_FETCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The sender-style HTTPS fetch of policies (RFC 8461 §3.3): the only
 * libcurl user. SNI and certificate name are the policy host, the
 * addresses are pinned to the checker's own DNS answers, TLS 1.2 or newer,
 * redirects are never followed, no compression is asked for, the body is
 * capped at FETCH_BODY_LIMIT bytes and every fetch is bounded in time.
 */

#define FETCH_BODY_LIMIT 65536u
#define FETCH_PATH "/.well-known/mta-sts.txt"

struct fetch_request {
	const char *host;		/* "mta-sts.example.com" */
	unsigned port;			/* 443 unless testing */
	const char *const *addresses;	/* numeric, from our DNS answers */
	size_t address_count;
	const char *ca_file;		/* extra trust anchors, or NULL */
	unsigned timeout_s;
};

enum fetch_status {
	FETCH_OK,		/* an HTTP response arrived (any status) */
	FETCH_CONNECT,		/* no TCP connection */
	FETCH_TIMEOUT,		/* the whole exchange took too long */
	FETCH_TLS,		/* TLS handshake failed (version, alert) */
	FETCH_CERT,		/* the certificate did not verify */
	FETCH_TOO_LARGE,	/* the body is over FETCH_BODY_LIMIT */
	FETCH_ERROR,		/* anything else; error says what */
};

struct fetch_result {
	enum fetch_status status;
	long http_status;
	char *redirect_url;	/* Location of a 3xx, or NULL */
	char *content_type;	/* as sent, or NULL */
	char *policy_id;	/* MTA-STS-Policy-Id header (mta-stsd), or NULL */
	char *body;		/* NUL-terminated; body_len bytes */
	size_t body_len;
	char *error;		/* libcurl's explanation, or NULL */
	char *address;		/* the address the answer came from, or NULL */
};

/*
 * fetch_policies fetches every request concurrently, at most parallel at a
 * time, into results[i] (zeroed by the caller). Returns 0, or -1 when
 * libcurl could not be set up at all (each result then says so).
 */
int fetch_policies(const struct fetch_request *requests,
	struct fetch_result *results, size_t count, unsigned parallel);

void fetch_result_finish(struct fetch_result *result);

#endif
