/* SPDX-License-Identifier: MIT */
/*
 * The texts of the loader's findings and their fixes: type slips, unknown
 * and misplaced keys with "did you mean", unknown policies, missing
 * settings, and a guess at the cause of libconfig's bare syntax errors.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/loader.h"

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
bool advice_is_near(const char *key, const char *candidate)
{
	size_t dist = edit_distance(key, candidate);
	size_t shorter = strlen(key) < strlen(candidate) ?
		strlen(key) : strlen(candidate);
	return dist <= 2 && dist < shorter;
}

/* The name a setting is known by; array elements borrow their parent's. */
const char *advice_key_of(const config_setting_t *s)
{
	while (s && !config_setting_name(s))
		s = config_setting_parent(s);
	return s ? config_setting_name(s) : "value";
}

const char *advice_type_text(int type)
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
void advice_wrong_type(struct loader *ld, const config_setting_t *s,
	const char *expected)
{
	const char *key = advice_key_of(s);
	int type = config_setting_type(s);
	const char *v = type == CONFIG_TYPE_STRING ?
		config_setting_get_string(s) : NULL;

	if (v && !strcmp(expected, "an integer") && is_digits(v)) {
		loader_report(ld, s, "config-wrong-type",
			"`%s` must be an integer, not a string — write it "
			"without quotes: %s = %s;", key, key, v);
	} else if (v && !strcmp(expected, "true or false") &&
			(!strcasecmp(v, "true") || !strcasecmp(v, "false"))) {
		loader_report(ld, s, "config-wrong-type",
			"`%s` must be true or false, not a string — write it "
			"without quotes: %s = %s;", key, key,
			!strcasecmp(v, "true") ? "true" : "false");
	} else if (!config_setting_name(s)) {
		loader_report(ld, s, "config-wrong-type",
			"`%s` entries must be strings, not %s — for example "
			"%s = %s;", key, advice_type_text(type), key, keys_example(key));
	} else {
		loader_report(ld, s, "config-wrong-type",
			"`%s` must be %s, not %s — for example %s = %s;", key,
			expected, advice_type_text(type), key, keys_example(key));
	}
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
const char *advice_unknown_key(struct loader *ld, const config_setting_t *s,
	enum scope scope)
{
	const char *key = config_setting_name(s);

	if (scope != SCOPE_GLOBAL && keys_is_in_scope(SCOPE_GLOBAL, key)) {
		loader_report(ld, s, "config-misplaced-setting",
			"`%s` is a global setting, not valid in %s — move it to "
			"the top level of the file", key, scope_place(scope));
		return NULL;
	}
	if (scope == SCOPE_GLOBAL && keys_is_in_scope(SCOPE_TEMPLATE, key)) {
		loader_report(ld, s, "config-misplaced-setting",
			"`%s` is not a global setting — set it in defaults = { "
			"... }; for every domain, in a policies template, or in "
			"a domain entry", key);
		return NULL;
	}
	if (scope != SCOPE_DOMAIN && keys_is_in_scope(SCOPE_DOMAIN, key)) {
		loader_report(ld, s, "config-misplaced-setting",
			"`%s` can only be set in a domain entry — move it into "
			"domains = ( { ... } );%s", key, !strcmp(key, "id") ?
			" or omit it and mta-stsd manages the id" : "");
		return NULL;
	}

	const char *k;
	for (size_t i = 0; (k = keys_in_scope(scope, i)); i++) {
		if (advice_is_near(key, k)) {
			loader_report(ld, s, "config-unknown-setting",
				"unknown setting `%s` — did you mean `%s`?",
				key, k);
			return k;
		}
	}

	char list[512] = "";
	size_t used = 0;
	for (size_t i = 0; (k = keys_in_scope(scope, i)); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s",
			i ? ", " : "", k);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;
		used += (size_t)n;
	}
	loader_report(ld, s, "config-unknown-setting",
		"unknown setting `%s` — valid settings in %s are: %s", key,
		scope_place(scope), list);
	return NULL;
}

