-- Spec of scripts/medic/openshift.lua: matching a member to a node (name AND IP), crash-loop detection,
-- etcdctl-like tables, the exact restore of unsupportedConfigOverrides, rollout state, node names.
local os_ = require "medic.openshift"
local json = require "medic.json"

local failures, count = 0, 0
local function test(name, fn)
	count = count + 1
	local ok, err = pcall(fn)
	print((ok and "ok   - " or "FAIL - ") .. name .. (ok and "" or (": " .. tostring(err))))
	if not ok then failures = failures + 1 end
end
local function eq(a, b, what)
	if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

local members = {
	{ id = "62bcf33650a7170a", name = "master-1", peer_urls = { "https://10.0.0.1:2380" },
		client_urls = { "https://10.0.0.1:2379" } },
	{ id = "b78e2856655bc2eb", name = "master-10", peer_urls = { "https://10.0.0.10:2380" },
		client_urls = { "https://10.0.0.10:2379" } },
	{ id = "d022e10b498760d5", name = "master-2", peer_urls = { "https://10.0.0.2:2380" },
		client_urls = { "https://10.0.0.2:2379" } },
}

test("match_member needs name and IP, never a substring", function()
	eq(os_.match_member(members, "master-1", "10.0.0.1").id, "62bcf33650a7170a", "exact")
	local m, why = os_.match_member(members, "master-1", "10.0.0.99")
	eq(m, nil, "wrong IP")
	eq(why, "mismatch", "why")
	local m2, why2 = os_.match_member(members, "master-3", "10.0.0.3")
	eq(m2, nil, "absent")
	eq(why2, "none", "why")
	eq(os_.match_member(members, "master-10", "10.0.0.10").id, "b78e2856655bc2eb", "master-10 not master-1")
end)

test("url_host handles IPv4 and IPv6", function()
	eq(os_.url_host("https://10.0.0.1:2380"), "10.0.0.1")
	eq(os_.url_host("https://[fd00::1]:2380"), "fd00::1")
	eq(os_.url_host("nonsense"), nil)
end)

test("health_by_member maps endpoints to members; unstarted members are unhealthy", function()
	local list = { members[1], members[2], { id = "aa", name = "", peer_urls = { "https://10.0.0.5:2380" } } }
	local h = os_.health_by_member(list, { { endpoint = "https://10.0.0.1:2379", healthy = true },
		{ endpoint = "https://10.0.0.10:2379", healthy = false, error = "context deadline exceeded" } })
	eq(h["62bcf33650a7170a"], true)
	eq(h["b78e2856655bc2eb"], false)
	eq(h["aa"], false)
end)

test("crashlooping: waiting CrashLoopBackOff, terminated Error; not running", function()
	local function pod(state)
		return { status = { containerStatuses = { { name = "etcd", restartCount = 7, state = state } } } }
	end
	eq(os_.crashlooping(pod { waiting = { reason = "CrashLoopBackOff" } }), true, "waiting")
	eq(os_.crashlooping(pod { terminated = { exitCode = 1, reason = "Error" } }), true, "terminated")
	eq(os_.crashlooping(pod { running = { startedAt = "x" } }), false, "running")
	local between = pod { running = { startedAt = "x" } }
	between.status.containerStatuses[1].lastState = { terminated = { exitCode = 1, reason = "Error" } }
	eq(os_.crashlooping(between), true, "running for a moment between two crashes")
	between.status.containerStatuses[1].ready = true
	eq(os_.crashlooping(between), false, "recovered and ready")
	eq(os_.crashlooping({ status = {} }), false, "no status")
end)

