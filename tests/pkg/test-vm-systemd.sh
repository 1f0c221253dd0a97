#!/bin/bash
# The package under real systemd, as a user would run it: Debian 12
# (debootstrap --variant=minbase, systemd as PID 1) on Debian's cloud kernel
# under qemu, the .deb installed there with dpkg -i. From the host, through
# a forwarded port: /metrics counts real connects made in the guest;
# `systemctl reload` with a changed config keeps the unchanged probe's
# counter; an invalid config on reload is logged at priority err and
# changes nothing; the shipped example web config, set up as its comments
# say (certificate and key next to it, a bcrypt hash, the drop-in they
# show), serves HTTPS with basic auth from inside the unit's sandbox to
# the shipped Prometheus example's HTTPS job, takes a renewed certificate
# on reload, and keeps it when the sandbox cannot read a new key; the
# watchdog kills and restarts a stuck daemon; kill -9
# of the main PID gets it restarted and ExecStopPost's --cleanup removed its
# probes; `systemctl stop` leaves nothing of ours in tracefs; the socket
# unit starts the service on the first scrape and hands it the socket;
# dpkg --purge stops it cleanly; a metric labelled by unit counts the
# connects of a transient unit's short-lived processes under its name, and
# journal: true puts each in the journal (journalctl -o json KPE_PROBE=...),
# at most journal_rate a second, the rest counted. Also prints
# `systemd-analyze security`.
#
# How meson runs it:
#   KPE_BIN=<daemon> KPE_VM_CACHE=<build>/vm-cache KPE_PKG_CACHE=<build>/pkg-cache \
#       KPE_SOURCE_ROOT=<repo> bash tests/pkg/test-vm-systemd.sh
# The harness is tests/vm's (vmlib.sh: boot.sh, mkimage.sh --kernel). The
# guest is driven through its command channel (kpe-ctl, see
# mkimage-systemd.sh): vm_run runs one command line there.
. "$(dirname "$0")/../vm/vmlib.sh"

PKG_DIR=$(cd "$(dirname "$0")" && pwd)
VM_TIMEOUT=900            # the whole VM's life, all steps included
export KPE_VM_MEM=2048    # the initramfs holds the whole Debian tree
export KPE_VM_APPEND="console=ttyS0 panic=-1 loglevel=4 systemd.show_status=1"
UNIT=kprobe-exporter
SOURCE_CONFIG=""

vm_init
command -v debootstrap >/dev/null 2>&1 || skip "missing debootstrap (Debian package debootstrap)"
[ "$(id -u)" = 0 ] || skip "not root (debootstrap needs root)"
command -v certtool >/dev/null 2>&1 || skip "missing certtool (Debian package gnutls-bin)"
command -v htpasswd >/dev/null 2>&1 || skip "missing htpasswd (Debian package apache2-utils)"
command -v prometheus >/dev/null 2>&1 || skip "missing prometheus (Debian package prometheus)"
[ -d "${KPE_SOURCE_ROOT:-}/packaging/debian" ] || fail "KPE_SOURCE_ROOT '${KPE_SOURCE_ROOT:-}' has no packaging/debian"

# Runs the command line $1 in the guest; prints its output, returns its
# status. Fails if the channel does not answer within 90 s.
vm_run() {
        python3 - "$CTL_PORT" "$1" <<'PY'
import socket, sys, time

port, cmd = int(sys.argv[1]), sys.argv[2]
deadline = time.monotonic() + 90
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=80) as s:
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
    except OSError as e:
        out, err = b"", e
    text = out.decode(errors="replace")
    lines = text.rstrip("\n").split("\n")
    if lines and lines[-1].startswith("KPE-RC "):
        sys.stdout.write("".join(l + "\n" for l in lines[:-1]))
        sys.exit(int(lines[-1].split()[1]))
    if out:
        sys.exit(f"vm_run: the guest's answer to {cmd!r} has no status line: {text[-300:]!r}")
    # Nothing listens yet (qemu closes at once): only while booting.
    if time.monotonic() > deadline:
        sys.exit(f"vm_run: no answer from the guest's command channel for {cmd!r}")
    time.sleep(0.5)
PY
}

# Runs $1 in the guest and fails unless it succeeds; prints its output.
vm_ok() {
        local out rc=0
        out=$(vm_run "$1") || rc=$?
        [ $rc = 0 ] || fail "in the guest, '$1' exited with $rc: $out"
        printf '%s\n' "$out"
}

# Copies host file $1 to guest path $2.
vm_put() {
        vm_ok "echo $(base64 -w0 "$1") | base64 -d >$2" >/dev/null
}

# A property of the unit ($2, default the service).
unit_prop() {
        vm_ok "systemctl show -p $1 --value ${2:-$UNIT}"
}

# Makes $3 connects to 127.0.0.1:$1 in the guest, each with nc, $2 the
# connects' expected fate (for the message only).
guest_connects() {
        vm_ok "i=0; while [ \$i -lt $2 ]; do timeout 5 nc 127.0.0.1 $1 </dev/null >/dev/null 2>&1; i=\$((i + 1)); done" >/dev/null
}

