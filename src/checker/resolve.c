/* SPDX-License-Identifier: MIT */
/*
 * resolve.c: DNS lookups for `check`, the only libunbound user.
 *
 * One ub_ctx per run, in threaded async mode (ub_ctx_async(ctx, 1)): the
 * lookups of every domain of a batch are in flight at once and libunbound
 * itself bounds the work it does per query. resolve_wait polls ub_fd()
 * against one deadline, so a resolver that never answers costs exactly the
 * timeout, never more; what is left is cancelled with ub_cancel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unbound.h>

#include "util/diag.h"
#include "checker/resolve.h"
#include "util/clock.h"

struct resolver {
	struct ub_ctx *ctx;
	bool validates;
	struct resolve_answer **pending;
	size_t pending_len;
	size_t pending_cap;
};

static bool valid_address(const char *address)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *at = strchr(address, '@');
	size_t n = at ? (size_t)(at - address) : strlen(address);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, address, n);
	host[n] = '\0';
	unsigned char buf[16];
	if (inet_pton(AF_INET, host, buf) != 1 &&
			inet_pton(AF_INET6, host, buf) != 1)
		return false;
	if (!at)
		return true;
	char *end;
	errno = 0;
	unsigned long port = strtoul(at + 1, &end, 10);
	return at[1] >= '0' && at[1] <= '9' && *end == '\0' && errno == 0 &&
		port >= 1 && port <= 65535;
}

struct resolver *resolver_create(const char *address, const char *trust_anchor,
	struct diag *d)
{
	struct resolver *r = calloc(1, sizeof(*r));
	if (!r) {
		diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory",
			"out of memory");
		return NULL;
	}
	r->ctx = ub_ctx_create();
	if (!r->ctx) {
		diag_add(d, DIAG_ERROR, NULL, 0, "resolver",
			"cannot create a DNS resolver context");
		goto err;
	}
	int rc;
	if (address) {
		if (!valid_address(address)) {
			diag_add(d, DIAG_ERROR, NULL, 0, "resolver-address",
				"--resolver %s: not an address — give an IPv4 "
				"or IPv6 address, optionally with @PORT, e.g. "
				"127.0.0.1@5353", address);
			goto err;
		}
		rc = ub_ctx_set_fwd(r->ctx, address);
	} else {
		rc = ub_ctx_resolvconf(r->ctx, NULL);
	}
	if (rc != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, "resolver",
			"%s: cannot use this resolver: %s",
			address ? address : "/etc/resolv.conf", ub_strerror(rc));
		goto err;
	}
	/* A forwarder on loopback (systemd-resolved, a local unbound, the
	 * test world) is a normal set-up, not a mistake to protect from. */
	static const char *const options[][2] = {
		{ "do-not-query-localhost:", "no" },
		/* No val-permissive-mode: with it, libunbound marks a bogus
		 * answer as neither secure nor bogus, so broken signatures
		 * looked "unsigned". Without it a bogus answer has bogus set
		 * and why_bogus, and still its data. */
	};
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		rc = ub_ctx_set_option(r->ctx, options[i][0], options[i][1]);
		if (rc != 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, "resolver",
				"cannot set %s %s: %s", options[i][0],
				options[i][1], ub_strerror(rc));
			goto err;
		}
	}
	if (trust_anchor) {
		rc = ub_ctx_add_ta_file(r->ctx, trust_anchor);
		if (rc != 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, "trust-anchor",
				"%s: cannot load the DNSSEC trust anchor: %s",
				trust_anchor, ub_strerror(rc));
			goto err;
		}
		r->validates = true;
	}
	rc = ub_ctx_async(r->ctx, 1);
	if (rc != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, "resolver",
			"cannot start the DNS resolver: %s", ub_strerror(rc));
		goto err;
	}
	/* (After the settings: this finalises the context.)
	 * libunbound answers RFC 6761 names such as .test from built-in
	 * local zones; a checker asks the resolver about every name, so a
	 * test or staging world under .test can be checked too. */
	rc = ub_ctx_zone_add(r->ctx, "test.", "nodefault");
	if (rc != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, "resolver",
			"cannot release the .test zone: %s", ub_strerror(rc));
		goto err;
	}
	return r;
err:
	resolver_destroy(r);
	return NULL;
}

void resolver_destroy(struct resolver *resolver)
{
	if (!resolver)
		return;
	for (size_t i = 0; i < resolver->pending_len; i++) {
		ub_cancel(resolver->ctx, resolver->pending[i]->async_id);
		resolver->pending[i]->status = RESOLVE_ERROR;
		resolver->pending[i]->owner = NULL;
	}
	free(resolver->pending);
	if (resolver->ctx)
		ub_ctx_delete(resolver->ctx);
	free(resolver);
}

bool resolver_validates(const struct resolver *resolver)
{
	return resolver->validates;
}

