/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_CONFIG_H
#define MTASTSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config/acme_settings.h"
#include "core/policy.h"
#include "tls/digest.h"

struct diag;

/*
 * The configuration file (libconfig syntax) turned into plain C types.
 * Every diagnostic carries the file and line it is about.
 */

struct config_domain {
	char *name;		/* policy domain, lower case, no trailing dot */
	struct policy policy;
	char *id;		/* NULL: mta-stsd manages the id */
	char *cert;		/* PEM certificate chain path */
	char *key;		/* PEM private key path */
	char *tlsrpt_rua;	/* NULL: no TLS-RPT record */
	char *template_name;	/* the shared policy used, or NULL */
	char *file;		/* where the domain is declared */
	unsigned line;
	bool acme;		/* cert and key come from ACME (state dir) */
	/*
	 * The strings and the policy belong to the running configuration's
	 * copy of this domain (see config_reuse), not to this one: finishing
	 * it frees nothing, and whoever keeps it past the load copies it.
	 */
	bool borrowed;
	/*
	 * NULL, or the code of the first error of this domain's entry (its
	 * policy, a missing cert or key, a duplicate name): the domain is
	 * not served, every other domain is (see strict).
	 */
	const char *problem;
};

/*
 * A domain entry, or a file of domains_directory, that yields no domain to
 * serve: a name that is not a domain name, an entry without a name, a file
 * that does not parse. Counted and listed as "not served".
 */
struct config_skipped {
	char *name;		/* the name as written, or the file's path */
	char *file;
	unsigned line;
	const char *code;	/* of the first error */
};

/*
 * A file or directory the configuration was read from (the main file,
 * each @include, domains_directory and each of its files), as it was
 * then: a reload whose sources are all unchanged need not read them.
 */
struct config_source {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	/* SHA-256 of its bytes (files, not directories): decides when the
	 * times cannot, e.g. for a file written just before a reload. */
	unsigned char digest[TLS_DIGEST_LEN];
	bool has_digest;
};

/* config_clone_settings copies every field: keep it in step. */
struct config {
	char *file;			/* path as given */

	char **listen;			/* "[::]:443", "127.0.0.1:8443" */
	size_t listen_count;
	char *user;			/* NULL: do not change user */
	char *group;
	char *state_directory;
	char *tls_priorities;		/* GnuTLS priority string */
	char *tls_priorities_file;	/* where it was set; NULL: built-in */
	unsigned tls_priorities_line;	/* 0 when built-in */

	char *log_level;		/* "error" "warning" "info" "debug" */
	char *log_target;		/* "stderr" or "syslog" */
	bool access_log;
	char *access_log_format;	/* "text" or "json" */
	char *metrics_listen;		/* "127.0.0.1:9465"; NULL: none */

	unsigned threads;		/* 0: one per CPU */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned connection_timeout;	/* seconds */
	unsigned request_header_timeout;/* seconds */
	unsigned max_connection_age;	/* seconds */
	unsigned max_request_size;	/* bytes for request line + headers */
	unsigned txt_ttl;		/* TTL printed by `txt` */
	bool strict;			/* one domain's problem stops them all */
	char *domains_directory;	/* NULL: none */

	struct config_acme acme;	/* the acme group */

	struct config_domain *domains;
	size_t domain_count;
	struct config_skipped *skipped;
	size_t skipped_count;

	struct config_source *sources;	/* config_load_file only */
	size_t source_count;
	/* Files of domains_directory read, and taken unchanged from the
	 * running configuration (config_load_file_reusing). */
	size_t directory_files_read;
	size_t directory_files_taken;
	struct timespec loaded_at;	/* when reading began (realtime) */
};

/* One row of the defaults table; also printed verbatim in mta-stsd.conf(5). */
struct config_default {
	const char *key;
	const char *value;
};

/* The defaults, terminated by { NULL, NULL }. */
extern const struct config_default config_defaults[];

