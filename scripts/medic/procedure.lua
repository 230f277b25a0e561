-- etcd-medic-api: 1
-- Step framework: named steps with check/plan/run/verify, --dry-run, --yes, journal and resume, --site hooks, cleanup.
--
-- A procedure is a list of named steps. Steps marked `read_only` (the preflight) run first and only read.
-- Every other step has:
--   check(ctx)  -> "ok" | "skipped" | nil, note   is it already done (or not applicable)? Makes re-runs safe.
--   plan(ctx)   -> { "line", ... }                what it would change, with the concrete values.
--   run(ctx)                                      does it (raise to fail; ctx:fail/ctx:refuse give the exit code).
--   verify(ctx) -> true | false, message          did it take effect? (optional)
--   dry_run(ctx)                                  optional: send the mutations with dryRun=All (server-side check).
--   cleanup = true                                also runs when a later step fails or the run is interrupted.
--   observe = true                                a checking step after the changes (verification): it is not
--                                                 a change, needs no confirmation, and run() may return "ok".
-- The framework prints the plan, asks for confirmation (unless --yes), then runs each step: before hooks,
-- check again, journal "started", run, verify, journal the status, after hooks. On failure it runs the cleanup
-- steps not yet run, prints what was and was not done and how to resume, and exits 1 (130 when interrupted).
local journal = require "medic.journal"

local procedure = {}
local Proc = {}
Proc.__index = Proc

-- Options every procedure has, listed after its own.
local COMMON_OPTIONS = {
	{ name = "dry-run", flag = true, help = "read only: print every mutation with its values, send deletes and patches with dryRun=All" },
	{ name = "yes", flag = true, help = "do not ask for confirmation" },
	{ name = "state-dir", arg = "DIR", help = "where the journal is kept (default $XDG_STATE_HOME/etcd-medic or ~/.local/state/etcd-medic)" },
	{ name = "site", arg = "FILE.lua", help = "site file: option defaults, before/after hooks, replaced steps" },
	{ name = "help", flag = true, help = "show this help" },
}

local function key_of(name) return (name:gsub("-", "_")) end

-- Raised errors carry an exit code; the host maps {exit_code=, message=} to the process exit status.
local function raise(code, message) error({ exit_code = code, message = message }, 0) end
procedure.raise = raise

function procedure.is_interrupt(err)
	local text = type(err) == "table" and (err.code or err.message) or err
	return type(text) == "string" and text:lower():find("interrupt", 1, true) ~= nil
end

local function errmsg(err)
	if type(err) == "table" then return tostring(err.message or err.msg or err.code or "error") end
	return tostring(err)
end

-- Output: through medic.ui when the host provides it (step headers, coloured marks on a terminal, the audit
-- log, redaction), plain lines otherwise; either way a run piped to a file reads as a log.
local has_ui, ui = pcall(require, "medic.ui")
if not has_ui then ui = nil end
local has_output, output = pcall(require, "medic.output")
if not has_output then output = nil end

local function say(fmt, ...)
	local line = string.format(fmt, ...)
	if output then line = output.redact(line) end
	io.stdout:write(line, "\n")
	io.stdout:flush()
end
procedure.say = say

------------------------------------------------------------------------------------------------ options

