"""States that real incidents leave a cluster in, made from outside the daemon by `testbed` subcommands
(docs/testbed-incidents.md says which real state each one stands for and where that comes from).

Control files the daemon's kubelets read (DIR/nodes/NODE/kubelet/):
  corrupt-at-revision  N: when the kubelet next starts the static pod at a revision >= N, it first corrupts
                       the (stopped) member's WAL, so the real etcd refuses to start at that revision.
  fail-starts          K: the next K starts of the etcd container fail their start check (exit 1).
Every wait here is bounded in time."""
import json
import os
import time

import etcdapi
import tbstatus

NS = "openshift-etcd"
STEPS = ("manifest-moved", "member-removed", "secrets-deleted")
KINDS = ("peer", "serving", "serving-metrics")


class StepFailed(Exception):
    pass


def wait_until(pred, seconds, what, interval=0.1):
    end = time.monotonic() + seconds
    last = None
    for _ in range(int(seconds / interval) + 2):
        last = pred()
        if last:
            return last
        if time.monotonic() >= end:
            break
        time.sleep(interval)
    raise StepFailed("timed out after %.0fs waiting for %s" % (seconds, what))


def scaled(cfg, seconds):
    return max(seconds, seconds * 2.0 / float(cfg.get("speed", 1.0)))


def write_control(layout, node, name, value):
    path = os.path.join(layout.kubelet_dir(node), name)
    with open(path + ".tmp", "w") as f:
        f.write("%s\n" % value)
    os.replace(path + ".tmp", path)


def etcd_client(layout, cfg, exclude=None):
    eps = ["https://%s:2379" % cfg["ips"][n] for n in cfg["names"] if n != exclude]
    return etcdapi.Client(eps, layout.p("etcd", "ca.crt"), layout.p("etcd", "client.crt"),
                          layout.p("etcd", "client.key"), timeout=3.0)


def peer_url(cfg, node):
    return "https://%s:2380" % cfg["ips"][node]


def member_of(client, url):
    members, _ = client.member_list()
    return next((m for m in members if url in m["peerURLs"]), None)


# ---------------------------------------------------------------------------------------------- by hand

def by_hand(layout, cfg, node, step):
    """The recovery document's steps for NODE up to and including STEP; returns what was done."""
    if step not in STEPS:
        raise StepFailed("unknown step %r (one of %s)" % (step, ", ".join(STEPS)))
    idx = STEPS.index(step)
    done = []
    # 1. mkdir -p /var/lib/etcd-backup; mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/;
    #    wait until crictl shows no etcd container; mv /var/lib/etcd/ /tmp
    manifest = layout.manifest(node)
    backup = layout.host(node, "/var/lib/etcd-backup")
    if os.path.exists(manifest):
        os.makedirs(backup, exist_ok=True)
        os.rename(manifest, os.path.join(backup, "etcd-pod.yaml"))
        done.append("moved %s to /var/lib/etcd-backup/" % layout.manifest_rel)
    wait_until(lambda: not tbstatus.etcd_processes(layout, node), scaled(cfg, 20),
               "the kubelet of %s to stop etcd" % node)
    data = layout.data_dir(node)
    if os.path.isdir(data):
        dst = layout.host(node, "/tmp/etcd")
        if os.path.lexists(dst):
            raise StepFailed("mv /var/lib/etcd/ /tmp on %s: /tmp/etcd already exists" % node)
        try:
            os.rename(data, dst)
        except OSError as e:
            raise StepFailed("mv /var/lib/etcd/ /tmp on %s: %s (is it a mount point?)" % (node, e.strerror))
        done.append("moved /var/lib/etcd/ to /tmp/etcd")
    if idx >= 1:
        # 2. etcdctl member remove ID (from a healthy member's etcdctl container)
        client = etcd_client(layout, cfg, exclude=node)
        try:
            m = member_of(client, peer_url(cfg, node))
            if m is not None:
                client.member_remove(m["id"])
                done.append("removed member %x (%s)" % (m["id"], m["name"] or peer_url(cfg, node)))
        except (etcdapi.Unreachable, etcdapi.EtcdError) as e:
            raise StepFailed("etcdctl member remove for %s: %s" % (node, e))
    if idx >= 2:
        # 3. oc delete secret -n openshift-etcd etcd-peer-NODE etcd-serving-NODE etcd-serving-metrics-NODE
        for k in KINDS:
            name = "etcd-%s-%s" % (k, node)
            try:
                tbstatus.api_request(layout, "DELETE", "/api/v1/namespaces/%s/secrets/%s" % (NS, name))
                done.append("deleted secret %s" % name)
            except tbstatus.ApiFailure as e:
                if "HTTP 404" not in str(e):
                    raise StepFailed(str(e))
    return done


