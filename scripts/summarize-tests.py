#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Prints one closing line over every meson test run of a CI pass, in the
plain form CI reads: "tests: N passed, N failed". Each argument is a
meson-logs/testlog.json (one JSON object per test)."""

import json
import sys

passed = failed = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1     # FAIL, SKIP (never allowed here), TIMEOUT...
print("tests: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
