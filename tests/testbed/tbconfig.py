"""Where a testbed keeps things, and which loopback addresses it uses.

A testbed lives in one directory DIR. Its settings are in DIR/testbed.json (written once by `up`):
node names, profile, speed, one loopback address per node (127.A.B.(11+i), A.B derived from DIR and a
random salt, ports checked free) and the API server's address (127.A.B.1:6443)."""
import hashlib
import json
import os
import re
import secrets
import socket

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
API_PORT = 6443
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PROFILES = ("4.7", "4.8", "4.14", "4.16", "4.20")   # manifest.PROFILES holds what each is
# status.addresses of a Node, in the order the platform's cloud provider / kubelet lists them
# (captures in ../shared/realdata: 4.7 lab and 4.9 bare metal, 4.8 AWS, Azure and vSphere, 4.12 GCP).
ADDRESS_ORDERS = {
    "metal": ("InternalIP", "Hostname"),
    "aws": ("InternalIP", "Hostname", "InternalDNS"),
    "azure": ("Hostname", "InternalIP"),
    "vsphere": ("ExternalIP", "InternalIP", "Hostname"),
    "gcp": ("InternalIP", "InternalDNS", "Hostname"),
}


class Layout:
    """Paths inside DIR."""

    def __init__(self, d):
        self.dir = os.path.abspath(d)

    def p(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def config(self):
        return self.p("testbed.json")

    @property
    def pidfile(self):
        return self.p("testbed.pid")

    @property
    def log(self):
        return self.p("testbed.log")

    @property
    def ready(self):
        return self.p("testbed.ready")

    @property
    def pki(self):
        return self.p("pki")

    def node_dir(self, node):
        return self.p("nodes", node)

    def root(self, node):
        return self.p("nodes", node, "root")

    def host(self, node, path):
        """A node-absolute path (/var/lib/etcd) as a path on this machine."""
        return os.path.join(self.root(node), path.lstrip("/"))

    def kubelet_dir(self, node):
        return self.p("nodes", node, "kubelet")

    @property
    def manifest_rel(self):
        return "/etc/kubernetes/manifests/etcd-pod.yaml"

    def manifest(self, node):
        return self.host(node, self.manifest_rel)

    def data_dir(self, node):
        return self.host(node, "/var/lib/etcd")

    def etcd_mount(self, node):
        """Where the kubelet bind-mounts the node's /var/lib/etcd for its etcd (in a private mount namespace)."""
        return self.p("nodes", node, "kubelet", "mnt", "var-lib-etcd")

    @property
    def tools_root(self):
        """The root file system of debug pods (the support-tools image)."""
        return self.p("images", "support-tools")


def valid_name(name):
    return len(name) <= 63 and bool(NAME_RE.match(name))


def _free(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def allocate(dirpath, count, attempts=64):
    """Picks 127.A.B.x addresses, derived from the directory and a random salt, whose ports are all free
    (the salt keeps a reused directory from meeting kubectl's discovery cache of an older testbed).

    Returns (api_ip, [node ips]); raises RuntimeError when nothing is free."""
    real = os.path.realpath(dirpath)
    salt = secrets.token_hex(8)
    for attempt in range(attempts):
        h = hashlib.sha256(("%s#%s#%d" % (real, salt, attempt)).encode()).digest()
        a, b = 1 + h[0] % 254, h[1]
        base = "127.%d.%d." % (a, b)
        api = base + "1"
        nodes = [base + str(11 + i) for i in range(count)]
        if not _free(api, API_PORT):
            continue
        if all(_free(ip, ETCD_CLIENT_PORT) and _free(ip, ETCD_PEER_PORT) for ip in nodes):
            return api, nodes
    raise RuntimeError("no free loopback addresses for the testbed after %d attempts" % attempts)


def next_ip(cfg):
    """A loopback address for a new node: 127.A.B.(11+k), the lowest k never used by a node of this testbed
    (nodes that are gone keep theirs: `retired_ips`), with its etcd ports free."""
    base = cfg["api"]["host"].rsplit(".", 1)[0] + "."
    used = set(cfg["ips"].values()) | set(cfg.get("retired_ips") or [])
    for k in range(11, 255):
        ip = base + str(k)
        if ip not in used and _free(ip, ETCD_CLIENT_PORT) and _free(ip, ETCD_PEER_PORT):
            return ip
    raise RuntimeError("no free loopback address left for a new node in %s0/24" % base)


def new_config(dirpath, names, profile, speed, kube_version="1.32.4"):
    api, ips = allocate(dirpath, len(names))
    return {
        "kube_version": kube_version,
        "names": list(names),
        "profile": profile,
        "speed": speed,
        "ips": dict(zip(names, ips)),
        "api": {"host": api, "port": API_PORT},
        "tokens": {"admin": "sha256~" + secrets.token_urlsafe(32),
                   "limited": "sha256~" + secrets.token_urlsafe(32)},
        "cluster_token": "testbed-" + secrets.token_hex(6),
    }


def save(layout, cfg):
    tmp = layout.config + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
    os.replace(tmp, layout.config)


def load(layout):
    with open(layout.config) as f:
        return json.load(f)
