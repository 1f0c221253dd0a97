#!/usr/bin/env python3
"""What the attribution labels (cgroup, unit, user_unit, container_id) cost
kprobe-exporter, measured in one run. Started by `sh tests/bench/run.sh
--attrib`, which builds the generator; run by hand, as root; not part of
the test suites. It prints figures and ratios of the same run and asserts
no timing.

A metric with one of these labels makes the daemon enable three more
tracepoints in its instance (attribution-fork, -exit, -attach:
task/task_newtask, sched/sched_process_exit,
cgroup/cgroup_attach_task) and keep a table of each task's cgroup from
their events (seeded from /proc); each counted event looks its task up
there. The generators run in a cgroup of ours, kpe-bench-PID.slice/
demo.service, in the hierarchy the daemon follows (name=systemd on a
legacy or hybrid host, else the unified one), so the labels have a unit to
name.

1. CPU per event. The same number of events, at the same rate, from a
   uprobe on the generator's kpe_bench_leaf, counted by (a) a counter
   labelled [comm], (b) the same counter labelled [comm, unit], (c)
   labelled [comm, unit, container_id, cgroup]. The counts are checked (b
   and c: every event under unit="demo.service", c: under our cgroup's
   path, with an empty container_id). Figure: the daemon's on-CPU time
   (user+sys, to the ns: schedstat) per million events read, from the
   generator's first call until the daemon has read the last event (so it
   includes the fork, exit and attach events of the whole host meanwhile,
   which are counted and shown); setup excluded; median of the repetitions
   (each starts with another of the three).
2. Following forks, host-wide. The daemon with (b)'s config against (a)'s,
   otherwise idle, while a forker (a few lines of C built into the scratch
   dir) in our cgroup forks K short-lived children one after the other
   (each _exit(0)s at once; the parent waits for it). Figures: the
   daemon's CPU per 1,000 forks with attribution on and off (from the
   first fork until the daemon has read the last event), the forks/s
   achieved, the attribution events read (the whole host's),
   kprobe_exporter_attribution_tasks before, right after and 6 s after the
   storm (exited tasks go 5 s of trace time after their exit, on the next
   fork, exit or attach event; we make a few), against what it should hold
   then: the host's live threads plus the tasks that exited in the last
   5 s; and the daemon's RSS.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import (Gen, Proc, Tracefs, uprobe_tracefs, log, machine_busy_secs, metric, on_cleanup,  # noqa: E402
                      perf_summary, proc_runtime_secs, proc_status_kib, run_main, wait_for)
import contenders as C  # noqa: E402
from hist import config, gen_offset, probe, settle  # noqa: E402

GEN_COMM = C.GEN_COMM
UNIT = "demo.service"
ATTR_PROBES = ("attribution-fork", "attribution-exit", "attribution-attach")
KEEP_SECS = 5  # PIPELINE_ATTRIB_KEEP_NS: how long an exited task stays known

# The forker of part 2, built into the scratch dir: "pid P", a line on
# stdin, then K forks, each child leaving at once (_exit) and reaped before
# the next fork. In C: a Python loop forks ten times slower.
FORKER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct timespec a, b;
        char buf[64];
        long k;

        if (argc != 2 || (k = atol(argv[1])) <= 0)
                return 1;
        printf("pid %ld\n", (long) getpid());
        fflush(stdout);
        if (!fgets(buf, sizeof(buf), stdin))
                return 2;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < k; i++) {
                pid_t p = fork();
                if (p < 0)
                        return 2;
                if (p == 0)
                        _exit(0);
                if (waitpid(p, NULL, 0) != p)
                        return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("forked %ld in %.6f s\n", k, (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9);
        return 0;
}
"""


def build_forker(work):
    src, exe = os.path.join(work, "forker.c"), os.path.join(work, "kpe-bench-forker")
    with open(src, "w") as f:
        f.write(FORKER_C)
    subprocess.run(["cc", "-O2", "-std=gnu11", "-Wall", "-o", exe, src], check=True)
    return exe


# ---------------------------------------------------------------- cgroups

