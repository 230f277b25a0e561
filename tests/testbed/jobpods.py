"""A Job's etcd-medic container, run on this machine as a pod would run it (the image is this build's etcd-medic:
the container's command `etcd-medic ...`, or the image's entrypoint when it names etcd-medic, is mapped to the
built binary, `up --medic PATH`).

The in-cluster environment, as the kubelet gives it: the service account's token (a TokenRequest's, one per account:
the API server knows it as system:serviceaccount:NS:NAME and decides its requests by RBAC, rbac.py), the API
server's CA and the namespace, projected at /var/run/secrets/kubernetes.io/serviceaccount in a private mount
namespace (a tmpfs on /run, the container's own, with the files bind-mounted there); KUBERNETES_SERVICE_HOST/PORT
pointing at the testbed's API server; the pod's name as its hostname (a UTS namespace); the downward API's fieldRef
env and $(VAR) in its command; its emptyDir and configMap volumes; and an empty HOME on that private /run (no home
directory survives a pod). The root file system is otherwise this machine's (readOnlyRootFilesystem and runAsNonRoot
are not enforced)."""
import os
import re
import shutil
import signal
import subprocess

import execs
from store import ApiError

SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"   # /var/run is a link to /run
IMAGE_BIN = "/run/.image/bin"   # the "image": this build's etcd-medic, copied in (its argv[0] stays etcd-medic)
# $1 hostname, $2 service account dir, $3 the binary; then pairs SOURCE TARGET (volumes, shallow targets first) up
# to "--"; then argv. Each source is bound on the private /run first, so a volume on /tmp cannot hide another's.
_SCRIPT = ('n=$1 sa=$2 bin=$3; shift 3; '
           'mount -t tmpfs -o mode=0755 pod-run /run && mkdir -p ' + SA_DIR + ' ' + IMAGE_BIN + ' /run/.home '
           '/run/.vol && mount --bind "$sa" ' + SA_DIR + ' && cp "$bin" ' + IMAGE_BIN + '/etcd-medic && '
           'hostname "$n" || exit 126; i=0; '
           'while [ "$1" != "--" ]; do i=$((i+1)); mkdir -p /run/.vol/$i && mount --bind "$1" /run/.vol/$i '
           '|| exit 126; echo "$i $2" >>/run/.vol/list; shift 2; done; shift; '
           'if [ -f /run/.vol/list ]; then while read -r i t; do mount --bind /run/.vol/$i "$t" || exit 126; '
           'done </run/.vol/list; fi; '
           'exec "$@"')


def medic_argv(ctx, spec):
    """The argv to run for a container of the etcd-medic image, with the built binary; None for other images."""
    command, args = list(spec.get("command") or []), list(spec.get("args") or [])
    if not command and "etcd-medic" in spec.get("image", ""):
        command = ["etcd-medic"]
    if not command or os.path.basename(command[0]) not in ("etcd-medic", "kubectl-etcd_medic", "oc-etcd_medic"):
        return None
    return [ctx.cfg.get("medic_binary") or "etcd-medic"] + command[1:] + args


def service_account_token(ctx, namespace, name):
    """A bearer token of service account NAME in NAMESPACE (TokenRequest, rbac.py: its requests are decided by the
    Roles and bindings in the store), one per account."""
    with ctx.sa_lock:
        if (namespace, name) not in ctx.sa_tokens:
            ctx.sa_tokens[(namespace, name)] = ctx.api.rbac.issue_token(namespace, name)
        return ctx.sa_tokens[(namespace, name)]


def field_ref(pod, path):
    meta, spec = pod["metadata"], pod.get("spec", {})
    return {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
            "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
            "spec.serviceAccountName": spec.get("serviceAccountName")}.get(path, "")


def projected(ctx, pod):
    """The pod's service account directory (token, ca.crt, namespace) under DIR/pods/UID."""
    meta = pod["metadata"]
    d = ctx.layout.p("pods", meta["uid"], "serviceaccount")
    os.makedirs(d, mode=0o700, exist_ok=True)
    files = {"token": service_account_token(ctx, meta["namespace"], pod["spec"].get("serviceAccountName", "default")),
             "namespace": meta["namespace"]}
    shutil.copy(os.path.join(ctx.layout.pki, "kube-apiserver-ca.crt"), os.path.join(d, "ca.crt"))
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


def expand(text, env):
    """$(VAR) references in a command or args, as the kubelet expands them ($$ escapes; unknown ones stay)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def volumes(ctx, pod, spec):
    """[(source, mountPath)] of the container's emptyDir and configMap volumes (files under DIR/pods/UID/volumes),
    shallow mount paths first; a missing mount point is made on this machine and removed at `down` (cleanup)."""
    meta, out = pod["metadata"], []
    vols = {v["name"]: v for v in pod.get("spec", {}).get("volumes", [])}
    for m in sorted(spec.get("volumeMounts", []), key=lambda m: m["mountPath"].rstrip("/").count("/")):
        v = vols.get(m["name"], {})
        src = ctx.layout.p("pods", meta["uid"], "volumes", m["name"])
        os.makedirs(src, exist_ok=True)
        if "configMap" in v:
            try:
                cm = ctx.store.get("configmaps", meta["namespace"], v["configMap"]["name"])
            except ApiError:
                cm = {}
            for key, text in (cm.get("data") or {}).items():
                with open(os.path.join(src, key), "w") as f:
                    f.write(text)
        elif "emptyDir" not in v:
            continue
        target = "/" + m["mountPath"].strip("/")
        if not os.path.isdir(target):
            os.makedirs(target, exist_ok=True)
            ctx.made_mount_points.append(target)
        out.append((src, target))
    return out


def cleanup(ctx):
    """Removes the mount points made for volumes (only if still empty), deepest first."""
    for d in sorted(set(ctx.made_mount_points), key=lambda p: -p.count("/")):
        try:
            os.rmdir(d)
        except OSError:
            pass


def spawn(ctx, node, pod, spec, argv, stdout):
    """Starts the container's process (its own process group, so stopping the pod stops all of it)."""
    meta = pod["metadata"]
    env = execs.pod_env(spec, {"HOSTNAME": meta["name"], "HOME": "/run/.home",
                               "KUBERNETES_SERVICE_HOST": ctx.cfg["api"]["host"],
                               "KUBERNETES_SERVICE_PORT": str(ctx.cfg["api"]["port"]),
                               "KUBERNETES_SERVICE_PORT_HTTPS": str(ctx.cfg["api"]["port"])})
    env["PATH"] = IMAGE_BIN + ":" + env["PATH"]
    for e in spec.get("env", []):
        ref = (e.get("valueFrom") or {}).get("fieldRef")
        if ref:
            env[e["name"]] = field_ref(pod, ref.get("fieldPath", ""))
    binds = [x for pair in volumes(ctx, pod, spec) for x in pair]
    cmd = ["unshare", "-m", "-u", "--propagation", "private", "/bin/sh", "-c", _SCRIPT, "sh", meta["name"],
           projected(ctx, pod), argv[0]] + binds + ["--", "etcd-medic"] + [expand(a, env) for a in argv[1:]]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                            cwd="/", start_new_session=True)


def stop(proc):
    """Kills the container's whole process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
