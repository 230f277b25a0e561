"""testbed expire-cert: a Secret's certificate re-signed by the testbed's PKI with a short validity, so that it is
near its expiry (or past it, with --days 0) while everything else about it stays: subject, extensions (SANs) and
public key, so tls.key still matches and etcd keeps working if the operator rolls the new one out (a leaf in a
per-node secret changes etcd-all-certs: the simulated operator makes a new revision, as the real one does).

  signers  etcd-signer, etcd-metric-signer (openshift-config): self-signed again with their own key
  leaves   etcd-peer-/etcd-serving-/etcd-serving-metrics-NODE, etcd-client (openshift-etcd): signed by their signer

--days 0 makes a certificate that expires at once (openssl's -days 0): only for a signer's Secret (which etcd
never reads) or a test that restores it (--days 3650, the testbed's own validity)."""
import base64
import os
import subprocess
import tempfile

import pki

SIGNERS = {"etcd-signer": "etcd-signer", "etcd-metric-signer": "etcd-metric-signer"}
LEAF_PREFIXES = (("etcd-serving-metrics-", "etcd-metric-signer"), ("etcd-peer-", "etcd-signer"),
                 ("etcd-serving-", "etcd-signer"), ("etcd-client", "etcd-signer"))


END = "-----END CERTIFICATE-----"


class CertFailed(Exception):
    pass


def where(secret):
    """(namespace, signer file stem, self-signed?) of a secret this command can re-sign."""
    if secret in SIGNERS:
        return "openshift-config", SIGNERS[secret], True
    for prefix, signer in LEAF_PREFIXES:
        if secret.startswith(prefix):
            return "openshift-etcd", signer, False
    raise CertFailed("%s: not an etcd certificate secret (etcd-signer, etcd-metric-signer, etcd-peer-NODE, "
                     "etcd-serving-NODE, etcd-serving-metrics-NODE, etcd-client)" % secret)


def resign(pem, key_pem, ca_crt, ca_key, self_signed, days):
    """The first certificate of pem, signed again (same subject, extensions and key) valid for `days` from now.
    A leaf goes through a request signed with its own key (openssl x509 -CA only signs requests or
    self-signed certificates)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, key, req, out = (os.path.join(tmp, n) for n in ("in.crt", "in.key", "req.csr", "out.crt"))
        with open(src, "w") as f:
            f.write(pem)
        serial = ["-set_serial", "0x" + os.urandom(8).hex(), "-days", str(days), "-out", out]
        try:
            if self_signed:
                pki._openssl("x509", "-in", src, "-signkey", ca_key, *serial)
            else:
                with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                    f.write(key_pem)
                pki._openssl("x509", "-x509toreq", "-in", src, "-signkey", key, "-copy_extensions", "copyall",
                             "-out", req)
                pki._openssl("x509", "-req", "-in", req, "-CA", ca_crt, "-CAkey", ca_key,
                             "-copy_extensions", "copyall", *serial)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            raise CertFailed(str(e))
        with open(out) as f:
            return f.read()


def expire_cert(layout, api_request, secret, days):
    """Re-signs `secret`'s tls.crt to be valid for `days` days; returns (namespace, the new notAfter line)."""
    ns, signer, self_signed = where(secret)
    path = "/api/v1/namespaces/%s/secrets/%s" % (ns, secret)
    obj = api_request(layout, "GET", path)
    pem = base64.b64decode(obj.get("data", {}).get("tls.crt", "")).decode()
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise CertFailed("%s/%s has no certificate in tls.crt" % (ns, secret))
    ca = (os.path.join(layout.pki, signer + ".crt"), os.path.join(layout.pki, signer + ".key"))
    end = pem.index(END) + len(END)
    key_pem = base64.b64decode(obj.get("data", {}).get("tls.key", "")).decode()
    # a bundle keeps its tail (the operator's leaves may carry their signer after them)
    new = resign(pem[:end], key_pem, ca[0], ca[1], self_signed, days) + pem[end:].lstrip("\n")
    body = {"data": {"tls.crt": base64.b64encode(new.encode()).decode()}}
    api_request(layout, "PATCH", path, body, content_type="application/merge-patch+json")
    r = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=new.encode(), stdout=subprocess.PIPE,
                       timeout=60)
    return ns, r.stdout.decode().strip()
