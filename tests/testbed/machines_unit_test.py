"""Unit tests of the simulated Machine API controllers (machinectl.py, cpmsctl.py, bmhctl.py), the operator's
member removal (ceo_machines.py) and discovery of multi-version groups, on a real Store with a fake fleet
(no processes). Exits non-zero on failure."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver_discovery as discovery  # noqa: E402
import bmhctl  # noqa: E402
import ceo_machines  # noqa: E402
import cpmsctl  # noqa: E402
import machinectl  # noqa: E402
import machineobjs as mo  # noqa: E402
import tbconfig  # noqa: E402
import tbfleet  # noqa: E402
from ceo_util import MemberHealth  # noqa: E402
from store import ApiError, Store  # noqa: E402

INFRA = "testbed-abcdef"


class Inst:
    def __init__(self, node, ip, iid, zone=None):
        self.node, self.ip, self.id, self.zone = node, ip, iid, zone
        self.powered, self.gone, self.boot_at, self.tag = True, False, None, None
        self.node_annotations, self.provider_id = {}, None


class FakeFleet:
    """What the controllers use of tbfleet.Fleet; a created machine's Node registers at once."""

    def __init__(self, store):
        self.store, self.instances, self.next = store, {}, 20

    def get(self, node):
        return self.instances.get(node)

    def by_id(self, iid):
        return next((i for i in self.instances.values() if i.id == iid), None)

    def by_tag(self, tag):
        return next((i for i in self.instances.values() if i.tag == tag and not i.gone), None)

    def create(self, node, iid, delay, zone=None, csr=None):
        if node in self.instances and not self.instances[node].gone:
            raise ValueError("node %s exists already" % node)
        self.next += 1
        inst = self.instances[node] = Inst(node, "127.0.0.%d" % self.next, iid, zone)
        self.store.create("nodes", None, {"metadata": {"name": node}, "status": {"addresses": [
            {"type": "InternalIP", "address": inst.ip}]}})
        return inst

    def power_off(self, node):
        self.instances[node].powered = False

    def terminate(self, node):
        self.instances[node].powered, self.instances[node].gone = False, True

    def node_object(self, node):
        try:
            return self.store.get("nodes", None, node)
        except ApiError:
            return None


class Ctx:
    def __init__(self):
        self.store = Store()
        self.cfg = {"provision_delay": 0, "ips": {}}
        self.speed = 1.0

    def t(self, s):
        return s


def new_world():
    ctx = Ctx()
    for ns in (mo.NS, "openshift-etcd", "kube-system"):
        ctx.store.create("namespaces", None, {"metadata": {"name": ns}})
    return ctx, FakeFleet(ctx.store)


def machine(ctx, name, zone="us-east-1b"):
    return ctx.store.create("machines", mo.NS, mo.machine(INFRA, name, mo.aws_provider_spec(INFRA, zone)))


def get_machine(ctx, name):
    try:
        return ctx.store.get("machines", mo.NS, name)
    except ApiError:
        return None


def conditions(m):
    return {c["type"]: c for c in m["status"]["conditions"]}


