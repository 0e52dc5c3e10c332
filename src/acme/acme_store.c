/* SPDX-License-Identifier: MIT */
/*
 * acme_store.c: ACME's files in the state directory, each replaced
 * atomically so that a crash leaves either the old or the new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme/acme_store.h"
#include "config/acme_settings.h"
#include "tls/acmecert.h"
#include "util/text.h"

#define FILE_LIMIT (1024 * 1024)

char *acme_store_path(const char *state_dir, const char *host,
	const char *file)
{
	size_t n = strlen(state_dir) + strlen(CONFIG_ACME_DIR) + 4 +
		(host ? strlen(host) : 0) + (file ? strlen(file) : 0);
	char *p = malloc(n);
	if (!p)
		return NULL;
	if (host && file)
		snprintf(p, n, "%s/%s/%s/%s", state_dir, CONFIG_ACME_DIR, host,
			file);
	else if (host || file)
		snprintf(p, n, "%s/%s/%s", state_dir, CONFIG_ACME_DIR,
			host ? host : file);
	else
		snprintf(p, n, "%s/%s", state_dir, CONFIG_ACME_DIR);
	return p;
}

static int make_dir(const char *path, char *why, size_t why_size)
{
	if (mkdir(path, 0750) == 0 || errno == EEXIST)
		return 0;
	snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
	return -1;
}

int acme_store_prepare(const char *state_dir, const char *host, char *why,
	size_t why_size)
{
	char *top = acme_store_path(state_dir, NULL, NULL);
	char *sub = host ? acme_store_path(state_dir, host, NULL) : NULL;
	int rc = -1;
	if (!top || (host && !sub))
		snprintf(why, why_size, "out of memory");
	else if (make_dir(top, why, why_size) == 0 &&
		 (!sub || make_dir(sub, why, why_size) == 0))
		rc = 0;
	free(top);
	free(sub);
	return rc;
}

/* fsyncs the directory holding path, so a rename in it is durable. */
static int sync_dir(const char *path)
{
	char *dir = text_dup(path);
	if (!dir)
		return -1;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc = fsync(fd) < 0 && errno != EINVAL ? -1 : 0;
	close(fd);
	return rc;
}

int acme_store_write(const char *path, const void *data, size_t len,
	mode_t mode, char *why, size_t why_size)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	if (!tmp) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	snprintf(tmp, n, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		O_NOFOLLOW, mode);
	if (fd < 0)
		goto fail;
	/* open() applies the umask; the mode must be exactly this. */
	const char *p = data;
	size_t left = len;
	if (fchmod(fd, mode) < 0)
		goto fail_fd;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail_fd;
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail_fd;
	if (close(fd) < 0) {
		fd = -1;
		goto fail_fd;
	}
	if (rename(tmp, path) < 0)
		goto fail;
	sync_dir(path);
	free(tmp);
	return 0;
fail_fd:
	if (fd >= 0)
		close(fd);
fail:
	snprintf(why, why_size, "cannot write %s: %s", path, strerror(errno));
	unlink(tmp);
	free(tmp);
	return -1;
}

char *acme_store_read(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	size_t n = 0;
	for (;;) {
		char *b = realloc(buf, n + 4096 + 1);
		if (!b)
			break;
		buf = b;
		ssize_t r = read(fd, buf + n, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || n + (size_t)r > FILE_LIMIT) {
			if (r == 0) {
				close(fd);
				buf[n] = '\0';
				if (len)
					*len = n;
				return buf;
			}
			break;
		}
		n += (size_t)r;
	}
	int saved = errno;
	close(fd);
	free(buf);
	errno = saved ? saved : EFBIG;
	return NULL;
}

static void set_line(char *line, struct acme_domain_state *s)
{
	char *v = strchr(line, ' ');
	if (!v)
		return;
	*v++ = '\0';
	long long num = strtoll(v, NULL, 10);
	if (strcmp(line, "order") == 0)
		snprintf(s->order, sizeof(s->order), "%s", v);
	else if (strcmp(line, "order_started") == 0)
		s->order_started = num;
	else if (strcmp(line, "failures") == 0)
		s->failures = num > 0 && num < 64 ? (unsigned)num : 0;
	else if (strcmp(line, "next_attempt") == 0)
		s->next_attempt = num;
	else if (strcmp(line, "last_attempt") == 0)
		s->last_attempt = num;
	else if (strcmp(line, "last_success") == 0)
		s->last_success = num;
	else if (strcmp(line, "ari_at") == 0)
		s->ari_at = num;
	else if (strcmp(line, "ari_next") == 0)
		s->ari_next = num;
	else if (strcmp(line, "last_error") == 0)
		snprintf(s->last_error, sizeof(s->last_error), "%s", v);
}

void acme_store_load_state(const char *state_dir, const char *host,
	struct acme_domain_state *out)
{
	*out = (struct acme_domain_state){0};
	char *path = acme_store_path(state_dir, host, "state");
	char *text = path ? acme_store_read(path, NULL) : NULL;
	free(path);
	if (!text)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		set_line(line, out);
	free(text);
}

