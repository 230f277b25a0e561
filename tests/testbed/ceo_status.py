"""The simulated operator's reporting half: guard pods, etcds/cluster status (nodeStatuses, conditions as
reference/openshift.md 1.7 names them) and clusteroperators/etcd (the union of the conditions, 1.8)."""
from ceo_util import NS, now, plural
from store import ApiError
from staticpods import forced_progressing


def leaf_keys(value, prefix=""):
    """The dotted paths of the leaves of an overrides object, sorted (library-go keysSetInUnsupportedConfig)."""
    if not isinstance(value, dict):
        return [prefix] if prefix else []
    keys = []
    for k, v in value.items():
        keys += leaf_keys(v, prefix + "." + k if prefix else k)
    return sorted(keys)


class StatusMixin:
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
        # library-go unsupportedconfigoverridescontroller: False for any unsupportedConfigOverrides but null (its
        # RawExtension is empty only for null: {} too blocks upgrades), the message naming the leaf keys set
        overrides = (etcd.get("spec") or {}).get("unsupportedConfigOverrides")
        if overrides is not None:
            conds["UnsupportedConfigOverridesUpgradeable"] = ("False", "UnsupportedConfigOverridesSet",
                                                              "setting: [%s]" % " ".join(leaf_keys(overrides)))
        else:
            conds["UnsupportedConfigOverridesUpgradeable"] = ("True", "NoUnsupportedConfigOverrides",
                                                              "No unsupported config overrides found")
        conditions = [self.condition(k, *v) for k, v in sorted(conds.items())]

        def fn(o):
            o["status"]["conditions"] = conditions
            o["status"]["observedGeneration"] = o["metadata"].get("generation", 1)
            o["status"]["readyReplicas"] = 0
            if self.profile["hardware_speed"]:     # a 4.13+ field
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
        forced = forced_progressing(self.ctx.layout).get("etcd")   # `testbed progressing DIR etcd`
        if forced:
            conds = dict(conds, NodeInstallerProgressing=("True", "InstallingRevision", forced))
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
        # the operand version "etcd" is the release version on real clusters (4.7.16, 4.12 captures);
        # 4.7 lists operator before etcd
        names = ("raw-internal", "operator", "etcd") if self.cfg["profile"] == "4.7" else \
            ("raw-internal", "etcd", "operator")
        versions = [{"name": n, "version": self.profile["version"]} for n in names]

        def fn(o):
            o["status"]["conditions"] = co
            o["status"]["versions"] = versions
        self.store.update("clusteroperators", None, "etcd", fn)

