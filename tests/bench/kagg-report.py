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
    "streamp": "kprobe-exporter streaming the kpid metric (`aggregate: user`)",
    "bpftrace": "bpftrace, `@[comm] = count()`",
}
ORDER = ["base", "kcomm", "kpid", "kpidf", "stream", "streamp", "bpftrace"]


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
    ap.add_argument("--clock", default="real", choices=("icount", "real"))
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
        """Per M calls, one value a round: stime, utime, wall, cpu (the
        tracer's), ticks (the tracer's), or loopcpu (utime + stime)."""
        vals = []
        for r in sorted(runs[mode]):
            run = runs[mode][r]
            v = run["utime"] + run["stime"] if key == "loopcpu" else run[key]
            vals.append(per_m(v, run["calls"]))
        return vals

    # Two estimates of each figure: the least of the rounds (the host's other
    # load only ever adds time to an emulated guest, so the least is the
    # least disturbed) and, in brackets, the median.
    def extra(mode, key):
        """Above the baseline: least minus least, and the median of the
        rounds' differences to their own baseline."""
        diffs = [a - b for a, b in zip(col(mode, key), col("base", key))]
        return min(col(mode, key)) - min(col("base", key)), med(diffs)

    def two(pair, fmt="{:.3f}"):
        return f"{fmt.format(pair[0])} ({fmt.format(pair[1])})"

    def stat(mode, key):
        return min(col(mode, key)), med(col(mode, key))

    out = []
    p = out.append
    p(f"Run {a.started} with `{a.command}`: a Debian 13 guest (kernel {kernel}, x86-64, 1 vCPU, "
      f"{int(facts.get('mem-kib', ['0'])[0]) // 1024} MiB) under qemu TCG (software emulation, no KVM) "
      f"on this project's machine ({a.host}); {a.seconds} s in all. "
      + ("The guest's clock counts instructions (qemu -icount shift=0): every time measured in the guest "
         "is a count of guest instructions, 1 ns each (1 s per M calls = 1,000 instructions a call), the "
         "same whatever else the host runs; the host's curl is timed by the host's clock. "
         if a.clock == "icount" else "The guest's clock is the host's (qemu's default). ") +
      f"{calls:,} getppid() calls per run (at nice 19, so that a streaming daemon on the one vCPU runs "
      f"when woken), {len(rounds)} rounds of all modes; "
      "every run's count checked equal to the calls (the metric, the hist file's Hits with Dropped 0, "
      "bpftrace's map).")
    p("")
    p("Traced process (a tight getppid() loop, kprobe on `__x64_sys_getppid`), seconds per million calls, "
      "the least of the rounds (median in brackets). \"Loop CPU\" is its user+sys time (getrusage around "
      "the loop: the scheduler's exact run time); \"sys\" the system part of it, which the kernel splits "
      "off by sampling at its 250 Hz tick; \"extra\" is above the baseline. \"Tracer CPU\" is the daemon's "
      "(or bpftrace's) utime+stime over the loop, for a streaming daemon until it has read every event "
      "(scheduler ns):")
    p("")
    p("| mode | loop CPU | extra CPU | loop sys | extra sys | loop wall | tracer CPU | counted |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in modes:
        base = m == "base"
        counted = sum(runs[m][r]["count"] for r in runs[m])
        want = sum(runs[m][r]["calls"] for r in runs[m])
        p(f"| {LABELS.get(m, m)} | {two(stat(m, 'loopcpu'))} | "
          f"{'-' if base else two(extra(m, 'loopcpu'), '{:+.3f}')} | {two(stat(m, 'stime'))} | "
          f"{'-' if base else two(extra(m, 'stime'), '{:+.3f}')} | {two(stat(m, 'wall'))} | "
          f"{'-' if base else two(stat(m, 'cpu'), '{:.4f}')} | {counted:,} of {want:,} |")
    p("")

    def ratio(x, y):
        return x / y if y else float("inf")

    p("Against the targets: the traced process's extra time over the baseline (least of the rounds; "
      "median of the rounds' own in brackets), and the daemon's CPU over the loop:")
    p("")
    p("| comparison | extra sys | extra CPU (user+sys) | target |")
    p("| --- | --- | --- | --- |")

    def ratios(m, other, key):
        em, eo = extra(m, key), extra(other, key)
        return (f"{ratio(em[0], eo[0]):.2f}x ({ratio(em[1], eo[1]):.2f}x); "
                f"{em[0]:.3f} / {eo[0]:.3f} s per M")

    # Each kernel mode against bpftrace, and against streaming the same
    # metric.
    pairs = [(m, "bpftrace", "at most 1.5x") for m in ("kcomm", "kpid", "kpidf")]
    pairs += [("kcomm", "stream", "-"), ("kpid", "streamp", "-")]
    for m, other, target in pairs:
        if m in runs and other in runs:
            p(f"| {m} / {other} | {ratios(m, other, 'stime')} | {ratios(m, other, 'loopcpu')} | {target} |")
    p("")
    p("| comparison | daemon CPU over the loop (least; median) | target |")
    p("| --- | --- | --- |")
    for m, s in (("kcomm", "stream"), ("kpid", "streamp")):
        if m in runs and s in runs:
            km, sm = stat(m, "cpu"), stat(s, "cpu")
            p(f"| {m} / {s} | {100 * ratio(km[0], sm[0]):.3f}%; {100 * ratio(km[1], sm[1]):.3f}% "
              f"({km[1] * 1e3:.2f} / {sm[1] * 1e3:.1f} ms per M) | under 1% |")
    p("")

    # Scrapes.
    p("`/metrics` with one counter of "
      f"{int(scrape['k'].get('series', ['0'])[0]):,} keys (a uprobe on a function called with that many "
      "distinct arguments, `v=%di:u32` as the label), kernel-aggregated against streamed: "
      f"{len(curl['k'])} fresh renders each way (300 ms apart, past the render cache), median (least); "
      "the daemon's CPU per scrape from its schedstat, its system share from its ticks:")
    p("")
    p("| counter | hist file | hist read ms (guest) | /metrics body | scrape ms, host curl via qemu's forward "
      "| scrape ms, in the guest | daemon CPU ms / scrape (guest's) | daemon CPU ms / scrape (host's) |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, name in (("k", "`aggregate: kernel`, `events: false`"), ("u", "`aggregate: user` (streamed)")):
        s = scrape[kind]
        hist = f"{int(s['hist-bytes'][0]) / 1024:,.0f} KiB" if "hist-bytes" in s else "-"
        def ms(xs):
            return f"{med(xs):.1f} ({min(xs):.1f})"
        hread = ms([float(x) for x in s["hist-read-ms"]]) if "hist-read-ms" in s else "-"
        body = f"{int(s['body-bytes'][0]) / 1024:,.0f} KiB"
        host_ms = ms([float(c[0]) * 1e3 for c in curl[kind]])
        guest_ms = ms([float(x) for x in s["guest-ms"]])
        # "U0 S0 NS0 U1 S1 NS1": exact ns, and the share of system time
        # from the ticks.
        n_guest = len(s["guest-ms"])
        cpu = []
        for key, n in (("guest-daemon-cpu", n_guest), ("host-daemon-cpu", len(curl[kind]))):
            u0, s0, ns0, u1, s1, ns1 = (int(x) for x in s[key])
            ticks = u1 + s1 - u0 - s0
            cpu.append(f"{(ns1 - ns0) / 1e6 / n:.1f} ({100 * (s1 - s0) / ticks if ticks else 0:.0f}% sys)")
        p(f"| {name} | {hist} | {hread} | {body} | {host_ms} | {guest_ms} | {cpu[0]} | {cpu[1]} |")
    p("")
    shows = scrape["k"].get("hist-shows-per-read", ["-", "-"])
    if shows[0] != "-":
        p(f"One read of the {int(scrape['k']['hist-bytes'][0]) / 1024:,.0f} KiB hist file made the kernel "
          f"allocate {shows[0]} seq_file buffers, 4 KiB doubling up to {int(shows[1]) // 1024:,} KiB: the file is "
          f"printed whole by one show(), run again from the start each time the buffer proves too small, "
          f"so its {int(scrape['k']['series'][0]):,} entries were sorted and printed {shows[0]} times.")
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
