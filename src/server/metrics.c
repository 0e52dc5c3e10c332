/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buildconf.h"
#include "config/config.h"
#include "core/policy.h"
#include "server/metrics.h"
#include "server/snapshot.h"
#include "server/useragent.h"
#include "tls/handshake.h"
#include "util/log.h"
#include "util/text.h"

/* The status codes the server answers with; anything else is "other". */
static const unsigned status_codes[] = { 200, 400, 404, 405, 421, 500 };
#define STATUS_SLOTS (sizeof(status_codes) / sizeof(status_codes[0]) + 1)

/* One domain's counters; kept until the registry goes, so a snapshot
 * pointing at them never dangles. */
struct metrics_domain {
	struct metrics_domain *next;	/* in its hash bucket */
	atomic_ulong requests[STATUS_SLOTS];
	char name[];
};

#define BUCKETS 4096

struct metrics {
	time_t started;
	/* Requests for no served domain: domain="". */
	struct metrics_domain *unknown;
	atomic_ulong fetches[USERAGENT_FAMILY_COUNT];
	atomic_ulong connections_open, connections_total;
	atomic_ulong refused[METRICS_REFUSED_COUNT];
	atomic_ulong cut;

	/* Written by the main thread, read by the listener's. */
	pthread_mutex_t lock;
	struct metrics_domain *buckets[BUCKETS];
	struct snapshot *current;
	unsigned long reloads_ok, reloads_failed;
	time_t last_success;
	bool last_reload_ok;
};

static size_t bucket_of(const char *name)
{
	/* FNV-1a: names come from the configuration, not from clients. */
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % BUCKETS;
}

static struct metrics_domain *counters_new(const char *name)
{
	size_t len = strlen(name);
	struct metrics_domain *c = calloc(1, sizeof(*c) + len + 1);
	if (c)
		memcpy(c->name, name, len + 1);
	return c;
}

struct metrics *metrics_create(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->unknown = counters_new("");
	if (!m->unknown) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->started = time(NULL);
	return m;
}

void metrics_destroy(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		struct metrics_domain *c = m->buckets[i];
		while (c) {
			struct metrics_domain *next = c->next;
			free(c);
			c = next;
		}
	}
	free(m->unknown);
	snapshot_unref(m->current);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* The counters of name, made when new; caller holds the lock. */
static struct metrics_domain *counters_of(struct metrics *m, const char *name)
{
	size_t b = bucket_of(name);
	for (struct metrics_domain *c = m->buckets[b]; c; c = c->next) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	struct metrics_domain *c = counters_new(name);
	if (!c)
		return NULL;
	c->next = m->buckets[b];
	m->buckets[b] = c;
	return c;
}

