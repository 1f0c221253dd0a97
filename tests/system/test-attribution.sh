#!/bin/bash
# Attribution: the builtin labels cgroup, unit, user_unit and container_id,
# the same fields in /events, and journal: true probes' entries, for
# processes that live only for one connect. In the hierarchy the daemon
# follows (systemd's name=systemd one if /proc/self/cgroup has it, else the
# unified one) the test makes kpe-test-PID.slice/demo.service and
# .../docker-ID.scope; short-lived connectors move themselves into those
# (or stay in the test's own cgroup), connect once to our port and exit at
# once. Asserted, by a tracepoint probe on sock/inet_sock_set_state
# (SYN_SENT to our port only):
# - exact counts by [unit, container_id] and by [cgroup]: 10 demo.service,
#   7 docker-ID.scope with container_id ID, 4 outside any unit; twice in a
#   row the counts double, and a third round made while the config is
#   reloaded twice (unchanged) triples them, with the table kept (filled
#   from /proc once); kprobe_exporter_cgroup_unknown_total stays 0;
# - a cgroup made, used by 5 connectors and removed while the daemon is
#   stopped (SIGSTOP; their events wait in the kernel's buffer) still
#   names their events (gone.service, 5) once it goes on;
# - the journal (--journal.socket to a receiver of ours): one entry per
#   connect, each in journald's native protocol with valid field names,
#   MESSAGE_ID, PRIORITY, SYSLOG_IDENTIFIER, KPE_PROBE, the task's
#   KPE_UNIT/KPE_CGROUP/KPE_CONTAINER_ID (absent when it has none) by the
#   connector's own PID, the decoded fields (KPE_DPORT, KPE_DADDR), a
#   one-line MESSAGE; kprobe_exporter_journal_sent_total = entries received;
# - journal_rate: 5 and 40 connects in a burst: at most 5 entries a
#   one-second window (at most 10), the rest counted as dropped, and
#   received + dropped = 40;
# - a comm with a newline and 'unit="x"' in it, in a cgroup named
#   'weird "q" x.service': /metrics stays valid text (promtool), the labels
#   are escaped and exact; of a uprobe with a comm label (it fetches comm)
#   on a hard link of the connector by that name, the journal entry's
#   KPE_COMM is those bytes, framed by length, MESSAGE one line; last, after
#   everything else: of the tracepoint, the entry of a python3 that renamed
#   itself (PR_SET_NAME) has that exact KPE_COMM too.
. "$(dirname "$0")/lib.sh"

kpe_init attrib
# The text reader refuses the attribution probes (their strings are the
# traced processes'): it reads every cgroup from /proc, which the
# short-lived connectors are gone from.
[ "${KPE_READER:-binary}" = binary ] || skip "attribution's events need the binary reader"
for ev in sock/inet_sock_set_state task/task_newtask sched/sched_process_exit cgroup/cgroup_attach_task; do
        [ -d "$TRACEFS/events/$ev" ] || skip "no tracepoint $ev in $TRACEFS/events"
done

