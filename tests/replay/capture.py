"""One capture of a real cluster (../shared/realdata), as the objects a read-only API server serves.

    cap = capture.load("must-gather-clean/aws")
    cap.objects   -> [(plural, object)] as captured (only a missing metadata.name/namespace is filled in)
    cap.etcdctl   -> {"member_list": doc, ...}: the captured `etcdctl ... -w json` outputs (may be empty)
    cap.kube_version, cap.masters, ...

The captures are read in place through the testbed's fidelity loader (tests/testbed/fidelity.py), never copied."""
import copy
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "testbed"))

import fidelity  # noqa: E402  (the testbed's capture loader and YAML reader)
import fidelity_yaml  # noqa: E402

NS = "openshift-etcd"

# Every capture replayed, with what the source says about it (SOURCES.md in the capture directory).
CAPTURES = [
    ("must-gather-clean/aws", "4.8 nightly on AWS, etcd 3.4.14 (unixs:// client URLs), with etcdctl output"),
    ("must-gather-clean/azure", "4.8.11 on Azure (node addresses: Hostname first), with etcdctl output"),
    ("must-gather-clean/vsphere", "4.8.11 on vSphere (node addresses: ExternalIP first), with etcdctl output"),
    ("must-gather-clean/metal", "4.9 nightly on bare metal, etcd 3.5.0 shapes, with etcdctl output"),
    ("insights-operator/sample-4.7", "4.7.16, one master, the unsupported non-HA override set; no etcdctl output"),
    ("resourcewatch-3nodes/final", "4.12 OKD on GCP after install; no Etcd CR, no secrets, no etcdctl output"),
    ("resourcewatch-3nodes/install-rollout", "the same cluster during install: master-0's etcd pod Pending"),
    ("resourcewatch-sno/final", "4.13 single-node OpenShift; no Etcd CR, no secrets, no etcdctl output"),
]

# The captures with etcdctl output and secrets: a crash-looping member is made from each (crashloop()).
WITH_ETCDCTL = [rel for rel, _ in CAPTURES if rel.startswith("must-gather-clean/")]


class Capture:
    def __init__(self, rel, loaded, extra):
        self.rel = rel
        self.loaded = loaded
        self.etcdctl = loaded.get("etcdctl") or {}
        self.etcdctl_text = _etcdctl_text(os.path.join(root(), rel))
        self.objects = self._objects(loaded, extra)

    @staticmethod
    def _objects(loaded, extra):
        out = [("nodes", n) for n in loaded.get("nodes", [])]
        out += [("pods", _in_namespace(p)) for p in loaded.get("pods", []) if p]
        out += [("secrets", _in_namespace(s)) for s in loaded.get("secrets", [])]
        for plural, key in (("clusterversions", "clusterversion"), ("etcds", "etcd"),
                            ("clusteroperators", "clusteroperator")):
            if loaded.get(key):
                out.append((plural, _named(loaded[key])))
        return out + extra

    @property
    def nodes(self):
        return self.loaded.get("nodes", [])

    @property
    def masters(self):
        return fidelity.master_nodes(self.nodes)

    @property
    def kube_version(self):
        """The masters' kubelet version without v and the +build suffix (what /version reports)."""
        v = self.masters[0]["status"]["nodeInfo"]["kubeletVersion"]
        return re.sub(r"\+.*$", "", v.lstrip("v"))


def _named(obj):
    """Insights keeps the Etcd CR as {apiVersion, kind, name, spec}: a name at the top, no metadata."""
    if "metadata" not in obj:
        obj = dict(obj)
        obj["metadata"] = {"name": obj.pop("name", "cluster")}
    return obj


def _in_namespace(obj):
    meta = obj.setdefault("metadata", {})
    meta.setdefault("namespace", NS)
    return obj


def _extra(base):
    """What fidelity.load_capture does not classify: the etcd namespace and its config maps (must-gather)."""
    out = []
    for path in glob.glob(os.path.join(base, "**", "namespaces", NS, NS + ".yaml"), recursive=True):
        out.append(("namespaces", fidelity_yaml.load(path)))
    for path in glob.glob(os.path.join(base, "**", "namespaces", NS, "core", "configmaps.yaml"), recursive=True):
        out += [("configmaps", _in_namespace(c)) for c in fidelity_yaml.load(path).get("items") or []]
    return out


def _etcdctl_text(base):
    """{name: the captured etcdctl stdout, byte for byte} (must-gather's etcd_info/NAME.json)."""
    out = {}
    for path in glob.glob(os.path.join(base, "**", "etcd_info", "*.json"), recursive=True):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(path)[:-5]] = f.read()
    return out


def root():
    return fidelity.realdata_root()


def load(rel):
    base = os.path.join(root(), rel)
    return Capture(rel, fidelity.load_capture(root(), rel), _extra(base))


# ---------------------------------------------------------------- a crash-looping member, made from a real capture

def _crashloop_pod(pod):
    st = pod["status"]
    for c in st.get("conditions") or []:
        if c["type"] in ("Ready", "ContainersReady"):
            c.update(status="False", reason="ContainersNotReady", message="containers with unready status: [etcd]")
    for cs in st.get("containerStatuses") or []:
        if cs["name"] == "etcd":
            cs.update(ready=False, started=False, restartCount=7,
                      state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed "
                                         "container=etcd pod=%s" % pod["metadata"]["name"]}},
                      lastState={"terminated": {"exitCode": 1, "reason": "Error"}})


def crashloop(cap, node):
    """cap as it would look with the etcd pod on `node` crash-looping: its etcd container waiting in
    CrashLoopBackOff (the pod not Ready), its member unhealthy in endpoint health ("context deadline exceeded",
    as etcdctl reports a member that does not answer) and missing from endpoint status; the member list, the
    secrets and everything else as captured. etcdctl's text is re-encoded as etcdctl prints JSON (compact)."""
    out = copy.deepcopy(cap)
    out.rel = cap.rel + " (etcd on %s crash-looping)" % node
    for plural, obj in out.objects:
        if plural == "pods" and obj["metadata"].get("labels", {}).get("app") == "etcd" \
                and obj["spec"].get("nodeName") == node:
            _crashloop_pod(obj)
    member = next(m for m in out.etcdctl["member_list"]["members"] if m["name"] == node)
    urls = set(member["clientURLs"])
    for e in out.etcdctl["endpoint_health"]:
        if e["endpoint"] in urls:
            e.update(health=False, took="5.000257113s", error="context deadline exceeded")
    out.etcdctl["endpoint_status"] = [e for e in out.etcdctl["endpoint_status"] if e["Endpoint"] not in urls]
    for name in ("endpoint_health", "endpoint_status"):
        out.etcdctl_text[name] = json.dumps(out.etcdctl[name], separators=(",", ":")) + "\n"
    return out
