-- etcd-medic-api: 2
-- replace-crashlooping-member's own read of the cluster as the repair goes on: whether etcd stopped on the node.
-- The reads it shares with replace-unhealthy-member (overrides, secrets, revisions, convergence) are
-- medic.replace.progress.
local openshift = require "medic.openshift"

local progress = {}

-- Is etcd stopped on the node: has the kubelet torn the static pod down (its mirror pod deleted)? A container
-- merely waiting between two crashes is not stopped: the kubelet may still start it. Returns done, a line.
function progress.etcd_gone(ctx)
	local path = openshift.ns_path(ctx.opts.namespace, "pods", ctx.facts.pod:format(ctx.state.node))
	local pod, _, code = ctx.cluster:k8s():get(path)
	if not pod then return code == "NotFound", "etcd pod " .. (code == "NotFound" and "gone" or "unknown") end
	local running = openshift.container_running(pod, "etcd")
	return false, "etcd pod still there, its etcd container " .. (running and "running" or "not running")
end

return progress
