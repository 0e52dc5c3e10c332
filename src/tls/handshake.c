/* SPDX-License-Identifier: MIT */
/*
 * handshake.c: the server side of a TLS handshake. The ClientHello hook
 * picks the policy host by SNI from the connection's store (or aborts),
 * the certificate callback serves that host's chain, and session tickets
 * let senders resume.
 */
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "util/log.h"
#include "util/text.h"
#include "tls/handshake.h"
#include "tls/store-internal.h"

#define SNI_BUF 257		/* fits the longest SNI (255) and a NUL */

/* The process-wide session ticket master key (see tls_session_bind). */
static gnutls_datum_t ticket_key;

int tls_init(void)
{
	if (ticket_key.data)
		return 0;
	int rc = gnutls_session_ticket_key_generate(&ticket_key);
	if (rc < 0) {
		ticket_key = (gnutls_datum_t){0};
		log_error("cannot make the TLS session ticket key: %s",
			gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

void tls_finish(void)
{
	if (!ticket_key.data)
		return;
	gnutls_memset(ticket_key.data, 0, ticket_key.size);
	gnutls_free(ticket_key.data);
	ticket_key = (gnutls_datum_t){0};
}

/*
 * binding_of returns the binding tls_session_bind attached, or NULL. The
 * session pointer alone is not proof: libmicrohttpd sets it to its own
 * connection before we bind, so a session that was never bound (or whose
 * binding failed) would hand its struct to the callbacks. tls_session_bind
 * therefore also stores the binding as the session's DB pointer, which
 * only the session cache callbacks use and nobody here sets, and the two
 * must agree.
 */
static struct tls_binding *binding_of(gnutls_session_t session)
{
	void *p = gnutls_session_get_ptr(session);
	return p && p == gnutls_db_get_ptr(session) ? p : NULL;
}

/*
 * sni_raw copies the DNS server name the client sent into buf (SNI_BUF
 * bytes). false when there is none, it is too long, or it holds a NUL
 * (which would otherwise cut "a.example\0.evil" down to a known name).
 */
static bool sni_raw(gnutls_session_t session, char buf[SNI_BUF],
	size_t *len)
{
	size_t size = SNI_BUF;
	unsigned type;
	if (gnutls_server_name_get(session, buf, &size, &type, 0) < 0 ||
	    type != GNUTLS_NAME_DNS || size >= SNI_BUF)
		return false;
	buf[size] = '\0';
	if (strlen(buf) != size)
		return false;
	*len = size;
	return true;
}

/* The host SNI names in the session's store, or NULL. */
static const struct tls_host *session_host(gnutls_session_t session,
	const struct tls_binding *binding, char raw[SNI_BUF], bool *has_sni)
{
	size_t len;
	*has_sni = sni_raw(session, raw, &len);
	if (!binding || !binding->store || !*has_sni)
		return NULL;
	return tls_store_find(binding->store, raw);
}

/*
 * client_hello runs after GnuTLS has parsed the ClientHello and before it
 * picks a certificate. RFC 8461 §7.1: the server "MUST respond with a
 * chain that matches the policy hostname or abort the handshake"; we
 * abort with unrecognized_name (RFC 6066 §3) for a missing or unknown
 * name. GnuTLS 3.7.9 sends no alert for an error returned from this hook
 * (the client only sees the connection close: test-tls.c "unknown server
 * name" proves both ways), so send the fatal alert first. It is seven
 * plaintext bytes on a fresh connection: a would-block here is
 * practically impossible, and if it happens the close still refuses.
 */
static int client_hello(gnutls_session_t session)
{
	struct tls_binding *binding = binding_of(session);
	char raw[SNI_BUF], esc[64];
	bool has_sni;
	const struct tls_host *h = session_host(session, binding, raw,
		&has_sni);
	/*
	 * A second ClientHello (after a HelloRetryRequest, or a TLS 1.2
	 * renegotiation) must not switch hosts under the HTTP layer.
	 */
	void *user = h ? tls_host_user(h) : NULL;
	if (h && (!binding->selected || binding->selected == user)) {
		binding->selected = user;
		return 0;
	}
	if (h)
		log_debug("tls: server name changed to \"%s\" in a "
			"connection: refused", text_escape_str(esc, sizeof(esc), raw));
	else if (has_sni)
		log_debug("tls: unknown server name \"%s\": refused",
			text_escape_str(esc, sizeof(esc), raw));
	else
		log_debug("tls: no server name: refused");
	gnutls_alert_send(session, GNUTLS_AL_FATAL, GNUTLS_A_UNRECOGNIZED_NAME);
	return GNUTLS_E_UNRECOGNIZED_NAME;
}

/*
 * finished counts the Finished messages of the handshake, one each way in
 * every TLS version, full or resumed. After the second the certificate and
 * key have been used for good, so the binding's store may go.
 */
static int finished(gnutls_session_t session, unsigned type, unsigned when,
	unsigned incoming, const gnutls_datum_t *msg)
{
	(void)type;
	(void)when;
	(void)incoming;
	(void)msg;
	struct tls_binding *binding = binding_of(session);
	if (binding && ++binding->finished == 2 && binding->established)
		binding->established(binding);
	return 0;
}

/*
 * Session tickets (RFC 5077, RFC 8446 §4.6.1) let senders resume without
 * server state. gnutls_session_ticket_enable_server(3) wants a key made by
 * gnutls_session_ticket_key_generate(); GnuTLS treats it as a master key
 * and rotates the keys that really encrypt tickets by itself: lib/stek.c
 * derives one per time step of three session lifetimes
 * (gnutls_db_set_cache_expiration, 6 h by default, so every 18 h) and
 * still accepts the previous step's key ("The key set with
 * gnutls_session_ticket_enable_server() is used as a master key to
 * generate time-based keys for tickets. The rotation relates to the
 * gnutls_db_set_cache_expiration() period.", GnuTLS commit 553f9aaa,
 * issue #184). So one key per process, made by tls_init, is enough.
 */
int tls_session_bind(void *session, struct tls_binding *binding)
{
	gnutls_session_t s = session;
	binding->selected = NULL;
	binding->finished = 0;
	/* From here on the hook refuses every name until bound. */
	gnutls_handshake_set_post_client_hello_function(s, client_hello);
	gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_FINISHED,
		GNUTLS_HOOK_POST, finished);
	int rc = GNUTLS_E_INVALID_REQUEST;
	if (!ticket_key.data ||
	    (rc = gnutls_session_ticket_enable_server(s, &ticket_key)) < 0) {
		log_error("tls: cannot enable session tickets: %s",
			ticket_key.data ? gnutls_strerror(rc)
				: "tls_init() was not called");
		gnutls_session_set_ptr(s, NULL);
		gnutls_db_set_ptr(s, NULL);
		return -1;
	}
	gnutls_session_set_ptr(s, binding);
	gnutls_db_set_ptr(s, binding);
	return 0;
}

bool tls_session_is_resumed(void *session)
{
	return session && gnutls_session_is_resumed(session) != 0;
}

const char *tls_session_server_name(void *session, char *buf, size_t size)
{
	char raw[SNI_BUF];
	size_t len;
	if (!sni_raw(session, raw, &len) || len >= size)
		return NULL;
	memcpy(buf, raw, len + 1);
	return buf;
}

/*
 * retrieve hands GnuTLS the full chain and key of the host the
 * ClientHello hook selected. It looks the name up again (O(1)) because
 * the binding only carries the user pointer; the two must agree. GnuTLS
 * neither frees nor changes what it gets: the store outlives the session.
 */
static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
	int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
	gnutls_pcert_st **pcert, unsigned int *pcert_length,
	gnutls_privkey_t *privkey)
{
	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	const struct tls_binding *binding = binding_of(session);
	char raw[SNI_BUF];
	bool has_sni;
	const struct tls_host *h = session_host(session, binding, raw,
		&has_sni);
	if (!h || tls_host_user(h) != binding->selected)
		return -1;
	return tls_host_credentials(h, pcert, pcert_length, privkey);
}

tls_function tls_retrieve_function(void)
{
	/* Converting to void (*)(void) and back is exact (C11 6.3.2.3). */
	gnutls_certificate_retrieve_function2 *fn = retrieve;
	return (tls_function)fn;
}
