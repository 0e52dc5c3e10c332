/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_METRICS_H
#define MTASTSD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct snapshot;
struct snapshot_domain;

/*
 * The daemon's Prometheus metrics (docs/METRICS.md): counters the request
 * path bumps with relaxed atomics, what the served snapshot says about
 * each domain, and a plain-HTTP listener for GET /metrics. Labels take
 * only values from the configuration or from fixed sets, never what a
 * client sent, so the series stay bounded.
 */

enum metrics_refusal {
	METRICS_REFUSED_LIMIT,		/* max_connections or per-IP limit */
	METRICS_REFUSED_COUNT,
};

struct metrics;

/* A registry with its start time set to now. NULL when out of memory. */
struct metrics *metrics_create(void);
/* Accepts NULL. No listener may use it any more. */
void metrics_destroy(struct metrics *metrics);

/*
 * metrics_attach gives each domain of snapshot its counters (found by
 * policy domain, made on first sight), so that a domain's requests add up
 * across reloads. Main thread, before the snapshot is installed. 0, or -1
 * when out of memory (logged).
 */
int metrics_attach(struct metrics *metrics, struct snapshot *snapshot);

/*
 * metrics_loaded records a successful start or reload: snapshot (a
 * reference is taken) is what /metrics describes from now on.
 * metrics_reload_failed records a reload that kept the old snapshot.
 */
void metrics_loaded(struct metrics *metrics, struct snapshot *snapshot,
	bool reload, time_t when);
void metrics_reload_failed(struct metrics *metrics);

/*
 * The request path; metrics may be NULL. domain is the served domain the
 * request was for, or NULL when none was (its Host or TLS name is not
 * served): those count under domain="". agent is the User-Agent or NULL.
 */
void metrics_count_request(struct metrics *metrics,
	const struct snapshot_domain *domain, unsigned status,
	const char *agent);
void metrics_count_connection(struct metrics *metrics, bool opened);
void metrics_count_refused(struct metrics *metrics,
	enum metrics_refusal reason);
void metrics_count_cut(struct metrics *metrics);

/*
 * metrics_render writes the exposition (text format 0.0.4) into a new
 * buffer the caller frees, its length in *len. NULL when out of memory.
 */
char *metrics_render(struct metrics *metrics, size_t *len);

struct metrics_server;

/*
 * metrics_server_start serves GET /metrics of metrics over plain HTTP on
 * the listening socket fd (closed when it stops), from one thread with a
 * small connection limit; every other path is 404. NULL on failure
 * (logged).
 */
struct metrics_server *metrics_server_start(struct metrics *metrics, int fd);
/* Accepts NULL. */
void metrics_server_stop(struct metrics_server *server);

#endif