local function all_options(self)
	local list = {}
	for _, o in ipairs(self.options) do list[#list + 1] = o end
	for _, o in ipairs(COMMON_OPTIONS) do list[#list + 1] = o end
	return list
end

local function find_option(self, name)
	for _, o in ipairs(all_options(self)) do
		if o.name == name or key_of(o.name) == name then return o end
	end
end

local function convert(o, value)
	if o.number then
		local n = tonumber(value)
		if not n then raise(2, "--" .. o.name .. " wants a number, not '" .. tostring(value) .. "'") end
		return n
	end
	if o.choices then
		for _, c in ipairs(o.choices) do if c == value then return value end end
		raise(2, "--" .. o.name .. " must be one of " .. table.concat(o.choices, ", "))
	end
	if o.check then -- checked here, before any request is made; a value that fails it is refused (exit 3)
		local ok, why = o.check(value)
		if not ok then raise(3, "--" .. o.name .. ": " .. tostring(why or "invalid value") .. "; nothing was changed") end
	end
	return value
end

-- Parses "--name value", "--name=value" and "--flag"; returns the given options keyed by their Lua name.
local function parse_args(self, args)
	local given, i = {}, 1
	while i <= #args do
		local a = args[i]
		local name, inline = a:match("^%-%-([%w%-]+)=(.*)$")
		name = name or a:match("^%-%-([%w%-]+)$")
		local o = name and find_option(self, name)
		if not o then raise(2, "unknown argument '" .. a .. "' (see --help)") end
		if o.flag then
			if inline then raise(2, "--" .. o.name .. " takes no value") end
			given[key_of(o.name)] = true
		else
			local v = inline
			if not v then
				i = i + 1
				v = args[i]
				if v == nil then raise(2, "--" .. o.name .. " needs a value") end
			end
			given[key_of(o.name)] = convert(o, v)
		end
		i = i + 1
	end
	return given
end

function Proc:help()
	local lines = { "usage: etcd-medic run " .. self.name .. " [OPTIONS]", "", self.title or "", "", "options:" }
	for _, o in ipairs(all_options(self)) do
		local left = "  --" .. o.name .. (o.arg and (" " .. o.arg) or "")
		local default = o.default ~= nil and not o.flag and ("  (default: " .. tostring(o.default) .. ")") or ""
		lines[#lines + 1] = string.format("%-30s %s%s", left, o.help or "", default)
	end
	lines[#lines + 1] = ""
	lines[#lines + 1] = "steps: " .. table.concat(self:step_names(), ", ")
	return table.concat(lines, "\n")
end

------------------------------------------------------------------------------------------------ steps

-- procedure.new{name=, title=, options={ {name=, arg=, default=, help=, flag=, number=, choices=,
--                                         check=function(value) -> ok, why} ... },
--               journal_key=function(ctx) -> string (which cluster; default: none)}
function procedure.new(def)
	assert(type(def) == "table" and type(def.name) == "string", "procedure.new{name=...}")
	local self = setmetatable({
		name = def.name, title = def.title, options = def.options or {}, journal_key = def.journal_key,
		steps = {}, hooks = { before = {}, after = {} },
		prompt = procedure.prompt,
	}, Proc)
	return self
end

function Proc:step(def)
	assert(type(def) == "table" and type(def.name) == "string", "step{name=...}")
	assert(def.read_only or type(def.run) == "function", "step " .. def.name .. " needs run()")
	assert(not self:find(def.name), "duplicate step " .. def.name)
	self.steps[#self.steps + 1] = def
	return def
end

function Proc:find(name)
	for i, s in ipairs(self.steps) do if s.name == name then return s, i end end
end

function Proc:step_names()
	local names = {}
	for i, s in ipairs(self.steps) do names[i] = s.name end
	return names
end

local function need_step(self, name)
	if name == "*" then return end
	if not self:find(name) then
		raise(2, "no step '" .. tostring(name) .. "' in " .. self.name .. " (steps: " .. table.concat(self:step_names(), ", ") .. ")")
	end
end

-- Hooks: fn(ctx, step) before a step's check; fn(ctx, step, status) after it. "*" means every step.
function Proc:before(name, fn) need_step(self, name); table.insert(self.hooks.before, { name, fn }) end
function Proc:after(name, fn) need_step(self, name); table.insert(self.hooks.after, { name, fn }) end

-- Replaces the fields of a step given in `fields` (all of them, to replace the step outright).
function Proc:replace(name, fields)
	need_step(self, name)
	local step = self:find(name)
	for k, v in pairs(fields) do step[k] = v end
	step.name = name
	return step
end

-- Inserts a new step after the named one.
function Proc:add_after(name, def)
	need_step(self, name)
	local _, i = self:find(name)
	assert(type(def) == "table" and def.name and not self:find(def.name), "add_after: a step with a new name")
	table.insert(self.steps, i + 1, def)
	return def
end

------------------------------------------------------------------------------------------------ site file

-- A site file is a Lua chunk called with the site API (it may also return a function taking it):
--   local site = ...
--   site.options.backup_dir = "/srv/etcd-backups"
--   site.before("remove-member", function(ctx, step) ... end)
--   site.replace("backup", { run = function(ctx) ... end })
function Proc:load_site(path)
	local chunk, err = loadfile(path, "t")
	if not chunk then raise(2, "cannot load the site file: " .. tostring(err)) end
	local site = {
		options = {},
		procedure = self,
		before = function(name, fn) self:before(name, fn) end,
		after = function(name, fn) self:after(name, fn) end,
		replace = function(name, fields) return self:replace(name, fields) end,
		add_after = function(name, def) return self:add_after(name, def) end,
		step = function(name) return (self:find(name)) end,
	}
	local ok, ret = pcall(chunk, site)
	if ok and type(ret) == "function" then ok, ret = pcall(ret, site) end
	if not ok then
		if type(ret) == "table" and ret.exit_code then error(ret, 0) end
		raise(2, "the site file " .. path .. " failed: " .. errmsg(ret))
	end
	for k, v in pairs(site.options) do
		local o = find_option(self, k)
		if not o then raise(2, "the site file " .. path .. " sets an unknown option '" .. tostring(k) .. "'") end
		o.default = v
	end
end

------------------------------------------------------------------------------------------------ context

local Ctx = {}
Ctx.__index = Ctx

function Ctx:refuse(message) raise(3, message) end
function Ctx:fail(message) raise(1, message) end
-- Ends the run early with exit 0 (for example: the cluster is healthy, there is nothing to repair).
function Ctx:nothing_to_do(message) error({ nothing_to_do = true, message = message }, 0) end
function Ctx:say(fmt, ...) say("      " .. fmt, ...) end

-- Sleeps `seconds` (fractions allowed); Ctrl-C ends it with exit code 130. The host's sleep wakes for Ctrl-C;
-- without the host (plain Lua), sleep(1) from the base system.
function procedure.sleep(seconds)
	if output and output.sleep then
		local ok, msg = output.sleep(seconds)
		if not ok then raise(130, msg or "interrupted") end
		return
	end
	local ok, how, code = os.execute(string.format("sleep %.3f", seconds))
	if not ok and how == "signal" and (code == 2 or code == 15) then raise(130, "interrupted") end
end

-- Polls `poll()` until it returns true, printing its progress line when it changes; bounded by time and count.
--   ctx:wait{what="...", timeout=SECONDS, interval=SECONDS, poll=function() -> done, progress end}
-- Returns true, or nil and a message naming the last progress seen.
function Ctx:wait(w)
	local interval = w.interval or 2
	local deadline = os.time() + (w.timeout or 600)
	local last, progress
	for _ = 1, math.max(2, math.ceil((w.timeout or 600) / interval) * 4) do
		local done
		done, progress = w.poll()
		if progress and progress ~= last then
			say("      %s", progress)
			last = progress
		end
		if done then return true end
		if os.time() >= deadline then break end
		procedure.sleep(interval)
	end
	return nil, string.format("timed out after %ds waiting for %s (last: %s)", w.timeout or 600, w.what or "a condition",
		tostring(progress or "nothing"))
end

------------------------------------------------------------------------------------------------ running

local MARK = { ok = "ok", changed = "changed", skipped = "skipped", failed = "FAILED", pending = "not run" }

local function run_hooks(self, list, ctx, step, status)
	for _, h in ipairs(list) do
		if h[1] == "*" or h[1] == step.name then h[2](ctx, step, status) end
	end
end

local function normalize_check(status)
	if status == true or status == "ok" then return "ok" end
	if status == "skipped" or status == "skip" then return "skipped" end
	return nil
end

local function header(self, i, step)
	local title = step.name .. (step.title and (": " .. step.title) or "")
	if ui then ui.step(title, i, #self.steps) else say("[%d/%d] %s", i, #self.steps, title) end
end

-- A step's result: "    [changed] note".
local function mark(status, note)
	if ui then ui.mark(status, note or "") else say("      %s%s", MARK[status] or status, note and (": " .. note) or "") end
end

-- Runs a mutating step for real: re-check, journal intent, run, verify. Returns status, note.
local function execute_step(self, ctx, step)
	run_hooks(self, self.hooks.before, ctx, step)
	local status, note = nil, nil
	if step.check then status, note = step.check(ctx); status = normalize_check(status) end
	if not status then
		if not step.observe then ctx.journal:step(step.name, "started") end
		local ran = step.run(ctx)
		if step.verify then
			local ok, msg = step.verify(ctx)
			if not ok then raise(1, "verification failed: " .. tostring(msg or "no detail")) end
		end
		status = normalize_check(ran) or "changed"
	end
	if not step.observe then ctx.journal:step(step.name, status) end
	run_hooks(self, self.hooks.after, ctx, step, status)
	return status, note
end

local function print_summary(self, results)
	say("")
	say("summary:")
	for _, step in ipairs(self.steps) do
		local r = results[step.name] or { status = "pending" }
		say("  %-22s %-8s %s", step.name, MARK[r.status] or r.status, r.note or "")
	end
end

-- Runs fn(...) protected, with the Ctrl-C flag held off, so that the cleanup an interrupt calls for is not cut
-- short by that same interrupt (the C cores provide this; without one, a plain pcall).
local function uninterrupted(fn, ...)
	local has_core, core = pcall(require, "medic.node.core")
	if has_core and type(core) == "table" and core.uninterrupted then return core.uninterrupted(fn, ...) end
	return pcall(fn, ...)
end

-- Runs the cleanup steps that have not run yet (their check decides whether anything is left to undo).
-- Cleanup runs with the Ctrl-C flag cleared: the interrupt that ended the run must not also cut short the
-- restore it triggers (a second Ctrl-C still kills the process).
local function uninterrupted(fn, ...)
	local ok, core = pcall(require, "medic.node.core")
	if ok and core.uninterrupted then return core.uninterrupted(fn, ...) end
	return pcall(fn, ...)
end

local function run_cleanups(self, ctx, results, from)
	for i = from, #self.steps do
		local step = self.steps[i]
		if step.cleanup and not results[step.name] then
			if ui then ui.step("cleanup: " .. step.name) else say("[cleanup] %s", step.name) end
			local ok, status, note = uninterrupted(execute_step, self, ctx, step)
			if ok then
				results[step.name] = { status = status, note = note or "(cleanup)" }
			else
				results[step.name] = { status = "failed", note = "(cleanup) " .. errmsg(status) }
			end
			mark(results[step.name].status, results[step.name].note)
		end
	end
end

function Proc:command_line(args)
	local parts = { "etcd-medic run " .. self.name }
	for _, a in ipairs(args) do
		if a ~= "--dry-run" then
			parts[#parts + 1] = a:find("^[%w%-%._/=:,@]+$") and a or ("'" .. a:gsub("'", "'\\''") .. "'")
		end
	end
	return table.concat(parts, " ")
end

-- The confirmation prompt; returns true to go ahead. Replaceable (tests, site files).
function procedure.prompt(question)
	io.stdout:write(question, " [y/N] ")
	io.stdout:flush()
	local answer = io.stdin:read("l")
	return answer ~= nil and answer:match("^%s*[yY]") ~= nil
end

local function make_ctx(self, opts, args)
	local ctx = setmetatable({ opts = opts, dry_run = opts.dry_run == true, procedure = self, args = args }, Ctx)
	return ctx
end

local function open_journal(self, ctx)
	local dir, err = journal.state_dir(ctx.opts.state_dir)
	if not dir then raise(2, err) end
	local key = self.journal_key and self.journal_key(ctx)
	local name = self.name .. (key and key ~= "" and ("-" .. key:gsub("[^%w%.%-_]", "_")) or "")
	local j, jerr = journal.open(dir, name)
	if not j then raise(3, jerr) end
	if ctx.dry_run then
		-- A dry run keeps its records in memory only: it must leave no trace.
		j.save = function() return true end
		j.finish = function() return true end
	end
	ctx.journal, ctx.resuming = j, j:resuming()
	return j
end

-- Phase 1: the read-only steps, in order.
local function observe(self, ctx, results)
	for i, step in ipairs(self.steps) do
		if step.read_only then
			header(self, i, step)
			run_hooks(self, self.hooks.before, ctx, step)
			step.run(ctx)
			results[step.name] = { status = "ok" }
			run_hooks(self, self.hooks.after, ctx, step, "ok")
			mark("ok", "checks passed")
		end
	end
end

-- Phase 2: check each mutating step and collect the plan. Returns the number of steps with work to do.
local function make_plan(self, ctx, plans)
	local pending = 0
	say("")
	say("plan:")
	for _, step in ipairs(self.steps) do
		if not step.read_only then
			local status, note
			if step.check then status, note = step.check(ctx); status = normalize_check(status) end
			if status then
				say("  %-22s %s%s", step.name, status == "ok" and "already done" or "skipped", note and (": " .. note) or "")
			else
				local lines = step.plan and step.plan(ctx) or { step.title or step.name }
				plans[step.name] = lines
				if not step.observe then pending = pending + 1 end
				say("  %-22s", step.name)
				for _, line in ipairs(lines) do say("      %s", line) end
			end
		end
	end
	return pending
end

local function rehearse(self, ctx, plans)
	local failed = 0
	for _, step in ipairs(self.steps) do
		if plans[step.name] and step.dry_run then
			local ok, err = pcall(step.dry_run, ctx)
			if ok then
				say("  %-22s accepted by the server (dryRun=All)", step.name)
			else
				failed = failed + 1
				say("  %-22s REJECTED: %s", step.name, errmsg(err))
			end
		end
	end
	return failed
end

local function fail_run(self, ctx, results, failed_index, err, args)
	local interrupted = procedure.is_interrupt(err)
	local step = self.steps[failed_index]
	results[step.name] = { status = "failed", note = errmsg(err) }
	pcall(ctx.journal.step, ctx.journal, step.name, interrupted and "interrupted" or "failed")
	mark("failed", (interrupted and "interrupted: " or "") .. errmsg(err))
	local from = failed_index + 1
	if interrupted and step.cleanup then -- Ctrl-C during a cleanup step: it runs again, uninterrupted
		results[step.name] = nil
		from = failed_index
	end
	run_cleanups(self, ctx, results, from)
	print_summary(self, results)
	local code = interrupted and 130 or (type(err) == "table" and err.exit_code) or 1
	local changed = false
	for _, r in pairs(results) do changed = changed or r.status == "changed" end
	if code == 3 and changed then code = 1 end -- "refused" promises that nothing was changed
	if code == 3 then ctx.journal:discard() end
	say("")
	if code == 3 then
		say("refused: %s", errmsg(err))
		say("Nothing was changed.")
		error(err, 0)
	end
	say("The steps marked ok or changed are done; the others are not. The journal is kept in %s.", ctx.journal.path)
	say("Fix the cause, then run the same command again to resume:")
	say("  %s", self:command_line(args))
	raise(code, string.format("%s %s at step %s: %s", self.name, interrupted and "interrupted" or "failed",
		step.name, errmsg(err)))
end

-- Phase 4: run the mutating steps.
local function execute(self, ctx, results, args)
	for i, step in ipairs(self.steps) do
		if not step.read_only then
			header(self, i, step)
			local ok, status, note = uninterrupted(execute_step, self, ctx, step)
			if not ok then return fail_run(self, ctx, results, i, status, args) end
			results[step.name] = { status = status, note = note }
			mark(status, note or (status == "changed" and "done" or step.observe and "checks passed" or "nothing to change"))
		end
	end
end

local function finish_early(self, ctx, results, err)
	if type(err) == "table" and err.nothing_to_do then
		ctx.journal:finish("done")
		say("")
		say("%s", err.message or "nothing to do")
		return true
	end
	if ctx.resuming then
		-- A resumed run stopped before it could go on: what the interrupted run left half done (an override,
		-- say) is put back by the cleanup steps, and the journal stays for the next attempt.
		run_cleanups(self, ctx, results, 1)
		print_summary(self, results)
		say("")
		say("stopped: %s", errmsg(err))
		say("The journal is kept in %s; once the cause is fixed, run the same command again.", ctx.journal.path)
		local code = procedure.is_interrupt(err) and 130 or 1
		raise(code, errmsg(err))
	end
	-- A refusal (or any error) before the first mutation: nothing was changed.
	print_summary(self, results)
	if type(err) == "table" and err.exit_code then
		say("")
		say("%s: %s", err.exit_code == 3 and "refused" or "failed", errmsg(err))
		say("Nothing was changed.")
		error(err, 0)
	end
	error(err, 0)
end

-- Runs the procedure with the script's arguments. Returns 0 when done (or nothing to do); otherwise raises
-- {exit_code = 1 (failed) | 2 (usage) | 3 (refused) | 130 (interrupted), message = ...}.
-- Options: the defaults (from the script, then the site file) overridden by the command line.
local function resolve(self, given)
	if given.site then self:load_site(given.site) end
	local opts = {}
	for _, o in ipairs(all_options(self)) do opts[key_of(o.name)] = o.default end
	for k, v in pairs(given) do opts[k] = v end
	return opts
end

function Proc:main(...)
	if procedure.define_only then return self end -- loaded as a library (the REPL's cluster:step)
	local args = { ... }
	local given = parse_args(self, args)
	if given.help then resolve(self, given); print(self:help()); return 0 end
	local opts = resolve(self, given)

	local ctx = make_ctx(self, opts, args)
	local results = {}
	local ok, err = pcall(function()
		open_journal(self, ctx)
		if ctx.resuming then
			say("resuming the run started %s (journal %s)", tostring(ctx.journal.doc.started), ctx.journal.path)
		end
		observe(self, ctx, results)
	end)
	if not ok then
		if not ctx.journal then error(err, 0) end
		return finish_early(self, ctx, results, err) and 0
	end

	local plans = {}
	local pending = make_plan(self, ctx, plans)
	local observing = false
	for _, step in ipairs(self.steps) do observing = observing or step.observe == true end
	if pending == 0 and not observing then
		ctx.journal:finish("done")
		say("")
		say("nothing to do: every step is already done")
		return 0
	end
	if ctx.dry_run then
		say("")
		say("dry run: server-side checks of the mutations")
		local rejected = rehearse(self, ctx, plans)
		say("")
		say("dry run: nothing was changed")
		if rejected > 0 then raise(1, rejected .. " mutation(s) rejected by the server in the dry run") end
		return 0
	end
	if pending > 0 and not ctx.opts.yes and not self.prompt(string.format("\nProceed with %d step(s) above?", pending)) then
		raise(1, "not confirmed; nothing was changed")
	end
	execute(self, ctx, results, args)
	ctx.journal:finish("done")
	print_summary(self, results)
	say("")
	say("%s: done", self.name)
	return 0
end

------------------------------------------------------------------------------------------------ by hand

-- For the REPL: a context from a table of options ({node = "master-1", yes = true}), the read-only steps run.
-- Returns ctx, or nil and a message (nothing to do, or a refusal).
function Proc:session(options)
	local args = {}
	for k, v in pairs(options or {}) do
		local flag = "--" .. tostring(k):gsub("_", "-")
		if v == true then args[#args + 1] = flag
		elseif v ~= false then args[#args + 1] = flag; args[#args + 1] = tostring(v) end
	end
	local opts = resolve(self, parse_args(self, args))
	local ctx = make_ctx(self, opts, args)
	local ok, err = pcall(function()
		open_journal(self, ctx)
		observe(self, ctx, {})
	end)
	if not ok then return nil, errmsg(err) end
	return ctx
end

-- Runs one step in a session: check, show the plan, confirm (unless yes), run and verify.
-- Returns its status ("ok", "changed", "skipped", "planned" in a dry run, "not confirmed") and a note.
function Proc:run_step(ctx, name)
	local step = self:find(name)
	if not step then raise(2, "no step '" .. tostring(name) .. "' (steps: " .. table.concat(self:step_names(), ", ") .. ")") end
	if step.read_only then step.run(ctx); return "ok" end
	local status, note
	if step.check then status, note = step.check(ctx); status = normalize_check(status) end
	if status then return status, note end
	for _, line in ipairs(step.plan and step.plan(ctx) or {}) do say("  %s", line) end
	if ctx.dry_run then
		if step.dry_run then step.dry_run(ctx) end
		return "planned"
	end
	if not step.observe and not ctx.opts.yes and not self.prompt("Run step " .. name .. "?") then
		return "not confirmed"
	end
	local st, note = execute_step(self, ctx, step)
	if step == self.steps[#self.steps] then ctx.journal:finish("done") end -- the last step done by hand ends the run
	return st, note
end

return procedure
