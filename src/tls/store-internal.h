/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_STORE_INTERNAL_H
#define MTASTSD_TLS_STORE_INTERNAL_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/*
 * What the handshake (tls/handshake.c) needs from the store, in GnuTLS
 * types: private to tls/.
 */

struct tls_store;
struct tls_host;

/*
 * The host that sni (as the client sent it: normalised here) names in
 * store, or NULL when it is not there or is no host name.
 */
const struct tls_host *tls_store_find(const struct tls_store *store,
	const char *sni);

/* The user pointer tls_store_add registered for host. */
void *tls_host_user(const struct tls_host *host);

/* The host's name: lower case, no trailing dot. */
const char *tls_host_name(const struct tls_host *host);

/*
 * tls_host_credentials returns the chain and key to serve for host, made
 * on the first handshake that needs them (two handshakes may race; both
 * get the same). They belong to the store, which outlives the session.
 * 0, or -1 (logged) when out of memory.
 */
int tls_host_credentials(const struct tls_host *host, gnutls_pcert_st **chain,
	unsigned *chain_len, gnutls_privkey_t *key);

#endif
