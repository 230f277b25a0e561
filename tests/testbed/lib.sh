# Helpers for the testbed's fidelity tests (sourced by tests/testbed/*_test.sh; bash).
# Clients are the real ones: kubectl, etcdctl, python3-kubernetes. Every wait polls with a deadline.
set -u
TB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTBED=$TB_HERE/testbed
TB_DIRS=()
PY=/usr/bin/python3

fail() {
	echo "FAIL: $*" >&2
	for d in "${TB_DIRS[@]}"; do
		[ -f "$d/testbed.log" ] && { echo "--- tail of $d/testbed.log" >&2; tail -n 30 "$d/testbed.log" >&2; }
	done
	exit 1
}
ok() { echo "ok   $*"; }

tb_cleanup() {
	if [ -n "${TB_KEEP:-}" ]; then
		echo "TB_KEEP: left running: ${TB_DIRS[*]}" >&2
		return
	fi
	for d in "${TB_DIRS[@]}"; do
		"$TESTBED" down "$d" >/dev/null 2>&1 || "$TESTBED" down "$d"
		rm -rf "$d"
	done
}
trap tb_cleanup EXIT

# tb_mkdir VAR : sets VAR to a new temporary directory, removed (after `down`) when the test exits
tb_mkdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/testbed-test.XXXXXX") || exit 1
	TB_DIRS+=("$d")
	printf -v "$1" '%s' "$d"
}

# wait_for SECONDS WHAT CMD... : runs CMD every 0.2 s until it succeeds, fails the test after SECONDS
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$end" ] && fail "timed out after ${secs}s waiting for: $what"
		sleep 0.2
	done
}

# stays_for SECONDS WHAT CMD... : CMD must keep succeeding for SECONDS
stays_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 || fail "no longer true: $what"
		sleep 0.5
	done
}

# kc DIR ARGS... : kubectl against the testbed in DIR
kc() {
	local d=$1
	shift
	kubectl --kubeconfig "$d/kubeconfig" "$@"
}

# ectl DIR ARGS... : etcdctl with DIR/env
ectl() {
	(
		# shellcheck disable=SC1091
		. "$1/env"
		shift
		etcdctl --dial-timeout=2s --command-timeout=5s "$@"
	)
}

# podexec DIR POD ARGS... : runs ARGS in the etcdctl container of an etcd pod (kubectl exec, WebSocket)
podexec() {
	local d=$1 pod=$2
	shift 2
	kubectl --kubeconfig "$d/kubeconfig" exec -n openshift-etcd "$pod" -c etcdctl -- "$@"
}

# jq-like helper: tbjson EXPR  (reads JSON on stdin; EXPR is a Python expression over `d`; prints the result)
tbjson() {
	"$PY" -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r))' "$1"
}

status() { "$TESTBED" status "$1"; }

# started_members DIR -> number of started, healthy, voting members that etcd reports
started_members() {
	status "$1" | tbjson 'len([m for m in d["etcd"].get("members",[]) if m["status"]=="started" and m["healthy"] and not m["isLearner"]])'
}

members_are() { [ "$(started_members "$1")" = "$2" ] && [ "$(status "$1" | tbjson 'len(d["etcd"]["members"])')" = "$2" ]; }

# etcd_state DIR NODE -> waiting reason, "running" or "terminated" of the etcd container of etcd-NODE
etcd_state() {
	kc "$1" get pod -n openshift-etcd "etcd-$2" -o json 2>/dev/null |
		tbjson '[(c["state"].get("waiting",{}).get("reason") or list(c["state"])[0]) for c in d["status"]["containerStatuses"] if c["name"]=="etcd"][0]'
}

restarts() {
	kc "$1" get pod -n openshift-etcd "etcd-$2" -o jsonpath='{.status.containerStatuses[?(@.name=="etcd")].restartCount}'
}

pods_ready() {
	local n
	n=$(kc "$1" get pods -n openshift-etcd -l app=etcd -o json |
		tbjson 'len([p for p in d["items"] if p["status"]["phase"]=="Running" and any(c["type"]=="Ready" and c["status"]=="True" for c in p["status"]["conditions"])])')
	[ "$n" = "$2" ]
}

co_settled() {
	[ "$(kc "$1" get clusteroperator etcd -o json | tbjson '" ".join(c["type"]+"="+c["status"] for c in sorted(d["status"]["conditions"], key=lambda c: c["type"]))')" = \
		"Available=True Degraded=False Progressing=False Upgradeable=$2" ]
}

healthy_cluster() { # DIR N
	members_are "$1" "$2" && pods_ready "$1" "$2" && co_settled "$1" "${3:-True}"
}

# on_node DIR NODE SCRIPT : runs SCRIPT with `chroot /host sh -c` in a debug pod made by `kubectl debug
# node/NODE` and waits for it to succeed (profile sysadmin, as `oc debug node`; kubectl before 1.30, which
# /usr/bin/kubectl runs for the Kubernetes 1.27 and 1.29 of profiles 4.14 and 4.16, knows it as general)
on_node() {
	local d=$1 node=$2 script=$3 out pod
	local image=registry.redhat.io/rhel9/support-tools
	out=$(kc "$d" debug "node/$node" --profile=sysadmin --image=$image -- chroot /host sh -c "$script" 2>&1) ||
		{ [ "$out" = "error: unknown profile: sysadmin" ] &&
			out=$(kc "$d" debug "node/$node" --profile=general --image=$image -- chroot /host sh -c "$script"); } ||
		fail "kubectl debug node/$node: $out"
	pod=$(echo "$out" | sed -n 's/.*debugging pod \([^ ]*\) .*/\1/p')
	[ -n "$pod" ] || fail "no debug pod name in: $out"
	wait_for 30 "debug pod $pod to finish" phase_is "$d" default "$pod" Succeeded
	kc "$d" delete pod "$pod" --wait=false >/dev/null
}

member_id() { # DIR HEALTHY_POD NAME -> hex id of the member NAME as `etcdctl member list` prints it
	podexec "$1" "etcd-$2" etcdctl member list | awk -F', ' -v n="$3" '$3 == n { print $1 }'
}

node_secrets() { kc "$1" get secrets -n openshift-etcd -o name | grep -c -- "-$2\$"; }

no_processes_of() { # DIR: nothing of this testbed is running any more (zombies aside)
	"$PY" - "$1/" <<'PYEOF'
import os, sys
marker, me, left = sys.argv[1], os.getpid(), []
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == me:
        continue
    try:
        cmd = open("/proc/%s/cmdline" % p, "rb").read().decode(errors="replace").replace("\0", " ")
        state = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0]
    except OSError:
        continue
    if marker in cmd and state != "Z":
        left.append("%s: %s" % (p, cmd))
if left:
    sys.stderr.write("left running:\n" + "\n".join(left) + "\n")
    sys.exit(1)
PYEOF
}

# predicates for wait_for (they re-read the cluster on every call)
state_is() { [ "$(etcd_state "$1" "$2")" = "$3" ]; }
restarts_above() { [ "$(restarts "$1" "$2")" -gt "$3" ]; }
phase_is() { [ "$(kc "$1" get pod -n "$2" "$3" -o jsonpath='{.status.phase}')" = "$4" ]; }
pod_gone() { ! kc "$1" get pod -n "$2" "$3" >/dev/null 2>&1; }
condition_has() { # DIR TYPE TEXT : etcds/cluster condition TYPE's message contains TEXT
	kc "$1" get etcd cluster -o json | tbjson '[c.get("message","") for c in d["status"]["conditions"] if c["type"]=="'"$2"'"][0]' | grep -qF -- "$3"
}
