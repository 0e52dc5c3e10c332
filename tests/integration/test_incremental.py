#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reloads cost what changed (issue 17): a reload reads again only the
domains whose configuration or certificate and key files changed, and
shares every other one with the running set. The daemon says what it
loaded and reused ("reload: 1 domain(s) loaded, 299 reused"). A renewal
that renames new files over the old ones is always seen, also with the old
size and mtime; a domain removed from the configuration is no longer
served."""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MKCERTS, World, config_text, domain_block,
                          free_port, run)

COUNT = 300  # above PARALLEL_MIN: the start loads on every CPU
PATTERN = "mta-sts.d%u.test"
# Files changed within this many seconds of a load are loaded again at the
# next reload (their times cannot be trusted yet): let the new ones age.
RACY_SECONDS = 2.2


def served_leaf(port, host, ca):
    """The leaf certificate (PEM) the server sends for host, or None when
    the handshake is refused."""
    r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-servername", host, "-CAfile", ca], input="", timeout=20)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                  r.stdout, re.S)
    return m.group(0) if m else None


def first_pem(path):
    with open(path) as f:
        return re.search(r"-----BEGIN CERTIFICATE-----.*?"
                         r"-----END CERTIFICATE-----", f.read(), re.S).group(0)


class Incremental(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        run([MKCERTS, "many", self.ca.dir, str(COUNT), PATTERN], check=True,
            timeout=120)
        for name in os.listdir(self.ca.dir):
            os.chmod(os.path.join(self.ca.dir, name), 0o644)
        self.modes = {i: "enforce" for i in range(1, COUNT + 1)}
        self.path = self.write_config(range(1, COUNT + 1))
        time.sleep(RACY_SECONDS)
        self.daemon = self.start(self.path)

    def files(self, i):
        base = os.path.join(self.ca.dir, PATTERN.replace("%u", str(i)))
        return base + ".pem", base + ".key"

    def write_config(self, numbers):
        blocks = [domain_block("d%d.test" % i, ["mail.d%d.test" % i],
                               *self.files(i), mode=self.modes[i])
                  for i in numbers]
        return self.write("mta-stsd.conf", config_text(self.port, blocks,
                                                       self.state))

    def reload_cost(self):
        """HUP; the daemon's account of what the reload loaded."""
        before = len(self.daemon.output())
        self.daemon.reload()
        log = self.daemon.output()[before:]
        self.last_log = log
        m = re.search(r"reload: (\d+) domain\(s\) loaded, (\d+) reused, "
                      r"(\d+) kept", log)
        self.assertIsNotNone(m, log)
        return tuple(int(x) for x in m.groups())

    def fetch(self, i):
        r = self.curl(PATTERN.replace("%u", str(i)), self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_start_loads_on_every_cpu(self):
        m = re.search(r"start: (\d+) domain\(s\) loaded, 0 reused, 0 kept "
                      r".* \((\d+) thread\(s\) loading certificates\)",
                      self.daemon.output())
        self.assertIsNotNone(m, self.daemon.output())
        self.assertEqual(int(m.group(1)), COUNT)
        self.assertEqual(int(m.group(2)),
                         min(len(os.sched_getaffinity(0)), 16))
        for i in (1, COUNT // 2, COUNT):
            self.assertIn("mode: enforce", self.fetch(i))

    def test_nothing_changed_loads_nothing(self):
        self.assertEqual(self.reload_cost(), (0, COUNT, 0))
        # Not even the configuration file is read again.
        self.assertIn("are unchanged: not read again", self.last_log)
        self.assertIn("mode: enforce", self.fetch(COUNT))
        # Touched, and just now: its times cannot tell, the digest of
        # its bytes does: still not read again.
        os.utime(self.path)
        self.assertEqual(self.reload_cost(), (0, COUNT, 0))
        self.assertIn("are unchanged: not read again", self.last_log)
        # Changed (a comment added): read again, domains still reused.
        with open(self.path, "a") as f:
            f.write("# changed\n")
        self.assertEqual(self.reload_cost(), (0, COUNT, 0))
        self.assertNotIn("not read again", self.last_log)

    def test_one_changed_domain_is_the_only_one_loaded(self):
        self.modes[7] = "testing"
        self.write_config(range(1, COUNT + 1))
        self.assertEqual(self.reload_cost(), (1, COUNT - 1, 0))
        self.assertNotIn("not read again", self.last_log)
        self.assertIn("mode: testing", self.fetch(7))
        self.assertIn("mode: enforce", self.fetch(8))
        # A broken new version keeps the previous one, shared as it is.
        self.modes[7] = "bogus"
        self.write_config(range(1, COUNT + 1))
        self.assertEqual(self.reload_cost(), (0, COUNT - 1, 1))
        self.assertIn("mode: testing", self.fetch(7))

    def renewal(self, i):
        """New certificate and key files for domain i, padded to the old
        sizes and given the old mtimes: (new cert, new key, new leaf)."""
        cert, key = self.files(i)
        new_cert, new_key = cert + ".new", key + ".new"
        for _ in range(20):
            run([MKCERTS, "leaf", self.ca.dir, PATTERN.replace("%u", str(i)),
                 "--out-cert", new_cert, "--out-key", new_key], check=True)
            if os.path.getsize(new_cert) <= os.path.getsize(cert) and \
                    os.path.getsize(new_key) <= os.path.getsize(key):
                break
        else:
            self.fail("no renewal as small as the old files")
        for old, new in ((cert, new_cert), (key, new_key)):
            with open(new, "a") as f:   # PEM allows text around blocks
                f.write("\n" * (os.path.getsize(old) - os.path.getsize(new)))
            st = os.stat(old)
            os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
            self.assertEqual(os.path.getsize(new), st.st_size)
            os.chmod(new, 0o644)
        return new_cert, new_key, first_pem(new_cert)

    def renew_by_rename(self, i):
        """A renewal renamed over the old files; returns the new leaf."""
        new_cert, new_key, leaf = self.renewal(i)
        cert, key = self.files(i)
        os.rename(new_cert, cert)
        os.rename(new_key, key)
        return leaf

    def test_renewal_by_rename_with_same_size_and_mtime_is_seen(self):
        host = PATTERN.replace("%u", "3")
        old = served_leaf(self.port, host, self.ca.cert)
        self.assertEqual(old, first_pem(self.files(3)[0]))
        leaf = self.renew_by_rename(3)
        self.assertNotEqual(leaf, old)
        self.assertEqual(self.reload_cost(), (1, COUNT - 1, 0))
        self.assertEqual(served_leaf(self.port, host, self.ca.cert), leaf)
        # Renewed again at once, within the same second: the new files
        # are too fresh to judge by their times, so the digest of their
        # bytes decides: the renewal is loaded ...
        leaf = self.renew_by_rename(3)
        self.assertEqual(self.reload_cost(), (1, COUNT - 1, 0))
        self.assertEqual(served_leaf(self.port, host, self.ca.cert), leaf)
        # ... and the same fresh files, unchanged, are not.
        self.assertEqual(self.reload_cost(), (0, COUNT, 0))
        self.assertEqual(served_leaf(self.port, host, self.ca.cert), leaf)

    def test_same_bytes_written_again_are_not_loaded_again(self):
        # A deploy tool that copies every file again (new inode, new
        # mtime, same bytes): the digest shows nothing changed.
        host = PATTERN.replace("%u", "2")
        leaf = served_leaf(self.port, host, self.ca.cert)
        for path in self.files(2):
            with open(path, "rb") as f:
                data = f.read()
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.chmod(path + ".tmp", 0o644)
            os.rename(path + ".tmp", path)
        self.assertEqual(self.reload_cost(), (0, COUNT, 0))
        self.assertEqual(served_leaf(self.port, host, self.ca.cert), leaf)
        # The same bytes with a different size are a change after all.
        with open(self.files(2)[0], "a") as f:
            f.write("\n")
        self.assertEqual(self.reload_cost(), (1, COUNT - 1, 0))
        self.assertEqual(served_leaf(self.port, host, self.ca.cert), leaf)

    def test_rewrite_in_place_with_same_size_and_mtime_is_seen(self):
        # cp over the old files: the same inode, size and mtime (set
        # back); only the change time, which no tool can set back, tells
        # the new bytes from the old.
        host = PATTERN.replace("%u", "4")
        cert, key = self.files(4)
        ino = os.stat(cert).st_ino
        new_cert, new_key, leaf = self.renewal(4)
        for old, new in ((cert, new_cert), (key, new_key)):
            st = os.stat(old)
            with open(new, "rb") as src, open(old, "r+b") as dst:
                dst.write(src.read())
            os.utime(old, ns=(st.st_atime_ns, st.st_mtime_ns))
            self.assertEqual(os.path.getsize(old), st.st_size)
        self.assertEqual(os.stat(cert).st_ino, ino)
        self.assertEqual(self.reload_cost(), (1, COUNT - 1, 0))
        self.assertEqual(served_leaf(self.port, host, self.ca.cert), leaf)

    def test_removed_domain_is_no_longer_served(self):
        host = PATTERN.replace("%u", "5")
        self.assertIsNotNone(served_leaf(self.port, host, self.ca.cert))
        self.write_config([i for i in range(1, COUNT + 1) if i != 5])
        self.assertEqual(self.reload_cost(), (0, COUNT - 1, 0))
        self.assertIsNone(served_leaf(self.port, host, self.ca.cert))
        self.assertEqual(self.curl(host, self.port).returncode != 0, True)
        self.assertIn("mode: enforce", self.fetch(6))


class DirectoryIncremental(World):
    """A provider's layout: one file per customer group in
    domains_directory. A reload reads only the files that changed and
    takes the others' domains from the running set."""

    FILES = 8
    PER_FILE = 5

    def setUp(self):
        super().setUp()
        self.port = free_port()
        n = self.FILES * self.PER_FILE + 1
        run([MKCERTS, "many", self.ca.dir, str(n), PATTERN], check=True,
            timeout=120)
        for name in os.listdir(self.ca.dir):
            os.chmod(os.path.join(self.ca.dir, name), 0o644)
        self.directory = os.path.join(self.dir, "domains.d")
        os.makedirs(self.directory)
        for f in range(self.FILES):
            self.write_file(f, "enforce")
        self.path = self.write("mta-stsd.conf", config_text(
            self.port, [], self.state).replace(
                "domains = (\n\n);\n",
                'domains_directory = "%s";\n' % self.directory))
        time.sleep(RACY_SECONDS)
        self.daemon = self.start(self.path)

    def block(self, i, mode="enforce"):
        base = os.path.join(self.ca.dir, PATTERN.replace("%u", str(i)))
        return domain_block("d%d.test" % i, ["mail.d%d.test" % i],
                            base + ".pem", base + ".key", mode=mode)

    def write_file(self, f, mode, name=None, numbers=None):
        numbers = numbers or range(f * self.PER_FILE + 1,
                                   (f + 1) * self.PER_FILE + 1)
        path = os.path.join(self.directory, name or "%02d.conf" % f)
        with open(path + ".tmp", "w") as out:
            out.write("domains = (\n%s\n);\n" % ",\n".join(
                self.block(i, mode) for i in numbers))
        os.rename(path + ".tmp", path)
        return path

    def reload_files(self):
        """HUP; (files read, files taken unchanged, domains loaded). A
        file changed within two seconds of a load is read again at the
        next one (its times cannot tell yet): changes age first."""
        time.sleep(RACY_SECONDS)
        before = len(self.daemon.output())
        self.daemon.reload()
        log = self.daemon.output()[before:]
        m = re.search(r"reload: (\d+) file\(s\) of \S+ read, (\d+) "
                      r"unchanged and not read again", log)
        self.assertIsNotNone(m, log)
        loaded = re.search(r"reload: (\d+) domain\(s\) loaded", log)
        return int(m.group(1)), int(m.group(2)), int(loaded.group(1))

    def mode_of(self, i):
        r = self.curl(PATTERN.replace("%u", str(i)), self.port)
        self.assertEqual(r.returncode, 0, r.stderr)
        return re.search(r"mode: (\w+)", r.stdout).group(1)

    def test_only_changed_files_are_read(self):
        last = self.FILES * self.PER_FILE + 1
        # A new customer file: read alone, its one domain loaded.
        self.write_file(0, "enforce", name="99-new.conf", numbers=[last])
        self.assertEqual(self.reload_files(), (1, self.FILES, 1))
        self.assertEqual(self.mode_of(last), "enforce")
        self.assertEqual(self.mode_of(1), "enforce")
        # One file changed: read, and only its changed domains loaded.
        self.write_file(3, "testing")
        self.assertEqual(self.reload_files(),
                         (1, self.FILES, self.PER_FILE))
        self.assertEqual(self.mode_of(3 * self.PER_FILE + 1), "testing")
        self.assertEqual(self.mode_of(2 * self.PER_FILE + 1), "enforce")
        # Removed: its domains are no longer served, nothing else read.
        os.unlink(os.path.join(self.directory, "99-new.conf"))
        self.assertEqual(self.reload_files(), (0, self.FILES, 0))
        r = self.curl(PATTERN.replace("%u", str(last)), self.port)
        self.assertNotEqual(r.returncode, 0)
        # Touched only, the main file has the same bytes: nothing more
        # is read. Changed (it may hold defaults the files use): every
        # file is read again, no certificate loaded again.
        os.utime(self.path)
        time.sleep(RACY_SECONDS)
        before = len(self.daemon.output())
        self.daemon.reload()
        self.assertIn("are unchanged: not read again",
                      self.daemon.output()[before:])
        with open(self.path, "a") as f:
            f.write("# changed\n")
        self.assertEqual(self.reload_files(), (self.FILES, 0, 0))

    def test_a_file_with_a_domain_not_served_is_read_again(self):
        # File 2 gets a broken domain: it is read at every reload until
        # fixed, the others are taken; its good domains stay served.
        bad = 2 * self.PER_FILE + 1
        path = self.write_file(2, "enforce")
        with open(path) as f:
            text = f.read().replace('"d%d.test"; mode = "enforce"' % bad,
                                    '"d%d.test"; mode = "bogus"' % bad)
        with open(path, "w") as f:
            f.write(text)
        self.assertEqual(self.reload_files()[:2], (1, self.FILES - 1))
        self.assertEqual(self.reload_files()[:2], (1, self.FILES - 1))
        self.assertEqual(self.mode_of(bad + 1), "enforce")
        self.write_file(2, "enforce")
        self.assertEqual(self.reload_files()[:2], (1, self.FILES - 1))
        # All served and nothing changed: nothing is read at all.
        before = len(self.daemon.output())
        self.daemon.reload()
        self.assertIn("are unchanged: not read again",
                      self.daemon.output()[before:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
