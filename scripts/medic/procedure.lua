-- etcd-medic-api: 2
-- The procedure engine: a procedure is written as its document, and the engine gives it a plan, --dry-run, --yes,
-- a journal and resume, --site files and cleanup (docs/procedures.md is the guide).
--
--   local P = procedure.new { name =, title =, facts = {...}, options = {...}, state = {...}, journal = {...},
--                             journal_key = function(ctx) -> which cluster,
--                             permissions = {...}, -- what it may do in the cluster (medic.permissions)
--                             job = {...} }        -- how it runs as a Job (medic.incluster.manifests)
--   P:prerequisites { { "name", "what it checks", function(ctx) ... end }, ... }      -- the step "preflight"
--   P:step { name =, title =, skip = fn, done = fn, actions = fn, cleanup = bool }     -- one per step of the document
--   P:verification { { "name", "what it checks", function(ctx) ... end }, ... }       -- the step "verify"
--   return P:main(...)
--
-- A step: skip(ctx) -> a note when it does not apply; done(ctx) -> a note when it is already done (what makes
-- re-runs and resume safe); actions(ctx) -> the list of its changes (medic.actions), from which the plan, the dry
-- run and the run all come. A check, a skip/done/actions function or an action that cannot go on calls
-- ctx:stop(outcome, message) ("nothing to do", "refused", "failed"); otherwise it returns and its part is done.
local arguments = require "medic.procedure.arguments"
local context = require "medic.procedure.context"
local failure = require "medic.procedure.failure"
local lease = require "medic.procedure.lease"
local audit = require "medic.procedure.audit"
local runner = require "medic.procedure.runner"
local site = require "medic.procedure.site"
local ui = require "medic.ui"

local procedure = {}
local Proc = {}
Proc.__index = Proc

local DEFINITION = { name = true, title = true, facts = true, options = true, state = true, journal = true,
	journal_key = true, read_only = true, where = true, permissions = true,
	job = true }
local STEP = { name = true, title = true, skip = true, done = true, actions = true, cleanup = true }

local function refuse_unknown(t, known, what)
	for k in pairs(t) do
		if not known[k] then error(what .. " has no field '" .. tostring(k) .. "'", 3) end
	end
end

-- Is there a terminal to ask a question on (ctx:confirm)? A test replaces it, as it does prompt.
local function can_ask() return require("medic.host").isatty("stdin") end

function procedure.new(def)
	assert(type(def) == "table" and type(def.name) == "string", "procedure.new{name=...}")
	refuse_unknown(def, DEFINITION, "procedure.new{}")
	-- the script that calls this: "@[embedded]/NAME.lua" when shipped, else "@FILE" (an ejected or own copy)
	local source = debug.getinfo(2, "S").source
	return setmetatable({
		file = not source:find("^@%[embedded%]") and source:match("^@(.+)$") or nil,
		name = def.name, title = def.title, options = def.options or {}, facts = def.facts or {},
		state_names = def.state or {}, journal_names = def.journal or {}, journal_key = def.journal_key,
		steps = {}, hooks = { before = {}, after = {} }, prompt = ui.confirm, can_ask = can_ask,
		read_only = def.read_only, where = def.where, permissions = def.permissions or {},
		job = def.job,
	}, Proc)
end

function Proc:find(name)
	for i, s in ipairs(self.steps) do if s.name == name then return s, i end end
end

function Proc:step_names()
	local names = {}
	for i, s in ipairs(self.steps) do names[i] = s.name end
	return names
end

local function check_step(def)
	assert(type(def) == "table" and type(def.name) == "string", "step{name=...}")
	if not def.checks then
		refuse_unknown(def, STEP, "step " .. def.name)
		assert(type(def.actions) == "function", "step " .. def.name .. " needs actions(ctx)")
	end
	return def
end

