/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/diag.h"
#include "core/txt.h"
#include "util/text.h"

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static bool is_hex(unsigned char c)
{
	return text_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!text_is_digit((unsigned char)*s))
			return false;
	return true;
}

/*
 * show quotes len bytes of s for a message: non-printable bytes become
 * \xNN and long values are cut, because the text may come from DNS.
 */
static const char *show(const char *s, size_t len, char *buf, size_t size)
{
	buf[0] = '"';
	text_escape(buf + 1, size - 2, s, len);
	strcat(buf, "\"");
	return buf;
}

#define SHOW_MAX 100

/* show_char names one byte: "'+'", "a space" or "byte 0x0a". */
static const char *show_char(unsigned char c, char buf[16])
{
	if (c == ' ')
		snprintf(buf, 16, "a space");
	else if (c == '\t')
		snprintf(buf, 16, "a tab");
	else if (c < 0x20 || c > 0x7e)
		snprintf(buf, 16, "byte 0x%02x", c);
	else
		snprintf(buf, 16, "'%c'", c);
	return buf;
}

bool txt_id_is_valid(const char *id)
{
	size_t n = 0;
	for (; id[n]; n++)
		if (n >= TXT_ID_MAX || !text_is_alnum((unsigned char)id[n]))
			return false;
	return n > 0;
}

/* Skips leading zeros so "007" and "7" compare as the same number. */
static const char *strip_zeros(const char *s)
{
	while (s[0] == '0' && s[1] != '\0')
		s++;
	return s;
}

