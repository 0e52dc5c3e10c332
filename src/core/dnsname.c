/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/dnsname.h"
#include "util/text.h"

static bool is_ldh(unsigned char c)
{
	return text_is_alpha(c) || text_is_digit(c) || c == '-';
}

static bool equal_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (text_lower(a[i]) != text_lower(b[i]))
			return false;
	}
	return true;
}

/* Length of name without one trailing dot (but "." stays "."). */
static size_t len_no_dot(const char *name)
{
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == '.')
		n--;
	return n;
}

/*
 * classify_chars looks at single bytes and colons: the problems an admin
 * makes by pasting an address, a URL-ish "host:port" or an IDN. These come
 * before the structural checks because their fix is more specific.
 */
static enum dnsname_problem classify_chars(const char *name, size_t n)
{
	if (name[0] == '[')
		return DNSNAME_ADDRESS_LITERAL;

	size_t colons = 0;
	const char *colon = NULL;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == ':') {
			if (!colon)
				colon = name + i;
			colons++;
		}
	}
	if (colons > 1)
		return DNSNAME_ADDRESS_LITERAL;	/* IPv6 */
	if (colons == 1) {
		const char *p = colon + 1;
		bool digits = *p != '\0';
		for (; *p; p++) {
			if (!text_is_digit((unsigned char)*p))
				digits = false;
		}
		if (digits && colon != name)
			return DNSNAME_PORT;
	}

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name[i] >= 0x80)
			return DNSNAME_ULABEL;
	}
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '_')
			return DNSNAME_UNDERSCORE;
	}
	return DNSNAME_OK;
}

/*
 * check_plain checks a name without any wildcard: LDH labels of 1-63
 * octets (RFC 1035 §2.3.1, RFC 5321 §4.1.2 Domain), at most 253 octets,
 * at least two labels, not all-numeric.
 */
static enum dnsname_problem check_plain(const char *name, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '*')
			return DNSNAME_BAD_WILDCARD;
		if (!is_ldh(c) && c != '.')
			return DNSNAME_BAD_CHAR;
	}
	if (n > 1 && name[n - 1] == '.' && name[n - 2] != '.')
		return DNSNAME_TRAILING_DOT;

	size_t labels = 0;
	bool numeric = true;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && name[i] != '.')
			continue;
		size_t len = i - start;
		if (len == 0)
			return DNSNAME_EMPTY_LABEL;
		if (len > DNSNAME_LABEL_MAX)
			return DNSNAME_LABEL_TOO_LONG;
		if (name[start] == '-' || name[i - 1] == '-')
			return DNSNAME_HYPHEN_EDGE;
		for (size_t j = start; j < i; j++) {
			if (!text_is_digit((unsigned char)name[j]))
				numeric = false;
		}
		labels++;
		start = i + 1;
	}
	if (n > DNSNAME_MAX)
		return DNSNAME_TOO_LONG;
	if (labels < 2)
		return DNSNAME_SINGLE_LABEL;
	/*
	 * "192.0.2.1", but also "10.1": inet_aton() accepts both, and a sender
	 * given such an mx looks for an IP SAN (postfix-tlspol #70).
	 */
	if (numeric)
		return DNSNAME_IPV4;
	return DNSNAME_OK;
}

enum dnsname_problem dnsname_check(const char *name, bool allow_wildcard)
{
	if (!name || !*name)
		return DNSNAME_EMPTY;
	size_t n = strlen(name);

	enum dnsname_problem p = classify_chars(name, n);
	if (p != DNSNAME_OK)
		return p;

	/*
	 * RFC 8461 §3.2 mx = ["*."] Domain, and §4.1: the '*' is the whole
	 * leftmost label only. The base needs two labels so that "*.com"
	 * is refused: no sender's MX can sensibly live under a bare TLD.
	 */
	if (name[0] == '*' && name[1] == '.') {
		if (!allow_wildcard)
			return DNSNAME_BAD_WILDCARD;
		if (n > DNSNAME_MAX)
			return DNSNAME_TOO_LONG;
		p = check_plain(name + 2, n - 2);
		if (p == DNSNAME_SINGLE_LABEL)
			return DNSNAME_BAD_WILDCARD;
		if (p == DNSNAME_EMPTY_LABEL && n == 2)
			return DNSNAME_BAD_WILDCARD;
		return p;
	}
	return check_plain(name, n);
}

const char *dnsname_problem_text(enum dnsname_problem problem)
{
	switch (problem) {
	case DNSNAME_OK:
		return "is a valid host name";
	case DNSNAME_EMPTY:
		return "is empty";
	case DNSNAME_TRAILING_DOT:
		return "has a trailing dot";
	case DNSNAME_EMPTY_LABEL:
		return "has an empty label (a leading dot or two dots in a row)";
	case DNSNAME_ADDRESS_LITERAL:
		return "is an IP address literal, not a host name";
	case DNSNAME_IPV4:
		return "is an IPv4 address, not a host name";
	case DNSNAME_PORT:
		return "has a port number";
	case DNSNAME_UNDERSCORE:
		return "contains '_', which is not allowed in a host name";
	case DNSNAME_ULABEL:
		return "contains non-ASCII characters (a U-label)";
	case DNSNAME_BAD_CHAR:
		return "contains a character other than letters, digits, "
		       "'-' and '.'";
	case DNSNAME_HYPHEN_EDGE:
		return "has a label that starts or ends with '-'";
	case DNSNAME_LABEL_TOO_LONG:
		return "has a label longer than 63 characters";
	case DNSNAME_TOO_LONG:
		return "is longer than 253 characters";
	case DNSNAME_SINGLE_LABEL:
		return "is a single label, not a fully qualified name";
	case DNSNAME_BAD_WILDCARD:
		return "uses '*' where it is not allowed";
	}
	return "is not a valid host name";
}