def unstarted_member(layout, cfg, node, learner=False):
    """A half-done replacement: NODE stopped and removed as by_hand does, then `etcdctl member add NODE
    --peer-urls=https://IP:2380` whose member nothing ever starts (no manifest on NODE)."""
    by_hand(layout, cfg, node, "member-removed")
    client = etcd_client(layout, cfg, exclude=node)
    url = peer_url(cfg, node)
    # etcd (strict reconfig check) refuses with "unhealthy cluster" until every voting member has been
    # connected for 5 s (HealthInterval), e.g. just after a member restarted: retry, as a person would
    end = time.monotonic() + 20
    for _ in range(100):
        try:
            mid = client.member_add(url, learner=learner)
            break
        except (etcdapi.Unreachable, etcdapi.EtcdError) as e:
            if "unhealthy cluster" not in str(e) or time.monotonic() > end:
                raise StepFailed("etcdctl member add %s: %s" % (url, e))
            time.sleep(0.5)
    else:
        raise StepFailed("etcdctl member add %s: still refused" % url)
    m = wait_until(lambda: member_of(client, url), 10, "the new member in the member list")
    return "member %x added for %s%s: name %r, clientURLs %s" % (
        mid, url, " as a learner" if learner else "", m["name"], m["clientURLs"])


# ---------------------------------------------------------------------------------------------- crash loops

def etcd_cluster(layout):
    return tbstatus.api_request(layout, "GET", "/apis/operator.openshift.io/v1/etcds/cluster")


def etcd_pod(layout, node):
    try:
        return tbstatus.api_request(layout, "GET", "/api/v1/namespaces/%s/pods/etcd-%s" % (NS, node), timeout=2)
    except tbstatus.ApiFailure:
        return None


def etcd_container(pod):
    for c in (pod or {}).get("status", {}).get("containerStatuses", []):
        if c["name"] == "etcd":
            return c
    return None


def crashloop_at_new_revision(layout, cfg, node):
    """A rollout stuck on NODE: revision N+1 is made (forceRedeploymentReason, as the recovery document and
    an upgrade do), the installer moves nodes to it one at a time and NODE's etcd crash-loops at N+1."""
    etcd = etcd_cluster(layout)
    st = etcd.get("status", {})
    latest = st.get("latestAvailableRevision", 0)
    statuses = st.get("nodeStatuses", [])
    if any(s.get("targetRevision") or s.get("currentRevision") != latest for s in statuses):
        raise SystemExit("testbed: a rollout is already in progress: %s" % json.dumps(statuses))
    target = latest + 1
    write_control(layout, node, "corrupt-at-revision", target)
    reason = "testbed-crashloop-%s-%d" % (node, time.time())
    tbstatus.api_request(layout, "PATCH", "/apis/operator.openshift.io/v1/etcds/cluster",
                         {"spec": {"forceRedeploymentReason": reason}},
                         content_type="application/merge-patch+json")

    def stuck():
        e = etcd_cluster(layout)
        mine = [s for s in e["status"].get("nodeStatuses", []) if s["nodeName"] == node]
        pod = etcd_pod(layout, node)
        c = etcd_container(pod)
        if not mine or e["status"].get("latestAvailableRevision") != target or c is None:
            return None
        s = mine[0]
        if s.get("currentRevision") != latest or s.get("targetRevision") != target:
            return None
        if pod["metadata"].get("labels", {}).get("revision") != str(target):
            return None
        if c.get("state", {}).get("waiting", {}).get("reason") != "CrashLoopBackOff":
            return None
        return e["status"]["nodeStatuses"]
    try:
        ns = wait_until(stuck, scaled(cfg, 60), "%s to crash-loop at revision %d" % (node, target), 0.2)
    except StepFailed as e:
        print("crashloop --at-new-revision: %s; nodeStatuses now %s" % (
            e, json.dumps(etcd_cluster(layout)["status"].get("nodeStatuses"))))
        return 1
    print("crashloop --at-new-revision: revision %d; %s crash-loops there; nodeStatuses %s" % (
        target, node, json.dumps(ns, sort_keys=True)))
    return 0


def crashloop_recovered(layout, cfg, node, kill_etcd):
    """An etcd container that failed at start (exit 1, its start check: "not found in member list") and
    then came up: Running and Ready, restartCount 2, lastState.terminated.exitCode 1."""
    c = etcd_container(etcd_pod(layout, node))
    if c is None or not c.get("ready"):
        raise SystemExit("testbed: etcd-%s is not Running and Ready" % node)
    base = c.get("restartCount", 0)
    write_control(layout, node, "fail-starts", 1)
    if not kill_etcd(layout, node):
        os.unlink(os.path.join(layout.kubelet_dir(node), "fail-starts"))
        raise SystemExit("testbed: no etcd process of %s to stop" % node)

    def recovered():
        c = etcd_container(etcd_pod(layout, node))
        if c is None or not c.get("ready") or "running" not in c.get("state", {}):
            return None
        term = (c.get("lastState") or {}).get("terminated") or {}
        if c.get("restartCount", 0) < base + 2 or term.get("exitCode") != 1:
            return None
        return c
    try:
        c = wait_until(recovered, scaled(cfg, 40), "etcd-%s to run again after a failed start" % node, 0.2)
    except StepFailed as e:
        print("crashloop --recovered: %s" % e)
        return 1
    print("crashloop --recovered: etcd-%s Running and Ready, restartCount %d, lastState.terminated exitCode %d" % (
        node, c["restartCount"], c["lastState"]["terminated"]["exitCode"]))
    return 0
