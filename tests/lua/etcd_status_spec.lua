-- etcd-medic-api: 2
-- etcd-status's findings on readings a cluster could show: the finding shape and order, each module's findings
-- (members, etcd, operator) and their next steps, the quota's source, and the whole report on the fake cluster
-- (tests/lua/fake_cluster.lua) with -o json. The real runs are tests/e2e/doctor_test.sh.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local json = require "medic.json"
local finding = require "etcd-status.finding"
local members = require "etcd-status.members"
local etcd = require "etcd-status.etcd"
local operator = require "etcd-status.operator"
local readings = require "etcd-status.readings"

local MIB = 1048576
local NOW = 1700000000
local NAMES = { "master-0", "master-1", "master-2" }

local function ts(epoch) return os.date("!%Y-%m-%dT%H:%M:%SZ", epoch) end

local function node(i, ip)
	return { metadata = { name = NAMES[i] }, status = { addresses = { { type = "InternalIP", address = ip or
		("10.0.0.1" .. i) } }, conditions = { { type = "Ready", status = "True" } } } }
end

local function pod(i, opts)
	opts = opts or {}
	local etcd_c = { name = "etcd", ready = not opts.crash, restartCount = opts.crash and 9 or 0,
		state = opts.crash and { waiting = { reason = "CrashLoopBackOff" } } or { running = { startedAt = ts(opts.started
			or NOW - 3600) } } }
	return { metadata = { name = "etcd-" .. NAMES[i] }, spec = { nodeName = NAMES[i], containers = opts.containers },
		status = { phase = "Running", conditions = { { type = "Ready", status = opts.crash and "False" or "True" } },
			containerStatuses = { etcd_c } } }
end

local function member(i, opts)
	opts = opts or {}
	local ip = opts.ip or ("10.0.0.1" .. i)
	return { id = "a" .. i, name = opts.unstarted and "" or NAMES[i], peer_urls = { "https://" .. ip .. ":2380" },
		client_urls = opts.unstarted and {} or { "https://" .. ip .. ":2379" }, is_learner = opts.learner == true }
end

-- A healthy three-node reading; `change(ctx)` makes it the incident.
local function reading(change)
	local ctx = { now = NOW, namespace = "openshift-etcd", opts = { learner_grace = 300, rollout_grace = 1800 },
		nodes = {}, pods = {}, members = {}, healthy = {}, health = {}, etcd = { status = {}, alarms = {} },
		quota = { bytes = 8192 * MIB, source = "test" },
		cr = { spec = {}, status = { latestAvailableRevision = 7, nodeStatuses = {}, conditions = {} } } }
	for i = 1, 3 do
		ctx.nodes[i], ctx.pods[NAMES[i]], ctx.members[i] = node(i), pod(i), member(i)
		ctx.healthy["a" .. i] = true
		ctx.health[i] = { endpoint = "https://10.0.0.1" .. i .. ":2379", healthy = true }
		ctx.etcd.status[i] = { endpoint = ctx.health[i].endpoint, id = "a" .. i, db_size = 50 * MIB,
			db_size_in_use = 40 * MIB, revision = 9000, raft_index = 12000 }
		ctx.cr.status.nodeStatuses[i] = { nodeName = NAMES[i], currentRevision = 7 }
	end
	if change then change(ctx) end
	return ctx
end

