/* SPDX-License-Identifier: MIT */
/*
 * assess.c: what `mta-stsd check` concludes from the answers, the fetch and
 * the probes it gathered (work.h): one step per thing a sender looks at
 * (RFC 8461 §3, §4, §5; RFC 8460 §3), each adding its findings to the
 * report in the order a sender meets them. No I/O here.
 *
 * Text from the network (TXT records, headers, certificate names, SMTP
 * replies, libunbound's reasons) is escaped with text_escape where it
 * enters a finding; our own words, quotes included, are not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "checker/assess.h"
#include "checker/work.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "core/txt.h"
#include "util/clock.h"
#include "util/diag.h"
#include "util/text.h"

/* RFC 8460 §4.3 result types. */
#define RT_FETCH "sts-policy-fetch-error"
#define RT_INVALID "sts-policy-invalid"
#define RT_WEBPKI "sts-webpki-invalid"
#define RT_STARTTLS "starttls-not-supported"
#define RT_HOST "certificate-host-mismatch"
#define RT_EXPIRED "certificate-expired"
#define RT_UNTRUSTED "certificate-not-trusted"
#define RT_VALIDATION "validation-failure"

/* Room for a remote value escaped by text_escape, cut with "..." beyond. */
#define SHOWN_MAX 400

/* shown escapes remote text for a finding; a NULL s gives fallback. */
static const char *shown(char buf[SHOWN_MAX], const char *s,
	const char *fallback)
{
	return s ? text_escape_str(buf, SHOWN_MAX, s) : fallback;
}

/* MX coverage (RFC 8461 §4.1) */

const char *assess_mx_covering(const struct policy *policy, const char *host)
{
	for (size_t i = 0; i < policy->mx_count; i++)
		if (dnsname_matches(policy->mx[i], host))
			return policy->mx[i];
	return NULL;
}

const char *assess_mx_near_miss(const struct policy *policy, const char *host)
{
	size_t hlen = strlen(host);
	if (hlen && host[hlen - 1] == '.')
		hlen--;
	for (size_t i = 0; i < policy->mx_count; i++) {
		const char *p = policy->mx[i];
		if (!dnsname_is_wildcard(p))
			continue;
		const char *base = p + 1;	/* ".example.com" */
		size_t blen = strlen(base);
		if (hlen <= blen || strncasecmp(host + hlen - blen, base,
				blen) != 0)
			continue;
		/* A suffix match: more than one label in front of it is what
		 * one-label wildcards do not cover. */
		if (memchr(host, '.', hlen - blen))
			return p;
	}
	return NULL;
}

void assess_mx_line(const char *host, char *out, size_t size)
{
	size_t n = strlen(host);
	if (n && host[n - 1] == '.')
		n--;
	snprintf(out, size, "mx: %.*s", (int)n, host);
}

void assess_mx_coverage(struct check_domain *d, const struct policy *policy,
	const char *const *hosts, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const char *pattern = assess_mx_covering(policy, hosts[i]);
		if (pattern) {
			check_add(d, CHECK_OK, CHECK_AREA_MX, "mx-covered", NULL,
				hosts[i], "MX %s is covered by \"mx: %s\"",
				hosts[i], pattern);
			continue;
		}
		char line[DNSNAME_MAX + 8];
		assess_mx_line(hosts[i], line, sizeof(line));
		check_add(d, CHECK_FAIL, CHECK_AREA_MX, "mx-not-covered",
			RT_VALIDATION, hosts[i],
			"MX %s is not covered by the policy", hosts[i]);
		const char *near = assess_mx_near_miss(policy, hosts[i]);
		const char *loss = policy->mode == POLICY_MODE_ENFORCE ?
			"senders refuse to deliver to it now, since enforce is "
			"on" : "senders would refuse to deliver to it under "
			"enforce";
		if (near)
			check_advise(d, "\"mx: %s\" matches exactly one label in "
				"front of %s, not %s (RFC 8461 §4.1), so %s: add "
				"the line \"%s\" to the policy and publish a new "
				"id.", near, near + 2, hosts[i], loss, line);
		else
			check_advise(d, "Nothing in the policy matches %s (RFC "
				"8461 §4.1), so %s: add the line \"%s\" to the "
				"policy and publish a new id.", hosts[i], loss,
				line);
	}
	for (size_t p = 0; p < policy->mx_count; p++) {
		bool used = false;
		for (size_t i = 0; i < count && !used; i++)
			used = dnsname_matches(policy->mx[p], hosts[i]);
		/* A wildcard often comes from a policy shared by many
		 * domains: information, not a reason to remove it. */
		if (!used && dnsname_is_wildcard(policy->mx[p]))
			check_add(d, CHECK_INFO, CHECK_AREA_MX,
				"mx-pattern-unused", NULL, policy->mx[p],
				"\"mx: %s\" matches no MX host of %s (fine for "
				"a policy shared by several domains)",
				policy->mx[p], d->name);
		else if (!used)
			check_add(d, CHECK_INFO, CHECK_AREA_MX,
				"mx-pattern-unused", NULL, policy->mx[p],
				"\"mx: %s\" matches no MX host of %s (harmless; "
				"remove it if it is left over)", policy->mx[p],
				d->name);
	}
}


