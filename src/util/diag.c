/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/diag.h"

void diag_init(struct diag *d)
{
	*d = (struct diag){0};
}

void diag_finish(struct diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->len; i++) {
		free(d->items[i].file);
		free(d->items[i].message);
	}
	free(d->items);
	*d = (struct diag){0};
}

static void count(struct diag *d, enum diag_severity severity)
{
	if (severity == DIAG_ERROR)
		d->errors++;
	else if (severity == DIAG_WARNING)
		d->warnings++;
}

static bool reserve(struct diag *d)
{
	if (d->len < d->cap)
		return true;
	size_t cap = d->cap ? d->cap * 2 : 8;
	struct diag_item *items = realloc(d->items, cap * sizeof(*items));
	if (!items)
		return false;
	d->items = items;
	d->cap = cap;
	return true;
}

void diag_add(struct diag *d, enum diag_severity severity, const char *file,
	unsigned line, const char *code, const char *fmt, ...)
{
	count(d, severity);

	char *message = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (n < 0)
		message = NULL;

	char *file_copy = file ? strdup(file) : NULL;
	if (!message || (file && !file_copy) || !reserve(d)) {
		free(message);
		free(file_copy);
		d->out_of_memory = true;
		return;
	}
	d->items[d->len++] = (struct diag_item){
		.severity = severity,
		.file = file_copy,
		.line = line,
		.code = code,
		.message = message,
	};
}

bool diag_has_errors(const struct diag *d)
{
	return d->errors > 0;
}

void diag_move(struct diag *dst, struct diag *src)
{
	for (size_t i = 0; i < src->len; i++) {
		if (!reserve(dst)) {
			dst->out_of_memory = true;
			free(src->items[i].file);
			free(src->items[i].message);
			continue;
		}
		dst->items[dst->len++] = src->items[i];
	}
	dst->errors += src->errors;
	dst->warnings += src->warnings;
	dst->out_of_memory |= src->out_of_memory;
	free(src->items);
	*src = (struct diag){0};
}

void diag_copy_range(struct diag *dst, const struct diag *src, size_t from,
	size_t to)
{
	for (size_t i = from; i < to && i < src->len; i++) {
		const struct diag_item *it = &src->items[i];
		count(dst, it->severity);
		char *file = it->file ? strdup(it->file) : NULL;
		char *message = it->message ? strdup(it->message) : NULL;
		if ((it->file && !file) || (it->message && !message) ||
				!reserve(dst)) {
			free(file);
			free(message);
			dst->out_of_memory = true;
			continue;
		}
		dst->items[dst->len++] = (struct diag_item){
			.severity = it->severity, .file = file,
			.line = it->line, .code = it->code, .message = message,
		};
	}
}

static int compare_place(const struct diag_item *a, const struct diag_item *b)
{
	int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");
	if (c)
		return c;
	return (a->line > b->line) - (a->line < b->line);
}

void diag_sort(struct diag *d)
{
	/* Insertion sort: stable, and finding lists are short. */
	for (size_t i = 1; i < d->len; i++) {
		struct diag_item item = d->items[i];
		size_t j = i;
		while (j > 0 && compare_place(&d->items[j - 1], &item) > 0) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = item;
	}
}

const char *diag_severity_name(enum diag_severity severity)
{
	switch (severity) {
	case DIAG_ERROR:
		return "error";
	case DIAG_WARNING:
		return "warning";
	case DIAG_NOTE:
		return "note";
	}
	return "?";
}

void diag_print_item(const struct diag_item *it, FILE *out)
{
	if (it->file && it->line)
		fprintf(out, "%s:%u: ", it->file, it->line);
	else if (it->file)
		fprintf(out, "%s: ", it->file);
	fprintf(out, "%s: %s\n", diag_severity_name(it->severity),
		it->message);
}

void diag_print(const struct diag *d, FILE *out)
{
	for (size_t i = 0; i < d->len; i++)
		diag_print_item(&d->items[i], out);
	if (d->out_of_memory)
		fprintf(out, "error: out of memory: some findings were lost\n");
}
