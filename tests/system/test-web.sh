#!/bin/bash
# --web.config.file as an operator uses it: TLS with a client certificate
# policy, basic auth with htpasswd's bcrypt hashes, extra response headers;
# curl as every kind of client that must be refused, a real Prometheus as
# the one that must get in, and reloads (new users, a renewed server
# certificate, a broken file) while events flow. Certificates are made
# here with certtool (gnutls-bin): a CA, the server's, a client's, one of
# another CA, an expired one.
. "$(dirname "$0")/lib.sh"

kpe_init web
command -v certtool >/dev/null 2>&1 || fail "missing certtool (Debian package gnutls-bin)"
command -v htpasswd >/dev/null 2>&1 || fail "missing htpasswd (Debian package apache2-utils)"

P="$KPE_WORK/pki"
mkdir -p "$P"
# $1 name, $2 template lines; signed by CA $3 (a name) or self-signed.
mkcert() {
        local name=$1 tmpl=$2 ca=${3:-}
        certtool --generate-privkey --key-type=ecdsa --outfile "$P/$name.key" 2>/dev/null ||
                fail "certtool: key $name"
        printf '%s\n' "$tmpl" >"$P/$name.tmpl"
        if [ -z "$ca" ]; then
                certtool --generate-self-signed --load-privkey "$P/$name.key" --template "$P/$name.tmpl" \
                        --outfile "$P/$name.crt" 2>"$P/$name.log" || fail "certtool: $name: $(cat "$P/$name.log")"
        else
                certtool --generate-certificate --load-privkey "$P/$name.key" --load-ca-certificate "$P/$ca.crt" \
                        --load-ca-privkey "$P/$ca.key" --template "$P/$name.tmpl" --outfile "$P/$name.crt" \
                        2>"$P/$name.log" || fail "certtool: $name: $(cat "$P/$name.log")"
        fi
}
mkcert ca $'cn = "kpe test CA"\nca\ncert_signing_key\nexpiration_days = 2'
mkcert other_ca $'cn = "another CA"\nca\ncert_signing_key\nexpiration_days = 2'
mkcert server $'cn = "kpe test server"\nip_address = "127.0.0.1"\ndns_name = "localhost"\ntls_www_server\nsigning_key\nexpiration_days = 2' ca
mkcert server2 $'cn = "kpe renewed server"\nip_address = "127.0.0.1"\ndns_name = "localhost"\ntls_www_server\nsigning_key\nexpiration_days = 2' ca
mkcert client $'cn = "scraper"\ndns_name = "scraper.test"\ntls_www_client\nsigning_key\nexpiration_days = 2' ca
mkcert stranger $'cn = "scraper"\ndns_name = "scraper.test"\ntls_www_client\nsigning_key\nexpiration_days = 2' other_ca
mkcert expired $'cn = "scraper"\ndns_name = "scraper.test"\ntls_www_client\nsigning_key\nactivation_date = "2020-01-01 00:00:00"\nexpiration_date = "2020-06-01 00:00:00"' ca

# The README's three-line setup, run as written (in a folder of ours
# instead of /etc/kprobe-exporter, with the server certificate made above),
# gives a web config that loads, with TLS and one user.
mkdir -p "$P/readme"
cp "$P/server.crt" "$P/server.key" "$P/readme/"
awk '/^cd \/etc\/kprobe-exporter +#/ { on = 1; next } on && /^```/ { exit } on' "$KPE_SOURCE_ROOT/README.md" >"$P/readme/setup.sh"
[ "$(wc -l <"$P/readme/setup.sh")" = 2 ] || fail "README's web config setup not found: $(cat "$P/readme/setup.sh")"
(cd "$P/readme" && sh ./setup.sh) || fail "README's web config setup failed"
run_daemon --config.file="$KPE_SOURCE_ROOT/config/probes.yaml" --web.config.file="$P/readme/web-config.yml" --config.check ||
        fail "README's web config does not load: $(cat "$KPE_WORK/run.err")"
