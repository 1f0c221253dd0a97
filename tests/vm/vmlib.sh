# Host side of the VM tests: each test-*.sh builds an image (mkimage.sh)
# holding the daemon and a guest script, boots it (boot.sh) and talks to the
# daemon in the guest through a port forwarded from the host's 127.0.0.1,
# the way a user (curl) and a Prometheus server would.
#
# How meson runs a test:
#   KPE_BIN=<daemon> KPE_VM_CACHE=<build>/vm-cache KPE_SOURCE_ROOT=<repo> \
#       [KPE_VM_KERNEL=<flavor>] bash tests/vm/test-X.sh
# KPE_VM_KERNEL picks the guest's kernel and architecture (mkimage.sh):
# debian12-amd64 (the default), debian11-amd64, debian13-amd64,
# debian12-arm64. An arm64
# guest runs a daemon cross-built from the same sources (cross-build.sh)
# in <build>/cross-arm64; VM_ARCH (x86_64 or arm64) tells a test which.
# Exit 0 = pass, 77 = skip (after "SKIP: <reason>"), else fail (after
# "FAIL: <what>"), with the guest's serial console at the end.
#
# A test's two halves keep in step through named steps: the guest says
# "waiting STEP" and blocks (host_wait in guest-lib.sh); the host waits for
# that line (guest_at STEP), does its checks, and lets it go on
# (guest_go STEP). Every wait is bounded; the VM, Prometheus and the
# listeners are stopped by PID on exit.
#
# Uses the system tier's helpers: fail, skip, log, metric_value, json_get,
# http_get, fetch_ok, wait_metric, free_port, kill_pid.

