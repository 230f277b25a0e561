#!/bin/bash
# Five control-plane nodes on 4.14, the member on the last node, through debug pods, with --backup naming a
# snapshot taken beforehand (verified, not retaken).
. "$(dirname "$0")/lib.sh"

tb_up five --names cp-0,cp-1,cp-2,cp-3,cp-4 --profile 4.14
node=cp-4

(. "$TB/env" && ETCDCTL_ENDPOINTS=${ETCDCTL_ENDPOINTS%%,*} etcdctl snapshot save "$E2E_TMP/taken.db" >/dev/null) ||
	die "etcdctl snapshot save"
crashloop "$node"
snap "$E2E_TMP/broken.json"
old_id=$(tbq member-id "$E2E_TMP/broken.json" "$node")

expect "a file that is not a snapshot is refused" 3 medic --node "$node" --yes --backup /etc/hostname
expect "repair with --backup" 0 medic --node "$node" --yes --backup "$E2E_TMP/taken.db"
assert_repaired "$node" "$old_id" 5
check "no snapshot taken by the run" test ! -d "$TB/state/backups"
snap "$E2E_TMP/after.json"
check "the other four members kept their IDs" cmp -s <(tbq ids "$E2E_TMP/broken.json" | grep -v "^$node ") \
	<(tbq ids "$E2E_TMP/after.json" | grep -v "^$node ")
finish
