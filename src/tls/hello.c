/* SPDX-License-Identifier: MIT */
/*
 * hello.c: the ClientHello judged before GnuTLS negotiates, so that a
 * client the server cannot serve gets the alert RFC 8446 asks for rather
 * than a bare close (see hello.h). It reads only what the negotiation
 * depends on: the versions (legacy_version and supported_versions), the
 * cipher suites and the supported groups; everything else, and every
 * malformed message, is left to GnuTLS.
 */
#include <string.h>

#include <gnutls/gnutls.h>

#include "tls/hello.h"

#define EXT_SUPPORTED_GROUPS 10
#define EXT_SUPPORTED_VERSIONS 43
#define MINOR_TLS13 4	/* versions are 3.minor: 3.0 SSL 3.0 to 3.4 TLS 1.3 */

/* The TLS code points of the groups GnuTLS knows (RFC 8446 §4.2.7). */
static uint16_t group_code(gnutls_group_t g)
{
	switch (g) {
	case GNUTLS_GROUP_SECP192R1: return 19;
	case GNUTLS_GROUP_SECP224R1: return 21;
	case GNUTLS_GROUP_SECP256R1: return 23;
	case GNUTLS_GROUP_SECP384R1: return 24;
	case GNUTLS_GROUP_SECP521R1: return 25;
	case GNUTLS_GROUP_X25519: return 29;
	case GNUTLS_GROUP_X448: return 30;
	case GNUTLS_GROUP_FFDHE2048: return 256;
	case GNUTLS_GROUP_FFDHE3072: return 257;
	case GNUTLS_GROUP_FFDHE4096: return 258;
	case GNUTLS_GROUP_FFDHE6144: return 259;
	case GNUTLS_GROUP_FFDHE8192: return 260;
	default: return 0;
	}
}

int hello_offer_init(struct hello_offer *o, const char *priorities)
{
	gnutls_priority_t prio;
	*o = (struct hello_offer){0};
	int rc = gnutls_priority_init(&prio, priorities, NULL);
	if (rc < 0)
		return rc;
	const unsigned *versions = NULL;
	int n = gnutls_priority_protocol_list(prio, &versions);
	for (int i = 0; i < n; i++) {
		switch (versions[i]) {
		case GNUTLS_SSL3: o->version[0] = true; break;
		case GNUTLS_TLS1_0: o->version[1] = true; break;
		case GNUTLS_TLS1_1: o->version[2] = true; break;
		case GNUTLS_TLS1_2: o->version[3] = true; break;
		case GNUTLS_TLS1_3: o->version[4] = true; break;
		default: break;
		}
	}
	for (unsigned i = 0; o->nsuites < HELLO_MAX_SUITES; i++) {
		unsigned sidx;
		unsigned char id[2];
		gnutls_kx_algorithm_t kx = GNUTLS_KX_UNKNOWN;
		rc = gnutls_priority_get_cipher_suite_index(prio, i, &sidx);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc < 0 || !gnutls_cipher_suite_info(sidx, id, &kx, NULL,
				NULL, NULL))
			continue;
		o->ecdhe[o->nsuites] = kx == GNUTLS_KX_ECDHE_RSA ||
			kx == GNUTLS_KX_ECDHE_ECDSA || kx == GNUTLS_KX_ECDHE_PSK;
		o->suites[o->nsuites++] = (uint16_t)(id[0] << 8 | id[1]);
	}
	const unsigned *groups = NULL;
	n = gnutls_priority_group_list(prio, &groups);
	for (int i = 0; i < n && o->ngroups < HELLO_MAX_GROUPS; i++) {
		uint16_t code = group_code((gnutls_group_t)groups[i]);
		if (code)
			o->groups[o->ngroups++] = code;
	}
	gnutls_priority_deinit(prio);
	return 0;
}

/* The index of v in list[0..n), or n. */
static size_t find(const uint16_t *list, size_t n, uint16_t v)
{
	size_t i = 0;
	while (i < n && list[i] != v)
		i++;
	return i;
}

static bool has(const uint16_t *list, size_t n, uint16_t v)
{
	return find(list, n, v) < n;
}

static uint16_t u16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* What the client offers, as far as the negotiation depends on it. */
struct client {
	const struct hello_offer *o;
	bool versions_sent;	/* supported_versions present */
	bool version[5];	/* [minor] as in struct hello_offer */
	bool groups_sent;	/* supported_groups present */
	bool common_group;
	bool malformed;
};

