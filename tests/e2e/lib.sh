# Shared by tests/e2e/*_test.sh (sourced). Starts testbeds in a temporary directory and always stops them;
# asserts on `testbed status` (the truth), never on the tool's own output.
#   tb_up NAME [testbed up options]    start a testbed; sets TB (its directory)
#   medic [ARGS]                       etcd-medic run replace-crashlooping-member ARGS against $TB; returns its exit code
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
		"$MEDIC" run replace-crashlooping-member --state-dir "$TB/state" --poll-interval 0.3 --settle "${E2E_SETTLE:-3}" "$@" >>"$TB/medic.log" 2>&1
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
