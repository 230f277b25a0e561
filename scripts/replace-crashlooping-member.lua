-- etcd-medic-api: 1
-- Replace the unhealthy etcd member whose etcd pod is crash-looping (OpenShift 4), step by step, safely.
--
-- The OpenShift document "Replacing an unhealthy etcd member whose etcd pod is crashlooping", automated.
-- One step per step of the document, in its order. Each step says whether it is already done (check),
-- what it would change (plan), does it (run) and checks the result (verify); medic.procedure gives
-- --dry-run, --yes, the journal and resume (run the same command again), --site hooks and cleanup.
-- Copy it out with `etcd-medic eject replace-crashlooping-member` to change it; or keep it and put your
-- site's changes in a --site file.
local procedure = require "medic.procedure"
local openshift = require "medic.openshift"
local json = require "medic.json"
local gopts = require "medic.options"
local etcd = require "medic.etcd"

local OPTIONS = {
	{ name = "node", arg = "NODE", help = "the node whose etcd pod is crash-looping (default: the only such node)",
		check = function(v)
			return openshift.valid_node_name(v), string.format("%q is not a valid node name (a lower-case DNS name, "
				.. "at most 253 characters)", #v > 80 and v:sub(1, 80) .. "..." or v)
		end },
	{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
	{ name = "backup", arg = "PATH", help = "an etcd snapshot already taken: verified and used instead of taking one" },
	{ name = "backup-dir", arg = "DIR", help = "where the snapshot is saved (default: STATE_DIR/backups)" },
	{ name = "aside-dir", arg = "DIR", default = "/var/lib/etcd-backup",
		help = "on the node: the manifest and data dir go to a new subdirectory of this (same file system as /var/lib/etcd)" },
	{ name = "manifest", arg = "PATH", default = "/etc/kubernetes/manifests/etcd-pod.yaml", help = "the etcd static pod manifest on the node" },
	{ name = "data-dir", arg = "PATH", default = "/var/lib/etcd", help = "the etcd data directory on the node" },
	{ name = "debug-image", arg = "IMAGE", help = "image of the debug pod that moves files on the node (default: the node backend's)" },
	{ name = "debug-namespace", arg = "NS", help = "namespace of the debug pod (default: --namespace)" },
	{ name = "local", flag = true, help = "run on the node itself: move files natively instead of through a debug pod" },
	{ name = "root", arg = "DIR", default = "/", help = "with --local: where the node's root file system is" },
	{ name = "quorum-override", arg = "MODE", default = "auto", choices = { "auto", "always", "never" },
		help = "open the operator's quorum gate for the redeployment: auto (4.8 and later), always, never" },
	{ name = "stop-timeout", arg = "SECONDS", number = true, default = 300, help = "how long to wait for etcd to stop on the node" },
	{ name = "wait-timeout", arg = "SECONDS", number = true, default = 1800, help = "how long to wait for the redeployment" },
	{ name = "settle", arg = "SECONDS", number = true, default = 30,
		help = "how long everything must stay converged before the wait (and the verification) ends" },
	{ name = "poll-interval", arg = "SECONDS", number = true, default = 2, help = "how often to look while waiting" },
}

local P = procedure.new {
	name = "replace-crashlooping-member",
	title = "Replace the unhealthy etcd member whose etcd pod is crash-looping",
	options = OPTIONS,
}

------------------------------------------------------------------------------------------------ helpers

-- What the steps read (members, health, pods, the etcd CR), the preflight checks and convergence live in
-- medic/crashloop.lua, so that this file reads like the document.
local C = require "medic.crashloop"
local must = openshift.must
local kc_of, etcd_cr, etcd_client, read_members = C.kc_of, C.etcd_cr, C.etcd_client, C.read_members
local node_member, find_id, open_node, patch_cr = C.node_member, C.find_id, C.open_node, C.patch_cr
local check_permissions, choose_node, check_node = C.check_permissions, C.choose_node, C.check_node
local check_members, read_settled, check_pod_and_rollout = C.check_members, C.read_settled, C.check_pod_and_rollout
local converged, wait_ready_peer = C.converged, C.wait_ready_peer

-- Which cluster: the journal is per cluster, so two clusters never share one.
P.journal_key = function(ctx)
	local kc = kc_of(ctx)
	local cv = kc:get(openshift.CLUSTER_VERSION)
	if cv and cv.spec and cv.spec.clusterID then return cv.spec.clusterID end
	local ns = kc:get("/api/v1/namespaces/kube-system") or kc:get("/api/v1/namespaces/" .. ctx.opts.namespace)
	if ns and ns.metadata and ns.metadata.uid then return ns.metadata.uid end
	local info = kc.info and kc:info()
	return info and info.server or "default"
end

-- The members preflight found healthy: the snapshot is taken from the first that answers, without first
-- waiting out a status probe of the dead member (etcdctl retries it for its whole 5 s command timeout).
local function healthy_endpoints(health)
	local list = {}
	for _, h in ipairs(health or {}) do
		if h.healthy then list[#list + 1] = h.endpoint end
	end
	return #list > 0 and list or nil
end

local function preflight(ctx)
	local o = ctx.opts
	local kc = kc_of(ctx)
	check_permissions(ctx)
	ctx:say("permissions: ok")
	ctx.version = openshift.cluster_version(kc:get(openshift.CLUSTER_VERSION)) or "unknown"
	ctx.gate = o.quorum_override == "always" or (o.quorum_override == "auto" and openshift.has_quorum_gate(ctx.version))
	ctx:say("OpenShift %s: %s", ctx.version, ctx.gate and "the quorum gate is opened for the redeployment"
		or "no quorum gate to open")
	local pods = openshift.etcd_pods(kc, o.namespace)
	ctx.node = choose_node(ctx, pods)
	if not ctx.node then
		local members, _, healthy = read_members(ctx)
		local all = members ~= nil
		for _, m in ipairs(members or {}) do all = all and healthy[m.id] == true end
		if all then ctx:nothing_to_do("every etcd member is healthy and no etcd pod is crash-looping: nothing to do") end
		ctx:refuse("no etcd pod is crash-looping (or the member list cannot be read); this procedure does not apply. "
			.. "Name the node with --node if you are sure.")
	end
	check_node(ctx)
	ctx:say("node %s, InternalIP %s", ctx.node, ctx.node_ip)
	if not gopts.etcd_endpoints then
		local ready
		pods, ready = wait_ready_peer(ctx, pods)
		if not ready then
			ctx:refuse("no Ready etcd pod on another node to work through: this needs the disaster recovery procedure")
		end
	end
	local members, health, healthy = read_settled(ctx)
	if not members then ctx:refuse("cannot read the member list through a healthy etcd pod: " .. tostring(health)) end
	ctx:say("working through %s", ctx.etcd_pod)
	for _, line in ipairs(openshift.member_table(members)) do ctx:say("%s", line) end
	for _, line in ipairs(openshift.health_lines(health)) do ctx:say("%s", line) end
	check_members(ctx, members, healthy)
	ctx.healthy_endpoints = healthy_endpoints(health)
	check_pod_and_rollout(ctx, pods, etcd_cr(ctx))
	ctx.cp_nodes = #openshift.control_plane_nodes(kc)
	if ctx.target then ctx:say("member to remove: %s (%s)", ctx.target.id, table.concat(ctx.target.peer_urls, ",")) end
end

P:step { name = "preflight", title = "Check that this procedure applies and is safe (read only)", read_only = true,
	run = preflight }

------------------------------------------------------------------------------------------------ backup

local function file_size(path)
	local f = io.open(path, "rb")
	if not f then return nil end
	local size = f:seek("end")
	f:close()
	return size
end

P:step { name = "backup", title = "Take an etcd backup (a verified snapshot)",
	check = function(ctx)
		local path = ctx.opts.backup or ctx.journal:get("backup")
		if path then
			-- a whole etcd snapshot: bbolt's magic, and the SHA-256 trailer `etcdctl snapshot save` appends
			local ok, err = etcd.check_snapshot(path)
			if not ok then ctx:refuse("the backup is not usable: " .. err .. "; take one and pass --backup PATH") end
			ctx.backup = path
			return "ok", path
		end
	end,
	plan = function(ctx)
		local dir = ctx.opts.backup_dir or (require("medic.journal").state_dir(ctx.opts.state_dir) .. "/backups")
		ctx.backup = string.format("%s/snapshot-%s-%s.db", dir, ctx.node, os.date("!%Y%m%dT%H%M%SZ"))
		return { "save an etcd snapshot through " .. tostring(ctx.etcd_pod) .. " to " .. ctx.backup .. " (SHA-256 checked)" }
	end,
	run = function(ctx)
		local path = ctx.backup
		local dir = path:match("^(.*)/[^/]+$")
		if dir then require("medic.journal").ensure_dir(dir) end
		local c = etcd_client(ctx)
		local ok, err = c and c:snapshot(path, { endpoints = ctx.healthy_endpoints })
		if not ok then
			ctx:refuse("no backup: cannot take a snapshot (" .. tostring(err) .. "); take one and pass --backup PATH")
		end
		ctx.journal:set("backup", path)
		ctx.backup_size = ok.size
		ctx:say("saved %s", path)
	end,
	-- snapshot() checked the SHA-256 of what it saved: no second read of the whole file, only that it is there
	verify = function(ctx)
		return file_size(ctx.backup) == ctx.backup_size, "the backup is not on disk as saved: " .. ctx.backup
	end,
}

------------------------------------------------------------------------------------------------ 1. stop the pod

local function etcd_gone(ctx)
	local pod, _, code = ctx.kc:get(openshift.ns_path(ctx.opts.namespace, "pods", openshift.pod_name(ctx.node)))
	if not pod then return code == "NotFound", "etcd pod " .. (code == "NotFound" and "gone" or "unknown") end
	local running = openshift.container_running(pod, "etcd")
	return not running, "etcd container " .. (running and "still running" or "stopped")
end

P:step { name = "stop-pod", title = "Stop the crash-looping etcd pod: move its manifest and data dir aside on the node",
	check = function(ctx)
		if ctx.journal:step_status("stop-pod") == "changed" or ctx.journal:step_status("stop-pod") == "ok" then
			return "ok", "moved to " .. tostring(ctx.journal:get("aside")) .. " on " .. ctx.node
		end
		if ctx.journal:get("member_id") then return "ok", "member already removed" end
	end,
	plan = function(ctx)
		ctx.aside = ctx.journal:get("aside") or
			string.format("%s/etcd-medic-%s", ctx.opts.aside_dir, os.date("!%Y%m%dT%H%M%SZ"))
		local o = ctx.opts
		return { "on node " .. ctx.node .. (o["local"] and " (locally)" or " (through a debug pod)") .. ": mkdir -p " .. ctx.aside,
			"mv " .. o.manifest .. " " .. ctx.aside .. "/" .. o.manifest:match("[^/]+$"),
			"mv " .. o.data_dir .. " " .. ctx.aside .. "/" .. o.data_dir:match("[^/]+$"),
			"wait up to " .. o.stop_timeout .. "s until etcd no longer runs on " .. ctx.node }
	end,
	run = function(ctx)
		local o = ctx.opts
		local n <close> = open_node(ctx)
		local aside = ctx.journal:get("aside")
		if not aside then
			aside = ctx.aside
			for i = 2, 20 do
				if not n:exists(aside) then break end
				aside = ctx.aside .. "-" .. i
			end
			ctx.journal:set("aside", aside)
		end
		must(n:mkdir(aside, { parents = true }))
		for _, src in ipairs { o.manifest, o.data_dir } do
			local dst = aside .. "/" .. src:match("[^/]+$")
			if n:exists(src) then
				must(n:move(src, dst))
				ctx:say("moved %s to %s", src, dst)
			elseif n:exists(dst) then
				ctx:say("%s is already in %s", src, aside)
			end
		end
		must(ctx:wait { what = "etcd to stop on " .. ctx.node, timeout = o.stop_timeout, interval = o.poll_interval,
			poll = function() return etcd_gone(ctx) end })
	end,
}

------------------------------------------------------------------------------------------------ 2. remove the member

P:step { name = "remove-member", title = "Remove the unhealthy member",
	check = function(ctx)
		local id = ctx.journal:get("member_id")
		if not id then return nil end
		local members, err = read_members(ctx)
		if not members then ctx:fail("cannot read the member list: " .. tostring(err)) end
		if not find_id(members, id) then return "ok", "member " .. id .. " is not in the member list" end
	end,
	plan = function(ctx)
		local t = ctx.target or { id = ctx.journal:get("member_id"), name = ctx.node, peer_urls = {} }
		return { string.format("etcdctl member remove %s   (name %s, peer %s) through %s", t.id, t.name,
			table.concat(t.peer_urls or {}, ","), tostring(ctx.etcd_pod)),
			string.format("afterwards %d voting members remain, all healthy", math.max(0, ctx.cp_nodes - 1)) }
	end,
	run = function(ctx)
		-- Re-checked just before: the member is still there, still unhealthy, everyone else healthy.
		local members, health, healthy = read_members(ctx)
		if not members then ctx:fail("cannot read the member list: " .. tostring(health)) end
		local id = ctx.journal:get("member_id") or (ctx.target and ctx.target.id)
		local m = id and find_id(members, id)
		if not m then ctx:fail("member " .. tostring(id) .. " is no longer in the member list; run again to re-plan") end
		for _, other in ipairs(members) do
			if (other.id == id) == (healthy[other.id] == true) then
				ctx:refuse("the members' health changed since the plan (" .. other.id .. " is now " ..
					(healthy[other.id] and "healthy" or "unhealthy") .. "); nothing was removed. Run again to re-check.")
			end
		end
		ctx.journal:set("member_id", id)
		ctx.journal:set("member_peer_urls", json.array(m.peer_urls or {}))
		local ok, err, code = etcd_client(ctx):member_remove(id)
		if not ok and code ~= "MemberNotFound" then
			-- A timeout says nothing about the outcome: re-read, never resend blindly.
			local after = read_members(ctx)
			if not after or find_id(after, id) then ctx:fail("member remove " .. id .. " failed: " .. tostring(err)) end
		end
		ctx:say("Member %s removed", id)
	end,
	verify = function(ctx)
		local members = read_members(ctx)
		return members and not find_id(members, ctx.journal:get("member_id")), "the member is still listed"
	end,
}

------------------------------------------------------------------------------------------------ quorum gate

-- The node's member is back, started, voting and healthy: nothing left that needs the gate open.
local function member_back(ctx)
	local members, _, healthy = read_members(ctx)
	if not members then return false end
	local m = node_member(ctx, members)
	return m ~= nil and m.id ~= ctx.journal:get("member_id") and not m.is_learner and healthy[m.id] == true
end

P:step { name = "open-quorum-gate", title = "Turn off the quorum guard (unsupportedConfigOverrides) for the redeployment",
	check = function(ctx)
		if not ctx.gate then return "skipped", "no quorum gate (OpenShift " .. ctx.version .. ", --quorum-override " ..
			ctx.opts.quorum_override .. ")" end
		if openshift.override_set(etcd_cr(ctx)) then return "ok", "the override is set" end
		if ctx.journal:get("member_id") and member_back(ctx) then return "ok", "not needed: the member is back" end
	end,
	plan = function(ctx)
		local cur = etcd_cr(ctx).spec.unsupportedConfigOverrides
		ctx.gate_planned = true
		return { "oc patch etcd/cluster --type=merge -p '" .. json.encode(openshift.override_patch()) .. "'",
			"the previous unsupportedConfigOverrides (" .. json.encode(cur == nil and json.null or cur) ..
			") is kept in the journal and restored afterwards" }
	end,
	run = function(ctx)
		if ctx.journal:get("overrides_recorded") == nil then
			local cur = etcd_cr(ctx).spec.unsupportedConfigOverrides
			ctx.journal:set("previous_overrides", cur == nil and json.null or cur)
			ctx.journal:set("overrides_recorded", true)
		end
		must(patch_cr(ctx, openshift.override_patch()))
	end,
	dry_run = function(ctx) must(patch_cr(ctx, openshift.override_patch(), true)) end,
	verify = function(ctx) return openshift.override_set(etcd_cr(ctx)), "the override did not stick" end,
}

------------------------------------------------------------------------------------------------ 3. secrets

local function read_secret(ctx, name)
	local s, err, code = ctx.kc:get(openshift.ns_path(ctx.opts.namespace, "secrets", name))
	if not s and code ~= "NotFound" then ctx:fail("cannot read secret " .. name .. ": " .. tostring(err)) end
	return s
end

-- Secrets still to delete: present and, if the journal knows them, the same object (same uid) it recorded.
-- A secret with another uid was re-issued by the operator after our delete: it is left alone.
local function old_secrets(ctx)
	local recorded = ctx.journal:get("secrets") or {}
	local todo = {}
	for _, name in ipairs(openshift.secret_names(ctx.node)) do
		local s = read_secret(ctx, name)
		if s and (not recorded[name] or recorded[name] == s.metadata.uid) then
			todo[#todo + 1] = { name = name, uid = s.metadata.uid, rv = s.metadata.resourceVersion }
		end
	end
	return todo
end

local function delete_secret(ctx, s, dry)
	return ctx.kc:delete(openshift.ns_path(ctx.opts.namespace, "secrets", s.name),
		{ preconditions = { uid = s.uid, resourceVersion = s.rv }, dryRun = dry and "All" or nil })
end

P:step { name = "delete-secrets", title = "Delete the removed member's peer, serving and metrics secrets",
	check = function(ctx)
		if #old_secrets(ctx) == 0 then return "ok", "no old secret left" end
	end,
	plan = function(ctx)
		local lines = {}
		for _, s in ipairs(old_secrets(ctx)) do
			lines[#lines + 1] = string.format("oc delete secret -n %s %s   (preconditions: uid %s, resourceVersion %s)",
				ctx.opts.namespace, s.name, s.uid, s.rv)
		end
		return lines
	end,
	run = function(ctx)
		local todo = old_secrets(ctx)
		local recorded = ctx.journal:get("secrets") or {}
		for _, s in ipairs(todo) do recorded[s.name] = s.uid end
		ctx.journal:set("secrets", recorded)
		for _, s in ipairs(todo) do
			local ok, err, code = delete_secret(ctx, s)
			if ok or code == "NotFound" then
				ctx:say("secret %s deleted", s.name)
			elseif code == "Conflict" then
				local now = read_secret(ctx, s.name)
				if now and now.metadata.uid == s.uid then ctx:fail("secret " .. s.name .. " changed since the plan: run again") end
				ctx:say("secret %s was re-issued meanwhile: left alone", s.name)
			else
				ctx:fail("cannot delete secret " .. s.name .. ": " .. tostring(err))
			end
		end
	end,
	dry_run = function(ctx)
		for _, s in ipairs(old_secrets(ctx)) do must(delete_secret(ctx, s, true)) end
	end,
	verify = function(ctx) return #old_secrets(ctx) == 0, "an old secret is still there" end,
}

------------------------------------------------------------------------------------------------ 4. redeploy

P:step { name = "force-redeploy", title = "Force a redeployment of etcd (a unique forceRedeploymentReason)",
	check = function(ctx)
		local reason = ctx.journal:get("reason")
		if reason and etcd_cr(ctx).spec.forceRedeploymentReason == reason then return "ok", reason end
	end,
	plan = function(ctx)
		ctx.reason = openshift.redeploy_reason()
		return { "oc patch etcd cluster --type=merge -p='" .. json.encode(openshift.redeploy_patch(ctx.reason)) .. "'" }
	end,
	run = function(ctx)
		local cr = etcd_cr(ctx)
		ctx.journal:set("revision_before", (cr.status or {}).latestAvailableRevision or 0)
		ctx.journal:set("reason", ctx.reason)
		local ok, err = patch_cr(ctx, openshift.redeploy_patch(ctx.reason))
		if not ok and etcd_cr(ctx).spec.forceRedeploymentReason ~= ctx.reason then
			ctx:fail("the redeployment patch failed: " .. tostring(err))
		end
	end,
	dry_run = function(ctx) must(patch_cr(ctx, openshift.redeploy_patch(ctx.reason), true)) end,
	verify = function(ctx)
		return etcd_cr(ctx).spec.forceRedeploymentReason == ctx.journal:get("reason"), "the reason did not stick"
	end,
}

------------------------------------------------------------------------------------------------ wait

-- Waits until converged() has held for --settle seconds in a row: the operator reacts to the end of one
-- rollout with the next (new endpoints, re-aggregated certificates), and that must not be mistaken for the end.
local function wait_settled(ctx, what)
	local since
	must(ctx:wait { what = what, timeout = ctx.opts.wait_timeout, interval = ctx.opts.poll_interval,
		poll = function()
			local done, line = converged(ctx)
			if not done then since = nil; return false, line end
			since = since or os.time()
			local held = os.time() - since
			if held >= ctx.opts.settle then return true, line end
			return false, line .. string.format("; settling (%ds of %ds)", held, ctx.opts.settle)
		end })
end

P:step { name = "wait", title = "Wait for the operator: new revision, member added and promoted, pods Ready",
	check = function(ctx)
		if not ctx.journal:get("reason") then return nil end
		if ctx.journal:step_status("wait") == "changed" and converged(ctx) then return "ok", "the redeployment is complete" end
	end,
	plan = function(ctx)
		return { string.format("wait up to %ds for a new revision, the new member of %s added and promoted, every etcd pod "
			.. "Running and Ready, and every node at the latest revision (stable for %ds)", ctx.opts.wait_timeout, ctx.node,
			ctx.opts.settle) }
	end,
	run = function(ctx) wait_settled(ctx, "the redeployment") end,
}

------------------------------------------------------------------------------------------------ restore the gate

P:step { name = "restore-overrides", title = "Turn the quorum guard back on: restore unsupportedConfigOverrides exactly",
	cleanup = true,
	check = function(ctx)
		if not ctx.journal:get("overrides_recorded") then
			if ctx.gate_planned then return nil end
			return "skipped", "the quorum gate was not opened"
		end
		local cur = etcd_cr(ctx).spec.unsupportedConfigOverrides
		if openshift.same(cur, ctx.journal:get("previous_overrides")) then return "ok", "as before" end
	end,
	plan = function(ctx)
		local prev = ctx.journal:get("previous_overrides")
		if prev == nil then prev = etcd_cr(ctx).spec.unsupportedConfigOverrides end
		return { "restore spec.unsupportedConfigOverrides to " .. json.encode(prev == nil and json.null or prev) ..
			" (a merge patch; also done if a later step fails)" }
	end,
	run = function(ctx)
		-- The same merge patch to a recorded value: safe to send again, so a transient failure (a 500, a lost
		-- connection, a timeout) is retried for up to 3 minutes instead of leaving the quorum guard off.
		local prev, last, patch = ctx.journal:get("previous_overrides"), nil, nil
		local ok = ctx:wait { what = "restoring unsupportedConfigOverrides", timeout = 180, interval = 3, poll = function()
			local cr, err = ctx.kc:get(openshift.ETCD_CR)
			if not cr then last = err; return false, "cannot read etcd/cluster: " .. tostring(err) end
			patch = openshift.restore_patch(cr.spec.unsupportedConfigOverrides, prev)
			local done, perr = patch_cr(ctx, patch)
			last = perr
			return done ~= nil, not done and ("the restore patch failed: " .. tostring(perr) .. "; trying again") or nil
		end }
		if not ok then
			ctx:fail("the quorum guard may still be OFF: unsupportedConfigOverrides could not be restored (" .. tostring(last)
				.. "). Run the same command again, or restore it by hand: oc patch etcd/cluster --type=merge -p '"
				.. json.encode(patch or openshift.restore_patch(nil, prev)) .. "'")
		end
	end,
	verify = function(ctx)
		return openshift.same(etcd_cr(ctx).spec.unsupportedConfigOverrides, ctx.journal:get("previous_overrides")),
			"unsupportedConfigOverrides differs from before"
	end,
}

------------------------------------------------------------------------------------------------ verification

P:step { name = "verify", title = "Verify: every member healthy, one voting member per control-plane node, no learner",
	observe = true,
	plan = function(ctx) return { "etcdctl member list -w table; etcdctl endpoint health --cluster" } end,
	run = function(ctx)
		-- Restoring the overrides may start one more rollout: let it finish first.
		if ctx.journal:get("reason") then wait_settled(ctx, "the cluster to settle") end
		local members, health, healthy = read_members(ctx)
		if not members then ctx:fail("cannot read the member list: " .. tostring(health)) end
		for _, line in ipairs(openshift.member_table(members)) do ctx:say("%s", line) end
		for _, line in ipairs(openshift.health_lines(health)) do ctx:say("%s", line) end
		local c = openshift.member_counts(members, healthy)
		local cp = #openshift.control_plane_nodes(ctx.kc)
		if c.healthy ~= #members then ctx:fail(string.format("%d of %d members are healthy", c.healthy, #members)) end
		if c.learners > 0 then ctx:fail(c.learners .. " member(s) still learners") end
		if c.voting ~= cp then ctx:fail(string.format("%d voting members for %d control-plane nodes", c.voting, cp)) end
		return "ok"
	end,
}

return P:main(...)
