/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/diag.h"
#include "config/loader.h"
#include "config/state.h"
#include "util/text.h"

/*
 * Both files hold one "domain id digest time" line per domain after a
 * header comment. Records are kept sorted by domain (an array of pointers,
 * so found records never move), which gives O(log n) lookups for providers
 * with tens of thousands of domains and writes files whose diffs are
 * readable. New records are appended to an unsorted tail, searched
 * linearly and merged in once it is longer than about the square root of
 * the table: inserting each of 100,000 new domains in its place would
 * move 20 GB of pointers (quadratic), the tail costs O(n^1.5) at worst.
 *
 * A file is read whole into one buffer and parsed in place: its records
 * are one array whose domains point into that text, so a table of 100,000
 * domains is a few allocations rather than 200,000, and freeing it a few
 * free() calls. Only records added later (a domain new to the file) are
 * allocated one by one, and a reload adds few.
 */

#define STATE_HEADER "# mta-stsd state, do not edit\n"
#define DIGEST_LEN 64
#define DOMAIN_MAX 253
/* The longest line: domain, id, digest, a signed 64-bit time, 3 spaces. */
#define LINE_MAX_LEN (DOMAIN_MAX + TXT_ID_MAX + DIGEST_LEN + 20 + 4)

struct table {
	struct state_record **items;	/* into block or added */
	size_t len;
	size_t cap;
	size_t sorted;			/* items[0, sorted) are in order */
	size_t tail_max;		/* merge the tail when it grows past */
	char *text;			/* holds the domains of block */
	struct state_record *block;	/* the records read, one allocation */
	struct state_record **added;	/* records added since, each owned */
	size_t added_len;
	size_t added_cap;
};

struct state {
	char *dir;
	char *ids_path;
	char *served_path;
	struct table ids;
	struct table served;
	bool keeps_served;	/* state_open: served is read and kept */
	/*
	 * state_open_for_domains: ids holds only the lines of the domains
	 * asked for, and state_save_ids merges it into the file.
	 */
	bool partial;
	bool dirty;
};

static void table_finish(struct table *t)
{
	for (size_t i = 0; i < t->added_len; i++)
		free(t->added[i]);
	free(t->added);
	free(t->items);
	free(t->block);
	free(t->text);
	*t = (struct table){0};
}

static int record_cmp(const void *a, const void *b)
{
	const struct state_record *const *x = a, *const *y = b;
	return strcmp((*x)->domain, (*y)->domain);
}

/*
 * settle sorts the appended tail and merges it into the sorted part, so
 * every record is in order (as write_table needs). 0, or -1 when out of
 * memory (the table is then unchanged).
 */
static int settle(struct table *t)
{
	if (t->sorted == t->len)
		return 0;
	struct state_record **merged = malloc(t->len * sizeof(*merged));
	if (!merged)
		return -1;
	qsort(t->items + t->sorted, t->len - t->sorted, sizeof(*t->items),
		record_cmp);
	size_t a = 0, b = t->sorted, n = 0;
	while (a < t->sorted && b < t->len)
		merged[n++] = record_cmp(&t->items[a], &t->items[b]) <= 0 ?
			t->items[a++] : t->items[b++];
	while (a < t->sorted)
		merged[n++] = t->items[a++];
	while (b < t->len)
		merged[n++] = t->items[b++];
	memcpy(t->items, merged, t->len * sizeof(*merged));
	free(merged);
	t->sorted = t->len;
	size_t root = 1;
	while (root * root < t->len)
		root++;
	t->tail_max = root > 64 ? root : 64;
	return 0;
}

/* search sets *pos to the index of domain when it is in the table. */
static bool search(const struct table *t, const char *domain, size_t *pos)
{
	size_t lo = 0, hi = t->sorted;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->items[mid]->domain, domain);
		if (c == 0) {
			*pos = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = t->sorted; i < t->len; i++) {
		if (!strcmp(t->items[i]->domain, domain)) {
			*pos = i;
			return true;
		}
	}
	return false;
}

/* Does domain sort after every record, with no tail to search? */
static bool goes_last(const struct table *t, const char *domain)
{
	return t->sorted == t->len && (t->len == 0 ||
		strcmp(t->items[t->len - 1]->domain, domain) < 0);
}

/*
 * append adds r (not in the table) to the tail, merging it in when it is
 * long. 0 or -1 (no memory).
 */
static int append(struct table *t, struct state_record *r)
{
	if (t->len == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct state_record **items =
			realloc(t->items, cap * sizeof(*items));
		if (!items)
			return -1;
		t->items = items;
		t->cap = cap;
	}
	/* In order already (a file written sorted): no tail to search. */
	bool ordered = goes_last(t, r->domain);
	t->items[t->len++] = r;
	if (ordered)
		t->sorted = t->len;
	else if (t->len - t->sorted > (t->tail_max ? t->tail_max : 64))
		(void)settle(t);	/* if not now, later: a long tail works */
	return 0;
}

/* A hex digit in lower case (digits and 'a' to 'f' unchanged). */
static char lower_hex(char c)
{
	return (char)(c | (c >= 'A' ? 0x20 : 0));
}

