#!/usr/bin/env python3
"""What HTTPS and basic authentication (--web.config.file) cost
kprobe-exporter, measured in one run. Started by `sh tests/bench/run.sh
--tls`, which builds the generator; run by hand, as root; not part of the
test suites. It prints figures and ratios of the same run and asserts no
timing. Everything talks to 127.0.0.1 only.

One daemon holds 10,000 series (a counter on a uprobe of the generator's
kpe_bench_leaf, labelled by its key argument, which the generator cycles
over 10,000 values). Its web config is switched by SIGHUP between plain
HTTP, plain HTTP with basic auth, and HTTPS with basic auth (an ECDSA
P-256 or RSA-3072 certificate, or ECDSA with a required client
certificate), so every mode serves the same series from the same process;
the modes are interleaved over the rounds. Certificates are made with
certtool at run time in a scratch dir, the bcrypt hash (cost 10) with
htpasswd.

1. A scrape of /metrics: the time per scrape measured by the client (from
   sending the request, or from connecting for a new connection, to the
   last byte of the body), and the daemon's on-CPU time per scrape
   (user+sys from /proc/PID/task/*/schedstat, less its idle rate measured
   beforehand). The daemon serves a rendering again for 200 ms: a fresh
   render is asked 250 ms after the previous request; the cached copy right
   after one. On one kept-alive connection (as Prometheus scrapes), and
   with a new connection for each scrape (a full TLS handshake each).
2. Handshakes: a new connection per request (GET /healthz with the
   credentials, Connection: close), from one client process in a bounded
   loop and from several at once; connections per second (the clients'
   wall time) and the daemon's CPU per connection. TLS sessions are never
   resumed (the daemon offers no tickets), so each is a full handshake.
3. The first request with a password not yet remembered: one bcrypt.

The clients are Python (http.client for scrapes, ssl sockets for the
handshake loops: subprocesses of this script), with TCP_NODELAY as Go and
curl set it, on the same machine: their time is in the client-side
figures, and they compete with the daemon for the cores.
"""

import argparse
import base64
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (Gen, Proc, Tracefs, find_tracefs, uprobe_tracefs, free_port, log, metric, on_cleanup,  # noqa: E402
                      parse_metrics, proc_runtime_secs, proc_status_kib, run_main, wait_for)

USER = "prometheus"
FIRST_USER = "first"  # used once after each switch: its password is never remembered then
BCRYPT_COST = 10


# ---------------------------------------------------------------- clients

class Client:
    """How to reach the daemon in one mode: plain or TLS, with or without
    credentials, a client certificate, a highest TLS version."""

    def __init__(self, port, tls=False, ca=None, auth=None, cert=None, max_tls12=False):
        self.port, self.tls, self.ca, self.auth, self.cert, self.max_tls12 = port, tls, ca, auth, cert, max_tls12
        self.ctx = None
        if tls:
            self.ctx = ssl.create_default_context(cafile=ca)
            if cert:
                self.ctx.load_cert_chain(cert[0], cert[1])
            if max_tls12:
                self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}

    def spec(self):
        return {"port": self.port, "tls": self.tls, "ca": self.ca, "auth": self.auth, "cert": self.cert,
                "max_tls12": self.max_tls12}

    def conn(self, timeout=30):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def get(self, path, conn=None):
        """(status, body, seconds) of one GET; on conn (kept alive) or on a
        new connection (the time then includes connecting)."""
        own = conn is None
        c = conn or self.conn()
        t0 = time.monotonic()
        try:
            if own:
                c.connect()
            c.request("GET", path, headers=self.headers)
            r = c.getresponse()
            body = r.read()
            return r.status, body, time.monotonic() - t0
        finally:
            if own:
                c.close()


