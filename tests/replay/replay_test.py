"""The tool against replays of real clusters: for each capture in ../shared/realdata (capture.CAPTURES), a
read-only API server serves its objects and answers etcdctl from its captured output (replay_server.py), and
`etcd-medic run etcd-status`, the REPL's reads and `run replace-crashlooping-member --node MASTER --dry-run`
must draw the conclusions the capture shows, worked out here from the capture itself: the etcd pods (name,
node, Ready), the members (ID in hex, name, peer URL), every member's health, the version and its source, the
quorum gate (from the version and the Etcd CR's unsupportedConfigOverrides), the node's InternalIP (whatever
the address order: vSphere lists ExternalIP first, Azure Hostname). No Lua traceback, and no write: any POST/PUT/
PATCH/DELETE (a debug pod, a dryRun=All request too) or etcd membership change fails the test.

    MEDIC=build/etcd-medic python3 tests/replay/replay_test.py [-v]
Exits non-zero on failure (and when the captures are missing)."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import capture  # noqa: E402
from replay_server import ReplayServer  # noqa: E402
import fidelity  # noqa: E402  (tests/testbed, on sys.path through capture)

REPO = os.path.dirname(os.path.dirname(HERE))
MEDIC = os.path.abspath(os.environ.get("MEDIC") or os.path.join(REPO, "build", "etcd-medic"))
REPL_READS = "\n".join([
    "ui.print(cluster:pods())",
    "ui.print(cluster:members())",
    "ui.print(cluster:health())",
    "local e = cluster:etcd()",
    "ui.print(e:status{cluster = true})",
    "ui.print(e:alarms())",
    ""])
MISSING = {}     # capture -> the etcdctl reads it lacks (answered as a failing etcdctl), for the summary


# ------------------------------------------------------------------ what the capture shows

def backup_pair(tmp):
    """A directory holding a backup as `etcd-medic run backup` writes it, for the dry run's --backup: the snapshot of
    a throwaway etcd on loopback and a tarball of the four components' static pod resources. The captures hold no
    kube-apiserver, kube-controller-manager or kube-scheduler pods (must-gather collected openshift-etcd only), so
    the dry run could not plan a backup of its own there, as it would on the cluster."""
    import socket
    import time
    d, data, root = (os.path.join(tmp, x) for x in ("pair", "etcd-data", "root"))
    os.makedirs(d)
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    client, peer = ("http://127.0.0.1:%d" % p for p in ports)
    etcd = subprocess.Popen([shutil.which("etcd") or "/usr/bin/etcd", "--data-dir", data, "--listen-client-urls",
                             client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
                             "--initial-advertise-peer-urls", peer, "--initial-cluster", "default=" + peer],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    snapshot = os.path.join(d, "snapshot_2026-12-03_120000.db")
    try:
        for _ in range(100):  # 10 s at most
            if subprocess.run(["etcdctl", "--endpoints", client, "snapshot", "save", snapshot],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
    finally:
        etcd.terminate()
        etcd.wait(timeout=10)
    revs = {"kube-apiserver": 9, "kube-controller-manager": 6, "kube-scheduler": 5, "etcd": 3}
    dirs = []
    for comp, rev in revs.items():
        rel = "static-pod-resources/%s-pod-%d" % (comp, rev)
        os.makedirs(os.path.join(root, rel, "configmaps"))
        with open(os.path.join(root, rel, comp + "-pod.yaml"), "w") as f:
            f.write('{"kind":"Pod","metadata":{"labels":{"revision":"%d"}}}' % rev)
        dirs.append(rel)
    subprocess.run(["tar", "-czf", os.path.join(d, "static_kuberesources_2026-12-03_120000.tar.gz"), "-C", root]
                   + dirs, check=True)
    return d


def pod_ready(p):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in p.get("status", {}).get("conditions") or [])


def internal_ip(node):
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


def version_and_source(cap):
    """What the procedure must say: the etcd operator's own version, else ClusterVersion's (completed) one."""
    co = cap.loaded.get("clusteroperator") or {}
    for v in co.get("status", {}).get("versions") or []:
        if v.get("name") == "operator" and v.get("version"):
            return v["version"], "the etcd operator"
    st = cap.loaded["clusterversion"].get("status", {})
    done = [h["version"] for h in st.get("history") or [] if h.get("state") == "Completed"]
    return (done[0] if done else st["desired"]["version"]), "ClusterVersion"


def gated(version):
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", version).groups())
    return (major, minor) >= (4, 8)


def members(cap):
    """[(hex ID, name, peer URL, client https URL)] of the captured member list, or None."""
    doc = cap.etcdctl.get("member_list")
    if doc is None:
        return None
    return [("%x" % m["ID"], m["name"], m["peerURLs"][0],
             next(u for u in m["clientURLs"] if u.startswith("https://"))) for m in doc["members"]]


def health(cap):
    """{client URL: healthy} of the members' https endpoints in the captured endpoint health, or None."""
    doc = cap.etcdctl.get("endpoint_health")
    if doc is None:
        return None
    return {e["endpoint"]: bool(e["health"]) for e in doc if e["endpoint"].startswith("https://")}


