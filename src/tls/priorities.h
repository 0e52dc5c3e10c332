/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_TLS_PRIORITIES_H
#define MTASTSD_TLS_PRIORITIES_H

#include <stdbool.h>

struct diag;

/*
 * The server's GnuTLS priority string: the one definition, which the
 * configuration's defaults table and the man page quote.
 */
#define TLS_DEFAULT_PRIORITIES \
	"SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+CHACHA20-POLY1305:+AES-256-GCM:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1"

/* Is priorities a valid GnuTLS priority string? Explains in d if not. */
bool tls_priorities_are_valid(const char *priorities, struct diag *d,
	const char *file, unsigned line);

#endif
