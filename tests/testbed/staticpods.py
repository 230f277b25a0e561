"""The other control-plane static pods, as far as a backup sees them (issue 17): kube-apiserver,
kube-controller-manager and kube-scheduler each have, on every node, a revision directory
/etc/kubernetes/static-pod-resources/<component>-pod-<N>/ (its pod manifest, a configmap, a secret; the previous
revision's directory too, as the installer leaves it), the manifest in /etc/kubernetes/manifests that names it,
a mirror pod labelled revision=N, and a ClusterOperator. Their revisions are static; etcd's follow the operator
(ceo.py's installer). `testbed progressing DIR CO` makes one of the four ClusterOperators Progressing, as a rollout
does (cluster-backup.sh refuses then); `--off` ends it.

Shapes: the etcd ClusterOperator of realdata resourcewatch-3nodes/final (the others are not captured; theirs are
built the same way, by library-go's static pod operator), the mirror pods' labels as on 4.x clusters, and
cluster-backup.sh's grep for "/etc/kubernetes/static-pod-resources/<component>-pod-[0-9]*" in the manifest."""
import json
import os
import time

RESOURCES = "/etc/kubernetes/static-pod-resources"
IMAGE = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed"
# component, namespace, mirror pod name, labels, revision
COMPONENTS = (
    ("kube-apiserver", "openshift-kube-apiserver", "kube-apiserver-%s",
     {"app": "openshift-kube-apiserver", "apiserver": "true"}, 9),
    ("kube-controller-manager", "openshift-kube-controller-manager", "kube-controller-manager-%s",
     {"app": "kube-controller-manager", "kube-controller-manager": "true"}, 6),
    ("kube-scheduler", "openshift-kube-scheduler", "openshift-kube-scheduler-%s",
     {"app": "openshift-kube-scheduler", "scheduler": "true"}, 5),
)
OPERATORS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
STARTED = "2024-01-01T00:00:00Z"


def pod_manifest(component, namespace, name, labels, rev):
    """The static pod a revision's installer writes (JSON, as the real installers write it)."""
    res = "%s/%s-pod-%d" % (RESOURCES, component, rev)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name.split("-%s")[0], "namespace": namespace,
                         "labels": dict(labels, revision=str(rev))},
            "spec": {"containers": [{"name": component, "image": IMAGE,
                                     "volumeMounts": [{"name": "resource-dir", "mountPath": RESOURCES}]}],
                     "hostNetwork": True, "priorityClassName": "system-node-critical",
                     "volumes": [{"name": "resource-dir", "hostPath": {"path": res}},
                                 {"name": "cert-dir", "hostPath": {"path": RESOURCES + "/%s-certs" % component}}]}}


def write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def install(layout, node, component, namespace, name, labels, rev):
    """Revision rev-1 and rev on NODE: the resource directories, then rev's manifest in place."""
    for r in (rev - 1, rev):
        text = json.dumps(pod_manifest(component, namespace, name, labels, r))
        res = layout.host(node, "%s/%s-pod-%d" % (RESOURCES, component, r))
        write(os.path.join(res, "%s-pod.yaml" % component), text)
        write(os.path.join(res, "configmaps", "config", "config.yaml"),
              "apiVersion: v1\nkind: Config\n# %s revision %d\n" % (component, r), 0o644)
        write(os.path.join(res, "secrets", "serving-cert", "tls.key"), "testbed key of revision %d\n" % r)
    write(layout.host(node, "/etc/kubernetes/manifests/%s-pod.yaml" % component), text)


