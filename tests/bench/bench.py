#!/usr/bin/env python3
"""kprobe-exporter against the tools a user would pick instead, on the same
work, side by side, in one run. Started by tests/bench/run.sh (which installs
the contenders and builds the generator and the trivial reader); see there.

For each workload (syscalls/sys_enter_getpid hits of one process; a uprobe on
a function taking a sockaddr) and each contender it measures: CPU seconds of
the reader per million events (user+sys from the OS, setup excluded), events
counted under the right label against what the kernel recorded and lost,
peak RSS, and the highest event rate sustained with zero loss at the default
buffer size (a rate-limited generator stepping up). Then, for
kprobe-exporter alone: /metrics render time with 10,000 series, 50
concurrent scrapers during a flood, idle RSS with the default config, and RSS
under a cardinality attack."""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (Gen, Proc, Tracefs, curl_times, find_tracefs, http_get, log, metric,  # noqa: E402
                      perf_summary, proc_status_kib, run_main, wait_for)
import contenders as C  # noqa: E402


def measure(env, c, wl, n, rate=0):
    """One run: generator of n events (at rate, 0 = full speed) against
    contender c. Returns its result dict."""
    gen = Gen(env.gen_exe, wl.mode, n, rate)
    try:
        c.start(wl, gen)
        cpu0 = c.cpu_now()
        gen.go()
        g = gen.finish()
        r = c.finish(wl, gen)
    except BaseException:
        p = getattr(c, "p", None)
        if p is not None:
            p.kill()
        raise
    finally:
        gen.kill()
    r["cpu"] = max(0.0, r["cpu_end"] - cpu0)
    r["gen"] = g
    r["n"] = n
    seen = r.get("seen", r["counted"])
    # Events neither read nor reported lost by the kernel: what the tool
    # lost silently. (A count under a wrong label is not loss; the notes
    # tell it.)
    r["unexplained"] = n - seen - r["lost"]
    # A tool that does not read what is left at its stop (trace-cmd stream)
    # may fall short by 1% without counting as losing.
    short_ok = 0 if getattr(c, "exact_at_stop", True) else n // 100
    r["zero_loss"] = r["lost"] == 0 and n - short_ok <= seen <= n
    return r


def rate_search(env, c, wl, main, step_secs, ladder):
    """The highest rate of the ladder sustained for step_secs with zero loss.
    Returns (best achieved rate or None, first lossy rate or None, bound)."""
    if main["zero_loss"]:
        # Lossless at the generator's full speed: that is the bound we can show.
        return main["gen"]["rate"], None, "generator"
    # Start around half of what it drained in the full-speed run, walk up
    # until it loses (or down until it does not).
    est = main["counted"] / max(main["gen"]["secs"], 1e-3)
    steps = [r for r in ladder if r < main["gen"]["rate"]]
    if not steps:
        return None, None, "none"
    i = max([k for k, r in enumerate(steps) if r <= est * 0.6] or [0])
    best, lossy, tried = None, None, set()
    while 0 <= i < len(steps) and i not in tried:
        tried.add(i)
        rate = steps[i]
        r = measure(env, c, wl, int(rate * step_secs), rate)
        got = r["gen"]["rate"]
        ok = r["zero_loss"]
        log(f"  {c.name} @ {fmt_rate(rate)}: achieved {fmt_rate(got)}, read {r.get('seen', r['counted'])}/{r['n']}, "
            f"kernel lost {r['lost']} -> {'ok' if ok else 'LOSS'}")
        if ok:
            best = max(best or 0, got)
            if got < rate * 0.9:
                return best, lossy, "generator"
            i += 1
        else:
            lossy = rate if lossy is None else min(lossy, rate)
            if best is not None:
                break
            i -= 1
    return best, lossy, "reader"


def fmt_rate(r):
    if r is None:
        return "-"
    if r >= 1e6:
        return f"{r / 1e6:.2f}M/s"
    return f"{r / 1e3:.0f}k/s"


def fmt_int(v):
    return "-" if v is None else f"{int(v):,}"


# ---------------------------------------------------------------- kprobe-exporter only

