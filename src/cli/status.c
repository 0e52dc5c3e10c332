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

static json_object *domain_json(const struct snapshot *snap,
	const struct snapshot_domain *sd)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "domain",
		json_object_new_string(sd->config->name));
	json_object_object_add(o, "served", json_object_new_boolean(1));
	json_object_object_add(o, "previous_version",
		json_object_new_boolean(snapshot_domain_is_kept(snap, sd)));
	json_object_object_add(o, "id", json_object_new_string(sd->id));
	json_object_object_add(o, "mode", json_object_new_string(
		policy_mode_name(sd->config->policy.mode)));
	json_object_object_add(o, "max_age",
		json_object_new_int64(sd->config->policy.max_age));
	json_object *cert = json_object_new_object();
	/* ACME certificates live in the state directory, under the
	 * daemon's own names. */
	bool acme = sd->config->acme;
	json_object_object_add(cert, "source",
		json_object_new_string(acme ? "acme" : "file"));
	json_object_object_add(cert, "file", !acme && sd->config->cert ?
		json_object_new_string(sd->config->cert) : NULL);
	json_object_object_add(cert, "not_after", sd->cert_loaded ?
		json_object_new_int64(sd->cert.not_after) : NULL);
	json_object_object_add(o, "certificate", cert);
	return o;
}

static json_object *problem_json(const struct snapshot_problem *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "domain", json_object_new_string(p->name));
	json_object_object_add(o, "served", json_object_new_boolean(0));
	json_object_object_add(o, "reason", json_object_new_string(p->reason));
	json_object_object_add(o, "file", p->file ?
		json_object_new_string(p->file) : NULL);
	json_object_object_add(o, "line", json_object_new_int64(p->line));
	return o;
}

static json_object *status_json(const struct snapshot *snap,
	const struct status_reload *r, const char *config_path,
	const char *metrics_listen)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version",
		json_object_new_string(MTASTSD_VERSION));
	json_object_object_add(o, "pid", json_object_new_int64(getpid()));
	json_object_object_add(o, "config", json_object_new_string(config_path));
	json_object_object_add(o, "started", json_object_new_int64(r->started));
	json_object_object_add(o, "loaded", json_object_new_int64(r->loaded));
	json_object *last = json_object_new_object();
	json_object_object_add(last, "time",
		json_object_new_int64(r->attempted));
	json_object_object_add(last, "kind",
		json_object_new_string(r->reload ? "reload" : "start"));
	json_object_object_add(last, "result",
		json_object_new_string(r->ok ? "success" : "failure"));
	json_object_object_add(o, "last_reload", last);
	json_object_object_add(o, "metrics_listen", metrics_listen ?
		json_object_new_string(metrics_listen) : NULL);

	/* Served domains first, then those with a problem that are not. */
	json_object *domains = json_object_new_array();
	for (size_t i = 0; i < snapshot_domain_count(snap); i++)
		json_object_array_add(domains, domain_json(snap, snapshot_domain_at(
			(struct snapshot *)snap, i)));
	for (size_t i = 0; i < snapshot_problem_count(snap); i++) {
		const struct snapshot_problem *p = snapshot_problem_at(snap, i);
		/* One served in its previous version is listed above;
		 * explain_kept adds why. */
		if (!p->kept)
			json_object_array_add(domains, problem_json(p));
	}
	json_object_object_add(o, "domains", domains);
	return o;
}

/* Adds the reason to the entries of domains served in their previous
 * version. */
static void explain_kept(json_object *domains, const struct snapshot *snap)
{
	for (size_t i = 0; i < json_object_array_length(domains); i++) {
		json_object *d = json_object_array_get_idx(domains, i);
		json_object *prev;
		if (!json_object_object_get_ex(d, "previous_version", &prev) ||
				!json_object_get_boolean(prev))
			continue;
		json_object *name;
		json_object_object_get_ex(d, "domain", &name);
		const struct snapshot_problem *p = snapshot_find_problem(snap,
			json_object_get_string(name));
		if (p)
			json_object_object_add(d, "reason",
				json_object_new_string(p->reason));
	}
}

void status_publish(const struct snapshot *snap, const struct status_reload *r,
	const char *config_path, const char *metrics_listen)
{
	const char *dir = snapshot_config(snap)->state_directory;
	json_object *o = status_json(snap, r, config_path, metrics_listen);
	json_object *domains;
	if (json_object_object_get_ex(o, "domains", &domains))
		explain_kept(domains, snap);
	char *path = text_path_join(dir, STATUS_FILE);
	char *tmp = text_path_join(dir, "." STATUS_FILE ".tmp");
	const char *text = json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PLAIN);
	int fd = -1;
	bool ok = path && tmp && text;
	if (ok) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
			O_NOFOLLOW, 0644);
		size_t len = strlen(text);
		ok = fd >= 0 && fchmod(fd, 0644) == 0 &&
			write(fd, text, len) == (ssize_t)len &&
			write(fd, "\n", 1) == 1;
		if (fd >= 0 && close(fd) < 0)
			ok = false;
		ok = ok && rename(tmp, path) == 0;
	}
	if (!ok) {
		log_warn_errno("%s: cannot write the status `mta-stsd status` "
			"reads; make the state directory writable by the "
			"service user", path ? path : dir);
		if (tmp)
			unlink(tmp);
	}
	free(path);
	free(tmp);
	json_object_put(o);
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
