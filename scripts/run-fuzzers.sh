#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-fuzzers.sh [SECONDS]
#
# Builds the libFuzzer harnesses of tests/fuzz/ with clang in build-fuzz/
# and runs each one for SECONDS (default 30) over a copy of its seed corpus,
# one after the other. Exits 1 on any crash, leak, timeout, out-of-memory
# or sanitizer report, 0 when every harness ran clean, and prints a table of
# executions, coverage and corpus size. Needs clang and libclang-rt-14-dev
# (scripts/install-deps.sh --test). docs/FUZZING.md explains the rest.
set -eu
cd "$(dirname "$0")/.."

secs=${1:-30}
case $secs in
    '' | *[!0-9]*)
        echo "usage: $0 [SECONDS]" >&2
        exit 2
        ;;
esac

if ! command -v clang >/dev/null 2>&1; then
    echo "run-fuzzers.sh: clang not found (install clang and" \
        "libclang-rt-14-dev, or run scripts/install-deps.sh --test)" >&2
    exit 1
fi

build='build-fuzz'
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzz=true -Dtests=disabled \
        -Db_lundef=false
else
    meson configure "$build" -Dfuzz=true
fi

# Every harness with a source file, in this order.
targets=
for t in policy-lint txt-answer txt-record dnsname route config hello acme-json \
        state; do
    if [ -f "tests/fuzz/fuzz-$t.c" ]; then
        targets="$targets $t"
    fi
done
ninja_targets=
for t in $targets; do
    ninja_targets="$ninja_targets tests/fuzz/fuzz-$t"
done
# Only the harnesses and what they link: the daemon is not needed here.
# shellcheck disable=SC2086 # one word per target
ninja -C "$build" $ninja_targets

work=$(mktemp -d "${TMPDIR:-/tmp}/mta-stsd-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
artifacts=$build/fuzz-artifacts
rm -rf "$artifacts"

# Leaks count as failures; UBSan stops at its first report, as ASan does.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The one suppression is a libconfig leak, explained in the file.
LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
export LSAN_OPTIONS

# figures FILE: the final figures of one run as "execs exec/s cov ft corpus".
figures() {
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" |
        tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1" | tail -n 1)
    line=$(grep ' cov: ' "$1" | tail -n 1 || true)
    cov=$(echo "$line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$line" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    echo "${execs:--} ${rate:--} ${cov:--} ${ft:--} ${corp:--}"
}

# What a sanitizer, libFuzzer or a harness prints when something is wrong.
reports='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|'
reports="${reports}libFuzzer)|runtime error:|SUMMARY: |invariant failed"

failed=
table=$(printf '%-12s %-6s %10s %8s %6s %6s %12s\n' target result \
    executions exec/s cov ft corpus)
for t in $targets; do
    exe=$build/tests/fuzz/fuzz-$t
    corpus=$work/$t
    log=$work/$t.log
    mkdir -p "$corpus" "$artifacts/$t"
    # A copy: the committed seeds stay as they are.
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp -R "tests/fuzz/corpus/$t/." "$corpus/"
    fi
    set -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -detect_leaks=1 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t/"
    if [ -f "tests/fuzz/$t.dict" ]; then
        set -- "$@" -dict="tests/fuzz/$t.dict"
    fi

    echo "== fuzz-$t: $secs s"
    rc=0
    "$exe" "$@" "$corpus" >"$log" 2>&1 || rc=$?

    result=ok
    if [ "$rc" -ne 0 ] || grep -Eq "$reports" "$log"; then
        result=FAIL
        failed="$failed $t"
        # The report and the input that caused it.
        grep -Ev '^#[0-9]+' "$log" | tail -n 60 >&2
        ls "$artifacts/$t"/* 2>/dev/null >&2 || true
    fi
    # shellcheck disable=SC2046 # figures prints five words
    set -- $(figures "$log")
    table=$(printf '%s\n%-12s %-6s %10s %8s %6s %6s %12s' "$table" "$t" \
        "$result" "$1" "$2" "$3" "$4" "$5")
done

echo
echo "$table"
if [ -n "$failed" ]; then
    echo
    echo "run-fuzzers.sh: failed:$failed (inputs in $artifacts/)" >&2
    exit 1
fi
rm -rf "$artifacts"
echo
echo "run-fuzzers.sh: every harness ran clean for $secs s"
