#!/bin/bash
# Fidelity across shapes, two testbeds at once: 5 nodes on profile 4.14 and 3 nodes on profile 4.7
# (container set without etcd-health-monitor, quorum-guard pods, exec over v4 only, no quorum gate: the
# original procedure without the override repairs a crash-looping member). Fault injection via the CLI.
. "$(dirname "$0")/lib.sh"

tb_mkdir A
tb_mkdir B
t0=$SECONDS
"$TESTBED" up "$A" --names a0,a1,a2,a3,a4 >"$A.out" 2>&1 &
pa=$!
"$TESTBED" up "$B" --names b0,b1,b2 --profile 4.7 >"$B.out" 2>&1 &
pb=$!
wait "$pa" || { cat "$A.out"; fail "up 5 nodes"; }
wait "$pb" || { cat "$B.out"; fail "up 4.7"; }
rm -f "$A.out" "$B.out"
ok "two testbeds up at once in $((SECONDS - t0))s"

# --- 5 nodes, 4.14
[ "$(kc "$A" get pods -n openshift-etcd -l app=etcd --no-headers | awk '$3=="Running"' | wc -l)" = 5 ] || fail "5 etcd pods Running"
[ "$(ectl "$A" member list | grep -c ', started, ')" = 5 ] || fail "5 started members"
podexec "$A" etcd-a3 etcdctl member list | grep -q ', a4, ' || fail "exec in a 5-node testbed"
ok "5 nodes: 5 etcd pods Running, 5 started members, exec works"

# --- 4.7
[ "$(kc "$B" get pod -n openshift-etcd etcd-b1 -o jsonpath='{.spec.containers[*].name}')" = "etcdctl etcd etcd-metrics" ] ||
	fail "4.7 container set"
[ "$(kc "$B" get pods -n openshift-etcd -l k8s-app=etcd-quorum-guard --no-headers | wc -l)" = 3 ] || fail "quorum guard pods"
[ "$(kc "$B" get clusterversion version -o jsonpath='{.status.desired.version}')" = 4.7.60 ] || fail "cluster version"
[ "$(ectl "$B" member list | grep -c ', started, ')" = 3 ] || fail "3 started members"
podexec "$B" etcd-b0 etcdctl member list | grep -q ', b2, ' || fail "kubectl exec with v4 only (SPDY fallback)"
"$PY" - "$B/kubeconfig" <<'EOF' | grep -q ', b1, ' || fail "python3-kubernetes exec over WebSocket v4"
import sys
from kubernetes import client, config
from kubernetes.stream import stream
config.load_kube_config(config_file=sys.argv[1])
print(stream(client.CoreV1Api().connect_get_namespaced_pod_exec, "etcd-b2", "openshift-etcd", container="etcdctl",
             command=["etcdctl", "member", "list"], stderr=True, stdin=False, stdout=True, tty=False))
EOF
ok "4.7: container set, quorum-guard pods, version, exec over v4.channel.k8s.io (python3-kubernetes) and SPDY (kubectl)"

"$TESTBED" crashloop "$B" b2 >/dev/null || fail "crashloop"
wait_for 20 "b2 CrashLoopBackOff" state_is "$B" b2 CrashLoopBackOff
on_node "$B" b2 'mkdir -p /var/lib/etcd-backup && mv /etc/kubernetes/manifests/etcd-pod.yaml /var/lib/etcd-backup/ && mv /var/lib/etcd/ /tmp'
podexec "$B" etcd-b0 etcdctl member remove "$(member_id "$B" b0 b2)" >/dev/null || fail "member remove"
kc "$B" delete secret -n openshift-etcd etcd-peer-b2 etcd-serving-b2 etcd-serving-metrics-b2 >/dev/null || fail "delete secrets"
kc "$B" patch etcd cluster --type=merge -p '{"spec": {"forceRedeploymentReason": "single-master-recovery-'"$(date --rfc-3339=ns)"'"}}' >/dev/null ||
	fail "patch reason"
wait_for 90 "4.7 repaired without the override" healthy_cluster "$B" 3 True
ok "4.7: the original procedure (no override) repairs a crash-looping member"

# --- faults
"$TESTBED" fault "$A" --method GET --path '^/api/v1/namespaces/openshift-etcd/pods(\?|$)' --status 500 --count 1 >/dev/null || fail "fault"
kc "$A" get pods -n openshift-etcd >/dev/null 2>&1 && fail "the injected 500 did not reach kubectl"
kc "$A" get pods -n openshift-etcd >/dev/null || fail "the fault should have been used up"
"$TESTBED" fault "$A" --method GET --path '^/api/v1/nodes(\?|$)' --drop >/dev/null || fail "fault --drop"
kc "$A" get nodes --request-timeout=5s >/dev/null 2>&1 && fail "dropped connection"
"$TESTBED" fault "$A" --clear >/dev/null || fail "fault --clear"
kc "$A" get nodes >/dev/null || fail "after --clear"
"$TESTBED" fault "$A" --method GET --path x >/dev/null 2>&1
[ $? = 2 ] || fail "fault without an action is a usage error"
ok "faults: 500 once, a dropped connection, --clear; usage errors exit 2"

"$TESTBED" down "$A" >/dev/null && "$TESTBED" down "$B" >/dev/null || fail "down"
no_processes_of "$A" && no_processes_of "$B" || fail "processes left"
ok "both down, no process left"
