"""What fidelity_test.py checks: the testbeds it starts, which capture each profile is compared with, and
each profile's KNOWN differences: (pattern, reason), the pattern being a difference line of fidelity.py with
* for any text. A difference that matches no pattern fails the test, and so does a pattern that matches no
difference (the list must stay true). docs/testbed-profiles.md explains them."""

# testbed key -> `testbed up` options (each runs at --speed 10)
TESTBEDS = {
    "4.7": ["--profile", "4.7"],
    "4.14": ["--profile", "4.14", "--address-order", "gcp"],
    "4.14-vsphere": ["--profile", "4.14", "--address-order", "vsphere"],
}

R47 = "insights-operator/sample-4.7/docs/insights-archive-sample/config"
AWS = "must-gather-clean/aws/must-gather-aws"
METAL = "must-gather-clean/metal/must-gather-metal"
OKD412 = "resourcewatch-3nodes/final"
VSPHERE = "must-gather-clean/vsphere/must-gather-vsphere"

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
    {"testbed": "4.14", "capture": OKD412, "kinds": ["node", "pod", "clusterversion", "clusteroperator"],
     "known": NODE + POD + CV + CO + [
         ("Node labels.keys: *", "GCP instance-type/region/zone and topology labels: no cloud provider"),
         ('Node conditions.types: capture ["NetworkUnavailable",*', "GCP's route controller adds NetworkUnavailable"),
         ('Node nodeInfo.kubeletVersion.minor: capture "v1.25", testbed "v1.27"',
          "the capture is 4.12 (Kubernetes 1.25); the profile is 4.14 (1.27)"),
         ("ClusterVersion spec.keys: *", "OKD sets spec.upstream"),
         ('ClusterOperator status.conditions.types: *"RecentBackup"*', "RecentBackup (4.10+ backup controller) is not modelled"),
     ]},
    {"testbed": "4.14-vsphere", "capture": VSPHERE, "kinds": ["node"],
     "known": NODE + [
         ("Node labels.keys: capture *", "4.8 labels masters only master; the 4.14 profile adds control-plane (4.10+)"),
         ('Node nodeInfo.kubeletVersion.minor: capture "v1.21", testbed "v1.27"', "4.8 capture vs the 4.14 profile"),
     ]},
    {"testbed": "4.14", "capture": METAL, "kinds": ["etcd", "secrets", "etcdctl"],
     "known": SA_SECRETS + [
         ('Etcd spec: capture {*"observedConfig":"object"*', "the config observer's servingInfo (cipher suites) is not modelled"),
         ("Etcd status: capture *", "status.observedGeneration and controlPlaneHardwareSpeed (4.13+) exist in 4.14, not in 4.9"),
         ("Etcd status.conditions.sorted: capture false, testbed true", "conditions are written sorted by type; "
          "real ones in the order the controllers first set them"),
         ("etcdctl alarm_list*", "etcd 3.4's etcdctl prints {} for no alarms; 3.5 prints the response header "
          "(the testbed runs etcd 3.4.23)"),
         ('etcdctl endpoint_status version.minor: capture ["3.5"], testbed ["3.4"]', "etcd 3.4.23 stands for 3.5"),
     ]},
]
