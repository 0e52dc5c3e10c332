/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_HTTP01_H
#define MTASTSD_ACME_HTTP01_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The answers of pending http-01 challenges (RFC 8555 §8.3): token to key
 * authorization, filled by the ACME thread and read by the plain-HTTP
 * responder (server/acme_http01_server.c). Thread-safe.
 */

#define ACME_HTTP01_PREFIX "/.well-known/acme-challenge/"

/* 0 or -1 (out of memory). Replaces an answer for the same token. */
int acme_http01_add(const char *token, const char *key_authorization);
void acme_http01_remove(const char *token);

/*
 * Copies the key authorization for token into out (size bytes). false
 * when there is none (or it does not fit).
 */
bool acme_http01_lookup(const char *token, char *out, size_t size);

/* Is token a base64url token as RFC 8555 §8.3 makes them? */
bool acme_http01_token_is_valid(const char *token, size_t len);

#endif
