-- etcd-medic-api: 1
-- medic.crashloop's preflight decisions on pod lists the cluster could show for a moment: a fake medic.k8s
-- client (its list) and a fake ctx (say, refuse) instead of a testbed, so the order of the checks is exact.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local C = require "medic.crashloop"

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

-- ctx whose kc answers each pods list with the next of `readings`; refuse raises like the procedure's.
local function fake_ctx(readings)
	local ctx = { node = "n-1", opts = { namespace = "openshift-etcd", poll_interval = 0 }, said = {}, lists = 0 }
	ctx.kc = { list = function()
		ctx.lists = ctx.lists + 1
		return { items = readings[math.min(ctx.lists, #readings)] }
	end }
	function ctx:say(fmt, ...) self.said[#self.said + 1] = fmt:format(...) end
	function ctx.refuse(_, msg) error({ exit_code = 3, message = msg }, 0) end
	return ctx
end

local function refusal(fn)
	local ok, err = pcall(fn)
	spec.eq(ok, false, "refused")
	spec.eq(err.exit_code, 3, "exit code")
	return err.message
end

spec.it("wait_ready_peer: another node's pod Ready at once: no second reading", function()
	local ctx = fake_ctx({})
	local _, ready = C.wait_ready_peer(ctx, { pod("n-0", true), pod("n-1", false, LOOPING) })
	spec.eq(ready.metadata.name, "etcd-n-0", "the pod to work through")
	spec.eq(ctx.lists, 0, "pods read again")
end)

spec.it("wait_ready_peer: the others unready for a moment (a leader election): looks again, finds one", function()
	local later = { pod("n-0", false), pod("n-1", false, LOOPING), pod("n-2", true) }
	local ctx = fake_ctx({ later })
	local pods, ready = C.wait_ready_peer(ctx, { pod("n-0", false), pod("n-1", false, LOOPING), pod("n-2", false) })
	spec.eq(ready.metadata.name, "etcd-n-2", "the pod to work through")
	spec.eq(pods[3], later[3], "the pods of the last reading")
	spec.eq(ctx.lists, 1, "pods read again")
	spec.contains(ctx.said[1], "looking again", "what the user is told")
end)

spec.it("wait_ready_peer: the named node's own Ready pod does not count", function()
	local ctx = fake_ctx({ { pod("n-0", false), pod("n-1", true) } })
	local start = os.time()
	local _, ready = C.wait_ready_peer(ctx, { pod("n-0", false), pod("n-1", true) })
	spec.eq(ready, nil, "no pod to work through")
	spec.eq(ctx.lists >= 2, true, "read again until the deadline")
	spec.eq(os.time() - start <= 12, true, "bounded in time")
end)

local function cr(latest, revisions)
	local statuses = {}
	for node, rev in pairs(revisions) do statuses[#statuses + 1] = { nodeName = node, currentRevision = rev } end
	return { status = { latestAvailableRevision = latest, nodeStatuses = statuses } }
end

spec.it("check_pod_and_rollout: a rollout in progress is the reason, even when the pod is being replaced", function()
	local ctx = fake_ctx({})
	local msg = refusal(function()
		C.check_pod_and_rollout(ctx, { pod("n-1", false, { waiting = { reason = "ContainerCreating" } }) },
			cr(5, { ["n-0"] = 5, ["n-1"] = 4, ["n-2"] = 5 }))
	end)
	spec.contains(msg, "a rollout is in progress (2 of 3 nodes at revision 5)", "refusal")
end)

spec.it("check_pod_and_rollout: no rollout and the pod running: not crash-looping", function()
	local ctx = fake_ctx({})
	local msg = refusal(function()
		C.check_pod_and_rollout(ctx, { pod("n-1", true) }, cr(5, { ["n-0"] = 5, ["n-1"] = 5, ["n-2"] = 5 }))
	end)
	spec.contains(msg, "is not crash-looping (running, ready)", "refusal")
end)

spec.it("check_pod_and_rollout: crash-looping and no rollout: passes", function()
	local ctx = fake_ctx({})
	C.check_pod_and_rollout(ctx, { pod("n-1", false, LOOPING) }, cr(5, { ["n-0"] = 5, ["n-1"] = 5, ["n-2"] = 5 }))
end)

spec.done()