# Our lines in the guest's kprobe_events.
our_kprobes() {
        vm_ok "grep -E '^[pr][0-9]*:kprobe_exporter/' /sys/kernel/tracing/kprobe_events || true"
}

assert_guest_clean() {
        local v
        v=$(our_kprobes)
        [ -z "$v" ] || fail "$1: probes of ours left in kprobe_events: $v"
        v=$(vm_ok "ls /sys/kernel/tracing/instances")
        ! grep -qx kprobe_exporter <<<"$v" || fail "$1: instances/kprobe_exporter left"
}

# How many journal lines of the unit match the extended regex $1.
journal_count() {
        vm_ok "journalctl -u $UNIT -o cat --no-pager | grep -cE '$1' || true"
}

# Waits (at most 30 s) until the unit's property $1 is $2.
wait_prop() {
        local i v
        for ((i = 0; i < 60; i++)); do
                v=$(unit_prop "$1" "${3:-$UNIT}")
                [ "$v" = "$2" ] && return 0
                sleep 0.5
        done
        fail "${3:-$UNIT}: $1 is '$v' after 30 s, want '$2'"
}

# ---- the package and the image ------------------------------------------------
rc=0
bash "$PKG_DIR/build-deb.sh" "$KPE_SOURCE_ROOT" "${KPE_PKG_CACHE:-$KPE_WORK/pkg-cache}" >"$KPE_WORK/build.log" 2>&1 || rc=$?
if [ $rc = 77 ]; then
        grep -m1 '^SKIP: ' "$KPE_WORK/build.log"
        exit 77
fi
[ $rc = 0 ] || fail "build-deb.sh failed: $(tail -n 30 "$KPE_WORK/build.log")"
grep '^# ' "$KPE_WORK/build.log"
DEB=$(tail -n 1 "$KPE_WORK/build.log")

rc=0
bash "$PKG_DIR/mkimage-systemd.sh" "$KPE_VM_CACHE" "$DEB" "$KPE_WORK/image" >"$KPE_WORK/mkimage.log" 2>&1 || rc=$?
if [ $rc = 77 ]; then
        grep -m1 '^SKIP: ' "$KPE_WORK/mkimage.log"
        exit 77
fi
[ $rc = 0 ] || fail "mkimage-systemd.sh failed ($rc): $(tail -n 20 "$KPE_WORK/mkimage.log")"
grep '^# ' "$KPE_WORK/mkimage.log"

boot_start=$(date +%s)
vm_start "$KPE_WORK/image/vmlinuz" "$KPE_WORK/image/initrd.cpio"
vm_ok "systemctl is-system-running --wait >/dev/null; systemctl is-system-running" >"$KPE_WORK/state" ||
        true
log "systemd is up in the guest after $(($(date +%s) - boot_start)) s: $(cat "$KPE_WORK/state"), $(vm_ok 'uname -r')"
[ "$(vm_ok 'readlink /proc/1/exe')" = /usr/lib/systemd/systemd ] || fail "PID 1 is not systemd: $(vm_ok 'readlink /proc/1/exe')"

# ---- dpkg -i: the service is enabled and started, the socket is not --------
vm_ok "dpkg -i /root/$(basename "$DEB")" >"$KPE_WORK/dpkg-i.log"
log "dpkg -i in the guest: $(grep -m1 '^Setting up' "$KPE_WORK/dpkg-i.log")"
[ "$(vm_ok "systemctl is-enabled $UNIT.service")" = enabled ] || fail "the service is not enabled after dpkg -i"
[ "$(vm_run "systemctl is-enabled $UNIT.socket")" = disabled ] || fail "the socket is enabled after dpkg -i"
wait_prop ActiveState active
v=$(vm_ok "busybox wget -q -O - http://127.0.0.1:9417/probes")
grep -q '"name":"connect"' <<<"$v" || fail "the installed service with the shipped config: /probes says $v"
log "started by its postinst, with the shipped config: $(unit_prop StatusText)"

# ---- our config, listening for the host ---------------------------------------
# connect: as shipped; tcp_connect: removed on reload; connect_v4 comes then.
cat >"$KPE_WORK/a.yaml" <<'YAML'
listen: ":9417"
probes:
  - name: connect
    type: kprobe
    target: __sys_connect_file
    fetch: [family=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]
    filter: family == 2
    decode: {port: ntohs, addr: ipv4}
    metrics:
      - name: connect_total
        labels: [comm, addr, port]
  - name: tcp_connect
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: newstate == 2 && protocol == 6
    metrics:
      - name: tcp_connect_total
        labels: [comm, daddr, dport]
YAML
{
        sed -n '1,/^  - name: tcp_connect$/p' "$KPE_WORK/a.yaml" | sed '$d'
        cat <<'YAML'
  - name: connect_v4
    type: kprobe
    target: tcp_v4_connect
    fetch: [port=+2(%si):u16, addr=+4(%si):u32]
    decode: {port: ntohs, addr: ipv4}
    metrics:
      - name: tcp_v4_connect_total
        labels: [comm, addr, port]
YAML
} >"$KPE_WORK/b.yaml"
printf 'probes:\n  - name: connect\n    type: kprobe\n    target: __sys_connect_file\n    fetc: []\n' >"$KPE_WORK/bad.yaml"