static void suggest_id(const struct check_work *w, char out[TXT_ID_MAX + 1])
{
	if (w->expected_id[0])
		snprintf(out, TXT_ID_MAX + 1, "%s", w->expected_id);
	else if (w->fetch.policy_id && txt_id_is_valid(w->fetch.policy_id))
		snprintf(out, TXT_ID_MAX + 1, "%s", w->fetch.policy_id);
	else if (txt_id_bump(NULL, time(NULL), out) < 0)
		snprintf(out, TXT_ID_MAX + 1, "1");
}

/*
 * report_diag reports the items of a lint run as findings (errors fail,
 * warnings warn). A lint message reads "what is wrong — how to fix it":
 * the first half is the headline, after where ("TXT _mta-sts.example.com"
 * or "policy line 3"), the second half the advice.
 */
static void report_diag(struct check_domain *r, const struct diag *d,
	enum check_area area, const char *code_error, const char *code_warning,
	const char *result_type, const char *what, bool lines)
{
	for (size_t i = 0; i < d->len; i++) {
		const struct diag_item *it = &d->items[i];
		if (it->severity == DIAG_NOTE)
			continue;
		bool error = it->severity == DIAG_ERROR;
		const char *dash = strstr(it->message, " — ");
		int head = dash ? (int)(dash - it->message) :
			(int)strlen(it->message);
		if (lines && it->line)
			check_add(r, error ? CHECK_FAIL : CHECK_WARN, area,
				error ? code_error : code_warning,
				error ? result_type : NULL, NULL,
				"%s line %u: %.*s", what, it->line, head,
				it->message);
		else
			check_add(r, error ? CHECK_FAIL : CHECK_WARN, area,
				error ? code_error : code_warning,
				error ? result_type : NULL, NULL, "%s: %.*s", what,
				head, it->message);
		check_set_detail(r, it->code);
		if (dash)
			check_advise(r, "%s", dash + strlen(" — "));
	}
}

/* The records of an answer, quoted and escaped, for advice. */
static void list_records(const struct resolve_answer *a, char *out,
	size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < a->count && o + 8 < size; i++) {
		char b1[SHOWN_MAX];
		int n = snprintf(out + o, size - o, "%s\"%s\"", i ? ", " : "",
			text_escape(b1, sizeof(b1), a->records[i].text,
			a->records[i].len));
		if (n < 0)
			break;
		o += (size_t)n < size - o ? (size_t)n : size - o - 1;
	}
}

