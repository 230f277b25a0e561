"""The certificate signing requests of a host that joins (UPI, `testbed add-host`): the node-bootstrapper's
client CSR, which must be approved before the kubelet can register its Node, then the kubelet's serving CSR
(kubelet TLS bootstrap; the machine-approver approves them on IPI, an admin on UPI with
`oc adm certificate approve`). The requests are real PKCS#10 (CN system:node:NAME, O system:nodes); only the
objects and the approval are modelled: no certificate is issued."""
import base64
import logging
import os
import random
import string
import subprocess
import tempfile

from ceo_util import now
from store import ApiError

log = logging.getLogger("csr")
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
SERVING_SIGNER = "kubernetes.io/kubelet-serving"
BOOTSTRAPPER = "system:serviceaccount:openshift-machine-config-operator:node-bootstrapper"


def request_pem(cn, org):
    """A real PKCS#10 request (PEM, base64 as spec.request holds it) for CN/O, as the kubelet makes: an EC key."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                              "-nodes", "-keyout", os.path.join(tmp, "key"), "-subj", "/O=%s/CN=%s" % (org, cn)],
                             check=True, capture_output=True).stdout
    return base64.b64encode(out).decode()


class Csrs:
    def __init__(self, store):
        self.store = store
        self.auto = set()           # nodes whose CSRs are approved at once (add-host --approve)

    def create(self, node, signer, username, groups, usages):
        name = "csr-" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        cn = "system:node:" + node
        obj = {"metadata": {"name": name, "generateName": "csr-"},
               "spec": {"signerName": signer, "username": username, "groups": groups, "usages": usages,
                        "request": request_pem(cn, "system:nodes")},
               "status": {}}
        self.store.create("certificatesigningrequests", None, obj)
        log.info("%s: pending CSR %s (%s)", node, name, signer)
        if node in self.auto:
            self.approve(name)
        return name

    def client(self, node, auto=False):
        if auto:
            self.auto.add(node)
        return self.create(node, CLIENT_SIGNER, BOOTSTRAPPER,
                           ["system:serviceaccounts:openshift-machine-config-operator", "system:serviceaccounts",
                            "system:authenticated"], ["digital signature", "client auth"])

    def serving(self, node):
        return self.create(node, SERVING_SIGNER, "system:node:" + node, ["system:nodes", "system:authenticated"],
                           ["digital signature", "server auth"])

    def approve(self, name):
        def fn(o):
            o.setdefault("status", {})["conditions"] = [{
                "type": "Approved", "status": "True", "reason": "NodeCSRApprove",
                "message": "This CSR was approved by the Node CSR Approver (testbed add-host --approve)",
                "lastUpdateTime": now(), "lastTransitionTime": now()}]
        self.store.update("certificatesigningrequests", None, name, fn)

    def approved(self, name):
        try:
            obj = self.store.get("certificatesigningrequests", None, name)
        except ApiError:
            return False
        return any(c.get("type") == "Approved" and c.get("status", "True") == "True"
                   for c in (obj.get("status") or {}).get("conditions") or [])
