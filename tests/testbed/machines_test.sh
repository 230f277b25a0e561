#!/bin/bash
# Machines that die and are replaced (docs/testbed-machines.md), two testbeds at once, the documented
# procedure done by hand with kubectl and etcdctl:
#   A: --machines cpms (4.14): stop a machine; remove its member, turn the quorum guard off, delete the Node,
#      its secrets, its Machine; the ControlPlaneMachineSet makes a replacement in the same zone, whose node
#      (new name, new IP, empty disk) the operator adds as a voting member.
#   B: UPI (4.16): stop a machine; the same by hand; `add-host` plays the admin who boots a new host; its CSRs
#      approved with `kubectl certificate approve`; the new node becomes a voting member.
# Every check reads `testbed status` (the truth).
. "$(dirname "$0")/lib.sh"

tb_mkdir A
tb_mkdir B
t0=$SECONDS
"$TESTBED" up "$A" --machines cpms --provision-delay 2 --speed 2 >"$A.out" 2>&1 &
pa=$!
"$TESTBED" up "$B" --profile 4.16 --provision-delay 2 --speed 2 >"$B.out" 2>&1 &
pb=$!
wait "$pa" || { cat "$A.out"; fail "up --machines cpms"; }
wait "$pb" || { cat "$B.out"; fail "up UPI"; }
rm -f "$A.out" "$B.out"
ok "two testbeds up at once in $((SECONDS - t0))s"

st() { status "$1" | tbjson "$2"; }
machines() { st "$1" '" ".join("/".join([m["phase"], ",".join(m["preDrainHooks"]), m["zone"]]) for m in d["machines"])'; }
H=EtcdQuorumOperator
[ "$(machines "$A")" = "Running/$H/us-east-1a Running/$H/us-east-1b Running/$H/us-east-1c" ] ||
	fail "A: 3 master Machines Running with the operator's deletion hook, one per zone"
[ "$(st "$A" 'd["controlplanemachineset"]["state"] + " " + str(d["controlplanemachineset"]["readyReplicas"])')" = \
	"Active 3" ] || fail "A: an Active ControlPlaneMachineSet with 3 ready replicas"
[ "$(st "$A" 'd["nodes"]["master-1"]["machine"]')" = "$(st "$A" 'd["machines"][1]["name"]')" ] ||
	fail "A: Node -> Machine annotation"
[ "$(st "$B" 'str(len(d["machines"])) + " " + str(d["controlplanemachineset"])')" = "0 None" ] ||
	fail "B: UPI has no Machine"
ok "A: Machines, hooks, zones, CPMS; B: no Machine API objects"

# --- a machine powers off
"$TESTBED" stop-machine "$A" master-1 >/dev/null || fail "A: stop-machine"
"$TESTBED" stop-machine "$B" master-2 >/dev/null || fail "B: stop-machine"
stopped() { # DIR NODE INDEX: Node ready, powered, etcd processes, its Machine's phase, its member's health
	st "$1" '(lambda n: " ".join(str(x) for x in (n["ready"], n["powered"], n["etcd_processes"],
		d["machines"]['"$3"']["phase"], [m["healthy"] for m in d["etcd"]["members"] if m["name"] == "'"$2"'"])))(
		d["nodes"]["'"$2"'"])'
}
[ "$(stopped "$A" master-1 1)" = "Unknown False [] Running [False]" ] ||
	fail "A: Node Unknown, machine off, no etcd, Machine still Running, member unhealthy"
st "$A" 'd["nodes"]["master-1"]["taints"]' | grep -q 'node.kubernetes.io/unreachable:NoExecute' || fail "A: unreachable taint"
condition_has "$A" NodeControllerDegraded 'node "master-1" not ready' || fail "A: NodeControllerDegraded names master-1"
ok "stop-machine: Node NotReady with the unreachable taints, etcd gone, Machine Running, operator degraded"

