#!/bin/bash
# A latency between two kinds of events of one tracepoint: the lifetime
# of outgoing TCP connections, from sock/inet_sock_set_state entering
# TCP_ESTABLISHED to the same 4-tuple entering TCP_CLOSE (start: and end:
# conditions on the one probe; the kernel has one such event per
# instance). Asserted, over real connections to a listener of ours held
# open 0.3 s, 0.3 s and 1.5 s, twice (the second time with a reload while
# they are open): _count 3 then 6, two in (0.1, 1] and
# one in (1, 10] per round, _sum within the sleeps' bounds; a connect to a
# closed port (SYN_SENT -> CLOSE, never ESTABLISHED) is counted as
# unmatched (no_entry), not observed.
. "$(dirname "$0")/lib.sh"

kpe_init tcplife
[ -d "$TRACEFS/events/sock/inet_sock_set_state" ] ||
        skip "no tracepoint sock/inet_sock_set_state in $TRACEFS/events"
PORT=$(free_port)
CLOSED=$(free_port)
cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: tcp_state
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: protocol == 6 && (dport == $PORT || dport == $CLOSED)
    metrics:
      - name: tcp_lifetime_seconds
        type: histogram
        latency_from: tcp_state
        start: {newstate: TCP_ESTABLISHED}
        end: {newstate: TCP_CLOSE}
        match: [sport, dport, saddrv6, daddrv6]
        buckets: [0.1, 1, 10]
        labels: [dport]
EOF
start_daemon "$KPE_WORK/probes.yaml"

# A listener that accepts and keeps each connection until its client closes
# it; bounded life.
python3 - "$PORT" <<'EOF' &
import socket, sys, threading, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
s.settimeout(60)
def drain(c):
    c.settimeout(30)
    try:
        while c.recv(1024):
            pass
    except OSError:
        pass
    c.close()
deadline = time.time() + 60
while time.time() < deadline:
    try:
        c, _ = s.accept()
    except OSError:
        break
    threading.Thread(target=drain, args=(c,), daemon=True).start()
EOF
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $!"
sleep 0.3

for round in 1 2; do
        python3 - "$PORT" "$CLOSED" <<'EOF' &
import socket, sys, threading, time
port, closed = int(sys.argv[1]), int(sys.argv[2])
def hold(secs):
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    time.sleep(secs)
    c.close()
ts = [threading.Thread(target=hold, args=(d,)) for d in (0.3, 0.3, 1.5)]
for t in ts:
    t.start()
for t in ts:
    t.join()
try:
    socket.create_connection(("127.0.0.1", closed), timeout=5)
    sys.exit("a connect to the closed port succeeded")
except ConnectionRefusedError:
    pass
EOF
        client=$!
        # Round 2 reloads (unchanged) while its connections are open: their
        # starts wait in the pending table the new pipeline takes over.
        if [ "$round" = 2 ]; then
                sleep 0.15
                reload_daemon
                grep -qF 'Reloaded: 1 probe(s) kept with their counters' <<<"$KPE_RELOAD_LINE" ||
                        fail "round 2: reload: $KPE_RELOAD_LINE"
        fi
        wait "$client" || fail "round $round: the client failed"
        v=$(wait_metric $((3 * round)) tcp_lifetime_seconds_count dport="$PORT")
        [ "$v" = $((3 * round)) ] || fail "round $round: tcp_lifetime_seconds_count is $v, want $((3 * round))"
        for b in "0.1:0" "1:$((2 * round))" "10:$((3 * round))"; do
                v=$(metric_value "$KPE_WORK/metrics.txt" tcp_lifetime_seconds_bucket dport="$PORT" le="${b%%:*}")
                [ "$v" = "${b##*:}" ] || fail "round $round: bucket le=${b%%:*} is $v, want ${b##*:}"
        done
        v=$(metric_value "$KPE_WORK/metrics.txt" tcp_lifetime_seconds_sum dport="$PORT")
        python3 -c "import sys; s = float(sys.argv[1]); sys.exit(0 if $((round)) * 2.1 <= s <= $((round)) * 3.5 else 1)" "$v" ||
                fail "round $round: tcp_lifetime_seconds_sum is $v, want $((round)) x 2.1 to 3.5 s"
        v=$(wait_metric "$round" kprobe_exporter_unmatched_total metric=tcp_lifetime_seconds reason=no_entry)
        [ "$v" = "$round" ] || fail "round $round: unmatched no_entry is $v, want $round (the refused connect)"
        log "round $round: 3 connections held 0.3, 0.3, 1.5 s: buckets 0/$((2 * round))/$((3 * round)), sum $(metric_value "$KPE_WORK/metrics.txt" tcp_lifetime_seconds_sum dport="$PORT") s; the refused connect unmatched"
done

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
