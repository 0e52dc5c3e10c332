/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <time.h>

#include "server/accesslog.h"
#include "server/useragent.h"
#include "util/log.h"
#include "util/text.h"

static void write_text(const struct accesslog_entry *e, const char *when)
{
	char e_method[32], e_url[256], e_agent[256], e_host[300];
	/* A 421 names the Host it got: the one thing an operator needs to
	 * see why the request was misdirected. */
	char host_field[320] = "";
	if (e->status == 421)
		snprintf(host_field, sizeof(host_field), " host=\"%s\"",
			text_escape_str(e_host, sizeof(e_host), e->host));
	log_info("access: %s %s %s \"%s %s\" %u %zu \"%s\" tls=%s%s", when,
		e->client, e->sni ? e->sni : "-",
		text_escape_str(e_method, sizeof(e_method), e->method),
		text_escape_str(e_url, sizeof(e_url), e->url), e->status,
		e->bytes, text_escape_str(e_agent, sizeof(e_agent), e->agent),
		e->resumed ? "resumed" : "full", host_field);
}

/* A JSON string field: "name":"value", or "name":null when absent. */
static const char *json_field(char *buf, size_t size, const char *name,
	const char *value)
{
	char escaped[300];
	if (value)
		snprintf(buf, size, "\"%s\":\"%s\"", name,
			text_escape_json(escaped, sizeof(escaped), value));
	else
		snprintf(buf, size, "\"%s\":null", name);
	return buf;
}

static void write_json(const struct accesslog_entry *e, const char *when)
{
	char sni[340], method[340], url[340], host[340], agent[340];
	log_info("{\"time\":\"%s\",\"client\":\"%s\",%s,%s,%s,\"status\":%u,"
		"\"bytes\":%zu,%s,%s,\"sender\":\"%s\",\"tls\":\"%s\"}", when,
		e->client, json_field(sni, sizeof(sni), "sni", e->sni),
		json_field(method, sizeof(method), "method", e->method),
		json_field(url, sizeof(url), "path", e->url), e->status,
		e->bytes, json_field(host, sizeof(host), "host", e->host),
		json_field(agent, sizeof(agent), "user_agent", e->agent),
		useragent_family_name(useragent_classify(e->agent)),
		e->resumed ? "resumed" : "full");
}

void accesslog_write(const struct accesslog_entry *e, bool json)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (json)
		write_json(e, when);
	else
		write_text(e, when);
}
