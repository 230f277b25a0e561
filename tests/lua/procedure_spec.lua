-- Spec of scripts/medic/procedure.lua with fake steps over a fake world: plan, dry-run, journal (0600),
-- resume, site hooks, cleanup on failure and on interrupt, refusals and exit codes.
local procedure = require "medic.procedure"

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -m 700 " .. tmp))
local failures, count = 0, 0

local function test(name, fn)
	count = count + 1
	local ok, err = pcall(fn)
	if ok then
		print("ok   - " .. name)
	else
		failures = failures + 1
		print("FAIL - " .. name .. ": " .. tostring(type(err) == "table" and (err.message or err.exit_code) or err))
	end
end

local function eq(a, b, what)
	if a ~= b then error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2) end
end

local function exists(path)
	local f = io.open(path, "r")
	if f then f:close() end
	return f ~= nil
end

local function mode(path)
	local p = io.popen("stat -c %a '" .. path .. "'")
	local m = p:read("l")
	p:close()
	return m
end

local function files(dir)
	local p = io.popen("ls -1 '" .. dir .. "' 2>/dev/null")
	local list = {}
	for line in p:lines() do list[#list + 1] = line end
	p:close()
	return list
end

-- Runs proc:main(args...) and returns the exit code it stands for (0, or the raised exit_code).
local function exit_of(proc, ...)
	local ok, err = pcall(proc.main, proc, ...)
	if ok then return 0 end
	if type(err) == "table" and err.exit_code then return err.exit_code, err.message end
	error(err, 0)
end

-- A fake world with two things to change, a and b, plus a gate that must be closed again.
local function fake(world, calls)
	local p = procedure.new {
		name = "fake",
		title = "a fake procedure",
		options = { { name = "target", arg = "NAME", default = "x", help = "what to change" },
			{ name = "count", number = true, default = 1, help = "a number" } },
	}
	p.prompt = function() calls.prompted = (calls.prompted or 0) + 1; return calls.answer ~= false end
	p:step { name = "preflight", read_only = true, run = function(ctx)
		calls.preflight = (calls.preflight or 0) + 1
		if world.refuse then ctx:refuse("the world is on fire") end
		if world.a and world.b and not world.gate then ctx:nothing_to_do("healthy") end
	end }
	p:step { name = "open-gate",
		check = function() return world.gate or (world.a and world.b) and "ok" or nil end,
		plan = function() return { "open the gate" } end,
		run = function(ctx)
			if not ctx.journal:get("gate_before") then ctx.journal:set("gate_before", "closed") end
			world.gate = true
		end }
	p:step { name = "change-a",
		check = function() return world.a and "ok" end,
		plan = function(ctx) return { "set a on " .. ctx.opts.target } end,
		run = function(ctx)
			calls.a = (calls.a or 0) + 1
			ctx.journal:set("a_id", "62bcf33650a7170a")
			world.a = ctx.opts.target
		end,
		dry_run = function() calls.dry_a = true end }
	p:step { name = "change-b",
		check = function() return world.b and "ok" end,
		plan = function() return { "set b" } end,
		run = function(ctx)
			calls.b = (calls.b or 0) + 1
			calls.seen_a_id = ctx.journal:get("a_id")
			if world.b_fails then error(world.b_fails, 0) end
			world.b = true
		end,
		verify = function() return not world.b_unverified, "b did not stick" end,
		dry_run = function() error("Forbidden: cannot patch b", 0) end }
	p:step { name = "close-gate", cleanup = true,
		check = function() return not world.gate and "ok" end,
		run = function()
			if world.close_fails then error("cannot close", 0) end
			calls.closed = (calls.closed or 0) + 1
			world.gate = false
		end }
	return p
end

local n = 0
local function fresh_dir()
	n = n + 1
	return tmp .. "/state" .. n
end

test("happy path: every step changed, journal finished and kept aside with mode 0600", function()
	local world, calls, dir = {}, {}, fresh_dir()
	eq(exit_of(fake(world, calls), "--state-dir", dir, "--target", "node-1"), 0, "exit")
	eq(world.a, "node-1", "a")
	eq(world.b, true, "b")
	eq(world.gate, false, "gate closed again")
	eq(calls.prompted, 1, "asked once")
	eq(exists(dir .. "/fake.journal"), false, "active journal moved aside")
	local kept = files(dir)
	eq(#kept, 1, "one finished journal")
	assert(kept[1]:match("^fake%.done%-.*%.journal$"), "finished journal name " .. kept[1])
	eq(mode(dir .. "/" .. kept[1]), "600", "journal mode")
end)

test("--yes skips the prompt; a refused prompt changes nothing", function()
	local world, calls = {}, { answer = false }
	local code = exit_of(fake(world, calls), "--state-dir", fresh_dir())
	eq(code, 1, "exit when not confirmed")
	eq(world.a, nil, "a untouched")
	local w2, c2 = {}, {}
	eq(exit_of(fake(w2, c2), "--state-dir", fresh_dir(), "--yes"), 0, "exit")
	eq(c2.prompted, nil, "not asked")
end)

test("dry run: nothing changes, no journal, server-side rejections reported", function()
	local world, calls, dir = {}, {}, fresh_dir()
	local code = exit_of(fake(world, calls), "--state-dir", dir, "--dry-run")
	eq(code, 1, "exit (change-b's dry run is rejected)")
	eq(world.a, nil, "a")
	eq(world.gate, nil, "gate")
	eq(calls.a, nil, "run not called")
	eq(calls.dry_a, true, "dry_run called")
	eq(#files(dir), 0, "no journal written")
end)

test("resume: a failed step keeps the journal; the re-run skips done steps and reads the journal", function()
	local world, calls, dir = { b_fails = "connection reset" }, {}, fresh_dir()
	local code, msg = exit_of(fake(world, calls), "--state-dir", dir, "--yes")
	eq(code, 1, "exit")
	assert(msg:find("change%-b"), "message names the step: " .. tostring(msg))
	eq(world.a, "x", "a done")
	eq(world.gate, false, "cleanup closed the gate")
	eq(calls.closed, 1, "cleanup ran once")
	eq(mode(dir .. "/fake.journal"), "600", "journal kept, 0600")
	world.b_fails = nil
	local calls2 = {}
	eq(exit_of(fake(world, calls2), "--state-dir", dir, "--yes"), 0, "resumed run")
	eq(calls2.a, nil, "a not redone")
	eq(calls2.b, 1, "b done")
	eq(calls2.seen_a_id, "62bcf33650a7170a", "journal value survives the process")
	eq(world.gate, false, "gate closed")
	eq(exists(dir .. "/fake.journal"), false, "finished")
end)

test("a resumed run that is refused still runs the cleanup steps, keeps the journal, exits 1", function()
	local world, dir = { b_fails = "boom", close_fails = true }, fresh_dir()
	eq(exit_of(fake(world, {}), "--state-dir", dir, "--yes"), 1, "first run")
	eq(world.gate, true, "gate left open (its cleanup failed)")
	world.close_fails, world.refuse = nil, true
	local calls = {}
	eq(exit_of(fake(world, calls), "--state-dir", dir, "--yes"), 1, "refused resume")
	eq(world.gate, false, "cleanup closed the gate")
	eq(exists(dir .. "/fake.journal"), true, "journal kept")
end)

test("interrupt: cleanup steps run and the exit code is 130", function()
	local world, calls = { b_fails = "Interrupted" }, {}
	local code = exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes")
	eq(code, 130, "exit")
	eq(calls.closed, 1, "cleanup ran")
	eq(world.gate, false, "gate closed")
end)

test("verify failing marks the step failed", function()
	local world, calls = { b_unverified = true }, {}
	eq(exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes"), 1, "exit")
end)

test("refusal before any change: exit 3, no journal", function()
	local dir = fresh_dir()
	eq(exit_of(fake({ refuse = true }, {}), "--state-dir", dir, "--yes"), 3, "exit")
	eq(#files(dir), 0, "no journal")
end)

test("refusal in the first mutating step: exit 3, the journal it started is discarded", function()
	local dir = fresh_dir()
	local p = fake({}, {})
	p:replace("open-gate", { run = function(ctx) ctx:refuse("no backup can be taken") end })
	eq(exit_of(p, "--state-dir", dir, "--yes"), 3, "exit")
	eq(#files(dir), 0, "no journal left")
end)

test("nothing to do: exit 0, no step runs", function()
	local world, calls = { a = true, b = true }, {}
	eq(exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes"), 0, "exit")
	eq(calls.a, nil, "a")
	eq(calls.b, nil, "b")
end)

test("usage errors: exit 2", function()
	eq(exit_of(fake({}, {}), "--bogus"), 2, "unknown option")
	eq(exit_of(fake({}, {}), "--count", "many"), 2, "not a number")
	eq(exit_of(fake({}, {}), "--target"), 2, "missing value")
	eq(exit_of(fake({}, {}), "--help"), 0, "help")
end)

test("site file: option default, before/after hooks, a replaced step", function()
	local site = tmp .. "/site.lua"
	local f = assert(io.open(site, "w"))
	f:write([[
local site = ...
site.options.target = "from-site"
SITE_LOG = {}
site.before("change-a", function(ctx, step) SITE_LOG[#SITE_LOG + 1] = "before " .. step.name end)
site.after("*", function(ctx, step, status) SITE_LOG[#SITE_LOG + 1] = step.name .. "=" .. status end)
site.replace("change-b", { run = function(ctx) SITE_LOG[#SITE_LOG + 1] = "site b" end, verify = false })
]])
	f:close()
	local world, calls = {}, {}
	eq(exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes", "--site", site), 0, "exit")
	eq(world.a, "from-site", "site default used")
	eq(calls.b, nil, "original b replaced")
	local log = table.concat(_G.SITE_LOG, ",") -- the site file's global (it runs in this state)
	assert(log:find("before change%-a,change%-a=changed"), log)
	assert(log:find("site b"), log)
	assert(log:find("preflight=ok"), log)
	-- the command line still wins over the site
	local w2 = {}
	eq(exit_of(fake(w2, {}), "--state-dir", fresh_dir(), "--yes", "--site", site, "--target", "cli"), 0, "exit")
	eq(w2.a, "cli", "command line wins")
end)

test("site file naming an unknown step or option is a usage error", function()
	local site = tmp .. "/bad.lua"
	local f = assert(io.open(site, "w"))
	f:write('local site = ...\nsite.before("no-such-step", function() end)\n')
	f:close()
	eq(exit_of(fake({}, {}), "--site", site), 2, "unknown step")
end)

test("journal: damaged file refuses with a clear message", function()
	local dir = fresh_dir()
	assert(os.execute("mkdir -p " .. dir))
	local f = assert(io.open(dir .. "/fake.journal", "w"))
	f:write("{not json")
	f:close()
	local code, msg = exit_of(fake({}, {}), "--state-dir", dir, "--yes")
	eq(code, 3, "exit")
	assert(msg:find("damaged"), msg)
end)

test("ctx:wait is bounded and reports progress", function()
	local p = procedure.new { name = "w" }
	local ctx
	p:step { name = "look", read_only = true, run = function(c) ctx = c end }
	p:step { name = "noop", check = function() return "ok" end, run = function() end }
	eq(exit_of(p, "--state-dir", fresh_dir()), 0, "exit")
	local polls = 0
	local ok = ctx:wait { what = "three polls", timeout = 5, interval = 0.01,
		poll = function() polls = polls + 1; return polls >= 3, "poll " .. polls end }
	eq(ok, true, "done")
	local ok2, msg = ctx:wait { what = "never", timeout = 1, interval = 0.2,
		poll = function() return false, "waiting" end }
	eq(ok2, nil, "timed out")
	assert(msg:find("timed out"), msg)
end)

test("by hand: a session runs the preflight, then one step at a time, sharing the journal", function()
	local world, calls, dir = {}, {}, fresh_dir()
	local p = fake(world, calls)
	local ctx = assert(p:session { state_dir = dir, yes = true, target = "hand" })
	eq(calls.preflight, 1, "preflight ran")
	eq(p:run_step(ctx, "change-a"), "changed", "a")
	eq(world.a, "hand", "a applied")
	eq(p:run_step(ctx, "change-a"), "ok", "a again is ok")
	eq(mode(dir .. "/fake.journal"), "600", "journal written")
	-- the command line resumes what was done by hand
	eq(exit_of(fake(world, calls), "--state-dir", dir, "--yes"), 0, "run")
	eq(calls.a, 1, "a not redone")
	eq(world.b, true, "b done")
	local none, msg = fake({ refuse = true }, {}):session { state_dir = fresh_dir() }
	eq(none, nil, "refused session")
	assert(msg:find("on fire"), msg)
end)

os.execute("rm -rf '" .. tmp .. "'")
print(string.format("%d/%d passed", count - failures, count))
if failures > 0 then error({ exit_code = 1, message = failures .. " failed" }, 0) end
