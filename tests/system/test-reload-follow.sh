#!/bin/bash
# /events across a reload that changes recent_events: the sequence number
# goes on (it never starts at 1 again), so a /events?follow=1 client keeps
# receiving events with increasing seq, and the paged /events?since= of
# the last seq seen before the reload returns exactly the new events. A
# follow client whose since is beyond the newest event (from an earlier run)
# gets {"reset":true} first, then the events from the oldest one stored on.
. "$(dirname "$0")/lib.sh"

kpe_init rlfollow
OFF=$(connector_offset)
REG=$(arg2_register)

write_config() { # $1: recent_events
        cat >"$KPE_WORK/probes.yaml.tmp" <<EOF
recent_events: $1
probes:
  - name: connect
    type: uprobe
    target: $KPE_CONNECTOR:$OFF
    fetch: [port=+2($REG):u16]
    decode: {port: ntohs}
    metrics:
      - name: connect_total
        labels: [port]
EOF
        mv "$KPE_WORK/probes.yaml.tmp" "$KPE_WORK/probes.yaml"
}

# Checks NDJSON file $1 of a follow client: its first $2 lines are
# exactly the given objects (e.g. {"reset":true}), then event lines only,
# seq strictly increasing, and the ports of the events, in order, are
# exactly $3 (comma-separated). Prints the last seq.
check_follow() {
        python3 - "$@" <<'EOF'
import json, sys
path, n_head, ports = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want_head = [json.loads(a) for a in sys.argv[4:]]
lines = open(path, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
objs = [json.loads(l) for l in lines]
head, events = objs[:n_head], objs[n_head:]
if head != want_head:
    sys.exit(f"{path}: the stream starts with {head}, want {want_head}")
last = 0
for e in events:
    if "seq" not in e:
        sys.exit(f"{path}: a line that is not an event: {e}")
    if e["seq"] <= last:
        sys.exit(f"{path}: seq {e['seq']} after seq {last}: not increasing")
    last = e["seq"]
got = ",".join(e["fields"].get("port", "?") for e in events)
if got != ports:
    sys.exit(f"{path}: the events have the ports {got}, want {ports}")
print(last)
EOF
}

ports() { # $1 first, $2 count: "first,first+1,..."
        seq -s, "$1" $(($1 + $2 - 1))
}

# Both halves run whatever the first found: each failure is reported,
# and the test fails at the end.
errors=()
soft_fail() {
        echo "FAIL: $*" >&2
        errors+=("$*")
}

write_config 100
start_daemon "$KPE_WORK/probes.yaml"
F1=$KPE_WORK/follow1.ndjson
start_follower "/events?follow=1" "$F1"
sleep 0.5 # "from now" starts when the request is served

"$KPE_CONNECTOR" flood 5 1001 || fail "connector flood failed"
wait_follow_events "$F1" 5 || fail "the follower got $(grep -c '"seq"' "$F1") events of 5"
check_follow "$F1" 0 "$(ports 1001 5)" >/dev/null || fail "the first follower"

log "1. a since beyond the newest: the page says reset, and so must a follow client"
fetch_ok "/events?since=999999999&limit=1000" "$KPE_WORK/page.json"
v=$(json_get "$KPE_WORK/page.json" 'j.get("reset", False)')
[ "$v" = true ] || fail "/events?since=999999999 does not say reset: $(head -c 300 "$KPE_WORK/page.json")"
v=$(json_get "$KPE_WORK/page.json" '",".join(e["fields"]["port"] for e in j["events"])')
[ "$v" = "$(ports 1001 5)" ] || fail "/events?since=999999999 has the ports $v, want $(ports 1001 5)"
F2=$KPE_WORK/follow2.ndjson
start_follower "/events?follow=1&since=999999999" "$F2"
"$KPE_CONNECTOR" flood 3 1006 || fail "connector flood failed"
if wait_follow_events "$F2" 8; then
        check_follow "$F2" 1 "$(ports 1001 8)" '{"reset":true}' >/dev/null ||
                soft_fail "follow=1&since=999999999 (see above)"
else
        soft_fail "follow=1&since=999999999 got $(grep -c '"seq"' "$F2") events of 8 (the 5 stored, 3 new)" \
                "within 10 s: '$(head -c 300 "$F2")'"
fi
wait_follow_events "$F1" 8 || fail "the first follower got $(grep -c '"seq"' "$F1") events of 8"
last_before=$(check_follow "$F1" 0 "$(ports 1001 8)") || fail "the first follower"

log "2. a reload that changes recent_events: followers go on, seq goes on"
write_config 50
reload_daemon
assert_daemon_alive "after the reload that changed recent_events"
"$KPE_CONNECTOR" flood 5 1009 || fail "connector flood failed"
if wait_follow_events "$F1" 13; then
        last=$(check_follow "$F1" 0 "$(ports 1001 13)") || soft_fail "the follower across the reload (see above)"
else
        soft_fail "after a reload that changed recent_events the follower got $(grep -c '"seq"' "$F1")" \
                "events of 13: ... $(tail -n 2 "$F1")"
fi
pid_alive "$KPE_FOLLOW_PID" || soft_fail "the second follow stream ended: $(cat "$F2.err")"

# The paged view: after the last seq before the reload come exactly the
# five new events, numbered on from it, and nothing says reset.
fetch_ok "/events?since=$last_before&limit=1000" "$KPE_WORK/page.json"
v=$(json_get "$KPE_WORK/page.json" '[[e["seq"], e["fields"]["port"]] for e in j["events"]]')
want=$(python3 -c 'import json, sys; l = int(sys.argv[1])
print(json.dumps([[l + i, str(1009 + i - 1)] for i in range(1, 6)]))' "$last_before")
[ "$v" = "$want" ] ||
        soft_fail "/events?since=$last_before after the reload: $(head -c 300 "$KPE_WORK/page.json"), want [seq, port] $want"
v=$(json_get "$KPE_WORK/page.json" 'j.get("reset", False)')
[ "$v" = false ] || soft_fail "/events?since=$last_before after the reload says reset: $(head -c 300 "$KPE_WORK/page.json")"

[ ${#errors[@]} = 0 ] || fail "${#errors[@]} check(s) failed, see above"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
