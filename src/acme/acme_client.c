/* SPDX-License-Identifier: MIT */
/*
 * acme_client.c: RFC 8555 over libcurl, one easy handle per client, used
 * from one thread. Every POST is a JWS (§6.2) signed with the account key:
 * "jwk" in the protected header for newAccount, "kid" afterwards. Each
 * answer's Replay-Nonce is kept for the next request; when there is none,
 * newNonce gives one. A badNonce answer is retried with the nonce that
 * came with it (§6.5), a bounded number of times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "acme/acme_client.h"
#include "tls/jws.h"
#include "util/clock.h"
#include "util/text.h"

#define BODY_LIMIT (1024 * 1024)	/* a chain or a resource */
#define NONCE_MAX 256
#define NONCE_RETRIES 10
#define CONTENT_JOSE "Content-Type: application/jose+json"

struct acme_client {
	struct acme_client_options o;	/* strings owned below */
	char *directory_url, *ca_file, *email, *eab_kid, *eab_hmac_key;
	const struct jws_key *key;
	char *jwk;
	char thumbprint[JWS_THUMBPRINT_LEN + 1];
	CURL *curl;
	bool have_directory;
	struct acme_directory dir;
	char account_url[ACME_URL_MAX];
	char nonce[NONCE_MAX];
	unsigned bad_nonces;	/* badNonce answers retried */
};

struct response {
	long status;
	char *body;
	size_t len;
	bool too_long;
	char nonce[NONCE_MAX];
	char location[ACME_URL_MAX];
	char retry_after[64];
};

int acme_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void acme_client_global_finish(void)
{
	curl_global_cleanup();
}

struct acme_client *acme_client_create(const struct acme_client_options *o,
	const struct jws_key *account_key, const char *account_url)
{
	struct acme_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = *o;
	c->directory_url = text_dup(o->directory_url);
	c->ca_file = text_dup(o->ca_file);
	c->email = text_dup(o->email);
	c->eab_kid = text_dup(o->eab_kid);
	c->eab_hmac_key = text_dup(o->eab_hmac_key);
	c->key = account_key;
	c->jwk = jws_key_jwk(account_key);
	c->curl = curl_easy_init();
	if (!c->directory_url || !c->jwk || !c->curl ||
	    jws_key_thumbprint(account_key, c->thumbprint) < 0) {
		acme_client_destroy(c);
		return NULL;
	}
	if (account_url)
		snprintf(c->account_url, sizeof(c->account_url), "%s",
			account_url);
	if (!c->o.timeout)
		c->o.timeout = 30;
	return c;
}

void acme_client_destroy(struct acme_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c->directory_url);
	free(c->ca_file);
	free(c->email);
	free(c->eab_kid);
	jws_wipe_free(c->eab_hmac_key);
	free(c->jwk);
	free(c);
}

unsigned acme_client_take_bad_nonces(struct acme_client *c)
{
	unsigned n = c->bad_nonces;
	c->bad_nonces = 0;
	return n;
}

const char *acme_client_account_url(const struct acme_client *c)
{
	return c->account_url[0] ? c->account_url : NULL;
}

bool acme_client_has_ari(const struct acme_client *c)
{
	return c->have_directory && c->dir.renewal_info[0];
}

int acme_client_key_authorization(const struct acme_client *c,
	const char *token, char *out, size_t size)
{
	int n = snprintf(out, size, "%s.%s", token, c->thumbprint);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct response *r = user;
	size_t len = size * n;
	if (r->len + len > BODY_LIMIT) {
		r->too_long = true;
		return 0;
	}
	char *b = realloc(r->body, r->len + len + 1);
	if (!b)
		return 0;
	memcpy(b + r->len, data, len);
	r->len += len;
	b[r->len] = '\0';
	r->body = b;
	return len;
}

