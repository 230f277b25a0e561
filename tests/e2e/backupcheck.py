#!/usr/bin/env python3
"""Assertions on a backup directory against `testbed status` (the truth), for tests/e2e/backup_test.sh and the
procedure's tests. Exit 0 when the assertion holds; otherwise the reason on stderr and exit 1.

  backupcheck.py pair STATUS DIR [--dirty]   DIR holds exactly one snapshot_*.db and one static_kuberesources_*.tar.gz
                                             of the same stamp (marked __POSSIBLY_DIRTY__ iff --dirty), both mode
                                             0600; `etcdctl snapshot status` accepts the snapshot; the tarball lists
                                             static-pod-resources/<component>-pod-<N>/ of the four components at the
                                             revision their pods show in STATUS; nothing else looks like a backup
  backupcheck.py count DIR                   prints how many snapshot_*.db DIR holds
  backupcheck.py incomplete DIR              no file of DIR looks like a finished backup (a run cut short)
  backupcheck.py node-pair STATUS DIR ROOT   as pair, for the copies under the node's root ROOT (DIR on the node)"""
import glob
import json
import os
import re
import stat
import subprocess
import sys
import tarfile

COMPONENTS = {"kube-apiserver": "openshift-kube-apiserver", "kube-controller-manager": "openshift-kube-controller-manager",
              "kube-scheduler": "openshift-kube-scheduler", "etcd": "openshift-etcd"}
DIRTY = "__POSSIBLY_DIRTY__"


class Failed(Exception):
    pass


def pod_revisions(status):
    """{component: revision} from the static pods in STATUS (every pod of a component at one revision)."""
    out = {}
    for comp, ns in COMPONENTS.items():
        revs = {p["revision"] for p in status["pods"] if p["namespace"] == ns and p.get("revision")
                and p["name"].startswith(("etcd-", "kube-", "openshift-kube-")) and "guard" not in p["name"]}
        if len(revs) != 1:
            raise Failed("%s pods show revisions %s, want one" % (comp, sorted(revs)))
        out[comp] = int(revs.pop())
    return out


def one(pattern):
    found = sorted(glob.glob(pattern))
    if len(found) != 1:
        raise Failed("%d files match %s: %s" % (len(found), pattern, found))
    return found[0]


def snapshot_status(path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ETCDCTL_API": "3"}
    r = subprocess.run(["etcdctl", "snapshot", "status", path, "-w", "json"], env=env, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise Failed("etcdctl snapshot status %s: %s" % (path, r.stderr.strip()))
    return json.loads(r.stdout)


def pair(status_file, d, dirty):
    with open(status_file) as f:
        status = json.load(f)
    snap = one(os.path.join(d, "snapshot_*.db"))
    tar = one(os.path.join(d, "static_kuberesources_*.tar.gz"))
    stamp = re.match(r"snapshot_(\d{4}-\d\d-\d\d_\d{6})(%s)?\.db$" % DIRTY, os.path.basename(snap))
    if not stamp:
        raise Failed("%s is not named snapshot_<%%F_%%H%%M%%S>.db" % snap)
    if bool(stamp.group(2)) != dirty:
        raise Failed("%s: dirty marking %s, want %s" % (snap, bool(stamp.group(2)), dirty))
    if os.path.basename(tar) != "static_kuberesources_%s%s.tar.gz" % (stamp.group(1), stamp.group(2) or ""):
        raise Failed("%s is not the tarball of %s" % (tar, snap))
    for p in (snap, tar):
        mode = stat.S_IMODE(os.stat(p).st_mode)
        if mode != 0o600:
            raise Failed("%s has mode %o, want 600" % (p, mode))
    snapshot_status(snap)
    with tarfile.open(tar, "r:gz") as t:
        names = {n.rstrip("/") for n in t.getnames()}
    for comp, rev in pod_revisions(status).items():
        want = "static-pod-resources/%s-pod-%d" % (comp, rev)
        if want not in names or "%s/%s-pod.yaml" % (want, comp) not in names:
            raise Failed("%s lacks %s/ (its pods show revision %d)" % (tar, want, rev))
        others = {n.split("/")[1] for n in names if n.startswith("static-pod-resources/%s-pod-" % comp)}
        if others != {"%s-pod-%d" % (comp, rev)}:
            raise Failed("%s holds other revisions of %s: %s" % (tar, comp, sorted(others)))
    hidden = [n for n in os.listdir(d) if n.startswith(".")]
    if hidden:
        raise Failed("left in %s: %s" % (d, hidden))


def incomplete(d):
    done = glob.glob(os.path.join(d, "snapshot_*.db")) + glob.glob(os.path.join(d, "static_kuberesources_*.tar.gz"))
    if done:
        raise Failed("a cut run left files that look complete: %s" % done)


def main(argv):
    try:
        if argv[0] == "pair":
            pair(argv[1], argv[2], "--dirty" in argv[3:])
        elif argv[0] == "node-pair":
            pair(argv[1], argv[3] + argv[2], "--dirty" in argv[4:])
        elif argv[0] == "count":
            print(len(glob.glob(os.path.join(argv[1], "snapshot_*.db"))))
        elif argv[0] == "incomplete":
            incomplete(argv[1])
        else:
            raise Failed("unknown command %s" % argv[0])
    except (Failed, OSError, tarfile.TarError, ValueError, subprocess.TimeoutExpired) as e:
        sys.stderr.write("backupcheck: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
