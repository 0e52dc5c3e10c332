/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/http.h"
#include "util/log.h"
#include "core/route.h"
#include "server/accesslog.h"
#include "server/metrics.h"
#include "server/snapshot.h"
#include "server/strict.h"
#include "tls/handshake.h"
#include "tls/store.h"
#include "util/clock.h"
#include "util/text.h"

enum error_response {
	ERROR_BAD_REQUEST,
	ERROR_NOT_FOUND,
	ERROR_METHOD_NOT_ALLOWED,
	ERROR_MISDIRECTED,
	ERROR_INTERNAL,
	ERROR_COUNT,
};

struct http_server {
	struct MHD_Daemon **daemons;
	size_t daemon_count;

	/* The snapshot new connections and new requests get. Only the main
	 * thread replaces it; the lock keeps a connection from taking a
	 * reference on a snapshot while it is being released. */
	pthread_mutex_t lock;
	struct snapshot *current;

	struct MHD_Response *errors[ERROR_COUNT];
	atomic_bool access_log;
	atomic_bool access_log_json;
	struct metrics *metrics;
	/* Requests in progress: what a stop waits for. */
	atomic_uint busy;

	/* Every open connection, for the reaper. libmicrohttpd cannot close
	 * a connection from outside, but shutdown() on its socket ends it,
	 * and the close notification that unlinks it comes before the
	 * socket is closed, so an fd in this list is never another's. */
	pthread_mutex_t connections_lock;
	struct connection *connections;
	pthread_cond_t reaper_wake;
	pthread_t reaper;
	bool reaper_started;
	bool stopping;			/* under connections_lock */
	long long header_timeout_ms;
	long long max_age_ms;
};

/*
 * What the server keeps of a connection. The snapshot of its handshake is
 * held only until the handshake ends: each request then takes the snapshot
 * current when it arrives and drops it when answered, so a slow or
 * long-lived connection pins no old snapshot and a keep-alive connection
 * sees a reload at its next request.
 */
struct connection {
	struct connection *prev, *next;	/* under connections_lock */
	int fd;
	long long opened_ms;
	/* When the next request (header and any body) must be complete; 0
	 * while one is being answered. Set by the connection's thread, read
	 * by the reaper. */
	_Atomic long long header_deadline_ms;
	bool cut;			/* shut down by the reaper */

	struct snapshot *handshake;	/* until the handshake ends */
	struct tls_binding binding;
	/* The policy host the handshake chose by SNI, looked up again in
	 * each request's snapshot. */
	char host[ROUTE_HOST_MAX + 1];
	struct snapshot *request;	/* while a request is in progress */
};

/* The connection's own record, or NULL. */
static struct connection *connection_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? info->socket_context : NULL;
}

static const struct {
	unsigned status;
	const char *body;
} error_table[ERROR_COUNT] = {
	[ERROR_BAD_REQUEST] = { MHD_HTTP_BAD_REQUEST, "bad request\n" },
	[ERROR_NOT_FOUND] = { MHD_HTTP_NOT_FOUND, "not found\n" },
	[ERROR_METHOD_NOT_ALLOWED] = { MHD_HTTP_METHOD_NOT_ALLOWED,
		"method not allowed\n" },
	[ERROR_MISDIRECTED] = { 421, "misdirected request\n" },
	[ERROR_INTERNAL] = { MHD_HTTP_INTERNAL_SERVER_ERROR,
		"internal server error\n" },
};

static struct MHD_Response *text_response(const char *body, size_t len)
{
	/* PERSISTENT: the bytes live as long as the response (static text or
	 * the snapshot's rendered policy), so nothing is copied per request. */
	struct MHD_Response *r = MHD_create_response_from_buffer(len,
		(void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return NULL;
	/* Bare "text/plain": some senders compare the header exactly
	 * (MTA-STS-NOTES, conservative profile). */
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
			"text/plain") != MHD_YES) {
		MHD_destroy_response(r);
		return NULL;
	}
	return r;
}

static void destroy_response(void *response)
{
	MHD_destroy_response(response);
}

/*
 * build_responses prepares the answer of every domain of snap once, so a
 * request only picks a pointer. The policy id travels in a header so that a
 * checker can tell a stale TXT record from the served policy. A domain a
 * reload reused has its answer already; it goes with the domain.
 */
