"""The simulated operator's view of nodes and machines (docs/testbed-machines.md), after cluster-etcd-operator:

- the control-plane nodes are the Node objects with the master (or arbiter) role; library-go's NodeController
  keeps nodeStatuses in step with them and reports not-ready masters (NodeControllerDegraded);
- MachineDeletionHooksController (pkg/operator/machinedeletionhooks): the preDrain hook EtcdQuorumOperator on
  every master Machine not being deleted, removed from one being deleted once no member has its InternalIP;
- ClusterMemberRemovalController (pkg/operator/clustermemberremovalcontroller): the member of a Machine being
  deleted is removed when enough voting members remain (an unhealthy one first, never below quorum); a member
  in etcd-endpoints with neither a Machine nor a Node, unhealthy, is removed;
- ClusterMemberController only adds a node that has a master Machine (not being deleted, with the hook) when
  the Machine API is functional.
The Machine-aware parts exist from 4.11 on: profiles with `machine_hooks`."""
import logging
import re

import etcdapi
from ceo_util import NS
from store import ApiError

log = logging.getLogger("operator")
MNS = "openshift-machine-api"
HOOK = {"name": "EtcdQuorumOperator", "owner": "clusteroperator/etcd"}
MASTER_SELECTOR = "machine.openshift.io/cluster-api-machine-role=master"
CP_REPLICAS = re.compile(r"^controlPlane:\n(?:  .*\n)*?  replicas: (\d+)", re.M)
ROLES = ("node-role.kubernetes.io/master", "node-role.kubernetes.io/arbiter")


def member_ip(m):
    urls = m.get("peerURLs") or []
    return urls[0].split("//")[-1].rsplit(":", 1)[0] if urls else None


def machine_ips(machine):
    return [a["address"] for a in (machine.get("status") or {}).get("addresses") or [] if a.get("type") == "InternalIP"]


def has_hook(machine):
    pre = ((machine.get("spec") or {}).get("lifecycleHooks") or {}).get("preDrain") or []
    return any(h.get("name") == HOOK["name"] and h.get("owner") == HOOK["owner"] for h in pre)


def node_ip(node):
    return next((a["address"] for a in node.get("status", {}).get("addresses", []) if a["type"] == "InternalIP"), None)


