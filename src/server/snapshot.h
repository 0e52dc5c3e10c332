/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_SNAPSHOT_H
#define MTASTSD_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tls/digest.h"
#include "tls/store.h"
#include "core/txt.h"

struct config;
struct config_reuse;
struct config_domain;
struct diag;
struct metrics_domain;

/*
 * The loaded world: the configuration, every domain's rendered policy and
 * id, and the TLS credentials. Built in one call, immutable afterwards and
 * shared by reference: each TLS handshake and each request holds one on the
 * snapshot current when it started, so a reload never changes what one in
 * progress sees.
 */

/*
 * One served domain. Refcounted and immutable once served: a reload that
 * finds a domain unchanged (same entry, same certificate and key files)
 * shares this very object with the snapshot it replaces, and a domain
 * whose new version is broken keeps serving it, so a reload costs what
 * changed, not what is configured.
 */
struct snapshot_domain {
	const struct config_domain *config;	/* the domain's own */
	char *host;			/* "mta-sts.<domain>" */
	char *body;			/* the exact served bytes */
	size_t body_len;
	char id[TXT_ID_MAX + 1];	/* the id to publish in DNS */
	char digest[TLS_DIGEST_HEX_LEN + 1];
	struct tls_cert_info cert;
	bool cert_loaded;
	struct metrics_domain *counters;	/* its requests (metrics.c) */
	/*
	 * The HTTP server's prebuilt answer, made for the first snapshot
	 * installed that serves this domain and freed with the domain
	 * (response_destroy), so a reload builds answers only for what
	 * changed.
	 */
	void *response;
	void (*response_destroy)(void *response);
};

/*
 * A domain (or a file of domains_directory) with a problem: not served, or
 * served in its previous version (kept).
 */
struct snapshot_problem {
	char *name;
	char *reason;		/* a few words: "key unreadable" */
	char *file;		/* where it is configured, or NULL */
	unsigned line;
	bool kept;		/* its previous version is still served */
	bool pending;		/* an ACME domain waiting for a certificate */
};

struct snapshot_options {
	time_t now;
	bool use_state;		/* assign ids through the state directory */
	bool load_certificates;	/* false: `txt` needs no keys */
	bool generate_certificates; /* the demo: self-signed, in memory */
	/*
	 * The snapshot being served, on a reload: a domain configured as
	 * there, whose certificate and key files are the same files with
	 * the same size and times, is shared from it without being read
	 * again; a domain whose new version cannot be used keeps the version
	 * it has there. NULL at start.
	 */
	struct snapshot *previous;
	/* A subset of the domains (check-config DOMAIN...): serving none of
	 * them is a finding per domain, not a failure of the snapshot. */
	bool subset;
};

/*
 * snapshot_create validates and loads config (taking ownership of it, also
 * on failure) and returns a snapshot with one reference, or NULL. Every
 * problem, including those of the configuration, goes to d. A problem of
 * one domain (config_domain.problem, config.skipped, its certificate or
 * key) leaves that domain out, or keeps its previous version, and is
 * listed by snapshot_problem_at; the snapshot fails only when no domain
 * can be served, when config.strict is set and any domain has a problem,
 * or on an error that concerns every domain. It writes nothing: new ids
 * reach the state directory through snapshot_record_served.
 */
struct snapshot *snapshot_create(struct config *config,
	const struct snapshot_options *options, struct diag *d);

struct snapshot *snapshot_ref(struct snapshot *snapshot);

/*
 * What building the snapshot cost: domains loaded (policy rendered,
 * certificate and key read and checked) and domains reused unchanged from
 * options.previous. Domains kept in their previous version because the
 * new one is broken count as neither (snapshot_problem_at lists them).
 */
struct snapshot_stats {
	size_t loaded;
	size_t reused;
	unsigned threads;	/* that loaded certificates */
};
struct snapshot_stats snapshot_stats(const struct snapshot *snapshot);

/* The domains and files with a problem, in configuration order. */
size_t snapshot_problem_count(const struct snapshot *snapshot);
const struct snapshot_problem *snapshot_problem_at(
	const struct snapshot *snapshot, size_t index);
/* The problem of the domain called name (normalised comparison), or NULL. */
const struct snapshot_problem *snapshot_find_problem(
	const struct snapshot *snapshot, const char *name);
/*
 * Whether snapshot serves domain in its previous version because the new
 * one cannot be used. A question for the snapshot, not the domain: one
 * domain entry is shared by the snapshots before and after a reload.
 */
bool snapshot_domain_is_kept(const struct snapshot *snapshot,
	const struct snapshot_domain *domain);
/* How many of them are not served at all (not kept). */
size_t snapshot_not_served_count(const struct snapshot *snapshot);
void snapshot_unref(struct snapshot *snapshot);

const struct config *snapshot_config(const struct snapshot *snapshot);