static int build_responses(struct snapshot *snap)
{
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		if (sd->response)
			continue;
		struct MHD_Response *r = text_response(sd->body, sd->body_len);
		if (r && MHD_add_response_header(r, "MTA-STS-Policy-Id",
				sd->id) != MHD_YES) {
			MHD_destroy_response(r);
			r = NULL;
		}
		if (!r) {
			log_error("%s: cannot build the response: out of memory",
				sd->host);
			return -1;
		}
		sd->response_destroy = destroy_response;
		sd->response = r;
	}
	return 0;
}

/* The next request is due request_header_timeout from now. */
static void start_header_clock(struct http_server *server,
	struct connection *conn)
{
	atomic_store(&conn->header_deadline_ms,
		clock_now_ms() + server->header_timeout_ms);
}

static void link_connection(struct http_server *server,
	struct connection *conn)
{
	pthread_mutex_lock(&server->connections_lock);
	conn->next = server->connections;
	if (conn->next)
		conn->next->prev = conn;
	server->connections = conn;
	pthread_mutex_unlock(&server->connections_lock);
}

static void unlink_connection(struct http_server *server,
	struct connection *conn)
{
	pthread_mutex_lock(&server->connections_lock);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		server->connections = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	pthread_mutex_unlock(&server->connections_lock);
}

/* Ends the request in progress, if any: its snapshot may go now. */
static void end_request(struct http_server *server, struct connection *conn)
{
	if (!conn || !conn->request)
		return;
	snapshot_unref(conn->request);
	conn->request = NULL;
	atomic_fetch_sub(&server->busy, 1);
}

/*
 * drop_handshake lets the handshake's snapshot go once the chosen host is
 * copied, with the binding that pointed into it (GnuTLS gets no chain from
 * it any more). It runs when the handshake is over, or at the latest when
 * the first request line arrives.
 */
static void drop_handshake(struct connection *conn)
{
	if (!conn->handshake)
		return;
	const struct snapshot_domain *sd = conn->binding.selected;
	if (sd)
		snprintf(conn->host, sizeof(conn->host), "%s", sd->host);
	conn->binding.store = NULL;
	conn->binding.selected = NULL;
	snapshot_unref(conn->handshake);
	conn->handshake = NULL;
}

static void on_established(struct tls_binding *binding)
{
	drop_handshake((struct connection *)((char *)binding -
		offsetof(struct connection, binding)));
}

/*
 * begin_request runs when a request line has arrived: from then on the
 * request is in progress (a stop waits for it), and it is answered from
 * the snapshot current now.
 */
static void begin_request(struct http_server *server, struct connection *conn)
{
	drop_handshake(conn);
	end_request(server, conn);
	pthread_mutex_lock(&server->lock);
	conn->request = snapshot_ref(server->current);
	pthread_mutex_unlock(&server->lock);
	atomic_fetch_add(&server->busy, 1);
}

/* What a request's context points to between the handler's calls. */
static int request_line_seen, request_header_seen;

/* MHD_OPTION_URI_LOG_CALLBACK: the first sign of a request. */
static void *on_request_line(void *cls, const char *uri,
	struct MHD_Connection *mc)
{
	(void)uri;
	struct connection *conn = connection_of(mc);
	if (conn)
		begin_request(cls, conn);
	return &request_line_seen;
}

static void release_connection(struct http_server *server,
	struct connection *conn)
{
	end_request(server, conn);
	snapshot_unref(conn->handshake);
	free(conn);
}