int txt_id_compare(const char *a, const char *b)
{
	if (!all_digits(a) || !all_digits(b))
		return strcmp(a, b);
	a = strip_zeros(a);
	b = strip_zeros(b);
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* increment writes the decimal digits of current + 1 to out, or fails. */
static int increment(const char *current, char out[TXT_ID_MAX + 1])
{
	const char *s = strip_zeros(current);
	size_t n = strlen(s);
	if (n > TXT_ID_MAX)
		return -1;
	memcpy(out, s, n + 1);
	for (size_t i = n; i-- > 0;) {
		if (out[i] != '9') {
			out[i]++;
			return 0;
		}
		out[i] = '0';
	}
	/* Every digit carried: 99 becomes 100. */
	if (n + 1 > TXT_ID_MAX)
		return -1;
	out[0] = '1';
	memset(out + 1, '0', n);
	out[n + 1] = '\0';
	return 0;
}

/*
 * txt_id_bump prefers the UTC timestamp because an admin can read it; it
 * only counts up from current when current is already a number at or past
 * now (a clock set back, or two changes within one second).
 */
int txt_id_bump(const char *current, time_t now, char out[TXT_ID_MAX + 1])
{
	char stamp[TXT_ID_MAX + 1];
	bool have_stamp = false;
	struct tm tm;
	if (gmtime_r(&now, &tm)) {
		long long year = (long long)tm.tm_year + 1900;
		int n = snprintf(stamp, sizeof(stamp), "%04lld%02d%02d%02d%02d%02d",
			year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec);
		have_stamp = year >= 0 && n > 0 && (size_t)n < sizeof(stamp);
	}
	if (current && all_digits(current) &&
		(!have_stamp || txt_id_compare(current, stamp) >= 0))
		return increment(current, out);
	if (!have_stamp)
		return -1;
	memcpy(out, stamp, strlen(stamp) + 1);
	return 0;
}

int txt_sts_value(const char *id, char *out, size_t size)
{
	if (!txt_id_is_valid(id))
		return -1;
	int n = snprintf(out, size, "v=STSv1; id=%s", id);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

char *txt_quote(const char *value)
{
	size_t n = strlen(value);
	/* Worst case: every byte escaped, plus quotes and a space per string. */
	size_t strings = n / TXT_STRING_MAX + 1;
	char *out = malloc(2 * n + 3 * strings + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0, in_string = 0; i < n || o == 0; in_string = 0) {
		if (o)
			out[o++] = ' ';
		out[o++] = '"';
		for (; i < n && in_string < TXT_STRING_MAX; i++, in_string++) {
			if (value[i] == '"' || value[i] == '\\')
				out[o++] = '\\';
			out[o++] = value[i];
		}
		out[o++] = '"';
	}
	out[o] = '\0';
	return out;
}

/*
 * Findings are optional: txt_tlsrpt_value reuses the rua checks with no
 * diag at all, only to refuse rendering an invalid record.
 */
struct report {
	struct diag *d;
	const char *file;
	unsigned line;
	const char *subject;	/* "example.com: " or "" */
	size_t errors;
};

#define REPORT(r, sev, code, ...) do { \
	if ((sev) == DIAG_ERROR) \
		(r)->errors++; \
	if ((r)->d) \
		diag_add((r)->d, (sev), (r)->file, (r)->line, (code), \
			__VA_ARGS__); \
} while (0)

/*
 * check_uri checks one rua URI (RFC 8460 §3): a mailto: or https: URI in
 * which ',', '!' and ';' are percent-encoded, since they separate URIs and
 * fields in the record.
 */
static void check_uri(struct report *r, const char *u, size_t n)
{
	char b1[SHOW_MAX], b2[16];
	const char *colon = memchr(u, ':', n);
	if (!colon) {
		REPORT(r, DIAG_ERROR, "txt-rua-not-uri",
			"%srua %s is not a URI — write mailto:tlsrpt@example.com "
			"or https://reports.example.com/tlsrpt (RFC 8460 §3)",
			r->subject, show(u, n, b1, sizeof(b1)));
		return;
	}
	size_t slen = (size_t)(colon - u);
	bool mailto = slen == 6 && strncasecmp(u, "mailto", 6) == 0;
	bool https = slen == 5 && strncasecmp(u, "https", 5) == 0;
	if (!mailto && !https) {
		bool http = slen == 4 && strncasecmp(u, "http", 4) == 0;
		REPORT(r, DIAG_ERROR, "txt-rua-scheme",
			"%srua %s uses the scheme %.*s: — reports go only to "
			"mailto: or https: URIs (RFC 8460 §3)%s",
			r->subject, show(u, n, b1, sizeof(b1)), (int)slen, u,
			http ? ": write https://" : "");
		return;
	}
	const char *rest = colon + 1;
	size_t rlen = n - slen - 1;
	for (size_t i = 0; i < rlen; i++) {
		unsigned char c = (unsigned char)rest[i];
		if (c == '%') {
			if (i + 2 < rlen &&
				is_hex((unsigned char)rest[i + 1]) &&
				is_hex((unsigned char)rest[i + 2])) {
				i += 2;
				continue;
			}
			REPORT(r, DIAG_ERROR, "txt-rua-percent",
				"%srua %s has a '%%' not followed by two hex "
				"digits — write a literal '%%' as %%25",
				r->subject, show(u, n, b1, sizeof(b1)));
			return;
		}
		if (c == ',' || c == '!' || c == ';') {
			REPORT(r, DIAG_ERROR, "txt-rua-unencoded",
				"%srua %s contains %s, which separates URIs or "
				"fields in the record — percent-encode it "
				"(',' %%2C, '!' %%21, ';' %%3B) as RFC 8460 §3 "
				"requires%s", r->subject,
				show(u, n, b1, sizeof(b1)), show_char(c, b2),
				c == '!' ? "; a DMARC-style size limit such as "
				"!10m is not part of TLS-RPT: drop it" : "");
			return;
		}
		/* RFC 3986 unreserved, the sub-delims left and gen-delims. */
		if (text_is_alnum(c) || strchr("-._~$&'()*+=:@/?#[]", c))
			continue;
		REPORT(r, DIAG_ERROR, "txt-rua-char",
			"%srua %s contains %s, which a URI cannot hold — "
			"percent-encode it (RFC 3986 §2.1)", r->subject,
			show(u, n, b1, sizeof(b1)), show_char(c, b2));
		return;
	}
	if (mailto) {
		/* mailto:local@domain, optionally followed by ?headers. */
		size_t alen = rlen;
		const char *q = memchr(rest, '?', rlen);
		if (q)
			alen = (size_t)(q - rest);
		const char *at = memchr(rest, '@', alen);
		if (!at || at == rest || at == rest + alen - 1) {
			REPORT(r, DIAG_ERROR, "txt-rua-mailto",
				"%srua %s has no mail address — write "
				"mailto:tlsrpt@example.com", r->subject,
				show(u, n, b1, sizeof(b1)));
		}
		return;
	}
	if (rlen < 3 || strncmp(rest, "//", 2) != 0 ||
		strchr("/?#", rest[2])) {
		REPORT(r, DIAG_ERROR, "txt-rua-https",
			"%srua %s has no host — write "
			"https://reports.example.com/tlsrpt", r->subject,
			show(u, n, b1, sizeof(b1)));
	}
}

/*
 * check_rua walks tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri) (RFC 8460 §3).
 * Surrounding whitespace is the caller's business: the record grammar
 * reports it, and a configured value is trimmed when rendered.
 */
static void check_rua(struct report *r, const char *rua, size_t len)
{
	char b1[SHOW_MAX];
	size_t i = 0;
	while (i < len && is_wsp((unsigned char)rua[i]))
		i++;
	while (len > i && is_wsp((unsigned char)rua[len - 1]))
		len--;
	if (i == len) {
		REPORT(r, DIAG_ERROR, "txt-rua-empty",
			"%srua is empty — give at least one mailto: or https: "
			"URI, e.g. rua=mailto:tlsrpt@example.com", r->subject);
		return;
	}
	for (;;) {
		size_t start = i;
		while (i < len && rua[i] != ',' && !is_wsp((unsigned char)rua[i]))
			i++;
		if (i == start) {
			REPORT(r, DIAG_ERROR, "txt-rua-empty-uri",
				"%srua %s has an empty entry — remove the extra "
				"','", r->subject, show(rua, len, b1, sizeof(b1)));
		} else {
			check_uri(r, rua + start, i - start);
		}
		while (i < len && is_wsp((unsigned char)rua[i]))
			i++;
		if (i == len)
			return;
		if (rua[i] == ',') {
			i++;
			while (i < len && is_wsp((unsigned char)rua[i]))
				i++;
			if (i == len) {
				REPORT(r, DIAG_ERROR, "txt-rua-empty-uri",
					"%srua %s ends with ',' — remove it",
					r->subject, show(rua, len, b1, sizeof(b1)));
				return;
			}
			continue;
		}
		REPORT(r, DIAG_ERROR, "txt-rua-separator",
			"%srua %s has a space inside a URI or between URIs "
			"without ',' — separate URIs with ',' and write a space "
			"inside a URI as %%20", r->subject,
			show(rua, len, b1, sizeof(b1)));
	}
}

int txt_check_tlsrpt_rua(const char *rua, const char *subject, struct diag *d,
	const char *file, unsigned line)
{
	char prefix[300] = "";
	if (subject)
		snprintf(prefix, sizeof(prefix), "%s: ", subject);
	struct report r = {
		.d = d, .file = file, .line = line, .subject = prefix,
	};
	check_rua(&r, rua, strlen(rua));
	return r.errors ? -1 : 0;
}

/* txt_tlsrpt_value renders the list canonically: "a,b", no spaces. */
int txt_tlsrpt_value(const char *rua, char *out, size_t size)
{
	struct report r = { .subject = "" };
	size_t len = strlen(rua);
	check_rua(&r, rua, len);
	if (r.errors)
		return -1;
	static const char head[] = "v=TLSRPTv1; rua=";
	size_t o = sizeof(head) - 1;
	if (size <= o)
		return -1;
	memcpy(out, head, o);
	bool first = true;
	for (size_t i = 0; i < len;) {
		while (i < len && (is_wsp((unsigned char)rua[i]) || rua[i] == ','))
			i++;
		size_t start = i;
		while (i < len && rua[i] != ',' && !is_wsp((unsigned char)rua[i]))
			i++;
		size_t n = i - start;
		if (n == 0)
			break;
		if (o + n + (first ? 0 : 1) >= size)
			return -1;
		if (!first)
			out[o++] = ',';
		memcpy(out + o, rua + start, n);
		o += n;
		first = false;
	}
	out[o] = '\0';
	return o > INT32_MAX ? -1 : (int)o;
}

/*
 * The two TXT grammars share their shape (RFC 8461 §3.1, RFC 8460 §3):
 *   record = version 1*(delim field) [delim]
 *   delim  = *WSP ";" *WSP
 *   field  = key "=" value / ext-name "=" ext-value
 * and differ in the version tag and the one required key.
 */
struct grammar {
	const char *version;	/* "v=STSv1" */
	const char *key;	/* the required field */
	const char *sample;	/* a correct record, for fixes */
	bool key_is_list;	/* rua: URIs separated by *WSP "," *WSP */
};

static const struct grammar sts_grammar = {
	.version = "v=STSv1",
	.key = "id",
	.sample = "v=STSv1; id=20260612000000",
};

static const struct grammar tlsrpt_grammar = {
	.version = "v=TLSRPTv1",
	.key = "rua",
	.sample = "v=TLSRPTv1; rua=mailto:tlsrpt@example.com",
	.key_is_list = true,
};

struct parser {
	const struct grammar *g;
	struct report r;
	const char *record;	/* the whole value, for messages */
	bool have_key;
	const char *key_case;	/* the first "ID=" seen, or NULL */
	size_t key_case_len;
	bool key_ok;		/* the first key's value is valid */
	char id[TXT_ID_MAX + 1];
};

/*
 * check_id enforces sts-id = %s"id=" 1*32(ALPHA / DIGIT) (RFC 8461 §3.1).
 * MiaB #1779 is why '+' and '/' get no leniency: base64 ids broke
 * validators in the field.
 */
static bool check_id(struct parser *p, const char *v, size_t n)
{
	char b1[SHOW_MAX], b2[16];
	bool ok = true;
	if (n == 0) {
		REPORT(&p->r, DIAG_ERROR, "txt-id-empty",
			"id is empty — an id is 1 to 32 letters and digits "
			"(RFC 8461 §3.1): write e.g. %s", p->g->sample);
		return false;
	}
	if (n > TXT_ID_MAX) {
		REPORT(&p->r, DIAG_ERROR, "txt-id-too-long",
			"id %s is %zu characters long — at most %d letters and "
			"digits are allowed (RFC 8461 §3.1): use a shorter id, "
			"e.g. a UTC timestamp like 20260612000000",
			show(v, n, b1, sizeof(b1)), n, TXT_ID_MAX);
		ok = false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (text_is_alnum(c))
			continue;
		REPORT(&p->r, DIAG_ERROR, "txt-id-char",
			"id %s contains %s — an id is only letters and digits "
			"(RFC 8461 §3.1), no '-', '.', ':', '+', '/' or '_' "
			"(base64 ids broke validators): use e.g. a UTC "
			"timestamp like 20260612000000",
			show(v, n, b1, sizeof(b1)), show_char(c, b2));
		ok = false;
		break;
	}
	return ok;
}

/*
 * check_extension enforces sts-ext-name = (ALPHA / DIGIT)
 * *31(ALPHA / DIGIT / "_" / "-" / ".") and sts-ext-value =
 * 1*(%x21-3A / %x3C / %x3E-7E) (RFC 8461 §3.1, RFC 8460 §3). A valid
 * unknown field is legal and ignored by senders (§3.2), hence a warning.
 */
static void check_extension(struct parser *p, const char *name, size_t nlen,
	const char *v, size_t vlen)
{
	char b1[SHOW_MAX], b2[16];
	bool ok = true;
	if (nlen > 32) {
		REPORT(&p->r, DIAG_ERROR, "txt-extension-name",
			"field name %s is longer than 32 characters — fix or "
			"remove the field", show(name, nlen, b1, sizeof(b1)));
		ok = false;
	}
	for (size_t i = 0; i < nlen && ok; i++) {
		unsigned char c = (unsigned char)name[i];
		if (text_is_alnum(c) || (i > 0 && strchr("_-.", c)))
			continue;
		REPORT(&p->r, DIAG_ERROR, "txt-extension-name",
			"field name %s contains %s — names are letters, digits, "
			"'_', '-' and '.', starting with a letter or digit: fix "
			"or remove the field", show(name, nlen, b1, sizeof(b1)),
			show_char(c, b2));
		ok = false;
	}
	if (vlen == 0) {
		REPORT(&p->r, DIAG_ERROR, "txt-extension-value",
			"field %s has an empty value — give it a value or remove "
			"it", show(name, nlen, b1, sizeof(b1)));
		ok = false;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 0x21 && c <= 0x7e && c != '=' && c != ';')
			continue;
		REPORT(&p->r, DIAG_ERROR, "txt-extension-value",
			"field %s has %s in its value — values are visible ASCII "
			"without '=' or ';': fix or remove the field",
			show(name, nlen, b1, sizeof(b1)), show_char(c, b2));
		ok = false;
		break;
	}
	/* v follows name, maybe after spaces that were reported already. */
	if (ok)
		REPORT(&p->r, DIAG_WARNING, "txt-extension-unknown",
			"unknown field %s is ignored by senders (RFC 8461 §3.2) "
			"— remove it unless you know a sender that reads it",
			show(name, (size_t)(v + vlen - name), b1, sizeof(b1)));
}

