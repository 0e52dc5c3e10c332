/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
 */

#define STATE_HEADER "# mta-stsd state, do not edit\n"
#define DIGEST_LEN 64

struct table {
	struct state_record **items;	/* each owned */
	size_t len;
	size_t cap;
	size_t sorted;			/* items[0, sorted) are in order */
	size_t tail_max;		/* merge the tail when it grows past */
};

struct state {
	char *dir;
	char *ids_path;
	char *served_path;
	struct table ids;
	struct table served;
	bool dirty;
};

static void record_free(struct state_record *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r);
}

static void table_finish(struct table *t)
{
	for (size_t i = 0; i < t->len; i++)
		record_free(t->items[i]);
	free(t->items);
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

/*
 * append adds r (not in the table) to the tail, merging it in when it is
 * long, unless batch is set: the caller searches nothing until it settles
 * the table itself. 0 or -1 (no memory).
 */
static int append(struct table *t, struct state_record *r, bool batch)
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
	bool ordered = t->sorted == t->len && (t->len == 0 ||
		strcmp(t->items[t->len - 1]->domain, r->domain) < 0);
	t->items[t->len++] = r;
	if (ordered)
		t->sorted = t->len;
	else if (!batch && t->len - t->sorted >
			(t->tail_max ? t->tail_max : 64))
		(void)settle(t);	/* if not now, later: a long tail works */
	return 0;
}

static struct state_record *record_new(const char *domain, const char *id,
	const char *digest, int64_t time)
{
	struct state_record *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->domain = strdup(domain);
	if (!r->domain) {
		free(r);
		return NULL;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	/* Lower-case so digests compare as strings. */
	for (size_t i = 0; i < DIGEST_LEN; i++)
		r->digest[i] = (char)(digest[i] | (digest[i] >= 'A' ? 0x20 : 0));
	r->digest[DIGEST_LEN] = '\0';
	r->time = time;
	return r;
}

/*
 * A domain goes into a space-separated line, so it must hold no space or
 * control byte; anything stricter is dnsname's job in config.
 */
static bool domain_is_storable(const char *domain)
{
	size_t n = 0;
	for (; domain[n]; n++) {
		unsigned char c = (unsigned char)domain[n];
		if (c <= 0x20 || c >= 0x7f || n >= 253)
			return false;
	}
	return n > 0;
}

static bool digest_is_valid(const char *digest)
{
	size_t n = 0;
	for (; digest[n]; n++) {
		char c = digest[n];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			(c >= 'A' && c <= 'F');
		if (!hex || n >= DIGEST_LEN)
			return false;
	}
	return n == DIGEST_LEN;
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
	default:
		snprintf(buf, size, "check %s and the file system under it",
			dir);
		break;
	}
	return buf;
}

/*
 * parse_line reads "domain id digest time" into a new record, or reports
 * why it cannot at path:lineno.
 */
static struct state_record *parse_line(char *line, size_t len,
	const char *path, unsigned lineno, const char *fix, struct diag *d)
{
	const char *why = NULL;
	char *field[4] = {0};
	size_t nf = 0;
	if (strlen(line) != len) {
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
	if (!txt_id_is_valid(field[1])) {
		why = "the id is not 1 to 32 letters and digits";
		goto bad;
	}
	if (!digest_is_valid(field[2])) {
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
	struct state_record *r = record_new(field[0], field[1], field[2], t);
	if (!r)
		diag_add(d, DIAG_ERROR, path, lineno, "state-memory",
			"out of memory reading the state — free memory and "
			"start again");
	return r;
bad:
	diag_add(d, DIAG_ERROR, path, lineno, "state-malformed",
		"malformed line: %s — %s", why, fix);
	return NULL;
}

/*
 * read_table loads path into t. A missing file (or directory) is an empty
 * table; every bad line is reported before giving up, so one run shows
 * them all.
 */
static int read_table(const char *path, const char *dir, struct table *t,
	const char *fix, struct diag *d)
{
	char buf[512];
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		int err = errno;
		diag_add(d, DIAG_ERROR, NULL, 0, "state-read",
			"%s: cannot read: %s — %s", path, strerror(err),
			fix_for(err, dir, buf, sizeof(buf)));
		return -1;
	}
	int rc = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		size_t len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		struct state_record *r = parse_line(line, len, path, lineno,
			fix, d);
		if (!r) {
			rc = -1;
			continue;
		}
		size_t pos;
		if (search(t, r->domain, &pos)) {
			diag_add(d, DIAG_ERROR, path, lineno, "state-malformed",
				"malformed line: %s is listed twice — %s",
				r->domain, fix);
			record_free(r);
			rc = -1;
			continue;
		}
		if (append(t, r, false) < 0) {
			diag_add(d, DIAG_ERROR, path, lineno, "state-memory",
				"out of memory reading the state — free memory "
				"and start again");
			rc = -1;
			break;
		}
	}
	if (ferror(f)) {
		int err = errno;
		diag_add(d, DIAG_ERROR, NULL, 0, "state-read",
			"%s: cannot read: %s — %s", path, strerror(err),
			fix_for(err, dir, buf, sizeof(buf)));
		rc = -1;
	}
	free(line);
	fclose(f);
	return rc;
}

