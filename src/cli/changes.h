/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_CHANGES_H
#define MTASTSD_CHANGES_H

struct snapshot;

/*
 * changes_log logs what a reload changed from old to new, one line per
 * domain: added, removed, policy changed (old and new id), certificate
 * replaced, now not served (and why), back to serving, on its previous
 * version. At most CHANGES_LOGGED lines, then a count of the rest.
 */
#define CHANGES_LOGGED 100

void changes_log(const struct snapshot *old, const struct snapshot *new);

#endif
