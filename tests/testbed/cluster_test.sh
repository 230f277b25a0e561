#!/bin/bash
# Fidelity, profile 4.20 (the first exec over WebSocket v5 needs a kubectl of 1.30 or later, which /usr/bin/kubectl
# runs for 4.20's Kubernetes 1.33), 3 nodes (one with a dotted name), checked with clients nobody here wrote:
# kubectl lists 3 etcd pods Running, etcdctl 3 started members; exec of `etcdctl member list` over WebSocket
# (kubectl, python3-kubernetes); kubectl get/patch/delete with dry-run; the limited user is refused;
# `crashloop` gives CrashLoopBackOff with a growing restartCount and a dead etcd container; then the seed's
# manual procedure, step by step with kubectl and etcdctl, repairs the member; `down` leaves no process.
. "$(dirname "$0")/lib.sh"

tb_mkdir D
N1=ip-10-0-1-10.ec2.internal N2=bravo N3=charlie
t0=$SECONDS
"$TESTBED" up "$D" --names "$N1,$N2,$N3" --profile 4.20 || fail "up"
ok "up in $((SECONDS - t0))s"

# --- the three clients see the same healthy cluster
[ "$(kc "$D" get pods -n openshift-etcd -l app=etcd -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase} {end}')" = \
	"etcd-$N2=Running etcd-$N3=Running etcd-$N1=Running " ] || fail "kubectl: 3 etcd pods Running"
pods_ready "$D" 3 || fail "3 etcd pods Ready"
[ "$(kc "$D" get pod -n openshift-etcd "etcd-$N2" -o jsonpath='{.spec.containers[*].name}')" = "etcdctl etcd etcd-metrics etcd-readyz etcd-rev" ] ||
	fail "4.20 container set"
[ "$(kc "$D" get pod -n openshift-etcd "etcd-$N2" -o jsonpath='{.metadata.labels.app}/{.metadata.labels.etcd}/{.metadata.labels.k8s-app}')" = "etcd/true/etcd" ] ||
	fail "etcd pod labels"
ok "kubectl: 3 etcd pods Running and Ready, container set and labels as 4.20"

members=$(ectl "$D" member list) || fail "etcdctl member list"
[ "$(echo "$members" | awk -F', ' '$2=="started" {print $3}' | sort | tr '\n' ' ')" = "$N2 $N3 $N1 " ] ||
	fail "etcdctl: 3 started members named after the nodes: $members"
ectl "$D" endpoint health --cluster 2>&1 | grep -c 'is healthy' | grep -qx 3 || fail "endpoint health --cluster"
ok "etcdctl: 3 started, healthy members named after the nodes"

via_kubectl=$(podexec "$D" "etcd-$N1" etcdctl member list) || fail "kubectl exec etcdctl member list"
[ "$(echo "$via_kubectl" | sort)" = "$(echo "$members" | sort)" ] || fail "exec output differs: $via_kubectl"
podexec "$D" "etcd-$N1" sh -c 'echo "$ETCDCTL_ENDPOINTS"; echo "$ETCDCTL_CERT"' | grep -q "etcd-peer-$N1.crt" ||
	fail "ETCDCTL_CERT is the node's peer certificate"
wire=$(kc "$D" exec -v=7 -n openshift-etcd "etcd-$N1" -c etcdctl -- etcdctl member list 2>&1 >/dev/null)
echo "$wire" | grep -q 'Sec-Websocket-Protocol: v5.channel.k8s.io' || fail "kubectl did not exec over WebSocket v5: $wire"
echo "$wire" | grep -q 'POST .*/exec' && fail "kubectl fell back to SPDY"
ok "kubectl $(kubectl --kubeconfig "$D/kubeconfig" version -o json | tbjson 'd["clientVersion"]["gitVersion"]') exec over WebSocket v5: etcdctl member list in the etcdctl container = etcdctl from outside"

via_py=$("$PY" - "$D/kubeconfig" "etcd-$N3" <<'EOF'
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=sys.argv[1])
print(stream(client.CoreV1Api().connect_get_namespaced_pod_exec, sys.argv[2], "openshift-etcd",
             container="etcdctl", command=["etcdctl", "member", "list"], stderr=True, stdin=False,
             stdout=True, tty=False), end="")
EOF
) || fail "python3-kubernetes exec"
[ "$(echo "$via_py" | sort)" = "$(echo "$members" | sort)" ] || fail "python exec output differs: $via_py"
ok "python3-kubernetes stream exec gives the same member list"

# --- API semantics through kubectl
rv=$(kc "$D" get etcd cluster -o jsonpath='{.metadata.resourceVersion}')
kc "$D" patch etcd cluster --type=merge -p '{"spec":{"forceRedeploymentReason":"dry"}}' --dry-run=server >/dev/null || fail "patch dry-run"
[ "$(kc "$D" get etcd cluster -o jsonpath='{.metadata.resourceVersion}/{.spec.forceRedeploymentReason}')" = "$rv/" ] ||
	fail "dry-run patch changed the object"
