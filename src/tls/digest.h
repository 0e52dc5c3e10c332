/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_DIGEST_H
#define MTASTSD_TLS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define TLS_DIGEST_HEX_LEN 64

/* SHA-256 of data as 64 lower-case hex digits plus NUL. 0 or -1. */
int tls_digest_hex(const void *data, size_t len,
	char out[TLS_DIGEST_HEX_LEN + 1]);

#define TLS_DIGEST_LEN 32	/* SHA-256 */

/* SHA-256 of the digest stream: begin, update with each piece, end. */
struct tls_digest_stream {
	void *hd;		/* GnuTLS's; NULL when begin failed */
};
void tls_digest_begin(struct tls_digest_stream *s);
void tls_digest_update(struct tls_digest_stream *s, const void *data,
	size_t len);
/* Writes the digest and frees s; false when any step failed. */
bool tls_digest_end(struct tls_digest_stream *s,
	unsigned char out[TLS_DIGEST_LEN]);

/* SHA-256 of the bytes of the file path, read in pieces; false on error. */
bool tls_digest_file(const char *path, unsigned char out[TLS_DIGEST_LEN]);

#endif
