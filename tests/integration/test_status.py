#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`mta-stsd status`: what the running daemon serves, read from the status
file it writes to the state directory, without root; a clear answer and
exit 3 when no daemon runs."""

import json
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, World, config_text, domain_block,
                          free_port, run)

HOST = "mta-sts.example.com"
TOP_KEYS = ["version", "pid", "config", "started", "loaded", "last_reload",
            "metrics_listen", "domains"]
SERVED_KEYS = ["domain", "served", "previous_version", "id", "mode",
               "max_age", "certificate"]


def conf_string(text):
    """text inside a libconfig string: quote, backslash and control bytes
    escaped as libconfig reads them."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()),
                  text)


def ordered(raw):
    """The JSON in raw (bytes, strict UTF-8) with each object as a list of
    (key, value) pairs, to see the order of the members."""
    return json.loads(raw.decode("utf-8"), object_pairs_hook=list)


class Status(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.cert = self.leaf(HOST)
        self.path = self.write_config()

    def write_config(self, mode="enforce"):
        """example.com served in mode, broken.example not (no key)."""
        return self.write("mta-stsd.conf", config_text(
            self.port, [
                domain_block("example.com", ["mail.example.com"],
                             *self.cert, mode=mode),
                domain_block("broken.example", ["mail.example.com"],
                             self.cert[0], "/nonexistent/key.pem")],
            self.state))

    def status(self, *args, as_nobody=False, config=None):
        cmd = [MTASTSD, "status", "-c", config or self.path] + list(args)
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
        # The file itself: its members in the order they always had.
        with open(os.path.join(self.state, "status.json"), "rb") as f:
            raw = f.read()
        self.assertTrue(raw.endswith(b"}\n"))
        top = ordered(raw)
        self.assertEqual([k for k, _ in top], TOP_KEYS)
        domains = dict(top)["domains"]
        self.assertEqual([k for k, _ in domains[0]], SERVED_KEYS)
        self.assertEqual([k for k, _ in dict(domains[0])["certificate"]],
                         ["source", "file", "not_after"])
        self.assertEqual([k for k, _ in domains[1]],
                         ["domain", "served", "reason", "file", "line"])
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

    def test_certificate_path_escaping(self):
        """A certificate path is a file name: any byte but NUL and "/".
        status.json stays valid JSON for any parser, and `status` gives the
        path back exactly: quote, backslash and control bytes escaped,
        UTF-8 as it is. A byte that is not UTF-8 cannot be in valid JSON:
        it comes back as the character of the same number."""
        odd = os.path.join(self.dir, 'q"uote b\\ack \x01\x1f\x7f caf\u00e9 '
                           '\u00fc\U0001f600')
        latin = os.fsdecode(os.path.join(os.fsencode(self.dir), b"l\xe9"))
        blocks = []
        for name, where in (("example.com", odd), ("b.example", latin)):
            cert, key = self.leaf("mta-sts." + name)
            os.mkdir(where)
            for f in (cert, key):
                shutil.copy(f, where)
            blocks.append(domain_block(
                name, ["mail.example.com"],
                conf_string(os.path.join(where, os.path.basename(cert))),
                conf_string(os.path.join(where, os.path.basename(key)))))
        odd_cert = os.path.join(odd, "mta-sts.example.com.pem")
        latin_cert = os.path.join(latin, "mta-sts.b.example.pem")
        path = os.path.join(self.dir, "odd.conf")
        with open(path, "wb") as f:
            f.write(config_text(self.port, blocks, self.state).encode(
                "utf-8", "surrogateescape"))
        daemon = self.start(path)

        with open(os.path.join(self.state, "status.json"), "rb") as f:
            raw = f.read()
        # ordered() parses strictly: UTF-8, no raw control byte.
        by_name = {dict(d)["domain"]: dict(d)
                   for d in dict(ordered(raw))["domains"]}
        self.assertEqual(dict(by_name["example.com"]["certificate"])["file"],
                         odd_cert)
        self.assertEqual(dict(by_name["b.example"]["certificate"])["file"],
                         latin_cert.replace("\udce9", "\u00e9"))

        # Through the reader (json-c): as text and as JSON.
        r = self.status("example.com", config=path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(", from file %s\n" % odd_cert, r.stdout)
        r = self.status("--json", "example.com", config=path)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["domains"][0]["certificate"]["file"], odd_cert)
        daemon.stop()

    def test_previous_version(self):
        """A domain whose new version does not load is listed as served in
        its previous version, with the reason after its certificate."""
        self.write_config(mode="testing")
        daemon = self.start(self.path)
        os.unlink(self.cert[0])
        self.write_config(mode="enforce")
        daemon.reload()
        with open(os.path.join(self.state, "status.json"), "rb") as f:
            domains = dict(ordered(f.read()))["domains"]
        self.assertEqual([k for k, _ in domains[0]],
                         SERVED_KEYS + ["reason"])
        kept = dict(domains[0])
        self.assertEqual(kept["domain"], "example.com")
        self.assertTrue(kept["previous_version"])
        self.assertEqual(kept["mode"], "testing")
        self.assertIn("cert", kept["reason"])
        self.assertEqual(dict(domains[1])["domain"], "broken.example")
        self.assertFalse(dict(domains[1])["served"])
        self.assertEqual(len(domains), 2)

        r = self.status()
        self.assertIn("example.com: served (previous version), id ",
                      r.stdout)
        self.assertIn("  its new version did not load: %s\n" %
                      kept["reason"], r.stdout)
        self.assertIn("broken.example: not served: ", r.stdout)
        daemon.stop()

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