def mirror_pod(node, ip, component, namespace, name, labels, rev):
    ready = [{"type": t, "status": "True"} for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {"metadata": {"name": name % node, "namespace": namespace, "labels": dict(labels, revision=str(rev)),
                         "annotations": {"kubernetes.io/config.source": "file",
                                         "kubernetes.io/config.mirror": "testbed-%s-%d" % (component, rev)}},
            "spec": {"nodeName": node, "hostNetwork": True, "priority": 2000001000,
                     "containers": [{"name": component, "image": IMAGE}]},
            "status": {"phase": "Running", "hostIP": ip, "podIP": ip, "startTime": STARTED, "conditions": ready,
                       "containerStatuses": [{"name": component, "ready": True, "started": True, "restartCount": 0,
                                              "image": IMAGE, "state": {"running": {"startedAt": STARTED}}}]}}


def conditions(rev, nodes, progressing=None):
    at = "%d node%s at revision %d" % (nodes, "s are" if nodes != 1 else " is", rev)
    prog = ("True", "NodeInstaller_InstallingRevision", progressing) if progressing else ("False", "AsExpected", at)
    return [{"type": t, "status": s, "reason": r, "message": "%s: %s" % (p, m), "lastTransitionTime": STARTED}
            for t, s, r, p, m in (
                ("Degraded", "False", "AsExpected", "NodeControllerDegraded", "All master nodes are ready"),
                ("Progressing",) + prog[:2] + ("NodeInstallerProgressing", prog[2]),
                ("Available", "True", "AsExpected", "StaticPodsAvailable", "%d nodes are active; %s" % (nodes, at)),
                ("Upgradeable", "True", "AsExpected", "KubeletMinorVersionUpgradeable", "All is well"))]


def clusteroperator(component, namespace, rev, nodes, version):
    return {"metadata": {"name": component, "annotations": {
        "include.release.openshift.io/self-managed-high-availability": "true"}},
        "spec": {},
        "status": {"conditions": conditions(rev, nodes), "versions": [
            {"name": "raw-internal", "version": version}, {"name": component, "version": version},
            {"name": "operator", "version": version}],
            "relatedObjects": [{"group": "operator.openshift.io", "resource": component.replace("-", ""),
                                "name": "cluster"},
                               {"group": "", "resource": "namespaces", "name": namespace}]}}


def bootstrap(layout, store, nodes, ips, version):
    """At `up`, after the etcd operator's bootstrap: the three components on every node, and their operators."""
    for component, namespace, name, labels, rev in COMPONENTS:
        store.create("namespaces", None, {"metadata": {"name": namespace}})
        for node in nodes:
            install(layout, node, component, namespace, name, labels, rev)
            store.create("pods", namespace, mirror_pod(node, ips[node], component, namespace, name, labels, rev))
        store.create("clusteroperators", None, clusteroperator(component, namespace, rev, len(nodes), version))


# ---------------------------------------------------------------------------------------------- Progressing

def control_file(layout):
    return layout.p("progressing.json")


def forced_progressing(layout):
    """{operator: message} of the operators `testbed progressing` has made Progressing."""
    try:
        with open(control_file(layout)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def set_progressing(layout, operator, message, api_request):
    """Makes OPERATOR Progressing (message) or not (message None); returns once the ClusterOperator shows it.
    The etcd operator's status writer reads the control file; the others are written here."""
    forced = forced_progressing(layout)
    forced.pop(operator, None)
    if message:
        forced[operator] = message
    write(control_file(layout), json.dumps(forced, sort_keys=True))
    path = "/apis/config.openshift.io/v1/clusteroperators/" + operator
    want = "True" if message else "False"
    for _ in range(100):
        co = api_request(layout, "GET", path)
        if operator != "etcd":
            comp = next(c for c in COMPONENTS if c[0] == operator)
            co["status"]["conditions"] = conditions(comp[4], len(co_nodes(layout)), message)
            co = api_request(layout, "PUT", path + "/status", co)
        if progressing_of(co) == want:
            return co
        time.sleep(0.2)
    raise RuntimeError("clusteroperator %s is not Progressing=%s after 20s" % (operator, want))


def co_nodes(layout):
    with open(layout.config) as f:
        return json.load(f)["names"]


def progressing_of(co):
    return next((c.get("status") for c in co.get("status", {}).get("conditions", []) if c["type"] == "Progressing"),
                None)


def summary(layout, node):
    """For `testbed status`: the revision directories on NODE (names only)."""
    base = layout.host(node, RESOURCES)
    return sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d))) if os.path.isdir(base) else []
