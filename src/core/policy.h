/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_POLICY_H
#define MTASTSD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct diag;

/*
 * The RFC 8461 policy model: validation, rendering of the served bytes, and
 * the linter that parses any policy text as a sender would. Pure.
 */

#define POLICY_MAX_AGE_LIMIT 31557600u	/* RFC 8461 §3.2 */
#define POLICY_SIZE_LIMIT 65536u	/* RFC 8461 §3.3 suggested body limit */
#define POLICY_DAY 86400u
#define POLICY_WEEK 604800u

enum policy_mode {
	POLICY_MODE_ENFORCE,
	POLICY_MODE_TESTING,
	POLICY_MODE_NONE,
};

struct policy {
	enum policy_mode mode;
	uint32_t max_age;
	char **mx;		/* owned, normalised lower-case patterns */
	size_t mx_count;
};

void policy_init(struct policy *policy);
void policy_finish(struct policy *policy);

/* Deep copy; dst must be initialised and is overwritten. 0 or -1. */
int policy_copy(struct policy *dst, const struct policy *src);

/*
 * policy_add_mx appends a copy of pattern, lower-cased with one trailing dot
 * dropped. Syntax is not checked here (policy_validate does that).
 * Returns 0, or -1 on allocation failure.
 */
int policy_add_mx(struct policy *policy, const char *pattern);

/* "enforce", "testing", "none". */
const char *policy_mode_name(enum policy_mode mode);
/* Exact, case-sensitive (RFC 8461 §3.2). */
bool policy_mode_parse(const char *text, enum policy_mode *mode);

/*
 * policy_validate checks a configured policy against RFC 8461 and the
 * conservative profile, adding every problem to d at file:line (the place
 * the domain is configured; subject names the domain in each message).
 * Returns 0 when no error was added (warnings allowed), -1 otherwise.
 */
int policy_validate(const struct policy *policy, const char *subject,
	struct diag *d, const char *file, unsigned line);

/*
 * policy_render returns the exact served body: "version: STSv1", "mode",
 * one "mx" line each, "max_age", every line ending in CRLF. Caller frees.
 * *len receives the length. NULL on allocation failure.
 */
char *policy_render(const struct policy *policy, size_t *len);

/* Does any mx pattern of policy match host (RFC 8461 §4.1)? */
bool policy_mx_matches(const struct policy *policy, const char *host);

/*
 * policy_lint parses text (len bytes, any bytes) as a sender would
 * (RFC 8461 §3.2 ABNF) and adds every error and warning to d with file and
 * line. When out is not NULL and no error was found, it receives the parsed
 * policy (first occurrence wins for repeated fields); out must be
 * initialised. Returns 0 when text is a valid policy, -1 otherwise.
 */
int policy_lint(const char *text, size_t len, const char *file,
	struct policy *out, struct diag *d);

#endif
