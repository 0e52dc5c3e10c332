/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_JSON_H
#define MTASTSD_ACME_JSON_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The ACME (RFC 8555) resources a client reads, parsed from untrusted JSON
 * into plain structs: the directory (§7.1.1), orders (§7.1.3),
 * authorizations and challenges (§7.1.4) and problem documents (§6.7,
 * RFC 7807). Every string is bounded, every URL must be https (or http
 * for a test CA on loopback is the caller's business: they are kept as
 * given). No logging, no I/O: tests/fuzz/ drives it directly.
 */

#define ACME_JSON_MAX (64 * 1024)	/* larger resources are refused */
#define ACME_URL_MAX 2048
#define ACME_TEXT_MAX 512
#define ACME_MAX_AUTHZ 16
#define ACME_MAX_CHALLENGES 8

enum acme_status {
	ACME_STATUS_UNKNOWN,
	ACME_STATUS_PENDING,
	ACME_STATUS_READY,
	ACME_STATUS_PROCESSING,
	ACME_STATUS_VALID,
	ACME_STATUS_INVALID,
	ACME_STATUS_EXPIRED,
	ACME_STATUS_DEACTIVATED,
	ACME_STATUS_REVOKED,
};

struct acme_problem {
	bool present;
	char type[ACME_TEXT_MAX];	/* "urn:ietf:params:acme:error:..." */
	char detail[ACME_TEXT_MAX];
	char subdetail[ACME_TEXT_MAX];	/* the first subproblem's detail */
};

struct acme_directory {
	char new_nonce[ACME_URL_MAX];
	char new_account[ACME_URL_MAX];
	char new_order[ACME_URL_MAX];
	char renewal_info[ACME_URL_MAX];	/* RFC 9773; may be empty */
	bool eab_required;
};

struct acme_order {
	enum acme_status status;
	char authorizations[ACME_MAX_AUTHZ][ACME_URL_MAX];
	size_t authorization_count;
	char finalize[ACME_URL_MAX];
	char certificate[ACME_URL_MAX];		/* once valid */
	struct acme_problem error;
};

struct acme_challenge {
	char type[32];
	char url[ACME_URL_MAX];
	char token[128];
	enum acme_status status;
	struct acme_problem error;
};

struct acme_authz {
	enum acme_status status;
	char identifier[256];		/* the DNS name */
	struct acme_challenge challenges[ACME_MAX_CHALLENGES];
	size_t challenge_count;
};

/*
 * Each parser fills out from text (len bytes, need not be NUL-terminated)
 * and returns 0, or -1 with a short reason in why (why_size bytes) when
 * text is not such a resource.
 */
int acme_json_directory(const char *text, size_t len,
	struct acme_directory *out, char *why, size_t why_size);
int acme_json_order(const char *text, size_t len, struct acme_order *out,
	char *why, size_t why_size);
int acme_json_authz(const char *text, size_t len, struct acme_authz *out,
	char *why, size_t why_size);
int acme_json_problem(const char *text, size_t len,
	struct acme_problem *out);

/*
 * The suggestedWindow of an RFC 9773 renewal information answer, as
 * seconds since the epoch; start <= end. 0 or -1 with why.
 */
int acme_json_renewal_info(const char *text, size_t len, long long *start,
	long long *end, char *why, size_t why_size);

/* An RFC 3339 date-time in UTC ("Z" or an offset) as seconds, or -1. */
long long acme_json_time(const char *text);

/* The challenge of this type in authz, or NULL. */
const struct acme_challenge *acme_json_find_challenge(
	const struct acme_authz *authz, const char *type);

/* "pending", "valid"... */
const char *acme_status_name(enum acme_status status);

/*
 * acme_problem_describe renders a problem for an admin in plain words:
 * what the CA said (its detail, escaped) and what the error type means
 * ("the CA could not connect to the host", "rate limited by the CA").
 */
const char *acme_problem_describe(const struct acme_problem *problem,
	char *buf, size_t size);

/*
 * A Retry-After header value (RFC 9110 §10.2.3: seconds or an HTTP date)
 * as seconds from now (now given), or -1 when it is neither.
 */
long acme_json_retry_after(const char *value, long long now);

#endif
