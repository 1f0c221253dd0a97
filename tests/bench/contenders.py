"""The contenders of the benchmark: each drains the same kind of events the
generator makes and counts them by label. Every class has

    check()               -> None, or the reason it is skipped
    start(wl, gen)        starts it, returns once it is attached
    cpu_now()             CPU seconds its processes used so far
    finish(wl, gen)       after the generator ended: waits until it has
                          read everything, stops it, returns a result dict

A result holds: counted (events under the right label), lost (events the
kernel reported lost), recorded (what the kernel says it wrote, where it
says), cpu_end (CPU seconds at the end), rss_kib (peak RSS), notes."""

import os
import re
import shutil
import signal
import subprocess
import time

from benchlib import (Proc, drop_cleanup, free_port, http_get, log, metric, on_cleanup, parse_metrics, proc_comm,
                      proc_status_kib, wait_for, _stat_fields)

GEN_COMM = "kpe-bench-gen"


class Workload:
    def __init__(self, key, mode, title):
        self.key, self.mode, self.title = key, mode, title


TRACEPOINT = Workload("tracepoint", "getpid", "syscalls/sys_enter_getpid")
UPROBE = Workload("uprobe", "call", "uprobe on kpe_bench_target(fd, sockaddr *, len)")

# The seed's fetch args: the sockaddr is the 2nd argument (%si on x86-64).
FETCH = "family=+0(%si):u16 port=+2(%si):u16 addr=+4(%si):u32"


class Env:
    """What every contender needs: tracefs, the generator binary and its
    uprobe offset, our names, a scratch dir."""

    def __init__(self, tfs, gen_exe, reader_exe, kpe_exe, work, tag):
        self.tfs, self.gen_exe, self.reader_exe, self.kpe_exe = tfs, gen_exe, reader_exe, kpe_exe
        self.work, self.tag = work, tag
        self.offset = subprocess.run([gen_exe, "offset"], check=True, capture_output=True,
                                     text=True).stdout.strip()
        self.uprobe_target = f"{gen_exe}:{self.offset}"
        self.runs = 0

    def fresh(self, what):
        self.runs += 1
        return f"{self.tag}_{what}{self.runs}"

    def out(self, name):
        return os.path.join(self.work, name)


def gen_filter(wl, gen):
    # Only the generator's getpid calls: other processes call getpid too.
    # The uprobe sits on our own binary, so nothing else hits it.
    return f"common_pid == {gen.pid}" if wl is TRACEPOINT else None


def awk_text_counter(comm_field, wl, pattern):
    """The awk a user would write to count the lines of pattern by label:
    the comm-pid field with the pid cut off, plus port= and addr= for the
    uprobe (raw, as the kernel prints them)."""
    key = f"k = ${comm_field}; sub(/-[0-9]+$/, \"\", k);"
    if wl is UPROBE:
        key += " k = k \" \" $(NF-1) \" \" $NF;"
    return f"/{pattern}/ {{ {key} c[k]++ }} END {{ for (k in c) print c[k] \"\\t\" k }}"


def parse_awk_counts(text):
    counts = {}
    for line in text.splitlines():
        cnt, _, key = line.partition("\t")
        if cnt.isdigit():
            counts[key] = counts.get(key, 0) + int(cnt)
    return counts


def right_label(wl, key):
    if wl is TRACEPOINT:
        return key == GEN_COMM
    return key.startswith(GEN_COMM + " ") and "port=6400" in key and "addr=16777343" in key


def split_counts(wl, counts):
    good = sum(v for k, v in counts.items() if right_label(wl, k))
    other = {k: v for k, v in counts.items() if not right_label(wl, k)}
    return good, other


def other_note(other):
    if not other:
        return []
    top = sorted(other.items(), key=lambda kv: -kv[1])[:2]
    return ["counted under other labels: " + ", ".join(f"{k!r} {v}" for k, v in top)]


# ---------------------------------------------------------------- trivial reader

