#!/bin/bash
# Real incidents (issue 14): an upgrade in progress (ClusterVersion's newest entry Partial; the operator gates),
# with a learner the operator promotes only after a delay; and an
# arbiter topology (4.20+: two control-plane nodes and an arbiter, three voting members).
. "$(dirname "$0")/lib.sh"
tb_up upgrading --names u-0,u-1,u-2 --profile 4.14 --upgrading --promote-delay 20
crashloop u-1
snap "$E2E_TMP/u-before.json"
expect "an upgrade in progress, a slow learner: repaired" 0 medic --node u-1 --yes
assert_repaired u-1 "$(tbq member-id "$E2E_TMP/u-before.json" u-1)" 3
snap "$E2E_TMP/u-after.json"
check "upgrade: unsupportedConfigOverrides as before" \
	test "$(tbq overrides "$E2E_TMP/u-after.json")" = "$(tbq overrides "$E2E_TMP/u-before.json")"
check "upgrade: the gate was decided by the etcd operator's version" \
	grep -q 'version: OpenShift 4.14.20 (the etcd operator): the quorum gate is opened' "$TB/medic.log"

tb_up arbiter --names a-0,a-1 --arbiter a-2 --profile 4.20
crashloop a-2
snap "$E2E_TMP/a-before.json"
expect "arbiter topology: the arbiter's member replaced" 0 medic --node a-2 --yes
assert_repaired a-2 "$(tbq member-id "$E2E_TMP/a-before.json" a-2)" 3
finish