def _unoctal(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


class Cgroups:
    """The hierarchy the daemon follows, found the way it finds it (systemd's
    name=systemd one where /proc/self/cgroup has it, else the unified one),
    and the cgroup we make there: kpe-bench-PID.slice/demo.service.
    Only our own processes are moved in; it is removed on exit."""

    def __init__(self):
        self.hid = self.mnt = self.mnt_root = self.own = None
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
        for line in lines:
            i, ctl, path = line.split(":", 2)
            if int(i) > 0 and "name=systemd" in ctl.split(","):
                self.hid, self.own = int(i), path
                break
        if self.hid is None:
            for line in lines:
                if line.startswith("0::"):
                    self.hid, self.own = 0, line[3:]
        if self.hid is None:
            return
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, post = line.rstrip("\n").split(" - ", 1)
                a, b = pre.split(" "), post.split(" ")
                opts = b[2].split(",") if len(b) > 2 else []
                if (self.hid == 0 and b[0] == "cgroup2") or (self.hid > 0 and b[0] == "cgroup" and
                                                             "name=systemd" in opts):
                    self.mnt, self.mnt_root = _unoctal(a[4]), _unoctal(a[3])
                    break
        self.slice_rel = f"/kpe-bench-{os.getpid()}.slice"
        self.rel = f"{self.slice_rel}/{UNIT}"  # the path the kernel's events and the labels give

    def why_not(self):
        if self.hid is None:
            return "no name=systemd or unified cgroup hierarchy in /proc/self/cgroup"
        if not self.mnt:
            return f"cgroup hierarchy {self.hid} is not mounted here"
        if self.mnt_root != "/":
            return f"cgroup hierarchy {self.hid} is mounted from {self.mnt_root}, not from its root"
        if not os.access(os.path.join(self.mnt, "cgroup.procs"), os.W_OK):
            return f"cgroup hierarchy {self.hid} at {self.mnt} is not writable"
        return None

    def what(self):
        name = "name=systemd" if self.hid > 0 else "unified"
        return f"hierarchy {self.hid} ({name}) at {self.mnt}"

    def make(self):
        self.slice_dir = self.mnt + self.slice_rel
        self.dir = self.mnt + self.rel
        os.mkdir(self.slice_dir)
        on_cleanup(f"remove cgroup {self.slice_dir}", self.remove)
        os.mkdir(self.dir)

    def move(self, pid):
        with open(os.path.join(self.dir, "cgroup.procs"), "w") as f:
            f.write(f"{pid}\n")

    def remove(self):
        back = os.path.join(self.mnt + self.own, "cgroup.procs")
        for d in (self.dir, self.slice_dir):
            if not os.path.isdir(d):
                continue
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    # Only our own processes were ever moved here: any left
                    # (exiting still) go back where we are.
                    try:
                        with open(os.path.join(d, "cgroup.procs")) as f:
                            for pid in f.read().split():
                                try:
                                    with open(back, "w") as g:
                                        g.write(pid + "\n")
                                except OSError:
                                    pass
                    except OSError:
                        pass
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"could not rmdir {d}")


# ---------------------------------------------------------------- configs

LABELSETS = (("comm", "[comm]"), ("unit", "[comm, unit]"), ("all", "[comm, unit, container_id, cgroup]"))


def configs(leaf):
    out = {}
    for key, labels in LABELSETS:
        out[key] = config(probe("leaf_in", "uprobe", leaf, metrics=[{
            "name": "leaf_total", "help": "Calls of kpe_bench_leaf.", "labels": labels}]))
    return out


def attr_events(ms):
    return {p: int(metric(ms, "kprobe_exporter_events_total", probe=p)) for p in ATTR_PROBES}


def gauge(ms, name):
    """The value of an unlabelled sample, or None when the daemon has none."""
    s = ms.get(name)
    return int(s[0][1]) if s else None


def live_threads():
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                n += len(os.listdir(f"/proc/{d}/task"))
            except OSError:
                pass
    return n


def start(kpe, cfg, tag, attributed):
    kpe.start_daemon(cfg, tag)
    if attributed:
        # Seeded from /proc once the three tracepoints run.
        if not wait_for(lambda: (gauge(kpe.metrics(), "kprobe_exporter_attribution_tasks") or 0) > 0, 20, 0.1):
            raise RuntimeError("the attribution table stayed empty: " + kpe.p.text("err")[-2000:])


