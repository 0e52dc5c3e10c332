/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/diag.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "util/text.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Room for an escaped, shortened value in a message. */
#define ESC_SIZE 160

/*
 * esc writes a printable rendering of len bytes of s to buf: printable
 * ASCII as is, '"' and '\' escaped, everything else as \xNN, cut after
 * about 100 bytes. Values come from files and the network and end up on
 * a terminal.
 */
static const char *esc(char *buf, const char *s, size_t len)
{
	return text_escape(buf, ESC_SIZE, s, len);
}

static const char *escs(char *buf, const char *s)
{
	return esc(buf, s, strlen(s));
}

void policy_init(struct policy *policy)
{
	*policy = (struct policy){0};
}

void policy_finish(struct policy *policy)
{
	if (!policy)
		return;
	for (size_t i = 0; i < policy->mx_count; i++)
		free(policy->mx[i]);
	free(policy->mx);
	*policy = (struct policy){0};
}

int policy_copy(struct policy *dst, const struct policy *src)
{
	struct policy tmp = {
		.mode = src->mode,
		.max_age = src->max_age,
	};
	for (size_t i = 0; i < src->mx_count; i++) {
		if (policy_add_mx(&tmp, src->mx[i]) < 0) {
			policy_finish(&tmp);
			return -1;
		}
	}
	policy_finish(dst);
	*dst = tmp;
	return 0;
}

int policy_add_mx(struct policy *policy, const char *pattern)
{
	size_t n = strlen(pattern);
	if (n > 1 && pattern[n - 1] == '.')
		n--;
	char *copy = malloc(n + 1);
	if (!copy)
		return -1;
	for (size_t i = 0; i < n; i++)
		copy[i] = text_lower(pattern[i]);
	copy[n] = '\0';

	char **mx = realloc(policy->mx, (policy->mx_count + 1) * sizeof(*mx));
	if (!mx) {
		free(copy);
		return -1;
	}
	mx[policy->mx_count++] = copy;
	policy->mx = mx;
	return 0;
}

/*
 * mx_index finds repeated mx patterns in linear time (lint takes up to
 * 16 MiB, millions of lines): an open-addressing hash table of positions
 * in an mx array, keyed the way dnsname_equal compares (ASCII case and one
 * trailing dot ignored). Zero-initialise; mx_index_finish frees.
 */
struct mx_index {
	size_t *slots;	/* position + 1; 0 is empty */
	size_t cap;	/* a power of two, or 0 */
	size_t len;
};