vm_put "$KPE_WORK/a.yaml" /etc/kprobe-exporter/probes.yaml
vm_ok "kprobe-exporter --config.check" >/dev/null
vm_ok "systemctl restart $UNIT"
wait_healthy
vm_ok "systemd-run --unit=kpe-listen25 nc -ll -p 25 -e /bin/true" >/dev/null
pid1=$(unit_prop MainPID)
log "restarted with our config (MainPID $pid1), /healthz answers at 127.0.0.1:$KPE_PORT"

K1=3
guest_connects 25 $K1
v=$(wait_metric $K1 connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = $K1 ] || fail "connect_total{comm=nc,addr=127.0.0.1,port=25} is $v after $K1 connects, want $K1"
v=$(wait_metric $K1 tcp_connect_total comm=nc daddr=127.0.0.1 dport=25)
[ "$v" = $K1 ] || fail "tcp_connect_total{comm=nc,daddr=127.0.0.1,dport=25} is $v, want $K1"
log "$K1 connects in the guest: connect_total and tcp_connect_total are $K1 on the host"

# ---- reload ---------------------------------------------------------------------
vm_put "$KPE_WORK/b.yaml" /etc/kprobe-exporter/probes.yaml
vm_ok "systemctl reload $UNIT"
[ "$(unit_prop MainPID)" = "$pid1" ] || fail "reload changed MainPID from $pid1 to $(unit_prop MainPID)"
[ "$(unit_prop ActiveState)" = active ] || fail "after reload: $(unit_prop ActiveState)"
[ "$(journal_count 'Reloaded: 1 probe\(s\) kept with their counters, 1 removed, 1 registered')" = 1 ] ||
        fail "the journal has no 'Reloaded: 1 kept, 1 removed, 1 registered': $(vm_ok "journalctl -u $UNIT -o cat --no-pager | tail -n 8")"
v=$(our_kprobes | sed 's/ .*//' | sort | tr '\n' ' ')
[ "$v" = "p:kprobe_exporter/connect p:kprobe_exporter/connect_v4 " ] || fail "kprobe_events after reload: '$v'"
[ "$(vm_ok "cat /sys/kernel/tracing/instances/kprobe_exporter/events/sock/inet_sock_set_state/enable")" = 0 ] ||
        fail "the removed tracepoint is still enabled in our instance"
K2=2
guest_connects 25 $K2
v=$(wait_metric $((K1 + K2)) connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = $((K1 + K2)) ] || fail "connect_total after reload and $K2 more connects is $v, want $((K1 + K2)) (the counter of the unchanged probe was not kept)"
v=$(wait_metric $K2 tcp_v4_connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = $K2 ] || fail "tcp_v4_connect_total of the added probe is $v, want $K2"
[ "$(metric_value "$KPE_WORK/metrics.txt" tcp_connect_total comm=nc daddr=127.0.0.1 dport=25)" = absent ] ||
        fail "tcp_connect_total of the removed probe is still served"
log "systemctl reload: same MainPID, connect_total kept ($K1 + $K2 = $((K1 + K2))), connect_v4 added ($K2), tcp_connect removed"

vm_put "$KPE_WORK/bad.yaml" /etc/kprobe-exporter/probes.yaml
vm_ok "systemctl reload $UNIT"
v=$(vm_ok "journalctl -u $UNIT -p err -o cat --no-pager")
grep -q '/etc/kprobe-exporter/probes.yaml:5:5' <<<"$v" || fail "journalctl -p err shows no file:line:column for the bad config: $v"
[ "$(unit_prop MainPID)" = "$pid1" ] && [ "$(unit_prop ActiveState)" = active ] || fail "an invalid config on reload stopped the service"
v=$(wait_metric $((K1 + K2)) connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = $((K1 + K2)) ] || fail "connect_total after an invalid reload is $v, want $((K1 + K2))"
log "an invalid config on reload: journalctl -p err shows '$(vm_ok "journalctl -u $UNIT -p err -o cat --no-pager" | grep -m1 'probes.yaml:5:5')', the old config runs on"
vm_put "$KPE_WORK/b.yaml" /etc/kprobe-exporter/probes.yaml

