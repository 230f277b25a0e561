-- etcd-medic-api: 2
-- Read-only report: etcd members, health, pods, operator revisions and conditions, and a one-line verdict.
--
-- Nothing is changed. The verdict says "healthy", or which procedure applies and the command to run.
local procedure = require "medic.procedure"
local openshift = require "medic.openshift"
local json = require "medic.json"
local gopts = require "medic.options"
local ui = require "medic.ui"
local perms = require "medic.permissions"

local P = procedure.new {
	name = "etcd-status",
	title = "A read-only report: etcd pods, members and health, the operator's revisions, and a verdict",
	read_only = true,

	-- What the verdict sends the admin to (a site file may point at its own runbooks).
	facts = {
		crashloop = "etcd-medic run replace-crashlooping-member --node %s",
		machine_not_running = "follow \"Replacing an unhealthy etcd member whose machine is not running or whose node "
			.. "is not ready\"",
		quorum_restore = "see the etcd disaster recovery (quorum restore) documentation",
		etcd_cr = "/apis/operator.openshift.io/v1/etcds/cluster",
		not_repairs = { backup = true }, -- procedures whose unfinished run is listed but changes no verdict
	},

	-- What it reads in the cluster (medic.permissions): `etcd-medic rbac` prints it as RBAC.
	permissions = {
		perms.CLUSTER_ID, perms.ETCDCTL,
		{ "list", "nodes", at = "cluster", why = "the control-plane nodes" },
		{ "get", "etcds.operator.openshift.io", at = "cluster", why = "the operator's revisions and conditions" },
	},

	options = {
		{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
		{ name = "state-dir", arg = "DIR", help = "where the repairs' journals are (default: the procedures' default)" },
	},

	state = {
		nodes = "the control-plane nodes",
		pods = "the etcd pods, by node name",
		members = "the member list (nil when it cannot be read)",
		health = "endpoint health of every member",
		healthy = "member ID -> healthy",
		members_error = "why the member list could not be read",
		rollout = "the operator's rollout state (nil when etcd/cluster cannot be read)",
		repairs = "unfinished journals of this cluster: { {path=, procedure=, node=, started=} ... }",
	},
}

local function say(fmt, ...) ui.say(fmt, ...) end
local function section(title) say(""); say("%s", title) end

------------------------------------------------------------------------------------------------ sections

local function pods(ctx)
	local ns = ctx.opts.namespace
	ctx.state.nodes = openshift.etcd_nodes(ctx.cluster:k8s())
	local by_node = {}
	section("etcd pods (" .. ns .. "):")
	for _, p in ipairs(openshift.etcd_pods(ctx.cluster:k8s(), ns)) do
		by_node[p.spec.nodeName] = p
		say("  %-40s %-30s %s%s", p.metadata.name, p.spec.nodeName or "?", openshift.pod_state(p),
			openshift.pod_ready(p) and ", Ready" or ", not Ready")
	end
	for _, n in ipairs(ctx.state.nodes) do
		if not by_node[n.metadata.name] then say("  (no etcd pod on %s)", n.metadata.name) end
	end
	ctx.state.pods = by_node
end

local function members(ctx)
	local list, health, healthy = ctx.cluster:read_members()
	local pod = ctx.cluster.etcd_pod
	section("members" .. ((pod and pod ~= "(direct)") and (" (through " .. pod .. ")") or "") .. ":")
	if not list then
		ctx.state.members_error = tostring(health)
		say("  cannot read the member list: %s", ctx.state.members_error)
		return
	end
	ctx.state.members, ctx.state.health, ctx.state.healthy = list, health, healthy
	for _, line in ipairs(openshift.member_table(list)) do say("  %s", line) end
	say("")
	for _, line in ipairs(openshift.health_lines(health, list)) do say("  %s", line) end
end

local function bad_condition(c)
	return (c.type:match("Degraded$") and c.status == "True") or (c.type:match("Available$") and c.status ~= "True")
		or (c.type:match("Progressing$") and c.status == "True")
end

local function operator(ctx)
	local cr = ctx.cluster:k8s():get(ctx.facts.etcd_cr)
	section("operator (etcd/cluster):")
	if not cr then say("  cannot read etcd/cluster"); return end
	local r = openshift.rollout(cr)
	if r.total > 0 then
		ctx.state.rollout = r
		say("  latest revision %d; %d of %d nodes at it%s", r.latest, r.at_latest, r.total,
			r.in_progress and " (rollout in progress)" or "")
	else -- no status yet (a new cluster), or a copy without it (an Insights archive)
		say("  no node revisions reported (etcd/cluster has no status.nodeStatuses)")
	end
	for _, st in ipairs((cr.status or {}).nodeStatuses or {}) do
		say("    %-40s current %s%s", st.nodeName, tostring(st.currentRevision),
			(st.targetRevision or 0) ~= 0 and (" target " .. tostring(st.targetRevision)) or "")
	end
	local over = (cr.spec or {}).unsupportedConfigOverrides
	if type(over) == "table" and next(over) then say("  unsupportedConfigOverrides: %s", json.encode(over)) end
	for _, c in ipairs((cr.status or {}).conditions or {}) do
		if bad_condition(c) or c.type == "EtcdMembersAvailable" then
			say("  %-38s %-5s %s", c.type, c.status, c.message or c.reason or "")
		end
	end
end

------------------------------------------------------------------------------------------------ verdict

-- The node of a member: by name, else by a peer URL's host against the nodes' InternalIPs.
local function node_of(ctx, m)
	for _, n in ipairs(ctx.state.nodes) do
		if n.metadata.name == m.name then return n end
	end
	local network = ctx.cluster:k8s():get(openshift.NETWORK)
	for _, n in ipairs(ctx.state.nodes) do
		if openshift.has_peer_ip(m, openshift.preferred_internal_ip(n, network)) then return n end
	end
end

local function all_healthy(ctx, count)
	local r = ctx.state.rollout
	local c = openshift.member_counts(ctx.state.members, ctx.state.healthy)
	if c.learners > 0 or (r and r.in_progress) then
		return "RECOVERING: every member is healthy; a rollout or learner promotion is in progress"
	end
	if c.voting ~= #ctx.state.nodes then
		return string.format("DEGRADED: %d voting members for %d control-plane nodes", c.voting, #ctx.state.nodes)
	end
	return string.format("HEALTHY: %d of %d members healthy, %s", count, count,
		r and ("every node at revision " .. r.latest) or "node revisions unknown")
end

local function one_unhealthy(ctx, m)
	local node = node_of(ctx, m)
	local name = node and node.metadata.name or m.name
	if node and not openshift.node_ready(node) then
		return "ONE MEMBER UNHEALTHY (" .. name .. ", node not Ready): " .. ctx.facts.machine_not_running
	end
	local p = ctx.state.pods[name]
	if p and openshift.crashlooping(p) then
		return "ONE MEMBER UNHEALTHY (" .. name .. ", etcd pod crash-looping): run " .. ctx.facts.crashloop:format(name)
	end
	return "ONE MEMBER UNHEALTHY (" .. tostring(name) .. ", " .. (p and openshift.pod_state(p) or "no etcd pod") ..
		"): look at the pod's logs before replacing it"
end

-- No etcd pod at all in the namespace: a wrong -n (a typo, or not OpenShift's namespace), not a lost quorum.
local function no_pods(ctx)
	if next(ctx.state.pods) then return nil end
	local ns = ctx.opts.namespace
	local _, _, code = ctx.cluster:k8s():get("/api/v1/namespaces/" .. ns)
	local why = code == "NotFound" and ("the namespace " .. ns .. " does not exist") or ("no etcd pod in " .. ns)
	return "UNKNOWN: " .. why .. "; is -n/--namespace right? (OpenShift runs etcd in openshift-etcd)"
end

local function verdict_of(ctx)
	local list = ctx.state.members
	if not list then
		return no_pods(ctx) or ("UNKNOWN: the member list cannot be read (" .. tostring(ctx.state.members_error)
			.. "); " .. ctx.facts.quorum_restore)
	end
	local unhealthy = {}
	for _, m in ipairs(list) do if not ctx.state.healthy[m.id] then unhealthy[#unhealthy + 1] = m end end
	if #unhealthy == 0 then return all_healthy(ctx, #list) end
	if #unhealthy > 1 then
		return string.format("QUORUM AT RISK: %d of %d members unhealthy; replacing one member will not do: %s",
			#unhealthy, #list, ctx.facts.quorum_restore)
	end
	return one_unhealthy(ctx, unhealthy[1])
end

-- Runs left unfinished on this cluster (journals in the state directory and in the cluster): said, with how to
-- resume.
local function repairs(ctx)
	local journal = require "medic.journal"
	local dir, found = journal.state_dir(ctx.opts.state_dir), {}
	local stores = { dir and require("medic.journal.file").new(dir),
		require("medic.journal.configmap").new(ctx.cluster:k8s(), ctx.opts.namespace) }
	for _, store in ipairs(stores) do
		local list, err = journal.unfinished(store, ctx.cluster:id())
		if not list then say("  (the journals in the cluster cannot be read: %s)", tostring(err)) end
		for _, r in ipairs(list or {}) do found[#found + 1] = r end
	end
	ctx.state.repairs = found
	if #found == 0 then return end
	section("runs left unfinished:")
	for _, r in ipairs(found) do
		say("  %s of %s, started %s (journal %s): resume with etcd-medic run %s --node %s", r.procedure,
			tostring(r.node), tostring(r.started), r.path, r.procedure, tostring(r.node))
	end
end

local function verdict(ctx)
	local r
	for _, x in ipairs(ctx.state.repairs) do
		if not r and not ctx.facts.not_repairs[x.procedure] then r = x end
	end
	if r then
		section(string.format("verdict: REPAIR IN PROGRESS (%s): a %s run stopped before its end; resume with "
			.. "etcd-medic run %s --node %s", tostring(r.node), r.procedure, r.procedure, tostring(r.node)))
		return
	end
	section("verdict: " .. verdict_of(ctx))
end

P:report {
	{ "pods", "the etcd pods, and the control-plane nodes without one", pods },
	{ "members", "the member list and every member's health, through a Ready etcd pod", members },
	{ "operator", "the operator's revisions, overrides and conditions", operator },
	{ "repairs", "runs left unfinished on this cluster (this machine's journals and the cluster's)", repairs },
	{ "verdict", "healthy, or which procedure applies and the command to run", verdict },
}

return P:main(...)
