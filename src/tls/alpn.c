/* SPDX-License-Identifier: MIT */
/*
 * alpn.c: answering tls-alpn-01 (RFC 8737) next to normal handshakes.
 *
 * Pending challenges are a short list under a mutex; a counter outside it
 * lets every normal handshake skip the hook with one atomic load. A
 * handshake may still use a challenge that was removed meanwhile, so
 * removed entries wait in a list for ALPN_GRACE seconds (longer than any
 * handshake may take) before they are freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/alpn.h"
#include "tls/jws.h"
#include "util/log.h"
#include "util/text.h"

#define HOST_BUF 256
#define ALPN_GRACE 300		/* seconds a removed challenge is kept */
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16

struct challenge {
	struct challenge *next;
	char host[HOST_BUF];
	gnutls_pcert_st pcert;
	gnutls_privkey_t key;
	time_t removed;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct challenge *pending;
static struct challenge *retired;
static atomic_uint pending_count;

static void challenge_free(struct challenge *c)
{
	gnutls_pcert_deinit(&c->pcert);
	gnutls_privkey_deinit(c->key);
	free(c);
}

/* The certificate of RFC 8737 §3 for host and its new key. */
static int make_cert(const char *host, const char *key_authorization,
	gnutls_x509_crt_t *crt_out, gnutls_x509_privkey_t *key_out)
{
	unsigned char ext[2 + 32] = { 0x04, 0x20 };	/* OCTET STRING */
	unsigned char serial[16];
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t key = NULL;
	time_t now = time(NULL);
	int rc;
	if (jws_sha256(key_authorization, strlen(key_authorization),
			ext + 2) < 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0) {
		rc = GNUTLS_E_INTERNAL_ERROR;
		goto fail;
	}
	serial[0] &= 0x7f;
	if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
	    (rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
	    (rc = gnutls_x509_crt_init(&crt)) < 0 ||
	    (rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial,
		sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
		GNUTLS_OID_X520_COMMON_NAME, 0, host, strlen(host))) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_alt_name(crt,
		GNUTLS_SAN_DNSNAME, host, strlen(host),
		GNUTLS_FSAN_SET)) < 0 ||
	    (rc = gnutls_x509_crt_set_extension_by_oid(crt,
		ALPN_OID_ACME_IDENTIFIER, ext, sizeof(ext), 1)) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt,
		now + 7 * 86400)) < 0 ||
	    (rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256,
		0)) < 0)
		goto fail;
	*crt_out = crt;
	*key_out = key;
	return 0;
fail:
	log_error("acme: %s: cannot make the tls-alpn-01 certificate: %s",
		host, gnutls_strerror(rc));
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return -1;
}

int alpn_challenge_pem(const char *host, const char *key_authorization,
	char **pem)
{
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	gnutls_datum_t out = {0};
	if (make_cert(host, key_authorization, &crt, &key) < 0)
		return -1;
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	if (rc < 0)
		return -1;
	*pem = malloc(out.size + 1);
	if (*pem) {
		memcpy(*pem, out.data, out.size);
		(*pem)[out.size] = '\0';
	}
	gnutls_free(out.data);
	return *pem ? 0 : -1;
}

/* Frees retired challenges older than the grace period. Under lock. */
static void sweep(time_t now)
{
	struct challenge **p = &retired;
	while (*p) {
		struct challenge *c = *p;
		if (now - c->removed > ALPN_GRACE) {
			*p = c->next;
			challenge_free(c);
		} else {
			p = &c->next;
		}
	}
}

/* Moves host's challenge from pending to retired. Under lock. */
static void retire(const char *host, time_t now)
{
	for (struct challenge **p = &pending; *p; p = &(*p)->next) {
		if (strcmp((*p)->host, host) == 0) {
			struct challenge *c = *p;
			*p = c->next;
			c->removed = now;
			c->next = retired;
			retired = c;
			atomic_fetch_sub(&pending_count, 1);
			return;
		}
	}
}

