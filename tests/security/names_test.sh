#!/usr/bin/env bash
# Node names and paths with shell metacharacters, '..', NUL or over-long are refused before any request:
# the procedure's --node (refused: exit 3, no http line under -v), node.open_remote, node handles' paths, member IDs.
. "$(dirname "$0")/lib.sh"
nowhere_kubeconfig "$T/kc"
long=$(printf 'a%.0s' $(seq 300))
for n in 'a;touch /tmp/medic-pwn' '$(id)' 'master-0`id`' '../master-0' 'master-0/..' '..' "$long" \
	'Master-0' 'a b' 'a|b' "a'b" '-rf' ''; do
	out=$(timeout 30 "$MEDIC" --kubeconfig "$T/kc" -v run replace-crashlooping-member --node "$n" --yes 2>&1)
	rc=$?
	http=$(printf '%s\n' "$out" | grep -c 'http' || true)
	check "--node $(printf %q "${n:0:40}") refused with exit 3 before any request (exit $rc, $http http lines)" \
		test "$rc" -eq 3 -a "$http" -eq 0
	printf '%s\n' "$out" | grep -q 'invalid node name' || fail "no clear message for --node ${n:0:40}: $out"
done
test ! -e /tmp/medic-pwn || fail "a shell ran a node name"

# the bindings, through Lua (NUL cannot go through argv): every bad value refused with "InvalidArgument"
out=$(timeout 60 "$MEDIC" --kubeconfig "$T/kc" -v -e '
local node, k8s, etcd = require "medic.node", require "medic.k8s", require "medic.etcd"
local kc = assert(k8s.connect {})
local bad_names = { "a\0b", "a;b", "$(id)", "..", "a/../b", ("a"):rep(254), "", "A" }
for _, n in ipairs(bad_names) do
	local h, msg, code = node.open_remote(kc, n)
	print("node", code, h == nil)
end
local root = os.getenv("T") .. "/root"
os.execute("mkdir -p " .. root .. "/var/lib")
local h = assert(node.open_local { root = root })
for _, p in ipairs { "/var/lib/../../../etc/passwd", "../etc", "var/lib", "/var\0/lib", "/" .. ("a"):rep(5000),
		"/var/lib/" .. ("b"):rep(300) } do
	local r, msg, code = h:stat(p)
	print("path", code, r == nil)
	local ok, merr, mcode = h:move(p, "/var/lib/x")
	print("move", mcode, ok == nil)
end
local c = etcd.via_exec(kc, { namespace = "openshift-etcd", pod = "etcd-x" })
for _, id in ipairs { "1;reboot", "$(id)", "0x10", "-1", "10000000000000000", "" } do
	local ok, r1, r2, r3 = pcall(c.member_remove, c, id)
	print("id", ok and r3 or "raised", ok and r1 == nil or not ok)
end
' 2>&1)
printf '%s\n' "$out" | grep -q . || fail "no output from the Lua checks"
bad=$(printf '%s\n' "$out" | grep -E '^(node|path|move|id)' | grep -v 'true$' || true)
check "bindings refuse every bad name, path and ID" test -z "$bad"
[ -z "$bad" ] || printf '%s\n' "$bad"
nodes=$(printf '%s\n' "$out" | grep -c '^node	InvalidArgument	true$' || true)
check "open_remote: 8 bad node names refused as InvalidArgument ($nodes)" test "$nodes" -eq 8
n=$(printf '%s\n' "$out" | grep -cE '^(path|move)	InvalidArgument	true$' || true)
check "node handle: 6 bad paths refused as InvalidArgument by stat and move ($n of 12)" test "$n" -eq 12
n=$(printf '%s\n' "$out" | grep -cE '^id	' || true)
check "member_remove: 6 bad IDs refused ($n)" test "$n" -eq 6
http=$(printf '%s\n' "$out" | grep -c 'http' || true)
check "no request was made by any of them ($http http lines)" test "$http" -eq 0
finish
