/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "server/useragent.h"
#include "util/text.h"

static const char *const names[USERAGENT_FAMILY_COUNT] = {
	[USERAGENT_POSTFIX_MTA_STS_RESOLVER] = "postfix-mta-sts-resolver",
	[USERAGENT_GOOGLE] = "google",
	[USERAGENT_MICROSOFT] = "microsoft",
	[USERAGENT_YAHOO] = "yahoo",
	[USERAGENT_COMCAST] = "comcast",
	[USERAGENT_MTA_STSD] = "mta-stsd",
	[USERAGENT_CURL] = "curl",
	[USERAGENT_PYTHON] = "python",
	[USERAGENT_GO] = "go",
	[USERAGENT_NONE] = "none",
	[USERAGENT_OTHER] = "other",
};

/*
 * Substrings, compared without case, first match wins: the more specific
 * names come before the generic libraries they are built on
 * (postfix-mta-sts-resolver is Python, Google's fetcher may say Go).
 */
static const struct {
	const char *needle;
	enum useragent_family family;
} patterns[] = {
	{ "mta-sts-resolver", USERAGENT_POSTFIX_MTA_STS_RESOLVER },
	{ "mta-stsd", USERAGENT_MTA_STSD },
	{ "google", USERAGENT_GOOGLE },
	{ "microsoft", USERAGENT_MICROSOFT },
	{ "exchange", USERAGENT_MICROSOFT },
	{ "outlook", USERAGENT_MICROSOFT },
	{ "yahoo", USERAGENT_YAHOO },
	{ "comcast", USERAGENT_COMCAST },
	{ "curl/", USERAGENT_CURL },
	{ "python", USERAGENT_PYTHON },
	{ "aiohttp", USERAGENT_PYTHON },
	{ "go-http-client", USERAGENT_GO },
};

/* Bytes of a User-Agent looked at: the names sit at its start. */
#define USERAGENT_SCAN 256

static bool contains(const char *lower, const char *needle)
{
	return strstr(lower, needle) != NULL;
}

enum useragent_family useragent_classify(const char *agent)
{
	if (!agent || !agent[0])
		return USERAGENT_NONE;
	char lower[USERAGENT_SCAN + 1];
	size_t len = strnlen(agent, USERAGENT_SCAN);
	for (size_t i = 0; i < len; i++)
		lower[i] = text_lower(agent[i]);
	lower[len] = '\0';
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		if (contains(lower, patterns[i].needle))
			return patterns[i].family;
	}
	return USERAGENT_OTHER;
}

const char *useragent_family_name(enum useragent_family family)
{
	if ((unsigned)family >= USERAGENT_FAMILY_COUNT)
		return names[USERAGENT_OTHER];
	return names[family];
}
