#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The certbot and lego deploy hooks of docs/DEPLOYMENT.md, run as printed
there (paths moved to a scratch directory, systemctl replaced by a stand-in
that signals the test's daemon) against a running daemon: one lineage that
goes wrong never holds up another's reload."""

import os
import re
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, SOURCE_ROOT, World, config_text,
                          free_port, run)

ROOT = os.geteuid() == 0


def hook_text(marker):
    """The shell script of DEPLOYMENT.md whose second line is marker."""
    with open(os.path.join(SOURCE_ROOT, "docs", "DEPLOYMENT.md")) as f:
        doc = f.read()
    for block in re.findall(r"```sh\n(.*?)```", doc, re.S):
        lines = block.splitlines()
        if len(lines) > 1 and lines[0] == "#!/bin/sh" and lines[1] == marker:
            return block
    raise AssertionError("no hook %r in DEPLOYMENT.md" % marker)


def peer_pem(port, host, ca):
    r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-servername", host, "-CAfile", ca], input="", timeout=20)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  r.stdout, re.S)
    return m and m.group(0)


def first_pem(path):
    with open(path) as f:
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END "
                      r"CERTIFICATE-----", f.read(), re.S)
    return m.group(0)


@unittest.skipUnless(ROOT, "the hooks install files owned by root")
class Hooks(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.etc = os.path.join(self.dir, "etc")
        for sub in ("certs", "keys"):
            os.makedirs(os.path.join(self.etc, sub))
        os.chmod(self.etc, 0o755)
        for sub in ("certs", "keys"):
            os.chmod(os.path.join(self.etc, sub), 0o755)
        # Two customers, each with its own lineage, installed once.
        for domain in ("a.example", "b.example"):
            cert, key = self.leaf("mta-sts." + domain)
            os.rename(cert, self.cert_path(domain))
            os.rename(key, self.key_path(domain))
        self.config = self.write("mta-stsd.conf", config_text(
            self.port, [], self.state, extra=(
                'defaults = { mode = "testing"; mx = "mx.example.net";\n'
                '  cert = "%s/certs/%%d.pem"; key = "%s/keys/%%d.key"; };'
                % (self.etc, self.etc))).replace(
            "domains = (\n\n);", 'domains = ( { name = "a.example"; },\n'
            '  { name = "b.example"; } );'))
        self.daemon = self.start(self.config)
        # systemctl, as far as the hooks use it.
        bindir = os.path.join(self.dir, "bin")
        os.mkdir(bindir)
        fake = os.path.join(bindir, "systemctl")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\ncase $1 in\nis-active) exit 0 ;;\n"
                    "reload) kill -HUP %d ;;\n*) exit 1 ;;\nesac\n" %
                    self.daemon.pid)
        os.chmod(fake, 0o755)
        self.path = bindir + ":" + os.environ["PATH"]

    def cert_path(self, domain):
        return os.path.join(self.etc, "certs", domain + ".pem")

    def key_path(self, domain):
        return os.path.join(self.etc, "keys", domain + ".key")

    def hook(self, marker):
        text = hook_text(marker)
        text = text.replace("/etc/mta-stsd/", self.etc + "/")
        # The test has no mta-stsd group; nobody's group reads the keys.
        text = text.replace("-g mta-stsd", "-g nogroup")
        text = text.replace("mta-stsd check-config",
                            "%s check-config -c %s" % (MTASTSD, self.config))
        path = os.path.join(self.dir, "hook-%d.sh" % len(os.listdir(
            self.dir)))
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
        return path

    def run_hook(self, marker, env):
        e = dict(os.environ, PATH=self.path, **env)
        return run([self.hook(marker)], env=e, timeout=60)

    def renewed(self, domain, broken=False):
        """A new lineage for domain; broken: its key belongs to another
        certificate."""
        lineage = os.path.join(self.dir, "live-" + domain + "-%d" % len(
            os.listdir(self.dir)))
        os.mkdir(lineage)
        cert, key = self.ca.leaf("new-" + os.path.basename(lineage),
                                 sans=["mta-sts." + domain])
        if broken:
            _, key = self.ca.leaf("other-" + os.path.basename(lineage),
                                  sans=["mta-sts." + domain])
        os.rename(cert, os.path.join(lineage, "fullchain.pem"))
        os.rename(key, os.path.join(lineage, "privkey.pem"))
        return lineage

    def check_one_broken_lineage(self, run_for):
        old_b = peer_pem(self.port, "mta-sts.b.example", self.ca.cert)
        # b's renewal went wrong (a key of another certificate): its hook
        # fails for b alone, and its reload still applies everything else.
        r = run_for("b.example", self.renewed("b.example", broken=True))
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("does not belong to certificate", r.stderr)
        self.daemon.notify.wait_for("RELOADING=1")
        self.daemon.notify.wait_for("READY=1")
        self.assertEqual(peer_pem(self.port, "mta-sts.b.example",
                                  self.ca.cert), old_b)
        # a's renewal afterwards: quiet, reloaded, the new certificate
        # served, while b stays broken on disk.
        r = run_for("a.example", self.renewed("a.example"))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        self.daemon.notify.wait_for("RELOADING=1")
        ready = self.daemon.notify.wait_for("READY=1")
        self.assertIn("1 on the previous version: b.example", ready)
        self.assertEqual(peer_pem(self.port, "mta-sts.a.example",
                                  self.ca.cert),
                         first_pem(self.cert_path("a.example")))
        self.assertEqual(peer_pem(self.port, "mta-sts.b.example",
                                  self.ca.cert), old_b)
        st = os.stat(self.key_path("a.example"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual(stat.S_IMODE(os.stat(self.cert_path(
            "a.example")).st_mode), 0o644)

    def test_certbot_hook(self):
        marker = "# /etc/letsencrypt/renewal-hooks/deploy/mta-stsd"

        def run_for(domain, lineage):
            return self.run_hook(marker, {
                "RENEWED_LINEAGE": lineage,
                # A wildcard name beside it must not be taken as a glob.
                "RENEWED_DOMAINS": "mta-sts.%s *" % domain})
        self.check_one_broken_lineage(run_for)

    def test_lego_hook(self):
        marker = "# /usr/local/sbin/mta-stsd-lego-hook"

        def run_for(domain, lineage):
            return self.run_hook(marker, {
                "LEGO_CERT_DOMAIN": "mta-sts." + domain,
                "LEGO_CERT_PATH": os.path.join(lineage, "fullchain.pem"),
                "LEGO_CERT_KEY_PATH": os.path.join(lineage, "privkey.pem")})
        self.check_one_broken_lineage(run_for)


if __name__ == "__main__":
    unittest.main(verbosity=2)
