/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/diag.h"
#include "testsupport.h"

int test_run(struct Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

char *test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path = NULL;
	if (asprintf(&path, "%s/mta-stsd-test-XXXXXX", base ? base : "/tmp") < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

void test_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p = NULL;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0)
			abort();
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			chmod(p, 0700);
			test_rmtree(p);
		} else {
			unlink(p);
		}
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

char *test_write_file(const char *dir, const char *name, const char *content)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
	return path;
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

bool test_diag_has(const struct diag *d, int severity, unsigned line,
	const char *text)
{
	for (size_t i = 0; i < d->len; i++) {
		const struct diag_item *it = &d->items[i];
		if ((int)it->severity != severity)
			continue;
		if (line && it->line != line)
			continue;
		if (text && !strstr(it->message, text))
			continue;
		return true;
	}
	return false;
}

const char *test_diag_dump(const struct diag *d)
{
	static char buf[16384];
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < d->len && o < sizeof(buf) - 1; i++) {
		const struct diag_item *it = &d->items[i];
		int n = snprintf(buf + o, sizeof(buf) - o, "\n  %s:%u: %s: %s",
			it->file ? it->file : "-", it->line,
			diag_severity_name(it->severity), it->message);
		if (n < 0)
			break;
		o += (size_t)n;
		if (o >= sizeof(buf))
			o = sizeof(buf) - 1;
	}
	return buf;
}
