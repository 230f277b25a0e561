#!/bin/bash
# Fidelity of the failure modes (profile 4.14, 3 nodes): the procedure with a step left out stays broken,
# as on a real cluster, and finishing the step repairs it.
#   A. quorum gate: with the member removed, secrets deleted and the reason patched but no override, the
#      operator makes no revision and says why; then the override is set but the data dir was never moved:
#      the new pod refuses "not found in member list but dataDir exists"; moving the data dir repairs it.
#   B. manifest and data dir moved, override set, secrets deleted, reason patched, but the member is still
#      in the list: "dataDir has been destroyed and must be removed from the cluster"; `member remove` repairs.
. "$(dirname "$0")/lib.sh"

tb_mkdir D
"$TESTBED" up "$D" --names m0,m1,m2 >/dev/null || fail "up"
ok "up"

log_has() { # DIR NODE TEXT : the etcd container's last termination message or current log contains TEXT
	kc "$1" get pod -n openshift-etcd "etcd-$2" -o json | tbjson '[c.get("lastState",{}).get("terminated",{}).get("message","") for c in d["status"]["containerStatuses"] if c["name"]=="etcd"][0]' | grep -qF -- "$3" ||
		kc "$1" logs -n openshift-etcd "etcd-$2" -c etcd | grep -qF -- "$3"
}
revision() { kc "$1" get etcd cluster -o jsonpath='{.status.latestAvailableRevision}'; }
reason() { kc "$1" patch etcd cluster --type=merge -p '{"spec": {"forceRedeploymentReason": "single-master-recovery-'"$(date --rfc-3339=ns)"'"}}' >/dev/null || fail "patch reason"; }
override() { kc "$1" patch etcd/cluster --type=merge -p '{"spec": {"unsupportedConfigOverrides": '"$2"'}}' >/dev/null || fail "override $2"; }
secrets_gone() { [ "$(node_secrets "$1" "$2")" = 0 ]; }
not_healthy_member() { ! members_are "$1" 3; }

# --- A
"$TESTBED" crashloop "$D" m2 >/dev/null || fail "crashloop m2"
on_node "$D" m2 'mkdir -p /var/lib/etcd-backup && mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/'
wait_for 20 "etcd-m2 gone" pod_gone "$D" openshift-etcd etcd-m2
id=$(member_id "$D" m0 m2)
podexec "$D" etcd-m0 etcdctl member remove "$id" >/dev/null || fail "member remove"
kc "$D" delete secret -n openshift-etcd etcd-peer-m2 etcd-serving-m2 etcd-serving-metrics-m2 >/dev/null || fail "delete secrets"
rev=$(revision "$D")
reason "$D"
wait_for 20 "the quorum gate in TargetConfigControllerDegraded" condition_has "$D" TargetConfigControllerDegraded "not fault tolerant"
stays_for 4 "no new revision, no new secrets without the override" sh -c "[ \"\$(kubectl --kubeconfig '$D/kubeconfig' get etcd cluster -o jsonpath='{.status.latestAvailableRevision}')\" = '$rev' ] && ! kubectl --kubeconfig '$D/kubeconfig' get secret -n openshift-etcd etcd-peer-m2"
condition_has "$D" EtcdCertSignerControllerDegraded "not fault tolerant" || fail "cert signer gate"
ok "A: 4.14 quorum gate: no revision and no secrets while 2 of 2 members are healthy (TargetConfigControllerDegraded says why)"

override "$D" '{"useUnsupportedUnsafeNonHANonProductionUnstableEtcd": true}'
rev_above() { [ "$(revision "$1")" -gt "$2" ]; }
wait_for 30 "a new revision" rev_above "$D" "$rev"
wait_for 30 "etcd-m2 is back (new revision installed)" sh -c "kubectl --kubeconfig '$D/kubeconfig' get pod -n openshift-etcd etcd-m2"
wait_for 30 "m2 refuses: dataDir exists" log_has "$D" m2 "not found in member list but dataDir exists"
stays_for 8 "m2 stays out of the cluster" not_healthy_member "$D"
[ "$(node_secrets "$D" m2)" = 3 ] || fail "secrets re-issued once the override was set"
ok "A: skipping the data-dir move leaves m2 broken (not found in member list but dataDir exists)"
on_node "$D" m2 'mv /var/lib/etcd/ /tmp'
wait_for 90 "healthy after moving the data dir" healthy_cluster "$D" 3 False
override "$D" null
wait_for 20 "settled" healthy_cluster "$D" 3 True
ok "A: moving the data dir repaired it"

# --- B
"$TESTBED" crashloop "$D" m1 >/dev/null || fail "crashloop m1"
wait_for 20 "m1 CrashLoopBackOff" state_is "$D" m1 CrashLoopBackOff
on_node "$D" m1 'mkdir -p /var/lib/etcd-backup && mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/ && mv /var/lib/etcd/ /tmp'
override "$D" '{"useUnsupportedUnsafeNonHANonProductionUnstableEtcd": true}'
kc "$D" delete secret -n openshift-etcd etcd-peer-m1 etcd-serving-m1 etcd-serving-metrics-m1 >/dev/null || fail "delete secrets"
reason "$D"
wait_for 30 "etcd-m1 is back (new revision installed)" sh -c "kubectl --kubeconfig '$D/kubeconfig' get pod -n openshift-etcd etcd-m1"
wait_for 30 "m1 refuses: dataDir destroyed" log_has "$D" m1 "dataDir has been destroyed and must be removed from the cluster"
stays_for 8 "m1 stays broken" not_healthy_member "$D"
[ -n "$(member_id "$D" m0 m1)" ] || fail "m1 still a member"
ok "B: skipping the member removal leaves m1 broken (dataDir has been destroyed and must be removed)"
podexec "$D" etcd-m0 etcdctl member remove "$(member_id "$D" m0 m1)" >/dev/null || fail "member remove m1"
wait_for 90 "healthy after the member removal" healthy_cluster "$D" 3 False
override "$D" null
wait_for 20 "settled" healthy_cluster "$D" 3 True
ok "B: removing the member repaired it"
