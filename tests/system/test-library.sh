#!/bin/bash
# The probe library (config/probes/*.yaml, installed under
# /usr/share/kprobe-exporter/probes/) on this machine's kernel, included as
# an operator would: `include: [.../probes/*.yaml]`. This kernel has no
# kprobe events, so process.yaml's exit probe (a kprobe on acct_collect)
# is unavailable with the reason, and everything else runs. Asserted with
# workloads whose counts are known:
#   tcp.yaml    python3 connects 4 times to a listener of ours on 127.0.0.1,
#               2 times on [::1], 3 times to a closed port: connects by
#               destination (IPv4 as a.b.c.d, IPv6 as ::1), 3 failures, 3
#               ECONNREFUSED socket errors, 6 accepts on the listener's
#               port, 6 outbound and 6 inbound lifetimes observed;
#   process.yaml  5 execs of a binary of ours, counted by its path;
#   block.yaml  32 direct 4 KiB reads of a loop device of ours: 32
#               requests in the latency histogram, 131072 bytes, by
#               MAJOR:MINOR and operation RS (a sync read);
#   dns.yaml    3 getaddrinfo() calls by getent for an address name of
#               ours, with their latency, result 0 (uprobes on libc.so.6
#               by symbol, $arg1 translated to this architecture's register);
# the workloads again during two unchanged reloads (counts kept, none
# lost), a probes.d file naming a field the tracepoint lacks (only that
# probe unavailable, with the file:line:column and the nearest field
# names), a reload that would make a running probe name a missing field
# (refused: it runs on), and nothing left at the end.
. "$(dirname "$0")/lib.sh"

kpe_init lib
LIB=${KPE_SOURCE_ROOT:?}/config/probes
for f in tcp process block dns; do
        [ -f "$LIB/$f.yaml" ] || fail "no $LIB/$f.yaml"
done
[ -d "$TRACEFS/events/sock/inet_sock_set_state" ] || skip "no tracepoint sock/inet_sock_set_state"
[ -d "$TRACEFS/events/block/block_rq_issue" ] || skip "no block tracepoints"
command -v losetup >/dev/null || skip "no losetup (util-linux)"
command -v getent >/dev/null || skip "no getent (libc-bin)"

mkdir -p "$KPE_WORK/conf/probes.d"
CONF="$KPE_WORK/conf/main.yaml"
printf 'include:\n  - %s/*.yaml\n  - probes.d/*.yaml\n' "$LIB" >"$CONF"

# Every file loads, and --config.check says what each probe needs here.
check=$("$KPE_BIN" --config.file="$CONF" --tracefs.instance="$KPE_NAME" --config.check 2>&1) ||
        fail "--config.check of the library failed: $check"
for f in tcp process block dns; do
        grep -qF "$LIB/$f.yaml" <<<"$check" || fail "--config.check does not list $f.yaml: $check"
done
grep -q "probe 'exit' is unavailable on this kernel: .*kprobe" <<<"$check" ||
        fail "--config.check does not say that the exit kprobe is unavailable here: $(grep exit <<<"$check")"
grep -Eq "^# libc.so.6:getaddrinfo is at file offset 0x[0-9a-f]+ of /" <<<"$check" ||
        fail "--config.check does not resolve libc.so.6:getaddrinfo: $(grep getaddrinfo <<<"$check")"
log "--config.check: the 4 files load; exit (kprobe) unavailable here; getaddrinfo resolved"

# A loop device of our own (the test's disk: nothing else reads it), set
# up before the daemon starts.
truncate -s 16M "$KPE_WORK/disk.img"
LOOP=$(losetup -f --show "$KPE_WORK/disk.img") || skip "losetup failed (no loop devices?)"
KPE_CLEANUP_FIRST="losetup -d $LOOP"
LOOP_DEV=$(cat "/sys/block/$(basename "$LOOP")/dev") || fail "no /sys/block/$(basename "$LOOP")/dev"

start_daemon "$CONF"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '" ".join(p["name"] + ":" + p["state"] for p in j["probes"])')
# In the glob's name order: block, dns, process, tcp.
want="block_issue:registered block_done:registered getaddrinfo:registered getaddrinfo_ret:registered"
want="$want exec:registered exit:unavailable oom_kill:registered"
want="$want tcp_state:registered tcp_retransmit:registered tcp_error:registered"
[ "$v" = "$want" ] || fail "/probes states: $v, want $want"
v=$(json_get "$KPE_WORK/probes.json" '[p["error"] for p in j["probes"] if p["name"] == "exit"][0]')
[[ $v == *"kprobe events"* ]] || fail "/probes error of exit: $v"
log "registered: all but exit ($v)"
# The uprobes hold this architecture's register for $arg1, at libc's offset.
group_probe_lines "$KPE_NAME" | grep -Eq "^p:$KPE_NAME/getaddrinfo /[^ ]*libc.so.6:0x[0-9a-f]+ name=\+0\(%(di|x0)\):ustring " ||
        fail "uprobe_events does not hold getaddrinfo with \$arg1 as a register: $(group_probe_lines "$KPE_NAME")"

