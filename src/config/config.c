/* SPDX-License-Identifier: MIT */
/*
 * The only libconfig user: turns mta-stsd.conf into a struct config of plain
 * C types. Every problem goes to a diag list at the file and line of the
 * offending setting (the included file when it comes from an @include), and
 * loading keeps going so one run reports everything.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildconf.h"
#include "config/config.h"
#include "util/diag.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "core/txt.h"
#include "util/text.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A copy of TLS_DEFAULT_PRIORITIES from tls.h, kept here so that config does
 * not depend on the TLS module; test-config checks that the two agree.
 */
#define CONFIG_TLS_PRIORITIES \
	"SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305:+AES-256-GCM:%SERVER_PRECEDENCE"

/*
 * The defaults, written exactly as they would be in the file. They are not
 * interpreted by hand: load() parses them with libconfig and applies them
 * through the same code as the user's settings, so the table, the man page
 * and the behaviour cannot drift apart. mode and max_age are the built-in
 * layer under `defaults = { ... };`.
 */
const struct config_default config_defaults[] = {
	{ "listen", "[ \"[::]:443\" ]" },
	{ "user", "\"mta-stsd\"" },
	{ "group", "\"mta-stsd\"" },
	{ "state_directory", "\"" MTASTSD_STATE_DIR "\"" },
	{ "tls_priorities", "\"" CONFIG_TLS_PRIORITIES "\"" },
	{ "log_level", "\"info\"" },
	{ "log_target", "\"stderr\"" },
	{ "access_log", "false" },
	{ "threads", "0" },
	{ "max_connections", "1024" },
	{ "max_connections_per_ip", "32" },
	{ "connection_timeout", "10" },
	{ "max_request_size", "8192" },
	{ "txt_ttl", "3600" },
	{ "mode", "\"testing\"" },
	{ "max_age", "604800" },
	{ NULL, NULL },
};

/* Right-hand sides used in "for example" fixes for keys with no default. */
static const struct config_default examples[] = {
	{ "mx", "[ \"mail.example.com\" ]" },
	{ "cert", "\"/etc/mta-stsd/certs/%d.pem\"" },
	{ "key", "\"/etc/mta-stsd/keys/%d.key\"" },
	{ "tlsrpt_rua", "\"mailto:tlsrpt@example.com\"" },
	{ "id", "\"20261128120000\"" },
	{ "name", "\"example.com\"" },
	{ "names", "[ \"example.com\", \"example.net\" ]" },
	{ "policy", "\"hosted\"" },
	{ "defaults", "{ mode = \"testing\"; }" },
	{ "policies", "{ hosted = { mode = \"enforce\"; }; }" },
	{ "domains", "( { name = \"example.com\"; } )" },
	{ NULL, NULL },
};

/* ------------------------------------------------------------------------ */
/* Keys */

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
};

struct gkey {
	const char *name;
	enum gkind kind;
	size_t offset;			/* into struct config */
	unsigned min, max;		/* G_UINT */
	const char *note;		/* G_UINT: what the numbers mean */
	const char *const *values;	/* G_ENUM, NULL-terminated */
};

static const char *const log_levels[] = {
	"error", "warning", "info", "debug", NULL,
};
static const char *const log_targets[] = { "stderr", "syslog", NULL };

#define OFF(field) offsetof(struct config, field)

static const struct gkey gkeys[] = {
	{ .name = "listen", .kind = G_LISTEN },
	{ .name = "user", .kind = G_STRING, .offset = OFF(user) },
	{ .name = "group", .kind = G_STRING, .offset = OFF(group) },
	{ .name = "state_directory", .kind = G_PATH,
		.offset = OFF(state_directory) },
	{ .name = "tls_priorities", .kind = G_STRING,
		.offset = OFF(tls_priorities) },
	{ .name = "log_level", .kind = G_ENUM, .offset = OFF(log_level),
		.values = log_levels },
	{ .name = "log_target", .kind = G_ENUM, .offset = OFF(log_target),
		.values = log_targets },
	{ .name = "access_log", .kind = G_BOOL, .offset = OFF(access_log) },
	{ .name = "threads", .kind = G_UINT, .offset = OFF(threads),
		.min = 0, .max = 1024, .note = "; 0 means one per CPU" },
	{ .name = "max_connections", .kind = G_UINT,
		.offset = OFF(max_connections), .min = 1, .max = 1000000 },
	{ .name = "max_connections_per_ip", .kind = G_UINT,
		.offset = OFF(max_connections_per_ip), .min = 0,
		.max = 1000000, .note = "; 0 means unlimited" },
	{ .name = "connection_timeout", .kind = G_UINT,
		.offset = OFF(connection_timeout), .min = 1, .max = 3600,
		.note = " seconds" },
	{ .name = "max_request_size", .kind = G_UINT,
		.offset = OFF(max_request_size), .min = 1024, .max = 1048576,
		.note = " bytes" },
	{ .name = "txt_ttl", .kind = G_UINT, .offset = OFF(txt_ttl),
		.min = 60, .max = 604800, .note = " seconds" },
	{ .name = "defaults", .kind = G_DEFAULTS },
	{ .name = "policies", .kind = G_POLICIES },
	{ .name = "domains", .kind = G_DOMAINS },
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

static const char *const field_names[FIELD_COUNT] = {
	"mode", "max_age", "mx", "cert", "key", "tlsrpt_rua", "id",
};

static const char *const template_keys[] = {
	"mode", "max_age", "mx", "cert", "key", "tlsrpt_rua", NULL,
};

static const char *const domain_keys[] = {
	"name", "names", "policy", "mode", "max_age", "mx", "cert", "key",
	"id", "tlsrpt_rua", NULL,
};

#define BIT(f) (1u << (f))
/* The fields that make up struct policy; a bad one skips policy_validate. */
#define POLICY_FIELDS (BIT(FIELD_MODE) | BIT(FIELD_MAX_AGE) | BIT(FIELD_MX))

static const char *scope_key(enum scope scope, size_t i)
{
	switch (scope) {
	case SCOPE_GLOBAL:
		return i < ARRAY_LEN(gkeys) ? gkeys[i].name : NULL;
	case SCOPE_DEFAULTS:
	case SCOPE_TEMPLATE:
		return template_keys[i];
	case SCOPE_DOMAIN:
		return domain_keys[i];
	}
	return NULL;
}

static bool is_key(enum scope scope, const char *key)
{
	const char *k;
	for (size_t i = 0; (k = scope_key(scope, i)); i++) {
		if (!strcmp(k, key))
			return true;
	}
	return false;
}

static bool field_of(const char *key, enum field *f)
{
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		if (!strcmp(field_names[i], key)) {
			*f = (enum field)i;
			return true;
		}
	}
	return false;
}

static const char *example_of(const char *key)
{
	for (const struct config_default *e = config_defaults; e->key; e++) {
		if (!strcmp(e->key, key))
			return e->value;
	}
	for (const struct config_default *e = examples; e->key; e++) {
		if (!strcmp(e->key, key))
			return e->value;
	}
	return "...";
}

