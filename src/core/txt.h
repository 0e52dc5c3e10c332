/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TXT_H
#define MTASTSD_TXT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct diag;

/*
 * The DNS side: the _mta-sts TXT record (RFC 8461 §3.1), the _smtp._tls
 * TLS-RPT record (RFC 8460 §3), policy ids and their bumping. Pure.
 */

#define TXT_ID_MAX 32

/* 1 to 32 letters or digits (RFC 8461 §3.1 sts-id). */
bool txt_id_is_valid(const char *id);

/*
 * txt_id_compare orders ids for bumping: two all-digit ids compare as
 * numbers; otherwise byte-wise. <0, 0, >0 as strcmp.
 */
int txt_id_compare(const char *a, const char *b);

/*
 * txt_id_bump writes to out (TXT_ID_MAX + 1 bytes) an id strictly greater
 * than current under txt_id_compare: the UTC time of now as YYYYMMDDHHMMSS
 * when that is greater, else current plus one (decimal). current may be
 * NULL or not all digits, in which case the time is used. Returns 0, or -1
 * when no greater id fits in 32 digits.
 */
int txt_id_bump(const char *current, time_t now, char out[TXT_ID_MAX + 1]);

/*
 * txt_sts_value writes "v=STSv1; id=<id>" to out (size bytes). Returns the
 * length, or -1 when id is invalid or out too small.
 */
int txt_sts_value(const char *id, char *out, size_t size);

/* The longest character-string in a TXT record (RFC 1035 §3.3). */
#define TXT_STRING_MAX 255

/*
 * txt_quote renders value as TXT record data: quoted character-strings of
 * at most TXT_STRING_MAX bytes each, separated by one space (senders join
 * them without spaces, RFC 8461 §3.1, RFC 8460 §3), with '"' and '\'
 * escaped. Caller frees; NULL when out of memory.
 */
char *txt_quote(const char *value);

/*
 * txt_tlsrpt_value writes "v=TLSRPTv1; rua=<rua>" to out. rua is one URI or
 * a comma-separated list. Returns the length, or -1 when rua is invalid
 * or out is too small: TXT_TLSRPT_SIZE(rua) bytes always suffice.
 */
#define TXT_TLSRPT_SIZE(rua) (strlen(rua) + 20)
int txt_tlsrpt_value(const char *rua, char *out, size_t size);

/*
 * txt_check_tlsrpt_rua validates a configured rua list (RFC 8460 §3:
 * mailto: or https: URIs, commas separate, no unencoded ',', '!' or ';'
 * inside a URI). Findings go to d at file:line, naming subject.
 * Returns 0 when valid, -1 otherwise.
 */
int txt_check_tlsrpt_rua(const char *rua, const char *subject, struct diag *d,
	const char *file, unsigned line);

struct txt_sts {
	char id[TXT_ID_MAX + 1];
};

/*
 * txt_parse_sts checks one complete TXT value (strings already joined)
 * against the RFC 8461 §3.1 grammar, adding findings to d at file:line.
 * On success out (may be NULL) receives the id. Returns 0 or -1.
 */
int txt_parse_sts(const char *value, struct txt_sts *out, struct diag *d,
	const char *file, unsigned line);

/* As txt_parse_sts for "v=TLSRPTv1; rua=..." (RFC 8460 §3). */
int txt_parse_tlsrpt(const char *value, struct diag *d, const char *file,
	unsigned line);

/*
 * txt_is_sts_record is the RFC 8461 §3.1 filter senders apply to the TXT
 * records at _mta-sts: a record counts only when it begins with exactly
 * "v=STSv1;" (case-sensitive, no space before ';'). lint, txt and check
 * all use it.
 */
bool txt_is_sts_record(const char *text, size_t len);

/*
 * txt_is_tlsrpt_record: a TLS-RPT record candidate (RFC 8460 §3), one that
 * begins with "v=TLSRPTv1"; the grammar check (txt_parse_tlsrpt) then
 * requires the ';' after it and says what is wrong. lint and check use it.
 */
bool txt_is_tlsrpt_record(const char *text, size_t len);

/* Is text meant as an STS record ("V=STSv1;", "v=STSv1 ;", " v=STSv1")
 * although the §3.1 filter discards it? */
bool txt_is_sts_lookalike(const char *text, size_t len);

/*
 * txt_report_discarded explains why senders discard the look-alike record
 * rec (n bytes) to d at file:line: an error, or a warning when its name
 * also has exactly one valid record (beside_valid), since then it costs
 * nothing.
 */
void txt_report_discarded(const char *rec, size_t n, bool beside_valid,
	struct diag *d, const char *file, unsigned line);

/*
 * txt_lint_answer checks TXT records as `dig +short` prints them (one
 * record per line, each raw or as one or more quoted strings, joined
 * without spaces, with \" \\ and \DDD escapes) or as zone-file lines
 * ("owner [ttl] [class] TXT data", as `mta-stsd txt` prints them). Records
 * are grouped by owner name and each name judged on its own: records not
 * beginning with "v=STSv1;" are dropped and exactly one must remain and
 * parse (§3.1); a name under _smtp._tls must have exactly one TLS-RPT
 * record (RFC 8460 §3). Lines without an owner form one name. Returns 0
 * when valid, -1 otherwise.
 */
int txt_lint_answer(const char *text, size_t len, const char *file,
	struct diag *d);

#endif
