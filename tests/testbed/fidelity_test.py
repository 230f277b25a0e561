"""Fidelity per profile: starts each profile's testbed (in parallel), reads what its API server serves
(nodes, the etcd pods, etcds/cluster, clusterversions/version, clusteroperators/etcd, the secrets of
openshift-etcd) and what `etcdctl ... -w json` prints in an etcd pod's etcdctl container (through kubectl exec),
and compares their shapes with captures from real clusters (fidelity.py; checks and known differences in
fidelity_known.py). Fails on a difference that is not listed as known, on a listed one that no longer occurs,
and when the captures are missing. A self-test changes one field in a copy of a capture (REALDATA=copy) and
expects the comparison to report it.

    python3 tests/testbed/fidelity_test.py            # the test
    python3 tests/testbed/fidelity_test.py --print    # every difference per check, known or not
Exits non-zero on failure."""
import concurrent.futures
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fidelity as FI  # noqa: E402
import fidelity_known as K  # noqa: E402

TESTBED = os.path.join(FI.HERE, "testbed")
NS = "openshift-etcd"
ETCDCTL = {"member_list": ["member", "list"], "endpoint_health": ["endpoint", "health", "--cluster"],
           "endpoint_status": ["endpoint", "status", "--cluster"], "alarm_list": ["alarm", "list"]}


