/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
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

#include <microhttpd.h>

#include "server/http.h"
#include "util/log.h"
#include "core/route.h"
#include "server/snapshot.h"
#include "tls/tls.h"
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

	/* The snapshot new connections get. Only the main thread replaces
	 * it; the lock keeps a connection from taking a reference on a
	 * snapshot while it is being released. */
	pthread_mutex_t lock;
	struct snapshot *current;

	struct MHD_Response *errors[ERROR_COUNT];
	atomic_bool access_log;
	/* Keep-alive connections waiting for their next request: a stop
	 * need not wait for them, only for the others. */
	atomic_uint idle;
};

/* What a connection keeps from its start to its end. */
struct connection {
	struct snapshot *snapshot;
	struct tls_binding binding;
	bool idle;		/* answered, and no new request yet */
};

/* The connection's own record, or NULL. */
static struct connection *connection_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? info->socket_context : NULL;
}

/* A connection's idle flag changes only on the thread that serves it. */
static void set_idle(struct http_server *server, struct connection *conn,
	bool idle)
{
	if (!conn || conn->idle == idle)
		return;
	conn->idle = idle;
	if (idle)
		atomic_fetch_add(&server->idle, 1);
	else
		atomic_fetch_sub(&server->idle, 1);
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

static void destroy_responses(void *data)
{
	struct snapshot *snap = data;
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		if (sd->response)
			MHD_destroy_response(sd->response);
		sd->response = NULL;
	}
}

/*
 * build_responses prepares the answer of every domain of snap once, so a
 * request only picks a pointer. The policy id travels in a header so that a
 * checker can tell a stale TXT record from the served policy.
 */
static int build_responses(struct snapshot *snap)
{
	snapshot_set_attachment(snap, snap, destroy_responses);
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		sd->response = text_response(sd->body, sd->body_len);
		if (!sd->response || MHD_add_response_header(sd->response,
				"MTA-STS-Policy-Id", sd->id) != MHD_YES) {
			log_error("%s: cannot build the response: out of memory",
				sd->host);
			return -1;
		}
	}
	return 0;
}

static void on_connection(void *cls, struct MHD_Connection *mc,
	void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	struct http_server *server = cls;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct connection *conn = *socket_context;
		if (conn) {
			set_idle(server, conn, false);
			snapshot_unref(conn->snapshot);
			free(conn);
			*socket_context = NULL;
		}
		return;
	}

	/* Without a binding the certificate callback finds no chain and
	 * the handshake fails: a connection we cannot track is refused. */
	struct connection *conn = calloc(1, sizeof(*conn));
	if (!conn)
		return;
	pthread_mutex_lock(&server->lock);
	conn->snapshot = snapshot_ref(server->current);
	pthread_mutex_unlock(&server->lock);
	conn->binding.store = snapshot_tls(conn->snapshot);

	const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info || tls_session_bind(info->tls_session, &conn->binding) < 0) {
		snapshot_unref(conn->snapshot);
		free(conn);
		return;
	}
	*socket_context = conn;
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

static void log_access(struct MHD_Connection *mc, const char *sni,
	const char *method, const char *url, unsigned status, size_t bytes)
{
	char client[INET6_ADDRSTRLEN];
	char when[32];
	char e_method[32], e_url[256], e_agent[256];
	const char *agent = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		MHD_HTTP_HEADER_USER_AGENT);

	format_client(mc, client, sizeof(client));
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Full handshakes are what costs: say which requests had one. */
	const union MHD_ConnectionInfo *tls = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_GNUTLS_SESSION);
	bool resumed = tls && tls_session_is_resumed(tls->tls_session);
	log_info("access: %s %s %s \"%s %s\" %u %zu \"%s\" tls=%s", when,
		client, sni ? sni : "-",
		text_escape_str(e_method, sizeof(e_method), method),
		text_escape_str(e_url, sizeof(e_url), url), status, bytes,
		text_escape_str(e_agent, sizeof(e_agent), agent),
		resumed ? "resumed" : "full");
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind,
	const char *key, const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/*
 * has_one_host_at_most: RFC 9112 §3.2 (RFC 7230 §5.4) requires a 400 for a
 * request with more than one Host field. libmicrohttpd keeps them all but
 * its lookup returns the first, which would let a request be routed by one
 * Host while a proxy in front saw another.
 */
