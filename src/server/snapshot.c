/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config/config.h"
#include "util/diag.h"
#include "core/dnsname.h"
#include "util/log.h"
#include "core/policy.h"
#include "server/snapshot.h"
#include "config/state.h"
#include "tls/digest.h"
#include "tls/priorities.h"
#include "tls/store.h"
#include "core/txt.h"

struct snapshot {
	atomic_uint refs;
	struct config *config;
	struct tls_store *tls;
	struct state *state;		/* NULL unless options.use_state */
	struct snapshot_domain *domains;	/* the served ones */
	size_t domain_count;
	struct snapshot_problem *problems;
	size_t problem_count;
	/* Snapshots whose domains this one still serves (kept versions). */
	struct snapshot **lenders;
	size_t lender_count;
	void *attachment;
	void (*attachment_destroy)(void *data);
	/* snapshot_renew: config is this snapshot's, which it references */
	struct snapshot *config_owner;
	size_t acme_pending;	/* ACME domains waiting for a certificate */
};

/*
 * Freed snapshots leave memory for malloc_trim, which must not run on the
 * thread that happens to drop the last reference: that is often a
 * libmicrohttpd worker, whose event loop would stall for the whole trim.
 * destroy only counts and signals; the main thread trims
 * (snapshot_release_memory).
 */
static atomic_uint freed_since_trim;
static int release_fd = -1;

int snapshot_release_notifier(void)
{
	if (release_fd < 0)
		release_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return release_fd;
}

void snapshot_release_memory(void)
{
	uint64_t count;
	if (release_fd >= 0)
		while (read(release_fd, &count, sizeof(count)) > 0)
			;
	if (atomic_exchange(&freed_since_trim, 0) == 0)
		return;
#ifdef __GLIBC__
	/*
	 * A snapshot of 10,000 domains frees some 50 MiB in small blocks
	 * that glibc keeps for reuse: give the whole pages back, or every
	 * reload would leave the daemon at twice its size.
	 */
	malloc_trim(0);
#endif
}

static void destroy(struct snapshot *snap)
{
	if (snap->attachment_destroy)
		snap->attachment_destroy(snap->attachment);
	for (size_t i = 0; i < snap->domain_count; i++) {
		if (snap->domains[i].lender)
			continue;	/* the lender's strings */
		free(snap->domains[i].host);
		free(snap->domains[i].body);
	}
	free(snap->domains);
	for (size_t i = 0; i < snap->problem_count; i++) {
		free(snap->problems[i].name);
		free(snap->problems[i].reason);
		free(snap->problems[i].file);
	}
	free(snap->problems);
	/* The store goes before the lenders whose credentials it used. */
	tls_store_destroy(snap->tls);
	for (size_t i = 0; i < snap->lender_count; i++)
		snapshot_unref(snap->lenders[i]);
	free(snap->lenders);
	state_destroy(snap->state);
	if (snap->config_owner) {
		snapshot_unref(snap->config_owner);
	} else {
		config_finish(snap->config);
		free(snap->config);
	}
	free(snap);
	atomic_fetch_add(&freed_since_trim, 1);
	if (release_fd >= 0) {
		/* eventfd writes never block with EFD_NONBLOCK; a full
		 * counter (EAGAIN) already means "readable". */
		uint64_t one = 1;
		int saved = errno;
		if (write(release_fd, &one, sizeof(one)) < 0)
			errno = saved;
	}
}

/* Short reasons for the codes a domain most often fails with. */
static const struct {
	const char *code;
	const char *reason;
} reasons[] = {
	{ "tls-key-unreadable", "key unreadable" },
	{ "tls-cert-unreadable", "certificate unreadable" },
	{ "tls-cert-expired", "certificate expired" },
	{ "tls-cert-not-yet-valid", "certificate not yet valid" },
	{ "tls-key-mismatch", "key does not match the certificate" },
	{ "tls-host-not-covered", "certificate does not cover the policy "
		"host" },
	{ "tls-credential-rejected", "certificate rejected" },
	{ "config-domain-duplicate", "duplicate name" },
	{ "config-missing-setting", "a required setting is missing" },
	{ "config-domain-invalid", "not a domain name" },
	{ "config-domain-no-name", "no name" },
	{ "config-domains-file", "the file holds more than domains" },
	{ "config-syntax", "syntax error" },
	{ "acme-pending", "waiting for its certificate from ACME" },
	{ "config-open", "file unreadable" },
	{ "config-include", "@include unreadable" },
};