# ---- the hierarchy the daemon follows, found the way it finds it ----------
# HIER_ID: its id in /proc/PID/cgroup; CG_MNT: where it is mounted;
# CG_MNT_ROOT: the hierarchy's path of that mount's root.
read -r HIER_ID CG_MNT CG_MNT_ROOT < <(python3 - <<'EOF'
import re
def unoctal(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
lines = open("/proc/self/cgroup").read().splitlines()
hid = None
for l in lines:
    i, ctl, _ = l.split(":", 2)
    if ctl == "name=systemd" and int(i) > 0:
        hid = int(i)
        break
if hid is None and any(l.startswith("0::") for l in lines):
    hid = 0
if hid is None:
    raise SystemExit(0)
for l in open("/proc/self/mountinfo"):
    pre, post = l.rstrip("\n").split(" - ", 1)
    f, g = pre.split(" "), post.split(" ")
    fstype, opts = g[0], g[2].split(",") if len(g) > 2 else []
    if (hid == 0 and fstype == "cgroup2") or (hid > 0 and fstype == "cgroup" and "name=systemd" in opts):
        # Spaces in mount points are \040 here: none in ours.
        print(hid, unoctal(f[4]), unoctal(f[3]))
        break
EOF
)
[ -n "${HIER_ID:-}" ] || skip "no name=systemd or unified cgroup hierarchy in /proc/self/cgroup"
[ -n "${CG_MNT:-}" ] || skip "cgroup hierarchy $HIER_ID is not mounted here"
[ -w "$CG_MNT/cgroup.procs" ] || skip "cgroup hierarchy $HIER_ID at $CG_MNT is not writable"
log "hierarchy $HIER_ID mounted at $CG_MNT (root $CG_MNT_ROOT)"

# Units and container ids are read from the hierarchy's root down: a mount
# of a sub-tree (a container's) could put a unit above our slice.
[ "$CG_MNT_ROOT" = / ] || skip "hierarchy $HIER_ID is mounted from $CG_MNT_ROOT, not from its root"

# Our own path there: where connectors that do not move themselves are.
OUT_PATH=$(awk -F: -v id="$HIER_ID" '$1 == id { sub(/^[^:]*:[^:]*:/, ""); print; exit }' /proc/$BASHPID/cgroup)
[ -n "$OUT_PATH" ] || fail "no line $HIER_ID in /proc/$BASHPID/cgroup"
OUT_DIR="$CG_MNT$OUT_PATH"
[ -w "$OUT_DIR/cgroup.procs" ] || skip "our own cgroup $OUT_DIR is not writable"

SLICE_REL="/kpe-test-$$.slice"
SLICE_DIR="$CG_MNT$SLICE_REL"
CID=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
[ ${#CID} = 64 ] || fail "container id '$CID'"
DOCKER_UNIT="docker-$CID.scope"
WEIRD_UNIT='weird "q" x.service'
CG_MADE="" # directories we made, deepest last, newline-separated
EVIL_PID=""

# Ends the hostile process, moves whatever is in our cgroups (only
# processes of ours get there) back to ours, removes what we made.
attrib_cleanup() {
        local dir pid i
        [ -n "$KPE_PID" ] && kill -CONT "$KPE_PID" 2>/dev/null
        if [ -n "$EVIL_PID" ]; then
                kill_pid "$EVIL_PID"
                EVIL_PID=""
        fi
        [ -n "$CG_MADE" ] || return 0
        while IFS= read -r dir; do
                [ -d "$dir" ] || continue
                for ((i = 0; i < 3; i++)); do
                        while read -r pid; do
                                echo "$pid" >"$OUT_DIR/cgroup.procs" 2>/dev/null
                        done <"$dir/cgroup.procs"
                done
        done < <(printf '%s\n' "$CG_MADE" | tac)
        while IFS= read -r dir; do
                [ -d "$dir" ] || continue
                for ((i = 0; i < 20; i++)); do
                        rmdir "$dir" 2>/dev/null && break
                        sleep 0.1
                done
                [ -d "$dir" ] && echo "# warning: could not rmdir $dir" >&2
        done < <(printf '%s\n' "$CG_MADE" | tac)
        return 0
}
# shellcheck disable=SC2034 # run by kpe_cleanup (lib.sh)
KPE_CLEANUP_FIRST=attrib_cleanup

make_cg() { # $1 directory
        mkdir "$1" || fail "mkdir $1"
        CG_MADE="$CG_MADE$1"$'\n'
}
make_cg "$SLICE_DIR"
make_cg "$SLICE_DIR/demo.service"
make_cg "$SLICE_DIR/$DOCKER_UNIT"
DEMO_PATH="$SLICE_REL/demo.service"
DOCKER_PATH="$SLICE_REL/$DOCKER_UNIT"

# Connectors outside our slice are checked by unit only when the test's own
# cgroup names none.
OUT_PLAIN=$(python3 - "$OUT_PATH" <<'EOF'
import re, sys
cs = [c for c in sys.argv[1].split("/") if c]
unit = any(re.search(r".\.(service|scope|socket|mount|swap)$", c) for c in cs)
cid = any(re.search(r"[0-9a-f]{64}", c) for c in cs)
print("no" if unit or cid else "yes")
EOF
)
log "the test runs in $OUT_PATH (no unit, no container: $OUT_PLAIN)"

# ---- a TCP listener and the journal receiver, each with a bounded life ---
start_listener 110
PORT=$LISTEN_PORT

JSOCK="$KPE_WORK/journal.sock"
JOUT="$KPE_WORK/journal.jsonl"
# Each datagram as one JSON line: its fields in order as [name, value,
# binary], value in latin-1 (so bytes come back exact), binary: sent in the
# "NAME\n<le64 length><value>\n" form. A datagram it cannot parse is a line
# {"bad": ...}.
python3 - "$JSOCK" "$JOUT" <<'EOF' &
import json, os, socket, struct, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(path + ".tmp")
os.rename(path + ".tmp", path)
def parse(d):
    fields, i = [], 0
    while i < len(d):
        nl = d.index(b"\n", i)
        line = d[i:nl]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            fields.append([name.decode("latin-1"), value.decode("latin-1"), False])
            i = nl + 1
        else:
            (n,) = struct.unpack("<Q", d[nl + 1:nl + 9])
            value = d[nl + 9:nl + 9 + n]
            if len(value) != n or d[nl + 9 + n:nl + 10 + n] != b"\n":
                raise ValueError("bad binary field")
            fields.append([line.decode("latin-1"), value.decode("latin-1"), True])
            i = nl + 10 + n
    return fields
deadline = time.time() + 110
with open(out, "a") as f:
    while time.time() < deadline:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            break
        try:
            f.write(json.dumps({"fields": parse(d)}) + "\n")
        except Exception as e:
            f.write(json.dumps({"bad": repr(e), "data": d.decode("latin-1")}) + "\n")
        f.flush()
EOF
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $!"
for ((i = 0; i < 100; i++)); do
        [ -S "$JSOCK" ] && break
        sleep 0.1
done
[ -S "$JSOCK" ] || fail "the journal receiver did not start"
touch "$JOUT"

# Journal entries of probe $1 received so far.
journal_count() {
        python3 - "$JOUT" "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    e = json.loads(line)
    if ["KPE_PROBE", sys.argv[2], False] in e.get("fields", []):
        n += 1
print(n)
EOF
}

# Waits up to 10 s for $2 entries of probe $1; prints the last count.
wait_journal() {
        local i n
        for ((i = 0; i < 100; i++)); do
                n=$(journal_count "$1")
                [ "$n" -ge "$2" ] && break
                sleep 0.1
        done
        echo "$n"
}

# ---- part A: labels, /events and the journal ------------------------------
# A copy of the connector for a uprobe of its own, and a hard link to it
# named like the hostile comm (a comm is the first 15 bytes of the name
# exec'd): the uprobe fetches comm itself, exactly.
EVIL_COMM=$'ev\nil unit="x"'
cp "$KPE_CONNECTOR" "$KPE_WORK/connector" || fail "cp connector"
ln "$KPE_WORK/connector" "$KPE_WORK/$EVIL_COMM" || fail "ln connector"
REG=$(arg2_register)
OFF=$(connector_offset)
cat >"$KPE_WORK/probes.yaml" <<EOF
probes:
  - name: connect
    type: uprobe
    target: $KPE_WORK/connector:$OFF
    fetch: [port=+2($REG):u16]
    decode: {port: ntohs}
    journal: true
    metrics:
      - name: connect_total
        labels: [comm, unit]
  - name: tcp_connect
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: "newstate == 2 && dport == $PORT"
    journal: true
    journal_rate: 1000
    metrics:
      - name: tcp_connect_unit_total
        help: Outgoing TCP connects to the test's port by unit and container.
        labels: [unit, container_id]
      - name: tcp_connect_cgroup_total
        help: Outgoing TCP connects to the test's port by cgroup.
        labels: [cgroup]
EOF
start_daemon "$KPE_WORK/probes.yaml" --journal.socket="$JSOCK"

if [ "$HIER_ID" = 0 ]; then want_what="the unified hierarchy"; else want_what="name=systemd hierarchy (cgroup v1, id $HIER_ID)"; fi
grep -q "Following tasks' cgroups in .*$want_what" "$KPE_ERR" ||
        fail "the daemon does not follow $want_what: $(grep -i cgroup "$KPE_ERR")"
fetch_ok /probes "$KPE_WORK/probes.json"
v=$(json_get "$KPE_WORK/probes.json" 'sorted((p["name"], p["state"]) for p in j["probes"])')
[ "$v" = '[["attribution-attach", "registered"], ["attribution-exit", "registered"], ["attribution-fork", "registered"], ["connect", "registered"], ["tcp_connect", "registered"]]' ] ||
        fail "/probes: $v"

PIDS="$KPE_WORK/pids.txt" # "GROUP PID" per connector
: >"$PIDS"
# One connector: moves itself into cgroup directory $2 (none if empty),
# records its PID as of group $1, connects once, exits.
connect_in() {
        sh -c 'echo "$1 $$" >>"$2" && { [ -z "$3" ] || echo $$ >"$3/cgroup.procs"; } && exec "$4" tcp 1 "$5"' \
                sh "$1" "$PIDS" "$2" "$KPE_CONNECTOR" "$PORT" || fail "connector in group $1 failed"
}
N_DEMO=10 N_DOCKER=7 N_OUT=4
workload() {
        local i
        for ((i = 0; i < N_DEMO; i++)); do connect_in demo "$SLICE_DIR/demo.service"; done
        for ((i = 0; i < N_DOCKER; i++)); do connect_in docker "$SLICE_DIR/$DOCKER_UNIT"; done
        for ((i = 0; i < N_OUT; i++)); do connect_in out ""; done
}

# The counts after round $1 (1 or 2): each group's connects times the round.
check_counts() {
        local r=$1 total v
        total=$(((N_DEMO + N_DOCKER + N_OUT) * r))
        v=$(wait_metric_sum "$total" kprobe_exporter_events_total probe=tcp_connect)
        [ "$v" = "$total" ] || fail "round $r: tcp_connect events: $v, want $total"
        fetch_ok /metrics "$KPE_WORK/metrics.txt"
        for m in "tcp_connect_unit_total unit=demo.service container_id=:$((N_DEMO * r))" \
                "tcp_connect_unit_total unit=$DOCKER_UNIT container_id=$CID:$((N_DOCKER * r))" \
                "tcp_connect_cgroup_total cgroup=$DEMO_PATH:$((N_DEMO * r))" \
                "tcp_connect_cgroup_total cgroup=$DOCKER_PATH:$((N_DOCKER * r))" \
                "tcp_connect_cgroup_total cgroup=$OUT_PATH:$((N_OUT * r))" \
                "kprobe_exporter_cgroup_unknown_total:0"; do
                # shellcheck disable=SC2086 # metric name and label=value words
                v=$(metric_value "$KPE_WORK/metrics.txt" ${m%:*})
                [ "$v" = "${m##*:}" ] || {
                        grep -E '^(tcp_connect|kprobe_exporter_(cgroup|attribution))' "$KPE_WORK/metrics.txt" >&2
                        fail "round $r: ${m%:*} is $v, want ${m##*:}"
                }
        done
        if [ "$OUT_PLAIN" = yes ]; then
                v=$(metric_value "$KPE_WORK/metrics.txt" tcp_connect_unit_total unit= container_id=)
                [ "$v" = $((N_OUT * r)) ] || fail "round $r: tcp_connect_unit_total{unit=\"\",container_id=\"\"} is $v, want $((N_OUT * r))"
        fi
        # demo, docker and the outside one: nothing else.
        v=$(python3 -c 'import promtext, sys; print(sum(1 for n, l, v in promtext.samples(sys.argv[1]) if n == "tcp_connect_unit_total"))' "$KPE_WORK/metrics.txt")
        [ "$v" = 3 ] || fail "round $r: $v series of tcp_connect_unit_total, want 3"
}

log "round 1: $N_DEMO in demo.service, $N_DOCKER in $DOCKER_UNIT, $N_OUT in $OUT_PATH"
workload
check_counts 1
log "round 2"
workload
check_counts 2
# Round 3 while the config is reloaded, unchanged, twice: the attribution
# probes and the table go on (no second fill from /proc), and every
# connect made meanwhile is still counted under its unit.
log "round 3, during two reloads"
seeds=$(log_count 'Attribution: [0-9]+ tasks read from /proc')
[ "$seeds" = 1 ] || fail "the table was filled from /proc $seeds times at start, want 1"
workload &
wl=$!
reload_daemon
reload_daemon
wait $wl || fail "the workload of round 3 failed"
check_counts 3
[ "$(log_count 'Attribution: [0-9]+ tasks read from /proc')" = 1 ] || fail "a reload filled the table from /proc again"
grep -q 'Reloaded: 5 probe(s) kept with their counters, 0 removed, 0 registered' <<<"$KPE_RELOAD_LINE" ||
        fail "the reload did not keep the 5 probes: $KPE_RELOAD_LINE"

# A cgroup removed before the daemon reads its tasks' events.
log "SIGSTOP the daemon; 5 connectors in gone.service, removed before SIGCONT"
kill -STOP "$KPE_PID" || fail "SIGSTOP"
make_cg "$SLICE_DIR/gone.service"
GONE_PATH="$SLICE_REL/gone.service"
for ((i = 0; i < 5; i++)); do connect_in gone "$SLICE_DIR/gone.service"; done
for ((i = 0; i < 50; i++)); do
        rmdir "$SLICE_DIR/gone.service" 2>/dev/null && break
        sleep 0.1
done
[ -d "$SLICE_DIR/gone.service" ] && fail "could not rmdir gone.service"
kill -CONT "$KPE_PID" || fail "SIGCONT"
v=$(wait_metric 5 tcp_connect_unit_total unit=gone.service container_id=)
[ "$v" = 5 ] || fail "tcp_connect_unit_total{unit=\"gone.service\"} is $v, want 5 (cgroup removed while its events were buffered)"
for m in "tcp_connect_cgroup_total cgroup=$GONE_PATH:5" "kprobe_exporter_cgroup_unknown_total:0" \
        "tcp_connect_unit_total unit=demo.service container_id=:$((N_DEMO * 3))"; do
        # shellcheck disable=SC2086
        v=$(metric_value "$KPE_WORK/metrics.txt" ${m%:*})
        [ "$v" = "${m##*:}" ] || fail "after SIGCONT: ${m%:*} is $v, want ${m##*:}"
done
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_attribution_tasks)
if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then fail "kprobe_exporter_attribution_tasks is $v, want some"; fi

# The hostile ones: a comm with a newline and label-like text, in a cgroup
# whose name has spaces and quotes. A connector under that name calls the
# uprobe's function once (its comm fetched by the probe); a python3 that
# renames itself (PR_SET_NAME) makes one real connect, and stays until its
# entry is read: the daemon reads a tracepoint's comm from /proc.
make_cg "$SLICE_DIR/$WEIRD_UNIT"
WEIRD_PATH="$SLICE_REL/$WEIRD_UNIT"
sh -c 'echo "weird-uprobe $$" >>"$1" && echo $$ >"$2/cgroup.procs" && exec "$3" call 1 "$4"' \
        sh "$PIDS" "$SLICE_DIR/$WEIRD_UNIT" "$KPE_WORK/$EVIL_COMM" "$PORT" || fail "the hostile connector failed"
python3 - "$SLICE_DIR/$WEIRD_UNIT" "$EVIL_COMM" "$PORT" "$KPE_WORK/evil" <<'EOF' &
import ctypes, os, socket, sys, time
cg, comm, port, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with open(cg + "/cgroup.procs", "w") as f:
    f.write(str(os.getpid()))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, comm.encode(), 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl failed")
c = socket.create_connection(("127.0.0.1", port), timeout=5)
c.close()
open(base + ".connected", "w").close()
deadline = time.time() + 30
while time.time() < deadline and not os.path.exists(base + ".done"):
    time.sleep(0.05)
EOF
EVIL_PID=$!
for ((i = 0; i < 100; i++)); do
        [ -e "$KPE_WORK/evil.connected" ] && break
        pid_alive "$EVIL_PID" || break
        sleep 0.1
done
[ -e "$KPE_WORK/evil.connected" ] || fail "the hostile process did not connect"
[ "$(cat "/proc/$EVIL_PID/comm")" = "$EVIL_COMM" ] || fail "the hostile process's comm: $(od -c "/proc/$EVIL_PID/comm")"
echo "weird $EVIL_PID" >>"$PIDS"
TOTAL=$(((N_DEMO + N_DOCKER + N_OUT) * 3 + 5 + 1))
v=$(wait_metric "1" tcp_connect_unit_total unit="$WEIRD_UNIT" container_id=)
[ "$v" = 1 ] || fail "tcp_connect_unit_total{unit='$WEIRD_UNIT'} is $v, want 1"
v=$(wait_journal connect 1)
[ "$v" = 1 ] || fail "journal: $v entries of the uprobe connect, want 1"
v=$(wait_journal tcp_connect "$TOTAL")
touch "$KPE_WORK/evil.done"
wait_pid_gone 10 "$EVIL_PID" || fail "the hostile process did not end"
wait "$EVIL_PID" || fail "the hostile process failed"
EVIL_PID=""
[ "$v" = "$TOTAL" ] || fail "journal: $v entries of tcp_connect, want $TOTAL (one per connect)"

fetch_ok /metrics "$KPE_WORK/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
        # Exit 1: the text does not parse; 3: lint findings only (a
        # metric without help, ...), which are the config's, not the format's.
        promtool check metrics <"$KPE_WORK/metrics.txt" >"$KPE_WORK/promtool.out" 2>&1
        rc=$?
        [ $rc = 0 ] || [ $rc = 3 ] || fail "promtool check metrics (exit $rc): $(cat "$KPE_WORK/promtool.out")"
else
        log "no promtool: the label's escaping is checked by hand"
fi
want=$(printf 'tcp_connect_cgroup_total{cgroup="%s"} 1' "$(printf '%s' "$WEIRD_PATH" | sed 's/"/\\"/g')")
grep -qxF "$want" "$KPE_WORK/metrics.txt" || fail "no line '$want' in /metrics: $(grep weird "$KPE_WORK/metrics.txt")"
v=$(metric_value "$KPE_WORK/metrics.txt" tcp_connect_cgroup_total cgroup="$WEIRD_PATH")
[ "$v" = 1 ] || fail "tcp_connect_cgroup_total{cgroup='$WEIRD_PATH'} is $v, want 1"
v=$(metric_value "$KPE_WORK/metrics.txt" connect_total comm="$EVIL_COMM" unit="$WEIRD_UNIT")
[ "$v" = 1 ] || fail "connect_total{comm=<hostile>,unit='$WEIRD_UNIT'} is $v, want 1: $(grep ^connect_total "$KPE_WORK/metrics.txt")"
grep -q '^connect_total{comm="ev\\nil unit=\\"x\\"",unit="weird \\"q\\" x.service"} 1$' "$KPE_WORK/metrics.txt" ||
        fail "connect_total's labels not escaped as the text format says: $(grep ^connect_total "$KPE_WORK/metrics.txt")"
for m in "kprobe_exporter_cgroup_unknown_total:0" "kprobe_exporter_journal_dropped_total probe=tcp_connect:0" \
        "kprobe_exporter_journal_errors_total probe=tcp_connect:0" \
        "kprobe_exporter_journal_sent_total probe=tcp_connect:$TOTAL" "kprobe_exporter_parse_errors_total:0" \
        "kprobe_exporter_journal_sent_total probe=connect:1" "kprobe_exporter_journal_errors_total probe=connect:0"; do
        # shellcheck disable=SC2086
        v=$(metric_value "$KPE_WORK/metrics.txt" ${m%:*})
        [ "$v" = "${m##*:}" ] || fail "${m%:*} is $v, want ${m##*:}"
done

# /events: the cgroup fields of each connector's event, by its PID.
fetch_ok "/events?probe=tcp_connect&since=0&limit=10000" "$KPE_WORK/events.json"
EXPECT="$KPE_WORK/expect.json"
python3 - "$EXPECT" "$DEMO_PATH" "$DOCKER_PATH" "$CID" "$GONE_PATH" "$WEIRD_PATH" "$WEIRD_UNIT" "$OUT_PATH" "$OUT_PLAIN" <<'EOF'
import json, sys
out, demo, docker, cid, gone, weird, weird_unit, outp, plain = sys.argv[1:]
unit = lambda p: p.rsplit("/", 1)[1]
e = {
    "demo": {"cgroup": demo, "unit": "demo.service", "user_unit": "", "container_id": ""},
    "docker": {"cgroup": docker, "unit": unit(docker), "user_unit": "", "container_id": cid},
    "gone": {"cgroup": gone, "unit": "gone.service", "user_unit": "", "container_id": ""},
    "weird": {"cgroup": weird, "unit": weird_unit, "user_unit": "", "container_id": ""},
    "weird-uprobe": {"cgroup": weird, "unit": weird_unit, "user_unit": "", "container_id": ""},
    "out": {"cgroup": outp} if plain != "yes" else {"cgroup": outp, "unit": "", "user_unit": "", "container_id": ""},
}
json.dump(e, open(out, "w"))
EOF
python3 - "$KPE_WORK/events.json" "$PIDS" "$EXPECT" "$PORT" "$TOTAL" <<'EOF' || fail "/events of tcp_connect"
import json, sys
events = json.load(open(sys.argv[1]))["events"]
groups = {}
for line in open(sys.argv[2]):
    g, pid = line.split()
    groups.setdefault(int(pid), set()).add(g)
expect = json.load(open(sys.argv[3]))
if len(events) != int(sys.argv[5]):
    sys.exit(f"{len(events)} events, want {sys.argv[5]}")
for ev in events:
    g = groups.get(ev["pid"])
    if not g:
        sys.exit(f"event of a PID no connector had: {ev}")
    if len(g) > 1:
        continue  # a PID reused by another group: its entries say nothing
    for k, v in expect[next(iter(g))].items():
        if ev.get(k) != v:
            sys.exit(f"event of a {next(iter(g))} connector: {k} is {ev.get(k)!r}, want {v!r}: {ev}")
    if ev["fields"].get("dport") != sys.argv[4]:
        sys.exit(f"event's dport: {ev}")
EOF

# The journal: every entry well formed, and what it says by the PID.
python3 - "$JOUT" "$PIDS" "$EXPECT" "$PORT" "$TOTAL" "$EVIL_COMM" "$KPE_WORK/tp_comm" <<'EOF' || fail "journal entries of tcp_connect and connect"
import json, re, sys
path, pids, expect, port, total, evil, tp_comm = sys.argv[1:]
groups = {}
for line in open(pids):
    g, pid = line.split()
    groups.setdefault(pid, set()).add(g)
expect = json.load(open(expect))
want_fields = {"cgroup": "KPE_CGROUP", "unit": "KPE_UNIT", "user_unit": "KPE_USER_UNIT", "container_id": "KPE_CONTAINER_ID"}
per_group, n = {}, 0
for line in open(path, encoding="utf-8"):
    e = json.loads(line)
    if "bad" in e:
        sys.exit(f"a datagram that is not journald's native protocol: {e}")
    fl = e["fields"]
    f = {}
    for name, value, binary in fl:
        # journald's rule: at most 64 of [A-Z0-9_], not starting with a digit
        # (and "_" is its own trusted fields' prefix).
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", name):
            sys.exit(f"field name {name!r} journald would drop: {fl}")
        if name in f:
            sys.exit(f"field {name} twice: {fl}")
        if binary != ("\n" in value):
            sys.exit(f"field {name} in the {'binary' if binary else 'text'} form: {fl}")
        f[name] = value
    if f.get("KPE_PROBE") == "connect":
        # The uprobe's one call: its comm fetched exactly, framed by length.
        for k, v in (("KPE_COMM", evil), ("KPE_UNIT", expect["weird"]["unit"]),
                     ("KPE_CGROUP", expect["weird"]["cgroup"]), ("KPE_PORT", port)):
            if f.get(k) != v:
                sys.exit(f"the uprobe's entry: {k} is {f.get(k)!r}, want {v!r}: {fl}")
        if not [x for x in fl if x[0] == "KPE_COMM" and x[2]]:
            sys.exit(f"the uprobe's KPE_COMM is not in the binary form: {fl}")
        if "\n" in f["MESSAGE"]:
            sys.exit(f"the uprobe's MESSAGE: {f['MESSAGE']!r}")
        continue
    if f.get("KPE_PROBE") != "tcp_connect":
        continue
    n += 1
    for k, v in (("MESSAGE_ID", "8e0f217d85d24ec48855dddbd905baec"), ("PRIORITY", "6"),
                 ("SYSLOG_IDENTIFIER", "kprobe-exporter"), ("KPE_DPORT", port), ("KPE_DADDR", "127.0.0.1"),
                 ("KPE_NEWSTATE", "TCP_SYN_SENT")):
        if f.get(k) != v:
            sys.exit(f"{k} is {f.get(k)!r}, want {v!r}: {fl}")
    # KPE_TGID only when known: a tracepoint's record has none, and a
    # connector is gone from /proc by the time its event is read.
    for k in ("KPE_PID", "KPE_TGID", "KPE_CPU"):
        if not re.fullmatch(r"[0-9]+", f.get(k, "0" if k == "KPE_TGID" else "")):
            sys.exit(f"{k} is {f.get(k)!r}: {fl}")
    if not f.get("KPE_TIME") or not f.get("MESSAGE") or "\n" in f["MESSAGE"]:
        sys.exit(f"KPE_TIME or MESSAGE: {fl}")
    if not f["MESSAGE"].startswith("tcp_connect:"):
        sys.exit(f"MESSAGE does not start with the probe: {fl}")
    g = groups.get(f["KPE_PID"])
    if not g:
        sys.exit(f"an entry of a PID no connector had: {fl}")
    if len(g) > 1:
        continue
    g = next(iter(g))
    per_group[g] = per_group.get(g, 0) + 1
    for k, v in expect[g].items():
        got = f.get(want_fields[k])
        if (v == "" and got is not None) or (v != "" and got != v):
            sys.exit(f"an entry of a {g} connector: {want_fields[k]} is {got!r}, want {v or 'absent'!r}: {fl}")
    if g == "weird":
        # Checked at the end of the test, after everything else.
        open(tp_comm, "w").write(json.dumps(f.get("KPE_COMM")))
if n != int(total):
    sys.exit(f"{n} entries, want {total}")
# One entry per connector that connected (PIDs no other group had).
want = {}
for pid, g in groups.items():
    if len(g) == 1 and "weird-uprobe" not in g:
        want[next(iter(g))] = want.get(next(iter(g)), 0) + 1
if per_group != want:
    sys.exit(f"entries per group {per_group}, want {want}")
print("# journal entries per group: " + json.dumps(per_group, sort_keys=True))
EOF

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"

# ---- part B: journal_rate ---------------------------------------------------
BURST=40 RATE=5
cat >"$KPE_WORK/burst.yaml" <<EOF
probes:
  - name: tcp_burst
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: "newstate == 2 && dport == $PORT"
    journal: true
    journal_rate: $RATE
    metrics:
      - name: tcp_burst_total
        labels: [unit]
EOF
start_daemon "$KPE_WORK/burst.yaml" --journal.socket="$JSOCK"
t0=$(date +%s%N)
"$KPE_CONNECTOR" tcp "$BURST" "$PORT" || fail "connector tcp $BURST failed"
ms=$((($(date +%s%N) - t0) / 1000000))
# The windows are of the daemon's clock when it reads the events: a burst
# read at once meets one or two of them (more if the burst is slow).
WINDOWS=$((2 + ms / 1000))
log "$BURST connects in $ms ms: at most $WINDOWS windows"
v=$(wait_metric_sum "$BURST" kprobe_exporter_events_total probe=tcp_burst)
[ "$v" = "$BURST" ] || fail "tcp_burst events: $v, want $BURST"
sleep 0.5
got=$(journal_count tcp_burst)
fetch_ok /metrics "$KPE_WORK/metrics.txt"
sent=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_journal_sent_total probe=tcp_burst)
dropped=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_journal_dropped_total probe=tcp_burst)
errors=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_journal_errors_total probe=tcp_burst)
log "journal_rate $RATE: received $got, sent $sent, dropped $dropped, errors $errors"
[ "$errors" = 0 ] || fail "journal errors: $errors"
[ "$sent" = "$got" ] || fail "journal_sent_total is $sent, the receiver got $got"
[ $((got + dropped)) = "$BURST" ] || fail "received $got + dropped $dropped != $BURST"
if [ "$got" -lt "$RATE" ] || [ "$got" -gt $((WINDOWS * RATE)) ]; then
        fail "received $got entries of a burst, want $RATE to $((WINDOWS * RATE)) ($RATE in each of at most $WINDOWS one-second windows)"
fi
[ "$dropped" -ge $((BURST - WINDOWS * RATE)) ] || fail "dropped $dropped, want at least $((BURST - WINDOWS * RATE))"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after the second run"

# The tracepoint's entry of the renamed python3: its comm (read from /proc,
# the record has none), exact.
v=$(cat "$KPE_WORK/tp_comm" 2>/dev/null)
want=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$EVIL_COMM")
[ "$v" = "$want" ] || fail "the tracepoint's entry of the renamed process: KPE_COMM is $v, want $want (its comm's bytes)"
log "pass"