static size_t name_hash(const char *s)
{
	size_t n = strlen(s);
	if (n > 1 && s[n - 1] == '.')
		n--;
	uint64_t h = 14695981039346656037u;	/* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)text_lower(s[i]);
		h *= 1099511628211u;
	}
	return (size_t)h;
}

/* The position of a pattern equal to name in mx, or SIZE_MAX. */
static size_t mx_index_find(const struct mx_index *x, char *const *mx,
	const char *name)
{
	if (x->cap == 0)
		return SIZE_MAX;
	for (size_t i = name_hash(name) & (x->cap - 1); x->slots[i];
			i = (i + 1) & (x->cap - 1)) {
		if (dnsname_equal(mx[x->slots[i] - 1], name))
			return x->slots[i] - 1;
	}
	return SIZE_MAX;
}

static void mx_index_put(struct mx_index *x, char *const *mx, size_t pos)
{
	size_t i = name_hash(mx[pos]) & (x->cap - 1);
	while (x->slots[i])
		i = (i + 1) & (x->cap - 1);
	x->slots[i] = pos + 1;
	x->len++;
}

/* Adds mx[pos] (not yet in the index). 0, or -1 when out of memory. */
static int mx_index_add(struct mx_index *x, char *const *mx, size_t pos)
{
	if ((x->len + 1) * 2 > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		size_t *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -1;
		size_t *old = x->slots, old_cap = x->cap;
		*x = (struct mx_index){ .slots = slots, .cap = cap };
		for (size_t i = 0; i < old_cap; i++)
			if (old[i])
				mx_index_put(x, mx, old[i] - 1);
		free(old);
	}
	mx_index_put(x, mx, pos);
	return 0;
}

static void mx_index_finish(struct mx_index *x)
{
	free(x->slots);
	*x = (struct mx_index){0};
}

static const char *const mode_names[] = {
	[POLICY_MODE_ENFORCE] = "enforce",
	[POLICY_MODE_TESTING] = "testing",
	[POLICY_MODE_NONE] = "none",
};

const char *policy_mode_name(enum policy_mode mode)
{
	if ((size_t)mode >= ARRAY_LEN(mode_names))
		return "?";
	return mode_names[mode];
}

bool policy_mode_parse(const char *text, enum policy_mode *mode)
{
	for (size_t i = 0; i < ARRAY_LEN(mode_names); i++) {
		if (strcmp(text, mode_names[i]) == 0) {
			*mode = (enum policy_mode)i;
			return true;
		}
	}
	return false;
}

/* Digits in the decimal form of v. */
static size_t digits(uint64_t v)
{
	size_t n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Exact length of policy_render's output, without building it. */
static uint64_t rendered_len(const struct policy *policy)
{
	uint64_t n = strlen("version: STSv1\r\n") + strlen("mode: \r\n") +
		strlen(policy_mode_name(policy->mode)) +
		strlen("max_age: \r\n") + digits(policy->max_age);
	for (size_t i = 0; i < policy->mx_count; i++)
		n += strlen("mx: \r\n") + strlen(policy->mx[i]);
	return n;
}

char *policy_render(const struct policy *policy, size_t *len)
{
	uint64_t total = rendered_len(policy);
	if (total >= SIZE_MAX)
		return NULL;
	char *buf = malloc((size_t)total + 1);
	if (!buf)
		return NULL;

	/* version first: any order is legal, but Google asks for it. */
	size_t o = 0;
	size_t room = (size_t)total + 1;
	o += (size_t)snprintf(buf + o, room - o, "version: STSv1\r\nmode: %s\r\n",
		policy_mode_name(policy->mode));
	for (size_t i = 0; i < policy->mx_count; i++)
		o += (size_t)snprintf(buf + o, room - o, "mx: %s\r\n",
			policy->mx[i]);
	o += (size_t)snprintf(buf + o, room - o, "max_age: %u\r\n",
		(unsigned)policy->max_age);
	if (len)
		*len = o;
	return buf;
}

bool policy_mx_matches(const struct policy *policy, const char *host)
{
	for (size_t i = 0; i < policy->mx_count; i++) {
		if (dnsname_matches(policy->mx[i], host))
			return true;
	}
	return false;
}

/* Stable diagnostic codes, one per dnsname problem, for mx values. */
static const char *mx_code(enum dnsname_problem p)
{
	switch (p) {
	case DNSNAME_OK:
		return "mx-ok";
	case DNSNAME_EMPTY:
		return "mx-empty";
	case DNSNAME_TRAILING_DOT:
		return "mx-trailing-dot";
	case DNSNAME_EMPTY_LABEL:
		return "mx-empty-label";
	case DNSNAME_ADDRESS_LITERAL:
		return "mx-address-literal";
	case DNSNAME_IPV4:
		return "mx-ipv4";
	case DNSNAME_PORT:
		return "mx-port";
	case DNSNAME_UNDERSCORE:
		return "mx-underscore";
	case DNSNAME_ULABEL:
		return "mx-ulabel";
	case DNSNAME_BAD_CHAR:
		return "mx-bad-char";
	case DNSNAME_HYPHEN_EDGE:
		return "mx-hyphen-edge";
	case DNSNAME_LABEL_TOO_LONG:
		return "mx-label-too-long";
	case DNSNAME_TOO_LONG:
		return "mx-too-long";
	case DNSNAME_SINGLE_LABEL:
		return "mx-single-label";
	case DNSNAME_BAD_WILDCARD:
		return "mx-bad-wildcard";
	}
	return "mx-invalid";
}

/*
 * suggest_mx writes a corrected pattern to out when the fix is mechanical
 * (a trailing dot, a port) and the result is valid; otherwise "".
 */
static void suggest_mx(const char *value, enum dnsname_problem p, char *out,
	size_t size)
{
	out[0] = '\0';
	size_t n = strlen(value);
	if (p == DNSNAME_TRAILING_DOT)
		n--;
	else if (p == DNSNAME_PORT)
		n = (size_t)(strchr(value, ':') - value);
	else
		return;
	if (n == 0 || n >= size)
		return;
	for (size_t i = 0; i < n; i++)
		out[i] = text_lower(value[i]);
	out[n] = '\0';
	if (dnsname_check(out, true) != DNSNAME_OK)
		out[0] = '\0';
}

/*
 * mx_problem adds the error for an invalid mx value, naming the value and
 * saying how to fix it; prefix is "example.com: " or "".
 */
static void mx_problem(struct diag *d, const char *file, unsigned line,
	const char *prefix, const char *value, enum dnsname_problem p)
{
	char e[ESC_SIZE];
	char fixed[DNSNAME_MAX + 1];
	suggest_mx(value, p, fixed, sizeof(fixed));
	const char *why = "";
	if (p == DNSNAME_IPV4 || p == DNSNAME_ADDRESS_LITERAL)
		why = " (senders then look for the address in the MX "
		      "certificate, which it rarely has)";
	diag_add(d, DIAG_ERROR, file, line, mx_code(p),
		"%smx \"%s\" %s%s — %s%s%s", prefix, escs(e, value),
		dnsname_problem_text(p), why, dnsname_problem_fix(p),
		fixed[0] ? ": mx: " : "", fixed);
}

static void shallow_warning(struct diag *d, const char *file, unsigned line,
	const char *prefix, const char *value)
{
	char e[ESC_SIZE];
	diag_add(d, DIAG_WARNING, file, line, "mx-shallow-wildcard",
		"%smx \"%s\" covers every host directly under %s: any of them "
		"with a valid certificate could pose as your MX (RFC 8461 "
		"§10.4) — list the MX host names, or put the MX hosts under a "
		"dedicated subdomain such as *.mx.example.com",
		prefix, escs(e, value), escs(e, value) + 2);
}

/*
 * policy_validate checks a policy built from configuration. Patterns are
 * already lower-case without a trailing dot (policy_add_mx), so only
 * syntax, counts, bounds and the conservative profile are left to check.
 */
int policy_validate(const struct policy *policy, const char *subject,
	struct diag *d, const char *file, unsigned line)
{
	size_t errors = d->errors;
	char e[ESC_SIZE];
	char prefix[ESC_SIZE + 2];
	snprintf(prefix, sizeof(prefix), "%s: ", escs(e, subject ? subject : "policy"));

	/* RFC 8461 §3.2: max_age "maximum value of 31557600". */
	if (policy->max_age > POLICY_MAX_AGE_LIMIT) {
		diag_add(d, DIAG_ERROR, file, line, "max-age-range",
			"%smax_age %u is above the RFC 8461 limit of 31557600 "
			"(one year) — set max_age to at most 31557600, "
			"e.g. 1209600 (two weeks)",
			prefix, (unsigned)policy->max_age);
	}

	/*
	 * RFC 8461 §3.2 only needs mx outside mode none, but Stalwart
	 * rejects an mx-less policy, so the conservative profile always
	 * has one.
	 */
	if (policy->mx_count == 0) {
		if (policy->mode == POLICY_MODE_NONE)
			diag_add(d, DIAG_ERROR, file, line, "mx-missing",
				"%sthe policy has no mx — the RFC allows an "
				"mx-less `mode: none` policy, but some senders "
				"(Stalwart) reject policies without mx; list "
				"your MX host names in mx even in mode none",
				prefix);
		else
			diag_add(d, DIAG_ERROR, file, line, "mx-missing",
				"%sthe policy has no mx, so no MX host can "
				"match in mode %s (RFC 8461 §3.2) — list your "
				"MX host names in mx, e.g. mail.example.com",
				prefix, policy_mode_name(policy->mode));
	}

	struct mx_index seen = {0};
	for (size_t i = 0; i < policy->mx_count; i++) {
		const char *mx = policy->mx[i];
		/* RFC 8461 §3.2 mx = ["*."] Domain; §4.1 wildcard rule */
		enum dnsname_problem p = dnsname_check(mx, true);
		if (p != DNSNAME_OK) {
			mx_problem(d, file, line, prefix, mx, p);
			continue;
		}
		/* Equal names are equally valid, so indexing the valid ones
		 * finds every repeat. */
		bool dup = mx_index_find(&seen, policy->mx, mx) != SIZE_MAX;
		if (!dup && mx_index_add(&seen, policy->mx, i) < 0) {
			diag_add(d, DIAG_ERROR, file, line, "out-of-memory",
				"%sout of memory while checking the mx list "
				"— try again", prefix);
			break;
		}
		if (dup) {
			diag_add(d, DIAG_WARNING, file, line, "mx-duplicate",
				"%smx \"%s\" is listed more than once — remove "
				"the duplicate", prefix, escs(e, mx));
			continue;
		}
		if (dnsname_is_shallow_wildcard(mx))
			shallow_warning(d, file, line, prefix, mx);
	}
	mx_index_finish(&seen);

	/*
	 * §3.2 expects max_age of "weeks or greater"; senders cache short
	 * policies their own way (Stalwart raises < 3600 to a day, mimecast
	 * raises enforce < 1 week), so a short value rarely does what the
	 * admin hoped.
	 */
	/* One warning per problem: the enforce one covers a day too. */
	char age[64];
	if (policy->max_age <= POLICY_MAX_AGE_LIMIT) {
		clock_format_duration(policy->max_age, age, sizeof(age));
		if (policy->mode == POLICY_MODE_ENFORCE &&
				policy->max_age < POLICY_WEEK)
			diag_add(d, DIAG_WARNING, file, line,
				"max-age-short-enforce",
				"%smax_age %u (%s) is under a week in mode "
				"enforce — senders may drop the policy quickly "
				"and some raise it anyway; use at least 604800, "
				"e.g. 1209600 or more for enforce",
				prefix, (unsigned)policy->max_age, age);
		else if (policy->max_age < POLICY_DAY)
			diag_add(d, DIAG_WARNING, file, line, "max-age-short",
				"%smax_age %u (%s) is under a day — senders "
				"expect weeks (RFC 8461 §3.2) and some cache "
				"short policies for a day anyway; use at least "
				"86400, e.g. 604800 while testing",
				prefix, (unsigned)policy->max_age, age);
	}

	/* §3.3: senders may stop reading at 64 KiB (postfix-mta-sts-resolver does). */
	uint64_t size = rendered_len(policy);
	if (size > POLICY_SIZE_LIMIT)
		diag_add(d, DIAG_ERROR, file, line, "policy-too-large",
			"%sthe policy body would be %llu bytes, above the "
			"65536-byte limit senders read (RFC 8461 §3.3) — "
			"use fewer mx patterns, e.g. one wildcard for a "
			"dedicated MX subdomain",
			prefix, (unsigned long long)size);

	return d->errors > errors ? -1 : 0;
}

/* The fields RFC 8461 §3.2 defines; everything else is an extension. */
enum field {
	FIELD_VERSION,
	FIELD_MODE,
	FIELD_MAX_AGE,
	FIELD_MX,
	FIELD_COUNT,
};

static const char *const field_names[FIELD_COUNT] = {
	[FIELD_VERSION] = "version",
	[FIELD_MODE] = "mode",
	[FIELD_MAX_AGE] = "max_age",
	[FIELD_MX] = "mx",
};

/* An example value for each field, used in fixes. */
static const char *const field_examples[FIELD_COUNT] = {
	[FIELD_VERSION] = "STSv1",
	[FIELD_MODE] = "enforce",
	[FIELD_MAX_AGE] = "1209600",
	[FIELD_MX] = "mail.example.com",
};

#define KEY_MAX 32	/* (ALPHA / DIGIT) *31(...) */

/* The state of one policy_lint run. */
struct lint {
	const char *file;
	struct diag *d;
	struct policy policy;	/* valid mx so far, in order */
	unsigned *mx_lines;	/* line of each policy.mx entry */
	struct mx_index seen;	/* policy.mx by name */
	size_t mx_seen;		/* mx lines, valid or not */
	unsigned first[FIELD_COUNT];	/* line of the first occurrence */
	unsigned case_line[FIELD_COUNT]; /* first "Mode:"-style line */
	unsigned typo_mx_line;	/* first unknown key that looks like mx */
	char typo_mx_key[KEY_MAX + 1];
	bool version_ok, mode_ok, max_age_ok;
	bool oom;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 8461 §3.2: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool key_is_valid(const char *k, size_t n)
{
	if (n == 0 || n > KEY_MAX || !text_is_alnum(k[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!text_is_alnum(k[i]) && k[i] != '_' && k[i] != '-' && k[i] != '.')
			return false;
	}
	return true;
}

static bool equal_nocase(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		if (text_lower(a[i]) != text_lower(b[i]))
			return false;
	}
	return true;
}

/*
 * distance is the optimal string alignment distance (Levenshtein plus
 * adjacent transpositions, so "mdoe" is one edit from "mode"), ignoring
 * case. Both strings are at most KEY_MAX long.
 */
static size_t distance(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);
	size_t dp[KEY_MAX + 1][KEY_MAX + 1];
	for (size_t i = 0; i <= an; i++)
		dp[i][0] = i;
	for (size_t j = 0; j <= bn; j++)
		dp[0][j] = j;
	for (size_t i = 1; i <= an; i++) {
		for (size_t j = 1; j <= bn; j++) {
			size_t cost = text_lower(a[i - 1]) != text_lower(b[j - 1]);
			size_t v = dp[i - 1][j] + 1;
			if (dp[i][j - 1] + 1 < v)
				v = dp[i][j - 1] + 1;
			if (dp[i - 1][j - 1] + cost < v)
				v = dp[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && text_lower(a[i - 1]) == text_lower(b[j - 2]) &&
					text_lower(a[i - 2]) == text_lower(b[j - 1]) &&
					dp[i - 2][j - 2] + 1 < v)
				v = dp[i - 2][j - 2] + 1;
			dp[i][j] = v;
		}
	}
	return dp[an][bn];
}

/*
 * suggest_field returns the known field an unknown key is probably a typo
 * of (within two edits, and fewer edits than the field is long, so "id"
 * does not become "mx"), or -1.
 */
static int suggest_field(const char *k, size_t n)
{
	int best = -1;
	size_t best_dist = SIZE_MAX;
	for (int f = 0; f < FIELD_COUNT; f++) {
		size_t dist = distance(k, n, field_names[f]);
		if (dist <= 2 && dist < strlen(field_names[f]) &&
				dist < best_dist) {
			best = f;
			best_dist = dist;
		}
	}
	return best;
}

/* Length of a valid UTF-8 sequence at s (RFC 3629 §4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

/*
 * check_ext_value checks an extension value against RFC 8461 §3.2
 * sts-policy-ext-value: visible ASCII or UTF-8, single spaces inside
 * allowed, no tabs (the caller trimmed the surrounding whitespace).
 */
static void check_ext_value(struct lint *l, unsigned line, const char *key,
	const char *v, size_t n)
{
	char e[ESC_SIZE];
	const unsigned char *u = (const unsigned char *)v;
	for (size_t i = 0; i < n;) {
		if (u[i] == '\t') {
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-char",
				"the value of \"%s\" contains a tab — use "
				"spaces inside a value", key);
			return;
		}
		size_t len = utf8_len(u + i, n - i);
		if (len == 0) {
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-utf8",
				"the value of \"%s\" (\"%s\") is not valid UTF-8 "
				"at byte %zu — save the file as UTF-8, or better "
				"plain ASCII", key, esc(e, v, n), i + 1);
			return;
		}
		i += len;
	}
}

