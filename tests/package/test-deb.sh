#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The Debian package end to end, on this machine, as root. It builds the
# package from a copy of the tree (the checkout stays clean), runs lintian,
# installs it with apt, then checks the files, the user, the units
# (systemd-analyze verify, security score at most 2.0), the shipped
# configuration with check-config, serves it on loopback, upgrades over
# itself, removes and purges it, and checks that nothing is left that
# should not be. Whatever it installs is purged on exit, also on failure.
#
# It refuses to run where mta-stsd is already installed (package or meson
# install into /usr), so that it never touches a real deployment.
# scripts/run-tests.sh runs it after the meson suite; exit 77 is a skip
# (a missing tool), which MTASTSD_NO_SKIP=1 turns into a failure.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
unitdir=/lib/systemd/system
conf=/etc/mta-stsd/mta-stsd.conf
statedir=/var/lib/mta-stsd
# The example's domains, whose certificates check-config asks for.
domains="example.com customer1.example customer2.example"
max_exposure=2.0

tmp=
serve_pid=
owned=0			# set once the machine is known to hold no mta-stsd
user_existed=1
result=FAIL

say() {
	printf 'test-deb: %s\n' "$*"
}

fail() {
	say "FAIL: $*" >&2
	exit 1
}

ok() {
	printf 'ok - %s\n' "$*"
}

skip() {
	if [ "${MTASTSD_NO_SKIP:-}" = 1 ]; then
		fail "$* (MTASTSD_NO_SKIP=1: nothing may be skipped)"
	fi
	say "SKIP: $*"
	exit 77
}

# apt and dpkg wait up to two minutes for a lock another process holds.
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		-o DPkg::Lock::Timeout=120 "$@" </dev/null
}

installed() {
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' mta-stsd 2>/dev/null) ||
		status=
	[ -n "$status" ] && [ "$status" != "un " ]
}

