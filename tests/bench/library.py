#!/usr/bin/env python3
"""What the probe library (config/probes/*.yaml) costs, measured in one run:
the figures behind the "Cost" lines of the files' headers. Started by
`sh tests/bench/run.sh --library`; run by hand, as root; not part of the
test suites. It prints figures and ratios of the same run and asserts no
timing. Each daemon uses the tracefs instance and probe group
kpe_bench_lib_PID; the workloads use a listener on 127.0.0.1, /bin/true, a
loop device on a scratch file and getaddrinfo() of a numeric name.

1. tcp.yaml against the shipped config's one tcp_connect probe (the same
   tracepoint, SYN_SENT only): N TCP connections to a listener of ours,
   each accepted and closed. Figures: the daemon's on-CPU time (user+sys)
   per 1,000 connections, from the first connect until it has read the
   last event, the events it read per connection, and CPU per event.
2. process.yaml: N fork+exec of /bin/true (the exec tracepoint; the exit
   kprobe where the kernel has kprobe events). Daemon CPU per 1,000 execs.
3. block.yaml: N direct 4 KiB reads of a loop device of ours (two events
   each, paired by device and sector). Daemon CPU per 1,000 reads.
4. dns.yaml: what its uprobe and uretprobe on libc's getaddrinfo() cost
   the process that calls it (the trap on entry and return, in the
   caller): N calls of getaddrinfo("127.0.0.1") from Python, timed without
   the daemon and with it; and the daemon's CPU per 1,000 calls.
Each figure is the median of the repetitions.
"""

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (Tracefs, uprobe_tracefs, log, metric, proc_runtime_secs, proc_status_kib,  # noqa: E402
                      run_main)
import contenders as C  # noqa: E402

LIB = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "probes"))

# The shipped config's tcp_connect probe (config/probes.yaml), alone.
SHIPPED_TCP = """probes:
  - name: tcp_connect
    type: tracepoint
    target: sock/inet_sock_set_state
    filter: newstate == 2 && protocol == 6
    metrics:
      - name: tcp_connect_total
        labels: [comm, family, daddr, daddrv6, dport]
"""


def include(*files):
    return "include:\n" + "".join(f"  - {os.path.join(LIB, f)}\n" for f in files)


def run_measured(env, kpe, cfg, tag, workload):
    """Starts the daemon with cfg, runs workload(), waits until the daemon
    has read everything; returns its CPU seconds for that, the workload's
    own result, the events it read and its peak RSS."""
    kpe.start_daemon(cfg, tag)
    try:
        time.sleep(0.5)
        ms0 = kpe.metrics()
        cpu0 = proc_runtime_secs(kpe.p.pid)
        result = workload()
        env.tfs.wait_drained(kpe.inst)
        cpu1 = proc_runtime_secs(kpe.p.pid)
        ms1 = kpe.metrics()
        hwm = proc_status_kib(kpe.p.pid, "VmHWM")
        events = metric(ms1, "kprobe_exporter_events_total") - metric(ms0, "kprobe_exporter_events_total")
        lost = metric(ms1, "kprobe_exporter_lost_events_total")
        perr = metric(ms1, "kprobe_exporter_parse_errors_total")
    finally:
        kpe.p.stop()
    return {"cpu": cpu1 - cpu0, "result": result, "events": events, "lost": lost, "parse_errors": perr,
            "hwm_kib": hwm}


def tcp_workload(n):
    def go():
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(128)
        port = ls.getsockname()[1]
        t0 = time.monotonic()
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            a, _ = ls.accept()
            c.close()
            a.close()
        secs = time.monotonic() - t0
        ls.close()
        time.sleep(0.3)  # the last closes
        return secs
    return go


def exec_workload(n):
    def go():
        t0 = time.monotonic()
        for _ in range(n):
            subprocess.run(["/bin/true"], check=True)
        return time.monotonic() - t0
    return go


def block_workload(dev, n):
    def go():
        t0 = time.monotonic()
        subprocess.run(["dd", f"if={dev}", "of=/dev/null", "bs=4096", f"count={n}", "iflag=direct", "status=none"],
                       check=True)
        return time.monotonic() - t0
    return go


def gai_workload(n):
    def go():
        t0 = time.perf_counter()
        for _ in range(n):
            socket.getaddrinfo("127.0.0.1", None)
        return time.perf_counter() - t0
    return go


