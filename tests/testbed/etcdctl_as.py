#!/usr/bin/env python3
"""etcdctl as another etcd release prints it: runs the real etcdctl (3.4.23, the testbed's) and reshapes what it
prints where that release prints something else. The etcd pods of a profile whose etcd is not 3.4.23 run this
(execs.py puts it first in their PATH as `etcdctl`), so the tool reads real 3.5 shapes through exec.

What changes, checked against real output (../shared/realdata: 4.8's etcdctl 3.4.14, 4.9's etcdctl 3.5.0):
- the version etcd reports (`endpoint status` in every output format, `etcdctl version`) is VERSION;
- 3.5: `alarm list -w json` starts with the answering member's response header ({"header":{cluster_id,
  member_id, revision, raft_term}}, then "alarms" when there are some), where 3.4 prints only the alarms ({}).
Every other command runs the real etcdctl unchanged (exec, streams untouched).

Usage: etcdctl_as.py VERSION ETCDCTL [ARG...]"""
import json
import os
import subprocess
import sys

REAL = "3.4.23"


def words(args):
    """The command words (alarm list), leaving out flags and their values given as --flag=value or -w json."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("-w", "--write-out"):
            skip = True
        elif not a.startswith("-"):
            out.append(a)
    return out


def json_output(args):
    for i, a in enumerate(args):
        if a in ("-w", "--write-out") and i + 1 < len(args):
            return args[i + 1] == "json"
        if a.startswith(("-w=", "--write-out=")):
            return a.split("=", 1)[1] == "json"
    return False


def run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def header(etcdctl, flags):
    """The response header of the first member that answers `endpoint status` with these flags, or None."""
    r = run([etcdctl, "endpoint", "status", "-w", "json"] + flags)
    try:
        return next(e["Status"]["header"] for e in json.loads(r.stdout) if e.get("Status"))
    except (ValueError, StopIteration, KeyError, TypeError):
        return None


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: etcdctl_as.py VERSION ETCDCTL [ARG...]\n")
        return 2
    version, etcdctl, args = argv[1], argv[2], argv[3:]
    cmd = words(args)[:2]
    if cmd not in (["endpoint", "status"], ["version"], ["alarm", "list"]):
        os.execv(etcdctl, [etcdctl] + args)
    r = run([etcdctl] + args)
    out = r.stdout
    if cmd == ["alarm", "list"] and version.startswith("3.5.") and json_output(args) and r.returncode == 0:
        doc = json.loads(out, object_pairs_hook=dict)
        flags = [a for a in args if a.startswith("-") and a not in ("-w", "--write-out", "json")
                 and not a.startswith(("-w=", "--write-out="))]
        hdr = header(etcdctl, flags)
        if hdr is not None:
            out = (json.dumps(dict({"header": hdr}, **doc), separators=(",", ":")) + "\n").encode()
    elif cmd != ["alarm", "list"]:
        api = ".".join(version.split(".")[:2]).encode()
        out = out.replace(REAL.encode(), version.encode())
        if cmd == ["version"]:
            out = out.replace(b"API version: 3.4", b"API version: " + api)
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(r.stderr)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