static void lint_mx(struct lint *l, unsigned line, const char *v, size_t n)
{
	char e[ESC_SIZE];
	char *value = strndup(v, n);
	if (!value) {
		l->oom = true;
		return;
	}

	/* §3.2 mx = ["*."] Domain; postfix-tlspol #70 for dotted quads */
	enum dnsname_problem p = dnsname_check(value, true);
	if (p != DNSNAME_OK) {
		mx_problem(l->d, l->file, line, "", value, p);
		goto out;
	}

	size_t earlier = mx_index_find(&l->seen, l->policy.mx, value);
	if (earlier != SIZE_MAX) {
		diag_add(l->d, DIAG_WARNING, l->file, line, "mx-duplicate",
			"mx \"%s\" repeats line %u — remove the duplicate "
			"line", escs(e, value), l->mx_lines[earlier]);
		goto out;
	}

	unsigned *lines = realloc(l->mx_lines,
		(l->policy.mx_count + 1) * sizeof(*lines));
	if (!lines) {
		l->oom = true;
		goto out;
	}
	l->mx_lines = lines;
	lines[l->policy.mx_count] = line;
	if (policy_add_mx(&l->policy, value) < 0 || mx_index_add(&l->seen,
			l->policy.mx, l->policy.mx_count - 1) < 0) {
		l->oom = true;
		goto out;
	}

	if (dnsname_is_shallow_wildcard(value))
		shallow_warning(l->d, l->file, line, "", value);
out:
	free(value);
}

