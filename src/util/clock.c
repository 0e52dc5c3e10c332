// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <time.h>

#include "util/clock.h"

long long clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *clock_format_date(time_t t, char *out, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	if (strftime(out, size, "%Y-%m-%d", &tm) == 0 && size)
		out[0] = '\0';
	return out;
}

const char *clock_format_duration(unsigned long long seconds, char *out,
	size_t size)
{
	static const struct {
		unsigned long long seconds;
		const char *name;
	} units[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" },
	};
	if (seconds == 0) {
		snprintf(out, size, "0 seconds");
		return out;
	}
	/* Exact: "1 hour", "14 days", else every unit that is not zero,
	 * "23 hours, 59 minutes, 59 seconds". */
	size_t o = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		unsigned long long n = seconds / units[i].seconds;
		seconds %= units[i].seconds;
		if (n == 0 || o >= size)
			continue;
		int w = snprintf(out + o, size - o, "%s%llu %s%s",
			o ? ", " : "", n, units[i].name, n == 1 ? "" : "s");
		if (w < 0)
			break;
		o += (size_t)w;
	}
	return out;
}

static bool is_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
		(a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

bool clock_is_racy(const struct timespec *mtime, const struct timespec *ctime,
	const struct timespec *at, unsigned seconds)
{
	struct timespec limit = *at;
	limit.tv_sec -= (time_t)seconds;
	return !is_before(mtime, &limit) || !is_before(ctime, &limit);
}