/*
 * config_load_file reads and validates path. Every problem goes to d as
 * "file:line: ...". out must be zeroed; on return it holds whatever could be
 * parsed and must be finished by the caller in every case. Returns 0 when
 * the configuration can be used: no error, or errors that belong to single
 * domains only (those domains have problem set, or are in skipped). -1 when
 * an error concerns everything: syntax, a global setting, defaults or a
 * shared policy. Certificates are not opened here.
 * @include paths are relative to the directory of path; relative cert, key
 * and state_directory paths to the directory of the file that sets them.
 */
int config_load_file(const char *path, struct config *out, struct diag *d);

/*
 * What a reload may take from the running configuration instead of
 * reading a file of domains_directory again. previous is the running
 * configuration (its settings and sources; its domains are gone). A file
 * is taken when the main file, every @include and the file itself are
 * the same files with the same size and times as when previous was read
 * (none changed within two seconds of that), and domains_of gives its
 * domains: every domain the running set has from path, all of them
 * served, in the order of the file, as pointers valid until the load's
 * result is done with (the running set outlives it). domains_of returns
 * their count, or 0 when the file has to be read (one of its domains was
 * not served, or it had none).
 */
struct config_reuse {
	const struct config *previous;
	size_t (*domains_of)(void *ctx, const char *path,
		const struct config_domain *const **domains);
	void *ctx;
};

/*
 * As config_load_file, but the domains of an unchanged file of
 * domains_directory are taken from reuse (borrowed, see
 * config_domain.borrowed) instead of read and checked again: a reload
 * that adds one file to thousands reads that file only. reuse may be NULL.
 */
int config_load_file_reusing(const char *path, struct config *out,
	struct diag *d, const struct config_reuse *reuse);

/*
 * As config_load_file for in-memory text; name is used in diagnostics.
 * @include and relative paths set in text stay relative to the working
 * directory, since text has no directory of its own.
 */
int config_load_string(const char *text, const char *name, struct config *out,
	struct diag *d);

void config_finish(struct config *config);

/*
 * config_parse_listen splits one listen entry: "[v6]:port", "v4:port" or
 * "*:port" (every address). host (host_size bytes) receives the numeric
 * address without brackets, or "*"; port is 1-65535. Returns 0, or -1 when
 * text is not of that form (host and port are then unspecified).
 */
int config_parse_listen(const char *text, char *host, size_t host_size,
	unsigned *port);

/*
 * config_keep_only drops every domain, and every skipped entry, whose name
 * is not one of names (count of them): `check-config DOMAIN...` loads the
 * certificates of those domains only.
 */
void config_keep_only(struct config *config, char *const *names,
	size_t count);

/* Frees what domain holds and zeroes it; a zeroed domain is fine. */
void config_domain_finish(struct config_domain *domain);

/*
 * Do a and b configure the same served domain: name, policy, id, cert and
 * key paths, tlsrpt_rua and the file it is declared in (not the line, which
 * moves when an entry above it comes or goes)? A reload reuses the loaded
 * domain when they do and its files did not change.
 */
bool config_domain_is_same(const struct config_domain *a,
	const struct config_domain *b);

/*
 * Deep copy of src into dst (zeroed), which owns what it holds even when
 * src is borrowed. 0, or -1 when out of memory.
 */
int config_domain_copy(struct config_domain *dst,
	const struct config_domain *src);

/*
 * config_sources_unchanged: is every source of config still the same file
 * with the same size and times, none of them changed within two seconds
 * of reading began (a change time has a granularity), and were they
 * recorded at all? Then reading them again gives config again.
 */
bool config_sources_unchanged(const struct config *config);

/*
 * config_sources_readable: can the current user open every file and
 * directory config was read from? After root drops privileges, when they
 * can, reading them again as the service user would give config again
 * (the same bytes, the same paths), so the daemon and check-config use
 * what root read instead of parsing it twice.
 */
bool config_sources_readable(const struct config *config);

/*
 * config_clone_settings returns a new configuration with every setting,
 * source and skipped entry of src, and no domain. NULL when out of
 * memory. Caller finishes and frees it.
 */
struct config *config_clone_settings(const struct config *src);

/* The domain with this name (normalised comparison), or NULL. Linear. */
const struct config_domain *config_find_domain(const struct config *config,
	const char *name);

#endif
