/* SPDX-License-Identifier: MIT */
/*
 * The only libconfig user: turns mta-stsd.conf into a struct config of plain
 * C types. Every problem goes to a diag list at the file and line of the
 * offending setting (the included file when it comes from an @include), and
 * loading keeps going so one run reports everything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/loader.h"
#include "core/dnsname.h"
#include "tls/digest.h"
#include "util/clock.h"
#include "util/diag.h"
#include "util/parallel.h"
#include "util/text.h"

void loader_layer_finish(struct layer *layer)
{
	free(layer->mx);
	*layer = (struct layer){0};
}

static void loader_finish(struct loader *ld)
{
	for (size_t i = 0; i < ld->source_count; i++) {
		free(ld->sources[i].path);
		free(ld->sources[i].dir);
	}
	free(ld->sources);
	for (size_t i = 0; i < ld->template_count; i++)
		loader_layer_finish(&ld->templates[i].layer);
	free(ld->templates);
	loader_layer_finish(&ld->builtin_layer);
	loader_layer_finish(&ld->defaults_layer);
	if (ld->builtin_cfg_live)
		config_destroy(&ld->builtin_cfg);
	free(ld->places);
	free(ld->main_dir);
	free(ld->abs_prefix);
	free(ld->real_of);
	free(ld->real_dir);
}

void loader_nomem(struct loader *ld)
{
	if (ld->oom)
		return;
	ld->oom = true;
	diag_add(ld->d, DIAG_ERROR, ld->name, 0, "config-out-of-memory",
		"out of memory while loading the configuration — free memory "
		"and try again");
}

/* The directory part of path, or NULL when path has none. */
char *loader_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* path as is when absolute or dir is NULL, else dir/path. */
char *loader_resolve_path(const char *path, const char *dir)
{
	if (path[0] == '/' || !dir)
		return strdup(path);
	return text_path_join(dir, path);
}

/*
 * origin_of maps libconfig's name for a file to the name shown in
 * diagnostics. libconfig records @include names as written, relative to
 * the include directory (the main file's directory), so they are joined
 * with it. Settings arrive in file order, hence the one-entry cache.
 */
struct origin loader_origin(struct loader *ld, const char *raw)
{
	if (!raw || raw == ld->main_raw)
		return (struct origin){ ld->name, ld->main_dir };
	if (ld->last_source < ld->source_count &&
			ld->sources[ld->last_source].raw == raw) {
		struct source *s = &ld->sources[ld->last_source];
		return (struct origin){ s->path, s->dir };
	}
	for (size_t i = 0; i < ld->source_count; i++) {
		if (ld->sources[i].raw == raw) {
			ld->last_source = i;
			return (struct origin){ ld->sources[i].path,
				ld->sources[i].dir };
		}
	}

	if (ld->source_count == ld->source_cap) {
		size_t cap = ld->source_cap ? ld->source_cap * 2 : 8;
		struct source *grown = realloc(ld->sources,
			cap * sizeof(*grown));
		if (!grown) {
			loader_nomem(ld);
			return (struct origin){ raw, NULL };
		}
		ld->sources = grown;
		ld->source_cap = cap;
	}
	struct source *s = &ld->sources[ld->source_count];
	s->raw = raw;
	s->path = loader_source_path(ld, raw);
	s->dir = s->path ? loader_dir_of(s->path) : NULL;
	if (!s->path) {
		loader_nomem(ld);
		return (struct origin){ raw, NULL };
	}
	ld->last_source = ld->source_count++;
	return (struct origin){ s->path, s->dir };
}

char *loader_source_path(const struct loader *ld, const char *raw)
{
	size_t n = ld->abs_prefix ? strlen(ld->abs_prefix) : 0;
	if (n && !strncmp(raw, ld->abs_prefix, n))
		return text_path_join("/", raw + n);
	return loader_resolve_path(raw, ld->main_dir);
}

struct origin loader_origin_of_setting(struct loader *ld,
	const config_setting_t *s)
{
	return loader_origin(ld, config_setting_source_file(s));
}

__attribute__((format(printf, 6, 0)))
static void vreport_at(struct loader *ld, enum diag_severity severity,
	const char *file, unsigned line, const char *code, const char *fmt,
	va_list ap)
{
	char *message = NULL;
	if (vasprintf(&message, fmt, ap) < 0) {
		loader_nomem(ld);
		return;
	}
	diag_add(ld->d, severity, file, line, code, "%s", message);
	free(message);
}

__attribute__((format(printf, 6, 7)))
void loader_report_at(struct loader *ld, enum diag_severity severity,
	const char *file, unsigned line, const char *code, const char *fmt,
	...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport_at(ld, severity, file, line, code, fmt, ap);
	va_end(ap);
}

