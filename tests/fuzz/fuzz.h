/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_FUZZ_H
#define MTASTSD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Shared by the libFuzzer harnesses in tests/fuzz/. Each harness defines
 * LLVMFuzzerTestOneInput and nothing else that libFuzzer calls.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * FUZZ_CHECK is an invariant that must hold for every input: unlike
 * assert() it stays on in every build type, and abort() makes libFuzzer
 * save the input as a crash.
 */
#define FUZZ_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
			__LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* A NUL-terminated heap copy of n bytes of data (NULs inside kept). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	if (n)
		memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/*
 * fuzz_split cuts a NUL-terminated copy of data into at most max fields at
 * each NUL byte, so every field is a C string that may hold any other byte.
 * Returns the number of fields (at least 1); *buf is freed by the caller.
 */
static inline size_t fuzz_split(const uint8_t *data, size_t size, char **buf,
	const char **field, size_t max)
{
	char *s = fuzz_strndup(data, size);
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= size && n < max; i++) {
		if (s[i] != '\0')
			continue;
		field[n++] = s + start;
		start = i + 1;
	}
	*buf = s;
	return n;
}

#endif
