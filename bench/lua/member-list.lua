-- bench: one etcd member list, as `etcdctl member list` does it. arg[1]: "direct" (the v3 gateway, mTLS,
-- ETCDCTL_* from the testbed's env) or "pod" (etcdctl in the etcd pod BENCH_POD, through Kubernetes exec).
local etcd = require "medic.etcd"
local how = arg[1] or "direct"
local c, err
if how == "direct" then
	local eps = {}
	for e in (os.getenv("ETCDCTL_ENDPOINTS") or ""):gmatch("[^,]+") do eps[#eps + 1] = e end
	c, err = etcd.connect { endpoints = eps, cacert = os.getenv("ETCDCTL_CACERT"),
		cert = os.getenv("ETCDCTL_CERT"), key = os.getenv("ETCDCTL_KEY") }
else
	local kc = assert(require("medic.k8s").connect {})
	c, err = etcd.via_exec(kc, { namespace = "openshift-etcd", pod = os.getenv("BENCH_POD") or "etcd-master-0",
		container = "etcdctl" })
end
assert(c, err)
local members = assert(c:members())
assert(#members > 0, "no members")