. "$(dirname "${BASH_SOURCE[0]}")/../system/lib.sh"

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The system tier's metric_query (metric_value, metric_sum, wait_metric), in
# awk instead of Python: the same answers, but a VM test asks some forty
# times, and starting python3 takes 0.4 s on the project's 2-core machines
# while qemu keeps one core busy. $1 "exact" or "sum", $2 the file, $3 the
# name, then key=value labels (passed in the environment, separated by
# \034: awk would take a key=value argument for an assignment, and -v
# would expand backslashes).
metric_query() {
        local mode=$1 file=$2 name=$3
        shift 3
        MQ_WANT=$(printf '%s\034' "$@") awk -v mode="$mode" -v name="$name" '
                BEGIN {
                        nwant = split(ENVIRON["MQ_WANT"], w, "\034")
                        for (i = 1; i <= nwant; i++) {
                                if (w[i] == "") continue
                                k = substr(w[i], 1, index(w[i], "=") - 1)
                                want[k] = substr(w[i], index(w[i], "=") + 1)
                                nw++
                        }
                }
                # Sets lab[] (and nlab) from the text between the braces;
                # 0 when it is not a label list.
                function labels(rest,   c, k, v, i) {
                        delete lab
                        nlab = 0
                        while (rest != "") {
                                sub(/^[ \t]+/, "", rest)
                                if (!match(rest, /^[a-zA-Z_][a-zA-Z0-9_]*="/)) return 0
                                k = substr(rest, 1, RLENGTH - 2)
                                rest = substr(rest, RLENGTH + 1)
                                v = ""
                                for (i = 1; i <= length(rest); i++) {
                                        c = substr(rest, i, 1)
                                        if (c == "\"") break
                                        if (c == "\\") {
                                                i++
                                                c = substr(rest, i, 1)
                                                if (c == "n") c = "\n"
                                        }
                                        v = v c
                                }
                                if (i > length(rest)) return 0
                                rest = substr(rest, i + 1)
                                sub(/^[ \t]*,?/, "", rest)
                                lab[k] = v
                                nlab++
                        }
                        return 1
                }
                /^#/ || /^$/ { next }
                {
                        if (!match($0, /^[a-zA-Z_:][a-zA-Z0-9_:]*/) || substr($0, 1, RLENGTH) != name) next
                        rest = substr($0, RLENGTH + 1)
                        inner = ""
                        if (substr(rest, 1, 1) == "{") {
                                # To the last "}" followed by blanks and a value.
                                for (j = length(rest); j > 1; j--)
                                        if (substr(rest, j, 1) == "}" && substr(rest, j) ~ /^\}[ \t]+[^ \t]/) break
                                if (j <= 1) next
                                inner = substr(rest, 2, j - 2)
                                rest = substr(rest, j + 1)
                        }
                        if (!match(rest, /^[ \t]+[^ \t]+/)) next
                        value = substr(rest, RSTART, RLENGTH)
                        sub(/^[ \t]+/, "", value)
                        if (!labels(inner)) {
                                print "unparsable labels in: " $0 > "/dev/stderr"
                                bad = 1
                                exit 1
                        }
                        ok = 1
                        for (k in want) if (!(k in lab) || lab[k] != want[k]) ok = 0
                        if (mode == "exact" && ok && nlab == nw) {
                                print value
                                done = 1
                                exit 0
                        }
                        if (mode == "sum" && ok) {
                                total += int(value + 0)
                                found = 1
                        }
                }
                END {
                        if (bad || done) exit bad
                        print (found ? total : "absent")
                }' "$file"
}
VM_PID=""      # boot.sh (it kills its qemu when stopped)
VM_SERIAL=""   # the guest's serial console, as it comes
VM_TIMEOUT=90  # seconds a boot may take, all steps included (twice that on arm64)
VM_ARCH=""     # the guest's architecture: x86_64 or arm64 (vm_init)
VM_DAEMON=""   # the daemon binary for the guest's architecture (vm_init)
CTL_PORT=""    # host port forwarded to the guest's host_wait listener
PROM_PID=""
PROM_PORT=""

# Checks what the test needs and prepares $KPE_WORK/files, the folder that
# becomes /kpe in the guest.
vm_init() {
        # The flavor is for mkimage.sh and boot.sh too.
        export KPE_VM_KERNEL=${KPE_VM_KERNEL:-debian12-amd64}
        case $KPE_VM_KERNEL in
        debian11-amd64 | debian12-amd64 | debian13-amd64) VM_ARCH=x86_64 ;;
        debian12-arm64) VM_ARCH=arm64 ;;
        *) fail "KPE_VM_KERNEL=$KPE_VM_KERNEL: not one of debian11-amd64 debian12-amd64 debian13-amd64 debian12-arm64" ;;
        esac
        if [ "$VM_ARCH" = arm64 ]; then
                command -v qemu-system-aarch64 >/dev/null 2>&1 ||
                        skip "missing qemu-system-aarch64 (Debian package qemu-system-arm)"
                # Software emulation of another architecture is slower.
                VM_TIMEOUT=$((VM_TIMEOUT * 2))
        else
                command -v qemu-system-x86_64 >/dev/null 2>&1 ||
                        skip "missing qemu-system-x86_64 (Debian package qemu-system-x86)"
        fi
        command -v python3 >/dev/null 2>&1 || skip "missing python3"
        command -v curl >/dev/null 2>&1 || skip "missing curl"
        [ -x "${KPE_BIN:-}" ] || fail "KPE_BIN is not an executable: '${KPE_BIN:-}'"
        KPE_VM_CACHE=${KPE_VM_CACHE:-$(dirname "$KPE_BIN")/vm-cache}
        VM_DAEMON=$KPE_BIN
        [ "$VM_ARCH" = x86_64 ] || vm_cross_daemon

        KPE_WORK=$(mktemp -d /tmp/kpe_vm.XXXXXX) || fail "mktemp"
        trap vm_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        mkdir "$KPE_WORK/files"
        cp "$VM_DIR/guest-lib.sh" "$KPE_WORK/files/"
        # Ports on the host's 127.0.0.1: the daemon's forward, the step
        # channel's forward, Prometheus (prom_start).
        read -r KPE_PORT CTL_PORT PROM_PORT <<<"$(free_ports 3)"
        [ -n "$PROM_PORT" ] || fail "no free ports on 127.0.0.1"
}