/* Copies the value of header "name:" in line into out, trimmed. */
static void header_value(const char *line, size_t len, const char *name,
	char *out, size_t size)
{
	size_t nl = strlen(name);
	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	       end[-1] == ' '))
		end--;
	size_t n = (size_t)(end - v);
	if (n < size) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	struct response *r = user;
	size_t len = size * n;
	header_value(data, len, "Replay-Nonce", r->nonce, sizeof(r->nonce));
	header_value(data, len, "Location", r->location, sizeof(r->location));
	header_value(data, len, "Retry-After", r->retry_after,
		sizeof(r->retry_after));
	return len;
}

/* Aborts a transfer when the daemon is stopping. */
static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c,
	curl_off_t d)
{
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	const _Atomic bool *cancel = user;
	return cancel && atomic_load(cancel) ? 1 : 0;
}

static void response_finish(struct response *r)
{
	free(r->body);
	*r = (struct response){0};
}

/*
 * exchange makes one HTTP request: GET (body NULL, head false), HEAD, or a
 * POST of body as application/jose+json. -1 with res->error when no HTTP
 * answer came.
 */
static int exchange(struct acme_client *c, const char *url, const char *body,
	bool head, struct response *r, struct acme_result *res)
{
	CURL *h = c->curl;
	char err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	*r = (struct response){0};
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->o.timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mta-stsd-acme");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->o.cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA,
			(void *)c->o.cancel);
	}
	if (head) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (body) {
		hdrs = curl_slist_append(NULL, CONTENT_JOSE);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		char esc[256];
		snprintf(res->error, sizeof(res->error),
			"cannot reach the CA at %s: %s",
			text_escape_str(esc, sizeof(esc), url),
			r->too_long ? "the answer is too long"
				: err[0] ? err : curl_easy_strerror(rc));
		response_finish(r);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->nonce[0])
		memcpy(c->nonce, r->nonce, sizeof(c->nonce));
	long ra = acme_json_retry_after(r->retry_after[0] ? r->retry_after
		: NULL, (long long)time(NULL));
	if (ra >= 0)
		res->retry_after = ra;
	return 0;
}

/* Fills res from an error answer (a problem document, or just a status). */
static void fail_from(const struct response *r, const char *what,
	struct acme_result *res)
{
	struct acme_problem p;
	if (r->body && acme_json_problem(r->body, r->len, &p) == 0 &&
	    p.present) {
		char words[900];
		acme_problem_describe(&p, words, sizeof(words));
		snprintf(res->error, sizeof(res->error), "%s: %s", what,
			words);
		res->rate_limited = strstr(p.type, ":rateLimited") != NULL;
		res->bad_account = strstr(p.type,
			":accountDoesNotExist") != NULL;
	} else {
		snprintf(res->error, sizeof(res->error), "%s: the CA answered "
			"HTTP %ld", what, r->status);
	}
}

static bool is_bad_nonce(const struct response *r)
{
	struct acme_problem p;
	return r->status == 400 && r->body &&
		acme_json_problem(r->body, r->len, &p) == 0 &&
		strcmp(p.type, "urn:ietf:params:acme:error:badNonce") == 0;
}

static int load_directory(struct acme_client *c, struct acme_result *res)
{
	if (c->have_directory)
		return 0;
	struct response r;
	if (exchange(c, c->directory_url, NULL, false, &r, res) < 0)
		return -1;
	char why[128];
	if (r.status != 200) {
		fail_from(&r, "reading the ACME directory", res);
	} else if (!r.body || acme_json_directory(r.body, r.len, &c->dir, why,
			sizeof(why)) < 0) {
		snprintf(res->error, sizeof(res->error), "%.300s is not an ACME "
			"directory: %s", c->directory_url,
			r.body ? why : "empty answer");
	} else {
		c->have_directory = true;
	}
	response_finish(&r);
	return c->have_directory ? 0 : -1;
}

