#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`meson install` into a DESTDIR puts a complete, rendered tree in place,
writes nothing to /etc, and the installed unit stays as hardened as
docs/DEPLOYMENT.md says (systemd-analyze security --offline=true).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import BUILD_ROOT, NO_SKIP, SOURCE_ROOT  # noqa: E402

MAX_EXPOSURE = 2.0


def need(tool):
    path = shutil.which(tool)
    if not path:
        if NO_SKIP:
            raise AssertionError("%s is not installed" % tool)
        raise unittest.SkipTest("%s is not installed" % tool)
    return path


class Install(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        meson = need("meson")
        cls.tmp = tempfile.mkdtemp(prefix="mta-stsd-install-")
        cls.dest = os.path.join(cls.tmp, "dest")
        # --no-rebuild: the suite runs after the build; do not race ninja.
        r = subprocess.run([meson, "install", "-C", BUILD_ROOT, "--destdir",
                            cls.dest, "--no-rebuild"], capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError("meson install failed:\n%s%s"
                                 % (r.stdout, r.stderr))
        r = subprocess.run([meson, "introspect", BUILD_ROOT,
                            "--buildoptions"], capture_output=True, text=True,
                           timeout=60, check=True)
        opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
        cls.opts = opts
        prefix = opts["prefix"]
        cls.prefix = prefix

        def under_prefix(d):
            return d if os.path.isabs(d) else os.path.join(prefix, d)
        cls.sbindir = under_prefix(opts["sbindir"])
        cls.mandir = under_prefix(opts["mandir"])
        cls.datadir = under_prefix(opts["datadir"])
        cls.sysconfdir = under_prefix(opts["sysconfdir"])
        cls.statedir = opts["statedir"]
        cls.man_pages = os.path.exists(os.path.join(BUILD_ROOT, "docs",
                                                    "mta-stsd.8"))
        cls.installed = sorted(
            "/" + os.path.relpath(os.path.join(d, f), cls.dest)
            for d, _, files in os.walk(cls.dest) for f in files)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, installed):
        return os.path.join(self.dest, installed.lstrip("/"))

    def find(self, suffix):
        """The installed files whose path ends in suffix."""
        return [p for p in self.installed if p.endswith("/" + suffix)]

    def tree(self):
        return "installed:\n  " + "\n  ".join(self.installed)

    # ---------------------------------------------------------------------
    def test_binary_in_sbin(self):
        exe = os.path.join(self.sbindir, "mta-stsd")
        self.assertIn(exe, self.installed, self.tree())
        self.assertTrue(os.access(self.path(exe), os.X_OK), exe)
        r = subprocess.run([self.path(exe), "--version"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^mta-stsd \d")

    def test_man_pages(self):
        if not self.man_pages:
            if NO_SKIP:
                self.fail("the build has no man pages (scdoc missing?)")
            self.skipTest("the build has no man pages (-Dman-pages)")
        for page in ("man8/mta-stsd.8", "man5/mta-stsd.conf.5"):
            p = os.path.join(self.mandir, page)
            self.assertIn(p, self.installed, self.tree())
            with open(self.path(p), encoding="utf-8") as f:
                text = f.read()
            self.assertIn(".TH", text, p)
            self.assertEqual(re.findall(r"@[A-Z_]+@", text), [],
                             "%s: placeholders left" % p)
        # The page quotes the state directory this build compiled in.
        state = self.statedir
        with open(self.path(os.path.join(self.mandir, "man5",
                                         "mta-stsd.conf.5")),
                  encoding="utf-8") as f:
            self.assertIn('Default: "%s"' % state, f.read())

    def unit(self, name):
        found = self.find("systemd/system/" + name)
        if not found and self.opts.get("systemdsystemunitdir"):
            found = self.find(name)
        self.assertEqual(len(found), 1, "%s: %s" % (name, self.tree()))
        return found[0]

    def test_units_rendered(self):
        service = self.unit("mta-stsd.service")
        socket = self.unit("mta-stsd.socket")
        self.assertEqual(os.path.dirname(service), os.path.dirname(socket))
        with open(self.path(service), encoding="utf-8") as f:
            text = f.read()
        self.assertEqual(re.findall(r"@[A-Za-z_]+@", text), [],
                         "placeholders left in " + service)
        m = re.search(r"^ExecStart=(\S+)(.*)$", text, re.M)
        self.assertIsNotNone(m, "no ExecStart= in " + service)
        exe = os.path.join(self.sbindir, "mta-stsd")
        self.assertEqual(m.group(1), exe)
        self.assertIn(exe, self.installed)
        self.assertIn("-c " + os.path.join(self.sysconfdir, "mta-stsd",
                                           "mta-stsd.conf"), m.group(2))
        self.assertIn("Documentation=man:mta-stsd(8)", text)
        self.assertRegex(text, r"(?m)^Type=notify")

    def test_unit_skips_the_unedited_example(self):
        """ExecCondition= compares the configuration with the installed
        example: the same bytes skip the start (exit 1), an edit runs it."""
        with open(self.path(self.unit("mta-stsd.service")),
                  encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"^ExecCondition=/bin/sh -c '([^']*)' sh (\S+) (\S+)$",
                      text, re.M)
        self.assertIsNotNone(m, "no ExecCondition= of the expected form")
        script = m.group(1).replace("$$", "$")
        self.assertEqual(m.group(2), os.path.join(
            self.sysconfdir, "mta-stsd", "mta-stsd.conf"))
        example = m.group(3)
        self.assertIn(example, self.installed, self.tree())
        edited = os.path.join(self.tmp, "edited.conf")
        with open(self.path(example), encoding="utf-8") as f, \
                open(edited, "w", encoding="utf-8") as g:
            g.write(f.read() + "# edited\n")
        for conf, status in ((self.path(example), 1), (edited, 0),
                             (os.path.join(self.tmp, "missing"), 0)):
            r = subprocess.run(["/bin/sh", "-c", script, "sh", conf,
                                self.path(example)], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, status, "%s: %s" % (conf, r.stderr))
            if status == 1:
                self.assertIn("is the unedited example", r.stderr)

    def test_sysusers_tmpfiles_and_example(self):
        for suffix in ("sysusers.d/mta-stsd.conf", "tmpfiles.d/mta-stsd.conf"):
            found = self.find(suffix)
            self.assertEqual(len(found), 1, "%s: %s" % (suffix, self.tree()))
            with open(self.path(found[0]), encoding="utf-8") as f:
                text = f.read()
            self.assertNotRegex(text, r"@[A-Za-z_]+@", found[0])
            self.assertIn("mta-stsd", text)
        # The example, in the documentation and where the unit compares
        # the configuration with it.
        for example in (os.path.join(self.datadir, "doc", "mta-stsd",
                                     "mta-stsd.conf"),
                        os.path.join(self.datadir, "mta-stsd",
                                     "mta-stsd.conf")):
            self.assertIn(example, self.installed, self.tree())
            with open(self.path(example), encoding="utf-8") as f, \
                    open(os.path.join(SOURCE_ROOT, "conf", "mta-stsd.conf"),
                         encoding="utf-8") as g:
                self.assertEqual(f.read(), g.read())

    def test_nothing_under_etc(self):
        bad = [p for p in self.installed
               if p.startswith("/etc/") or
               p.startswith(self.sysconfdir.rstrip("/") + "/")]
        self.assertEqual(bad, [], "meson install must not write to etc")

    def test_unit_exposure(self):
        analyze = need("systemd-analyze")
        service = self.path(self.unit("mta-stsd.service"))
        r = subprocess.run([analyze, "security", "--offline=true",
                            "--no-pager", service], capture_output=True,
                           text=True, timeout=120)
        m = re.search(r"Overall exposure level for mta-stsd\.service: "
                      r"([0-9.]+)", r.stdout + r.stderr)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        exposure = float(m.group(1))
        self.assertLessEqual(exposure, MAX_EXPOSURE, r.stdout)
        # The figure the deployment guide quotes is the one measured.
        with open(os.path.join(SOURCE_ROOT, "docs", "DEPLOYMENT.md"),
                  encoding="utf-8") as f:
            guide = f.read()
        self.assertIn("systemd-analyze security --offline=true", guide)
        self.assertIn("Overall exposure level for mta-stsd.service: %s"
                      % m.group(1), guide,
                      "docs/DEPLOYMENT.md must quote the measured exposure")


if __name__ == "__main__":
    unittest.main(verbosity=2)
