#!/bin/bash
# Uprobes by symbol: targets /PATH:SYMBOL resolved from the ELF file's
# symbol tables. Asserted: the seed's probe written as
# connector:kpe_connect_target registers at the offset the connector itself
# reports (--config.check prints it, uprobe_events holds it) and counts its
# 5 calls as port="25", addr="127.0.0.1"; getaddrinfo in this machine's
# libc (a stripped shared library: .dynsym only), given as
# libc.so.6:getaddrinfo (found where the dynamic linker looks) with its
# name as +0($arg1) (written as the 1st argument's register: in
# --config.check, /probes and uprobe_events), counts 3
# `getent ahosts localhost` lookups with name="localhost"; a misspelt
# symbol fails that probe alone, with the nearest name in /probes; an
# unchanged reload, twice, keeps the counters; nothing is left at the end.
. "$(dirname "$0")/lib.sh"

kpe_init usym
command -v getent >/dev/null || skip "no getent (libc-bin)"
LIBC=$(ldd "$(command -v getent)" | awk '$1 == "libc.so.6" { print $3 }')
[ -n "$LIBC" ] && LIBC=$(realpath "$LIBC") || skip "cannot find getent's libc.so.6"
REG2=$(arg2_register)
REG1=$(arg1_register)
OFF=$(connector_offset)
cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:kpe_connect_target
    fetch: [type=+0($REG2):u16, port=+2($REG2):u16, addr=+4($REG2):u32]
    decode: {port: ntohs, addr: ipv4}
    metrics:
      - name: connect_total
        labels: [comm, addr, port]
  - name: gai
    type: uprobe
    target: libc.so.6:getaddrinfo
    fetch: [host=+0(\$arg1):ustring]
    metrics:
      - name: getaddrinfo_total
        labels: [comm, host]
  - name: typo
    type: uprobe
    target: $KPE_CONNECTOR:kpe_connect_targte
EOF

check=$("$KPE_BIN" --config.file="$KPE_WORK/probes.yaml" --tracefs.instance="$KPE_NAME" --config.check 2>&1) || true
grep -qF "# $KPE_CONNECTOR:kpe_connect_target is at file offset $OFF" <<<"$check" ||
        fail "--config.check does not print the offset $OFF: $(grep -F 'offset' <<<"$check")"
grep -Eq "^# libc.so.6:getaddrinfo is at file offset 0x[0-9a-f]+ of /.*/libc.so.6$" <<<"$check" ||
        fail "--config.check does not resolve libc.so.6:getaddrinfo: $(grep -F 'getaddrinfo' <<<"$check")"
grep -q "probe 'typo' would fail: .*no function 'kpe_connect_targte'.*nearest: kpe_connect_target" <<<"$check" ||
        fail "--config.check does not say the typo would fail: $(grep typo <<<"$check")"
grep -Eq "^p:$KPE_NAME/gai /.*/libc.so.6:0x[0-9a-f]+ host=\+0\($REG1\):ustring( |$)" <<<"$check" ||
        fail "--config.check does not write \$arg1 as $REG1: $(grep -F 'p:' <<<"$check")"
log "--config.check: kpe_connect_target at $OFF (as the connector says), typo would fail with the nearest name, \$arg1 is $REG1"

start_daemon "$KPE_WORK/probes.yaml"
# The kernel prints the offset with leading zeros.
group_probe_lines "$KPE_NAME" | grep -q "^p:$KPE_NAME/connect $KPE_CONNECTOR:0x0*${OFF#0x} " ||
        fail "uprobe_events does not hold connect at $OFF: $(group_probe_lines "$KPE_NAME")"
group_probe_lines "$KPE_NAME" | grep -q "^p:$KPE_NAME/gai /.*/libc.so.6:0x[0-9a-f]* " ||
        fail "uprobe_events does not hold gai on libc by path: $(group_probe_lines "$KPE_NAME")"
# The kernel has no $argN for uprobes: the daemon wrote the register.
group_probe_lines "$KPE_NAME" | grep -Eq "^p:$KPE_NAME/gai .* host=\+0\($REG1\):ustring( |$)" ||
        fail "uprobe_events does not hold gai's \$arg1 as $REG1: $(group_probe_lines "$KPE_NAME")"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" '[p["state"] for p in j["probes"]]')
[ "$v" = '["registered", "registered", "failed"]' ] || fail "/probes states: $v"
v=$(json_get "$KPE_WORK/probes.json" '[p["definition"] for p in j["probes"] if p["name"] == "gai"][0]')
grep -Eq " host=\+0\($REG1\):ustring( |$)" <<<"$v" || fail "/probes' definition of gai: $v"
v=$(json_get "$KPE_WORK/probes.json" '[p["error"] for p in j["probes"] if p["name"] == "typo"][0]')
grep -q "nearest: kpe_connect_target" <<<"$v" || fail "the typo's error names no nearest function: $v"
for round in 1 2; do
        "$KPE_CONNECTOR" call 5 || fail "connector call failed"
        for ((i = 0; i < 3; i++)); do getent ahosts localhost >/dev/null || fail "getent ahosts localhost failed"; done
        v=$(wait_metric $((5 * round)) connect_total comm=connector addr=127.0.0.1 port=25)
        [ "$v" = $((5 * round)) ] || fail "round $round: connect_total is $v, want $((5 * round))"
        v=$(wait_metric $((3 * round)) getaddrinfo_total comm=getent host=localhost)
        [ "$v" = $((3 * round)) ] || fail "round $round: getaddrinfo_total{comm=getent,host=localhost} is $v, want $((3 * round))"
        reload_daemon
        # The failed one is tried again (and fails again): out and in.
        grep -qF 'Reloaded: 2 probe(s) kept with their counters, 1 removed, 0 registered' <<<"$KPE_RELOAD_LINE" ||
                fail "round $round: reload: $KPE_RELOAD_LINE"
done
log "by symbol: connect_total 10 and getaddrinfo_total{host=localhost} 6 over two rounds, a reload after each"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
