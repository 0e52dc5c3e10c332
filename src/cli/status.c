/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buildconf.h"
#include "cli/status.h"
#include "config/config.h"
#include "config/state.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "server/snapshot.h"
#include "util/diag.h"
#include "util/log.h"
#include "util/text.h"

/* Exit codes of `status` (mta-stsd(8)). */
enum {
	STATUS_OK = 0,		/* running, every domain asked about served */
	STATUS_PROBLEM = 1,	/* a domain not served, or no status to read */
	STATUS_USAGE = 2,
	STATUS_NOT_RUNNING = 3,	/* as systemctl and LSB say it */
};

/* ------------------------------------------------------------------ */
/* Writing, in the daemon */

/*
 * The status file is written in one pass, member after member in a fixed
 * order, with no tree of objects: at 100,000 domains building, printing
 * and freeing a json-c tree cost most of a reload (issue 17). The reader
 * below parses it with json-c.
 */
struct json_out {
	int fd;			/* the temporary file */
	char *buf;		/* what is not written yet */
	size_t len, size;
	int error;		/* the first errno, or 0 */
};

#define JSON_OUT_SIZE (256 * 1024)

static void flush(struct json_out *o)
{
	/* Each pass writes at least one byte or ends the loop (a regular
	 * file's write is not cut short by a signal). */
	for (size_t done = 0; done < o->len && !o->error; ) {
		ssize_t n = write(o->fd, o->buf + done, o->len - done);
		if (n > 0)
			done += (size_t)n;
		else
			o->error = n < 0 ? errno : EIO;
	}
	o->len = 0;
}

/* Room for n more bytes in o->buf, or false (o->error set). */
static bool reserve(struct json_out *o, size_t n)
{
	if (o->error)
		return false;
	if (o->len + n <= o->size)
		return true;
	flush(o);
	if (n > o->size) {
		/* A string longer than the buffer, escaped. */
		char *bigger = realloc(o->buf, n);
		if (!bigger) {
			o->error = ENOMEM;
			return false;
		}
		o->buf = bigger;
		o->size = n;
	}
	return !o->error;
}

static void put_bytes(struct json_out *o, const char *bytes, size_t n)
{
	if (reserve(o, n)) {
		memcpy(o->buf + o->len, bytes, n);
		o->len += n;
	}
}

/* Only for string literals (the "" makes anything else an error): their
 * length is known when compiling. */
#define put(o, literal) put_bytes((o), "" literal, sizeof(literal) - 1)

/* s as a JSON string, or null for NULL. */
static void put_string(struct json_out *o, const char *s)
{
	if (!s) {
		put(o, "null");
		return;
	}
	size_t len = strlen(s);
	size_t need = TEXT_ESCAPE_JSON_SIZE(len) + 2;
	if (!reserve(o, need))
		return;
	char *p = o->buf + o->len;
	*p++ = '"';
	p += text_escape_json_utf8(p, need - 2, s, len);
	*p++ = '"';
	o->len = (size_t)(p - o->buf);
}

/* n in decimal, as json-c prints an int64 (without printf: at 100,000
 * domains it cost a fifth of the file). */
static void put_number(struct json_out *o, long long n)
{
	char digits[24];
	char *p = digits + sizeof(digits);
	unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n :
		(unsigned long long)n;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (n < 0)
		*--p = '-';
	put_bytes(o, p, (size_t)(digits + sizeof(digits) - p));
}

static void put_bool(struct json_out *o, bool b)
{
	if (b)
		put(o, "true");
	else
		put(o, "false");
}

/* ACME certificates live in the state directory, under the daemon's own
 * names: no file is shown for them. */
static void certificate_write(struct json_out *o,
	const struct snapshot_domain *sd)
{
	bool acme = sd->config->acme;
	put(o, "{\"source\":");
	put_string(o, acme ? "acme" : "file");
	put(o, ",\"file\":");
	put_string(o, acme ? NULL : sd->config->cert);
	put(o, ",\"not_after\":");
	if (sd->cert_loaded)
		put_number(o, (long long)sd->cert.not_after);
	else
		put(o, "null");
	put(o, "}");
}

/* A served domain; kept is its problem when the new version did not load
 * and the previous one is served, else NULL. */
