# Shared helpers for the system tests: each test-*.sh runs the real daemon
# against the real kernel (tracefs, uprobes, tracepoints) and talks to it
# over HTTP on 127.0.0.1, the way a user would.
#
# How meson runs a test:
#   KPE_BIN=<daemon> KPE_CONNECTOR=<tests/system/connector> KPE_SOURCE_ROOT=<repo> \
#       bash tests/system/test-X.sh
# Exit 0 = pass, 77 = skip (after "SKIP: <reason>"), anything else = fail
# (after "FAIL: <what>").
#
# Rules every test keeps, because tracefs is shared with everyone on the
# machine (see shared/TRACEFS.md):
# - its own group and instance name, kpe_t<test>_<pid> (kpe_init);
# - probe files are only ever appended to (>>), never truncated (>);
# - on exit (kpe_cleanup, an EXIT trap) it kills only the daemon and helper
#   processes it started, by PID, and removes only probes and instances of
#   its own names;
# - every wait is a bounded loop.
#
# Sourced by bash; uses python3 for parsing metrics and JSON and curl for
# HTTP. KPE_WRAPPER, when set, is put before the daemon's command line
# (tests/run.sh runs the suite once under valgrind that way). KPE_READER,
# when set, is the daemon's --tracefs.reader (the system-text suite runs
# every test with the text reader; a later --tracefs.reader wins).

set -u -o pipefail

KPE_PID=""          # the daemon we started, if running
KPE_PORT=""         # its HTTP port
KPE_NAME=""         # our tracefs group and instance name
KPE_WORK=""         # scratch directory, removed on exit
KPE_EXTRA_GROUPS="" # more probe groups of ours (e.g. a sentinel) to remove on exit
KPE_EXTRA_PIDS=""   # helper processes we started (e.g. a TCP listener)
KPE_CLEANUP_FIRST="" # a command kpe_cleanup runs first (e.g. closing an fd that holds tracefs)
TRACEFS=""
# How the helpers below reach the daemon: the URL scheme, and curl options
# (CA, client certificate, credentials) for a daemon with a web config.
KPE_SCHEME=http
KPE_CURL_OPTS=()
# The tests' Python finds promtext.py (the text format's parser) here.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

skip() {
        echo "SKIP: $*"
        exit 77
}

log() {
        echo "# $*"
}

# Where tracefs is mounted: the first tracefs line of /proc/mounts, else the
# old debugfs location.
find_tracefs() {
        local dir
        dir=$(awk '$3 == "tracefs" { print $2; exit }' /proc/mounts 2>/dev/null)
        if [ -z "$dir" ] && [ -e /sys/kernel/debug/tracing/uprobe_events ]; then
                dir=/sys/kernel/debug/tracing
        fi
        echo "$dir"
}

# Checks what every test needs, sets the names and the EXIT trap.
# $1: a short test tag, used in the group/instance name.
kpe_init() {
        local tag=$1

        command -v python3 >/dev/null 2>&1 || skip "missing python3"
        command -v curl >/dev/null 2>&1 || skip "missing curl"
        [ "$(id -u)" -eq 0 ] || skip "not root (tracefs needs uid 0)"
        TRACEFS=$(find_tracefs)
        if [ -z "$TRACEFS" ] || [ ! -d "$TRACEFS/instances" ]; then
                skip "no tracefs mounted"
        fi
        [ -w "$TRACEFS/uprobe_events" ] || skip "no uprobe_events (kernel without CONFIG_UPROBE_EVENTS)"

        [ -x "${KPE_BIN:-}" ] || fail "KPE_BIN is not an executable: '${KPE_BIN:-}'"
        [ -x "${KPE_CONNECTOR:-}" ] || fail "KPE_CONNECTOR is not an executable: '${KPE_CONNECTOR:-}'"
        # A uprobe path must be absolute, and comm must read "connector".
        KPE_CONNECTOR=$(readlink -f "$KPE_CONNECTOR")
        [ "$(basename "$KPE_CONNECTOR")" = connector ] ||
                fail "KPE_CONNECTOR must be named 'connector' (the tests expect comm=connector)"

        KPE_NAME="kpe_t${tag}_$$"
        KPE_WORK=$(mktemp -d "/tmp/${KPE_NAME}.XXXXXX") || fail "mktemp"
        trap kpe_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        log "tracefs $TRACEFS, name $KPE_NAME, daemon $KPE_BIN"
}

