#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-sanitizers.sh: builds mta-stsd with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc) in build-asan/ and runs the WHOLE suite,
# unit and integration tests, so the daemon the integration tests start is
# the sanitized binary. Any sanitizer report is fatal: the process that
# hits it exits non-zero, and tests/integration/mtastsd_test.py also fails
# a test whose daemon log holds a report (a leak found at exit, say).
# Prints meson's summary; exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."

build=build-asan
# An existing build-asan is reconfigured, so the options below always hold.
reconfigure=
if [ -f "$build/build.ninja" ]; then
	reconfigure=--reconfigure
fi
# b_lundef=false: the sanitizer runtimes are linked by the compiler driver,
# which -Wl,--no-undefined would trip over. -fno-sanitize-recover makes
# every UBSan check abort, whatever UBSAN_OPTIONS says.
CC=${CC:-gcc} meson setup $reconfigure "$build" \
	-Db_sanitize=address,undefined -Db_lundef=false \
	-Dc_args=-fno-sanitize-recover=all \
	-Dwerror=true -Dtests=enabled -Dman-pages=enabled -Dbuildtype=debug
ninja -C "$build"

# halt_on_error: the first report ends the process, so none goes unseen.
# detect_leaks: LeakSanitizer runs at exit (it works after the daemon has
# dropped to nobody). abort_on_error=0 keeps exit codes instead of cores.
ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=1
ASAN_OPTIONS=$ASAN_OPTIONS:print_stacktrace=1:detect_stack_use_after_return=1
ASAN_OPTIONS=$ASAN_OPTIONS:check_initialization_order=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Unit tests fork per case; a report in the child fails that case.
export ASAN_OPTIONS UBSAN_OPTIONS

# The sanitized daemon starts and stops more slowly: double the timeouts.
meson test -C "$build" --print-errorlogs --num-processes 2 \
	--timeout-multiplier 2
