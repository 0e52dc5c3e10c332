#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The offline subcommands from the built binary: check-config (summary and
the -v dump), txt (zone lines, --value, --json, --bump, served status),
lint and lint --txt, usage errors and exit codes. Outputs that matter to
admins are compared with golden files in tests/data/golden/."""

import json
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, SOURCE_ROOT, World, Daemon, config_text,
                          domain_block, free_port, run)

GOLDEN = os.path.join(SOURCE_ROOT, "tests", "data", "golden")
LINT = os.path.join(SOURCE_ROOT, "tests", "data", "lint")
UPDATE = os.environ.get("MTASTSD_UPDATE_GOLDEN") == "1"


class Cli(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        com = self.leaf("mta-sts.example.com")
        self.config_key = com[1]
        org = self.leaf("mta-sts.example.org")
        self.config = self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", ["mail.example.com",
                                         "*.mx.example.net"], *com,
                         extra='id = "20261101000000"; tlsrpt_rua = '
                         '"mailto:tlsrpt@example.com";'),
            domain_block("example.org", ["mx.example.org"], *org,
                         mode="testing", max_age=604800,
                         extra='id = "20261102000000";'),
        ], self.state, extra="txt_ttl = 3600;"))

    def mta_stsd(self, *args, input=None):
        return run([MTASTSD] + list(args), input=input, timeout=60)

    def normalise(self, text):
        text = text.replace(self.dir, "@DIR@")
        text = text.replace(":%d\"" % self.port, ':@PORT@"')
        return re.sub(r"\d{4}-\d\d-\d\d \(\d+ days\)", "@EXPIRY@", text)

    def golden(self, name, text):
        path = os.path.join(GOLDEN, name)
        if UPDATE:
            with open(path, "w") as f:
                f.write(text)
        with open(path) as f:
            self.assertEqual(text, f.read(), "golden file " + name)

    def test_check_config_summary(self):
        r = self.mta_stsd("check-config", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.golden("check-config.out", self.normalise(r.stdout))

    def test_check_config_dump(self):
        r = self.mta_stsd("check-config", "-v", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.golden("check-config-v.out", self.normalise(r.stdout))

    def test_check_config_reports_every_error(self):
        bad = self.write("bad.conf", config_text(self.port, [
            domain_block("example.com", ["mail.example.com."],
                         "/nonexistent/c.pem", "/nonexistent/k.pem",
                         mode="Enforce", extra='nmx = "x";'),
            domain_block("example.com", ["192.0.2.1"], "c", "k"),
        ], self.state))
        r = self.mta_stsd("check-config", "-c", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("configuration invalid", r.stdout)
        errors = [l for l in r.stderr.splitlines() if ": error: " in l]
        self.assertGreaterEqual(len(errors), 3, r.stderr)
        for line in errors:
            # file:line, or only the file for what concerns it whole.
            self.assertRegex(line, r"^.*bad\.conf(:\d+)?: error: .+ — .+")
        self.assertIn("Enforce", r.stderr)
        self.assertIn("nmx", r.stderr)
        self.assertIn("already configured", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "needs root: check-config "
                         "then reads as the service user")
    def test_check_config_reads_keys_as_the_service_user(self):
        # A key only root can read passes for root but fails for the
        # daemon at its next reload: check-config must say so now.
        key = self.config_key
        os.chmod(key, 0o600)
        r = self.mta_stsd("check-config", "-c", self.config)
        # 3: it loads, but that domain would not be served.
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn(key, r.stderr)
        self.assertIn("Permission denied", r.stderr)
        os.chmod(key, 0o644)
        r = self.mta_stsd("check-config", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("read as user nobody", r.stderr)

    def test_txt_zone_lines(self):
        r = self.mta_stsd("txt", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.golden("txt.out", r.stdout)
        # Nothing serves it yet: publishing now would break RFC 8461 §8.1.
        self.assertIn("mta-stsd is not running", r.stderr)

    def test_txt_value_and_json(self):
        r = self.mta_stsd("txt", "-c", self.config, "--value", "example.com")
        self.assertEqual(r.stdout, '"v=STSv1; id=20261101000000"\n'
                         '"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"\n')
        r = self.mta_stsd("txt", "-c", self.config, "--json")
        docs = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([d["domain"] for d in docs],
                         ["example.com", "example.org"])
        self.assertEqual(docs[0]["value"], "v=STSv1; id=20261101000000")
        self.assertEqual(docs[0]["name"], "_mta-sts.example.com.")
        self.assertEqual(docs[0]["tlsrpt_value"],
                         "v=TLSRPTv1; rua=mailto:tlsrpt@example.com")
        self.assertEqual(docs[1]["served"], "not-served")
        self.assertNotIn("tlsrpt_value", docs[1])

    def test_txt_unknown_domain(self):
        r = self.mta_stsd("txt", "-c", self.config, "example.net")
        self.assertEqual(r.returncode, 1)
        self.assertIn("example.net: not a configured domain", r.stderr)

    def test_txt_bump(self):
        r = self.mta_stsd("txt", "-c", self.config, "--bump", "--json",
                          "example.org")
        doc = json.loads(r.stdout)
        self.assertRegex(doc["next_id"], r"^\d{14}$")
        self.assertGreater(int(doc["next_id"]), 20261102000000)
        r = self.mta_stsd("txt", "-c", self.config, "--bump", "example.org")
        self.assertIn("next id", r.stderr)
        self.assertIn("set id =", r.stderr)

    def test_managed_id_follows_policy_and_daemon(self):
        cert = self.leaf("mta-sts.example.net")
        path = self.write("managed.conf", config_text(self.port, [
            domain_block("example.net", ["mx.example.net"], *cert)],
            self.state))

        def txt():
            r = self.mta_stsd("txt", "-c", path, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)

        first = txt()
        self.assertTrue(first["id_managed"])
        self.assertEqual(txt()["id"], first["id"])   # stable across runs
        self.assertEqual(first["served"], "not-served")

        daemon = self.start(path)
        self.assertEqual(txt()["served"], "served")
        self.assertEqual(txt()["id"], first["id"])

        # A changed policy gets a new id by itself (from its digest); the
        # daemon must reload before it is published.
        self.write("managed.conf", config_text(self.port, [
            domain_block("example.net", ["mx.example.net",
                                         "mx2.example.net"], *cert)],
            self.state))
        second = txt()
        self.assertNotEqual(second["id"], first["id"])
        self.assertRegex(second["id"], r"^[0-9a-f]{32}$")
        self.assertEqual(second["served"], "stale")
        daemon.reload()
        self.assertEqual(txt()["served"], "served")
        r = self.curl("mta-sts.example.net", self.port, "/.well-known/"
                      "mta-sts.txt", "-D", "-")
        self.assertIn("MTA-STS-Policy-Id: " + second["id"], r.stdout)

    def test_explicit_id_unchanged_with_new_policy_warns(self):
        # The daemon records the id with its policy; check-config only
        # reads that record.
        self.start(self.config).stop()
        r = self.mta_stsd("check-config", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.write("mta-stsd.conf", open(self.config).read().replace(
            '"mail.example.com"', '"mail2.example.com"'))
        r = self.mta_stsd("check-config", "-c", self.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the policy changed but its id 20261101000000 did "
                      "not", r.stderr)

    def test_unwritable_state_directory(self):
        cert = self.leaf("mta-sts.example.net")
        blocker = self.write("not-a-directory", "")
        path = self.write("state.conf", config_text(self.port, [
            domain_block("example.net", ["mx.example.net"], *cert)],
            os.path.join(blocker, "state")))
        # txt only reads the state: a state directory that cannot exist
        # reads as empty, and nothing is written anywhere.
        r = self.mta_stsd("txt", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("_mta-sts.example.net.", r.stdout)
        # No daemon has ever run with that state directory: start it.
        self.assertIn("start it (systemctl start mta-stsd) before you "
                      "publish", r.stderr)
        self.assertEqual(os.path.getsize(blocker), 0)

    def test_lint_policy(self):
        r = self.mta_stsd("lint", os.path.join(LINT, "good.txt"))
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("valid policy (0 error(s), 0 warning(s))", r.stdout)
        with open(os.path.join(LINT, "typo.txt")) as f:
            r = self.mta_stsd("lint", "-", input=f.read())
        self.assertEqual(r.returncode, 1)
        self.golden("lint-typo.out", r.stdout)

    def test_lint_txt_answer(self):
        r = self.mta_stsd("lint", "--txt", os.path.join(LINT,
                                                        "good-answer.txt"))
        self.assertEqual(r.returncode, 0, r.stdout)
        r = self.mta_stsd("lint", "--txt", os.path.join(LINT,
                                                        "bad-answer.txt"))
        self.assertEqual(r.returncode, 1)
        self.golden("lint-txt-bad.out", r.stdout.replace(LINT, "@LINT@"))

    def test_usage_and_exit_codes(self):
        self.assertEqual(self.mta_stsd("lint", "/nonexistent").returncode, 2)
        self.assertEqual(self.mta_stsd("lint").returncode, 2)
        r = self.mta_stsd("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)
        self.assertIn("usage:", r.stderr)
        self.assertEqual(self.mta_stsd("--bogus").returncode, 2)
        r = self.mta_stsd("--version")
        self.assertRegex(r.stdout, r"^mta-stsd \d+\.\d+\.\d+\n$")
        r = self.mta_stsd("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("check-config", "txt", "lint", "demo", "check"):
            self.assertIn(word, r.stdout)
        r = self.mta_stsd("check-config", "-c", "/nonexistent.conf")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.conf", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
