/* SPDX-License-Identifier: MIT */
#ifndef MTASTSD_ACME_HTTP01_SERVER_H
#define MTASTSD_ACME_HTTP01_SERVER_H

/*
 * The plain-HTTP listener of the http-01 challenge: it answers
 * GET /.well-known/acme-challenge/TOKEN with the key authorization while
 * the order is pending, and 404 to everything else. One connection at a
 * time, each bounded in size and time: only a CA's validators need it.
 */

struct acme_http01_server;

/*
 * Starts answering on the listening socket fd (taken: closed on stop).
 * NULL on failure (logged; fd closed).
 */
struct acme_http01_server *acme_http01_server_start(int fd);

/* Stops the thread and closes the socket. Accepts NULL. */
void acme_http01_server_stop(struct acme_http01_server *server);

#endif