static void check_txt(struct check_work *w)
{
	struct check_domain *r = &w->report;
	char name[DNSNAME_MAX + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", w->name);
	/* A bogus answer is reported once, by the DNSSEC step, as what it
	 * is for validating senders: no record at all. */
	bool bogus = w->txt.dnssec == RESOLVE_DNSSEC_BOGUS;
	if (bogus && w->txt.status != RESOLVE_OK)
		return;
	if (resolve_answer_failed(&w->txt)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_DNS, "txt-lookup-failed",
			NULL, name, "TXT %s: %s", name, resolve_answer_reason(&w->txt));
		check_advise(r, "The lookup failed, so nothing can be said "
			"about the record; senders whose lookups fail the same "
			"way skip MTA-STS: check the resolver and the zone's "
			"name servers.");
		w->report.dns_failed = true;
		return;
	}
	/* §3.1: records not beginning with "v=STSv1;" are discarded; the
	 * same filter as lint's (txt_is_sts_record). */
	const struct resolve_record *sts = NULL, *lookalike = NULL;
	size_t sts_records = 0;
	size_t count = w->txt.status == RESOLVE_OK ? w->txt.count : 0;
	for (size_t i = 0; i < count; i++) {
		const struct resolve_record *rec = &w->txt.records[i];
		if (txt_is_sts_record(rec->text, rec->len)) {
			sts_records++;
			sts = rec;
		} else if (!lookalike && txt_is_sts_lookalike(rec->text,
				rec->len)) {
			lookalike = rec;
		}
	}
	char what[DNSNAME_MAX + 32];
	snprintf(what, sizeof(what), "TXT %s", name);
	char id[TXT_ID_MAX + 1];
	char b1[SHOWN_MAX], b2[SHOWN_MAX];
	if (sts_records == 0) {
		suggest_id(w, id);
		if (lookalike)
			check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-missing",
				NULL, name, "no TXT record at %s begins with "
				"exactly \"v=STSv1;\": senders discard \"%s\"",
				name, text_escape(b1, sizeof(b1),
				lookalike->text, lookalike->len));
		else
			check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-missing",
				NULL, name, "no MTA-STS TXT record at %s", name);
		bool served = w->fetched && w->fetch.status == FETCH_OK &&
			w->fetch.http_status == 200;
		if (served)
			check_advise(r, "Senders look for this record first and, "
				"without it, never fetch the policy, although it "
				"is served (RFC 8461 §3.1): publish %s. IN TXT "
				"\"v=STSv1; id=%s\"%s.", name, id,
				lookalike ? " in its place" : "");
		else
			check_advise(r, "Senders look for this record first "
				"(RFC 8461 §3.1), but the policy is not served "
				"yet (see below): first serve it at https://%s"
				FETCH_PATH ", then publish %s. IN TXT \"v=STSv1; "
				"id=%s\"%s — in that order, or senders that see "
				"the record find no policy (RFC 8461 §8.1).",
				w->policy_host, name, id,
				lookalike ? " in its place" : "");
		return;
	}
	if (sts_records > 1) {
		char list[1024];
		list_records(&w->txt, list, sizeof(list));
		check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-multiple", NULL,
			name, "%zu TXT records at %s begin with v=STSv1: %s",
			sts_records, name, list);
		check_advise(r, "With more than one, senders treat the domain "
			"as having no policy (RFC 8461 §3.1): delete all but "
			"one, and keep the id of the current policy.");
		return;
	}
	if (memchr(sts->text, '\0', sts->len)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-invalid", NULL,
			name, "TXT %s holds a NUL byte", name);
		check_advise(r, "Senders reject it: publish "
			"\"v=STSv1; id=...\" in plain ASCII.");
		return;
	}
	struct diag d;
	diag_init(&d);
	struct txt_sts parsed = {0};
	int rc = txt_parse_sts(sts->text, &parsed, &d, NULL, 0);
	if (rc == 0) {
		snprintf(w->dns_id, sizeof(w->dns_id), "%s", parsed.id);
	}
	if (rc == 0 && !bogus) {
		if (w->txt.canonical)
			check_add(r, CHECK_OK, CHECK_AREA_TXT, "txt-ok", NULL,
				name, "TXT %s: \"%s\" (through CNAME %s)", name,
				shown(b1, sts->text, ""),
				shown(b2, w->txt.canonical, ""));
		else
			check_add(r, CHECK_OK, CHECK_AREA_TXT, "txt-ok", NULL,
				name, "TXT %s: \"%s\"", name,
				shown(b1, sts->text, ""));
	}
	/* A discarded look-alike beside the one valid record only costs
	 * nothing: a warning, as lint says. */
	for (size_t i = 0; i < count; i++) {
		const struct resolve_record *rec = &w->txt.records[i];
		if (txt_is_sts_lookalike(rec->text, rec->len))
			txt_report_discarded(rec->text, rec->len, true, &d, NULL,
				0);
	}
	report_diag(r, &d, CHECK_AREA_TXT, "txt-invalid", "txt-warning", NULL,
		what, false);
	diag_finish(&d);
}

static const char *media_type_ok(const char *content_type)
{
	/* §3.2: "text/plain", parameters ignored, case-insensitive. */
	if (!content_type)
		return NULL;
	const char *s = content_type;
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncasecmp(s, "text/plain", 10) != 0)
		return NULL;
	s += 10;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0' || *s == ';' ? content_type : NULL;
}

/* The certificate problem of the policy host, from the TLS probe. */
static void report_https_cert(struct check_work *w, const char *url)
{
	struct check_domain *r = &w->report;
	const struct probe *p = &w->https_probe;
	const struct tls_probe_result *t = &p->tls;
	const char *host = w->policy_host;
	char b1[SHOWN_MAX];
	if (p->outcome == PROBE_DONE && t->host_mismatch) {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-cert-name",
			RT_WEBPKI, host, "the certificate of %s is for %s", host,
			t->names[0] ? shown(b1, t->names, "") : "no DNS name");
		check_advise(r, "Senders accept only a certificate valid for "
			"%s (RFC 8461 §3.3), so they cannot fetch the policy: "
			"get a certificate that names %s (or *.%s) and serve it "
			"for that SNI name.", host, host, w->name);
	} else if (p->outcome == PROBE_DONE && t->expired) {
		char date[16];
		clock_format_date(t->not_after, date, sizeof(date));
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-cert-expired",
			RT_WEBPKI, host, "the certificate of %s expired on %s",
			host, date);
		check_advise(r, "Senders refuse an expired certificate (RFC "
			"8461 §3.3), so they cannot fetch the policy: renew it "
			"and reload the server (mta-stsd reloads on SIGHUP).");
	} else if (p->outcome == PROBE_DONE && (t->untrusted ||
			t->not_yet_valid)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
			"https-cert-untrusted", RT_WEBPKI, host,
			"the certificate of %s is not trusted", host);
		check_advise(r, "It %s, so senders cannot fetch the policy "
			"(RFC 8461 §3.3): use a certificate from a public CA "
			"and serve the full chain with the intermediates.",
			t->not_yet_valid ? "is not valid yet" :
			"does not chain to a trusted root");
	} else {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-cert-invalid",
			RT_WEBPKI, host, "the certificate of %s does not verify",
			host);
		check_advise(r, "%s: %s — senders cannot fetch the policy "
			"(RFC 8461 §3.3): serve a current certificate for %s "
			"from a public CA with its full chain.", url,
			shown(b1, w->fetch.error, "verification failed"),
			host);
	}
}

