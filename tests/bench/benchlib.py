"""Helpers of the benchmark harness (tests/bench/bench.py): processes we
start and measure, tracefs instances and probes we create and remove, and
kprobe-exporter's /metrics.

Rules kept here, because tracefs is shared with everyone on the machine:
probe files are only ever appended to (never truncated); only instances,
probes and processes this run created are removed or signalled, by name or
PID; everything is undone by run_cleanup(), which bench.py calls on every
exit path."""

import errno
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

CLK = os.sysconf("SC_CLK_TCK")
_cleanups = []


def on_cleanup(desc, fn):
    """Registers fn to run at exit (last registered runs first)."""
    entry = (desc, fn)
    _cleanups.append(entry)
    return entry


def drop_cleanup(entry):
    if entry in _cleanups:
        _cleanups.remove(entry)


def run_cleanup():
    while _cleanups:
        desc, fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep undoing the rest
            print(f"# cleanup: {desc}: {e}", flush=True)


def log(msg):
    print(f"# {msg}", flush=True)


def find_tracefs():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "tracefs":
                return parts[1]
    if os.path.exists("/sys/kernel/debug/tracing/uprobe_events"):
        return "/sys/kernel/debug/tracing"
    return None


def uprobe_tracefs():
    """The tracefs root a uprobe bench can use, or (None, why) to skip:
    root, a mounted tracefs with instances, uprobe_events writable."""
    if os.geteuid() != 0:
        return None, "not root (tracefs needs uid 0)"
    root = find_tracefs()
    if not root or not os.path.isdir(os.path.join(root, "instances")):
        return None, "no tracefs mounted"
    if not os.access(os.path.join(root, "uprobe_events"), os.W_OK):
        return None, "no uprobe_events"
    return root, None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- processes

def _stat_fields(pid):
    """Fields of /proc/PID/stat after the comm, or None if it is gone.
    Index 0 is the state, 1 ppid, 3 session, 11 utime, 12 stime,
    13 cutime, 14 cstime."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()


def _all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def machine_busy_secs():
    """CPU seconds all cores of the machine have spent not idle (nor
    waiting for I/O) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal
    return (sum(v) - v[3] - v[4]) / CLK


def proc_runtime_secs(pid):
    """On-CPU seconds of the threads of pid alive now (user+sys, to the ns:
    /proc/PID/task/TID/schedstat), or None if it is gone."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Proc:
    """A process we start in a session of its own, so that its whole tree
    (pipelines, trace-cmd's recorders) can be found, measured and stopped
    by PID. CPU is user+sys from the OS: /proc/PID/stat while it runs,
    wait4()'s rusage of the tree once it ended."""

    def __init__(self, argv, name, out=None, err=None, stdin=None, stdout=None):
        self.name = name
        self.out_path, self.err_path = out, err
        self._out = open(out, "wb") if out else subprocess.DEVNULL
        self._err = open(err, "wb") if err else subprocess.DEVNULL
        self.p = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else self._out,
                                  stderr=self._err, start_new_session=True)
        self.pid = self.p.pid
        self.status = None
        self.rusage = None
        self._cleanup = on_cleanup(f"stop {name} (pid {self.pid})", self.kill)

    def tree(self):
        """PIDs of the process and its descendants (its session)."""
        pids = []
        for pid in _all_pids():
            f = _stat_fields(pid)
            if f and int(f[3]) == self.pid and f[0] != "Z":
                pids.append(pid)
        return pids

    def tree_cpu(self):
        """CPU seconds used so far by the tree, reaped children included."""
        total = 0
        for pid in self.tree():
            f = _stat_fields(pid)
            if f:
                total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
        return total / CLK

    def tree_hwm_kib(self):
        """Sum of the peak RSS (VmHWM) of the processes of the tree alive now."""
        return sum(proc_status_kib(pid, "VmHWM") or 0 for pid in self.tree())

    def alive(self):
        return self.status is None and self._poll()

    def _poll(self):
        if self.status is not None:
            return False
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.status = -1
            return False
        if pid == 0:
            return True
        self.status, self.rusage = status, ru
        self.p.returncode = os.waitstatus_to_exitcode(status)
        for fh in (self._out, self._err):
            if hasattr(fh, "close"):
                fh.close()
        drop_cleanup(self._cleanup)
        return False

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while self._poll():
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def exit_code(self):
        return None if self.status is None or self.status == -1 else os.waitstatus_to_exitcode(self.status)

    def cpu(self):
        """user+sys of the ended tree (its waited-for descendants included)."""
        return self.rusage.ru_utime + self.rusage.ru_stime if self.rusage else None

    def maxrss_kib(self):
        return self.rusage.ru_maxrss if self.rusage else None

    def send(self, sig, pids=None):
        for pid in pids if pids is not None else [self.pid]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.alive():
            self.send(sig)
            if not self.wait(timeout):
                self.kill()
        return self.exit_code()

    def kill(self):
        """SIGTERM, then SIGKILL, to every process of the tree, by PID."""
        if not self.alive():
            return
        self.send(signal.SIGTERM, self.tree())
        if not self.wait(3):
            self.send(signal.SIGKILL, self.tree())
            self.wait(3)

    def text(self, which="out"):
        path = self.out_path if which == "out" else self.err_path
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            return None
        time.sleep(step)


