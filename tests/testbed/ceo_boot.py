"""The simulated operator's bootstrap: the cluster's objects and revision 1, installed on every node, with the
static initial cluster that lets the first etcd members form the cluster (run once by `up`)."""
import os

from ceo_util import NS, now
import tbconfig

# the release an --upgrading cluster comes from (the Completed history entry)
PREVIOUS_RELEASE = {"4.7": "4.6.48", "4.8": "4.7.60", "4.14": "4.13.38", "4.16": "4.15.45", "4.20": "4.19.14"}


class BootstrapMixin:
    # ------------------------------------------------------------------ bootstrap (run once by `up`)
    def bootstrap(self):
        """Creates the cluster's objects and revision 1, and installs it on every node."""
        layout, store = self.ctx.layout, self.store
        for ns in ("default", "kube-system", "openshift", NS, "openshift-etcd-operator", "openshift-config",
                   "openshift-config-managed", "openshift-machine-api"):
            store.create("namespaces", None, {"metadata": {"name": ns, "labels": {
                "openshift.io/cluster-monitoring": "true"} if ns.startswith("openshift-etcd") else {}}})
        for i, node in enumerate(self.nodes):
            store.create("nodes", None, self.node_object(node))
        self.topology_objects()
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
            "spec": self.etcd_spec(),
            "status": {"latestAvailableRevision": 0, "nodeStatuses": [], "conditions": []}})
        store.create("clusterversions", None, self.clusterversion_object())
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

    def clusterversion_object(self):
        """clusterversions/version; with --upgrading, in the middle of an upgrade to the profile's version: the
        newest history entry Partial with completionTime null (as the cluster-version operator writes it,
        realdata resourcewatch-3nodes/install-rollout), the previous release Completed, Progressing True."""
        version = self.profile["version"]
        image = "quay.io/openshift-release-dev/ocp-release:%s-x86_64"
        desired = {"version": version, "image": image % version}
        if not self.cfg.get("upgrading"):
            return {
                "metadata": {"name": "version"},
                "spec": {"channel": "stable-" + self.cfg["profile"], "clusterID": self.cfg["cluster_token"]},
                "status": {"desired": desired,
                           "history": [{"state": "Completed", "version": version, "image": image % version,
                                        "startedTime": now(), "completionTime": now(), "verified": False}],
                           "observedGeneration": 1, "versionHash": "testbed",
                           "conditions": [{"type": "Available", "status": "True", "lastTransitionTime": now(),
                                           "message": "Done applying %s" % version},
                                          {"type": "Failing", "status": "False", "lastTransitionTime": now()},
                                          {"type": "Progressing", "status": "False", "lastTransitionTime": now(),
                                           "message": "Cluster version is %s" % version}]}}
        prev = PREVIOUS_RELEASE.get(version.rsplit(".", 1)[0], "4.0.0")
        return {
            "metadata": {"name": "version"},
            "spec": {"channel": "stable-" + version.rsplit(".", 1)[0], "clusterID": self.cfg["cluster_token"],
                     "desiredUpdate": {"version": version, "image": image % version, "force": False}},
            "status": {"desired": desired,
                       "history": [{"state": "Partial", "version": version, "image": image % version,
                                    "startedTime": now(), "completionTime": None, "verified": True,
                                    "acceptedRisks": ""},
                                   {"state": "Completed", "version": prev, "image": image % prev,
                                    "startedTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T01:00:00Z",
                                    "verified": False}],
                       "observedGeneration": 2, "versionHash": "testbed-upgrading",
                       "conditions": [
                           {"type": "Available", "status": "True", "lastTransitionTime": now(),
                            "message": "Done applying %s" % prev},
                           {"type": "Failing", "status": "False", "lastTransitionTime": now()},
                           {"type": "Progressing", "status": "True", "lastTransitionTime": now(),
                            "message": "Working towards %s: 512 of 867 done (59%% complete)" % version},
                           {"type": "ReleaseAccepted", "status": "True", "reason": "PayloadLoaded",
                            "lastTransitionTime": now(),
                            "message": 'Payload loaded version="%s" image="%s"' % (version, image % version)}]}}

    def topology_objects(self):
        """infrastructures/cluster (status.controlPlaneTopology, which the operator reads to know an arbiter
        cluster: ceohelpers.IsArbiterNodeTopology) and kube-system/cluster-config-v1 (the install-config whose
        controlPlane.replicas + arbiter.replicas the operator's replica count observer adds up)."""
        arbiter = self.cfg.get("arbiter")
        masters = len(self.nodes) - (1 if arbiter else 0)
        topo = "HighlyAvailableArbiter" if arbiter else ("SingleReplica" if masters == 1 else "HighlyAvailable")
        self.store.create("infrastructures", None, {
            "metadata": {"name": "cluster"},
            "spec": {"platformSpec": {"type": "None"}, "cloudConfig": {"name": ""}},
            "status": {"controlPlaneTopology": topo, "infrastructureTopology": topo if arbiter else
                       ("SingleReplica" if masters == 1 else "HighlyAvailable"),
                       "cpuPartitioning": "None", "platform": "None", "platformStatus": {"type": "None"},
                       "infrastructureName": "testbed-" + self.cfg["cluster_token"][-6:],
                       "apiServerURL": "https://api.testbed.local:6443",
                       "apiServerInternalURI": "https://api-int.testbed.local:6443",
                       "etcdDiscoveryDomain": ""}})
        self.store.create("networks", None, self.network())
        ic = "apiVersion: v1\nbaseDomain: testbed.local\nmetadata:\n  name: testbed\n" \
             "controlPlane:\n  name: master\n  replicas: %d\n" % masters
        if arbiter:
            ic += "arbiter:\n  name: arbiter\n  replicas: 1\n"
        ic += "compute:\n- name: worker\n  replicas: 0\nplatform:\n  none: {}\n"
        self.configmap("cluster-config-v1", {"install-config": ic}, ns="kube-system")

    @staticmethod
    def network():
        """networks.config.openshift.io/cluster as the installer writes it (installer's defaults); etcd-status reads
        its serviceNetwork to know which node address family a member should have (the operator's
        dnshelpers.GetPreferredInternalIPAddressForNodeName does the same)."""
        spec = {"clusterNetwork": [{"cidr": "10.128.0.0/14", "hostPrefix": 23}], "externalIP": {"policy": {}},
                "networkType": "OVNKubernetes", "serviceNetwork": ["172.30.0.0/16"]}
        return {"metadata": {"name": "cluster"}, "spec": spec,
                "status": {"clusterNetwork": spec["clusterNetwork"], "clusterNetworkMTU": 1400,
                           "networkType": "OVNKubernetes", "serviceNetwork": spec["serviceNetwork"]}}

    def etcd_spec(self):
        """etcds/cluster's spec at install: real 4.7/4.8 clusters carry no forceRedeploymentReason,
        observedConfig or unsupportedConfigOverrides keys until something sets them (4.9 shows
        unsupportedConfigOverrides: null); the API server keeps keys as written, so none is written as null."""
        spec = {"logLevel": "Normal", "managementState": "Managed", "operatorLogLevel": "Normal"}
        if self.profile["cr_null_overrides"]:
            spec["unsupportedConfigOverrides"] = None
        if self.cfg.get("arbiter"):
            # the 4.20 operator's ControlPlaneReplicasCount observer: controlPlane + arbiter replicas
            spec["observedConfig"] = {"controlPlane": {"replicas": len(self.nodes)}}
        return spec

    def node_object(self, node):
        ip = self.ips[node]
        arbiter = node == self.cfg.get("arbiter")
        if arbiter:
            roles = {"node-role.kubernetes.io/arbiter": ""}
        elif self.profile.get("control_plane_label", True):
            roles = {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}
        else:       # 4.7-4.9 label control-plane nodes only master
            roles = {"node-role.kubernetes.io/master": ""}
        schedulable = self.cfg.get("schedulable_masters") and not arbiter
        if schedulable:   # a compact cluster: the control-plane nodes are workers too, untainted
            roles["node-role.kubernetes.io/worker"] = ""
        addr = {"InternalIP": ip, "ExternalIP": ip, "Hostname": node, "InternalDNS": node}
        order = tbconfig.ADDRESS_ORDERS[self.cfg.get("address_order") or "metal"]
        t = now()
        # the kubelet's node status setters list these four, in this order (MemoryPressure, DiskPressure,
        # PIDPressure, Ready); clouds add NetworkUnavailable in front, which the testbed leaves out
        conds = [{"type": ty, "status": "False", "reason": reason, "message": msg,
                  "lastHeartbeatTime": t, "lastTransitionTime": t} for ty, reason, msg in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                      "message": "kubelet is posting ready status", "lastHeartbeatTime": t, "lastTransitionTime": t})
        return {"metadata": {"name": node, "labels": dict({
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
            "node.openshift.io/os_id": "rhcos"}, **roles)},
            "spec": {"taints": [] if schedulable else [{"key": "node-role.kubernetes.io/arbiter" if arbiter else
                                                         "node-role.kubernetes.io/master", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": ty, "address": addr[ty]} for ty in order],
                       "conditions": conds,
                       "nodeInfo": {"kubeletVersion": self.profile["kubelet_version"], "osImage": "Red Hat Enterprise Linux CoreOS",
                                    "containerRuntimeVersion": self.profile["crio_version"], "architecture": "amd64",
                                    "operatingSystem": "linux"}}}

