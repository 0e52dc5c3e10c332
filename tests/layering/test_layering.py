#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The include-rule check passes on src/ and catches each kind of breach."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "check-layering.py")
SRC = os.path.join(os.environ.get("MTASTSD_SOURCE_ROOT",
                                  os.path.join(HERE, "..", "..")), "src")


def run(src):
    p = subprocess.run([sys.executable, CHECK, src], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout


def tree(files):
    d = tempfile.TemporaryDirectory()
    for path, text in files.items():
        full = os.path.join(d.name, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    return d


class Layering(unittest.TestCase):
    def test_source_tree_follows_the_rule(self):
        code, out = run(SRC)
        self.assertEqual(code, 0, out)

    def breach(self, files, expect):
        with tree(files) as d:
            code, out = run(d)
        self.assertEqual(code, 1, out)
        self.assertIn(expect, out)

    def test_include_pointing_up(self):
        self.breach({"core/policy.c": '#include "server/http.h"\n'},
                    "includes \"server/http.h\" from the higher part")

    def test_foreign_header_outside_owner(self):
        self.breach({"server/snapshot.c": "#include <gnutls/gnutls.h>\n"},
                    "<gnutls/gnutls.h> belongs to tls/ only")

    def test_pure_part_logging(self):
        self.breach({"core/txt.c": '#include "util/log.h"\n'},
                    "is pure and must not log")

    def test_unknown_folder(self):
        self.breach({"misc/x.c": "int x;\n"}, "folder not in the layer table")

    def test_include_without_part(self):
        self.breach({"core/txt.c": '#include "policy.h"\n'}, "names no part")


if __name__ == "__main__":
    unittest.main(verbosity=2)
