"""Certificates for the testbed, made with the `openssl` command line tool (EC P-256, fast to generate).

Every function writes PEM files and returns their paths; nothing here keeps state."""
import os
import subprocess
import tempfile

DAYS = "3650"


def _openssl(*args):
    r = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.decode(errors="replace")))
    return r.stdout


def make_ca(dirpath, name, cn):
    """A self-signed CA: dirpath/name.crt and dirpath/name.key."""
    os.makedirs(dirpath, exist_ok=True)
    crt, key = os.path.join(dirpath, name + ".crt"), os.path.join(dirpath, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-days", DAYS, "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
    os.chmod(key, 0o600)
    return crt, key


def issue(ca_crt, ca_key, crt, key, cn, org=None, ips=(), dns=(), usage="serverAuth,clientAuth"):
    """A leaf certificate signed by the CA, written to crt and key."""
    subj = "/CN=" + cn + ("/O=" + org if org else "")
    sans = ["IP:" + ip for ip in ips] + ["DNS:" + d for d in dns]
    with tempfile.TemporaryDirectory() as tmp:
        csr = os.path.join(tmp, "req.csr")
        ext = os.path.join(tmp, "ext.cnf")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature,keyEncipherment\n")
            f.write("extendedKeyUsage=%s\n" % usage)
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", subj)
        _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                 "-set_serial", "0x" + os.urandom(8).hex(), "-days", DAYS,
                 "-out", crt, "-extfile", ext)
    os.chmod(key, 0o600)
    return crt, key


def issue_pem(ca_crt, ca_key, cn, org=None, ips=(), dns=(), usage="serverAuth,clientAuth"):
    """Like issue(), but returns (cert PEM text, key PEM text)."""
    with tempfile.TemporaryDirectory() as tmp:
        crt, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        issue(ca_crt, ca_key, crt, key, cn, org, ips, dns, usage)
        with open(crt) as f1, open(key) as f2:
            return f1.read(), f2.read()


def node_sans(all_ips):
    """The SANs OpenShift puts on per-node etcd certificates (reference/openshift.md 1.4)."""
    dns = ["localhost", "etcd.kube-system.svc", "etcd.kube-system.svc.cluster.local",
           "etcd.openshift-etcd.svc", "etcd.openshift-etcd.svc.cluster.local"]
    ips = ["127.0.0.1", "::1"] + list(all_ips)
    return ips, dns