grep -q "^# web config .*: HTTPS, basic auth$" "$KPE_WORK/run.out" || fail "--config.check of README's web config: $(cat "$KPE_WORK/run.out")"
log "README's setup: $(grep -c '^  prometheus: \$2y\$10\$' "$P/readme/web-config.yml") user, HTTPS"

# htpasswd -B writes $2y$ hashes; cost 5 keeps the test quick (each check
# of a new password runs bcrypt in the daemon's loop).
hash_of() {
        htpasswd -nbBC 5 "$1" "$2" | cut -d: -f2- | tr -d '\n'
}
ALICE=$(hash_of alice 'wonder land')
BOB=$(hash_of bob builder)

# Relative file names: resolved against the web config's directory.
write_web() { # $1 server cert name, $2 basic_auth_users lines
        cat >"$P/web.yml" <<EOF
tls_server_config:
  cert_file: $1.crt
  key_file: $1.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS12
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
    X-Frame-Options: deny
basic_auth_users:
$2
EOF
}
write_web server "  alice: $ALICE"
{
        echo "recent_events: 1000"
        echo "probes:"
        seed_probe_yaml
} >"$KPE_WORK/probes.yaml"

KPE_SCHEME=https
KPE_CURL_OPTS=(--cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" -u 'alice:wonder land')
# A web config that does not load stops the start before anything is
# written to the kernel, every error at its file:line:column.
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: nope.key\n  client_auth_type: Sometimes\nbasic_auth_users:\n  alice: wonder land\nrate_limit: {}\n' >"$P/bad.yml"
before=$(tracefs_snapshot)
run_daemon --config.file="$KPE_WORK/probes.yaml" --tracefs.instance="$KPE_NAME" --web.config.file="$P/bad.yml" \
        --web.listen-address=127.0.0.1:$(free_port) && fail "a daemon with a broken web config started"
for want in "bad.yml:4:21: " "bad.yml:6:10: " "bad.yml:7:1: "; do
        grep -qF "$want" "$KPE_WORK/run.err" || fail "the broken web config's errors lack '$want': $(cat "$KPE_WORK/run.err")"
done
[ "$(tracefs_snapshot)" = "$before" ] || fail "a broken web config changed tracefs"
log "a broken web config stops the start: $(grep -c 'bad.yml:[0-9]*:[0-9]*:' "$KPE_WORK/run.err") errors at their places, tracefs untouched"

start_daemon "$KPE_WORK/probes.yaml" --web.config.file="$P/web.yml"
URL="https://127.0.0.1:$KPE_PORT"

"$KPE_CONNECTOR" call 7 || fail "connector call failed"
v=$(wait_metric 7 connect_total comm=connector addr=127.0.0.1 port=25)
[ "$v" = 7 ] || fail "over HTTPS with auth: connect_total is $v, want 7"
curl -sS -D "$KPE_WORK/headers" -o /dev/null "${KPE_CURL_OPTS[@]}" "$URL/metrics" || fail "curl /metrics"
grep -qi '^X-Content-Type-Options: nosniff' "$KPE_WORK/headers" || fail "no X-Content-Type-Options: $(cat "$KPE_WORK/headers")"
grep -qi '^X-Frame-Options: deny' "$KPE_WORK/headers" || fail "no X-Frame-Options: $(cat "$KPE_WORK/headers")"
log "HTTPS, client certificate and basic auth: 200, with the configured headers"

# A client with the right certificate but no, wrong or unknown credentials:
# 401, the same answer each time, with the challenge.
CERT=(--cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key")
i=0
for cred in none 'alice:wrong' 'mallory:wonder land' 'alice:wonder land '; do
        i=$((i + 1))
        args=()
        [ "$cred" = none ] || args=(-u "$cred")
        code=$(curl -sS -D "$KPE_WORK/h.$i" -o "$KPE_WORK/b.$i" -w '%{http_code}' "${CERT[@]}" "${args[@]}" "$URL/metrics") ||
                fail "curl with credentials '$cred' failed"
        [ "$code" = 401 ] || fail "credentials '$cred': $code, want 401"
        grep -qi '^WWW-Authenticate: Basic realm="kprobe-exporter"' "$KPE_WORK/h.$i" ||
                fail "credentials '$cred': no WWW-Authenticate: $(cat "$KPE_WORK/h.$i")"
        cmp -s "$KPE_WORK/b.1" "$KPE_WORK/b.$i" || fail "credentials '$cred': a different 401 body"
done
log "no, wrong, unknown-user and near-miss credentials: 401 each, one answer"
# Every route is behind it, HEAD and other methods too.
for path in /events /probes /healthz / /nothing; do
        code=$(curl -sS -o /dev/null -w '%{http_code}' "${CERT[@]}" "$URL$path")
        [ "$code" = 401 ] || fail "$path without credentials: $code, want 401"
done
code=$(curl -sS -o /dev/null -w '%{http_code}' "${CERT[@]}" -X POST "$URL/metrics")
[ "$code" = 401 ] || fail "POST without credentials: $code, want 401"

# Clients refused before HTTP: plain HTTP to the TLS port, no client
# certificate, one of another CA, an expired one, garbage and a handshake
# cut short. Each must fail, and the daemon must serve the next client.
refused() { # $1 what; curl args follow
        local what=$1
        shift
        if curl -sS --max-time 5 -o /dev/null "$@" 2>"$KPE_WORK/refused.err"; then
                fail "$what was served"
        fi
        log "$what: refused ($(head -c 120 "$KPE_WORK/refused.err" | tr '\n' ' '))"
        fetch_ok /healthz "$KPE_WORK/healthz" # the next one is served
}
refused "plain HTTP to the TLS port" "http://127.0.0.1:$KPE_PORT/metrics"
refused "no client certificate" --cacert "$P/ca.crt" -u 'alice:wonder land' "$URL/metrics"
refused "a certificate of another CA" --cacert "$P/ca.crt" --cert "$P/stranger.crt" --key "$P/stranger.key" \
        -u 'alice:wonder land' "$URL/metrics"
refused "an expired certificate" --cacert "$P/ca.crt" --cert "$P/expired.crt" --key "$P/expired.key" \
        -u 'alice:wonder land' "$URL/metrics"
python3 - "$KPE_PORT" <<'EOF' || fail "garbage clients"
import os, socket, sys
port = int(sys.argv[1])
# Random bytes; a ClientHello cut in half; a TLS record header that
# promises 16 KB and never sends them; each connection then closed.
hello_start = bytes.fromhex("16030100c8010000c40303") + os.urandom(32)
for payload in (os.urandom(4096), hello_start, bytes.fromhex("1603014000")):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(payload)
    s.close()
print("# garbage, a cut ClientHello and a promised record sent and closed")
EOF
fetch_ok /healthz "$KPE_WORK/healthz"

fetch_ok /metrics "$KPE_WORK/metrics.txt"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_http_auth_failures_total)
[ "$v" = 10 ] || fail "kprobe_exporter_http_auth_failures_total is $v, want 10 (4 credentials, 5 paths, 1 POST)"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_http_tls_client_refused_total)
[ "$v" = 3 ] || fail "kprobe_exporter_http_tls_client_refused_total is $v, want 3 (none, another CA's, expired)"

