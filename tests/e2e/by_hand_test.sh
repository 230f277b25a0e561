#!/bin/bash
# The REPL: the procedure done by hand, one step at a time with the `cluster` object (as docs/usage.md shows), and
# etcd-status's verdict before and after.
. "$(dirname "$0")/lib.sh"
tb_up hand --names h-0,h-1,h-2 --profile 4.14
export KUBECONFIG=$TB/kubeconfig

crashloop h-0
status_before=$("$MEDIC" run etcd-status 2>&1)
check "etcd-status names the procedure for h-0" \
	grep -q 'verdict: ONE MEMBER UNHEALTHY (h-0, etcd pod crash-looping): run etcd-medic run replace-crashlooping-member --node h-0' \
	<<<"$status_before"
snap "$E2E_TMP/before.json"

"$MEDIC" repl >"$TB/medic.log" 2>&1 <<LUA
local o = {node = "h-0", yes = true, state_dir = "$TB/state", settle = 3, poll_interval = 0.3}
assert(cluster:step("preflight", o) == "ok")
for _, s in ipairs{"backup", "stop-pod", "remove-member", "open-quorum-gate", "delete-secrets", "force-redeploy",
		"new-revision", "restore-overrides", "wait", "verify"} do
	local status, note = cluster:step(s)
	print("step", s, status, note)
	assert(status == "ok" or status == "changed" or status == "skipped", s .. ": " .. tostring(status))
end
print(cluster:members())
LUA
check "the REPL session ran every step" test "$(grep -c '^step' "$TB/medic.log")" -eq 10
assert_repaired h-0 "$(tbq member-id "$E2E_TMP/before.json" h-0)" 3
check "the journal of the session is finished" bash -c "ls '$TB'/state/*.done-*.journal >/dev/null"
check "etcd-status says healthy" grep -q '^verdict: HEALTHY' <<<"$("$MEDIC" run etcd-status 2>&1)"
expect "the command line afterwards: nothing to do" 0 medic --node h-0 --yes
finish
