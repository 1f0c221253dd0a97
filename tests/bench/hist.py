#!/usr/bin/env python3
"""What histograms and latency pairing cost kprobe-exporter, measured in
one run (issue 12). Started by `sh tests/bench/run.sh --hist`, which builds
the generator; run by hand, as root; not part of the test suites. It prints
figures and ratios of the same run and asserts no timing.

1. CPU per event. The same number of events, at the same event rate,
   through (a) a plain counter on a uprobe of the generator's
   kpe_bench_leaf, (b) a latency histogram (20 exponential buckets) pairing
   a uprobe and a uretprobe on it: two events per call, one observation,
   (c) a value histogram (20 buckets) on the uprobe alone, which splits
   what the histogram costs from what the pairing costs. Figure: the
   daemon's on-CPU time (user+sys, to the ns: schedstat) per million
   events read (entries and returns both count) and per observation;
   setup excluded; median of the repetitions.
2. Peak RSS with the pending table full: a latency metric (max_pending
   65536, the default) matching on a key that differs in every call, whose
   return probe sits on a function the generator never calls, so that
   entries pile up, 3 times max_pending of them; against the same daemon
   with only the plain counter on the same events.
3. /metrics render time with 1,000 histogram series of 20 buckets (a value
   histogram labelled by a fetched argument that the generator cycles over
   1,000 values), text and OpenMetrics. The daemon serves a rendering again
   for 200 ms, so each timed request comes 250 ms after the previous one:
   these are renders, not cached copies (the cached answer is timed too).
"""

import argparse
import json
import os
import platform
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (Gen, Proc, Tracefs, curl_times, uprobe_tracefs, log, machine_busy_secs, metric,  # noqa: E402
                      perf_summary, proc_runtime_secs, proc_status_kib, run_main, wait_for)
import contenders as C  # noqa: E402

MAX_PENDING = 65536  # the default, written out in the config
# 100 ns to 52 ms by factors of 2: a uprobe + uretprobe round trip is a few us.
LAT_BUCKETS = "{exponential: {start: 0.0000001, factor: 2, count: 20}}"
# 1 to 524288: the generator's values run from 1 to 2^20.
VAL_BUCKETS = "{exponential: {start: 1, factor: 2, count: 20}}"


# ---------------------------------------------------------------- configs

def probe(name, kind, target, fetch=None, metrics=()):
    lines = [f"  - name: {name}", f"    type: {kind}", f"    target: {target}"]
    if fetch:
        lines.append("    fetch: [" + ", ".join(fetch) + "]")
    if metrics:
        lines.append("    metrics:")
        for m in metrics:
            first = True
            for k, v in m.items():
                v = json.dumps(v) if k == "help" else v  # a YAML double-quoted string
                lines.append(("      - " if first else "        ") + f"{k}: {v}")
                first = False
    return lines


def config(*probes):
    lines = ["recent_events: 4096", "probes:"]
    for p in probes:
        lines += p
    return "\n".join(lines) + "\n"


class Configs:
    """The daemon configs of every measurement; leaf and never are uprobe
    targets in the generator (path:offset)."""

    def __init__(self, leaf, never):
        counter = {"name": "leaf_total", "help": "Calls of kpe_bench_leaf.", "labels": "[comm]"}
        self.counter = config(probe("leaf_in", "uprobe", leaf, metrics=[counter]))
        self.pair = config(
            probe("leaf_in", "uprobe", leaf),
            probe("leaf_out", "uretprobe", leaf, metrics=[{
                "name": "leaf_duration_seconds", "help": "Time kpe_bench_leaf took.", "type": "histogram",
                "latency_from": "leaf_in", "buckets": LAT_BUCKETS, "labels": "[comm]"}]))
        self.value = config(probe("leaf_in", "uprobe", leaf, fetch=["value=%si:u64"], metrics=[{
            "name": "leaf_value", "help": "Values passed to kpe_bench_leaf.", "type": "histogram",
            "value": "value", "buckets": VAL_BUCKETS, "labels": "[comm]"}]))
        # Pending table: entries keyed by the call's key (each call a new
        # one), returns from a function the generator never calls.
        keyed = probe("leaf_in", "uprobe", leaf, fetch=["key=%di:u64"], metrics=[counter])
        self.pending_counter = config(keyed)
        self.pending = config(keyed, probe("never_out", "uretprobe", never, fetch=["key=%di:u64"], metrics=[{
            "name": "never_duration_seconds", "help": "Never observed: the return never comes.",
            "type": "histogram", "latency_from": "leaf_in", "match": "[key]", "max_pending": MAX_PENDING,
            "buckets": LAT_BUCKETS, "labels": "[comm]"}]))
        self.render = config(probe("leaf_in", "uprobe", leaf, fetch=["key=%di:u64", "value=%si:u64"], metrics=[{
            "name": "leaf_value", "help": "Values passed to kpe_bench_leaf, by key.", "type": "histogram",
            "value": "value", "buckets": VAL_BUCKETS, "labels": "[key]"}]))


