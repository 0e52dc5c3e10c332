/* SPDX-License-Identifier: MIT */
/*
 * client.c: the TLS client of `mta-stsd check`, which sees a policy host
 * or an MX host the way a sending MTA does.
 */
#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "tls/certcheck.h"
#include "tls/client.h"

#define PROBE_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/*
 * verify_peer fills out's verdict fields for the session's peer chain.
 * Chain and name are checked separately (name NULL in verify_peers3) so
 * that a sender's three TLS-RPT failure types can be told apart: expired,
 * not trusted, host mismatch (RFC 8460 §4.3).
 */
static void verify_peer(gnutls_session_t session, const char *host,
	struct tls_probe_result *out)
{
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
	if (!certs || n == 0) {
		out->untrusted = true;
		snprintf(out->names, sizeof(out->names), "no certificate sent");
		return;
	}
	gnutls_x509_crt_t leaf;
	if (gnutls_x509_crt_init(&leaf) < 0) {
		out->untrusted = true;
		return;
	}
	if (gnutls_x509_crt_import(leaf, &certs[0], GNUTLS_X509_FMT_DER) < 0) {
		out->untrusted = true;
		gnutls_x509_crt_deinit(leaf);
		return;
	}
	out->not_after = gnutls_x509_crt_get_expiration_time(leaf);
	certcheck_names(leaf, out->names, sizeof(out->names));
	/* RFC 6125 DNS-ID only, wildcard as the whole leftmost label. */
	out->host_mismatch = !gnutls_x509_crt_check_hostname2(leaf, host,
		GNUTLS_VERIFY_DO_NOT_ALLOW_IP_MATCHES);
	gnutls_x509_crt_deinit(leaf);

	unsigned status = 0;
	if (gnutls_certificate_verify_peers3(session, NULL, &status) < 0) {
		out->untrusted = true;
		return;
	}
	out->expired = status & GNUTLS_CERT_EXPIRED;
	out->not_yet_valid = status & GNUTLS_CERT_NOT_ACTIVATED;
	out->untrusted = status & ~(unsigned)(GNUTLS_CERT_EXPIRED |
		GNUTLS_CERT_NOT_ACTIVATED | GNUTLS_CERT_INVALID);
	if ((status & GNUTLS_CERT_INVALID) && !out->expired &&
			!out->not_yet_valid)
		out->untrusted = true;
	out->verified = status == 0 && !out->host_mismatch;
}

int tls_client_probe(int fd, const char *host, const char *ca_file,
	unsigned timeout_s, struct tls_probe_result *out)
{
	*out = (struct tls_probe_result){0};
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t session = NULL;
	int rc = gnutls_certificate_allocate_credentials(&cred);
	if (rc < 0)
		goto err;
	/* The system store, as senders use; a missing one is not fatal
	 * when ca_file is given (GnuTLS returns the count loaded). */
	rc = gnutls_certificate_set_x509_system_trust(cred);
	if (rc < 0 && !ca_file)
		goto err;
	if (ca_file) {
		rc = gnutls_certificate_set_x509_trust_file(cred, ca_file,
			GNUTLS_X509_FMT_PEM);
		if (rc < 0) {
			snprintf(out->error, sizeof(out->error), "%s: %s",
				ca_file, gnutls_strerror(rc));
			goto err_set;
		}
	}
	rc = gnutls_init(&session, GNUTLS_CLIENT);
	if (rc < 0)
		goto err;
	rc = gnutls_priority_set_direct(session, PROBE_PRIORITIES, NULL);
	if (rc < 0)
		goto err;
	rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred);
	if (rc < 0)
		goto err;
	/* §7.1 (for policy hosts) and common MX practice: always send SNI. */
	rc = gnutls_server_name_set(session, GNUTLS_NAME_DNS, host,
		strlen(host));
	if (rc < 0)
		goto err;
	gnutls_transport_set_int(session, fd);
	gnutls_handshake_set_timeout(session, timeout_s ? timeout_s * 1000 :
		GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED)
			snprintf(out->error, sizeof(out->error), "the server "
				"sent the alert \"%s\"", gnutls_alert_get_name(
				gnutls_alert_get(session)));
		else
			snprintf(out->error, sizeof(out->error), "%s",
				gnutls_strerror(rc));
		goto err_set;
	}
	snprintf(out->version, sizeof(out->version), "%s",
		gnutls_protocol_get_name(gnutls_protocol_get_version(session)));
	verify_peer(session, host, out);
	gnutls_bye(session, GNUTLS_SHUT_WR);
	gnutls_deinit(session);
	gnutls_certificate_free_credentials(cred);
	return 0;
err:
	snprintf(out->error, sizeof(out->error), "%s", gnutls_strerror(rc));
err_set:
	if (session)
		gnutls_deinit(session);
	if (cred)
		gnutls_certificate_free_credentials(cred);
	return -1;
}
