// SPDX-License-Identifier: MIT
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
