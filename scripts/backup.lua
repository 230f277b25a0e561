-- etcd-medic-api: 2
-- Take the backup OpenShift restores: an etcd snapshot and the static pod resources, as cluster-backup.sh does.
--
-- What `cluster-backup.sh DIR` does on a control-plane node (the cluster-etcd-operator's bindata/etcd), done from
-- here through the API: refuse while kube-apiserver, kube-controller-manager, kube-scheduler or etcd is Progressing
-- (--force: take it anyway, marked __POSSIBLY_DIRTY__); save snapshot_<%F_%H%M%S>.db from a healthy member and
-- static_kuberesources_<same>.tar.gz, the static pod resources of the four components' current revisions on the
-- node, into one directory; check both, and write their sizes and SHA-256 beside them. cluster-restore.sh restores
-- from such a directory. Change it with a --site file, or copy it out with `etcd-medic eject backup`.
local procedure = require "medic.procedure"
local actions = require "medic.actions"
local backup = require "medic.backup"
local gopts = require "medic.options"
local node = require "medic.node"
local perms = require "medic.permissions"
local checks = require "backup.checks"
local drill = require "backup.drill"

local P = procedure.new {
	name = "backup",
	title = "Take an etcd backup OpenShift can restore (snapshot + static pod resources)",

	-- cluster-backup.sh's facts (medic.backup has the names and the components). A site file changes them.
	facts = {
		node_dir = backup.NODE_DIR, -- where the documentation keeps backups on a node
		restore = "sudo -E /usr/local/bin/cluster-restore.sh %s", -- run on the recovery node, with the pair in %s
	},

	-- What it may do in the cluster (medic.permissions): checked first, and `etcd-medic rbac` prints it as RBAC.
	permissions = {
		perms.LEASE, perms.JOURNAL, perms.CLUSTER_ID, perms.NETWORK, perms.ETCDCTL, perms.DEBUG_POD, perms.BACKUP,
	},
	-- As a Job (etcd-medic manifests backup): on a control-plane node, whose static pod resources it saves and where
	-- it leaves the pair (the pod's own copy goes with the pod).
	job = { yes = true, control_plane = true, args = { "--node", "$(NODE_NAME)", "--on-node" } },

	options = {
		{ name = "dir", arg = "DIR", help = "where the backup is saved on this machine (default: STATE_DIR/backups)" },
		{ name = "force", flag = true,
			help = "take it although a ClusterOperator is Progressing; the files are marked __POSSIBLY_DIRTY__" },
		{ name = "node", arg = "NODE", check = checks.node_name,
			help = "the control-plane node whose static pod resources are saved (default: one with a Ready etcd pod)" },
		{ name = "keep", arg = "N", number = true, default = 0, check = checks.keep,
			help = "keep the newest N backups in --dir, removing older ones once this one is checked (0: keep all)" },
		{ name = "on-node", flag = true, help = "also leave the pair on the node, in --node-dir" },
		{ name = "node-dir", arg = "DIR", help = "with --on-node: the directory on the node (default "
			.. backup.NODE_DIR .. ")" },
		{ name = "verify-restore", flag = true, help = "restore the snapshot into a throwaway etcd on this machine, "
			.. "compare revision and keys, and read each pod manifest back from the tarball" },
		{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
		{ name = "local", flag = true, help = "run on the node itself: read its files natively (needs --node)" },
		{ name = "root", arg = "DIR", default = "/", help = "with --local: where the node's root file system is" },
		{ name = "debug-image", arg = "IMAGE", help = "image of the debug pod (default: the node backend's)" },
		{ name = "debug-namespace", arg = "NS", help = "namespace of the debug pod (default: --namespace)" },
	},

	state = {
		node = "the node whose static pod resources are saved",
		node_ip = "its InternalIP",
		revisions = "component -> the revision its static pod on the node runs",
		endpoints = "the healthy members' client URLs, the node's own first",
		dirty = "true when a ClusterOperator was Progressing and --force took the backup anyway",
		stamp = "the backup's time, %F_%H%M%S (UTC)",
		dir = "the backup directory on this machine",
	},

	journal = {
		stamp = "the backup's time: its files' names",
		dir = "the backup directory",
		node = "the node",
		revisions = "the revisions saved",
		dirty = "true when the files are marked __POSSIBLY_DIRTY__",
	},

	journal_key = checks.cluster_id,

	where = function(ctx)
		return { { "backups", ctx.journal.dir or ctx.opts.dir or (ctx:state_dir() .. "/backups") } }
	end,
}

------------------------------------------------------------------------------------------------ before starting

-- A new stamp, never one a backup in the directory has (two runs within a second: the second waits for the next).
local function fresh_stamp(ctx, dir)
	for _ = 1, 3 do
		local stamp, taken = backup.stamp(), false
		for _, b in ipairs(backup.backups(dir)) do taken = taken or b.stamp:sub(1, #stamp) == stamp end
		if not taken then return stamp end
		ctx:sleep(1)
	end
	ctx:stop("failed", "no free name for a backup in " .. dir)
end

local function names(ctx)
	ctx.state.dir = ctx.journal.dir or ctx.opts.dir or (ctx:state_dir() .. "/backups")
	ctx.state.stamp = ctx.journal.stamp or fresh_stamp(ctx, ctx.state.dir)
	local snapshot, tarball = backup.names(ctx.state.stamp, ctx.state.dirty)
	return ctx.state.dir .. "/{" .. snapshot .. "," .. tarball .. "}"
end

P:prerequisites {
	{ "permissions", "the user may do every step (SelfSubjectAccessReview)", procedure.check_permissions },
	{ "progressing", "no ClusterOperator of the four is Progressing (cluster-backup.sh's check)", checks.progressing },
	{ "node", "the control-plane node whose static pod resources are saved", checks.node },
	{ "revisions", "the current revision of each static pod on the node (from its pod)", checks.revisions },
	{ "members", "a healthy member to take the snapshot from", checks.members },
	{ "names", "the backup's files", names },
}

------------------------------------------------------------------------------------------------ the pair

local function pair(ctx)
	local s = ctx.state
	return backup.actions { dir = s.dir, stamp = s.stamp, dirty = s.dirty, node = s.node, revisions = s.revisions,
		endpoints = s.endpoints, root = ctx.opts["local"] and ctx.opts.root or nil,
		record = { stamp = s.stamp, dir = s.dir, node = s.node, revisions = s.revisions, dirty = s.dirty },
		fields = { node = s.node, taken = s.stamp, possibly_dirty = s.dirty, by = "etcd-medic run backup" } }
end

local function finished(name, note)
	return function(ctx) if ctx:finished(name) then return note end end
end

P:step { name = "snapshot", title = "Save an etcd snapshot from a healthy member (streamed, SHA-256 checked)",
	done = finished("snapshot", "taken"),
	actions = function(ctx)
		local list = pair(ctx)
		list[1].on_failure = "failed"
		return { list[1] }
	end,
}

P:step { name = "static-resources",
	title = "Save the static pod resources of the current revisions (tar czf on the node, streamed here)",
	done = finished("static-resources", "saved"),
	actions = function(ctx) return { pair(ctx)[2] } end,
}

P:step { name = "check", title = "Check both files, write their manifest, and put them in place",
	done = finished("check", "checked and in place"),
	actions = function(ctx) return { pair(ctx)[3] } end,
}

P:step { name = "copy-to-node", title = "Also leave the pair on the node (--on-node)",
	skip = function(ctx) if not ctx.opts.on_node and not ctx.opts.node_dir then return "not asked (--on-node)" end end,
	done = finished("copy-to-node", "copied"),
	actions = function(ctx)
		local _, snapshot, tarball = pair(ctx)
		return { actions.copy_to_node { node = ctx.state.node, files = { snapshot, tarball },
			dir = ctx.opts.node_dir or ctx.facts.node_dir, root = ctx.opts["local"] and ctx.opts.root or nil } }
	end,
}

P:step { name = "keep", title = "Keep the newest --keep backups, removing older ones",
	skip = function(ctx) if ctx.opts.keep == 0 then return "all kept (--keep 0)" end end,
	actions = function(ctx)
		local current = ctx.state.stamp .. (ctx.state.dirty and backup.DIRTY or "")
		return { actions.prune { dir = ctx.state.dir, keep = ctx.opts.keep, current = current } }
	end,
}

P:step { name = "restore-drill", title = "Restore the snapshot into a throwaway etcd here, and read the tarball back",
	skip = function(ctx) if not ctx.opts.verify_restore then return "not asked (--verify-restore)" end end,
	done = finished("restore-drill", "done"),
	actions = function(ctx)
		local _, snapshot, tarball = pair(ctx)
		local manifest = select(3, backup.names(ctx.state.stamp, ctx.state.dirty))
		return { drill.new { snapshot = snapshot, tarball = tarball, revisions = ctx.state.revisions,
			manifest = ctx.state.dir .. "/" .. manifest } }
	end,
}

------------------------------------------------------------------------------------------------ verification

-- Both files there, 0600, checked; where they are, their sizes, the etcd revision, and how to restore from them.
local function in_place(ctx)
	local _, snapshot, tarball = pair(ctx)
	local info, err = backup.check_pair(snapshot, tarball, ctx.state.revisions)
	if not info then ctx:stop("failed", err) end
	local h <close> = node.open_local { root = "/" }
	for _, f in ipairs { info.snapshot, info.tarball } do
		local st = h:stat(f.path)
		if not st or st.mode & 0x3F ~= 0 then ctx:stop("failed", f.path .. " is readable by others") end
		ctx:say("%s  %d bytes  sha256 %s", f.path, f.size, f.sha256)
	end
	ctx:say("etcd revision %s; static pod resources: %s", tostring(info.snapshot.revision), table.concat(
		backup.paths(ctx.state.revisions), " "))
	ctx:say("To restore: copy both files to a directory on the recovery control-plane node (%s, say) and run there:",
		ctx.facts.node_dir)
	ctx:say("  " .. ctx.facts.restore, ctx.facts.node_dir)
	return "the pair is whole and in " .. ctx.state.dir
end

P:verification {
	{ "backup", "both files in place, 0600, whole; how to restore from them", in_place },
}

return P:main(...)