/*
 * is_old_tls: the handshake failed on the protocol version, which against
 * our TLS 1.2+ client means the server offers only TLS 1.0 or 1.1 (GnuTLS
 * says "protocol version", OpenSSL "unsupported protocol" or "wrong
 * version number").
 */
static bool is_old_tls(const char *error)
{
	return error && (strstr(error, "protocol version") ||
		strstr(error, "unsupported protocol") ||
		strstr(error, "wrong version number"));
}

static void check_https(struct check_work *w, const struct check_options *o)
{
	struct check_domain *r = &w->report;
	const char *host = w->policy_host;
	char url[DNSNAME_MAX + 64];
	if (o->https_port == 443)
		snprintf(url, sizeof(url), "https://%s" FETCH_PATH, host);
	else
		snprintf(url, sizeof(url), "https://%s:%u" FETCH_PATH, host,
			o->https_port);

	if (w->address_count == 0) {
		if (resolve_answer_failed(&w->host_a) && resolve_answer_failed(&w->host_aaaa)) {
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
				"policy-host-lookup-failed", RT_FETCH, host,
				"policy host %s: %s", host,
				resolve_answer_reason(&w->host_a));
			check_advise(r, "The address lookup failed, so "
				"senders cannot fetch the policy either: "
				"check the zone's name servers.");
		} else {
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
				"policy-host-missing", RT_FETCH, host,
				"policy host %s has no address", host);
			check_advise(r, "Senders fetch the policy from %s "
				"(RFC 8461 §3.3): add an A (and AAAA) record "
				"for %s pointing at the policy server.", url,
				host);
		}
		return;
	}
	const struct fetch_result *f = &w->fetch;
	char b1[SHOWN_MAX];
	switch (f->status) {
	case FETCH_OK:
		break;
	case FETCH_CONNECT:
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-connect",
			RT_FETCH, host, "cannot connect to %s port %u", host,
			o->https_port);
		check_advise(r, "%s — make sure the policy server listens on "
			"port %u of %s and that no firewall blocks it.",
			shown(b1, f->error, "connection failed"), o->https_port,
			w->addresses[0]);
		return;
	case FETCH_TIMEOUT:
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-timeout",
			RT_FETCH, host, "%s did not answer within %u s", url,
			o->timeout_s);
		check_advise(r, "Senders give up after a short time (RFC 8461 "
			"§3.3 suggests one minute): make the policy server "
			"answer quickly and completely.");
		return;
	case FETCH_TLS:
		if (is_old_tls(f->error)) {
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-tls",
				RT_FETCH, host, "%s offers only TLS 1.0 or 1.1; "
				"senders require TLS 1.2 or later", host);
			check_advise(r, "RFC 8461 §7.2 (with RFC 7525) rules "
				"out older versions, so senders cannot fetch the "
				"policy: enable TLS 1.2 and 1.3 on the policy "
				"server (mta-stsd offers only those).");
			return;
		}
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-tls",
			RT_FETCH, host, "TLS with %s failed", host);
		check_advise(r, "%s — senders need TLS 1.2 or 1.3 with SNI %s "
			"(RFC 8461 §7.1, §7.2): serve a certificate for that "
			"name over TLS 1.2 or newer.",
			shown(b1, f->error, "handshake failed"), host);
		return;
	case FETCH_CERT:
		report_https_cert(w, url);
		return;
	case FETCH_TOO_LARGE:
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-too-large",
			RT_FETCH, host, "%s is larger than %u bytes", url,
			FETCH_BODY_LIMIT);
		check_advise(r, "Senders stop reading at 64 KiB (RFC 8461 "
			"§3.3) and treat the fetch as failed: serve only the "
			"policy (version, mode, mx and max_age lines).");
		return;
	case FETCH_ERROR:
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-error",
			RT_FETCH, host, "fetching %s failed", url);
		check_advise(r, "%s — senders cannot fetch the policy either.",
			shown(b1, f->error, "unknown error"));
		return;
	}
	if (f->http_status >= 300 && f->http_status < 400) {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-redirect",
			RT_FETCH, host, "%s redirects (HTTP %ld) to %s", url,
			f->http_status, shown(b1, f->redirect_url,
			"(no Location)"));
		check_advise(r, "Senders never follow redirects (RFC 8461 "
			"§3.3), so they get no policy: serve the policy at this "
			"exact URL with status 200.");
		return;
	}
	if (f->http_status != 200) {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-status",
			RT_FETCH, host, "%s answers HTTP %ld", url,
			f->http_status);
		check_advise(r, "Only status 200 counts (RFC 8461 §3.3): serve "
			"the policy file at " FETCH_PATH " on %s.", host);
		return;
	}
	check_add(r, CHECK_OK, CHECK_AREA_HTTPS, "https-ok", NULL, host,
		"policy fetched from %s (%zu bytes, certificate valid for %s)",
		url, f->body_len, host);
	if (!media_type_ok(f->content_type)) {
		if (f->content_type)
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
				"https-media-type", RT_INVALID, host,
				"the policy is served as \"%s\"",
				shown(b1, f->content_type, ""));
		else
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
				"https-media-type", RT_INVALID, host,
				"the policy is served without a Content-Type");
		check_advise(r, "Senders check the media type and many reject "
			"anything but text/plain (RFC 8461 §3.2): serve the "
			"policy with \"Content-Type: text/plain\".");
	}
}