static void on_connection(void *cls, struct MHD_Connection *mc,
	void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	struct http_server *server = cls;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct connection *conn = *socket_context;
		if (conn) {
			metrics_count_connection(server->metrics, false);
			unlink_connection(server, conn);
			release_connection(server, conn);
			*socket_context = NULL;
		}
		return;
	}

	/* Without a binding the certificate callback finds no chain and
	 * the handshake fails: a connection we cannot track is refused. */
	const union MHD_ConnectionInfo *fd_info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_CONNECTION_FD);
	struct connection *conn = calloc(1, sizeof(*conn));
	if (!conn || !fd_info) {
		free(conn);
		return;
	}
	conn->fd = fd_info->connect_fd;
	/* The server's flight must not wait behind an unacknowledged small
	 * segment (Nagle with the client's delayed ACK: 40 ms);
	 * libmicrohttpd 0.9.75's own TCP_NODELAY code is compiled out. */
	int one = 1;
	if (setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one,
			sizeof(one)) < 0)
		log_debug("setsockopt(TCP_NODELAY): %s", strerror(errno));
	conn->opened_ms = clock_now_ms();
	start_header_clock(server, conn);
	pthread_mutex_lock(&server->lock);
	conn->handshake = snapshot_ref(server->current);
	pthread_mutex_unlock(&server->lock);
	conn->binding.store = snapshot_tls(conn->handshake);
	conn->binding.established = on_established;

	const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info || tls_session_bind(info->tls_session, &conn->binding) < 0) {
		release_connection(server, conn);
		return;
	}
	link_connection(server, conn);
	metrics_count_connection(server->metrics, true);
	*socket_context = conn;
}

/*
 * reap runs on its own thread: every REAP_INTERVAL_MS it shuts down the
 * connections whose request header is late (a trickle that the inactivity
 * timeout never ends) or that are older than max_connection_age.
 * libmicrohttpd then sees the end of the stream and closes them itself.
 */
#define REAP_INTERVAL_MS 250

static void *reap(void *cls)
{
	struct http_server *server = cls;
	pthread_mutex_lock(&server->connections_lock);
	while (!server->stopping) {
		long long now = clock_now_ms();
		for (struct connection *c = server->connections; c;
				c = c->next) {
			long long due = atomic_load(&c->header_deadline_ms);
			if (c->cut || !((due && now >= due) ||
					now - c->opened_ms >= server->max_age_ms))
				continue;
			shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			metrics_count_cut(server->metrics);
		}
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += REAP_INTERVAL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&server->reaper_wake,
			&server->connections_lock, &until);
	}
	pthread_mutex_unlock(&server->connections_lock);
	return NULL;
}

static void format_client(struct MHD_Connection *mc, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, size, "-");
	if (!info || !info->client_addr)
		return;
	const struct sockaddr *sa = info->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			buf, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			&((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			(socklen_t)size);
}

static void log_access(struct http_server *server, struct MHD_Connection *mc,
	const char *sni, const char *method, const char *url, unsigned status,
	size_t bytes, const char *agent)
{
	char client[INET6_ADDRSTRLEN];
	format_client(mc, client, sizeof(client));
	/* Full handshakes are what costs: say which requests had one. */
	const union MHD_ConnectionInfo *tls = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_GNUTLS_SESSION);
	struct accesslog_entry e = {
		.client = client, .sni = sni, .method = method, .url = url,
		.host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
			MHD_HTTP_HEADER_HOST),
		.agent = agent, .status = status, .bytes = bytes,
		.resumed = tls && tls_session_is_resumed(tls->tls_session),
	};
	accesslog_write(&e, atomic_load_explicit(&server->access_log_json,
		memory_order_relaxed));
}

/* The served domain a request that failed the strict checks was for. */
static const struct snapshot_domain *domain_of(const struct connection *conn)
{
	if (!conn || !conn->request || !conn->host[0])
		return NULL;
	return tls_store_lookup(snapshot_tls(conn->request), conn->host);
}

