#!/bin/bash
# Faults from outside the daemon (issue 5, "Robustness"): someone removing
# our tracefs instance under us, a config where half of 200 probes fail,
# and hostile HTTP clients (one silent, one with 1 MB of headers, one
# following /events that never reads) while a flood of events comes in.
# Through all of it the daemon stays up, answers, counts exactly, and its
# memory stays bounded.
. "$(dirname "$0")/lib.sh"

kpe_init robust
OFF=$(connector_offset)
RSS_LIMIT_KB=$((64 * 1024))

# The daemon's resident set in kB, from /proc (0 if it is gone).
daemon_rss_kb() {
        awk '$1 == "VmRSS:" { print $2; found = 1 } END { if (!found) print 0 }' \
                "/proc/$KPE_PID/status" 2>/dev/null || echo 0
}

# Fails unless the daemon runs and answers /healthz and /metrics at once.
# $1: when (for the message).
assert_answers() {
        local code
        pid_alive "$KPE_PID" || fail "$1: the daemon is gone"
        code=$(http_get /healthz "$KPE_WORK/healthz.out") || fail "$1: GET /healthz: curl failed"
        [ "$code" = 200 ] || fail "$1: /healthz answered $code"
        code=$(http_get /metrics "$KPE_WORK/metrics.now") || fail "$1: GET /metrics: curl failed"
        [ "$code" = 200 ] || fail "$1: /metrics answered $code"
}

# ---------------------------------------------------------------------------
log "1. rmdir of our instance under the running daemon"
cat >"$KPE_WORK/one.yaml" <<EOF
probes:
  - name: hit
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    metrics:
      - name: hit_total
EOF
start_daemon "$KPE_WORK/one.yaml"
[ -d "$TRACEFS/instances/$KPE_NAME" ] || fail "instance $KPE_NAME was not created"
"$KPE_CONNECTOR" call 3 || fail "connector call failed"
v=$(wait_metric 3 hit_total)
[ "$v" = 3 ] || fail "hit_total is $v before the rmdir, want 3"

err=$(rmdir "$TRACEFS/instances/$KPE_NAME" 2>&1) &&
        fail "the kernel let rmdir instances/$KPE_NAME succeed while the daemon reads its trace_pipe"
log "rmdir refused: ${err##*: }"
case "$err" in
*"busy"*) ;;
*) fail "rmdir instances/$KPE_NAME failed, but not with EBUSY: $err" ;;
esac
[ -d "$TRACEFS/instances/$KPE_NAME" ] || fail "instance $KPE_NAME is gone after a refused rmdir"
assert_answers "after the refused rmdir"
"$KPE_CONNECTOR" call 5 || fail "connector call failed"
v=$(wait_metric 8 hit_total)
[ "$v" = 8 ] || fail "hit_total is $v after the refused rmdir and 5 more calls, want 8"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "test 1, after SIGTERM"

# ---------------------------------------------------------------------------
log "2. 200 probes, 100 of them failing"
t0=$(date +%s.%N)
{
        echo "probes:"
        for ((i = 0; i < 100; i++)); do
                cat <<EOF
  - name: good$i
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    metrics:
      - name: good${i}_total
  - name: bad$i
    type: uprobe
    target: /nonexistent/bin:0x10
EOF
        done
} >"$KPE_WORK/many.yaml"
start_daemon "$KPE_WORK/many.yaml"
t1=$(date +%s.%N)
log "200 probes up in $(python3 -c "print(f'{$t1 - $t0:.2f}')") s"
fetch_ok /probes "$KPE_WORK/probes.json"
python3 - "$KPE_WORK/probes.json" <<'EOF' || fail "/probes with 100 good and 100 bad probes"
import json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
probes = {p["name"]: p for p in j["probes"]}
if len(probes) != 200:
    sys.exit(f"/probes lists {len(probes)} probes, want 200")
bad = []
for i in range(100):
    g, b = probes.get(f"good{i}"), probes.get(f"bad{i}")
    if not g or g["state"] != "registered":
        bad.append(f"good{i}: {g and g['state']}")
    if not b or b["state"] != "failed" or not b.get("error"):
        bad.append(f"bad{i}: {b and (b['state'], b.get('error'))}")
