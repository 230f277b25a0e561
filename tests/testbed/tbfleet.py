"""The machines under the simulated nodes: which nodes exist, which are powered, how a node comes and goes.

One Instance per machine (cloud instance, bare-metal host, UPI host): its node name, IP and power. The Fleet
thread starts and stops each node's kubelet, registers the Node when a new machine has booted (a running
kubelet registers its Node again when someone deletes it), plays the node lifecycle controller (a node whose
kubelet stopped posting goes Unknown after `node_grace` and gets the unreachable taints; its pods' Ready
condition goes False) and the pod garbage collector (pods bound to a Node that is gone are deleted), and
keeps DIR/testbed.json (`names`, `ips`, `gone`, `powered`) and DIR/env current (docs/testbed-machines.md)."""
import logging
import shutil
import threading
import time

import execs
import kubelet as kl
import tbconfig
from ceo_util import now
from store import ApiError

log = logging.getLogger("fleet")
UNKNOWN_MSG = "Kubelet stopped posting node status."
UNREACHABLE = "node.kubernetes.io/unreachable"


class Instance:
    def __init__(self, node, ip, iid, zone=None):
        self.node, self.ip, self.id, self.zone = node, ip, iid, zone
        self.powered = True
        self.gone = False               # terminated (or deleted at the provider)
        self.off_since = None           # monotonic time the machine powered off
        self.unreachable = False        # its Node was marked Unknown
        self.boot_at = None             # monotonic time the new node registers its Node (None: registered)
        self.csr = None                 # UPI: the client CSR that must be approved before it can register
        self.node_annotations = {}      # what the nodelink controller puts on the Node
        self.provider_id = None
        self.tag = None                 # the Name tag of a cloud instance: its Machine's name
        self.last_gc = 0.0