class MachinesMixin:
    # ------------------------------------------------------------------ nodes
    @property
    def ips(self):
        return self.ctx.cfg["ips"]

    def refresh_nodes(self):
        """Control-plane nodes in the order they were first seen (nodeStatuses order), new ones at the end."""
        items, _ = self.store.list("nodes")
        masters = [n for n in items if any(r in n["metadata"].get("labels", {}) for r in ROLES)
                   and n["metadata"]["name"] in self.ips]
        names = {n["metadata"]["name"] for n in masters}
        new = sorted((n for n in masters if n["metadata"]["name"] not in self.nodes),
                     key=lambda n: (n["metadata"].get("creationTimestamp", ""), n["metadata"]["name"]))
        nodes = [n for n in self.nodes if n in names] + [n["metadata"]["name"] for n in new]
        if nodes != self.nodes:
            log.info("control-plane nodes: %s", " ".join(nodes))
            self.nodes = nodes
        self.node_objects = {n["metadata"]["name"]: n for n in masters}

    def node_controller(self, conds):
        """library-go NodeController: masters whose Ready condition is not True."""
        bad = []
        for name in self.nodes:
            ready = next((c for c in self.node_objects.get(name, {}).get("status", {}).get("conditions", [])
                          if c["type"] == "Ready"), None)
            if ready is not None and ready.get("status") != "True":
                bad.append('node "%s" not ready since %s because %s (%s)' % (
                    name, ready.get("lastTransitionTime"), ready.get("reason"), ready.get("message")))
        if bad:
            conds["NodeControllerDegraded"] = ("True", "MasterNodesReady",
                                               "The master nodes not ready: " + ", ".join(bad))

    def node_powered(self, node):
        fleet = getattr(self.ctx, "fleet", None)
        inst = fleet.get(node) if fleet is not None else None
        return inst is None or (inst.powered and not inst.gone)

    # ------------------------------------------------------------------ machines
    def master_machines(self):
        if not self.profile.get("machine_hooks"):
            return []
        try:
            items, _ = self.store.list("machines", MNS, label_selector=MASTER_SELECTOR)
        except ApiError:
            return []
        return items

    def machine_api_functional(self, machines):
        return any((m.get("status") or {}).get("phase") == "Running" for m in machines)

    def may_add_member(self, node, machines):
        """ClusterMemberController with a functional Machine API: the node's machine (by InternalIP) exists,
        is not being deleted and carries the deletion hook."""
        if not self.machine_api_functional(machines):
            return True
        ip = self.ips.get(node)
        m = next((m for m in machines if ip in machine_ips(m)), None)
        if m is None or m["metadata"].get("deletionTimestamp") or not has_hook(m):
            log.debug("ignoring node %s for scale-up (machine %s)", node, m and m["metadata"]["name"])
            return False
        return True

    def sync_machines(self, mh, etcd):
        machines = self.master_machines()
        if not machines or not self.machine_api_functional(machines):
            return machines
        for m in machines:
            if not m["metadata"].get("deletionTimestamp") and not has_hook(m):
                self.add_hook(m)
        if mh is not None:
            self.remove_hooks(machines, mh)
            if not self.rollout_in_progress(etcd) and self.endpoints_match(mh):
                self.remove_members(machines, mh)
        return machines

    def add_hook(self, m):
        def fn(o):
            hooks = o["spec"].setdefault("lifecycleHooks", {})
            pre = [h for h in hooks.get("preDrain") or [] if h.get("name") != HOOK["name"]]
            hooks["preDrain"] = pre + [dict(HOOK)]
        self.store.update("machines", MNS, m["metadata"]["name"], fn)
        log.info("added the deletion hook to machine %s", m["metadata"]["name"])

    def remove_hooks(self, machines, mh):
        ips = {member_ip(m) for m in mh.members}
        for m in machines:
            if not m["metadata"].get("deletionTimestamp") or not has_hook(m):
                continue
            if any(ip in ips for ip in machine_ips(m)):
                continue

            def fn(o):
                o["spec"]["lifecycleHooks"]["preDrain"] = [
                    h for h in o["spec"]["lifecycleHooks"].get("preDrain") or [] if h.get("name") != HOOK["name"]]
            self.store.update("machines", MNS, m["metadata"]["name"], fn)
            log.info("removed the deletion hook from machine %s as it doesn't have a member", m["metadata"]["name"])
            self.event("MachineDeletionHook", "successfully removed the deletion hook from machine %s as it doesn't "
                       "have a member" % m["metadata"]["name"])
            self.remove_guard(m)

    def remove_guard(self, m):
        """attemptToDeleteQuorumGuard: the guard pod of a cordoned node whose machine is going away."""
        node = ((m.get("status") or {}).get("nodeRef") or {}).get("name")
        n = self.node_objects.get(node) if node else None
        if n is None or not (n.get("spec") or {}).get("unschedulable"):
            return
        try:
            self.store.delete("pods", NS, "etcd-guard-" + node)
        except ApiError:
            pass

    def endpoints_match(self, mh):
        ep = self.get("configmaps", NS, "etcd-endpoints")
        want = {"%x" % m["id"] for m in mh.voting}
        return ep is not None and set((ep.get("data") or {}).keys()) == want

    def install_replicas(self):
        """ReadDesiredControlPlaneReplicasCount: controlPlane.replicas of the install-config."""
        cm = self.get("configmaps", "kube-system", "cluster-config-v1")
        got = CP_REPLICAS.search(((cm or {}).get("data") or {}).get("install-config", ""))
        return int(got.group(1)) if got else 3

    def remove_members(self, machines, mh):
        """ClusterMemberRemovalController: removeMemberWithoutMachine, then attemptToScaleDown."""
        node_ips = {node_ip(n) for n in self.node_objects.values()}
        machine_ip_set = {ip for m in machines for ip in machine_ips(m)}
        for m in mh.members:
            ip = member_ip(m)
            ep = self.get("configmaps", NS, "etcd-endpoints") or {}
            if ip in (ep.get("data") or {}).values() and ip not in machine_ip_set and ip not in node_ips \
                    and not mh.healthy.get(m["id"]):
                return self.member_remove(m, "it has neither a machine nor a node")
        desired = self.install_replicas()
        if len(mh.voting) < desired:
            return
        pending = [x for x in machines if x["metadata"].get("deletionTimestamp") and has_hook(x)]
        victims = [v for v in mh.voting if any(member_ip(v) in machine_ips(x) for x in pending)]
        if not victims:
            return
        healthy = [v for v in mh.voting if mh.healthy.get(v["id"])]
        if len(healthy) < desired // 2 + 1:
            return
        unhealthy = [v for v in mh.voting if not mh.healthy.get(v["id"])]
        if unhealthy:
            victims = [v for v in unhealthy if v in victims]
            if not victims:
                log.info("cannot proceed with scaling down, unhealthy voting etcd members found but none are "
                         "pending deletion")
                return
        elif len(healthy) <= desired:
            return
        self.member_remove(victims[0], "its machine is pending deletion")

    def member_remove(self, m, why):
        client = self.ctx.etcd_client()
        client.endpoints = ["https://%s:2379" % self.ips[n] for n in self.nodes if n in self.ips]
        try:
            client.member_remove(m["id"])
        except (etcdapi.EtcdError, etcdapi.Unreachable) as e:
            log.info("failed to remove member %s: %s", m["name"] or member_ip(m), e)
            return
        log.info("successfully removed member [ url: %s, name: %s, id: %x ] from the cluster (%s)",
                 member_ip(m), m["name"], m["id"], why)
        self.event("ScaleDown", "successfully removed member: [ url: %s, name: %s, id: %d ] from the cluster"
                   % (member_ip(m), m["name"], m["id"]))
