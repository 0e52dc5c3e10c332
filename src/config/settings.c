/* SPDX-License-Identifier: MIT */
/*
 * Typed access to libconfig settings, and the global settings (listen,
 * user, limits, ...) into struct config.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/loader.h"

bool settings_get_string(struct loader *ld, const config_setting_t *s,
	const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		advice_wrong_type(ld, s, "a string");
		return false;
	}
	*out = config_setting_get_string(s);
	return true;
}

/* A string that must not be empty. */
bool settings_get_text(struct loader *ld, const config_setting_t *s,
	const char **out)
{
	if (!settings_get_string(ld, s, out))
		return false;
	if (!**out) {
		const char *key = advice_key_of(s);
		loader_report(ld, s, "config-empty", "`%s` is empty — for example "
			"%s = %s;", key, key, keys_example(key));
		return false;
	}
	return true;
}

bool settings_get_int(struct loader *ld, const config_setting_t *s,
	long long *out)
{
	int type = config_setting_type(s);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
		advice_wrong_type(ld, s, "an integer");
		return false;
	}
	*out = config_setting_get_int64(s);
	return true;
}

/*
 * get_strings accepts one string or an array or list of strings and returns
 * the string settings (caller frees the array; *count may be 0).
 */
bool settings_get_strings(struct loader *ld, const config_setting_t *s,
	const config_setting_t ***out, size_t *count)
{
	int type = config_setting_type(s);
	*out = NULL;
	*count = 0;
	if (type == CONFIG_TYPE_STRING) {
		*out = malloc(sizeof(**out));
		if (!*out) {
			loader_nomem(ld);
			return false;
		}
		(*out)[0] = s;
		*count = 1;
		return true;
	}
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		advice_wrong_type(ld, s, "a string or an array of strings");
		return false;
	}
	size_t n = (size_t)config_setting_length(s);
	if (n == 0)
		return true;
	*out = calloc(n, sizeof(**out));
	if (!*out) {
		loader_nomem(ld);
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e =
			config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			advice_wrong_type(ld, e, "a string");
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
	if (!settings_get_strings(ld, s, &el, &n))
		return;
	if (n == 0) {
		loader_report(ld, s, "config-empty", "`listen` is empty — give at "
			"least one address, for example listen = %s;",
			keys_example("listen"));
		return;
	}

	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const char *v = config_setting_get_string(el[i]);
		char host[INET6_ADDRSTRLEN];
		unsigned port;
		if (config_parse_listen(v, host, sizeof(host), &port) < 0) {
			loader_report(ld, el[i], "config-listen-invalid",
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
				loader_report(ld, el[i], "config-listen-duplicate",
					"listen address `%s` is given twice — "
					"remove one", v);
				ok = false;
				break;
			}
		}
	}

	char **list = ok ? calloc(n, sizeof(*list)) : NULL;
	if (ok && !list)
		loader_nomem(ld);
	for (size_t i = 0; list && i < n; i++) {
		list[i] = strdup(config_setting_get_string(el[i]));
		if (!list[i]) {
			loader_nomem(ld);
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

void settings_global(struct loader *ld, const struct gkey *k,
	const config_setting_t *s)
{
	char *base = (char *)ld->out;

	switch (k->kind) {
	case G_STRING:
	case G_PATH:
	case G_ENUM: {
		const char *v;
		if (!settings_get_text(ld, s, &v))
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
				loader_report(ld, s, "config-bad-value",
					"%s `%s` is not one of %s — for "
					"example %s = %s;", k->name, v, list,
					k->name, keys_example(k->name));
				return;
			}
		}
		char *copy = k->kind == G_PATH ?
			loader_resolve_path(v, loader_origin_of_setting(ld, s).dir) :
			strdup(v);
		if (!copy) {
			loader_nomem(ld);
			return;
		}
		replace((char **)(void *)(base + k->offset), copy);
		if (!strcmp(k->name, "tls_priorities")) {
			/* Checked by tls/priorities.c, which reports here. */
			const char *file = ld->builtin ? NULL :
				loader_origin_of_setting(ld, s).path;
			char *file_copy = file ? strdup(file) : NULL;
			if (file && !file_copy)
				loader_nomem(ld);
			replace(&ld->out->tls_priorities_file, file_copy);
			ld->out->tls_priorities_line = ld->builtin ? 0 :
				config_setting_source_line(s);
		}
		return;
	}
	case G_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			advice_wrong_type(ld, s, "true or false");
			return;
		}
		*(bool *)(void *)(base + k->offset) =
			config_setting_get_bool(s);
		return;
	case G_UINT: {
		long long v;
		if (!settings_get_int(ld, s, &v))
			return;
		if (v < k->min || v > k->max) {
			loader_report(ld, s, "config-out-of-range",
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
	case G_ACME:
		break;
	}
}

