/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_LINK_H
#define MTASTSD_ACME_LINK_H

#include <stddef.h>

struct snapshot;

/*
 * The daemon's side of ACME: runs the ACME thread for the ACME domains of
 * the served configuration, and tells the main loop, through an eventfd,
 * which policy hosts got a new certificate (see snapshot_renew).
 */

struct acme_link;

/*
 * acme_link_sync makes *link match the configuration of snap: starts the
 * ACME thread when the acme group has domains, hands it the new settings
 * and hosts after a reload, stops it when none are left. Logs failures.
 * *http01_fd, when not -1, is the bound plain-HTTP socket of the http-01
 * challenge: the link takes it (and sets *http01_fd to -1) when it starts.
 */
void acme_link_sync(struct acme_link **link, const struct snapshot *snap,
	int *http01_fd);

/* The eventfd to poll, or -1 when link is NULL. */
int acme_link_fd(const struct acme_link *link);

/*
 * acme_link_take returns the hosts with a new certificate since the last
 * call (caller frees each and the array), and clears the eventfd. NULL
 * with *count 0 when there are none.
 */
char **acme_link_take(struct acme_link *link, size_t *count);

struct config;

/*
 * acme_link_recover finishes, for each ACME domain of config, a new
 * certificate that a crash left half moved into place (acme_store.h), so
 * that the snapshot loads a key and chain that belong together. Logs.
 */
void acme_link_recover(const struct config *config);

/* Stops the thread. Accepts NULL. */
void acme_link_stop(struct acme_link *link);

#endif
