/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_PARALLEL_H
#define MTASTSD_PARALLEL_H

#include <stddef.h>

/*
 * parallel_run splits the items [0, count) into at most workers
 * contiguous slices of about equal size and calls run(ctx, worker, begin,
 * end) once per slice, each slice on its own thread (the caller's thread
 * takes slice 0). Returns when every slice is done. Slices are numbered
 * 0..n-1 in item order, so results kept per slice can be merged in order.
 * When a thread cannot be started its slice runs on the caller's thread
 * instead, so every item is always processed. Returns the number of
 * slices used (0 when count is 0).
 */
typedef void parallel_fn(void *ctx, unsigned worker, size_t begin,
	size_t end);
unsigned parallel_run(size_t count, unsigned workers, parallel_fn *run,
	void *ctx);

/* The number of CPUs this process may run on (at least 1). */
unsigned parallel_cpu_count(void);

#endif
