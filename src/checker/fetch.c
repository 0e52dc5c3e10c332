/* SPDX-License-Identifier: MIT */
/*
 * fetch.c: the policy fetch of `check`, done the way a sending MTA does it
 * (RFC 8461 §3.3), and the only libcurl user.
 *
 * Concurrency: one curl multi handle drives every fetch from this thread;
 * at most `parallel` transfers are added at a time and the next one is
 * added as one finishes, so each transfer's own CURLOPT_TIMEOUT starts
 * when it really starts and the number of open connections stays bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "checker/fetch.h"
#include "util/text.h"

#define HEADER_POLICY_ID "mta-sts-policy-id:"
#define DEFAULT_CAPATH "/etc/ssl/certs"

struct transfer {
	CURL *easy;
	struct curl_slist *resolve;
	struct fetch_result *result;
	char errbuf[CURL_ERROR_SIZE];
	char *body;
	size_t len;
	bool too_large;
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct transfer *t = user;
	size_t bytes = size * n;
	if (t->len + bytes > FETCH_BODY_LIMIT) {
		/* Senders stop reading at 64 KiB (§3.3); so do we. */
		t->too_large = true;
		return 0;
	}
	char *grown = realloc(t->body, t->len + bytes + 1);
	if (!grown)
		return 0;
	t->body = grown;
	memcpy(t->body + t->len, data, bytes);
	t->len += bytes;
	t->body[t->len] = '\0';
	return bytes;
}

/* Keeps the MTA-STS-Policy-Id header that mta-stsd sends, if any. */
static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	struct transfer *t = user;
	size_t bytes = size * n;
	size_t klen = strlen(HEADER_POLICY_ID);
	if (bytes <= klen || bytes > 256 ||
			strncasecmp(data, HEADER_POLICY_ID, klen) != 0)
		return bytes;
	const char *v = data + klen, *end = data + bytes;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			end[-1] == ' ' || end[-1] == '\t'))
		end--;
	free(t->result->policy_id);
	t->result->policy_id = strndup(v, (size_t)(end - v));
	return bytes;
}

static char *resolve_entry(const struct fetch_request *rq)
{
	size_t size = strlen(rq->host) + 16;
	for (size_t i = 0; i < rq->address_count; i++)
		size += strlen(rq->addresses[i]) + 3;
	char *s = malloc(size);
	if (!s)
		return NULL;
	int o = snprintf(s, size, "%s:%u:", rq->host, rq->port);
	for (size_t i = 0; i < rq->address_count; i++) {
		bool v6 = strchr(rq->addresses[i], ':') != NULL;
		o += snprintf(s + o, size - (size_t)o, "%s%s%s%s",
			i ? "," : "", v6 ? "[" : "", rq->addresses[i],
			v6 ? "]" : "");
	}
	return s;
}

/*
 * setup prepares one transfer. Every option a sender would set differently
 * from curl's defaults is spelled out here.
 */
static int setup(struct transfer *t, const struct fetch_request *rq)
{
	char url[512];
	snprintf(url, sizeof(url), "https://%s:%u" FETCH_PATH, rq->host,
		rq->port);
	char *entry = resolve_entry(rq);
	if (!entry)
		return -1;
	t->resolve = curl_slist_append(NULL, entry);
	free(entry);
	t->easy = curl_easy_init();
	if (!t->resolve || !t->easy)
		return -1;
	CURL *e = t->easy;
	long timeout = rq->timeout_s ? (long)rq->timeout_s : 60;
	int bad = 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	/* §3.3: only our DNS answers, never a second lookup by curl. */
	bad |= curl_easy_setopt(e, CURLOPT_RESOLVE, t->resolve);
	/* §3.3: "MUST NOT follow redirects"; we report the target. */
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_SSLVERSION,
		(long)CURL_SSLVERSION_TLSv1_2);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	/* What real senders do: HTTP/1.1, no ALPN, no compression asked. */
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
		(long)CURL_HTTP_VERSION_1_1);
	bad |= curl_easy_setopt(e, CURLOPT_SSL_ENABLE_ALPN, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE, (long)FETCH_BODY_LIMIT);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout);
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, timeout);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	if (rq->ca_file) {
		/* The system store stays in use through CAPATH; CAINFO adds
		 * the extra anchors. */
		char *capath = NULL;
		if (curl_easy_getinfo(e, CURLINFO_CAPATH, &capath) != CURLE_OK ||
				!capath)
			capath = (char *)DEFAULT_CAPATH;
		bad |= curl_easy_setopt(e, CURLOPT_CAPATH, capath);
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, rq->ca_file);
	}
	return bad ? -1 : 0;
}