static void lint_max_age(struct lint *l, unsigned line, const char *v,
	size_t n)
{
	char e[ESC_SIZE];
	bool numeric = n > 0;
	for (size_t i = 0; i < n; i++) {
		if (!text_is_digit(v[i]))
			numeric = false;
	}
	if (!numeric) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "max-age-syntax",
			"max_age \"%s\" is not a whole number of seconds — "
			"write digits only, e.g. max_age: 1209600 (two weeks)",
			esc(e, v, n));
		return;
	}

	/* §3.2: 1*10(DIGIT), "maximum value of 31557600" */
	uint64_t value = 0;
	for (size_t i = 0; i < n && value <= POLICY_MAX_AGE_LIMIT; i++)
		value = value * 10 + (uint64_t)(v[i] - '0');
	if (n > 10) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "max-age-syntax",
			"max_age \"%s\" has more than 10 digits (RFC 8461 "
			"§3.2) — drop leading zeros and use at most 31557600, "
			"e.g. max_age: 1209600", esc(e, v, n));
		return;
	}
	if (value > POLICY_MAX_AGE_LIMIT) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "max-age-range",
			"max_age %s is above the RFC 8461 limit of 31557600 "
			"(one year) — use at most 31557600, e.g. "
			"max_age: 1209600", esc(e, v, n));
		return;
	}
	l->policy.max_age = (uint32_t)value;
	l->max_age_ok = true;
}

