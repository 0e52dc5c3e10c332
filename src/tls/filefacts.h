/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_FILEFACTS_H
#define MTASTSD_TLS_FILEFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define TLS_FILE_DIGEST_LEN 32	/* SHA-256 */
#define TLS_FILE_LIMIT (1024 * 1024)	/* PEM files are a few KiB */

/*
 * What a certificate or key file was when it was read: its identity, which
 * a renewal changes (a rename gives a new inode; a rewrite in place moves
 * the change time, which no tool can set back), and a digest of the very
 * bytes that were parsed, which settles every case the identity cannot
 * (a file changed again within the timestamp granularity, or rewritten
 * with the same content).
 */
struct tls_file_facts {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	unsigned char digest[TLS_FILE_DIGEST_LEN];
	bool known;		/* false when the file could not be read */
};

/*
 * tls_file_read reads the regular file path of at most TLS_FILE_LIMIT bytes into
 * *data (malloc'd, the caller wipes and frees it when it may hold a key)
 * and fills facts from the same open file. Returns 0, an errno value
 * (EISDIR, EFBIG and ENOMEM included), or TLS_FILE_NOT_REGULAR.
 */
#define TLS_FILE_NOT_REGULAR (-1)
int tls_file_read(const char *path, unsigned char **data, size_t *len,
	struct tls_file_facts *facts);

/* tls_file_facts_read fills facts for path, reading it whole. */
bool tls_file_facts_read(const char *path, struct tls_file_facts *facts);

/* tls_file_stat fills the identity of facts for path (no digest). */
bool tls_file_stat(const char *path, struct tls_file_facts *facts);

/* Same device, inode, size, mtime and ctime? */
bool tls_file_same_identity(const struct tls_file_facts *a,
	const struct tls_file_facts *b);

/*
 * Was the file changed so close to at (the time it was read) that another
 * change within the file system's timestamp granularity could hide behind
 * the same identity? Such a file is judged by its digest next time.
 */
bool tls_file_is_racy(const struct tls_file_facts *facts,
	const struct timespec *at);

#endif
