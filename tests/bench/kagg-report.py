#!/usr/bin/env python3
"""The tables of tests/bench/kagg.sh, from the guest's serial console (its
"KPE: result" and "KPE: scrape" lines, see kagg-guest.sh) and the host's
curl timings. Markdown on stdout, ready for README's Benchmark section."""

import argparse
import re
import statistics
import sys

LABELS = {
    "base": "no tracing (baseline)",
    "kcomm": "kprobe-exporter, `aggregate: kernel`, `events: false`, by comm",
    "kpid": "kprobe-exporter, `aggregate: kernel`, `events: false`, by pid",
    "kpidf": "kprobe-exporter, `aggregate: kernel`, by pid, `$comm` fetched unused (diagnostic)",
    "stream": "kprobe-exporter streaming the same metric (`aggregate: user`, `$comm` fetched)",
    "streamh": "kprobe-exporter streaming, comm from the record (no `$comm` fetch)",
    "bpftrace": "bpftrace, `@[comm] = count()`",
}
ORDER = ["base", "kcomm", "kpid", "kpidf", "stream", "streamh", "bpftrace"]


def parse(serial):
    runs, scrape, facts, blocks = {}, {"k": {}, "u": {}}, {}, {}
    block = None
    for line in serial:
        line = line.rstrip("\n")
        if block is not None:
            if line == f"KPE-END {block}":
                block = None
            else:
                blocks[block].append(line)
            continue
        if line.startswith("KPE-BEGIN "):
            block = line.split(" ", 1)[1]
            blocks[block] = []
            continue
        if not line.startswith("KPE: "):
            continue
        f = line[5:].split()
        if f[0] == "result":
            mode, rnd = f[1], int(f[2])
            calls, ut, st, wall, u0, s0, ns0, u1, s1, ns1, count = (int(x) for x in f[3:14])
            runs.setdefault(mode, {})[rnd] = {
                "calls": calls, "utime": ut / 1e6, "stime": st / 1e6, "wall": wall / 1e6,
                "ticks": (u1 + s1 - u0 - s0) / 100.0, "cpu": (ns1 - ns0) / 1e9, "count": count}
        elif f[0] == "scrape":
            scrape[f[1]][f[2]] = f[3:]
        else:
            facts[f[0]] = f[1:]
    return runs, scrape, facts, blocks


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def per_m(v, calls):
    return v * 1e6 / calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serial", required=True)
    ap.add_argument("--curl-k", required=True)
    ap.add_argument("--curl-u", required=True)
    ap.add_argument("--started", default="?")
    ap.add_argument("--host", default="?")
    ap.add_argument("--seconds", default="?")
    ap.add_argument("--command", default="bash tests/bench/kagg.sh")
    a = ap.parse_args()
    with open(a.serial, encoding="utf-8", errors="replace") as f:
        runs, scrape, facts, blocks = parse(f)
    curl = {}
    for kind, path in (("k", a.curl_k), ("u", a.curl_u)):
        with open(path) as f:
            curl[kind] = [line.split() for line in f if line.strip()]

    if "base" not in runs:
        sys.exit("no baseline runs in the serial log")
    rounds = sorted(runs["base"])
    calls = runs["base"][rounds[0]]["calls"]
    modes = [m for m in ORDER if m in runs]
    kernel = " ".join(facts.get("booted", ["?"])[:1])

    def col(mode, key):
        return [per_m(runs[mode][r][key], runs[mode][r]["calls"]) for r in sorted(runs[mode])]

    def extra(mode, key="stime"):
        """The mode's key (stime, or loopcpu: utime + stime) above the same
        round's baseline, per M calls."""
        return [col_round(mode, r, key) - col_round("base", r, key) for r in sorted(runs[mode]) if r in runs["base"]]

    def col_round(mode, r, key):
        run = runs[mode][r]
        v = run["utime"] + run["stime"] if key == "loopcpu" else run[key]
        return per_m(v, run["calls"])

    def loopcpu(mode):
        return [col_round(mode, r, "loopcpu") for r in sorted(runs[mode])]

    out = []
    p = out.append
    p(f"Run {a.started} with `{a.command}`: a Debian 13 guest (kernel {kernel}, x86-64, 1 vCPU, "
      f"{int(facts.get('mem-kib', ['0'])[0]) // 1024} MiB) under qemu TCG (software emulation, no KVM) "
      f"on this project's machine ({a.host}); {a.seconds} s in all. "
      f"{calls:,} getppid() calls per run, {len(rounds)} rounds interleaved, medians; "
      "every run's count checked equal to the calls (the metric, the hist file's Hits with Dropped 0, "
      "bpftrace's map).")
    p("")
    p("Traced process (a tight getppid() loop, kprobe on `__x64_sys_getppid`), per million calls. "
      "\"Loop CPU\" is its user+sys time (getrusage around the loop: the scheduler's exact run time); "
      "\"sys\" is the system part of it, which the kernel splits by sampling at its 250 Hz tick "
      "(see below); \"extra\" is above the same round's baseline. \"Tracer CPU\" is the daemon's "
      "(or bpftrace's) utime+stime over the loop, for a streaming daemon until it has read every "
      "event (scheduler ns; in brackets /proc/PID/stat ticks):")
    p("")
    p("| mode | loop CPU s / M | extra CPU s / M | loop sys s / M | extra sys s / M | loop wall s / M | "
      "tracer CPU s / M | counted |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in modes:
        ex_c = f"{med(extra(m, 'loopcpu')):+.3f}" if m != "base" else "-"
        ex_s = f"{med(extra(m)):+.3f}" if m != "base" else "-"
        counted = sum(runs[m][r]["count"] for r in runs[m])
        want = sum(runs[m][r]["calls"] for r in runs[m])
        tracer = "-" if m == "base" else f"{med(col(m, 'cpu')):.4f} ({med(col(m, 'ticks')):.2f})"
        p(f"| {LABELS.get(m, m)} | {med(loopcpu(m)):.3f} | {ex_c} | {med(col(m, 'stime')):.3f} | {ex_s} | "
          f"{med(col(m, 'wall')):.3f} | {tracer} | {counted:,} of {want:,} |")
    p("")

    def ratio(x, y):
        return x / y if y else float("inf")

    p("Against the targets (the traced process's extra time over the baseline, sys and all CPU; "
      "the daemon's CPU over the loop):")
    p("")
    p("| comparison | extra sys | extra CPU (user+sys) | target |")
    p("| --- | --- | --- | --- |")

    def both(m, other):
        es, eo = med(extra(m)), med(extra(other))
        cs, co = med(extra(m, "loopcpu")), med(extra(other, "loopcpu"))
        return (f"{ratio(es, eo):.2f}x ({es:.3f} / {eo:.3f} s per M) | "
                f"{ratio(cs, co):.2f}x ({cs:.3f} / {co:.3f} s per M)")

    for other, target in (("bpftrace", "at most 1.5x"), ("stream", "-"), ("streamh", "-")):
        for m in ("kcomm", "kpid", "kpidf"):
            if m in runs and other in runs:
                p(f"| {m} / {other} | {both(m, other)} | {target} |")
    p("")
    p("| comparison | daemon CPU over the loop | target |")
    p("| --- | --- | --- |")
    for s in ("stream", "streamh"):
        for m in ("kcomm", "kpid"):
            if m in runs and s in runs:
                km, sm = med(col(m, "cpu")), med(col(s, "cpu"))
                p(f"| {m} / {s} | {100 * ratio(km, sm):.3f}% ({km * 1e3:.2f} / {sm * 1e3:.1f} ms per M) "
                  "| under 1% |")
    p("")

    # Scrapes.
    p("`/metrics` with one counter of "
      f"{int(scrape['k'].get('series', ['0'])[0]):,} keys (a uprobe on a function called with that many "
      "distinct arguments, `v=%di:u32` as the label), kernel-aggregated against streamed; medians of "
      f"{len(curl['k'])} fresh renders (300 ms apart, past the render cache):")
    p("")
    p("| counter | hist file | hist read ms (guest) | /metrics body | scrape ms, host curl via qemu's forward "
      "| scrape ms, in the guest | daemon CPU ms / scrape (guest's) | daemon CPU ms / scrape (host's) |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, name in (("k", "`aggregate: kernel`, `events: false`"), ("u", "`aggregate: user` (streamed)")):
        s = scrape[kind]
        hist = f"{int(s['hist-bytes'][0]) / 1024:,.0f} KiB" if "hist-bytes" in s else "-"
        hread = f"{med([float(x) for x in s['hist-read-ms']]):.1f}" if "hist-read-ms" in s else "-"
        body = f"{int(s['body-bytes'][0]) / 1024:,.0f} KiB"
        host_ms = med([float(c[0]) * 1e3 for c in curl[kind]])
        guest_ms = med([float(x) for x in s["guest-ms"]])
        # "U0 S0 NS0 U1 S1 NS1": exact ns, and the share of system time
        # from the ticks.
        n_guest = len(s["guest-ms"])
        cpu = []
        for key, n in (("guest-daemon-cpu", n_guest), ("host-daemon-cpu", len(curl[kind]))):
            u0, s0, ns0, u1, s1, ns1 = (int(x) for x in s[key])
            ticks = u1 + s1 - u0 - s0
            cpu.append(f"{(ns1 - ns0) / 1e6 / n:.1f} ({100 * (s1 - s0) / ticks if ticks else 0:.0f}% sys)")
        p(f"| {name} | {hist} | {hread} | {body} | {host_ms:.1f} | {guest_ms:.1f} | {cpu[0]} | {cpu[1]} |")
    p("")

    # The kernel's plan, as the daemon wrote it.
    for c in ("kcomm", "kpid", "kpidf", "keys_k"):
        lines = [x for x in blocks.get(f"check.{c}", []) if "trigger" in x and not x.startswith("#")]
        if lines:
            p(f"Trigger written for {c}: `{lines[0]}`")
            p("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