static void domain_write(struct json_out *o, const struct snapshot_domain *sd,
	const struct snapshot_problem *kept)
{
	const struct config_domain *c = sd->config;
	put(o, "{\"domain\":");
	put_string(o, c->name);
	put(o, ",\"served\":true,\"previous_version\":");
	put_bool(o, kept);
	put(o, ",\"id\":");
	put_string(o, sd->id);
	put(o, ",\"mode\":");
	put_string(o, policy_mode_name(c->policy.mode));
	put(o, ",\"max_age\":");
	put_number(o, (long long)c->policy.max_age);
	put(o, ",\"certificate\":");
	certificate_write(o, sd);
	if (kept) {
		put(o, ",\"reason\":");
		put_string(o, kept->reason);
	}
	put(o, "}");
}

static void problem_write(struct json_out *o, const struct snapshot_problem *p)
{
	put(o, "{\"domain\":");
	put_string(o, p->name);
	put(o, ",\"served\":false,\"reason\":");
	put_string(o, p->reason);
	put(o, ",\"file\":");
	put_string(o, p->file);
	put(o, ",\"line\":");
	put_number(o, p->line);
	put(o, "}");
}

static bool any_kept(const struct snapshot *snap)
{
	for (size_t i = 0; i < snapshot_problem_count(snap); i++) {
		if (snapshot_problem_at(snap, i)->kept)
			return true;
	}
	return false;
}

/* Served domains first, then those with a problem that are not served
 * (one served in its previous version is listed with the served). */
static void domains_write(struct json_out *o, const struct snapshot *snap)
{
	/* Looking each domain up among the problems only when one is kept
	 * keeps the usual reload linear in the domains. */
	bool lookup = any_kept(snap);
	size_t listed = 0;
	put(o, "[");
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(
			(struct snapshot *)snap, i);
		const struct snapshot_problem *p = lookup ?
			snapshot_find_problem(snap, sd->config->name) : NULL;
		if (listed++)
			put(o, ",");
		domain_write(o, sd, p && p->kept ? p : NULL);
	}
	for (size_t i = 0; i < snapshot_problem_count(snap); i++) {
		const struct snapshot_problem *p = snapshot_problem_at(snap, i);
		if (p->kept)
			continue;
		if (listed++)
			put(o, ",");
		problem_write(o, p);
	}
	put(o, "]");
}

static void last_reload_write(struct json_out *o, const struct status_reload *r)
{
	put(o, "{\"time\":");
	put_number(o, (long long)r->attempted);
	put(o, ",\"kind\":");
	put_string(o, r->reload ? "reload" : "start");
	put(o, ",\"result\":");
	put_string(o, r->ok ? "success" : "failure");
	put(o, "}");
}

static void status_write(struct json_out *o, const struct snapshot *snap,
	const struct status_reload *r, const char *config_path,
	const char *metrics_listen)
{
	put(o, "{\"version\":");
	put_string(o, MTASTSD_VERSION);
	put(o, ",\"pid\":");
	put_number(o, (long long)getpid());
	put(o, ",\"config\":");
	put_string(o, config_path);
	put(o, ",\"started\":");
	put_number(o, (long long)r->started);
	put(o, ",\"loaded\":");
	put_number(o, (long long)r->loaded);
	put(o, ",\"last_reload\":");
	last_reload_write(o, r);
	put(o, ",\"metrics_listen\":");
	put_string(o, metrics_listen);
	put(o, ",\"domains\":");
	domains_write(o, snap);
	put(o, "}\n");
}

/* Writes the status to tmp (mode 0644 whatever the umask); false with
 * errno set on failure. */
static bool write_file(const char *tmp, const struct snapshot *snap,
	const struct status_reload *r, const char *config_path,
	const char *metrics_listen)
{
	struct json_out o = { .fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC |
		O_CLOEXEC | O_NOFOLLOW, 0644) };
	if (o.fd < 0)
		return false;
	o.buf = malloc(JSON_OUT_SIZE);
	o.size = JSON_OUT_SIZE;
	if (!o.buf)
		o.error = ENOMEM;
	else if (fchmod(o.fd, 0644) < 0)
		o.error = errno;
	status_write(&o, snap, r, config_path, metrics_listen);
	flush(&o);
	free(o.buf);
	if (close(o.fd) < 0 && !o.error)
		o.error = errno;
	errno = o.error;
	return !o.error;
}

