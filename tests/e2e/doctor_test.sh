#!/bin/bash
# etcd-status as a doctor, on one testbed: a healthy cluster reports no finding and exits 0; then each condition made
# by hand as an admin would (kubectl, etcdctl) appears as its finding, with its severity, next step and exit code, in
# the human report and in -o json (one document, valid against docs/etcd-status.schema.json), and is undone before
# the next: the unsafe override left on, a node whose InternalIP changed, a learner that never starts, a database near
# its quota and past it (NOSPACE), which the next step they name (etcd-medic run defrag) clears. Each state is
# asserted on `testbed status` (the truth) before etcd-status is asked.
. "$(dirname "$0")/lib.sh"

SCHEMA=$E2E_REPO/docs/etcd-status.schema.json
t0=$SECONDS
mark() { echo "# $* ($((SECONDS - t0)) s)"; }

# status NAME [ARGS]: etcd-status ARGS, human into $TB/NAME.txt and -o json into $TB/NAME.json; exit codes kept in
# $TB/NAME.rc ("human json").
status() {
	local name=$1; shift
	local rc_h=0 rc_j=0
	echo "+ etcd-status $*" >>"$TB/medic.log"
	KUBECONFIG=$TB/kubeconfig timeout -k 5 120 "$MEDIC" run etcd-status "$@" >"$TB/$name.txt" 2>"$TB/$name.err" || rc_h=$?
	cat "$TB/$name.txt" "$TB/$name.err" >>"$TB/medic.log"
	KUBECONFIG=$TB/kubeconfig timeout -k 5 120 "$MEDIC" run etcd-status -o json "$@" >"$TB/$name.json" \
		2>"$TB/$name.json.err" || rc_j=$?
	echo "$rc_h $rc_j" >"$TB/$name.rc"
}
# report NAME RC: both runs exited RC; stdout of the json one is one JSON document (json.tool) valid by the schema.
report() {
	local name=$1 rc=$2
	check "$name: human and -o json exit $rc" [ "$(cat "$TB/$name.rc")" = "$rc $rc" ]
	check "$name: -o json parses with python3 -m json.tool" python3 -m json.tool "$TB/$name.json" /dev/null
	check "$name: -o json matches docs/etcd-status.schema.json" python3 tests/e2e/schema_check.py "$SCHEMA" \
		"$TB/$name.json"
}
# found NAME CODE SEVERITY SUBJECT NEXT: the finding is in -o json and in the human report (severity first, its
# next step on the line after).
found() {
	local name=$1 code=$2 sev=$3 subject=$4 next=$5
	check "$name: -o json has $code ($sev, $subject), next: $next" python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
hits = [f for f in doc["findings"] if f["code"] == sys.argv[2] and f["subject"] == sys.argv[4]]
sys.exit(0 if len(hits) == 1 and hits[0]["severity"] == sys.argv[3] and sys.argv[5] in hits[0]["next"] else 1)' \
		"$TB/$name.json" "$code" "$sev" "$subject" "$next"
	local upper
	upper=$(tr '[:lower:]' '[:upper:]' <<<"$sev")
	check "$name: the human report lists $code with its next step" python3 -c '
import re, sys
text = open(sys.argv[1]).read()
findings = text.split("\nfindings (", 1)[-1].split("\nverdict: ", 1)[0]
m = re.search(r"(?m)^  %-8s %s %s: .*\n +next: (.*)$" % (sys.argv[2], sys.argv[3], re.escape(sys.argv[4])), findings)
sys.exit(0 if m and sys.argv[5] in m.group(1) and "\nverdict: " in text else 1)' \
		"$TB/$name.txt" "$upper" "$code" "$subject" "$next"
}
# codes NAME: the finding codes of -o json, space-separated, in the report's order
codes() { python3 -c 'import json,sys; print(" ".join(f["code"] for f in json.load(open(sys.argv[1]))["findings"]))' \
	"$TB/$1.json"; }
cond() { # cond STATUS.json TYPE: the operator condition's status in `testbed status`
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["operator"]["conditions"][sys.argv[2]]["status"])' "$@"
}
wait_cond() { # wait_cond TYPE STATUS: until `testbed status` shows the operator's condition so
	local type=$1 want=$2 deadline=$((SECONDS + 30))
	until snap "$TB/tb-now.json"; [ "$(cond "$TB/tb-now.json" "$type")" = "$want" ]; do
		[ "$SECONDS" -lt "$deadline" ] || { fail "timed out waiting for $type=$want"; return 1; }
		sleep 0.3
	done
}
QUOTA=$((64 * 1024 * 1024))
tb_up doctor --quota-backend-bytes "$QUOTA"
. "$TB/env"

