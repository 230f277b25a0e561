"""Running programs "in" pods: exec for the API server, and the node's debug pods.

- etcd static pods: a command runs on this machine with the container's env, its paths mapped onto the
  node's root (so etcdctl in the `etcdctl` container uses the node's peer certificate and the endpoints
  frozen in the pod's revision). Exec into a container that is not running fails like the real API.
- Other pods (debug pods as `oc debug node/X` makes them): the command runs in the support-tools image
  (a static busybox under DIR/images/support-tools) with every hostPath volume bind-mounted at its mountPath,
  inside a private mount namespace (`unshare -m`), so `chroot /host mv ...` moves the node's real files
  under DIR/nodes/NODE/root. Node roots carry the same static busybox as their /usr/bin."""
import datetime
import hashlib
import logging
import os
import shutil
import struct
import subprocess
import threading

import jobpods
from store import ApiError

log = logging.getLogger("execs")
HERE = os.path.dirname(os.path.abspath(__file__))
POD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# --rbind as CRI-O mounts a hostPath volume: mounts below the path come along (a node's /var/lib/etcd on its
# own disk stays a mount point at /host/var/lib/etcd, and renaming it fails with EBUSY as on the node)
_SCRIPT = ('r=$1; shift; '
           'while [ "$1" != "--" ]; do mount --rbind "$1" "$r$2" || exit 126; shift 2; done; shift; '
           'exec chroot "$r" "$@"')


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- file systems -------------------------------------------------------------------------------

def is_static_elf(path):
    """True if path is an ELF executable without a program interpreter (statically linked)."""
    try:
        with open(path, "rb") as f:
            hdr = f.read(64)
            if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
                return False
            phoff, = struct.unpack_from("<Q", hdr, 32)
            phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
            f.seek(phoff)
            for _ in range(phnum):
                ph = f.read(phentsize)
                if struct.unpack_from("<I", ph, 0)[0] == 3:  # PT_INTERP
                    return False
            return True
    except (OSError, struct.error):
        return False


def find_busybox():
    for p in (shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"):
        if p and is_static_elf(p):
            return p
    raise RuntimeError("a statically linked busybox is needed (Debian package busybox-static)")


def install_busybox(root):
    """root/usr/bin/busybox plus one symlink per applet; /bin, /sbin, /usr/sbin point at usr/bin."""
    bb = find_busybox()
    bindir = os.path.join(root, "usr", "bin")
    os.makedirs(bindir, exist_ok=True)
    dst = os.path.join(bindir, "busybox")
    if not os.path.exists(dst):
        try:
            os.link(bb, dst)
        except OSError:
            shutil.copy2(bb, dst)
    applets = subprocess.run([bb, "--list"], stdout=subprocess.PIPE, check=True,
                             timeout=30).stdout.decode().split()
    for a in applets:
        link = os.path.join(bindir, a)
        if a != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    for name, target in (("bin", "usr/bin"), ("sbin", "usr/bin"), ("usr/sbin", "bin")):
        p = os.path.join(root, name)
        if not os.path.lexists(p):
            os.symlink(target, p)


def prepare_node_root(layout, node):
    root = layout.root(node)
    for d in ("etc/kubernetes/manifests", "etc/kubernetes/static-pod-resources", "var/lib", "var/log",
              "root", "home/core", "usr/local/bin", "run", "tmp", "dev", "proc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    install_busybox(root)
    crictl = os.path.join(root, "usr", "bin", "crictl")
    shutil.copy(os.path.join(HERE, "crictl.sh"), crictl)
    os.chmod(crictl, 0o755)
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write(node + "\n")
    with open(os.path.join(root, "etc", "os-release"), "w") as f:
        f.write('NAME="Red Hat Enterprise Linux CoreOS"\nID="rhcos"\nVARIANT="CoreOS"\n'
                'PRETTY_NAME="Testbed node %s"\n' % node)


def etcd_bin(layout):
    """The directory the etcd pods' containers find first in their PATH: etcdctl as the profile's etcd prints."""
    return layout.p("images", "etcd", "bin")


def prepare_etcd_image(layout, etcd_version):
    """etcd_bin()/etcdctl: etcdctl_as.py for this etcd version, unless it is the testbed's own (3.4.23)."""
    d = etcd_bin(layout)
    os.makedirs(d, exist_ok=True)
    if etcd_version == "3.4.23":
        return
    path = os.path.join(d, "etcdctl")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec %s %s %s %s "$@"\n' % (
            shutil.which("python3") or "/usr/bin/python3", os.path.join(HERE, "etcdctl_as.py"), etcd_version,
            shutil.which("etcdctl") or "/usr/bin/etcdctl"))
    os.chmod(path, 0o755)


