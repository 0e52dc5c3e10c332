/* SPDX-License-Identifier: MIT */
/*
 * check.c: `mta-stsd check DOMAIN...`, the end-to-end checker.
 *
 * It looks at a live deployment the way a sending MTA does (RFC 8461 §3,
 * §4, §5) and says in plain words what works, what does not, and how to
 * fix it. The first half of this file is the report model (findings,
 * verdicts, human and JSON output, MX coverage) and is pure; the second
 * half does the lookups and probes and turns their results into findings.
 *
 * Concurrency, bounded at every step, in four stages:
 *   1. DNS: every question of every domain in flight at once in one
 *      libunbound context (resolve.c), bounded by --timeout;
 *   2. DNS for the MX hosts found, the same way;
 *   3. HTTPS: every policy fetched by one curl multi handle, at most
 *      FETCH_PARALLEL at a time, each bounded by --timeout (fetch.c);
 *   4. SMTP STARTTLS probes on a fixed pool of PROBE_THREADS threads.
 *      A thread pool rather than an event loop because the probe is a
 *      short, strictly sequential dialogue (banner, EHLO, STARTTLS,
 *      handshake) over a blocking GnuTLS session: written as straight-line
 *      code with one deadline it stays small and obviously bounded, and a
 *      handful of threads covers the few MX hosts a domain has.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "checker/check.h"
#include "config/config.h"
#include "util/diag.h"
#include "core/dnsname.h"
#include "checker/fetch.h"
#include "core/policy.h"
#include "checker/resolve.h"
#include "server/snapshot.h"
#include "config/state.h"
#include "tls/tls.h"
#include "core/txt.h"
#include "util/clock.h"
#include "util/text.h"

#define PROBE_THREADS 8
#define FETCH_PARALLEL 8
#define DEFAULT_TIMEOUT 10
#define MAX_TIMEOUT 300
#define DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"
#define SMTP_LINE_MAX 1000	/* RFC 5321 §4.5.3.1.5: 512; be lenient */
#define SMTP_REPLY_MAX 8192

/* RFC 8460 §4.3 result types. */
#define RT_FETCH "sts-policy-fetch-error"
#define RT_INVALID "sts-policy-invalid"
#define RT_WEBPKI "sts-webpki-invalid"
#define RT_STARTTLS "starttls-not-supported"
#define RT_HOST "certificate-host-mismatch"
#define RT_EXPIRED "certificate-expired"
#define RT_UNTRUSTED "certificate-not-trusted"
#define RT_VALIDATION "validation-failure"

/* =====================================================================
 * The report model (pure)
 * ===================================================================== */

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
	bool fail = false, discovery = false;
	for (size_t i = 0; i < d->count; i++) {
		const struct check_finding *f = &d->findings[i];
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
	return CHECK_VERDICT_READY;
}

