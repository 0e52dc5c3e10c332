/* SPDX-License-Identifier: MIT */
/*
 * acme_manager.c: the ACME thread and its schedule.
 *
 * One thread works through the hosts in order of their next due time,
 * one order at a time, with blocking libcurl calls; the main loop never
 * waits for the CA. Everything an order needs to go on after a restart
 * (its URL, the key of its CSR) is on disk before the step that needs it,
 * and a certificate is committed by two renames, so a restart either
 * resumes the order, or finds the certificate in place and issues nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acme/acme_client.h"
#include "acme/acme_http01.h"
#include "acme/acme_manager.h"
#include "acme/acme_store.h"
#include "config/acme_settings.h"
#include "tls/acmecert.h"
#include "tls/alpn.h"
#include "tls/jws.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/text.h"

#define ORDER_MAX_AGE (7 * 24 * 3600)	/* older orders have expired */
#define EXPIRY_WARNING (14 * 24 * 3600)
#define POLL_MAX 10			/* seconds between polls */

struct host {
	char *name;
	long long due;		/* when to look at it next */
};

struct settings {
	struct config_acme acme;	/* deep copy */
	unsigned generation;
};

struct acme_manager {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	_Atomic bool stop;
	struct host *hosts;
	size_t host_count;
	struct settings settings;	/* under lock */
	char *state_dir;
	acme_certificate_fn on_certificate;
	void *user;
	/* the thread's own */
	struct acme_client *client;
	struct jws_key *account_key;
	unsigned client_generation;
	struct config_acme current;	/* the settings the client has */
	double tokens;			/* new orders that may start now */
	long long tokens_at;
};

static long long now_s(void)
{
	return (long long)time(NULL);
}

