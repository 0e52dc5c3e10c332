#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reload on SIGHUP: new policies and certificates are served, a broken
configuration keeps the old one serving, and a client fetching in a loop
through several reloads never sees a failure."""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (World, config_text, domain_block, free_port, run,
                          require_tools)

POLICY_PATH = "/.well-known/mta-sts.txt"


def peer_certificate(port, host, ca):
    """The PEM leaf certificate the server presents for host."""
    r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-servername", host, "-CAfile", ca], input="", timeout=20)
    out = r.stdout
    start = out.find("-----BEGIN CERTIFICATE-----")
    end = out.find("-----END CERTIFICATE-----")
    assert start >= 0, out + r.stderr
    return out[start:end + len("-----END CERTIFICATE-----")]


def first_pem(path):
    with open(path) as f:
        text = f.read()
    end = text.find("-----END CERTIFICATE-----")
    return text[:end + len("-----END CERTIFICATE-----")]


class Reload(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.cert = self.leaf("mta-sts.example.com")

    def write_config(self, mode="testing", mx=("mail.example.com",),
                     cert=None):
        return self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", list(mx), *(cert or self.cert),
                         mode=mode)], self.state))

    def body(self):
        r = self.curl("mta-sts.example.com", self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_new_policy_and_certificate(self):
        daemon = self.start(self.write_config())
        self.assertIn("mode: testing", self.body())
        old_pem = peer_certificate(self.port, "mta-sts.example.com",
                                   self.ca.cert)

        # As certbot does: a new certificate replaces the old by rename.
        new_cert, new_key = self.ca.leaf("renewed", sans=[
            "mta-sts.example.com"])
        os.chmod(new_key, 0o644)
        os.rename(new_cert, self.cert[0])
        os.rename(new_key, self.cert[1])
        self.write_config(mode="enforce", mx=("mail.example.com",
                                              "backup.example.com"))
        daemon.reload()
        body = self.body()
        self.assertIn("mode: enforce", body)
        self.assertIn("mx: backup.example.com", body)
        new_pem = peer_certificate(self.port, "mta-sts.example.com",
                                   self.ca.cert)
        self.assertNotEqual(old_pem, new_pem)
        self.assertEqual(new_pem, first_pem(self.cert[0]))
        self.assertIn("reloaded: 1 domain(s)", daemon.output())

    def test_broken_config_keeps_old_policy(self):
        daemon = self.start(self.write_config())
        before = self.body()
        self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", ["192.0.2.25"], *self.cert,
                         mode="enforced")], self.state))
        daemon.reload()
        self.assertEqual(self.body(), before)
        log = daemon.output()
        self.assertIn("mta-stsd.conf:", log)
        self.assertIn("enforced", log)
        self.assertIn("192.0.2.25", log)
        # A problem of one domain's entry: that domain keeps its previous
        # version; the reload itself goes through.
        self.assertIn("example.com: still serving its previous version",
                      log)

    def test_syntax_error_keeps_old_configuration(self):
        daemon = self.start(self.write_config())
        before = self.body()
        with open(os.path.join(self.dir, "mta-stsd.conf")) as f:
            good = f.read()
        self.write("mta-stsd.conf", good.replace("domains = (",
                                                 "domains = ((", 1))
        daemon.reload()
        self.assertEqual(self.body(), before)
        self.assertIn("reload failed: still serving the previous "
                      "configuration", daemon.output())

    def test_missing_certificate_keeps_old_policy(self):
        daemon = self.start(self.write_config())
        before = self.body()
        os.unlink(self.cert[0])
        self.write_config(mode="enforce")
        daemon.reload()
        self.assertEqual(self.body(), before)
        self.assertIn("example.com: still serving its previous version",
                      daemon.output())

    def test_no_failed_request_during_reloads(self):
        daemon = self.start(self.write_config())
        failures = []
        done = threading.Event()
        count = [0]

        def fetch_loop():
            # Bounded: at most 400 requests or until the reloads are done.
            for _ in range(400):
                if done.is_set():
                    break
                r = self.curl("mta-sts.example.com", self.port, POLICY_PATH,
                              "-f", "-o", "/dev/null", "-w", "%{http_code}")
                count[0] += 1
                if r.returncode != 0 or r.stdout != "200":
                    failures.append((r.returncode, r.stdout, r.stderr))

        t = threading.Thread(target=fetch_loop)
        t.start()
        try:
            for i in range(8):
                self.write_config(mode="testing" if i % 2 else "enforce")
                daemon.reload()
                time.sleep(0.2)
        finally:
            done.set()
            t.join(120)
        self.assertFalse(t.is_alive())
        self.assertGreater(count[0], 8)
        self.assertEqual(failures, [])


if __name__ == "__main__":
    require_tools("curl", "openssl")
    unittest.main(verbosity=2)