/* Levenshtein distance, or a large number for long strings. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];
	if (la >= ARRAY_LEN(row) || lb >= ARRAY_LEN(row))
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Is candidate a plausible typo of key? Within two edits, and fewer edits
 * than the shorter word has letters, so "ab" does not suggest "mx".
 */
static bool is_near(const char *key, const char *candidate)
{
	size_t dist = edit_distance(key, candidate);
	size_t shorter = strlen(key) < strlen(candidate) ?
		strlen(key) : strlen(candidate);
	return dist <= 2 && dist < shorter;
}

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
	const char *file;	/* a source path (borrowed) */
	unsigned line;
};

struct loader {
	struct config *out;
	struct diag *d;
	const char *name;		/* main file, or the name of the text */
	bool from_file;
	bool builtin;			/* applying config_defaults */
	char *main_dir;			/* directory of the main file */
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
	const config_setting_t *per_ip_setting;

	size_t domain_cap;
	struct place *places;		/* parallel to out->domains */
};

static void layer_finish(struct layer *layer)
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
		layer_finish(&ld->templates[i].layer);
	free(ld->templates);
	layer_finish(&ld->builtin_layer);
	layer_finish(&ld->defaults_layer);
	if (ld->builtin_cfg_live)
		config_destroy(&ld->builtin_cfg);
	free(ld->places);
	free(ld->main_dir);
}

static void nomem(struct loader *ld)
{
	if (ld->oom)
		return;
	ld->oom = true;
	diag_add(ld->d, DIAG_ERROR, ld->name, 0, "config-out-of-memory",
		"out of memory while loading the configuration — free memory "
		"and try again");
}

/* The directory part of path, or NULL when path has none. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* path as is when absolute or dir is NULL, else dir/path. */
static char *resolve_path(const char *path, const char *dir)
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
static struct origin origin_of(struct loader *ld, const char *raw)
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
			nomem(ld);
			return (struct origin){ raw, NULL };
		}
		ld->sources = grown;
		ld->source_cap = cap;
	}
	struct source *s = &ld->sources[ld->source_count];
	s->raw = raw;
	s->path = resolve_path(raw, ld->main_dir);
	s->dir = s->path ? dir_of(s->path) : NULL;
	if (!s->path) {
		nomem(ld);
		return (struct origin){ raw, NULL };
	}
	ld->last_source = ld->source_count++;
	return (struct origin){ s->path, s->dir };
}

static struct origin origin_of_setting(struct loader *ld,
	const config_setting_t *s)
{
	return origin_of(ld, config_setting_source_file(s));
}

__attribute__((format(printf, 6, 0)))
static void vreport_at(struct loader *ld, enum diag_severity severity,
	const char *file, unsigned line, const char *code, const char *fmt,
	va_list ap)
{
	char *message = NULL;
	if (vasprintf(&message, fmt, ap) < 0) {
		nomem(ld);
		return;
	}
	diag_add(ld->d, severity, file, line, code, "%s", message);
	free(message);
}

__attribute__((format(printf, 6, 7)))
static void report_at(struct loader *ld, enum diag_severity severity,
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
static void report(struct loader *ld, const config_setting_t *s,
	const char *code, const char *fmt, ...)
{
	struct origin o = origin_of_setting(ld, s);
	/* Line numbers of the generated defaults text mean nothing to users. */
	unsigned line = ld->builtin ? 0 : config_setting_source_line(s);
	va_list ap;
	va_start(ap, fmt);
	vreport_at(ld, DIAG_ERROR, o.path, line, code, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Typed access */

/* The name a setting is known by; array elements borrow their parent's. */
static const char *key_of(const config_setting_t *s)
{
	while (s && !config_setting_name(s))
		s = config_setting_parent(s);
	return s ? config_setting_name(s) : "value";
}

static const char *type_text(int type)
{
	switch (type) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a decimal number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	}
	return "an unknown type";
}

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/*
 * wrong_type reports that s is not of the expected type. A quoted number or
 * boolean is the most common slip, so its fix is the same value unquoted.
 */
static void wrong_type(struct loader *ld, const config_setting_t *s,
	const char *expected)
{
	const char *key = key_of(s);
	int type = config_setting_type(s);
	const char *v = type == CONFIG_TYPE_STRING ?
		config_setting_get_string(s) : NULL;

	if (v && !strcmp(expected, "an integer") && is_digits(v)) {
		report(ld, s, "config-wrong-type",
			"`%s` must be an integer, not a string — write it "
			"without quotes: %s = %s;", key, key, v);
	} else if (v && !strcmp(expected, "true or false") &&
			(!strcasecmp(v, "true") || !strcasecmp(v, "false"))) {
		report(ld, s, "config-wrong-type",
			"`%s` must be true or false, not a string — write it "
			"without quotes: %s = %s;", key, key,
			!strcasecmp(v, "true") ? "true" : "false");
	} else if (!config_setting_name(s)) {
		report(ld, s, "config-wrong-type",
			"`%s` entries must be strings, not %s — for example "
			"%s = %s;", key, type_text(type), key, example_of(key));
	} else {
		report(ld, s, "config-wrong-type",
			"`%s` must be %s, not %s — for example %s = %s;", key,
			expected, type_text(type), key, example_of(key));
	}
}

static bool get_string(struct loader *ld, const config_setting_t *s,
	const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		wrong_type(ld, s, "a string");
		return false;
	}
	*out = config_setting_get_string(s);
	return true;
}

/* A string that must not be empty. */
static bool get_text(struct loader *ld, const config_setting_t *s,
	const char **out)
{
	if (!get_string(ld, s, out))
		return false;
	if (!**out) {
		const char *key = key_of(s);
		report(ld, s, "config-empty", "`%s` is empty — for example "
			"%s = %s;", key, key, example_of(key));
		return false;
	}
	return true;
}

static bool get_int(struct loader *ld, const config_setting_t *s,
	long long *out)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		wrong_type(ld, s, "an integer");
		return false;
	}
	*out = config_setting_get_int64(s);
	return true;
}

/*
 * get_strings accepts one string or an array or list of strings and returns
 * the string settings (caller frees the array; *count may be 0).
 */
static bool get_strings(struct loader *ld, const config_setting_t *s,
	const config_setting_t ***out, size_t *count)
{
	int type = config_setting_type(s);
	*out = NULL;
	*count = 0;
	if (type == CONFIG_TYPE_STRING) {
		*out = malloc(sizeof(**out));
		if (!*out) {
			nomem(ld);
			return false;
		}
		(*out)[0] = s;
		*count = 1;
		return true;
	}
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		wrong_type(ld, s, "a string or an array of strings");
		return false;
	}
	size_t n = (size_t)config_setting_length(s);
	if (n == 0)
		return true;
	*out = calloc(n, sizeof(**out));
	if (!*out) {
		nomem(ld);
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e =
			config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			wrong_type(ld, e, "a string");
			ok = false;
			/* The elements of an array all have the same type. */
			if (type == CONFIG_TYPE_ARRAY)
				break;
		}
		(*out)[i] = e;
	}
	if (!ok) {
		free(*out);
		*out = NULL;
		return false;
	}
	*count = n;
	return true;
}