def extra_idle(env, kpe, repo):
    cfg = os.path.join(repo, "config", "probes.yaml")
    with open(cfg) as f:
        text = f.read()
    kpe.start_daemon(text, "idle")
    try:
        time.sleep(3)
        rss = proc_status_kib(kpe.p.pid, "VmRSS")
        hwm = proc_status_kib(kpe.p.pid, "VmHWM")
        probes = json.loads(http_get(kpe.url + "/probes")[1])
        states = [p.get("state") for p in probes.get("probes", [])]
    finally:
        kpe.p.stop()
    return {"rss_kib": rss, "hwm_kib": hwm, "probes": states}


def parse_wrk(text):
    r = {}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    r["socket_errors"] = m.group(1).strip() if m else None
    for q in ("50", "99"):
        m = re.search(rf"^\s+{q}(?:\.000)?%\s+(\S+)", text, re.M)
        r["p" + q] = m.group(1) if m else None
    return r


def flood_under_scrapers(env, kpe, n, rate, wrk_secs):
    """A getpid flood of n events (at rate, 0 = full speed) while wrk runs
    50 scrapers of /metrics. Returns the accounting and wrk's numbers."""
    tfs = env.tfs
    gen = Gen(env.gen_exe, "getpid", n, rate)
    try:
        # Retarget the getpid probe's filter at this generator: the daemon
        # owns the event, we only change its filter in its instance.
        tfs.write(os.path.join("instances", kpe.inst, "events", "syscalls", "sys_enter_getpid", "filter"),
                  f"common_pid == {gen.pid}")
        before = tfs.stats(kpe.inst)
        ms0 = kpe.metrics()
        c0 = metric(ms0, "getpid_total", comm=C.GEN_COMM)
        wrk = None
        if shutil.which("wrk"):
            wrk = Proc(["wrk", "-t2", "-c50", f"-d{wrk_secs}s", "--latency", "--timeout", "10s",
                        kpe.url + "/metrics"], "wrk", out=env.out("wrk.out"), err=env.out("wrk.err"))
            time.sleep(0.5)
        cpu0 = kpe.p.tree_cpu()
        gen.go()
        g = gen.finish()
        if wrk:
            wrk.wait(wrk_secs + 30)
        tfs.wait_drained(kpe.inst)
        cpu1 = kpe.p.tree_cpu()
        after = tfs.stats(kpe.inst)
        lost = after["lost"] - before["lost"]
        ms = wait_for(lambda: (lambda m: m if metric(m, "getpid_total", comm=C.GEN_COMM) - c0 + lost >= n
                               else None)(kpe.metrics()), 5, 0.25) or kpe.metrics()
        counted = int(metric(ms, "getpid_total", comm=C.GEN_COMM) - c0)
        d_lost = int(metric(ms, "kprobe_exporter_lost_events_total") - metric(ms0, "kprobe_exporter_lost_events_total"))
        d_over = int(metric(ms, "kprobe_exporter_ring_buffer_overrun_total") +
                     metric(ms, "kprobe_exporter_ring_buffer_dropped_events_total") -
                     metric(ms0, "kprobe_exporter_ring_buffer_overrun_total") -
                     metric(ms0, "kprobe_exporter_ring_buffer_dropped_events_total"))
    finally:
        gen.kill()
    res = {"n": n, "rate_req": rate, "gen": g, "counted": counted, "kernel_lost": lost, "daemon_lost_lines": d_lost,
           "daemon_overrun": d_over, "unexplained": n - counted - lost, "cpu": cpu1 - cpu0}
    if wrk:
        res["wrk"] = parse_wrk(wrk.text())
    return res