int alpn_challenge_add(const char *host, const char *key_authorization)
{
	if (strlen(host) >= HOST_BUF)
		return -1;
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t xkey;
	if (make_cert(host, key_authorization, &crt, &xkey) < 0)
		return -1;
	struct challenge *c = calloc(1, sizeof(*c));
	int rc = GNUTLS_E_MEMORY_ERROR;
	if (!c || (rc = gnutls_pcert_import_x509(&c->pcert, crt, 0)) < 0) {
		free(c);
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509(c->key, xkey,
		GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0) {
		gnutls_pcert_deinit(&c->pcert);
		gnutls_privkey_deinit(c->key);
		free(c);
		goto fail;
	}
	xkey = NULL;	/* now owned by c->key */
	gnutls_x509_crt_deinit(crt);
	snprintf(c->host, sizeof(c->host), "%s", host);
	time_t now = time(NULL);
	pthread_mutex_lock(&lock);
	sweep(now);
	retire(host, now);
	c->next = pending;
	pending = c;
	atomic_fetch_add(&pending_count, 1);
	pthread_mutex_unlock(&lock);
	return 0;
fail:
	log_error("acme: %s: cannot load the tls-alpn-01 certificate: %s",
		host, gnutls_strerror(rc));
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(xkey);
	return -1;
}

void alpn_challenge_remove(const char *host)
{
	time_t now = time(NULL);
	pthread_mutex_lock(&lock);
	retire(host, now);
	sweep(now);
	pthread_mutex_unlock(&lock);
}

void alpn_finish(void)
{
	pthread_mutex_lock(&lock);
	while (pending) {
		struct challenge *c = pending;
		pending = c->next;
		challenge_free(c);
	}
	while (retired) {
		struct challenge *c = retired;
		retired = c->next;
		challenge_free(c);
	}
	atomic_store(&pending_count, 0);
	pthread_mutex_unlock(&lock);
}

/* What the hook found in the ClientHello's extensions. */
struct hello {
	char host[HOST_BUF];
	bool acme_only;
};

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* RFC 6066 §3 server_name: the first host_name entry, lower-cased. */
static void read_sni(struct hello *h, const unsigned char *p, size_t n)
{
	if (n < 2 || be16(p) != n - 2)
		return;
	p += 2;
	n -= 2;
	while (n >= 3) {
		unsigned type = p[0], len = be16(p + 1);
		if (len > n - 3)
			return;
		if (type == 0 && len < HOST_BUF) {
			for (unsigned i = 0; i < len; i++) {
				if (!p[3 + i])
					return;
				h->host[i] = text_lower((char)p[3 + i]);
			}
			h->host[len] = '\0';
			return;
		}
		p += 3 + len;
		n -= 3 + len;
	}
}

/* RFC 7301 §3.1: the list must be exactly one name, "acme-tls/1". */
static void read_alpn(struct hello *h, const unsigned char *p, size_t n)
{
	static const char want[] = ALPN_ACME_PROTOCOL;
	size_t wl = sizeof(want) - 1;
	h->acme_only = n == 3 + wl && be16(p) == 1 + wl && p[2] == wl &&
		memcmp(p + 3, want, wl) == 0;
}

static int on_extension(void *ctx, unsigned tls_id, const unsigned char *data,
	unsigned size)
{
	struct hello *h = ctx;
	if (tls_id == EXT_SERVER_NAME)
		read_sni(h, data, size);
	else if (tls_id == EXT_ALPN)
		read_alpn(h, data, size);
	return 0;
}

const void *alpn_on_client_hello(void *session, const void *msg,
	size_t size)
{
	if (atomic_load_explicit(&pending_count, memory_order_relaxed) == 0)
		return NULL;
	struct hello h = {0};
	gnutls_datum_t d = { (unsigned char *)msg, (unsigned)size };
	if (gnutls_ext_raw_parse(&h, on_extension, &d,
			GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO) < 0 ||
	    !h.acme_only || !h.host[0])
		return NULL;
	const struct challenge *found = NULL;
	pthread_mutex_lock(&lock);
	for (const struct challenge *c = pending; c; c = c->next)
		if (strcmp(c->host, h.host) == 0)
			found = c;
	pthread_mutex_unlock(&lock);
	if (!found)
		return NULL;
	static const gnutls_datum_t proto = {
		(unsigned char *)ALPN_ACME_PROTOCOL,
		sizeof(ALPN_ACME_PROTOCOL) - 1 };
	if (gnutls_alpn_set_protocols(session, &proto, 1, 0) < 0)
		return NULL;
	log_debug("acme: %s: answering a tls-alpn-01 validation",
		found->host);
	return found;
}

int alpn_retrieve(const void *challenge, void *pcert, unsigned *pcert_length,
	void *privkey)
{
	const struct challenge *c = challenge;
	*(gnutls_pcert_st **)pcert = (gnutls_pcert_st *)&c->pcert;
	*pcert_length = 1;
	*(gnutls_privkey_t *)privkey = c->key;
	return 0;
}
