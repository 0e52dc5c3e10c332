/* SPDX-License-Identifier: MIT */
/*
 * report.c: the findings of `mta-stsd check`, their verdict and their
 * output. Every string in a finding is already safe to print: remote text
 * was escaped where it entered (assess.c), so the output adds no second
 * convention of its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "checker/report.h"

int check_domain_init(struct check_domain *d, const char *name)
{
	*d = (struct check_domain){0};
	d->name = strdup(name);
	if (!d->name) {
		d->out_of_memory = true;
		return -1;
	}
	return 0;
}

void check_domain_finish(struct check_domain *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++) {
		free(d->findings[i].subject);
		free(d->findings[i].text);
		free(d->findings[i].advice);
	}
	free(d->findings);
	free(d->name);
	*d = (struct check_domain){0};
}

void check_add(struct check_domain *d, enum check_mark mark,
	enum check_area area, const char *code, const char *result_type,
	const char *subject, const char *fmt, ...)
{
	if (d->count == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct check_finding *f = realloc(d->findings,
			cap * sizeof(*f));
		if (!f) {
			d->out_of_memory = true;
			return;
		}
		d->findings = f;
		d->cap = cap;
	}
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	char *subj = subject ? strdup(subject) : NULL;
	if (n < 0 || (subject && !subj)) {
		if (n >= 0)
			free(text);
		free(subj);
		d->out_of_memory = true;
		return;
	}
	d->findings[d->count++] = (struct check_finding){
		.mark = mark,
		.area = area,
		.code = code,
		.result_type = result_type,
		.subject = subj,
		.text = text,
	};
}

void check_advise(struct check_domain *d, const char *fmt, ...)
{
	if (d->count == 0)
		return;
	struct check_finding *f = &d->findings[d->count - 1];
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		d->out_of_memory = true;
		return;
	}
	free(f->advice);
	f->advice = text;
}

void check_set_unverified(struct check_domain *d)
{
	if (d->count)
		d->findings[d->count - 1].unverified = true;
}

void check_set_detail(struct check_domain *d, const char *detail)
{
	if (d->count)
		d->findings[d->count - 1].detail = detail;
}

/*
 * check_verdict sums up a domain. Failures of discovery (TXT record,
 * policy fetch, policy syntax) mean senders find no usable policy at all;
 * any other failure is harmless in testing but refuses mail under enforce.
 */
enum check_verdict check_verdict(const struct check_domain *d)
{
	if (d->dns_failed)
		return CHECK_VERDICT_UNKNOWN;
	bool fail = false, discovery = false, unverified = false;
	for (size_t i = 0; i < d->count; i++) {
		const struct check_finding *f = &d->findings[i];
		unverified |= f->unverified;
		if (f->mark != CHECK_FAIL)
			continue;
		fail = true;
		if (f->area == CHECK_AREA_TXT || f->area == CHECK_AREA_HTTPS ||
				f->area == CHECK_AREA_POLICY)
			discovery = true;
	}
	if (discovery)
		return CHECK_VERDICT_NOT_WORKING;
	if (fail)
		return d->enforce ? CHECK_VERDICT_AT_RISK :
			CHECK_VERDICT_FIX_BEFORE_ENFORCE;
	return unverified ? CHECK_VERDICT_NOT_VERIFIED : CHECK_VERDICT_READY;
}

const char *check_verdict_text(enum check_verdict verdict)
{
	switch (verdict) {
	case CHECK_VERDICT_READY:
		return "ready for enforce";
	case CHECK_VERDICT_NOT_VERIFIED:
		return "not verified: nothing failed, but STARTTLS of the MX "
			"hosts marked above could not be checked";
	case CHECK_VERDICT_FIX_BEFORE_ENFORCE:
		return "safe in testing, fix before enforce";
	case CHECK_VERDICT_AT_RISK:
		return "at risk: enforce is on and senders will refuse the "
			"failing MX hosts; fix them now or switch to testing";
	case CHECK_VERDICT_NOT_WORKING:
		return "not working: senders will ignore the policy";
	case CHECK_VERDICT_UNKNOWN:
		return "unknown: DNS gave no answers, nothing could be checked";
	}
	return "?";
}

