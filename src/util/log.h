/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_LOG_H
#define MTASTSD_LOG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Logging to stderr (with "<N>" priority prefixes when stderr is the journal)
 * or to syslog. Every call preserves errno.
 */

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

void log_init(enum log_level level, enum log_target target);
void log_set_level(enum log_level level);
/*
 * Starts every stderr line with an ISO 8601 UTC time, except under journald
 * (JOURNAL_STREAM), which stamps lines itself. For the daemon; the other
 * commands talk to a person.
 */
void log_use_timestamps(bool enabled);
bool log_level_enabled(enum log_level level);

/* Parses "error", "warning", "info" or "debug"; false when unknown. */
bool log_level_parse(const char *name, enum log_level *level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As above, with ": strerror(errno)" appended. */
void log_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