/* record_set gives r its id, digest (in lower case) and time. */
static void record_set(struct state_record *r, const char *id,
	const char *digest, int64_t time)
{
	size_t n = strnlen(id, TXT_ID_MAX);
	memcpy(r->id, id, n);
	r->id[n] = '\0';
	/* Lower-case so digests compare as strings. */
	for (size_t i = 0; i < DIGEST_LEN; i++)
		r->digest[i] = lower_hex(digest[i]);
	r->digest[DIGEST_LEN] = '\0';
	r->time = time;
}

/* added_new allocates a record for domain (with its name) that t owns. */
static struct state_record *added_new(struct table *t, const char *domain)
{
	if (t->added_len == t->added_cap) {
		size_t cap = t->added_cap ? t->added_cap * 2 : 16;
		struct state_record **added =
			realloc(t->added, cap * sizeof(*added));
		if (!added)
			return NULL;
		t->added = added;
		t->added_cap = cap;
	}
	size_t n = strlen(domain) + 1;
	struct state_record *r = malloc(sizeof(*r) + n);
	if (!r)
		return NULL;
	*r = (struct state_record){ .domain = (char *)(r + 1) };
	memcpy(r->domain, domain, n);
	t->added[t->added_len++] = r;
	return r;
}
/*
 * A domain goes into a space-separated line, so it must hold no space or
 * control byte; anything stricter is dnsname's job in config.
 *
 * This and digest_is_valid test every byte of 100,000 records at each
 * reload, so their loops have no branch per byte (which mispredicts on
 * random hex digits) and the compiler can vectorize them.
 */
static bool domain_is_storable(const char *domain)
{
	size_t n = strnlen(domain, DOMAIN_MAX + 1);
	unsigned bad = n == 0 || n > DOMAIN_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)domain[i];
		bad |= (c <= 0x20) | (c >= 0x7f);
	}
	return !bad;
}

static bool digest_is_valid(const char *digest)
{
	if (strnlen(digest, DIGEST_LEN + 1) != DIGEST_LEN)
		return false;
	unsigned bad = 0;
	for (size_t i = 0; i < DIGEST_LEN; i++) {
		unsigned c = (unsigned char)digest[i];
		bad |= (c - '0' >= 10u) & ((c | 0x20) - 'a' >= 6u);
	}
	return !bad;
}

/*
 * id_is_valid is txt_id_is_valid(id) for the id stored with digest
 * (digest_ok: whether that is valid). A managed id, the first 32 digits of
 * a valid digest, is letters and digits: that common case is told without
 * a test per byte, whose branches mispredict on random hex digits.
 */
static bool id_is_valid(const char *id, const char *digest, bool digest_ok)
{
	if (digest_ok && strnlen(id, TXT_ID_MAX + 1) == TXT_ID_MAX &&
			memcmp(id, digest, TXT_ID_MAX) == 0)
		return true;
	return txt_id_is_valid(id);
}

static bool digest_equal(const char *a, const char *b)
{
	return strncasecmp(a, b, DIGEST_LEN) == 0;
}

/* fix_for says how to get past err for the state directory dir. */
static const char *fix_for(int err, const char *dir, char *buf, size_t size)
{
	switch (err) {
	case ENOENT:
		snprintf(buf, size, "create it: install -d -o mta-stsd -g "
			"mta-stsd %s, or set state_directory", dir);
		break;
	case ENOTDIR:
		snprintf(buf, size, "a part of %s is not a directory: create "
			"the directory (install -d -o mta-stsd -g mta-stsd %s), "
			"or set state_directory", dir, dir);
		break;
	case EACCES:
	case EPERM: {
		/* getpwuid shares one buffer: copy each name at once. */
		char who[64] = "this user", owner[64] = "?";
		struct passwd *pw = getpwuid(geteuid());
		if (pw)
			snprintf(who, sizeof(who), "%s", pw->pw_name);
		struct stat st;
		if (stat(dir, &st) < 0) {
			snprintf(buf, size, "run as root or the service user, "
				"or fix the owner of %s", dir);
			break;
		}
		pw = getpwuid(st.st_uid);
		if (pw)
			snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		else
			snprintf(owner, sizeof(owner), "%u",
				(unsigned)st.st_uid);
		if (st.st_uid == geteuid())
			snprintf(buf, size, "%s is owned by %s with mode %04o: "
				"let its owner write it (chmod u+rwx %s)", dir,
				owner, (unsigned)(st.st_mode & 07777), dir);
		else
			snprintf(buf, size, "%s is owned by %s with mode %04o, "
				"and mta-stsd runs as %s: give it to the service "
				"user (chown mta-stsd:mta-stsd %s), or run as root "
				"or the service user", dir, owner,
				(unsigned)(st.st_mode & 07777), who, dir);
		break;
	}
	case EMFILE:
	case ENFILE:
		/* The same advice as for any file the loader opens. */
		return advice_open_fix(err, dir, buf, size);
	case EROFS:
		snprintf(buf, size, "%s is on a read-only file system: set "
			"state_directory to a writable directory (systemd: "
			"StateDirectory=mta-stsd)", dir);
		break;
	case ENOSPC:
	case EDQUOT:
		snprintf(buf, size, "free space on the file system that holds "
			"%s", dir);
		break;
	case EFBIG:
		snprintf(buf, size, "raise the file size limit (ulimit -f, "
			"LimitFSIZE=) or free space under %s", dir);
		break;
	case ENOMEM:
		snprintf(buf, size, "free memory and reload");
		break;
	default:
		snprintf(buf, size, "check %s and the file system under it",
			dir);
		break;
	}
	return buf;
}