class MachineControllerTest(unittest.TestCase):
    def setUp(self):
        self.ctx, self.fleet = new_world()
        self.mc = machinectl.MachineController(self.ctx, self.fleet, machinectl.AwsActuator(self.ctx, self.fleet))

    def sync(self, n=1):
        for _ in range(n):
            self.mc.sync()

    def test_create_provisions_a_new_node_then_runs(self):
        machine(self.ctx, INFRA + "-master-3")
        self.sync()
        self.assertEqual(get_machine(self.ctx, INFRA + "-master-3")["status"]["phase"], "Provisioning")
        self.sync(2)
        m = get_machine(self.ctx, INFRA + "-master-3")
        self.assertEqual(m["status"]["phase"], "Running")
        self.assertEqual(m["status"]["nodeRef"]["name"], INFRA + "-master-3")
        self.assertRegex(m["spec"]["providerID"], r"^aws:///us-east-1b/i-0[0-9a-f]{16}$")
        self.assertEqual(m["metadata"]["annotations"][machinectl.INSTANCE_STATE], "running")
        node = self.ctx.store.get("nodes", None, INFRA + "-master-3")
        self.assertEqual(node["metadata"]["annotations"][machinectl.NODE_MACHINE], mo.NS + "/" + INFRA + "-master-3")

    def test_a_machine_named_like_a_running_node_waits_and_breaks_nothing(self):
        self.fleet.instances["busy"] = Inst("busy", "127.0.0.2", "i-busy")
        machine(self.ctx, "busy")
        machine(self.ctx, INFRA + "-master-5")
        self.sync(3)
        self.assertEqual(get_machine(self.ctx, "busy")["status"]["phase"], "Provisioning")
        self.assertEqual(get_machine(self.ctx, INFRA + "-master-5")["status"]["phase"], "Running")

    def test_a_copy_that_kept_the_provider_id_fails(self):
        machine(self.ctx, INFRA + "-master-0")
        self.sync(3)
        old = get_machine(self.ctx, INFRA + "-master-0")
        copy = mo.machine(INFRA, INFRA + "-master-4", old["spec"]["providerSpec"]["value"])
        copy["spec"]["providerID"] = old["spec"]["providerID"]
        self.ctx.store.create("machines", mo.NS, copy)
        self.sync()
        m = get_machine(self.ctx, INFRA + "-master-4")
        self.assertEqual((m["status"]["phase"], m["status"]["errorMessage"]), ("Failed", "can't find created instance"))
        self.assertEqual(conditions(m)["InstanceExists"]["reason"], "InstanceMissing")
        self.assertTrue(self.fleet.get(INFRA + "-master-0").powered, "the old instance is left alone")

    def test_deletion_waits_for_the_hook_then_drains_terminates_and_deletes_the_node(self):
        name = INFRA + "-master-1"
        machine(self.ctx, name)
        self.sync(3)
        self.ctx.store.update("machines", mo.NS, name, lambda o: o["spec"]["lifecycleHooks"].update(
            preDrain=[dict(ceo_machines.HOOK)]))
        self.ctx.store.create("pods", "openshift-etcd", {"metadata": {"name": "debug"}, "spec": {"nodeName": name}})
        self.ctx.store.delete("machines", mo.NS, name)
        self.sync(3)
        m = get_machine(self.ctx, name)
        self.assertEqual(m["status"]["phase"], "Deleting")
        self.assertEqual((conditions(m)["Drainable"]["status"], conditions(m)["Drainable"]["reason"]),
                         ("False", "HookPresent"))
        self.assertIn("EtcdQuorumOperator", conditions(m)["Drainable"]["message"])
        self.assertFalse(self.ctx.store.get("nodes", None, name)["spec"].get("unschedulable"), "not cordoned yet")
        self.ctx.store.update("machines", mo.NS, name, lambda o: o["spec"]["lifecycleHooks"].update(preDrain=[]))
        self.sync(3)
        self.assertIsNone(get_machine(self.ctx, name))
        self.assertIsNone(self.fleet.node_object(name))
        self.assertTrue(self.fleet.get(name).gone)
        with self.assertRaises(ApiError):
            self.ctx.store.get("pods", "openshift-etcd", "debug")


