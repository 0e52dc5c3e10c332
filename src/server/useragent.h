/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_USERAGENT_H
#define MTASTSD_USERAGENT_H

/*
 * The sender family of a policy fetch, from its User-Agent: a fixed set of
 * names, so a metric label or a log field never takes a value the client
 * chose. Pure.
 */

enum useragent_family {
	USERAGENT_POSTFIX_MTA_STS_RESOLVER,
	USERAGENT_GOOGLE,
	USERAGENT_MICROSOFT,
	USERAGENT_YAHOO,
	USERAGENT_COMCAST,
	USERAGENT_MTA_STSD,	/* our own `check` */
	USERAGENT_CURL,
	USERAGENT_PYTHON,
	USERAGENT_GO,
	USERAGENT_NONE,		/* no User-Agent header */
	USERAGENT_OTHER,
	USERAGENT_FAMILY_COUNT,
};

/* The family of agent (NULL: none sent). */
enum useragent_family useragent_classify(const char *agent);

/* The family's label: "google", "other"... */
const char *useragent_family_name(enum useragent_family family);

#endif
