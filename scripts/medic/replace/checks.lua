-- etcd-medic-api: 2
-- The checks the member replacements share (replace-crashlooping-member and replace-unhealthy-member): the
-- permissions they declare, the version and its quorum gate, an etcd pod elsewhere to work through, exactly one member
-- unhealthy and it the node's, the guard before its removal, the backup, and the final verification. Each takes the
-- procedure's ctx, puts what it finds in ctx.state, returns a note to show, and stops the run (ctx:stop) when the
-- procedure does not apply or is not safe.
local openshift = require "medic.openshift"
local backup = require "medic.backup"
local progress = require "medic.replace.progress"
local json = require "medic.json"
local gopts = require "medic.options"
local host = require "medic.host"
local perms = require "medic.permissions"

local checks = {}

-- Which cluster: the journal is per cluster, so two clusters never share one.
function checks.cluster_id(ctx) return ctx.cluster:id() end

------------------------------------------------------------------------------------------------ permissions

-- What both replacements may do in the cluster (medic.permissions); each script adds its own on top.
checks.PERMISSIONS = {
	perms.LEASE, perms.JOURNAL, perms.CLUSTER_ID, perms.NETWORK, perms.ETCDCTL, perms.DEBUG_POD, perms.BACKUP,
	{ "get list", "nodes", at = "cluster", why = "the node and its InternalIP" },
	{ "get delete", "secrets", why = "the node's certificates (deleted with preconditions)" },
	{ "get", "pods", why = "the node's etcd pod, while the operator redeploys it" },
	{ "get", "configmaps", why = "the revisions the operator makes (etcd-pod-N, etcd-endpoints-N)" },
	{ "get patch", "etcds.operator.openshift.io", at = "cluster", why = "the quorum gate and the redeployment" },
}

------------------------------------------------------------------------------------------------ version


-- The etcd operator's own version decides the quorum gate: it is the operator that enforces it, and during an
-- upgrade (4.7 -> 4.8, say) ClusterVersion's history still says the old release while the new operator already
-- gates. Without it, ClusterVersion; an unknown version opens the gate (harmless where there is none: the override
-- is restored exactly).
local function operator_version(ctx)
	local kc = ctx.cluster:k8s()
	local version = openshift.operator_version(kc:get(openshift.ETCD_OPERATOR))
	if version then return version, "the etcd operator" end
	version = openshift.cluster_version(kc:get(openshift.CLUSTER_VERSION))
	if version then return version, "ClusterVersion" end
	return "unknown", "no version could be read"
end

function checks.version(ctx)
	local o = ctx.opts
	local version, source = operator_version(ctx)
	ctx.state.version = version
	ctx.state.gate = o.quorum_override == "always"
		or (o.quorum_override == "auto" and openshift.at_least(version, ctx.facts.quorum_gate_since))
	local note = string.format("OpenShift %s (%s): %s", version, source,
		ctx.state.gate and "the quorum gate is opened for the redeployment" or "no quorum gate to open")
	local cr = ctx.cluster:k8s():get(ctx.facts.etcd_cr)
	local overrides = cr and (cr.spec or {}).unsupportedConfigOverrides
	if not ctx.resuming and type(overrides) == "table" and next(overrides) then
		note = note .. string.format("; NOTE: unsupportedConfigOverrides is already %s%s; it is put back exactly "
			.. "as it is now", json.encode(overrides), progress.override_set(ctx) and
			" (the quorum guard is already OFF: the cluster was in unsafe mode before this run)" or "")
	end
	return note
end

------------------------------------------------------------------------------------------------ etcd

-- An etcd pod on another node, Ready, to work through; the pods are read again for up to 10 s, since right after
-- a member fails the others can fail their readiness probe for a moment (a leader election). With no other node
-- that runs etcd (single-node OpenShift) none can appear: refused at once.
function checks.ready_peer(ctx)
	if gopts.etcd_endpoints then return "direct: " .. gopts.etcd_endpoints end
	if ctx.state.etcd_nodes == 1 then
		ctx:stop("refused", "node " .. tostring(ctx.state.node) .. " is the only node that runs etcd (single-node "
			.. "OpenShift?): there is no other member to work through; this needs the disaster recovery procedure")
	end
	local deadline = host.now() + 10
	for _ = 1, 100 do
		local pods = openshift.etcd_pods(ctx.cluster:k8s(), ctx.opts.namespace)
		local pod = openshift.healthy_pod(pods, ctx.state.node)
		if pod then return "working through " .. pod.metadata.name end
		if host.now() >= deadline then break end
		ctx:say("no Ready etcd pod on another node yet; looking again")
		ctx:sleep(math.max(1, ctx.opts.poll_interval))
	end
	ctx:stop("refused", "no Ready etcd pod on another node to work through: this needs the disaster recovery procedure")