# ---- who did it: the unit, and the journal ----------------------------------
# A reload adds a probe labelled by unit, with journal: true (so the daemon
# adds its fork/exit/cgroup events and reads /proc once). Connects made by
# short-lived nc processes of a transient unit are counted under it, and
# each is one journal entry with the decoded fields; twice in a row. Then
# a burst over journal_rate: what the journal did not get is counted.
JRATE=5
# A transient service $1 whose sh makes $2 connects to port 25, each with
# a short-lived nc; waits until it has ended. (systemd-run --wait needs
# D-Bus, which the minbase guest lacks.)
run_unit() {
        vm_ok "systemd-run --quiet --unit=$1 sh -c 'i=0; while [ \$i -lt $2 ]; do timeout 5 nc 127.0.0.1 25 </dev/null >/dev/null 2>&1; i=\$((i + 1)); done'" >/dev/null
        wait_prop ActiveState inactive $1.service
}
{
        cat "$KPE_WORK/b.yaml"
        cat <<YAML
  - name: tcp_unit
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: newstate == 2 && protocol == 6 && dport == 25
    journal: true
    journal_rate: $JRATE
    metrics:
      - name: tcp_connect_by_unit_total
        labels: [unit, container_id, dport]
YAML
} >"$KPE_WORK/c.yaml"
vm_put "$KPE_WORK/c.yaml" /etc/kprobe-exporter/probes.yaml
vm_ok "systemctl reload $UNIT"
[ "$(unit_prop MainPID)" = "$pid1" ] || fail "the attribution reload changed MainPID"
for ((i = 0; i < 60; i++)); do
        [ "$(journal_count 'Attribution: [0-9]+ tasks read from /proc')" = 1 ] && break
        sleep 0.5
done
[ $i -lt 60 ] || fail "no 'Attribution: N tasks read from /proc' after the reload: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | tail -n 8")"
log "reload with a unit label: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | grep -E 'Following tasks|Attribution:' | tr '\n' ' '")"
N=4
for round in 1 2; do
        run_unit demo-connect $N
        want=$((N * round))
        v=$(wait_metric $want tcp_connect_by_unit_total unit=demo-connect.service container_id= dport=25)
        [ "$v" = $want ] || fail "round $round: tcp_connect_by_unit_total{unit=demo-connect.service} is $v, want $want: $(grep tcp_connect_by_unit "$KPE_WORK/metrics.txt")"
        for ((i = 0; i < 40; i++)); do
                got=$(vm_ok "journalctl -o json --no-pager KPE_PROBE=tcp_unit KPE_UNIT=demo-connect.service | wc -l")
                [ "$got" = $want ] && break
                sleep 0.5
        done
        [ "$got" = $want ] || fail "round $round: journalctl -o json KPE_PROBE=tcp_unit KPE_UNIT=demo-connect.service gives $got entries, want $want"
done
vm_ok "journalctl -o json --no-pager KPE_PROBE=tcp_unit KPE_UNIT=demo-connect.service" >"$KPE_WORK/journal.json"
python3 - "$KPE_WORK/journal.json" <<'PY2' || fail "the journal entries of demo-connect.service: $(head -c 1500 "$KPE_WORK/journal.json")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for e in entries:
    want = {"KPE_PROBE": "tcp_unit", "KPE_UNIT": "demo-connect.service", "KPE_COMM": "nc", "KPE_DPORT": "25",
            "KPE_DADDR": "127.0.0.1", "KPE_NEWSTATE": "TCP_SYN_SENT", "SYSLOG_IDENTIFIER": "kprobe-exporter",
            "MESSAGE_ID": "8e0f217d85d24ec48855dddbd905baec", "_SYSTEMD_UNIT": "kprobe-exporter.service"}
    bad = {k: (e.get(k), v) for k, v in want.items() if e.get(k) != v}
    if bad or "KPE_CONTAINER_ID" in e or not e.get("KPE_CGROUP", "").endswith("/demo-connect.service") \
            or not e["MESSAGE"].startswith("tcp_unit: comm=nc pid="):
        sys.exit(f"entry {e.get('KPE_PID')}: {bad} cgroup={e.get('KPE_CGROUP')} message={e.get('MESSAGE')!r}")
print(f"{len(entries)} entries, e.g. MESSAGE={entries[0]['MESSAGE']!r} KPE_CGROUP={entries[0]['KPE_CGROUP']}")
PY2
log "2 x $N connects of short-lived nc in systemd-run --unit=demo-connect: tcp_connect_by_unit_total{unit=demo-connect.service} $((2 * N)), $((2 * N)) journal entries (journalctl -o json KPE_PROBE=tcp_unit) with the decoded fields"

B=20
# One bash making them all through /dev/tcp: a burst well within a second.
vm_ok "systemd-run --quiet --unit=demo-burst bash -c 'for ((i = 0; i < $B; i++)); do exec 3<>/dev/tcp/127.0.0.1/25 && exec 3<&-; done'" >/dev/null
wait_prop ActiveState inactive demo-burst.service
v=$(wait_metric $B tcp_connect_by_unit_total unit=demo-burst.service container_id= dport=25)
[ "$v" = $B ] || fail "tcp_connect_by_unit_total{unit=demo-burst.service} is $v, want $B"
sleep 1
sent=$(vm_ok "journalctl -o json --no-pager KPE_PROBE=tcp_unit KPE_UNIT=demo-burst.service | wc -l")
dropped=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_journal_dropped_total probe=tcp_unit)
[ "$((sent + dropped))" = $B ] || fail "the burst: $sent in the journal + $dropped dropped != $B connects"
secs=$(vm_ok "journalctl -o json --no-pager KPE_PROBE=tcp_unit KPE_UNIT=demo-burst.service" |
        python3 -c 'import json,sys; print(len({int(json.loads(l)["__MONOTONIC_TIMESTAMP"]) // 1000000 for l in sys.stdin}) + 1)')