/* Keeps a value on its one line: line breaks become spaces. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int acme_store_save_state(const char *state_dir, const char *host,
	const struct acme_domain_state *s, char *why, size_t why_size)
{
	char order[sizeof(s->order)], err[sizeof(s->last_error)];
	snprintf(order, sizeof(order), "%s", s->order);
	snprintf(err, sizeof(err), "%s", s->last_error);
	one_line(order);
	one_line(err);
	char buf[4096 + 256];
	int n = snprintf(buf, sizeof(buf),
		"order %s\norder_started %lld\nfailures %u\n"
		"next_attempt %lld\nlast_attempt %lld\nlast_success %lld\n"
		"ari_at %lld\nari_next %lld\nlast_error %s\n", order,
		s->order_started, s->failures, s->next_attempt,
		s->last_attempt, s->last_success, s->ari_at, s->ari_next, err);
	char *path = acme_store_path(state_dir, host, "state");
	if (!path || n < 0) {
		free(path);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	int rc = acme_store_write(path, buf, (size_t)n, 0640, why, why_size);
	free(path);
	return rc;
}

int acme_store_load_account(const char *state_dir, char *directory,
	char *url, size_t size)
{
	char *path = acme_store_path(state_dir, NULL, "account");
	char *text = path ? acme_store_read(path, NULL) : NULL;
	free(path);
	if (!text)
		return -1;
	directory[0] = url[0] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "directory ", 10) == 0)
			snprintf(directory, size, "%s", line + 10);
		else if (strncmp(line, "url ", 4) == 0)
			snprintf(url, size, "%s", line + 4);
	}
	free(text);
	return directory[0] && url[0] ? 0 : -1;
}

int acme_store_save_account(const char *state_dir, const char *directory,
	const char *url, char *why, size_t why_size)
{
	size_t n = strlen(directory) + strlen(url) + 32;
	char *buf = malloc(n), *path = acme_store_path(state_dir, NULL,
		"account");
	int rc = -1;
	if (!buf || !path)
		snprintf(why, why_size, "out of memory");
	else if (strchr(directory, '\n') || strchr(url, '\n'))
		snprintf(why, why_size, "the account URL holds a line break");
	else
		rc = acme_store_write(path, buf, (size_t)snprintf(buf, n,
			"directory %s\nurl %s\n", directory, url), 0640, why,
			why_size);
	free(buf);
	free(path);
	return rc;
}

/* Renames acme/<host>/<from> to <to>; a missing <from> is fine. */
static int move(const char *state_dir, const char *host, const char *from,
	const char *to, char *why, size_t why_size)
{
	char *a = acme_store_path(state_dir, host, from);
	char *b = acme_store_path(state_dir, host, to);
	int rc = 0;
	if (!a || !b) {
		snprintf(why, why_size, "out of memory");
		rc = -1;
	} else if (rename(a, b) < 0 && errno != ENOENT) {
		snprintf(why, why_size, "cannot rename %s to %s: %s", a, b,
			strerror(errno));
		rc = -1;
	} else {
		sync_dir(b);
	}
	free(a);
	free(b);
	return rc;
}

int acme_store_commit(const char *state_dir, const char *host, char *why,
	size_t why_size)
{
	if (move(state_dir, host, CONFIG_ACME_NEXT_KEY, CONFIG_ACME_KEY, why,
			why_size) < 0)
		return -1;
	return move(state_dir, host, CONFIG_ACME_NEXT_CHAIN, CONFIG_ACME_CHAIN,
		why, why_size);
}

int acme_store_recover(const char *state_dir, const char *host, char *why,
	size_t why_size)
{
	char *chain = acme_store_path(state_dir, host,
		CONFIG_ACME_NEXT_CHAIN);
	if (!chain) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	bool pending = access(chain, F_OK) == 0;
	free(chain);
	if (!pending)
		return 0;
	return acme_store_commit(state_dir, host, why, why_size) < 0 ? -1 : 1;
}

void acme_store_report(const char *state_dir, const char *host,
	struct acme_report *out)
{
	*out = (struct acme_report){0};
	acme_store_load_state(state_dir, host, &out->state);
	char *path = acme_store_path(state_dir, host, CONFIG_ACME_CHAIN);
	size_t len;
	char *pem = path ? acme_store_read(path, &len) : NULL;
	const char *why;
	char *kpath = acme_store_path(state_dir, host, CONFIG_ACME_KEY);
	size_t klen = 0;
	char *key = kpath ? acme_store_read(kpath, &klen) : NULL;
	/* Who may not read the key (acme-status as an admin) trusts it. */
	bool unreadable = !key && errno == EACCES;
	/* A chain without its own key is no certificate: order another. */
	if (pem && acmecert_chain_dates(pem, len, host, &out->not_before,
			&out->not_after, &out->names_host, &why) == 0 &&
	    (unreadable || (key && acmecert_key_matches(pem, len, key,
		klen))))
		out->has_certificate = true;
	if (key)
		explicit_bzero(key, klen);
	free(key);
	free(kpath);
	free(pem);
	free(path);
}