static void forget(struct resolver *r, struct resolve_answer *a)
{
	for (size_t i = 0; i < r->pending_len; i++) {
		if (r->pending[i] == a) {
			r->pending[i] = r->pending[--r->pending_len];
			break;
		}
	}
	a->owner = NULL;
}

/*
 * wire_name turns an uncompressed wire-format name (as libunbound hands
 * rdata) into lower-case text without the final dot; bytes outside
 * letters, digits, '-' and '_' are written \DDD. Returns the number of
 * wire bytes used, or 0 when the name is malformed. out has NAME_TEXT_MAX.
 */
#define NAME_TEXT_MAX (255 * 4 + 1)
static size_t wire_name(const unsigned char *p, size_t len, char *out)
{
	size_t i = 0, o = 0;
	while (i < len) {
		unsigned n = p[i++];
		if (n == 0) {
			out[o] = '\0';
			return i;
		}
		if (n > 63 || i + n > len)
			return 0;
		if (o)
			out[o++] = '.';
		for (unsigned k = 0; k < n; k++) {
			unsigned char c = p[i + k];
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
			if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
					c == '-' || c == '_' || c == '*') {
				out[o++] = (char)c;
			} else {
				o += (size_t)sprintf(out + o, "\\%03u", c);
			}
		}
		i += n;
		if (o > NAME_TEXT_MAX - 5 * 64)
			return 0;
	}
	return 0;
}

/* parse_record converts one rdata into rec. 0, or -1 when malformed. */
static int parse_record(int type, const unsigned char *p, size_t len,
	struct resolve_record *rec)
{
	if (type == RESOLVE_TYPE_TXT) {
		/* RFC 8461 §3.1: strings are joined without spaces. */
		rec->text = malloc(len + 1);
		if (!rec->text)
			return -1;
		size_t i = 0, o = 0;
		while (i < len) {
			size_t n = p[i++];
			if (i + n > len)
				return -1;
			memcpy(rec->text + o, p + i, n);
			o += n;
			i += n;
		}
		rec->text[o] = '\0';
		rec->len = o;
		return 0;
	}
	if (type == RESOLVE_TYPE_MX) {
		char name[NAME_TEXT_MAX];
		if (len < 3 || wire_name(p + 2, len - 2, name) == 0)
			return -1;
		rec->pref = (unsigned)p[0] << 8 | p[1];
		rec->text = strdup(name);
		if (!rec->text)
			return -1;
		rec->len = strlen(name);
		return 0;
	}
	char text[INET6_ADDRSTRLEN];
	if (type == RESOLVE_TYPE_A && len == 4)
		inet_ntop(AF_INET, p, text, sizeof(text));
	else if (type == RESOLVE_TYPE_AAAA && len == 16)
		inet_ntop(AF_INET6, p, text, sizeof(text));
	else
		return -1;
	rec->text = strdup(text);
	if (!rec->text)
		return -1;
	rec->len = strlen(text);
	return 0;
}

static void fill(struct resolve_answer *a, struct ub_result *res)
{
	a->ttl = res->ttl > 0 ? (unsigned)res->ttl : 0;
	if (res->canonname && strcmp(res->canonname, res->qname) != 0) {
		a->canonical = strdup(res->canonname);
		size_t n = a->canonical ? strlen(a->canonical) : 0;
		if (n > 1 && a->canonical[n - 1] == '.')
			a->canonical[n - 1] = '\0';
	}
	if (res->secure)
		a->dnssec = RESOLVE_DNSSEC_SECURE;
	else if (res->bogus)
		a->dnssec = RESOLVE_DNSSEC_BOGUS;
	else if (a->owner && a->owner->validates)
		a->dnssec = RESOLVE_DNSSEC_INSECURE;
	if (res->why_bogus)
		a->why_bogus = strdup(res->why_bogus);

	if (res->havedata) {
		size_t n = 0;
		while (res->data[n])
			n++;
		a->records = calloc(n ? n : 1, sizeof(*a->records));
		if (!a->records) {
			a->status = RESOLVE_ERROR;
			a->error = strdup("out of memory");
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (parse_record(a->type,
					(const unsigned char *)res->data[i],
					(size_t)res->len[i],
					&a->records[a->count]) < 0) {
				free(a->records[a->count].text);
				a->records[a->count].text = NULL;
				continue;
			}
			a->count++;
		}
		a->status = a->count ? RESOLVE_OK : RESOLVE_ERROR;
		if (!a->count)
			a->error = strdup("malformed records in the answer");
		return;
	}
	if (res->rcode == 0)
		a->status = RESOLVE_NODATA;
	else if (res->nxdomain || res->rcode == 3)
		a->status = RESOLVE_NXDOMAIN;
	else if (res->rcode == 2)
		a->status = RESOLVE_SERVFAIL;
	else
		a->status = RESOLVE_REFUSED;
}