static void check_policy(struct check_work *w)
{
	struct check_domain *r = &w->report;
	const struct fetch_result *f = &w->fetch;
	if (!w->fetched || f->status != FETCH_OK || f->http_status != 200)
		return;
	struct diag d;
	diag_init(&d);
	char age[64];
	int rc = policy_lint(f->body, f->body_len, NULL, &w->policy, &d);
	if (rc == 0) {
		w->policy_valid = true;
		check_add(r, CHECK_OK, CHECK_AREA_POLICY, "policy-ok", NULL,
			NULL, "policy valid: mode %s, %zu mx pattern%s, max_age "
			"%u (%s)", policy_mode_name(w->policy.mode),
			w->policy.mx_count, w->policy.mx_count == 1 ? "" : "s",
			w->policy.max_age, clock_format_duration(
			w->policy.max_age, age, sizeof(age)));
	}
	report_diag(r, &d, CHECK_AREA_POLICY, "policy-invalid",
		"policy-warning", RT_INVALID, "policy", true);
	diag_finish(&d);
	/* The verdict: a broken media type also spoils a valid body. */
	bool media_ok = media_type_ok(f->content_type) != NULL;
	w->report.enforce = w->policy_valid && media_ok &&
		w->policy.mode == POLICY_MODE_ENFORCE;
}

/* The DNS id against what the policy server or the configuration says. */
static void check_ids(struct check_work *w, const struct check_options *o)
{
	struct check_domain *r = &w->report;
	char name[DNSNAME_MAX + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", w->name);

	if (o->config && !w->configured) {
		check_add(r, CHECK_WARN, CHECK_AREA_CONFIG,
			"config-domain-unknown", NULL, NULL,
			"%s is not configured in %s", w->name, o->config);
		check_advise(r, "Nothing to compare with: check the spelling "
			"of the domain, or leave out -c.");
	}
	if (w->configured && w->fetched && w->fetch.status == FETCH_OK &&
			w->fetch.http_status == 200) {
		if (w->fetch.body_len == w->served_len &&
				memcmp(w->fetch.body, w->served_body,
				w->served_len) == 0) {
			check_add(r, CHECK_OK, CHECK_AREA_CONFIG,
				"config-policy-match", NULL, NULL,
				"the live policy is the one %s configures",
				o->config);
		} else {
			check_add(r, CHECK_FAIL, CHECK_AREA_CONFIG,
				"config-policy-differs", NULL, NULL,
				"the live policy differs from the one %s "
				"configures", o->config);
			check_advise(r, "Either mta-stsd was not reloaded "
				"since the configuration changed, or %s points "
				"at another server: reload mta-stsd (systemctl "
				"reload mta-stsd) and check where %s resolves.",
				w->policy_host, w->policy_host);
		}
	}

	const char *expected = NULL, *source = NULL;
	if (w->expected_id[0]) {
		expected = w->expected_id;
		source = o->config;
	} else if (w->fetch.policy_id && txt_id_is_valid(w->fetch.policy_id) &&
			w->fetch.status == FETCH_OK &&
			w->fetch.http_status == 200) {
		expected = w->fetch.policy_id;
		source = "the policy server";
	}
	if (!expected || !w->dns_id[0])
		return;
	if (strcmp(expected, w->dns_id) == 0) {
		check_add(r, CHECK_OK, CHECK_AREA_CONFIG, "txt-id-current",
			NULL, name, "DNS id %s is the id %s says to publish",
			w->dns_id, source);
		return;
	}
	check_add(r, CHECK_FAIL, CHECK_AREA_CONFIG, "txt-id-stale", NULL, name,
		"DNS id is stale: publish %s. IN TXT \"v=STSv1; id=%s\"", name,
		expected);
	check_advise(r, "DNS has id %s, but the current policy has id %s "
		"(says %s): senders that cached an earlier policy keep it "
		"until the id changes (RFC 8461 §3.1, §8.1).", w->dns_id,
		expected, source);
}

static void check_mx(struct check_work *w)
{
	struct check_domain *r = &w->report;
	if (resolve_answer_failed(&w->mx)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_MX, "mx-lookup-failed", NULL,
			w->name, "MX %s: %s", w->name, resolve_answer_reason(&w->mx));
		check_advise(r, "Without the MX records nothing can be "
			"matched against the policy: check the zone's name "
			"servers.");
		return;
	}
	if (w->null_mx && w->host_count == 0) {
		check_add(r, CHECK_INFO, CHECK_AREA_MX, "mx-null", NULL, w->name,
			"%s has a null MX (RFC 7505): it accepts no mail", w->name);
		return;
	}
	if (w->implicit_mx)
		check_add(r, CHECK_INFO, CHECK_AREA_MX, "mx-implicit", NULL,
			w->name, "%s has no MX record: senders deliver to %s "
			"itself (RFC 5321 §5.1)", w->name, w->name);
	if (!w->policy_valid)
		return;
	const char **names = calloc(w->host_count ? w->host_count : 1,
		sizeof(*names));
	if (!names) {
		r->out_of_memory = true;
		return;
	}
	for (size_t i = 0; i < w->host_count; i++)
		names[i] = w->hosts[i].name;
	assess_mx_coverage(r, &w->policy, names, w->host_count);
	free(names);
}

