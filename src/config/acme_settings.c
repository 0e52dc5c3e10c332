/* SPDX-License-Identifier: MIT */
/*
 * acme_settings.c: the acme group's plain C form and the paths of ACME
 * domains' files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/acme_settings.h"
#include "config/loader.h"
#include "util/text.h"

bool config_acme_copy(struct config_acme *to, const struct config_acme *from)
{
	*to = *from;
	return text_dup_into(&to->directory, from->directory) &
		text_dup_into(&to->email, from->email) &
		text_dup_into(&to->ca_file, from->ca_file) &
		text_dup_into(&to->eab_kid, from->eab_kid) &
		text_dup_into(&to->eab_hmac_key, from->eab_hmac_key) &
		text_dup_into(&to->challenge, from->challenge) &
		text_dup_into(&to->http01_listen, from->http01_listen) &
		text_dup_into(&to->file, from->file);
}

void config_acme_finish(struct config_acme *acme)
{
	if (!acme)
		return;
	free(acme->directory);
	free(acme->email);
	free(acme->ca_file);
	free(acme->eab_kid);
	if (acme->eab_hmac_key) {
		memset(acme->eab_hmac_key, 0, strlen(acme->eab_hmac_key));
		free(acme->eab_hmac_key);
	}
	free(acme->challenge);
	free(acme->http01_listen);
	free(acme->file);
	*acme = (struct config_acme){0};
}

char *config_acme_host_path(const char *state_dir, const char *domain,
	const char *file)
{
	size_t n = strlen(state_dir) + strlen(domain) + strlen(file) +
		sizeof(CONFIG_ACME_DIR) + 16;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s/mta-sts.%s/%s", state_dir,
			CONFIG_ACME_DIR, domain, file);
	return p;
}

/* ------------------------------------------------------------------------ */
/* The acme group of the configuration file */

static const char *const acme_keys[] = {
	"directory", "email", "ca_file", "eab_kid", "eab_hmac_key",
	"challenge", "renew_before", "retry_interval", "http01_listen", NULL,
};

static bool is_base64url(const char *s)
{
	for (; *s; s++)
		if (!text_is_alnum(*s) && !strchr("-_+/=", *s))
			return false;
	return true;
}

/* An e-mail address a CA accepts as a mailto: contact (RFC 8555 §7.3). */
static bool is_email(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@') ||
	    !strchr(at + 1, '.'))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    strchr(",;:<>()[]\\\"?", *s))
			return false;
	return true;
}

static void set_text(char **field, const char *value, struct loader *ld)
{
	free(*field);
	if (!(*field = text_dup(value)))
		loader_nomem(ld);
}

