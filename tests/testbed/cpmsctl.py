"""The ControlPlaneMachineSet controller (openshift/cluster-control-plane-machine-set-operator), as far as a
replaced member needs it: with spec.state Active, an index (the trailing number of a master Machine's name)
whose Machine is being deleted or missing, and that has no other Machine, gets a replacement
INFRA-master-XXXXX-I built from the template, in the failure domain of that index (RollingUpdate and OnDelete
both do this); status counts replicas. Rolling out a changed template is not modelled."""
import logging
import random
import re
import string

import machineobjs as mo
from ceo_util import now
from store import ApiError

log = logging.getLogger("cpms")
INDEX = re.compile(r"-(\d+)$")


def index_of(m):
    g = INDEX.search(m["metadata"]["name"])
    return int(g.group(1)) if g else None


def zone_of(m):
    ps = ((m.get("spec") or {}).get("providerSpec") or {}).get("value") or {}
    return (ps.get("placement") or {}).get("availabilityZone")


def node_ready(store, name):
    try:
        node = store.get("nodes", None, name)
    except ApiError:
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


class CpmsController:
    def __init__(self, store):
        self.store = store
        self.zones = {}             # index -> the failure domain it was seen in

    def sync(self, machines):
        try:
            cpms = self.store.get("controlplanemachinesets", mo.NS, "cluster")
        except ApiError:
            return
        labels = cpms["spec"]["selector"]["matchLabels"]
        masters = [m for m in machines if all(m["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())]
        for m in masters:
            if index_of(m) is not None and zone_of(m):
                self.zones.setdefault(index_of(m), zone_of(m))
        if cpms["spec"].get("state") == "Active":
            for i in range(cpms["spec"]["replicas"]):
                alive = [m for m in masters if index_of(m) == i and not m["metadata"].get("deletionTimestamp")]
                if not alive:
                    self.replace(cpms, i)
        self.write_status(cpms, masters)

    def domains(self, cpms):
        tmpl = cpms["spec"]["template"]["machines_v1beta1_machine_openshift_io"]
        return [d["placement"]["availabilityZone"] for d in (tmpl.get("failureDomains") or {}).get("aws") or []]

    def replace(self, cpms, index):
        tmpl = cpms["spec"]["template"]["machines_v1beta1_machine_openshift_io"]
        domains = self.domains(cpms) or list(mo.ZONES)
        zone = self.zones.get(index) or domains[index % len(domains)]
        infra = tmpl["metadata"]["labels"].get(mo.CLUSTER, "testbed")
        name = "%s-master-%s-%d" % (infra, "".join(random.choice(string.ascii_lowercase + string.digits)
                                                   for _ in range(5)), index)
        spec = dict(tmpl["spec"])
        value = dict(spec["providerSpec"]["value"])
        value["placement"] = dict(value.get("placement") or {}, availabilityZone=zone, region=mo.REGION)
        spec["providerSpec"] = {"value": value}
        obj = {"apiVersion": "machine.openshift.io/v1beta1", "kind": "Machine",
               "metadata": {"name": name, "namespace": mo.NS, "labels": dict(tmpl["metadata"]["labels"])},
               "spec": spec}
        self.store.create("machines", mo.NS, obj)
        log.info("created replacement machine %s for index %d in %s", name, index, zone)

    def write_status(self, cpms, masters):
        want = cpms["spec"]["replicas"]
        ready = [m for m in masters if not m["metadata"].get("deletionTimestamp")
                 and (m.get("status") or {}).get("phase") == "Running"
                 and node_ready(self.store, ((m.get("status") or {}).get("nodeRef") or {}).get("name"))]
        status = {"observedGeneration": cpms["metadata"].get("generation", 1), "replicas": len(masters),
                  "readyReplicas": len(ready), "updatedReplicas": len(ready),
                  "unavailableReplicas": max(0, want - len(ready))}
        t = (cpms.get("status") or {}).get("conditions")
        avail = "True" if len(ready) >= want or cpms["spec"].get("state") != "Active" else "False"
        prog = "True" if len(masters) != want else "False"
        conds = [{"type": "Available", "status": avail, "reason": "AllReplicasAvailable" if avail == "True"
                  else "UnavailableReplicas", "message": "" if avail == "True"
                  else "Missing %d available replica(s)" % (want - len(ready))},
                 {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": ""},
                 {"type": "Progressing", "status": prog, "reason": "AllReplicasUpdated" if prog == "False"
                  else "ExcessReplicas" if len(masters) > want else "NeedsUpdateReplicas", "message": ""},
                 {"type": "Error", "status": "False", "reason": "AsExpected", "message": ""}]
        old = {c["type"]: c for c in t or []}
        for c in conds:
            o = old.get(c["type"])
            c["lastTransitionTime"] = o["lastTransitionTime"] if o and o.get("status") == c["status"] \
                else now()
        status["conditions"] = conds
        if cpms.get("status") != status:
            self.store.update("controlplanemachinesets", mo.NS, "cluster", lambda o: o.update(status=status))
