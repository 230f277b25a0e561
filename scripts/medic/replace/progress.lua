-- etcd-medic-api: 2
-- The member replacements' reads of the cluster as the repair goes on (replace-crashlooping-member and
-- replace-unhealthy-member share them): the etcd CR and its overrides, the old secrets, the revision the quorum gate
-- was opened for, whether the operator has converged with the new member.
local openshift = require "medic.openshift"
local actions = require "medic.actions"
local json = require "medic.json"

local progress = {}

function progress.etcd_cr(ctx)
	local cr, err = ctx.cluster:k8s():get(ctx.facts.etcd_cr)
	if not cr then ctx:stop("failed", "cannot read etcd/cluster: " .. tostring(err)) end
	return cr
end

-- spec.unsupportedConfigOverrides as it is now (json.null when absent).
function progress.overrides(ctx)
	local v = (progress.etcd_cr(ctx).spec or {}).unsupportedConfigOverrides
	if v == nil then return json.null end
	return v
end

-- The steps that follow the quorum gate's opening do not apply when this run (or the one it resumes) did not open it.
function progress.gate_not_opened(ctx)
	if ctx.journal.overrides_recorded then return nil end -- recorded before the patch is sent
	-- in the plan, a gate about to be opened needs its restore; once running, a gate not recorded was never opened
	-- (a run that failed or was interrupted before it), and there is nothing to restore
	if ctx.running or not ctx:planned("open-quorum-gate") then return "the quorum gate was not opened" end
end

-- Does the operator see the quorum guard off: every key of the override fact set to a true value as the operator
-- reads it (true, or a string such as "true")?
function progress.override_set(ctx)
	local cur = progress.overrides(ctx)
	if type(cur) ~= "table" then return false end
	for k, v in pairs(ctx.facts.quorum_override) do
		if openshift.override_true(cur[k]) ~= openshift.override_true(v) then return false end
	end
	return true
end