def extra_series_and_scrapers(env, kpe, args, kpe_rate):
    tfs = env.tfs
    out = {}
    # The getpid probe starts filtered on a generator that never runs; each
    # flood below retargets the filter.
    idle_gen = Gen(env.gen_exe, "getpid", 1)
    try:
        kpe.start_daemon(kpe.config(None, idle_gen, max_series=20000), "series")
    finally:
        idle_gen.kill()
    try:
        gen = Gen(env.gen_exe, "call", 10000, 0, labels=10000)
        gen.go()
        gen.finish()

        def series():
            ms = kpe.metrics()
            v = metric(ms, "kprobe_exporter_series", metric="connect_total")
            return ms if v >= 10000 else None
        ms = wait_for(series, 20, 0.2)
        if not ms:
            raise RuntimeError("10,000 series did not appear")
        n_series = int(metric(ms, "kprobe_exporter_series", metric="connect_total"))
        cpu0 = kpe.p.tree_cpu()
        times, size = curl_times(kpe.url + "/metrics", args.scrapes)
        cpu1 = kpe.p.tree_cpu()
        times.sort()
        out["render"] = {"series": n_series, "scrapes": len(times), "bytes": size,
                         "median_ms": 1000 * statistics.median(times),
                         "p90_ms": 1000 * times[int(0.9 * (len(times) - 1))], "max_ms": 1000 * times[-1],
                         "daemon_cpu_ms_per_scrape": 1000 * (cpu1 - cpu0) / max(len(times), 1),
                         "rss_kib": proc_status_kib(kpe.p.pid, "VmRSS")}
        log(f"/metrics with {n_series} series: median {out['render']['median_ms']:.1f} ms, {size} bytes")
        if shutil.which("wrk"):
            out["flood_full"] = flood_under_scrapers(env, kpe, args.flood_n, 0, args.wrk_secs)
            log(f"flood at full speed + 50 scrapers: {out['flood_full']}")
            if kpe_rate:
                n = int(kpe_rate * args.step_secs * 2)
                out["flood_rate"] = flood_under_scrapers(env, kpe, n, kpe_rate, args.wrk_secs)
                log(f"flood at {fmt_rate(kpe_rate)} + 50 scrapers: {out['flood_rate']}")
        else:
            out["scrapers_skipped"] = "wrk not installed"
    finally:
        kpe.p.stop()
    return out


def extra_cardinality(env, kpe, n):
    kpe.start_daemon(kpe.config(C.UPROBE, None, max_series=10000), "attack")
    samples = []
    try:
        gen = Gen(env.gen_exe, "call", n, 0, labels=0)
        rss_before = proc_status_kib(kpe.p.pid, "VmRSS")
        gen.go()
        t0 = time.monotonic()
        while gen.proc.alive():
            samples.append((time.monotonic() - t0, proc_status_kib(kpe.p.pid, "VmRSS")))
            time.sleep(0.1)
        g = gen.finish()
        env.tfs.wait_drained(kpe.inst)
        samples.append((time.monotonic() - t0, proc_status_kib(kpe.p.pid, "VmRSS")))
        ms = kpe.metrics()
        res = {"n": n, "gen_secs": g["secs"],
               "events": int(metric(ms, "kprobe_exporter_events_total", probe="connect")),
               "series": int(metric(ms, "kprobe_exporter_series", metric="connect_total")),
               "refused": int(metric(ms, "kprobe_exporter_series_refused_total", metric="connect_total")),
               "kernel_lost": env.tfs.stats(kpe.inst)["lost"],
               "hwm_kib": proc_status_kib(kpe.p.pid, "VmHWM"), "rss_before_kib": rss_before}
    finally:
        kpe.p.stop()
    # RSS at 20%, 40%, ... of the generator's run.
    pts = []
    for frac in (0.2, 0.4, 0.6, 0.8, 1.0):
        t = frac * g["secs"]
        pts.append(min(samples, key=lambda s: abs(s[0] - t))[1])
    res["rss_kib_at"] = pts
    return res


def perf_hotspots(env, kpe, n):
    """kprobe-exporter on the getpid workload under perf record."""
    if not shutil.which("perf"):
        return "perf not installed"
    gen = Gen(env.gen_exe, "getpid", n)
    data = env.out("perf.data")
    try:
        kpe.start(C.TRACEPOINT, gen)
        perf = Proc(["perf", "record", "-g", "-F", "2000", "-p", str(kpe.p.pid), "-o", data], "perf",
                    out=env.out("perf.out"), err=env.out("perf.err"))
        time.sleep(0.5)
        gen.go()
        gen.finish()
        env.tfs.wait_drained(kpe.inst)
        perf.stop(signal.SIGINT, 30)
        kpe.p.stop()
    finally:
        gen.kill()
    return perf_summary(data)


# ---------------------------------------------------------------- output

