#!/bin/bash
# Ctrl-C with the output piped, as an SRE runs it: `etcd-medic run ... | tee repair.log`, and Ctrl-C goes to the
# whole process group, tee included. The tool must not die of SIGPIPE before its cleanup: it exits 130 and
# unsupportedConfigOverrides is as before the run; the same command then finishes the repair.
. "$(dirname "$0")/lib.sh"
tb_up pipe --names p-0,p-1,p-2 --profile 4.14
crashloop p-1
snap "$E2E_TMP/before.json"
export MEDIC TB
# a process group of its own (setsid), so that the Ctrl-C reaches the tool and tee as a terminal's would
setsid bash -c 'KUBECONFIG=$TB/kubeconfig "$MEDIC" run replace-crashlooping-member --state-dir "$TB/state" \
	--poll-interval 0.3 --settle 3 --node p-1 --yes 2>&1 | tee "$TB/tee.log" >/dev/null
	echo "${PIPESTATUS[0]}" >"$TB/rc"' &
group=$!
gate_open() { grep -q 'new-revision: Wait' "$TB/tee.log" 2>/dev/null; }
wait_for "the run to wait with the quorum gate open" 180 gate_open
kill -INT -- "-$group"
wait "$group"
check "Ctrl-C to the process group, output piped to tee: exit 130 (exit $(cat "$TB/rc" 2>/dev/null))" \
	test "$(cat "$TB/rc" 2>/dev/null)" = 130
snap "$E2E_TMP/after.json"
check "unsupportedConfigOverrides as before the run" \
	test "$(tbq overrides "$E2E_TMP/after.json")" = "$(tbq overrides "$E2E_TMP/before.json")"
expect "the same command finishes the repair" 0 medic --node p-1 --yes
assert_repaired p-1 "$(tbq member-id "$E2E_TMP/before.json" p-1)" 3
finish
