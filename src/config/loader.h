/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_LOADER_H
#define MTASTSD_LOADER_H

/*
 * The configuration loader's inside, shared by the files of config/ and by
 * nothing else: config.c reads the file and walks its tree, settings.c turns
 * global settings into struct config, domains.c resolves domain entries
 * through templates and defaults, keys.c holds the tables of keys and
 * defaults, advice.c writes the findings' texts and fixes.
 */
#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "core/policy.h"
#include "util/diag.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum scope {
	SCOPE_GLOBAL,
	SCOPE_DEFAULTS,
	SCOPE_TEMPLATE,
	SCOPE_DOMAIN,
};

enum gkind {
	G_STRING,
	G_PATH,		/* a string; relative to the file that sets it */
	G_ENUM,
	G_BOOL,
	G_UINT,
	G_LISTEN,
	G_DEFAULTS,
	G_POLICIES,
	G_DOMAINS,
	G_ACME,
};

struct gkey {
	const char *name;
	enum gkind kind;
	size_t offset;			/* into struct config */
	unsigned min, max;		/* G_UINT */
	const char *note;		/* G_UINT: what the numbers mean */
	const char *const *values;	/* G_ENUM, NULL-terminated */
};


/* The fields a policy layer (defaults, template, domain entry) can hold. */
enum field {
	FIELD_MODE,
	FIELD_MAX_AGE,
	FIELD_MX,
	FIELD_CERT,
	FIELD_KEY,
	FIELD_TLSRPT_RUA,
	FIELD_ID,		/* domain entries only */
	FIELD_COUNT,
};


#define BIT(f) (1u << (f))
/* The fields that make up struct policy; a bad one skips policy_validate. */
#define POLICY_FIELDS (BIT(FIELD_MODE) | BIT(FIELD_MAX_AGE) | BIT(FIELD_MX))

/* ------------------------------------------------------------------------ */
/* Loader state */

/* A file libconfig read, as shown in diagnostics. */
struct source {
	const char *raw;	/* libconfig's name for it (borrowed) */
	char *path;		/* relative to the working directory */
	char *dir;		/* its directory; NULL: the working directory */
};

struct origin {
	const char *path;
	const char *dir;
};

/*
 * One layer of policy fields: a domain entry, a template, `defaults` or the
 * built-in defaults. Strings are borrowed from libconfig, so layers live no
 * longer than the parsed configuration.
 */
struct layer {
	unsigned set;			/* BIT(field) present */
	unsigned bad;			/* present but rejected (reported) */
	enum policy_mode mode;
	uint32_t max_age;
	const char **mx;		/* owned array, borrowed strings */
	size_t mx_count;
	const char *text[FIELD_COUNT];	/* cert, key, tlsrpt_rua, id */
	const char *dir[FIELD_COUNT];	/* base of a relative cert or key */
};

struct template {
	const char *name;
	const config_setting_t *setting;
	struct layer layer;
};

/* Where a domain name was written, for duplicate reports. */
struct place {
	const char *file;	/* the domain's file (owned by out) */
	unsigned line;
};

struct loader {
	struct config *out;
	struct diag *d;
	const char *name;		/* main file, or the name of the text */
	bool from_file;
	bool builtin;			/* applying config_defaults */
	char *main_dir;			/* directory of the main file */
	char *abs_prefix;		/* "../../" that read_file put in
					 * front of absolute @include names */
	char *real_of;			/* the directory real_dir is of */
	char *real_dir;			/* its real path (realpath) */
	const char *main_raw;		/* libconfig's name for the main file */
	const char *text;		/* the text being loaded, if any */
	bool oom;

	struct source *sources;
	size_t source_count;
	size_t source_cap;
	size_t last_source;

	config_t builtin_cfg;		/* config_defaults, parsed */
	bool builtin_cfg_live;
	struct layer builtin_layer;
	struct layer defaults_layer;
	struct template *templates;	/* sorted by name */
	size_t template_count;
	const config_setting_t *domains;
	bool domains_seen;
	const config_setting_t *max_connections_setting;
	const config_setting_t *domains_directory_setting;
	const config_setting_t *per_ip_setting;

	size_t out_source_cap;		/* room in out->sources */
	/* config_load_file_reusing: the files of domains_directory in
	 * reuse->previous->sources are [reuse_lo, reuse_hi), sorted. */
	const struct config_reuse *reuse;
	bool reusing;
	size_t reuse_lo, reuse_hi;

	size_t domain_cap;
	struct place *places;		/* parallel to out->domains */
	size_t domain_errors;		/* errors that belong to domains */
};