[ "$sent" -ge 1 ] && [ "$sent" -le $((JRATE * secs)) ] && [ "$dropped" -gt 0 ] ||
        fail "the burst: $sent entries over about $secs second windows ($dropped dropped), journal_rate $JRATE"
log "a burst of $B connects with journal_rate $JRATE: $sent journaled, $dropped counted in kprobe_exporter_journal_dropped_total"
vm_put "$KPE_WORK/b.yaml" /etc/kprobe-exporter/probes.yaml
vm_ok "systemctl reload $UNIT"

# ---- the example web config, in the unit's sandbox ---------------------------
# Set up as the installed example's comments tell an admin: a key and a
# certificate next to it in /etc/kprobe-exporter (made here with certtool,
# signed by a CA of ours, for 127.0.0.1: the host reaches the guest's
# daemon through a forward), the key chmod 600, a bcrypt hash made as it
# says, and the drop-in it shows, taken from its text.
EX=/usr/share/doc/kprobe-exporter/examples
P="$KPE_WORK/pki"
mkdir -p "$P"
mkcert() { # $1 name, $2 template lines; signed by our CA unless $1 is ca
        certtool --generate-privkey --key-type=ecdsa --outfile "$P/$1.key" 2>/dev/null || fail "certtool: key $1"
        printf '%s\n' "$2" >"$P/$1.tmpl"
        if [ "$1" = ca ]; then
                certtool --generate-self-signed --load-privkey "$P/$1.key" --template "$P/$1.tmpl" \
                        --outfile "$P/$1.crt" 2>"$P/$1.log" || fail "certtool: $1: $(cat "$P/$1.log")"
        else
                certtool --generate-certificate --load-privkey "$P/$1.key" --load-ca-certificate "$P/ca.crt" \
                        --load-ca-privkey "$P/ca.key" --template "$P/$1.tmpl" --outfile "$P/$1.crt" \
                        2>"$P/$1.log" || fail "certtool: $1: $(cat "$P/$1.log")"
        fi
}
mkcert ca $'cn = "kpe vm test CA"\nca\ncert_signing_key\nexpiration_days = 2'
for name in server renewed; do
        mkcert $name $'cn = "kpe vm test '$name$'"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 2'
done
PW="scrape-$RANDOM-$RANDOM"
printf '%s' "$PW" >"$P/password"
HASH=$(htpasswd -nbBC 10 "" "$PW" | tr -d ':\n')
vm_ok "cat $EX/web-config.yml" >"$KPE_WORK/web-config.yml"
grep -q '^  prometheus: \$2y\$10\$' "$KPE_WORK/web-config.yml" || fail "the installed example has no user prometheus with a bcrypt hash"
sed "s|^  prometheus: .*|  prometheus: $HASH|" "$KPE_WORK/web-config.yml" >"$KPE_WORK/web-config.mine.yml"
sed -n 's/^# *\(\[Service\]\|ExecStart=.*\)$/\1/p' "$KPE_WORK/web-config.yml" >"$KPE_WORK/web-config.conf"
[ "$(sed -n 1p "$KPE_WORK/web-config.conf")" = "[Service]" ] && [ "$(sed -n 2p "$KPE_WORK/web-config.conf")" = "ExecStart=" ] &&
        [ "$(wc -l <"$KPE_WORK/web-config.conf")" = 3 ] &&
        grep -q '^ExecStart=/usr/sbin/kprobe-exporter .*--web.config.file=/etc/kprobe-exporter/web-config.yml' "$KPE_WORK/web-config.conf" ||
        fail "the example's drop-in is not [Service], ExecStart= and an ExecStart with --web.config.file: $(cat "$KPE_WORK/web-config.conf")"
vm_put "$KPE_WORK/web-config.mine.yml" /etc/kprobe-exporter/web-config.yml
vm_put "$P/server.crt" /etc/kprobe-exporter/server.crt
vm_put "$P/server.key" /etc/kprobe-exporter/server.key
vm_ok "chmod 600 /etc/kprobe-exporter/server.key && mkdir -p /etc/systemd/system/$UNIT.service.d" >/dev/null
vm_put "$KPE_WORK/web-config.conf" /etc/systemd/system/$UNIT.service.d/web-config.conf
v=$(vm_ok "kprobe-exporter --web.config.file=/etc/kprobe-exporter/web-config.yml --config.check | grep '^# web config'")
[ "$v" = "# web config /etc/kprobe-exporter/web-config.yml: HTTPS, basic auth" ] || fail "--config.check in the guest: '$v'"
vm_ok "systemctl daemon-reload && systemctl restart $UNIT" >/dev/null
unit_prop ExecStart | grep -q -- '--web.config.file=/etc/kprobe-exporter/web-config.yml' ||
        fail "the drop-in's ExecStart is not in effect: $(unit_prop ExecStart)"
KPE_SCHEME=https
KPE_CURL_OPTS=(--cacert "$P/ca.crt" -u "prometheus:$PW")
for ((i = 0; i < 200; i++)); do
        curl -fsS --max-time 1 -o /dev/null "${KPE_CURL_OPTS[@]}" "https://127.0.0.1:$KPE_PORT/healthz" 2>/dev/null && break
        [ "$(unit_prop ActiveState)" != failed ] || fail "the service failed with the web config: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | tail -n 5")"
        sleep 0.1
