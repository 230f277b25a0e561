"""bench/benchlib.py: timing, statistics and the results table for bench/run (Python 3 standard library).

Two timers: hyperfine (short commands, many runs, --export-json) and measure() (one child process:
wall time from a monotonic clock, CPU time and peak RSS from wait4's rusage, which includes the child's
own waited-for children, so a shell script's figure covers every kubectl it ran)."""
import json
import os
import shlex
import statistics
import subprocess
import tempfile
import time


class BenchError(Exception):
    pass


class Sample:
    """One child process run: wall and CPU seconds, peak RSS in KiB, exit status, captured output."""

    def __init__(self, wall, cpu, rss_kib, status, out, err):
        self.wall, self.cpu, self.rss_kib, self.status, self.out, self.err = wall, cpu, rss_kib, status, out, err


def measure(argv, env=None, timeout=1800, stdin=subprocess.DEVNULL):
    """Runs argv to its end (killed after timeout seconds) and returns a Sample."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=out, stderr=err, start_new_session=True)
        status, ru = None, None
        while status is None:
            pid, st, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                status = os.waitstatus_to_exitcode(st)
                break
            if time.monotonic() - t0 > timeout:
                os.killpg(p.pid, 9)
                _, st, ru = os.wait4(p.pid, 0)
                status = -9
                break
            time.sleep(0.002)
        wall = time.monotonic() - t0
        p.returncode = status
        out.seek(0)
        err.seek(0)
        return Sample(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, status,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"))


class Stat:
    """Several values of one measure: median, min, max (seconds, KiB, ... as given)."""

    def __init__(self, values):
        if not values:
            raise BenchError("no values")
        self.values = sorted(values)
        self.median = statistics.median(self.values)
        self.min, self.max = self.values[0], self.values[-1]
        self.n = len(self.values)

    def ms(self):
        return "%s ms (%s–%s, n=%d)" % (fmt_ms(self.median), fmt_ms(self.min), fmt_ms(self.max), self.n)

    def s(self):
        return "%.2f s (%.2f–%.2f, n=%d)" % (self.median, self.min, self.max, self.n)


def fmt_ms(seconds):
    ms = seconds * 1000
    return "%.2f" % ms if ms < 10 else "%.1f" % ms if ms < 100 else "%.0f" % ms


def hyperfine(commands, runs, warmup, env, log, shell=False):
    """Runs hyperfine over {name: argv}; returns {name: (Stat of wall seconds, Stat of user+sys seconds)}.
    Commands are run without a shell (-N) unless shell is True. Fails if any command fails."""
    with tempfile.NamedTemporaryFile(suffix=".json") as js:
        argv = ["hyperfine", "--runs", str(runs), "--warmup", str(warmup), "--export-json", js.name,
                "--style", "basic"]
        if not shell:
            argv.append("-N")
        names = list(commands)
        for n in names:
            argv += ["--command-name", n]
        argv += [shlex.join(commands[n]) for n in names]
        p = subprocess.run(argv, env=env, stdout=log, stderr=log, timeout=1800)
        if p.returncode != 0:
            raise BenchError("hyperfine failed (%d) for %s; see the log" % (p.returncode, ", ".join(names)))
        doc = json.load(open(js.name))
    out = {}
    for name, r in zip(names, doc["results"]):
        out[name] = (Stat(r["times"]), Stat([r["user"] + r["system"]]))   # hyperfine gives CPU as a mean
    return out


def ratio(slow, fast):
    """"12.3x" (how many times fast beats slow), from two medians."""
    if fast <= 0:
        return "n/a"
    r = slow / fast
    return "%.0fx" % r if r >= 10 else "%.1fx" % r


class Table:
    """A Markdown table of results: what, etcd-medic, the other tool, ratio, and a note."""

    def __init__(self):
        self.rows = []

    def add(self, what, ours, theirs, ratio_text="", note=""):
        self.rows.append((what, ours, theirs, ratio_text, note))

    def markdown(self):
        head = ["what", "etcd-medic", "etcdctl / kubectl / shell", "ratio", "note"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return "\n".join(lines) + "\n"


def machine():
    """nproc, CPU model, memory, kernel, load average: the lines the results are tied to."""
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "memory": mem, "kernel": os.uname().release,
            "load": "%.2f %.2f %.2f" % os.getloadavg()}


def version_of(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"
