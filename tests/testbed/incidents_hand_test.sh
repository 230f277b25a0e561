#!/bin/bash
# Incident states (docs/testbed-incidents.md), profile 4.14, 3 nodes at --speed 4, with m1's /var/lib/etcd on
# its own disk (--etcd-disk) and an upgrade in progress (--upgrading):
#   the mount: status lists it; `mv /var/lib/etcd /tmp` through a debug pod (chroot /host) fails with EBUSY;
#   ClusterVersion: newest history entry Partial without completionTime, the previous one Completed;
#   by-hand m2 secrets-deleted: manifest in /var/lib/etcd-backup/, data in /tmp/etcd, member and secrets gone,
#     and the operator (quorum gate: 2 voting members) does not re-issue them;
#   unstarted-member m2: a member with an empty name and no client URLs;
#   by-hand m1 manifest-moved fails with EBUSY; down unmounts everything.
. "$(dirname "$0")/lib.sh"

tb_mkdir D
"$TESTBED" up "$D" --names m0,m1,m2 --speed 4 --etcd-disk m1 --upgrading >/dev/null || fail "up"
ok "up --etcd-disk m1 --upgrading"
js() { status "$D" | tbjson "$1"; }

[ "$(js '[d["nodes"][n]["mounts"] for n in ("m0", "m1", "m2")]')" = '[[], ["/var/lib/etcd"], []]' ] || fail "status mounts"
grep -q " $D/nodes/m1/root/var/lib/etcd " /proc/self/mountinfo || fail "not a mount point on this machine"
# (kubectl 1.27, which /usr/bin/kubectl runs for 4.14's Kubernetes 1.27, knows no profile sysadmin)
out=$(kc "$D" debug node/m1 --profile=general --image=registry.redhat.io/rhel9/support-tools -- chroot /host sh -c 'mv /var/lib/etcd /tmp/etcd-moved 2>&1; echo "rc=$?"' 2>&1)
pod=$(echo "$out" | sed -n 's/.*debugging pod \([^ ]*\) .*/\1/p')
[ -n "$pod" ] || fail "no debug pod: $out"
wait_for 30 "debug pod $pod to finish" phase_is "$D" default "$pod" Succeeded
out=$(kc "$D" logs "$pod")
echo "$out" | grep -qi "resource busy" && echo "$out" | grep -q "^rc=1" || fail "mv through the debug pod: $out"
[ -d "$D/nodes/m1/root/var/lib/etcd/member" ] && [ ! -e "$D/nodes/m1/root/tmp/etcd-moved" ] || fail "the data dir moved"
ok "m1's /var/lib/etcd is a mount point; mv of it in a debug pod (chroot /host) fails: Resource busy"

cv=$(js 'd["clusterversion"]')
[ "$(echo "$cv" | tbjson '[d["desired"], d["history"], d["conditions"]["Progressing"]]')" = \
	'["4.14.20", [{"completionTime": null, "state": "Partial", "version": "4.14.20"}, {"completionTime": "2024-01-01T01:00:00Z", "state": "Completed", "version": "4.13.38"}], "True"]' ] ||
	fail "clusterversion: $cv"
kc "$D" get clusterversion version -o jsonpath='{.status.history[0].state}/{.status.history[1].state}' | grep -qx 'Partial/Completed' || fail "kubectl: history"
ok "clusterversion: 4.14.20 Partial (no completionTime) over 4.13.38 Completed, Progressing True"

old=$(js '[m["id"] for m in d["etcd"]["members"] if m["name"]=="m2"][0]')
"$TESTBED" by-hand "$D" m2 secrets-deleted >/dev/null || fail "by-hand secrets-deleted"
st=$(status "$D")
echo "$st" | tbjson 'd["nodes"]["m2"]["files"]["var/lib"]' | grep -q '/var/lib/etcd-backup/etcd-pod.yaml' || fail "manifest in /var/lib/etcd-backup"
echo "$st" | tbjson 'd["nodes"]["m2"]["files"]["tmp"]' | grep -q '/tmp/etcd/member/' || fail "data dir in /tmp/etcd"
echo "$st" | tbjson 'd["nodes"]["m2"]["files"]["etc/kubernetes/manifests"]' | grep -q 'etcd-pod.yaml' &&
	fail "manifest still there"
[ "$(echo "$st" | tbjson 'len(d["nodes"]["m2"]["etcd_processes"])')" = 0 ] || fail "etcd still runs on m2"
[ "$(echo "$st" | tbjson '" ".join(m["name"] for m in d["etcd"]["members"])')" = "m0 m1" ] || fail "members"
[ "$(echo "$st" | tbjson 'len([s for s in d["secrets"] if s["name"].endswith("-m2")])')" = 0 ] || fail "secrets of m2"
wait_for 20 "cert signer gated" condition_has "$D" EtcdCertSignerControllerDegraded "can't evaluate whether quorum is safe"
stays_for 2 "the secrets stay deleted (quorum gate)" sh -c "[ \"\$(kc $D get secrets -n openshift-etcd -o name | grep -c -- '-m2\$')\" = 0 ]"
ok "by-hand m2 secrets-deleted: manifest and data moved, member $old removed, secrets deleted and not re-issued (quorum gate)"

"$TESTBED" unstarted-member "$D" m2 >/dev/null || fail "unstarted-member"
m=$(js '[m for m in d["etcd"]["members"] if m["status"]=="unstarted"]')
[ "$(echo "$m" | tbjson '[(x["name"], x["clientURLs"], x["isLearner"], x["healthy"]) for x in d]')" = '[["", [], false, false]]' ] ||
	fail "unstarted member: $m"
ip=$(js 'd["nodes"]["m2"]["ip"]')
[ "$(echo "$m" | tbjson 'd[0]["peerURLs"]')" = "[\"https://$ip:2380\"]" ] || fail "peer URL"
ectl "$D" member list | grep -q ", unstarted, , https://$ip:2380, ," || fail "etcdctl member list: $(ectl "$D" member list)"
wait_for 20 "operator reports the unstarted member" condition_has "$D" EtcdMembersProgressing "NAME-PENDING-$ip has not started"
ok "unstarted-member m2: empty name, no client URLs, etcdctl shows it unstarted; the operator reports it"

out=$("$TESTBED" by-hand "$D" m1 manifest-moved 2>&1) && fail "by-hand on the mounted data dir succeeded"
echo "$out" | grep -q "Device or resource busy" || fail "by-hand message: $out"
ok "by-hand m1 manifest-moved: mv /var/lib/etcd/ /tmp fails with EBUSY"

"$TESTBED" down "$D" >/dev/null || fail "down"
no_processes_of "$D" || fail "processes left"
! grep -q " $D/" /proc/self/mountinfo || fail "mounts left after down: $(grep " $D/" /proc/self/mountinfo)"
"$TESTBED" down "$D" >/dev/null || fail "second down"
ok "down: no process and no mount left"
