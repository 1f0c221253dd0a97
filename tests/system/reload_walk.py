#!/usr/bin/env python3
"""A seeded random walk over config reloads (test-reload-walk.sh runs it).

  reload_walk.py init      writes the walk's first config to $KPE_CONFIG
  reload_walk.py walk      runs the walk against the daemon $KPE_PID

Both derive everything from $KPE_WALK_SEED, so a seed replays the same walk.
Each step changes one thing in the config (or nothing), writes it, sends
SIGHUP while a generator floods events whose label sets are new, waits for
the reload, makes a known batch of events and checks what the daemon and the
kernel hold against a model of the config. See test-reload-walk.sh for the
invariants; every violation is printed as "FAIL: step N (kind): ...".

Environment: KPE_WALK_SEED, KPE_WALK_STEPS, KPE_CONFIG, KPE_PID, KPE_PORT,
KPE_NAME, TRACEFS, KPE_CONNECTOR, KPE_OFF, KPE_REG, KPE_ERR, KPE_WORK,
KPE_TP (1: the tracepoint sock/inet_sock_set_state exists), KPE_WRAPPER
(set: the daemon runs under valgrind, so everything is smaller and slower).
"""

import copy
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request

ENV = os.environ
SEED = int(ENV["KPE_WALK_SEED"])
SLOW = bool(ENV.get("KPE_WRAPPER"))
CONFIG = ENV["KPE_CONFIG"]
NAME = ENV.get("KPE_NAME", "")
CONN = ENV["KPE_CONNECTOR"]
OFF = ENV["KPE_OFF"]
REG = ENV["KPE_REG"]
HAVE_TP = ENV.get("KPE_TP") == "1"

MAX_SERIES = 2000
RECENT = [50, 200, 1000, 4096]
# Fetch variants of the uprobes: (field, fetcharg) in order.
FETCHES = [
    [("port", "+2({r}):u16")],
    [("port", "+2({r}):u16"), ("addr", "+4({r}):u32")],
    [("family", "+0({r}):u16"), ("port", "+2({r}):u16")],
    [("family", "+0({r}):u16"), ("port", "+2({r}):u16"), ("addr", "+4({r}):u32")],
]
# Every filter lets every generated call through (ports are never 0, the
# family is AF_INET): a probe counts every call, so counts are known.
UFILTERS = [None, "port != 0", "port > 0", "family == 2"]
DECODERS = {"port": ["ntohs", "hex"], "addr": ["ipv4", "hex"], "family": ["hex", "map"], "dport": ["hex"]}
U_EXTRA_LABELS = ["comm", "pid", "cpu"]
# The tracepoint counts only connects to this range of ports, so the
# walk's own HTTP connections never count.
TP_LO, TP_HI = 1000, 2000
TP_TARGET = "sock/inet_sock_set_state"
TFILTERS = [f"newstate == 2 && dport >= {TP_LO} && dport < {TP_HI}",
            f"dport >= {TP_LO} && dport < {TP_HI} && newstate == 2"]
TP_FIELDS = ["dport", "daddr", "family", "protocol"]
T_EXTRA_LABELS = ["pid", "cpu"]
UPROBE_SLOTS = ["u0", "u1", "u2", "u3", "u4"]
TP_NAME = "tcp"

SCALE = 5 if SLOW else 1  # timeouts


def log(msg):
    print(f"# {msg}", flush=True)


# ---- the model: a config is a dict; render() writes it -----------------

def fields_of(p):
    if p["kind"] == "uprobe":
        return [f for f, _ in FETCHES[p["fetch"]]]
    return list(TP_FIELDS)


def label_pool(p):
    return fields_of(p) + (U_EXTRA_LABELS if p["kind"] == "uprobe" else T_EXTRA_LABELS)


def random_labels(rng, p, avoid=None):
    pool = label_pool(p)
    for _ in range(20):
        labels = rng.sample(pool, rng.randint(1, min(3, len(pool))))
        if labels != avoid:
            return labels
    return [l for l in pool if [l] != avoid][:1]


def random_decoders(rng, p):
    dec = {}
    for f in fields_of(p):
        if f in DECODERS and rng.random() < 0.5:
            dec[f] = rng.choice(DECODERS[f])
    return dec


def new_probe(rng, name):
    if name == TP_NAME:
        p = {"name": name, "kind": "tracepoint", "fetch": None, "filter": rng.choice(TFILTERS)}
    else:
        p = {"name": name, "kind": "uprobe", "fetch": rng.randrange(len(FETCHES)), "filter": None}
        p["filter"] = rng.choice(valid_ufilters(p))
    p["decode"] = random_decoders(rng, p)
    p["metrics"] = [{"name": f"{name}_a_total", "labels": random_labels(rng, p)}]
    if rng.random() < 0.4:
        p["metrics"].append({"name": f"{name}_b_total", "labels": random_labels(rng, p)})
    return p


def valid_ufilters(p):
    return [f for f in UFILTERS if f is None or f.split()[0] in fields_of(p)]


def kernel_args(p):
    """The fetch args the daemon writes: the config's, plus $comm when a
    metric is labelled by comm."""
    args = [f"{f}={a.format(r=REG)}" for f, a in FETCHES[p["fetch"]]]
    if any("comm" in m["labels"] for m in p["metrics"]):
        args.append("comm=$comm:string")
    return args


