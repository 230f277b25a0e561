"""The Machine API objects as an installer-made cluster has them: Machines (machine.openshift.io/v1beta1), the
ControlPlaneMachineSet (machine.openshift.io/v1), BareMetalHosts (metal3.io/v1alpha1) with their BMC secrets.
Shapes after openshift/api and metal3-io/baremetal-operator (no capture of them exists: docs/testbed-machines.md).
"""
import hashlib
import random

from ceo_util import b64, now

NS = "openshift-machine-api"
FINALIZER = "machine.machine.openshift.io"
BMH_FINALIZER = "baremetalhost.metal3.io"
ROLE = "machine.openshift.io/cluster-api-machine-role"
TYPE = "machine.openshift.io/cluster-api-machine-type"
CLUSTER = "machine.openshift.io/cluster-api-cluster"
HOST_ANNOTATION = "metal3.io/BareMetalHost"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
REGION = "us-east-1"
MODES = ("none", "api", "cpms", "cpms-inactive", "baremetal")


def provision_delay(cfg):
    """`up --provision-delay` (simulation seconds; 0 is allowed), default 3."""
    v = cfg.get("provision_delay")
    return 3.0 if v is None else float(v)


def master_labels(infra):
    return {CLUSTER: infra, ROLE: "master", TYPE: "master"}


def instance_id(seed):
    return "i-0" + hashlib.sha256(seed.encode()).hexdigest()[:16]


def aws_provider_id(zone, iid):
    return "aws:///%s/%s" % (zone, iid)


def bmh_provider_id(host, uid):
    return "baremetalhost:///%s/%s/%s" % (NS, host, uid)


def aws_provider_spec(infra, zone):
    return {"apiVersion": "machine.openshift.io/v1beta1", "kind": "AWSMachineProviderConfig",
            "ami": {"id": "ami-0c5d3e3a1a8e2b6f1"}, "instanceType": "m6i.xlarge",
            "placement": {"availabilityZone": zone, "region": REGION},
            "credentialsSecret": {"name": "aws-cloud-credentials"},
            "userDataSecret": {"name": "master-user-data"},
            "iamInstanceProfile": {"id": infra + "-master-profile"},
            "subnet": {"filters": [{"name": "tag:Name", "values": ["%s-private-%s" % (infra, zone)]}]},
            "securityGroups": [{"filters": [{"name": "tag:Name", "values": [infra + "-master-sg"]}]}],
            "blockDevices": [{"ebs": {"encrypted": True, "volumeSize": 120, "volumeType": "gp3"}}],
            "deviceIndex": 0, "metadata": {"creationTimestamp": None}}


def baremetal_provider_spec():
    return {"apiVersion": "baremetal.cluster.k8s.io/v1alpha1", "kind": "BareMetalMachineProviderSpec",
            "customDeploy": {"method": "install_coreos"}, "hostSelector": {}, "image": {"checksum": "", "url": ""},
            "metadata": {"creationTimestamp": None}, "userData": {"name": "master-user-data-managed"}}


def machine(infra, name, provider_spec, annotations=None):
    """A master Machine as the installer creates it (no status: the machine controller writes that)."""
    return {"apiVersion": "machine.openshift.io/v1beta1", "kind": "Machine",
            "metadata": {"name": name, "namespace": NS, "labels": master_labels(infra),
                         "annotations": dict(annotations or {}), "finalizers": [FINALIZER]},
            "spec": {"lifecycleHooks": {}, "metadata": {}, "providerSpec": {"value": provider_spec}}}


def cpms(infra, replicas, active):
    """controlplanemachinesets/cluster as the installer (4.12+ on AWS) generates it."""
    return {"apiVersion": "machine.openshift.io/v1", "kind": "ControlPlaneMachineSet",
            "metadata": {"name": "cluster", "namespace": NS,
                         "finalizers": ["controlplanemachineset.machine.openshift.io"]},
            "spec": {"replicas": replicas, "state": "Active" if active else "Inactive",
                     "strategy": {"type": "RollingUpdate"},
                     "selector": {"matchLabels": {ROLE: "master", TYPE: "master"}},
                     "template": {"machineType": "machines_v1beta1_machine_openshift_io",
                                  "machines_v1beta1_machine_openshift_io": {
                                      "failureDomains": {"platform": "AWS", "aws": [
                                          {"placement": {"availabilityZone": z},
                                           "subnet": {"type": "Filters", "filters": [
                                               {"name": "tag:Name", "values": ["%s-private-%s" % (infra, z)]}]}}
                                          for z in ZONES]},
                                      "metadata": {"labels": master_labels(infra)},
                                      "spec": {"lifecycleHooks": {}, "metadata": {},
                                               "providerSpec": {"value": aws_provider_spec(infra, "")}}}}},
            "status": {}}


def boot_mac(seed):
    h = hashlib.sha256(seed.encode()).hexdigest()
    return "52:54:00:%s:%s:%s" % (h[0:2], h[2:4], h[4:6])


def bmc_secret(host):
    """The BMC credentials of a host. The password is random: it must never show in any output."""
    password = "".join(random.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(16))
    return {"metadata": {"name": host + "-bmc-secret", "namespace": NS}, "type": "Opaque",
            "data": {"username": b64("admin"), "password": b64(password)}}


def bmh(host, machine_name=None):
    """A BareMetalHost as the installer registers a control-plane host (status written by the provisioner)."""
    spec = {"online": True, "bootMACAddress": boot_mac(host), "bootMode": "UEFI",
            "rootDeviceHints": {"deviceName": "/dev/sda"},
            "bmc": {"address": "redfish-virtualmedia://192.168.111.1:8000/redfish/v1/Systems/%s"
                    % hashlib.md5(host.encode()).hexdigest(),
                    "credentialsName": host + "-bmc-secret", "disableCertificateVerification": True},
            "hardwareProfile": "unknown", "automatedCleaningMode": "metadata"}
    if machine_name:
        spec.update(consumerRef={"apiVersion": "machine.openshift.io/v1beta1", "kind": "Machine",
                                 "name": machine_name, "namespace": NS},
                    customDeploy={"method": "install_coreos"},
                    userData={"name": "master-user-data-managed", "namespace": NS})
    return {"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": host, "namespace": NS, "finalizers": [BMH_FINALIZER]},
            "spec": spec, "status": {}}


def cluster_operator(name, version, relnamespace):
    t = now()
    return {"metadata": {"name": name, "annotations": {
        "include.release.openshift.io/self-managed-high-availability": "true"}},
        "spec": {},
        "status": {"conditions": [
            {"type": "Available", "status": "True", "reason": "AsExpected", "lastTransitionTime": t,
             "message": "Cluster Machine API Operator is available" if name == "machine-api" else ""},
            {"type": "Progressing", "status": "False", "reason": "AsExpected", "lastTransitionTime": t},
            {"type": "Degraded", "status": "False", "reason": "AsExpected", "lastTransitionTime": t},
            {"type": "Upgradeable", "status": "True", "reason": "AsExpected", "lastTransitionTime": t}],
            "versions": [{"name": "operator", "version": version}],
            "relatedObjects": [{"group": "", "resource": "namespaces", "name": relnamespace}]}}
