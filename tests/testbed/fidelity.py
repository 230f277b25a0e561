"""Fidelity: the testbed's objects and etcdctl output against captures from real clusters (../shared/realdata).

Each object is reduced to FACTS: a dict from a name ("Node addresses.types") to a JSON-able shape (key sets,
types, orders, and the few values that are the same on every cluster of a release, like a readiness probe).
Values that differ by cluster (names, IPs, uids, timestamps, sizes) never become facts. Two fact dicts are
compared into DIFFERENCES, one line each:

    KIND FACT: capture V1, testbed V2
    KIND FACT: only in capture: V1
    KIND FACT: only in testbed: V2

and every difference must match (* as a wildcard) a known difference of the profile (fidelity_known.py), each with
its reason. Captures are read in place at test time, never copied: $REALDATA, else the first ancestor of
this repository holding shared/realdata (../shared/realdata from the repository), else the main worktree's
../shared/realdata."""
import glob
import json
import os
import re
import subprocess

import fidelity_yaml

HERE = os.path.dirname(os.path.abspath(__file__))


class NoCaptures(RuntimeError):
    pass


def realdata_root():
    """The capture directory; raises NoCaptures (never skips) when it is missing."""
    env = os.environ.get("REALDATA")
    if env:
        if not os.path.isdir(env):
            raise NoCaptures("REALDATA=%s is not a directory" % env)
        return os.path.abspath(env)
    tried = []
    d = os.path.dirname(os.path.dirname(HERE))           # the repository (tests/testbed/..)
    while True:
        cand = os.path.join(d, "shared", "realdata")
        tried.append(cand)
        if os.path.isdir(cand):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    try:   # a git worktree elsewhere: the main worktree's ../shared/realdata
        common = subprocess.run(["git", "-C", HERE, "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if common:
            cand = os.path.join(os.path.dirname(os.path.dirname(common)), "shared", "realdata")
            tried.append(cand)
            if os.path.isdir(cand):
                return cand
    except (OSError, subprocess.SubprocessError):
        pass
    try:   # a clone made from a local checkout: that checkout's ../shared/realdata
        origin = subprocess.run(["git", "-C", HERE, "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if origin.startswith("/"):
            cand = os.path.join(os.path.dirname(origin.rstrip("/")), "shared", "realdata")
            tried.append(cand)
            if os.path.isdir(cand):
                return cand
    except (OSError, subprocess.SubprocessError):
        pass
    raise NoCaptures("no captures of real clusters: set REALDATA=DIR or put them at ../shared/realdata "
                     "(tried %s)" % ", ".join(tried))


# ---------------------------------------------------------------- loading a capture

def _load(path):
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return json.loads(text) if text.strip() else None
    return fidelity_yaml.load(path)


def load_capture(root, rel):
    """Objects of one capture directory (root/rel), classified by path:
    {"nodes": [...], "pods": [...], "clusterversion": obj, "etcd": obj, "clusteroperator": obj,
     "secrets": [...], "etcdctl": {"member_list": ..., ...}}; kinds the capture lacks are absent."""
    base = os.path.join(root, rel)
    if not os.path.isdir(base):
        raise NoCaptures("capture %s is missing under %s" % (rel, root))
    out = {}
    for path in sorted(glob.glob(os.path.join(base, "**", "*"), recursive=True)):
        if not os.path.isfile(path) or not path.endswith((".json", ".yaml")):
            continue
        p = path
        if re.search(r"/etcd_info/(\w+)\.json$", p):
            out.setdefault("etcdctl", {})[re.search(r"/etcd_info/(\w+)\.json$", p).group(1)] = _load(path)
        elif "/nodes/" in p or "/config/node/" in p:
            out.setdefault("nodes", []).append(_load(path))
        elif "/pods/" in p or "/config/pod/" in p:
            out.setdefault("pods", []).append(_load(path))
        elif p.endswith("clusterversions/version.yaml") or p.endswith("config/version.json"):
            out["clusterversion"] = _load(path)
        elif p.endswith("etcds/cluster.yaml") or p.endswith("operator.openshift.io/etcd/cluster.json"):
            out["etcd"] = _load(path)
        elif p.endswith("clusteroperators/etcd.yaml") or p.endswith("clusteroperator/etcd.json"):
            out["clusteroperator"] = _load(path)
        elif p.endswith("core/secrets.yaml"):
            out["secrets"] = _load(path).get("items") or []
    if not out:
        raise NoCaptures("capture %s holds no objects" % base)
    return out


# ---------------------------------------------------------------- facts

def _tname(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


def _types(d):
    """{key: type} of a dict, in its key order."""
    return {k: _tname(v) for k, v in (d or {}).items()}


def master_nodes(nodes):
    return sorted((n for n in nodes if "node-role.kubernetes.io/master" in n["metadata"].get("labels", {})
                   or "node-role.kubernetes.io/control-plane" in n["metadata"].get("labels", {})),
                  key=lambda n: n["metadata"]["name"])


def _minor(version):
    m = re.match(r"^v?(\d+)\.(\d+)", version or "")
    return "v%s.%s" % m.groups() if m else version


def node_facts(node):
    meta, st = node["metadata"], node.get("status", {})
    f = {}
    f["labels.keys"] = sorted(meta.get("labels", {}))
    f["annotations.keys"] = sorted(k for k in meta.get("annotations", {}))
    f["spec.taints"] = [(t.get("key"), t.get("effect")) for t in node.get("spec", {}).get("taints") or []]
    f["addresses.types"] = [a["type"] for a in st.get("addresses", [])]
    f["conditions.types"] = [c["type"] for c in st.get("conditions", [])]
    f["conditions.keys"] = sorted({k for c in st.get("conditions", []) for k in c})
    f["conditions.Ready.reason"] = next((c.get("reason") for c in st.get("conditions", [])
                                         if c["type"] == "Ready"), None)
    f["nodeInfo.keys"] = sorted(st.get("nodeInfo", {}))
    f["nodeInfo.kubeletVersion.minor"] = _minor(st.get("nodeInfo", {}).get("kubeletVersion"))
    f["status.keys"] = sorted(st)
    return f


def etcd_pods(pods):
    """Static etcd pods (not guards, installers, pruners), Running ones first, by name."""
    out = [p for p in pods if p and p["metadata"].get("labels", {}).get("app") == "etcd"
           and p["metadata"].get("labels", {}).get("k8s-app") == "etcd"]
    return sorted(out, key=lambda p: (p.get("status", {}).get("phase") != "Running", p["metadata"]["name"]))


def _probe(probe):
    """A probe; an exec probe's script without its comment lines and with the node's NODE_<name>_IP variable
    as ${NODE_IP} (comments change nothing it does; the variable names the node)."""
    if "exec" not in probe:
        return probe
    def plain(arg):
        kept = "\n".join(line for line in arg.split("\n") if not line.lstrip().startswith("#"))
        return re.sub(r"\$\{NODE_\w+?_IP\}", "${NODE_IP}", kept)
    cmd = [plain(a) for a in probe["exec"]["command"]]
    return dict(probe, exec=dict(probe["exec"], command=cmd))


def _container(c, prefix, f):
    f[prefix + ".keys"] = sorted(c)
    if "readinessProbe" in c:
        f[prefix + ".readinessProbe"] = _probe(c["readinessProbe"])
    if "ports" in c:
        f[prefix + ".ports"] = [(p.get("name"), p.get("containerPort"), p.get("protocol")) for p in c["ports"]]
    if "securityContext" in c:
        f[prefix + ".securityContext"] = c["securityContext"]
    f[prefix + ".volumeMounts"] = [m["name"] for m in c.get("volumeMounts", [])]


def pod_facts(pod):
    meta, spec, st = pod["metadata"], pod["spec"], pod.get("status", {})
    labels = meta.get("labels", {})
    f = {"labels": {k: (labels[k] if k != "revision" else "N") for k in sorted(labels)},
         "annotations.keys": sorted(meta.get("annotations", {})),
         "spec.keys": sorted(spec),
         "spec.initContainers": [c["name"] for c in spec.get("initContainers", [])],
         "spec.containers": [c["name"] for c in spec.get("containers", [])],
         "spec.volumes": [(v["name"], sorted(k for k in v if k != "name"),
                           re.sub(r"-\d+$", "-N", (v.get("hostPath") or {}).get("path", "")))
                          for v in spec.get("volumes", [])],
         "status.keys": sorted(st),
         "status.conditions.types": [c["type"] for c in st.get("conditions", [])],
         "status.containerStatuses": [c["name"] for c in st.get("containerStatuses", [])],
         "status.initContainerStatuses": [c["name"] for c in st.get("initContainerStatuses", [])]}
    for k in ("hostNetwork", "priorityClassName", "restartPolicy", "dnsPolicy", "tolerations"):
        if k in spec:
            f["spec." + k] = spec[k]
    for c in spec.get("initContainers", []):
        _container(c, "initContainers[%s]" % c["name"], f)
    for c in spec.get("containers", []):
        _container(c, "containers[%s]" % c["name"], f)
    return f


def etcd_cr_facts(cr):
    f = {"spec": _types(cr.get("spec"))}
    st = cr.get("status")
    if st is not None:       # Insights keeps no status
        f["status"] = sorted(_types(st).items())
        ns = st.get("nodeStatuses") or []
        f["status.nodeStatuses[].keys"] = sorted({k for n in ns for k in n})
        f["status.conditions[].keys"] = sorted({k for c in st.get("conditions") or [] for k in c})
        f["status.conditions.sorted"] = [c["type"] for c in st.get("conditions") or []] == sorted(
            c["type"] for c in st.get("conditions") or [])
    return f


def clusterversion_facts(cv):
    st = cv.get("status", {})
    hist = st.get("history") or []
    return {"spec.keys": sorted(cv.get("spec", {})),
            "status.keys": sorted(st),
            "status.desired.keys": sorted(st.get("desired", {})),
            "status.history[].keys": sorted({k for h in hist for k in h}),
            "status.history[].states": [h.get("state") for h in hist],
            "status.conditions.types": [c["type"] for c in st.get("conditions") or []]}


def clusteroperator_facts(co):
    st = co.get("status", {})
    return {"status.keys": sorted(st),
            "status.versions": [v["name"] for v in st.get("versions") or []],
            "status.versions.etcd": next(("release" if re.match(r"^4\.\d+", v.get("version", "")) else "etcd"
                                          for v in st.get("versions") or [] if v["name"] == "etcd"), None),
            "status.conditions.types": [c["type"] for c in st.get("conditions") or []],
            "status.conditions[].keys": sorted({k for c in st.get("conditions") or [] for k in c}),
            "status.relatedObjects[].keys": sorted({k for o in st.get("relatedObjects") or [] for k in o})}


def secret_facts(secrets, node_names):
    """{secret name (node names -> NODE, revision suffix -> -N): "type keys"} over the etcd secrets."""
    def norm(s):
        for n in sorted(node_names, key=len, reverse=True):
            s = s.replace(n, "NODE")
        return s
    f = {}
    for s in secrets:
        name = re.sub(r"-\d+$", "-N", norm(s["metadata"]["name"]))
        keys = sorted({norm(k) for k in (s.get("data") or {})})
        f["secret[%s]" % name] = "%s %s" % (s.get("type"), ",".join(keys))
    return f


def _shape(v, path, f):
    """Generic JSON shape: key order of every object path and the type of every leaf; list items merged."""
    if isinstance(v, dict):
        order = f.setdefault(path + "{}", [])
        for k in v:
            if k not in order:
                order.append(k)
        for k, x in v.items():
            _shape(x, path + "." + k, f)
    elif isinstance(v, list):
        for x in v:
            _shape(x, path + "[]", f)
    else:
        t = _tname(v)
        prev = f.get(path)
        f[path] = t if prev in (None, t) else "/".join(sorted(set(prev.split("/")) | {t}))


def etcdctl_facts(outputs):
    f = {}
    for name in ("member_list", "endpoint_health", "endpoint_status", "alarm_list"):
        if name in outputs:
            sub = {}
            _shape(outputs[name], "", sub)
            for k, v in sub.items():
                f[name + k] = v
    ml = outputs.get("member_list") or {}
    members = ml.get("members") or []
    f["member_list clientURLs schemes"] = sorted({u.split(":")[0] for m in members
                                                  for u in m.get("clientURLs", [])})
    f["member_list peerURLs schemes"] = sorted({u.split(":")[0] for m in members for u in m.get("peerURLs", [])})
    eh = outputs.get("endpoint_health")
    if eh is not None and members:
        f["endpoint_health entries per member"] = len(eh) / len(members)
        f["endpoint_health errors"] = sorted({e.get("error") for e in eh if e.get("error")})
        f["endpoint_health endpoint schemes"] = sorted({e["endpoint"].split(":")[0] for e in eh})
    es = outputs.get("endpoint_status")
    if es is not None and members:
        f["endpoint_status entries per member"] = len(es) / len(members)
        f["endpoint_status version.minor"] = sorted({".".join(e["Status"]["version"].split(".")[:2]) for e in es})
    return f


# ---------------------------------------------------------------- comparing

def _fmt(v):
    return json.dumps(v, sort_keys=False, separators=(",", ":"))


def diff(kind, capture, testbed):
    out = []
    for k in capture:
        if k not in testbed:
            out.append("%s %s: only in capture: %s" % (kind, k, _fmt(capture[k])))
        elif _fmt(capture[k]) != _fmt(testbed[k]):
            out.append("%s %s: capture %s, testbed %s" % (kind, k, _fmt(capture[k]), _fmt(testbed[k])))
    for k in testbed:
        if k not in capture:
            out.append("%s %s: only in testbed: %s" % (kind, k, _fmt(testbed[k])))
    return out


def compare(check, capture, testbed):
    """Differences between one capture and what one testbed serves, for the kinds listed in check["kinds"].

    capture: load_capture(...) output; testbed: the same shape, from the testbed."""
    out = []
    kinds = check["kinds"]
    if "node" in kinds:
        cm, tm = master_nodes(capture.get("nodes", [])), master_nodes(testbed["nodes"])
        if not cm:
            raise NoCaptures("%s: no master node" % check["capture"])
        out += diff("Node", node_facts(cm[0]), node_facts(tm[0]))
    if "pod" in kinds:
        cp, tp = etcd_pods(capture.get("pods", [])), etcd_pods(testbed["pods"])
        if not cp:
            raise NoCaptures("%s: no etcd pod" % check["capture"])
        out += diff("Pod", pod_facts(cp[0]), pod_facts(tp[0]))
    if "etcd" in kinds:
        out += diff("Etcd", etcd_cr_facts(capture["etcd"]), etcd_cr_facts(testbed["etcd"]))
    if "clusterversion" in kinds:
        out += diff("ClusterVersion", clusterversion_facts(capture["clusterversion"]),
                    clusterversion_facts(testbed["clusterversion"]))
    if "clusteroperator" in kinds:
        out += diff("ClusterOperator", clusteroperator_facts(capture["clusteroperator"]),
                    clusteroperator_facts(testbed["clusteroperator"]))
    if "secrets" in kinds:
        cnames = [n["metadata"]["name"] for n in capture.get("nodes", [])]
        tnames = [n["metadata"]["name"] for n in testbed["nodes"]]
        out += diff("Secret", secret_facts(capture["secrets"], cnames), secret_facts(testbed["secrets"], tnames))
    if "etcdctl" in kinds:
        out += diff("etcdctl", etcdctl_facts(capture["etcdctl"]), etcdctl_facts(testbed["etcdctl"]))
    return out


def matches(diff_line, pattern):
    """pattern: the difference line, where * stands for any text (nothing else is special)."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), diff_line, re.S) is not None


def unexplained(diffs, known):
    """(differences matching no known pattern, known patterns matching no difference)."""
    bad = [d for d in diffs if not any(matches(d, pat) for pat, _ in known)]
    stale = [pat for pat, _ in known if not any(matches(d, pat) for d in diffs)]
    return bad, stale