def client_main(spec_json):
    """A handshake loop in a process of its own: prints "ready", waits for
    a line on stdin, makes n connections one after the other (each one
    request, Connection: close), prints a JSON line."""
    spec = json.loads(spec_json)
    c = Client(spec["port"], spec["tls"], spec["ca"], spec["auth"], spec["cert"], spec["max_tls12"])
    req = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
           "".join(f"{k}: {v}\r\n" for k, v in c.headers.items()) + "\r\n").encode()
    print("ready", flush=True)
    sys.stdin.readline()
    ok = errors = 0
    first_error = version = cipher = None
    t0 = time.monotonic()
    for _ in range(spec["n"]):
        try:
            s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
            # As Go (Prometheus) and curl do; else a TLS 1.3 client's
            # request waits behind its Finished for the server's delayed
            # ACK (40 ms on Linux), which would be measured instead.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if c.tls:
                s = c.ctx.wrap_socket(s, server_hostname="127.0.0.1")
                version, cipher = s.version(), s.cipher()[0]
            s.sendall(req)
            data = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
            s.close()
            if data.startswith(b"HTTP/1.1 200"):
                ok += 1
            else:
                errors += 1
                first_error = first_error or data[:60].decode(errors="replace")
        except OSError as e:
            errors += 1
            first_error = first_error or repr(e)
    secs = time.monotonic() - t0
    print(json.dumps({"ok": ok, "errors": errors, "secs": secs, "first_error": first_error, "version": version,
                      "cipher": cipher}), flush=True)
    return 0


# ---------------------------------------------------------------- setup

def certs(work):
    """A CA, servers for 127.0.0.1 with an ECDSA P-256 and an RSA-3072 key,
    a client certificate; made with certtool. Paths by name."""
    d = os.path.join(work, "pki")
    os.mkdir(d)

    def mk(name, key_args, tmpl, ca=None):
        key, crt, t = (os.path.join(d, f"{name}.{x}") for x in ("key", "crt", "tmpl"))
        subprocess.run(["certtool", "--generate-privkey", *key_args, "--outfile", key], check=True,
                       capture_output=True)
        with open(t, "w") as f:
            f.write(tmpl + "\nexpiration_days = 2\n")
        if ca:
            argv = ["certtool", "--generate-certificate", "--load-privkey", key, "--load-ca-certificate",
                    os.path.join(d, f"{ca}.crt"), "--load-ca-privkey", os.path.join(d, f"{ca}.key")]
        else:
            argv = ["certtool", "--generate-self-signed", "--load-privkey", key]
        subprocess.run(argv + ["--template", t, "--outfile", crt], check=True, capture_output=True)
        return crt, key

    out = {"ca": mk("ca", ["--key-type=ecdsa"], 'cn = "kpe bench CA"\nca\ncert_signing_key')}
    server = 'cn = "kpe bench"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key'
    out["ecdsa"] = mk("ecdsa", ["--key-type=ecdsa", "--curve=secp256r1"], server, "ca")
    out["rsa"] = mk("rsa", ["--key-type=rsa", "--bits=3072"], server, "ca")
    out["client"] = mk("client", ["--key-type=ecdsa"], 'cn = "scraper"\ntls_www_client\nsigning_key', "ca")
    return out


def bcrypt_hash(password):
    r = subprocess.run(["htpasswd", "-nbBC", str(BCRYPT_COST), "", password], check=True, capture_output=True,
                       text=True)
    return r.stdout.strip().lstrip(":")


def web_configs(pki, hashed, hashed_first):
    users = f"basic_auth_users:\n  {USER}: {hashed}\n  {FIRST_USER}: {hashed_first}\n"

    def tls(kind, mtls=False):
        crt, key = pki[kind]
        t = f"tls_server_config:\n  cert_file: {crt}\n  key_file: {key}\n"
        if mtls:
            t += f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki['ca'][0]}\n"
        return t + users
    return {"plain": "# plain HTTP, no authentication\n", "auth": users, "ecdsa": tls("ecdsa"), "rsa": tls("rsa"),
            "mtls": tls("ecdsa", mtls=True)}


# Modes: the web config each uses and how a client reaches it.
MODES = {
    "plain": ("plain", {}),
    "auth": ("auth", {"auth": True}),
    "ecdsa": ("ecdsa", {"tls": True, "auth": True}),
    "ecdsa12": ("ecdsa", {"tls": True, "auth": True, "max_tls12": True}),
    "rsa": ("rsa", {"tls": True, "auth": True}),
    "mtls": ("mtls", {"tls": True, "auth": True, "cert": True}),
}
TITLES = {
    "plain": "plain HTTP",
    "auth": "HTTP + basic auth",
    "ecdsa": "HTTPS + basic auth (ECDSA P-256, TLS 1.3)",
    "ecdsa12": "HTTPS + basic auth (ECDSA P-256, TLS 1.2)",
    "rsa": "HTTPS + basic auth (RSA-3072, TLS 1.3)",
    "mtls": "HTTPS + basic auth + client certificate (ECDSA, TLS 1.3)",
}


