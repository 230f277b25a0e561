"""The simulated operator's bootstrap: the cluster's objects and revision 1, installed on every node, with the
static initial cluster that lets the first etcd members form the cluster (run once by `up`)."""
import os

from ceo_util import NS, now


class BootstrapMixin:
    # ------------------------------------------------------------------ bootstrap (run once by `up`)
    def bootstrap(self):
        """Creates the cluster's objects and revision 1, and installs it on every node."""
        layout, store = self.ctx.layout, self.store
        for ns in ("default", "kube-system", NS, "openshift-etcd-operator", "openshift-config",
                   "openshift-config-managed", "openshift-machine-api"):
            store.create("namespaces", None, {"metadata": {"name": ns, "labels": {
                "openshift.io/cluster-monitoring": "true"} if ns.startswith("openshift-etcd") else {}}})
        for i, node in enumerate(self.nodes):
            store.create("nodes", None, self.node_object(node))
        signer = self.ctx.signer
        ca_pem = open(signer[0]).read()
        metrics_ca = open(self.ctx.metrics_signer[0]).read()
        self.secret("etcd-signer", {"tls.crt": ca_pem, "tls.key": open(signer[1]).read()},
                    "kubernetes.io/tls", ns="openshift-config")
        self.secret("etcd-metric-signer", {"tls.crt": metrics_ca,
                                           "tls.key": open(self.ctx.metrics_signer[1]).read()},
                    "kubernetes.io/tls", ns="openshift-config")
        client = {"tls.crt": open(self.ctx.client_cert[0]).read(), "tls.key": open(self.ctx.client_cert[1]).read()}
        for ns in (NS, "openshift-config", "openshift-etcd-operator"):
            self.secret("etcd-client", client, "kubernetes.io/tls", ns=ns)
            self.configmap("etcd-ca-bundle", {"ca-bundle.crt": ca_pem}, ns=ns)
        for ns in (NS, "openshift-config"):
            self.configmap("etcd-serving-ca", {"ca-bundle.crt": ca_pem}, ns=ns)
        self.configmap("etcd-metrics-proxy-serving-ca", {"ca-bundle.crt": metrics_ca})
        self.configmap("etcd-all-bundles", {"server-ca-bundle.crt": ca_pem, "metrics-ca-bundle.crt": metrics_ca})
        self.sync_certs(None, {}, force=True)
        store.create("etcds", None, {
            "metadata": {"name": "cluster", "annotations": {
                "include.release.openshift.io/self-managed-high-availability": "true",
                "release.openshift.io/create-only": "true"}},
            "spec": {"managementState": "Managed", "logLevel": "Normal", "operatorLogLevel": "Normal",
                     "forceRedeploymentReason": "", "unsupportedConfigOverrides": None,
                     "observedConfig": None},
            "status": {"latestAvailableRevision": 0, "nodeStatuses": [], "conditions": []}})
        version = self.profile["version"]
        store.create("clusterversions", None, {
            "metadata": {"name": "version"},
            "spec": {"channel": "stable-" + self.cfg["profile"], "clusterID": self.cfg["cluster_token"]},
            "status": {"desired": {"version": version, "image": "quay.io/openshift-release-dev/ocp-release:%s-x86_64" % version},
                       "history": [{"state": "Completed", "version": version, "startedTime": now(),
                                    "completionTime": now(), "verified": False}],
                       "observedGeneration": 1, "versionHash": "testbed",
                       "conditions": [{"type": "Available", "status": "True", "lastTransitionTime": now(),
                                       "message": "Done applying %s" % version},
                                      {"type": "Failing", "status": "False", "lastTransitionTime": now()},
                                      {"type": "Progressing", "status": "False", "lastTransitionTime": now(),
                                       "message": "Cluster version is %s" % version}]}})
        store.create("clusteroperators", None, {
            "metadata": {"name": "etcd", "annotations": {
                "include.release.openshift.io/self-managed-high-availability": "true"}},
            "spec": {},
            "status": {"conditions": [], "versions": [], "relatedObjects": [
                {"group": "operator.openshift.io", "resource": "etcds", "name": "cluster"},
                {"group": "", "resource": "namespaces", "name": "openshift-config"},
                {"group": "", "resource": "namespaces", "name": "openshift-config-managed"},
                {"group": "", "resource": "namespaces", "name": "openshift-etcd-operator"},
                {"group": "", "resource": "namespaces", "name": NS}]}})
        # etcd-endpoints: no member IDs yet (the cluster does not exist); the first revision bootstraps it
        self.configmap("etcd-endpoints", {"testbed-bootstrap-" + n: self.ips[n] for n in self.nodes})
        self.bootstrap_cluster = ",".join("%s=https://%s:2380" % (n, self.ips[n]) for n in self.nodes)
        self.render_template("", self.bootstrap_cluster)
        self.sync_revision()
        for node in self.nodes:
            self.run_installer(node, 1)

        def fn(o):
            o["status"]["nodeStatuses"] = [{"nodeName": n, "currentRevision": 1} for n in self.nodes]
        store.update("etcds", None, "cluster", fn)
        os.makedirs(layout.p("pki"), exist_ok=True)

    def node_object(self, node):
        ip = self.ips[node]
        return {"metadata": {"name": node, "labels": {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
            "node.openshift.io/os_id": "rhcos"}},
            "spec": {"taints": [{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status",
                                       "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
                       "nodeInfo": {"kubeletVersion": "v1.27.10+testbed", "osImage": "Red Hat Enterprise Linux CoreOS",
                                    "containerRuntimeVersion": "cri-o://1.27.0", "architecture": "amd64",
                                    "operatingSystem": "linux"}}}