/*
 * write_table replaces path atomically: a temporary file in the same
 * directory (so rename cannot cross file systems), flushed to disk before
 * the rename, then the directory synced so the new name survives a crash.
 * On failure the temporary file is removed and the old file is untouched.
 */
static int write_table(const struct state *state, const char *path,
	const struct table *t, struct diag *d)
{
	char buf[512];
	const char *what = "cannot create a temporary file";
	int err;
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		err = ENOMEM;
		goto err_report;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		goto err_report;
	}
	what = "cannot write";
	FILE *f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		goto err_unlink;
	}
	/* mkstemp makes 0600; the files hold nothing secret and admins
	 * want to read them. Done before fsync so the mode is durable too. */
	if (fchmod(fd, 0644) < 0 || fputs(STATE_HEADER, f) == EOF)
		goto err_file;
	for (size_t i = 0; i < t->len; i++) {
		const struct state_record *r = t->items[i];
		if (fprintf(f, "%s %s %s %" PRId64 "\n", r->domain, r->id,
			r->digest, r->time) < 0)
			goto err_file;
	}
	if (fflush(f) == EOF || fsync(fd) < 0)
		goto err_file;
	if (fclose(f) == EOF) {
		err = errno;
		goto err_unlink;
	}
	if (rename(tmp, path) < 0) {
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

err_file:
	err = errno;
	fclose(f);
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

static struct state *open_state(const char *dir, bool read_served,
	struct diag *d)
{
	if (!dir || !*dir) {
		diag_add(d, DIAG_ERROR, NULL, 0, "state-directory",
			"no state directory — set state_directory");
		return NULL;
	}
	struct state *state = calloc(1, sizeof(*state));
	if (!state)
		goto err_memory;
	state->dir = strdup(dir);
	state->ids_path = text_path_join(dir, "ids");
	state->served_path = text_path_join(dir, "served");
	if (!state->dir || !state->ids_path || !state->served_path)
		goto err_memory;

	int rc = read_table(state->ids_path, dir, &state->ids,
		"delete the file; mta-stsd will assign new ids", d);
	if (read_served && read_table(state->served_path, dir,
			&state->served, "delete the file; mta-stsd writes it "
			"again when it next loads its configuration", d) < 0)
		rc = -1;
	if (rc < 0) {
		state_destroy(state);
		return NULL;
	}
	return state;

err_memory:
	diag_add(d, DIAG_ERROR, NULL, 0, "state-memory",
		"%s: out of memory opening the state — free memory and start "
		"again", dir);
	state_destroy(state);
	return NULL;
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
 * put stores (domain, id, digest, now) in the ids table, replacing the
 * record at pos when found.
 */
static int put(struct state *state, size_t pos, bool found,
	const char *domain, const char *id, const char *digest, time_t now)
{
	struct state_record *r = record_new(domain, id, digest, (int64_t)now);
	if (!r)
		return -1;
	if (found) {
		record_free(state->ids.items[pos]);
		state->ids.items[pos] = r;
	} else if (append(&state->ids, r, false) < 0) {
		return -1;
	}
	state->dirty = true;
	return 0;
}

void state_managed_id(const char *digest, char out[TXT_ID_MAX + 1])
{
	/* 32 hex digits are 128 bits of SHA-256: no two policies of one
	 * domain meet, and 32 is the most RFC 8461 §3.1 allows. */
	for (size_t i = 0; i < TXT_ID_MAX; i++)
		out[i] = (char)(digest[i] | (digest[i] >= 'A' ? 0x20 : 0));
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
	if (write_table(state, state->ids_path, &state->ids, d) < 0)
		return -1;
	state->dirty = false;
	return 0;
}

/*
 * state_save_served checks every record before writing, since one bad
 * domain or id would make the file unreadable at the next start.
 */
int state_save_served(struct state *state, const struct state_record *records,
	size_t count, struct diag *d)
{
	struct table t = {0};
	for (size_t i = 0; i < count; i++) {
		const struct state_record *in = &records[i];
		if (!in->domain || !domain_is_storable(in->domain) ||
			!txt_id_is_valid(in->id) ||
			!digest_is_valid(in->digest) || in->time < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, "state-served",
				"%s: served record %zu for \"%s\" is invalid — "
				"this is a bug in mta-stsd: please report it",
				state->served_path, i,
				in->domain ? in->domain : "(null)");
			goto err_table;
		}
		struct state_record *r = record_new(in->domain, in->id,
			in->digest, in->time);
		if (!r || append(&t, r, true) < 0) {
			record_free(r);
			diag_add(d, DIAG_ERROR, NULL, 0, "state-memory",
				"%s: out of memory — free memory and reload",
				state->served_path);
			goto err_table;
		}
	}
	if (settle(&t) < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, "state-memory",
			"%s: out of memory — free memory and reload",
			state->served_path);
		goto err_table;
	}
	for (size_t i = 1; i < t.len; i++) {
		if (!strcmp(t.items[i - 1]->domain, t.items[i]->domain)) {
			diag_add(d, DIAG_ERROR, NULL, 0, "state-served",
				"%s: %s is served twice — this is a bug in "
				"mta-stsd: please report it",
				state->served_path, t.items[i]->domain);
			goto err_table;
		}
	}
	if (write_table(state, state->served_path, &t, d) < 0)
		goto err_table;
	table_finish(&state->served);
	state->served = t;
	return 0;

err_table:
	table_finish(&t);
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
