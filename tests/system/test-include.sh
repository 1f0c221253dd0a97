#!/bin/bash
# include: a config whose probes come partly from files it includes
# (probes.d/*.yaml, relative to it). Asserted: the included probe runs and
# counts (a uprobe on the connector's note function: 2 calls, 2 counted);
# SIGHUP re-reads the included files: a file added to probes.d brings its
# probe (registered, counting) while the others keep their counters; an
# included file with an error is reported at its own file:line:column and
# changes nothing (the probes and counters stay); removing the file removes
# its probe from the kernel; an unchanged reload, twice, keeps everything;
# at the end nothing of ours is left.
. "$(dirname "$0")/lib.sh"

kpe_init incl
mkdir -p "$KPE_WORK/conf/probes.d"
CONF="$KPE_WORK/conf/main.yaml"
D="$KPE_WORK/conf/probes.d"
printf 'include:\n  - probes.d/*.yaml\nprobes:\n%s\n' "$(seed_probe_yaml)" >"$CONF"
printf '# the connector'"'"'s notes\nprobes:\n%s\n    metrics:\n      - name: note_total\n        labels: [comm]\n' \
        "$(note_probe_yaml)" >"$D/note.yaml"

start_daemon "$CONF"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" 'str(sorted((p["name"], p["state"], p.get("config_file", "-")) for p in j["probes"]))')
want="[('connect', 'registered', '-'), ('note', 'registered', '$D/note.yaml')]"
[ "$v" = "$want" ] || fail "/probes after start: $v, want $want"
"$KPE_CONNECTOR" call 3 || fail "connector call failed"
"$KPE_CONNECTOR" note one two || fail "connector note failed"
v=$(wait_metric 3 connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = 3 ] || fail "connect_total is $v, want 3"
v=$(wait_metric 2 note_total comm=connector)
[ "$v" = 2 ] || fail "note_total of the included probe is $v, want 2"
log "started: connect (the config's own) and note (probes.d/note.yaml) both count"

# A file added to probes.d: SIGHUP brings its probe.
OFF_SLEEP=$("$KPE_CONNECTOR" offset sleep) || fail "connector offset sleep failed"
printf 'probes:\n  - name: sleeper\n    type: uprobe\n    target: %s:%s\n    metrics:\n      - name: sleeper_total\n        labels: [comm]\n' \
        "$KPE_CONNECTOR" "$OFF_SLEEP" >"$D/sleep.yaml"
reload_daemon
grep -qF 'Reloaded: 2 probe(s) kept with their counters, 0 removed, 1 registered' <<<"$KPE_RELOAD_LINE" ||
        fail "reload with a new included file: $KPE_RELOAD_LINE"
"$KPE_CONNECTOR" sleep 1 1 || fail "connector sleep failed"
v=$(wait_metric 2 sleeper_total comm=connector)
[ "$v" = 2 ] || fail "sleeper_total of the newly included probe is $v, want 2"
v=$(metric_value "$KPE_WORK/metrics.txt" note_total comm=connector)
[ "$v" = 2 ] || fail "note_total after the reload is $v, want 2 (kept)"
group_probe_lines "$KPE_NAME" | grep -q "^p:$KPE_NAME/sleeper " || fail "sleeper is not in uprobe_events"
log "a file added to probes.d and SIGHUP: its probe registered and counting, the others' counters kept"

# An error in an included file: its own place, nothing changes.
probes_before=$(group_probe_lines "$KPE_NAME" | sort)
sed -i 's/^    metrics:$/    metrix:/' "$D/sleep.yaml"
before=$(log_count 'the running config stays')
kill -HUP "$KPE_PID" || fail "SIGHUP"
wait_log_count 'the running config stays' $((before + 1)) 20 || fail "no refusal logged for the broken included file"
grep -qF "$D/sleep.yaml:5:5: unknown key 'metrix'" "$KPE_ERR" ||
        fail "the error does not name the included file's line:column: $(grep -E 'unknown' "$KPE_ERR" | tail -n 3)"
[ "$(group_probe_lines "$KPE_NAME" | sort)" = "$probes_before" ] || fail "a refused reload changed the probes"
"$KPE_CONNECTOR" note three || fail "connector note failed"
v=$(wait_metric 3 note_total comm=connector)
[ "$v" = 3 ] || fail "note_total after a refused reload is $v, want 3"
log "a broken included file: '$D/sleep.yaml:5:5: unknown key' logged, probes and counters unchanged"

# The file removed: its probe leaves the kernel; then twice unchanged.
rm "$D/sleep.yaml"
reload_daemon
grep -qF 'Reloaded: 2 probe(s) kept with their counters, 1 removed, 0 registered' <<<"$KPE_RELOAD_LINE" ||
        fail "reload without the file: $KPE_RELOAD_LINE"
if group_probe_lines "$KPE_NAME" | grep -q "/sleeper "; then fail "sleeper is still in uprobe_events"; fi
for i in 1 2; do
        reload_daemon
        grep -qF 'Reloaded: 2 probe(s) kept with their counters, 0 removed, 0 registered' <<<"$KPE_RELOAD_LINE" ||
                fail "unchanged reload $i: $KPE_RELOAD_LINE"
done
"$KPE_CONNECTOR" note four || fail "connector note failed"
v=$(wait_metric 4 note_total comm=connector)
[ "$v" = 4 ] || fail "note_total after the reloads is $v, want 4"
log "the file removed: its probe left the kernel; two unchanged reloads kept note_total (4)"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
