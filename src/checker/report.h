/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_REPORT_H
#define MTASTSD_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The report of `mta-stsd check`: findings, the verdict they add up to,
 * and the two ways to write them (plain text and --json). Pure apart from
 * writing to the FILE it is given; it knows nothing of DNS, HTTPS or SMTP.
 * Text that came from the network is escaped with text_escape before it
 * becomes part of a finding (see assess.c), so a finding is printed as is.
 */

/* Exit statuses of `check`. */
#define CHECK_EXIT_OK 0		/* every check passed */
#define CHECK_EXIT_WARNINGS 1	/* warnings, no failure */
#define CHECK_EXIT_FAILURES 2	/* at least one failure */
#define CHECK_EXIT_USAGE 3	/* usage or internal error */

enum check_mark {
	CHECK_OK,
	CHECK_INFO,
	CHECK_WARN,
	CHECK_FAIL,
};

/* Which step a finding belongs to; decides the verdict. */
enum check_area {
	CHECK_AREA_DNS,		/* the lookups themselves */
	CHECK_AREA_TXT,		/* _mta-sts TXT (RFC 8461 §3.1) */
	CHECK_AREA_HTTPS,	/* policy host and fetch (§3.3) */
	CHECK_AREA_POLICY,	/* policy syntax (§3.2) */
	CHECK_AREA_CONFIG,	/* ids and the local configuration (-c) */
	CHECK_AREA_MX,		/* MX coverage (§4.1) */
	CHECK_AREA_SMTP,	/* STARTTLS and MX certificates (§4.2) */
	CHECK_AREA_TLSRPT,	/* _smtp._tls TXT (RFC 8460 §3) */
	CHECK_AREA_DNSSEC,
};

struct check_finding {
	enum check_mark mark;
	enum check_area area;
	const char *code;	 /* static, stable: "mx-not-covered" */
	const char *detail;	 /* static finer code (a lint code), or NULL */
	const char *result_type; /* static RFC 8460 §4.3 result type, or NULL */
	char *subject;		 /* owned: the host concerned, or NULL */
	char *text;		 /* owned: the one-line result */
	char *advice;		 /* owned: cause and fix, or NULL */
	bool unverified;	 /* something could not be checked */
};

enum check_verdict {
	CHECK_VERDICT_READY,		/* no failure, everything checked */
	CHECK_VERDICT_NOT_VERIFIED,	/* no failure, but not all checked */
	CHECK_VERDICT_FIX_BEFORE_ENFORCE, /* failures, mode is not enforce */
	CHECK_VERDICT_AT_RISK,		/* failures while enforce is on */
	CHECK_VERDICT_NOT_WORKING,	/* TXT or policy broken */
	CHECK_VERDICT_UNKNOWN,		/* DNS gave no answers at all */
};

/* The report on one domain. Initialise with check_domain_init. */
struct check_domain {
	char *name;
	bool enforce;		/* the live policy is valid with mode enforce */
	bool dns_failed;	/* the lookups failed: nothing could be told */
	struct check_finding *findings;
	size_t count;
	size_t cap;
	bool out_of_memory;	/* a finding was lost */
};

/* 0, or -1 when out of memory (d is then still safe to finish). */
int check_domain_init(struct check_domain *d, const char *name);
void check_domain_finish(struct check_domain *d);

/*
 * check_add appends a finding; code, detail and result_type are static
 * strings (not copied), subject is copied. On allocation failure the
 * finding is dropped and out_of_memory set.
 */
void check_add(struct check_domain *d, enum check_mark mark,
	enum check_area area, const char *code, const char *result_type,
	const char *subject, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* Sets the advice (cause and fix) of the last finding added. */
void check_advise(struct check_domain *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Marks the last finding as something that could not be checked: the
 * verdict then never says "ready". */
void check_set_unverified(struct check_domain *d);

/* Sets the detail code of the last finding added (static string). */
void check_set_detail(struct check_domain *d, const char *detail);

enum check_verdict check_verdict(const struct check_domain *d);

/* The verdict as printed after "verdict: ", e.g. "ready for enforce". */
const char *check_verdict_text(enum check_verdict verdict);
/* The verdict's stable name for --json, e.g. "ready". */
const char *check_verdict_name(enum check_verdict verdict);

/* "ok", "info", "warn", "fail" and "txt", "https", ... for --json. */
const char *check_mark_name(enum check_mark mark);
const char *check_area_name(enum check_area area);

/* CHECK_EXIT_OK, _WARNINGS or _FAILURES over all domains. */
int check_exit_status(const struct check_domain *domains, size_t count);

/*
 * check_print writes the human report of one domain: its name, one line
 * per finding with a mark ("  ok  ", " info ", " warn ", " FAIL "), the
 * advice indented under it, and the verdict line. colour adds ANSI
 * colours to the marks.
 */
void check_print(const struct check_domain *d, FILE *out, bool colour);

/*
 * check_print_summary writes one line per domain after the reports of a
 * run over several: the domain, its verdict's name and its worst finding
 * (the first failure, else the first warning, else "-").
 */
void check_print_summary(const struct check_domain *domains, size_t count,
	FILE *out);

/*
 * check_json returns the --json document for all domains (see
 * docs/CHECK.md for the fields), or NULL when out of memory. Caller frees.
 */
char *check_json(const struct check_domain *domains, size_t count);

#endif