static void callback(void *data, int err, struct ub_result *res)
{
	struct resolve_answer *a = data;
	struct resolver *r = a->owner;
	if (err != 0 || !res) {
		a->status = RESOLVE_ERROR;
		a->error = strdup(ub_strerror(err));
	} else {
		fill(a, res);
	}
	ub_resolve_free(res);
	if (r)
		forget(r, a);
}

int resolve_submit(struct resolver *resolver, const char *name, int type,
	struct resolve_answer *out)
{
	*out = (struct resolve_answer){
		.type = type,
		.status = RESOLVE_ERROR,
		.async_id = -1,
	};
	out->name = strdup(name);
	if (!out->name) {
		out->error = strdup("out of memory");
		return -1;
	}
	if (resolver->pending_len == resolver->pending_cap) {
		size_t cap = resolver->pending_cap ? resolver->pending_cap * 2 : 16;
		struct resolve_answer **p = realloc(resolver->pending,
			cap * sizeof(*p));
		if (!p) {
			out->error = strdup("out of memory");
			return -1;
		}
		resolver->pending = p;
		resolver->pending_cap = cap;
	}
	out->status = RESOLVE_PENDING;
	out->owner = resolver;
	resolver->pending[resolver->pending_len++] = out;
	int rc = ub_resolve_async(resolver->ctx, name, type, 1, out, callback,
		&out->async_id);
	if (rc != 0) {
		forget(resolver, out);
		out->status = RESOLVE_ERROR;
		out->error = strdup(ub_strerror(rc));
		return -1;
	}
	return 0;
}

int resolve_wait(struct resolver *resolver, unsigned timeout_ms)
{
	long long deadline = clock_now_ms() + timeout_ms;
	int fd = ub_fd(resolver->ctx);
	int result = 0;
	while (resolver->pending_len > 0) {
		long long left = deadline - clock_now_ms();
		if (left <= 0)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR) {
			result = -1;
			break;
		}
		if (n > 0 && ub_process(resolver->ctx) != 0) {
			result = -1;
			break;
		}
	}
	/* Whatever is left missed the deadline (or the resolver broke). */
	while (resolver->pending_len > 0) {
		struct resolve_answer *a = resolver->pending[0];
		ub_cancel(resolver->ctx, a->async_id);
		forget(resolver, a);
		a->status = result < 0 ? RESOLVE_ERROR : RESOLVE_TIMEOUT;
		if (result < 0)
			a->error = strdup("the resolver stopped working");
	}
	return result;
}

void resolve_answer_finish(struct resolve_answer *answer)
{
	if (!answer)
		return;
	if (answer->owner)
		forget(answer->owner, answer);
	for (size_t i = 0; i < answer->count; i++)
		free(answer->records[i].text);
	free(answer->records);
	free(answer->name);
	free(answer->canonical);
	free(answer->why_bogus);
	free(answer->error);
	*answer = (struct resolve_answer){0};
}

const char *resolve_status_text(enum resolve_status status)
{
	switch (status) {
	case RESOLVE_PENDING:
		return "no answer yet";
	case RESOLVE_OK:
		return "answered";
	case RESOLVE_NODATA:
		return "no record of this type";
	case RESOLVE_NXDOMAIN:
		return "name does not exist (NXDOMAIN)";
	case RESOLVE_SERVFAIL:
		return "resolver failed (SERVFAIL)";
	case RESOLVE_REFUSED:
		return "resolver refused the query";
	case RESOLVE_TIMEOUT:
		return "no answer in time";
	case RESOLVE_ERROR:
		return "lookup failed";
	}
	return "?";
}

const char *resolve_dnssec_text(enum resolve_dnssec dnssec)
{
	switch (dnssec) {
	case RESOLVE_DNSSEC_OFF:
		return "not validated";
	case RESOLVE_DNSSEC_INSECURE:
		return "unsigned";
	case RESOLVE_DNSSEC_SECURE:
		return "signed and validated";
	case RESOLVE_DNSSEC_BOGUS:
		return "bogus";
	}
	return "?";
}

bool resolve_answer_failed(const struct resolve_answer *a)
{
	return a->status == RESOLVE_TIMEOUT || a->status == RESOLVE_SERVFAIL ||
		a->status == RESOLVE_REFUSED || a->status == RESOLVE_ERROR ||
		a->status == RESOLVE_PENDING;
}

bool resolve_answer_empty(const struct resolve_answer *a)
{
	return a->status == RESOLVE_NODATA || a->status == RESOLVE_NXDOMAIN;
}

const char *resolve_answer_reason(const struct resolve_answer *a)
{
	if (a->status == RESOLVE_ERROR && a->error)
		return a->error;
	return resolve_status_text(a->status);
}