const char *check_verdict_name(enum check_verdict verdict)
{
	switch (verdict) {
	case CHECK_VERDICT_READY:
		return "ready";
	case CHECK_VERDICT_NOT_VERIFIED:
		return "not-verified";
	case CHECK_VERDICT_FIX_BEFORE_ENFORCE:
		return "fix-before-enforce";
	case CHECK_VERDICT_AT_RISK:
		return "at-risk";
	case CHECK_VERDICT_NOT_WORKING:
		return "not-working";
	case CHECK_VERDICT_UNKNOWN:
		return "unknown";
	}
	return "?";
}

const char *check_mark_name(enum check_mark mark)
{
	switch (mark) {
	case CHECK_OK:
		return "ok";
	case CHECK_INFO:
		return "info";
	case CHECK_WARN:
		return "warn";
	case CHECK_FAIL:
		return "fail";
	}
	return "?";
}

const char *check_area_name(enum check_area area)
{
	switch (area) {
	case CHECK_AREA_DNS:
		return "dns";
	case CHECK_AREA_TXT:
		return "txt";
	case CHECK_AREA_HTTPS:
		return "https";
	case CHECK_AREA_POLICY:
		return "policy";
	case CHECK_AREA_CONFIG:
		return "config";
	case CHECK_AREA_MX:
		return "mx";
	case CHECK_AREA_SMTP:
		return "smtp";
	case CHECK_AREA_TLSRPT:
		return "tlsrpt";
	case CHECK_AREA_DNSSEC:
		return "dnssec";
	}
	return "?";
}

int check_exit_status(const struct check_domain *domains, size_t count)
{
	int rc = CHECK_EXIT_OK;
	for (size_t i = 0; i < count; i++) {
		const struct check_domain *d = &domains[i];
		if (d->out_of_memory || d->dns_failed)
			return CHECK_EXIT_FAILURES;
		for (size_t j = 0; j < d->count; j++) {
			if (d->findings[j].mark == CHECK_FAIL)
				return CHECK_EXIT_FAILURES;
			if (d->findings[j].mark == CHECK_WARN)
				rc = CHECK_EXIT_WARNINGS;
		}
	}
	return rc;
}

static const char *mark_text(enum check_mark mark)
{
	switch (mark) {
	case CHECK_OK:
		return "  ok  ";
	case CHECK_INFO:
		return " info ";
	case CHECK_WARN:
		return " warn ";
	case CHECK_FAIL:
		return " FAIL ";
	}
	return "  ?   ";
}

static const char *mark_colour(enum check_mark mark)
{
	switch (mark) {
	case CHECK_OK:
		return "\033[32m";
	case CHECK_INFO:
		return "\033[36m";
	case CHECK_WARN:
		return "\033[33m";
	case CHECK_FAIL:
		return "\033[1;31m";
	}
	return "";
}

void check_print(const struct check_domain *d, FILE *out, bool colour)
{
	fputs(d->name, out);
	fputc('\n', out);
	for (size_t i = 0; i < d->count; i++) {
		const struct check_finding *f = &d->findings[i];
		if (colour)
			fprintf(out, "[%s%s\033[0m] ", mark_colour(f->mark),
				mark_text(f->mark));
		else
			fprintf(out, "[%s] ", mark_text(f->mark));
		fputs(f->text, out);
		fputc('\n', out);
		if (f->advice) {
			fputs("         ", out);
			fputs(f->advice, out);
			fputc('\n', out);
		}
	}
	if (d->out_of_memory)
		fprintf(out, "[ FAIL ] out of memory: some results were lost\n");
	fprintf(out, "verdict: %s\n", check_verdict_text(check_verdict(d)));
}