mark "healthy"
# 1. healthy: no finding, exit 0
snap "$TB/tb-healthy.json"
check "testbed: 3 healthy voting members" tbq healthy "$TB/tb-healthy.json" 3
status healthy
report healthy 0
check "healthy: the human report says 'findings: none' before the verdict" \
	grep -qz $'\nfindings: none\n\nverdict: HEALTHY' "$TB/healthy.txt"
check "healthy: -o json has no finding and verdict HEALTHY" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["findings"] == [] and d["verdict"]["state"] == "HEALTHY" and len(d["members"]) == 3 else 1)' \
	"$TB/healthy.json"
check "healthy: nothing but the document on stdout in json mode, nothing on stderr" \
	bash -c "[ \$(wc -l <'$TB/healthy.json') = 1 ] && [ ! -s '$TB/healthy.json.err' ]"

mark "retry"
# an API server that answers 503 with Retry-After once per run: the retry is said on stderr, stdout stays the document
"$TESTBED" fault "$TB" --method GET --path 'etcds/cluster' --status 503 --retry-after 1 --count 1 >>"$TB/medic.log"
expect "retried: -o json exits 0 after the retry" 0 bash -c "KUBECONFIG='$TB/kubeconfig' timeout -k 5 120 '$MEDIC' run \
	etcd-status -o json >'$TB/retried.json' 2>'$TB/retried.err'"
"$TESTBED" fault "$TB" --clear >>"$TB/medic.log"
check "retried: stdout is one document valid by the schema" python3 tests/e2e/schema_check.py "$SCHEMA" \
	"$TB/retried.json"
check "retried: the retry said on stderr" grep -q "ServiceUnavailable; retrying" "$TB/retried.err"

mark "override"
# 2. the unsafe override left on (a repair's quorum-gate override never removed): the operator's
#    UnsupportedConfigOverridesUpgradeable turns False, which blocks upgrades
kubectl patch etcd cluster --type=merge \
	-p '{"spec":{"unsupportedConfigOverrides":{"useUnsupportedUnsafeNonHANonProductionUnstableEtcd":true}}}' \
	>>"$TB/medic.log" 2>&1
wait_cond UnsupportedConfigOverridesUpgradeable False
status override
report override 4
UNSAFE=useUnsupportedUnsafeNonHANonProductionUnstableEtcd
CLEAR="oc patch etcd cluster --type=merge -p '{\"spec\":{\"unsupportedConfigOverrides\":null}}'"
found override UNSAFE_OVERRIDE_LEFT_ON warning etcd/cluster "$CLEAR"
check "override: the summary names the upgrade it blocks" \
	grep -q "UnsupportedConfigOverridesUpgradeable=False blocks minor-version upgrades" "$TB/override.txt"
check "override: the only finding" [ "$(codes override)" = UNSAFE_OVERRIDE_LEFT_ON ]
# removing only the key leaves {}: still an override to the operator (library-go counts anything but null)
kubectl patch etcd cluster --type=json \
	-p "[{\"op\":\"remove\",\"path\":\"/spec/unsupportedConfigOverrides/$UNSAFE\"}]" >>"$TB/medic.log" 2>&1
snap "$TB/tb-empty.json"
check "testbed: with {} left, UnsupportedConfigOverridesUpgradeable stays False (setting: [])" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["operator"]
c = s["conditions"]["UnsupportedConfigOverridesUpgradeable"]
ok = s["unsupportedConfigOverrides"] == {} and c["status"] == "False" and c["message"] == "setting: []"
sys.exit(0 if ok else 1)' \
	"$TB/tb-empty.json"
status empty-override
report empty-override 4
found empty-override UNSUPPORTED_OVERRIDES warning etcd/cluster "$CLEAR"
bash -c "kubectl ${CLEAR#oc }" >>"$TB/medic.log" 2>&1   # the next step, as printed (kubectl for oc)
wait_cond UnsupportedConfigOverridesUpgradeable True

mark "node IP"
# 3. master-1's InternalIP changed (as its kubelet reports a new address) while its member keeps the old peer URL
old_ip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"]["master-1"]["ip"])' \
	"$TB/tb-healthy.json")
new_ip=${old_ip%.*}.42
addresses() {
	printf '{"status":{"addresses":[{"type":"InternalIP","address":"%s"},{"type":"Hostname","address":"%s"}]}}' \
		"$1" master-1
}
kubectl patch node master-1 --subresource=status --type=merge -p "$(addresses "$new_ip")" >>"$TB/medic.log" 2>&1
snap "$TB/tb-ip.json"
check "testbed: master-1's Node has InternalIP $new_ip, its member still listens on $old_ip" python3 -c '
import json, sys
n = json.load(open(sys.argv[1]))["nodes"]["master-1"]
sys.exit(0 if n["internal_ip"] == sys.argv[2] and n["ip"] == sys.argv[3] else 1)' "$TB/tb-ip.json" "$new_ip" "$old_ip"
status ip
report ip 5
found ip MEMBER_IP_MISMATCH critical master-1 "etcd-medic run replace-crashlooping-member --node master-1"
check "ip: the evidence has the node's new IP" grep -q "node_internal_ip=$new_ip" "$TB/ip.txt"
kubectl patch node master-1 --subresource=status --type=merge -p "$(addresses "$old_ip")" >>"$TB/medic.log" 2>&1

