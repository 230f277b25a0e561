-- etcd-medic-api: 2
-- Defragment every etcd member, one at a time, the leader last (the OpenShift document "Defragmenting etcd data").
--
-- The document's manual defragmentation, automated: refused unless every member is healthy and no rollout is in
-- progress; each member defragmented with a timeout, every member's health checked again and a pause (the
-- document's minute) before the next; the leader last; a NOSPACE alarm disarmed only once every database is below
-- the quota; the sizes before and after. docs/operator-vs-docs.md says where the operator's own defragmentation
-- differs.
local procedure = require "medic.procedure"
local actions = require "medic.actions"
local gopts = require "medic.options"
local perms = require "medic.permissions"
local checks = require "defrag.checks"
local dactions = require "defrag.actions"

-- A number of seconds at least `min`: an option's check (refused before any request).
local function at_least(min)
	return function(v)
		if v >= min then return true end
		return nil, string.format("must be at least %g seconds, not %g", min, v)
	end
end

local P = procedure.new {
	name = "defrag",
	title = "Defragment the etcd members one at a time, the leader last",

	facts = {
		etcd_cr = "/apis/operator.openshift.io/v1/etcds/cluster",
	},

	-- What it may do in the cluster (medic.permissions): checked first, and `etcd-medic rbac` prints it as RBAC.
	permissions = {
		perms.LEASE, perms.JOURNAL, perms.CLUSTER_ID, perms.ETCDCTL,
		{ "get", "etcds.operator.openshift.io", at = "cluster", why = "no rollout in progress" },
	},

	options = {
		{ name = "namespace", arg = "NS", default = gopts.namespace or "openshift-etcd", help = "the etcd namespace" },
		{ name = "member-timeout", arg = "SECONDS", number = true, default = 120, check = at_least(1),
			help = "how long one member's defragmentation may take (etcdctl --command-timeout; the document "
				.. "starts at 30 s and says to raise it on a timeout)" },
		{ name = "pause", arg = "SECONDS", number = true, default = 60, check = at_least(0),
			help = "how long every member must stay healthy after one is defragmented, before the next (the "
				.. "document: at least one minute)" },
		{ name = "health-timeout", arg = "SECONDS", number = true, default = 300, check = at_least(1),
			help = "how long to wait for every member to be healthy again after one is defragmented" },
		{ name = "move-leader", flag = true,
			help = "before the leader's turn, hand its leadership to a member defragmented already (etcd's "
				.. "transfer-leadership), so that the member blocked is never the leader" },
		{ name = "poll-interval", arg = "SECONDS", number = true, default = 2, check = at_least(0.1),
			help = "how often to look while waiting" },
	},

	state = {
		members = "every member: {id=, name=, endpoint=, healthy=, status=}",
		before = "member ID -> {db_size=, db_size_in_use=} read by the prerequisites",
		order = "the members in the order they are defragmented (the leader last)",
		nospace = "true when a NOSPACE alarm is active",
		quota = "the backend quota etcd runs with (bytes)",
	},

	journal = {
		defragmented = "member ID -> true for each member defragmented",
		before = "member ID -> {db_size=, db_size_in_use=} at the first run (the table's left half)",
	},

	journal_key = checks.cluster_id,
}

------------------------------------------------------------------------------------------------ before starting

P:prerequisites {
	{ "permissions", "the user may read the pods and the operator, exec into etcd, hold the Lease",
		procedure.check_permissions },
	{ "members", "every member started, voting and healthy; no CORRUPT alarm", checks.members },
	{ "rollout", "no rollout in progress (every node at the latest revision)", checks.rollout },
	{ "order", "the order: the followers, then the leader", checks.order },
}

------------------------------------------------------------------------------------------------ defragment

local function pending(ctx)
	local done, list = ctx.journal.defragmented or {}, {}
	for _, m in ipairs(ctx.state.order) do
		if not done[m.id] then list[#list + 1] = m end
	end
	return list
end

-- A member defragmented before m (in this run or the one resumed), to hand the leadership to.
local function previous(ctx, m)
	for _, other in ipairs(ctx.state.order) do
		if other.id ~= m.id then return other end
	end
end

P:step { name = "defragment", title = "Defragment each member, health checked and a pause after each, the leader last",
	done = function(ctx)
		if #pending(ctx) == 0 then return "every member is defragmented" end
	end,
	actions = function(ctx)
		local o, list, todo = ctx.opts, {}, pending(ctx)
		for i, m in ipairs(todo) do
			local heir = o.move_leader and m.status.is_leader and previous(ctx, m)
			if heir then list[#list + 1] = dactions.move_leader { from = m, to = heir } end
			list[#list + 1] = dactions.defragment { member = m, timeout = o.member_timeout, moved = heir and true,
				guard = dactions.not_leader_yet(m, #todo - i) }
			local last = i == #todo
			list[#list + 1] = actions.wait { what = "every member healthy" .. (last and "" or " (then the pause)"),
				timeout = o.health_timeout + (last and 0 or o.pause), interval = o.poll_interval,
				settle = not last and o.pause or nil, poll = checks.all_healthy_poll }
		end
		return list
	end,
}

------------------------------------------------------------------------------------------------ NOSPACE

P:step { name = "disarm-nospace", title = "Clear the NOSPACE alarm, once every database is below the quota",
	skip = function(ctx)
		if not ctx.state.nospace then return "no NOSPACE alarm" end
	end,
	actions = function(ctx) return { dactions.alarm_disarm { quota = ctx.state.quota } } end,
}

------------------------------------------------------------------------------------------------ verification

P:verification {
	{ "sizes", "each member's dbSize and dbSizeInUse, before and after", checks.sizes },
	{ "healthy", "every member healthy, no alarm active", checks.verify_healthy },
}

return P:main(...)
