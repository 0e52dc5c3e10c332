/* SPDX-License-Identifier: MIT */
/*
 * acme_report.c: `mta-stsd acme-status`, read from the state directory
 * only, so it works while the daemon runs and needs no CA.
 */
#include <stdio.h>
#include <string.h>

#include "acme/acme_manager.h"
#include "acme/acme_report.h"
#include "acme/acme_store.h"
#include "config/config.h"
#include "util/text.h"

static const char *stamp(long long t, char *buf, size_t size)
{
	if (t <= 0)
		return "-";
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

size_t acme_report_print(FILE *out, const struct config *config, time_t now)
{
	size_t missing = 0;
	for (size_t i = 0; i < config->domain_count; i++) {
		const struct config_domain *cd = &config->domains[i];
		if (!cd->acme)
			continue;
		char host[300], a[32], b[32], c[32], err[1100];
		snprintf(host, sizeof(host), "mta-sts.%s", cd->name);
		struct acme_report r;
		acme_store_report(config->state_directory, host, &r);
		bool valid = r.has_certificate && r.names_host &&
			r.not_before <= now && now < r.not_after;
		const char *state = valid ? "valid"
			: r.has_certificate ? "invalid" : "waiting";
		if (r.state.order[0])
			state = valid ? "renewing" : "ordering";
		missing += !valid;
		long long renew = r.has_certificate ? acme_manager_renew_time(
			&config->acme, r.not_before, r.not_after) : 0;
		bool ari = renew && r.state.ari_at && r.state.ari_at < renew;
		fprintf(out, "%s\n  state: %s\n  expires: %s\n"
			"  renewal: %s%s\n", host, state,
			stamp(r.has_certificate ? r.not_after : 0, a, sizeof(a)),
			stamp(ari ? r.state.ari_at : renew, b, sizeof(b)),
			ari ? " (suggested by the CA)" : "");
		if (r.state.order[0])
			fprintf(out, "  order: %s\n", text_escape_str(err,
				sizeof(err), r.state.order));
		fprintf(out, "  failures: %u\n  next attempt: %s\n"
			"  last error: %s\n", r.state.failures,
			stamp(r.state.next_attempt, c, sizeof(c)),
			r.state.last_error[0] ? text_escape_str(err,
				sizeof(err), r.state.last_error) : "-");
	}
	return missing;
}
