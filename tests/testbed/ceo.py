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
import json
import logging
import os
import threading
import time

import etcdapi
import manifest as mf
import pki
from ceo_boot import BootstrapMixin
from ceo_machines import MachinesMixin
from ceo_status import StatusMixin
from ceo_util import KINDS, NS, OVERRIDE, MemberHealth, b64, now, unb64  # noqa: F401
from store import ApiError

log = logging.getLogger("operator")
ARBITER_VERSION = "4.20.8"


class Operator(MachinesMixin, StatusMixin, BootstrapMixin, threading.Thread):
    def __init__(self, ctx):
        super().__init__(name="operator", daemon=True)
        self.ctx = ctx
        self.store = ctx.store
        self.cfg = ctx.cfg
        self.profile = dict(mf.PROFILES[ctx.cfg["profile"]])
        if ctx.cfg.get("arbiter"):
            self.profile["version"] = ARBITER_VERSION   # arbiter topology: OpenShift 4.20 and later
        self.nodes = list(ctx.cfg["names"])   # then the control-plane Node objects (refresh_nodes)
        self.node_objects = {}
        self.stop_event = threading.Event()
        self.transitions = {}           # condition type -> (status, lastTransitionTime)
        self.installed = {}             # node -> revision whose installer ran
        self.waiting_since = {}         # node -> ((pod uid, restartCount, startedAt), first seen waiting)
        self.health = None
        self.bootstrap_cluster = None   # the first revision's initial cluster, until every member has started
        self.ready = False              # healthy, Available, not Progressing (for `up`)
        self.learner_started = {}       # member id -> when the operator first saw the learner started

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
        eps = ["https://%s:2379" % self.ips[n] for n in self.nodes if n in self.ips]
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
        self.refresh_nodes()
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
        machines = self.sync_machines(mh, etcd)
        self.sync_members(mh, conds, machines)
        self.node_controller(conds)
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
            if rolling and not self.new_nodes_only(missing):
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

    def new_nodes_only(self, missing):
        """hasNodeCertDiff: a node whose serving cert is not in the aggregate secret is new; its certs are
        issued even during a rollout ("force leaf sync on node difference")."""
        bundled = set()
        for agg in self.profile["aggregates"]:
            bundled.update(((self.get("secrets", NS, agg) or {}).get("data") or {}).keys())
        return all("etcd-serving-%s.key" % n not in bundled for n, _ in missing)

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
        nodes = {n: self.ips[n] for n in self.nodes if n in self.ips}
        pod = mf.render_template(self.cfg["profile"], nodes, ips, reason, self.cfg["cluster_token"], bootstrap,
                                 quota=self.cfg.get("quota_backend_bytes"))
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
        order = [statuses[n] for n in self.nodes]
        start, why = self.node_to_start_with(order)
        active = order[start] if order[start].get("targetRevision") else None
        if active is not None:
            # in transition: wait for the static pod to be Ready at the target revision; no timeout (library-go
            # installer_controller newNodeStateForInstallInProgress: "TODO: have a timeout here")
            s = active
            node, target = s["nodeName"], s["targetRevision"]
            if latest > target:
                s["targetRevision"] = target = latest      # "new revision pending": move on at once
            if self.installed.get(node) != target:
                self.run_installer(node, target)
            if self.pod_ready_at(node, target):
                s["currentRevision"] = target
                s.pop("targetRevision", None)
                log.info("node %s is at revision %d", node, target)
        else:
            # one node at a time, from the node the real installer controller starts with, in nodeStatuses order
            for i in range(len(order)):
                s = order[(start + i) % len(order)]
                if s.get("currentRevision") != latest:
                    s["targetRevision"] = latest
                    log.info("installing revision %d on %s (%s)", latest, s["nodeName"],
                             why if i == 0 else "the next node in the line")
                    break
        new = [statuses[n] for n in self.nodes]
        if new != etcd["status"].get("nodeStatuses"):
            def fn(o):
                o["status"]["nodeStatuses"] = new
            self.store.update("etcds", None, "cluster", fn)

    def static_pod_state(self, node):
        """(ready, running revision or None) of the node's etcd mirror pod; (False, None) when there is none."""
        pod = self.get("pods", NS, "etcd-" + node)
        if pod is None:
            return False, None
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in pod.get("status", {}).get("conditions", []))
        return ready, pod["metadata"].get("labels", {}).get("revision")

    def node_to_start_with(self, order):
        """library-go installer_controller nodeToStartRevisionWith: the node in transition; else a node
        without a static pod; else the not-ready node at the oldest revision; else the node whose pod runs
        another revision than its currentRevision; else the lowest currentRevision (ties: the first)."""
        for i, s in enumerate(order):
            if s.get("targetRevision"):
                return i, "node %s is progressing towards %d" % (s["nodeName"], s["targetRevision"])
        states = [self.static_pod_state(s["nodeName"]) for s in order]
        best, best_rev = -1, None
        for i, (ready, rev) in enumerate(states):
            if rev is None:
                return i, "node %s static pod not found" % order[i]["nodeName"]
            try:
                num = int(rev)
            except ValueError:
                return i, "node %s has an invalid current revision %r" % (order[i]["nodeName"], rev)
            if not ready and (best_rev is None or num < best_rev):
                best, best_rev = i, num
        if best >= 0:
            return best, "node %s with revision %d is the oldest not ready" % (order[best]["nodeName"], best_rev)
        for i, (ready, rev) in enumerate(states):
            if int(rev) != order[i].get("currentRevision"):
                return i, "node %s is the oldest not matching its expected revision" % order[i]["nodeName"]
        best = min(range(len(order)), key=lambda i: (order[i].get("currentRevision", 0), i))
        return best, "node %s with revision %d is the oldest" % (order[best]["nodeName"],
                                                              order[best].get("currentRevision", 0))

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
        if not self.node_powered(node):
            return      # nothing runs the installer pod on a machine that is off: it stays Pending
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
        with open(os.path.join(res, "etcd-pod.yaml"), "w") as f:   # the installer keeps it beside the resources
            f.write(text)
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
    def sync_members(self, mh, conds, machines=()):
        if mh is None:
            conds["ClusterMemberControllerDegraded"] = ("True", "SyncError", "etcd cluster is unreachable")
            return
        errors = []
        client = self.ctx.etcd_client()
        eps = ["https://%s:2379" % self.ips[n] for n in self.nodes if n in self.ips]
        client.endpoints = eps
        unhealthy = mh.unhealthy() + [m for m in mh.unstarted() if m not in mh.unhealthy()]
        if unhealthy:
            # clustermembercontroller reconcileMembers (release-4.7 to main): unhealthy or unstarted members
            # -> return nil, nothing added or promoted and no error (OCPBUGS-14296)
            log.debug("unhealthy members: not reconciling members")
        else:
            peers = {u for m in mh.members for u in m["peerURLs"]}
            for node in self.nodes:
                url = "https://%s:2380" % self.ips[node]
                if url in peers or not self.waiting_to_join(node) or not self.may_add_member(node, machines):
                    continue
                learner = self.profile["learners"]
                try:
                    mid = client.member_add(url, learner=learner)
                    log.info("added %s as %s %x", node, "learner" if learner else "member", mid)
                    self.event("MemberAddAsLearner" if learner else "MemberAdd",
                               "successfully added new member %s" % url)
                except (etcdapi.EtcdError, etcdapi.Unreachable) as e:
                    errors.append("failed to add member %s: %s" % (url, e))
                break
        for m in ([] if unhealthy else mh.members):
            if m["isLearner"] and m["name"]:
                if not self.learner_in_sync(m):
                    continue
                try:
                    client.member_promote(m["id"])
                    log.info("promoted learner %s (%x)", m["name"], m["id"])
                    self.event("MemberPromote", "successfully promoted learner member %s" % m["peerURLs"][0])
                except (etcdapi.EtcdError, etcdapi.Unreachable) as e:
                    if "in sync with leader" not in str(e):
                        errors.append("failed to promote learner %s: %s" % (m["name"], e))
        conds["ClusterMemberControllerDegraded"] = ("True", "SyncError", "\n".join(errors)) if errors \
            else ("False", "AsExpected", "")

    def learner_in_sync(self, m):
        """--promote-delay: etcd refuses MemberPromote with ErrLearnerNotReady ("can only promote a learner
        member which is in sync with leader") until the learner has caught up with the leader's log, which on
        a real cluster takes as long as sending it the snapshot and the log (database size, disk, network).
        The operator treats that as expected: no error, retried on the next sync (clustermembercontroller
        ensureEtcdLearnerPromotion). Here the catching up takes promote_delay seconds after it started."""
        delay = float(self.cfg.get("promote_delay") or 0)
        if delay <= 0:
            return True
        first = self.learner_started.setdefault(m["id"], time.monotonic())
        if time.monotonic() - first >= self.t(delay):
            return True
        log.debug("not ready for promotion: etcd learner member (%s) is not yet in sync with leader's log",
                  m["peerURLs"][0])
        return False

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
                # not scaled below 1.5 s: a failing start check may take that long on a busy machine
                return time.monotonic() - seen[1] >= max(self.t(2.0), 1.5)
        return False
