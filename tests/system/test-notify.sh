#!/bin/bash
# The systemd notify protocol, as a Type=notify service sees it, with a
# socket of our own as NOTIFY_SOCKET: READY=1 once probes are registered and
# HTTP listens, STATUS= lines, watchdog pings when WATCHDOG_USEC is set,
# RELOADING=1 with MONOTONIC_USEC= then READY=1 on SIGHUP, STOPPING=1 on
# SIGTERM.
. "$(dirname "$0")/lib.sh"

kpe_init notify
connector_config "$KPE_WORK/probes.yaml"

# A datagram socket that writes each message it gets, one per line, for
# at most 30 s.
python3 - "$KPE_WORK/notify.sock" "$KPE_WORK/notify.log" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.2)
deadline = time.time() + 30
with open(sys.argv[2], "w") as log:
    while time.time() < deadline:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        log.write(msg.replace("\n", "|") + "\n")
        log.flush()
EOF
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $!"
for ((i = 0; i < 50; i++)); do
        [ -S "$KPE_WORK/notify.sock" ] && break
        sleep 0.1
done

# The watchdog at 1 s: sd-event pings at half of it.
NOTIFY_SOCKET="$KPE_WORK/notify.sock" WATCHDOG_USEC=1000000 start_daemon "$KPE_WORK/probes.yaml"

wait_for() { # $1: an extended regex a line of the log must match
        local i
        for ((i = 0; i < 50; i++)); do
                grep -qE "$1" "$KPE_WORK/notify.log" && return 0
                sleep 0.1
        done
        fail "no notify message matching '$1'; got: $(cat "$KPE_WORK/notify.log")"
}
wait_for '^READY=1$'
wait_for '^STATUS=1/1 probes registered, [0-9]+ events, [0-9]+ lost$'
sleep 1.2
n=$(grep -c '^WATCHDOG=1$' "$KPE_WORK/notify.log")
[ "$n" -ge 2 ] || fail "$n watchdog pings in over a second with WATCHDOG_USEC=1000000, want >= 2"
log "$n watchdog pings"

kill -HUP "$KPE_PID"
wait_for '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$'
# READY=1 follows once the reload is done (a datagram of its own, which
# may come a moment later): at most 5 s.
for ((i = 0; i < 50; i++)); do
        ready_after=$(awk '/^RELOADING=1/ { r = 1; next } r && /^READY=1$/ { found = 1 } END { if (found) print "yes" }' "$KPE_WORK/notify.log")
        [ "$ready_after" = yes ] && break
        sleep 0.1
done
[ "$ready_after" = yes ] || fail "no READY=1 after RELOADING=1: $(cat "$KPE_WORK/notify.log")"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
wait_for '^STOPPING=1$'
assert_no_leftovers "after SIGTERM"
log "pass"
