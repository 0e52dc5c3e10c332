/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_HTTP_H
#define MTASTSD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct snapshot;
struct metrics;

/*
 * The only libmicrohttpd user: serves, over TLS from an internal thread
 * pool, the policy of the snapshot current when each request arrives (the
 * handshake uses the one current when the connection starts). Everything a
 * request needs is built when a snapshot is installed.
 */

struct http_options {
	const int *listen_fds;		/* bound and listening, borrowed */
	size_t listen_count;
	unsigned threads;		/* total worker threads, >= 1 */
	unsigned max_connections;
	unsigned max_connections_per_ip;/* 0: no limit */
	unsigned connection_timeout;	/* seconds of inactivity */
	unsigned request_header_timeout;/* seconds to a complete header */
	unsigned max_connection_age;	/* seconds from accept to a cut */
	unsigned max_request_size;	/* bytes of request line + headers */
	const char *tls_priorities;
	bool access_log;
	bool access_log_json;		/* access_log_format = "json" */
	struct metrics *metrics;	/* counted into; borrowed, may be NULL */
};

struct http_server;

/*
 * http_server_start starts serving snapshot (a reference is taken) on the
 * given sockets, which it closes when it quiesces or stops. NULL on
 * failure (logged).
 */
struct http_server *http_server_start(const struct http_options *options,
	struct snapshot *snapshot);

/*
 * http_server_install makes snapshot (a reference is taken) the one new
 * connections get; connections in flight keep theirs. It first builds the
 * snapshot's responses. 0, or -1 (logged) with the old snapshot kept.
 */
int http_server_install(struct http_server *server, struct snapshot *snapshot);

/* Changes whether each request is logged, and how (json or text). */
void http_server_set_access_log(struct http_server *server, bool enabled,
	bool json);

/* Stops accepting connections; those open go on. */
void http_server_quiesce(struct http_server *server);

/*
 * Requests in progress: from a complete request header to the end of the
 * answer. Connections in a handshake, still sending their header or idle
 * between requests are not counted, so a stop need not wait for them.
 */
unsigned http_server_busy_count(struct http_server *server);

/* Stops every thread and closes every connection. Accepts NULL. */
void http_server_stop(struct http_server *server);

#endif
