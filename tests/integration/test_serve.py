#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Serving: the policy per SNI, exact headers, errors, TLS versions and the
unrecognized_name abort, checked with curl, gnutls-cli and openssl s_client.
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (World, config_text, domain_block, free_port, run,
                          require_tools)

POLICY_PATH = "/.well-known/mta-sts.txt"
BODY_COM = ("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
            "mx: *.mx.example.net\r\nmax_age: 1209600\r\n")
BODY_ORG = ("version: STSv1\r\nmode: testing\r\nmx: mx.example.org\r\n"
            "max_age: 604800\r\n")


def headers_of(text):
    """Splits curl -i output into (status line, {lower name: value}, body)."""
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return lines[0], fields, body


class Serving(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        com = self.leaf("mta-sts.example.com")
        org = self.leaf("mta-sts.example.org")
        self.config = self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", ["mail.example.com",
                                         "*.mx.example.net"], *com),
            domain_block("Example.ORG.", ["mx.example.org"], *org,
                         mode="testing", max_age=604800),
        ], self.state))
        self.daemon = self.start(self.config)

    def get(self, host, *extra, path=POLICY_PATH):
        r = self.curl(host, self.port, path, "-i", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return headers_of(r.stdout)

    def test_policy_per_sni(self):
        for host, body in (("mta-sts.example.com", BODY_COM),
                           ("mta-sts.example.org", BODY_ORG)):
            status, fields, got = self.get(host)
            self.assertEqual(status, "HTTP/1.1 200 OK")
            self.assertEqual(got, body)
            self.assertEqual(fields["content-type"], "text/plain")
            self.assertEqual(fields["content-length"], str(len(body)))
            # A managed id: 32 hex digits of the policy's SHA-256.
            self.assertRegex(fields["mta-sts-policy-id"], r"^[0-9a-f]{32}$")
            self.assertNotIn("content-encoding", fields)
            self.assertNotIn("location", fields)

    def test_never_compressed(self):
        status, fields, body = self.get("mta-sts.example.com",
                                        "-H", "Accept-Encoding: gzip, br")
        self.assertNotIn("content-encoding", fields)
        self.assertEqual(body, BODY_COM)

    def test_head(self):
        r = self.curl("mta-sts.example.com", self.port, POLICY_PATH, "-I")
        self.assertEqual(r.returncode, 0, r.stderr)
        status, fields, body = headers_of(r.stdout)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(fields["content-length"], str(len(BODY_COM)))
        self.assertEqual(body, "")

    def test_query_string_ignored(self):
        status, _, body = self.get("mta-sts.example.com",
                                   path=POLICY_PATH + "?x=1")
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertEqual(body, BODY_COM)

    def test_http_1_0(self):
        status, fields, body = self.get("mta-sts.example.com", "--http1.0")
        # A server answers with its own version (RFC 9110 §6.2).
        self.assertRegex(status, r"^HTTP/1\.[01] 200 OK$")
        self.assertEqual(fields["connection"], "close")
        self.assertEqual(body, BODY_COM)

    def test_not_found(self):
        for path in ("/", "/.well-known/mta-sts.txt.bak", "/index.html",
                     "/.well-known/"):
            status, fields, body = self.get("mta-sts.example.com", path=path)
            self.assertEqual(status, "HTTP/1.1 404 Not Found", path)
            self.assertEqual(fields["content-type"], "text/plain")
            self.assertNotIn("location", fields)

    def test_encoded_paths_are_not_the_policy(self):
        # The policy lives at one exact path; no decoded spelling of it.
        for path in ("/.well-known/mta-sts.txt%00x",
                     "/.well-known/mta%2Dsts.txt",
                     "/.well-known/mta-sts%2etxt",
                     "/.well-known%2Fmta-sts.txt"):
            status, _, body = self.get("mta-sts.example.com",
                                       "--path-as-is", path=path)
            self.assertEqual(status, "HTTP/1.1 404 Not Found", path)
            self.assertNotIn("STSv1", body)

    def test_method_not_allowed(self):
        for method in ("POST", "PUT", "DELETE", "OPTIONS"):
            status, fields, _ = self.get("mta-sts.example.com", "-X", method)
            self.assertEqual(status, "HTTP/1.1 405 Method Not Allowed")
            self.assertEqual(fields["allow"], "GET, HEAD")

    def test_host_of_another_domain_is_misdirected(self):
        status, _, body = self.get("mta-sts.example.com",
                                   "-H", "Host: mta-sts.example.org")
        self.assertEqual(status, "HTTP/1.1 421 Misdirected Request")
        self.assertNotIn("STSv1", body)

    def test_host_header_variants(self):
        for host in ("MTA-STS.EXAMPLE.COM", "mta-sts.example.com.",
                     "mta-sts.example.com:%d" % self.port):
            status, _, body = self.get("mta-sts.example.com",
                                       "-H", "Host: " + host)
            self.assertEqual(status, "HTTP/1.1 200 OK", host)
            self.assertEqual(body, BODY_COM)

    def openssl(self, *args, request=None):
        return run(["openssl", "s_client", "-connect",
                    "127.0.0.1:%d" % self.port, "-CAfile", self.ca.cert,
                    "-verify_return_error"] + list(args),
                   input=request or "", timeout=20)

    def test_openssl_s_client(self):
        req = ("GET %s HTTP/1.1\r\nHost: mta-sts.example.org\r\n"
               "Connection: close\r\n\r\n" % POLICY_PATH)
        r = self.openssl("-servername", "mta-sts.example.org",
                         "-verify_hostname", "mta-sts.example.org",
                         "-ign_eof", request=req)
        self.assertIn("Verify return code: 0 (ok)", r.stdout)
        self.assertIn(BODY_ORG, r.stdout)
        self.assertIn("CN = mta-sts.example.org", r.stdout)

    def test_unknown_sni_is_refused(self):
        r = self.openssl("-servername", "mta-sts.unknown.test")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unrecognized name", r.stdout + r.stderr)
        self.assertNotIn("BEGIN CERTIFICATE", r.stdout)

    def test_no_sni_is_refused(self):
        r = self.openssl("-noservername")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unrecognized name", r.stdout + r.stderr)
        r = self.curl("mta-sts.example.com", self.port, POLICY_PATH,
                      connect="127.0.0.1")
        self.assertEqual(r.returncode, 0)
        # An IP literal URL sends no SNI at all.
        r = run(["curl", "-sS", "--max-time", "10", "--cacert", self.ca.cert,
                 "https://127.0.0.1:%d%s" % (self.port, POLICY_PATH)])
        self.assertNotEqual(r.returncode, 0)

    def gnutls_cli(self, host, priority=None, request=""):
        args = ["gnutls-cli", "--x509cafile", self.ca.cert,
                "--port", str(self.port), "--sni-hostname", host,
                "--verify-hostname", host]
        if priority:
            args += ["--priority", priority]
        return run(args + ["127.0.0.1"], input=request, timeout=20)

    def test_gnutls_cli(self):
        req = ("GET %s HTTP/1.0\r\nHost: mta-sts.example.com\r\n\r\n" %
               POLICY_PATH)
        r = self.gnutls_cli("mta-sts.example.com", request=req)
        out = r.stdout + r.stderr
        self.assertIn("Handshake was completed", out)
        self.assertIn("- Status: The certificate is trusted.", out)
        self.assertIn(BODY_COM.replace("\r\n", "\n").strip(),
                      out.replace("\r\n", "\n"))

    def test_tls_versions(self):
        r = self.curl("mta-sts.example.com", self.port, POLICY_PATH,
                      "--tlsv1.2", "--tls-max", "1.2", "-w",
                      "%{http_code}", "-o", "/dev/null")
        self.assertEqual(r.stdout, "200", r.stderr)
        r = self.curl("mta-sts.example.com", self.port, POLICY_PATH,
                      "--tlsv1.3", "-w", "%{http_code}", "-o", "/dev/null")
        self.assertEqual(r.stdout, "200", r.stderr)
        r = self.gnutls_cli("mta-sts.example.com",
                            "NORMAL:-VERS-ALL:+VERS-TLS1.1")
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("Handshake was completed", r.stdout + r.stderr)


class AccessLog(World):
    def test_access_log_line_per_request(self):
        port = free_port()
        cert = self.leaf("mta-sts.example.com")
        config = self.write("mta-stsd.conf", config_text(port, [
            domain_block("example.com", ["mail.example.com"], *cert)],
            self.state, extra="access_log = true;"))
        d = self.start(config)
        self.curl("mta-sts.example.com", port, POLICY_PATH, "-A",
                  'test-sender/1.0 "quoted"')
        self.curl("mta-sts.example.com", port, "/missing", "-A", "x")
        self.curl("mta-sts.example.com", port, POLICY_PATH, "-I", "-A", "y")
        log = d.output()
        body = ("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com"
                "\r\nmax_age: 1209600\r\n")
        self.assertRegex(log, r'access: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ '
                         r'127\.0\.0\.1 mta-sts\.example\.com '
                         r'"GET /\.well-known/mta-sts\.txt" 200 %d '
                         r'"test-sender/1\.0 \\x22quoted\\x22" tls=full' %
                         len(body))
        self.assertIn('"GET /missing" 404 0 "x" tls=full', log)
        self.assertIn('"HEAD /.well-known/mta-sts.txt" 200 0 "y" tls=full',
                      log)

    def test_access_log_tells_resumed_sessions(self):
        port = free_port()
        cert = self.leaf("mta-sts.example.com")
        config = self.write("mta-stsd.conf", config_text(port, [
            domain_block("example.com", ["mail.example.com"], *cert)],
            self.state, extra="access_log = true;"))
        d = self.start(config)
        sess = os.path.join(self.dir, "session")
        # openssl keeps the TLS 1.2 session for the second connection.
        for flag in ("-sess_out", "-sess_in"):
            r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                     "-servername", "mta-sts.example.com", "-tls1_2",
                     "-CAfile", self.ca.cert, flag, sess, "-ign_eof"],
                    input="GET %s HTTP/1.0\r\n\r\n" % POLICY_PATH,
                    timeout=20)
            self.assertIn("version: STSv1", r.stdout)
        self.assertIn("Reused, TLSv1.2", r.stdout)
        log = d.output()
        self.assertEqual(log.count(" tls=full"), 1, log)
        self.assertEqual(log.count(" tls=resumed"), 1, log)


class OldTlsControl(World):
    """The TLS 1.1 refusal above must come from the server: with a priority
    string that allows TLS 1.1 the same client succeeds."""

    def test_tls_1_1_works_when_configured(self):
        port = free_port()
        cert = self.leaf("mta-sts.example.com")
        config = self.write("mta-stsd.conf", config_text(port, [
            domain_block("example.com", ["mail.example.com"], *cert)],
            self.state, extra='tls_priorities = "NORMAL:+VERS-TLS1.1";'))
        self.start(config)
        r = run(["gnutls-cli", "--x509cafile", self.ca.cert, "--port",
                 str(port), "--sni-hostname", "mta-sts.example.com",
                 "--verify-hostname", "mta-sts.example.com",
                 "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.1",
                 "127.0.0.1"], input="", timeout=20)
        self.assertIn("Handshake was completed", r.stdout + r.stderr)


if __name__ == "__main__":
    require_tools("curl", "openssl", "gnutls-cli")
    unittest.main(verbosity=2)
