/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "server/strict.h"

/*
 * libmicrohttpd 0.9.75 hands a request over as C strings and sizes taken
 * with strlen(), so a NUL inside the target, a field name or a field value
 * silently cuts it ("Host: a.example\0b" reads as "a.example"). Its parser
 * works in place, though: the method, target, version and every field point
 * into the one buffer the header was read into, with only separators
 * overwritten by NUL (the space after the method, the one before the
 * version, "?", each colon, each CR and LF). A walk over that buffer that
 * accounts for every byte through the pieces the API shows finds any NUL
 * the client sent: it is a byte no piece and no separator explains.
 */
struct walk {
	const char *pos;		/* the first byte not accounted for */
	const char *end;		/* one past the header's blank line */
	bool exact;			/* every byte so far accounted for */
	const char *first_argument;	/* key of the first query argument */
	unsigned hosts;
	unsigned content_lengths;
	bool blank_in_name;
};

/* The piece text of len bytes must start exactly where the walk is. */
static void expect_text(struct walk *w, const char *text, size_t len)
{
	if (!w->exact || text != w->pos ||
			len > (size_t)(w->end - w->pos)) {
		w->exact = false;
		return;
	}
	w->pos += len;
}

/*
 * expect_gap accounts for the bytes up to next: between min and max NULs
 * (separators libmicrohttpd overwrote), then only bytes from blanks.
 */
static void expect_gap(struct walk *w, const char *next, size_t min,
	size_t max, const char *blanks)
{
	if (!w->exact || next < w->pos || next > w->end) {
		w->exact = false;
		return;
	}
	size_t nuls = 0;
	while (w->pos < next && *w->pos == '\0') {
		w->pos++;
		nuls++;
	}
	while (w->pos < next && strchr(blanks, *w->pos))
		w->pos++;
	if (nuls < min || nuls > max || w->pos != next)
		w->exact = false;
}

static enum MHD_Result find_first_argument(void *cls, enum MHD_ValueKind kind,
	const char *key, size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	(void)key_size;
	(void)value;
	(void)value_size;
	struct walk *w = cls;
	w->first_argument = key;
	return MHD_NO;
}

static enum MHD_Result walk_field(void *cls, enum MHD_ValueKind kind,
	const char *key, size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	struct walk *w = cls;
	/* RFC 9112 §5.1: no whitespace between a field name and its colon;
	 * a proxy may read "Host :" as another field than we do. */
	if (memchr(key, ' ', key_size) || memchr(key, '\t', key_size))
		w->blank_in_name = true;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		w->hosts++;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		w->content_lengths++;

	/* The line end before this line (CRLF or bare LF), the name, the
	 * colon and optional whitespace, the value. */
	expect_gap(w, key, 1, 2, "");
	expect_text(w, key, key_size);
	expect_gap(w, value, 1, 1, " \t");
	expect_text(w, value, value_size);
	return MHD_YES;
}

/*
 * strict_request_is_valid walks the header block as described above. A
 * block it cannot account for (a folded field, which libmicrohttpd copies
 * elsewhere, or a NUL) is refused: RFC 9112 §5.2 allows a 400 for the one,
 * and §2.2 requires nothing less for the other.
 */
bool strict_request_is_valid(struct MHD_Connection *mc, const char *method,
	const char *url, const char *version)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc,
		MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (!info || !method || !url || !version)
		return false;
	struct walk w = {
		.pos = method,
		.end = method + info->header_size,
		.exact = true,
	};

	/* The request line: method, NUL (and spaces it tolerates), target,
	 * then the query if any, NUL, version. */
	expect_text(&w, method, strlen(method));
	expect_gap(&w, url, 1, 1, " ");
	expect_text(&w, url, strlen(url));
	MHD_get_connection_values_n(mc, MHD_GET_ARGUMENT_KIND,
		find_first_argument, &w);
	if (w.first_argument) {
		/* "?" and the query, whose "&" and "=" became NULs too: only
		 * the target before it is checked. */
		expect_gap(&w, w.first_argument, 1, 1, "");
		if (w.exact && version - 1 >= w.pos && version <= w.end)
			w.pos = version - 1;
		expect_gap(&w, version, 1, 1, "");
	} else {
		/* Two NULs: an empty query ("/path?"). */
		expect_gap(&w, version, 1, 2, "");
	}
	expect_text(&w, version, strlen(version));

	MHD_get_connection_values_n(mc, MHD_HEADER_KIND, walk_field, &w);
	/* The last line end and the blank line: each CRLF or LF. */
	expect_gap(&w, w.end, 2, 4, "");

	return w.exact && w.hosts <= 1 && w.content_lengths <= 1 &&
		!w.blank_in_name;
}