/*
 * snapshot_config_again returns the configuration that reading the files
 * of snapshot's configuration again would give, without reading them:
 * when every one of them (the main file, each @include, domains_directory
 * and its files) is unchanged (config_sources_unchanged) and every domain
 * was served. Then a reload costs one stat() per source and per
 * certificate and key, plus what changed. NULL when the files must be
 * read (or memory ran out). Caller owns it (snapshot_create takes it);
 * its domains are borrowed from snapshot, which must outlive it until
 * snapshot_create has made the new snapshot.
 */
struct config *snapshot_config_again(const struct snapshot *snapshot);

/*
 * snapshot_reuse_create fills reuse so that config_load_file_reusing
 * takes the domains of every unchanged file of domains_directory from
 * snapshot (each domain of such a file served), borrowed: snapshot must
 * outlive the new configuration until snapshot_create has made the new
 * snapshot. The result is freed with snapshot_reuse_destroy after that;
 * NULL (out of memory) means nothing is reused.
 */
struct snapshot_reuse;
struct snapshot_reuse *snapshot_reuse_create(const struct snapshot *snapshot,
	struct config_reuse *reuse);
void snapshot_reuse_destroy(struct snapshot_reuse *sr);
size_t snapshot_domain_count(const struct snapshot *snapshot);
struct snapshot_domain *snapshot_domain_at(struct snapshot *snapshot,
	size_t index);
const struct tls_store *snapshot_tls(const struct snapshot *snapshot);

/*
 * For comparing a snapshot with the one it was made from, right after it
 * was made (it is the newest): was domain, served by snapshot, the very
 * entry its previous snapshot served (shared unchanged, or kept)? And is
 * domain, served by the previous one, served by snapshot as it is? Each
 * answers from a stamp in the entry, so that a comparison costs what
 * changed, not a lookup per domain.
 */
bool snapshot_domain_was_served_before(const struct snapshot *snapshot,
	const struct snapshot_domain *domain);
bool snapshot_domain_is_served_by(const struct snapshot *snapshot,
	const struct snapshot_domain *domain);

/*
 * The served domain whose policy host (sd->host, "mta-sts.<domain>") is
 * host, or NULL: one lookup in the SNI table, for comparing two snapshots
 * domain by domain.
 */
const struct snapshot_domain *snapshot_find_host(
	const struct snapshot *snapshot, const char *host);

/* The served domain whose policy domain is name, or NULL. */
const struct snapshot_domain *snapshot_find(const struct snapshot *snapshot,
	const char *name);

/*
 * snapshot_release_notifier returns an eventfd (made on the first call,
 * never closed) that becomes readable whenever a snapshot has been freed,
 * on whatever thread dropped its last reference. The daemon's main thread
 * polls it and calls snapshot_release_memory. -1 when it cannot be made.
 */
int snapshot_release_notifier(void);

/*
 * snapshot_memory_init fixes how the C library places large blocks, so
 * that what a reload allocates in large arrays goes back to the system
 * when it is freed. Called once, before the first snapshot.
 */
void snapshot_memory_init(void);

/*
 * snapshot_release_memory gives the memory of snapshots freed, and of
 * configurations read, since the last call back to the system
 * (malloc_trim). Main thread only: a trim
 * takes milliseconds, too long for a request thread.
 */
void snapshot_release_memory(void);

/*
 * snapshot_renew returns a snapshot that serves what current serves,
 * except that the ACME domains whose policy hosts are listed (count of
 * them) have their chain and key read again from their files: a new
 * certificate from the next handshake on, with no reload and nothing else
 * read. A listed host whose files cannot be used keeps its previous
 * certificate (a warning in d); a listed host waiting for its first
 * certificate starts being served. The new snapshot shares current's
 * configuration and every other domain's entry, by reference. NULL on
 * failure (d).
 */
struct snapshot *snapshot_renew(struct snapshot *current,
	const char *const *hosts, size_t count, time_t now, struct diag *d);

/*
 * How many snapshot_renew in a row made this snapshot (0: made from the
 * configuration); after a few the daemon rebuilds as a reload does,
 * which looks at every domain's files again.
 */
unsigned snapshot_renewal_count(const struct snapshot *snapshot);

/*
 * The configured domains that can be served once they have a certificate:
 * the served ones, then the ACME domains waiting for one. snapshot_config
 * holds no domains (they live in the snapshot's entries).
 */
size_t snapshot_configured_count(const struct snapshot *snapshot);
const struct config_domain *snapshot_configured_at(
	const struct snapshot *snapshot, size_t index);

/*
 * snapshot_record_served writes to the state directory the ids assigned
 * and that this snapshot is now being served (RFC 8461 §8.1: the policy must be served before the
 * TXT id changes; `txt` reads this), then lets go of the state it read
 * (a later call does nothing). Errors go to d. 0 or -1.
 */
int snapshot_record_served(struct snapshot *snapshot, time_t now,
	struct diag *d);

#endif
