#!/bin/bash
# Every refusal exits 3 and changes nothing: a node that does not exist, the healthy member's node named while
# another is unhealthy, missing permissions, no usable backup, the node's name and peer IP disagreeing, a rollout
# in progress, two members crash-looping. (A syntactically invalid node name is refused too, before any request.)
. "$(dirname "$0")/lib.sh"
tb_up refusals --names n-0,n-1,n-2 --profile 4.14

k8s() { KUBECONFIG=$TB/kubeconfig "$MEDIC" -e "local kc = assert(require('medic.k8s').connect{}); $1"; }

refused "no such node (healthy cluster)" "there is no node nope" --node nope --yes
expect "an invalid node name is refused" 3 medic --node 'n-1;reboot' --yes

crashloop n-1
refused "the named node's member is healthy, another is not" "member of n-0 is healthy" --node n-0 --yes
E2E_KUBECONFIG=$TB/kubeconfig-limited refused "missing permissions (no secret delete, no exec)" "missing permissions" --node n-1 --yes
refused "the given backup does not exist" "backup is not usable" --node n-1 --yes --backup "$E2E_TMP/no-such-snapshot.db"

k8s 'assert(kc:patch("/api/v1/nodes/n-1/status", {status = {addresses = {{type = "InternalIP", address = "127.0.0.99"},
	{type = "Hostname", address = "n-1"}}}}, "merge"))' || die "patching the node address"
refused "the node's name and its member's peer IP disagree" "name and peer IP disagree" --node n-1 --yes
ip=$(. "$TB/env" && echo "$ETCDCTL_ENDPOINTS" | tr , '\n' | sed -n 2p | sed 's|https://||; s|:2379||')
k8s "assert(kc:patch('/api/v1/nodes/n-1/status', {status = {addresses = {{type = 'InternalIP', address = '$ip'},
	{type = 'Hostname', address = 'n-1'}}}}, 'merge'))" || die "restoring the node address"

# A rollout the operator cannot finish while n-1 crash-loops (forced, with the quorum gate opened by hand).
k8s 'assert(kc:patch("/apis/operator.openshift.io/v1/etcds/cluster", {spec = {forceRedeploymentReason = "test-rollout",
	unsupportedConfigOverrides = {useUnsupportedUnsafeNonHANonProductionUnstableEtcd = true}}}, "merge"))' ||
	die "forcing a rollout"
rolling() {
	snap "$E2E_TMP/roll.json"
	python3 -c "import json, sys; op = json.load(open('$E2E_TMP/roll.json'))['operator']
sys.exit(not any(n.get('currentRevision') != op['latestAvailableRevision'] for n in op['nodeStatuses']))"
}
wait_for "a rollout to start" 60 rolling
snap "$E2E_TMP/r-before.json"
expect "refused: a rollout is in progress" 3 medic --node n-1 --yes
check "refused: a rollout is in progress: for the right reason" grep -q "rollout is in progress" "$TB/medic.log"
snap "$E2E_TMP/r-after.json"
check "rollout in progress: no member removed" cmp -s <(tbq ids "$E2E_TMP/r-before.json") <(tbq ids "$E2E_TMP/r-after.json")
check "rollout in progress: no journal" test ! -e "$TB/state/replace-crashlooping-member-"*.journal

crashloop n-2
# The stuck rollout may be re-installing n-1's pod at this moment, so it can look pending rather than crash-looping:
# then the refusal comes from the member check (two unhealthy members) instead of the pod check. Both are right.
wait_for "n-1 crash-looping again" 60 is_crashlooping n-1
from=$(($(wc -l <"$TB/medic.log") + 1))
expect "refused: two members crash-looping" 3 medic --yes
check "refused: two members crash-looping: for the right reason" \
	bash -c "tail -n +$from '$TB/medic.log' | grep -qE 'crash-looping on several nodes|2 members are unhealthy'"
snap "$E2E_TMP/two.json"
check "two crash-looping: no member removed" cmp -s <(tbq ids "$E2E_TMP/r-before.json") <(tbq ids "$E2E_TMP/two.json")
finish
