/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_PROBE_H
#define MTASTSD_PROBE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "tls/client.h"

/*
 * The live probes of `mta-stsd check`: an SMTP STARTTLS dialogue with an MX
 * host, or TLS right after connect to the policy host, each ending in a
 * GnuTLS handshake (tls_client_probe) and bounded by one deadline. They
 * only record what happened; assess.c turns that into findings.
 */

enum probe_outcome {
	PROBE_NOT_RUN,
	PROBE_CONNECT,		/* no TCP connection */
	PROBE_TIMEOUT,		/* the dialogue took too long */
	PROBE_PROTOCOL,		/* the SMTP server said something unexpected */
	PROBE_NO_STARTTLS,	/* EHLO did not offer STARTTLS */
	PROBE_TLS_FAILED,	/* the handshake failed */
	PROBE_DONE,		/* handshake done; see tls */
};

struct probe {
	bool smtp;			/* false: TLS right after connect */
	const char *host;		/* SNI and the name to verify */
	unsigned port;
	const char *const *addresses;
	size_t address_count;
	const char *ca_file;
	unsigned timeout_s;

	enum probe_outcome outcome;
	char address[INET6_ADDRSTRLEN];	/* the one we talked to */
	char detail[300];		/* what went wrong, plain words */
	struct tls_probe_result tls;
};

/*
 * probe_run_all runs every job on a small pool of threads (at most
 * PROBE_THREADS; the calling thread when none can be started) and returns
 * when all are done. Each job's result fields are filled in.
 */
void probe_run_all(struct probe **jobs, size_t count);

#endif