static void lint_mode(struct lint *l, unsigned line, const char *v, size_t n)
{
	char e[ESC_SIZE];
	for (size_t i = 0; i < ARRAY_LEN(mode_names); i++) {
		if (strlen(mode_names[i]) == n && !memcmp(v, mode_names[i], n)) {
			l->policy.mode = (enum policy_mode)i;
			l->mode_ok = true;
			return;
		}
	}
	/* §3.2 uses %s"enforce" etc.: the values are case-sensitive */
	for (size_t i = 0; i < ARRAY_LEN(mode_names); i++) {
		if (equal_nocase(v, n, mode_names[i])) {
			diag_add(l->d, DIAG_ERROR, l->file, line,
				"mode-invalid", "mode \"%s\" is not valid: "
				"mode values are case-sensitive — write: "
				"mode: %s", esc(e, v, n), mode_names[i]);
			return;
		}
	}
	diag_add(l->d, DIAG_ERROR, l->file, line, "mode-invalid",
		"mode \"%s\" is not enforce, testing or none — write one of: "
		"mode: enforce, mode: testing, mode: none", esc(e, v, n));
}

static void lint_version(struct lint *l, unsigned line, const char *v,
	size_t n)
{
	char e[ESC_SIZE];
	if (n == 5 && !memcmp(v, "STSv1", 5)) {
		l->version_ok = true;
		return;
	}
	diag_add(l->d, DIAG_ERROR, l->file, line, "version-invalid",
		"version \"%s\" is not STSv1 — write exactly (it is "
		"case-sensitive): version: STSv1", esc(e, v, n));
}

/*
 * fixed_value writes the value as it should be spelled for field f: the
 * case-corrected mode or version, a lower-case mx, else unchanged.
 */
