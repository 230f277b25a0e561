"""bench/snapdb.py: a single-member etcd 3.4 of its own for the snapshot benchmark (the testbed's members
have a 512 MiB quota; this one has 8 GiB), with mutual TLS (ECDSA P-256 certificates made here, as the
testbed's), filled through the v3 JSON gateway with 1 MiB values over one keep-alive connection."""
import base64
import http.client
import json
import os
import random
import shutil
import ssl
import subprocess
import time

from benchlib import BenchError

VALUE_BYTES = 1 << 20


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d, ip):
    """CA, server (SAN ip) and client certificates in d."""
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=bench-etcd-ca", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    ext = os.path.join(d, "ext.cnf")
    for name, usage in (("server", "serverAuth,clientAuth"), ("client", "clientAuth")):
        with open(ext, "w") as f:
            f.write("extendedKeyUsage=%s\nsubjectAltName=IP:%s\n" % (usage, ip))
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                 "/CN=bench-" + name, "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", ext, "-out", name + ".crt", cwd=d)


class SnapEtcd:
    """etcd on 127.x.y.z:2379 in directory d; start(), fill_to(mb), env(), stop()."""

    def __init__(self, d):
        self.dir = d
        self.ip = "127.%d.%d.%d" % (random.randint(100, 250), random.randint(1, 250), random.randint(2, 250))
        self.url = "https://%s:2379" % self.ip
        self.proc = None
        self.keys = 0

    def pki(self, name):
        return os.path.join(self.dir, "pki", name)

    def env(self):
        e = dict(os.environ)
        e.update(ETCDCTL_API="3", ETCDCTL_ENDPOINTS=self.url, ETCDCTL_CACERT=self.pki("ca.crt"),
                 ETCDCTL_CERT=self.pki("client.crt"), ETCDCTL_KEY=self.pki("client.key"))
        return e

    def start(self, timeout=60):
        make_pki(os.path.join(self.dir, "pki"), self.ip)
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        args = [etcd, "--name", "bench", "--data-dir", os.path.join(self.dir, "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", "http://%s:2380" % self.ip,
                "--initial-advertise-peer-urls", "http://%s:2380" % self.ip,
                "--initial-cluster", "bench=http://%s:2380" % self.ip,
                "--cert-file", self.pki("server.crt"), "--key-file", self.pki("server.key"),
                "--trusted-ca-file", self.pki("ca.crt"), "--client-cert-auth",
                "--quota-backend-bytes", str(8 << 30), "--max-request-bytes", str(2 << 20),
                "--snapshot-count", "100000", "--logger", "zap", "--log-outputs", "stderr"]
        log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise BenchError("the snapshot etcd exited (%s); see %s/etcd.log" % (self.proc.returncode, self.dir))
            try:
                self._post("/v3/maintenance/status", {})
                return
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        raise BenchError("the snapshot etcd did not answer within %ds" % timeout)

    def _conn(self):
        ctx = ssl.create_default_context(cafile=self.pki("ca.crt"))
        ctx.load_cert_chain(self.pki("client.crt"), self.pki("client.key"))
        return http.client.HTTPSConnection(self.ip, 2379, context=ctx, timeout=60)

    def _post(self, path, body, conn=None):
        c = conn or self._conn()
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status != 200:
            raise BenchError("etcd %s: %d %s" % (path, r.status, data[:200]))
        if conn is None:
            c.close()
        return json.loads(data)

    def db_size(self):
        return int(self._post("/v3/maintenance/status", {}).get("dbSize", 0))

    def fill_to(self, mb, timeout=1800):
        """Puts 1 MiB values until the database holds at least mb MiB of them."""
        want = mb
        conn = self._conn()
        value = base64.b64encode(os.urandom(VALUE_BYTES)).decode()
        end = time.monotonic() + timeout
        while self.keys < want:
            if time.monotonic() > end:
                raise BenchError("filling the snapshot etcd took longer than %ds" % timeout)
            key = base64.b64encode(b"/bench/fill/%08d" % self.keys).decode()
            self._post("/v3/kv/put", {"key": key, "value": value}, conn)
            self.keys += 1
        conn.close()
        return self.db_size()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