kc "$D" delete secret -n openshift-etcd "etcd-peer-$N2" --dry-run=server >/dev/null || fail "delete dry-run"
kc "$D" get secret -n openshift-etcd "etcd-peer-$N2" -o jsonpath='{.type}' | grep -qx kubernetes.io/tls || fail "secret type after dry-run delete"
[ "$(kc "$D" get secret -n openshift-etcd -o name | grep -c "$N1\$")" = 3 ] || fail "3 per-node secrets"
out=$(kubectl --kubeconfig "$D/kubeconfig-limited" delete secret -n openshift-etcd "etcd-peer-$N2" 2>&1) && fail "limited user deleted a secret"
echo "$out" | grep -q Forbidden || fail "limited delete: $out"
out=$(kubectl --kubeconfig "$D/kubeconfig-limited" exec -n openshift-etcd "etcd-$N2" -c etcdctl -- true 2>&1) && fail "limited user could exec"
[ "$(kubectl --kubeconfig "$D/kubeconfig-limited" auth can-i delete secrets -n openshift-etcd 2>/dev/null)" = no ] || fail "can-i"
kubectl --kubeconfig "$D/kubeconfig-limited" get pods -n openshift-etcd >/dev/null || fail "limited user can list pods"
ok "kubectl: patch and delete with --dry-run=server change nothing; the limited user may not delete secrets or exec"

# --- crashloop
st=$(status "$D")
[ "$(echo "$st" | tbjson 'sorted(d["nodes"])')" = "[\"$N3\", \"$N2\", \"$N1\"]" ] || [ "$(echo "$st" | tbjson 'len(d["nodes"])')" = 3 ] || fail "status nodes"
echo "$st" | tbjson 'd["nodes"]["'"$N3"'"]["files"]["etc/kubernetes/manifests"]' | grep -q etcd-pod.yaml || fail "status: manifest file"
old_id=$(echo "$st" | tbjson '[m["id"] for m in d["etcd"]["members"] if m["name"]=="'"$N3"'"][0]')
[ "$(echo "$st" | tbjson 'len(d["nodes"]["'"$N3"'"]["etcd_processes"])')" = 1 ] || fail "status: one etcd process on $N3"
t0=$SECONDS
"$TESTBED" crashloop "$D" "$N3" >/dev/null || fail "crashloop"
wait_for 20 "CrashLoopBackOff" state_is "$D" "$N3" CrashLoopBackOff
r1=$(restarts "$D" "$N3")
wait_for 20 "restartCount to grow past $r1" restarts_above "$D" "$N3" "$r1"
ok "crashloop: CrashLoopBackOff within $((SECONDS - t0))s, restartCount $r1 -> $(restarts "$D" "$N3")"
kc "$D" get pod -n openshift-etcd "etcd-$N3" -o jsonpath='{.status.containerStatuses[?(@.name=="etcd")].lastState.terminated.exitCode}' | grep -qx 1 ||
	fail "lastState.terminated.exitCode 1"
wait_for 20 "operator reports $N3 unhealthy" condition_has "$D" EtcdMembersDegraded "$N3 is unhealthy"
exec_dead() { kc "$D" exec -n openshift-etcd "etcd-$N3" -c etcd -- true 2>&1 | grep -q 'container not found'; }
wait_for 20 "exec into the etcd container between restarts fails with 'container not found'" exec_dead
podexec "$D" "etcd-$N3" etcdctl member list | grep -q "$N3" || fail "the crash-looping pod's etcdctl container still works"
ok "dead etcd container refuses exec; its etcdctl container still works; the operator reports $N3 unhealthy"

# --- the seed's procedure (PROCEDURE.md), step by step
# 1. stop the crash-looping pod: move the manifest and the data directory away on the node
on_node "$D" "$N3" 'mkdir -p /var/lib/etcd-backup && mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/'
wait_for 20 "etcd-$N3 to go away" pod_gone "$D" openshift-etcd "etcd-$N3"
# the data directory, this time through a debug pod shaped like `oc debug node/X` makes it, and exec
ns=openshift-debug-t1
kc "$D" create namespace "$ns" >/dev/null || fail "create namespace"
kc "$D" create -n "$ns" -f - >/dev/null <<EOF || fail "create debug pod"
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$N3-debug-abcde", "annotations": {"debug.openshift.io/source-resource": "nodes/$N3"}},
 "spec": {"nodeName": "$N3", "hostNetwork": true, "hostPID": true, "restartPolicy": "Never",
          "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
          "containers": [{"name": "container-00", "image": "registry.redhat.io/rhel9/support-tools",
                          "command": ["sleep", "300"], "securityContext": {"privileged": true, "runAsUser": 0},
                          "volumeMounts": [{"name": "host", "mountPath": "/host"}]}]}}
