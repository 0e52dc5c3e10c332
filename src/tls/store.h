/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_STORE_H
#define MTASTSD_TLS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "tls/filefacts.h"

struct diag;

/*
 * The server's credential store: every policy host's certificate chain and
 * key, loaded with every check (tls/certcheck.c), and the SNI table that
 * maps a host name to them. Private keys never leave tls/.
 */

#define TLS_EXPIRY_WARNING_DAYS 14

/* What tls_store_add loaded: the leaf's validity and the files read. */
struct tls_cert_info {
	time_t not_before;
	time_t not_after;
	struct tls_file_facts cert_file;
	struct tls_file_facts key_file;
};

struct tls_store;

struct tls_store *tls_store_create(void);
void tls_store_destroy(struct tls_store *store);

/*
 * tls_store_add loads cert_file (PEM chain, leaf first) and key_file, and
 * serves them for SNI name host. Checks, each reported to d at file:line
 * with a fix: files readable (naming the file, its owner and mode when
 * permission is denied), key matches the leaf, the leaf covers host
 * (RFC 6125 DNS-ID, wildcard as whole leftmost label), currently valid at
 * now (not yet valid and expired are errors, expiring within
 * TLS_EXPIRY_WARNING_DAYS a warning), and each chain certificate issued by
 * the next. A chain and key used by many hosts are loaded once.
 * user is returned by tls_store_lookup for host. info may be NULL.
 * Returns 0, or -1 after adding an error to d.
 */
int tls_store_add(struct tls_store *store, const char *host,
	const char *cert_file, const char *key_file, void *user,
	time_t now, struct tls_cert_info *info, struct diag *d,
	const char *file, unsigned line);

/*
 * tls_store_loaded says that no more hosts will be added to store from
 * files: what it noted of the files each credential was read from (for
 * the tls_cert_info of later hosts of the same files) is let go. The
 * tls_cert_info already handed out keep their copies.
 */
void tls_store_loaded(struct tls_store *store);

/*
 * tls_store_reserve makes room for hosts more hosts, so that adding them
 * does not grow the tables one doubling at a time (a reload shares
 * 100,000). 0, or -1 when out of memory (adding still works then).
 */
int tls_store_reserve(struct tls_store *store, size_t hosts);

/*
 * tls_store_add_shared serves for host in store the chain and key that
 * from serves for host, without loading or checking anything: a reload
 * reuses the credentials of an unchanged domain, or keeps the last good
 * version of one whose new files are broken. The credentials are
 * refcounted, and so is the host entry when user is the one from has
 * for host: store holds its own references, so from may be destroyed
 * first. They do not count in tls_store_credential_count(store).
 * 0, or -1 when from has no such host, store has it already, or memory
 * ran out.
 */
int tls_store_add_shared(struct tls_store *store, const char *host,
	const struct tls_store *from, void *user);

/*
 * tls_store_add_generated makes an ECDSA P-256 key and a self-signed
 * certificate for host, valid for a day (tls/certgen.c), and serves them
 * for host. The certificate is written as PEM to *cert_pem (caller frees)
 * when cert_pem is not NULL. For the demo. 0 or -1 (logged).
 */
int tls_store_add_generated(struct tls_store *store, const char *host,
	void *user, char **cert_pem);

/* The user pointer registered for host (exact, case-insensitive), or NULL. */
void *tls_store_lookup(const struct tls_store *store, const char *host);

size_t tls_store_count(const struct tls_store *store);

/*
 * The number of distinct certificate chain and key pairs this store loaded
 * (one per (cert_file, key_file) pair however many hosts use it, plus one
 * per generated host); pairs that were rejected or shared from another
 * store do not count.
 */
size_t tls_store_credential_count(const struct tls_store *store);

#endif