def print_table(results, skipped, order):
    hdr = ["workload", "contender", "events", "counted", "kernel lost", "unexplained", "CPU s / M events read",
           "generator sys s / M", "peak RSS MiB", "max zero-loss rate"]
    rows = []
    for wl in order:
        for r in results:
            if r["workload"] != wl:
                continue
            m = r["main"]
            if r["rate"]:
                best, lossy, bound = r["rate"]
                if bound == "generator":
                    rate = f">= {fmt_rate(best)} (gen max)"
                elif best is None:
                    rate = f"< {fmt_rate(lossy)}" if lossy else "-"
                else:
                    rate = fmt_rate(best) + (f" (lost at {fmt_rate(lossy)})" if lossy else "")
            else:
                rate = "not searched"
            rows.append([wl, r["name"], fmt_int(m["n"]), fmt_int(m["counted"]), fmt_int(m["lost"]),
                         fmt_int(m["unexplained"]), f"{cpu_per_m(m):.3f}", f"{m['gen']['sys'] * 1e6 / m['n']:.2f}",
                         f"{(m['rss_kib'] or 0) / 1024:.1f}", rate])
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join(" --- " for _ in hdr) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    for r in results:
        if r["main"]["notes"]:
            print(f"- {r['workload']}, {r['name']}: " + "; ".join(r["main"]["notes"]))
    for wl, name, why in skipped:
        print(f"- {wl}, {name}: SKIPPED: {why}")
    print()


def cpu_per_m(m):
    """CPU seconds per million events the contender read (it cannot spend
    CPU on events the kernel dropped before it read them)."""
    return m["cpu"] * 1e6 / max(m.get("seen") or m["counted"], 1)


