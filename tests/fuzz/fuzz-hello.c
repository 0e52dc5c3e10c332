/* SPDX-License-Identifier: MIT */
/*
 * The ClientHello screen (tls/hello.c) on any bytes a client may send as
 * the body of its ClientHello. It must never read outside the message,
 * and answer only 0 or one of its two alerts.
 */
#include "fuzz.h"

#include <gnutls/gnutls.h>

#include "tls/hello.h"
#include "tls/priorities.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hello_offer offer;
	static int ready;
	if (!ready) {
		FUZZ_CHECK(hello_offer_init(&offer, TLS_DEFAULT_PRIORITIES) == 0);
		ready = 1;
	}
	/* An exact-size copy, so that ASan sees every read past the end. */
	unsigned char *msg = malloc(size ? size : 1);
	FUZZ_CHECK(msg != NULL);
	if (size)
		memcpy(msg, data, size);
	int alert = hello_screen(&offer, msg, size);
	FUZZ_CHECK(alert == 0 || alert == GNUTLS_A_PROTOCOL_VERSION ||
		alert == GNUTLS_A_HANDSHAKE_FAILURE);
	free(msg);
	return 0;
}
