"""Test fixture for the API server: a throw-away CA (openssl CLI), a seeded Store, a server on
127.0.0.1 with a free port, an exec_handler that runs real processes, a kubeconfig; and small raw
HTTPS and WebSocket clients that show exactly what the server sent."""
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import unittest

from apiserver import ApiServer, FaultTable
import wsexec
from store import ApiError, Store

ADMIN_TOKEN = "admin-token-0123456789"
LIMITED_TOKEN = "limited-token-0123456789"
NS = "openshift-etcd"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=testbed-test-ca",
            "-days", "2", cwd=d)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)


def permissions(user, verb, resource, namespace, subresource):
    if user == "kube:admin":
        return True
    if user == "limited":
        if resource == "secrets" and verb == "delete":
            return False
        if resource == "pods" and subresource == "exec":
            return False
        return verb in ("get", "list", "watch", "create", "patch", "update", "delete")
    return False


def exec_handler(namespace, pod, container, argv):
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        if cs.get("name") == container and "running" not in (cs.get("state") or {}):
            raise ApiError(400, "BadRequest", "container %s is not running" % container)
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def pod(name, node, labels, phase="Running", containers=("etcdctl", "etcd")):
    return {"metadata": {"name": name, "labels": dict(labels)},
            "spec": {"nodeName": node, "containers": [{"name": c, "image": "quay.io/openshift/etcd"}
                                                for c in containers]},
            "status": {"phase": phase, "podIP": "127.0.0.1",
                       "containerStatuses": [
                           {"name": c, "ready": c != "etcd" or phase == "Running",
                            "image": "quay.io/openshift/etcd", "imageID": "sha256:0",
                            "restartCount": 0 if phase == "Running" else 4,
                            "state": {"running": {}} if c != "etcd" or phase == "Running"
                            else {"waiting": {"reason": "CrashLoopBackOff"}}}
                           for c in containers]}}