/* The answer to a complete, valid request on conn. */
static struct MHD_Response *answer(struct http_server *server,
	struct MHD_Connection *mc, const struct connection *conn,
	const char *method, const char *url,
	const struct snapshot_domain **served, unsigned *status)
{
	if (!conn || !conn->request) {
		/* Unreachable: a connection is tracked before its handshake. */
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return server->errors[ERROR_INTERNAL];
	}
	const struct snapshot_domain *sd = tls_store_lookup(
		snapshot_tls(conn->request), conn->host);
	*served = sd;
	if (!sd) {
		/* A reload stopped serving the name this connection's
		 * handshake was for: RFC 9110 §15.5.20. */
		*status = 421;
		return server->errors[ERROR_MISDIRECTED];
	}
	const char *host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_HOST);
	switch (route_request(method, url, host, sd->host)) {
	case ROUTE_POLICY:
		*status = MHD_HTTP_OK;
		return sd->response;
	case ROUTE_NOT_FOUND:
		*status = MHD_HTTP_NOT_FOUND;
		return server->errors[ERROR_NOT_FOUND];
	case ROUTE_METHOD_NOT_ALLOWED:
		*status = MHD_HTTP_METHOD_NOT_ALLOWED;
		return server->errors[ERROR_METHOD_NOT_ALLOWED];
	case ROUTE_MISDIRECTED:
	default:
		*status = 421;
		return server->errors[ERROR_MISDIRECTED];
	}
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *mc,
	const char *url, const char *method, const char *version,
	const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http_server *server = cls;
	struct connection *conn = connection_of(mc);
	const struct snapshot_domain *sd = NULL;
	struct MHD_Response *response;
	unsigned status;

	/* libmicrohttpd closes the connection after a response queued in the
	 * first call, which would defeat keep-alive: a valid request is
	 * answered in the second, once the whole request (and any body,
	 * skipped) has been read. An invalid one is answered at once, and
	 * the connection closed: what follows it cannot be trusted. */
	if (*req_cls != &request_header_seen) {
		*req_cls = &request_header_seen;
		if (conn && !conn->request)
			begin_request(server, conn);
		if (strict_request_is_valid(mc, method, url, version))
			return MHD_YES;
		response = server->errors[ERROR_BAD_REQUEST];
		status = MHD_HTTP_BAD_REQUEST;
		sd = domain_of(conn);
	} else if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	} else {
		response = answer(server, mc, conn, method, url, &sd, &status);
	}
	/* Received in time (header and any body): the deadline stops. */
	if (conn)
		atomic_store(&conn->header_deadline_ms, 0);
	const char *agent = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_USER_AGENT);
	metrics_count_request(server->metrics, sd, status, agent);
	if (atomic_load_explicit(&server->access_log, memory_order_relaxed)) {
		size_t bytes = status == MHD_HTTP_OK &&
			strcmp(method, "HEAD") != 0 ? sd->body_len : 0;
		log_access(server, mc, sd ? sd->host : NULL, method, url,
			status, bytes, agent);
	}
	return MHD_queue_response(mc, status, response);
}

static void on_completed(void *cls, struct MHD_Connection *mc,
	void **req_cls, enum MHD_RequestTerminationCode code)
{
	struct http_server *server = cls;
	struct connection *conn = connection_of(mc);
	if (!conn)
		return;
	end_request(server, conn);
	/* Keep-alive: the next request header is due in its turn. */
	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		start_header_clock(server, conn);
}

/*
 * keep_escaped leaves the request path as the client sent it: the policy
 * lives at one exact path (RFC 8461 §3.2), and decoding would serve it for
 * "/.well-known/mta-sts.txt%00x" or "%2e" spellings too.
 */
static size_t keep_escaped(void *cls, struct MHD_Connection *mc, char *s)
{
	return strlen(s);
}

/* What libmicrohttpd 0.9.75 says (daemon.c) when it closes a connection
 * at max_connections or max_connections_per_ip: its only sign of it. */
#define MHD_SAYS_LIMIT "Server reached connection limit"

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	struct http_server *server = cls;
	char message[512], escaped[600];
	vsnprintf(message, sizeof(message), fmt, ap);
	if (strstr(message, MHD_SAYS_LIMIT))
		metrics_count_refused(server->metrics, METRICS_REFUSED_LIMIT);
	/* libmicrohttpd reports every failed handshake and dropped client;
	 * those are the internet's business, not the admin's. */
	if (!log_level_enabled(LOG_LEVEL_DEBUG))
		return;
	size_t len = strlen(message);
	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
		len--;
	/* It quotes what clients sent (a URL, a header): escaped. */
	log_debug("libmicrohttpd: %s",
		text_escape(escaped, sizeof(escaped), message, len));
}

