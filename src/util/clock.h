// SPDX-License-Identifier: MIT
#ifndef MTASTSD_CLOCK_H
#define MTASTSD_CLOCK_H

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

#endif