# A real Prometheus scrapes over TLS with the client certificate and basic auth.
prom_start <<EOF
  - job_name: kpe_tls
    scheme: https
    tls_config:
      ca_file: $P/ca.crt
      cert_file: $P/client.crt
      key_file: $P/client.key
    basic_auth:
      username: alice
      password: wonder land
    static_configs:
      - targets: ['127.0.0.1:$KPE_PORT']
EOF
python3 - "$PROM_PORT" <<'EOF' || fail "Prometheus: $(tail -n 5 "$KPE_WORK/prometheus.log")"
import json, sys, time, urllib.parse, urllib.request
port = sys.argv[1]
url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
    {"query": 'connect_total{job="kpe_tls",addr="127.0.0.1",port="25"}'})
deadline, last = time.monotonic() + 30, None
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            last = json.load(r)["data"]["result"]
        if last and last[0]["value"][1] == "7":
            print(f"# Prometheus scraped over TLS with basic auth and a client certificate: {last[0]['value'][1]}")
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as r:
    targets = json.load(r)["data"]["activeTargets"]
sys.exit(f"no connect_total 7 from Prometheus; last {last}; targets {[(t['health'], t['lastError']) for t in targets]}")
EOF

# Reloads while events flow: a new user (alice leaves), then a renewed
# server certificate (a new TLS server on the same socket), then a broken
# web config (logged, nothing changes). Twice each.
"$KPE_CONNECTOR" flood 3000 20000 300 &
FLOOD=$!
KPE_EXTRA_PIDS="$KPE_EXTRA_PIDS $FLOOD"
serial_of() { # the serial of the certificate the server presents
        curl -sS --max-time 5 -o /dev/null -w '%{certs}' "${KPE_CURL_OPTS[@]}" "$URL/healthz" |
                grep -m1 -i '^Serial Number:' | tr -d ' '
}
S1=$(serial_of)
[ -n "$S1" ] || fail "no certificate serial from curl -w %{certs}"
for round in 1 2; do
        write_web server "  bob: $BOB"
        reload_daemon
        KPE_CURL_OPTS=(--cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" -u 'bob:builder')
        fetch_ok /healthz "$KPE_WORK/healthz"
        code=$(curl -sS -o /dev/null -w '%{http_code}' "${CERT[@]}" -u 'alice:wonder land' "$URL/healthz")
        [ "$code" = 401 ] || fail "round $round: alice after she left: $code, want 401"
        [ "$(serial_of)" = "$S1" ] || fail "round $round: new users changed the server certificate"

        write_web server2 "  bob: $BOB"
        reload_daemon
        fetch_ok /healthz "$KPE_WORK/healthz"
        S2=$(serial_of)
        [ -n "$S2" ] && [ "$S2" != "$S1" ] || fail "round $round: the renewed certificate is not served ($S1 -> $S2)"

        # Round 1: a password in plain text; round 2: a key file that is not there.
        if [ "$round" = 1 ]; then
                printf 'tls_server_config:\n  cert_file: server2.crt\n  key_file: server2.key\nbasic_auth_users:\n  bob: builder\n' >"$P/web.yml"
                want='web.yml:5:[0-9]+: .*bcrypt'
        else
                printf 'tls_server_config:\n  cert_file: server2.crt\n  key_file: nope.key\n' >"$P/web.yml"
                want='web.yml:3:[0-9]+: key_file: cannot read'
        fi
        reload_daemon
        fetch_ok /healthz "$KPE_WORK/healthz"
        [ "$(serial_of)" = "$S2" ] || fail "round $round: a broken web config changed the server"
        wait_log_count "$want" 1 10 ||
                fail "round $round: the broken web config's error is not logged at its place: $(tail -n 20 "$KPE_ERR")"
        S1=$S2
        write_web server "  bob: $BOB"
        reload_daemon
        S1=$(serial_of)
done
wait "$FLOOD" || fail "connector flood failed"
v=$(wait_metric_query sum 3007 connect_total comm=connector)
[ "$v" = 3007 ] || fail "events counted across the reloads: $v, want 3007 (7 + 3000): none lost"
v=$(metric_value "$KPE_WORK/metrics.txt" kprobe_exporter_lost_events_total)
[ "$v" = 0 ] || fail "lost events: $v"
log "six reloads while 3000 events flowed: all counted, none lost"

stop_daemon TERM || fail "daemon exited with status $? on SIGTERM"
assert_no_leftovers "after SIGTERM"
log "pass"