const char *check_verdict_text(enum check_verdict verdict)
{
	switch (verdict) {
	case CHECK_VERDICT_READY:
		return "ready for enforce";
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

/* The length of the UTF-8 sequence at p, or 0 when it is not a valid one
 * or encodes a C1 control (U+0080 to U+009F, which terminals obey). */
static size_t utf8_printable(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	if (n == 0 || p[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return n;
}

/*
 * put_safe writes text that may hold what a remote server sent (an SMTP
 * banner, a Content-Type, a certificate name) with control bytes as \xNN:
 * an escape sequence must not reach the admin's terminal.
 */
static void put_safe(const char *text, FILE *out)
{
	for (const unsigned char *p = (const unsigned char *)text; *p;) {
		if (*p >= 0x20 && *p < 0x7f) {
			fputc(*p++, out);
			continue;
		}
		size_t n = *p >= 0x80 ? utf8_printable(p) : 0;
		if (n) {
			fwrite(p, 1, n, out);
			p += n;
		} else {
			fprintf(out, "\\x%02x", *p++);
		}
	}
}

void check_print(const struct check_domain *d, FILE *out, bool colour)
{
	put_safe(d->name, out);
	fputc('\n', out);
	for (size_t i = 0; i < d->count; i++) {
		const struct check_finding *f = &d->findings[i];
		if (colour)
			fprintf(out, "[%s%s\033[0m] ", mark_colour(f->mark),
				mark_text(f->mark));
		else
			fprintf(out, "[%s] ", mark_text(f->mark));
		put_safe(f->text, out);
		fputc('\n', out);
		if (f->advice) {
			fputs("         ", out);
			put_safe(f->advice, out);
			fputc('\n', out);
		}
	}
	if (d->out_of_memory)
		fprintf(out, "[ FAIL ] out of memory: some results were lost\n");
	fprintf(out, "verdict: %s\n", check_verdict_text(check_verdict(d)));
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

/* ---------------------------------------------------------------------
 * MX coverage (RFC 8461 §4.1)
 * --------------------------------------------------------------------- */

const char *check_mx_covering(const struct policy *policy, const char *host)
{
	for (size_t i = 0; i < policy->mx_count; i++)
		if (dnsname_matches(policy->mx[i], host))
			return policy->mx[i];
	return NULL;
}

const char *check_mx_near_miss(const struct policy *policy, const char *host)
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

void check_mx_line(const char *host, char *out, size_t size)
{
	size_t n = strlen(host);
	if (n && host[n - 1] == '.')
		n--;
	snprintf(out, size, "mx: %.*s", (int)n, host);
}

void check_mx_coverage(struct check_domain *d, const struct policy *policy,
	const char *const *hosts, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const char *pattern = check_mx_covering(policy, hosts[i]);
		if (pattern) {
			check_add(d, CHECK_OK, CHECK_AREA_MX, "mx-covered", NULL,
				hosts[i], "MX %s is covered by \"mx: %s\"",
				hosts[i], pattern);
			continue;
		}
		char line[DNSNAME_MAX + 8];
		check_mx_line(hosts[i], line, sizeof(line));
		check_add(d, CHECK_FAIL, CHECK_AREA_MX, "mx-not-covered",
			RT_VALIDATION, hosts[i],
			"MX %s is not covered by the policy", hosts[i]);
		const char *near = check_mx_near_miss(policy, hosts[i]);
		if (near)
			check_advise(d, "\"mx: %s\" matches exactly one label in "
				"front of %s, not %s (RFC 8461 §4.1), so under "
				"enforce senders refuse to deliver to it: add the "
				"line \"%s\" to the policy and publish a new id.",
				near, near + 2, hosts[i], line);
		else
			check_advise(d, "Under enforce senders refuse to "
				"deliver to %s (RFC 8461 §4.1): add the line "
				"\"%s\" to the policy and publish a new id.",
				hosts[i], line);
	}
	for (size_t p = 0; p < policy->mx_count; p++) {
		bool used = false;
		for (size_t i = 0; i < count && !used; i++)
			used = dnsname_matches(policy->mx[p], hosts[i]);
		if (!used)
			check_add(d, CHECK_INFO, CHECK_AREA_MX,
				"mx-pattern-unused", NULL, policy->mx[p],
				"\"mx: %s\" matches no MX host of %s (harmless; "
				"remove it if it is left over)", policy->mx[p],
				d->name);
	}
}

/* =====================================================================
 * Probes: SMTP STARTTLS and direct TLS, on a small thread pool
 * ===================================================================== */

enum probe_outcome {
	PROBE_NOT_RUN,
	PROBE_CONNECT,		/* no TCP connection */
	PROBE_TIMEOUT,		/* the dialogue took too long */
	PROBE_PROTOCOL,		/* the SMTP server said something unexpected */
	PROBE_NO_STARTTLS,	/* EHLO did not offer STARTTLS */
	PROBE_TLS_FAILED,	/* the handshake failed */
	PROBE_DONE,		/* handshake done; see tls */
};

struct probe {
	bool smtp;			/* false: TLS right after connect */
	const char *host;		/* SNI and the name to verify */
	unsigned port;
	const char *const *addresses;
	size_t address_count;
	const char *ca_file;
	unsigned timeout_s;

	enum probe_outcome outcome;
	char address[INET6_ADDRSTRLEN];	/* the one we talked to */
	char detail[300];		/* what went wrong, plain words */
	struct tls_probe_result tls;
};

static int left_ms(long long deadline)
{
	long long left = deadline - clock_now_ms();
	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* connect_to opens a TCP connection to address:port by deadline; -1 and
 * errno on failure (ETIMEDOUT when the deadline passed). */
static int connect_to(const char *address, unsigned port, long long deadline)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS)
			goto err;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n = poll(&pfd, 1, left_ms(deadline));
		if (n == 0)
			errno = ETIMEDOUT;
		if (n <= 0)
			goto err;
		int soerr = 0;
		socklen_t slen = sizeof(soerr);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen);
		if (soerr) {
			errno = soerr;
			goto err;
		}
	}
	/* GnuTLS waits with its own timeout; plain blocking I/O from here. */
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto err;
	return fd;
err:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

struct smtp_reply {
	int code;
	char text[SMTP_REPLY_MAX];
	size_t len;
};

/*
 * read_reply reads one SMTP reply (RFC 5321 §4.2: lines "ddd-..." then
 * "ddd ...") by deadline. Returns 0, or -1 with probe->outcome set.
 */
static int read_reply(int fd, long long deadline, struct smtp_reply *r,
	struct probe *p)
{
	r->len = 0;
	r->code = 0;
	size_t line_start = 0;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n = poll(&pfd, 1, left_ms(deadline));
		if (n == 0) {
			p->outcome = PROBE_TIMEOUT;
			return -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* One byte at a time: nothing past the reply may be read
		 * before the TLS handshake takes over the socket. */
		char c;
		ssize_t got = n < 0 ? -1 : recv(fd, &c, 1, 0);
		if (got <= 0) {
			p->outcome = PROBE_PROTOCOL;
			snprintf(p->detail, sizeof(p->detail), "the server "
				"closed the connection%s%s", got < 0 ? ": " : "",
				got < 0 ? strerror(errno) : "");
			return -1;
		}
		if (r->len + 1 >= sizeof(r->text) ||
				r->len - line_start > SMTP_LINE_MAX) {
			p->outcome = PROBE_PROTOCOL;
			snprintf(p->detail, sizeof(p->detail),
				"the server sent an overlong reply");
			return -1;
		}
		r->text[r->len++] = c;
		r->text[r->len] = '\0';
		if (c != '\n')
			continue;
		const char *line = r->text + line_start;
		size_t llen = r->len - line_start;
		line_start = r->len;
		if (llen < 5 || line[0] < '2' || line[0] > '5' ||
				line[1] < '0' || line[1] > '9' ||
				line[2] < '0' || line[2] > '9' ||
				(line[3] != ' ' && line[3] != '-' &&
				line[3] != '\r')) {
			p->outcome = PROBE_PROTOCOL;
			snprintf(p->detail, sizeof(p->detail),
				"the server sent a line that is not an SMTP "
				"reply");
			return -1;
		}
		if (line[3] != '-') {
			r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
				(line[2] - '0');
			return 0;
		}
	}
}

static int send_line(int fd, const char *line, struct probe *p)
{
	size_t len = strlen(line);
	while (len > 0) {
		ssize_t n = send(fd, line, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			p->outcome = PROBE_PROTOCOL;
			snprintf(p->detail, sizeof(p->detail), "cannot send to "
				"the server: %s", strerror(errno));
			return -1;
		}
		line += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Does an EHLO reply list the STARTTLS keyword (RFC 3207 §4)? */
static bool offers_starttls(const char *text)
{
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		if (n >= 12 && strncasecmp(line + 4, "STARTTLS", 8) == 0 &&
				(n == 12 || line[12] == '\r' || line[12] == ' '))
			return true;
		line += n + (end ? 1 : 0);
	}
	return false;
}

static void first_line(const char *text, char *out, size_t size)
{
	size_t n = strcspn(text, "\r\n");
	snprintf(out, size, "%.*s", (int)(n > 120 ? 120 : n), text);
}

/*
 * smtp_dialogue takes a fresh connection to the point where TLS starts:
 * banner, EHLO, STARTTLS (RFC 5321, RFC 3207). 0, or -1 with outcome set.
 */
static int smtp_dialogue(int fd, struct probe *p, long long deadline)
{
	struct smtp_reply *r = malloc(sizeof(*r));
	if (!r) {
		p->outcome = PROBE_PROTOCOL;
		snprintf(p->detail, sizeof(p->detail), "out of memory");
		return -1;
	}
	char shown[160], ehlo[300], me[256];
	int rc = -1;
	if (read_reply(fd, deadline, r, p) < 0)
		goto out;
	if (r->code != 220) {
		first_line(r->text, shown, sizeof(shown));
		p->outcome = PROBE_PROTOCOL;
		snprintf(p->detail, sizeof(p->detail), "the server greets "
			"with \"%s\" instead of 220", shown);
		goto out;
	}
	if (gethostname(me, sizeof(me)) < 0 || !strchr(me, '.'))
		snprintf(me, sizeof(me), "mta-stsd-check.invalid");
	me[sizeof(me) - 1] = '\0';
	snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", me);
	if (send_line(fd, ehlo, p) < 0 || read_reply(fd, deadline, r, p) < 0)
		goto out;
	if (r->code != 250) {
		first_line(r->text, shown, sizeof(shown));
		p->outcome = PROBE_PROTOCOL;
		snprintf(p->detail, sizeof(p->detail), "the server answers "
			"EHLO with \"%s\"", shown);
		goto out;
	}
	if (!offers_starttls(r->text)) {
		p->outcome = PROBE_NO_STARTTLS;
		goto out;
	}
	if (send_line(fd, "STARTTLS\r\n", p) < 0 ||
			read_reply(fd, deadline, r, p) < 0)
		goto out;
	if (r->code != 220) {
		first_line(r->text, shown, sizeof(shown));
		p->outcome = PROBE_NO_STARTTLS;
		snprintf(p->detail, sizeof(p->detail), "the server offers "
			"STARTTLS but answers it with \"%s\"", shown);
		goto out;
	}
	rc = 0;
out:
	free(r);
	return rc;
}

/* run_probe does one probe from connect to handshake; never longer than
 * its timeout. */
static void run_probe(struct probe *p)
{
	long long deadline = clock_now_ms() + (long long)p->timeout_s * 1000;
	int fd = -1;
	int err = 0;
	for (size_t i = 0; i < p->address_count && fd < 0; i++) {
		snprintf(p->address, sizeof(p->address), "%s", p->addresses[i]);
		fd = connect_to(p->addresses[i], p->port, deadline);
		if (fd < 0)
			err = errno;
		if (left_ms(deadline) == 0)
			break;
	}
	if (fd < 0) {
		p->outcome = err == ETIMEDOUT ? PROBE_TIMEOUT : PROBE_CONNECT;
		snprintf(p->detail, sizeof(p->detail), "%s",
			strerror(err ? err : EHOSTUNREACH));
		return;
	}
	if (p->smtp && smtp_dialogue(fd, p, deadline) < 0) {
		close(fd);
		return;
	}
	int left_s = (left_ms(deadline) + 999) / 1000;
	if (tls_client_probe(fd, p->host, p->ca_file,
			(unsigned)(left_s > 0 ? left_s : 1), &p->tls) < 0) {
		p->outcome = PROBE_TLS_FAILED;
		snprintf(p->detail, sizeof(p->detail), "%s", p->tls.error);
	} else {
		p->outcome = PROBE_DONE;
	}
	close(fd);
}

struct pool {
	struct probe **jobs;
	size_t count;
	atomic_size_t next;
};

static void *worker(void *arg)
{
	struct pool *pool = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&pool->next, 1);
		if (i >= pool->count)
			return NULL;
		run_probe(pool->jobs[i]);
	}
}

/* run_probes runs every job on at most PROBE_THREADS threads; when no
 * thread can be started, the calling thread does the work. */
static void run_probes(struct probe **jobs, size_t count)
{
	struct pool pool = { .jobs = jobs, .count = count };
	atomic_init(&pool.next, 0);
	pthread_t threads[PROBE_THREADS];
	size_t started = 0;
	size_t want = count < PROBE_THREADS ? count : PROBE_THREADS;
	while (started < want && pthread_create(&threads[started], NULL,
			worker, &pool) == 0)
		started++;
	if (started == 0)
		worker(&pool);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

/* =====================================================================
 * The run: lookups, fetches, probes, then the findings
 * ===================================================================== */

struct options {
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

struct mx_host {
	char *name;
	unsigned pref;
	struct resolve_answer a;
	struct resolve_answer aaaa;
	const char **addresses;		/* borrowed from a and aaaa */
	size_t address_count;
	struct probe probe;
};

/* Everything about one domain while it is checked. */
struct work {
	struct check_domain report;
	char name[DNSNAME_MAX + 1];
	char policy_host[DNSNAME_MAX + 16];
	struct resolve_answer txt, tlsrpt, mx, host_a, host_aaaa;
	const char **addresses;		/* of the policy host, borrowed */
	size_t address_count;
	struct mx_host *hosts;
	size_t host_count;
	bool implicit_mx;
	bool null_mx;
	struct fetch_result fetch;
	bool fetched;
	struct probe https_probe;
	struct policy policy;
	bool policy_valid;
	char dns_id[TXT_ID_MAX + 1];	/* "" unless one valid record */
	size_t sts_records;		/* TXT records starting v=STSv1 */
	/* -c: what mta-stsd serves for this domain */
	bool configured;
	char *served_body;
	size_t served_len;
	char expected_id[TXT_ID_MAX + 1];	/* "" when not known */
};

static void work_finish(struct work *w)
{
	check_domain_finish(&w->report);
	resolve_answer_finish(&w->txt);
	resolve_answer_finish(&w->tlsrpt);
	resolve_answer_finish(&w->mx);
	resolve_answer_finish(&w->host_a);
	resolve_answer_finish(&w->host_aaaa);
	free(w->addresses);
	for (size_t i = 0; i < w->host_count; i++) {
		free(w->hosts[i].name);
		resolve_answer_finish(&w->hosts[i].a);
		resolve_answer_finish(&w->hosts[i].aaaa);
		free(w->hosts[i].addresses);
	}
	free(w->hosts);
	fetch_result_finish(&w->fetch);
	policy_finish(&w->policy);
	free(w->served_body);
}

static bool lookup_failed(const struct resolve_answer *a)
{
	return a->status == RESOLVE_TIMEOUT || a->status == RESOLVE_SERVFAIL ||
		a->status == RESOLVE_REFUSED || a->status == RESOLVE_ERROR ||
		a->status == RESOLVE_PENDING;
}

static bool no_records(const struct resolve_answer *a)
{
	return a->status == RESOLVE_NODATA || a->status == RESOLVE_NXDOMAIN;
}

/* Collects the addresses of an A and an AAAA answer (borrowed). */
static int gather(const struct resolve_answer *a, const struct resolve_answer *aaaa,
	const char ***out, size_t *count)
{
	size_t n = (a->status == RESOLVE_OK ? a->count : 0) +
		(aaaa->status == RESOLVE_OK ? aaaa->count : 0);
	*out = NULL;
	*count = 0;
	if (n == 0)
		return 0;
	const char **list = calloc(n, sizeof(*list));
	if (!list)
		return -1;
	size_t k = 0;
	if (a->status == RESOLVE_OK)
		for (size_t i = 0; i < a->count; i++)
			list[k++] = a->records[i].text;
	if (aaaa->status == RESOLVE_OK)
		for (size_t i = 0; i < aaaa->count; i++)
			list[k++] = aaaa->records[i].text;
	*out = list;
	*count = k;
	return 0;
}

static int compare_pref(const void *x, const void *y)
{
	const struct resolve_record *a = x, *b = y;
	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	return strcmp(a->text, b->text);
}

/* Turns the MX answer into the list of hosts to check, best first. */
static int collect_mx(struct work *w)
{
	struct resolve_answer *mx = &w->mx;
	if (no_records(mx)) {
		/* RFC 5321 §5.1: no MX means the domain itself. */
		w->implicit_mx = true;
		w->hosts = calloc(1, sizeof(*w->hosts));
		if (!w->hosts || !(w->hosts[0].name = strdup(w->name)))
			return -1;
		w->host_count = 1;
		return 0;
	}
	if (mx->status != RESOLVE_OK)
		return 0;
	qsort(mx->records, mx->count, sizeof(*mx->records), compare_pref);
	w->hosts = calloc(mx->count, sizeof(*w->hosts));
	if (!w->hosts)
		return -1;
	for (size_t i = 0; i < mx->count; i++) {
		const char *name = mx->records[i].text;
		if (name[0] == '\0') {
			/* RFC 7505 null MX: no mail at all. */
			w->null_mx = true;
			continue;
		}
		bool seen = false;
		for (size_t j = 0; j < w->host_count && !seen; j++)
			seen = strcmp(w->hosts[j].name, name) == 0;
		if (seen)
			continue;
		w->hosts[w->host_count].name = strdup(name);
		if (!w->hosts[w->host_count].name)
			return -1;
		w->hosts[w->host_count++].pref = mx->records[i].pref;
	}
	return 0;
}

static const char *short_reason(const struct resolve_answer *a)
{
	if (a->status == RESOLVE_ERROR && a->error)
		return a->error;
	return resolve_status_text(a->status);
}

/* ---------------------------------------------------------------------
 * Findings, step by step, in the order they are printed
 * --------------------------------------------------------------------- */

static void suggest_id(const struct work *w, char out[TXT_ID_MAX + 1])
{
	if (w->expected_id[0])
		snprintf(out, TXT_ID_MAX + 1, "%s", w->expected_id);
	else if (w->fetch.policy_id && txt_id_is_valid(w->fetch.policy_id))
		snprintf(out, TXT_ID_MAX + 1, "%s", w->fetch.policy_id);
	else if (txt_id_bump(NULL, time(NULL), out) < 0)
		snprintf(out, TXT_ID_MAX + 1, "1");
}

/* Reports the items of a lint run as findings (errors fail, warnings
 * warn), naming where: "TXT record" or "policy line 3". */
static void report_diag(struct check_domain *r, const struct diag *d,
	enum check_area area, const char *code_error, const char *code_warning,
	const char *result_type, const char *what, bool lines)
{
	for (size_t i = 0; i < d->len; i++) {
		const struct diag_item *it = &d->items[i];
		if (it->severity == DIAG_NOTE)
			continue;
		bool error = it->severity == DIAG_ERROR;
		if (lines && it->line)
			check_add(r, error ? CHECK_FAIL : CHECK_WARN, area,
				error ? code_error : code_warning,
				error ? result_type : NULL, NULL,
				"%s line %u: %s", what, it->line,
				error ? "invalid" : "works, but could be better");
		else
			check_add(r, error ? CHECK_FAIL : CHECK_WARN, area,
				error ? code_error : code_warning,
				error ? result_type : NULL, NULL, "%s: %s", what,
				error ? "invalid" : "works, but could be better");
		check_set_detail(r, it->code);
		check_advise(r, "%s", it->message);
	}
}

static void check_txt(struct work *w)
{
	struct check_domain *r = &w->report;
	char name[DNSNAME_MAX + 16];
	snprintf(name, sizeof(name), "_mta-sts.%s", w->name);
	if (lookup_failed(&w->txt)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_DNS, "txt-lookup-failed",
			NULL, name, "TXT %s: %s", name, short_reason(&w->txt));
		check_advise(r, "The lookup failed, so nothing can be said "
			"about the record; senders whose lookups fail the same "
			"way skip MTA-STS: check the resolver and the zone's "
			"name servers.");
		w->report.dns_failed = true;
		return;
	}
	const struct resolve_record *sts = NULL;
	w->sts_records = 0;
	for (size_t i = 0; w->txt.status == RESOLVE_OK && i < w->txt.count; i++) {
		const struct resolve_record *rec = &w->txt.records[i];
		/* §3.1: records not starting "v=STSv1" are discarded. */
		if (rec->len >= 7 && memcmp(rec->text, "v=STSv1", 7) == 0) {
			w->sts_records++;
			sts = rec;
		}
	}
	char id[TXT_ID_MAX + 1];
	if (w->sts_records == 0) {
		suggest_id(w, id);
		check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-missing", NULL,
			name, "no MTA-STS TXT record at %s", name);
		check_advise(r, "Senders look for this record first and, "
			"without it, never fetch the policy%s (RFC 8461 §3.1): "
			"publish %s. IN TXT \"v=STSv1; id=%s\".",
			w->fetched && w->fetch.status == FETCH_OK &&
			w->fetch.http_status == 200 ? ", although it is served" :
			"", name, id);
		return;
	}
	if (w->sts_records > 1) {
		check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-multiple", NULL,
			name, "%zu TXT records at %s start with v=STSv1",
			w->sts_records, name);
		check_advise(r, "With more than one, senders treat the domain "
			"as having no policy (RFC 8461 §3.1): delete all but "
			"one, and keep the id of the current policy.");
		return;
	}
	if (memchr(sts->text, '\0', sts->len)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_TXT, "txt-invalid", NULL,
			name, "TXT %s: invalid", name);
		check_advise(r, "The record contains a NUL byte: publish "
			"\"v=STSv1; id=...\" in plain ASCII.");
		return;
	}
	struct diag d;
	diag_init(&d);
	struct txt_sts parsed = {0};
	int rc = txt_parse_sts(sts->text, &parsed, &d, NULL, 0);
	if (rc == 0) {
		snprintf(w->dns_id, sizeof(w->dns_id), "%s", parsed.id);
		if (w->txt.canonical)
			check_add(r, CHECK_OK, CHECK_AREA_TXT, "txt-ok", NULL,
				name, "TXT %s: \"%s\" (through CNAME %s)", name,
				sts->text, w->txt.canonical);
		else
			check_add(r, CHECK_OK, CHECK_AREA_TXT, "txt-ok", NULL,
				name, "TXT %s: \"%s\"", name, sts->text);
	}
	char what[DNSNAME_MAX + 32];
	snprintf(what, sizeof(what), "TXT %s", name);
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
static void report_https_cert(struct work *w, const char *url)
{
	struct check_domain *r = &w->report;
	const struct probe *p = &w->https_probe;
	const struct tls_probe_result *t = &p->tls;
	const char *host = w->policy_host;
	if (p->outcome == PROBE_DONE && t->host_mismatch) {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-cert-name",
			RT_WEBPKI, host, "the certificate of %s is for %s", host,
			t->names[0] ? t->names : "no DNS name");
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
			w->fetch.error ? w->fetch.error : "verification failed",
			host);
	}
}