static int fresh_nonce(struct acme_client *c, struct acme_result *res)
{
	if (c->nonce[0])
		return 0;
	struct response r;
	if (exchange(c, c->dir.new_nonce, NULL, true, &r, res) < 0)
		return -1;
	response_finish(&r);
	if (!c->nonce[0]) {
		snprintf(res->error, sizeof(res->error), "the CA gave no "
			"Replay-Nonce at %.300s", c->dir.new_nonce);
		return -1;
	}
	return 0;
}

static const char *plain(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
		JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* base64url(protected) "." base64url(payload) and its signature. */
static char *jws_body(const char *protected, const char *payload,
	const struct jws_key *key, const void *hmac_key, size_t hmac_len)
{
	char *p64 = jws_base64url(protected, strlen(protected));
	char *b64 = jws_base64url(payload, strlen(payload));
	char *input = NULL, *sig64 = NULL, *out = NULL;
	if (!p64 || !b64)
		goto done;
	size_t n = strlen(p64) + strlen(b64) + 2;
	if (!(input = malloc(n)))
		goto done;
	snprintf(input, n, "%s.%s", p64, b64);
	if (key) {
		unsigned char sig[JWS_ES256_LEN];
		if (jws_sign(key, input, strlen(input), sig) < 0)
			goto done;
		sig64 = jws_base64url(sig, sizeof(sig));
	} else {
		unsigned char mac[32];
		if (jws_hmac_sha256(hmac_key, hmac_len, input, strlen(input),
				mac) < 0)
			goto done;
		sig64 = jws_base64url(mac, sizeof(mac));
	}
	if (!sig64)
		goto done;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "protected", json_object_new_string(p64));
	json_object_object_add(o, "payload", json_object_new_string(b64));
	json_object_object_add(o, "signature", json_object_new_string(sig64));
	out = text_dup(plain(o));
	json_object_put(o);
done:
	free(p64);
	free(b64);
	free(input);
	free(sig64);
	return out;
}

/* The JWS for url with the current nonce; jwk instead of kid if asked. */
static char *signed_body(struct acme_client *c, const char *url,
	const char *payload, bool use_jwk)
{
	json_object *h = json_object_new_object();
	json_object_object_add(h, "alg", json_object_new_string("ES256"));
	if (use_jwk)
		json_object_object_add(h, "jwk", json_tokener_parse(c->jwk));
	else
		json_object_object_add(h, "kid",
			json_object_new_string(c->account_url));
	json_object_object_add(h, "nonce", json_object_new_string(c->nonce));
	json_object_object_add(h, "url", json_object_new_string(url));
	char *body = jws_body(plain(h), payload, c->key, NULL, 0);
	json_object_put(h);
	return body;
}

/*
 * post sends payload (NULL: POST-as-GET, §6.3) to url, retrying on
 * badNonce. 0 with *r filled (any status), or -1 with res->error.
 */
static int post(struct acme_client *c, const char *url, const char *payload,
	bool use_jwk, struct response *r, struct acme_result *res)
{
	for (int attempt = 0; attempt <= NONCE_RETRIES; attempt++) {
		if (fresh_nonce(c, res) < 0)
			return -1;
		char *body = signed_body(c, url, payload ? payload : "",
			use_jwk);
		c->nonce[0] = '\0';	/* each nonce is good for one use */
		if (!body) {
			snprintf(res->error, sizeof(res->error), "cannot sign "
				"the request to %.300s", url);
			return -1;
		}
		int rc = exchange(c, url, body, false, r, res);
		free(body);
		if (rc < 0)
			return -1;
		if (!is_bad_nonce(r))
			return 0;
		c->bad_nonces++;
		response_finish(r);
	}
	snprintf(res->error, sizeof(res->error), "the CA rejected %d nonces "
		"in a row (badNonce) at %.300s", NONCE_RETRIES + 1, url);
	return -1;
}