/*
 * parse_line reads "domain id digest time" into r, its domain left in
 * line, or reports why it cannot at path:lineno.
 */
static int parse_line(char *line, size_t len, struct state_record *r,
	const char *path, unsigned lineno, const char *fix, struct diag *d)
{
	const char *why = NULL;
	char *field[4] = {0};
	size_t nf = 0;
	if (memchr(line, '\0', len)) {
		why = "it contains a NUL byte";
		goto bad;
	}
	for (char *p = line;;) {
		field[nf++] = p;
		char *sp = strchr(p, ' ');
		if (!sp || nf == 4)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	if (nf != 4 || strchr(field[3], ' ') || !*field[0] || !*field[1] ||
		!*field[2] || !*field[3]) {
		why = "expected 4 fields separated by single spaces: domain, "
			"id, sha256 digest, unix time";
		goto bad;
	}
	if (!domain_is_storable(field[0])) {
		why = "the domain is empty or holds control bytes";
		goto bad;
	}
	bool digest_ok = digest_is_valid(field[2]);
	if (!id_is_valid(field[1], field[2], digest_ok)) {
		why = "the id is not 1 to 32 letters and digits";
		goto bad;
	}
	if (!digest_ok) {
		why = "the digest is not 64 hex digits";
		goto bad;
	}
	char *end = NULL;
	errno = 0;
	long long t = strtoll(field[3], &end, 10);
	if (errno || end == field[3] || *end || field[3][0] == '-' ||
		field[3][0] == '+') {
		why = "the time is not a non-negative number of seconds";
		goto bad;
	}
	r->domain = field[0];
	record_set(r, field[1], field[2], t);
	return 0;
bad:
	diag_add(d, DIAG_ERROR, path, lineno, "state-malformed",
		"malformed line: %s — %s", why, fix);
	return -1;
}

/*
 * parse_text fills t, empty, from text (len bytes and one spare, which t
 * takes over). Every bad line is reported before giving up, so one run
 * shows them all.
 */
static int parse_text(struct table *t, char *text, size_t len,
	const char *path, const char *fix, struct diag *d)
{
	t->text = text;
	size_t lines = 1;
	for (const char *p = text; (p = memchr(p, '\n',
			(size_t)(text + len - p))); p++)
		lines++;
	t->block = malloc(lines * sizeof(*t->block));
	t->items = malloc(lines * sizeof(*t->items));
	if (!t->block || !t->items) {
		diag_add(d, DIAG_ERROR, path, 0, "state-memory",
			"out of memory reading the state — free memory and "
			"start again");
		return -1;
	}
	t->cap = lines;
	int rc = 0;
	unsigned lineno = 0;
	size_t used = 0;
	for (char *p = text, *end = text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = p;
		line[n] = '\0';		/* the spare byte after the last */
		p += n + 1;
		lineno++;
		if (n == 0 || line[0] == '#')
			continue;
		struct state_record *r = &t->block[used];
		if (parse_line(line, n, r, path, lineno, fix, d) < 0) {
			rc = -1;
			continue;
		}
		size_t pos;
		/* A file this daemon wrote is in order: no search needed. */
		if (!goes_last(t, r->domain) && search(t, r->domain, &pos)) {
			diag_add(d, DIAG_ERROR, path, lineno, "state-malformed",
				"malformed line: %s is listed twice — %s",
				r->domain, fix);
			rc = -1;
			continue;
		}
		used++;
		(void)append(t, r);	/* cannot fail: there is room */
	}
	return rc;
}

/*
 * read_all reads fd to its end into *text (malloc'd, one spare byte after
 * the *len read), size being a guess of its length. 0 or an errno value.
 */
static int read_all(int fd, off_t size, char **text, size_t *len)
{
	size_t cap = size > 0 ? (size_t)size + 1 : 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		return ENOMEM;
	for (;;) {
		if (n + 1 >= cap) {
			char *grown = cap > SIZE_MAX / 2 ? NULL :
				realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				return ENOMEM;
			}
			buf = grown;
			cap *= 2;
		}
		ssize_t got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int err = errno;
			free(buf);
			return err;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/* Reports that path, a file of the state directory dir, cannot be read. */
static void report_unreadable(struct diag *d, const char *path,
	const char *dir, int err)
{
	char buf[512];
	diag_add(d, DIAG_ERROR, NULL, 0, "state-read",
		"%s: cannot read: %s — %s", path, strerror(err),
		fix_for(err, dir, buf, sizeof(buf)));
}

/*
 * read_table loads path into t, empty. A missing file (or directory) is
 * an empty table.
 */
static int read_table(const char *path, const char *dir, struct table *t,
	const char *fix, struct diag *d)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	int err = fd < 0 ? errno : 0;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	if (!err && fstat(fd, &st) < 0)
		err = errno;
	if (!err)
		err = read_all(fd, st.st_size, &text, &len);
	if (fd >= 0)
		close(fd);
	if (err) {
		report_unreadable(d, path, dir, err);
		return -1;
	}
	return parse_text(t, text, len, path, fix, d);
}

/* put_int64 writes v in decimal at out; returns the length. */
static size_t put_int64(char *out, int64_t v)
{
	char digits[20];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = digits[--n];
	return len;
}

/*
 * format_fields writes the line "domain id digest time" (LINE_MAX_LEN
 * bytes at most) at out.
 */
static size_t format_fields(const char *domain, const char *id,
	const char *digest, int64_t time, char *out)
{
	size_t n = strlen(domain), len = 0;
	memcpy(out, domain, n);
	len += n;
	out[len++] = ' ';
	n = strlen(id);
	memcpy(out + len, id, n);
	len += n;
	out[len++] = ' ';
	/* In lower case, as stored (a caller's served record may not be). */
	for (size_t i = 0; i < DIGEST_LEN; i++)
		out[len + i] = lower_hex(digest[i]);
	len += DIGEST_LEN;
	out[len++] = ' ';
	len += put_int64(out + len, time);
	out[len++] = '\n';
	return len;
}

/* format_line writes r's line (LINE_MAX_LEN bytes at most) at out. */
static size_t format_line(const struct state_record *r, char *out)
{
	return format_fields(r->domain, r->id, r->digest, r->time, out);
}

/* The line of item i of a list write_table writes, at out. */
typedef size_t line_writer(const void *items, size_t i, char *out);

static size_t record_line(const void *items, size_t i, char *out)
{
	const struct state_record *const *records = items;
	return format_line(records[i], out);
}

static size_t served_line(const void *items, size_t i, char *out)
{
	const struct state_served *const *served = items;
	const struct state_served *s = served[i];
	return format_fields(s->domain, s->id, s->digest, s->time, out);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The state files are read and written PIECE_SIZE bytes at a time: the
 * file of 100,000 domains is 12 MB, which a reload need not hold in
 * memory beside everything else.
 */
#define PIECE_SIZE (64 * 1024)

/*
 * Output through a buffer, written out once it holds PIECE_SIZE bytes, so
 * it has room for that and one more line: the longest a line_reader
 * returns (PIECE_SIZE and its newline), more than any record's.
 */
#define OUT_SIZE (2 * PIECE_SIZE + 1)
_Static_assert(LINE_MAX_LEN <= PIECE_SIZE + 1, "a record fits OUT_SIZE");

struct out_buf {
	int fd;
	char *buf;		/* OUT_SIZE */
	size_t len;
};

/* An out_buf for fd holding the file's header; false when no memory. */
static bool out_start(struct out_buf *o, int fd)
{
	*o = (struct out_buf){fd, malloc(OUT_SIZE), 0};
	if (!o->buf) {
		errno = ENOMEM;
		return false;
	}
	memcpy(o->buf, STATE_HEADER, sizeof(STATE_HEADER) - 1);
	o->len = sizeof(STATE_HEADER) - 1;
	return true;
}

static int out_flush(struct out_buf *o)
{
	int rc = write_all(o->fd, o->buf, o->len);
	o->len = 0;
	return rc;
}

static int out_full(struct out_buf *o)
{
	return o->len >= PIECE_SIZE ? out_flush(o) : 0;
}

static int out_record(struct out_buf *o, const struct state_record *r)
{
	o->len += format_line(r, o->buf + o->len);
	return out_full(o);
}

static int out_line(struct out_buf *o, const char *line, size_t len)
{
	memcpy(o->buf + o->len, line, len);
	o->buf[o->len + len] = '\n';
	o->len += len + 1;
	return out_full(o);
}

/*
 * write_lines writes the header and the lines of items (count, in order,
 * each made by line) to fd. 0, or -1 with errno set.
 */
static int write_lines(int fd, const void *items, size_t count,
	line_writer *line)
{
	struct out_buf o;
	if (!out_start(&o, fd))
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < count; i++) {
		o.len += line(items, i, o.buf + o.len);
		rc = out_full(&o);
	}
	if (rc == 0)
		rc = out_flush(&o);
	free(o.buf);
	return rc;
}

/*
 * write_table replaces path atomically with the lines of items (count, in
 * order, each made by line), write_file with what fill writes: a temporary
 * file in the same directory (so rename cannot cross file systems),
 * flushed to disk before the rename,
 * then the directory synced so the new name survives a crash. On failure
 * the temporary file is removed and the old file is untouched.
 */
/* What write_table writes: the whole file, to fd. 0, or -1 with errno. */
typedef int file_filler(int fd, void *ctx);

struct lines_job {
	const void *items;
	size_t count;
	line_writer *line;
};

static int fill_lines(int fd, void *ctx)
{
	struct lines_job *job = ctx;
	return write_lines(fd, job->items, job->count, job->line);
}

static int write_file(const struct state *state, const char *path,
	file_filler *fill, void *ctx, struct diag *d);

static int write_table(const struct state *state, const char *path,
	const void *items, size_t count, line_writer *line, struct diag *d)
{
	struct lines_job job = {items, count, line};
	return write_file(state, path, fill_lines, &job, d);
}

static int write_file(const struct state *state, const char *path,
	file_filler *fill, void *ctx, struct diag *d)
{
	char buf[512];
	const char *what = "cannot create a temporary file";
	int err;
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		err = ENOMEM;
		goto err_report;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		goto err_report;
	}
	what = "cannot write";
	/* mkstemp makes 0600; the files hold nothing secret and admins
	 * want to read them. Done before fsync so the mode is durable too. */
	if (fchmod(fd, 0644) < 0 || fill(fd, ctx) < 0 || fsync(fd) < 0) {
		err = errno;
		close(fd);
		goto err_unlink;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		err = errno;
		goto err_unlink;
	}
	free(tmp);

	/* EINVAL: the file system cannot sync directories; nothing to do. */
	int dfd = open(state->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (fsync(dfd) < 0 && errno != EINVAL)) {
		err = errno;
		if (dfd >= 0)
			close(dfd);
		diag_add(d, DIAG_ERROR, NULL, 0, "state-write",
			"%s: written, but cannot sync %s: %s — %s", path,
			state->dir, strerror(err),
			fix_for(err, state->dir, buf, sizeof(buf)));
		return -1;
	}
	close(dfd);
	return 0;

err_unlink:
	unlink(tmp);
err_report:
	free(tmp);
	diag_add(d, DIAG_ERROR, NULL, 0, "state-write",
		"%s: %s: %s — %s", path, what, strerror(err),
		fix_for(err, state->dir, buf, sizeof(buf)));
	return -1;
}

