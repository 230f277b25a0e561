"""The etcd static pod as the operator renders it (reference/openshift.md 1.2, 1.3), per profile.

The template (ConfigMap etcd-pod, key pod.yaml) keeps the tokens NODE_NAME, NODE_ENVVAR_NAME and REVISION;
the installer replaces them when it writes /etc/kubernetes/manifests/etcd-pod.yaml on a node. The etcd
container's args use ${NODE_<envsafe>_IP}-style variables that its start script expands from its env.
Manifests are written as JSON, which is also valid YAML."""
import json

CERTS = "/etc/kubernetes/static-pod-certs"

PROFILES = {
    "4.14": {
        "version": "4.14.20",
        "containers": ["etcdctl", "etcd", "etcd-metrics", "etcd-readyz"],
        "ca_path": CERTS + "/configmaps/etcd-serving-ca/ca-bundle.crt",
        "cert_secret_dir": CERTS + "/secrets/etcd-all-certs",
        "aggregates": {"etcd-all-certs": ("peer", "serving", "serving-metrics")},
        "quorum_gate": True,
        "guard": "guard-pods",
        "default_container": True,
        "exec_protocols": ["v5.channel.k8s.io", "v4.channel.k8s.io"],
        "init_containers": ["setup", "etcd-ensure-env-vars", "etcd-resources-copy"],
        # the etcd container's readiness probe as 4.12-4.14 render it (the readyz sidecar on 9980)
        "readiness_probe": {"failureThreshold": 3, "httpGet": {"path": "readyz", "port": 9980, "scheme": "HTTPS"},
                            "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 10},
        "control_plane_label": True,
        "kubelet_version": "v1.27.10+testbed",
        "crio_version": "cri-o://1.27.0",
    },
    "4.7": {
        "version": "4.7.60",
        "containers": ["etcdctl", "etcd", "etcd-metrics"],
        "ca_path": CERTS + "/configmaps/etcd-serving-ca/ca-bundle.crt",
        "cert_secret_dir": CERTS + "/secrets/etcd-all-peer",
        "aggregates": {"etcd-all-peer": ("peer",), "etcd-all-serving": ("serving",),
                       "etcd-all-serving-metrics": ("serving-metrics",)},
        "quorum_gate": False,
        "guard": "quorum-guard",
        "default_container": False,
        "exec_protocols": ["v4.channel.k8s.io"],
        "init_containers": ["etcd-ensure-env-vars", "etcd-resources-copy"],
        # real 4.7.16 (Insights capture): a TCP check of the peer port
        "readiness_probe": {"tcpSocket": {"port": 2380}, "initialDelaySeconds": 3, "timeoutSeconds": 5,
                            "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
        "control_plane_label": False,
        "kubelet_version": "v1.20.0+testbed",
        "crio_version": "cri-o://1.20.3",
    },
}

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
        "--advertise-client-urls=https://%s:2379" % ip_var,
        "--listen-client-urls=https://%s:2379" % ip_var,
        "--listen-peer-urls=https://%s:2380" % ip_var,
        "--initial-cluster-token=" + cluster_token,
    ]
    mounts = [{"name": "static-pod-dir", "mountPath": "/etc/kubernetes/manifests"},
              {"name": "resource-dir", "mountPath": "/etc/kubernetes/static-pod-resources"},
              {"name": "cert-dir", "mountPath": CERTS},
              {"name": "data-dir", "mountPath": "/var/lib/etcd"},
              {"name": "log-dir", "mountPath": "/var/log/etcd"}]
    containers = []
    for name in p["containers"]:
        c = {"name": name, "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:testbed",
             "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "FallbackToLogsOnError",
             "env": etcd_env if name == "etcd" else list(common), "volumeMounts": mounts,
             "securityContext": {"privileged": True}, "resources": {"requests": {"cpu": "10m"}}}
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
            ],
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
