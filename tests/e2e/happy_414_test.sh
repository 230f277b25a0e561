#!/bin/bash
# The whole procedure on OpenShift 4.14 (quorum gate) with 3 nodes: nothing to do on a healthy cluster,
# --dry-run changes nothing, the repair (with a site file) ends healthy with the overrides restored exactly,
# and a second run does nothing.
. "$(dirname "$0")/lib.sh"

tb_up h414 --names master-0,master-1,master-2 --profile 4.14
node=master-1

# unsupportedConfigOverrides holds something of the site's before: it must come back exactly.
KUBECONFIG=$TB/kubeconfig "$MEDIC" -e '
	local kc = assert(require("medic.k8s").connect{})
	assert(kc:patch("/apis/operator.openshift.io/v1/etcds/cluster",
		{spec = {unsupportedConfigOverrides = {site = {keep = "me"}}}}, "merge"))' || die "setting the overrides"

snap "$E2E_TMP/healthy.json"
expect "healthy cluster: nothing to do" 0 medic --yes
snap "$E2E_TMP/healthy2.json"
check "healthy cluster: nothing changed" cmp -s <(tbq fingerprint "$E2E_TMP/healthy.json") <(tbq fingerprint "$E2E_TMP/healthy2.json")
check "healthy cluster: no journal left" test ! -e "$TB/state/replace-crashlooping-member-"*.journal

crashloop "$node"
snap "$E2E_TMP/broken.json"
old_id=$(tbq member-id "$E2E_TMP/broken.json" "$node")
old_peer=$(tbq secret-uid "$E2E_TMP/broken.json" "etcd-peer-$node")

expect "dry run" 0 medic --dry-run
snap "$E2E_TMP/dry.json"
check "dry run: members, secrets, operator spec and node files unchanged" \
	cmp -s <(tbq fingerprint "$E2E_TMP/broken.json") <(tbq fingerprint "$E2E_TMP/dry.json")
check "dry run: no journal written" test ! -d "$TB/state"

cat >"$E2E_TMP/site.lua" <<SITE
local site = ...
site.options.backup_dir = "$E2E_TMP/site-backups"
site.after("*", function(ctx, step, status)
	local f = assert(io.open("$E2E_TMP/site.log", "a"))
	f:write(step.name, " ", status, "\n")
	f:close()
end)
SITE
E2E_GLOBAL="--log-json $E2E_TMP/audit.json" expect "repair with a site file" 0 medic --node "$node" --yes \
	--site "$E2E_TMP/site.lua"
assert_repaired "$node" "$old_id" 3
snap "$E2E_TMP/after.json"
check "the peer secret was re-issued" test "$(tbq secret-uid "$E2E_TMP/after.json" "etcd-peer-$node")" != "$old_peer"
check "unsupportedConfigOverrides restored exactly" \
	test "$(tbq overrides "$E2E_TMP/after.json")" = '{"site": {"keep": "me"}}'
check "site file: the platform's pair (snapshot + static pod resources at the revisions before the repair, 0600) \
is in the site's backup dir" python3 tests/e2e/backupcheck.py pair "$E2E_TMP/broken.json" "$E2E_TMP/site-backups"
check "site file: the after hook saw the member removal" grep -qx "remove-member changed" "$E2E_TMP/site.log"
check "journal kept as finished, mode 0600" \
	bash -c "[ \"\$(stat -c %a '$TB'/state/*.done-*.journal)\" = 600 ]"

# the change ticket, from --log-json alone: the removed member, the node's paths moved, the backup, the outcome
audit() {
	python3 - "$E2E_TMP/audit.json" "$@" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
audit = [r for r in records if r.get("level") == "audit"]
def action(kind):
    return [r["fields"] for r in audit if r["topic"] == "action" and r["fields"]["kind"] == kind]
what, arg = sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
if what == "removed":
    ok = any(a["fields"]["id"] == arg and a["result"] == "done" for a in action("member_remove"))
elif what == "moved":
    ok = any(len(a["fields"].get("moved", [])) == 2 for a in action("move_aside"))
elif what == "backup":
    ok = any(a["fields"].get("to") and len(a["fields"].get("sha256", "")) == 64 for a in action("snapshot"))
elif what == "outcome":
    ok = any(r["topic"] == "outcome" and r["fields"]["outcome"] == arg for r in audit)
else:
    ok = any(r["topic"] == what for r in audit)
sys.exit(0 if ok else 1)
PY
}
check "--log-json: the start (who, cluster, script, site file)" audit start
check "--log-json: the confirmation" audit confirmed
check "--log-json: the removed member's ID" audit removed "$old_id"
check "--log-json: the node's paths moved" audit moved
check "--log-json: the backup file and its SHA-256" audit backup
check "--log-json: the outcome" audit outcome done

expect "after the repair: nothing to do" 0 medic --node "$node" --yes
snap "$E2E_TMP/again.json"
check "after the repair: no member removed again" cmp -s <(tbq ids "$E2E_TMP/after.json") <(tbq ids "$E2E_TMP/again.json")
finish
