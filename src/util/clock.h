// SPDX-License-Identifier: MIT
#ifndef MTASTSD_CLOCK_H
#define MTASTSD_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Milliseconds on the monotonic clock, for deadlines and durations. */
long long clock_now_ms(void);

/* t as "YYYY-MM-DD" in UTC into out (at least 11 bytes). Returns out. */
const char *clock_format_date(time_t t, char *out, size_t size);

/*
 * A length of time for people, exact: "1 hour", "14 days", "0 seconds",
 * "23 hours, 59 minutes, 59 seconds". Into out (64 bytes hold any value
 * of max_age; a longer text is cut). Returns out.
 */
const char *clock_format_duration(unsigned long long seconds, char *out,
	size_t size);

/*
 * clock_is_racy: was a file with these modification and change times
 * changed within seconds before (or after) at? Then its times cannot tell
 * a later change in the same timestamp granule from none ("racily clean",
 * as git calls it), and the file must be read again next time.
 */
bool clock_is_racy(const struct timespec *mtime, const struct timespec *ctime,
	const struct timespec *at, unsigned seconds);

#endif