void advice_unknown_template(struct loader *ld, const config_setting_t *s,
	const char *name)
{
	if (!ld->template_count) {
		loader_report(ld, s, "config-policy-unknown",
			"policy `%s` is not defined — no policies are defined; "
			"add policies = { %s = { mode = \"enforce\"; mx = %s; "
			"}; }; or remove `policy`", name, name,
			keys_example("mx"));
		return;
	}
	const char *near = NULL;
	char list[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < ld->template_count; i++) {
		const char *t = ld->templates[i].name;
		if (!near && advice_is_near(name, t))
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
		loader_report(ld, s, "config-policy-unknown",
			"policy `%s` is not defined — did you mean `%s`? "
			"Defined policies: %s", name, near, list);
	else
		loader_report(ld, s, "config-policy-unknown",
			"policy `%s` is not defined — use one of the defined "
			"policies: %s", name, list);
}

void advice_missing(struct loader *ld, const config_setting_t *entry,
	const char *subject, const char *key, const char *fix,
	const struct template *t)
{
	loader_report(ld, entry, "config-missing-setting",
		"%s: no `%s` is set — add %s to the domain entry%s%s%s or to "
		"defaults", subject, key, fix, t ? ", to its policy `" : "",
		t ? t->name : "", t ? "`" : "");
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

void advice_syntax_error(struct loader *ld, const config_t *cfg)
{
	const char *raw = config_error_file(cfg);
	const char *text = config_error_text(cfg);
	int eline = config_error_line(cfg);
	unsigned line = eline > 0 ? (unsigned)eline : 0;
	bool is_main = !raw || (ld->from_file && !strcmp(raw, ld->name));
	char *path = is_main ? strdup(ld->name) :
		loader_source_path(ld, raw);
	if (!path) {
		loader_nomem(ld);
		return;
	}
	if (!text)
		text = "unknown error";

	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO) {
		loader_report_at(ld, DIAG_ERROR, path, line, "config-open",
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
			"directory of the main file" : "");
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
		loader_report_at(ld, DIAG_ERROR, path, line, "config-syntax",
			"syntax error — %s", hint);
	else
		loader_report_at(ld, DIAG_ERROR, path, line, "config-syntax",
			"syntax error: %s — %s", text, hint);
	free(cur);
	free(prev);
	free(path);
}


const char *advice_open_fix(int err, const char *path, char *buf, size_t size)
{
	struct stat st;
	switch (err) {
	case ENOENT:
		snprintf(buf, size, "create it, or correct the name");
		break;
	case ENOTDIR:
		snprintf(buf, size, "a part of the path is not a directory: "
			"correct the name");
		break;
	case EISDIR:
		snprintf(buf, size, "it is a directory: name a file");
		break;
	case EACCES:
	case EPERM: {
		/* getpwuid returns one static buffer: copy each name. */
		char who[64] = "(this user)", owner[64], group[64];
		struct passwd *pw = getpwuid(geteuid());
		if (pw)
			snprintf(who, sizeof(who), "%s", pw->pw_name);
		if (stat(path, &st) < 0) {
			snprintf(buf, size, "a directory on the way to it is not "
				"searchable by user %s: give that user x on "
				"each directory (chmod o+x, or a group it is in)",
				who);
			break;
		}
		pw = getpwuid(st.st_uid);
		if (pw)
			snprintf(owner, sizeof(owner), "%s", pw->pw_name);
		else
			snprintf(owner, sizeof(owner), "%u", (unsigned)st.st_uid);
		struct group *gr = getgrgid(st.st_gid);
		if (gr)
			snprintf(group, sizeof(group), "%s", gr->gr_name);
		else
			snprintf(group, sizeof(group), "%u", (unsigned)st.st_gid);
		snprintf(buf, size, "it is owned by %s:%s with mode %04o, which "
			"user %s, as whom mta-stsd reads it, may not read: let "
			"a group of that user read it (chgrp GROUP %s; chmod g+r "
			"%s) or make it readable by that user", owner, group,
			(unsigned)(st.st_mode & 07777), who, path, path);
		break;
	}
	case EMFILE:
	case ENFILE:
		snprintf(buf, size, "too many files are open: raise the limit "
			"(LimitNOFILE= in the unit, ulimit -n) or lower "
			"max_connections");
		break;
	case ENOMEM:
		snprintf(buf, size, "free memory and try again");
		break;
	default:
		snprintf(buf, size, "check the file and the file system under "
			"it");
		break;
	}
	return buf;
}