static void report_probe(struct check_work *w, struct check_mx_host *h,
	const struct check_options *o)
{
	struct check_domain *r = &w->report;
	const struct probe *p = &h->probe;
	const struct tls_probe_result *t = &p->tls;
	const char *host = h->name;
	char b1[SHOWN_MAX];
	const char *loss = w->report.enforce ? "Enforce is on, so senders "
		"refuse to deliver to it now" : "Under enforce senders will "
		"refuse to deliver to it";
	switch (p->outcome) {
	case PROBE_NOT_RUN:
		return;
	case PROBE_CONNECT:
	case PROBE_TIMEOUT:
		check_add(r, CHECK_WARN, CHECK_AREA_SMTP,
			p->outcome == PROBE_CONNECT ? "smtp-connect" :
			"smtp-timeout", NULL, host,
			"MX %s: STARTTLS not verified: no SMTP conversation on "
			"%s port %u", host, p->address, o->smtp_port);
		check_set_unverified(r);
		check_advise(r, "%s. If outgoing port %u is blocked where this "
			"check runs, run it elsewhere or use --no-smtp; "
			"otherwise make sure the MX accepts connections.",
			p->outcome == PROBE_TIMEOUT ? "No answer in time" :
			p->detail, o->smtp_port);
		return;
	case PROBE_PROTOCOL:
		check_add(r, CHECK_WARN, CHECK_AREA_SMTP, "smtp-protocol", NULL,
			host, "MX %s: STARTTLS not verified: unexpected SMTP "
			"dialogue", host);
		check_set_unverified(r);
		check_advise(r, "%s on %s port %u: check the mail server.",
			p->detail, p->address, o->smtp_port);
		return;
	case PROBE_NO_STARTTLS:
		check_add(r, CHECK_FAIL, CHECK_AREA_SMTP,
			"smtp-starttls-missing", RT_STARTTLS, host,
			"MX %s does not offer STARTTLS", host);
		check_advise(r, "%s (RFC 8461 §4.2)%s%s: enable STARTTLS with a "
			"certificate for %s.", loss, p->detail[0] ? "; " : "",
			p->detail, host);
		return;
	case PROBE_TLS_FAILED:
		if (is_old_tls(p->detail)) {
			check_add(r, CHECK_FAIL, CHECK_AREA_SMTP,
				"smtp-tls-failed", RT_VALIDATION, host, "MX %s "
				"offers only TLS 1.0 or 1.1; senders require TLS "
				"1.2 or later", host);
			check_advise(r, "%s (RFC 8461 §4.2): enable TLS 1.2 and "
				"1.3 on the mail server.", loss);
			return;
		}
		check_add(r, CHECK_FAIL, CHECK_AREA_SMTP, "smtp-tls-failed",
			RT_VALIDATION, host, "MX %s: TLS handshake failed", host);
		check_advise(r, "%s. %s (RFC 8461 §4.2): offer TLS 1.2 or 1.3 "
			"with a certificate for %s.", p->detail, loss, host);
		return;
	case PROBE_DONE:
		break;
	}
	if (t->host_mismatch) {
		check_add(r, CHECK_FAIL, CHECK_AREA_SMTP, "smtp-cert-name",
			RT_HOST, host, "MX %s: the certificate is for %s", host,
			t->names[0] ? shown(b1, t->names, "") : "no DNS name");
		check_advise(r, "Senders match the certificate against the MX "
			"host name (RFC 8461 §4.2). %s: get a certificate that "
			"includes %s.", loss, host);
	} else if (t->expired) {
		char date[16];
		clock_format_date(t->not_after, date, sizeof(date));
		check_add(r, CHECK_FAIL, CHECK_AREA_SMTP, "smtp-cert-expired",
			RT_EXPIRED, host, "MX %s: the certificate expired on %s",
			host, date);
		check_advise(r, "%s (RFC 8461 §4.2): renew the certificate of "
			"%s.", loss, host);
	} else if (t->untrusted || t->not_yet_valid) {
		check_add(r, CHECK_FAIL, CHECK_AREA_SMTP, "smtp-cert-untrusted",
			RT_UNTRUSTED, host, "MX %s: the certificate is not trusted",
			host);
		check_advise(r, "It %s. %s (RFC 8461 §4.2): use a certificate "
			"from a public CA and send the full chain.",
			t->not_yet_valid ? "is not valid yet" :
			"does not chain to a trusted root", loss);
	} else if (!t->verified) {
		check_add(r, CHECK_FAIL, CHECK_AREA_SMTP, "smtp-cert-invalid",
			RT_VALIDATION, host, "MX %s: the certificate does not "
			"verify", host);
		check_advise(r, "%s (RFC 8461 §4.2): use a current certificate "
			"for %s from a public CA.", loss, host);
	} else {
		check_add(r, CHECK_OK, CHECK_AREA_SMTP, "smtp-ok", NULL, host,
			"MX %s: STARTTLS, %s, certificate valid for %s", host,
			t->version, host);
	}
}

