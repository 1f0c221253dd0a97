#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# its share of SECONDS_TOTAL (default 60). Exits non-zero if any fuzzer
# found a crash, a leak, undefined behaviour or a timeout, and prints where
# the input is.
#
# Usage: tests/fuzz/run.sh [SECONDS_TOTAL]
#   KPE_FUZZ_BUILD   build dir, relative to the repo root (default build-fuzz)
#   KPE_FUZZ_TARGETS targets to run (default: traceline config decode pipeline kernel tfs-text rawpage
#                    webconfig khist attrib elfsym)
# Needs clang and libclang-rt-14-dev (Debian 12).
#
# Each fuzzer works on a copy of its seeds in BUILD/corpus/<target>, kept
# between runs (so longer runs build on earlier ones) and never written back
# to tests/fuzz/corpus. To run one target longer by hand:
#   BUILD/tests/fuzz/fuzz-config -max_len=16384 -dict=tests/fuzz/config.dict BUILD/corpus/config
# (add -jobs=N -workers=N to use N cores; libFuzzer then writes fuzz-N.log
# files into the current directory).
# A crash found goes into tests/fuzz/corpus/<target>/ after the fix: the
# fuzz-replay-<target> unit test then replays it in every build.
set -u

total=${1:-60}
case "$total" in
''|*[!0-9]*) echo "usage: $0 [SECONDS_TOTAL]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$root" || exit 1
build=${KPE_FUZZ_BUILD:-build-fuzz}
targets=${KPE_FUZZ_TARGETS:-traceline config decode pipeline kernel tfs-text rawpage webconfig khist attrib elfsym}

# A dictionary of the format's words, where one helps.
dict() {
        case "$1" in
        config) echo tests/fuzz/config.dict ;;
        webconfig) echo tests/fuzz/webconfig.dict ;;
        traceline|pipeline) echo tests/fuzz/traceline.dict ;;
        tfs-text) echo tests/fuzz/tfs-text.dict ;;
        esac
}

max_len() {
        case "$1" in
        config|webconfig|kernel|tfs-text) echo 16384 ;; # a config; kernel texts (a README is 12 KB)
        elfsym) echo 32768 ;; # a small ELF file (the seeds are 14 to 16 KB)
        *) echo 4096 ;; # one line, one value, or a few lines for the pipeline
        esac
}

if ! command -v clang >/dev/null 2>&1; then
        echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
        exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" --buildtype=debugoptimized >"${TMPDIR:-/tmp}/kpe-fuzz-setup.$$" 2>&1 || {
                cat "${TMPDIR:-/tmp}/kpe-fuzz-setup.$$" >&2
                rm -f "${TMPDIR:-/tmp}/kpe-fuzz-setup.$$"
                exit 1
        }
        rm -f "${TMPDIR:-/tmp}/kpe-fuzz-setup.$$"
fi

fuzzers=""
for t in $targets; do
        fuzzers="$fuzzers fuzz-$t"
done
# shellcheck disable=SC2086 # one word per target
if ! meson compile -C "$build" $fuzzers >"$build/fuzz-compile.log" 2>&1; then
        cat "$build/fuzz-compile.log" >&2
        echo "fuzz: build failed; is $build a clang build with libFuzzer (libclang-rt-14-dev)?" >&2
        exit 1
fi

n=0
for t in $targets; do
        n=$((n + 1))
done
share=$((total / n))
[ "$share" -ge 1 ] || share=1

rc=0
printf '%-10s %8s %10s %9s %7s  %s\n' target seconds execs execs/s corpus result
for t in $targets; do
        bin="$build/tests/fuzz/fuzz-$t"
        work="$build/corpus/$t"
        artifacts="$build/fuzz-artifacts/$t"
        log="$build/fuzz-logs/$t.log"
        mkdir -p "$work" "$artifacts" "$(dirname "$log")"
        # cp -n: what earlier runs found stays; the repo's seeds are never
        # written to.
        cp -n "tests/fuzz/corpus/$t/"* "$work/" 2>/dev/null || true
        before=$(ls "$artifacts" | wc -l)

        d=$(dict "$t")

        start=$(date +%s)
        "$bin" -max_total_time="$share" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
                ${d:+-dict="$d"} -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1
        status=$?
        secs=$(($(date +%s) - start))

        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
        corpus=$(ls "$work" | wc -l)
        rate=$((execs / (secs > 0 ? secs : 1)))
        after=$(ls "$artifacts" | wc -l)
        if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then
                result=FAILED
                rc=1
        else
                result=ok
        fi
        printf '%-10s %8s %10s %9s %7s  %s\n' "$t" "$secs" "$execs" "$rate" "$corpus" "$result"
        if [ "$result" = FAILED ]; then
                grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*check failed)' "$log" | head -5 | sed 's/^/    /'
                for a in $(ls -t "$artifacts" | head -n $((after - before > 0 ? after - before : 1))); do
                        echo "    input: $artifacts/$a"
                        echo "    rerun: $bin $artifacts/$a"
                done
                echo "    log:   $log"
        fi
done
exit $rc
