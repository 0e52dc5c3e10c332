#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Logs an operator can work with: ISO 8601 times outside journald, the
listen addresses, user and domain counts at start, what a reload changed,
the Host of a 421, and JSON access log lines for log shippers."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import World, config_text, domain_block, free_port, run

POLICY_PATH = "/.well-known/mta-sts.txt"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z mta-stsd: "
                   r"(error|warning|info|debug): ")


class Logs(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.com = self.leaf("mta-sts.example.com")
        self.net = self.leaf("mta-sts.example.net")
        self.org = self.leaf("mta-sts.example.org")

    def config(self, domains, extra=""):
        return self.write("mta-stsd.conf", config_text(
            self.port, domains, self.state, extra=extra))

    def test_timestamps_and_start_lines(self):
        daemon = self.start(self.config([
            domain_block("example.com", ["mail.example.com"], *self.com),
            domain_block("example.net", ["mail.example.com"], self.net[0],
                         "/nonexistent.key")]))
        daemon.stop()
        lines = daemon.output().splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, STAMP)
        text = "\n".join(lines)
        self.assertIn("info: listening on 127.0.0.1:%d (HTTPS)" % self.port,
                      text)
        if os.geteuid() == 0:
            self.assertIn("running as user nobody, group nogroup", text)
        else:
            self.assertRegex(text, r"running as user \S+ \(uid \d+\)")
        self.assertIn("serving 1 of 2 domain(s); 1 not served: example.net",
                      text)

    def test_journald_keeps_priority_prefixes(self):
        daemon = self.start(self.config([domain_block(
            "example.com", ["mail.example.com"], *self.com)]),
            env={"JOURNAL_STREAM": "8:12345"})
        daemon.stop()
        for line in daemon.output().splitlines():
            self.assertRegex(line, r"^<[0-7]>[^0-9]")

    def test_reload_says_what_changed(self):
        daemon = self.start(self.config([
            domain_block("example.com", ["mail.example.com"], *self.com),
            domain_block("example.net", ["mail.example.com"], *self.net),
            domain_block("example.org", ["mail.example.com"], *self.org)]))
        # example.com: new policy; example.net: removed; example.org: new
        # certificate (renewed, as certbot renames it in);
        # example.info: added; example.org's key: fine.
        renewed = self.ca.leaf("renewed-org", "--days-valid", "120",
                               sans=["mta-sts.example.org"])
        os.chmod(renewed[1], 0o644)
        os.rename(renewed[0], self.org[0])
        os.rename(renewed[1], self.org[1])
        info = self.leaf("mta-sts.example.info")
        self.config([
            domain_block("example.com", ["mx2.example.com"], *self.com),
            domain_block("example.org", ["mail.example.com"], *self.org),
            domain_block("example.info", ["mail.example.com"], *info),
            domain_block("example.edu", ["mail.example.com"], info[0],
                         "/nonexistent.key")])
        daemon.reload()
        out = daemon.output()
        self.assertRegex(out, r"reload: example\.com: policy changed: id "
                         r"[0-9a-f]{32} -> [0-9a-f]{32}")
        self.assertIn("reload: example.net: removed", out)
        self.assertRegex(out, r"reload: example\.org: certificate replaced "
                         r"\(expires \d{4}-\d\d-\d\d\)")
        self.assertRegex(out, r"reload: example\.info: added \(id [0-9a-f]+, "
                         r"mode enforce\)")
        self.assertRegex(out, r"reload: example\.edu: added but not served: ")
        # Now stop serving example.info: its key goes away.
        os.unlink(info[1])
        daemon.reload()
        out = daemon.output()
        self.assertRegex(out, r"reload: example\.info: new version not "
                         r"loaded \(.*\): the previous one is still served")
        # And an unchanged reload says so.
        daemon.reload()
        self.assertIn("reload: no domain changed", daemon.output())

    def test_json_access_log_and_421_host(self):
        daemon = self.start(self.config([domain_block(
            "example.com", ["mail.example.com"], *self.com)],
            extra='access_log = true;\naccess_log_format = "json";\n'))
        self.curl("mta-sts.example.com", self.port, POLICY_PATH, "-A",
                  "Google-SMTP-STS \x1b[31m")
        self.curl("mta-sts.example.com", self.port, POLICY_PATH, "-H",
                  "Host: other.example")
        entries = []
        for line in daemon.output().splitlines():
            m = re.match(r"^\S+ mta-stsd: info: (\{.*\})$", line)
            if m:
                entries.append(json.loads(m.group(1)))
        self.assertEqual(len(entries), 2, daemon.output())
        ok, misdirected = entries
        self.assertEqual(ok["status"], 200)
        self.assertEqual(ok["sni"], "mta-sts.example.com")
        self.assertEqual(ok["path"], POLICY_PATH)
        self.assertEqual(ok["sender"], "google")
        self.assertEqual(ok["user_agent"], "Google-SMTP-STS \x1b[31m")
        self.assertNotIn("\x1b", daemon.output())
        self.assertGreater(ok["bytes"], 0)
        self.assertEqual(misdirected["status"], 421)
        self.assertEqual(misdirected["host"], "other.example")

        # The text format names the Host of a 421 too.
        self.config([domain_block("example.com", ["mail.example.com"],
                                  *self.com)], extra="access_log = true;\n")
        daemon.reload()
        self.curl("mta-sts.example.com", self.port, POLICY_PATH, "-H",
                  "Host: other.example")
        self.assertRegex(daemon.output(), r'" 421 0 "curl/[^"]*" tls=\w+ '
                         r'host="other.example"')

    def test_refused_handshakes_name_client_and_plain_http_once(self):
        daemon = self.start(self.config([domain_block(
            "example.com", ["mail.example.com"], *self.com)],
            extra='log_level = "debug";\n'))
        run(["curl", "-sk", "--max-time", "10", "--resolve",
             "nope.example:%d:127.0.0.1" % self.port,
             "https://nope.example:%d/" % self.port])
        for _ in range(3):
            run(["curl", "-s", "--max-time", "10",
                 "http://127.0.0.1:%d/.well-known/mta-sts.txt" % self.port])
        out = daemon.output()
        self.assertRegex(out, r'debug: tls: 127\.0\.0\.1: unknown server '
                         r'name "nope\.example": refused')
        self.assertEqual(out.count("sent plain HTTP to the HTTPS port"), 1,
                         out)
        self.assertRegex(out, r"warning: a client \(127\.0\.0\.1\) sent "
                         r"plain HTTP to the HTTPS port")


if __name__ == "__main__":
    unittest.main()
