#!/usr/bin/env bash
# No token, key or Secret data in any output of a full run (stdout/stderr with -v, the --log-json audit
# log, the journal and state files), on the testbed; the journal, backups, audit log and REPL history are
# private (files 0600, state directories 0700).
. "$(dirname "$0")/lib.sh"
TB=$T/tb
"$ROOT/tests/testbed/testbed" up "$TB" --speed 5 >/dev/null || { fail "testbed up"; finish; }
cleanup_hooks=("'$ROOT/tests/testbed/testbed' down '$TB' >/dev/null 2>&1" "${cleanup_hooks[@]}")
"$ROOT/tests/testbed/testbed" crashloop "$TB" master-1 >/dev/null || fail "crashloop"

token=$(sed -n 's/^ *token: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$TB/kubeconfig" | head -1)
[ ${#token} -ge 16 ] || { fail "no token found in the testbed's kubeconfig"; finish; }
# needles: the token, every base64 line of every private key, the Secrets' data (as stored and decoded)
needles=$T/needles
printf '%s\n' "$token" > "$needles"
for k in "$TB"/etcd/*.key "$TB"/pki/*.key; do
	[ -f "$k" ] && grep -v -- '-----' "$k" | awk 'length($0) >= 24' >> "$needles"
done
api=$(sed -n 's/^ *server: *//p' "$TB/kubeconfig" | head -1)
for s in etcd-peer-master-1 etcd-serving-master-1 etcd-peer-master-0 etcd-client; do
	curl -sf --cacert "$TB/pki/kube-apiserver-ca.crt" -H "Authorization: Bearer $token" \
		"$api/api/v1/namespaces/openshift-etcd/secrets/$s" |
		python3 -c 'import sys, json, base64
d = json.load(sys.stdin).get("data") or {}
for v in d.values():
    print(v[:60])
    for line in base64.b64decode(v).decode(errors="replace").splitlines():
        if len(line) >= 24 and "-----" not in line: print(line)'
done >> "$needles"
n=$(wc -l < "$needles")
check "collected secret needles ($n: token, key lines, Secret data)" test "$n" -ge 20

run() { # the full procedure with -v and the audit log; retried while the pod is seen between two crashes
	for _ in 1 2 3 4 5 6; do
		timeout 400 "$MEDIC" --kubeconfig "$TB/kubeconfig" -v --log-json "$T/audit.json" \
			run replace-crashlooping-member --node master-1 --yes --poll-interval 0.5 "$@" > "$T/out" 2>&1
		rc=$?
		grep -q 'is not crash-looping' "$T/out" || return $rc
		sleep 1
	done
	return $rc
}
run --dry-run; cp "$T/out" "$T/out.dry"
run; rc=$?
check "the full run succeeded (exit $rc)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -5 "$T/out"
check "the run printed debug lines (-v)" grep -q 'http' "$T/out"
check "the audit log has lines" test -s "$T/audit.json"

haystack=("$T/out" "$T/out.dry" "$T/audit.json")
# (the backup itself holds the cluster's secrets, as the platform's does: the snapshot and the static pod
# resources' tarball are private files, checked below, not outputs)
while IFS= read -r f; do haystack+=("$f"); done < <(find "$XDG_STATE_HOME" -type f ! -name '*.db' ! -name '*.tar.gz')
leaks=$(grep -F -l -f "$needles" "${haystack[@]}" 2>/dev/null || true)
check "no token, key or Secret data in ${#haystack[@]} outputs" test -z "$leaks"
[ -z "$leaks" ] || { echo "leaked in: $leaks"; grep -F -o -f "$needles" $leaks | sort -u | head -5 | cut -c1-40; }
grep -qi 'bearer [a-z0-9]' "$T/out" "$T/audit.json" && fail "an Authorization header value is printed"

mode() { stat -c %a "$1"; }
j=$(find "$XDG_STATE_HOME" -name '*.journal*' -type f | head -1)
if [ -n "$j" ]; then check "journal $(basename "$j") is 0600 ($(mode "$j"))" test "$(mode "$j")" = 600
else pass "journal removed after the finished run"; fi
for f in $(find "$XDG_STATE_HOME" -type f); do
	check "state file ${f#$XDG_STATE_HOME/} is 0600 ($(mode "$f"))" test "$(mode "$f")" = 600
done
for d in $(find "$XDG_STATE_HOME" -mindepth 1 -type d); do
	check "state dir ${d#$XDG_STATE_HOME/} is 0700 ($(mode "$d"))" test "$(mode "$d")" = 700
done
check "the audit log is 0600 ($(mode "$T/audit.json"))" test "$(mode "$T/audit.json")" = 600

# the REPL's history, in a pseudo-terminal
if command -v script >/dev/null; then
	printf 'x = 1 + 1\nos.exit(0)\n' | timeout 30 script -qec "'$MEDIC' --kubeconfig '$TB/kubeconfig' repl" /dev/null >/dev/null 2>&1
	h=$XDG_STATE_HOME/etcd-medic/history
	if [ -f "$h" ]; then check "REPL history is 0600 ($(mode "$h"))" test "$(mode "$h")" = 600
	else fail "no REPL history written at $h"; fi
fi
finish
