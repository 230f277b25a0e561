-- etcd-medic-api: 2
-- replace-unhealthy-member's prerequisites and verification on what a cluster can show: a fake medic.k8s client
-- (get and list by path) and a fake ctx (say, stop), so that each refusal and each variant is exact.
package.path = "tests/lua/?.lua;" .. package.path
local spec = require "spec"
local checks = require "replace-unhealthy-member.checks"
local machines = require "medic.machines"

local IPS = { ["n-0"] = "10.0.0.10", ["n-1"] = "10.0.0.11", ["n-2"] = "10.0.0.12" }

local function node(name, ready)
	return { metadata = { name = name, uid = "uid-" .. name, labels = { ["node-role.kubernetes.io/master"] = "" },
			annotations = { [machines.NODE_ANNOTATION] = "openshift-machine-api/m-" .. name } },
		status = { addresses = { { type = "InternalIP", address = IPS[name] } },
			conditions = { { type = "Ready", status = ready and "True" or "Unknown" } } } }
end

local function pod(name, looping)
	local state = looping and { waiting = { reason = "CrashLoopBackOff" } } or { running = {} }
	return { metadata = { name = "etcd-" .. name, labels = { ["k8s-app"] = "etcd" } }, spec = { nodeName = name },
		status = { phase = "Running", conditions = { { type = "Ready", status = looping and "False" or "True" } },
			containerStatuses = { { name = "etcd", ready = not looping, restartCount = looping and 9 or 0, state = state },
				{ name = "etcdctl", ready = true, restartCount = 0, state = { running = {} } } } } }
end

local function machine(name, annotations)
	return { metadata = { name = "m-" .. name, namespace = "openshift-machine-api", uid = "u-" .. name,
		labels = { [machines.ROLE_LABEL] = "master" }, annotations = annotations or {} },
		status = { phase = "Running", nodeRef = { name = name } } }
end

-- A cluster: nodes (name -> ready), which etcd pod loops, Machines or not, a CPMS state, a host annotation.
local function cluster(o)
	local objects, lists = {}, { ["/api/v1/nodes"] = {}, ["/api/v1/namespaces/openshift-etcd/pods"] = {} }
	for _, name in ipairs { "n-0", "n-1", "n-2" } do
		local n = node(name, o.ready[name])
		objects["/api/v1/nodes/" .. name] = n
		table.insert(lists["/api/v1/nodes"], n)
		table.insert(lists["/api/v1/namespaces/openshift-etcd/pods"], pod(name, o.looping == name))
		if o.machines then
			local m = machine(name, o.host and { [machines.HOST_ANNOTATION] = "openshift-machine-api/" .. name } or nil)
			objects[machines.path(m.metadata.name)] = m
			lists[machines.collection()] = lists[machines.collection()] or {}
			table.insert(lists[machines.collection()], m)
		end
	end
	if o.cpms then objects[machines.cpms_path()] = { spec = { state = o.cpms } } end
	local kc = {}
	function kc.get(_, path)
		if objects[path] then return objects[path] end
		return nil, path .. " not found", "NotFound"
	end
	function kc.list(_, path)
		if lists[path] then return { items = lists[path] } end
		return nil, path .. " not found", "NotFound"
	end
	return kc
end

local function fake_ctx(kc, members)
	local ctx = { opts = { node = "n-1", namespace = "openshift-etcd" }, journal = {}, state = {},
		resuming = false }
	ctx.cluster = { k8s = function() return kc end, read_members = function() return members, {}, {} end }
	return spec.check_ctx(ctx)
end

local function refusal(fn) return spec.stopped(3, fn) end

local ALL_READY = { ["n-0"] = true, ["n-1"] = true, ["n-2"] = true }
local ONE_DOWN = { ["n-0"] = true, ["n-2"] = true }

spec.it("node: a Ready node whose etcd pod crash-loops is refused, pointing at replace-crashlooping-member", function()
	local ctx = fake_ctx(cluster { ready = ALL_READY, looping = "n-1" })
	spec.contains(refusal(function() checks.node(ctx) end),
		"etcd-medic run replace-crashlooping-member --node n-1", "the procedure that applies")
end)

spec.it("node: a Ready node is refused", function()
	local ctx = fake_ctx(cluster { ready = ALL_READY })
	spec.contains(refusal(function() checks.node(ctx) end), "node n-1 is Ready", "why")
end)

spec.it("node: a NotReady control-plane node passes, with its address", function()
	local ctx = fake_ctx(cluster { ready = ONE_DOWN })
	spec.contains(checks.node(ctx), "n-1, InternalIP 10.0.0.11, NotReady", "note")
	spec.eq(ctx.state.node_ip, "10.0.0.11", "its IP")
	spec.eq(ctx.state.etcd_nodes, 3, "etcd nodes")
end)

spec.it("node: no --node is refused before anything else", function()
	local ctx = fake_ctx(cluster { ready = ONE_DOWN })
	ctx.opts.node = nil
	spec.contains(refusal(function() checks.node(ctx) end), "--node NODE", "says what to pass")
end)

spec.it("others-up: two machines down are refused", function()
	local ctx = fake_ctx(cluster { ready = { ["n-0"] = true } })
	checks.node(ctx)
	spec.contains(refusal(function() checks.others_up(ctx) end), "n-2 is down too", "names the other")
end)

local function variant(o)
	o.ready = ONE_DOWN
	local ctx = fake_ctx(cluster(o))
	checks.node(ctx)
	checks.variant(ctx)
	return ctx.state.variant, ctx
end

spec.it("variant: chosen from what the cluster shows", function()
	spec.eq(variant { machines = true, cpms = "Active" }, "cpms", "an Active ControlPlaneMachineSet")
	spec.eq(variant { machines = true, cpms = "Inactive" }, "machine-api", "an Inactive one")
	spec.eq(variant { machines = true }, "machine-api", "none")
	spec.eq(variant { machines = true, host = true }, "baremetal", "a Machine naming a BareMetalHost")
	local v, ctx = variant {}
	spec.eq(v, "upi", "no Machine API")
	spec.eq(#ctx.state.nodes_before, 3, "the nodes before the run are known")
end)

spec.it("verification: a member too many is named and not removed", function()
	local members = {
		{ id = "a0", name = "n-0", peer_urls = { "https://10.0.0.10:2380" } },
		{ id = "a2", name = "n-2", peer_urls = { "https://10.0.0.12:2380" } },
		{ id = "a1", name = "n-1", peer_urls = { "https://10.0.0.11:2380" } },
		{ id = "ff", name = "", peer_urls = { "https://10.0.0.99:2380" } },
	}
	local ctx = fake_ctx(cluster { ready = ALL_READY }, members)
	local msg = refusal(function() checks.one_per_node(ctx) end)
	spec.contains(msg, "a member too many: (unstarted) ff (https://10.0.0.99:2380)", "which one")
	spec.contains(msg, "not removed", "what was done")
end)

spec.done()