# True while the process runs (a zombie child does not count: kill -0 would
# still succeed on it).
pid_alive() {
        local state
        [ -r "/proc/$1/stat" ] || return 1
        state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ -n "$state" ] && [ "$state" != Z ]
}

# Waits up to $1 seconds for pid $2 to end. Returns 0 if it ended.
wait_pid_gone() {
        local timeout=$1 pid=$2 i
        for ((i = 0; i < timeout * 10; i++)); do
                pid_alive "$pid" || return 0
                sleep 0.1
        done
        return 1
}

# Kills one process of ours, by PID: SIGTERM, then SIGKILL after 5 s.
kill_pid() {
        local pid=$1
        pid_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
        kill -TERM "$pid" 2>/dev/null
        wait_pid_gone 5 "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 0
}

# The probe lines of group $1 in uprobe_events (and kprobe_events if any).
group_probe_lines() {
        local group=$1 f
        for f in "$TRACEFS/uprobe_events" "$TRACEFS/kprobe_events"; do
                [ -r "$f" ] || continue
                grep -E "^[pr][0-9]*:$group/" "$f" 2>/dev/null
        done
        return 0
}

# Removes every probe of group $1 and the instance $1, if present. Only ever
# appends "-:GROUP/EVENT" lines: never truncates a probe file.
remove_group_leftovers() {
        local group=$1 line event i f
        if [ -d "$TRACEFS/instances/$group" ]; then
                # The pipe of a just-killed daemon may still be closing.
                for ((i = 0; i < 50; i++)); do
                        rmdir "$TRACEFS/instances/$group" 2>/dev/null && break
                        sleep 0.1
                done
                [ -d "$TRACEFS/instances/$group" ] && echo "# warning: could not rmdir instances/$group" >&2
        fi
        for f in "$TRACEFS/uprobe_events" "$TRACEFS/kprobe_events"; do
                [ -w "$f" ] || continue
                grep -E "^[pr][0-9]*:$group/" "$f" 2>/dev/null | while read -r line _; do
                        event=${line#*/}
                        echo "-:$group/$event" >>"$f" 2>/dev/null ||
                                echo "# warning: could not remove $group/$event" >&2
                done
        done
}

kpe_cleanup() {
        local rc=$? pid group
        trap - EXIT
        if [ -n "$KPE_CLEANUP_FIRST" ]; then
                eval "$KPE_CLEANUP_FIRST"
        fi
        if [ -n "$KPE_PID" ]; then
                kill_pid "$KPE_PID"
                KPE_PID=""
        fi
        for pid in $KPE_EXTRA_PIDS; do
                kill_pid "$pid"
        done
        if [ -n "$KPE_NAME" ] && [ -n "$TRACEFS" ]; then
                for group in "$KPE_NAME" $KPE_EXTRA_GROUPS; do
                        remove_group_leftovers "$group"
                done
        fi
        if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$KPE_WORK" ]; then
                dump_daemon_log
        fi
        [ -n "$KPE_WORK" ] && rm -rf "$KPE_WORK"
        exit $rc
}

dump_daemon_log() {
        local f
        for f in "$KPE_WORK"/daemon*.err; do
                [ -s "$f" ] || continue
                echo "---- $(basename "$f") (last 40 lines) ----" >&2
                tail -n 40 "$f" >&2
        done
}

free_port() {
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# A TCP listener on 127.0.0.1, on a free port of its own choosing, with a
# bounded life: it accepts (and closes) connections until it has taken $2
# of them (0 or none: no limit) or $1 seconds have passed. Sets
# LISTEN_PORT; its PID joins KPE_EXTRA_PIDS.
start_listener() {
        rm -f "$KPE_WORK/listen.port"
        python3 - "$KPE_WORK/listen.port" "$1" "${2:-0}" <<'EOF' &
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(128)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
deadline, limit, n = time.time() + float(sys.argv[2]), int(sys.argv[3]), 0
while (limit == 0 or n < limit) and time.time() < deadline:
    s.settimeout(max(0.1, deadline - time.time()))
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    c.close()
    n += 1
EOF
        KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $!"
        local i
        for ((i = 0; i < 100; i++)); do
                [ -s "$KPE_WORK/listen.port" ] && break
                sleep 0.1
        done
        LISTEN_PORT=$(cat "$KPE_WORK/listen.port" 2>/dev/null) || fail "the TCP listener did not start"
}

# The uprobe file offset of kpe_connect_target in the connector.
connector_offset() {
        local off
        off=$("$KPE_CONNECTOR" offset) || fail "connector offset failed"
        [[ $off =~ ^0x[0-9a-f]+$ ]] || fail "connector offset printed '$off'"
        echo "$off"
}

# The register holding a function's 2nd argument at its entry, as the
# seed's example uses it (%si on x86-64).
arg2_register() {
        case "$(uname -m)" in
        x86_64) echo "%si" ;;
        aarch64) echo "%x1" ;;
        *) skip "no known register for the 2nd argument on $(uname -m)" ;;
        esac
}

