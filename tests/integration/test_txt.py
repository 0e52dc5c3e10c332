#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`mta-stsd txt` as a provider with many domains uses it: the records of
every domain piped into `lint --txt`, what it says about publishing before
the daemon ever ran, while it runs and after it stopped, a forgotten id
bump, --value with owner names and --unquoted, long TLS-RPT values split
into character-strings, and `COMMAND --help`."""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, World, config_text, domain_block,  # noqa
                          free_port, run)

SAFE = "running mta-stsd: safe to publish"


class Txt(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.domains = ["a.example", "b.example", "c.example"]
        self.config = self.configure()

    def configure(self, ids=("1", "2", "3"), mx="mx.%s", rua=None):
        blocks = []
        for name, id in zip(self.domains, ids):
            cert, key = self.leaf("mta-sts." + name)
            extra = 'id = "%s"; tlsrpt_rua = "%s";' % (
                id, rua or "mailto:tlsrpt@" + name)
            blocks.append(domain_block(name, [mx % name], cert, key,
                                       extra=extra))
        return self.write("mta-stsd.conf", config_text(
            self.port, blocks, self.state))

    def txt(self, *args, input=None):
        return run([MTASTSD, "txt", "-c", self.config] + list(args),
                   input=input, timeout=60)

    def test_many_domains_pass_lint(self):
        r = self.txt()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count(" IN TXT "), 6)
        lint = run([MTASTSD, "lint", "--txt", "-"], input=r.stdout)
        self.assertEqual(lint.returncode, 0, lint.stdout)
        self.assertIn("valid TXT record (0 error(s), 0 warning(s))",
                      lint.stdout)

    def test_never_started_stopped_running(self):
        r = self.txt()
        self.assertEqual(r.returncode, 0, r.stderr)
        # Never started: start it, never "reload it", never "safe".
        self.assertEqual(r.stderr.count("start it (systemctl start "
                                        "mta-stsd)"), 3, r.stderr)
        self.assertIn("it has never run", r.stderr)
        self.assertNotIn("reload", r.stderr)
        self.assertNotIn(SAFE, r.stderr)
        self.assertIn("0 of 3 domains safe to publish", r.stderr)

        daemon = self.start(self.config)
        r = self.txt()
        # All is well: one summary line, not one line per domain.
        self.assertEqual(r.stderr, "all 3 domains are served by the "
                         "running mta-stsd: safe to publish\n")
        r = self.txt("b.example")
        self.assertEqual(r.stderr, "b.example: served by the running "
                         "mta-stsd: safe to publish id 2\n")
        docs = [json.loads(l) for l in self.txt("--json").stdout.splitlines()]
        self.assertEqual({d["daemon"] for d in docs}, {"running"})
        self.assertTrue(all(d["safe_to_publish"] for d in docs))

        daemon.stop()
        r = self.txt()
        self.assertNotIn(SAFE, r.stderr)
        self.assertIn("a.example: mta-stsd is not running (it has "
                      "stopped) — start it", r.stderr)
        docs = [json.loads(l) for l in self.txt("--json").stdout.splitlines()]
        self.assertEqual({d["daemon"] for d in docs}, {"stopped"})
        self.assertFalse(any(d["safe_to_publish"] for d in docs))

    def test_running_daemon_with_a_changed_policy_says_reload(self):
        daemon = self.start(self.config)
        self.config = self.configure(ids=("1", "2", "4"))
        r = self.txt()
        self.assertIn("c.example: the running mta-stsd does not serve "
                      "this policy yet — reload it", r.stderr)
        self.assertIn("2 of 3 domains safe to publish", r.stderr)
        daemon.reload()
        self.assertIn("all 3 domains", self.txt().stderr)

    def test_forgotten_id_bump_is_never_safe(self):
        daemon = self.start(self.config)
        # The policy of b.example changes, its explicit id does not.
        self.config = self.configure(mx="mx2.%s")
        daemon.reload()
        r = self.txt("b.example")
        self.assertIn("the policy changed but its id 2 did not", r.stderr)
        self.assertIn("b.example: do not publish id 2", r.stderr)
        self.assertNotIn(SAFE, r.stderr)
        doc = json.loads(self.txt("--json", "b.example").stdout)
        self.assertFalse(doc["safe_to_publish"])

    def test_value_names_and_unquoted(self):
        r = self.txt("--value", "a.example")
        self.assertEqual(r.stdout, '"v=STSv1; id=1"\n'
                         '"v=TLSRPTv1; rua=mailto:tlsrpt@a.example"\n')
        r = self.txt("--value")
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 6)
        self.assertEqual(lines[0], '_mta-sts.a.example\t"v=STSv1; id=1"')
        self.assertEqual(lines[5], '_smtp._tls.c.example\t'
                         '"v=TLSRPTv1; rua=mailto:tlsrpt@c.example"')
        r = self.txt("--value", "--unquoted", "a.example", "b.example")
        self.assertEqual(r.stdout.splitlines()[2],
                         "_mta-sts.b.example\tv=STSv1; id=2")
        r = self.txt("--unquoted")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--unquoted goes with txt --value", r.stderr)

    def test_long_rua_is_split_not_cut(self):
        uris = ["mailto:tls-reports-%02d@reports.example.net" % i
                for i in range(40)]
        self.config = self.configure(rua=",".join(uris))
        r = self.txt("a.example")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = [l for l in r.stdout.splitlines() if "_smtp._tls" in l][0]
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
        self.assertGreater(len(strings), 1, line)
        self.assertTrue(all(len(s) <= 255 for s in strings), line)
        self.assertEqual("".join(strings),
                         "v=TLSRPTv1; rua=" + ",".join(uris))
        lint = run([MTASTSD, "lint", "--txt", "-"], input=r.stdout)
        self.assertEqual(lint.returncode, 0, lint.stdout)

    def test_invalid_rua_is_an_error(self):
        self.config = self.configure(rua="mailto:tls@a.example!10m")
        r = self.txt()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertRegex(r.stderr, r"mta-stsd\.conf:\d+: error: "
                         r"tlsrpt_rua: rua .* contains '!'")

    def test_help_after_every_subcommand(self):
        for command, words in (
                ("serve", ["usage: mta-stsd [serve]", "--config"]),
                ("check-config", ["usage: mta-stsd check-config",
                                  "--verbose"]),
                ("txt", ["usage: mta-stsd txt", "--bump", "--value",
                         "--unquoted", "--json"]),
                ("lint", ["usage: mta-stsd lint", "--txt"]),
                ("demo", ["usage: mta-stsd demo", "--listen"]),
                ("check", ["usage: mta-stsd check", "--no-smtp"])):
            for place in ([command, "--help"], [command, "-h"]):
                r = run([MTASTSD] + place)
                self.assertEqual(r.returncode, 0, place)
                for w in words:
                    self.assertIn(w, r.stdout, place)
                self.assertNotIn("mta-stsd demo" if command != "demo"
                                 else "mta-stsd lint", r.stdout, place)


if __name__ == "__main__":
    unittest.main(verbosity=2)