# The workloads; each round adds the same counts.
cp /bin/true "$KPE_WORK/kpe-lib-true"
NAME="127.0.0.$((RANDOM % 200 + 20))"
start_listener 120
CLOSED=$(free_port)
workload() {
        python3 - "$LISTEN_PORT" "$CLOSED" <<'EOF' || fail "the connects failed"
import socket, sys
port, closed = int(sys.argv[1]), int(sys.argv[2])
for _ in range(4):
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
for _ in range(3):
    try:
        socket.create_connection(("127.0.0.1", closed), timeout=5).close()
        sys.exit("a connect to the closed port succeeded")
    except ConnectionRefusedError:
        pass
EOF
        for _ in 1 2 3 4 5; do
                "$KPE_WORK/kpe-lib-true" || fail "kpe-lib-true failed"
        done
        dd if="$LOOP" of=/dev/null bs=4096 count=32 iflag=direct status=none || fail "dd of $LOOP failed"
        for _ in 1 2 3; do
                getent ahosts "$NAME" >/dev/null || fail "getent ahosts $NAME failed"
        done
}
# The IPv6 connects go to a listener of their own: start_listener is IPv4.
v6_connects() {
        python3 - <<'EOF' || fail "the IPv6 connects failed"
import socket, threading
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))
s.listen(8)
port = s.getsockname()[1]
print(port)
def accept():
    for _ in range(2):
        c, _ = s.accept()
        c.close()
t = threading.Thread(target=accept)
t.start()
for _ in range(2):
    socket.create_connection(("::1", port), timeout=5).close()
t.join(10)
EOF
}

for round in 1 2; do
        if [ "$round" = 1 ]; then
                workload
        else
                # Two unchanged reloads while the second round's workload
                # runs: every probe kept, every count kept, no event of the
                # workload lost or counted twice.
                workload &
                WORKLOAD=$!
                for n in 1 2; do
                        reload_daemon
                        grep -qF 'Reloaded: 9 probe(s) kept with their counters' <<<"$KPE_RELOAD_LINE" ||
                                fail "unchanged reload $n: $KPE_RELOAD_LINE"
                done
                wait "$WORKLOAD" || fail "the workload run during the reloads failed"
        fi
        V6PORT=$(v6_connects)
        [ -n "$V6PORT" ] || fail "no IPv6 port"
        # tcp.yaml
        # Summed over comm: a tracepoint's record has no comm, and the
        # daemon reads it from /proc, where a process that has exited by
        # then is gone ("<...>"). What it read for an event of the shell's
        # child before its exec is forgotten at the exec (process.yaml's
        # exec probe): no connect of ours counts under the shell's name.
        for q in "$((4 * round)) tcp_connects_total daddr=127.0.0.1 dport=$LISTEN_PORT" \
                "$((3 * round)) tcp_connects_total daddr=127.0.0.1 dport=$CLOSED" \
                "2 tcp_connects_total daddr=::1 dport=$V6PORT" \
                "$((3 * round)) tcp_connect_failures_total daddr=127.0.0.1 dport=$CLOSED" \
                "$((4 * round)) tcp_accepts_total sport=$LISTEN_PORT" \
                "2 tcp_accepts_total sport=$V6PORT" \
                "$((4 * round)) tcp_outbound_lifetime_seconds_count dport=$LISTEN_PORT" \
                "2 tcp_outbound_lifetime_seconds_count dport=$V6PORT" \
                "$((4 * round)) tcp_inbound_lifetime_seconds_count sport=$LISTEN_PORT" \
                "2 tcp_inbound_lifetime_seconds_count sport=$V6PORT"; do
                set -- $q
                if [ "$2" = tcp_connects_total ]; then v=$(wait_metric_sum "$1" "${@:2}"); else v=$(wait_metric "$1" "${@:2}"); fi
                [ "$v" = "$1" ] || fail "round $round: ${*:2} is $v, want $1: $(curl -s "http://127.0.0.1:$KPE_PORT/metrics" | grep -E "^(tcp_|kprobe_exporter_(events|parse|lost))" | grep -v _bucket)"
        done
        fetch_ok /metrics "$KPE_WORK/metrics.txt"
        v=$(grep -E "^tcp_connects_total\{comm=\"[^\"]*\",daddr=\"[^\"]*\",dport=\"($LISTEN_PORT|$CLOSED|$V6PORT)\"\}" \
                "$KPE_WORK/metrics.txt" | grep -vE '^tcp_connects_total\{comm="(python3|<\.\.\.>)"')
        [ -z "$v" ] || fail "round $round: connects of ours under another comm than python3: $v"
        v=$(wait_metric_sum $((3 * round)) tcp_socket_errors_total error=ECONNREFUSED daddr=127.0.0.1)
        [ "$v" -ge $((3 * round)) ] || fail "round $round: tcp_socket_errors_total{error=ECONNREFUSED} is $v, want >= $((3 * round))"
        # process.yaml
        v=$(wait_metric $((5 * round)) execs_total filename="$KPE_WORK/kpe-lib-true")
        [ "$v" = $((5 * round)) ] || fail "round $round: execs_total of kpe-lib-true is $v, want $((5 * round))"
        # block.yaml
        v=$(wait_metric $((32 * round)) block_io_seconds_count dev="$LOOP_DEV" rwbs=RS)
        [ "$v" = $((32 * round)) ] || fail "round $round: block_io_seconds_count{dev=$LOOP_DEV,rwbs=RS} is $v, want $((32 * round))"
        v=$(wait_metric $((131072 * round)) block_io_bytes_total dev="$LOOP_DEV" rwbs=RS)
        [ "$v" = $((131072 * round)) ] || fail "round $round: block_io_bytes_total{dev=$LOOP_DEV,rwbs=RS} is $v, want $((131072 * round))"
        # dns.yaml
        v=$(wait_metric $((3 * round)) dns_lookups_total comm=getent name="$NAME")
        [ "$v" = $((3 * round)) ] || fail "round $round: dns_lookups_total{name=$NAME} is $v, want $((3 * round))"
        v=$(wait_metric $((3 * round)) dns_lookup_seconds_count comm=getent name="$NAME" ret=0)
        [ "$v" = $((3 * round)) ] || fail "round $round: dns_lookup_seconds_count{name=$NAME,ret=0} is $v, want $((3 * round))"
        log "round $round: connects, failures, accepts and lifetimes; execs; $((32 * round)) reads of $LOOP ($LOOP_DEV); $((3 * round)) lookups of $NAME"