/*
 * reason_of turns the code of a domain's first error into the few words
 * that the summary of check-config and the service status show: a known
 * phrase, or the code without its module ("policy-mx-missing" becomes
 * "mx missing"). Caller frees; NULL when out of memory.
 */
static char *reason_of(const char *code)
{
	if (!code)
		return strdup("invalid");
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (!strcmp(reasons[i].code, code))
			return strdup(reasons[i].reason);
	}
	const char *dash = strchr(code, '-');
	char *r = strdup(dash && dash[1] ? dash + 1 : code);
	for (char *p = r; p && *p; p++) {
		if (*p == '-')
			*p = ' ';
	}
	return r;
}

/* The code of the first error in d from index mark on, or NULL. */
static const char *first_error(const struct diag *d, size_t mark)
{
	for (size_t i = mark; i < d->len; i++) {
		if (d->items[i].severity == DIAG_ERROR)
			return d->items[i].code;
	}
	return NULL;
}

/* Appends p, taking its strings (freed when !ok or memory ran out). */
static int push_problem(struct snapshot *snap, struct snapshot_problem p,
	bool ok)
{
	struct snapshot_problem *grown = ok ? realloc(snap->problems,
		(snap->problem_count + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		free(p.name);
		free(p.reason);
		free(p.file);
		return -1;
	}
	snap->problems = grown;
	snap->problems[snap->problem_count++] = p;
	return 0;
}

static int add_problem(struct snapshot *snap, const char *name,
	const char *code, const char *file, unsigned line, bool kept)
{
	struct snapshot_problem p = {
		.name = strdup(name), .reason = reason_of(code),
		.file = file ? strdup(file) : NULL, .line = line,
		.kept = kept,
	};
	return push_problem(snap, p, p.name && p.reason && (!file || p.file));
}

static int add_lender(struct snapshot *snap, struct snapshot *lender)
{
	for (size_t i = 0; i < snap->lender_count; i++) {
		if (snap->lenders[i] == lender)
			return 0;
	}
	struct snapshot **grown = realloc(snap->lenders,
		(snap->lender_count + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	snap->lenders = grown;
	snap->lenders[snap->lender_count++] = snapshot_ref(lender);
	return 0;
}

/*
 * keep_previous serves the version of name that previous served, in place
 * of a new version that cannot be used: a reload never makes a served
 * domain worse. The kept domain's strings, configuration and credentials
 * stay those of the snapshot that loaded them, which this one references.
 * Returns true when the domain is kept.
 */
static bool keep_previous(struct snapshot *snap, struct snapshot *previous,
	const char *name, const char *code, struct diag *d, const char *file,
	unsigned line)
{
	if (!previous)
		return false;
	const struct snapshot_domain *old = snapshot_find(previous, name);
	if (!old || !tls_store_lookup(previous->tls, old->host) ||
			tls_store_lookup(snap->tls, old->host))
		return false;
	struct snapshot *owner = old->lender ? old->lender : previous;
	struct snapshot_domain *sd = &snap->domains[snap->domain_count];
	*sd = *old;
	sd->response = NULL;
	sd->lender = owner;
	sd->previous = true;
	if (add_lender(snap, owner) < 0 ||
			tls_store_add_shared(snap->tls, sd->host, previous->tls,
				sd) < 0 ||
			add_problem(snap, name, code, file, line, true) < 0) {
		*sd = (struct snapshot_domain){0};
		return false;
	}
	snap->domain_count++;
	char *why = reason_of(code);
	diag_add(d, DIAG_WARNING, file, line, "snapshot-kept-previous",
		"%s: still serving its previous version (id %s) — its new "
		"configuration cannot be used (%s): fix the errors above and "
		"reload", name, sd->id, why ? why : "invalid");
	free(why);
	return true;
}

/*
 * not_served records that name is not served, or keeps its previous
 * version when there is one. 0, or -1 when memory ran out.
 */
static int not_served(struct snapshot *snap,
	const struct snapshot_options *options, const char *name,
	const char *code, struct diag *d, const char *file, unsigned line)
{
	if (keep_previous(snap, options->previous, name, code, d, file, line))
		return 0;
	/* Every copy of a duplicate name comes here: count the name once. */
	if (code && !strcmp(code, "config-domain-duplicate")) {
		for (size_t i = 0; i < snap->problem_count; i++) {
			if (!strcmp(snap->problems[i].name, name))
				return 0;
		}
	}
	char *why = reason_of(code);
	diag_add(d, DIAG_ERROR, file, line, "snapshot-not-served",
		"%s: not served (%s) — fix the errors above%s; every other "
		"domain is served", name, why ? why : "invalid",
		options->previous ? " and reload" : "");
	free(why);
	return add_problem(snap, name, code, file, line, false);
}

/*
 * prepare_domain renders the policy of one configured domain and works out
 * its id. The rendered bytes are what every request gets, and their digest
 * is what the state directory tracks to notice a changed policy.
 */
static int prepare_domain(struct snapshot *snap, struct snapshot_domain *sd,
	const struct config_domain *cd, const struct snapshot_options *options,
	struct diag *d)
{
	sd->config = cd;
	if (asprintf(&sd->host, "mta-sts.%s", cd->name) < 0) {
		sd->host = NULL;
		goto err_memory;
	}
	sd->body = policy_render(&cd->policy, &sd->body_len);
	if (!sd->body)
		goto err_memory;
	if (tls_digest_hex(sd->body, sd->body_len, sd->digest) < 0) {
		diag_add(d, DIAG_ERROR, cd->file, cd->line, "internal",
			"%s: cannot compute the policy digest — report this as "
			"a bug", cd->name);
		return -1;
	}

	if (snap->state)
		return state_assign_id(snap->state, cd->name, cd->id,
			sd->digest, options->now, sd->id, d, cd->file,
			cd->line);
	if (cd->id)
		snprintf(sd->id, sizeof(sd->id), "%s", cd->id);
	else
		state_managed_id(sd->digest, sd->id);
	return 0;

err_memory:
	diag_add(d, DIAG_ERROR, cd->file, cd->line, "out-of-memory",
		"%s: out of memory", cd->name);
	return -1;
}

static int load_certificate(struct snapshot *snap, struct snapshot_domain *sd,
	const struct snapshot_options *options, struct diag *d)
{
	const struct config_domain *cd = sd->config;

	if (options->generate_certificates) {
		if (tls_store_add_generated(snap->tls, sd->host, sd, NULL) < 0) {
			diag_add(d, DIAG_ERROR, cd->file, cd->line, "internal",
				"%s: cannot generate a certificate", sd->host);
			return -1;
		}
		return 0;
	}
	if (cd->acme && access(cd->cert, F_OK) < 0 && errno == ENOENT) {
		diag_add(d, DIAG_WARNING, cd->file, cd->line, "acme-pending",
			"%s: not served until its first certificate from ACME "
			"is issued (`mta-stsd acme-status` shows how that goes)",
			cd->name);
		return 1;
	}
	if (tls_store_add(snap->tls, sd->host, cd->cert, cd->key, sd,
			options->now, &sd->cert, d, cd->file, cd->line) < 0)
		return -1;
	sd->cert_loaded = true;
	return 0;
}

/* Did this snapshot keep a previous version of a domain from file? */
static bool kept_from(const struct snapshot *snap, const char *file)
{
	for (size_t i = 0; i < snap->problem_count; i++) {
		const struct snapshot_problem *p = &snap->problems[i];
		if (p->kept && p->file && !strcmp(p->file, file))
			return true;
	}
	return false;
}

/* Is path a file of domains_directory that could not be used? */
static bool is_skipped_file(const struct config *config, const char *path)
{
	for (size_t i = 0; i < config->skipped_count; i++) {
		const struct config_skipped *k = &config->skipped[i];
		if (k->line == 0 && k->file && !strcmp(k->file, path))
			return true;
	}
	return false;
}

/*
 * keep_from_files keeps, on a reload, the previous version of every domain
 * that came from a file of domains_directory that cannot be used now (a
 * syntax error hides which domains it holds) and is not configured
 * elsewhere in the new configuration.
 */
static void keep_from_files(struct snapshot *snap,
	const struct snapshot_options *options, struct diag *d)
{
	struct snapshot *previous = options->previous;
	const struct config *config = snap->config;
	if (!previous || config->skipped_count == 0)
		return;
	for (size_t i = 0; i < previous->domain_count; i++) {
		const struct snapshot_domain *old = &previous->domains[i];
		const struct config_domain *cd = old->config;
		if (!cd->file || !is_skipped_file(config, cd->file) ||
				config_find_domain(config, cd->name))
			continue;
		keep_previous(snap, previous, cd->name, "config-syntax", d,
			cd->file, 0);
	}
}

struct snapshot *snapshot_create(struct config *config,
	const struct snapshot_options *options, struct diag *d)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap) {
		config_finish(config);
		free(config);
		diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory",
			"out of memory");
		return NULL;
	}
	atomic_init(&snap->refs, 1);
	snap->config = config;
	size_t errors = d->errors;

	/* Room for every configured domain and every kept one. */
	size_t room = config->domain_count + 1 +
		(options->previous ? options->previous->domain_count : 0);
	snap->tls = tls_store_create();
	snap->domains = calloc(room, sizeof(*snap->domains));
	if (!snap->tls || !snap->domains)
		goto err_memory;

	if (config->tls_priorities && options->load_certificates)
		tls_priorities_are_valid(config->tls_priorities, d,
			config->tls_priorities_file, config->tls_priorities_line);

	if (options->use_state) {
		snap->state = state_open(config->state_directory, d);
		if (!snap->state)
			goto err;
	}
	/* Errors so far (priorities, state) concern every domain. */
	bool failed = d->errors > errors;

	/*
	 * One domain's problem is that domain's alone: it is not served (or
	 * keeps its previous version) and loading goes on, so one run
	 * reports every problem of every domain.
	 */
	for (size_t i = 0; i < config->domain_count; i++) {
		const struct config_domain *cd = &config->domains[i];
		struct snapshot_domain *sd = &snap->domains[snap->domain_count];
		size_t mark = d->len;
		const char *code = cd->problem;
		int loaded = 0;
		bool ok = !code && prepare_domain(snap, sd, cd, options, d) == 0 &&
			(!options->load_certificates ||
			(loaded = load_certificate(snap, sd, options, d)) == 0);
		if (loaded > 0) {
			/* Waiting for ACME is no error: listed, not served. */
			free(sd->host);
			free(sd->body);
			*sd = (struct snapshot_domain){0};
			if (add_problem(snap, cd->name, "acme-pending", cd->file,
					cd->line, false) < 0)
				goto err_memory;
			snap->problems[snap->problem_count - 1].pending = true;
			snap->acme_pending++;
			continue;
		}
		if (ok) {
			snap->domain_count++;
			continue;
		}
		if (!code)
			code = first_error(d, mark);
		free(sd->host);
		free(sd->body);
		*sd = (struct snapshot_domain){0};
		if (not_served(snap, options, cd->name, code, d, cd->file,
				cd->line) < 0)
			goto err_memory;
		/* The ACME thread replaces broken files: start for it. */
		if (cd->acme && !cd->problem)
			snap->acme_pending++;
	}
	keep_from_files(snap, options, d);
	for (size_t i = 0; i < config->skipped_count; i++) {
		const struct config_skipped *k = &config->skipped[i];
		/* A file whose domains all keep their previous versions is
		 * not a domain that goes unserved: they say so themselves. */
		if (k->line == 0 && kept_from(snap, k->file))
			continue;
		diag_add(d, DIAG_ERROR, k->file, k->line, "snapshot-not-served",
			"%s: not served — fix the errors above%s", k->name,
			k->line == 0 ? "; no domain of this file is read until "
			"it loads" : "");
		if (add_problem(snap, k->name, k->code, k->file, k->line,
				false) < 0)
			goto err_memory;
	}

	size_t lost = snapshot_not_served_count(snap);
	if (config->strict && lost > 0) {
		diag_add(d, DIAG_ERROR, config->file, 0, "snapshot-strict",
			"strict = true: %zu domain(s) cannot be served, so none "
			"is — fix them, or set strict = false to serve the "
			"others", lost);
		failed = true;
	} else if (snap->domain_count == 0 && !failed && !options->subset &&
			snap->acme_pending == 0) {
		diag_add(d, DIAG_ERROR, config->file, 0, "snapshot-none-served",
			"no domain can be served — fix the errors above");
		failed = true;
	}
	if (failed)
		goto err;
	return snap;

err_memory:
	diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory", "out of memory");
err:
	destroy(snap);
	return NULL;
}

