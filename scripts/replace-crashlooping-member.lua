-- etcd-medic-api: 2
-- Replace the unhealthy etcd member whose etcd pod is crash-looping (OpenShift 4), step by step, safely.
--
-- The OpenShift document "Replacing an unhealthy etcd member whose etcd pod is crashlooping", automated: its facts,
-- its prerequisites, then one step per step of the document, in its order. Each step declares its changes once, as
-- actions; the plan, --dry-run and the run all come from them (docs/procedures.md). Change it with a --site file
-- (facts, option defaults, hooks, a replaced step), or copy it out with `etcd-medic eject`.
local procedure = require "medic.procedure"
local actions = require "medic.actions"
local steps = require "medic.replace.steps"
local gopts = require "medic.options"
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
	permissions = { checks.PERMISSIONS },

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

-- The steps both member replacements take are medic.replace.steps (the backup, the member, the quorum gate, the
-- secrets, the redeployment, the waits and the verification); this script's own is stop-pod.
P:step(steps.backup("replace-crashlooping-member"))

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

P:step(steps.remove_member())

------------------------------------------------------------------------------------------------ quorum gate

P:step(steps.open_quorum_gate())

------------------------------------------------------------------------------------------------ 3. secrets

P:step(steps.delete_secrets())

------------------------------------------------------------------------------------------------ 4. redeploy

P:step(steps.force_redeploy())

------------------------------------------------------------------------------------------------ the gate's revision

P:step(steps.new_revision())

------------------------------------------------------------------------------------------------ restore the gate

P:step(steps.restore_overrides())

------------------------------------------------------------------------------------------------ wait

P:step(steps.wait())

------------------------------------------------------------------------------------------------ verification

P:verification { steps.settled, steps.members }

return P:main(...)