static void finish(struct transfer *t, CURLcode code)
{
	struct fetch_result *r = t->result;
	long status = 0;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	r->http_status = status;
	char *s = NULL;
	if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK)
		r->content_type = text_dup(s);
	s = NULL;
	if (status >= 300 && status < 400 && curl_easy_getinfo(t->easy,
			CURLINFO_REDIRECT_URL, &s) == CURLE_OK)
		r->redirect_url = text_dup(s);
	s = NULL;
	if (curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &s) == CURLE_OK &&
			s && *s)
		r->address = strdup(s);

	switch (code) {
	case CURLE_OK:
		r->status = FETCH_OK;
		r->body = t->body ? t->body : strdup("");
		r->body_len = t->len;
		t->body = NULL;
		break;
	case CURLE_COULDNT_CONNECT:
		r->status = FETCH_CONNECT;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		r->status = FETCH_TIMEOUT;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		r->status = FETCH_CERT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
		r->status = FETCH_TLS;
		break;
	case CURLE_FILESIZE_EXCEEDED:
		r->status = FETCH_TOO_LARGE;
		break;
	default:
		r->status = t->too_large ? FETCH_TOO_LARGE : FETCH_ERROR;
		break;
	}
	if (code != CURLE_OK)
		r->error = strdup(t->errbuf[0] ? t->errbuf :
			curl_easy_strerror(code));
}

static void release(struct transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->resolve);
	free(t->body);
	*t = (struct transfer){0};
}

static void fail_all(struct fetch_result *results, size_t count,
	const char *why)
{
	for (size_t i = 0; i < count; i++) {
		results[i].status = FETCH_ERROR;
		results[i].error = strdup(why);
	}
}

int fetch_policies(const struct fetch_request *requests,
	struct fetch_result *results, size_t count, unsigned parallel)
{
	if (count == 0)
		return 0;
	if (parallel == 0)
		parallel = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fail_all(results, count, "cannot initialise libcurl");
		return -1;
	}
	struct transfer *ts = calloc(count, sizeof(*ts));
	CURLM *multi = curl_multi_init();
	if (!ts || !multi) {
		fail_all(results, count, "out of memory");
		free(ts);
		if (multi)
			curl_multi_cleanup(multi);
		curl_global_cleanup();
		return -1;
	}

	size_t next = 0, active = 0, done = 0;
	while (done < count) {
		while (active < parallel && next < count) {
			struct transfer *t = &ts[next];
			t->result = &results[next];
			if (setup(t, &requests[next]) < 0 ||
					curl_multi_add_handle(multi, t->easy) !=
					CURLM_OK) {
				results[next].status = FETCH_ERROR;
				results[next].error = strdup("cannot set up "
					"the HTTPS request");
				release(t);
				done++;
			} else {
				active++;
			}
			next++;
		}
		if (active == 0)
			continue;
		int running = 0;
		if (curl_multi_perform(multi, &running) != CURLM_OK)
			break;
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct transfer *t = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
				(char **)&t);
			CURLcode code = msg->data.result;
			curl_multi_remove_handle(multi, t->easy);
			finish(t, code);
			release(t);
			active--;
			done++;
		}
		if (done < count && active > 0)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	/* Only reached early when the multi handle broke. */
	for (size_t i = next; i < count; i++) {
		results[i].status = FETCH_ERROR;
		results[i].error = strdup("libcurl failed");
	}
	for (size_t i = 0; i < next; i++) {
		if (ts[i].easy) {
			curl_multi_remove_handle(multi, ts[i].easy);
			results[i].status = FETCH_ERROR;
			results[i].error = strdup("libcurl failed");
			release(&ts[i]);
		}
	}
	free(ts);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return 0;
}

void fetch_result_finish(struct fetch_result *result)
{
	if (!result)
		return;
	free(result->redirect_url);
	free(result->content_type);
	free(result->policy_id);
	free(result->body);
	free(result->error);
	free(result->address);
	*result = (struct fetch_result){0};
}
