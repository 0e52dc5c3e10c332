/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "util/log.h"

/* Atomic: a reload changes it while the HTTP threads read it. */
static _Atomic enum log_level current_level = LOG_LEVEL_INFO;
static enum log_target current_target = LOG_TARGET_STDERR;
/* journald reads "<N>" prefixes as priorities when stderr is its stream. */
static bool journal_prefix;
/* The daemon's lines start with the time, unless journald adds it. */
static bool timestamps;

void log_init(enum log_level level, enum log_target target)
{
	current_level = level;
	current_target = target;
	journal_prefix = getenv("JOURNAL_STREAM") != NULL;
	if (target == LOG_TARGET_SYSLOG)
		openlog("mta-stsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_use_timestamps(bool enabled)
{
	timestamps = enabled;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

bool log_level_enabled(enum log_level level)
{
	return level <= current_level;
}

bool log_level_parse(const char *name, enum log_level *level)
{
	static const char *const names[] = {
		[LOG_LEVEL_ERROR] = "error",
		[LOG_LEVEL_WARN] = "warning",
		[LOG_LEVEL_INFO] = "info",
		[LOG_LEVEL_DEBUG] = "debug",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*level = (enum log_level)i;
			return true;
		}
	}
	return false;
}

static int syslog_priority(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return LOG_ERR;
	case LOG_LEVEL_WARN:
		return LOG_WARNING;
	case LOG_LEVEL_INFO:
		return LOG_INFO;
	case LOG_LEVEL_DEBUG:
		return LOG_DEBUG;
	}
	return LOG_INFO;
}

static void vlog(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	if (!log_level_enabled(level))
		return;

	char message[2048];
	int n = vsnprintf(message, sizeof(message), fmt, ap);
	if (n < 0)
		return;
	if (errnum && (size_t)n < sizeof(message))
		snprintf(message + n, sizeof(message) - (size_t)n, ": %s",
			strerror(errnum));

	if (current_target == LOG_TARGET_SYSLOG) {
		syslog(syslog_priority(level), "%s", message);
		return;
	}
	static const char *const words[] = {
		[LOG_LEVEL_ERROR] = "error",
		[LOG_LEVEL_WARN] = "warning",
		[LOG_LEVEL_INFO] = "info",
		[LOG_LEVEL_DEBUG] = "debug",
	};
	if (journal_prefix) {
		fprintf(stderr, "<%d>%s\n", syslog_priority(level), message);
		return;
	}
	char stamp[40] = "";
	if (timestamps) {
		/* ISO 8601 in UTC with milliseconds, as log shippers parse
		 * it: "2026-12-06T05:33:22.123Z ". */
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		size_t used = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
			&tm);
		snprintf(stamp + used, sizeof(stamp) - used, ".%03ldZ ",
			ts.tv_nsec / 1000000);
	}
	fprintf(stderr, "%smta-stsd: %s: %s\n", stamp, words[level], message);
}

#define DEFINE_LOG(name, level, with_errno)                                  \
	void name(const char *fmt, ...)                                      \
	{                                                                    \
		int saved = errno;                                           \
		va_list ap;                                                  \
		va_start(ap, fmt);                                           \
		vlog(level, with_errno ? saved : 0, fmt, ap);                \
		va_end(ap);                                                  \
		errno = saved;                                               \
	}

DEFINE_LOG(log_error, LOG_LEVEL_ERROR, false)
DEFINE_LOG(log_warn, LOG_LEVEL_WARN, false)
DEFINE_LOG(log_info, LOG_LEVEL_INFO, false)
DEFINE_LOG(log_debug, LOG_LEVEL_DEBUG, false)
DEFINE_LOG(log_error_errno, LOG_LEVEL_ERROR, true)
DEFINE_LOG(log_warn_errno, LOG_LEVEL_WARN, true)

