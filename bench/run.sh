#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/run.sh [--domains N] [--quick] [--reps R] [--duration S] [--no-nginx]
#              [--metrics]
# bench/run.sh --scale [--sizes 10000,30000,100000] [--renew 1000] [--reps R]
#                      [--per-file N] [--load-rate R]
#                      [--certs DIR] [--keep] [--no-nginx] [--no-caddy]
#
# The benchmark of issue 6: mta-stsd against nginx on 127.0.0.1, one run,
# servers alternated, server pinned to CPU 0 and load to CPU 1. Builds a
# release tree in build-bench (or uses $MTASTSD_BUILD) and runs
# bench/bench.py; see docs/PERFORMANCE.md. Run it as root (mta-stsd drops
# to nobody, nginx's workers too) on a machine with nothing else to do.
#
# --scale runs bench/scale.py instead (issue 17): check-config, start and
# reloads at 10,000 to 100,000 domains, nginx and Caddy at the smallest;
# see "Scale" in docs/PERFORMANCE.md.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MTASTSD_BUILD:-$src/build-bench}
if [ -z "${MTASTSD_BUILD:-}" ]; then
	if [ ! -d "$build" ]; then
		meson setup "$build" "$src" --buildtype=release >/dev/null
	fi
	ninja -C "$build" src/mta-stsd tests/mkcerts bench/mtsload >/dev/null
fi
if [ "${1:-}" = --scale ]; then
	shift
	exec python3 "$src/bench/scale.py" --build "$build" "$@"
fi
exec python3 "$src/bench/bench.py" --build "$build" "$@"
