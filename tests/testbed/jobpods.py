"""A Job's etcd-medic container, run on this machine as a pod would run it (the image is this build's etcd-medic:
the container's command `etcd-medic ...`, or the image's entrypoint when it names etcd-medic, is mapped to the
built binary, `up --medic PATH`).

The in-cluster environment, as the kubelet gives it: the service account's token (one per namespace and account,
minted here and known to the API server as system:serviceaccount:NS:NAME), the API server's CA and the
namespace, projected at /var/run/secrets/kubernetes.io/serviceaccount in a private mount namespace (a tmpfs on
/run, the container's own, with the files bind-mounted there); KUBERNETES_SERVICE_HOST/PORT pointing at the
testbed's API server; the pod's name as its hostname (a UTS namespace); the downward API's fieldRef env; and an
empty HOME that is removed when the container ends (no home directory survives a pod)."""
import os
import secrets
import shutil
import signal
import subprocess

import execs

SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"   # /var/run is a link to /run
_SCRIPT = ('n=$1 sa=$2; shift 2; '
           'mount -t tmpfs -o mode=0755 pod-run /run && mkdir -p ' + SA_DIR + ' && mount --bind "$sa" ' + SA_DIR +
           ' && hostname "$n" || exit 126; '
           '"$@"; rc=$?; rm -rf -- "$HOME"; exit $rc')


def medic_argv(ctx, spec):
    """The argv to run for a container of the etcd-medic image, with the built binary; None for other images."""
    command, args = list(spec.get("command") or []), list(spec.get("args") or [])
    if not command and "etcd-medic" in spec.get("image", ""):
        command = ["etcd-medic"]
    if not command or os.path.basename(command[0]) not in ("etcd-medic", "kubectl-etcd_medic", "oc-etcd_medic"):
        return None
    return [ctx.cfg.get("medic_binary") or "etcd-medic"] + command[1:] + args


def service_account_token(ctx, namespace, name):
    """The bearer token of service account NAME in NAMESPACE (made once, kept in the API server's token table)."""
    user = "system:serviceaccount:%s:%s" % (namespace, name)
    with ctx.sa_lock:
        for token, who in ctx.api.tokens.items():
            if who == user:
                return token
        token = "sa~" + secrets.token_urlsafe(32)
        ctx.api.tokens[token] = user
        return token


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


def spawn(ctx, node, pod, spec, argv, stdout):
    """Starts the container's process (its own process group, so stopping the pod stops all of it)."""
    meta = pod["metadata"]
    home = ctx.layout.p("pods", meta["uid"], "home")
    os.makedirs(home, mode=0o700, exist_ok=True)
    env = execs.pod_env(spec, {"HOSTNAME": meta["name"], "HOME": home,
                               "KUBERNETES_SERVICE_HOST": ctx.cfg["api"]["host"],
                               "KUBERNETES_SERVICE_PORT": str(ctx.cfg["api"]["port"]),
                               "KUBERNETES_SERVICE_PORT_HTTPS": str(ctx.cfg["api"]["port"])})
    for e in spec.get("env", []):
        ref = (e.get("valueFrom") or {}).get("fieldRef")
        if ref:
            env[e["name"]] = field_ref(pod, ref.get("fieldPath", ""))
    cmd = ["unshare", "-m", "-u", "--propagation", "private", "/bin/sh", "-c", _SCRIPT, "sh", meta["name"],
           projected(ctx, pod)] + argv
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT,
                            cwd="/", start_new_session=True)


def stop(proc):
    """Kills the container's whole process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
