#!/bin/sh
# Runs every test tier and ends with "N passed, N failed, N skipped":
#   1. all suites (unit, system, vm: real kprobes in a qemu guest) in ./build;
#   2. the unit and system suites again in ./build-asan, built with
#      AddressSanitizer and UndefinedBehaviorSanitizer (the daemon the system
#      tests start is then the sanitized one; a leak at exit fails them);
#   3. the system suite once more with the daemon under valgrind memcheck;
#   4. the libFuzzer targets for 60 s in all (tests/fuzz/run.sh), counted as
#      one test.
# The systemd guest of step 1 (suite vm-systemd), then the probe library's
# guests (suite vm-library), then the packages (suite pkg) run in the
# background beside steps 2 to 4; their output follows theirs.
# Usage (as root, from anywhere): sh tests/run.sh [meson test args, e.g. --suite unit]
# With arguments, only step 1 runs, with those arguments.
set -u
cd "$(dirname "$0")/.."
sh .ci/build.sh || exit 1

# The system tests need tracefs; the daemon would mount it itself, but the
# tests look at it before and after.
if [ "$(id -u)" = 0 ] && ! grep -q " tracefs " /proc/mounts; then
        mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

logs=""
rc=0
if [ $# -eq 0 ]; then
        # The systemd guest (about 4 minutes, one core), then the library's
        # four guests (about 2 minutes, one at a time), then the packages
        # (1 minute) run beside steps 2 to 4, which mostly wait on their
        # daemons: CI stays under 20 min.
        meson test -C build --print-errorlogs --no-suite vm-systemd --no-suite vm-library --no-suite pkg || rc=1
        (
                bg=0
                meson test -C build --no-rebuild --print-errorlogs --suite vm-systemd --logbase testlog-vm-systemd || bg=1
                meson test -C build --no-rebuild --print-errorlogs --num-processes 1 --suite vm-library \
                        --logbase testlog-vm-library || bg=1
                meson test -C build --no-rebuild --print-errorlogs --suite pkg --logbase testlog-pkg || bg=1
                exit $bg
        ) >build/vm-background.out 2>&1 &
        vm_background=$!
else
        meson test -C build --print-errorlogs "$@" || rc=1
fi
logs="build/meson-logs/testlog.json"

if [ $# -eq 0 ]; then
        echo "== the unit and system suites again, under ASan and UBSan (build-asan) =="
        if [ ! -f build-asan/build.ninja ]; then
                meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null || exit 1
        fi
        meson compile -C build-asan >/dev/null || { meson compile -C build-asan; exit 1; }
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
                meson test -C build-asan --print-errorlogs --suite unit --suite system || rc=1
        logs="$logs build-asan/meson-logs/testlog.json"
fi

if [ $# -eq 0 ]; then
        echo "== the system suite again, the daemon under valgrind memcheck (zero errors, zero leaks at exit) =="
        KPE_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect" \
                meson test -C build --print-errorlogs --suite system --logbase testlog-valgrind || rc=1
        logs="$logs build/meson-logs/testlog-valgrind.json"
fi

fuzz=""
if [ $# -eq 0 ]; then
        echo "== fuzzing the parsers for 60 s (tests/fuzz/run.sh; clang, libFuzzer) =="
        if sh tests/fuzz/run.sh 60; then fuzz=passed; else fuzz=failed; rc=1; fi
fi

if [ $# -eq 0 ]; then
        echo "== the systemd guest (vm-systemd), the library's guests (vm-library) and the packages (pkg), run beside the steps above =="
        wait $vm_background || rc=1
        cat build/vm-background.out
        logs="$logs build/meson-logs/testlog-vm-systemd.json build/meson-logs/testlog-vm-library.json"
        logs="$logs build/meson-logs/testlog-pkg.json"
fi

python3 - "$fuzz" $logs <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
if sys.argv[1]:
    counts[sys.argv[1]] += 1
for path in sys.argv[2:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                counts["passed"] += 1
            elif r == "SKIP":
                counts["skipped"] += 1
            else:
                counts["failed"] += 1
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $rc
