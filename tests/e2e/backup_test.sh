#!/bin/bash
# `etcd-medic run backup` on one testbed (issue 17): the platform's pair at the pods' revisions, mode 0600, that
# `etcdctl snapshot status` accepts, proved by a restore drill; a Progressing ClusterOperator refuses (exit 3) and
# --force marks the pair __POSSIBLY_DIRTY__; --keep 2 after three runs leaves two; a run killed (SIGKILL) during the
# tarball leaves nothing that looks complete and the same command finishes it; --on-node and --local; behind a
# proxy (HTTPS_PROXY).
. "$(dirname "$0")/lib.sh"
tb_up backup --names b-0,b-1,b-2
BC="python3 $E2E_REPO/tests/e2e/backupcheck.py"

backup() {
	echo "+ backup $*" >>"$TB/medic.log"
	KUBECONFIG=$TB/kubeconfig timeout -k 5 120 "$MEDIC" run backup --state-dir "$TB/state" --yes "$@" \
		>>"$TB/medic.log" 2>&1
}
progressing() { snap "$E2E_TMP/p.json" && python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["clusteroperators"][sys.argv[2]]["Progressing"]["status"])' "$E2E_TMP/p.json" "$1"; }

(. "$TB/env" && for i in 1 2 3 4 5 6 7; do etcdctl put "/e2e/backup/$i" "value $i" >/dev/null || exit 1; done) ||
	die "etcdctl put"

D=$E2E_TMP/backups
expect "a backup with a restore drill" 0 backup --dir "$D" --verify-restore
snap "$E2E_TMP/s1.json"
check "one pair at the pods' revisions, 0600, accepted by etcdctl snapshot status" $BC pair "$E2E_TMP/s1.json" "$D"
check "the drill compared revision and keys" grep -q "as the cluster held at that revision" "$TB/medic.log"

"$TESTBED" progressing "$TB" kube-scheduler >/dev/null || die "testbed progressing"
check "testbed status: kube-scheduler Progressing" test "$(progressing kube-scheduler)" = True
expect "refused while kube-scheduler is Progressing" 3 backup --dir "$D"
check "nothing added by the refusal" test "$($BC count "$D")" = 1
F=$E2E_TMP/forced
expect "--force takes it anyway" 0 backup --dir "$F" --force
snap "$E2E_TMP/s2.json"
check "--force: the pair is marked __POSSIBLY_DIRTY__" $BC pair "$E2E_TMP/s2.json" "$F" --dirty
"$TESTBED" progressing "$TB" kube-scheduler --off >/dev/null || die "testbed progressing --off"

K=$E2E_TMP/kept
for i in 1 2 3; do expect "--keep 2, run $i" 0 backup --dir "$K" --keep 2; done
check "--keep 2 after three runs leaves two" test "$($BC count "$K")" = 2
check "--keep 2: two tarballs, two manifests" test "$(ls "$K"/static_kuberesources_*.tar.gz "$K"/*.json | wc -l)" = 4

# SIGKILL while the tarball streams (its exec held back 15 s by a fault): nothing looks complete; the re-run finishes
X=$E2E_TMP/killed
"$TESTBED" fault "$TB" --method GET --path 'exec\?.*command=tar' --delay 15 --count 1 >/dev/null || die "fault"
KUBECONFIG=$TB/kubeconfig "$MEDIC" run backup --state-dir "$TB/state" --yes --dir "$X" >>"$TB/medic.log" 2>&1 &
pid=$!
tarball_started() { compgen -G "$X/.etcd-medic-partial-*/static_kuberesources_*.tar.gz.*" >/dev/null; }
wait_for "the tarball to start" 60 tarball_started
kill -9 "$pid"; wait "$pid" 2>/dev/null
check "killed during the tarball: no file looks complete" $BC incomplete "$X"
KUBECONFIG=$TB/kubeconfig "$MEDIC" run etcd-status --state-dir "$TB/state" >"$E2E_TMP/status.txt" 2>&1
check "etcd-status lists the unfinished backup with its resume command" \
	grep -q "backup of b-.*resume with etcd-medic run backup" "$E2E_TMP/status.txt"
check "etcd-status: an unfinished backup is no repair in progress" grep -q "^verdict: HEALTHY" "$E2E_TMP/status.txt"
"$TESTBED" fault "$TB" --clear >/dev/null
expect "the same command again finishes it" 0 backup --dir "$X"
snap "$E2E_TMP/s3.json"
check "after the re-run: one whole pair, no leftovers" $BC pair "$E2E_TMP/s3.json" "$X"

L=$E2E_TMP/local
root=$TB/nodes/b-1/root
expect "--local (the node's files read natively) --on-node" 0 backup --dir "$L" --local --node b-1 --root "$root" --on-node
snap "$E2E_TMP/s4.json"
check "--local: one pair" $BC pair "$E2E_TMP/s4.json" "$L"
check "--on-node: the pair is also in /home/core/assets/backup on b-1" \
	$BC node-pair "$E2E_TMP/s4.json" /home/core/assets/backup "$root"
expect "--on-node through a debug pod" 0 backup --dir "$E2E_TMP/remote" --node b-2 --on-node --node-dir /var/backup
check "--on-node: the pair is in /var/backup on b-2" $BC node-pair "$E2E_TMP/s4.json" /var/backup "$TB/nodes/b-2/root"
# behind a proxy: every request (and the exec streams) through HTTPS_PROXY's CONNECT tunnels
python3 tests/e2e/connect_proxy.py "$E2E_TMP/proxy.port" "$E2E_TMP/proxy.log" &
proxy=$!
wait_for "the proxy to listen" 20 test -s "$E2E_TMP/proxy.port"
api=$(sed -n 's|.*server: https://||p' "$TB/kubeconfig" | head -1)
HTTPS_PROXY=http://127.0.0.1:$(cat "$E2E_TMP/proxy.port") NO_PROXY= no_proxy= expect "behind HTTPS_PROXY" 0 \
	backup --dir "$E2E_TMP/proxied"
kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null
check "behind HTTPS_PROXY: the API server ($api) was reached through the proxy" grep -qx "CONNECT $api" "$E2E_TMP/proxy.log"
check "behind HTTPS_PROXY: one pair" test "$($BC count "$E2E_TMP/proxied")" = 1
snap "$E2E_TMP/s5.json"
check "no lease left" tbq no-lease "$E2E_TMP/s5.json"
finish
