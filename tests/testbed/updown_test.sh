#!/bin/bash
# The CLI's contract: usage errors exit 2; an `up` that cannot get healthy fails, says why and leaves no
# process; a directory that holds a testbed is not reused; `down` is idempotent and also cleans up after a
# daemon that was killed (its etcd processes included); `status` of a stopped testbed still answers;
# --speed makes a faster testbed (1 node here).
. "$(dirname "$0")/lib.sh"

expect_exit() { # CODE CMD...
	local want=$1 got
	shift
	"$@" >/dev/null 2>&1
	got=$?
	[ "$got" = "$want" ] || fail "exit $got, want $want: $*"
}
tb_mkdir D
expect_exit 2 "$TESTBED"
expect_exit 2 "$TESTBED" up "$D" --profile 9.9
expect_exit 2 "$TESTBED" up "$D" --names 'Bad_Name'
expect_exit 2 "$TESTBED" up "$D" --names a,a
expect_exit 2 "$TESTBED" up "$D" --speed 0
expect_exit 2 "$TESTBED" up "$D" --names a,b,c --arbiter z
expect_exit 2 "$TESTBED" up "$D" --names a,b --arbiter a
expect_exit 2 "$TESTBED" up "$D" --names a,b --etcd-disk c
expect_exit 2 "$TESTBED" up "$D" --promote-delay -1
expect_exit 2 "$TESTBED" by-hand "$D" a nonsense-step
expect_exit 2 "$TESTBED" crashloop "$D" a --at-new-revision --recovered
expect_exit 1 "$TESTBED" status "$D"
expect_exit 1 "$TESTBED" down "$D/nonexistent"
ok "usage errors exit 2, a missing testbed exits 1"

out=$("$TESTBED" up "$D" --names s0,s1,s2 --timeout 1 2>&1) && fail "up with a 1 s health timeout succeeded"
echo "$out" | grep -q "not healthy after" || fail "up failure message: $out"
no_processes_of "$D" || fail "processes left after a failed up"
expect_exit 1 "$TESTBED" up "$D"
"$TESTBED" down "$D" | grep -q "was not running" || fail "down of a stopped testbed"
ok "a failed up stops everything it started; the directory is not reused; down is idempotent"

tb_mkdir E
t0=$SECONDS
"$TESTBED" up "$E" --names solo --speed 4 >/dev/null || fail "up --speed 4, 1 node"
ok "1 node at --speed 4 up in $((SECONDS - t0))s"
[ "$(status "$E" | tbjson 'd["etcd"]["members"][0]["name"] + " " + str(d["daemon"]["running"])')" = "solo True" ] || fail "status"
pid=$(cat "$E/testbed.pid")
kill -9 "$pid"
wait_for 10 "daemon gone" sh -c "! kill -0 $pid"
[ "$(status "$E" | tbjson 'd["daemon"]["running"]')" = false ] || fail "status after the daemon died"
[ "$(status "$E" | tbjson 'len(d["nodes"]["solo"]["etcd_processes"])')" = 1 ] || fail "etcd outlived its daemon (as it should until down)"
"$TESTBED" down "$E" >/dev/null || fail "down after kill -9"
no_processes_of "$E" || fail "down after kill -9 left processes"
ok "down after the daemon was killed stops its orphaned etcd"