# ---------------------------------------------------------------- runs

def settle(kpe, probes, expect, lost):
    """/metrics once the daemon has read every event the kernel did not
    report lost."""
    def done():
        ms = kpe.metrics()
        seen = sum(metric(ms, "kprobe_exporter_events_total", probe=p) for p in probes)
        return ms if seen + lost >= expect else None
    return wait_for(done, 10, 0.25) or kpe.metrics()


def cpu_run(env, kpe, cfg, tag, probes, calls, events, rate_calls, obs_metric, loads, perf=None):
    """One daemon with cfg, one generator of calls kpe_bench_leaf calls at
    rate_calls/s (0: full speed) that make events events. CPU from the
    generator's first call until the daemon has read the last event."""
    kpe.start_daemon(cfg, tag)
    gen = None
    prof = None
    try:
        gen = Gen(env.gen_exe, "leaf", calls, rate_calls)
        if perf:
            prof = Proc(["perf", "record", "-g", "-F", "2000", "-p", str(kpe.p.pid), "-o", perf], "perf",
                        out=env.out("perf.out"), err=env.out("perf.err"))
            time.sleep(0.5)
        cpu0, busy0, t0 = proc_runtime_secs(kpe.p.pid), machine_busy_secs(), time.monotonic()
        gen.go()
        g = gen.finish()
        loads.append(os.getloadavg()[0])
        env.tfs.wait_drained(kpe.inst)
        cpu1, busy1, t1 = proc_runtime_secs(kpe.p.pid), machine_busy_secs(), time.monotonic()
        if prof:
            prof.stop(signal.SIGINT, 30)
        st = env.tfs.stats(kpe.inst)
        hwm = proc_status_kib(kpe.p.pid, "VmHWM")
        ms = settle(kpe, probes, events, st["lost"])
    finally:
        if gen:
            gen.kill()
        kpe.p.stop()
    read = int(sum(metric(ms, "kprobe_exporter_events_total", probe=p) for p in probes))
    obs = int(metric(ms, obs_metric))
    return {"cpu": cpu1 - cpu0, "read": read, "obs": obs, "lost": st["lost"], "calls": calls, "events": events,
            "unmatched": int(metric(ms, "kprobe_exporter_unmatched_total")),
            "unmatched_by": {lb.get("reason"): int(v) for lb, v in ms.get("kprobe_exporter_unmatched_total", []) if v},
            "rejected": int(metric(ms, "kprobe_exporter_values_rejected_total")),
            "gen": g, "hwm_kib": hwm,
            # Cores the rest of the machine kept busy meanwhile (not the
            # daemon, not the generator, whose sys time holds the probes').
            "others": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - g["user"] - g["sys"]) / (t1 - t0)}