done
[ $i -lt 200 ] || fail "no HTTPS /healthz with the example web config within 20 s: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | tail -n 5")"
pid_web=$(unit_prop MainPID)
if curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$KPE_PORT/healthz" 2>/dev/null; then
        fail "plain HTTP was served with the web config"
fi
code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$P/ca.crt" "https://127.0.0.1:$KPE_PORT/metrics") ||
        fail "HTTPS without credentials: curl failed"
[ "$code" = 401 ] || fail "HTTPS without credentials answered $code, want 401"
guest_connects 25 2
v=$(wait_metric 2 connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = 2 ] || fail "over HTTPS with basic auth: connect_total is $v after 2 connects, want 2"
log "the example web config with the drop-in it shows: the service (pid $pid_web) reads it and its key in its sandbox; HTTPS with basic auth 200, plain HTTP refused, no credentials 401"

# The installed Prometheus example's HTTPS job, uncommented as it says,
# scrapes it from the host (its plain job finds nothing at 127.0.0.1:9417
# here; that is not looked at).
vm_ok "cat $EX/prometheus.yml" | sed -E 's/^( *)#([A-Za-z_-])/\1\2/' |
        sed -e "s|/etc/prometheus/kprobe-exporter.crt|$P/ca.crt|" -e "s|/etc/prometheus/kprobe-exporter.password|$P/password|" \
                -e "s|host.example.org:9417|127.0.0.1:$KPE_PORT|" -e "s|scrape_interval: 15s|scrape_interval: 1s|" \
                >"$KPE_WORK/prometheus-tls.yml"
vm_ok "cat $EX/kprobe-exporter.rules.yml" >"$KPE_WORK/kprobe-exporter.rules.yml"
grep -q "^  - job_name: kprobe-exporter-tls$" "$KPE_WORK/prometheus-tls.yml" || fail "no HTTPS job in the uncommented example"
prometheus --config.file="$KPE_WORK/prometheus-tls.yml" --storage.tsdb.path="$KPE_WORK/prometheus-tls" \
        --web.listen-address="127.0.0.1:$PROM_PORT" >"$KPE_WORK/prometheus-tls.log" 2>&1 &
PROM_PID=$!
v=$(prom_wait_value 'connect_total{job="kprobe-exporter-tls",comm="nc",addr="127.0.0.1",port="25"}' 2) ||
        fail "Prometheus: $v $(tail -n 5 "$KPE_WORK/prometheus-tls.log")"
[ "${v%% *}" = 2 ] || fail "Prometheus with the example's HTTPS job: '$v', want connect_total 2 ($(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/targets" | head -c 600))"
kill_pid "$PROM_PID"
PROM_PID=""
log "Prometheus with the example's HTTPS job (CA, basic_auth password_file) scraped connect_total 2"

# systemctl reload with a renewed certificate and key under the same
# names: the daemon reads them in its sandbox and serves the new one on
# the same socket. Then a key the sandbox cannot read (another owner,
# mode 600): logged at err on reload, the certificate in use kept.
serial_of() {
        curl -sS --max-time 5 -o /dev/null -w '%{certs}' "${KPE_CURL_OPTS[@]}" "https://127.0.0.1:$KPE_PORT/healthz" |
                grep -m1 -i '^Serial Number:' | tr -d ' '
}
s1=$(serial_of)
[ -n "$s1" ] || fail "no serial number from the server's certificate"
vm_put "$P/renewed.crt" /etc/kprobe-exporter/server.crt
vm_put "$P/renewed.key" /etc/kprobe-exporter/server.key
vm_ok "chmod 600 /etc/kprobe-exporter/server.key && systemctl reload $UNIT" >/dev/null
for ((i = 0; i < 100; i++)); do
        s2=$(serial_of || true)
        [ -n "$s2" ] && [ "$s2" != "$s1" ] && break
        sleep 0.1
done
[ -n "$s2" ] && [ "$s2" != "$s1" ] || fail "the renewed certificate is not served 10 s after systemctl reload ($s1, then '$s2')"
[ "$(unit_prop MainPID)" = "$pid_web" ] || fail "the reload changed MainPID from $pid_web to $(unit_prop MainPID)"
[ "$(journal_count 'TLS changed: restarting the HTTP server on the same socket')" = 1 ] ||
        fail "no 'TLS changed' line in the journal: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | tail -n 5")"
vm_put "$P/server.key" /etc/kprobe-exporter/server.key
vm_put "$P/server.crt" /etc/kprobe-exporter/server.crt
vm_ok "chmod 600 /etc/kprobe-exporter/server.key && chown 4242:4242 /etc/kprobe-exporter/server.key && cat /etc/kprobe-exporter/server.key >/dev/null && systemctl reload $UNIT" >/dev/null
for ((i = 0; i < 100; i++)); do
        v=$(vm_ok "journalctl -u $UNIT -p err -o cat --no-pager | grep -F 'server.key' || true")
        [ -n "$v" ] && break
        sleep 0.1
