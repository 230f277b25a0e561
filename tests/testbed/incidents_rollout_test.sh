#!/bin/bash
# Incident states (docs/testbed-incidents.md), profile 4.14, 3 nodes at --speed 4:
#   crashloop --recovered: 2 failed starts (exit 1), then Running and Ready: restartCount 2, lastState exit 1,
#     and the operator does not call it crash-looping (StaticPodsDegraded False);
#   crashloop --at-new-revision: revision N+1, the installer moves master-0 (first in nodeStatuses) to N+1,
#     then master-1, whose etcd crash-loops there: currentRevision N, targetRevision N+1, pending with no
#     timeout; master-2 stays at N.
. "$(dirname "$0")/lib.sh"

tb_mkdir D
"$TESTBED" up "$D" --speed 4 >/dev/null || fail "up"
ok "up"
js() { status "$D" | tbjson "$1"; }

# --- recovered
"$TESTBED" crashloop "$D" master-2 --recovered >/dev/null || fail "crashloop --recovered"
c=$(js '[p["containers"]["etcd"] for p in d["pods"] if p["name"]=="etcd-master-2"][0]')
[ "$(echo "$c" | tbjson '[d["state"], d["ready"], d["restartCount"], d["lastState"], d["lastExitCode"]]')" = \
	'["running", true, 2, "terminated", 1]' ] || fail "recovered etcd-master-2: $c"
[ "$(js '[p["ready"] for p in d["pods"] if p["name"]=="etcd-master-2"][0]')" = true ] || fail "pod Ready"
kc "$D" get pod -n openshift-etcd etcd-master-2 -o jsonpath='{.status.containerStatuses[?(@.name=="etcd")].lastState.terminated.message}' |
	grep -q 'not found in member list, check operator logs for possible scaling problems' || fail "termination message"
wait_for 20 "operator settled" healthy_cluster "$D" 3
[ "$(js 'd["operator"]["conditions"]["StaticPodsDegraded"]["status"]')" = False ] || fail "StaticPodsDegraded"
ok "crashloop --recovered: Running and Ready, restartCount 2, lastState.terminated exitCode 1; not Degraded"

# --- stuck rollout
n=$(js 'd["operator"]["latestAvailableRevision"]')
t0=$SECONDS
"$TESTBED" crashloop "$D" master-1 --at-new-revision >/dev/null || fail "crashloop --at-new-revision"
ok "crashloop --at-new-revision: stuck in $((SECONDS - t0))s"
st=$(status "$D")
want="[{\"currentRevision\": $((n + 1)), \"nodeName\": \"master-0\"}, {\"currentRevision\": $n, \"nodeName\": \"master-1\", \"targetRevision\": $((n + 1))}, {\"currentRevision\": $n, \"nodeName\": \"master-2\"}]"
[ "$(echo "$st" | tbjson 'd["operator"]["nodeStatuses"]')" = "$want" ] || fail "nodeStatuses: $(echo "$st" | tbjson 'd["operator"]["nodeStatuses"]')"
[ "$(echo "$st" | tbjson 'd["operator"]["latestAvailableRevision"]')" = $((n + 1)) ] || fail "latestAvailableRevision"
[ "$(echo "$st" | tbjson '" ".join("%s=%s" % (p["name"], p["revision"]) for p in d["pods"] if p["name"].startswith("etcd-master"))')" = \
	"etcd-master-0=$((n + 1)) etcd-master-1=$((n + 1)) etcd-master-2=$n" ] || fail "pod revisions"
# between two crashes the container is waiting (CrashLoopBackOff) or has just terminated (Error), or runs for a
# moment: sampled until it shows one of the first two, as a crash-loop does within seconds
looping_m1() {
	status "$D" | tbjson '[p["containers"]["etcd"]["reason"] for p in d["pods"] if p["name"]=="etcd-master-1"][0]' |
		grep -qxE 'CrashLoopBackOff|Error'
}
wait_for 20 "etcd-master-1 crash-looping (CrashLoopBackOff or Error)" looping_m1
[ "$(echo "$st" | tbjson 'd["operator"]["conditions"]["NodeInstallerProgressing"]["status"]')" = True ] || fail "NodeInstallerProgressing"
echo "$st" | tbjson 'd["operator"]["conditions"]["NodeInstallerProgressing"]["message"]' |
	grep -qF "2 nodes are at revision $n; 1 node is at revision $((n + 1))" || fail "NodeInstallerProgressing message"
[ "$(echo "$st" | tbjson 'd["operator"]["conditions"]["StaticPodsDegraded"]["status"]')" = True ] || fail "StaticPodsDegraded"
ok "nodeStatuses: master-0 at $((n + 1)); master-1 current $n target $((n + 1)), crash-looping; master-2 at $n"
still() { [ "$(status "$D" | tbjson 'd["operator"]["nodeStatuses"]')" = "$want" ]; }
stays_for 4 "the rollout stays pending (no installer timeout)" still
[ ! -e "$D/nodes/master-1/kubelet/corrupt-at-revision" ] || fail "control file left behind"
ok "pending: still current $n / target $((n + 1)) on master-1 after 4s (16 simulated)"

"$TESTBED" down "$D" >/dev/null || fail "down"
no_processes_of "$D" || fail "processes left"
ok "down"
