/* SPDX-License-Identifier: MIT */
/*
 * certcheck.c: every check of a certificate chain and key, from reading
 * the files to the name the leaf must cover. Each problem becomes one
 * finding that says what is wrong, in which file, and how to fix it; the
 * checks go on after a problem so that one run reports them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/diag.h"
#include "util/text.h"
#include "tls/certcheck.h"
#include "tls/filefacts.h"
#include "tls/store.h"

#define HOST_BUF 256		/* a host name, a trailing dot and the NUL */
#define KEY_ID_MAX 64
#define NAMES_SHOWN 8		/* certificate names listed in a message */
#define DAY (24 * 60 * 60)
/* ------------------------------------------------------------------ */
/* Reading files                                                      */
/* ------------------------------------------------------------------ */

/* Wipes and frees a buffer that may have held a private key. */
void certcheck_file_wipe(struct certcheck_file *buf)
{
	if (buf->data) {
		gnutls_memset(buf->data, 0, buf->len);
		free(buf->data);
	}
	*buf = (struct certcheck_file){0};
}

/* The name of user id, or of group id when is_group, or else its number. */
static const char *id_name(bool is_group, unsigned long id, char *out,
	size_t size)
{
	char buf[4096];
	const char *name = NULL;
	if (is_group) {
		struct group gr, *res = NULL;
		if (getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &res) == 0 && res)
			name = res->gr_name;
	} else {
		struct passwd pw, *res = NULL;
		if (getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res) == 0 && res)
			name = res->pw_name;
	}
	if (name)
		snprintf(out, size, "%s", name);
	else
		snprintf(out, size, "%lu", id);
	return out;
}

/* Explains why path (a certificate or a key) could not be read. */
static void report_unreadable(struct diag *d, const char *file, unsigned line,
	bool is_key, const char *path, int err)
{
	const char *what = is_key ? "key" : "certificate";
	const char *code = is_key ? "tls-key-unreadable"
		: "tls-cert-unreadable";
	struct stat st;

	switch (err) {
	case EACCES:
	case EPERM:
		if (stat(path, &st) < 0) {
			diag_add(d, DIAG_ERROR, file, line, code,
				"cannot read %s %s: %s — make the directories "
				"above it searchable by the service user",
				what, path, strerror(err));
			return;
		}
		char owner[64], group[64];
		id_name(false, st.st_uid, owner, sizeof(owner));
		id_name(true, st.st_gid, group, sizeof(group));
		if (is_key)
			diag_add(d, DIAG_ERROR, file, line, code,
				"cannot read key %s (owner %s:%s, mode %04o): "
				"%s — make it readable by the service group: "
				"chgrp mta-stsd %s && chmod 640 %s",
				path, owner, group,
				(unsigned)(st.st_mode & 07777), strerror(err),
				path, path);
		else
			diag_add(d, DIAG_ERROR, file, line, code,
				"cannot read certificate %s (owner %s:%s, "
				"mode %04o): %s — make it readable: "
				"chmod 644 %s", path, owner, group,
				(unsigned)(st.st_mode & 07777), strerror(err),
				path);
		return;
	case ENOENT:
	case ENOTDIR:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: %s — check the path", what, path,
			strerror(err));
		return;
	case EISDIR:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: it is a directory — give the path "
			"of the PEM file itself", what, path);
		return;
	case TLS_FILE_NOT_REGULAR:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: not a regular file — give the path "
			"of a PEM file", what, path);
		return;
	case EFBIG:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: larger than %d KiB — give the PEM "
			"file of the %s, not an archive or bundle", what, path,
			TLS_FILE_LIMIT / 1024, what);
		return;
	default:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: %s — check the file", what, path,
			strerror(err));
		return;
	}
}
bool certcheck_read(const char *path, bool is_key, struct certcheck_file *buf,
	struct diag *d, const char *file, unsigned line)
{
	int err = tls_file_read(path, &buf->data, &buf->len, &buf->facts);
	if (err == 0)
		return true;
	report_unreadable(d, file, line, is_key, path, err);
	return false;
}

/* ------------------------------------------------------------------ */
/* Parsing and checking                                               */
/* ------------------------------------------------------------------ */

static bool contains(const struct certcheck_file *buf, const char *text)
{
	return memmem(buf->data, buf->len, text, strlen(text)) != NULL;
}