void status_publish(const struct snapshot *snap, const struct status_reload *r,
	const char *config_path, const char *metrics_listen)
{
	const char *dir = snapshot_config(snap)->state_directory;
	char *path = text_path_join(dir, STATUS_FILE);
	char *tmp = text_path_join(dir, "." STATUS_FILE ".tmp");
	bool ok = path && tmp && write_file(tmp, snap, r, config_path,
		metrics_listen) && rename(tmp, path) == 0;
	if (!ok) {
		log_warn_errno("%s: cannot write the status `mta-stsd status` "
			"reads; make the state directory writable by the "
			"service user", path ? path : dir);
		if (tmp)
			unlink(tmp);
	}
	free(path);
	free(tmp);
}

/* ------------------------------------------------------------------ */
/* Reading, in `mta-stsd status` */

static const char *text_of(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static long long number_of(json_object *o, const char *key)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	return (long long)json_object_get_int64(v);
}

static bool flag_of(json_object *o, const char *key)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && v &&
		json_object_get_boolean(v);
}

/* t as "2026-12-06 05:33:22 UTC" into buf. */
static const char *when(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!t || !gmtime_r(&tt, &tm))
		snprintf(buf, size, "-");
	else
		strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

static void print_domain(json_object *d, time_t now)
{
	char date[40];
	const char *name = text_of(d, "domain");
	if (!flag_of(d, "served")) {
		printf("%s: not served: %s\n", name, text_of(d, "reason"));
		return;
	}
	json_object *cert = NULL;
	json_object_object_get_ex(d, "certificate", &cert);
	long long expiry = number_of(cert, "not_after");
	printf("%s: served%s, id %s, mode %s, max_age %lld\n", name,
		flag_of(d, "previous_version") ? " (previous version)" : "",
		text_of(d, "id"), text_of(d, "mode"),
		number_of(d, "max_age"));
	if (flag_of(d, "previous_version"))
		printf("  its new version did not load: %s\n",
			text_of(d, "reason"));
	if (expiry)
		printf("  certificate expires %s (%s %lld days), from %s%s%s\n",
			when(expiry, date, sizeof(date)),
			expiry >= now ? "in" : "EXPIRED",
			(expiry >= now ? expiry - now : now - expiry) / 86400,
			text_of(cert, "source"), text_of(cert, "file") ? " " : "",
			text_of(cert, "file") ? text_of(cert, "file") : "");
}

static bool wanted(json_object *d, char **domains, int count)
{
	if (count == 0)
		return true;
	const char *name = text_of(d, "domain");
	for (int i = 0; i < count; i++) {
		if (name && strcmp(name, domains[i]) == 0)
			return true;
	}
	return false;
}

static json_object *read_status(const char *dir)
{
	char *path = text_path_join(dir, STATUS_FILE);
	if (!path)
		return NULL;
	json_object *o = json_object_from_file(path);
	free(path);
	return o;
}

