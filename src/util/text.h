// SPDX-License-Identifier: MIT
#ifndef MTASTSD_TEXT_H
#define MTASTSD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Small text helpers every part shares. ASCII only on purpose: host names
 * are A-labels and policy keys are ASCII, and the C library's <ctype.h>
 * depends on the locale for bytes above 0x7f.
 */
static inline char text_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline bool text_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool text_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool text_is_alnum(int c)
{
	return text_is_alpha(c) || text_is_digit(c);
}

/*
 * The hash of the project's open-addressing tables: FNV-1a over the bytes
 * (text_hash_bytes, chainable from TEXT_HASH_BASIS), then the splitmix64
 * finaliser (text_hash_final) so that low bits mix well. text_hash is the
 * two over one string of len bytes. Not for untrusted keys an attacker
 * picks to collide: tables keyed by configured names only.
 */
#define TEXT_HASH_BASIS UINT64_C(0xcbf29ce484222325)
uint64_t text_hash_bytes(uint64_t h, const void *s, size_t len);
uint64_t text_hash_final(uint64_t h);
uint64_t text_hash(const char *s, size_t len);

/* strdup that passes NULL through. NULL for NULL or out of memory. */
char *text_dup(const char *s);

/* text_dup into *dst; false only when a non-NULL src could not be copied,
 * so copies of several optional strings can be checked with one &. */
bool text_dup_into(char **dst, const char *src);

/* "dir/name" with exactly one slash between; caller frees; NULL on ENOMEM. */
char *text_path_join(const char *dir, const char *name);

/*
 * text_escape is the one escaper for text from files and the network on its
 * way to a log, a finding or a terminal. Its convention, the same as
 * nginx's access log: printable ASCII stays as is, except '"' and '\\';
 * those and every other byte (controls, DEL, bytes above 0x7f, NUL) are
 * written as \xNN. Text that does not fit buf (size bytes, at least 8) is
 * cut and ends in "...". It writes len bytes of s; a NULL s is written as
 * "-". Returns buf.
 */
const char *text_escape(char *buf, size_t size, const char *s, size_t len);

/* text_escape of a NUL-terminated string (NULL becomes "-"). */
const char *text_escape_str(char *buf, size_t size, const char *s);

/*
 * As text_escape_str, for the inside of a JSON string: the same bytes are
 * escaped, as \u00NN (a byte above 0x7f becomes the code point of the same
 * number, so the line stays valid JSON whatever the client sent).
 */
const char *text_escape_json(char *buf, size_t size, const char *s);

/*
 * As text_escape_json, of len bytes of s, except that a valid UTF-8
 * sequence stays as it is, so UTF-8 text (a file name) comes back unchanged
 * from a JSON parser. Bytes that are not UTF-8 still become \u00NN, so the
 * string stays valid JSON. For files the daemon writes, not for hostile
 * input on its way to a terminal. Returns the length written (without the
 * NUL); a buf of TEXT_ESCAPE_JSON_SIZE(len) bytes never cuts.
 */
size_t text_escape_json_utf8(char *buf, size_t size, const char *s,
	size_t len);
#define TEXT_ESCAPE_JSON_SIZE(len) (6 * (len) + 4)

#endif