class Reader:
    name = "trivial reader"
    key = "reader"

    def __init__(self, env):
        self.env = env

    def check(self):
        return None if os.access(self.env.reader_exe, os.X_OK) else "reader not built"

    def start(self, wl, gen):
        e, tfs = self.env, self.env.tfs
        self.inst = e.fresh("r")
        self.inst_cleanup = tfs.make_instance(self.inst)
        if wl is TRACEPOINT:
            event = "syscalls/sys_enter_getpid"
        else:
            # The same line kprobe-exporter registers for a probe labelled by
            # comm (it fetches $comm), so the kernel prints the same text.
            group = self.inst
            tfs.add_uprobe(group, "connect", e.uprobe_target, FETCH + " comm=$comm:string")
            event = f"{group}/connect"
        tfs.enable(self.inst, event, gen_filter(wl, gen))
        self.p = Proc([e.reader_exe, tfs.path("instances", self.inst, "trace_pipe")], "trivial reader",
                      out=e.out(f"{self.inst}.out"), err=e.out(f"{self.inst}.err"))
        if not wait_for(lambda: "ready" in self.p.text(), 10):
            raise RuntimeError("reader did not start: " + self.p.text("err"))

    def cpu_now(self):
        return self.p.tree_cpu()

    def finish(self, wl, gen):
        tfs = self.env.tfs
        tfs.wait_drained(self.inst)
        st = tfs.stats(self.inst)
        rss = proc_status_kib(self.p.pid, "VmHWM")
        self.p.stop(signal.SIGTERM)
        m = re.search(r"lines (\d+) lost_lines (\d+) bytes (\d+)", self.p.text())
        lines = int(m.group(1)) - int(m.group(2)) if m else 0
        tfs.write(os.path.join("instances", self.inst, "events", "enable"), "0")
        if wl is UPROBE:
            tfs.remove_probe(self.inst, "connect")
        tfs.remove_instance(self.inst)
        notes = [f"{int(m.group(3)) / max(lines, 1):.0f} bytes/line"] if m else ["no output"]
        return {"counted": lines, "seen": lines, "lost": st["lost"], "recorded": st["recorded"], "cpu_end": self.p.cpu(),
                "rss_kib": rss, "notes": notes}


# ---------------------------------------------------------------- kprobe-exporter

