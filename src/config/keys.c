/* SPDX-License-Identifier: MIT */
/*
 * The keys mta-stsd.conf may hold, where each is valid, and the built-in
 * defaults: the one place to change when a setting is added.
 */
#include <string.h>

#include "buildconf.h"
#include "config/loader.h"
#include "tls/priorities.h"

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
	{ "tls_priorities", "\"" TLS_DEFAULT_PRIORITIES "\"" },
	{ "log_level", "\"info\"" },
	{ "log_target", "\"stderr\"" },
	{ "access_log", "false" },
	{ "threads", "0" },
	{ "max_connections", "4096" },
	{ "max_connections_per_ip", "32" },
	{ "connection_timeout", "10" },
	{ "request_header_timeout", "10" },
	{ "max_connection_age", "300" },
	{ "max_request_size", "8192" },
	{ "txt_ttl", "3600" },
	{ "strict", "false" },
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
	{ "domains_directory", "\"/etc/mta-stsd/domains.d\"" },
	{ NULL, NULL },
};

static const char *const log_levels[] = {
	"error", "warning", "info", "debug", NULL,
};
static const char *const log_targets[] = { "stderr", "syslog", NULL };

#define OFF(field) offsetof(struct config, field)

const struct gkey keys_global[] = {
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
	{ .name = "request_header_timeout", .kind = G_UINT,
		.offset = OFF(request_header_timeout), .min = 1, .max = 3600,
		.note = " seconds" },
	{ .name = "max_connection_age", .kind = G_UINT,
		.offset = OFF(max_connection_age), .min = 1, .max = 86400,
		.note = " seconds" },
	{ .name = "max_request_size", .kind = G_UINT,
		.offset = OFF(max_request_size), .min = 1024, .max = 1048576,
		.note = " bytes" },
	{ .name = "txt_ttl", .kind = G_UINT, .offset = OFF(txt_ttl),
		.min = 60, .max = 604800, .note = " seconds" },
	{ .name = "strict", .kind = G_BOOL, .offset = OFF(strict) },
	{ .name = "domains_directory", .kind = G_PATH,
		.offset = OFF(domains_directory) },
	{ .name = "defaults", .kind = G_DEFAULTS },
	{ .name = "policies", .kind = G_POLICIES },
	{ .name = "domains", .kind = G_DOMAINS },
	{ .name = "acme", .kind = G_ACME },
};

const size_t keys_global_count = ARRAY_LEN(keys_global);

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


const char *keys_in_scope(enum scope scope, size_t i)
{
	switch (scope) {
	case SCOPE_GLOBAL:
		return i < keys_global_count ? keys_global[i].name : NULL;
	case SCOPE_DEFAULTS:
	case SCOPE_TEMPLATE:
		return template_keys[i];
	case SCOPE_DOMAIN:
		return domain_keys[i];
	}
	return NULL;
}

bool keys_is_in_scope(enum scope scope, const char *key)
{
	const char *k;
	for (size_t i = 0; (k = keys_in_scope(scope, i)); i++) {
		if (!strcmp(k, key))
			return true;
	}
	return false;
}

bool keys_field_of(const char *key, enum field *f)
{
	for (size_t i = 0; i < FIELD_COUNT; i++) {
		if (!strcmp(field_names[i], key)) {
			*f = (enum field)i;
			return true;
		}
	}
	return false;
}

const char *keys_example(const char *key)
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

const struct gkey *keys_global_find(const char *name)
{
	for (size_t i = 0; i < keys_global_count; i++) {
		if (!strcmp(keys_global[i].name, name))
			return &keys_global[i];
	}
	return NULL;
}
