/* SPDX-License-Identifier: MIT */
/*
 * check.c: `mta-stsd check DOMAIN...`, the end-to-end checker: the command
 * line and the stages that gather what a sending MTA would see (RFC 8461
 * §3, §4, §5). What the gathered facts mean is assess.c's job, the report
 * and its output report.c's, the SMTP and TLS probes probe.c's.
 *
 * Concurrency, bounded at every step, in four stages:
 *   1. DNS: every question of every domain in flight at once in one
 *      libunbound context (resolve.c), bounded by --timeout;
 *   2. DNS for the MX hosts found, the same way;
 *   3. HTTPS: every policy fetched by one curl multi handle, at most
 *      FETCH_PARALLEL at a time, each bounded by --timeout (fetch.c);
 *   4. SMTP STARTTLS probes on a fixed pool of threads (probe.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checker/assess.h"
#include "checker/check.h"
#include "checker/work.h"
#include "config/config.h"
#include "config/state.h"
#include "server/snapshot.h"
#include "util/diag.h"

#define FETCH_PARALLEL 8
#define DEFAULT_TIMEOUT 10
#define MAX_TIMEOUT 300
#define DEFAULT_TRUST_ANCHOR "/usr/share/dns/root.key"

static void check_work_finish(struct check_work *w)
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
	free(w->tlsrpt_rua);
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
static int collect_mx(struct check_work *w)
{
	struct resolve_answer *mx = &w->mx;
	if (resolve_answer_empty(mx)) {
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


/* ---------------------------------------------------------------------
 * The stages
 * --------------------------------------------------------------------- */

/* Stage 1: the questions about each domain itself. */
static void ask_domain(struct resolver *res, struct check_work *w)
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

static bool all_timed_out(const struct check_work *w)
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
 * load_local loads -c the way `txt` does, without keys and read-only: ids
 * come from the configuration or from the state directory as the daemon
 * left it; nothing is written. Returns the snapshot, or NULL after
 * printing why.
 */
static struct snapshot *load_local(const char *path)
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
		return NULL;
	}
	struct snapshot_options so = {
		.now = time(NULL),
		.use_state = false,
		.load_certificates = false,
	};
	struct snapshot *snap = snapshot_create(config, &so, &d);
	if (!snap) {
		diag_print(&d, stderr);
		fprintf(stderr, "mta-stsd check: %s: configuration invalid\n",
			path);
	}
	diag_finish(&d);
	return snap;
}

/*
 * compare_local gives each checked domain what mta-stsd serves for it:
 * the policy body and the id to publish. A managed id derives from the
 * policy text (state_managed_id), so the snapshot knows it without
 * reading any state directory. 0, or -1 when out of memory.
 */
static int compare_local(const struct snapshot *snap, struct check_work *works,
	size_t count)
{
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		struct check_work *w = &works[i];
		const struct snapshot_domain *sd = snapshot_find(
			(struct snapshot *)snap, w->name);
		if (!sd)
			continue;
		w->configured = true;
		w->served_body = malloc(sd->body_len + 1);
		if (sd->config->tlsrpt_rua)
			w->tlsrpt_rua = strdup(sd->config->tlsrpt_rua);
		if (!w->served_body || (sd->config->tlsrpt_rua &&
				!w->tlsrpt_rua)) {
			rc = -1;
			break;
		}
		memcpy(w->served_body, sd->body, sd->body_len);
		w->served_len = sd->body_len;
		snprintf(w->expected_id, sizeof(w->expected_id), "%s", sd->id);
	}
	if (rc < 0)
		fprintf(stderr, "mta-stsd check: out of memory\n");
	return rc;
}

static void prepare_probe(struct probe *p, bool smtp, const char *host,
	unsigned port, const char **addresses, size_t count,
	const struct check_options *o)
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
static int run_checks(struct check_work *works, size_t count, const struct check_options *o)
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
		struct check_work *w = &works[i];
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
		struct check_work *w = &works[i];
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
		struct check_work *w = &works[i];
		if (w->fetched && w->fetch.status == FETCH_CERT) {
			prepare_probe(&w->https_probe, false, w->policy_host,
				o->https_port, w->addresses, w->address_count,
				o);
			jobs[jobs_len++] = &w->https_probe;
		}
		for (size_t j = 0; j < w->host_count && !o->no_smtp; j++) {
			struct check_mx_host *h = &w->hosts[j];
			if (h->address_count == 0)
				continue;
			prepare_probe(&h->probe, true, h->name, o->smtp_port,
				h->addresses, h->address_count, o);
			jobs[jobs_len++] = &h->probe;
		}
	}
	probe_run_all(jobs, jobs_len);
	free(jobs);

	/* The findings, in the order senders meet them. */
	for (size_t i = 0; i < count; i++) {
		struct check_work *w = &works[i];
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
		assess_domain(w, res, o);
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
		"       mta-stsd check -c FILE [OPTIONS] [DOMAIN...]\n"
		"  -c, --config FILE        also compare with what mta-stsd "
		"serves from FILE;\n"
		"                           no DOMAIN: every domain it "
		"configures\n"
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

static int parse_options(int argc, char *argv[], struct check_options *o)
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
	if (optind >= argc && !o->config) {
		fprintf(stderr, "mta-stsd check: name at least one domain, or "
			"give -c FILE to check every configured one\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

int check_command(int argc, char *argv[])
{
	struct check_options o = {
		.https_port = 443,
		.smtp_port = 25,
		.timeout_s = DEFAULT_TIMEOUT,
	};
	int prc = parse_options(argc, argv, &o);
	if (prc != 0)
		return prc > 0 ? CHECK_EXIT_OK : CHECK_EXIT_USAGE;

	/* -c without a domain: every configured domain. */
	struct snapshot *snap = NULL;
	if (o.config && !(snap = load_local(o.config)))
		return CHECK_EXIT_USAGE;
	size_t count = (size_t)(argc - optind);
	bool all_configured = count == 0;
	if (all_configured)
		count = snapshot_domain_count(snap);
	struct check_work *works = calloc(count ? count : 1, sizeof(*works));
	if (!works) {
		fprintf(stderr, "mta-stsd check: out of memory\n");
		snapshot_unref(snap);
		return CHECK_EXIT_USAGE;
	}
	int rc = CHECK_EXIT_USAGE;
	size_t ready = 0;
	for (; ready < count; ready++) {
		struct check_work *w = &works[ready];
		const char *arg = all_configured ?
			snapshot_domain_at(snap, ready)->config->name :
			argv[optind + (int)ready];
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
	if (snap && compare_local(snap, works, count) < 0)
		goto out;
	snapshot_unref(snap);
	snap = NULL;
	if (run_checks(works, count, &o) < 0)
		goto out;

	struct check_domain *reports = calloc(count ? count : 1,
		sizeof(*reports));
	if (!reports) {
		fprintf(stderr, "mta-stsd check: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		reports[i] = works[i].report;
	if (o.json) {
		char *text = check_json(reports, count);
		if (!text) {
			fprintf(stderr, "mta-stsd check: out of memory\n");
			free(reports);
			goto out;
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
		if (count > 1) {
			putchar('\n');
			check_print_summary(reports, count, stdout);
		}
	}
	rc = check_exit_status(reports, count);
	free(reports);
	if (fflush(stdout) != 0)
		rc = CHECK_EXIT_USAGE;
out:
	snapshot_unref(snap);
	for (size_t i = 0; i < ready; i++)
		check_work_finish(&works[i]);
	free(works);
	return rc;
}
