#!/bin/bash
# replace-unhealthy-member end to end, one testbed per variant (docs/testbed-machines.md): a control-plane machine
# powered off (`testbed stop-machine`), the procedure run with --yes, and the truth (`testbed status`) after it: the
# old Node and Machine (and host) gone, one new node with a started, healthy, voting member, every other member as it
# was, every node at the latest revision, the overrides as before, no Lease left.
#   cpms          an Active ControlPlaneMachineSet; the replacement in the old Machine's zone
#   machine-api   an Inactive set; kill-and-resume after each mutating step (SIGKILL from a site hook)
#   baremetal     BareMetalHosts and their provisioner
#   upi           no Machine: the test plays the admin who brings a host (`testbed add-host`, its CSRs left pending);
#                 the run approves them (--approve-csrs), the node's only
# The machine-api and upi runs go as a service account with exactly the role `etcd-medic rbac
# replace-unhealthy-member` prints (tests/e2e/rbacctl.py, as rbac_test.sh): no request refused, and every permission
# exercised across the two variants but the bare-metal ones (declared optional, named below).
# Refusals (exit 3, nothing changed): the named node Ready; a crash-looping pod (pointing at
# replace-crashlooping-member); two machines down; --approve-csrs off UPI, or naming a node that ran etcd. A member too many after the run (added by hand while it waits):
# named, not removed (exit 1); the same command, once it is gone, verifies and ends (exit 0).
. "$(dirname "$0")/lib.sh"
E2E_TIMINGS=()

umed() {
	echo "+ replace-unhealthy-member $*" >>"$TB/medic.log"
	KUBECONFIG=${E2E_KC:-$TB/kubeconfig} timeout -k 5 "${E2E_RUN_TIMEOUT:-300}" "$MEDIC" ${E2E_GLOBAL:-} run replace-unhealthy-member \
		--state-dir "$TB/state" --poll-interval 0.3 --settle "${E2E_SETTLE:-3}" "$@" >>"$TB/medic.log" 2>&1
}
mq() { python3 "$E2E_REPO/tests/e2e/machcheck.py" "$@"; }
stop_machine() { "$TESTBED" stop-machine "$TB" "$1" >/dev/null || die "testbed stop-machine $1"; }
# site_after STEP LUA: a site file that runs LUA right after STEP; a Lease of 1 s, so that every run as the service
# account that takes it renews it too (create, update, delete), however fast it goes.
site_after() {
	printf 'local site = ...\nrequire("medic.procedure.lease").DURATION = 1\n'
	printf 'site.after("%s", function()\n%s\nend)\n' "$1" "$2"
}

# The procedure's service account on this testbed: its role created, a token; E2E_KC: a kubeconfig that uses it.
rbacctl() { python3 "$E2E_REPO/tests/e2e/rbacctl.py" "$@"; }
SA_USER=system:serviceaccount:openshift-etcd:etcd-medic-replace-unhealthy-member
as_service_account() {
	"$MEDIC" rbac replace-unhealthy-member -o json >"$TB/rbac.json" || die "etcd-medic rbac replace-unhealthy-member"
	rbacctl apply "$TB/kubeconfig" "$TB/rbac.json" || die "creating the RBAC"
	rbacctl token "$TB/kubeconfig" openshift-etcd etcd-medic-replace-unhealthy-member "$TB/sa.kubeconfig" || die "token"
	rbacctl reset "$TB/kubeconfig"
	E2E_KC=$TB/sa.kubeconfig
}

# urefused DESC WHY ARGS...: exit 3, for the reason WHY (grep -E), and nothing changed.
urefused() {
	local desc=$1 why=$2; shift 2
	snap "$E2E_TMP/u-before.json"
	local from
	from=$(($( (cat "$TB/medic.log" 2>/dev/null || true) | wc -l) + 1))
	expect "refused: $desc" 3 umed "$@"
	check "refused: $desc: for the right reason" bash -c "tail -n +$from '$TB/medic.log' | grep -qE '$why'"
	snap "$E2E_TMP/u-after.json"
	check "refused: $desc: nothing changed" \
		cmp -s <(tbq fingerprint "$E2E_TMP/u-before.json") <(tbq fingerprint "$E2E_TMP/u-after.json")
}

# replace NODE [ARGS...]: NODE's machine replaced by one run; the truth checked.
replace() {
	local node=$1; shift
	snap "$E2E_TMP/r-before.json"
	expect "$node replaced ($*)" 0 umed --node "$node" --yes "$@"
	assert_replaced "$node"
}
assert_replaced() {
	local node=$1 new
	snap "$E2E_TMP/r-after.json"
	new=$(mq replaced "$E2E_TMP/r-before.json" "$E2E_TMP/r-after.json" "$node")
	check "$node's Node and Machine gone, a new node ($new) with a healthy voting member, the others unchanged" \
		test -n "$new" -a "${new#not replaced}" = "$new"
	check "all members healthy and voting, pods Ready, every node at the latest revision" \
		tbq healthy "$E2E_TMP/r-after.json" "$(mq nodes "$E2E_TMP/r-after.json")"
	check "unsupportedConfigOverrides as before" \
		test "$(tbq overrides "$E2E_TMP/r-after.json")" = "$(tbq overrides "$E2E_TMP/r-before.json")"
	check "no Lease left" tbq no-lease "$E2E_TMP/r-after.json"
	NEW_NODE=$new
}