def read_only_argv(layout, node, pod_uid, argv):
    """argv run as in a container whose root file system is read-only and whose /tmp is the pod's emptyDir
    (4.20+): in a private mount namespace, / remounted read-only, the emptyDir bind-mounted on /tmp. The
    testbed's own directory and its code (etcdctl_as.py) stay where they are: under /tmp (a checkout there),
    each is bind-mounted again inside the emptyDir."""
    empty = layout.host(node, "/var/lib/kubelet/pods/%s/volumes/kubernetes.io~empty-dir/tmp-dir"
                        % pod_uid)
    os.makedirs(empty, exist_ok=True)
    os.chmod(empty, 0o1777)
    keep = [p[len("/tmp/"):] for p in (layout.dir, HERE) if p.startswith("/tmp/")]
    script = ('e=$1; shift; '
              'while [ "$1" != "--" ]; do '
              'mkdir -p "$e/$1" && mount --bind "/tmp/$1" "$e/$1" || exit 126; shift; '
              'done; '
              'shift; mount --rbind "$e" /tmp && mount -o remount,bind,ro / || exit 126; exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", empty] + keep + ["--"] \
        + list(argv)


def prepare_tools_image(layout):
    root = layout.tools_root
    for d in ("host", "tmp", "root", "etc", "proc", "dev"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    install_busybox(root)


# ---- running in a debug pod ---------------------------------------------------------------------

def container_of(pod, name):
    for c in pod.get("spec", {}).get("containers", []):
        if c["name"] == name:
            return c
    return None


def pod_env(container, extra=None):
    env = {"PATH": POD_PATH, "HOME": "/root", "TERM": "xterm"}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
    env.update(extra or {})
    return env


def spawn_in_image(layout, node, pod, container, argv, stdin, stdout, stderr):
    """Starts argv in the support-tools image with the pod's hostPath volumes mounted."""
    vols = {v["name"]: v.get("hostPath", {}).get("path") for v in pod.get("spec", {}).get("volumes", [])}
    image = layout.tools_root
    binds = []
    for m in container.get("volumeMounts", []):
        hp = vols.get(m["name"])
        if hp is None:
            continue
        src = layout.host(node, hp)
        dst = "/" + m["mountPath"].strip("/")
        if not os.path.isdir(src):
            continue
        os.makedirs(os.path.join(image, dst.lstrip("/")), exist_ok=True)
        binds += [src, dst]
    # the container's /dev, and the host's /dev under a hostPath "/" mount, are this machine's /dev
    binds += ["/dev", "/dev"]
    for src, dst in list(zip(binds[0::2], binds[1::2])):
        if os.path.realpath(src) == os.path.realpath(layout.root(node)):
            binds += ["/dev", dst.rstrip("/") + "/dev"]
    env = pod_env(container, {"HOSTNAME": pod["metadata"]["name"]})
    cmd = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", _SCRIPT, "sh", image] + \
        binds + ["--"] + list(argv)
    return subprocess.Popen(cmd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, cwd="/")


class ContainerRun:
    def __init__(self, spec):
        self.spec = spec
        self.proc = None
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.started_at = None
        self.group = False            # its own process group (a Job's etcd-medic): stopped as a whole


class PodRun:
    """A non-static pod bound to a node (debug pods): its containers run as real processes."""

    def __init__(self, ctx, node, pod):
        self.ctx, self.node = ctx, node
        self.name, self.namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        self.uid = pod["metadata"]["uid"]
        self.pod = pod
        self.containers = [ContainerRun(c) for c in pod["spec"].get("containers", [])]
        self.lock = threading.Lock()
        self.published = None
        self.logdir = ctx.layout.host(node, "/var/log/pods/%s_%s_%s" % (self.namespace, self.name, self.uid))

    def start(self):
        for c in self.containers:
            spec = c.spec
            argv = list(spec.get("command", [])) + list(spec.get("args", []))
            c.started_at = now()
            c.state = {"running": {"startedAt": c.started_at}}
            if not argv or spec.get("stdin"):
                continue  # an interactive shell waiting for attach: shown running, used through exec
            d = os.path.join(self.logdir, spec["name"])
            os.makedirs(d, exist_ok=True)
            medic = jobpods.medic_argv(self.ctx, spec)   # a Job's etcd-medic: in-cluster, on this machine
            with open(os.path.join(d, "0.log"), "ab") as logf:
                try:
                    if medic:
                        c.proc, c.group = jobpods.spawn(self.ctx, self.node, self.pod, spec, medic, logf), True
                    else:
                        c.proc = spawn_in_image(self.ctx.layout, self.node, self.pod, spec, argv,
                                                subprocess.DEVNULL, logf, subprocess.STDOUT)
                except OSError as e:
                    c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(e),
                                              "startedAt": c.started_at, "finishedAt": now()}}
        log.info("pod %s/%s runs on %s", self.namespace, self.name, self.node)

    def busy(self):
        """Some container process runs (its exit must be noticed)."""
        return any(c.proc is not None and "running" in c.state for c in self.containers)

    def log_path(self, container):
        return os.path.join(self.logdir, container, "0.log")

    def running(self, container):
        for c in self.containers:
            if c.spec["name"] == container:
                if c.proc is not None:
                    return c.proc.poll() is None
                return "running" in c.state
        return False

    def stop(self):
        for c in self.containers:
            if c.proc is not None and c.group:
                jobpods.stop(c.proc)
            if c.proc is not None and c.proc.poll() is None:
                c.proc.kill()
                try:
                    c.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    def status(self):
        statuses = []
        for c in self.containers:
            if c.proc is not None and "running" in c.state:
                rc = c.proc.poll()
                if rc is not None:
                    code = rc if rc >= 0 else 128 - rc
                    c.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                              "startedAt": c.started_at, "finishedAt": now()}}
            running = "running" in c.state
            statuses.append({"name": c.spec["name"], "image": c.spec.get("image", ""),
                             "imageID": c.spec.get("image", ""), "ready": running, "started": running,
                             "restartCount": 0, "state": c.state, "lastState": {},
                             "containerID": "cri-o://" + hashlib.sha256((self.uid + c.spec["name"]).encode()).hexdigest()})
        terms = [s["state"]["terminated"] for s in statuses if "terminated" in s["state"]]
        if statuses and len(terms) == len(statuses):
            phase = "Succeeded" if all(t["exitCode"] == 0 for t in terms) else "Failed"
        else:
            phase = "Running"
        ready = "True" if phase == "Running" and all(s["ready"] for s in statuses) else "False"
        ip = self.ctx.cfg["ips"][self.node]
        return {"phase": phase, "hostIP": ip, "podIP": ip, "podIPs": [{"ip": ip}],
                "startTime": self.containers[0].started_at if self.containers else now(),
                "conditions": [{"type": "Initialized", "status": "True"},
                               {"type": "Ready", "status": ready},
                               {"type": "ContainersReady", "status": ready},
                               {"type": "PodScheduled", "status": "True"}],
                "containerStatuses": statuses, "qosClass": "BestEffort"}

    def publish(self):
        with self.lock:
            st = self.status()
            if st == self.published:
                return
            try:
                self.ctx.store.update("pods", self.namespace, self.name,
                                      lambda o: o.update(status=st) if o["metadata"]["uid"] == self.uid else None)
                self.published = st
            except ApiError:
                pass


