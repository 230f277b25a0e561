-- etcd-medic-api: 2
-- actions.csr_approve{node=, timeout=, interval=}: `oc adm certificate approve` for the CSRs of a new node NAME as
-- they come (UPI: the admin brought the host up; its kubelet asks for a client certificate, then, once its Node is
-- registered, for a serving one), each checked first as the documentation says (medic.csr.kind). A request that
-- names the node but is not in its shape is never approved: it is named, once. Each approval is kept in the journal
-- (approved_csrs). Done when both the node's client and serving CSRs are approved.
local csr = require "medic.csr"

local WHY = "approved by etcd-medic replace-unhealthy-member --approve-csrs: the new control-plane node's CSR"

-- Read again right before: still the node's, still pending (another admin may have denied or approved it).
local function approve(a, ctx, listed)
	local name, kc = listed.metadata.name, ctx.cluster:k8s()
	local obj, err = kc:get(csr.COLLECTION .. "/" .. name)
	if not obj then ctx:stop("failed", "cannot read CSR " .. name .. ": " .. tostring(err)) end
	local kind = csr.kind(obj, a.node)
	if not kind or csr.condition(obj) ~= "Pending" then return end
	local ok
	ok, err = kc:update(csr.approval_path(name), csr.approved_copy(obj, WHY))
	if not ok then ctx:stop("failed", "cannot approve CSR " .. name .. ": " .. tostring(err)) end
	ctx.journal.approved_csrs = ctx.journal.approved_csrs or {}
	table.insert(ctx.journal.approved_csrs, name)
	ctx:say("CSR %s approved (%s, requestor %s)", name, obj.spec.signerName, obj.spec.username)
	return kind
end

-- One look: approve what is the node's and pending; done when both its kinds are approved; the progress line.
local function poll(a, ctx)
	local seen, err = csr.of_node(ctx.cluster:k8s(), a.node)
	if not seen then return false, "cannot list the CSRs: " .. tostring(err) end
	for _, o in ipairs(seen.others) do
		if not a.named[o.obj.metadata.name] then
			a.named[o.obj.metadata.name] = true
			ctx:say("CSR %s names node %s but is NOT approved: %s", o.obj.metadata.name, a.node, o.why)
		end
	end
	for _, obj in ipairs(seen.pending) do
		local kind = approve(a, ctx, obj)
		if kind then seen.approved[kind] = true end
	end
	local ok = seen.approved
	return ok.client and ok.serving, string.format("node %s: client CSR %s, serving CSR %s", a.node,
		ok.client and "approved" or "not yet", ok.serving and "approved" or "not yet")
end

return {
	lines = function(a)
		return { string.format("oc adm certificate approve the pending CSRs of node %s as they come (its client CSR "
			.. "from the node-bootstrapper, then its serving CSR; each checked: signer, requestor, usages, subject "
			.. "CN=system:node:%s O=system:nodes); up to %gs", a.node, a.node, a.timeout) }
	end,
	run = function(a, ctx)
		a.named = {}
		local ok, err = ctx:wait { what = "the CSRs of node " .. a.node, timeout = a.timeout, interval = a.interval,
			poll = function() return poll(a, ctx) end }
		if not ok then ctx:stop("failed", err) end
	end,
}
