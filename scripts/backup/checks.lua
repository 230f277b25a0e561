-- etcd-medic-api: 2
-- backup's prerequisites, in the script's order: cluster-backup.sh's Progressing check, the node
-- whose static pod resources are saved, their revisions (from the pods), and the members the snapshot comes from.
-- Each puts what it finds in ctx.state, returns a note, and stops the run (ctx:stop) when a backup is not safe.
local backup = require "medic.backup"
local openshift = require "medic.openshift"

local checks = {}

function checks.node_name(v) return require("medic.node").valid_node_name(v) end
function checks.cluster_id(ctx) return ctx.cluster:id() end
function checks.keep(v)
	return math.type(v) == "integer" and v >= 1 or v == 0, "--keep needs a whole number (0: keep all)"
end

------------------------------------------------------------------------------------------------ Progressing

-- cluster-backup.sh: "A reliable backup requires that a rollout is not in progress"; --force takes it anyway and
-- marks both files __POSSIBLY_DIRTY__. A resumed run keeps the marking it started with.
function checks.progressing(ctx)
	local bad = backup.progressing(ctx.cluster:k8s())
	local said = {}
	for _, b in ipairs(bad) do said[#said + 1] = b.name .. (b.status == "not found" and " (not found)" or
		(" Progressing=" .. b.status)) end
	ctx.state.dirty = ctx.journal.dirty or (#bad > 0 and ctx.opts.force) or false
	if #bad == 0 then return "kube-apiserver, kube-controller-manager, kube-scheduler and etcd: none Progressing" end
	if not ctx.opts.force then
		ctx:stop("refused", "a rollout is in progress (" .. table.concat(said, ", ") .. "): a reliable backup needs "
			.. "none, as cluster-backup.sh says. Wait for it to finish, or pass --force to take one marked "
			.. backup.DIRTY)
	end
	return table.concat(said, ", ") .. ": taken anyway (--force), the files are marked " .. backup.DIRTY
end

------------------------------------------------------------------------------------------------ the node

-- The first node with a Ready etcd pod that runs all four static pods (an arbiter runs etcd alone).
local function ready_etcd_node(ctx)
	local kc = ctx.cluster:k8s()
	for _, p in ipairs(openshift.etcd_pods(kc, ctx.opts.namespace)) do
		if openshift.pod_ready(p) and backup.revisions(kc, p.spec.nodeName) then return p.spec.nodeName end
	end
end

function checks.node(ctx)
	local name = ctx.journal.node or ctx.opts.node
	if not name and ctx.opts["local"] then
		ctx:stop("refused", "--local reads this machine's files: name the node they belong to with --node NODE")
	end
	name = name or ready_etcd_node(ctx)
	if not name then
		ctx:stop("refused", "no control-plane node with a Ready etcd pod and its static pods: nothing to take a backup from")
	end
	local n, err = ctx.cluster:k8s():get("/api/v1/nodes/" .. name)
	if not n then ctx:stop("refused", "cannot read node " .. name .. ": " .. tostring(err)) end
	if not openshift.runs_etcd(n) then ctx:stop("refused", "node " .. name .. " is not a control-plane node") end
	ctx.state.node = name
	ctx.state.node_ip = openshift.preferred_internal_ip(n, ctx.cluster:k8s():get(openshift.NETWORK))
	return name .. (ctx.state.node_ip and (", InternalIP " .. ctx.state.node_ip) or "")
end

-- The revisions of the four static pods on the node, read from their pods (a resumed run: those it started with).
function checks.revisions(ctx)
	local revs = ctx.journal.revisions
	if not revs then
		local err
		revs, err = backup.revisions(ctx.cluster:k8s(), ctx.state.node)
		if not revs then ctx:stop("refused", err) end
	end
	ctx.state.revisions = revs
	local out = {}
	for _, c in ipairs(backup.COMPONENTS) do out[#out + 1] = c.name .. " " .. revs[c.name] end
	return table.concat(out, ", ")
end

------------------------------------------------------------------------------------------------ members

-- The snapshot comes from a healthy member: the node's own first (as cluster-backup.sh takes it), then the others.
function checks.members(ctx)
	local members, health = ctx.cluster:read_members()
	if not members then ctx:stop("refused", "cannot read the member list: " .. tostring(health)) end
	local first, rest = {}, {}
	for _, h in ipairs(health) do
		if h.healthy then
			local mine = ctx.state.node_ip and openshift.url_host(h.endpoint) == ctx.state.node_ip
			table.insert(mine and first or rest, h.endpoint)
		end
	end
	table.move(rest, 1, #rest, #first + 1, first)
	if #first == 0 then ctx:stop("refused", "no etcd member is healthy: there is nothing to take a snapshot from") end
	ctx.state.endpoints = first
	return ("%d of %d members healthy; the snapshot is taken from %s"):format(#first, #members, first[1])
end

return checks