/* parse_field reads one field at *s and leaves *s just after it. */
static void parse_field(struct parser *p, const char **s)
{
	char b1[SHOW_MAX];
	const struct grammar *g = p->g;
	const char *c = *s;
	const char *name = c;
	while (*c && *c != '=' && *c != ';' && !is_wsp((unsigned char)*c))
		c++;
	size_t nlen = (size_t)(c - name);
	const char *after_name = c;
	while (is_wsp((unsigned char)*c))
		c++;
	if (*c != '=') {
		REPORT(&p->r, DIAG_ERROR, "txt-field-no-value",
			"field %s has no '=' — fields are name=value pairs "
			"separated by ';', e.g. %s",
			show(name, nlen, b1, sizeof(b1)), g->sample);
		*s = after_name;
		return;
	}
	bool space = c > after_name;
	c++;
	const char *after_eq = c;
	while (is_wsp((unsigned char)*c))
		c++;
	space = space || c > after_eq;
	if (space)
		REPORT(&p->r, DIAG_ERROR, "txt-space-equals",
			"field %s has spaces around '=' — write name=value with "
			"no spaces, e.g. %s",
			show(name, nlen, b1, sizeof(b1)), g->sample);

	const char *v = c;
	if (g->key_is_list && nlen == strlen(g->key) &&
		memcmp(name, g->key, nlen) == 0) {
		/* A rua list may hold "uri , uri"; trailing WSP is the
		 * delimiter's. */
		while (*c && *c != ';')
			c++;
		while (c > v && is_wsp((unsigned char)c[-1]))
			c--;
	} else {
		while (*c && *c != ';' && !is_wsp((unsigned char)*c))
			c++;
	}
	size_t vlen = (size_t)(c - v);
	*s = c;

	if (nlen == 0) {
		REPORT(&p->r, DIAG_ERROR, "txt-field-no-name",
			"a field has no name before '=' — write name=value, "
			"e.g. %s", g->sample);
		return;
	}
	if (nlen == strlen(g->key) && memcmp(name, g->key, nlen) == 0) {
		if (p->have_key) {
			/* Duplicates are not addressed by the RFC; mox keeps the
			 * first, as §3.2 does for policy fields. */
			REPORT(&p->r, DIAG_WARNING, "txt-duplicate",
				"field %s appears more than once — senders that "
				"accept this use the first one, others may not: "
				"keep exactly one", g->key);
		}
		bool ok;
		if (g->key_is_list) {
			size_t before = p->r.errors;
			check_rua(&p->r, v, vlen);
			ok = p->r.errors == before;
		} else {
			ok = check_id(p, v, vlen);
		}
		if (!p->have_key) {
			p->key_ok = ok;
			if (ok && !g->key_is_list) {
				memcpy(p->id, v, vlen);
				p->id[vlen] = '\0';
			}
		}
		p->have_key = true;
		return;
	}
	if (nlen == strlen(g->key) && strncasecmp(name, g->key, nlen) == 0) {
		/* Judged at the end: beside a real key it is only an
		 * unknown field, without one the record has no key. */
		if (!p->key_case) {
			p->key_case = name;
			p->key_case_len = nlen;
		}
		return;
	}
	check_extension(p, name, nlen, v, vlen);
}

