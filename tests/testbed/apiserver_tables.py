"""Server-side printing (meta.k8s.io/v1 Table), so `kubectl get` shows the usual columns."""
import datetime

NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace."}
AGE = {"name": "Age", "type": "string", "format": "", "priority": 0,
       "description": "CreationTimestamp of the object."}


def _col(name, priority=0, typ="string"):
    return {"name": name, "type": typ, "format": "", "priority": priority, "description": name}


def age(obj, now=None):
    ts = obj.get("metadata", {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<unknown>"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return human_duration((now - t).total_seconds())


def human_duration(secs):
    secs = max(0, int(secs))
    if secs < 120:
        return "%ds" % secs
    mins = secs // 60
    if mins < 10:
        return "%dm%ds" % (mins, secs % 60) if secs % 60 else "%dm" % mins
    if mins < 180:
        return "%dm" % mins
    hours = mins // 60
    if hours < 48:
        return "%dh" % hours
    return "%dd" % (hours // 24)


def pod_status_reason(pod):
    """What `kubectl get pods` shows in STATUS (kubernetes printers.printPod, simplified)."""
    st = pod.get("status", {})
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("initContainerStatuses") or []:
        s = cs.get("state", {})
        if s.get("terminated", {}).get("exitCode", 0) != 0:
            return "Init:" + (s["terminated"].get("reason") or "Error")
        if s.get("waiting", {}).get("reason") not in (None, "PodInitializing"):
            return "Init:" + s["waiting"]["reason"]
    running = False
    for cs in reversed(st.get("containerStatuses") or []):
        s = cs.get("state", {})
        if s.get("waiting", {}).get("reason"):
            reason = s["waiting"]["reason"]
        elif s.get("terminated", {}).get("reason"):
            reason = s["terminated"]["reason"]
        elif s.get("terminated"):
            reason = "ExitCode:%d" % s["terminated"].get("exitCode", 0)
        elif s.get("running") and cs.get("ready"):
            running = True
    if reason == "Completed" and running:
        reason = "Running"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(pod):
    st = pod.get("status", {})
    cstats = st.get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or []) or len(cstats)
    ready = sum(1 for c in cstats if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in cstats)
    return [pod["metadata"]["name"], "%d/%d" % (ready, total), pod_status_reason(pod),
            str(restarts), age(pod), st.get("podIP") or "<none>",
            pod.get("spec", {}).get("nodeName") or "<none>", "<none>", "<none>"]


def _node_row(node):
    conds = {c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions") or []}
    status = "Ready" if conds.get("Ready") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in node["metadata"].get("labels", {})
                   if k.startswith("node-role.kubernetes.io/"))
    ips = {a.get("type"): a.get("address") for a in node.get("status", {}).get("addresses") or []}
    return [node["metadata"]["name"], status, ",".join(roles) or "<none>", age(node),
            node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
            ips.get("InternalIP", "<none>")]


def _co_row(co):
    conds = {c.get("type"): c for c in co.get("status", {}).get("conditions") or []}
    versions = co.get("status", {}).get("versions") or []
    ver = next((v.get("version", "") for v in versions if v.get("name") == "operator"), "")
    avail = conds.get("Available", {})
    since = age({"metadata": {"creationTimestamp": avail.get("lastTransitionTime")}}) \
        if avail.get("lastTransitionTime") else age(co)
    return [co["metadata"]["name"], ver, avail.get("status", ""),
            conds.get("Progressing", {}).get("status", ""),
            conds.get("Degraded", {}).get("status", ""), since, avail.get("message", "")]


def _machine_row(m):
    ps = ((m.get("spec") or {}).get("providerSpec") or {}).get("value") or {}
    place = ps.get("placement") or {}
    return [m["metadata"]["name"], (m.get("status") or {}).get("phase", ""), ps.get("instanceType", ""),
            place.get("region", ""), place.get("availabilityZone", ""), age(m)]


def _bmh_row(h):
    st, spec = h.get("status") or {}, h.get("spec") or {}
    return [h["metadata"]["name"], (st.get("provisioning") or {}).get("state", ""),
            (spec.get("consumerRef") or {}).get("name", ""), str(bool(spec.get("online"))).lower(),
            st.get("errorType", ""), age(h)]


def _csr_row(c):
    conds = [x.get("type") for x in (c.get("status") or {}).get("conditions") or []]
    spec = c.get("spec") or {}
    return [c["metadata"]["name"], age(c), spec.get("signerName", ""), spec.get("username", ""), "<none>",
            ",".join(conds) or "Pending"]


def _cpms_row(c):
    st, spec = c.get("status") or {}, c.get("spec") or {}
    return [c["metadata"]["name"], str(spec.get("replicas", "")), str(st.get("replicas", "")),
            str(st.get("readyReplicas", "")), str(st.get("updatedReplicas", "")),
            str(st.get("unavailableReplicas", "")), spec.get("state", ""), age(c)]


TABLES = {
    "machines": ([NAME, _col("Phase"), _col("Type"), _col("Region"), _col("Zone"), AGE], _machine_row),
    "baremetalhosts": ([NAME, _col("State"), _col("Consumer"), _col("Online"), _col("Error"), AGE], _bmh_row),
    "certificatesigningrequests": ([NAME, AGE, _col("SignerName"), _col("Requestor"), _col("RequestedDuration"),
                                    _col("Condition")], _csr_row),
    "controlplanemachinesets": ([NAME, _col("Desired"), _col("Current"), _col("Ready"), _col("Updated"),
                                 _col("Unavailable"), _col("State"), AGE], _cpms_row),
    "leases": ([NAME, _col("Holder"), AGE], lambda o: [
        o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity") or "", age(o)]),
    "pods": ([NAME, _col("Ready"), _col("Status"), _col("Restarts", typ="string"), AGE,
              _col("IP", 1), _col("Node", 1), _col("Nominated Node", 1),
              _col("Readiness Gates", 1)], _pod_row),
    "nodes": ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"),
               _col("Internal-IP", 1)], _node_row),
    "namespaces": ([NAME, _col("Status"), AGE], lambda o: [
        o["metadata"]["name"], o.get("status", {}).get("phase", ""), age(o)]),
    "secrets": ([NAME, _col("Type"), _col("Data"), AGE], lambda o: [
        o["metadata"]["name"], o.get("type", "Opaque"), str(len(o.get("data") or {})), age(o)]),
    "configmaps": ([NAME, _col("Data"), AGE], lambda o: [
        o["metadata"]["name"], str(len(o.get("data") or {})), age(o)]),
    "clusteroperators": ([NAME, _col("Version"), _col("Available"), _col("Progressing"),
                          _col("Degraded"), _col("Since"), _col("Message")], _co_row),
}


def wants_table(accept):
    return "as=Table" in (accept or "")


def table(plural, objs, resource_version, include="Metadata"):
    cols, row = TABLES.get(plural, ([NAME, AGE], lambda o: [o["metadata"]["name"], age(o)]))
    rows = []
    for o in objs:
        r = {"cells": row(o)}
        if include == "Object":
            r["object"] = o
        elif include != "None":
            r["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": o.get("metadata", {})}
        rows.append(r)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": cols, "rows": rows}
