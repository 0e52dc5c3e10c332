/* SPDX-License-Identifier: MIT */
/*
 * handshake.c: the server side of a TLS handshake. The ClientHello hook
 * picks the policy host by SNI from the connection's store (or aborts),
 * the certificate callback serves that host's chain, and session tickets
 * let senders resume.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "util/log.h"
#include "util/text.h"
#include "tls/alpn.h"
#include "tls/handshake.h"
#include "tls/hello.h"
#include "tls/store-internal.h"

#define RECORD_CHANGE_CIPHER_SPEC 20	/* RFC 8446 §5.1 ContentType */
#define RECORD_ALERT 21
#define SNI_BUF 257		/* fits the longest SNI (255) and a NUL */

#define TICKET_KEY_SIZE 64	/* what gnutls_session_ticket_key_generate makes */

/* The process-wide session ticket master key (see host_tickets). */
static gnutls_datum_t ticket_key;

/* What the server's priority string enables, for hello_screen. */
static struct hello_offer offer;
static bool have_offer;

/*
 * What the handshakes of this process came to, logged at exit: the cost
 * a sender pays (full handshakes, HelloRetryRequest round trips) and what
 * resumption saves, measured on the server side (bench/bench.py reads
 * this line).
 */
static atomic_ulong count_full, count_resumed, count_retried, count_refused;

int tls_init(const char *priorities)
{
	if (priorities) {
		int rc = hello_offer_init(&offer, priorities);
		if (rc < 0) {
			log_error("TLS priority string \"%s\": %s", priorities,
				gnutls_strerror(rc));
			return -1;
		}
		have_offer = true;
	}
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
	unsigned long full = atomic_load(&count_full);
	unsigned long resumed = atomic_load(&count_resumed);
	unsigned long refused = atomic_load(&count_refused);
	if (full || resumed || refused)
		log_info("tls: %lu full handshakes, %lu resumed, %lu with a "
			"HelloRetryRequest, %lu ClientHellos refused with an "
			"alert", full, resumed, atomic_load(&count_retried),
			refused);
	if (!ticket_key.data)
		return;
	gnutls_memset(ticket_key.data, 0, ticket_key.size);
	gnutls_free(ticket_key.data);
	ticket_key = (gnutls_datum_t){0};
	have_offer = false;
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
 * host_tickets enables session tickets (RFC 5077, RFC 8446 §4.6.1) with
 * a key of the policy host's own, derived from the process's master key:
 * a ticket issued under one name cannot be decrypted under another, so a
 * session authenticated by a's certificate never resumes as b (TLS 1.2
 * already refuses that, GnuTLS checks the name; TLS 1.3 does not). The
 * ClientHello hook runs after GnuTLS has read the server name and before
 * it reads the pre_shared_key or session_ticket extension
 * (lib/handshake.c read_client_hello: GNUTLS_EXT_TLS comes after the
 * user hello function), which is what makes this possible.
 *
 * GnuTLS treats the key as a master key and rotates the keys that really
 * encrypt tickets by itself: lib/stek.c derives one per time step of
 * three session lifetimes (6 h by default, so every 18 h) and still
 * accepts the previous step's (GnuTLS commit 553f9aaa, issue #184).
 * Without tickets the handshake still succeeds, so a failure here is
 * only logged.
 */
static void host_tickets(gnutls_session_t session, const char *host)
{
	unsigned char key[TICKET_KEY_SIZE];
	gnutls_datum_t datum = {key, sizeof(key)};
	int rc = GNUTLS_E_INVALID_REQUEST;
	if (ticket_key.data && ticket_key.size == TICKET_KEY_SIZE &&
	    (rc = gnutls_hmac_fast(GNUTLS_MAC_SHA512, ticket_key.data,
		ticket_key.size, host, strlen(host), key)) == 0)
		rc = gnutls_session_ticket_enable_server(session, &datum);
	gnutls_memset(key, 0, sizeof(key));
	if (rc < 0)
		log_error("tls: %s: cannot enable session tickets: %s", host,
			ticket_key.data ? gnutls_strerror(rc)
				: "tls_init() was not called");
}

/*
 * screen runs on each ClientHello before GnuTLS negotiates. GnuTLS
 * fails a handshake it cannot serve without an alert and libmicrohttpd
 * 0.9.75 closes the socket, so a client offering only TLS 1.1 or only
 * ciphers or groups we do not enable would see a bare close; hello.c
 * names the alert (protocol_version or handshake_failure, RFC 8446
 * §4.1.1, §4.2.1), sent here before the handshake fails.
 */
static int screen(gnutls_session_t session, const gnutls_datum_t *msg)
{
	if (!have_offer)
		return 0;
	int alert = hello_screen(&offer, msg->data, msg->size);
	if (!alert)
		return 0;
	atomic_fetch_add_explicit(&count_refused, 1, memory_order_relaxed);
	log_debug("tls: ClientHello refused: %s",
		gnutls_alert_get_name((gnutls_alert_description_t)alert));
	gnutls_alert_send(session, GNUTLS_AL_FATAL,
		(gnutls_alert_description_t)alert);
	return alert == GNUTLS_A_PROTOCOL_VERSION
		? GNUTLS_E_UNSUPPORTED_VERSION_PACKET : GNUTLS_E_NO_CIPHER_SUITES;
}

/*
 * ack_now acknowledges the client's Finished at once. GnuTLS sends a TLS
 * 1.3 server's session tickets with its first flight ("early start",
 * lib/handshake-tls13.c), so once the client's Finished is in, the server
 * has nothing to send and the kernel delays its ACK (40 ms on Linux). A
 * client that leaves Nagle's algorithm on then holds its request back
 * until that ACK, and every fetch waits 40 ms; nginx's OpenSSL sends its
 * tickets after the Finished, whose ACK rides on them. TCP_QUICKACK sends
 * the pending ACK now.
 */
