-- Spec of scripts/medic/procedure.lua with fake steps over a fake world: plan, dry-run, journal (0600),
-- resume, site hooks, cleanup on failure and on interrupt, refusals and exit codes.
package.path = "tests/lua/?.lua;" .. package.path
local fake_cluster = require "fake_cluster"
fake_cluster.install() -- the engine takes a Lease in the cluster before the first change
local procedure = require "medic.procedure"
local LEASE = "/apis/coordination.k8s.io/v1/namespaces/openshift-etcd/leases/etcd-medic"

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

-- An action over the fake world: lines for the plan, run, and optionally verify and rehearse (--dry-run).
local function change(line, run, extra)
	local a = { kind = "fake", run = function(_, ctx) return run(ctx) end, lines = function() return { line } end }
	for k, v in pairs(extra or {}) do a[k] = v end
	return a
end

-- A fake world with two things to change, a and b, plus a gate that must be closed again.
local function fake(world, calls)
	local p = procedure.new {
		name = "fake",
		title = "a fake procedure",
		facts = { thing = "a-%s" },
		options = { { name = "target", arg = "NAME", default = "x", help = "what to change" },
			{ name = "count", number = true, default = 1, help = "a number" } },
		state = { seen = "what the preflight saw" },
		journal = { gate_before = "the gate before", a_id = "the id of a" },
	}
	p.prompt = function() calls.prompted = (calls.prompted or 0) + 1; return calls.answer ~= false end
	p:prerequisites { { "world", "the world is not on fire", function(ctx)
		calls.preflight = (calls.preflight or 0) + 1
		ctx.state.seen = ctx.facts.thing:format(ctx.opts.target)
		if world.refuse then ctx:stop("refused", "the world is on fire") end
		if world.a and world.b and not world.gate then ctx:stop("nothing to do", "healthy") end
	end } }
	p:step { name = "open-gate",
		done = function() return (world.gate or (world.a and world.b)) and "open" or nil end,
		actions = function() return { change("open the gate", function() world.gate = true end,
			{ record = { gate_before = "closed" } }) } end }
	p:step { name = "change-a",
		done = function() return world.a and "set" end,
		actions = function(ctx) return { change("set a on " .. ctx.opts.target, function()
			calls.a = (calls.a or 0) + 1
			calls.lease_holder = fake_cluster.leases[LEASE] and fake_cluster.leases[LEASE].spec.holderIdentity
			world.a = ctx.opts.target
		end, { record = { a_id = "62bcf33650a7170a" }, rehearse = function() calls.dry_a = true end }) } end }
	p:step { name = "change-b",
		done = function() return world.b and "set" end,
		actions = function(ctx) return { change("set b", function()
			calls.b = (calls.b or 0) + 1
			calls.seen_a_id = ctx.journal.a_id
			if world.b_fails then error(world.b_fails, 0) end
			world.b = true
		end, { verify = function() return not world.b_unverified, "b did not stick" end,
			rehearse = function() error("Forbidden: cannot patch b", 0) end }) } end }
	p:step { name = "close-gate", cleanup = true,
		done = function() return not world.gate and "closed" end,
		actions = function() return { change("close the gate", function()
			if world.close_fails then error("cannot close", 0) end
			calls.closed = (calls.closed or 0) + 1
			world.gate = false
		end) } end }
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

