#!/bin/bash
# Every refusal exits 3 and changes nothing: a node that does not exist, the healthy member's node named while
# another is unhealthy, missing permissions, no usable backup, the node's name and peer IP disagreeing, two members
# crash-looping. (A syntactically invalid node name is refused too, before any request.) A rollout stuck on the
# crash-looping node is not a refusal any more: it is repaired.
. "$(dirname "$0")/lib.sh"
tb_up refusals --names n-0,n-1,n-2 --profile 4.14

k8s() { KUBECONFIG=$TB/kubeconfig "$MEDIC" -e "local kc = assert(require('medic.k8s').connect{}); $1"; }

refused "no such node (healthy cluster)" "there is no node nope" --node nope --yes
expect "an invalid node name is refused" 3 medic --node 'n-1;reboot' --yes

crashloop n-1
refused "the named node's member is healthy, another is not" "member of n-0 is healthy" --node n-0 --yes
E2E_KUBECONFIG=$TB/kubeconfig-limited refused "missing permissions (no secret delete, no exec)" "missing permissions" --node n-1 --yes
refused "the given backup does not exist" "backup is not usable" --node n-1 --yes --backup "$E2E_TMP/no-such-snapshot.db"
(. "$TB/env" && ETCDCTL_ENDPOINTS=${ETCDCTL_ENDPOINTS%%,*} etcdctl snapshot save "$E2E_TMP/bare.db" >/dev/null 2>&1) ||
	die "etcdctl snapshot save"
refused "a bare snapshot: cluster-restore.sh needs the tarball too" "also needs the static pod resources" \
	--node n-1 --yes --backup "$E2E_TMP/bare.db"
expect "--snapshot-only accepts a bare snapshot (dry run)" 0 medic --node n-1 --dry-run --backup "$E2E_TMP/bare.db" \
	--snapshot-only
mkdir -p "$E2E_TMP/empty"
refused "a directory without the pair" "does not hold a backup" --node n-1 --yes --backup "$E2E_TMP/empty"

k8s 'assert(kc:patch("/api/v1/nodes/n-1/status", {status = {addresses = {{type = "InternalIP", address = "127.0.0.99"},
	{type = "Hostname", address = "n-1"}}}}, "merge"))' || die "patching the node address"
refused "the node's name and its member's peer IP disagree" "name and peer IP disagree" --node n-1 --yes
ip=$(. "$TB/env" && echo "$ETCDCTL_ENDPOINTS" | tr , '\n' | sed -n 2p | sed 's|https://||; s|:2379||')
k8s "assert(kc:patch('/api/v1/nodes/n-1/status', {status = {addresses = {{type = 'InternalIP', address = '$ip'},
	{type = 'Hostname', address = 'n-1'}}}}, 'merge'))" || die "restoring the node address"

# A rollout the operator cannot finish while n-1 crash-loops (forced, with the quorum guard opened by hand): the
# installer goes to n-1 first (not ready) and stays there, pending at its target revision with no timeout
# (library-go's installer controller). That is the crash-loop itself, so the repair goes ahead (issue 14), and the
# override the admin set is left as it was. A rollout installing on another node is refused: that decision is
# tested on exact nodeStatuses in tests/lua/crashloop_checks_spec.lua.
k8s 'assert(kc:patch("/apis/operator.openshift.io/v1/etcds/cluster", {spec = {forceRedeploymentReason = "test-rollout",
	unsupportedConfigOverrides = {useUnsupportedUnsafeNonHANonProductionUnstableEtcd = true}}}, "merge"))' ||
	die "forcing a rollout"
stuck_on_n1() {
	snap "$E2E_TMP/roll.json"
	python3 -c "import json, sys; op = json.load(open('$E2E_TMP/roll.json'))['operator']
sys.exit(not any(n['nodeName'] == 'n-1' and n.get('targetRevision', 0) not in (0, n.get('currentRevision'))
                 for n in op['nodeStatuses']))"
}
wait_for "the rollout to get stuck on n-1" 60 stuck_on_n1
snap "$E2E_TMP/r-before.json"
expect "a rollout stuck on the crash-looping node: repaired, not refused" 0 medic --node n-1 --yes
assert_repaired n-1 "$(tbq member-id "$E2E_TMP/r-before.json" n-1)" 3
snap "$E2E_TMP/r-after.json"
check "the override the admin set is left as it was" \
	test "$(tbq overrides "$E2E_TMP/r-after.json")" = "$(tbq overrides "$E2E_TMP/r-before.json")"
check "a repair during a rollout (etcd Progressing): its backup is marked __POSSIBLY_DIRTY__" \
	bash -c "compgen -G '$TB/state/backups/snapshot_*__POSSIBLY_DIRTY__.db' >/dev/null"

crashloop n-1
crashloop n-2
snap "$E2E_TMP/two-before.json"
from=$(($(wc -l <"$TB/medic.log") + 1))
expect "refused: two members crash-looping" 3 medic --yes
check "refused: two members crash-looping: for the right reason" \
	bash -c "tail -n +$from '$TB/medic.log' | grep -qE 'crash-looping on several nodes|2 members are unhealthy'"
snap "$E2E_TMP/two.json"
check "two crash-looping: no member removed" cmp -s <(tbq ids "$E2E_TMP/two-before.json") <(tbq ids "$E2E_TMP/two.json")
finish
