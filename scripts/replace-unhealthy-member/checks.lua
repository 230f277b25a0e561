-- etcd-medic-api: 2
-- replace-unhealthy-member's own checks: the node (named, really NotReady, not a crash-looping pod on a working node),
-- the other control-plane nodes up, the variant the cluster shows (a ControlPlaneMachineSet, the Machine API without
-- one, bare metal, or no Machine at all: UPI), the bare-metal prerequisites, and the verification's "one member per
-- node". The checks it shares with replace-crashlooping-member are medic.replace.checks, handed on by this table.
local openshift = require "medic.openshift"
local machines = require "medic.machines"
local shared = require "medic.replace.checks"
local csr = require "medic.csr"
local perms = require "medic.permissions"

local checks = setmetatable({}, { __index = shared })

-- UPI with --approve-csrs: what `oc adm certificate approve` needs (RBAC, and the CertificateApproval admission's
-- `approve` on each signer). Optional in the declaration: asked only when --approve-csrs is given.
checks.CSR_PERMISSIONS = {
	{ "get list", "certificatesigningrequests.certificates.k8s.io", at = "cluster", optional = true,
		why = "UPI with --approve-csrs: the new node's CSRs" },
	{ "update", "certificatesigningrequests.certificates.k8s.io/approval", at = "cluster", optional = true,
		why = "UPI with --approve-csrs: approve them" },
	{ "approve", "signers.certificates.k8s.io", at = "cluster", optional = true,
		names = { csr.CLIENT_SIGNER, csr.SERVING_SIGNER },
		why = "UPI with --approve-csrs: their signers (the CertificateApproval admission)" },
}

function checks.node_name(v) return require("medic.node").valid_node_name(v) end

------------------------------------------------------------------------------------------------ the node

local function crash_looping_pod(ctx, name)
	for _, p in ipairs(openshift.etcd_pods(ctx.cluster:k8s(), ctx.opts.namespace)) do
		if p.spec.nodeName == name and openshift.crashlooping(p) then return p end
	end
end

-- A Ready node: not this procedure's. A crash-looping etcd pod there is the crash-loop procedure's (exit 3, named).
local function refuse_ready(ctx, name)
	if crash_looping_pod(ctx, name) then
		ctx:stop("refused", "node " .. name .. " is Ready and its etcd pod is crash-looping: this procedure replaces "
			.. "the machine of a node that is down. Run: etcd-medic run replace-crashlooping-member --node " .. name)
	end
	ctx:stop("refused", "node " .. name .. " is Ready: this procedure is for a machine that is not running or a node "
		.. "that is not ready (see etcd-medic run etcd-status)")
end

