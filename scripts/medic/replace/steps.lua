-- etcd-medic-api: 2
-- The steps the member replacements share, as the documents share them: take the backup, remove the unhealthy
-- member, turn the quorum guard off, delete the removed member's secrets, force a redeployment, wait for the revision
-- the guard was opened for, turn the guard back on, wait for the operator, verify. replace-crashlooping-member and
-- replace-unhealthy-member each add them in their document's order, around their own steps:
--
--   local steps = require "medic.replace.steps"
--   P:step(steps.remove_member())
--
-- Each function returns a step definition (a fresh table, so a site file's replace() of one script's step never
-- reaches the other). What they read: ctx.state.node / node_ip / target / gate / version / etcd_nodes / backup_plan /
-- healthy_endpoints / member_removed (and new_node where a new machine takes the node's place, see
-- medic.replace.progress.member_node); the journal keys of replace-crashlooping-member (backup, backup_pair, node,
-- member_id, member_peer_urls, overrides_recorded, previous_overrides, secrets, reason, revision_before).
local actions = require "medic.actions"
local backup = require "medic.backup"
local openshift = require "medic.openshift"
local json = require "medic.json"
local checks = require "medic.replace.checks"
local progress = require "medic.replace.progress"

local steps = {}

-- The platform's backup, as cluster-backup.sh (and `etcd-medic run backup`) writes it: the snapshot and the static pod
-- resources of a healthy node, checked, in one directory that cluster-restore.sh restores from. `by`: the procedure
-- (written in the backup's manifest).
function steps.backup(by)
	return { name = "backup", title = "Take an etcd backup the platform can restore (snapshot + static pod resources)",
		done = function(ctx)
			if ctx.opts.backup then return "given: " .. ctx.opts.backup end
			if ctx:finished("backup") then return ctx.journal.backup end
		end,
		actions = function(ctx)
			local b = ctx.journal.backup_pair or ctx.state.backup_plan
			local snapshot = b.dir .. "/" .. backup.names(b.stamp, b.dirty)
			return backup.actions { dir = b.dir, stamp = b.stamp, dirty = b.dirty, node = b.node,
				revisions = b.revisions, endpoints = ctx.state.healthy_endpoints, root = b.root,
				record = { node = ctx.state.node, backup = snapshot, backup_pair = b },
				fields = { node = b.node, taken = b.stamp, possibly_dirty = b.dirty, by = "etcd-medic run " .. by } }
		end,
	}
end

function steps.remove_member()
	return { name = "remove-member", title = "Remove the unhealthy member",
		done = function(ctx)
			if ctx.state.member_removed then
				return "no member of " .. ctx.state.node .. " in the list (removed before)"
			end
			local id = ctx.journal.member_id
			local listed = id and ctx.cluster:member_listed(id)
			if listed == false then return "member " .. id .. " is not in the member list" end
		end,
		actions = function(ctx)
			local t = ctx.state.target or { id = ctx.journal.member_id, name = ctx.state.node,
				peer_urls = ctx.journal.member_peer_urls }
			return { actions.member_remove { id = t.id, name = t.name, peer_urls = t.peer_urls,
				guard = checks.still_unhealthy,
				record = { member_id = t.id, member_peer_urls = json.array(t.peer_urls or {}) } } }
		end,
	}
end

local function no_gate(ctx)
	if not ctx.state.gate then
		return string.format("no quorum gate (OpenShift %s, --quorum-override %s)", ctx.state.version,
			ctx.opts.quorum_override)
	end
end

local function previous_overrides(ctx)
	if ctx.journal.overrides_recorded then return ctx.journal.previous_overrides end
	return progress.overrides(ctx)
end

function steps.open_quorum_gate()
	return { name = "open-quorum-gate",
		title = "Turn off the quorum guard (unsupportedConfigOverrides) for the redeployment",
		skip = no_gate,
		done = function(ctx)
			if progress.override_set(ctx) then return "the override is set" end
			if ctx.journal.member_id and progress.member_back(ctx) then return "not needed: the member is back" end
		end,
		actions = function(ctx)
			return { actions.merge_patch { path = ctx.facts.etcd_cr, object = "etcd/cluster",
				body = { spec = { unsupportedConfigOverrides = ctx.facts.quorum_override } },
				record = { previous_overrides = previous_overrides(ctx), overrides_recorded = true } } }
		end,
	}
end

function steps.delete_secrets()
	return { name = "delete-secrets", title = "Delete the removed member's peer, serving and metrics secrets",
		done = function(ctx)
			if #progress.old_secrets(ctx) == 0 then return "no old secret left" end
		end,
		actions = function(ctx)
			local old, list, uids = progress.old_secrets(ctx), {}, ctx.journal.secrets or {}
			for _, s in ipairs(old) do uids[s.metadata.name] = s.metadata.uid end
			for _, s in ipairs(old) do
				list[#list + 1] = actions.secret_delete { namespace = ctx.opts.namespace, name = s.metadata.name,
					uid = s.metadata.uid, resource_version = s.metadata.resourceVersion, record = { secrets = uids } }
			end
			return list
		end,
	}
end

function steps.force_redeploy()
	return { name = "force-redeploy", title = "Force a redeployment of etcd (a unique forceRedeploymentReason)",
		done = function(ctx)
			local reason = ctx.journal.reason
			if reason and progress.etcd_cr(ctx).spec.forceRedeploymentReason == reason then return reason end
		end,
		actions = function(ctx)
			local reason = openshift.redeploy_reason(ctx.facts.redeploy_reason)
			local cr = progress.etcd_cr(ctx)
			return { actions.merge_patch { path = ctx.facts.etcd_cr, object = "etcd/cluster",
				body = { spec = { forceRedeploymentReason = reason } },
				record = { reason = reason, revision_before = (cr.status or {}).latestAvailableRevision or 0 } } }
		end,
	}
end

-- The document turns the quorum guard back on right after the redeployment patch. The operator (4.8 to 4.17: its
-- TargetConfig, cert-signer and endpoints controllers; 4.18 on: its revision controller) needs it off until it has
-- issued the node's secrets again and made a revision that carries them; once that exists, the guard goes back on
-- at once, so that no further revision rolls out while the new member is still a learner (docs/operator-vs-docs.md).
function steps.new_revision()
	return { name = "new-revision", title = "Wait for the revision the quorum gate was opened for (secrets issued again)",
		skip = progress.gate_not_opened,
		done = function(ctx)
			if not ctx.journal.reason then return nil end
			local made, line = progress.revision_made(ctx)
			if made then return line end
		end,
		actions = function(ctx)
			return { actions.wait { what = "the operator's new revision with the node's secrets issued again",
				timeout = ctx.opts.wait_timeout, interval = ctx.opts.poll_interval, poll = progress.revision_made } }
		end,
	}
end

function steps.restore_overrides()
	return { name = "restore-overrides",
		title = "Turn the quorum guard back on: restore unsupportedConfigOverrides exactly",
		cleanup = true, -- also runs when a later step fails or the run is interrupted
		skip = progress.gate_not_opened,
		done = function(ctx)
			local recorded = ctx.journal.overrides_recorded
			if recorded and openshift.same(progress.overrides(ctx), ctx.journal.previous_overrides) then
				return "as before"
			end
		end,
		actions = function(ctx)
			return { actions.set_field { path = ctx.facts.etcd_cr, object = "etcd/cluster",
				field = { "spec", "unsupportedConfigOverrides" }, value = previous_overrides(ctx), retry = 180,
				on_failure = "the quorum guard may still be OFF: unsupportedConfigOverrides could not be restored" } }
		end,
	}
end

function steps.wait()
	return { name = "wait", title = "Wait for the operator: new revision, member added and promoted, pods Ready",
		done = function(ctx)
			if ctx.journal.reason and ctx:finished("wait") and progress.converged(ctx) then
				return "the redeployment is complete"
			end
		end,
		actions = function(ctx)
			local node = progress.member_node(ctx) or "the replacement node"
			return { actions.wait { what = "a new revision, the new member of " .. node .. " added and promoted, "
				.. "every etcd pod Running and Ready, every node at the latest revision", timeout = ctx.opts.wait_timeout,
				interval = ctx.opts.poll_interval, settle = ctx.opts.settle, poll = progress.converged } }
		end,
	}
end

-- The verification's checks: settled, then the members.
steps.settled = { "settled", "the operator has finished, and the new etcd ran --settle seconds without a crash",
	progress.settled }
steps.members = { "members", "every member healthy and voting, one per etcd node, no learner", checks.all_healthy }

return steps