/*
 * parse_version checks that the record begins with the version tag and
 * sets *s past it. Near misses that still show where the tag ends (case,
 * spaces) are reported and parsing goes on; anything else ends it.
 */
static bool parse_version(struct parser *p, const char **s)
{
	char b1[SHOW_MAX];
	const struct grammar *g = p->g;
	const char *c = *s;
	size_t vlen = strlen(g->version);
	if (strncmp(c, g->version, vlen) == 0) {
		*s = c + vlen;
		return true;
	}
	const char *tag = g->version + 2;	/* "STSv1" */
	size_t tlen = vlen - 2;
	while (is_wsp((unsigned char)*c))
		c++;
	bool leading = c > *s;
	if (*c != 'v' && *c != 'V')
		goto wrong;
	const char *eq = c + 1;
	while (is_wsp((unsigned char)*eq))
		eq++;
	if (*eq != '=')
		goto wrong;
	const char *t = eq + 1;
	while (is_wsp((unsigned char)*t))
		t++;
	if (strncasecmp(t, tag, tlen) != 0)
		goto wrong;
	const char *end = t + tlen;
	if (leading)
		REPORT(&p->r, DIAG_ERROR, "txt-version",
			"the record starts with whitespace — it must begin with "
			"exactly %s, e.g. %s", g->version, g->sample);
	if (eq > c + 1 || t > eq + 1)
		REPORT(&p->r, DIAG_ERROR, "txt-space-equals",
			"the version tag %s has spaces around '=' — write %s",
			show(c, (size_t)(end - c), b1, sizeof(b1)), g->version);
	else if (strncmp(c, g->version, vlen) != 0)
		REPORT(&p->r, DIAG_ERROR, "txt-version",
			"the version tag %s is not %s — the tag is "
			"case-sensitive: write %s",
			show(c, (size_t)(end - c), b1, sizeof(b1)), g->version,
			g->version);
	*s = end;
	return true;
wrong:
	REPORT(&p->r, DIAG_ERROR, "txt-version",
		"the record %s does not begin with %s — write e.g. %s",
		show(p->record, strlen(p->record), b1, sizeof(b1)), g->version,
		g->sample);
	return false;
}

