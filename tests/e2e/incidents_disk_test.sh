#!/bin/bash
# Real incidents (issue 14): /var/lib/etcd on a disk of its own (a mount point: rename(2) gives EBUSY), and a
# crash-loop that started with a new revision (the rollout stuck on the node, for ever, as the installer leaves it).
# Each ends healthy, with the overrides as before and nothing deleted on the node.
. "$(dirname "$0")/lib.sh"
tb_up disk --names d-0,d-1,d-2 --profile 4.14 --etcd-disk d-1

crashloop d-1
snap "$E2E_TMP/before.json"
old_id=$(tbq member-id "$E2E_TMP/before.json" d-1)
expect "etcd on its own disk: repaired" 0 medic --node d-1 --yes
assert_repaired_disk() {
	local file=$E2E_TMP/disk.json
	snap "$file"
	check "all 3 members started, healthy, voting; pods Ready; nodes at the latest revision" tbq healthy "$file" 3
	check "d-1 has a new member ID" test -n "$(tbq member-id "$file" d-1)" -a "$(tbq member-id "$file" d-1)" != "$old_id"
	check "/var/lib/etcd is still d-1's mount point" tbq mounted "$file" d-1 /var/lib/etcd
	check "the old data dir is kept on the same disk (/var/lib/etcd/etcd-medic-*/member)" \
		tbq has-file "$file" d-1 '^/var/lib/etcd/etcd-medic-[^/]+/member/$'
	check "the old manifest is kept (/var/lib/etcd-backup/etcd-medic-*/etcd-pod.yaml)" \
		tbq has-file "$file" d-1 '^/var/lib/etcd-backup/etcd-medic-[^/]+/etcd-pod\.yaml$'
	check "unsupportedConfigOverrides as before" test "$(tbq overrides "$file")" = "$(tbq overrides "$E2E_TMP/before.json")"
}
assert_repaired_disk

# the rollout stuck on the node: a new revision, and d-2's etcd crash-looping at it
"$TESTBED" crashloop "$TB" d-2 --at-new-revision >/dev/null || die "crashloop --at-new-revision"
wait_for "d-2 crash-looping at the new revision" 120 is_crashlooping d-2
snap "$E2E_TMP/stuck.json"
old2=$(tbq member-id "$E2E_TMP/stuck.json" d-2)
expect "a rollout stuck on the node itself: repaired, not refused" 0 medic --node d-2 --yes
assert_repaired d-2 "$old2" 3
snap "$E2E_TMP/stuck-after.json"
check "stuck rollout: unsupportedConfigOverrides as before" \
	test "$(tbq overrides "$E2E_TMP/stuck-after.json")" = "$(tbq overrides "$E2E_TMP/stuck.json")"
finish
