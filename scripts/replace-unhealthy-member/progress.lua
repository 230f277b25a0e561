-- etcd-medic-api: 2
-- replace-unhealthy-member's own reads as the repair goes on: the old Machine and BareMetalHost gone, the new host
-- available, the new Machine running, the new node Ready. Each poll returns done, a progress line (actions.wait).
local openshift = require "medic.openshift"
local machines = require "medic.machines"

local progress = {}

------------------------------------------------------------------------------------------------ what is saved

local function names_taken(kc)
	local hosts, taken = kc:list(machines.host_collection()) or { items = {} }, {}
	for i, x in ipairs(hosts.items or {}) do taken[i] = x.metadata.name end
	return taken
end

-- What the save step keeps in the journal: the node, the variant, what was there before, the old Machine and host
-- (name, uid), and the new ones to create (machine-api, baremetal): cloned, stripped, renamed.
function progress.record(ctx)
	local m, h, o = ctx.state.machine, ctx.state.host, ctx.opts
	local rec = { node = ctx.state.node, node_ip = ctx.state.node_ip, etcd_nodes = ctx.state.etcd_nodes,
		variant = ctx.state.variant, machines_before = ctx.state.machines_before, nodes_before = ctx.state.nodes_before }
	if m then
		rec.old_machine = { name = m.metadata.name, namespace = m.metadata.namespace or machines.NAMESPACE,
			uid = m.metadata.uid, failure_domain = machines.failure_domain(m) }
	end
	if m and (rec.variant == "machine-api" or rec.variant == "baremetal") then
		rec.machine_clone = machines.clone(m, machines.next_name(m.metadata.name, rec.machines_before))
	end
	if h then
		local name = machines.next_name(h.metadata.name, names_taken(ctx.cluster:k8s()))
		rec.old_host = { name = h.metadata.name, namespace = h.metadata.namespace or machines.NAMESPACE,
			uid = h.metadata.uid }
		rec.host_clone = machines.clone_host(h, name, { bmc_address = o.bmc_address, boot_mac = o.boot_mac,
			boot_mode = o.boot_mode, credentials_name = name .. "-bmc-secret" })
	end
	return rec
end

-- The record the save step writes, made once per run (the plan and the steps after it read the same one).
function progress.planned(ctx)
	ctx.state.saved = ctx.state.saved or progress.record(ctx)
	return ctx.state.saved
end

-- A saved value: the journal's once the save step ran, else (planning) the record it will write.
function progress.saved(ctx, key)
	if ctx.journal.variant then return ctx.journal[key] end
	return progress.planned(ctx)[key]
end

------------------------------------------------------------------------------------------------ waits

local function gone(ctx, path, ref, what)
	local now, err, code = ctx.cluster:k8s():get(path)
	if not now then
		if code == "NotFound" then return true, what .. " gone" end
		return false, "cannot read " .. what .. ": " .. tostring(err)
	end
	if ref.uid and now.metadata.uid ~= ref.uid then return true, what .. " gone (another object has its name)" end
	local state = machines.deleting(now) and "being deleted" or "still there"
	local fin = now.metadata.finalizers or {}
	return false, string.format("%s %s%s", what, state, #fin > 0 and (" (finalizers: " .. table.concat(fin, ", ")
		.. ")") or "")
end

function progress.machine_gone(ctx)
	local m = progress.saved(ctx, "old_machine")
	return gone(ctx, machines.path(m.name, m.namespace), m, "Machine " .. m.name)
end

function progress.host_gone(ctx)
	local h = progress.saved(ctx, "old_host")
	return gone(ctx, machines.host_path(h.name, h.namespace), h, "BareMetalHost " .. h.name)
end

function progress.host_available(ctx)
	local name = progress.saved(ctx, "host_clone").metadata.name
	local h = ctx.cluster:k8s():get(machines.host_path(name))
	local state = h and machines.host_state(h) or "not there"
	local ok = state == "available" or state == "ready" or state == "provisioning" or state == "provisioned"
	return ok, "BareMetalHost " .. name .. ": " .. state
end

local function known(list, name)
	for _, n in ipairs(list or {}) do if n == name then return true end end
	return false
end

-- The replacement Machine: the one this run created, or (with a ControlPlaneMachineSet) a control-plane Machine
-- that was not there before the run and is not being deleted.
function progress.replacement_machine(ctx)
	local kc, j = ctx.cluster:k8s(), ctx.journal
	if j.machine_clone then return kc:get(machines.path(j.machine_clone.metadata.name)) end
	if j.new_machine then return kc:get(machines.path(j.new_machine)) end
	if not j.variant then return nil end -- planning: nothing is replaced yet
	for _, m in ipairs(machines.control_plane(kc) or {}) do
		if not known(j.machines_before, m.metadata.name) and not machines.deleting(m) then
			j.new_machine = m.metadata.name
			return m
		end
	end
end

-- The node a Machine came up as, or (UPI) a node that runs etcd and was not there before the run.
local function replacement_node(ctx)
	local kc = ctx.cluster:k8s()
	if ctx.state.variant ~= "upi" then
		local m = progress.replacement_machine(ctx)
		local name = machines.node_name(m)
		return name and kc:get("/api/v1/nodes/" .. name), m
	end
	for _, n in ipairs(openshift.etcd_nodes(kc)) do
		if not known(ctx.journal.nodes_before, n.metadata.name) then return n end
	end
end

-- The new node Ready: it becomes state.new_node (and the journal's), whose member the rest of the run waits for.
function progress.new_node(ctx)
	local node, m = replacement_node(ctx)
	if not node then
		local line = ctx.state.variant == "upi" and "waiting for the new control-plane node (bring the host up by "
			.. "the method used at installation, approve its CSRs: oc get csr; oc adm certificate approve NAME)"
			or m and string.format("Machine %s: %s, no node yet", m.metadata.name, machines.phase(m))
			or "no replacement Machine yet"
		return false, line
	end
	local ip = openshift.internal_ip(node)
	if not openshift.node_ready(node) or not ip then return false, "node " .. node.metadata.name .. " not Ready yet" end
	local new = { name = node.metadata.name, ip = ip }
	ctx.state.new_node, ctx.journal.new_node = new, new
	return true, "node " .. new.name .. " Ready, InternalIP " .. ip .. (m and (", Machine " .. m.metadata.name) or "")
end

-- With a ControlPlaneMachineSet: the replacement sits in the failure domain of the Machine it replaces.
function progress.same_failure_domain(ctx)
	if ctx.state.variant ~= "cpms" then return "no ControlPlaneMachineSet (" .. ctx.state.variant .. ")" end
	local m = progress.replacement_machine(ctx)
	if not m then ctx:stop("failed", "the replacement Machine is gone") end
	local old, new = ctx.journal.old_machine.failure_domain, machines.failure_domain(m)
	if old and new and old ~= new then
		ctx:stop("failed", string.format("the replacement Machine %s is in failure domain %s, the old one was in %s: "
			.. "look at the ControlPlaneMachineSet's failureDomains", m.metadata.name, new, old))
	end
	return "failure domain " .. tostring(new or "(none given)")
end

return progress
