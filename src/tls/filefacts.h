/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_FILEFACTS_H
#define MTASTSD_TLS_FILEFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The first half of its SHA-256: a file's own admin could forge a
 * collision of no length, and 16 bytes a domain is 3 MB at 100,000. */
#define TLS_FILE_DIGEST_LEN 16
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
	uint64_t dev;
	uint64_t ino;
	int64_t size;
	int64_t mtime_ns;	/* nanoseconds since the epoch */
	int64_t ctime_ns;
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

/*
 * One open directory, for stat()ing many files in it: a reload looks at
 * 200,000 certificate and key files, most often in a few directories, and
 * the kernel's walk of a path's leading directories is a quarter of each
 * stat(). Zeroed, it holds none; one per thread.
 */
struct tls_dir_cache {
	char *dir;		/* NULL: none open */
	int fd;
};

/* As tls_file_stat, through the directory of path held open in cache. */
bool tls_file_stat_cached(struct tls_dir_cache *cache, const char *path,
	struct tls_file_facts *facts);

void tls_dir_cache_finish(struct tls_dir_cache *cache);

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
