"""Bare metal: the baremetal-operator's host state machine (metal3.io BareMetalHost: registering -> inspecting ->
available -> provisioning -> provisioned; deprovisioning -> available; deleting) and the Machine actuator of
cluster-api-provider-baremetal (a Machine claims a host: the one its metal3.io/BareMetalHost annotation names,
else an available one; the host's node boots when it is provisioned; deleting the Machine releases the host).
The control-plane hosts of `up` are `externally provisioned`, as an installer-made cluster's are. Each state
takes provision_delay/2 (simulation seconds). BMC credentials are checked for presence, never read."""
import logging
import time

import machineobjs as mo
from ceo_util import now
from store import ApiError

log = logging.getLogger("baremetal")
CLAIMABLE = ("available", "ready")


def state_of(h):
    return ((h.get("status") or {}).get("provisioning") or {}).get("state") or ""


def host_of(m):
    ref = (m["metadata"].get("annotations") or {}).get(mo.HOST_ANNOTATION) or ""
    return ref.split("/", 1)[1] if "/" in ref else None


class BareMetalActuator:
    def __init__(self, ctx, fleet):
        self.ctx, self.store, self.fleet = ctx, ctx.store, fleet

    def host(self, name):
        try:
            return self.store.get("baremetalhosts", mo.NS, name) if name else None
        except ApiError:
            return None

    def consumed_by(self, h, m):
        return h is not None and ((h.get("spec") or {}).get("consumerRef") or {}).get("name") == m["metadata"]["name"]

    def instance(self, m):
        name = host_of(m)
        h = self.host(name)
        if not self.consumed_by(h, m) or state_of(h) not in ("provisioned", "externally provisioned"):
            return None
        inst = self.fleet.get(name)
        return inst if inst is not None and not inst.gone else None

    def provider_id(self, inst):
        h = self.host(inst.node)
        return mo.bmh_provider_id(inst.node, h["metadata"]["uid"] if h else "")

    def create(self, m):
        name = host_of(m)
        if name is None:
            hosts, _ = self.store.list("baremetalhosts", mo.NS)
            free = [h for h in hosts if state_of(h) in CLAIMABLE and not (h.get("spec") or {}).get("consumerRef")
                    and not h["metadata"].get("deletionTimestamp")]
            if not free:
                return
            name = free[0]["metadata"]["name"]
            self.store.update("machines", mo.NS, m["metadata"]["name"], lambda o: o["metadata"].setdefault(
                "annotations", {}).update({mo.HOST_ANNOTATION: "%s/%s" % (mo.NS, name)}))
        h = self.host(name)
        if h is None or state_of(h) not in CLAIMABLE or (h.get("spec") or {}).get("consumerRef"):
            return      # gone, busy, or claimed already (by this Machine or another)

        def claim(o):
            o["spec"].update(consumerRef={"apiVersion": "machine.openshift.io/v1beta1", "kind": "Machine",
                                          "name": m["metadata"]["name"], "namespace": mo.NS},
                             customDeploy={"method": "install_coreos"}, online=True,
                             userData={"name": "master-user-data-managed", "namespace": mo.NS})
        self.store.update("baremetalhosts", mo.NS, name, claim)
        log.info("machine %s claimed host %s", m["metadata"]["name"], name)

    def delete(self, m, inst):
        name = host_of(m)
        h = self.host(name)
        if self.consumed_by(h, m):
            def release(o):
                for k in ("consumerRef", "customDeploy", "image", "userData"):
                    o["spec"].pop(k, None)
                o["spec"]["online"] = False
            self.store.update("baremetalhosts", mo.NS, name, release)
            log.info("machine %s released host %s", m["metadata"]["name"], name)
        if inst is not None and not inst.gone:
            self.fleet.terminate(inst.node)
        return True

    def instance_state(self, inst):
        return None


