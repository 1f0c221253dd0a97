#!/bin/bash
# Real kprobes and a kretprobe, in a VM running Debian's cloud kernel: the
# seed's probe on __sys_connect_file, tcp_v4_connect, tcp_v6_connect, the
# errno of connect(), and a probe on a symbol no kernel has. Busybox nc makes
# real connects in the guest; from the host, curl and a real Prometheus read
# the daemon through a port forwarded to the guest.
. "$(dirname "$0")/vmlib.sh"

K=5 # nc 127.0.0.1 25: port 25 listens in the guest
R=3 # nc 127.0.0.1 26: nothing listens there, the kernel refuses
V=2 # nc ::1 25

vm_init
prom_start
cp "$VM_DIR/kprobes.yaml" "$KPE_WORK/files/"

guest_script K R V PROM_PORT <<'EOF'
# qemu's network for the guest is restricted: not even the host, where
# Prometheus listens on 127.0.0.1 (10.0.2.2 is the host, seen from the
# guest), can be reached from here.
timeout 5 nc 10.0.2.2 "$PROM_PORT" </dev/null >/tmp/host.out 2>&1
say "host-connect $?"
show host-connect /tmp/host.out

nc -ll -p 25 -e /bin/true &
daemon_start /kpe/kprobes.yaml
host_wait traffic

# A copy of the seed probe's records, for the log: the daemon's own
# instance is read by the daemon. Enabled in an instance of the test's, and
# gone before the daemon stops (an event enabled anywhere cannot be removed).
mkdir "$TRACEFS/instances/kpe_raw"
echo 1 >"$TRACEFS/instances/kpe_raw/events/kprobe_exporter/connect/enable"

connect_n 127.0.0.1 25 "$K"
connect_n 127.0.0.1 26 "$R"
connect_n ::1 25 "$V"

show kprobe_profile "$TRACEFS/kprobe_profile"
grep -v '^#' "$TRACEFS/instances/kpe_raw/trace" >/tmp/raw
show raw-trace /tmp/raw
echo 0 >"$TRACEFS/instances/kpe_raw/events/kprobe_exporter/connect/enable"
rmdir "$TRACEFS/instances/kpe_raw"
show error_log "$TRACEFS/error_log"
host_wait stop

daemon_stop TERM
show_tracefs stopped
show_daemon_log
EOF

vm_boot

log "the daemon in the guest starts; one probe is refused, the others run"
guest_at traffic
wait_healthy
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '{p["name"]: p["state"] for p in j["probes"]}')
[ "$v" = '{"connect": "registered", "tcp_v4_connect": "registered", "tcp_v6_connect": "registered", "connect_ret": "registered", "missing": "failed"}' ] ||
        fail "/probes states: $v"
# The kernel's own words, from its error_log.
v=$(json_get "$KPE_WORK/probes.json" '[p["error"] for p in j["probes"] if p["name"] == "missing"][0]')
[[ $v == *"Invalid probed address or symbol"* && $v == *"kpe_no_such_symbol"* ]] ||
        fail "/probes error of 'missing': $v"
missing_error=${v%%$'\n'*}
log "missing: $missing_error"
guest_go traffic

log "the guest connected: $K x 127.0.0.1:25, $R x 127.0.0.1:26 (refused), $V x [::1]:25"
guest_at stop
[ "$(guest_fact host-connect)" != 0 ] || fail "the guest reached the host's 127.0.0.1:$PROM_PORT: $(guest_block host-connect)"
log "guest to host: $(guest_block host-connect)"
guest_block error_log | grep -qF "$missing_error" ||
        fail "the guest's error_log does not say '$missing_error': $(guest_block error_log)"