/* An error at setting s (its file and line). */
__attribute__((format(printf, 4, 5)))
void loader_report(struct loader *ld, const config_setting_t *s,
	const char *code, const char *fmt, ...)
{
	struct origin o = loader_origin_of_setting(ld, s);
	/* Line numbers of the generated defaults text mean nothing to users. */
	unsigned line = ld->builtin ? 0 : config_setting_source_line(s);
	va_list ap;
	va_start(ap, fmt);
	vreport_at(ld, DIAG_ERROR, o.path, line, code, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Loading */

static void load_root(struct loader *ld, const config_setting_t *root,
	struct layer *defaults)
{
	unsigned n = (unsigned)config_setting_length(root);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, i);
		const char *key = config_setting_name(s);
		const struct gkey *k = keys_global_find(key);
		if (k && !ld->builtin && !strcmp(key, "domains_directory"))
			ld->domains_directory_setting = s;
		if (!k) {
			advice_unknown_key(ld, s, SCOPE_GLOBAL);
			continue;
		}
		switch (k->kind) {
		case G_DEFAULTS:
			if (config_setting_is_group(s))
				domains_load_layer(ld, defaults, s, SCOPE_DEFAULTS);
			else
				advice_wrong_type(ld, s, "a group { ... }");
			break;
		case G_POLICIES:
			domains_load_templates(ld, s);
			break;
		case G_ACME:
			config_acme_load(ld, s);
			break;
		case G_DOMAINS:
			ld->domains_seen = true;
			if (config_setting_is_list(s))
				ld->domains = s;
			else
				advice_wrong_type(ld, s, "a list ( ... ) of domain "
					"groups");
			break;
		default:
			settings_global(ld, k, s);
			break;
		}
	}
}

/*
 * apply_builtin parses config_defaults with libconfig and applies it like
 * a user's file: globals into out, mode and max_age into the built-in
 * layer. The parsed text stays alive as long as the loader.
 */
static void apply_builtin(struct loader *ld)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f) {
		loader_nomem(ld);
		return;
	}
	for (const struct config_default *e = config_defaults; e->key; e++) {
		if (!keys_is_in_scope(SCOPE_TEMPLATE, e->key))
			fprintf(f, "%s = %s;\n", e->key, e->value);
	}
	fputs("defaults = {\n", f);
	for (const struct config_default *e = config_defaults; e->key; e++) {
		if (keys_is_in_scope(SCOPE_TEMPLATE, e->key))
			fprintf(f, "%s = %s;\n", e->key, e->value);
	}
	fputs("};\n", f);
	if (fclose(f) != 0 || !text) {
		free(text);
		loader_nomem(ld);
		return;
	}

	const char *saved = ld->name;
	ld->name = "built-in defaults";
	ld->builtin = true;
	config_init(&ld->builtin_cfg);
	ld->builtin_cfg_live = true;
	if (!config_read_string(&ld->builtin_cfg, text))
		loader_report_at(ld, DIAG_ERROR, ld->name, 0, "config-internal",
			"the built-in defaults do not parse: %s — this is a "
			"bug in mta-stsd", config_error_text(&ld->builtin_cfg));
	else
		load_root(ld, config_root_setting(&ld->builtin_cfg),
			&ld->builtin_layer);
	ld->builtin = false;
	ld->name = saved;
	free(text);
}

static void check_connections(struct loader *ld)
{
	const struct config *c = ld->out;
	if (c->max_connections_per_ip <= c->max_connections)
		return;
	const config_setting_t *s = ld->per_ip_setting ?
		ld->per_ip_setting : ld->max_connections_setting;
	if (!s)
		return;
	loader_report(ld, s, "config-out-of-range",
		"max_connections_per_ip %u is above max_connections %u — lower "
		"max_connections_per_ip (0 means unlimited) or raise "
		"max_connections", c->max_connections_per_ip,
		c->max_connections);
}

static void load_domains_directory(struct loader *ld);

/* After a successful parse: the whole semantic pass. */
static void load(struct loader *ld, const config_t *cfg)
{
	const config_setting_t *root = config_root_setting(cfg);
	ld->main_raw = config_setting_source_file(root);
	load_root(ld, root, &ld->defaults_layer);
	check_connections(ld);

	unsigned n = ld->domains ?
		(unsigned)config_setting_length(ld->domains) : 0;
	for (unsigned i = 0; i < n; i++)
		domains_load_entry(ld, config_setting_get_elem(ld->domains, i));
	if (ld->out->domains_directory)
		load_domains_directory(ld);
	/* A domains setting of the wrong type was reported already. */
	if (ld->out->domain_count == 0 && ld->out->skipped_count == 0 &&
			(ld->domains || !ld->domains_seen))
		loader_report_at(ld, DIAG_ERROR, ld->name, ld->domains ?
			config_setting_source_line(ld->domains) : 0,
			"config-no-domains", "no domains are configured — add "
			"a domains = ( { name = \"example.com\"; ... } ); list, "
			"or files to domains_directory");
	domains_check_duplicates(ld);
}

/*
 * finish_load: the configuration is usable when every error found belongs
 * to single domains (they are marked not served); any other error, or
 * running out of memory, makes it unusable.
 */
static int finish_load(struct loader *ld, size_t errors)
{
	loader_finish(ld);
	return ld->d->errors - errors > ld->domain_errors || ld->oom ? -1 : 0;
}

#define INCLUDE_DEPTH_MAX 10	/* libconfig's own limit */

/*
 * check_include judges one line of file (line number) when it is an
 * "@include" directive, before libconfig reads it: libconfig 1.5 calls
 * exit() when an included name is a directory or cannot be read, which
 * would end the daemon on a reload instead of keeping the old
 * configuration. It goes into the included file too. Returns false after
 * reporting a bad include at its file and line.
 */
static bool check_includes(struct loader *ld, const char *file,
	const char *base, int depth);

/* Notes that the configuration was read from path, as st says it was. */
/* Notes path as read (st); its index in out->sources, or NO_SOURCE. */
#define NO_SOURCE SIZE_MAX

