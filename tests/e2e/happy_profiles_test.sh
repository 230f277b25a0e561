#!/bin/bash
# The procedure's happy path on the profiles happy_414 and happy_47 do not run, two testbeds at a time:
# 4.8 (etcd 3.4.14, a unixs:// client URL per member that etcdctl cannot reach, exec over v4, Kubernetes 1.21),
# 4.16 (etcdctl prints 3.5's shapes, exec over v5) and 4.20 (the etcdctl container's root file system is
# read-only, its /tmp an emptyDir, where the snapshot is staged). On each: etcd-status on the healthy cluster,
# nothing to do, --dry-run changes nothing, the repair ends healthy, and a second run does nothing.
. "$(dirname "$0")/lib.sh"

# happy PROFILE NODE: run in a subshell of its own (its own TB and E2E_TMP); its exit code is its failures.
happy() {
	local profile=$1 node=$2
	E2E_TMP=$E2E_TMP/$profile
	TB=$E2E_TMP/tb
	"$TESTBED" up "$TB" --speed "$E2E_SPEED" --profile "$profile" >"$E2E_TMP/up.log" 2>&1 ||
		{ cat "$E2E_TMP/up.log"; die "$profile: testbed up"; }
	expect "$profile: etcd-status on a healthy cluster" 0 \
		bash -c "KUBECONFIG='$TB/kubeconfig' timeout 120 '$MEDIC' run etcd-status >>'$TB/medic.log' 2>&1"
	check "$profile: etcd-status says HEALTHY" grep -q '^verdict: HEALTHY' "$TB/medic.log"
	snap "$E2E_TMP/healthy.json"
	expect "$profile: healthy cluster: nothing to do" 0 medic --yes
	snap "$E2E_TMP/healthy2.json"
	check "$profile: healthy cluster: nothing changed" \
		cmp -s <(tbq fingerprint "$E2E_TMP/healthy.json") <(tbq fingerprint "$E2E_TMP/healthy2.json")

	crashloop "$node"
	snap "$E2E_TMP/broken.json"
	local old_id
	old_id=$(tbq member-id "$E2E_TMP/broken.json" "$node")
	expect "$profile: dry run" 0 medic --dry-run
	snap "$E2E_TMP/dry.json"
	check "$profile: dry run: members, secrets, operator spec and node files unchanged" \
		cmp -s <(tbq fingerprint "$E2E_TMP/broken.json") <(tbq fingerprint "$E2E_TMP/dry.json")

	expect "$profile: repair" 0 medic --node "$node" --yes
	assert_repaired "$node" "$old_id" 3
	snap "$E2E_TMP/after.json"
	check "$profile: unsupportedConfigOverrides as before" \
		test "$(tbq overrides "$E2E_TMP/after.json")" = "$(tbq overrides "$E2E_TMP/broken.json")"
	expect "$profile: after the repair: nothing to do" 0 medic --node "$node" --yes
	snap "$E2E_TMP/again.json"
	check "$profile: after the repair: no member removed again" \
		cmp -s <(tbq ids "$E2E_TMP/after.json") <(tbq ids "$E2E_TMP/again.json")
	exit "$E2E_FAILS"
}

# run_together PROFILE:NODE...: one subshell each, at the same time; their output in order, their counts added
run_together() {
	local spec pids=() profiles=()
	for spec in "$@"; do
		local profile=${spec%%:*}
		mkdir -p "$E2E_TMP/$profile" || die "mkdir"
		E2E_TBS+=("$E2E_TMP/$profile/tb")     # stopped by this shell's cleanup, whatever the subshell did
		(happy "$profile" "${spec#*:}") >"$E2E_TMP/$profile.out" 2>&1 &
		pids+=($!) profiles+=("$profile")
	done
	local i rc
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		rc=$?
		cat "$E2E_TMP/${profiles[$i]}.out"
		E2E_FAILS=$((E2E_FAILS + rc))
		E2E_PASSES=$((E2E_PASSES + $(grep -c '^ok ' "$E2E_TMP/${profiles[$i]}.out")))
	done
}

t0=$SECONDS
run_together 4.8:master-1 4.16:master-2
run_together 4.20:master-0
echo "happy path on 4.8, 4.16 and 4.20 in $((SECONDS - t0)) s"
finish
