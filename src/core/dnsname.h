/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_DNSNAME_H
#define MTASTSD_DNSNAME_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Host name syntax (RFC 5321 §4.1.2 Domain, RFC 1035 LDH labels in A-label
 * form), normalisation and the RFC 8461 §4.1 one-label wildcard rule.
 * Pure: no I/O, no globals.
 */

#define DNSNAME_MAX 253		/* octets in the text form, no trailing dot */
#define DNSNAME_LABEL_MAX 63

enum dnsname_problem {
	DNSNAME_OK,
	DNSNAME_EMPTY,
	DNSNAME_TRAILING_DOT,	/* "mail.example.com." */
	DNSNAME_EMPTY_LABEL,	/* "mail..example.com", ".example.com" */
	DNSNAME_ADDRESS_LITERAL,/* "[192.0.2.1]", "2001:db8::1" */
	DNSNAME_IPV4,		/* "192.0.2.1": all-numeric, looks like an address */
	DNSNAME_PORT,		/* "mail.example.com:25" */
	DNSNAME_UNDERSCORE,	/* "_mail.example.com" */
	DNSNAME_ULABEL,		/* non-ASCII: must be given as xn-- A-label */
	DNSNAME_BAD_CHAR,	/* any other byte outside letters, digits, '-', '.' */
	DNSNAME_HYPHEN_EDGE,	/* a label starting or ending with '-' */
	DNSNAME_LABEL_TOO_LONG,	/* a label over 63 octets */
	DNSNAME_TOO_LONG,	/* over 253 octets */
	DNSNAME_SINGLE_LABEL,	/* "localhost": no dot at all */
	DNSNAME_BAD_WILDCARD,	/* '*' anywhere but as the whole leftmost label */
};

/*
 * dnsname_check classifies name (NUL-terminated). allow_wildcard accepts a
 * leading "*." label. The first problem found is returned.
 */
enum dnsname_problem dnsname_check(const char *name, bool allow_wildcard);

/* A short phrase for the problem, e.g. "has a trailing dot". */
const char *dnsname_problem_text(enum dnsname_problem problem);

/* A short fix for the problem, e.g. "remove the final '.'". */
const char *dnsname_problem_fix(enum dnsname_problem problem);

bool dnsname_is_valid(const char *name);
bool dnsname_is_wildcard(const char *pattern);	/* starts with "*." */

/*
 * dnsname_normalize writes name in lower case without one trailing dot to
 * out (size bytes). Returns 0, or -1 when it does not fit or is not a valid
 * name once the dot is gone (allow_wildcard as in dnsname_check).
 */
int dnsname_normalize(const char *name, bool allow_wildcard, char *out,
	size_t size);

/* Case-insensitive equality of two names, ignoring one trailing dot each. */
bool dnsname_equal(const char *a, const char *b);
/* Orders names as dnsname_equal compares them (<0, 0, >0), for sorting. */
int dnsname_compare(const char *a, const char *b);

/*
 * dnsname_matches reports whether host matches pattern under RFC 8461 §4.1:
 * a literal pattern matches case-insensitively; "*.example.com" matches
 * exactly one extra leftmost label ("mail.example.com"), never
 * "example.com" nor "a.b.example.com". A trailing dot on host is ignored.
 */
bool dnsname_matches(const char *pattern, const char *host);

/*
 * dnsname_is_shallow_wildcard reports a wildcard whose base is a single
 * label or directly a registrable domain in a short list of well-known
 * public suffix shapes ("*.com", "*.example.com", "*.example.co.uk"):
 * any host there could qualify as MX (RFC 8461 §10.4).
 */
bool dnsname_is_shallow_wildcard(const char *pattern);

#endif
