/* SPDX-License-Identifier: MIT */
/* priorities.c: the server's TLS priority string and its check. */
#include <stddef.h>

#include <gnutls/gnutls.h>

#include "util/diag.h"
#include "util/text.h"
#include "tls/priorities.h"


/*
 * tls_priorities_are_valid parses priorities the way the server will and
 * then checks the versions it enables: RFC 8461 §7.2 asks for TLS 1.2 or
 * later (and RFC 8996 retired 1.0 and 1.1).
 */
bool tls_priorities_are_valid(const char *priorities, struct diag *d,
	const char *file, unsigned line)
{
	char esc[512], at[512];
	gnutls_priority_t prio;
	const char *err_pos = NULL;
	int rc = gnutls_priority_init(&prio, priorities, &err_pos);
	if (rc < 0) {
		text_escape_str(esc, sizeof(esc), priorities);
		if (err_pos && err_pos >= priorities)
			diag_add(d, DIAG_ERROR, file, line,
				"tls-priorities-invalid",
				"TLS priority string \"%s\" is invalid at "
				"offset %zu, \"%s\": %s — fix or remove that "
				"item (default: %s)", esc,
				(size_t)(err_pos - priorities),
				text_escape_str(at, sizeof(at), err_pos),
				gnutls_strerror(rc), TLS_DEFAULT_PRIORITIES);
		else
			diag_add(d, DIAG_ERROR, file, line,
				"tls-priorities-invalid",
				"TLS priority string \"%s\" is invalid: %s — "
				"fix it (default: %s)", esc,
				gnutls_strerror(rc), TLS_DEFAULT_PRIORITIES);
		return false;
	}

	const unsigned *list = NULL;
	int n = gnutls_priority_protocol_list(prio, &list);
	bool modern = false, old = false;
	for (int i = 0; i < n; i++) {
		switch (list[i]) {
		case GNUTLS_TLS1_2:
		case GNUTLS_TLS1_3:
			modern = true;
			break;
		case GNUTLS_SSL3:
		case GNUTLS_TLS1_0:
		case GNUTLS_TLS1_1:
			old = true;
			break;
		default:
			break;
		}
	}
	gnutls_priority_deinit(prio);
	text_escape_str(esc, sizeof(esc), priorities);
	if (!modern) {
		diag_add(d, DIAG_ERROR, file, line, "tls-priorities-no-tls12",
			"TLS priority string \"%s\" enables neither TLS 1.2 nor "
			"TLS 1.3 — RFC 8461 §7.2 needs one of them: add "
			"+VERS-TLS1.3:+VERS-TLS1.2", esc);
		return false;
	}
	if (old)
		diag_add(d, DIAG_WARNING, file, line, "tls-priorities-old",
			"TLS priority string \"%s\" enables versions before "
			"TLS 1.2 — remove them: -VERS-TLS1.1:-VERS-TLS1.0 "
			"(RFC 8996)", esc);
	return true;
}
