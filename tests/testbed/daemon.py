"""The testbed's daemon: one process per testbed DIR, started (detached) by `testbed up`.

It makes the certificates and node file systems, creates the Store, starts the API server, one kubelet
thread per node and the operator thread, writes DIR/kubeconfig, DIR/kubeconfig-limited, DIR/etcd/ and
DIR/env, and writes DIR/testbed.ready ({"ok": true|false, ...}) once the cluster is healthy (or when it
gave up). SIGTERM stops everything it started.

Usage: daemon.py DIR TIMEOUT_SECONDS"""
import json
import logging
import os
import shlex
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceo  # noqa: E402
import etcdapi  # noqa: E402
import execs  # noqa: E402
import jobpods  # noqa: E402
import jobs  # noqa: E402
import manifest as mf  # noqa: E402
import pki  # noqa: E402
import staticpods  # noqa: E402
import tbconfig  # noqa: E402
import tbcsr  # noqa: E402
import tbfleet  # noqa: E402
import tbmachines  # noqa: E402
import tbmount  # noqa: E402
from apiserver import ApiServer, FaultTable  # noqa: E402
from rbac import Rbac  # noqa: E402
from store import ApiError, Store  # noqa: E402

ADMIN_USER = "kube:admin"
LIMITED_USER = "developer"
log = logging.getLogger("daemon")


def permissions(user, verb, resource, namespace, subresource):
    """kube:admin may do anything; developer may do anything but delete secrets or exec into pods. (A service
    account, a Job's pod's among them, is decided by RBAC: rbac.py.)"""
    if user == ADMIN_USER:
        return True
    if user == LIMITED_USER:
        if resource == "secrets" and verb in ("delete", "deletecollection", "*"):
            return False
        if resource == "pods" and subresource in ("exec", "attach"):
            return False
        if resource == "*" or verb == "*":
            return False
        return True
    return False


class Context:
    def __init__(self, layout, cfg):
        self.layout, self.cfg = layout, cfg
        self.speed = float(cfg.get("speed", 1.0))
        self.store = Store()
        self.faults = FaultTable()
        self.kubelets = {}
        self.operator = None
        self.fleet = None               # tbfleet.Fleet: the machines under the nodes
        self.machine_api = None         # machinectl.MachineController with --machines
        self.cfg_lock = threading.Lock()
        self.jobs = None
        self.api = None
        self.sa_lock = threading.Lock()
        self.sa_tokens = {}           # (namespace, service account) -> the token its Job pods get
        self.made_mount_points = []   # jobpods.volumes: removed at shutdown
        self.etcd_binary = shutil.which("etcd") or "/usr/bin/etcd"
        self._local = threading.local()
        pk = layout.pki
        self.signer = (os.path.join(pk, "etcd-signer.crt"), os.path.join(pk, "etcd-signer.key"))
        self.metrics_signer = (os.path.join(pk, "etcd-metric-signer.crt"), os.path.join(pk, "etcd-metric-signer.key"))
        self.client_cert = (layout.p("etcd", "client.crt"), layout.p("etcd", "client.key"))
        self.etcd_ca = layout.p("etcd", "ca.crt")

    def t(self, seconds):
        """A duration of the simulation in real seconds (the --speed time scale)."""
        return seconds / self.speed

    def etcd_client(self):
        """A gateway client with the operator's client certificate (one per thread)."""
        c = getattr(self._local, "client", None)
        if c is None:
            c = etcdapi.Client([], self.etcd_ca, *self.client_cert)
            self._local.client = c
        return c

    # ---- pods/log for the API server
    def log_handler(self, namespace, pod, container, previous, tail_lines):
        node = pod.get("spec", {}).get("nodeName")
        k = self.kubelets.get(node)
        text = ""
        if k is None:
            return text
        if "kubernetes.io/config.mirror" in pod["metadata"].get("annotations", {}):
            with k.lock:
                e = k.etcd
                if container != "etcd" or e is None:
                    return ""
                n = e.restart_count - 1 if previous else e.restart_count
                if previous and (n < 0 or not e.last_state):
                    raise ApiError(400, "BadRequest", 'previous terminated container "%s" in pod "%s" not found'
                                   % (container, pod["metadata"]["name"]))
                path = os.path.join(os.path.dirname(e.log_path or ""), "%d.log" % n)
        else:
            run = k.pod_run(pod["metadata"]["uid"])
            if run is None:
                return ""
            path = run.log_path(container)
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        if tail_lines:
            text = "".join(text.splitlines(True)[-tail_lines:])
        return text


