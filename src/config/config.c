/* SPDX-License-Identifier: MIT */
/*
 * The only libconfig user: turns mta-stsd.conf into a struct config of plain
 * C types. Every problem goes to a diag list at the file and line of the
 * offending setting (the included file when it comes from an @include), and
 * loading keeps going so one run reports everything.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/loader.h"
#include "core/dnsname.h"
#include "util/diag.h"
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
	s->path = loader_resolve_path(raw, ld->main_dir);
	s->dir = s->path ? loader_dir_of(s->path) : NULL;
	if (!s->path) {
		loader_nomem(ld);
		return (struct origin){ raw, NULL };
	}
	ld->last_source = ld->source_count++;
	return (struct origin){ s->path, s->dir };
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

/* After a successful parse: the whole semantic pass. */
static void load(struct loader *ld, const config_t *cfg)
{
	const config_setting_t *root = config_root_setting(cfg);
	ld->main_raw = config_setting_source_file(root);
	load_root(ld, root, &ld->defaults_layer);
	check_connections(ld);

	unsigned n = ld->domains ?
		(unsigned)config_setting_length(ld->domains) : 0;
	/* A domains setting of the wrong type was reported already. */
	if (n == 0 && (ld->domains || !ld->domains_seen))
		loader_report_at(ld, DIAG_ERROR, ld->name, ld->domains ?
			config_setting_source_line(ld->domains) : 0,
			"config-no-domains", "no domains are configured — add "
			"a domains = ( { name = \"example.com\"; ... } ); list");
	for (unsigned i = 0; i < n; i++)
		domains_load_entry(ld, config_setting_get_elem(ld->domains, i));
	domains_check_duplicates(ld);
}

static int finish_load(struct loader *ld, size_t errors)
{
	loader_finish(ld);
	return ld->d->errors > errors ? -1 : 0;
}

#define INCLUDE_DEPTH_MAX 10	/* libconfig's own limit */

/*
 * check_includes looks at every "@include" line of file (and of the files
 * it includes) before libconfig does: libconfig 1.5 calls exit() when an
 * included name is a directory or cannot be read, which would end the
 * daemon on a reload instead of keeping the old configuration. Returns
 * false after reporting each bad include at its file and line.
 */
static bool check_includes(struct loader *ld, const char *file, int depth)
{
	FILE *f = fopen(file, "r");
	if (!f)
		return true;	/* the caller reports the main file itself */
	bool ok = true;
	char line[4096];
	unsigned number = 0;
	while (fgets(line, sizeof(line), f)) {
		number++;
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, "@include", 8) != 0)
			continue;
		p += 8;
		p += strspn(p, " \t");
		const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
		if (!end)
			continue;	/* a syntax error: libconfig reports it */
		char *name = strndup(p + 1, (size_t)(end - p - 1));
		char *target = name && ld->main_dir ?
			text_path_join(ld->main_dir, name) : name ? strdup(name) : NULL;
		if (!target) {
			free(name);
			loader_nomem(ld);
			ok = false;
			break;
		}
		struct stat st;
		int err = stat(target, &st) < 0 ? errno :
			S_ISDIR(st.st_mode) ? EISDIR :
			!S_ISREG(st.st_mode) ? EINVAL :
			access(target, R_OK) < 0 ? errno : 0;
		if (err) {
			loader_report_at(ld, DIAG_ERROR, file, number, "config-include",
				"@include \"%s\": cannot read %s: %s — include "
				"a regular, readable file; the name is relative "
				"to the directory of the main file", name,
				target, err == EINVAL ? "not a regular file" :
				strerror(err));
			ok = false;
		} else if (depth + 1 >= INCLUDE_DEPTH_MAX) {
			loader_report_at(ld, DIAG_ERROR, file, number, "config-include",
				"@include \"%s\": includes nest deeper than %d "
				"files — include the files from one place",
				name, INCLUDE_DEPTH_MAX);
			ok = false;
		} else if (!check_includes(ld, target, depth + 1)) {
			ok = false;
		}
		free(name);
		free(target);
	}
	fclose(f);
	return ok;
}

int config_load_file(const char *path, struct config *out, struct diag *d)
{
	struct loader ld = {
		.out = out, .d = d, .name = path, .from_file = true,
	};
	size_t errors = d->errors;

	out->file = strdup(path);
	if (!out->file)
		loader_nomem(&ld);
	apply_builtin(&ld);

	/* libconfig says only "file I/O error"; errno names the cause. */
	FILE *probe = fopen(path, "r");
	struct stat st;
	int err = !probe ? errno : fstat(fileno(probe), &st) < 0 ? errno :
		S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (probe)
		fclose(probe);
	if (err) {
		loader_report_at(&ld, DIAG_ERROR, path, 0, "config-open",
			"cannot open: %s — create it (an example is in "
			"/usr/share/doc/mta-stsd/mta-stsd.conf) or pass -c FILE",
			strerror(err));
		return finish_load(&ld, errors);
	}

	ld.main_dir = loader_dir_of(path);
	if (!check_includes(&ld, path, 0))
		return finish_load(&ld, errors);
	config_t cfg;
	config_init(&cfg);
	if (ld.main_dir)
		config_set_include_dir(&cfg, ld.main_dir);
	if (!config_read_file(&cfg, path))
		advice_syntax_error(&ld, &cfg);
	else
		load(&ld, &cfg);
	config_destroy(&cfg);
	return finish_load(&ld, errors);
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
	free(config->tls_priorities);
	free(config->tls_priorities_file);
	free(config->log_level);
	free(config->log_target);
	for (size_t i = 0; i < config->domain_count; i++)
		domains_finish_domain(&config->domains[i]);
	free(config->domains);
	*config = (struct config){0};
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
