/* SPDX-License-Identifier: MIT */
/*
 * Domain entries: each policy field checked where it is written, resolved
 * through the entry, its shared policy (template), `defaults` and the
 * built-in defaults, %d expanded in cert and key, and duplicate names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/loader.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "core/txt.h"
#include "util/text.h"

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
	loader_report(ld, s, "config-mx-invalid",
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
			loader_report(ld, s, "config-path-format",
				"`%s` ends in a lone `%%` — use %%d for the "
				"domain or %%%% for a literal %%", advice_key_of(s));
		else
			loader_report(ld, s, "config-path-format",
				"`%s` has `%%%c` — use %%d for the domain or "
				"%%%% for a literal %%", advice_key_of(s), p[1]);
		return false;
	}
	return true;
}

/*
 * RFC 8460 §3, judged by the one rua validator that `txt`, `lint` and
 * `check` use too, at the place of the setting.
 */
static bool check_rua(struct loader *ld, const config_setting_t *s,
	const char *v)
{
	struct origin o = loader_origin_of_setting(ld, s);
	return txt_check_tlsrpt_rua(v, "tlsrpt_rua", ld->d, o.path,
		config_setting_source_line(s)) == 0;
}

static void layer_field(struct loader *ld, struct layer *l, enum field f,
	const config_setting_t *s)
{
	const char *v;
	l->set |= BIT(f);
	l->bad |= BIT(f);

	switch (f) {
	case FIELD_MODE:
		if (!settings_get_string(ld, s, &v))
			return;
		if (!policy_mode_parse(v, &l->mode)) {
			enum policy_mode m;
			const char *lower = NULL;
			for (m = POLICY_MODE_ENFORCE; m <= POLICY_MODE_NONE; m++) {
				if (!strcasecmp(v, policy_mode_name(m)))
					lower = policy_mode_name(m);
			}
			if (lower)
				loader_report(ld, s, "config-mode-invalid",
					"mode `%s` is not enforce, testing or "
					"none — write it in lower case: mode = "
					"\"%s\"; (RFC 8461 §3.2)", v, lower);
			else
				loader_report(ld, s, "config-mode-invalid",
					"mode `%s` is not enforce, testing or "
					"none — for example mode = \"testing\"; "
					"(RFC 8461 §3.2)", v);
			return;
		}
		break;
	case FIELD_MAX_AGE: {
		long long age;
		if (!settings_get_int(ld, s, &age))
			return;
		if (age < 0 || age > POLICY_MAX_AGE_LIMIT) {
			loader_report(ld, s, "config-max-age-range",
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
		if (!settings_get_strings(ld, s, &el, &n))
			return;
		bool ok = true;
		for (size_t i = 0; i < n; i++) {
			if (!check_mx(ld, el[i],
					config_setting_get_string(el[i])))
				ok = false;
		}
		const char **mx = ok && n ? calloc(n, sizeof(*mx)) : NULL;
		if (ok && n && !mx) {
			loader_nomem(ld);
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
		if (!settings_get_text(ld, s, &v) || !check_percent(ld, s, v))
			return;
		l->text[f] = v;
		l->dir[f] = loader_origin_of_setting(ld, s).dir;
		break;
	case FIELD_TLSRPT_RUA:
		if (!settings_get_text(ld, s, &v) || !check_rua(ld, s, v))
			return;
		l->text[f] = v;
		break;
	case FIELD_ID:
		if (!settings_get_string(ld, s, &v))
			return;
		if (!txt_id_is_valid(v)) {
			loader_report(ld, s, "config-id-invalid",
				"id `%s` is not 1 to 32 letters or digits — use "
				"for example the date and time, id = %s;, or "
				"omit it and mta-stsd manages the id (RFC 8461 "
				"§3.1)", v, keys_example("id"));
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
	if (meant && keys_field_of(meant, &f)) {
		l->set |= BIT(f);
		l->bad |= BIT(f);
	}
}

/* defaults and templates: policy fields only. */
void domains_load_layer(struct loader *ld, struct layer *l,
	const config_setting_t *g, enum scope scope)
{
	unsigned n = (unsigned)config_setting_length(g);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		enum field f;
		if (keys_field_of(config_setting_name(m), &f) && f != FIELD_ID)
			layer_field(ld, l, f, m);
		else
			typo(l, advice_unknown_key(ld, m, scope));
	}
}

/* ------------------------------------------------------------------------ */
/* Templates */

static int template_cmp(const void *a, const void *b)
{
	const struct template *x = a, *y = b;
	return strcmp(x->name, y->name);
}

void domains_load_templates(struct loader *ld, const config_setting_t *s)
{
	if (!config_setting_is_group(s)) {
		advice_wrong_type(ld, s, "a group of named policies");
		return;
	}
	unsigned n = (unsigned)config_setting_length(s);
	if (n == 0)
		return;
	ld->templates = calloc(n, sizeof(*ld->templates));
	if (!ld->templates) {
		loader_nomem(ld);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, i);
		const char *name = config_setting_name(m);
		if (!config_setting_is_group(m)) {
			loader_report(ld, m, "config-wrong-type",
				"policy `%s` must be a group { ... }, not %s — "
				"for example %s = { mode = \"enforce\"; mx = %s; "
				"};", name, advice_type_text(config_setting_type(m)),
				name, keys_example("mx"));
			continue;
		}
		struct template *t = &ld->templates[ld->template_count++];
		t->name = name;
		t->setting = m;
		domains_load_layer(ld, &t->layer, m, SCOPE_TEMPLATE);
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

void domains_finish_domain(struct config_domain *dom)
{
	if (dom->borrowed) {
		*dom = (struct config_domain){0};
		return;
	}
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

/* Room for one more domain in out and places: false when out of memory. */
static bool grow_domains(struct loader *ld)
{
	struct config *out = ld->out;
	if (out->domain_count < ld->domain_cap)
		return true;
	size_t cap = ld->domain_cap ? ld->domain_cap * 2 : 16;
	struct config_domain *domains = realloc(out->domains,
		cap * sizeof(*domains));
	if (!domains) {
		loader_nomem(ld);
		return false;
	}
	out->domains = domains;
	struct place *places = realloc(ld->places, cap * sizeof(*places));
	if (!places) {
		loader_nomem(ld);
		return false;
	}
	ld->places = places;
	ld->domain_cap = cap;
	return true;
}

void domains_add_borrowed(struct loader *ld, const struct config_domain *src)
{
	if (!grow_domains(ld))
		return;
	struct config *out = ld->out;
	struct config_domain dom = *src;
	dom.borrowed = true;
	dom.problem = NULL;
	ld->places[out->domain_count] = (struct place){ dom.file, dom.line };
	out->domains[out->domain_count++] = dom;
}

/*
 * add_domain appends one configured domain to out and validates its policy
 * at the place of the entry (name is already normalised).
 */
static void add_domain(struct loader *ld, const char *name,
	const config_setting_t *name_setting, const config_setting_t *entry,
	const struct resolved *r, const char *entry_problem)
{
	struct config *out = ld->out;
	if (!grow_domains(ld))
		return;

	struct origin o = loader_origin_of_setting(ld, entry);
	unsigned line = config_setting_source_line(entry);
	struct config_domain dom = {0};
	bool ok = true;
	policy_init(&dom.policy);
	ok &= text_dup_into(&dom.name, name);
	dom.policy.mode = r->mode;
	dom.policy.max_age = r->max_age;
	for (size_t i = 0; i < r->mx_count; i++) {
		if (policy_add_mx(&dom.policy, r->mx[i]) < 0)
			ok = false;
	}
	if (ld->out->acme.enabled && config_acme_is_wanted(ld->out,
			r->text[FIELD_CERT], r->text[FIELD_KEY])) {
		/* Where the ACME thread puts them (acme/acme_store.h). */
		dom.acme = true;
		dom.cert = config_acme_host_path(ld->out->state_directory,
			name, CONFIG_ACME_CHAIN);
		dom.key = config_acme_host_path(ld->out->state_directory,
			name, CONFIG_ACME_KEY);
		ok = ok && dom.cert && dom.key;
	} else if (r->text[FIELD_CERT]) {
		dom.cert = expand_path(r->text[FIELD_CERT], name,
			r->dir[FIELD_CERT]);
		ok = ok && dom.cert;
	}
	if (!dom.acme && r->text[FIELD_KEY]) {
		dom.key = expand_path(r->text[FIELD_KEY], name,
			r->dir[FIELD_KEY]);
		ok = ok && dom.key;
	}
	ok &= text_dup_into(&dom.id, r->text[FIELD_ID]);
	ok &= text_dup_into(&dom.tlsrpt_rua, r->text[FIELD_TLSRPT_RUA]);
	ok &= text_dup_into(&dom.template_name, r->template_name);
	ok &= text_dup_into(&dom.file, o.path);
	dom.line = line;
	if (!ok) {
		loader_nomem(ld);
		domains_finish_domain(&dom);
		return;
	}

	size_t mark = ld->d->len;
	if (r->policy_ok)
		policy_validate(&dom.policy, dom.name, ld->d, dom.file, line);
	dom.problem = entry_problem ? entry_problem :
		domains_first_error(ld, mark, SIZE_MAX, SIZE_MAX);

	ld->places[out->domain_count] = (struct place){
		dom.file, config_setting_source_line(name_setting),
	};
	out->domains[out->domain_count++] = dom;
}

const char *domains_first_error(const struct loader *ld, size_t from,
	size_t skip_from, size_t skip_to)
{
	const struct diag *d = ld->d;
	for (size_t i = from; i < d->len; i++) {
		if (i >= skip_from && i < skip_to)
			continue;
		if (d->items[i].severity == DIAG_ERROR)
			return d->items[i].code ? d->items[i].code :
				"config-invalid";
	}
	/* An error that could not be stored still counts. */
	return d->out_of_memory && d->len == from ? "config-out-of-memory" :
		NULL;
}

void domains_skip(struct loader *ld, const char *name, const char *file,
	unsigned line, const char *code)
{
	struct config *out = ld->out;
	struct config_skipped *grown = realloc(out->skipped,
		(out->skipped_count + 1) * sizeof(*grown));
	if (!grown) {
		loader_nomem(ld);
		return;
	}
	out->skipped = grown;
	struct config_skipped *k = &out->skipped[out->skipped_count];
	*k = (struct config_skipped){
		.name = strdup(name), .file = text_dup(file), .line = line,
		.code = code ? code : "config-invalid",
	};
	if (!k->name || (file && !k->file)) {
		free(k->name);
		free(k->file);
		loader_nomem(ld);
		return;
	}
	out->skipped_count++;
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
		loader_report(ld, s, "config-domain-invalid",
			"`%s` is not a valid domain name: %s — %s", v,
			dnsname_problem_text(problem),
			dnsname_problem_fix(problem));
		return false;
	}
	/* RFC 8461 §3.2: the policy host is mta-sts. plus the domain. */
	if (!strncmp(out, "mta-sts.", 8)) {
		loader_report(ld, s, "config-domain-policy-host",
			"`%s` is a policy host, not a policy domain — give the "
			"policy domain: name = \"%s\"; (mta-stsd serves "
			"mta-sts.%s itself)", v, out + 8, out + 8);
		return false;
	}
	return true;
}

void domains_load_entry(struct loader *ld, const config_setting_t *e)
{
	if (!config_setting_is_group(e)) {
		loader_report(ld, e, "config-wrong-type",
			"each element of `domains` must be a group { ... }, not "
			"%s — for example domains = %s;",
			advice_type_text(config_setting_type(e)),
			keys_example("domains"));
		return;
	}

	/*
	 * Every error of an entry belongs to its domains alone: they are
	 * not served, the others are. Errors of a name that is not a domain
	 * name belong to that name (it is skipped), not to its siblings.
	 */
	size_t entry_mark = ld->d->len, entry_errors = ld->d->errors;
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
		else if (keys_field_of(key, &f))
			layer_field(ld, &dl, f, m);
		else if ((meant = advice_unknown_key(ld, m, SCOPE_DOMAIN)) &&
				!strncmp(meant, "name", 4))
			name_typo = true;
		else
			typo(&dl, meant);
	}

	/* The names this entry configures. */
	const config_setting_t **el = NULL;
	size_t n = 0;
	if (name && names) {
		loader_report(ld, names, "config-name-and-names",
			"`name` and `names` are both set — use name = \"...\"; "
			"for one domain or names = [ ... ]; for several, not "
			"both");
	} else if (!name && !names && !name_typo) {
		loader_report(ld, e, "config-domain-no-name",
			"domain entry has no name — add name = %s; or names = "
			"%s;", keys_example("name"), keys_example("names"));
	} else if (name) {
		if (config_setting_type(name) == CONFIG_TYPE_STRING)
			settings_get_strings(ld, name, &el, &n);
		else if (config_setting_is_aggregate(name))
			loader_report(ld, name, "config-wrong-type",
				"`name` takes one domain — for several write "
				"names = %s;", keys_example("names"));
		else
			advice_wrong_type(ld, name, "a string");
	} else if (names && settings_get_strings(ld, names, &el, &n) && n == 0) {
		loader_report(ld, names, "config-empty", "`names` is empty — list at "
			"least one domain: names = %s;", keys_example("names"));
	}

	char (*norm)[DNSNAME_MAX + 1] = n ? calloc(n, sizeof(*norm)) : NULL;
	if (n && !norm) {
		loader_nomem(ld);
		n = 0;
	}
	const char *subject = NULL;
	size_t names_from = ld->d->len;
	for (size_t i = 0; i < n; i++) {
		size_t mark = ld->d->len;
		const char *v = config_setting_get_string(el[i]);
		if (!check_name(ld, el[i], v, norm[i])) {
			norm[i][0] = '\0';
			domains_skip(ld, v, loader_origin_of_setting(ld,
				el[i]).path, config_setting_source_line(el[i]),
				domains_first_error(ld, mark, SIZE_MAX,
				SIZE_MAX));
		} else if (!subject) {
			subject = norm[i];
		}
	}
	size_t names_to = ld->d->len;

	/* The template; an unknown one silences follow-up errors. */
	const struct template *t = NULL;
	bool lost = false;
	if (policy) {
		const char *v;
		if (!settings_get_string(ld, policy, &v)) {
			lost = true;
		} else if (!(t = find_template(ld, v))) {
			advice_unknown_template(ld, policy, v);
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
			advice_missing(ld, e, subject, "mx", fix, t);
			r.policy_ok = false;
		}
		bool acme = config_acme_is_wanted(ld->out,
			r.text[FIELD_CERT], r.text[FIELD_KEY]);
		if (acme && !ld->out->acme.enabled)
			loader_report(ld, e, "config-acme-missing", "%s: cert = "
				"\"acme\" needs the acme group — add acme = { "
				"email = \"postmaster@example.org\"; };",
				subject);
		if (!acme && !pick(layers, nl, FIELD_CERT))
			advice_missing(ld, e, subject, "cert",
				"cert = \"/etc/mta-stsd/certs/%d.pem\";", t);
		if (!acme && !pick(layers, nl, FIELD_KEY))
			advice_missing(ld, e, subject, "key",
				"key = \"/etc/mta-stsd/keys/%d.key\";", t);
	}

	const char *problem = domains_first_error(ld, entry_mark, names_from,
		names_to);
	if (!subject && problem)
		domains_skip(ld, "(a domain entry without a valid name)",
			loader_origin_of_setting(ld, e).path,
			config_setting_source_line(e), problem);
	for (size_t i = 0; i < n; i++) {
		if (norm[i][0])
			add_domain(ld, norm[i], el[i], e, &r, problem);
	}
	ld->domain_errors += ld->d->errors - entry_errors;

	free(norm);
	free(el);
	loader_layer_finish(&dl);
}

/*
 * check_duplicates reports every repeat of a normalised name against the
 * first place the name was configured, in configuration order. Names go
 * into an open-addressing table of indices (linear probing, at most half
 * full): O(n), since a reload of 100,000 domains checks them all again.
 * No copy is served: which one is meant is for the admin to say, and on a
 * reload the daemon keeps the version it served before, so a second
 * customer naming a domain cannot take it over.
 */
void domains_check_duplicates(struct loader *ld)
{
	size_t n = ld->out->domain_count;
	if (n < 2)
		return;
	size_t cap = 4;
	while (cap < 2 * n)
		cap *= 2;
	size_t *first = malloc(cap * sizeof(*first));	/* index + 1, or 0 */
	if (!first) {
		loader_nomem(ld);
		return;
	}
	memset(first, 0, cap * sizeof(*first));
	struct config_domain *domains = ld->out->domains;
	for (size_t i = 0; i < n; i++) {
		const char *name = domains[i].name;
		size_t slot = text_hash(name, strlen(name)) & (cap - 1);
		while (first[slot] && strcmp(domains[first[slot] - 1].name,
				name))
			slot = (slot + 1) & (cap - 1);
		if (!first[slot]) {
			first[slot] = i + 1;
			continue;
		}
		size_t was = first[slot] - 1;
		const struct place *a = &ld->places[was];
		const struct place *b = &ld->places[i];
		loader_report_at(ld, DIAG_ERROR, b->file, b->line,
			"config-domain-duplicate",
			"%s is already configured at %s:%u — remove one of the "
			"two; neither is served until then (names are compared "
			"in lower case without a trailing dot)", name,
			a->file ? a->file : "?", a->line);
		ld->domain_errors++;
		domains[was].problem = "config-domain-duplicate";
		domains[i].problem = "config-domain-duplicate";
	}
	free(first);
}

