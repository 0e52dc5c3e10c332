/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_SETTINGS_H
#define MTASTSD_ACME_SETTINGS_H

#include <stdbool.h>

struct diag;

/*
 * The global acme group: where the daemon gets certificates for the
 * domains that name none of their own (docs/mta-stsd.conf.5.scd, ACME).
 * Also the file names ACME uses in the state directory, since an ACME
 * domain's cert and key are paths there.
 */

#define CONFIG_ACME_DEFAULT_DIRECTORY \
	"https://acme-v02.api.letsencrypt.org/directory"
#define CONFIG_ACME_DIR "acme"
#define CONFIG_ACME_KEY "key.pem"
#define CONFIG_ACME_CHAIN "chain.pem"
#define CONFIG_ACME_NEXT_KEY "next-key.pem"
#define CONFIG_ACME_NEXT_CHAIN "next-chain.pem"
#define CONFIG_ACME_CERT_WORD "acme"	/* cert = "acme"; */
#define CONFIG_ACME_RETRY_DEFAULT 600	/* seconds before the first retry */

struct config_acme {
	bool enabled;			/* the group is present */
	char *directory;		/* the CA's directory URL */
	char *email;			/* NULL: no contact */
	char *ca_file;			/* NULL: the system trust store */
	char *eab_kid;			/* External Account Binding */
	char *eab_hmac_key;
	char *challenge;		/* "tls-alpn-01" or "http-01" */
	char *http01_listen;		/* "[::]:80": http-01's listener */
	unsigned renew_before;		/* seconds; 0: a third of lifetime */
	unsigned retry_interval;	/* seconds before the first retry */
	char *file;			/* where the group is */
	unsigned line;
};

void config_acme_finish(struct config_acme *acme);

/* Copies from into to (finished with config_acme_finish); false when out
 * of memory, with to still safe to finish. */
bool config_acme_copy(struct config_acme *to, const struct config_acme *from);

struct config;

/*
 * Does a domain whose layers give cert and key (NULL when unset) get its
 * certificate from ACME? Yes for cert = "acme", and for neither set when
 * the acme group is present.
 */
bool config_acme_is_wanted(const struct config *config, const char *cert,
	const char *key);

/*
 * config_acme_host_path writes "<state_dir>/acme/mta-sts.<domain>/<file>"
 * (caller frees), the path of an ACME domain's chain or key. NULL: ENOMEM.
 */
char *config_acme_host_path(const char *state_dir, const char *domain,
	const char *file);

#endif
