#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-valgrind.sh: runs the daemon integration tests with every daemon they
# start under valgrind memcheck, in build-valgrind/ (a plain debug build:
# valgrind and ASan do not mix). tests/integration/mtastsd_test.py puts
# each daemon under MTASTSD_TEST_WRAPPER with its own --log-file, and after
# the test's SIGTERM stop fails the test unless the log says
# "ERROR SUMMARY: 0 errors" and no bytes are "definitely lost". A daemon
# that a test kills on purpose (kill -9) is the only one not checked.
#
# Which tests, and why:
#   serve, reload, limits, lifecycle, faults: every request path, reload
#     path (good and failed), the limits, privilege drop, socket
#     activation and the graceful drain, plus the fault paths;
#   not hostile: it opens hundreds of connections and thousands of
#     requests, which under valgrind's serialised threads would take far
#     longer than its own time bounds, and ASan covers it
#     (scripts/run-sanitizers.sh);
#   not cli and check: they run no daemon.
# About 2 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
	echo "run-valgrind.sh: valgrind not found (apt-get install valgrind," \
		"or scripts/install-deps.sh --test)" >&2
	exit 1
fi

build=build-valgrind
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dbuildtype=debug -Dtests=enabled \
		-Dman-pages=disabled
fi
ninja -C "$build"

# --errors-for-leak-kinds=definite: only definitely lost blocks count as
# errors; GnuTLS and libmicrohttpd keep some memory reachable until exit.
# --vgdb=no: the daemon drops root and could not remove its FIFOs in /tmp.
MTASTSD_TEST_WRAPPER="valgrind --tool=memcheck --error-exitcode=99 \
--leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --num-callers=30 --vgdb=no"
export MTASTSD_TEST_WRAPPER

tests="serve reload limits lifecycle"
if [ -f tests/integration/test_faults.py ]; then
	tests="$tests faults"
fi
# Each test is slower under valgrind; the multiplier keeps meson from
# cutting it short.
meson test -C "$build" --print-errorlogs --num-processes 2 \
	--timeout-multiplier 3 $tests
