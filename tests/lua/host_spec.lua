-- etcd-medic-api: 2
-- medic.host: the one module for time, sleep, logging, the terminal and Ctrl-C hold-off.
local spec = require "spec"
local it, eq = spec.it, spec.eq
local host = require "medic.host"

it("now and sleep", function()
	local t0 = host.now()
	eq(host.sleep(0.06), true)
	local dt = host.now() - t0
	assert(dt >= 0.05 and dt < 1, dt)
	eq(pcall(host.sleep, -1), false)
	eq(pcall(host.sleep, 86401), false)
end)

it("redact, width, isatty, color, verbose", function()
	eq(host.redact("Authorization: Bearer abcdefghijkl"), "Authorization: Bearer [REDACTED]")
	eq(math.type(host.width()), "integer")
	eq(type(host.isatty("stderr")), "boolean")
	eq(host.color("stdout"), false) -- a spec's stdout is a pipe
	eq(host.verbose(), false)
	eq(pcall(host.log, "loud", "t", "m"), false)
	eq(pcall(host.isatty, "stdnothing"), false)
end)

it("uninterrupted runs fn protected and hands back its results", function()
	eq(select("#", host.uninterrupted(function(a, b) return a + b, "x" end, 1, 2)), 3)
	local ok, sum, x = host.uninterrupted(function(a, b) return a + b, "x" end, 1, 2)
	eq(ok, true); eq(sum, 3); eq(x, "x")
	local bad, err = host.uninterrupted(function() error("boom", 0) end)
	eq(bad, false); eq(err, "boom")
	eq(pcall(host.uninterrupted, "not a function"), false)
end)

it("the binding cores no longer carry host services", function()
	local k8s_core, node_core = require "medic.k8s.core", require "medic.node.core"
	for _, name in ipairs { "sleep", "now", "log" } do eq(k8s_core[name], nil, "k8s.core." .. name) end
	for _, name in ipairs { "sleep", "monotonic" } do eq(node_core[name], nil, "node.core." .. name) end
end)

spec.done()
