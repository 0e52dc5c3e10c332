/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ASSESS_H
#define MTASTSD_ASSESS_H

#include <stddef.h>

struct check_domain;
struct check_options;
struct check_work;
struct policy;
struct resolver;

/*
 * assess_domain turns what was gathered about one domain into the findings
 * of its report (w->report), in the order senders meet them: TXT, policy
 * host, policy, ids, MX coverage, STARTTLS, TLS-RPT, DNSSEC.
 */
void assess_domain(struct check_work *w, const struct resolver *resolver,
	const struct check_options *o);

/*
 * MX coverage (RFC 8461 §4.1, one-label wildcards only).
 * assess_mx_covering returns the first pattern of policy that matches host
 * (owned by policy), or NULL. assess_mx_near_miss returns a wildcard
 * pattern that would match host if wildcards spanned several labels (the
 * mistake other checkers hide), or NULL.
 */
const char *assess_mx_covering(const struct policy *policy, const char *host);
const char *assess_mx_near_miss(const struct policy *policy, const char *host);

/* Writes the policy line that covers host, "mx: host", to out. */
void assess_mx_line(const char *host, char *out, size_t size);

/*
 * assess_mx_coverage adds one finding per MX host (covered, or not covered
 * with the exact line to add) and one note per pattern that matches no MX
 * host. hosts are MX host names as found in DNS.
 */
void assess_mx_coverage(struct check_domain *d, const struct policy *policy,
	const char *const *hosts, size_t count);

#endif