################################################################ cpms
t0=$SECONDS
tb_up cpms --names master-0,master-1,master-2 --profile 4.14 --machines cpms
urefused "the named node is Ready" "node master-1 is Ready" --node master-1 --yes
stop_machine master-1
urefused "--approve-csrs where the machine-approver approves" "approve-csrs is for UPI" --node master-1 --yes \
	--approve-csrs master-9
snap "$E2E_TMP/zone.json"
old_zone=$(mq zone "$E2E_TMP/zone.json" "$(mq machine "$E2E_TMP/zone.json" master-1)")
# another admin adds a member by hand while the run waits: the verification names it and removes nothing
# (etcd may refuse a change for a moment right after the operator's last restart: tried for up to 20 s)
cat >"$E2E_TMP/add-extra.sh" <<EOF
. '$TB/env'
for i in \$(seq 1 20); do
	etcdctl member add extra --learner --peer-urls=https://127.0.0.250:2380 >/dev/null 2>>'$E2E_TMP/add-extra.err' && exit 0
	sleep 1
done
exit 1
EOF
site_after wait "assert(os.execute([[sh '$E2E_TMP/add-extra.sh']]))" >"$E2E_TMP/extra.lua"
snap "$E2E_TMP/r-before.json"
expect "a member too many after the run: stopped" 1 umed --node master-1 --yes --site "$E2E_TMP/extra.lua"
check "it says which member" grep -q "a member too many: (unstarted) .*127.0.0.250:2380" "$TB/medic.log"
snap "$E2E_TMP/extra.json"
check "the member too many was not removed" test "$(mq members "$E2E_TMP/extra.json")" = 4
extra_id=$(. "$TB/env" && etcdctl member list | awk -F', ' '$4 == "https://127.0.0.250:2380" {print $1}')
(. "$TB/env" && etcdctl member remove "$extra_id" >/dev/null) || fail "removing the extra member by hand"
expect "run again once it is removed: verified" 0 umed --node master-1 --yes
assert_replaced master-1
check "the ControlPlaneMachineSet's replacement is in the old zone ($old_zone)" \
	test "$(mq zone "$E2E_TMP/r-after.json" "$(mq machine "$E2E_TMP/r-after.json" "$NEW_NODE")")" = "$old_zone"
E2E_TIMINGS+=("cpms: $((SECONDS - t0))s")

################################################################ machine-api: kill and resume at each step
t0=$SECONDS
tb_up api --names master-0,master-1,master-2 --profile 4.14 --machines cpms-inactive
stop_machine master-1
as_service_account
snap "$E2E_TMP/r-before.json"
for step in backup save remove-member open-quorum-gate delete-node delete-secrets delete-machine create-machine \
	new-node force-redeploy new-revision restore-overrides; do
	site_after "$step" 'local f = assert(io.open("/proc/self/stat")); local pid = f:read("n"); f:close()
	os.execute("kill -9 " .. pid)' >"$E2E_TMP/kill.lua"
	umed --node master-1 --yes --site "$E2E_TMP/kill.lua" --journal cluster
	rc=$?
	if [ "$rc" -eq 137 ]; then ok "killed (SIGKILL) right after $step (exit 137)"
	else fail "kill after $step: exit $rc"; fi
	snap "$E2E_TMP/k-now.json"
	check "after $step: at most 4 members, no other node's member removed" \
		python3 - "$E2E_TMP/r-before.json" "$E2E_TMP/k-now.json" <<'EOF'
import json, sys
b, a = (json.load(open(p)) for p in sys.argv[1:3])
ids = {m["id"] for m in a["etcd"]["members"]}
others = [m["id"] for m in b["etcd"]["members"] if m.get("name") != "master-1"]
sys.exit(0 if len(ids) <= 4 and all(i in ids for i in others) else 1)
EOF
done
echo 'require("medic.procedure.lease").DURATION = 1' >"$E2E_TMP/lease.lua"
expect "the last run finishes the replacement" 0 umed --node master-1 --yes --site "$E2E_TMP/lease.lua" --journal cluster
rbacctl usage "$TB/kubeconfig" "$E2E_TMP/usage.api.json"
E2E_KC=
assert_replaced master-1
snap "$E2E_TMP/m.json"
check "one Machine created, not two" test "$(python3 -c "import json,sys; s=json.load(open('$E2E_TMP/m.json'))
print(len(s['machines']))")" = 3
crashloop master-2
urefused "a crash-looping pod is the other procedure's" "run replace-crashlooping-member --node master-2" \
	--node master-2 --yes
stop_machine master-0
stop_machine master-2
urefused "two machines down" "is down too" --node master-0 --yes
E2E_TIMINGS+=("machine-api with kills: $((SECONDS - t0))s")