def kernel_key(p):
    """What the kernel holds of a probe: a reload keeps the probe (and its
    event count) when this is unchanged."""
    if p["kind"] == "uprobe":
        return (p["name"], p["kind"], tuple(kernel_args(p)), p["filter"])
    return (p["name"], p["kind"], TP_TARGET, p["filter"])


def definition(p):
    if p["kind"] != "uprobe":
        return None
    return f"p:{NAME}/{p['name']} {CONN}:{OFF} " + " ".join(kernel_args(p))


def kernel_line(p):
    return f"p:{NAME}/{p['name']} {CONN}:0x{int(OFF, 16):016x} " + " ".join(kernel_args(p))


def render_decoder(d):
    return "{map: {2: AF_INET}}" if d == "map" else d


def render(cfg):
    out = [f"recent_events: {cfg['recent']}", f"max_series: {MAX_SERIES}", "probes:"]
    for p in cfg["probes"]:
        out.append(f"  - name: {p['name']}")
        out.append(f"    type: {p['kind']}")
        if p["kind"] == "uprobe":
            out.append(f"    target: {CONN}:{OFF}")
            out.append("    fetch: [" + ", ".join(f"{f}={a.format(r=REG)}" for f, a in FETCHES[p["fetch"]]) + "]")
        else:
            out.append(f"    target: {TP_TARGET}")
        if p["filter"]:
            out.append(f'    filter: "{p["filter"]}"')
        if p["decode"]:
            out.append("    decode: {" + ", ".join(f"{k}: {render_decoder(v)}" for k, v in p["decode"].items()) + "}")
        out.append("    metrics:")
        for m in p["metrics"]:
            out.append(f"      - name: {m['name']}")
            out.append("        help: A metric of the reload walk.")
            out.append("        labels: [" + ", ".join(m["labels"]) + "]")
    return "\n".join(out) + "\n"


def write_config(text):
    tmp = CONFIG + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, CONFIG)  # the daemon never reads half a file


def initial_config(rng):
    names = rng.sample(UPROBE_SLOTS, rng.randint(2, 3))
    probes = [new_probe(rng, n) for n in names]
    if HAVE_TP:
        probes.append(new_probe(rng, TP_NAME))
    rng.shuffle(probes)
    return {"recent": rng.choice(RECENT), "probes": probes}


def probe_map(cfg):
    return {p["name"]: p for p in cfg["probes"]}


def metric_kept(op, np_, om, nm):
    """A metric keeps its counters when its probe stays in the kernel and its
    name, labels and the decoders of those labels are unchanged (help is
    the walk's constant)."""
    return (kernel_key(op) == kernel_key(np_) and om["name"] == nm["name"] and om["labels"] == nm["labels"]
            and all(op["decode"].get(l) == np_["decode"].get(l) for l in nm["labels"]))


# ---- mutations: each returns (kind, new config) or None if impossible ---

def mutate(rng, cfg, kind):
    c = copy.deepcopy(cfg)
    probes = probe_map(c)
    uprobes = [p for p in c["probes"] if p["kind"] == "uprobe"]
    if kind == "unchanged":
        return c
    if kind == "reorder":
        if len(c["probes"]) < 2:
            return None
        before = [p["name"] for p in c["probes"]]
        for _ in range(10):
            rng.shuffle(c["probes"])
            if [p["name"] for p in c["probes"]] != before:
                return c
        return None
    if kind == "add":
        free = [n for n in UPROBE_SLOTS if n not in probes] + ([TP_NAME] if HAVE_TP and TP_NAME not in probes else [])
        if not free:
            return None
        c["probes"].insert(rng.randint(0, len(c["probes"])), new_probe(rng, rng.choice(free)))
        return c
    if kind == "remove":
        # At least one uprobe stays.
        cands = [p for p in c["probes"] if p["kind"] != "uprobe" or len(uprobes) > 1]
        if not cands:
            return None
        c["probes"].remove(rng.choice(cands))
        return c
    if kind == "fetch":
        if not uprobes:
            return None
        p = rng.choice(uprobes)
        p["fetch"] = rng.choice([i for i in range(len(FETCHES)) if i != p["fetch"]])
        fields = fields_of(p)
        if p["filter"] not in valid_ufilters(p):
            p["filter"] = rng.choice(valid_ufilters(p))
        p["decode"] = {k: v for k, v in p["decode"].items() if k in fields}
        for m in p["metrics"]:
            m["labels"] = [l for l in m["labels"] if l in label_pool(p)] or [rng.choice(label_pool(p))]
        return c
    if kind == "filter":
        p = rng.choice(c["probes"])
        choices = valid_ufilters(p) if p["kind"] == "uprobe" else TFILTERS
        others = [f for f in choices if f != p["filter"]]
        p["filter"] = rng.choice(others)
        return c
    if kind == "labels":
        p = rng.choice(c["probes"])
        r = rng.random()
        if r < 0.25 and len(p["metrics"]) == 1:
            other = "b" if p["metrics"][0]["name"].endswith("_a_total") else "a"
            p["metrics"].append({"name": f"{p['name']}_{other}_total", "labels": random_labels(rng, p)})
        elif r < 0.4 and len(p["metrics"]) == 2:
            p["metrics"].pop(rng.randrange(2))
        else:
            m = rng.choice(p["metrics"])
            m["labels"] = random_labels(rng, p, avoid=m["labels"])
        return c
    if kind == "decoders":
        cands = [p for p in c["probes"] if any(f in DECODERS for f in fields_of(p))]
        if not cands:
            return None
        p = rng.choice(cands)
        f = rng.choice([f for f in fields_of(p) if f in DECODERS])
        options = [d for d in DECODERS[f] + [None] if d != p["decode"].get(f)]
        d = rng.choice(options)
        if d is None:
            p["decode"].pop(f, None)
        else:
            p["decode"][f] = d
        return c
    if kind == "recent_events":
        c["recent"] = rng.choice([r for r in RECENT if r != c["recent"]])
        return c
    raise ValueError(kind)