def med(rs, f):
    return statistics.median(f(r) for r in rs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer of each, 1 repetition (under a minute)")
    ap.add_argument("--reps", type=int, help="repetitions (default 3; quick 1)")
    ap.add_argument("--kpe", required=True, help="the kprobe-exporter binary")
    ap.add_argument("--gen", required=True, help="the generator (for the harness's environment)")
    args = ap.parse_args()
    q = args.quick
    reps = args.reps or (1 if q else 3)
    n_tcp, n_exec, n_io, n_gai = (2000, 500, 5000, 20000) if q else (10000, 2000, 20000, 100000)

    root, why = uprobe_tracefs()
    if not root:
        print(f"SKIP: {why}")
        return 77
    if not os.path.isdir(os.path.join(root, "events/sock/inet_sock_set_state")):
        print("SKIP: no tracepoint sock/inet_sock_set_state")
        return 77
    tfs = Tracefs(root)
    work = tempfile.mkdtemp(prefix="kpe-bench-library.")
    gen = os.path.abspath(args.gen)
    env = C.Env(tfs, gen, gen, os.path.abspath(args.kpe), work, f"kpe_bench_lib{os.getpid()}")
    kpe = C.Kpe(env)
    kpe.inst = f"kpe_bench_lib_{os.getpid()}"
    img = os.path.join(work, "disk.img")
    with open(img, "wb") as f:
        f.truncate(256 << 20)
    loop = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True, check=True).stdout.strip()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = os.getloadavg()[0]
    log(f"{started}; {os.cpu_count()} cores; kernel {platform.release()}; load average {load0:.2f}; "
        f"instance {kpe.inst}; loop device {loop}")
    try:
        res = {"shipped": [], "tcp": [], "exec": [], "io": [], "gai_off": [], "gai_on": []}
        for r in range(reps):
            log(f"repetition {r + 1} of {reps}")
            res["shipped"].append(run_measured(env, kpe, SHIPPED_TCP, f"shipped{r}", tcp_workload(n_tcp)))
            res["tcp"].append(run_measured(env, kpe, include("tcp.yaml"), f"tcp{r}", tcp_workload(n_tcp)))
            res["exec"].append(run_measured(env, kpe, include("process.yaml"), f"exec{r}", exec_workload(n_exec)))
            res["io"].append(run_measured(env, kpe, include("block.yaml"), f"io{r}", block_workload(loop, n_io)))
            res["gai_off"].append(gai_workload(n_gai)())
            res["gai_on"].append(run_measured(env, kpe, include("dns.yaml"), f"gai{r}", gai_workload(n_gai)))
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
        subprocess.run(["rm", "-rf", work], check=False)
    load1 = os.getloadavg()[0]

    def per_k(rs, n):
        return med(rs, lambda x: x["cpu"]) / n * 1000 * 1000  # ms per 1,000

    print()
    print(f"## The probe library's cost ({started}; {platform.release()}; {os.cpu_count()} cores; "
          f"load {load0:.2f} -> {load1:.2f}; median of {reps})")
    print()
    print("| workload | config | daemon CPU per 1,000 | events read each | CPU per event | peak RSS |")
    print("|---|---|---|---|---|---|")
    rows = [("TCP connections", "shipped tcp_connect", res["shipped"], n_tcp),
            ("TCP connections", "tcp.yaml", res["tcp"], n_tcp),
            ("execs of /bin/true", "process.yaml", res["exec"], n_exec),
            ("direct 4 KiB reads", "block.yaml", res["io"], n_io),
            ("getaddrinfo() calls", "dns.yaml", res["gai_on"], n_gai)]
    for what, cfg, rs, n in rows:
        ev = med(rs, lambda x: x["events"])
        cpu_ev = med(rs, lambda x: x["cpu"] / max(1.0, x["events"])) * 1e6
        print(f"| {n:,} {what} | {cfg} | {per_k(rs, n):.1f} ms | {ev / n:.2f} | {cpu_ev:.2f} us | "
              f"{med(rs, lambda x: x['hwm_kib']) / 1024:.1f} MiB |")
    print()
    ratio = per_k(res["tcp"], n_tcp) / per_k(res["shipped"], n_tcp)
    print(f"- tcp.yaml against the shipped tcp_connect: {ratio:.2f}x the daemon CPU per connection "
          f"({med(res['tcp'], lambda x: x['events']) / n_tcp:.2f} events read per connection against "
          f"{med(res['shipped'], lambda x: x['events']) / n_tcp:.2f}).")
    off = statistics.median(res["gai_off"]) / n_gai * 1e6
    on = med(res["gai_on"], lambda x: x["result"]) / n_gai * 1e6
    print(f"- getaddrinfo(\"127.0.0.1\") from Python: {off:.2f} us per call without the daemon, {on:.2f} us with "
          f"dns.yaml's uprobe and uretprobe: {on - off:.2f} us added per call ({on / off:.2f}x).")
    bad = [(k, x) for k, rs in res.items() if k != "gai_off" for x in rs if x["lost"] or x["parse_errors"]]
    for k, x in bad:
        print(f"- WARNING {k}: lost {x['lost']:.0f}, parse errors {x['parse_errors']:.0f}")
    print()
    return 0


if __name__ == "__main__":
    run_main(main)