end

-- Members and health, read again for a while when more members than expected look unhealthy: a health check can
-- time out on a busy member, and a resumed run may find the operator restarting members one at a time. The
-- decision is made on the last reading; this only avoids refusing on a passing blip.
local function read_settled(ctx)
	local deadline = host.now() + (ctx.resuming and math.min(120, ctx.opts.wait_timeout) or 6)
	local members, health, healthy
	for _ = 1, 200 do
		members, health, healthy = ctx.cluster:read_members { down_ip = ctx.state.node_ip }
		if members then
			local others = 0
			for _, m in ipairs(members) do
				if not healthy[m.id] and not openshift.has_peer_ip(m, ctx.state.node_ip) then others = others + 1 end
			end
			if others == 0 then break end
			ctx:say("%d other member(s) unhealthy; looking again%s", others,
				ctx.journal.member_id and " (the operator may be restarting members)" or "")
		end
		if host.now() >= deadline then break end
		ctx:sleep(math.max(1, ctx.opts.poll_interval))
	end
	return members, health, healthy
end

local function names(list)
	local out = {}
	for _, m in ipairs(list) do out[#out + 1] = (m.name ~= "" and m.name or "(unstarted)") .. " " .. m.id end
	return table.concat(out, ", ")
end

local function unhealthy_members(members, healthy)
	local list = {}
	for _, m in ipairs(members) do
		if not healthy[m.id] then list[#list + 1] = m end
	end
	return list
end

-- A resumed run whose member is already removed: only the node's new member may be unhealthy meanwhile (on the
-- node's address, or, on a replacement node, one still joining: unstarted or a learner).
local function check_resumed(ctx, unhealthy)
	for _, m in ipairs(unhealthy) do
		local joining = ctx.procedure and ctx.procedure.state_names.new_node and (m.name == "" or m.is_learner)
		if not openshift.has_peer_ip(m, ctx.state.node_ip) and not joining then
			ctx:stop("refused", "member " .. names({ m }) .. " is unhealthy; the run cannot continue safely. Wait for "
				.. "it to recover, then run again.")
		end
	end
	return "member " .. ctx.journal.member_id .. " of " .. ctx.state.node .. " was already removed (journal)"
end

local function find_target(ctx, members, unhealthy)
	local node = ctx.state.node
	local target, why, detail = openshift.match_member(members, node, ctx.state.node_ip)
	if why == "mismatch" then
		ctx:stop("refused", "the node's name and peer IP disagree: " .. detail .. "; check by hand")
	end
	if #unhealthy == 0 then ctx:stop("nothing to do", "every etcd member is healthy: nothing to do") end
	if #unhealthy > 1 then
		ctx:stop("refused", #unhealthy .. " members are unhealthy (" .. names(unhealthy) .. "): replacing one member "
			.. "cannot make the cluster safe; see the OpenShift etcd disaster recovery (quorum restore) documentation")
	end
	if not target then
		ctx:stop("refused", "node " .. node .. " (InternalIP " .. ctx.state.node_ip .. ") matches no etcd member; the "
			.. "unhealthy member is " .. names(unhealthy))
	end
	if unhealthy[1].id ~= target.id then
		ctx:stop("refused", "the member of " .. node .. " is healthy; the unhealthy one is " .. names(unhealthy)
			.. ". Did you mean --node " .. (unhealthy[1].name ~= "" and unhealthy[1].name or "?") .. "?")
	end
	if target.is_learner then
		ctx:stop("refused", "the member of " .. node .. " is a learner: a rollout is in progress; wait for it")
	end
	return target
end

-- An admin who followed the document by hand as far as `member remove` leaves no member for the node, every other
-- member healthy, and fewer voting members than nodes that run etcd: the rest of the procedure still applies.
local function removed_by_hand(ctx, members, unhealthy)
	if #unhealthy > 0 or #members >= ctx.state.etcd_nodes then return false end
	local _, why = openshift.match_member(members, ctx.state.node, ctx.state.node_ip)
	ctx.state.member_removed = why == "none"
	return ctx.state.member_removed
end

-- Exactly the node's member is unhealthy (or, on resume, already removed) and every other member is healthy.
function checks.members(ctx)
	local members, health, healthy = read_settled(ctx)
	if not members then
		ctx:stop("refused", "cannot read the member list through a healthy etcd pod: " .. tostring(health))
	end
	for _, line in ipairs(openshift.member_table(members)) do ctx:say("%s", line) end
	for _, line in ipairs(openshift.health_lines(health, members)) do ctx:say("%s", line) end
	local endpoints = {}
	for _, h in ipairs(health) do
		if h.healthy then endpoints[#endpoints + 1] = h.endpoint end
	end
	ctx.state.healthy_endpoints = #endpoints > 0 and endpoints or nil
	local unhealthy, removed, listed = unhealthy_members(members, healthy), ctx.journal.member_id, false
	for _, m in ipairs(members) do listed = listed or m.id == removed end
	if removed and not listed then return check_resumed(ctx, unhealthy) end
	if removed_by_hand(ctx, members, unhealthy) then
		return "no member of " .. ctx.state.node .. " in the list while " .. ctx.state.etcd_nodes .. " nodes run etcd: "
			.. "it was removed already (by hand?); the procedure goes on from there"
	end
	ctx.state.target = find_target(ctx, members, unhealthy)
	return "member to remove: " .. ctx.state.target.id .. " (" .. table.concat(ctx.state.target.peer_urls, ",") .. ")"
end

-- Right before the removal: the member is still there and still the only unhealthy one.
function checks.still_unhealthy(ctx)
	local members, health, healthy = ctx.cluster:read_members { down_ip = ctx.state.node_ip }
	if not members then ctx:stop("failed", "cannot read the member list: " .. tostring(health)) end
	local id = ctx.journal.member_id or ctx.state.target.id
	local found = false
	for _, m in ipairs(members) do
		found = found or m.id == id
		if (m.id == id) == (healthy[m.id] == true) then
			ctx:stop("refused", "the members' health changed since the plan (" .. m.id .. " is now "
				.. (healthy[m.id] and "healthy" or "unhealthy") .. "); nothing was removed. Run again to re-check.")
		end
	end
	if not found then
		ctx:stop("failed", "member " .. id .. " is no longer in the member list; run again to re-plan")
	end
end
------------------------------------------------------------------------------------------------ the backup

-- A backup given with --backup: the directory cluster-backup.sh (or `etcd-medic run backup`) wrote, whose newest pair
-- cluster-restore.sh would take; both files checked (the snapshot's bolt magic and SHA-256 trailer, the tarball read
-- to its end with the four components in it). A bare snapshot is refused unless --snapshot-only: the platform's
-- restore needs the tarball too.
local function given_backup(ctx, path)
	local st = require("medic.node").open_local({ root = "/" }):stat(path)
	if st and st.type == "directory" then
		local snapshot, tarball = backup.find_pair(path)
		if not snapshot or not tarball then
			ctx:stop("refused", path .. " does not hold a backup cluster-restore.sh can use (a snapshot_*.db and a "
				.. "static_kuberesources_*.tar.gz): take one with `etcd-medic run backup --dir " .. path .. "`")
		end
		local info, err = backup.check_pair(snapshot, tarball)
		if not info then ctx:stop("refused", "the backup in " .. path .. " is not usable: " .. tostring(err)) end
		return ("%s and %s (etcd revision %s)"):format(snapshot, tarball, tostring(info.snapshot.revision))
	end
	local ok, err = require("medic.etcd").check_snapshot(path)
	if not ok then
		ctx:stop("refused", "the backup is not usable: " .. tostring(err) .. "; pass the directory of a backup "
			.. "(`etcd-medic run backup`) as --backup DIR")
	end
	if not ctx.opts.snapshot_only then
		ctx:stop("refused", path .. " is a bare snapshot: cluster-restore.sh also needs the static pod resources "
			.. "(static_kuberesources_*.tar.gz) to restore. Pass the directory of a whole backup (`etcd-medic run backup` "
			.. "takes one), or add --snapshot-only to go on with the snapshot alone")
	end
	return path .. " (a snapshot only: --snapshot-only)"
end

-- What the backup step saves: the static pod resources of a node with a Ready etcd pod other than the crash-looping
-- one (this node itself with --local) at the revisions its pods run, and a snapshot. A repair runs in an incident:
-- a ClusterOperator Progressing does not stop it, it marks the backup __POSSIBLY_DIRTY__ as cluster-backup.sh's
-- --force does.
local function backup_plan(ctx)
	local kc, o = ctx.cluster:k8s(), ctx.opts
	local candidates = { o["local"] and ctx.state.node or nil }
	for _, p in ipairs(o["local"] and {} or openshift.etcd_pods(kc, o.namespace)) do
		if p.spec.nodeName ~= ctx.state.node and openshift.pod_ready(p) then candidates[#candidates + 1] = p.spec.nodeName end
	end
	local from, revisions, err = nil, nil, "no Ready etcd pod on another node"
	for _, name in ipairs(candidates) do -- the first that runs all four (an arbiter runs etcd alone)
		revisions, err = backup.revisions(kc, name)
		if revisions then from = name break end
	end
	if not revisions then
		ctx:stop("refused", "cannot take the platform's backup: " .. tostring(err)
			.. "; take one by hand and pass --backup DIR")
	end
	local progressing = backup.progressing(kc)
	local b = { dir = o.backup_dir or (ctx:state_dir() .. "/backups"), stamp = backup.stamp(), node = from,
		revisions = revisions, dirty = #progressing > 0, root = o["local"] and o.root or nil }
	ctx.state.backup_plan = b
	local which = {}
	for _, p in ipairs(progressing) do which[#which + 1] = p.name end
	return ("none given: one is taken in the next step, from %s%s"):format(from, b.dirty and (" (" ..
		table.concat(which, ", ") .. " Progressing: marked " .. backup.DIRTY .. ")") or "")
end

function checks.backup(ctx)
	if ctx.opts.backup then return given_backup(ctx, ctx.opts.backup) end
	local taken = ctx.journal.backup
	if taken and ctx:finished("backup") then -- taken by the run this one resumes
		local b = ctx.journal.backup_pair
		local tarball = b and (b.dir .. "/" .. select(2, backup.names(b.stamp, b.dirty)))
		local ok, err
		if tarball then ok, err = backup.check_pair(taken, tarball, b.revisions)
		else ok, err = require("medic.etcd").check_snapshot(taken) end -- a journal of an earlier etcd-medic
		if not ok then ctx:stop("refused", "the backup taken is not usable any more: " .. tostring(err)) end
		return taken .. (tarball and (" and " .. tarball) or "")
	end
	if ctx.journal.backup_pair then return "resuming the backup of " .. ctx.journal.backup_pair.stamp end
	return backup_plan(ctx)
end

------------------------------------------------------------------------------------------------ verification

function checks.all_healthy(ctx)
	local members, health, healthy = ctx.cluster:read_members()
	if not members then ctx:stop("failed", "cannot read the member list: " .. tostring(health)) end
	for _, line in ipairs(openshift.member_table(members)) do ctx:say("%s", line) end
	for _, line in ipairs(openshift.health_lines(health, members)) do ctx:say("%s", line) end
	local c = openshift.member_counts(members, healthy)
	local want = #openshift.etcd_nodes(ctx.cluster:k8s())
	if c.healthy ~= #members then
		ctx:stop("failed", string.format("%d of %d members are healthy", c.healthy, #members))
	end
	if c.learners > 0 then ctx:stop("failed", c.learners .. " member(s) still learners") end
	if c.voting ~= want then
		ctx:stop("failed", string.format("%d voting members for %d etcd nodes", c.voting, want))
	end
	return string.format("%d voting members, all healthy", c.voting)
end

return checks
