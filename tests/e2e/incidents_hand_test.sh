#!/bin/bash
# Real incidents (issue 14): a repair an admin began by hand (manifest moved; member removed; secrets deleted),
# an unstarted member left by a half-done replacement, a pod that crashed at bootstrap and is fine now (not a
# crash-loop), and one run at a time per cluster (a second run is refused, naming the first, while it runs).
. "$(dirname "$0")/lib.sh"
tb_up hand --names h-0,h-1,h-2,h-3 --profile 4.14

# by_hand NODE STEP: the document's commands up to STEP, then the tool, which goes on from there
by_hand() {
	local node=$1 step=$2
	crashloop "$node"
	snap "$E2E_TMP/$step-before.json"
	local old_id
	old_id=$(tbq member-id "$E2E_TMP/$step-before.json" "$node")
	"$TESTBED" by-hand "$TB" "$node" "$step" >/dev/null || die "testbed by-hand $node $step"
	# Once the member is removed, the operator may be installing a revision on the node already, which adds its
	# member again: the tool must then refuse before any change (exit 3) and the operator heal the node; else go on.
	medic --node "$node" --yes
	local rc=$?
	if [ "$rc" -eq 3 ] && [ "$step" != manifest-moved ] &&
		tail -n 3 "$TB/medic.log" | grep -q "the operator is installing a revision there"; then
		ok "$step by hand: the operator is healing $node; the tool refused before any change (exit 3)"
		wait_for "the operator to heal $node" 180 is_healthy 4
	else
		check "$step by hand: the tool goes on from there (exit $rc)" test "$rc" -eq 0
	fi
	snap "$E2E_TMP/$step-after.json"
	check "$step by hand: all 4 members healthy and voting, every node at the latest revision" \
		tbq healthy "$E2E_TMP/$step-after.json" 4
	check "$step by hand: $node has a new member" \
		test -n "$(tbq member-id "$E2E_TMP/$step-after.json" "$node")" -a \
		"$(tbq member-id "$E2E_TMP/$step-after.json" "$node")" != "$old_id"
	check "$step by hand: the admin's copy of the data dir is still in /tmp" \
		tbq has-file "$E2E_TMP/$step-after.json" "$node" '^/tmp/etcd/member/$'
	check "$step by hand: unsupportedConfigOverrides as before" \
		test "$(tbq overrides "$E2E_TMP/$step-after.json")" = "$(tbq overrides "$E2E_TMP/$step-before.json")"
}
by_hand h-0 manifest-moved
by_hand h-1 member-removed
by_hand h-2 secrets-deleted

# an unstarted member for h-3's IP (its member removed, `member add` run, nothing started; the document's
# commands moved its data dir to /tmp, so a node of its own)
wait_for "a healthy cluster" 180 is_healthy 4
"$TESTBED" unstarted-member "$TB" h-3 || die "testbed unstarted-member"
# The operator may heal it first: removing h-3's member changed the endpoints, and the new revision installs
# first on the node without a static pod, whose etcd then starts as the added member. The tool must then refuse
# before any change (exit 3: the pod is not crash-looping, or that rollout is in progress); else it removes and
# replaces the unstarted member.
medic --node h-3 --yes
rc=$?
if [ "$rc" -eq 0 ]; then
	ok "an unstarted member left behind: removed and replaced (exit 0)"
elif [ "$rc" -eq 3 ] && tail -n 3 "$TB/medic.log" |
	grep -Eq "etcd pod on h-3 is not crash-looping|a rollout is in progress" &&
	tail -n 3 "$TB/medic.log" | grep -q "Nothing was changed"; then
	ok "an unstarted member left behind: the operator started it first; refused, nothing changed (exit 3)"
	wait_for "the operator's rollout" 180 is_healthy 4
else
	fail "an unstarted member left behind: exit $rc, want 0 (or 3: healed by the operator first)"
fi
snap "$E2E_TMP/unstarted-after.json"
check "unstarted member: all 4 members started, healthy and voting" tbq healthy "$E2E_TMP/unstarted-after.json" 4

# crashed at bootstrap, Running and Ready now: not a crash-loop, nothing to do, nothing changed
"$TESTBED" crashloop "$TB" h-1 --recovered >/dev/null || die "testbed crashloop --recovered"
wait_for "h-1 Ready again" 120 is_healthy 4
snap "$E2E_TMP/recovered.json"
expect "a pod that crashed at bootstrap and is fine now: nothing to do" 0 medic --yes
snap "$E2E_TMP/recovered-after.json"
check "recovered pod: nothing changed" \
	cmp -s <(tbq fingerprint "$E2E_TMP/recovered.json") <(tbq fingerprint "$E2E_TMP/recovered-after.json")

# one run at a time: a second run while the first waits for the operator is refused, naming the first
crashloop h-2
snap "$E2E_TMP/lease-before.json"
start=$(($(wc -l <"$TB/medic.log") + 1))
medic --node h-2 --yes &
first=$!
in_wait() { tail -n +"$start" "$TB/medic.log" | grep -q 'new-revision: Wait'; } # this run's, not an earlier one's
wait_for "the first run to wait for the operator" 180 in_wait
from=$(($(wc -l <"$TB/medic.log") + 1))
expect "a second run (another admin: another state dir) while the first runs: refused" 3 \
	medic --node h-2 --yes --state-dir "$TB/state-other"
check "the refusal names the first run" \
	bash -c "tail -n +$from '$TB/medic.log' | grep -q 'another run holds this cluster: etcd-medic replace-crashlooping-member'"
wait "$first"
rc=$?
check "the first run finished the repair (exit $rc)" test "$rc" -eq 0
snap "$E2E_TMP/lease-after.json"
check "after both: all 4 members healthy" tbq healthy "$E2E_TMP/lease-after.json" 4
check "the lease was released" tbq no-lease "$E2E_TMP/lease-after.json"
expect "after the first ends, a run goes ahead (nothing to do)" 0 medic --node h-2 --yes
finish
