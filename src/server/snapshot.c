/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/diag.h"
#include "core/dnsname.h"
#include "util/log.h"
#include "core/policy.h"
#include "server/snapshot.h"
#include "config/state.h"
#include "tls/digest.h"
#include "tls/filefacts.h"
#include "tls/priorities.h"
#include "tls/store.h"
#include "core/txt.h"
#include "util/clock.h"
#include "util/parallel.h"
#include "util/text.h"

/* A served domain and what it was made from. */
struct entry {
	atomic_uint refs;
	struct snapshot_domain pub;
	struct config_domain config;	/* moved out of the configuration */
	/* The generation of the first and of the newest snapshot serving
	 * it (see serve_entry): two snapshots compare in O(changed). */
	unsigned long born, newest;
	/*
	 * Can the identity of its files (pub.cert.cert_file and key_file)
	 * alone tell a reload they did not change? Not when one was changed
	 * within the timestamp granularity of the moment it was read: then
	 * the digest of its bytes decides. Only reloads, one at a time,
	 * read and update this and the facts (see file_unchanged).
	 */
	bool identity_trusted;
};

struct snapshot {
	atomic_uint refs;
	unsigned long generation;	/* one more than its predecessor's */
	struct config *config;
	struct tls_store *tls;
	struct state *state;		/* NULL unless options.use_state */
	struct entry **domains;		/* the served ones, one reference each */
	size_t domain_count;
	struct snapshot_problem *problems;
	size_t problem_count;
	size_t problem_cap;
	/* problems sorted by name (index_problems), once the snapshot is
	 * made: a lookup per domain must not scan them all. */
	struct snapshot_problem **problem_index;
	struct snapshot_stats stats;
	/* ACME domains not served yet (no usable certificate), rendered,
	 * one reference each: snapshot_renew serves them when one comes. */
	struct entry **waiting;
	size_t waiting_count;
	size_t acme_pending;	/* ACME domains waiting for a certificate */
	bool use_state;		/* ids come from the state directory */
	/* snapshot_renew: config is this snapshot's, which it references */
	struct snapshot *config_owner;
	unsigned renewals;	/* snapshot_renew in a row that made this one */
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

void snapshot_memory_init(void)
{
#ifdef __GLIBC__
	/*
	 * Set once, the threshold stays put. Left to glibc it rises to the
	 * size of each large block freed (up to 32 MiB), after which the
	 * next reload's large arrays (10 MB of configuration at 100,000
	 * domains) come from the heap, grow by copying, leave holes, and
	 * keep the pages: 26 MB more at a reload's peak, and the idle size
	 * crept up reload by reload.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
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

static struct entry *entry_of(const struct snapshot_domain *sd)
{
	return (struct entry *)((char *)sd - offsetof(struct entry, pub));
}

static struct entry *entry_ref(struct entry *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	return e;
}

static void entry_unref(struct entry *e)
{
	if (!e || atomic_fetch_sub_explicit(&e->refs, 1,
			memory_order_acq_rel) != 1)
		return;
	if (e->pub.response && e->pub.response_destroy)
		e->pub.response_destroy(e->pub.response);
	free(e->pub.host);
	free(e->pub.body);
	config_domain_finish(&e->config);
	free(e);
}

static void destroy(struct snapshot *snap)
{
	/* The store goes first: it points at the entries (user pointers). */
	tls_store_destroy(snap->tls);
	for (size_t i = 0; i < snap->domain_count; i++)
		entry_unref(snap->domains[i]);
	free(snap->domains);
	for (size_t i = 0; i < snap->waiting_count; i++)
		entry_unref(snap->waiting[i]);
	free(snap->waiting);
	for (size_t i = 0; i < snap->problem_count; i++) {
		free(snap->problems[i].name);
		free(snap->problems[i].reason);
		free(snap->problems[i].file);
	}
	free(snap->problems);
	free(snap->problem_index);
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
	if (ok && snap->problem_count == snap->problem_cap) {
		size_t cap = snap->problem_cap ? snap->problem_cap * 2 : 8;
		struct snapshot_problem *grown = realloc(snap->problems,
			cap * sizeof(*grown));
		if (grown) {
			snap->problems = grown;
			snap->problem_cap = cap;
		}
		ok = grown != NULL;
	}
	if (!ok) {
		free(p.name);
		free(p.reason);
		free(p.file);
		return -1;
	}
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

/* Keeps e, an ACME domain not served yet, for snapshot_renew. */
static int add_waiting(struct snapshot *snap, struct entry *e)
{
	struct entry **grown = realloc(snap->waiting,
		(snap->waiting_count + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	snap->waiting = grown;
	snap->waiting[snap->waiting_count++] = entry_ref(e);
	return 0;
}

/*
 * share_entry serves old, a domain of previous, in snap too: the same
 * entry and the same credentials, by reference. 0 or -1 (no memory).
 */
/*
 * Snapshots are made one at a time, on the main thread; each has the next
 * generation. The stamps in an entry are read and written only there.
 */
static atomic_ulong last_generation;

/* Serves e in snap (taking the caller's reference) and stamps it. */
static void serve_entry(struct snapshot *snap, struct entry *e)
{
	if (!e->born)
		e->born = snap->generation;
	e->newest = snap->generation;
	snap->domains[snap->domain_count++] = e;
}

static int share_entry(struct snapshot *snap, const struct snapshot *previous,
	struct entry *old)
{
	if (tls_store_add_shared(snap->tls, old->pub.host, previous->tls,
			&old->pub) < 0)
		return -1;
	serve_entry(snap, entry_ref(old));
	return 0;
}

/* The served domain of snap called name, by its policy host, or NULL. */
static struct entry *served_entry(const struct snapshot *snap,
	const char *name)
{
	char host[DNSNAME_MAX + 1];
	if (snprintf(host, sizeof(host), "mta-sts.%s", name) >=
			(int)sizeof(host))
		return NULL;
	struct snapshot_domain *sd = tls_store_lookup(snap->tls, host);
	return sd ? entry_of(sd) : NULL;
}

/*
 * keep_previous serves the version of name that previous served, in place
 * of a new version that cannot be used: a reload never makes a served
 * domain worse. The kept domain is shared with previous by reference, so
 * previous itself may go. Returns true when the domain is kept.
 */
static bool keep_previous(struct snapshot *snap, struct snapshot *previous,
	const char *name, const char *code, struct diag *d, const char *file,
	unsigned line)
{
	if (!previous)
		return false;
	struct entry *old = served_entry(previous, name);
	if (!old || tls_store_lookup(snap->tls, old->pub.host))
		return false;
	if (add_problem(snap, name, code, file, line, true) < 0)
		return false;
	if (share_entry(snap, previous, old) < 0) {
		snap->problem_count--;
		free(snap->problems[snap->problem_count].name);
		free(snap->problems[snap->problem_count].reason);
		free(snap->problems[snap->problem_count].file);
		return false;
	}
	const struct snapshot_domain *sd = &old->pub;
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
	const struct snapshot_options *options, struct diag *d)
{
	const struct config_domain *cd = sd->config;
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

/*
 * file_unchanged tells whether path still holds the bytes *was describes:
 * two stat() fields compared when the identity can be trusted (a renewal
 * by rename or rewrite always changes it), else the digest of the bytes
 * now in the file. A file found the same by its digest gets its new
 * identity noted, so the next reload needs only stat() again.
 */
static bool file_unchanged(struct tls_dir_cache *dirs, const char *path,
	struct tls_file_facts *was, bool *trusted)
{
	struct tls_file_facts now;
	if (*trusted && tls_file_stat_cached(dirs, path, &now) &&
			tls_file_same_identity(&now, was))
		return true;
	struct timespec at;
	clock_gettime(CLOCK_REALTIME, &at);
	if (!was->known || !tls_file_facts_read(path, &now) ||
			memcmp(now.digest, was->digest, sizeof(now.digest)))
		return false;
	*was = now;
	*trusted = !tls_file_is_racy(&now, &at);
	return true;
}

/*
 * reusable_entry returns the domain of the previous snapshot that serves
 * exactly what cd asks for, from the same certificate and key files, so
 * that it needs no loading; NULL when cd must be loaded. A certificate
 * that expires within the warning period (or has expired) is always loaded
 * again, so the reload warns or fails as a full load would.
 */
static struct entry *reusable_entry(const struct snapshot_options *options,
	const struct config_domain *cd, struct tls_dir_cache *dirs)
{
	if (!options->previous || !options->load_certificates ||
			options->generate_certificates)
		return NULL;
	struct entry *old = served_entry(options->previous, cd->name);
	if (!old || !old->pub.cert_loaded ||
			!config_domain_is_same(&old->config, cd))
		return NULL;
	const struct tls_cert_info *c = &old->pub.cert;
	if (c->not_before > options->now || c->not_after - options->now <=
			(time_t)TLS_EXPIRY_WARNING_DAYS * 24 * 60 * 60)
		return NULL;
	/* Both files are judged on their own; each may update its facts. */
	bool trusted = old->identity_trusted, key_trusted = trusted;
	bool same = file_unchanged(dirs, cd->cert, &old->pub.cert.cert_file,
		&trusted);
	same = same && file_unchanged(dirs, cd->key,
		&old->pub.cert.key_file, &key_trusted);
	if (same)
		old->identity_trusted = trusted && key_trusted;
	return same ? old : NULL;
}

/*
 * load_certificate loads the credentials of sd into store: 0, or 1 when
 * sd is an ACME domain waiting for its first certificate (no file yet),
 * or -1 (d says why).
 */
static int load_certificate(struct tls_store *store, struct snapshot_domain *sd,
	const struct snapshot_options *options, struct diag *d)
{
	const struct config_domain *cd = sd->config;

	if (options->generate_certificates) {
		if (tls_store_add_generated(store, sd->host, sd, NULL) < 0) {
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
	if (tls_store_add(store, sd->host, cd->cert, cd->key, sd,
			options->now, &sd->cert, d, cd->file, cd->line) < 0)
		return -1;
	sd->cert_loaded = true;
	return 0;
}

/*
 * load_entry loads the credentials of e as load_certificate does, and
 * notes whether the identity of the files it read can tell the next
 * reload that they did not change (see struct entry).
 */
static int load_entry(struct tls_store *store, struct entry *e,
	const struct snapshot_options *options, struct diag *d)
{
	struct timespec read_at;
	clock_gettime(CLOCK_REALTIME, &read_at);
	int rc = load_certificate(store, &e->pub, options, d);
	const struct tls_cert_info *c = &e->pub.cert;
	e->identity_trusted = rc == 0 && c->cert_file.known &&
		c->key_file.known &&
		!tls_file_is_racy(&c->cert_file, &read_at) &&
		!tls_file_is_racy(&c->key_file, &read_at);
	return rc;
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
 * elsewhere in the new configuration (every configured domain is served
 * or has a problem by now).
 */
static void keep_from_files(struct snapshot *snap,
	const struct snapshot_options *options, struct diag *d)
{
	struct snapshot *previous = options->previous;
	const struct config *config = snap->config;
	if (!previous || config->skipped_count == 0)
		return;
	for (size_t i = 0; i < previous->domain_count; i++) {
		const struct config_domain *cd = previous->domains[i]->pub.config;
		if (!cd->file || !is_skipped_file(config, cd->file) ||
				served_entry(snap, cd->name) ||
				snapshot_find_problem(snap, cd->name))
			continue;
		keep_previous(snap, previous, cd->name, "config-syntax", d,
			cd->file, 0);
	}
}

/*
 * What becomes of one configured domain: shared from the previous snapshot,
 * or a new entry whose certificate is loaded by worker (its findings are
 * [diag_from, diag_to) of that worker's list), or a problem (code).
 */
struct slot {
	struct entry *entry;	/* one reference, or NULL */
	struct entry *unchanged;	/* of the previous snapshot, or NULL */
	const char *code;	/* the domain cannot be served */
	bool reused;
	bool loaded;
	bool prepared;		/* rendered, with its id */
	bool pending;		/* ACME, no certificate yet */
	unsigned worker;
	size_t diag_from, diag_to;
	size_t prep_from, prep_to;	/* its findings in load_job.prep */
};

/* Below this many certificates one thread loads them all. */
#define PARALLEL_MIN 256
#define PARALLEL_MAX_WORKERS 16

struct load_job {
	struct diag prep;	/* rendering and ids, per slot in order */
	struct slot *slots;
	size_t *todo;		/* indices into slots */
	const struct snapshot_options *options;
	struct tls_store *stores[PARALLEL_MAX_WORKERS];
	struct diag diags[PARALLEL_MAX_WORKERS];
};

static void load_slice(void *ctx, unsigned worker, size_t begin, size_t end)
{
	struct load_job *job = ctx;
	struct diag *d = &job->diags[worker];
	for (size_t k = begin; k < end; k++) {
		struct slot *slot = &job->slots[job->todo[k]];
		slot->worker = worker;
		slot->diag_from = d->len;
		int rc = load_entry(job->stores[worker], slot->entry,
			job->options, d);
		slot->diag_to = d->len;
		slot->loaded = rc == 0;
		slot->pending = rc > 0;
		if (rc < 0)
			slot->code = first_error(d, slot->diag_from);
	}
}

/*
 * load_certificates reads and checks the certificates and keys of the
 * slots to load, each worker thread into a store of its own (parsing is
 * independent per domain; a store is not shared between threads), and
 * leaves the findings in job->diags. Returns the number of workers.
 */
static unsigned load_certificates(struct snapshot *snap, struct load_job *job,
	size_t count)
{
	unsigned workers = 1;
	if (count >= PARALLEL_MIN && !job->options->generate_certificates)
		workers = parallel_cpu_count();
	if (workers > PARALLEL_MAX_WORKERS)
		workers = PARALLEL_MAX_WORKERS;
	job->stores[0] = snap->tls;
	for (unsigned w = 1; w < workers; w++) {
		job->stores[w] = tls_store_create();
		if (!job->stores[w]) {
			workers = w;
			break;
		}
	}
	return parallel_run(count, workers, load_slice, job);
}

struct find_job {
	const struct config *config;
	struct slot *slots;
	const struct snapshot_options *options;
};

static void find_slice(void *ctx, unsigned worker, size_t begin, size_t end)
{
	(void)worker;
	struct find_job *job = ctx;
	struct tls_dir_cache dirs = {0};
	for (size_t i = begin; i < end; i++) {
		const struct config_domain *cd = &job->config->domains[i];
		if (!cd->problem)
			job->slots[i].unchanged = reusable_entry(job->options,
				cd, &dirs);
	}
	tls_dir_cache_finish(&dirs);
}

/*
 * find_unchanged finds the domains of the previous snapshot that a reload
 * can reuse. Two stat() calls per domain are most of a reload's cost when
 * little changed, so they run on every CPU; the previous snapshot is
 * immutable and only read.
 */
static void find_unchanged(const struct config *config, struct slot *slots,
	const struct snapshot_options *options)
{
	if (!options->previous || !options->load_certificates ||
			options->generate_certificates)
		return;
	struct find_job job = { config, slots, options };
	parallel_run(config->domain_count, config->domain_count >=
		PARALLEL_MIN ? parallel_cpu_count() : 1, find_slice, &job);
}

/*
 * open_state opens the state directory for the ids of the domains that
 * take_domains prepares: all of them at a start, only those that changed
 * at a reload (state_open_for_domains), so that adding one domain to
 * 100,000 neither reads nor holds the ids of the others. 0 or -1 (d says
 * why).
 */
static int open_state(struct snapshot *snap, const struct slot *slots,
	const struct snapshot_options *options, struct diag *d)
{
	const struct config *config = snap->config;
	if (!options->previous) {
		snap->state = state_open_for_serving(config->state_directory,
			d);
		return snap->state ? 0 : -1;
	}
	const char **names = malloc((config->domain_count + 1) *
		sizeof(*names));
	if (!names) {
		diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory",
			"out of memory");
		return -1;
	}
	size_t count = 0;
	for (size_t i = 0; i < config->domain_count; i++)
		if (!slots[i].unchanged && !config->domains[i].problem)
			names[count++] = config->domains[i].name;
	snap->state = state_open_for_domains(config->state_directory,
		names, count, d);
	free(names);
	return snap->state ? 0 : -1;
}

/*
 * take_domains moves every configured domain that needs loading into an
 * entry of its own (the entry outlives the configuration when a later
 * snapshot shares it), renders it and notes its files, and finds the
 * unchanged domains of the previous snapshot. Ids are assigned here, in
 * configuration order, on this thread. Returns the number of slots to
 * load (their indices in todo), or -1 when memory ran out.
 */
static ssize_t take_domains(struct snapshot *snap, struct slot *slots,
	size_t *todo, const struct snapshot_options *options, struct diag *d)
{
	/* d is the job's prep list: place_domains hands each slot's
	 * findings on in order, before those of its loading. */
	struct config *config = snap->config;
	size_t count = 0;
	for (size_t i = 0; i < config->domain_count; i++) {
		struct config_domain *cd = &config->domains[i];
		struct slot *slot = &slots[i];
		if (cd->problem) {
			slot->code = cd->problem;
			continue;
		}
		struct entry *old = slot->unchanged;
		if (old) {
			slot->entry = entry_ref(old);
			slot->reused = true;
			continue;
		}
		struct entry *e = calloc(1, sizeof(*e));
		if (!e)
			return -1;
		atomic_init(&e->refs, 1);
		/* A borrowed domain stays the running entry's: copy it. */
		if (cd->borrowed) {
			if (config_domain_copy(&e->config, cd) < 0) {
				free(e);
				return -1;
			}
		} else {
			e->config = *cd;
		}
		*cd = (struct config_domain){0};
		e->pub.config = &e->config;
		slot->entry = e;
		slot->prep_from = d->len;
		int rc = prepare_domain(snap, &e->pub, options, d);
		slot->prep_to = d->len;
		if (rc < 0) {
			slot->code = first_error(d, slot->prep_from);
			continue;
		}
		slot->prepared = true;
		if (!options->load_certificates) {
			slot->loaded = true;
			continue;
		}
		todo[count++] = i;
	}
	return (ssize_t)count;
}

/*
 * place_domains serves, in configuration order, every slot that is ready
 * and records every other as not served (or kept in its previous
 * version), with the findings of its loading first. 0 or -1 (no memory).
 */
static int place_domains(struct snapshot *snap, struct slot *slots,
	struct load_job *job, const struct snapshot_options *options,
	struct diag *d)
{
	const struct config *config = snap->config;
	for (size_t i = 0; i < config->domain_count; i++) {
		struct slot *slot = &slots[i];
		struct entry *e = slot->entry;
		diag_copy_range(d, &job->prep, slot->prep_from,
			slot->prep_to);
		if (e && !slot->reused && slot->diag_to > slot->diag_from)
			diag_copy_range(d, &job->diags[slot->worker],
				slot->diag_from, slot->diag_to);
		if (slot->reused) {
			slot->entry = NULL;
			if (share_entry(snap, options->previous, e) < 0) {
				entry_unref(e);
				return -1;
			}
			entry_unref(e);	/* share_entry took its own */
			snap->stats.reused++;
			continue;
		}
		if (e && slot->loaded && !slot->code) {
			struct tls_store *from = options->load_certificates ?
				job->stores[slot->worker] : NULL;
			if (from && from != snap->tls &&
					tls_store_add_shared(snap->tls, e->pub.host,
						from, &e->pub) < 0)
				return -1;
			serve_entry(snap, e);
			slot->entry = NULL;
			snap->stats.loaded++;
			continue;
		}
		const struct config_domain *cd = e ? &e->config :
			&config->domains[i];
		if (slot->pending) {
			/* Waiting for ACME is no error: listed, not served. */
			if (add_problem(snap, cd->name, "acme-pending",
					cd->file, cd->line, false) < 0)
				return -1;
			snap->problems[snap->problem_count - 1].pending = true;
		} else if (not_served(snap, options, cd->name, slot->code, d,
				cd->file, cd->line) < 0) {
			return -1;
		}
		/* The ACME thread replaces missing or broken files: wait
		 * for it, and keep the domain to serve when it has. */
		if (!cd->acme || cd->problem)
			continue;
		snap->acme_pending++;
		if (slot->prepared && !served_entry(snap, cd->name) &&
				add_waiting(snap, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * drop_domains frees what is left of the configured domains: the served
 * ones live in their entries now, and snapshot_config() keeps the
 * settings and the skipped entries only.
 */
static void drop_domains(struct config *config, struct slot *slots)
{
	for (size_t i = 0; i < config->domain_count; i++) {
		if (slots)
			entry_unref(slots[i].entry);
		config_domain_finish(&config->domains[i]);
	}
	free(config->domains);
	config->domains = NULL;
	config->domain_count = 0;
}

static int problem_cmp(const void *a, const void *b)
{
	const struct snapshot_problem *const *pa = a, *const *pb = b;
	int c = dnsname_compare((*pa)->name, (*pb)->name);
	/* The first of one name wins, as a scan in order would find it. */
	return c ? c : (*pa < *pb ? -1 : *pa > *pb);
}

/*
 * index_problems sorts pointers to the problems of a finished snapshot
 * by name. Without memory the lookups scan, as during making.
 */
static void index_problems(struct snapshot *snap)
{
	if (snap->problem_count < 2)
		return;
	snap->problem_index = malloc(snap->problem_count *
		sizeof(*snap->problem_index));
	if (!snap->problem_index)
		return;
	for (size_t i = 0; i < snap->problem_count; i++)
		snap->problem_index[i] = &snap->problems[i];
	qsort(snap->problem_index, snap->problem_count,
		sizeof(*snap->problem_index), problem_cmp);
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
	snap->generation = atomic_fetch_add(&last_generation, 1) + 1;
	snap->config = config;
	snap->use_state = options->use_state;
	size_t errors = d->errors;
	struct load_job job = { .options = options };
	for (unsigned w = 0; w < PARALLEL_MAX_WORKERS; w++)
		diag_init(&job.diags[w]);
	diag_init(&job.prep);
	unsigned workers = 0;

	/* Room for every configured domain and every kept one: only a
	 * file of domains_directory that does not load keeps domains the
	 * configuration no longer holds (keep_from_files). Sized for both
	 * always, the SNI table of 100,000 domains was twice as big. */
	size_t room = config->domain_count + 1 +
		(options->previous && config->skipped_count ?
			options->previous->domain_count : 0);
	snap->tls = tls_store_create();
	if (snap->tls)
		tls_store_reserve(snap->tls, room);	/* else grown as used */
	snap->domains = calloc(room, sizeof(*snap->domains));
	struct slot *slots = calloc(config->domain_count + 1, sizeof(*slots));
	job.slots = slots;
	job.todo = calloc(config->domain_count + 1, sizeof(*job.todo));
	if (!snap->tls || !snap->domains || !slots || !job.todo)
		goto err_memory;

	if (config->tls_priorities && options->load_certificates)
		tls_priorities_are_valid(config->tls_priorities, d,
			config->tls_priorities_file, config->tls_priorities_line);

	/*
	 * One domain's problem is that domain's alone: it is not served (or
	 * keeps its previous version) and loading goes on, so one run
	 * reports every problem of every domain.
	 */
	find_unchanged(config, slots, options);
	if (options->use_state && open_state(snap, slots, options, d) < 0)
		goto err;
	/* Errors so far (priorities, state) concern every domain. */
	bool failed = d->errors > errors;
	ssize_t count = take_domains(snap, slots, job.todo, options,
		&job.prep);
	if (count < 0)
		goto err_memory;
	if (count > 0)
		workers = load_certificates(snap, &job, (size_t)count);
	snap->stats.threads = workers;
	if (place_domains(snap, slots, &job, options, d) < 0)
		goto err_memory;
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
	/* Reading the configuration freed its parse tree (some 100 MB at
	 * 100,000 domains in one file): the next release gives it back. */
	atomic_fetch_add(&freed_since_trim, 1);
	goto out;

err_memory:
	diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory", "out of memory");
err:
	drop_domains(config, slots);
	destroy(snap);
	snap = NULL;
out:
	if (snap) {
		drop_domains(config, slots);
		index_problems(snap);
		tls_store_loaded(snap->tls);
	}
	/* The served credentials are referenced by snap's store now. */
	for (unsigned w = 1; w < workers; w++)
		tls_store_destroy(job.stores[w]);
	for (unsigned w = 0; w < PARALLEL_MAX_WORKERS; w++)
		diag_finish(&job.diags[w]);
	diag_finish(&job.prep);
	free(job.todo);
	free(slots);
	return snap;
}

struct config *snapshot_config_again(const struct snapshot *snapshot)
{
	const struct config *old = snapshot->config;
	/* A domain that was not served left no configuration to load it
	 * again from: then the files must be read. */
	if (snapshot->problem_count > 0 || old->skipped_count > 0 ||
			!config_sources_unchanged(old))
		return NULL;
	struct config *config = config_clone_settings(old);
	if (!config)
		return NULL;
	config->domains = calloc(snapshot->domain_count + 1,
		sizeof(*config->domains));
	if (!config->domains) {
		config_finish(config);
		free(config);
		return NULL;
	}
	/* Borrowed, not copied: 100,000 copies were a fifth of the PSS. */
	for (size_t i = 0; i < snapshot->domain_count; i++) {
		config->domains[i] = snapshot->domains[i]->config;
		config->domains[i].borrowed = true;
	}
	config->domain_count = snapshot->domain_count;
	return config;
}

/* ------------------------------------------------------------------------ */
/* Taking unchanged files of domains_directory from the running set */

/* The served domains of one file: [begin, begin + count) of domains. */
struct file_run {
	const char *file;
	size_t begin, count;
};

struct snapshot_reuse {
	const struct config_domain **domains;	/* the served, in order */
	struct file_run *runs;			/* sorted by file */
	size_t run_count;
	const char **unusable;	/* files with a domain not served, sorted */
	size_t unusable_count;
};

static int run_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file_run *)a)->file,
		((const struct file_run *)b)->file);
}

static int text_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_unusable(const struct snapshot_reuse *sr, const char *file)
{
	return bsearch(&file, sr->unusable, sr->unusable_count,
		sizeof(*sr->unusable), text_ptr_cmp) != NULL;
}

static size_t reuse_domains_of(void *ctx, const char *path,
	const struct config_domain *const **domains)
{
	const struct snapshot_reuse *sr = ctx;
	struct file_run key = { .file = path };
	const struct file_run *run = bsearch(&key, sr->runs, sr->run_count,
		sizeof(*sr->runs), run_cmp);
	if (!run || is_unusable(sr, path))
		return 0;
	*domains = &sr->domains[run->begin];
	return run->count;
}

/*
 * Files whose domains are not all served in one run, in configuration
 * order, cannot be taken: some domain of theirs is not served or kept,
 * or the file shows up in two runs.
 */
static int note_unusable(struct snapshot_reuse *sr,
	const struct snapshot *snapshot)
{
	const struct config *config = snapshot->config;
	size_t cap = snapshot->problem_count + config->skipped_count + 1;
	for (size_t i = 1; i < sr->run_count; i++)
		cap += !strcmp(sr->runs[i - 1].file, sr->runs[i].file);
	sr->unusable = calloc(cap, sizeof(*sr->unusable));
	if (!sr->unusable)
		return -1;
	for (size_t i = 0; i < snapshot->problem_count; i++) {
		if (snapshot->problems[i].file)
			sr->unusable[sr->unusable_count++] =
				snapshot->problems[i].file;
	}
	for (size_t i = 0; i < config->skipped_count; i++) {
		if (config->skipped[i].file)
			sr->unusable[sr->unusable_count++] =
				config->skipped[i].file;
	}
	for (size_t i = 1; i < sr->run_count; i++) {
		if (!strcmp(sr->runs[i - 1].file, sr->runs[i].file))
			sr->unusable[sr->unusable_count++] = sr->runs[i].file;
	}
	qsort(sr->unusable, sr->unusable_count, sizeof(*sr->unusable),
		text_ptr_cmp);
	return 0;
}

struct snapshot_reuse *snapshot_reuse_create(const struct snapshot *snapshot,
	struct config_reuse *reuse)
{
	struct snapshot_reuse *sr = calloc(1, sizeof(*sr));
	size_t n = snapshot->domain_count;
	if (!sr || !(sr->domains = calloc(n + 1, sizeof(*sr->domains))) ||
			!(sr->runs = calloc(n + 1, sizeof(*sr->runs))))
		goto err;
	for (size_t i = 0; i < n; i++) {
		const struct config_domain *cd = &snapshot->domains[i]->config;
		sr->domains[i] = cd;
		if (!cd->file)
			continue;
		struct file_run *last = sr->run_count ?
			&sr->runs[sr->run_count - 1] : NULL;
		if (last && last->begin + last->count == i &&
				!strcmp(last->file, cd->file))
			last->count++;
		else
			sr->runs[sr->run_count++] = (struct file_run){
				cd->file, i, 1 };
	}
	qsort(sr->runs, sr->run_count, sizeof(*sr->runs), run_cmp);
	if (note_unusable(sr, snapshot) < 0)
		goto err;
	*reuse = (struct config_reuse){
		.previous = snapshot->config,
		.domains_of = reuse_domains_of,
		.ctx = sr,
	};
	return sr;
err:
	snapshot_reuse_destroy(sr);
	*reuse = (struct config_reuse){0};
	return NULL;
}

void snapshot_reuse_destroy(struct snapshot_reuse *sr)
{
	if (!sr)
		return;
	free(sr->domains);
	free(sr->runs);
	free(sr->unusable);
	free(sr);
}

struct snapshot_stats snapshot_stats(const struct snapshot *snapshot)
{
	return snapshot->stats;
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
	return index < snapshot->domain_count ?
		&snapshot->domains[index]->pub : NULL;
}

const struct tls_store *snapshot_tls(const struct snapshot *snapshot)
{
	return snapshot->tls;
}

bool snapshot_domain_was_served_before(const struct snapshot *snapshot,
	const struct snapshot_domain *domain)
{
	return entry_of(domain)->born < snapshot->generation;
}

bool snapshot_domain_is_served_by(const struct snapshot *snapshot,
	const struct snapshot_domain *domain)
{
	return entry_of(domain)->newest == snapshot->generation;
}

const struct snapshot_domain *snapshot_find_host(
	const struct snapshot *snapshot, const char *host)
{
	return tls_store_lookup(snapshot->tls, host);
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
		const struct snapshot_domain *d = &snapshot->domains[i]->pub;
		if (dnsname_equal(d->config->name, name))
			return d;
	}
	return NULL;
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
	if (snapshot->problem_index) {
		size_t lo = 0, hi = snapshot->problem_count;
		while (lo < hi) {	/* the first of the name */
			size_t mid = lo + (hi - lo) / 2;
			if (dnsname_compare(snapshot->problem_index[mid]->name,
					name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo < snapshot->problem_count && !dnsname_compare(
			snapshot->problem_index[lo]->name, name) ?
			snapshot->problem_index[lo] : NULL;
	}
	for (size_t i = 0; i < snapshot->problem_count; i++) {
		if (dnsname_equal(snapshot->problems[i].name, name))
			return &snapshot->problems[i];
	}
	return NULL;
}

bool snapshot_domain_is_kept(const struct snapshot *snapshot,
	const struct snapshot_domain *domain)
{
	const struct snapshot_problem *p = snapshot_find_problem(snapshot,
		domain->config->name);
	return p && p->kept;
}

size_t snapshot_not_served_count(const struct snapshot *snapshot)
{
	size_t n = 0;
	for (size_t i = 0; i < snapshot->problem_count; i++)
		n += !snapshot->problems[i].kept &&
			!snapshot->problems[i].pending;
	return n;
}

int snapshot_record_served(struct snapshot *snapshot, time_t now,
	struct diag *d)
{
	if (!snapshot->state)
		return 0;
	/* The daemon is the only writer of the state directory. */
	int rc = state_save_ids(snapshot->state, d);
	struct state_served *records = rc < 0 ? NULL : calloc(
		snapshot->domain_count ? snapshot->domain_count : 1,
		sizeof(*records));
	if (rc == 0 && !records) {
		diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory",
			"out of memory");
		rc = -1;
	}
	for (size_t i = 0; records && i < snapshot->domain_count; i++) {
		const struct snapshot_domain *sd = &snapshot->domains[i]->pub;
		records[i] = (struct state_served){sd->config->name, sd->id,
			sd->digest, (int64_t)now};
	}
	if (records)
		rc = state_save_served(snapshot->state, records,
			snapshot->domain_count, d);
	free(records);
	/* The ids table is let go: the next reload reads the lines of the
	 * domains it changes only (state_open_for_domains). */
	state_destroy(snapshot->state);
	snapshot->state = NULL;
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

/*
 * renew_entry serves old, an ACME domain, in snap with the certificate
 * now in its files: a new entry with old's configuration, policy and id
 * (so neither the configuration nor the state directory is read). 0, or
 * -1 when the files cannot be used (d says why) or memory ran out.
 */
static int renew_entry(struct snapshot *snap, const struct entry *old,
	const struct snapshot_options *options, struct diag *d)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		goto err_memory;
	atomic_init(&e->refs, 1);
	e->pub.config = &e->config;
	if (config_domain_copy(&e->config, &old->config) < 0 ||
			!(e->pub.host = text_dup(old->pub.host)) ||
			!(e->pub.body = malloc(old->pub.body_len + 1)))
		goto err_memory;
	memcpy(e->pub.body, old->pub.body, old->pub.body_len + 1);
	e->pub.body_len = old->pub.body_len;
	memcpy(e->pub.id, old->pub.id, sizeof(e->pub.id));
	memcpy(e->pub.digest, old->pub.digest, sizeof(e->pub.digest));
	if (load_entry(snap->tls, e, options, d) != 0) {
		entry_unref(e);
		return -1;
	}
	serve_entry(snap, e);
	snap->stats.loaded++;
	return 0;
err_memory:
	entry_unref(e);
	diag_add(d, DIAG_ERROR, old->config.file, old->config.line,
		"out-of-memory", "%s: out of memory", old->config.name);
	return -1;
}

struct snapshot *snapshot_renew(struct snapshot *current,
	const char *const *hosts, size_t count, time_t now, struct diag *d)
{
	struct snapshot *snap = calloc(1, sizeof(*snap));
	if (!snap)
		goto err_nomem;
	atomic_init(&snap->refs, 1);
	snap->generation = atomic_fetch_add(&last_generation, 1) + 1;
	snap->config_owner = snapshot_ref(current->config_owner ?
		current->config_owner : current);
	snap->config = current->config;
	snap->use_state = current->use_state;
	snap->renewals = current->renewals + 1;
	snap->stats.threads = 1;
	snap->tls = tls_store_create();
	snap->domains = calloc(current->domain_count +
		current->waiting_count + 1, sizeof(*snap->domains));
	if (!snap->tls || !snap->domains)
		goto err_nomem;
	/* For snapshot_record_served: a domain served for the first time. */
	/* No id is assigned: the ids file need not be read. */
	if (snap->use_state && !(snap->state = state_open_for_domains(
			snap->config->state_directory, NULL, 0, d)))
		goto err;
	struct snapshot_options options = {
		.now = now,
		.load_certificates = true,
	};
	/* Every other domain is shared by reference, as a reload does. */
	for (size_t i = 0; i < current->domain_count; i++) {
		struct entry *old = current->domains[i];
		size_t mark = d->errors;
		/* A renewed chain that cannot be used leaves the old one. */
		if (old->config.acme && is_listed(old->pub.host, hosts, count) &&
				renew_entry(snap, old, &options, d) == 0)
			continue;
		if (d->errors > mark)
			diag_add(d, DIAG_WARNING, old->config.file,
				old->config.line, "acme-kept-previous",
				"%s: still serving the previous certificate",
				old->config.name);
		if (share_entry(snap, current, old) < 0)
			goto err_nomem;
		snap->stats.reused++;
	}
	/* Waiting, or broken by files a crash left half replaced. */
	for (size_t i = 0; i < current->waiting_count; i++) {
		struct entry *w = current->waiting[i];
		if (is_listed(w->pub.host, hosts, count) &&
				renew_entry(snap, w, &options, d) == 0)
			continue;
		if (add_waiting(snap, w) < 0)
			goto err_nomem;
	}
	for (size_t i = 0; i < current->problem_count; i++) {
		const struct snapshot_problem *p = &current->problems[i];
		if (!p->kept && served_entry(snap, p->name))
			continue;
		if (copy_problem(snap, p) < 0)
			goto err_nomem;
		snap->acme_pending += p->pending;
	}
	index_problems(snap);
	tls_store_loaded(snap->tls);
	return snap;
err_nomem:
	diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory", "out of memory");
err:
	if (snap)
		destroy(snap);
	return NULL;
}

unsigned snapshot_renewal_count(const struct snapshot *snapshot)
{
	return snapshot->renewals;
}

size_t snapshot_configured_count(const struct snapshot *snapshot)
{
	return snapshot->domain_count + snapshot->waiting_count;
}

const struct config_domain *snapshot_configured_at(
	const struct snapshot *snapshot, size_t index)
{
	if (index < snapshot->domain_count)
		return &snapshot->domains[index]->config;
	index -= snapshot->domain_count;
	return index < snapshot->waiting_count ?
		&snapshot->waiting[index]->config : NULL;
}