static struct state *open_state(const char *dir, bool read_served,
	struct diag *d);

struct state *state_open(const char *dir, struct diag *d)
{
	return open_state(dir, true, d);
}

struct state *state_open_for_serving(const char *dir, struct diag *d)
{
	return open_state(dir, false, d);
}

#define IDS_FIX "delete the file; mta-stsd will assign new ids"

static void report_no_memory(struct diag *d, const char *dir)
{
	diag_add(d, DIAG_ERROR, NULL, 0, "state-memory",
		"%s: out of memory opening the state — free memory and start "
		"again", dir);
}

/* A state of dir with nothing read yet; NULL (d says why). */
static struct state *new_state(const char *dir, struct diag *d)
{
	if (!dir || !*dir) {
		diag_add(d, DIAG_ERROR, NULL, 0, "state-directory",
			"no state directory — set state_directory");
		return NULL;
	}
	struct state *state = calloc(1, sizeof(*state));
	if (state) {
		state->dir = strdup(dir);
		state->ids_path = text_path_join(dir, "ids");
		state->served_path = text_path_join(dir, "served");
		if (state->dir && state->ids_path && state->served_path)
			return state;
	}
	report_no_memory(d, dir);
	state_destroy(state);
	return NULL;
}

static struct state *open_state(const char *dir, bool read_served,
	struct diag *d)
{
	struct state *state = new_state(dir, d);
	if (!state)
		return NULL;
	state->keeps_served = read_served;
	int rc = read_table(state->ids_path, dir, &state->ids, IDS_FIX, d);
	if (read_served && read_table(state->served_path, dir,
			&state->served, "delete the file; mta-stsd writes it "
			"again when it next loads its configuration", d) < 0)
		rc = -1;
	if (rc < 0) {
		state_destroy(state);
		return NULL;
	}
	return state;
}