static const char *fixed_value(char *buf, int f, const char *v, size_t n)
{
	if (f == FIELD_VERSION && equal_nocase(v, n, "STSv1"))
		return "STSv1";
	if (f == FIELD_MODE || f == FIELD_MX) {
		char tmp[ESC_SIZE];
		size_t m = n < sizeof(tmp) - 1 ? n : sizeof(tmp) - 1;
		for (size_t i = 0; i < m; i++)
			tmp[i] = text_lower(v[i]);
		return esc(buf, tmp, m);
	}
	return esc(buf, v, n);
}

static void lint_unknown(struct lint *l, unsigned line, const char *k,
	size_t kn, const char *v, size_t vn, bool bad)
{
	char key[KEY_MAX + 1];
	char e[ESC_SIZE];
	memcpy(key, k, kn);
	key[kn] = '\0';

	int f = -1;
	for (int i = 0; i < FIELD_COUNT; i++) {
		if (equal_nocase(k, kn, field_names[i]))
			f = i;
	}
	if (f >= 0) {
		/* §3.2 uses %s"mode" etc.: "Mode" is an ignored extension */
		if (!l->case_line[f])
			l->case_line[f] = line;
		diag_add(l->d, DIAG_WARNING, l->file, line, "key-case",
			"key \"%s\" is not `%s`: field names are case-sensitive "
			"and senders ignore this line — write: %s: %s", key,
			field_names[f], field_names[f],
			vn ? fixed_value(e, f, v, vn) : field_examples[f]);
	} else if ((f = suggest_field(k, kn)) >= 0) {
		if (f == FIELD_MX && !l->typo_mx_line) {
			l->typo_mx_line = line;
			memcpy(l->typo_mx_key, key, kn + 1);
		}
		diag_add(l->d, DIAG_WARNING, l->file, line, "unknown-key",
			"unknown field \"%s\": senders ignore it, so this line "
			"has no effect — did you mean `%s`? write: %s: %s", key,
			field_names[f], field_names[f],
			vn ? fixed_value(e, f, v, vn) : field_examples[f]);
	} else {
		diag_add(l->d, DIAG_WARNING, l->file, line, "unknown-key",
			"unknown field \"%s\": senders ignore extension fields "
			"— remove it unless a sender you care about uses it",
			key);
	}

	/* §3.2 sts-policy-ext-value = 1*(...): an extension needs a value */
	if (vn == 0)
		diag_add(l->d, DIAG_ERROR, l->file, line, "empty-value",
			"field \"%s\" has no value — give it a value or remove "
			"the line", key);
	else if (!bad)
		check_ext_value(l, line, key, v, vn);
}

/* Does dnsname already explain the ':' in this value (port, IPv6)? */
static bool mx_colon_explained(const char *v, size_t n)
{
	char buf[DNSNAME_MAX + 1];
	if (n >= sizeof(buf) || memchr(v, '\0', n))
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	enum dnsname_problem p = dnsname_check(buf, true);
	return p == DNSNAME_PORT || p == DNSNAME_ADDRESS_LITERAL;
}

/*
 * lint_line checks one line without its line end (n may be 0). Every
 * problem is reported and parsing goes on where a sender's parser would
 * have given up, so one run shows everything.
 */
