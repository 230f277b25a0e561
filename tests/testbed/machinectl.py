"""The simulated Machine API: machine-api-operator's machine controller (pkg/controller/machine: finalizer,
phases Provisioning -> Provisioned -> Running, Failed when a provisioned instance is gone, the deletion
with lifecycle hooks), its drain controller and nodelink controller, over an actuator: AwsActuator here
(instances of tbfleet.py), bmhctl.BareMetalActuator on bare metal. One thread also runs the
ControlPlaneMachineSet controller and the bare-metal provisioner (cpmsctl.py, bmhctl.py)."""
import logging
import threading
import time

import machineobjs as mo
from ceo_util import now
from store import ApiError

log = logging.getLogger("machine-api")
INSTANCE_STATE = "machine.openshift.io/instance-state"
NODE_MACHINE = "machine.openshift.io/machine"


def hooks(m, kind):
    return ((m.get("spec") or {}).get("lifecycleHooks") or {}).get(kind) or []


def hook_conditions(m):
    """setLifecycleHookConditions: Drainable / Terminable False with reason HookPresent while a hook is set."""
    out = []
    for ctype, kind, what in (("Drainable", "preDrain", "Drain"), ("Terminable", "preTerminate", "Terminate")):
        hs = hooks(m, kind)
        if hs:
            listed = " ".join("{Name:%s Owner:%s}" % (h.get("name"), h.get("owner")) for h in hs)
            out.append({"type": ctype, "status": "False", "reason": "HookPresent", "severity": "Warning",
                        "message": "%s operation currently blocked by: [%s]" % (what, listed)})
        else:
            out.append({"type": ctype, "status": "True"})
    return out


class AwsActuator:
    """Instances are tbfleet machines; a new Machine boots a node named after it, in its providerSpec's zone."""

    def __init__(self, ctx, fleet):
        self.ctx, self.fleet = ctx, fleet
        self.terminating = {}           # instance id -> monotonic time the instance is terminated

    def instance(self, m):
        """Like the AWS actuator: by status.providerStatus.instanceId, else by the instance's Name tag (the
        Machine's name); never by spec.providerID, so a copied Machine that kept it finds nothing."""
        iid = ((m.get("status") or {}).get("providerStatus") or {}).get("instanceId")
        if iid:
            return self.fleet.by_id(iid)
        return self.fleet.by_tag(m["metadata"]["name"])

    def provider_id(self, inst):
        return mo.aws_provider_id(inst.zone, inst.id)

    def create(self, m):
        ps = ((m.get("spec") or {}).get("providerSpec") or {}).get("value") or {}
        zone = (ps.get("placement") or {}).get("availabilityZone") or mo.ZONES[0]
        iid = mo.instance_id(m["metadata"]["uid"])
        inst = self.fleet.create(m["metadata"]["name"], iid, mo.provision_delay(self.ctx.cfg), zone=zone)
        inst.provider_id = self.provider_id(inst)
        inst.tag = m["metadata"]["name"]

    def delete(self, m, inst):
        """Terminates the instance (shutting-down, then terminated provision_delay/2 later: the machine
        controller requeues while the instance exists); True once it no longer exists."""
        if inst is None or inst.gone:
            return True
        end = self.terminating.setdefault(inst.id, time.monotonic() + self.ctx.t(
            mo.provision_delay(self.ctx.cfg) / 2))
        if inst.powered:
            self.fleet.power_off(inst.node)
        if time.monotonic() < end:
            return False
        self.fleet.terminate(inst.node)
        return True

    def instance_state(self, inst):
        return "running" if inst.powered else "stopped"


