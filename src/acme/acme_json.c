/* SPDX-License-Identifier: MIT */
/*
 * acme_json.c: RFC 8555 resources from JSON. The CA is trusted to issue
 * certificates, not to send well-formed JSON: every member is optional
 * until checked, every string is bounded, and a wrong type is a refusal
 * with a reason, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "acme/acme_json.h"
#include "util/text.h"

static const char *const status_names[] = {
	[ACME_STATUS_UNKNOWN] = "unknown",
	[ACME_STATUS_PENDING] = "pending",
	[ACME_STATUS_READY] = "ready",
	[ACME_STATUS_PROCESSING] = "processing",
	[ACME_STATUS_VALID] = "valid",
	[ACME_STATUS_INVALID] = "invalid",
	[ACME_STATUS_EXPIRED] = "expired",
	[ACME_STATUS_DEACTIVATED] = "deactivated",
	[ACME_STATUS_REVOKED] = "revoked",
};

const char *acme_status_name(enum acme_status status)
{
	return status_names[status];
}

/* A JSON object from text, or NULL with why. Caller puts it. */
static json_object *parse(const char *text, size_t len, char *why,
	size_t why_size)
{
	if (len > ACME_JSON_MAX) {
		snprintf(why, why_size, "the answer is larger than %d bytes",
			ACME_JSON_MAX);
		return NULL;
	}
	json_tokener *tok = json_tokener_new_ex(32);
	if (!tok) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	if (obj && err == json_tokener_success &&
	    json_tokener_get_parse_end(tok) < len) {
		/* Trailing bytes other than white space are not JSON. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (!strchr(" \t\r\n", text[i]))
				err = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (!obj || err != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		snprintf(why, why_size, "the answer is not a JSON object");
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/*
 * Copies the string member key of obj into out (size bytes). Missing is
 * fine (out stays empty, returns 0); a non-string or one that does not fit
 * or holds a NUL is -1.
 */
static int get_str(json_object *obj, const char *key, char *out, size_t size)
{
	json_object *v;
	out[0] = '\0';
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n >= size || strlen(s) != n)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

static enum acme_status get_status(json_object *obj)
{
	char s[32];
	if (get_str(obj, "status", s, sizeof(s)) < 0)
		return ACME_STATUS_UNKNOWN;
	for (size_t i = 1; i < sizeof(status_names) / sizeof(*status_names);
	     i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum acme_status)i;
	return ACME_STATUS_UNKNOWN;
}

static void problem_from(json_object *obj, struct acme_problem *out)
{
	*out = (struct acme_problem){0};
	if (!obj || !json_object_is_type(obj, json_type_object))
		return;
	out->present = true;
	get_str(obj, "type", out->type, sizeof(out->type));
	get_str(obj, "detail", out->detail, sizeof(out->detail));
	json_object *subs, *first;
	if (json_object_object_get_ex(obj, "subproblems", &subs) &&
	    json_object_is_type(subs, json_type_array) &&
	    json_object_array_length(subs) > 0 &&
	    (first = json_object_array_get_idx(subs, 0)) &&
	    json_object_is_type(first, json_type_object))
		get_str(first, "detail", out->subdetail,
			sizeof(out->subdetail));
}

static void member_problem(json_object *obj, const char *key,
	struct acme_problem *out)
{
	json_object *v = NULL;
	json_object_object_get_ex(obj, key, &v);
	problem_from(v, out);
}

int acme_json_problem(const char *text, size_t len, struct acme_problem *out)
{
	char why[64];
	json_object *obj = parse(text, len, why, sizeof(why));
	*out = (struct acme_problem){0};
	if (!obj)
		return -1;
	problem_from(obj, out);
	json_object_put(obj);
	return 0;
}

int acme_json_directory(const char *text, size_t len,
	struct acme_directory *out, char *why, size_t why_size)
{
	json_object *obj = parse(text, len, why, why_size), *meta, *eab;
	*out = (struct acme_directory){0};
	if (!obj)
		return -1;
	int rc = 0;
	if (get_str(obj, "newNonce", out->new_nonce,
			sizeof(out->new_nonce)) < 0 ||
	    get_str(obj, "newAccount", out->new_account,
			sizeof(out->new_account)) < 0 ||
	    get_str(obj, "newOrder", out->new_order,
			sizeof(out->new_order)) < 0 ||
	    get_str(obj, "renewalInfo", out->renewal_info,
			sizeof(out->renewal_info)) < 0 ||
	    !out->new_nonce[0] || !out->new_account[0] ||
	    !out->new_order[0]) {
		snprintf(why, why_size, "the directory lacks newNonce, "
			"newAccount or newOrder");
		rc = -1;
	}
	if (json_object_object_get_ex(obj, "meta", &meta) &&
	    json_object_is_type(meta, json_type_object) &&
	    json_object_object_get_ex(meta, "externalAccountRequired", &eab))
		out->eab_required = json_object_get_boolean(eab);
	json_object_put(obj);
	return rc;
}

int acme_json_order(const char *text, size_t len, struct acme_order *out,
	char *why, size_t why_size)
{
	json_object *obj = parse(text, len, why, why_size), *authz;
	*out = (struct acme_order){0};
	if (!obj)
		return -1;
	int rc = 0;
	out->status = get_status(obj);
	if (out->status == ACME_STATUS_UNKNOWN ||
	    get_str(obj, "finalize", out->finalize,
			sizeof(out->finalize)) < 0 ||
	    get_str(obj, "certificate", out->certificate,
			sizeof(out->certificate)) < 0) {
		snprintf(why, why_size, "the order has no known status or a "
			"malformed finalize or certificate URL");
		rc = -1;
	}
	if (json_object_object_get_ex(obj, "authorizations", &authz) &&
	    json_object_is_type(authz, json_type_array)) {
		size_t n = json_object_array_length(authz);
		if (n > ACME_MAX_AUTHZ) {
			snprintf(why, why_size, "the order has more than %d "
				"authorizations", ACME_MAX_AUTHZ);
			rc = -1;
			n = 0;
		}
		for (size_t i = 0; i < n; i++) {
			json_object *v = json_object_array_get_idx(authz, i);
			const char *s = json_object_get_string(v);
			if (!json_object_is_type(v, json_type_string) ||
			    strlen(s) >= ACME_URL_MAX) {
				snprintf(why, why_size, "an authorization URL "
					"is malformed");
				rc = -1;
				break;
			}
			memcpy(out->authorizations[out->authorization_count++],
				s, strlen(s) + 1);
		}
	}
	member_problem(obj, "error", &out->error);
	json_object_put(obj);
	return rc;
}

int acme_json_authz(const char *text, size_t len, struct acme_authz *out,
	char *why, size_t why_size)
{
	json_object *obj = parse(text, len, why, why_size), *id, *chs;
	*out = (struct acme_authz){0};
	if (!obj)
		return -1;
	int rc = 0;
	out->status = get_status(obj);
	if (out->status == ACME_STATUS_UNKNOWN) {
		snprintf(why, why_size, "the authorization has no known "
			"status");
		rc = -1;
	}
	if (json_object_object_get_ex(obj, "identifier", &id) &&
	    json_object_is_type(id, json_type_object) &&
	    get_str(id, "value", out->identifier,
			sizeof(out->identifier)) < 0) {
		snprintf(why, why_size, "the identifier is malformed");
		rc = -1;
	}
	if (json_object_object_get_ex(obj, "challenges", &chs) &&
	    json_object_is_type(chs, json_type_array)) {
		size_t n = json_object_array_length(chs);
		for (size_t i = 0; i < n &&
		     out->challenge_count < ACME_MAX_CHALLENGES; i++) {
			json_object *c = json_object_array_get_idx(chs, i);
			struct acme_challenge *ch =
				&out->challenges[out->challenge_count];
			if (!c || !json_object_is_type(c, json_type_object) ||
			    get_str(c, "type", ch->type,
					sizeof(ch->type)) < 0 ||
			    get_str(c, "url", ch->url, sizeof(ch->url)) < 0 ||
			    get_str(c, "token", ch->token,
					sizeof(ch->token)) < 0)
				continue;	/* one we cannot use */
			ch->status = get_status(c);
			member_problem(c, "error", &ch->error);
			out->challenge_count++;
		}
	}
	json_object_put(obj);
	return rc;
}

long long acme_json_time(const char *text)
{
	struct tm tm = {0};
	const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		p = strptime(text, "%Y-%m-%dt%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; text_is_digit(*p); p++)
			;
	long long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && text_is_digit(p[1]) &&
		   text_is_digit(p[2]) && p[3] == ':' && text_is_digit(p[4]) &&
		   text_is_digit(p[5])) {
		offset = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '+')
			offset = -offset;
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	return (long long)timegm(&tm) + offset;
}

int acme_json_renewal_info(const char *text, size_t len, long long *start,
	long long *end, char *why, size_t why_size)
{
	json_object *obj = parse(text, len, why, why_size), *w;
	if (!obj)
		return -1;
	char a[64], b[64];
	int rc = -1;
	if (!json_object_object_get_ex(obj, "suggestedWindow", &w) ||
	    !json_object_is_type(w, json_type_object) ||
	    get_str(w, "start", a, sizeof(a)) < 0 ||
	    get_str(w, "end", b, sizeof(b)) < 0)
		snprintf(why, why_size, "no suggestedWindow with start and "
			"end");
	else if ((*start = acme_json_time(a)) < 0 ||
		 (*end = acme_json_time(b)) < 0 || *end < *start)
		snprintf(why, why_size, "the suggested window is not two "
			"RFC 3339 times in order");
	else
		rc = 0;
	json_object_put(obj);
	return rc;
}

const struct acme_challenge *acme_json_find_challenge(
	const struct acme_authz *authz, const char *type)
{
	for (size_t i = 0; i < authz->challenge_count; i++)
		if (strcmp(authz->challenges[i].type, type) == 0 &&
		    authz->challenges[i].url[0])
			return &authz->challenges[i];
	return NULL;
}

/* RFC 8555 §6.7 and the types CAs use most, in an admin's words. */
static const struct {
	const char *type;
	const char *words;
} meanings[] = {
	{ "badNonce", "the CA rejected the anti-replay nonce" },
	{ "rateLimited", "rate limited by the CA; wait before retrying" },
	{ "connection", "the CA could not connect to the policy host "
		"(is port 443 of mta-sts.<domain> this server?)" },
	{ "dns", "the CA could not resolve the policy host in DNS" },
	{ "caa", "a CAA record forbids this CA for the domain" },
	{ "tls", "the TLS handshake with the CA's validator failed" },
	{ "unauthorized", "the CA did not accept the proof of control" },
	{ "incorrectResponse", "the CA received a wrong challenge answer "
		"(another server answers for the name?)" },
	{ "rejectedIdentifier", "the CA will not issue for this name" },
	{ "externalAccountRequired", "the CA requires External Account "
		"Binding: set eab_kid and eab_hmac_key" },
	{ "accountDoesNotExist", "the CA does not know the account" },
	{ "malformed", "the CA found the request malformed" },
	{ "badCSR", "the CA refused the certificate request" },
	{ "serverInternal", "the CA had an internal error" },
	{ "userActionRequired", "the CA requires an action by the account "
		"holder (new terms of service?)" },
	{ "orderNotReady", "the order was not ready to finalize" },
	{ "badSignatureAlgorithm", "the CA refused the signature "
		"algorithm" },
	{ "invalidContact", "the CA refused the contact e-mail address" },
};

const char *acme_problem_describe(const struct acme_problem *problem,
	char *buf, size_t size)
{
	static const char prefix[] = "urn:ietf:params:acme:error:";
	const char *type = problem->type;
	const char *words = NULL;
	if (strncmp(type, prefix, sizeof(prefix) - 1) == 0)
		type += sizeof(prefix) - 1;
	for (size_t i = 0; i < sizeof(meanings) / sizeof(*meanings); i++)
		if (strcmp(type, meanings[i].type) == 0)
			words = meanings[i].words;
	char detail[ACME_TEXT_MAX * 2], sub[ACME_TEXT_MAX], tesc[128];
	const char *d = problem->detail[0] ? problem->detail
		: problem->subdetail;
	text_escape_str(detail, sizeof(detail), d[0] ? d : "no detail");
	text_escape_str(tesc, sizeof(tesc), problem->type[0] ? type : "?");
	sub[0] = '\0';
	if (problem->detail[0] && problem->subdetail[0]) {
		char e[ACME_TEXT_MAX];
		snprintf(sub, sizeof(sub), "; %s", text_escape_str(e,
			sizeof(e), problem->subdetail));
	}
	if (words)
		snprintf(buf, size, "%s: \"%s%s\" (%s)", words, detail, sub,
			tesc);
	else
		snprintf(buf, size, "the CA said \"%s%s\" (%s)", detail, sub,
			tesc);
	return buf;
}

long acme_json_retry_after(const char *value, long long now)
{
	if (!value)
		return -1;
	while (*value == ' ')
		value++;
	if (text_is_digit(*value)) {
		long v = 0;
		for (; text_is_digit(*value); value++) {
			if (v > 100000000)
				return -1;
			v = v * 10 + (*value - '0');
		}
		return *value == '\0' || *value == ' ' || *value == '\r' ? v
			: -1;
	}
	struct tm tm = {0};
	const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return -1;
	long long t = (long long)timegm(&tm);
	return t <= now ? 0 : (long)(t - now > 100000000 ? 100000000
		: t - now);
}
