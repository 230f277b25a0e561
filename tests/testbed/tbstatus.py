"""`testbed status`: the truth about a testbed as JSON, gathered from outside the daemon.

Members come from etcd itself (the JSON gateway, IDs in hex), processes from /proc, objects from the API
server (admin token), files from the node directories."""
import http.client
import json
import os
import ssl

import etcdapi
import staticpods
import tbconfig
import tbdatabase
import tbmount
import tbstatus_machines

NS = "openshift-etcd"
FILE_GLOBS = ("etc/kubernetes/manifests", "var/lib", "tmp")


class ApiFailure(Exception):
    pass


def api_request(layout, method, path, body=None, timeout=5.0, content_type="application/json"):
    """A request to the testbed's API server as kube:admin; returns the decoded JSON answer."""
    cfg = tbconfig.load(layout)
    ctx = ssl.create_default_context(cafile=os.path.join(layout.pki, "kube-apiserver-ca.crt"))
    conn = http.client.HTTPSConnection(cfg["api"]["host"], cfg["api"]["port"], context=ctx, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": "Bearer " + cfg["tokens"]["admin"], "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as e:
        raise ApiFailure("API server %s:%d: %s" % (cfg["api"]["host"], cfg["api"]["port"], e))
    finally:
        conn.close()
    try:
        doc = json.loads(raw.decode() or "null")
    except ValueError:
        doc = raw.decode(errors="replace")
    if resp.status >= 300:
        msg = doc.get("message") if isinstance(doc, dict) else doc
        raise ApiFailure("%s %s: HTTP %d: %s" % (method, path, resp.status, msg))
    return doc


def etcd_container_state(layout, cfg, node):
    try:
        pod = api_request(layout, "GET", "/api/v1/namespaces/%s/pods/etcd-%s" % (NS, node), timeout=2)
    except ApiFailure:
        return None
    for c in pod.get("status", {}).get("containerStatuses", []):
        if c["name"] == "etcd":
            return dict(c.get("state", {}), restartCount=c.get("restartCount"))
    return None


def etcd_processes(layout, node):
    out = []
    data_dir = layout.etcd_mount(node)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not cmd or os.path.basename(cmd[0]) != "etcd":
            continue
        if "--data-dir=" + data_dir in cmd or any(a == "ETCD_DATA_DIR=" + data_dir for a in cmd):
            out.append({"pid": int(d), "argv0": cmd[0]})
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "ETCD_DATA_DIR=" + data_dir in env:
            out.append({"pid": int(d), "argv0": cmd[0]})
    return out


def list_files(root, rel):
    base = os.path.join(root, rel)
    out = []
    if not os.path.isdir(base):
        return out
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        relp = os.path.relpath(dirpath, root)
        depth = relp.count(os.sep) - rel.count("/")
        if rel == "var/lib":
            # only etcd* below var/lib
            if relp == "var/lib":
                dirnames[:] = [d for d in dirnames if d.startswith("etcd")]
                filenames = [f for f in filenames if f.startswith("etcd")]
        for d in dirnames:
            out.append("/" + os.path.join(relp, d) + "/")
        for f in sorted(filenames):
            out.append("/" + os.path.join(relp, f))
        if depth >= 3:
            dirnames[:] = []
    return sorted(out)


def members(layout, cfg):
    eps = ["https://%s:2379" % cfg["ips"][n] for n in cfg["names"]]
    try:
        client = etcdapi.Client(eps, layout.p("etcd", "ca.crt"), layout.p("etcd", "client.crt"),
                                layout.p("etcd", "client.key"), timeout=2.0)
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    try:
        ms, cluster_id = client.member_list()
    except (etcdapi.Unreachable, etcdapi.EtcdError) as e:
        return {"error": str(e)}
    out = []
    for m in ms:
        healthy, reason = (False, "not started")
        if m["clientURLs"]:
            healthy, reason = client.health(m["clientURLs"][0], timeout=1.0)
        out.append({"id": "%x" % m["id"], "name": m["name"], "peerURLs": m["peerURLs"],
                    "clientURLs": m["clientURLs"], "isLearner": m["isLearner"],
                    "status": "started" if m["name"] else "unstarted", "healthy": healthy,
                    **({"reason": reason} if reason and not healthy else {})})
    out.sort(key=lambda x: (x["name"], x["id"]))
    return {"cluster_id": "%x" % cluster_id, "members": out}


def pod_summary(p):
    st = p.get("status", {})
    containers = {}
    for c in st.get("containerStatuses", []):
        state = c.get("state", {})
        kind = next(iter(state), "unknown")
        last = c.get("lastState") or {}
        containers[c["name"]] = {"state": kind, "reason": state.get(kind, {}).get("reason"),
                                 "exitCode": (state.get("terminated") or {}).get("exitCode"),
                                 "ready": c.get("ready"), "restartCount": c.get("restartCount"),
                                 "lastState": next(iter(last), None),
                                 "lastExitCode": (last.get("terminated") or {}).get("exitCode")}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    return {"name": p["metadata"]["name"], "namespace": p["metadata"]["namespace"],
            "revision": p["metadata"].get("labels", {}).get("revision"),
            "uid": p["metadata"]["uid"], "node": p.get("spec", {}).get("nodeName"),
            "phase": st.get("phase"), "ready": ready, "labels": p["metadata"].get("labels", {}),
            "containers": containers}


def collect(layout, alive, pid):
    cfg = tbconfig.load(layout)
    doc = {"dir": layout.dir, "profile": cfg["profile"], "speed": cfg["speed"], "nodes": {},
           "options": {k: cfg.get(k) for k in ("arbiter", "upgrading", "promote_delay", "etcd_disk",
                                                 "quota_backend_bytes", "machines", "provision_delay",
                                                 "node_grace")},
           "gone_nodes": list(cfg.get("gone") or []),
           "daemon": {"pid": pid, "running": alive},
           "api_server": "https://%s:%d" % (cfg["api"]["host"], cfg["api"]["port"])}
    for node in cfg["names"]:
        root = layout.root(node)
        doc["nodes"][node] = {
            "ip": cfg["ips"][node],
            "role": "arbiter" if node == cfg.get("arbiter") else "master",
            "mounts": tbmount.node_mounts(layout, node),
            "etcd_processes": etcd_processes(layout, node),
            "files": {rel: list_files(root, rel) for rel in FILE_GLOBS},
            "static_pod_resources": staticpods.summary(layout, node),
            "powered": (cfg.get("powered") or {}).get(node, True),
        }
    doc["etcd"] = members(layout, cfg) if alive else {"error": "testbed not running"}
    if alive and "error" not in doc["etcd"]:   # no second wait on a cluster that answered no member list
        doc["etcd"]["database"] = tbdatabase.db_view(layout, cfg)
    if not alive:
        return doc
    try:
        pods = api_request(layout, "GET", "/api/v1/pods")["items"]
        doc["pods"] = [pod_summary(p) for p in pods]
        etcd = api_request(layout, "GET", "/apis/operator.openshift.io/v1/etcds/cluster")
        doc["operator"] = {
            "forceRedeploymentReason": etcd.get("spec", {}).get("forceRedeploymentReason"),
            "unsupportedConfigOverrides": etcd.get("spec", {}).get("unsupportedConfigOverrides"),
            "observedConfig": etcd.get("spec", {}).get("observedConfig"),
            "latestAvailableRevision": etcd.get("status", {}).get("latestAvailableRevision"),
            "nodeStatuses": etcd.get("status", {}).get("nodeStatuses"),
            "conditions": {c["type"]: {k: c.get(k) for k in ("status", "reason", "message")}
                           for c in etcd.get("status", {}).get("conditions", [])}}
        co = api_request(layout, "GET", "/apis/config.openshift.io/v1/clusteroperators/etcd")
        doc["clusteroperator"] = {c["type"]: {k: c.get(k) for k in ("status", "reason", "message")}
                                  for c in co.get("status", {}).get("conditions", [])}
        cos = api_request(layout, "GET", "/apis/config.openshift.io/v1/clusteroperators")["items"]
        doc["clusteroperators"] = {o["metadata"]["name"]: {c["type"]: {k: c.get(k) for k in ("status", "reason")}
                                                           for c in o.get("status", {}).get("conditions", [])}
                                   for o in cos}
        cv = api_request(layout, "GET", "/apis/config.openshift.io/v1/clusterversions/version")
        doc["clusterversion"] = {
            "desired": cv.get("status", {}).get("desired", {}).get("version"),
            "history": [{k: h.get(k) for k in ("state", "version", "completionTime")}
                        for h in cv.get("status", {}).get("history", [])],
            "conditions": {c["type"]: c.get("status") for c in cv.get("status", {}).get("conditions", [])}}
        infra = api_request(layout, "GET", "/apis/config.openshift.io/v1/infrastructures/cluster")
        doc["infrastructure"] = {"controlPlaneTopology": infra.get("status", {}).get("controlPlaneTopology")}
        nodes = api_request(layout, "GET", "/api/v1/nodes")["items"]
        for entry in doc["nodes"].values():
            entry.update(ready=None, machine=None, unschedulable=False, taints=[], internal_ip=None)
        for n in nodes:
            if n["metadata"]["name"] in doc["nodes"]:
                doc["nodes"][n["metadata"]["name"]].update(tbstatus_machines.node_summary(n))
        doc.update(tbstatus_machines.collect(lambda path: api_request(layout, "GET", path)))
        leases = api_request(layout, "GET", "/apis/coordination.k8s.io/v1/leases")["items"]
        doc["leases"] = [{"namespace": x["metadata"]["namespace"], "name": x["metadata"]["name"],
                          "uid": x["metadata"]["uid"], "resourceVersion": x["metadata"]["resourceVersion"],
                          **{k: (x.get("spec") or {}).get(k) for k in (
                              "holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime",
                              "leaseTransitions")}} for x in leases]
        secrets = api_request(layout, "GET", "/api/v1/namespaces/%s/secrets" % NS)["items"]
        doc["secrets"] = [{"name": s["metadata"]["name"], "uid": s["metadata"]["uid"], "type": s.get("type"),
                           "resourceVersion": s["metadata"].get("resourceVersion"),
                           "creationTimestamp": s["metadata"].get("creationTimestamp")} for s in secrets]
        doc.update(batch_view(layout, pods))
    except ApiFailure as e:
        doc["api_error"] = str(e)
    return doc


def batch_view(layout, pods):
    """Jobs (their conditions, counts and pods' exit codes), CronJobs, and etcd-medic's ConfigMaps (journals,
    reports) with their data."""
    jobs = api_request(layout, "GET", "/apis/batch/v1/jobs")["items"]
    cjs = api_request(layout, "GET", "/apis/batch/v1/cronjobs")["items"]
    cms = api_request(layout, "GET", "/api/v1/configmaps?labelSelector=app.kubernetes.io%2Fmanaged-by%3Detcd-medic")
    out = {"jobs": [], "cronjobs": [], "medic_configmaps": []}
    for j in jobs:
        st, uid = j.get("status", {}), j["metadata"]["uid"]
        mine = sorted((p for p in pods if p["metadata"].get("labels", {}).get("batch.kubernetes.io/controller-uid")
                       == uid), key=lambda p: p["metadata"]["creationTimestamp"] + p["metadata"]["name"])
        out["jobs"].append({
            "namespace": j["metadata"]["namespace"], "name": j["metadata"]["name"],
            "cronjob": next((r["name"] for r in j["metadata"].get("ownerReferences", []) if r["kind"] == "CronJob"),
                            None),
            "conditions": {c["type"]: c.get("reason") or c["status"] for c in st.get("conditions", [])},
            "active": st.get("active", 0), "succeeded": st.get("succeeded", 0), "failed": st.get("failed", 0),
            "pods": [{"name": p["metadata"]["name"], "phase": p.get("status", {}).get("phase"),
                      "exitCodes": [(c.get("state", {}).get("terminated") or {}).get("exitCode")
                                    for c in p.get("status", {}).get("containerStatuses", [])]} for p in mine]})
    for c in cjs:
        st = c.get("status", {})
        out["cronjobs"].append({"namespace": c["metadata"]["namespace"], "name": c["metadata"]["name"],
                                "active": len(st.get("active", [])), "lastScheduleTime": st.get("lastScheduleTime"),
                                "lastSuccessfulTime": st.get("lastSuccessfulTime")})
    for m in cms["items"]:
        out["medic_configmaps"].append({"namespace": m["metadata"]["namespace"], "name": m["metadata"]["name"],
                                        "labels": m["metadata"].get("labels", {}), "data": m.get("data", {})})
    return out
