/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_CLIENT_H
#define MTASTSD_ACME_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "acme/acme_json.h"

struct jws_key;

/*
 * An RFC 8555 client on libcurl: the directory, a nonce kept from each
 * answer (a badNonce answer is retried with the nonce it carries), the
 * account (with optional External Account Binding, §7.3.4), orders,
 * authorizations, challenges, finalize and the certificate download.
 * Calls block; they are meant for the ACME thread. Nothing here logs:
 * each failure is described in a struct acme_result for the caller.
 */

struct acme_client_options {
	const char *directory_url;
	const char *ca_file;		/* NULL: the system trust store */
	const char *email;		/* NULL: no contact */
	const char *eab_kid;		/* NULL: no External Account Binding */
	const char *eab_hmac_key;	/* base64url */
	unsigned timeout;		/* seconds per HTTP exchange */
	const _Atomic bool *cancel;	/* set: abort the exchange at once */
};

struct acme_result {
	char error[1024];	/* what went wrong, in plain words */
	long retry_after;	/* seconds the CA asked for; -1: none */
	bool rate_limited;	/* the CA said rateLimited */
	bool bad_account;	/* the CA no longer knows the account */
};

struct acme_client;

/*
 * acme_client_create prepares a client that signs with account_key
 * (borrowed; must outlive the client). account_url is the account known
 * from an earlier run, or NULL. NULL on out of memory.
 */
struct acme_client *acme_client_create(const struct acme_client_options *o,
	const struct jws_key *account_key, const char *account_url);
void acme_client_destroy(struct acme_client *client);

/*
 * acme_client_account fetches the directory (once) and finds or creates
 * the account (newAccount, terms agreed). 0 or -1 with res filled.
 */
int acme_client_account(struct acme_client *client, struct acme_result *res);

/* The account URL ("kid") once known, or NULL. */
const char *acme_client_account_url(const struct acme_client *client);

/* badNonce answers retried since the last call. */
unsigned acme_client_take_bad_nonces(struct acme_client *client);

/* Does the CA offer renewal information (RFC 9773)? After _account. */
bool acme_client_has_ari(const struct acme_client *client);

/*
 * acme_client_renewal_info asks the CA's renewalInfo resource (RFC 9773)
 * when the certificate with ARI identifier cert_id should be renewed.
 * 0 with the window, 1 when the CA offers no renewal information, -1 with
 * res filled (res->retry_after: when to ask again, if the CA said).
 */
int acme_client_renewal_info(struct acme_client *client, const char *cert_id,
	long long *start, long long *end, struct acme_result *res);

/* newOrder for one DNS name; the order's URL goes to url (ACME_URL_MAX). */
int acme_client_new_order(struct acme_client *client, const char *host,
	char *url, struct acme_order *order, struct acme_result *res);

int acme_client_get_order(struct acme_client *client, const char *url,
	struct acme_order *order, struct acme_result *res);
int acme_client_get_authz(struct acme_client *client, const char *url,
	struct acme_authz *authz, struct acme_result *res);

/* Tells the CA to validate the challenge at url (POST "{}"). */
int acme_client_respond(struct acme_client *client, const char *url,
	struct acme_result *res);

/* Sends the CSR (DER) to the order's finalize URL. */
int acme_client_finalize(struct acme_client *client, const char *url,
	const unsigned char *csr, size_t csr_len, struct acme_order *order,
	struct acme_result *res);

/* Downloads the PEM chain at url into *pem (caller frees). */
int acme_client_download(struct acme_client *client, const char *url,
	char **pem, size_t *len, struct acme_result *res);

/*
 * acme_client_key_authorization writes token "." thumbprint of the
 * account key (RFC 8555 §8.1) into out (size bytes). 0 or -1.
 */
int acme_client_key_authorization(const struct acme_client *client,
	const char *token, char *out, size_t size);

/* Process-wide libcurl set-up, before any thread starts. 0 or -1. */
int acme_client_global_init(void);
void acme_client_global_finish(void);

#endif
