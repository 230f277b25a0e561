#!/bin/bash
# etcd-medic run defrag on one testbed with a 48 MiB quota, its database fragmented past the quota (NOSPACE):
# refused (exit 3, nothing changed) while a member does not answer; then every member defragmented, the leader
# last (etcd's own logs), a run interrupted and resumed without redoing a member, the NOSPACE alarm disarmed,
# every member healthy; then with --move-leader. Asserts on `testbed status` and etcd's logs.
. "$(dirname "$0")/lib.sh"

defrag() {
	echo "+ defrag $*" >>"$TB/medic.log"
	KUBECONFIG=$TB/kubeconfig timeout -k 5 300 "$MEDIC" --log-json "$TB/audit.json" run defrag \
		--state-dir "$TB/state" --poll-interval 0.3 "$@" >>"$TB/medic.log" 2>&1
}
# db FILE PY-EXPR: true when the expression holds over d = status["etcd"]["database"] of FILE.
db() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["etcd"]["database"]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$@"; }

tb_up defrag --quota-backend-bytes $((48 * 1024 * 1024))
"$TESTBED" fragment "$TB" --mb 64 >>"$TB/medic.log" || die "testbed fragment"
snap "$TB/before.json"
check "fragmented: every member's dbSize over twice its dbSizeInUse" \
	db "$TB/before.json" 'len(d["members"]) == 3 and all(m["dbSize"] > 2 * m["dbSizeInUse"] for m in d["members"].values())'
check "the NOSPACE alarm is active" db "$TB/before.json" 'any(a["alarm"] == "NOSPACE" for a in d["alarms"])'

# A member that does not answer (its etcd stopped with SIGSTOP): refused before any change.
pid=$(cat "$TB/nodes/master-2/kubelet/etcd.pid")
kill -STOP "$pid"
expect "refused while master-2 does not answer" 3 defrag --yes --pause 1
kill -CONT "$pid"
snap "$TB/refused.json"
check "nothing changed: master-0 and master-1 keep their dbSize" python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))["etcd"]["database"]["members"]
r = json.load(open(sys.argv[2]))["etcd"]["database"]["members"]
sys.exit(0 if all(r[n]["dbSize"] == b[n]["dbSize"] for n in ("master-0", "master-1")) else 1)' "$TB/before.json" "$TB/refused.json"

# Interrupted (Ctrl-C) during the pause after the first member; the same command resumes without redoing it.
t0=$SECONDS
defrag --yes --pause 30 &
run=$!
wait_for "the first member defragmented" 60 grep -q "defragmented in" "$TB/medic.log"
kill -INT "$(pgrep -n -f "^$MEDIC --log-json $TB/audit.json run defrag")"
expect "interrupted during the pause" 130 wait "$run"
expect "defrag --yes --pause 1 resumes" 0 defrag --yes --pause 1
echo "     (both runs took $((SECONDS - t0)) s)"
snap "$TB/after.json"
check "every member's dbSize dropped" python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))["etcd"]["database"]["members"]
a = json.load(open(sys.argv[2]))["etcd"]["database"]["members"]
sys.exit(0 if all(a[n]["dbSize"] < b[n]["dbSize"] // 2 for n in b) else 1)' "$TB/before.json" "$TB/after.json"
check "no alarm left" db "$TB/after.json" 'd["alarms"] == []'
healthy_now() { snap "$TB/end.json" && tbq healthy "$TB/end.json" 3 >/dev/null; }
wait_for "every member healthy, every etcd pod Ready" 30 healthy_now && ok "the cluster ends healthy"
check "the leader was defragmented last (etcd's logs)" python3 -c '
import glob, json, sys
leader = [n for n, m in json.load(open(sys.argv[1]))["etcd"]["database"]["members"].items() if m["isLeader"]][0]
when = {}
for node in ("master-0", "master-1", "master-2"):
    for f in glob.glob("%s/nodes/%s/root/var/log/pods/*/etcd/*.log" % (sys.argv[2], node)):
        for line in open(f, errors="replace"):
            if "\"msg\":\"defragmented\"" in line:
                when[node] = max(when.get(node, ""), json.loads(line)["ts"])
print("     defragmented at", when, "leader", leader)
sys.exit(0 if len(when) == 3 and max(when, key=when.get) == leader else 1)' "$TB/before.json" "$TB"
check "each member defragmented once over both runs (etcd's logs)" python3 -c '
import glob, sys
for node in ("master-0", "master-1", "master-2"):
    n = sum(open(f, errors="replace").read().count("\"msg\":\"defragmented\"")
            for f in glob.glob("%s/nodes/%s/root/var/log/pods/*/etcd/*.log" % (sys.argv[1], node)))
    if n != 1:
        sys.exit("%s: %d" % (node, n))' "$TB"
# --move-leader: fragmented again, the leader hands over to a member done already before its own turn.
"$TESTBED" fragment "$TB" --mb 16 >>"$TB/medic.log" || die "testbed fragment"
snap "$TB/before2.json"
expect "defrag --yes --pause 1 --move-leader" 0 defrag --yes --pause 1 --move-leader
snap "$TB/after2.json"
check "with --move-leader the old leader was defragmented last, no longer the leader (status, etcd's logs)" python3 -c '
import glob, json, sys
def leader(f):
    return [n for n, m in json.load(open(f))["etcd"]["database"]["members"].items() if m["isLeader"]][0]
old, new = leader(sys.argv[1]), leader(sys.argv[2])
last = {}
for node in ("master-0", "master-1", "master-2"):
    for f in glob.glob("%s/nodes/%s/root/var/log/pods/*/etcd/*.log" % (sys.argv[3], node)):
        for line in open(f, errors="replace"):
            if "\"msg\":\"defragmented\"" in line:
                last[node] = max(last.get(node, ""), json.loads(line)["ts"])
print("     leader before", old, "after", new, "last defragmented", max(last, key=last.get))
sys.exit(0 if new != old and max(last, key=last.get) == old else 1)' "$TB/before2.json" "$TB/after2.json" "$TB"
finish