/*
 * parse_record runs the shared grammar over s. Whitespace is checked
 * stricter than the ABNF where senders disagree: Errata 6285 notes that
 * "v=STSv1 ;" passes the grammar yet fails the "v=STSv1;" record filter.
 */
static void parse_record(struct parser *p, const char *s)
{
	char b1[SHOW_MAX];
	const struct grammar *g = p->g;
	const char *c = s;
	if (!parse_version(p, &c))
		return;
	if (*c && *c != ';' && !is_wsp((unsigned char)*c)) {
		REPORT(&p->r, DIAG_ERROR, "txt-version",
			"the record %s does not continue with ';' after %s — "
			"write e.g. %s", show(s, strlen(s), b1, sizeof(b1)),
			g->version, g->sample);
		return;
	}
	bool after_version = true;
	while (*c) {
		const char *w = c;
		while (is_wsp((unsigned char)*c))
			c++;
		if (!*c) {
			REPORT(&p->r, DIAG_ERROR, "txt-trailing-space",
				"the record ends in whitespace — the grammar "
				"allows it only before a final ';' and strict "
				"senders discard the record: remove it");
			break;
		}
		if (*c != ';') {
			/* Recover by reading on as if the space were the ';'. */
			REPORT(&p->r, DIAG_ERROR, "txt-delimiter",
				"%s is separated from the previous field by a "
				"space — separate fields with ';', e.g. %s",
				show(c, strcspn(c, "; \t"), b1, sizeof(b1)),
				g->sample);
		} else {
			if (c > w)
				REPORT(&p->r, DIAG_WARNING, "txt-space-semicolon",
					"whitespace before ';'%s — some senders "
					"do not treat \"%s ;\" as a %s record "
					"(Errata 6285): write \"; \" with no space "
					"before the ';'",
					after_version ? " after the version" : "",
					g->version, g->version);
			c++;
			w = c;
			while (is_wsp((unsigned char)*c))
				c++;
			if (c - w > 1 || (c - w == 1 && *w == '\t'))
				REPORT(&p->r, DIAG_WARNING, "txt-extra-space",
					"more than one space after ';' — use "
					"exactly one space, e.g. %s", g->sample);
			if (!*c)
				break;
			if (*c == ';') {
				REPORT(&p->r, DIAG_ERROR, "txt-empty-field",
					"empty field between two ';' — remove "
					"the extra ';'");
				continue;
			}
		}
		after_version = false;
		parse_field(p, &c);
	}
	const char *rfc = g == &sts_grammar ? "RFC 8461 §3.1" : "RFC 8460 §3";
	if (p->key_case)
		REPORT(&p->r, p->have_key ? DIAG_WARNING : DIAG_ERROR,
			"txt-key-case", "field %s is not \"%s\" — field names "
			"are case-sensitive (%s)%s: write %s=",
			show(p->key_case, p->key_case_len, b1, sizeof(b1)),
			g->key, rfc, p->have_key ? " and senders ignore it" :
			"", g->key);
	else if (!p->have_key)
		REPORT(&p->r, DIAG_ERROR, "txt-key-missing",
			"the record has no %s= field — it is required (%s): "
			"write e.g. %s", g->key, rfc, g->sample);
}