struct snapshot *snapshot_ref(struct snapshot *snapshot)
{
	atomic_fetch_add_explicit(&snapshot->refs, 1, memory_order_relaxed);
	return snapshot;
}

void snapshot_unref(struct snapshot *snapshot)
{
	if (!snapshot)
		return;
	if (atomic_fetch_sub_explicit(&snapshot->refs, 1,
			memory_order_acq_rel) == 1)
		destroy(snapshot);
}

const struct config *snapshot_config(const struct snapshot *snapshot)
{
	return snapshot->config;
}

size_t snapshot_domain_count(const struct snapshot *snapshot)
{
	return snapshot->domain_count;
}

struct snapshot_domain *snapshot_domain_at(struct snapshot *snapshot,
	size_t index)
{
	return index < snapshot->domain_count ? &snapshot->domains[index] : NULL;
}

const struct tls_store *snapshot_tls(const struct snapshot *snapshot)
{
	return snapshot->tls;
}

const struct snapshot_domain *snapshot_find(const struct snapshot *snapshot,
	const char *name)
{
	char host[DNSNAME_MAX + 1];
	if (snprintf(host, sizeof(host), "mta-sts.%s", name) >=
			(int)sizeof(host))
		return NULL;
	/* The SNI table is keyed by policy host; domains without a loaded
	 * certificate are found by a scan (`txt`, `check -c`). */
	const struct snapshot_domain *sd = tls_store_lookup(snapshot->tls, host);
	if (sd)
		return sd;
	for (size_t i = 0; i < snapshot->domain_count; i++) {
		if (dnsname_equal(snapshot->domains[i].config->name, name))
			return &snapshot->domains[i];
	}
	return NULL;
}

