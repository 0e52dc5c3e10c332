/* SPDX-License-Identifier: MIT */
/*
 * One joined TXT value through both record parsers (RFC 8461 §3.1,
 * RFC 8460 §3), the configured-rua check, and id bumping. The text stops
 * at the first NUL, as the C-string interfaces do.
 */
#include "fuzz.h"

#include <time.h>

#include "util/diag.h"
#include "core/txt.h"

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* txt_id_bump: a valid id, strictly greater than a valid current one. */
static void check_bump(const char *current, time_t now)
{
	char out[TXT_ID_MAX + 1];
	memset(out, 'x', sizeof(out));
	if (txt_id_bump(current, now, out) != 0) {
		/* Only a 32-digit counter can run out of room. */
		FUZZ_CHECK(current && all_digits(current) &&
			strlen(current) >= TXT_ID_MAX);
		return;
	}
	FUZZ_CHECK(txt_id_is_valid(out));
	FUZZ_CHECK(all_digits(out));
	if (current && all_digits(current))
		FUZZ_CHECK(txt_id_compare(out, current) > 0);
}

static void check_sts(const char *value)
{
	struct diag d = {0};
	struct txt_sts sts = {0};
	int rc = txt_parse_sts(value, &sts, &d, "dns", 1);
	FUZZ_CHECK((rc == 0) == (d.errors == 0));
	diag_finish(&d);
	if (rc != 0)
		return;

	/* What parses renders back into a record that parses clean. */
	FUZZ_CHECK(txt_id_is_valid(sts.id));
	char rec[64];
	int n = txt_sts_value(sts.id, rec, sizeof(rec));
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(rec));
	struct txt_sts again = {0};
	diag_init(&d);
	FUZZ_CHECK(txt_parse_sts(rec, &again, &d, "dns", 1) == 0);
	FUZZ_CHECK(d.len == 0);
	FUZZ_CHECK(strcmp(again.id, sts.id) == 0);
	diag_finish(&d);

	FUZZ_CHECK(txt_id_compare(sts.id, sts.id) == 0);
	check_bump(sts.id, (time_t)1781222400);	/* 2026-06-12 */
	check_bump(sts.id, (time_t)0);
}

static void check_tlsrpt(const char *value)
{
	struct diag d = {0};
	int rc = txt_parse_tlsrpt(value, &d, "dns", 1);
	FUZZ_CHECK((rc == 0) == (d.errors == 0));
	diag_finish(&d);
}

/* The same text as a configured tlsrpt_rua list. */
static void check_rua(const char *rua)
{
	struct diag d = {0};
	int rc = txt_check_tlsrpt_rua(rua, "example.com", &d, "conf", 1);
	FUZZ_CHECK((rc == 0) == (d.errors == 0));
	diag_finish(&d);

	char rec[512];
	int n = txt_tlsrpt_value(rua, rec, sizeof(rec));
	if (rc != 0) {
		FUZZ_CHECK(n == -1);
		return;
	}
	if (n < 0)
		return;		/* valid but longer than rec */
	FUZZ_CHECK((size_t)n == strlen(rec));
	diag_init(&d);
	FUZZ_CHECK(txt_parse_tlsrpt(rec, &d, "dns", 1) == 0);
	FUZZ_CHECK(d.len == 0);
	diag_finish(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_strndup(data, size);

	check_sts(value);
	check_tlsrpt(value);
	check_rua(value);
	if (strlen(value) <= TXT_ID_MAX + 1) {
		/* Any short text as a stored id: the state file is a file. */
		int sign = txt_id_compare(value, "1");
		FUZZ_CHECK(sign == 0 || (sign > 0) == (txt_id_compare("1",
			value) < 0));
		check_bump(value, (time_t)1781222400);
	}

	free(value);
	return 0;
}
