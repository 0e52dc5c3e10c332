/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_CHECK_H
#define MTASTSD_CHECK_H

#include "checker/report.h"

/*
 * `mta-stsd check DOMAIN...`: an end-to-end check of a live MTA-STS
 * deployment as a sending MTA sees it (RFC 8461, RFC 8460 for TLS-RPT).
 */

/*
 * check_command runs `mta-stsd check [OPTIONS] DOMAIN...`; argv[0] is the
 * subcommand. Prints the report and returns the exit status (CHECK_EXIT_*).
 */
int check_command(int argc, char *argv[]);

#endif