# --- the documented steps, by hand
by_hand() { # DIR NODE
	local id
	id=$(ectl "$1" member list | awk -F', ' -v n="$2" '$3 == n { print $1 }')
	[ -n "$id" ] || fail "$1: no member $2"
	ectl "$1" member remove "$id" >/dev/null || fail "$1: member remove"
	kc "$1" patch etcd cluster --type=merge \
		-p '{"spec":{"unsupportedConfigOverrides":{"useUnsupportedUnsafeNonHANonProductionUnstableEtcd":true}}}' >/dev/null ||
		fail "$1: quorum guard off"
	kc "$1" delete node "$2" >/dev/null || fail "$1: delete node"
	kc "$1" delete secret -n openshift-etcd "etcd-peer-$2" "etcd-serving-$2" "etcd-serving-metrics-$2" >/dev/null ||
		fail "$1: delete secrets"
}
by_hand "$A" master-1
by_hand "$B" master-2
old=$(st "$A" 'd["machines"][1]["name"]')
kc "$A" delete machine -n openshift-machine-api "$old" --wait=false >/dev/null || fail "A: delete machine"
"$TESTBED" add-host "$B" --name master-3 >/dev/null || fail "B: add-host"
csr=$(kc "$B" get csr -o name)
[ "$(st "$B" '" ".join(c["condition"] for c in d["csrs"])')" = Pending ] || fail "B: one pending CSR"
kc "$B" certificate approve "$csr" >/dev/null || fail "B: approve the client CSR"
serving_pending() { kc "$B" get csr --no-headers | grep -q 'kubelet-serving .*Pending'; }
wait_for 20 "B: the kubelet's serving CSR" serving_pending
kc "$B" certificate approve "$(kc "$B" get csr --no-headers | awk '/Pending/ {print $1}')" >/dev/null || fail "B: approve"

settled() { # DIR: 3 voting healthy members, every node Ready at the latest revision
	members_are "$1" 3 && [ "$(st "$1" '(lambda o: len(o["nodeStatuses"]) == 3 and all(
		s["currentRevision"] == o["latestAvailableRevision"] and "targetRevision" not in s
		and d["nodes"][s["nodeName"]]["ready"] == "True" for s in o["nodeStatuses"]))(d["operator"])')" = true ]
}
wait_for 120 "A: the replacement's member voting, revisions settled" settled "$A"
wait_for 120 "B: the new host's member voting, revisions settled" settled "$B"
ok "replacements joined in $((SECONDS - t0))s since up"

new=$(st "$A" '[m["name"] for m in d["machines"] if m["name"].endswith("-1")][0]')
[ "$new" != "$old" ] || fail "A: the replacement has a new name"
[ "$(st "$A" '" ".join(str(x) for x in (len(d["machines"]), [m["zone"] for m in d["machines"]
	if m["name"] == "'"$new"'"], d["gone_nodes"], "master-1" in d["nodes"]))')" = "3 ['us-east-1b'] ['master-1'] False" ] ||
	fail "A: old Machine and Node gone, the replacement in zone us-east-1b"
[ "$(st "$A" '[m["name"] for m in d["etcd"]["members"]]' | grep -c "$new")" = 1 ] || fail "A: the new node's member is named after it"
ip_old=$(st "$A" 'sorted(n["ip"] for n in d["nodes"].values())')
echo "$ip_old" | grep -q '\.14"' || fail "A: the new node has a new IP (.14): $ip_old"
[ "$(st "$B" '" ".join(sorted(m["name"] for m in d["etcd"]["members"])) + " " + d["nodes"]["master-3"]["ready"]')" = \
	"master-0 master-1 master-3 True" ] || fail "B: members master-0 master-1 master-3"
[ "$(st "$B" '" ".join(c["condition"] for c in d["csrs"])')" = "Approved Approved" ] || fail "B: both CSRs approved"
ok "A: CPMS replacement $new in the same zone, new IP; B: the admin's new host master-3 is a voting member"

# a saved Machine created again as it was (a raw client; kubectl create clears resourceVersion itself): refused,
# as a real API server refuses a set resourceVersion
out=$("$PY" - "$TB_HERE" "$A" "$new" <<'PYEOF' 2>&1
import sys
sys.path.insert(0, sys.argv[1])
import tbconfig, tbstatus
layout, name = tbconfig.Layout(sys.argv[2]), sys.argv[3]
path = "/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machines"
m = tbstatus.api_request(layout, "GET", path + "/" + name)
m["metadata"]["name"] = name + "-copy"
try:
    tbstatus.api_request(layout, "POST", path, m)
    print("created")
except tbstatus.ApiFailure as e:
    print(e)
PYEOF
)
echo "$out" | grep -q "HTTP 500: Internal error occurred: resourceVersion should not be set on objects to be created" ||
	fail "A: a saved Machine with its resourceVersion: $out"
ok "A: a saved Machine that was not stripped is refused (resourceVersion set)"

"$TESTBED" down "$A" >/dev/null || fail "A: down"
no_processes_of "$A" || fail "A: the replacement's processes outlived down"
ok "A: down stops the replacement node's etcd too"
