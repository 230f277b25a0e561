-- etcd-medic-api: 1
-- Read-only report: etcd members, health, pods, operator revisions and conditions, and a one-line verdict.
--
-- Usage: etcd-medic run etcd-status [--namespace NS]
-- Nothing is changed. The verdict says "healthy", or which procedure applies and the command to run.
local openshift = require "medic.openshift"
local gopts = require "medic.options"

local args = { ... }
local ns = gopts.namespace or "openshift-etcd"
for i = 1, #args do
	if args[i] == "--namespace" or args[i] == "-n" then ns = args[i + 1]
	elseif args[i] == "--help" then
		print("usage: etcd-medic run etcd-status [--namespace NS]\n\nA read-only report with a one-line verdict.")
		return 0
	end
end

local function say(fmt, ...) print(string.format(fmt, ...)) end
local function section(title) say(""); say("%s", title) end
local must = openshift.must

local k8s = require "medic.k8s"
local kc = must(k8s.connect { kubeconfig = gopts.kubeconfig, context = gopts.context })

local nodes = openshift.control_plane_nodes(kc)
local node_by_ip, node_by_name = {}, {}
for _, n in ipairs(nodes) do
	node_by_name[n.metadata.name] = n
	local ip = openshift.internal_ip(n)
	if ip then node_by_ip[ip] = n end
end

-- etcd pods
local pods = openshift.etcd_pods(kc, ns)
section("etcd pods (" .. ns .. "):")
local pod_by_node = {}
for _, p in ipairs(pods) do
	pod_by_node[p.spec.nodeName] = p
	say("  %-40s %-30s %s%s", p.metadata.name, p.spec.nodeName or "?", openshift.pod_state(p),
		openshift.pod_ready(p) and ", Ready" or ", not Ready")
end
for _, n in ipairs(nodes) do
	if not pod_by_node[n.metadata.name] then say("  (no etcd pod on %s)", n.metadata.name) end
end

-- members and health, through a Ready pod (or directly with --etcd-endpoints)
local members, health, healthy
local pod = openshift.healthy_pod(pods, nil)
if pod or gopts.etcd_endpoints then
	local ok, c = pcall(openshift.etcd_client, kc, ns, pod, gopts)
	if ok then
		members = c:members()
		health = members and c:health { cluster = true }
		if members and health then healthy = openshift.health_by_member(members, health) end
	end
end
section("members" .. (pod and (" (through " .. pod.metadata.name .. ")") or "") .. ":")
if members then
	for _, line in ipairs(openshift.member_table(members)) do say("  %s", line) end
	say("")
	for _, line in ipairs(openshift.health_lines(health or {})) do say("  %s", line) end
else
	say("  cannot read the member list: no Ready etcd pod answered")
end

-- the operator
local cr = kc:get(openshift.ETCD_CR)
local rollout
section("operator (etcd/cluster):")
if cr then
	rollout = openshift.rollout(cr)
	say("  latest revision %d; %d of %d nodes at it%s", rollout.latest, rollout.at_latest, rollout.total,
		rollout.in_progress and " (rollout in progress)" or "")
	for _, st in ipairs((cr.status or {}).nodeStatuses or {}) do
		say("    %-40s current %s%s", st.nodeName, tostring(st.currentRevision),
			(st.targetRevision or 0) ~= 0 and (" target " .. tostring(st.targetRevision)) or "")
	end
	local over = (cr.spec or {}).unsupportedConfigOverrides
	if type(over) == "table" and next(over) then say("  unsupportedConfigOverrides: %s", require("medic.json").encode(over)) end
	for _, c in ipairs((cr.status or {}).conditions or {}) do
		local bad = (c.type:match("Degraded$") and c.status == "True") or (c.type:match("Available$") and c.status ~= "True")
			or (c.type:match("Progressing$") and c.status == "True")
		if bad or c.type == "EtcdMembersAvailable" then
			say("  %-38s %-5s %s", c.type, c.status, c.message or c.reason or "")
		end
	end
else
	say("  cannot read etcd/cluster")
end

-- the verdict
local function verdict()
	if not members or not healthy then
		return "UNKNOWN: the member list cannot be read through any etcd pod; see the etcd disaster recovery documentation"
	end
	local unhealthy = {}
	for _, m in ipairs(members) do if not healthy[m.id] then unhealthy[#unhealthy + 1] = m end end
	local counts = openshift.member_counts(members, healthy)
	if #unhealthy == 0 then
		if counts.learners > 0 or (rollout and rollout.in_progress) then
			return "RECOVERING: every member is healthy; a rollout or learner promotion is in progress"
		end
		if counts.voting ~= #nodes then
			return string.format("DEGRADED: %d voting members for %d control-plane nodes", counts.voting, #nodes)
		end
		return string.format("HEALTHY: %d of %d members healthy, every node at revision %d", #members, #members,
			rollout and rollout.latest or 0)
	end
	if #unhealthy > 1 then
		return string.format("QUORUM AT RISK: %d of %d members unhealthy; replacing one member will not do: see the etcd "
			.. "disaster recovery (quorum restore) documentation", #unhealthy, #members)
	end
	local m = unhealthy[1]
	local node = node_by_name[m.name]
	if not node then
		for _, u in ipairs(m.peer_urls or {}) do node = node or node_by_ip[openshift.url_host(u)] end
	end
	local name = node and node.metadata.name or m.name
	if node and not openshift.node_ready(node) then
		return "ONE MEMBER UNHEALTHY (" .. name .. ", node not Ready): follow \"Replacing an unhealthy etcd member whose "
			.. "machine is not running or whose node is not ready\""
	end
	local p = pod_by_node[name]
	if p and openshift.crashlooping(p) then
		return "ONE MEMBER UNHEALTHY (" .. name .. ", etcd pod crash-looping): run "
			.. "etcd-medic run replace-crashlooping-member --node " .. name
	end
	return "ONE MEMBER UNHEALTHY (" .. tostring(name) .. ", " .. (p and openshift.pod_state(p) or "no etcd pod") ..
		"): look at the pod's logs before replacing it"
end

section("verdict: " .. verdict())
return 0