static int build_error_responses(struct http_server *server)
{
	for (size_t i = 0; i < ERROR_COUNT; i++) {
		server->errors[i] = text_response(error_table[i].body,
			strlen(error_table[i].body));
		if (!server->errors[i])
			return -1;
	}
	if (MHD_add_response_header(server->errors[ERROR_METHOD_NOT_ALLOWED],
			MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES)
		return -1;
	return 0;
}

static struct MHD_Daemon *start_daemon(struct http_server *server,
	const struct http_options *options, int fd, unsigned threads)
{
	/* poll(), not epoll: with epoll, libmicrohttpd 0.9.75 keeps a
	 * connection in its ready list while GnuTLS reads the socket itself
	 * during the handshake, and polls it with a zero timeout until the
	 * handshake ends, a core at 100% per stalled client. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		MHD_USE_TLS | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	/* The pool holds the request line, the headers and the reply
	 * headers; a request that does not fit is answered 431 or 414. */
	size_t memory = (size_t)options->max_request_size + 4096;

	/* The logger first, so that what libmicrohttpd says about the
	 * options after it goes through it too. */
	return MHD_start_daemon(flags, 0, NULL, NULL, handle_request, server,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, server,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_HTTPS_CERT_CALLBACK, tls_retrieve_function(),
		MHD_OPTION_HTTPS_PRIORITIES, options->tls_priorities,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, server,
		MHD_OPTION_CONNECTION_LIMIT, options->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			options->max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, options->connection_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory,
		MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
		MHD_OPTION_URI_LOG_CALLBACK, on_request_line, server,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		/* RFC 9112: 400 for HTTP/1.1 without Host and for a space in
		 * the request target; the rest is in strict.c. */
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_END);
}

/*
 * Descriptors the daemon needs besides its connections and listeners:
 * stdio, the signalfd, the log and sd_notify sockets, and what a reload
 * opens (configuration, includes, certificate, key and state files, one at
 * a time). A reload must find them free even when clients hold every
 * connection slot, or renewed certificates would never be loaded.
 */
#define DESCRIPTOR_RESERVE 64
/* Per worker: its wake-up pipe and the one connection it accepts beyond
 * its limit before closing it. */
#define DESCRIPTORS_PER_WORKER 3

/*
 * fit_descriptors sets *max_connections to options->max_connections if it
 * fits RLIMIT_NOFILE with the reserve above, raising the soft limit up to
 * the hard one when it must (a unit whose ~@resources filter forbids that
 * sets LimitNOFILE= instead), or else to what fits, with a warning. -1
 * (logged) when not even one connection fits.
 */
static int fit_descriptors(const struct http_options *options,
	unsigned workers, unsigned *max_connections)
{
	rlim_t overhead = DESCRIPTOR_RESERVE + options->listen_count +
		(rlim_t)DESCRIPTORS_PER_WORKER * workers;
	rlim_t wanted = overhead + options->max_connections;
	struct rlimit rl;
	*max_connections = options->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_error_errno("getrlimit(RLIMIT_NOFILE)");
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
		struct rlimit raised = rl;
		raised.rlim_cur = rl.rlim_max != RLIM_INFINITY &&
			rl.rlim_max < wanted ? rl.rlim_max : wanted;
		if (raised.rlim_cur > rl.rlim_cur &&
				setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= wanted)
		return 0;
	if (rl.rlim_cur <= overhead) {
		log_error("the descriptor limit (RLIMIT_NOFILE %llu) leaves no "
			"room for connections: the daemon keeps %llu for "
			"itself — raise LimitNOFILE= in mta-stsd.service (or "
			"ulimit -n)", (unsigned long long)rl.rlim_cur,
			(unsigned long long)overhead);
		return -1;
	}
	*max_connections = (unsigned)(rl.rlim_cur - overhead);
	log_warn("max_connections %u does not fit the descriptor limit "
		"(RLIMIT_NOFILE %llu): serving at most %u connections and "
		"keeping %llu descriptors for listeners, workers and reloads "
		"— raise LimitNOFILE= in mta-stsd.service (or ulimit -n) to "
		"at least %llu, or lower max_connections",
		options->max_connections, (unsigned long long)rl.rlim_cur,
		*max_connections, (unsigned long long)overhead,
		(unsigned long long)wanted);
	return 0;
}

struct http_server *http_server_start(const struct http_options *options,
	struct snapshot *snapshot)
{
	struct http_server *server = calloc(1, sizeof(*server));
	if (!server) {
		log_error("cannot start the HTTP server: out of memory");
		return NULL;
	}
	pthread_mutex_init(&server->lock, NULL);
	pthread_mutex_init(&server->connections_lock, NULL);
	/* The reaper's wait must not stretch when the wall clock jumps. */
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&server->reaper_wake, &attr);
	pthread_condattr_destroy(&attr);
	server->header_timeout_ms =
		(long long)options->request_header_timeout * 1000;
	server->max_age_ms = (long long)options->max_connection_age * 1000;
	atomic_init(&server->access_log, options->access_log);
	atomic_init(&server->access_log_json, options->access_log_json);
	server->metrics = options->metrics;
	if (build_error_responses(server) < 0) {
		log_error("cannot start the HTTP server: out of memory");
		goto err;
	}
	if (build_responses(snapshot) < 0 || (server->metrics &&
			metrics_attach(server->metrics, snapshot) < 0))
		goto err;
	server->current = snapshot_ref(snapshot);

	server->daemons = calloc(options->listen_count,
		sizeof(*server->daemons));
	if (!server->daemons) {
		log_error("cannot start the HTTP server: out of memory");
		goto err;
	}
	unsigned per_socket = options->threads / (unsigned)options->listen_count;
	if (!per_socket)
		per_socket = 1;
	struct http_options fitted = *options;
	if (fit_descriptors(options, per_socket *
			(unsigned)options->listen_count,
			&fitted.max_connections) < 0)
		goto err;
	/* max_connections is for the whole server, not per listener. */
	fitted.max_connections /= (unsigned)options->listen_count;
	if (!fitted.max_connections)
		fitted.max_connections = 1;
	for (size_t i = 0; i < options->listen_count; i++) {
		server->daemons[i] = start_daemon(server, &fitted,
			options->listen_fds[i], per_socket);
		if (!server->daemons[i]) {
			log_error("cannot start the HTTP server on socket %d "
				"(libmicrohttpd refused the options)",
				options->listen_fds[i]);
			goto err;
		}
		server->daemon_count++;
	}
	if (pthread_create(&server->reaper, NULL, reap, server) != 0) {
		log_error("cannot start the HTTP server: no thread for the "
			"connection deadlines");
		goto err;
	}
	server->reaper_started = true;
	return server;

err:
	http_server_stop(server);
	return NULL;
}

