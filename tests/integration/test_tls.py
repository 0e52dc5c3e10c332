#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The TLS handshake against the clients senders use and hostile ones
(issue 11): no HelloRetryRequest for the usual key shares, ECDHE only, an
alert (never a bare close) for what the server refuses, and TLS 1.3
session tickets that resume only under the name they were issued for."""

import os
import re
import socket
import ssl
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (World, config_text, domain_block, free_port, run,
                          require_tools)

POLICY_PATH = "/.well-known/mta-sts.txt"
A, B, R = "mta-sts.a.test", "mta-sts.b.test", "mta-sts.r.test"


class Handshake(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        a = self.leaf(A)
        b = self.leaf(B)
        r = self.leaf(R, "--rsa")      # RSA: DHE-RSA and static RSA apply
        self.config = self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("a.test", ["mx.a.test"], *a),
            domain_block("b.test", ["mx.b.test"], *b),
            domain_block("r.test", ["mx.r.test"], *r),
        ], self.state, extra="access_log = true;"))
        self.daemon = self.start(self.config)

    def s_client(self, host, *args, request=None):
        req = request if request is not None else (
            "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
            (POLICY_PATH, host))
        return run(["openssl", "s_client", "-connect",
                    "127.0.0.1:%d" % self.port, "-servername", host,
                    "-CAfile", self.ca.cert, "-ign_eof"] + list(args),
                   input=req, timeout=20)

    # -- item 2: no extra round trip --------------------------------------

    def client_hellos(self, *groups):
        args = ["-msg"] + (["-groups", ":".join(groups)] if groups else [])
        r = self.s_client(A, *args)
        self.assertIn("version: STSv1", r.stdout, r.stderr)
        return sum(1 for ln in r.stdout.splitlines()
                   if ln.startswith(">>>") and "ClientHello" in ln)

    def summary(self):
        """The handshake counts the daemon logs when it stops (None when
        there was no handshake at all)."""
        self.assertEqual(self.daemon.stop(), 0)
        m = re.search(r"tls: (\d+) full handshakes, (\d+) resumed, (\d+) "
                      r"with a HelloRetryRequest, (\d+) ClientHellos "
                      r"refused", self.daemon.output())
        return tuple(int(g) for g in m.groups()) if m else None

    def test_no_hello_retry_for_the_share_the_client_sends(self):
        # OpenSSL's default sends one X25519 share (Postfix, Python, curl).
        self.assertEqual(self.client_hellos(), 1)
        self.assertEqual(self.client_hellos("X25519", "P-256"), 1)
        # Clients whose first (and only shared) group is P-256 or P-384.
        self.assertEqual(self.client_hellos("P-256", "X25519"), 1)
        self.assertEqual(self.client_hellos("P-384", "X25519"), 1)
        # The server counts the same: four full handshakes, no retry.
        self.assertEqual(self.summary(), (4, 0, 0, 0))

    def test_hello_retry_is_counted(self):
        # A share for a group the server lacks (P-521) must be retried.
        self.assertEqual(self.client_hellos("P-521", "X25519"), 2)
        self.assertEqual(self.summary(), (1, 0, 1, 0))

    # -- item 6: ECDHE only ------------------------------------------------

    def assertRefused(self, r, alert):
        out = r.stdout + r.stderr
        self.assertNotIn("version: STSv1", out)
        self.assertIn(alert, out)

    def test_ffdhe_only_client_is_refused(self):
        r = self.s_client(A, "-groups", "ffdhe8192")
        self.assertRefused(r, "alert handshake failure")

    def test_dhe_and_static_rsa_are_refused(self):
        for cipher in ("DHE-RSA-AES128-GCM-SHA256", "AES128-GCM-SHA256"):
            r = self.s_client(R, "-tls1_2", "-cipher", cipher)
            self.assertRefused(r, "alert handshake failure")
        # ECDHE with the same RSA certificate works.
        r = self.s_client(R, "-tls1_2", "-cipher",
                          "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertIn("version: STSv1", r.stdout)

    # -- item 7: an alert, not a bare close --------------------------------

    def test_tls_1_1_gets_protocol_version(self):
        r = run(["gnutls-cli", "--x509cafile", self.ca.cert, "--port",
                 str(self.port), "--sni-hostname", A,
                 "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0",
                 "127.0.0.1"], input="", timeout=20)
        out = r.stdout + r.stderr
        self.assertNotIn("Handshake was completed", out)
        self.assertIn("Received alert [70]", out)
        self.assertEqual(self.summary(), (0, 0, 0, 1))

    def test_bad_cipher_list_gets_handshake_failure(self):
        r = run(["gnutls-cli", "--x509cafile", self.ca.cert, "--port",
                 str(self.port), "--sni-hostname", A, "--priority",
                 "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC",
                 "127.0.0.1"], input="", timeout=20)
        out = r.stdout + r.stderr
        self.assertNotIn("Handshake was completed", out)
        self.assertIn("Received alert [40]", out)

    def test_change_cipher_spec_first_is_answered_at_once(self):
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.settimeout(5)
            s.sendall(b"\x14\x03\x03\x00\x01\x01")
            try:
                reply = s.recv(64)
            except socket.timeout:
                reply = None
        self.assertIsNotNone(reply, "no answer within 5 s")
        self.assertLess(time.monotonic() - start, 5)
        # A fatal unexpected_message alert record.
        self.assertEqual(reply[:1], b"\x15")
        self.assertEqual(reply[5:7], b"\x02\x0a")
        self.assertIsNone(self.summary())   # not even a ClientHello

    # -- the request after the handshake is not held back -----------------

    def test_no_delayed_ack_wait_for_a_nagle_client(self):
        """GnuTLS sends its TLS 1.3 tickets before the client's Finished,
        so nothing acknowledged the Finished but the kernel's delayed ACK,
        and a client with Nagle's algorithm on (Python's ssl on a plain
        socket) held its request 40 ms behind it, on every fetch."""
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
               "\r\n" % (POLICY_PATH, A)).encode()
        waits = []
        for _ in range(9):
            with socket.create_connection(("127.0.0.1", self.port),
                                          10) as raw:
                with ctx.wrap_socket(raw, server_hostname=A) as s:
                    t = time.monotonic()
                    s.sendall(req)
                    self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200"))
                    waits.append(time.monotonic() - t)
        # The delayed ACK is at least 40 ms; a direct answer takes < 1 ms.
        self.assertLess(statistics.median(waits), 0.020, waits)

    # -- item 8: TLS 1.3 tickets stay with their name ----------------------

    def resume(self, first, second):
        sess = os.path.join(self.dir, "session-%s-%s" % (first, second))
        r = self.s_client(first, "-tls1_3", "-sess_out", sess)
        self.assertIn("version: STSv1", r.stdout)
        self.assertTrue(os.path.getsize(sess) > 0)
        return self.s_client(second, "-tls1_3", "-sess_in", sess,
                             "-verify_return_error", "-verify_hostname",
                             second)

    def test_ticket_resumes_the_same_name(self):
        r = self.resume(A, A)
        self.assertIn("Reused, TLSv1.3", r.stdout)
        self.assertIn("mode: enforce\r\nmx: mx.a.test", r.stdout)
        self.assertEqual(self.summary(), (1, 1, 0, 0))

    def test_ticket_does_not_cross_names(self):
        r = self.resume(A, B)
        self.assertNotIn("Reused,", r.stdout)
        self.assertIn("New, TLSv1.3", r.stdout)
        # b's policy comes over a full handshake with b's certificate.
        self.assertIn("mx: mx.b.test", r.stdout)
        self.assertIn("Verify return code: 0 (ok)", r.stdout)
        log = self.daemon.output()
        self.assertEqual(log.count(" tls=resumed"), 0, log)
        self.assertEqual(self.summary(), (2, 0, 0, 0))


if __name__ == "__main__":
    require_tools("openssl", "gnutls-cli")
    unittest.main(verbosity=2)