def make_pki(ctx):
    layout, cfg = ctx.layout, ctx.cfg
    pk = layout.pki
    os.makedirs(pk, exist_ok=True)
    os.makedirs(layout.p("etcd"), exist_ok=True)
    pki.make_ca(pk, "etcd-signer", "openshift-etcd_etcd-signer@testbed")
    pki.make_ca(pk, "etcd-metric-signer", "openshift-etcd_etcd-metric-signer@testbed")
    shutil.copy(ctx.signer[0], ctx.etcd_ca)
    pki.issue(ctx.signer[0], ctx.signer[1], ctx.client_cert[0], ctx.client_cert[1], "etcd-client",
              "system:etcd", usage="clientAuth")
    pki.make_ca(pk, "kube-apiserver-ca", "kube-apiserver-lb-signer@testbed")
    api = cfg["api"]["host"]
    pki.issue(os.path.join(pk, "kube-apiserver-ca.crt"), os.path.join(pk, "kube-apiserver-ca.key"),
              os.path.join(pk, "apiserver.crt"), os.path.join(pk, "apiserver.key"), "kube-apiserver",
              ips=[api, "127.0.0.1"], dns=["localhost", "api.testbed.local"], usage="serverAuth")


def write_kubeconfig(path, server, ca_pem, user, token):
    import base64
    ca = base64.b64encode(ca_pem.encode()).decode()
    cluster = "testbed"
    text = ("apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster:\n    server: %s\n"
            "    certificate-authority-data: %s\nusers:\n- name: %s/%s\n  user:\n    token: %s\n"
            "contexts:\n- name: %s\n  context:\n    cluster: %s\n    user: %s/%s\n"
            "current-context: %s\npreferences: {}\n") % (
        cluster, server, ca, user, cluster, token, "testbed-" + user.replace(":", "-"), cluster, user, cluster,
        "testbed-" + user.replace(":", "-"))
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def write_client_files(ctx):
    layout, cfg = ctx.layout, ctx.cfg
    server = "https://%s:%d" % (cfg["api"]["host"], cfg["api"]["port"])
    with open(os.path.join(layout.pki, "kube-apiserver-ca.crt")) as f:
        ca_pem = f.read()
    write_kubeconfig(layout.p("kubeconfig"), server, ca_pem, ADMIN_USER, cfg["tokens"]["admin"])
    write_kubeconfig(layout.p("kubeconfig-limited"), server, ca_pem, LIMITED_USER, cfg["tokens"]["limited"])
    endpoints = ",".join("https://%s:2379" % cfg["ips"][n] for n in cfg["names"])
    env = [("KUBECONFIG", layout.p("kubeconfig")), ("ETCDCTL_API", "3"), ("ETCDCTL_ENDPOINTS", endpoints),
           ("ETCDCTL_CACERT", ctx.etcd_ca), ("ETCDCTL_CERT", ctx.client_cert[0]),
           ("ETCDCTL_KEY", ctx.client_cert[1]), ("TESTBED_NODES", " ".join(cfg["names"])),
           ("TESTBED_DIR", layout.dir)]
    with open(layout.p("env"), "w") as f:
        f.write("# testbed %s (profile %s); source this file\n" % (layout.dir, cfg["profile"]))
        for k, v in env:
            f.write("export %s=%s\n" % (k, shlex.quote(v)))


def nodes_changed(ctx):
    """The node set changed (tbfleet.py): DIR/testbed.json and DIR/env follow it."""
    with ctx.cfg_lock:
        tbconfig.save(ctx.layout, ctx.cfg)
        write_client_files(ctx)


def admin_handler(ctx):
    def handle(method, path, body):
        try:
            return 200, tbmachines.admin(ctx, method, path, body if isinstance(body, dict) else {})
        except tbmachines.BadRequest as e:
            raise ApiError(400, "BadRequest", str(e))
    return handle


def write_ready(layout, doc):
    tmp = layout.ready + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, layout.ready)