/* The EAB object of RFC 8555 §7.3.4, or NULL with res->error. */
static json_object *eab_object(struct acme_client *c, struct acme_result *res)
{
	size_t key_len;
	unsigned char *key = jws_base64url_decode(c->eab_hmac_key, &key_len);
	if (!key) {
		snprintf(res->error, sizeof(res->error), "eab_hmac_key is not "
			"base64url");
		return NULL;
	}
	json_object *h = json_object_new_object();
	json_object_object_add(h, "alg", json_object_new_string("HS256"));
	json_object_object_add(h, "kid", json_object_new_string(c->eab_kid));
	json_object_object_add(h, "url",
		json_object_new_string(c->dir.new_account));
	char *body = jws_body(plain(h), c->jwk, NULL, key, key_len);
	json_object_put(h);
	memset(key, 0, key_len);
	free(key);
	json_object *o = body ? json_tokener_parse(body) : NULL;
	free(body);
	if (!o)
		snprintf(res->error, sizeof(res->error), "cannot sign the "
			"External Account Binding");
	return o;
}

int acme_client_account(struct acme_client *c, struct acme_result *res)
{
	*res = (struct acme_result){.retry_after = -1};
	if (load_directory(c, res) < 0)
		return -1;
	if (c->account_url[0])
		return 0;
	if (c->dir.eab_required && !c->eab_kid) {
		snprintf(res->error, sizeof(res->error), "the CA requires "
			"External Account Binding: set eab_kid and "
			"eab_hmac_key in the acme group");
		return -1;
	}
	json_object *p = json_object_new_object();
	json_object_object_add(p, "termsOfServiceAgreed",
		json_object_new_boolean(1));
	if (c->email) {
		char mailto[600];
		snprintf(mailto, sizeof(mailto), "mailto:%s", c->email);
		json_object *a = json_object_new_array();
		json_object_array_add(a, json_object_new_string(mailto));
		json_object_object_add(p, "contact", a);
	}
	if (c->eab_kid) {
		json_object *eab = eab_object(c, res);
		if (!eab) {
			json_object_put(p);
			return -1;
		}
		json_object_object_add(p, "externalAccountBinding", eab);
	}
	struct response r;
	int rc = post(c, c->dir.new_account, plain(p), true, &r, res);
	json_object_put(p);
	if (rc < 0)
		return -1;
	if ((r.status == 200 || r.status == 201) && r.location[0]) {
		memcpy(c->account_url, r.location, sizeof(c->account_url));
	} else {
		fail_from(&r, "creating the ACME account", res);
		rc = -1;
	}
	response_finish(&r);
	return rc;
}

/* POSTs and parses an order answer; what names the step for errors. */
static int order_post(struct acme_client *c, const char *url,
	const char *payload, const char *what, long ok, char *location,
	struct acme_order *order, struct acme_result *res)
{
	struct response r;
	char why[160];
	*res = (struct acme_result){.retry_after = -1};
	if (post(c, url, payload, false, &r, res) < 0)
		return -1;
	int rc = -1;
	if (r.status != ok && r.status != 200) {
		fail_from(&r, what, res);
	} else if (!r.body || acme_json_order(r.body, r.len, order, why,
			sizeof(why)) < 0) {
		snprintf(res->error, sizeof(res->error), "%s: %s", what,
			r.body ? why : "empty answer");
	} else {
		rc = 0;
		if (location) {
			if (!r.location[0]) {
				snprintf(res->error, sizeof(res->error),
					"%s: the CA sent no order URL", what);
				rc = -1;
			}
			memcpy(location, r.location, ACME_URL_MAX);
		}
	}
	response_finish(&r);
	return rc;
}

int acme_client_new_order(struct acme_client *c, const char *host,
	char *url, struct acme_order *order, struct acme_result *res)
{
	json_object *p = json_object_new_object(), *ids = json_object_new_array(),
		*id = json_object_new_object();
	json_object_object_add(id, "type", json_object_new_string("dns"));
	json_object_object_add(id, "value", json_object_new_string(host));
	json_object_array_add(ids, id);
	json_object_object_add(p, "identifiers", ids);
	int rc = order_post(c, c->dir.new_order, plain(p), "new order", 201,
		url, order, res);
	json_object_put(p);
	return rc;
}