/* ---- keys.c: what the file may hold ---- */

extern const struct gkey keys_global[];
extern const size_t keys_global_count;

/* The i-th key valid in scope, or NULL past the last. */
const char *keys_in_scope(enum scope scope, size_t i);
bool keys_is_in_scope(enum scope scope, const char *key);
/* The global key called name, or NULL. */
const struct gkey *keys_global_find(const char *name);
bool keys_field_of(const char *key, enum field *f);
/* A right-hand side for key to quote in a fix ("..." when none). */
const char *keys_example(const char *key);

/* ---- config.c: the loader itself ---- */

void loader_nomem(struct loader *ld);
void loader_layer_finish(struct layer *layer);
/* The directory part of path, or NULL when it has none (caller frees). */
char *loader_dir_of(const char *path);
/* path as is when absolute or dir is NULL, else dir/path (caller frees). */
char *loader_resolve_path(const char *path, const char *dir);
/* The path to show for libconfig's name of a file (caller frees). */
char *loader_source_path(const struct loader *ld, const char *raw);
struct origin loader_origin(struct loader *ld, const char *raw);
struct origin loader_origin_of_setting(struct loader *ld,
	const config_setting_t *s);
__attribute__((format(printf, 6, 7)))
void loader_report_at(struct loader *ld, enum diag_severity severity,
	const char *file, unsigned line, const char *code, const char *fmt,
	...);
/* An error at setting s (its file and line). */
__attribute__((format(printf, 4, 5)))
void loader_report(struct loader *ld, const config_setting_t *s,
	const char *code, const char *fmt, ...);

/* ---- settings.c: typed access and the global settings ---- */

bool settings_get_string(struct loader *ld, const config_setting_t *s,
	const char **out);
/* A string that must not be empty. */
bool settings_get_text(struct loader *ld, const config_setting_t *s,
	const char **out);
bool settings_get_int(struct loader *ld, const config_setting_t *s,
	long long *out);
/* One string or an array or list of them (caller frees *out). */
bool settings_get_strings(struct loader *ld, const config_setting_t *s,
	const config_setting_t ***out, size_t *count);
void settings_global(struct loader *ld, const struct gkey *k,
	const config_setting_t *s);

/* ---- domains.c: policy layers, templates and domain entries ---- */

void domains_load_layer(struct loader *ld, struct layer *l,
	const config_setting_t *g, enum scope scope);
void domains_load_templates(struct loader *ld, const config_setting_t *s);
void domains_load_entry(struct loader *ld, const config_setting_t *e);
void domains_check_duplicates(struct loader *ld);
void domains_finish_domain(struct config_domain *dom);
/* Appends a borrowed view of src, a domain of the running configuration. */
void domains_add_borrowed(struct loader *ld, const struct config_domain *src);
/*
 * The code of the first error in d->items[from...], leaving out the items
 * [skip_from, skip_to); NULL when there is none.
 */
const char *domains_first_error(const struct loader *ld, size_t from,
	size_t skip_from, size_t skip_to);
/* Records name (file:line) as yielding no domain to serve. */
void domains_skip(struct loader *ld, const char *name, const char *file,
	unsigned line, const char *code);

/* ---- acme_settings.c: the acme group ---- */

void config_acme_load(struct loader *ld, const config_setting_t *s);

/* ---- advice.c: the findings' texts and fixes ---- */

const char *advice_key_of(const config_setting_t *s);
const char *advice_type_text(int type);
/* Is candidate a plausible typo of key? */
bool advice_is_near(const char *key, const char *candidate);
void advice_wrong_type(struct loader *ld, const config_setting_t *s,
	const char *expected);
/* Reports key s as not valid in scope; returns the key meant, or NULL. */
const char *advice_unknown_key(struct loader *ld, const config_setting_t *s,
	enum scope scope);
void advice_unknown_template(struct loader *ld, const config_setting_t *s,
	const char *name);
void advice_missing(struct loader *ld, const config_setting_t *entry,
	const char *subject, const char *key, const char *fix,
	const struct template *t);
/*
 * advice_open_fix writes to buf how to get past errno err when opening
 * path: the owner, mode and reading user for a permission error, the
 * descriptor limit for EMFILE, and so on. Returns buf.
 */
const char *advice_open_fix(int err, const char *path, char *buf,
	size_t size);
/* Reports libconfig's parse error of cfg with a guess at the fix. */
void advice_syntax_error(struct loader *ld, const config_t *cfg);

#endif
