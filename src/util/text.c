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

/* prefix is "\\x" (log lines) or "\\u00" (JSON strings). */
static const char *escape(char *buf, size_t size, const char *s, size_t len,
	const char *prefix)
{
	static const char hex[] = "0123456789abcdef";
	if (!s) {
		snprintf(buf, size, "-");
		return buf;
	}
	size_t plen = strlen(prefix);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
		size_t need = plain ? 1 : plen + 2;
		/* Room for this byte, and for "..." and the NUL after it. */
		if (o + need + 4 > size) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (plain) {
			buf[o++] = (char)c;
		} else {
			memcpy(buf + o, prefix, plen);
			o += plen;
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return buf;
}

const char *text_escape(char *buf, size_t size, const char *s, size_t len)
{
	return escape(buf, size, s, len, "\\x");
}

const char *text_escape_json(char *buf, size_t size, const char *s)
{
	return escape(buf, size, s, s ? strlen(s) : 0, "\\u00");
}

const char *text_escape_str(char *buf, size_t size, const char *s)
{
	return text_escape(buf, size, s, s ? strlen(s) : 0);
}
