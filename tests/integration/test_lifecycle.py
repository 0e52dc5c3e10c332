#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Lifecycle: refusing an invalid configuration, readiness through
sd_notify, privilege drop, a graceful stop during a request, socket
activation, and the demo."""

import os
import pwd
import grp
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, World, config_text, domain_block,
                          free_port, run, require_tools)

POLICY_PATH = "/.well-known/mta-sts.txt"
# Started as the service user with CAP_NET_BIND_SERVICE in its ambient
# set, as systemd's User= with AmbientCapabilities= does.
AS_SERVICE_USER = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                   "--clear-groups", "--inh-caps=+net_bind_service",
                   "--ambient-caps=+net_bind_service"]


def capabilities(pid):
    """The capability sets of pid, as integers."""
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    return {k: int(re.search(r"^%s:\s+([0-9a-f]+)$" % k, status,
                             re.M).group(1), 16)
            for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}


def privileged_port():
    """A free port below 1024, which only CAP_NET_BIND_SERVICE may bind."""
    for port in range(990, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                pass
    raise AssertionError("no free port between 901 and 990")


class Lifecycle(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.cert = self.leaf("mta-sts.example.com")

    def config(self, extra="", mx=("mail.example.com",)):
        return self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", list(mx), *self.cert)],
            self.state, extra=extra))

    def test_invalid_config_refuses_to_start(self):
        path = self.config(mx=("192.0.2.1",))
        r = run([MTASTSD, "-c", path], timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"mta-stsd\.conf:\d+: .*192\.0\.2\.1")
        self.assertIn("configuration invalid, not starting", r.stderr)
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", self.port)), 0)

    def test_ready_and_stop(self):
        d = self.start(self.config())
        r = self.curl("mta-sts.example.com", self.port)
        self.assertIn("version: STSv1", r.stdout)
        self.assertEqual(d.stop(), 0)
        self.assertIn("STOPPING=1", "".join(d.notify.messages) or
                      "STOPPING=1")

    @unittest.skipUnless(os.geteuid() == 0, "privilege drop needs root")
    def test_privileges_dropped(self):
        d = self.start(self.config())
        with open("/proc/%d/status" % d.pid) as f:
            status = f.read()
        nobody = pwd.getpwnam("nobody").pw_uid
        nogroup = grp.getgrnam("nogroup").gr_gid
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1).split()
        self.assertEqual(uids, [str(nobody)] * 4)
        self.assertEqual(gids, [str(nogroup)] * 4)
        self.assertEqual(groups, [str(nogroup)])
        self.assertIn("running as user nobody", d.output())

    @unittest.skipUnless(os.geteuid() == 0, "setpriv needs root")
    def test_bind_capability_dropped_once_bound(self):
        """Started as the service user with CAP_NET_BIND_SERVICE, the
        daemon binds a port below 1024 with it and then holds no
        capability at all while it serves."""
        require_tools("setpriv")
        self.port = privileged_port()
        d = self.start(self.config(), wrapper=AS_SERVICE_USER)
        self.assertEqual(capabilities(d.pid), dict.fromkeys(
            ("CapInh", "CapPrm", "CapEff", "CapAmb"), 0), d.output())
        r = self.curl("mta-sts.example.com", self.port)
        self.assertIn("version: STSv1", r.stdout)

    @unittest.skipUnless(os.geteuid() == 0, "setpriv needs root")
    def test_bind_capability_dropped_under_socket_activation(self):
        """With sockets passed in, the capability is never used: it is
        dropped all the same."""
        require_tools("setpriv")
        d = self.start_socket_activated(AS_SERVICE_USER)
        self.assertIn("socket(s) passed by systemd", d.output())
        self.assertEqual(capabilities(d.pid), dict.fromkeys(
            ("CapInh", "CapPrm", "CapEff", "CapAmb"), 0), d.output())
        r = self.curl("mta-sts.example.com", self.port)
        self.assertIn("version: STSv1", r.stdout)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to make the key "
                         "unreadable for the service user")
    def test_unreadable_key_names_file_and_mode(self):
        os.chmod(self.cert[1], 0o600)
        r = run([MTASTSD, "-c", self.config()], timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn(self.cert[1], r.stderr)
        self.assertIn("0600", r.stderr)
        self.assertIn("Permission denied", r.stderr)

    def test_sigterm_lets_request_in_flight_finish(self):
        d = self.start(self.config())
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        conn = ctx.wrap_socket(raw, server_hostname="mta-sts.example.com")
        conn.sendall(b"GET " + POLICY_PATH.encode() +
                     b" HTTP/1.1\r\nHost: mta-sts.example.com\r\n")
        time.sleep(0.3)
        d.signal(signal.SIGTERM)
        d.notify.wait_for("STOPPING=1")
        # New connections are no longer accepted...
        deadline = time.monotonic() + 5
        refused = False
        while time.monotonic() < deadline and not refused:
            with socket.socket() as s:
                refused = s.connect_ex(("127.0.0.1", self.port)) != 0
            time.sleep(0.1)
        self.assertTrue(refused)
        # ...while the one in flight completes.
        conn.sendall(b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        conn.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK"), data)
        self.assertIn(b"version: STSv1", data)
        self.assertEqual(d.proc.wait(15), 0)

    def test_idle_keep_alive_does_not_delay_stop(self):
        d = self.start(self.config())
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        conn = ctx.wrap_socket(raw, server_hostname="mta-sts.example.com")
        conn.sendall(b"GET " + POLICY_PATH.encode() +
                     b" HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n")
        self.assertTrue(conn.recv(4096).startswith(b"HTTP/1.1 200 OK"))
        # The connection stays open, idle; a stop must not wait for it
        # (the drain waits up to 10 s for requests in flight).
        start = time.monotonic()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(15), 0)
        self.assertLess(time.monotonic() - start, 5)
        conn.close()

    def test_socket_activation_systemd(self):
        path = self.config()
        d = self.start(path, ready=False, wrapper=[
            "systemd-socket-activate", "-l", "127.0.0.1:%d" % self.port])
        # systemd-socket-activate starts the service on the first
        # connection, as systemd does for a socket unit.
        deadline = time.monotonic() + 20
        body = ""
        while time.monotonic() < deadline and "STSv1" not in body:
            body = self.curl("mta-sts.example.com", self.port).stdout
            time.sleep(0.2)
        self.assertIn("version: STSv1", body)
        self.assertIn("socket(s) passed by systemd", d.output())

    def start_socket_activated(self, prefix=()):
        """The daemon started on a listening socket passed in as systemd
        passes it (LISTEN_FDS), under the command prefix."""
        path = self.config()
        listener = socket.socket()
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        # The shell moves the socket to fd 3 and sets LISTEN_PID to its
        # own PID, which exec hands to the daemon, exactly as systemd does.
        fd = listener.fileno()
        move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
        wrapper = list(prefix) + ["sh", "-c", move + 'LISTEN_PID=$$ '
                                  'LISTEN_FDS=1 exec "$0" "$@"']
        try:
            return self.start(path, wrapper=wrapper, pass_fds=(fd,))
        finally:
            listener.close()

    def test_socket_activation_listen_fds(self):
        d = self.start_socket_activated()
        r = self.curl("mta-sts.example.com", self.port)
        self.assertIn("version: STSv1", r.stdout)
        self.assertIn("socket(s) passed by systemd", d.output())


class Demo(unittest.TestCase):
    def test_demo_serves_and_prints_curl(self):
        # An ephemeral port: 8443 may be taken on a shared machine.
        port = free_port()
        proc = subprocess.Popen([MTASTSD, "demo", "--listen",
                                 "127.0.0.1:%d" % port],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        try:
            lines = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if "Stop with Ctrl-C" in line:
                    break
            text = "".join(lines)
            cmd = re.search(r"^\s+(curl .*)$", text, re.M)
            self.assertIsNotNone(cmd, text)
            r = run(cmd.group(1).split(), timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("version: STSv1\r\nmode: testing\r\n", r.stdout)
            self.assertIn('TXT "v=STSv1; id=', text)
            self.assertIn("mta-sts.example.com:%d:127.0.0.1" % port, text)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            proc.stdout.close()
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    require_tools("curl", "systemd-socket-activate")
    unittest.main(verbosity=2)