def cpu_runs(cfgs, args):
    """The CPU runs: name, config, probes, calls, calls/s, the sample that
    counts observations. Every run makes args.events events at args.rate
    events/s; a call of the pair makes two."""
    n, rate = args.events, args.rate
    return [("counter", cfgs.counter, ["leaf_in"], n, rate, "leaf_total"),
            ("pair", cfgs.pair, ["leaf_in", "leaf_out"], n // 2, rate // 2, "leaf_duration_seconds_count"),
            ("value", cfgs.value, ["leaf_in"], n, rate, "leaf_value_count")]


def part_cpu(env, kpe, cfgs, args, loads):
    runs = cpu_runs(cfgs, args)
    res = {r[0]: [] for r in runs}
    for rep in range(args.reps):
        for name, cfg, probes, calls, rc, om in runs:
            r = cpu_run(env, kpe, cfg, env.fresh(name), probes, calls, calls * len(probes), rc, om, loads)
            res[name].append(r)
            log(f"rep {rep + 1}/{args.reps} {name}: {r['read']:,} events read, {r['obs']:,} observations, "
                f"kernel lost {r['lost']}, unmatched {r['unmatched_by'] or 0}, daemon CPU {r['cpu']:.2f} s "
                f"({r['cpu'] * 1e6 / max(r['read'], 1):.3f} s/M events), generator "
                f"{r['gen']['n'] / r['gen']['secs']:,.0f} calls/s; other processes {r['others']:.2f} cores")
    return res


def part_perf(env, kpe, cfgs, args, loads):
    """perf record of the daemon on the counter and on the latency pair."""
    if not shutil.which("perf"):
        return {"error": "perf not installed"}
    out = {}
    for name, cfg, probes, calls, rate, om in cpu_runs(cfgs, args)[:2]:
        data = env.out(f"perf-{name}.data")
        cpu_run(env, kpe, cfg, env.fresh("perf"), probes, calls, calls * len(probes), rate, om, loads, perf=data)
        out[name] = perf_summary(data)
    return out


def rss_run(env, kpe, cfg, tag, probes, calls, loads):
    kpe.start_daemon(cfg, tag)
    gen = None
    try:
        time.sleep(0.5)
        idle = proc_status_kib(kpe.p.pid, "VmRSS")
        # --labels 0: key = the call's number, a new pending entry each.
        gen = Gen(env.gen_exe, "leaf", calls, 0, labels=0)
        gen.go()
        g = gen.finish()
        loads.append(os.getloadavg()[0])
        env.tfs.wait_drained(kpe.inst)
        st = env.tfs.stats(kpe.inst)
        ms = settle(kpe, probes, calls, st["lost"])
        rss = proc_status_kib(kpe.p.pid, "VmRSS")
        hwm = proc_status_kib(kpe.p.pid, "VmHWM")
    finally:
        if gen:
            gen.kill()
        kpe.p.stop()
    return {"calls": calls, "gen": g, "idle_kib": idle, "rss_kib": rss, "hwm_kib": hwm, "lost": st["lost"],
            "read": int(metric(ms, "kprobe_exporter_events_total", probe="leaf_in")),
            "counted": int(metric(ms, "leaf_total")),
            "evicted": int(metric(ms, "kprobe_exporter_unmatched_total", reason="evicted")),
            "expired": int(metric(ms, "kprobe_exporter_unmatched_total", reason="expired"))}


def part_rss(env, kpe, cfgs, args, loads):
    out = {}
    for name, cfg in (("counter", cfgs.pending_counter), ("pending", cfgs.pending)):
        r = rss_run(env, kpe, cfg, env.fresh(name), ["leaf_in"], args.pending_calls, loads)
        out[name] = r
        log(f"RSS {name}: {r['read']:,} entry events, evicted {r['evicted']:,}, kernel lost {r['lost']}; RSS idle "
            f"{r['idle_kib']} KiB, after {r['rss_kib']} KiB, peak {r['hwm_kib']} KiB")
    return out


def part_render(env, kpe, cfgs, args, loads):
    kpe.start_daemon(cfgs.render, env.fresh("render"))
    try:
        gen = Gen(env.gen_exe, "leaf", args.series * 100, 0, labels=args.series)
        try:
            gen.go()
            gen.finish()
        finally:
            gen.kill()
        env.tfs.wait_drained(kpe.inst)

        def ready():
            ms = kpe.metrics()
            return ms if metric(ms, "kprobe_exporter_series", metric="leaf_value") >= args.series else None
        ms = wait_for(ready, 20, 0.25)
        if not ms:
            raise RuntimeError(f"{args.series} series did not appear")
        n_series = int(metric(ms, "kprobe_exporter_series", metric="leaf_value"))
        buckets = len(ms.get("leaf_value_bucket", []))
        out = {"series": n_series, "bucket_samples": buckets, "observations": int(metric(ms, "leaf_value_count"))}
        url = kpe.url + "/metrics"
        for fmt, hdr in (("text", ()), ("openmetrics", ("Accept: application/openmetrics-text",))):
            st, body = http_get_hdr(url, hdr)
            lines = body.count(b"\n")
            cpu0 = proc_runtime_secs(kpe.p.pid)
            # Each request 250 ms after the previous: a fresh rendering.
            times, size = curl_times(url, args.scrapes, hdr, pause=0.25)
            cpu1 = proc_runtime_secs(kpe.p.pid)
            loads.append(os.getloadavg()[0])
            # Right after a rendering: the cached copy.
            cached = []
            for _ in range(args.scrapes):
                time.sleep(0.25)
                curl_times(url, 1, hdr)
                cached += curl_times(url, 1, hdr)[0]
            if not times or not cached:
                raise RuntimeError(f"/metrics ({fmt}) did not answer 200")
            times.sort()
            out[fmt] = {"scrapes": len(times), "bytes": size, "lines": lines, "content_type": st,
                        "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * times[0],
                        "p90_ms": 1000 * times[int(0.9 * (len(times) - 1))], "max_ms": 1000 * times[-1],
                        "cpu_ms": 1000 * (cpu1 - cpu0) / len(times),
                        "cached_median_ms": 1000 * statistics.median(cached),
                        "eof": body.rstrip().endswith(b"# EOF"), "exemplars": body.count(b" # {seq=")}
            log(f"/metrics {fmt}: {n_series} series, {size:,} bytes, median {out[fmt]['median_ms']:.1f} ms "
                f"(cached {out[fmt]['cached_median_ms']:.1f} ms), daemon CPU {out[fmt]['cpu_ms']:.1f} ms per render")
        out["rss_kib"] = proc_status_kib(kpe.p.pid, "VmRSS")
    finally:
        kpe.p.stop()
    return out


def gen_offset(gen, func):
    return subprocess.run([gen, "offset", func], check=True, capture_output=True, text=True).stdout.strip()


def http_get_hdr(url, headers):
    """The Content-Type and the body of one GET with these headers."""
    req = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers.get("Content-Type", ""), r.read()


# ---------------------------------------------------------------- output

def per_m(r):
    return r["cpu"] * 1e6 / max(r["read"], 1)


def per_obs_us(r):
    return r["cpu"] * 1e6 / max(r["obs"], 1)


def ev_rate(r):
    """Events per second the generator made (a call of the pair makes two)."""
    return r["gen"]["n"] / r["gen"]["secs"] * r["events"] / r["calls"]


def med(rs, f):
    return statistics.median(f(r) for r in rs)


def spread(rs, f, fmt):
    vals = sorted(f(r) for r in rs)
    return fmt.format(vals[0]) if len(vals) == 1 else "–".join(fmt.format(v) for v in (vals[0], vals[-1]))


def print_report(args, cpu, rss, render, perf, started, load0, load1, loads, secs):
    print()
    print(f"## kprobe-exporter histogram benchmark, {started}")
    print()
    ld = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "-"
    others = ""
    if cpu:
        o = sorted(r["others"] for rs in cpu.values() for r in rs)
        others = (f" Other processes (not the daemon, not the generator) kept {statistics.median(o):.2f} cores "
                  f"busy during the CPU runs (median; {o[0]:.2f} to {o[-1]:.2f}).")
    print(f"Machine: {os.cpu_count()} cores, kernel {platform.release()}; load average {load0[0]:.2f} at the start, "
          f"{ld} during, {load1[0]:.2f} at the end; run took {secs:.0f} s.{others} CPU: {args.events:,} events per "
          f"run at {args.rate:,} events/s" + (" (full speed)" if not args.rate else "") +
          f", median of {args.reps} runs each (the daemon's on-CPU time, user+sys, from /proc/PID/task/*/schedstat; "
          "setup excluded).")
    print()
    rows = []
    if cpu:
        c, p, v = cpu["counter"], cpu["pair"], cpu["value"]
        base = med(c, per_m)
        for name, rs, what in (("plain counter", c, "uprobe"),
                               ("latency histogram", p, "uprobe + uretprobe, 20 buckets"),
                               ("value histogram", v, "uprobe, 20 buckets")):
            r = rs[0]
            obs = "observation" if name != "plain counter" else "counted event"
            rows.append([f"CPU s / M events read: {name}", f"{what}; {r['events']:,} events, {r['obs']:,} "
                         f"{obs}s", f"{med(rs, per_m):.3f} ({spread(rs, per_m, '{:.3f}')})",
                         f"{med(rs, per_m) / base:.2f}x"])
        rows.append(["CPU µs / observation: latency histogram", "one observation = an entry and a return event",
                     f"{med(p, per_obs_us):.2f}", f"{med(p, per_obs_us) / med(c, per_obs_us):.2f}x"])
        rows.append(["CPU µs / observation: value histogram", "one observation = one event",
                     f"{med(v, per_obs_us):.2f}", f"{med(v, per_obs_us) / med(c, per_obs_us):.2f}x"])
    if rss:
        c, p = rss["counter"], rss["pending"]
        held = p["read"] - p["evicted"]
        for name, r, what in (("plain counter", c, "entry events only"),
                              ("latency, pending table full", p,
                               f"{held:,} entries held (max_pending {MAX_PENDING:,}), {p['evicted']:,} evicted")):
            rows.append([f"RSS MiB: {name}", f"{r['calls']:,} uprobe hits, each a new key; {what}",
                         f"{r['rss_kib'] / 1024:.1f} (peak {r['hwm_kib'] / 1024:.1f})",
                         f"{r['rss_kib'] / c['rss_kib']:.2f}x (peak {r['hwm_kib'] / c['hwm_kib']:.2f}x)"])
    if render:
        for fmt, title in (("text", "text 0.0.4"), ("openmetrics", "OpenMetrics")):
            r = render[fmt]
            rows.append([f"/metrics render ms: {title}",
                         f"{render['series']:,} series x 20 buckets, {r['bytes'] / 1024:.0f} KiB, "
                         f"{r['lines']:,} lines; not cached (250 ms apart), {r['scrapes']} renders",
                         f"{r['median_ms']:.1f} (p90 {r['p90_ms']:.1f}, max {r['max_ms']:.1f}); daemon CPU "
                         f"{r['cpu_ms']:.1f}", f"cached copy {r['cached_median_ms']:.2f} ms"])
    print("| measurement | work | figure | ratio (render: the cached copy, ms) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if cpu:
        c, p, v = cpu["counter"], cpu["pair"], cpu["value"]
        ev = med(p, per_m) / med(c, per_m)
        ob = med(p, per_obs_us) / med(c, per_obs_us)
        print(f"- Latency pairing against a plain counted event (target at most 1.5x): {ev:.2f}x per event read, "
              f"{ob:.2f}x per observation (an observation takes two events). Value histogram, no pairing: "
              f"{med(v, per_m) / med(c, per_m):.2f}x per event.")
        for name, rs in (("counter", c), ("pair", p), ("value", v)):
            bad = [f"rep {i + 1}: read {r['read']:,}/{r['events']:,}, kernel lost {r['lost']}, unmatched "
                   f"{r['unmatched_by']}, observations {r['obs']:,}, rejected {r['rejected']}"
                   for i, r in enumerate(rs)
                   if r["read"] != r["events"] or r["lost"] or r["unmatched"] or r["rejected"] or
                   r["obs"] != r["calls"]]
            rates = [ev_rate(r) for r in rs]
            slow = [f"{x:,.0f}" for x in rates if args.rate and x < 0.9 * args.rate]
            sys_m = statistics.median(r["gen"]["sys"] * 1e6 / r["events"] for r in rs)
            print(f"- {name}: generator {statistics.median(rates):,.0f} events/s"
                  + (f" (below the rate asked in {len(slow)} run(s): {', '.join(slow)})" if slow else "")
                  + f", its sys time {sys_m:.1f} s / M events (the kernel side of the probes); daemon CPU s per run: "
                  + ", ".join(f"{r['cpu']:.2f}" for r in rs) + "; "
                  + ("; ".join(bad) if bad else "every event read and observed, none lost"))
    if rss:
        c, p = rss["counter"], rss["pending"]
        held = p["read"] - p["evicted"]
        extra = (p["rss_kib"] - c["rss_kib"]) * 1024
        print(f"- Pending table: {extra / 2**20:.1f} MiB more than the counter alone, {extra / max(held, 1):.0f} "
              f"bytes per held entry (RSS idle before the events: counter {c['idle_kib'] / 1024:.1f} MiB, latency "
              f"{p['idle_kib'] / 1024:.1f} MiB); expired {p['expired']}, kernel lost {p['lost']} and {c['lost']}, "
              f"counted {p['counted']:,} and {c['counted']:,}.")
    if render:
        t, o = render["text"], render["openmetrics"]
        print(f"- /metrics: {render['series']:,} series, {render['bucket_samples']:,} bucket samples, "
              f"{render['observations']:,} observations; OpenMetrics: Content-Type {o['content_type']!r}, "
              f"ends in # EOF: {o['eof']}, {o['exemplars']:,} exemplars; text: {t['content_type']!r}. Time is "
              f"curl's time_total over loopback; daemon CPU is its user+sys over the renders / renders. RSS "
              f"{render['rss_kib'] / 1024:.1f} MiB.")
    if perf:
        if "error" in perf:
            print(f"- perf: {perf['error']}")
        for name, what in (("counter", "the plain counter"), ("pair", "the latency pair")):
            if name in perf:
                print(f"- perf record of the daemon on {what} (self time, >1.5%):")
                print("```")
                print(perf[name])
                print("```")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200k events, 1 repetition, 5 scrapes (about a minute)")
    ap.add_argument("--events", type=int, help="events per CPU run (default 600,000; quick 200,000)")
    ap.add_argument("--rate", type=int, default=50000,
                    help="events per second in the CPU runs, the same for every config (0: full speed); "
                         "default 50,000")
    ap.add_argument("--reps", type=int, help="repetitions of the CPU runs (default 3; quick 1)")
    ap.add_argument("--pending-calls", type=int, default=3 * MAX_PENDING,
                    help=f"entries pushed in the RSS runs (default {3 * MAX_PENDING:,})")
    ap.add_argument("--series", type=int, default=1000, help="histogram series for the render (default 1,000)")
    ap.add_argument("--scrapes", type=int, help="timed renders per format (default 20; quick 5)")
    ap.add_argument("--parts", default="cpu,rss,render", help="comma list of: cpu, rss, render")
    ap.add_argument("--perf", action="store_true", help="also profile the daemon on the latency pair")
    ap.add_argument("--kpe", required=True, help="the kprobe-exporter binary")
    ap.add_argument("--gen", required=True)
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (configs, daemon logs)")
    args = ap.parse_args()
    q = args.quick
    args.events = args.events or (200_000 if q else 600_000)
    args.reps = args.reps or (1 if q else 3)
    args.scrapes = args.scrapes or (5 if q else 20)
    parts = set(args.parts.split(","))

    root, why = uprobe_tracefs()
    if not root:
        print(f"SKIP: {why}")
        return 77
    tfs = Tracefs(root)
    work = tempfile.mkdtemp(prefix="kpe-bench-hist.")
    gen = os.path.abspath(args.gen)
    env = C.Env(tfs, gen, gen, os.path.abspath(args.kpe), work, f"kpe_bench_hist{os.getpid()}")
    offs = {f: gen_offset(gen, f) for f in ("leaf", "never")}
    cfgs = Configs(f"{gen}:{offs['leaf']}", f"{gen}:{offs['never']}")
    kpe = C.Kpe(env)
    kpe.inst = f"kpe_bench_hist_{os.getpid()}"  # our tracefs instance and probe group

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    log(f"{started}; {os.cpu_count()} cores; kernel {platform.release()}; load average {load0[0]:.2f}; "
        f"tracefs {root}; instance {kpe.inst}; kprobe-exporter {args.kpe}")
    if load0[0] > 0.5:
        log("WARNING: the machine is not idle (load average above 0.5): other processes compete for the cores")
    loads = []
    cpu = rss = render = perf = None
    if "cpu" in parts:
        cpu = part_cpu(env, kpe, cfgs, args, loads)
    if args.perf:
        perf = part_perf(env, kpe, cfgs, args, loads)
    if "rss" in parts:
        rss = part_rss(env, kpe, cfgs, args, loads)
    if "render" in parts:
        render = part_render(env, kpe, cfgs, args, loads)
    load1 = os.getloadavg()
    print_report(args, cpu, rss, render, perf, started, load0, load1, loads, time.monotonic() - t0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "cores": os.cpu_count(), "kernel": platform.release(),
                       "load": [load0, loads, load1], "args": vars(args), "cpu": cpu, "rss": rss,
                       "render": render, "perf": perf}, f, indent=1, default=str)
    if args.keep:
        log(f"scratch dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
