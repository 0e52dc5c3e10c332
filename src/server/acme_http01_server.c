/* SPDX-License-Identifier: MIT */
/*
 * acme_http01_server.c: a deliberately tiny HTTP/1.x responder for the
 * http-01 challenge, on its own thread. It reads one request head (at
 * most REQUEST_MAX bytes within REQUEST_SECONDS), answers, and closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acme/acme_http01.h"
#include "server/acme_http01_server.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/text.h"

#define REQUEST_MAX 4096
#define REQUEST_SECONDS 5

struct acme_http01_server {
	pthread_t thread;
	int fd;
	int stop_fd;
};

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

/* Reads the request head into buf; its length, or 0 on timeout/close. */
static size_t read_head(int fd, int stop_fd, char *buf, size_t size)
{
	long long deadline = clock_now_ms() + REQUEST_SECONDS * 1000;
	size_t len = 0;
	while (len + 1 < size) {
		long long left = deadline - clock_now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			{ .fd = stop_fd, .events = POLLIN } };
		if (poll(p, 2, (int)left) <= 0 || p[1].revents)
			return 0;
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return len;
	}
	return 0;
}

static void answer(int fd, int stop_fd)
{
	char buf[REQUEST_MAX], ka[1024], out[1400];
	if (!read_head(fd, stop_fd, buf, sizeof(buf)))
		return;
	static const char get[] = "GET " ACME_HTTP01_PREFIX;
	const char *token = buf + sizeof(get) - 1;
	size_t len = strncmp(buf, get, sizeof(get) - 1) == 0 ?
		strcspn(token, " ?\r\n") : 0;
	char t[260];
	int n;
	if (len && len < sizeof(t) &&
	    acme_http01_token_is_valid(token, len)) {
		memcpy(t, token, len);
		t[len] = '\0';
	} else {
		len = 0;
	}
	if (len && acme_http01_lookup(t, ka, sizeof(ka))) {
		n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n"
			"Content-Type: application/octet-stream\r\n"
			"Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
			strlen(ka), ka);
		log_debug("acme: answering an http-01 validation");
	} else {
		n = snprintf(out, sizeof(out), "HTTP/1.1 404 Not Found\r\n"
			"Content-Length: 0\r\nConnection: close\r\n\r\n");
	}
	if (n > 0 && (size_t)n < sizeof(out))
		send_all(fd, out, (size_t)n);
}

static void *thread_main(void *arg)
{
	struct acme_http01_server *s = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN },
			{ .fd = s->stop_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		answer(c, s->stop_fd);
		close(c);
	}
	return NULL;
}

struct acme_http01_server *acme_http01_server_start(int fd)
{
	struct acme_http01_server *s = calloc(1, sizeof(*s));
	if (!s) {
		log_error("acme: http-01: out of memory");
		close(fd);
		return NULL;
	}
	s->fd = fd;
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int flags = fcntl(fd, F_GETFL);
	if (s->stop_fd < 0 || flags < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		log_error_errno("acme: http-01: cannot set up the listener");
		goto fail;
	}
	int err = pthread_create(&s->thread, NULL, thread_main, s);
	if (err) {
		log_error("acme: http-01: cannot start its thread: %s",
			strerror(err));
		goto fail;
	}
	return s;
fail:
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	close(fd);
	free(s);
	return NULL;
}

void acme_http01_server_stop(struct acme_http01_server *s)
{
	if (!s)
		return;
	uint64_t one = 1;
	if (write(s->stop_fd, &one, sizeof(one)) < 0)
		log_warn_errno("acme: http-01: cannot stop its thread");
	pthread_join(s->thread, NULL);
	close(s->stop_fd);
	close(s->fd);
	free(s);
}
