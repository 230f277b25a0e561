"""Unit tests of the testbed's RBAC (rbac.py): the rules as Kubernetes' RBAC authorizer matches them, bindings'
scopes, subjects, tokens, and the record of what was exercised. Exits non-zero on failure."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rbac import Rbac  # noqa: E402
from store import Store  # noqa: E402

NS, OTHER = "openshift-etcd", "openshift-kube-apiserver"
SA = "system:serviceaccount:%s:medic" % NS


def static(user, verb, resource, namespace, subresource):
    return user == "kube:admin"


class RbacTest(unittest.TestCase):
    def setUp(self):
        self.s = Store()
        for ns in (NS, OTHER):
            self.s.create("namespaces", None, {"metadata": {"name": ns}})
        self.s.create("serviceaccounts", NS, {"metadata": {"name": "medic"}})
        self.r = Rbac(self.s, static)

    def role(self, kind, name, rules, ns=None):
        self.s.create(kind, ns, {"metadata": {"name": name}, "rules": rules})

    def bind(self, kind, name, role_kind, role, ns=None, subject=None):
        self.s.create(kind, ns, {"metadata": {"name": name}, "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [subject or {"kind": "ServiceAccount", "name": "medic", "namespace": NS}]})

    def test_nothing_without_a_binding_and_static_users_unchanged(self):
        self.assertFalse(self.r.allowed(SA, "get", "pods", NS))
        self.assertTrue(self.r.allowed("kube:admin", "delete", "secrets", NS))
        self.assertFalse(self.r.allowed("developer", "get", "pods", NS))

    def test_role_grants_in_its_namespace_only(self):
        self.role("roles", "r", [{"apiGroups": [""], "resources": ["pods", "pods/exec"],
                                  "verbs": ["get", "list"]}], NS)
        self.bind("rolebindings", "b", "Role", "r", NS)
        self.assertTrue(self.r.allowed(SA, "list", "pods", NS))
        self.assertTrue(self.r.allowed(SA, "get", "pods", NS, "exec"))
        self.assertFalse(self.r.allowed(SA, "create", "pods", NS, "exec"), "a verb not granted")
        self.assertFalse(self.r.allowed(SA, "get", "pods", NS, "log"), "a subresource not granted")
        self.assertFalse(self.r.allowed(SA, "list", "pods", OTHER), "another namespace")
        self.assertFalse(self.r.allowed(SA, "get", "pods", NS, group="apps"), "another group")

    def test_rolebinding_to_a_clusterrole_grants_in_the_binding_namespace(self):
        self.role("clusterroles", "c", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}])
        self.bind("rolebindings", "b", "ClusterRole", "c", OTHER)
        self.assertTrue(self.r.allowed(SA, "delete", "secrets", OTHER))
        self.assertFalse(self.r.allowed(SA, "delete", "secrets", NS))

    def test_clusterrolebinding_grants_everywhere_and_resource_names_narrow(self):
        self.role("clusterroles", "c", [
            {"apiGroups": ["operator.openshift.io"], "resources": ["etcds"], "verbs": ["get"],
             "resourceNames": ["cluster"]},
            {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]}])
        self.bind("clusterrolebindings", "b", "ClusterRole", "c")
        self.assertTrue(self.r.allowed(SA, "get", "etcds", None, group="operator.openshift.io", name="cluster"))
        self.assertFalse(self.r.allowed(SA, "get", "etcds", None, group="operator.openshift.io", name="other"))
        self.assertFalse(self.r.allowed(SA, "list", "etcds", None, group="operator.openshift.io"),
                         "a list has no name: resourceNames never match it")
        self.assertTrue(self.r.allowed(SA, "get", "nodes", None, "status"), "*/status")

    def test_group_subjects_and_a_binding_to_a_missing_role(self):
        self.role("roles", "r", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}], NS)
        self.bind("rolebindings", "g", "Role", "r", NS, {"kind": "Group", "name": "system:serviceaccounts:" + NS})
        self.bind("rolebindings", "m", "Role", "missing", NS)
        self.assertTrue(self.r.allowed(SA, "get", "configmaps", NS))
        self.assertFalse(self.r.allowed("system:serviceaccount:other:x", "get", "configmaps", NS))

    def test_tokens_last_as_long_as_their_service_account(self):
        token = self.r.issue_token(NS, "medic")
        self.assertEqual(self.r.user_of(token), SA)
        self.assertIsNone(self.r.user_of("nope"))
        self.s.delete("serviceaccounts", NS, "medic")
        self.assertIsNone(self.r.user_of(token))

    def test_approving_a_csr_needs_approve_on_its_signer(self):
        """The CertificateApproval admission (apiserver_handlers.approve_signer): by the signer's name or DOMAIN/*."""
        import apiserver_handlers
        from store import ApiError

        class Api:
            rbac, store = self.r, self.s

            def allowed(api, user, verb, resource, ns, sub=None, group="", name=None):
                return self.r.allowed(user, verb, resource, ns, sub, group, name)

        class Req:
            user = SA
        csr = {"metadata": {"name": "csr-1"}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}}
        with self.assertRaises(ApiError) as e:
            apiserver_handlers.approve_signer(Api(), Req(), csr)
        self.assertIn('user not permitted to approve requests with signerName "kubernetes.io/kubelet-serving"',
                      e.exception.message)
        self.role("clusterroles", "c", [{"apiGroups": ["certificates.k8s.io"], "resources": ["signers"],
                                         "verbs": ["approve"], "resourceNames": ["kubernetes.io/kubelet-serving"]}])
        self.bind("clusterrolebindings", "b", "ClusterRole", "c")
        apiserver_handlers.approve_signer(Api(), Req(), csr)
        other = {"metadata": {"name": "csr-2"}, "spec": {"signerName": "kubernetes.io/kube-apiserver-client"}}
        self.assertRaises(ApiError, apiserver_handlers.approve_signer, Api(), Req(), other)
        self.role("clusterroles", "d", [{"apiGroups": ["certificates.k8s.io"], "resources": ["signers"],
                                         "verbs": ["approve"], "resourceNames": ["kubernetes.io/*"]}])
        self.bind("clusterrolebindings", "b2", "ClusterRole", "d")
        apiserver_handlers.approve_signer(Api(), Req(), other)
        used = self.r.usage()[SA]
        self.assertIn({"verb": "approve", "group": "certificates.k8s.io", "resource": "signers", "namespace": ""},
                      used["used"])
        self.assertIn({"verb": "approve", "group": "certificates.k8s.io", "resource": "signers", "namespace": ""},
                      used["denied"])

    def test_usage_keeps_allowed_and_refused_apart(self):
        self.r.record(SA, "get", "", "pods", "exec", NS, True)
        self.r.record(SA, "get", "", "pods", "exec", NS, True)
        self.r.record(SA, "delete", "", "secrets", None, NS, False)
        u = self.r.usage()[SA]
        self.assertEqual(u["used"], [{"verb": "get", "group": "", "resource": "pods/exec", "namespace": NS}])
        self.assertEqual(u["denied"], [{"verb": "delete", "group": "", "resource": "secrets", "namespace": NS}])
        self.r.reset_usage()
        self.assertEqual(self.r.usage(), {})


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=1).result.wasSuccessful() else 1)
