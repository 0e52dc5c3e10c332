/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_STATUS_H
#define MTASTSD_STATUS_H

#include <stdbool.h>
#include <time.h>

struct snapshot;

/*
 * The status file: what the running daemon serves, written to
 * STATE_DIRECTORY/status.json after the start and after every reload
 * (temporary file and rename, mode 0644: it holds nothing secret), and
 * read by `mta-stsd status`. Together with the `running` lock it answers
 * "what does the daemon serve, and does it run" without root and without
 * talking to the daemon.
 */

#define STATUS_FILE "status.json"

struct status_reload {
	time_t started;		/* the daemon's start */
	time_t loaded;		/* when the served snapshot was loaded */
	time_t attempted;	/* the last load or reload */
	bool ok;		/* whether that one succeeded */
	bool reload;		/* false: it was the start */
};

/*
 * status_publish writes what snap serves and r to the status file of
 * snap's state directory. Logs a failure as a warning (serving does not
 * depend on it).
 */
void status_publish(const struct snapshot *snap, const struct status_reload *r,
	const char *config_path, const char *metrics_listen);

/* `mta-stsd status [-c FILE] [--json] [DOMAIN...]`; returns the exit code. */
int status_command(int argc, char **argv);

#endif
