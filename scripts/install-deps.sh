#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Installs what mta-stsd needs on Debian 12 (as root).
#   install-deps.sh          build dependencies only
#   install-deps.sh --test   also every tool the test suite drives
set -eu

build_packages="
	gcc meson ninja-build pkg-config
	libgnutls28-dev libmicrohttpd-dev libconfig-dev libsystemd-dev
	libcurl4-gnutls-dev libunbound-dev libevent-dev libjson-c-dev
	check scdoc
"

# Real clients and servers for the integration tests: TLS clients (curl,
# gnutls-cli, openssl), a DNS server (unbound) and a zone signer for its
# DNSSEC test zone (ldnsutils), an SMTP server with STARTTLS
# (python3-aiosmtpd), systemd's socket activation and unit analyser,
# valgrind, clang with libFuzzer, nginx and Caddy for the benchmark and its
# smoke test,
# certbot with the pebble ACME test server (and its DNS server) for the
# deploy hook's test and automatic certificates, and
# what builds and checks the Debian package (debian/control's
# Build-Depends are the build packages above, plus debhelper).
test_packages="
	python3 python3-aiosmtpd curl gnutls-bin openssl ca-certificates
	unbound dnsutils ldnsutils systemd valgrind clang libclang-rt-14-dev
	nginx-light caddy nghttp2-client procps iproute2 git certbot pebble
	build-essential debhelper dpkg-dev lintian
"

packages=$build_packages
if [ "${1:-}" = "--test" ]; then
	packages="$packages $test_packages"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (apt-get needs it)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086 # the lists are meant to split into words
apt-get install -y --no-install-recommends $packages

# Debian's caddy package enables caddy.service, which would serve the
# default Caddyfile on port 80: the benchmark starts a Caddy of its own.
# Where systemd does not run (a container), systemctl can still disable
# the unit but not stop it, so a caddy the service started is ended by its
# PID (the service runs as the user caddy).
if [ "${1:-}" = "--test" ]; then
	systemctl stop caddy.service >/dev/null 2>&1 || true
	systemctl disable caddy.service >/dev/null 2>&1 || true
	for pid in $(pgrep -x -u caddy caddy || true); do
		kill "$pid" || true
	done
fi
