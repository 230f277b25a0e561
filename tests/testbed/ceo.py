"""The simulated cluster-etcd-operator (reference/openshift.md 1.4-1.8): one thread that, on every tick,

- checks member health through etcd's JSON gateway (the operator's own client certificate),
- issues missing per-node secrets etcd-peer-/etcd-serving-/etcd-serving-metrics-<node> (real certs from
  the etcd-signer) and keeps the aggregate secret(s) in sync,
- keeps etcd-endpoints (hex member ID -> IP of voting members) and the etcd-pod template up to date,
- makes a new revision when a revisioned input changed (forceRedeploymentReason, endpoints, certs),
- installs the latest revision node by node (installer pods; the node without a static pod first) and
  waits for each node's etcd pod to be Ready at that revision,
- adds a node missing from the member list (its etcd container Running but not Ready) as a learner and
  promotes it when etcd allows (4.7: a voting member, as 4.10 and earlier did),
- in profile 4.14 refuses all that while quorum is not fault tolerant, unless
  spec.unsupportedConfigOverrides.useUnsupportedUnsafeNonHANonProductionUnstableEtcd is set,
- writes etcds/cluster status (revisions, nodeStatuses, conditions), clusteroperators/etcd and
  the guard pods."""
import base64
import datetime
import json
import logging
import os
import threading
import time

import etcdapi
import manifest as mf
import pki
from store import ApiError

NS = "openshift-etcd"
OVERRIDE = "useUnsupportedUnsafeNonHANonProductionUnstableEtcd"
KINDS = ("peer", "serving", "serving-metrics")
log = logging.getLogger("operator")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(text):
    return base64.b64decode(text or "").decode()


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


class MemberHealth:
    """Members as etcd lists them, each with started/healthy, like CEO's etcdcli memberHealth."""

    def __init__(self, members, healthy):
        self.members = members
        self.healthy = healthy          # member id -> bool
        self.voting = [m for m in members if not m["isLearner"]]

    def name(self, m):
        if m["name"]:
            return m["name"]
        host = m["peerURLs"][0].split("//")[-1].rsplit(":", 1)[0] if m["peerURLs"] else "?"
        return "NAME-PENDING-" + host

    def healthy_members(self):
        return [m for m in self.members if self.healthy.get(m["id"])]

    def unhealthy(self):
        return [m for m in self.members if not m["isLearner"] and not self.healthy.get(m["id"])]

    def unstarted(self):
        return [m for m in self.members if not m["name"]]

    def status(self):
        ok = self.healthy_members()
        if len(ok) == len(self.members):
            return "%d members are available" % len(self.members)
        parts = ["%d of %d members are available" % (len(ok), len(self.members))]
        for m in self.members:
            if not m["name"]:
                parts.append("%s has not started" % self.name(m))
            elif not self.healthy.get(m["id"]):
                parts.append("%s is unhealthy" % m["name"])
        return ", ".join(parts)

    def fault_tolerance_error(self):
        total = len(self.voting)
        quorum = total // 2 + 1
        healthy = len([m for m in self.voting if self.healthy.get(m["id"])])
        if total - quorum < 1:
            return "etcd cluster has quorum of %d which is not fault tolerant: %s" % (quorum, self.status())
        if healthy - quorum < 1:
            return ("etcd cluster has quorum of %d and %d healthy members which is not fault tolerant: %s"
                    % (quorum, healthy, self.status()))
        return None


