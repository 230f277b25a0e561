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

-- In a process of its own (a SIGINT leaves the flag set and the default action behind it): a Ctrl-C during
-- host.held(fn) lets fn finish (what a change in flight needs), then takes effect as "interrupted".
it("held: a Ctrl-C waits for fn to finish, then interrupts; without held it cuts the loop short", function()
	local chunk = [[
local h = require "medic.host"
local function busy() local t = h.now(); while h.now() - t < 1 do end end
-- (system() ignores SIGINT while its child runs: the signal comes from a background shell)
local ok, err = pcall(h.held, function() os.execute("(sleep 0.2; kill -INT $PPID) &"); busy(); print("fn finished") end)
print("held returned", ok, err)
local after_ok, after_err = pcall(function() return 1 end)
print("after", after_ok, after_err)
]]
	local code, out = spec.medic("-e " .. spec.q(chunk))
	spec.contains(out, "fn finished", "fn ran to its end")
	spec.lacks(out, "held returned true", "the Ctrl-C took effect once fn was done")
	spec.contains(out, "interrupted", "as an interrupt")
	eq(code, 0, "the chunk caught it")
	code, out = spec.medic("-e " .. spec.q([[
local h = require "medic.host"
os.execute("(sleep 0.2; kill -INT $PPID) &")
local t = h.now(); while h.now() - t < 2 do end
print("loop finished")]]))
	spec.lacks(out, "loop finished", "without held, the loop is cut short")
	eq(code, 130, "exit")
end)

spec.done()
