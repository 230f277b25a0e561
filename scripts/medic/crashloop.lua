-- etcd-medic-api: 1
-- Helpers of replace-crashlooping-member: the cluster state it reads, its preflight checks, and convergence.
--
-- Split out of the script so that the script reads like the document, step by step. Each function takes the
-- procedure's ctx (ctx.kc, ctx.opts, ctx.journal, ctx.node, ctx.node_ip, ...); refusals raise through
-- ctx:refuse (exit 3), failures through ctx:fail or openshift.must (exit 1).
local openshift = require "medic.openshift"
local procedure = require "medic.procedure"
local gopts = require "medic.options"

local must = openshift.must

local function kc_of(ctx)
	if not ctx.kc then
		local k8s = require "medic.k8s"
		ctx.kc = must(k8s.connect { kubeconfig = gopts.kubeconfig, context = gopts.context })
	end
	return ctx.kc
end

local function etcd_cr(ctx) return must(ctx.kc:get(openshift.ETCD_CR)) end

-- An etcd client through a healthy etcd pod on another node; re-picked when the pod goes away.
local function etcd_client(ctx, fresh)
	if fresh or not ctx.etcd then
		local pods = openshift.etcd_pods(ctx.kc, ctx.opts.namespace)
		local pod = openshift.healthy_pod(pods, ctx.node)
		if not pod and not gopts.etcd_endpoints then return nil, "no Ready etcd pod on another node to work through" end
		ctx.etcd = openshift.etcd_client(ctx.kc, ctx.opts.namespace, pod, gopts)
		ctx.etcd_pod = pod and pod.metadata.name or "(direct)"
	end
	return ctx.etcd
end

-- Members and health, read live (never ETCDCTL_ENDPOINTS, which lags: reference/openshift.md §0.8).
-- Retries once through another pod. Returns members, health, healthy_by_id or nil, message.
local function read_members(ctx)
	local last
	for attempt = 1, 2 do
		local c, err = etcd_client(ctx, attempt > 1)
		if c then
			local members, merr = c:members()
			local health, herr = nil, nil
			if members then health, herr = c:health { cluster = true } end
			if members and health then return members, health, openshift.health_by_member(members, health) end
			last = merr or herr
		else
			last = err
		end
	end
	return nil, last
end

local function node_member(ctx, members)
	for _, m in ipairs(members) do
		if (m.name == ctx.node or m.name == "") and openshift.has_peer_ip(m, ctx.node_ip) then return m end
	end
end

local function find_id(members, id)
	for _, m in ipairs(members) do if m.id == id then return m end end
end

local function open_node(ctx)
	local node = require "medic.node"
	if ctx.opts["local"] then return must(node.open_local { root = ctx.opts.root }) end
	return must(node.open_remote(ctx.kc, ctx.node, { image = ctx.opts.debug_image,
		namespace = ctx.opts.debug_namespace or ctx.opts.namespace }))
end

local function patch_cr(ctx, body, dry)
	return ctx.kc:patch(openshift.ETCD_CR, body, "merge", dry and { dryRun = "All" } or nil)
end

------------------------------------------------------------------------------------------------ preflight

local PERMISSIONS = {
	{ verb = "list", resource = "pods", ns = true }, { verb = "create", resource = "pods", subresource = "exec", ns = true },
	{ verb = "get", resource = "nodes" }, { verb = "list", resource = "nodes" },
	{ verb = "get", resource = "secrets", ns = true }, { verb = "delete", resource = "secrets", ns = true },
	{ verb = "get", resource = "etcds", group = "operator.openshift.io" },
	{ verb = "patch", resource = "etcds", group = "operator.openshift.io" },
}