local function codes(list)
	local out = {}
	for _, f in ipairs(list) do out[#out + 1] = f.severity .. " " .. f.code .. " " .. f.subject end
	return table.concat(out, "; ")
end

local function all(ctx)
	local list = {}
	for _, m in ipairs { members, etcd, operator } do
		for _, f in ipairs(m.check(ctx)) do list[#list + 1] = f end
	end
	return finding.sort(list)
end

------------------------------------------------------------------------------------------------ the shape

spec.it("finding.new refuses a finding that is not the contract's shape, naming what is wrong", function()
	local good = { code = "X_Y", severity = "warning", subject = "s", summary = "one line", evidence = { n = 1 },
		next = "etcd-medic run defrag" }
	spec.eq(finding.new(good), good, "a good one")
	local function why(change)
		local f = {}
		for k, v in pairs(good) do f[k] = v end
		change(f)
		return finding.problem(f)
	end
	spec.contains(why(function(f) f.code = "memberDown" end), "UPPER_SNAKE", "code")
	spec.contains(why(function(f) f.severity = "error" end), "severity", "severity")
	spec.contains(why(function(f) f.next = "" end), "next", "next")
	spec.contains(why(function(f) f.evidence = { ok = true } end), "string or a number", "evidence value")
	spec.contains(why(function(f) f.extra = 1 end), "no field 'extra'", "an unknown field")
end)

spec.it("findings sort severity first; the exit code is 5 critical, 4 warning, 0 with info only", function()
	local function f(sev, code) return { code = code, severity = sev, subject = "s", summary = "x", evidence = {},
		next = "n" } end
	local list = finding.sort { f("info", "A"), f("warning", "B"), f("critical", "C"), f("warning", "A") }
	spec.eq(codes(list), "critical C s; warning A s; warning B s; info A s", "order")
	spec.eq(finding.exit_code(list), 5, "critical")
	spec.eq(finding.exit_code { f("warning", "B"), f("info", "A") }, 4, "warning")
	spec.eq(finding.exit_code { f("info", "A") }, 0, "info only")
	spec.eq(finding.exit_code {}, 0, "none")
end)

spec.it("finding.collect: a module that raises or returns a bad finding is a CHECK_FAILED warning", function()
	package.loaded["test.raises"] = { check = function() error("cannot read the secrets") end }
	package.loaded["test.bad"] = { check = function() return { { code = "lower" } } end }
	local list = finding.collect({ "test.raises", "test.bad" }, {})
	spec.eq(codes(list), "warning CHECK_FAILED test.bad; warning CHECK_FAILED test.raises", "both said")
	spec.contains(list[2].summary, "cannot read the secrets", "why")
end)

spec.it("a healthy reading has no finding", function()
	spec.eq(codes(all(reading())), "", "none")
end)

------------------------------------------------------------------------------------------------ members

spec.it("members: an unhealthy member whose pod crash-loops sends to replace-crashlooping-member", function()
	local list = all(reading(function(ctx)
		ctx.healthy.a2, ctx.health[2] = false, { endpoint = ctx.health[2].endpoint, error = "context deadline exceeded" }
		ctx.pods["master-1"] = pod(2, { crash = true })
	end))
	spec.eq(codes(list), "critical MEMBER_UNHEALTHY master-1", "the finding")
	spec.eq(list[1].next, "etcd-medic run replace-crashlooping-member --node master-1", "next")
	spec.eq(list[1].evidence.error, "context deadline exceeded", "evidence")
end)

spec.it("members: unhealthy only because of an alarm is the alarm's finding, not three unhealthy members", function()
	local list = all(reading(function(ctx)
		for i = 1, 3 do
			ctx.healthy["a" .. i] = false
			ctx.health[i].healthy, ctx.health[i].error = false, "Active Alarm(s): NOSPACE"
		end
		ctx.etcd.alarms = { { member_id = "a1", alarm = "NOSPACE" } }
	end))
	spec.eq(codes(list), "critical ALARM_NOSPACE etcd cluster", "one finding")
	spec.contains(list[1].next, "etcd-medic run defrag", "next")
end)

spec.it("members: a voting member that never started; a learner young, then stuck (age from the operator)", function()
	local list = all(reading(function(ctx) ctx.members[4] = member(4, { unstarted = true, ip = "10.0.0.99" }) end))
	spec.eq(codes(list), "critical MEMBER_NOT_STARTED NAME-PENDING-10.0.0.99; warning VOTING_MEMBERS_MISMATCH "
		.. "etcd cluster", "voting unstarted")
	spec.contains(list[1].next, "etcdctl member remove a4", "next")
	local function learner(since)
		return all(reading(function(ctx)
			ctx.members[4] = member(4, { unstarted = true, learner = true, ip = "10.0.0.99" })
			ctx.cr.status.conditions = { { type = "EtcdMembersProgressing", status = "True", reason = "MembersNotStarted",
				lastTransitionTime = ts(since) } }
		end))
	end
	list = learner(NOW - 60)
	spec.eq(codes(list), "info LEARNER_PRESENT NAME-PENDING-10.0.0.99", "young")
	spec.eq(list[1].evidence.age_seconds, 60, "age")
	list = learner(NOW - 900)
	spec.eq(codes(list), "warning LEARNER_STUCK NAME-PENDING-10.0.0.99", "stuck")
	spec.contains(list[1].evidence.age_from, "EtcdMembersProgressing", "how the age is known")
	spec.contains(list[1].next, "etcdctl member remove a4", "next")
end)

spec.it("members: a started learner's age is its etcd container's; unknown age stays info", function()
	local list = all(reading(function(ctx)
		ctx.members[3].is_learner = true
		ctx.pods["master-2"] = pod(3, { started = NOW - 1000 })
	end))
	spec.eq(codes(list), "critical VOTING_MEMBERS_MISMATCH etcd cluster; warning LEARNER_STUCK master-2", "stuck")
	spec.contains(list[2].next, "promot", "the operator's logs")
	list = all(reading(function(ctx)
		ctx.members[4] = member(4, { unstarted = true, learner = true, ip = "10.0.0.99" })
	end))
	spec.eq(codes(list), "info LEARNER_PRESENT NAME-PENDING-10.0.0.99", "age unknown")
	spec.eq(list[1].evidence.age_seconds, "unknown", "said")
end)

spec.it("members: a node whose InternalIP changed under its member; voting members against nodes", function()
	local list = all(reading(function(ctx) ctx.nodes[2] = node(2, "10.0.0.42") end))
	spec.eq(codes(list), "critical MEMBER_IP_MISMATCH master-1", "ip")
	spec.eq(list[1].evidence.node_internal_ip, "10.0.0.42", "evidence")
	spec.contains(list[1].next, "--node master-1", "next")
	list = all(reading(function(ctx) table.remove(ctx.members, 3) end))
	spec.eq(codes(list), "critical VOTING_MEMBERS_MISMATCH etcd cluster", "2 of 3: no fault tolerance")
	list = all(reading(function(ctx) table.remove(ctx.nodes, 3) end))
	spec.eq(codes(list), "warning VOTING_MEMBERS_MISMATCH etcd cluster", "a member of a node that is gone")
end)

------------------------------------------------------------------------------------------------ etcd

spec.it("etcd: size against the quota (95 % critical, 80 % warning), fragmentation as the operator's defrag", function()
	local function with(size, in_use)
		return all(reading(function(ctx)
			ctx.quota = { bytes = 1000 * MIB, source = "test" }
			ctx.etcd.status[1].db_size, ctx.etcd.status[1].db_size_in_use = size * MIB, in_use * MIB
		end))
	end
	local list = with(960, 900)
	spec.eq(codes(list), "critical DB_NEAR_QUOTA master-0", "96 %")
	spec.contains(list[1].next, "backendQuotaGiB", "not fragmented: the quota")
	list = with(850, 100)
	spec.eq(codes(list), "warning DB_NEAR_QUOTA master-0; info DB_FRAGMENTED master-0", "85 %, fragmented")
	spec.eq(list[1].next, "etcd-medic run defrag", "defrag first")
	spec.eq(list[2].evidence.fragmented_percent, 88.2, "evidence")
	spec.eq(codes(with(99, 1)), "", "below 100 MiB: not worth it (minDefragBytes)")
	spec.eq(codes(with(200, 111)), "", "44.5 % free: below maxFragmentedPercentage")
	spec.eq(codes(with(200, 110)), "info DB_FRAGMENTED master-0", "45 % free: the operator's controller would act")
	spec.eq(codes(with(300, 140)), "warning DB_FRAGMENTED master-0",
		"over 100 MiB in use, under half the size: etcdDatabaseHighFragmentationRatio fires")
	spec.eq(codes(with(180, 89)), "info DB_FRAGMENTED master-0", "under half, but under 100 MiB in use: no alert")
end)

spec.it("etcd: CORRUPT alarm; revision and raft index divergence; hashes that disagree; hashes not compared", function()
	local list = all(reading(function(ctx) ctx.etcd.alarms = { { member_id = "a2", alarm = "CORRUPT" } } end))
	spec.eq(codes(list), "critical ALARM_CORRUPT etcd cluster", "corrupt")
	list = all(reading(function(ctx) ctx.etcd.status[3].revision, ctx.etcd.status[3].raft_index = 7000, 9000 end))
	spec.eq(codes(list), "warning RAFT_INDEX_DIVERGENT master-2; warning REVISION_DIVERGENT master-2", "divergent")
	spec.eq(list[2].evidence.gap, 2000, "gap")
	spec.eq(codes(all(reading(function(ctx) ctx.etcd.status[3].revision = 8500 end))), "", "within one read's jitter")
	list = all(reading(function(ctx)
		ctx.etcd.hash_revision = 9000
		ctx.etcd.hashes = { { id = "a1", hash = 1, compact_revision = 5 }, { id = "a2", hash = 1, compact_revision = 5 },
			{ id = "a3", hash = 2, compact_revision = 5 } }
	end))
	spec.eq(codes(list), "critical HASH_MISMATCH master-2", "the odd one out")
	list = all(reading(function(ctx)
		ctx.etcd.hashes = { { id = "a1", hash = 1, compact_revision = 5 }, { id = "a2", hash = 2, compact_revision = 6 } }
	end))
	spec.eq(codes(list), "", "different compactions are not compared")
	list = all(reading(function(ctx) ctx.etcd.hash_note = "this transport has no HashKV" end))
	spec.eq(codes(list), "info HASH_NOT_COMPARED etcd cluster", "could not compare: info, not an error")
end)

spec.it("readings.quota: the pod's flag or environment, else spec.backendQuotaGiB, else 8 GiB", function()
	local function quota(containers, cr)
		return readings.quota({ ["master-0"] = pod(1, { containers = containers }) }, cr)
	end
	local q = quota({ { name = "etcd", command = { "/bin/sh", "-c", "exec etcd --quota-backend-bytes=8589934592 "
		.. "--name x" } } })
	spec.eq(q.bytes, 8589934592, "from the command")
	spec.contains(q.source, "etcd-master-0", "source")
	q = quota({ { name = "etcd", env = { { name = "ETCD_QUOTA_BACKEND_BYTES", value = "536870912" } } } })
	spec.eq(q.bytes, 536870912, "from the environment")
	q = quota({ { name = "etcd" } }, { spec = { backendQuotaGiB = 16 } })
	spec.eq(q.bytes, 16 * 1024 * MIB, "from the operator")
	spec.eq(quota({ { name = "etcd" } }).bytes, 8 * 1024 * MIB, "OpenShift's default")
end)

spec.it("readings.etcd: hashes at the lowest revision all answered; Unsupported (the 3.4 gateway) is a note", function()
	local asked = {}
	local function client(hash_err)
		return {
			status = function() return { { endpoint = "u1", id = "a1", revision = 120 }, { endpoint = "u2", id = "a2",
				revision = 118 }, { endpoint = "u3", error = "context deadline exceeded" } } end,
			alarms = function() return {} end,
			hashkv = function(_, endpoint, rev)
				asked[#asked + 1] = endpoint .. "@" .. rev
				if hash_err then return nil, "HashKV is not routed by the JSON gateway", hash_err end
				return { endpoint = endpoint, hash = 7, compact_revision = 100, revision = rev }
			end,
		}
	end
	local ms = { member(1), member(2), member(3) }
	local e = readings.etcd(client(), ms)
	spec.eq(e.hash_revision, 118, "the lowest revision")
	spec.eq(table.concat(asked, " "), "u1@118 u2@118", "the members that answered, at that revision")
	spec.eq(#e.hashes, 2, "hashes")
	e = readings.etcd(client("Unsupported"), ms)
	spec.eq(e.hashes, nil, "no hashes")
	spec.contains(e.hash_note, "no HashKV", "why")
	e = readings.etcd(client("Timeout"), ms)
	spec.contains(e.hash_note, "hashkv of u1 at revision 118", "another failure, said")
end)

------------------------------------------------------------------------------------------------ operator

spec.it("operator: a rollout within its time is info, beyond it REVISION_STUCK; Degraded; overrides", function()
	local function rollout(since)
		return all(reading(function(ctx)
			ctx.cr.status.latestAvailableRevision = 8
			ctx.cr.status.nodeStatuses[2].targetRevision = 8
			ctx.cr.status.conditions = { { type = "NodeInstallerProgressing", status = "True",
				lastTransitionTime = ts(since) } }
		end))
	end
	spec.eq(codes(rollout(NOW - 120)), "info ROLLOUT_IN_PROGRESS master-1", "a rollout")
	local list = rollout(NOW - 4000)
	spec.eq(codes(list), "warning REVISION_STUCK master-1", "stuck")
	spec.eq(list[1].evidence.node_target_revision, 8, "evidence")
	list = all(reading(function(ctx)
		ctx.cr.status.conditions = { { type = "EtcdMembersDegraded", status = "True", reason = "UnhealthyMembers",
			message = "2 of 3 members are available" } }
	end))
	spec.eq(codes(list), "warning OPERATOR_DEGRADED EtcdMembersDegraded", "degraded")
	list = all(reading(function(ctx)
		ctx.cr.spec.unsupportedConfigOverrides = { [operator.UNSAFE] = "true" }
		ctx.cr.status.conditions = { { type = "UnsupportedConfigOverridesUpgradeable", status = "False",
			reason = "UnsupportedConfigOverridesSet" } }
	end))
	spec.eq(codes(list), "warning UNSAFE_OVERRIDE_LEFT_ON etcd/cluster", "the unsafe key")
	spec.contains(list[1].summary, "blocks minor-version upgrades", "the upgrade it blocks")
	spec.contains(list[1].next, "\"unsupportedConfigOverrides\":null", "the only key: null, not {}")
	list = all(reading(function(ctx) ctx.cr.spec.unsupportedConfigOverrides = { [operator.UNSAFE] = true, x = 1 } end))
	spec.contains(list[1].next, "\"op\":\"remove\"", "with another key: removes that key only")
	list = all(reading(function(ctx) ctx.cr.spec.unsupportedConfigOverrides = { other = 1 } end))
	spec.eq(codes(list), "info UNSUPPORTED_OVERRIDES etcd/cluster", "another override")
	list = all(reading(function(ctx)
		ctx.cr.spec.unsupportedConfigOverrides = {}
		ctx.cr.status.conditions = { { type = "UnsupportedConfigOverridesUpgradeable", status = "False" } }
	end))
	spec.eq(codes(list), "warning UNSUPPORTED_OVERRIDES etcd/cluster", "{} still blocks upgrades")
	spec.contains(list[1].next, "\"unsupportedConfigOverrides\":null", "next: null")
	spec.eq(codes(all(reading(function(ctx) ctx.cr.spec.unsupportedConfigOverrides = {} end))), "", "{}, not blocking")
end)

------------------------------------------------------------------------------------------------ the report

spec.it("etcd-status -o json on the fake cluster: one document, the crash-looping member critical, exit 5", function()
	local dir = spec.tmpdir()
	spec.write(dir .. "/run.lua", [[
package.path = "tests/lua/?.lua;" .. package.path
require("fake_cluster").install()
return assert(loadfile("scripts/etcd-status.lua"))(...)
]])
	local code, out, err = spec.medic("run " .. spec.q(dir .. "/run.lua") .. " -o json --state-dir " .. spec.q(dir))
	spec.eq(code, 5, "exit code; " .. err)
	local doc = assert(json.decode(out), "stdout is one JSON document: " .. out)
	spec.eq(doc.schemaVersion, 1, "schemaVersion")
	spec.eq(doc.findings[1].code, "MEMBER_UNHEALTHY", "the finding")
	spec.eq(doc.findings[1].next, "etcd-medic run replace-crashlooping-member --node master-1", "next")
	spec.eq(doc.verdict.state, "ONE_MEMBER_UNHEALTHY", "verdict")
	spec.eq(#doc.members, 3, "members")
	code, out = spec.medic("run " .. spec.q(dir .. "/run.lua") .. " --state-dir " .. spec.q(dir))
	spec.eq(code, 5, "human: the same exit code")
	spec.contains(out, "  CRITICAL MEMBER_UNHEALTHY master-1: ", "the finding, severity first")
	spec.contains(out, "\nverdict: ONE MEMBER UNHEALTHY (master-1, etcd pod crash-looping)", "the verdict after it")
	code, out = spec.medic("run " .. spec.q(dir .. "/run.lua") .. " -n opnshift-etcd -o json --state-dir " .. spec.q(dir))
	spec.eq(code, 1, "a namespace without etcd pods: could not check")
	doc = assert(json.decode(out), "still one document: " .. out)
	spec.eq(doc.verdict.state, "UNKNOWN", "verdict")
	spec.contains(doc.verdict.summary, "opnshift-etcd does not exist", "why")
	os.execute("rm -rf " .. spec.q(dir))
end)

spec.done()