class MachineController(threading.Thread):
    def __init__(self, ctx, fleet, actuator, others=()):
        super().__init__(name="machine-api", daemon=True)
        self.ctx, self.store, self.fleet, self.actuator = ctx, ctx.store, fleet, actuator
        self.others = list(others)          # controllers with sync(machines), run after the machines
        self.stop_event = threading.Event()

    def stop(self):
        self.stop_event.set()

    def run(self):
        while not self.stop_event.is_set():
            rv = self.store.resource_version
            try:
                self.sync()
            except Exception:
                log.exception("machine controller sync failed")
            self.store.wait_for_change(self.ctx.t(0.5), since=rv)
            self.stop_event.wait(self.ctx.t(0.05))

    def sync(self):
        machines, _ = self.store.list("machines", mo.NS)
        for m in machines:
            try:
                self.reconcile(m)
            except ApiError as e:
                log.debug("machine %s: %s", m["metadata"]["name"], e.message)
            except (ValueError, RuntimeError) as e:     # the fleet refused (a node of that name runs already)
                log.warning("machine %s: %s", m["metadata"]["name"], e)
        machines, _ = self.store.list("machines", mo.NS)
        for c in self.others:
            c.sync(machines)

    def update(self, m, fn):
        return self.store.update("machines", mo.NS, m["metadata"]["name"], fn)

    # ------------------------------------------------------------------ reconcile
    def reconcile(self, m):
        meta = m["metadata"]
        if meta.get("deletionTimestamp"):
            return self.reconcile_delete(m)
        if mo.FINALIZER not in (meta.get("finalizers") or []):
            self.update(m, lambda o: o["metadata"].setdefault("finalizers", []).append(mo.FINALIZER))
            return
        phase = (m.get("status") or {}).get("phase")
        if phase == "Failed":
            return
        inst = self.actuator.instance(m)
        if inst is not None and not inst.gone:
            return self.reconcile_exists(m, inst)
        if (m.get("spec") or {}).get("providerID") or (m.get("status") or {}).get("addresses"):
            log.info("machine %s: can't find created instance", meta["name"])
            return self.set_status(m, "Failed", ("False", "InstanceMissing", "Instance not found on provider"),
                                   error="can't find created instance")
        if not phase:
            return self.set_status(m, "Provisioning", ("False", "InstanceNotCreated", "Instance has not been created"))
        self.actuator.create(m)

    def set_status(self, m, phase, exists=None, error=None, extra=None):
        def fn(o):
            st = o.setdefault("status", {})
            if st.get("phase") != phase:
                st["lastUpdated"] = now()
                log.info("machine %s: going into phase %s", o["metadata"]["name"], phase)
            st["phase"] = phase
            if error:
                st["errorMessage"] = error
            else:
                st.pop("errorMessage", None)
            conds = {c["type"]: c for c in st.get("conditions") or []}
            if exists:
                conds["InstanceExists"] = {"type": "InstanceExists", "status": exists[0]}
                if exists[0] != "True":
                    conds["InstanceExists"].update(reason=exists[1], message=exists[2], severity="Warning")
            for c in hook_conditions(o):
                conds[c["type"]] = c
            for c in conds.values():
                old = {x["type"]: x for x in (m.get("status") or {}).get("conditions") or []}.get(c["type"])
                c["lastTransitionTime"] = old["lastTransitionTime"] if old and old.get("status") == c["status"] \
                    and old.get("lastTransitionTime") else now()
            st["conditions"] = [conds[k] for k in sorted(conds)]
            if extra:
                extra(o)
        return self.update(m, fn)

    def reconcile_exists(self, m, inst):
        """Actuator Update (providerID, addresses, instance state) and the nodelink controller (nodeRef, the
        Node's annotation)."""
        name = m["metadata"]["name"]
        pid = self.actuator.provider_id(inst)
        node = self.fleet.node_object(inst.node) if inst.boot_at is None else None
        inst.node_annotations[NODE_MACHINE] = "%s/%s" % (mo.NS, name)
        inst.provider_id = pid
        if node is not None and node["metadata"].get("annotations", {}).get(NODE_MACHINE) != "%s/%s" % (mo.NS, name):
            def link(o):
                o["metadata"].setdefault("annotations", {})[NODE_MACHINE] = "%s/%s" % (mo.NS, name)
                o.setdefault("spec", {})["providerID"] = pid
            self.store.update("nodes", None, inst.node, link)
        state = self.actuator.instance_state(inst)

        def extra(o):
            o["spec"]["providerID"] = pid
            if state:
                o["metadata"].setdefault("annotations", {})[INSTANCE_STATE] = state
            st = o["status"]
            st["addresses"] = [{"type": "InternalIP", "address": inst.ip},
                               {"type": "InternalDNS", "address": inst.node}]
            if node is not None:
                st["nodeRef"] = {"kind": "Node", "name": inst.node, "uid": node["metadata"]["uid"]}
            st["providerStatus"] = {"instanceId": inst.id, "instanceState": state or "running"}
        # machineHasNode looks at status.nodeRef: a Machine whose Node was deleted stays Running
        linked = node is not None or bool((m.get("status") or {}).get("nodeRef"))
        self.set_status(m, "Running" if linked else "Provisioned", ("True",), extra=extra)

    # ------------------------------------------------------------------ deletion
    def reconcile_delete(self, m):
        meta, name = m["metadata"], m["metadata"]["name"]
        m = self.set_status(m, "Deleting")        # and the hook conditions as they are now
        if mo.FINALIZER not in (meta.get("finalizers") or []) or hooks(m, "preDrain"):
            return
        node = ((m.get("status") or {}).get("nodeRef") or {}).get("name")
        if node and not self.drained(m, node):
            return
        if hooks(m, "preTerminate"):
            return
        if not self.actuator.delete(m, self.actuator.instance(m)):
            return
        if node:
            try:
                self.store.delete("nodes", None, node)
                log.info("machine %s: deleted node %s", name, node)
            except ApiError:
                pass
        self.update(m, lambda o: o["metadata"].update(
            finalizers=[f for f in o["metadata"].get("finalizers") or [] if f != mo.FINALIZER]))
        log.info("machine %s: deletion successful", name)

    def drained(self, m, node):
        """The drain controller: cordon the node, evict its pods (not the static pods' mirrors; a Ready guard
        pod is protected by its PodDisruptionBudget and is removed by the etcd operator); Drained=True."""
        if any(c.get("type") == "Drained" and c.get("status") == "True"
               for c in (m.get("status") or {}).get("conditions") or []):
            return True
        n = self.fleet.node_object(node)
        if n is not None and not (n.get("spec") or {}).get("unschedulable"):
            def cordon(o):
                o.setdefault("spec", {})["unschedulable"] = True
                o["spec"]["taints"] = (o["spec"].get("taints") or []) + [
                    {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": now()}]
            self.store.update("nodes", None, node, cordon)
            log.info("machine %s: cordoned node %s", m["metadata"]["name"], node)
        pods, _ = self.store.list("pods", field_selector="spec.nodeName=" + node)
        left = 0
        for p in pods:
            if "kubernetes.io/config.mirror" in p["metadata"].get("annotations", {}):
                continue
            ready = any(c["type"] == "Ready" and c["status"] == "True"
                        for c in p.get("status", {}).get("conditions", []))
            if p["metadata"].get("labels", {}).get("app") == "guard" and ready:
                left += 1
                continue
            try:
                self.store.delete("pods", p["metadata"]["namespace"], p["metadata"]["name"])
            except ApiError:
                pass
        if left:
            return False

        def fn(o):
            conds = [c for c in o.get("status", {}).get("conditions") or [] if c["type"] != "Drained"]
            conds.append({"type": "Drained", "status": "True", "lastTransitionTime": now()})
            o.setdefault("status", {})["conditions"] = sorted(conds, key=lambda c: c["type"])
        self.update(m, fn)
        log.info("machine %s: node %s drained", m["metadata"]["name"], node)
        return False