class Kpe:
    name = "kprobe-exporter"
    key = "kpe"
    reader_args = []  # the default reader: the binary ring buffer

    def __init__(self, env):
        self.env = env
        self.inst = f"kpe_bench_{os.getpid()}"
        self.cleanup_set = False

    def check(self):
        return None if os.access(self.env.kpe_exe, os.X_OK) else f"{self.env.kpe_exe} not built"

    def config(self, wl, gen, max_series=None, labels_gen=None):
        lines = ["recent_events: 4096"]
        if max_series:
            lines.append(f"max_series: {max_series}")
        lines.append("probes:")
        if wl is TRACEPOINT or wl is None:
            lines += ["  - name: getpid", "    type: tracepoint", "    target: syscalls/sys_enter_getpid"]
            if gen is not None:
                lines.append(f"    filter: {gen_filter(TRACEPOINT, gen)}")
            lines += ["    metrics:", "      - name: getpid_total", "        help: getpid() calls by process.",
                      "        labels: [comm]"]
        if wl is UPROBE or wl is None:
            lines += ["  - name: connect", "    type: uprobe", f"    target: {self.env.uprobe_target}",
                      "    fetch: [" + ", ".join(FETCH.split()) + "]",
                      "    decode: {port: ntohs, addr: ipv4}",
                      "    metrics:", "      - name: connect_total",
                      "        help: Calls of kpe_bench_target by caller, address and port.",
                      "        labels: [comm, addr, port]"]
        return "\n".join(lines) + "\n"

    def start_daemon(self, cfg_text, tag):
        e = self.env
        cfg = e.out(f"{tag}.yaml")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.p = Proc([e.kpe_exe, f"--config.file={cfg}", f"--tracefs.instance={self.inst}",
                       f"--web.listen-address=127.0.0.1:{self.port}"] + self.reader_args, "kprobe-exporter",
                      out=e.out(f"{tag}.out"), err=e.out(f"{tag}.err"))
        if not self.cleanup_set:
            # Removes what a killed daemon of ours would leave behind.
            on_cleanup("kprobe-exporter --cleanup", lambda: subprocess.run(
                [e.kpe_exe, f"--tracefs.instance={self.inst}", "--cleanup"], capture_output=True, timeout=30))
            self.cleanup_set = True

        def ready():
            if not self.p.alive():
                raise RuntimeError("kprobe-exporter exited: " + self.p.text("err")[-2000:])
            try:
                return http_get(self.url + "/healthz", 1)[0] == 200
            except OSError:
                return False
        if not wait_for(ready, 20, 0.1):
            raise RuntimeError("kprobe-exporter not ready: " + self.p.text("err")[-2000:])

    def metrics(self):
        return parse_metrics(http_get(self.url + "/metrics", 30)[1].decode(errors="replace"))

    def count(self, wl, ms):
        if wl is TRACEPOINT:
            return metric(ms, "getpid_total", comm=GEN_COMM)
        return metric(ms, "connect_total", comm=GEN_COMM, addr="127.0.0.1", port="25")

    def start(self, wl, gen):
        self.start_daemon(self.config(wl, gen), self.env.fresh("k"))

    def cpu_now(self):
        return self.p.tree_cpu()

    def finish(self, wl, gen):
        tfs = self.env.tfs
        tfs.wait_drained(self.inst)
        st = tfs.stats(self.inst)
        # CPU now: the scrapes below are not part of the per-event cost.
        cpu_end = self.p.tree_cpu()
        rss = proc_status_kib(self.p.pid, "VmHWM")

        def settled():
            ms = self.metrics()
            return ms if self.count(wl, ms) + st["lost"] >= gen.n else None
        ms = wait_for(settled, 5, 0.25) or self.metrics()
        counted = int(self.count(wl, ms))
        lost_d = int(metric(ms, "kprobe_exporter_lost_events_total"))
        over_d = int(metric(ms, "kprobe_exporter_ring_buffer_overrun_total") +
                     metric(ms, "kprobe_exporter_ring_buffer_dropped_events_total"))
        perr = int(metric(ms, "kprobe_exporter_parse_errors_total"))
        self.p.stop(signal.SIGTERM)
        notes = []
        if lost_d or over_d:
            notes.append(f"daemon reported lost {lost_d} (LOST lines), overrun+dropped {over_d}")
        if perr:
            notes.append(f"{perr} parse errors")
        if self.p.exit_code() != 0:
            notes.append(f"exit {self.p.exit_code()}")
        seen = int(metric(ms, "kprobe_exporter_events_total", probe="getpid" if wl is TRACEPOINT else "connect"))
        return {"counted": counted, "seen": seen, "lost": st["lost"], "recorded": st["recorded"], "cpu_end": cpu_end,
                "rss_kib": rss, "notes": notes, "daemon_lost": lost_d, "daemon_overrun": over_d}


# ---------------------------------------------------------------- trace-cmd