class Provisioner:
    def __init__(self, ctx, fleet):
        self.ctx, self.store, self.fleet = ctx, ctx.store, fleet
        self.entered = {}           # host uid -> (state, monotonic time it was entered)

    def step(self):
        return self.ctx.t(mo.provision_delay(self.ctx.cfg) / 2)

    def elapsed(self, h):
        uid, state = h["metadata"]["uid"], state_of(h)
        got = self.entered.get(uid)
        if got is None or got[0] != state:
            self.entered[uid] = got = (state, time.monotonic())
        return time.monotonic() - got[1]

    def sync(self, machines):
        hosts, _ = self.store.list("baremetalhosts", mo.NS)
        for h in hosts:
            try:
                self.reconcile(h)
            except ApiError as e:
                log.debug("host %s: %s", h["metadata"]["name"], e.message)
            except (ValueError, RuntimeError) as e:     # the fleet refused (a node of that name runs already)
                log.warning("host %s: %s", h["metadata"]["name"], e)

    def set(self, h, state, **status):
        name = h["metadata"]["name"]

        def fn(o):
            st = o.setdefault("status", {})
            prov = st.setdefault("provisioning", {})
            if prov.get("state") != state:
                log.info("host %s: %s -> %s", name, prov.get("state") or "(new)", state)
                st["lastUpdated"] = now()
            prov["state"] = state
            prov.setdefault("ID", o["metadata"]["uid"])
            prov["bootMode"] = o["spec"].get("bootMode", "UEFI")
            prov["rootDeviceHints"] = o["spec"].get("rootDeviceHints") or {}
            st.setdefault("operationalStatus", "OK")
            st.setdefault("errorType", "")
            st.setdefault("errorMessage", "")
            st.update(status)
        return self.store.update("baremetalhosts", mo.NS, name, fn)

    def reconcile(self, h):
        meta, spec, state = h["metadata"], h.get("spec") or {}, state_of(h)
        name = meta["name"]
        inst = self.fleet.get(name)
        if meta.get("deletionTimestamp"):
            return self.deleting(h, state, inst)
        if mo.BMH_FINALIZER not in (meta.get("finalizers") or []):
            self.store.update("baremetalhosts", mo.NS, name,
                              lambda o: o["metadata"].setdefault("finalizers", []).append(mo.BMH_FINALIZER))
            return
        powered = inst is not None and not inst.gone and inst.powered
        if state == "":
            self.set(h, "registering", poweredOn=False)
        elif state == "registering":
            self.registering(h)
        elif state == "inspecting" and self.elapsed(h) >= self.step():
            self.set(h, "available", hardware={"cpu": {"arch": "x86_64", "count": 16}, "ramMebibytes": 65536,
                                               "nics": [{"mac": spec.get("bootMACAddress"), "name": "eno1"}],
                                               "storage": [{"name": "/dev/sda", "sizeBytes": 480103981056}]})
        elif state in CLAIMABLE and spec.get("consumerRef") and (spec.get("customDeploy") or spec.get("image")):
            self.set(h, "provisioning")
        elif state == "provisioning" and self.elapsed(h) >= 2 * self.step():
            self.fleet.create(name, meta["uid"], self.step() * self.ctx.speed)
            self.set(h, "provisioned", poweredOn=True)
        elif state in ("provisioned", "externally provisioned"):
            if state == "provisioned" and not spec.get("consumerRef"):
                if inst is not None and not inst.gone:
                    self.fleet.terminate(name)
                return self.set(h, "deprovisioning", poweredOn=False)
            if (h.get("status") or {}).get("poweredOn") != powered:
                self.set(h, state, poweredOn=powered)
        elif state == "deprovisioning" and self.elapsed(h) >= self.step():
            self.set(h, "available", poweredOn=False)

    def registering(self, h):
        spec = h.get("spec") or {}
        secret = (spec.get("bmc") or {}).get("credentialsName")
        try:
            self.store.get("secrets", mo.NS, secret or "")
        except ApiError:
            msg = "failed to read BMC credentials: secret %s/%s not found" % (mo.NS, secret)
            if (h.get("status") or {}).get("errorMessage") != msg:
                self.set(h, "registering", errorType="registration error", errorMessage=msg,
                         operationalStatus="error")
            return
        if self.elapsed(h) >= self.step():
            self.set(h, "inspecting", errorType="", errorMessage="", operationalStatus="OK",
                     goodCredentials={"credentials": {"name": secret, "namespace": mo.NS}})

    def deleting(self, h, state, inst):
        if state != "deleting":
            if inst is not None and not inst.gone:
                self.fleet.terminate(h["metadata"]["name"])
            self.set(h, "deleting", poweredOn=False)
        elif self.elapsed(h) >= self.step():
            self.store.update("baremetalhosts", mo.NS, h["metadata"]["name"], lambda o: o["metadata"].update(
                finalizers=[f for f in o["metadata"].get("finalizers") or [] if f != mo.BMH_FINALIZER]))
            log.info("host %s deleted", h["metadata"]["name"])