static void replace(char **field, char *value)
{
	free(*field);
	*field = value;
}

/* ------------------------------------------------------------------------ */
/* Unknown keys */

static const char *scope_place(enum scope scope)
{
	switch (scope) {
	case SCOPE_GLOBAL:
		return "the top level";
	case SCOPE_DEFAULTS:
		return "defaults";
	case SCOPE_TEMPLATE:
		return "a policies template";
	case SCOPE_DOMAIN:
		return "a domain entry";
	}
	return "here";
}

/*
 * unknown_key reports a key that is not valid where it is: a key that
 * belongs elsewhere says where, a likely typo gets "did you mean", anything
 * else the list of valid keys. Returns the key suggested, or NULL.
 */
static const char *unknown_key(struct loader *ld, const config_setting_t *s,
	enum scope scope)
{
	const char *key = config_setting_name(s);

	if (scope != SCOPE_GLOBAL && is_key(SCOPE_GLOBAL, key)) {
		report(ld, s, "config-misplaced-setting",
			"`%s` is a global setting, not valid in %s — move it to "
			"the top level of the file", key, scope_place(scope));
		return NULL;
	}
	if (scope == SCOPE_GLOBAL && is_key(SCOPE_TEMPLATE, key)) {
		report(ld, s, "config-misplaced-setting",
			"`%s` is not a global setting — set it in defaults = { "
			"... }; for every domain, in a policies template, or in "
			"a domain entry", key);
		return NULL;
	}
	if (scope != SCOPE_DOMAIN && is_key(SCOPE_DOMAIN, key)) {
		report(ld, s, "config-misplaced-setting",
			"`%s` can only be set in a domain entry — move it into "
			"domains = ( { ... } );%s", key, !strcmp(key, "id") ?
			" or omit it and mta-stsd manages the id" : "");
		return NULL;
	}

	const char *k;
	for (size_t i = 0; (k = scope_key(scope, i)); i++) {
		if (is_near(key, k)) {
			report(ld, s, "config-unknown-setting",
				"unknown setting `%s` — did you mean `%s`?",
				key, k);
			return k;
		}
	}

	char list[512] = "";
	size_t used = 0;
	for (size_t i = 0; (k = scope_key(scope, i)); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s",
			i ? ", " : "", k);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	report(ld, s, "config-unknown-setting",
		"unknown setting `%s` — valid settings in %s are: %s", key,
		scope_place(scope), list);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Listen addresses */

int config_parse_listen(const char *text, char *host, size_t host_size,
	unsigned *port)
{
	const char *h, *colon;
	size_t len;
	int family;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -1;
		h = text + 1;
		len = (size_t)(close - h);
		colon = close + 1;
		family = AF_INET6;
	} else {
		colon = strchr(text, ':');
		/* A second ':' is an IPv6 address without its brackets. */
		if (!colon || strchr(colon + 1, ':'))
			return -1;
		h = text;
		len = (size_t)(colon - text);
		family = len == 1 && h[0] == '*' ? 0 : AF_INET;
	}

	char addr[INET6_ADDRSTRLEN];
	if (len == 0 || len >= sizeof(addr) || len >= host_size)
		return -1;
	memcpy(addr, h, len);
	addr[len] = '\0';
	unsigned char buf[sizeof(struct in6_addr)];
	if (family && inet_pton(family, addr, buf) != 1)
		return -1;

	const char *p = colon + 1;
	unsigned long value = 0;
	size_t digits = strspn(p, "0123456789");
	if (digits == 0 || digits > 5 || p[digits] != '\0')
		return -1;
	for (size_t i = 0; i < digits; i++)
		value = value * 10 + (unsigned long)(p[i] - '0');
	if (value < 1 || value > 65535)
		return -1;

	memcpy(host, addr, len + 1);
	*port = (unsigned)value;
	return 0;
}

static void load_listen(struct loader *ld, const config_setting_t *s)
{
	const config_setting_t **el;
	size_t n;
	if (!get_strings(ld, s, &el, &n))
		return;
	if (n == 0) {
		report(ld, s, "config-empty", "`listen` is empty — give at "
			"least one address, for example listen = %s;",
			example_of("listen"));
		return;
	}

	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const char *v = config_setting_get_string(el[i]);
		char host[INET6_ADDRSTRLEN];
		unsigned port;
		if (config_parse_listen(v, host, sizeof(host), &port) < 0) {
			report(ld, el[i], "config-listen-invalid",
				"listen address `%s` is not valid — write "
				"\"[IPv6]:port\", \"IPv4:port\" or \"*:port\" "
				"with a numeric address and a port from 1 to "
				"65535, for example \"[::]:443\" or "
				"\"127.0.0.1:8443\"", v);
			ok = false;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(v, config_setting_get_string(el[j]))) {
				report(ld, el[i], "config-listen-duplicate",
					"listen address `%s` is given twice — "
					"remove one", v);
				ok = false;
				break;
			}
		}
	}

	char **list = ok ? calloc(n, sizeof(*list)) : NULL;
	if (ok && !list)
		nomem(ld);
	for (size_t i = 0; list && i < n; i++) {
		list[i] = strdup(config_setting_get_string(el[i]));
		if (!list[i]) {
			nomem(ld);
			for (size_t j = 0; j < i; j++)
				free(list[j]);
			free(list);
			list = NULL;
		}
	}
	if (list) {
		for (size_t i = 0; i < ld->out->listen_count; i++)
			free(ld->out->listen[i]);
		free(ld->out->listen);
		ld->out->listen = list;
		ld->out->listen_count = n;
	}
	free(el);
}

/* ------------------------------------------------------------------------ */
/* Global settings */