# $1 distinct free TCP ports of 127.0.0.1 on one line: lib.sh's free_port
# $1 times in one python3 (bound together, so that they differ).
free_ports() {
        python3 - "$1" <<'EOF'
import socket, sys

socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# lib.sh's json_get for several expressions over one file, in one python3:
# json_vars FILE NAME EXPR [NAME EXPR ...] prints NAME=VALUE assignments
# for eval, each VALUE as json_get would print it (JSON unless a str), or
# empty when the file is no JSON or the expression fails (json_get then
# prints nothing either): every NAME is set.
json_vars() {
        python3 - "$@" <<'EOF'
import json, shlex, sys

try:
    j = json.load(open(sys.argv[1], encoding="utf-8"))
except (OSError, ValueError) as e:
    print(f"json_vars: {sys.argv[1]}: {e!r}", file=sys.stderr)
    j = None
args = sys.argv[2:]
for name, expr in zip(args[::2], args[1::2]):
    try:
        v = eval(expr, {"j": j})
        v = v if isinstance(v, str) else json.dumps(v)
    except Exception as e:
        print(f"json_vars: {name}: {expr}: {e!r}", file=sys.stderr)
        v = ""
    print(f"{name}={shlex.quote(v)}")
EOF
}

# The arm64 daemon, built from KPE_SOURCE_ROOT (else the tree this file is
# in) into cross-arm64 beside KPE_BIN (the main build dir). Sets VM_DAEMON;
# cross-build.sh's SKIP is ours, and so is its failure.
vm_cross_daemon() {
        local src=${KPE_SOURCE_ROOT:-$VM_DIR/../..} dir out rc=0
        dir=$(dirname "$KPE_BIN")/cross-arm64
        out=$(bash "$VM_DIR/cross-build.sh" "$src" "$dir" 2>&1) || rc=$?
        if [ $rc = 77 ]; then
                grep '^SKIP: ' <<<"$out" | head -n 1
                exit 77
        fi
        [ $rc = 0 ] || fail "cross-build.sh failed ($rc): $(tail -n 20 <<<"$out")"
        VM_DAEMON=$dir/kprobe-exporter
        log "arm64 daemon: $VM_DAEMON"
}

# Writes the guest half of the test (stdin) to /kpe/guest.sh, after the
# values of the host variables named as arguments.
guest_script() {
        local var
        {
                for var in "$@"; do
                        printf '%s=%q\n' "$var" "${!var}"
                done
                cat
        } >"$KPE_WORK/files/guest.sh"
}

# Runs mkimage.sh with arguments "$@", its output in $KPE_WORK/mkimage.log;
# its SKIP is ours, and so is its failure.
vm_mkimage() {
        local rc=0
        bash "$VM_DIR/mkimage.sh" "$@" >>"$KPE_WORK/mkimage.log" 2>&1 || rc=$?
        if [ $rc = 77 ]; then
                grep '^SKIP: ' "$KPE_WORK/mkimage.log" | head -n 1
                exit 77
        fi
        [ $rc = 0 ] || fail "mkimage.sh failed ($rc): $(tail -n 5 "$KPE_WORK/mkimage.log")"
        grep -E '^# (image|parts)' "$KPE_WORK/mkimage.log"
}

# Boots kernel $1 with initramfs $2 in the background; the daemon's port and
# the step channel are forwarded from the host.
vm_start() {
        VM_SERIAL="$KPE_WORK/serial.log"
        bash "$VM_DIR/boot.sh" "$1" "$2" "$VM_SERIAL" \
                "$VM_TIMEOUT" "$KPE_PORT:9417" "$CTL_PORT:7000" 2>"$KPE_WORK/boot.err" &
        VM_PID=$!
        log "VM booting (boot.sh pid $VM_PID): daemon at 127.0.0.1:$KPE_PORT"
}

# Builds the image and boots it in the background.
vm_boot() {
        vm_mkimage "$KPE_VM_CACHE" "$VM_DAEMON" "$KPE_WORK/files" "$KPE_WORK/image"
        vm_start "$KPE_WORK/image/vmlinuz" "$KPE_WORK/image/initrd.cpio"
}

# The serial console so far, without the CRs of the tty.
serial() {
        tr -d '\r' 2>/dev/null <"$VM_SERIAL"
}

# What the guest said: the rest of the first line "KPE: $1 ...".
# (awk reads to the end, here and in guest_block: if it stopped early, the
# writer before it would die of SIGPIPE and, under pipefail, fail the caller's
# pipeline now and then, depending on how much the guest printed.)
guest_fact() {
        serial | awk -v key="KPE: $1 " '!found && index($0, key) == 1 { print substr($0, length(key) + 1); found = 1 }'
}

# A file the guest showed (show NAME FILE in guest-lib.sh).
guest_block() {
        serial | awk -v name="$1" '$0 == "KPE-END " name { done = 1 } on && !done { print } $0 == "KPE-BEGIN " name { on = 1 }'
}

# Fails if the VM ended, the guest's script failed or a daemon in the
# guest ended by itself. $1: what we were waiting for.
guest_alive() {
        local died
        serial | grep '^KPE: guest-failed' >/dev/null && fail "the guest failed: $(guest_fact guest-failed)"
        died=$(serial | grep -m1 -o '^KPE: daemon\.[0-9]*\.died')
        [ -z "$died" ] || fail "the daemon in the guest exited by itself (${died#KPE: }) while we waited for $1"
        pid_alive "$VM_PID" || fail "the VM ended while we waited for $1"
}

# Waits (at most 60 s) until the guest waits at step $1.
guest_at() {
        local i
        for ((i = 0; i < 600; i++)); do
                serial | grep -xF "KPE: waiting $1" >/dev/null && return 0
                guest_alive "step '$1'"
                sleep 0.1
        done
        fail "the guest did not reach step '$1' within 60 s"
}

# Lets the guest go on from step $1: connects to its step listener (through
# the forward; until it listens, qemu closes our connection at once), reads
# the step it is at, answers the same name.
guest_go() {
        python3 - "$CTL_PORT" "$1" <<'EOF' || fail "step $1: could not reach the guest"
import socket, sys, time

port, step = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            said = b""
            while not said.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                said += chunk
            if said:
                if said.decode().strip() != step:
                    sys.exit(f"the guest is at step {said.decode().strip()!r}, not {step!r}")
                s.sendall(step.encode() + b"\n")
                s.shutdown(socket.SHUT_WR)
                s.recv(256)  # until the guest's nc closes
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(f"no answer on 127.0.0.1:{port} within 30 s")
EOF
}

# Waits (at most 20 s) until the daemon in the guest answers /healthz.
wait_healthy() {
        local i
        for ((i = 0; i < 200; i++)); do
                curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$KPE_PORT/healthz" 2>/dev/null && return 0
                guest_alive /healthz
                sleep 0.1
        done
        fail "the daemon in the guest did not answer /healthz on 127.0.0.1:$KPE_PORT within 20 s"
}

# Waits for the guest to power off (boot.sh bounds it by VM_TIMEOUT) and
# checks that its script ran to the end.
vm_wait_off() {
        local rc=0
        wait "$VM_PID" || rc=$?
        VM_PID=""
        [ $rc = 0 ] || fail "boot.sh exited with $rc: $(cat "$KPE_WORK/boot.err")"
        [ "$(guest_fact guest-exit)" = 0 ] || fail "the guest's script ended with '$(guest_fact guest-exit)'"
        log "VM powered off"
}

# Fails unless the guest's view of tracefs at $1 (show_tracefs) holds
# nothing of the daemon's: no probe of group kprobe_exporter, no instance.
assert_tracefs_clean() {
        local lines
        serial | grep -xF "KPE-END instances.$1" >/dev/null || fail "$1: the guest did not show tracefs"
        lines=$(guest_block "kprobe_events.$1" | grep -E '^[pr][0-9]*:kprobe_exporter/')
        [ -z "$lines" ] || fail "$1: probes of ours left in kprobe_events: $lines"
        if guest_block "instances.$1" | grep -x kprobe_exporter >/dev/null; then
                fail "$1: instances/kprobe_exporter left"
        fi
}

# Starts Prometheus on 127.0.0.1:PROM_PORT (vm_init) with a config of
# ours: one job scraping the daemon's forward every second, storage in the
# test's folder. Sets PROM_PID; waits (at most 20 s) until it is ready.
prom_start() {
        local i
        command -v prometheus >/dev/null 2>&1 || skip "missing prometheus (Debian package prometheus)"
        cat >"$KPE_WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kpe_vm
    static_configs:
      - targets: ['127.0.0.1:$KPE_PORT']
EOF
        prometheus --config.file="$KPE_WORK/prometheus.yml" --storage.tsdb.path="$KPE_WORK/prometheus" \
                --web.listen-address="127.0.0.1:$PROM_PORT" >"$KPE_WORK/prometheus.log" 2>&1 &
        PROM_PID=$!
        for ((i = 0; i < 200; i++)); do
                curl -fs --max-time 1 -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" && return 0
                pid_alive "$PROM_PID" || fail "prometheus exited: $(tail -n 5 "$KPE_WORK/prometheus.log")"
                sleep 0.1
        done
        fail "prometheus not ready on 127.0.0.1:$PROM_PORT within 20 s"
}

# Asks Prometheus's HTTP API for the instant vector of PromQL $1 until it
# is one sample of value $2, at most 20 s (a few scrapes). Prints the last
# answer's samples as "value {labels}" lines.
prom_wait_value() {
        python3 - "$PROM_PORT" "$1" "$2" <<'EOF'
import json, sys, time, urllib.parse, urllib.request

port, query, want = sys.argv[1], sys.argv[2], sys.argv[3]
url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
samples = []
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    with urllib.request.urlopen(url, timeout=5) as r:
        answer = json.load(r)
    if answer["status"] != "success":
        sys.exit(f"prometheus: {answer}")
    samples = answer["data"]["result"]
    if len(samples) == 1 and samples[0]["value"][1] == want:
        break
    time.sleep(0.5)
for s in samples:
    print(s["value"][1], json.dumps(s["metric"], sort_keys=True))
EOF
}

vm_cleanup() {
        local rc=$?
        trap - EXIT
        # boot.sh kills its qemu when it gets SIGTERM.
        [ -n "$VM_PID" ] && kill_pid "$VM_PID"
        [ -n "$PROM_PID" ] && kill_pid "$PROM_PID"
        if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "$VM_SERIAL" ] && [ -f "$VM_SERIAL" ]; then
                echo "---- the guest's serial console (last 80 lines) ----" >&2
                serial | tail -n 80 >&2
                [ -s "$KPE_WORK/boot.err" ] && cat "$KPE_WORK/boot.err" >&2
        fi
        [ -n "$KPE_WORK" ] && rm -rf "$KPE_WORK"
        exit $rc
}
