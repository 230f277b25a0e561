#!/bin/bash
# etcd-medic in the cluster, as Kubernetes Jobs on the testbed (docs/in-cluster-journal.md): the testbed's job and
# cronjob controllers run each pod's etcd-medic (this build) with the in-cluster service account.
#  - etcd-status from `etcd-medic manifests`: the Job completes, its log and the ConfigMap etcd-medic-report hold
#    the -o json verdict; on a crash-looping member the pod's exit code is the critical one (5);
#  - a backup CronJob (`manifests backup --schedule`) makes backups on schedule, on the nodes;
#  - a repair Job whose pod is killed (SIGKILL) right after remove-member: the Job's next pod resumes from the
#    journal in the cluster (a ConfigMap) and completes, without removing a second member;
#  - one journal per cluster: a repair Job that is not retried leaves its journal in the cluster; a run from this
#    machine sees it (etcd-status) and finishes the repair from it.
. "$(dirname "$0")/lib.sh"
E2E_SPEED=${E2E_JOB_SPEED:-8}
tb_up job --names j-0,j-1,j-2 --profile 4.14 --schedulable-masters --cron-minute 2
K() { KUBECONFIG=$TB/kubeconfig kubectl -n openshift-etcd "$@"; }
apply() { KUBECONFIG=$TB/kubeconfig kubectl apply -f "$1"; }  # each object in its own namespace
section() { echo "# ${SECONDS}s: $*"; }
S=$E2E_TMP/j.json
ended() { snap "$S" && tbq job "$S" "$1" | grep -qvE '^Running '; }
outcome() { snap "$S"; tbq job "$S" "$1"; }
cm() { tbq configmap "$S" "$1" "$2"; }
R=replace-crashlooping-member

section "etcd-status as a Job"
"$MEDIC" manifests etcd-status >"$E2E_TMP/status.yaml" || die "etcd-medic manifests etcd-status"
expect "kubectl apply -f (etcd-medic manifests etcd-status)" 0 apply "$E2E_TMP/status.yaml"
wait_for "the etcd-status Job to end" 60 ended etcd-medic-etcd-status
verdict_is() { python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["verdict"]["state"] != sys.argv[1])' "$1"; }
check "etcd-status Job: Complete, one pod, exit 0" test "$(outcome etcd-medic-etcd-status)" = "Complete 1 0 0"
check "the report ConfigMap: verdict HEALTHY, exit code 0" \
	test "$(cm etcd-medic-report verdict) $(cm etcd-medic-report exitCode)" = "HEALTHY 0"
check "its report.json is the -o json document" verdict_is HEALTHY <<<"$(cm etcd-medic-report report.json)"
check "the Job's log is the same document" verdict_is HEALTHY < <(K logs job/etcd-medic-etcd-status)

section "a backup CronJob: backups on schedule"
"$MEDIC" manifests backup --schedule '* * * * *' >"$E2E_TMP/backup.yaml" || die "etcd-medic manifests backup"
expect "kubectl apply -f (etcd-medic manifests backup --schedule)" 0 apply "$E2E_TMP/backup.yaml"
two_done() { snap "$S" && [ "$(tbq jobs-done "$S" etcd-medic-backup | cut -d' ' -f1)" -ge 2 ]; }
wait_for "two scheduled backups" 120 two_done
count_backups() {
	local n=0 d
	for d in "$TB"/nodes/*/root/home/core/assets/backup; do
		[ -d "$d" ] && n=$((n + $(python3 tests/e2e/backupcheck.py count "$d")))
	done
	echo "$n"
}
check "backup CronJob: two Jobs complete, none failed" \
	test "$(tbq jobs-done "$S" etcd-medic-backup | cut -d' ' -f2)" = 0
check "backup CronJob: the backups are on the nodes ($(count_backups) snapshots)" test "$(count_backups)" -ge 2
K patch cronjob etcd-medic-backup --type=merge -p '{"spec":{"suspend":true}}' >/dev/null  # no backup cut short
idle() { snap "$S" && [ "$(tbq cronjob-active "$S" etcd-medic-backup)" = 0 ]; }
wait_for "the suspended CronJob's last Job to end" 60 idle
K delete cronjob etcd-medic-backup >/dev/null
no_backup_job() { snap "$S" && [ "$(tbq jobs-done "$S" etcd-medic-backup)" = "0 0" ]; }
wait_for "the CronJob's Jobs to be deleted with it" 60 no_backup_job
check "the backups released the lease" tbq no-lease "$S"

kill_site() {  # a site file killing the run (SIGKILL) after STEP, once: the marker file says it was done
	printf 'local site = ...\nsite.after("%s", function()\n\tif io.open("%s") then return end\n' "$1" "$2"
	printf '\tassert(io.open("%s", "w")):close()\n\tlocal f = assert(io.open("/proc/self/stat"))\n' "$2"
	printf '\tlocal pid = f:read("n")\n\tf:close()\n\tos.execute("kill -9 " .. pid)\nend)\n'
}
repair_job() {  # NAME NODE BACKOFF SITE: a Job repairing NODE with the site file of the ConfigMap SITE
	python3 - "$1" "$2" "$3" "$4" "$E2E_TMP/backups" <<'PY'
import json, sys
name, node, backoff, site, backups = sys.argv[1:]
cmd = ["etcd-medic", "run", "replace-crashlooping-member", "--node", node, "--yes", "--site", "/etc/site/kill.lua",
       "--backup-dir", backups, "--poll-interval", "0.3", "--settle", "3"]
print(json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {
    "backoffLimit": int(backoff), "template": {"spec": {
        "restartPolicy": "Never", "serviceAccountName": "etcd-medic-replace-crashlooping-member", "containers": [{
            "name": "etcd-medic", "image": "etcd-medic:test", "command": cmd,
            "volumeMounts": [{"name": "site", "mountPath": "/etc/site"}]}],
        "volumes": [{"name": "site", "configMap": {"name": site}}]}}}}))
PY
}
"$MEDIC" rbac "$R" >"$E2E_TMP/repair-rbac.yaml" || die "etcd-medic rbac $R"
expect "kubectl apply -f (etcd-medic rbac $R)" 0 apply "$E2E_TMP/repair-rbac.yaml"
crashloop j-1
section "etcd-status as a Job on a crash-looping member: critical"
K delete job etcd-medic-etcd-status >/dev/null
expect "kubectl apply -f (etcd-medic manifests etcd-status), again" 0 apply "$E2E_TMP/status.yaml"
first_try_ended() { snap "$S" && tbq job "$S" etcd-medic-etcd-status | grep -qE ' [0-9]+(,|$)'; }
wait_for "the etcd-status Job's first try to end" 60 first_try_ended
check "etcd-status Job: its try exits 5 (critical), the pod Failed" \
	grep -qE '^(Running|BackoffLimitExceeded) 0 [12] 5' <<<"$(tbq job "$S" etcd-medic-etcd-status)"
check "the report ConfigMap: ONE_MEMBER_UNHEALTHY, exit code 5" \
	test "$(cm etcd-medic-report verdict) $(cm etcd-medic-report exitCode)" = "ONE_MEMBER_UNHEALTHY 5"
K delete job etcd-medic-etcd-status >/dev/null
section "a repair Job, killed right after remove-member, retried"
snap "$E2E_TMP/before.json"
old_id=$(tbq member-id "$E2E_TMP/before.json" j-1)
kill_site remove-member "$E2E_TMP/killed-1" >"$E2E_TMP/kill.lua"
K create configmap kill-1 --from-file=kill.lua="$E2E_TMP/kill.lua" >/dev/null || die "configmap kill-1"
repair_job repair-j-1 j-1 2 kill-1 >"$E2E_TMP/repair.json"
expect "a repair Job for j-1 is created" 0 K create -f "$E2E_TMP/repair.json"
wait_for "the repair Job to end" 240 ended repair-j-1
check "repair Job: the first pod killed (137) after remove-member, the second completed" \
	test "$(outcome repair-j-1)" = "Complete 1 1 137,0"
J=etcd-medic-journal-$R
check "the second pod resumed from the journal in the cluster" grep -q "resuming the run .* (journal configmap .*/$J)" \
	< <(K logs "$(tbq job-pods "$S" repair-j-1 | tail -n 1)")