static void check_https(struct work *w, const struct options *o)
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
		if (lookup_failed(&w->host_a) && lookup_failed(&w->host_aaaa)) {
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
				"policy-host-lookup-failed", RT_FETCH, host,
				"policy host %s: %s", host,
				short_reason(&w->host_a));
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
	switch (f->status) {
	case FETCH_OK:
		break;
	case FETCH_CONNECT:
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-connect",
			RT_FETCH, host, "cannot connect to %s port %u", host,
			o->https_port);
		check_advise(r, "%s — make sure the policy server listens on "
			"port %u of %s and that no firewall blocks it.",
			f->error ? f->error : "connection failed", o->https_port,
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
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-tls",
			RT_FETCH, host, "TLS with %s failed", host);
		check_advise(r, "%s — senders need TLS 1.2 or 1.3 with SNI %s "
			"(RFC 8461 §7.1, §7.2): serve a certificate for that "
			"name over TLS 1.2 or newer.",
			f->error ? f->error : "handshake failed", host);
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
			f->error ? f->error : "unknown error");
		return;
	}
	if (f->http_status >= 300 && f->http_status < 400) {
		check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS, "https-redirect",
			RT_FETCH, host, "%s redirects (HTTP %ld) to %s", url,
			f->http_status, f->redirect_url ? f->redirect_url :
			"(no Location)");
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
				f->content_type);
		else
			check_add(r, CHECK_FAIL, CHECK_AREA_HTTPS,
				"https-media-type", RT_INVALID, host,
				"the policy is served without a Content-Type");
		check_advise(r, "Senders check the media type and many reject "
			"anything but text/plain (RFC 8461 §3.2): serve the "
			"policy with \"Content-Type: text/plain\".");
	}
}

