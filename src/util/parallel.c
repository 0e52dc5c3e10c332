/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/parallel.h"

#define PARALLEL_MAX 64

struct slice {
	parallel_fn *run;
	void *ctx;
	unsigned worker;
	size_t begin, end;
	pthread_t thread;
	bool started;
};

static void *slice_main(void *arg)
{
	struct slice *s = arg;
	s->run(s->ctx, s->worker, s->begin, s->end);
	return NULL;
}

unsigned parallel_run(size_t count, unsigned workers, parallel_fn *run,
	void *ctx)
{
	if (count == 0)
		return 0;
	if (workers < 1)
		workers = 1;
	if (workers > PARALLEL_MAX)
		workers = PARALLEL_MAX;
	if (workers > count)
		workers = (unsigned)count;
	struct slice slices[PARALLEL_MAX];
	for (unsigned i = 0; i < workers; i++) {
		slices[i] = (struct slice){
			.run = run, .ctx = ctx, .worker = i,
			.begin = count * i / workers,
			.end = count * (i + 1) / workers,
		};
	}
	for (unsigned i = 1; i < workers; i++)
		slices[i].started = pthread_create(&slices[i].thread, NULL,
			slice_main, &slices[i]) == 0;
	slice_main(&slices[0]);
	for (unsigned i = 1; i < workers; i++) {
		if (slices[i].started)
			pthread_join(slices[i].thread, NULL);
		else
			slice_main(&slices[i]);
	}
	return workers;
}

unsigned parallel_cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}