static void check_smtp(struct check_work *w, const struct check_options *o)
{
	struct check_domain *r = &w->report;
	if (w->null_mx && w->host_count == 0)
		return;
	if (o->no_smtp) {
		if (w->host_count) {
			check_add(r, CHECK_INFO, CHECK_AREA_SMTP, "smtp-skipped",
				NULL, NULL, "STARTTLS of %zu MX host%s not "
				"verified: skipped (--no-smtp)", w->host_count,
				w->host_count == 1 ? "" : "s");
			check_set_unverified(r);
		}
		return;
	}
	for (size_t i = 0; i < w->host_count; i++) {
		struct check_mx_host *h = &w->hosts[i];
		if (h->address_count == 0) {
			if (resolve_answer_failed(&h->a) && resolve_answer_failed(&h->aaaa)) {
				check_add(r, CHECK_WARN, CHECK_AREA_SMTP,
					"mx-lookup-failed", NULL, h->name,
					"MX %s: STARTTLS not verified: address "
					"lookup %s", h->name,
					resolve_answer_reason(&h->a));
				check_set_unverified(r);
				check_advise(r, "The address lookup failed: "
					"check the name servers of %s.",
					h->name);
			} else {
				check_add(r, CHECK_FAIL, CHECK_AREA_SMTP,
					"mx-no-address", NULL, h->name,
					"MX %s has no address", h->name);
				check_advise(r, "Nobody can deliver to it: add "
					"an A (and AAAA) record for %s or "
					"remove the MX record.", h->name);
			}
			continue;
		}
		report_probe(w, h, o);
	}
}

static void check_tlsrpt(struct check_work *w)
{
	struct check_domain *r = &w->report;
	char name[DNSNAME_MAX + 16];
	snprintf(name, sizeof(name), "_smtp._tls.%s", w->name);
	if (resolve_answer_failed(&w->tlsrpt)) {
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-lookup-failed",
			NULL, name, "TXT %s: %s", name, resolve_answer_reason(&w->tlsrpt));
		check_advise(r, "Senders whose lookups fail the same way send "
			"no reports: check the zone's name servers.");
		return;
	}
	const struct resolve_record *rec = NULL;
	size_t n = 0;
	for (size_t i = 0; w->tlsrpt.status == RESOLVE_OK &&
			i < w->tlsrpt.count; i++) {
		const struct resolve_record *x = &w->tlsrpt.records[i];
		if (txt_is_tlsrpt_record(x->text, x->len)) {
			n++;
			rec = x;
		}
	}
	if (n == 0) {
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-missing",
			NULL, name, "no TLS-RPT record at %s", name);
		if (w->tlsrpt_rua)
			check_advise(r, "Without it senders cannot tell you "
				"when TLS to your MX hosts fails (RFC 8460 §3): "
				"publish the record mta-stsd txt prints for "
				"%s (tlsrpt_rua \"%s\").", w->name, w->tlsrpt_rua);
		else
			check_advise(r, "Without it senders cannot tell you "
				"when TLS to your MX hosts fails (RFC 8460 §3): "
				"publish %s. IN TXT \"v=TLSRPTv1; "
				"rua=mailto:tls-reports@%s\" with an address that "
				"reads the reports (or set tlsrpt_rua in "
				"mta-stsd's configuration and publish what mta-stsd "
				"txt prints).", name, w->name);
		return;
	}
	if (n > 1) {
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-multiple",
			NULL, name, "%zu TLS-RPT records at %s", n, name);
		check_advise(r, "Senders use none of them when there is more "
			"than one (RFC 8460 §3): keep exactly one.");
		return;
	}
	struct diag d;
	diag_init(&d);
	char b1[SHOWN_MAX];
	bool nul = memchr(rec->text, '\0', rec->len) != NULL;
	if (!nul && txt_parse_tlsrpt(rec->text, &d, NULL, 0) == 0 &&
			d.warnings == 0) {
		check_add(r, CHECK_OK, CHECK_AREA_TLSRPT, "tlsrpt-ok", NULL,
			name, "TLS-RPT %s: \"%s\"", name,
			shown(b1, rec->text, ""));
	} else if (nul) {
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-invalid",
			NULL, name, "TLS-RPT %s: invalid", name);
		check_advise(r, "The record contains a NUL byte: publish it "
			"in plain ASCII.");
	}
	/* TLS-RPT problems only cost reports, never mail: warnings. */
	for (size_t i = 0; i < d.len; i++) {
		if (d.items[i].severity == DIAG_NOTE)
			continue;
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT,
			d.items[i].severity == DIAG_ERROR ? "tlsrpt-invalid" :
			"tlsrpt-warning", NULL, name, "TLS-RPT %s: %s", name,
			d.items[i].severity == DIAG_ERROR ? "invalid" :
			"works, but could be better");
		check_set_detail(r, d.items[i].code);
		check_advise(r, "%s", d.items[i].message);
	}
	diag_finish(&d);
}

