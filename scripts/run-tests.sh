#!/bin/sh
# SPDX-License-Identifier: MIT
#
# From a fresh Debian 12 machine to a full test run: installs every package
# the tests need, builds with warnings as errors, and runs the whole suite
# (unit and integration tests against real clients and servers on
# loopback, and the Debian package from build to purge). .ci/run calls
# exactly this.
set -eu
cd "$(dirname "$0")/.."

sh scripts/install-deps.sh --test

build=build-test
rm -rf "$build"
meson setup "$build" -Dwerror=true -Dtests=enabled -Dman-pages=enabled
ninja -C "$build"

# Every tool is installed here, so a skipped test is a failure.
export MTASTSD_NO_SKIP=1
meson test -C "$build" --print-errorlogs --num-processes 2

# The Debian package: built from a copy of the tree, lintian, installed on
# this machine, upgraded, removed and purged (tests/package/test-deb.sh).
sh tests/package/test-deb.sh

# The whole suite again with ASan + UBSan, the daemon tests under valgrind,
# and each fuzzer for a bounded time (docs/SECURITY.md, docs/FUZZING.md).
sh scripts/run-sanitizers.sh
sh scripts/run-valgrind.sh
sh scripts/run-fuzzers.sh 30

# One closing line over the three meson runs (normal, sanitizers, valgrind).
python3 scripts/summarize-tests.py "$build/meson-logs/testlog.json" \
	build-asan/meson-logs/testlog.json build-valgrind/meson-logs/testlog.json