test("--journal cluster: a ConfigMap; a run elsewhere resumes it (one journal per cluster); two refuse", function()
	local CM = "/api/v1/namespaces/openshift-etcd/configmaps/etcd-medic-journal-fake"
	local world, dir = { b_fails = "connection reset" }, fresh_dir()
	eq(exit_of(fake(world, {}), "--state-dir", dir, "--yes", "--journal", "cluster"), 1, "a failed run")
	eq(#files(dir), 0, "no journal file")
	assert(fake_cluster.leases[CM], "the journal is a ConfigMap")
	world.b_fails = nil
	assert(os.execute("mkdir -p " .. dir))
	local f = assert(io.open(dir .. "/fake.journal", "w"))
	f:write('{"procedure":"fake","format":2,"status":"running","steps":{},"data":{}}')
	f:close()
	local code, msg = exit_of(fake(world, {}), "--state-dir", dir, "--yes")
	eq(code, 3, "an unfinished journal in the cluster and another in a file: refused")
	assert(msg:find("configmap openshift%-etcd/etcd%-medic%-journal%-fake"), "names both: " .. tostring(msg))
	os.remove(dir .. "/fake.journal")
	eq(exit_of(fake(world, {}), "--state-dir", dir, "--yes", "--journal", "file"), 3, "--journal file refuses it")
	local calls = {}
	eq(exit_of(fake(world, calls), "--state-dir", dir, "--yes"), 0, "auto: resumed from the cluster")
	eq(calls.a, nil, "a not redone")
	eq(calls.seen_a_id, "62bcf33650a7170a", "the cluster's record read")
	eq(fake_cluster.leases[CM], nil, "finished: the active ConfigMap is gone")
	eq(#files(dir), 0, "still no journal file")
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
	p:replace("open-gate", { actions = function(ctx) ctx:stop("refused", "no backup can be taken") end })
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
site.facts.thing = "site-%s"
site.replace("change-b", { title = "the site's b", actions = function(ctx)
	return { site.actions.command { argv = { "sh", "-c", "exit 0" } },
		{ kind = "site", lines = function() return { "site b" } end,
			run = function() SITE_LOG[#SITE_LOG + 1] = "site b" end } }
end })
]])
	f:close()
	-- b_unverified: the old step's verify would fail the run; replaced whole, nothing of it survives
	local world, calls = { b_unverified = true }, {}
	eq(exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes", "--site", site), 0, "exit")
	eq(world.a, "from-site", "site default used")
	eq(calls.b, nil, "original b replaced")
	local log = table.concat(_G.SITE_LOG, ",") -- the site file's global (it runs in this state)
	assert(log:find("before change%-a,change%-a=changed"), log)
	assert(log:find("site b"), log)
	assert(log:find("preflight=ok"), log)
	eq(world.b, nil, "the replaced step's own change did not run")
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

test("declared names: an undeclared state field, journal key or fact raises; a step's unknown field too", function()
	local p = fake({}, {})
	local ctx = assert(p:session { state_dir = fresh_dir(), yes = true })
	eq(ctx.state.seen, "a-x", "the fact, formatted by the preflight")
	for what, fn in pairs {
		["state read"] = function() return ctx.state.node end,
		["journal read"] = function() return ctx.journal.member_idd end,
		["journal write"] = function() ctx.journal.nope = 1 end,
		["fact read"] = function() return ctx.facts.things end,
		["option read"] = function() return ctx.opts.tagret end,
	} do
		local ok, err = pcall(fn)
		eq(ok, false, what .. " raises")
		assert(tostring(err):find("has no field", 1, true), what .. ": " .. tostring(err))
	end
	eq(pcall(p.step, p, { name = "old-style", run = function() end }), false, "a step with run() is refused")
	local site = tmp .. "/badfact.lua"
	local f = assert(io.open(site, "w"))
	f:write('local site = ...\nsite.facts.secret_names = {}\n')
	f:close()
	local code, msg = exit_of(fake({}, {}), "--site", site)
	eq(code, 2, "unknown fact")
	assert(msg:find("unknown fact 'secret_names'", 1, true), msg)
end)

test("journal.unfinished: a cluster's unfinished journals, with their node (what etcd-status says)", function()
	local journal = require "medic.journal"
	local dir = fresh_dir()
	local world = { b_fails = "boom" }
	eq(exit_of(fake(world, {}), "--state-dir", dir, "--yes"), 1, "a failed run keeps its journal")
	local found = journal.unfinished(dir, "fake-cluster")
	eq(#found, 0, "the fake procedure has no journal_key: its journal is not this cluster's")
	local j = assert(journal.open(dir, "proc-a.b-fake-cluster"))
	j:set("node", "master-1")
	found = journal.unfinished(dir, "fake-cluster")
	eq(#found, 1, "one unfinished journal of the cluster")
	eq(found[1].procedure, "proc-a.b")
	eq(found[1].node, "master-1")
	j:finish("done")
	eq(#journal.unfinished(dir, "fake-cluster"), 0, "a finished one does not count")
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

local function held_by(identity, renewed)
	fake_cluster.leases[LEASE] = { metadata = { name = "etcd-medic", uid = "other-uid", resourceVersion = "7" },
		spec = { holderIdentity = identity, leaseDurationSeconds = 60, acquireTime = renewed, renewTime = renewed } }
end

test("lease: taken for the run (holder named), released at the end; a dry run takes none", function()
	local world, calls = {}, {}
	eq(exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes"), 0, "exit")
	assert(tostring(calls.lease_holder):find("^etcd%-medic fake %(fake:admin%) on .+ pid %d+$"), calls.lease_holder)
	eq(fake_cluster.leases[LEASE], nil, "released")
	local w2, c2 = {}, {}
	eq(exit_of(fake(w2, c2), "--state-dir", fresh_dir(), "--dry-run"), 1, "dry run (b rejected)")
	eq(c2.lease_holder, nil, "no lease in a dry run")
end)

test("lease: another live holder refuses the run (exit 3, naming it), and nothing changes", function()
	held_by("etcd-medic fake (someone) on other-host pid 42", os.date("!%Y-%m-%dT%H:%M:%S.000000Z"))
	local world, calls, dir = {}, {}, fresh_dir()
	local code, msg = exit_of(fake(world, calls), "--state-dir", dir, "--yes")
	eq(code, 3, "exit")
	local holder = "another run holds this cluster: etcd-medic fake (someone) on other-host pid 42, since"
	assert(msg:find(holder, 1, true), msg)
	eq(world.a, nil, "a untouched")
	eq(fake_cluster.leases[LEASE].spec.holderIdentity, "etcd-medic fake (someone) on other-host pid 42", "kept")
	eq(#files(dir), 0, "no journal")
end)

test("lease: an expired one, or one whose holder on this machine is gone, is taken over", function()
	held_by("etcd-medic fake (someone) on other-host pid 42", "2020-01-01T00:00:00.000000Z")
	local world, calls = {}, {}
	eq(exit_of(fake(world, calls), "--state-dir", fresh_dir(), "--yes"), 0, "expired: taken over")
	local host = assert(io.open("/proc/sys/kernel/hostname")):read("l")
	held_by("etcd-medic fake (me) on " .. host .. " pid 999999999", os.date("!%Y-%m-%dT%H:%M:%S.000000Z"))
	local w2, c2 = {}, {}
	eq(exit_of(fake(w2, c2), "--state-dir", fresh_dir(), "--yes"), 0, "a dead holder on this machine: taken over")
	eq(fake_cluster.leases[LEASE], nil, "released")
end)

test("ctx:wait is bounded and reports progress", function()
	local p = procedure.new { name = "w" }
	local ctx
	p:prerequisites { { "look", "keeps the ctx", function(c) ctx = c end } }
	p:step { name = "noop", done = function() return "nothing to do" end, actions = function() return {} end }
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

test("actions.wait with settle: done only once steady (a ctx:now() time, or true) has held that long", function()
	local actions = require "medic.actions"
	local p = procedure.new { name = "s" }
	local ctx
	p:prerequisites { { "look", "keeps the ctx", function(c) ctx = c end } }
	p:step { name = "noop", done = function() return "nothing to do" end, actions = function() return {} end }
	eq(exit_of(p, "--state-dir", fresh_dir()), 0, "exit")
	-- steady since long ago (a time): done at the first poll that is done
	local polls, t0 = 0, ctx:now()
	actions.wait { what = "w", timeout = 5, interval = 0.01, settle = 0.3,
		poll = function() polls = polls + 1; return polls >= 2, "p", t0 - 1 end }:run(ctx)
	eq(polls, 2, "polls with steadiness from the past")
	-- a crash resets it (steady false): not done before settle seconds from the new start
	polls = 0
	local start, restart = ctx:now(), nil
	actions.wait { what = "w", timeout = 5, interval = 0.02, settle = 0.3, poll = function()
		polls = polls + 1
		if polls == 3 then return true, "crashed", false end
		restart = restart or (polls > 3 and ctx:now()) or nil
		return true, "p", restart or start
	end }:run(ctx)
	assert(ctx:now() - restart >= 0.3, "held the settle time after the crash")
	-- steady = true (no time): the clock starts at the first steady poll
	local first
	actions.wait { what = "w", timeout = 5, interval = 0.02, settle = 0.2,
		poll = function() first = first or ctx:now(); return true, "p" end }:run(ctx)
	assert(ctx:now() - first >= 0.2, "held from the first steady poll")
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

-- A site's approval before change-b (ctx:confirm): p.prompt answers "approve?" with `approve` and the plan with yes;
-- can_ask says whether there is a terminal. The host's audit records are kept in `records`.
local function approving(world, calls, approve, terminal, records)
	local p = fake(world, calls)
	p.prompt = function(q)
		if not q:find("approve") then return true end
		calls.asked = (calls.asked or 0) + 1
		return approve
	end
	p.can_ask = function() return terminal end
	p:before("change-b", function(ctx) ctx:confirm("change ticket approve?") end)
	local host = require "medic.host"
	host.audit = function(kind, message, fields)
		if kind == "asked" then records[#records + 1] = { message = message, answer = fields.answer } end
	end
	return p
end

test("ctx:confirm: asked on the terminal; yes goes on, audited", function()
	local world, calls, records = {}, {}, {}
	eq(exit_of(approving(world, calls, true, true, records), "--state-dir", fresh_dir()), 0, "exit")
	eq(calls.asked, 1, "asked once")
	eq(world.b, true, "b done")
	eq(records[1] and records[1].answer, "answered yes at the prompt", "audit")
end)

test("ctx:confirm: --yes answers it without asking, audited", function()
	local world, calls, records = {}, {}, {}
	eq(exit_of(approving(world, calls, false, false, records), "--state-dir", fresh_dir(), "--yes"), 0, "exit")
	eq(calls.asked, nil, "not asked")
	eq(world.b, true, "b done")
	eq(records[1] and records[1].answer, "--yes", "audit")
end)

test("ctx:confirm: no ends the run before the step (exit 1), the gate closed again", function()
	local world, calls, records = {}, {}, {}
	local code, msg = exit_of(approving(world, calls, false, true, records), "--state-dir", fresh_dir())
	eq(code, 1, "exit")
	assert(tostring(msg):find("not confirmed: change ticket approve?", 1, true), tostring(msg))
	eq(world.b, nil, "b not done")
	eq(world.gate, false, "gate closed again")
	eq(records[1] and records[1].answer, "answered no at the prompt", "audit")
end)

test("ctx:confirm: no terminal and no --yes refuses, saying what to do (exit 3 before any change, else 1)", function()
	local world, calls, records = {}, {}, {}
	local code, msg = exit_of(approving(world, calls, true, false, records), "--state-dir", fresh_dir())
	eq(code, 1, "exit after changes")
	assert(tostring(msg):find("no terminal to ask on", 1, true) and msg:find("--yes", 1, true), tostring(msg))
	eq(calls.asked, nil, "not asked")
	eq(world.b, nil, "b not done")
	eq(world.gate, false, "gate closed again")
	assert(records[1] and records[1].answer:find("^refused"), "audit")
	local p = approving({}, {}, true, false, {})
	p:before("preflight", function(ctx) ctx:confirm("approve the run?") end)
	eq(exit_of(p, "--state-dir", fresh_dir()), 3, "exit before any change")
end)

test("ctx:confirm: a dry run asks nothing", function()
	local world, calls, records = {}, {}, {}
	local p = approving(world, calls, false, false, records)
	p:before("preflight", function(ctx) ctx:confirm("approve the dry run?") end)
	eq(exit_of(p, "--state-dir", fresh_dir(), "--dry-run"), 1, "exit (b's rehearsal is rejected, as above)")
	eq(calls.asked, nil, "not asked")
	eq(#records, 0, "no audit record")
end)

os.execute("rm -rf '" .. tmp .. "'")
print(string.format("%d/%d passed", count - failures, count))
if failures > 0 then error({ exit_code = 1, message = failures .. " failed" }, 0) end