static bool has_one_host_at_most(struct MHD_Connection *mc)
{
	unsigned hosts = 0;
	MHD_get_connection_values(mc, MHD_HEADER_KIND, count_host, &hosts);
	return hosts <= 1;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *mc,
	const char *url, const char *method, const char *version,
	const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http_server *server = cls;

	/* libmicrohttpd closes the connection after a response queued in the
	 * first call, which would defeat keep-alive: answer in the second,
	 * once the whole request (and any body, skipped) has been read. */
	static int request_seen;
	if (!*req_cls) {
		*req_cls = &request_seen;
		set_idle(server, connection_of(mc), false);
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}

	const struct connection *conn = connection_of(mc);
	const struct snapshot_domain *sd = conn ? conn->binding.selected : NULL;

	struct MHD_Response *response;
	unsigned status;
	size_t bytes = 0;
	if (!sd) {
		/* Unreachable: the handshake fails without a known SNI. */
		response = server->errors[ERROR_INTERNAL];
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else if (!has_one_host_at_most(mc)) {
		response = server->errors[ERROR_BAD_REQUEST];
		status = MHD_HTTP_BAD_REQUEST;
	} else {
		const char *host = MHD_lookup_connection_value(mc,
			MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
		switch (route_request(method, url, host, sd->host)) {
		case ROUTE_POLICY:
			response = sd->response;
			status = MHD_HTTP_OK;
			if (strcmp(method, "HEAD") != 0)
				bytes = sd->body_len;
			break;
		case ROUTE_NOT_FOUND:
			response = server->errors[ERROR_NOT_FOUND];
			status = MHD_HTTP_NOT_FOUND;
			break;
		case ROUTE_METHOD_NOT_ALLOWED:
			response = server->errors[ERROR_METHOD_NOT_ALLOWED];
			status = MHD_HTTP_METHOD_NOT_ALLOWED;
			break;
		case ROUTE_MISDIRECTED:
		default:
			response = server->errors[ERROR_MISDIRECTED];
			status = 421;
			break;
		}
	}
	if (atomic_load_explicit(&server->access_log, memory_order_relaxed))
		log_access(mc, sd ? sd->host : NULL, method, url, status,
			bytes);
	return MHD_queue_response(mc, status, response);
}

static void on_completed(void *cls, struct MHD_Connection *mc,
	void **req_cls, enum MHD_RequestTerminationCode code)
{
	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		set_idle(cls, connection_of(mc), true);
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

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	/* libmicrohttpd reports every failed handshake and dropped client;
	 * those are the internet's business, not the admin's. */
	if (!log_level_enabled(LOG_LEVEL_DEBUG))
		return;
	char message[512];
	vsnprintf(message, sizeof(message), fmt, ap);
	size_t len = strlen(message);
	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
		message[--len] = '\0';
	log_debug("libmicrohttpd: %s", message);
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
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
		MHD_USE_TLS | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	/* The pool holds the request line, the headers and the reply
	 * headers; a request that does not fit is answered 431 or 414. */
	size_t memory = (size_t)options->max_request_size + 4096;

	return MHD_start_daemon(flags, 0, NULL, NULL, handle_request, server,
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
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_END);
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
	atomic_init(&server->access_log, options->access_log);
	if (build_error_responses(server) < 0) {
		log_error("cannot start the HTTP server: out of memory");
		goto err;
	}
	if (build_responses(snapshot) < 0)
		goto err;
	server->current = snapshot_ref(snapshot);

	server->daemons = calloc(options->listen_count,
		sizeof(*server->daemons));
	if (!server->daemons) {
		log_error("cannot start the HTTP server: out of memory");
		goto err;
	}
	unsigned per_socket = options->threads / (unsigned)options->listen_count;
	for (size_t i = 0; i < options->listen_count; i++) {
		server->daemons[i] = start_daemon(server, options,
			options->listen_fds[i], per_socket ? per_socket : 1);
		if (!server->daemons[i]) {
			log_error("cannot start the HTTP server on socket %d "
				"(libmicrohttpd refused the options)",
				options->listen_fds[i]);
			goto err;
		}
		server->daemon_count++;
	}
	return server;

err:
	http_server_stop(server);
	return NULL;
}

int http_server_install(struct http_server *server, struct snapshot *snapshot)
{
	if (build_responses(snapshot) < 0)
		return -1;
	snapshot_ref(snapshot);
	pthread_mutex_lock(&server->lock);
	struct snapshot *old = server->current;
	server->current = snapshot;
	pthread_mutex_unlock(&server->lock);
	snapshot_unref(old);
	return 0;
}

void http_server_set_access_log(struct http_server *server, bool enabled)
{
	atomic_store(&server->access_log, enabled);
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

static unsigned connection_count(struct http_server *server)
{
	unsigned total = 0;
	for (size_t i = 0; i < server->daemon_count; i++) {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(
			server->daemons[i],
			MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (info)
			total += info->num_connections;
	}
	return total;
}

unsigned http_server_busy_count(struct http_server *server)
{
	unsigned open = connection_count(server);
	unsigned idle = atomic_load(&server->idle);
	return open > idle ? open - idle : 0;
}


void http_server_stop(struct http_server *server)
{
	if (!server)
		return;
	for (size_t i = 0; i < server->daemon_count; i++)
		MHD_stop_daemon(server->daemons[i]);
	free(server->daemons);
	for (size_t i = 0; i < ERROR_COUNT; i++) {
		if (server->errors[i])
			MHD_destroy_response(server->errors[i]);
	}
	snapshot_unref(server->current);
	pthread_mutex_destroy(&server->lock);
	free(server);
}
