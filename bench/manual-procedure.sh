#!/bin/sh
# bench/manual-procedure.sh NODE BACKUP_DIR: the document's commands, typed as an administrator would,
# with kubectl (for oc) and etcdctl, on a testbed (KUBECONFIG set). The baseline `make bench` compares
# `etcd-medic run replace-crashlooping-member` with. Same work as the tool, in the same order:
#   backup (etcdctl snapshot save in a healthy pod) · stop the pod (debug pod on the node: mkdir, mv the
#   manifest, mv the data dir) · member list / remove / list · open the quorum gate (4.8+) · delete the three
#   secrets · force a redeployment · wait for the rollout · restore the overrides · endpoint health --cluster.
# What an operator does by eye (pick the ID, see that it is done) is done with jsonpath and grep.
# Prints "bench: backup SECONDS" (what the backup took) and "bench: patch EPOCH" at the redeploy patch.
# Every wait is bounded (WAIT_S, default 600 s).
set -eu
node=${1:?usage: manual-procedure.sh NODE BACKUP_DIR}
backup_dir=${2:?usage: manual-procedure.sh NODE BACKUP_DIR}
k=${KUBECTL:-kubectl}
ns=${NS:-openshift-etcd}
wait_s=${WAIT_S:-600}
image=${DEBUG_IMAGE:-registry.redhat.io/rhel9/support-tools}

# poll CMD... until it succeeds, every 0.5 s, for at most wait_s seconds
poll() {
	what=$1; shift
	end=$(( $(date +%s) + wait_s ))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || { echo "manual: timed out waiting for $what" >&2; exit 1; }
		sleep 0.5
	done
}

# 0. a healthy etcd pod on another node (oc get pods | grep -v quorum-guard | grep etcd; pick a 4/4 Running)
healthy=$($k get pods -n "$ns" -l k8s-app=etcd --no-headers | awk -v n="etcd-$node" '$1 != n && $3 == "Running" {print $1; exit}')
[ -n "$healthy" ] || { echo "manual: no healthy etcd pod" >&2; exit 1; }
ctl() { $k exec -n "$ns" "$healthy" -c etcdctl -- etcdctl "$@"; }

# prerequisite: an etcd backup
# (snapshot save takes one endpoint: the healthy pod's own member)
mkdir -p "$backup_dir"
t_backup=$(date +%s.%N)
url=$(ctl member list | awk -F', ' -v n="${healthy#etcd-}" '$3 == n {print $5}')
$k exec -n "$ns" "$healthy" -c etcdctl -- env ETCDCTL_ENDPOINTS="$url" etcdctl snapshot save "$backup_dir/snapshot.db" >/dev/null
awk -v a="$(date +%s.%N)" -v b="$t_backup" 'BEGIN { printf "bench: backup %.3f\n", a - b }'

# 1. stop the crash-looping pod: oc debug node/NODE; chroot /host; mkdir; mv manifest; mv data dir
dns=bench-debug-$$
$k create namespace "$dns" >/dev/null
dpod=$node-debug
$k run "$dpod" -n "$dns" --image="$image" --restart=Never --overrides='{"spec":{"nodeName":"'"$node"'",
 "hostNetwork":true,"hostPID":true,"tolerations":[{"operator":"Exists"}],
 "volumes":[{"name":"host","hostPath":{"path":"/","type":"Directory"}}],
 "containers":[{"name":"container-00","image":"'"$image"'","command":["sleep","3600"],
  "securityContext":{"privileged":true,"runAsUser":0},"volumeMounts":[{"name":"host","mountPath":"/host"}]}]}}' >/dev/null
$k wait -n "$dns" --for=condition=Ready "pod/$dpod" --timeout="${wait_s}s" >/dev/null
dx() { $k exec -n "$dns" "$dpod" -- chroot /host "$@"; }
stamp=$(date +%Y%m%dT%H%M%S)
dx mkdir -p "/var/lib/etcd-backup-$stamp"
dx mv /etc/kubernetes/manifests/etcd-pod.yaml "/var/lib/etcd-backup-$stamp/"
dx mv /var/lib/etcd "/var/lib/etcd-backup-$stamp/etcd"
$k delete namespace "$dns" --wait=false >/dev/null

# 2. remove the unhealthy member
ctl member list -w table >/dev/null
id=$(ctl member list | awk -F', ' -v n="$node" '$3 == n {print $1}')
[ -n "$id" ] || { echo "manual: no member named $node" >&2; exit 1; }
ctl member remove "$id" >/dev/null
ctl member list -w table | grep -q "$id" && { echo "manual: member $id still listed" >&2; exit 1; }

# 4.8+: open the quorum gate for the redeploy
$k patch etcd/cluster --type=merge \
	-p '{"spec":{"unsupportedConfigOverrides":{"useUnsupportedUnsafeNonHANonProductionUnstableEtcd":true}}}' >/dev/null

# 3. delete the removed member's secrets
$k get secrets -n "$ns" | grep "$node" >/dev/null
$k delete secret -n "$ns" "etcd-peer-$node" "etcd-serving-$node" "etcd-serving-metrics-$node" >/dev/null

# 4. force a redeployment
before=$($k get etcd/cluster -o jsonpath='{.status.latestAvailableRevision}')
$k patch etcd/cluster --type=merge \
	-p '{"spec":{"forceRedeploymentReason":"single-master-recovery-'"$(date --rfc-3339=ns)"'"}}' >/dev/null
echo "bench: patch $(date +%s.%N)"

# wait as an operator watches it: a new revision on every node, the new member voting, every pod Ready
rolled() {
	revs=$($k get etcd/cluster -o jsonpath='{.status.latestAvailableRevision} {range .status.nodeStatuses[*]}{.currentRevision} {end}')
	set -- $revs
	latest=$1; shift
	[ "$latest" -gt "$before" ] || return 1
	for r in "$@"; do [ "$r" = "$latest" ] || return 1; done
	$k get pods -n "$ns" -l k8s-app=etcd -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
		| grep -vq True && return 1
	ctl member list | grep ", $node, " | grep -q ', false$'
}
poll "the redeployment" rolled

# turn the quorum guard back on
$k patch etcd/cluster --type=merge -p '{"spec":{"unsupportedConfigOverrides":null}}' >/dev/null

# verification: every member healthy
ctl endpoint health --cluster
