#!/bin/sh
# SPDX-License-Identifier: MIT
#
# From a fresh Debian 12 machine to a running demo: installs the build
# dependencies, builds mta-stsd, and serves a built-in example domain on
# https://127.0.0.1:8443 with a certificate made at start.
set -eu
cd "$(dirname "$0")/.."

sh scripts/install-deps.sh
meson setup build --buildtype=release --reconfigure 2>/dev/null ||
	meson setup build --buildtype=release
ninja -C build
exec ./build/src/mta-stsd demo
