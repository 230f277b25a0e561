"""What fidelity_test.py checks: the testbeds it starts, which capture each profile is compared with, and
each profile's KNOWN differences: (pattern, reason), the pattern being a difference line of fidelity.py with
* for any text. A difference that matches no pattern fails the test, and so does a pattern that matches no
difference (the list must stay true). docs/testbed-profiles.md explains them."""

# testbed key -> `testbed up` options (each runs at --speed 10)
TESTBEDS = {
    "4.7": ["--profile", "4.7"],
    "4.8": ["--profile", "4.8", "--address-order", "aws"],
    "4.8-vsphere": ["--profile", "4.8", "--address-order", "vsphere"],
    "4.8-azure": ["--profile", "4.8", "--address-order", "azure"],
    "4.14": ["--profile", "4.14", "--address-order", "gcp"],
    "4.16": ["--profile", "4.16", "--address-order", "gcp"],
    "4.20": ["--profile", "4.20", "--address-order", "gcp"],
}

R47 = "insights-operator/sample-4.7/docs/insights-archive-sample/config"
AWS = "must-gather-clean/aws/must-gather-aws"
METAL = "must-gather-clean/metal/must-gather-metal"
OKD412 = "resourcewatch-3nodes/final"
VSPHERE = "must-gather-clean/vsphere/must-gather-vsphere"
AZURE = "must-gather-clean/azure/must-gather-azure"

# shared by every check of a kind
NODE = [
    ("Node annotations.keys: *", "machine-config, OVN and CSI annotations come from controllers the testbed does not run"),
    ("Node nodeInfo.keys: *", "bootID, machineID, systemUUID, kernelVersion, kubeProxyVersion: host facts nothing reads"),
    ("Node status.keys: *", "allocatable, capacity, daemonEndpoints, images: scheduler data the testbed does not model"),
]
POD = [
    ("Pod spec.keys: *", "enableServiceLinks, preemptionPolicy, schedulerName, securityContext, "
     "terminationGracePeriodSeconds: API server defaults the testbed does not fill in"),
    ("Pod spec.volumes: *", "no usr-local-bin hostPath volume (nothing runs from it); 4.7 has no log-dir"),
    ("Pod initContainers[*].keys: *", "init containers carry only name, image, command (they never run)"),
    ("Pod initContainers[*].securityContext: only in capture: *", "init containers never run"),
    ("Pod initContainers[*].volumeMounts: *", "init containers never run"),
    ("Pod containers[*].keys: *", "no terminationMessagePath default; the etcd container has args and ports "
     "(its start script is a program, not a shell script), no liveness/startup probe (never probed)"),
    ("Pod containers[*].volumeMounts: *", "every container mounts every volume (the mounts only map paths)"),
    ("Pod containers[etcdctl].securityContext: only in testbed: *", "the etcdctl container is marked privileged"),
    ("Pod containers[etcd].ports: only in testbed: *", "4.7+ declare no ports on the host-network etcd container"),
]
SA_SECRETS = [
    ("Secret secret[*-dockercfg-*]: only in capture: *", "service-account pull secrets: no service accounts"),
    ("Secret secret[*-token-*]: only in capture: *", "service-account tokens: no service accounts"),
    ("Secret secret[serving-cert]: only in capture: *", "the operator's metrics serving cert (service-ca): not modelled"),
]
CV = [
    ("ClusterVersion status.keys: *", "no availableUpdates/capabilities: there is no update service"),
    ("ClusterVersion status.conditions.types: *", "only Available, Failing, Progressing (no RetrievedUpdates, "
     "Upgradeable, ReleaseAccepted, ImplicitlyEnabledCapabilities)"),
]
CO = [("ClusterOperator status.keys: *", "no status.extension (always null on real clusters)")]
CLOUD_LABELS = [("Node labels.keys: capture *", "the cloud provider's instance-type, region, zone and topology labels: "
                 "no cloud provider")]
SORTED = "conditions are written sorted by type; real ones in the order the controllers first set them"
KUBE = {"4.14": "1.27", "4.16": "1.29", "4.20": "1.33"}
# 4.20 renders read-only root file systems and a fifth container, etcd-rev (release-4.20 bindata/etcd/pod.gotpl.yaml)
READ_ONLY = {"4.20": [
    ("Pod spec.containers: capture *, testbed [*\"etcd-rev\"]", "etcd-rev (4.18+) is not in the 4.12 capture"),
    ("Pod status.containerStatuses: capture *, testbed [*\"etcd-rev\"*]", "etcd-rev (4.18+), see above"),
    ("Pod containers[etcd-rev].securityContext: only in testbed: *", "etcd-rev (4.18+), see above"),
    ('Pod containers[*].securityContext: capture {"privileged":true}, testbed {"privileged":true,'
     '"readOnlyRootFilesystem":true}', "4.20 renders read-only root file systems (the capture is 4.12)"),
]}