class Testbed:
    """One profile's testbed, and what it serves."""

    def __init__(self, key, args):
        self.key, self.args = key, args
        self.dir = tempfile.mkdtemp(prefix="fidelity-%s-" % key.replace(".", ""))
        self.up_seconds = None

    def up(self):
        t0 = time.time()
        r = subprocess.run([TESTBED, "up", self.dir, "--speed", "10"] + self.args,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
        if r.returncode != 0:
            raise RuntimeError("testbed up %s failed:\n%s" % (self.key, r.stdout))
        self.up_seconds = time.time() - t0
        with open(os.path.join(self.dir, "testbed.json")) as f:
            cfg = json.load(f)
        self.base = "https://%s:%d" % (cfg["api"]["host"], cfg["api"]["port"])
        self.token = cfg["tokens"]["admin"]
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "pki", "kube-apiserver-ca.crt"))
        return self

    def get(self, path):
        req = urllib.request.Request(self.base + path, headers={"Authorization": "Bearer " + self.token,
                                                                "Accept": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read())

    def etcdctl(self, pod, argv):
        r = subprocess.run(["kubectl", "--kubeconfig", os.path.join(self.dir, "kubeconfig"), "exec", "-n", NS,
                            pod, "-c", "etcdctl", "--", "etcdctl"] + argv + ["-w", "json"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 and not r.stdout.strip():
            raise RuntimeError("etcdctl %s in %s: %s" % (" ".join(argv), pod, r.stderr))
        return json.loads(r.stdout)

    def objects(self):
        """The testbed's objects in load_capture()'s shape."""
        pods = self.get("/api/v1/namespaces/%s/pods" % NS)["items"]
        out = {"nodes": self.get("/api/v1/nodes")["items"], "pods": pods,
               "etcd": self.get("/apis/operator.openshift.io/v1/etcds/cluster"),
               "clusterversion": self.get("/apis/config.openshift.io/v1/clusterversions/version"),
               "clusteroperator": self.get("/apis/config.openshift.io/v1/clusteroperators/etcd"),
               "secrets": self.get("/api/v1/namespaces/%s/secrets" % NS)["items"]}
        if any(c["testbed"] == self.key and "etcdctl" in c["kinds"] for c in K.CHECKS):
            pod = FI.etcd_pods(pods)[0]["metadata"]["name"]
            with concurrent.futures.ThreadPoolExecutor(len(ETCDCTL)) as ex:   # 4.8's unixs:// URLs take 5 s each
                out["etcdctl"] = dict(zip(ETCDCTL, ex.map(lambda argv: self.etcdctl(pod, argv), ETCDCTL.values())))
        return out

    def down(self):
        subprocess.run([TESTBED, "down", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


AT_ONCE = 3     # testbeds up at the same time (each: 3 etcd members, an API server, an operator)


def gather_one(bed):
    try:
        return bed.up().objects()
    finally:
        bed.down()


def gather():
    """{testbed key: objects}, AT_ONCE testbeds of fidelity_known.TESTBEDS up at a time, each down after."""
    beds = {k: Testbed(k, args) for k, args in K.TESTBEDS.items()}
    with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as ex:
        objs = dict(zip(beds, ex.map(gather_one, beds.values())))
    return objs, {k: b.up_seconds for k, b in beds.items()}


def run_checks(objs, root):
    """[(check, differences, unexplained, stale)] for every check of fidelity_known.CHECKS."""
    out = []
    caches = {}
    for check in K.CHECKS:
        if check["capture"] not in caches:
            caches[check["capture"]] = FI.load_capture(root, check["capture"])
        diffs = FI.compare(check, caches[check["capture"]], objs[check["testbed"]])
        bad, stale = FI.unexplained(diffs, check["known"])
        out.append((check, diffs, bad, stale))
    return out


class FidelityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = FI.realdata_root()      # raises, never skips, when the captures are missing
        cls.objs, cls.up_seconds = gather()

    def test_profiles_against_captures(self):
        problems = []
        for check, diffs, bad, stale in run_checks(self.objs, self.root):
            name = "%s vs %s (%s)" % (check["testbed"], check["capture"], ",".join(check["kinds"]))
            print("fidelity: %s: %d differences, all known" % (name, len(diffs)) if not bad and not stale
                  else "fidelity: %s: %d differences" % (name, len(diffs)))
            problems += ["%s: not a known difference: %s" % (name, d) for d in bad]
            problems += ["%s: known difference no longer seen: %s" % (name, p) for p in stale]
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_every_check_covers_a_capture_and_every_known_difference_has_a_reason(self):
        for check in K.CHECKS:
            self.assertIn(check["testbed"], K.TESTBEDS)
            for pat, reason in check["known"]:
                self.assertTrue(reason.strip(), pat)

    def _modified_copy(self, rel, file_glob, edit):
        """A REALDATA tree of symlinks to the real captures, except one file of capture rel: a copy, edited."""
        tmp = tempfile.mkdtemp(prefix="fidelity-realdata-")
        self.addCleanup(shutil.rmtree, tmp, True)
        shutil.copytree(self.root, tmp, symlinks=True, dirs_exist_ok=True,
                        copy_function=lambda s, d: os.symlink(os.path.abspath(s), d))
        dst = os.path.join(tmp, rel)
        import glob
        target = sorted(glob.glob(os.path.join(dst, "**", file_glob), recursive=True))[0]
        with open(os.readlink(target), encoding="utf-8") as f:
            text = f.read()
        os.unlink(target)
        new = edit(text)
        self.assertNotEqual(new, text, "the edit changed nothing in %s" % target)
        with open(target, "w", encoding="utf-8") as f:
            f.write(new)
        return tmp

    def _unexplained_with(self, realdata):
        old = os.environ.get("REALDATA")
        os.environ["REALDATA"] = realdata
        try:
            root = FI.realdata_root()
            self.assertEqual(root, os.path.abspath(realdata))
            return [d for _, _, bad, _ in run_checks(self.objs, root) for d in bad]
        finally:
            if old is None:
                del os.environ["REALDATA"]
            else:
                os.environ["REALDATA"] = old

    def test_self_a_changed_capture_field_is_reported(self):
        """Edited copies of captures: a probe port, a member key, 4.8's unixs:// URLs, 3.5's alarm list header."""
        # A real cluster whose etcd pod's readiness probe used another port: the comparison must see it.
        tmp = self._modified_copy("resourcewatch-3nodes/final", "etcd-vrutkovs-mrmwt-master-0*.yaml",
                                  lambda t: t[:t.index("\n    readinessProbe:")] +
                                  t[t.index("\n    readinessProbe:"):].replace("port: 9980", "port: 9981", 1))
        bad = self._unexplained_with(tmp)
        self.assertTrue(any("readinessProbe" in d and "9981" in d for d in bad), bad)
        # A member list whose members carried one more key.
        tmp = self._modified_copy("must-gather-clean/metal", "member_list.json",
                                  lambda t: t.replace('"name":', '"isLearner":false,"name":', 1))
        bad = self._unexplained_with(tmp)
        self.assertTrue(any("member_list.members[]" in d and "isLearner" in d for d in bad), bad)
        # A 4.8 cluster whose members advertised no unixs:// client URL: the 4.8 profile must differ.
        tmp = self._modified_copy("must-gather-clean/aws/must-gather-aws", "member_list.json",
                                  lambda t: re.sub(r',"unixs://[0-9.]+:0"', "", t))
        bad = self._unexplained_with(tmp)
        self.assertTrue(any("clientURLs schemes" in d and "unixs" in d for d in bad), bad)
        # A 3.5 alarm list without its response header: the 3.5 profiles must differ.
        tmp = self._modified_copy("must-gather-clean/metal/must-gather-metal", "alarm_list.json", lambda t: "{}\n")
        bad = self._unexplained_with(tmp)
        self.assertTrue(any(d.startswith("etcdctl alarm_list") for d in bad), bad)

    def test_self_missing_captures_fail_loudly(self):
        old = os.environ.get("REALDATA")
        os.environ["REALDATA"] = "/nonexistent/realdata"
        try:
            with self.assertRaises(FI.NoCaptures):
                FI.realdata_root()
        finally:
            if old is None:
                del os.environ["REALDATA"]
            else:
                os.environ["REALDATA"] = old


def print_all():
    root = FI.realdata_root()
    objs, _ = gather()
    for check, diffs, bad, stale in run_checks(objs, root):
        print("== %s vs %s (%s)" % (check["testbed"], check["capture"], ",".join(check["kinds"])))
        for d in diffs:
            print(("   " if d not in bad else "NEW") + " " + d)
        for p in stale:
            print("STALE " + p)


if __name__ == "__main__":
    if sys.argv[1:] == ["--print"]:
        print_all()
        sys.exit(0)
    t0 = time.time()
    res = unittest.main(exit=False, verbosity=1).result
    print("fidelity_test: %.1f s" % (time.time() - t0))
    sys.exit(0 if res.wasSuccessful() else 1)
