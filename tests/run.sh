#!/bin/sh
# Runs every test tier (unit, system) and ends with "N passed, N failed, N skipped".
# Usage (as root, from anywhere): sh tests/run.sh [meson test args, e.g. --suite unit]
set -u
cd "$(dirname "$0")/.."
sh .ci/build.sh || exit 1

# The system tests need tracefs; the daemon would mount it itself, but the
# tests look at it before and after.
if [ "$(id -u)" = 0 ] && ! grep -q " tracefs " /proc/mounts; then
        mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

meson test -C build --print-errorlogs "$@"
rc=$?
python3 - <<'PY'
import json
counts = {"passed": 0, "failed": 0, "skipped": 0}
with open("build/meson-logs/testlog.json") as f:
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
