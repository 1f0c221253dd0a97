# Helpers for the guest half of a VM test (busybox sh; sourced by /init
# before the test's /kpe/guest.sh). The guest does and shows; the host test
# judges. What the host reads from the serial console:
#   KPE: <key> <value...>        one fact per line (say)
#   KPE-BEGIN <name> ... KPE-END <name>   a file as it was (show)
# Every wait here is bounded.

# shellcheck shell=dash

TRACEFS=/sys/kernel/tracing # the daemon uses its default name, kprobe_exporter
DAEMON_PORT=9417            # the host forwards a port of its 127.0.0.1 here
CTL_PORT=7000               # and one here, for host_wait
DPID=""
WATCHER=""
RUNS=0

say() {
        echo "KPE: $*"
}

show() {
        echo "KPE-BEGIN $1"
        cat "$2"
        # A file without a final newline (an HTTP body) still ends its block.
        [ -z "$(tail -c 1 "$2")" ] || echo
        echo "KPE-END $1"
}

die() {
        say "guest-failed $*"
        exit 1
}

# Waits (at most 60 s) until the host test reaches step $1: the guest
# listens on CTL_PORT, sends the step's name, and the host, once done with
# what comes before, connects and answers the same name.
host_wait() {
        say "waiting $1"
        echo "$1" | timeout 60 nc -l -p "$CTL_PORT" >/tmp/ctl.out 2>&1
        [ "$(cat /tmp/ctl.out)" = "$1" ] || die "host_wait $1: the host said '$(cat /tmp/ctl.out)'"
}

# Starts the daemon with config $1, its HTTP on every address of the guest
# (the host's forwarded connections arrive at 10.0.2.15). Its stderr goes
# to /tmp/daemon.N.err; show_daemon_log prints it, and so does a watcher if
# the daemon ends before daemon_stop (the host would only see it time out).
daemon_start() {
        RUNS=$((RUNS + 1))
        kprobe-exporter --config.file="$1" --web.listen-address=":$DAEMON_PORT" 2>"/tmp/daemon.$RUNS.err" &
        DPID=$!
        say "daemon.$RUNS.started"
        (
                while :; do
                        st=$(proc_state "$DPID")
                        [ -z "$st" ] || [ "$st" = Z ] && break
                        sleep 0.2
                done
                say "daemon.$RUNS.died"
                show "daemon.$RUNS.err" "/tmp/daemon.$RUNS.err"
        ) &
        WATCHER=$!
}

# Waits (at most $2 seconds) until the daemon whose stderr is file $1 says
# that it registered its probes (read without a connect); false if not.
wait_registered() {
        local i=0
        while ! grep -q 'probes registered in' "$1" 2>/dev/null; do
                [ $i -lt $(($2 * 10)) ] || return 1
                sleep 0.1
                i=$((i + 1))
        done
}

# Sends SIGHUP to process $1 and waits (at most 10 s) until its stderr,
# file $2, has $3 "Reloaded" lines; false if not.
reload_wait() {
        local i=0
        kill -HUP "$1"
        while [ "$(grep -c '^<6>Reloaded' "$2")" -lt "$3" ]; do
                [ $i -lt 100 ] || return 1
                sleep 0.1
                i=$((i + 1))
        done
}

# The state of process $1 ("" when it is gone; Z for a zombie).
proc_state() {
        sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1
}

# Sends signal $1 to the daemon, waits at most 10 s for it to exit (then
# kills it) and says its exit status: daemon.N.exit <status>.
daemon_stop() {
        local i=0 st
        kill "$WATCHER"
        wait "$WATCHER"
        kill "-$1" "$DPID"
        while :; do
                st=$(proc_state "$DPID")
                [ -z "$st" ] || [ "$st" = Z ] && break
                if [ $i -ge 100 ]; then
                        say "daemon-stuck $1"
                        kill -KILL "$DPID"
                        break
                fi
                sleep 0.1
                i=$((i + 1))
        done
        wait "$DPID"
        say "daemon.$RUNS.exit $?"
        DPID=""
}

show_daemon_log() {
        local i=1
        while [ $i -le $RUNS ]; do
                show "daemon.$i.err" "/tmp/daemon.$i.err"
                i=$((i + 1))
        done
}

# What of tracefs is ours or could be: every probe line, every instance.
show_tracefs() {
        show "kprobe_events.$1" "$TRACEFS/kprobe_events"
        ls "$TRACEFS/instances" >/tmp/instances
        show "instances.$1" /tmp/instances
}

# Connects to $1 port $2 with busybox nc, $3 times, one connection at a
# time. nc reads its stdin (empty) and returns when the peer closes, or at
# once when the port refuses; its exit status is not ours to judge here.
connect_n() {
        local i=0
        while [ $i -lt "$3" ]; do
                timeout 5 nc "$1" "$2" </dev/null >/dev/null 2>&1
                i=$((i + 1))
        done
}
