-- etcd-medic-api: 2
-- etcd-status findings about the member list: unhealthy members, members that never started, learners left for
-- long, members whose peer IP is not their node's InternalIP, and voting members against etcd nodes.
-- Pure: reads only the readings in ctx (docs/etcd-status.md lists them).
local openshift = require "medic.openshift"
local finding = require "etcd-status.finding"

local members = {}

local NS = "openshift-etcd"

-- A member's name as the operator says it: an unstarted one has none yet (CEO etcdcli: NAME-PENDING-<peer host>).
local function label(m)
	if m.name ~= "" then return m.name end
	return "NAME-PENDING-" .. tostring(openshift.url_host((m.peer_urls or {})[1]) or "?")
end

-- The node of a member: its name, else a node whose InternalIP is a peer URL's host.
local function node_of(ctx, m)
	for _, n in ipairs(ctx.nodes) do
		if n.metadata.name == m.name then return n end
	end
	for _, n in ipairs(ctx.nodes) do
		if openshift.has_peer_ip(m, openshift.preferred_internal_ip(n, ctx.network)) then return n end
	end
end

local function health_error(ctx, m)
	for _, url in ipairs(m.client_urls or {}) do
		for _, h in ipairs(ctx.health or {}) do
			if h.endpoint == url and h.error then return tostring(h.error) end
		end
	end
end