# Every count exact: each series reaches its value (the daemon reads as the
# kernel writes), then nothing else is there.
want_metric() {
        local want=$1 v
        shift
        v=$(wait_metric "$want" "$@")
        [ "$v" = "$want" ] || fail "$* is $v, want $want"
}
want_metric "$K" connect_total comm=nc addr=127.0.0.1 port=25
want_metric "$R" connect_total comm=nc addr=127.0.0.1 port=26
want_metric "$K" tcp_v4_connect_total comm=nc addr=127.0.0.1 port=25
want_metric "$R" tcp_v4_connect_total comm=nc addr=127.0.0.1 port=26
want_metric "$V" tcp_v6_connect_total comm=nc addr=::1 port=25
# What connect() returned, as the kernel did (assert what it really does):
# 0 for the ports that listen; for the closed port the loopback's RST makes
# it fail with -111, ECONNREFUSED.
want_metric $((K + V)) connect_result_total comm=nc ret=0
want_metric "$R" connect_result_total comm=nc ret=ECONNREFUSED
fetch_ok /metrics "$KPE_WORK/metrics.txt"
v=$(grep -cE '^(connect|tcp_v4_connect|tcp_v6_connect|connect_result|missing)_total\{' "$KPE_WORK/metrics.txt")
# connect_total also has the IPv6 connects, read as IPv4 fields (type=10):
# the seed's probe has no filter, so that the kernel's hit counts compare.
[ "$v" = 8 ] || fail "$v series of our counters, want 8: $(grep -E '^[a-z0-9_]+_total\{' "$KPE_WORK/metrics.txt")"
v=$(metric_value "$KPE_WORK/metrics.txt" connect_total comm=nc addr=0.0.0.0 port=25)
[ "$v" = "$V" ] || fail "connect_total of the IPv6 connects (addr 0.0.0.0: sin6_flowinfo) is $v, want $V"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=missing)
[ "$v" = 0 ] || fail "kprobe_exporter_probe_up{probe=\"missing\"} is $v, want 0"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_parse_errors_total)
[ "$v" = 0 ] || fail "kprobe_exporter_parse_errors_total is $v, want 0"

log "the kernel's kprobe_profile agrees with the daemon's event counts"
guest_block kprobe_profile | sed 's/^/#   /'
for probe in connect:$((K + R + V)) tcp_v4_connect:$((K + R)) tcp_v6_connect:$V connect_ret:$((K + R + V)); do
        name=${probe%:*} want=${probe#*:}
        hits=$(guest_block kprobe_profile | awk -v n="$name" '$1 == n { print $2 "/" $3 }')
        events=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_events_total probe="$name")
        [ "$hits" = "$events/0" ] || fail "$name: kprobe_profile hits/misses $hits, daemon's events $events"
        [ "$events" = "$want" ] || fail "$name: $events events, want $want"
done
guest_block kprobe_profile | grep -qw missing && fail "kprobe_profile lists the refused probe 'missing'"

log "/events: the seed's probe, decoded"
python3 - "$KPE_PORT" "$K" "$V" <<'EOF' || fail "/events"
import json, sys, urllib.request

port, k, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def events(probe):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/events?probe={probe}&limit=1000", timeout=5) as r:
        return json.load(r)["events"]

seed = [e for e in events("connect") if e["fields"].get("port") == "25" and e["fields"].get("addr") == "127.0.0.1"]
if len(seed) != k:
    sys.exit(f"{len(seed)} connect events to 127.0.0.1:25, want {k}")
for e in seed:
    if e["comm"] != "nc" or e["fields"].get("type") != "2":
        sys.exit(f"connect event: {e}")
v6 = events("tcp_v6_connect")
if len(v6) != v or any(e["fields"].get("addr") != "::1" or e["fields"].get("port") != "25" for e in v6):
    sys.exit(f"tcp_v6_connect events: {v6}, want {v} to ::1 port 25")
print("# " + json.dumps(seed[0]))
print("# " + json.dumps(v6[0]))
EOF

log "Prometheus scraped the guest"
v=$(prom_wait_value 'connect_total{addr="127.0.0.1",port="25"}' "$K")
[[ $v == "$K "* ]] && [ "$(wc -l <<<"$v")" = 1 ] ||
        fail "Prometheus: connect_total{addr=\"127.0.0.1\",port=\"25\"} is '$v', want one series of $K"
log "Prometheus: $v"

log "what the kernel printed for the seed's probe"
raw=$(guest_block raw-trace | grep -c ': connect: (__sys_connect_file+0x0/0x[0-9a-f]*) type=2 port=6400 addr=16777343 comm="nc"$')
[ "$raw" = "$K" ] || fail "$raw raw records 'type=2 port=6400 addr=16777343', want $K: $(guest_block raw-trace)"
guest_block raw-trace | grep -m1 'port=6400' | sed 's/^/#   /'
guest_go stop

log "SIGTERM: the daemon leaves nothing of its own in tracefs"
vm_wait_off
[ "$(guest_fact daemon.1.exit)" = 0 ] || fail "the daemon exited with $(guest_fact daemon.1.exit) on SIGTERM"
assert_tracefs_clean stopped
log "pass"