class Daemon:
    """The daemon with a web config file that is rewritten and re-read on
    SIGHUP to change modes."""

    def __init__(self, args, work, gen):
        self.args, self.work, self.gen = args, work, gen
        self.inst = f"kpe_bench_tls_{os.getpid()}"
        self.port = free_port()
        self.web = os.path.join(work, "web.yml")
        self.mode = None
        self.reloads = 0

    def start(self, cfg_text, web_text):
        cfg = os.path.join(self.work, "probes.yaml")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        with open(self.web, "w") as f:
            f.write(web_text)
        kpe = self.args.kpe
        on_cleanup("kprobe-exporter --cleanup", lambda: subprocess.run(
            [kpe, f"--tracefs.instance={self.inst}", "--cleanup"], capture_output=True, timeout=30))
        self.p = Proc([kpe, f"--config.file={cfg}", f"--tracefs.instance={self.inst}",
                       f"--web.listen-address=127.0.0.1:{self.port}", f"--web.config.file={self.web}"],
                      "kprobe-exporter", out=os.path.join(self.work, "kpe.out"),
                      err=os.path.join(self.work, "kpe.err"))

    def client(self, mode, clients):
        _, how = MODES[mode]
        return Client(self.port, tls=how.get("tls", False), ca=clients["ca"],
                      auth=clients["auth"] if how.get("auth") else None,
                      cert=clients["cert"] if how.get("cert") else None, max_tls12=how.get("max_tls12", False))

    def switch(self, mode, texts, clients):
        """Rewrites the web config for mode, SIGHUP, and waits until the
        daemon answers in that mode after the reload; then one request
        that pays bcrypt (a new HTTPS server, or a new checker, remembers
        nothing): returns its client time and the daemon's CPU for it."""
        web_name, _ = MODES[mode]
        c = self.client(mode, clients)
        if self.mode is None or MODES[self.mode][0] != web_name:
            with open(self.web, "w") as f:
                f.write(texts[web_name])
            self.p.send(signal.SIGHUP)
            self.reloads += 1

            def reloaded():
                if not self.p.alive():
                    raise RuntimeError("kprobe-exporter exited: " + self.p.text("err")[-2000:])
                try:
                    st, body, _ = c.get("/metrics")
                except (OSError, ssl.SSLError, http.client.HTTPException):
                    return None
                if st != 200:
                    return None
                ms = parse_metrics(body.decode(errors="replace"))
                return metric(ms, "kprobe_exporter_config_reloads_total", result="success") >= self.reloads
            if not wait_for(reloaded, 20, 0.1):
                raise RuntimeError(f"mode {mode}: no answer after the reload: " + self.p.text("err")[-1500:])
        self.mode = mode
        return c

    def cpu(self):
        return proc_runtime_secs(self.p.pid)


def config_text(leaf_target, series):
    return "\n".join([
        "recent_events: 4096",
        f"max_series: {series * 2}",
        "probes:",
        "  - name: leaf_in",
        "    type: uprobe",
        f"    target: {leaf_target}",
        "    fetch: [key=%di:u64]",
        "    metrics:",
        "      - name: leaf_total",
        '        help: "Calls of kpe_bench_leaf, by key."',
        "        labels: [key]",
    ]) + "\n"


# ---------------------------------------------------------------- measurements

def idle_rate(d, secs=2.0):
    """The daemon's CPU seconds per second with nothing asked of it."""
    c0, t0 = d.cpu(), time.monotonic()
    time.sleep(secs)
    return (d.cpu() - c0) / (time.monotonic() - t0)


def first_request(d, c, first_auth):
    """The first request of a user after a switch (one bcrypt; the new
    HTTPS server or users' checker remembers no password of it): client
    time, on a new connection, and daemon CPU."""
    c = Client(c.port, c.tls, c.ca, first_auth, c.cert, c.max_tls12)
    cpu0 = d.cpu()
    st, _, t = c.get("/healthz")
    cpu1 = d.cpu()
    if st != 200:
        raise RuntimeError(f"first request answered {st}")
    return {"secs": t, "cpu": cpu1 - cpu0}