/* One member of the acme group. */
static void load_member(struct loader *ld, struct config_acme *a,
	const config_setting_t *m)
{
	const char *key = config_setting_name(m), *v;
	long long n;
	if (!strcmp(key, "renew_before") || !strcmp(key, "retry_interval")) {
		if (!settings_get_int(ld, m, &n))
			return;
		long long min = key[1] == 'e' && key[2] == 'n' ? 0 : 1;
		if (n < min || n > 3650LL * 24 * 3600) {
			loader_report(ld, m, "config-bad-value", "acme %s %lld "
				"is out of range (%lld to 315360000 seconds) — "
				"for example %s = %s;", key, n, min, key,
				key[1] == 'e' && key[2] == 'n' ? "2592000"
					: "600");
			return;
		}
		if (key[1] == 'e' && key[2] == 'n')
			a->renew_before = (unsigned)n;
		else
			a->retry_interval = (unsigned)n;
		return;
	}
	if (!settings_get_text(ld, m, &v))
		return;
	if (!strcmp(key, "directory")) {
		if (strncmp(v, "https://", 8) != 0 || strlen(v) > 1024) {
			loader_report(ld, m, "config-acme-directory", "acme "
				"directory `%s` is not an https:// URL — for "
				"example directory = \"%s\";", v,
				CONFIG_ACME_DEFAULT_DIRECTORY);
			return;
		}
		set_text(&a->directory, v, ld);
	} else if (!strcmp(key, "email")) {
		if (!is_email(v)) {
			loader_report(ld, m, "config-acme-email", "acme email "
				"`%s` is not an e-mail address — for example "
				"email = \"postmaster@example.org\";", v);
			return;
		}
		set_text(&a->email, v, ld);
	} else if (!strcmp(key, "ca_file")) {
		char *path = loader_resolve_path(v,
			loader_origin_of_setting(ld, m).dir);
		if (!path) {
			loader_nomem(ld);
			return;
		}
		/* Checked here, so that check-config finds it, not a renewal. */
		if (access(path, R_OK) < 0) {
			char fix[512];
			loader_report(ld, m, "config-acme-ca-file", "acme ca_file "
				"%s: cannot read: %s — %s", path, strerror(errno),
				advice_open_fix(errno, path, fix, sizeof(fix)));
			free(path);
			return;
		}
		free(a->ca_file);
		a->ca_file = path;
	} else if (!strcmp(key, "eab_kid")) {
		set_text(&a->eab_kid, v, ld);
	} else if (!strcmp(key, "eab_hmac_key")) {
		if (!is_base64url(v)) {
			loader_report(ld, m, "config-acme-eab", "acme "
				"eab_hmac_key is not base64url — copy the HMAC "
				"key exactly as the CA gave it");
			return;
		}
		set_text(&a->eab_hmac_key, v, ld);
	} else if (!strcmp(key, "challenge")) {
		if (strcmp(v, "tls-alpn-01") != 0 && strcmp(v, "http-01") != 0) {
			loader_report(ld, m, "config-bad-value", "acme "
				"challenge `%s` is not supported — use "
				"challenge = \"tls-alpn-01\"; (RFC 8737, on the "
				"serving port) or \"http-01\" with "
				"http01_listen", v);
			return;
		}
		set_text(&a->challenge, v, ld);
	} else if (!strcmp(key, "http01_listen")) {
		char host[256];
		unsigned port;
		if (config_parse_listen(v, host, sizeof(host), &port) < 0) {
			loader_report(ld, m, "config-bad-value", "acme "
				"http01_listen `%s` is not an address:port — "
				"for example http01_listen = \"[::]:80\";", v);
			return;
		}
		set_text(&a->http01_listen, v, ld);
	}
}

void config_acme_load(struct loader *ld, const config_setting_t *s)
{
	struct config_acme *a = &ld->out->acme;
	if (!config_setting_is_group(s)) {
		advice_wrong_type(ld, s, "a group { ... }");
		return;
	}
	struct origin o = loader_origin_of_setting(ld, s);
	config_acme_finish(a);
	a->enabled = true;
	a->line = config_setting_source_line(s);
	a->retry_interval = CONFIG_ACME_RETRY_DEFAULT;
	if (!(a->file = text_dup(o.path)) ||
	    !(a->directory = text_dup(CONFIG_ACME_DEFAULT_DIRECTORY)) ||
	    !(a->challenge = text_dup("tls-alpn-01"))) {
		loader_nomem(ld);
		return;
	}
	unsigned n = (unsigned)config_setting_length(s);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, i);
		const char *key = config_setting_name(m);
		size_t k = 0;
		while (acme_keys[k] && strcmp(acme_keys[k], key))
			k++;
		if (acme_keys[k])
			load_member(ld, a, m);
		else
			loader_report(ld, m, "config-unknown-setting", "`%s` is not "
				"a key of the acme group — it takes directory, "
				"email, ca_file, eab_kid, eab_hmac_key, "
				"challenge, http01_listen, renew_before and "
				"retry_interval",
				key);
	}
	if (!strcmp(a->challenge, "http-01") && !a->http01_listen)
		loader_report(ld, s, "config-acme-http01", "acme challenge "
			"\"http-01\" needs http01_listen, the plain-HTTP "
			"address the CA connects to — for example http01_listen "
			"= \"[::]:80\";");
	if (!a->eab_kid != !a->eab_hmac_key)
		loader_report(ld, s, "config-acme-eab", "acme sets only one of "
			"eab_kid and eab_hmac_key — External Account Binding "
			"needs both, as the CA gave them");
}

bool config_acme_is_wanted(const struct config *config, const char *cert,
	const char *key)
{
	if (cert && !strcmp(cert, CONFIG_ACME_CERT_WORD))
		return true;
	return config->acme.enabled && !cert && !key;
}
