#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The descriptor budget (issue 12): max_connections is fitted into
RLIMIT_NOFILE with a reserve, so clients that take every connection slot
never leave a reload without the descriptors to open its files."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, ClientWorld, config_text, domain_block,
                          require_tools, run)
from test_connections import raise_fd_limit

HOST = "mta-sts.example.com"


def under_limit(n):
    """Runs the daemon with n descriptors, soft and hard: it cannot
    raise the limit, as under systemd's ~@resources filter."""
    return ["prlimit", "--nofile=%d:%d" % (n, n), "--"]


class Descriptors(ClientWorld):
    def config(self, mode="enforce"):
        # The default max_connections (4096) and no per-address limit.
        return self.write("mta-stsd.conf", config_text(self.port, [
            domain_block("example.com", ["mail.example.com"], *self.cert,
                         mode=mode)], self.state,
            extra="threads = 2;\nmax_connections_per_ip = 0;\n"))

    def test_reload_with_the_descriptor_table_full(self):
        """Under a limit of 256 the daemon serves fewer connections and
        says so; 400 clients then take every slot it will give, and a
        reload still opens its configuration, certificate, key and state
        files and applies the new policy."""
        raise_fd_limit(1024)
        d = self.start(self.config(), wrapper=under_limit(256))
        self.assertIn("does not fit the descriptor limit (RLIMIT_NOFILE "
                      "256)", d.output())
        for i in range(400):
            try:
                self.tcp("127.0.0.%d" % (2 + i % 50), 5)
            except OSError:
                pass
        time.sleep(1)
        held = len(os.listdir("/proc/%d/fd" % d.pid))
        sys.stderr.write("descriptors held with the table full: %d of 256"
                         "\n" % held)
        self.assertGreater(held, 150)
        self.config(mode="testing")
        d.reload()
        log = d.output()
        self.assertNotIn("reload failed", log)
        self.assertNotIn("Too many open files", log)
        for s in self.sockets:
            s.close()
        deadline = time.monotonic() + 10
        body = ""
        while time.monotonic() < deadline and "mode: testing" not in body:
            body = self.curl(HOST, self.port).stdout
            time.sleep(0.1)
        self.assertIn("mode: testing", body)

    def test_limit_too_small_refuses_to_start(self):
        """A limit that leaves no room for a single connection is an error
        that names the fix."""
        r = run(under_limit(60) + [MTASTSD, "-c", self.config()], timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("raise LimitNOFILE=", r.stderr)


if __name__ == "__main__":
    require_tools("curl", "prlimit")
    unittest.main(verbosity=2)