others() { tbq ids "$1" | grep -v "^$2 "; }
check "no other member removed" cmp -s <(others "$E2E_TMP/before.json" j-1) <(others "$S" j-1)
assert_repaired j-1 "$old_id" 3
check "the journal is finished in the cluster (none running, one done)" \
	test "$(tbq journals "$S" running "$R" | wc -l) $(tbq journals "$S" done "$R" | wc -l)" = "0 1"
check "the finished journal names the member removed once" grep -q "\"member_id\":\"$old_id\"" \
	<<<"$(tbq configmap "$S" "$(tbq journals "$S" done "$R")" journal.json)"
check "the lease is released" tbq no-lease "$S"
check "the journal in the cluster holds no secret (keys, tokens), only the secrets' names and UIDs" \
	python3 -c 'import re,sys; t=sys.stdin.read(); sys.exit(bool(re.search(r"BEGIN|PRIVATE|sha256~|sa-[\w-]{20}", t))
	or "etcd-peer-j-1" not in t)' <<<"$(tbq configmap "$S" "$(tbq journals "$S" done "$R")" journal.json)"

section "one journal per cluster: a Job's run left unfinished is seen and finished from this machine"
crashloop j-2
snap "$E2E_TMP/before2.json"
old_id=$(tbq member-id "$E2E_TMP/before2.json" j-2)
kill_site remove-member "$E2E_TMP/killed-2" >"$E2E_TMP/kill.lua"
K create configmap kill-2 --from-file=kill.lua="$E2E_TMP/kill.lua" >/dev/null || die "configmap kill-2"
repair_job repair-j-2 j-2 0 kill-2 >"$E2E_TMP/repair2.json"
expect "a repair Job for j-2, not retried, is created" 0 K create -f "$E2E_TMP/repair2.json"
wait_for "the repair Job to end" 120 ended repair-j-2
check "repair Job without retries: Failed (BackoffLimitExceeded) after the kill" \
	test "$(outcome repair-j-2)" = "BackoffLimitExceeded 0 1 137"
check "its journal is left running in the cluster" test "$(tbq journals "$S" running "$R")" = "$J"
KUBECONFIG=$TB/kubeconfig "$MEDIC" run etcd-status --state-dir "$TB/state" >"$E2E_TMP/status.txt" 2>&1
check "etcd-status from this machine names the repair in progress and its journal in the cluster" \
	grep -q "$R of j-2, .*(journal configmap openshift-etcd/$J)" "$E2E_TMP/status.txt"
expect "a run from this machine resumes it from the cluster's journal" 0 medic --node j-2 --yes
check "it said so" grep -q 'resuming the run started .* (journal configmap openshift-etcd/' "$TB/medic.log"
snap "$S"
check "no other member removed" cmp -s <(others "$E2E_TMP/before2.json" j-2) <(others "$S" j-2)
assert_repaired j-2 "$old_id" 3
check "no journal file on this machine" bash -c "! ls '$TB'/state/*.journal 2>/dev/null | grep -q ."
check "the cluster's journal is finished" test "$(tbq journals "$S" running "$R" | wc -l)" = 0
finish
