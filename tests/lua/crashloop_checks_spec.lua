-- etcd-medic-api: 2
-- replace-crashlooping-member's prerequisites on pod lists the cluster could show for a moment: a fake medic.k8s
-- client (its list and get) and a fake ctx (say, stop) instead of a testbed, so the order of the checks is exact.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local checks = require "replace-crashlooping-member.checks"

local function pod(node, ready, etcd_state)
	return {
		metadata = { name = "etcd-" .. node },
		spec = { nodeName = node },
		status = {
			phase = "Running",
			conditions = { { type = "Ready", status = ready and "True" or "False" } },
			containerStatuses = {
				{ name = "etcd", ready = ready, restartCount = 4, state = etcd_state or { running = {} } },
				{ name = "etcdctl", ready = true, restartCount = 0, state = { running = {} } },
			},
		},
	}
end
local LOOPING = { waiting = { reason = "CrashLoopBackOff" } }

-- ctx whose kc answers each pods list with the next of `readings` (and get with `cr`); stop raises like the engine's.
local function fake_ctx(readings, cr)
	local ctx = { opts = { namespace = "openshift-etcd", poll_interval = 0 }, state = { node = "n-1" },
		facts = { etcd_cr = "/cr" }, lists = 0 }
	local kc = {
		list = function()
			ctx.lists = ctx.lists + 1
			return { items = readings[math.min(ctx.lists, #readings)] }
		end,
		get = function() return cr end,
	}
	ctx.cluster = { k8s = function() return kc end }
	function ctx.sleep(_, seconds) require("medic.host").sleep(seconds) end
	return spec.check_ctx(ctx)
end

local function refusal(fn) return spec.stopped(3, fn) end

spec.it("ready_peer: another node's pod Ready at once: one reading", function()
	local ctx = fake_ctx({ { pod("n-0", true), pod("n-1", false, LOOPING) } })
	spec.contains(checks.ready_peer(ctx), "etcd-n-0", "the pod to work through")
	spec.eq(ctx.lists, 1, "pods read")
end)

spec.it("ready_peer: the others unready for a moment (a leader election): looks again, finds one", function()
	local first = { pod("n-0", false), pod("n-1", false, LOOPING), pod("n-2", false) }
	local later = { pod("n-0", false), pod("n-1", false, LOOPING), pod("n-2", true) }
	local ctx = fake_ctx({ first, later })
	spec.contains(checks.ready_peer(ctx), "etcd-n-2", "the pod to work through")
	spec.eq(ctx.lists, 2, "pods read again")
	spec.contains(ctx.said[1], "looking again", "what the user is told")
end)

spec.it("ready_peer: the named node's own Ready pod does not count", function()
	local ctx = fake_ctx({ { pod("n-0", false), pod("n-1", true) } })
	local start = os.time()
	spec.contains(refusal(function() checks.ready_peer(ctx) end), "no Ready etcd pod on another node", "refusal")
	spec.eq(ctx.lists >= 2, true, "read again until the deadline")
	spec.eq(os.time() - start <= 12, true, "bounded in time")
end)

spec.it("ready_peer: the only node that runs etcd (single-node OpenShift): refused at once, no waiting", function()
	local ctx = fake_ctx({ { pod("n-1", true) } })
	ctx.state.etcd_nodes = 1
	spec.contains(refusal(function() checks.ready_peer(ctx) end), "only node that runs etcd", "refusal")
	spec.eq(ctx.lists, 0, "no pod list read")
	spec.eq(#ctx.said, 0, "no looking again")
end)

local function cr(latest, revisions)
	local statuses = {}
	for node, rev in pairs(revisions) do statuses[#statuses + 1] = { nodeName = node, currentRevision = rev } end
	return { status = { latestAvailableRevision = latest, nodeStatuses = statuses } }
end

spec.it("crash_loop: a rollout in progress elsewhere is the reason, even when the pod is being replaced", function()
	local ctx = fake_ctx({ { pod("n-1", false, { waiting = { reason = "ContainerCreating" } }) } },
		cr(5, { ["n-0"] = 4, ["n-1"] = 4, ["n-2"] = 5 }))
	local msg = refusal(function() checks.crash_loop(ctx) end)
	spec.contains(msg, "a rollout is in progress (1 of 3 nodes at revision 5; installing: none; waiting: ", "refusal")
end)

spec.it("crash_loop: a rollout stuck on the node alone, crash-looping at the new revision: passes", function()
	local stuck = cr(5, { ["n-0"] = 4, ["n-1"] = 4, ["n-2"] = 4 })
	for _, ns in ipairs(stuck.status.nodeStatuses) do
		if ns.nodeName == "n-1" then ns.targetRevision = 5 end
	end
	stuck.status.conditions = { { type = "NodeInstallerProgressing", status = "True" } }
	local ctx = fake_ctx({ { pod("n-1", false, LOOPING) } }, stuck)
	spec.contains(checks.crash_loop(ctx), "the rollout to revision 5 is stuck installing on n-1", "what it found")
end)

spec.it("crash_loop: another node installing while the node is stuck too: refused", function()
	local both = cr(5, { ["n-0"] = 4, ["n-1"] = 4, ["n-2"] = 5 })
	for _, ns in ipairs(both.status.nodeStatuses) do
		if ns.nodeName ~= "n-2" then ns.targetRevision = 5 end
	end
	local ctx = fake_ctx({ { pod("n-1", false, LOOPING) } }, both)
	spec.contains(refusal(function() checks.crash_loop(ctx) end), "installing: ", "refusal")
end)

spec.it("crash_loop: no rollout and the pod running: not crash-looping", function()
	local ctx = fake_ctx({ { pod("n-1", true) } }, cr(5, { ["n-0"] = 5, ["n-1"] = 5, ["n-2"] = 5 }))
	spec.contains(refusal(function() checks.crash_loop(ctx) end), "is not crash-looping (running, ready)", "refusal")
end)

spec.it("crash_loop: crash-looping and no rollout: passes", function()
	local ctx = fake_ctx({ { pod("n-1", false, LOOPING) } }, cr(5, { ["n-0"] = 5, ["n-1"] = 5, ["n-2"] = 5 }))
	spec.contains(checks.crash_loop(ctx), "CrashLoopBackOff", "what it found")
end)

-- restore-overrides (and new-revision) skip when the gate was never opened: in the plan, a gate about to be opened
-- needs its restore; once running, a gate whose previous overrides were never recorded was never opened (a run
-- that failed or was interrupted before it), and saying "changed" for it would be untrue.
spec.it("the gate's restore: planned for a gate about to open; skipped once running if it never opened", function()
	local progress = require "medic.replace.progress"
	local function ctx(recorded, running, gate_planned)
		return { journal = { overrides_recorded = recorded }, running = running,
			planned = function(_, name) return name == "open-quorum-gate" and gate_planned end }
	end
	spec.eq(progress.gate_not_opened(ctx(nil, nil, true)), nil, "plan: the gate will open")
	spec.eq(progress.gate_not_opened(ctx(nil, nil, false)), "the quorum gate was not opened", "plan: no gate")
	spec.eq(progress.gate_not_opened(ctx(nil, true, true)), "the quorum gate was not opened", "failed before the gate")
	spec.eq(progress.gate_not_opened(ctx(true, true, true)), nil, "the gate was opened")
	spec.eq(progress.gate_not_opened(ctx(true, true, false)), nil, "opened by the run this one resumes")
end)

spec.done()
