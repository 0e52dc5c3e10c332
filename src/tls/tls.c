/* SPDX-License-Identifier: MIT */
/*
 * tls.c: the only GnuTLS user. Certificate chains and private keys are
 * loaded here, checked here and never leave this file; other modules see
 * user pointers and a callback.
 *
 * The store keeps open-addressing tables (linear probing, at most half
 * full, doubled when it would not be): hosts, keyed by the lower-case
 * policy host, and credentials, keyed by the (cert path, key path) pair so
 * that 10,000 hosts on one SAN or wildcard certificate load it once. Every
 * add and every lookup is O(1) on average.
 *
 * Memory, for 10,000 hosts with a certificate each: a loaded P-256 key
 * costs about 2.6 KiB in GnuTLS and a certificate about 1.2 KiB. The
 * intermediates of all those chains are nearly always the same few, so a
 * third table keeps one copy of each certificate that is not a leaf, and
 * the chains share it; it also keeps the parsed issuer, so each chain
 * parses only its leaf. Loading checks everything and then keeps just the
 * leaf's DER and the key's PEM block (about 0.7 KiB); the GnuTLS objects
 * a handshake needs are made on the first handshake for that certificate
 * (struct live). A daemon with 10,000 hosts holds about 28 MiB until
 * they are fetched, about 60 once all have been, and loads in about 0.7 s
 * of CPU (docs/PERFORMANCE.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/diag.h"
#include "util/log.h"
#include "tls/tls.h"
#include "util/text.h"

#define HOST_MAX 253		/* octets of a host name, no trailing dot */
#define HOST_BUF 256		/* fits HOST_MAX, the dot and the NUL */
#define SNI_BUF 257		/* fits the longest SNI (255) and a NUL */
#define FILE_LIMIT (1024 * 1024)	/* PEM files are a few KiB */
#define KEY_ID_MAX 64
#define NAMES_SHOWN 8		/* certificate names listed in a message */
#define DAY (24 * 60 * 60)

/*
 * What a handshake hands GnuTLS: the chain as served (its leaf is its own,
 * the rest shallow copies of the store's issuers) and the key.
 */
struct live {
	gnutls_privkey_t key;
	gnutls_pcert_st chain[];
};

/*
 * A certificate chain and its key. Shared by every host whose config names
 * the same pair of files. A rejected credential keeps only its paths, so
 * that later hosts naming it get one short error instead of a reload.
 *
 * Loading checks everything, then keeps only the leaf's DER and the key's
 * PEM block (about 0.7 KiB): the GnuTLS objects a handshake needs cost
 * 3.3 KiB more and are made on the first handshake for the credential
 * (make_live), so 10,000 mostly idle hosts take a fraction of the memory.
 */
struct cred {
	gnutls_pcert_st *chain;	/* [1..] the shared issuers; [0] unused */
	gnutls_datum_t leaf_der;
	gnutls_datum_t key_der;	/* the key's PEM block or PKCS #8 DER */
	gnutls_x509_crt_fmt_t key_fmt;
	_Atomic(struct live *) live;	/* NULL until the first handshake */
	unsigned chain_len;
	bool rejected;
	time_t not_before;	/* of the leaf */
	time_t not_after;
	uint64_t hash;		/* of paths */
	char *paths;		/* "CERT\0KEY\0"; NULL when generated */
};

/*
 * An issuer certificate (any chain certificate after the leaf), kept once
 * per store. Chains hold shallow copies of pcert: GnuTLS neither changes
 * nor frees what the retrieve callback hands it.
 */
struct issuer {
	gnutls_pcert_st pcert;
	gnutls_x509_crt_t crt;	/* parsed, for the checks of later chains */
	uint64_t hash;		/* of the DER */
};

/* One policy host: what the SNI table maps a name to. */
struct entry {
	struct cred *cred;
	void *user;
	uint64_t hash;
	char name[];		/* lower case, no trailing dot */
};

/* Open addressing over pointers; mask + 1 slots, a power of two, or none. */
struct table {
	void **slots;
	size_t mask;
	size_t len;
};

struct tls_store {
	struct table hosts;	/* struct entry */
	struct table by_paths;	/* struct cred with paths */
	struct table issuers;	/* struct issuer */
	struct cred **creds;	/* every credential, for destroy */
	size_t ncreds;
	size_t creds_cap;
	size_t loaded;		/* credentials not rejected */
	/*
	 * The parsed leaf of the credential loaded or used last. Hosts that
	 * share a credential usually come one after another, so checking
	 * each against the leaf rarely parses it again, and no parsed
	 * certificate is kept per credential (a parsed one costs KiBs).
	 */
	const struct cred *leaf_of;
	gnutls_x509_crt_t leaf;
};

/* The process-wide session ticket master key (see tls_session_bind). */
static gnutls_datum_t ticket_key;

/* ------------------------------------------------------------------ */
/* Names and hashing                                                  */
/*
 * norm_name writes host in lower case without one trailing dot to out and
 * returns its length: 0 when it is empty or longer than HOST_MAX.
 */
static size_t norm_name(const char *host, char out[HOST_BUF])
{
	size_t len = strnlen(host, HOST_BUF);
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > HOST_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		out[i] = text_lower(host[i]);
	out[len] = '\0';
	return len;
}