static void global_setting(struct loader *ld, const struct gkey *k,
	const config_setting_t *s)
{
	char *base = (char *)ld->out;

	switch (k->kind) {
	case G_STRING:
	case G_PATH:
	case G_ENUM: {
		const char *v;
		if (!get_text(ld, s, &v))
			return;
		if (k->kind == G_ENUM) {
			size_t i;
			for (i = 0; k->values[i]; i++) {
				if (!strcmp(k->values[i], v))
					break;
			}
			if (!k->values[i]) {
				char list[128] = "";
				for (i = 0; k->values[i]; i++) {
					if (i)
						strcat(list, ", ");
					strcat(list, k->values[i]);
				}
				report(ld, s, "config-bad-value",
					"%s `%s` is not one of %s — for "
					"example %s = %s;", k->name, v, list,
					k->name, example_of(k->name));
				return;
			}
		}
		char *copy = k->kind == G_PATH ?
			resolve_path(v, origin_of_setting(ld, s).dir) :
			strdup(v);
		if (!copy) {
			nomem(ld);
			return;
		}
		replace((char **)(void *)(base + k->offset), copy);
		if (!strcmp(k->name, "tls_priorities")) {
			/* Checked by tls.c, which reports at this place. */
			const char *file = ld->builtin ? NULL :
				origin_of_setting(ld, s).path;
			char *file_copy = file ? strdup(file) : NULL;
			if (file && !file_copy)
				nomem(ld);
			replace(&ld->out->tls_priorities_file, file_copy);
			ld->out->tls_priorities_line = ld->builtin ? 0 :
				config_setting_source_line(s);
		}
		return;
	}
	case G_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			wrong_type(ld, s, "true or false");
			return;
		}
		*(bool *)(void *)(base + k->offset) =
			config_setting_get_bool(s);
		return;
	case G_UINT: {
		long long v;
		if (!get_int(ld, s, &v))
			return;
		if (v < k->min || v > k->max) {
			report(ld, s, "config-out-of-range",
				"%s %lld is out of range — use %u to %u%s", k->name,
				v, k->min, k->max, k->note ? k->note : "");
			return;
		}
		*(unsigned *)(void *)(base + k->offset) = (unsigned)v;
		if (!ld->builtin && !strcmp(k->name, "max_connections"))
			ld->max_connections_setting = s;
		if (!ld->builtin && !strcmp(k->name, "max_connections_per_ip"))
			ld->per_ip_setting = s;
		return;
	}
	case G_LISTEN:
		load_listen(ld, s);
		return;
	case G_DEFAULTS:
	case G_POLICIES:
	case G_DOMAINS:
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Policy fields */

static bool check_mx(struct loader *ld, const config_setting_t *s,
	const char *v)
{
	/* policy_add_mx drops one trailing dot, so accept one here. */
	char buf[DNSNAME_MAX + 2];
	size_t len = strlen(v);
	enum dnsname_problem problem;
	if (len && v[len - 1] == '.')
		len--;
	if (len >= sizeof(buf)) {
		problem = DNSNAME_TOO_LONG;
	} else {
		memcpy(buf, v, len);
		buf[len] = '\0';
		problem = dnsname_check(buf, true);
	}
	if (problem == DNSNAME_OK)
		return true;
	report(ld, s, "config-mx-invalid",
		"mx `%s` is not a valid host name pattern: %s — %s (RFC 8461 "
		"§3.2)", v, dnsname_problem_text(problem),
		dnsname_problem_fix(problem));
	return false;
}

/* cert and key may only use %d (the domain) and %% (a literal %). */
static bool check_percent(struct loader *ld, const config_setting_t *s,
	const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 'd' || p[1] == '%') {
			p++;
			continue;
		}
		if (p[1] == '\0')
			report(ld, s, "config-path-format",
				"`%s` ends in a lone `%%` — use %%d for the "
				"domain or %%%% for a literal %%", key_of(s));
		else
			report(ld, s, "config-path-format",
				"`%s` has `%%%c` — use %%d for the domain or "
				"%%%% for a literal %%", key_of(s), p[1]);
		return false;
	}
	return true;
}

/*
 * RFC 8460 §3: the one rua checker, txt_check_tlsrpt_rua, which txt and
 * lint also use, so a value that loads is a value `txt` can publish.
 */
static bool check_rua(struct loader *ld, const config_setting_t *s,
	const char *v)
{
	unsigned line = ld->builtin ? 0 : config_setting_source_line(s);
	return txt_check_tlsrpt_rua(v, "tlsrpt_rua", ld->d,
		origin_of_setting(ld, s).path, line) == 0;
}

/*
 * RFC 8461 §3.1 sts-id: 1*32(ALPHA / DIGIT). Checked here rather than with
 * txt_id_is_valid so that config does not depend on the txt module.
 */
