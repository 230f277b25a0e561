"""Fidelity tests of the simulated API server (the wire format; exec is in apiserver_exec_test.py),
driven in-process with clients nobody here wrote (kubectl) and raw HTTP for the exact wire shapes.
Exits non-zero on failure."""
import http.client
import json
import os
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver_fixture as F  # noqa: E402
from apiserver_fixture import Raw  # noqa: E402


class ApiServerTest(F.FixtureTest):

    def assertStatus(self, resp, code, reason, message=None):
        status, doc, _ = resp
        self.assertEqual(status, code, doc)
        self.assertEqual(doc["kind"], "Status")
        self.assertEqual(doc["apiVersion"], "v1")
        self.assertEqual(doc["status"], "Failure")
        self.assertEqual(doc["reason"], reason)
        self.assertEqual(doc["code"], code)
        if message is not None:
            self.assertEqual(doc["message"], message)
        return doc

    # ------------------------------------------------------------------ raw wire format
    def test_unauthorized_without_or_with_bad_token(self):
        self.assertStatus(self.raw.req("GET", "/api/v1/nodes", token=False), 401, "Unauthorized")
        self.assertStatus(Raw(self.fx, "wrong").req("GET", "/api/v1/nodes"), 401, "Unauthorized")
        self.assertEqual(self.raw.req("GET", "/version", token=False)[0], 200)

    def test_get_and_not_found(self):
        status, doc, _ = self.raw.req("GET", "/api/v1/namespaces/openshift-etcd/pods/etcd-alpha")
        self.assertEqual((status, doc["kind"], doc["apiVersion"]), (200, "Pod", "v1"))
        self.assertTrue(doc["metadata"]["uid"] and doc["metadata"]["resourceVersion"])
        d = self.assertStatus(self.raw.req("GET", "/api/v1/namespaces/openshift-etcd/pods/x"),
                              404, "NotFound", 'pods "x" not found')
        self.assertEqual(d["details"], {"name": "x", "kind": "pods"})
        status, doc, _ = self.raw.req("GET", "/api/v1/namespaces/openshift-etcd/status")
        self.assertEqual((status, doc["kind"], doc["status"]["phase"]), (200, "Namespace", "Active"))
        self.assertStatus(self.raw.req("GET", "/apis/operator.openshift.io/v1/etcds/nope"), 404,
                          "NotFound", 'etcds.operator.openshift.io "nope" not found')

    def test_list_shape_and_selectors(self):
        status, doc, _ = self.raw.req(
            "GET", "/api/v1/namespaces/openshift-etcd/pods?labelSelector=app%3Detcd")
        self.assertEqual((doc["kind"], doc["apiVersion"]), ("PodList", "v1"))
        self.assertTrue(doc["metadata"]["resourceVersion"].isdigit())
        self.assertNotIn("kind", doc["items"][0])
        names = lambda q: [i["metadata"]["name"] for i in self.raw.req(   # noqa: E731
            "GET", "/api/v1/pods?" + q)[1]["items"]]
        self.assertEqual(names("labelSelector=revision+in+(3,5)"), ["etcd-alpha", "etcd-gamma"])
        self.assertEqual(names("labelSelector=revision+notin+(3,5),app==etcd"), ["etcd-beta"])
        self.assertEqual(names("labelSelector=revision!=4,k8s-app"), ["etcd-alpha", "etcd-gamma"])
        self.assertEqual(names("labelSelector=!k8s-app"), [])
        self.assertEqual(names("fieldSelector=spec.nodeName%3Dbeta"), ["etcd-beta"])
        self.assertEqual(names("fieldSelector=metadata.name%3Detcd-gamma,"
                               "metadata.namespace%3Dopenshift-etcd"), ["etcd-gamma"])
        self.assertEqual(names("fieldSelector=status.phase!%3DRunning"), [])
        self.assertStatus(self.raw.req("GET", "/api/v1/pods?labelSelector=a+in+b"), 400,
                          "BadRequest")
        self.assertStatus(self.raw.req("GET", "/api/v1/pods?fieldSelector=spec.foo%3Db"), 400,
                          "BadRequest", "field label not supported: spec.foo")

    def test_list_pagination(self):
        _, page1, _ = self.raw.req("GET", "/api/v1/namespaces/openshift-etcd/pods?limit=2")
        self.assertEqual(len(page1["items"]), 2)
        self.assertEqual(page1["metadata"]["remainingItemCount"], 1)
        tok = page1["metadata"]["continue"]
        _, page2, _ = self.raw.req("GET", "/api/v1/namespaces/openshift-etcd/pods?limit=2&"
                                   "continue=" + tok)
        self.assertEqual([p["metadata"]["name"] for p in page2["items"]], ["etcd-gamma"])
        self.assertNotIn("continue", page2["metadata"])

    def test_create_already_exists_and_dry_run(self):
        path = "/api/v1/namespaces/openshift-etcd/configmaps"
        body = {"metadata": {"name": "cm-create"}, "data": {"a": "1"}}
        status, doc, _ = self.raw.req("POST", path + "?dryRun=All", body)
        self.assertEqual(status, 201)
        self.assertEqual(self.raw.req("GET", path + "/cm-create")[0], 404)
        status, doc, _ = self.raw.req("POST", path, body)
        self.assertEqual((status, doc["kind"], doc["metadata"]["namespace"]),
                         (201, "ConfigMap", "openshift-etcd"))
        self.assertStatus(self.raw.req("POST", path, body), 409, "AlreadyExists",
                          'configmaps "cm-create" already exists')
        d = self.assertStatus(self.raw.req("POST", path, {"metadata": {"name": "Bad_Name"}}),
                              422, "Invalid")
        self.assertIn('metadata.name: Invalid value: "Bad_Name"', d["message"])
        self.assertStatus(self.raw.req("POST", "/api/v1/namespaces/default/pods", {
            "metadata": {"name": "nocontainers"}, "spec": {}}), 422, "Invalid",
            'Pod "nocontainers" is invalid: spec.containers: Required value')
        status, pod, _ = self.raw.req("POST", "/api/v1/namespaces/default/pods?dryRun=All", {
            "metadata": {"name": "defaults"}, "spec": {"containers": [{"name": "c",
                                                                       "image": "busybox"}]}})
        self.assertEqual((status, pod["spec"]["restartPolicy"], pod["status"]["phase"],
                          pod["spec"]["containers"][0]["imagePullPolicy"]),
                         (201, "Always", "Pending", "Always"))
        status, ns, _ = self.raw.req("POST", "/api/v1/namespaces",
                                     {"metadata": {"generateName": "openshift-debug-"}})
        self.assertTrue(ns["metadata"]["name"].startswith("openshift-debug-"))

    def test_delete_preconditions_dry_run_and_results(self):
        path = "/api/v1/namespaces/openshift-etcd/secrets"
        _, s, _ = self.raw.req("POST", path, {"metadata": {"name": "s-del"}, "type": "Opaque"})
        d = self.assertStatus(self.raw.req("DELETE", path + "/s-del", {
            "preconditions": {"uid": "not-the-uid"}}), 409, "Conflict")
        self.assertIn("Precondition failed: UID in precondition: not-the-uid", d["message"])
        self.assertStatus(self.raw.req("DELETE", path + "/s-del?preconditions.resourceVersion=1"),
                          409, "Conflict")
        status, doc, _ = self.raw.req("DELETE", path + "/s-del", {
            "kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"],
            "propagationPolicy": "Background"})
        self.assertEqual(status, 200)
        self.assertEqual(self.raw.req("GET", path + "/s-del")[0], 200)
        status, doc, _ = self.raw.req("DELETE", path + "/s-del", {
            "preconditions": {"uid": s["metadata"]["uid"]}})
        self.assertEqual((status, doc["kind"], doc["status"], doc["details"]["name"]),
                         (200, "Status", "Success", "s-del"))
        self.assertStatus(self.raw.req("DELETE", path + "/s-del"), 404, "NotFound")
        self.raw.req("POST", "/api/v1/namespaces/openshift-etcd/pods",
                     {"metadata": {"name": "p-del"}, "spec": {"containers": [{"name": "c",
                                                                               "image": "i"}]}})
        status, doc, _ = self.raw.req("DELETE", "/api/v1/namespaces/openshift-etcd/pods/p-del"
                                      "?dryRun=All")
        self.assertEqual((status, doc["kind"]), (200, "Pod"))
        status, doc, _ = self.raw.req("DELETE", "/api/v1/namespaces/openshift-etcd/pods/p-del")
        self.assertEqual((status, doc["kind"]), (200, "Pod"))

    def test_patch_types(self):
        path = "/apis/operator.openshift.io/v1/etcds/cluster"
        status, doc, _ = self.raw.req("PATCH", path, {"spec": {
            "forceRedeploymentReason": "recovery-1", "unsupportedConfigOverrides": {"x": 1}}},
            "application/merge-patch+json")
        self.assertEqual(status, 200)
        self.assertEqual(doc["spec"]["forceRedeploymentReason"], "recovery-1")
        gen = doc["metadata"]["generation"]
        status, doc, _ = self.raw.req("PATCH", path, {"spec": {"unsupportedConfigOverrides": None}},
                                      "application/merge-patch+json")
        self.assertNotIn("unsupportedConfigOverrides", doc["spec"])
        self.assertEqual(doc["metadata"]["generation"], gen + 1)
        status, doc, _ = self.raw.req("PATCH", path, [
            {"op": "test", "path": "/spec/forceRedeploymentReason", "value": "recovery-1"},
            {"op": "replace", "path": "/spec/forceRedeploymentReason", "value": "recovery-2"}],
            "application/json-patch+json")
        self.assertEqual((status, doc["spec"]["forceRedeploymentReason"]), (200, "recovery-2"))
        self.assertStatus(self.raw.req("PATCH", path, [
            {"op": "test", "path": "/spec/forceRedeploymentReason", "value": "other"}],
            "application/json-patch+json"), 422, "Invalid")
        status, doc, _ = self.raw.req("PATCH", path + "?dryRun=All",
                                      {"spec": {"forceRedeploymentReason": "dry"}},
                                      "application/strategic-merge-patch+json")
        self.assertEqual(doc["spec"]["forceRedeploymentReason"], "dry")
        self.assertEqual(self.raw.req("GET", path)[1]["spec"]["forceRedeploymentReason"],
                         "recovery-2")
        self.assertStatus(self.raw.req("PATCH", path, b"spec: {}", "application/yaml"), 415,
                          "UnsupportedMediaType")
        self.assertStatus(self.raw.req("PATCH", path, {"metadata": {"resourceVersion": "1"}},
                                       "application/merge-patch+json"), 409, "Conflict")

    def test_method_not_allowed_and_forbidden(self):
        self.assertStatus(self.raw.req("PUT", "/api/v1/namespaces/openshift-etcd/pods", {}), 405,
                          "MethodNotAllowed")
        d = self.assertStatus(Raw(self.fx, F.LIMITED_TOKEN).req(
            "DELETE", "/api/v1/namespaces/openshift-etcd/secrets/etcd-peer-alpha"), 403,
            "Forbidden")
        self.assertEqual(d["message"], 'secrets "etcd-peer-alpha" is forbidden: User "limited" '
                         'cannot delete resource "secrets" in API group "" in the namespace '
                         '"openshift-etcd"')

    def test_discovery_version_and_reviews(self):
        self.assertEqual(self.raw.req("GET", "/version")[1]["major"], "1")
        groups = [g["name"] for g in self.raw.req("GET", "/apis")[1]["groups"]]
        for g in ("operator.openshift.io", "config.openshift.io", "authorization.k8s.io"):
            self.assertIn(g, groups)
        res = {r["name"]: r for r in self.raw.req("GET", "/api/v1")[1]["resources"]}
        self.assertTrue(res["pods"]["namespaced"] and not res["nodes"]["namespaced"])
        self.assertIn("pods/exec", res)
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": {"resourceAttributes": {"namespace": "openshift-etcd", "verb": "create",
                                                  "resource": "pods", "subresource": "exec"}}}
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        status, doc, _ = self.raw.req("POST", path, review)
        self.assertEqual((status, doc["status"]["allowed"]), (201, True))
        status, doc, _ = Raw(self.fx, F.LIMITED_TOKEN).req("POST", path, review)
        self.assertEqual((status, doc["status"]["allowed"]), (201, False))
        status, doc, _ = self.raw.req("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                      {"apiVersion": "authentication.k8s.io/v1",
                                       "kind": "SelfSubjectReview"})
        self.assertEqual(doc["status"]["userInfo"]["username"], "kube:admin")

    def test_faults(self):
        admin = "/testbed/faults"
        self.assertEqual(Raw(self.fx, F.LIMITED_TOKEN).req("POST", admin, {})[0], 403)
        status, _, _ = self.raw.req("POST", admin, {"method": "GET", "path": "/api/v1/nodes$",
                                                    "status": 429, "retry_after": 2, "count": 1})
        self.assertEqual(status, 201)
        resp = self.raw.req("GET", "/api/v1/nodes")
        d = self.assertStatus(resp, 429, "TooManyRequests")
        self.assertEqual((resp[2].getheader("Retry-After"), d["details"]["retryAfterSeconds"]),
                         ("2", 2))
        self.assertEqual(self.raw.req("GET", "/api/v1/nodes")[0], 200)       # count used up
        self.raw.req("POST", admin, {"path": "nodes/alpha", "drop": True})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
            self.raw.req("GET", "/api/v1/nodes/alpha")
        self.raw.req("POST", admin, {"method": "GET", "path": "nodes/beta", "delay": 0.3})
        t = time.monotonic()
        self.assertEqual(self.raw.req("GET", "/api/v1/nodes/beta")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.3)
        self.assertEqual(self.raw.req("DELETE", admin)[0], 200)
        self.assertEqual(self.raw.req("GET", "/api/v1/nodes/alpha")[0], 200)

    # ------------------------------------------------------------------ watch
    def watch(self, query, until, timeout=5):
        c = self.raw.conn()
        c.request("GET", "/api/v1/namespaces/openshift-etcd/configmaps?watch=true&" + query,
                  headers={"Authorization": "Bearer " + F.ADMIN_TOKEN})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        events, end = [], time.monotonic() + timeout
        while time.monotonic() < end:
            line = r.readline()
            if not line:
                break
            events.append(json.loads(line))
            if until(events):
                break
        r.close()
        c.close()
        return events

    def test_watch_events_and_expired(self):
        store = self.fx.store
        rv = store.resource_version
        store.create("configmaps", F.NS, {"metadata": {"name": "w1", "labels": {"w": "yes"}}})
        store.update("configmaps", F.NS, "w1", lambda o: o.update(data={"k": "v"}))
        store.delete("configmaps", F.NS, "w1")
        evs = self.watch("resourceVersion=%s&labelSelector=w%%3Dyes&allowWatchBookmarks=true"
                         % rv, lambda e: len(e) >= 3)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED"])
        self.assertEqual(evs[0]["object"]["kind"], "ConfigMap")
        self.assertEqual([e["object"]["metadata"]["resourceVersion"] for e in evs],
                         [str(int(rv) + i) for i in (1, 2, 3)])
        rv = store.resource_version
        store.create("configmaps", F.NS, {"metadata": {"name": "w3"}})
        store.update("configmaps", F.NS, "w3", lambda o: o["metadata"].update(labels={"w": "yes"}))
        store.update("configmaps", F.NS, "w3", lambda o: o["metadata"].update(labels={"w": "no"}))
        evs = self.watch("resourceVersion=%s&labelSelector=w%%3Dyes" % rv, lambda e: len(e) >= 2)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"])
        evs = self.watch("fieldSelector=metadata.name%3Dw2", lambda e: len(e) >= 1) if \
            store.create("configmaps", F.NS, {"metadata": {"name": "w2"}}) else None
        self.assertEqual((evs[0]["type"], evs[0]["object"]["metadata"]["name"]), ("ADDED", "w2"))
        for i in range(250):          # the log keeps 200 events
            store.update("configmaps", F.NS, "w2", lambda o, i=i: o.update(data={"i": str(i)}))
        evs = self.watch("resourceVersion=%s" % rv, lambda e: True)
        self.assertEqual(evs[0]["type"], "ERROR")
        self.assertEqual((evs[0]["object"]["code"], evs[0]["object"]["reason"]), (410, "Expired"))
        t = time.monotonic()
        evs = self.watch("timeoutSeconds=1&resourceVersion=%s" % store.resource_version,
                         lambda e: False)
        self.assertEqual(evs, [])
        self.assertLess(time.monotonic() - t, 3)

    # ------------------------------------------------------------------ kubectl
    def kubectl(self, *args, **kw):
        p = self.fx.kubectl(*args, **kw)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_kubectl_get_list(self):
        rc, out, err = self.kubectl("get", "pods", "-l", "app=etcd")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
        self.assertEqual(lines[1].split()[:3], ["etcd-alpha", "2/2", "Running"])
        self.assertEqual(lines[3].split()[:3], ["etcd-gamma", "1/2", "CrashLoopBackOff"])
        rc, out, err = self.kubectl("get", "pods", "--field-selector", "spec.nodeName=beta",
                                    "-o", "jsonpath={.items[*].metadata.name}")
        self.assertEqual((rc, out), (0, "etcd-beta"), err)
        rc, out, err = self.kubectl("get", "etcd", "cluster", "-o", "json")
        self.assertEqual((rc, json.loads(out)["kind"]), (0, "Etcd"), err)
        rc, out, err = self.kubectl("get", "clusteroperator", "etcd")
        self.assertIn("True", out.splitlines()[1])
        rc, out, err = self.kubectl("get", "pod", "missing")
        self.assertEqual(rc, 1)
        self.assertIn('pods "missing" not found', err)

    def test_kubectl_patch_delete_dry_run(self):
        rc, out, err = self.kubectl("patch", "etcd", "cluster", "--type=merge", "-p",
                                    '{"spec":{"forceRedeploymentReason":"kubectl-1"}}')
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.fx.store.get("etcds", None, "cluster")["spec"]
                         ["forceRedeploymentReason"], "kubectl-1")
        rc, out, err = self.kubectl("patch", "etcd", "cluster", "--type=json", "-p",
                                    '[{"op":"replace","path":"/spec/forceRedeploymentReason",'
                                    '"value":"kubectl-2"}]')
        self.assertEqual(rc, 0, err)
        self.fx.store.create("secrets", F.NS, {"metadata": {"name": "kubectl-del"}})
        rc, out, err = self.kubectl("delete", "secret", "kubectl-del", "--dry-run=server")
        self.assertEqual(rc, 0, err)
        self.assertIn("server dry run", out)
        self.fx.store.get("secrets", F.NS, "kubectl-del")
        rc, out, err = self.kubectl("delete", "secret", "kubectl-del")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.fx.store.list("secrets", F.NS, field_selector="metadata.name="
                                            "kubectl-del")[0], [])
        rc, out, err = self.kubectl("delete", "secret", "etcd-peer-alpha", limited=True)
        self.assertEqual(rc, 1)
        self.assertIn("Forbidden", err)

    def test_kubectl_typed_creates_protobuf(self):
        rc, out, err = self.kubectl("create", "secret", "generic", "pb-secret",
                                    "--from-literal=k=v")
        self.assertEqual(rc, 0, err)
        s = self.fx.store.get("secrets", F.NS, "pb-secret")
        self.assertEqual((s["data"], s["type"]), ({"k": "dg=="}, "Opaque"))
        rc, out, err = self.kubectl("debug", "node/beta", "--image=busybox", "--profile=sysadmin",
                                    "--", "chroot", "/host", "ls")
        self.assertEqual(rc, 0, err)
        pod = [p for p in self.fx.store.list("pods", F.NS)[0]
               if p["metadata"]["name"].startswith("node-debugger-beta-")][0]
        self.assertEqual(pod["spec"]["nodeName"], "beta")
        self.assertEqual(pod["spec"]["volumes"], [{"name": "host-root", "hostPath": {"path": "/"}}])
        c = pod["spec"]["containers"][0]
        self.assertEqual((c["command"], c["volumeMounts"][0]["mountPath"],
                          c["securityContext"]["privileged"]), (["chroot", "/host", "ls"],
                                                                "/host", True))
        self.fx.store.delete("pods", F.NS, pod["metadata"]["name"])

    def test_kubectl_logs_follow(self):
        store, key = self.fx.store, ("default", "logger", "c")
        store.create("pods", "default", F.pod("logger", "alpha", {}, containers=("c",)))
        self.fx.logs[key] = "one\ntwo\n"
        rc, out, err = self.kubectl("logs", "-n", "default", "logger", "--tail=1")
        self.assertEqual((rc, out), (0, "two\n"), err)

        def finish():
            time.sleep(0.5)
            self.fx.logs[key] += "three\n"
            store.update("pods", "default", "logger", lambda p: p["status"].update(
                containerStatuses=[{"name": "c", "state": {"terminated": {"exitCode": 0}}}]))
        import threading
        t = threading.Thread(target=finish)
        t.start()
        rc, out, err = self.kubectl("logs", "-f", "-n", "default", "logger")
        t.join()
        store.delete("pods", "default", "logger")
        self.assertEqual((rc, out), (0, "one\ntwo\nthree\n"), err)

    def test_kubectl_wait_watches(self):
        store = self.fx.store
        store.create("configmaps", "default", {"metadata": {"name": "waited"}, "data": {}})

        def change():
            time.sleep(0.3)
            store.update("configmaps", "default", "waited",
                         lambda o: o.update(data={"phase": "done"}))
            time.sleep(0.3)
            store.delete("configmaps", "default", "waited")
        import threading
        t = threading.Thread(target=change)
        t.start()
        rc, out, err = self.kubectl("wait", "-n", "default", "configmap/waited",
                                    "--for=jsonpath={.data.phase}=done", "--timeout=10s")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.kubectl("wait", "-n", "default", "configmap/waited", "--for=delete",
                                    "--timeout=10s")
        t.join()
        self.assertEqual(rc, 0, err)
        self.assertTrue(any("watch=true" in r[1] for r in self.fx.server.request_log))

    def test_kubectl_auth(self):
        # kubectl >= 1.30 sends these reviews as protobuf
        rc, out, err = self.kubectl("auth", "can-i", "create", "pods", "--subresource=exec")
        self.assertEqual((rc, out), (0, "yes\n"), err)
        rc, out, err = self.kubectl("auth", "can-i", "create", "pods", "--subresource=exec",
                                    limited=True)
        self.assertEqual((rc, out), (1, "no\n"), err)
        rc, out, err = self.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        self.assertEqual((rc, out), (0, "kube:admin"), err)

if __name__ == "__main__":
    unittest.main(verbosity=2)
