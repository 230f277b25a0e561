"""Invariants of the reliability matrix, judged from `testbed status` (the truth) sampled during a case.

Monitor samples the status about once a second while the tool runs; judge() turns the samples, the state
before the case and the final state into a list of broken invariants (empty: every invariant held)."""
import hashlib
import json
import os
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
TESTBED = os.path.join(HERE, "..", "testbed", "testbed")
NODE_SECRETS = ("etcd-peer-%s", "etcd-serving-%s", "etcd-serving-metrics-%s")


def status(tbdir, timeout=30):
    try:
        out = subprocess.run([TESTBED, "status", tbdir], capture_output=True, timeout=timeout, check=True).stdout
        return json.loads(out)
    except (subprocess.SubprocessError, ValueError):
        return None


def voters(st):
    return [m for m in st["etcd"]["members"] if not m.get("isLearner")]


def healthy_cluster(st, names):
    """The end state the procedure promises: one healthy voting member per node, no learner, pods Ready,
    every node at the latest revision, operator not progressing. Returns (ok, why)."""
    if not st or not st.get("daemon", {}).get("running"):
        return False, "testbed not running"
    ms = st["etcd"].get("members") or []
    if sorted(m.get("name") for m in ms) != sorted(names):
        return False, "members %s" % [m.get("name") for m in ms]
    bad = [m["name"] for m in ms if not m.get("healthy") or m.get("isLearner")]
    if bad:
        return False, "unhealthy or learner: %s" % bad
    pods = [p for p in st["pods"] if p["name"].startswith("etcd-") and p.get("labels", {}).get("app") == "etcd"]
    if len([p for p in pods if p.get("ready")]) != len(names):
        return False, "etcd pods ready %d/%d" % (len([p for p in pods if p.get("ready")]), len(names))
    op = st.get("operator", {})
    latest = op.get("latestAvailableRevision")
    if any(n.get("currentRevision") != latest for n in op.get("nodeStatuses", [])):
        return False, "rollout in progress"
    return True, "healthy"


def node_secret_uids(st, node):
    names = {n % node for n in NODE_SECRETS}
    return {s["name"]: s["uid"] for s in st.get("secrets", []) if s["name"] in names}


def file_digests(root, rel_paths):
    """sha256 of each regular file under the given node-relative paths (files or directories)."""
    out = {}
    for rel in rel_paths:
        top = os.path.join(root, rel.lstrip("/"))
        walk = [(top, [], [""])] if os.path.isfile(top) else os.walk(top)
        for d, _, files in walk:
            for fn in files:
                p = os.path.join(d, fn) if fn else d
                if os.path.isfile(p) and not os.path.islink(p) and not p.endswith(".tmp"):
                    out[os.path.relpath(p, root)] = digest(p)
    return out


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def db_kept(root):
    """The old member's database is kept somewhere on the node other than where the new member lives (on its own
    disk, /var/lib/etcd keeps its place and the old data goes into a directory inside it)."""
    live = os.path.join(root, "var", "lib", "etcd", "member", "snap")
    for d, _, files in os.walk(root):
        if "db" in files and d.endswith(os.path.join("member", "snap")) and d != live:
            return True
    return False


def all_digests(root):
    found = set()
    for d, _, files in os.walk(root):
        for fn in files:
            p = os.path.join(d, fn)
            if os.path.isfile(p) and not os.path.islink(p):
                found.add(digest(p))
    return found


class Monitor:
    """Samples `testbed status` in a thread until stop() (every 2.5 s: a status costs ~0.3 s of CPU)."""

    def __init__(self, tbdir, interval=2.5):
        self.tbdir, self.interval = tbdir, interval
        self.samples, self.failed = [], 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self._t.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            st = status(self.tbdir, timeout=20)
            if st and st.get("etcd", {}).get("members"):
                st["_at"] = time.strftime("%H:%M:%S")   # to line a broken sample up with testbed.log
                self.samples.append(st)
            else:
                self.failed += 1
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(timeout=60)
        return self.samples


