/* SPDX-License-Identifier: MIT */
/*
 * filefacts.c: reading a certificate or key file, and knowing afterwards
 * whether it is still the file that was read, so that a reload loads
 * again only what changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "tls/digest.h"
#include "tls/filefacts.h"
#include "util/clock.h"

/* A file changed within this many seconds of being read is racy. */
#define RACY_SECONDS 2

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static struct timespec timespec_of(int64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000),
		.tv_nsec = (long)(ns % 1000000000) };
}

static void set_identity(struct tls_file_facts *facts, const struct stat *st)
{
	*facts = (struct tls_file_facts){
		.dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
		.mtime_ns = ns_of(&st->st_mtim), .ctime_ns = ns_of(&st->st_ctim),
	};
}

int tls_file_read(const char *path, unsigned char **data, size_t *len,
	struct tls_file_facts *facts)
{
	*data = NULL;
	*len = 0;
	*facts = (struct tls_file_facts){0};
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
		err = TLS_FILE_NOT_REGULAR;
	else if (st.st_size > TLS_FILE_LIMIT)
		err = EFBIG;
	if (err) {
		close(fd);
		return err;
	}
	/* One allocation of the final size: no realloc leaves key copies. */
	size_t cap = (size_t)st.st_size;
	unsigned char *buf = malloc(cap ? cap : 1);
	if (!buf) {
		close(fd);
		return ENOMEM;
	}
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	set_identity(facts, &st);
	unsigned char sha256[TLS_DIGEST_LEN];
	if (!err && gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, got,
			sha256) < 0)
		err = ENOMEM;
	memcpy(facts->digest, sha256, TLS_FILE_DIGEST_LEN);
	if (err) {
		gnutls_memset(buf, 0, cap);
		free(buf);
		*facts = (struct tls_file_facts){0};
		return err;
	}
	facts->known = true;
	*data = buf;
	*len = got;
	return 0;
}

bool tls_file_facts_read(const char *path, struct tls_file_facts *facts)
{
	unsigned char *data;
	size_t len;
	if (tls_file_read(path, &data, &len, facts) != 0)
		return false;
	gnutls_memset(data, 0, len);
	free(data);
	return true;
}

bool tls_file_stat(const char *path, struct tls_file_facts *facts)
{
	struct stat st;
	if (!path || stat(path, &st) < 0)
		return false;
	set_identity(facts, &st);
	return true;
}

bool tls_file_stat_cached(struct tls_dir_cache *cache, const char *path,
	struct tls_file_facts *facts)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	if (!slash || slash == path || !slash[1])
		return tls_file_stat(path, facts);
	size_t len = (size_t)(slash - path);
	if (!cache->dir || strlen(cache->dir) != len ||
			memcmp(cache->dir, path, len)) {
		tls_dir_cache_finish(cache);
		char *dir = strndup(path, len);
		int fd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (fd < 0) {
			free(dir);
			return tls_file_stat(path, facts);
		}
		cache->dir = dir;
		cache->fd = fd;
	}
	struct stat st;
	if (fstatat(cache->fd, slash + 1, &st, 0) < 0)
		return false;
	set_identity(facts, &st);
	return true;
}

void tls_dir_cache_finish(struct tls_dir_cache *cache)
{
	if (cache->dir)
		close(cache->fd);
	free(cache->dir);
	*cache = (struct tls_dir_cache){0};
}

bool tls_file_same_identity(const struct tls_file_facts *a,
	const struct tls_file_facts *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

bool tls_file_is_racy(const struct tls_file_facts *facts,
	const struct timespec *at)
{
	struct timespec mtime = timespec_of(facts->mtime_ns),
		ctime = timespec_of(facts->ctime_ns);
	return clock_is_racy(&mtime, &ctime, at, RACY_SECONDS);
}