cleanup() {
	rc=$?
	set +e
	if [ -n "$serve_pid" ]; then
		kill "$serve_pid" 2>/dev/null
		wait "$serve_pid" 2>/dev/null
	fi
	if [ "$owned" = 1 ]; then
		if installed; then
			apt_get purge mta-stsd >/dev/null 2>&1 ||
				dpkg --purge mta-stsd >/dev/null 2>&1
		fi
		# Both were absent before the test (checked below).
		rm -rf /etc/mta-stsd "$statedir"
		if [ "$user_existed" = 0 ] && getent passwd mta-stsd >/dev/null; then
			userdel mta-stsd
		fi
		if [ "$user_existed" = 0 ] && getent group mta-stsd >/dev/null; then
			groupdel mta-stsd
		fi
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
	if [ "$rc" -eq 0 ] && [ "$result" = PASS ]; then
		say "PASS: $summary"
	elif [ "$rc" -ne 77 ]; then
		say "FAIL (exit $rc)" >&2
		[ "$rc" -ne 0 ] || rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "needs root (it installs the package)"
for tool in dpkg-buildpackage dpkg-checkbuilddeps dpkg-source dh lintian \
		apt-get systemd-analyze openssl curl python3 setpriv cmp; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done

if installed; then
	fail "the package mta-stsd is installed here; this test would replace it"
fi
for path in /etc/mta-stsd "$statedir" /usr/sbin/mta-stsd; do
	if [ -e "$path" ]; then
		fail "$path exists (an installed mta-stsd?); this test would replace it"
	fi
done
if getent passwd mta-stsd >/dev/null || getent group mta-stsd >/dev/null; then
	user_existed=1
else
	user_existed=0
fi
owned=1

tmp=$(mktemp -d /tmp/mta-stsd-deb.XXXXXX)
chmod 0755 "$tmp"

# ---------------------------------------------------------------------------
# Build from a copy: the tracked and untracked, not ignored files of the
# checkout, so that build directories stay out and the checkout stays clean.
# ---------------------------------------------------------------------------
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
upstream=${version%%-*}
src=$tmp/mta-stsd-$upstream
mkdir "$src"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$root" ls-files -z --cached --others --exclude-standard |
		(cd "$root" && tar --null --ignore-failed-read -T - -cf -) |
		tar -xf - -C "$src"
else
	(cd "$root" && tar --exclude-vcs --exclude='./build*' \
		--exclude='./obj-*' -cf - .) | tar -xf - -C "$src"
fi

(cd "$src" && dpkg-checkbuilddeps) ||
	fail "Build-Depends are not installed (scripts/install-deps.sh --test)"
ok "dpkg-checkbuilddeps: every Build-Depends is installed"

# The source package first, from the pristine copy, so that lintian checks
# debian/ too; then the binary package as users build it.
(cd "$tmp" && dpkg-source -b "mta-stsd-$upstream") >"$tmp/source.log" 2>&1 ||
	{ cat "$tmp/source.log"; fail "dpkg-source -b failed"; }
ok "dpkg-source -b"
if ! (cd "$src" &&
		DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2} \
		dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log"
	fail "dpkg-buildpackage -us -uc -b failed (last lines above)"
fi
arch=$(dpkg --print-architecture)
deb=$tmp/mta-stsd_${version}_$arch.deb
changes=$tmp/mta-stsd_${version}_$arch.changes
[ -f "$deb" ] || fail "no $deb after the build"
ok "dpkg-buildpackage -us -uc -b: $(basename "$deb")"

# ---------------------------------------------------------------------------
# lintian: no error and no warning, on the source and the binary package.
# ---------------------------------------------------------------------------
if ! lintian --fail-on error,warning "$tmp/mta-stsd_$version.dsc" \
		"$changes" >"$tmp/lintian.log" 2>&1; then
	cat "$tmp/lintian.log"
	fail "lintian reports errors or warnings (above)"
fi
if grep -E '^[EW]: ' "$tmp/lintian.log"; then
	fail "lintian reports errors or warnings (above)"
fi
ok "lintian: no errors, no warnings"

# ---------------------------------------------------------------------------
# Install, the way the README says.
# ---------------------------------------------------------------------------
apt_get install --no-install-recommends "$deb" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; fail "apt-get install $deb failed"; }
installed || fail "mta-stsd is not installed after apt-get install"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' mta-stsd)" = "ii " ] ||
	fail "mta-stsd is not fully installed (dpkg status)"
ok "apt-get install ./$(basename "$deb")"
dpkg -L mta-stsd >"$tmp/files"

for f in /usr/sbin/mta-stsd \
		/usr/share/man/man8/mta-stsd.8.gz \
		/usr/share/man/man5/mta-stsd.conf.5.gz \
		"$conf" \
		/usr/share/mta-stsd/mta-stsd.conf \
		"$unitdir/mta-stsd.service" "$unitdir/mta-stsd.socket" \
		/usr/lib/sysusers.d/mta-stsd.conf \
		/usr/lib/tmpfiles.d/mta-stsd.conf \
		/usr/share/doc/mta-stsd/copyright \
		/usr/share/doc/mta-stsd/changelog.gz \
		/usr/share/doc/mta-stsd/README.md.gz \
		/usr/share/doc/mta-stsd/DEPLOYMENT.md.gz; do
	grep -qx "$f" "$tmp/files" || fail "$f is not in the package"
	[ -f "$f" ] || fail "$f is not installed"
done
[ -x /usr/sbin/mta-stsd ] || fail "/usr/sbin/mta-stsd is not executable"
if grep '^/usr/local' "$tmp/files"; then
	fail "the package installs under /usr/local (above)"
fi
dpkg-query -W -f='${Conffiles}\n' mta-stsd | grep -q "^ $conf " ||
	fail "$conf is not a conffile"
