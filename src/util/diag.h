/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_DIAG_H
#define MTASTSD_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * A list of findings shared by config, policy, txt, tls and check.
 * Validators append and keep going, so one run reports every problem.
 */

enum diag_severity {
	DIAG_ERROR,
	DIAG_WARNING,
	DIAG_NOTE,
};

struct diag_item {
	enum diag_severity severity;
	char *file;		/* owned copy, NULL when there is no file */
	unsigned line;		/* 0 when there is no line */
	const char *code;	/* static stable identifier, may be NULL */
	char *message;		/* owned: "what is wrong — how to fix" */
};

struct diag {
	struct diag_item *items;
	size_t len;
	size_t cap;
	size_t errors;
	size_t warnings;
	bool out_of_memory;	/* an item could not be stored */
};

void diag_init(struct diag *d);
void diag_finish(struct diag *d);

/*
 * diag_add appends one finding. file may be NULL, line 0. code is a static
 * string (not copied) naming the finding for machine-readable output. On
 * allocation failure the finding is counted but its text is lost and
 * out_of_memory is set; diag_add never fails otherwise.
 */
void diag_add(struct diag *d, enum diag_severity severity, const char *file,
	unsigned line, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

bool diag_has_errors(const struct diag *d);

/* Moves every item of src to the end of dst; src is left empty. */
void diag_move(struct diag *dst, struct diag *src);

/* Appends copies of the items [from, to) of src to dst, in order. */
void diag_copy_range(struct diag *dst, const struct diag *src, size_t from,
	size_t to);

const char *diag_severity_name(enum diag_severity severity);

/* Orders the items by file and line, keeping the order of equal ones. */
void diag_sort(struct diag *d);

/* Prints one item as a "FILE:LINE: error: message" line. */
void diag_print_item(const struct diag_item *it, FILE *out);

/* Prints "FILE:LINE: error: message" lines, one per item, in order. */
void diag_print(const struct diag *d, FILE *out);

#endif
