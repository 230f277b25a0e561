"""The kubelet of one simulated node: runs the etcd static pod from the node's manifest, mirrors it into the
API, restarts etcd with back-off, stops it when the manifest goes away, and runs the node's other pods
(debug pods) through execs.py.

Container runtime model for the etcd pod: only the `etcd` container is a real process (etcd_container.py,
which execs /usr/bin/etcd); etcdctl, etcd-metrics, etcd-readyz are shown running
and ready while the pod exists (exec into etcdctl runs the real etcdctl, see execs.py)."""
import datetime
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import execs
import manifest as mf
import walfault
from store import ApiError

HERE = os.path.dirname(os.path.abspath(__file__))
NS = "openshift-etcd"
CRI_STATE = "/run/crio/testbed-containers"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_duration(seconds):
    if seconds < 1:
        return "%dms" % round(seconds * 1000)
    if seconds < 60:
        return ("%.1fs" % seconds).replace(".0s", "s")
    return "%dm%ds" % (seconds // 60, seconds % 60)


def log_tail(path, max_bytes=2048, max_lines=80):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-max_lines:])


def stop_process(proc, grace):
    """SIGTERM, wait up to grace seconds, then SIGKILL. Returns the exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        except OSError:
            pass
    return proc.returncode


class EtcdContainer:
    """State of the real `etcd` container of the static pod."""

    def __init__(self):
        self.proc = None
        self.restart_count = 0
        self.state = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state = {}
        self.ready = False
        self.started = False
        self.started_mono = 0.0
        self.created_epoch = 0.0
        self.started_at = None
        self.backoff = 0.0            # current back-off entry (0 = none)
        self.restart_at = 0.0         # monotonic time of the next start
        self.next_probe = 0.0
        self.log_path = None


class Kubelet(threading.Thread):
    def __init__(self, ctx, node):
        super().__init__(name="kubelet-" + node, daemon=True)
        self.ctx, self.node = ctx, node
        self.ip = ctx.cfg["ips"][node]
        self.log = logging.getLogger("kubelet." + node)
        self.stop_event = threading.Event()
        self.lock = threading.RLock()
        self.manifest_text = None
        self.pod = None               # the parsed manifest (pod dict) currently running
        self.pod_uid = None           # the static pod's own uid (from the manifest hash)
        self.mirror_uid = None
        self.etcd = None
        self.pod_started_at = None
        self.others = {}              # uid -> execs.PodRun of non-static pods on this node
        self.status_cache = None
        self.mirror_rv = None         # the store's resourceVersion when the mirror pod was last checked
        self.pods_rv = None           # the same for the other pods
        self.powered_off = False
        os.makedirs(ctx.layout.kubelet_dir(node), exist_ok=True)

    # ---- timing
    def t(self, seconds):
        return self.ctx.t(seconds)

    # ---- main loop
    def run(self):
        while not self.stop_event.is_set():
            try:
                with self.lock:
                    self.sync_static_pod()
                    self.sync_other_pods()
            except Exception:  # keep the node alive; the log tells what broke
                self.log.exception("sync failed")
            self.stop_event.wait(self.t(0.1))
        with self.lock:
            # the testbed is going down: no need to wait; a machine that powers off does not even ask
            self.kill_static_pod(delete_mirror=False, grace=0 if self.powered_off else 0.5)
            for run in self.others.values():
                run.stop()

    def stop(self):
        self.stop_event.set()

    def power_off(self):
        """The machine loses power (tbfleet.py): etcd is killed (SIGKILL) and nothing is told to the API."""
        self.powered_off = True
        self.stop_event.set()

    # ---- the static pod
    def read_manifest(self):
        try:
            with open(self.ctx.layout.manifest(self.node)) as f:
                return f.read()
        except OSError:
            return None

    def sync_static_pod(self):
        text = self.read_manifest()
        if text != self.manifest_text:
            pod = None
            if text is not None:
                try:
                    pod = json.loads(text)
                except ValueError as e:
                    self.log.error("cannot parse %s: %s", self.ctx.layout.manifest_rel, e)
            if self.pod is not None:
                self.log.info("static pod manifest changed or removed: stopping etcd-%s", self.node)
                self.kill_static_pod(delete_mirror=True)
            self.manifest_text = text
            if pod is not None:
                self.start_static_pod(pod, text)
        if self.pod is None:
            return
        self.supervise_etcd()
        self.publish_mirror()

    def start_static_pod(self, pod, text):
        self.pod = pod
        self.pod_uid = hashlib.md5(text.encode()).hexdigest()
        self.pod_started_at = now()
        self.pod_epoch = time.time()
        self.etcd = EtcdContainer()
        self.etcd.restart_at = time.monotonic()
        for v in pod.get("spec", {}).get("volumes", []):
            hp = v.get("hostPath", {}).get("path")
            if hp and v["name"] in ("data-dir", "log-dir"):
                path = self.ctx.layout.host(self.node, hp)
                os.makedirs(path, exist_ok=True)
                if v["name"] == "data-dir":
                    os.chmod(path, 0o700)
        rev = pod.get("metadata", {}).get("labels", {}).get("revision")
        self.log.info("starting static pod etcd-%s at revision %s", self.node, rev)
        self.corrupt_at_revision(rev)

    def take_control(self, name):
        """Reads and removes a control file `testbed` wrote (tbincidents.py); None when there is none."""
        path = os.path.join(self.ctx.layout.kubelet_dir(self.node), name)
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            return None
        return path, value

    def corrupt_at_revision(self, rev):
        """`crashloop --at-new-revision`: the member's WAL is damaged when this node first starts the static
        pod at the new revision (etcd is stopped then), so the real etcd crash-loops at that revision."""
        got = self.take_control("corrupt-at-revision")
        if got is None:
            return
        try:
            if int(rev or 0) < int(got[1]):
                return
            files = walfault.corrupt_wal(self.ctx.layout.data_dir(self.node))
            self.log.info("corrupted %d WAL file(s) at revision %s (crashloop --at-new-revision)", len(files), rev)
        except (ValueError, OSError) as e:
            self.log.error("crashloop --at-new-revision: %s", e)
        try:
            os.unlink(got[0])
        except OSError:
            pass

    def kill_static_pod(self, delete_mirror, grace=None):
        if self.etcd and self.etcd.proc and grace == 0:
            self.etcd.proc.kill()
            self.etcd.proc.wait(timeout=10)
        if self.etcd and self.etcd.proc:
            stop_process(self.etcd.proc, self.t(5) if grace is None else grace)
            self.etcd.proc = None
            self._write_pid(None)
        if delete_mirror:
            try:
                self.ctx.store.delete("pods", NS, "etcd-" + self.node)
            except ApiError:
                pass
        self.pod = self.etcd = None
        self.mirror_uid = None
        self.status_cache = None
        self.write_cri_state(None)

    def etcd_spec(self):
        for c in self.pod["spec"]["containers"]:
            if c["name"] == "etcd":
                return c
        return None

    def host_path(self, container, value):
        """A container path as a path on this machine (None when no hostPath covers it)."""
        hp = mf.container_path_to_host(self.pod["spec"], container, value)
        return None if hp is None else self.ctx.layout.host(self.node, hp)

    def container_env(self, container):
        env = {}
        for e in container.get("env", []):
            v = e.get("value", "")
            if v.startswith("/"):
                v = self.host_path(container, v) or v
            env[e["name"]] = v
        return env

    def map_args(self, container, args):
        out = []
        for a in args:
            if a.startswith("--") and "=/" in a:
                k, v = a.split("=", 1)
                a = k + "=" + (self.host_path(container, v) or v)
            out.append(a)
        return out

    def _write_pid(self, pid):
        path = os.path.join(self.ctx.layout.kubelet_dir(self.node), "etcd.pid")
        if pid is None:
            try:
                os.unlink(path)
            except OSError:
                pass
        else:
            with open(path, "w") as f:
                f.write("%d\n" % pid)

    def start_etcd(self):
        c = self.etcd_spec()
        e = self.etcd
        env = self.container_env(c)
        got = self.take_control("fail-starts")
        if got is not None:
            try:
                left = int(got[1])
            except ValueError:
                left = 0
            if left > 0:
                env["TESTBED_FAIL_START"] = "1"
                self.log.info("this start of etcd fails its start check (crashloop --recovered)")
            if left > 1:
                with open(got[0], "w") as f:
                    f.write("%d\n" % (left - 1))
            else:
                os.unlink(got[0])
        env.update({"TESTBED_TARGET_NAME": self.node, "TESTBED_TARGET_IP": self.ip,
                    "TESTBED_DISCOVER_TIMEOUT": str(self.t(30)),
                    "TESTBED_DISCOVER_INTERVAL": str(self.t(0.5)),
                    "PATH": "/usr/local/bin:/usr/bin:/bin", "HOSTNAME": self.node})
        # Like a container runtime, bind-mount the data dir: a running etcd keeps using the directory it
        # started with even when someone renames /var/lib/etcd on the node meanwhile (it never recreates it).
        host_dd = env.get("ETCD_DATA_DIR") or self.ctx.layout.data_dir(self.node)
        mnt = self.ctx.layout.etcd_mount(self.node)
        os.makedirs(mnt, exist_ok=True)
        if not os.path.isdir(host_dd):
            os.makedirs(host_dd, mode=0o700, exist_ok=True)
        env["ETCD_DATA_DIR"] = mnt
        argv = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                'mount --bind "$1" "$2" || exit 125; shift 2; exec "$@"', "sh", host_dd, mnt,
                sys.executable, os.path.join(HERE, "etcd_container.py"), self.ctx.etcd_binary]
        argv += self.map_args(c, c.get("args", []))
        logdir = self.ctx.layout.host(self.node, "/var/log/pods/%s_etcd-%s_%s/etcd" % (
            NS, self.node, self.pod_uid))
        os.makedirs(logdir, exist_ok=True)
        e.log_path = os.path.join(logdir, "%d.log" % e.restart_count)
        # the container's working directory, new at each start (a container's own file system): 4.8's
        # unixs://IP:0 client URL is a socket file there that etcdctl in the etcdctl container cannot reach
        cwd = os.path.join(self.ctx.layout.kubelet_dir(self.node), "etcd-cwd")
        shutil.rmtree(cwd, ignore_errors=True)
        os.makedirs(cwd)
        with open(e.log_path, "ab") as logf:
            e.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                      stderr=subprocess.STDOUT, cwd=cwd)
        self._write_pid(e.proc.pid)
        e.started_mono = time.monotonic()
        e.created_epoch = time.time()
        e.started_at = now()
        e.state = {"running": {"startedAt": e.started_at}}
        e.ready = False
        e.started = False
        e.next_probe = time.monotonic() + self.t(0.2)
        self.log.info("started etcd (pid %d, restart %d)", e.proc.pid, e.restart_count)

    def supervise_etcd(self):
        e = self.etcd
        t = time.monotonic()
        if e.proc is not None:
            rc = e.proc.poll()
            if rc is None:
                if t >= e.next_probe:
                    ok, _ = self.ctx.etcd_client().health("https://%s:2379" % self.ip, timeout=1.0)
                    if ok:
                        e.started = True
                    e.ready = ok
                    e.next_probe = time.monotonic() + self.t(1.0 if ok else 0.3)
                return
            self.on_etcd_exit(rc, t)
        if e.proc is None and t >= e.restart_at:
            if e.last_state:
                e.restart_count += 1
            self.start_etcd()

    def on_etcd_exit(self, rc, t):
        e = self.etcd
        code = rc if rc >= 0 else 128 - rc
        ran = t - e.started_mono
        term = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": e.started_at, "finishedAt": now(),
                "containerID": "cri-o://%s" % hashlib.sha256(("%s%d" % (self.pod_uid, e.restart_count)).encode()).hexdigest()}
        if code != 0:
            term["message"] = log_tail(e.log_path)
        self.log.info("etcd exited with %d after %.1fs", code, ran)
        e.proc = None
        self._write_pid(None)
        e.ready = e.started = False
        e.last_state = {"terminated": term}
        initial, cap = self.t(0.5), self.t(8)
        if ran >= 2 * cap:
            e.backoff = 0.0
        if e.backoff == 0.0:
            e.backoff = initial          # first restart is immediate, the next ones back off
            e.restart_at = t
            e.state = {"terminated": dict(term)}
        else:
            e.restart_at = t + e.backoff
            e.state = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                   "back-off %s restarting failed container=etcd pod=etcd-%s_%s(%s)"
                                   % (go_duration(e.backoff), self.node, NS, self.pod_uid)}}
            e.backoff = min(cap, e.backoff * 2)

    def container_running(self, name):
        """Whether a container of the static pod is running (for exec)."""
        with self.lock:
            if self.pod is None:
                return False
            if name == "etcd":
                return self.etcd is not None and self.etcd.proc is not None and self.etcd.proc.poll() is None
            return any(c["name"] == name for c in self.pod["spec"]["containers"])

    def mirror_status(self):
        e = self.etcd
        statuses = []
        for c in self.pod["spec"]["containers"]:
            attempt = str(e.restart_count) if c["name"] == "etcd" else ""
            base = {"name": c["name"], "image": c.get("image", ""), "imageID": c.get("image", ""),
                    "containerID": "cri-o://" + hashlib.sha256((self.pod_uid + c["name"] + attempt).encode()).hexdigest()}
            if c["name"] == "etcd":
                base.update({"ready": e.ready, "started": e.started, "restartCount": e.restart_count,
                             "state": e.state, "lastState": e.last_state})
            else:
                base.update({"ready": True, "started": True, "restartCount": 0,
                             "state": {"running": {"startedAt": self.pod_started_at}}, "lastState": {}})
            statuses.append(base)
        statuses.sort(key=lambda s: s["name"])
        unready = [s["name"] for s in statuses if not s["ready"]]
        ready = "False" if unready else "True"
        cond = [{"type": "Initialized", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": self.pod_started_at},
                {"type": "Ready", "status": ready, "lastProbeTime": None,
                 "lastTransitionTime": self.pod_started_at},
                {"type": "ContainersReady", "status": ready, "lastProbeTime": None,
                 "lastTransitionTime": self.pod_started_at},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": self.pod_started_at}]
        if unready:
            for c in cond[1:3]:
                c["reason"] = "ContainersNotReady"
                c["message"] = "containers with unready status: [%s]" % " ".join(unready)
        inits = [{"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", ""),
                  "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                           "startedAt": self.pod_started_at,
                                           "finishedAt": self.pod_started_at}}}
                 for c in self.pod["spec"].get("initContainers", [])]
        return {"phase": "Running", "conditions": cond, "hostIP": self.ip, "podIP": self.ip,
                "podIPs": [{"ip": self.ip}], "startTime": self.pod_started_at,
                "containerStatuses": statuses, "initContainerStatuses": inits, "qosClass": "Burstable"}

    def mirror_object(self, status):
        meta = self.pod.get("metadata", {})
        annotations = dict(meta.get("annotations", {}))
        annotations.update({"kubernetes.io/config.source": "file",
                            "kubernetes.io/config.hash": self.pod_uid,
                            "kubernetes.io/config.mirror": self.pod_uid,
                            "kubernetes.io/config.seen": self.pod_started_at})
        spec = json.loads(json.dumps(self.pod.get("spec", {})))
        spec.update({"nodeName": self.node, "restartPolicy": "Always", "schedulerName": "default-scheduler",
                     "priority": 2000001000, "dnsPolicy": "ClusterFirst",
                     "terminationGracePeriodSeconds": 30})
        owner = []
        try:
            n = self.ctx.store.get("nodes", None, self.node)
            owner = [{"apiVersion": "v1", "kind": "Node", "name": self.node,
                      "uid": n["metadata"]["uid"], "controller": True}]
        except ApiError:
            pass
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "etcd-" + self.node, "namespace": NS,
                             "labels": dict(meta.get("labels", {})), "annotations": annotations,
                             "ownerReferences": owner},
                "spec": spec, "status": status}

    def write_cri_state(self, status):
        """What `crictl ps` on the node shows (crictl.sh reads it): the static pod's containers."""
        path = self.ctx.layout.host(self.node, CRI_STATE)
        lines = []
        if status is not None:
            for c in status["containerStatuses"]:
                running = "running" in c["state"]
                if c["name"] == "etcd" and not running and not c.get("lastState"):
                    continue
                created = self.etcd.created_epoch if c["name"] == "etcd" else self.pod_epoch
                lines.append("\t".join([c["containerID"].split("//")[-1], c.get("image", ""), "%d" % created,
                                        "Running" if running else "Exited", c["name"],
                                        str(c.get("restartCount", 0)), self.pod_uid, "etcd-" + self.node, NS]))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write("".join(line + "\n" for line in lines))
        os.replace(path + ".tmp", path)

    def publish_mirror(self):
        status = self.mirror_status()
        if status != self.status_cache:
            self.write_cri_state(status)
        store = self.ctx.store
        name = "etcd-" + self.node
        rv = store.resource_version
        if status == self.status_cache and rv == self.mirror_rv:
            return
        self.mirror_rv = rv
        try:
            cur = store.get("pods", NS, name)
        except ApiError:
            cur = None
        if cur is not None and cur["metadata"]["uid"] != self.mirror_uid and self.mirror_uid is not None:
            cur = None  # someone replaced it: treat as foreign
        if cur is None or cur["metadata"].get("annotations", {}).get("kubernetes.io/config.mirror") != self.pod_uid:
            if cur is not None:
                try:
                    store.delete("pods", NS, name)
                except ApiError:
                    pass
            try:
                obj = store.create("pods", NS, self.mirror_object(status))
                self.mirror_uid = obj["metadata"]["uid"]
                self.status_cache = status
            except ApiError as err:
                self.log.warning("cannot create mirror pod: %s", err.message)
            return
        self.mirror_uid = cur["metadata"]["uid"]
        if status == self.status_cache and cur.get("status") == status:
            return

        def fn(obj):
            obj["status"] = status
        try:
            store.update("pods", NS, name, fn)
            self.status_cache = status
        except ApiError:
            pass

    # ---- other pods bound to this node (debug pods)
    def sync_other_pods(self):
        rv = self.ctx.store.resource_version
        if rv == self.pods_rv and not any(r.busy() for r in self.others.values()):
            return
        self.pods_rv = rv
        items, _ = self.ctx.store.list("pods")
        seen = set()
        for pod in items:
            meta, spec = pod["metadata"], pod.get("spec", {})
            if spec.get("nodeName") != self.node:
                continue
            if "kubernetes.io/config.mirror" in meta.get("annotations", {}):
                continue
            if meta.get("labels", {}).get("app") in ("installer", "guard") or \
                    meta.get("labels", {}).get("k8s-app") == "etcd-quorum-guard":
                continue
            uid = meta["uid"]
            seen.add(uid)
            run = self.others.get(uid)
            if run is None:
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                run = execs.PodRun(self.ctx, self.node, pod)
                self.others[uid] = run
                run.start()
            run.publish()
        for uid in [u for u in self.others if u not in seen]:
            self.others.pop(uid).stop()

    def pod_run(self, uid):
        with self.lock:
            return self.others.get(uid)