################################################################ bare metal
t0=$SECONDS
tb_up bm --names master-0,master-1,master-2 --profile 4.14 --machines baremetal
stop_machine master-1
E2E_GLOBAL="-v --log-json $TB/audit.jsonl" replace master-1
snap "$E2E_TMP/bm.json"
check "the new BareMetalHost is provisioned" test "$(mq host-state "$E2E_TMP/bm.json" "$NEW_NODE")" = provisioned
# the BMC password the new host's secret holds: in none of the run's output (-v), its --log-json, its journal
pw=$(KUBECONFIG=$TB/kubeconfig "$MEDIC" -e "local kc = assert(require('medic.k8s').connect{})
local s = assert(kc:get('/api/v1/namespaces/openshift-machine-api/secrets/$NEW_NODE-bmc-secret'))
print(s.data.password)")
check "the new host's BMC secret holds a password" test -n "$pw"
for f in "$TB/medic.log" "$TB/audit.jsonl" "$TB"/state/*.journal; do
	check "the BMC password is not in $(basename "$f") (plain or base64)" \
		bash -c "! grep -qF -- \"\$(echo '$pw' | base64 -d)\" '$f' && ! grep -qF -- '$pw' '$f'"
done
E2E_TIMINGS+=("baremetal: $((SECONDS - t0))s")

################################################################ upi: the admin brings a host
t0=$SECONDS
tb_up upi --names master-0,master-1,master-2 --profile 4.14
stop_machine master-1
as_service_account
urefused "--approve-csrs naming a node that ran etcd" "node master-0 ran etcd before" --node master-1 --yes \
	--approve-csrs master-0
snap "$E2E_TMP/r-before.json"
umed --node master-1 --yes --approve-csrs master-3 --site "$E2E_TMP/lease.lua" --journal cluster &
run=$!
waiting_for_host() { grep -q "node master-3: client CSR not yet" "$TB/medic.log"; }
wait_for "the run to wait for the admin's host" 120 waiting_for_host
# a CSR for master-3 (a real request, CN=system:node:master-3) from another requestor: never approved
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$E2E_TMP/intruder.key" \
	-subj /O=system:nodes/CN=system:node:master-3 2>/dev/null | base64 -w0 >"$E2E_TMP/intruder.b64"
KUBECONFIG=$TB/kubeconfig "$MEDIC" -e "local csr = require('medic.csr')
local kc = assert(require('medic.k8s').connect{})
local f = assert(io.open('$E2E_TMP/intruder.b64')); local req = f:read('a'); f:close()
assert(kc:create(csr.COLLECTION, { metadata = { name = 'csr-intruder' }, spec = { signerName = csr.CLIENT_SIGNER,
	username = 'system:serviceaccount:default:intruder', groups = { 'system:authenticated' },
	usages = { 'digital signature', 'client auth' }, request = req } }))" >/dev/null \
	|| fail "creating a CSR for master-3 from another requestor"
"$TESTBED" add-host "$TB" --name master-3 >/dev/null || fail "testbed add-host"
wait "$run"
rc=$?
rbacctl usage "$TB/kubeconfig" "$E2E_TMP/usage.upi.json"
E2E_KC=
if [ "$rc" -eq 0 ]; then ok "upi: replaced once the admin brought master-3 (exit 0)"; else fail "upi: exit $rc"; fi
assert_replaced master-1
check "the new node is the admin's" test "$NEW_NODE" = master-3
csrs() { python3 -c "import json, sys
print(' '.join(sorted('%s:%s' % (c['username'].split(':')[-1], c['condition'])
                      for c in json.load(open(sys.argv[1]))['csrs'])))" "$E2E_TMP/r-after.json"; }
check "master-3's client and serving CSRs approved by the run, the intruder's left pending ($(csrs))" \
	test "$(csrs)" = "intruder:Pending master-3:Approved node-bootstrapper:Approved"
check "the run said it did not approve the intruder's CSR" grep -q "csr-intruder names node master-3 but is NOT" \
	"$TB/medic.log"
check "the approvals are in the journal (its ConfigMap)" "$MEDIC" -e "
local kc = assert(require('medic.k8s').connect{ kubeconfig = '$TB/kubeconfig' })
for _, cm in ipairs(assert(kc:list('/api/v1/namespaces/openshift-etcd/configmaps')).items) do
	for _, v in pairs(cm.data or {}) do if v:find('approved_csrs', 1, true) then os.exit(0) end end
end
os.exit(1)"
bm_rules=()
for r in "get baremetalhosts.metal3.io" "list baremetalhosts.metal3.io" "create baremetalhosts.metal3.io" \
	"delete baremetalhosts.metal3.io" "get secrets" "create secrets"; do
	bm_rules+=("--unused-ok=$r in openshift-machine-api")
done
check "as its service account (machine-api, upi): nothing refused, every permission exercised but bare metal's" \
	rbacctl check "$TB/rbac.json" "$SA_USER" "${bm_rules[@]}" "$E2E_TMP/usage.api.json" "$E2E_TMP/usage.upi.json"
E2E_TIMINGS+=("upi: $((SECONDS - t0))s")

for t in "${E2E_TIMINGS[@]}"; do echo "# time: $t"; done
finish