static size_t add_source(struct loader *ld, const char *path,
	const struct stat *st)
{
	struct config *out = ld->out;
	if (!ld->from_file)
		return NO_SOURCE;
	if (out->source_count == ld->out_source_cap) {
		/* Doubling: domains_directory may hold 100,000 files. */
		size_t cap = ld->out_source_cap ? ld->out_source_cap * 2 : 8;
		struct config_source *grown = realloc(out->sources,
			cap * sizeof(*grown));
		if (!grown) {
			loader_nomem(ld);
			return NO_SOURCE;
		}
		out->sources = grown;
		ld->out_source_cap = cap;
	}
	struct config_source *src = &out->sources[out->source_count];
	*src = (struct config_source){
		.path = strdup(path), .dev = st->st_dev, .ino = st->st_ino,
		.size = st->st_size, .mtime = st->st_mtim,
		.ctime = st->st_ctim,
	};
	if (!src->path) {
		loader_nomem(ld);
		return NO_SOURCE;
	}
	return out->source_count++;
}

/* Gives the source add_source returned the SHA-256 of its bytes. */
static void set_source_digest(struct loader *ld, size_t source,
	const unsigned char digest[TLS_DIGEST_LEN])
{
	if (source == NO_SOURCE)
		return;
	struct config_source *src = &ld->out->sources[source];
	memcpy(src->digest, digest, TLS_DIGEST_LEN);
	src->has_digest = true;
}

static bool check_include(struct loader *ld, const char *file,
	unsigned number, const char *line, const char *base, int depth)
{
	const char *p = line + strspn(line, " \t");
	if (strncmp(p, "@include", 8) != 0)
		return true;
	p += 8;
	p += strspn(p, " \t");
	const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
	if (!end)
		return true;	/* a syntax error: libconfig reports it */
	char *name = strndup(p + 1, (size_t)(end - p - 1));
	/* An absolute name stays as it is, as libconfig takes it. */
	char *target = name ? loader_resolve_path(name, base) : NULL;
	if (!target) {
		free(name);
		loader_nomem(ld);
		return false;
	}
	bool ok = true;
	struct stat st;
	int err = stat(target, &st) < 0 ? errno :
		S_ISDIR(st.st_mode) ? EISDIR :
		!S_ISREG(st.st_mode) ? EINVAL :
		access(target, R_OK) < 0 ? errno : 0;
	char fix[512];
	if (depth > 0 && name[0] == '/') {
		/* libconfig reads included files itself and joins their
		 * names to the include directory. */
		loader_report_at(ld, DIAG_ERROR, file, number, "config-include",
			"@include \"%s\": an absolute name works in the main "
			"file only — include it from the main file, or write it "
			"relative to %s", name, base ? base :
			"the working directory");
		ok = false;
	} else if (err) {
		loader_report_at(ld, DIAG_ERROR, file, number, "config-include",
			"@include \"%s\": cannot read %s: %s — %s (a relative "
			"name is relative to the directory of the main file)",
			name, target, err == EINVAL ? "not a regular file" :
			strerror(err), err == EINVAL ? "include a regular file" :
			advice_open_fix(err, target, fix, sizeof(fix)));
		ok = false;
	} else if (depth + 1 >= INCLUDE_DEPTH_MAX) {
		loader_report_at(ld, DIAG_ERROR, file, number, "config-include",
			"@include \"%s\": includes nest deeper than %d files — "
			"include the files from one place", name,
			INCLUDE_DEPTH_MAX);
		ok = false;
	} else if (!check_includes(ld, target, base, depth + 1)) {
		ok = false;
	} else {
		add_source(ld, target, &st);
	}
	free(name);
	free(target);
	return ok;
}

/* check_includes: check_include for every line of an included file. */
static bool check_includes(struct loader *ld, const char *file,
	const char *base, int depth)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return true;	/* checked readable by the caller */
	bool ok = true;
	char line[4096];
	unsigned number = 0;
	while (fgets(line, sizeof(line), f)) {
		number++;
		if (!check_include(ld, file, number, line, base, depth))
			ok = false;
		if (ld->oom)
			break;
	}
	fclose(f);
	return ok;
}

/*
 * real_dir is the real path of the directory of the file being read,
 * computed once per directory (every file of domains_directory shares
 * one). Borrowed from the loader; NULL when it cannot be resolved.
 */
static const char *real_dir(struct loader *ld)
{
	const char *dir = ld->main_dir ? ld->main_dir : ".";
	if (ld->real_of && !strcmp(ld->real_of, dir))
		return ld->real_dir;
	free(ld->real_of);
	free(ld->real_dir);
	ld->real_of = strdup(dir);
	ld->real_dir = ld->real_of ? realpath(dir, NULL) : NULL;
	return ld->real_dir;
}

/* Sets ld->abs_prefix to one "../" per level of the real directory. */
static void set_abs_prefix(struct loader *ld, const char *real)
{
	free(ld->abs_prefix);
	size_t levels = 0;
	for (const char *p = real; *p; p++)
		levels += *p == '/' && p[1] && p[1] != '/';
	ld->abs_prefix = malloc(3 * levels + 1);
	if (!ld->abs_prefix) {
		loader_nomem(ld);
		return;
	}
	for (size_t i = 0; i < levels; i++)
		memcpy(ld->abs_prefix + 3 * i, "../", 3);
	ld->abs_prefix[3 * levels] = '\0';
}

/*
 * read_file reads and parses path, opening it once. It reports why path
 * cannot be opened (the fix follows errno; enoent_fix for a missing file),
 * checks each @include line (check_include) and parses the text.
 * libconfig 1.5 joins every @include name to the include directory,
 * absolute names too ("/a/b" + "/" + "/a/b/x.conf"), so the text is
 * handed to it with each absolute @include name rewritten relative to
 * that directory. The directory is the real path of the file's own, so
 * each ".." climbs exactly one level; loader_source_path maps the names
 * back for messages. Returns 1 when parsed, 0 on a syntax error (cfg
 * holds it), -1 when reported here.
 */