# The register holding a function's 1st argument at its entry.
arg1_register() {
        case "$(uname -m)" in
        x86_64) echo "%di" ;;
        aarch64) echo "%x0" ;;
        *) skip "no known register for the 1st argument on $(uname -m)" ;;
        esac
}

# Prints a config's list item for a uprobe on the connector's
# kpe_note_target(text), named note, fetching text as a string (which the
# traced process chooses); its metrics: follow.
note_probe_yaml() {
        local reg off
        reg=$(arg1_register)
        off=$("$KPE_CONNECTOR" offset note) || fail "connector offset note failed"
        cat <<EOF
  - name: note
    type: uprobe
    target: $KPE_CONNECTOR:$off
    fetch: [text=+0($reg):string]
EOF
}

# Starts a Prometheus on a free port (PROM_PORT) with storage in the
# test's folder, scraping every second with the scrape_configs item on
# stdin (indented as a list item under scrape_configs); more prometheus
# arguments may follow. Ended on exit.
prom_start() {
        command -v prometheus >/dev/null 2>&1 || fail "missing prometheus (Debian package prometheus)"
        PROM_PORT=$(free_port)
        {
                printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n'
                cat
        } >"$KPE_WORK/prometheus.yml"
        prometheus --config.file="$KPE_WORK/prometheus.yml" --storage.tsdb.path="$KPE_WORK/prometheus" \
                --web.listen-address="127.0.0.1:$PROM_PORT" "$@" >"$KPE_WORK/prometheus.log" 2>&1 &
        KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $!"
}

# Writes to $1 the smallest useful config: one uprobe on the connector's
# connect function, counted by comm.
connector_config() {
        cat >"$1" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$(connector_offset)
    metrics:
      - name: connect_total
        labels: [comm]
EOF
}

# Prints the seed's probe as a config's list item: a uprobe on the
# connector's connect function with the seed's fetch args, decoded, counted
# by comm, addr and port in connect_total.
seed_probe_yaml() {
        local reg off
        reg=$(arg2_register)
        off=$(connector_offset)
        cat <<EOF
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$off
    fetch: [type=+0($reg):u16, port=+2($reg):u16, addr=+4($reg):u32]
    decode: {port: ntohs, addr: ipv4}
    metrics:
      - name: connect_total
        labels: [comm, addr, port]
EOF
}

