-- bench: the cluster's own time, watched from outside the tool under test. Polls (every 0.2 s, keep-alive)
-- etcd/cluster until spec.forceRedeploymentReason changes (the redeploy patch), then until the member named
-- NODE is a started voting member and every member answers health (prints "member SECONDS"), and the
-- operator's rollout is complete: a new revision on every node, every etcd pod Ready ("floor SECONDS").
-- arg[1]: NODE; arg[2]: deadline in seconds (default 900). Direct etcd access from ETCDCTL_* (the testbed's env).
local k8s, etcd, host = require "medic.k8s", require "medic.etcd", require "medic.host"
local node, limit = assert(arg[1], "usage: floor.lua NODE [DEADLINE_S]"), tonumber(arg[2] or 900)
local CR = "/apis/operator.openshift.io/v1/etcds/cluster"
local kc = assert(k8s.connect {})
local eps = {}
for e in (os.getenv("ETCDCTL_ENDPOINTS") or ""):gmatch("[^,]+") do eps[#eps + 1] = e end
local deadline = host.now() + limit
local function reason()
	local cr = kc:get(CR)
	return cr and cr.spec and cr.spec.forceRedeploymentReason
end
local function done(c)
	local members = c:members()
	if not members then return false end
	local found
	for _, m in ipairs(members) do
		if m.name == node and m.started and not m.is_learner then found = true end
	end
	if not found then return false end
	local health = c:health { cluster = true }
	if not health or #health ~= #members then return false end
	for _, h in ipairs(health) do if not h.healthy then return false end end
	return true
end
local function rolled_out(before)
	local cr = kc:get(CR)
	local st = cr and cr.status or {}
	local latest = st.latestAvailableRevision or 0
	if latest <= before then return false end
	for _, n in ipairs(st.nodeStatuses or {}) do
		if n.currentRevision ~= latest then return false end
	end
	local pods = kc:list("/api/v1/namespaces/openshift-etcd/pods", { labelSelector = "k8s-app=etcd" })
	for _, p in ipairs(pods and pods.items or {}) do
		local ready = false
		for _, c in ipairs(p.status and p.status.conditions or {}) do
			if c.type == "Ready" and c.status == "True" then ready = true end
		end
		if not ready then return false end
	end
	return pods ~= nil
end
local function revision()
	local cr = kc:get(CR)
	return cr and cr.status and cr.status.latestAvailableRevision or 0
end
local first, before = reason(), revision()
print("ready") io.stdout:flush()
local t_patch
while host.now() < deadline do
	local r = reason()
	if r ~= nil and r ~= first then t_patch = host.now() break end
	host.sleep(0.2)
end
if not t_patch then print("floor none") os.exit(1) end
local c = assert(etcd.connect { endpoints = eps, cacert = os.getenv("ETCDCTL_CACERT"),
	cert = os.getenv("ETCDCTL_CERT"), key = os.getenv("ETCDCTL_KEY"), timeout = 2 })
local member_done
while host.now() < deadline do
	if not member_done and done(c) then
		member_done = true
		print(string.format("member %.3f", host.now() - t_patch))
	end
	if member_done and rolled_out(before) then print(string.format("floor %.3f", host.now() - t_patch)) os.exit(0) end
	host.sleep(0.2)
end
print("floor none") os.exit(1)