-- The node named (or the journal's, resuming): a control-plane node that is NotReady. Resuming after the node was
-- deleted, the journal knows its name and address.
function checks.node(ctx)
	local o, j = ctx.opts, ctx.journal
	local name = o.node or (ctx.resuming and j.node)
	if ctx.resuming and j.node and o.node and o.node ~= j.node then
		ctx:stop("refused", string.format("an unfinished run for node %s is recorded in %s; finish it first (run again "
			.. "with --node %s), or move that journal away if it is stale", j.node, ctx.record.path, j.node))
	end
	if not name then ctx:stop("refused", "name the node whose machine is not running: --node NODE") end
	local kc = ctx.cluster:k8s()
	local node, err, code = kc:get("/api/v1/nodes/" .. name)
	if not node and code ~= "NotFound" then ctx:stop("failed", "cannot read node " .. name .. ": " .. tostring(err)) end
	if not node and not (ctx.resuming and j.node_ip) then
		ctx:stop("refused", "there is no node " .. name .. " (see: oc get nodes)")
	end
	if node and not openshift.runs_etcd(node) then
		ctx:stop("refused", "node " .. name .. " runs no etcd member (neither a control-plane nor an arbiter node)")
	end
	if node and openshift.node_ready(node) and not ctx.resuming then refuse_ready(ctx, name) end
	local ip = node and openshift.preferred_internal_ip(node, kc:get(openshift.NETWORK)) or j.node_ip
	if not ip then ctx:stop("refused", "node " .. name .. " has no InternalIP address") end
	ctx.state.node, ctx.state.node_ip, ctx.state.node_object, ctx.cluster.avoid = name, ip, node, name
	ctx.state.etcd_nodes = j.etcd_nodes or #openshift.etcd_nodes(kc)
	if j.new_node then ctx.state.new_node = j.new_node end
	return string.format("%s, InternalIP %s, %s", name, ip, node and "NotReady" or "deleted already (journal)")
end

-- Every other node that runs etcd is Ready: one machine down is this procedure; two is a lost quorum's (or very near).
-- Resuming, a node that came after the run started (the replacement, booting) is not one of the others.
function checks.others_up(ctx)
	local down, before = {}, nil
	if ctx.journal.nodes_before then
		before = {}
		for _, n in ipairs(ctx.journal.nodes_before) do before[n] = true end
	end
	for _, n in ipairs(openshift.etcd_nodes(ctx.cluster:k8s())) do
		local name = n.metadata.name
		local other = name ~= ctx.state.node and (not before or before[name])
		if other and not openshift.node_ready(n) then down[#down + 1] = name end
	end
	if #down > 0 then
		ctx:stop("refused", string.format("%s is down too (NotReady) besides %s: replacing one machine cannot make the "
			.. "cluster safe; bring it back first, or see the etcd disaster recovery (quorum restore) documentation",
			table.concat(down, ", "), ctx.state.node))
	end
	return "every other control-plane node is Ready"
end

------------------------------------------------------------------------------------------------ the variant

local function names_of(list)
	local out = {}
	for i, m in ipairs(list or {}) do out[i] = m.metadata.name end
	return out
end

-- What the cluster shows decides how the node is replaced: its Machine names a BareMetalHost (bare metal), an
-- Active ControlPlaneMachineSet replaces a deleted Machine itself (cpms), a Machine and no active set (machine-api),
-- no Machine API or no Machine for the node (upi: the admin brings the host).
local function variant_of(ctx)
	local kc = ctx.cluster:k8s()
	local list, _, code = machines.control_plane(kc)
	if not list then return "upi", "no Machine API (" .. tostring(code) .. ")" end
	local m = ctx.journal.old_machine and { metadata = ctx.journal.old_machine }
		or machines.of_node(kc, ctx.state.node, ctx.state.node_object)
	if not m then return "upi", "no Machine of node " .. ctx.state.node end
	ctx.state.machine = m
	if ctx.journal.old_host or (m.metadata.annotations or {})[machines.HOST_ANNOTATION] then
		return "baremetal", "Machine " .. m.metadata.name .. ", BareMetalHost "
			.. tostring(ctx.journal.old_host and ctx.journal.old_host.name
				or m.metadata.annotations[machines.HOST_ANNOTATION])
	end
	if machines.cpms_active(machines.cpms(kc)) then
		return "cpms", "Machine " .. m.metadata.name .. ", an Active ControlPlaneMachineSet replaces it"
	end
	return "machine-api", "Machine " .. m.metadata.name .. ", no active ControlPlaneMachineSet: it is re-created"
end

function checks.variant(ctx)
	local variant, why = variant_of(ctx)
	if ctx.journal.variant and ctx.journal.variant ~= variant then
		variant, why = ctx.journal.variant, why .. "; kept from the run this one resumes"
	end
	ctx.state.variant = variant
	local kc = ctx.cluster:k8s()
	ctx.state.machines_before = ctx.journal.machines_before or names_of(machines.control_plane(kc) or {})
	ctx.state.nodes_before = ctx.journal.nodes_before or names_of(openshift.etcd_nodes(kc))
	local m = ctx.state.machine
	if m and m.status and not ctx.journal.old_machine then
		why = why .. string.format(" (phase %s)", machines.phase(m))
	end
	return variant .. ": " .. why
end

------------------------------------------------------------------------------------------------ --approve-csrs

-- Only where the admin approves the new host's CSRs (UPI: on IPI the machine-approver does), and only when this user
-- may: the optional rules of CSR_PERMISSIONS asked as required ones.
function checks.approve_csrs(ctx)
	local node = ctx.opts.approve_csrs
	if not node then return "not asked (--approve-csrs NODE approves the new host's CSRs on UPI)" end
	if ctx.state.variant ~= "upi" then
		ctx:stop("refused", "--approve-csrs is for UPI (no Machine for the node); on " .. ctx.state.variant
			.. " the machine-approver approves the new node's CSRs")
	end
	for _, n in ipairs(ctx.state.nodes_before or {}) do
		if n == node then
			ctx:stop("refused", "--approve-csrs " .. node .. ": node " .. node .. " ran etcd before this run; name the "
				.. "new host's node")
		end
	end
	local rules = {}
	for i, r in ipairs(checks.CSR_PERMISSIONS) do
		rules[i] = { r[1], r[2], at = r.at, names = r.names, why = r.why }
	end
	ctx:need_permissions(perms.queries(rules, {}))
	return "the CSRs of node " .. node .. " are approved as they come (client, then serving), none other"
end

------------------------------------------------------------------------------------------------ bare metal

-- The new host's BMC credentials: --bmc-credentials FILE, else the old host's secret (read while it is there).
local function credentials(ctx, host)
	if ctx.opts.bmc_credentials then
		local c, why = machines.credentials_file(ctx.opts.bmc_credentials)
		if not c then ctx:stop("refused", why) end
		return c
	end
	local name = host and ((host.spec or {}).bmc or {}).credentialsName
	local secret = name and ctx.cluster:k8s():get(machines.secret_path(name))
	local c = secret and machines.credentials_of(secret)
	if not c then
		ctx:stop("refused", "the BMC credentials of the old host cannot be read (secret " .. tostring(name) .. "): "
			.. "pass them with --bmc-credentials FILE (lines username=... and password=...)")
	end
	return c
end

-- The baremetal ClusterOperator Available and not Degraded (the document checks it before deleting the Machine);
-- the old host read, and where the new host's BMC credentials come from.
function checks.baremetal(ctx)
	if ctx.state.variant ~= "baremetal" then return "not bare metal" end
	local kc = ctx.cluster:k8s()
	local co = kc:get("/apis/config.openshift.io/v1/clusteroperators/baremetal")
	if not ctx.resuming then
		local function is(t) return (openshift.condition(co, t) or {}).status == "True" end
		if not co or not is("Available") or is("Degraded") then
			ctx:stop("refused", "the baremetal ClusterOperator is not Available (or is Degraded): the provisioner "
				.. "cannot provision a new host; see: oc get clusteroperator baremetal")
		end
	end
	local j = ctx.journal
	local secret_name = j.host_clone and j.host_clone.spec.bmc.credentialsName
	if secret_name and kc:get(machines.secret_path(secret_name)) then
		return "the new host " .. j.host_clone.metadata.name .. " is saved in the journal, its BMC secret made"
	end
	local host, err
	if j.old_host then host, err = kc:get(machines.host_path(j.old_host.name, j.old_host.namespace))
	else host, err = machines.host_of(kc, ctx.state.machine) end
	if not j.old_host and not host then ctx:stop("refused", "cannot read the node's BareMetalHost: " .. tostring(err)) end
	ctx.state.host = not j.old_host and host or nil
	ctx.state.credentials = credentials(ctx, host)
	return "host " .. (host and host.metadata.name or j.old_host.name) .. " (" .. machines.host_state(host)
		.. "); BMC credentials from " .. (ctx.opts.bmc_credentials or ("secret " .. host.spec.bmc.credentialsName))
end

------------------------------------------------------------------------------------------------ verification

local function node_ips(kc)
	local ips = {}
	for _, n in ipairs(openshift.etcd_nodes(kc)) do
		local ip = openshift.internal_ip(n)
		if ip then ips[ip] = n.metadata.name end
	end
	return ips
end

-- Exactly one voting member per node that runs etcd. A member too many is not removed: which one is wrong cannot
-- be told from here (a late join, an operator's replacement, a member added by hand); it is named and the run stops.
function checks.one_per_node(ctx)
	local members = ctx.cluster:read_members()
	if not members then ctx:stop("failed", "cannot read the member list") end
	local ips, extra = node_ips(ctx.cluster:k8s()), {}
	for _, m in ipairs(members) do
		local on = false
		for ip in pairs(ips) do on = on or openshift.has_peer_ip(m, ip) end
		if not on then extra[#extra + 1] = (m.name ~= "" and m.name or "(unstarted)") .. " " .. m.id
			.. " (" .. table.concat(m.peer_urls or {}, ",") .. ")" end
	end
	if #extra > 0 then
		ctx:stop("refused", "a member too many: " .. table.concat(extra, "; ") .. " runs on no node that runs etcd. "
			.. "It was not removed (this tool does not guess which member is wrong): look at it, remove it by hand "
			.. "if it is stale (etcdctl member remove ID), then run again")
	end
	return shared.all_healthy(ctx)
end

return checks
