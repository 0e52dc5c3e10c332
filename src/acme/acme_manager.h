/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_MANAGER_H
#define MTASTSD_ACME_MANAGER_H

#include <stdbool.h>
#include <stddef.h>

struct config_acme;

/*
 * The ACME thread: for each policy host that gets its certificate from
 * ACME, it obtains one when there is none, renews it at two thirds of its
 * lifetime (or renew_before seconds before it expires), and writes it to
 * the state directory (acme/acme_store.h). Orders run one at a time;
 * failures back off per host (retry_interval, doubled per failure in a
 * row, at most a day); new orders are paced to stay within the CA's
 * limits (ACME_ORDER_BURST at once, then ACME_ORDERS_PER_WINDOW per
 * ACME_ORDER_WINDOW seconds). on_certificate is called, on the ACME
 * thread, after a new chain and key are in place.
 */

#define ACME_ORDER_BURST 20
#define ACME_ORDERS_PER_WINDOW 250	/* Let's Encrypt allows 300 */
#define ACME_ORDER_WINDOW (3 * 3600)
#define ACME_RETRY_MAX (24 * 3600)
#define ACME_VALIDATION_TIMEOUT 120	/* seconds an authorization may take */
#define ACME_ARI_INTERVAL (6 * 3600)	/* renewal information polled */

typedef void (*acme_certificate_fn)(void *user, const char *host);

struct acme_manager;

/*
 * acme_manager_start copies settings and hosts (policy hosts,
 * "mta-sts.<domain>", count of them) and starts the thread. NULL on
 * failure (logged).
 */
struct acme_manager *acme_manager_start(const struct config_acme *settings,
	const char *state_dir, const char *const *hosts, size_t count,
	acme_certificate_fn on_certificate, void *user);

/*
 * acme_manager_update replaces the settings and the set of hosts (after a
 * reload); the state of hosts that stay is kept. 0 or -1 (logged, the
 * old set kept).
 */
int acme_manager_update(struct acme_manager *m,
	const struct config_acme *settings, const char *const *hosts,
	size_t count);

/*
 * When a certificate valid from not_before to not_after is renewed:
 * renew_before seconds before it expires, or at two thirds of its
 * lifetime when renew_before is 0 or not shorter than the lifetime.
 */
long long acme_manager_renew_time(const struct config_acme *acme,
	long long not_before, long long not_after);

/* Stops the thread (aborting a transfer in progress). Accepts NULL. */
void acme_manager_stop(struct acme_manager *m);

#endif
