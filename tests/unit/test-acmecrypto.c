/* SPDX-License-Identifier: MIT */
/*
 * The GnuTLS side of ACME: JWS keys and signatures (checked with GnuTLS's
 * own verifier), the CSR, the tls-alpn-01 certificate (parsed back) and a
 * real handshake answered by the tls-alpn-01 hook.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "testsupport.h"
#include "tls/acmecert.h"
#include "tls/alpn.h"
#include "tls/jws.h"
#include "tls/handshake.h"
#include "tls/priorities.h"
#include "tls/store.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* RFC 4648 §10, in the URL alphabet without padding. */
static const struct {
	const char *in, *out;
} b64_cases[] = {
	{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
};

START_TEST(test_base64url)
{
	const char *in = b64_cases[_i].in;
	char *out = jws_base64url(in, strlen(in));
	ck_assert_str_eq(out, b64_cases[_i].out);
	size_t len;
	unsigned char *back = jws_base64url_decode(out, &len);
	ck_assert_ptr_nonnull(back);
	ck_assert_uint_eq(len, strlen(in));
	ck_assert(memcmp(back, in, len) == 0);
	free(back);
	free(out);
}
END_TEST

START_TEST(test_base64_decode_forms)
{
	size_t len;
	unsigned char *b = jws_base64url_decode("+/8=", &len);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(len, 2);
	ck_assert_uint_eq(b[0], 0xfb);
	free(b);
	ck_assert_ptr_null(jws_base64url_decode("a", &len));
	ck_assert_ptr_null(jws_base64url_decode("ab*d", &len));
}
END_TEST

/* RFC 4231 test case 2. */
START_TEST(test_hmac)
{
	unsigned char mac[32];
	static const char *data = "what do ya want for nothing?";
	ck_assert_int_eq(jws_hmac_sha256("Jefe", 4, data, strlen(data), mac),
		0);
	char *b = jws_base64url(mac, sizeof(mac));
	/* 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843 */
	ck_assert_str_eq(b, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM");
	free(b);
}
END_TEST

START_TEST(test_key_roundtrip)
{
	struct jws_key *k = jws_key_generate();
	ck_assert_ptr_nonnull(k);
	char *pem = jws_key_export(k);
	ck_assert_ptr_nonnull(strstr(pem, "BEGIN PRIVATE KEY"));
	struct jws_key *k2 = jws_key_import(pem, strlen(pem));
	ck_assert_ptr_nonnull(k2);
	char *a = jws_key_jwk(k), *b = jws_key_jwk(k2);
	ck_assert_str_eq(a, b);
	/* {"crv":"P-256","kty":"EC","x":"<43>","y":"<43>"} */
	ck_assert_uint_eq(strlen(a), 40 + 2 * 43);
	ck_assert(strncmp(a, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"",
		31) == 0);
	char tp[JWS_THUMBPRINT_LEN + 1];
	ck_assert_int_eq(jws_key_thumbprint(k, tp), 0);
	unsigned char digest[32];
	ck_assert_int_eq(jws_sha256(a, strlen(a), digest), 0);
	char *want = jws_base64url(digest, sizeof(digest));
	ck_assert_str_eq(tp, want);
	free(want);
	free(a);
	free(b);
	jws_wipe_free(pem);
	jws_key_destroy(k2);
	jws_key_destroy(k);
	ck_assert_ptr_null(jws_key_import("junk", 4));
}
END_TEST

/* A GnuTLS public key for the JWS key, through its PEM. */
static gnutls_pubkey_t public_of(const struct jws_key *k)
{
	char *pem = jws_key_export(k);
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_privkey_t priv;
	gnutls_pubkey_t pub;
	ck_assert_int_eq(gnutls_privkey_init(&priv), 0);
	ck_assert_int_eq(gnutls_privkey_import_x509_raw(priv, &d,
		GNUTLS_X509_FMT_PEM, NULL, 0), 0);
	ck_assert_int_eq(gnutls_pubkey_init(&pub), 0);
	ck_assert_int_eq(gnutls_pubkey_import_privkey(pub, priv, 0, 0), 0);
	gnutls_privkey_deinit(priv);
	jws_wipe_free(pem);
	return pub;
}

START_TEST(test_es256_verifies)
{
	struct jws_key *k = jws_key_generate();
	gnutls_pubkey_t pub = public_of(k);
	static const char input[] = "eyJhbGciOiJFUzI1NiJ9.eyJ9";
	for (int round = 0; round < 20; round++) {
		unsigned char sig[JWS_ES256_LEN];
		ck_assert_int_eq(jws_sign(k, input, strlen(input), sig), 0);
		gnutls_datum_t r = { sig, 32 }, s = { sig + 32, 32 }, der;
		ck_assert_int_eq(gnutls_encode_rs_value(&der, &r, &s), 0);
		gnutls_datum_t data = { (unsigned char *)input,
			(unsigned)strlen(input) };
		ck_assert_int_ge(gnutls_pubkey_verify_data2(pub,
			GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der), 0);
		data.size--;
		ck_assert_int_lt(gnutls_pubkey_verify_data2(pub,
			GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der), 0);
		gnutls_free(der.data);
	}
	gnutls_pubkey_deinit(pub);
	jws_key_destroy(k);
}
END_TEST

START_TEST(test_csr)
{
	struct jws_key *k = jws_key_generate();
	unsigned char *der;
	size_t len;
	ck_assert_int_eq(acmecert_csr(k, "mta-sts.example.org", &der, &len),
		0);
	gnutls_x509_crq_t crq;
	gnutls_datum_t d = { der, (unsigned)len };
	ck_assert_int_eq(gnutls_x509_crq_init(&crq), 0);
	ck_assert_int_eq(gnutls_x509_crq_import(crq, &d,
		GNUTLS_X509_FMT_DER), 0);
	ck_assert_int_ge(gnutls_x509_crq_verify(crq, 0), 0);
	char name[128];
	size_t nsize = sizeof(name);
	unsigned type;
	ck_assert_int_eq(gnutls_x509_crq_get_subject_alt_name(crq, 0, name,
		&nsize, &type, NULL), GNUTLS_SAN_DNSNAME);
	ck_assert_str_eq(name, "mta-sts.example.org");
	/* The CSR carries the key it was made with. */
	gnutls_pubkey_t pub, want = public_of(k);
	gnutls_pubkey_init(&pub);
	ck_assert_int_eq(gnutls_pubkey_import_x509_crq(pub, crq, 0), 0);
	gnutls_datum_t a, b;
	gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a);
	gnutls_pubkey_export2(want, GNUTLS_X509_FMT_DER, &b);
	ck_assert(a.size == b.size && memcmp(a.data, b.data, a.size) == 0);
	gnutls_free(a.data);
	gnutls_free(b.data);
	gnutls_pubkey_deinit(pub);
	gnutls_pubkey_deinit(want);
	gnutls_x509_crq_deinit(crq);
	free(der);
	jws_key_destroy(k);
}
END_TEST

/* The acmeIdentifier extension of crt: critical, 04 20 SHA-256(ka). */
static void check_challenge_cert(gnutls_x509_crt_t crt, const char *host,
	const char *ka)
{
	unsigned char buf[64];
	size_t size = sizeof(buf);
	unsigned critical = 0;
	ck_assert_int_eq(gnutls_x509_crt_get_extension_by_oid(crt,
		ALPN_OID_ACME_IDENTIFIER, 0, buf, &size, &critical), 0);
	ck_assert_uint_eq(critical, 1);
	ck_assert_uint_eq(size, 34);
	ck_assert_uint_eq(buf[0], 0x04);
	ck_assert_uint_eq(buf[1], 0x20);
	unsigned char digest[32];
	jws_sha256(ka, strlen(ka), digest);
	ck_assert(memcmp(buf + 2, digest, 32) == 0);
	ck_assert(gnutls_x509_crt_check_hostname(crt, host));
	char name[128];
	size_t nsize = sizeof(name);
	ck_assert_int_eq(gnutls_x509_crt_get_subject_alt_name(crt, 0, name,
		&nsize, NULL), GNUTLS_SAN_DNSNAME);
	ck_assert_str_eq(name, host);
	nsize = sizeof(name);
	ck_assert_int_lt(gnutls_x509_crt_get_subject_alt_name(crt, 1, name,
		&nsize, NULL), 0);
}

START_TEST(test_challenge_cert)
{
	char *pem;
	ck_assert_int_eq(alpn_challenge_pem("mta-sts.a.test", "tok.thumb",
		&pem), 0);
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) };
	gnutls_x509_crt_init(&crt);
	ck_assert_int_eq(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM),
		0);
	check_challenge_cert(crt, "mta-sts.a.test", "tok.thumb");
	time_t nb, na;
	bool names;
	const char *why;
	ck_assert_int_eq(acmecert_chain_dates(pem, strlen(pem),
		"mta-sts.a.test", &nb, &na, &names, &why), 0);
	ck_assert(names && na > nb);
	ck_assert_int_eq(acmecert_chain_dates(pem, strlen(pem),
		"mta-sts.b.test", &nb, &na, &names, &why), 0);
	ck_assert(!names);
	ck_assert_int_lt(acmecert_chain_dates("x", 1, "a", &nb, &na, &names,
		&why), 0);
	gnutls_x509_crt_deinit(crt);
	free(pem);
}
END_TEST