class CpmsTest(unittest.TestCase):
    def setUp(self):
        self.ctx, self.fleet = new_world()
        for i, zone in enumerate(mo.ZONES):
            machine(self.ctx, "%s-master-%d" % (INFRA, i), zone)
        self.cpms = cpmsctl.CpmsController(self.ctx.store)

    def machines(self):
        return self.ctx.store.list("machines", mo.NS)[0]

    def test_a_deleted_machine_is_replaced_in_its_zone(self):
        self.ctx.store.create("controlplanemachinesets", mo.NS, mo.cpms(INFRA, 3, True))
        self.cpms.sync(self.machines())
        self.assertEqual(len(self.machines()), 3)
        self.ctx.store.delete("machines", mo.NS, INFRA + "-master-1")
        self.cpms.sync(self.machines())
        new = [m for m in self.machines() if not m["metadata"].get("deletionTimestamp")
               and m["metadata"]["name"].endswith("-1")]
        self.assertEqual(len(new), 1)
        self.assertRegex(new[0]["metadata"]["name"], r"^%s-master-[a-z0-9]{5}-1$" % INFRA)
        self.assertEqual(cpmsctl.zone_of(new[0]), "us-east-1b")
        self.cpms.sync(self.machines())
        self.assertEqual(len(self.machines()), 4, "one replacement only")

    def test_inactive_does_nothing(self):
        self.ctx.store.create("controlplanemachinesets", mo.NS, mo.cpms(INFRA, 3, False))
        self.ctx.store.delete("machines", mo.NS, INFRA + "-master-1")
        self.cpms.sync(self.machines())
        self.assertEqual(len(self.machines()), 3)


class BareMetalTest(unittest.TestCase):
    def setUp(self):
        self.ctx, self.fleet = new_world()
        self.prov = bmhctl.Provisioner(self.ctx, self.fleet)
        self.mc = machinectl.MachineController(self.ctx, self.fleet, bmhctl.BareMetalActuator(self.ctx, self.fleet),
                                               [self.prov])

    def state(self, name):
        return bmhctl.state_of(self.ctx.store.get("baremetalhosts", mo.NS, name))

    def test_a_host_registers_provisions_and_is_released(self):
        self.ctx.store.create("baremetalhosts", mo.NS, mo.bmh("master-3"))
        for _ in range(3):
            self.prov.sync([])
        self.assertEqual(self.state("master-3"), "registering")
        h = self.ctx.store.get("baremetalhosts", mo.NS, "master-3")
        self.assertIn("master-3-bmc-secret", h["status"]["errorMessage"])
        self.ctx.store.create("secrets", mo.NS, mo.bmc_secret("master-3"))
        self.prov.sync([])
        self.prov.sync([])
        self.assertEqual(self.state("master-3"), "available")
        m = mo.machine(INFRA, INFRA + "-master-3", mo.baremetal_provider_spec(),
                       {mo.HOST_ANNOTATION: mo.NS + "/master-3"})
        self.ctx.store.create("machines", mo.NS, m)
        for _ in range(5):
            self.mc.sync()
        self.assertEqual(self.state("master-3"), "provisioned")
        m = get_machine(self.ctx, INFRA + "-master-3")
        self.assertEqual((m["status"]["phase"], m["status"]["nodeRef"]["name"]), ("Running", "master-3"))
        self.assertTrue(m["spec"]["providerID"].startswith("baremetalhost:///openshift-machine-api/master-3/"))
        self.ctx.store.delete("machines", mo.NS, INFRA + "-master-3")
        for _ in range(4):
            self.mc.sync()
        self.assertIsNone(get_machine(self.ctx, INFRA + "-master-3"))
        self.assertEqual(self.state("master-3"), "available")
        self.assertNotIn("consumerRef", self.ctx.store.get("baremetalhosts", mo.NS, "master-3")["spec"])
        self.ctx.store.delete("baremetalhosts", mo.NS, "master-3")
        self.prov.sync([])
        self.prov.sync([])
        with self.assertRaises(ApiError):
            self.ctx.store.get("baremetalhosts", mo.NS, "master-3")


class FakeClient:
    def __init__(self):
        self.removed, self.endpoints = [], []

    def member_remove(self, mid):
        self.removed.append(mid)