static void lint_line(struct lint *l, const char *s, size_t n, unsigned line)
{
	char e[ESC_SIZE], e2[ESC_SIZE];

	/* §3.2: one field per line and nothing else, not even at the end */
	if (n == 0) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "blank-line",
			"line %u is blank — remove it: the policy grammar "
			"allows no empty line, not even at the end (RFC 8461 "
			"§3.2)", line);
		return;
	}

	bool bad = false;
	for (size_t i = 0; i < n && !bad; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0') {
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-byte",
				"line %u has a NUL byte at column %zu — remove "
				"it: a policy is plain text", line, i + 1);
			bad = true;
		} else if (c == '\r') {
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-byte",
				"line %u has a carriage return not followed by "
				"a line feed at column %zu — end every line "
				"with CRLF", line, i + 1);
			bad = true;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-byte",
				"line %u has control byte 0x%02X at column %zu "
				"— remove it: a policy is plain text", line, c,
				i + 1);
			bad = true;
		}
	}

	size_t i = 0;
	while (i < n && is_wsp(s[i]))
		i++;
	if (i == n) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "blank-line",
			"line %u holds only whitespace — remove it: the "
			"policy grammar allows no empty line (RFC 8461 §3.2)",
			line);
		return;
	}
	if (i > 0)
		diag_add(l->d, DIAG_ERROR, l->file, line, "leading-space",
			"line %u starts with whitespace — remove the spaces "
			"or tabs before the key", line);

	const char *colon = memchr(s + i, ':', n - i);
	if (!colon) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "missing-colon",
			"line %u (\"%s\") has no ':' — write each field on its "
			"own line as key: value, e.g. mode: enforce", line,
			esc(e, s + i, n - i));
		return;
	}

	const char *k = s + i;
	size_t kn = (size_t)(colon - k);
	bool space_before = false;
	while (kn > 0 && is_wsp(k[kn - 1])) {
		kn--;
		space_before = true;
	}

	const char *v = colon + 1;
	size_t vn = n - (size_t)(v - s);
	while (vn > 0 && is_wsp(*v)) {
		v++;
		vn--;
	}
	while (vn > 0 && is_wsp(v[vn - 1]))
		vn--;

	if (!key_is_valid(k, kn)) {
		if (kn == 0)
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-key",
				"line %u has no key before ':' — write "
				"key: value, e.g. mode: enforce", line);
		else
			diag_add(l->d, DIAG_ERROR, l->file, line, "bad-key",
				"key \"%s\" is not a valid field name — a key "
				"is 1-32 letters, digits, '_', '-' or '.', "
				"starting with a letter or digit, e.g. max_age",
				esc(e, k, kn));
		return;
	}

	int f = -1, fold = -1;
	for (int j = 0; j < FIELD_COUNT; j++) {
		if (strlen(field_names[j]) == kn && !memcmp(k, field_names[j], kn))
			f = j;
		if (equal_nocase(k, kn, field_names[j]))
			fold = j;
	}

	/* §3.2 sts-policy-field-delim = ":" *WSP: nothing before ':' */
	if (space_before) {
		char fixed[ESC_SIZE];
		if (fold >= 0)
			snprintf(fixed, sizeof(fixed), "%s: %s", field_names[fold],
				fixed_value(e2, fold, v, vn));
		else
			snprintf(fixed, sizeof(fixed), "%s: %s", esc(e2, k, kn),
				esc(e, v, vn));
		diag_add(l->d, DIAG_ERROR, l->file, line, "space-before-colon",
			"whitespace between key \"%s\" and ':' — remove it: %s",
			esc(e, k, kn), fixed);
	}
	if (f < 0) {
		lint_unknown(l, line, k, kn, v, vn, bad);
		return;
	}

	/*
	 * Known values never contain ':', so two fields probably ran into
	 * one line. An mx port or IPv6 literal gets its own, better error.
	 */
	if (memchr(v, ':', vn) &&
			!(f == FIELD_MX && mx_colon_explained(v, vn)))
		diag_add(l->d, DIAG_WARNING, l->file, line, "colon-in-value",
			"the %s value \"%s\" contains ':' — put each field on "
			"its own line as key: value; no defined field has a "
			"':' in its value", field_names[f], esc(e, v, vn));

	if (f == FIELD_MX) {
		l->mx_seen++;
	} else if (l->first[f]) {
		/* §3.2: "all but the first SHALL be ignored" */
		diag_add(l->d, DIAG_ERROR, l->file, line, "duplicate-field",
			"`%s` repeats line %u — senders use the first one and "
			"ignore this line; keep a single %s line",
			field_names[f], l->first[f], field_names[f]);
		return;
	}
	if (!l->first[f])
		l->first[f] = line;
	if (bad)
		return;

	if (vn == 0 && f != FIELD_MX) {
		diag_add(l->d, DIAG_ERROR, l->file, line, "empty-value",
			"`%s` has no value — write e.g. %s: %s", field_names[f],
			field_names[f], field_examples[f]);
		return;
	}
	switch (f) {
	case FIELD_VERSION:
		lint_version(l, line, v, vn);
		break;
	case FIELD_MODE:
		lint_mode(l, line, v, vn);
		break;
	case FIELD_MAX_AGE:
		lint_max_age(l, line, v, vn);
		break;
	case FIELD_MX:
		lint_mx(l, line, v, vn);
		break;
	}
}

/* Which line holds byte offset off (the line ends counted as its own). */
static unsigned line_of(const char *text, size_t len, size_t off)
{
	unsigned line = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n')
			line++;
	}
	return line;
}

/*
 * lint_missing reports a required field that never appeared. When a
 * "Mode:"-style line exists the error points there, since that is the line
 * to fix; otherwise at line 1, where version is conventionally placed.
 */
static void lint_missing(struct lint *l, enum field f, const char *code,
	const char *example)
{
	if (l->first[f])
		return;
	if (l->case_line[f])
		diag_add(l->d, DIAG_ERROR, l->file, l->case_line[f], code,
			"the policy has no `%s` field (line %u spells the key "
			"with capitals, and field names are case-sensitive) — "
			"write it in lower case: %s: %s", field_names[f],
			l->case_line[f], field_names[f], example);
	else
		diag_add(l->d, DIAG_ERROR, l->file, 1, code,
			"the policy has no `%s` field (RFC 8461 §3.2 requires "
			"it) — add a line: %s: %s", field_names[f],
			field_names[f], example);
}

/*
 * policy_lint reads text the way RFC 8461 §3.2 defines it, not the way a
 * lenient sender might: a sender that is strict where the ABNF is strict
 * must accept everything this accepts without an error. Warnings cover what
 * is legal but known to break or mislead some sender.
 */
