// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

char *text_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

bool text_dup_into(char **dst, const char *src)
{
	*dst = text_dup(src);
	return !src || *dst;
}

char *text_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	const char *sep = n > 0 && dir[n - 1] == '/' ? "" : "/";
	char *path = NULL;
	if (asprintf(&path, "%s%s%s", dir, sep, name) < 0)
		return NULL;
	return path;
}

/* The length of the valid UTF-8 sequence s (len bytes left) starts with, or
 * 0. Valid as RFC 3629 section 4 says: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static size_t utf8_length(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;	/* the second byte's range */
	size_t n;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		lo = s[0] == 0xe0 ? 0xa0 : lo;
		hi = s[0] == 0xed ? 0x9f : hi;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		lo = s[0] == 0xf0 ? 0x90 : lo;
		hi = s[0] == 0xf4 ? 0x8f : hi;
	} else {
		return 0;
	}
	if (n > len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return n;
}

/* prefix is "\\x" (log lines) or "\\u00" (JSON strings); keep_utf8 keeps
 * valid UTF-8 sequences as they are. Returns the length written. */
static size_t escape(char *buf, size_t size, const char *s, size_t len,
	const char *prefix, bool keep_utf8)
{
	static const char hex[] = "0123456789abcdef";
	if (!s)
		return (size_t)snprintf(buf, size, "-");
	size_t plen = strlen(prefix);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* How many bytes from i stay as they are. */
		size_t keep = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
		if (keep_utf8 && c >= 0x80)
			keep = utf8_length((const unsigned char *)s + i,
				len - i);
		size_t need = keep ? keep : plen + 2;
		/* Room for this byte, and for "..." and the NUL after it. */
		if (o + need + 4 > size) {
			memcpy(buf + o, "...", 4);
			return o + 3;
		}
		if (keep == 1) {
			buf[o++] = (char)c;
		} else if (keep) {
			memcpy(buf + o, s + i, keep);
			o += keep;
			i += keep - 1;
		} else {
			memcpy(buf + o, prefix, plen);
			o += plen;
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return o;
}

const char *text_escape(char *buf, size_t size, const char *s, size_t len)
{
	escape(buf, size, s, len, "\\x", false);
	return buf;
}

const char *text_escape_json(char *buf, size_t size, const char *s)
{
	escape(buf, size, s, s ? strlen(s) : 0, "\\u00", false);
	return buf;
}

size_t text_escape_json_utf8(char *buf, size_t size, const char *s,
	size_t len)
{
	return escape(buf, size, s, len, "\\u00", true);
}

const char *text_escape_str(char *buf, size_t size, const char *s)
{
	return text_escape(buf, size, s, s ? strlen(s) : 0);
}

uint64_t text_hash_bytes(uint64_t h, const void *s, size_t len)
{
	const unsigned char *p = s;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t text_hash_final(uint64_t h)
{
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

uint64_t text_hash(const char *s, size_t len)
{
	return text_hash_final(text_hash_bytes(TEXT_HASH_BASIS, s, len));
}