static bool id_is_valid(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				(c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static void layer_field(struct loader *ld, struct layer *l, enum field f,
	const config_setting_t *s)
{
	const char *v;
	l->set |= BIT(f);
	l->bad |= BIT(f);

	switch (f) {
	case FIELD_MODE:
		if (!get_string(ld, s, &v))
			return;
		if (!policy_mode_parse(v, &l->mode)) {
			enum policy_mode m;
			const char *lower = NULL;
			for (m = POLICY_MODE_ENFORCE; m <= POLICY_MODE_NONE; m++) {
				if (!strcasecmp(v, policy_mode_name(m)))
					lower = policy_mode_name(m);
			}
			if (lower)
				report(ld, s, "config-mode-invalid",
					"mode `%s` is not enforce, testing or "
					"none — write it in lower case: mode = "
					"\"%s\"; (RFC 8461 §3.2)", v, lower);
			else
				report(ld, s, "config-mode-invalid",
					"mode `%s` is not enforce, testing or "
					"none — for example mode = \"testing\"; "
					"(RFC 8461 §3.2)", v);
			return;
		}
		break;
	case FIELD_MAX_AGE: {
		long long age;
		if (!get_int(ld, s, &age))
			return;
		if (age < 0 || age > POLICY_MAX_AGE_LIMIT) {
			report(ld, s, "config-max-age-range",
				"max_age %lld is out of range — use 0 to %u "
				"seconds (RFC 8461 §3.2); one week is %u", age,
				POLICY_MAX_AGE_LIMIT, POLICY_WEEK);
			return;
		}
		l->max_age = (uint32_t)age;
		break;
	}
	case FIELD_MX: {
		const config_setting_t **el;
		size_t n;
		if (!get_strings(ld, s, &el, &n))
			return;
		bool ok = true;
		for (size_t i = 0; i < n; i++) {
			if (!check_mx(ld, el[i],
					config_setting_get_string(el[i])))
				ok = false;
		}
		const char **mx = ok && n ? calloc(n, sizeof(*mx)) : NULL;
		if (ok && n && !mx) {
			nomem(ld);
			ok = false;
		}
		for (size_t i = 0; mx && i < n; i++)
			mx[i] = config_setting_get_string(el[i]);
		free(el);
		if (!ok)
			return;
		free(l->mx);
		l->mx = mx;
		l->mx_count = n;
		break;
	}
	case FIELD_CERT:
	case FIELD_KEY:
		if (!get_text(ld, s, &v) || !check_percent(ld, s, v))
			return;
		l->text[f] = v;
		l->dir[f] = origin_of_setting(ld, s).dir;
		break;
	case FIELD_TLSRPT_RUA:
		if (!get_text(ld, s, &v) || !check_rua(ld, s, v))
			return;
		l->text[f] = v;
		break;
	case FIELD_ID:
		if (!get_string(ld, s, &v))
			return;
		if (!id_is_valid(v)) {
			report(ld, s, "config-id-invalid",
				"id `%s` is not 1 to 32 letters or digits — use "
				"for example the date and time, id = %s;, or "
				"omit it and mta-stsd manages the id (RFC 8461 "
				"§3.1)", v, example_of("id"));
			return;
		}
		l->text[f] = v;
		break;
	case FIELD_COUNT:
		return;
	}
	l->bad &= ~BIT(f);
}

/*
 * A misspelt field ("mxx") counts as a rejected value of the field meant,
 * so the entry does not also get "no `mx` is set".
 */
static void typo(struct layer *l, const char *meant)
{
	enum field f;
	if (meant && field_of(meant, &f)) {
		l->set |= BIT(f);
		l->bad |= BIT(f);
	}
}

/* defaults and templates: policy fields only. */
static void load_layer(struct loader *ld, struct layer *l,
	const config_setting_t *g, enum scope scope)
{
	unsigned n = (unsigned)config_setting_length(g);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		enum field f;
		if (field_of(config_setting_name(m), &f) && f != FIELD_ID)
			layer_field(ld, l, f, m);
		else
			typo(l, unknown_key(ld, m, scope));
	}
}

/* ------------------------------------------------------------------------ */
/* Templates */

static int template_cmp(const void *a, const void *b)
{
	const struct template *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static void load_templates(struct loader *ld, const config_setting_t *s)
{
	if (!config_setting_is_group(s)) {
		wrong_type(ld, s, "a group of named policies");
		return;
	}
	unsigned n = (unsigned)config_setting_length(s);
	if (n == 0)
		return;
	ld->templates = calloc(n, sizeof(*ld->templates));
	if (!ld->templates) {
		nomem(ld);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, i);
		const char *name = config_setting_name(m);
		if (!config_setting_is_group(m)) {
			report(ld, m, "config-wrong-type",
				"policy `%s` must be a group { ... }, not %s — "
				"for example %s = { mode = \"enforce\"; mx = %s; "
				"};", name, type_text(config_setting_type(m)),
				name, example_of("mx"));
			continue;
		}
		struct template *t = &ld->templates[ld->template_count++];
		t->name = name;
		t->setting = m;
		load_layer(ld, &t->layer, m, SCOPE_TEMPLATE);
	}
	qsort(ld->templates, ld->template_count, sizeof(*ld->templates),
		template_cmp);
}

static const struct template *find_template(const struct loader *ld,
	const char *name)
{
	struct template key = { .name = name };
	if (!ld->template_count)
		return NULL;
	return bsearch(&key, ld->templates, ld->template_count,
		sizeof(*ld->templates), template_cmp);
}

static void unknown_template(struct loader *ld, const config_setting_t *s,
	const char *name)
{
	if (!ld->template_count) {
		report(ld, s, "config-policy-unknown",
			"policy `%s` is not defined — no policies are defined; "
			"add policies = { %s = { mode = \"enforce\"; mx = %s; "
			"}; }; or remove `policy`", name, name,
			example_of("mx"));
		return;
	}
	const char *near = NULL;
	char list[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < ld->template_count; i++) {
		const char *t = ld->templates[i].name;
		if (!near && is_near(name, t))
			near = t;
	}
	/* Providers may define many templates: list the first ten. */
	for (size_t i = 0; i < ld->template_count && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s",
			i ? ", " : "", i < 10 ? ld->templates[i].name : "...");
		if (n < 0 || i >= 10)
			break;
		used += (size_t)n;
	}
	if (near)
		report(ld, s, "config-policy-unknown",
			"policy `%s` is not defined — did you mean `%s`? "
			"Defined policies: %s", name, near, list);
	else
		report(ld, s, "config-policy-unknown",
			"policy `%s` is not defined — use one of the defined "
			"policies: %s", name, list);
}

/* ------------------------------------------------------------------------ */
/* Domains */

/* The fields of one domain entry after resolution. */
struct resolved {
	enum policy_mode mode;
	uint32_t max_age;
	const char *const *mx;
	size_t mx_count;
	const char *text[FIELD_COUNT];
	const char *dir[FIELD_COUNT];
	const char *template_name;
	bool policy_ok;		/* every policy field resolved cleanly */
};

/* The first layer (domain, template, defaults, built-in) that sets f. */
static const struct layer *pick(const struct layer *const *layers, size_t n,
	enum field f)
{
	for (size_t i = 0; i < n; i++) {
		if (layers[i]->set & BIT(f))
			return layers[i];
	}
	return NULL;
}

/* %d becomes the domain, %% a percent sign; see check_percent. */
static char *expand_path(const char *text, const char *domain,
	const char *dir)
{
	size_t dlen = strlen(domain), n = 0;
	for (const char *p = text; *p; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			n += dlen;
			p++;
		} else {
			if (p[0] == '%' && p[1] == '%')
				p++;
			n++;
		}
	}
	char *s = malloc(n + 1), *o = s;
	if (!s)
		return NULL;
	for (const char *p = text; *p; p++) {
		if (p[0] == '%' && p[1] == 'd') {
			memcpy(o, domain, dlen);
			o += dlen;
			p++;
		} else {
			if (p[0] == '%' && p[1] == '%')
				p++;
			*o++ = *p;
		}
	}
	*o = '\0';
	if (s[0] == '/' || !dir)
		return s;
	char *joined = text_path_join(dir, s);
	free(s);
	return joined;
}

/* text_dup that clears *ok when a non-NULL s could not be copied. */
static char *copy_text(const char *s, bool *ok)
{
	char *c = text_dup(s);
	if (s && !c)
		*ok = false;
	return c;
}

static void domain_finish(struct config_domain *dom)
{
	free(dom->name);
	policy_finish(&dom->policy);
	free(dom->id);
	free(dom->cert);
	free(dom->key);
	free(dom->tlsrpt_rua);
	free(dom->template_name);
	free(dom->file);
	*dom = (struct config_domain){0};
}

/*
 * add_domain appends one configured domain to out and validates its policy
 * at the place of the entry (name is already normalised).
 */