int txt_parse_sts(const char *value, struct txt_sts *out, struct diag *d,
	const char *file, unsigned line)
{
	struct parser p = {
		.g = &sts_grammar,
		.r = { .d = d, .file = file, .line = line, .subject = "" },
		.record = value,
	};
	parse_record(&p, value);
	if (p.r.errors || !p.have_key || !p.key_ok)
		return -1;
	if (out)
		memcpy(out->id, p.id, sizeof(out->id));
	return 0;
}

int txt_parse_tlsrpt(const char *value, struct diag *d, const char *file,
	unsigned line)
{
	struct parser p = {
		.g = &tlsrpt_grammar,
		.r = { .d = d, .file = file, .line = line, .subject = "" },
		.record = value,
	};
	parse_record(&p, value);
	return p.r.errors || !p.have_key ? -1 : 0;
}

/*
 * unquote turns one line of `dig +short` output into the record text:
 * either the raw line, or "a" "b" strings joined without spaces (RFC 8461
 * §3.1) with the RFC 1035 §5.1 escapes \X and \DDD decoded. out has room
 * for n bytes. Returns the length, or -1 after reporting the error.
 */
static long unquote(const char *s, size_t n, char *out, struct report *r)
{
	size_t o = 0, i = 0;
	if (s[0] != '"') {
		memcpy(out, s, n);
		return (long)n;
	}
	while (i < n) {
		if (s[i] != '"') {
			REPORT(r, DIAG_ERROR, "txt-answer-syntax",
				"text after a quoted string — quote every part "
				"of the record, e.g. \"v=STSv1; \" \"id=1\"");
			return -1;
		}
		i++;
		for (;;) {
			if (i >= n) {
				REPORT(r, DIAG_ERROR, "txt-answer-quote",
					"unterminated quote — close the string "
					"with '\"' (write a quote inside as \\\")");
				return -1;
			}
			char c = s[i++];
			if (c == '"')
				break;
			if (c != '\\') {
				out[o++] = c;
				continue;
			}
			if (i >= n) {
				REPORT(r, DIAG_ERROR, "txt-answer-quote",
					"unterminated quote after '\\' — close "
					"the string with '\"'");
				return -1;
			}
			if (!text_is_digit((unsigned char)s[i])) {
				out[o++] = s[i++];
				continue;
			}
			if (i + 3 > n || !text_is_digit((unsigned char)s[i + 1]) ||
				!text_is_digit((unsigned char)s[i + 2]) ||
				(s[i] - '0') * 100 + (s[i + 1] - '0') * 10 +
				(s[i + 2] - '0') > 255) {
				/* at most the 3 bytes left before n */
				REPORT(r, DIAG_ERROR, "txt-answer-escape",
					"bad escape \\%.*s — a decimal escape "
					"is \\DDD with DDD from 000 to 255",
					(int)(n - i < 3 ? n - i : 3), s + i);
				return -1;
			}
			out[o++] = (char)((s[i] - '0') * 100 +
				(s[i + 1] - '0') * 10 + (s[i + 2] - '0'));
			i += 3;
		}
		while (i < n && is_wsp((unsigned char)s[i]))
			i++;
	}
	return (long)o;
}