void snapshot_set_attachment(struct snapshot *snapshot, void *data,
	void (*destroy_data)(void *data))
{
	snapshot->attachment = data;
	snapshot->attachment_destroy = destroy_data;
}

size_t snapshot_problem_count(const struct snapshot *snapshot)
{
	return snapshot->problem_count;
}

const struct snapshot_problem *snapshot_problem_at(
	const struct snapshot *snapshot, size_t index)
{
	return index < snapshot->problem_count ?
		&snapshot->problems[index] : NULL;
}

const struct snapshot_problem *snapshot_find_problem(
	const struct snapshot *snapshot, const char *name)
{
	for (size_t i = 0; i < snapshot->problem_count; i++) {
		if (dnsname_equal(snapshot->problems[i].name, name))
			return &snapshot->problems[i];
	}
	return NULL;
}

size_t snapshot_not_served_count(const struct snapshot *snapshot)
{
	size_t n = 0;
	for (size_t i = 0; i < snapshot->problem_count; i++)
		n += !snapshot->problems[i].kept &&
			!snapshot->problems[i].pending;
	return n;
}

int snapshot_record_served(const struct snapshot *snapshot, time_t now,
	struct diag *d)
{
	if (!snapshot->state)
		return 0;
	/* The daemon is the only writer of the state directory. */
	if (state_save_ids(snapshot->state, d) < 0)
		return -1;
	struct state_record *records = calloc(
		snapshot->domain_count ? snapshot->domain_count : 1,
		sizeof(*records));
	if (!records) {
		diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory",
			"out of memory");
		return -1;
	}
	for (size_t i = 0; i < snapshot->domain_count; i++) {
		const struct snapshot_domain *sd = &snapshot->domains[i];
		records[i].domain = sd->config->name;
		memcpy(records[i].id, sd->id, sizeof(records[i].id));
		memcpy(records[i].digest, sd->digest, sizeof(records[i].digest));
		records[i].time = (int64_t)now;
	}
	int rc = state_save_served(snapshot->state, records,
		snapshot->domain_count, d);
	free(records);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* A new certificate from ACME, without a reload */