int http_server_install(struct http_server *server, struct snapshot *snapshot)
{
	if (build_responses(snapshot) < 0 || (server->metrics &&
			metrics_attach(server->metrics, snapshot) < 0))
		return -1;
	snapshot_ref(snapshot);
	pthread_mutex_lock(&server->lock);
	struct snapshot *old = server->current;
	server->current = snapshot;
	pthread_mutex_unlock(&server->lock);
	snapshot_unref(old);
	return 0;
}

void http_server_set_access_log(struct http_server *server, bool enabled,
	bool json)
{
	atomic_store(&server->access_log, enabled);
	atomic_store(&server->access_log_json, json);
}

void http_server_quiesce(struct http_server *server)
{
	/* Closing the listening sockets makes new clients fail fast instead
	 * of waiting in a backlog nobody will accept from. */
	for (size_t i = 0; i < server->daemon_count; i++) {
		MHD_socket fd = MHD_quiesce_daemon(server->daemons[i]);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
}

unsigned http_server_busy_count(struct http_server *server)
{
	return atomic_load(&server->busy);
}

void http_server_stop(struct http_server *server)
{
	if (!server)
		return;
	if (server->reaper_started) {
		pthread_mutex_lock(&server->connections_lock);
		server->stopping = true;
		pthread_cond_signal(&server->reaper_wake);
		pthread_mutex_unlock(&server->connections_lock);
		pthread_join(server->reaper, NULL);
	}
	for (size_t i = 0; i < server->daemon_count; i++)
		MHD_stop_daemon(server->daemons[i]);
	free(server->daemons);
	for (size_t i = 0; i < ERROR_COUNT; i++) {
		if (server->errors[i])
			MHD_destroy_response(server->errors[i]);
	}
	snapshot_unref(server->current);
	pthread_mutex_destroy(&server->lock);
	pthread_mutex_destroy(&server->connections_lock);
	pthread_cond_destroy(&server->reaper_wake);
	free(server);
}