def measured(env, kpe, worker, loads, perf=None):
    """Runs worker (a Gen or a Forker, started and in our cgroup) to its
    end and until the daemon has read everything, optionally under perf
    record. Returns its result and the daemon's CPU, the machine's busy
    time and the clock, before and after."""
    prof = None
    if perf:
        prof = Proc(["perf", "record", "-g", "-F", "2000", "-p", str(kpe.p.pid), "-o", perf], "perf",
                    out=env.out("perf.out"), err=env.out("perf.err"))
        time.sleep(0.5)
    before = proc_runtime_secs(kpe.p.pid), machine_busy_secs(), time.monotonic()
    worker.go()
    result = worker.finish()
    loads.append(os.getloadavg()[0])
    env.tfs.wait_drained(kpe.inst)
    after = proc_runtime_secs(kpe.p.pid), machine_busy_secs(), time.monotonic()
    if prof:
        prof.stop(signal.SIGINT, 30)
    return result, before, after


# ---------------------------------------------------------------- part 1

def cpu_run(env, kpe, cg, key, cfg, tag, events, rate, loads, perf=None):
    attributed = key != "comm"
    start(kpe, cfg, tag, attributed)
    gen = None
    try:
        gen = Gen(env.gen_exe, "leaf", events, rate)
        cg.move(gen.pid)  # before its first event: the attach event comes first
        ms0 = kpe.metrics()
        g, (cpu0, busy0, t0), (cpu1, busy1, t1) = measured(env, kpe, gen, loads, perf)
        st = env.tfs.stats(kpe.inst)
        hwm = proc_status_kib(kpe.p.pid, "VmHWM")
        ms = settle(kpe, ["leaf_in"], events, st["lost"])
    finally:
        if gen:
            gen.kill()
        kpe.p.stop()
    a0, a1 = attr_events(ms0), attr_events(ms)
    right = {"comm": GEN_COMM}
    if attributed:
        right["unit"] = UNIT
    if key == "all":
        right.update(cgroup=cg.rel, container_id="")
    series = ms.get("leaf_total", [])
    return {"cpu": cpu1 - cpu0, "secs": t1 - t0, "events": events, "lost": st["lost"], "gen": g, "hwm_kib": hwm,
            "read": int(metric(ms, "kprobe_exporter_events_total", probe="leaf_in")),
            "counted": int(metric(ms, "leaf_total")), "right": int(metric(ms, "leaf_total", **right)),
            "right_labels": right, "series": [lb for lb, v in series if v],
            "attr_events": {p: a1[p] - a0[p] for p in ATTR_PROBES},
            "unknown": gauge(ms, "kprobe_exporter_cgroup_unknown_total"),
            "from_proc": gauge(ms, "kprobe_exporter_cgroup_from_proc_total"),
            "tasks": gauge(ms, "kprobe_exporter_attribution_tasks"),
            "others": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - g["user"] - g["sys"]) / (t1 - t0)}


def part_cpu(env, kpe, cg, cfgs, args, loads):
    res = {k: [] for k, _ in LABELSETS}
    for rep in range(args.reps):
        # Each repetition starts with another config: a first run of a
        # series (cold caches) or a neighbour's burst weighs on none alone.
        for key, labels in LABELSETS[rep % 3:] + LABELSETS[:rep % 3]:
            r = cpu_run(env, kpe, cg, key, cfgs[key], env.fresh(key), args.events, args.rate, loads)
            res[key].append(r)
            ae = sum(r["attr_events"].values())
            log(f"rep {rep + 1}/{args.reps} {labels}: {r['read']:,} events read, {r['right']:,} under "
                f"{fmt_labels(r['right_labels'])}, kernel lost {r['lost']}, daemon CPU {r['cpu']:.2f} s "
                f"({per_m(r):.3f} s/M events), {ae:,} attribution events read meanwhile, generator "
                f"{r['gen']['n'] / r['gen']['secs']:,.0f} calls/s; other processes {r['others']:.2f} cores")
    return res


# ---------------------------------------------------------------- part 2