# Starts the daemon with config $1 (more daemon arguments may follow) on a
# free port, and waits up to 10 s for /healthz. Sets KPE_PID and KPE_PORT.
# Its stdout/stderr go to $KPE_WORK/daemon.N.{out,err}.
KPE_RUNS=0
start_daemon() {
        local config=$1 i
        shift
        KPE_RUNS=$((KPE_RUNS + 1))
        KPE_PORT=$(free_port)
        KPE_OUT="$KPE_WORK/daemon.$KPE_RUNS.out"
        KPE_ERR="$KPE_WORK/daemon.$KPE_RUNS.err"
        # shellcheck disable=SC2086 # KPE_WRAPPER is a command line (e.g. valgrind ...)
        ${KPE_WRAPPER:-} "$KPE_BIN" --config.file="$config" --web.listen-address="127.0.0.1:$KPE_PORT" \
                --tracefs.instance="$KPE_NAME" --log.level=debug ${KPE_READER:+--tracefs.reader=$KPE_READER} \
                "$@" >"$KPE_OUT" 2>"$KPE_ERR" &
        KPE_PID=$!
        for ((i = 0; i < 100; i++)); do
                if ! pid_alive "$KPE_PID"; then
                        wait "$KPE_PID"
                        local rc=$?
                        KPE_PID=""
                        echo "---- daemon stderr ----" >&2
                        cat "$KPE_ERR" >&2
                        fail "daemon exited with status $rc before becoming healthy"
                fi
                if curl -fsS --max-time 1 -o /dev/null "${KPE_CURL_OPTS[@]}" "$KPE_SCHEME://127.0.0.1:$KPE_PORT/healthz" 2>/dev/null; then
                        log "daemon pid $KPE_PID healthy on 127.0.0.1:$KPE_PORT"
                        return 0
                fi
                sleep 0.1
        done
        fail "daemon not healthy on 127.0.0.1:$KPE_PORT within 10 s"
}

# Sends signal $1 to the daemon, waits up to 10 s for it to exit and
# returns its exit status (KPE_PID is cleared).
stop_daemon() {
        local sig=${1:-TERM} rc=0 gone=1
        [ -n "$KPE_PID" ] || fail "stop_daemon: no daemon running"
        kill "-$sig" "$KPE_PID" || fail "could not signal daemon $KPE_PID"
        # stderr off while waiting: bash prints its own "Killed" notice
        # there when it reaps a daemon we killed with -9.
        {
                if wait_pid_gone 10 "$KPE_PID"; then
                        wait "$KPE_PID"
                        rc=$?
                else
                        gone=0
                        kill -KILL "$KPE_PID"
                        wait "$KPE_PID"
                fi
        } 2>/dev/null
        KPE_PID=""
        [ $gone = 1 ] || fail "daemon did not exit within 10 s of SIG$sig"
        return $rc
}

# Runs the daemon in the foreground with a 10 s bound; for runs that must
# exit by themselves (config errors, --config.check, --cleanup, strict).
# Output goes to $KPE_WORK/run.out and run.err; returns its status.
run_daemon() {
        # shellcheck disable=SC2086
        timeout 20 ${KPE_WRAPPER:-} "$KPE_BIN" "$@" >"$KPE_WORK/run.out" 2>"$KPE_WORK/run.err"
}

# GET (or another method with -X) $KPE_SCHEME://127.0.0.1:$KPE_PORT$1 into file $2;
# prints the HTTP status. Extra curl arguments may follow.
http_get() {
        local path=$1 out=$2
        shift 2
        curl -sS --max-time 5 -o "$out" -w '%{http_code}' "${KPE_CURL_OPTS[@]}" "$@" "$KPE_SCHEME://127.0.0.1:$KPE_PORT$path"
}

# Fetches a path that must answer 200 into file $2.
fetch_ok() {
        local code
        code=$(http_get "$1" "$2") || fail "GET $1: curl failed"
        [ "$code" = 200 ] || fail "GET $1 answered $code: $(head -c 300 "$2")"
}

# The value of one series in a Prometheus text file $1: metric name $2 and
# the exact label set given as key=value arguments (order does not matter).
# Prints the value as written, or "absent".
metric_value() {
        metric_query exact "$@"
}

# metric_value and metric_sum: $1 "exact" (the one series with exactly these
# labels) or "sum" (every series whose labels include these), then file,
# name, key=value labels.
metric_query() {
        python3 - "$@" <<'EOF'
import sys
import promtext

mode, path, name = sys.argv[1:4]
want = dict(a.split("=", 1) for a in sys.argv[4:])
total, found = 0, False
for n, labels, v in promtext.samples(path):
    if n != name:
        continue
    if mode == "exact" and labels == want:
        print(v)
        sys.exit(0)
    if mode == "sum" and all(labels.get(k) == x for k, x in want.items()):
        total += int(float(v))
        found = True
print(total if found else "absent")
EOF
}