static const char *when(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

/* Sleeps up to seconds; false when the manager is stopping. */
static bool nap(struct acme_manager *m, long seconds)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->stop)) {
		if (pthread_cond_timedwait(&m->wake, &m->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&m->lock);
	return !atomic_load(&m->stop);
}

/* Refills the order bucket; true (and one taken) if an order may start. */
static bool take_token(struct acme_manager *m, long long now,
	long long *wait)
{
	double rate = (double)ACME_ORDERS_PER_WINDOW / ACME_ORDER_WINDOW;
	m->tokens += (double)(now - m->tokens_at) * rate;
	if (m->tokens > ACME_ORDER_BURST)
		m->tokens = ACME_ORDER_BURST;
	m->tokens_at = now;
	if (m->tokens >= 1) {
		m->tokens -= 1;
		return true;
	}
	*wait = (long long)((1 - m->tokens) / rate) + 1;
	return false;
}

/* Loads or makes the account key and the client. 0 or -1 with why. */
static int ensure_client(struct acme_manager *m, char *why, size_t why_size)
{
	pthread_mutex_lock(&m->lock);
	unsigned gen = m->settings.generation;
	if (!m->client || gen != m->client_generation) {
		config_acme_finish(&m->current);
		config_acme_copy(&m->current, &m->settings.acme);
	}
	pthread_mutex_unlock(&m->lock);
	if (m->client && gen == m->client_generation)
		return 0;
	acme_client_destroy(m->client);
	m->client = NULL;
	if (acme_store_prepare(m->state_dir, NULL, why, why_size) < 0)
		return -1;
	if (!m->account_key) {
		char *path = acme_store_path(m->state_dir, NULL,
			"account.key");
		size_t len;
		char *pem = path ? acme_store_read(path, &len) : NULL;
		if (pem) {
			m->account_key = jws_key_import(pem, len);
			jws_wipe_free(pem);
			if (!m->account_key)
				snprintf(why, why_size, "%s is not a P-256 "
					"private key; move it away to make a "
					"new account", path);
		} else if ((m->account_key = jws_key_generate())) {
			char *out = jws_key_export(m->account_key);
			if (!out || acme_store_write(path, out, strlen(out),
					0600, why, why_size) < 0) {
				jws_key_destroy(m->account_key);
				m->account_key = NULL;
			}
			jws_wipe_free(out);
		} else {
			snprintf(why, why_size, "cannot make an account key");
		}
		free(path);
		if (!m->account_key)
			return -1;
	}
	char dir[ACME_URL_MAX], url[ACME_URL_MAX];
	bool known = acme_store_load_account(m->state_dir, dir, url,
		sizeof(dir)) == 0 && strcmp(dir, m->current.directory) == 0;
	struct acme_client_options o = {
		.directory_url = m->current.directory,
		.ca_file = m->current.ca_file,
		.email = m->current.email,
		.eab_kid = m->current.eab_kid,
		.eab_hmac_key = m->current.eab_hmac_key,
		.cancel = &m->stop,
	};
	m->client = acme_client_create(&o, m->account_key, known ? url : NULL);
	if (!m->client) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	m->client_generation = gen;
	return 0;
}

/* Makes sure the CA knows the account; saves a new account URL. */
static int ensure_account(struct acme_manager *m, struct acme_result *res)
{
	bool had = acme_client_account_url(m->client) != NULL;
	if (acme_client_account(m->client, res) < 0)
		return -1;
	if (!had) {
		char why[512];
		const char *url = acme_client_account_url(m->client);
		log_info("acme: account %s at %s", url, m->current.directory);
		if (acme_store_save_account(m->state_dir,
				m->current.directory, url, why,
				sizeof(why)) < 0)
			log_warn("acme: %s (the account is looked up again "
				"next start)", why);
	}
	return 0;
}

/* Polls until the order leaves pending/processing or time runs out. */
static int poll_order(struct acme_manager *m, const char *url,
	struct acme_order *order, struct acme_result *res)
{
	long long deadline = now_s() + ACME_VALIDATION_TIMEOUT;
	long wait = 1;
	while (order->status == ACME_STATUS_PENDING ||
	       order->status == ACME_STATUS_PROCESSING) {
		if (now_s() > deadline) {
			snprintf(res->error, sizeof(res->error), "the order "
				"stayed %s for %d seconds",
				acme_status_name(order->status),
				ACME_VALIDATION_TIMEOUT);
			return -1;
		}
		long w = res->retry_after > 0 && res->retry_after < POLL_MAX
			? res->retry_after : wait;
		if (!nap(m, w))
			return -1;
		wait = wait * 2 > POLL_MAX ? POLL_MAX : wait * 2;
		if (acme_client_get_order(m->client, url, order, res) < 0)
			return -1;
	}
	return 0;
}

/* Proves control of host for one authorization with tls-alpn-01. */
static int authorize(struct acme_manager *m, const char *host,
	const char *authz_url, struct acme_result *res)
{
	struct acme_authz az;
	if (acme_client_get_authz(m->client, authz_url, &az, res) < 0)
		return -1;
	if (az.status == ACME_STATUS_VALID)
		return 0;
	if (az.status != ACME_STATUS_PENDING) {
		snprintf(res->error, sizeof(res->error), "the authorization "
			"is %s", acme_status_name(az.status));
		return -1;
	}
	const struct acme_challenge *ch = acme_json_find_challenge(&az,
		m->current.challenge);
	if (!ch) {
		snprintf(res->error, sizeof(res->error), "the CA offers no %s "
			"challenge for %s", m->current.challenge, host);
		return -1;
	}
	char ka[512];
	char ch_url[ACME_URL_MAX];
	snprintf(ch_url, sizeof(ch_url), "%s", ch->url);
	bool http01 = strcmp(m->current.challenge, "http-01") == 0;
	char token[sizeof(ch->token)];
	snprintf(token, sizeof(token), "%s", ch->token);
	if (acme_client_key_authorization(m->client, ch->token, ka,
			sizeof(ka)) < 0 || (http01 ? acme_http01_add(token, ka)
			: alpn_challenge_add(host, ka)) < 0) {
		snprintf(res->error, sizeof(res->error), "cannot prepare the "
			"challenge answer");
		return -1;
	}
	int rc = -1;
	if (ch->status == ACME_STATUS_PENDING &&
	    acme_client_respond(m->client, ch_url, res) < 0)
		goto out;
	long long deadline = now_s() + ACME_VALIDATION_TIMEOUT;
	long wait = 1;
	for (;;) {
		long w = res->retry_after > 0 && res->retry_after < POLL_MAX
			? res->retry_after : wait;
		if (!nap(m, w))
			goto out;
		wait = wait * 2 > POLL_MAX ? POLL_MAX : wait * 2;
		if (acme_client_get_authz(m->client, authz_url, &az, res) < 0)
			goto out;
		if (az.status != ACME_STATUS_PENDING)
			break;
		if (now_s() > deadline) {
			snprintf(res->error, sizeof(res->error), "the CA did "
				"not validate %s within %d seconds", host,
				ACME_VALIDATION_TIMEOUT);
			goto out;
		}
	}
	if (az.status == ACME_STATUS_VALID) {
		rc = 0;
	} else {
		const struct acme_challenge *c = acme_json_find_challenge(&az,
			m->current.challenge);
		char words[900];
		if (c && c->error.present)
			snprintf(res->error, sizeof(res->error), "validation "
				"of %s failed: %s", host,
				acme_problem_describe(&c->error, words,
					sizeof(words)));
		else
			snprintf(res->error, sizeof(res->error), "validation "
				"of %s failed: the authorization is %s", host,
				acme_status_name(az.status));
	}
out:
	if (http01)
		acme_http01_remove(token);
	else
		alpn_challenge_remove(host);
	return rc;
}

/* The key of the order's CSR: next-key.pem, made when missing. */
static struct jws_key *order_key(struct acme_manager *m, const char *host,
	char *why, size_t why_size)
{
	char *path = acme_store_path(m->state_dir, host,
		CONFIG_ACME_NEXT_KEY);
	if (!path) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	size_t len;
	char *pem = acme_store_read(path, &len);
	struct jws_key *key = pem ? jws_key_import(pem, len) : NULL;
	jws_wipe_free(pem);
	if (!key && (key = jws_key_generate())) {
		char *out = jws_key_export(key);
		if (!out || acme_store_write(path, out, strlen(out), 0600, why,
				why_size) < 0) {
			jws_key_destroy(key);
			key = NULL;
		}
		jws_wipe_free(out);
	} else if (!key) {
		snprintf(why, why_size, "cannot make a key");
	}
	free(path);
	return key;
}

/* Finalizes a ready order and downloads and commits the certificate. */
static int finish_order(struct acme_manager *m, const char *host,
	const char *url, struct acme_order *order, struct acme_result *res)
{
	if (order->status == ACME_STATUS_READY) {
		struct jws_key *key = order_key(m, host, res->error,
			sizeof(res->error));
		unsigned char *csr = NULL;
		size_t csr_len = 0;
		int rc = key ? acmecert_csr(key, host, &csr, &csr_len) : -1;
		jws_key_destroy(key);
		if (rc < 0) {
			if (!res->error[0])
				snprintf(res->error, sizeof(res->error),
					"cannot make the CSR");
			return -1;
		}
		rc = acme_client_finalize(m->client, order->finalize, csr,
			csr_len, order, res);
		free(csr);
		if (rc < 0 || poll_order(m, url, order, res) < 0)
			return -1;
	}
	if (order->status != ACME_STATUS_VALID || !order->certificate[0]) {
		char words[900] = "";
		if (order->error.present)
			acme_problem_describe(&order->error, words,
				sizeof(words));
		snprintf(res->error, sizeof(res->error), "the order is %s%s%s",
			acme_status_name(order->status), words[0] ? ": " : "",
			words);
		return -1;
	}
	char *pem;
	size_t len;
	if (acme_client_download(m->client, order->certificate, &pem, &len,
			res) < 0)
		return -1;
	time_t nb, na;
	bool names;
	const char *why = "";
	if (acmecert_chain_dates(pem, len, host, &nb, &na, &names, &why) < 0 ||
	    !names) {
		snprintf(res->error, sizeof(res->error), "the CA sent a "
			"certificate that %s", names ? why
				: "does not name the host");
		free(pem);
		return -1;
	}
	char *path = acme_store_path(m->state_dir, host,
		CONFIG_ACME_NEXT_CHAIN);
	int rc = path ? acme_store_write(path, pem, len, 0640, res->error,
		sizeof(res->error)) : -1;
	free(path);
	free(pem);
	if (rc < 0 || acme_store_commit(m->state_dir, host, res->error,
			sizeof(res->error)) < 0)
		return -1;
	return 0;
}

/*
 * issue runs or resumes the order of host. 0 when a new certificate is
 * in place, 1 when it must wait for the order budget (*wait seconds), -1
 * with res filled.
 */
static int issue(struct acme_manager *m, const char *host,
	struct acme_domain_state *st, long long *wait, struct acme_result *res)
{
	char why[512];
	struct acme_order order;
	char url[ACME_URL_MAX] = "";
	long long now = now_s();
	if (st->order[0] && now - st->order_started < ORDER_MAX_AGE) {
		if (acme_client_get_order(m->client, st->order, &order,
				res) == 0 &&
		    order.status != ACME_STATUS_INVALID) {
			snprintf(url, sizeof(url), "%s", st->order);
			log_info("acme: %s: resuming order %s (%s)", host, url,
				acme_status_name(order.status));
		} else if (res->error[0] && !strstr(res->error, "HTTP 404")) {
			if (strncmp(res->error, "cannot reach", 12) == 0)
				return -1;
		}
	}
	if (!url[0]) {
		if (!take_token(m, now, wait))
			return 1;
		if (acme_client_new_order(m->client, host, url, &order,
				res) < 0)
			return -1;
		log_info("acme: %s: new order %s", host, url);
		snprintf(st->order, sizeof(st->order), "%s", url);
		st->order_started = now;
		if (acme_store_save_state(m->state_dir, host, st, why,
				sizeof(why)) < 0)
			log_warn("acme: %s: %s", host, why);
	}
	if (order.status == ACME_STATUS_PENDING) {
		for (size_t i = 0; i < order.authorization_count; i++)
			if (authorize(m, host, order.authorizations[i],
					res) < 0)
				goto failed;
		if (acme_client_get_order(m->client, url, &order, res) < 0 ||
		    poll_order(m, url, &order, res) < 0)
			goto failed;
	} else if (order.status == ACME_STATUS_PROCESSING &&
		   poll_order(m, url, &order, res) < 0) {
		goto failed;
	}
	if (finish_order(m, host, url, &order, res) < 0)
		goto failed;
	return 0;
failed:
	/* An order that can no longer succeed is not resumed. */
	if (order.status == ACME_STATUS_INVALID ||
	    strstr(res->error, "validation of"))
		st->order[0] = '\0';
	return -1;
}

long long acme_manager_renew_time(const struct config_acme *acme,
	long long not_before, long long not_after)
{
	long long life = not_after - not_before;
	long long before = acme->renew_before;
	if (!before || before >= life)
		before = life / 3;
	return not_after - before;
}

/* When the certificate of host should be renewed; 0 when there is none. */
static long long renew_time(const struct config_acme *acme,
	const struct acme_report *r)
{
	if (!r->has_certificate || !r->names_host)
		return 0;
	return acme_manager_renew_time(acme, r->not_before, r->not_after);
}

/*
 * ask_ari asks the CA when to renew the certificate of host (RFC 9773),
 * when it offers renewal information and it is time to ask again. A
 * failure only postpones the question: the renewal falls back to
 * renew_before or two thirds of the lifetime. Updates st (saved by the
 * caller).
 */
static void ask_ari(struct acme_manager *m, const char *host,
	struct acme_domain_state *st, long long now)
{
	char why[256];
	if (ensure_client(m, why, sizeof(why)) < 0)
		return;
	char *path = acme_store_path(m->state_dir, host, CONFIG_ACME_CHAIN);
	size_t len;
	char *pem = path ? acme_store_read(path, &len) : NULL, *id = NULL;
	free(path);
	struct acme_result res;
	long long start, end;
	int rc = pem && acmecert_ari_id(pem, len, &id) == 0 ?
		acme_client_renewal_info(m->client, id, &start, &end, &res) : 1;
	free(pem);
	free(id);
	if (rc == 1) {
		st->ari_next = now + ACME_ARI_INTERVAL * 4;
		return;
	}
	long long again = res.retry_after > 0 ? res.retry_after
		: ACME_ARI_INTERVAL;
	if (again > ACME_ARI_INTERVAL * 4)
		again = ACME_ARI_INTERVAL * 4;
	st->ari_next = now + again;
	if (rc < 0) {
		log_debug("acme: %s: no renewal information: %s", host,
			res.error);
		return;
	}
	/* RFC 9773 §4.2: a random time in the window, now if it passed. */
	unsigned r = 0;
	for (const char *p = host; *p; p++)
		r = r * 31 + (unsigned char)*p;
	r ^= (unsigned)now;
	long long at = end <= now ? now
		: (start < now ? now : start) +
			(long long)((unsigned long long)r %
			(unsigned long long)(end - (start < now ? now : start) + 1));
	if (at != st->ari_at) {
		char t1[32];
		log_info("acme: %s: the CA suggests renewing at %s", host,
			when(at, t1, sizeof(t1)));
		st->ari_at = at;
	}
}

/* One look at host: returns when to look again. */
static long long run_host(struct acme_manager *m, const char *host)
{
	char why[1024], t1[32], t2[32];
	long long now = now_s();
	if (acme_store_prepare(m->state_dir, host, why, sizeof(why)) < 0) {
		log_error("acme: %s: %s", host, why);
		return now + CONFIG_ACME_RETRY_DEFAULT;
	}
	int recovered = acme_store_recover(m->state_dir, host, why,
		sizeof(why));
	if (recovered < 0)
		log_error("acme: %s: %s", host, why);
	if (recovered > 0) {
		log_info("acme: %s: finished moving the certificate of the "
			"last run into place", host);
		if (m->on_certificate)
			m->on_certificate(m->user, host);
	}
	struct acme_report r;
	acme_store_report(m->state_dir, host, &r);
	struct acme_domain_state *st = &r.state;
	pthread_mutex_lock(&m->lock);
	unsigned retry = m->settings.acme.retry_interval;
	long long renew_at = renew_time(&m->settings.acme, &r);
	pthread_mutex_unlock(&m->lock);
	if (!retry)
		retry = CONFIG_ACME_RETRY_DEFAULT;
	if (!st->order[0] && renew_at > now && st->ari_next <= now) {
		ask_ari(m, host, st, now);
		if (acme_store_save_state(m->state_dir, host, st, why,
				sizeof(why)) < 0)
			log_error("acme: %s: %s", host, why);
	}
	if (st->ari_at && renew_at && st->ari_at < renew_at)
		renew_at = st->ari_at;
	if (!st->order[0] && renew_at > now)
		return renew_at < st->ari_next ? renew_at : st->ari_next;
	if (st->next_attempt > now)
		return st->next_attempt;

	struct acme_result res = {.retry_after = -1};
	long long wait = 0;
	int rc = ensure_client(m, res.error, sizeof(res.error));
	if (rc == 0 && ensure_account(m, &res) < 0)
		rc = -1;
	if (rc == 0)
		rc = issue(m, host, st, &wait, &res);
	if (rc < 0 && res.bad_account) {
		/* Forget the account; the next attempt makes a new one. */
		acme_store_save_account(m->state_dir, "-", "-", why,
			sizeof(why));
		acme_client_destroy(m->client);
		m->client = NULL;
	}
	unsigned nonces = m->client ? acme_client_take_bad_nonces(m->client)
		: 0;
	if (nonces)
		log_info("acme: %s: the CA rejected %u nonce%s (badNonce); "
			"each was retried with a fresh one", host, nonces,
			nonces == 1 ? "" : "s");
	if (atomic_load(&m->stop))
		return now;
	if (rc == 1) {
		log_info("acme: %s: waiting %llds for the order budget "
			"(%d orders per %d hours)", host, wait,
			ACME_ORDERS_PER_WINDOW, ACME_ORDER_WINDOW / 3600);
		return now + wait;
	}
	st->last_attempt = now;
	long long next;
	if (rc == 0) {
		st->order[0] = '\0';
		st->failures = 0;
		st->next_attempt = 0;
		st->last_success = now;
		st->last_error[0] = '\0';
		st->ari_at = 0;
		st->ari_next = 0;	/* ask about the new certificate */
		struct acme_domain_state done = *st;
		acme_store_report(m->state_dir, host, &r);
		pthread_mutex_lock(&m->lock);
		next = renew_time(&m->settings.acme, &r);
		pthread_mutex_unlock(&m->lock);
		log_info("acme: %s: certificate issued, valid until %s; "
			"renewal from %s", host, when(r.not_after, t1,
			sizeof(t1)), when(next, t2, sizeof(t2)));
		/* Look again at once: the CA's renewal information about the
		 * new certificate may move that time (RFC 9773). */
		next = now;
		r.state = done;
		st = &r.state;
	} else {
		st->failures++;
		long long delay = retry;
		for (unsigned i = 1; i < st->failures &&
		     delay < ACME_RETRY_MAX; i++)
			delay *= 2;
		if (delay > ACME_RETRY_MAX)
			delay = ACME_RETRY_MAX;
		if (res.retry_after > delay)
			delay = res.retry_after;
		next = now + delay;
		st->next_attempt = next;
		snprintf(st->last_error, sizeof(st->last_error), "%s",
			res.error);
		log_error("acme: %s: %s; next attempt at %s (in %llds, "
			"failure %u in a row)", host, res.error,
			when(next, t1, sizeof(t1)), delay, st->failures);
		if (r.has_certificate && r.names_host &&
		    (long long)r.not_after - now < EXPIRY_WARNING)
			log_warn("acme: %s: still serving the previous "
				"certificate, which expires at %s", host,
				when(r.not_after, t2, sizeof(t2)));
	}
	if (acme_store_save_state(m->state_dir, host, st, why,
			sizeof(why)) < 0)
		log_error("acme: %s: %s", host, why);
	if (rc == 0 && m->on_certificate)
		m->on_certificate(m->user, host);
	return next;
}

static void *thread_main(void *arg)
{
	struct acme_manager *m = arg;
	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->stop)) {
		struct host *first = NULL;
		for (size_t i = 0; i < m->host_count; i++)
			if (!first || m->hosts[i].due < first->due)
				first = &m->hosts[i];
		long long now = now_s();
		if (!first || first->due > now) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += first ? (time_t)(first->due - now) : 3600;
			pthread_cond_timedwait(&m->wake, &m->lock, &ts);
			continue;
		}
		char *name = text_dup(first->name);
		first->due = now + 60;	/* until run_host says */
		pthread_mutex_unlock(&m->lock);
		long long due = name ? run_host(m, name) : now + 60;
		pthread_mutex_lock(&m->lock);
		for (size_t i = 0; name && i < m->host_count; i++)
			if (strcmp(m->hosts[i].name, name) == 0)
				m->hosts[i].due = due;
		free(name);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