-- A healthy member's etcd pod, to run etcdctl in (as the documents do: oc rsh -n openshift-etcd etcd-NODE).
local function healthy_pod(ctx, not_node)
	local names = {}
	for name, p in pairs(ctx.pods or {}) do
		if name ~= not_node and openshift.pod_ready(p) then names[#names + 1] = name end
	end
	table.sort(names)
	return names[1] and ctx.pods[names[1]].metadata.name or "etcd-NODE"
end

local function etcdctl(ctx, not_node, args)
	return string.format("oc rsh -n %s %s etcdctl %s", ctx.namespace or NS, healthy_pod(ctx, not_node), args)
end

------------------------------------------------------------------------------------------------ unhealthy

-- Only an active alarm makes every endpoint unhealthy (etcdctl endpoint health): the alarm is the finding then.
local function alarm_only(err) return err ~= nil and err:find("Active Alarm", 1, true) ~= nil end

local function unhealthy_next(ctx, node, pod)
	local name = node and node.metadata.name
	if node and not openshift.node_ready(node) then
		return "follow \"Replacing an unhealthy etcd member whose machine is not running or whose node is not ready\""
	end
	if pod and openshift.crashlooping(pod) then return "etcd-medic run replace-crashlooping-member --node " .. name end
	return string.format("oc logs -n %s %s -c etcd (why it is unhealthy, before replacing it)", ctx.namespace or NS,
		pod and pod.metadata.name or ("etcd-" .. tostring(name or "NODE")))
end

local function unhealthy(ctx, m, out)
	local err = health_error(ctx, m)
	if alarm_only(err) then return end
	local node = node_of(ctx, m)
	local pod = node and (ctx.pods or {})[node.metadata.name]
	out[#out + 1] = finding.new {
		code = "MEMBER_UNHEALTHY", severity = "critical", subject = label(m),
		summary = string.format("etcd member %s is unhealthy%s", label(m), err and (": " .. err) or ""),
		evidence = { member_id = m.id, peer_url = (m.peer_urls or {})[1] or "", error = err or "",
			node = node and node.metadata.name or "", pod_state = pod and openshift.pod_state(pod) or "no etcd pod",
			node_ready = node and tostring(openshift.node_ready(node)) or "" },
		next = unhealthy_next(ctx, node, pod),
	}
end

------------------------------------------------------------------------------------------------ not started, learners

local function not_started(ctx, m, out)
	local node = node_of(ctx, m)
	out[#out + 1] = finding.new {
		code = "MEMBER_NOT_STARTED", severity = "critical", subject = label(m),
		summary = "voting member " .. m.id .. " was added but never started: it counts in the quorum and the operator "
			.. "adds no member while it is there",
		evidence = { member_id = m.id, peer_url = (m.peer_urls or {})[1] or "", node = node and node.metadata.name or "" },
		next = etcdctl(ctx, node and node.metadata.name, "member remove " .. m.id)
			.. " (the operator adds the node's member again)",
	}
end

-- How long the learner has been there, and how we know: etcd keeps no date for a member. A started learner runs in
-- its node's etcd pod, added just before that container started: its start is a lower bound. An unstarted one made
-- the operator set EtcdMembersProgressing=True (MembersNotStarted) when it appeared: that transition's time.
local function learner_since(ctx, m)
	if m.name ~= "" then
		local node = node_of(ctx, m)
		local pod = node and (ctx.pods or {})[node.metadata.name]
		local c = pod and openshift.container_status(pod, "etcd")
		local started = c and c.state and c.state.running and openshift.epoch(c.state.running.startedAt)
		if started then return started, "the etcd container of " .. pod.metadata.name .. " started" end
		return nil, "no running etcd container"
	end
	local c = ctx.cr and openshift.condition(ctx.cr, "EtcdMembersProgressing")
	local since = c and c.status == "True" and c.reason == "MembersNotStarted" and openshift.epoch(c.lastTransitionTime)
	if since then return since, "EtcdMembersProgressing=True (MembersNotStarted) since" end
	return nil, "the operator reports no unstarted member"
end

local function learner(ctx, m, out)
	local since, how = learner_since(ctx, m)
	local age = since and math.max(0, ctx.now - since)
	local grace = ctx.opts.learner_grace
	local stuck = age and age >= grace
	local node = node_of(ctx, m)
	out[#out + 1] = finding.new {
		code = stuck and "LEARNER_STUCK" or "LEARNER_PRESENT", severity = stuck and "warning" or "info",
		subject = label(m),
		summary = string.format("learner %s (%s) %s%s", m.id, m.name ~= "" and "started" or "never started",
			age and string.format("has been a learner for at least %ds", age) or "is a learner, since when unknown",
			stuck and string.format(" (more than %ds: promotion is not happening)", grace) or ""),
		evidence = { member_id = m.id, peer_url = (m.peer_urls or {})[1] or "", started = tostring(m.name ~= ""),
			age_seconds = age or "unknown", age_from = how, grace_seconds = grace,
			node = node and node.metadata.name or "(none: no node has its IP)" },
		next = m.name == "" and etcdctl(ctx, nil, "member remove " .. m.id) .. " (a learner that never started)"
			or ("oc logs -n openshift-etcd-operator deployment/etcd-operator | grep -i promot (why the operator "
				.. "does not promote it)"),
	}
end

------------------------------------------------------------------------------------------------ node IPs

-- A member named as a node whose peer URL is not that node's InternalIP: the node's IP changed (DHCP, a moved VM)
-- while the member still advertises the old one; its peers cannot reach it there, and the operator's revision for
-- the new IP fails its start check.
local function ip_mismatch(ctx, m, out)
	for _, n in ipairs(ctx.nodes) do
		local ip = openshift.preferred_internal_ip(n, ctx.network)
		if n.metadata.name == m.name and ip and not openshift.has_peer_ip(m, ip) then
			out[#out + 1] = finding.new {
				code = "MEMBER_IP_MISMATCH", severity = "critical", subject = m.name,
				summary = string.format("member %s advertises %s but node %s has InternalIP %s (the node's IP changed)",
					m.name, table.concat(m.peer_urls or {}, ","), m.name, ip),
				evidence = { member_id = m.id, peer_url = (m.peer_urls or {})[1] or "", node_internal_ip = ip },
				next = "etcd-medic run replace-crashlooping-member --node " .. m.name .. " (once its etcd pod runs the "
					.. "new IP's revision; else follow \"Replacing an unhealthy etcd member\" for " .. m.name .. ")",
			}
		end
	end
end

------------------------------------------------------------------------------------------------ counts

local function voting_count(ctx, out)
	local c = openshift.member_counts(ctx.members, ctx.healthy or {})
	local nodes = #ctx.nodes
	if c.voting == nodes then return end
	local no_tolerance = c.voting < nodes and c.voting - c.quorum < 1 and nodes >= 3
	out[#out + 1] = finding.new {
		code = "VOTING_MEMBERS_MISMATCH", severity = no_tolerance and "critical" or "warning",
		subject = "etcd cluster",
		summary = string.format("%d voting members for %d etcd nodes%s", c.voting, nodes,
			c.voting < nodes and " (a node has no member: fault tolerance is lower than planned)"
				or " (a member of a node that is gone is still in the list)"),
		evidence = { voting = c.voting, learners = c.learners, etcd_nodes = nodes, quorum = c.quorum },
		next = c.voting < nodes and "etcd-medic run etcd-status again after the operator's next sync; if it stays, "
			.. "follow \"Replacing an unhealthy etcd member\" for the node without one"
			or etcdctl(ctx, nil, "member list -w table") .. ", then etcdctl member remove the ID of no node",
	}
end

function members.check(ctx)
	local out = {}
	if not ctx.members then return out end
	for _, m in ipairs(ctx.members) do
		if m.is_learner then learner(ctx, m, out)
		elseif m.name == "" then not_started(ctx, m, out)
		elseif not (ctx.healthy or {})[m.id] then unhealthy(ctx, m, out) end
		if m.name ~= "" then ip_mismatch(ctx, m, out) end
	end
	voting_count(ctx, out)
	return out
end

return members