/* FNV-1a, then the splitmix64 finaliser so that low bits mix well. */
static uint64_t hash_bytes(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static uint64_t hash_final(uint64_t h)
{
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)

static uint64_t hash_name(const char *name, size_t len)
{
	return hash_final(hash_bytes(FNV_BASIS, name, len));
}

static uint64_t hash_paths(const char *cert_file, const char *key_file)
{
	uint64_t h = hash_bytes(FNV_BASIS, cert_file, strlen(cert_file) + 1);
	return hash_final(hash_bytes(h, key_file, strlen(key_file)));
}

/* ------------------------------------------------------------------ */
/* Open-addressing table                                              */
/* ------------------------------------------------------------------ */

typedef uint64_t table_hash_fn(const void *item);
typedef bool table_eq_fn(const void *item, const void *key);

static uint64_t entry_hash(const void *item)
{
	return ((const struct entry *)item)->hash;
}

static uint64_t cred_hash(const void *item)
{
	return ((const struct cred *)item)->hash;
}

static uint64_t issuer_hash(const void *item)
{
	return ((const struct issuer *)item)->hash;
}

/*
 * table_slot returns the slot holding the item equal to key, or the empty
 * slot where it would go. The table must have slots; it is never full.
 */
static void **table_slot(const struct table *t, uint64_t h, table_eq_fn *eq,
	const void *key)
{
	for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
		void **slot = &t->slots[i];
		if (!*slot || eq(*slot, key))
			return slot;
	}
}

static void *table_find(const struct table *t, uint64_t h, table_eq_fn *eq,
	const void *key)
{
	if (!t->slots)
		return NULL;
	return *table_slot(t, h, eq, key);
}

/* Makes room for one more item, keeping the table at most half full. */
static int table_reserve(struct table *t, table_hash_fn *hash_of)
{
	size_t cap = t->slots ? t->mask + 1 : 0;
	if ((t->len + 1) * 2 <= cap)
		return 0;
	size_t ncap = cap ? cap * 2 : 16;
	void **slots = calloc(ncap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < cap; i++) {
		void *item = t->slots[i];
		if (!item)
			continue;
		size_t j = (size_t)hash_of(item) & (ncap - 1);
		while (slots[j])
			j = (j + 1) & (ncap - 1);
		slots[j] = item;
	}
	free(t->slots);
	t->slots = slots;
	t->mask = ncap - 1;
	return 0;
}

struct name_key {
	const char *name;
	size_t len;
	uint64_t hash;
};

static bool entry_eq(const void *item, const void *key)
{
	const struct entry *e = item;
	const struct name_key *k = key;
	return e->hash == k->hash && strncmp(e->name, k->name, k->len) == 0 &&
		e->name[k->len] == '\0';
}

struct paths_key {
	const char *cert_file;
	const char *key_file;
	uint64_t hash;
};

static bool cred_eq(const void *item, const void *key)
{
	const struct cred *c = item;
	const struct paths_key *k = key;
	return c->hash == k->hash && strcmp(c->paths, k->cert_file) == 0 &&
		strcmp(c->paths + strlen(c->paths) + 1, k->key_file) == 0;
}

static bool issuer_eq(const void *item, const void *key)
{
	const gnutls_datum_t *a = &((const struct issuer *)item)->pcert.cert;
	const gnutls_datum_t *b = key;
	return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

static struct entry *find_entry(const struct tls_store *store,
	const char *name, size_t len)
{
	struct name_key key = {name, len, hash_name(name, len)};
	return table_find(&store->hosts, key.hash, entry_eq, &key);
}

/* ------------------------------------------------------------------ */
/* Store lifetime                                                     */
/* ------------------------------------------------------------------ */

static void wipe_datum(gnutls_datum_t *d)
{
	if (d->data) {
		gnutls_memset(d->data, 0, d->size);
		free(d->data);
	}
	*d = (gnutls_datum_t){0};
}

static void cred_free(struct cred *cred)
{
	if (!cred)
		return;
	/* Only the leaf is the credential's own; issuers are the store's. */
	struct live *live = atomic_load(&cred->live);
	if (live) {
		gnutls_pcert_deinit(&live->chain[0]);
		gnutls_privkey_deinit(live->key);
		free(live);
	}
	free(cred->chain);
	free(cred->leaf_der.data);
	wipe_datum(&cred->key_der);
	free(cred->paths);
	free(cred);
}

static void set_leaf(struct tls_store *store, const struct cred *cred,
	gnutls_x509_crt_t leaf)
{
	if (store->leaf)
		gnutls_x509_crt_deinit(store->leaf);
	store->leaf_of = leaf ? cred : NULL;
	store->leaf = leaf;
}

struct tls_store *tls_store_create(void)
{
	return calloc(1, sizeof(struct tls_store));
}

void tls_store_destroy(struct tls_store *store)
{
	if (!store)
		return;
	for (size_t i = 0; store->hosts.slots && i <= store->hosts.mask; i++)
		free(store->hosts.slots[i]);
	free(store->hosts.slots);
	free(store->by_paths.slots);
	for (size_t i = 0; i < store->ncreds; i++)
		cred_free(store->creds[i]);
	free(store->creds);
	for (size_t i = 0; store->issuers.slots && i <= store->issuers.mask;
	     i++) {
		struct issuer *is = store->issuers.slots[i];
		if (!is)
			continue;
		gnutls_pcert_deinit(&is->pcert);
		if (is->crt)
			gnutls_x509_crt_deinit(is->crt);
		free(is);
	}
	free(store->issuers.slots);
	set_leaf(store, NULL, NULL);
	free(store);
}

void *tls_store_lookup(const struct tls_store *store, const char *host)
{
	char name[HOST_BUF];
	size_t len;
	if (!store || !host || !(len = norm_name(host, name)))
		return NULL;
	struct entry *e = find_entry(store, name, len);
	return e ? e->user : NULL;
}

size_t tls_store_count(const struct tls_store *store)
{
	return store ? store->hosts.len : 0;
}

size_t tls_store_credential_count(const struct tls_store *store)
{
	return store ? store->loaded : 0;
}

/* Appends cred to the list of all credentials. 0 or -1 (no memory). */
static int push_cred(struct tls_store *store, struct cred *cred)
{
	if (store->ncreds == store->creds_cap) {
		size_t cap = store->creds_cap ? store->creds_cap * 2 : 16;
		struct cred **creds = realloc(store->creds,
			cap * sizeof(*creds));
		if (!creds)
			return -1;
		store->creds = creds;
		store->creds_cap = cap;
	}
	store->creds[store->ncreds++] = cred;
	if (!cred->rejected)
		store->loaded++;
	return 0;
}

/*
 * new_entry allocates the entry for name and makes room for it in the
 * hosts table, so that insert_entry cannot fail. NULL when out of memory.
 */
static struct entry *new_entry(struct tls_store *store, const char *name,
	size_t len, void *user)
{
	if (table_reserve(&store->hosts, entry_hash) < 0)
		return NULL;
	struct entry *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	e->cred = NULL;
	e->user = user;
	e->hash = hash_name(name, len);
	memcpy(e->name, name, len + 1);
	return e;
}

/* Puts e (from new_entry, its name not in the table) into the table. */
static void insert_entry(struct tls_store *store, struct entry *e,
	struct cred *cred)
{
	size_t len = strlen(e->name);
	struct name_key key = {e->name, len, e->hash};
	e->cred = cred;
	*table_slot(&store->hosts, e->hash, entry_eq, &key) = e;
	store->hosts.len++;
}

/* ------------------------------------------------------------------ */
/* Reading files                                                      */
/* ------------------------------------------------------------------ */

struct file_buf {
	unsigned char *data;
	size_t len;
};

/* Wipes and frees a buffer that may have held a private key. */
static void file_buf_wipe(struct file_buf *buf)
{
	if (buf->data) {
		gnutls_memset(buf->data, 0, buf->len);
		free(buf->data);
	}
	*buf = (struct file_buf){0};
}

#define READ_NOT_REGULAR (-1)

/*
 * read_whole reads a regular file of at most FILE_LIMIT bytes into buf.
 * Returns 0, an errno value (EISDIR, EFBIG included), or READ_NOT_REGULAR.
 */
static int read_whole(const char *path, struct file_buf *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno;
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if (S_ISDIR(st.st_mode))
		err = EISDIR;
	else if (!S_ISREG(st.st_mode))
		err = READ_NOT_REGULAR;
	else if (st.st_size > FILE_LIMIT)
		err = EFBIG;
	if (err) {
		close(fd);
		return err;
	}
	/* One allocation of the final size: no realloc leaves key copies. */
	size_t cap = (size_t)st.st_size;
	unsigned char *data = malloc(cap ? cap : 1);
	if (!data) {
		close(fd);
		return ENOMEM;
	}
	size_t len = 0;
	while (len < cap) {
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err) {
		gnutls_memset(data, 0, cap);
		free(data);
		return err;
	}
	buf->data = data;
	buf->len = len;
	return 0;
}

static const char *user_name(uid_t uid, char *out, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, size, "%s", res->pw_name);
	else
		snprintf(out, size, "%lu", (unsigned long)uid);
	return out;
}