static void hosts_free(struct host *hosts, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(hosts[i].name);
	free(hosts);
}

/* A new host table; hosts already known keep their due time. */
static struct host *hosts_make(const struct acme_manager *m,
	const char *const *names, size_t count)
{
	struct host *h = calloc(count ? count : 1, sizeof(*h));
	if (!h)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		if (!(h[i].name = text_dup(names[i]))) {
			hosts_free(h, i);
			return NULL;
		}
		h[i].due = 0;
		for (size_t j = 0; m && j < m->host_count; j++)
			if (strcmp(m->hosts[j].name, names[i]) == 0)
				h[i].due = m->hosts[j].due;
	}
	return h;
}

struct acme_manager *acme_manager_start(const struct config_acme *settings,
	const char *state_dir, const char *const *hosts, size_t count,
	acme_certificate_fn on_certificate, void *user)
{
	struct acme_manager *m = calloc(1, sizeof(*m));
	if (!m || !(m->state_dir = text_dup(state_dir)) ||
	    !(m->hosts = hosts_make(NULL, hosts, count))) {
		log_error("acme: out of memory");
		if (m)
			free(m->state_dir);
		free(m);
		return NULL;
	}
	m->host_count = count;
	config_acme_copy(&m->settings.acme, settings);
	m->settings.generation = 1;
	m->on_certificate = on_certificate;
	m->user = user;
	m->tokens = ACME_ORDER_BURST;
	m->tokens_at = now_s();
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	int err = pthread_create(&m->thread, NULL, thread_main, m);
	if (err) {
		log_error("acme: cannot start the ACME thread: %s",
			strerror(err));
		hosts_free(m->hosts, m->host_count);
		config_acme_finish(&m->settings.acme);
		free(m->state_dir);
		free(m);
		return NULL;
	}
	log_info("acme: managing certificates of %zu host%s with %s", count,
		count == 1 ? "" : "s", settings->directory);
	return m;
}

int acme_manager_update(struct acme_manager *m,
	const struct config_acme *settings, const char *const *hosts,
	size_t count)
{
	pthread_mutex_lock(&m->lock);
	struct host *h = hosts_make(m, hosts, count);
	if (!h) {
		pthread_mutex_unlock(&m->lock);
		log_error("acme: out of memory: keeping the previous hosts");
		return -1;
	}
	hosts_free(m->hosts, m->host_count);
	m->hosts = h;
	m->host_count = count;
	config_acme_finish(&m->settings.acme);
	config_acme_copy(&m->settings.acme, settings);
	m->settings.generation++;
	/* New settings or hosts: look at every host again. */
	for (size_t i = 0; i < count; i++)
		m->hosts[i].due = 0;
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void acme_manager_stop(struct acme_manager *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->stop, true);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	acme_client_destroy(m->client);
	jws_key_destroy(m->account_key);
	config_acme_finish(&m->current);
	config_acme_finish(&m->settings.acme);
	hosts_free(m->hosts, m->host_count);
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
	free(m->state_dir);
	free(m);
}