int policy_lint(const char *text, size_t len, const char *file,
	struct policy *out, struct diag *d)
{
	size_t errors = d->errors;
	struct lint l = {
		.file = file,
		.d = d,
	};

	if (len == 0) {
		diag_add(d, DIAG_ERROR, file, 1, "policy-empty",
			"the policy is empty — serve at least: version: STSv1, "
			"mode, mx and max_age lines");
		return -1;
	}

	/* §3.3: senders may stop reading at 64 KiB; pf-mta-sts-resolver does */
	if (len > POLICY_SIZE_LIMIT) {
		diag_add(d, DIAG_ERROR, file,
			line_of(text, len, POLICY_SIZE_LIMIT), "policy-too-large",
			"the policy is %zu bytes and crosses the 65536-byte limit "
			"on this line: senders stop reading at 64 KiB (RFC 8461 "
			"§3.3) — shorten it, e.g. with fewer mx lines or one "
			"wildcard for a dedicated MX subdomain", len);
	}

	size_t pos = 0;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		diag_add(d, DIAG_ERROR, file, 1, "bom",
			"the policy starts with a UTF-8 byte order mark — save "
			"it without a BOM (\"UTF-8 without signature\" or plain "
			"ASCII); some senders reject it");
		pos = 3;
	}

	bool lf_warned = false;
	unsigned line = 1;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		size_t cend = end;
		if (nl && cend > pos && text[cend - 1] == '\r')
			cend--;
		else if (nl && !lf_warned) {
			/* §3.2 ABNF allows LF; the prose and some tools want CRLF */
			diag_add(d, DIAG_WARNING, file, line, "lf-line-end",
				"line %u ends in LF only — some checkers and one "
				"old client expect CRLF; end every line with CRLF",
				line);
			lf_warned = true;
		}
		lint_line(&l, text + pos, cend - pos, line);
		if (!nl)
			break;
		pos = end + 1;
		line++;
	}

	lint_missing(&l, FIELD_VERSION, "version-missing", "STSv1");
	lint_missing(&l, FIELD_MODE, "mode-missing", "enforce");
	lint_missing(&l, FIELD_MAX_AGE, "max-age-missing", "1209600");

	unsigned hint_line = l.typo_mx_line ? l.typo_mx_line :
		l.case_line[FIELD_MX];
	char hint[128] = "";
	if (l.typo_mx_line)
		snprintf(hint, sizeof(hint), " (line %u has `%s:`, which "
			"senders ignore)", hint_line, l.typo_mx_key);
	else if (hint_line)
		snprintf(hint, sizeof(hint), " (line %u has a capitalised mx "
			"key, which senders ignore)", hint_line);
	if (l.mode_ok && l.mx_seen == 0) {
		if (l.policy.mode != POLICY_MODE_NONE)
			diag_add(d, DIAG_ERROR, file, l.first[FIELD_MODE],
				"mx-missing", "mode %s needs at least one mx line "
				"and there is none%s, so no MX can match (RFC "
				"8461 §3.2) — add one line per MX host, e.g. "
				"mx: mail.example.com",
				policy_mode_name(l.policy.mode), hint);
		else
			diag_add(d, DIAG_WARNING, file, l.first[FIELD_MODE],
				"mx-missing-none", "mode none without any mx "
				"line%s — the RFC allows it, but some senders "
				"(Stalwart) reject a policy without mx; add "
				"your MX hosts, e.g. mx: mail.example.com", hint);
	}

	/* §3.2 expects "weeks or greater"; see policy_validate */
	if (l.max_age_ok) {
		unsigned at = l.first[FIELD_MAX_AGE];
		unsigned age = (unsigned)l.policy.max_age;
		char shown[64];
		clock_format_duration(age, shown, sizeof(shown));
		/* One warning per problem: the enforce one covers a day. */
		if (l.mode_ok && l.policy.mode == POLICY_MODE_ENFORCE &&
				age < POLICY_WEEK)
			diag_add(d, DIAG_WARNING, file, at,
				"max-age-short-enforce", "max_age %u (%s) is "
				"under a week in mode enforce — senders may drop "
				"the policy quickly and some raise it anyway; use "
				"at least 604800, e.g. max_age: 1209600 or more",
				age, shown);
		else if (age < POLICY_DAY)
			diag_add(d, DIAG_WARNING, file, at, "max-age-short",
				"max_age %u (%s) is under a day — senders expect "
				"weeks (RFC 8461 §3.2) and some cache short "
				"policies for a day anyway; use at least 86400, "
				"e.g. max_age: 604800 while testing", age, shown);
	}

	if (l.oom)
		diag_add(d, DIAG_ERROR, file, 0, "out-of-memory",
			"out of memory while checking the policy — try again");

	free(l.mx_lines);
	mx_index_finish(&l.seen);
	if (d->errors > errors) {
		policy_finish(&l.policy);
		return -1;
	}
	if (out) {
		policy_finish(out);
		*out = l.policy;
	} else {
		policy_finish(&l.policy);
	}
	return 0;
}