class TraceCmd:
    """trace-cmd record into a file, then trace-cmd report | awk."""
    name = "trace-cmd record+report"
    key = "tc-record"
    # This kernel has no usable function tracer (ftrace_enabled and
    # set_ftrace_pid answer EPERM): without -d trace-cmd fails with "Can't
    # enable ftrace", without --no-filter it crashes on set_ftrace_pid.
    opts = ["-d", "--no-filter"]

    def __init__(self, env):
        self.env = env

    def check(self):
        return None if shutil.which("trace-cmd") else "trace-cmd not installed"

    def event_of(self, wl):
        if wl is TRACEPOINT:
            # trace-cmd formats the record itself (libtraceevent), by event name.
            return "syscalls:sys_enter_getpid", "sys_enter_getpid: "
        # A user defines the uprobe with the seed's fetch args, then traces it.
        self.group = self.env.fresh("tcu")
        self.env.tfs.add_uprobe(self.group, "connect", self.env.uprobe_target, FETCH)
        return f"{self.group}:connect", "connect: "

    def start(self, wl, gen):
        e = self.env
        self.inst = e.fresh("tc")
        self.group = None
        ev, self.evname = self.event_of(wl)
        on_cleanup(f"remove trace-cmd's instance {self.inst}", lambda i=self.inst: e.tfs.remove_instance(i))
        self.dat = e.out(f"{self.inst}.dat")
        argv = ["trace-cmd", "record"] + self.opts + ["-B", self.inst, "-e", ev]
        filt = gen_filter(wl, gen)
        if filt:
            argv += ["-f", filt]
        self.p = Proc(argv + ["-o", self.dat], self.name, out=e.out(f"{self.inst}.out"),
                      err=e.out(f"{self.inst}.err"))
        self.wait_enabled(ev)

    def wait_settled(self):
        """Its readers splice whole pages: a last partial page stays in the
        buffer until the stop (or for good, with stream), so wait until the
        buffer stops shrinking rather than until it is empty."""
        prev = None
        for _ in range(200):
            cur = self.env.tfs.stats(self.inst)["entries"]
            if cur == 0 or cur == prev:
                break
            prev = cur
            time.sleep(0.2)
        time.sleep(0.2)
        return self.env.tfs.stats(self.inst)

    def stderr_note(self, text):
        """trace-cmd's own error, e.g. 'trace-cmd: Operation not permitted /
        opening to .../set_ftrace_filter'."""
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        for i, l in enumerate(lines):
            if l.startswith("trace-cmd:"):
                return " ".join(lines[i:i + 2])
        return lines[-1] if lines else ""

    def wait_enabled(self, ev):
        """Returns once the event is enabled in trace-cmd's instance."""
        enable = self.env.tfs.path("instances", self.inst, "events", *ev.split(":"), "enable")

        def enabled():
            try:
                with open(enable) as fh:
                    return fh.read().strip() == "1"
            except OSError:
                return False
        if not wait_for(lambda: enabled() or not self.p.alive(), 20) or not self.p.alive():
            err = (self.p.text("err") + self.p.text()).strip()
            raise RuntimeError(f"{self.name} did not start: " + " / ".join(err.splitlines()[-3:]))
        time.sleep(0.5)

    def cpu_now(self):
        return self.p.tree_cpu()

    def _stop_recording(self):
        st = self.wait_settled()
        rss = self.p.tree_hwm_kib()
        # Ctrl-C: SIGINT to each of its processes.
        self.p.send(signal.SIGINT, self.p.tree())
        if not self.p.wait(60):
            self.p.kill()
        return st, rss

    def finish(self, wl, gen):
        e = self.env
        st, rss = self._stop_recording()
        cpu_rec = self.p.cpu()
        notes = []
        if self.p.exit_code() != 0:
            notes.append(f"record exit {self.p.exit_code()}: {self.stderr_note(self.p.text('err'))}")
        if os.path.isdir(e.tfs.path("instances", self.inst)):
            notes.append("it left its instance behind (removed by us)")
        e.tfs.remove_instance(self.inst)
        awk = awk_text_counter(2, wl, self.evname)
        rep = Proc(["bash", "-c", f"trace-cmd report -i {self.dat} 2>/dev/null | awk '{awk}'"],
                   "trace-cmd report", out=e.out(f"{self.inst}.report"))
        rep.wait(600)
        good, other = split_counts(wl, parse_awk_counts(rep.text()))
        notes += other_note(other)
        notes.append(f"report {rep.cpu():.2f} s CPU")
        if self.group:
            e.tfs.remove_probe(self.group, "connect")
        try:
            os.unlink(self.dat)
        except OSError:
            pass
        return {"counted": good, "seen": good + sum(other.values()), "lost": st["lost"], "recorded": st["recorded"],
                "cpu_end": cpu_rec + rep.cpu(),
                "rss_kib": max(rss, rep.maxrss_kib() or 0), "notes": notes}


