# Shared by tests/e2e/*_test.sh (sourced). Starts testbeds in a temporary directory and always stops them;
# asserts on `testbed status` (the truth), never on the tool's own output.
#   tb_up NAME [testbed up options]    start a testbed; sets TB (its directory)
#   medic [ARGS]                       etcd-medic run replace-crashlooping-member ARGS against $TB; returns its exit code
#                                      ($E2E_GLOBAL: global options, before `run`)
#   snap FILE                          testbed status of $TB into FILE
#   tbq CMD FILE [ARGS]                tests/e2e/tbcheck.py (see there)
#   crashloop NODE                     break NODE's member and wait until its pod crash-loops
#   expect DESC WANT_RC [CMD...]       run CMD, pass when its exit code is WANT_RC
#   check DESC CMD...                  pass when CMD succeeds
set -u
E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$E2E_REPO" || exit 1
MEDIC=$(realpath "${MEDIC:-build/etcd-medic}")
TESTBED=$E2E_REPO/tests/testbed/testbed
E2E_SPEED=${E2E_SPEED:-4}
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/medic-e2e.XXXXXX") || exit 1
E2E_TBS=()
E2E_FAILS=0
E2E_PASSES=0
TB=

e2e_cleanup() {
	if [ "$E2E_FAILS" -gt 0 ]; then   # what the cluster did, for a failure seen only in CI
		for d in "${E2E_TBS[@]}"; do echo "---- $d/testbed.log (last 40 lines)"; tail -n 40 "$d/testbed.log"; done
	fi
	for d in "${E2E_TBS[@]}"; do "$TESTBED" down "$d" >/dev/null 2>&1 || "$TESTBED" down "$d"; done
	rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok   - $*"; E2E_PASSES=$((E2E_PASSES + 1)); }
fail() {
	echo "FAIL - $*"
	E2E_FAILS=$((E2E_FAILS + 1))
	if [ -n "$TB" ] && [ -f "$TB/medic.log" ] && [ "${E2E_SHOWN:-}" != "$(wc -l <"$TB/medic.log")" ]; then
		echo "---- last output:"; tail -n 30 "$TB/medic.log"; echo "----"
		E2E_SHOWN=$(wc -l <"$TB/medic.log")
	fi
}
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
expect() {
	local desc=$1 want=$2; shift 2
	"$@"; local rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$desc (exit $rc)"; else fail "$desc: exit $rc, want $want"; fi
}
finish() {
	echo "$(basename "$0"): $E2E_PASSES passed, $E2E_FAILS failed"
	[ "$E2E_FAILS" -eq 0 ]
	exit $?
}
die() { echo "FATAL: $*"; E2E_FAILS=$((E2E_FAILS + 1)); finish; }

tb_up() {
	local name=$1; shift
	TB=$E2E_TMP/$name
	E2E_TBS+=("$TB")
	"$TESTBED" up "$TB" --speed "$E2E_SPEED" "$@" || die "testbed up $name $*"
}
snap() { "$TESTBED" status "$TB" >"$1" || die "testbed status"; }
tbq() { python3 "$E2E_REPO/tests/e2e/tbcheck.py" "$@"; }
nodes() { (. "$TB/env" && echo "$TESTBED_NODES"); }

medic() {
	echo "+ replace-crashlooping-member $*" >>"$TB/medic.log"
	KUBECONFIG=${E2E_KUBECONFIG:-$TB/kubeconfig} timeout -k 5 "${E2E_RUN_TIMEOUT:-300}" \
		"$MEDIC" ${E2E_GLOBAL:-} run replace-crashlooping-member --state-dir "$TB/state" --poll-interval 0.3 --settle "${E2E_SETTLE:-3}" "$@" >>"$TB/medic.log" 2>&1
}

# wait_for DESC SECONDS CMD...: polls CMD until it succeeds, with a deadline.
wait_for() {
	local desc=$1 secs=$2; shift 2
	local deadline=$((SECONDS + secs))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || { fail "timed out waiting for $desc"; return 1; }
		sleep 0.3
	done
}

is_crashlooping() { snap "$E2E_TMP/cl.json" && tbq crashlooping "$E2E_TMP/cl.json" "$1"; }
crashloop() {
	"$TESTBED" crashloop "$TB" "$1" >/dev/null || die "testbed crashloop $1"
	wait_for "$1 crash-looping" 60 is_crashlooping "$1"
}
is_healthy() { snap "$E2E_TMP/h.json" && tbq healthy "$E2E_TMP/h.json" "$1" >/dev/null; }

# The truth after a repair of NODE whose member had OLD_ID, in a cluster of N members.
assert_repaired() {
	local node=$1 old_id=$2 n=$3 file=$E2E_TMP/repaired.json
	snap "$file"
	check "all $n members started, healthy, voting; pods Ready; nodes at the latest revision" tbq healthy "$file" "$n"
	local new_id
	new_id=$(tbq member-id "$file" "$node")
	check "$node has a new member ID ($old_id -> $new_id)" test -n "$new_id" -a "$new_id" != "$old_id"
	check "the old manifest and data dir are kept on $node" tbq kept "$file" "$node"
}

# refused DESC WHY ARGS...: the run exits 3, says WHY (a grep -E pattern), and the cluster's members, secrets,
# operator spec and node files are exactly as before.
refused() {
	local desc=$1 why=$2; shift 2
	snap "$E2E_TMP/refused-before.json"
	local from
	from=$(($( (cat "$TB/medic.log" 2>/dev/null || true) | wc -l) + 1))
	expect "refused: $desc" 3 medic "$@"
	check "refused: $desc: for the right reason" bash -c "tail -n +$from '$TB/medic.log' | grep -qE '$why'"
	snap "$E2E_TMP/refused-after.json"
	check "refused: $desc: nothing changed" \
		cmp -s <(tbq fingerprint "$E2E_TMP/refused-before.json") <(tbq fingerprint "$E2E_TMP/refused-after.json")
}

# chain KIND NODE STEP...: breaks NODE, then runs the procedure once per STEP, each run stopped at that step
# (KIND "kill": SIGKILL right after the step, from a site hook; KIND "faults": each STEP is "STEP|ARGS", and
# `testbed fault ARGS --count 1` is injected right before the step), and finally runs it to the end. Each run resumes what the previous one left.
# After every run: no other member removed, the node's member replaced at most once, the secrets the operator
# re-issued never deleted again; at the end: healthy, overrides as before.
chain() {
	local kind=$1 node=$2; shift 2
	local n want_rc what step before_json=$E2E_TMP/c-before.json
	n=$(nodes | wc -w)
	crashloop "$node"
	snap "$before_json"
	local old_id new_id="" s
	old_id=$(tbq member-id "$before_json" "$node")
	declare -A fresh=()
	local entry fault
	for entry in "$@"; do
		step=${entry%%|*} fault=${entry#*|}
		if [ "$kind" = kill ]; then
			want_rc=137 what="killed (SIGKILL) right after $step"
			printf 'local site = ...\nsite.after("%s", function()\n\tlocal f = assert(io.open("/proc/self/stat"))\n\tlocal pid = f:read("n")\n\tf:close()\n\tos.execute("kill -9 " .. pid)\nend)\n' \
				"$step" >"$E2E_TMP/chain.lua"
		else
			want_rc=1 what="API fault ($fault) before $step"
			# the fault goes in right before the step; if the step still succeeds (a retried read, a 500 with
			# Retry-After), the run is killed right after it, so the next fault meets the step it is meant for
			printf 'local site = ...\nsite.before("%s", function()\n\tassert(os.execute([[%s fault %s %s --count 1 >/dev/null]]))\nend)\n' \
				"$step" "$TESTBED" "$TB" "$fault" >"$E2E_TMP/chain.lua"
			printf 'site.after("%s", function()\n\tlocal f = assert(io.open("/proc/self/stat"))\n\tlocal pid = f:read("n")\n\tf:close()\n\tos.execute("kill -9 " .. pid)\nend)\n' \
				"$step" >>"$E2E_TMP/chain.lua"
		fi
		medic --node "$node" --yes --site "$E2E_TMP/chain.lua"
		local rc=$?
		"$TESTBED" fault "$TB" --clear >/dev/null
		if [ "$rc" -eq "$want_rc" ] || { [ "$kind" != kill ] && [ "$rc" -eq 137 ]; }; then
			ok "$what (exit $rc)"
		else
			fail "$what: exit $rc, want $want_rc"
		fi
		if [ "$step" = delete-secrets ]; then
			wait_for "the operator to re-issue etcd-peer-$node" 60 secret_present "etcd-peer-$node"
		fi
		snap "$E2E_TMP/c-now.json"
		check "after $step: no other member removed" \
			cmp -s <(tbq ids "$before_json" | grep -v "^$node ") <(tbq ids "$E2E_TMP/c-now.json" | grep -v "^$node ")
		local id_now
		id_now=$(tbq member-id "$E2E_TMP/c-now.json" "$node")
		if [ -n "$id_now" ] && [ "$id_now" != "$old_id" ]; then
			if [ -z "$new_id" ]; then new_id=$id_now; fi
			check "after $step: $node's member replaced once, not twice" test "$id_now" = "$new_id"
		fi
		for s in etcd-peer etcd-serving etcd-serving-metrics; do
			local uid_before uid_now
			uid_before=$(tbq secret-uid "$before_json" "$s-$node")
			uid_now=$(tbq secret-uid "$E2E_TMP/c-now.json" "$s-$node")
			if [ -n "${fresh[$s]:-}" ]; then
				check "after $step: the re-issued $s-$node was left alone" test "$uid_now" = "${fresh[$s]}"
			elif [ -n "$uid_now" ] && [ "$uid_now" != "$uid_before" ]; then
				fresh[$s]=$uid_now
			fi
		done
	done
	expect "$kind chain: the last run finishes the repair" 0 medic --node "$node" --yes
	assert_repaired "$node" "$old_id" "$n"
	snap "$E2E_TMP/c-after.json"
	check "$kind chain: unsupportedConfigOverrides as before" \
		test "$(tbq overrides "$E2E_TMP/c-after.json")" = "$(tbq overrides "$before_json")"
	for s in "${!fresh[@]}"; do
		check "$kind chain: the re-issued $s-$node is still there" \
			test "$(tbq secret-uid "$E2E_TMP/c-after.json" "$s-$node")" = "${fresh[$s]}"
	done
	if [ -n "$new_id" ]; then
		check "$kind chain: the member added during the chain was kept" test "$(tbq member-id "$E2E_TMP/c-after.json" "$node")" = "$new_id"
	fi
}
secret_present() { snap "$E2E_TMP/sp.json" && [ -n "$(tbq secret-uid "$E2E_TMP/sp.json" "$1")" ]; }
