/* SPDX-License-Identifier: MIT */
/*
 * txt_lint_answer on any bytes: a `dig +short` answer for _mta-sts, with
 * quoting and \DDD escapes (RFC 8461 §3.1). It must read only len bytes
 * (the copy has no terminator, so ASan sees any overread) and report
 * failure exactly when it found an error.
 */
#include "fuzz.h"

#include "util/diag.h"
#include "core/txt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: data itself may be followed by readable bytes. */
	char *text = malloc(size ? size : 1);
	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);

	struct diag d = {0};
	int rc = txt_lint_answer(text, size, "answer", &d);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == (d.errors == 0));
	for (size_t i = 0; i < d.len; i++) {
		FUZZ_CHECK(d.items[i].file &&
			strcmp(d.items[i].file, "answer") == 0);
		FUZZ_CHECK(d.items[i].message != NULL);
	}

	diag_finish(&d);
	free(text);
	return 0;
}
