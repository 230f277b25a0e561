"""Discovery documents (/api, /apis, /api/v1, /apis/G/V) and /version of the simulated API server."""
import re

from store import RESOURCES

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# group -> [(plural, kind, namespaced, verbs)] for the non-stored review resources
REVIEWS = {
    "authorization.k8s.io": [("selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
                              ["create"])],
    "authentication.k8s.io": [("selfsubjectreviews", "SelfSubjectReview", False, ["create"])],
}
SUBRESOURCES = {"pods": [("pods/exec", "PodExecOptions", ["create", "get"]),
                         ("pods/log", "Pod", ["get"]),
                         ("pods/status", "Pod", ["get", "patch", "update"])],
                "namespaces": [("namespaces/status", "Namespace", ["get", "patch", "update"])],
                "nodes": [("nodes/status", "Node", ["get", "patch", "update"])],
                "etcds": [("etcds/status", "Etcd", ["get", "patch", "update"])],
                "clusteroperators": [("clusteroperators/status", "ClusterOperator",
                                      ["get", "patch", "update"])],
                "clusterversions": [("clusterversions/status", "ClusterVersion",
                                     ["get", "patch", "update"])],
                "machines": [("machines/status", "Machine", ["get", "patch", "update"])],
                "controlplanemachinesets": [("controlplanemachinesets/status", "ControlPlaneMachineSet",
                                             ["get", "patch", "update"])],
                "baremetalhosts": [("baremetalhosts/status", "BareMetalHost", ["get", "patch", "update"])],
                "certificatesigningrequests": [
                    ("certificatesigningrequests/approval", "CertificateSigningRequest", ["get", "patch", "update"]),
                    ("certificatesigningrequests/status", "CertificateSigningRequest", ["get", "patch", "update"])]}


def groups():
    """{group: [versions], the preferred (the first served by a resource, in RESOURCES order) first}."""
    g = {}
    for r in RESOURCES.values():
        if r.group and r.version not in g.setdefault(r.group, []):
            g[r.group].append(r.version)
    for name in REVIEWS:
        g[name] = ["v1"]
    return g


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _group_doc(name, versions):
    gvs = [{"groupVersion": name + "/" + v, "version": v} for v in sorted(versions, key=_version_rank)]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def _version_rank(v):
    """Kubernetes version priority: GA before beta before alpha, higher numbers first."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, v)
    return ({"": 0, "beta": 1, "alpha": 2}[m.group(2) or ""], -int(m.group(1)), -int(m.group(3) or 0))


def api_group_list():
    out = [_group_doc(name, versions) for name, versions in sorted(groups().items())]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(name):
    versions = groups().get(name)
    if versions is None:
        return None
    return dict(_group_doc(name, versions), kind="APIGroup", apiVersion="v1")


def resource_list(group, version):
    """APIResourceList for group ("" = core) and version, or None when not served."""
    if version not in groups().get(group, ["v1"] if group == "" else []):
        return None
    out = []
    for r in sorted(RESOURCES.values(), key=lambda r: r.plural):
        if r.group != group or r.version != version:
            continue
        out.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": VERBS, "shortNames": r.short_names or None})
        for sub, kind, verbs in SUBRESOURCES.get(r.plural, []):
            out.append({"name": sub, "singularName": "", "namespaced": r.namespaced,
                        "kind": kind, "verbs": verbs})
    for plural, kind, namespaced, verbs in REVIEWS.get(group, []):
        out.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                    "kind": kind, "verbs": verbs})
    for r in out:
        if r.get("shortNames") is None:
            r.pop("shortNames", None)
    gv = group + "/" + version if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def version_info(kube_version):
    major, minor = kube_version.split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": "v" + kube_version,
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.20", "compiler": "gc",
            "platform": "linux/amd64"}
