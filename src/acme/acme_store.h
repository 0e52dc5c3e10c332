/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_STORE_H
#define MTASTSD_ACME_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/*
 * What ACME keeps in the state directory, under acme/ (modes: keys 0600,
 * the rest 0640, directories 0750):
 *   account.key            the account's P-256 key (PEM)
 *   account                "directory URL" and "url URL" lines
 *   <host>/key.pem         the served key   } the paths config/ gives an
 *   <host>/chain.pem       the served chain } ACME domain's cert and key
 *   <host>/next-key.pem    the key of the order in progress
 *   <host>/next-chain.pem  an issued chain not yet moved into place
 *   <host>/state           "key value" lines: the order in progress, the
 *                          failure count, next attempt, last error
 * Every file is replaced atomically (temporary file, fsync, rename,
 * directory fsync). A new certificate is committed by renaming
 * next-key.pem, then next-chain.pem, into place; acme_store_recover
 * finishes a commit a crash interrupted, so a restart never issues again
 * for a certificate it already has.
 */

struct acme_domain_state {
	char order[2048];		/* the order in progress, or "" */
	long long order_started;
	unsigned failures;		/* in a row */
	long long next_attempt;		/* 0: none planned */
	long long last_attempt;
	long long last_success;
	long long ari_at;		/* renewal time the CA suggested (RFC
					 * 9773); 0: none */
	long long ari_next;		/* when to ask the CA again; 0: now */
	char last_error[1024];
};

/* "<state_dir>/acme[/host[/file]]"; caller frees; NULL on ENOMEM. */
char *acme_store_path(const char *state_dir, const char *host,
	const char *file);

/* Creates acme/ and acme/<host>/ (host may be NULL). 0 or -1, why set. */
int acme_store_prepare(const char *state_dir, const char *host, char *why,
	size_t why_size);

/*
 * Atomically replaces path with data (len bytes), created with mode.
 * 0 or -1 with why.
 */
int acme_store_write(const char *path, const void *data, size_t len,
	mode_t mode, char *why, size_t why_size);

/* The whole file (NUL-terminated, caller frees) or NULL (errno set). */
char *acme_store_read(const char *path, size_t *len);

/* Reads acme/<host>/state; a missing file is an empty state. */
void acme_store_load_state(const char *state_dir, const char *host,
	struct acme_domain_state *out);
int acme_store_save_state(const char *state_dir, const char *host,
	const struct acme_domain_state *state, char *why, size_t why_size);

/* Reads and writes acme/account. 0, or -1 when missing or unwritable. */
int acme_store_load_account(const char *state_dir, char *directory,
	char *url, size_t size);
int acme_store_save_account(const char *state_dir, const char *directory,
	const char *url, char *why, size_t why_size);

/*
 * acme_store_commit moves next-key.pem and next-chain.pem of host into
 * place (key first). acme_store_recover finishes a commit that a crash
 * cut short: a next-chain.pem left behind is moved into place after its
 * key. 0 or -1 with why; acme_store_recover returns 1 when it moved
 * files (the served certificate changed).
 */
int acme_store_commit(const char *state_dir, const char *host, char *why,
	size_t why_size);
int acme_store_recover(const char *state_dir, const char *host, char *why,
	size_t why_size);

/* What `mta-stsd acme-status` shows for one domain. */
struct acme_report {
	bool has_certificate;
	bool names_host;
	time_t not_before, not_after;
	struct acme_domain_state state;
};

/* Reads the chain and state of host. Never fails: missing is reported. */
void acme_store_report(const char *state_dir, const char *host,
	struct acme_report *out);

#endif