/* RFC 9773 §4.1's example: this AKI and serial give this identifier. */
START_TEST(test_ari_id)
{
	static const unsigned char aki[] = {
		0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
		0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
	};
	static const unsigned char serial[] = { 0x00, 0x87, 0x65, 0x43, 0x21 };
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	gnutls_x509_privkey_init(&key);
	gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	gnutls_x509_crt_init(&crt);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_key(crt, key);
	gnutls_x509_crt_set_activation_time(crt, time(NULL));
	gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 86400);
	gnutls_x509_crt_set_authority_key_id(crt, aki, sizeof(aki));
	ck_assert_int_eq(gnutls_x509_crt_sign2(crt, crt, key,
		GNUTLS_DIG_SHA256, 0), 0);
	gnutls_datum_t pem;
	ck_assert_int_eq(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM,
		&pem), 0);
	char *id;
	ck_assert_int_eq(acmecert_ari_id((const char *)pem.data, pem.size,
		&id), 0);
	ck_assert_str_eq(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	free(id);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
}
END_TEST

/* ---- a handshake through tls_session_bind ------------------------- */

struct client {
	int fd;
	const char *sni;
	const char *alpn;
	int rc;
	char negotiated[32];
	gnutls_x509_crt_t peer;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, c->sni, strlen(c->sni));
	gnutls_datum_t proto = { (unsigned char *)c->alpn,
		(unsigned)strlen(c->alpn) };
	gnutls_alpn_set_protocols(s, &proto, 1, 0);
	gnutls_transport_set_int(s, c->fd);
	int rc;
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	c->rc = rc;
	if (rc == 0) {
		gnutls_datum_t got;
		if (gnutls_alpn_get_selected_protocol(s, &got) == 0 &&
		    got.size < sizeof(c->negotiated)) {
			memcpy(c->negotiated, got.data, got.size);
			c->negotiated[got.size] = '\0';
		}
		unsigned n;
		const gnutls_datum_t *peers = gnutls_certificate_get_peers(s,
			&n);
		if (peers && n) {
			gnutls_x509_crt_init(&c->peer);
			gnutls_x509_crt_import(c->peer, &peers[0],
				GNUTLS_X509_FMT_DER);
		}
		/*
		 * The server sends its TLS 1.3 tickets after the handshake,
		 * then one byte: wait for it before closing, or the server
		 * may write to a closed socket.
		 */
		char byte;
		ssize_t rd;
		do {
			rd = gnutls_record_recv(s, &byte, 1);
		} while (rd == GNUTLS_E_AGAIN || rd == GNUTLS_E_INTERRUPTED);
		gnutls_bye(s, GNUTLS_SHUT_WR);
	}
	close(c->fd);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	return NULL;
}