static int read_file(struct loader *ld, config_t *cfg, const char *path,
	const char *enoent_fix)
{
	FILE *in = fopen(path, "r");
	struct stat st;
	/* libconfig says only "file I/O error"; errno names the cause. */
	int err = !in ? errno : fstat(fileno(in), &st) < 0 ? errno :
		S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (err) {
		if (in)
			fclose(in);
		char fix[512];
		loader_report_at(ld, DIAG_ERROR, path, 0, "config-open",
			"cannot open: %s — %s", strerror(err), err == ENOENT ?
			enoent_fix : advice_open_fix(err, path, fix,
			sizeof(fix)));
		return -1;
	}
	size_t source = add_source(ld, path, &st);
	const char *real = real_dir(ld);
	if (real)
		set_abs_prefix(ld, real);
	char *text = NULL, *line = NULL;
	size_t size = 0, cap = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out || !real || ld->oom) {
		fclose(in);
		if (out)
			fclose(out);
		free(text);
		loader_nomem(ld);
		return -1;
	}
	bool includes_ok = true;
	unsigned number = 0;
	struct tls_digest_stream digest;
	tls_digest_begin(&digest);
	ssize_t got;
	while ((got = getline(&line, &cap, in)) >= 0) {
		number++;
		tls_digest_update(&digest, line, (size_t)got);
		if (!check_include(ld, path, number, line, ld->main_dir, 0))
			includes_ok = false;
		char *p = line + strspn(line, " \t");
		char *q = !strncmp(p, "@include", 8) ? p + 8 : NULL;
		if (q)
			q += strspn(q, " \t");
		if (q && q[0] == '"' && q[1] == '/') {
			fwrite(line, 1, (size_t)(q + 1 - line), out);
			fputs(ld->abs_prefix, out);
			fputs(q + 2, out);
		} else {
			fputs(line, out);
		}
	}
	free(line);
	fclose(in);
	unsigned char bytes[TLS_DIGEST_LEN];
	if (tls_digest_end(&digest, bytes) &&
			ld->out->source_count == source + 1)
		set_source_digest(ld, source, bytes);
	int rc = -1;
	if (fclose(out) != 0 || !text) {
		loader_nomem(ld);
	} else if (includes_ok && !ld->oom) {
		config_set_include_dir(cfg, real);
		rc = config_read_string(cfg, text) ? 1 : 0;
	}
	free(text);
	return rc;
}

static int is_conf_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && n > 5 &&
		!strcmp(e->d_name + n - 5, ".conf");
}

/* A source changed within this many seconds of reading it is racy. */
#define RACY_SECONDS 2

/* What a loader's current file is, saved while another one is read. */
struct current_file {
	const char *name;
	char *dir;
	char *abs_prefix;
	const char *raw;
	bool from_file;
};

/* Is src the file st describes, and was it not changed too close to when
 * it was read (at) for its times to tell? */
static bool source_is(const struct config_source *src, const struct stat *st,
	const struct timespec *at)
{
	return src->dev == st->st_dev && src->ino == st->st_ino &&
		src->size == st->st_size &&
		src->mtime.tv_sec == st->st_mtim.tv_sec &&
		src->mtime.tv_nsec == st->st_mtim.tv_nsec &&
		src->ctime.tv_sec == st->st_ctim.tv_sec &&
		src->ctime.tv_nsec == st->st_ctim.tv_nsec &&
		!clock_is_racy(&src->mtime, &src->ctime, at, RACY_SECONDS);
}

/*
 * Does src, as read at `at`, still describe the file st describes now?
 * Its identity decides when it can; else (changed within two seconds of
 * the read, or another identity) the digest of the bytes now in the file.
 */
static bool source_unchanged(const struct config_source *src,
	const struct stat *st, const struct timespec *at)
{
	if (source_is(src, st, at))
		return true;
	unsigned char now[TLS_DIGEST_LEN];
	return src->has_digest && S_ISREG(st->st_mode) &&
		tls_digest_file(src->path, now) &&
		!memcmp(now, src->digest, sizeof(now));
}

/* Is was (of the running configuration) the source now just read? */
static bool same_source(const struct config_source *was,
	const struct config_source *now, const struct timespec *at)
{
	struct stat st = {
		.st_dev = now->dev, .st_ino = now->ino, .st_size = now->size,
		.st_mtim = now->mtime, .st_ctim = now->ctime,
	};
	if (strcmp(was->path, now->path))
		return false;
	return source_is(was, &st, at) || (was->has_digest &&
		now->has_digest && !memcmp(was->digest, now->digest,
			sizeof(was->digest)));
}

/* Is path a file directly in dir whose name ends in ".conf"? */
static bool is_file_of(const char *path, const char *dir)
{
	size_t n = strlen(dir), len = strlen(path);
	return len > n + 5 && !strncmp(path, dir, n) && path[n] == '/' &&
		!strchr(path + n + 1, '/') && !strcmp(path + len - 5, ".conf");
}

/*
 * reuse_prepare decides, before domains_directory is read, whether its
 * unchanged files may be taken from the running configuration: only when
 * every file read so far (the main file and its @includes, which hold the
 * defaults and shared policies the domains use) is unchanged, the
 * directory is the same, and the running configuration's sources past it
 * are its .conf files only (no @include inside them), in name order.
 */