-- The node's secrets (ctx.facts.secrets) still to delete: present and, if the journal knows them, the object it
-- recorded (same uid). A secret with another uid was re-issued by the operator after our delete: it is left alone.
function progress.old_secrets(ctx)
	local recorded, kc, todo = ctx.journal.secrets or {}, ctx.cluster:k8s(), {}
	for _, pattern in ipairs(ctx.facts.secrets) do
		local name = pattern:format(ctx.state.node)
		local s, err, code = kc:get(openshift.ns_path(ctx.opts.namespace, "secrets", name))
		if not s and code ~= "NotFound" then
			ctx:stop("failed", "cannot read secret " .. name .. ": " .. tostring(err))
		end
		if s and (not recorded[name] or recorded[name] == s.metadata.uid) then todo[#todo + 1] = s end
	end
	return todo
end

-- The revision the quorum gate was opened for: one the operator made after it issued the node's deleted secrets
-- again, so that it carries them (its revision controller copies etcd-all-certs into each revision; from 4.18 it
-- makes no revision at all while the gate is closed). Until then the gate must stay open. Returns done, a line.
-- The secrets the revision must carry: name -> the uid of the one deleted (false: none was, a new node's). In place,
-- the node's deleted secrets issued again; with a replacement node, its own, issued for the first time; nil while
-- the replacement node is not known.
local function awaited_secrets(ctx)
	local name = progress.member_node(ctx)
	if name == ctx.state.node then return ctx.journal.secrets or {} end
	if not name then return nil end
	local t = {}
	for _, pattern in ipairs(ctx.facts.secrets) do t[pattern:format(name)] = false end
	return t
end

function progress.revision_made(ctx)
	progress.watch_etcd(ctx)
	local kc = ctx.cluster:k8s()
	local cr = kc:get(ctx.facts.etcd_cr)
	local latest, before = cr and (cr.status or {}).latestAvailableRevision or 0, ctx.journal.revision_before or 0
	if latest <= before then return false, string.format("revision %d (was %d)", latest, before) end
	local deleted, issued, total, newest = awaited_secrets(ctx), 0, 0, ""
	if not deleted then return false, "the replacement node is not known yet" end
	for name, old_uid in pairs(deleted) do
		total = total + 1
		local secret = kc:get(openshift.ns_path(ctx.opts.namespace, "secrets", name))
		if secret and secret.metadata.uid ~= old_uid then
			issued = issued + 1
			local created = secret.metadata.creationTimestamp or ""
			if created > newest then newest = created end
		end
	end
	local name = progress.member_node(ctx)
	local line = string.format("revision %d (was %d); %d of %d %s", latest, before, issued, total,
		name == ctx.state.node and "deleted secrets issued again" or ("secrets of " .. name .. " issued"))
	if issued < total then return false, line end
	local revision = kc:get(openshift.ns_path(ctx.opts.namespace, "configmaps", "etcd-pod-" .. latest))
	local made = revision ~= nil and (revision.metadata.creationTimestamp or "") >= newest
	return made, line .. (made and "; the revision carries them" or "; a revision that carries them is to come")
end

-- The node the new member runs on, and its InternalIP: the node itself when the member is replaced in place (a
-- crash-looping pod), the replacement node once it is known when a new machine takes its place (the procedure
-- declares state.new_node = {name=, ip=}). nil while the replacement is not known yet.
function progress.member_node(ctx)
	if ctx.procedure and ctx.procedure.state_names.new_node then
		local n = ctx.state.new_node
		if n then return n.name, n.ip end
		return nil
	end
	return ctx.state.node, ctx.state.node_ip
end

local function node_member(ctx, members)
	local name, ip = progress.member_node(ctx)
	if not name then return nil end
	for _, m in ipairs(members) do
		if (m.name == name or m.name == "") and openshift.has_peer_ip(m, ip) then return m end
	end
end

-- The node's member is back, started, voting and healthy: nothing left that needs the gate open.
function progress.member_back(ctx)
	local members, _, healthy = ctx.cluster:read_members()
	if not members then return false end
	local m = node_member(ctx, members)
	return m ~= nil and m.id ~= ctx.journal.member_id and not m.is_learner and healthy[m.id] == true
end

-- Does the latest revision already carry every voting member in its etcd-endpoints (member ID -> IP)? When a
-- learner is promoted the operator writes the new endpoints and makes one more revision (reference/openshift.md
-- §1.5.4): until that revision exists, "every node at the latest revision" is not the end yet. An operator
-- without the revisioned ConfigMap is not held up by this check.
local function endpoints_final(ctx, latest, members)
	local path = openshift.ns_path(ctx.opts.namespace, "configmaps", "etcd-endpoints-" .. latest)
	local cm, _, code = ctx.cluster:k8s():get(path)
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

-- The etcd pods: how many are Ready, and the one on the new member's node.
local function etcd_pods(ctx)
	local ready, on_node, name = 0, nil, progress.member_node(ctx)
	for _, p in ipairs(openshift.etcd_pods(ctx.cluster:k8s(), ctx.opts.namespace)) do
		if openshift.pod_ready(p) then ready = ready + 1 end
		if name and p.spec.nodeName == name then on_node = p end
	end
	return ready, on_node
end

-- Has the node's etcd crashed since the last look: its container restarted (or is backing off) in the pod seen
-- last; a pod not seen before that has restarted at all. A container that the installer stops to replace its pod
-- by the next revision's is no crash: that pod comes with a new uid and a count of its own.
local function etcd_crashed(ctx, pod)
	local seen = ctx.state.new_member
	if not pod then return false end -- between two revisions
	local status = openshift.container_status(pod, "etcd") or {}
	local uid, restarts = pod.metadata.uid, status.restartCount or 0
	local before = (seen.uid == uid) and seen.restarts or 0
	seen.uid, seen.restarts = uid, restarts
	local waiting = (status.state or {}).waiting
	return restarts > before or (waiting ~= nil and waiting.reason == "CrashLoopBackOff")
end

-- When (ctx:now() seconds) the node's etcd container started, by its startedAt (the node's clock); now if unknown.
local function started_at(ctx, pod)
	local status = pod and openshift.container_status(pod, "etcd") or {}
	local started = openshift.epoch(((status.state or {}).running or {}).startedAt)
	if not started then return ctx:now() end
	return ctx:now() - math.max(0, os.time() - started)
end

-- Since when (ctx:now() seconds) the node's new etcd has run without a crash: from the start of its container at the
-- first look that finds it running (new-revision's looks count too), kept across the installer's replacements of
-- the pod, reset by a crash; false before.
local function crash_free_since(ctx, pod)
	ctx.state.new_member = ctx.state.new_member or {}
	local seen = ctx.state.new_member
	if etcd_crashed(ctx, pod) then
		seen.since = nil
	elseif not seen.since and pod and openshift.container_running(pod, "etcd") then
		seen.since = started_at(ctx, pod)
	end
	return seen.since or false
end

-- A look at the node's etcd pod for crash_free_since, outside the wait.
function progress.watch_etcd(ctx)
	local name = progress.member_node(ctx)
	if not name then return end
	local path = openshift.ns_path(ctx.opts.namespace, "pods", ctx.facts.pod:format(name))
	crash_free_since(ctx, (ctx.cluster:k8s():get(path)))
end

local function member_state(ctx, members, m, healthy)
	if not members then return "member list unreadable" end
	if not m then return "not added yet" end
	if m.id == ctx.journal.member_id then return "old member still listed" end
	return (m.is_learner and "learner " or "voting ") .. m.id .. (healthy[m.id] and ", healthy" or ", not healthy yet")
end

-- Converged: a newer revision, the node's member added and promoted, every member healthy, every etcd pod Running
-- and Ready, every node at the latest revision. Returns done, a progress line, and since when the node's new etcd
-- has run without a crash (the wait's --settle clock), or false.
function progress.converged(ctx)
	local cr = ctx.cluster:k8s():get(ctx.facts.etcd_cr)
	if not cr then return false, "cannot read etcd/cluster" end
	local r, before, want = openshift.rollout(cr), ctx.journal.revision_before or 0, ctx.state.etcd_nodes
	local ready, pod = etcd_pods(ctx)
	local members, _, healthy = ctx.cluster:read_members { timeout = 2, alarms = false } -- a look, not the verdict
	local m, counts = nil, { healthy = 0, voting = 0, learners = 0 }
	if members then m, counts = node_member(ctx, members), openshift.member_counts(members, healthy) end
	local endpoints = members ~= nil and endpoints_final(ctx, r.latest, members)
	local voting = m ~= nil and m.id ~= ctx.journal.member_id and not m.is_learner
	local since = crash_free_since(ctx, pod)
	local done = since ~= false and voting and r.latest > before and not r.in_progress and ready >= want
		and counts.healthy == #members and counts.voting == want and endpoints
	local coming = endpoints and "" or " (a revision with the new endpoints is still to come)"
	return done, string.format("revision %d (was %d)%s, %d/%d nodes at latest; pods ready %d/%d; %s: %s; members "
		.. "healthy %d/%d", r.latest, before, coming, r.at_latest, r.total, ready, want,
		progress.member_node(ctx) or "the new node",
		member_state(ctx, members, m, healthy), counts.healthy, members and #members or 0), since
end

-- The verification's first check: the node's new etcd ran --settle seconds without a crash, and everything
-- converged. The wait step of this run held it already, and nothing changes after it (the overrides are restored
-- before it): then it is not waited twice.
function progress.settled(ctx)
	if not ctx.journal.reason then return nil end
	if ctx:planned("wait") and ctx:finished("wait") then return "held for " .. ctx.opts.settle .. "s by the wait" end
	actions.wait { what = "the cluster to settle", timeout = ctx.opts.wait_timeout, interval = ctx.opts.poll_interval,
		settle = ctx.opts.settle, poll = progress.converged }:run(ctx)
	return "stable for " .. ctx.opts.settle .. "s"
end

return progress
