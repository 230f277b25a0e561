-- etcd-medic-api: 2
-- Replace the unhealthy etcd member whose etcd pod is crash-looping (OpenShift 4), step by step, safely.
--
-- The OpenShift document "Replacing an unhealthy etcd member whose etcd pod is crashlooping", automated: its facts,
-- its prerequisites, then one step per step of the document, in its order. Each step declares its changes once, as
-- actions; the plan, --dry-run and the run all come from them (docs/procedures.md). Change it with a --site file
-- (facts, option defaults, hooks, a replaced step), or copy it out with `etcd-medic eject`.
local procedure = require "medic.procedure"
local actions = require "medic.actions"
local backup = require "medic.backup"
local openshift = require "medic.openshift"
local json = require "medic.json"
local gopts = require "medic.options"
local perms = require "medic.permissions"
local checks = require "replace-crashlooping-member.checks"
local progress = require "replace-crashlooping-member.progress"

local P = procedure.new {
	name = "replace-crashlooping-member",
	title = "Replace the unhealthy etcd member whose etcd pod is crash-looping",

	-- The document's facts (reference/openshift.md §0, §1, §6). A site file changes them: site.facts.secrets = {...}
	facts = {
		pod = "etcd-%s", -- the node's etcd static pod
		secrets = { "etcd-peer-%s", "etcd-serving-%s", "etcd-serving-metrics-%s" }, -- the node's, deleted in step 3
		redeploy_reason = "single-master-recovery-%s", -- %s: date --rfc-3339=ns, so that every reason is new
		quorum_gate_since = "4.8", -- from this release on the operator refuses a rollout that is not fault tolerant
		quorum_override = { useUnsupportedUnsafeNonHANonProductionUnstableEtcd = true }, -- what opens the gate
		etcd_cr = "/apis/operator.openshift.io/v1/etcds/cluster",
	},

	-- What it may do in the cluster (medic.permissions): checked first, and `etcd-medic rbac` prints it as RBAC.
	permissions = {
		perms.LEASE, perms.JOURNAL, perms.CLUSTER_ID, perms.ETCDCTL, perms.DEBUG_POD, perms.BACKUP,
		{ "get list", "nodes", at = "cluster", why = "the node and its InternalIP" },
		{ "get delete", "secrets", why = "the node's certificates (step 3), deleted with preconditions" },
		{ "get", "pods", why = "the node's etcd pod, while the operator redeploys it" },
		{ "get", "configmaps", why = "the revisions the operator makes (etcd-pod-N, etcd-endpoints-N)" },
		{ "get patch", "etcds.operator.openshift.io", at = "cluster", why = "the quorum gate and the redeployment" },
	},

	options = {
		{ name = "node", arg = "NODE", check = checks.node_name,
			help = "the node whose etcd pod is crash-looping (default: the only such node)" },
		{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
		{ name = "backup", arg = "DIR",
			help = "a backup already taken (the directory cluster-backup.sh or `etcd-medic run backup` wrote: a snapshot "
				.. "and a static_kuberesources tarball): both checked and used instead of taking one" },
		{ name = "snapshot-only", flag = true,
			help = "accept a bare snapshot as --backup (cluster-restore.sh cannot restore from it alone)" },
		{ name = "backup-dir", arg = "DIR",
			help = "where the backup (snapshot + static pod resources) is saved (default: STATE_DIR/backups)" },
		{ name = "aside-dir", arg = "DIR", default = "/var/lib/etcd-backup",
			help = "on the node: the manifest and data dir go to a new subdirectory of this (same file system)" },
		{ name = "manifest", arg = "PATH", default = "/etc/kubernetes/manifests/etcd-pod.yaml",
			help = "the etcd static pod manifest on the node" },
		{ name = "data-dir", arg = "PATH", default = "/var/lib/etcd", help = "the etcd data directory on the node" },
		{ name = "debug-image", arg = "IMAGE",
			help = "image of the debug pod that moves files on the node (default: the node backend's)" },
		{ name = "debug-namespace", arg = "NS", help = "namespace of the debug pod (default: --namespace)" },
		{ name = "local", flag = true,
			help = "run on the node itself: move files natively instead of through a debug pod" },
		{ name = "root", arg = "DIR", default = "/", help = "with --local: where the node's root file system is" },
		{ name = "quorum-override", arg = "MODE", default = "auto", choices = { "auto", "always", "never" },
			help = "open the operator's quorum gate for the redeployment: auto (4.8 and later), always, never" },
		{ name = "stop-timeout", arg = "SECONDS", number = true, default = 300,
			help = "how long to wait for etcd to stop on the node" },
		{ name = "wait-timeout", arg = "SECONDS", number = true, default = 3600, -- a repair rolls 2 or 3 revisions
			help = "how long to wait for the redeployment" },
		{ name = "settle", arg = "SECONDS", number = true, default = 10,
			help = "how long the node's new etcd must have run without a crash (counted from its start: the rest "
				.. "of the rollout goes on meanwhile) before the wait ends" },
		{ name = "poll-interval", arg = "SECONDS", number = true, default = 2,
			help = "how often to look while waiting" },
	},

	-- What the prerequisites find and the steps hand on.
	state = {
		node = "the node whose etcd pod is crash-looping",
		node_ip = "its InternalIP",
		backup_plan = "what the backup step saves: {dir=, stamp=, node=, revisions=, dirty=}",
		version = "the OpenShift version",
		gate = "true when the quorum gate is opened for the redeployment",
		target = "the member to remove: {id=, name=, peer_urls=}",
		member_removed = "true when the node's member was removed before this run (by hand)",
		healthy_endpoints = "the members' client URLs that answered health checks (the snapshot is taken from them)",
		etcd_nodes = "how many nodes run etcd (voting members wanted at the end)",
		new_member = "while waiting: {uid=, restarts=} of the node's etcd pod at the last look; since= when its etcd "
			.. "started running without a crash since",
	},

	-- What the journal keeps across runs: what cannot be read again once it has been changed.
	journal = {
		node = "the node this run repairs",
		backup = "the snapshot taken (or given with --backup)",
		backup_pair = "the backup taken: {dir=, stamp=, node=, revisions=, dirty=} (its tarball beside the snapshot)",
		aside = "the directory on the node that holds the moved manifest and data dir",
		member_id = "the removed member's ID",
		member_peer_urls = "the removed member's peer URLs",
		overrides_recorded = "true once previous_overrides is recorded",
		previous_overrides = "spec.unsupportedConfigOverrides before the gate was opened (null: absent)",
		secrets = "name -> uid of each secret deleted (a re-issued one has another uid and is left alone)",
		reason = "the forceRedeploymentReason set",
		revision_before = "latestAvailableRevision before the redeployment",
	},

	journal_key = checks.cluster_id,

	-- Where its files go, said with the cluster before the plan and in the summary.
	where = function(ctx)
		return { { "backups", ctx.opts.backup or ctx.opts.backup_dir or (ctx:state_dir() .. "/backups") } }
	end,
}

------------------------------------------------------------------------------------------------ before starting

P:prerequisites {
	{ "permissions", "the user may do every step (SelfSubjectAccessReview)", procedure.check_permissions },
	{ "version", "the OpenShift version, and whether the quorum gate is opened", checks.version },
	{ "node", "the node: named, or the only one crash-looping; a Ready control-plane node", checks.node },
	{ "etcd-pod", "an etcd pod on another node is Ready to work through", checks.ready_peer },
	{ "members", "exactly the node's member is unhealthy, every other member healthy", checks.members },
	{ "crash-loop", "no rollout in progress, and the node's etcd pod is crash-looping", checks.crash_loop },
	{ "backup", "an etcd backup has been taken, or will be in the next step", checks.backup },
}

------------------------------------------------------------------------------------------------ backup

-- The platform's backup, as cluster-backup.sh (and `etcd-medic run backup`) writes it: the snapshot and the static pod
-- resources of a healthy node, checked, in one directory that cluster-restore.sh restores from.
P:step { name = "backup", title = "Take an etcd backup the platform can restore (snapshot + static pod resources)",
	done = function(ctx)
		if ctx.opts.backup then return "given: " .. ctx.opts.backup end
		if ctx:finished("backup") then return ctx.journal.backup end
	end,
	actions = function(ctx)
		local b = ctx.journal.backup_pair or ctx.state.backup_plan
		local snapshot = b.dir .. "/" .. backup.names(b.stamp, b.dirty)
		local list = backup.actions { dir = b.dir, stamp = b.stamp, dirty = b.dirty, node = b.node,
			revisions = b.revisions, endpoints = ctx.state.healthy_endpoints, root = b.root,
			record = { node = ctx.state.node, backup = snapshot, backup_pair = b },
			fields = { node = b.node, taken = b.stamp, possibly_dirty = b.dirty,
				by = "etcd-medic run replace-crashlooping-member" } }
		return list
	end,
}

------------------------------------------------------------------------------------------------ 1. stop the pod

P:step { name = "stop-pod", title = "Stop the crash-looping etcd pod: move its manifest and data dir aside on the node",
	done = function(ctx)
		if ctx:finished("stop-pod") then
			return "moved to " .. tostring(ctx.journal.aside) .. " on " .. ctx.state.node
		end
		if ctx.journal.member_id then return "member already removed" end
	end,
	actions = function(ctx)
		local o, node = ctx.opts, ctx.state.node
		return {
			actions.move_aside { node = node, paths = { o.manifest, o.data_dir }, dir_key = "aside",
				into = string.format("%s/etcd-medic-%s", o.aside_dir, os.date("!%Y%m%dT%H%M%SZ")),
				record = { node = node } },
			actions.wait { what = "etcd to stop on " .. node, timeout = o.stop_timeout, interval = o.poll_interval,
				poll = progress.etcd_gone },
		}
	end,
}

------------------------------------------------------------------------------------------------ 2. remove the member

P:step { name = "remove-member", title = "Remove the unhealthy member",
	done = function(ctx)
		if ctx.state.member_removed then return "no member of " .. ctx.state.node .. " in the list (removed before)" end
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

------------------------------------------------------------------------------------------------ quorum gate

P:step { name = "open-quorum-gate",
	title = "Turn off the quorum guard (unsupportedConfigOverrides) for the redeployment",
	skip = function(ctx)
		if not ctx.state.gate then
			return string.format("no quorum gate (OpenShift %s, --quorum-override %s)", ctx.state.version,
				ctx.opts.quorum_override)
		end
	end,
	done = function(ctx)
		if progress.override_set(ctx) then return "the override is set" end
		if ctx.journal.member_id and progress.member_back(ctx) then return "not needed: the member is back" end
	end,
	actions = function(ctx)
		local previous = progress.overrides(ctx)
		if ctx.journal.overrides_recorded then previous = ctx.journal.previous_overrides end
		return { actions.merge_patch { path = ctx.facts.etcd_cr, object = "etcd/cluster",
			body = { spec = { unsupportedConfigOverrides = ctx.facts.quorum_override } },
			record = { previous_overrides = previous, overrides_recorded = true } } }
	end,
}

------------------------------------------------------------------------------------------------ 3. secrets

P:step { name = "delete-secrets", title = "Delete the removed member's peer, serving and metrics secrets",
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

------------------------------------------------------------------------------------------------ 4. redeploy

P:step { name = "force-redeploy", title = "Force a redeployment of etcd (a unique forceRedeploymentReason)",
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

------------------------------------------------------------------------------------------------ the gate's revision

-- The document turns the quorum guard back on right after the redeployment patch. The operator (4.8 to 4.17: its
-- TargetConfig, cert-signer and endpoints controllers; 4.18 on: its revision controller) needs it off until it has
-- issued the node's secrets again and made a revision that carries them; once that exists, the guard goes back on
-- at once, so that no further revision rolls out while the new member is still a learner (docs/operator-vs-docs.md).
P:step { name = "new-revision", title = "Wait for the revision the quorum gate was opened for (secrets issued again)",
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

------------------------------------------------------------------------------------------------ restore the gate

P:step { name = "restore-overrides",
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
		local previous = progress.overrides(ctx)
		if ctx.journal.overrides_recorded then previous = ctx.journal.previous_overrides end
		return { actions.set_field { path = ctx.facts.etcd_cr, object = "etcd/cluster",
			field = { "spec", "unsupportedConfigOverrides" }, value = previous, retry = 180,
			on_failure = "the quorum guard may still be OFF: unsupportedConfigOverrides could not be restored" } }
	end,
}

------------------------------------------------------------------------------------------------ wait

P:step { name = "wait", title = "Wait for the operator: new revision, member added and promoted, pods Ready",
	done = function(ctx)
		if ctx.journal.reason and ctx:finished("wait") and progress.converged(ctx) then
			return "the redeployment is complete"
		end
	end,
	actions = function(ctx)
		return { actions.wait { what = "a new revision, the new member of " .. ctx.state.node .. " added and promoted, "
			.. "every etcd pod Running and Ready, every node at the latest revision", timeout = ctx.opts.wait_timeout,
			interval = ctx.opts.poll_interval, settle = ctx.opts.settle, poll = progress.converged } }
	end,
}

------------------------------------------------------------------------------------------------ verification

P:verification {
	{ "settled", "the operator has finished, and the new etcd ran --settle seconds without a crash",
		progress.settled },
	{ "members", "every member healthy and voting, one per etcd node, no learner", checks.all_healthy },
}

return P:main(...)
