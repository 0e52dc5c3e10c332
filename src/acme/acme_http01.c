/* SPDX-License-Identifier: MIT */
/*
 * acme_http01.c: the pending http-01 answers, a short list under a mutex
 * (one entry per order in flight, and orders run one at a time).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_http01.h"
#include "util/text.h"

struct answer {
	struct answer *next;
	char *token;
	char *key_authorization;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct answer *answers;

static void answer_free(struct answer *a)
{
	free(a->token);
	free(a->key_authorization);
	free(a);
}

void acme_http01_remove(const char *token)
{
	pthread_mutex_lock(&lock);
	for (struct answer **p = &answers; *p; p = &(*p)->next) {
		if (strcmp((*p)->token, token) == 0) {
			struct answer *a = *p;
			*p = a->next;
			answer_free(a);
			break;
		}
	}
	pthread_mutex_unlock(&lock);
}

int acme_http01_add(const char *token, const char *key_authorization)
{
	struct answer *a = calloc(1, sizeof(*a));
	if (!a || !(a->token = text_dup(token)) ||
	    !(a->key_authorization = text_dup(key_authorization))) {
		if (a)
			answer_free(a);
		return -1;
	}
	acme_http01_remove(token);
	pthread_mutex_lock(&lock);
	a->next = answers;
	answers = a;
	pthread_mutex_unlock(&lock);
	return 0;
}

bool acme_http01_lookup(const char *token, char *out, size_t size)
{
	bool found = false;
	pthread_mutex_lock(&lock);
	for (const struct answer *a = answers; a; a = a->next) {
		size_t n = strlen(a->key_authorization);
		if (strcmp(a->token, token) == 0 && n < size) {
			memcpy(out, a->key_authorization, n + 1);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

bool acme_http01_token_is_valid(const char *token, size_t len)
{
	if (len == 0 || len > 256)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!text_is_alnum(token[i]) && token[i] != '-' &&
		    token[i] != '_')
			return false;
	return true;
}
