"""`up --machines MODE`: the Machine API objects of an installer-made cluster (a Machine per control-plane node,
with `cpms` the ControlPlaneMachineSet, with `baremetal` a BareMetalHost and its BMC secret per node), the
platform in infrastructures/cluster, the ClusterOperators, and the controllers (machinectl.py); and the
daemon's /testbed/machines and /testbed/hosts endpoints behind `testbed stop-machine|start-machine|add-host`
(docs/testbed-machines.md)."""
import logging

import bmhctl
import cpmsctl
import machinectl
import machineobjs as mo
import tbconfig
from ceo_util import now
from store import ApiError

log = logging.getLogger("machines")
PLATFORM = {"api": "AWS", "cpms": "AWS", "cpms-inactive": "AWS", "baremetal": "BareMetal"}


def infra_name(store):
    return store.get("infrastructures", None, "cluster")["status"]["infrastructureName"]


def setup(ctx, fleet, mode):
    """Creates the objects for MODE and returns the machine controller to start (None for `none`)."""
    store, cfg = ctx.store, ctx.cfg
    masters = [n for n in cfg["names"] if n != cfg.get("arbiter")]
    for i, node in enumerate(cfg["names"]):
        fleet.adopt(node, mo.instance_id(cfg["cluster_token"] + node), mo.ZONES[i % len(mo.ZONES)])
    if mode == "none":
        return None
    infra = infra_name(store)
    set_platform(store, PLATFORM[mode])
    version = ctx.operator.profile["version"]
    store.create("clusteroperators", None, mo.cluster_operator("machine-api", version, mo.NS))
    for i, node in enumerate(masters):
        name = "%s-master-%d" % (infra, i)
        if mode == "baremetal":
            adopt_host(ctx, fleet, node, name)
        else:
            adopt_instance(ctx, fleet, node, name, infra)
    if mode.startswith("cpms"):
        store.create("controlplanemachinesets", mo.NS, mo.cpms(infra, len(masters), mode == "cpms"))
        store.create("clusteroperators", None, mo.cluster_operator("control-plane-machine-set", version, mo.NS))
    if mode == "baremetal":
        store.create("clusteroperators", None, mo.cluster_operator("baremetal", version, mo.NS))
        actuator, others = bmhctl.BareMetalActuator(ctx, fleet), [bmhctl.Provisioner(ctx, fleet)]
    else:
        actuator = machinectl.AwsActuator(ctx, fleet)
        others = [cpmsctl.CpmsController(store)] if mode.startswith("cpms") else []
    return machinectl.MachineController(ctx, fleet, actuator, others)


def ready(ctx):
    """For `up`: every master Machine Running (with the etcd operator's deletion hook where it adds one)."""
    if ctx.machine_api is None:
        return True
    machines, _ = ctx.store.list("machines", mo.NS)
    hooks = ctx.operator.profile.get("machine_hooks")
    return bool(machines) and all((m.get("status") or {}).get("phase") == "Running"
                                  and (not hooks or machinectl.hooks(m, "preDrain")) for m in machines)


def set_platform(store, platform):
    def fn(o):
        o["spec"]["platformSpec"] = {"type": platform}
        o["status"].update(platform=platform, platformStatus={"type": platform})
    store.update("infrastructures", None, "cluster", fn)


def link_node(ctx, inst, machine_name):
    inst.node_annotations[machinectl.NODE_MACHINE] = "%s/%s" % (mo.NS, machine_name)

    def fn(o):
        o["metadata"].setdefault("annotations", {}).update(inst.node_annotations)
        o["spec"]["providerID"] = inst.provider_id
    ctx.store.update("nodes", None, inst.node, fn)


def adopt_instance(ctx, fleet, node, name, infra):
    inst = fleet.get(node)
    inst.provider_id = mo.aws_provider_id(inst.zone, inst.id)
    inst.tag = name
    m = mo.machine(infra, name, mo.aws_provider_spec(infra, inst.zone),
                   {machinectl.INSTANCE_STATE: "running"})
    m["spec"]["providerID"] = inst.provider_id
    ctx.store.create("machines", mo.NS, m)
    link_node(ctx, inst, name)


def adopt_host(ctx, fleet, node, name):
    """A control-plane host the installer provisioned: `externally provisioned`, consumed by its Machine."""
    store = ctx.store
    store.create("secrets", mo.NS, mo.bmc_secret(node))
    h = mo.bmh(node, name)
    h["spec"]["externallyProvisioned"] = True
    h["status"] = {"provisioning": {"state": "externally provisioned", "ID": "", "bootMode": "UEFI",
                                    "rootDeviceHints": h["spec"]["rootDeviceHints"]},
                   "operationalStatus": "OK", "poweredOn": True, "errorType": "", "errorMessage": "",
                   "goodCredentials": {"credentials": {"name": node + "-bmc-secret", "namespace": mo.NS}},
                   "lastUpdated": now()}
    host = store.create("baremetalhosts", mo.NS, h)
    inst = fleet.get(node)
    inst.provider_id = mo.bmh_provider_id(node, host["metadata"]["uid"])
    m = mo.machine(infra_name(store), name, mo.baremetal_provider_spec(),
                   {mo.HOST_ANNOTATION: "%s/%s" % (mo.NS, node)})
    m["spec"]["providerID"] = inst.provider_id
    store.create("machines", mo.NS, m)
    link_node(ctx, inst, name)


# ---------------------------------------------------------------------------------------------- admin endpoints

class BadRequest(Exception):
    pass


def admin(ctx, method, path, body):
    """POST /testbed/machines/power {node, on, gone}; POST /testbed/hosts {name, approve}. Returns a dict."""
    if method != "POST":
        raise BadRequest("only POST")
    if path == "/testbed/machines/power":
        return power(ctx, body)
    if path == "/testbed/hosts":
        return add_host(ctx, body)
    raise BadRequest("no such endpoint: %s" % path)


def power(ctx, body):
    node = body.get("node")
    inst = ctx.fleet.get(node)
    if inst is None or inst.gone:
        raise BadRequest("no machine runs node %r" % node)
    try:
        if body.get("on"):
            ctx.fleet.power_on(node)
        else:
            ctx.fleet.power_off(node, gone=bool(body.get("gone")))
    except ValueError as e:
        raise BadRequest(str(e))
    return {"node": node, "powered": inst.powered, "gone": inst.gone}


def next_host_name(cfg):
    taken = set(cfg["names"]) | set(cfg.get("gone") or [])
    return next("master-%d" % i for i in range(len(taken) + 1) if "master-%d" % i not in taken)


def add_host(ctx, body):
    cfg = ctx.cfg
    name = body.get("name") or next_host_name(cfg)
    if not tbconfig.valid_name(name):
        raise BadRequest("invalid node name %r (lower-case DNS name)" % name)
    if name in cfg["names"]:
        raise BadRequest("node %s exists already" % name)
    try:
        ctx.store.get("nodes", None, name)
        raise BadRequest("a Node %s exists already" % name)
    except ApiError:
        pass
    csr = ctx.fleet.csrs.client(name, auto=bool(body.get("approve")))
    try:
        inst = ctx.fleet.create(name, "upi-" + name, mo.provision_delay(cfg), csr=csr)
    except (ValueError, RuntimeError) as e:
        raise BadRequest(str(e))
    return {"node": name, "ip": inst.ip, "csr": csr}