KINDS = [("unchanged", 6), ("reorder", 1), ("add", 3), ("remove", 3), ("fetch", 2), ("filter", 2),
         ("labels", 3), ("decoders", 2), ("recent_events", 2), ("invalid", 1)]


def pick_kind(rng):
    total = sum(w for _, w in KINDS)
    x = rng.uniform(0, total)
    for k, w in KINDS:
        x -= w
        if x <= 0:
            return k
    return KINDS[-1][0]


# ---- talking to the daemon and the kernel -------------------------------

class Daemon:
    def __init__(self):
        self.pid = int(ENV["KPE_PID"])
        self.base = f"http://127.0.0.1:{ENV['KPE_PORT']}"
        self.err = ENV["KPE_ERR"]
        self.tracefs = ENV["TRACEFS"]

    def alive(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            return state != "Z"
        except OSError:
            return False

    def get(self, path, timeout=10):
        with urllib.request.urlopen(self.base + path, timeout=timeout * SCALE) as r:
            return r.read().decode("utf-8")

    def metrics(self):
        return parse_metrics(self.get("/metrics"))

    def probes(self):
        return json.loads(self.get("/probes"))["probes"]

    def log_count(self, regex):
        r = re.compile(regex)
        with open(self.err, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if r.search(line))

    def last_log(self, regex):
        r = re.compile(regex)
        last = None
        with open(self.err, encoding="utf-8", errors="replace") as f:
            for line in f:
                if r.search(line):
                    last = line.rstrip("\n")
        return last

    def kernel_lines(self):
        with open(os.path.join(self.tracefs, "uprobe_events")) as f:
            return sorted(l.rstrip("\n") for l in f if l.startswith(f"p:{NAME}/"))

    def enabled_events(self):
        base = os.path.join(self.tracefs, "instances", NAME, "events")
        on = []
        for path in glob.glob(os.path.join(base, "*", "*", "enable")):
            try:
                with open(path) as f:
                    v = f.read().strip()
            except OSError:
                continue
            if v == "1":
                on.append(os.path.relpath(os.path.dirname(path), base))
        return sorted(on)

    def filter_of(self, event):
        path = os.path.join(self.tracefs, "instances", NAME, "events", event, "filter")
        with open(path) as f:
            return f.read().strip()


LINE_RE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = LINE_RE.match(line)
        if not m:
            raise ValueError(f"unparsable metrics line: {line}")
        labels, rest = [], m.group(3) or ""
        while rest:
            lm = LABEL_RE.match(rest)
            if not lm:
                raise ValueError(f"unparsable labels: {line}")
            labels.append((lm.group(1), lm.group(2)))
            rest = rest[lm.end():]
        v = float(m.group(4))
        out.setdefault(m.group(1), {})[frozenset(labels)] = int(v) if v.is_integer() else v
    return out


def mval(ms, name, **labels):
    return ms.get(name, {}).get(frozenset(labels.items()))


def msum(ms, name):
    return sum(ms.get(name, {}).values())


def lost(ms):
    return (msum(ms, "kprobe_exporter_lost_events_total") + msum(ms, "kprobe_exporter_ring_buffer_overrun_total")
            + msum(ms, "kprobe_exporter_ring_buffer_dropped_events_total"))


class Follower:
    """curl -sN /events?follow=1 into a file, parsed as it grows."""

    def __init__(self, daemon, work):
        self.daemon, self.work = daemon, work
        self.n = 0
        self.proc = None
        self.last_seq = None
        self.pending_missed = 0
        self.events = 0
        self.missed_lines = 0
        self.problems = []
        self.start()

    def start(self, since=None):
        self.n += 1
        self.path = os.path.join(self.work, f"walk-follow.{self.n}.ndjson")
        self.offset = 0
        self.partial = ""
        url = self.daemon.base + "/events?follow=1" + (f"&since={since}" if since is not None else "")
        self.out = open(self.path, "wb")
        self.proc = subprocess.Popen(["curl", "-sN", url], stdout=self.out, stderr=subprocess.DEVNULL)

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        text = self.partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self.partial = lines.pop()
        for line in lines:
            if not line:
                continue
            try:
                o = json.loads(line)
            except ValueError:
                self.problems.append(f"follower: a line that is not JSON: {line[:200]}")
                continue
            if "seq" in o:
                s = o["seq"]
                if self.last_seq is not None:
                    if s <= self.last_seq:
                        self.problems.append(f"follower: seq {s} after seq {self.last_seq}: not increasing")
                    elif s - self.last_seq - 1 != self.pending_missed:
                        self.problems.append(
                            f"follower: seq {s} after seq {self.last_seq}: a gap of {s - self.last_seq - 1}, "
                            f"but the missed lines since then say {self.pending_missed}")
                self.last_seq = s
                self.pending_missed = 0
                self.events += 1
            elif set(o) == {"missed"}:
                self.pending_missed += o["missed"]
                self.missed_lines += 1
            else:
                self.problems.append(f"follower: unexpected line {line[:200]}")

    def check_running(self):
        """A follow stream must not end; if it did, it is a failure, and a
        new one starts from the last seq seen."""
        if self.proc.poll() is None:
            return None
        self.poll()
        self.out.close()
        msg = f"the follow stream {self.path} ended (curl exit {self.proc.returncode})"
        self.start(since=self.last_seq)
        return msg

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


# ---- the walk -------------------------------------------------------------

class WalkAbort(Exception):
    """The walk cannot go on (the daemon is gone, a reload never ended)."""


class Walk:
    def __init__(self, rng, cfg):
        self.rng = rng
        self.cfg = cfg  # the config the daemon runs (the model)
        self.d = Daemon()
        self.work = ENV["KPE_WORK"]
        self.follower = Follower(self.d, self.work)
        self.helpers = []
        self.failures = []  # (step, kind, message)
        self.failed_steps = set()
        self.silent_removal_losses = []  # (step, probe, events) in live steps that removed a probe
        self.stats = {"reloads": 0, "storm_reloads": 0, "steps": 0, "refused_total": 0, "leaving_parse_errors": 0}
        self.reload_metrics_missing = False
        self.log_mark = 0

    def fail(self, step, kind, msg):
        print(f"FAIL: step {step} ({kind}): {msg}", file=sys.stderr, flush=True)
        if step not in self.failed_steps:
            # What the daemon said at warning or worse during the step.
            with open(self.d.err, encoding="utf-8", errors="replace") as f:
                f.seek(self.log_mark)
                said = [l.rstrip("\n") for l in f if re.match(r"<[0-4]>", l)]
            for line in said[-15:]:
                print(f"#   daemon: {line[:300]}", file=sys.stderr)
        self.failures.append((step, kind, msg))
        self.failed_steps.add(step)

    def fatal(self, step, kind, msg):
        self.fail(step, kind, msg)
        raise WalkAbort()

    def reload_counts(self):
        return (self.d.log_count(r"Reloaded: "), self.d.log_count(r"the running config stays|Reload failed:"))

    # -- generators
    def run(self, args):
        return subprocess.Popen([CONN] + [str(a) for a in args], stdout=subprocess.DEVNULL)

    def flood_plan(self, tp_wanted, long=False, buffered=False):
        rng = self.rng
        if long:  # the storm: about a second of calls
            n, pause = (300, 3000) if SLOW else (3000, 300)
        else:
            # Buffered floods may be more than the daemon reads in one go
            # (up to 5 probes x 4000 calls, about 1 MB: the kernel's buffer
            # of the instance holds 1.4 MB per CPU; what overruns it the
            # kernel reports, and the daemon must too).
            hi = 4000 if buffered else 2500
            n = rng.randint(50, 200) if SLOW else rng.randint(300, hi)
            pause = rng.choice([0, 0, 5, 10, 20])
        first = rng.randint(1, 65535 - n)
        tn = 0
        if tp_wanted:
            tn = rng.randint(10, 30) if SLOW else rng.randint(20, 150)
        tfirst = rng.randint(TP_LO, TP_HI - tn - 1)
        return n, first, pause, tn, tfirst

    def start_floods(self, plan):
        n, first, pause, tn, tfirst = plan
        procs = [self.run(["flood", n, first, pause])]
        if tn:
            procs.append(self.run(["tcpflood", tn, tfirst]))
        self.helpers += procs
        return procs

    def wait_procs(self, procs, step, kind):
        for p in procs:
            try:
                rc = p.wait(120 * SCALE)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fatal(step, kind, f"a generator ({p.args}) did not end within {120 * SCALE} s")
            if rc != 0:
                self.fatal(step, kind, f"a generator ({p.args}) exited {rc}")

    # -- waiting
    def probes_match(self, cfg):
        try:
            got = {p["name"]: p for p in self.d.probes()}
        except (OSError, ValueError):
            return False, "GET /probes failed"
        want = probe_map(cfg)
        if set(got) != set(want):
            return False, f"/probes has {sorted(got)}, the config {sorted(want)}"
        for name, p in want.items():
            g = got[name]
            exp = {"type": p["kind"], "target": f"{CONN}:{OFF}" if p["kind"] == "uprobe" else TP_TARGET,
                   "filter": p["filter"], "definition": definition(p), "state": "registered"}
            for k, v in exp.items():
                if g.get(k) != v:
                    return False, f"/probes: {name}.{k} is {g.get(k)!r}, want {v!r} (error: {g.get('error')})"
        return True, ""

    def wait_reload(self, step, kind, cfg, before, want_ok, want_failed, storm=False):
        """Waits until the daemon logged the reload(s) and /probes shows cfg.
        Returns the number of successful reloads seen."""
        deadline = time.time() + 30 * SCALE
        stable_since, last = None, None
        while True:
            if not self.d.alive():
                self.fatal(step, kind, "the daemon is gone")
            counts = self.reload_counts()
            ok, why = self.probes_match(cfg)
            done = counts[0] >= before[0] + want_ok and counts[1] >= before[1] + want_failed and ok
            if storm:
                # Signals may coalesce: done once the count stops moving.
                if counts != last:
                    stable_since, last = time.time(), counts
                done = done and time.time() - stable_since >= 1.0 * SCALE
            if done:
                return counts[0] - before[0], counts[1] - before[1]
            if time.time() > deadline:
                self.fatal(step, kind, f"the reload did not finish within {30 * SCALE} s: reload log lines "
                           f"{before} -> {counts}; {why}")
            time.sleep(0.05)

    def wait_counts(self, expect, timeout):
        """Polls /metrics until every probe in expect {name: events_total}
        reaches its value and trace_lines_total stays put for three polls;
        returns the last scrape."""
        start = time.time()
        deadline = start + timeout * SCALE
        last_lines, stable = None, 0
        while True:
            ms = self.d.metrics()
            lines = mval(ms, "kprobe_exporter_trace_lines_total")
            stable = stable + 1 if lines == last_lines else 0
            last_lines = lines
            reached = all((mval(ms, "kprobe_exporter_events_total", probe=p) or 0) >= v for p, v in expect.items())
            # Not reached (events lost) but the reader idle for a while: done.
            if stable >= 2 and (reached or time.time() > start + 2 * SCALE) or time.time() > deadline:
                return ms
            time.sleep(0.1 * SCALE)

    # -- one step
    def step(self, i, kind, new, storm_alt=None):
        d, old = self.d, self.cfg
        if not d.alive():
            self.fatal(i, kind, "the daemon is gone before the step")
        self.log_mark = os.path.getsize(d.err)
        oldp, newp = probe_map(old), (probe_map(new) if new else probe_map(old))
        target = new if new else old
        s0 = d.metrics()
        before = self.reload_counts()
        base_ok = mval(s0, "kprobe_exporter_config_reloads_total", result="success")
        base_failed = mval(s0, "kprobe_exporter_config_reloads_total", result="failure")
        tp_wanted = TP_NAME in oldp or TP_NAME in newp
        buffered = storm_alt is None and self.rng.random() < 0.3
        plan = self.flood_plan(tp_wanted, long=storm_alt is not None, buffered=buffered)
        text = render(new) if new else "probes:\n  - name: broken\n    colour: blue\n"
        mode = "storm" if storm_alt is not None else "buffered" if buffered else "live"
        log(f"step {i}: {kind} ({mode}; flood {plan[0]} calls from port {plan[1]}, pause {plan[2]} us, "
            f"{plan[3]} connects)")

        # The flood and the SIGHUP(s).
        writes = 0
        if buffered:
            os.kill(d.pid, signal.SIGSTOP)
            try:
                self.wait_procs(self.start_floods(plan), i, kind)
                write_config(text)
                os.kill(d.pid, signal.SIGHUP)
            finally:
                os.kill(d.pid, signal.SIGCONT)
            writes = 1
        else:
            procs = self.start_floods(plan)
            time.sleep(self.rng.uniform(0, 0.03))
            if storm_alt is None:
                write_config(text)
                os.kill(d.pid, signal.SIGHUP)
                writes = 1
            else:
                # 50 SIGHUPs within a second, the config alternating.
                texts = [render(storm_alt), text]
                t0 = time.time()
                for k in range(50):
                    write_config(texts[k % 2])
                    os.kill(d.pid, signal.SIGHUP)
                    time.sleep(max(0, t0 + (k + 1) * 0.019 - time.time()))
                writes = 50
                log(f"step {i}: 50 SIGHUPs in {time.time() - t0:.2f} s")
            self.wait_procs(procs, i, kind)

        if new:
            n_ok, n_failed = self.wait_reload(i, kind, new, before, 1, 0, storm=storm_alt is not None)
        else:
            n_ok, n_failed = self.wait_reload(i, kind, old, before, 0, 1)
        if storm_alt is not None:
            self.stats["storm_reloads"] += n_ok
            if not 1 <= n_ok <= writes or n_failed != 0:
                self.fail(i, kind, f"{writes} SIGHUPs made {n_ok} successful and {n_failed} failed reloads")
        elif (n_ok, n_failed) != ((1, 0) if new else (0, 1)):
            self.fail(i, kind, f"one SIGHUP made {n_ok} successful and {n_failed} failed reloads")
        self.stats["reloads"] += n_ok + n_failed

        # What stays, what restarts. A storm alternated between two configs:
        # only what is the same in all three stayed throughout.
        n_calls, _, _, tn, _ = plan
        gen = {p: (n_calls if q["kind"] == "uprobe" else tn) for p, q in oldp.items()}
        chain = [old, storm_alt, target] if storm_alt is not None else [old, target]
        maps = [probe_map(c) for c in chain]

        def same_probe(name):
            return all(name in m for m in maps) and len({kernel_key(m[name]) for m in maps}) == 1

        def same_metric(name, mname):
            if not same_probe(name):
                return False
            ms = []
            for m in maps:
                found = [x for x in m[name]["metrics"] if x["name"] == mname]
                if not found:
                    return False
                ms.append(found[0])
            return all(metric_kept(maps[k][name], maps[k + 1][name], ms[k], ms[k + 1]) for k in range(len(maps) - 1))

        kept = [p for p in newp if same_probe(p)]
        fresh = [p for p in newp if p not in kept]
        # A uprobe leaving the kernel empties our instance's buffer (the
        # kernel resets it when a probe that was enabled in it is removed).
        # In a live flood what was generated between the daemon's last read
        # and that reset cannot be read by anyone: such a step counts each
        # kept probe at most as often as the generator fired, and reports the
        # shortfall; when the flood was buffered before the SIGHUP, the
        # daemon can read everything before it removes anything: exact.
        kernel_removal = any(oldp[p]["kind"] == "uprobe" and p not in kept for p in oldp) or \
            (storm_alt is not None and any(q["kind"] == "uprobe" and not same_probe(p)
                                           for p, q in probe_map(storm_alt).items()))

        # Drained: kept probes at their expected counts, the reader idle.
        expect = {p: (mval(s0, "kprobe_exporter_events_total", probe=p) or 0) + gen[p] for p in kept}
        s1 = self.wait_counts(expect, 15)

        # The known batch.
        k_calls = self.rng.randint(3, 30)
        k_tp = self.rng.randint(2, 10) if TP_NAME in newp else 0
        batch = [self.run(["call", k_calls, 7])]
        if k_tp:
            batch.append(self.run(["tcpflood", k_tp, TP_HI - k_tp]))
        self.helpers += batch
        self.wait_procs(batch, i, kind)
        bgen = {p: (k_calls if q["kind"] == "uprobe" else k_tp) for p, q in newp.items()}
        expect2 = {p: (mval(s1, "kprobe_exporter_events_total", probe=p) or 0) + bgen[p] for p in newp}
        s2 = self.wait_counts(expect2, 15)
        if not d.alive():
            self.fatal(i, kind, "the daemon is gone after the batch")

        leaving = sorted({p for p in oldp if p not in kept} |
                         ({p for p in probe_map(storm_alt) if not same_probe(p)} if storm_alt is not None else set()))
        self.check(i, kind, target, newp, kept, fresh, gen, bgen, s0, s1, s2, kernel_removal and mode != "buffered",
                   same_metric, leaving)
        self.check_reload_metrics(i, kind, s2, base_ok, base_failed, n_ok, n_failed, new is not None)
        if storm_alt is None and new is not None:
            removed = len([p for p in oldp if p not in kept])
            want = f"Reloaded: {len(kept)} probe(s) kept with their counters, {removed} removed, {len(fresh)} registered"
            got = d.last_log(r"Reloaded: ")
            if not got or not got.endswith(want):
                self.fail(i, kind, f"the log says '{got}', want '{want}'")
        self.check_follower(i, kind)
        if new is not None:
            self.cfg = new
        self.stats["steps"] += 1

    def check(self, i, kind, cfg, newp, kept, fresh, gen, bgen, s0, s1, s2, racy, same_metric, leaving):
        d = self.d
        f = lambda msg: self.fail(i, kind, msg)
        # (a) the kernel holds exactly the config's probes, enabled only in
        # our instance's events, with the config's filters.
        want_lines = sorted(kernel_line(p) for p in newp.values() if p["kind"] == "uprobe")
        got_lines = d.kernel_lines()
        if got_lines != want_lines:
            f(f"uprobe_events of group {NAME}: {got_lines}, want {want_lines}")
        want_on = sorted(f"{NAME}/{p}" if q["kind"] == "uprobe" else TP_TARGET for p, q in newp.items())
        got_on = d.enabled_events()
        if got_on != want_on:
            f(f"enabled in instances/{NAME}: {got_on}, want {want_on}")
        for p, q in newp.items():
            ev = f"{NAME}/{p}" if q["kind"] == "uprobe" else TP_TARGET
            try:
                got = d.filter_of(ev)
            except OSError as e:
                f(f"filter of {ev}: {e}")
                continue
            want = q["filter"] or "none"
            if got != want:
                f(f"the filter of {ev} reads '{got}', want '{want}'")
        # (b) every probe up, nothing of other probes exported.
        for p in newp:
            v = mval(s2, "kprobe_exporter_probe_up", probe=p)
            if v != 1:
                f(f"kprobe_exporter_probe_up{{probe=\"{p}\"}} is {v}, want 1")
        for series in ("kprobe_exporter_probe_up", "kprobe_exporter_events_total"):
            extra = sorted(dict(k)["probe"] for k in s2.get(series, {}) if dict(k).get("probe") not in newp)
            if extra:
                f(f"{series} still has the removed probes {extra}")
        want_metrics = {m["name"] for q in newp.values() for m in q["metrics"]}
        for name in s2:
            if re.match(r"(u[0-9]|tcp)_[ab]_total$", name) and name not in want_metrics:
                f(f"the metric {name} is not in the config but still exported")
        # Every record the kernel gave us is of one of our probes, and is
        # counted. Records of a probe on its way out (removed or changed)
        # that are read during the switch the daemon counts as parse errors
        # (they belong to no running probe any more): only logged here. In a
        # step where no probe leaves, nothing may go uncounted.
        bad = lambda s: msum(s, "kprobe_exporter_parse_errors_total") + msum(s, "kprobe_exporter_unknown_records_total")
        pe = bad(s2) - bad(s0)
        if pe and leaving:
            self.stats["leaving_parse_errors"] += pe
            log(f"step {i}: {pe:.0f} records not counted (parse errors or unknown records) in a step where "
                f"{', '.join(leaving)} left")
        elif pe:
            with open(d.err, encoding="utf-8", errors="replace") as lf:
                lf.seek(self.log_mark)
                unparsed = [l.strip()[:200] for l in lf if "Unparsed" in l][:3]
            n_pe = msum(s2, "kprobe_exporter_parse_errors_total") - msum(s0, "kprobe_exporter_parse_errors_total")
            f(f"{pe} records over the step were not counted as events: kprobe_exporter_parse_errors_total +{n_pe:.0f}, "
              f"kprobe_exporter_unknown_records_total +{pe - n_pe:.0f}; first ones logged: {unparsed}")
        lost01, lost12 = lost(s2) - lost(s0), lost(s2) - lost(s1)
        for p, q in newp.items():
            ev = lambda s: mval(s, "kprobe_exporter_events_total", probe=p) or 0
            if p in kept:
                # (c) and (d) for a probe unchanged across the step: the
                # flood and the batch, less what the daemon says was lost.
                got, want = ev(s2) - ev(s0), gen[p] + bgen[p]
                if got < 0:
                    f(f"events_total{{probe=\"{p}\"}} went down: {ev(s0)} -> {ev(s2)}")
                elif got > want:
                    f(f"{p}: {got} events counted over the step, but only {want} were made "
                      f"({gen[p]} in the flood + {bgen[p]} in the batch): counted twice?")
                elif got + lost01 < want:
                    if racy and got >= bgen[p]:
                        self.silent_removal_losses.append((i, p, want - got - lost01))
                        log(f"step {i}: {p} counted {got:.0f} of {want:.0f}, {lost01:.0f} reported lost: "
                            f"{want - got - lost01:.0f} lost silently at a probe removal during the live flood")
                    else:
                        f(f"{p}: {got} events counted over the step, want {want} ({gen[p]} in the flood + "
                          f"{bgen[p]} in the batch); the daemon reports {lost01} lost")
                elif lost01 == 0 and got != want:
                    f(f"{p}: {got} events counted over the step, want {want}")
            else:
                # Added or changed: the batch after the reload, exactly.
                got = ev(s2) - ev(s1)
                if got != bgen[p] and not (bgen[p] - lost12 <= got <= bgen[p]):
                    f(f"{p} (new or changed): {got} events of the batch of {bgen[p]} counted"
                      f" ({lost12} reported lost)")
            rs = lambda s, mn: mval(s, "kprobe_exporter_series_refused_total", metric=mn) or 0
            for m in q["metrics"]:
                mn = m["name"]
                if same_metric(p, mn):
                    # (c) no series of an unchanged metric goes down or away,
                    # and every event of its probe is in a series or refused.
                    for labels, v in s0.get(mn, {}).items():
                        v2 = s2.get(mn, {}).get(labels)
                        if v2 is None or v2 < v:
                            f(f"{mn}{dict(labels)} was {v}, now {v2}")
                            break
                    counted, refused = msum(s2, mn) - msum(s0, mn), rs(s2, mn) - rs(s0, mn)
                    events = ev(s2) - ev(s0)
                    if counted + refused != events:
                        f(f"{mn} (kept): {counted} counted + {refused} refused over the step, "
                          f"but {p} has {events} events")
                else:
                    # Restarted at the reload: the batch exactly; in all, no
                    # more than its probe has events since the reload (for a
                    # new or changed probe: exactly those).
                    counted, refused = msum(s2, mn) - msum(s1, mn), rs(s2, mn) - rs(s1, mn)
                    if counted + refused != ev(s2) - ev(s1):
                        f(f"{mn} (restarted): {counted} counted + {refused} refused over the batch, "
                          f"but {p} has {ev(s2) - ev(s1)} events")
                    total = msum(s2, mn) + rs(s2, mn)
                    if p in kept and total > gen[p] + bgen[p]:
                        f(f"{mn} (restarted) holds {total} (counted + refused), more than the "
                          f"{gen[p] + bgen[p]} events made since the reload began")
                    if p not in kept and total != ev(s2):
                        f(f"{mn} of the new probe {p} holds {total} (counted + refused), its probe has "
                          f"{ev(s2)} events")
                self.stats["refused_total"] = max(self.stats["refused_total"], rs(s2, mn))
                if not s2.get(mn) and rs(s2, mn) == 0:
                    f(f"the metric {mn} has no series after the batch")
        if not d.alive():
            self.fatal(i, kind, "the daemon is gone")

    def check_reload_metrics(self, i, kind, s2, base_ok, base_failed, n_ok, n_failed, success):
        ok = mval(s2, "kprobe_exporter_config_reloads_total", result="success")
        bad = mval(s2, "kprobe_exporter_config_reloads_total", result="failure")
        gauge = mval(s2, "kprobe_exporter_config_last_reload_successful")
        if ok is None or bad is None or gauge is None:
            if self.reload_metrics_missing:
                return
            self.reload_metrics_missing = True
            self.fail(i, kind, "kprobe_exporter_config_reloads_total{result=success|failure} or "
                      "kprobe_exporter_config_last_reload_successful is not exported")
            return
        if base_ok is not None and ok != base_ok + n_ok:
            self.fail(i, kind, f"config_reloads_total{{result=\"success\"}} went {base_ok} -> {ok}, "
                      f"the log shows {n_ok} reload(s)")
        if base_failed is not None and bad != base_failed + n_failed:
            self.fail(i, kind, f"config_reloads_total{{result=\"failure\"}} went {base_failed} -> {bad}, "
                      f"the log shows {n_failed} refused reload(s)")
        if gauge != (1 if success else 0):
            self.fail(i, kind, f"config_last_reload_successful is {gauge}, want {1 if success else 0}")

    def check_follower(self, i, kind):
        fl = self.follower
        ended = fl.check_running()
        if ended:
            self.fail(i, kind, ended)
        try:
            page = json.loads(self.d.get("/events?limit=1"))
        except (OSError, ValueError) as e:
            self.fail(i, kind, f"GET /events: {e}")
            return
        newest = page["events"][-1]["seq"] if page["events"] else None
        deadline = time.time() + 10 * SCALE
        while True:
            fl.poll()
            if newest is None or (fl.last_seq is not None and fl.last_seq >= newest):
                break
            if time.time() > deadline:
                self.fail(i, kind, f"the follower's last seq is {fl.last_seq}, the newest event's {newest}")
                break
            time.sleep(0.05)
        for p in fl.problems:
            self.fail(i, kind, p)
        fl.problems.clear()

    def close(self):
        self.follower.stop()
        for p in self.helpers:
            if p.poll() is None:
                p.kill()
                p.wait()


def main():
    rng = random.Random(SEED)
    cfg = initial_config(rng)
    if sys.argv[1:] == ["init"]:
        write_config(render(cfg))
        return 0
    if sys.argv[1:] != ["walk"]:
        sys.exit("usage: reload_walk.py init|walk")
    steps = int(ENV["KPE_WALK_STEPS"])
    walk = Walk(rng, cfg)
    # At step 15 (the middle of a default walk) and every 50 steps, so a
    # longer walk of a seed begins with the shorter one.
    storm_at = {15} if steps >= 30 else {steps // 2} if steps >= 2 else set()
    storm_at |= set(range(50, steps + 1, 50))
    t0 = time.time()
    forced = None
    try:
        time.sleep(0.3)  # the follower's "from now"
        for i in range(1, steps + 1):
            if i in storm_at:
                a = walk.cfg
                for _ in range(20):
                    kind = pick_kind(rng)
                    if kind in ("unchanged", "invalid"):
                        continue
                    b = mutate(rng, a, kind)
                    if b is not None:
                        break
                # The storm ends on the config it started from, after
                # alternating with b: the last write is a.
                walk.step(i, f"storm/{kind}", copy.deepcopy(a), storm_alt=b)
                continue
            kind = forced or pick_kind(rng)
            forced = "unchanged" if kind == "unchanged" and rng.random() < 0.5 else None
            if kind == "invalid":
                walk.step(i, kind, None)
                continue
            new = mutate(rng, walk.cfg, kind)
            if new is None:
                kind, new = "unchanged", mutate(rng, walk.cfg, "unchanged")
            walk.step(i, kind, new)
            if len(walk.failed_steps) >= 20:
                log("20 steps failed: stopping the walk")
                break
    except WalkAbort:
        log("the walk cannot go on")
    finally:
        walk.close()
    log(f"{walk.stats['steps']} steps in {time.time() - t0:.0f} s, {walk.stats['reloads']} reloads "
        f"({walk.stats['storm_reloads']} in storms), follower: {walk.follower.events} events, "
        f"{walk.follower.missed_lines} missed lines, {walk.follower.n - 1} restarts; "
        f"most series refused by one metric: {walk.stats['refused_total']:.0f}; records of leaving probes "
        f"counted as parse errors: {walk.stats['leaving_parse_errors']:.0f}")
    if walk.silent_removal_losses:
        total = sum(x[2] for x in walk.silent_removal_losses)
        log(f"events lost silently at probe removals during live floods: {total} in "
            f"{len({x[0] for x in walk.silent_removal_losses})} step(s): {walk.silent_removal_losses[:10]}")
    if walk.failures:
        # The kinds of violation: each message with its numbers and probe
        # names as N and P, how often, in which steps.
        shapes = {}
        for step, kind, msg in walk.failures:
            shape = re.sub(r"[0-9]+(\.[0-9]+)?", "N", re.sub(r"\b(u[0-9]|tcp)\b", "P", msg))[:160]
            shapes.setdefault(shape, []).append(f"{step} ({kind})")
        for shape, where in shapes.items():
            log(f"{len(where)} x {shape}  -- steps {', '.join(sorted(set(where), key=lambda w: int(w.split()[0])))[:300]}")
        keep = ENV.get("KPE_WALK_KEEP")
        if keep:  # for a look at a failed walk after the test removed its files
            os.makedirs(keep, exist_ok=True)
            for src in (walk.d.err, CONFIG):
                if os.path.exists(src):
                    with open(src, "rb") as a, open(os.path.join(keep, os.path.basename(src)), "wb") as b:
                        b.write(a.read())
            log(f"the daemon's log and the last config are in {keep}")
        print(f"FAIL: {len(walk.failures)} violation(s) in {len(walk.failed_steps)} step(s) "
              f"(replay: KPE_WALK_SEED={SEED} KPE_WALK_STEPS={steps})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
