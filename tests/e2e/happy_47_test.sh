#!/bin/bash
# OpenShift 4.7 (no quorum gate, exec over v4 only), node names with dots, the node found without --node,
# and the native node backend (--local --root: etcd-medic runs "on the node", whose root is a directory here).
. "$(dirname "$0")/lib.sh"

tb_up h47 --names ctl-0.lab.example,ctl-1.lab.example,ctl-2.lab.example --profile 4.7
node=ctl-2.lab.example

crashloop "$node"
snap "$E2E_TMP/broken.json"
old_id=$(tbq member-id "$E2E_TMP/broken.json" "$node")
before=$(tbq overrides "$E2E_TMP/broken.json")

expect "repair, node found by itself, native node backend" 0 medic --yes --local --root "$TB/nodes/$node/root"
assert_repaired "$node" "$old_id" 3
snap "$E2E_TMP/after.json"
check "no quorum gate on 4.7: unsupportedConfigOverrides untouched" test "$(tbq overrides "$E2E_TMP/after.json")" = "$before"
check "the journal says the gate step was skipped" \
	python3 -c "import glob, json, sys; j = json.load(open(glob.glob('$TB/state/*.done-*.journal')[0])); sys.exit(j['steps']['open-quorum-gate']['status'] != 'skipped')"
finish