/* Is host one of hosts (count of them)? */
static bool is_listed(const char *host, const char *const *hosts,
	size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (dnsname_equal(host, hosts[i]))
			return true;
	return false;
}

/* Copies problem p of another snapshot into snap. 0 or -1 (memory). */
static int copy_problem(struct snapshot *snap, const struct snapshot_problem *p)
{
	struct snapshot_problem q = *p;
	q.name = strdup(p->name);
	q.reason = p->reason ? strdup(p->reason) : NULL;
	q.file = p->file ? strdup(p->file) : NULL;
	return push_problem(snap, q, q.name && (!p->reason || q.reason) &&
		(!p->file || q.file));
}

/* Borrows domain old of current (strings and credentials) into snap. */
static int borrow(struct snapshot *snap, struct snapshot *current,
	const struct snapshot_domain *old)
{
	struct snapshot *owner = old->lender ? old->lender : current;
	struct snapshot_domain *sd = &snap->domains[snap->domain_count];
	*sd = *old;
	sd->response = NULL;
	sd->lender = owner;
	if (add_lender(snap, owner) < 0 ||
	    tls_store_add_shared(snap->tls, sd->host, current->tls, sd) < 0) {
		*sd = (struct snapshot_domain){0};
		return -1;
	}
	snap->domain_count++;
	return 0;
}