local function check_permissions(ctx)
	local missing = {}
	local wanted = {}
	for _, p in ipairs(PERMISSIONS) do wanted[#wanted + 1] = p end
	if not ctx.opts["local"] then
		local dns = ctx.opts.debug_namespace or ctx.opts.namespace
		wanted[#wanted + 1] = { verb = "create", resource = "pods", namespace = dns }
		wanted[#wanted + 1] = { verb = "delete", resource = "pods", namespace = dns }
	end
	for _, p in ipairs(wanted) do
		local q = { verb = p.verb, resource = p.resource, subresource = p.subresource, group = p.group,
			namespace = p.namespace or (p.ns and ctx.opts.namespace) or false }
		local allowed, err = ctx.kc:can_i(q)
		if allowed ~= true then
			missing[#missing + 1] = string.format("%s %s%s%s%s", p.verb, p.resource, p.subresource and ("/" .. p.subresource) or "",
				q.namespace and (" in " .. q.namespace) or "", (err and err ~= "") and (" (" .. tostring(err) .. ")") or "")
		end
	end
	if #missing > 0 then
		ctx:refuse("missing permissions: " .. table.concat(missing, "; ") .. ". Run as a cluster-admin user.")
	end
end

-- The node to work on: --node, the journal's node when resuming, or the only crash-looping etcd pod's node.
local function choose_node(ctx, pods)
	local jnode = ctx.resuming and ctx.journal:get("node")
	local o = ctx.opts
	if jnode and o.node and o.node ~= jnode then
		ctx:refuse(string.format("an unfinished run for node %s is recorded in %s; finish it first (run again with --node %s), "
			.. "or move that journal away if it is stale", jnode, ctx.journal.path, jnode))
	end
	if o.node or jnode then return o.node or jnode end
	local looping = {}
	for _, p in ipairs(pods) do
		if openshift.crashlooping(p) then looping[#looping + 1] = p.spec.nodeName end
	end
	if #looping == 1 then
		ctx:say("the etcd pod on %s is crash-looping", looping[1])
		return looping[1]
	end
	if #looping > 1 then
		ctx:refuse("etcd pods are crash-looping on several nodes (" .. table.concat(looping, ", ") .. "): "
			.. "replacing one member cannot fix that; see the OpenShift disaster recovery documentation")
	end
	return nil
end

local function check_node(ctx)
	local name = ctx.node
	if not openshift.valid_node_name(name) then ctx:refuse("'" .. tostring(name) .. "' is not a valid node name") end
	local node, err, code = ctx.kc:get("/api/v1/nodes/" .. name)
	if not node then
		if code == "NotFound" then ctx:refuse("there is no node " .. name .. " (see: oc get nodes)") end
		ctx:fail("cannot read node " .. name .. ": " .. tostring(err))
	end
	if not openshift.is_control_plane(node) then ctx:refuse("node " .. name .. " is not a control-plane node") end
	ctx.node_ip = openshift.internal_ip(node)
	if not ctx.node_ip then ctx:refuse("node " .. name .. " has no InternalIP address") end
	if not openshift.node_ready(node) then
		ctx:refuse("node " .. name .. " is not Ready: this procedure is for a crash-looping etcd pod on a working node; "
			.. "see \"Replacing an unhealthy etcd member whose machine is not running or whose node is not ready\"")
	end
end

-- Exactly the node's member is unhealthy (or, on resume, already removed) and every other member is healthy.
local function check_members(ctx, members, healthy)
	local removed_id = ctx.journal:get("member_id")
	local target, why, detail = openshift.match_member(members, ctx.node, ctx.node_ip)
	local unhealthy = {}
	for _, m in ipairs(members) do
		if not healthy[m.id] then unhealthy[#unhealthy + 1] = m end
	end
	local function names(list)
		local out = {}
		for _, m in ipairs(list) do out[#out + 1] = (m.name ~= "" and m.name or "(unstarted)") .. " " .. m.id end
		return table.concat(out, ", ")
	end
	if why == "mismatch" then ctx:refuse("the node's name and peer IP disagree: " .. detail .. "; check by hand") end
	local resumed = removed_id and not find_id(members, removed_id)
	if resumed then
		for _, m in ipairs(unhealthy) do
			if not openshift.has_peer_ip(m, ctx.node_ip) then
				ctx:refuse("member " .. names({ m }) .. " is unhealthy; the run cannot continue safely. " ..
					"Wait for it to recover, then run again.")
			end
		end
		ctx:say("member %s of %s was already removed (journal)", removed_id, ctx.node)
		return
	end
	if #unhealthy == 0 then
		ctx:nothing_to_do("every etcd member is healthy: nothing to do")
	end
	if #unhealthy > 1 then
		ctx:refuse(#unhealthy .. " members are unhealthy (" .. names(unhealthy) .. "): replacing one member cannot make "
			.. "the cluster safe; see the OpenShift etcd disaster recovery (quorum restore) documentation")
	end
	if not target then
		ctx:refuse("node " .. ctx.node .. " (InternalIP " .. ctx.node_ip .. ") matches no etcd member; the unhealthy member is "
			.. names(unhealthy))
	end
	if unhealthy[1].id ~= target.id then
		ctx:refuse("the member of " .. ctx.node .. " is healthy; the unhealthy one is " .. names(unhealthy)
			.. ". Did you mean --node " .. (unhealthy[1].name ~= "" and unhealthy[1].name or "?") .. "?")
	end
	if target.is_learner then ctx:refuse("the member of " .. ctx.node .. " is a learner: a rollout is in progress; wait for it") end
	ctx.target = target
end

-- The etcd pods, read again for a few seconds until one on another node is Ready to work through. Right after
-- a member fails, the others can fail their readiness probe for a moment (a leader election); refusing then
-- would be a false alarm. Returns the pods of the last reading and the Ready pod, or nil.
local function wait_ready_peer(ctx, pods)
	local deadline = os.time() + 10
	for _ = 1, 100 do
		local pod = openshift.healthy_pod(pods, ctx.node)
		if pod or os.time() >= deadline then return pods, pod end
		ctx:say("no Ready etcd pod on another node yet; looking again")
		procedure.sleep(math.max(1, ctx.opts.poll_interval))
		pods = openshift.etcd_pods(ctx.kc, ctx.opts.namespace)
	end
	return pods, nil
end

-- Members and health, read again for a while when more members than expected look unhealthy: a health check
-- can time out on a busy member, and a resumed run may find the operator restarting members one at a time.
-- The decision is made on the last reading; this only avoids refusing on a passing blip.
local function read_settled(ctx)
	local removed = ctx.journal:get("member_id")
	local patience = ctx.resuming and math.min(120, ctx.opts.wait_timeout) or 6
	local deadline = os.time() + patience
	local members, health, healthy
	for _ = 1, 200 do
		members, health, healthy = read_members(ctx)
		if members then
			local others = 0
			for _, m in ipairs(members) do
				if not healthy[m.id] and not openshift.has_peer_ip(m, ctx.node_ip) then others = others + 1 end
			end
			if others == 0 then break end
			ctx:say("%d other member(s) unhealthy; looking again%s", others, removed and " (the operator may be restarting members)" or "")
		end
		if os.time() >= deadline then break end
		procedure.sleep(math.max(1, ctx.opts.poll_interval))
	end
	return members, health, healthy
end

-- The rollout is checked first: while one is in progress the installer replaces the node's etcd pod, which can
-- then look running or pending for a moment; "wait for the rollout" is the true answer either way.
local function check_pod_and_rollout(ctx, pods, cr)
	if ctx.resuming then return end
	local r = openshift.rollout(cr)
	if r.in_progress then
		ctx:refuse(string.format("a rollout is in progress (%d of %d nodes at revision %d); wait until it is finished",
			r.at_latest, r.total, r.latest))
	end
	local pod
	for _, p in ipairs(pods) do if p.spec.nodeName == ctx.node then pod = p end end
	local looping, state = false, "no etcd pod"
	if pod then looping, state = openshift.crashlooping(pod) end
	if not looping then
		ctx:refuse("the etcd pod on " .. ctx.node .. " is not crash-looping (" .. state .. "); this procedure does not apply")
	end
end


-- Does the latest revision already carry every voting member in its etcd-endpoints (member ID -> IP)? When a
-- learner is promoted the operator writes the new endpoints and makes one more revision (reference/openshift.md
-- §1.5.4): until that revision exists, "every node at the latest revision" is not the end yet. An operator
-- without the revisioned ConfigMap is not held up by this check.
local function endpoints_final(ctx, latest, members)
	if not members then return false end
	local cm, _, code = ctx.kc:get(openshift.ns_path(ctx.opts.namespace, "configmaps", "etcd-endpoints-" .. latest))
	if not cm then return code == "NotFound" end
	local want, n = {}, 0
	for _, m in ipairs(members) do
		if not m.is_learner then want[m.id] = true; n = n + 1 end
	end
	for id in pairs(cm.data or {}) do
		if not want[id:lower()] then return false end
		n = n - 1
	end
	return n == 0
end

-- Converged: a newer revision, the node's member added and promoted, every member healthy, every etcd pod
-- Running and Ready, every node at the latest revision. Returns done, a progress line.
local function converged(ctx)
	local cr = ctx.kc:get(openshift.ETCD_CR)
	if not cr then return false, "cannot read etcd/cluster" end
	local r = openshift.rollout(cr)
	local before = ctx.journal:get("revision_before") or 0
	local pods = ctx.kc:list(openshift.ns_path(ctx.opts.namespace, "pods"), { labelSelector = "k8s-app=etcd" })
	local ready = 0
	for _, p in ipairs(pods and pods.items or {}) do if openshift.pod_ready(p) then ready = ready + 1 end end
	local members, _, healthy = read_members(ctx)
	local m, counts = nil, { healthy = 0, voting = 0, learners = 0 }
	if members then
		m = node_member(ctx, members)
		counts = openshift.member_counts(members, healthy)
	end
	local member_state = not members and "member list unreadable" or not m and "not added yet"
		or m.id == ctx.journal:get("member_id") and "old member still listed"
		or (m.is_learner and "learner " or "voting ") .. m.id .. (healthy[m.id] and ", healthy" or ", not healthy yet")
	local endpoints = endpoints_final(ctx, r.latest, members)
	local done = r.latest > before and not r.in_progress and ready >= ctx.cp_nodes and m ~= nil and
		m.id ~= ctx.journal:get("member_id") and not m.is_learner and counts.healthy == #members and
		counts.voting == ctx.cp_nodes and endpoints
	return done, string.format("revision %d (was %d)%s, %d/%d nodes at latest; pods ready %d/%d; %s: %s; members healthy %d/%d",
		r.latest, before, endpoints and "" or " (a revision with the new endpoints is still to come)", r.at_latest,
		r.total, ready, ctx.cp_nodes, ctx.node, member_state, counts.healthy, members and #members or 0)
end

return {
	kc_of = kc_of,
	etcd_cr = etcd_cr,
	etcd_client = etcd_client,
	read_members = read_members,
	node_member = node_member,
	find_id = find_id,
	open_node = open_node,
	patch_cr = patch_cr,
	check_permissions = check_permissions,
	choose_node = choose_node,
	check_node = check_node,
	check_members = check_members,
	read_settled = read_settled,
	wait_ready_peer = wait_ready_peer,
	check_pod_and_rollout = check_pod_and_rollout,
	endpoints_final = endpoints_final,
	converged = converged,
}
