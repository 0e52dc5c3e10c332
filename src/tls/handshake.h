/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_HANDSHAKE_H
#define MTASTSD_TLS_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

struct tls_store;

/*
 * The server side of a handshake: the ClientHello hook that picks the
 * policy host by SNI, the certificate callback, session tickets.
 */

/*
 * Process-wide set-up: the session ticket master key, and what the
 * server's GnuTLS priority string enables, so that a ClientHello the
 * server cannot serve gets its alert (NULL when not serving). 0 or -1
 * (logged).
 */
int tls_init(const char *priorities);

/* Logs what the handshakes came to (when there were any), wipes the key. */
void tls_finish(void);

/*
 * Per-connection binding between a TLS session and the store that serves
 * it. The HTTP server fills store before the handshake; after a successful
 * handshake selected holds the user pointer of the host named by SNI.
 */
struct tls_binding {
	const struct tls_store *store;
	void *selected;
	int fd;			/* the connection's socket */
	bool started;		/* the client's first bytes were read */
	unsigned hellos;	/* ClientHellos seen: 2 after a retry request */
	unsigned finished;	/* Finished messages seen, both ways */
	const void *challenge;	/* a tls-alpn-01 handshake (tls/alpn.h) */
	/*
	 * Called once on the session's thread when the handshake is over
	 * (the second Finished), after which the session uses nothing of
	 * store; may be NULL. Set by the owner, kept by tls_session_bind.
	 */
	void (*established)(struct tls_binding *binding);
};

/*
 * tls_session_bind prepares a server session (a gnutls_session_t passed as
 * void *) before its handshake: it attaches binding, aborts the handshake
 * with an unrecognized_name alert when SNI is missing or not in the store
 * (RFC 8461 §7.1), enables session tickets under a key of the host's own,
 * and answers a ClientHello it cannot serve with an alert. binding must
 * outlive the session; the session's reads go through it, so the
 * session's socket must be set first (libmicrohttpd does that before
 * MHD_CONNECTION_NOTIFY_STARTED). It takes the session's user and DB
 * pointers (gnutls_session_set_ptr, gnutls_db_set_ptr) and its handshake
 * hook (gnutls_handshake_set_hook_function); a session that was not
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

#endif