EOF
wait_for 20 "debug pod Running" phase_is "$D" "$ns" "$N3-debug-abcde" Running
[ -z "$(kc "$D" exec -n "$ns" "$N3-debug-abcde" -- chroot /host crictl ps -q --label io.kubernetes.container.name=etcd)" ] ||
	fail "crictl ps on the node still lists an etcd container"
kc "$D" exec -n "$ns" "$N3-debug-abcde" -- chroot /host mv /var/lib/etcd/ /tmp || fail "chroot /host mv"
[ -d "$D/nodes/$N3/root/tmp/etcd/member" ] && [ ! -e "$D/nodes/$N3/root/var/lib/etcd" ] || fail "the data dir did not move on the node"
[ -f "$D/nodes/$N3/root/var/lib/etcd-backup/etcd-pod.yaml" ] || fail "the manifest did not move"
kc "$D" delete namespace "$ns" >/dev/null || fail "delete namespace"
wait_for 10 "debug pod gone" pod_gone "$D" "$ns" "$N3-debug-abcde"
[ "$(status "$D" | tbjson 'len(d["nodes"]["'"$N3"'"]["etcd_processes"])')" = 0 ] || fail "etcd still runs on $N3"
ok "step 1: manifest and data dir moved on the node (kubectl debug; oc-debug-like pod + exec chroot /host crictl/mv)"

# 2. remove the member from a healthy pod's etcdctl container
id=$(member_id "$D" "$N1" "$N3")
[ "$id" = "$old_id" ] || fail "member id $id != status $old_id"
podexec "$D" "etcd-$N1" etcdctl member remove "$id" | grep -q "Member *$id removed from cluster" || fail "member remove"
[ -z "$(member_id "$D" "$N1" "$N3")" ] || fail "member still listed"
ok "step 2: member $id removed"

# 3. quorum guard off (4.8+), delete the member's secrets
kc "$D" patch etcd/cluster --type=merge -p '{"spec": {"unsupportedConfigOverrides": {"useUnsupportedUnsafeNonHANonProductionUnstableEtcd": true}}}' >/dev/null || fail "override"
old_uids=$(kc "$D" get secrets -n openshift-etcd -o json | tbjson '" ".join(sorted(s["metadata"]["uid"] for s in d["items"] if s["metadata"]["name"].endswith("-'"$N3"'")))')
kc "$D" delete secret -n openshift-etcd "etcd-peer-$N3" "etcd-serving-$N3" "etcd-serving-metrics-$N3" >/dev/null || fail "delete secrets"
ok "step 3: override set, secrets deleted"

# 4. force a redeployment, then wait for the operator to bring the member back
t1=$SECONDS
kc "$D" patch etcd cluster -p='{"spec": {"forceRedeploymentReason": "single-master-recovery-'"$(date --rfc-3339=ns)"'"}}' --type=merge >/dev/null || fail "patch reason"
wait_for 90 "3 healthy members, 3 Ready pods, operator settled" healthy_cluster "$D" 3 False
ok "step 4: redeployed; healthy again $((SECONDS - t1))s after the patch, $((SECONDS - t0))s after crashloop"
kc "$D" patch etcd/cluster --type=merge -p '{"spec": {"unsupportedConfigOverrides": null}}' >/dev/null || fail "override off"
wait_for 20 "Upgradeable again" co_settled "$D" True

# verification
podexec "$D" "etcd-$N1" etcdctl endpoint health --cluster 2>&1 | grep -c 'is healthy: successfully committed proposal' | grep -qx 3 ||
	fail "endpoint health --cluster"
new_id=$(member_id "$D" "$N1" "$N3")
[ -n "$new_id" ] && [ "$new_id" != "$old_id" ] || fail "new member id ($new_id vs $old_id)"
new_uids=$(kc "$D" get secrets -n openshift-etcd -o json | tbjson '" ".join(sorted(s["metadata"]["uid"] for s in d["items"] if s["metadata"]["name"].endswith("-'"$N3"'")))')
[ "$(echo "$new_uids" | wc -w)" = 3 ] && [ "$new_uids" != "$old_uids" ] || fail "secrets re-issued"
kc "$D" get secret -n openshift-etcd "etcd-peer-$N3" -o jsonpath='{.data.tls\.crt}' | base64 -d | openssl x509 -noout -checkend 0 >/dev/null ||
	fail "re-issued certificate"
ok "verified: endpoint health --cluster, new member $new_id, new secrets, override removed"

# --- down
"$TESTBED" down "$D" >/dev/null || fail "down"
no_processes_of "$D" || fail "processes left after down"
ok "down: no process left"
