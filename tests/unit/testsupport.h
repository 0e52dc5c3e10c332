/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TESTSUPPORT_H
#define MTASTSD_TESTSUPPORT_H

#include <stdbool.h>
#include <stddef.h>

struct diag;
struct Suite;

/* Runs every test of suite (which it frees); EXIT_SUCCESS or EXIT_FAILURE. */
int test_run(struct Suite *suite);

/* A new empty directory under $TMPDIR (or /tmp). Caller frees the path. */
char *test_tmpdir(void);

/* Removes dir and everything below it. */
void test_rmtree(const char *dir);

/* Writes content to dir/name; returns the full path (caller frees). */
char *test_write_file(const char *dir, const char *name, const char *content);

/* Reads a whole file (NUL-terminated, caller frees) or NULL. */
char *test_read_file(const char *path, size_t *len);

/*
 * Does d hold an item of this severity at this line (0: any line) whose
 * message contains text?
 */
bool test_diag_has(const struct diag *d, int severity, unsigned line,
	const char *text);

/* All items of d as one string for failure messages (static buffer). */
const char *test_diag_dump(const struct diag *d);

#endif