function Proc:step(def)
	check_step(def)
	assert(not self:find(def.name), "duplicate step " .. def.name)
	self.steps[#self.steps + 1] = def
	return def
end

local function checks_of(list)
	local out = {}
	for i, c in ipairs(list) do
		local name, title, fn = c.name or c[1], c.title or c[2], c.check or c[3]
		assert(type(name) == "string" and type(fn) == "function", "check " .. i .. ": { name, title, function }")
		out[i] = { name = name, title = title or name, check = fn }
	end
	return out
end

-- A prerequisite: the user may do what the procedure declares (procedure.new{permissions = ...}).
function procedure.check_permissions(ctx) return ctx:need_permissions() end

-- The document's "before you start": checks that only read, run first, each named in the output.
function Proc:prerequisites(list)
	return self:step { name = "preflight", title = "Check that this procedure applies and is safe (read only)",
		read_only = true, checks = checks_of(list) }
end

-- A read-only procedure's report (procedure.new{read_only = true}): sections run in order, each printing its part;
-- no journal, no plan, no confirmation.
function Proc:report(list)
	assert(self.read_only, "report{} is for a procedure.new{read_only = true}")
	return self:step { name = "report", title = self.title, read_only = true, checks = checks_of(list) }
end

-- The document's "verification": checks after the changes; not a change, so no confirmation.
function Proc:verification(list)
	return self:step { name = "verify", title = "Verify", observe = true, checks = checks_of(list) }
end

------------------------------------------------------------------------------------------------ site hooks

local function need_step(self, name)
	if name ~= "*" and not self:find(name) then
		failure.usage("no step '" .. tostring(name) .. "' in " .. self.name .. " (steps: "
			.. table.concat(self:step_names(), ", ") .. ")")
	end
end

-- Hooks: fn(ctx, step) before a step's check; fn(ctx, step, status) after it. "*" means every step.
function Proc:before(name, fn) need_step(self, name); table.insert(self.hooks.before, { name, fn }) end
function Proc:after(name, fn) need_step(self, name); table.insert(self.hooks.after, { name, fn }) end

-- Replaces the named step whole with `def` (its name is kept): nothing of the old step survives.
function Proc:replace(name, def)
	need_step(self, name)
	local _, i = self:find(name)
	def.name = name
	self.steps[i] = check_step(def)
	return def
end

-- Inserts a new step after the named one.
function Proc:add_after(name, def)
	need_step(self, name)
	local _, i = self:find(name)
	assert(type(def) == "table" and def.name and not self:find(def.name), "add_after: a step with a new name")
	table.insert(self.steps, i + 1, check_step(def))
	return def
end

------------------------------------------------------------------------------------------------ running

-- The options (site defaults, then the command line) and a ctx with its journal open.
local function start(self, args)
	local given = arguments.parse(self, args)
	if given.site then site.load(self, given.site) end
	local ctx = context.new(self, arguments.resolve(self, given), args)
	return ctx, given
end

local function open(self, ctx)
	-- first of all: the API server answers and takes the credentials (a wrong port, CA or token said as such, fast)
	local user, why = ctx.cluster:check_access()
	if not user then failure.fail(why) end
	ctx.user = user
	if not ctx.dry_run then lease.check_free(ctx) end -- another run's changes in progress are not the state to judge
	ctx.cluster_id = self.journal_key and self.journal_key(ctx)
	context.open_journal(ctx, ctx.cluster_id)
	if ctx.resuming then
		ui.say("resuming the run started %s (journal %s)", tostring(ctx.record.doc.started), ctx.record.path)
	end
end

-- A read-only procedure: its report's sections, in order.
local function report(self, ctx)
	local user, why = ctx.cluster:check_access()
	if not user then failure.fail(why) end
	for _, step in ipairs(self.steps) do
		for _, c in ipairs(step.checks) do c.check(ctx) end
	end
	return 0
end

-- --dry-run: the mutations the API can check, sent with dryRun=All; nothing else.
local function dry_run(self, ctx)
	ui.say("")
	ui.say("dry run: server-side checks of the mutations")
	local rejected = runner.rehearse(self, ctx)
	ui.say("")
	ui.say("dry run: nothing was changed")
	if rejected > 0 then failure.fail(rejected .. " mutation(s) rejected by the server in the dry run") end
	return 0
end

-- The changes, under the cluster's lease (one run at a time), released whatever happens.
local function execute(self, ctx, results)
	lease.take(ctx)
	audit.start(self, ctx, runner.where(self, ctx))
	audit.confirmed(ctx.opts.yes and "--yes" or "answered yes at the prompt")
	local done, failed = pcall(runner.execute, self, ctx, results)
	lease.release(ctx)
	if not done then error(failed, 0) end
	audit.outcome(self, "done", results)
	ctx.record:finish("done")
	runner.summary(self, ctx, results)
	ui.say("")
	ui.say("%s: done", self.name)
	return 0
end

-- Runs the procedure with the script's arguments. Returns 0 when done (or nothing to do); otherwise raises
-- {outcome =, exit_code = 1 (failed) | 2 (usage) | 3 (refused) | 130 (interrupted), message =}.
function Proc:main(...)
	if procedure.define_only then return self end -- loaded as a library (the REPL's cluster:step)
	local args = { ... }
	local ctx, given = start(self, args)
	if given.help then print(arguments.help(self)); return 0 end
	if self.read_only then return report(self, ctx) end
	local results = {}
	local ok, err = pcall(function()
		open(self, ctx)
		runner.check(self, ctx, results)
	end)
	if not ok then
		if not ctx.record then error(err, 0) end
		return runner.stop_early(self, ctx, results, err)
	end
	local pending = runner.plan(self, ctx)
	if pending == 0 and not self:find("verify") then
		ctx.record:finish("done")
		ui.say("")
		ui.say("nothing to do: every step is already done")
		return 0
	end
	if ctx.dry_run then return dry_run(self, ctx) end
	local question = string.format("\nProceed with %d step(s) above?", pending)
	if pending > 0 and not ctx.opts.yes and not self.prompt(question) then
		failure.fail("not confirmed; nothing was changed")
	end
	return execute(self, ctx, results)
end

------------------------------------------------------------------------------------------------ by hand

-- For the REPL: a ctx from a table of options ({node = "master-1", yes = true}), the prerequisites checked.
-- Returns ctx, or nil and a message (nothing to do, or a refusal).
function Proc:session(options)
	local ctx = start(self, arguments.from_table(options))
	local ok, err = pcall(function()
		open(self, ctx)
		runner.check(self, ctx, {})
	end)
	if not ok then return nil, failure.message(err) end
	return ctx
end

-- Runs one step in a session: check, show the plan, confirm (unless yes), run and verify.
-- Returns its status ("ok", "changed", "skipped", "planned" in a dry run, "not confirmed") and a note.
function Proc:run_step(ctx, name)
	local step = self:find(name)
	need_step(self, name)
	if step.read_only then runner.run_checks(ctx, step); return "ok" end
	local status, note = runner.settled(step, ctx)
	if status then return status, note end
	for _, a in ipairs(runner.plan_step(ctx, step)) do
		for _, line in ipairs(a:lines(ctx)) do ui.say("  %s", line) end
	end
	if ctx.dry_run then
		for _, a in ipairs(ctx.plans[name]) do if a.rehearse then a:rehearse(ctx) end end
		return "planned"
	end
	if not step.observe and not ctx.opts.yes and not self.prompt("Run step " .. name .. "?") then
		return "not confirmed"
	end
	if not step.observe then lease.take(ctx) end
	local done
	done, status, note = pcall(runner.execute_step, self, ctx, step)
	lease.release(ctx)
	if not done then error(status, 0) end
	if step == self.steps[#self.steps] then ctx.record:finish("done") end -- the last step done by hand ends the run
	return status, note
end

return procedure