if bad:
    sys.exit("; ".join(bad[:10]))
print("# /probes: 100 registered, 100 failed; e.g. bad0:", probes["bad0"]["error"].splitlines()[0])
EOF
n=$(group_probe_lines "$KPE_NAME" | wc -l)
[ "$n" = 100 ] || fail "$n probe lines of group $KPE_NAME in uprobe_events, want 100"

"$KPE_CONNECTOR" call 7 || fail "connector call failed"
v=$(wait_metric 7 good99_total)
[ "$v" = 7 ] || fail "good99_total is $v, want 7"
python3 - "$KPE_WORK/metrics.txt" <<'EOF' || fail "/metrics with 100 good and 100 bad probes"
import re, sys
vals = {}
for line in open(sys.argv[1], encoding="utf-8"):
    m = re.match(r'^(\S+?)(\{[^}]*\})?\s+(\S+)$', line.strip())
    if m and not line.startswith("#"):
        vals[(m.group(1), m.group(2) or "")] = m.group(3)
bad = []
for i in range(100):
    want = {("good%d_total" % i, ""): "7",
            ("kprobe_exporter_probe_up", '{probe="good%d"}' % i): "1",
            ("kprobe_exporter_probe_up", '{probe="bad%d"}' % i): "0"}
    for k, w in want.items():
        if vals.get(k) != w:
            bad.append(f"{k[0]}{k[1]} = {vals.get(k)}, want {w}")
if bad:
    sys.exit(f"{len(bad)} wrong series, e.g.: " + "; ".join(bad[:5]))
EOF
assert_answers "with 100 failed probes"
t2=$(date +%s.%N)
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
t3=$(date +%s.%N)
log "SIGTERM with 100 probes registered took $(python3 -c "print(f'{$t3 - $t2:.2f}')") s"
assert_no_leftovers "test 2, after SIGTERM"

# ---------------------------------------------------------------------------
log "3. hostile HTTP clients during a flood of events"
CALLS=20000
cat >"$KPE_WORK/flood.yaml" <<EOF
recent_events: 1000
probes:
  - name: flood
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    metrics:
      - name: flood_total
EOF
start_daemon "$KPE_WORK/flood.yaml"
log "RSS at start: $(daemon_rss_kb) kB"

# The clients run in one helper: a silent connection held ~3 s, then 1 MB
# of headers, while a follow stream stays open and is never read. It
# writes its findings to clients.out and keeps the follow socket open
# until the file "release" exists (bounded: 60 s).
python3 - "$KPE_PORT" "$KPE_WORK" >"$KPE_WORK/clients.out" 2>&1 <<'EOF' &
import os, socket, sys, time

port, work = int(sys.argv[1]), sys.argv[2]

def say(msg):
    print(msg, flush=True)

