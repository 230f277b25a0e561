-- etcd-medic-api: 2
-- replace-crashlooping-member's own checks: the node (named, or the only one crash-looping; Ready) and its pod
-- (crash-looping, no rollout elsewhere). The checks it shares with replace-unhealthy-member (permissions, version,
-- members, backup, verification) are medic.replace.checks, and this table hands them on too. Each takes the
-- procedure's ctx, puts what it finds in ctx.state, returns a note to show, and stops the run (ctx:stop) when the
-- procedure does not apply or is not safe.
local openshift = require "medic.openshift"
local shared = require "medic.replace.checks"

local checks = setmetatable({}, { __index = shared })

-- --node's value: a node name as Kubernetes accepts it, checked once, here at the edge, before any request is made
-- (medic.node's rule: a DNS-1123 subdomain).
function checks.node_name(v)
	return require("medic.node").valid_node_name(v)
end


------------------------------------------------------------------------------------------------ node

-- The node with a crash-looping etcd pod: --node, the journal's node when resuming, or the only such node.
local function choose_node(ctx)
	local jnode = ctx.resuming and ctx.journal.node
	local o = ctx.opts
	if jnode and o.node and o.node ~= jnode then
		ctx:stop("refused", string.format("an unfinished run for node %s is recorded in %s; finish it first (run again "
			.. "with --node %s), or move that journal away if it is stale", jnode, ctx.record.path, jnode))
	end
	if o.node or jnode then return o.node or jnode end
	local looping = {}
	for _, p in ipairs(openshift.etcd_pods(ctx.cluster:k8s(), o.namespace)) do
		if openshift.crashlooping(p) then looping[#looping + 1] = p.spec.nodeName end
	end
	if #looping > 1 then
		ctx:stop("refused", "etcd pods are crash-looping on several nodes (" .. table.concat(looping, ", ") .. "): "
			.. "replacing one member cannot fix that; see the OpenShift disaster recovery documentation")
	end
	return looping[1]
end

-- No node named and none crash-looping: nothing to do when every member is healthy, else not this procedure.
local function no_node(ctx)
	local members, _, healthy = ctx.cluster:read_members()
	local all = members ~= nil
	for _, m in ipairs(members or {}) do all = all and healthy[m.id] == true end
	local nodes = #openshift.etcd_nodes(ctx.cluster:k8s())
	if all and #members < nodes then
		ctx:stop("refused", string.format("%d members for %d nodes that run etcd, all healthy: a member was removed "
			.. "(by hand?). Name its node with --node to go on with this procedure", #members, nodes))
	end
	if all then
		ctx:stop("nothing to do", "every etcd member is healthy and no etcd pod is crash-looping: nothing to do")
	end
	ctx:stop("refused", "no etcd pod is crash-looping (or the member list cannot be read); this procedure does not "
		.. "apply. Name the node with --node if you are sure.")
end

function checks.node(ctx)
	local name = choose_node(ctx)
	if not name then no_node(ctx) end
	local node, err, code = ctx.cluster:k8s():get("/api/v1/nodes/" .. name)
	if not node then
		if code == "NotFound" then ctx:stop("refused", "there is no node " .. name .. " (see: oc get nodes)") end
		ctx:stop("failed", "cannot read node " .. name .. ": " .. tostring(err))
	end
	if not openshift.runs_etcd(node) then
		ctx:stop("refused", "node " .. name .. " runs no etcd member (neither a control-plane nor an arbiter node)")
	end
	local ip = openshift.preferred_internal_ip(node, ctx.cluster:k8s():get(openshift.NETWORK))
	if not ip then ctx:stop("refused", "node " .. name .. " has no InternalIP address") end
	if not openshift.node_ready(node) then
		ctx:stop("refused", "node " .. name .. " is not Ready: this procedure is for a crash-looping etcd pod on a "
			.. "working node; see \"Replacing an unhealthy etcd member whose machine is not running or whose node is "
			.. "not ready\"")
	end
	ctx.state.node, ctx.state.node_ip, ctx.cluster.avoid = name, ip, name
	ctx.state.etcd_nodes = #openshift.etcd_nodes(ctx.cluster:k8s())
	return string.format("%s, InternalIP %s", name, ip)
end

------------------------------------------------------------------------------------------------ the pod

-- A rollout elsewhere is checked first: while one is in progress the installer restarts etcd pods, and one restarted
-- while a member is removed can cost quorum; "wait for the rollout" is the answer then. A rollout stuck installing on
-- the node itself is the crash-loop: the installer leaves a static pod that crash-loops at its target revision
-- pending with no timeout (library-go installer_controller), the other nodes wait behind it, and only a newer
-- revision, which this procedure makes, gets it out.
local function rollout_elsewhere(ctx, cr)
	local r = openshift.rollout(cr)
	if not r.in_progress then return nil end
	local installing, behind = openshift.nodes_installing(cr)
	if #installing == 1 and installing[1] == ctx.state.node then
		return string.format("the rollout to revision %d is stuck installing on %s", r.latest, ctx.state.node)
	end
	local function list(nodes) return #nodes > 0 and table.concat(nodes, ", ") or "none" end
	ctx:stop("refused", string.format("a rollout is in progress (%d of %d nodes at revision %d; installing: %s; "
		.. "waiting: %s); wait until it is finished", r.at_latest, r.total, r.latest, list(installing), list(behind)))
end

function checks.crash_loop(ctx)
	if ctx.resuming then return "resuming: the pod was stopped by the run this one resumes" end
	local kc, node = ctx.cluster:k8s(), ctx.state.node
	local stuck = rollout_elsewhere(ctx, kc:get(ctx.facts.etcd_cr))
	local pod
	for _, p in ipairs(openshift.etcd_pods(kc, ctx.opts.namespace)) do
		if p.spec.nodeName == node then pod = p end
	end
	if not pod then
		return "no etcd pod on " .. node .. ": its manifest was moved off the node already (by hand?); the procedure "
			.. "goes on from there"
	end
	local looping, state = openshift.crashlooping(pod)
	if not looping and ctx.state.member_removed then
		if stuck then -- not crash-looping: the operator is installing on the node, and adds its member itself
			ctx:stop("refused", "the etcd pod on " .. node .. " is not crash-looping (" .. state .. ") and the operator "
				.. "is installing a revision there (" .. stuck .. "): it adds the node's member itself; wait until "
				.. "the rollout is finished, then run etcd-status again")
		end
		return state .. "; its member was removed already, so it cannot serve: the procedure goes on from there"
	end
	if not looping then
		ctx:stop("refused", "the etcd pod on " .. node .. " is not crash-looping (" .. state .. "); this procedure "
			.. "does not apply")
	end
	return stuck and (state .. "; " .. stuck) or state
end

return checks