static const char *fmt_time(time_t t, char *out, size_t size)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) ||
	    !strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, size, "@%lld", (long long)t);
	return out;
}

/* The subject DN of crt for messages, escaped, in out. */
static const char *subject(gnutls_x509_crt_t crt, char *out, size_t size)
{
	gnutls_datum_t dn = {0};
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 || !dn.data)
		return text_escape_str(out, size, "(no subject)");
	text_escape_str(out, size, (const char *)dn.data);
	gnutls_free(dn.data);
	return out;
}

bool certcheck_cert_pem(const struct certcheck_file *buf, const char *path,
	struct diag *d, const char *file, unsigned line)
{
	if (!contains(buf, "-----BEGIN ")) {
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-not-pem",
			"certificate %s is not PEM — convert it: openssl x509 "
			"-inform DER -in %s -out %s.pem", path, path, path);
		return false;
	}
	if (!contains(buf, "-----BEGIN CERTIFICATE-----")) {
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-missing",
			"certificate file %s holds no certificate%s — give the "
			"certificate chain (fullchain.pem)", path,
			contains(buf, "PRIVATE KEY-----")
				? " but a private key: are cert and key swapped?"
				: "");
		return false;
	}
	return true;
}

int certcheck_import_pkcs8(const gnutls_datum_t *der, gnutls_privkey_t *key)
{
	gnutls_x509_privkey_t x = NULL;
	gnutls_privkey_t k = NULL;
	int rc = gnutls_x509_privkey_init(&x);
	if (rc == 0)
		rc = gnutls_x509_privkey_import_pkcs8(x, der,
			GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN);
	if (rc == 0)
		rc = gnutls_privkey_init(&k);
	if (rc == 0)
		rc = gnutls_privkey_import_x509(k, x,
			GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
	if (rc < 0) {
		if (k)
			gnutls_privkey_deinit(k);	/* x is not its yet */
		if (x)
			gnutls_x509_privkey_deinit(x);
		return rc;
	}
	*key = k;
	return 0;
}

/*
 * import_pkcs8 imports the key in buf into *key when it is the common
 * case, an unencrypted PKCS #8 PEM block first: GnuTLS's own route for a
 * PEM key tries each key type's header, decodes the base64 twice and
 * fixes the key up twice: an eighth of the import of a P-256 key, a third
 * of an RSA key's (the fix-up checks its primes). The DER goes to *der
 * (wiped and freed by the caller) on success. false, with *key and *der
 * untouched, for anything else (certcheck_parse_key then takes that
 * route, and reports the failure the way it always has).
 */
static bool import_pkcs8(const struct certcheck_file *buf,
	gnutls_privkey_t *key, gnutls_datum_t *der)
{
	static const char begin[] = "-----BEGIN PRIVATE KEY-----";
	const unsigned char *at = memmem(buf->data, buf->len, begin,
		sizeof(begin) - 1);
	/* GnuTLS imports the first "PRIVATE KEY-----": it must be this one. */
	const unsigned char *first = memmem(buf->data, buf->len,
		"PRIVATE KEY-----", 16);
	if (!at || first != at + 11 || contains(buf, "--BEGIN TSS2"))
		return false;
	gnutls_datum_t pem = {(unsigned char *)at,
		(unsigned)(buf->len - (size_t)(at - buf->data))};
	gnutls_datum_t decoded = {0};
	if (gnutls_pem_base64_decode2("PRIVATE KEY", &pem, &decoded) == 0 &&
			certcheck_import_pkcs8(&decoded, key) == 0) {
		*der = decoded;
		return true;
	}
	if (decoded.data) {
		gnutls_memset(decoded.data, 0, decoded.size);
		gnutls_free(decoded.data);
	}
	return false;
}

bool certcheck_parse_key(const struct certcheck_file *buf, const char *path,
	gnutls_privkey_t *key, gnutls_datum_t *pkcs8, struct diag *d,
	const char *file, unsigned line)
{
	*pkcs8 = (gnutls_datum_t){0};
	if (!contains(buf, "-----BEGIN ")) {
		diag_add(d, DIAG_ERROR, file, line, "tls-key-not-pem",
			"key %s is not PEM — convert it: openssl pkey -inform "
			"DER -in %s -out %s.pem", path, path, path);
		return false;
	}
	if (contains(buf, "ENCRYPTED PRIVATE KEY-----") ||
	    contains(buf, "Proc-Type: 4,ENCRYPTED")) {
		diag_add(d, DIAG_ERROR, file, line, "tls-key-encrypted",
			"key %s is encrypted with a passphrase — store it "
			"unencrypted, readable only by root and the service "
			"group", path);
		return false;
	}
	if (!contains(buf, "PRIVATE KEY-----")) {
		diag_add(d, DIAG_ERROR, file, line, "tls-key-missing",
			"key file %s holds no private key%s — give the key of "
			"the certificate (privkey.pem)", path,
			contains(buf, "-----BEGIN CERTIFICATE-----")
				? " but a certificate: are cert and key swapped?"
				: "");
		return false;
	}
	if (import_pkcs8(buf, key, pkcs8))
		return true;
	int rc = gnutls_privkey_init(key);
	if (rc == 0) {
		gnutls_datum_t data = {buf->data, (unsigned)buf->len};
		rc = gnutls_privkey_import_x509_raw(*key, &data,
			GNUTLS_X509_FMT_PEM, NULL, 0);
		if (rc < 0) {
			gnutls_privkey_deinit(*key);
			*key = NULL;
		}
	}
	if (rc < 0) {
		diag_add(d, DIAG_ERROR, file, line, "tls-key-invalid",
			"cannot parse key %s: %s — give an intact PEM private "
			"key", path, gnutls_strerror(rc));
		return false;
	}
	return true;
}

/* Does the public half of key equal that of crt (SHA-256 key ids)? */
static bool key_matches(gnutls_x509_crt_t crt, const unsigned char *id,
	size_t id_len)
{
	unsigned char cid[KEY_ID_MAX];
	size_t cid_len = sizeof(cid);
	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, cid,
		&cid_len) < 0)
		return false;
	return cid_len == id_len && memcmp(cid, id, id_len) == 0;
}

