/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_H
#define MTASTSD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct diag;

/*
 * The only GnuTLS user. Loads certificate chains and keys, checks that they
 * belong together and cover the policy host, and keeps the SNI table that
 * picks a chain per handshake. Private keys never leave this module.
 */

#define TLS_DEFAULT_PRIORITIES \
	"SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305:+AES-256-GCM:%SERVER_PRECEDENCE"
#define TLS_EXPIRY_WARNING_DAYS 14
#define TLS_DIGEST_HEX_LEN 64

/* Process-wide set-up (session ticket key). 0 or -1 (logged). */
int tls_init(void);
void tls_finish(void);

/* Is priorities a valid GnuTLS priority string? Explains in d if not. */
bool tls_priorities_are_valid(const char *priorities, struct diag *d,
	const char *file, unsigned line);

/* SHA-256 of data as 64 lower-case hex digits plus NUL. 0 or -1. */
int tls_digest_hex(const void *data, size_t len,
	char out[TLS_DIGEST_HEX_LEN + 1]);

struct tls_cert_info {
	time_t not_before;
	time_t not_after;
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
 * tls_store_add_shared serves for host in store the chain and key that
 * from serves for host, without loading anything: a reload that keeps the
 * last good version of a domain whose new files are broken. from must
 * outlive store (the snapshot holds a reference on the one that owns it).
 * 0, or -1 when from has no such host, store has it already, or memory
 * ran out.
 */
int tls_store_add_shared(struct tls_store *store, const char *host,
	const struct tls_store *from, void *user);

/*
 * tls_store_add_generated makes an ECDSA P-256 key and a self-signed
 * certificate for host, valid for a day, and serves them for host. The
 * certificate is written as PEM to *cert_pem (caller frees) when cert_pem
 * is not NULL. For the demo. 0 or -1 (logged).
 */
int tls_store_add_generated(struct tls_store *store, const char *host,
	void *user, char **cert_pem);

/* The user pointer registered for host (exact, case-insensitive), or NULL. */
void *tls_store_lookup(const struct tls_store *store, const char *host);

size_t tls_store_count(const struct tls_store *store);

/*
 * The number of distinct certificate chain and key pairs loaded (one per
 * (cert_file, key_file) pair however many hosts use it, plus one per
 * generated host); pairs that were rejected do not count.
 */
size_t tls_store_credential_count(const struct tls_store *store);

/*
 * Per-connection binding between a TLS session and the store that serves
 * it. The HTTP server fills store before the handshake; after a successful
 * handshake selected holds the user pointer of the host named by SNI.
 */
struct tls_binding {
	const struct tls_store *store;
	void *selected;
	/* Called once on the session's thread when the handshake is over,
	 * after which the session uses nothing of store; may be NULL. */
	void (*established)(struct tls_binding *binding);
	unsigned finished;		/* Finished messages seen */
};

/*
 * tls_session_bind prepares a server session (a gnutls_session_t passed as
 * void *) before its handshake: it attaches binding, aborts the handshake
 * with an unrecognized_name alert when SNI is missing or not in the store
 * (RFC 8461 §7.1), and enables session tickets. binding must outlive the
 * session. It takes the session's user and DB pointers
 * (gnutls_session_set_ptr, gnutls_db_set_ptr) and its handshake hook
 * (gnutls_handshake_set_hook_function); a session that was not
 * bound, or whose binding failed, is served no chain. 0 or -1 (logged).
 */
int tls_session_bind(void *session, struct tls_binding *binding);

/* Was the session resumed from a ticket rather than a full handshake? */
bool tls_session_is_resumed(void *session);

/* The SNI host name of a session, or NULL; valid while the session lives. */
const char *tls_session_server_name(void *session, char *buf, size_t size);

/*
 * The certificate retrieve callback (gnutls_certificate_retrieve_function2)
 * that serves the chain selected through the session's binding, as a
 * generic function pointer for the HTTP server's options.
 */
typedef void (*tls_function)(void);
tls_function tls_retrieve_function(void);

/*
 * The client side, for `mta-stsd check`: what a sending MTA sees when it
 * starts TLS with a policy host or an MX host (RFC 8461 §3.3, §4.2).
 */
struct tls_probe_result {
	char version[16];	/* "TLS1.3" */
	bool verified;		/* trusted, current and valid for host */
	bool expired;		/* a certificate of the chain has expired */
	bool not_yet_valid;	/* a certificate of the chain is not valid yet */
	bool untrusted;		/* no chain to a trust anchor (or insecure) */
	bool host_mismatch;	/* the leaf does not name host (RFC 6125) */
	time_t not_after;	/* of the leaf; 0 when none was sent */
	char names[256];	/* DNS names of the leaf, ", "-separated */
	char error[160];	/* why the handshake failed */
};

/*
 * tls_client_probe runs a TLS 1.2+ client handshake on the connected
 * socket fd with SNI host, then verifies the peer's chain against the
 * system trust store plus ca_file (PEM, may be NULL) and host against the
 * leaf's DNS names, and closes the TLS session (fd stays open, the caller
 * closes it). The handshake is bounded by timeout_s. Returns 0 when the
 * handshake succeeded (out tells whether the certificate verified), or -1
 * with out->error set. Logs nothing: the findings are the caller's.
 */
int tls_client_probe(int fd, const char *host, const char *ca_file,
	unsigned timeout_s, struct tls_probe_result *out);

#endif