static const char *group_name(gid_t gid, char *out, size_t size)
{
	struct group gr, *res = NULL;
	char buf[4096];
	if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, size, "%s", res->gr_name);
	else
		snprintf(out, size, "%lu", (unsigned long)gid);
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
		user_name(st.st_uid, owner, sizeof(owner));
		group_name(st.st_gid, group, sizeof(group));
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
	case READ_NOT_REGULAR:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: not a regular file — give the path "
			"of a PEM file", what, path);
		return;
	case EFBIG:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: larger than %d KiB — give the PEM "
			"file of the %s, not an archive or bundle", what, path,
			FILE_LIMIT / 1024, what);
		return;
	default:
		diag_add(d, DIAG_ERROR, file, line, code,
			"cannot read %s %s: %s — check the file", what, path,
			strerror(err));
		return;
	}
}

/* ------------------------------------------------------------------ */
/* Parsing and checking                                               */
/* ------------------------------------------------------------------ */

static bool contains(const struct file_buf *buf, const char *text)
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

static uint64_t hash_der(const gnutls_datum_t *der)
{
	return hash_final(hash_bytes(FNV_BASIS, (const char *)der->data,
		der->size));
}

/*
 * A parsed chain: crts[0] is the leaf. A certificate after the leaf that
 * the store already holds as an issuer is borrowed from it (owned[i]
 * false), so that the intermediates that 10,000 chains share are parsed
 * once per load, not once per chain.
 */
struct chain {
	gnutls_x509_crt_t *crts;
	bool *owned;
	unsigned n;
	unsigned cap;
};

static void chain_finish(struct chain *c, unsigned from)
{
	for (unsigned i = from; i < c->n; i++) {
		if (c->owned[i])
			gnutls_x509_crt_deinit(c->crts[i]);
	}
	free(c->crts);
	free(c->owned);
	*c = (struct chain){0};
}

/* The next PEM certificate at or after *pos: its DER (caller frees). */
static int next_pem_cert(const struct file_buf *buf, size_t *pos,
	gnutls_datum_t *der)
{
	static const char *const headers[] = {"CERTIFICATE",
		"X509 CERTIFICATE"};
	const unsigned char *best = NULL;
	unsigned which = 0;
	for (unsigned h = 0; h < 2; h++) {
		char begin[40];
		snprintf(begin, sizeof(begin), "-----BEGIN %s", headers[h]);
		const unsigned char *at = memmem(buf->data + *pos,
			buf->len - *pos, begin, strlen(begin));
		if (at && (!best || at < best)) {
			best = at;
			which = h;
		}
	}
	if (!best)
		return 0;
	gnutls_datum_t rest = {(unsigned char *)best,
		(unsigned)(buf->len - (size_t)(best - buf->data))};
	int rc = gnutls_pem_base64_decode2(headers[which], &rest, der);
	if (rc < 0)
		return rc;
	const unsigned char *end = memmem(best, rest.size, "-----END ", 9);
	*pos = end ? (size_t)(end - buf->data) + 9 : buf->len;
	return 1;
}

/*
 * add_to_chain appends the certificate in der to c: the store's parsed
 * issuer when it holds this DER already (never for the leaf), or a new
 * parse. A GnuTLS error code or 0.
 */
