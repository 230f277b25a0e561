"""The etcd static pod as the operator renders it (reference/openshift.md 1.2, 1.3), per profile.

The template (ConfigMap etcd-pod, key pod.yaml) keeps the tokens NODE_NAME, NODE_ENVVAR_NAME and REVISION;
the installer replaces them when it writes /etc/kubernetes/manifests/etcd-pod.yaml on a node. The etcd
container's args use ${NODE_<envsafe>_IP}-style variables that its start script expands from its env.
Manifests are written as JSON, which is also valid YAML."""
import json

CERTS = "/etc/kubernetes/static-pod-certs"

# the etcd container's readiness probe as 4.12 and later render it (the readyz sidecar on 9980)
READYZ_PROBE = {"failureThreshold": 3, "httpGet": {"path": "readyz", "port": 9980, "scheme": "HTTPS"},
                "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 10}
# 4.8-4.9: etcdctl endpoint health over the member's own unixs:// client URL (4.8's command, its comments left out)
UNIXS_PROBE = {"exec": {"command": ["/bin/bash", "-c", (
    "set -xe\n\n"
    "unset ETCDCTL_ENDPOINTS\n/usr/bin/etcdctl \\\n  --command-timeout=2s \\\n  --dial-timeout=2s \\\n"
    "  --endpoints=unixs://${NODE_NODE_ENVVAR_NAME_IP}:0 \\\n  endpoint health -w json | grep \\\"health\\\":true\n")]},
    "failureThreshold": 3, "initialDelaySeconds": 3, "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 5}
ALL_CERTS = {"etcd-all-certs": ("peer", "serving", "serving-metrics")}

# One entry per release the testbed stands for (docs/testbed-profiles.md: what each is checked against).
# kube_version: what /version reports (and the kubelets, as nodeInfo.kubeletVersion); etcd_version: what
# etcdctl reports (the etcd binary is 3.4.23; "3.5.x" puts etcdctl35.py, which prints etcdctl 3.5's shapes, in
# front of it in the etcd pod's containers); unixs: members advertise a second client URL unixs://IP:0 (4.8-4.9);
# read_only: read-only root file systems and an emptyDir at /tmp (4.20+; modelled for exec); learners: new
# members join as learners (4.11+); cr_null_overrides: the Etcd CR's spec.unsupportedConfigOverrides is an
# explicit null at install (4.9+); hardware_speed: status.controlPlaneHardwareSpeed (4.13+).
PROFILES = {
    "4.7": {
        "version": "4.7.60", "kube_version": "1.20.0", "etcd_version": "3.4.23",
        "containers": ["etcdctl", "etcd", "etcd-metrics"],
        "aggregates": {"etcd-all-peer": ("peer",), "etcd-all-serving": ("serving",),
                       "etcd-all-serving-metrics": ("serving-metrics",)},
        "quorum_gate": False, "guard": "quorum-guard", "default_container": False, "learners": False,
        "cr_null_overrides": False, "hardware_speed": False, "exec_protocols": ["v4.channel.k8s.io"],
        "init_containers": ["etcd-ensure-env-vars", "etcd-resources-copy"],
        # real 4.7.16 (Insights capture): a TCP check of the peer port
        "readiness_probe": {"tcpSocket": {"port": 2380}, "initialDelaySeconds": 3, "timeoutSeconds": 5,
                            "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
        "control_plane_label": False, "crio_version": "cri-o://1.20.3",
    },
    "4.8": {
        "version": "4.8.11", "kube_version": "1.21.1", "etcd_version": "3.4.14", "unixs": True,
        "containers": ["etcdctl", "etcd", "etcd-metrics", "etcd-health-monitor"],
        "aggregates": ALL_CERTS,
        "quorum_gate": True, "guard": "quorum-guard", "default_container": False, "learners": False,
        "cr_null_overrides": False, "hardware_speed": False, "exec_protocols": ["v4.channel.k8s.io"],
        "init_containers": ["setup", "etcd-ensure-env-vars", "etcd-resources-copy"],
        "readiness_probe": UNIXS_PROBE,
        "control_plane_label": False, "crio_version": "cri-o://1.21.2-12.rhaos4.8",
    },
    "4.14": {
        "version": "4.14.20", "kube_version": "1.27.16", "etcd_version": "3.5.9",
        "containers": ["etcdctl", "etcd", "etcd-metrics", "etcd-readyz"],
        "aggregates": ALL_CERTS,
        "quorum_gate": True, "guard": "guard-pods", "default_container": True, "learners": True,
        "cr_null_overrides": True, "hardware_speed": True, "exec_protocols": ["v4.channel.k8s.io"],
        "init_containers": ["setup", "etcd-ensure-env-vars", "etcd-resources-copy"],
        "readiness_probe": READYZ_PROBE,
        "control_plane_label": True, "crio_version": "cri-o://1.27.0",
        # cluster-etcd-operator's Machine-aware controllers (MachineDeletionHooksController,
        # ClusterMemberRemovalController, machines in ClusterMemberController): 4.11 and later
        "machine_hooks": True,
    },
}
PROFILES["4.16"] = dict(PROFILES["4.14"], version="4.16.30", kube_version="1.29.10", etcd_version="3.5.14",
                        exec_protocols=["v5.channel.k8s.io", "v4.channel.k8s.io"], crio_version="cri-o://1.29.10")
PROFILES["4.20"] = dict(PROFILES["4.16"], version="4.20.8", kube_version="1.33.5", etcd_version="3.5.21",
                        containers=["etcdctl", "etcd", "etcd-metrics", "etcd-readyz", "etcd-rev"], read_only=True,
                        crio_version="cri-o://1.33.5")
for _p in PROFILES.values():
    _p.update(ca_path=CERTS + "/configmaps/etcd-serving-ca/ca-bundle.crt",
              cert_secret_dir=CERTS + "/secrets/" + next(iter(_p["aggregates"])),
              kubelet_version="v%s+testbed" % _p["kube_version"])

INIT_COMMANDS = {"setup": ["/bin/sh", "-c", "true"],
                 "etcd-ensure-env-vars": ["cluster-etcd-operator", "ensure-env"],
                 "etcd-resources-copy": ["/bin/sh", "-c", "true"]}

# Tuned for speed; etcd's defaults are 100 / 1000 / 100000.
ETCD_TUNING = {"ETCD_HEARTBEAT_INTERVAL": "100", "ETCD_ELECTION_TIMEOUT": "1000",
               "ETCD_SNAPSHOT_COUNT": "10000", "ETCD_QUOTA_BACKEND_BYTES": str(512 * 1024 * 1024)}


def envsafe(node):
    return node.replace("-", "_").replace(".", "_")


def secret_dir_for(profile, kind):
    """Container directory holding the per-node <kind> certificates (kind: peer, serving, serving-metrics)."""
    p = PROFILES[profile]
    for agg, kinds in p["aggregates"].items():
        if kind in kinds:
            return CERTS + "/secrets/" + agg
    raise KeyError(kind)


def _env(name, value):
    return {"name": name, "value": value}


def render_template(profile, ips, endpoint_ips, reason, cluster_token, bootstrap=None, quota=None):
    """The etcd-pod ConfigMap's pod.yaml as a dict (tokens not yet replaced).

    ips: {node: ip} of all control-plane nodes; endpoint_ips: the IPs of etcd-endpoints (voting members)."""
    p = PROFILES[profile]
    endpoints = ",".join("https://%s:2379" % ip for ip in sorted(endpoint_ips))
    peer_dir = secret_dir_for(profile, "peer")
    serving_dir = secret_dir_for(profile, "serving")
    common = [
        _env("ETCDCTL_API", "3"),
        _env("ETCDCTL_CACERT", p["ca_path"]),
        _env("ETCDCTL_CERT", peer_dir + "/etcd-peer-NODE_NAME.crt"),
        _env("ETCDCTL_KEY", peer_dir + "/etcd-peer-NODE_NAME.key"),
        _env("ETCDCTL_ENDPOINTS", endpoints),
        _env("ETCD_IMAGE", "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed"),
        _env("ETCD_DATA_DIR", "/var/lib/etcd"),
        _env("ETCD_INITIAL_CLUSTER_STATE", "existing"),
        _env("ETCD_ENABLE_PPROF", "false"),
    ]
    tuning = dict(ETCD_TUNING, **({"ETCD_QUOTA_BACKEND_BYTES": str(quota)} if quota else {}))
    common += [_env(k, v) for k, v in sorted(tuning.items())]
    common.append(_env("ALL_ETCD_ENDPOINTS", endpoints))
    for node, ip in sorted(ips.items()):
        e = envsafe(node)
        common += [_env("NODE_%s_IP" % e, ip), _env("NODE_%s_ETCD_URL_HOST" % e, ip),
                   _env("NODE_%s_ETCD_NAME" % e, node)]
    etcd_env = list(common)
    if bootstrap:
        etcd_env.append(_env("TESTBED_BOOTSTRAP_INITIAL_CLUSTER", bootstrap))
    ip_var = "${NODE_NODE_ENVVAR_NAME_IP}"
    # 4.8-4.9: a second client URL, a unix socket named IP:0 in the etcd container's working directory
    unixs = ",unixs://%s:0" % ip_var if p.get("unixs") else ""
    args = [
        "--logger=zap", "--log-level=info",
        "--name=${NODE_NODE_ENVVAR_NAME_ETCD_NAME}",
        "--initial-advertise-peer-urls=https://%s:2380" % ip_var,
        "--cert-file=%s/etcd-serving-NODE_NAME.crt" % serving_dir,
        "--key-file=%s/etcd-serving-NODE_NAME.key" % serving_dir,
        "--trusted-ca-file=" + p["ca_path"],
        "--client-cert-auth=true",
        "--peer-cert-file=%s/etcd-peer-NODE_NAME.crt" % peer_dir,
        "--peer-key-file=%s/etcd-peer-NODE_NAME.key" % peer_dir,
        "--peer-trusted-ca-file=" + p["ca_path"],
        "--peer-client-cert-auth=true",
        "--advertise-client-urls=https://%s:2379" % ip_var + unixs,
        "--listen-client-urls=https://%s:2379" % ip_var + unixs,
        "--listen-peer-urls=https://%s:2380" % ip_var,
        "--initial-cluster-token=" + cluster_token,
    ]
    mounts = [{"name": "static-pod-dir", "mountPath": "/etc/kubernetes/manifests"},
              {"name": "resource-dir", "mountPath": "/etc/kubernetes/static-pod-resources"},
              {"name": "cert-dir", "mountPath": CERTS},
              {"name": "data-dir", "mountPath": "/var/lib/etcd"},
              {"name": "log-dir", "mountPath": "/var/log/etcd"}]
    security = {"privileged": True}
    if p.get("read_only"):      # 4.20+: read-only root file systems, /tmp an emptyDir
        mounts.append({"name": "tmp-dir", "mountPath": "/tmp"})
        security["readOnlyRootFilesystem"] = True
    containers = []
    for name in p["containers"]:
        c = {"name": name, "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed",
             "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "FallbackToLogsOnError",
             "env": etcd_env if name == "etcd" else list(common), "volumeMounts": mounts,
             "resources": {"requests": {"cpu": "10m"}}}
        if name != "etcd-health-monitor":     # 4.8's monitor is not privileged
            c["securityContext"] = dict(security)
        if name == "etcdctl":
            c["command"] = ["/bin/bash", "-c", "trap TERM INT; sleep infinity & wait"]
        elif name == "etcd":
            c["command"] = ["discover-etcd-initial-cluster", "--exec=etcd"]
            c["args"] = args
            c["ports"] = [{"containerPort": 2379, "name": "etcd", "protocol": "TCP"},
                          {"containerPort": 2380, "name": "etcd-peer", "protocol": "TCP"}]
            c["readinessProbe"] = json.loads(json.dumps(p["readiness_probe"]))
        elif name == "etcd-metrics":
            c["command"] = ["etcd", "grpc-proxy", "start", "--metrics-addr=https://0.0.0.0:9979"]
        elif name == "etcd-readyz":
            c["command"] = ["cluster-etcd-operator", "readyz", "--listen-port=9980"]
            c["ports"] = [{"containerPort": 9980, "name": "readyz", "protocol": "TCP"}]
        elif name == "etcd-rev":
            c["command"] = ["cluster-etcd-operator", "rev", "--endpoints=$(ALL_ETCD_ENDPOINTS)"]
        else:
            c["command"] = ["cluster-etcd-operator", "monitor"]
        containers.append(c)
    annotations = {"target.workload.openshift.io/management": '{"effect": "PreferredDuringScheduling"}'}
    if p["default_container"]:
        annotations["kubectl.kubernetes.io/default-container"] = "etcd"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "etcd", "namespace": "openshift-etcd", "annotations": annotations,
                     "labels": {"app": "etcd", "k8s-app": "etcd", "etcd": "true", "revision": "REVISION"}},
        "spec": {
            "initContainers": [{"name": n, "image": containers[0]["image"], "command": INIT_COMMANDS[n]}
                               for n in p["init_containers"]],
            "containers": containers,
            "hostNetwork": True, "priorityClassName": "system-node-critical",
            "tolerations": [{"operator": "Exists"}],
            "volumes": [
                {"name": "static-pod-dir", "hostPath": {"path": "/etc/kubernetes/manifests"}},
                {"name": "resource-dir", "hostPath": {"path": "/etc/kubernetes/static-pod-resources/etcd-pod-REVISION"}},
                {"name": "cert-dir", "hostPath": {"path": "/etc/kubernetes/static-pod-resources/etcd-certs"}},
                {"name": "data-dir", "hostPath": {"path": "/var/lib/etcd"}},
                {"name": "log-dir", "hostPath": {"path": "/var/log/etcd"}},
            ] + ([{"name": "tmp-dir", "emptyDir": {}}] if p.get("read_only") else []),
        },
    }


def for_node(template_text, node, revision):
    """What the installer writes for one node: the template with its tokens replaced."""
    text = (template_text.replace("NODE_ENVVAR_NAME", envsafe(node))
            .replace("NODE_NAME", node).replace("REVISION", str(revision)))
    return text


def dumps(obj):
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def container_path_to_host(pod_spec, container, path):
    """Maps a path inside a container to a node-absolute path through its volumeMounts and hostPath volumes.

    Returns None when no hostPath mount covers it."""
    vols = {v["name"]: v.get("hostPath", {}).get("path") for v in pod_spec.get("volumes", [])}
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/") or "/"
        if path == mp or path.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) > len(best[0]):
                best = (mp, vols.get(m["name"]))
    if best is None or best[1] is None:
        return None
    rest = path[len(best[0]):].lstrip("/")
    return best[1].rstrip("/") + ("/" + rest if rest else "")
