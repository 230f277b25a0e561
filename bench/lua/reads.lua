-- bench: N API reads (default 20) over one connection, the same four reads kubectl-reads.sh makes, in turn.
local kc = assert(require("medic.k8s").connect {})
local paths = {
	"/api/v1/namespaces/openshift-etcd/pods",
	"/apis/operator.openshift.io/v1/etcds/cluster",
	"/api/v1/nodes",
	"/api/v1/namespaces/openshift-etcd/secrets",
}
for i = 1, tonumber(arg[1] or 20) do
	assert(kc:get(paths[(i - 1) % #paths + 1]))
end