static void add_domain(struct loader *ld, const char *name,
	const config_setting_t *name_setting, const config_setting_t *entry,
	const struct resolved *r)
{
	struct config *out = ld->out;
	if (out->domain_count == ld->domain_cap) {
		size_t cap = ld->domain_cap ? ld->domain_cap * 2 : 16;
		struct config_domain *domains = realloc(out->domains,
			cap * sizeof(*domains));
		if (!domains) {
			nomem(ld);
			return;
		}
		out->domains = domains;
		struct place *places = realloc(ld->places,
			cap * sizeof(*places));
		if (!places) {
			nomem(ld);
			return;
		}
		ld->places = places;
		ld->domain_cap = cap;
	}

	struct origin o = origin_of_setting(ld, entry);
	unsigned line = config_setting_source_line(entry);
	struct config_domain dom = {0};
	bool ok = true;
	policy_init(&dom.policy);
	dom.name = copy_text(name, &ok);
	dom.policy.mode = r->mode;
	dom.policy.max_age = r->max_age;
	for (size_t i = 0; i < r->mx_count; i++) {
		if (policy_add_mx(&dom.policy, r->mx[i]) < 0)
			ok = false;
	}
	if (r->text[FIELD_CERT]) {
		dom.cert = expand_path(r->text[FIELD_CERT], name,
			r->dir[FIELD_CERT]);
		ok = ok && dom.cert;
	}
	if (r->text[FIELD_KEY]) {
		dom.key = expand_path(r->text[FIELD_KEY], name,
			r->dir[FIELD_KEY]);
		ok = ok && dom.key;
	}
	dom.id = copy_text(r->text[FIELD_ID], &ok);
	dom.tlsrpt_rua = copy_text(r->text[FIELD_TLSRPT_RUA], &ok);
	dom.template_name = copy_text(r->template_name, &ok);
	dom.file = copy_text(o.path, &ok);
	dom.line = line;
	if (!ok) {
		nomem(ld);
		domain_finish(&dom);
		return;
	}

	if (r->policy_ok)
		policy_validate(&dom.policy, dom.name, ld->d, dom.file, line);

	struct origin no = origin_of_setting(ld, name_setting);
	ld->places[out->domain_count] = (struct place){
		no.path, config_setting_source_line(name_setting),
	};
	out->domains[out->domain_count++] = dom;
}

/*
 * check_name normalises one domain name into out, or reports why it is not
 * a policy domain.
 */
static bool check_name(struct loader *ld, const config_setting_t *s,
	const char *v, char out[DNSNAME_MAX + 1])
{
	if (dnsname_normalize(v, false, out, DNSNAME_MAX + 1) < 0) {
		char buf[DNSNAME_MAX + 2];
		size_t len = strlen(v);
		enum dnsname_problem problem = DNSNAME_TOO_LONG;
		if (len && v[len - 1] == '.')
			len--;
		if (len < sizeof(buf)) {
			memcpy(buf, v, len);
			buf[len] = '\0';
			problem = dnsname_check(buf, false);
			if (problem == DNSNAME_OK)
				problem = DNSNAME_TOO_LONG;
		}
		report(ld, s, "config-domain-invalid",
			"`%s` is not a valid domain name: %s — %s", v,
			dnsname_problem_text(problem),
			dnsname_problem_fix(problem));
		return false;
	}
	/* RFC 8461 §3.2: the policy host is mta-sts. plus the domain. */
	if (!strncmp(out, "mta-sts.", 8)) {
		report(ld, s, "config-domain-policy-host",
			"`%s` is a policy host, not a policy domain — give the "
			"policy domain: name = \"%s\"; (mta-stsd serves "
			"mta-sts.%s itself)", v, out + 8, out + 8);
		return false;
	}
	return true;
}

static void missing(struct loader *ld, const config_setting_t *entry,
	const char *subject, const char *key, const char *fix,
	const struct template *t)
{
	report(ld, entry, "config-missing-setting",
		"%s: no `%s` is set — add %s to the domain entry%s%s%s or to "
		"defaults", subject, key, fix, t ? ", to its policy `" : "",
		t ? t->name : "", t ? "`" : "");
}

static void load_domain_entry(struct loader *ld, const config_setting_t *e)
{
	if (!config_setting_is_group(e)) {
		report(ld, e, "config-wrong-type",
			"each element of `domains` must be a group { ... }, not "
			"%s — for example domains = %s;",
			type_text(config_setting_type(e)),
			example_of("domains"));
		return;
	}

	struct layer dl = {0};
	const config_setting_t *name = NULL, *names = NULL, *policy = NULL;
	const char *meant;
	bool name_typo = false;
	unsigned count = (unsigned)config_setting_length(e);
	for (unsigned i = 0; i < count; i++) {
		const config_setting_t *m = config_setting_get_elem(e, i);
		const char *key = config_setting_name(m);
		enum field f;
		if (!strcmp(key, "name"))
			name = m;
		else if (!strcmp(key, "names"))
			names = m;
		else if (!strcmp(key, "policy"))
			policy = m;
		else if (field_of(key, &f))
			layer_field(ld, &dl, f, m);
		else if ((meant = unknown_key(ld, m, SCOPE_DOMAIN)) &&
				!strncmp(meant, "name", 4))
			name_typo = true;
		else
			typo(&dl, meant);
	}

	/* The names this entry configures. */
	const config_setting_t **el = NULL;
	size_t n = 0;
	if (name && names) {
		report(ld, names, "config-name-and-names",
			"`name` and `names` are both set — use name = \"...\"; "
			"for one domain or names = [ ... ]; for several, not "
			"both");
	} else if (!name && !names && !name_typo) {
		report(ld, e, "config-domain-no-name",
			"domain entry has no name — add name = %s; or names = "
			"%s;", example_of("name"), example_of("names"));
	} else if (name) {
		if (config_setting_type(name) == CONFIG_TYPE_STRING)
			get_strings(ld, name, &el, &n);
		else if (config_setting_is_aggregate(name))
			report(ld, name, "config-wrong-type",
				"`name` takes one domain — for several write "
				"names = %s;", example_of("names"));
		else
			wrong_type(ld, name, "a string");
	} else if (names && get_strings(ld, names, &el, &n) && n == 0) {
		report(ld, names, "config-empty", "`names` is empty — list at "
			"least one domain: names = %s;", example_of("names"));
	}

	char (*norm)[DNSNAME_MAX + 1] = n ? calloc(n, sizeof(*norm)) : NULL;
	if (n && !norm) {
		nomem(ld);
		n = 0;
	}
	const char *subject = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!check_name(ld, el[i], config_setting_get_string(el[i]),
				norm[i]))
			norm[i][0] = '\0';
		else if (!subject)
			subject = norm[i];
	}

	/* The template; an unknown one silences follow-up errors. */
	const struct template *t = NULL;
	bool lost = false;
	if (policy) {
		const char *v;
		if (!get_string(ld, policy, &v)) {
			lost = true;
		} else if (!(t = find_template(ld, v))) {
			unknown_template(ld, policy, v);
			lost = true;
		}
	}

	/* Resolve: the entry, its template, defaults, built-in defaults. */
	const struct layer *layers[4];
	size_t nl = 0;
	layers[nl++] = &dl;
	if (t)
		layers[nl++] = &t->layer;
	layers[nl++] = &ld->defaults_layer;
	layers[nl++] = &ld->builtin_layer;

	struct resolved r = {
		.template_name = t ? t->name : NULL,
		.policy_ok = !lost,
	};
	for (size_t f = 0; f < FIELD_COUNT; f++) {
		const struct layer *l = pick(layers, nl, (enum field)f);
		if (!l)
			continue;
		if (l->bad & BIT(f)) {
			if (POLICY_FIELDS & BIT(f))
				r.policy_ok = false;
			continue;
		}
		switch ((enum field)f) {
		case FIELD_MODE:
			r.mode = l->mode;
			break;
		case FIELD_MAX_AGE:
			r.max_age = l->max_age;
			break;
		case FIELD_MX:
			r.mx = l->mx;
			r.mx_count = l->mx_count;
			break;
		default:
			r.text[f] = l->text[f];
			r.dir[f] = l->dir[f];
			break;
		}
	}

	/*
	 * mx, cert and key have no built-in default. RFC 8461 §3.2 lets a
	 * policy in mode none go without mx; policy_validate judges that.
	 */
	if (subject && !lost) {
		const struct layer *mx = pick(layers, nl, FIELD_MX);
		if (!mx && r.policy_ok && r.mode != POLICY_MODE_NONE) {
			char fix[DNSNAME_MAX + 32];
			snprintf(fix, sizeof(fix), "mx = [ \"mail.%s\" ];",
				subject);
			missing(ld, e, subject, "mx", fix, t);
			r.policy_ok = false;
		}
		if (!pick(layers, nl, FIELD_CERT))
			missing(ld, e, subject, "cert",
				"cert = \"/etc/mta-stsd/certs/%d.pem\";", t);
		if (!pick(layers, nl, FIELD_KEY))
			missing(ld, e, subject, "key",
				"key = \"/etc/mta-stsd/keys/%d.key\";", t);
	}

	for (size_t i = 0; i < n; i++) {
		if (norm[i][0])
			add_domain(ld, norm[i], el[i], e, &r);
	}

	free(norm);
	free(el);
	layer_finish(&dl);
}