/* ------------------------------------------------------------------ */
/* A reload's few domains                                             */
/*
 * A reload assigns ids only to the domains that changed, a few among
 * 100,000. Reading the whole ids file for them was 14 MB and 20 to 40 ms
 * of every reload, and writing it back as much again: instead the file is
 * read a piece at a time, only the lines of those domains are parsed and
 * kept, and saving copies every other line from the file as it is.
 */

/* A file read a line at a time through a buffer of PIECE_SIZE bytes. */
struct line_reader {
	int fd;
	char *buf;		/* PIECE_SIZE and a spare byte */
	size_t len;		/* bytes in buf */
	size_t pos;		/* where the next line starts */
	bool eof;
};

/*
 * line_next sets *line to the next line of r and *len to its length,
 * without its newline and NUL-terminated in place: 1, 0 at the end, or
 * -1 with errno set (EFBIG for a line longer than the buffer).
 */
static int line_next(struct line_reader *r, char **line, size_t *len)
{
	for (;;) {
		char *start = r->buf + r->pos;
		char *nl = memchr(start, '\n', r->len - r->pos);
		if (nl || (r->eof && r->pos < r->len)) {
			char *end = nl ? nl : r->buf + r->len;
			*end = '\0';
			*line = start;
			*len = (size_t)(end - start);
			r->pos = (size_t)(end - r->buf) + (nl ? 1 : 0);
			return 1;
		}
		if (r->eof)
			return 0;
		/* Keep the start of a line, read the rest after it. */
		memmove(r->buf, start, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
		if (r->len == PIECE_SIZE) {
			errno = EFBIG;
			return -1;
		}
		ssize_t n = read(r->fd, r->buf + r->len, PIECE_SIZE - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		r->eof = n == 0;
		r->len += (size_t)n;
	}
}

/* The length of the domain of a state line: up to its first space. */
static size_t line_domain_len(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	return sp ? (size_t)(sp - line) : len;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is the first n bytes of line one of names (count, sorted)? */
static bool is_wanted(const char *line, size_t n, const char *const *names,
	size_t count)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(names[mid], line, n);
		if (c == 0) {
			/* Longer sorts after; shorter means a NUL in line. */
			size_t len = strnlen(names[mid], n + 1);
			c = len > n ? 1 : len < n ? -1 : 0;
		}
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * read_wanted fills t, empty, with the records of names (count, sorted)
 * in path, each parsed and checked as read_table does; other lines are
 * not parsed. 1, 0 when a line is longer than the buffer (read_table
 * then reads the file and reports it), or -1 (d says why).
 */
static int read_wanted(const char *path, const char *dir, struct table *t,
	const char *const *names, size_t count, struct diag *d)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 1;
	struct line_reader r = {fd, fd < 0 ? NULL : malloc(PIECE_SIZE + 1),
		0, 0, false};
	int err = fd < 0 ? errno : !r.buf ? ENOMEM : 0;
	int rc = 1, got = 0;
	unsigned lineno = 0;
	char *line;
	size_t len;
	while (!err && (got = line_next(&r, &line, &len)) > 0) {
		lineno++;
		if (len == 0 || line[0] == '#' ||
				!is_wanted(line, line_domain_len(line, len),
					names, count))
			continue;
		struct state_record rec;
		size_t pos;
		if (parse_line(line, len, &rec, path, lineno, IDS_FIX,
				d) < 0) {
			rc = -1;
		} else if (search(t, rec.domain, &pos)) {
			diag_add(d, DIAG_ERROR, path, lineno, "state-malformed",
				"malformed line: %s is listed twice — %s",
				rec.domain, IDS_FIX);
			rc = -1;
		} else {
			struct state_record *kept = added_new(t, rec.domain);
			if (!kept || append(t, kept) < 0)
				err = ENOMEM;
			else
				record_set(kept, rec.id, rec.digest, rec.time);
		}
	}
	if (!err && got < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	free(r.buf);
	if (err == EFBIG) {
		table_finish(t);
		return 0;
	}
	if (err) {
		report_unreadable(d, path, dir, err);
		return -1;
	}
	return rc;
}

struct state *state_open_for_domains(const char *dir,
	const char *const *domains, size_t count, struct diag *d)
{
	struct state *state = new_state(dir, d);
	if (!state || count == 0) {
		if (state)
			state->partial = true;	/* nothing to read */
		return state;
	}
	const char **names = malloc(count * sizeof(*names));
	int rc = -1;
	if (names) {
		memcpy(names, domains, count * sizeof(*names));
		qsort(names, count, sizeof(*names), name_cmp);
		rc = read_wanted(state->ids_path, dir, &state->ids,
			(const char *const *)names, count, d);
		free(names);
		state->partial = rc > 0;
	} else {
		report_no_memory(d, dir);
	}
	if (rc == 0)
		rc = read_table(state->ids_path, dir, &state->ids, IDS_FIX,
			d);
	if (rc < 0) {
		state_destroy(state);
		return NULL;
	}
	return state;
}

struct merge_job {
	const struct table *ids;	/* sorted */
	int in;				/* the ids file as it was, or -1 */
};

/*
 * fill_merged writes the ids file anew: its header, every line of the
 * file as it was except those of domains the table holds, and the
 * table's records, each where it sorts (a file this daemon wrote is
 * sorted; one that is not keeps its lines, each written once).
 */
static int fill_merged(int fd, void *ctx)
{
	struct merge_job *job = ctx;
	const struct table *t = job->ids;
	struct out_buf o;
	if (!out_start(&o, fd))
		return -1;
	struct line_reader r = {job->in, malloc(PIECE_SIZE + 1), 0, 0,
		job->in < 0};
	int rc = -1, got;
	size_t next = 0;
	char *line;
	size_t len;
	if (!r.buf) {
		errno = ENOMEM;
		goto out;
	}
	while ((got = line_next(&r, &line, &len)) > 0) {
		if (len == 0 || line[0] == '#')
			continue;
		size_t n = line_domain_len(line, len);
		char cut = line[n];
		line[n] = '\0';
		size_t pos;
		bool replaced = search(t, line, &pos);
		while (next < t->len && strcmp(t->items[next]->domain,
				line) < 0)
			if (out_record(&o, t->items[next++]) < 0)
				goto out;
		line[n] = cut;
		if (replaced)
			continue;
		if (out_line(&o, line, len) < 0)
			goto out;
	}
	if (got < 0) {
		if (errno == EFBIG)
			errno = EINVAL;	/* changed since it was read */
		goto out;
	}
	while (next < t->len)
		if (out_record(&o, t->items[next++]) < 0)
			goto out;
	rc = out_flush(&o);
out:
	free(o.buf);
	free(r.buf);
	return rc;
}

/* state_save_ids for state_open_for_domains: merged into the file. */
static int save_merged(struct state *state, struct diag *d)
{
	int in = open(state->ids_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (in < 0 && errno != ENOENT) {
		report_unreadable(d, state->ids_path, state->dir, errno);
		return -1;
	}
	struct merge_job job = {&state->ids, in};
	int rc = write_file(state, state->ids_path, fill_merged, &job, d);
	if (in >= 0)
		close(in);
	return rc;
}

void state_destroy(struct state *state)
{
	if (!state)
		return;
	table_finish(&state->ids);
	table_finish(&state->served);
	free(state->dir);
	free(state->ids_path);
	free(state->served_path);
	free(state);
}

const char *state_directory(const struct state *state)
{
	return state->dir;
}

static const struct state_record *find(const struct table *t,
	const char *domain)
{
	size_t pos;
	if (!domain || !search(t, domain, &pos))
		return NULL;
	return t->items[pos];
}

const struct state_record *state_find_id(const struct state *state,
	const char *domain)
{
	return find(&state->ids, domain);
}

const struct state_record *state_find_served(const struct state *state,
	const char *domain)
{
	return find(&state->served, domain);
}

/*
 * put stores (domain, id, digest, now) in the ids table: in the record at
 * pos when found, else in a new one.
 */
static int put(struct state *state, size_t pos, bool found,
	const char *domain, const char *id, const char *digest, time_t now)
{
	struct state_record *r = found ? state->ids.items[pos] :
		added_new(&state->ids, domain);
	if (!r)
		return -1;
	record_set(r, id, digest, (int64_t)now);
	/* A record not appended stays in added, freed with the table. */
	if (!found && append(&state->ids, r) < 0)
		return -1;
	state->dirty = true;
	return 0;
}

void state_managed_id(const char *digest, char out[TXT_ID_MAX + 1])
{
	/* 32 hex digits are 128 bits of SHA-256: no two policies of one
	 * domain meet, and 32 is the most RFC 8461 §3.1 allows. */
	for (size_t i = 0; i < TXT_ID_MAX; i++)
		out[i] = lower_hex(digest[i]);
	out[TXT_ID_MAX] = '\0';
}

/*
 * state_assign_id: an explicit id is the admin's promise to change it with
 * the policy (RFC 8461 §3.1: the id identifies one policy instance). When
 * the policy changes under the same id, the stored digest is deliberately
 * kept, so the warning repeats on every load until the id changes.
 */
int state_assign_id(struct state *state, const char *domain,
	const char *explicit_id, const char *digest, time_t now,
	char out[TXT_ID_MAX + 1], struct diag *d, const char *file,
	unsigned line)
{
	if (!domain_is_storable(domain)) {
		diag_add(d, DIAG_ERROR, file, line, "state-domain",
			"domain \"%s\" cannot be stored: it is empty, too long "
			"or holds spaces or control bytes — fix the domain name",
			domain);
		return -1;
	}
	if (!digest_is_valid(digest)) {
		diag_add(d, DIAG_ERROR, file, line, "state-digest",
			"%s: the policy digest is not 64 hex digits — this is a "
			"bug in mta-stsd: please report it", domain);
		return -1;
	}
	if (explicit_id && !txt_id_is_valid(explicit_id)) {
		diag_add(d, DIAG_ERROR, file, line, "state-id",
			"%s: id \"%s\" is not 1 to 32 letters and digits — fix "
			"it (RFC 8461 §3.1), or drop it to let mta-stsd assign "
			"ids", domain, explicit_id);
		return -1;
	}

	size_t pos = 0;
	bool found = search(&state->ids, domain, &pos);
	const struct state_record *r = found ? state->ids.items[pos] : NULL;
	if (explicit_id) {
		if (r && strcmp(r->id, explicit_id) == 0) {
			if (!digest_equal(r->digest, digest))
				diag_add(d, DIAG_WARNING, file, line,
					"state-id-unchanged",
					"%s: the policy changed but its id %s "
					"did not — senders that cached the old "
					"policy keep using it until max_age "
					"runs out: set a new id (mta-stsd txt "
					"--bump prints one) and publish it in "
					"DNS", domain, explicit_id);
		} else if (put(state, pos, found, domain, explicit_id, digest,
			now) < 0) {
			goto err_memory;
		}
		memcpy(out, explicit_id, strlen(explicit_id) + 1);
		return 0;
	}

	char id[TXT_ID_MAX + 1];
	state_managed_id(digest, id);
	if (r && digest_equal(r->digest, digest) && strcmp(r->id, id) != 0)
		diag_add(d, DIAG_NOTE, file, line, "state-id-derived",
			"%s: the policy is unchanged, but its managed id is now "
			"%s, derived from the policy, instead of the stored %s "
			"(so that every replica agrees) — publish \"v=STSv1; "
			"id=%s\" when convenient: senders that hold the policy "
			"keep it either way", domain, id, r->id, id);
	if (!(r && strcmp(r->id, id) == 0 && digest_equal(r->digest, digest)) &&
			put(state, pos, found, domain, id, digest, now) < 0)
		goto err_memory;
	memcpy(out, id, sizeof(id));
	return 0;

err_memory:
	diag_add(d, DIAG_ERROR, file, line, "state-memory",
		"%s: out of memory assigning an id — free memory and try "
		"again", domain);
	return -1;
}

bool state_ids_dirty(const struct state *state)
{
	return state->dirty;
}

int state_save_ids(struct state *state, struct diag *d)
{
	if (!state->dirty)
		return 0;
	if (settle(&state->ids) < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, "state-memory",
			"%s: out of memory — free memory and reload",
			state->ids_path);
		return -1;
	}
	if (state->partial ? save_merged(state, d) < 0 :
			write_table(state, state->ids_path, state->ids.items,
				state->ids.len, record_line, d) < 0)
		return -1;
	state->dirty = false;
	return 0;
}

/*
 * table_copy fills t, empty, with copies of the served records (count, in
 * order): three allocations. 0 or -1 (no memory; t is then for
 * table_finish).
 */
static int table_copy(struct table *t,
	const struct state_served *const *records, size_t count)
{
	size_t size = 1;
	for (size_t i = 0; i < count; i++)
		size += strlen(records[i]->domain) + 1;
	t->block = malloc((count ? count : 1) * sizeof(*t->block));
	t->items = malloc((count ? count : 1) * sizeof(*t->items));
	t->text = malloc(size);
	if (!t->block || !t->items || !t->text)
		return -1;
	char *text = t->text;
	for (size_t i = 0; i < count; i++) {
		size_t n = strlen(records[i]->domain) + 1;
		t->block[i].domain = memcpy(text, records[i]->domain, n);
		record_set(&t->block[i], records[i]->id, records[i]->digest,
			records[i]->time);
		text += n;
		t->items[i] = &t->block[i];
	}
	t->len = t->cap = t->sorted = count;
	return 0;
}

/*
 * state_save_served checks every record before writing, since one bad
 * domain or id would make the file unreadable at the next start. The
 * records are sorted through an array of pointers to them, so nothing is
 * copied unless the state keeps what it wrote (state_open).
 */
static int served_cmp(const void *a, const void *b)
{
	const struct state_served *const *x = a, *const *y = b;
	return strcmp((*x)->domain, (*y)->domain);
}

int state_save_served(struct state *state, const struct state_served *records,
	size_t count, struct diag *d)
{
	struct table kept = {0};
	for (size_t i = 0; i < count; i++) {
		const struct state_served *in = &records[i];
		bool digest_ok = in->digest && digest_is_valid(in->digest);
		if (!in->domain || !in->id || !domain_is_storable(in->domain) ||
			!id_is_valid(in->id, in->digest, digest_ok) ||
			!digest_ok || in->time < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, "state-served",
				"%s: served record %zu for \"%s\" is invalid — "
				"this is a bug in mta-stsd: please report it",
				state->served_path, i,
				in->domain ? in->domain : "(null)");
			return -1;
		}
	}
	const struct state_served **order = malloc((count ? count : 1) *
		sizeof(*order));
	if (!order)
		goto err_memory;
	/* The configuration's order is often sorted already. */
	bool sorted = true;
	for (size_t i = 0; i < count; i++) {
		order[i] = &records[i];
		if (sorted && i > 0 && strcmp(records[i - 1].domain,
				records[i].domain) >= 0)
			sorted = false;
	}
	if (!sorted) {
		qsort(order, count, sizeof(*order), served_cmp);
		for (size_t i = 1; i < count; i++) {
			if (!strcmp(order[i - 1]->domain, order[i]->domain)) {
				diag_add(d, DIAG_ERROR, NULL, 0, "state-served",
					"%s: %s is served twice — this is a bug "
					"in mta-stsd: please report it",
					state->served_path, order[i]->domain);
				goto err_order;
			}
		}
	}
	if (state->keeps_served && table_copy(&kept, order, count) < 0)
		goto err_memory;
	if (write_table(state, state->served_path, order, count, served_line,
			d) < 0)
		goto err_order;
	table_finish(&state->served);
	state->served = kept;
	free(order);
	return 0;

err_memory:
	diag_add(d, DIAG_ERROR, NULL, 0, "state-memory",
		"%s: out of memory — free memory and reload",
		state->served_path);
err_order:
	table_finish(&kept);
	free(order);
	return -1;
}

#define RUNNING_FILE "running"

int state_mark_running(const char *dir, struct diag *d)
{
	char *path = text_path_join(dir, RUNNING_FILE);
	if (!path) {
		diag_add(d, DIAG_WARNING, NULL, 0, "state-memory",
			"out of memory marking the daemon as running");
		return -1;
	}
	/* Read-only: a file open for writing would keep the file system
	 * from being remounted read-only. */
	int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	/* Whoever may read the state directory may ask for the lock
	 * (`txt`, `status`), whatever the service's UMask made of it. */
	if (fd >= 0)
		(void)fchmod(fd, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		if (err == EWOULDBLOCK)
			diag_add(d, DIAG_WARNING, NULL, 0, "state-running",
				"%s: another mta-stsd already runs on this state "
				"directory — give each instance its own "
				"state_directory", path);
		else
			diag_add(d, DIAG_WARNING, NULL, 0, "state-running",
				"%s: cannot mark the daemon as running: %s — "
				"`mta-stsd txt` cannot tell whether it runs; make "
				"the state directory writable by the service "
				"user", path, strerror(err));
		if (fd >= 0)
			close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

enum state_daemon state_daemon_status(const char *dir)
{
	char *path = text_path_join(dir, RUNNING_FILE);
	if (!path)
		return STATE_DAEMON_UNKNOWN;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int err = errno;
	free(path);
	if (fd < 0)
		return err == ENOENT || err == ENOTDIR ? STATE_DAEMON_NEVER :
			STATE_DAEMON_UNKNOWN;
	enum state_daemon status = STATE_DAEMON_STOPPED;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		status = errno == EWOULDBLOCK ? STATE_DAEMON_RUNNING :
			STATE_DAEMON_UNKNOWN;
	close(fd);
	return status;
}
