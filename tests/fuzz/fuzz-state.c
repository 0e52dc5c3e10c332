/* SPDX-License-Identifier: MIT */
/*
 * The ids file of the state directory, any bytes: read whole
 * (state_open_for_serving, as a start does) and read for a few domains
 * (state_open_for_domains, as a reload does), then one id assigned and the
 * file merged back (state_save_ids). What the whole read accepts, the
 * reload's read accepts and finds the same records in; after the merge the
 * file still reads whole, with the new record and every other line's
 * record as it was.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <unistd.h>

#include "config/state.h"
#include "util/diag.h"

#define NOW ((time_t)1781222400)
#define NEW_DOMAIN "fuzz.example"
#define NEW_DIGEST "0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

static char dir[] = "/tmp/fuzz-state-XXXXXX";
static char *ids_path;

/* The directory goes when the fuzzer exits (atexit). */
static void remove_dir(void)
{
	unlink(ids_path);
	rmdir(dir);
}

static void write_ids(const uint8_t *data, size_t size)
{
	int fd = open(ids_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		0600);
	FUZZ_CHECK(fd >= 0);
	for (size_t done = 0; done < size; ) {
		ssize_t n = write(fd, data + done, size - done);
		FUZZ_CHECK(n > 0);
		done += (size_t)n;
	}
	FUZZ_CHECK(close(fd) == 0);
}

static bool same_record(const struct state_record *a,
	const struct state_record *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a->domain, b->domain) && !strcmp(a->id, b->id) &&
		!strcmp(a->digest, b->digest) && a->time == b->time;
}

/* The domain of the first line that is neither empty nor a comment. */
static char *first_domain(const char *text)
{
	for (const char *p = text; *p; ) {
		size_t n = strcspn(p, "\n");
		if (n > 0 && p[0] != '#') {
			size_t len = strcspn(p, " \n");
			char *name = malloc(len + 1);
			FUZZ_CHECK(name != NULL);
			memcpy(name, p, len);
			name[len] = '\0';
			return name;
		}
		p += n + (p[n] == '\n');
	}
	return NULL;
}

/* Every line's record in before is in after the same, but for skip. */
static void check_lines_kept(const char *text, const struct state *before,
	const struct state *after, const char *skip)
{
	for (const char *p = text; *p; ) {
		size_t n = strcspn(p, "\n");
		size_t len = strcspn(p, " \n");
		char *name = malloc(len + 1);
		FUZZ_CHECK(name != NULL);
		memcpy(name, p, len);
		name[len] = '\0';
		if (strcmp(name, NEW_DOMAIN) && (!skip || strcmp(name, skip)))
			FUZZ_CHECK(same_record(state_find_id(before, name),
				state_find_id(after, name)));
		free(name);
		p += n + (p[n] == '\n');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ids_path) {
		FUZZ_CHECK(mkdtemp(dir) != NULL);
		ids_path = malloc(sizeof(dir) + 4);
		FUZZ_CHECK(ids_path != NULL);
		snprintf(ids_path, sizeof(dir) + 4, "%s/ids", dir);
		atexit(remove_dir);
	}
	write_ids(data, size);
	/* The lines as a C string: a NUL ends what is compared below. */
	char *text = fuzz_strndup(data, size);
	char *first = first_domain(text);

	struct diag d = {0};
	struct state *whole = state_open_for_serving(dir, &d);
	FUZZ_CHECK(!whole == (d.errors > 0));
	diag_finish(&d);

	const char *names[] = {NEW_DOMAIN, first};
	size_t count = first ? 2 : 1;
	diag_init(&d);
	struct state *some = state_open_for_domains(dir, names, count, &d);
	FUZZ_CHECK(!some == (d.errors > 0));
	diag_finish(&d);
	if (whole)
		FUZZ_CHECK(some != NULL);
	if (whole && some) {
		for (size_t i = 0; i < count; i++)
			FUZZ_CHECK(same_record(state_find_id(whole, names[i]),
				state_find_id(some, names[i])));

		char id[TXT_ID_MAX + 1];
		diag_init(&d);
		FUZZ_CHECK(state_assign_id(some, NEW_DOMAIN, NULL, NEW_DIGEST,
			NOW, id, &d, "fuzz.conf", 1) == 0);
		FUZZ_CHECK(state_save_ids(some, &d) == 0);
		diag_finish(&d);

		diag_init(&d);
		struct state *after = state_open_for_serving(dir, &d);
		FUZZ_CHECK(after != NULL);
		diag_finish(&d);
		const struct state_record *r = state_find_id(after, NEW_DOMAIN);
		FUZZ_CHECK(r && !strcmp(r->id, id) &&
			!strcmp(r->digest, NEW_DIGEST) && r->time == NOW);
		check_lines_kept(text, whole, after, NULL);
		state_destroy(after);
	}
	state_destroy(whole);
	state_destroy(some);
	free(first);
	free(text);
	return 0;
}
