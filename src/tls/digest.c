/* SPDX-License-Identifier: MIT */
/*
 * digest.c: SHA-256: in hex, for the digests of served policies; of a
 * stream or a file, for telling whether a configuration file changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

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

void tls_digest_begin(struct tls_digest_stream *s)
{
	gnutls_hash_hd_t hd;
	s->hd = gnutls_hash_init(&hd, GNUTLS_DIG_SHA256) < 0 ? NULL : hd;
}

void tls_digest_update(struct tls_digest_stream *s, const void *data,
	size_t len)
{
	if (s->hd && gnutls_hash(s->hd, data, len) < 0) {
		gnutls_hash_deinit(s->hd, NULL);
		s->hd = NULL;
	}
}

bool tls_digest_end(struct tls_digest_stream *s,
	unsigned char out[TLS_DIGEST_LEN])
{
	if (!s->hd)
		return false;
	gnutls_hash_deinit(s->hd, out);
	s->hd = NULL;
	return true;
}

bool tls_digest_file(const char *path, unsigned char out[TLS_DIGEST_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	struct tls_digest_stream s;
	tls_digest_begin(&s);
	unsigned char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			unsigned char scrap[TLS_DIGEST_LEN];
			tls_digest_end(&s, scrap);	/* frees it */
			return false;
		}
		tls_digest_update(&s, buf, (size_t)n);
	}
	close(fd);
	return tls_digest_end(&s, out);
}
