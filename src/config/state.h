/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_STATE_H
#define MTASTSD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/txt.h"

struct diag;

/*
 * The state directory. Two files, each a list of "domain id digest time"
 * lines, replaced atomically (temporary file, fsync, rename):
 *   ids     the id assigned to each domain's policy digest;
 *   served  what the running daemon serves since its last (re)load.
 * A missing directory or file reads as empty; only writing needs the
 * directory to exist and be writable.
 */

struct state_record {
	char *domain;
	char id[TXT_ID_MAX + 1];
	char digest[65];
	int64_t time;		/* seconds since the epoch */
};

/*
 * What the daemon serves of one domain, for state_save_served: borrowed
 * strings (a record of the ids table costs four times as much, and the
 * daemon writes 100,000 of these at a reload).
 */
struct state_served {
	const char *domain;
	const char *id;
	const char *digest;	/* 64 hex digits */
	int64_t time;		/* seconds since the epoch */
};

struct state;

/*
 * state_open reads both files from dir. Unreadable or malformed files are
 * errors in d (with file:line). Returns the state or NULL (d explains).
 */
struct state *state_open(const char *dir, struct diag *d);

/*
 * As state_open, for the daemon: the served file is not read (the daemon
 * only replaces it, with state_save_served, and keeps no copy), so
 * state_find_served finds nothing. Half the reading at every start and
 * reload.
 */
struct state *state_open_for_serving(const char *dir, struct diag *d);

/*
 * state_open_for_domains is state_open_for_serving for a reload that
 * assigns ids to a few domains only (count of them, those that changed):
 * only their lines of the ids file are parsed and kept, and
 * state_save_ids writes the file again with every other line as it was.
 * state_find_id finds only these domains, and state_assign_id must be
 * called for no other. With count 0 the ids file is not read at all.
 */
struct state *state_open_for_domains(const char *dir,
	const char *const *domains, size_t count, struct diag *d);
void state_destroy(struct state *state);

const char *state_directory(const struct state *state);

const struct state_record *state_find_id(const struct state *state,
	const char *domain);
const struct state_record *state_find_served(const struct state *state,
	const char *domain);

/*
 * state_assign_id decides the id to publish for domain whose rendered
 * policy has digest, writing it to out:
 *  - explicit_id set: it is used; if the state saw the same id with another
 *    digest, a warning goes to d ("policy changed but id did not: senders
 *    keep the old policy until the id changes"), at file:line;
 *  - otherwise the managed id, state_managed_id(digest): the same on
 *    every replica and in `txt` on any host, with no shared state. A
 *    stored id of the same policy that differs (the time-stamp ids of
 *    earlier versions) gets a note in d saying the id changes once.
 * New assignments are kept in memory until state_save_ids, which only
 * the daemon calls: the other subcommands read the state, never write it.
 * 0 or -1.
 */
/*
 * state_managed_id writes the id of the policy whose SHA-256 is digest (64
 * hex digits): its first 32 hex digits in lower case, so the id changes
 * exactly when the served bytes do.
 */
void state_managed_id(const char *digest, char out[TXT_ID_MAX + 1]);

int state_assign_id(struct state *state, const char *domain,
	const char *explicit_id, const char *digest, time_t now,
	char out[TXT_ID_MAX + 1], struct diag *d, const char *file,
	unsigned line);

/* Were ids assigned that are not saved yet? */
bool state_ids_dirty(const struct state *state);

/* Writes the ids file if dirty. Errors go to d. 0 or -1. */
int state_save_ids(struct state *state, struct diag *d);

/*
 * state_save_served replaces the served file with records (count entries,
 * time set by the caller; borrowed, in any order). A state of state_open
 * keeps a copy for state_find_served. Errors go to d. 0 or -1.
 */
int state_save_served(struct state *state, const struct state_served *records,
	size_t count, struct diag *d);

/*
 * Whether a daemon runs on a state directory: the daemon holds an
 * exclusive flock(2) on DIR/running for as long as it lives (the kernel
 * drops it when the process ends, however it ends), and `txt` asks for it.
 */
enum state_daemon {
	STATE_DAEMON_UNKNOWN,	/* cannot tell (unreadable) */
	STATE_DAEMON_NEVER,	/* no daemon ever ran on this directory */
	STATE_DAEMON_STOPPED,	/* one ran, none runs now */
	STATE_DAEMON_RUNNING,
};

/*
 * state_mark_running takes the daemon's mark on dir (creating the file).
 * Returns the descriptor to keep open until exit, or -1 with the reason in
 * d (a warning: serving does not depend on it), also when another daemon
 * already holds it.
 */
int state_mark_running(const char *dir, struct diag *d);

/* Whether a daemon holds the mark on dir now. */
enum state_daemon state_daemon_status(const char *dir);

#endif