class TraceCmdStream(TraceCmd):
    """trace-cmd stream | awk: the live way to count with trace-cmd."""
    name = "trace-cmd stream|awk"
    key = "tc-stream"
    # It does not read what is still buffered when it is stopped: a rate
    # step passes with no kernel loss and at most 1% short.
    exact_at_stop = False

    def start(self, wl, gen):
        e = self.env
        self.inst = e.fresh("ts")
        self.group = None
        ev, self.evname = self.event_of(wl)
        on_cleanup(f"remove trace-cmd's instance {self.inst}", lambda i=self.inst: e.tfs.remove_instance(i))
        filt = gen_filter(wl, gen)
        f = f" -f '{filt}'" if filt else ""
        awk = awk_text_counter(1, wl, self.evname)
        cmd = f"trace-cmd stream {' '.join(self.opts)} -B {self.inst} -e {ev}{f} | awk '{awk}'"
        self.p = Proc(["bash", "-c", cmd], self.name, out=e.out(f"{self.inst}.out"),
                      err=e.out(f"{self.inst}.err"))
        self.wait_enabled(ev)

    def finish(self, wl, gen):
        e = self.env
        tfs = e.tfs
        st = self.wait_settled()
        rss = self.p.tree_hwm_kib()
        # Ctrl-C for trace-cmd only, so that awk sees EOF and prints its END;
        # again if it missed it, then SIGTERM, still to trace-cmd alone.
        for sig in (signal.SIGINT, signal.SIGINT, signal.SIGTERM):
            tc = [pid for pid in self.p.tree() if proc_comm(pid) == "trace-cmd"]
            self.p.send(sig, tc)
            if self.p.wait(10):
                break
        else:
            self.p.kill()
        good, other = split_counts(wl, parse_awk_counts(self.p.text()))
        notes = other_note(other)
        if self.p.exit_code() != 0 or self.p.text("err").strip():
            notes.append(f"exit {self.p.exit_code()}: {self.stderr_note(self.p.text('err'))}")
        if "DROPPED" in self.p.text("err"):
            notes.append("printed [EVENTS DROPPED]")
        if os.path.isdir(tfs.path("instances", self.inst)):
            notes.append("it left its instance behind (removed by us)")
        tfs.remove_instance(self.inst)
        if self.group:
            tfs.remove_probe(self.group, "connect")
        return {"counted": good, "seen": good + sum(other.values()), "lost": st["lost"], "recorded": st["recorded"],
                "cpu_end": self.p.cpu(), "rss_kib": rss, "notes": notes}


# ---------------------------------------------------------------- perf-tools