done
grep -q "cannot read '/etc/kprobe-exporter/server.key': Permission denied" <<<"$v" ||
        fail "a key of another owner: journalctl -p err says '$v'"
[ "$(serial_of)" = "$s2" ] && [ "$(unit_prop MainPID)" = "$pid_web" ] ||
        fail "an unreadable key on reload changed the certificate served or the process"
log "systemctl reload: the renewed certificate is served (serial ${s1#*:} -> ${s2#*:}, same pid); a key of another owner is unreadable in the sandbox (root without capabilities): '$(head -n 1 <<<"$v")', the certificate in use kept"

vm_ok "rm -r /etc/systemd/system/$UNIT.service.d && rm /etc/kprobe-exporter/web-config.yml /etc/kprobe-exporter/server.crt /etc/kprobe-exporter/server.key && systemctl daemon-reload && systemctl restart $UNIT" >/dev/null
KPE_SCHEME=http
KPE_CURL_OPTS=()
wait_healthy

# ---- the watchdog ------------------------------------------------------------
[ "$(unit_prop WatchdogUSec)" = 30s ] || fail "WatchdogUSec is '$(unit_prop WatchdogUSec)', want the unit's 30s"
# A shorter one, so that a stuck daemon is seen within seconds.
vm_ok "mkdir -p /etc/systemd/system/$UNIT.service.d && printf '[Service]\nWatchdogSec=4s\nTimeoutAbortSec=2s\n' >/etc/systemd/system/$UNIT.service.d/test-watchdog.conf && systemctl daemon-reload && systemctl restart $UNIT" >/dev/null
wait_healthy
pid2=$(unit_prop MainPID)
w1=$(unit_prop WatchdogTimestampMonotonic)
sleep 4
w2=$(unit_prop WatchdogTimestampMonotonic)
[ "$w2" -gt "$w1" ] || fail "no watchdog ping in 4 s (WatchdogTimestampMonotonic $w1, then $w2)"
log "watchdog pings: WatchdogTimestampMonotonic $w1 -> $w2 in 4 s (WatchdogSec=4s)"
restarts=$(unit_prop NRestarts)
cleanups=$(journal_count "Removed [1-9][0-9]* leftover\(s\) of .kprobe_exporter.")
vm_ok "kill -STOP $pid2"
for ((i = 0; i < 60; i++)); do
        v=$(unit_prop MainPID)
        [ "$v" != "$pid2" ] && [ "$v" != 0 ] && [ "$(unit_prop ActiveState)" = active ] && break
        sleep 0.5
done
[ "$v" != "$pid2" ] && [ "$v" != 0 ] || fail "the stopped daemon (pid $pid2) was not replaced within 30 s"
[ "$(journal_count 'Watchdog timeout')" -ge 1 ] || fail "no 'Watchdog timeout' in the journal"
[ "$(unit_prop NRestarts)" = $((restarts + 1)) ] || fail "NRestarts is $(unit_prop NRestarts), want $((restarts + 1))"
[ "$(journal_count "Removed [1-9][0-9]* leftover\(s\) of .kprobe_exporter.")" = $((cleanups + 1)) ] ||
        fail "ExecStopPost's --cleanup did not succeed after the watchdog kill: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | grep -E 'Cleanup|leftover|Control process' | tail -n 3")"
log "watchdog: SIGSTOP'd daemon (pid $pid2) killed on 'Watchdog timeout', ExecStopPost cleaned up, restarted as pid $v"
vm_ok "rm /etc/systemd/system/$UNIT.service.d/test-watchdog.conf && systemctl daemon-reload" >/dev/null
wait_healthy

# ---- kill -9 -------------------------------------------------------------------
pid3=$(unit_prop MainPID)
restarts=$(unit_prop NRestarts)
cleanups=$(journal_count "Removed [1-9][0-9]* leftover\(s\) of .kprobe_exporter.")
earlier=$(journal_count 'leftovers of an earlier run')
id_before=$(vm_ok "cat /sys/kernel/tracing/events/kprobe_exporter/connect/id")
vm_ok "kill -9 $pid3"
for ((i = 0; i < 60; i++)); do
        v=$(unit_prop MainPID)
        [ "$v" != "$pid3" ] && [ "$v" != 0 ] && [ "$(unit_prop ActiveState)" = active ] && break
        sleep 0.5
done
[ "$v" != "$pid3" ] && [ "$v" != 0 ] || fail "after kill -9 of $pid3 no new MainPID within 30 s ($(unit_prop ActiveState))"
pid4=$v
[ "$(unit_prop NRestarts)" = $((restarts + 1)) ] || fail "NRestarts is $(unit_prop NRestarts) after kill -9, want $((restarts + 1))"
[ "$(journal_count "Removed [1-9][0-9]* leftover\(s\) of .kprobe_exporter.")" = $((cleanups + 1)) ] ||
        fail "ExecStopPost's --cleanup did not succeed after kill -9: $(vm_ok "journalctl -u $UNIT -o cat --no-pager | grep -E 'Cleanup|leftover|Control process' | tail -n 3")"