/* gnutls_ext_raw_parse callback: notes the two extensions of interest. */
static int on_extension(void *ctx, unsigned tls_id, const unsigned char *data,
	unsigned size)
{
	struct client *c = ctx;
	if (tls_id == EXT_SUPPORTED_VERSIONS) {
		if (size < 1 || data[0] != size - 1 || data[0] % 2) {
			c->malformed = true;
			return 0;
		}
		c->versions_sent = true;
		for (unsigned i = 1; i + 1 < size; i += 2) {
			if (data[i] == 3 && data[i + 1] <= MINOR_TLS13)
				c->version[data[i + 1]] = true;
		}
	} else if (tls_id == EXT_SUPPORTED_GROUPS) {
		if (size < 2 || u16(data) != size - 2 || u16(data) % 2) {
			c->malformed = true;
			return 0;
		}
		c->groups_sent = true;
		for (unsigned i = 2; i + 1 < size; i += 2)
			c->common_group |= has(c->o->groups, c->o->ngroups,
				u16(data + i));
	}
	return 0;
}

/*
 * Is there a suite in the client's list for the version both sides
 * settle on? TLS 1.3 suites (0x13xx) serve only TLS 1.3, the others only
 * TLS 1.2; a TLS 1.2 suite with ECDHE counts only with a common group.
 */
static bool common_suite(const struct hello_offer *o,
	const unsigned char *suites, size_t len, bool tls13, bool group)
{
	for (size_t i = 0; i + 1 < len; i += 2) {
		bool for13 = suites[i] == 0x13;
		size_t k = find(o->suites, o->nsuites, u16(suites + i));
		if (k == o->nsuites || for13 != tls13)
			continue;
		if (tls13 || !o->ecdhe[k] || group)
			return true;
	}
	return false;
}

int hello_screen(const struct hello_offer *o, const unsigned char *msg,
	size_t len)
{
	/* legacy_version, random, session id, cipher suites (§4.1.2) */
	if (len < 2 + 32 + 1)
		return 0;
	uint16_t legacy = u16(msg);
	size_t pos = 2 + 32;
	pos += 1 + (size_t)msg[pos];
	if (pos + 2 > len)
		return 0;
	size_t suites_len = u16(msg + pos);
	const unsigned char *suites = msg + pos + 2;
	if (pos + 2 + suites_len > len)
		return 0;

	if (legacy >> 8 != 3)
		return GNUTLS_A_PROTOCOL_VERSION;	/* not even SSL 3 */
	struct client c = {.o = o};
	gnutls_datum_t hello = {(unsigned char *)msg, (unsigned)len};
	int rc = gnutls_ext_raw_parse(&c, on_extension, &hello,
		GNUTLS_EXT_RAW_FLAG_TLS_CLIENT_HELLO);
	/* A hello without extensions is valid; judge it by the rest. */
	if ((rc < 0 && rc != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) ||
	    c.malformed)
		return 0;
	/*
	 * Without supported_versions, legacy_version is the highest the
	 * client speaks, and it takes any lower one the server picks.
	 */
	bool tls13 = false, older = false;
	for (unsigned minor = 0; minor <= MINOR_TLS13; minor++) {
		bool client = c.versions_sent ? c.version[minor]
			: legacy >> 8 == 3 && minor <= (legacy & 0xff);
		if (!client || !o->version[minor])
			continue;
		if (minor == MINOR_TLS13 && c.versions_sent)
			tls13 = true;
		else if (minor < MINOR_TLS13)
			older = true;
	}
	if (!tls13 && !older)
		return GNUTLS_A_PROTOCOL_VERSION;
	/*
	 * GnuTLS settles on the highest common version before it looks at
	 * suites and groups, and does not fall back from there. TLS 1.3
	 * needs a common group; TLS 1.2 only for ECDHE, and a client that
	 * sends no groups leaves the choice to the server (RFC 8422 §4).
	 */
	bool group = c.common_group || (!tls13 && !c.groups_sent);
	if (!common_suite(o, suites, suites_len, tls13, group) ||
	    (tls13 && !group))
		return GNUTLS_A_HANDSHAKE_FAILURE;
	return 0;
}