# Evaluates a Python expression over the JSON in file $1 (bound to j) and
# prints the result (JSON-encoded unless it is a str).
json_get() {
        python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2], {"j": j})
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# Polls /metrics until a series has value $1 or 10 s pass; the series is
# given as for metric_value: $2 name, then key=value labels. Leaves the last scrape
# in $KPE_WORK/metrics.txt and prints the last value seen.
wait_metric() {
        wait_metric_query exact "$@"
}

# $1 exact or sum (see metric_query), $2 the value to wait for, then as above.
wait_metric_query() {
        local mode=$1 want=$2 i v
        shift 2
        for ((i = 0; i < 100; i++)); do
                if [ "$(http_get /metrics "$KPE_WORK/metrics.txt")" = 200 ]; then
                        v=$(metric_query "$mode" "$KPE_WORK/metrics.txt" "$@")
                        [ "$v" = "$want" ] && break
                fi
                sleep 0.1
        done
        echo "${v:-none}"
}

# Registers a probe of another group, the way another user of tracefs would,
# so a test can check that it survives. $1 group, $2 event. Removed on exit.
add_foreign_probe() {
        local group=$1 event=$2
        KPE_EXTRA_GROUPS="$KPE_EXTRA_GROUPS $group"
        echo "p:$group/$event $KPE_CONNECTOR:$(connector_offset)" >>"$TRACEFS/uprobe_events" ||
                fail "could not register the probe $group/$event"
}

# Fails unless the probe line $group/$event is still registered.
assert_foreign_probe() {
        grep -qE "^p:$1/$2 " "$TRACEFS/uprobe_events" || fail "$3: the probe $1/$2 of another group is gone"
}

# Fails if anything of our name is left in tracefs. $1: when (for the message).
assert_no_leftovers() {
        local lines
        lines=$(group_probe_lines "$KPE_NAME")
        [ -z "$lines" ] || fail "$1: probes of group $KPE_NAME left: $lines"
        [ ! -e "$TRACEFS/instances/$KPE_NAME" ] || fail "$1: instance $KPE_NAME left"
}

# What of tracefs a daemon could change: the probe lines and the instances.
tracefs_snapshot() {
        {
                cat "$TRACEFS/uprobe_events"
                [ -r "$TRACEFS/kprobe_events" ] && cat "$TRACEFS/kprobe_events"
                find "$TRACEFS/instances" -mindepth 1 -maxdepth 1 -printf 'instance %f\n'
        } | sort
}