class PerfTools:
    """perf-tools' tpoint / uprobe scripts piped into awk. They use the
    top-level (global) buffer by their nature: run only when nobody else
    uses it, and its state is put back afterwards."""
    name = "perf-tools+awk"
    key = "perf-tools"
    LOCK = "/var/tmp/.ftrace-lock"

    def __init__(self, env):
        self.env = env
        self.scripts = {}

    def check(self):
        tfs = self.env.tfs
        for s in ("tpoint-perf", "uprobe-perf"):
            path = shutil.which(s) or f"/usr/sbin/{s}"
            if not os.path.exists(path):
                return f"{s} not installed (perf-tools-unstable)"
            with open(path) as f:
                text = f.read()
            # The scripts look for tracefs under debugfs; where that is not
            # mounted, a copy of the script points at the real tracefs.
            if not os.path.exists("/sys/kernel/debug/tracing/trace_pipe"):
                text = text.replace("tracing=/sys/kernel/debug/tracing", f"tracing={tfs.root}", 1)
                self.patched = True
            dst = self.env.out(s)
            with open(dst, "w") as f:
                f.write(text)
            os.chmod(dst, 0o755)
            self.scripts[s] = dst
        for tool in ("file", "objdump", "ldconfig"):
            if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
                return f"uprobe-perf needs {tool}"
        return self.global_busy()

    def global_busy(self):
        tfs = self.env.tfs
        if os.path.exists(self.LOCK):
            return f"{self.LOCK} exists: another ftrace user holds the global buffer"
        if tfs.read("current_tracer").strip() != "nop":
            return "the global buffer is in use (current_tracer is not nop)"
        if tfs.read("set_event").strip():
            return "the global buffer is in use (events enabled in set_event)"
        if tfs.read("tracing_on").strip() != "1":
            return "global tracing_on is 0 (someone paused the global buffer)"
        return None

    def save_global(self, tp_dir):
        tfs = self.env.tfs
        saved = {"current_tracer": tfs.read("current_tracer").strip(),
                 "tracing_on": tfs.read("tracing_on").strip(),
                 "buffer_size_kb": tfs.read("buffer_size_kb").strip()}
        if tp_dir:
            saved["filter"] = tfs.read(tp_dir, "filter").strip()
            saved["enable"] = tfs.read(tp_dir, "enable").strip()
        return saved

    def restore_global(self, tp_dir, saved):
        """Puts back what the script may have left changed; returns notes."""
        tfs, notes = self.env.tfs, []
        if tp_dir:
            if tfs.read(tp_dir, "enable").strip() != saved["enable"]:
                tfs.write(os.path.join(tp_dir, "enable"), saved["enable"])
                notes.append("re-set the event's enable")
            if saved["filter"] == "none" and tfs.read(tp_dir, "filter").strip() != "none":
                tfs.write(os.path.join(tp_dir, "filter"), "0")
                notes.append("cleared the event's filter")
        for k in ("current_tracer", "tracing_on"):
            if tfs.read(k).strip() != saved[k]:
                tfs.write(k, saved[k])
                notes.append(f"restored {k}")
        if tfs.read("buffer_size_kb").strip() != saved["buffer_size_kb"]:
            notes.append(f"global buffer_size_kb {saved['buffer_size_kb']} -> "
                         f"{tfs.read('buffer_size_kb').strip()} (the kernel expands it on first use)")
        return notes

    def start(self, wl, gen):
        e = self.env
        busy = self.global_busy()
        if busy:
            raise RuntimeError(busy)
        self.uname = None
        if wl is TRACEPOINT:
            self.tp_dir = os.path.join("events", "syscalls", "sys_enter_getpid")
            tool = f"{self.scripts['tpoint-perf']} -p {gen.pid} syscalls:sys_enter_getpid"
            evname = "sys_getpid\\(\\)"  # what the kernel prints for it
        else:
            self.uname = f"kpeb{os.getpid()}_{e.runs}"
            e.runs += 1
            self.tp_dir = None
            tool = f"{self.scripts['uprobe-perf']} 'p:{self.uname} {e.gen_exe}:kpe_bench_target {FETCH}'"
            evname = self.uname + ": "
            on_cleanup(f"remove uprobe uprobes/{self.uname}", lambda u=self.uname: self._remove_uprobe(u))
        self.saved = self.save_global(self.tp_dir)
        self.restore_entry = on_cleanup("restore the global tracing state",
                                        lambda d=self.tp_dir, sv=self.saved: self.restore_global(d, sv))
        tag = e.fresh("pt")
        awk = awk_text_counter(1, wl, evname)
        self.p = Proc(["bash", "-c", f"{tool} 2>{e.out(tag + '.err')} | awk '{awk}'"], self.name,
                      out=e.out(f"{tag}.out"))
        on_cleanup("remove perf-tools' lock if ours", self._remove_lock)

        def reading():
            if not self.p.alive():
                return True
            return any(proc_comm(pid) == "cat" for pid in self.p.tree())
        if not wait_for(reading, 20) or not self.p.alive():
            raise RuntimeError("perf-tools script did not start: " + open(e.out(tag + ".err")).read()[-300:])
        self.err_path = e.out(tag + ".err")
        time.sleep(0.3)

    def _remove_uprobe(self, uname):
        tfs = self.env.tfs
        if tfs.probe_defined("uprobes", uname):
            try:
                tfs.write(os.path.join("events", "uprobes", uname, "enable"), "0")
            except OSError:
                pass
            tfs.remove_probe("uprobes", uname)

    def _remove_lock(self):
        # The script writes its PID there; remove it only if that PID was ours.
        try:
            with open(self.LOCK) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return
        f = _stat_fields(pid)
        if f is None or int(f[3]) == self.p.pid:
            if not self.p.alive():
                os.unlink(self.LOCK)

    def cpu_now(self):
        return self.p.tree_cpu()

    def finish(self, wl, gen):
        tfs = self.env.tfs
        tfs.wait_drained(None, timeout=60)
        # The script cleared the global buffer at its start, so these are
        # the stats of this run.
        st = tfs.stats(None)
        rss = self.p.tree_hwm_kib()
        # Ctrl-C as the script expects it: its `cat trace_pipe` ends, the
        # script disables tracing and exits, awk sees EOF and prints.
        cats = [pid for pid in self.p.tree() if proc_comm(pid) == "cat"]
        self.p.send(signal.SIGINT, cats)
        if not self.p.wait(30):
            self.p.kill()
        good, other = split_counts(wl, parse_awk_counts(self.p.text()))
        notes = other_note(other)
        notes.append("global buffer (script's nature)")
        if getattr(self, "patched", False):
            notes.append("script's tracing= pointed at tracefs (no debugfs)")
        self._remove_lock()
        if self.uname:
            self._remove_uprobe(self.uname)
        notes += self.restore_global(self.tp_dir, self.saved)
        drop_cleanup(self.restore_entry)
        return {"counted": good, "seen": good + sum(other.values()), "lost": st["lost"], "recorded": st["recorded"],
                "cpu_end": self.p.cpu(), "rss_kib": rss, "notes": notes}


