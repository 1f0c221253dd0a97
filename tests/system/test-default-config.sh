#!/bin/bash
# The shipped config/probes.yaml, as the README's quick start runs it: the
# daemon starts, its tracepoint probe counts real TCP connects, and each
# kprobe is either registered (kernel with kprobe events) or reported
# unavailable with the reason (kernel without them, like our CI machines).
. "$(dirname "$0")/lib.sh"

kpe_init dflt
CONFIG="$KPE_SOURCE_ROOT/config/probes.yaml"
[ -r "$CONFIG" ] || fail "no $CONFIG"

# --config.check touches nothing and shows the exact lines.
tracefs_snapshot >"$KPE_WORK/before"
run_daemon --config.file="$CONFIG" --config.check --tracefs.instance="$KPE_NAME" ||
        fail "--config.check of the shipped config failed: $(cat "$KPE_WORK/run.err")"
grep -qF "p:$KPE_NAME/connect __sys_connect_file family=+0(\$arg2):u16 port=+2(\$arg2):u16 addr=+4(\$arg2):u32" "$KPE_WORK/run.out" ||
        fail "--config.check did not print the connect kprobe: $(cat "$KPE_WORK/run.out")"
grep -qF "r:$KPE_NAME/connect_ret __sys_connect_file ret=\$retval:s32" "$KPE_WORK/run.out" ||
        fail "--config.check did not print the kretprobe: $(cat "$KPE_WORK/run.out")"
# It shows what the kernel supports, as read from tracefs.
grep -qxF "# kernel $(uname -r) ($(uname -m))" "$KPE_WORK/run.out" ||
        fail "--config.check did not name the kernel: $(head -n 3 "$KPE_WORK/run.out")"
want_kprobes=no
[ -e "$TRACEFS/kprobe_events" ] && want_kprobes=yes
grep -qE "^# kernel feature kprobe_events +$want_kprobes " "$KPE_WORK/run.out" ||
        fail "--config.check: kprobe_events is not '$want_kprobes': $(grep kprobe_events "$KPE_WORK/run.out")"
if [ $want_kprobes = no ]; then
        grep -qF "warning: probe 'connect' is unavailable on this kernel: kernel built without kprobe events" "$KPE_WORK/run.err" ||
                fail "--config.check did not warn about the connect kprobe: $(cat "$KPE_WORK/run.err")"
fi
# Not root: tracefs cannot be read, so what the kernel has is unknown, and
# unknown refuses nothing, even with strict set.
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
        chmod 711 "$KPE_WORK"
        sed 's/^strict: false/strict: true/' "$CONFIG" >"$KPE_WORK/strict.yaml"
        chmod 644 "$KPE_WORK/strict.yaml"
        grep -q '^strict: true' "$KPE_WORK/strict.yaml" || fail "the shipped config has no 'strict: false' line to flip"
        setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
                "$KPE_BIN" --config.file="$KPE_WORK/strict.yaml" --config.check >"$KPE_WORK/nobody.out" 2>"$KPE_WORK/nobody.err" ||
                fail "--config.check as nobody with strict failed: $(cat "$KPE_WORK/nobody.err")"
        grep -qE '^# kernel feature kprobe_events +unknown ' "$KPE_WORK/nobody.out" ||
                fail "as nobody, kprobe_events is not unknown: $(grep kprobe_events "$KPE_WORK/nobody.out")"
else
        log "no setpriv or no user nobody: --config.check as non-root not tried"
fi
tracefs_snapshot >"$KPE_WORK/after"
assert_snapshot_same "$KPE_WORK/before" "$KPE_WORK/after" "--config.check"

start_daemon "$CONFIG"

fetch_ok /metrics "$KPE_WORK/metrics.txt"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_kernel_feature feature=kprobe_events)
[ "$v" = "$([ $want_kprobes = yes ] && echo 1 || echo 0)" ] || fail "kprobe_exporter_kernel_feature{feature=\"kprobe_events\"} is $v"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_kernel_info release="$(uname -r)" machine="$(uname -m)")
[ "$v" = 1 ] || fail "kprobe_exporter_kernel_info for $(uname -r) $(uname -m) is $v"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" 'j["kernel"]["release"] + " " + str(j["kernel"]["features"]["kprobe_events"]).lower()')
[ "$v" = "$(uname -r) $([ $want_kprobes = yes ] && echo true || echo false)" ] || fail "/probes kernel: $v"

fetch_ok /probes "$KPE_WORK/probes.json"
state=$(json_get "$KPE_WORK/probes.json" '[p["state"] for p in j["probes"] if p["name"] == "tcp_connect"][0]')
[ "$state" = registered ] || fail "tcp_connect is $state, want registered"
for probe in connect connect_ret; do
        state=$(json_get "$KPE_WORK/probes.json" "[p['state'] for p in j['probes'] if p['name'] == '$probe'][0]")
        err=$(json_get "$KPE_WORK/probes.json" "[p['error'] for p in j['probes'] if p['name'] == '$probe'][0]")
        if [ -e "$TRACEFS/kprobe_events" ]; then
                [ "$state" = registered ] || fail "$probe is $state ($err) on a kernel with kprobe_events"
        else
                [ "$state" = unavailable ] || fail "$probe is $state on a kernel without kprobe_events"
                [[ $err == *"kernel built without kprobe events"*"$(uname -r)"* ]] ||
                        fail "$probe: '$err', want the reason 'kernel built without kprobe events' and the kernel"
                log "$probe: unavailable as expected: $err"
        fi
done

# Real TCP connects, to a port where nothing listens: they still enter
# SYN_SENT (connector goes on after each refusal and exits 2).
PORT=$(free_port)
"$KPE_CONNECTOR" tcp 3 "$PORT" 2>/dev/null
v=$(wait_metric_sum 3 tcp_connect_total family=AF_INET daddr=127.0.0.1 daddrv6=::ffff:127.0.0.1 dport="$PORT")
if [ "$v" != 3 ]; then
        grep -E '^tcp_connect_total' "$KPE_WORK/metrics.txt" >&2
        fail "tcp_connect_total to 127.0.0.1:$PORT sums to $v, want 3"
fi
log "comm of the connects: $(grep -E "^tcp_connect_total.*dport=\"$PORT\"" "$KPE_WORK/metrics.txt" | sed 's/.*comm="\([^"]*\)".*} \(.*\)/\1=\2/' | tr '\n' ' ')"

# The shipped latency histogram: those refused connects, entry to exit
# (by ret only: a tracepoint's comm of a process that exited at once may be
# "<...>", and other processes may connect meanwhile, so at least 3).
v=0
for ((i = 0; i < 50; i++)); do
        http_get /metrics "$KPE_WORK/metrics.txt" >/dev/null
        v=$(metric_sum "$KPE_WORK/metrics.txt" connect_duration_seconds_count ret=ECONNREFUSED)
        [ "$v" != absent ] && [ "$v" -ge 3 ] && break
        sleep 0.2
done
[ "$v" != absent ] && [ "$v" -ge 3 ] || fail "connect_duration_seconds_count{ret=ECONNREFUSED} sums to $v, want at least 3"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_unmatched_total metric=connect_duration_seconds reason=no_entry)
[ "$v" = 0 ] || fail "kprobe_exporter_unmatched_total{reason=no_entry} is $v, want 0"
log "connect_duration_seconds: $(grep -E '^connect_duration_seconds_count.*ECONNREFUSED' "$KPE_WORK/metrics.txt" | tr '\n' ' ')"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
