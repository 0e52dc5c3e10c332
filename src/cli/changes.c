/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/changes.h"
#include "config/config.h"
#include "core/policy.h"
#include "server/snapshot.h"
#include "util/clock.h"
#include "util/log.h"

struct tally {
	size_t logged, unlogged;
};

static void say(struct tally *t, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct tally *t, const char *name, const char *fmt, ...)
{
	if (t->logged >= CHANGES_LOGGED) {
		t->unlogged++;
		return;
	}
	t->logged++;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("reload: %s: %s", name, line);
}

static const struct snapshot_domain *domain_at(const struct snapshot *s,
	size_t i)
{
	return snapshot_domain_at((struct snapshot *)s, i);
}

static bool same_certificate(const struct snapshot_domain *a,
	const struct snapshot_domain *b)
{
	/* A renewal changes the validity period; the same files loaded
	 * again do not. */
	return a->cert_loaded == b->cert_loaded &&
		a->cert.not_before == b->cert.not_before &&
		a->cert.not_after == b->cert.not_after;
}

static void served_changes(struct tally *t, const struct snapshot *old,
	const struct snapshot *new)
{
	char date[16];
	for (size_t i = 0; i < snapshot_domain_count(new); i++) {
		const struct snapshot_domain *sd = domain_at(new, i);
		const char *name = sd->config->name;
		const struct snapshot_domain *was =
			snapshot_domain_was_served_before(new, sd) ? sd :
			snapshot_find_host(old, sd->host);
		const char *mode = policy_mode_name(sd->config->policy.mode);
		if (!was) {
			say(t, name, "%s (id %s, mode %s)",
				snapshot_find_problem(old, name) ?
				"served again" : "added", sd->id, mode);
			continue;
		}
		if (strcmp(was->id, sd->id) != 0)
			say(t, name, "policy changed: id %s -> %s", was->id,
				sd->id);
		if (snapshot_domain_is_kept(new, sd) &&
				!snapshot_domain_is_kept(old, was)) {
			const struct snapshot_problem *p =
				snapshot_find_problem(new, name);
			say(t, name, "new version not loaded (%s): the "
				"previous one is still served",
				p ? p->reason : "?");
		}
		if (!same_certificate(was, sd))
			say(t, name, "certificate replaced (expires %s)",
				clock_format_date(sd->cert.not_after, date,
					sizeof(date)));
	}
}

static void lost_and_removed(struct tally *t, const struct snapshot *old,
	const struct snapshot *new)
{
	for (size_t i = 0; i < snapshot_problem_count(new); i++) {
		const struct snapshot_problem *p = snapshot_problem_at(new, i);
		if (p->kept)
			continue;
		if (snapshot_find(old, p->name))
			say(t, p->name, "now not served: %s", p->reason);
		else if (!snapshot_find_problem(old, p->name))
			say(t, p->name, "added but not served: %s",
				p->reason);
	}
	for (size_t i = 0; i < snapshot_domain_count(old); i++) {
		const struct snapshot_domain *sd = domain_at(old, i);
		const char *name = sd->config->name;
		if (!snapshot_domain_is_served_by(new, sd) &&
				!snapshot_find_host(new, sd->host) &&
				!snapshot_find_problem(new, name))
			say(t, name, "removed");
	}
}

void changes_log(const struct snapshot *old, const struct snapshot *new)
{
	struct tally t = { 0 };
	served_changes(&t, old, new);
	lost_and_removed(&t, old, new);
	if (t.unlogged)
		log_info("reload: and %zu more change(s)", t.unlogged);
	else if (!t.logged)
		log_info("reload: no domain changed");
}