/* Compares two big-endian integers, ignoring leading zero bytes. */
static bool same_number(const gnutls_datum_t *a, const gnutls_datum_t *b)
{
	const unsigned char *p = a->data, *q = b->data;
	size_t m = a->size, n = b->size;
	while (m > 0 && *p == 0) {
		p++;
		m--;
	}
	while (n > 0 && *q == 0) {
		q++;
		n--;
	}
	return m == n && (m == 0 || memcmp(p, q, m) == 0);
}

/*
 * same_public_key compares the public key of crt with the public half of
 * key by their numbers: 1 equal, 0 different, -1 cannot tell (another
 * algorithm, or an export failed), when check_key falls back to key ids.
 * It reads the parameters both objects already hold, where key ids
 * encode a SubjectPublicKeyInfo twice and hash it (a fifth of the load
 * time of a small certificate).
 */
static int same_public_key(gnutls_x509_crt_t crt, gnutls_privkey_t key)
{
	gnutls_datum_t a[2] = {{0}}, b[2] = {{0}};
	gnutls_ecc_curve_t ca, cb;
	int rc = -1, ra, rb;
	int alg = gnutls_x509_crt_get_pk_algorithm(crt, NULL);
	if (alg != gnutls_privkey_get_pk_algorithm(key, NULL))
		return -1;	/* e.g. RSA and RSA-PSS: let key ids decide */
	switch (alg) {
	case GNUTLS_PK_ECDSA:
	case GNUTLS_PK_EDDSA_ED25519:
	case GNUTLS_PK_EDDSA_ED448:
		ra = gnutls_x509_crt_get_pk_ecc_raw(crt, &ca, &a[0], &a[1]);
		rb = gnutls_privkey_export_ecc_raw2(key, &cb, &b[0], &b[1],
			NULL, 0);
		if (ra == 0 && rb == 0)
			rc = ca == cb && same_number(&a[0], &b[0]) &&
				same_number(&a[1], &b[1]);
		break;
	case GNUTLS_PK_RSA:
		ra = gnutls_x509_crt_get_pk_rsa_raw(crt, &a[0], &a[1]);
		rb = gnutls_privkey_export_rsa_raw2(key, &b[0], &b[1], NULL,
			NULL, NULL, NULL, NULL, NULL, 0);
		if (ra == 0 && rb == 0)
			rc = same_number(&a[0], &b[0]) &&
				same_number(&a[1], &b[1]);
		break;
	default:
		break;
	}
	for (int i = 0; i < 2; i++) {
		gnutls_free(a[i].data);
		gnutls_free(b[i].data);
	}
	return rc;
}

