/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_REPORT_H
#define MTASTSD_ACME_REPORT_H

#include <stdio.h>
#include <time.h>

struct config;

/*
 * acme_report_print writes, for each ACME domain of config, what the state
 * directory says: certificate expiry, the renewal time, the order in
 * progress, failures, the next attempt and the last error. Returns how
 * many ACME domains have no valid certificate at now.
 */
size_t acme_report_print(FILE *out, const struct config *config, time_t now);

#endif
