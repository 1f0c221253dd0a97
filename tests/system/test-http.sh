#!/bin/bash
# The HTTP surface: routes, methods, bad queries, content types.
. "$(dirname "$0")/lib.sh"

kpe_init http

connector_config "$KPE_WORK/probes.yaml"

start_daemon "$KPE_WORK/probes.yaml"
body="$KPE_WORK/body"

# expect METHOD PATH STATUS: one request, its status must match.
expect() {
        local method=$1 path=$2 want=$3 code
        code=$(http_get "$path" "$body" -X "$method") || fail "$method $path: curl failed"
        [ "$code" = "$want" ] || fail "$method $path answered $code, want $want: $(head -c 300 "$body")"
        log "$method $path -> $code"
}

expect GET / 200
expect GET /healthz 200
expect GET /metrics 200
expect GET /probes 200
expect GET /events 200
expect GET /no/such/path 404
expect GET "/events?probe=no_such_probe" 404
expect POST /metrics 405
expect POST /events 405
expect GET "/events?since=abc" 400
expect GET "/events?since=1&limit=abc" 400

# Content types.
content_type() {
        curl -sS --max-time 5 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$KPE_PORT$1"
}
ct=$(content_type /metrics)
[ "$ct" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "/metrics Content-Type is '$ct'"
for path in /probes /events; do
        ct=$(content_type "$path")
        case "$ct" in
        application/json*) ;;
        *) fail "$path Content-Type is '$ct', want application/json" ;;
        esac
done

# The JSON answers parse.
fetch_ok "/events?since=0&limit=3" "$body"
v=$(json_get "$body" 'sorted(j.keys())') || fail "/events is not JSON: $(head -c 300 "$body")"
[ "$v" = '["events", "missed", "next"]' ] || fail "/events keys: $v"
fetch_ok /probes "$body"
v=$(json_get "$body" '[p["name"] for p in j["probes"]]') || fail "/probes is not JSON: $(head -c 300 "$body")"
[ "$v" = '["connect"]' ] || fail "/probes names: $v"

# HEAD: the headers of GET, no body.
hdrs=$(curl -sS --max-time 5 -I "http://127.0.0.1:$KPE_PORT/metrics") || fail "HEAD /metrics failed"
grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' <<<"$hdrs" || fail "HEAD /metrics headers: $hdrs"

# Follow: events arrive as NDJSON while they happen, as with curl -N.
expect GET "/events?follow=1&probe=no_such_probe" 404
curl -sS -N --max-time 8 "http://127.0.0.1:$KPE_PORT/events?follow=1&probe=connect" >"$KPE_WORK/follow" &
follow_pid=$!
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $follow_pid"
sleep 0.5 # the stream starts at "now": connect after it is open
"$KPE_CONNECTOR" call 3 || fail "connector call failed"
for ((i = 0; i < 50; i++)); do
        [ "$(grep -c '"probe":"connect"' "$KPE_WORK/follow")" -ge 3 ] && break
        sleep 0.1
done
kill "$follow_pid" 2>/dev/null
wait "$follow_pid" 2>/dev/null
python3 - "$KPE_WORK/follow" <<'EOF' || fail "follow stream: $(head -c 500 "$KPE_WORK/follow")"
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8").read().splitlines() if l]
evs = [json.loads(l) for l in lines]
if len(evs) != 3:
    sys.exit(f"{len(evs)} lines, want 3")
seqs = [e["seq"] for e in evs]
if seqs != sorted(seqs) or len(set(seqs)) != 3:
    sys.exit(f"seqs {seqs}")
if any(e["probe"] != "connect" or e["comm"] != "connector" for e in evs):
    sys.exit(f"events {evs}")
EOF
log "follow: 3 events streamed"

# The server keeps serving after all of the above.
expect GET /healthz 200

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