bool certcheck_key(gnutls_x509_crt_t *crts, unsigned n,
	gnutls_privkey_t key, const char *cert_path, const char *key_path,
	struct diag *d, const char *file, unsigned line)
{
	/* The common case, a key that matches its leaf, the cheap way. */
	if (same_public_key(crts[0], key) == 1)
		return true;

	unsigned char id[KEY_ID_MAX];
	size_t id_len = sizeof(id);
	gnutls_pubkey_t pub;
	int rc = gnutls_pubkey_init(&pub);
	if (rc == 0) {
		rc = gnutls_pubkey_import_privkey(pub, key, 0, 0);
		if (rc == 0)
			rc = gnutls_pubkey_get_key_id(pub,
				GNUTLS_KEYID_USE_SHA256, id, &id_len);
		gnutls_pubkey_deinit(pub);
	}
	if (rc < 0) {
		diag_add(d, DIAG_ERROR, file, line, "tls-key-invalid",
			"cannot use key %s: %s — give an intact PEM private key",
			key_path, gnutls_strerror(rc));
		return false;
	}
	if (key_matches(crts[0], id, id_len))
		return true;
	for (unsigned i = 1; i < n; i++) {
		if (!key_matches(crts[i], id, id_len))
			continue;
		diag_add(d, DIAG_ERROR, file, line, "tls-key-mismatch",
			"key %s belongs to certificate %u of %s, not to the "
			"first — put the leaf first, then its intermediates "
			"(fullchain.pem)", key_path, i + 1, cert_path);
		return false;
	}
	diag_add(d, DIAG_ERROR, file, line, "tls-key-mismatch",
		"key %s does not belong to certificate %s — give the key made "
		"with this certificate (privkey.pem beside fullchain.pem)",
		key_path, cert_path);
	return false;
}

bool certcheck_chain(gnutls_x509_crt_t *crts, unsigned n, const char *path,
	time_t now, struct certcheck_validity *leaf_period, struct diag *d,
	const char *file, unsigned line)
{
	char when[64], dn[256], dn2[256];
	bool ok = true;

	for (unsigned i = 0; i + 1 < n; i++) {
		if (gnutls_x509_crt_check_issuer(crts[i], crts[i + 1]))
			continue;
		diag_add(d, DIAG_ERROR, file, line, "tls-chain-order",
			"certificate %u of %s (%s) is not issued by the next "
			"one (%s) — put the leaf first, then its intermediates "
			"(fullchain.pem)", i + 1, path,
			subject(crts[i], dn, sizeof(dn)),
			subject(crts[i + 1], dn2, sizeof(dn2)));
		ok = false;
		break;
	}

	time_t not_before = gnutls_x509_crt_get_activation_time(crts[0]);
	time_t not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
	*leaf_period = (struct certcheck_validity){not_before, not_after};
	if (not_before == (time_t)-1 || not_after == (time_t)-1) {
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-invalid",
			"certificate %s has no readable validity period — "
			"reissue it", path);
		return false;
	}
	if (now < not_before) {
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-not-yet-valid",
			"certificate %s is not valid until %s — check the "
			"system clock, or wait for that time", path,
			fmt_time(not_before, when, sizeof(when)));
		ok = false;
	}
	if (now > not_after) {
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-expired",
			"certificate %s expired on %s — renew it", path,
			fmt_time(not_after, when, sizeof(when)));
		ok = false;
	} else if (not_after - now < TLS_EXPIRY_WARNING_DAYS * (time_t)DAY) {
		long days = (long)((not_after - now) / DAY);
		char left[32];
		if (days > 0)
			snprintf(left, sizeof(left), "in %ld day%s", days,
				days == 1 ? "" : "s");
		else
			snprintf(left, sizeof(left), "in less than a day");
		diag_add(d, DIAG_WARNING, file, line, "tls-cert-expiring",
			"certificate %s expires on %s (%s) — renew it", path,
			fmt_time(not_after, when, sizeof(when)), left);
	}

	for (unsigned i = 1; i < n; i++) {
		time_t nb = gnutls_x509_crt_get_activation_time(crts[i]);
		time_t na = gnutls_x509_crt_get_expiration_time(crts[i]);
		if (nb != (time_t)-1 && now < nb)
			diag_add(d, DIAG_WARNING, file, line,
				"tls-chain-not-yet-valid",
				"certificate %u of %s (%s) is not valid until "
				"%s — get the current chain from your CA", i + 1,
				path, subject(crts[i], dn, sizeof(dn)),
				fmt_time(nb, when, sizeof(when)));
		else if (na != (time_t)-1 && now > na)
			diag_add(d, DIAG_WARNING, file, line,
				"tls-chain-expired",
				"certificate %u of %s (%s) expired on %s — get "
				"the current chain from your CA", i + 1, path,
				subject(crts[i], dn, sizeof(dn)),
				fmt_time(na, when, sizeof(when)));
	}

	if (n == 1 && gnutls_x509_crt_check_issuer(crts[0], crts[0]))
		diag_add(d, DIAG_WARNING, file, line, "tls-self-signed",
			"certificate %s is self-signed: senders will reject it "
			"— use a certificate from a public CA (e.g. Let's "
			"Encrypt)", path);
	else if (n == 1)
		diag_add(d, DIAG_WARNING, file, line, "tls-chain-incomplete",
			"certificate %s holds the leaf alone: senders that lack "
			"its intermediates will reject it — give the full chain "
			"(fullchain.pem)", path);
	return ok;
}