static void ack_now(const struct tls_binding *b)
{
	int one = 1;
	if (b && setsockopt(b->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
			sizeof(one)) < 0)
		log_debug("tls: setsockopt(TCP_QUICKACK): %s", strerror(errno));
}

/*
 * on_message is the handshake hook (GnuTLS keeps one per session, so it
 * does every job): it screens each ClientHello, notes a second one (the
 * client's answer to a HelloRetryRequest), tells the binding's owner when
 * the handshake is over, and counts the handshakes the client's Finished
 * completes.
 */
static int on_message(gnutls_session_t session, unsigned htype,
	unsigned when, unsigned incoming, const gnutls_datum_t *msg)
{
	struct tls_binding *b = binding_of(session);
	/*
	 * One Finished each way in every TLS version, full or resumed: after
	 * the second the certificate and key have been used for good, so the
	 * binding's store may go.
	 */
	if (htype == GNUTLS_HANDSHAKE_FINISHED && when == GNUTLS_HOOK_POST &&
	    b && ++b->finished == 2 && b->established)
		b->established(b);
	if (!incoming)
		return 0;
	if (htype == GNUTLS_HANDSHAKE_CLIENT_HELLO && when == GNUTLS_HOOK_PRE) {
		if (b && ++b->hellos == 2)
			atomic_fetch_add_explicit(&count_retried, 1,
				memory_order_relaxed);
		int rc = screen(session, msg);
		/* An ACME validator's tls-alpn-01 handshake (tls/alpn.c). */
		if (rc == 0 && b && b->hellos == 1)
			b->challenge = alpn_on_client_hello(session, msg->data,
				msg->size);
		return rc;
	}
	if (htype == GNUTLS_HANDSHAKE_FINISHED && when == GNUTLS_HOOK_POST) {
		atomic_fetch_add_explicit(gnutls_session_is_resumed(session)
			? &count_resumed : &count_full, 1, memory_order_relaxed);
		ack_now(b);
	}
	return 0;
}

/*
 * pull reads from the connection for GnuTLS, as its own recv would, and
 * looks at the first byte a client sends. GnuTLS skips a
 * change_cipher_spec record that comes before the ClientHello (TLS 1.3
 * middlebox compatibility) and waits for more, so such a client would
 * hang until the connection timeout; a TLS connection must start with a
 * handshake record (RFC 8446 §5), so it gets unexpected_message at once.
 * The alert is written by hand because GnuTLS has no version to frame
 * it with yet.
 */
static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t size)
{
	struct tls_binding *b = ptr;
	ssize_t n = recv(b->fd, buf, size, 0);
	if (n <= 0 || b->started)
		return n;
	b->started = true;
	if (((const unsigned char *)buf)[0] != RECORD_CHANGE_CIPHER_SPEC)
		return n;
	static const unsigned char alert[] = {RECORD_ALERT, 3, 3, 0, 2,
		GNUTLS_AL_FATAL, GNUTLS_A_UNEXPECTED_MESSAGE};
	if (send(b->fd, alert, sizeof(alert), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("tls: cannot send an alert: %s", strerror(errno));
	log_debug("tls: change_cipher_spec before the ClientHello: refused");
	errno = EPROTO;
	return -1;
}

static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	const struct tls_binding *b = ptr;
	return gnutls_system_recv_timeout(
		(gnutls_transport_ptr_t)(intptr_t)b->fd, ms);
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
	if (binding && binding->challenge)
		return 0;	/* tls/alpn.c answers it */
	char raw[SNI_BUF], esc[64];
	bool has_sni;
	const struct tls_host *h = session_host(session, binding, raw,
		&has_sni);
	/*
	 * A second ClientHello (after a HelloRetryRequest, or a TLS 1.2
	 * renegotiation) must not switch hosts under the HTTP layer.
	 */
	void *user = h ? tls_host_user(h) : NULL;
	if (h && binding->selected == user)
		return 0;
	if (h && !binding->selected) {
		binding->selected = user;
		host_tickets(session, tls_host_name(h));
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

int tls_session_bind(void *session, struct tls_binding *binding)
{
	gnutls_session_t s = session;
	binding->selected = NULL;
	binding->started = false;
	binding->hellos = 0;
	binding->finished = 0;
	binding->challenge = NULL;
	binding->fd = gnutls_transport_get_int(s);
	/* From here on the hook refuses every name until bound. */
	gnutls_handshake_set_post_client_hello_function(s, client_hello);
	if (!ticket_key.data || binding->fd < 0) {
		log_error("tls: cannot serve: %s", ticket_key.data
			? "the session has no socket yet"
			: "tls_init() was not called");
		gnutls_session_set_ptr(s, NULL);
		gnutls_db_set_ptr(s, NULL);
		return -1;
	}
	gnutls_handshake_set_hook_function(s, GNUTLS_HANDSHAKE_ANY,
		GNUTLS_HOOK_BOTH, on_message);
	/* Reads go through pull; writes stay GnuTLS's own on the fd. */
	gnutls_transport_set_ptr2(s, binding,
		(gnutls_transport_ptr_t)(intptr_t)binding->fd);
	gnutls_transport_set_pull_function(s, pull);
	gnutls_transport_set_pull_timeout_function(s, pull_timeout);
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
	if (binding && binding->challenge)
		return alpn_retrieve(binding->challenge, pcert, pcert_length,
			privkey);
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