def main(argv):
    layout = tbconfig.Layout(argv[1])
    timeout = float(argv[2]) if len(argv) > 2 else 120.0
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cfg = tbconfig.load(layout)
    ctx = Context(layout, cfg)
    start = time.monotonic()
    try:
        with open(layout.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
        make_pki(ctx)
        for node in cfg["names"]:
            execs.prepare_node_root(layout, node)
        for node in cfg.get("etcd_disk") or []:
            # /var/lib/etcd on its own disk: a mount point before etcd first starts (tbmount.py)
            d = layout.data_dir(node)
            os.makedirs(d, mode=0o700, exist_ok=True)
            tbmount.own_disk(d)
            log.info("%s: /var/lib/etcd is a mount point", node)
        execs.prepare_tools_image(layout)
        execs.prepare_etcd_image(layout, mf.PROFILES[cfg["profile"]]["etcd_version"])
        pk = layout.pki
        tokens = {cfg["tokens"]["admin"]: ADMIN_USER, cfg["tokens"]["limited"]: LIMITED_USER}
        ctx.api = ApiServer(ctx.store, ctx.faults, cfg["api"]["host"], cfg["api"]["port"],
                            os.path.join(pk, "apiserver.crt"), os.path.join(pk, "apiserver.key"), tokens,
                            execs.make_exec_handler(ctx), permissions, rbac=Rbac(ctx.store, permissions),
                            allow_v5="v5.channel.k8s.io" in mf.PROFILES[cfg["profile"]]["exec_protocols"],
                            kube_version=cfg.get("kube_version") or mf.PROFILES[cfg["profile"]]["kube_version"],
                            log_handler=ctx.log_handler, admin_handler=admin_handler(ctx))
        ctx.operator = ceo.Operator(ctx)
        ctx.operator.bootstrap()
        staticpods.bootstrap(layout, ctx.store, cfg["names"], cfg["ips"], ctx.operator.profile["version"])
        ctx.fleet = tbfleet.Fleet(ctx, lambda: nodes_changed(ctx))
        ctx.fleet.csrs = tbcsr.Csrs(ctx.store)
        ctx.machine_api = tbmachines.setup(ctx, ctx.fleet, cfg.get("machines") or "none")
        ctx.api.start()
        for node in cfg["names"]:
            ctx.fleet.start_kubelet(node)
        ctx.fleet.start()
        if ctx.machine_api is not None:
            ctx.machine_api.start()
        ctx.operator.start()
        ctx.jobs = jobs.Controller(ctx)
        ctx.jobs.start()
        write_client_files(ctx)
        log.info("testbed started in %.1fs; waiting for the cluster to become healthy", time.monotonic() - start)
    except Exception as e:
        log.exception("testbed start failed")
        write_ready(layout, {"ok": False, "error": "start failed: %s" % e})
        shutdown(ctx)
        return 1
    deadline = start + timeout
    announced = False
    next_check = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + 2.0
            if not os.path.exists(layout.config):
                log.error("%s was removed: stopping", layout.config)
                break
        if not announced:
            if ctx.operator.ready and tbmachines.ready(ctx):
                secs = time.monotonic() - start
                log.info("testbed healthy after %.1fs", secs)
                write_ready(layout, {"ok": True, "seconds": round(secs, 2), "api": ctx.api.url})
                announced = True
            elif time.monotonic() > deadline:
                log.error("testbed not healthy after %.0fs", timeout)
                write_ready(layout, {"ok": False, "error": "not healthy after %.0fs" % timeout})
                announced = True
        stop.wait(0.1)
    shutdown(ctx)
    return 0


def shutdown(ctx):
    log.info("stopping")
    for t in (ctx.operator, ctx.jobs, ctx.machine_api, ctx.fleet):
        if t is not None:
            t.stop()
    kubelets = list(ctx.kubelets.values())
    for k in kubelets:
        k.stop()
    for k in kubelets:
        if k.is_alive():
            k.join(15)
    if ctx.api is not None:
        try:
            ctx.api.stop()
        except Exception:
            log.exception("api stop")
    jobpods.cleanup(ctx)
    try:
        os.unlink(ctx.layout.pidfile)
    except OSError:
        pass
    log.info("stopped")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