/* The finding that says most about what is wrong, or NULL when none is. */
static const struct check_finding *worst(const struct check_domain *d)
{
	const struct check_finding *warning = NULL;
	for (size_t i = 0; i < d->count; i++) {
		if (d->findings[i].mark == CHECK_FAIL)
			return &d->findings[i];
		if (!warning && d->findings[i].mark == CHECK_WARN)
			warning = &d->findings[i];
	}
	return warning;
}

#define SUMMARY_TEXT_MAX 72

void check_print_summary(const struct check_domain *domains, size_t count,
	FILE *out)
{
	int width = 6;
	for (size_t i = 0; i < count; i++) {
		size_t n = strlen(domains[i].name);
		if (n > (size_t)width)
			width = n > 40 ? 40 : (int)n;
	}
	fprintf(out, "summary of %zu domains:\n", count);
	fprintf(out, "  %-*s  %-18s  %s\n", width, "domain", "verdict",
		"worst finding");
	for (size_t i = 0; i < count; i++) {
		const struct check_domain *d = &domains[i];
		const struct check_finding *f = worst(d);
		fprintf(out, "  %-*s  %-18s  ", width, d->name,
			check_verdict_name(check_verdict(d)));
		if (!f) {
			fputs("-\n", out);
			continue;
		}
		/* Cut long texts at a character boundary. */
		size_t n = strlen(f->text);
		bool cut = n > SUMMARY_TEXT_MAX;
		if (cut) {
			n = SUMMARY_TEXT_MAX;
			while (n > 0 && ((unsigned char)f->text[n] & 0xc0) ==
					0x80)
				n--;
		}
		fprintf(out, "%s %s: %.*s%s\n", f->mark == CHECK_FAIL ? "FAIL" :
			"warn", f->code, (int)n, f->text, cut ? "..." : "");
	}
}

static json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

char *check_json(const struct check_domain *domains, size_t count)
{
	json_object *root = json_object_new_object();
	json_object *list = json_object_new_array();
	if (!root || !list) {
		json_object_put(root);
		json_object_put(list);
		return NULL;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "exit_status",
		json_object_new_int(check_exit_status(domains, count)));
	for (size_t i = 0; i < count; i++) {
		const struct check_domain *d = &domains[i];
		enum check_verdict v = check_verdict(d);
		json_object *o = json_object_new_object();
		json_object *findings = json_object_new_array();
		json_object_object_add(o, "domain",
			json_object_new_string(d->name));
		json_object_object_add(o, "verdict",
			json_object_new_string(check_verdict_name(v)));
		json_object_object_add(o, "verdict_text",
			json_object_new_string(check_verdict_text(v)));
		for (size_t j = 0; j < d->count; j++) {
			const struct check_finding *f = &d->findings[j];
			json_object *fo = json_object_new_object();
			json_object_object_add(fo, "code",
				json_object_new_string(f->code));
			json_object_object_add(fo, "status",
				json_object_new_string(check_mark_name(f->mark)));
			json_object_object_add(fo, "check",
				json_object_new_string(check_area_name(f->area)));
			json_object_object_add(fo, "detail",
				string_or_null(f->detail));
			json_object_object_add(fo, "subject",
				string_or_null(f->subject));
			json_object_object_add(fo, "message",
				json_object_new_string(f->text));
			json_object_object_add(fo, "advice",
				string_or_null(f->advice));
			json_object_object_add(fo, "result_type",
				string_or_null(f->result_type));
			json_object_object_add(fo, "unverified",
				json_object_new_boolean(f->unverified));
			json_object_array_add(findings, fo);
		}
		json_object_object_add(o, "findings", findings);
		json_object_array_add(list, o);
	}
	json_object_object_add(root, "domains", list);
	const char *text = json_object_to_json_string_ext(root,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = text ? strdup(text) : NULL;
	json_object_put(root);
	return copy;
}