struct name_ref {
	const char *name;
	size_t index;
};

static int name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * check_duplicates sorts the normalised names (O(n log n), for providers
 * with tens of thousands of domains) and reports every repeat against the
 * first place the name was configured.
 */
static void check_duplicates(struct loader *ld)
{
	size_t n = ld->out->domain_count;
	if (n < 2)
		return;
	struct name_ref *refs = calloc(n, sizeof(*refs));
	if (!refs) {
		nomem(ld);
		return;
	}
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct name_ref){ ld->out->domains[i].name, i };
	qsort(refs, n, sizeof(*refs), name_ref_cmp);

	size_t first = 0;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(refs[i].name, refs[first].name)) {
			first = i;
			continue;
		}
		const struct place *a = &ld->places[refs[first].index];
		const struct place *b = &ld->places[refs[i].index];
		report_at(ld, DIAG_ERROR, b->file, b->line,
			"config-domain-duplicate",
			"%s is already configured at %s:%u — remove one of the "
			"two (names are compared in lower case without a "
			"trailing dot)", refs[i].name, a->file ? a->file : "?",
			a->line);
	}
	free(refs);
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
		const struct gkey *k = NULL;
		for (size_t j = 0; j < ARRAY_LEN(gkeys); j++) {
			if (!strcmp(gkeys[j].name, key))
				k = &gkeys[j];
		}
		if (!k) {
			unknown_key(ld, s, SCOPE_GLOBAL);
			continue;
		}
		switch (k->kind) {
		case G_DEFAULTS:
			if (config_setting_is_group(s))
				load_layer(ld, defaults, s, SCOPE_DEFAULTS);
			else
				wrong_type(ld, s, "a group { ... }");
			break;
		case G_POLICIES:
			load_templates(ld, s);
			break;
		case G_DOMAINS:
			ld->domains_seen = true;
			if (config_setting_is_list(s))
				ld->domains = s;
			else
				wrong_type(ld, s, "a list ( ... ) of domain "
					"groups");
			break;
		default:
			global_setting(ld, k, s);
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
		nomem(ld);
		return;
	}
	for (const struct config_default *e = config_defaults; e->key; e++) {
		if (!is_key(SCOPE_TEMPLATE, e->key))
			fprintf(f, "%s = %s;\n", e->key, e->value);
	}
	fputs("defaults = {\n", f);
	for (const struct config_default *e = config_defaults; e->key; e++) {
		if (is_key(SCOPE_TEMPLATE, e->key))
			fprintf(f, "%s = %s;\n", e->key, e->value);
	}
	fputs("};\n", f);
	if (fclose(f) != 0 || !text) {
		free(text);
		nomem(ld);
		return;
	}

	const char *saved = ld->name;
	ld->name = "built-in defaults";
	ld->builtin = true;
	config_init(&ld->builtin_cfg);
	ld->builtin_cfg_live = true;
	if (!config_read_string(&ld->builtin_cfg, text))
		report_at(ld, DIAG_ERROR, ld->name, 0, "config-internal",
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
	report(ld, s, "config-out-of-range",
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
		report_at(ld, DIAG_ERROR, ld->name, ld->domains ?
			config_setting_source_line(ld->domains) : 0,
			"config-no-domains", "no domains are configured — add "
			"a domains = ( { name = \"example.com\"; ... } ); list");
	for (unsigned i = 0; i < n; i++)
		load_domain_entry(ld, config_setting_get_elem(ld->domains, i));
	check_duplicates(ld);
}

/* Copies line n of f (and the last non-blank line before it). */
static void source_lines(FILE *f, unsigned n, char **cur, char **prev)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	for (unsigned i = 1; (len = getline(&buf, &cap, f)) >= 0; i++) {
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (i == n) {
			*cur = strdup(buf);
			break;
		}
		if (buf[strspn(buf, " \t")] != '\0') {
			free(*prev);
			*prev = strdup(buf);
		}
	}
	free(buf);
}

