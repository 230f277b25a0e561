-- etcd-medic-api: 2
-- Replace the unhealthy etcd member whose machine is not running or whose node is not ready (OpenShift 4).
--
-- The OpenShift documents "Replacing an unhealthy etcd member whose machine is not running or whose node is not
-- ready" and its bare-metal twin, automated: their facts, their prerequisites, then one step per step, in their
-- order. How the machine is replaced is what the cluster shows, said in the plan (the "variant" prerequisite):
--   cpms         an Active ControlPlaneMachineSet: the Machine is deleted and the set makes its replacement
--   machine-api  a Machine and no active set: the Machine is saved, stripped, deleted and created again, renamed
--   baremetal    its Machine names a BareMetalHost: the same, with the host deleted and created again (BMC secret)
--   upi          no Machine: the admin brings a new host up as at installation; the run waits for its node
-- The steps it shares with replace-crashlooping-member (backup, member, quorum guard, secrets, redeployment, waits,
-- verification) are medic.replace.steps. docs/procedures.md says more; docs/operator-vs-docs.md where the operator
-- (its Machine deletion hook, 4.11 and later) and the document differ.
local procedure = require "medic.procedure"
local actions = require "medic.actions"
local machines = require "medic.machines"
local steps = require "medic.replace.steps"
local gopts = require "medic.options"
local csr = require "medic.csr"
local checks = require "replace-unhealthy-member.checks"
local progress = require "replace-unhealthy-member.progress"

local MACHINES = "ns:" .. machines.NAMESPACE

