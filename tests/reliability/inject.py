#!/usr/bin/env python3
"""Fault injector of the reliability matrix, run by site.lua just before a step of the procedure.

  inject.py TESTBED_DIR STEP FAULT --pid PID --record FILE

FAULT is one of: 500, 429, drop, delay, apistop, sigkill, sigint, pgint, closeout, second. API faults hit the
step's first mutating request (see TARGETS). sigkill/sigint hold that request at the API server (a 3 s delay) and
send the signal while it is held, so the mutation lands after the tool is gone (an indefinite outcome); pgint does
the same with SIGINT to the tool's whole process group (a Ctrl-C on a terminal: the `tee` its output is piped
into gets it too). closeout only records that the output's reader should close it now (the harness does).
apistop freezes the testbed daemon (API server, kubelets, operator; the etcd processes keep running) for
APISTOP_SECONDS.
second stops (SIGSTOP) the etcd of another node. Timed parts run in a detached child so the hook returns at once.
What was done is appended to FILE as JSON lines (the harness undoes SIGSTOPs from it)."""
import argparse
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "testbed"))
import tbconfig  # noqa: E402
import tbstatus  # noqa: E402

# The first mutating request of each step: (method, path regex; the query string is part of the path).
TARGETS = {
    "backup": ("GET", r"/pods/etcd-[^/]+/exec\?.*command=snapshot"),
    "stop-pod": ("GET", r"/exec\?.*command=mv(&|$)"),
    "remove-member": ("GET", r"/exec\?.*command=remove(&|$)"),
    "open-quorum-gate": ("PATCH", r"/etcds/cluster"),
    "delete-secrets": ("DELETE", r"/namespaces/[^/]+/secrets/"),
    "force-redeploy": ("PATCH", r"/etcds/cluster"),
    "restore-overrides": ("PATCH", r"/etcds/cluster"),
}
DELAY_PAST_TIMEOUT = 65.0   # the REST client's request timeout is 60 s (bindings/http.c)
HOLD = 3.0                  # how long a request is held while a signal is sent
APISTOP_SECONDS = 20.0


def record(path, **kw):
    kw["t"] = time.time()
    with open(path, "a") as f:
        f.write(json.dumps(kw) + "\n")


def add_fault(layout, step, **kw):
    method, regex = TARGETS[step]
    body = {"method": method, "path": regex, "status": None, "retry_after": None, "delay": None,
            "drop": False, "count": 1}
    body.update(kw)
    return tbstatus.api_request(layout, "POST", "/testbed/faults", body)


def detach():
    """Forks; returns True in the detached child (which must end with os._exit)."""
    if os.fork() != 0:
        return False
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    return True


def signal_when_held(layout, step, pid, sig, rec, group=False):
    """Holds the step's request at the server; once the server has taken it, signals pid (or its process group)."""
    add_fault(layout, step, delay=HOLD)
    if not detach():
        return
    try:
        end = time.monotonic() + 600
        while time.monotonic() < end:
            faults = tbstatus.api_request(layout, "GET", "/testbed/faults").get("faults", [])
            if not faults:
                break
            time.sleep(0.05)
        time.sleep(HOLD / 3)
        record(rec, action="signal", signal=int(sig), pid=pid, held=not faults, group=group)
        if group:
            os.killpg(os.getpgid(pid), sig)
        else:
            os.kill(pid, sig)
    finally:
        os._exit(0)


def apistop(layout, rec):
    with open(layout.pidfile) as f:
        daemon = int(f.read().strip())
    os.kill(daemon, signal.SIGSTOP)
    record(rec, action="sigstop", pid=daemon, what="testbed daemon")
    if not detach():
        return
    try:
        time.sleep(APISTOP_SECONDS)
        os.kill(daemon, signal.SIGCONT)
        record(rec, action="sigcont", pid=daemon)
    finally:
        os._exit(0)


def second(layout, step, rec):
    cfg = tbconfig.load(layout)
    target = os.environ.get("RB_NODE")
    for name in cfg["names"]:
        if name == target:
            continue
        with open(os.path.join(layout.kubelet_dir(name), "etcd.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGSTOP)
        record(rec, action="sigstop", pid=pid, what="etcd of " + name, node=name)
        return
    raise SystemExit("inject: no other node")


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("step")
    p.add_argument("fault")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--record", required=True)
    a = p.parse_args(argv)
    layout = tbconfig.Layout(a.dir)
    f = a.fault
    if f == "500":
        add_fault(layout, a.step, status=500)
    elif f == "429":
        add_fault(layout, a.step, status=429, retry_after=1)
    elif f == "drop":
        add_fault(layout, a.step, drop=True)
    elif f == "delay":
        add_fault(layout, a.step, delay=DELAY_PAST_TIMEOUT)
    elif f in ("sigkill", "sigint"):
        signal_when_held(layout, a.step, a.pid, signal.SIGKILL if f == "sigkill" else signal.SIGINT, a.record)
        return 0
    elif f == "pgint":
        signal_when_held(layout, a.step, a.pid, signal.SIGINT, a.record, group=True)
        return 0
    elif f == "closeout":
        record(a.record, action="closeout", step=a.step)
        return 0
    elif f == "apistop":
        apistop(layout, a.record)
        return 0
    elif f == "second":
        second(layout, a.step, a.record)
        return 0
    else:
        raise SystemExit("inject: unknown fault %r" % f)
    record(a.record, action="fault", fault=f, step=a.step)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