static gnutls_certificate_credentials_t server_cred;

/* The server side as http.c sets it up, libmicrohttpd's ALPN included. */
static int serve_one(struct client *c)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c->fd = sv[1];
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, client_main, c), 0);
	gnutls_session_t s;
	gnutls_init(&s, GNUTLS_SERVER);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, server_cred);
	static const gnutls_datum_t mhd_alpn[] = {
		{ (unsigned char *)"http/1.1", 8 },
		{ (unsigned char *)"http/1.0", 8 },
	};
	gnutls_alpn_set_protocols(s, mhd_alpn, 2, 0);
	struct tls_store *store = tls_store_create();
	struct tls_binding binding = { .store = store };
	gnutls_transport_set_int(s, sv[0]);
	ck_assert_int_eq(tls_session_bind(s, &binding), 0);
	int rc;
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc == 0) {
		char buf[16];
		ck_assert_int_eq(gnutls_record_send(s, "x", 1), 1);
		while (gnutls_record_recv(s, buf, sizeof(buf)) > 0)
			;
	}
	close(sv[0]);
	pthread_join(thread, NULL);
	gnutls_deinit(s);
	tls_store_destroy(store);
	return rc;
}

START_TEST(test_alpn_handshake)
{
	ck_assert_int_eq(alpn_challenge_add("mta-sts.a.test", "tok.thumb"),
		0);
	struct client c = { .sni = "MTA-STS.a.test", .alpn = "acme-tls/1" };
	ck_assert_int_eq(serve_one(&c), 0);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_str_eq(c.negotiated, "acme-tls/1");
	ck_assert_ptr_nonnull(c.peer);
	check_challenge_cert(c.peer, "mta-sts.a.test", "tok.thumb");
	gnutls_x509_crt_deinit(c.peer);

	/* A normal client for the same name is refused as before. */
	struct client n = { .sni = "mta-sts.a.test", .alpn = "http/1.1" };
	ck_assert_int_lt(serve_one(&n), 0);
	ck_assert_int_lt(n.rc, 0);

	/* acme-tls/1 for a name with no pending challenge: refused. */
	struct client o = { .sni = "mta-sts.b.test", .alpn = "acme-tls/1" };
	ck_assert_int_lt(serve_one(&o), 0);

	alpn_challenge_remove("mta-sts.a.test");
	struct client r = { .sni = "mta-sts.a.test", .alpn = "acme-tls/1" };
	ck_assert_int_lt(serve_one(&r), 0);
	alpn_finish();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("acmecrypto");
	TCase *tc = tcase_create("jws");
	tcase_add_loop_test(tc, test_base64url, 0, ARRAY_LEN(b64_cases));
	tcase_add_test(tc, test_base64_decode_forms);
	tcase_add_test(tc, test_hmac);
	tcase_add_test(tc, test_key_roundtrip);
	tcase_add_test(tc, test_es256_verifies);
	suite_add_tcase(s, tc);
	tc = tcase_create("certificates");
	tcase_add_test(tc, test_csr);
	tcase_add_test(tc, test_challenge_cert);
	tcase_add_test(tc, test_ari_id);
	tcase_add_test(tc, test_alpn_handshake);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (tls_init(TLS_DEFAULT_PRIORITIES) < 0)
		return EXIT_FAILURE;
	gnutls_certificate_allocate_credentials(&server_cred);
	gnutls_certificate_set_retrieve_function2(server_cred,
		(gnutls_certificate_retrieve_function2 *)
		tls_retrieve_function());
	int rc = test_run(suite());
	gnutls_certificate_free_credentials(server_cred);
	tls_finish();
	return rc;
}