def scrape_block(d, c, n, pause, keep_alive, idle):
    """n scrapes of /metrics, pause seconds before each; on one connection
    or a new one each. Client seconds each, daemon CPU per scrape (less
    the idle rate), bytes."""
    conn = c.conn() if keep_alive else None
    if conn:
        conn.connect()
    times, size = [], 0
    try:
        cpu0, t0 = d.cpu(), time.monotonic()
        for _ in range(n):
            if pause:
                time.sleep(pause)
            st, body, t = c.get("/metrics", conn)
            if st != 200:
                raise RuntimeError(f"/metrics answered {st}")
            times.append(t)
            size = len(body)
        cpu1, t1 = d.cpu(), time.monotonic()
    finally:
        if conn:
            conn.close()
    return {"times": times, "bytes": size, "cpu": max(0.0, (cpu1 - cpu0) - idle * (t1 - t0)) / n}


def cached_block(d, c, n):
    """n scrapes of the cached copy: each right after a request that
    rendered (within the 200 ms the daemon serves it again), on one
    kept-alive connection per pair."""
    times, cpus, size = [], [], 0
    for _ in range(n):
        time.sleep(0.25)
        conn = c.conn()
        conn.connect()
        try:
            c.get("/metrics", conn)  # renders
            cpu0 = d.cpu()
            st, body, t = c.get("/metrics", conn)
            cpu1 = d.cpu()
        finally:
            conn.close()
        if st != 200:
            raise RuntimeError(f"/metrics answered {st}")
        times.append(t)
        cpus.append(cpu1 - cpu0)
        size = len(body)
    return {"times": times, "bytes": size, "cpu": statistics.mean(cpus)}