# ---------------------------------------------------------------- bpftrace

class Bpftrace:
    """bpftrace counting in the kernel with a map: no text at all."""
    name = "bpftrace (map)"
    key = "bpftrace"

    def __init__(self, env):
        self.env = env

    def check(self):
        return None if shutil.which("bpftrace") else "bpftrace not installed"

    def start(self, wl, gen):
        e = self.env
        tag = e.fresh("bt")
        if wl is TRACEPOINT:
            prog = f"tracepoint:syscalls:sys_enter_getpid /pid == {gen.pid}/ {{ @c[comm] = count(); }}\n"
        else:
            prog = (f"uprobe:{e.gen_exe}:kpe_bench_target {{ @c[comm, ntop(2, *(uint32 *)(arg1 + 4)), "
                    f"bswap(*(uint16 *)(arg1 + 2))] = count(); }}\n")
        # BEGIN runs before the other probes are attached; a timer that fires
        # once they are says when we may start.
        prog += 'interval:ms:100 { if (@r == 0) { printf("ready\\n"); } @r = 1; }\n'
        path = e.out(tag + ".bt")
        with open(path, "w") as f:
            f.write(prog)
        self.p = Proc(["bpftrace", path], self.name, out=e.out(tag + ".out"), err=e.out(tag + ".err"))
        if not wait_for(lambda: "ready" in self.p.text() or not self.p.alive(), 60) or not self.p.alive():
            err = [l for l in self.p.text("err").splitlines() if "RLIMIT_MEMLOCK" not in l]
            raise RuntimeError("bpftrace did not attach: " + " / ".join(err)[-400:])

    def cpu_now(self):
        return self.p.tree_cpu()

    def finish(self, wl, gen):
        rss = self.p.tree_hwm_kib()
        self.p.send(signal.SIGINT)
        if not self.p.wait(30):
            self.p.kill()
        good, other = 0, {}
        for m in re.finditer(r"^@c\[(.*)\]: (\d+)$", self.p.text(), re.M):
            key, v = m.group(1), int(m.group(2))
            if (wl is TRACEPOINT and key == GEN_COMM) or (wl is UPROBE and key == f"{GEN_COMM}, 127.0.0.1, 25"):
                good += v
            else:
                other[key] = other.get(key, 0) + v
        lost = sum(int(x) for x in re.findall(r"Lost (\d+) events", self.p.text() + self.p.text("err")))
        notes = other_note(other) + ["counts in the kernel: its per-event cost is in the generator's sys time"]
        return {"counted": good, "seen": good + sum(other.values()), "lost": lost, "recorded": None, "cpu_end": self.p.cpu(), "rss_kib": rss,
                "notes": notes}


class KpeText(Kpe):
    """The same daemon with --tracefs.reader=text (trace_pipe)."""
    name = "kprobe-exporter (text reader)"
    key = "kpe-text"
    reader_args = ["--tracefs.reader=text"]

    def __init__(self, env):
        super().__init__(env)
        self.inst = f"kpe_bench_text_{os.getpid()}"


ALL = [Reader, Kpe, KpeText, TraceCmd, TraceCmdStream, PerfTools, Bpftrace]
