/* SPDX-License-Identifier: MIT */
/*
 * store.c: the server's credential store. Certificate chains and private
 * keys are loaded here (every check is tls/certcheck.c's) and never leave
 * tls/; other modules see user pointers, and the handshake
 * (tls/handshake.c) the chain and key of the host SNI names.
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
 * leaf's DER and the key's DER (about 0.6 KiB); the GnuTLS objects
 * a handshake needs are made on the first handshake for that certificate
 * (struct live). A daemon with 10,000 hosts holds about 28 MiB until
 * they are fetched, about 60 once all have been, and loads in about 0.7 s
 * of CPU (docs/PERFORMANCE.md).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "util/diag.h"
#include "util/log.h"
#include "util/text.h"
#include "tls/certcheck.h"
#include "tls/certgen.h"
#include "tls/store.h"
#include "tls/store-internal.h"

#define HOST_MAX 253		/* octets of a host name, no trailing dot */
#define HOST_BUF 256		/* fits HOST_MAX, the dot and the NUL */

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
 * DER (PKCS #8; other key forms their PEM block), about 0.6 KiB: the
 * GnuTLS objects a handshake needs cost
 * 3.3 KiB more and are made on the first handshake for the credential
 * (make_live), so 10,000 mostly idle hosts take a fraction of the memory.
 */
struct cred {
	/*
	 * One per store that serves it: a reload shares the credentials of
	 * unchanged domains with the store it replaces (tls_store_add_shared)
	 * instead of loading them again, and either store may go first.
	 */
	atomic_uint refs;
	gnutls_pcert_st *chain;	/* [1..] the shared issuers; [0] unused */
	struct issuer **issuers;	/* chain_len - 1 references */
	gnutls_datum_t leaf_der;
	gnutls_datum_t key_der;	/* PKCS #8 DER, or the key's PEM block */
	gnutls_x509_crt_fmt_t key_fmt;
	_Atomic(struct live *) live;	/* NULL until the first handshake */
	unsigned chain_len;
	bool rejected;
	time_t not_before;	/* of the leaf */
	time_t not_after;
	/* The certificate and key files as read, for later hosts of the
	 * same files in this load; freed by tls_store_loaded (200 bytes a
	 * domain kept twice was 19 MB at 100,000). NULL then. */
	struct tls_file_facts *files;
	uint64_t hash;		/* of paths */
	char *paths;		/* "CERT\0KEY\0"; NULL when generated */
};

/*
 * An issuer certificate (any chain certificate after the leaf), kept once
 * per store. Chains hold shallow copies of pcert: GnuTLS neither changes
 * nor frees what the retrieve callback hands it.
 */
struct issuer {
	atomic_uint refs;	/* the store's table, and each chain using it */
	gnutls_pcert_st pcert;
	gnutls_x509_crt_t crt;	/* parsed, for the checks of later chains */
	uint64_t hash;		/* of the DER */
};

/*
 * One policy host: what the SNI table maps a name to. Never changed once
 * in a table, so a reload shares the host of an unchanged domain with
 * the store it replaces (tls_store_add_shared), as it shares its
 * credential: 100,000 entries fewer to make while both stores live.
 */
struct tls_host {
	atomic_uint refs;	/* one per store whose table holds it */
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

/*
 * The text of one PEM block, from "-----BEGIN" to "-----END " (len), in a
 * buffer that goes on for tail bytes from p.
 */
struct pem_text {
	const unsigned char *p;
	size_t len;
	size_t tail;
};

struct tls_store {
	struct table hosts;	/* struct tls_host */
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
	/*
	 * The PEM block of the issuer found last and that issuer: chains
	 * nearly always end in the same intermediate, and a block equal to
	 * this one byte for byte is that issuer without decoding its base64
	 * again (two fifths of the PEM decoding of a load).
	 */
	struct pem_text last_issuer_pem;
	const struct issuer *last_issuer;
};

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

static uint64_t hash_name(const char *name, size_t len)
{
	return text_hash(name, len);
}

static uint64_t hash_paths(const char *cert_file, const char *key_file)
{
	uint64_t h = text_hash_bytes(TEXT_HASH_BASIS, cert_file,
		strlen(cert_file) + 1);
	return text_hash_final(text_hash_bytes(h, key_file, strlen(key_file)));
}

/* ------------------------------------------------------------------ */
/* Open-addressing table                                              */
/* ------------------------------------------------------------------ */

typedef uint64_t table_hash_fn(const void *item);
typedef bool table_eq_fn(const void *item, const void *key);

static uint64_t entry_hash(const void *item)
{
	return ((const struct tls_host *)item)->hash;
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

/* Makes room for more items in all, keeping the table at most half full. */
static int table_reserve_for(struct table *t, size_t more,
	table_hash_fn *hash_of)
{
	size_t cap = t->slots ? t->mask + 1 : 0;
	if ((t->len + more) * 2 <= cap)
		return 0;
	size_t ncap = cap ? cap * 2 : 16;
	while ((t->len + more) * 2 > ncap)
		ncap *= 2;
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

/* Makes room for one more item. */
static int table_reserve(struct table *t, table_hash_fn *hash_of)
{
	return table_reserve_for(t, 1, hash_of);
}

struct name_key {
	const char *name;
	size_t len;
	uint64_t hash;
};

static bool entry_eq(const void *item, const void *key)
{
	const struct tls_host *e = item;
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

static struct tls_host *find_entry(const struct tls_store *store,
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

static void issuer_unref(struct issuer *is)
{
	if (!is || atomic_fetch_sub_explicit(&is->refs, 1,
			memory_order_acq_rel) != 1)
		return;
	gnutls_pcert_deinit(&is->pcert);
	if (is->crt)
		gnutls_x509_crt_deinit(is->crt);
	free(is);
}

static struct cred *cred_ref(struct cred *cred)
{
	atomic_fetch_add_explicit(&cred->refs, 1, memory_order_relaxed);
	return cred;
}

/* Drops one reference; the last one frees the credential. */
static void cred_unref(struct cred *cred)
{
	if (!cred || atomic_fetch_sub_explicit(&cred->refs, 1,
			memory_order_acq_rel) != 1)
		return;
	/* Only the leaf is the credential's own; issuers are the store's. */
	struct live *live = atomic_load(&cred->live);
	if (live) {
		gnutls_pcert_deinit(&live->chain[0]);
		gnutls_privkey_deinit(live->key);
		free(live);
	}
	free(cred->chain);
	for (unsigned i = 0; cred->issuers && i + 1 < cred->chain_len; i++)
		issuer_unref(cred->issuers[i]);
	free(cred->issuers);
	free(cred->leaf_der.data);
	wipe_datum(&cred->key_der);
	free(cred->paths);
	free(cred->files);
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

static void host_unref(struct tls_host *host)
{
	if (host && atomic_fetch_sub_explicit(&host->refs, 1,
			memory_order_acq_rel) == 1)
		free(host);
}

void tls_store_destroy(struct tls_store *store)
{
	if (!store)
		return;
	for (size_t i = 0; store->hosts.slots && i <= store->hosts.mask; i++)
		host_unref(store->hosts.slots[i]);
	free(store->hosts.slots);
	free(store->by_paths.slots);
	set_leaf(store, NULL, NULL);
	free((void *)store->last_issuer_pem.p);
	for (size_t i = 0; i < store->ncreds; i++)
		cred_unref(store->creds[i]);
	free(store->creds);
	for (size_t i = 0; store->issuers.slots && i <= store->issuers.mask;
	     i++)
		issuer_unref(store->issuers.slots[i]);
	free(store->issuers.slots);
	free(store);
}

void *tls_store_lookup(const struct tls_store *store, const char *host)
{
	char name[HOST_BUF];
	size_t len;
	if (!store || !host || !(len = norm_name(host, name)))
		return NULL;
	struct tls_host *e = find_entry(store, name, len);
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

/*
 * Appends cred (taking over one reference) to the list of all
 * credentials; loaded says whether this store loaded it (counted) or
 * shares it. 0 or -1 (no memory).
 */
static int push_cred(struct tls_store *store, struct cred *cred, bool loaded)
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
	if (loaded && !cred->rejected)
		store->loaded++;
	return 0;
}

/*
 * new_entry allocates the entry for name and makes room for it in the
 * hosts table, so that insert_entry cannot fail. NULL when out of memory.
 */
static struct tls_host *new_entry(struct tls_store *store, const char *name,
	size_t len, void *user)
{
	if (table_reserve(&store->hosts, entry_hash) < 0)
		return NULL;
	struct tls_host *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	atomic_init(&e->refs, 1);
	e->cred = NULL;
	e->user = user;
	e->hash = hash_name(name, len);
	memcpy(e->name, name, len + 1);
	return e;
}

/* Puts e (from new_entry, its name not in the table) into the table. */
static void insert_entry(struct tls_store *store, struct tls_host *e,
	struct cred *cred)
{
	size_t len = strlen(e->name);
	struct name_key key = {e->name, len, e->hash};
	e->cred = cred;
	*table_slot(&store->hosts, e->hash, entry_eq, &key) = e;
	store->hosts.len++;
}
static uint64_t hash_der(const gnutls_datum_t *der)
{
	return text_hash((const char *)der->data, der->size);
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

static const char *const pem_headers[] = {"CERTIFICATE", "X509 CERTIFICATE"};

/*
 * next_pem_block finds the next PEM certificate block at or after *pos:
 * its text (to the end of the buffer when it has no "-----END ") and
 * which of pem_headers it has. *pos moves past it. false when none.
 */
static bool next_pem_block(const struct certcheck_file *buf, size_t *pos,
	struct pem_text *text, unsigned *which)
{
	static const char *const begins[] = {"-----BEGIN CERTIFICATE",
		"-----BEGIN X509 CERTIFICATE"};
	const unsigned char *best = NULL;
	for (unsigned h = 0; h < 2; h++) {
		const unsigned char *at = memmem(buf->data + *pos,
			buf->len - *pos, begins[h], strlen(begins[h]));
		if (at && (!best || at < best)) {
			best = at;
			*which = h;
		}
	}
	if (!best)
		return false;
	size_t rest = buf->len - (size_t)(best - buf->data);
	const unsigned char *end = memmem(best, rest, "-----END ", 9);
	*pos = end ? (size_t)(end - buf->data) + 9 : buf->len;
	*text = (struct pem_text){best, (size_t)(buf->data + *pos - best),
		rest};
	return true;
}

/*
 * Is the block text the store's last issuer? Only a block whose first
 * line is the bare BEGIN line is remembered (remember_issuer), so that
 * its bytes are all GnuTLS's decoder reads of it: equal bytes, same DER.
 */
static const struct issuer *known_block(const struct tls_store *store,
	const struct pem_text *text)
{
	const struct pem_text *last = &store->last_issuer_pem;
	if (!store->last_issuer || last->len != text->len ||
	    memcmp(last->p, text->p, text->len) != 0)
		return NULL;
	return store->last_issuer;
}

static void remember_issuer(struct tls_store *store,
	const struct pem_text *text, unsigned which, const struct issuer *is)
{
	size_t line = strlen("-----BEGIN ") + strlen(pem_headers[which]) + 5;
	if (text->len <= line || memcmp(text->p + line - 5, "-----", 5) ||
	    (text->p[line] != '\n' && text->p[line] != '\r') ||
	    memcmp(text->p + text->len - 9, "-----END ", 9) != 0)
		return;
	unsigned char *copy = malloc(text->len);
	if (!copy)
		return;		/* no harm: the next chain decodes it */
	memcpy(copy, text->p, text->len);
	free((void *)store->last_issuer_pem.p);
	store->last_issuer_pem = (struct pem_text){copy, text->len,
		text->len};
	store->last_issuer = is;
}

/* Grows c by one slot. A GnuTLS error code or 0. */
static int chain_grow(struct chain *c)
{
	if (c->n < c->cap)
		return 0;
	unsigned cap = c->cap ? c->cap * 2 : 4;
	gnutls_x509_crt_t *crts = realloc(c->crts, cap * sizeof(*crts));
	if (!crts)
		return GNUTLS_E_MEMORY_ERROR;
	c->crts = crts;
	bool *owned = realloc(c->owned, cap * sizeof(*owned));
	if (!owned)
		return GNUTLS_E_MEMORY_ERROR;
	c->owned = owned;
	c->cap = cap;
	return 0;
}

/*
 * add_to_chain appends the certificate in the PEM block text to c: the
 * store's parsed issuer when it holds this certificate already (never for
 * the leaf), or a new parse. A GnuTLS error code or 0.
 */
static int add_to_chain(struct tls_store *store, struct chain *c,
	const struct pem_text *text, unsigned which)
{
	int rc = chain_grow(c);
	if (rc < 0)
		return rc;
	const struct issuer *is = c->n > 0 ? known_block(store, text) : NULL;
	if (is) {
		c->crts[c->n] = is->crt;
		c->owned[c->n++] = false;
		return 0;
	}
	/* Decoded as gnutls_x509_crt_list_import2 would: to the buffer end. */
	gnutls_datum_t pem = {(unsigned char *)text->p, (unsigned)text->tail};
	gnutls_datum_t der = {0};
	rc = gnutls_pem_base64_decode2(pem_headers[which], &pem, &der);
	if (rc < 0)
		return rc;
	if (c->n > 0) {
		is = table_find(&store->issuers, hash_der(&der), issuer_eq,
			&der);
		if (is && is->crt) {
			gnutls_free(der.data);
			remember_issuer(store, text, which, is);
			c->crts[c->n] = is->crt;
			c->owned[c->n++] = false;
			return 0;
		}
	}
	gnutls_x509_crt_t crt;
	rc = gnutls_x509_crt_init(&crt);
	if (rc == 0) {
		rc = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
		if (rc < 0)
			gnutls_x509_crt_deinit(crt);
	}
	gnutls_free(der.data);
	if (rc < 0)
		return rc;
	c->crts[c->n] = crt;
	c->owned[c->n++] = true;
	return 0;
}

/*
 * Parses the PEM chain in buf into c, as gnutls_x509_crt_list_import2
 * would (every CERTIFICATE block in order, other blocks skipped, any bad
 * block an error), one block at a time so that known issuers are reused.
 */
static bool parse_chain(struct tls_store *store, const struct certcheck_file *buf,
	const char *path, struct chain *c, struct diag *d, const char *file,
	unsigned line)
{
	if (!certcheck_cert_pem(buf, path, d, file, line))
		return false;
	size_t pos = 0;
	int rc = 0;
	struct pem_text text;
	unsigned which = 0;
	while (rc == 0 && next_pem_block(buf, &pos, &text, &which))
		rc = add_to_chain(store, c, &text, which);
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

/* Does the leaf of cred cover host? (certcheck_covers) */
static bool check_covers(struct tls_store *store, const struct cred *cred,
	const char *host, const char *cert_path, struct diag *d,
	const char *file, unsigned line)
{
	gnutls_x509_crt_t leaf = leaf_for(store, cred);
	if (!leaf)
		return true;	/* unparsable: reported when loading */
	return certcheck_covers(leaf, host, cert_path, d, file, line);
}

/*
 * share_issuer copies into *out the store's pcert for crt, importing it
 * the first time it is seen. A GnuTLS error code or 0.
 */
static int share_issuer(struct tls_store *store, gnutls_x509_crt_t crt,
	bool *owned, struct issuer **out)
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
		atomic_init(&is->refs, 1);
		is->hash = h;
		/* Keep the parse for the chains that follow. */
		if (*owned) {
			is->crt = crt;
			*owned = false;
		}
		*table_slot(&store->issuers, h, issuer_eq, &der) = is;
		store->issuers.len++;
	}
	atomic_fetch_add_explicit(&is->refs, 1, memory_order_relaxed);
	*out = is;
	rc = 0;
out:
	gnutls_free(der.data);
	return rc;
}

/*
 * keep_key_der keeps the PKCS #8 DER that parsing decoded (the common
 * case): 138 bytes for a P-256 key where its PEM block is 241, some 11 MB
 * of idle memory at 100,000 domains. false when out of memory.
 */
static bool keep_key_der(struct cred *cred, const gnutls_datum_t *der)
{
	cred->key_der.data = malloc(der->size);
	if (!cred->key_der.data)
		return false;
	memcpy(cred->key_der.data, der->data, der->size);
	cred->key_der.size = der->size;
	cred->key_fmt = GNUTLS_X509_FMT_DER;
	return true;
}

/*
 * keep_key_block copies the PEM block of the private key in buf (the
 * bytes parse_key imported) into cred, for make_live to import again the
 * same way: keys that are not PKCS #8 (SEC 1 "EC PRIVATE KEY", PKCS #1
 * "RSA PRIVATE KEY"). false when there is no single clear block: keep_key
 * then exports the parsed key instead (ten times the cost).
 */
static bool keep_key_block(struct cred *cred, const struct certcheck_file *buf)
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
	/* DER is PKCS #8 (keep_key_der, keep_key); PEM any key's block. */
	int rc;
	if (cred->key_fmt == GNUTLS_X509_FMT_DER) {
		rc = certcheck_import_pkcs8(&cred->key_der, &live->key);
	} else {
		rc = gnutls_privkey_init(&live->key);
		if (rc == 0 && (rc = gnutls_privkey_import_x509_raw(live->key,
				&cred->key_der, cred->key_fmt, NULL, 0)) < 0)
			gnutls_privkey_deinit(live->key);
	}
	if (rc < 0) {
		free(live);
		goto err;
	}
	rc = gnutls_pcert_import_x509_raw(&live->chain[0], &cred->leaf_der,
		GNUTLS_X509_FMT_DER, 0);
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
	cred->issuers = calloc(n, sizeof(*cred->issuers));
	if (!cred->chain || !cred->issuers) {
		free(cred->chain);
		free(cred->issuers);
		cred->chain = NULL;
		cred->issuers = NULL;
		return GNUTLS_E_MEMORY_ERROR;
	}
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
	for (unsigned i = 1; rc == 0 && i < n; i++) {
		rc = share_issuer(store, crts[i], &c->owned[i],
			&cred->issuers[i - 1]);
		if (rc == 0)
			cred->chain[i] = cred->issuers[i - 1]->pcert;
	}
	if (rc < 0) {
		for (unsigned i = 0; i + 1 < n; i++)
			issuer_unref(cred->issuers[i]);
		free(cred->issuers);
		cred->issuers = NULL;
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
	atomic_init(&cred->refs, 1);
	cred->paths = paths;
	cred->hash = hash;

	bool ok = true;
	struct certcheck_file cert = {0}, keybuf = {0};
	if (!certcheck_read(cert_file, false, &cert, d, file, line))
		ok = false;
	if (!certcheck_read(key_file, true, &keybuf, d, file, line))
		ok = false;
	struct chain chain = {0};
	gnutls_privkey_t key = NULL;
	if (cert.data && !parse_chain(store, &cert, cert_file, &chain, d,
		file, line))
		ok = false;
	gnutls_x509_crt_t *crts = chain.crts;
	unsigned n = chain.n;
	gnutls_datum_t pkcs8 = {0};
	if (keybuf.data && !certcheck_parse_key(&keybuf, key_file, &key,
			&pkcs8, d, file, line))
		ok = false;
	if (key && !(pkcs8.data ? keep_key_der(cred, &pkcs8) :
			keep_key_block(cred, &keybuf)))
		wipe_datum(&cred->key_der);	/* keep_key exports it below */
	if (pkcs8.data) {
		gnutls_memset(pkcs8.data, 0, pkcs8.size);
		gnutls_free(pkcs8.data);
	}
	cred->files = malloc(2 * sizeof(*cred->files));
	if (cred->files) {
		cred->files[0] = cert.facts;
		cred->files[1] = keybuf.facts;
	}
	/* A cert file may hold a key too (a combined PEM): wipe both. */
	certcheck_file_wipe(&keybuf);
	certcheck_file_wipe(&cert);

	if (n == 0) {
		ok = false;	/* reported above: unreadable or unparsable */
	} else {
		struct certcheck_validity period;
		if (!certcheck_chain(crts, n, cert_file, now, &period, d, file,
			line))
			ok = false;
		cred->not_before = period.not_before;
		cred->not_after = period.not_after;
		if (key && !certcheck_key(crts, n, key, cert_file, key_file, d,
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
	if (push_cred(store, cred, true) < 0) {
		if (store->leaf_of == cred)
			set_leaf(store, NULL, NULL);
		cred_unref(cred);
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

	struct tls_host *e = new_entry(store, name, len, user);
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
	if (info) {
		*info = (struct tls_cert_info){cred->not_before,
			cred->not_after};
		if (cred->files) {
			info->cert_file = cred->files[0];
			info->key_file = cred->files[1];
		}
	}
	return 0;
}

void tls_store_loaded(struct tls_store *store)
{
	for (size_t i = 0; i < store->ncreds; i++) {
		free(store->creds[i]->files);
		store->creds[i]->files = NULL;
	}
}
int tls_store_reserve(struct tls_store *store, size_t hosts)
{
	if (table_reserve_for(&store->hosts, hosts, entry_hash) < 0)
		return -1;
	size_t want = store->ncreds + hosts;
	if (want <= store->creds_cap)
		return 0;
	struct cred **creds = realloc(store->creds, want * sizeof(*creds));
	if (!creds)
		return -1;
	store->creds = creds;
	store->creds_cap = want;
	return 0;
}

int tls_store_add_shared(struct tls_store *store, const char *host,
	const struct tls_store *from, void *user)
{
	char name[HOST_BUF];
	size_t len = norm_name(host, name);
	struct tls_host *src = len ? find_entry(from, name, len) : NULL;
	if (!src)
		return -1;
	/* Room first, then one probe finds a duplicate or the free slot.
	 * The same host for the same user is src itself, shared. */
	bool same = src->user == user;
	struct tls_host *e = same ? src : new_entry(store, name, len, user);
	if (!e || (same && table_reserve(&store->hosts, entry_hash) < 0))
		return -1;
	struct name_key key = {e->name, len, e->hash};
	void **slot = table_slot(&store->hosts, e->hash, entry_eq, &key);
	if (*slot) {
		if (!same)
			free(e);
		return -1;
	}
	/* A reference, not a copy: from may go first. The pair is not put in
	 * by_paths, so a host of this store that names the same files loads
	 * them again, with every check. */
	if (push_cred(store, cred_ref(src->cred), false) < 0) {
		cred_unref(src->cred);
		if (!same)
			free(e);
		return -1;
	}
	if (same)
		atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
	else
		e->cred = src->cred;
	*slot = e;	/* push_cred left the hosts table alone */
	store->hosts.len++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Generated credentials (demo)                                       */
/* ------------------------------------------------------------------ */

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
	struct tls_host *e = NULL;
	char *pem = NULL;
	const char *what = "cannot make a key";
	int rc = certgen_key(&xkey);
	if (rc < 0)
		goto err;
	what = "cannot make a self-signed certificate";
	if ((rc = certgen_self_signed(name, xkey, &crt)) < 0)
		goto err;
	if (cert_pem && (rc = certgen_export_pem(crt, &pem)) < 0)
		goto err;

	/* Generated credentials are live from the start: no DER kept. */
	rc = GNUTLS_E_MEMORY_ERROR;
	cred = calloc(1, sizeof(*cred));
	if (cred)
		atomic_init(&cred->refs, 1);
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
	    push_cred(store, cred, true) < 0)
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
	cred_unref(cred);
	free(pem);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (xkey)
		gnutls_x509_privkey_deinit(xkey);
	return -1;
}

/* ------------------------------------------------------------------ */
/* What the handshake needs (store-internal.h)                        */
/* ------------------------------------------------------------------ */

const struct tls_host *tls_store_find(const struct tls_store *store,
	const char *sni)
{
	char name[HOST_BUF];
	size_t len = norm_name(sni, name);
	return len ? find_entry(store, name, len) : NULL;
}

void *tls_host_user(const struct tls_host *host)
{
	return host->user;
}

const char *tls_host_name(const struct tls_host *host)
{
	return host->name;
}

int tls_host_credentials(const struct tls_host *host, gnutls_pcert_st **chain,
	unsigned *chain_len, gnutls_privkey_t *key)
{
	if (!host->cred->chain_len)
		return -1;
	struct live *live = live_of(host->cred);
	if (!live)
		return -1;
	*chain = live->chain;
	*chain_len = host->cred->chain_len;
	*key = live->key;
	return 0;
}
