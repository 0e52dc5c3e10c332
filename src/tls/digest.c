/* SPDX-License-Identifier: MIT */
/* digest.c: SHA-256 in hex, for the digests of served policies. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "tls/digest.h"

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