/*
 * A bogus answer (RFC 4035 §5.5) reaches senders behind a validating
 * resolver as SERVFAIL. What that costs depends on the question: the TXT
 * record or the policy host's address means no policy (discovery fails),
 * an MX answer or an MX host's address means no delivery at all.
 */
static void report_bogus(struct check_domain *r, const struct resolve_answer *a,
	const char *what, enum check_area area, const char *cost)
{
	char b1[SHOWN_MAX];
	check_add(r, CHECK_FAIL, area, "dnssec-bogus", NULL, a->name,
		"DNSSEC: the %s answer for %s is bogus", what, a->name);
	check_advise(r, "Validating resolvers answer SERVFAIL for it (%s), so "
		"senders behind them %s: fix the zone's signatures or its DS "
		"record.", shown(b1, a->why_bogus, "no reason given"), cost);
}

static void check_dnssec(struct check_work *w, const struct resolver *resolver,
	const struct check_options *o)
{
	struct check_domain *r = &w->report;
	if (!resolver_validates(resolver)) {
		check_add(r, CHECK_INFO, CHECK_AREA_DNSSEC, "dnssec-off", NULL,
			NULL, "DNSSEC: not validated (%s)", o->anchor_disabled ?
			"--trust-anchor none" : "no trust anchor: install "
			"dns-root-data or give --trust-anchor FILE");
		return;
	}
	static const char no_policy[] = "see no policy";
	static const char no_host[] = "cannot reach the policy host and fetch "
		"no policy";
	static const char no_mail[] = "cannot deliver mail to the domain";
	static const char no_mx[] = "cannot deliver mail to this MX host";
	if (w->txt.dnssec == RESOLVE_DNSSEC_BOGUS)
		report_bogus(r, &w->txt, "TXT", CHECK_AREA_TXT, no_policy);
	if (w->host_a.dnssec == RESOLVE_DNSSEC_BOGUS)
		report_bogus(r, &w->host_a, "A", CHECK_AREA_HTTPS, no_host);
	if (w->host_aaaa.dnssec == RESOLVE_DNSSEC_BOGUS)
		report_bogus(r, &w->host_aaaa, "AAAA", CHECK_AREA_HTTPS, no_host);
	if (w->mx.dnssec == RESOLVE_DNSSEC_BOGUS)
		report_bogus(r, &w->mx, "MX", CHECK_AREA_DNSSEC, no_mail);
	for (size_t i = 0; i < w->host_count; i++) {
		const struct check_mx_host *h = &w->hosts[i];
		if (h->a.dnssec == RESOLVE_DNSSEC_BOGUS)
			report_bogus(r, &h->a, "A", CHECK_AREA_DNSSEC, no_mx);
		if (h->aaaa.dnssec == RESOLVE_DNSSEC_BOGUS)
			report_bogus(r, &h->aaaa, "AAAA", CHECK_AREA_DNSSEC,
				no_mx);
	}
	/* What is signed: the two answers discovery and delivery start from. */
	const struct resolve_answer *answers[] = { &w->txt, &w->mx };
	const char *names[] = { "TXT", "MX" };
	for (size_t i = 0; i < 2; i++) {
		const struct resolve_answer *a = answers[i];
		if (resolve_answer_failed(a) || a->dnssec == RESOLVE_DNSSEC_BOGUS)
			continue;
		check_add(r, CHECK_INFO, CHECK_AREA_DNSSEC,
			a->dnssec == RESOLVE_DNSSEC_SECURE ? "dnssec-signed" :
			"dnssec-unsigned", NULL, a->name, "DNSSEC: %s %s is %s",
			names[i], a->name, resolve_dnssec_text(a->dnssec));
	}
}

void assess_domain(struct check_work *w, const struct resolver *resolver,
	const struct check_options *o)
{
	check_txt(w);
	check_https(w, o);
	check_policy(w);
	check_ids(w, o);
	check_mx(w);
	check_smtp(w, o);
	check_tlsrpt(w);
	check_dnssec(w, resolver, o);
}
