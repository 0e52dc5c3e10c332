#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Faults around the daemon: files replaced, removed or made unreadable
under it, a broken configuration, a full or read-only state directory, and
kill -9. In every case the daemon goes on serving what it last validated,
or refuses to start with a clear error, and the state files it keeps are
never left half written."""

import json
import os
import re
import signal
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, Prober, World, config_text,
                          domain_block, free_port, run, require_tools)

HOST = "mta-sts.example.com"
POLICY_PATH = "/.well-known/mta-sts.txt"
STATE_HEADER = "# mta-stsd state, do not edit\n"
STATE_LINE = re.compile(r"^(\S+) ([A-Za-z0-9]{1,32}) ([0-9a-f]{64}) (\d+)$")
ROOT = os.geteuid() == 0


def der_of_pem_file(path):
    """The DER bytes of the first certificate in a PEM file."""
    with open(path) as f:
        text = f.read()
    end = text.index("-----END CERTIFICATE-----") + 25
    return ssl.PEM_cert_to_DER_cert(text[:end])


class Faults(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.cert = self.leaf(HOST)
        self.mounted = False

    def tearDown(self):
        # Daemons first: nothing may hold the state directory while it is
        # unmounted. World.tearDown stops each only once.
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError:
                pass    # reported again by World.tearDown
        if self.mounted:
            r = run(["umount", self.state], timeout=20)
            if r.returncode != 0:
                run(["umount", "-l", self.state], timeout=20)
        super().tearDown()

    def write_config(self, mode="enforce", mx=("mail.example.com",),
                     cert=None, extra=""):
        return self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", list(mx), *(cert or self.cert),
                         mode=mode)], self.state, extra=extra))

    # -- What is served ----------------------------------------------------

    def fetch(self):
        """(body, policy id) of a fresh fetch; fails on any error."""
        r = self.curl(HOST, self.port, POLICY_PATH, "-f", "-i")
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition("\r\n\r\n")
        m = re.search(r"^mta-sts-policy-id: *(\S+)", head, re.I | re.M)
        self.assertIsNotNone(m, head)
        return body, m.group(1)

    def peer_der(self):
        """The DER leaf certificate the daemon presents for HOST."""
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        with socket.create_connection(("127.0.0.1", self.port), 10) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                return s.getpeercert(binary_form=True)

    # -- The state directory -----------------------------------------------

    def state_files(self):
        """{name: bytes} of the state directory (temporary files too)."""
        out = {}
        for name in sorted(os.listdir(self.state)):
            path = os.path.join(self.state, name)
            if os.path.isfile(path) and name != "filler":
                with open(path, "rb") as f:
                    out[name] = f.read()
        return out

    def assert_state_intact(self, expected=None):
        """Only "ids" and "served" (and the empty "running" lock and
        a whole "status.json"), each of the first two a
        header and valid lines (no
        temporary file left behind), equal to expected when given. (Not
        through `mta-stsd txt`: it records a new id itself when the
        configuration changed. The daemon restarts in each test read
        them.)"""
        files = self.state_files()
        # "running" is the daemon's lock (state_mark_running): empty.
        self.assertEqual(files.pop("running", b""), b"")
        # "status.json" (mta-stsd status): whole, when it was written.
        status = files.pop("status.json", None)
        if status is not None:
            self.assertIn("domains", json.loads(status), status)
        self.assertEqual(sorted(files), ["ids", "served"], files)
        for name, data in files.items():
            text = data.decode()
            self.assertTrue(text.startswith(STATE_HEADER), (name, text))
            for line in text[len(STATE_HEADER):].splitlines():
                self.assertRegex(line, STATE_LINE, (name, text))
        if expected is not None:
            self.assertEqual(files, expected)
        return files

    def stored_id(self, name="ids"):
        text = self.state_files()[name].decode()
        return STATE_LINE.match(text.splitlines()[1]).group(2)

    def mount_state(self, size="64k"):
        """A tiny tmpfs on the state directory, owned by the service user,
        so the test can fill it or make it read-only."""
        if not ROOT:
            self.skipTest("mounting a tmpfs needs root")
        r = run(["mount", "-t", "tmpfs", "-o",
                 "size=%s,nr_inodes=64,mode=0755,uid=%d,gid=%d" % (
                     size, os.stat(self.state).st_uid,
                     os.stat(self.state).st_gid), "tmpfs", self.state])
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: " + r.stderr.strip())
        self.mounted = True

    def fill_state(self):
        """Fills the state file system up to the last byte (as root, so
        the service user cannot get at any reserve either)."""
        chunk = b"\0" * 4096
        with open(os.path.join(self.state, "filler"), "wb",
                  buffering=0) as f:
            try:
                for _ in range(100000):
                    f.write(chunk)
            except OSError:
                pass
            try:
                for _ in range(4096):
                    f.write(b"\0")
            except OSError:
                pass

    def log_since(self, daemon, mark):
        return daemon.output()[mark:]

    # -- Certificates and keys ---------------------------------------------

    def test_certificate_and_key_renewed_by_rename(self):
        """As certbot does: new files renamed over the old ones while
        serving. A reload between the two renames (cert new, key old)
        keeps the domain's previous version, old pair and all; after both, the new
        certificate is served. Connections opened before go on being
        served, and the normal client never fails."""
        self.config = self.write_config()
        d = self.start(self.config)
        old_der = self.peer_der()
        self.assertEqual(old_der, der_of_pem_file(self.cert[0]))
        body_before, _ = self.fetch()
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        early = ctx.wrap_socket(socket.create_connection(
            ("127.0.0.1", self.port), 10), server_hostname=HOST)
        with Prober(self, self.port, interval=0.1, limit=600) as prober:
            cert, key = self.ca.leaf("renewed", sans=[HOST])
            os.chmod(key, 0o644)
            os.rename(cert, self.cert[0])
            mark = len(d.output())
            d.reload()
            log = self.log_since(d, mark)
            self.assertIn("example.com: still serving its previous "
                          "version", log)
            self.assertIn(self.cert[0], log)
            self.assertEqual(self.peer_der(), old_der)
            os.rename(key, self.cert[1])
            d.reload()
            new_der = self.peer_der()
        self.assertEqual(prober.failures, [])
        self.assertGreater(prober.count, 0)
        self.assertNotEqual(new_der, old_der)
        self.assertEqual(new_der, der_of_pem_file(self.cert[0]))
        self.assertEqual(self.fetch()[0], body_before)
        # The connection made before the renewal is still served.
        early.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
                       "\r\n\r\n" % (POLICY_PATH, HOST)).encode())
        data = b""
        early.settimeout(10)
        while True:
            chunk = early.recv(4096)
            if not chunk:
                break
            data += chunk
        early.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data)

    def test_symlink_swapped_as_certbot_live(self):
        """certbot's live/ layout: the configured paths are symlinks into
        archive/, swapped atomically on renewal; a reload serves the new
        certificate."""
        archive = os.path.join(self.dir, "archive")
        live = os.path.join(self.dir, "live")
        os.mkdir(archive)
        os.mkdir(live)
        for d_ in (archive, live):
            os.chmod(d_, 0o755)
        for n, (cert, key) in enumerate((self.cert, self.ca.leaf(
                "renewed", sans=[HOST])), 1):
            os.rename(cert, os.path.join(archive, "cert%d.pem" % n))
            os.rename(key, os.path.join(archive, "privkey%d.pem" % n))
            os.chmod(os.path.join(archive, "privkey%d.pem" % n), 0o644)
        links = (os.path.join(live, "cert.pem"),
                 os.path.join(live, "privkey.pem"))
        os.symlink("../archive/cert1.pem", links[0])
        os.symlink("../archive/privkey1.pem", links[1])
        self.config = self.write_config(cert=links)
        d = self.start(self.config)
        self.assertEqual(self.peer_der(), der_of_pem_file(
            os.path.join(archive, "cert1.pem")))
        with Prober(self, self.port, interval=0.1, limit=600) as prober:
            for link, target in zip(links, ("../archive/cert2.pem",
                                            "../archive/privkey2.pem")):
                os.symlink(target, link + ".new")
                os.rename(link + ".new", link)
            d.reload()
        self.assertEqual(prober.failures, [])
        self.assertEqual(self.peer_der(), der_of_pem_file(
            os.path.join(archive, "cert2.pem")))

    @unittest.skipUnless(ROOT, "a root-owned 0600 key is unreadable only "
                         "to a daemon that dropped root")
    def test_unreadable_key_keeps_old_certificate(self):
        """The key made root-only (0600), as a careless renewal hook does:
        the reload names the file and its mode, and the domain keeps its
        previous version, certificate and policy."""
        self.config = self.write_config(mode="testing")
        d = self.start(self.config)
        before = self.fetch()
        old_der = self.peer_der()
        os.chmod(self.cert[1], 0o600)
        self.write_config(mode="enforce")
        mark = len(d.output())
        with Prober(self, self.port, interval=0.1, limit=600) as prober:
            d.reload()
        log = self.log_since(d, mark)
        self.assertEqual(prober.failures, [])
        self.assertEqual(self.fetch(), before)
        self.assertEqual(self.peer_der(), old_der)
        self.assertIn(self.cert[1], log)
        self.assertIn("0600", log)
        self.assertIn("Permission denied", log)
        self.assertIn("example.com: still serving its previous version",
                      log)
        # Fixed: the next reload takes the new policy.
        os.chmod(self.cert[1], 0o644)
        d.reload()
        self.assertIn("mode: enforce", self.fetch()[0])

    def test_deleted_certificate_keeps_old(self):
        self.config = self.write_config(mode="testing")
        d = self.start(self.config)
        before = self.fetch()
        old_der = self.peer_der()
        os.unlink(self.cert[0])
        self.write_config(mode="enforce")
        mark = len(d.output())
        with Prober(self, self.port, interval=0.1, limit=600) as prober:
            d.reload()
        log = self.log_since(d, mark)
        self.assertEqual(prober.failures, [])
        self.assertEqual(self.fetch(), before)
        self.assertEqual(self.peer_der(), old_der)
        self.assertIn(self.cert[0], log)
        self.assertIn("example.com: still serving its previous version",
                      log)
        self.assert_state_intact()

    def test_invalid_config_keeps_old(self):
        """Truncated, unknown key, wrong type, empty, deleted, a directory:
        each reload fails naming the file (a wrong type in the domain's
        entry keeps that domain's previous version instead), the old
        policy is served, the state is untouched; the next good file is
        taken."""
        self.config = self.write_config(mode="testing")
        d = self.start(self.config)
        before = self.fetch()
        state = self.assert_state_intact()
        with open(self.config) as f:
            good = f.read()
        breakages = [
            ("truncated", lambda: self.write("mta-stsd.conf",
                                             good[:len(good) // 2])),
            ("unknown key", lambda: self.write(
                "mta-stsd.conf", good + "\nmax_conections = 5;\n")),
            ("wrong type", lambda: self.write("mta-stsd.conf", good.replace(
                'mode = "testing"', "mode = 7"))),
            ("empty", lambda: self.write("mta-stsd.conf", "")),
            ("deleted", lambda: os.unlink(self.config)),
            ("a directory", lambda: os.mkdir(self.config)),
        ]
        with Prober(self, self.port, interval=0.1, limit=600) as prober:
            for name, breakage in breakages:
                if os.path.isdir(self.config):
                    os.rmdir(self.config)
                breakage()
                mark = len(d.output())
                d.reload()
                log = self.log_since(d, mark)
                self.assertIn(self.config, log, name)
                self.assertEqual(self.fetch(), before, name)
                if name == "wrong type":
                    # One domain's entry: the reload goes through and
                    # records what is served (its previous version).
                    self.assertIn("example.com: still serving its "
                                  "previous version", log, name)
                    self.assert_state_intact()
                    state = self.assert_state_intact()
                else:
                    self.assertIn("reload failed", log, name)
                    self.assert_state_intact(state)
            os.rmdir(self.config)
            self.write_config(mode="enforce")
            d.reload()
        self.assertEqual(prober.failures, [])
        self.assertIn("mode: enforce", self.fetch()[0])

    # -- The state directory -----------------------------------------------

    def test_full_state_directory(self):
        """A full file system under the state directory. Ids derive from
        the policy and need no stored state, so a reload with a new policy
        and a start both go through and say what they could not record;
        nothing stored is damaged, and freeing space makes the records
        complete again."""
        self.mount_state()
        self.config = self.write_config(mode="testing")
        d = self.start(self.config)
        before = self.fetch()
        state = self.assert_state_intact()
        self.fill_state()
        self.unwritable_case(d, before, state, "No space left on device",
                             lambda: os.unlink(os.path.join(self.state,
                                                            "filler")))

    def unwritable_case(self, d, before, state, error, undo):
        self.write_config(mode="enforce")
        mark = len(d.output())
        with Prober(self, self.port, interval=0.1, limit=600) as prober:
            d.reload()
        log = self.log_since(d, mark)
        self.assertEqual(prober.failures, [])
        self.assertIn(error, log)
        self.assertIn(self.state, log)
        self.assertIn("reloaded", log)
        body, new_id = self.fetch()
        self.assertIn("mode: enforce", body)
        self.assertNotEqual(new_id, before[1])
        self.assert_state_intact(state)

        # A start with a policy never recorded: served all the same.
        self.assertEqual(d.stop(), 0)
        self.write_config(mode="testing")
        d = self.start(self.config)
        self.assertIn(error, d.output())
        self.assertEqual(self.fetch(), before)
        self.assert_state_intact(state)

        undo()
        self.write_config(mode="enforce")
        d.reload()
        self.assertEqual(self.fetch()[1], new_id)
        self.assertEqual(self.stored_id(), new_id)
        self.assert_state_intact()

    def read_only_case(self, make_read_only, undo, error):
        self.config = self.write_config(mode="testing")
        d = self.start(self.config)
        before = self.fetch()
        state = self.assert_state_intact()
        make_read_only()
        self.unwritable_case(d, before, state, error, undo)

    def test_read_only_state_directory_by_mode(self):
        """chmod 555: the service user may read its state, not write it."""
        mode = os.stat(self.state).st_mode & 0o7777
        self.read_only_case(lambda: os.chmod(self.state, 0o555),
                            lambda: os.chmod(self.state, mode),
                            "Permission denied — %s is owned by nobody "
                            "with mode 0555: let its owner write it" %
                            self.state)

    def test_read_only_state_file_system(self):
        """The file system itself read-only (EROFS), as when a unit forgets
        StateDirectory= under ProtectSystem=strict."""
        self.mount_state()
        self.read_only_case(
            lambda: run(["mount", "-o", "remount,ro", self.state],
                        check=True),
            lambda: run(["mount", "-o", "remount,rw", self.state],
                        check=True),
            "Read-only file system")

    # -- kill -9 -----------------------------------------------------------

    def test_kill_9_and_restart(self):
        """kill -9 at rest and in the middle of a burst of reloads that
        each assign a new id: the state always parses, the restarted
        daemon serves again with the id the state recorded."""
        self.config = self.write_config(mode="testing")
        d = self.start(self.config)
        self.write_config(mode="enforce")
        d.reload()
        body, policy_id = self.fetch()
        state = self.assert_state_intact()
        self.assertEqual(self.stored_id(), policy_id)

        d.signal(signal.SIGKILL)
        d.proc.wait(10)
        self.assertEqual(d.stop(), -signal.SIGKILL)
        self.assert_state_intact(state)
        d = self.start(self.config)
        self.assertEqual(self.fetch(), (body, policy_id))

        # Reloads flipping the policy, each writing ids and served, and a
        # kill -9 somewhere among them.
        for i in range(3):
            for k in range(6):
                self.write_config(mode="testing" if k % 2 else "enforce",
                                  mx=("mail.example.com",
                                      "mx%d.example.com" % (i * 10 + k)))
                d.signal(signal.SIGHUP)
                time.sleep(0.02 * (k + i))
            d.signal(signal.SIGKILL)
            d.proc.wait(10)
            d.stop()
            # A temporary file may be left by the kill; the two state
            # files must still be whole.
            for name in os.listdir(self.state):
                if name not in ("ids", "served"):
                    os.unlink(os.path.join(self.state, name))
            self.assert_state_intact()
            d = self.start(self.config)
            body, policy_id = self.fetch()
            self.assertIn("mx%d.example.com" % (i * 10 + 5), body)
            self.assertEqual(self.stored_id(), policy_id)
            self.assertEqual(self.stored_id("served"), policy_id)


if __name__ == "__main__":
    require_tools("curl")
    unittest.main(verbosity=2)
