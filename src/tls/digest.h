/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_DIGEST_H
#define MTASTSD_TLS_DIGEST_H

#include <stddef.h>

#define TLS_DIGEST_HEX_LEN 64

/* SHA-256 of data as 64 lower-case hex digits plus NUL. 0 or -1. */
int tls_digest_hex(const void *data, size_t len,
	char out[TLS_DIGEST_HEX_LEN + 1]);

#endif
