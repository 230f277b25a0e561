#!/bin/bash
# Five control-plane nodes on 4.14, the member on the last node, through debug pods, with --backup naming the
# directory of a backup taken beforehand by `etcd-medic run backup` (both files verified, not retaken).
. "$(dirname "$0")/lib.sh"

tb_up five --names cp-0,cp-1,cp-2,cp-3,cp-4 --profile 4.14
node=cp-4

KUBECONFIG=$TB/kubeconfig "$MEDIC" run backup --state-dir "$TB/state" --yes --dir "$E2E_TMP/taken" >>"$TB/medic.log" \
	2>&1 || die "etcd-medic run backup"
crashloop "$node"
snap "$E2E_TMP/broken.json"
old_id=$(tbq member-id "$E2E_TMP/broken.json" "$node")

expect "a file that is not a snapshot is refused" 3 medic --node "$node" --yes --backup /etc/hostname
expect "repair with --backup DIR (a pair taken by etcd-medic run backup)" 0 medic --node "$node" --yes \
	--backup "$E2E_TMP/taken"
assert_repaired "$node" "$old_id" 5
check "no snapshot taken by the run" test ! -d "$TB/state/backups"
snap "$E2E_TMP/after.json"
check "the other four members kept their IDs" cmp -s <(tbq ids "$E2E_TMP/broken.json" | grep -v "^$node ") \
	<(tbq ids "$E2E_TMP/after.json" | grep -v "^$node ")
finish