static int add_to_chain(struct tls_store *store, struct chain *c,
	const gnutls_datum_t *der)
{
	if (c->n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 4;
		gnutls_x509_crt_t *crts = realloc(c->crts,
			cap * sizeof(*crts));
		if (!crts)
			return GNUTLS_E_MEMORY_ERROR;
		c->crts = crts;
		bool *owned = realloc(c->owned, cap * sizeof(*owned));
		if (!owned)
			return GNUTLS_E_MEMORY_ERROR;
		c->owned = owned;
		c->cap = cap;
	}
	if (c->n > 0) {
		const struct issuer *is = table_find(&store->issuers,
			hash_der(der), issuer_eq, der);
		if (is && is->crt) {
			c->crts[c->n] = is->crt;
			c->owned[c->n++] = false;
			return 0;
		}
	}
	gnutls_x509_crt_t crt;
	int rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return rc;
	rc = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER);
	if (rc < 0) {
		gnutls_x509_crt_deinit(crt);
		return rc;
	}
	c->crts[c->n] = crt;
	c->owned[c->n++] = true;
	return 0;
}

/*
 * Parses the PEM chain in buf into c, as gnutls_x509_crt_list_import2
 * would (every CERTIFICATE block in order, other blocks skipped, any bad
 * block an error), one block at a time so that known issuers are reused.
 */
static bool parse_chain(struct tls_store *store, const struct file_buf *buf,
	const char *path, struct chain *c, struct diag *d, const char *file,
	unsigned line)
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
	size_t pos = 0;
	int rc;
	for (;;) {
		gnutls_datum_t der = {0};
		rc = next_pem_cert(buf, &pos, &der);
		if (rc <= 0)
			break;
		rc = add_to_chain(store, c, &der);
		gnutls_free(der.data);
		if (rc < 0)
			break;
	}
	if (rc < 0 || c->n == 0) {
		diag_add(d, DIAG_ERROR, file, line, "tls-cert-invalid",
			"cannot parse certificate %s: %s — give an intact PEM "
			"certificate chain", path,
			rc < 0 ? gnutls_strerror(rc) : "empty");
		chain_finish(c, 0);
		return false;
	}
	return true;
}