int metrics_attach(struct metrics *m, struct snapshot *snap)
{
	int rc = 0;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		/* A domain a reload reused keeps the counters it has: its
		 * entry is shared with the running snapshot, never written. */
		if (sd->counters)
			continue;
		sd->counters = counters_of(m, sd->config->name);
		if (!sd->counters) {
			log_error("cannot count the requests of %s: out of "
				"memory", sd->config->name);
			rc = -1;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

void metrics_loaded(struct metrics *m, struct snapshot *snap, bool reload,
	time_t when)
{
	snapshot_ref(snap);
	pthread_mutex_lock(&m->lock);
	struct snapshot *old = m->current;
	m->current = snap;
	if (reload)
		m->reloads_ok++;
	m->last_success = when;
	m->last_reload_ok = true;
	pthread_mutex_unlock(&m->lock);
	snapshot_unref(old);
}

void metrics_reload_failed(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->reloads_failed++;
	m->last_reload_ok = false;
	pthread_mutex_unlock(&m->lock);
}

static void bump(atomic_ulong *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

void metrics_count_request(struct metrics *m,
	const struct snapshot_domain *domain, unsigned status,
	const char *agent)
{
	if (!m)
		return;
	struct metrics_domain *c = domain && domain->counters ?
		domain->counters : m->unknown;
	size_t slot = STATUS_SLOTS - 1;
	for (size_t i = 0; i < STATUS_SLOTS - 1; i++) {
		if (status_codes[i] == status) {
			slot = i;
			break;
		}
	}
	bump(&c->requests[slot]);
	if (status == 200)
		bump(&m->fetches[useragent_classify(agent)]);
}

void metrics_count_connection(struct metrics *m, bool opened)
{
	if (!m)
		return;
	if (opened) {
		bump(&m->connections_total);
		bump(&m->connections_open);
	} else {
		atomic_fetch_sub_explicit(&m->connections_open, 1,
			memory_order_relaxed);
	}
}

void metrics_count_refused(struct metrics *m, enum metrics_refusal reason)
{
	if (m && (unsigned)reason < METRICS_REFUSED_COUNT)
		bump(&m->refused[reason]);
}

void metrics_count_cut(struct metrics *m)
{
	if (m)
		bump(&m->cut);
}

/* ------------------------------------------------------------------ */
/* Exposition */

struct out {
	char *buf;
	size_t len, size;
	bool failed;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2 && !o->failed; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->size - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t size = o->size * 2 + (size_t)n;
		char *grown = realloc(o->buf, size);
		if (!grown) {
			o->failed = true;
			return;
		}
		o->buf = grown;
		o->size = size;
	}
}

static void header(struct out *o, const char *name, const char *type,
	const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * A label value: the text format wants \\, \" and \n escaped. Values are
 * configured names and ids, so this only guards the format.
 */
static const char *label(const char *s, char *buf, size_t size)
{
	size_t j = 0;
	for (; *s && j + 3 < size; s++) {
		if (*s == '\\' || *s == '"') {
			buf[j++] = '\\';
			buf[j++] = *s;
		} else if (*s == '\n') {
			buf[j++] = '\\';
			buf[j++] = 'n';
		} else {
			buf[j++] = *s;
		}
	}
	buf[j] = '\0';
	return buf;
}

static void render_process(struct out *o, struct metrics *m)
{
	header(o, "mta_stsd_build_info", "gauge",
		"Always 1; the version of mta-stsd in a label.");
	put(o, "mta_stsd_build_info{version=\"%s\"} 1\n", MTASTSD_VERSION);
	header(o, "mta_stsd_start_time_seconds", "gauge",
		"When the daemon started, in seconds since the epoch.");
	put(o, "mta_stsd_start_time_seconds %lld\n", (long long)m->started);
	header(o, "mta_stsd_reloads_total", "counter",
		"Reloads (SIGHUP) by result; a failed one keeps serving the "
		"previous configuration.");
	put(o, "mta_stsd_reloads_total{result=\"success\"} %lu\n"
		"mta_stsd_reloads_total{result=\"failure\"} %lu\n",
		m->reloads_ok, m->reloads_failed);
	header(o, "mta_stsd_last_reload_successful", "gauge",
		"1 when the last load or reload succeeded, 0 when it failed.");
	put(o, "mta_stsd_last_reload_successful %d\n", m->last_reload_ok);
	header(o, "mta_stsd_last_reload_success_timestamp_seconds", "gauge",
		"When the configuration now served was loaded, in seconds "
		"since the epoch.");
	put(o, "mta_stsd_last_reload_success_timestamp_seconds %lld\n",
		(long long)m->last_success);
}

static unsigned long load(atomic_ulong *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

static void render_connections(struct out *o, struct metrics *m)
{
	header(o, "mta_stsd_connections_open", "gauge",
		"TLS connections open now.");
	put(o, "mta_stsd_connections_open %lu\n", load(&m->connections_open));
	header(o, "mta_stsd_connections_total", "counter",
		"TLS connections accepted.");
	put(o, "mta_stsd_connections_total %lu\n",
		load(&m->connections_total));
	header(o, "mta_stsd_connections_refused_total", "counter",
		"Connections closed at accept because max_connections or "
		"max_connections_per_ip was reached.");
	put(o, "mta_stsd_connections_refused_total{reason=\"limit\"} %lu\n",
		load(&m->refused[METRICS_REFUSED_LIMIT]));
	header(o, "mta_stsd_connections_cut_total", "counter",
		"Connections shut down for a late request header "
		"(request_header_timeout) or their age (max_connection_age).");
	put(o, "mta_stsd_connections_cut_total %lu\n", load(&m->cut));
	struct tls_handshake_counts h;
	tls_handshake_counts(&h);
	header(o, "mta_stsd_tls_handshakes_total", "counter",
		"Completed TLS handshakes, full or resumed from a ticket.");
	put(o, "mta_stsd_tls_handshakes_total{type=\"full\"} %lu\n"
		"mta_stsd_tls_handshakes_total{type=\"resumed\"} %lu\n",
		h.full, h.resumed);
	header(o, "mta_stsd_tls_hello_retries_total", "counter",
		"Handshakes that needed a HelloRetryRequest (the client's key "
		"share was for a group the server does not take).");
	put(o, "mta_stsd_tls_hello_retries_total %lu\n", h.retried);
	header(o, "mta_stsd_tls_handshakes_refused_total", "counter",
		"Handshakes refused, by reason: no_sni, unknown_sni, protocol "
		"(no common TLS version), cipher (no common cipher suite or "
		"group), not_tls (plain HTTP on the HTTPS port).");
	for (size_t i = 0; i < TLS_REFUSED_COUNT; i++)
		put(o, "mta_stsd_tls_handshakes_refused_total{reason=\"%s\"} "
			"%lu\n", tls_refusal_name((enum tls_refusal)i),
			h.refused[i]);
}

static void render_requests(struct out *o, const struct metrics_domain *c)
{
	char name[300];
	label(c->name, name, sizeof(name));
	for (size_t i = 0; i < STATUS_SLOTS; i++) {
		unsigned long n = load((atomic_ulong *)&c->requests[i]);
		if (!n)
			continue;
		if (i < STATUS_SLOTS - 1)
			put(o, "mta_stsd_requests_total{domain=\"%s\",code=\"%u\"} "
				"%lu\n", name, status_codes[i], n);
		else
			put(o, "mta_stsd_requests_total{domain=\"%s\",code="
				"\"other\"} %lu\n", name, n);
	}
}

/* A per-domain value: false when the domain has none. */
typedef bool (*domain_value)(const struct snapshot *snap,
	const struct snapshot_domain *sd, long long *v);

static bool served_value(const struct snapshot *snap,
	const struct snapshot_domain *sd, long long *v)
{
	*v = 1;
	return true;
}

static bool previous_value(const struct snapshot *snap,
	const struct snapshot_domain *sd, long long *v)
{
	*v = snapshot_domain_is_kept(snap, sd);
	return true;
}

static bool max_age_value(const struct snapshot *snap,
	const struct snapshot_domain *sd, long long *v)
{
	*v = sd->config->policy.max_age;
	return true;
}

static bool expiry_value(const struct snapshot *snap,
	const struct snapshot_domain *sd, long long *v)
{
	*v = (long long)sd->cert.not_after;
	return sd->cert_loaded;
}

/* One gauge with a series per served domain of snap. */
static void render_gauge(struct out *o, struct snapshot *snap,
	const char *metric, const char *help, domain_value value)
{
	char name[300];
	header(o, metric, "gauge", help);
	for (size_t i = 0; snap && i < snapshot_domain_count(snap); i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		long long v;
		if (value(snap, sd, &v))
			put(o, "%s{domain=\"%s\"} %lld\n", metric,
				label(sd->config->name, name, sizeof(name)), v);
	}
}

/* Per domain of snap: requests, served, policy and certificate. */
static void render_domains(struct out *o, struct metrics *m,
	struct snapshot *snap)
{
	char name[300], id[80];
	size_t count = snap ? snapshot_domain_count(snap) : 0;

	header(o, "mta_stsd_requests_total", "counter",
		"Requests answered, by policy domain (the TLS name; \"\" when "
		"no served domain matched) and status code.");
	for (size_t i = 0; i < count; i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		if (sd->counters)
			render_requests(o, sd->counters);
	}
	render_requests(o, m->unknown);

	header(o, "mta_stsd_policy_fetches_total", "counter",
		"Policies served (status 200), by sender family from the "
		"User-Agent.");
	for (size_t i = 0; i < USERAGENT_FAMILY_COUNT; i++)
		put(o, "mta_stsd_policy_fetches_total{sender=\"%s\"} %lu\n",
			useragent_family_name((enum useragent_family)i),
			load(&m->fetches[i]));

	render_gauge(o, snap, "mta_stsd_domain_served", "1 when the domain's "
		"policy is served, 0 when it is not (see the log or "
		"`mta-stsd status` for why).", served_value);
	for (size_t i = 0; snap && i < snapshot_problem_count(snap); i++) {
		const struct snapshot_problem *p = snapshot_problem_at(snap, i);
		if (!p->kept)
			put(o, "mta_stsd_domain_served{domain=\"%s\"} 0\n",
				label(p->name, name, sizeof(name)));
	}
	render_gauge(o, snap, "mta_stsd_domain_previous_version", "1 for a "
		"domain served in its last good version because its new one "
		"failed to load.", previous_value);
	header(o, "mta_stsd_policy_info", "gauge",
		"Always 1; the served policy's id (as published in the "
		"_mta-sts TXT record) and mode in labels.");
	for (size_t i = 0; i < count; i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		put(o, "mta_stsd_policy_info{domain=\"%s\",id=\"%s\","
			"mode=\"%s\"} 1\n",
			label(sd->config->name, name, sizeof(name)),
			label(sd->id, id, sizeof(id)),
			policy_mode_name(sd->config->policy.mode));
	}
	render_gauge(o, snap, "mta_stsd_policy_max_age_seconds",
		"The served policy's max_age.", max_age_value);
	render_gauge(o, snap, "mta_stsd_certificate_expiry_timestamp_seconds",
		"When the served certificate of mta-sts.<domain> expires "
		"(notAfter), in seconds since the epoch.", expiry_value);
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct out o = { .size = 16384 };
	o.buf = malloc(o.size);
	if (!o.buf)
		return NULL;
	o.buf[0] = '\0';
	pthread_mutex_lock(&m->lock);
	struct snapshot *snap = m->current ? snapshot_ref(m->current) : NULL;
	render_process(&o, m);
	pthread_mutex_unlock(&m->lock);
	render_connections(&o, m);
	render_domains(&o, m, snap);
	snapshot_unref(snap);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}

/* ------------------------------------------------------------------ */
/* The listener */

struct metrics_server {
	struct MHD_Daemon *daemon;
	struct metrics *metrics;
};

/* A few scrapers at a time, each done in milliseconds. */
#define METRICS_CONNECTIONS 8
#define METRICS_TIMEOUT 10

/* Queues r (NULL when it could not be made) with one header. */
static enum MHD_Result queue(struct MHD_Connection *mc, unsigned status,
	struct MHD_Response *r, const char *header, const char *value)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, header, value);
	enum MHD_Result rc = MHD_queue_response(mc, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result plain(struct MHD_Connection *mc, unsigned status,
	const char *body)
{
	return queue(mc, status, MHD_create_response_from_buffer(strlen(body),
		(void *)body, MHD_RESPMEM_PERSISTENT),
		MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
}

static enum MHD_Result handle_scrape(void *cls, struct MHD_Connection *mc,
	const char *url, const char *method, const char *version,
	const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct metrics_server *server = cls;
	static int seen;
	if (*req_cls != &seen) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return plain(mc, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return queue(mc, MHD_HTTP_METHOD_NOT_ALLOWED,
			MHD_create_response_from_buffer(0, (void *)"",
				MHD_RESPMEM_PERSISTENT),
			MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	size_t len;
	char *text = metrics_render(server->metrics, &len);
	if (!text)
		return plain(mc, MHD_HTTP_INTERNAL_SERVER_ERROR,
			"out of memory\n");
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text,
		MHD_RESPMEM_MUST_FREE);
	if (!r)
		free(text);
	return queue(mc, MHD_HTTP_OK, r, MHD_HTTP_HEADER_CONTENT_TYPE,
		"text/plain; version=0.0.4; charset=utf-8");
}

static void log_scrape_mhd(void *cls, const char *fmt, va_list ap)
{
	if (!log_level_enabled(LOG_LEVEL_DEBUG))
		return;
	char message[512], escaped[600];
	vsnprintf(message, sizeof(message), fmt, ap);
	size_t len = strlen(message);
	while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' '))
		len--;
	log_debug("metrics: libmicrohttpd: %s",
		text_escape(escaped, sizeof(escaped), message, len));
}

struct metrics_server *metrics_server_start(struct metrics *metrics, int fd)
{
	struct metrics_server *server = calloc(1, sizeof(*server));
	if (!server) {
		log_error("cannot start the metrics listener: out of memory");
		close(fd);
		return NULL;
	}
	server->metrics = metrics;
	server->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		handle_scrape, server,
		MHD_OPTION_EXTERNAL_LOGGER, log_scrape_mhd, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT,
		MHD_OPTION_END);
	if (!server->daemon) {
		log_error("cannot start the metrics listener (libmicrohttpd "
			"refused the options)");
		close(fd);
		free(server);
		return NULL;
	}
	return server;
}

void metrics_server_stop(struct metrics_server *server)
{
	if (!server)
		return;
	/* MHD_stop_daemon closes the listening socket it was given. */
	MHD_stop_daemon(server->daemon);
	free(server);
}