class Op(ceo_machines.MachinesMixin):
    """Just enough of the operator for its Machine-aware controllers."""

    def __init__(self, ctx):
        self.ctx, self.store, self.cfg = ctx, ctx.store, ctx.cfg
        self.profile = {"machine_hooks": True}
        self.nodes, self.node_objects, self.client = [], {}, FakeClient()
        ctx.etcd_client = lambda: self.client

    def get(self, plural, ns, name):
        try:
            return self.store.get(plural, ns, name)
        except ApiError:
            return None

    def rollout_in_progress(self, etcd):
        return False

    def event(self, reason, message):
        pass


def member(mid, ip, learner=False):
    return {"id": mid, "name": "n%d" % mid, "peerURLs": ["https://%s:2380" % ip],
            "clientURLs": ["https://%s:2379" % ip], "isLearner": learner}


class MemberRemovalTest(unittest.TestCase):
    def setUp(self):
        self.ctx, _ = new_world()
        self.op = Op(self.ctx)
        self.ctx.store.create("configmaps", "kube-system", {"metadata": {"name": "cluster-config-v1"}, "data": {
            "install-config": "controlPlane:\n  name: master\n  replicas: 3\n"}})
        self.members = [member(i, "127.0.0.%d" % (10 + i)) for i in (1, 2, 3)]
        self.ctx.store.create("configmaps", "openshift-etcd", {"metadata": {"name": "etcd-endpoints"}, "data": {
            "%x" % m["id"]: m["peerURLs"][0][8:-5] for m in self.members}})
        for i in (1, 2, 3):
            m = mo.machine(INFRA, "m%d" % i, {})
            m["spec"]["lifecycleHooks"] = {"preDrain": [dict(ceo_machines.HOOK)]}
            self.ctx.store.create("machines", mo.NS, m)
            self.ctx.store.update("machines", mo.NS, "m%d" % i, lambda o, i=i: o.update(status={
                "phase": "Running", "addresses": [{"type": "InternalIP", "address": "127.0.0.%d" % (10 + i)}]}))

    def run_sync(self, healthy):
        mh = MemberHealth(self.members, healthy)
        return self.op.sync_machines(mh, {})

    def test_the_unhealthy_member_of_a_deleted_machine_is_removed_and_its_hook_after(self):
        self.run_sync({1: True, 2: False, 3: True})
        self.assertEqual(self.op.client.removed, [], "no machine pending deletion: nothing removed")
        self.ctx.store.delete("machines", mo.NS, "m2")
        self.run_sync({1: True, 2: False, 3: True})
        self.assertEqual(self.op.client.removed, [2])
        self.assertTrue(ceo_machines.has_hook(self.ctx.store.get("machines", mo.NS, "m2")), "member still listed")
        self.members = [m for m in self.members if m["id"] != 2]
        self.run_sync({1: True, 3: True})
        self.assertFalse(ceo_machines.has_hook(self.ctx.store.get("machines", mo.NS, "m2")))

    def test_never_below_quorum_nor_a_healthy_member_at_the_desired_size(self):
        self.ctx.store.delete("machines", mo.NS, "m2")
        self.run_sync({1: True, 2: True, 3: True})
        self.assertEqual(self.op.client.removed, [], "healthy and at the desired size: scale up first")
        self.run_sync({1: False, 2: False, 3: True})
        self.assertEqual(self.op.client.removed, [], "one healthy member of 3: below quorum")
        self.run_sync({1: False, 2: True, 3: True})
        self.assertEqual(self.op.client.removed, [], "the unhealthy member's machine is not being deleted")

    def test_a_member_without_machine_and_node_is_removed_when_unhealthy(self):
        self.ctx.store.delete("machines", mo.NS, "m3")
        self.ctx.store.update("machines", mo.NS, "m3", lambda o: o["metadata"].update(finalizers=[]))
        self.run_sync({1: True, 2: True, 3: False})
        self.assertEqual(self.op.client.removed, [3])

    def test_a_node_without_a_hooked_machine_is_not_added(self):
        machines = self.ctx.store.list("machines", mo.NS)[0]
        self.ctx.cfg["ips"] = {"a": "127.0.0.11", "b": "127.0.0.99"}
        self.assertTrue(self.op.may_add_member("a", machines))
        self.assertFalse(self.op.may_add_member("b", machines))


