"""Discovery documents (/api, /apis, /api/v1, /apis/G/V) and /version of the simulated API server."""
from store import RESOURCES

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# group -> [(plural, kind, namespaced, verbs)] for the non-stored review resources
REVIEWS = {
    "authorization.k8s.io": [("selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
                              ["create"])],
    "authentication.k8s.io": [("selfsubjectreviews", "SelfSubjectReview", False, ["create"])],
}
SUBRESOURCES = {"serviceaccounts": [("serviceaccounts/token", "TokenRequest", ["create"])],
                "pods": [("pods/exec", "PodExecOptions", ["create", "get"]),
                         ("pods/log", "Pod", ["get"]),
                         ("pods/status", "Pod", ["get", "patch", "update"])],
                "namespaces": [("namespaces/status", "Namespace", ["get", "patch", "update"])],
                "nodes": [("nodes/status", "Node", ["get", "patch", "update"])],
                "etcds": [("etcds/status", "Etcd", ["get", "patch", "update"])],
                "clusteroperators": [("clusteroperators/status", "ClusterOperator",
                                      ["get", "patch", "update"])],
                "clusterversions": [("clusterversions/status", "ClusterVersion",
                                     ["get", "patch", "update"])]}


def groups():
    """{group: version} of everything served under /apis."""
    g = {r.group: r.version for r in RESOURCES.values() if r.group}
    for name in REVIEWS:
        g[name] = "v1"
    return g


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group_list():
    out = []
    for name, version in sorted(groups().items()):
        gv = {"groupVersion": name + "/" + version, "version": version}
        out.append({"name": name, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(name):
    version = groups().get(name)
    if version is None:
        return None
    gv = {"groupVersion": name + "/" + version, "version": version}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [gv],
            "preferredVersion": gv}


def resource_list(group, version):
    """APIResourceList for group ("" = core) and version, or None when not served."""
    if groups().get(group, "v1" if group == "" else None) != version:
        return None
    out = []
    for r in sorted(RESOURCES.values(), key=lambda r: r.plural):
        if r.group != group:
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
