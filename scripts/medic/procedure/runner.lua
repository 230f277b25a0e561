-- etcd-medic-api: 2
-- The phases of a run: check (the prerequisites), plan (every step's actions, printed), rehearse (--dry-run),
-- execute (hooks, re-check, journal the intent, run and verify each action), and, when a step fails or Ctrl-C
-- comes, the cleanup steps, the summary and how to resume.
local failure = require "medic.procedure.failure"
local lease = require "medic.procedure.lease"
local audit = require "medic.procedure.audit"
local arguments = require "medic.procedure.arguments"
local host = require "medic.host"
local ui = require "medic.ui"

local runner = {}

local LABEL = { ok = "ok", changed = "changed", skipped = "skipped", failed = "FAILED", pending = "not run" }

local function say(fmt, ...) ui.say(fmt, ...) end

local function run_hooks(proc, which, ctx, step, status)
	for _, h in ipairs(proc.hooks[which]) do
		if h[1] == "*" or h[1] == step.name then h[2](ctx, step, status) end
	end
end

local function header(proc, step)
	local _, i = proc:find(step.name)
	ui.step(step.name .. (step.title and (": " .. step.title) or ""), i, #proc.steps)
end

-- Is the step not applicable, or already done? Returns "skipped"|"ok", note; or nil (work to do).
function runner.settled(step, ctx)
	local note = step.skip and step.skip(ctx)
	if note then return "skipped", note end
	note = step.done and step.done(ctx)
	if note then return "ok", note end
end

------------------------------------------------------------------------------------------------ checks

-- Runs a list of checks (the prerequisites, the verification); each says what it found.
local function run_checks(ctx, step)
	for _, c in ipairs(step.checks) do
		local note = c.check(ctx)
		if note ~= nil then ctx:say("%s: %s", c.name, tostring(note)) end
	end
end
runner.run_checks = run_checks

-- Phase 1: the read-only steps (the prerequisites), in order.
function runner.check(proc, ctx, results)
	for _, step in ipairs(proc.steps) do
		if step.read_only then
			header(proc, step)
			run_hooks(proc, "before", ctx, step)
			run_checks(ctx, step)
			results[step.name] = { status = "ok" }
			run_hooks(proc, "after", ctx, step, "ok")
			ui.mark("ok", "checks passed")
		end
	end
end

------------------------------------------------------------------------------------------------ where

local function site_line(info)
	local parts = {}
	for _, kind in ipairs { "before", "after", "replaced", "added", "facts", "options" } do
		if #info[kind] > 0 then parts[#parts + 1] = kind .. ": " .. table.concat(info[kind], ", ") end
	end
	return info.path .. (#parts > 0 and (" (" .. table.concat(parts, "; ") .. ")") or "")
end

-- Where the run acts and what it runs: said before the plan and in the summary, so that a run on the wrong cluster,
-- or with an unexpected script or site file, is seen before anything changes.
function runner.where(proc, ctx)
	local info = ctx.cluster:k8s():info()
	local lines = {
		{ "cluster", string.format("%s (context %s), cluster ID %s", tostring(info.server),
			tostring(info.context or "-"), tostring(ctx.cluster_id or "unknown")) },
		{ "as", string.format("%s (kubeconfig user %s, %s)", tostring(ctx.user or "?"), tostring(info.user or "-"),
			tostring(info.source or "default kubeconfig")) },
		{ "script", proc.file and (proc.file .. " (a copy, not the shipped one)") or (proc.name .. " (shipped)") },
		{ "site file", proc.site and site_line(proc.site) or "none" },
		{ "journal", ctx.record and ctx.record.path or "none" },
	}
	for _, l in ipairs(proc.where and proc.where(ctx) or {}) do lines[#lines + 1] = l end
	return lines
end

local function say_where(proc, ctx)
	for _, l in ipairs(runner.where(proc, ctx)) do say("  %-10s %s", l[1] .. ":", l[2]) end
end

------------------------------------------------------------------------------------------------ plan

local function plan_lines(ctx, step, list)
	if step.checks then
		local lines = {}
		for _, c in ipairs(step.checks) do lines[#lines + 1] = "check " .. c.name .. ": " .. c.title end
		return lines
	end
	local lines = {}
	for _, a in ipairs(list) do
		for _, line in ipairs(a:lines(ctx)) do lines[#lines + 1] = line end
	end
	return lines
end

-- The step's actions, as its actions(ctx) declares them now. Kept in ctx.plans[name]: the run does what was shown.
function runner.plan_step(ctx, step)
	local list = step.actions and step.actions(ctx) or {}
	ctx.plans[step.name] = list
	return list
end

-- Phase 2: each mutating step checked and planned. Returns the number of steps with changes to make.
function runner.plan(proc, ctx)
	local pending = 0
	say("")
	say("acting on:")
	say_where(proc, ctx)
	say("")
	say("plan:")
	for _, step in ipairs(proc.steps) do
		if not step.read_only then
			local status, note = runner.settled(step, ctx)
			if status then
				say("  %-22s %s: %s", step.name, status == "ok" and "already done" or "skipped", note)
			else
				local list = runner.plan_step(ctx, step)
				if not step.observe then pending = pending + 1 end
				say("  %s", step.name)
				for _, line in ipairs(plan_lines(ctx, step, list)) do say("      %s", line) end
			end
		end
	end
	return pending
end

-- Phase 3 of a dry run: the mutations the API can check, sent with dryRun=All. Returns how many were rejected.
function runner.rehearse(proc, ctx)
	local rejected = 0
	for _, step in ipairs(proc.steps) do
		for _, a in ipairs(ctx.plans[step.name] or {}) do
			if a.rehearse then
				local ok, err = pcall(a.rehearse, a, ctx)
				local what = a:lines(ctx)[1]
				if ok then
					say("  %-22s accepted (dryRun=All): %s", step.name, what)
				else
					rejected = rejected + 1
					say("  %-22s REJECTED: %s: %s", step.name, failure.message(err), what)
				end
			end
		end
	end
	return rejected
end

------------------------------------------------------------------------------------------------ execute

local function carry_out(ctx, a)
	if a.guard then a.guard(ctx) end
	for k, v in pairs(a.record or {}) do ctx.journal[k] = v end
	a:run(ctx)
	if a.verify then
		local ok, why = a:verify(ctx)
		if not ok then ctx:stop("failed", "verification failed: " .. tostring(why or "no detail")) end
	end
end

-- Each action, with its audit record (--log-json): what it did, or how it failed.
local function carry_out_all(ctx, step, list)
	for _, a in ipairs(list) do
		local line = a:lines(ctx)[1]
		local ok, err = pcall(carry_out, ctx, a)
		audit.action(step, a, line, ok and "done" or failure.outcome(err), not ok and failure.message(err) or nil)
		if not ok then error(err, 0) end
	end
end

local function execute_actions(ctx, step)
	if step.checks then return run_checks(ctx, step) end
	local list = ctx.plans[step.name] or runner.plan_step(ctx, step)
	ctx.record:step(step.name, "started")
	local ok, err = pcall(carry_out_all, ctx, step, list)
	ctx:close_nodes()
	if not ok then error(err, 0) end
end

-- Runs one step for real: hooks, check again, the actions, the journal. Returns status, note.
function runner.execute_step(proc, ctx, step)
	ctx.running = true
	run_hooks(proc, "before", ctx, step)
	local status, note = runner.settled(step, ctx)
	if not status then
		execute_actions(ctx, step)
		status = step.observe and "ok" or "changed"
	end
	if not step.observe then ctx.record:step(step.name, status) end
	run_hooks(proc, "after", ctx, step, status)
	return status, note
end

function runner.summary(proc, ctx, results)
	say("")
	say("summary:")
	for _, step in ipairs(proc.steps) do
		local r = results[step.name] or { status = "pending" }
		say("  %-22s %-8s %s", step.name, LABEL[r.status] or r.status, r.note or "")
	end
	if ctx.cluster.kc then say_where(proc, ctx) end
end

-- The cleanup steps from `from` on that have not run: their done/skip decide whether anything is left to undo.
-- They run with Ctrl-C held off: the interrupt that ended the run must not cut short the restore it calls for
-- (a second Ctrl-C still kills the process).
function runner.cleanups(proc, ctx, results, from)
	for i = from, #proc.steps do
		local step = proc.steps[i]
		if step.cleanup and not results[step.name] then
			ui.step("cleanup: " .. step.name)
			local ok, status, note = host.uninterrupted(runner.execute_step, proc, ctx, step)
			if ok then
				results[step.name] = { status = status, note = note or "(cleanup)" }
			else
				results[step.name] = { status = "failed", note = "(cleanup) " .. failure.message(status) }
			end
			ui.mark(results[step.name].status, results[step.name].note)
		end
	end
end

local function changed_any(results)
	for _, r in pairs(results) do
		if r.status == "changed" then return true end
	end
	return false
end

-- A step failed (or Ctrl-C): the cleanups, the summary, how to resume; raises with the run's exit code.
function runner.fail(proc, ctx, results, index, err)
	local outcome, step = failure.outcome(err), proc.steps[index]
	local interrupted = outcome == "interrupted"
	results[step.name] = { status = "failed", note = failure.message(err) }
	pcall(ctx.record.step, ctx.record, step.name, interrupted and "interrupted" or "failed")
	ui.mark("failed", (interrupted and "interrupted: " or "") .. failure.message(err))
	local from = index + 1
	if interrupted and step.cleanup then -- Ctrl-C during a cleanup step: it runs again, uninterrupted
		results[step.name] = nil
		from = index
	end
	runner.cleanups(proc, ctx, results, from)
	runner.summary(proc, ctx, results)
	if outcome == "refused" and not changed_any(results) then
		ctx.record:discard()
		say("")
		say("refused: %s", failure.message(err))
		say("Nothing was changed.")
		failure.reraise(err, host.isatty("stdout"))
	end
	if outcome ~= "interrupted" then outcome = "failed" end -- "refused" promises that nothing was changed
	audit.outcome(proc, outcome, results, failure.message(err))
	say("")
	say("The steps marked ok or changed are done; the others are not. The journal is kept in %s.", ctx.record.path)
	say("Fix the cause, then run the same command again to resume:")
	say("  %s", arguments.command_line(proc, ctx.args))
	failure.raise(outcome, string.format("%s %s at step %s: %s", proc.name, outcome, step.name, failure.message(err)),
		false) -- (said on stderr as well: the one line that sums the run up)
end

-- Phase 4: the mutating steps, in order.
function runner.execute(proc, ctx, results)
	for i, step in ipairs(proc.steps) do
		if not step.read_only then
			lease.keep(ctx)
			header(proc, step)
			local ok, status, note = host.uninterrupted(runner.execute_step, proc, ctx, step)
			if not ok then return runner.fail(proc, ctx, results, i, status) end
			results[step.name] = { status = status, note = note }
			ui.mark(status, note or (status == "changed" and "done" or step.observe and "checks passed"
				or "nothing to change"))
		end
	end
end

-- The prerequisites stopped the run. "nothing to do" ends it with exit 0; a resumed run puts back what the run
-- it resumes left half done (the cleanup steps) and keeps the journal; otherwise nothing was changed.
function runner.stop_early(proc, ctx, results, err)
	local outcome = failure.outcome(err)
	if outcome == "nothing to do" then
		ctx.record:finish("done")
		say("")
		say("%s", failure.message(err))
		return 0
	end
	if ctx.resuming then
		lease.take(ctx) -- the cleanups change the cluster: one run at a time
		local cleaned, cerr = pcall(runner.cleanups, proc, ctx, results, 1)
		lease.release(ctx)
		if not cleaned then error(cerr, 0) end
		runner.summary(proc, ctx, results)
		say("")
		say("stopped: %s", failure.message(err))
		say("The journal is kept in %s; once the cause is fixed, run the same command again.", ctx.record.path)
		failure.raise(outcome == "interrupted" and "interrupted" or "failed", failure.message(err), host.isatty("stdout"))
	end
	if next(results) then runner.summary(proc, ctx, results) end -- (no list of steps that were not run)
	if type(err) == "table" and err.exit_code then
		say("")
		say("%s: %s", outcome == "refused" and "refused" or "failed", failure.message(err))
		say("Nothing was changed.")
		failure.reraise(err, host.isatty("stdout"))
	end
	error(err, 0)
end

return runner