def perf_summary(data, limit=1.5, lines=25):
    """perf report of a perf record file: self time by object, then the
    symbols above limit percent."""
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                          "--percent-limit", str(limit), "-g", "none"], capture_output=True, text=True)
    syms = [l.rstrip(" -") for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
    dso = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso", "-g", "none"],
                         capture_output=True, text=True)
    split = [l.strip() for l in dso.stdout.splitlines() if l.strip() and not l.startswith("#")]
    return ("by object: " + "; ".join(split[:4]) + "\n" + "\n".join(syms[:lines])) or rep.stderr[-500:]


# ---------------------------------------------------------------- generator

class Gen:
    """kpe-bench-gen started with --wait: its pid is known (for filters)
    before its first event; go() starts it."""

    def __init__(self, exe, mode, n, rate=0, labels=1):
        argv = [exe, mode, str(n), "--wait"]
        if rate:
            argv += ["--rate", str(int(rate))]
        if labels != 1:
            argv += ["--labels", str(labels)]
        self.n = n
        self.proc = Proc(argv, "generator", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.p.stdout.readline().decode()
        m = re.match(r"pid (\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"generator did not start: {line!r}")
        self.pid = int(m.group(1))
        self.t_go = None

    def go(self):
        self.t_go = time.monotonic()
        self.proc.p.stdin.write(b"go\n")
        self.proc.p.stdin.flush()

    def finish(self, timeout=600):
        if not self.proc.wait(timeout):
            self.proc.kill()
            raise RuntimeError("generator did not finish")
        out = self.proc.p.stdout.read().decode()
        m = re.search(r"generated (\d+) in ([0-9.]+) s", out)
        if not m or self.proc.exit_code() != 0:
            raise RuntimeError(f"generator failed: {out!r}")
        secs = float(m.group(2))
        ru = self.proc.rusage
        return {"n": int(m.group(1)), "secs": secs, "rate": int(m.group(1)) / secs if secs > 0 else 0,
                "user": ru.ru_utime, "sys": ru.ru_stime}

    def kill(self):
        self.proc.kill()


# ---------------------------------------------------------------- tracefs

class Tracefs:
    def __init__(self, root):
        self.root = root

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def read(self, *parts):
        with open(self.path(*parts)) as f:
            return f.read()

    def write(self, rel, text, append=False):
        """Writes a control file. O_APPEND for probe lists: never O_TRUNC,
        which would delete every probe on the system."""
        flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_APPEND if append else 0)
        fd = os.open(self.path(rel), flags)
        try:
            os.write(fd, (text + "\n").encode())
        finally:
            os.close(fd)

    def stats(self, inst=None):
        """Sums of the per-CPU ring buffer stats of an instance (None: the
        top-level buffer)."""
        base = self.path("instances", inst) if inst else self.root
        tot = {"entries": 0, "overrun": 0, "commit overrun": 0, "dropped events": 0, "read events": 0}
        pc = os.path.join(base, "per_cpu")
        for cpu in sorted(os.listdir(pc)):
            try:
                with open(os.path.join(pc, cpu, "stats")) as f:
                    for line in f:
                        k, _, v = line.partition(":")
                        if k in tot:
                            tot[k] += int(v.split()[0])
            except OSError:
                continue
        # What the kernel wrote (entries still buffered + overwritten + read)
        # and what it lost (overwritten + not written because full).
        tot["recorded"] = tot["entries"] + tot["overrun"] + tot["read events"]
        tot["lost"] = tot["overrun"] + tot["dropped events"]
        return tot

    def make_instance(self, name, options=True):
        """Creates instances/NAME with the options kprobe-exporter sets on its
        own, so that the kernel prints the same text."""
        os.mkdir(self.path("instances", name))
        entry = on_cleanup(f"remove instance {name}", lambda: self.remove_instance(name))
        if options:
            for opt, val in (("record-tgid", 1), ("irq-info", 0), ("context-info", 1), ("latency-format", 0),
                             ("raw", 0), ("hex", 0), ("bin", 0), ("sym-userobj", 0), ("fields", 0)):
                p = os.path.join("instances", name, "options", opt)
                if os.path.exists(self.path(p)):
                    self.write(p, str(val))
        return entry

    def remove_instance(self, name):
        d = self.path("instances", name)
        if not os.path.isdir(d):
            return
        # Disable what we enabled there first; a just-closed pipe may keep
        # it busy for a moment.
        try:
            self.write(os.path.join("instances", name, "events", "enable"), "0")
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(d)
                return
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise
                time.sleep(0.1)
        raise RuntimeError(f"could not rmdir {d}")

    def enable(self, inst, event, filt=None):
        base = os.path.join("instances", inst, "events", event) if inst else os.path.join("events", event)
        if filt:
            self.write(os.path.join(base, "filter"), filt)
        self.write(os.path.join(base, "enable"), "1")

    def add_uprobe(self, group, event, target, args):
        self.write("uprobe_events", f"p:{group}/{event} {target} {args}".rstrip(), append=True)
        return on_cleanup(f"remove uprobe {group}/{event}", lambda: self.remove_probe(group, event))

    def probe_defined(self, group, event):
        for f in ("uprobe_events", "kprobe_events"):
            try:
                for line in self.read(f).splitlines():
                    if re.match(rf"^[pr][0-9]*:{re.escape(group)}/{re.escape(event)} ", line):
                        return True
            except OSError:
                pass
        return False

    def remove_probe(self, group, event):
        if not self.probe_defined(group, event):
            return
        for _ in range(50):
            try:
                self.write("uprobe_events", f"-:{group}/{event}", append=True)
                return
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                time.sleep(0.1)
        raise RuntimeError(f"could not remove probe {group}/{event} (busy)")

    def wait_drained(self, inst, timeout=60, grace=0.3):
        """Waits until the instance's buffers hold no unread event, then
        grace seconds more for the reader to finish its last buffer."""
        ok = wait_for(lambda: self.stats(inst)["entries"] == 0, timeout, 0.05)
        time.sleep(grace)
        return bool(ok)


# ---------------------------------------------------------------- /metrics

_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def curl_times(url, count, headers=(), pause=0.0):
    """count sequential GETs of url with curl (pause seconds before each):
    the seconds of those answered 200, and the size of the last."""
    times, size = [], 0
    hdr = [a for h in headers for a in ("-H", h)]
    for _ in range(count):
        if pause:
            time.sleep(pause)
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download} %{http_code}"] +
                             hdr + [url], capture_output=True, text=True, timeout=30).stdout.split()
        if len(out) == 3 and out[2] == "200":
            times.append(float(out[0]))
            size = int(float(out[1]))
    return times, size


def parse_metrics(text):
    """name -> list of (labels dict, value)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_:][\w:]*)(\{.*\})?\s+(\S+)", line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out.setdefault(m.group(1), []).append((labels, v))
    return out


def metric(ms, name, **want):
    """Sum of the series of name whose labels include want."""
    tot = 0.0
    for labels, v in ms.get(name, []):
        if all(labels.get(k) == str(w) for k, w in want.items()):
            tot += v
    return tot


def run_main(main):
    """Runs main() with SIGTERM and SIGHUP as an interrupt and the cleanups
    registered with at_cleanup run whatever happens; exits with its status."""
    import sys

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    rc = 1
    try:
        rc = main()
    except KeyboardInterrupt:
        print("# interrupted", flush=True)
        rc = 130
    finally:
        run_cleanup()
    sys.exit(rc)
