-- etcd-medic-api: 2
-- defrag's own actions, shaped as medic.actions' are (kind, lines, run, verify; record and guard by the engine):
--   defragment{member=, timeout=[, moved=]}   etcdctl defrag of one member; its ID kept in ctx.journal.defragmented
--   move_leader{from=, to=}         etcdctl move-leader: the leader hands over to a member already defragmented
--   alarm_disarm{quota=}            etcdctl alarm disarm, only once every member's dbSize is below the quota
local checks = require "defrag.checks"

local M = {}

local function action(kind, methods)
	methods.__index = methods
	return function(fields)
		fields.kind = kind
		return setmetatable(fields, methods)
	end
end

M.defragment = action("defragment", {
	lines = function(a, ctx)
		return { string.format("etcdctl --command-timeout=%ds --endpoints=%s defrag   (member %s %s%s)%s", a.timeout,
			a.member.endpoint, a.member.name, a.member.id, a.member.status.is_leader and (a.moved and
			", the leader until the move" or ", the leader") or "",
			ctx.cluster.etcd_pod and ("   (through " .. ctx.cluster.etcd_pod .. ")") or "") }
	end,
	run = function(a, ctx)
		local c = checks.client(ctx)
		local r, err = c:defragment(a.member.endpoint, { timeout = a.timeout })
		if not r then ctx:stop("failed", "defragmenting " .. a.member.name .. " failed: " .. tostring(err)) end
		local done = ctx.journal.defragmented or {}
		done[a.member.id] = true
		ctx.journal.defragmented = done
		ctx:say("%s defragmented in %.1fs", a.member.name, r.took)
	end,
})

-- Another member took the lead since the plan: defragmenting it now would block the leader before the others.
function M.not_leader_yet(member, remaining)
	return function(ctx)
		if remaining == 0 then return end
		for _, s in ipairs(checks.client(ctx):status { endpoints = { member.endpoint } } or {}) do
			if s.endpoint == member.endpoint and s.is_leader then
			ctx:stop("failed", member.name .. " became the leader since the plan; run the same command again: the "
				.. "members done are kept, and the leader is put last")
			end
		end
	end
end

local function leader_now(ctx)
	for _, s in ipairs(checks.client(ctx):status { cluster = true } or {}) do
		if s.is_leader then return s.id end
	end
end

M.move_leader = action("move_leader", {
	lines = function(a)
		return { string.format("etcdctl move-leader %s   (from %s to %s, defragmented already)", a.to.id, a.from.name,
			a.to.name) }
	end,
	run = function(a, ctx)
		local r, err = checks.client(ctx):move_leader(a.to.id)
		if not r then ctx:stop("failed", "moving the leadership to " .. a.to.name .. " failed: " .. tostring(err)) end
		ctx:say("leadership moved from %s to %s", a.from.name, a.to.name)
	end,
	-- the new leader is seen by a status reading a moment later
	verify = function(a, ctx)
		local ok = ctx:wait { what = a.to.name .. " the leader", timeout = 10, interval = 0.5,
			poll = function() return leader_now(ctx) == a.to.id end }
		return ok, a.to.name .. " is not the leader"
	end,
})

M.alarm_disarm = action("alarm_disarm", {
	lines = function(a)
		return { string.format("etcdctl alarm disarm   (once every member's dbSize is below the quota, %d bytes)",
			a.quota) }
	end,
	run = function(a, ctx)
		local largest, why = checks.largest_db(ctx)
		if not largest then ctx:stop("failed", "cannot read the database sizes: " .. tostring(why)) end
		if largest >= a.quota then
			ctx:stop("failed", string.format("the database is still %d bytes, not below the quota (%d): the NOSPACE "
				.. "alarm is left on (disarmed, it would be raised again by the next write)", largest, a.quota))
		end
		local done, err = checks.client(ctx):alarm_disarm()
		if not done then ctx:stop("failed", "etcdctl alarm disarm failed: " .. tostring(err)) end
		ctx:say("%d alarm(s) disarmed", #done)
	end,
	verify = function(_, ctx)
		local alarms = checks.client(ctx):alarms()
		return alarms ~= nil and #alarms == 0, "an alarm is still active"
	end,
})

return M