class Forker:
    def __init__(self, exe, forks, out):
        self.proc = Proc([exe, str(forks)], "forker", stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, err=out)
        line = self.proc.p.stdout.readline().decode()
        m = re.match(r"pid (\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"forker did not start: {line!r} {self.proc.text('err')[-500:]}")
        self.pid = int(m.group(1))

    def go(self):
        self.proc.p.stdin.write(b"go\n")
        self.proc.p.stdin.flush()

    def finish(self, timeout=600):
        if not self.proc.wait(timeout):
            self.proc.kill()
            raise RuntimeError("forker did not finish")
        out = self.proc.p.stdout.read().decode()
        m = re.search(r"forked (\d+) in ([0-9.]+) s", out)
        if not m or self.proc.exit_code() != 0:
            raise RuntimeError(f"forker failed: {out!r} {self.proc.text('err')[-500:]}")
        ru = self.proc.rusage
        return {"n": int(m.group(1)), "secs": float(m.group(2)), "user": ru.ru_utime, "sys": ru.ru_stime}

    def kill(self):
        self.proc.kill()


def storm_run(env, kpe, cg, key, cfg, tag, forks, loads, perf=None):
    attributed = key != "comm"
    start(kpe, cfg, tag, attributed)
    fk = None
    try:
        time.sleep(1.0)
        ms0 = kpe.metrics()
        rss0 = proc_status_kib(kpe.p.pid, "VmRSS")
        fk = Forker(env.forker_exe, forks, env.out(f"{tag}.forker.err"))
        cg.move(fk.pid)
        f, (cpu0, busy0, t0), (cpu1, busy1, t1) = measured(env, kpe, fk, loads, perf)
        st = env.tfs.stats(kpe.inst)
        ms1 = kpe.metrics()
        rss1 = proc_status_kib(kpe.p.pid, "VmRSS")
        # Exited tasks go KEEP_SECS of trace time after their exit, on the
        # next fork, exit or attach event: wait, then make a few of ours.
        # What the table should hold then: the host's live threads, and the
        # tasks that exited in the last KEEP_SECS (the host's, not ours).
        time.sleep(1)
        ms_w = kpe.metrics()
        time.sleep(KEEP_SECS)
        for _ in range(3):
            subprocess.run(["true"])
        env.tfs.wait_drained(kpe.inst)
        ms2 = kpe.metrics()
        threads = live_threads()
        rss2 = proc_status_kib(kpe.p.pid, "VmRSS")
        hwm = proc_status_kib(kpe.p.pid, "VmHWM")
    finally:
        if fk:
            fk.kill()
        kpe.p.stop()
    a0, a1 = attr_events(ms0), attr_events(ms1)
    recent = attr_events(ms2)["attribution-exit"] - attr_events(ms_w)["attribution-exit"]
    return {"cpu": cpu1 - cpu0, "secs": t1 - t0, "forks": forks, "forker": f, "lost": st["lost"],
            "live_threads": threads, "recent_exits": recent,
            "attr_events": {p: a1[p] - a0[p] for p in ATTR_PROBES},
            "tasks": [gauge(m, "kprobe_exporter_attribution_tasks") for m in (ms0, ms1, ms2)],
            "cgroups": [gauge(m, "kprobe_exporter_attribution_cgroups") for m in (ms0, ms1, ms2)],
            "refused": gauge(ms1, "kprobe_exporter_attribution_refused_total"),
            "bad": gauge(ms1, "kprobe_exporter_attribution_events_bad_total"),
            "rss_kib": [rss0, rss1, rss2], "hwm_kib": hwm,
            "others": max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - f["user"] - f["sys"]) / (t1 - t0)}


def part_storm(env, kpe, cg, cfgs, args, loads):
    res = {"comm": [], "unit": []}
    for rep in range(args.storm_reps):
        for key in (("comm", "unit") if rep % 2 == 0 else ("unit", "comm")):
            r = storm_run(env, kpe, cg, key, cfgs[key], env.fresh("storm_" + key), args.forks, loads)
            res[key].append(r)
            f = r["forker"]
            on = "on" if key == "unit" else "off"
            t = r["tasks"]
            log(f"storm rep {rep + 1}/{args.storm_reps}, attribution {on}: {f['n']:,} forks in {f['secs']:.2f} s "
                f"({fork_rate(r):,.0f}/s), daemon CPU {r['cpu'] * 1000:.0f} ms ({per_kfork_ms(r):.1f} ms / 1,000 "
                f"forks), attribution events read {r['attr_events']}, kernel lost {r['lost']}"
                + (f", tasks {t[0]:,} -> {t[1]:,} -> {t[2]:,}" if t[0] is not None else "")
                + f", RSS {r['rss_kib'][0]} -> {r['rss_kib'][1]} -> {r['rss_kib'][2]} KiB; "
                f"other processes {r['others']:.2f} cores")
    return res


