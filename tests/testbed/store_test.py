"""Unit tests of the testbed's object Store. Exits non-zero on failure."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from store import ApiError, Store, parse_label_selector  # noqa: E402

NS = "openshift-etcd"


def names(items):
    return [o["metadata"]["name"] for o in items]


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.s = Store(history=10)
        self.s.create("namespaces", None, {"metadata": {"name": NS}})
        for n, rev in (("a", "1"), ("b", "2")):
            self.s.create("pods", NS, {"metadata": {"name": "etcd-" + n, "labels": {
                "app": "etcd", "revision": rev}}, "spec": {"nodeName": n},
                "status": {"phase": "Running"}})

    def test_create_fills_metadata_and_refuses_duplicates(self):
        p = self.s.get("pods", NS, "etcd-a")
        self.assertEqual((p["kind"], p["apiVersion"], p["metadata"]["namespace"]),
                         ("Pod", "v1", NS))
        self.assertTrue(p["metadata"]["uid"] and p["metadata"]["creationTimestamp"])
        with self.assertRaises(ApiError) as cm:
            self.s.create("pods", NS, {"metadata": {"name": "etcd-a"}})
        self.assertEqual((cm.exception.code, cm.exception.reason), (409, "AlreadyExists"))
        with self.assertRaises(ApiError) as cm:
            self.s.create("pods", "nope", {"metadata": {"name": "x"}})
        self.assertEqual(cm.exception.message, 'namespaces "nope" not found')
        g = self.s.create("namespaces", None, {"metadata": {"generateName": "openshift-debug-"}})
        self.assertRegex(g["metadata"]["name"], r"^openshift-debug-[a-z0-9]{5}$")

    def test_copies_are_returned(self):
        p = self.s.get("pods", NS, "etcd-a")
        p["metadata"]["labels"]["app"] = "changed"
        self.assertEqual(self.s.get("pods", NS, "etcd-a")["metadata"]["labels"]["app"], "etcd")

    def test_selectors(self):
        lst = lambda **kw: names(self.s.list("pods", **kw)[0])  # noqa: E731
        self.assertEqual(lst(label_selector="app=etcd,revision in (2, 3)"), ["etcd-b"])
        self.assertEqual(lst(label_selector="revision notin (2),!missing"), ["etcd-a"])
        self.assertEqual(lst(label_selector="app!=etcd"), [])
        self.assertEqual(lst(field_selector="spec.nodeName==b"), ["etcd-b"])
        self.assertEqual(lst(namespace=NS, field_selector="metadata.name!=etcd-b"), ["etcd-a"])
        self.assertTrue(parse_label_selector("a")({"a": ""}))
        for bad in ("a in b", "=x", "a (b)"):
            with self.assertRaises(ApiError):
                parse_label_selector(bad)

    def test_update_rv_generation_noop_and_conflict(self):
        rv0 = self.s.resource_version
        p = self.s.update("pods", NS, "etcd-a", lambda o: o["status"].update(phase="Failed"))
        self.assertEqual((p["metadata"]["resourceVersion"], p["metadata"]["generation"]),
                         (str(int(rv0) + 1), 1))
        p = self.s.update("pods", NS, "etcd-a", lambda o: o["spec"].update(nodeName="z"))
        self.assertEqual(p["metadata"]["generation"], 2)
        same = self.s.update("pods", NS, "etcd-a", lambda o: None)
        self.assertEqual(same["metadata"]["resourceVersion"], p["metadata"]["resourceVersion"])
        with self.assertRaises(ApiError) as cm:
            self.s.update("pods", NS, "etcd-a",
                          lambda o: o["metadata"].update(resourceVersion="1"))
        self.assertEqual(cm.exception.code, 409)

    def test_delete_preconditions_and_namespace_cascade(self):
        with self.assertRaises(ApiError) as cm:
            self.s.delete("pods", NS, "etcd-a", {"resourceVersion": "1"})
        self.assertIn("Precondition failed: ResourceVersion in precondition: 1", cm.exception.message)
        uid = self.s.get("pods", NS, "etcd-a")["metadata"]["uid"]
        self.s.delete("pods", NS, "etcd-a", {"uid": uid}, dry_run=True)
        self.s.get("pods", NS, "etcd-a")
        self.s.delete("namespaces", None, NS)
        self.assertEqual(self.s.list("pods")[0], [])

    def test_finalizers_delay_deletion(self):
        self.s.create("namespaces", None, {"metadata": {"name": "openshift-machine-api"}})
        ns = "openshift-machine-api"
        self.s.create("machines", ns, {"metadata": {"name": "m0", "finalizers": ["machine.machine.openshift.io"],
                                                    "deletionTimestamp": "2020-01-01T00:00:00Z"}})
        self.assertNotIn("deletionTimestamp", self.s.get("machines", ns, "m0")["metadata"])
        first = self.s.delete("machines", ns, "m0")
        ts = first["metadata"]["deletionTimestamp"]
        again = self.s.delete("machines", ns, "m0")           # a second DELETE changes nothing
        self.assertEqual((again["metadata"]["deletionTimestamp"], again["metadata"]["resourceVersion"]),
                         (ts, first["metadata"]["resourceVersion"]))
        self.s.update("machines", ns, "m0", lambda o: o["metadata"].pop("deletionTimestamp"))
        self.assertEqual(self.s.get("machines", ns, "m0")["metadata"]["deletionTimestamp"], ts)
        rv = self.s.resource_version
        self.s.update("machines", ns, "m0", lambda o: o["metadata"].update(finalizers=[]))
        with self.assertRaises(ApiError):
            self.s.get("machines", ns, "m0")
        self.assertEqual([t for t, _ in self.s.events_since("machines", rv)], ["DELETED"])

    def test_watch_log_and_expiry(self):
        rv = self.s.resource_version
        self.s.delete("pods", NS, "etcd-b")
        evs, _ = self.s.wait_events("pods", rv)
        self.assertEqual([(t, o["metadata"]["name"]) for t, o in evs], [("DELETED", "etcd-b")])
        for i in range(12):
            self.s.update("pods", NS, "etcd-a", lambda o, i=i: o["status"].update(n=i))
        with self.assertRaises(ApiError) as cm:
            self.s.wait_events("pods", rv)
        self.assertEqual((cm.exception.code, cm.exception.reason), (410, "Expired"))

    def test_waits_wake_on_change(self):
        rv = self.s.resource_version
        t = threading.Timer(0.2, lambda: self.s.update(
            "pods", NS, "etcd-a", lambda o: o["status"].update(phase="Failed")))
        t.start()
        start = time.monotonic()
        evs, _ = self.s.wait_events("pods", rv, NS, timeout=5)
        self.assertEqual(evs[0][0], "MODIFIED")
        self.assertLess(time.monotonic() - start, 2)
        self.assertEqual(self.s.wait_for_change(0.05), self.s.resource_version)
        t.join()


if __name__ == "__main__":
    unittest.main(verbosity=2)