class Fleet(threading.Thread):
    def __init__(self, ctx, on_change):
        super().__init__(name="fleet", daemon=True)
        self.ctx, self.store, self.cfg = ctx, ctx.store, ctx.cfg
        self.on_change = on_change      # called (in this thread or a caller's) after the node set changed
        self.lock = threading.RLock()
        self.instances = {}             # node -> Instance
        self.stop_event = threading.Event()
        self.csrs = None                # tbcsr.Csrs when hosts may ask to join (set by the daemon)

    def t(self, s):
        return self.ctx.t(s)

    def stop(self):
        self.stop_event.set()

    # ------------------------------------------------------------------ the machines at `up`
    def adopt(self, node, iid, zone=None):
        with self.lock:
            inst = Instance(node, self.cfg["ips"][node], iid, zone)
            self.instances[node] = inst
            return inst

    def get(self, node):
        with self.lock:
            return self.instances.get(node)

    def by_id(self, iid):
        with self.lock:
            return next((i for i in self.instances.values() if i.id == iid), None)

    def by_tag(self, tag):
        with self.lock:
            return next((i for i in self.instances.values() if i.tag == tag and not i.gone), None)

    # ------------------------------------------------------------------ a new machine
    def create(self, node, iid, boot_delay, zone=None, csr=None):
        """A new machine that boots node NODE with a new IP and an empty disk; it registers its Node
        boot_delay simulation seconds from now (after its CSR is approved, when csr is given)."""
        with self.lock:
            if node in self.instances and not self.instances[node].gone:
                raise ValueError("node %s exists already" % node)
            ip = tbconfig.next_ip(self.cfg)
            # a new disk: a host that reuses the name of a node that is gone starts from nothing
            shutil.rmtree(self.ctx.layout.node_dir(node), ignore_errors=True)
            execs.prepare_node_root(self.ctx.layout, node)
            inst = Instance(node, ip, iid, zone)
            inst.boot_at = time.monotonic() + self.t(boot_delay)
            inst.csr = csr
            self.instances[node] = inst
            self._set_cfg(node, ip, present=True)
        log.info("machine %s: node %s, IP %s, boots in %gs", iid, node, ip, boot_delay)
        self.on_change()
        return inst

    def _set_cfg(self, node, ip, present):
        """Copy-on-write: readers iterate the lists and dicts they got without locking."""
        names = [n for n in self.cfg["names"] if n != node]
        ips = {n: i for n, i in self.cfg["ips"].items() if n != node}
        gone = [n for n in self.cfg.get("gone") or [] if n != node]
        retired = list(self.cfg.get("retired_ips") or [])
        if present:
            names.append(node)
            ips[node] = ip
        else:
            gone.append(node)
            retired.append(ip)
        self.cfg.update(names=names, ips=ips, gone=gone, retired_ips=retired)
        self.save_power()

    def save_power(self):
        self.cfg["powered"] = {n: i.powered and not i.gone for n, i in self.instances.items()}

    # ------------------------------------------------------------------ power
    def start_kubelet(self, node):
        k = kl.Kubelet(self.ctx, node)
        self.ctx.kubelets[node] = k
        k.start()

    def power_off(self, node, gone=False):
        with self.lock:
            inst = self.instances[node]
            if inst.powered:
                inst.powered = False
                inst.off_since = time.monotonic()
                k = self.ctx.kubelets.pop(node, None)
                if k is not None:
                    k.power_off()
                    k.join(15)
            inst.gone = inst.gone or gone
            self.save_power()
        log.info("machine of %s powered off%s", node, " and deleted at the provider" if gone else "")
        self.on_change()

    def power_on(self, node):
        with self.lock:
            inst = self.instances[node]
            if inst.gone:
                raise ValueError("the machine of %s no longer exists" % node)
            if not inst.powered:
                inst.powered = True
                inst.off_since = None
                if inst.boot_at is None:
                    self.start_kubelet(node)
                    self.mark_reachable(node)
            self.save_power()
        self.on_change()

    def terminate(self, node):
        """The instance is deleted: powered off for good; the node leaves `names` for `gone`."""
        with self.lock:
            inst = self.instances.get(node)
            if inst is None:
                return
            if inst.powered:
                self.power_off(node)
            inst.gone = True
            if node in self.cfg["names"]:
                self._set_cfg(node, inst.ip, present=False)
        log.info("machine of %s terminated", node)
        self.on_change()

    # ------------------------------------------------------------------ the loop
    def run(self):
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("fleet tick failed")
            self.stop_event.wait(self.t(0.2))

    def tick(self):
        with self.lock:
            insts = list(self.instances.values())
        for inst in insts:
            if inst.gone and inst.node not in self.cfg["names"]:
                self.collect_pods(inst)         # terminated by its machine controller
                continue
            if inst.powered and inst.boot_at is not None:
                self.maybe_boot(inst)
            elif inst.powered:
                if self.node_object(inst.node) is None:
                    self.register(inst)      # a running kubelet registers its Node again
            elif not inst.unreachable and time.monotonic() - inst.off_since >= self.t(self.grace()):
                self.mark_unreachable(inst.node)
                inst.unreachable = True
            elif self.node_object(inst.node) is None:
                self.collect_pods(inst)
            elif inst.gone and time.monotonic() - inst.off_since >= 2 * self.t(self.grace()):
                self.delete_node(inst.node)

    def delete_node(self, node):
        """The cloud node lifecycle controller: a NotReady Node whose instance no longer exists at the provider
        is deleted (`stop-machine --gone`)."""
        try:
            self.store.delete("nodes", None, node)
            log.info("node %s deleted: its instance no longer exists at the provider", node)
        except ApiError:
            pass

    def grace(self):
        return float(self.cfg.get("node_grace") or 2.0)

    def node_object(self, node):
        try:
            return self.store.get("nodes", None, node)
        except ApiError:
            return None

    def maybe_boot(self, inst):
        if inst.csr is not None:
            if not (self.csrs and self.csrs.approved(inst.csr)):
                return
            inst.csr = None
            inst.boot_at = min(inst.boot_at, time.monotonic() + self.t(0.5))
        if time.monotonic() < inst.boot_at:
            return
        inst.boot_at = None
        self.register(inst)
        self.start_kubelet(inst.node)
        if self.csrs is not None and inst.provider_id is None:
            self.csrs.serving(inst.node)
        log.info("node %s registered (%s)", inst.node, inst.ip)
        self.on_change()

    def register(self, inst):
        obj = self.ctx.operator.node_object(inst.node)
        obj["metadata"].setdefault("annotations", {}).update(inst.node_annotations)
        if inst.provider_id:
            obj["spec"]["providerID"] = inst.provider_id
        try:
            self.store.create("nodes", None, obj)
        except ApiError:
            pass
        inst.unreachable = False

    # ------------------------------------------------------------------ node lifecycle controller
    def mark_unreachable(self, node):
        """kube-controller-manager's node lifecycle controller after node-monitor-grace-period: every
        condition Unknown, the unreachable taints, and the pods on the node not Ready (MarkPodsNotReady)."""
        t = now()

        def fn(o):
            for c in o.get("status", {}).get("conditions", []):
                c.update(status="Unknown", reason="NodeStatusUnknown", message=UNKNOWN_MSG, lastTransitionTime=t)
            taints = [x for x in o.setdefault("spec", {}).get("taints") or [] if x.get("key") != UNREACHABLE]
            taints += [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": t},
                       {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": t}]
            o["spec"]["taints"] = taints
        try:
            self.store.update("nodes", None, node, fn)
        except ApiError:
            return
        log.info("node %s: Ready Unknown (%s)", node, UNKNOWN_MSG)
        pods, _ = self.store.list("pods", field_selector="spec.nodeName=" + node)
        for p in pods:
            def not_ready(o):
                for c in o.get("status", {}).get("conditions", []):
                    if c["type"] == "Ready" and c["status"] != "False":
                        c.update(status="False", lastTransitionTime=t)
            try:
                self.store.update("pods", p["metadata"]["namespace"], p["metadata"]["name"], not_ready)
            except ApiError:
                pass

    def mark_reachable(self, node):
        """The kubelet posts status again: conditions as a healthy kubelet reports them, taints removed."""
        fresh = self.ctx.operator.node_object(node)["status"]["conditions"]

        def fn(o):
            o.setdefault("status", {})["conditions"] = fresh
            o.setdefault("spec", {})["taints"] = [x for x in o["spec"].get("taints") or []
                                                  if x.get("key") != UNREACHABLE]
        try:
            self.store.update("nodes", None, node, fn)
        except ApiError:
            pass
        with self.lock:
            if node in self.instances:
                self.instances[node].unreachable = False

    # ------------------------------------------------------------------ pod garbage collector
    def collect_pods(self, inst):
        """Pods bound to a node whose Node object is gone are deleted (kube-controller-manager podgc)."""
        if time.monotonic() - inst.last_gc < self.t(1.0) or self.node_object(inst.node) is not None:
            return
        inst.last_gc = time.monotonic()
        pods, _ = self.store.list("pods", field_selector="spec.nodeName=" + inst.node)
        for p in pods:
            try:
                self.store.delete("pods", p["metadata"]["namespace"], p["metadata"]["name"])
                log.info("podgc: deleted %s/%s of node %s", p["metadata"]["namespace"], p["metadata"]["name"],
                         inst.node)
            except ApiError:
                pass
