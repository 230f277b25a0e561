#!/bin/bash
# Resume after SIGKILL: one repair, killed right after each mutating step in turn, every run resuming the one
# before; then a last run to the end. Never a second member removed, never a re-issued secret deleted.
. "$(dirname "$0")/lib.sh"
tb_up resume --names r-0,r-1,r-2 --profile 4.14
chain kill r-1 backup stop-pod remove-member open-quorum-gate delete-secrets force-redeploy new-revision \
	restore-overrides wait

# Ctrl-C (SIGINT) during the wait: exit 130, the cleanup restores the overrides, the journal is kept; the same
# command again finishes the repair.
crashloop r-0
snap "$E2E_TMP/int-before.json"
from=$(($( (cat "$TB/medic.log" 2>/dev/null || true) | wc -l) + 1))
medic --node r-0 --yes &
bg=$!
reached_wait() { tail -n +"$from" "$TB/medic.log" | grep -q 'wait: Wait'; }
if wait_for "the run to reach the wait step" 180 reached_wait; then
	kill -INT "$(pgrep -n -f "^$MEDIC run replace-crashlooping-member --state-dir $TB/state")"
fi
wait "$bg"
rc=$?
check "Ctrl-C during the wait: exit 130 (exit $rc)" test "$rc" -eq 130
snap "$E2E_TMP/int-after.json"
check "Ctrl-C: the cleanup restored unsupportedConfigOverrides" \
	test "$(tbq overrides "$E2E_TMP/int-after.json")" = "$(tbq overrides "$E2E_TMP/int-before.json")"
check "Ctrl-C: the journal is kept for the resume" bash -c "ls '$TB'/state/*.journal | grep -qv done"
check "etcd-status names the repair in progress and how to resume it" \
	grep -q '^verdict: REPAIR IN PROGRESS (r-0): .*resume with etcd-medic run replace-crashlooping-member --node r-0' \
	<<<"$(KUBECONFIG=$TB/kubeconfig "$MEDIC" run etcd-status --state-dir "$TB/state" 2>&1)"
expect "after Ctrl-C: the same command finishes the repair" 0 medic --node r-0 --yes
assert_repaired r-0 "$(tbq member-id "$E2E_TMP/int-before.json" r-0)" 3
finish
