/* SPDX-License-Identifier: MIT */
/*
 * probe.c: SMTP STARTTLS and direct TLS probes for `mta-stsd check`, on a
 * small thread pool. A thread pool rather than an event loop because the
 * probe is a short, strictly sequential dialogue (banner, EHLO, STARTTLS,
 * handshake) over a blocking GnuTLS session: written as straight-line code
 * with one deadline it stays small and obviously bounded, and a handful of
 * threads covers the few MX hosts a domain has.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checker/probe.h"
#include "util/clock.h"
#include "util/text.h"

#define PROBE_THREADS 8
#define SMTP_LINE_MAX 1000	/* RFC 5321 §4.5.3.1.5: 512; be lenient */
#define SMTP_REPLY_MAX 8192

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

/* The first line of a reply, escaped: it is the remote server's text. */
static void first_line(const char *text, char *out, size_t size)
{
	size_t n = strcspn(text, "\r\n");
	text_escape(out, size, text, n > 120 ? 120 : n);
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

void probe_run_all(struct probe **jobs, size_t count)
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
