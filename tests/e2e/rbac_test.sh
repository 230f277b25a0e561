#!/bin/bash
# Each shipped procedure under the least-privilege role `etcd-medic rbac NAME` prints, on one testbed: a service
# account per procedure, its Roles, ClusterRole and bindings created through the API (the testbed decides a service
# account's requests by them, as Kubernetes' RBAC does), a TokenRequest token; then etcd-status, backup, defrag and
# the crash-looping member's repair run as that service account. Fails if a request was refused (a permission
# missing) or a permission granted was never exercised across the runs (one too many). With one permission removed,
# the repair is refused before any change, naming it.
. "$(dirname "$0")/lib.sh"

NS=openshift-etcd
rbacctl() { python3 "$E2E_REPO/tests/e2e/rbacctl.py" "$@"; }
sa_user() { echo "system:serviceaccount:$NS:etcd-medic-$1"; }

tb_up rbac
for s in etcd-status backup defrag replace-crashlooping-member; do
	"$MEDIC" rbac "$s" -o json >"$TB/$s.rbac.json" || die "etcd-medic rbac $s"
	rbacctl apply "$TB/kubeconfig" "$TB/$s.rbac.json" || die "creating $s's RBAC"
	rbacctl token "$TB/kubeconfig" "$NS" "etcd-medic-$s" "$TB/$s.kubeconfig" || die "a token for etcd-medic-$s"
done
"$MEDIC" rbac backup >"$TB/backup.rbac.yaml"
check "the YAML and the JSON say the same" python3 -c '
import json, sys, yaml
sys.exit(0 if list(yaml.safe_load_all(open(sys.argv[1]))) == json.load(open(sys.argv[2]))["items"] else 1)' \
	"$TB/backup.rbac.yaml" "$TB/backup.rbac.json"

# A lease of 1 s (a site file), so that every run that takes it renews it too (create, update, delete), however
# fast it goes.
echo 'require("medic.procedure.lease").DURATION = 1' >"$TB/short-lease.lua"

# as NAME ARGS...: `etcd-medic run NAME ARGS` with NAME's service account token; then what it exercised
as() {
	local s=$1; shift
	echo "+ $s $* (as etcd-medic-$s)" >>"$TB/medic.log"
	rbacctl reset "$TB/kubeconfig"
	KUBECONFIG=$TB/$s.kubeconfig timeout -k 5 120 "$MEDIC" run "$s" --site "$TB/short-lease.lua" "$@" \
		>>"$TB/medic.log" 2>&1
	local rc=$?
	rbacctl usage "$TB/kubeconfig" "$TB/$s.usage.$SECONDS.$RANDOM.json"  # two runs in one second: two files
	return $rc
}
exactly() {
	check "$1: every permission of its role exercised, none missing" \
		rbacctl check "$TB/$1.rbac.json" "$(sa_user "$1")" "$TB/$1".usage.*.json
}

# the report's ConfigMap (as a Job keeps it), created and then updated
expect "etcd-status as its service account" 0 as etcd-status --report-configmap etcd-medic-report
expect "etcd-status again (the report updated)" 0 as etcd-status --report-configmap etcd-medic-report
exactly etcd-status

# the journal in the cluster, as a Job keeps it (--journal cluster: created, updated, finished, the old ones listed)
expect "backup --on-node as its service account" 0 as backup --yes --on-node --state-dir "$TB/state" --journal cluster
exactly backup
expect "defrag as its service account" 0 as defrag --yes --pause 0 --poll-interval 0.3 --state-dir "$TB/state" \
	--journal cluster
exactly defrag

# The repair: refused with one permission less (before any change, naming it), then done with its whole role.
crashloop master-1
old_id=$(snap "$TB/cl.json"; tbq member-id "$TB/cl.json" master-1)
rbacctl drop-verb "$TB/replace-crashlooping-member.rbac.json" delete secrets "$TB/less.json"
rbacctl apply "$TB/kubeconfig" "$TB/less.json" || die "the role without delete secrets"
rbacctl reset "$TB/kubeconfig"
E2E_KUBECONFIG=$TB/replace-crashlooping-member.kubeconfig \
	refused "without delete secrets" "missing permissions: delete secrets in $NS" --node master-1 --yes
rbacctl usage "$TB/kubeconfig" "$TB/replace-crashlooping-member.usage.refused.json"
check "the refused run was refused nothing by the API server (it asked first)" python3 -c '
import json, sys
sys.exit(1 if json.load(open(sys.argv[1]))["usage"].get(sys.argv[2], {}).get("denied") else 0)' \
	"$TB/replace-crashlooping-member.usage.refused.json" "$(sa_user replace-crashlooping-member)"
rbacctl apply "$TB/kubeconfig" "$TB/replace-crashlooping-member.rbac.json" || die "the whole role again"
rbacctl reset "$TB/kubeconfig"
E2E_KUBECONFIG=$TB/replace-crashlooping-member.kubeconfig expect "the repair as its service account" 0 \
	medic --node master-1 --yes --site "$TB/short-lease.lua" --journal cluster
rbacctl usage "$TB/kubeconfig" "$TB/replace-crashlooping-member.usage.run.json"
assert_repaired master-1 "$old_id" 3
exactly replace-crashlooping-member
finish