test("member_table looks like etcdctl member list -w table", function()
	local lines = os_.member_table({ members[1] })
	eq(lines[1], "+------------------+---------+----------+-----------------------+-----------------------+------------+")
	eq(lines[2], "|        ID        | STATUS  |   NAME   |      PEER ADDRS       |     CLIENT ADDRS      | IS LEARNER |")
	eq(lines[4], "| 62bcf33650a7170a | started | master-1 | https://10.0.0.1:2380 | https://10.0.0.1:2379 |      false |")
	eq(#lines, 5)
end)

test("health_lines look like etcdctl endpoint health", function()
	local lines = os_.health_lines({ { endpoint = "https://b:2379", healthy = false, error = "boom" },
		{ endpoint = "https://a:2379", healthy = true, took = "16.671434ms" } })
	eq(lines[1], "https://a:2379 is healthy: successfully committed proposal: took = 16.671434ms")
	eq(lines[2], "https://b:2379 is unhealthy: failed to commit proposal: boom")
end)

test("merge_diff: the merge patch that restores a value exactly", function()
	local key = "useUnsupportedUnsafeNonHANonProductionUnstableEtcd"
	-- absent before: remove it
	eq(os_.merge_diff({ [key] = true }, json.null), json.null)
	-- something else before: keep it, drop only our key
	local prev = { etcd = { quotaBackendBytes = 8 } }
	eq(json.encode(os_.merge_diff({ [key] = true, etcd = { quotaBackendBytes = 8 } }, prev)), '{"' .. key .. '":null}')
	-- our key was already there before: nothing to remove
	eq(json.encode(os_.merge_diff({ [key] = true }, { [key] = true })), '{}')
	eq(os_.same({ a = { b = 1 } }, { a = { b = 1 } }), true)
	eq(os_.same({ a = 1 }, { a = 1, b = 2 }), false)
	eq(os_.same(nil, json.null), true)
end)

test("rollout: in progress unless every node is at the latest revision", function()
	local cr = { status = { latestAvailableRevision = 8, nodeStatuses = {
		{ nodeName = "a", currentRevision = 8 }, { nodeName = "b", currentRevision = 7, targetRevision = 8 } } } }
	local r = os_.rollout(cr)
	eq(r.in_progress, true)
	eq(r.at_latest, 1)
	cr.status.nodeStatuses[2] = { nodeName = "b", currentRevision = 8 }
	eq(os_.rollout(cr).in_progress, false)
end)

test("at_least: versions compared, an unknown version counts as new", function()
	eq(os_.at_least("4.7.60", "4.8"), false)
	eq(os_.at_least("4.8.0", "4.8"), true)
	eq(os_.at_least("4.14.3", "4.8"), true)
	eq(os_.at_least("5.0.1", "4.8"), true)
	eq(os_.at_least(nil, "4.8"), true)
	eq(os_.cluster_version({ status = { history = { { state = "Completed", version = "4.14.3" } } } }), "4.14.3")
end)

test("redeploy reason: the pattern with date --rfc-3339=ns, unique", function()
	local r1, r2 = os_.redeploy_reason("single-master-recovery-%s"), os_.redeploy_reason("single-master-recovery-%s")
	assert(r1:match("^single%-master%-recovery%-%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%.%d+[+-]%d%d:%d%d$"), r1)
	assert(r1 ~= r2, "unique")
end)

test("override_true reads an override as the operator does (strconv.ParseBool)", function()
	eq(os_.override_true(true), true)
	eq(os_.override_true("true"), true)
	eq(os_.override_true("1"), true)
	eq(os_.override_true("T"), true)
	eq(os_.override_true("yes"), false)
	eq(os_.override_true(false), false)
	eq(os_.override_true(1), false)
	eq(os_.override_true(nil), false)
end)

test("runs_etcd: master, control-plane and arbiter nodes", function()
	local function node(label) return { metadata = { labels = { ["node-role.kubernetes.io/" .. label] = "" } } } end
	eq(os_.runs_etcd(node("master")), true)
	eq(os_.runs_etcd(node("control-plane")), true)
	eq(os_.runs_etcd(node("arbiter")), true)
	eq(os_.runs_etcd(node("worker")), false)
end)

test("match_member: an unstarted member for the node's IP is the node's", function()
	local unstarted = { id = "aaaa", name = "", peer_urls = { "https://10.0.0.1:2380" }, client_urls = {} }
	eq(os_.match_member({ unstarted }, "master-1", "10.0.0.1"), unstarted)
	local _, why = os_.match_member({ unstarted }, "master-1", "10.0.0.9")
	eq(why, "none")
end)

test("health_lines: unixs client URLs (etcd 3.4.14) are left out", function()
	local lines = os_.health_lines({ { endpoint = "unixs://10.0.0.1:0", healthy = false, error = "no" },
		{ endpoint = "https://10.0.0.1:2379", healthy = true, took = 0.002 } })
	eq(#lines, 1)
	assert(lines[1]:find("^https://10.0.0.1:2379 is healthy"), lines[1])
end)

test("preferred_internal_ip: the service network's family, as the operator picks it (dual-stack)", function()
	local node = { status = { addresses = { { type = "InternalIP", address = "10.0.0.5" },
		{ type = "InternalIP", address = "fd00::5" }, { type = "Hostname", address = "m-0" } } } }
	eq(os_.preferred_internal_ip(node, { status = { serviceNetwork = { "fd02::/112", "172.30.0.0/16" } } }), "fd00::5")
	eq(os_.preferred_internal_ip(node, { spec = { serviceNetwork = { "172.30.0.0/16" } } }), "10.0.0.5")
	eq(os_.preferred_internal_ip(node, nil), "10.0.0.5")
end)

print(string.format("%d/%d passed", count - failures, count))
if failures > 0 then error({ exit_code = 1, message = failures .. " failed" }, 0) end