def before_state(st, tbdir, node):
    root = os.path.join(tbdir, "nodes", node, "root")
    return {
        "ids": {m["name"]: m["id"] for m in st["etcd"]["members"]},
        "secrets": node_secret_uids(st, node),
        "overrides": st["operator"].get("unsupportedConfigOverrides"),
        # the WAL and the manifest by content; the bolt db by presence (the crash-looping etcd rewrites it)
        "files": file_digests(root, ["/etc/kubernetes/manifests/etcd-pod.yaml", "/var/lib/etcd/member/wal"]),
        "root": root,
    }


def quorum_lost(st, exempt_unhealthy=()):
    """None, or what a sample shows when fewer than a majority of the voting members are healthy."""
    v = voters(st)
    ok = [m for m in v if m.get("healthy") or m.get("name") in exempt_unhealthy]
    if not v or len(ok) >= len(v) // 2 + 1:
        return None
    why = "; ".join("%s: %s" % (m.get("name"), m.get("reason", "unhealthy")) for m in v if m not in ok)
    return "%d of %d voting members healthy (sample at %s; %s)" % (len(ok), len(v), st.get("_at", "the end"), why)


def judge(before, samples, final, node, names, exempt_unhealthy=(), notes=None):
    """Returns the list of broken invariants. exempt_unhealthy: members the fault itself stopped (their
    health is not the tool's doing, so quorum is judged as if they were healthy). Quorum counts as lost when
    two samples in a row (2.5 s apart) or the final one find a majority of voters unhealthy: one sample alone
    also catches a leader election (the operator's rolling restarts cause several, and /health is false on
    every member until a leader is elected) or a probe timing out on a loaded machine. Such single-sample
    dips go to `notes` (a list), so that they are seen without failing the case."""
    broken = []
    notes = [] if notes is None else notes
    dip, confirmed = None, False   # the previous sample's quorum message if it lost quorum; already broken
    orig = before["ids"]
    target_id = orig[node]
    removed = set()
    for st in samples + ([final] if final else []):
        present = {m["id"] for m in st["etcd"]["members"]}
        gone = {i for i in orig.values() if i not in present}
        removed |= gone
        if len(gone) > 1:
            broken.append("more than one member removed at once: %s" % sorted(gone))
        lost = quorum_lost(st, exempt_unhealthy)
        if lost and (dip or st is final):
            broken.append("quorum lost: " + (dip + ", then " if dip else "") + lost)
            confirmed = True
        elif dip and not confirmed:
            notes.append("one sample without quorum (an election or a slow probe): " + dip)
        confirmed = confirmed and lost is not None
        dip = lost
    if dip and not final and not confirmed:
        notes.append("the last sample without quorum (no final status to confirm it): " + dip)
    wrong = removed - {target_id}
    if wrong:
        names_of = {i: n for n, i in orig.items()}
        broken.append("a healthy member was removed: %s" % sorted(names_of[i] for i in wrong))
    # fresh secrets: a uid of the node's secrets first seen during the case must still be there at the end
    fresh = {}
    for st in samples:
        for name, uid in node_secret_uids(st, node).items():
            if uid != before["secrets"].get(name):
                fresh.setdefault(name, set()).add(uid)
    end = node_secret_uids(final, node) if final else {}
    for name, uids in fresh.items():
        if end.get(name) not in uids:
            broken.append("fresh secret %s (uid %s) was deleted" % (name, sorted(uids)))
    # nothing deleted on the node: every file of the old member is still somewhere on the node
    have = all_digests(before["root"])
    lost = [p for p, d in before["files"].items() if d not in have]
    if lost:
        broken.append("files of the old member lost on the node: %s" % lost)
    if not db_kept(before["root"]):
        broken.append("the old member's member/snap/db is nowhere on the node but the new member's place")
    if final and final["operator"].get("unsupportedConfigOverrides") != before["overrides"]:
        broken.append("unsupportedConfigOverrides not restored: %s" %
                      json.dumps(final["operator"].get("unsupportedConfigOverrides")))
    return sorted(set(broken))


def wait_for(pred, timeout, interval=1.0):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last[0]:
            return last
        time.sleep(interval)
    return last or (False, "timed out")