# A follow stream whose reader never reads: a tiny receive buffer, so the
# kernel's socket buffers fill and the daemon has to hold back.
follow = socket.socket()
follow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
follow.connect(("127.0.0.1", port))
follow.sendall(b"GET /events?follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
open(os.path.join(work, "follow.ready"), "w").close()
say("follow: connected, never reading")

# A client that connects and sends nothing, held ~3 s while the others run.
silent = socket.socket()
silent.connect(("127.0.0.1", port))
silent_since = time.monotonic()
say("silent: connected")

# 1 MB of headers.
big = socket.create_connection(("127.0.0.1", port), timeout=10)
head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
sent, closed_early = 0, False
try:
    big.sendall(head)
    while sent < 1024 * 1024:
        big.sendall(line)
        sent += len(line)
    big.sendall(b"\r\n")
except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
    closed_early = True
    say(f"big: daemon closed while sending after {sent} bytes ({type(e).__name__})")
answer = b""
try:
    while len(answer) < 65536:
        chunk = big.recv(65536)
        if not chunk:
            break
        answer += chunk
except (ConnectionResetError, socket.timeout) as e:
    say(f"big: {type(e).__name__} while reading the answer")
status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "(connection closed, no answer)"
say(f"big: sent {sent} header bytes; answer: {status}")
if answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.0 200"):
    say("big: FAILED: 1 MB of headers was accepted")
    sys.exit(1)
big.close()

# The silent one: the daemon may have closed it (a timeout), or not yet.
time.sleep(max(0.0, 3.0 - (time.monotonic() - silent_since)))
silent.setblocking(False)
try:
    data = silent.recv(100)
    say("silent: closed by the daemon" if data == b"" else f"silent: got {data!r}")
except BlockingIOError:
    say("silent: still open after ~3 s")
silent.close()

for _ in range(600):
    if os.path.exists(os.path.join(work, "release")):
        break
    time.sleep(0.1)
# Peek (the bytes stay queued) to show the stream was answered, and was
# not simply refused.
follow.settimeout(5)
try:
    first = follow.recv(64, socket.MSG_PEEK)
except socket.timeout:
    first = b""
status = first.split(b"\r\n", 1)[0].decode("latin-1")
say(f"follow: answer {status!r}")
if not status.startswith("HTTP/1.1 200"):
    say("follow: FAILED: the follow stream was not answered 200")
    sys.exit(1)
follow.close()
say("follow: closed")
EOF
CLIENTS_PID=$!
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $CLIENTS_PID"
for ((i = 0; i < 50; i++)); do
        [ -e "$KPE_WORK/follow.ready" ] && break
        sleep 0.1
done
[ -e "$KPE_WORK/follow.ready" ] || fail "the follow client did not connect"

t0=$(date +%s.%N)
"$KPE_CONNECTOR" call "$CALLS" &
CONN_PID=$!
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $CONN_PID"
# While the flood and the hostile clients run: the daemon answers from a
# connection of its own, and its memory stays bounded.
max_rss=0
for ((i = 0; i < 100; i++)); do
        assert_answers "during the flood (check $i)"
        rss=$(daemon_rss_kb)
        [ "$rss" -gt "$max_rss" ] && max_rss=$rss
        [ "$rss" -le "$RSS_LIMIT_KB" ] || fail "daemon RSS is $rss kB during the flood, limit $RSS_LIMIT_KB kB"
        pid_alive "$CONN_PID" || pid_alive "$CLIENTS_PID" || break
        # Keep the follow stream open until the flood is over.
        pid_alive "$CONN_PID" || touch "$KPE_WORK/release"
        sleep 0.1
done
wait "$CONN_PID" || fail "connector call $CALLS failed"
t1=$(date +%s.%N)
log "connector call $CALLS took $(python3 -c "print(f'{$t1 - $t0:.2f}')") s"
touch "$KPE_WORK/release"
wait_pid_gone 20 "$CLIENTS_PID" || fail "the HTTP client helper did not finish"
wait "$CLIENTS_PID"
crc=$?
sed 's/^/# /' "$KPE_WORK/clients.out"
[ $crc = 0 ] || fail "the HTTP client helper failed (status $crc)"

v=$(wait_metric "$CALLS" flood_total)
t2=$(date +%s.%N)
log "all $CALLS counted $(python3 -c "print(f'{$t2 - $t1:.2f}')") s after the calls ended"
[ "$v" = "$CALLS" ] || {
        grep -E '^kprobe_exporter_' "$KPE_WORK/metrics.txt" >&2
        fail "flood_total is $v, want $CALLS"
}
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe=flood)
[ "$v" = "$CALLS" ] || fail "kprobe_exporter_events_total{probe=\"flood\"} is $v, want $CALLS"
for m in kprobe_exporter_parse_errors_total kprobe_exporter_lost_events_total; do
        v=$(metric_value "$KPE_WORK/metrics.txt" $m)
        [ "$v" = 0 ] || fail "$m is $v, want 0"
done
rss=$(daemon_rss_kb)
[ "$rss" -gt "$max_rss" ] && max_rss=$rss
log "daemon RSS: highest seen $max_rss kB, now $rss kB (limit $RSS_LIMIT_KB kB)"
[ "$rss" -le "$RSS_LIMIT_KB" ] || fail "daemon RSS is $rss kB after the flood, limit $RSS_LIMIT_KB kB"
assert_answers "after the flood"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "test 3, after SIGTERM"
log "pass"