CHECKS = [
    {"testbed": "4.7", "capture": R47, "kinds": ["node", "pod", "etcd", "clusterversion", "clusteroperator"],
     "known": NODE + POD + CV + CO + [
         ("Pod annotations.keys: *", "target.workload.openshift.io/management came with 4.8's workload partitioning"),
         ('Etcd spec: capture {*"unsupportedConfigOverrides":"object"}, testbed {*}',
          "the captured lab cluster set the non-HA override; the testbed sets none at install"),
         ("Etcd status*: only in testbed: *", "Insights keeps no status of the Etcd CR: nothing to compare"),
         ("ClusterVersion status.desired.keys: *", "no channels/url in desired (no update service)"),
     ]},
    {"testbed": "4.7", "capture": AWS, "kinds": ["secrets", "etcdctl"],
     "known": SA_SECRETS + [
         ("Secret secret[etcd-all-certs*]: only in capture: *", "4.8 merged the aggregates into etcd-all-certs; "
          "the 4.7 profile keeps 4.7's etcd-all-peer/-serving/-serving-metrics (no 4.7 secrets capture)"),
         ("Secret secret[etcd-all-*]: only in testbed: *", "4.7's three aggregate secrets (see above)"),
         ("etcdctl endpoint_health[]{}: capture *", "the unixs:// endpoints (4.8 only) fail with an error key"),
         ("etcdctl endpoint_health[].error: only in capture: *", "same: only unixs:// endpoints error"),
         ("etcdctl member_list clientURLs schemes: capture [\"https\",\"unixs\"], testbed [\"https\"]",
          "4.8 advertises a second client URL unixs://IP:0; real 4.7.16's pod advertises https only"),
         ("etcdctl endpoint_health entries per member: capture 2.0, testbed 1.0", "same: no unixs:// URL"),
         ("etcdctl endpoint_health errors: *", "same: no unixs:// URL to time out"),
         ("etcdctl endpoint_health endpoint schemes: *", "same: no unixs:// URL"),
     ]},
    {"testbed": "4.8", "capture": AWS, "kinds": ["node", "pod", "etcd", "clusterversion", "secrets", "etcdctl"],
     "known": NODE + POD + CV + SA_SECRETS + CLOUD_LABELS + [
         ("Etcd status: capture *", "the testbed's operator writes status.observedGeneration, which 4.8's does not"),
         ("Etcd status.conditions.sorted: capture false, testbed true", SORTED),
         ('ClusterVersion spec.keys: capture ["clusterID"], testbed ["channel","clusterID"]',
          "the captured CI cluster follows no update channel; the testbed sets stable-4.8"),
     ]},
    {"testbed": "4.8-azure", "capture": AZURE, "kinds": ["node", "pod"], "known": NODE + POD + CLOUD_LABELS},
    {"testbed": "4.8-vsphere", "capture": VSPHERE, "kinds": ["node"], "known": NODE},
] + [check for release in ("4.14", "4.16", "4.20") for check in (
    {"testbed": release, "capture": OKD412, "kinds": ["node", "pod", "clusterversion", "clusteroperator"],
     "known": NODE + POD + CV + CO + CLOUD_LABELS + READ_ONLY.get(release, []) + [
         ('Node conditions.types: capture ["NetworkUnavailable",*',
          "GCP's route controller adds NetworkUnavailable"),
         ('Node nodeInfo.kubeletVersion.minor: capture "v1.25", testbed "v%s"' % KUBE[release],
          "the capture is 4.12 (Kubernetes 1.25); the profile is %s (%s)" % (release, KUBE[release])),
         ("ClusterVersion spec.keys: *", "OKD sets spec.upstream"),
         ('ClusterOperator status.conditions.types: *"RecentBackup"*',
          "RecentBackup (4.10+ backup controller) is not modelled"),
     ]},
    {"testbed": release, "capture": METAL, "kinds": ["etcd", "secrets", "etcdctl"],
     "known": SA_SECRETS + [
         ('Etcd spec: capture {*"observedConfig":"object"*',
          "the config observer's servingInfo (cipher suites) is not modelled"),
         ("Etcd status: capture *",
          "status.observedGeneration and controlPlaneHardwareSpeed (4.13+) exist in %s, not in 4.9" % release),
         ("Etcd status.conditions.sorted: capture false, testbed true", SORTED),
     ]})]