/* A bare host name ending in '.', as dig prints a CNAME it followed. */
static bool is_cname_line(const char *s, size_t n)
{
	if (n < 2 || s[n - 1] != '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!text_is_alnum(c) && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}

/*
 * is_sts_lookalike: "V=STSv1;", " v=STSv1;" or "v = STSv1" were surely
 * meant as the STS record, yet the case-sensitive §3.1 filter drops them.
 */
static bool is_sts_lookalike(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && is_wsp((unsigned char)s[i]))
		i++;
	if (i >= n || (s[i] != 'v' && s[i] != 'V'))
		return false;
	i++;
	while (i < n && is_wsp((unsigned char)s[i]))
		i++;
	if (i >= n || s[i] != '=')
		return false;
	i++;
	while (i < n && is_wsp((unsigned char)s[i]))
		i++;
	return n - i >= 5 && strncasecmp(s + i, "STSv1", 5) == 0;
}

bool txt_is_sts_record(const char *text, size_t len)
{
	/* §3.1: "Records that do not begin with "v=STSv1;" are discarded." */
	return len >= 8 && memcmp(text, "v=STSv1;", 8) == 0;
}

bool txt_is_sts_lookalike(const char *text, size_t len)
{
	return !txt_is_sts_record(text, len) && is_sts_lookalike(text, len);
}

void txt_report_discarded(const char *rec, size_t n, bool beside_valid,
	struct diag *d, const char *file, unsigned line)
{
	char b1[SHOW_MAX];
	size_t v = strspn(rec, " \t");
	bool semi_after_space = n > 7 && memcmp(rec, "v=STSv1", 7) == 0;
	diag_add(d, beside_valid ? DIAG_WARNING : DIAG_ERROR, file, line,
		"txt-answer-discarded",
		"the record %s does not begin with exactly \"v=STSv1;\"%s "
		"— senders discard it (RFC 8461 §3.1%s)%s: write "
		"\"v=STSv1; id=...\"%s", show(rec, n, b1, sizeof(b1)),
		semi_after_space ? " (whitespace before ';' or no ';')" :
		v ? " (leading whitespace)" : " (the tag is "
		"case-sensitive and takes no spaces)",
		semi_after_space ? ", Errata 6285" : "",
		beside_valid ? " and use the other one" : "",
		beside_valid ? ", or delete it" : "");
}

/* One record of the input, its text unquoted, with its owner name. */
struct answer_record {
	const char *owner;	/* in the input; "" for `dig +short` lines */
	size_t owner_len;	/* without a trailing dot */
	const char *text;	/* unquoted, NUL-terminated (may hold NUL) */
	size_t len;
	unsigned line;
};

static int compare_owner(const struct answer_record *a,
	const struct answer_record *b)
{
	size_t n = a->owner_len < b->owner_len ? a->owner_len : b->owner_len;
	for (size_t i = 0; i < n; i++) {
		char x = text_lower(a->owner[i]), y = text_lower(b->owner[i]);
		if (x != y)
			return (unsigned char)x < (unsigned char)y ? -1 : 1;
	}
	return a->owner_len < b->owner_len ? -1 : a->owner_len > b->owner_len;
}

/* Owner name first, then input order: each name's records together. */
static int compare_record(const void *x, const void *y)
{
	const struct answer_record *a = x, *b = y;
	int c = compare_owner(a, b);
	if (c)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

bool txt_is_tlsrpt_record(const char *text, size_t len)
{
	return len >= 10 && memcmp(text, "v=TLSRPTv1", 10) == 0;
}

struct lint {
	const char *file;
	struct diag *d;
	char where[300];	/* "_mta-sts.example.com: " or "" */
};

/*
 * lint_record classifies one record, as a sender filtering by prefix.
 * beside_valid: its name has exactly one valid STS record, so a discarded
 * look-alike costs nothing and is only a warning.
 */
static void lint_record(struct lint *l, const char *rec, size_t n,
	unsigned line, bool beside_valid)
{
	char b1[SHOW_MAX];
	struct report r = { .d = l->d, .file = l->file, .line = line };
	bool sts = txt_is_sts_record(rec, n);
	bool tlsrpt = txt_is_tlsrpt_record(rec, n);
	bool nul = memchr(rec, '\0', n) != NULL;
	if (nul && (sts || tlsrpt)) {
		REPORT(&r, DIAG_ERROR, "txt-answer-nul",
			"the record %s contains a NUL byte — senders reject it: "
			"publish it again without \\000",
			show(rec, n, b1, sizeof(b1)));
		return;
	}
	if (sts) {
		txt_parse_sts(rec, NULL, l->d, l->file, line);
		return;
	}
	if (tlsrpt) {
		txt_parse_tlsrpt(rec, l->d, l->file, line);
		return;
	}
	if (is_sts_lookalike(rec, n)) {
		txt_report_discarded(rec, n, beside_valid, l->d, l->file, line);
		return;
	}
	if (!nul && is_cname_line(rec, n)) {
		REPORT(&r, DIAG_NOTE, "txt-answer-cname",
			"_mta-sts is an alias of %s — senders follow the CNAME "
			"(RFC 8461 §3.1, §8.2) and read the TXT records there",
			show(rec, n, b1, sizeof(b1)));
		return;
	}
	REPORT(&r, DIAG_NOTE, "txt-answer-ignored",
		"the record %s does not begin with \"v=STSv1;\" — senders "
		"ignore it (RFC 8461 §3.1), but some checkers and libraries "
		"object to other TXT records at _mta-sts: remove it if nothing "
		"needs it", show(rec, n, b1, sizeof(b1)));
}

/*
 * lint_name judges the records of one owner name on their own, as a sender
 * judges one lookup: a name under _smtp._tls must have exactly one TLS-RPT
 * record (RFC 8460 §3), any other exactly one STS record (RFC 8461 §3.1).
 * Lines without an owner (`dig +short`) form one name.
 */
static void lint_name(struct lint *l, const struct answer_record *recs,
	size_t count)
{
	const struct answer_record *first = &recs[0];
	size_t sts = 0, tlsrpt = 0;
	unsigned second_sts = 0, second_tlsrpt = 0;
	for (size_t i = 0; i < count; i++) {
		if (txt_is_sts_record(recs[i].text, recs[i].len) &&
				++sts == 2)
			second_sts = recs[i].line;
		if (txt_is_tlsrpt_record(recs[i].text, recs[i].len) && ++tlsrpt == 2)
			second_tlsrpt = recs[i].line;
	}
	bool tlsrpt_name = first->owner_len >= 11 &&
		strncasecmp(first->owner, "_smtp._tls.", 11) == 0;
	l->where[0] = '\0';
	if (first->owner_len)
		snprintf(l->where, sizeof(l->where), "%.*s: ",
			(int)(first->owner_len > 253 ? 253 : first->owner_len),
			first->owner);
	for (size_t i = 0; i < count; i++)
		lint_record(l, recs[i].text, recs[i].len, recs[i].line,
			sts == 1);
	/* A named group's summary finding goes on its first line. */
	unsigned at = first->owner_len ? first->line : 0;
	if (tlsrpt_name) {
		if (tlsrpt == 0)
			diag_add(l->d, DIAG_ERROR, l->file, at,
				"txt-answer-no-tlsrpt", "%sno v=TLSRPTv1 record — "
				"senders send no TLS reports: publish "
				"_smtp._tls.<domain> TXT \"v=TLSRPTv1; rua=...\"",
				l->where);
		else if (tlsrpt > 1)
			diag_add(l->d, DIAG_ERROR, l->file, second_tlsrpt,
				"txt-answer-many-tlsrpt", "%s%zu v=TLSRPTv1 "
				"records — senders use none of them (RFC 8460 "
				"§3): keep exactly one", l->where, tlsrpt);
		return;
	}
	if (sts == 0)
		diag_add(l->d, DIAG_ERROR, l->file, at, "txt-answer-no-sts",
			"%sno v=STSv1 record — senders will not look for a "
			"policy: publish _mta-sts.<domain> TXT \"v=STSv1; "
			"id=...\"", l->where);
	else if (sts > 1)
		diag_add(l->d, DIAG_ERROR, l->file, second_sts,
			"txt-answer-many-sts",
			"%s%zu v=STSv1 records — senders treat the domain as "
			"having no policy (§3.1): keep exactly one", l->where,
			sts);
}

/*
 * zone_rdata finds the data of a zone-file or `dig` answer line such as
 * "_mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=1\"": the owner, an
 * optional TTL and class, then TXT. It returns where the data starts, or
 * NULL when the line is not one (it then is the data itself).
 */
static const char *zone_rdata(const char *s, size_t n)
{
	if (n == 0 || *s == '"')
		return NULL;
	const char *end = s + n;
	const char *p = s;
	/* Up to four tokens before the data: owner, TTL, class, type. */
	for (int token = 0; token < 4 && p < end; token++) {
		const char *start = p;
		while (p < end && !is_wsp((unsigned char)*p))
			p++;
		size_t len = (size_t)(p - start);
		while (p < end && is_wsp((unsigned char)*p))
			p++;
		if (token > 0 && len == 3 && strncasecmp(start, "TXT", 3) == 0)
			return p < end ? p : NULL;
	}
	return NULL;
}

/*
 * txt_lint_answer reads line by line; leading and trailing whitespace of a
 * line is layout, not record text (dig prints none, pasted text often
 * has some). Records are then sorted by owner name (n log n, as the input
 * may be 16 MiB) and each name judged on its own.
 */
int txt_lint_answer(const char *text, size_t len, const char *file,
	struct diag *d)
{
	struct lint l = { .file = file, .d = d };
	size_t errors = d->errors;
	/* Unquoted text never grows: len bytes plus one NUL per line. */
	size_t lines = 1;
	for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p -
			text))) != NULL; p++)
		lines++;
	char *buf = malloc(len + lines);
	struct answer_record *recs = calloc(lines, sizeof(*recs));
	if (!buf || !recs) {
		free(buf);
		free(recs);
		diag_add(d, DIAG_ERROR, file, 0, "txt-answer-memory",
			"out of memory reading the TXT answer — try again");
		return -1;
	}
	size_t used = 0, count = 0;
	unsigned line = 0;
	for (size_t i = 0; i < len;) {
		line++;
		const char *s = text + i;
		const char *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		i += n + (nl ? 1 : 0);
		while (n > 0 && (is_wsp((unsigned char)s[n - 1]) ||
			s[n - 1] == '\r'))
			n--;
		while (n > 0 && is_wsp((unsigned char)*s)) {
			s++;
			n--;
		}
		if (n == 0 || *s == ';')
			continue;	/* blank, or a zone-file comment */
		/* Pasted zone-file lines (`mta-stsd txt`, full `dig` output)
		 * are read for their data, as `dig +short` would print it,
		 * and grouped by their owner name. */
		const char *owner = "";
		size_t owner_len = 0;
		const char *rdata = zone_rdata(s, n);
		if (rdata) {
			owner = s;
			while (owner_len < n && !is_wsp((unsigned char)s[owner_len]))
				owner_len++;
			if (owner_len > 1 && owner[owner_len - 1] == '.')
				owner_len--;
			n -= (size_t)(rdata - s);
			s = rdata;
		}
		struct report r = { .d = d, .file = file, .line = line };
		long rn = unquote(s, n, buf + used, &r);
		if (rn <= 0)
			continue;	/* reported, or "" (an empty string) */
		buf[used + (size_t)rn] = '\0';
		recs[count++] = (struct answer_record){
			.owner = owner, .owner_len = owner_len,
			.text = buf + used, .len = (size_t)rn, .line = line,
		};
		used += (size_t)rn + 1;
	}
	qsort(recs, count, sizeof(*recs), compare_record);
	for (size_t i = 0; i < count;) {
		size_t j = i + 1;
		while (j < count && compare_owner(&recs[i], &recs[j]) == 0)
			j++;
		lint_name(&l, recs + i, j - i);
		i = j;
	}
	if (count == 0)
		diag_add(d, DIAG_ERROR, file, 0, "txt-answer-no-sts",
			"no v=STSv1 record — senders will not look for a policy: "
			"publish _mta-sts.<domain> TXT \"v=STSv1; id=...\"");
	free(recs);
	free(buf);
	return d->errors > errors ? -1 : 0;
}