void certcheck_names(gnutls_x509_crt_t crt, char *out, size_t size)
{
	size_t o = 0;
	unsigned total = 0;
	char name[HOST_BUF + 1], esc[HOST_BUF * 4 + 8];
	out[0] = '\0';
	for (unsigned seq = 0;; seq++) {
		size_t len = sizeof(name) - 1;
		unsigned critical;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, name,
			&len, &critical);
		if (type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (type < 0)
			break;
		if (type != GNUTLS_SAN_DNSNAME)
			continue;
		name[len < sizeof(name) ? len : sizeof(name) - 1] = '\0';
		if (total++ >= NAMES_SHOWN || o >= size)
			continue;
		int w = snprintf(out + o, size - o, "%s%s", o ? ", " : "",
			text_escape_str(esc, sizeof(esc), name));
		o = w < 0 ? size : o + (size_t)w;
	}
	if (total > NAMES_SHOWN && o < size)
		snprintf(out + o, size - o, " and %u more",
			total - NAMES_SHOWN);
	if (total > 0)
		return;
	size_t len = sizeof(name) - 1;
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
		0, name, &len) == 0) {
		name[len < sizeof(name) ? len : sizeof(name) - 1] = '\0';
		snprintf(out, size, "no DNS name, only CN=%s",
			text_escape_str(esc, sizeof(esc), name));
	} else {
		snprintf(out, size, "no names at all");
	}
}

/* Does crt name at least one DNS name in its subjectAltName? */
static bool has_dns_name(gnutls_x509_crt_t crt)
{
	for (unsigned seq = 0;; seq++) {
		char name[HOST_BUF + 1];
		size_t len = sizeof(name);
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, name,
			&len, NULL);
		if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_E_SHORT_MEMORY_BUFFER)
			return true;	/* a long name is still a name */
		if (type < 0)
			return false;
	}
}

bool certcheck_covers(gnutls_x509_crt_t leaf, const char *host,
	const char *cert_path, struct diag *d, const char *file,
	unsigned line)
{
	/*
	 * GnuTLS, like some senders, falls back to the subject's CN when
	 * there is no DNS name; RFC 6125 §6.4.4 lets a client ignore the CN,
	 * and many do (browsers and the libraries of most MTAs), so a
	 * CN-only certificate (typically X.509 v1) is refused here.
	 */
	if (!has_dns_name(leaf)) {
		char names[1024];
		certcheck_names(leaf, names, sizeof(names));
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-no-san",
			"certificate %s has no subjectAltName (%s): many "
			"senders ignore the subject CN and will reject it — get "
			"a certificate whose subjectAltName includes %s",
			cert_path, names, host);
		return false;
	}
	if (gnutls_x509_crt_check_hostname2(leaf, host, 0))
		return true;
	char names[1024];
	certcheck_names(leaf, names, sizeof(names));
	const char *parent = strchr(host, '.');
	diag_add(d, DIAG_ERROR, file, line, "tls-host-not-covered",
		"certificate %s does not cover %s (it names %s) — get a "
		"certificate whose subjectAltName includes %s%s%s", cert_path,
		host, names, host, parent ? " or *" : "", parent ? parent : "");
	return false;
}