local P = procedure.new {
	name = "replace-unhealthy-member",
	title = "Replace the unhealthy etcd member whose machine is not running or whose node is not ready",

	facts = {
		pod = "etcd-%s",
		secrets = { "etcd-peer-%s", "etcd-serving-%s", "etcd-serving-metrics-%s" },
		redeploy_reason = "recovery-%s", -- the document's: recovery-$(date --rfc-3339=ns)
		quorum_gate_since = "4.8",
		quorum_override = { useUnsupportedUnsafeNonHANonProductionUnstableEtcd = true },
		etcd_cr = "/apis/operator.openshift.io/v1/etcds/cluster",
	},

	-- What it may do in the cluster (medic.permissions): checked first, and `etcd-medic rbac` prints it as RBAC.
	permissions = {
		checks.PERMISSIONS,
		{ "delete", "nodes", at = "cluster", why = "the old Node" },
		{ "get list create delete", "machines.machine.openshift.io", at = MACHINES, why = "the old Machine and its copy" },
		{ "get", "controlplanemachinesets.machine.openshift.io", at = MACHINES, optional = true,
			why = "which variant (an Active set replaces the Machine itself)" },
		{ "get list create delete", "baremetalhosts.metal3.io", at = MACHINES, optional = true,
			why = "bare metal: the old host and the new one" },
		{ "get create", "secrets", at = MACHINES, optional = true, why = "bare metal: the new host's BMC secret" },
		checks.CSR_PERMISSIONS,
	},

	options = {
		{ name = "node", arg = "NODE", check = checks.node_name,
			help = "the control-plane node whose machine is not running or that is not ready" },
		{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
		{ name = "backup", arg = "DIR", help = "a backup already taken (the directory `etcd-medic run backup` wrote): "
			.. "checked and used instead of taking one" },
		{ name = "snapshot-only", flag = true, help = "accept a bare snapshot as --backup" },
		{ name = "backup-dir", arg = "DIR", help = "where the backup is saved (default: STATE_DIR/backups)" },
		{ name = "debug-image", arg = "IMAGE",
			help = "image of the debug pod that reads the static pod resources for the backup (default: the node backend's)" },
		{ name = "debug-namespace", arg = "NS", help = "namespace of the debug pod (default: --namespace)" },
		{ name = "local", flag = true, help = "run on a control-plane node: read its files natively" },
		{ name = "root", arg = "DIR", default = "/", help = "with --local: where the node's root file system is" },
		{ name = "quorum-override", arg = "MODE", default = "auto", choices = { "auto", "always", "never" },
			help = "open the operator's quorum gate for the redeployment: auto (4.8 and later), always, never" },
		{ name = "bmc-credentials", arg = "FILE", help = "bare metal: the new host's BMC username and password, a file "
			.. "of two lines username=... and password=... (default: those of the old host's BMC secret)" },
		{ name = "bmc-address", arg = "URL", help = "bare metal: the new host's BMC address (default: the old host's)" },
		{ name = "boot-mac", arg = "MAC", help = "bare metal: the new host's boot MAC address (default: the old host's)" },
		{ name = "boot-mode", arg = "MODE", choices = { "UEFI", "UEFISecureBoot", "legacy" },
			help = "bare metal: the new host's boot mode (default: the old host's)" },
		{ name = "approve-csrs", arg = "NODE", check = checks.node_name,
			help = "UPI: approve the certificate signing requests of the new host's node NODE as they come (its "
				.. "client CSR from the node-bootstrapper, then its serving CSR), each checked; no other CSR" },
		{ name = "remove-finalizers-after", arg = "SECONDS", number = true,
			help = "the bare-metal document's last resort: if the old Machine is still being deleted after SECONDS, "
				.. "remove its finalizers (its instance or host may be left as it is; default: never)" },
		{ name = "machine-timeout", arg = "SECONDS", number = true, default = 3600,
			help = "how long to wait for a Machine or host to go, to be provisioned, or for the new node" },
		{ name = "wait-timeout", arg = "SECONDS", number = true, default = 3600,
			help = "how long to wait for the redeployment" },
		{ name = "settle", arg = "SECONDS", number = true, default = 10,
			help = "how long the new etcd must have run without a crash before the wait ends" },
		{ name = "poll-interval", arg = "SECONDS", number = true, default = 2, help = "how often to look while waiting" },
	},

	state = {
		node = "the node whose machine is not running", node_ip = "its InternalIP", node_object = "its Node (nil: gone)",
		variant = "cpms, machine-api, baremetal or upi", machine = "the node's Machine", host = "its BareMetalHost",
		credentials = "the new host's BMC credentials (medic.machines.credentials: never printed, never kept)",
		machines_before = "the control-plane Machines' names before the run",
		nodes_before = "the names of the nodes that ran etcd before the run",
		new_node = "the replacement node once Ready: {name=, ip=}",
		backup_plan = "what the backup step saves", version = "the OpenShift version",
		gate = "true when the quorum gate is opened", target = "the member to remove: {id=, name=, peer_urls=}",
		member_removed = "true when the node's member was removed before this run",
		healthy_endpoints = "the members' client URLs that answered health checks",
		etcd_nodes = "how many nodes run etcd (voting members wanted at the end)",
		new_member = "while waiting: the new member's etcd pod {uid=, restarts=, since=}",
		saved = "until the save step has run: what it records (progress.record)",
	},

	journal = {
		node = "the node this run repairs", node_ip = "its InternalIP (the Node is deleted on the way)",
		etcd_nodes = "how many nodes ran etcd before the run", variant = "how the machine is replaced",
		machines_before = "the control-plane Machines' names before the run",
		nodes_before = "the nodes that ran etcd before the run",
		old_machine = "the node's Machine: {name=, namespace=, uid=, failure_domain=}",
		machine_clone = "the new Machine, saved and stripped from the old one before its deletion",
		new_machine = "the replacement Machine's name",
		old_host = "the node's BareMetalHost: {name=, namespace=, uid=}",
		host_clone = "the new BareMetalHost, saved from the old one (its BMC secret's name only)",
		new_node = "the replacement node: {name=, ip=}",
		approved_csrs = "the names of the CSRs approved (--approve-csrs)",
		backup = "the snapshot taken (or given with --backup)", backup_pair = "the backup taken",
		member_id = "the removed member's ID", member_peer_urls = "the removed member's peer URLs",
		overrides_recorded = "true once previous_overrides is recorded",
		previous_overrides = "spec.unsupportedConfigOverrides before the gate was opened (null: absent)",
		secrets = "name -> uid of each secret deleted", reason = "the forceRedeploymentReason set",
		revision_before = "latestAvailableRevision before the redeployment",
	},

	journal_key = checks.cluster_id,

	where = function(ctx)
		return { { "backups", ctx.opts.backup or ctx.opts.backup_dir or (ctx:state_dir() .. "/backups") } }
	end,
}

local function variant_is(...)
	local wanted = { ... }
	return function(ctx)
		for _, v in ipairs(wanted) do if ctx.state.variant == v then return nil end end
		return "not for this cluster (" .. tostring(ctx.state.variant) .. ")"
	end
end

------------------------------------------------------------------------------------------------ before starting

P:prerequisites {
	{ "permissions", "the user may do every step (SelfSubjectAccessReview)", procedure.check_permissions },
	{ "version", "the OpenShift version, and whether the quorum gate is opened", checks.version },
	{ "node", "the named control-plane node is NotReady (not a crash-looping pod on a working node)", checks.node },
	{ "others-up", "every other control-plane node is Ready", checks.others_up },
	{ "variant", "how the machine is replaced: cpms, machine-api, baremetal or upi", checks.variant },
	{ "etcd-pod", "an etcd pod on another node is Ready to work through", checks.ready_peer },
	{ "members", "exactly the node's member is unhealthy, every other member healthy", checks.members },
	{ "approve-csrs", "with --approve-csrs: UPI, and the user may approve the new node's CSRs", checks.approve_csrs },
	{ "baremetal", "bare metal: the baremetal operator Available; the host and its BMC credentials", checks.baremetal },
	{ "backup", "an etcd backup has been taken, or will be in the next step", checks.backup },
}

------------------------------------------------------------------------------------------------ backup

P:step(steps.backup("replace-unhealthy-member"))

------------------------------------------------------------------------------------------------ save the machine

-- The document saves the Machine to a file before deleting it; here the journal keeps it (and the host), so that a
-- run cut short after the deletion still knows what to create. Until this step has run, the plan reads the same
-- record from progress.saved (computed once).
P:step { name = "save", title = "Save the node's Machine (and host) as they will be created again, in the journal",
	done = function(ctx) if ctx.journal.variant then return "saved (" .. ctx.journal.variant .. ")" end end,
	actions = function(ctx)
		local rec = progress.planned(ctx)
		local what = "node " .. rec.node .. " (" .. rec.variant .. ")"
		if rec.machine_clone then what = what .. "; Machine " .. rec.machine_clone.metadata.name .. " to create" end
		if rec.host_clone then what = what .. "; BareMetalHost " .. rec.host_clone.metadata.name .. " to create" end
		return { actions.keep { what = what, record = rec } }
	end,
}

------------------------------------------------------------------------------------------------ 1. remove the member

P:step(steps.remove_member())

------------------------------------------------------------------------------------------------ 2. quorum guard off

P:step(steps.open_quorum_gate())

------------------------------------------------------------------------------------------------ 3. delete the node

P:step { name = "delete-node", title = "Delete the node",
	done = function(ctx)
		local n = ctx.cluster:k8s():get("/api/v1/nodes/" .. ctx.state.node)
		if not n or machines.deleting(n) then return "no node " .. ctx.state.node end
	end,
	actions = function(ctx)
		local n = ctx.state.node_object or ctx.cluster:k8s():get("/api/v1/nodes/" .. ctx.state.node)
		return { actions.object_delete { path = "/api/v1/nodes/" .. ctx.state.node, object = "node/" .. ctx.state.node,
			uid = n and n.metadata.uid } }
	end,
}

------------------------------------------------------------------------------------------------ 4. secrets

P:step(steps.delete_secrets())

------------------------------------------------------------------------------------------------ 5. the machine

local function wait(ctx, what, poll)
	return actions.wait { what = what, timeout = ctx.opts.machine_timeout, interval = ctx.opts.poll_interval,
		poll = poll }
end

-- The BMC secret of the new host, from the old host's credentials (or --bmc-credentials), made before the old host
-- (which owns its secret) is deleted.
P:step { name = "bmc-secret", title = "Bare metal: create the new host's BMC secret",
	skip = variant_is("baremetal"),
	done = function(ctx)
		local name = progress.saved(ctx, "host_clone").spec.bmc.credentialsName
		if ctx.cluster:k8s():get(machines.secret_path(name)) then return "secret " .. name .. " exists" end
	end,
	actions = function(ctx)
		if not ctx.state.credentials then
			ctx:stop("failed", "the BMC credentials are needed again: pass --bmc-credentials FILE")
		end
		return { actions.bmc_secret_create { namespace = machines.NAMESPACE, credentials = ctx.state.credentials,
			name = progress.saved(ctx, "host_clone").spec.bmc.credentialsName } }
	end,
}

P:step { name = "delete-machine", title = "Delete the node's Machine, and wait until it is gone",
	skip = variant_is("cpms", "machine-api", "baremetal"),
	done = function(ctx)
		local gone, line = progress.machine_gone(ctx)
		if gone then return line end
	end,
	actions = function(ctx)
		local m = progress.saved(ctx, "old_machine")
		local path, object = machines.path(m.name, m.namespace), "machine/" .. m.name .. " -n " .. m.namespace
		local list = { actions.object_delete { path = path, object = object, uid = m.uid } }
		if ctx.opts.remove_finalizers_after then
			list[#list + 1] = actions.unblock { path = path, object = object, interval = ctx.opts.poll_interval,
				after = ctx.opts.remove_finalizers_after }
		end
		list[#list + 1] = wait(ctx, "Machine " .. m.name .. " to be gone (drained and deprovisioned; do not "
			.. "interrupt)", progress.machine_gone)
		return list
	end,
}

P:step { name = "delete-host", title = "Bare metal: delete the node's BareMetalHost, and wait until it is gone",
	skip = variant_is("baremetal"),
	done = function(ctx)
		local gone, line = progress.host_gone(ctx)
		if gone then return line end
	end,
	actions = function(ctx)
		local h = progress.saved(ctx, "old_host")
		return {
			actions.object_delete { path = machines.host_path(h.name, h.namespace), uid = h.uid,
				object = "baremetalhost/" .. h.name .. " -n " .. h.namespace },
			wait(ctx, "BareMetalHost " .. h.name .. " to be gone (deprovisioned)", progress.host_gone),
		}
	end,
}

local function named(name) return function(obj) return obj.metadata.name == name end end

P:step { name = "create-host", title = "Bare metal: create the new BareMetalHost, and wait until it is available",
	skip = variant_is("baremetal"),
	done = function(ctx)
		local ok, line = progress.host_available(ctx)
		if ok then return line end
	end,
	actions = function(ctx)
		local h = progress.saved(ctx, "host_clone")
		return {
			actions.object_create { path = machines.host_collection(), body = h, ours = named(h.metadata.name),
				object = "baremetalhost/" .. h.metadata.name },
			wait(ctx, "BareMetalHost " .. h.metadata.name .. " to be available (registered, inspected)",
				progress.host_available),
		}
	end,
}

P:step { name = "create-machine", title = "Create the new Machine (the saved one, renamed, stripped)",
	skip = variant_is("machine-api", "baremetal"),
	done = function(ctx)
		local name = progress.saved(ctx, "machine_clone").metadata.name
		if ctx.cluster:k8s():get(machines.path(name)) then return "Machine " .. name .. " exists" end
	end,
	actions = function(ctx)
		local m = progress.saved(ctx, "machine_clone")
		return { actions.object_create { path = machines.collection(), body = m, ours = named(m.metadata.name),
			object = "machine/" .. m.metadata.name } }
	end,
}

------------------------------------------------------------------------------------------------ 6. the new node

-- UPI with --approve-csrs: what the documentation has the admin do (oc get csr; oc adm certificate approve), for the
-- new host's node only.
P:step { name = "approve-csrs", title = "UPI: approve the new host's certificate signing requests (--approve-csrs)",
	skip = function(ctx)
		if not ctx.opts.approve_csrs then return "no --approve-csrs" end
		return variant_is("upi")(ctx)
	end,
	done = function(ctx)
		if ctx.journal.new_node then return "node " .. ctx.journal.new_node.name .. " is Ready" end
		local seen = csr.of_node(ctx.cluster:k8s(), ctx.opts.approve_csrs)
		if seen and seen.approved.client and seen.approved.serving then
			return "the client and serving CSRs of " .. ctx.opts.approve_csrs .. " are approved"
		end
	end,
	actions = function(ctx)
		return { actions.csr_approve { node = ctx.opts.approve_csrs, timeout = ctx.opts.machine_timeout,
			interval = ctx.opts.poll_interval } }
	end,
}

P:step { name = "new-node", title = "Wait for the new control-plane node to be Ready",
	done = function(ctx)
		if ctx.journal.new_node then
			local ok, line = progress.new_node(ctx)
			if ok then return line end
		end
	end,
	actions = function(ctx)
		local what = ctx.state.variant == "upi" and "the new control-plane node the admin brings up"
			or "the replacement Machine to run and its node to be Ready"
		return { wait(ctx, what, progress.new_node) }
	end,
}

------------------------------------------------------------------------------------------------ 7. redeploy, guard on

P:step(steps.force_redeploy())
P:step(steps.new_revision())
P:step(steps.restore_overrides())

------------------------------------------------------------------------------------------------ 8. wait, verify

P:step(steps.wait())

P:verification { steps.settled,
	{ "failure-domain", "with a ControlPlaneMachineSet: the replacement is in the old Machine's failure domain",
		progress.same_failure_domain },
	{ "members", "one healthy voting member per etcd node, none too many, no learner", checks.one_per_node } }

return P:main(...)
