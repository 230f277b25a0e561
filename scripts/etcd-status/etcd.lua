-- etcd-medic-api: 2
-- etcd-status findings about etcd's data: alarms, database size against the quota, fragmentation, revisions and raft
-- indexes that diverge between members, and KV hashes that disagree at a common revision.
-- Pure: reads only ctx.members, ctx.etcd (status, alarms, hashes) and ctx.quota (docs/etcd-status.md).
local finding = require "etcd-status.finding"

local etcd = {}

local MIB = 1048576

-- Thresholds, each from where it is used in the platform (docs/etcd-status.md):
etcd.LIMITS = {
	quota_critical = 0.95, -- etcdDatabaseQuotaLowSpace (cluster-etcd-operator's PrometheusRule): > 95 % for 10 min
	quota_warning = 0.80, -- ours: the same alert's ratio, earlier, while there is time to defragment
	fragmented_min_db = 100 * MIB, -- the operator's defrag controller: minDefragBytes (100 MiB)
	fragmented_ratio = 0.45, -- the same: maxFragmentedPercentage (45 %)
	alert_min_in_use = 100 * MIB, -- etcdDatabaseHighFragmentationRatio: more than 100 MiB in use
	alert_in_use_ratio = 0.5, -- the same: in use below 50 % of the size
	revision_gap = 1000, -- members further apart than this are not one read's jitter (ours)
	raft_index_gap = 1000,
}

local DEFRAG = "etcd-medic run defrag"

local function mib(n) return string.format("%.1f MiB", n / MIB) end

-- member id -> name ("(unstarted)" for a member without one)
local function names(ctx)
	local by_id = {}
	for _, m in ipairs(ctx.members or {}) do by_id[m.id] = m.name ~= "" and m.name or m.id end
	return by_id
end

local function answered(ctx)
	local rows = {}
	for _, s in ipairs((ctx.etcd or {}).status or {}) do
		if not s.error and s.db_size then rows[#rows + 1] = s end
	end
	return rows
end

------------------------------------------------------------------------------------------------ alarms

local function alarms(ctx, out)
	local by_kind = {}
	for _, a in ipairs((ctx.etcd or {}).alarms or {}) do
		if a.alarm == "NOSPACE" or a.alarm == "CORRUPT" then
			by_kind[a.alarm] = by_kind[a.alarm] or {}
			table.insert(by_kind[a.alarm], a.member_id)
		end
	end
	local n = names(ctx)
	if by_kind.NOSPACE then
		out[#out + 1] = finding.new {
			code = "ALARM_NOSPACE", severity = "critical", subject = "etcd cluster",
			summary = "a NOSPACE alarm is active: etcd refuses every write until it is disarmed below the quota",
			evidence = { members = table.concat(by_kind.NOSPACE, ","), first_member = n[by_kind.NOSPACE[1]] or "" },
			next = DEFRAG .. " (defragments every member, then disarms the alarm once below the quota)",
		}
	end
	if by_kind.CORRUPT then
		out[#out + 1] = finding.new {
			code = "ALARM_CORRUPT", severity = "critical", subject = "etcd cluster",
			summary = "a CORRUPT alarm is active: a member's data differs from the others'",
			evidence = { members = table.concat(by_kind.CORRUPT, ",") },
			next = "follow \"Restoring to a previous cluster state\" (etcd disaster recovery); do not defragment",
		}
	end
end

------------------------------------------------------------------------------------------------ size

local function quota(ctx, s, n, out)
	local q = ctx.quota or {}
	if not q.bytes or q.bytes <= 0 then return end
	local ratio = s.db_size / q.bytes
	local severity = ratio > etcd.LIMITS.quota_critical and "critical" or ratio > etcd.LIMITS.quota_warning and "warning"
	if not severity then return end
	local fragmented = s.db_size_in_use and s.db_size - s.db_size_in_use >= s.db_size * etcd.LIMITS.fragmented_ratio
	out[#out + 1] = finding.new {
		code = "DB_NEAR_QUOTA", severity = severity, subject = n,
		summary = string.format("database of %s is %s, %.0f%% of its %s quota", n, mib(s.db_size), ratio * 100,
			mib(q.bytes)),
		evidence = { db_size = s.db_size, db_size_in_use = s.db_size_in_use or "unknown", quota_bytes = q.bytes,
			quota_from = q.source or "", percent = math.floor(ratio * 1000 + 0.5) / 10 },
		next = fragmented and DEFRAG or ("raise the quota: oc patch etcd cluster --type=merge -p "
			.. "'{\"spec\":{\"backendQuotaGiB\":" .. math.max(16, (q.bytes // (1024 * MIB)) * 2) .. "}}' (4.13+), "
			.. "after finding what fills etcd (etcdctl get / --prefix --keys-only | cut -d/ -f2-3 | sort | uniq -c)"),
	}
end

-- A warning where the platform's alert (etcdDatabaseHighFragmentationRatio) fires; info where only the operator's
-- defrag controller would act (4.9+, which defragments on its own unless disabled): said, not alarming.
local function fragmentation(s, n, out)
	local L = etcd.LIMITS
	local in_use = s.db_size_in_use or s.db_size
	local free = s.db_size - in_use
	local alert = in_use > L.alert_min_in_use and in_use < s.db_size * L.alert_in_use_ratio
	if not alert and (s.db_size < L.fragmented_min_db or free < s.db_size * L.fragmented_ratio) then return end
	out[#out + 1] = finding.new {
		code = "DB_FRAGMENTED", severity = alert and "warning" or "info", subject = n,
		summary = string.format("database of %s is %s, only %s in use: %.0f%% would be freed by defragmenting", n,
			mib(s.db_size), mib(s.db_size_in_use), free * 100 / s.db_size),
		evidence = { db_size = s.db_size, db_size_in_use = s.db_size_in_use,
			fragmented_percent = math.floor(free * 1000 / s.db_size + 0.5) / 10 },
		next = DEFRAG,
	}
end

------------------------------------------------------------------------------------------------ divergence

local function spread(rows, field)
	local lo, hi
	for _, s in ipairs(rows) do
		local v = s[field]
		if v then
			if not lo or v < lo.v then lo = { v = v, s = s } end
			if not hi or v > hi.v then hi = { v = v, s = s } end
		end
	end
	return lo, hi
end

local function divergence(ctx, rows, field, code, what, gap, out)
	local lo, hi = spread(rows, field)
	if not lo or hi.v - lo.v <= gap then return end
	local n = names(ctx)
	local behind = n[lo.s.id] or lo.s.endpoint
	out[#out + 1] = finding.new {
		code = code, severity = "warning", subject = behind,
		summary = string.format("%s of %s is %d behind %s's (%d against %d)", what, behind, hi.v - lo.v,
			n[hi.s.id] or hi.s.endpoint, lo.v, hi.v),
		evidence = { behind = behind, behind_value = lo.v, ahead = n[hi.s.id] or hi.s.endpoint, ahead_value = hi.v,
			gap = hi.v - lo.v, threshold = gap },
		next = "etcd-medic run etcd-status again in a minute: a member still behind is lagging (its disk or network); "
			.. "oc logs -n openshift-etcd etcd-" .. behind .. " -c etcd",
	}
end

-- etcd's own corruption check compares hashes of members at the same revision and compaction; so does this.
local function hashes(ctx, out)
	local e = ctx.etcd or {}
	if e.hash_note then
		out[#out + 1] = finding.new {
			code = "HASH_NOT_COMPARED", severity = "info", subject = "etcd cluster",
			summary = "could not compare the members' KV hashes: " .. e.hash_note,
			evidence = { reason = e.hash_note },
			next = "etcd-medic run etcd-status (through an etcd pod, not --etcd-endpoints, on etcd 3.4)",
		}
		return
	end
	local by_compact, n = {}, names(ctx)
	for _, h in ipairs(e.hashes or {}) do
		local key = tostring(h.compact_revision)
		by_compact[key] = by_compact[key] or {}
		table.insert(by_compact[key], h)
	end
	for _, group in pairs(by_compact) do
		local counts = {}
		for _, h in ipairs(group) do counts[h.hash] = (counts[h.hash] or 0) + 1 end
		for _, h in ipairs(group) do
			if counts[h.hash] * 2 <= #group and #group > 1 then
				local who = n[h.id] or h.endpoint
				out[#out + 1] = finding.new {
					code = "HASH_MISMATCH", severity = "critical", subject = who,
					summary = string.format("the KV hash of %s at revision %d differs from the other members'", who,
						e.hash_revision or 0),
					evidence = { revision = e.hash_revision or 0, hash = h.hash, compact_revision = h.compact_revision or 0,
						members_compared = #group },
					next = "follow \"Replacing an unhealthy etcd member\" for " .. who .. " (its data differs: "
						.. "remove the member and let the operator add it again from the others)",
				}
			end
		end
	end
end

function etcd.check(ctx)
	local out = {}
	alarms(ctx, out)
	local rows, n = answered(ctx), names(ctx)
	table.sort(rows, function(a, b) return tostring(n[a.id] or a.endpoint) < tostring(n[b.id] or b.endpoint) end)
	for _, s in ipairs(rows) do
		local who = n[s.id] or s.endpoint
		quota(ctx, s, who, out)
		fragmentation(s, who, out)
	end
	divergence(ctx, rows, "revision", "REVISION_DIVERGENT", "the revision", etcd.LIMITS.revision_gap, out)
	divergence(ctx, rows, "raft_index", "RAFT_INDEX_DIVERGENT", "the raft index", etcd.LIMITS.raft_index_gap, out)
	hashes(ctx, out)
	return out
end

return etcd