static void reuse_prepare(struct loader *ld)
{
	const struct config *prev = ld->reuse ? ld->reuse->previous : NULL;
	const char *dir = ld->out->domains_directory;
	size_t n = ld->out->source_count;
	if (!prev || !prev->domains_directory ||
			strcmp(prev->domains_directory, dir) ||
			prev->source_count <= n ||
			strcmp(prev->sources[n].path, dir))
		return;
	for (size_t i = 0; i < n; i++) {
		if (!same_source(&prev->sources[i], &ld->out->sources[i],
				&prev->loaded_at))
			return;
	}
	for (size_t i = n + 1; i < prev->source_count; i++) {
		if (!is_file_of(prev->sources[i].path, dir) || (i > n + 1 &&
				strcmp(prev->sources[i - 1].path,
					prev->sources[i].path) >= 0))
			return;
	}
	ld->reusing = true;
	ld->reuse_lo = n + 1;
	ld->reuse_hi = prev->source_count;
}

/*
 * reuse_file takes the domains of path from the running configuration
 * when path is unchanged since it was read (reuse_prepare). true when it
 * did: path need not be read.
 */
static bool reuse_file(struct loader *ld, const char *path)
{
	if (!ld->reusing)
		return false;
	const struct config *prev = ld->reuse->previous;
	size_t lo = ld->reuse_lo, hi = ld->reuse_hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(prev->sources[mid].path, path);
		if (c == 0) {
			lo = mid;
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	struct stat st;
	if (lo >= ld->reuse_hi || strcmp(prev->sources[lo].path, path) ||
			stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
			!source_unchanged(&prev->sources[lo], &st,
				&prev->loaded_at))
		return false;
	const struct config_domain *const *domains = NULL;
	size_t count = ld->reuse->domains_of(ld->reuse->ctx, path, &domains);
	if (count == 0)
		return false;
	for (size_t i = 0; i < count; i++)
		domains_add_borrowed(ld, domains[i]);
	size_t source = add_source(ld, path, &st);
	if (prev->sources[lo].has_digest)
		set_source_digest(ld, source, prev->sources[lo].digest);
	return true;
}

/*
 * load_domain_file reads one file of domains_directory on its own: it may
 * hold only `domains = ( ... );`. Every error in it belongs to its domains
 * alone. A file that does not parse, or holds anything else, is not used
 * at all (its domains are not served; a reload keeps serving what the
 * daemon had from it).
 */
static void load_domain_file(struct loader *ld, const char *path)
{
	if (reuse_file(ld, path)) {
		ld->out->directory_files_taken++;
		return;
	}
	ld->out->directory_files_read++;
	size_t errors = ld->d->errors, mark = ld->d->len;
	size_t domain_errors = ld->domain_errors;
	size_t domains = ld->out->domain_count, sources = ld->source_count;
	struct current_file saved = { ld->name, ld->main_dir, ld->abs_prefix,
		ld->main_raw, ld->from_file };
	ld->abs_prefix = NULL;
	ld->name = path;
	ld->from_file = true;
	ld->main_raw = NULL;
	ld->main_dir = loader_dir_of(path);
	bool file_ok = false;
	config_t cfg;
	config_init(&cfg);
	if (!ld->main_dir) {
		loader_nomem(ld);
	} else {
		int rc = read_file(ld, &cfg, path, "it went away while reading "
			"the directory: reload again");
		if (rc == 0)
			advice_syntax_error(ld, &cfg);
		if (rc > 0) {
			const config_setting_t *root = config_root_setting(&cfg);
			ld->main_raw = config_setting_source_file(root);
			file_ok = true;
			unsigned n = (unsigned)config_setting_length(root);
			for (unsigned i = 0; i < n; i++) {
				const config_setting_t *s =
					config_setting_get_elem(root, i);
				if (strcmp(config_setting_name(s), "domains")) {
					loader_report(ld, s, "config-domains-file",
						"`%s` is not valid in a file of "
						"domains_directory — such a file "
						"holds only domains = ( ... ); "
						"set `%s` in the main "
						"configuration",
						config_setting_name(s),
						config_setting_name(s));
					file_ok = false;
				} else if (!config_setting_is_list(s)) {
					advice_wrong_type(ld, s, "a list ( ... ) "
						"of domain groups");
					file_ok = false;
				}
			}
			const config_setting_t *list = config_setting_get_member(
				root, "domains");
			unsigned count = file_ok && list ?
				(unsigned)config_setting_length(list) : 0;
			for (unsigned i = 0; i < count; i++)
				domains_load_entry(ld,
					config_setting_get_elem(list, i));
		}
	}
	if (!file_ok) {
		/* Nothing of a broken file is used. */
		for (size_t i = domains; i < ld->out->domain_count; i++)
			domains_finish_domain(&ld->out->domains[i]);
		ld->out->domain_count = domains;
		domains_skip(ld, path, path, 0,
			domains_first_error(ld, mark, SIZE_MAX, SIZE_MAX));
	}
	ld->domain_errors = domain_errors + (ld->d->errors - errors);

	/* libconfig's names for this file die with cfg. */
	for (size_t i = sources; i < ld->source_count; i++) {
		free(ld->sources[i].path);
		free(ld->sources[i].dir);
	}
	ld->source_count = sources;
	ld->last_source = 0;
	config_destroy(&cfg);
	free(ld->main_dir);
	free(ld->abs_prefix);
	ld->abs_prefix = saved.abs_prefix;
	ld->name = saved.name;
	ld->main_dir = saved.dir;
	ld->main_raw = saved.raw;
	ld->from_file = saved.from_file;
}

/*
 * forget_loaded empties (without freeing) what loading collects in c: the
 * domains, skipped entries and sources, in a shallow copy of a
 * configuration whose settings are shared.
 */
static void forget_loaded(struct config *c)
{
	c->domains = NULL;
	c->domain_count = 0;
	c->skipped = NULL;
	c->skipped_count = 0;
	c->sources = NULL;
	c->source_count = 0;
	c->directory_files_read = 0;
	c->directory_files_taken = 0;
}

/* Below this many files of domains_directory one thread reads them all. */
#define PARALLEL_MIN_FILES 16
#define PARALLEL_MAX_LOADERS 16

/*
 * The files of domains_directory are independent (each judged on its own,
 * against the settings, defaults and shared policies of the main file,
 * which are only read), so they are read on every CPU: each thread with a
 * loader of its own that collects domains, skipped entries, sources and
 * findings apart, merged afterwards in file order. The result is the
 * same, finding for finding, as reading them one after the other.
 */
struct files_job {
	struct loader *main;
	const char *dir;
	struct dirent **list;
	struct loader loaders[PARALLEL_MAX_LOADERS];
	struct config outs[PARALLEL_MAX_LOADERS];
	struct diag diags[PARALLEL_MAX_LOADERS];
};

/* A loader for worker w: main's settings, everything it adds its own. */
static void worker_loader(struct files_job *job, unsigned w)
{
	struct loader *ld = &job->loaders[w], *main = job->main;
	struct config *out = &job->outs[w];
	*out = *main->out;	/* the settings, read only */
	forget_loaded(out);
	diag_init(&job->diags[w]);
	*ld = *main;
	ld->out = out;
	ld->d = &job->diags[w];
	ld->oom = false;
	ld->domain_errors = 0;
	ld->out_source_cap = 0;
	ld->domain_cap = 0;
	ld->places = NULL;
	ld->real_of = NULL;
	ld->real_dir = NULL;
	/* Its own copy of the list of libconfig's names: files read add
	 * to it (and take their names off again). */
	ld->sources = NULL;
	ld->source_cap = 0;
	if (main->source_count &&
			(ld->sources = malloc(main->source_count *
				sizeof(*ld->sources)))) {
		memcpy(ld->sources, main->sources,
			main->source_count * sizeof(*ld->sources));
		ld->source_cap = main->source_count;
	} else if (main->source_count) {
		ld->source_count = 0;
		loader_nomem(ld);
	}
}

/* Reads the files [begin, end) of list in dir with ld. */
static void load_file_range(struct loader *ld, const char *dir,
	struct dirent **list, size_t begin, size_t end)
{
	for (size_t i = begin; i < end; i++) {
		char *path = text_path_join(dir, list[i]->d_name);
		if (!path)
			loader_nomem(ld);
		else
			load_domain_file(ld, path);
		free(path);
	}
}

static void load_files_slice(void *ctx, unsigned worker, size_t begin,
	size_t end)
{
	struct files_job *job = ctx;
	load_file_range(&job->loaders[worker], job->dir, job->list, begin,
		end);
}

/* Appends n items of size bytes at src to *dst (count *len): false when
 * out of memory. */
static bool append_items(void **dst, size_t *len, const void *src, size_t n,
	size_t size)
{
	if (n == 0)
		return true;
	void *grown = realloc(*dst, (*len + n) * size);
	if (!grown)
		return false;
	memcpy((char *)grown + *len * size, src, n * size);
	*dst = grown;
	*len += n;
	return true;
}

/* Moves what worker w's loader collected into the main loader. */
static void merge_worker(struct files_job *job, unsigned w)
{
	struct loader *main = job->main, *ld = &job->loaders[w];
	struct config *out = main->out, *wout = &job->outs[w];
	diag_move(main->d, ld->d);
	diag_finish(ld->d);
	main->domain_errors += ld->domain_errors;
	if (ld->oom)
		loader_nomem(main);
	size_t count = out->domain_count;
	bool ok = append_items((void **)&out->domains, &count, wout->domains,
		wout->domain_count, sizeof(*out->domains));
	size_t places = out->domain_count;
	ok = ok && append_items((void **)&main->places, &places, ld->places,
		wout->domain_count, sizeof(*main->places));
	if (ok) {
		out->domain_count = count;
		main->domain_cap = count;
	} else {
		for (size_t i = 0; i < wout->domain_count; i++)
			domains_finish_domain(&wout->domains[i]);
		loader_nomem(main);
	}
	if (!append_items((void **)&out->skipped, &out->skipped_count,
			wout->skipped, wout->skipped_count,
			sizeof(*out->skipped))) {
		for (size_t i = 0; i < wout->skipped_count; i++) {
			free(wout->skipped[i].name);
			free(wout->skipped[i].file);
		}
		loader_nomem(main);
	}
	if (append_items((void **)&out->sources, &out->source_count,
			wout->sources, wout->source_count,
			sizeof(*out->sources))) {
		main->out_source_cap = out->source_count;
	} else {
		for (size_t i = 0; i < wout->source_count; i++)
			free(wout->sources[i].path);
		loader_nomem(main);
	}
	out->directory_files_read += wout->directory_files_read;
	out->directory_files_taken += wout->directory_files_taken;
	free(wout->domains);
	free(wout->skipped);
	free(wout->sources);
	free(ld->places);
	free(ld->sources);	/* the names are main's, or freed already */
	free(ld->real_of);
	free(ld->real_dir);
}

/* Reads the n files of list in dir, in order, on every CPU. */
static void load_files(struct loader *ld, const char *dir,
	struct dirent **list, size_t n)
{
	unsigned workers = n >= PARALLEL_MIN_FILES ? parallel_cpu_count() : 1;
	if (workers > PARALLEL_MAX_LOADERS)
		workers = PARALLEL_MAX_LOADERS;
	if (workers <= 1) {
		load_file_range(ld, dir, list, 0, n);
		return;
	}
	struct files_job *job = calloc(1, sizeof(*job));
	if (!job) {
		loader_nomem(ld);
		return;
	}
	job->main = ld;
	job->dir = dir;
	job->list = list;
	for (unsigned w = 0; w < workers; w++)
		worker_loader(job, w);
	parallel_run(n, workers, load_files_slice, job);
	/* In worker order, which is file order; an idle one merges nothing
	 * and frees its copies. */
	for (unsigned w = 0; w < workers; w++)
		merge_worker(job, w);
	free(job);
}

/*
 * load_domains_directory reads every *.conf of domains_directory in name
 * order (alphasort), so the order of domains, and of findings, is the same
 * on every host. A directory that cannot be read concerns every domain in
 * it, so it is an error of the whole configuration.
 */
static void load_domains_directory(struct loader *ld)
{
	const char *dir = ld->out->domains_directory;
	struct dirent **list = NULL;
	reuse_prepare(ld);
	/* Adding, removing or renaming a file changes the directory's
	 * times: noted before it is listed. */
	struct stat st;
	if (stat(dir, &st) == 0)
		add_source(ld, dir, &st);
	int n = scandir(dir, &list, is_conf_name, alphasort);
	if (n < 0) {
		int err = errno;
		char fix[512];
		struct origin o = ld->domains_directory_setting ?
			loader_origin_of_setting(ld,
				ld->domains_directory_setting) :
			(struct origin){ ld->name, NULL };
		loader_report_at(ld, DIAG_ERROR, o.path,
			ld->domains_directory_setting ?
			config_setting_source_line(
				ld->domains_directory_setting) : 0,
			"config-domains-directory",
			"domains_directory %s: cannot read: %s — %s", dir,
			strerror(err), err == ENOENT ? "create it (install -d "
			"DIRECTORY) or correct domains_directory" :
			advice_open_fix(err, dir, fix, sizeof(fix)));
		return;
	}
	load_files(ld, dir, list, (size_t)n);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int load_file(const char *path, struct config *out, struct diag *d,
	const struct config_reuse *reuse)
{
	struct loader ld = {
		.out = out, .d = d, .name = path, .from_file = true,
		.reuse = reuse,
	};
	size_t errors = d->errors;
	clock_gettime(CLOCK_REALTIME, &out->loaded_at);

	out->file = strdup(path);
	if (!out->file)
		loader_nomem(&ld);
	apply_builtin(&ld);

	ld.main_dir = loader_dir_of(path);
	config_t cfg;
	config_init(&cfg);
	int rc = read_file(&ld, &cfg, path, "create it (an example is in "
		"/usr/share/doc/mta-stsd/mta-stsd.conf) or pass -c FILE");
	if (rc == 0)
		advice_syntax_error(&ld, &cfg);
	else if (rc > 0)
		load(&ld, &cfg);
	config_destroy(&cfg);
	return finish_load(&ld, errors);
}

int config_load_file(const char *path, struct config *out, struct diag *d)
{
	return load_file(path, out, d, NULL);
}

int config_load_file_reusing(const char *path, struct config *out,
	struct diag *d, const struct config_reuse *reuse)
{
	return load_file(path, out, d, reuse);
}

int config_load_string(const char *text, const char *name, struct config *out,
	struct diag *d)
{
	struct loader ld = {
		.out = out, .d = d, .name = name ? name : "(string)",
		.text = text ? text : "",
	};
	size_t errors = d->errors;

	out->file = strdup(ld.name);
	if (!out->file)
		loader_nomem(&ld);
	apply_builtin(&ld);

	config_t cfg;
	config_init(&cfg);
	if (!config_read_string(&cfg, ld.text))
		advice_syntax_error(&ld, &cfg);
	else
		load(&ld, &cfg);
	config_destroy(&cfg);
	return finish_load(&ld, errors);
}

void config_finish(struct config *config)
{
	if (!config)
		return;
	free(config->file);
	for (size_t i = 0; i < config->listen_count; i++)
		free(config->listen[i]);
	free(config->listen);
	free(config->user);
	free(config->group);
	free(config->state_directory);
	config_acme_finish(&config->acme);
	free(config->tls_priorities);
	free(config->tls_priorities_file);
	free(config->log_level);
	free(config->log_target);
	free(config->access_log_format);
	free(config->metrics_listen);
	for (size_t i = 0; i < config->domain_count; i++)
		domains_finish_domain(&config->domains[i]);
	free(config->domains);
	for (size_t i = 0; i < config->skipped_count; i++) {
		free(config->skipped[i].name);
		free(config->skipped[i].file);
	}
	free(config->skipped);
	free(config->domains_directory);
	for (size_t i = 0; i < config->source_count; i++)
		free(config->sources[i].path);
	free(config->sources);
	*config = (struct config){0};
}

void config_domain_finish(struct config_domain *domain)
{
	domains_finish_domain(domain);
}

/* *dst = a copy of src, or NULL for NULL; false when out of memory. */
int config_domain_copy(struct config_domain *dst,
	const struct config_domain *src)
{
	*dst = *src;
	dst->borrowed = false;
	policy_init(&dst->policy);
	bool ok = text_dup_into(&dst->name, src->name) &
		text_dup_into(&dst->id, src->id) &
		text_dup_into(&dst->cert, src->cert) &
		text_dup_into(&dst->key, src->key) &
		text_dup_into(&dst->tlsrpt_rua, src->tlsrpt_rua) &
		text_dup_into(&dst->template_name, src->template_name) &
		text_dup_into(&dst->file, src->file);
	if (!ok || policy_copy(&dst->policy, &src->policy) < 0) {
		domains_finish_domain(dst);
		return -1;
	}
	return 0;
}

bool config_sources_unchanged(const struct config *config)
{
	if (config->source_count == 0)
		return false;
	for (size_t i = 0; i < config->source_count; i++) {
		const struct config_source *src = &config->sources[i];
		struct stat st;
		if (stat(src->path, &st) < 0 ||
				!source_unchanged(src, &st, &config->loaded_at))
			return false;
	}
	return true;
}

static bool can_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

bool config_sources_readable(const struct config *config)
{
	if (config->source_count == 0)
		return false;
	for (size_t i = 0; i < config->source_count; i++) {
		if (!can_open(config->sources[i].path))
			return false;
	}
	/* The one other file the loader itself checks (acme_settings.c). */
	return !config->acme.ca_file || can_open(config->acme.ca_file);
}

struct config *config_clone_settings(const struct config *src)
{
	struct config *dst = calloc(1, sizeof(*dst));
	if (!dst)
		return NULL;
	*dst = *src;
	forget_loaded(dst);
	dst->listen = NULL;
	dst->listen_count = 0;
	bool ok = text_dup_into(&dst->file, src->file) &
		text_dup_into(&dst->user, src->user) &
		text_dup_into(&dst->group, src->group) &
		text_dup_into(&dst->state_directory, src->state_directory) &
		text_dup_into(&dst->tls_priorities, src->tls_priorities) &
		text_dup_into(&dst->tls_priorities_file, src->tls_priorities_file) &
		text_dup_into(&dst->log_level, src->log_level) &
		text_dup_into(&dst->log_target, src->log_target) &
		text_dup_into(&dst->access_log_format, src->access_log_format) &
		text_dup_into(&dst->metrics_listen, src->metrics_listen) &
		text_dup_into(&dst->domains_directory, src->domains_directory) &
		config_acme_copy(&dst->acme, &src->acme);
	dst->listen = calloc(src->listen_count + 1, sizeof(*dst->listen));
	dst->skipped = calloc(src->skipped_count + 1, sizeof(*dst->skipped));
	dst->sources = calloc(src->source_count + 1, sizeof(*dst->sources));
	ok = ok && dst->listen && dst->skipped && dst->sources;
	for (size_t i = 0; ok && i < src->listen_count; i++, dst->listen_count++)
		ok = text_dup_into(&dst->listen[i], src->listen[i]);
	for (size_t i = 0; ok && i < src->skipped_count; i++) {
		dst->skipped[i] = src->skipped[i];
		ok = text_dup_into(&dst->skipped[i].name, src->skipped[i].name) &
			text_dup_into(&dst->skipped[i].file, src->skipped[i].file);
		dst->skipped_count++;
	}
	for (size_t i = 0; ok && i < src->source_count; i++) {
		dst->sources[i] = src->sources[i];
		ok = text_dup_into(&dst->sources[i].path, src->sources[i].path);
		dst->source_count += ok;
	}
	if (!ok) {
		config_finish(dst);
		free(dst);
		return NULL;
	}
	return dst;
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool config_domain_is_same(const struct config_domain *a,
	const struct config_domain *b)
{
	if (!same_text(a->name, b->name) || !same_text(a->id, b->id) ||
			!same_text(a->cert, b->cert) ||
			!same_text(a->key, b->key) ||
			!same_text(a->tlsrpt_rua, b->tlsrpt_rua) ||
			!same_text(a->file, b->file) ||
			a->policy.mode != b->policy.mode ||
			a->policy.max_age != b->policy.max_age ||
			a->policy.mx_count != b->policy.mx_count)
		return false;
	for (size_t i = 0; i < a->policy.mx_count; i++) {
		if (strcmp(a->policy.mx[i], b->policy.mx[i]) != 0)
			return false;
	}
	return true;
}

const struct config_domain *config_find_domain(const struct config *config,
	const char *name)
{
	for (size_t i = 0; i < config->domain_count; i++) {
		if (dnsname_equal(config->domains[i].name, name))
			return &config->domains[i];
	}
	return NULL;
}

/*
 * config_keep_only: a domain stays when it is named in names; an entry
 * that yields no domain stays only when its name is named.
 */
static bool named(const char *name, char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (dnsname_equal(name, names[i]))
			return true;
	}
	return false;
}

void config_keep_only(struct config *config, char *const *names,
	size_t count)
{
	size_t kept = 0;
	for (size_t i = 0; i < config->domain_count; i++) {
		if (named(config->domains[i].name, names, count))
			config->domains[kept++] = config->domains[i];
		else
			domains_finish_domain(&config->domains[i]);
	}
	config->domain_count = kept;
	kept = 0;
	for (size_t i = 0; i < config->skipped_count; i++) {
		struct config_skipped *k = &config->skipped[i];
		if (named(k->name, names, count)) {
			config->skipped[kept++] = *k;
		} else {
			free(k->name);
			free(k->file);
		}
	}
	config->skipped_count = kept;
}