/* The end of the code on a line: before a comment, trailing blanks gone. */
static size_t code_len(const char *line)
{
	char quote = 0;
	size_t end = strlen(line);
	for (size_t i = 0; line[i]; i++) {
		if (quote) {
			if (line[i] == '\\' && line[i + 1])
				i++;
			else if (line[i] == '"')
				quote = 0;
		} else if (line[i] == '"') {
			quote = '"';
		} else if (line[i] == '#' ||
				(line[i] == '/' && (line[i + 1] == '/' ||
				line[i + 1] == '*'))) {
			end = i;
			break;
		}
	}
	while (end && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	return end;
}

/*
 * syntax_hint guesses the usual mistakes from the offending line: an
 * unquoted string, a missing ',' between list elements, a ',' after the
 * last element. libconfig itself only says "syntax error".
 */
static void syntax_hint(const char *cur, const char *prev, char *hint,
	size_t size)
{
	const char *generic = "check this line and the one before it: "
		"strings need double quotes (mode = \"enforce\";), elements "
		"of a list are separated by ',' with none after the last, and "
		"each setting ends with ';'";
	snprintf(hint, size, "%s", generic);
	if (!cur)
		return;

	size_t clen = code_len(cur);
	const char *p = cur + strspn(cur, " \t");
	size_t plen = prev ? code_len(prev) : 0;

	/* key = value with a bare word as the value. */
	char quote = 0;
	for (size_t i = 0; i < clen; i++) {
		if (quote) {
			if (cur[i] == '\\' && cur[i + 1])
				i++;
			else if (cur[i] == '"')
				quote = 0;
			continue;
		}
		if (cur[i] == '"')
			quote = '"';
		if (cur[i] != '=')
			continue;
		size_t kend = i;
		while (kend && (cur[kend - 1] == ' ' || cur[kend - 1] == '\t'))
			kend--;
		size_t kstart = kend;
		while (kstart && (isalnum((unsigned char)cur[kstart - 1]) ||
				cur[kstart - 1] == '_' || cur[kstart - 1] == '-'))
			kstart--;
		int klen = (int)(kend - kstart);
		const char *k = cur + kstart;
		const char *v = cur + i + 1 + strspn(cur + i + 1, " \t");
		bool bracket = *v == '[' || *v == '(';
		const char *w = bracket ? v + 1 + strspn(v + 1, " \t") : v;
		bool bare = isalpha((unsigned char)*w) || *w == '/' ||
			*w == '*' || (*w == '[' && w[1] == ':');
		size_t wlen = strcspn(w, *w == '[' ? " \t,;" : bracket ?
			" \t,;])#" : " \t;,#");
		if (!bare || !wlen || !klen)
			continue;
		if (!bracket && (!strncasecmp(w, "yes", wlen) ||
				!strncasecmp(w, "on", wlen)))
			snprintf(hint, size, "use true or false: %.*s = true;",
				klen, k);
		else if (!bracket && (!strncasecmp(w, "no", wlen) ||
				!strncasecmp(w, "off", wlen)))
			snprintf(hint, size, "use true or false: %.*s = false;",
				klen, k);
		else if (bracket)
			snprintf(hint, size, "strings need double quotes: "
				"%.*s = %c \"%.*s\" ... %c;", klen, k, *v,
				(int)wlen, w, *v == '[' ? ']' : ')');
		else
			snprintf(hint, size, "strings need double quotes: "
				"%.*s = \"%.*s\";", klen, k, (int)wlen, w);
		return;
	}

	/* "}\n{" or "} {": two list elements without a ',' between them. */
	const char *brace = strchr(p, '}');
	if ((*p == '{' && plen && prev[plen - 1] == '}') ||
			(brace && brace[1 + strspn(brace + 1, " \t")] == '{')) {
		snprintf(hint, size, "add a ',' after the '}' before this "
			"element: elements of a list are separated by commas");
		return;
	}

	/* ", )" or ",\n)": a ',' after the last element. */
	bool trailing = (*p == ')' || *p == ']') && plen &&
		prev[plen - 1] == ',';
	for (const char *c = cur; !trailing && (c = strchr(c, ',')); c++) {
		const char *after = c + 1 + strspn(c + 1, " \t");
		if (*after == ')' || *after == ']')
			trailing = true;
	}
	if (trailing)
		snprintf(hint, size, "remove the ',' after the last element: "
			"libconfig does not allow a trailing comma");
}

static void syntax_error(struct loader *ld, const config_t *cfg)
{
	const char *raw = config_error_file(cfg);
	const char *text = config_error_text(cfg);
	int eline = config_error_line(cfg);
	unsigned line = eline > 0 ? (unsigned)eline : 0;
	bool is_main = !raw || (ld->from_file && !strcmp(raw, ld->name));
	char *path = is_main ? strdup(ld->name) :
		resolve_path(raw, ld->main_dir);
	if (!path) {
		nomem(ld);
		return;
	}
	if (!text)
		text = "unknown error";

	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
		report_at(ld, DIAG_ERROR, path, line, "config-open",
			"cannot read: %s — check that the file is readable", text);
		free(path);
		return;
	}

	char *cur = NULL, *prev = NULL;
	FILE *f = is_main && !ld->from_file ?
		fmemopen((void *)(uintptr_t)ld->text, strlen(ld->text), "r") :
		fopen(path, "r");
	if (f) {
		source_lines(f, line, &cur, &prev);
		fclose(f);
	}

	char hint[512];
	if (!strcmp(text, "cannot open include file")) {
		snprintf(hint, sizeof(hint), "check the name; @include paths "
			"are relative to %s%s", ld->main_dir ? ld->main_dir :
			"the working directory", ld->main_dir ? ", the "
			"directory of the main file (absolute paths do not "
			"work)" : "");
	} else if (!strcmp(text, "duplicate setting name")) {
		snprintf(hint, sizeof(hint), "a setting may appear only once "
			"in a group; remove or merge the repeated one");
	} else if (!strcmp(text, "mismatched element type in array")) {
		snprintf(hint, sizeof(hint), "every element of an array "
			"[ ... ] must have the same type; quote each string");
	} else {
		syntax_hint(cur, prev, hint, sizeof(hint));
	}
	if (!strcmp(text, "syntax error"))
		report_at(ld, DIAG_ERROR, path, line, "config-syntax",
			"syntax error — %s", hint);
	else
		report_at(ld, DIAG_ERROR, path, line, "config-syntax",
			"syntax error: %s — %s", text, hint);
	free(cur);
	free(prev);
	free(path);
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
			nomem(ld);
			ok = false;
			break;
		}
		struct stat st;
		int err = stat(target, &st) < 0 ? errno :
			S_ISDIR(st.st_mode) ? EISDIR :
			!S_ISREG(st.st_mode) ? EINVAL :
			access(target, R_OK) < 0 ? errno : 0;
		if (err) {
			report_at(ld, DIAG_ERROR, file, number, "config-include",
				"@include \"%s\": cannot read %s: %s — include "
				"a regular, readable file; the name is relative "
				"to the directory of the main file", name,
				target, err == EINVAL ? "not a regular file" :
				strerror(err));
			ok = false;
		} else if (depth + 1 >= INCLUDE_DEPTH_MAX) {
			report_at(ld, DIAG_ERROR, file, number, "config-include",
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
		nomem(&ld);
	apply_builtin(&ld);

	/* libconfig says only "file I/O error"; errno names the cause. */
	FILE *probe = fopen(path, "r");
	struct stat st;
	int err = !probe ? errno : fstat(fileno(probe), &st) < 0 ? errno :
		S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (probe)
		fclose(probe);
	if (err) {
		report_at(&ld, DIAG_ERROR, path, 0, "config-open",
			"cannot open: %s — create it (an example is in "
			"/usr/share/doc/mta-stsd/mta-stsd.conf) or pass -c FILE",
			strerror(err));
		return finish_load(&ld, errors);
	}

	ld.main_dir = dir_of(path);
	if (!check_includes(&ld, path, 0))
		return finish_load(&ld, errors);
	config_t cfg;
	config_init(&cfg);
	if (ld.main_dir)
		config_set_include_dir(&cfg, ld.main_dir);
	if (!config_read_file(&cfg, path))
		syntax_error(&ld, &cfg);
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
		nomem(&ld);
	apply_builtin(&ld);

	config_t cfg;
	config_init(&cfg);
	if (!config_read_string(&cfg, ld.text))
		syntax_error(&ld, &cfg);
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
		domain_finish(&config->domains[i]);
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