[ "$(journal_count 'leftovers of an earlier run')" = "$earlier" ] ||
        fail "the restarted daemon found leftovers: ExecStopPost did not clean up before it"
id_after=$(vm_ok "cat /sys/kernel/tracing/events/kprobe_exporter/connect/id")
[ "$id_before" != "$id_after" ] || fail "kprobe_exporter/connect has the same event id ($id_before) after the restart"
v=$(our_kprobes | sed 's/ .*//' | sort | tr '\n' ' ')
[ "$v" = "p:kprobe_exporter/connect p:kprobe_exporter/connect_v4 " ] || fail "kprobe_events after the restart: '$v'"
wait_healthy
guest_connects 25 1
v=$(wait_metric 1 connect_total comm=nc addr=127.0.0.1 port=25)
[ "$v" = 1 ] || fail "the restarted daemon counts $v for one connect"
log "kill -9 $pid3: restarted as pid $pid4, ExecStopPost --cleanup removed the probes (event id $id_before -> $id_after), counting again"

# ---- stop ------------------------------------------------------------------------
vm_ok "systemctl stop $UNIT"
[ "$(unit_prop ActiveState)" = inactive ] || fail "after systemctl stop: $(unit_prop ActiveState)"
assert_guest_clean "after systemctl stop"
[ "$(vm_ok "journalctl -u $UNIT -o cat --no-pager | grep -c 'Stopped; our probes and instance are removed'")" -ge 1 ] ||
        fail "no clean-stop line in the journal"
log "systemctl stop: inactive, nothing of ours in kprobe_events or instances/"

# ---- socket activation --------------------------------------------------------
vm_ok "mkdir -p /etc/systemd/system/$UNIT.socket.d && printf '[Socket]\nListenStream=\nListenStream=9417\n' >/etc/systemd/system/$UNIT.socket.d/test-listen.conf && systemctl daemon-reload && systemctl start $UNIT.socket" >/dev/null
[ "$(unit_prop ActiveState "$UNIT.socket")" = active ] || fail "the socket is $(unit_prop ActiveState "$UNIT.socket")"
[ "$(unit_prop ActiveState)" = inactive ] || fail "the service started with the socket, before any connection"
# The first scrape starts it. The config says listen ":9417" too: had the
# daemon bound it itself instead of taking systemd's socket, it would have
# failed with EADDRINUSE.
code=$(curl -sS --max-time 60 -o "$KPE_WORK/metrics.txt" -w '%{http_code}' "http://127.0.0.1:$KPE_PORT/metrics") ||
        fail "the first scrape through the socket unit failed"
[ "$code" = 200 ] || fail "the first scrape through the socket unit answered $code"
[ "$(unit_prop ActiveState)" = active ] || fail "the service is $(unit_prop ActiveState) after the first scrape"
[ "$(unit_prop TriggeredBy)" = "$UNIT.socket" ] || fail "TriggeredBy is '$(unit_prop TriggeredBy)'"
v=$(vm_ok "readlink /proc/\$(systemctl show -p MainPID --value $UNIT)/fd/3")
[[ $v == socket:* ]] || fail "fd 3 of the daemon is $v, not the socket systemd passed"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_probe_up probe=connect)
[ "$v" = 1 ] || fail "kprobe_exporter_probe_up{probe=connect} is $v in the socket-activated daemon"
log "socket activation: the first scrape started the service (TriggeredBy=$UNIT.socket), which serves on systemd's socket (fd 3)"
vm_ok "systemctl stop $UNIT.socket $UNIT" >/dev/null
assert_guest_clean "after stopping the socket and the service"

# ---- systemd-analyze security --------------------------------------------------
vm_ok "systemd-analyze security --no-pager $UNIT.service" >"$KPE_WORK/security.txt"
score=$(sed -n "s/.*Overall exposure level for $UNIT.service: \([0-9.]*\) \(.*\)/\1 \2/p" "$KPE_WORK/security.txt")
[ -n "$score" ] || fail "no exposure level in systemd-analyze security's output"
log "systemd-analyze security $UNIT (systemd $(vm_ok 'systemctl --version | head -n 1 | cut -d" " -f2')): $score"
grep '✗' "$KPE_WORK/security.txt" | sed 's/  */ /g; s/^/#   /'

# ---- purge ------------------------------------------------------------------
vm_ok "systemctl start $UNIT" >/dev/null
wait_healthy
vm_ok "dpkg --purge $UNIT" >"$KPE_WORK/purge.log"
[ "$(unit_prop LoadState)" = not-found ] || fail "after dpkg --purge the unit is $(unit_prop LoadState)"
assert_guest_clean "after dpkg --purge of a running service"
vm_ok "! test -e /etc/kprobe-exporter && ! test -e /usr/sbin/kprobe-exporter" >/dev/null
log "dpkg --purge: the running service stopped, nothing of ours in tracefs, no files left"

# The guest's state is thrown away: vm_cleanup stops qemu (by its PID).
log "all steps done $(($(date +%s) - boot_start)) s after boot"
log "pass"