const char *dnsname_problem_fix(enum dnsname_problem problem)
{
	switch (problem) {
	case DNSNAME_OK:
		return "nothing to fix";
	case DNSNAME_EMPTY:
		return "give a host name, e.g. mail.example.com";
	case DNSNAME_TRAILING_DOT:
		return "remove the final '.'";
	case DNSNAME_EMPTY_LABEL:
		return "remove the extra '.'";
	case DNSNAME_ADDRESS_LITERAL:
	case DNSNAME_IPV4:
		return "give the host name (the one in its certificate) "
		       "instead of the address";
	case DNSNAME_PORT:
		return "remove the ':' and the port; MX hosts are always "
		       "reached on port 25";
	case DNSNAME_UNDERSCORE:
		return "use letters, digits and '-' only";
	case DNSNAME_ULABEL:
		return "write it as its xn-- A-label (punycode), "
		       "e.g. with `idn2`";
	case DNSNAME_BAD_CHAR:
		return "remove the character; use letters, digits, '-' and "
		       "'.' only";
	case DNSNAME_HYPHEN_EDGE:
		return "remove the '-' at the start or end of the label";
	case DNSNAME_LABEL_TOO_LONG:
		return "shorten each label to at most 63 characters";
	case DNSNAME_TOO_LONG:
		return "use a name of at most 253 characters";
	case DNSNAME_SINGLE_LABEL:
		return "give the fully qualified name, e.g. mail.example.com";
	case DNSNAME_BAD_WILDCARD:
		return "use '*' only as the whole leftmost label of an mx "
		       "pattern, followed by at least two labels, "
		       "e.g. *.mx.example.com";
	}
	return "give a valid host name";
}

bool dnsname_is_valid(const char *name)
{
	return dnsname_check(name, false) == DNSNAME_OK;
}

bool dnsname_is_wildcard(const char *pattern)
{
	return pattern && pattern[0] == '*' && pattern[1] == '.';
}

int dnsname_normalize(const char *name, bool allow_wildcard, char *out,
	size_t size)
{
	if (!out || size == 0)
		return -1;
	out[0] = '\0';
	if (!name)
		return -1;
	size_t n = len_no_dot(name);
	if (n >= size)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = text_lower(name[i]);
	out[n] = '\0';
	if (dnsname_check(out, allow_wildcard) != DNSNAME_OK) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

bool dnsname_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	size_t na = len_no_dot(a), nb = len_no_dot(b);
	return na == nb && equal_n(a, b, na);
}

int dnsname_compare(const char *a, const char *b)
{
	size_t na = len_no_dot(a), nb = len_no_dot(b);
	for (size_t i = 0; i < na && i < nb; i++) {
		int ca = text_lower(a[i]), cb = text_lower(b[i]);
		if (ca != cb)
			return ca - cb;
	}
	return na < nb ? -1 : na > nb;
}

/*
 * dnsname_matches follows RFC 8461 Appendix B: compare literally; else, if
 * the pattern starts with "*.", drop the candidate's first label and
 * compare the rest with the pattern minus "*.". So the wildcard covers
 * exactly one label, unlike some checkers that let it cover several
 * (PS.MTA-STS PR #33).
 */
bool dnsname_matches(const char *pattern, const char *host)
{
	if (!pattern || !host || !*pattern || !*host)
		return false;
	size_t hn = len_no_dot(host);
	size_t pn = strlen(pattern);
	if (hn == pn && equal_n(pattern, host, pn))
		return true;
	if (!dnsname_is_wildcard(pattern))
		return false;

	const char *dot = memchr(host, '.', hn);
	if (!dot || dot == host)
		return false;
	const char *rest = dot + 1;
	size_t rn = hn - (size_t)(rest - host);
	return rn > 0 && rn == pn - 2 && equal_n(pattern + 2, rest, rn);
}

/*
 * Two-level public suffix shapes common enough to matter for MX wildcards.
 * This is a heuristic for a warning, not the Public Suffix List: a miss
 * only means no warning for "*.example.<rare suffix>".
 */
static const char *const two_level_suffixes[] = {
	"co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "net.uk", "ltd.uk",
	"plc.uk", "com.au", "net.au", "org.au", "edu.au", "gov.au", "co.jp",
	"ne.jp", "or.jp", "ac.jp", "co.nz", "net.nz", "org.nz", "com.br",
	"net.br", "org.br", "co.za", "com.cn", "com.mx", "co.in", "co.kr",
	"com.tw", "com.sg", "com.tr", "co.il",
};

bool dnsname_is_shallow_wildcard(const char *pattern)
{
	if (!dnsname_is_wildcard(pattern))
		return false;
	const char *base = pattern + 2;
	size_t n = len_no_dot(base);

	size_t labels = n > 0 ? 1 : 0;
	for (size_t i = 0; i < n; i++) {
		if (base[i] == '.')
			labels++;
	}
	if (labels <= 2)
		return true;
	if (labels != 3)
		return false;

	/* base = "example.co.uk": the suffix starts after the first dot */
	const char *suffix = (const char *)memchr(base, '.', n) + 1;
	size_t sn = n - (size_t)(suffix - base);
	for (size_t i = 0; i < sizeof(two_level_suffixes) /
			sizeof(two_level_suffixes[0]); i++) {
		const char *s = two_level_suffixes[i];
		if (strlen(s) == sn && equal_n(s, suffix, sn))
			return true;
	}
	return false;
}