class FakeOperator:
    def node_object(self, node):
        return {"metadata": {"name": node}, "spec": {"taints": [{"key": "node-role.kubernetes.io/master",
                                                                  "effect": "NoSchedule"}]},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


class FleetTest(unittest.TestCase):
    """The node lifecycle controller and the pod garbage collector of tbfleet.py (no kubelet is started)."""

    def setUp(self):
        self.ctx, _ = new_world()
        self.ctx.cfg.update(names=["n0"], ips={"n0": "127.9.9.11"}, api={"host": "127.9.9.1"}, node_grace=0.01)
        self.ctx.operator, self.ctx.kubelets = FakeOperator(), {}
        self.fleet = tbfleet.Fleet(self.ctx, lambda: None)
        self.ctx.store.create("nodes", None, self.ctx.operator.node_object("n0"))
        self.ctx.store.create("pods", "openshift-etcd", {
            "metadata": {"name": "etcd-n0"}, "spec": {"nodeName": "n0"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        self.fleet.adopt("n0", "i-0")

    def node(self):
        return self.ctx.store.get("nodes", None, "n0")

    def test_a_machine_that_powers_off_goes_unknown_then_back(self):
        self.fleet.power_off("n0")
        self.fleet.tick()
        self.assertEqual(self.node()["status"]["conditions"][0]["status"], "True", "not before the grace period")
        time.sleep(0.02)
        self.fleet.tick()
        cond = self.node()["status"]["conditions"][0]
        self.assertEqual((cond["status"], cond["reason"], cond["message"]),
                         ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."))
        self.assertEqual([(t["key"], t["effect"]) for t in self.node()["spec"]["taints"]][1:], [
            (tbfleet.UNREACHABLE, "NoSchedule"), (tbfleet.UNREACHABLE, "NoExecute")])
        pod = self.ctx.store.get("pods", "openshift-etcd", "etcd-n0")
        self.assertEqual(pod["status"]["conditions"][0]["status"], "False")
        self.assertEqual(self.ctx.cfg["powered"], {"n0": False})
        self.fleet.mark_reachable("n0")
        self.assertEqual(self.node()["status"]["conditions"][0]["status"], "True")
        self.assertEqual(len(self.node()["spec"]["taints"]), 1)

    def test_pods_of_a_deleted_node_are_collected_and_a_gone_instance_loses_its_node(self):
        self.fleet.power_off("n0", gone=True)
        time.sleep(0.015)
        self.fleet.tick()                   # Unknown
        self.assertIsNotNone(self.fleet.node_object("n0"))
        time.sleep(0.01)
        self.fleet.tick()                   # the cloud node lifecycle controller deletes it
        self.assertIsNone(self.fleet.node_object("n0"))
        self.fleet.get("n0").last_gc = 0
        self.fleet.tick()
        self.assertEqual(self.ctx.store.list("pods")[0], [])

    def test_next_ip_skips_used_and_retired(self):
        cfg = {"api": {"host": "127.9.9.1"}, "ips": {"a": "127.9.9.11"}, "retired_ips": ["127.9.9.12"]}
        self.assertEqual(tbconfig.next_ip(cfg), "127.9.9.13")


class DiscoveryTest(unittest.TestCase):
    def test_a_group_with_two_versions(self):
        g = discovery.api_group("machine.openshift.io")
        self.assertEqual([v["version"] for v in g["versions"]], ["v1", "v1beta1"])
        self.assertEqual(g["preferredVersion"]["version"], "v1")
        names = lambda v: [r["name"] for r in discovery.resource_list("machine.openshift.io", v)["resources"]]  # noqa
        self.assertEqual(names("v1beta1"), ["machines", "machines/status"])
        self.assertEqual(names("v1"), ["controlplanemachinesets", "controlplanemachinesets/status"])


if __name__ == "__main__":
    unittest.main()
