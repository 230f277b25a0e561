"""coordination.k8s.io/v1 Leases on the simulated API server, as etcd-medic takes one per cluster: discovery,
SelfSubjectAccessReview, create/get/list, update (PUT) with a stale resourceVersion -> 409 Conflict, merge
patch, delete, validation (422) and no metadata.generation (the Lease registry strategy sets none); kubectl
lists them with the HOLDER column. In-process, raw HTTPS plus kubectl. Exits non-zero on failure."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver_fixture as F  # noqa: E402

BASE = "/apis/coordination.k8s.io/v1/namespaces/openshift-etcd/leases"


def lease(name, holder, rv=None):
    meta = {"name": name}
    if rv:
        meta["resourceVersion"] = rv
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60,
                     "acquireTime": "2024-05-01T10:00:00.000000Z", "renewTime": "2024-05-01T10:00:00.000000Z",
                     "leaseTransitions": 0}}


class LeaseTest(F.FixtureTest):

    def status_doc(self, resp, code, reason):
        status, doc, _ = resp
        self.assertEqual(status, code, doc)
        self.assertEqual((doc["kind"], doc["apiVersion"], doc["status"], doc["reason"], doc["code"]),
                         ("Status", "v1", "Failure", reason, code))
        return doc

    def test_discovery_and_access_review(self):
        groups = {g["name"]: g for g in self.raw.req("GET", "/apis")[1]["groups"]}
        self.assertEqual(groups["coordination.k8s.io"]["preferredVersion"]["groupVersion"], "coordination.k8s.io/v1")
        status, doc, _ = self.raw.req("GET", "/apis/coordination.k8s.io/v1")
        self.assertEqual((status, doc["groupVersion"]), (200, "coordination.k8s.io/v1"))
        res = {r["name"]: r for r in doc["resources"]}
        self.assertEqual((res["leases"]["kind"], res["leases"]["namespaced"]), ("Lease", True))
        for verb in ("create", "get", "list", "update", "patch", "delete"):
            self.assertIn(verb, res["leases"]["verbs"])
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": "openshift-etcd", "verb": "update",
                                                  "group": "coordination.k8s.io", "resource": "leases"}}}
        status, doc, _ = self.raw.req("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
        self.assertEqual((status, doc["status"]["allowed"]), (201, True))
        self.assertEqual(self.fx.kubectl("auth", "can-i", "update", "leases.coordination.k8s.io",
                                         "-n", "openshift-etcd").stdout.decode().strip(), "yes")

    def test_lifecycle(self):
        status, doc, _ = self.raw.req("POST", BASE, lease("medic-a", "host-1"))
        self.assertEqual(status, 201, doc)
        self.assertEqual((doc["kind"], doc["apiVersion"], doc["metadata"]["namespace"]),
                         ("Lease", "coordination.k8s.io/v1", "openshift-etcd"))
        self.assertTrue(doc["metadata"]["uid"] and doc["metadata"]["resourceVersion"])
        self.assertNotIn("generation", doc["metadata"])
        rv1, uid = doc["metadata"]["resourceVersion"], doc["metadata"]["uid"]
        d = self.status_doc(self.raw.req("POST", BASE, lease("medic-a", "host-2")), 409, "AlreadyExists")
        self.assertEqual(d["message"], 'leases.coordination.k8s.io "medic-a" already exists')
        self.assertEqual(d["details"], {"name": "medic-a", "group": "coordination.k8s.io", "kind": "leases"})

        status, doc, _ = self.raw.req("GET", BASE + "/medic-a")
        self.assertEqual((status, doc["spec"]["holderIdentity"], doc["metadata"]["uid"]), (200, "host-1", uid))
        status, doc, _ = self.raw.req("GET", BASE)
        self.assertEqual((status, doc["kind"], doc["apiVersion"]), (200, "LeaseList", "coordination.k8s.io/v1"))
        self.assertIn("medic-a", [x["metadata"]["name"] for x in doc["items"]])
        status, doc, _ = self.raw.req("GET", "/apis/coordination.k8s.io/v1/leases")
        self.assertEqual(status, 200)

        # PUT with the current resourceVersion: a new one; with the old one again: 409 Conflict
        status, doc, _ = self.raw.req("PUT", BASE + "/medic-a", lease("medic-a", "host-2", rv1))
        self.assertEqual((status, doc["spec"]["holderIdentity"]), (200, "host-2"), doc)
        rv2 = doc["metadata"]["resourceVersion"]
        self.assertNotEqual(rv1, rv2)
        self.assertNotIn("generation", doc["metadata"])
        d = self.status_doc(self.raw.req("PUT", BASE + "/medic-a", lease("medic-a", "host-3", rv1)), 409, "Conflict")
        self.assertEqual(d["message"], 'Operation cannot be fulfilled on leases.coordination.k8s.io "medic-a": '
                         'the object has been modified; please apply your changes to the latest version and try again')
        self.assertEqual(self.raw.req("GET", BASE + "/medic-a")[1]["spec"]["holderIdentity"], "host-2")
        self.status_doc(self.raw.req("PUT", BASE + "/nope", lease("nope", "x", "1")), 404, "NotFound")

        # merge patch (with a resourceVersion precondition in the patch, as a compare-and-swap)
        patch = {"metadata": {"resourceVersion": rv2}, "spec": {"renewTime": "2024-05-01T10:00:30.000000Z",
                                                                "leaseTransitions": 1}}
        status, doc, _ = self.raw.req("PATCH", BASE + "/medic-a", patch, ctype="application/merge-patch+json")
        self.assertEqual((status, doc["spec"]["leaseTransitions"], doc["spec"]["holderIdentity"]), (200, 1, "host-2"))
        self.status_doc(self.raw.req("PATCH", BASE + "/medic-a", patch, ctype="application/merge-patch+json"),
                        409, "Conflict")

        out = self.fx.kubectl("get", "leases", "-n", "openshift-etcd")
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.decode().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "HOLDER", "AGE"])
        self.assertIn(["medic-a", "host-2"], [x.split()[:2] for x in lines[1:]])

        status, doc, _ = self.raw.req("DELETE", BASE + "/medic-a")
        self.assertEqual((status, doc.get("kind"), doc.get("status")), (200, "Status", "Success"), doc)
        self.status_doc(self.raw.req("GET", BASE + "/medic-a"), 404, "NotFound")
        self.status_doc(self.raw.req("DELETE", BASE + "/medic-a"), 404, "NotFound")

    def test_validation(self):
        bad = lease("medic-bad", "h")
        bad["spec"]["leaseDurationSeconds"] = 0
        d = self.status_doc(self.raw.req("POST", BASE, bad), 422, "Invalid")
        self.assertEqual(d["message"], 'Lease.coordination.k8s.io "medic-bad" is invalid: spec.leaseDurationSeconds: '
                         'Invalid value: 0: must be greater than 0')
        self.assertEqual(d["details"]["causes"][0]["field"], "spec.leaseDurationSeconds")
        bad = lease("medic-bad", "h")
        bad["spec"]["renewTime"] = "yesterday"
        self.status_doc(self.raw.req("POST", BASE, bad), 422, "Invalid")
        status, doc, _ = self.raw.req("POST", BASE, lease("medic-ok", "h"))
        self.assertEqual(status, 201, doc)
        self.status_doc(self.raw.req("PATCH", BASE + "/medic-ok", {"spec": {"leaseDurationSeconds": -5}},
                                     ctype="application/merge-patch+json"), 422, "Invalid")
        self.assertEqual(self.raw.req("GET", BASE + "/medic-ok")[1]["spec"]["leaseDurationSeconds"], 60)
        self.status_doc(self.raw.req("POST", "/apis/coordination.k8s.io/v1/namespaces/nope/leases",
                                     lease("x", "h")), 404, "NotFound")


if __name__ == "__main__":
    r = unittest.main(exit=False, verbosity=1).result
    sys.exit(0 if r.wasSuccessful() else 1)
