#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Limits against abuse: clients that stall are dropped after the timeout,
and the per-address limit holds, while a normal client is still served."""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (World, config_text, domain_block, free_port,
                          require_tools)


def connect_from(source, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(15)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s, timeout):
    """True when the server closes s within timeout seconds."""
    deadline = time.monotonic() + timeout
    try:
        # The server may send a TLS alert before it closes: read to EOF.
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            if s.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        pass
    return False


class Limits(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        cert = self.leaf("mta-sts.example.com")
        self.config = self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", ["mail.example.com"], *cert)],
            self.state, extra="connection_timeout = 2;\n"
            "max_connections_per_ip = 3;\nmax_connections = 64;"))
        self.daemon = self.start(self.config)
        self.sockets = []

    def tearDown(self):
        for s in self.sockets:
            s.close()
        super().tearDown()

    def served(self, *extra):
        r = self.curl("mta-sts.example.com", self.port,
                      "/.well-known/mta-sts.txt", "-f", *extra)
        return r.returncode == 0 and "version: STSv1" in r.stdout

    def test_stalled_clients_are_dropped(self):
        # One stalls before the TLS handshake, one inside the ClientHello.
        idle = connect_from("127.0.0.2", self.port)
        partial = connect_from("127.0.0.3", self.port)
        partial.sendall(b"\x16\x03\x01\x02\x00\x01")
        self.sockets += [idle, partial]
        start = time.monotonic()
        self.assertTrue(self.served())
        self.assertTrue(closed_by_server(idle, 10))
        self.assertTrue(closed_by_server(partial, 10))
        elapsed = time.monotonic() - start
        self.assertGreater(elapsed, 1.0)
        self.assertLess(elapsed, 10)
        self.assertTrue(self.served())

    def test_per_address_limit(self):
        for _ in range(3):
            self.sockets.append(connect_from("127.0.0.2", self.port))
        time.sleep(0.3)
        extra = connect_from("127.0.0.2", self.port)
        self.sockets.append(extra)
        self.assertTrue(closed_by_server(extra, 1.5))
        self.assertFalse(self.served("--interface", "127.0.0.2"))
        # Other addresses are not affected.
        self.assertTrue(self.served())
        self.assertTrue(self.served("--interface", "127.0.0.4"))


if __name__ == "__main__":
    require_tools("curl")
    unittest.main(verbosity=2)