static void check_policy(struct work *w)
{
	struct check_domain *r = &w->report;
	const struct fetch_result *f = &w->fetch;
	if (!w->fetched || f->status != FETCH_OK || f->http_status != 200)
		return;
	struct diag d;
	diag_init(&d);
	int rc = policy_lint(f->body, f->body_len, NULL, &w->policy, &d);
	if (rc == 0) {
		w->policy_valid = true;
		check_add(r, CHECK_OK, CHECK_AREA_POLICY, "policy-ok", NULL,
			NULL, "policy valid: mode %s, %zu mx pattern%s, max_age "
			"%u (%u days)", policy_mode_name(w->policy.mode),
			w->policy.mx_count, w->policy.mx_count == 1 ? "" : "s",
			w->policy.max_age, w->policy.max_age / POLICY_DAY);
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
static void check_ids(struct work *w, const struct options *o)
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

static void check_mx(struct work *w)
{
	struct check_domain *r = &w->report;
	if (lookup_failed(&w->mx)) {
		check_add(r, CHECK_FAIL, CHECK_AREA_MX, "mx-lookup-failed", NULL,
			w->name, "MX %s: %s", w->name, short_reason(&w->mx));
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
	check_mx_coverage(r, &w->policy, names, w->host_count);
	free(names);
}

static void report_probe(struct work *w, struct mx_host *h,
	const struct options *o)
{
	struct check_domain *r = &w->report;
	const struct probe *p = &h->probe;
	const struct tls_probe_result *t = &p->tls;
	const char *host = h->name;
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
			"MX %s: no SMTP conversation on %s port %u", host,
			p->address, o->smtp_port);
		check_advise(r, "%s. If outgoing port %u is blocked where this "
			"check runs, run it elsewhere or use --no-smtp; "
			"otherwise make sure the MX accepts connections.",
			p->outcome == PROBE_TIMEOUT ? "No answer in time" :
			p->detail, o->smtp_port);
		return;
	case PROBE_PROTOCOL:
		check_add(r, CHECK_WARN, CHECK_AREA_SMTP, "smtp-protocol", NULL,
			host, "MX %s: unexpected SMTP dialogue", host);
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
			t->names[0] ? t->names : "no DNS name");
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

static void check_smtp(struct work *w, const struct options *o)
{
	struct check_domain *r = &w->report;
	if (o->no_smtp || (w->null_mx && w->host_count == 0))
		return;
	for (size_t i = 0; i < w->host_count; i++) {
		struct mx_host *h = &w->hosts[i];
		if (h->address_count == 0) {
			if (lookup_failed(&h->a) && lookup_failed(&h->aaaa)) {
				check_add(r, CHECK_WARN, CHECK_AREA_SMTP,
					"mx-lookup-failed", NULL, h->name,
					"MX %s: %s", h->name,
					short_reason(&h->a));
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

static void check_tlsrpt(struct work *w)
{
	struct check_domain *r = &w->report;
	char name[DNSNAME_MAX + 16];
	snprintf(name, sizeof(name), "_smtp._tls.%s", w->name);
	if (lookup_failed(&w->tlsrpt)) {
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-lookup-failed",
			NULL, name, "TXT %s: %s", name, short_reason(&w->tlsrpt));
		check_advise(r, "Senders whose lookups fail the same way send "
			"no reports: check the zone's name servers.");
		return;
	}
	const struct resolve_record *rec = NULL;
	size_t n = 0;
	for (size_t i = 0; w->tlsrpt.status == RESOLVE_OK &&
			i < w->tlsrpt.count; i++) {
		const struct resolve_record *x = &w->tlsrpt.records[i];
		if (x->len >= 10 && memcmp(x->text, "v=TLSRPTv1", 10) == 0) {
			n++;
			rec = x;
		}
	}
	if (n == 0) {
		check_add(r, CHECK_WARN, CHECK_AREA_TLSRPT, "tlsrpt-missing",
			NULL, name, "no TLS-RPT record at %s", name);
		check_advise(r, "Without it senders cannot tell you when TLS "
			"to your MX hosts fails (RFC 8460 §3): publish %s. IN "
			"TXT \"v=TLSRPTv1; rua=mailto:tls-reports@%s\".", name,
			w->name);
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
	bool nul = memchr(rec->text, '\0', rec->len) != NULL;
	if (!nul && txt_parse_tlsrpt(rec->text, &d, NULL, 0) == 0 &&
			d.warnings == 0) {
		check_add(r, CHECK_OK, CHECK_AREA_TLSRPT, "tlsrpt-ok", NULL,
			name, "TLS-RPT %s: \"%s\"", name, rec->text);
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

static void check_dnssec(struct work *w, const struct resolver *resolver,
	const struct options *o)
{
	struct check_domain *r = &w->report;
	if (!resolver_validates(resolver)) {
		check_add(r, CHECK_INFO, CHECK_AREA_DNSSEC, "dnssec-off", NULL,
			NULL, "DNSSEC: not validated (%s)", o->anchor_disabled ?
			"--trust-anchor none" : "no trust anchor: install "
			"dns-root-data or give --trust-anchor FILE");
		return;
	}
	const struct resolve_answer *answers[] = { &w->txt, &w->mx };
	const char *names[] = { "TXT", "MX" };
	for (size_t i = 0; i < 2; i++) {
		const struct resolve_answer *a = answers[i];
		if (lookup_failed(a) && a->dnssec != RESOLVE_DNSSEC_BOGUS)
			continue;
		if (a->dnssec == RESOLVE_DNSSEC_BOGUS) {
			check_add(r, CHECK_FAIL, CHECK_AREA_DNSSEC,
				"dnssec-bogus", NULL, a->name,
				"DNSSEC: the %s answer for %s is bogus",
				names[i], a->name);
			check_advise(r, "Validating resolvers answer SERVFAIL "
				"for it (%s), so their senders see no policy: "
				"fix the signatures or the DS record of the zone.",
				a->why_bogus ? a->why_bogus : "no reason given");
		} else {
			check_add(r, CHECK_INFO, CHECK_AREA_DNSSEC,
				a->dnssec == RESOLVE_DNSSEC_SECURE ?
				"dnssec-signed" : "dnssec-unsigned", NULL,
				a->name, "DNSSEC: %s %s is %s", names[i],
				a->name, resolve_dnssec_text(a->dnssec));
		}
	}
}

/* ---------------------------------------------------------------------
 * The stages
 * --------------------------------------------------------------------- */

/* Stage 1: the questions about each domain itself. */
static void ask_domain(struct resolver *res, struct work *w)
{
	char name[DNSNAME_MAX + 32];
	snprintf(name, sizeof(name), "_mta-sts.%s", w->name);
	resolve_submit(res, name, RESOLVE_TYPE_TXT, &w->txt);
	snprintf(name, sizeof(name), "_smtp._tls.%s", w->name);
	resolve_submit(res, name, RESOLVE_TYPE_TXT, &w->tlsrpt);
	resolve_submit(res, w->name, RESOLVE_TYPE_MX, &w->mx);
	resolve_submit(res, w->policy_host, RESOLVE_TYPE_A, &w->host_a);
	resolve_submit(res, w->policy_host, RESOLVE_TYPE_AAAA, &w->host_aaaa);
}

static bool all_timed_out(const struct work *w)
{
	const struct resolve_answer *a[] = { &w->txt, &w->tlsrpt, &w->mx,
		&w->host_a, &w->host_aaaa };
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (a[i]->status != RESOLVE_TIMEOUT &&
				a[i]->status != RESOLVE_ERROR)
			return false;
	return true;
}

/*
 * load_local reads -c: the policy body and the id mta-stsd would publish
 * for each checked domain. Read-only: ids come from the configuration or
 * from the state directory as the daemon left it; nothing is written.
 * Returns 0, or -1 after printing why.
 */
static int load_local(const char *path, struct work *works, size_t count)
{
	struct diag d;
	diag_init(&d);
	struct config *config = calloc(1, sizeof(*config));
	if (!config || config_load_file(path, config, &d) < 0) {
		diag_print(&d, stderr);
		diag_finish(&d);
		if (config)
			config_finish(config);
		free(config);
		fprintf(stderr, "mta-stsd check: %s: configuration invalid\n",
			path);
		return -1;
	}
	struct snapshot_options so = {
		.now = time(NULL),
		.use_state = false,
		.load_certificates = false,
	};
	struct snapshot *snap = snapshot_create(config, &so, &d);
	if (!snap) {
		diag_print(&d, stderr);
		diag_finish(&d);
		fprintf(stderr, "mta-stsd check: %s: configuration invalid\n",
			path);
		return -1;
	}
	diag_finish(&d);
	int rc = 0;
	for (size_t i = 0; i < count; i++) {
		struct work *w = &works[i];
		const struct snapshot_domain *sd = snapshot_find(snap, w->name);
		if (!sd)
			continue;
		w->configured = true;
		w->served_body = malloc(sd->body_len + 1);
		if (!w->served_body) {
			rc = -1;
			break;
		}
		memcpy(w->served_body, sd->body, sd->body_len);
		w->served_len = sd->body_len;
		/* A managed id derives from the policy (state_managed_id),
		 * so the snapshot knows it without any state directory. */
		snprintf(w->expected_id, sizeof(w->expected_id), "%s", sd->id);
	}
	snapshot_unref(snap);
	if (rc < 0)
		fprintf(stderr, "mta-stsd check: out of memory\n");
	return rc;
}

static void prepare_probe(struct probe *p, bool smtp, const char *host,
	unsigned port, const char **addresses, size_t count,
	const struct options *o)
{
	*p = (struct probe){
		.smtp = smtp,
		.host = host,
		.port = port,
		.addresses = addresses,
		.address_count = count,
		.ca_file = o->ca_file,
		.timeout_s = o->timeout_s,
	};
}

/*
 * run_checks does every lookup, fetch and probe for all domains, then
 * writes each domain's findings. Returns 0, or -1 on an internal error.
 */
static int run_checks(struct work *works, size_t count, const struct options *o)
{
	struct diag d;
	diag_init(&d);
	struct resolver *res = resolver_create(o->resolver, o->trust_anchor,
		&d);
	if (!res) {
		diag_print(&d, stderr);
		diag_finish(&d);
		return -1;
	}
	diag_finish(&d);
	unsigned wait_ms = o->timeout_s * 1000;

	/* 1. TXT, TLS-RPT, MX and the policy host of every domain. */
	for (size_t i = 0; i < count; i++)
		ask_domain(res, &works[i]);
	resolve_wait(res, wait_ms);

	/* 2. The addresses of every MX host. */
	for (size_t i = 0; i < count; i++) {
		struct work *w = &works[i];
		if (collect_mx(w) < 0 || gather(&w->host_a, &w->host_aaaa,
				&w->addresses, &w->address_count) < 0)
			goto err_memory;
		for (size_t j = 0; j < w->host_count; j++) {
			resolve_submit(res, w->hosts[j].name, RESOLVE_TYPE_A,
				&w->hosts[j].a);
			resolve_submit(res, w->hosts[j].name,
				RESOLVE_TYPE_AAAA, &w->hosts[j].aaaa);
		}
	}
	resolve_wait(res, wait_ms);

	/* 3. The policies. */
	struct fetch_request *rq = calloc(count, sizeof(*rq));
	struct fetch_result *rs = calloc(count, sizeof(*rs));
	size_t *which = calloc(count, sizeof(*which));
	if (!rq || !rs || !which) {
		free(rq);
		free(rs);
		free(which);
		goto err_memory;
	}
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		struct work *w = &works[i];
		for (size_t j = 0; j < w->host_count; j++)
			if (gather(&w->hosts[j].a, &w->hosts[j].aaaa,
					&w->hosts[j].addresses,
					&w->hosts[j].address_count) < 0) {
				free(rq);
				free(rs);
				free(which);
				goto err_memory;
			}
		if (w->address_count == 0)
			continue;
		rq[n] = (struct fetch_request){
			.host = w->policy_host,
			.port = o->https_port,
			.addresses = w->addresses,
			.address_count = w->address_count,
			.ca_file = o->ca_file,
			.timeout_s = o->timeout_s,
		};
		which[n++] = i;
	}
	fetch_policies(rq, rs, n, FETCH_PARALLEL);
	for (size_t k = 0; k < n; k++) {
		works[which[k]].fetch = rs[k];
		works[which[k]].fetched = true;
	}
	free(rq);
	free(rs);
	free(which);

	/* 4. STARTTLS on every MX host, and a TLS look at any policy host
	 * whose certificate failed, to tell why. */
	size_t jobs_cap = 0;
	for (size_t i = 0; i < count; i++)
		jobs_cap += works[i].host_count + 1;
	struct probe **jobs = calloc(jobs_cap ? jobs_cap : 1, sizeof(*jobs));
	if (!jobs)
		goto err_memory;
	size_t jobs_len = 0;
	for (size_t i = 0; i < count; i++) {
		struct work *w = &works[i];
		if (w->fetched && w->fetch.status == FETCH_CERT) {
			prepare_probe(&w->https_probe, false, w->policy_host,
				o->https_port, w->addresses, w->address_count,
				o);
			jobs[jobs_len++] = &w->https_probe;
		}
		for (size_t j = 0; j < w->host_count && !o->no_smtp; j++) {
			struct mx_host *h = &w->hosts[j];
			if (h->address_count == 0)
				continue;
			prepare_probe(&h->probe, true, h->name, o->smtp_port,
				h->addresses, h->address_count, o);
			jobs[jobs_len++] = &h->probe;
		}
	}
	run_probes(jobs, jobs_len);
	free(jobs);

	/* The findings, in the order senders meet them. */
	for (size_t i = 0; i < count; i++) {
		struct work *w = &works[i];
		if (all_timed_out(w)) {
			w->report.dns_failed = true;
			check_add(&w->report, CHECK_FAIL, CHECK_AREA_DNS,
				"dns-timeout", NULL, NULL, "DNS: no answer "
				"from %s within %u s", o->resolver ? o->resolver :
				"the system's resolvers", o->timeout_s);
			check_advise(&w->report, "Nothing could be looked up: "
				"check that the resolver is running and "
				"reachable, or give another with --resolver.");
			continue;
		}
		check_txt(w);
		check_https(w, o);
		check_policy(w);
		check_ids(w, o);
		check_mx(w);
		check_smtp(w, o);
		check_tlsrpt(w);
		check_dnssec(w, res, o);
	}
	resolver_destroy(res);
	return 0;

err_memory:
	resolver_destroy(res);
	fprintf(stderr, "mta-stsd check: out of memory\n");
	return -1;
}

/* ---------------------------------------------------------------------
 * Command line
 * --------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mta-stsd check [OPTIONS] DOMAIN...\n"
		"  -c, --config FILE        also compare with what mta-stsd "
		"serves from FILE\n"
		"      --resolver ADDR[@PORT]  ask this resolver (default: "
		"/etc/resolv.conf)\n"
		"      --trust-anchor FILE|none  DNSSEC root anchor (default: "
		DEFAULT_TRUST_ANCHOR " if present)\n"
		"      --ca-file FILE       extra trust anchors for HTTPS "
		"and SMTP\n"
		"      --https-port N       policy host port (default 443)\n"
		"      --smtp-port N        MX port (default 25)\n"
		"      --timeout SECONDS    per step (default %d)\n"
		"      --no-smtp            skip the STARTTLS probes\n"
		"      --json               one JSON document instead of text\n"
		"exit status: 0 passed, 1 warnings, 2 failures, 3 usage or "
		"internal error\n", DEFAULT_TIMEOUT);
}

static bool parse_uint(const char *s, unsigned min, unsigned max,
	unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < min || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

enum {
	OPT_RESOLVER = 256,
	OPT_CA_FILE,
	OPT_HTTPS_PORT,
	OPT_SMTP_PORT,
	OPT_TIMEOUT,
	OPT_NO_SMTP,
	OPT_JSON,
	OPT_TRUST_ANCHOR,
};

static int parse_options(int argc, char *argv[], struct options *o)
{
	static const struct option longs[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "resolver", required_argument, NULL, OPT_RESOLVER },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "https-port", required_argument, NULL, OPT_HTTPS_PORT },
		{ "smtp-port", required_argument, NULL, OPT_SMTP_PORT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "no-smtp", no_argument, NULL, OPT_NO_SMTP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "trust-anchor", required_argument, NULL, OPT_TRUST_ANCHOR },
		{ NULL, 0, NULL, 0 },
	};
	bool anchor_given = false;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_RESOLVER:
			o->resolver = optarg;
			break;
		case OPT_CA_FILE:
			if (access(optarg, R_OK) < 0) {
				fprintf(stderr, "mta-stsd check: --ca-file %s: "
					"%s\n", optarg, strerror(errno));
				return -1;
			}
			o->ca_file = optarg;
			break;
		case OPT_HTTPS_PORT:
		case OPT_SMTP_PORT:
			if (!parse_uint(optarg, 1, 65535, opt == OPT_HTTPS_PORT ?
					&o->https_port : &o->smtp_port)) {
				fprintf(stderr, "mta-stsd check: %s: not a port "
					"(1-65535)\n", optarg);
				return -1;
			}
			break;
		case OPT_TIMEOUT:
			if (!parse_uint(optarg, 1, MAX_TIMEOUT, &o->timeout_s)) {
				fprintf(stderr, "mta-stsd check: --timeout %s: "
					"give 1 to %d seconds\n", optarg,
					MAX_TIMEOUT);
				return -1;
			}
			break;
		case OPT_NO_SMTP:
			o->no_smtp = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TRUST_ANCHOR:
			anchor_given = true;
			o->anchor_disabled = strcmp(optarg, "none") == 0;
			o->trust_anchor = o->anchor_disabled ? NULL : optarg;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!anchor_given && access(DEFAULT_TRUST_ANCHOR, R_OK) == 0)
		o->trust_anchor = DEFAULT_TRUST_ANCHOR;
	if (optind >= argc) {
		fprintf(stderr, "mta-stsd check: name at least one domain\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

int check_command(int argc, char *argv[])
{
	struct options o = {
		.https_port = 443,
		.smtp_port = 25,
		.timeout_s = DEFAULT_TIMEOUT,
	};
	int prc = parse_options(argc, argv, &o);
	if (prc != 0)
		return prc > 0 ? CHECK_EXIT_OK : CHECK_EXIT_USAGE;

	size_t count = (size_t)(argc - optind);
	struct work *works = calloc(count, sizeof(*works));
	if (!works) {
		fprintf(stderr, "mta-stsd check: out of memory\n");
		return CHECK_EXIT_USAGE;
	}
	int rc = CHECK_EXIT_USAGE;
	size_t ready = 0;
	for (; ready < count; ready++) {
		struct work *w = &works[ready];
		const char *arg = argv[optind + (int)ready];
		policy_init(&w->policy);
		if (dnsname_normalize(arg, false, w->name, sizeof(w->name)) < 0) {
			enum dnsname_problem p = dnsname_check(arg, false);
			fprintf(stderr, "mta-stsd check: %s: not a domain name "
				"(%s)\n", arg, dnsname_problem_text(p));
			ready++;
			goto out;
		}
		snprintf(w->policy_host, sizeof(w->policy_host), "mta-sts.%s",
			w->name);
		if (check_domain_init(&w->report, w->name) < 0) {
			fprintf(stderr, "mta-stsd check: out of memory\n");
			ready++;
			goto out;
		}
	}
	if (tls_init() < 0)
		goto out;
	if (o.config && load_local(o.config, works, count) < 0)
		goto out_tls;
	if (run_checks(works, count, &o) < 0)
		goto out_tls;

	struct check_domain *reports = calloc(count, sizeof(*reports));
	if (!reports) {
		fprintf(stderr, "mta-stsd check: out of memory\n");
		goto out_tls;
	}
	for (size_t i = 0; i < count; i++)
		reports[i] = works[i].report;
	if (o.json) {
		char *text = check_json(reports, count);
		if (!text) {
			fprintf(stderr, "mta-stsd check: out of memory\n");
			free(reports);
			goto out_tls;
		}
		printf("%s\n", text);
		free(text);
	} else {
		bool colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
		for (size_t i = 0; i < count; i++) {
			if (i)
				putchar('\n');
			check_print(&reports[i], stdout, colour);
		}
	}
	rc = check_exit_status(reports, count);
	free(reports);
	if (fflush(stdout) != 0)
		rc = CHECK_EXIT_USAGE;
out_tls:
	tls_finish();
out:
	for (size_t i = 0; i < ready; i++)
		work_finish(&works[i]);
	free(works);
	return rc;
}