def handshake_block(d, c, n, procs, idle):
    """n connections (one request each) from procs client processes at
    once: connections per second over the clients' wall time, daemon CPU
    per connection (less the idle rate), the clients' CPU per connection."""
    per = max(1, n // procs)
    spec = dict(c.spec(), n=per)
    ps = [Proc([sys.executable, os.path.abspath(__file__), "client", json.dumps(spec)], "client",
               stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(procs)]
    try:
        for p in ps:
            line = p.p.stdout.readline().decode()
            if line.strip() != "ready":
                raise RuntimeError(f"client did not start: {line!r}")
        cpu0, t0 = d.cpu(), time.monotonic()
        for p in ps:
            p.p.stdin.write(b"go\n")
            p.p.stdin.flush()
        res = []
        for p in ps:
            line = p.p.stdout.readline().decode()
            res.append(json.loads(line))
            p.wait(30)
        cpu1, t1 = d.cpu(), time.monotonic()
    finally:
        for p in ps:
            p.kill()
    ok = sum(r["ok"] for r in res)
    errors = sum(r["errors"] for r in res)
    wall = max(r["secs"] for r in res)
    client_cpu = sum((p.cpu() or 0) for p in ps)
    return {"ok": ok, "errors": errors, "first_error": next((r["first_error"] for r in res if r["first_error"]), None),
            "rate": ok / wall if wall > 0 else 0, "cpu": max(0.0, (cpu1 - cpu0) - idle * (t1 - t0)) / max(ok, 1),
            "daemon_cores": (cpu1 - cpu0) / (t1 - t0), "client_cpu": client_cpu / max(ok, 1),
            "version": res[0]["version"], "cipher": res[0]["cipher"]}


def run(args, work, gen):
    loads = []
    pki = certs(work)
    password, password_first = (base64.b64encode(os.urandom(12)).decode() for _ in range(2))
    texts = web_configs(pki, bcrypt_hash(password), bcrypt_hash(password_first))
    clients = {"ca": pki["ca"][0], "auth": f"{USER}:{password}", "cert": list(pki["client"]),
               "first": f"{FIRST_USER}:{password_first}"}
    log(f"certificates (certtool) and a bcrypt hash (htpasswd, cost {BCRYPT_COST}) in {work}")

    off = subprocess.run([gen, "offset", "leaf"], check=True, capture_output=True, text=True).stdout.strip()
    d = Daemon(args, work, gen)
    d.start(config_text(f"{gen}:{off}", args.series), texts["plain"])
    tfs = Tracefs(find_tracefs())
    try:
        plain = d.client("plain", clients)

        def up():
            if not d.p.alive():
                raise RuntimeError("kprobe-exporter exited: " + d.p.text("err")[-2000:])
            try:
                return plain.get("/healthz")[0] == 200
            except OSError:
                return False
        if not wait_for(up, 20, 0.1):
            raise RuntimeError("kprobe-exporter not ready: " + d.p.text("err")[-2000:])
        d.mode = "plain"

        # The series: every key of 0..series-1, a few calls each.
        g = Gen(gen, "leaf", args.series * args.calls_per_series, 0, labels=args.series)
        try:
            g.go()
            g.finish()
        finally:
            g.kill()
        tfs.wait_drained(d.inst)

        def ready():
            ms = parse_metrics(plain.get("/metrics")[1].decode(errors="replace"))
            return ms if metric(ms, "kprobe_exporter_series", metric="leaf_total") >= args.series else None
        ms = wait_for(ready, 30, 0.25)
        if not ms:
            raise RuntimeError(f"{args.series} series did not appear")
        series = int(metric(ms, "kprobe_exporter_series", metric="leaf_total"))
        counted = int(metric(ms, "leaf_total"))
        log(f"{series:,} series of leaf_total, {counted:,} calls counted; RSS "
            f"{proc_status_kib(d.p.pid, 'VmRSS') / 1024:.1f} MiB")

        idle = idle_rate(d)
        log(f"daemon idle: {idle * 1000:.2f} ms CPU per second (subtracted from every figure)")

        scr = {m: {"keep": [], "new": [], "cached": []} for m in ("plain", "auth", "ecdsa")}
        hs = {m: {"seq": [], "par": []} for m in ("plain", "ecdsa", "ecdsa12", "rsa", "mtls")}
        first = {m: [] for m in ("auth", "ecdsa")}
        for rnd in range(args.rounds):
            for mode in ("plain", "auth", "ecdsa"):
                c = d.switch(mode, texts, clients)
                if mode != "plain":
                    first[mode].append(first_request(d, c, clients["first"]))
                scr[mode]["keep"].append(scrape_block(d, c, args.scrapes, 0.25, True, idle))
                scr[mode]["new"].append(scrape_block(d, c, args.scrapes, 0.25, False, idle))
                scr[mode]["cached"].append(cached_block(d, c, args.scrapes))
                loads.append(os.getloadavg()[0])
                k = scr[mode]["keep"][-1]
                log(f"round {rnd + 1}/{args.rounds} {mode}: fresh render on a kept-alive connection median "
                    f"{statistics.median(k['times']) * 1000:.1f} ms, daemon {k['cpu'] * 1000:.1f} ms CPU; "
                    f"{k['bytes']:,} bytes")
            for mode in ("plain", "ecdsa", "ecdsa12", "rsa", "mtls"):
                c = d.switch(mode, texts, clients)
                if mode != "plain":
                    c.get("/healthz")  # pays the bcrypt before the timed loop
                for kind, procs in (("seq", 1), ("par", args.clients)):
                    r = handshake_block(d, c, args.handshakes, procs, idle)
                    hs[mode][kind].append(r)
                    loads.append(os.getloadavg()[0])
                    log(f"round {rnd + 1}/{args.rounds} {mode} {procs} client(s): {r['ok']:,} connections "
                        f"({r['errors']} failed{': ' + r['first_error'] if r['first_error'] else ''}), "
                        f"{r['rate']:,.0f}/s, daemon {r['cpu'] * 1000:.3f} ms CPU each ({r['daemon_cores']:.2f} "
                        f"cores), {r['version'] or 'no TLS'} {r['cipher'] or ''}")
        rss = proc_status_kib(d.p.pid, "VmRSS")
        hwm = proc_status_kib(d.p.pid, "VmHWM")
        ms = parse_metrics(d.client(d.mode, clients).get("/metrics")[1].decode(errors="replace"))
        daemon_stats = {k: int(metric(ms, k)) for k in ("kprobe_exporter_http_auth_failures_total",
                                                          "kprobe_exporter_http_auth_throttled_total",
                                                          "kprobe_exporter_http_tls_client_refused_total")}
        daemon_stats["reloads_failed"] = int(metric(ms, "kprobe_exporter_config_reloads_total", result="failure"))
    finally:
        d.p.stop()
    return {"series": series, "counted": counted, "idle": idle, "scrape": scr, "handshake": hs, "first": first,
            "rss_kib": rss, "hwm_kib": hwm, "stats": daemon_stats, "loads": loads}


# ---------------------------------------------------------------- output

def pooled(blocks):
    return [t for b in blocks for t in b["times"]]


def p90(v):
    v = sorted(v)
    return v[int(0.9 * (len(v) - 1))]


def print_report(args, r, started, load0, load1, secs):
    print()
    print(f"## kprobe-exporter HTTPS and basic auth benchmark, {started}")
    print()
    ld = f"{min(r['loads']):.2f}–{max(r['loads']):.2f}" if r["loads"] else "-"
    print(f"Machine: {os.cpu_count()} cores, kernel {platform.release()}, {ssl.OPENSSL_VERSION} in the Python "
          f"clients; load average {load0[0]:.2f} at the start, {ld} during, {load1[0]:.2f} at the end; run took "
          f"{secs:.0f} s. One daemon, {r['series']:,} series; its web config switched by SIGHUP, modes "
          f"interleaved over {args.rounds} round(s). Daemon CPU: user+sys from schedstat, less its idle rate "
          f"({r['idle'] * 1000:.2f} ms/s). Client: Python on the same machine, 127.0.0.1.")
    print()
    sc = r["scrape"]
    base_keep = statistics.median(pooled(sc["plain"]["keep"]))
    base_cpu = statistics.median(b["cpu"] for b in sc["plain"]["keep"])
    size = sc["plain"]["keep"][0]["bytes"]
    print(f"Scrape of /metrics ({r['series']:,} series, {size / 1024:.0f} KiB of text), {args.scrapes} scrapes "
          f"per mode and round; time: median (p90) over all rounds; CPU: median of the rounds' means:")
    print()
    print("| scrape | mode | client ms | vs plain | daemon CPU ms | vs plain |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, what in (("keep", "fresh render, kept-alive connection"),
                       ("new", "fresh render, new connection each"),
                       ("cached", "cached copy, kept-alive connection")):
        bt = statistics.median(pooled(sc["plain"][kind]))
        bc = statistics.median(b["cpu"] for b in sc["plain"][kind])
        for mode in ("plain", "auth", "ecdsa"):
            t = pooled(sc[mode][kind])
            cpu = statistics.median(b["cpu"] for b in sc[mode][kind])
            print(f"| {what} | {TITLES[mode]} | {statistics.median(t) * 1000:.2f} ({p90(t) * 1000:.2f}) | "
                  f"{statistics.median(t) / bt:.2f}x | {cpu * 1000:.2f} | {cpu / bc:.2f}x |")
    print()
    hs = r["handshake"]
    print(f"New connection per request (GET /healthz, Connection: close), {args.handshakes} connections per block; "
          f"connections/s over the clients' wall time, daemon CPU per connection; median of the rounds:")
    print()
    print("| mode | negotiated | 1 client: conn/s | daemon CPU ms / conn | "
          f"{args.clients} clients: conn/s | daemon CPU ms / conn | daemon cores busy | vs plain (CPU / conn) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    bcpu = statistics.median(b["cpu"] for b in hs["plain"]["seq"])
    for mode in ("plain", "ecdsa", "ecdsa12", "rsa", "mtls"):
        s, p = hs[mode]["seq"], hs[mode]["par"]
        neg = f"{s[0]['version']} {s[0]['cipher']}" if s[0]["version"] else "-"
        cpu = statistics.median(b["cpu"] for b in s)
        print(f"| {TITLES[mode]} | {neg} | {statistics.median(b['rate'] for b in s):,.0f} | {cpu * 1000:.3f} | "
              f"{statistics.median(b['rate'] for b in p):,.0f} | "
              f"{statistics.median(b['cpu'] for b in p) * 1000:.3f} | "
              f"{statistics.median(b['daemon_cores'] for b in p):.2f} | {cpu / bcpu:.1f}x |")
    print()
    fails = sum(b["errors"] for m in hs.values() for k in m.values() for b in k)
    f = r["first"]
    print(f"- First request with a password not yet remembered (one bcrypt, cost {BCRYPT_COST}), median of the "
          f"rounds: HTTP {statistics.median(x['secs'] for x in f['auth']) * 1000:.1f} ms client, "
          f"{statistics.median(x['cpu'] for x in f['auth']) * 1000:.1f} ms daemon CPU; HTTPS (with the handshake) "
          f"{statistics.median(x['secs'] for x in f['ecdsa']) * 1000:.1f} ms client, "
          f"{statistics.median(x['cpu'] for x in f['ecdsa']) * 1000:.1f} ms daemon CPU. Later requests are "
          "checked against the remembered keyed SHA-256.")
    k_plain, k_tls = statistics.median(pooled(sc["plain"]["keep"])), statistics.median(pooled(sc["ecdsa"]["keep"]))
    c_tls = statistics.median(b["cpu"] for b in sc["ecdsa"]["keep"])
    print(f"- HTTPS + basic auth against plain HTTP, the way Prometheus scrapes (kept-alive, fresh render): "
          f"{k_tls / k_plain:.2f}x the client time ({(k_tls - k_plain) * 1000:+.2f} ms), {c_tls / base_cpu:.2f}x "
          f"the daemon CPU ({(c_tls - base_cpu) * 1000:+.2f} ms per scrape of {size / 1024:.0f} KiB).")
    print(f"- Failed connections in the handshake loops: {fails}. Daemon counters at the end: "
          + ", ".join(f"{k} {v}" for k, v in r["stats"].items()) +
          f". RSS {r['rss_kib'] / 1024:.1f} MiB (peak {r['hwm_kib'] / 1024:.1f}).")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 5 scrapes, 200 connections per block")
    ap.add_argument("--series", type=int, default=10000, help="series of the counter (default 10,000)")
    ap.add_argument("--calls-per-series", type=int, default=5, help="generator calls per series (default 5)")
    ap.add_argument("--rounds", type=int, help="rounds over the modes (default 2; quick 1)")
    ap.add_argument("--scrapes", type=int, help="scrapes per mode, kind and round (default 20; quick 5)")
    ap.add_argument("--handshakes", type=int, help="connections per block (default 500; quick 200)")
    ap.add_argument("--clients", type=int, default=4,
                    help="client processes in the parallel blocks (default 4; the daemon takes 16 per address)")
    ap.add_argument("--kpe", required=True, help="the kprobe-exporter binary")
    ap.add_argument("--gen", required=True)
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (certificates, configs, daemon log)")
    args = ap.parse_args()
    q = args.quick
    args.rounds = args.rounds or (1 if q else 2)
    args.scrapes = args.scrapes or (5 if q else 20)
    args.handshakes = args.handshakes or (200 if q else 500)
    args.kpe = os.path.abspath(args.kpe)

    root, why = uprobe_tracefs()
    if not root:
        print(f"SKIP: {why}")
        return 77
    for tool, pkg in (("certtool", "gnutls-bin"), ("htpasswd", "apache2-utils")):
        if not shutil.which(tool):
            print(f"SKIP: missing {tool} (Debian package {pkg})")
            return 77
    work = tempfile.mkdtemp(prefix="kpe-bench-tls.")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    log(f"{started}; {os.cpu_count()} cores; kernel {platform.release()}; load average {load0[0]:.2f}; "
        f"tracefs {root}; kprobe-exporter {args.kpe}")
    if load0[0] > 0.5:
        log("WARNING: the machine is not idle (load average above 0.5): other processes compete for the cores")
    try:
        r = run(args, work, os.path.abspath(args.gen))
    finally:
        if args.keep:
            log(f"scratch dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()
    print_report(args, r, started, load0, load1, time.monotonic() - t0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "cores": os.cpu_count(), "kernel": platform.release(),
                       "load": [load0, load1], "args": vars(args), "results": r}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        sys.exit(client_main(sys.argv[2]))
    run_main(main)
