"""The simulated API server's OpenAPI documents (/openapi/v2, /openapi/v3) and fieldValidation, checked on the wire
and with the kubectl versions the profiles run (1.27 reads /openapi/v2 as protobuf, 1.29+ /openapi/v3): plain
`kubectl apply -f` and `create -f` work, a second apply is `unchanged`, a changed one `configured`, and an unknown
field is refused as the real API server refuses it. Exits non-zero on failure."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver_fixture as F  # noqa: E402
import apiserver_openapi_v2 as V2  # noqa: E402
import apiserver_proto  # noqa: E402
from store import RESOURCES  # noqa: E402

KUBECTLS = "/usr/lib/google-cloud-sdk/bin/kubectl."
MANIFEST = """apiVersion: v1
kind: ServiceAccount
metadata: {name: medic, namespace: openshift-etcd}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: medic, namespace: openshift-etcd}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: medic, namespace: openshift-etcd}
spec:
  backoffLimit: %d
  template:
    spec:
      restartPolicy: Never
      containers: [{name: medic, image: etcd-medic, command: [etcd-medic, --version]}]
"""
BAD = """apiVersion: v1
kind: ConfigMap
metadata: {name: bad, namespace: openshift-etcd, colour: red}
data: {a: b}
extra: 1
"""
STRICT = ('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
          'unknown field "extra", unknown field "metadata.colour"')


class OpenApiDocumentsTest(F.FixtureTest):

    def test_v3_root_lists_every_group_version(self):
        status, root, _ = self.raw.req("GET", "/openapi/v3")
        self.assertEqual(status, 200)
        want = {"api/v1" if not r.group else "apis/%s/%s" % (r.group, r.version) for r in RESOURCES.values()}
        self.assertEqual(set(root["paths"]), want)
        url = root["paths"]["apis/batch/v1"]["serverRelativeURL"]
        self.assertRegex(url, r"^/openapi/v3/apis/batch/v1\?hash=[0-9A-F]{128}$")
        status, doc, _ = self.raw.req("GET", url)
        self.assertEqual((status, doc["openapi"]), (200, "3.0.0"))
        patch = doc["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"]
        self.assertEqual(patch["x-kubernetes-group-version-kind"], {"group": "batch", "version": "v1", "kind": "Job"})
        self.assertIn({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                      patch["parameters"])
        self.assertIn("application/strategic-merge-patch+json", patch["requestBody"]["content"])
        self.assertIn("io.k8s.api.batch.v1.Job", doc["components"]["schemas"])
        self.assertIn("/apis/config.openshift.io/v1/clusteroperators/{name}", self.raw.req(
            "GET", "/openapi/v3/apis/config.openshift.io/v1")[1]["paths"])
        self.assertEqual(self.raw.req("GET", "/openapi/v3/apis/nope/v1")[0], 404)

    def test_v2_json_and_protobuf(self):
        status, doc, _ = self.raw.req("GET", "/openapi/v2")
        self.assertEqual((status, doc["swagger"]), (200, "2.0"))
        self.assertIn("/api/v1/namespaces/{namespace}/configmaps/{name}", doc["paths"])
        status, body, resp = self.raw.req("GET", "/openapi/v2", headers={"Accept": V2.PROTOBUF})
        self.assertEqual((status, resp.getheader("Content-Type")), (200, V2.PROTOBUF_REPLY))
        top = apiserver_proto.fields(body)
        self.assertEqual(top[1], [b"2.0"])
        info = apiserver_proto.fields(top[2][0])
        self.assertEqual(info[2], [b"v1.32.4"])
        names = [apiserver_proto.fields(p)[1][0].decode() for p in apiserver_proto.fields(top[8][0])[2]]
        self.assertEqual(sorted(names), sorted(doc["paths"]))

    def test_field_validation_on_the_wire(self):
        path = "/api/v1/namespaces/openshift-etcd/configmaps"
        cm = lambda n: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "colour": "red"},  # noqa
                        "data": {}, "extra": 1}
        status, doc, _ = self.raw.req("POST", path + "?fieldValidation=Strict", cm("s"))
        self.assertEqual((status, doc["reason"], doc["message"]), (400, "BadRequest", STRICT))
        status, doc, resp = self.raw.req("POST", path + "?fieldValidation=Warn", cm("w"))
        self.assertEqual(status, 201, doc)
        self.assertEqual(resp.headers.get_all("Warning"), ['299 - "unknown field \\"extra\\""',
                                                           '299 - "unknown field \\"metadata.colour\\""'])
        self.assertEqual(self.raw.req("POST", path + "?fieldValidation=Ignore", cm("i"))[0], 201)
        self.assertEqual(self.raw.req("POST", path, cm("n"))[0], 201)
        status, doc, _ = self.raw.req("POST", path + "?fieldValidation=Loose", cm("l"))
        self.assertEqual((status, doc["reason"], doc["message"]), (422, "Invalid", 'CreateOptions.meta.k8s.io "" is '
                         'invalid: fieldValidation: Unsupported value: "Loose": supported values: "", "Ignore", '
                         '"Strict", "Warn"'))
        status, doc, _ = self.raw.req("PATCH", path + "/w?fieldValidation=Strict", {"extra": 2},
                                      "application/merge-patch+json")
        self.assertEqual((status, doc["message"]), (400, 'strict decoding error: unknown field "extra"'))
        ok = {"$setElementOrder/x": [], "data": {"a": "b"}}
        self.assertEqual(self.raw.req("PATCH", path + "/w?fieldValidation=Strict", ok,
                                      "application/strategic-merge-patch+json")[0], 200)


def kubectl(fx, version, *args, stdin):
    env = dict(os.environ, KUBECONFIG=fx.kubeconfig, HOME=fx.dir)
    return subprocess.run([KUBECTLS + version] + list(args), input=stdin, capture_output=True, text=True,
                          env=env, timeout=60)


class KubectlApplyTest(unittest.TestCase):
    """What issue 20 runs: `etcd-medic manifests NAME | kubectl apply -f -`, with no --validate=false."""

    def check(self, kube_version, kubectl_version):
        fx = F.Fixture(kube_version=kube_version)
        try:
            run = lambda *a, stdin: kubectl(fx, kubectl_version, *a, stdin=stdin)  # noqa: E731
            p = run("apply", "-f", "-", stdin=MANIFEST % 1)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.split("\n")[:3], ["serviceaccount/medic created",
                                                        "role.rbac.authorization.k8s.io/medic created",
                                                        "job.batch/medic created"])
            p = run("apply", "-f", "-", stdin=MANIFEST % 1)
            self.assertEqual((p.returncode, p.stderr), (0, ""))
            self.assertEqual(p.stdout.count(" unchanged\n"), 3, p.stdout)
            p = run("apply", "-f", "-", stdin=MANIFEST % 4)
            self.assertEqual((p.returncode, p.stderr), (0, ""))
            self.assertIn("job.batch/medic configured\n", p.stdout)
            job = fx.store.get("jobs", F.NS, "medic")
            self.assertEqual(job["spec"]["backoffLimit"], 4)
            last = json.loads(job["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
            self.assertEqual(last["spec"]["backoffLimit"], 4)
            p = run("create", "-f", "-", stdin=BAD)
            self.assertEqual(p.returncode, 1)
            self.assertIn('Error from server (BadRequest): error when creating "STDIN": ' + STRICT, p.stderr)
            p = run("create", "-f", "-", stdin=BAD.replace("extra: 1\n", "").replace(", colour: red", ""))
            self.assertEqual((p.returncode, p.stdout), (0, "configmap/bad created\n"), p.stderr)
        finally:
            fx.close()

    def test_kubectl_1_27_openapi_v2_protobuf(self):
        self.check("1.27.16", "1.27")

    def test_kubectl_1_29_openapi_v3(self):
        self.check("1.29.10", "1.29")

    def test_kubectl_1_33_openapi_v3(self):
        self.check("1.33.5", "1.33")


if __name__ == "__main__":
    unittest.main(verbosity=2)