/* Imports the PEM key in buf into *key. */
static bool parse_key(const struct file_buf *buf, const char *path,
	gnutls_privkey_t *key, struct diag *d, const char *file,
	unsigned line)
{
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

static bool check_key(gnutls_x509_crt_t *crts, unsigned n,
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

/*
 * check_chain checks the order of the chain (each certificate issued by
 * the next), the validity period of the leaf at now (errors) and of the
 * others (warnings: a sender may build another path), and warns about a
 * lone self-signed or incomplete leaf.
 */
static bool check_chain(gnutls_x509_crt_t *crts, unsigned n, const char *path,
	time_t now, struct diag *d, const char *file, unsigned line)
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

/* Lists the DNS names of crt (its CN when it has none) into out. */
static void list_names(gnutls_x509_crt_t crt, char *out, size_t size)
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

/*
 * leaf_for returns the parsed leaf of cred, from the one-entry cache or
 * parsed again from the DER the chain keeps. NULL when there is none.
 */
static gnutls_x509_crt_t leaf_for(struct tls_store *store,
	const struct cred *cred)
{
	if (store->leaf_of == cred && store->leaf)
		return store->leaf;
	if (!cred->chain_len)
		return NULL;
	gnutls_x509_crt_t crt;
	if (gnutls_x509_crt_init(&crt) < 0)
		return NULL;
	if (gnutls_x509_crt_import(crt, &cred->leaf_der,
		GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return NULL;
	}
	set_leaf(store, cred, crt);
	return crt;
}

/*
 * check_covers reports whether the leaf of cred is valid for host under
 * RFC 6125 (DNS-ID; a wildcard only as the whole leftmost label), which
 * is what RFC 8461 §3.3 asks of the policy host's certificate.
 */
static bool check_covers(struct tls_store *store, const struct cred *cred,
	const char *host, const char *cert_path, struct diag *d,
	const char *file, unsigned line)
{
	gnutls_x509_crt_t leaf = leaf_for(store, cred);
	if (!leaf)
		return true;	/* unparsable: reported when loading */
	if (gnutls_x509_crt_check_hostname2(leaf, host, 0))
		return true;
	char names[1024];
	list_names(leaf, names, sizeof(names));
	const char *parent = strchr(host, '.');
	diag_add(d, DIAG_ERROR, file, line, "tls-host-not-covered",
		"certificate %s does not cover %s (it names %s) — get a "
		"certificate whose subjectAltName includes %s%s%s", cert_path,
		host, names, host, parent ? " or *" : "", parent ? parent : "");
	return false;
}

/*
 * share_issuer copies into *out the store's pcert for crt, importing it
 * the first time it is seen. A GnuTLS error code or 0.
 */
static int share_issuer(struct tls_store *store, gnutls_x509_crt_t crt,
	bool *owned, gnutls_pcert_st *out)
{
	gnutls_datum_t der = {0};
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
	if (rc < 0)
		return rc;
	uint64_t h = hash_der(&der);
	struct issuer *is = table_find(&store->issuers, h, issuer_eq, &der);
	if (!is) {
		rc = GNUTLS_E_MEMORY_ERROR;
		if (table_reserve(&store->issuers, issuer_hash) < 0 ||
		    !(is = calloc(1, sizeof(*is))))
			goto out;
		rc = gnutls_pcert_import_x509_raw(&is->pcert, &der,
			GNUTLS_X509_FMT_DER, 0);
		if (rc < 0) {
			free(is);
			goto out;
		}
		is->hash = h;
		/* Keep the parse for the chains that follow. */
		if (*owned) {
			is->crt = crt;
			*owned = false;
		}
		*table_slot(&store->issuers, h, issuer_eq, &der) = is;
		store->issuers.len++;
	}
	*out = is->pcert;
	rc = 0;
out:
	gnutls_free(der.data);
	return rc;
}

/*
 * keep_key_block copies the PEM block of the private key in buf (the
 * bytes parse_key imported) into cred, for make_live to import again the
 * same way. false when there is no single clear block: keep_key then
 * exports the parsed key instead (ten times the cost).
 */
static bool keep_key_block(struct cred *cred, const struct file_buf *buf)
{
	const unsigned char *begin = memmem(buf->data, buf->len,
		"-----BEGIN ", 11);
	while (begin) {
		const unsigned char *eol = memchr(begin, '\n',
			buf->len - (size_t)(begin - buf->data));
		if (!eol)
			return false;
		if (memmem(begin, (size_t)(eol - begin), "PRIVATE KEY-----",
				16))
			break;
		begin = memmem(eol, buf->len - (size_t)(eol - buf->data),
			"-----BEGIN ", 11);
	}
	if (!begin)
		return false;
	size_t rest = buf->len - (size_t)(begin - buf->data);
	const unsigned char *end = memmem(begin, rest, "-----END ", 9);
	const unsigned char *tail = end ? memmem(end, rest -
		(size_t)(end - begin), "PRIVATE KEY-----", 16) : NULL;
	if (!tail)
		return false;
	size_t len = (size_t)(tail - begin) + 16;
	cred->key_der.data = malloc(len);
	if (!cred->key_der.data)
		return false;
	memcpy(cred->key_der.data, begin, len);
	cred->key_der.size = (unsigned)len;
	cred->key_fmt = GNUTLS_X509_FMT_PEM;
	return true;
}

/*
 * keep_key stores key in cred as unencrypted PKCS #8 DER, the form
 * make_live imports again. A GnuTLS error code or 0.
 */
static int keep_key(struct cred *cred, gnutls_privkey_t key)
{
	gnutls_x509_privkey_t x = NULL;
	gnutls_datum_t der = {0};
	int rc = gnutls_privkey_export_x509(key, &x);
	if (rc < 0)
		return rc;
	rc = gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_DER, NULL,
		GNUTLS_PKCS_PLAIN, &der);
	gnutls_x509_privkey_deinit(x);
	if (rc < 0)
		return rc;
	cred->key_der.data = malloc(der.size);
	if (cred->key_der.data) {
		memcpy(cred->key_der.data, der.data, der.size);
		cred->key_der.size = der.size;
		cred->key_fmt = GNUTLS_X509_FMT_DER;
	} else {
		rc = GNUTLS_E_MEMORY_ERROR;
	}
	gnutls_memset(der.data, 0, der.size);
	gnutls_free(der.data);
	return rc;
}

/*
 * make_live builds what a handshake needs from the DER that loading kept.
 * The DER passed every check at load, so only memory can fail here. NULL
 * then (logged).
 */
static struct live *make_live(const struct cred *cred)
{
	struct live *live = calloc(1, sizeof(*live) +
		cred->chain_len * sizeof(live->chain[0]));
	if (!live)
		goto oom;
	int rc = gnutls_privkey_init(&live->key);
	if (rc < 0) {
		free(live);
		goto err;
	}
	rc = gnutls_privkey_import_x509_raw(live->key, &cred->key_der,
		cred->key_fmt, NULL, 0);
	if (rc == 0)
		rc = gnutls_pcert_import_x509_raw(&live->chain[0],
			&cred->leaf_der, GNUTLS_X509_FMT_DER, 0);
	if (rc < 0) {
		gnutls_privkey_deinit(live->key);
		free(live);
		goto err;
	}
	for (unsigned i = 1; i < cred->chain_len; i++)
		live->chain[i] = cred->chain[i];
	return live;
oom:
	log_error("tls: cannot serve a certificate: out of memory");
	return NULL;
err:
	log_error("tls: cannot serve a certificate: %s", gnutls_strerror(rc));
	return NULL;
}

/*
 * live_of returns the live form of cred, making it on first use. Two
 * handshakes may race to make it: one wins, the other frees its copy.
 */
static struct live *live_of(struct cred *cred)
{
	struct live *live = atomic_load_explicit(&cred->live,
		memory_order_acquire);
	if (live)
		return live;
	struct live *fresh = make_live(cred);
	if (!fresh)
		return NULL;
	if (atomic_compare_exchange_strong_explicit(&cred->live, &live, fresh,
			memory_order_acq_rel, memory_order_acquire))
		return fresh;
	gnutls_pcert_deinit(&fresh->chain[0]);
	gnutls_privkey_deinit(fresh->key);
	free(fresh);
	return live;	/* the winner's, loaded by the failed exchange */
}

/* Fills cred->chain from c: its own leaf, then shared issuers. */
static int import_chain(struct tls_store *store, struct cred *cred,
	struct chain *c)
{
	gnutls_x509_crt_t *crts = c->crts;
	unsigned n = c->n;
	cred->chain = calloc(n, sizeof(*cred->chain));
	if (!cred->chain)
		return GNUTLS_E_MEMORY_ERROR;
	gnutls_datum_t der = {0};
	int rc = gnutls_x509_crt_export2(crts[0], GNUTLS_X509_FMT_DER, &der);
	if (rc == 0) {
		rc = GNUTLS_E_MEMORY_ERROR;
		cred->leaf_der.data = malloc(der.size);
		if (cred->leaf_der.data) {
			memcpy(cred->leaf_der.data, der.data, der.size);
			cred->leaf_der.size = der.size;
			rc = 0;
		}
		gnutls_free(der.data);
	}
	for (unsigned i = 1; rc == 0 && i < n; i++)
		rc = share_issuer(store, crts[i], &c->owned[i],
			&cred->chain[i]);
	if (rc < 0) {
		free(cred->chain);
		cred->chain = NULL;
		free(cred->leaf_der.data);
		cred->leaf_der = (gnutls_datum_t){0};
		return rc;
	}
	cred->chain_len = n;
	return 0;
}

/*
 * load_cred reads, parses and checks one certificate chain and key,
 * reporting every problem it finds. It returns the credential, rejected
 * when anything was wrong, or NULL when out of memory (reported). The
 * parsed leaf stays in the store's cache for check_covers.
 */
static struct cred *load_cred(struct tls_store *store, const char *cert_file,
	const char *key_file, uint64_t hash, time_t now, struct diag *d,
	const char *file, unsigned line)
{
	size_t clen = strlen(cert_file), klen = strlen(key_file);
	struct cred *cred = calloc(1, sizeof(*cred));
	char *paths = malloc(clen + klen + 2);
	if (!cred || !paths) {
		free(cred);
		free(paths);
		diag_add(d, DIAG_ERROR, file, line, "tls-out-of-memory",
			"out of memory loading %s — free memory and retry",
			cert_file);
		return NULL;
	}
	memcpy(paths, cert_file, clen + 1);
	memcpy(paths + clen + 1, key_file, klen + 1);
	cred->paths = paths;
	cred->hash = hash;

	bool ok = true;
	struct file_buf cert = {0}, keybuf = {0};
	int err;
	if ((err = read_whole(cert_file, &cert)) != 0) {
		report_unreadable(d, file, line, false, cert_file, err);
		ok = false;
	}
	if ((err = read_whole(key_file, &keybuf)) != 0) {
		report_unreadable(d, file, line, true, key_file, err);
		ok = false;
	}
	struct chain chain = {0};
	gnutls_privkey_t key = NULL;
	if (cert.data && !parse_chain(store, &cert, cert_file, &chain, d,
		file, line))
		ok = false;
	gnutls_x509_crt_t *crts = chain.crts;
	unsigned n = chain.n;
	if (keybuf.data && !parse_key(&keybuf, key_file, &key, d, file, line))
		ok = false;
	if (key)
		keep_key_block(cred, &keybuf);
	/* A cert file may hold a key too (a combined PEM): wipe both. */
	file_buf_wipe(&keybuf);
	file_buf_wipe(&cert);

	if (n == 0) {
		ok = false;	/* reported above: unreadable or unparsable */
	} else {
		cred->not_before = gnutls_x509_crt_get_activation_time(crts[0]);
		cred->not_after = gnutls_x509_crt_get_expiration_time(crts[0]);
		if (!check_chain(crts, n, cert_file, now, d, file, line))
			ok = false;
		if (key && !check_key(crts, n, key, cert_file, key_file, d,
			file, line))
			ok = false;
	}
	if (ok) {
		int rc = import_chain(store, cred, &chain);
		if (rc < 0) {
			diag_add(d, DIAG_ERROR, file, line, "tls-cert-invalid",
				"cannot use certificate %s: %s — give an intact "
				"PEM certificate chain", cert_file,
				gnutls_strerror(rc));
			ok = false;
		} else if (!cred->key_der.data &&
				(rc = keep_key(cred, key)) < 0) {
			diag_add(d, DIAG_ERROR, file, line, "tls-key-invalid",
				"cannot use key %s: %s — give an intact PEM "
				"private key", key_file, gnutls_strerror(rc));
			ok = false;
		}
	}
	cred->rejected = !ok;
	if (!ok)
		wipe_datum(&cred->key_der);
	if (key)
		gnutls_privkey_deinit(key);
	set_leaf(store, cred, n > 0 ? crts[0] : NULL);
	chain_finish(&chain, 1);	/* the leaf went to the cache */
	return cred;
}

/* The credential for the pair of files, loaded now if it is new. */
static struct cred *get_cred(struct tls_store *store, const char *cert_file,
	const char *key_file, time_t now, bool *fresh, struct diag *d,
	const char *file, unsigned line)
{
	struct paths_key key = {cert_file, key_file,
		hash_paths(cert_file, key_file)};
	struct cred *cred = table_find(&store->by_paths, key.hash, cred_eq,
		&key);
	*fresh = false;
	if (cred)
		return cred;
	if (table_reserve(&store->by_paths, cred_hash) < 0)
		goto oom;
	cred = load_cred(store, cert_file, key_file, key.hash, now, d, file,
		line);
	if (!cred)
		return NULL;
	if (push_cred(store, cred) < 0) {
		if (store->leaf_of == cred)
			set_leaf(store, NULL, NULL);
		cred_free(cred);
		goto oom;
	}
	*table_slot(&store->by_paths, key.hash, cred_eq, &key) = cred;
	store->by_paths.len++;
	*fresh = true;
	return cred;
oom:
	diag_add(d, DIAG_ERROR, file, line, "tls-out-of-memory",
		"out of memory loading %s — free memory and retry", cert_file);
	return NULL;
}

int tls_store_add(struct tls_store *store, const char *host,
	const char *cert_file, const char *key_file, void *user,
	time_t now, struct tls_cert_info *info, struct diag *d,
	const char *file, unsigned line)
{
	char name[HOST_BUF], esc[HOST_BUF * 4 + 8];
	size_t len = norm_name(host, name);
	if (!len) {
		diag_add(d, DIAG_ERROR, file, line, "tls-host-invalid",
			"policy host \"%s\" is empty or longer than %d "
			"characters — give a host name such as "
			"mta-sts.example.com", text_escape_str(esc, sizeof(esc), host),
			HOST_MAX);
		return -1;
	}
	if (find_entry(store, name, len)) {
		diag_add(d, DIAG_ERROR, file, line, "tls-duplicate-host",
			"%s already has a certificate — configure each policy "
			"host once", name);
		return -1;
	}

	struct entry *e = new_entry(store, name, len, user);
	if (!e) {
		diag_add(d, DIAG_ERROR, file, line, "tls-out-of-memory",
			"out of memory adding %s — free memory and retry", name);
		return -1;
	}
	bool fresh;
	struct cred *cred = get_cred(store, cert_file, key_file, now, &fresh,
		d, file, line);
	if (!cred) {
		free(e);
		return -1;
	}
	if (cred->rejected && !fresh)
		diag_add(d, DIAG_ERROR, file, line, "tls-credential-rejected",
			"certificate %s with key %s was rejected for an "
			"earlier host — fix the errors reported there",
			cert_file, key_file);
	/* Coverage is checked even for a rejected pair: report it all. */
	bool covers = (fresh || !cred->rejected) &&
		check_covers(store, cred, name, cert_file, d, file, line);
	if (cred->rejected || !covers) {
		free(e);
		return -1;
	}
	insert_entry(store, e, cred);
	if (info)
		*info = (struct tls_cert_info){cred->not_before,
			cred->not_after};
	return 0;
}

int tls_store_add_shared(struct tls_store *store, const char *host,
	const struct tls_store *from, void *user)
{
	char name[HOST_BUF];
	size_t len = norm_name(host, name);
	const struct entry *src = len ? find_entry(from, name, len) : NULL;
	if (!src || find_entry(store, name, len))
		return -1;
	struct entry *e = new_entry(store, name, len, user);
	if (!e)
		return -1;
	/* The credential stays from's: the entry only points at it, and
	 * tls_store_destroy frees entries, not the credentials of others. */
	insert_entry(store, e, src->cred);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Generated credentials (demo)                                       */
/* ------------------------------------------------------------------ */

/* Makes a self-signed P-256 certificate for host, valid for a day. */
static int make_self_signed(const char *host, gnutls_x509_privkey_t key,
	gnutls_x509_crt_t *out)
{
	gnutls_x509_crt_t crt;
	unsigned char serial[16], id[KEY_ID_MAX];
	size_t id_len = sizeof(id);
	time_t now = time(NULL);
	unsigned hlen = (unsigned)strlen(host);
	int rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return rc;
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto err;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x10);
	/* Five minutes back for clients whose clock runs a little late. */
	if ((rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (rc = gnutls_x509_crt_set_serial(crt, serial,
		sizeof(serial))) < 0 ||
	    (rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (rc = gnutls_x509_crt_set_dn_by_oid(crt,
		GNUTLS_OID_X520_COMMON_NAME, 0, host, hlen)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_alt_name(crt,
		GNUTLS_SAN_DNSNAME, host, hlen, GNUTLS_FSAN_SET)) < 0 ||
	    (rc = gnutls_x509_crt_set_activation_time(crt, now - 300)) < 0 ||
	    (rc = gnutls_x509_crt_set_expiration_time(crt, now + DAY)) < 0 ||
	    (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_usage(crt,
		GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (rc = gnutls_x509_crt_set_key_purpose_oid(crt,
		GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (rc = gnutls_x509_crt_get_key_id(crt, 0, id, &id_len)) < 0 ||
	    (rc = gnutls_x509_crt_set_subject_key_id(crt, id, id_len)) < 0 ||
	    (rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256,
		0)) < 0)
		goto err;
	*out = crt;
	return 0;
err:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* Copies a PEM export of crt into a NUL-terminated malloc'd string. */
static int export_pem(gnutls_x509_crt_t crt, char **out)
{
	gnutls_datum_t pem = {0};
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
	if (rc < 0)
		return rc;
	char *s = malloc(pem.size + 1);
	if (s) {
		memcpy(s, pem.data, pem.size);
		s[pem.size] = '\0';
	}
	gnutls_free(pem.data);
	if (!s)
		return GNUTLS_E_MEMORY_ERROR;
	*out = s;
	return 0;
}

int tls_store_add_generated(struct tls_store *store, const char *host,
	void *user, char **cert_pem)
{
	char name[HOST_BUF], esc[HOST_BUF * 4 + 8];
	size_t len = norm_name(host, name);
	if (!len) {
		log_error("\"%s\": not a host name: cannot make a certificate",
			text_escape_str(esc, sizeof(esc), host));
		return -1;
	}
	if (find_entry(store, name, len)) {
		log_error("%s: already has a certificate", name);
		return -1;
	}

	gnutls_x509_privkey_t xkey = NULL;
	gnutls_x509_crt_t crt = NULL;
	struct cred *cred = NULL;
	struct live *live = NULL;
	struct entry *e = NULL;
	char *pem = NULL;
	const char *what = "cannot make a key";
	int rc = gnutls_x509_privkey_init(&xkey);
	if (rc < 0) {
		xkey = NULL;
		goto err;
	}
	rc = gnutls_x509_privkey_generate(xkey, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	if (rc < 0)
		goto err;
	what = "cannot make a self-signed certificate";
	if ((rc = make_self_signed(name, xkey, &crt)) < 0)
		goto err;
	if (cert_pem && (rc = export_pem(crt, &pem)) < 0)
		goto err;

	/* Generated credentials are live from the start: no DER kept. */
	rc = GNUTLS_E_MEMORY_ERROR;
	cred = calloc(1, sizeof(*cred));
	if (!cred || !(cred->chain = calloc(1, sizeof(*cred->chain))) ||
	    !(live = calloc(1, sizeof(*live) + sizeof(live->chain[0]))))
		goto err;
	if ((rc = gnutls_pcert_import_x509(&live->chain[0], crt, 0)) < 0)
		goto err;
	cred->chain_len = 1;
	if ((rc = gnutls_privkey_init(&live->key)) < 0) {
		live->key = NULL;
		goto err;
	}
	if ((rc = gnutls_privkey_import_x509(live->key, xkey,
		GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE)) < 0)
		goto err;
	xkey = NULL;	/* owned by live->key now */
	atomic_store(&cred->live, live);
	live = NULL;	/* owned by cred now */
	cred->not_before = gnutls_x509_crt_get_activation_time(crt);
	cred->not_after = gnutls_x509_crt_get_expiration_time(crt);

	rc = GNUTLS_E_MEMORY_ERROR;
	if (!(e = new_entry(store, name, len, user)) ||
	    push_cred(store, cred) < 0)
		goto err;
	insert_entry(store, e, cred);
	gnutls_x509_crt_deinit(crt);
	if (cert_pem)
		*cert_pem = pem;
	return 0;
err:
	log_error("%s: %s: %s", name, what, gnutls_strerror(rc));
	free(e);
	if (live) {
		if (live->chain[0].cert.data)
			gnutls_pcert_deinit(&live->chain[0]);
		if (live->key)
			gnutls_privkey_deinit(live->key);
		free(live);
	}
	cred_free(cred);
	free(pem);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (xkey)
		gnutls_x509_privkey_deinit(xkey);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Sessions                                                           */
/* ------------------------------------------------------------------ */

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

/* The entry SNI names in the session's store, or NULL. */
static const struct entry *session_entry(gnutls_session_t session,
	const struct tls_binding *binding, char raw[SNI_BUF], bool *has_sni)
{
	char name[HOST_BUF];
	size_t len, nlen;
	*has_sni = sni_raw(session, raw, &len);
	if (!binding || !binding->store || !*has_sni ||
	    !(nlen = norm_name(raw, name)))
		return NULL;
	return find_entry(binding->store, name, nlen);
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
	const struct entry *e = session_entry(session, binding, raw,
		&has_sni);
	/*
	 * A second ClientHello (after a HelloRetryRequest, or a TLS 1.2
	 * renegotiation) must not switch hosts under the HTTP layer.
	 */
	if (e && (!binding->selected || binding->selected == e->user)) {
		binding->selected = e->user;
		return 0;
	}
	if (e)
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
	const struct entry *e = session_entry(session, binding, raw, &has_sni);
	if (!e || e->user != binding->selected || !e->cred->chain_len)
		return -1;
	struct live *live = live_of(e->cred);
	if (!live)
		return -1;
	*pcert = live->chain;
	*pcert_length = e->cred->chain_len;
	*privkey = live->key;
	return 0;
}

tls_function tls_retrieve_function(void)
{
	/* Converting to void (*)(void) and back is exact (C11 6.3.2.3). */
	gnutls_certificate_retrieve_function2 *fn = retrieve;
	return (tls_function)fn;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                      */
/* ------------------------------------------------------------------ */

int tls_digest_hex(const void *data, size_t len,
	char out[TLS_DIGEST_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[TLS_DIGEST_HEX_LEN / 2];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(digest); i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[TLS_DIGEST_HEX_LEN] = '\0';
	return 0;
}

/*
 * tls_priorities_are_valid parses priorities the way the server will and
 * then checks the versions it enables: RFC 8461 §7.2 asks for TLS 1.2 or
 * later (and RFC 8996 retired 1.0 and 1.1).
 */
bool tls_priorities_are_valid(const char *priorities, struct diag *d,
	const char *file, unsigned line)
{
	char esc[512], at[512];
	gnutls_priority_t prio;
	const char *err_pos = NULL;
	int rc = gnutls_priority_init(&prio, priorities, &err_pos);
	if (rc < 0) {
		text_escape_str(esc, sizeof(esc), priorities);
		if (err_pos && err_pos >= priorities)
			diag_add(d, DIAG_ERROR, file, line,
				"tls-priorities-invalid",
				"TLS priority string \"%s\" is invalid at "
				"offset %zu, \"%s\": %s — fix or remove that "
				"item (default: %s)", esc,
				(size_t)(err_pos - priorities),
				text_escape_str(at, sizeof(at), err_pos),
				gnutls_strerror(rc), TLS_DEFAULT_PRIORITIES);
		else
			diag_add(d, DIAG_ERROR, file, line,
				"tls-priorities-invalid",
				"TLS priority string \"%s\" is invalid: %s — "
				"fix it (default: %s)", esc,
				gnutls_strerror(rc), TLS_DEFAULT_PRIORITIES);
		return false;
	}

	const unsigned *list = NULL;
	int n = gnutls_priority_protocol_list(prio, &list);
	bool modern = false, old = false;
	for (int i = 0; i < n; i++) {
		switch (list[i]) {
		case GNUTLS_TLS1_2:
		case GNUTLS_TLS1_3:
			modern = true;
			break;
		case GNUTLS_SSL3:
		case GNUTLS_TLS1_0:
		case GNUTLS_TLS1_1:
			old = true;
			break;
		default:
			break;
		}
	}
	gnutls_priority_deinit(prio);
	text_escape_str(esc, sizeof(esc), priorities);
	if (!modern) {
		diag_add(d, DIAG_ERROR, file, line, "tls-priorities-no-tls12",
			"TLS priority string \"%s\" enables neither TLS 1.2 nor "
			"TLS 1.3 — RFC 8461 §7.2 needs one of them: add "
			"+VERS-TLS1.3:+VERS-TLS1.2", esc);
		return false;
	}
	if (old)
		diag_add(d, DIAG_WARNING, file, line, "tls-priorities-old",
			"TLS priority string \"%s\" enables versions before "
			"TLS 1.2 — remove them: -VERS-TLS1.1:-VERS-TLS1.0 "
			"(RFC 8996)", esc);
	return true;
}

/* ---------------------------------------------------------------------
 * The client probe of `mta-stsd check`
 * --------------------------------------------------------------------- */

#define PROBE_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Appends the DNS names of crt to out as "a, b, c" (at most NAMES_SHOWN). */
static void probe_names(gnutls_x509_crt_t crt, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (unsigned i = 0, shown = 0; shown < NAMES_SHOWN; i++) {
		char name[HOST_BUF];
		size_t len = sizeof(name);
		unsigned type;
		int rc = gnutls_x509_crt_get_subject_alt_name2(crt, i, name,
			&len, &type, NULL);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (rc < 0 || type != GNUTLS_SAN_DNSNAME)
			continue;
		int n = snprintf(out + o, size - o, "%s%.*s", shown ? ", " : "",
			(int)len, name);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
		shown++;
	}
	if (o == 0) {
		/* No SAN at all: show the subject's CN, which senders ignore. */
		char cn[HOST_BUF];
		size_t len = sizeof(cn);
		if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
				0, 0, cn, &len) == 0)
			snprintf(out, size, "CN=%.200s (no DNS name)", cn);
	}
}

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
	probe_names(leaf, out->names, sizeof(out->names));
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
