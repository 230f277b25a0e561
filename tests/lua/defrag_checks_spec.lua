-- etcd-medic-api: 2
-- defrag's prerequisites and its NOSPACE action on readings a cluster could show: a fake etcd client (members,
-- health, status, alarms, alarm_disarm) and a fake ctx (say, stop) instead of a testbed. The real run is
-- tests/e2e/defrag_test.sh.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local checks = require "defrag.checks"
local dactions = require "defrag.actions"

local MIB = 1048576
local NAMES = { "master-0", "master-1", "master-2" }

-- A fake etcd client: three members, master-1 the leader; `opts` changes one reading.
local function fake_client(opts)
	opts = opts or {}
	local c = { disarmed = 0 }
	local function url(i) return "https://10.0.0.1" .. i .. ":2379" end
	function c.members()
		local ms = {}
		for i, n in ipairs(NAMES) do
			ms[i] = { id = "a" .. i, name = n, client_urls = { url(i) }, peer_urls = {}, is_learner = opts.learner == n }
		end
		return ms
	end
	function c.health()
		local h = {}
		for i, n in ipairs(NAMES) do h[i] = { endpoint = url(i), healthy = opts.down ~= n, error = opts.down == n
			and "context deadline exceeded" or nil } end
		return h
	end
	function c.status()
		local st = {}
		for i, n in ipairs(NAMES) do
			st[i] = { endpoint = url(i), id = "a" .. i, db_size = (opts.db_mib or 100) * MIB, db_size_in_use = 10 * MIB,
				is_leader = n == "master-1" }
		end
		return st
	end
	function c.alarms() return opts.alarms or {} end
	function c:alarm_disarm() self.disarmed = self.disarmed + 1; return opts.alarms or {} end
	return c
end

local function fake_ctx(client, cr)
	local ctx = { opts = { namespace = "openshift-etcd" }, state = {}, journal = {}, facts = { etcd_cr = "/cr" } }
	local kc = { get = function() return cr or { status = { latestAvailableRevision = 3,
		nodeStatuses = { { nodeName = "master-0", currentRevision = 3 }, { nodeName = "master-1", currentRevision = 3 },
			{ nodeName = "master-2", currentRevision = 3 } } } } end }
	ctx.cluster = { client = client, k8s = function() return kc end }
	return spec.check_ctx(ctx)
end

local stopped = spec.stopped

spec.it("members: all healthy, a NOSPACE alarm apart: ok, the sizes kept for the table", function()
	local ctx = fake_ctx(fake_client { alarms = { { member_id = "a1", alarm = "NOSPACE" } } })
	spec.contains(checks.members(ctx), "NOSPACE alarm is active", "note")
	spec.eq(ctx.state.nospace, true, "nospace")
	spec.eq(ctx.journal.before.a2.db_size, 100 * MIB, "before")
end)

spec.it("members: one member unhealthy, a learner, a CORRUPT alarm: refused (exit 3)", function()
	spec.contains(stopped(3, function() checks.members(fake_ctx(fake_client { down = "master-2" })) end),
		"master-2", "names the member")
	spec.contains(stopped(3, function() checks.members(fake_ctx(fake_client { learner = "master-0" })) end),
		"a learner", "a learner")
	spec.contains(stopped(3, function()
		checks.members(fake_ctx(fake_client { alarms = { { member_id = "a1", alarm = "CORRUPT" } } }))
	end), "CORRUPT", "corrupt")
end)

spec.it("rollout: a node not at the latest revision: refused; all at it: ok", function()
	local cr = { status = { latestAvailableRevision = 4, nodeStatuses = {
		{ nodeName = "master-0", currentRevision = 4 }, { nodeName = "master-1", currentRevision = 3,
			targetRevision = 4 } } } }
	spec.contains(stopped(3, function() checks.rollout(fake_ctx(fake_client(), cr)) end), "rollout", "message")
	spec.contains(checks.rollout(fake_ctx(fake_client())), "revision 3", "converged")
end)

spec.it("order: the followers by name, the leader last", function()
	local ctx = fake_ctx(fake_client())
	checks.members(ctx)
	spec.contains(checks.order(ctx), "master-0, master-2, master-1", "order")
	spec.eq(ctx.state.order[3].name, "master-1", "leader last")
end)

spec.it("alarm_disarm: not while a database is at or above the quota; below it, disarmed", function()
	local above = fake_client { db_mib = 64, alarms = { { member_id = "a1", alarm = "NOSPACE" } } }
	local a = dactions.alarm_disarm { quota = 64 * MIB }
	spec.contains(stopped(1, function() a:run(fake_ctx(above)) end), "not below the quota", "message")
	spec.eq(above.disarmed, 0, "nothing disarmed")
	local below = fake_client { db_mib = 20, alarms = { { member_id = "a1", alarm = "NOSPACE" } } }
	a:run(fake_ctx(below))
	spec.eq(below.disarmed, 1, "disarmed")
end)

spec.done()
