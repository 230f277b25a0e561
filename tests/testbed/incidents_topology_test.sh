#!/bin/bash
# Incident states (docs/testbed-incidents.md), profile 4.14 at --speed 4:
#   up --arbiter arb-0 --names cp-0,cp-1: 2 control-plane nodes + 1 arbiter node (role label arbiter, not
#     master) running an etcd member; Infrastructure controlPlaneTopology HighlyAvailableArbiter; the Etcd
#     CR's observedConfig counts 3 control-plane replicas (2 + 1 arbiter);
#   --promote-delay 16: after the member of cp-1 is replaced (by-hand secrets-deleted, override, reason),
#     the operator adds it as a learner and promotes it only once it has "caught up": 16 simulated s = 4 s.
. "$(dirname "$0")/lib.sh"

tb_mkdir D
"$TESTBED" up "$D" --names cp-0,cp-1 --arbiter arb-0 --promote-delay 16 --speed 4 >/dev/null || fail "up --arbiter"
ok "up --arbiter arb-0 --names cp-0,cp-1 --promote-delay 16"
js() { status "$D" | tbjson "$1"; }
st=$(status "$D")
[ "$(echo "$st" | tbjson '[(n, d["nodes"][n]["role"], d["nodes"][n]["roles"]) for n in sorted(d["nodes"])]')" = \
	'[["arb-0", "arbiter", ["arbiter"]], ["cp-0", "master", ["control-plane", "master"]], ["cp-1", "master", ["control-plane", "master"]]]' ] ||
	fail "roles: $(echo "$st" | tbjson 'd["nodes"]')"
[ "$(echo "$st" | tbjson 'd["infrastructure"]["controlPlaneTopology"]')" = HighlyAvailableArbiter ] || fail "topology"
[ "$(echo "$st" | tbjson 'd["operator"]["observedConfig"]')" = '{"controlPlane": {"replicas": 3}}' ] || fail "observedConfig"
[ "$(echo "$st" | tbjson '" ".join("%s/%s/%s" % (m["name"], m["status"], m["isLearner"]) for m in d["etcd"]["members"])')" = \
	"arb-0/started/False cp-0/started/False cp-1/started/False" ] || fail "members"
[ "$(kc "$D" get nodes -l node-role.kubernetes.io/arbiter -o name)" = node/arb-0 ] || fail "arbiter label selector"
[ "$(kc "$D" get nodes -l node-role.kubernetes.io/master -o name | sort | tr '\n' ' ')" = "node/cp-0 node/cp-1 " ] || fail "master label selector"
kc "$D" get node arb-0 -o jsonpath='{.spec.taints[*].key}' | grep -qx node-role.kubernetes.io/arbiter || fail "arbiter taint"
pods_ready "$D" 3 || fail "3 etcd pods Ready"
[ "$(echo "$st" | tbjson '[p["node"] for p in d["pods"] if p["name"]=="etcd-arb-0"]')" = '["arb-0"]' ] || fail "etcd pod on the arbiter"
kc "$D" get configmap -n kube-system cluster-config-v1 -o jsonpath='{.data.install-config}' | grep -A2 '^arbiter:' | grep -q 'replicas: 1' ||
	fail "install-config arbiter replicas"
[ "$(echo "$st" | tbjson 'd["clusterversion"]["desired"]')" = 4.20.8 ] || fail "version"
ok "arbiter topology: arb-0 labelled arbiter (not master) runs a voting etcd member; HighlyAvailableArbiter; 3 replicas observed"

# --- a learner that is promoted only after the delay
"$TESTBED" by-hand "$D" cp-1 secrets-deleted >/dev/null || fail "by-hand"
kc "$D" patch etcd cluster --type=merge -p '{"spec": {"unsupportedConfigOverrides": {"useUnsupportedUnsafeNonHANonProductionUnstableEtcd": true}, "forceRedeploymentReason": "recovery-'"$(date +%s%N)"'"}}' >/dev/null ||
	fail "patch"
learner_started() { [ "$(js '[m["isLearner"] for m in d["etcd"]["members"] if m["name"]=="cp-1"]')" = "[true]" ]; }
voting() { [ "$(js '[m["isLearner"] for m in d["etcd"]["members"] if m["name"]=="cp-1"]')" = "[false]" ]; }
wait_for 60 "cp-1 to start as a learner" learner_started
t0=$(date +%s%N)
stays_for 2 "cp-1 stays a learner (not yet in sync)" learner_started
wait_for 20 "cp-1 promoted" voting
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 2000 ] || fail "promoted ${ms}ms after it was first seen started as a learner (want >= 2000)"
[ "$(js 'd["operator"]["conditions"]["ClusterMemberControllerDegraded"]["status"]')" = False ] || fail "member controller Degraded"
wait_for 60 "healthy again" members_are "$D" 3
ok "learner cp-1 promoted ${ms}ms after it was seen started (delay 16 simulated s = 4 s), no Degraded meanwhile"

"$TESTBED" down "$D" >/dev/null || fail "down"
no_processes_of "$D" || fail "processes left"
ok "down"