cmp -s "$conf" "$root/conf/mta-stsd.conf" ||
	fail "$conf is not conf/mta-stsd.conf"
out=$(/usr/sbin/mta-stsd --version)
[ "$out" = "mta-stsd $upstream" ] ||
	fail "mta-stsd --version says \"$out\", the package is $version"
ok "files: binary, man pages, conffile $conf, units, sysusers, tmpfiles, docs"

# The system user and the directories postinst made.
entry=$(getent passwd mta-stsd) || fail "no user mta-stsd after install"
uid=$(echo "$entry" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "mta-stsd is not a system user (uid $uid)"
[ "$(echo "$entry" | cut -d: -f6-7)" = "/nonexistent:/usr/sbin/nologin" ] ||
	fail "mta-stsd: home and shell are not /nonexistent and nologin: $entry"
getent group mta-stsd >/dev/null || fail "no group mta-stsd after install"
[ "$(stat -c '%U:%G %a' "$statedir")" = "mta-stsd:mta-stsd 750" ] ||
	fail "$statedir: $(stat -c '%U:%G %a' "$statedir"), not mta-stsd:mta-stsd 750"
[ "$(stat -c '%U:%G %a' /etc/mta-stsd/keys)" = "root:mta-stsd 750" ] ||
	fail "/etc/mta-stsd/keys: $(stat -c '%U:%G %a' /etc/mta-stsd/keys)"
[ "$(stat -c '%U:%G %a' /etc/mta-stsd/certs)" = "root:root 755" ] ||
	fail "/etc/mta-stsd/certs: $(stat -c '%U:%G %a' /etc/mta-stsd/certs)"
ok "user mta-stsd (uid $uid, nologin), $statedir 0750, certs/ and keys/"

# ---------------------------------------------------------------------------
# Units: enabled the Debian way (the symlink deb-systemd-helper makes, with
# or without a running systemd), verified, and as hardened as documented.
# ---------------------------------------------------------------------------
wants=/etc/systemd/system/multi-user.target.wants/mta-stsd.service
[ "$(readlink "$wants")" = "$unitdir/mta-stsd.service" ] ||
	fail "mta-stsd.service is not enabled ($wants)"
[ ! -e /etc/systemd/system/sockets.target.wants/mta-stsd.socket ] ||
	fail "mta-stsd.socket is enabled; only the service should be"
systemd_running=0
if [ -d /run/systemd/system ]; then
	systemd_running=1
	if systemctl is-active --quiet mta-stsd.service; then
		fail "mta-stsd.service runs with the unedited example configuration"
	fi
fi
ok "mta-stsd.service enabled, mta-stsd.socket not; not running on the example"

if ! systemd-analyze verify "$unitdir/mta-stsd.service" \
		"$unitdir/mta-stsd.socket" >"$tmp/verify.log" 2>&1 ||
		grep mta-stsd "$tmp/verify.log"; then
	cat "$tmp/verify.log"
	fail "systemd-analyze verify (above)"
fi
ok "systemd-analyze verify: mta-stsd.service, mta-stsd.socket"

systemd-analyze security --offline=true --no-pager \
	"$unitdir/mta-stsd.service" >"$tmp/security.log" 2>&1 || true
exposure=$(sed -n \
	's/.*Overall exposure level for mta-stsd\.service: \([0-9.]*\).*/\1/p' \
	"$tmp/security.log")
[ -n "$exposure" ] || { cat "$tmp/security.log"; fail "no exposure level"; }
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' ||
	fail "systemd-analyze security: exposure $exposure, above $max_exposure"
ok "systemd-analyze security --offline=true: exposure $exposure (at most $max_exposure)"

# ExecCondition= as systemd runs it (as the service user, $$ unescaped):
# the unedited example skips the start (exit 1, with a message).
condition=$(sed -n 's/^ExecCondition=//p' "$unitdir/mta-stsd.service" |
	sed 's/\$\$/$/g')
[ -n "$condition" ] || fail "mta-stsd.service has no ExecCondition="
# The command line comes from the unit, through set --, not from callers.
# shellcheck disable=SC2120
run_condition() {
	eval "set -- $condition"
	setpriv --reuid=mta-stsd --regid=mta-stsd --clear-groups "$@"
}
# shellcheck disable=SC2119
if run_condition 2>"$tmp/condition.log"; then
	fail "ExecCondition= lets the unedited example start"
else
	[ $? -eq 1 ] || fail "ExecCondition= failed instead of skipping"
fi
grep -q "is the unedited example" "$tmp/condition.log" ||
	fail "ExecCondition= skips without saying why"
ok "ExecCondition= skips the start on the unedited example"

# ---------------------------------------------------------------------------
# The shipped configuration: valid, and complete but for the certificates.
# ---------------------------------------------------------------------------
if /usr/sbin/mta-stsd check-config >"$tmp/check.out" 2>"$tmp/check.err"; then
	fail "check-config accepts the example without its certificates"
fi
# Besides the 6 files: each domain's "not served" summary and the verdict.
errors=$(grep -c 'error: cannot read \(certificate\|key\) /etc/mta-stsd/' \
	"$tmp/check.err" || true)
if grep ': error: ' "$tmp/check.err" |
		grep -v 'error: cannot read \(certificate\|key\) /etc/mta-stsd/' |
		grep -v ': not served (\|error: no domain can be served'; then
	fail "check-config finds more than the missing certificates (above)"
fi
[ "$errors" -eq 6 ] || { cat "$tmp/check.err"; fail "expected 6 errors"; }
ok "check-config on the shipped file: only the 3 domains' certificates and keys missing"

# The administrator's part: a certificate and key for each policy host
# (self-signed here), the key readable by the service's group.
for d in $domains; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-days 30 -subj "/CN=mta-sts.$d" \
		-addext "subjectAltName=DNS:mta-sts.$d" \
		-keyout "/etc/mta-stsd/keys/$d.key" \
		-out "/etc/mta-stsd/certs/$d.pem" 2>"$tmp/openssl.log" ||
		{ cat "$tmp/openssl.log"; fail "openssl req for $d"; }
	chgrp mta-stsd "/etc/mta-stsd/keys/$d.key"
	chmod 0640 "/etc/mta-stsd/keys/$d.key"
done
/usr/sbin/mta-stsd check-config >"$tmp/check.out" 2>"$tmp/check.err" ||
	{ cat "$tmp/check.out" "$tmp/check.err"; fail "check-config with certificates"; }
grep -q "configuration OK (3 domain(s)" "$tmp/check.out" ||
	{ cat "$tmp/check.out"; fail "check-config: not OK for 3 domains"; }
# It checked as the service user, and wrote nothing: only the daemon
# writes the state directory.
grep -q "read as user mta-stsd" "$tmp/check.err" ||
	{ cat "$tmp/check.err"; fail "check-config did not check as mta-stsd"; }
[ ! -e "$statedir/ids" ] || fail "check-config wrote $statedir/ids"
ok "check-config with certificates: configuration OK (3 domain(s)), as mta-stsd, nothing written"

# The administrator's edit: listen on loopback only. It lets the service
# start, and must survive the upgrade.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s/^listen = .*/listen = [ \"127.0.0.1:$port\" ];/" "$conf"
grep -q "^listen = \[ \"127.0.0.1:$port\" \];" "$conf" ||
	fail "could not edit listen in $conf"
cp "$conf" "$tmp/edited.conf"
# shellcheck disable=SC2119
run_condition 2>"$tmp/condition.log" ||
	{ cat "$tmp/condition.log"; fail "ExecCondition= skips an edited file"; }
ok "ExecCondition= lets the edited configuration start"

# ---------------------------------------------------------------------------
# Upgrade over itself: the edit, the state and the user stay, no prompt
# (stdin is /dev/null, so a conffile question would fail the install).
# ---------------------------------------------------------------------------
# The daemon has not run yet unless systemd started it: keep what there is.
rm -f "$tmp/ids"
[ ! -e "$statedir/ids" ] || cp "$statedir/ids" "$tmp/ids"
apt_get install --reinstall --no-install-recommends "$deb" \
	>"$tmp/upgrade.log" 2>&1 ||
	{ cat "$tmp/upgrade.log"; fail "apt-get install --reinstall failed"; }
grep -q "Unpacking mta-stsd ($version) over ($version)" "$tmp/upgrade.log" ||
	{ cat "$tmp/upgrade.log"; fail "the reinstall did not upgrade over $version"; }
cmp -s "$conf" "$tmp/edited.conf" || fail "the upgrade changed $conf"
for f in "$conf.dpkg-dist" "$conf.dpkg-new" "$conf.dpkg-old"; do
	[ ! -e "$f" ] || fail "the upgrade left $f"
done
[ ! -e "$tmp/ids" ] || cmp -s "$statedir/ids" "$tmp/ids" ||
	fail "the upgrade changed $statedir/ids"
[ "$(id -u mta-stsd)" = "$uid" ] || fail "the upgrade changed the uid"
[ "$(readlink "$wants")" = "$unitdir/mta-stsd.service" ] ||
	fail "the upgrade disabled mta-stsd.service"
grep -q "_dh_action=restart" /var/lib/dpkg/info/mta-stsd.postinst ||
	fail "postinst does not restart the service after an upgrade"
ok "upgrade over $version: edited conffile kept, no prompt, state and uid kept, still enabled"

# ---------------------------------------------------------------------------
# Serve the configured package on loopback: started by systemd's restart
# after the upgrade where systemd runs, else started here as root, the way
# the unit's ExecStart= does (it drops to mta-stsd).
# ---------------------------------------------------------------------------
if [ "$systemd_running" = 0 ]; then
	/usr/sbin/mta-stsd serve >"$tmp/serve.log" 2>&1 &
	serve_pid=$!
fi
policy=$tmp/policy
i=0
until curl -sS --max-time 5 --cacert /etc/mta-stsd/certs/example.com.pem \
		--resolve "mta-sts.example.com:$port:127.0.0.1" \
		-D "$tmp/headers" -o "$policy" \
		"https://mta-sts.example.com:$port/.well-known/mta-sts.txt" \
		2>"$tmp/curl.log"; do
	i=$((i + 1))
	if [ "$i" -ge 100 ]; then
		cat "$tmp/curl.log" "$tmp/serve.log" 2>/dev/null
		fail "no policy from 127.0.0.1:$port after 100 tries"
	fi
	sleep 0.1
done
printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: backup-mx.example.net\r\nmax_age: 1209600\r\n' \
	>"$tmp/expected"
cmp -s "$policy" "$tmp/expected" ||
	{ cat "$policy"; fail "the policy served is not the example.com one"; }
grep -qi '^content-type: text/plain' "$tmp/headers" ||
	{ cat "$tmp/headers"; fail "the policy is not text/plain"; }
if [ "$systemd_running" = 0 ]; then
	[ "$(ps -o user= -p "$serve_pid")" = mta-stsd ] ||
		fail "the daemon does not run as mta-stsd"
	kill "$serve_pid"
	wait "$serve_pid" || true
	serve_pid=
fi
[ "$(stat -c %U "$statedir/ids")" = mta-stsd ] ||
	fail "$statedir/ids is not the service user's"
cp "$statedir/ids" "$tmp/ids"
ok "serves example.com's policy on 127.0.0.1:$port as user mta-stsd, who records the ids"

# ---------------------------------------------------------------------------
# Remove: stopped, program gone, configuration and state kept.
# ---------------------------------------------------------------------------
apt_get remove mta-stsd >"$tmp/remove.log" 2>&1 ||
	{ cat "$tmp/remove.log"; fail "apt-get remove failed"; }
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' mta-stsd)" = "rc " ] ||
	fail "after remove, dpkg does not list mta-stsd as config-files"
if [ "$systemd_running" = 1 ] && systemctl is-active --quiet mta-stsd; then
	fail "mta-stsd still runs after apt-get remove"
fi
for f in /usr/sbin/mta-stsd "$unitdir/mta-stsd.service" \
		"$unitdir/mta-stsd.socket" /usr/lib/sysusers.d/mta-stsd.conf; do
	[ ! -e "$f" ] || fail "$f is left after remove"
done
cmp -s "$conf" "$tmp/edited.conf" || fail "remove changed or removed $conf"
cmp -s "$statedir/ids" "$tmp/ids" || fail "remove changed $statedir/ids"
getent passwd mta-stsd >/dev/null || fail "remove deleted the user"
ok "remove: program and units gone; configuration, certificates and state kept"

# ---------------------------------------------------------------------------
# Purge: configuration, state and unit state gone. The administrator's
# certificates and keys stay (postrm says so), and so does the system
# account, as Debian leaves every system account.
# ---------------------------------------------------------------------------
check_purged() {
	if installed; then
		fail "dpkg still knows mta-stsd after purge"
	fi
	for f in "$conf" "$statedir" /usr/share/mta-stsd /usr/share/doc/mta-stsd \
			"$wants" /etc/systemd/system/sockets.target.wants/mta-stsd.socket; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			fail "$f is left after purge"
		fi
	done
	# Every file of the package, and deb-systemd-helper's records.
	while read -r f; do
		[ -d "$f" ] || [ ! -e "$f" ] || fail "$f is left after purge"
	done <"$tmp/files"
	left=$(find /var/lib/systemd/deb-systemd-helper-enabled \
		/var/lib/systemd/deb-systemd-helper-masked -name '*mta-stsd*' \
		2>/dev/null || true)
	[ -z "$left" ] || fail "deb-systemd-helper state left after purge: $left"
	getent passwd mta-stsd >/dev/null ||
		fail "purge deleted the system account (Debian keeps it)"
}

apt_get purge mta-stsd >"$tmp/purge.log" 2>&1 ||
	{ cat "$tmp/purge.log"; fail "apt-get purge failed"; }
check_purged
grep -q "/etc/mta-stsd still holds files the package did not install" \
	"$tmp/purge.log" || fail "purge did not say it kept the keys"
kept=$(cd /etc/mta-stsd && find . -type f | sort | tr '\n' ' ')
expected_kept=$(for d in $domains; do
	printf './certs/%s.pem\n./keys/%s.key\n' "$d" "$d"; done | sort | tr '\n' ' ')
[ "$kept" = "$expected_kept" ] ||
	fail "after purge /etc/mta-stsd holds \"$kept\", not the certificates and keys only"
rm -rf /etc/mta-stsd
ok "purge: configuration, state and unit symlinks gone; the administrator's keys and the account kept"

# Install and purge again with nothing of the administrator's: nothing left.
apt_get install --no-install-recommends "$deb" >"$tmp/install2.log" 2>&1 ||
	{ cat "$tmp/install2.log"; fail "apt-get install (again) failed"; }
[ "$(id -u mta-stsd)" = "$uid" ] || fail "a reinstall changed the uid"
apt_get purge mta-stsd >"$tmp/purge2.log" 2>&1 ||
	{ cat "$tmp/purge2.log"; fail "apt-get purge (again) failed"; }
check_purged
[ ! -e /etc/mta-stsd ] || fail "/etc/mta-stsd is left after install and purge"
ok "install then purge: /etc/mta-stsd, $statedir and every file of the package gone"

summary="mta-stsd $version built, lintian clean, exposure $exposure, installed, upgraded, removed and purged"
result=PASS