class Operator(threading.Thread):
    def __init__(self, ctx):
        super().__init__(name="operator", daemon=True)
        self.ctx = ctx
        self.store = ctx.store
        self.cfg = ctx.cfg
        self.profile = mf.PROFILES[ctx.cfg["profile"]]
        self.nodes = list(ctx.cfg["names"])
        self.ips = dict(ctx.cfg["ips"])
        self.stop_event = threading.Event()
        self.transitions = {}           # condition type -> (status, lastTransitionTime)
        self.installed = {}             # node -> revision whose installer ran
        self.waiting_since = {}         # node -> ((pod uid, restartCount, startedAt), first seen waiting)
        self.health = None
        self.bootstrap_cluster = None   # the first revision's initial cluster, until every member has started
        self.ready = False              # healthy, Available, not Progressing (for `up`)

    def t(self, s):
        return self.ctx.t(s)

    def stop(self):
        self.stop_event.set()

    # ------------------------------------------------------------------ small store helpers
    def get(self, plural_, ns, name):
        try:
            return self.store.get(plural_, ns, name)
        except ApiError:
            return None

    def apply(self, plural_, ns, name, fields, labels=None, annotations=None):
        """Creates or updates an object so that its top-level fields equal `fields`. True if it changed."""
        cur = self.get(plural_, ns, name)
        if cur is None:
            obj = {"metadata": {"name": name}}
            if labels:
                obj["metadata"]["labels"] = labels
            if annotations:
                obj["metadata"]["annotations"] = annotations
            obj.update(json.loads(json.dumps(fields)))
            self.store.create(plural_, ns, obj)
            return True
        if all(cur.get(k) == v for k, v in fields.items()):
            return False
        self.store.update(plural_, ns, name, lambda o: o.update(json.loads(json.dumps(fields))))
        return True

    def configmap(self, name, data, ns=NS):
        return self.apply("configmaps", ns, name, {"data": data})

    def secret(self, name, data, type_="Opaque", ns=NS, annotations=None):
        return self.apply("secrets", ns, name, {"type": type_, "data": {k: b64(v) for k, v in data.items()}},
                          annotations=annotations)

    # ------------------------------------------------------------------ bootstrap (run once by `up`)
    def bootstrap(self):
        """Creates the cluster's objects and revision 1, and installs it on every node."""
        layout, store = self.ctx.layout, self.store
        for ns in ("default", "kube-system", NS, "openshift-etcd-operator", "openshift-config",
                   "openshift-config-managed", "openshift-machine-api"):
            store.create("namespaces", None, {"metadata": {"name": ns, "labels": {
                "openshift.io/cluster-monitoring": "true"} if ns.startswith("openshift-etcd") else {}}})
        for i, node in enumerate(self.nodes):
            store.create("nodes", None, self.node_object(node))
        signer = self.ctx.signer
        ca_pem = open(signer[0]).read()
        metrics_ca = open(self.ctx.metrics_signer[0]).read()
        self.secret("etcd-signer", {"tls.crt": ca_pem, "tls.key": open(signer[1]).read()},
                    "kubernetes.io/tls", ns="openshift-config")
        self.secret("etcd-metric-signer", {"tls.crt": metrics_ca,
                                           "tls.key": open(self.ctx.metrics_signer[1]).read()},
                    "kubernetes.io/tls", ns="openshift-config")
        client = {"tls.crt": open(self.ctx.client_cert[0]).read(), "tls.key": open(self.ctx.client_cert[1]).read()}
        for ns in (NS, "openshift-config", "openshift-etcd-operator"):
            self.secret("etcd-client", client, "kubernetes.io/tls", ns=ns)
            self.configmap("etcd-ca-bundle", {"ca-bundle.crt": ca_pem}, ns=ns)
        for ns in (NS, "openshift-config"):
            self.configmap("etcd-serving-ca", {"ca-bundle.crt": ca_pem}, ns=ns)
        self.configmap("etcd-metrics-proxy-serving-ca", {"ca-bundle.crt": metrics_ca})
        self.configmap("etcd-all-bundles", {"server-ca-bundle.crt": ca_pem, "metrics-ca-bundle.crt": metrics_ca})
        self.sync_certs(None, {}, force=True)
        store.create("etcds", None, {
            "metadata": {"name": "cluster", "annotations": {
                "include.release.openshift.io/self-managed-high-availability": "true",
                "release.openshift.io/create-only": "true"}},
            "spec": {"managementState": "Managed", "logLevel": "Normal", "operatorLogLevel": "Normal",
                     "forceRedeploymentReason": "", "unsupportedConfigOverrides": None,
                     "observedConfig": None},
            "status": {"latestAvailableRevision": 0, "nodeStatuses": [], "conditions": []}})
        version = self.profile["version"]
        store.create("clusterversions", None, {
            "metadata": {"name": "version"},
            "spec": {"channel": "stable-" + self.cfg["profile"], "clusterID": self.cfg["cluster_token"]},
            "status": {"desired": {"version": version, "image": "quay.io/openshift-release-dev/ocp-release:%s-x86_64" % version},
                       "history": [{"state": "Completed", "version": version, "startedTime": now(),
                                    "completionTime": now(), "verified": False}],
                       "observedGeneration": 1, "versionHash": "testbed",
                       "conditions": [{"type": "Available", "status": "True", "lastTransitionTime": now(),
                                       "message": "Done applying %s" % version},
                                      {"type": "Failing", "status": "False", "lastTransitionTime": now()},
                                      {"type": "Progressing", "status": "False", "lastTransitionTime": now(),
                                       "message": "Cluster version is %s" % version}]}})
        store.create("clusteroperators", None, {
            "metadata": {"name": "etcd", "annotations": {
                "include.release.openshift.io/self-managed-high-availability": "true"}},
            "spec": {},
            "status": {"conditions": [], "versions": [], "relatedObjects": [
                {"group": "operator.openshift.io", "resource": "etcds", "name": "cluster"},
                {"group": "", "resource": "namespaces", "name": "openshift-config"},
                {"group": "", "resource": "namespaces", "name": "openshift-config-managed"},
                {"group": "", "resource": "namespaces", "name": "openshift-etcd-operator"},
                {"group": "", "resource": "namespaces", "name": NS}]}})
        # etcd-endpoints: no member IDs yet (the cluster does not exist); the first revision bootstraps it
        self.configmap("etcd-endpoints", {"testbed-bootstrap-" + n: self.ips[n] for n in self.nodes})
        self.bootstrap_cluster = ",".join("%s=https://%s:2380" % (n, self.ips[n]) for n in self.nodes)
        self.render_template("", self.bootstrap_cluster)
        self.sync_revision()
        for node in self.nodes:
            self.run_installer(node, 1)

        def fn(o):
            o["status"]["nodeStatuses"] = [{"nodeName": n, "currentRevision": 1} for n in self.nodes]
        store.update("etcds", None, "cluster", fn)
        os.makedirs(layout.p("pki"), exist_ok=True)

    def node_object(self, node):
        ip = self.ips[node]
        return {"metadata": {"name": node, "labels": {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
            "node.openshift.io/os_id": "rhcos"}},
            "spec": {"taints": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status",
                                       "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
                       "nodeInfo": {"kubeletVersion": "v1.27.10+testbed", "osImage": "Red Hat Enterprise Linux CoreOS",
                                    "containerRuntimeVersion": "cri-o://1.27.0", "architecture": "amd64",
                                    "operatingSystem": "linux"}}}

    # ------------------------------------------------------------------ main loop
    def run(self):
        while not self.stop_event.is_set():
            rv = self.store.resource_version
            try:
                self.sync()
            except Exception:
                log.exception("operator sync failed")
            # a settled cluster is checked once a second; any change in the API wakes the operator at once
            self.store.wait_for_change(self.t(1.0) if self.ready else self.t(0.3), since=rv)
            if self.stop_event.is_set():
                break

    def member_health(self):
        client = self.ctx.etcd_client()
        eps = ["https://%s:2379" % self.ips[n] for n in self.nodes]
        try:
            members, _ = client.member_list(endpoints=eps, timeout=1.0)
        except (etcdapi.Unreachable, etcdapi.EtcdError) as e:
            log.debug("member list failed: %s", e)
            return None
        healthy = {}
        for m in members:
            ok = False
            if m["name"] and m["clientURLs"]:
                ok, _ = client.health(m["clientURLs"][0], timeout=1.0)
            healthy[m["id"]] = ok
        return MemberHealth(members, healthy)

    def override_set(self, etcd):
        o = (etcd.get("spec") or {}).get("unsupportedConfigOverrides") or {}
        return isinstance(o, dict) and bool(o.get(OVERRIDE))

    def sync(self):
        etcd = self.get("etcds", None, "cluster")
        if etcd is None:
            return
        mh = self.member_health()
        self.health = mh
        if self.bootstrap_cluster:
            # bootstrapping: nothing to reconcile until every member has started (published its client URLs)
            if mh is None or len(mh.members) < len(self.nodes) or not all(m["clientURLs"] for m in mh.members):
                return
            self.bootstrap_cluster = None
            log.info("bootstrap complete: %s", mh.status())
        conds = {}
        gate = None
        if mh is None:
            gate = "etcd cluster is unreachable"
        elif not self.override_set(etcd):
            gate = mh.fault_tolerance_error()
        rolling = self.rollout_in_progress(etcd)
        profile_gate = gate if self.profile["quorum_gate"] else None
        self.sync_certs(profile_gate, conds, rolling=rolling)
        self.sync_endpoints(mh, gate, conds)
        if profile_gate:
            conds["TargetConfigControllerDegraded"] = (
                "True", "SyncError", "TargetConfigController can't evaluate whether quorum is safe: " + profile_gate)
        else:
            self.render_template(etcd["spec"].get("forceRedeploymentReason") or "", None)
            conds["TargetConfigControllerDegraded"] = ("False", "AsExpected", "")
        self.sync_revision()
        etcd = self.get("etcds", None, "cluster")
        self.sync_installer(etcd, conds)
        self.sync_members(mh, conds)
        self.sync_guards(conds)
        self.write_status(mh, conds)

    # ------------------------------------------------------------------ certificates
    def sync_certs(self, gate, conds, rolling=False, force=False):
        missing = [(n, k) for n in self.nodes for k in KINDS
                   if self.get("secrets", NS, "etcd-%s-%s" % (k, n)) is None]
        if missing and not force:
            if gate:
                conds["EtcdCertSignerControllerDegraded"] = (
                    "True", "SyncError", "EtcdCertSignerController can't evaluate whether quorum is safe: " + gate)
                return
            if rolling:
                conds["EtcdCertSignerControllerDegraded"] = (
                    "False", "AsExpected", "skipping EtcdCertSignerController: a revision rollout is in progress")
                return
        ips, dns = pki.node_sans(self.ips.values())
        for node, kind in missing:
            ca = self.ctx.metrics_signer if kind == "serving-metrics" else self.ctx.signer
            cn = {"peer": "system:etcd-peer:" + node, "serving": "system:etcd-server:" + node,
                  "serving-metrics": "system:etcd-metric:" + node}[kind]
            org = {"peer": "system:etcd-peers", "serving": "system:etcd-servers",
                   "serving-metrics": "system:etcd-metrics"}[kind]
            crt, key = pki.issue_pem(ca[0], ca[1], cn, org, ips, dns)
            self.secret("etcd-%s-%s" % (kind, node), {"tls.crt": crt, "tls.key": key}, "kubernetes.io/tls",
                        annotations={"auth.openshift.io/certificate-issuer": "openshift-etcd_etcd-signer",
                                     "auth.openshift.io/certificate-hostnames": ",".join(dns + ips)})
            log.info("issued secret etcd-%s-%s", kind, node)
        conds.setdefault("EtcdCertSignerControllerDegraded", ("False", "AsExpected", ""))
        for agg, kinds in self.profile["aggregates"].items():
            data = {}
            for n in self.nodes:
                for k in kinds:
                    s = self.get("secrets", NS, "etcd-%s-%s" % (k, n))
                    if s is None:
                        continue
                    data["etcd-%s-%s.crt" % (k, n)] = unb64(s["data"]["tls.crt"])
                    data["etcd-%s-%s.key" % (k, n)] = unb64(s["data"]["tls.key"])
            self.secret(agg, data)

    # ------------------------------------------------------------------ endpoints, target config, revisions
    def sync_endpoints(self, mh, gate, conds):
        if mh is None:
            conds["EtcdEndpointsDegraded"] = ("True", "ErrorUpdatingEtcdEndpoints", "etcd cluster is unreachable")
            return
        if gate:
            conds["EtcdEndpointsDegraded"] = (
                "True", "ErrorUpdatingEtcdEndpoints", "EtcdEndpointsController can't evaluate whether quorum is safe: "
                + gate)
            return
        data = {}
        for m in mh.members:
            if m["isLearner"] or not m["peerURLs"]:
                continue
            host = m["peerURLs"][0].split("//")[-1].rsplit(":", 1)[0]
            data["%x" % m["id"]] = host
        self.configmap("etcd-endpoints", data)
        conds["EtcdEndpointsDegraded"] = ("False", "AsExpected", "")

    def render_template(self, reason, bootstrap):
        ep = self.get("configmaps", NS, "etcd-endpoints")
        ips = sorted(set((ep or {}).get("data", {}).values()))
        pod = mf.render_template(self.cfg["profile"], self.ips, ips, reason, self.cfg["cluster_token"], bootstrap)
        self.configmap("etcd-pod", {"pod.yaml": mf.dumps(pod), "forceRedeploymentReason": reason,
                                    "version": self.profile["version"]})

    def revisioned(self):
        """The revisioned inputs: (plural, name) pairs."""
        out = [("configmaps", "etcd-pod"), ("configmaps", "etcd-endpoints"), ("configmaps", "etcd-all-bundles")]
        return out + [("secrets", agg) for agg in self.profile["aggregates"]]

    def sync_revision(self):
        etcd = self.get("etcds", None, "cluster")
        latest = etcd["status"].get("latestAvailableRevision", 0) if etcd else 0
        changed = []
        for plural_, name in self.revisioned():
            cur = self.get(plural_, NS, name)
            old = self.get(plural_, NS, "%s-%d" % (name, latest)) if latest else None
            if cur is not None and (old is None or old.get("data") != cur.get("data")):
                changed.append("%s/%s" % (plural_[:-1], name))
        if not changed:
            return latest
        rev = latest + 1
        for plural_, name in self.revisioned():
            cur = self.get(plural_, NS, name)
            if cur is None:
                continue
            fields = {"data": cur.get("data", {})}
            if plural_ == "secrets":
                fields["type"] = cur.get("type", "Opaque")
            self.apply(plural_, NS, "%s-%d" % (name, rev), fields,
                       annotations={"operator.openshift.io/revision": str(rev)})
        reason = 'required %s has changed' % changed[0]

        def fn(o):
            o["status"]["latestAvailableRevision"] = rev
            o["status"]["latestAvailableRevisionReason"] = ""
        self.store.update("etcds", None, "cluster", fn)
        log.info('new revision %d triggered by "%s"', rev, reason)
        self.event("RevisionTriggered", 'new revision %d triggered by "%s"' % (rev, reason))
        return rev

    def event(self, reason, message):
        try:
            self.store.create("events", "openshift-etcd-operator", {
                "metadata": {"generateName": "etcd-operator."},
                "involvedObject": {"kind": "Deployment", "namespace": "openshift-etcd-operator", "name": "etcd-operator"},
                "reason": reason, "message": message, "type": "Normal", "count": 1,
                "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "openshift-cluster-etcd-operator"}})
        except ApiError:
            pass

    # ------------------------------------------------------------------ installer
    def rollout_in_progress(self, etcd):
        latest = etcd["status"].get("latestAvailableRevision", 0)
        for ns in etcd["status"].get("nodeStatuses", []):
            if ns.get("targetRevision") and ns.get("currentRevision") != ns.get("targetRevision"):
                return True
            if ns.get("currentRevision") != latest:
                return True
        return False

    def pod_ready_at(self, node, rev):
        pod = self.get("pods", NS, "etcd-" + node)
        if pod is None or pod["metadata"].get("labels", {}).get("revision") != str(rev):
            return False
        return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))

    def sync_installer(self, etcd, conds):
        latest = etcd["status"].get("latestAvailableRevision", 0)
        statuses = {s["nodeName"]: dict(s) for s in etcd["status"].get("nodeStatuses", [])}
        for n in self.nodes:
            statuses.setdefault(n, {"nodeName": n, "currentRevision": 0})
        active = [s for s in statuses.values() if s.get("targetRevision")]
        if active:
            s = active[0]
            node, target = s["nodeName"], s["targetRevision"]
            if self.installed.get(node) != target:
                self.run_installer(node, target)
            if self.pod_ready_at(node, target):
                s["currentRevision"] = target
                s.pop("targetRevision", None)
                log.info("node %s is at revision %d", node, target)
        else:
            todo = [n for n in self.nodes if statuses[n].get("currentRevision") != latest]
            if todo:
                missing = [n for n in todo if self.get("pods", NS, "etcd-" + n) is None]
                node = (missing or todo)[0]
                statuses[node]["targetRevision"] = latest
                log.info("installing revision %d on %s", latest, node)
        new = [statuses[n] for n in self.nodes]
        if new != etcd["status"].get("nodeStatuses"):
            def fn(o):
                o["status"]["nodeStatuses"] = new
            self.store.update("etcds", None, "cluster", fn)

    def run_installer(self, node, rev):
        """What installer-<rev>-<node> does: copy the revision's resources and certs to the node, then replace
        the static pod manifest (delete first, then write with mode 0600)."""
        layout = self.ctx.layout
        name = "installer-%d-%s" % (rev, node)
        pod = {"metadata": {"name": name, "labels": {"app": "installer"}},
               "spec": {"nodeName": node, "restartPolicy": "Never", "serviceAccountName": "installer-sa",
                        "containers": [{"name": "installer", "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed",
                                        "command": ["cluster-etcd-operator", "installer"],
                                        "args": ["-v=2", "--revision=%d" % rev, "--namespace=" + NS,
                                                 "--pod=etcd-pod", "--resource-dir=/etc/kubernetes/static-pod-resources",
                                                 "--pod-manifest-dir=/etc/kubernetes/manifests"]}]},
               "status": {"phase": "Pending"}}
        try:
            self.store.create("pods", NS, pod)
        except ApiError:
            pass
        started = now()
        res = layout.host(node, "/etc/kubernetes/static-pod-resources/etcd-pod-%d" % rev)
        certs = layout.host(node, "/etc/kubernetes/static-pod-resources/etcd-certs")
        for plural_, base in self.revisioned():
            obj = self.get(plural_, NS, "%s-%d" % (base, rev))
            if obj is None:
                continue
            kind = "configmaps" if plural_ == "configmaps" else "secrets"
            for d in ([res] + ([certs] if base != "etcd-pod" and base != "etcd-endpoints" else [])):
                out = os.path.join(d, kind, base)
                os.makedirs(out, exist_ok=True)
                for k, v in (obj.get("data") or {}).items():
                    text = unb64(v) if plural_ == "secrets" else v
                    path = os.path.join(out, k)
                    with open(path, "w") as f:
                        f.write(text)
                    os.chmod(path, 0o600)
        bundle = self.get("configmaps", NS, "etcd-serving-ca")
        out = os.path.join(certs, "configmaps", "etcd-serving-ca")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "ca-bundle.crt"), "w") as f:
            f.write(bundle["data"]["ca-bundle.crt"])
        template = self.get("configmaps", NS, "etcd-pod-%d" % rev)["data"]["pod.yaml"]
        text = mf.for_node(template, node, rev)
        manifest = layout.manifest(node)
        os.makedirs(os.path.dirname(manifest), exist_ok=True)
        try:
            os.unlink(manifest)
        except OSError:
            pass
        tmp = manifest + ".tmp"   # written aside and renamed so the kubelet never reads half a file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.rename(tmp, manifest)
        self.installed[node] = rev
        done = now()

        def fn(o):
            o["status"] = {"phase": "Succeeded", "hostIP": self.ips[node], "podIP": self.ips[node],
                           "startTime": started,
                           "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
                           "containerStatuses": [{"name": "installer", "ready": False, "restartCount": 0,
                                                  "started": False, "image": o["spec"]["containers"][0]["image"],
                                                  "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                                           "startedAt": started, "finishedAt": done}}}]}
        try:
            self.store.update("pods", NS, name, fn)
        except ApiError:
            pass
        log.info("installer-%d-%s wrote %s", rev, node, layout.manifest_rel)

    # ------------------------------------------------------------------ members
    def sync_members(self, mh, conds):
        if mh is None:
            conds["ClusterMemberControllerDegraded"] = ("True", "SyncError", "etcd cluster is unreachable")
            return
        errors = []
        client = self.ctx.etcd_client()
        eps = ["https://%s:2379" % self.ips[n] for n in self.nodes]
        client.endpoints = eps
        unhealthy = mh.unhealthy() + [m for m in mh.unstarted() if m not in mh.unhealthy()]
        if unhealthy:
            errors.append("unhealthy members found during reconciling members")
        else:
            peers = {u for m in mh.members for u in m["peerURLs"]}
            for node in self.nodes:
                url = "https://%s:2380" % self.ips[node]
                if url in peers or not self.waiting_to_join(node):
                    continue
                learner = self.cfg["profile"] != "4.7"
                try:
                    mid = client.member_add(url, learner=learner)
                    log.info("added %s as %s %x", node, "learner" if learner else "member", mid)
                    self.event("MemberAddAsLearner" if learner else "MemberAdd",
                               "successfully added new member %s" % url)
                except (etcdapi.EtcdError, etcdapi.Unreachable) as e:
                    errors.append("failed to add member %s: %s" % (url, e))
                break
        for m in mh.members:
            if m["isLearner"] and m["name"]:
                try:
                    client.member_promote(m["id"])
                    log.info("promoted learner %s (%x)", m["name"], m["id"])
                    self.event("MemberPromote", "successfully promoted learner member %s" % m["peerURLs"][0])
                except (etcdapi.EtcdError, etcdapi.Unreachable) as e:
                    if "in sync with leader" not in str(e):
                        errors.append("failed to promote learner %s: %s" % (m["name"], e))
        conds["ClusterMemberControllerDegraded"] = ("True", "SyncError", "\n".join(errors)) if errors \
            else ("False", "AsExpected", "")

    def waiting_to_join(self, node):
        """The node's etcd container runs but is not ready (discover-etcd-initial-cluster is waiting), and has
        for a while: a start check that fails exits within a second and must not count."""
        pod = self.get("pods", NS, "etcd-" + node)
        if pod is None:
            return False
        for c in pod.get("status", {}).get("containerStatuses", []):
            if c["name"] == "etcd":
                running = c.get("state", {}).get("running")
                if not running or c.get("ready"):
                    self.waiting_since.pop(node, None)
                    return False
                key = (pod["metadata"]["uid"], c.get("restartCount"), running.get("startedAt"))
                seen = self.waiting_since.get(node)
                if seen is None or seen[0] != key:
                    self.waiting_since[node] = (key, time.monotonic())
                    return False
                return time.monotonic() - seen[1] >= self.t(2.0)
        return False

    # ------------------------------------------------------------------ guard pods
    def sync_guards(self, conds):
        missing = []
        for node in self.nodes:
            pod = self.get("pods", NS, "etcd-" + node)
            if pod is None:
                missing.append(node)
            ready = pod is not None and any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in pod.get("status", {}).get("conditions", []))
            if self.profile["guard"] == "guard-pods":
                name, labels = "etcd-guard-" + node, {"app": "guard"}
                cname, cmd = "guard", ["/bin/bash", "-c", "sleep infinity"]
            else:
                name = "etcd-quorum-guard-" + format(abs(hash((self.cfg["cluster_token"], node))) % (16 ** 10), "010x")[:10]
                labels, cname = {"k8s-app": "etcd-quorum-guard", "name": "etcd-quorum-guard"}, "guard"
                cmd = ["/bin/bash", "-c", "sleep infinity"]
            status = {"phase": "Running", "hostIP": self.ips[node], "podIP": self.ips[node],
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                                     {"type": "ContainersReady", "status": "True" if ready else "False"},
                                     {"type": "PodScheduled", "status": "True"}],
                      "containerStatuses": [{"name": cname, "ready": ready, "started": True, "restartCount": 0,
                                             "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed",
                                             "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}]}
            cur = self.get("pods", NS, name)
            if cur is None:
                try:
                    self.store.create("pods", NS, {
                        "metadata": {"name": name, "labels": labels},
                        "spec": {"nodeName": node, "containers": [{"name": cname, "command": cmd,
                                 "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed",
                                 "readinessProbe": {"httpGet": {"host": self.ips[node], "path": "readyz",
                                                                "port": 9980, "scheme": "HTTPS"}}}]},
                        "status": status})
                except ApiError:
                    pass
            elif cur.get("status") != status:
                try:
                    self.store.update("pods", NS, name, lambda o: o.update(status=status))
                except ApiError:
                    pass
        if self.profile["guard"] == "guard-pods":
            conds["GuardControllerDegraded"] = ("True", "SyncError", "Missing operand on node " + ", ".join(missing)) \
                if missing else ("False", "AsExpected", "")

    # ------------------------------------------------------------------ status
    def write_status(self, mh, conds):
        etcd = self.get("etcds", None, "cluster")
        latest = etcd["status"].get("latestAvailableRevision", 0)
        statuses = etcd["status"].get("nodeStatuses", [])
        if mh is None:
            conds["EtcdMembersAvailable"] = ("False", "NoQuorum", "etcd cluster is unreachable")
            conds["EtcdMembersDegraded"] = ("True", "UnhealthyMembers", "etcd cluster is unreachable")
            conds["EtcdMembersProgressing"] = ("False", "AsExpected", "No unstarted etcd members found")
        else:
            quorum = len(mh.voting) // 2 + 1
            ok_voting = [m for m in mh.voting if mh.healthy.get(m["id"])]
            conds["EtcdMembersAvailable"] = ("True", "EtcdQuorate", mh.status()) if len(ok_voting) >= quorum \
                else ("False", "NoQuorum", mh.status())
            conds["EtcdMembersDegraded"] = ("True", "UnhealthyMembers", mh.status()) if mh.unhealthy() \
                else ("False", "AsExpected", "No unhealthy members found")
            conds["EtcdMembersProgressing"] = ("True", "MembersNotStarted", mh.status()) if mh.unstarted() \
                else ("False", "AsExpected", "No unstarted etcd members found")
        by_rev = {}
        for s_ in statuses:
            by_rev.setdefault(s_.get("currentRevision", 0), []).append(s_["nodeName"])
        at = "; ".join("%s %s at revision %d" % (plural(len(v), "node"), "is" if len(v) == 1 else "are", r)
                       for r, v in sorted(by_rev.items()))
        progressing = any(s_.get("currentRevision") != latest for s_ in statuses)
        if progressing:
            n_new = len(by_rev.get(latest, []))
            msg = "%s; %s achieved new revision %d" % (at, plural(n_new, "node") + (" has" if n_new == 1 else " have"),
                                                         latest)
            conds["NodeInstallerProgressing"] = ("True", "NodeInstaller", msg)
        else:
            conds["NodeInstallerProgressing"] = ("False", "AllNodesAtLatestRevision", at)
        active, crash = 0, []
        for node in self.nodes:
            pod = self.get("pods", NS, "etcd-" + node)
            if pod is None:
                continue
            if any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])):
                active += 1
            for c in pod.get("status", {}).get("containerStatuses", []):
                w = c.get("state", {}).get("waiting")
                term = c.get("state", {}).get("terminated") or (c.get("lastState") or {}).get("terminated")
                if c.get("ready"):
                    continue
                if w and w.get("reason") not in ("ContainerCreating", "PodInitializing"):
                    crash.append('pod/%s container "%s" is waiting: %s: %s' % (
                        pod["metadata"]["name"], c["name"], w.get("reason"), w.get("message", "")))
                elif term and term.get("exitCode") and c.get("restartCount", 0) > 0:
                    lines = (term.get("message") or "").strip().splitlines()
                    crash.append('pod/%s container "%s" is terminated: %s: %s' % (
                        pod["metadata"]["name"], c["name"], term.get("reason"), lines[-1][-300:] if lines else ""))
        conds["StaticPodsAvailable"] = ("True", "AsExpected", "%s are active; %s" % (plural(active, "node"), at)) \
            if active else ("False", "ZeroNodesActive", "0 nodes are active; " + at)
        conds["StaticPodsDegraded"] = ("True", "Error", "\n".join(crash)) if crash else ("False", "AsExpected", "")
        conds["NodeControllerDegraded"] = ("False", "MasterNodesReady", "All master nodes are ready")
        conds["RevisionControllerDegraded"] = ("False", "AsExpected", "")
        conds["InstallerControllerDegraded"] = ("False", "AsExpected", "")
        conds["NodeInstallerDegraded"] = ("False", "AsExpected", "")
        conds["EtcdRunningInCluster"] = ("True", "AsExpected", "Etcd is running in cluster")
        if self.override_set(etcd):
            conds["UnsupportedConfigOverridesUpgradeable"] = ("False", "UnsupportedConfigOverridesSet",
                                                              "setting: [%s]" % OVERRIDE)
        else:
            conds["UnsupportedConfigOverridesUpgradeable"] = ("True", "NoUnsupportedConfigOverrides",
                                                              "No unsupported config overrides found")
        conditions = [self.condition(k, *v) for k, v in sorted(conds.items())]

        def fn(o):
            o["status"]["conditions"] = conditions
            o["status"]["observedGeneration"] = o["metadata"].get("generation", 1)
            o["status"]["readyReplicas"] = 0
            o["status"]["controlPlaneHardwareSpeed"] = "Standard"
        self.store.update("etcds", None, "cluster", fn)
        self.write_clusteroperator(conds)
        mh_ok = mh is not None and len(mh.members) == len(self.nodes) and not mh.unhealthy() \
            and not mh.unstarted() and not any(m["isLearner"] for m in mh.members)
        self.ready = mh_ok and active == len(self.nodes) and not progressing and not crash

    def condition(self, type_, status, reason, message):
        prev = self.transitions.get(type_)
        if prev is None or prev[0] != status:
            prev = (status, now())
            self.transitions[type_] = prev
        c = {"type": type_, "status": status, "lastTransitionTime": prev[1]}
        if reason:
            c["reason"] = reason
        if message:
            c["message"] = message
        return c

    def write_clusteroperator(self, conds):
        def union(suffix, bad):
            hits = [(k, v) for k, v in sorted(conds.items()) if k.endswith(suffix) and v[0] == bad]
            return hits
        deg = union("Degraded", "True")
        prog = union("Progressing", "True")
        unavail = union("Available", "False")
        upg = union("Upgradeable", "False")

        def reason(hits):
            out = []
            for k, v in hits:
                prefix = k
                for suffix in ("Degraded", "Progressing", "Available", "Upgradeable"):
                    if k.endswith(suffix):
                        prefix = k[:-len(suffix)]
                out.append("%s_%s" % (prefix, v[1]))
            return "::".join(out)

        def msg(hits):
            return "\n".join("%s: %s" % (k, v[2]) for k, v in hits)
        co = [
            self.condition("co/Degraded", "True" if deg else "False", reason(deg) if deg else "AsExpected",
                           msg(deg) if deg else "NodeControllerDegraded: All master nodes are ready"),
            self.condition("co/Progressing", "True" if prog else "False", reason(prog) if prog else "AsExpected",
                           msg(prog) if prog else conds["NodeInstallerProgressing"][2]),
            self.condition("co/Available", "False" if unavail else "True", reason(unavail) if unavail else "AsExpected",
                           msg(unavail) if unavail else "StaticPodsAvailable: " + conds["StaticPodsAvailable"][2]),
            self.condition("co/Upgradeable", "False" if upg else "True", reason(upg) if upg else "AsExpected",
                           msg(upg) if upg else "All is well"),
        ]
        for c in co:
            c["type"] = c["type"][3:]
        versions = [{"name": "raw-internal", "version": self.profile["version"]},
                    {"name": "etcd", "version": "3.5.9" if self.cfg["profile"] != "4.7" else "3.4.14"},
                    {"name": "operator", "version": self.profile["version"]}]

        def fn(o):
            o["status"]["conditions"] = co
            o["status"]["versions"] = versions
        self.store.update("clusteroperators", None, "etcd", fn)