def seed(store):
    store.create("namespaces", None, {"metadata": {"name": NS}})
    store.create("namespaces", None, {"metadata": {"name": "default"}})
    for i, n in enumerate(["alpha", "beta", "gamma"]):
        store.create("nodes", None, {"metadata": {"name": n, "labels": {
            "node-role.kubernetes.io/master": "", "kubernetes.io/hostname": n}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.1.%d" % (i + 1)}]}})
        store.create("pods", NS, pod("etcd-" + n, n, {"app": "etcd", "etcd": "true",
                                                      "k8s-app": "etcd", "revision": str(3 + i)},
                                    "Running" if n != "gamma" else "Running"))
        store.create("secrets", NS, {"metadata": {"name": "etcd-peer-" + n},
                                     "type": "kubernetes.io/tls",
                                     "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"}})
    store.update("pods", NS, "etcd-gamma", lambda p: p.update(pod(
        "etcd-gamma", "gamma", p["metadata"]["labels"], "Running")) or p["status"].update(
        containerStatuses=pod("x", "gamma", {}, "Failed")["status"]["containerStatuses"]))
    store.create("etcds", None, {"metadata": {"name": "cluster"},
                                 "spec": {"managementState": "Managed",
                                          "forceRedeploymentReason": ""},
                                 "status": {"latestAvailableRevision": 5}})
    store.create("clusteroperators", None, {"metadata": {"name": "etcd"}, "status": {
        "conditions": [{"type": "Available", "status": "True", "message": "all good"},
                       {"type": "Progressing", "status": "False"},
                       {"type": "Degraded", "status": "False"}],
        "versions": [{"name": "operator", "version": "4.14.0"}]}})


class Fixture:
    def __init__(self, allow_v5=True, history=5000, kube_version="1.32.4"):
        self.dir = tempfile.mkdtemp(prefix="apiserver-test-")
        make_certs(self.dir)
        self.store = Store(history=history)
        seed(self.store)
        self.faults = FaultTable()
        self.logs = {}        # (namespace, pod, container) -> text, for pods/log
        self.server = ApiServer(self.store, self.faults, "127.0.0.1", 0,
                                os.path.join(self.dir, "server.crt"),
                                os.path.join(self.dir, "server.key"),
                                {ADMIN_TOKEN: "kube:admin", LIMITED_TOKEN: "limited"},
                                exec_handler, permissions, allow_v5=allow_v5,
                                kube_version=kube_version, log_handler=self.log).start()
        self.ca = os.path.join(self.dir, "ca.crt")
        self.kubeconfig = self._kubeconfig("kubeconfig", ADMIN_TOKEN)
        self.kubeconfig_limited = self._kubeconfig("kubeconfig-limited", LIMITED_TOKEN)

    def log(self, namespace, pod, container, previous, tail_lines):
        text = self.logs.get((namespace, pod["metadata"]["name"], container), "")
        if tail_lines:
            text = "".join(text.splitlines(True)[-tail_lines:])
        return text

    def _kubeconfig(self, name, token):
        path = os.path.join(self.dir, name)
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "testbed",
               "clusters": [{"name": "testbed", "cluster": {"server": self.server.url,
                                                            "certificate-authority": self.ca}}],
               "users": [{"name": "u", "user": {"token": token}}],
               "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": "u",
                                                            "namespace": NS}}]}
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def kubectl(self, *args, limited=False, stdin=None, timeout=30):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig_limited if limited
                   else self.kubeconfig, HOME=self.dir)
        t = time.monotonic()
        p = subprocess.run(["kubectl"] + list(args), input=stdin, capture_output=True, env=env,
                           timeout=timeout)
        p.elapsed = time.monotonic() - t
        return p

    def close(self):
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Raw:
    """A tiny HTTPS client that shows us exactly what the server sent."""

    def __init__(self, fx, token=ADMIN_TOKEN):
        self.fx, self.token = fx, token
        self.ctx = ssl.create_default_context(cafile=fx.ca)
        host, port = fx.server.url[len("https://"):].split(":")
        self.host, self.port = host, int(port)

    def conn(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)

    def req(self, method, path, body=None, ctype="application/json", headers=None, token=True):
        h = dict(headers or {})
        if token and self.token:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = ctype
        c = self.conn()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = raw
            return r.status, doc, r
        finally:
            c.close()


def ws_connect(fx, path, protocols, token=ADMIN_TOKEN):
    raw = Raw(fx)
    sock = raw.ctx.wrap_socket(socket.create_connection((raw.host, raw.port), timeout=10),
                               server_hostname=raw.host)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                  "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
                  % (path, raw.host, token, key, protocols)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
    return sock, head.decode(), key


def ws_send(sock, opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = struct.pack("!BB", 0x80 | opcode, 0x80 | n) if n < 126 else \
        struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def ws_read_all(sock):
    """All server messages until close: [(opcode, payload)]."""
    buf, out = b"", []
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        buf += data
        while len(buf) >= 2:
            n, pos = buf[1] & 0x7F, 2
            if n == 126:
                n, pos = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                n, pos = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < pos + n:
                break
            out.append((buf[0] & 0x0F, buf[pos:pos + n]))
            buf = buf[pos + n:]
            if out[-1][0] == wsexec.OP_CLOSE:
                return out


def channels(msgs):
    out = {}
    for op, p in msgs:
        if op == wsexec.OP_BIN and p:
            out[p[0]] = out.get(p[0], b"") + p[1:]
    return out


EXEC = "/api/v1/namespaces/openshift-etcd/pods/etcd-alpha/exec?container=etcdctl"


class FixtureTest(unittest.TestCase):
    """A test case with one API server for the whole class (cls.fx) and a raw HTTP client to it (cls.raw)."""

    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture(history=200)
        cls.raw = Raw(cls.fx)

    @classmethod
    def tearDownClass(cls):
        cls.fx.close()