static int show(json_object *status, bool running, bool json,
	char **domains, int count)
{
	time_t now = time(NULL);
	json_object *list = NULL;
	json_object_object_get_ex(status, "domains", &list);
	json_object *picked = json_object_new_array();
	size_t served = 0, total = 0;
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *d = json_object_array_get_idx(list, i);
		if (!wanted(d, domains, count))
			continue;
		total++;
		served += flag_of(d, "served");
		json_object_array_add(picked, json_object_get(d));
	}
	int rc = served < total ? STATUS_PROBLEM : STATUS_OK;
	for (int i = 0; i < count; i++) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "domain",
			json_object_new_string(domains[i]));
		bool found = false;
		for (size_t j = 0; j < json_object_array_length(picked); j++)
			found |= !strcmp(text_of(json_object_array_get_idx(
				picked, j), "domain"), domains[i]);
		if (found) {
			json_object_put(d);
			continue;
		}
		json_object_object_add(d, "served", json_object_new_boolean(0));
		json_object_object_add(d, "reason", json_object_new_string(
			"not in the configuration the daemon loaded"));
		json_object_array_add(picked, d);
		total++;
		rc = STATUS_PROBLEM;
	}
	if (!running)
		rc = STATUS_NOT_RUNNING;

	json_object *last = NULL;
	json_object_object_get_ex(status, "last_reload", &last);
	if (json) {
		json_object *out = json_object_get(status);
		json_object_object_add(out, "running",
			json_object_new_boolean(running));
		json_object_object_add(out, "domains", picked);
		printf("%s\n", json_object_to_json_string_ext(out,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
		return rc;
	}
	for (size_t i = 0; i < json_object_array_length(picked); i++)
		print_domain(json_object_array_get_idx(picked, i), now);
	char at[40], loaded[40];
	bool ok = !strcmp(text_of(last, "result") ? text_of(last, "result") :
		"", "success");
	printf("%s: serving %zu of %zu domain(s); last %s %s at %s%s%s\n",
		running ? "running" : "NOT RUNNING (last known state)", served,
		total, text_of(last, "kind") ? text_of(last, "kind") : "load",
		ok ? "succeeded" : "FAILED", when(number_of(last, "time"), at,
			sizeof(at)), ok ? "" : ", serving what was loaded at ",
		ok ? "" : when(number_of(status, "loaded"), loaded,
			sizeof(loaded)));
	json_object_put(picked);
	return rc;
}

static void status_usage(FILE *out)
{
	fprintf(out, "usage: mta-stsd status [-c FILE] [--json] [DOMAIN...]\n"
		"Show what the running daemon serves: per domain its id, mode "
		"and certificate,\nor why it is not served; the last reload; "
		"a summary. Exit 0 when it runs and\nserves every domain asked "
		"about, 1 when one is not served, 3 when no daemon runs.\n"
		"  -c, --config FILE  the configuration (default: "
		MTASTSD_CONFIG_FILE ")\n"
		"      --json         the status as JSON\n");
}

int status_command(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = MTASTSD_CONFIG_FILE;
	bool json = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			status_usage(stdout);
			return STATUS_OK;
		default:
			status_usage(stderr);
			return STATUS_USAGE;
		}
	}
	char **domains = argv + optind;
	int count = argc - optind;
	for (int i = 0; i < count; i++) {
		char name[DNSNAME_MAX + 1];
		if (dnsname_normalize(domains[i], false, name,
				sizeof(name)) < 0) {
			fprintf(stderr, "mta-stsd: status: \"%s\" is not a "
				"domain name — give policy domains, e.g. "
				"example.com\n", domains[i]);
			return STATUS_USAGE;
		}
	}

	/* Only the state directory is needed: the findings of the
	 * configuration are check-config's business. */
	log_init(LOG_LEVEL_ERROR, LOG_TARGET_STDERR);
	struct diag d;
	diag_init(&d);
	struct config config = { 0 };
	int loaded = config_load_file(config_path, &config, &d);
	diag_finish(&d);
	/* A configuration with errors still names its state directory
	 * (a failed reload is what status is asked about then). */
	if (loaded < 0 && config.state_directory)
		fprintf(stderr, "mta-stsd: status: %s has errors (`mta-stsd "
			"check-config` says which); reading the status in %s\n",
			config_path, config.state_directory);
	if (!config.state_directory) {
		fprintf(stderr, "mta-stsd: status: %s does not load — run "
			"`mta-stsd check-config -c %s` to see why\n",
			config_path, config_path);
		config_finish(&config);
		return STATUS_PROBLEM;
	}
	const char *dir = config.state_directory;
	enum state_daemon daemon = state_daemon_status(dir);
	json_object *status = read_status(dir);
	int rc;
	if (daemon != STATE_DAEMON_RUNNING && !status) {
		fprintf(stderr, "mta-stsd is not running (state directory %s: "
			"%s)\n", dir, daemon == STATE_DAEMON_NEVER ?
			"no daemon ever ran on it" : daemon ==
			STATE_DAEMON_UNKNOWN ? "cannot read its `running` "
			"file" : "no daemon holds its `running` lock");
		rc = STATUS_NOT_RUNNING;
	} else if (!status) {
		fprintf(stderr, "mta-stsd runs, but %s/%s cannot be read: %s — "
			"it is written after the start and each reload\n", dir,
			STATUS_FILE, strerror(errno));
		rc = STATUS_PROBLEM;
	} else {
		if (daemon != STATE_DAEMON_RUNNING)
			fprintf(stderr, "mta-stsd is not running: what follows "
				"is what it served when it stopped\n");
		rc = show(status, daemon == STATE_DAEMON_RUNNING, json,
			domains, count);
		json_object_put(status);
	}
	config_finish(&config);
	return rc;
}
