/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_RESOLVE_H
#define MTASTSD_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

struct diag;

/*
 * DNS for the checker: the only libunbound user. Queries are submitted in
 * a batch and answered concurrently by one resolver context; a batch is
 * bounded by a deadline, after which unanswered queries are cancelled and
 * reported as timed out. CNAMEs are followed, as senders do (RFC 8461 §3.1).
 */

#define RESOLVE_TYPE_A 1
#define RESOLVE_TYPE_MX 15
#define RESOLVE_TYPE_TXT 16
#define RESOLVE_TYPE_AAAA 28

enum resolve_status {
	RESOLVE_PENDING,	/* submitted, no answer yet */
	RESOLVE_OK,		/* at least one record */
	RESOLVE_NODATA,		/* the name exists, no record of the type */
	RESOLVE_NXDOMAIN,	/* the name does not exist */
	RESOLVE_SERVFAIL,	/* the resolver failed (also DNSSEC bogus) */
	RESOLVE_REFUSED,	/* any other error rcode */
	RESOLVE_TIMEOUT,	/* no answer before the deadline */
	RESOLVE_ERROR,		/* local failure; error says which */
};

enum resolve_dnssec {
	RESOLVE_DNSSEC_OFF,	/* no trust anchor: nothing was validated */
	RESOLVE_DNSSEC_INSECURE,/* validated as unsigned */
	RESOLVE_DNSSEC_SECURE,	/* signed and validated */
	RESOLVE_DNSSEC_BOGUS,	/* signatures failed */
};

struct resolve_record {
	char *text;	/* TXT: strings joined (may hold NUL, see len);
			 * MX: exchange, lower case, no trailing dot ("" is
			 * the null MX "."); A/AAAA: numeric address */
	size_t len;	/* bytes in text */
	unsigned pref;	/* MX preference, 0 otherwise */
};

/*
 * One question and, once answered, its answer. Owned by the caller, who
 * must keep it at a fixed address from resolve_submit until resolve_wait
 * returns, and release it with resolve_answer_finish.
 */
struct resolve_answer {
	char *name;
	int type;
	enum resolve_status status;
	enum resolve_dnssec dnssec;
	char *canonical;	/* the CNAME target followed, or NULL */
	char *why_bogus;	/* libunbound's reason, or NULL */
	char *error;		/* for RESOLVE_ERROR, or NULL */
	unsigned ttl;
	struct resolve_record *records;
	size_t count;
	int async_id;		/* private */
	struct resolver *owner;	/* private */
};

struct resolver;

/*
 * resolver_create makes a resolver that asks address ("192.0.2.1" or
 * "192.0.2.1@5353"), or the system's resolvers from /etc/resolv.conf when
 * address is NULL. trust_anchor is a root trust anchor file for DNSSEC
 * validation, or NULL to validate nothing. Problems go to d. NULL on
 * failure.
 */
struct resolver *resolver_create(const char *address, const char *trust_anchor,
	struct diag *d);
void resolver_destroy(struct resolver *resolver);

/* Does the resolver validate DNSSEC (a trust anchor was loaded)? */
bool resolver_validates(const struct resolver *resolver);

/*
 * resolve_submit starts the lookup of name (type RESOLVE_TYPE_*) into out,
 * which it initialises. On failure out is RESOLVE_ERROR and -1 returned;
 * out must be finished in every case.
 */
int resolve_submit(struct resolver *resolver, const char *name, int type,
	struct resolve_answer *out);

/*
 * resolve_wait processes answers until every submitted query is answered
 * or timeout_ms milliseconds have passed; the rest are cancelled and set
 * to RESOLVE_TIMEOUT. 0, or -1 when the resolver failed (the pending
 * answers are then RESOLVE_ERROR).
 */
int resolve_wait(struct resolver *resolver, unsigned timeout_ms);

void resolve_answer_finish(struct resolve_answer *answer);

/* Did the lookup fail (timeout, SERVFAIL, error), so nothing is known? */
bool resolve_answer_failed(const struct resolve_answer *answer);

/* Is the answer a definite "no such record" (NODATA or NXDOMAIN)? */
bool resolve_answer_empty(const struct resolve_answer *answer);

/* Why a lookup failed in a few words: the local error or the status. */
const char *resolve_answer_reason(const struct resolve_answer *answer);

/* "NXDOMAIN", "timed out", ...: a short phrase for status. */
const char *resolve_status_text(enum resolve_status status);

/* "validated", "unsigned", "bogus", "not validated". */
const char *resolve_dnssec_text(enum resolve_dnssec dnssec);

#endif
