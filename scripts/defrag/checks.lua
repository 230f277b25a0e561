-- etcd-medic-api: 2
-- defrag's checks: its prerequisites (in the script's order), the readings its steps share, and the verification.
-- Each takes the procedure's ctx, puts what it finds in ctx.state, returns a note, and stops the run (ctx:stop) when
-- defragmenting is not safe now.
local openshift = require "medic.openshift"
local gopts = require "medic.options"

local checks = {}

local MIB = 1048576
local DEFAULT_QUOTA = 8 * 1024 * MIB -- the operator's default backend quota on OpenShift (8 GiB)

function checks.cluster_id(ctx) return ctx.cluster:id() end

------------------------------------------------------------------------------------------------ etcd

-- An etcd pod to work through: Ready if one is, else one whose etcdctl container runs (with a NOSPACE alarm
-- active, etcd's readiness can fail on every member while etcdctl still answers).
function checks.client(ctx)
	local cluster = ctx.cluster
	if cluster.client then return cluster.client end
	if gopts.etcd_endpoints then return openshift.must(cluster:etcd_client()) end
	local pods = openshift.etcd_pods(cluster:k8s(), ctx.opts.namespace)
	local pod = openshift.healthy_pod(pods)
	for _, p in ipairs(pods) do
		if not pod and openshift.container_running(p, "etcdctl") then pod = p end
	end
	if not pod then ctx:stop("refused", "no etcd pod with a running etcdctl container to work through") end
	cluster.etcd_pod = pod.metadata.name
	cluster.client = openshift.etcd_client(cluster:k8s(), ctx.opts.namespace, pod, gopts)
	ctx.state.quota = ctx.state.quota or checks.quota_of(pod)
	return cluster.client
end

-- The backend quota the pod's etcd runs with: --quota-backend-bytes, else ETCD_QUOTA_BACKEND_BYTES, else 8 GiB.
function checks.quota_of(pod)
	for _, c in ipairs((pod.spec or {}).containers or {}) do
		if c.name == "etcd" then
			for _, a in ipairs(c.args or {}) do
				local v = tostring(a):match("%-%-quota%-backend%-bytes=(%d+)")
				if v then return math.tointeger(tonumber(v)) end
			end
			for _, e in ipairs(c.env or {}) do
				if e.name == "ETCD_QUOTA_BACKEND_BYTES" and tonumber(e.value) then return math.tointeger(tonumber(e.value)) end
			end
		end
	end
	return DEFAULT_QUOTA
end

local function by_name(a, b) return a.name < b.name end

-- Members, health (alarms apart: NOSPACE is what this procedure ends with a disarm), status and alarms.
-- Returns { members = { {id=, name=, endpoint=, healthy=, error=, status=} ... }, alarms = {...} } or nil, why.
function checks.read(ctx)
	local c = checks.client(ctx)
	local members, err = c:members()
	if not members then return nil, err end
	local urls = {}
	for _, m in ipairs(members) do urls[#urls + 1] = openshift.client_urls(m)[1] end
	local health, herr = c:health { endpoints = urls, alarms = false }
	if not health then return nil, herr end
	local status = c:status { endpoints = urls } or {}
	local alarms = c:alarms() or {}
	local by_url, st_by_url = {}, {}
	for _, h in ipairs(health) do by_url[h.endpoint] = h end
	for _, s in ipairs(status) do st_by_url[s.endpoint] = s end
	local out = {}
	for _, m in ipairs(members) do
		local url = openshift.client_urls(m)[1]
		local h = url and by_url[url] or {}
		local s = url and st_by_url[url]
		out[#out + 1] = { id = m.id, name = m.name ~= "" and m.name or "(unstarted)", endpoint = url,
			learner = m.is_learner, healthy = h.healthy == true and not m.is_learner, error = h.error,
			status = s and not s.error and s or nil }
	end
	table.sort(out, by_name)
	return { members = out, alarms = alarms }
end

local function unhealthy(reading)
	local bad = {}
	for _, m in ipairs(reading.members) do
		if not m.healthy or not m.status then
			bad[#bad + 1] = m.name .. (m.learner and " (a learner)" or "") .. (m.error and " (" .. m.error .. ")" or "")
		end
	end
	return bad
end

local function alarm_names(alarms, kind)
	local n = 0
	for _, a in ipairs(alarms) do if a.alarm == kind then n = n + 1 end end
	return n
end

-- Every member started, voting, healthy; no CORRUPT alarm (a NOSPACE one is what this procedure clears).
function checks.members(ctx)
	local reading, err = checks.read(ctx)
	if not reading then ctx:stop("refused", "cannot read the members' health: " .. tostring(err)) end
	local bad = unhealthy(reading)
	if #bad > 0 then
		ctx:stop("refused", "not every etcd member is healthy (" .. table.concat(bad, ", ") .. "): defragmenting "
			.. "blocks one member at a time, and with another one down that can cost the quorum. Repair first.")
	end
	if alarm_names(reading.alarms, "CORRUPT") > 0 then
		ctx:stop("refused", "a CORRUPT alarm is active: this is not a fragmented database; see the etcd "
			.. "disaster recovery documentation")
	end
	ctx.state.before = {}
	for _, m in ipairs(reading.members) do
		ctx.state.before[m.id] = { db_size = m.status.db_size, db_size_in_use = m.status.db_size_in_use }
	end
	if not ctx.journal.before then ctx.journal.before = ctx.state.before end
	ctx.state.members, ctx.state.nospace = reading.members, alarm_names(reading.alarms, "NOSPACE") > 0
	return string.format("%d members, all healthy%s", #reading.members,
		ctx.state.nospace and "; a NOSPACE alarm is active (disarmed at the end, once below the quota)" or "")
end

-- No rollout in progress: the installer restarts members one by one, and a defragmentation meanwhile would block
-- one more.
function checks.rollout(ctx)
	local cr, err = ctx.cluster:k8s():get(ctx.facts.etcd_cr)
	if not cr then ctx:stop("refused", "cannot read the etcd operator's state: " .. tostring(err)) end
	local r = openshift.rollout(cr)
	if r.in_progress then
		ctx:stop("refused", string.format("a rollout is in progress (%d of %d nodes at revision %d): wait for it to "
			.. "end", r.at_latest, r.total, r.latest))
	end
	return string.format("every node at revision %d", r.latest)
end

-- The order: every follower by name, the leader last (as the document and the operator do).
function checks.order(ctx)
	local order, leader = {}, nil
	for _, m in ipairs(ctx.state.members) do
		if m.status.is_leader then leader = m else order[#order + 1] = m end
	end
	if leader then order[#order + 1] = leader end
	ctx.state.order = order
	local names = {}
	for _, m in ipairs(order) do names[#names + 1] = m.name end
	return table.concat(names, ", ") .. (leader and " (the leader, " .. leader.name .. ", last)" or " (no leader seen)")
end

------------------------------------------------------------------------------------------------ while running

-- The wait after a member: every member healthy (alarms apart) and answering status.
function checks.all_healthy_poll(ctx)
	local reading = checks.read(ctx)
	if not reading then return false, "cannot read the members' health" end
	local bad = unhealthy(reading)
	if #bad > 0 then return false, "not healthy yet: " .. table.concat(bad, ", ") end
	return true, "every member healthy"
end

-- The largest dbSize of the members now, or nil, why.
function checks.largest_db(ctx)
	local reading, err = checks.read(ctx)
	if not reading then return nil, err end
	local largest = 0
	for _, m in ipairs(reading.members) do
		if not m.status then return nil, m.name .. " answers no status" end
		largest = math.max(largest, m.status.db_size)
	end
	return largest, reading
end

------------------------------------------------------------------------------------------------ the table

local function mib(n)
	if not n then return "-" end
	if n < MIB then return string.format("%d KiB", n // 1024) end
	return string.format("%.1f MiB", n / MIB)
end

-- The before/after table: dbSize and dbSizeInUse per member.
function checks.sizes(ctx)
	local reading, err = checks.read(ctx)
	if not reading then ctx:stop("failed", "cannot read the members' status: " .. tostring(err)) end
	local before = ctx.journal.before or ctx.state.before or {}
	ctx:say("%-24s %14s %14s   %14s %14s", "MEMBER", "DB SIZE BEFORE", "IN USE BEFORE", "DB SIZE AFTER", "IN USE AFTER")
	for _, m in ipairs(reading.members) do
		local b, s = before[m.id] or {}, m.status or {}
		ctx:say("%-24s %14s %14s   %14s %14s", m.name, mib(b.db_size), mib(b.db_size_in_use), mib(s.db_size),
			mib(s.db_size_in_use))
	end
	return "quota " .. mib(ctx.state.quota)
end

function checks.verify_healthy(ctx)
	local reading, err = checks.read(ctx)
	if not reading then ctx:stop("failed", "cannot read the members' health: " .. tostring(err)) end
	local bad = unhealthy(reading)
	if #bad > 0 then ctx:stop("failed", "not every member is healthy: " .. table.concat(bad, ", ")) end
	if alarm_names(reading.alarms, "NOSPACE") > 0 then ctx:stop("failed", "the NOSPACE alarm is still active") end
	return "every member healthy, no alarm"
end

return checks
