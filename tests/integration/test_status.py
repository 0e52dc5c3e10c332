#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`mta-stsd status`: what the running daemon serves, read from the status
file it writes to the state directory, without root; a clear answer and
exit 3 when no daemon runs."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, World, config_text, domain_block,
                          free_port, run)

HOST = "mta-sts.example.com"


class Status(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.cert = self.leaf(HOST)
        self.path = self.write("mta-stsd.conf", config_text(
            self.port, [
                domain_block("example.com", ["mail.example.com"],
                             *self.cert),
                domain_block("broken.example", ["mail.example.com"],
                             self.cert[0], "/nonexistent/key.pem")],
            self.state))

    def status(self, *args, as_nobody=False):
        cmd = [MTASTSD, "status", "-c", self.path] + list(args)
        if as_nobody and os.geteuid() == 0:
            # Neither root nor the service user (nobody) that wrote the
            # files: a uid of no account at all.
            cmd = ["setpriv", "--reuid=12345", "--regid=12345",
                   "--clear-groups"] + cmd
        return run(cmd)

    def test_running_daemon(self):
        # As under mta-stsd.service (UMask=0077): the files status reads
        # are still readable by whoever may enter the state directory.
        old = os.umask(0o077)
        try:
            daemon = self.start(self.path)
        finally:
            os.umask(old)
        for name in ("running", "status.json"):
            mode = os.stat(os.path.join(self.state, name)).st_mode & 0o777
            self.assertEqual(mode, 0o644, name)
        head = self.curl(HOST, self.port, "/.well-known/mta-sts.txt", "-D",
                         "-", "-o", "/dev/null")
        served_id = [l.split(":", 1)[1].strip()
                     for l in head.stdout.splitlines()
                     if l.lower().startswith("mta-sts-policy-id:")][0]
        # Not root: the status holds nothing secret.
        r = self.status(as_nobody=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("example.com: served, id %s, mode enforce" % served_id,
                      r.stdout)
        self.assertRegex(r.stdout, r"certificate expires \d{4}-\d\d-\d\d "
                         r"\d\d:\d\d:\d\d UTC \(in \d+ days\), from file ")
        self.assertRegex(r.stdout, r"broken\.example: not served: .*key")
        self.assertRegex(r.stdout, r"(?m)^running: serving 1 of 2 domain\(s\);"
                         r" last start succeeded at \d{4}-")
        # One domain, served: exit 0.
        r = self.status("example.com")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("broken", r.stdout)
        r = self.status("--json", "example.com", "unknown.example")
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["running"])
        self.assertEqual(doc["pid"], daemon.pid)
        self.assertEqual(doc["last_reload"]["result"], "success")
        by_name = {d["domain"]: d for d in doc["domains"]}
        self.assertEqual(by_name["example.com"]["id"], served_id)
        self.assertEqual(by_name["example.com"]["certificate"]["source"],
                         "file")
        self.assertFalse(by_name["unknown.example"]["served"])

        # A failed reload shows, with the time of what is still served.
        with open(self.path, "a") as f:
            f.write("max_connections = 0;\n")
        daemon.reload()
        r = self.status("example.com")
        self.assertRegex(r.stdout, r"last reload FAILED at .*, serving what "
                         r"was loaded at ")

        daemon.stop()
        r = self.status()
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("mta-stsd is not running", r.stderr)
        self.assertIn("NOT RUNNING", r.stdout)

    def test_never_started(self):
        r = self.status()
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("mta-stsd is not running", r.stderr)
        self.assertIn("no daemon ever ran", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_bad_argument(self):
        r = self.status("not a domain!")
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a domain name", r.stderr)


if __name__ == "__main__":
    unittest.main()