/* Loads the new certificate of cd into snap as a domain of its own. */
static int load_renewed(struct snapshot *snap, const struct config_domain *cd,
	const struct snapshot_options *options, struct diag *d)
{
	struct snapshot_domain *sd = &snap->domains[snap->domain_count];
	if (prepare_domain(snap, sd, cd, options, d) < 0 ||
	    load_certificate(snap, sd, options, d) != 0) {
		free(sd->host);
		free(sd->body);
		*sd = (struct snapshot_domain){0};
		return -1;
	}
	snap->domain_count++;
	return 0;
}

struct snapshot *snapshot_renew(struct snapshot *current,
	const char *const *hosts, size_t count, time_t now, struct diag *d)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap)
		goto err_nomem;
	atomic_init(&snap->refs, 1);
	snap->config_owner = snapshot_ref(current->config_owner ?
		current->config_owner : current);
	snap->config = current->config;
	const struct config *config = snap->config;
	snap->tls = tls_store_create();
	snap->domains = calloc(config->domain_count + current->domain_count + 1,
		sizeof(*snap->domains));
	if (!snap->tls || !snap->domains)
		goto err;
	if (current->state && !(snap->state = state_open(
			config->state_directory, d)))
		goto err;
	struct snapshot_options options = {
		.now = now,
		.load_certificates = true,
	};
	for (size_t i = 0; i < current->domain_count; i++) {
		const struct snapshot_domain *old = &current->domains[i];
		size_t mark = d->errors;
		/* A renewed chain that cannot be used leaves the old one. */
		if (old->config->acme && is_listed(old->host, hosts, count) &&
		    load_renewed(snap, old->config, &options, d) == 0)
			continue;
		if (d->errors > mark)
			diag_add(d, DIAG_WARNING, old->config->file,
				old->config->line, "acme-kept-previous",
				"%s: still serving the previous certificate",
				old->config->name);
		if (borrow(snap, current, old) < 0)
			goto err;
	}
	for (size_t i = 0; i < current->problem_count; i++) {
		const struct snapshot_problem *p = &current->problems[i];
		const struct config_domain *cd = config_find_domain(config,
			p->name);
		char host[DNSNAME_MAX + 16];
		snprintf(host, sizeof(host), "mta-sts.%s", p->name);
		/* Waiting, or broken by files a crash left half replaced. */
		if (!p->kept && cd && cd->acme && !cd->problem &&
		    is_listed(host, hosts, count) &&
		    load_renewed(snap, cd, &options, d) == 0)
			continue;
		if (copy_problem(snap, p) < 0)
			goto err_nomem;
		snap->acme_pending += p->pending;
	}
	return snap;
err_nomem:
	diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory", "out of memory");
err:
	if (snap)
		destroy(snap);
	return NULL;
}

size_t snapshot_lender_count(const struct snapshot *snapshot)
{
	return snapshot->lender_count;
}
