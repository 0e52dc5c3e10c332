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
#include "tls/tls.h"
#include "core/txt.h"

struct snapshot {
	atomic_uint refs;
	struct config *config;
	struct tls_store *tls;
	struct state *state;		/* NULL unless options.use_state */
	struct snapshot_domain *domains;
	size_t domain_count;
	void *attachment;
	void (*attachment_destroy)(void *data);
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
		free(snap->domains[i].host);
		free(snap->domains[i].body);
	}
	free(snap->domains);
	tls_store_destroy(snap->tls);
	state_destroy(snap->state);
	config_finish(snap->config);
	free(snap->config);
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

/*
 * prepare_domain renders the policy of one configured domain and works out
 * its id. The rendered bytes are what every request gets, and their digest
 * is what the state directory tracks to notice a changed policy.
 */
static int prepare_domain(struct snapshot *snap, size_t index,
	const struct snapshot_options *options, struct diag *d)
{
	const struct config_domain *cd = &snap->config->domains[index];
	struct snapshot_domain *sd = &snap->domains[index];

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
	if (cd->id) {
		snprintf(sd->id, sizeof(sd->id), "%s", cd->id);
		return 0;
	}
	/* Without a state directory (the demo) the id is simply the time. */
	return txt_id_bump(NULL, options->now, sd->id);

err_memory:
	diag_add(d, DIAG_ERROR, cd->file, cd->line, "out-of-memory",
		"%s: out of memory", cd->name);
	return -1;
}

static int load_certificate(struct snapshot *snap, size_t index,
	const struct snapshot_options *options, struct diag *d)
{
	struct snapshot_domain *sd = &snap->domains[index];
	const struct config_domain *cd = sd->config;

	if (options->generate_certificates) {
		if (tls_store_add_generated(snap->tls, sd->host, sd, NULL) < 0) {
			diag_add(d, DIAG_ERROR, cd->file, cd->line, "internal",
				"%s: cannot generate a certificate", sd->host);
			return -1;
		}
		return 0;
	}
	if (tls_store_add(snap->tls, sd->host, cd->cert, cd->key, sd,
			options->now, &sd->cert, d, cd->file, cd->line) < 0)
		return -1;
	sd->cert_loaded = true;
	return 0;
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

	snap->tls = tls_store_create();
	snap->domains = calloc(config->domain_count ? config->domain_count : 1,
		sizeof(*snap->domains));
	if (!snap->tls || !snap->domains) {
		diag_add(d, DIAG_ERROR, NULL, 0, "out-of-memory",
			"out of memory");
		goto err;
	}
	snap->domain_count = config->domain_count;

	if (config->tls_priorities && options->load_certificates)
		tls_priorities_are_valid(config->tls_priorities, d,
			config->tls_priorities_file, config->tls_priorities_line);

	if (options->use_state) {
		snap->state = state_open(config->state_directory, d);
		if (!snap->state)
			goto err;
	}

	/* Keep going after a failing domain so that one run reports every
	 * problem of every domain. */
	bool failed = diag_has_errors(d);
	for (size_t i = 0; i < snap->domain_count; i++) {
		if (prepare_domain(snap, i, options, d) < 0) {
			failed = true;
			continue;
		}
		if (options->load_certificates &&
				load_certificate(snap, i, options, d) < 0)
			failed = true;
	}
	if (failed)
		goto err;

	/* Only a world that loaded completely may record new ids: a failed
	 * reload must leave the state as the running daemon left it. */
	if (snap->state && state_save_ids(snap->state, d) < 0)
		goto err;
	return snap;

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
	 * certificate are found by a scan (only `txt` does that). */
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

int snapshot_record_served(const struct snapshot *snapshot, time_t now,
	struct diag *d)
{
	if (!snapshot->state)
		return 0;
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