int acme_client_get_order(struct acme_client *c, const char *url,
	struct acme_order *order, struct acme_result *res)
{
	return order_post(c, url, NULL, "reading the order", 200, NULL, order,
		res);
}

int acme_client_finalize(struct acme_client *c, const char *url,
	const unsigned char *csr, size_t csr_len, struct acme_order *order,
	struct acme_result *res)
{
	char *b64 = jws_base64url(csr, csr_len);
	if (!b64) {
		*res = (struct acme_result){.retry_after = -1};
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	json_object *p = json_object_new_object();
	json_object_object_add(p, "csr", json_object_new_string(b64));
	free(b64);
	int rc = order_post(c, url, plain(p), "finalizing the order", 200,
		NULL, order, res);
	json_object_put(p);
	return rc;
}

int acme_client_get_authz(struct acme_client *c, const char *url,
	struct acme_authz *authz, struct acme_result *res)
{
	struct response r;
	char why[160];
	*res = (struct acme_result){.retry_after = -1};
	if (post(c, url, NULL, false, &r, res) < 0)
		return -1;
	int rc = -1;
	if (r.status != 200)
		fail_from(&r, "reading the authorization", res);
	else if (!r.body || acme_json_authz(r.body, r.len, authz, why,
			sizeof(why)) < 0)
		snprintf(res->error, sizeof(res->error), "reading the "
			"authorization: %s", r.body ? why : "empty answer");
	else
		rc = 0;
	response_finish(&r);
	return rc;
}

int acme_client_respond(struct acme_client *c, const char *url,
	struct acme_result *res)
{
	struct response r;
	*res = (struct acme_result){.retry_after = -1};
	if (post(c, url, "{}", false, &r, res) < 0)
		return -1;
	int rc = 0;
	if (r.status != 200) {
		fail_from(&r, "starting the validation", res);
		rc = -1;
	}
	response_finish(&r);
	return rc;
}

int acme_client_download(struct acme_client *c, const char *url,
	char **pem, size_t *len, struct acme_result *res)
{
	struct response r;
	*res = (struct acme_result){.retry_after = -1};
	if (post(c, url, NULL, false, &r, res) < 0)
		return -1;
	if (r.status != 200 || !r.body || !strstr(r.body,
			"-----BEGIN CERTIFICATE-----")) {
		fail_from(&r, "downloading the certificate", res);
		response_finish(&r);
		return -1;
	}
	*pem = r.body;
	*len = r.len;
	r.body = NULL;
	response_finish(&r);
	return 0;
}

int acme_client_renewal_info(struct acme_client *c, const char *cert_id,
	long long *start, long long *end, struct acme_result *res)
{
	*res = (struct acme_result){.retry_after = -1};
	if (load_directory(c, res) < 0)
		return -1;
	if (!c->dir.renewal_info[0])
		return 1;
	size_t n = strlen(c->dir.renewal_info) + strlen(cert_id) + 2;
	char *url = malloc(n);
	if (!url) {
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -1;
	}
	snprintf(url, n, "%s%s%s", c->dir.renewal_info,
		c->dir.renewal_info[strlen(c->dir.renewal_info) - 1] == '/'
			? "" : "/", cert_id);
	struct response r;
	int rc = exchange(c, url, NULL, false, &r, res);
	free(url);
	if (rc < 0)
		return -1;
	char why[128];
	rc = -1;
	if (r.status != 200)
		fail_from(&r, "reading the renewal information", res);
	else if (!r.body || acme_json_renewal_info(r.body, r.len, start, end,
			why, sizeof(why)) < 0)
		snprintf(res->error, sizeof(res->error), "reading the renewal "
			"information: %s", r.body ? why : "empty answer");
	else
		rc = 0;
	response_finish(&r);
	return rc;
}