mark "learner"
# 4. a learner that never starts (etcdctl member add --learner for a machine that never came up): info while young,
#    a warning once older than --learner-grace; its age: the operator's EtcdMembersProgressing=True (MembersNotStarted)
learner_ip=${old_ip%.*}.99
id=$(etcdctl member add new-master --learner --peer-urls="https://$learner_ip:2380" -w json 2>>"$TB/medic.log" |
	python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)["member"]["ID"])')
wait_cond EtcdMembersProgressing True
check "testbed: an unstarted learner $id is listed" python3 -c '
import json, sys
ms = [m for m in json.load(open(sys.argv[1]))["etcd"]["members"] if m["id"] == sys.argv[2]]
sys.exit(0 if ms and ms[0]["isLearner"] and ms[0]["status"] == "unstarted" else 1)' "$TB/tb-now.json" "$id"
status learner-young
report learner-young 0
found learner-young LEARNER_PRESENT info "NAME-PENDING-$learner_ip" "etcdctl member remove $id"
status learner-stuck --learner-grace 0   # any age is past a grace of 0 s: LEARNER_STUCK
report learner-stuck 4
found learner-stuck LEARNER_STUCK warning "NAME-PENDING-$learner_ip" "etcdctl member remove $id"
check "learner: the age says where it comes from" grep -q "age_from=EtcdMembersProgressing=True (MembersNotStarted)" \
	"$TB/learner-stuck.txt"
etcdctl member remove "$id" >>"$TB/medic.log" 2>&1
wait_cond EtcdMembersProgressing False

mark "NOSPACE"
# 5. past the quota: 64 MiB written, deleted and compacted under a 64 MiB quota: NOSPACE, and the database over 80 % of
#    its quota (over 95 % critical: etcdDatabaseQuotaLowSpace); the next step they name, etcd-medic run defrag, clears
#    both
db() { # db FILE PY-EXPR: the expression over d = status["etcd"]["database"] of FILE
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["etcd"]["database"]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$@"
}
biggest() { # biggest FILE: the member whose dbSize is the largest
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["etcd"]["database"]["members"]
print(max(m, key=lambda n: m[n]["dbSize"]))' "$1"
}
"$TESTBED" fragment "$TB" --mb 64 >>"$TB/medic.log" 2>&1 || fail "testbed fragment --mb 64"
snap "$TB/tb-nospace.json"
check "testbed: the NOSPACE alarm is active" \
	db "$TB/tb-nospace.json" 'any(a["alarm"] == "NOSPACE" for a in d["alarms"])'
big=$(biggest "$TB/tb-nospace.json")
check "testbed: $big's dbSize over 80 % of the quota" \
	db "$TB/tb-nospace.json" "d['members']['$big']['dbSize'] > 0.8 * $QUOTA"
near=warning
db "$TB/tb-nospace.json" "d['members']['$big']['dbSize'] > 0.95 * $QUOTA" && near=critical
status nospace
report nospace 5
found nospace ALARM_NOSPACE critical "etcd cluster" "etcd-medic run defrag"
found nospace DB_NEAR_QUOTA "$near" "$big" "etcd-medic run defrag"
check "nospace: the quota is the pod's" \
	grep -q "quota_bytes=$QUOTA quota_from=ETCD_QUOTA_BACKEND_BYTES of etcd-master-0" "$TB/nospace.txt"
check "nospace: the verdict is NOSPACE, not a lost quorum" grep -q "^verdict: NOSPACE: .*run etcd-medic run defrag" \
	"$TB/nospace.txt"
check "nospace: no MEMBER_UNHEALTHY for the alarm's health" bash -c "! grep -q MEMBER_UNHEALTHY '$TB/nospace.txt'"
expect "the next step: etcd-medic run defrag --yes" 0 bash -c "KUBECONFIG='$TB/kubeconfig' timeout -k 5 300 \
	'$MEDIC' run defrag --yes --pause 1 --poll-interval 0.3 --state-dir '$TB/state' >>'$TB/medic.log' 2>&1"

mark "healthy again"
# 6. healthy again: nothing left behind
snap "$TB/tb-after.json"
check "testbed: 3 healthy voting members again" tbq healthy "$TB/tb-after.json" 3
status after
report after 0
check "after: no finding" [ -z "$(codes after)" ]
echo "doctor_test: $((SECONDS - t0)) s"
finish
