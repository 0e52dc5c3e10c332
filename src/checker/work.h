/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_WORK_H
#define MTASTSD_WORK_H

#include <stdbool.h>
#include <stddef.h>

#include "checker/fetch.h"
#include "checker/probe.h"
#include "checker/report.h"
#include "checker/resolve.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "core/txt.h"

/*
 * The data `mta-stsd check` gathers about each domain: what the command
 * line asked for, and every answer, fetch and probe result. check.c fills
 * it in stages; assess.c reads it and writes the report.
 */

struct check_options {
	const char *resolver;
	const char *ca_file;
	const char *config;
	const char *trust_anchor;
	unsigned https_port;
	unsigned smtp_port;
	unsigned timeout_s;
	bool anchor_disabled;	/* --trust-anchor none */
	bool no_smtp;
	bool json;
};

struct check_mx_host {
	char *name;
	unsigned pref;
	struct resolve_answer a;
	struct resolve_answer aaaa;
	const char **addresses;		/* borrowed from a and aaaa */
	size_t address_count;
	struct probe probe;
};

/* Everything about one domain while it is checked. */
struct check_work {
	struct check_domain report;
	char name[DNSNAME_MAX + 1];
	char policy_host[DNSNAME_MAX + 16];
	struct resolve_answer txt, tlsrpt, mx, host_a, host_aaaa;
	const char **addresses;		/* of the policy host, borrowed */
	size_t address_count;
	struct check_mx_host *hosts;
	size_t host_count;
	bool implicit_mx;
	bool null_mx;
	struct fetch_result fetch;
	bool fetched;
	struct probe https_probe;
	struct policy policy;
	bool policy_valid;
	char dns_id[TXT_ID_MAX + 1];	/* "" unless one valid record */
	/* -c: what mta-stsd serves for this domain */
	bool configured;
	char *served_body;
	size_t served_len;
	char expected_id[TXT_ID_MAX + 1];	/* "" when not known */
	char *tlsrpt_rua;	/* the configured TLS-RPT address, or NULL */
};

#endif