def revisions(cap):
    """(latest revision, every node at it) from the Etcd CR's status, or None without one."""
    st = (cap.loaded.get("etcd") or {}).get("status")
    if not st or not st.get("nodeStatuses"):
        return None
    latest = st["latestAvailableRevision"]
    return latest, all(n.get("currentRevision") == latest and not n.get("targetRevision")
                       for n in st["nodeStatuses"])


# ------------------------------------------------------------------ running the tool

def run(server, home, args, stdin=None):
    env = dict(os.environ, KUBECONFIG=server.kubeconfig, HOME=home, XDG_STATE_HOME=os.path.join(home, "state"),
               NO_COLOR="1")
    r = subprocess.run([MEDIC] + args, input=stdin, capture_output=True, text=True, env=env, timeout=120)
    return r.returncode, r.stdout + r.stderr


class ReplayCase:
    """The checks of one capture; a subclass per capture sets REL."""
    REL = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="replay-")
        cls.cap = capture.load(cls.REL)
        cls.server = ReplayServer(cls.cap, cls.tmp).start()
        cls.master = cls.cap.masters[0]
        cls.status = run(cls.server, cls.tmp, ["run", "etcd-status"])
        cls.repl = run(cls.server, cls.tmp, ["repl"], REPL_READS)
        cls.dry = run(cls.server, cls.tmp, ["run", "replace-crashlooping-member", "--node",
                                            cls.master["metadata"]["name"], "--dry-run"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        MISSING[cls.REL] = sorted({name for kind, name, _ in cls.server.execs if kind == "missing"})
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertHas(self, text, pattern, what):
        if not re.search(pattern, text):
            self.fail("%s: %s not found (pattern %s) in:\n%s" % (self.REL, what, pattern, text))

    def test_no_write_no_traceback(self):
        for name, (_, out) in (("etcd-status", self.status), ("repl", self.repl), ("dry run", self.dry)):
            self.assertNotIn("traceback", out.lower(), "%s: %s printed a Lua traceback:\n%s" % (self.REL, name, out))
        self.assertEqual(self.server.writes, [], "%s: the tool attempted writes" % self.REL)
        odd = [e for e in self.server.execs if e[0] not in ("read", "missing")]
        self.assertEqual(odd, [], "%s: execs the replay cannot answer (kind, command, pod)" % self.REL)

    def test_status_pods(self):
        rc, out = self.status
        # 0 healthy, 4 warning findings, 5 critical ones (docs/etcd-status.md); the worst finding printed decides
        # 1 could not check (the member list could not be read)
        worst = 5 if re.search(r"(?m)^  CRITICAL ", out) else 4 if re.search(r"(?m)^  WARNING ", out) else 0
        if "\nverdict: UNKNOWN: the member list cannot be read" in out:
            worst = 1
        self.assertEqual(rc, worst, "%s: etcd-status exit code:\n%s" % (self.REL, out))
        pods = fidelity.etcd_pods(self.cap.loaded["pods"])
        section = out.split("etcd pods (openshift-etcd):\n", 1)[-1].split("\n\n", 1)[0]
        self.assertEqual(len(section.splitlines()), len(pods), "%s: the etcd pods alone (no guard, installer, "
                         "pruner):\n%s" % (self.REL, section))
        for p in pods:
            self.assertHas(out, r"(?m)^  %s +%s .*, %s$" % (re.escape(p["metadata"]["name"]),
                                                           re.escape(p["spec"]["nodeName"]),
                                                           "Ready" if pod_ready(p) else "not Ready"),
                           "pod %s" % p["metadata"]["name"])

    def test_status_findings(self):
        """What the capture itself shows is found: the unsafe override left on (insights-operator/sample-4.7); every
        finding module ran (no CHECK_FAILED)."""
        out = self.status[1]
        self.assertNotIn("CHECK_FAILED", out, "%s: a finding module failed:\n%s" % (self.REL, out))
        over = (self.cap.loaded.get("etcd") or {}).get("spec", {}).get("unsupportedConfigOverrides") or {}
        if str(over.get("useUnsupportedUnsafeNonHANonProductionUnstableEtcd", "")).lower() in ("true", "1"):
            self.assertHas(out, r"(?m)^  WARNING  UNSAFE_OVERRIDE_LEFT_ON etcd/cluster: ", "the override left on")

    def test_status_members_health_verdict(self):
        out = self.status[1]
        ms, hs = members(self.cap), health(self.cap)
        if ms is None:
            self.assertHas(out, r"cannot read the member list: .*context deadline exceeded", "the failed read")
            self.assertHas(out, r"verdict: UNKNOWN: the member list cannot be read", "the verdict")
            return
        for mid, name, peer, client in ms:
            self.assertHas(out, r"\| +%s \| started \| +%s \| +%s \|" % (mid, re.escape(name), re.escape(peer)),
                           "member %s" % mid)
            word = "healthy" if hs[client] else "unhealthy"
            self.assertHas(out, r"%s \(%s\) is %s" % (re.escape(client), re.escape(name), word), "health of " + name)
        self.assertNotRegex(out, r"unixs://\S+ .*is unhealthy", "%s: a unixs:// client URL taken for a member"
                            % self.REL)
        rev = revisions(self.cap)
        if all(hs.values()) and len(ms) == len(self.cap.masters) and rev and rev[1]:
            self.assertHas(out, r"verdict: HEALTHY: %d of %d members healthy, every node at revision %d"
                           % (len(ms), len(ms), rev[0]), "the verdict")

    def test_dry_run_version_gate_node(self):
        rc, out = self.dry
        version, source = version_and_source(self.cap)
        gate = "the quorum gate is opened" if gated(version) else "no quorum gate to open"
        self.assertHas(out, r"version: OpenShift %s \(%s\): %s" % (re.escape(version), source, gate), "version")
        over = (self.cap.loaded.get("etcd") or {}).get("spec", {}).get("unsupportedConfigOverrides")
        if over:
            self.assertHas(out, re.escape("unsupportedConfigOverrides is already %s"
                                          % json.dumps(over, separators=(",", ":"))), "the override")
        name = self.master["metadata"]["name"]
        self.assertHas(out, r"node: %s, InternalIP %s\n" % (re.escape(name), re.escape(internal_ip(self.master))),
                       "the node's InternalIP")

    def test_dry_run_outcome(self):
        rc, out = self.dry
        ms, hs = members(self.cap), health(self.cap)
        if len(self.cap.masters) == 1:
            want, code = "only node that runs etcd", 3
        elif ms is None:
            want, code = "refused: cannot read the member list through a healthy etcd pod", 3
        elif all(hs.values()):
            want, code = "every etcd member is healthy: nothing to do", 0
        else:
            self.fail("%s: no expectation for an unhealthy capture" % self.REL)
        self.assertHas(out, re.escape(want), "the outcome")
        self.assertEqual(rc, code, "%s: dry run exit code:\n%s" % (self.REL, out))

    def test_repl_reads(self):
        rc, out = self.repl
        self.assertEqual(rc, 0, "%s: repl exit code:\n%s" % (self.REL, out))
        for p in fidelity.etcd_pods(self.cap.loaded["pods"]):
            self.assertHas(out, r"(?m)^%s +\S+ .* %s$" % (re.escape(p["metadata"]["name"]),
                                                         re.escape(p["spec"]["nodeName"])), "pod row")
        ms, hs = members(self.cap), health(self.cap)
        if ms is None:
            self.assertHas(out, r'"Timeout"', "the failed etcdctl reads")
            return
        for mid, name, _, client in ms:
            self.assertHas(out, r"\| +%s \| started \| +%s \|" % (mid, re.escape(name)), "member row")
            word = "healthy" if hs[client] else "unhealthy"
            self.assertHas(out, r"(?m)^%s \(%s\) is %s" % (re.escape(client), re.escape(name), word), "health row")
        for e in self.cap.etcdctl["endpoint_status"]:
            self.assertHas(out, r"\| +%x +\|.*\| +%s +\|.*\| +%x +\|.*\| +%s +\|" % (
                e["Status"]["header"]["member_id"], re.escape(e["Endpoint"]), e["Status"]["leader"],
                re.escape(e["Status"]["version"])), "status row of " + e["Endpoint"])
        if not (self.cap.etcdctl.get("alarm_list") or {}).get("alarms"):
            self.assertHas(out, r"(?m)^\{\}$", "no alarms")


class CrashloopCase:
    """A capture with etcdctl output, made to show one crash-looping member (capture.crashloop: its pod in
    CrashLoopBackOff, its member unhealthy; the member list and the secrets as captured). etcd-status must send the
    admin to this procedure for that node, and the dry run must plan the removal of that member and the deletion
    of that node's captured secrets (their uid and resourceVersion as preconditions), and send only dryRun=All
    requests, which the server answers without storing (the rehearsal): the captured secrets' names and
    preconditions, and the real Etcd CR, are what the API checks."""
    REL = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="replay-")
        real = capture.load(cls.REL)
        cls.node = real.masters[1]["metadata"]["name"]
        cls.cap = capture.crashloop(real, cls.node)
        cls.server = ReplayServer(cls.cap, cls.tmp, answer_dry_runs=True).start()
        cls.status = run(cls.server, cls.tmp, ["run", "etcd-status"])
        cls.dry = run(cls.server, cls.tmp, ["run", "replace-crashlooping-member", "--node", cls.node, "--dry-run",
                                            "--backup", backup_pair(cls.tmp)])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    assertHas = ReplayCase.assertHas

    def secrets(self):
        names = [f % self.node for f in ("etcd-peer-%s", "etcd-serving-%s", "etcd-serving-metrics-%s")]
        by_name = {s["metadata"]["name"]: s for s in self.cap.loaded["secrets"]}
        return [by_name[n] for n in names]

    def test_status_sends_to_this_procedure(self):
        rc, out = self.status
        self.assertEqual(rc, 5, out)   # a critical finding: the unhealthy member
        self.assertHas(out, r"(?m)^  CRITICAL MEMBER_UNHEALTHY %s: " % re.escape(self.node), "the finding")
        self.assertHas(out, r"(?m)^  etcd-%s +%s +CrashLoopBackOff .*, not Ready$" % ((re.escape(self.node),) * 2),
                       "the crash-looping pod")
        self.assertHas(out, re.escape("verdict: ONE MEMBER UNHEALTHY (%s, etcd pod crash-looping): run etcd-medic run "
                                      "replace-crashlooping-member --node %s" % (self.node, self.node)), "the verdict")

    def test_dry_run_plans_this_member_and_these_secrets(self):
        rc, out = self.dry
        self.assertEqual(rc, 0, "%s: dry run exit code:\n%s" % (self.REL, out))
        self.assertNotIn("traceback", out.lower(), out)
        mid, _, peer, _ = next(m for m in members(self.cap) if m[1] == self.node)
        node = next(n for n in self.cap.masters if n["metadata"]["name"] == self.node)
        self.assertHas(out, r"node: %s, InternalIP %s\n" % (re.escape(self.node), re.escape(internal_ip(node))), "IP")
        self.assertHas(out, r"member to remove: %s \(%s\)" % (mid, re.escape(peer)), "the member")
        self.assertHas(out, r"etcdctl member remove %s " % mid, "the plan's member remove")
        for sec in self.secrets():
            meta = sec["metadata"]
            self.assertHas(out, r"accepted \(dryRun=All\): oc delete secret -n openshift-etcd %s +\(preconditions: "
                           r"uid %s, resourceVersion %s\)" % (re.escape(meta["name"]), meta["uid"],
                                                              meta["resourceVersion"]),
                           "the rehearsed delete of " + meta["name"])
        self.assertHas(out, "dry run: nothing was changed", "the end of the dry run")

    def test_only_dry_run_requests(self):
        self.assertEqual(self.server.writes, [], "%s: writes without dryRun=All" % self.REL)
        want = sorted(["PATCH /apis/operator.openshift.io/v1/etcds/cluster?dryRun=All"] * 3
                      + ["DELETE /api/v1/namespaces/openshift-etcd/secrets/" + s["metadata"]["name"]
                         for s in self.secrets()])
        self.assertEqual(sorted(self.server.dry_runs), want)
        # no capture holds hashkv output: answered as missing, which etcd-status says as HASH_NOT_COMPARED (info)
        self.assertEqual([e for e in self.server.execs if e[0] != "read" and e[1] != "endpoint_hashkv"], [],
                         "execs other than reads")


class WritesAreCaught(unittest.TestCase):
    """The replay itself: a write through the API (with dryRun=All too) and an etcd membership change through
    exec are refused and recorded, so test_no_write_no_traceback fails when the tool attempts one."""

    def test_writes_recorded(self):
        tmp = tempfile.mkdtemp(prefix="replay-")
        try:
            cap = capture.load("must-gather-clean/aws")
            server = ReplayServer(cap, tmp).start()
            pod = fidelity.etcd_pods(cap.loaded["pods"])[0]["metadata"]["name"]
            member = members(cap)[0][0]
            chunk = "\n".join([
                'local kc = assert(require("medic.k8s").connect{})',
                'print(kc:delete("/api/v1/namespaces/openshift-etcd/secrets/etcd-all-certs", {dryRun = true}))',
                'local e = require("medic.etcd").via_exec(kc, {namespace = "openshift-etcd", pod = "%s"})' % pod,
                'print(e:member_remove("%s"))' % member,
                'print(e:members() ~= nil)'])
            rc, out = run(server, tmp, ["-e", chunk])
            server.stop()
            self.assertEqual(rc, 0, out)
            self.assertIn("Forbidden", out)
            self.assertIn("true", out.splitlines()[-1], "the reads still answered")
            self.assertEqual(len(server.writes), 2, server.writes)
            self.assertRegex(server.writes[0], r"^DELETE /api/v1/namespaces/openshift-etcd/secrets/etcd-all-certs")
            self.assertRegex(server.writes[1], r"^exec %s: etcdctl member remove %s" % (re.escape(pod), member))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _case(rel):
    name = "Replay_" + re.sub(r"\W", "_", rel)
    return type(name, (ReplayCase, unittest.TestCase), {"REL": rel})


for _rel, _ in capture.CAPTURES:
    globals()["Replay_" + re.sub(r"\W", "_", _rel)] = _case(_rel)
for _rel in capture.WITH_ETCDCTL:
    _name = "Crashloop_" + re.sub(r"\W", "_", _rel)
    globals()[_name] = type(_name, (CrashloopCase, unittest.TestCase), {"REL": _rel})


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    for rel, names in sorted(MISSING.items()):
        print("replay %-38s etcdctl output missing (answered as a failing etcdctl): %s"
              % (rel, ", ".join(names) or "none"))
    sys.exit(0 if result.wasSuccessful() else 1)