def print_ratios(results, order):
    print("Ratios, kprobe-exporter / contender, same run (CPU, RSS: below 1 kprobe-exporter uses less; "
          "rate: above 1 kprobe-exporter sustains more):")
    for wl in order:
        k = next((r for r in results if r["workload"] == wl and r["key"] == "kpe"), None)
        if not k:
            continue
        km = k["main"]
        for r in results:
            if r["workload"] != wl or r["key"] == "kpe":
                continue
            m = r["main"]
            cpu = f"{cpu_per_m(km) / cpu_per_m(m):.2f}x" if m["cpu"] > 0.005 else "n/a (contender ~0)"
            # With the traced process's sys time, where the kernel side of
            # the tracing is paid (and all of bpftrace's counting).
            tot = (cpu_per_m(km) + km["gen"]["sys"] * 1e6 / km["n"]) / \
                (cpu_per_m(m) + m["gen"]["sys"] * 1e6 / m["n"])
            rss = f"{km['rss_kib'] / m['rss_kib']:.2f}x" if m["rss_kib"] else "n/a"
            rate = "n/a"
            if k["rate"] and r["rate"] and k["rate"][0] and r["rate"][0]:
                # A generator-bound rate is a lower bound of the tool's own.
                kg, rg = k["rate"][2] == "generator", r["rate"][2] == "generator"
                v = f"{k['rate'][0] / r['rate'][0]:.2f}x"
                rate = ("n/a (both generator-bound)" if kg and rg else
                        f">= {v}" if kg else f"<= {v}" if rg else v)
            print(f"- {wl}: vs {r['name']}: CPU/event read {cpu} ({tot:.2f}x with the traced process's sys time), "
                  f"peak RSS {rss}, zero-loss rate {rate}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N=200k, shorter steps and extras (about a minute)")
    ap.add_argument("--n", type=int, help="getpid events per run (default 2,000,000; quick 200,000)")
    ap.add_argument("--uprobe-n", type=int, help="uprobe events per run (default 200,000; quick 50,000)")
    ap.add_argument("--workloads", default="tracepoint,uprobe")
    ap.add_argument("--contenders", default=",".join(c.key for c in C.ALL),
                    help="comma list of: " + ", ".join(c.key for c in C.ALL))
    ap.add_argument("--no-rate", action="store_true", help="skip the zero-loss rate search")
    ap.add_argument("--no-extras", action="store_true", help="skip the kprobe-exporter-only measurements")
    ap.add_argument("--perf", action="store_true", help="also profile kprobe-exporter with perf record")
    ap.add_argument("--step-secs", type=float, help="seconds per rate step (default 2; quick 1)")
    ap.add_argument("--kpe", required=True, help="the kprobe-exporter binary")
    ap.add_argument("--gen", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--repo", required=True, help="the source tree (for config/probes.yaml)")
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (outputs of every tool)")
    args = ap.parse_args()
    q = args.quick
    args.n = args.n or (200_000 if q else 2_000_000)
    args.uprobe_n = args.uprobe_n or (50_000 if q else 200_000)
    args.step_secs = args.step_secs or (1.0 if q else 2.0)
    args.flood_n = args.n
    args.wrk_secs = 4 if q else 8
    args.scrapes = 10 if q else 30
    args.attack_n = 50_000 if q else 300_000

    if os.geteuid() != 0:
        print("SKIP: not root (tracefs needs uid 0)")
        return 77
    root = find_tracefs()
    if not root or not os.path.isdir(os.path.join(root, "instances")):
        print("SKIP: no tracefs mounted")
        return 77
    tfs = Tracefs(root)
    work = tempfile.mkdtemp(prefix="kpe-bench.")
    env = C.Env(tfs, os.path.abspath(args.gen), os.path.abspath(args.reader), os.path.abspath(args.kpe), work,
                f"kpeb{os.getpid()}")
    wls = {"tracepoint": C.TRACEPOINT, "uprobe": C.UPROBE}
    order = [w for w in args.workloads.split(",") if w in wls]
    if not os.access(os.path.join(root, "uprobe_events"), os.W_OK) and "uprobe" in order:
        order.remove("uprobe")
        log("no uprobe_events: uprobe workload skipped")
    keys = args.contenders.split(",")
    cs = [cls(env) for cls in C.ALL if cls.key in keys]

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = os.getloadavg()
    t_start = time.monotonic()
    log(f"{started}; {os.cpu_count()} cores; kernel {platform.release()}; load average {load0[0]:.2f}; "
        f"tracefs {root}; kprobe-exporter {args.kpe}")
    if load0[0] > 0.5:
        log("WARNING: the machine is not idle (load average above 0.5): other processes compete for 2 cores")

    ladders = {"tracepoint": [50e3, 100e3, 150e3, 200e3, 250e3, 300e3, 400e3, 500e3, 600e3, 700e3, 800e3, 900e3,
                              1.0e6, 1.2e6, 1.4e6, 1.7e6, 2.0e6],
               "uprobe": [10e3, 20e3, 30e3, 40e3, 50e3, 60e3, 80e3, 100e3, 150e3]}
    results, skipped, checks = [], [], {}
    for c in cs:
        checks[c.key] = c.check()
    for wkey in order:
        wl = wls[wkey]
        n = args.n if wl is C.TRACEPOINT else args.uprobe_n
        for c in cs:
            if checks[c.key]:
                skipped.append((wkey, c.name, checks[c.key]))
                continue
            log(f"{wkey}: {c.name}: {n} events at full speed")
            try:
                m = measure(env, c, wl, n)
            except RuntimeError as e:
                log(f"{wkey}: {c.name}: failed: {e}")
                skipped.append((wkey, c.name, str(e)))
                continue
            log(f"  counted {m['counted']}/{n}, kernel lost {m['lost']}, CPU {m['cpu']:.2f} s, "
                f"generator {fmt_rate(m['gen']['rate'])}, RSS {m['rss_kib']} KiB; {'; '.join(m['notes'])}")
            rate = None
            if not args.no_rate:
                try:
                    rate = rate_search(env, c, wl, m, args.step_secs, ladders[wkey])
                except RuntimeError as e:
                    m["notes"].append(f"rate search failed: {e}")
            results.append({"workload": wkey, "name": c.name, "key": c.key, "main": m, "rate": rate})

    extras = {}
    kpe = next((c for c in cs if c.key == "kpe"), None)
    if kpe and not checks["kpe"] and args.perf:
        try:
            extras["perf"] = perf_hotspots(env, kpe, args.n)
        except (RuntimeError, OSError) as e:
            extras["perf"] = str(e)
    if kpe and not checks["kpe"] and not args.no_extras:
        try:
            extras["idle"] = extra_idle(env, kpe, args.repo)
            log(f"idle with the default config: {extras['idle']}")
        except (RuntimeError, OSError) as e:
            extras["idle"] = {"error": str(e)}
        kr = next((r for r in results if r["workload"] == "tracepoint" and r["key"] == "kpe"), None)
        kpe_rate = kr["rate"][0] if kr and kr["rate"] and kr["rate"][2] == "reader" else None
        try:
            extras.update(extra_series_and_scrapers(env, kpe, args, kpe_rate))
        except (RuntimeError, OSError) as e:
            extras["series_error"] = str(e)
        if "uprobe" in order:
            try:
                extras["attack"] = extra_cardinality(env, kpe, args.attack_n)
                log(f"cardinality attack: {extras['attack']}")
            except (RuntimeError, OSError) as e:
                extras["attack"] = {"error": str(e)}

    load1 = os.getloadavg()
    print()
    print(f"## kprobe-exporter benchmark, {started}")
    print()
    print(f"Machine: {os.cpu_count()} cores, kernel {platform.release()}, load average {load0[0]:.2f} at the start, "
          f"{load1[0]:.2f} at the end; run took {time.monotonic() - t_start:.0f} s. Events per run: "
          f"{args.n:,} getpid, {args.uprobe_n:,} uprobe hits; rate steps of {args.step_secs:g} s at the default "
          f"buffer size.")
    print()
    print_table(results, skipped, order)
    print_ratios(results, order)
    print_extras(extras)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "cores": os.cpu_count(), "kernel": platform.release(),
                       "load": [load0, load1], "args": vars(args), "results": results, "skipped": skipped,
                       "extras": extras}, f, indent=1, default=str)
    if args.keep:
        log(f"scratch dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_extras(x):
    if not x:
        return
    print("kprobe-exporter alone:")
    i = x.get("idle")
    if i:
        if "error" in i:
            print(f"- idle, default config: failed: {i['error']}")
        else:
            print(f"- idle with the default config/probes.yaml (probes: {', '.join(map(str, i['probes']))}): "
                  f"RSS {i['rss_kib'] / 1024:.1f} MiB (peak {i['hwm_kib'] / 1024:.1f} MiB)")
    r = x.get("render")
    if r:
        print(f"- /metrics with {r['series']:,} series ({r['bytes'] / 1024:.0f} KiB): {r['scrapes']} sequential "
              f"scrapes with curl, median {r['median_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms, max "
              f"{r['max_ms']:.1f} ms; daemon CPU {r['daemon_cpu_ms_per_scrape']:.1f} ms per scrape; RSS "
              f"{r['rss_kib'] / 1024:.1f} MiB")
    for key, what in (("flood_full", "full-speed flood"), ("flood_rate", "flood at its zero-loss rate")):
        f = x.get(key)
        if not f:
            continue
        w = f.get("wrk", {})
        print(f"- {what} ({f['n']:,} getpid at {fmt_rate(f['gen']['rate'])}) with 50 wrk scrapers of /metrics: "
              f"counted {f['counted']:,}, kernel-reported lost {f['kernel_lost']:,} (daemon's /metrics: "
              f"overrun+dropped {f['daemon_overrun']:,}, LOST lines {f['daemon_lost_lines']:,}), unexplained "
              f"{f['unexplained']:,}; wrk {w.get('rps') or 0:.0f} req/s, p50 {w.get('p50')}, p99 {w.get('p99')}, "
              f"non-2xx {w.get('non2xx')}, socket errors {w.get('socket_errors') or 'none'}")
    if x.get("series_error"):
        print(f"- 10k series / scrapers: failed: {x['series_error']}")
    a = x.get("attack")
    if a:
        if "error" in a:
            print(f"- cardinality attack: failed: {a['error']}")
        else:
            pts = " ".join(f"{v / 1024:.1f}" for v in a["rss_kib_at"])
            print(f"- cardinality attack ({a['n']:,} uprobe hits, each a new addr/port, max_series 10000): "
                  f"events {a['events']:,}, series held {a['series']:,}, refused {a['refused']:,}, kernel lost "
                  f"{a['kernel_lost']}; RSS MiB before: {a['rss_before_kib'] / 1024:.1f}, at 20/40/60/80/100% "
                  f"of the run: {pts} (peak "
                  f"{a['hwm_kib'] / 1024:.1f})")
    if x.get("perf"):
        print("- perf record of kprobe-exporter on the getpid workload (self time, >1.5%):")
        print("```")
        print(x["perf"])
        print("```")
    print()


if __name__ == "__main__":
    run_main(main)
