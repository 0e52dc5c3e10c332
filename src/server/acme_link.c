/* SPDX-License-Identifier: MIT */
/*
 * acme_link.c: the ACME thread of a serving daemon, and the eventfd that
 * carries "new certificate for host" to the main loop, which swaps it in
 * with snapshot_renew.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "acme/acme_client.h"
#include "acme/acme_manager.h"
#include "acme/acme_store.h"
#include "config/config.h"
#include "server/acme_http01_server.h"
#include "server/acme_link.h"
#include "server/snapshot.h"
#include "util/log.h"
#include "util/text.h"

struct acme_link {
	struct acme_manager *manager;
	int fd;
	pthread_mutex_t lock;
	char **hosts;		/* with a new certificate, not yet taken */
	size_t count;
	struct acme_http01_server *http01;	/* NULL: tls-alpn-01 */
};

/* On the ACME thread. */
static void on_certificate(void *user, const char *host)
{
	struct acme_link *l = user;
	char *copy = text_dup(host);
	pthread_mutex_lock(&l->lock);
	char **grown = copy ? realloc(l->hosts, (l->count + 1) *
		sizeof(*grown)) : NULL;
	if (grown) {
		grown[l->count++] = copy;
		l->hosts = grown;
	} else {
		free(copy);
		log_error("acme: %s: out of memory: its new certificate is "
			"served after the next reload", host);
	}
	pthread_mutex_unlock(&l->lock);
	uint64_t one = 1;
	if (write(l->fd, &one, sizeof(one)) < 0)
		log_warn_errno("acme: cannot wake the main loop");
}

/* The policy hosts of snap's ACME domains; caller frees the array. */
static const char **acme_hosts(const struct snapshot *snap, size_t *count,
	char ***storage)
{
	size_t n_configured = snapshot_configured_count(snap);
	*count = 0;
	const char **hosts = calloc(n_configured + 1, sizeof(*hosts));
	char **names = calloc(n_configured + 1, sizeof(*names));
	if (!hosts || !names) {
		free(hosts);
		free(names);
		return NULL;
	}
	for (size_t i = 0; i < n_configured; i++) {
		const struct config_domain *cd = snapshot_configured_at(snap, i);
		if (!cd->acme || cd->problem)
			continue;
		size_t n = strlen(cd->name) + 9;
		if (!(names[*count] = malloc(n)))
			break;
		memcpy(names[*count], "mta-sts.", 8);
		memcpy(names[*count] + 8, cd->name, n - 8);
		hosts[*count] = names[*count];
		(*count)++;
	}
	*storage = names;
	return hosts;
}

static void names_free(char **names, size_t count)
{
	for (size_t i = 0; names && i < count; i++)
		free(names[i]);
	free(names);
}

void acme_link_stop(struct acme_link *l)
{
	if (!l)
		return;
	acme_manager_stop(l->manager);
	acme_http01_server_stop(l->http01);
	names_free(l->hosts, l->count);
	close(l->fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static struct acme_link *start(const struct config *c, const char **hosts,
	size_t count)
{
	struct acme_link *l = calloc(1, sizeof(*l));
	if (!l) {
		log_error("acme: out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	l->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->fd < 0 || acme_client_global_init() < 0) {
		log_error_errno("acme: cannot set up");
		if (l->fd >= 0)
			close(l->fd);
		free(l);
		return NULL;
	}
	l->manager = acme_manager_start(&c->acme, c->state_directory, hosts,
		count, on_certificate, l);
	if (!l->manager) {
		close(l->fd);
		free(l);
		return NULL;
	}
	return l;
}

void acme_link_sync(struct acme_link **link, const struct snapshot *snap,
	int *http01_fd)
{
	const struct config *c = snapshot_config(snap);
	size_t count = 0;
	char **names = NULL;
	const char **hosts = c->acme.enabled ? acme_hosts(snap, &count,
		&names) : NULL;
	if (c->acme.enabled && !hosts)
		log_error("acme: out of memory: certificates are not managed");
	if (!count) {
		acme_link_stop(*link);
		*link = NULL;
	} else if (!*link) {
		*link = start(c, hosts, count);
		if (*link && *http01_fd >= 0) {
			(*link)->http01 = acme_http01_server_start(*http01_fd);
			*http01_fd = -1;
		}
	} else {
		acme_manager_update((*link)->manager, &c->acme, hosts, count);
	}
	free(hosts);
	names_free(names, count);
}

int acme_link_fd(const struct acme_link *l)
{
	return l ? l->fd : -1;
}

char **acme_link_take(struct acme_link *l, size_t *count)
{
	uint64_t n;
	*count = 0;
	if (!l)
		return NULL;
	while (read(l->fd, &n, sizeof(n)) > 0)
		;
	pthread_mutex_lock(&l->lock);
	char **hosts = l->hosts;
	*count = l->count;
	l->hosts = NULL;
	l->count = 0;
	pthread_mutex_unlock(&l->lock);
	return hosts;
}

void acme_link_recover(const struct config *c)
{
	if (!c->acme.enabled)
		return;
	for (size_t i = 0; i < c->domain_count; i++) {
		const struct config_domain *cd = &c->domains[i];
		char host[300], why[512];
		if (!cd->acme)
			continue;
		snprintf(host, sizeof(host), "mta-sts.%s", cd->name);
		int rc = acme_store_recover(c->state_directory, host, why,
			sizeof(why));
		if (rc < 0)
			log_error("acme: %s: %s", host, why);
		else if (rc > 0)
			log_info("acme: %s: finished moving the certificate of "
				"the last run into place", host);
	}
}