# Compares two snapshots. Lines of this project's other tests and benchmarks
# running at the same time (kpe*<their pid>*, e.g. kpe_tuprobe_123,
# kpeb456_r1) may come and go; any other difference, and any difference of
# our own name, fails.
assert_snapshot_same() {
        local before=$1 after=$2 what=$3 diffs
        diffs=$(diff "$before" "$after" | grep -E '^[<>]' | python3 -c '
import re, sys
ours = sys.argv[1]
for line in sys.stdin:
    names = re.findall(r"kpe[a-z_]*[0-9]+[a-z0-9_]*", line)
    if not names or ours in names:
        print(line, end="")' "$KPE_NAME")
        [ -z "$diffs" ] || fail "$what changed tracefs:
$diffs"
}

# The sum of every series of metric $2 in file $1 whose labels include the
# given key=value pairs (others may vary). For tracepoints, whose comm is
# the kernel's lazily saved one: a process that has just exec'd can still
# show as its parent ("bash"), and a reused PID as an old process, so tests
# of tracepoints count by what the kernel records exactly and report comm.
metric_sum() {
        metric_query sum "$@"
}

# Polls /metrics until metric_sum gives $1 or 10 s pass; prints the last sum.
wait_metric_sum() {
        wait_metric_query sum "$@"
}

# How many lines of the daemon's stderr match the extended regex $1.
log_count() {
        grep -cE -- "$1" "$KPE_ERR" 2>/dev/null
        return 0
}

# Waits up to $3 seconds (default 10) until at least $2 lines of the
# daemon's stderr match the extended regex $1. Returns 0 once they do.
wait_log_count() {
        local re=$1 want=$2 timeout=${3:-10} i
        for ((i = 0; i < timeout * 10; i++)); do
                [ "$(log_count "$re")" -ge "$want" ] && return 0
                pid_alive "$KPE_PID" || break
                sleep 0.1
        done
        [ "$(log_count "$re")" -ge "$want" ]
}

# Sends SIGHUP and waits up to 20 s for the reload it causes to be logged
# (one more "Reloaded:" or "the running config stays" line). Fails if the
# daemon dies or nothing is logged. Sets KPE_RELOAD_LINE to the last
# "Reloaded:" line. Call it directly, not in $(...): it must be able to
# fail the test.
KPE_RELOAD_LINE=""
reload_daemon() {
        local re='Reloaded: |the running config stays' before
        before=$(log_count "$re")
        kill -HUP "$KPE_PID" || fail "could not send SIGHUP to the daemon $KPE_PID"
        if ! wait_log_count "$re" $((before + 1)) 20; then
                assert_daemon_alive "after SIGHUP"
                fail "no reload logged within 20 s of SIGHUP"
        fi
        KPE_RELOAD_LINE=$(grep -E 'Reloaded: ' "$KPE_ERR" | tail -n 1)
}

# Reaps the daemon once it is gone: sets KPE_EXIT_DESC ("exit status N" or
# "exit status N, killed by SIGX") and KPE_EXIT_RC, and clears KPE_PID.
KPE_EXIT_DESC=""
KPE_EXIT_RC=""
reap_daemon() {
        local rc
        wait "$KPE_PID" 2>/dev/null
        rc=$?
        KPE_PID=""
        KPE_EXIT_RC=$rc
        KPE_EXIT_DESC="exit status $rc"
        [ $rc -gt 128 ] && KPE_EXIT_DESC="$KPE_EXIT_DESC, killed by SIG$(kill -l $((rc - 128)) 2>/dev/null)"
        return 0
}

# Fails unless the daemon still runs. $1: when (for the message).
assert_daemon_alive() {
        if ! pid_alive "$KPE_PID"; then
                reap_daemon
                fail "$1: the daemon is gone ($KPE_EXIT_DESC)"
        fi
}

# The events enabled in our instance, one "SUBSYSTEM/EVENT" a line, sorted:
# those whose instances/$KPE_NAME/events/*/*/enable reads 1.
instance_enabled_events() {
        local dir="$TRACEFS/instances/$KPE_NAME/events/"
        [ -d "$dir" ] || return 0
        # One grep over every enable file: there are thousands.
        grep -lsx 1 "$dir"*/*/enable | sed -e "s|^$dir||" -e 's|/enable$||' | sort
        return 0
}

# Sums the daemon's report of lost events in metrics file $1: the LOST
# lines of trace_pipe plus the kernel's overrun and dropped counters.
lost_events_sum() {
        local f=$1 a b c
        a=$(metric_sum "$f" kprobe_exporter_lost_events_total)
        b=$(metric_sum "$f" kprobe_exporter_ring_buffer_overrun_total)
        c=$(metric_sum "$f" kprobe_exporter_ring_buffer_dropped_events_total)
        [ "$a" = absent ] && a=0
        [ "$b" = absent ] && b=0
        [ "$c" = absent ] && c=0
        echo $((a + b + c))
}

# Starts `curl -sN` on path $1 (an /events?follow=1 URL path) into file $2,
# in the background; its PID is added to KPE_EXTRA_PIDS and printed in
# KPE_FOLLOW_PID.
KPE_FOLLOW_PID=""
start_follower() {
        curl -sN --max-time 600 "http://127.0.0.1:$KPE_PORT$1" >"$2" 2>"$2.err" &
        KPE_FOLLOW_PID=$!
        KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $KPE_FOLLOW_PID"
}

# Waits up to $3 seconds (default 10) until NDJSON file $1 holds at least
# $2 event lines (objects with a "seq"). Returns 0 once it does.
wait_follow_events() {
        local file=$1 want=$2 timeout=${3:-10} i n
        for ((i = 0; i < timeout * 10; i++)); do
                n=$(grep -c '"seq":' "$file" 2>/dev/null)
                [ "${n:-0}" -ge "$want" ] && return 0
                sleep 0.1
        done
        return 1
}