def part_perf(env, kpe, cg, cfgs, args, loads):
    """perf record of the daemon on (a)'s and (b)'s events and on the
    storm with attribution on."""
    if not shutil.which("perf"):
        return {"error": "perf not installed"}
    out = {}
    for key in ("comm", "unit"):
        data = env.out(f"perf-{key}.data")
        cpu_run(env, kpe, cg, key, cfgs[key], env.fresh("perf"), args.events, args.rate, loads, perf=data)
        out[key] = perf_summary(data)
    data = env.out("perf-storm.data")
    storm_run(env, kpe, cg, "unit", cfgs["unit"], env.fresh("perfstorm"), args.forks, loads, perf=data)
    out["storm"] = perf_summary(data)
    return out


# ---------------------------------------------------------------- output

def fmt_labels(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


def per_m(r):
    return r["cpu"] * 1e6 / max(r["read"], 1)


def per_kfork_ms(r):
    return r["cpu"] * 1e6 / max(r["forks"], 1)


def fork_rate(r):
    return r["forker"]["n"] / r["forker"]["secs"]


def med(rs, f):
    return statistics.median(f(r) for r in rs)


def spread(rs, f, fmt):
    vals = sorted(f(r) for r in rs)
    return fmt.format(vals[0]) if len(vals) == 1 else "–".join(fmt.format(v) for v in (vals[0], vals[-1]))


def print_report(args, cg, cpu, storm, perf, started, load0, load1, loads, secs):
    print()
    print(f"## kprobe-exporter attribution benchmark, {started}")
    print()
    ld = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "-"
    o = sorted(r["others"] for part in (cpu or {}, storm or {}) for rs in part.values() for r in rs)
    others = (f" Other processes (not the daemon, not the generator or forker) kept {statistics.median(o):.2f} cores "
              f"busy during the runs (median; {o[0]:.2f} to {o[-1]:.2f}).") if o else ""
    print(f"Machine: {os.cpu_count()} cores, kernel {platform.release()}; load average {load0[0]:.2f} at the start, "
          f"{ld} during, {load1[0]:.2f} at the end; run took {secs:.0f} s.{others} Cgroup {cg.what()}; the "
          f"generators ran in {cg.rel}. CPU: {args.events:,} events per run at {args.rate:,} events/s"
          + (" (full speed)" if not args.rate else "") +
          f", median of {args.reps} runs each; fork storm: {args.forks:,} forks, median of {args.storm_reps} runs "
          "each (the daemon's on-CPU time, user+sys, from /proc/PID/task/*/schedstat; setup excluded).")
    print()
    rows = []
    if cpu:
        base = med(cpu["comm"], per_m)
        for (key, labels), what in zip(LABELSETS, ("(a)", "(b)", "(c)")):
            rs = cpu[key]
            ae = statistics.median(sum(r["attr_events"].values()) for r in rs)
            work = f"uprobe, {rs[0]['events']:,} events" + (
                f"; {ae:,.0f} attribution events read meanwhile (median)" if key != "comm" else "")
            rows.append([f"CPU s / M events read: {what} {labels}", work,
                         f"{med(rs, per_m):.3f} ({spread(rs, per_m, '{:.3f}')})", f"{med(rs, per_m) / base:.2f}x"])
    if storm:
        off, on = storm["comm"], storm["unit"]
        for rs, name in ((off, "off, [comm]"), (on, "on, [comm, unit]")):
            ae = statistics.median(sum(r["attr_events"].values()) for r in rs)
            rows.append([f"daemon CPU ms / 1,000 forks: attribution {name}",
                         f"{args.forks:,} forks at {med(rs, fork_rate):,.0f}/s (median); "
                         f"{ae:,.0f} attribution events read (median)",
                         f"{med(rs, per_kfork_ms):.2f} ({spread(rs, per_kfork_ms, '{:.2f}')})",
                         f"+{med(on, per_kfork_ms) - med(off, per_kfork_ms):.2f} ms" if rs is on else "-"])
        t = [statistics.median(r["tasks"][i] for r in on) for i in range(3)]
        live = statistics.median(r["live_threads"] for r in on)
        recent = statistics.median(r["recent_exits"] for r in on)
        rows.append(["kprobe_exporter_attribution_tasks", "before the storm / right after it / "
                     f"{KEEP_SECS + 1} s later (after a fork of ours); medians",
                     f"{t[0]:,.0f} / {t[1]:,.0f} / {t[2]:,.0f}",
                     f"later: {t[2] / max(live + recent, 1):.2f}x the host's {live:,.0f} live threads + "
                     f"{recent:,.0f} exits read in the last {KEEP_SECS} s"])
        for rs, name in ((off, "off"), (on, "on")):
            rk = [statistics.median(r["rss_kib"][i] for r in rs) / 1024 for i in range(3)]
            hw = statistics.median(r["hwm_kib"] for r in rs) / 1024
            rows.append([f"RSS MiB: attribution {name}", "before the storm / right after / "
                         f"{KEEP_SECS + 1} s later; peak", f"{rk[0]:.1f} / {rk[1]:.1f} / {rk[2]:.1f}; peak {hw:.1f}",
                         f"{rk[1] - rk[0]:+.1f} MiB"])
    print("| measurement | work | figure | ratio |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if cpu:
        a, b, c = (med(cpu[k], per_m) for k, _ in LABELSETS)
        print(f"- [comm, unit] against [comm] (target at most 1.2x): {b / a:.2f}x per event read; "
              f"[comm, unit, container_id, cgroup]: {c / a:.2f}x.")
        for key, labels in LABELSETS:
            rs = cpu[key]
            bad = [f"rep {i + 1}: read {r['read']:,}/{r['events']:,}, under {fmt_labels(r['right_labels'])} "
                   f"{r['right']:,}, series {r['series']}, kernel lost {r['lost']}, unknown {r['unknown']}"
                   for i, r in enumerate(rs)
                   if r["read"] != r["events"] or r["right"] != r["events"] or r["counted"] != r["events"] or
                   r["lost"] or (r["unknown"] or 0) or len(r["series"]) != 1]
            rates = [r["gen"]["n"] / r["gen"]["secs"] for r in rs]
            slow = [f"{x:,.0f}" for x in rates if args.rate and x < 0.9 * args.rate]
            sys_m = statistics.median(r["gen"]["sys"] * 1e6 / r["events"] for r in rs)
            attr = ""
            if key != "comm":
                ae = {p: statistics.median(r["attr_events"][p] for r in rs) for p in ATTR_PROBES}
                attr = (" attribution events read during a run (median): " +
                        ", ".join(f"{p.split('-')[1]} {v:,.0f}" for p, v in ae.items()) +
                        f"; tasks in the table {statistics.median(r['tasks'] for r in rs):,.0f}, from /proc "
                        f"{max(r['from_proc'] for r in rs)}, unknown {max(r['unknown'] for r in rs)};")
            print(f"- {labels}: generator {statistics.median(rates):,.0f} events/s"
                  + (f" (below the rate asked in {len(slow)} run(s): {', '.join(slow)})" if slow else "")
                  + f", its sys time {sys_m:.1f} s / M events; daemon CPU s per run: "
                  + ", ".join(f"{r['cpu']:.2f}" for r in rs) + ";" + attr + " "
                  + ("; ".join(bad) if bad else f"every event read and counted under "
                     f"{fmt_labels(rs[0]['right_labels'])}, one series, none lost"))
    if storm:
        off, on = storm["comm"], storm["unit"]
        sys_off = med(off, lambda r: r["forker"]["sys"] * 1e6 / r["forks"])
        sys_on = med(on, lambda r: r["forker"]["sys"] * 1e6 / r["forks"])
        print(f"- Fork storm: {med(off, fork_rate):,.0f} forks/s with attribution off, {med(on, fork_rate):,.0f}/s "
              f"on ({med(on, fork_rate) / med(off, fork_rate):.2f}x); the forker's sys time {sys_off:.1f} and "
              f"{sys_on:.1f} µs per fork (on: with the two tracepoints writing into our buffer). Daemon "
              f"CPU ms per run, off: " + ", ".join(f"{r['cpu'] * 1000:.0f}" for r in off) + "; on: "
              + ", ".join(f"{r['cpu'] * 1000:.0f}" for r in on) + ".")
        for i, r in enumerate(on):
            ae = r["attr_events"]
            print(f"- Storm rep {i + 1}, attribution on: events read fork {ae['attribution-fork']:,}, exit "
                  f"{ae['attribution-exit']:,}, attach {ae['attribution-attach']:,} (the host's, not only the "
                  f"forker's {r['forks']:,}); kernel lost {r['lost']}, refused {r['refused']}, bad {r['bad']}; "
                  f"tasks {r['tasks'][0]:,} -> {r['tasks'][1]:,} -> {r['tasks'][2]:,} (then: {r['live_threads']:,} "
                  f"live threads on the host, {r['recent_exits']:,} exits read in the last {KEEP_SECS} s), cgroups "
                  f"{r['cgroups'][0]} -> {r['cgroups'][1]} -> {r['cgroups'][2]}; daemon CPU "
                  f"{r['cpu'] * 1e6 / max(sum(ae.values()), 1):.2f} µs per attribution event.")
    if perf:
        if "error" in perf:
            print(f"- perf: {perf['error']}")
        for name, what in (("comm", "[comm]"), ("unit", "[comm, unit]"), ("storm", "the fork storm, attribution on")):
            if name in perf:
                print(f"- perf record of the daemon on {what} (self time, >1.5%):")
                print("```")
                print(perf[name])
                print("```")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200k events, 1 repetition, 10,000 forks (about a minute)")
    ap.add_argument("--events", type=int, help="events per CPU run (default 600,000; quick 200,000)")
    ap.add_argument("--rate", type=int, default=50000,
                    help="events per second in the CPU runs, the same for every config (0: full speed); "
                         "default 50,000")
    ap.add_argument("--reps", type=int, help="repetitions of the CPU runs (default 3; quick 1)")
    ap.add_argument("--forks", type=int, help="forks per storm (default 20,000; quick 10,000)")
    ap.add_argument("--storm-reps", type=int, help="repetitions of the storm runs (default 2; quick 1)")
    ap.add_argument("--parts", default="cpu,storm", help="comma list of: cpu, storm")
    ap.add_argument("--perf", action="store_true", help="also profile the daemon on [comm], [comm, unit] and the storm")
    ap.add_argument("--kpe", required=True, help="the kprobe-exporter binary")
    ap.add_argument("--gen", required=True)
    ap.add_argument("--json", help="also write all results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the scratch dir (configs, daemon logs)")
    args = ap.parse_args()
    q = args.quick
    args.events = args.events or (200_000 if q else 600_000)
    args.reps = args.reps or (1 if q else 3)
    args.forks = args.forks or (10_000 if q else 20_000)
    args.storm_reps = args.storm_reps or (1 if q else 2)
    parts = set(args.parts.split(","))

    root, why = uprobe_tracefs()
    if not root:
        print(f"SKIP: {why}")
        return 77
    for ev in ("task/task_newtask", "sched/sched_process_exit", "cgroup/cgroup_attach_task"):
        if not os.path.isdir(os.path.join(root, "events", ev)):
            print(f"SKIP: no tracepoint {ev}")
            return 77
    cg = Cgroups()
    why = cg.why_not()
    if why:
        print(f"SKIP: {why}")
        return 77
    tfs = Tracefs(root)
    work = tempfile.mkdtemp(prefix="kpe-bench-attrib.")
    gen = os.path.abspath(args.gen)
    env = C.Env(tfs, gen, gen, os.path.abspath(args.kpe), work, f"kpe_bench_attr{os.getpid()}")
    cfgs = configs(f"{gen}:{gen_offset(gen, 'leaf')}")
    kpe = C.Kpe(env)
    kpe.inst = f"kpe_bench_attr_{os.getpid()}"  # our tracefs instance and probe group
    env.forker_exe = build_forker(work)
    cg.make()

    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    log(f"{started}; {os.cpu_count()} cores; kernel {platform.release()}; load average {load0[0]:.2f}; "
        f"tracefs {root}; instance {kpe.inst}; cgroup {cg.what()}, ours {cg.rel}; kprobe-exporter {args.kpe}")
    if load0[0] > 0.5:
        log("WARNING: the machine is not idle (load average above 0.5): other processes compete for the cores")
    loads = []
    cpu = storm = perf = None
    if "cpu" in parts:
        cpu = part_cpu(env, kpe, cg, cfgs, args, loads)
    if "storm" in parts:
        storm = part_storm(env, kpe, cg, cfgs, args, loads)
    if args.perf:
        perf = part_perf(env, kpe, cg, cfgs, args, loads)
    load1 = os.getloadavg()
    print_report(args, cg, cpu, storm, perf, started, load0, load1, loads, time.monotonic() - t0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"started": started, "cores": os.cpu_count(), "kernel": platform.release(),
                       "load": [load0, loads, load1], "args": vars(args),
                       "cgroup": {"hierarchy": cg.hid, "mount": cg.mnt, "path": cg.rel},
                       "cpu": cpu, "storm": storm, "perf": perf}, f, indent=1, default=str)
    if args.keep:
        log(f"scratch dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