# ---- the API server's exec handler ----------------------------------------------------------------

def _not_running(container):
    return ApiError(500, "InternalError", 'container not found ("%s")' % container)


def make_exec_handler(ctx):
    """exec_handler(namespace, pod, container, argv) -> Popen with stdin/stdout/stderr pipes, or ApiError."""

    def handler(namespace, pod, container, argv):
        name = pod["metadata"]["name"]
        spec = container_of(pod, container)
        if spec is None:
            raise ApiError(400, "BadRequest", "container %s is not valid for pod %s" % (container, name))
        phase = pod.get("status", {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise ApiError(400, "BadRequest", "cannot exec into a container in a completed pod; current "
                           "phase is %s" % phase)
        node = pod.get("spec", {}).get("nodeName")
        kubelet = ctx.kubelets.get(node) if node else None
        if kubelet is None:
            raise ApiError(400, "BadRequest", "pod %s does not have a host assigned" % name)
        if not argv:
            raise ApiError(400, "BadRequest", "you must specify at least one command for the container")
        pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        annotations = pod["metadata"].get("annotations", {})
        if "kubernetes.io/config.mirror" in annotations:
            if not kubelet.container_running(container):
                raise _not_running(container)
            with kubelet.lock:
                if kubelet.pod is None:
                    raise _not_running(container)
                c = container_of(kubelet.pod, container) or spec
                env = kubelet.container_env(c)
            env.update({"PATH": etcd_bin(ctx.layout) + ":/usr/local/bin:/usr/bin:/bin", "HOSTNAME": node,
                        "HOME": "/root"})
            exe = shutil.which(argv[0], path=env["PATH"]) if "/" not in argv[0] else argv[0]
            if exe is None or not os.path.exists(exe):
                msg = ('OCI runtime exec failed: exec failed: unable to start container process: exec: '
                       '"%s": executable file not found in $PATH: unknown' % argv[0])
                return subprocess.Popen(["/bin/sh", "-c", 'echo "$1" >&2; exit 127', "sh", msg], **pipes)
            argv = [exe] + list(argv[1:])
            if (c.get("securityContext") or {}).get("readOnlyRootFilesystem"):
                argv = read_only_argv(ctx.layout, node, kubelet.pod_uid, argv)
            return subprocess.Popen(argv, env=env, cwd=ctx.layout.root(node), **pipes)
        run = kubelet.pod_run(pod["metadata"]["uid"])
        if run is None or not run.running(container):
            raise _not_running(container)
        return spawn_in_image(ctx.layout, node, pod, spec, argv, **pipes)

    return handler