done
fetch_ok /metrics "$KPE_WORK/metrics.txt"
grep -E '^(tcp_connects_total|tcp_accepts_total|block_io_seconds_count|dns_lookup_seconds_count|execs_total)\{' \
        "$KPE_WORK/metrics.txt" | grep -F -e "$LISTEN_PORT" -e "$LOOP_DEV" -e "$NAME" -e kpe-lib-true | sed 's/^/#   /'

# A probes.d file on a tracepoint whose format lacks the field it names:
# that probe is unavailable (the kernel lacks something, as a kprobe's
# missing function), the library's probes go on counting.
cat >"$KPE_WORK/conf/probes.d/typo.yaml" <<'EOF'
probes:
  - name: exit_typo
    type: tracepoint
    target: sched/sched_process_exit
    metrics:
      - name: exits_by_prio_total
        labels: [comm, prios]
EOF
reload_daemon
grep -qF 'Reloaded: 9 probe(s) kept with their counters' <<<"$KPE_RELOAD_LINE" ||
        fail "reload with typo.yaml: $KPE_RELOAD_LINE"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '[p["state"] + ": " + p["error"] for p in j["probes"] if p["name"] == "exit_typo"][0]')
want="unavailable: $KPE_WORK/conf/probes.d/typo.yaml:7:24: label 'prios' is not a field of tracepoint sched/sched_process_exit; nearest: prio"
[[ $v == "$want"* ]] || fail "exit_typo: '$v', want '$want...'"
v=$(wait_metric_sum 8 tcp_connects_total daddr=127.0.0.1 dport="$LISTEN_PORT")
[ "$v" = 8 ] || fail "tcp_connects_total after the reload with typo.yaml: $v, want 8 (kept)"
log "a new probe naming a field its tracepoint lacks is unavailable; the others kept their counts ($v)"

# A probe that runs, then a reload that would make it name a field its
# tracepoint lacks: on the same kernel that is a mistake in the config, so
# the reload is refused and the probe runs on.
fork_yaml() {
        printf 'probes:\n  - name: forks\n    type: tracepoint\n    target: sched/sched_process_fork\n    metrics:\n      - name: forks_total\n        labels: [%s]\n' \
                "$1" >"$KPE_WORK/conf/probes.d/fork.yaml"
}
fork_yaml child_comm
reload_daemon
grep -qF 'Reloaded: 9 probe(s) kept with their counters, 2 removed, 1 registered' <<<"$KPE_RELOAD_LINE" || fail "reload with fork.yaml: $KPE_RELOAD_LINE"
fork_yaml child_comn
before=$(log_count 'the running config stays')
reload_daemon
[ "$(log_count 'the running config stays')" = $((before + 1)) ] || fail "the reload naming child_comn was not refused"
grep -qF "probe 'forks', registered now, would be unavailable: $KPE_WORK/conf/probes.d/fork.yaml:7:18: label 'child_comn' is not a field of tracepoint sched/sched_process_fork; nearest: child_comm" "$KPE_ERR" ||
        fail "the refused reload does not say why: $(grep -F forks "$KPE_ERR" | tail -n 3)"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '[p["state"] for p in j["probes"] if p["name"] == "forks"][0]')
[ "$v" = registered ] || fail "forks after the refused reload: $v"
log "a reload that would make a running probe name a missing field is refused; it runs on"

stop_daemon TERM || fail "the daemon exited with $? on SIGTERM"
v=$(group_probe_lines "$KPE_NAME")
[ -z "$v" ] || fail "probes of ours left: $v"
[ ! -d "$TRACEFS/instances/$KPE_NAME" ] || fail "instance $KPE_NAME left"
log "pass"
