/* SPDX-License-Identifier: MIT */
/*
 * acme_settings.c: the acme group's plain C form and the paths of ACME
 * domains' files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/acme_settings.h"
#include "util/text.h"

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
